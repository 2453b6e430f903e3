//! One data key per customer, wrapped by the active master key, in a sled database of its own
//! beside (not inside) the event log: the log is append-only and hash-chained, so a key kept
//! there could never be destroyed.
//!
//! A sealed value is `pii:v1:{subject}.{generation}.{nonce+ciphertext}` (base64url): the customer
//! id and key generation are bound into the AEAD's associated data, so a value cannot be moved to
//! another customer. The nonce is synthetic (an HMAC of the plaintext under the data key), so
//! sealing is deterministic for a given key and a rebuild or a test replays to the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use chacha20poly1305::aead::{rand_core::RngCore, Aead, OsRng, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keyring::{Key, KeyRing};

pub const PREFIX: &str = "pii:v1:";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("key vault storage: {0}")]
    Storage(String),
    #[error("{subjects} customer key(s) are wrapped by master key {kek:?}, which is not in the key file: add it back (rotation keeps the old key until the vault has rewrapped)")]
    MissingMasterKey { kek: String, subjects: usize },
    #[error(
        "the customer key of {subject} does not unwrap with master key {kek:?}: wrong key file?"
    )]
    Unwrap { subject: String, kek: String },
    #[error("a customer id is 1 to 200 characters")]
    BadSubject,
}

impl From<sled::Error> for VaultError {
    fn from(e: sled::Error) -> Self {
        VaultError::Storage(e.to_string())
    }
}

/// What a sealed value opens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Plain(String),
    /// The customer's key was destroyed.
    Erased,
    /// Not a value of this vault, or tampered with.
    Unreadable,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VaultStats {
    pub customers: usize,
    pub erased: usize,
    /// Live customer keys by the master key that wraps them.
    pub by_master_key: BTreeMap<String, usize>,
}

#[derive(Clone)]
enum Entry {
    Live { generation: u32, key: Key },
    Erased { generation: u32 },
}

#[derive(Serialize, Deserialize)]
struct Record {
    generation: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kek: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped: Option<String>,
    #[serde(default)]
    erased: bool,
}

type KeyGen = Box<dyn Fn() -> [u8; 32] + Send + Sync>;

/// Where the wrapped customer keys are kept: a sled database of the node's own, or a table that
/// several nodes share (the PostgreSQL deployment). Values are opaque bytes; every write is
/// durable before it returns.
pub trait KeyRecords: Send + Sync {
    fn get(&self, subject: &str) -> Result<Option<Vec<u8>>, VaultError>;
    /// Writes `new` only if the record is still `old`; answers false when another writer won.
    fn compare_and_swap(
        &self,
        subject: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, VaultError>;
    fn put(&self, subject: &str, value: &[u8]) -> Result<(), VaultError>;
    fn all(&self) -> Result<Vec<(String, Vec<u8>)>, VaultError>;
}

/// The key records of one node, in sled.
struct SledRecords {
    db: sled::Db,
    tree: sled::Tree,
    /// sled's log file: sled 0.34's flush ends in `sync_file_range`, which does not survive a
    /// power cut (the file's size, the drive's cache), so each flush is followed by an fdatasync.
    log_file: std::fs::File,
}

impl SledRecords {
    fn flush(&self) -> Result<(), VaultError> {
        self.db.flush()?;
        self.log_file
            .sync_data()
            .map_err(|e| VaultError::from(sled::Error::Io(e)))
    }
}

impl KeyRecords for SledRecords {
    fn get(&self, subject: &str) -> Result<Option<Vec<u8>>, VaultError> {
        Ok(self.tree.get(subject.as_bytes())?.map(|v| v.to_vec()))
    }

    fn compare_and_swap(
        &self,
        subject: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, VaultError> {
        let swapped = self
            .tree
            .compare_and_swap(subject.as_bytes(), old, Some(new))?
            .is_ok();
        if swapped {
            self.flush()?;
        }
        Ok(swapped)
    }

    fn put(&self, subject: &str, value: &[u8]) -> Result<(), VaultError> {
        self.tree.insert(subject.as_bytes(), value)?;
        self.flush()?;
        Ok(())
    }

    fn all(&self) -> Result<Vec<(String, Vec<u8>)>, VaultError> {
        self.tree
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).to_string(), v.to_vec()))
            })
            .collect()
    }
}

pub struct Vault {
    records: Box<dyn KeyRecords>,
    ring: KeyRing,
    cache: RwLock<HashMap<String, (Entry, Instant)>>,
    /// How long a cached key may be trusted: forever for a node's own records; briefly when
    /// other nodes share them, so an erasure made elsewhere is honoured here within that time.
    cache_for: Option<Duration>,
    keygen: KeyGen,
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    k
}

fn wrap_aad(subject: &str, generation: u32, kek: &str) -> Vec<u8> {
    format!("repairledger/dek/v1|{subject}|{generation}|{kek}").into_bytes()
}

fn value_aad(subject: &str, generation: u32) -> Vec<u8> {
    format!("repairledger/pii/v1|{subject}|{generation}").into_bytes()
}

impl Vault {
    /// Opens (or creates) the vault and rewraps every customer key that is not under the active
    /// master key. Fails when a key is wrapped by a master key the ring lacks: starting anyway
    /// would show every such customer as unreadable.
    pub fn open(path: &Path, ring: KeyRing) -> Result<Vault, VaultError> {
        let db = sled::Config::new().path(path).open()?;
        let tree = db.open_tree("customer_keys")?;
        // sled writes `conf` once, at creation, and syncs neither it nor the directories.
        let io = |e| VaultError::from(sled::Error::Io(e));
        let mut synced = vec![path.join("conf"), path.to_path_buf()];
        synced.extend(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf),
        );
        for p in synced {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        let log_file = std::fs::File::open(path.join("db")).map_err(io)?;
        let records = SledRecords { db, tree, log_file };
        Vault::with_records(Box::new(records), ring, None)
    }

    /// A vault on shared records (several nodes): cached keys are read again after `cache_for`.
    pub fn with_records(
        records: Box<dyn KeyRecords>,
        ring: KeyRing,
        cache_for: Option<Duration>,
    ) -> Result<Vault, VaultError> {
        let vault = Vault {
            records,
            ring,
            cache: RwLock::new(HashMap::new()),
            cache_for,
            keygen: Box::new(random_key),
        };
        let rewrapped = vault.rewrap()?;
        if rewrapped > 0 {
            tracing::info!(
                rewrapped,
                active = vault.ring.active_id(),
                "customer keys rewrapped under the active master key"
            );
        }
        Ok(vault)
    }

    /// Data keys from `keygen` instead of the OS: tests replay to the same bytes.
    pub fn with_keygen(mut self, keygen: impl Fn() -> [u8; 32] + Send + Sync + 'static) -> Self {
        self.keygen = Box::new(keygen);
        self
    }

    fn read_record(&self, subject: &str) -> Result<Option<Record>, VaultError> {
        match self.records.get(subject)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| VaultError::Storage(format!("record of {subject}: {e}"))),
        }
    }

    fn unwrap_record(&self, subject: &str, r: &Record) -> Result<Entry, VaultError> {
        if r.erased {
            return Ok(Entry::Erased {
                generation: r.generation,
            });
        }
        let kek_id = r.kek.clone().unwrap_or_default();
        let kek = self
            .ring
            .get(&kek_id)
            .ok_or_else(|| VaultError::MissingMasterKey {
                kek: kek_id.clone(),
                subjects: 1,
            })?;
        let fail = || VaultError::Unwrap {
            subject: subject.into(),
            kek: kek_id.clone(),
        };
        let blob = B64
            .decode(r.wrapped.as_deref().unwrap_or_default())
            .map_err(|_| fail())?;
        if blob.len() < 24 {
            return Err(fail());
        }
        let (nonce, ct) = blob.split_at(24);
        let plain = Zeroizing::new(
            XChaCha20Poly1305::new(kek.into())
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: &wrap_aad(subject, r.generation, &kek_id),
                    },
                )
                .map_err(|_| fail())?,
        );
        let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| fail())?;
        Ok(Entry::Live {
            generation: r.generation,
            key: Zeroizing::new(key),
        })
    }

    fn wrap(&self, subject: &str, generation: u32, key: &[u8; 32]) -> Record {
        let kek_id = self.ring.active_id().to_string();
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let ct = XChaCha20Poly1305::new(self.ring.active().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: key,
                    aad: &wrap_aad(subject, generation, &kek_id),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length we give it");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Record {
            generation,
            kek: Some(kek_id),
            wrapped: Some(B64.encode(blob)),
            erased: false,
        }
    }

    fn remember(&self, subject: &str, entry: Entry) {
        self.cache
            .write()
            .expect("vault cache")
            .insert(subject.to_string(), (entry, Instant::now()));
    }

    fn entry(&self, subject: &str) -> Result<Option<Entry>, VaultError> {
        if let Some((e, at)) = self.cache.read().expect("vault cache").get(subject) {
            if self.cache_for.is_none_or(|ttl| at.elapsed() < ttl) {
                return Ok(Some(e.clone()));
            }
        }
        let Some(record) = self.read_record(subject)? else {
            return Ok(None);
        };
        let entry = self.unwrap_record(subject, &record)?;
        self.remember(subject, entry.clone());
        Ok(Some(entry))
    }

    /// A new data key for `subject`, durable before it is used: an event sealed under a key
    /// that a crash lost could never be read.
    fn create(&self, subject: &str, generation: u32) -> Result<(u32, Key), VaultError> {
        let key = Zeroizing::new((self.keygen)());
        let record = self.wrap(subject, generation, &key);
        let bytes = serde_json::to_vec(&record).expect("records serialize");
        let old = self.records.get(subject)?;
        match self
            .records
            .compare_and_swap(subject, old.as_deref(), &bytes)?
        {
            true => {
                self.remember(
                    subject,
                    Entry::Live {
                        generation,
                        key: key.clone(),
                    },
                );
                Ok((generation, key))
            }
            // Another request (or node) created it first: use theirs.
            false => {
                self.cache.write().expect("vault cache").remove(subject);
                match self.entry(subject)? {
                    Some(Entry::Live { generation, key }) => Ok((generation, key)),
                    _ => Err(VaultError::Storage(format!(
                        "customer key of {subject} changed while it was created"
                    ))),
                }
            }
        }
    }

    /// Seals `plaintext` under `subject`'s key, creating the key (or a new generation after an
    /// erasure: a customer who comes back is a new record) when needed.
    pub fn seal(&self, subject: &str, plaintext: &str) -> Result<String, VaultError> {
        if subject.is_empty() || subject.len() > 200 {
            return Err(VaultError::BadSubject);
        }
        let (generation, key) = match self.entry(subject)? {
            Some(Entry::Live { generation, key }) => (generation, key),
            Some(Entry::Erased { generation }) => self.create(subject, generation + 1)?,
            None => self.create(subject, 1)?,
        };
        let aad = value_aad(subject, generation);
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).expect("HMAC takes any key length");
        mac.update(b"repairledger/pii/nonce\0");
        mac.update(&aad);
        mac.update(b"\0");
        mac.update(plaintext.as_bytes());
        let tag = mac.finalize().into_bytes();
        let nonce = XNonce::from_slice(&tag[..24]);
        let ct = XChaCha20Poly1305::new(key.as_ref().into())
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length we give it");
        let mut blob = tag[..24].to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!(
            "{PREFIX}{}.{generation}.{}",
            B64.encode(subject),
            B64.encode(blob)
        ))
    }

    /// The customer a sealed value belongs to.
    pub fn subject_of(sealed: &str) -> Option<String> {
        let rest = sealed.strip_prefix(PREFIX)?;
        let subject = rest.split('.').next()?;
        String::from_utf8(B64.decode(subject).ok()?).ok()
    }

    pub fn open_sealed(&self, sealed: &str) -> Opened {
        let Some(rest) = sealed.strip_prefix(PREFIX) else {
            return Opened::Unreadable;
        };
        let mut parts = rest.split('.');
        let (Some(s), Some(g), Some(b), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Opened::Unreadable;
        };
        let (Some(subject), Ok(generation), Ok(blob)) = (
            B64.decode(s).ok().and_then(|s| String::from_utf8(s).ok()),
            g.parse::<u32>(),
            B64.decode(b),
        ) else {
            return Opened::Unreadable;
        };
        let entry = match self.entry(&subject) {
            Ok(Some(e)) => e,
            Ok(None) => return Opened::Unreadable,
            Err(e) => {
                tracing::warn!(error = %e, "a customer key could not be read");
                return Opened::Unreadable;
            }
        };
        let key = match entry {
            Entry::Erased { generation: g } if generation <= g => return Opened::Erased,
            Entry::Live { generation: g, .. } if generation < g => return Opened::Erased,
            Entry::Live { generation: g, key } if generation == g => key,
            _ => return Opened::Unreadable,
        };
        if blob.len() < 24 {
            return Opened::Unreadable;
        }
        let (nonce, ct) = blob.split_at(24);
        match XChaCha20Poly1305::new(key.as_ref().into()).decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: &value_aad(&subject, generation),
            },
        ) {
            Ok(plain) => String::from_utf8(plain)
                .map(Opened::Plain)
                .unwrap_or(Opened::Unreadable),
            Err(_) => Opened::Unreadable,
        }
    }

    /// The generation of `subject`'s current key (0: none yet).
    pub fn generation(&self, subject: &str) -> Result<u32, VaultError> {
        Ok(self.read_record(subject)?.map_or(0, |r| r.generation))
    }

    /// Destroys `subject`'s key (crypto-shredding). Answers false when it was already erased.
    /// sled may keep the old wrapped key in a segment it has not rewritten yet: rotating the
    /// master key afterwards makes such a leftover useless.
    pub fn erase(&self, subject: &str) -> Result<bool, VaultError> {
        self.erase_up_to(subject, u32::MAX)
    }

    /// Destroys `subject`'s key if its generation is at most `generation`: a key made after the
    /// erasure (the customer came back) is not the erased one.
    pub fn erase_up_to(&self, subject: &str, generation: u32) -> Result<bool, VaultError> {
        let generation = match self.read_record(subject)? {
            Some(r) if r.erased => return Ok(false),
            Some(r) if r.generation > generation => return Ok(false),
            Some(r) => r.generation,
            None => 0,
        };
        let tomb = Record {
            generation,
            kek: None,
            wrapped: None,
            erased: true,
        };
        self.records.put(
            subject,
            &serde_json::to_vec(&tomb).expect("records serialize"),
        )?;
        self.remember(subject, Entry::Erased { generation });
        Ok(true)
    }

    pub fn is_erased(&self, subject: &str) -> Result<bool, VaultError> {
        Ok(matches!(self.entry(subject)?, Some(Entry::Erased { .. })))
    }

    /// Rewraps every live customer key that is not under the active master key.
    pub fn rewrap(&self) -> Result<usize, VaultError> {
        let mut missing: BTreeMap<String, usize> = BTreeMap::new();
        let mut todo = Vec::new();
        for (subject, v) in self.records.all()? {
            let r: Record = serde_json::from_slice(&v)
                .map_err(|e| VaultError::Storage(format!("record of {subject}: {e}")))?;
            if r.erased || r.kek.as_deref() == Some(self.ring.active_id()) {
                continue;
            }
            let kek = r.kek.clone().unwrap_or_default();
            if self.ring.get(&kek).is_none() {
                *missing.entry(kek).or_default() += 1;
                continue;
            }
            todo.push((subject, r, v));
        }
        if let Some((kek, subjects)) = missing.into_iter().next() {
            return Err(VaultError::MissingMasterKey { kek, subjects });
        }
        for (subject, r, stored) in &todo {
            let Entry::Live { generation, key } = self.unwrap_record(subject, r)? else {
                continue;
            };
            let new = self.wrap(subject, generation, &key);
            // Another node may rewrap (or erase) at the same moment: its write stands.
            self.records.compare_and_swap(
                subject,
                Some(stored),
                &serde_json::to_vec(&new).expect("records serialize"),
            )?;
        }
        Ok(todo.len())
    }

    pub fn stats(&self) -> Result<VaultStats, VaultError> {
        let mut s = VaultStats::default();
        for (_, v) in self.records.all()? {
            let r: Record =
                serde_json::from_slice(&v).map_err(|e| VaultError::Storage(e.to_string()))?;
            s.customers += 1;
            if r.erased {
                s.erased += 1;
            } else {
                *s.by_master_key
                    .entry(r.kek.unwrap_or_default())
                    .or_default() += 1;
            }
        }
        Ok(s)
    }

    /// Every record as stored (wrapped keys and tombstones, never a plain key): for moving a
    /// vault to another backend.
    pub fn export_records(&self) -> Result<Vec<(String, Vec<u8>)>, VaultError> {
        self.records.all()
    }

    /// Adds the records this vault lacks; answers how many were added.
    pub fn import_records(&self, records: Vec<(String, Vec<u8>)>) -> Result<usize, VaultError> {
        let mut added = 0;
        for (subject, record) in records {
            if self.records.compare_and_swap(&subject, None, &record)? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Every write is durable when it returns; kept for callers that flush before exiting.
    pub fn flush(&self) -> Result<(), VaultError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(id: &str) -> (KeyRing, String) {
        let text = KeyRing::new_file(id);
        (KeyRing::parse(&text).unwrap(), text)
    }

    /// Records several vaults share, as the nodes of a PostgreSQL deployment share a table.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<BTreeMap<String, Vec<u8>>>>);

    impl KeyRecords for Shared {
        fn get(&self, subject: &str) -> Result<Option<Vec<u8>>, VaultError> {
            Ok(self.0.lock().unwrap().get(subject).cloned())
        }
        fn compare_and_swap(
            &self,
            subject: &str,
            old: Option<&[u8]>,
            new: &[u8],
        ) -> Result<bool, VaultError> {
            let mut m = self.0.lock().unwrap();
            if m.get(subject).map(Vec::as_slice) != old {
                return Ok(false);
            }
            m.insert(subject.to_string(), new.to_vec());
            Ok(true)
        }
        fn put(&self, subject: &str, value: &[u8]) -> Result<(), VaultError> {
            self.0
                .lock()
                .unwrap()
                .insert(subject.to_string(), value.to_vec());
            Ok(())
        }
        fn all(&self) -> Result<Vec<(String, Vec<u8>)>, VaultError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        }
    }

    #[test]
    fn nodes_sharing_records_open_each_others_values_and_honour_an_erasure_after_the_cache_time() {
        let (_, text) = ring("k1");
        let shared = Shared::default();
        let open = |ttl| {
            Vault::with_records(
                Box::new(shared.clone()),
                KeyRing::parse(&text).unwrap(),
                Some(Duration::from_millis(ttl)),
            )
            .unwrap()
        };
        let a = open(0);
        let b = open(0);
        let sealed = a.seal("C-1", "Plant Nine").unwrap();
        assert_eq!(b.open_sealed(&sealed), Opened::Plain("Plant Nine".into()));
        // Both create a key for a new customer at once: one key wins, both use it.
        let from_b = b.seal("C-2", "x").unwrap();
        let from_a = a.seal("C-2", "x").unwrap();
        assert_eq!(from_a, from_b, "one data key per customer across nodes");
        assert!(a.erase("C-1").unwrap());
        assert_eq!(
            b.open_sealed(&sealed),
            Opened::Erased,
            "B read the key again"
        );
        // A long cache keeps trusting the key it read until the time is up.
        let c = open(60_000);
        let sealed2 = c.seal("C-3", "Plant Ten").unwrap();
        assert!(a.erase("C-3").unwrap());
        assert_eq!(c.open_sealed(&sealed2), Opened::Plain("Plant Ten".into()));
        // Records move between backends as they are (wrapped), and open there.
        let dir = tempfile::tempdir().unwrap();
        let local = Vault::open(dir.path(), KeyRing::parse(&text).unwrap()).unwrap();
        assert_eq!(
            local.import_records(a.export_records().unwrap()).unwrap(),
            3
        );
        assert_eq!(local.open_sealed(&sealed), Opened::Erased);
        assert_eq!(local.open_sealed(&from_a), Opened::Plain("x".into()));
        assert_eq!(
            local.import_records(a.export_records().unwrap()).unwrap(),
            0
        );
    }

    #[test]
    fn sealed_values_open_and_hide_their_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path(), ring("k1").0).unwrap();
        let sealed = v.seal("C-1", "Zhang San").unwrap();
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("Zhang"));
        assert_eq!(v.open_sealed(&sealed), Opened::Plain("Zhang San".into()));
        assert_eq!(Vault::subject_of(&sealed).as_deref(), Some("C-1"));
        // Deterministic under one key: a replay gives the same bytes.
        assert_eq!(v.seal("C-1", "Zhang San").unwrap(), sealed);
        assert_ne!(v.seal("C-2", "Zhang San").unwrap(), sealed);
    }

    #[test]
    fn a_value_moved_to_another_customer_or_altered_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path(), ring("k1").0).unwrap();
        let a = v.seal("C-1", "Zhang San").unwrap();
        v.seal("C-2", "x").unwrap();
        let moved = a.replace(&B64.encode("C-1"), &B64.encode("C-2"));
        assert_eq!(v.open_sealed(&moved), Opened::Unreadable);
        let mut altered = a.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(v.open_sealed(&altered), Opened::Unreadable);
        assert_eq!(v.open_sealed("pii:v1:garbage"), Opened::Unreadable);
    }

    #[test]
    fn erasure_destroys_the_key_for_good_and_a_new_record_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let (r, text) = ring("k1");
        let v = Vault::open(dir.path(), r).unwrap();
        let old = v.seal("C-1", "Zhang San").unwrap();
        assert!(v.erase("C-1").unwrap());
        assert!(!v.erase("C-1").unwrap());
        assert_eq!(v.open_sealed(&old), Opened::Erased);
        let new = v.seal("C-1", "Zhang San").unwrap();
        assert_eq!(v.generation("C-1").unwrap(), 2);
        assert_eq!(v.open_sealed(&new), Opened::Plain("Zhang San".into()));
        assert_eq!(v.open_sealed(&old), Opened::Erased);
        // Finishing the first erasure again (a restart) leaves the new key alone.
        assert!(!v.erase_up_to("C-1", 1).unwrap());
        assert_eq!(v.open_sealed(&new), Opened::Plain("Zhang San".into()));
        drop(v);
        // After a restart, with the same master key, the erased value stays erased.
        let v = Vault::open(dir.path(), KeyRing::parse(&text).unwrap()).unwrap();
        assert_eq!(v.open_sealed(&old), Opened::Erased);
        assert_eq!(v.open_sealed(&new), Opened::Plain("Zhang San".into()));
    }

    #[test]
    fn rotation_rewraps_and_the_old_master_key_can_go() {
        let dir = tempfile::tempdir().unwrap();
        let (r1, _) = ring("k1");
        let k1 = B64.encode(r1.active());
        let v = Vault::open(dir.path(), r1).unwrap();
        let sealed = v.seal("C-1", "Zhang San").unwrap();
        drop(v);
        let std_b64 =
            |k: &str| base64::engine::general_purpose::STANDARD.encode(B64.decode(k).unwrap());
        let k2 = KeyRing::new_key_base64();
        let both = format!(
            "active = \"k2\"\n[keys]\nk1 = \"{}\"\nk2 = \"{k2}\"\n",
            std_b64(&k1)
        );
        let v = Vault::open(dir.path(), KeyRing::parse(&both).unwrap()).unwrap();
        assert_eq!(v.stats().unwrap().by_master_key.get("k2"), Some(&1));
        drop(v);
        let only_new = format!("active = \"k2\"\n[keys]\nk2 = \"{k2}\"\n");
        let v = Vault::open(dir.path(), KeyRing::parse(&only_new).unwrap()).unwrap();
        assert_eq!(v.open_sealed(&sealed), Opened::Plain("Zhang San".into()));
        drop(v);
        // A vault whose keys are under a master key the file lacks refuses to start.
        let other = KeyRing::parse(&KeyRing::new_file("k3")).unwrap();
        assert!(matches!(
            Vault::open(dir.path(), other),
            Err(VaultError::MissingMasterKey { subjects: 1, .. })
        ));
    }
}
