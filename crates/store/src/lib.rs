//! The append-only event log.
//!
//! Architecture invariant: this is the only crate that knows sled or PostgreSQL. Everything above
//! it talks to the [`EventStore`] trait: sled for one node, PostgreSQL ([`PgStore`]) for several
//! API nodes sharing one database.

mod checkpoint_files;
#[path = "suite.rs"]
pub mod conformance;
mod envelope;
pub mod export;
pub mod head_record;
mod pg;
mod plan;
#[cfg(feature = "sim")]
pub mod sim;
mod sled_log;

pub use envelope::*;
pub use pg::{PgStore, PgStoreConfig};
pub use sled_log::{repair_truncate_after, RepairReport, SledStore, SledStoreConfig};

use async_trait::async_trait;

/// Errors of the log. `Conflict` and `IdempotencyMismatch` are answers to the caller; the others
/// are failures of the machine underneath.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the version the caller decided against.
    #[error("stream {stream} is at version {actual:?}, expected {expected:?}")]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        /// `None` when the stream does not exist.
        actual: Option<u64>,
    },
    /// The idempotency key was used before with a different request.
    #[error("idempotency key {key} was already used for a different request")]
    IdempotencyMismatch { key: String },
    /// A commit must name at least one stream with at least one event.
    #[error("empty commit")]
    EmptyCommit,
    /// The writer is gone (shut down) or the queue is full.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Storage(String),
    /// The disk refused a write or an fsync. Nothing was acknowledged; after a failed flush the
    /// log takes no more appends until it is reopened (see `EventStore::recover`).
    #[error("the disk failed ({kind}): {detail}")]
    Disk { kind: DiskFault, detail: String },
    /// A stored record does not decode or its hash does not match.
    #[error("corrupt record at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
}

/// How a disk failed, for the operator: a full disk wants space, an I/O error wants a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFault {
    /// ENOSPC: no space left on the device.
    Full,
    /// EIO or any other I/O error.
    Io,
}

impl std::fmt::Display for DiskFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiskFault::Full => "no space left on the device",
            DiskFault::Io => "I/O error",
        })
    }
}

impl DiskFault {
    /// Sorts an I/O error: ENOSPC (and EDQUOT, a full quota) is a full disk, anything else an
    /// I/O error.
    pub fn of(e: &std::io::Error) -> DiskFault {
        if e.kind() == std::io::ErrorKind::StorageFull
            || e.kind() == std::io::ErrorKind::QuotaExceeded
            || e.to_string().contains("No space left on device")
        {
            DiskFault::Full
        } else {
            DiskFault::Io
        }
    }
}

/// What the log offers to the rest of the system. Implementations must pass
/// [`conformance::run_all`].
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends one commit atomically: every stream's events or none. Durable (flushed) before it
    /// returns `Ok`. With an idempotency key already used for the same fingerprint, returns the
    /// original result with `duplicate = true` and appends nothing.
    async fn append(&self, commit: Commit) -> Result<AppendResult, StoreError>;

    /// Appends events exported from another log, keeping their positions, versions and hashes.
    /// Each must continue the chain exactly (position, `prev_hash`, recomputed `hash`, stream
    /// version), so an import reproduces the source's head hash or fails without writing.
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError>;

    /// Events of one stream with `version >= from_version` (versions start at 1), at most `limit`.
    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events with `position > after` (positions start at 1), in position order, at most `limit`.
    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The fingerprint and original result of an idempotency key, if it was used: lets the API
    /// answer a retry with the original response before deciding anything again.
    fn idempotency(&self, key: &str) -> Result<Option<(String, AppendResult)>, StoreError>;

    /// Current version of a stream, `None` if it has no events.
    fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// The last position and its hash (position 0 and the genesis hash for an empty log).
    fn head(&self) -> Result<Head, StoreError>;

    /// Saves a projection checkpoint (opaque bytes) under a name.
    fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<(), StoreError>;

    /// Loads a projection checkpoint, if one was saved.
    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError>;

    /// Walks the whole hash chain and reports the first broken position.
    fn verify(&self) -> Result<VerifyReport, StoreError>;

    /// Subscribes to the head position after each durable commit (for live projections and feeds).
    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Commits waiting to be written (for the `/metrics` queue-depth gauge).
    fn queue_depth(&self) -> usize {
        0
    }

    /// Why the log takes no more appends until it is reopened (a flush the disk failed), if it
    /// does not: readiness answers 503 with it.
    fn fault(&self) -> Option<String> {
        None
    }

    /// After a disk fault: checks that the disk takes a write and an fsync again and, if it
    /// does, reopens the log from what is really on disk (checked against the head record) so
    /// appends resume. `Ok(true)` when it reopened, `Ok(false)` when there was no fault.
    async fn recover(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}
