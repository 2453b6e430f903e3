//! Webhook deliveries: an outbox read straight from the log. Each subscription has a cursor (the
//! last position delivered); events are POSTed one at a time in log order, so each stream's
//! events arrive in order, at least once. A failure is retried with exponential backoff; after
//! `max_attempts` the event goes to the subscription's dead-letter list and delivery moves on.
//!
//! Delivery state (cursor, attempts, dead letters, the signing secret) is operational, not
//! history: it is kept beside the log in the store's checkpoint space, never in the log.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use repairledger_projections::integration::WebhookView;
use repairledger_store::{Checkpoint, EventStore, RecordedEvent};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::dto::EventEnvelope;
use crate::problem::ApiError;
use crate::routes::feed::{scan, Filter};
use crate::AppState;

/// Retry policy and timeouts of deliveries.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            max_attempts: 8,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Where a subscription's deliveries stand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryState {
    /// The last position delivered (or dead-lettered, or filtered out).
    pub delivered_through: u64,
    /// Failed attempts at the next event.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Not before this instant (backoff).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// An event given up on after every retry failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetter {
    pub position: u64,
    pub event_type: String,
    pub stream: String,
    pub attempts: u32,
    pub last_error: String,
    pub dead_lettered_at: DateTime<Utc>,
}

fn key(id: &str, what: &str) -> String {
    format!("webhook/{id}/{what}")
}

fn load<T: for<'de> Deserialize<'de> + Default>(
    store: &dyn EventStore,
    k: &str,
) -> Result<T, ApiError> {
    Ok(store
        .load_checkpoint(k)?
        .and_then(|c| serde_json::from_slice(&c.state).ok())
        .unwrap_or_default())
}

fn save<T: Serialize>(store: &dyn EventStore, k: &str, v: &T) -> Result<(), ApiError> {
    let state = serde_json::to_vec(v).map_err(|e| ApiError::Internal(e.to_string()))?;
    store.save_checkpoint(k, &Checkpoint { position: 0, state })?;
    Ok(())
}

pub fn save_secret(store: &dyn EventStore, id: &str, secret: &str) -> Result<(), ApiError> {
    save(store, &key(id, "secret"), &secret.to_string())
}

fn secret(store: &dyn EventStore, id: &str) -> Result<String, ApiError> {
    load::<String>(store, &key(id, "secret"))
}

pub fn delivery_state(
    store: &dyn EventStore,
    sub: &WebhookView,
) -> Result<DeliveryState, ApiError> {
    let mut s: DeliveryState = load(store, &key(&sub.subscription_id, "state"))?;
    s.delivered_through = s.delivered_through.max(sub.from_position);
    Ok(s)
}

pub fn dead_letters(store: &dyn EventStore, id: &str) -> Result<Vec<DeadLetter>, ApiError> {
    load(store, &key(id, "dead"))
}

pub fn save_dead_letters(
    store: &dyn EventStore,
    id: &str,
    v: &[DeadLetter],
) -> Result<(), ApiError> {
    save(store, &key(id, "dead"), &v.to_vec())
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the receiver recomputes it
/// and rejects stale timestamps to stop replays.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// How one event reaches a receiver: an HTTP POST in the server ([`reqwest::Client`]), a
/// simulated receiver in the deterministic simulation (crates/api/tests/sim.rs), which must run
/// without sockets or threads to replay a seed exactly.
pub trait Deliver: Sync {
    fn deliver<'a>(
        &'a self,
        sub: &'a WebhookView,
        secret: &'a str,
        e: &'a RecordedEvent,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send + 'a;
}

impl Deliver for reqwest::Client {
    fn deliver<'a>(
        &'a self,
        sub: &'a WebhookView,
        secret: &'a str,
        e: &'a RecordedEvent,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send + 'a {
        deliver(self, sub, secret, e, now)
    }
}

/// POSTs one event. Any 2xx is a delivery; anything else is a failure to retry.
pub async fn deliver(
    client: &reqwest::Client,
    sub: &WebhookView,
    secret: &str,
    e: &RecordedEvent,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let body = serde_json::to_vec(&EventEnvelope::from(e)).map_err(|e| e.to_string())?;
    // A receiver is another system, perhaps without TLS: personal data goes out redacted; it
    // reads the names through the API with a token whose role may see them.
    let body = repairledger_privacy::redact_json(&body).unwrap_or(body);
    let resp = client
        .post(&sub.url)
        .header("Content-Type", "application/json")
        .header("X-Repairledger-Subscription", &sub.subscription_id)
        .header("X-Repairledger-Event-Id", e.position.to_string())
        .header(
            "X-Repairledger-Signature",
            signature(secret, now.timestamp(), &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|err| format!("request failed: {err}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered {}", resp.status()))
    }
}

fn filter(sub: &WebhookView) -> Filter {
    Filter::new(
        sub.event_types
            .as_ref()
            .map(|t| t.iter().cloned().collect()),
        sub.stream_prefix.clone(),
    )
}

fn backoff(config: &WebhookConfig, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
    config
        .base_backoff
        .saturating_mul(factor)
        .min(config.max_backoff)
}

/// Delivers what is due for one subscription. Returns when it must wait (caught up or backing off).
async fn pump<D: Deliver>(state: &AppState, client: &D, sub: &WebhookView) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let mut st = delivery_state(store, sub)?;
    let now = state.clock.now();
    if st.next_attempt_at.is_some_and(|t| now < t) {
        return Ok(());
    }
    let secret = secret(store, &sub.subscription_id)?;
    let filter = filter(sub);
    let config = &state.webhooks;
    loop {
        let (events, scanned) = scan(store, st.delivered_through, 1, &filter)?;
        let Some(e) = events.into_iter().next() else {
            if scanned != st.delivered_through {
                st.delivered_through = scanned;
                save(store, &key(&sub.subscription_id, "state"), &st)?;
            }
            return Ok(());
        };
        let now = state.clock.now();
        st.last_attempt_at = Some(now);
        match client.deliver(sub, &secret, &e, now).await {
            Ok(()) => {
                st.delivered_through = e.position;
                st.attempts = 0;
                st.last_error = None;
                st.next_attempt_at = None;
            }
            Err(err) => {
                st.attempts += 1;
                st.last_error = Some(err.clone());
                if st.attempts >= config.max_attempts {
                    let mut dead = dead_letters(store, &sub.subscription_id)?;
                    dead.push(DeadLetter {
                        position: e.position,
                        event_type: e.event_type.clone(),
                        stream: e.stream.clone(),
                        attempts: st.attempts,
                        last_error: err,
                        dead_lettered_at: now,
                    });
                    save_dead_letters(store, &sub.subscription_id, &dead)?;
                    st.delivered_through = e.position;
                    st.attempts = 0;
                    st.next_attempt_at = None;
                } else {
                    let wait = chrono::Duration::from_std(backoff(config, st.attempts))
                        .unwrap_or(chrono::Duration::MAX);
                    st.next_attempt_at = Some(now + wait);
                    save(store, &key(&sub.subscription_id, "state"), &st)?;
                    return Ok(());
                }
            }
        }
        save(store, &key(&sub.subscription_id, "state"), &st)?;
    }
}

/// Runs the outbox until the log's writer stops: wakes on every commit, and every `tick` for
/// retries that are due.
pub async fn run(state: actix_web::web::Data<AppState>, tick: Duration) {
    let client = match reqwest::Client::builder()
        .timeout(state.webhooks.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client could not start");
            return;
        }
    };
    let mut head = state.store.subscribe();
    loop {
        deliver_due(&state, &client).await;
        head.mark_unchanged();
        match tokio::time::timeout(tick, head.changed()).await {
            Ok(Err(_)) => return,
            _ => continue,
        }
    }
}

/// One pass of the outbox: every active subscription gets what is due for it.
pub async fn deliver_due<D: Deliver>(state: &AppState, client: &D) {
    if let Err(e) = state.projector.catch_up(state.store.as_ref()) {
        tracing::error!(error = %e, "outbox could not read the log");
    }
    let subs: Vec<WebhookView> = state
        .projector
        .read(|m| m.webhooks.values().filter(|w| w.active).cloned().collect());
    for sub in &subs {
        if let Err(e) = pump(state, client, sub).await {
            tracing::error!(subscription = %sub.subscription_id, error = %e, "webhook delivery failed");
        }
    }
}
