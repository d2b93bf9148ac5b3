//! The `signing` host interface: JWTs signed with a private key the plugin holds only as a
//! secret handle (client assertions, JWT-bearer grants). Neither the key nor the signed
//! token enters the plugin: the result is a new secret handle.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use wasmtime::component::Resource;

use crate::bindings::grantbox::plugin::signing::{self, Algorithm as WitAlgorithm, SignError};
use crate::call::CallState;
use crate::secret::{ExposeSecret, SecretEntry, SecretString};

fn algorithm(a: WitAlgorithm) -> Algorithm {
    match a {
        WitAlgorithm::Rs256 => Algorithm::RS256,
        WitAlgorithm::Rs384 => Algorithm::RS384,
        WitAlgorithm::Rs512 => Algorithm::RS512,
        WitAlgorithm::Ps256 => Algorithm::PS256,
        WitAlgorithm::Ps384 => Algorithm::PS384,
        WitAlgorithm::Ps512 => Algorithm::PS512,
        WitAlgorithm::Es256 => Algorithm::ES256,
        WitAlgorithm::Es384 => Algorithm::ES384,
    }
}

fn object(what: &str, text: &str) -> Result<Map<String, Value>, SignError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(SignError::InvalidInput(format!(
            "{what} is not a JSON object"
        ))),
        Err(e) => Err(SignError::InvalidInput(format!(
            "{what} is not valid JSON: {e}"
        ))),
    }
}

/// The PEM text of a key: the value itself, or the `private_key` member of a JSON key file.
fn pem_of(value: &str) -> Option<String> {
    let trimmed = value.trim_start();
    if trimmed.starts_with('{') {
        let json: Value = serde_json::from_str(trimmed).ok()?;
        return json
            .get("private_key")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    Some(value.to_owned())
}

/// Signs `claims` with `header` (its `alg` set by the host) using the PEM key in `key`.
pub(crate) fn sign(
    alg: WitAlgorithm,
    header: &str,
    claims: &str,
    key_name: &str,
    key: &SecretString,
) -> Result<SecretString, SignError> {
    let alg = algorithm(alg);
    let mut header_map = object("header", header)?;
    header_map.insert(
        "alg".into(),
        serde_json::to_value(alg).unwrap_or(Value::Null),
    );
    header_map
        .entry("typ")
        .or_insert_with(|| Value::String("JWT".into()));
    let header: Header = serde_json::from_value(Value::Object(header_map))
        .map_err(|e| SignError::InvalidInput(format!("header: {e}")))?;
    let claims = object("claims", claims)?;
    let expected = match alg {
        Algorithm::ES256 | Algorithm::ES384 => "a PEM EC private key (PKCS#8)",
        _ => "a PEM RSA private key (PKCS#8 or PKCS#1), or a JSON key file with `private_key`",
    };
    let invalid = || {
        SignError::InvalidKey(format!(
            "secret `{key_name}` is not {expected} usable with {alg:?}"
        ))
    };
    let pem = pem_of(key.expose_secret()).ok_or_else(invalid)?;
    let pem = zeroize::Zeroizing::new(pem);
    let encoding = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|_| invalid())?;
    let token = jsonwebtoken::encode(&header, &claims, &encoding).map_err(|_| invalid())?;
    Ok(SecretString::from(token))
}

impl signing::Host for CallState {
    async fn sign_jwt(
        &mut self,
        alg: WitAlgorithm,
        header: String,
        claims: String,
        key: Resource<SecretEntry>,
    ) -> wasmtime::Result<Result<Resource<SecretEntry>, SignError>> {
        let started = std::time::Instant::now();
        let entry = self.table.get(&key)?;
        let key_name = entry.name.clone();
        let result = sign(alg, &header, &claims, &key_name, &entry.value);
        self.host_time += started.elapsed();
        Ok(match result {
            Ok(token) => {
                self.redactor.add(&token);
                Ok(self.table.push(SecretEntry::new(
                    format!("jwt signed with {key_name}"),
                    token,
                ))?)
            }
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_and_inputs_are_named_without_the_key() {
        let key = SecretString::from(
            "-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----",
        );
        let e = sign(WitAlgorithm::Rs256, "{}", "{}", "private_key", &key).unwrap_err();
        match e {
            SignError::InvalidKey(m) => {
                assert!(
                    m.contains("`private_key`") && !m.contains("not really"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        let e = sign(WitAlgorithm::Rs256, "[]", "{}", "k", &key).unwrap_err();
        assert!(matches!(e, SignError::InvalidInput(m) if m.contains("header")));
        let e = sign(WitAlgorithm::Rs256, "{}", "nope", "k", &key).unwrap_err();
        assert!(matches!(e, SignError::InvalidInput(m) if m.contains("claims")));
    }

    #[test]
    fn json_key_files_yield_their_private_key() {
        assert_eq!(
            pem_of(r#"{"type":"service_account","private_key":"PEM"}"#).as_deref(),
            Some("PEM")
        );
        assert_eq!(pem_of("PEM").as_deref(), Some("PEM"));
        assert_eq!(pem_of("{\"x\":1}"), None);
    }
}
