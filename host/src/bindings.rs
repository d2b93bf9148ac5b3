//! Host-side bindings of the `grantbox:plugin` contract (generated from `wit/`).

wasmtime::component::bindgen!({
    path: "wit",
    world: "provider",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "grantbox:plugin/types.secret": crate::secret::SecretEntry,
    },
});

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The name of the interface every plugin exports, without version.
pub const PROVIDER_INTERFACE: &str = "grantbox:plugin/oauth-provider";

#[cfg(test)]
mod tests {
    /// `host/wit` links to the workspace's `wit/` so a packaged crate carries the contract;
    /// a copy in its place must never drift from the original.
    #[test]
    fn the_crates_contract_is_the_workspace_contract() {
        assert_eq!(
            include_str!("../wit/grantbox.wit"),
            include_str!("../../wit/grantbox.wit")
        );
    }
}
