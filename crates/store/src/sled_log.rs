//! The event log on sled. One writer task owns every append: it validates a batch of commits
//! against the log's head, chains their hashes, writes them in one sled transaction and flushes
//! once (group commit) before it acknowledges any of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sled::Tree;
use tokio::sync::{mpsc, oneshot, watch};

use crate::head_record::{HeadRecord, HeadWitness};
use crate::plan::{IdemRecord, Known, Outcome, Queued, Reply};
use crate::{
    AppendResult, Checkpoint, Commit, EventStore, Head, RecordedEvent, StoreError, VerifyReport,
    GENESIS_HASH,
};

/// 3: a stream's version is its last index key (2 also kept a stream-head record, which 3
/// neither writes nor reads; a format-2 log is upgraded in place by stamping it 3, so a
/// binary that still reads those records refuses it instead of trusting stale ones).
const FORMAT_VERSION: u64 = 3;
/// The oldest format this binary opens.
const OLDEST_FORMAT: u64 = 2;
const HEAD_POSITION: &[u8] = b"head_position";
const HEAD_HASH: &[u8] = b"head_hash";
const FORMAT: &[u8] = b"format_version";
/// Set once the log has a head record beside it: from then on a missing record is damage.
const WITNESSED: &[u8] = b"head_record";

/// How the sled store is opened.
#[derive(Debug, Clone)]
pub struct SledStoreConfig {
    pub path: PathBuf,
    /// Most commits written and flushed together.
    pub max_batch: usize,
    /// Commits waiting for the writer before `append` answers `Unavailable` (backpressure).
    pub queue_capacity: usize,
    /// Longest a commit waits for others to share its flush (group commit). A group goes to
    /// disk before that once it is as large as the last one, so a lone caller never waits.
    pub gather_wait: Duration,
    /// A throwaway log removed when dropped (benchmarks, tests).
    pub temporary: bool,
    /// Bytes of sled's page cache. sled's default (1 GiB) made resident memory grow with
    /// the log in the soak test; the projections, not the cache, should be what grows.
    pub cache_capacity: u64,
    /// Refuse to open a log whose tail does not verify. Off only for `verify`, which must be
    /// able to walk a broken log to report where it breaks.
    pub check_tail: bool,
    /// With `check_tail`, walk the whole chain before opening (sled finds a damaged page only
    /// when it reads it). Costs a read of the log: see docs/operations.md.
    pub verify_on_open: bool,
    /// Keep the head record beside the log (off only to measure what it costs: the append
    /// benchmark's `store_without_head_record`).
    pub head_record: bool,
}

impl SledStoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SledStoreConfig {
            path: path.into(),
            max_batch: 256,
            queue_capacity: 10_000,
            gather_wait: Duration::from_micros(500),
            temporary: false,
            check_tail: true,
            verify_on_open: true,
            head_record: true,
            cache_capacity: 64 * 1024 * 1024,
        }
    }
}

enum Msg {
    Append(Box<Queued>),
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
    /// `e`‖position → envelope; `s`‖stream‖0‖version → position; `i`‖key → idempotency
    /// record; `m`‖name → head position, head hash, format. (Format 2 also kept `h`‖stream →
    /// version; format 3 reads a stream's version from its last `s` key, one random write per
    /// event fewer: see docs/performance.md. Old `h` records are left unread.)
    log: Tree,
    checkpoints: Tree,
}

const EVENT: u8 = b'e';
const STREAM: u8 = b's';
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

/// A handle on the log; cheap to clone.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

/// What outlives a reopen: the configuration, the fault switches, the durable head readers
/// follow.
struct Inner {
    config: SledStoreConfig,
    /// The open files and their writer; `None` only while `recover` reopens them (or after a
    /// reopen failed, until the next attempt).
    live: std::sync::RwLock<Option<Live>>,
    checkpoints: crate::checkpoint_files::CheckpointFiles,
    faults: Arc<std::sync::atomic::AtomicU32>,
    flush_faults: Arc<std::sync::atomic::AtomicU32>,
    /// Injected flush failures answer a full disk instead of an I/O error.
    flush_faults_full: Arc<std::sync::atomic::AtomicBool>,
    /// Holds every flush until released (tests of what readers see while a batch is applied
    /// but not yet durable).
    flush_gate: watch::Sender<bool>,
    /// Set when the disk failed a flush: see `Writer::poisoned`.
    poisoned: Arc<std::sync::Mutex<Option<(crate::DiskFault, String)>>>,
    stats: Arc<WriterStats>,
    /// The last durable position. Readers see the log up to here and no further: a batch sled
    /// holds in memory but has not flushed may vanish in a power cut, and its positions would
    /// then be written again with other events.
    head_tx: Arc<watch::Sender<u64>>,
    recovering: tokio::sync::Mutex<()>,
}

/// One opening of the sled files.
struct Live {
    trees: Trees,
    /// The head record as found at open (`verify` compares the log with it).
    recorded: Option<Head>,
    /// The writer's head record, to report a record that cannot be written.
    witness: Option<HeadWitness>,
    tx: mpsc::Sender<Msg>,
    _writer: WriterGuard,
}

/// Stops the writer when its opening goes away.
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

/// sled's log file, synced after every flush. sled 0.34 makes a flush "stable" with
/// `sync_file_range` on Linux, which writes the pages but neither the file's size nor the
/// drive's cache: after a power cut, groups already acknowledged were gone (found by the
/// power-loss test on faultfs, crates/cli/tests/powerloss.rs). An fdatasync of the same file
/// after each flush makes the acknowledgement true.
#[derive(Clone)]
struct LogFile(Option<Arc<std::fs::File>>);

impl LogFile {
    fn open(config: &SledStoreConfig) -> Result<LogFile, StoreError> {
        if config.temporary {
            return Ok(LogFile(None));
        }
        let io = |p: &std::path::Path, e: std::io::Error| storage(format!("{}: {e}", p.display()));
        // sled writes `conf` once, when it creates the log, and syncs neither it nor the
        // directories: a power cut soon after left a log sled refuses to open.
        let mut synced = vec![config.path.join("conf"), config.path.clone()];
        if let Some(parent) = config.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            synced.push(parent.to_path_buf());
        }
        for p in synced {
            std::fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| io(&p, e))?;
        }
        let db = config.path.join("db");
        let file = std::fs::File::open(&db).map_err(|e| io(&db, e))?;
        Ok(LogFile(Some(Arc::new(file))))
    }

    fn sync(&self) -> std::io::Result<()> {
        match &self.0 {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

/// Opens the sled files. sled 0.34's I/O threads may hold the file lock for a moment after the
/// last handle is dropped, so a reopen right after `shutdown` waits a bounded while instead of
/// failing; a log held by another live process still fails once `LOCK_WAIT` has passed.
fn open_db(config: &SledStoreConfig) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        // sled 0.34 panics on some damaged files (an index out of bounds in its segment
        // recovery, seen with a truncated file): that is a damaged log, not a crash.
        let opened = std::panic::catch_unwind(|| {
            sled::Config::new()
                .path(&config.path)
                .cache_capacity(config.cache_capacity)
                .temporary(config.temporary)
                .open()
        })
        .map_err(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            StoreError::Corrupt {
                position: 1,
                reason: format!(
                    "sled cannot read its files ({what}): no position of the log can be vouched for"
                ),
            }
        })?;
        match opened {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e @ sled::Error::Corruption { .. }) => {
                return Err(StoreError::Corrupt {
                    position: 1,
                    reason: format!(
                    "sled cannot read its files ({e}): no position of the log can be vouched for"
                ),
                })
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
        crate::plan::decode(position, bytes)
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
        let last = self
            .log
            .range(stream_key(stream, 0)..=stream_key(stream, u64::MAX))
            .keys()
            .next_back();
        match last {
            Some(k) => {
                let k = k.map_err(storage)?;
                Ok(Some(from_be(&k[k.len() - 8..])?))
            }
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

impl Trees {
    /// Walks the whole chain against `head`. A record sled cannot read (a page whose checksum
    /// fails) breaks the chain at its position like a record whose hash fails.
    fn verify(&self, head: Head) -> Result<VerifyReport, StoreError> {
        let mut chain = crate::plan::ChainCheck::new(head);
        let mut expected = 1;
        for kv in self.log.scan_prefix([EVENT]) {
            let (position, record) = match kv {
                Ok((k, v)) => {
                    let position = from_be(&k[1..])?;
                    (position, self.decode(position, &v))
                }
                Err(e) => (
                    expected,
                    Err(StoreError::Corrupt {
                        position: expected,
                        reason: format!("sled cannot read the record: {e}"),
                    }),
                ),
            };
            if !chain.next(position, record) {
                break;
            }
            expected = position + 1;
        }
        Ok(chain.report())
    }

    /// The log must reach the head record's position with the recorded hash: sled may have
    /// dropped a damaged tail without a word, and only this record outside its files knows.
    fn agrees_with_record(&self, head: &Head, recorded: &Head) -> Result<(), StoreError> {
        if recorded.position > head.position {
            return Err(StoreError::Corrupt {
                position: head.position + 1,
                reason: format!(
                    "the head record says the log reached position {} (hash {}), but it ends at \
                     {}: events {}..={} are missing",
                    recorded.position,
                    recorded.hash,
                    head.position,
                    head.position + 1,
                    recorded.position
                ),
            });
        }
        if recorded.position > 0 {
            let e = self.event(recorded.position)?;
            if e.hash != recorded.hash {
                return Err(StoreError::Corrupt {
                    position: recorded.position,
                    reason: format!(
                        "the event's hash {} differs from the head record's {}",
                        e.hash, recorded.hash
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Opens the head record beside the log and checks the log against it. A log that had a record
/// and lost it, or a record that is unreadable, is refused. With the tail check off (`verify`
/// walking a log that may be broken) the record is only read: nothing may overwrite the claim
/// the log is being compared with.
fn open_head_record(
    config: &SledStoreConfig,
    trees: &Trees,
    head: &Head,
    log_file: &LogFile,
) -> Result<(Option<HeadWitness>, Option<Head>), StoreError> {
    let had_content = HeadRecord::exists_with_content(&config.path);
    if !config.check_tail {
        let recorded = if had_content {
            HeadRecord::open(&config.path)?.1
        } else {
            None
        };
        return Ok((None, recorded));
    }
    let (mut record, recorded) = HeadRecord::open(&config.path)?;
    let witnessed = trees
        .log
        .get(prefixed(META, WITNESSED))
        .map_err(storage)?
        .is_some();
    match &recorded {
        Some(r) => trees.agrees_with_record(head, r)?,
        None if had_content => {
            return Err(StoreError::Corrupt {
                position: head.position,
                reason: "the head record beside the log is unreadable".into(),
            })
        }
        None if witnessed => {
            return Err(StoreError::Corrupt {
                position: head.position,
                reason: format!(
                    "the head record ({}) is missing although this log had one",
                    crate::head_record::FILE_NAME
                ),
            })
        }
        None => {
            // The first start of a log under this version (or a new log).
            record.write(head)?;
            trees
                .log
                .insert(prefixed(META, WITNESSED), &be(1))
                .map_err(storage)?;
            trees.db.flush().map_err(storage)?;
            log_file.sync().map_err(storage)?;
        }
    }
    Ok((Some(HeadWitness::spawn(record)), recorded))
}

/// The sled files opened and checked, before a writer runs on them.
struct Opened {
    trees: Trees,
    /// sled's data file, synced after each flush: see `LogFile`.
    log_file: LogFile,
    head: Head,
    witness: Option<HeadWitness>,
    recorded: Option<Head>,
}

/// Opens the sled files and checks them: the format, the tail (or, with `verify_on_open`, the
/// whole chain) and the head record beside them.
fn open_files(config: &SledStoreConfig) -> Result<Opened, StoreError> {
    let db = open_db(config)?;
    let log_file = LogFile::open(config)?;
    let open = |name: &str| db.open_tree(name).map_err(storage);
    let trees = Trees {
        log: open("log")?,
        checkpoints: open("checkpoints")?,
        db: db.clone(),
    };
    match trees.log.get(prefixed(META, FORMAT)).map_err(storage)? {
        Some(v) if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&from_be(&v)?) => {
            return Err(storage(format!(
                "log format {} is not supported (expected {OLDEST_FORMAT} to {FORMAT_VERSION})",
                from_be(&v)?
            )))
        }
        Some(v) if from_be(&v)? == FORMAT_VERSION => {}
        _ => {
            trees
                .log
                .insert(prefixed(META, FORMAT), &be(FORMAT_VERSION))
                .map_err(storage)?;
            db.flush().map_err(disk_error)?;
            log_file
                .sync()
                .map_err(|e| disk_error(sled::Error::Io(e)))?;
        }
    }
    let head = if config.check_tail {
        trees.check_tail()?
    } else {
        trees.head()?
    };
    if config.check_tail && config.verify_on_open {
        // sled checks a page's checksum only when it reads it: bit rot in the middle of the
        // log would otherwise be found by the first reader, long after the server started.
        let report = trees.verify(head.clone())?;
        if let (Some(position), reason) = (report.first_broken, report.reason) {
            return Err(StoreError::Corrupt {
                position,
                reason: reason.unwrap_or_default(),
            });
        }
    }
    let (witness, recorded) = if config.temporary || !config.head_record {
        (None, None)
    } else {
        open_head_record(config, &trees, &head, &log_file)?
    };
    Ok(Opened {
        trees,
        log_file,
        head,
        witness,
        recorded,
    })
}

impl SledStore {
    /// Opens (or creates) the log. Must be called inside a tokio runtime: the writer is a task.
    /// Refuses to open a log whose tail does not verify, naming the position.
    pub fn open(config: SledStoreConfig) -> Result<SledStore, StoreError> {
        let opened = open_files(&config)?;
        let (head_tx, _) = watch::channel(opened.head.position);
        let inner = Arc::new(Inner {
            checkpoints: crate::checkpoint_files::CheckpointFiles::new(
                config.path.join("checkpoints"),
            ),
            config,
            live: std::sync::RwLock::new(None),
            faults: Arc::new(std::sync::atomic::AtomicU32::new(0)),
            flush_faults: Arc::new(std::sync::atomic::AtomicU32::new(0)),
            flush_faults_full: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            flush_gate: watch::channel(false).0,
            poisoned: Arc::new(std::sync::Mutex::new(None)),
            stats: Arc::new(WriterStats::default()),
            head_tx: Arc::new(head_tx),
            recovering: tokio::sync::Mutex::new(()),
        });
        let store = SledStore { inner };
        store.start(opened);
        Ok(store)
    }

    /// Starts a writer on freshly opened files and makes them the live ones.
    fn start(&self, opened: Opened) {
        let inner = &self.inner;
        let Opened {
            trees,
            log_file,
            head,
            witness,
            recorded,
        } = opened;
        let (tx, rx) = mpsc::channel(inner.config.queue_capacity.max(1));
        inner.head_tx.send_if_modified(|p| {
            let ahead = head.position > *p;
            if ahead {
                *p = head.position;
            }
            ahead
        });
        let writer = Writer {
            trees: trees.clone(),
            faults: inner.faults.clone(),
            flush_faults: inner.flush_faults.clone(),
            flush_faults_full: inner.flush_faults_full.clone(),
            flush_gate: inner.flush_gate.subscribe(),
            poisoned: inner.poisoned.clone(),
            head,
            max_batch: inner.config.max_batch.max(1),
            gather_wait: inner.config.gather_wait,
            head_tx: inner.head_tx.clone(),
            stats: inner.stats.clone(),
            versions: HashMap::new(),
            witness: witness.clone(),
            log_file,
        };
        tokio::spawn(writer.run(rx));
        *inner.live.write().unwrap_or_else(|p| p.into_inner()) = Some(Live {
            trees,
            recorded,
            witness,
            tx: tx.clone(),
            _writer: WriterGuard { tx },
        });
    }

    fn trees(&self) -> Result<Trees, StoreError> {
        self.with_live(|l| l.trees.clone())
    }

    fn tx(&self) -> Result<mpsc::Sender<Msg>, StoreError> {
        self.with_live(|l| l.tx.clone())
    }

    fn with_live<T>(&self, f: impl FnOnce(&Live) -> T) -> Result<T, StoreError> {
        let live = self.inner.live.read().unwrap_or_else(|p| p.into_inner());
        live.as_ref().map(f).ok_or_else(|| {
            StoreError::Unavailable("the log is being reopened after a disk fault".into())
        })
    }

    /// The last durable position: what readers may see.
    fn durable(&self) -> u64 {
        *self.inner.head_tx.borrow()
    }

    /// After a disk fault, reopens the log once the disk takes a write and an fsync again.
    ///
    /// sled keeps a failed write in memory as if it were on disk and refuses everything after
    /// an I/O error, so the only safe way on is to let go of the files and read them again:
    /// what the failed flush left (all, part or none of its batch) is then what the log holds,
    /// checked against the head record like any start. Readers see nothing past the last
    /// durable position meanwhile.
    pub async fn reopen_after_fault(&self) -> Result<bool, StoreError> {
        let _one = self.inner.recovering.lock().await;
        let missing = self.with_live(|_| ()).is_err();
        if self.poison().is_none() && !missing {
            return Ok(false);
        }
        if self.inner.config.temporary {
            return Err(StoreError::Unavailable(
                "a temporary log cannot be reopened".into(),
            ));
        }
        let path = self.inner.config.path.clone();
        tokio::task::spawn_blocking(move || probe_disk(&path))
            .await
            .map_err(|e| storage(format!("the disk probe stopped: {e}")))??;
        let old = self
            .inner
            .live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(live) = old {
            let (done, wait) = oneshot::channel();
            if live.tx.send(Msg::Shutdown(done)).await.is_ok() {
                let _ = wait.await;
            }
        }
        let config = self.inner.config.clone();
        let opened = tokio::task::spawn_blocking(move || open_files(&config))
            .await
            .map_err(|e| storage(format!("the reopen stopped: {e}")))?;
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                self.set_poison(
                    crate::DiskFault::Io,
                    format!("the log could not be reopened: {e}"),
                );
                return Err(e);
            }
        };
        let durable = self.durable();
        if opened.head.position < durable {
            let e = StoreError::Corrupt {
                position: opened.head.position + 1,
                reason: format!(
                    "after reopening, the log ends at {} although {durable} was durable",
                    opened.head.position
                ),
            };
            self.set_poison(crate::DiskFault::Io, e.to_string());
            return Err(e);
        }
        self.start(opened);
        *self
            .inner
            .poisoned
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        tracing::warn!("the log was reopened after a disk fault; appends resume");
        Ok(true)
    }

    fn poison(&self) -> Option<(crate::DiskFault, String)> {
        self.inner
            .poisoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_poison(&self, kind: crate::DiskFault, why: String) {
        *self
            .inner
            .poisoned
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((kind, why));
    }

    /// Drains the write queue, flushes, and stops the writer. Later appends answer `Unavailable`.
    pub async fn shutdown(&self) {
        let Ok(tx) = self.tx() else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Msg::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Makes the next `n` batch writes fail as a disk would (full, I/O error), before anything
    /// is written: for testing that a failed append is answered and leaves nothing behind.
    pub fn inject_write_failures(&self, n: u32) {
        self.inner
            .faults
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the next `n` flushes fail as a disk would after the batch was written (fsync
    /// returning EIO): for testing that nothing is acknowledged and nothing more is appended.
    pub fn inject_flush_failures(&self, n: u32) {
        self.inner
            .flush_faults_full
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.inner
            .flush_faults
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Like `inject_flush_failures`, with the disk full (ENOSPC) instead of an I/O error.
    pub fn inject_full_disk_flushes(&self, n: u32) {
        self.inner
            .flush_faults_full
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner
            .flush_faults
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Holds every flush (`true`) until released (`false`): batches are applied in sled's
    /// memory but not durable meanwhile.
    pub fn hold_flushes(&self, hold: bool) {
        self.inner.flush_gate.send_replace(hold);
    }

    /// Flushes and commits since the store opened.
    pub fn group_commit_stats(&self) -> (u64, u64) {
        self.inner.stats.snapshot()
    }

    /// Bytes the log takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.trees()
            .ok()
            .and_then(|t| t.db.size_on_disk().ok())
            .unwrap_or(0)
    }
}

/// Writes and fsyncs a scratch file beside the log (as large as a sled segment, so a disk with
/// a few bytes free does not pass), then removes it: does the disk take writes again?
fn probe_disk(dir: &std::path::Path) -> Result<(), StoreError> {
    use std::io::Write;
    let path = dir.join("disk-probe");
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&vec![0u8; 1 << 20])?;
        f.sync_all()?;
        drop(f);
        std::fs::remove_file(&path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&path);
        StoreError::Disk {
            kind: crate::DiskFault::of(&e),
            detail: format!("the disk still fails a test write: {e}"),
        }
    })
}

/// The same failure for each caller of a batch.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Disk { kind, detail } => StoreError::Disk {
            kind: *kind,
            detail: detail.clone(),
        },
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Storage(other.to_string()),
    }
}

/// Sorts a sled error from a write or a flush: the disk's own failures are `Disk`.
fn disk_error(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::Disk {
            kind: crate::DiskFault::of(&io),
            detail: io.to_string(),
        },
        other => storage(other),
    }
}

#[async_trait]
impl EventStore for SledStore {
    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx()?
            .send(Msg::Import(events, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
    }

    fn queue_depth(&self) -> usize {
        self.tx()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .unwrap_or(0)
    }

    fn fault(&self) -> Option<String> {
        if let Some((kind, why)) = self.poison() {
            return Some(format!("{kind}: {why}"));
        }
        match self.with_live(|l| l.witness.as_ref().and_then(HeadWitness::failure)) {
            Ok(Some(failure)) => Some(format!("the head record cannot be written: {failure}")),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    async fn recover(&self) -> Result<bool, StoreError> {
        self.reopen_after_fault().await
    }

    async fn append(&self, commit: Commit) -> Result<AppendResult, StoreError> {
        crate::plan::submit(&self.tx()?, commit, Msg::Append).await
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Deciding may see a batch that is not yet durable: a command chained onto it is
        // flushed after it, and nothing is chained after a failed flush.
        let trees = self.trees()?;
        let start = stream_key(stream, from_version.max(1));
        let end = stream_key(stream, u64::MAX);
        trees
            .log
            .range(start..=end)
            .take(limit)
            .map(|kv| {
                let (_, pos) = kv.map_err(storage)?;
                trees.event(from_be(&pos)?)
            })
            .collect()
    }

    fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        // Up to the durable head only: a reader that went further checkpointed, delivered and
        // served events a crash then took back (found by the simulation, tests/sim.rs seed 3:
        // the next start refused the checkpoint as ahead of the log).
        let durable = self.durable();
        if after >= durable {
            return Ok(Vec::new());
        }
        let trees = self.trees()?;
        let start = event_key(after.saturating_add(1));
        let end = event_key(durable);
        trees
            .log
            .range(start..=end)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(storage)?;
                trees.decode(from_be(&k[1..])?, &v)
            })
            .collect()
    }

    fn idempotency(&self, key: &str) -> Result<Option<(String, AppendResult)>, StoreError> {
        let trees = self.trees()?;
        match trees.idem(key)? {
            // A retry racing its original's flush goes to the writer, which answers it once
            // that flush has returned: never a replay of what may still be lost (found twice:
            // by the simulation, tests/sim.rs seed 2, and by disk_faults.rs).
            Some(rec) if rec.last > self.durable() => Ok(None),
            Some(rec) => Ok(Some((
                rec.fingerprint,
                AppendResult {
                    events: trees.range(rec.first, rec.last)?,
                    last_position: rec.last,
                    duplicate: true,
                },
            ))),
            None => Ok(None),
        }
    }

    fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        self.trees()?.stream_version(stream)
    }

    fn head(&self) -> Result<Head, StoreError> {
        let durable = self.durable();
        let trees = self.trees()?;
        let head = trees.head()?;
        if head.position <= durable {
            return Ok(head);
        }
        // sled already holds a batch whose flush has not returned: the head is the last
        // durable event.
        Ok(Head {
            position: durable,
            hash: match durable {
                0 => GENESIS_HASH.to_string(),
                p => trees.event(p)?.hash,
            },
        })
    }

    fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.inner.checkpoints.save(name, checkpoint)
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        if let Some(cp) = self.inner.checkpoints.load(name)? {
            return Ok(Some(cp));
        }
        // Written by a version that kept checkpoints inside sled.
        match self
            .trees()?
            .checkpoints
            .get(name.as_bytes())
            .map_err(storage)?
        {
            Some(b) => Ok(serde_json::from_slice(&b).ok()),
            None => Ok(None),
        }
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let (trees, recorded) = self.with_live(|l| (l.trees.clone(), l.recorded.clone()))?;
        let mut report = trees.verify(trees.head()?)?;
        if report.first_broken.is_none() {
            if let Some(recorded) = &recorded {
                if let Err(StoreError::Corrupt { position, reason }) =
                    trees.agrees_with_record(&report.head, recorded)
                {
                    report.first_broken = Some(position);
                    report.reason = Some(reason);
                }
            }
        }
        Ok(report)
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.head_tx.subscribe()
    }
}

/// The single owner of appends.
struct Writer {
    trees: Trees,
    /// Writes to fail on purpose (fault injection for tests of the failure path).
    faults: Arc<std::sync::atomic::AtomicU32>,
    /// Flushes to fail on purpose, after the batch was applied.
    flush_faults: Arc<std::sync::atomic::AtomicU32>,
    flush_faults_full: Arc<std::sync::atomic::AtomicBool>,
    /// While `true`, flushes wait (tests).
    flush_gate: watch::Receiver<bool>,
    /// Once a flush failed, the pages it covered may be lost while sled's memory says they are
    /// written (the "fsyncgate" lesson: a failed fsync is not retried, it is final for those
    /// pages). Chaining more events onto that head could bury a hole in the log, so nothing more
    /// is written until the store is reopened, which re-reads what is really on disk.
    poisoned: Arc<std::sync::Mutex<Option<(crate::DiskFault, String)>>>,
    head: Head,
    max_batch: usize,
    /// How long a group waits for more commits before it goes to disk anyway.
    gather_wait: Duration,
    head_tx: Arc<watch::Sender<u64>>,
    stats: Arc<WriterStats>,
    /// Writes each durable head to the head record (none for a temporary log).
    witness: Option<HeadWitness>,
    /// Synced after each flush: see `LogFile`.
    log_file: LogFile,
    /// Versions of streams written since start, as applied to sled: reading a stream's version
    /// from sled is a reverse range scan, which cost a tenth of the writer's time (measured).
    /// Bounded: emptied when it reaches `VERSION_CACHE`; emptied on any failure too, so it
    /// never disagrees with the log.
    versions: HashMap<String, u64>,
}

/// Most stream versions the writer keeps in memory (about 100 bytes each).
const VERSION_CACHE: usize = 100_000;

impl Writer {
    /// The writer loop: group commit with a gather window, one flush in flight at a time.
    ///
    /// Commits that arrive while a flush is running wait for the next one. A group starts its
    /// flush as soon as no flush is running and it holds as many commits as the last group did
    /// (the callers just acknowledged are likely to come straight back), or `max_batch`, or when
    /// `gather_wait` has passed since its first commit arrived. Without the wait, a closed loop
    /// of W callers splits into two alternating groups of about W/2 and pays twice the flushes
    /// (measured: docs/performance.md). A group complete while a flush runs is planned and
    /// applied at once, so that work overlaps the I/O; it is acknowledged only after a flush
    /// that started after it was applied has returned.
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut pending: Vec<Queued> = Vec::new();
        let mut staged: Vec<Staged> = Vec::new();
        let mut flushing: Option<Flushing> = None;
        // Commits in the last group that went to disk: the size the next group waits for.
        let mut expected = 1usize;
        // When the gathering group must go to disk, however small.
        let mut deadline: Option<tokio::time::Instant> = None;
        // An import or shutdown waits until everything received before it is settled.
        let mut control: Option<Control> = None;
        let mut open = true;
        loop {
            let gathering = staged_commits(&staged) + pending.len();
            let woke = if let Some(f) = flushing.as_mut() {
                tokio::select! {
                    biased;
                    r = &mut f.handle => Woke::Flushed(r),
                    m = rx.recv(), if open && control.is_none() => Woke::Msg(m),
                }
            } else if gathering > 0 {
                let until = deadline.unwrap_or_else(tokio::time::Instant::now);
                tokio::select! {
                    biased;
                    m = rx.recv(), if open && control.is_none() => Woke::Msg(m),
                    _ = tokio::time::sleep_until(until) => Woke::Deadline,
                }
            } else if let Some(c) = control.take() {
                // Everything before the import or shutdown is settled.
                match c {
                    Control::Import(events, r) => {
                        let _ = r.send(self.import(events).await);
                        continue;
                    }
                    Control::Shutdown(done) => {
                        let flushed = self.trees.db.flush_async().await.is_ok()
                            && self.log_file.sync().is_ok();
                        let poisoned = self
                            .poisoned
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .is_some();
                        if let Some(w) = self.witness.take() {
                            // The record holds the final head before the files are released,
                            // but only a head the disk really took: after a failed flush,
                            // sled's memory holds a batch the disk may not.
                            if flushed && !poisoned {
                                w.durable(&self.head);
                                let head = self.head.clone();
                                let waiter = w.clone();
                                let _ =
                                    tokio::task::spawn_blocking(move || waiter.wait_written(&head))
                                        .await;
                            }
                            w.stop();
                        }
                        // Release the database before answering, so the caller may reopen it.
                        drop(self);
                        let _ = done.send(());
                        return;
                    }
                }
            } else if open {
                Woke::Msg(rx.recv().await)
            } else {
                return;
            };
            let mut deadline_passed = false;
            match woke {
                Woke::Flushed(result) => {
                    let f = flushing.take().expect("a flush was running");
                    let failed = match result {
                        Ok(Ok(_)) => None,
                        Ok(Err(e)) => Some(disk_error(e)),
                        Err(e) => Some(storage(e)),
                    };
                    if let Some(e) = &failed {
                        self.poison_with(e, "a flush");
                    }
                    for s in f.groups {
                        let durable = match &failed {
                            None => Ok(()),
                            Some(e) => Err(copy_error(e)),
                        };
                        self.settle(s, durable);
                    }
                }
                Woke::Msg(Some(msg)) => {
                    Self::receive(msg, &mut pending, &mut control);
                    while open && control.is_none() && pending.len() < self.max_batch {
                        match rx.try_recv() {
                            Ok(msg) => Self::receive(msg, &mut pending, &mut control),
                            Err(_) => break,
                        }
                    }
                    if !pending.is_empty() && deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + self.gather_wait);
                    }
                }
                Woke::Msg(None) => open = false,
                Woke::Deadline => deadline_passed = true,
            }
            if control.is_some() && open {
                // Answer whatever was queued before the shutdown, then take nothing more.
                if matches!(control, Some(Control::Shutdown(_))) {
                    rx.close();
                    while let Ok(msg) = rx.try_recv() {
                        match msg {
                            Msg::Append(q) => pending.push(*q),
                            Msg::Import(_, r) => {
                                let _ = r.send(Err(StoreError::Unavailable(
                                    "the writer is stopping".into(),
                                )));
                            }
                            Msg::Shutdown(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                    open = false;
                }
            }
            let gathering = staged_commits(&staged) + pending.len();
            let complete = gathering >= expected.min(self.max_batch)
                || deadline_passed
                || control.is_some()
                || !open;
            if flushing.is_none() && gathering > 0 && complete {
                if !pending.is_empty() {
                    staged.push(self.stage(std::mem::take(&mut pending)));
                }
                let groups = std::mem::take(&mut staged);
                expected = staged_commits(&groups).max(1);
                deadline = None;
                if groups.iter().any(|s| s.wrote) {
                    let db = self.trees.db.clone();
                    let log_file = self.log_file.clone();
                    self.stats.record_flush();
                    let fail = self
                        .flush_faults
                        .fetch_update(
                            std::sync::atomic::Ordering::SeqCst,
                            std::sync::atomic::Ordering::SeqCst,
                            |n| n.checked_sub(1),
                        )
                        .is_ok();
                    let full = self
                        .flush_faults_full
                        .load(std::sync::atomic::Ordering::SeqCst);
                    let mut gate = self.flush_gate.clone();
                    flushing = Some(Flushing {
                        handle: tokio::spawn(async move {
                            let _ = gate.wait_for(|held| !held).await;
                            if fail {
                                // As a real failed write-back: the disk did not take the
                                // batch, sled's memory still holds it.
                                return Err(sled::Error::Io(if full {
                                    std::io::Error::new(
                                        std::io::ErrorKind::StorageFull,
                                        "injected: no space left on device",
                                    )
                                } else {
                                    std::io::Error::other("injected fsync failure")
                                }));
                            }
                            match db.flush_async().await {
                                Ok(n) => tokio::task::spawn_blocking(move || log_file.sync())
                                    .await
                                    .map_err(std::io::Error::other)
                                    .and_then(|r| r)
                                    .map(|()| n)
                                    .map_err(sled::Error::Io),
                                Err(e) => Err(e),
                            }
                        }),
                        groups,
                    });
                } else {
                    for s in groups {
                        self.settle(s, Ok(()));
                    }
                }
            } else if flushing.is_some() && pending.len() >= expected.min(self.max_batch) {
                // The next group is complete while the disk is busy: do its CPU work now.
                staged.push(self.stage(std::mem::take(&mut pending)));
            }
        }
    }

    /// Sorts one message: appends wait in `pending`; an import or a shutdown stops the intake
    /// until everything before it is settled.
    fn receive(msg: Msg, pending: &mut Vec<Queued>, control: &mut Option<Control>) {
        match msg {
            Msg::Append(q) => pending.push(*q),
            Msg::Import(events, r) => *control = Some(Control::Import(events, r)),
            Msg::Shutdown(done) => *control = Some(Control::Shutdown(done)),
        }
    }

    fn persist(
        &self,
        outcomes: &mut [Outcome],
        extra_keys: &[(String, IdemRecord)],
        head: &Head,
    ) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        if self
            .faults
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            // Refused before sled took anything: nothing to doubt, so no poisoning.
            return Err(StoreError::Disk {
                kind: crate::DiskFault::Io,
                detail: "injected I/O error".into(),
            });
        }
        if let Some((kind, why)) = self
            .poisoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(StoreError::Disk { kind, detail: why });
        }
        // A head record that cannot be written means a loss could go unnoticed: write nothing
        // more until it can (the failure is retried by the record's thread).
        if let Some(failure) = self.witness.as_ref().and_then(HeadWitness::failure) {
            let kind = if failure.contains("No space left") {
                crate::DiskFault::Full
            } else {
                crate::DiskFault::Io
            };
            return Err(StoreError::Disk {
                kind,
                detail: format!("the head record cannot be written: {failure}"),
            });
        }
        let mut batch = sled::Batch::default();
        let mut idems: Vec<&(String, IdemRecord)> = extra_keys.iter().collect();
        for o in outcomes.iter_mut() {
            if let Outcome::Accepted {
                events,
                encoded,
                idem,
            } = o
            {
                for (e, bytes) in events.iter().zip(std::mem::take(encoded)) {
                    batch.insert(event_key(e.position), bytes);
                    batch.insert(stream_key(&e.stream, e.version), &be(e.position));
                }
                idems.extend(idem.as_ref());
            }
        }
        for (k, r) in idems {
            let v = serde_json::to_vec(r).map_err(storage)?;
            batch.insert(prefixed(IDEM, k.as_bytes()), v);
        }
        batch.insert(prefixed(META, HEAD_POSITION), &be(head.position));
        batch.insert(prefixed(META, HEAD_HASH), head.hash.as_bytes());
        // One tree, one batch: atomic, and far cheaper than a multi-tree transaction. sled
        // fails a batch only after its own write-back failed, and then refuses everything:
        // its memory and the disk may differ, so the log is poisoned like after a failed flush.
        self.trees.log.apply_batch(batch).map_err(|e| {
            let e = disk_error(e);
            if matches!(e, StoreError::Disk { .. }) {
                self.poison_with(&e, "a write");
            }
            e
        })
    }

    /// Stops appends after the disk failed: see `poisoned`.
    fn poison_with(&self, e: &StoreError, what: &str) {
        let (kind, detail) = match e {
            StoreError::Disk { kind, detail } => (*kind, detail.clone()),
            other => (crate::DiskFault::Io, other.to_string()),
        };
        let mut p = self.poisoned.lock().unwrap_or_else(|p| p.into_inner());
        p.get_or_insert_with(|| {
            (
                kind,
                format!(
                    "the disk failed {what} ({detail}): no more appends until the log is \
                     reopened, which the server tries once the disk takes writes again"
                ),
            )
        });
    }

    /// Checks that `events` continue this log's chain exactly, then writes them in one
    /// transaction and flushes. Idempotency keys come back with an unknowable fingerprint, so a
    /// retry after a restore is refused rather than applied twice.
    async fn import(&mut self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        let (head, keys) = crate::plan::check_import(&self.head, &events, &self.known())?;
        if events.is_empty() {
            return Ok(head);
        }
        let encoded = events.iter().map(RecordedEvent::stored_bytes).collect();
        let mut outcome = [Outcome::Accepted {
            events,
            encoded,
            idem: None,
        }];
        let persisted = self.persist(&mut outcome, &keys, &head);
        self.versions.clear();
        match persisted {
            Ok(()) => {
                let synced = match self.trees.db.flush_async().await {
                    Ok(_) => self.log_file.sync().map_err(sled::Error::Io),
                    Err(e) => Err(e),
                };
                if let Err(e) = synced {
                    let e = disk_error(e);
                    self.poison_with(&e, "the flush of an import");
                    return Err(e);
                }
                if let Some(w) = &self.witness {
                    w.durable(&head);
                }
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

    /// Plans and applies a batch (not yet durable). The head moves on at once so the next batch
    /// chains onto this one.
    fn stage(&mut self, batch: Vec<Queued>) -> Staged {
        let (mut outcomes, replies, new_head) = crate::plan::plan(batch, &self.head, &self.known());
        let wrote = outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Accepted { .. }));
        let mut applied = Ok(());
        if wrote {
            applied = self.persist(&mut outcomes, &[], &new_head);
            if applied.is_ok() {
                self.head = new_head.clone();
                self.remember_versions(&outcomes);
            } else {
                self.versions.clear();
            }
        }
        self.stats.record_group(replies.len());
        Staged {
            replies,
            outcomes,
            head: new_head,
            wrote: wrote && applied.is_ok(),
            applied,
        }
    }

    fn remember_versions(&mut self, outcomes: &[Outcome]) {
        for o in outcomes {
            if let Outcome::Accepted { events, .. } = o {
                for e in events {
                    if self.versions.len() >= VERSION_CACHE
                        && !self.versions.contains_key(&e.stream)
                    {
                        self.versions.clear();
                    }
                    self.versions.insert(e.stream.clone(), e.version);
                }
            }
        }
    }

    /// Answers a staged batch's callers once the flush that covers it has returned (`durable`):
    /// nothing is acknowledged before it is on disk.
    fn settle(&mut self, staged: Staged, durable: Result<(), StoreError>) {
        let Staged {
            replies,
            outcomes,
            head,
            applied,
            ..
        } = staged;
        let durable = applied.and(durable);
        match &durable {
            Ok(()) => {
                if head.position > *self.head_tx.borrow() && head.position <= self.head.position {
                    self.head_tx.send_replace(head.position);
                }
                if let Some(w) = &self.witness {
                    w.durable(&head);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "append batch failed; nothing acknowledged");
                // What the log holds is the truth again.
                self.versions.clear();
                if let Ok(h) = self.trees.head() {
                    self.head = h;
                }
            }
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let answer = match (&durable, outcome) {
                (_, Outcome::Rejected(e)) => Err(e),
                (Err(e), _) => Err(copy_error(e)),
                (Ok(()), Outcome::Accepted { events, .. }) => {
                    let last_position = events.last().map(|e| e.position).unwrap_or(0);
                    Ok(AppendResult {
                        events,
                        last_position,
                        duplicate: false,
                    })
                }
                // The first attempt's flush failed (the log is poisoned): not durable, so not
                // an answer.
                (Ok(()), Outcome::Duplicate { last, .. }) if last > *self.head_tx.borrow() => {
                    Err(StoreError::Unavailable(
                        "the first attempt of this idempotency key is not durable".into(),
                    ))
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
}

impl Writer {
    fn known(&self) -> SledKnown<'_> {
        SledKnown { writer: self }
    }
}

/// What the log holds, as the writer sees it: stream versions from its cache first.
struct SledKnown<'a> {
    writer: &'a Writer,
}

impl Known for SledKnown<'_> {
    fn idempotency(&self, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        self.writer.trees.idem(key)
    }

    fn version(&self, stream: &str) -> Result<u64, StoreError> {
        match self.writer.versions.get(stream) {
            Some(v) => Ok(*v),
            None => Ok(self.writer.trees.stream_version(stream)?.unwrap_or(0)),
        }
    }
}

/// A batch applied to sled, not yet known to be durable.
struct Staged {
    replies: Vec<Reply>,
    outcomes: Vec<Outcome>,
    head: Head,
    applied: Result<(), StoreError>,
    /// Whether it wrote anything, so needs a flush.
    wrote: bool,
}

fn staged_commits(staged: &[Staged]) -> usize {
    staged.iter().map(|s| s.replies.len()).sum()
}

/// The flush in flight and the batches it makes durable.
struct Flushing {
    handle: tokio::task::JoinHandle<sled::Result<usize>>,
    groups: Vec<Staged>,
}

/// What woke the writer.
enum Woke {
    Flushed(Result<sled::Result<usize>, tokio::task::JoinError>),
    Msg(Option<Msg>),
    Deadline,
}

/// An import or a shutdown, waiting for everything received before it.
enum Control {
    Import(
        Vec<RecordedEvent>,
        oneshot::Sender<Result<Head, StoreError>>,
    ),
    Shutdown(oneshot::Sender<()>),
}

/// Group-commit figures since the store opened: commits answered per flush is what decides
/// durable throughput (`/metrics`, and the append benchmark).
#[derive(Debug, Default)]
pub struct WriterStats {
    groups: std::sync::atomic::AtomicU64,
    commits: std::sync::atomic::AtomicU64,
    flushes: std::sync::atomic::AtomicU64,
}

impl WriterStats {
    fn record_group(&self, commits: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.groups.fetch_add(1, Relaxed);
        self.commits.fetch_add(commits as u64, Relaxed);
    }

    fn record_flush(&self) {
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// (flushes, commits) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.flushes.load(Relaxed), self.commits.load(Relaxed))
    }
}

/// What `repair_truncate_after` removed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepairReport {
    /// The head the log keeps.
    pub kept: Head,
    /// What the log's own head said before the repair.
    pub log_head_before: Head,
    /// What the head record said before the repair (absent if there was none).
    pub head_record_before: Option<Head>,
    /// Event records removed (as stored, whether or not they verified).
    pub removed_events: u64,
    pub removed_index_keys: u64,
}

/// Keeps the verified prefix `1..=position` of a stopped log and removes everything after it:
/// an operator's explicit decision after `verify` named a damaged position. Every removed
/// record is written to `removed_to` first (one JSON line each, the first line this report's
/// "before" facts), then the log's head and the head record are set to `position`. Refuses a
/// position whose prefix does not verify.
pub fn repair_truncate_after(
    path: &std::path::Path,
    position: u64,
    removed_to: &std::path::Path,
) -> Result<RepairReport, StoreError> {
    use std::io::Write;
    let config = SledStoreConfig::new(path);
    let db = open_db(&config)?;
    let trees = Trees {
        log: db.open_tree("log").map_err(storage)?,
        checkpoints: db.open_tree("checkpoints").map_err(storage)?,
        db: db.clone(),
    };
    let log_head_before = trees.head()?;
    let head_record_before = if HeadRecord::exists_with_content(path) {
        HeadRecord::open(path)?.1
    } else {
        None
    };
    // The prefix must verify up to `position`.
    let mut chain = crate::plan::ChainCheck::new(Head {
        position,
        hash: String::new(),
    });
    let mut kept_hash = crate::GENESIS_HASH.to_string();
    for p in 1..=position {
        let record = trees.event(p);
        if let Ok(e) = &record {
            kept_hash = e.hash.clone();
        }
        if !chain.next(p, record) {
            let r = chain.report();
            return Err(StoreError::Corrupt {
                position: r.first_broken.unwrap_or(p),
                reason: format!(
                    "the prefix to keep does not verify ({}): choose a position before it",
                    r.reason.unwrap_or_default()
                ),
            });
        }
    }
    let kept = Head {
        position,
        hash: kept_hash,
    };
    let mut out = std::fs::File::create(removed_to)
        .map_err(|e| storage(format!("{}: {e}", removed_to.display())))?;
    let io = |e: std::io::Error| storage(format!("{}: {e}", removed_to.display()));
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "repair": "truncate-after",
            "kept": kept,
            "log_head_before": log_head_before,
            "head_record_before": head_record_before,
        })
    )
    .map_err(io)?;
    let mut batch = sled::Batch::default();
    let mut removed_events = 0;
    for kv in trees
        .log
        .range(event_key(position + 1)..=event_key(u64::MAX))
    {
        let (k, v) = kv.map_err(storage)?;
        let line = match std::str::from_utf8(&v) {
            Ok(text) => serde_json::json!({ "position": from_be(&k[1..])?, "record": text }),
            Err(_) => {
                serde_json::json!({ "position": from_be(&k[1..])?, "record_hex": hex::encode(&v) })
            }
        };
        writeln!(out, "{line}").map_err(io)?;
        batch.remove(k);
        removed_events += 1;
    }
    out.sync_all().map_err(io)?;
    let mut removed_index_keys = 0;
    for kv in trees.log.scan_prefix([STREAM]) {
        let (k, v) = kv.map_err(storage)?;
        if from_be(&v)? > position {
            batch.remove(k);
            removed_index_keys += 1;
        }
    }
    for kv in trees.log.scan_prefix([IDEM]) {
        let (k, v) = kv.map_err(storage)?;
        let keep = serde_json::from_slice::<IdemRecord>(&v)
            .map(|r| r.last <= position)
            .unwrap_or(false);
        if !keep {
            batch.remove(k);
            removed_index_keys += 1;
        }
    }
    batch.insert(prefixed(META, HEAD_POSITION), &be(kept.position));
    batch.insert(prefixed(META, HEAD_HASH), kept.hash.as_bytes());
    batch.insert(prefixed(META, WITNESSED), &be(1));
    trees.log.apply_batch(batch).map_err(storage)?;
    db.flush().map_err(storage)?;
    std::fs::File::open(path.join("db"))
        .and_then(|f| f.sync_data())
        .map_err(storage)?;
    let (mut record, _) = HeadRecord::open(path)?;
    record.write(&kept)?;
    Ok(RepairReport {
        kept,
        log_head_before,
        head_record_before,
        removed_events,
        removed_index_keys,
    })
}
