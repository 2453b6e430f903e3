//! Arbitrary bytes as a stored event, read back the way the log and the projections read one.
//!
//! 1. The bytes as a record of the log: the sled store decodes a record with
//!    `serde_json::from_slice::<RecordedEvent>`, `verify`/start-up/`import` hash it, exports write
//!    it as a JSON line or a CloudEvent, and the projections decode it into the domain event of
//!    each stream kind. The other stored envelope types are decoded from the bytes too.
//! 2. The bytes as `<event type>\n<payload JSON>`: a well-formed envelope around an arbitrary
//!    type and payload, at several schema versions (so the upcasters run), decoded into every
//!    stream's event enum.
//!
//! Nothing here may panic.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use repairledger_domain::access::TokenEvent;
use repairledger_domain::complaint::ComplaintEvent;
use repairledger_domain::penalty::PenaltyEvent;
use repairledger_domain::plan::PlanEvent;
use repairledger_domain::privacy::PrivacyEvent;
use repairledger_domain::production::ProductionEvent;
use repairledger_domain::quality::QualityEvent;
use repairledger_domain::service::ServiceEvent;
use repairledger_domain::unit::UnitEvent;
use repairledger_projections::codec;
use repairledger_projections::integration::WebhookEvent;
use repairledger_store::{
    export, AppendResult, Checkpoint, EventActor, Head, RecordedEvent, VerifyReport, GENESIS_HASH,
};
use serde_json::Value;

/// The projections' decoding of one recorded event, for every stream kind's event enum.
fn decode_all(e: &RecordedEvent) {
    let _ = codec::stream_kind(&e.stream);
    let _ = codec::current_schema(&e.event_type);
    let _ = codec::decode::<UnitEvent>(e);
    let _ = codec::decode::<PlanEvent>(e);
    let _ = codec::decode::<ProductionEvent>(e);
    let _ = codec::decode::<ServiceEvent>(e);
    let _ = codec::decode::<ComplaintEvent>(e);
    let _ = codec::decode::<QualityEvent>(e);
    let _ = codec::decode::<PenaltyEvent>(e);
    let _ = codec::decode::<WebhookEvent>(e);
    let _ = codec::decode::<TokenEvent>(e);
    let _ = codec::decode::<PrivacyEvent>(e);
}

fn envelope(event_type: String, schema: u32, payload: Value, at: DateTime<Utc>) -> RecordedEvent {
    RecordedEvent {
        position: 1,
        stream: "unit-SN-1".into(),
        version: 1,
        event_type,
        schema,
        payload,
        actor: EventActor {
            person_id: "fuzz".into(),
            role: "system".into(),
        },
        occurred_at: at,
        recorded_at: at,
        policy_version: 1,
        correlation_id: None,
        causation_id: None,
        idempotency_key: None,
        prev_hash: GENESIS_HASH.into(),
        hash: String::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. A stored record, as the store reads it.
    if let Ok(e) = serde_json::from_slice::<RecordedEvent>(data) {
        let _ = e.compute_hash();
        let line = export::to_json_line(&e);
        let _ = export::from_json_line(&line);
        let _ = export::to_cloud_event(&e);
        decode_all(&e);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = export::from_json_line(text);
    }
    let _ = serde_json::from_slice::<Checkpoint>(data);
    let _ = serde_json::from_slice::<Head>(data);
    let _ = serde_json::from_slice::<AppendResult>(data);
    let _ = serde_json::from_slice::<VerifyReport>(data);

    // 2. An arbitrary event type and payload in a well-formed envelope.
    if let Some(nl) = data.iter().position(|&b| b == b'\n') {
        let (head, rest) = (&data[..nl], &data[nl + 1..]);
        if let Ok(payload) = serde_json::from_slice::<Value>(rest) {
            let event_type = String::from_utf8_lossy(head).into_owned();
            let at = DateTime::<Utc>::UNIX_EPOCH;
            for schema in [0, 1, 2, u32::MAX] {
                let e = envelope(event_type.clone(), schema, payload.clone(), at);
                decode_all(&e);
                let _ = e.compute_hash();
            }
        }
    }
});
