//! Following the log: filtered pages, one stream's history, a live Server-Sent Events stream that
//! resumes from `Last-Event-ID`, and whole-log export.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{Bytes, Data, Path, Query};
use actix_web::{get, http::header, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use repairledger_store::{export, EventStore, RecordedEvent};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::command::{envelopes, page_limit};
use crate::dto::{EventEnvelope, EventPage};
use crate::problem::ApiError;
use crate::AppState;

/// How many events one request may scan looking for matches before it answers with a cursor.
const SCAN_BUDGET: usize = 10_000;
const PAGE: usize = 500;

/// Which events a reader wants.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Events with a position greater than this (0 for the start).
    pub after: Option<u64>,
    /// At most this many events (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only these event types, comma-separated (e.g. `HandoverSigned,ZoneEntered`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// Only streams whose name starts with this (e.g. `unit-`, `plan-P-7`).
    pub stream_prefix: Option<String>,
    /// Only events recorded at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only events recorded before this instant.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Filter {
    types: Option<Vec<String>>,
    stream_prefix: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Filter {
    pub(crate) fn new(types: Option<Vec<String>>, stream_prefix: Option<String>) -> Filter {
        Filter {
            types,
            stream_prefix,
            from: None,
            to: None,
        }
    }

    fn of(q: &FeedQuery) -> Filter {
        Filter {
            types: q
                .event_type
                .as_ref()
                .map(|t| t.split(',').map(|s| s.trim().to_string()).collect()),
            stream_prefix: q.stream_prefix.clone(),
            from: q.from,
            to: q.to,
        }
    }

    fn matches(&self, e: &RecordedEvent) -> bool {
        self.types
            .as_ref()
            .is_none_or(|t| t.contains(&e.event_type))
            && self
                .stream_prefix
                .as_ref()
                .is_none_or(|p| e.stream.starts_with(p.as_str()))
            && self.from.is_none_or(|f| e.recorded_at >= f)
            && self.to.is_none_or(|t| e.recorded_at < t)
    }
}

/// Scans from `after` for up to `limit` matches within the scan budget. Returns the matches and
/// the last position scanned (the cursor to continue from).
pub(crate) fn scan(
    store: &dyn EventStore,
    after: u64,
    limit: usize,
    filter: &Filter,
) -> Result<(Vec<RecordedEvent>, u64), ApiError> {
    let mut out = Vec::new();
    let mut cursor = after;
    let mut scanned = 0;
    while out.len() < limit && scanned < SCAN_BUDGET {
        let page = store.read_all(cursor, PAGE)?;
        if page.is_empty() {
            break;
        }
        for e in page {
            scanned += 1;
            cursor = e.position;
            if filter.matches(&e) {
                out.push(e);
                if out.len() == limit {
                    break;
                }
            }
        }
    }
    Ok((out, cursor))
}

/// The log in position order, filtered, for integrators following it and auditors replaying it.
///
/// Continue with `after = next_after`: it advances past events scanned but filtered out, so a
/// sparse filter never makes a client read the same range twice.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "listEvents",
    params(FeedQuery),
    responses((status = 200, description = "A page of the log", body = EventPage)))]
#[get("/events")]
pub async fn list_events(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = q.after.unwrap_or(0);
    let limit = page_limit(q.limit, 1000)?;
    let head = state.store.head()?.position;
    let (events, next_after) = scan(state.store.as_ref(), after, limit, &Filter::of(&q))?;
    Ok(HttpResponse::Ok().json(EventPage {
        events: envelopes(&events),
        next_after,
        head,
    }))
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The first version to return (default 1).
    pub from_version: Option<u64>,
    /// At most this many events (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// A page of one stream's events.
#[derive(Debug, Clone, serde::Serialize, Deserialize, ToSchema)]
pub struct StreamPage {
    pub stream: String,
    /// The stream's current version.
    pub version: u64,
    pub events: Vec<EventEnvelope>,
    /// Pass as `from_version` for the next page; absent when this page reaches the end.
    pub next_from_version: Option<u64>,
}

/// One stream's events in version order (`unit-{serial}`, `plan-{id}`, `production-{id}`, `policy`).
#[utoipa::path(get, path = "/v1/streams/{stream}/events", tag = "events", operation_id = "getStreamEvents",
    params(("stream" = String, Path, description = "The stream name"), StreamQuery),
    responses((status = 200, description = "A page of the stream", body = StreamPage)))]
#[get("/streams/{stream}/events")]
pub async fn stream_events(
    state: Data<AppState>,
    _caller: Caller,
    stream: Path<String>,
    q: Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit, 1000)?;
    let version = state
        .store
        .stream_version(&stream)?
        .ok_or_else(|| ApiError::NotFound(format!("no stream {:?}", stream.as_str())))?;
    let from = q.from_version.unwrap_or(1).max(1);
    let events = state.store.read_stream(&stream, from, limit)?;
    let next = events
        .last()
        .map(|e| e.version + 1)
        .filter(|v| *v <= version);
    Ok(HttpResponse::Ok().json(StreamPage {
        stream: stream.into_inner(),
        version,
        events: envelopes(&events),
        next_from_version: next,
    }))
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// Start after this position; `Last-Event-ID` takes precedence when a client reconnects.
    pub after: Option<u64>,
    /// Only these event types, comma-separated.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// Only streams whose name starts with this.
    pub stream_prefix: Option<String>,
    /// Close the stream after this many events (for batch consumers and tests).
    pub max_events: Option<u64>,
}

/// One Server-Sent Event of `GET /v1/events/live` (`sse_frame`): the stream carries these, and
/// keep-alive comments between them.
#[derive(ToSchema)]
pub struct LiveEvent {
    /// The event's log position: send it back as `Last-Event-ID` to resume after it.
    #[schema(pattern = "^[0-9]+$")]
    pub id: String,
    /// The event's type (`HandoverSigned`, ...).
    pub event: String,
    /// The envelope (`EventEnvelope`) as JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// A keep-alive comment at this interval keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn sse_frame(e: &RecordedEvent) -> String {
    let data = serde_json::to_string(&EventEnvelope::from(e)).expect("envelopes serialize");
    format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        e.position, e.event_type
    )
}

struct Live {
    store: Arc<dyn EventStore>,
    head: tokio::sync::watch::Receiver<u64>,
    cursor: u64,
    filter: Filter,
    left: Option<u64>,
    vault: Arc<repairledger_privacy::Vault>,
    disclosure: repairledger_privacy::Disclosure,
}

/// Live events as Server-Sent Events: `id` is the log position, `event` the type, `data` the
/// envelope. Reconnect with `Last-Event-ID` to resume with no gap and no duplicate.
#[utoipa::path(get, path = "/v1/events/live", tag = "events", operation_id = "followEvents",
    params(LiveQuery, ("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "Resume after this position")),
    responses((status = 200, description = "text/event-stream of envelopes: each event is a `LiveEvent`", content_type = "text/event-stream", body = LiveEvent)))]
#[get("/events/live")]
pub async fn live(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    q: Query<LiveQuery>,
) -> Result<HttpResponse, ApiError> {
    let last_event_id = match req.headers().get("Last-Event-ID") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::InvalidHeader("Last-Event-ID must be a log position".into())
                })?,
        ),
        None => None,
    };
    let filter = Filter::of(&FeedQuery {
        event_type: q.event_type.clone(),
        stream_prefix: q.stream_prefix.clone(),
        ..FeedQuery::default()
    });
    let start = Live {
        store: state.store.clone(),
        head: state.store.subscribe(),
        cursor: last_event_id.or(q.after).unwrap_or(0),
        filter,
        left: q.max_events,
        vault: state.vault.clone(),
        // A stream is not buffered by the gate: each frame is disclosed here.
        disclosure: if crate::authz::sees_personal_data(caller.0.role) {
            repairledger_privacy::Disclosure::Reveal
        } else {
            repairledger_privacy::Disclosure::Redact
        },
    };
    let body = futures::stream::unfold(start, |mut s| async move {
        loop {
            if s.left == Some(0) {
                return None;
            }
            let limit = s.left.map_or(100, |l| l.min(100) as usize);
            let (events, cursor) = match scan(s.store.as_ref(), s.cursor, limit, &s.filter) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "live feed read failed");
                    return None;
                }
            };
            let moved = cursor != s.cursor;
            s.cursor = cursor;
            if !events.is_empty() {
                if let Some(l) = s.left.as_mut() {
                    *l -= events.len() as u64;
                }
                let chunk: String = events.iter().map(sse_frame).collect();
                let chunk =
                    repairledger_privacy::disclose_json(chunk.as_bytes(), &s.vault, s.disclosure)
                        .unwrap_or_else(|| chunk.into_bytes());
                return Some((Ok::<_, actix_web::Error>(Bytes::from(chunk)), s));
            }
            if moved {
                continue;
            }
            // Caught up: wait for the next durable commit, or say we are still here.
            s.head.mark_unchanged();
            match tokio::time::timeout(KEEPALIVE, s.head.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return None,
                Err(_) => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), s)),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One envelope per line, exactly as hashed; `repairledger import` reads it back.
    #[default]
    Jsonl,
    /// CloudEvents 1.0 structured JSON, one per line.
    Cloudevents,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Export events after this position (default 0).
    pub after: Option<u64>,
    /// Export up to and including this position (default: the head when the export starts).
    pub until: Option<u64>,
    pub format: Option<ExportFormat>,
}

/// The whole log (or a range) as JSON Lines: an online backup, or the input of an import.
#[utoipa::path(get, path = "/v1/export", tag = "audit", operation_id = "exportLog",
    params(ExportQuery),
    responses((status = 200, description = "application/x-ndjson, one envelope per line", content_type = "application/x-ndjson", body = String)))]
#[get("/export")]
pub async fn export_log(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let until = match q.until {
        Some(u) => u,
        None => state.store.head()?.position,
    };
    let format = q.format.unwrap_or_default();
    let store = state.store.clone();
    let body = futures::stream::unfold(q.after.unwrap_or(0), move |cursor| {
        let store = store.clone();
        async move {
            if cursor >= until {
                return None;
            }
            let page = match store.read_all(cursor, PAGE) {
                Ok(p) if !p.is_empty() => p,
                Ok(_) => return None,
                Err(e) => {
                    tracing::error!(error = %e, "export read failed");
                    return None;
                }
            };
            let mut chunk = String::new();
            let mut next = cursor;
            for e in page.iter().take_while(|e| e.position <= until) {
                let line = match format {
                    ExportFormat::Jsonl => export::to_json_line(e),
                    ExportFormat::Cloudevents => export::to_cloud_event(e).to_string(),
                };
                chunk.push_str(&line);
                chunk.push('\n');
                next = e.position;
            }
            if next == cursor {
                return None;
            }
            Some((Ok::<_, actix_web::Error>(Bytes::from(chunk)), next))
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/x-ndjson"))
        .streaming(body))
}
