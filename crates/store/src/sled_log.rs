//! The event log on sled. One writer task owns every append: it validates a batch of commits
//! against the log's head, chains their hashes, writes them in one sled transaction and flushes
//! once (group commit) before it acknowledges any of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sled::Tree;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{
    AppendResult, Checkpoint, Commit, EventStore, ExpectedVersion, Head, RecordedEvent, StoreError,
    VerifyReport, GENESIS_HASH,
};

const FORMAT_VERSION: u64 = 2;
const HEAD_POSITION: &[u8] = b"head_position";
const HEAD_HASH: &[u8] = b"head_hash";
const FORMAT: &[u8] = b"format_version";

/// How the sled store is opened.
#[derive(Debug, Clone)]
pub struct SledStoreConfig {
    pub path: PathBuf,
    /// Most commits written and flushed together.
    pub max_batch: usize,
    /// Commits waiting for the writer before `append` answers `Unavailable` (backpressure).
    pub queue_capacity: usize,
    /// A throwaway log removed when dropped (benchmarks, tests).
    pub temporary: bool,
    /// Bytes of sled's page cache. sled's default (1 GiB) made resident memory grow with
    /// the log in the soak test; the projections, not the cache, should be what grows.
    pub cache_capacity: u64,
    /// Refuse to open a log whose tail does not verify. Off only for `verify`, which must be
    /// able to walk a broken log to report where it breaks.
    pub check_tail: bool,
}

impl SledStoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SledStoreConfig {
            path: path.into(),
            max_batch: 256,
            queue_capacity: 10_000,
            temporary: false,
            check_tail: true,
            cache_capacity: 64 * 1024 * 1024,
        }
    }
}

type Reply = oneshot::Sender<Result<AppendResult, StoreError>>;

enum Msg {
    Append(Box<Commit>, Reply),
    Import(
        Vec<RecordedEvent>,
        oneshot::Sender<Result<Head, StoreError>>,
    ),
    Shutdown(oneshot::Sender<()>),
}

/// The whole log is one sled tree with a one-byte prefix per kind of record, so a batch of
/// commits is written with one atomic `apply_batch` instead of a multi-tree transaction (measured:
/// the transaction cost more than the flush; see docs/performance.md).
#[derive(Clone)]
struct Trees {
    db: sled::Db,
    /// `e`‖position → envelope; `s`‖stream‖0‖version → position; `h`‖stream → version;
    /// `i`‖key → idempotency record; `m`‖name → head position, head hash, format.
    log: Tree,
    checkpoints: Tree,
}

const EVENT: u8 = b'e';
const STREAM: u8 = b's';
const STREAM_HEAD: u8 = b'h';
const IDEM: u8 = b'i';
const META: u8 = b'm';

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(rest.len() + 1);
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

/// The key of the event at `position`.
pub(crate) fn event_key(position: u64) -> Vec<u8> {
    prefixed(EVENT, &be(position))
}

/// What an idempotency key points at: the fingerprint of its request and the commit's positions.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdemRecord {
    fingerprint: String,
    first: u64,
    last: u64,
}

/// A handle on the log; cheap to clone.
#[derive(Clone)]
pub struct SledStore {
    trees: Trees,
    faults: Arc<std::sync::atomic::AtomicU32>,
    tx: mpsc::Sender<Msg>,
    head_rx: watch::Receiver<u64>,
    _writer: Arc<WriterGuard>,
}

/// Stops the writer when the last handle goes away.
struct WriterGuard {
    tx: mpsc::Sender<Msg>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let (done, _) = oneshot::channel();
        let _ = self.tx.try_send(Msg::Shutdown(done));
    }
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

/// How long `open` waits for a file lock still held by a store that was just dropped.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the sled files. sled 0.34's I/O threads may hold the file lock for a moment after the
/// last handle is dropped, so a reopen right after `shutdown` waits a bounded while instead of
/// failing; a log held by another live process still fails once `LOCK_WAIT` has passed.
fn open_db(config: &SledStoreConfig) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let opened = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity)
            .temporary(config.temporary)
            .open();
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.map_err(storage),
        }
    }
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn from_be(bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| storage("a stored number is not 8 bytes"))?;
    Ok(u64::from_be_bytes(arr))
}

fn stream_key(stream: &str, version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 10);
    k.push(STREAM);
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(&be(version));
    k
}

impl Trees {
    fn decode(&self, position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
        let e: RecordedEvent =
            serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
                position,
                reason: format!("record does not decode: {err}"),
            })?;
        if e.position != position {
            return Err(StoreError::Corrupt {
                position,
                reason: format!("record claims position {}", e.position),
            });
        }
        Ok(e)
    }

    fn event(&self, position: u64) -> Result<RecordedEvent, StoreError> {
        let bytes = self
            .log
            .get(event_key(position))
            .map_err(storage)?
            .ok_or_else(|| StoreError::Corrupt {
                position,
                reason: "record missing".into(),
            })?;
        self.decode(position, &bytes)
    }

    fn range(&self, first: u64, last: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        (first..=last).map(|p| self.event(p)).collect()
    }

    fn head(&self) -> Result<Head, StoreError> {
        let position = match self
            .log
            .get(prefixed(META, HEAD_POSITION))
            .map_err(storage)?
        {
            Some(b) => from_be(&b)?,
            None => 0,
        };
        let hash = match self.log.get(prefixed(META, HEAD_HASH)).map_err(storage)? {
            Some(b) => String::from_utf8(b.to_vec()).map_err(storage)?,
            None => GENESIS_HASH.to_string(),
        };
        Ok(Head { position, hash })
    }

    fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        match self
            .log
            .get(prefixed(STREAM_HEAD, stream.as_bytes()))
            .map_err(storage)?
        {
            Some(b) => Ok(Some(from_be(&b)?)),
            None => Ok(None),
        }
    }

    fn idem(&self, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        match self
            .log
            .get(prefixed(IDEM, key.as_bytes()))
            .map_err(storage)?
        {
            Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(storage)?)),
            None => Ok(None),
        }
    }

    /// At start-up: the head in `meta` must be the last record, and that record's hash must hold.
    fn check_tail(&self) -> Result<Head, StoreError> {
        let head = self.head()?;
        let last = match self.log.scan_prefix([EVENT]).next_back() {
            Some(kv) => from_be(&kv.map_err(storage)?.0[1..])?,
            None => 0,
        };
        if last != head.position {
            return Err(StoreError::Corrupt {
                position: last.max(head.position),
                reason: format!(
                    "the head says position {}, the last record is {last}",
                    head.position
                ),
            });
        }
        if last > 0 {
            let e = self.event(last)?;
            if e.compute_hash() != e.hash || e.hash != head.hash {
                return Err(StoreError::Corrupt {
                    position: last,
                    reason: "the last record's hash does not match its content or the head".into(),
                });
            }
        }
        Ok(head)
    }
}

impl SledStore {
    /// Opens (or creates) the log. Must be called inside a tokio runtime: the writer is a task.
    /// Refuses to open a log whose tail does not verify, naming the position.
    pub fn open(config: SledStoreConfig) -> Result<SledStore, StoreError> {
        let db = open_db(&config)?;
        let open = |name: &str| db.open_tree(name).map_err(storage);
        let trees = Trees {
            log: open("log")?,
            checkpoints: open("checkpoints")?,
            db: db.clone(),
        };
        match trees.log.get(prefixed(META, FORMAT)).map_err(storage)? {
            Some(v) if from_be(&v)? != FORMAT_VERSION => {
                return Err(storage(format!(
                    "log format {} is not supported (expected {FORMAT_VERSION})",
                    from_be(&v)?
                )))
            }
            Some(_) => {}
            None => {
                trees
                    .log
                    .insert(prefixed(META, FORMAT), &be(FORMAT_VERSION))
                    .map_err(storage)?;
                db.flush().map_err(storage)?;
            }
        }
        let head = if config.check_tail {
            trees.check_tail()?
        } else {
            trees.head()?
        };
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (head_tx, head_rx) = watch::channel(head.position);
        let faults = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let writer = Writer {
            trees: trees.clone(),
            faults: faults.clone(),
            head,
            max_batch: config.max_batch.max(1),
            head_tx,
        };
        tokio::spawn(writer.run(rx));
        Ok(SledStore {
            trees,
            faults,
            tx: tx.clone(),
            head_rx,
            _writer: Arc::new(WriterGuard { tx }),
        })
    }

    /// Drains the write queue, flushes, and stops the writer. Later appends answer `Unavailable`.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Makes the next `n` batch writes fail as a disk would (full, I/O error), before anything
    /// is written: for testing that a failed append is answered and leaves nothing behind.
    pub fn inject_write_failures(&self, n: u32) {
        self.faults.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Bytes the log takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.trees.db.size_on_disk().unwrap_or(0)
    }

    /// Names of the streams that start with `prefix`, in order.
    pub fn stream_ids(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.trees
            .log
            .scan_prefix(prefixed(STREAM_HEAD, prefix.as_bytes()))
            .keys()
            .map(|k| {
                k.map_err(storage)
                    .and_then(|k| String::from_utf8(k[1..].to_vec()).map_err(storage))
            })
            .collect()
    }
}

#[async_trait]
impl EventStore for SledStore {
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Import(events, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
    }

    fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    async fn append(&self, commit: Commit) -> Result<AppendResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Msg::Append(Box::new(commit), reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    StoreError::Unavailable("write queue full".into())
                }
                mpsc::error::TrySendError::Closed(_) => {
                    StoreError::Unavailable("the writer has stopped".into())
                }
            })?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let start = stream_key(stream, from_version.max(1));
        let end = stream_key(stream, u64::MAX);
        self.trees
            .log
            .range(start..=end)
            .take(limit)
            .map(|kv| {
                let (_, pos) = kv.map_err(storage)?;
                self.trees.event(from_be(&pos)?)
            })
            .collect()
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let start = event_key(after.saturating_add(1));
        let end = event_key(u64::MAX);
        self.trees
            .log
            .range(start..=end)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(storage)?;
                self.trees.decode(from_be(&k[1..])?, &v)
            })
            .collect()
    }

    fn idempotency(&self, key: &str) -> Result<Option<(String, AppendResult)>, StoreError> {
        match self.trees.idem(key)? {
            Some(rec) => Ok(Some((
                rec.fingerprint,
                AppendResult {
                    events: self.trees.range(rec.first, rec.last)?,
                    last_position: rec.last,
                    duplicate: true,
                },
            ))),
            None => Ok(None),
        }
    }

    fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        self.trees.stream_version(stream)
    }

    fn head(&self) -> Result<Head, StoreError> {
        self.trees.head()
    }

    fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(checkpoint).map_err(storage)?;
        self.trees
            .checkpoints
            .insert(name.as_bytes(), bytes)
            .map_err(storage)?;
        self.trees.checkpoints.flush().map_err(storage)?;
        Ok(())
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        match self
            .trees
            .checkpoints
            .get(name.as_bytes())
            .map_err(storage)?
        {
            Some(b) => Ok(serde_json::from_slice(&b).ok()),
            None => Ok(None),
        }
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let head = self.trees.head()?;
        let mut expected_prev = GENESIS_HASH.to_string();
        let mut checked = 0;
        let broken = |position: u64, reason: String, checked: u64| VerifyReport {
            events_checked: checked,
            head: head.clone(),
            first_broken: Some(position),
            reason: Some(reason),
        };
        for kv in self.trees.log.scan_prefix([EVENT]) {
            let (k, v) = kv.map_err(storage)?;
            let position = from_be(&k[1..])?;
            let expected_position = checked + 1;
            if position != expected_position {
                return Ok(broken(
                    expected_position,
                    format!("gap: next record is {position}"),
                    checked,
                ));
            }
            let e = match self.trees.decode(position, &v) {
                Ok(e) => e,
                Err(err) => return Ok(broken(position, err.to_string(), checked)),
            };
            if e.prev_hash != expected_prev {
                return Ok(broken(
                    position,
                    "prev_hash does not link to the previous event".into(),
                    checked,
                ));
            }
            if e.compute_hash() != e.hash {
                return Ok(broken(
                    position,
                    "hash does not match the record's content".into(),
                    checked,
                ));
            }
            expected_prev = e.hash;
            checked += 1;
        }
        if checked != head.position || expected_prev != head.hash {
            return Ok(broken(
                checked.max(head.position),
                format!(
                    "the head says position {}, the chain ends at {checked}",
                    head.position
                ),
                checked,
            ));
        }
        Ok(VerifyReport {
            events_checked: checked,
            head,
            first_broken: None,
            reason: None,
        })
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.head_rx.clone()
    }
}

/// The single owner of appends.
struct Writer {
    trees: Trees,
    /// Writes to fail on purpose (fault injection for tests of the failure path).
    faults: Arc<std::sync::atomic::AtomicU32>,
    head: Head,
    max_batch: usize,
    head_tx: watch::Sender<u64>,
}

/// The fate of one commit within a batch.
enum Outcome {
    Accepted(Vec<RecordedEvent>, Option<(String, IdemRecord)>),
    Duplicate { first: u64, last: u64 },
    Rejected(StoreError),
}

impl Writer {
    /// The writer loop, pipelined one batch deep: while batch N's flush is in flight, batch N+1
    /// is planned and applied; N is acknowledged only when its own flush has returned.
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut inflight: Option<Staged> = None;
        loop {
            let mut batch = Vec::new();
            let mut import = None;
            let mut stop = None;
            if inflight.is_none() {
                match rx.recv().await {
                    None => return,
                    Some(Msg::Append(c, r)) => batch.push((c, r)),
                    Some(Msg::Import(events, r)) => import = Some((events, r)),
                    Some(Msg::Shutdown(done)) => stop = Some(done),
                }
            }
            while stop.is_none() && import.is_none() && batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(Msg::Append(c, r)) => batch.push((c, r)),
                    Ok(Msg::Import(events, r)) => import = Some((events, r)),
                    Ok(Msg::Shutdown(done)) => stop = Some(done),
                    Err(_) => break,
                }
            }
            let staged = (!batch.is_empty()).then(|| self.stage(batch));
            if let Some(previous) = inflight.take() {
                self.settle(previous).await;
            }
            inflight = staged;
            if import.is_none() && stop.is_none() {
                continue;
            }
            // Imports and shutdown see everything before them settled.
            if let Some(previous) = inflight.take() {
                self.settle(previous).await;
            }
            if let Some((events, r)) = import {
                let _ = r.send(self.import(events).await);
            }
            if let Some(done) = stop {
                // Answer whatever is still queued, then stop: nothing is left half-done.
                rx.close();
                while let Ok(msg) = rx.try_recv() {
                    match msg {
                        Msg::Append(c, r) => self.write(vec![(c, r)]).await,
                        Msg::Import(events, r) => {
                            let _ = r.send(self.import(events).await);
                        }
                        Msg::Shutdown(d) => {
                            let _ = d.send(());
                        }
                    }
                }
                let _ = self.trees.db.flush_async().await;
                // Release the database before answering, so the caller may reopen it.
                drop(self);
                let _ = done.send(());
                return;
            }
        }
    }

    fn plan(&self, batch: &[(Box<Commit>, Reply)]) -> (Vec<Outcome>, Head) {
        let mut head = self.head.clone();
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut keys: HashMap<String, IdemRecord> = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for (commit, _) in batch {
            outcomes.push(self.plan_one(commit, &mut head, &mut versions, &mut keys));
        }
        (outcomes, head)
    }

    fn plan_one(
        &self,
        commit: &Commit,
        head: &mut Head,
        versions: &mut HashMap<String, u64>,
        keys: &mut HashMap<String, IdemRecord>,
    ) -> Outcome {
        // The idempotency key first: a retry of a commit that landed is not a conflict.
        if let Some(idem) = &commit.idempotency {
            let known = match keys.get(&idem.key).cloned() {
                Some(r) => Some(r),
                None => match self.trees.idem(&idem.key) {
                    Ok(r) => r,
                    Err(e) => return Outcome::Rejected(e),
                },
            };
            if let Some(rec) = known {
                return if rec.fingerprint == idem.fingerprint {
                    Outcome::Duplicate {
                        first: rec.first,
                        last: rec.last,
                    }
                } else {
                    Outcome::Rejected(StoreError::IdempotencyMismatch {
                        key: idem.key.clone(),
                    })
                };
            }
        }
        if commit.streams.is_empty() || commit.streams.iter().any(|s| s.events.is_empty()) {
            return Outcome::Rejected(StoreError::EmptyCommit);
        }
        let mut local: HashMap<&str, u64> = HashMap::new();
        let mut start: HashMap<&str, u64> = HashMap::new();
        for s in &commit.streams {
            let current = match local.get(s.stream.as_str()) {
                Some(v) => *v,
                None => match versions.get(&s.stream) {
                    Some(v) => *v,
                    None => match self.trees.stream_version(&s.stream) {
                        Ok(v) => v.unwrap_or(0),
                        Err(e) => return Outcome::Rejected(e),
                    },
                },
            };
            let ok = match s.expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => current == 0,
                ExpectedVersion::Exact(v) => current == v,
            };
            if !ok {
                return Outcome::Rejected(StoreError::Conflict {
                    stream: s.stream.clone(),
                    expected: s.expected,
                    actual: (current > 0).then_some(current),
                });
            }
            start.entry(&s.stream).or_insert(current);
            local.insert(&s.stream, current + s.events.len() as u64);
        }
        let first = head.position + 1;
        let mut events = Vec::new();
        let mut stream_versions = start;
        for s in &commit.streams {
            for e in &s.events {
                let version = stream_versions.entry(&s.stream).or_insert(0);
                *version += 1;
                head.position += 1;
                let mut rec = RecordedEvent {
                    position: head.position,
                    stream: s.stream.clone(),
                    version: *version,
                    event_type: e.event_type.clone(),
                    schema: e.schema,
                    payload: e.payload.clone(),
                    actor: e.actor.clone(),
                    occurred_at: e.occurred_at,
                    recorded_at: commit.recorded_at,
                    policy_version: e.policy_version,
                    correlation_id: e.correlation_id.clone(),
                    causation_id: e.causation_id.clone(),
                    idempotency_key: commit.idempotency.as_ref().map(|i| i.key.clone()),
                    prev_hash: head.hash.clone(),
                    hash: String::new(),
                };
                rec.hash = rec.compute_hash();
                head.hash = rec.hash.clone();
                events.push(rec);
            }
        }
        for (stream, v) in local {
            versions.insert(stream.to_string(), v);
        }
        let idem = commit.idempotency.as_ref().map(|i| {
            let rec = IdemRecord {
                fingerprint: i.fingerprint.clone(),
                first,
                last: head.position,
            };
            keys.insert(i.key.clone(), rec.clone());
            (i.key.clone(), rec)
        });
        Outcome::Accepted(events, idem)
    }

    fn persist(
        &self,
        outcomes: &[Outcome],
        extra_keys: &[(String, IdemRecord)],
        head: &Head,
    ) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        if self
            .faults
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(storage("injected I/O error"));
        }
        let t = &self.trees;
        let encoded: Vec<(u64, Vec<u8>)> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Accepted(events, _) => Some(events),
                _ => None,
            })
            .flatten()
            .map(|e| serde_json::to_vec(e).map(|b| (e.position, b)))
            .collect::<Result<_, _>>()
            .map_err(storage)?;
        let idems: Vec<(String, Vec<u8>)> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Accepted(_, Some((k, r))) => Some((k, r)),
                _ => None,
            })
            .chain(extra_keys.iter().map(|(k, r)| (k, r)))
            .map(|(k, r)| serde_json::to_vec(r).map(|b| (k.clone(), b)))
            .collect::<Result<_, _>>()
            .map_err(storage)?;
        let mut batch = sled::Batch::default();
        for (position, bytes) in encoded {
            batch.insert(event_key(position), bytes);
        }
        for o in outcomes {
            if let Outcome::Accepted(evs, _) = o {
                for e in evs {
                    batch.insert(stream_key(&e.stream, e.version), &be(e.position));
                    batch.insert(prefixed(STREAM_HEAD, e.stream.as_bytes()), &be(e.version));
                }
            }
        }
        for (k, v) in idems {
            batch.insert(prefixed(IDEM, k.as_bytes()), v);
        }
        batch.insert(prefixed(META, HEAD_POSITION), &be(head.position));
        batch.insert(prefixed(META, HEAD_HASH), head.hash.as_bytes());
        // One tree, one batch: atomic, and far cheaper than a multi-tree transaction.
        t.log.apply_batch(batch).map_err(storage)
    }

    /// Checks that `events` continue this log's chain exactly, then writes them in one
    /// transaction and flushes. Idempotency keys come back with an unknowable fingerprint, so a
    /// retry after a restore is refused rather than applied twice.
    async fn import(&mut self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        let mut head = self.head.clone();
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut keys: Vec<(String, IdemRecord)> = Vec::new();
        for e in &events {
            let bad = |reason: String| StoreError::Corrupt {
                position: e.position,
                reason,
            };
            if e.position != head.position + 1 {
                return Err(bad(format!("expected position {}", head.position + 1)));
            }
            if e.prev_hash != head.hash {
                return Err(bad("prev_hash does not continue the chain".into()));
            }
            if e.compute_hash() != e.hash {
                return Err(bad("hash does not match the record".into()));
            }
            let current = match versions.get(&e.stream) {
                Some(v) => *v,
                None => self.trees.stream_version(&e.stream)?.unwrap_or(0),
            };
            if e.version != current + 1 {
                return Err(bad(format!(
                    "stream {} expected version {}",
                    e.stream,
                    current + 1
                )));
            }
            versions.insert(e.stream.clone(), e.version);
            if let Some(key) = &e.idempotency_key {
                match keys.last_mut() {
                    Some((k, r)) if k == key && r.last + 1 == e.position => r.last = e.position,
                    _ => keys.push((
                        key.clone(),
                        IdemRecord {
                            fingerprint: "imported".into(),
                            first: e.position,
                            last: e.position,
                        },
                    )),
                }
            }
            head.position = e.position;
            head.hash = e.hash.clone();
        }
        if events.is_empty() {
            return Ok(head);
        }
        let outcome = [Outcome::Accepted(events, None)];
        let persisted = self.persist(&outcome, &keys, &head);
        match persisted {
            Ok(()) => {
                self.trees.db.flush_async().await.map_err(storage)?;
                self.head = head.clone();
                self.head_tx.send_replace(head.position);
                Ok(head)
            }
            Err(e) => {
                if let Ok(h) = self.trees.head() {
                    self.head = h;
                }
                Err(e)
            }
        }
    }

    /// Plans and applies a batch (not yet durable) and starts its flush. The head moves on at
    /// once so the next batch chains onto this one.
    fn stage(&mut self, batch: Vec<(Box<Commit>, Reply)>) -> Staged {
        let (outcomes, new_head) = self.plan(&batch);
        let wrote = outcomes.iter().any(|o| matches!(o, Outcome::Accepted(..)));
        let mut flush = None;
        let mut applied = Ok(());
        if wrote {
            applied = self.persist(&outcomes, &[], &new_head);
            if applied.is_ok() {
                self.head = new_head.clone();
                let db = self.trees.db.clone();
                flush = Some(tokio::spawn(async move { db.flush_async().await }));
            }
        }
        Staged {
            batch,
            outcomes,
            head: new_head,
            applied,
            flush,
        }
    }

    /// Waits for a staged batch's flush, then answers its callers: nothing is acknowledged
    /// before it is durable.
    async fn settle(&mut self, staged: Staged) {
        let Staged {
            batch,
            outcomes,
            head,
            applied,
            flush,
        } = staged;
        let durable = match (applied, flush) {
            (Err(e), _) => Err(e),
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(f)) => match f.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(storage(e)),
                Err(e) => Err(storage(e)),
            },
        };
        match &durable {
            Ok(()) => {
                if head.position > *self.head_tx.borrow() && head.position <= self.head.position {
                    self.head_tx.send_replace(head.position);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "append batch failed; nothing acknowledged");
                // What the log holds is the truth again.
                if let Ok(h) = self.trees.head() {
                    self.head = h;
                }
            }
        }
        for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
            let answer = match (&durable, outcome) {
                (_, Outcome::Rejected(e)) => Err(e),
                (Err(e), _) => Err(StoreError::Storage(e.to_string())),
                (Ok(()), Outcome::Accepted(events, _)) => {
                    let last_position = events.last().map(|e| e.position).unwrap_or(0);
                    Ok(AppendResult {
                        events,
                        last_position,
                        duplicate: false,
                    })
                }
                (Ok(()), Outcome::Duplicate { first, last }) => {
                    self.trees.range(first, last).map(|events| AppendResult {
                        events,
                        last_position: last,
                        duplicate: true,
                    })
                }
            };
            let _ = reply.send(answer);
        }
    }

    /// Stages and settles one batch, unpipelined.
    async fn write(&mut self, batch: Vec<(Box<Commit>, Reply)>) {
        if batch.is_empty() {
            return;
        }
        let staged = self.stage(batch);
        self.settle(staged).await;
    }
}

/// A batch applied to sled whose flush may still be running.
struct Staged {
    batch: Vec<(Box<Commit>, Reply)>,
    outcomes: Vec<Outcome>,
    head: Head,
    applied: Result<(), StoreError>,
    flush: Option<tokio::task::JoinHandle<sled::Result<usize>>>,
}
