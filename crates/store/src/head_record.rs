//! The head record: the highest durable position and its hash, kept in a small file beside sled's
//! own files and fsynced after every group commit (a few milliseconds behind the acknowledgement,
//! never ahead of what sled has flushed).
//!
//! Why: sled 0.34 drops everything after a damaged page when it opens and says nothing, so a log
//! cannot be trusted to notice that it lost its own tail. A witness written independently of
//! sled's files can: at start-up and in `verify` the log must reach the recorded position with the
//! recorded hash, or the store refuses to serve and names the position.
//!
//! Layout: two 128-byte slots, written alternately with `pwrite` + `fdatasync`, each
//! `magic(8) | sequence(8) | position(8) | hash length(1) | hash(up to 71) | SHA-256 of the
//! preceding 104 bytes(24, truncated)`. A torn write damages at most the slot being written; the
//! other still holds the previous head, so the record never claims less than it did before the
//! last completed write.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

use crate::{Head, StoreError};

const MAGIC: &[u8; 8] = b"RLHEAD01";
const SLOT: usize = 128;
const BODY: usize = 104;
const HASH_MAX: usize = BODY - 25;
/// The file's name in the data directory.
pub const FILE_NAME: &str = "head-record";

/// The file and the sequence number of its newest slot.
pub struct HeadRecord {
    path: PathBuf,
    file: File,
    sequence: u64,
}

fn encode(sequence: u64, head: &Head) -> Result<[u8; SLOT], StoreError> {
    let hash = head.hash.as_bytes();
    if hash.len() > HASH_MAX {
        return Err(StoreError::Storage(format!(
            "a head hash of {} bytes does not fit the head record",
            hash.len()
        )));
    }
    let mut slot = [0u8; SLOT];
    slot[..8].copy_from_slice(MAGIC);
    slot[8..16].copy_from_slice(&sequence.to_be_bytes());
    slot[16..24].copy_from_slice(&head.position.to_be_bytes());
    slot[24] = hash.len() as u8;
    slot[25..25 + hash.len()].copy_from_slice(hash);
    let sum = Sha256::digest(&slot[..BODY]);
    slot[BODY..].copy_from_slice(&sum[..SLOT - BODY]);
    Ok(slot)
}

fn decode(slot: &[u8]) -> Option<(u64, Head)> {
    if slot.len() != SLOT || &slot[..8] != MAGIC {
        return None;
    }
    if Sha256::digest(&slot[..BODY])[..SLOT - BODY] != slot[BODY..] {
        return None;
    }
    let sequence = u64::from_be_bytes(slot[8..16].try_into().ok()?);
    let position = u64::from_be_bytes(slot[16..24].try_into().ok()?);
    let len = usize::from(slot[24]);
    if len > HASH_MAX {
        return None;
    }
    let hash = String::from_utf8(slot[25..25 + len].to_vec()).ok()?;
    Some((sequence, Head { position, hash }))
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Storage(format!("head record {}: {e}", path.display()))
}

impl HeadRecord {
    /// Opens the record in `dir`, creating an empty file if there is none. Answers the record and
    /// the head it holds (`None` for a new or wholly unreadable file).
    pub fn open(dir: &Path) -> Result<(HeadRecord, Option<Head>), StoreError> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        let mut bytes = vec![0u8; 2 * SLOT];
        let len = file.metadata().map_err(|e| io(&path, e))?.len() as usize;
        file.read_exact_at(&mut bytes[..len.min(2 * SLOT)], 0)
            .map_err(|e| io(&path, e))?;
        let newest = [decode(&bytes[..SLOT]), decode(&bytes[SLOT..])]
            .into_iter()
            .flatten()
            .max_by_key(|(sequence, _)| *sequence);
        let (sequence, head) = match newest {
            Some((s, h)) => (s, Some(h)),
            None => (0, None),
        };
        Ok((
            HeadRecord {
                path,
                file,
                sequence,
            },
            head,
        ))
    }

    /// Whether the file holds anything at all (a record that existed and is now unreadable is
    /// damage, not a first start).
    pub fn exists_with_content(dir: &Path) -> bool {
        std::fs::metadata(dir.join(FILE_NAME))
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    }

    /// Writes `head` into the older slot and syncs it.
    pub fn write(&mut self, head: &Head) -> Result<(), StoreError> {
        let sequence = self.sequence + 1;
        let slot = encode(sequence, head)?;
        let offset = (sequence % 2) * SLOT as u64;
        self.file
            .write_all_at(&slot, offset)
            .map_err(|e| io(&self.path, e))?;
        self.file.sync_data().map_err(|e| io(&self.path, e))?;
        self.sequence = sequence;
        Ok(())
    }
}

/// The state shared with the thread that writes the record.
#[derive(Default)]
struct Shared {
    /// The newest durable head not yet written.
    pending: Option<Head>,
    /// The newest head written and synced.
    written: Option<Head>,
    /// Why the last write failed; the writer fails appends while it is set.
    failed: Option<String>,
    stop: bool,
}

/// Writes durable heads to the record on a thread of its own, newest first (heads that arrive
/// while a write runs are coalesced): the log's writer never waits for it.
#[derive(Clone)]
pub struct HeadWitness {
    shared: Arc<(Mutex<Shared>, Condvar)>,
}

impl HeadWitness {
    pub fn spawn(mut record: HeadRecord) -> HeadWitness {
        let shared: Arc<(Mutex<Shared>, Condvar)> = Arc::default();
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("head-record".into())
            .spawn(move || {
                let (lock, wake) = &*theirs;
                loop {
                    let head = {
                        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                        while s.pending.is_none() && !s.stop {
                            s = wake.wait(s).unwrap_or_else(|p| p.into_inner());
                        }
                        match s.pending.take() {
                            Some(h) => h,
                            None => return,
                        }
                    };
                    let result = record.write(&head);
                    let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                    match result {
                        Ok(()) => {
                            s.written = Some(head);
                            s.failed = None;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the head record cannot be written");
                            // Try again with the next head (or this one, if none is newer).
                            s.pending.get_or_insert(head);
                            s.failed = Some(e.to_string());
                        }
                    }
                    wake.notify_all();
                    if s.failed.is_some() {
                        drop(s);
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            })
            .expect("spawn the head-record thread");
        HeadWitness { shared }
    }

    /// A head that is now durable in the log.
    pub fn durable(&self, head: &Head) {
        let (lock, wake) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        let newer = |h: &Option<Head>| h.as_ref().is_none_or(|h| h.position < head.position);
        if newer(&s.pending) && newer(&s.written) {
            s.pending = Some(head.clone());
            wake.notify_all();
        }
    }

    /// Why the record cannot be written, if it cannot.
    pub fn failure(&self) -> Option<String> {
        let (lock, _) = &*self.shared;
        lock.lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed
            .clone()
    }

    /// Waits until `head` (or a newer one) is written, or the record fails.
    pub fn wait_written(&self, head: &Head) -> Result<(), StoreError> {
        let (lock, wake) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if s.written
                .as_ref()
                .is_some_and(|w| w.position >= head.position)
            {
                return Ok(());
            }
            if let Some(e) = &s.failed {
                return Err(StoreError::Storage(e.clone()));
            }
            s = wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Stops the thread once what is pending is written.
    pub fn stop(&self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(position: u64) -> Head {
        Head {
            position,
            hash: format!("{position:064x}"),
        }
    }

    #[test]
    fn the_newest_slot_wins_and_a_torn_slot_leaves_the_previous_head() {
        let dir = tempfile::tempdir().unwrap();
        let (mut r, none) = HeadRecord::open(dir.path()).unwrap();
        assert_eq!(none, None);
        r.write(&head(5)).unwrap();
        r.write(&head(9)).unwrap();
        drop(r);
        assert_eq!(HeadRecord::open(dir.path()).unwrap().1, Some(head(9)));
        // Tear the newest slot (sequence 2 lives in slot 0): the record falls back to 5.
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(HeadRecord::open(dir.path()).unwrap().1, Some(head(5)));
    }
}
