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

    async fn build(
        history: Vec<repairledger_store::RecordedEvent>,
        configure: impl FnOnce(&mut SledStoreConfig),
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
            Limits::default(),
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

/// Calls the service and returns the status and the JSON body (Null when empty).
pub async fn call<S>(app: &S, req: Request) -> (u16, Value, Option<String>)
where
    S: Service<Request, Response = ServiceResponse, Error = actix_web::Error>,
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
        "customer_signature": null, "receiver_returned_at": null, "customer_due_date": null
    })
}
