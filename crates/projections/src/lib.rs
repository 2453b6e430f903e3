//! Read models folded from the event log, kept live, checkpointed, and rebuildable from position 0.
//!
//! Architecture invariant: a projection is a pure fold of events. It never reads the clock and
//! never decides anything; rebuilding from position 0 gives byte-identical output.

pub mod codec;
pub mod field;
pub mod integration;
pub mod model;
pub mod quality;
pub mod security;

use std::sync::RwLock;

use repairledger_store::{Checkpoint, EventStore, StoreError};

pub use field::*;
pub use model::*;
pub use quality::*;
pub use security::*;

/// The checkpoint name in the store. Bump the suffix when `ReadModel`'s shape changes, so an old
/// checkpoint is ignored and the model rebuilt.
pub const CHECKPOINT: &str = "read_model.v6";

/// How many events are folded per read from the log.
const PAGE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Decode(#[from] codec::DecodeError),
    #[error("checkpoint does not decode: {0}")]
    Checkpoint(String),
    /// The checkpoint describes a longer or a different history than the log holds.
    #[error("checkpoint does not match the log: {0}")]
    CheckpointMismatch(String),
}

/// The live read model behind a lock: commands catch it up after they append, reads may ask for
/// a minimum position.
pub struct Projector {
    model: RwLock<ReadModel>,
}

/// The saved checkpoint (if any), caught up with the log.
fn load_model<S: EventStore + ?Sized>(store: &S) -> Result<ReadModel, ProjectionError> {
    let mut model = match store.load_checkpoint(CHECKPOINT)? {
        Some(cp) => serde_json::from_slice::<ReadModel>(&cp.state)
            .map_err(|e| ProjectionError::Checkpoint(e.to_string()))?,
        None => ReadModel::new(),
    };
    matches_log(&model, store)?;
    fold_new(&mut model, store)?;
    Ok(model)
}

/// A checkpoint describes a prefix of this log: its position is not past the log's head, and
/// the hash of the last event it folded is the log's hash at that position. A checkpoint from
/// a longer or different history means the log lost or changed events: refuse, never serve it.
fn matches_log<S: EventStore + ?Sized>(
    model: &ReadModel,
    store: &S,
) -> Result<(), ProjectionError> {
    if model.position == 0 {
        return Ok(());
    }
    let head = store.head()?;
    if model.position > head.position {
        return Err(ProjectionError::CheckpointMismatch(format!(
            "the checkpoint has folded the log to position {}, but the log ends at {}: \
             events {}..={} are missing from the log",
            model.position,
            head.position,
            head.position + 1,
            model.position
        )));
    }
    // The newest anchor holds the hash of the last event folded.
    let folded = model
        .anchors
        .values()
        .max_by_key(|a| a.position)
        .filter(|a| a.position == model.position)
        .map(|a| a.hash.clone());
    let logged = store.read_all(model.position - 1, 1)?;
    match (folded, logged.first()) {
        (Some(hash), Some(e)) if e.position == model.position && e.hash != hash => {
            Err(ProjectionError::CheckpointMismatch(format!(
                "the checkpoint's event at position {} has hash {hash}, the log's has {}: \
                 the checkpoint is from a different history",
                model.position, e.hash
            )))
        }
        _ => Ok(()),
    }
}

/// Folds every event after the model's position; answers how many.
fn fold_new<S: EventStore + ?Sized>(
    model: &mut ReadModel,
    store: &S,
) -> Result<u64, ProjectionError> {
    let mut folded = 0;
    loop {
        let page = store.read_all(model.position, PAGE)?;
        if page.is_empty() {
            return Ok(folded);
        }
        for e in &page {
            model.apply(e)?;
        }
        folded += page.len() as u64;
    }
}

/// Saves `model` as the checkpoint; answers its size in bytes.
fn save<S: EventStore + ?Sized>(model: &ReadModel, store: &S) -> Result<usize, ProjectionError> {
    let state = serde_json::to_vec(model).expect("read model serializes");
    let bytes = state.len();
    store.save_checkpoint(
        CHECKPOINT,
        &Checkpoint {
            position: model.position,
            state,
        },
    )?;
    Ok(bytes)
}

impl Projector {
    /// Starts from the saved checkpoint (if any) and catches up with the log.
    pub fn load<S: EventStore + ?Sized>(store: &S) -> Result<Self, ProjectionError> {
        Ok(Projector {
            model: RwLock::new(load_model(store)?),
        })
    }

    /// Folds every event after the model's position. The log is read without the model's
    /// lock (with PostgreSQL a read is a round trip, and every request waits for that lock);
    /// events another caller folded meanwhile are skipped.
    pub fn catch_up<S: EventStore + ?Sized>(&self, store: &S) -> Result<u64, ProjectionError> {
        loop {
            let from = self.position();
            let page = store.read_all(from, PAGE)?;
            let mut model = self.model.write().expect("projection lock poisoned");
            let at = model.position;
            for e in page.iter().filter(|e| e.position > at) {
                model.apply(e)?;
            }
            if page.len() < PAGE {
                return Ok(model.position);
            }
        }
    }

    /// Brings the model at least to the end of `appended`, the events a command just wrote:
    /// folded from memory when they follow the model's position (no read or decode from the
    /// log), from the log otherwise.
    pub fn catch_up_with<S: EventStore + ?Sized>(
        &self,
        appended: &[repairledger_store::RecordedEvent],
        store: &S,
    ) -> Result<u64, ProjectionError> {
        let Some(last) = appended.last().map(|e| e.position) else {
            return Ok(self.position());
        };
        let mut model = self.model.write().expect("projection lock poisoned");
        if model.position >= last {
            return Ok(model.position);
        }
        if appended.first().map(|e| e.position) == Some(model.position + 1) {
            for e in appended {
                model.apply(e)?;
            }
        } else {
            fold_new(&mut model, store)?;
        }
        Ok(model.position)
    }

    /// Saves the live model as the checkpoint. It holds the model's lock while it serializes,
    /// so it is for when nothing else runs (shutdown, tests); a running server saves through a
    /// [`Checkpointer`].
    pub fn save_checkpoint<S: EventStore + ?Sized>(
        &self,
        store: &S,
    ) -> Result<(), ProjectionError> {
        save(&self.model.read().expect("projection lock poisoned"), store).map(|_| ())
    }

    /// A checkpointer starting from a copy of the live model.
    pub fn checkpointer(&self, every: u64) -> Checkpointer {
        let model = self.read(ReadModel::clone);
        Checkpointer {
            saved_at: model.position,
            model,
            every: every.max(1),
        }
    }

    /// Runs `f` against the current model.
    pub fn read<T>(&self, f: impl FnOnce(&ReadModel) -> T) -> T {
        f(&self.model.read().expect("projection lock poisoned"))
    }

    pub fn position(&self) -> u64 {
        self.read(|m| m.position)
    }
}

/// Checkpoints from a copy of the read model of its own, folded from the log apart from the
/// live one. Serializing the live model held its lock for the whole serialization, and every
/// command (which catches the live model up after its append) waited behind it: p99 of
/// durable commands 785 ms at 64 clients once the model held 70 000 events (measured,
/// docs/performance.md). The copy costs one more fold of each event and the model's memory
/// twice.
pub struct Checkpointer {
    model: ReadModel,
    saved_at: u64,
    every: u64,
}

impl Checkpointer {
    /// Catches the copy up and saves it once enough events were folded since the last save:
    /// at least `every`, and at least a quarter of the log before the last save. A save costs
    /// the whole model (about 470 bytes per event, measured), so saving at a fixed interval made
    /// the total cost grow with the square of the log; this way it stays a constant per event,
    /// and a start-up replays at most a fifth of the log.
    pub fn run<S: EventStore + ?Sized>(&mut self, store: &S) -> Result<bool, ProjectionError> {
        fold_new(&mut self.model, store)?;
        let due = self.saved_at + self.every.max(self.saved_at / 4);
        if self.model.position < due {
            return Ok(false);
        }
        let start = std::time::Instant::now();
        let bytes = save(&self.model, store)?;
        tracing::info!(
            position = self.model.position,
            bytes,
            millis = start.elapsed().as_millis() as u64,
            "projection checkpoint saved"
        );
        self.saved_at = self.model.position;
        Ok(true)
    }
}

/// Recomputes the read model from position 0, without touching the live one or the checkpoint.
pub fn rebuild<S: EventStore + ?Sized>(
    store: &S,
    progress: impl FnMut(u64),
) -> Result<ReadModel, ProjectionError> {
    rebuild_until(store, u64::MAX, progress)
}

/// The read model as it stood when the log's head was `position` (time travel for auditors).
pub fn rebuild_until<S: EventStore + ?Sized>(
    store: &S,
    position: u64,
    mut progress: impl FnMut(u64),
) -> Result<ReadModel, ProjectionError> {
    let mut model = ReadModel::new();
    while model.position < position {
        let page = store.read_all(model.position, PAGE)?;
        if page.is_empty() {
            break;
        }
        for e in page.iter().take_while(|e| e.position <= position) {
            model.apply(e)?;
        }
        if page.last().is_some_and(|e| e.position > position) {
            break;
        }
        progress(model.position);
    }
    Ok(model)
}

/// The last position recorded at or before `instant`: the log as the system knew it then.
/// Scans in position order and stops at the first event recorded later.
pub fn position_at<S: EventStore + ?Sized>(
    store: &S,
    instant: chrono::DateTime<chrono::Utc>,
) -> Result<u64, ProjectionError> {
    let mut last = 0;
    loop {
        let page = store.read_all(last, PAGE)?;
        if page.is_empty() {
            return Ok(last);
        }
        for e in &page {
            if e.recorded_at > instant {
                return Ok(last);
            }
            last = e.position;
        }
    }
}
