//! The event log on PostgreSQL, for several API nodes sharing one database.
//!
//! Every node has one writer task. A writer takes the queued commits of its node as one batch
//! and writes them in one transaction that first locks the single `rl_head` row: the lock
//! orders the batches of all nodes, so positions are gapless, a batch sees every stream version
//! the batches before it wrote (READ COMMITTED takes a new snapshot per statement), and a batch
//! becomes visible only after the one before it did: no reader ever sees a gap. The decisions
//! (versions, idempotency, hashes) are the same code as sled's (`plan`); the records are the
//! same bytes, so an export from either imports into the other with the same head hash.
//!
//! Each commit notifies `rl_events_<schema>` with the new head; a listening connection per node
//! turns that into [`EventStore::subscribe`], so projections and feeds follow appends made by
//! other nodes.
//!
//! The trait's reads are synchronous (sled answers from memory); here they run on the store's
//! own runtime and the caller waits, which keeps every caller of the trait unchanged.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::plan::{self, IdemRecord, Known, Outcome, Queued};
use crate::{
    AppendResult, Checkpoint, Commit, EventStore, Head, RecordedEvent, StoreError, VerifyReport,
    GENESIS_HASH,
};

/// Where the log lives and how a node talks to it.
#[derive(Debug, Clone)]
pub struct PgStoreConfig {
    /// A libpq-style connection string or URL (`postgres://user@host/db`,
    /// `host=127.0.0.1 user=postgres`).
    pub url: String,
    /// The schema that holds the tables (created if missing): several logs may share one
    /// database, each in a schema of its own.
    pub schema: String,
    /// Connections for reads (each pipelines concurrent queries).
    pub readers: usize,
    /// Most commits one transaction takes.
    pub max_batch: usize,
    /// Commits that may wait for the writer before appends are refused as unavailable.
    pub queue: usize,
}

impl PgStoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        PgStoreConfig {
            url: url.into(),
            schema: "repairledger".into(),
            readers: 4,
            max_batch: 512,
            queue: 8192,
        }
    }

    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }
}

enum Msg {
    Append(Box<Queued>),
    Import(
        Vec<RecordedEvent>,
        oneshot::Sender<Result<Head, StoreError>>,
    ),
}

/// A handle on the log; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Taken on drop: a runtime must not be dropped where blocking is not allowed.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    readers: Vec<Arc<Client>>,
    next_reader: AtomicUsize,
    tx: mpsc::Sender<Msg>,
    head_rx: watch::Receiver<u64>,
    url: String,
    schema: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            rt.shutdown_background();
        }
    }
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    // The server's own message (constraint, connection) says more than the Display of the error.
    let detail = e
        .as_db_error()
        .map(|d| format!("{}: {}", d.code().code(), d.message()))
        .unwrap_or_else(|| e.to_string());
    StoreError::Storage(format!("postgres: {detail}"))
}

fn schema_ok(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 48
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit())
}

/// Runs `fut` on `handle`'s runtime and waits for it from any thread, inside an async runtime
/// or not.
fn wait<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| StoreError::Unavailable("the PostgreSQL store is shutting down".into()))?
}

/// Connects and points the session at the log's schema; the connection is driven on the
/// current runtime.
async fn connect(url: &str, schema: &str) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(pg)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        }
    });
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .map_err(pg)?;
    Ok(client)
}

/// The tables, created once under an advisory lock so nodes starting together do not race.
/// `rl_events` refuses UPDATE and DELETE: the log is append-only in the database too.
fn migration(schema: &str) -> String {
    format!(
        "SELECT pg_advisory_xact_lock(hashtext('repairledger-migrate'));
         CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.rl_head (
             id smallint PRIMARY KEY CHECK (id = 1),
             position bigint NOT NULL,
             hash text NOT NULL,
             format integer NOT NULL);
         INSERT INTO {schema}.rl_head VALUES (1, 0, '{GENESIS_HASH}', 1) ON CONFLICT (id) DO NOTHING;
         CREATE TABLE IF NOT EXISTS {schema}.rl_events (
             position bigint PRIMARY KEY,
             stream text NOT NULL,
             version bigint NOT NULL,
             record bytea NOT NULL,
             UNIQUE (stream, version));
         CREATE TABLE IF NOT EXISTS {schema}.rl_idempotency (
             key text PRIMARY KEY,
             fingerprint text NOT NULL,
             first_position bigint NOT NULL,
             last_position bigint NOT NULL);
         CREATE TABLE IF NOT EXISTS {schema}.rl_checkpoints (
             name text PRIMARY KEY,
             position bigint NOT NULL,
             state bytea NOT NULL,
             saved_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS {schema}.rl_customer_keys (
             subject text PRIMARY KEY,
             record bytea NOT NULL);
         CREATE OR REPLACE FUNCTION {schema}.rl_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;
         DROP TRIGGER IF EXISTS rl_events_append_only ON {schema}.rl_events;
         CREATE TRIGGER rl_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
             ON {schema}.rl_events FOR EACH STATEMENT EXECUTE FUNCTION {schema}.rl_append_only();"
    )
}

impl PgStore {
    /// Connects, creates the tables if needed and starts this node's writer and listener.
    pub fn open(config: PgStoreConfig) -> Result<PgStore, StoreError> {
        if !schema_ok(&config.schema) {
            return Err(StoreError::Storage(format!(
                "schema name {:?}: lower-case letters, digits and _ only",
                config.schema
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("repairledger-pg")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Storage(format!("cannot start the PostgreSQL runtime: {e}"))
            })?;
        let handle = runtime.handle().clone();
        let cfg = config.clone();
        let (readers, writer, head) = wait(&handle, async move {
            // The schema may not exist yet: migrate on a connection without the search path.
            let (admin, connection) = tokio_postgres::connect(&cfg.url, NoTls).await.map_err(pg)?;
            tokio::spawn(connection);
            let mut admin = admin;
            let tx = admin.transaction().await.map_err(pg)?;
            tx.batch_execute(&migration(&cfg.schema))
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            let mut readers = Vec::new();
            for _ in 0..cfg.readers.max(1) {
                readers.push(Arc::new(connect(&cfg.url, &cfg.schema).await?));
            }
            let writer = connect(&cfg.url, &cfg.schema).await?;
            let head = read_head(&readers[0]).await?;
            Ok((readers, writer, head))
        })?;
        let (head_tx, head_rx) = watch::channel(head.position);
        let head_tx = Arc::new(head_tx);
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        handle.spawn(
            Writer {
                client: Some(writer),
                config: config.clone(),
                head_tx: head_tx.clone(),
            }
            .run(rx),
        );
        handle.spawn(listen(config.clone(), head_tx));
        Ok(PgStore {
            inner: Arc::new(Inner {
                runtime: Mutex::new(Some(runtime)),
                handle,
                readers,
                next_reader: AtomicUsize::new(0),
                tx,
                head_rx,
                url: config.url.clone(),
                schema: config.schema.clone(),
            }),
        })
    }

    fn reader(&self) -> Arc<Client> {
        let n = self.inner.next_reader.fetch_add(1, Ordering::Relaxed);
        self.inner.readers[n % self.inner.readers.len()].clone()
    }

    fn query<T: Send + 'static, F>(
        &self,
        f: impl FnOnce(Arc<Client>) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let client = self.reader();
        wait(&self.inner.handle, async move { f(client).await })
    }
}

/// The customer key vault's records, shared by every node (the vault itself lives in
/// repairledger-privacy; these are its storage, a table beside the log, which unlike the log
/// may change: erasure overwrites a key).
impl PgStore {
    pub fn key_get(&self, subject: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let subject = subject.to_string();
        self.query(move |c| async move {
            Ok(c.query_typed_opt(
                "SELECT record FROM rl_customer_keys WHERE subject = $1",
                &[(&subject, Type::TEXT)],
            )
            .await
            .map_err(pg)?
            .map(|r| r.get(0)))
        })
    }

    /// Writes `new` if the record is still `old` (`None`: absent); false when another won.
    pub fn key_compare_and_swap(
        &self,
        subject: &str,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let subject = subject.to_string();
        self.query(move |c| async move {
            let n = match old {
                None => c
                    .execute_typed(
                        "INSERT INTO rl_customer_keys (subject, record) VALUES ($1, $2)
                         ON CONFLICT (subject) DO NOTHING",
                        &[(&subject, Type::TEXT), (&new, Type::BYTEA)],
                    )
                    .await
                    .map_err(pg)?,
                Some(old) => c
                    .execute_typed(
                        "UPDATE rl_customer_keys SET record = $2 WHERE subject = $1 AND record = $3",
                        &[(&subject, Type::TEXT), (&new, Type::BYTEA), (&old, Type::BYTEA)],
                    )
                    .await
                    .map_err(pg)?,
            };
            Ok(n == 1)
        })
    }

    pub fn key_put(&self, subject: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let subject = subject.to_string();
        self.query(move |c| async move {
            c.execute_typed(
                "INSERT INTO rl_customer_keys (subject, record) VALUES ($1, $2)
                 ON CONFLICT (subject) DO UPDATE SET record = EXCLUDED.record",
                &[(&subject, Type::TEXT), (&value, Type::BYTEA)],
            )
            .await
            .map_err(pg)?;
            Ok(())
        })
    }

    pub fn key_all(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.query(|c| async move {
            Ok(c.query_typed(
                "SELECT subject, record FROM rl_customer_keys ORDER BY subject",
                &[],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    /// Takes the advisory lock `name` on a connection of its own and holds it until that
    /// connection closes (the node stops or loses the database): for work only one node may do
    /// at a time, such as delivering webhooks. Waits until the lock is free.
    pub async fn hold_lock(&self, name: &str) -> Result<LockGuard, StoreError> {
        let url = self.inner.url.clone();
        let name = format!("repairledger:{}:{name}", self.inner.schema);
        let (tx, rx) = oneshot::channel();
        self.inner.handle.spawn(async move {
            let taken = async {
                let (client, connection) =
                    tokio_postgres::connect(&url, NoTls).await.map_err(pg)?;
                let driver = tokio::spawn(connection);
                client
                    .execute("SELECT pg_advisory_lock(hashtext($1))", &[&name])
                    .await
                    .map_err(pg)?;
                Ok::<_, StoreError>((client, driver))
            }
            .await;
            let _ = tx.send(taken.map(|(client, driver)| LockGuard {
                _client: client,
                driver,
            }));
        });
        rx.await
            .map_err(|_| StoreError::Unavailable("the PostgreSQL store is shutting down".into()))?
    }
}

/// An advisory lock held by a connection; released when dropped or when the connection ends.
pub struct LockGuard {
    _client: Client,
    driver: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl LockGuard {
    /// Resolves when the lock's connection ends (the lock is then lost).
    pub async fn lost(&mut self) {
        let _ = (&mut self.driver).await;
    }
}

async fn read_head(c: &Client) -> Result<Head, StoreError> {
    let row = c
        .query_typed_one("SELECT position, hash FROM rl_head WHERE id = 1", &[])
        .await
        .map_err(pg)?;
    Ok(Head {
        position: row.get::<_, i64>(0) as u64,
        hash: row.get(1),
    })
}

use crate::plan::decode;

fn rows_to_events(rows: Vec<tokio_postgres::Row>) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter()
        .map(|r| decode(r.get::<_, i64>(0) as u64, r.get::<_, &[u8]>(1)))
        .collect()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Positions and versions are bigint: a caller's u64 beyond i64 asks for nothing that exists.
fn bound(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn events_between(
    c: &Client,
    first: u64,
    last: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = c
        .query_typed(
            "SELECT position, record FROM rl_events WHERE position BETWEEN $1 AND $2 ORDER BY position",
            &[(&bound(first), Type::INT8), (&bound(last), Type::INT8)],
        )
        .await
        .map_err(pg)?;
    let events = rows_to_events(rows)?;
    if events.len() as u64 != last + 1 - first {
        return Err(StoreError::Corrupt {
            position: first,
            reason: "a record of the commit is missing".into(),
        });
    }
    Ok(events)
}

#[async_trait]
impl EventStore for PgStore {
    async fn append(&self, commit: Commit) -> Result<AppendResult, StoreError> {
        crate::plan::submit(&self.inner.tx, commit, Msg::Append).await
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .tx
            .send(Msg::Import(events, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit_to: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.to_string();
        self.query(move |c| async move {
            let rows = c
                .query_typed(
                    "SELECT position, record FROM rl_events WHERE stream = $1 AND version >= $2
                     ORDER BY version LIMIT $3",
                    &[
                        (&stream, Type::TEXT),
                        (&bound(from_version.max(1)), Type::INT8),
                        (&limit(limit_to), Type::INT8),
                    ],
                )
                .await
                .map_err(pg)?;
            rows_to_events(rows)
        })
    }

    fn read_all(&self, after: u64, limit_to: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.query(move |c| async move {
            let rows = c
                .query_typed(
                    "SELECT position, record FROM rl_events WHERE position > $1
                     ORDER BY position LIMIT $2",
                    &[(&bound(after), Type::INT8), (&limit(limit_to), Type::INT8)],
                )
                .await
                .map_err(pg)?;
            rows_to_events(rows)
        })
    }

    fn idempotency(&self, key: &str) -> Result<Option<(String, AppendResult)>, StoreError> {
        let key = key.to_string();
        self.query(move |c| async move {
            let Some(row) = c
                .query_typed_opt(
                    "SELECT fingerprint, first_position, last_position FROM rl_idempotency
                     WHERE key = $1",
                    &[(&key, Type::TEXT)],
                )
                .await
                .map_err(pg)?
            else {
                return Ok(None);
            };
            let (first, last) = (row.get::<_, i64>(1) as u64, row.get::<_, i64>(2) as u64);
            Ok(Some((
                row.get(0),
                AppendResult {
                    events: events_between(&c, first, last).await?,
                    last_position: last,
                    duplicate: true,
                },
            )))
        })
    }

    fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let stream = stream.to_string();
        self.query(move |c| async move {
            let row = c
                .query_typed_one(
                    "SELECT max(version) FROM rl_events WHERE stream = $1",
                    &[(&stream, Type::TEXT)],
                )
                .await
                .map_err(pg)?;
            Ok(row.get::<_, Option<i64>>(0).map(|v| v as u64))
        })
    }

    fn head(&self) -> Result<Head, StoreError> {
        self.query(|c| async move { read_head(&c).await })
    }

    fn save_checkpoint(&self, name: &str, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let (name, cp) = (name.to_string(), checkpoint.clone());
        self.query(move |c| async move {
            c.execute_typed(
                "INSERT INTO rl_checkpoints (name, position, state) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position,
                     state = EXCLUDED.state, saved_at = now()
                 WHERE rl_checkpoints.position <= EXCLUDED.position",
                &[
                    (&name, Type::TEXT),
                    (&bound(cp.position), Type::INT8),
                    (&cp.state, Type::BYTEA),
                ],
            )
            .await
            .map_err(pg)?;
            Ok(())
        })
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        let name = name.to_string();
        self.query(move |c| async move {
            Ok(c.query_typed_opt(
                "SELECT position, state FROM rl_checkpoints WHERE name = $1",
                &[(&name, Type::TEXT)],
            )
            .await
            .map_err(pg)?
            .map(|row| Checkpoint {
                position: row.get::<_, i64>(0) as u64,
                state: row.get(1),
            }))
        })
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.query(|c| async move {
            let head = read_head(&c).await?;
            let end = head.position;
            let mut chain = plan::ChainCheck::new(head);
            let mut after = 0u64;
            'pages: loop {
                let rows = c
                    .query_typed(
                        "SELECT position, record FROM rl_events WHERE position > $1
                         AND position <= $2 ORDER BY position LIMIT 10000",
                        &[(&bound(after), Type::INT8), (&bound(end), Type::INT8)],
                    )
                    .await
                    .map_err(pg)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    let position = r.get::<_, i64>(0) as u64;
                    after = position;
                    if !chain.next(position, decode(position, r.get::<_, &[u8]>(1))) {
                        break 'pages;
                    }
                }
            }
            Ok(chain.report())
        })
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.head_rx.clone()
    }

    fn queue_depth(&self) -> usize {
        self.inner.tx.max_capacity() - self.inner.tx.capacity()
    }
}

/// Moves the subscribers' head forward (never back: notifications of several nodes interleave).
fn advance(head_tx: &watch::Sender<u64>, position: u64) {
    head_tx.send_if_modified(|h| {
        if position > *h {
            *h = position;
            true
        } else {
            false
        }
    });
}

/// Follows the appends of every node: LISTEN on the log's channel, and the head read again
/// after each (re)connect so nothing committed while not listening is missed.
async fn listen(config: PgStoreConfig, head_tx: Arc<watch::Sender<u64>>) {
    let channel = format!("rl_events_{}", config.schema);
    loop {
        match tokio_postgres::connect(&config.url, NoTls).await {
            Ok((client, mut connection)) => {
                let (ntx, mut nrx) = mpsc::unbounded_channel::<u64>();
                let driver = tokio::spawn(async move {
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                if let Ok(p) = n.payload().parse() {
                                    let _ = ntx.send(p);
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "PostgreSQL listener connection lost");
                                break;
                            }
                        }
                    }
                });
                let listening = client
                    .batch_execute(&format!(
                        "SET search_path TO {}; LISTEN {channel}",
                        config.schema
                    ))
                    .await;
                if listening.is_ok() {
                    if let Ok(head) = read_head(&client).await {
                        advance(&head_tx, head.position);
                    }
                    while let Some(p) = nrx.recv().await {
                        advance(&head_tx, p);
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect the PostgreSQL listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// This node's single writer: one transaction per batch of queued commits.
struct Writer {
    /// `None` after the connection broke, until it is made again.
    client: Option<Client>,
    config: PgStoreConfig,
    head_tx: Arc<watch::Sender<u64>>,
}

/// Stream versions and idempotency keys of a batch, read under the head lock.
struct Prefetched {
    versions: HashMap<String, u64>,
    keys: HashMap<String, IdemRecord>,
}

impl Known for Prefetched {
    fn idempotency(&self, key: &str) -> Result<Option<IdemRecord>, StoreError> {
        Ok(self.keys.get(key).cloned())
    }

    fn version(&self, stream: &str) -> Result<u64, StoreError> {
        Ok(self.versions.get(stream).copied().unwrap_or(0))
    }
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(first) = rx.recv().await {
            let mut batch = Vec::new();
            let mut import = None;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append(q) => batch.push(*q),
                    Msg::Import(events, reply) => {
                        import = Some((events, reply));
                        break;
                    }
                }
                if batch.len() < self.config.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.write(batch).await;
            }
            if let Some((events, reply)) = import {
                let channel = format!("rl_events_{}", self.config.schema);
                let result = match self.client().await {
                    Ok(c) => import_events(c, events, &channel).await,
                    Err(e) => Err(e),
                };
                self.after(&result.as_ref().map(|h| h.position));
                let _ = reply.send(result);
            }
        }
    }

    async fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            self.client = Some(connect(&self.config.url, &self.config.schema).await?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// After a transaction: tell this node's subscribers, or drop a broken connection.
    fn after(&mut self, result: &Result<u64, &StoreError>) {
        match result {
            Ok(position) => advance(&self.head_tx, *position),
            Err(e) => {
                tracing::error!(error = %e, "append batch failed; nothing acknowledged");
                if self.client.as_ref().is_some_and(|c| c.is_closed()) {
                    self.client = None;
                }
            }
        }
    }

    async fn write(&mut self, batch: Vec<Queued>) {
        let channel = format!("rl_events_{}", self.config.schema);
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => {
                for q in batch {
                    let _ = q.reply.send(Err(StoreError::Unavailable(e.to_string())));
                }
                return;
            }
        };
        // The replies leave the batch before it is planned, so a failed transaction can still
        // answer every caller.
        let mut replies = Vec::with_capacity(batch.len());
        let mut commits = Vec::with_capacity(batch.len());
        for q in batch {
            let (tx, rx) = oneshot::channel();
            replies.push((q.reply, rx));
            commits.push(Queued {
                commit: q.commit,
                payloads: q.payloads,
                reply: tx,
            });
        }
        let result = write_batch(client, commits, &channel).await;
        self.after(&result.as_ref().map(|h| h.position));
        for (reply, planned) in replies {
            let answer = match &result {
                Ok(_) => planned.await.unwrap_or_else(|_| {
                    Err(StoreError::Storage("a commit went unanswered".into()))
                }),
                Err(e) => Err(StoreError::Storage(e.to_string())),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Locks the head row for the rest of the transaction (the order of all nodes' batches) and
/// reads it.
async fn lock_head(tx: &Client) -> Result<Head, StoreError> {
    let row = tx
        .query_typed_one(
            "SELECT position, hash FROM rl_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(pg)?;
    Ok(Head {
        position: row.get::<_, i64>(0) as u64,
        hash: row.get(1),
    })
}

/// Moves the head and tells every node's listener, both taking effect at commit.
async fn move_head(tx: &Client, head: &Head, channel: &str) -> Result<(), StoreError> {
    let (at, position) = (bound(head.position), head.position.to_string());
    let update: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
        [(&at, Type::INT8), (&head.hash, Type::TEXT)];
    let notify: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
        [(&channel, Type::TEXT), (&position, Type::TEXT)];
    tokio::try_join!(
        biased;
        tx.execute_typed("UPDATE rl_head SET position = $1, hash = $2 WHERE id = 1", &update),
        tx.execute_typed("SELECT pg_notify($1, $2)", &notify)
    )
    .map(|_| ())
    .map_err(pg)
}

/// The versions of `streams` that have events (read after the head lock, so they are current).
async fn versions_of(
    tx: &Client,
    mut streams: Vec<&str>,
) -> Result<HashMap<String, u64>, StoreError> {
    streams.sort_unstable();
    streams.dedup();
    Ok(tx
        .query_typed(
            "SELECT stream, max(version) FROM rl_events WHERE stream = ANY($1) GROUP BY stream",
            &[(&streams, Type::TEXT_ARRAY)],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect())
}

/// The idempotency records of `keys` that were used before.
async fn keys_of(tx: &Client, keys: Vec<&str>) -> Result<HashMap<String, IdemRecord>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(tx
        .query_typed(
            "SELECT key, fingerprint, first_position, last_position FROM rl_idempotency
             WHERE key = ANY($1)",
            &[(&keys, Type::TEXT_ARRAY)],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                IdemRecord {
                    fingerprint: r.get(1),
                    first: r.get::<_, i64>(2) as u64,
                    last: r.get::<_, i64>(3) as u64,
                },
            )
        })
        .collect())
}

/// One transaction: lock the head, read what the batch needs to know, plan, insert, move the
/// head, notify, commit. Answers each commit's outcome through its reply once committed.
async fn write_batch(
    client: &mut Client,
    batch: Vec<Queued>,
    channel: &str,
) -> Result<Head, StoreError> {
    let written = write_in_transaction(client, batch, channel).await;
    if written.is_err() {
        // Whatever failed, the transaction ends here (a warning if COMMIT already ended it).
        let _ = client.batch_execute("ROLLBACK").await;
    }
    written
}

/// The transaction of [`write_batch`] in two round trips: BEGIN, the lock and the reads are
/// sent together, then (once planned) the writes and COMMIT. A write that fails aborts the
/// transaction, and the COMMIT behind it then rolls back.
async fn write_in_transaction(
    tx: &Client,
    batch: Vec<Queued>,
    channel: &str,
) -> Result<Head, StoreError> {
    let streams: Vec<&str> = batch
        .iter()
        .flat_map(|q| q.commit.streams.iter().map(|s| s.stream.as_str()))
        .collect();
    let keys: Vec<&str> = batch
        .iter()
        .filter_map(|q| q.commit.idempotency.as_ref().map(|i| i.key.as_str()))
        .collect();
    // Pipelined, in this order on the one connection: the reads start once the lock is held,
    // each with a snapshot of its own, so they see every batch committed before it.
    let ((), head, versions, keys) = tokio::try_join!(
        biased;
        async { tx.batch_execute("BEGIN").await.map_err(pg) },
        lock_head(tx),
        versions_of(tx, streams),
        keys_of(tx, keys)
    )?;
    let known = Prefetched { versions, keys };
    let (outcomes, replies, new_head) = plan::plan(batch, &head, &known);
    let moved = new_head.position > head.position;
    tokio::try_join!(
        biased;
        insert(tx, &outcomes, &[]),
        async {
            if moved {
                move_head(tx, &new_head, channel).await
            } else {
                Ok(())
            }
        },
        async { tx.batch_execute("COMMIT").await.map_err(pg) }
    )?;
    // Duplicates are answered with their first attempt's events, read once the lock is gone.
    let answers: Vec<Answer> = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Rejected(e) => Answer::Ready(Err(e)),
            Outcome::Accepted { events, .. } => {
                let last_position = events.last().map(|e| e.position).unwrap_or(0);
                Answer::Ready(Ok(AppendResult {
                    events,
                    last_position,
                    duplicate: false,
                }))
            }
            Outcome::Duplicate { first, last } => Answer::Duplicate(first, last),
        })
        .collect();
    for (reply, answer) in replies.into_iter().zip(answers) {
        let answer = match answer {
            Answer::Ready(a) => a,
            Answer::Duplicate(first, last) => {
                events_between(tx, first, last)
                    .await
                    .map(|events| AppendResult {
                        events,
                        last_position: last,
                        duplicate: true,
                    })
            }
        };
        let _ = reply.send(answer);
    }
    Ok(new_head)
}

/// A commit's answer: known at once, or (a duplicate) the events of an earlier commit.
enum Answer {
    Ready(Result<AppendResult, StoreError>),
    Duplicate(u64, u64),
}

/// Inserts the accepted events and their idempotency keys (plus `extra_keys`), one statement
/// each for the whole batch. An appended key is new (checked under the head lock); an imported
/// one may continue a commit the previous import batch began, so its range is widened.
async fn insert(
    tx: &Client,
    outcomes: &[Outcome],
    extra_keys: &[(String, IdemRecord)],
) -> Result<(), StoreError> {
    let (mut positions, mut streams, mut versions, mut records) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut keys: Vec<&(String, IdemRecord)> = extra_keys.iter().collect();
    for o in outcomes {
        if let Outcome::Accepted {
            events,
            encoded,
            idem,
        } = o
        {
            for (e, bytes) in events.iter().zip(encoded) {
                positions.push(bound(e.position));
                streams.push(e.stream.as_str());
                versions.push(bound(e.version));
                records.push(bytes.as_slice());
            }
            keys.extend(idem.as_ref());
        }
    }
    let events = async {
        if positions.is_empty() {
            return Ok(());
        }
        tx.execute_typed(
            "INSERT INTO rl_events (position, stream, version, record)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[])",
            &[
                (&positions, Type::INT8_ARRAY),
                (&streams, Type::TEXT_ARRAY),
                (&versions, Type::INT8_ARRAY),
                (&records, Type::BYTEA_ARRAY),
            ],
        )
        .await
        .map(|_| ())
        .map_err(pg)
    };
    let idempotency = async {
        if keys.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        let prints: Vec<&str> = keys.iter().map(|(_, r)| r.fingerprint.as_str()).collect();
        let firsts: Vec<i64> = keys.iter().map(|(_, r)| bound(r.first)).collect();
        let lasts: Vec<i64> = keys.iter().map(|(_, r)| bound(r.last)).collect();
        tx.execute_typed(
            "INSERT INTO rl_idempotency (key, fingerprint, first_position, last_position)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
             ON CONFLICT (key) DO UPDATE SET
                 first_position = LEAST(rl_idempotency.first_position, EXCLUDED.first_position),
                 last_position = GREATEST(rl_idempotency.last_position, EXCLUDED.last_position)",
            &[
                (&names, Type::TEXT_ARRAY),
                (&prints, Type::TEXT_ARRAY),
                (&firsts, Type::INT8_ARRAY),
                (&lasts, Type::INT8_ARRAY),
            ],
        )
        .await
        .map(|_| ())
        .map_err(pg)
    };
    tokio::try_join!(biased; events, idempotency).map(|_| ())
}

/// An import: checked against the head under its lock, written in one transaction.
async fn import_events(
    client: &mut Client,
    events: Vec<RecordedEvent>,
    channel: &str,
) -> Result<Head, StoreError> {
    let imported = import_in_transaction(client, events, channel).await;
    if imported.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    imported
}

async fn import_in_transaction(
    tx: &Client,
    events: Vec<RecordedEvent>,
    channel: &str,
) -> Result<Head, StoreError> {
    tx.batch_execute("BEGIN").await.map_err(pg)?;
    let head = lock_head(tx).await?;
    let versions = versions_of(tx, events.iter().map(|e| e.stream.as_str()).collect()).await?;
    let known = Prefetched {
        versions,
        keys: HashMap::new(),
    };
    let (new_head, keys) = plan::check_import(&head, &events, &known)?;
    if events.is_empty() {
        tx.batch_execute("ROLLBACK").await.map_err(pg)?;
        return Ok(head);
    }
    let encoded = events.iter().map(RecordedEvent::stored_bytes).collect();
    let outcome = [Outcome::Accepted {
        events,
        encoded,
        idem: None,
    }];
    insert(tx, &outcome, &keys).await?;
    move_head(tx, &new_head, channel).await?;
    tx.batch_execute("COMMIT").await.map_err(pg)?;
    Ok(new_head)
}
