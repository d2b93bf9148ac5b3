//! How records are encoded in database columns: settings as JSON (secrets split off and
//! sealed), times as Unix milliseconds.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::crypto::Keyring;
use crate::error::{Error, Result};
use crate::provider::SettingValue;
use crate::secret::{ExposeSecret, SecretString};

/// Unix milliseconds.
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// From Unix milliseconds.
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn to_json(v: &SettingValue) -> Option<Value> {
    Some(match v {
        SettingValue::Text(t) => Value::String(t.clone()),
        SettingValue::Flag(b) => Value::Bool(*b),
        SettingValue::Number(n) => Value::from(*n),
        SettingValue::List(l) => Value::Array(l.iter().cloned().map(Value::String).collect()),
        SettingValue::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
        SettingValue::Secret(_) => return None,
    })
}

fn from_json(name: &str, v: &Value) -> Result<SettingValue> {
    let bad = || Error::Store(format!("setting `{name}` has an unreadable stored value"));
    Ok(match v {
        Value::String(s) => SettingValue::Text(s.clone()),
        Value::Bool(b) => SettingValue::Flag(*b),
        Value::Number(n) => SettingValue::Number(n.as_i64().ok_or_else(bad)?),
        Value::Array(a) => SettingValue::List(
            a.iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<_>>()?,
        ),
        Value::Object(m) => SettingValue::Map(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), x.as_str().ok_or_else(bad)?.to_owned())))
                .collect::<Result<_>>()?,
        ),
        Value::Null => return Err(bad()),
    })
}

/// Splits settings into public JSON and sealed secrets (`None` when there are none).
pub(crate) fn seal_settings(
    keyring: &Keyring,
    aad: &str,
    settings: &BTreeMap<String, SettingValue>,
) -> Result<(String, Option<Vec<u8>>)> {
    let mut public = Map::new();
    let mut secrets = Map::new();
    for (name, value) in settings {
        match value {
            SettingValue::Secret(s) => {
                secrets.insert(name.clone(), Value::String(s.expose_secret().to_owned()));
            }
            other => {
                if let Some(j) = to_json(other) {
                    public.insert(name.clone(), j);
                }
            }
        }
    }
    let sealed = if secrets.is_empty() {
        None
    } else {
        let plain = Zeroizing::new(
            serde_json::to_vec(&Value::Object(secrets))
                .map_err(|e| Error::Store(format!("cannot encode secret settings: {e}")))?,
        );
        Some(keyring.seal(aad, &plain)?)
    };
    let public = serde_json::to_string(&Value::Object(public))
        .map_err(|e| Error::Store(format!("cannot encode settings: {e}")))?;
    Ok((public, sealed))
}

/// Joins public JSON and sealed secrets back into settings.
pub(crate) fn open_settings(
    keyring: &Keyring,
    aad: &str,
    public: &str,
    sealed: Option<&[u8]>,
) -> Result<BTreeMap<String, SettingValue>> {
    let mut out = BTreeMap::new();
    let public: Map<String, Value> = serde_json::from_str(public)
        .map_err(|e| Error::Store(format!("{aad}: unreadable settings: {e}")))?;
    for (name, v) in &public {
        out.insert(name.clone(), from_json(name, v)?);
    }
    if let Some(sealed) = sealed {
        let plain = keyring.open(aad, sealed)?;
        let secrets: Map<String, Value> = serde_json::from_slice(&plain)
            .map_err(|_| Error::Store(format!("{aad}: unreadable secret settings")))?;
        for (name, v) in secrets {
            let Value::String(s) = v else {
                return Err(Error::Store(format!(
                    "{aad}: secret setting `{name}` is not text"
                )));
            };
            out.insert(name, SettingValue::Secret(SecretString::from(s)));
        }
    }
    Ok(out)
}

/// Seals one secret.
pub(crate) fn seal_secret(keyring: &Keyring, aad: &str, s: &SecretString) -> Result<Vec<u8>> {
    keyring.seal(aad, s.expose_secret().as_bytes())
}

/// Opens one secret.
pub(crate) fn open_secret(keyring: &Keyring, aad: &str, sealed: &[u8]) -> Result<SecretString> {
    let plain = keyring.open(aad, sealed)?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| Error::Store(format!("{aad}: sealed value is not text")))?;
    Ok(SecretString::from(text))
}

/// A list of strings as JSON.
pub(crate) fn list_to_json(l: &[String]) -> String {
    Value::Array(l.iter().cloned().map(Value::String).collect()).to_string()
}

/// A list of strings from JSON.
pub(crate) fn list_from_json(what: &str, s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| Error::Store(format!("{what}: unreadable list: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_roundtrip_with_secrets_sealed() {
        let ring = Keyring::ephemeral();
        let mut s = BTreeMap::new();
        s.insert(
            "token_url".to_owned(),
            SettingValue::Text("https://a/t".into()),
        );
        s.insert("use_json".to_owned(), SettingValue::Flag(true));
        s.insert("n".to_owned(), SettingValue::Number(-3));
        s.insert("l".to_owned(), SettingValue::List(vec!["a".into()]));
        s.insert(
            "m".to_owned(),
            SettingValue::Map([("k".to_owned(), "v".to_owned())].into()),
        );
        s.insert(
            "client_secret".to_owned(),
            SettingValue::Secret(SecretString::from("hunter2-secret")),
        );
        let (public, sealed) = seal_settings(&ring, "p/x", &s).unwrap();
        assert!(!public.contains("hunter2"));
        let sealed = sealed.unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        let back = open_settings(&ring, "p/x", &public, Some(&sealed)).unwrap();
        assert_eq!(format!("{s:?}"), format!("{back:?}"));
        match back.get("client_secret") {
            Some(SettingValue::Secret(v)) => assert_eq!(v.expose_secret(), "hunter2-secret"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn millis_roundtrip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_790_000_000_123);
        assert_eq!(from_millis(to_millis(t)), t);
    }
}
