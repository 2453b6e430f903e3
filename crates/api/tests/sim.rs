//! Deterministic simulation of the command pipeline: the real routes, `execute`, idempotency,
//! projector, checkpointer, outbox and the SLA breach → penalty path, on a simulated log
//! (`repairledger_store::sim::SimStore`, the same batch planner as sled) whose writer, disk,
//! clock, webhook receiver and crashes are all chosen by one seeded generator. Nothing runs on
//! its own: each step the seed picks one actor (a client request's next poll, the writer's
//! stage or flush, an outbox pass, the checkpointer, the SLA pass, the clock, a fault, a crash)
//! and the run is replayed exactly from its seed.
//!
//! `SIM_SEEDS=n` seeds (default 200) from `SIM_FIRST_SEED` (default 0);
//! `REPAIRLEDGER_SEED=s` runs only seed `s` and prints its trace.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix_web::dev::Service;
use actix_web::{test as actix_test, web, App};
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::LocalBoxFuture;
use repairledger_api::outbox::{self, Deliver};
use repairledger_api::{AppState, Clock, Directory, Limits, ManualClock};
use repairledger_domain::Policy;
use repairledger_projections::integration::WebhookView;
use repairledger_projections::Checkpointer;
use repairledger_store::sim::{SimStore, WriterStep};
use repairledger_store::{
    Commit, EventActor, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StreamAppend,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PEOPLE: &str = include_str!("../../../fixtures/dev-people.toml");

/// Steps of one seed, units it opens, requests in flight at most.
const STEPS: usize = 400;
const UNITS: usize = 12;
const IN_FLIGHT: usize = 6;
/// Webhook attempts before a dead letter; the receiver fails fewer times in a row than this,
/// so every event must arrive.
const MAX_ATTEMPTS: u32 = 8;
const RECEIVER_MAX_FAILURES: u32 = 4;

// ---------------------------------------------------------------------------------------------
// The seeded generator (splitmix64: no dependency, the same sequence everywhere).

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn per_mille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }
}

/// Polls a future once. The simulation is the only scheduler: a pending future is polled
/// again when the seed picks it, so wakers are not needed.
fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    f.poll(&mut cx)
}

// ---------------------------------------------------------------------------------------------
// The key vault's records in memory (they outlive crashes, as the vault's own files do).

#[derive(Default)]
struct MemKeys(Mutex<BTreeMap<String, Vec<u8>>>);

impl repairledger_privacy::KeyRecords for MemKeys {
    fn get(&self, subject: &str) -> Result<Option<Vec<u8>>, repairledger_privacy::VaultError> {
        Ok(self.0.lock().unwrap().get(subject).cloned())
    }
    fn compare_and_swap(
        &self,
        subject: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, repairledger_privacy::VaultError> {
        let mut m = self.0.lock().unwrap();
        if m.get(subject).map(Vec::as_slice) != old {
            return Ok(false);
        }
        m.insert(subject.to_string(), new.to_vec());
        Ok(true)
    }
    fn put(&self, subject: &str, value: &[u8]) -> Result<(), repairledger_privacy::VaultError> {
        self.0
            .lock()
            .unwrap()
            .insert(subject.to_string(), value.to_vec());
        Ok(())
    }
    fn all(&self) -> Result<Vec<(String, Vec<u8>)>, repairledger_privacy::VaultError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

fn vault() -> Arc<repairledger_privacy::Vault> {
    let ring = repairledger_privacy::KeyRing::single(
        "test",
        "dGVzdC1tYXN0ZXIta2V5LW5vdC1hLXNlY3JldC0wMDA=",
    )
    .expect("test key");
    let n = std::sync::atomic::AtomicU64::new(0);
    Arc::new(
        repairledger_privacy::Vault::with_records(Box::<MemKeys>::default(), ring, None)
            .expect("vault")
            .with_keygen(move || {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Sha256::digest(format!("sim data key {i}")).into()
            }),
    )
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver: answers 2xx, 500, or takes the event and loses the answer, after a
// delay of some polls, as the seed says.

struct Receiver {
    rng: Mutex<Rng>,
    /// (subscription, position, hash) of every event the receiver took, in arrival order.
    got: Mutex<Vec<(String, u64, String)>>,
    /// Failures in a row per subscription.
    failures: Mutex<HashMap<String, u32>>,
    /// At the end of a seed: every delivery succeeds at once.
    reliable: std::sync::atomic::AtomicBool,
}

struct Answer {
    polls_left: u32,
    result: Option<Result<(), String>>,
}

impl Future for Answer {
    type Output = Result<(), String>;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls_left > 0 {
            self.polls_left -= 1;
            return Poll::Pending;
        }
        Poll::Ready(self.result.take().expect("polled after ready"))
    }
}

impl Deliver for Receiver {
    fn deliver<'a>(
        &'a self,
        sub: &'a WebhookView,
        _secret: &'a str,
        e: &'a RecordedEvent,
        _now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), String>> + Send + 'a {
        let reliable = self.reliable.load(std::sync::atomic::Ordering::SeqCst);
        let (delay, kind) = {
            let mut rng = self.rng.lock().unwrap();
            let delay = if reliable { 0 } else { rng.below(3) as u32 };
            (delay, if reliable { 0 } else { rng.below(10) })
        };
        let mut failures = self.failures.lock().unwrap();
        let in_row = failures.entry(sub.subscription_id.clone()).or_default();
        // 0..=6: taken; 7: taken, answer lost; 8, 9: 500.
        let kind = if *in_row >= RECEIVER_MAX_FAILURES {
            0
        } else {
            kind
        };
        if kind <= 7 {
            self.got.lock().unwrap().push((
                sub.subscription_id.clone(),
                e.position,
                e.hash.clone(),
            ));
        }
        let result = if kind <= 6 {
            *in_row = 0;
            Ok(())
        } else {
            *in_row += 1;
            Err(if kind == 7 {
                "timed out".to_string()
            } else {
                "receiver answered 500".to_string()
            })
        };
        Answer {
            polls_left: delay,
            result: Some(result),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The app as a server process holds it: state, routes, checkpointer.

struct Resp {
    status: u16,
    body: Value,
    replayed: bool,
}

type Call = Rc<dyn Fn(actix_http::Request) -> LocalBoxFuture<'static, Resp>>;

struct Server {
    state: web::Data<AppState>,
    call: Call,
    checkpointer: Checkpointer,
}

async fn routes(state: web::Data<AppState>) -> Call {
    let svc = Rc::new(
        actix_test::init_service(App::new().configure(repairledger_api::configure(state))).await,
    );
    Rc::new(move |req| -> LocalBoxFuture<'static, Resp> {
        let svc = svc.clone();
        Box::pin(async move {
            match svc.call(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let replayed = resp.headers().contains_key("Idempotent-Replayed");
                    let bytes = actix_test::read_body(resp).await;
                    Resp {
                        status,
                        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        replayed,
                    }
                }
                Err(e) => {
                    let r = e.error_response();
                    let status = r.status().as_u16();
                    let bytes = actix_web::body::to_bytes(r.into_body())
                        .await
                        .unwrap_or_default();
                    Resp {
                        status,
                        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        replayed: false,
                    }
                }
            }
        })
    })
}

fn tokens() -> HashMap<String, String> {
    let v: toml::Value = toml::from_str(PEOPLE).expect("people file parses");
    v["people"]
        .as_array()
        .expect("people")
        .iter()
        .map(|p| {
            (
                p["person_id"].as_str().unwrap().to_string(),
                p["token"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Requests.

#[derive(Clone, Debug)]
struct Sent {
    who: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    key: Option<String>,
    /// The unit and step it moves, for the clients' own bookkeeping.
    unit: Option<(usize, u8)>,
}

struct Inflight {
    sent: Sent,
    fut: LocalBoxFuture<'static, Resp>,
}

/// A command answered 2xx: (position, hash) of each event it appended.
#[derive(Clone, Debug)]
struct Acked {
    sent: Sent,
    events: Vec<(u64, String)>,
}

fn answered_events(body: &Value) -> Vec<(u64, String)> {
    body["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["position"].as_u64().unwrap_or(0),
                        e["hash"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

struct Unit {
    /// Steps acknowledged: 0 nothing, 1 opened, 2 handed over, 3 signed by after-sales.
    step: u8,
    born: DateTime<Utc>,
}

#[derive(Default, Debug, Clone)]
struct Stats {
    steps: u64,
    requests: u64,
    acked: u64,
    crashes: u64,
    write_faults: u64,
    flush_faults: u64,
    flushes: u64,
    deliveries: u64,
    penalties: u64,
    checkpoints: u64,
    /// Penalties decided on projections that had not seen the stop (already in the log before
    /// them) that met their timer.
    stale_penalties: u64,
    /// Penalties whose timer a stop recorded after them, dated before the deadline, met.
    retroactive_penalties: u64,
}

/// A property that did not hold.
type Failure = String;

struct Sim {
    seed: u64,
    rng: Rng,
    clock: Arc<ManualClock>,
    vault: Arc<repairledger_privacy::Vault>,
    store: SimStore,
    server: Option<Server>,
    tokens: HashMap<String, String>,
    receiver: Arc<Receiver>,
    inflight: Vec<Inflight>,
    outbox: Option<LocalBoxFuture<'static, ()>>,
    units: Vec<Unit>,
    acked: Vec<Acked>,
    next_correlation: u64,
    trace: Sha256,
    verbose: bool,
    stats: Stats,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

impl Sim {
    fn new(seed: u64, verbose: bool) -> Sim {
        Sim {
            seed,
            rng: Rng::new(seed),
            clock: Arc::new(ManualClock::new(start())),
            vault: vault(),
            store: SimStore::new(),
            server: None,
            tokens: tokens(),
            receiver: Arc::new(Receiver {
                rng: Mutex::new(Rng::new(seed ^ 0x5EED_0F0E_C0DE)),
                got: Mutex::new(Vec::new()),
                failures: Mutex::new(HashMap::new()),
                reliable: false.into(),
            }),
            inflight: Vec::new(),
            outbox: None,
            units: Vec::new(),
            acked: Vec::new(),
            next_correlation: 0,
            trace: Sha256::new(),
            verbose,
            stats: Stats::default(),
        }
    }

    fn note(&mut self, what: &str) {
        self.trace.update(what.as_bytes());
        self.trace.update(b"\n");
        if self.verbose {
            eprintln!("[seed {}] {what}", self.seed);
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("the server runs")
    }

    /// Runs a future to completion, driving the writer (stage and flush) whenever it waits.
    async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        for _ in 0..10_000 {
            if let Poll::Ready(v) = poll_once(fut.as_mut()) {
                return v;
            }
            self.store.stage(usize::MAX);
            self.store.flush();
        }
        panic!("seed {}: a future never finished", self.seed);
    }

    /// Starts the server on the current log, as a restart would. A refusal to start is a
    /// failure: the log and its checkpoints came out of a crash the server must survive.
    async fn boot(&mut self) -> Result<(), Failure> {
        let store: Arc<dyn EventStore> = Arc::new(self.store.clone());
        let limits = Limits {
            rate_per_second: 0,
            ..Limits::default()
        };
        let started = AppState::start(
            store,
            Directory::parse(PEOPLE).expect("people parse"),
            Policy::default_policy(),
            self.clock.clone(),
            limits,
            self.vault.clone(),
        );
        let mut state = match self.drive(started).await {
            Ok(s) => s,
            Err(e) => return Err(format!("the server refused to start after a crash: {e}")),
        };
        state.webhooks = outbox::WebhookConfig {
            max_attempts: MAX_ATTEMPTS,
            base_backoff: std::time::Duration::from_secs(60),
            max_backoff: std::time::Duration::from_secs(600),
            timeout: std::time::Duration::from_secs(5),
        };
        let state = web::Data::new(state);
        let every = 1 + self.rng.below(8);
        let checkpointer = state.projector.checkpointer(every);
        let call = routes(state.clone()).await;
        self.server = Some(Server {
            state,
            call,
            checkpointer,
        });
        Ok(())
    }

    /// Two subscriptions: everything, and the units' streams only. Appended as the subscribe
    /// route does, with a fixed secret (the route draws one at random, which would make the
    /// log differ between two runs of one seed).
    async fn subscribe(&mut self) {
        for (id, prefix) in [("all", None), ("units", Some("unit-".to_string()))] {
            outbox::save_secret(&self.store, id, "sim-secret").expect("secret saved");
            let event = repairledger_projections::integration::WebhookEvent::WebhookSubscribed {
                subscription_id: id.into(),
                url: format!("http://receiver.invalid/{id}"),
                event_types: None,
                stream_prefix: prefix,
                from_position: 0,
                secret_sha256: hex::encode(Sha256::digest(b"sim-secret")),
                at: self.now(),
            };
            let (event_type, payload) = repairledger_projections::codec::encode(&event);
            let commit = Commit {
                streams: vec![StreamAppend {
                    stream: format!("webhook-{id}"),
                    expected: ExpectedVersion::Exact(0),
                    events: vec![NewEvent {
                        schema: repairledger_projections::codec::current_schema(&event_type),
                        event_type,
                        payload,
                        actor: EventActor {
                            person_id: "wang.as".into(),
                            role: "after_sales".into(),
                        },
                        occurred_at: self.now(),
                        policy_version: 1,
                        correlation_id: None,
                        causation_id: None,
                    }],
                }],
                idempotency: None,
                recorded_at: self.now(),
            };
            let store = self.store.clone();
            self.drive(async move { store.append(commit).await })
                .await
                .expect("subscription appended");
        }
    }

    fn request(&mut self, sent: &Sent) -> actix_http::Request {
        self.next_correlation += 1;
        let mut req = actix_test::TestRequest::default()
            .method(sent.method.parse().expect("method"))
            .uri(&sent.path)
            .insert_header(("Authorization", format!("Bearer {}", self.tokens[sent.who])))
            .insert_header(("X-Correlation-Id", format!("sim-{}", self.next_correlation)));
        if let Some(k) = &sent.key {
            req = req.insert_header(("Idempotency-Key", k.as_str()));
        }
        if let Some(b) = &sent.body {
            req = req.set_json(b);
        }
        req.to_request()
    }

    fn send(&mut self, sent: Sent) {
        let req = self.request(&sent);
        let fut = (self.server().call)(req);
        self.stats.requests += 1;
        self.inflight.push(Inflight { sent, fut });
    }

    /// A read: answered from memory, never waits for the writer.
    fn read(&mut self, who: &'static str, path: &str) -> Resp {
        let sent = Sent {
            who,
            method: "GET",
            path: path.to_string(),
            body: None,
            key: None,
            unit: None,
        };
        let req = self.request(&sent);
        let mut fut = (self.server().call)(req);
        match poll_once(fut.as_mut()) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("seed {}: a read of {path} waited", self.seed),
        }
    }

    /// The next step of a unit, as a client that knows what was acknowledged sends it.
    fn unit_step(&mut self, n: usize) -> Sent {
        let u = &self.units[n];
        let (who, path, body) = match u.step {
            0 => {
                let at = u.born.to_rfc3339();
                (
                    "li.fr",
                    format!("/v1/units/SN-{n}/returns"),
                    json!({
                        "return_id": format!("R-{n}"), "mode": "carried",
                        "customer": {"customer_id": format!("C-{}", n % 3), "name": "Plant"},
                        "product": {"model": "RD-40", "production_date": "2025-09-01", "warranty_end": "2027-09-01"},
                        "form": {"fault_symptoms": "no output", "site": "line 3", "circumstances": "after a power cut",
                                 "filled_by": "li.fr", "unverifiable_reason": null},
                        "customer_signature": {"name": "Zhang San (customer)", "signed_at": at,
                            "evidence": {"kind": "typed", "reason": "the customer signed the paper handover form"}},
                        "receiver_returned_at": at, "customer_due_date": null
                    }),
                )
            }
            1 => (
                "li.fr",
                format!("/v1/units/SN-{n}/handovers"),
                json!({"handover_id": format!("H-{n}"), "to_person_id": "wang.as", "plan_id": null}),
            ),
            _ => (
                "wang.as",
                format!("/v1/units/SN-{n}/handovers/H-{n}/signature"),
                json!({}),
            ),
        };
        Sent {
            who,
            method: "POST",
            path,
            body: Some(body),
            key: Some(format!("u{n}-s{}", u.step)),
            unit: Some((n, u.step)),
        }
    }

    /// A new command from a client: the next step of a unit (a new one or one under way), a
    /// retry of a command in flight (a client that gave up waiting), or a retry of one that was
    /// acknowledged (a client that lost the answer).
    fn client(&mut self) {
        let roll = self.rng.below(10);
        if roll == 0 && !self.inflight.is_empty() {
            let i = self.rng.below(self.inflight.len() as u64) as usize;
            let sent = self.inflight[i].sent.clone();
            if sent.key.is_some() {
                self.note(&format!("retry in flight {}", sent.path));
                self.send(sent);
                return;
            }
        }
        if roll == 1 && !self.acked.is_empty() {
            let i = self.rng.below(self.acked.len() as u64) as usize;
            let sent = self.acked[i].sent.clone();
            self.note(&format!("retry acked {}", sent.path));
            self.send(sent);
            return;
        }
        let open: Vec<usize> = (0..self.units.len())
            .filter(|n| self.units[*n].step < 3)
            .collect();
        let n = if self.units.len() < UNITS && (open.is_empty() || self.rng.below(3) == 0) {
            self.units.push(Unit {
                step: 0,
                born: self.now(),
            });
            self.units.len() - 1
        } else if open.is_empty() {
            return;
        } else {
            open[self.rng.below(open.len() as u64) as usize]
        };
        let sent = self.unit_step(n);
        self.note(&format!("send {}", sent.path));
        self.send(sent);
    }

    /// Polls request `i` once; settles its answer.
    fn poll_request(&mut self, i: usize) -> Result<(), Failure> {
        let Poll::Ready(resp) = poll_once(self.inflight[i].fut.as_mut()) else {
            return Ok(());
        };
        let sent = self.inflight.swap_remove(i).sent;
        self.note(&format!("answer {} {}", resp.status, sent.path));
        match resp.status {
            200 => {
                let events = answered_events(&resp.body);
                if let Some(prev) = self
                    .acked
                    .iter()
                    .find(|a| a.sent.key.is_some() && a.sent.key == sent.key)
                {
                    if prev.events != events {
                        return Err(format!(
                            "idempotency key {:?} answered {events:?}, first {:?}",
                            sent.key, prev.events
                        ));
                    }
                } else {
                    self.stats.acked += 1;
                    if sent.path.ends_with("/penalty") {
                        self.stats.penalties += 1;
                    }
                    self.acked.push(Acked {
                        sent: sent.clone(),
                        events,
                    });
                }
                if let Some((n, step)) = sent.unit {
                    let u = &mut self.units[n];
                    u.step = u.step.max(step + 1);
                }
                Ok(())
            }
            // Refusals a concurrent or repeated client can meet (a retry whose first attempt is
            // applied but not yet durable is decided again, against state that has it), and a
            // log that could not write. Never an acknowledgement: the properties judge those.
            404 | 409 | 412 | 422 | 503 => Ok(()),
            s => Err(format!(
                "{} {} answered {s}: {}",
                sent.method, sent.path, resp.body
            )),
        }
    }

    /// The SLA pass: breaches the projections show at the simulated now, each assessed once.
    /// The penalty's idempotency key is the breach, so a pass that runs twice (two nodes, a
    /// retry after a crash) assesses nothing twice.
    fn sla_pass(&mut self) -> Result<(), Failure> {
        let r = self.read("wang.as", "/v1/breaches?assessed=false");
        if r.status != 200 {
            return Err(format!(
                "GET /v1/breaches answered {}: {}",
                r.status, r.body
            ));
        }
        let ids: Vec<String> = r
            .body
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| b["breach_id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.note(&format!("sla pass: {} breaches", ids.len()));
        for id in ids.into_iter().take(3) {
            let sent = Sent {
                who: "wang.as",
                method: "POST",
                path: format!("/v1/breaches/{id}/penalty"),
                body: Some(json!({"amount_minor": 5000, "reason": "late", "occurred_at": null})),
                key: Some(format!("sla-{id}")),
                unit: None,
            };
            self.send(sent);
        }
        Ok(())
    }

    fn outbox_step(&mut self) {
        if self.outbox.is_none() {
            let state = self.server().state.clone();
            let receiver = self.receiver.clone();
            self.outbox = Some(Box::pin(async move {
                outbox::deliver_due(&state, &*receiver).await;
            }));
        }
        let done = poll_once(self.outbox.as_mut().expect("an outbox pass").as_mut()).is_ready();
        if done {
            self.outbox = None;
            self.stats.deliveries = self.receiver.got.lock().unwrap().len() as u64;
        }
        self.note(&format!("outbox {}", if done { "done" } else { "waits" }));
    }

    fn crash(&mut self) -> Result<(), Failure> {
        let keep = self.rng.below(self.store.unflushed_groups() as u64 + 1) as usize;
        self.note(&format!(
            "crash: {} in flight lost, {keep} of {} unflushed groups reach the disk",
            self.inflight.len(),
            self.store.unflushed_groups()
        ));
        self.stats.crashes += 1;
        self.inflight.clear();
        self.outbox = None;
        self.server = None;
        self.store = self.store.crash(keep);
        Ok(())
    }

    /// The properties that must hold of the log a restart finds, and of the server on it.
    async fn check_after_restart(&mut self) -> Result<(), Failure> {
        let report = self.store.verify().map_err(|e| e.to_string())?;
        if let Some(p) = report.first_broken {
            return Err(format!("the chain breaks at {p}: {:?}", report.reason));
        }
        let log = self
            .store
            .read_all(0, usize::MAX)
            .map_err(|e| e.to_string())?;
        // Every acknowledged command is there, whole, with the hashes it was answered.
        for a in &self.acked {
            for (p, h) in &a.events {
                match log.get(*p as usize - 1) {
                    Some(e) if &e.hash == h => {}
                    Some(e) => {
                        return Err(format!(
                            "acknowledged {} {}: position {p} now holds {} ({}), answered {h}",
                            a.sent.method, a.sent.path, e.event_type, e.hash
                        ))
                    }
                    None => {
                        return Err(format!(
                            "acknowledged {} {}: position {p} is gone (log ends at {})",
                            a.sent.method,
                            a.sent.path,
                            log.len()
                        ))
                    }
                }
            }
        }
        // No commit is half there: each request's events are one run of positions.
        let mut runs: BTreeMap<&str, (u64, u64, usize)> = BTreeMap::new();
        for e in &log {
            if let Some(c) = &e.correlation_id {
                let r = runs.entry(c).or_insert((e.position, e.position, 0));
                r.1 = e.position;
                r.2 += 1;
            }
        }
        for (c, (first, last, n)) in runs {
            if (last - first + 1) as usize != n {
                return Err(format!(
                    "request {c}'s events are not one commit: {n} events in {first}..={last}"
                ));
            }
        }
        self.check_projection()?;
        // Idempotency keys of acknowledged commands answer the same events.
        let sample: Vec<Acked> = if self.acked.len() <= 8 {
            self.acked.clone()
        } else {
            (0..8)
                .map(|_| {
                    let i = self.rng.below(self.acked.len() as u64) as usize;
                    self.acked[i].clone()
                })
                .collect()
        };
        for a in sample {
            let req = self.request(&a.sent);
            let fut = (self.server().call)(req);
            let resp = self.drive(fut).await;
            let events = answered_events(&resp.body);
            if resp.status != 200 || !resp.replayed || events != a.events {
                return Err(format!(
                    "after the restart, idempotency key {:?} answered {} (replayed: {}) {events:?}, \
                     acknowledged {:?}",
                    a.sent.key, resp.status, resp.replayed, a.events
                ));
            }
        }
        Ok(())
    }

    /// The live projections equal a rebuild from position 0 of the log they read.
    fn check_projection(&self) -> Result<(), Failure> {
        let state = &self.server().state;
        state
            .projector
            .catch_up(state.store.as_ref())
            .map_err(|e| e.to_string())?;
        let live = state
            .projector
            .read(|m| serde_json::to_value(m).expect("model serializes"));
        let rebuilt = repairledger_projections::rebuild(state.store.as_ref(), |_| {})
            .map_err(|e| e.to_string())?;
        let rebuilt = serde_json::to_value(&rebuilt).expect("model serializes");
        if live != rebuilt {
            let keys: Vec<&String> = live
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, v)| rebuilt.get(k.as_str()) != Some(v))
                        .map(|(k, _)| k)
                        .collect()
                })
                .unwrap_or_default();
            return Err(format!(
                "the live projections differ from a rebuild in {keys:?}"
            ));
        }
        Ok(())
    }

    /// One step: the seed picks the actor.
    async fn step(&mut self) -> Result<(), Failure> {
        self.stats.steps += 1;
        let roll = self.rng.below(100);
        match roll {
            0..=19 if self.inflight.len() < IN_FLIGHT => self.client(),
            0..=44 if !self.inflight.is_empty() => {
                let i = self.rng.below(self.inflight.len() as u64) as usize;
                self.poll_request(i)?;
            }
            45..=56 => {
                let max = 1 + self.rng.below(4) as usize;
                let s = self.store.stage(max);
                if s != WriterStep::Idle {
                    self.note(&format!("writer {s:?}"));
                }
            }
            57..=66 => {
                let s = self.store.flush();
                if s != WriterStep::Idle {
                    self.stats.flushes += 1;
                    self.note(&format!("writer {s:?}"));
                }
                if matches!(s, WriterStep::FlushFailed(_)) {
                    // The log is poisoned: the supervisor restarts the server.
                    self.crash()?;
                    self.boot().await?;
                    self.check_after_restart().await?;
                }
            }
            67..=74 => self.outbox_step(),
            75..=77 => {
                let saved = {
                    let server = self.server.as_mut().expect("the server runs");
                    server
                        .checkpointer
                        .run(server.state.store.as_ref())
                        .map_err(|e| format!("the checkpointer failed: {e}"))?
                };
                if saved {
                    self.stats.checkpoints += 1;
                }
                self.note(&format!("checkpointer saved: {saved}"));
            }
            78..=80 => self.sla_pass()?,
            81..=88 => {
                let minutes = 1 + self.rng.below(480) as i64;
                self.clock.set(self.now() + Duration::minutes(minutes));
                self.note(&format!("clock +{minutes} min"));
            }
            89 if self.rng.per_mille(400) => {
                self.stats.write_faults += 1;
                self.store.fail_writes(1);
                self.note("the next write fails");
            }
            90 if self.rng.per_mille(300) => {
                self.stats.flush_faults += 1;
                self.store.fail_flushes(1);
                self.note("the next flush fails");
            }
            91 if self.rng.per_mille(400) => {
                self.crash()?;
                self.boot().await?;
                self.check_after_restart().await?;
            }
            92 => self.check_projection()?,
            _ => {}
        }
        Ok(())
    }

    /// No more faults: every request answered, the outbox caught up, the SLA pass assessed all.
    async fn quiesce(&mut self) -> Result<(), Failure> {
        self.note("quiesce");
        self.store.fail_writes(0);
        self.store.fail_flushes(0);
        self.receiver
            .reliable
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..200 {
            let mut polls = 0;
            while !self.inflight.is_empty() {
                for i in (0..self.inflight.len()).rev() {
                    self.poll_request(i)?;
                }
                self.store.stage(usize::MAX);
                self.store.flush();
                polls += 1;
                if polls > 10_000 {
                    return Err("requests in flight never finished".into());
                }
            }
            self.store.stage(usize::MAX);
            self.store.flush();
            // Time passes: every retry's backoff is over, timers cross their deadlines.
            self.clock.set(self.now() + Duration::hours(1));
            self.outbox = None;
            loop {
                self.outbox_step();
                if self.outbox.is_none() {
                    break;
                }
            }
            self.sla_pass()?;
            if self.inflight.is_empty() && self.outbox_caught_up()? {
                return Ok(());
            }
        }
        Err("the pipeline did not come to rest".into())
    }

    fn outbox_caught_up(&self) -> Result<bool, Failure> {
        let state = &self.server().state;
        let head = state.store.head().map_err(|e| e.to_string())?.position;
        let subs: Vec<WebhookView> = state
            .projector
            .read(|m| m.webhooks.values().cloned().collect());
        for sub in subs {
            let st =
                outbox::delivery_state(state.store.as_ref(), &sub).map_err(|e| e.to_string())?;
            if st.delivered_through < head {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The end of a seed: every event reached every subscription, once at least and in order,
    /// and never one the log does not hold; every breach has exactly one penalty.
    fn check_end(&mut self) -> Result<(), Failure> {
        let log = self
            .store
            .read_all(0, usize::MAX)
            .map_err(|e| e.to_string())?;
        let got = self.receiver.got.lock().unwrap().clone();
        let state = self.server().state.clone();
        let subs: Vec<WebhookView> = state
            .projector
            .read(|m| m.webhooks.values().cloned().collect());
        for sub in &subs {
            let dead = outbox::dead_letters(state.store.as_ref(), &sub.subscription_id)
                .map_err(|e| e.to_string())?;
            if !dead.is_empty() {
                return Err(format!("{}: dead letters {dead:?}", sub.subscription_id));
            }
            let received: Vec<&(String, u64, String)> =
                got.iter().filter(|g| g.0 == sub.subscription_id).collect();
            for (_, p, h) in &received {
                match log.get(*p as usize - 1) {
                    Some(e) if &e.hash == h => {}
                    _ => {
                        return Err(format!(
                            "webhook {} received position {p} ({h}), which the log does not hold \
                             (an event delivered before it was durable, then lost)",
                            sub.subscription_id
                        ))
                    }
                }
            }
            // In order: the first arrivals of positions are increasing.
            let mut seen = BTreeSet::new();
            let mut last = 0;
            for (_, p, _) in &received {
                if seen.insert(*p) {
                    if *p < last {
                        return Err(format!(
                            "webhook {} received {p} after {last}",
                            sub.subscription_id
                        ));
                    }
                    last = *p;
                }
            }
            let prefix = sub.stream_prefix.clone().unwrap_or_default();
            for e in log
                .iter()
                .filter(|e| e.position > sub.from_position && e.stream.starts_with(prefix.as_str()))
            {
                if !seen.contains(&e.position) {
                    return Err(format!(
                        "webhook {} never received position {} ({})",
                        sub.subscription_id, e.position, e.event_type
                    ));
                }
            }
        }
        // SLA: each penalty stream holds one assessment; each breach judged now is assessed.
        let mut assessed: BTreeMap<&str, usize> = BTreeMap::new();
        for e in log.iter().filter(|e| e.event_type == "PenaltyAssessed") {
            *assessed.entry(e.stream.as_str()).or_default() += 1;
        }
        if let Some((s, n)) = assessed.iter().find(|(_, n)| **n != 1) {
            return Err(format!("{s} holds {n} assessments"));
        }
        let r = self.read("wang.as", "/v1/breaches?assessed=false");
        if r.body.as_array().is_none_or(|a| !a.is_empty()) {
            return Err(format!("breaches left unassessed: {}", r.body));
        }
        let r = self.read("wang.as", "/v1/breaches");
        let breaches: BTreeSet<String> = r
            .body
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| b["breach_id"].as_str())
                    .map(repairledger_domain::streams::penalty)
                    .collect()
            })
            .unwrap_or_default();
        let penalised: BTreeSet<String> = assessed.keys().map(|s| s.to_string()).collect();
        if let Some(b) = breaches.difference(&penalised).next() {
            return Err(format!("breach {b} has no penalty"));
        }
        // A penalty whose timer is met now, by a stop dated before the deadline. Two known
        // cases, counted and allowed unless SIM_STRICT_SLA is set; anything else fails.
        // Stale: the stop is before the penalty in the log, but the penalty was decided on
        // projections that had not seen it (nothing at commit time checks that the timer's
        // stream did not move). Retroactive: the stop was recorded after the penalty (a
        // command in flight while the deadline passed, or backdated paperwork).
        let timers = self.read("audit", "/v1/timers?limit=1000");
        for stream in penalised.difference(&breaches) {
            let id = stream.trim_start_matches("penalty-");
            let penalty = log
                .iter()
                .find(|e| &e.stream == stream)
                .expect("the penalty's event");
            let t = timers.body["items"]
                .as_array()
                .and_then(|a| a.iter().find(|t| t["timer"]["timer_id"] == id))
                .ok_or_else(|| format!("penalty {id} names no timer"))?;
            let stopped = t["timer"]["stop_position"].as_u64();
            let met = t["evaluation"]["state"] == "met";
            let strict = std::env::var_os("SIM_STRICT_SLA").is_some();
            match stopped {
                Some(stop) if met && !strict => {
                    if stop < penalty.position {
                        self.stats.stale_penalties += 1;
                    } else {
                        self.stats.retroactive_penalties += 1;
                    }
                    self.note(&format!(
                        "penalty {id} at {} for a timer met by the stop at {stop}",
                        penalty.position
                    ));
                }
                _ => {
                    return Err(format!(
                        "penalty {id} (position {}) for a timer that is not breached: {t}",
                        penalty.position
                    ))
                }
            }
        }
        Ok(())
    }

    async fn run(&mut self) -> Result<(), Failure> {
        self.boot().await?;
        self.subscribe().await;
        for _ in 0..STEPS {
            self.step().await?;
        }
        self.quiesce().await?;
        self.check_end()?;
        // A last crash, with nothing unflushed: everything holds after it too.
        self.crash()?;
        self.boot().await?;
        self.check_after_restart().await?;
        let head = self.store.head().map_err(|e| e.to_string())?;
        self.note(&format!("head {} {}", head.position, head.hash));
        Ok(())
    }
}

/// Runs one seed; answers its trace hash and counts, or the failure.
fn run_seed(seed: u64, verbose: bool) -> Result<(String, Stats), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut sim = Sim::new(seed, verbose);
    let result = rt.block_on(async { sim.run().await });
    match result {
        Ok(()) => Ok((hex::encode(sim.trace.clone().finalize()), sim.stats.clone())),
        Err(e) => Err(e),
    }
}

fn replay_command(seed: u64) -> String {
    format!("REPAIRLEDGER_SEED={seed} cargo test -p repairledger-api --test sim -- --exact sim --nocapture")
}

#[test]
fn sim() {
    if let Ok(s) = std::env::var("REPAIRLEDGER_SEED") {
        let seed: u64 = s.parse().expect("REPAIRLEDGER_SEED is a number");
        match run_seed(seed, true) {
            Ok((trace, stats)) => eprintln!("seed {seed}: ok, trace {trace}, {stats:?}"),
            Err(e) => panic!("seed {seed} failed: {e}\nreplay: {}", replay_command(seed)),
        }
        return;
    }
    let first: u64 = std::env::var("SIM_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let n: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let began = std::time::Instant::now();
    let mut total = Stats::default();
    for seed in first..first + n {
        match run_seed(seed, false) {
            Ok((_, s)) => {
                total.steps += s.steps;
                total.requests += s.requests;
                total.acked += s.acked;
                total.crashes += s.crashes;
                total.write_faults += s.write_faults;
                total.flush_faults += s.flush_faults;
                total.flushes += s.flushes;
                total.deliveries += s.deliveries;
                total.penalties += s.penalties;
                total.checkpoints += s.checkpoints;
                total.stale_penalties += s.stale_penalties;
                total.retroactive_penalties += s.retroactive_penalties;
            }
            Err(e) => panic!(
                "seed {seed} failed: {e}\nreplay it with: {}",
                replay_command(seed)
            ),
        }
    }
    let elapsed = began.elapsed();
    eprintln!(
        "sim: {n} seeds from {first} in {:.1} s ({:.1} ms a seed): {total:?}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / n.max(1) as f64
    );
}

/// One seed run twice gives the same trace (every step, every answer, the final head hash):
/// the simulation is a function of its seed, so a printed seed replays the failure.
#[test]
fn a_seed_replays_exactly() {
    for seed in [7, 1234] {
        let a = run_seed(seed, false);
        let b = run_seed(seed, false);
        match (a, b) {
            (Ok((a, _)), Ok((b, _))) => assert_eq!(a, b, "seed {seed} ran two ways"),
            (Err(a), Err(b)) => assert_eq!(a, b, "seed {seed} failed two ways"),
            (a, b) => panic!(
                "seed {seed}: {:?} then {:?}",
                a.map(|x| x.0),
                b.map(|x| x.0)
            ),
        }
    }
}
