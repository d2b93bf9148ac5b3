//! The workspace's plugin components, built for `wasm32-wasip2` by this crate's build
//! script: their paths (for tests and tools) and the bytes of the provider plugins the
//! `grantbox` binary bundles.
//!
//! Adding a plugin crate means adding one line to `GUESTS` in `build.rs`.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// The bundled provider plugins, as (name, component bytes).
pub fn bundled() -> &'static [(&'static str, &'static [u8])] {
    BUNDLED
}

#[cfg(test)]
mod tests {
    #[test]
    fn components_exist_and_are_components() {
        for path in [super::GENERIC, super::HOSTILE, super::WRONG_VERSION] {
            let bytes = std::fs::read(path).expect("built component");
            // `\0asm` + component-model layer (0x0d 0x00 0x01 0x00).
            assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0", "{path}");
        }
        assert!(super::bundled().iter().any(|(name, _)| *name == "generic"));
    }
}
