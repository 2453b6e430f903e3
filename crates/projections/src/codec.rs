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

/// One step of schema evolution: turns a payload of `event_type` at schema `from` into `from + 1`.
/// Stored events are never rewritten (their hashes cover them); they are upcast when read.
pub struct Upcaster {
    pub event_type: &'static str,
    pub from: u32,
    pub up: fn(serde_json::Value) -> serde_json::Value,
}

/// Every shape change ever made, oldest first. A new change is one entry here and the new shape
/// in the domain.
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "UnitRegistered",
    from: 1,
    up: unit_registered_v1_to_v2,
}];

/// Schema 1 had `warranty_end` and `in_warranty` beside `arrived_on`; schema 2 nests them in
/// `warranty` with the date they were judged on, which was always the arrival date.
fn unit_registered_v1_to_v2(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        let end = o.remove("warranty_end").unwrap_or(serde_json::Value::Null);
        let in_warranty = o.remove("in_warranty").unwrap_or(serde_json::Value::Null);
        let judged_on = o
            .get("arrived_on")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        o.insert(
            "warranty".into(),
            serde_json::json!({ "end": end, "judged_on": judged_on, "in_warranty": in_warranty }),
        );
    }
    v
}

/// The schema version new events of this type are written with.
pub fn current_schema(event_type: &str) -> u32 {
    1 + UPCASTERS
        .iter()
        .filter(|u| u.event_type == event_type)
        .count() as u32
}

/// Brings a stored payload up to the current schema of its type.
pub fn upcast(event_type: &str, schema: u32, mut payload: serde_json::Value) -> serde_json::Value {
    for u in UPCASTERS
        .iter()
        .filter(|u| u.event_type == event_type && u.from >= schema)
    {
        payload = (u.up)(payload);
    }
    payload
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
    let mut payload = upcast(
        &recorded.event_type,
        recorded.schema,
        recorded.payload.clone(),
    );
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
    Service,
    Penalty,
    Complaint,
    Quality,
    Webhook,
    /// A customer's personal-data record (erasures).
    Customer,
    /// An API token's life: issued, revoked.
    Token,
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
    } else if let Some(id) = stream.strip_prefix("service-") {
        (StreamKind::Service, id)
    } else if let Some(id) = stream.strip_prefix("penalty-") {
        (StreamKind::Penalty, id)
    } else if let Some(id) = stream.strip_prefix("complaint-") {
        (StreamKind::Complaint, id)
    } else if let Some(id) = stream.strip_prefix("quality-") {
        (StreamKind::Quality, id)
    } else if let Some(id) = stream.strip_prefix("webhook-") {
        (StreamKind::Webhook, id)
    } else if let Some(id) = stream.strip_prefix("customer-") {
        (StreamKind::Customer, id)
    } else if let Some(id) = stream.strip_prefix("token-") {
        (StreamKind::Token, id)
    } else if stream == repairledger_domain::streams::POLICY {
        (StreamKind::Policy, stream)
    } else {
        (StreamKind::Other, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_1_registration_reads_as_schema_2() {
        let v1 = serde_json::json!({
            "return_id": "R-1", "arrived_on": "2026-03-02", "warranty_end": "2027-09-01",
            "in_warranty": true, "at": "2026-03-02T09:00:00Z"
        });
        let v2 = upcast("UnitRegistered", 1, v1);
        assert_eq!(
            v2["warranty"],
            serde_json::json!({ "end": "2027-09-01", "judged_on": "2026-03-02", "in_warranty": true })
        );
        assert!(v2.get("warranty_end").is_none());
        assert_eq!(current_schema("UnitRegistered"), 2);
        assert_eq!(current_schema("HandoverSigned"), 1);
        let unchanged = serde_json::json!({ "x": 1 });
        assert_eq!(upcast("UnitRegistered", 2, unchanged.clone()), unchanged);
    }
}
