//! `repairledger`: serve the API, verify the log, rebuild projections, print the OpenAPI document.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use clap::{Parser, Subcommand};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use repairledger_api::{AppState, Directory, Limits, SystemClock};
use repairledger_domain::access::{TokenCommand, TokenEvent, TokenState};
use repairledger_domain::Policy;
use repairledger_privacy::{KeyRing, Vault};
use repairledger_store::{EventStore, PgStore, PgStoreConfig, SledStore, SledStoreConfig};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(
    name = "repairledger",
    version,
    about = "Event-sourced return-for-repair workflow engine"
)]
struct Cli {
    /// Configuration file (TOML). Every key can also be set as REPAIRLEDGER_<KEY>.
    #[arg(long, global = true, env = "REPAIRLEDGER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP API (on the embedded sled log unless `store = "postgres"`).
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        bind: Option<String>,
        /// Directory of the sled event log.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Walk the hash chain and report the first broken position (exit code 1 if broken).
    Verify {
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Keep the verified prefix of a damaged sled log up to POSITION and remove the rest (the
    /// server must be stopped). Only on an operator's decision, after `verify` named the damage:
    /// every removed record, and what the log's head and the head record claimed, is written to
    /// the output file first. Projection checkpoints are removed so they are rebuilt.
    Repair {
        #[arg(long)]
        data: Option<PathBuf>,
        /// The last position to keep.
        #[arg(long)]
        truncate_after: u64,
        /// Where to write what was removed (JSON Lines).
        #[arg(long)]
        output: PathBuf,
    },
    /// Recompute every projection from position 0 and compare with the live checkpoint.
    Rebuild {
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Write the log (or a range) to standard output: JSON Lines, or CloudEvents JSON Lines.
    Export {
        #[arg(long)]
        data: Option<PathBuf>,
        /// Export events after this position.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Export events up to and including this position.
        #[arg(long)]
        until: Option<u64>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
    /// Read a JSON Lines export into a log: the chain must continue exactly (same hashes).
    Import {
        #[arg(long)]
        data: Option<PathBuf>,
        /// The export file; standard input when absent.
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Print the OpenAPI document (the content of api-spec/openapi.json).
    Openapi,
    /// API tokens, recorded in the log (the server must be stopped: sled has one writer; while
    /// it runs, use POST /v1/tokens).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The master keys that protect customers' personal data.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Issue a token to a person of the people file; prints it once.
    Issue {
        #[arg(long)]
        data: Option<PathBuf>,
        /// The person the token acts as.
        #[arg(long)]
        person: String,
        /// Days until it expires.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Who grants it, for the record.
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Revoke a token by its id.
    Revoke {
        #[arg(long)]
        data: Option<PathBuf>,
        token_id: String,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// List issued tokens (no hashes).
    List {
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Print a new key file with one random master key (redirect it to a file kept apart).
    New {
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Print a random master key, base64, to add to a key file when rotating.
    NewKey,
    /// Open the vault with the configured keys (rewrapping under the active one) and print how
    /// many customer keys each master key wraps.
    Status,
    /// Copy the customer key records of a sled vault directory into the configured vault (the
    /// PostgreSQL one after a move); records already there are kept. Same master key file.
    Import {
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// One envelope per line, exactly as hashed; `import` reads it back.
    Jsonl,
    /// CloudEvents 1.0 structured JSON, one per line (export only).
    Cloudevents,
}

/// Settings, merged from defaults, the config file, environment and flags (in that order).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    bind: String,
    data: PathBuf,
    /// The people file: tokens mapped to person and role.
    people: PathBuf,
    /// The policy file; the built-in default policy when absent.
    policy: Option<PathBuf>,
    /// Largest request body in bytes.
    max_body_bytes: usize,
    /// How many days back a command's occurred_at may lie.
    max_backdate_days: i64,
    /// Log lines as `text` (for people) or `json` (for log shippers).
    log_format: String,
    /// The key vault: customers' data keys, kept apart from the log (which is append-only).
    /// Default: the data directory's name with `-vault` appended, beside it.
    vault: Option<PathBuf>,
    /// The master key file (`active = "id"`, `[keys] id = "<base64>"`).
    pii_keys_file: Option<PathBuf>,
    /// One master key, base64 (REPAIRLEDGER_PII_KEY), instead of a file.
    pii_key: Option<String>,
    /// Requests a second per token; 0 turns rate limiting off.
    rate_per_second: u32,
    /// Requests a token may make at once above that rate.
    rate_burst: u32,
    /// The longest validity of an issued token, in days.
    token_max_days: i64,
    /// Where the log lives: `sled` (embedded, one node; the default) or `postgres` (several
    /// API nodes sharing one database; `postgres_url` names it).
    store: String,
    /// The PostgreSQL connection string (REPAIRLEDGER_POSTGRES_URL), e.g.
    /// `postgres://repairledger@db.internal/repairledger` or `host=127.0.0.1 user=postgres`.
    postgres_url: Option<String>,
    /// The schema of the log's tables in that database.
    postgres_schema: String,
    /// HTTP worker threads on PostgreSQL, where a read blocks its worker for a round trip.
    postgres_http_workers: usize,
    /// How long a node trusts a customer key it read from the shared vault table, in
    /// milliseconds: an erasure made on another node is honoured here within this time.
    vault_cache_ms: u64,
    /// After the disk failed a write, how often the server tries it again (a 1 MiB write and
    /// an fsync beside the log) and, once it works, reopens the log so appends resume.
    disk_retry_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            data: PathBuf::from("data"),
            people: PathBuf::from("fixtures/dev-people.toml"),
            policy: None,
            max_body_bytes: 64 * 1024,
            max_backdate_days: 30,
            log_format: "text".into(),
            vault: None,
            pii_keys_file: None,
            pii_key: None,
            rate_per_second: 100,
            rate_burst: 200,
            token_max_days: 400,
            store: "sled".into(),
            postgres_url: None,
            postgres_schema: "repairledger".into(),
            postgres_http_workers: 16,
            vault_cache_ms: 1000,
            disk_retry_seconds: 5,
        }
    }
}

/// Makes the calling thread yield to the request threads (nice 10; Linux only, where a
/// thread's niceness is its own).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

fn settings(cli: &Cli) -> Result<Settings, String> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = &cli.config {
        if !path.exists() {
            return Err(format!("config file {} does not exist", path.display()));
        }
        fig = fig.merge(Toml::file(path));
    }
    fig = fig.merge(Env::prefixed("REPAIRLEDGER_").ignore(&["config"]));
    let s: Settings = fig
        .extract()
        .map_err(|e| format!("invalid configuration: {e}"))?;
    s.validate()?;
    Ok(s)
}

impl Settings {
    /// Checks what figment cannot: each error names the setting and what it accepts.
    fn validate(&self) -> Result<(), String> {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "invalid configuration: bind {:?} is not an address such as 127.0.0.1:8080",
                self.bind
            ));
        }
        match (self.store.as_str(), &self.postgres_url) {
            ("sled", _) => {}
            // Each node would make a development key of its own, and none could open the
            // customer keys another node wrapped.
            ("postgres", Some(_)) if self.pii_keys_file.is_none() && self.pii_key.is_none() => {
                return Err(
                    "invalid configuration: store = \"postgres\" needs pii_keys_file or pii_key, the same master keys on every node"
                        .into(),
                )
            }
            ("postgres", Some(_)) => {}
            ("postgres", None) => {
                return Err(
                    "invalid configuration: store = \"postgres\" needs postgres_url (REPAIRLEDGER_POSTGRES_URL)"
                        .into(),
                )
            }
            (other, _) => {
                return Err(format!(
                    "invalid configuration: store {other:?} is not \"sled\" or \"postgres\""
                ))
            }
        }
        if !(1..=1024).contains(&self.postgres_http_workers) {
            return Err(format!(
                "invalid configuration: postgres_http_workers {} is not within 1..=1024",
                self.postgres_http_workers
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(format!(
                "invalid configuration: max_body_bytes {} is not within 1024..=67108864",
                self.max_body_bytes
            ));
        }
        if !(0..=3650).contains(&self.max_backdate_days) {
            return Err(format!(
                "invalid configuration: max_backdate_days {} is not within 0..=3650",
                self.max_backdate_days
            ));
        }
        if self.pii_keys_file.is_some() && self.pii_key.is_some() {
            return Err(
                "invalid configuration: pii_keys_file and pii_key exclude each other".into(),
            );
        }
        if !(1..=3650).contains(&self.token_max_days) {
            return Err(format!(
                "invalid configuration: token_max_days {} is not within 1..=3650",
                self.token_max_days
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "invalid configuration: log_format {:?} is text or json",
                self.log_format
            ));
        }
        Ok(())
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if format == "json" {
        // One JSON object per line, with the request's span (and its request_id) in it.
        builder.json().with_current_span(true).init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// The master keys: a file, one key from the environment, or (development) a key file created
/// in the vault directory on first start, with a warning.
impl Settings {
    fn vault_dir(&self) -> PathBuf {
        self.vault.clone().unwrap_or_else(|| {
            let mut name = self.data.file_name().unwrap_or_default().to_os_string();
            name.push("-vault");
            self.data.with_file_name(name)
        })
    }
}

fn key_ring(s: &Settings) -> Result<KeyRing, String> {
    if let Some(key) = &s.pii_key {
        return KeyRing::single("env", key).map_err(|e| format!("pii_key: {e}"));
    }
    let path = match &s.pii_keys_file {
        Some(p) => p.clone(),
        None => {
            let dir = s.vault_dir();
            let p = dir.join("dev-master-keys.toml");
            if !p.exists() {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                write_private(&p, &KeyRing::new_file("dev"))?;
            }
            tracing::warn!(path = %p.display(), "no pii_keys_file configured: using a development master key stored beside the vault; configure pii_keys_file (kept apart from the data) in production");
            p
        }
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    KeyRing::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // The key file must survive a power cut with its directory entry (found by the power-loss
    // test: an unsynced key file came back empty and the server would not start).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// The vault of the configured backend: a sled database beside the log, or (PostgreSQL) a table
/// every node shares, so a customer key made on one node opens on all.
fn open_vault(s: &Settings, log: Option<&Log>) -> Result<Vault, String> {
    let ring = key_ring(s)?;
    if let Some(Log::Postgres(pg)) = log {
        return Vault::with_records(
            Box::new(PgKeys(pg.clone())),
            ring,
            Some(std::time::Duration::from_millis(s.vault_cache_ms)),
        )
        .map_err(|e| format!("cannot open the key vault in PostgreSQL: {e}"));
    }
    let dir = s.vault_dir();
    Vault::open(&dir, ring)
        .map_err(|e| format!("cannot open the key vault at {}: {e}", dir.display()))
}

/// The vault's records in the PostgreSQL database of the log.
struct PgKeys(PgStore);

fn vault_storage(e: repairledger_store::StoreError) -> repairledger_privacy::VaultError {
    repairledger_privacy::VaultError::Storage(e.to_string())
}

impl repairledger_privacy::KeyRecords for PgKeys {
    fn get(&self, subject: &str) -> Result<Option<Vec<u8>>, repairledger_privacy::VaultError> {
        self.0.key_get(subject).map_err(vault_storage)
    }

    fn compare_and_swap(
        &self,
        subject: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, repairledger_privacy::VaultError> {
        self.0
            .key_compare_and_swap(subject, old.map(<[u8]>::to_vec), new.to_vec())
            .map_err(vault_storage)
    }

    fn put(&self, subject: &str, value: &[u8]) -> Result<(), repairledger_privacy::VaultError> {
        self.0
            .key_put(subject, value.to_vec())
            .map_err(vault_storage)
    }

    fn all(&self) -> Result<Vec<(String, Vec<u8>)>, repairledger_privacy::VaultError> {
        self.0.key_all().map_err(vault_storage)
    }
}

/// Keeps this node's projections following the appends of every node (PostgreSQL: the others
/// write too), so reads without `min_position` are at most a moment behind.
async fn follow(state: actix_web::web::Data<repairledger_api::AppState>) {
    let mut head = state.store.subscribe();
    while head.changed().await.is_ok() {
        let s = state.clone();
        let caught =
            tokio::task::spawn_blocking(move || s.projector.catch_up(s.store.as_ref())).await;
        if let Ok(Err(e)) = caught {
            tracing::warn!(error = %e, "projections could not follow the log");
        }
    }
}

/// Webhook deliveries on one node at a time: the node holding the advisory lock delivers; if it
/// stops or loses the database, another takes over (deliveries are at least once either way).
async fn deliver_as_leader(state: actix_web::web::Data<repairledger_api::AppState>, pg: PgStore) {
    loop {
        match pg.hold_lock("outbox").await {
            Ok(mut lock) => {
                tracing::info!("this node delivers the webhooks");
                tokio::select! {
                    _ = repairledger_api::outbox::run(state.clone(), std::time::Duration::from_secs(1)) => return,
                    _ = lock.lost() => tracing::warn!("lost the webhook delivery lock; trying to take it again"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot take the webhook delivery lock"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

fn read_directory(s: &Settings) -> Result<Directory, String> {
    let people = std::fs::read_to_string(&s.people)
        .map_err(|e| format!("cannot read the people file {}: {e}", s.people.display()))?;
    Directory::parse(&people).map_err(|e| format!("{}: {e}", s.people.display()))
}

/// Appends a token event as the operator at the console.
async fn token_event(
    store: &dyn EventStore,
    token_id: &str,
    by: &str,
    command: &TokenCommand,
) -> Result<u64, String> {
    use repairledger_domain::Aggregate;
    use repairledger_store::{Commit, EventActor, ExpectedVersion, NewEvent, StreamAppend};
    let stream = TokenState::stream(token_id);
    let recorded = store
        .read_stream(&stream, 1, usize::MAX)
        .map_err(|e| e.to_string())?;
    let version = recorded.last().map(|e| e.version).unwrap_or(0);
    let events = recorded
        .iter()
        .map(repairledger_projections::codec::decode::<TokenEvent>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let now = chrono::Utc::now();
    let new = repairledger_domain::access::rules(
        &TokenState::fold(token_id, &events),
        token_id,
        command,
        now,
    )
    .map_err(|e| e.to_string())?;
    let r = store
        .append(Commit {
            streams: vec![StreamAppend {
                stream,
                expected: ExpectedVersion::Exact(version),
                events: new
                    .iter()
                    .map(|e| {
                        let (event_type, payload) = repairledger_projections::codec::encode(e);
                        NewEvent {
                            schema: repairledger_projections::codec::current_schema(&event_type),
                            event_type,
                            payload,
                            actor: EventActor {
                                person_id: by.to_string(),
                                role: "operator".into(),
                            },
                            occurred_at: now,
                            policy_version: 0,
                            correlation_id: None,
                            causation_id: None,
                        }
                    })
                    .collect(),
            }],
            idempotency: None,
            recorded_at: now,
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(r.last_position)
}

async fn token(s: &Settings, action: TokenAction) -> Result<i32, String> {
    match action {
        TokenAction::Issue {
            data,
            person,
            days,
            by,
        } => {
            if days == 0 || i64::from(days) > s.token_max_days {
                return Err(format!("--days must be 1..={}", s.token_max_days));
            }
            let directory = read_directory(s)?;
            if directory.person(&person).is_none() {
                return Err(format!(
                    "{person} is not in the people file {}",
                    s.people.display()
                ));
            }
            let store = open_store(s, &data.unwrap_or(s.data.clone()))?;
            let (token_id, token) = repairledger_api::auth::new_token();
            let expires_at = chrono::Utc::now() + chrono::Duration::days(i64::from(days));
            let result = token_event(
                &*store,
                &token_id,
                &by,
                &TokenCommand::Issue {
                    person_id: person.clone(),
                    sha256: hex::encode(repairledger_api::auth::token_hash(&token)),
                    expires_at,
                },
            )
            .await;
            store.shutdown().await;
            let position = result?;
            eprintln!("issued {token_id} to {person}, expires {expires_at}, at log position {position}; the token is shown once:");
            println!("{token}");
            Ok(0)
        }
        TokenAction::Revoke {
            data,
            token_id,
            reason,
            by,
        } => {
            let store = open_store(s, &data.unwrap_or(s.data.clone()))?;
            let result =
                token_event(&*store, &token_id, &by, &TokenCommand::Revoke { reason }).await;
            store.shutdown().await;
            println!("revoked {token_id} at log position {}", result?);
            Ok(0)
        }
        TokenAction::List { data } => {
            let store = open_store(s, &data.unwrap_or(s.data.clone()))?;
            let model =
                repairledger_projections::rebuild(&*store, |_| {}).map_err(|e| e.to_string());
            store.shutdown().await;
            let now = chrono::Utc::now();
            for t in model?.tokens.values() {
                let status = match (t.revoked_at, now >= t.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, true) => "expired",
                    (None, false) => "active",
                };
                println!(
                    "{}\t{}\t{status}\texpires {}\tissued by {}",
                    t.token_id, t.person_id, t.expires_at, t.issued_by
                );
            }
            Ok(0)
        }
    }
}

/// The configured log: sled in `data`, or the PostgreSQL database of the settings.
enum Log {
    Sled(SledStore),
    Postgres(PgStore),
}

impl Log {
    fn open(s: &Settings, data: &std::path::Path, check_tail: bool) -> Result<Log, String> {
        match (s.store.as_str(), &s.postgres_url) {
            ("postgres", Some(url)) => {
                PgStore::open(PgStoreConfig::new(url).schema(s.postgres_schema.clone()))
                    .map(Log::Postgres)
                    .map_err(|e| format!("cannot open the event log in PostgreSQL: {e}"))
            }
            _ => {
                let mut config = SledStoreConfig::new(data.to_path_buf());
                config.check_tail = check_tail;
                SledStore::open(config)
                    .map(Log::Sled)
                    .map_err(|e| format!("cannot open the event log at {}: {e}", data.display()))
            }
        }
    }

    fn shared(&self) -> Arc<dyn EventStore> {
        match self {
            Log::Sled(s) => Arc::new(s.clone()),
            Log::Postgres(p) => Arc::new(p.clone()),
        }
    }

    /// Drains the writer (sled); a PostgreSQL commit is durable once acknowledged.
    async fn shutdown(self) {
        if let Log::Sled(s) = self {
            s.shutdown().await;
        }
    }
}

impl std::ops::Deref for Log {
    type Target = dyn EventStore;
    fn deref(&self) -> &Self::Target {
        match self {
            Log::Sled(s) => s,
            Log::Postgres(p) => p,
        }
    }
}

fn open_store(s: &Settings, data: &std::path::Path) -> Result<Log, String> {
    Log::open(s, data, true)
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            2
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32, String> {
    let mut s = settings(&cli)?;
    init_logging(&s.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    match cli.command {
        Command::Openapi => {
            print!("{}", repairledger_api::openapi::document_json());
            Ok(0)
        }
        Command::Token { action } => rt.block_on(token(&s, action)),
        Command::Keys { action } => match action {
            KeysAction::New { id } => {
                print!("{}", KeyRing::new_file(&id));
                Ok(0)
            }
            KeysAction::NewKey => {
                println!("{}", KeyRing::new_key_base64());
                Ok(0)
            }
            KeysAction::Status => {
                let log = match s.store.as_str() {
                    "postgres" => Some(open_store(&s, &s.data)?),
                    _ => None,
                };
                let vault = open_vault(&s, log.as_ref())?;
                let stats = vault.stats().map_err(|e| e.to_string())?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&stats).expect("stats serialize")
                );
                Ok(0)
            }
            KeysAction::Import { from } => {
                // Moving to PostgreSQL: the log goes by export/import, the customer keys by this.
                let source = Vault::open(&from, key_ring(&s)?)
                    .map_err(|e| format!("cannot open the key vault at {}: {e}", from.display()))?;
                let log = match s.store.as_str() {
                    "postgres" => Some(open_store(&s, &s.data)?),
                    _ => None,
                };
                let target = open_vault(&s, log.as_ref())?;
                let records = source.export_records().map_err(|e| e.to_string())?;
                let total = records.len();
                let added = target.import_records(records).map_err(|e| e.to_string())?;
                println!("{added} of {total} customer key records added ({} already there)", total - added);
                Ok(0)
            }
        },
        Command::Serve { bind, data } => {
            if let Some(b) = bind {
                s.bind = b;
            }
            if let Some(d) = data {
                s.data = d;
            }
            rt.block_on(serve(s))
        }
        Command::Verify { data } => rt.block_on(async {
            let data = data.unwrap_or(s.data.clone());
            let store = Log::open(&s, &data, false)?;
            let r = store.verify().map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&r).expect("report serializes"));
            store.shutdown().await;
            Ok(if r.first_broken.is_some() { 1 } else { 0 })
        }),
        Command::Export {
            data,
            after,
            until,
            format,
        } => rt.block_on(async {
            let store = open_store(&s, &data.unwrap_or(s.data.clone()))?;
            let result = export(&*store, after, until, format);
            store.shutdown().await;
            result.map(|()| 0)
        }),
        Command::Repair {
            data,
            truncate_after,
            output,
        } => {
            if s.store == "postgres" {
                return Err("repair works on the sled log; PostgreSQL keeps its own WAL".into());
            }
            let data = data.unwrap_or(s.data.clone());
            let report = repairledger_store::repair_truncate_after(&data, truncate_after, &output)
                .map_err(|e| e.to_string())?;
            // The projections' checkpoint of the longer history would be refused at start-up:
            // drop it so they are rebuilt (webhook cursors and secrets beside it stay).
            let checkpoint = data
                .join("checkpoints")
                .join(hex::encode(repairledger_projections::CHECKPOINT));
            if checkpoint.exists() {
                std::fs::remove_file(&checkpoint)
                    .map_err(|e| format!("{}: {e}", checkpoint.display()))?;
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("report serializes")
            );
            Ok(0)
        }
        Command::Import { data, input } => rt.block_on(async {
            let store = open_store(&s, &data.unwrap_or(s.data.clone()))?;
            let result = import(&*store, input).await;
            store.shutdown().await;
            result.map(|()| 0)
        }),
        Command::Rebuild { data } => rt.block_on(async {
            let store = open_store(&s, &data.unwrap_or(s.data.clone()))?;
            let head = store.head().map_err(|e| e.to_string())?.position;
            let bar = progress(head, "rebuilt");
            let rebuilt = repairledger_projections::rebuild(&*store, |p| bar.set_position(p))
                .map_err(|e| e.to_string())?;
            bar.finish();
            let live = repairledger_projections::Projector::load(&*store)
                .map_err(|e| e.to_string())?;
            let same = live.read(|m| serde_json::to_vec(m).ok() == serde_json::to_vec(&rebuilt).ok());
            println!(
                "rebuilt {} units, {} plans at position {}; identical to the live projections: {same}",
                rebuilt.units.len(),
                rebuilt.plans.len(),
                rebuilt.position
            );
            store.shutdown().await;
            Ok(if same { 0 } else { 1 })
        }),
    }
}

fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    bar.set_message(what);
    bar
}

fn export(
    store: &dyn EventStore,
    after: u64,
    until: Option<u64>,
    format: ExportFormat,
) -> Result<(), String> {
    use std::io::Write;
    let until = until.unwrap_or(u64::MAX);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut cursor = after;
    loop {
        let page = store.read_all(cursor, 1024).map_err(|e| e.to_string())?;
        if page.is_empty() {
            break;
        }
        for e in page.iter().take_while(|e| e.position <= until) {
            let line = match format {
                ExportFormat::Jsonl => repairledger_store::export::to_json_line(e),
                ExportFormat::Cloudevents => {
                    repairledger_store::export::to_cloud_event(e).to_string()
                }
            };
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
        cursor = page.last().map(|e| e.position).unwrap_or(cursor);
        if cursor >= until {
            break;
        }
    }
    out.flush().map_err(|e| e.to_string())
}

async fn import(store: &dyn EventStore, input: Option<PathBuf>) -> Result<(), String> {
    use std::io::BufRead;
    let reader: Box<dyn BufRead> = match &input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let bar = progress(0, "imported");
    let mut batch = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let e = repairledger_store::export::from_json_line(&line)
            .map_err(|e| format!("line {}: {e}", n + 1))?;
        batch.push(e);
        if batch.len() == 1024 {
            let head = store
                .import(std::mem::take(&mut batch))
                .await
                .map_err(|e| e.to_string())?;
            bar.set_position(head.position);
        }
    }
    let head = store.import(batch).await.map_err(|e| e.to_string())?;
    bar.set_position(head.position);
    bar.finish();
    println!(
        "{}",
        serde_json::json!({ "head_position": head.position, "head_hash": head.hash })
    );
    Ok(())
}

async fn serve(s: Settings) -> Result<i32, String> {
    let directory = read_directory(&s)?;
    if directory.plaintext > 0 {
        tracing::warn!(
            people = directory.plaintext,
            file = %s.people.display(),
            "the people file holds plaintext tokens: for development only; use token_sha256 or `repairledger token issue`"
        );
    }
    let store = open_store(&s, &s.data)?;
    let vault = Arc::new(open_vault(&s, Some(&store))?);
    let policy = match &s.policy {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the policy file {}: {e}", p.display()))?;
            Policy::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => Policy::default_policy(),
    };
    let limits = Limits {
        max_body_bytes: s.max_body_bytes,
        max_backdate: chrono::Duration::days(s.max_backdate_days),
        rate_per_second: s.rate_per_second,
        rate_burst: s.rate_burst,
        token_max_days: s.token_max_days,
        ..Limits::default()
    };
    let store_dyn = store.shared();
    let state = AppState::start(
        store_dyn,
        directory,
        policy,
        Arc::new(SystemClock),
        limits,
        vault,
    )
    .await
    .map_err(|e| format!("cannot start: {e}"))?;
    let state = actix_web::web::Data::new(state);
    // Projection checkpoints are written off the request path, from a copy of the model that
    // no request waits for (repairledger_projections::Checkpointer), on a thread of lower
    // priority: a save serializes the whole model, seconds of a core for a large log, and the
    // requests should keep the cores meanwhile.
    let mut checkpointer = state.projector.checkpointer(1000);
    let checkpoint_store = state.store.clone();
    std::thread::Builder::new()
        .name("checkpointer".into())
        .spawn(move || {
            lower_priority();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(10));
                if let Err(e) = checkpointer.run(checkpoint_store.as_ref()) {
                    tracing::warn!(error = %e, "could not save the projection checkpoint");
                }
            }
        })
        .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
    // The gauges of /metrics (head, projection lag, queue depth) are read every second.
    let gauges = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            gauges.metrics.refresh(&gauges);
        }
    });
    // Webhook deliveries run beside the API, woken by every commit; with PostgreSQL on the one
    // node that holds the delivery lock, and every node follows the others' appends.
    match &store {
        Log::Sled(_) => {
            tokio::spawn(repairledger_api::outbox::run(
                state.clone(),
                std::time::Duration::from_secs(1),
            ));
            tokio::spawn(repairledger_api::recover_from_disk_faults(
                state.clone(),
                std::time::Duration::from_secs(s.disk_retry_seconds.max(1)),
            ));
        }
        Log::Postgres(pg) => {
            tokio::spawn(deliver_as_leader(state.clone(), pg.clone()));
            tokio::spawn(follow(state.clone()));
        }
    }
    tracing::info!(bind = %s.bind, data = %s.data.display(), "repairledger listening; docs at /docs/, spec at /openapi.json");
    let app_state = state.clone();
    let http_metrics = state.metrics.http.clone();
    HttpServer::new(move || {
        let http_metrics = http_metrics.clone();
        App::new()
            // Every request gets a span with a request_id and one log
            // line with its route, status and latency.
            .wrap(tracing_actix_web::TracingLogger::<
                repairledger_api::telemetry::RouteSpan,
            >::new())
            // Outermost: finds the route once for the span, the metrics and the gate.
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                repairledger_api::metrics::observe(http_metrics.clone(), req, next)
            }))
            .configure(repairledger_api::configure(app_state.clone()))
    })
    // The store's reads are synchronous: sled answers from memory, PostgreSQL after a round
    // trip that blocks the worker thread. More workers than cores keep the cores busy meanwhile.
    .workers(match store {
        Log::Sled(_) => std::thread::available_parallelism().map_or(2, |n| n.get()),
        Log::Postgres(_) => s.postgres_http_workers,
    })
    .bind(&s.bind)
    .map_err(|e| format!("cannot listen on {}: {e}", s.bind))?
    .run()
    .await
    .map_err(|e| e.to_string())?;
    // Graceful stop: the HTTP server drained; save the projections and drain the writer.
    if let Err(e) = state.projector.save_checkpoint(state.store.as_ref()) {
        tracing::warn!(error = %e, "could not save the projection checkpoint");
    }
    store.shutdown().await;
    Ok(0)
}
