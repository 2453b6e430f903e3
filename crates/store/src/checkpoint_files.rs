//! Projection checkpoints as files beside the log, not values inside it.
//!
//! A checkpoint is the whole read model, tens of megabytes for a large log; written into sled,
//! it went through sled's own log and its flush, and the appends flushed meanwhile waited behind
//! it (p99 of durable commands 800 ms during a save, measured: docs/performance.md). A file is
//! written beside the log, made durable and renamed into place, so a crash leaves the old
//! checkpoint or the new one, never half of one; a checksum catches a file damaged later, which
//! then counts as no checkpoint (the projections rebuild from the log).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Checkpoint, StoreError};

const MAGIC: &str = "repairledger-checkpoint-v1";

pub(crate) struct CheckpointFiles {
    dir: PathBuf,
    /// Numbers the temporary files, so two saves of one name never share one.
    next_tmp: std::sync::atomic::AtomicU64,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Storage(format!("checkpoint file: {e}"))
}

impl CheckpointFiles {
    pub(crate) fn new(dir: PathBuf) -> Self {
        CheckpointFiles {
            dir,
            next_tmp: Default::default(),
        }
    }

    /// Names may hold any character; the file is named by their hex.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(hex::encode(name.as_bytes()))
    }

    pub(crate) fn save(&self, name: &str, cp: &Checkpoint) -> Result<(), StoreError> {
        fs::create_dir_all(&self.dir).map_err(io)?;
        let path = self.path(name);
        let n = self
            .next_tmp
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("{n}.tmp"));
        let header = format!(
            "{MAGIC} {} {}\n",
            cp.position,
            hex::encode(Sha256::digest(&cp.state))
        );
        {
            let mut f = fs::File::create(&tmp).map_err(io)?;
            f.write_all(header.as_bytes()).map_err(io)?;
            f.write_all(&cp.state).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, &path).map_err(io)?;
        sync_dir(&self.dir)
    }

    pub(crate) fn load(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        let bytes = match fs::read(self.path(name)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        Ok(parse(&bytes).or_else(|| {
            tracing::warn!(
                checkpoint = name,
                "a checkpoint file does not verify; ignored"
            );
            None
        }))
    }
}

fn parse(bytes: &[u8]) -> Option<Checkpoint> {
    let newline = bytes.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..newline]).ok()?;
    let mut parts = header.split(' ');
    if parts.next()? != MAGIC {
        return None;
    }
    let position: u64 = parts.next()?.parse().ok()?;
    let digest = parts.next()?;
    let state = bytes[newline + 1..].to_vec();
    (hex::encode(Sha256::digest(&state)) == digest).then_some(Checkpoint { position, state })
}

/// The rename is durable only once the directory is.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_checkpoint_loads_and_a_damaged_one_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let files = CheckpointFiles::new(dir.path().join("cp"));
        assert!(files.load("read_model.v5").unwrap().is_none());
        let cp = Checkpoint {
            position: 42,
            state: b"{\"a\":1}\n\x00binary".to_vec(),
        };
        files.save("read_model.v5", &cp).unwrap();
        assert_eq!(files.load("read_model.v5").unwrap(), Some(cp.clone()));
        let newer = Checkpoint {
            position: 43,
            state: b"{}".to_vec(),
        };
        files.save("read_model.v5", &newer).unwrap();
        assert_eq!(files.load("read_model.v5").unwrap(), Some(newer));
        let path = files.path("read_model.v5");
        let mut bytes = fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(&path, bytes).unwrap();
        assert_eq!(files.load("read_model.v5").unwrap(), None);
        assert!(
            files.load("webhook/x").unwrap().is_none(),
            "any name is a file name"
        );
    }
}
