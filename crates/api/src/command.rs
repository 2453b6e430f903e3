//! The one path every command takes: authenticate, check the idempotency key, load state, decide,
//! check `If-Match`, append durably, catch the projections up, answer with the new position.

use actix_web::{http::header, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use repairledger_domain::unit::Ctx;
use repairledger_domain::{Actor, DomainError};
use repairledger_projections::codec;
use repairledger_store::{
    AppendResult, Commit, EventActor, ExpectedVersion, Idempotency, NewEvent, RecordedEvent,
    StreamAppend,
};
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use crate::auth::Caller;
use crate::dto::{CommandResponse, EventEnvelope, StreamVersion};
use crate::problem::ApiError;
use crate::AppState;

/// Everything about a command that is not its body.
pub struct Meta {
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub if_match: Option<u64>,
    pub idempotency: Option<Idempotency>,
    pub correlation_id: String,
    pub causation_id: Option<String>,
}

/// Upper bounds on header values, so a client cannot fill the log with them.
pub const MAX_HEADER_LEN: usize = 200;

fn header_value(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::InvalidHeader(format!("{name} is not visible ASCII")))?
                .trim()
                .to_string();
            if s.is_empty() || s.len() > MAX_HEADER_LEN {
                return Err(ApiError::InvalidHeader(format!(
                    "{name} must have 1 to {MAX_HEADER_LEN} characters"
                )));
            }
            Ok(Some(s))
        }
    }
}

/// `If-Match: "3"` (or `3`, or `W/"3"`) is the stream version the client decided against: 1 to
/// 19 digits, so every accepted value fits a `u64` (the OpenAPI document states the same pattern).
fn parse_if_match(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(v) = header_value(req, "If-Match")? else {
        return Ok(None);
    };
    let digits = match v.strip_prefix("W/").unwrap_or(&v) {
        t if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') => &t[1..t.len() - 1],
        _ if v.starts_with("W/") => "",
        t => t,
    };
    if !(1..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::InvalidHeader(format!(
            "If-Match must be a stream version such as \"3\", got {v:?}"
        )));
    }
    Ok(Some(
        digits.parse::<u64>().expect("1 to 19 digits fit a u64"),
    ))
}

impl Meta {
    /// Reads the headers and bounds the business time: a command may not claim to happen in the
    /// future, nor further back than the configured limit.
    pub fn new<B: Serialize>(
        req: &HttpRequest,
        state: &AppState,
        caller: &Caller,
        occurred_at: Option<DateTime<Utc>>,
        body: &B,
    ) -> Result<Meta, ApiError> {
        let actor = caller.writer()?;
        let now = state.clock.now();
        let at = occurred_at.unwrap_or(now);
        if at > now + state.limits.future_skew {
            return Err(ApiError::OccurredAtOutOfBounds(format!(
                "{at} is in the future (server time {now})"
            )));
        }
        if at < now - state.limits.max_backdate {
            return Err(ApiError::OccurredAtOutOfBounds(format!(
                "{at} is more than {} days before server time {now}",
                state.limits.max_backdate.num_days()
            )));
        }
        let body_value = serde_json::to_value(body).expect("request bodies serialize");
        check_sizes(&body_value, "body")?;
        check_customer_ids(&body_value)?;
        let body_json = serde_json::to_vec(&body_value).expect("request bodies serialize");
        let idempotency = header_value(req, "Idempotency-Key")?.map(|key| {
            let mut h = Sha256::new();
            h.update(req.method().as_str().as_bytes());
            h.update(b" ");
            h.update(req.path().as_bytes());
            h.update(b"\n");
            h.update(actor.person_id.as_bytes());
            h.update(b"\n");
            h.update(&body_json);
            Idempotency {
                key,
                fingerprint: hex::encode(h.finalize()),
            }
        });
        let correlation_id = match header_value(req, "X-Correlation-Id")? {
            Some(c) => c,
            None => uuid::Uuid::new_v4().to_string(),
        };
        Ok(Meta {
            actor,
            at,
            if_match: parse_if_match(req)?,
            idempotency,
            correlation_id,
            causation_id: header_value(req, "X-Causation-Id")?,
        })
    }
}

/// Longest string and list a command body may carry: generous for forms, small for the log.
pub const MAX_STRING: usize = 4000;
pub const MAX_LIST: usize = 500;

fn check_sizes(v: &serde_json::Value, path: &str) -> Result<(), ApiError> {
    match v {
        serde_json::Value::String(s) if s.chars().count() > MAX_STRING => Err(
            ApiError::MalformedRequest(format!("{path} is longer than {MAX_STRING} characters")),
        ),
        serde_json::Value::Array(a) if a.len() > MAX_LIST => Err(ApiError::MalformedRequest(
            format!("{path} has more than {MAX_LIST} items"),
        )),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_sizes(x, &format!("{path}[{i}]"))),
        serde_json::Value::Object(o) => o
            .iter()
            .try_for_each(|(k, x)| check_sizes(x, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

/// A customer's id keys their personal data and names the stream of its erasure
/// (`POST /v1/customers/{customer_id}/erasure`): an id like any other, wherever a body names a
/// `customer`.
fn check_customer_ids(v: &serde_json::Value) -> Result<(), ApiError> {
    match v {
        serde_json::Value::Object(o) => {
            if let Some(id) = o
                .get("customer")
                .and_then(|c| c.get("customer_id"))
                .and_then(serde_json::Value::as_str)
            {
                check_id("customer.customer_id", id)?;
            }
            o.values().try_for_each(check_customer_ids)
        }
        serde_json::Value::Array(a) => a.iter().try_for_each(check_customer_ids),
        _ => Ok(()),
    }
}

/// A page size: `limit` (default 100) within 1..=`max`.
pub fn page_limit(limit: Option<usize>, max: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(100);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::MalformedRequest(format!(
            "limit must be 1..={max}"
        )))
    }
}

/// Ids become stream names and URL segments: letters, digits, `.`, `_`, `-`; 1 to 64 characters.
pub fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    check_id_up_to(field, id, 64)
}

/// Ids made of other ids (a breach id is `{subject}.{rule}.{n}`) may be longer.
pub fn check_id_up_to(field: &str, id: &str, max: usize) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= max
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::MalformedRequest(format!(
            "{field} must be 1 to {max} letters, digits, '.', '_' or '-', got {id:?}"
        )))
    }
}

/// One stream's share of a decision: the version it was decided against and its new events.
pub struct Planned {
    pub stream: String,
    pub decided_at: u64,
    pub events: Vec<(String, serde_json::Value)>,
}

impl Planned {
    pub fn new<E: Serialize>(stream: String, decided_at: u64, events: &[E]) -> Planned {
        Planned {
            stream,
            decided_at,
            events: events.iter().map(codec::encode).collect(),
        }
    }
}

/// Decoded domain events of recently used streams, with the version they reach. Events never
/// change, so a cached prefix stays true: a command reads and decodes only what was appended
/// after it (usually nothing). Reading and decoding the whole stream on every command was a
/// sixth of the CPU of durable commands (measured, docs/performance.md).
#[derive(Default)]
pub struct StreamCache {
    map: std::sync::Mutex<HashMap<String, CachedStream>>,
}

/// A version and the decoded events up to it (an `Arc<Vec<E>>` for the stream's event type).
type CachedStream = (u64, Arc<dyn Any + Send + Sync>);

/// Most streams the cache holds; when full it starts again empty.
const STREAM_CACHE: usize = 20_000;

impl StreamCache {
    /// Forgets every stream: after the log was reopened, a cached prefix may hold a batch the
    /// disk never took.
    pub fn clear(&self) {
        self.map.lock().expect("stream cache lock").clear();
    }

    fn get<E: Send + Sync + 'static>(&self, stream: &str) -> Option<(u64, Arc<Vec<E>>)> {
        let map = self.map.lock().expect("stream cache lock");
        let (version, events) = map.get(stream)?;
        Some((*version, events.clone().downcast::<Vec<E>>().ok()?))
    }

    fn put<E: Send + Sync + 'static>(&self, stream: &str, version: u64, events: Arc<Vec<E>>) {
        let mut map = self.map.lock().expect("stream cache lock");
        if map.len() >= STREAM_CACHE && !map.contains_key(stream) {
            map.clear();
        }
        map.insert(stream.to_string(), (version, events));
    }
}

/// A stream's domain events and version.
pub fn load<E: DeserializeOwned + Clone + Send + Sync + 'static>(
    state: &AppState,
    stream: &str,
) -> Result<(Arc<Vec<E>>, u64), ApiError> {
    let current = state.store.stream_version(stream)?.unwrap_or(0);
    let cached = state.streams.get::<E>(stream);
    if let Some((version, events)) = &cached {
        if *version == current {
            return Ok((events.clone(), current));
        }
    }
    let (from, mut events) = match cached {
        Some((version, events)) if version < current => (version + 1, (*events).clone()),
        _ => (1, Vec::new()),
    };
    let recorded = state.store.read_stream(stream, from, usize::MAX)?;
    for e in &recorded {
        events.push(codec::decode::<E>(e)?);
    }
    let version = recorded.last().map(|e| e.version).unwrap_or(from - 1);
    let events = Arc::new(events);
    if version > 0 {
        state.streams.put(stream, version, events.clone());
    }
    Ok((events, version))
}

/// How many times a command without `If-Match` is decided again after losing a race.
const RETRIES: usize = 3;

/// Runs a command. `decide` is called against fresh state on every attempt.
pub async fn execute(
    state: &AppState,
    meta: Meta,
    primary_stream: &str,
    decide: impl Fn(&AppState, &Ctx) -> Result<Vec<Planned>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (result, replayed) = execute_result(state, meta, primary_stream, decide).await?;
    Ok(respond(&result, replayed))
}

/// [`execute`], answering what was appended (or replayed, `true`) instead of the response, for
/// commands whose answer carries more than the events (an issued token).
pub async fn execute_result(
    state: &AppState,
    meta: Meta,
    primary_stream: &str,
    decide: impl Fn(&AppState, &Ctx) -> Result<Vec<Planned>, ApiError>,
) -> Result<(AppendResult, bool), ApiError> {
    let timer = state.metrics.command_seconds.start_timer();
    let result = execute_measured(state, meta, primary_stream, decide).await;
    timer.observe_duration();
    let outcome = match &result {
        Ok((_, true)) => "replayed",
        Ok((r, false)) => {
            state.metrics.events_appended.inc_by(r.events.len() as u64);
            "accepted"
        }
        Err(ApiError::Unavailable(_) | ApiError::Disk { .. } | ApiError::Internal(_)) => "failed",
        Err(_) => "refused",
    };
    state.metrics.commands.with_label_values(&[outcome]).inc();
    result
}

/// The command itself; answers what it appended and whether it was an idempotent replay.
async fn execute_measured(
    state: &AppState,
    meta: Meta,
    primary_stream: &str,
    decide: impl Fn(&AppState, &Ctx) -> Result<Vec<Planned>, ApiError>,
) -> Result<(AppendResult, bool), ApiError> {
    if let Some(idem) = &meta.idempotency {
        if let Some((fingerprint, original)) = state.store.idempotency(&idem.key)? {
            if fingerprint != idem.fingerprint {
                return Err(ApiError::IdempotencyKeyReused);
            }
            return Ok((original, true));
        }
    }
    // A precondition is judged before the command: a stale client learns that first.
    if let Some(expected) = meta.if_match {
        let current = state.store.stream_version(primary_stream)?.unwrap_or(0);
        if current != expected {
            return Err(ApiError::VersionMismatch { expected, current });
        }
    }
    let policy = &state.policy;
    let ctx = Ctx::new(&meta.actor, meta.at, policy);
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let planned = decide(state, &ctx)?;
        let primary = planned
            .first()
            .ok_or_else(|| ApiError::Internal("a decision produced no stream".into()))?;
        if let Some(expected) = meta.if_match {
            if expected != primary.decided_at {
                return Err(ApiError::VersionMismatch {
                    expected,
                    current: primary.decided_at,
                });
            }
        }
        let planned = planned
            .into_iter()
            .map(|p| seal(state, p))
            .collect::<Result<Vec<_>, _>>()?;
        let commit = Commit {
            streams: planned
                .into_iter()
                .map(|p| StreamAppend {
                    stream: p.stream,
                    expected: ExpectedVersion::Exact(p.decided_at),
                    events: p
                        .events
                        .into_iter()
                        .map(|(event_type, payload)| NewEvent {
                            schema: codec::current_schema(&event_type),
                            event_type,
                            payload,
                            actor: EventActor {
                                person_id: meta.actor.person_id.clone(),
                                role: meta.actor.role.to_string(),
                            },
                            occurred_at: meta.at,
                            policy_version: policy.version,
                            correlation_id: Some(meta.correlation_id.clone()),
                            causation_id: meta.causation_id.clone(),
                        })
                        .collect(),
                })
                .collect(),
            idempotency: meta.idempotency.clone(),
            recorded_at: state.clock.now(),
        };
        match state.store.append(commit).await {
            Ok(r) => break r,
            Err(repairledger_store::StoreError::Conflict { actual, .. }) => {
                if let Some(expected) = meta.if_match {
                    return Err(ApiError::VersionMismatch {
                        expected,
                        current: actual.unwrap_or(0),
                    });
                }
                if attempt >= RETRIES {
                    return Err(ApiError::ConcurrentModification { current: actual });
                }
            }
            // A write that failed left nothing acknowledged: the client may retry.
            Err(repairledger_store::StoreError::Storage(m)) => {
                tracing::error!(error = %m, "append failed");
                return Err(ApiError::Unavailable(
                    "the event log could not write; retry".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    };
    state
        .projector
        .catch_up_with(&result.events, state.store.as_ref())?;
    let duplicate = result.duplicate;
    Ok((result, duplicate))
}

/// Seals the customer's personal data in a decision's events before they reach the log, under
/// the key of the customer the event names, or else the customer of its stream.
fn seal(state: &AppState, mut p: Planned) -> Result<Planned, ApiError> {
    for (_, payload) in p.events.iter_mut() {
        let subject = repairledger_privacy::subject_in(payload)
            .or_else(|| state.projector.read(|m| m.customer_of(&p.stream)))
            .unwrap_or_else(|| p.stream.clone());
        repairledger_privacy::seal_payload(payload, &subject, &state.vault).map_err(|e| {
            tracing::error!(error = %e, "the key vault failed");
            ApiError::Unavailable("the key vault could not seal personal data; retry".into())
        })?;
    }
    Ok(p)
}

fn respond(result: &AppendResult, replayed: bool) -> HttpResponse {
    let mut streams: Vec<StreamVersion> = Vec::new();
    for e in &result.events {
        match streams.iter_mut().find(|s| s.stream == e.stream) {
            Some(s) => s.version = e.version,
            None => streams.push(StreamVersion {
                stream: e.stream.clone(),
                version: e.version,
            }),
        }
    }
    let etag = streams
        .first()
        .map(|s| format!("\"{}\"", s.version))
        .unwrap_or_default();
    let body = CommandResponse {
        position: result.last_position,
        streams,
        events: result.events.iter().map(EventEnvelope::from).collect(),
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag));
    if replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res.json(body)
}

/// Runs a command on an aggregate that has a stream of its own (service requests, complaints,
/// quality cases): `make` builds the command, with the app state at hand for facts the
/// projections know.
pub async fn aggregate_command<A: repairledger_domain::Aggregate>(
    state: &AppState,
    meta: Meta,
    id: &str,
    make: impl Fn(&AppState) -> Result<A::Command, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (result, replayed) = aggregate_result::<A>(state, meta, id, make).await?;
    Ok(respond(&result, replayed))
}

/// [`aggregate_command`], answering what was appended.
pub async fn aggregate_result<A: repairledger_domain::Aggregate>(
    state: &AppState,
    meta: Meta,
    id: &str,
    make: impl Fn(&AppState) -> Result<A::Command, ApiError>,
) -> Result<(AppendResult, bool), ApiError> {
    check_id(A::ID, id)?;
    let stream = A::stream(id);
    execute_result(state, meta, &stream, |state, ctx| {
        let (events, version) = load::<A::Event>(state, &stream)?;
        let current = A::fold(id, &events);
        let cmd = make(state)?;
        let new = current.decide(id, &cmd, ctx).map_err(refused)?;
        Ok(vec![Planned::new(stream.clone(), version, &new)])
    })
    .await
}

/// Turns a domain refusal into the API error, for closures that mix both.
pub fn refused(e: DomainError) -> ApiError {
    ApiError::Domain(e)
}

/// Events of a stream as envelopes, for the history endpoints.
pub fn envelopes(events: &[RecordedEvent]) -> Vec<EventEnvelope> {
    events.iter().map(EventEnvelope::from).collect()
}
