//! Customers' personal data (客户资料, confidential per seed 003) kept out of the log's plaintext.
//!
//! - A [`KeyRing`] holds the master keys (key-encryption keys) from a file or the environment;
//!   one is active, the others are kept only to read what they wrapped until it is rewrapped.
//! - The [`Vault`] holds one data key per customer, wrapped by the active master key, outside the
//!   event log. Destroying a customer's data key erases their data everywhere at once
//!   (crypto-shredding) while the log, and the hash chain over its ciphertext, stay whole.
//! - [`fields`] says which JSON fields are personal data, seals them before an event is
//!   appended, and discloses them on the way out: in clear to roles that need them, as
//!   `[redacted]` to the others, as `[erased]` once the key is gone.

pub mod fields;
pub mod keyring;
pub mod vault;

pub use fields::{disclose_json, disclose_text, redact_json, seal_payload, subject_in, Disclosure};
pub use keyring::{KeyRing, KeyRingError};
pub use vault::{KeyRecords, Opened, Vault, VaultError, VaultStats};

/// `bytes` random bytes from the operating system's generator, as lowercase hex: for secrets
/// (API tokens, webhook signing keys), which must not come from a userspace generator.
pub fn random_hex(bytes: usize) -> String {
    use chacha20poly1305::aead::{rand_core::RngCore, OsRng};
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}
