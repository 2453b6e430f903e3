//! Master keys: a TOML file `active = "id"` and `[keys] id = "<base64 of 32 bytes>"`, or one key
//! from the environment. Rotation: add a key, make it active, restart; the vault rewraps every
//! customer key under it, and the old key can then be deleted from the file.

use std::collections::BTreeMap;
use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::aead::{rand_core::RngCore, OsRng};
use serde::Deserialize;
use zeroize::Zeroizing;

pub type Key = Zeroizing<[u8; 32]>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyRingError {
    #[error("the key file does not parse: {0}")]
    Parse(String),
    #[error("key {0}: not base64 of exactly 32 bytes")]
    BadKey(String),
    #[error("key id {0:?}: 1 to 32 letters, digits, '.', '_' or '-'")]
    BadId(String),
    #[error("the active key {0:?} is not in [keys]")]
    NoActive(String),
}

/// The master keys. `Debug` shows the ids, never the keys.
pub struct KeyRing {
    active: String,
    keys: BTreeMap<String, Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    active: String,
    keys: BTreeMap<String, String>,
}

fn decode_key(id: &str, b64: &str) -> Result<Key, KeyRingError> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(b64.trim())
            .map_err(|_| KeyRingError::BadKey(id.into()))?,
    );
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyRingError::BadKey(id.into()))?;
    Ok(Zeroizing::new(key))
}

fn check_id(id: &str) -> Result<(), KeyRingError> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(KeyRingError::BadId(id.into()))
    }
}

impl KeyRing {
    pub fn parse(text: &str) -> Result<KeyRing, KeyRingError> {
        // The parser's message may quote the line: it must not quote a key.
        let file: File =
            toml::from_str(text).map_err(|e| KeyRingError::Parse(e.message().to_string()))?;
        let mut keys = BTreeMap::new();
        for (id, b64) in &file.keys {
            check_id(id)?;
            keys.insert(id.clone(), decode_key(id, b64)?);
        }
        if !keys.contains_key(&file.active) {
            return Err(KeyRingError::NoActive(file.active));
        }
        Ok(KeyRing {
            active: file.active,
            keys,
        })
    }

    /// One key, e.g. from `REPAIRLEDGER_PII_KEY`.
    pub fn single(id: &str, b64: &str) -> Result<KeyRing, KeyRingError> {
        check_id(id)?;
        let mut keys = BTreeMap::new();
        keys.insert(id.to_string(), decode_key(id, b64)?);
        Ok(KeyRing {
            active: id.to_string(),
            keys,
        })
    }

    /// A fresh random key, base64.
    pub fn new_key_base64() -> String {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        STANDARD.encode(key.as_ref())
    }

    /// The text of a new key file with one random key.
    pub fn new_file(id: &str) -> String {
        format!(
            "# Master keys for customers' personal data. Keep this file apart from the data and\n\
             # its backups. To rotate: add a key, make it active, restart; then delete the old one.\n\
             active = \"{id}\"\n\n[keys]\n\"{id}\" = \"{}\"\n",
            Self::new_key_base64()
        )
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    pub fn active(&self) -> &[u8; 32] {
        &self.keys[&self.active]
    }

    pub fn get(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys.get(id).map(|k| &**k)
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_parses_and_debug_hides_the_keys() {
        let text = KeyRing::new_file("k1");
        let ring = KeyRing::parse(&text).unwrap();
        assert_eq!(ring.active_id(), "k1");
        let key_b64 = STANDARD.encode(ring.active());
        assert!(!format!("{ring:?}").contains(&key_b64));
    }

    #[test]
    fn bad_files_are_named() {
        assert_eq!(
            KeyRing::parse("active = \"k2\"\n[keys]\nk1 = \"AAAA\"").unwrap_err(),
            KeyRingError::BadKey("k1".into())
        );
        let k = KeyRing::new_key_base64();
        assert_eq!(
            KeyRing::parse(&format!("active = \"k2\"\n[keys]\nk1 = \"{k}\"")).unwrap_err(),
            KeyRingError::NoActive("k2".into())
        );
        assert!(matches!(
            KeyRing::parse("active = 3"),
            Err(KeyRingError::Parse(_))
        ));
    }
}
