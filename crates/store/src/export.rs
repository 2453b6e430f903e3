//! Export formats. JSON Lines: one envelope per line, exactly as stored and hashed, so
//! `import` reproduces the head hash. CloudEvents 1.0 (structured JSON): for integrators whose
//! tooling speaks CloudEvents; every envelope field rides along as an extension attribute.

use crate::RecordedEvent;

/// One JSON Lines record (no trailing newline).
pub fn to_json_line(e: &RecordedEvent) -> String {
    serde_json::to_string(e).expect("envelopes serialize")
}

/// Parses one JSON Lines record.
pub fn from_json_line(line: &str) -> Result<RecordedEvent, serde_json::Error> {
    serde_json::from_str(line)
}

/// A CloudEvents 1.0 structured-mode event. Extension names are lower-case letters and digits
/// only, as the spec requires.
pub fn to_cloud_event(e: &RecordedEvent) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": e.hash,
        "source": format!("urn:repairledger:{}", e.stream),
        "type": format!("dev.repairledger.{}", e.event_type),
        "subject": e.stream,
        "time": e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "datacontenttype": "application/json",
        "dataschema": format!("urn:repairledger:schema:{}:{}", e.event_type, e.schema),
        "data": e.payload,
        "position": e.position,
        "streamversion": e.version,
        "schema": e.schema,
        "occurredat": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "actorperson": e.actor.person_id,
        "actorrole": e.actor.role,
        "policyversion": e.policy_version,
        "correlationid": e.correlation_id,
        "causationid": e.causation_id,
        "idempotencykey": e.idempotency_key,
        "prevhash": e.prev_hash,
        "hash": e.hash,
    })
}
