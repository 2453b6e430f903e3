//! Domain events to and from the log's `(event_type, payload)` pair. The domain enums are
//! internally tagged by `type`; the envelope keeps the tag apart, so it is split off on the way
//! in and put back on the way out.

use repairledger_store::RecordedEvent;
use serde::{de::DeserializeOwned, Serialize};

/// Why a stored event could not be read as a domain event.
#[derive(Debug, thiserror::Error)]
#[error("event at position {position} ({event_type}) does not decode: {reason}")]
pub struct DecodeError {
    pub position: u64,
    pub event_type: String,
    pub reason: String,
}

/// Splits a domain event into its type and payload.
pub fn encode<E: Serialize>(event: &E) -> (String, serde_json::Value) {
    let mut value = serde_json::to_value(event).expect("domain events always serialize");
    let event_type = value
        .as_object_mut()
        .and_then(|o| o.remove("type"))
        .and_then(|t| t.as_str().map(str::to_string))
        .expect("domain events are tagged with `type`");
    (event_type, value)
}

/// Reads a stored event back as a domain event.
pub fn decode<E: DeserializeOwned>(recorded: &RecordedEvent) -> Result<E, DecodeError> {
    let err = |reason: String| DecodeError {
        position: recorded.position,
        event_type: recorded.event_type.clone(),
        reason,
    };
    let mut payload = recorded.payload.clone();
    let obj = payload
        .as_object_mut()
        .ok_or_else(|| err("payload is not an object".into()))?;
    obj.insert(
        "type".into(),
        serde_json::Value::String(recorded.event_type.clone()),
    );
    serde_json::from_value(payload).map_err(|e| err(e.to_string()))
}

/// The aggregate kind a stream belongs to, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Unit,
    Plan,
    Production,
    Policy,
    Other,
}

pub fn stream_kind(stream: &str) -> (StreamKind, &str) {
    if let Some(id) = stream.strip_prefix("unit-") {
        (StreamKind::Unit, id)
    } else if let Some(id) = stream.strip_prefix("plan-") {
        (StreamKind::Plan, id)
    } else if let Some(id) = stream.strip_prefix("production-") {
        (StreamKind::Production, id)
    } else if stream == repairledger_domain::streams::POLICY {
        (StreamKind::Policy, stream)
    } else {
        (StreamKind::Other, stream)
    }
}
