//! The REST/JSON API of repairledger: actix-web handlers around the pure domain, the event log
//! and the projections.
//!
//! Architecture invariant: only this crate knows HTTP, JSON field names and problem types.

pub mod auth;
pub mod authz;
pub mod command;
pub mod dto;
pub mod field_dto;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod problem;
pub mod quality_dto;
pub mod route;
pub mod routes;
pub mod telemetry;

use std::sync::{Arc, Mutex};

use actix_web::{error::JsonPayloadError, web, HttpRequest};
use chrono::{DateTime, Duration, Utc};
use repairledger_domain::Policy;
use repairledger_projections::Projector;
use repairledger_store::{Commit, EventActor, EventStore, ExpectedVersion, NewEvent, StreamAppend};

pub use auth::Directory;
pub use problem::{ApiError, Problem};

/// Where "now" comes from. The server uses the system clock; scenario tests set the time of
/// each step so snapshots are reproducible.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that shows what it was last set to.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// Input bounds that protect the log.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How far in the future a command's `occurred_at` may be (clock skew).
    pub future_skew: Duration,
    /// How far back a command's `occurred_at` may be (late paperwork).
    pub max_backdate: Duration,
    /// `/readyz` answers 503 once this many commits wait for the writer.
    pub ready_max_queue: usize,
    /// Requests a second per token (sustained); 0 turns rate limiting off.
    pub rate_per_second: u32,
    /// Requests a token may make at once above the sustained rate.
    pub rate_burst: u32,
    /// The longest validity of an issued token.
    pub token_max_days: i64,
    /// Largest accepted customer signature (decoded bytes). Its base64 must also fit in
    /// `max_body_bytes`.
    pub max_signature_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            future_skew: Duration::minutes(5),
            max_backdate: Duration::days(30),
            ready_max_queue: 5_000,
            rate_per_second: 100,
            rate_burst: 200,
            token_max_days: 400,
            max_signature_bytes: 40 * 1024,
        }
    }
}

/// Shared by every request.
pub struct AppState {
    pub store: Arc<dyn EventStore>,
    pub projector: Projector,
    pub directory: Directory,
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub webhooks: outbox::WebhookConfig,
    /// Prometheus metrics (`/metrics`).
    pub metrics: metrics::Metrics,
    /// Policies by version, parsed, for judging timers under the policy they started under.
    pub policies: routes::sla::PolicyCache,
    /// Live unit views as JSON, by serial, with the stream version they were made at.
    pub unit_json: std::sync::RwLock<std::collections::HashMap<String, (u64, web::Bytes)>>,
    /// Decoded events of recently used streams, for deciding commands.
    pub streams: command::StreamCache,
    /// Customers' data keys: personal data is sealed before it is appended.
    pub vault: Arc<repairledger_privacy::Vault>,
    /// Requests per token; `None` when `limits.rate_per_second` is 0.
    pub rate_limiter: Option<authz::RateLimiter>,
}

impl AppState {
    /// Loads the projections and records the policy in the log if this version is new, so every
    /// event's `policy_version` points at a text an auditor can read back.
    pub async fn start(
        store: Arc<dyn EventStore>,
        directory: Directory,
        policy: Policy,
        clock: Arc<dyn Clock>,
        limits: Limits,
        vault: Arc<repairledger_privacy::Vault>,
    ) -> Result<AppState, ApiError> {
        let projector = Projector::load(store.as_ref())?;
        // An erasure is recorded first and the key destroyed next: a crash in between is
        // finished here.
        let erasures = projector.read(|m| {
            m.erasures
                .values()
                .map(|e| (e.customer_id.clone(), e.key_generation))
                .collect::<Vec<_>>()
        });
        for (customer_id, generation) in erasures {
            if vault
                .erase_up_to(&customer_id, generation)
                .map_err(|e| ApiError::Internal(e.to_string()))?
            {
                tracing::warn!(%customer_id, "finished an erasure interrupted before its key was destroyed");
            }
        }
        let text = toml::to_string(&policy).map_err(|e| ApiError::Internal(e.to_string()))?;
        // Decided against the policy stream itself, not the projections: several nodes may
        // start together on one PostgreSQL log, and the one that loses the race to publish
        // finds the policy published when it decides again.
        for attempt in 0.. {
            let published =
                store.read_stream(repairledger_domain::streams::POLICY, 1, usize::MAX)?;
            let version = published.last().map(|e| e.version);
            let existing = published
                .iter()
                .find(|e| e.payload["version"].as_u64() == Some(u64::from(policy.version)))
                .map(|e| e.payload["toml"].as_str().unwrap_or_default().to_string());
            match existing {
                Some(existing) if existing != text => {
                    return Err(ApiError::Internal(format!(
                        "policy version {} is already published with different content; publish a new version",
                        policy.version
                    )))
                }
                Some(_) => break,
                // A new version: its calendar must cover the year ahead of the clock's now (the
                // business time; tests run on a fixed one). A version already in the log is not
                // judged again, so a restart never fails on it.
                None => policy.decide_publish(clock.now())?,
            }
            let appended = store
                .append(Commit {
                    streams: vec![StreamAppend {
                        stream: repairledger_domain::streams::POLICY.into(),
                        expected: ExpectedVersion::Exact(version.unwrap_or(0)),
                        events: vec![NewEvent {
                            event_type: "PolicyPublished".into(),
                            schema: 1,
                            payload: serde_json::json!({ "version": policy.version, "toml": text }),
                            actor: EventActor {
                                person_id: "system".into(),
                                role: "system".into(),
                            },
                            occurred_at: clock.now(),
                            policy_version: policy.version,
                            correlation_id: None,
                            causation_id: None,
                        }],
                    }],
                    idempotency: None,
                    recorded_at: clock.now(),
                })
                .await;
            match appended {
                Err(repairledger_store::StoreError::Conflict { .. }) if attempt < 3 => {}
                other => {
                    other?;
                }
            }
            projector.catch_up(store.as_ref())?;
        }
        Ok(AppState {
            store,
            projector,
            directory,
            policy,
            clock,
            webhooks: outbox::WebhookConfig::default(),
            policies: Default::default(),
            metrics: metrics::Metrics::new(),
            unit_json: Default::default(),
            streams: Default::default(),
            vault,
            rate_limiter: authz::rate_limiter(&limits),
            limits,
        })
    }
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit: *limit },
        JsonPayloadError::ContentType => {
            ApiError::MalformedRequest("the body must be application/json".into())
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::MalformedRequest(format!("invalid JSON body: {e}"))
        }
        other => ApiError::MalformedRequest(other.to_string()),
    };
    e.into()
}

/// The baseline of the HTTP benchmarks: the same server, no auth, no log, a small JSON body.
/// Not part of the API contract (not in the OpenAPI document).
async fn hello() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(serde_json::json!({ "hello": "world" }))
}

/// The methods each documented path answers, from the OpenAPI document (built once).
fn documented_methods(pattern: &str) -> Option<&'static str> {
    static METHODS: std::sync::OnceLock<std::collections::BTreeMap<String, String>> =
        std::sync::OnceLock::new();
    METHODS
        .get_or_init(|| {
            let doc: serde_json::Value =
                serde_json::from_str(&openapi::document_json()).unwrap_or_default();
            let mut out = std::collections::BTreeMap::new();
            if let Some(paths) = doc["paths"].as_object() {
                for (path, item) in paths {
                    let methods: Vec<String> = item
                        .as_object()
                        .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                        .unwrap_or_default();
                    out.insert(path.clone(), methods.join(", "));
                }
            }
            out
        })
        .get(pattern)
        .map(String::as_str)
}

/// No route took the request: a known path with another method is 405 (with `Allow`), anything
/// else 404.
async fn no_such_endpoint(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    match route::table()
        .lookup(req.path())
        .and_then(documented_methods)
    {
        Some(allow) => Err(ApiError::MethodNotAllowed(allow.to_string())),
        None => Err(ApiError::NoSuchEndpoint),
    }
}

/// The reference console (`/console/`): static files compiled into the binary, so it works
/// offline and needs no build step at run time. Not part of the API contract.
fn console_file(body: &'static str, content_type: &'static str) -> actix_web::Route {
    web::get().to(move || async move {
        actix_web::HttpResponse::Ok()
            .content_type(content_type)
            .body(body)
    })
}

/// Registers every route and the extractor settings. `App::new().configure(repairledger_api::configure(state))`.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let limit = state.limits.max_body_bytes;
        cfg.app_data(state)
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(json_error),
            )
            .app_data(web::PayloadConfig::default().limit(limit))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::MalformedRequest(format!("invalid query: {e}")).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                ApiError::MalformedRequest(format!("invalid path: {e}")).into()
            }))
            .service(routes::reads::health)
            .service(routes::reads::ready)
            .service(metrics::scrape)
            .route("/_bench/hello", web::get().to(hello))
            .route(
                "/console",
                web::get().to(|| async {
                    actix_web::HttpResponse::PermanentRedirect()
                        .insert_header(("Location", "/console/"))
                        .finish()
                }),
            )
            .route(
                "/console/",
                console_file(
                    include_str!("../console/index.html"),
                    "text/html; charset=utf-8",
                ),
            )
            .route(
                "/console/console.js",
                console_file(
                    include_str!("../console/console.js"),
                    "text/javascript; charset=utf-8",
                ),
            )
            .route(
                "/console/openapi-fetch.mjs",
                console_file(
                    include_str!("../console/openapi-fetch.mjs"),
                    "text/javascript; charset=utf-8",
                ),
            )
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                    .url("/openapi.json", openapi::document()),
            )
            .service(
                web::scope("/v1")
                    .wrap(actix_web::middleware::from_fn(authz::gate))
                    .configure(routes::register)
                    .default_service(web::to(no_such_endpoint)),
            )
            .default_service(web::to(no_such_endpoint));
    }
}

/// After a disk fault, tries the disk every `every` and reopens the log once it takes writes
/// again, so an operator who frees space or replaces a disk needs no restart. Until then
/// commands answer 503 (`storage-full` or `storage-failed`) and `/readyz` names the fault.
pub async fn recover_from_disk_faults(
    state: actix_web::web::Data<AppState>,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if state.store.fault().is_none() {
            continue;
        }
        match state.store.recover().await {
            Ok(true) => {
                state.streams.clear();
                if let Err(e) = state.projector.catch_up(state.store.as_ref()) {
                    tracing::error!(error = %e, "projections could not follow the reopened log");
                }
                tracing::warn!("the disk takes writes again: the log was reopened");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the disk still fails: appends stay closed");
            }
        }
    }
}
