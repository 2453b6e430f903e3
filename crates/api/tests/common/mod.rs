//! A test app: the real routes, a fresh sled log in a temp dir, a clock the test sets.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use actix_http::Request;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{test, web, App};
use chrono::{DateTime, TimeZone, Utc};
use repairledger_api::{AppState, Directory, Limits, ManualClock};
use repairledger_domain::Policy;
use repairledger_store::{EventStore, SledStore, SledStoreConfig};
use serde_json::Value;

pub const PEOPLE: &str = include_str!("../../../../fixtures/dev-people.toml");

pub struct TestApp {
    pub state: web::Data<AppState>,
    pub store: SledStore,
    pub clock: Arc<ManualClock>,
    pub tokens: HashMap<String, String>,
    pub dir: tempfile::TempDir,
}

pub fn tokens() -> HashMap<String, String> {
    #[derive(serde::Deserialize)]
    struct File {
        people: Vec<P>,
    }
    #[derive(serde::Deserialize)]
    struct P {
        person_id: String,
        token: String,
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        role: String,
    }
    let f: File = toml::from_str(PEOPLE).expect("people file parses");
    f.people
        .into_iter()
        .map(|p| (p.person_id, p.token))
        .collect()
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_history(Vec::new()).await
    }

    /// An app whose log starts with `history` (an export of another log), imported before start.
    pub async fn with_history(history: Vec<repairledger_store::RecordedEvent>) -> TestApp {
        Self::build(history, |_| {}).await
    }

    /// An app whose write queue holds `capacity` commits and whose writer takes one at a time.
    pub async fn with_queue(capacity: usize) -> TestApp {
        Self::build(Vec::new(), |c| {
            c.queue_capacity = capacity;
            c.max_batch = 1;
        })
        .await
    }

    /// An app with these limits (rate limits are off in the others).
    pub async fn with_limits(limits: Limits) -> TestApp {
        Self::build_with(Vec::new(), |_| {}, limits).await
    }

    async fn build(
        history: Vec<repairledger_store::RecordedEvent>,
        configure: impl FnOnce(&mut SledStoreConfig),
    ) -> TestApp {
        // Rate limits count real time, which tests compress: tests/security.rs sets them.
        let limits = Limits {
            rate_per_second: 0,
            ..Limits::default()
        };
        Self::build_with(history, configure, limits).await
    }

    async fn build_with(
        history: Vec<repairledger_store::RecordedEvent>,
        configure: impl FnOnce(&mut SledStoreConfig),
        limits: Limits,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = SledStoreConfig::new(dir.path().join("log"));
        configure(&mut config);
        let store = SledStore::open(config).expect("store opens");
        store.import(history).await.expect("history imports");
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap(),
        ));
        let state = AppState::start(
            Arc::new(store.clone()) as Arc<dyn EventStore>,
            Directory::parse(PEOPLE).expect("people parse"),
            Policy::default_policy(),
            clock.clone(),
            limits,
            Arc::new(test_vault(&dir.path().join("vault"))),
        )
        .await
        .expect("app starts");
        // Webhook retries without waiting, so tests see dead letters quickly.
        let mut state = state;
        state.webhooks = repairledger_api::outbox::WebhookConfig {
            max_attempts: 3,
            base_backoff: std::time::Duration::ZERO,
            max_backoff: std::time::Duration::ZERO,
            timeout: std::time::Duration::from_secs(5),
        };
        TestApp {
            state: web::Data::new(state),
            store,
            clock,
            tokens: tokens(),
            dir,
        }
    }

    pub async fn service(
        &self,
    ) -> impl Service<Request, Response = ServiceResponse, Error = actix_web::Error> {
        test::init_service(App::new().configure(repairledger_api::configure(self.state.clone())))
            .await
    }

    pub fn head(&self) -> u64 {
        self.store.head().expect("head").position
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        use repairledger_api::Clock;
        self.clock.now()
    }

    /// The same log and vault under a new app state, as after a restart.
    pub async fn restart(&self) -> TestApp {
        let state = AppState::start(
            Arc::new(self.store.clone()) as Arc<dyn EventStore>,
            Directory::parse(PEOPLE).expect("people parse"),
            Policy::default_policy(),
            self.clock.clone(),
            self.state.limits.clone(),
            self.state.vault.clone(),
        )
        .await
        .expect("app restarts");
        TestApp {
            state: web::Data::new(state),
            store: self.store.clone(),
            clock: self.clock.clone(),
            tokens: tokens(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn set_time(&self, at: DateTime<Utc>) {
        self.clock.set(at);
    }

    pub fn request(
        &self,
        who: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(String, String)],
    ) -> Request {
        let mut req = test::TestRequest::default()
            .method(method.parse().expect("method"))
            .uri(path);
        if let Some(who) = who {
            let token = self
                .tokens
                .get(who)
                .unwrap_or_else(|| panic!("no token for {who}"));
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (k, v) in headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        if let Some(b) = body {
            req = req.set_json(b);
        }
        req.to_request()
    }
}

/// A vault whose data keys come from a counter, so a scenario seals to the same bytes every run.
pub fn test_vault(path: &std::path::Path) -> repairledger_privacy::Vault {
    use sha2::Digest;
    let ring = repairledger_privacy::KeyRing::single(
        "test",
        "dGVzdC1tYXN0ZXIta2V5LW5vdC1hLXNlY3JldC0wMDA=",
    )
    .expect("test key");
    let n = std::sync::atomic::AtomicU64::new(0);
    repairledger_privacy::Vault::open(path, ring)
        .expect("vault opens")
        .with_keygen(move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            sha2::Sha256::digest(format!("test data key {i}")).into()
        })
}

/// Calls the service and returns the status and the JSON body (Null when empty).
pub async fn call<S, B>(app: &S, req: Request) -> (u16, Value, Option<String>)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let resp = test::call_service(app, req).await;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = test::read_body(resp).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, body, content_type)
}

/// The body that opens a carried return on a unit never seen before.
pub fn open_body(return_id: &str) -> Value {
    serde_json::json!({
        "return_id": return_id, "mode": "carried",
        "customer": {"customer_id": "C-1", "name": "Plant"},
        "product": {"model": "RD-40", "production_date": "2025-09-01", "warranty_end": "2027-09-01"},
        "form": {"fault_symptoms": "no output", "site": "line 3", "circumstances": "after a power cut",
                 "filled_by": "li.fr", "unverifiable_reason": null},
        "customer_signature": {"name": "Zhang San (customer)", "signed_at": "2026-03-02T08:00:00Z", "evidence": {"kind": "typed", "reason": "the customer signed the paper handover form"}}, "receiver_returned_at": "2026-03-02T07:30:00Z", "customer_due_date": null
    })
}
