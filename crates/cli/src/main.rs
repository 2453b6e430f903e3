//! `repairledger`: serve the API, verify the log, rebuild projections, print the OpenAPI document.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use clap::{Parser, Subcommand};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use repairledger_api::{AppState, Directory, Limits, SystemClock};
use repairledger_domain::Policy;
use repairledger_store::{EventStore, SledStore, SledStoreConfig};
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
    /// Start the HTTP API on the embedded sled log.
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
        }
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

fn open_store(data: &std::path::Path) -> Result<SledStore, String> {
    SledStore::open(SledStoreConfig::new(data.to_path_buf()))
        .map_err(|e| format!("cannot open the event log at {}: {e}", data.display()))
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
            let data = data.unwrap_or(s.data);
            let mut config = SledStoreConfig::new(data.clone());
            config.check_tail = false;
            let store = SledStore::open(config)
                .map_err(|e| format!("cannot open the event log at {}: {e}", data.display()))?;
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
            let store = open_store(&data.unwrap_or(s.data))?;
            let result = export(&store, after, until, format);
            store.shutdown().await;
            result.map(|()| 0)
        }),
        Command::Import { data, input } => rt.block_on(async {
            let store = open_store(&data.unwrap_or(s.data))?;
            let result = import(&store, input).await;
            store.shutdown().await;
            result.map(|()| 0)
        }),
        Command::Rebuild { data } => rt.block_on(async {
            let store = open_store(&data.unwrap_or(s.data))?;
            let head = store.head().map_err(|e| e.to_string())?.position;
            let bar = progress(head, "rebuilt");
            let rebuilt = repairledger_projections::rebuild(&store, |p| bar.set_position(p))
                .map_err(|e| e.to_string())?;
            bar.finish();
            let live = repairledger_projections::Projector::load(&store, u64::MAX)
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
    store: &SledStore,
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

async fn import(store: &SledStore, input: Option<PathBuf>) -> Result<(), String> {
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
    let people = std::fs::read_to_string(&s.people)
        .map_err(|e| format!("cannot read the people file {}: {e}", s.people.display()))?;
    let directory =
        Directory::parse(&people).map_err(|e| format!("{}: {e}", s.people.display()))?;
    let policy = match &s.policy {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the policy file {}: {e}", p.display()))?;
            Policy::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => Policy::default_policy(),
    };
    let store = open_store(&s.data)?;
    let limits = Limits {
        max_body_bytes: s.max_body_bytes,
        max_backdate: chrono::Duration::days(s.max_backdate_days),
        ..Limits::default()
    };
    let store_dyn: Arc<dyn EventStore> = Arc::new(store.clone());
    let state = AppState::start(store_dyn, directory, policy, Arc::new(SystemClock), limits)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    let state = actix_web::web::Data::new(state);
    // Projection checkpoints are written off the request path.
    let checkpoints = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            tick.tick().await;
            let s = checkpoints.clone();
            let saved = tokio::task::spawn_blocking(move || {
                s.projector.checkpoint_if_due(s.store.as_ref())
            })
            .await;
            if let Ok(Err(e)) = saved {
                tracing::warn!(error = %e, "could not save the projection checkpoint");
            }
        }
    });
    // The gauges of /metrics (head, projection lag, queue depth) are read every second.
    let gauges = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            gauges.metrics.refresh(&gauges);
        }
    });
    // Webhook deliveries run beside the API, woken by every commit.
    tokio::spawn(repairledger_api::outbox::run(
        state.clone(),
        std::time::Duration::from_secs(1),
    ));
    tracing::info!(bind = %s.bind, data = %s.data.display(), "repairledger listening; docs at /docs/, spec at /openapi.json");
    let app_state = state.clone();
    let http_metrics = repairledger_api::metrics::http_metrics(&state);
    HttpServer::new(move || {
        App::new()
            // Every request gets a span with a request_id and one log
            // line with its route, status and latency.
            .wrap(tracing_actix_web::TracingLogger::default())
            .wrap(http_metrics.clone())
            .configure(repairledger_api::configure(app_state.clone()))
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
