//! Webhook subscriptions for integrators: each delivery is the event envelope, POSTed in log
//! order, signed with HMAC-SHA256 under a secret the server issues once.

use std::collections::BTreeSet;

use actix_web::web::{Data, Path};
use actix_web::{get, post, HttpResponse};
use repairledger_projections::codec;
use repairledger_projections::integration::{WebhookEvent, WebhookView};
use repairledger_store::{Commit, EventActor, ExpectedVersion, NewEvent, StreamAppend};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::command::check_id;
use crate::dto::StepRequest;
use crate::json::Json;
use crate::outbox::{self, DeadLetter, DeliveryState};
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subscription_id": "erp-units", "url": "https://erp.example.com/hooks/repairledger", "event_types": ["UnitRegistered", "ReturnClosed"], "stream_prefix": "unit-", "from_position": null}))]
pub struct SubscribeRequest {
    #[schema(value_type = crate::dto::Id)]
    pub subscription_id: String,
    /// Where to POST events: an `http://` or `https://` URL of at most 2000 characters with a
    /// host name or IPv4 address, an optional port, path and query.
    #[schema(
        max_length = 2000,
        pattern = r#"^https?://([A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(\.[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*)*|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))(:[0-9]{1,4})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"#
    )]
    pub url: String,
    /// Only these event types; all when absent.
    pub event_types: Option<BTreeSet<String>>,
    /// Only streams whose name starts with this (e.g. `unit-`).
    pub stream_prefix: Option<String>,
    /// Deliver events after this position; the current head when absent (only new events).
    pub from_position: Option<u64>,
}

/// A subscription with where its deliveries stand.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookStatus {
    pub subscription: WebhookView,
    pub delivery: DeliveryState,
    pub dead_letters: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Subscribed {
    pub subscription: WebhookView,
    /// The HMAC-SHA256 signing secret. Shown once: keep it; only its SHA-256 is in the log.
    pub secret: String,
    pub position: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "the ERP moved to the event feed"}))]
pub struct UnsubscribeRequest {
    pub reason: String,
}

fn view(state: &AppState, id: &str) -> Result<WebhookView, ApiError> {
    state.projector.catch_up(state.store.as_ref())?;
    state
        .projector
        .read(|m| m.webhooks.get(id).cloned())
        .ok_or_else(|| ApiError::NotFound(format!("no webhook subscription {id:?}")))
}

fn status(state: &AppState, sub: WebhookView) -> Result<WebhookStatus, ApiError> {
    Ok(WebhookStatus {
        delivery: outbox::delivery_state(state.store.as_ref(), &sub)?,
        dead_letters: outbox::dead_letters(state.store.as_ref(), &sub.subscription_id)?.len(),
        subscription: sub,
    })
}

async fn append(
    state: &AppState,
    caller: &Caller,
    id: &str,
    expected: u64,
    event: &WebhookEvent,
) -> Result<u64, ApiError> {
    let actor = caller.writer()?;
    let (event_type, payload) = codec::encode(event);
    let now = state.clock.now();
    let r = state
        .store
        .append(Commit {
            streams: vec![StreamAppend {
                stream: format!("webhook-{id}"),
                expected: ExpectedVersion::Exact(expected),
                events: vec![NewEvent {
                    schema: codec::current_schema(&event_type),
                    event_type,
                    payload,
                    actor: EventActor {
                        person_id: actor.person_id,
                        role: actor.role.to_string(),
                    },
                    occurred_at: now,
                    policy_version: state.policy.version,
                    correlation_id: None,
                    causation_id: None,
                }],
            }],
            idempotency: None,
            recorded_at: now,
        })
        .await
        .map_err(|e| match e {
            repairledger_store::StoreError::Conflict { .. } => {
                ApiError::ConcurrentModification { current: None }
            }
            other => other.into(),
        })?;
    state.projector.catch_up(state.store.as_ref())?;
    Ok(r.last_position)
}

/// Subscribe a URL to the log. Deliveries start after `from_position` and come in log order.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", operation_id = "subscribeWebhook",
    request_body = SubscribeRequest,
    responses((status = 200, description = "Subscribed; the secret is shown only here", body = Subscribed)))]
#[post("/webhooks")]
pub async fn subscribe(
    state: Data<AppState>,
    caller: Caller,
    body: Json<SubscribeRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    caller.writer()?;
    check_id("subscription_id", &b.subscription_id)?;
    let url =
        reqwest::Url::parse(&b.url).map_err(|e| ApiError::MalformedRequest(format!("url: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || b.url.len() > 2000 {
        return Err(ApiError::MalformedRequest(
            "url must be http(s), at most 2000 characters".into(),
        ));
    }
    if state
        .store
        .stream_version(&format!("webhook-{}", b.subscription_id))?
        .is_some()
    {
        return Err(ApiError::Domain(
            repairledger_domain::DomainError::InvalidInput {
                field: "subscription_id",
                reason: "already used".into(),
            },
        ));
    }
    let secret = repairledger_privacy::random_hex(32);
    // The secret is stored before the subscription exists, so the outbox never sees one without it.
    outbox::save_secret(state.store.as_ref(), &b.subscription_id, &secret)?;
    let from_position = match b.from_position {
        Some(p) => p,
        None => state.store.head()?.position,
    };
    let event = WebhookEvent::WebhookSubscribed {
        subscription_id: b.subscription_id.clone(),
        url: b.url.clone(),
        event_types: b.event_types.clone(),
        stream_prefix: b.stream_prefix.clone(),
        from_position,
        secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        at: state.clock.now(),
    };
    let position = append(&state, &caller, &b.subscription_id, 0, &event).await?;
    Ok(HttpResponse::Ok().json(Subscribed {
        subscription: view(&state, &b.subscription_id)?,
        secret,
        position,
    }))
}

/// Every subscription and where its deliveries stand.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    responses((status = 200, description = "Subscriptions", body = [WebhookStatus])))]
#[get("/webhooks")]
pub async fn list(state: Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    state.projector.catch_up(state.store.as_ref())?;
    let subs: Vec<WebhookView> = state
        .projector
        .read(|m| m.webhooks.values().cloned().collect());
    let v = subs
        .into_iter()
        .map(|s| status(&state, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(v))
}

/// One subscription and where its deliveries stand.
#[utoipa::path(get, path = "/v1/webhooks/{subscription_id}", tag = "webhooks", operation_id = "getWebhook",
    params(("subscription_id" = String, Path, description = "The subscription")),
    responses((status = 200, description = "The subscription", body = WebhookStatus)))]
#[get("/webhooks/{subscription_id}")]
pub async fn get_one(
    state: Data<AppState>,
    _caller: Caller,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sub = view(&state, &id)?;
    Ok(HttpResponse::Ok().json(status(&state, sub)?))
}

/// Stop deliveries to a subscription.
#[utoipa::path(post, path = "/v1/webhooks/{subscription_id}/cancellation", tag = "webhooks",
    operation_id = "unsubscribeWebhook", request_body = UnsubscribeRequest,
    params(("subscription_id" = String, Path, description = "The subscription")),
    responses((status = 200, description = "Unsubscribed", body = WebhookStatus)))]
#[post("/webhooks/{subscription_id}/cancellation")]
pub async fn unsubscribe(
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Json<UnsubscribeRequest>,
) -> Result<HttpResponse, ApiError> {
    let sub = view(&state, &id)?;
    if !sub.active {
        return Err(ApiError::Domain(
            repairledger_domain::DomainError::StepOutOfOrder {
                step: "unsubscribed",
                expected: "an active subscription",
            },
        ));
    }
    let version = state
        .store
        .stream_version(&format!("webhook-{id}"))?
        .unwrap_or(0);
    let event = WebhookEvent::WebhookUnsubscribed {
        subscription_id: id.to_string(),
        reason: body.reason.clone(),
        at: state.clock.now(),
    };
    append(&state, &caller, &id, version, &event).await?;
    Ok(HttpResponse::Ok().json(status(&state, view(&state, &id)?)?))
}

/// Events given up on after every retry failed, oldest first.
#[utoipa::path(get, path = "/v1/webhooks/{subscription_id}/dead-letters", tag = "webhooks",
    operation_id = "listDeadLetters",
    params(("subscription_id" = String, Path, description = "The subscription")),
    responses((status = 200, description = "Dead letters", body = [DeadLetter])))]
#[get("/webhooks/{subscription_id}/dead-letters")]
pub async fn dead_letters(
    state: Data<AppState>,
    _caller: Caller,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    view(&state, &id)?;
    Ok(HttpResponse::Ok().json(outbox::dead_letters(state.store.as_ref(), &id)?))
}

/// Deliver a dead letter again, now; it leaves the list when the receiver accepts it.
#[utoipa::path(post, path = "/v1/webhooks/{subscription_id}/dead-letters/{position}/redelivery",
    tag = "webhooks", operation_id = "redeliverDeadLetter", request_body = StepRequest,
    params(
        ("subscription_id" = String, Path, description = "The subscription"),
        ("position" = u64, Path, description = "The dead letter's log position")
    ),
    responses((status = 200, description = "Delivered; the remaining dead letters", body = [DeadLetter])))]
#[post("/webhooks/{subscription_id}/dead-letters/{position}/redelivery")]
pub async fn redeliver(
    state: Data<AppState>,
    caller: Caller,
    path: Path<(String, u64)>,
    _body: Json<StepRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.writer()?;
    let (id, position) = path.into_inner();
    let sub = view(&state, &id)?;
    let mut dead = outbox::dead_letters(state.store.as_ref(), &id)?;
    if !dead.iter().any(|d| d.position == position) {
        return Err(ApiError::NotFound(format!(
            "no dead letter at position {position}"
        )));
    }
    let event = state
        .store
        .read_all(position - 1, 1)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("no event at position {position}")))?;
    let secret: String = state
        .store
        .load_checkpoint(&format!("webhook/{id}/secret"))?
        .and_then(|c| serde_json::from_slice(&c.state).ok())
        .unwrap_or_default();
    let client = reqwest::Client::builder()
        .timeout(state.webhooks.timeout)
        .build()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    outbox::deliver(&client, &sub, &secret, &event, state.clock.now())
        .await
        .map_err(ApiError::DeliveryFailed)?;
    dead.retain(|d| d.position != position);
    outbox::save_dead_letters(state.store.as_ref(), &id, &dead)?;
    Ok(HttpResponse::Ok().json(dead))
}
