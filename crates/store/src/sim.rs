//! An in-memory log for the deterministic simulation (`crates/api/tests/sim.rs`), behind the
//! `sim` feature. It decides every batch with the same planner as sled and PostgreSQL
//! ([`crate::plan`]: positions, versions, hashes, idempotency) and shows what sled shows:
//! streams, versions and idempotency keys of every applied batch at once, the log in position
//! order and its head only up to the durable head, and a crash keeps what flushes covered (and
//! perhaps some of what they did not). Nothing happens on its own: the simulation decides when
//! the writer stages a group, when it flushes, whether the disk fails, and when the machine
//! crashes. What it does not have is sled's own I/O: see docs/operations.md.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};

use crate::plan::{IdemRecord, Known, Outcome, Queued, Reply};
use crate::{
    AppendResult, Checkpoint, Commit, EventStore, Head, RecordedEvent, StoreError, VerifyReport,
    GENESIS_HASH,
};

/// The log as one copy holds it.
#[derive(Clone, Default)]
struct Log {
    events: Vec<RecordedEvent>,
    /// Positions of each stream's events, by version.
    streams: HashMap<String, Vec<u64>>,
    idem: HashMap<String, IdemRecord>,
}

impl Log {
    fn head(&self) -> Head {
        match self.events.last() {
            Some(e) => Head {
                position: e.position,
                hash: e.hash.clone(),
            },
            None => Head {
                position: 0,
                hash: GENESIS_HASH.to_string(),
            },
        }
    }

    fn push(&mut self, e: RecordedEvent) {
        self.streams
            .entry(e.stream.clone())
            .or_default()
            .push(e.position);
        self.events.push(e);
    }

    fn range(&self, first: u64, last: u64) -> Vec<RecordedEvent> {
        self.events
            .iter()
            .filter(|e| (first..=last).contains(&e.position))
            .cloned()
            .collect()
    }
}

impl Known for Log {
    fn idempotency(&self, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        Ok(self.idem.get(key).cloned())
    }

    fn version(&self, stream: &str) -> Result<u64, StoreError> {
        Ok(self.streams.get(stream).map_or(0, |v| v.len() as u64))
    }
}

/// What a group applied: its events and idempotency keys.
type Unflushed = (Vec<RecordedEvent>, Vec<(String, IdemRecord)>);

/// A group applied (visible) and not yet flushed.
struct Staged {
    replies: Vec<Reply>,
    outcomes: Vec<Outcome>,
    /// Events and keys it applied, so a crash can keep or drop the group whole.
    events: Vec<RecordedEvent>,
    keys: Vec<(String, IdemRecord)>,
    applied: Result<(), String>,
}

struct Inner {
    /// Everything applied: what sled shows streams, versions and idempotency keys from.
    applied: Log,
    /// What the last successful flush covered: what a crash keeps for certain.
    durable: Log,
    queue: VecDeque<Queued>,
    staged: Vec<Staged>,
    /// Events and keys of groups whose flush failed: never acknowledged, and a crash may find
    /// them on the disk or not (a failed fsync may have written some pages).
    limbo: Vec<Unflushed>,
    /// Checkpoints are files written, synced and renamed: durable when saved.
    checkpoints: BTreeMap<String, Checkpoint>,
    write_faults: u32,
    flush_faults: u32,
    poisoned: Option<String>,
}

/// What the simulation asked of the writer, and what came of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterStep {
    /// Nothing was waiting.
    Idle,
    /// A group of this many commits was planned and applied.
    Staged(usize),
    /// A flush made this many groups durable and answered their callers.
    Flushed(usize),
    /// The flush failed: nothing it covered was acknowledged; the log takes no more appends.
    FlushFailed(usize),
}

/// The simulated log; cheap to clone (clones share the log).
#[derive(Clone)]
pub struct SimStore {
    inner: Arc<Mutex<Inner>>,
    head_tx: Arc<watch::Sender<u64>>,
    head_rx: watch::Receiver<u64>,
    /// Stage and flush inside `append` (for the conformance suite, which drives nothing).
    auto: bool,
}

impl SimStore {
    /// An empty log whose writer the caller drives ([`SimStore::stage`], [`SimStore::flush`]).
    pub fn new() -> SimStore {
        Self::from_parts(Log::default(), BTreeMap::new())
    }

    /// An empty log that writes and flushes each append at once.
    pub fn auto() -> SimStore {
        let mut s = Self::new();
        s.auto = true;
        s
    }

    fn from_parts(log: Log, checkpoints: BTreeMap<String, Checkpoint>) -> SimStore {
        let head = log.head().position;
        let (head_tx, head_rx) = watch::channel(head);
        SimStore {
            inner: Arc::new(Mutex::new(Inner {
                applied: log.clone(),
                durable: log,
                queue: VecDeque::new(),
                staged: Vec::new(),
                limbo: Vec::new(),
                checkpoints,
                write_faults: 0,
                flush_faults: 0,
                poisoned: None,
            })),
            head_tx: Arc::new(head_tx),
            head_rx,
            auto: false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits waiting for the writer.
    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Groups applied and not made durable (waiting for a flush, or whose flush failed).
    pub fn unflushed_groups(&self) -> usize {
        let inner = self.lock();
        inner.limbo.len() + inner.staged.len()
    }

    /// The next `n` groups fail to apply (a write error): nothing of them is appended.
    pub fn fail_writes(&self, n: u32) {
        self.lock().write_faults = n;
    }

    /// The next `n` flushes fail (fsync EIO): their groups are not acknowledged.
    pub fn fail_flushes(&self, n: u32) {
        self.lock().flush_faults = n;
    }

    /// The writer plans and applies up to `max` queued commits as one group (sled's `stage`):
    /// visible to readers at once, durable only after a flush.
    pub fn stage(&self, max: usize) -> WriterStep {
        let mut inner = self.lock();
        let n = inner.queue.len().min(max.max(1));
        if n == 0 {
            return WriterStep::Idle;
        }
        let batch: Vec<Queued> = inner.queue.drain(..n).collect();
        let head = inner.applied.head();
        let (outcomes, replies, _) = crate::plan::plan(batch, &head, &inner.applied);
        let wrote = outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Accepted { .. }));
        let mut applied = Ok(());
        let mut events = Vec::new();
        let mut keys = Vec::new();
        if wrote {
            if let Some(why) = inner.poisoned.clone() {
                applied = Err(why);
            } else if inner.write_faults > 0 {
                inner.write_faults -= 1;
                applied = Err("injected write error".to_string());
            } else {
                for o in &outcomes {
                    if let Outcome::Accepted {
                        events: evs, idem, ..
                    } = o
                    {
                        for e in evs {
                            inner.applied.push(e.clone());
                            events.push(e.clone());
                        }
                        if let Some((k, r)) = idem {
                            inner.applied.idem.insert(k.clone(), r.clone());
                            keys.push((k.clone(), r.clone()));
                        }
                    }
                }
            }
        }
        inner.staged.push(Staged {
            replies,
            outcomes,
            events,
            keys,
            applied,
        });
        WriterStep::Staged(n)
    }

    /// Flushes every applied group and answers its callers (sled's flush and `settle`). A
    /// failed flush answers them with an error and poisons the log, as sled's writer does.
    pub fn flush(&self) -> WriterStep {
        let mut inner = self.lock();
        if inner.staged.is_empty() {
            return WriterStep::Idle;
        }
        let groups: Vec<Staged> = std::mem::take(&mut inner.staged);
        let n = groups.len();
        let failed = inner.flush_faults > 0;
        let durable = if failed {
            inner.flush_faults -= 1;
            let why = "the disk failed a flush (injected): no more appends until reopened";
            inner.poisoned.get_or_insert_with(|| why.to_string());
            Err("injected fsync failure".to_string())
        } else {
            Ok(())
        };
        let mut advanced = None;
        for g in groups {
            let ok = g.applied.clone().and(durable.clone());
            if ok.is_err() && g.applied.is_ok() {
                inner.limbo.push((g.events.clone(), g.keys.clone()));
            }
            if ok.is_ok() {
                for e in &g.events {
                    inner.durable.push(e.clone());
                }
                for (k, r) in &g.keys {
                    inner.durable.idem.insert(k.clone(), r.clone());
                }
                advanced = Some(inner.durable.head().position);
            }
            for (reply, outcome) in g.replies.into_iter().zip(g.outcomes) {
                let answer = match (&ok, outcome) {
                    (_, Outcome::Rejected(e)) => Err(e),
                    (Err(e), _) => Err(StoreError::Storage(e.clone())),
                    (Ok(()), Outcome::Accepted { events, .. }) => Ok(AppendResult {
                        last_position: events.last().map_or(0, |e| e.position),
                        events,
                        duplicate: false,
                    }),
                    (Ok(()), Outcome::Duplicate { first, last }) => Ok(AppendResult {
                        events: inner.applied.range(first, last),
                        last_position: last,
                        duplicate: true,
                    }),
                };
                let _ = reply.send(answer);
            }
        }
        if let Some(p) = advanced {
            self.head_tx.send_replace(p);
        }
        if failed {
            WriterStep::FlushFailed(n)
        } else {
            WriterStep::Flushed(n)
        }
    }

    /// The machine stops: queued commits and their callers are gone; of the applied groups not
    /// made durable (in order: those whose flush failed, then those waiting for a flush) the
    /// first `keep` reached the disk anyway (a background write), the rest are lost (sled
    /// recovers a prefix of its log). Answers the log as a restart finds it.
    pub fn crash(&self, keep: usize) -> SimStore {
        let inner = self.lock();
        let mut log = inner.durable.clone();
        let unflushed = inner
            .limbo
            .iter()
            .map(|(events, keys)| (events, keys))
            .chain(inner.staged.iter().map(|g| (&g.events, &g.keys)));
        for (events, keys) in unflushed.take(keep) {
            for e in events {
                log.push(e.clone());
            }
            for (k, r) in keys {
                log.idem.insert(k.clone(), r.clone());
            }
        }
        let checkpoints = inner.checkpoints.clone();
        drop(inner);
        Self::from_parts(log, checkpoints)
    }

    /// Reads as sled answers them from the applied batches (streams, versions, keys).
    fn read<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.lock().applied)
    }
}

impl Default for SimStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventStore for SimStore {
    async fn append(&self, commit: Commit) -> Result<AppendResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.lock().queue.push_back(Queued::new(commit, reply));
        if self.auto {
            self.stage(usize::MAX);
            self.flush();
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        let mut inner = self.lock();
        if !inner.staged.is_empty() || !inner.queue.is_empty() {
            return Err(StoreError::Unavailable("appends are in flight".into()));
        }
        let (head, keys) =
            crate::plan::check_import(&inner.applied.head(), &events, &inner.applied)?;
        for e in events {
            inner.applied.push(e.clone());
            inner.durable.push(e);
        }
        for (k, r) in keys {
            inner.applied.idem.insert(k.clone(), r.clone());
            inner.durable.idem.insert(k, r);
        }
        self.head_tx.send_replace(head.position);
        Ok(head)
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(self.read(|log| {
            log.streams
                .get(stream)
                .map(|ps| {
                    ps.iter()
                        .skip(from_version.max(1) as usize - 1)
                        .take(limit)
                        .map(|p| log.events[*p as usize - 1].clone())
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        // As sled's: the log in position order ends at the durable head.
        let inner = self.lock();
        Ok(inner
            .durable
            .events
            .iter()
            .skip(after.min(usize::MAX as u64) as usize)
            .take(limit)
            .cloned()
            .collect())
    }

    fn idempotency(&self, key: &str) -> Result<Option<(String, AppendResult)>, StoreError> {
        // As sled's: a record not yet flushed is no answer (replaying it would acknowledge a
        // commit a crash can lose); the command goes to the writer.
        let durable = *self.head_rx.borrow();
        Ok(self.read(|log| {
            log.idem.get(key).filter(|r| r.last <= durable).map(|r| {
                (
                    r.fingerprint.clone(),
                    AppendResult {
                        events: log.range(r.first, r.last),
                        last_position: r.last,
                        duplicate: true,
                    },
                )
            })
        }))
    }

    fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.read(|log| log.streams.get(stream).map(|v| v.len() as u64)))
    }

    fn head(&self) -> Result<Head, StoreError> {
        Ok(self.lock().durable.head())
    }

    fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.lock()
            .checkpoints
            .insert(name.to_string(), checkpoint.clone());
        Ok(())
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.lock().checkpoints.get(name).cloned())
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        Ok(self.read(|log| {
            let mut check = crate::plan::ChainCheck::new(log.head());
            for e in &log.events {
                if !check.next(e.position, Ok(e.clone())) {
                    break;
                }
            }
            check.report()
        }))
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.head_rx.clone()
    }

    fn queue_depth(&self) -> usize {
        self.queued()
    }

    fn fault(&self) -> Option<String> {
        self.lock().poisoned.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conforms() {
        crate::conformance::run_all(|| async { SimStore::auto() }).await;
    }
}
