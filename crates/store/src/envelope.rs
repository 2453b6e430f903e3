//! The event envelope and the canonical bytes its hash covers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that precedes position 1: 64 hex zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who made the command that produced an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActor {
    pub person_id: String,
    pub role: String,
}

/// An event as the application hands it to the log, before it has a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub event_type: String,
    /// Version of the payload's shape, for upcasting.
    pub schema: u32,
    pub payload: serde_json::Value,
    pub actor: EventActor,
    /// Business time, given by the caller.
    pub occurred_at: DateTime<Utc>,
    pub policy_version: u32,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
}

/// Optimistic concurrency: what the caller believes the stream's version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (0 is the same as `NoStream`).
    Exact(u64),
}

/// The events for one stream within a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// An idempotency key and a fingerprint of the request it was used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idempotency {
    pub key: String,
    /// A hash of the request (method, path, body): the same key with another fingerprint is refused.
    pub fingerprint: String,
}

/// One atomic unit of appending: all of its streams' events land, or none.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub streams: Vec<StreamAppend>,
    pub idempotency: Option<Idempotency>,
    /// Server time stamped on every event of the commit (`recorded_at`).
    pub recorded_at: DateTime<Utc>,
}

/// An event as stored: the full envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Global, gapless, starting at 1.
    pub position: u64,
    pub stream: String,
    /// Per stream, gapless, starting at 1.
    pub version: u64,
    pub event_type: String,
    pub schema: u32,
    pub payload: serde_json::Value,
    pub actor: EventActor,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub policy_version: u32,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// Hex SHA-256 of the previous event (GENESIS_HASH for position 1).
    pub prev_hash: String,
    /// Hex SHA-256 of `canonical_bytes()`.
    pub hash: String,
}

/// The fields the hash covers, in a fixed order. `payload` is a `serde_json::Value` whose maps are
/// sorted by key (serde_json without `preserve_order`), so the bytes do not depend on who wrote them.
#[derive(Serialize)]
struct Canonical<'a, P: Serialize + ?Sized> {
    position: u64,
    stream: &'a str,
    version: u64,
    event_type: &'a str,
    schema: u32,
    payload: &'a P,
    actor: &'a EventActor,
    occurred_at: String,
    recorded_at: String,
    policy_version: u32,
    correlation_id: &'a Option<String>,
    causation_id: &'a Option<String>,
    idempotency_key: &'a Option<String>,
    prev_hash: &'a str,
}

impl RecordedEvent {
    /// The bytes that are hashed: compact JSON of every field but `hash`, in declaration order,
    /// times as RFC 3339 with nanoseconds and `Z`.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        self.canonical_with(&self.payload)
    }

    /// The canonical bytes with the payload given as its JSON (the same bytes `payload`
    /// serializes to), so the writer need not serialize the payload itself.
    fn canonical_with<P: Serialize + ?Sized>(&self, payload: &P) -> Vec<u8> {
        let c = Canonical {
            position: self.position,
            stream: &self.stream,
            version: self.version,
            event_type: &self.event_type,
            schema: self.schema,
            payload,
            actor: &self.actor,
            occurred_at: self
                .occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            recorded_at: self
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            policy_version: self.policy_version,
            correlation_id: &self.correlation_id,
            causation_id: &self.causation_id,
            idempotency_key: &self.idempotency_key,
            prev_hash: &self.prev_hash,
        };
        serde_json::to_vec(&c).expect("canonical envelope always serializes")
    }

    /// SHA-256 of the canonical bytes, hex.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }

    /// Sets `hash` and answers the bytes to store: the canonical bytes with the hash as their
    /// last field, so one serialization serves both the chain and the disk, and the stored
    /// bytes decode as this event. `middle` is [`prerender`] of this event: the writer, which
    /// alone knows position, version and the previous hash, only joins the pieces.
    pub(crate) fn seal_prerendered(&mut self, middle: &[u8]) -> Vec<u8> {
        let stream = serde_json::to_string(&self.stream).expect("strings serialize");
        let mut canonical = Vec::with_capacity(middle.len() + stream.len() + 160);
        canonical.extend_from_slice(b"{\"position\":");
        canonical.extend_from_slice(self.position.to_string().as_bytes());
        canonical.extend_from_slice(b",\"stream\":");
        canonical.extend_from_slice(stream.as_bytes());
        canonical.extend_from_slice(b",\"version\":");
        canonical.extend_from_slice(self.version.to_string().as_bytes());
        canonical.push(b',');
        canonical.extend_from_slice(middle);
        canonical.extend_from_slice(b",\"prev_hash\":\"");
        canonical.extend_from_slice(self.prev_hash.as_bytes());
        canonical.extend_from_slice(b"\"}");
        self.hash = hex::encode(Sha256::digest(&canonical));
        with_hash(canonical, &self.hash)
    }

    /// The bytes to store for an event whose `hash` is already set (an import).
    pub(crate) fn stored_bytes(&self) -> Vec<u8> {
        with_hash(self.canonical_bytes(), &self.hash)
    }
}

/// The canonical fields of an event from `event_type` to `idempotency_key`, without braces:
/// everything the caller of an append knows, rendered on the caller's thread so the one writer
/// thread does not serialize payloads (`seal_prerendered` adds the rest).
pub(crate) fn prerender(
    e: &NewEvent,
    recorded_at: DateTime<Utc>,
    idempotency_key: &Option<String>,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Middle<'a> {
        event_type: &'a str,
        schema: u32,
        payload: &'a serde_json::Value,
        actor: &'a EventActor,
        occurred_at: String,
        recorded_at: String,
        policy_version: u32,
        correlation_id: &'a Option<String>,
        causation_id: &'a Option<String>,
        idempotency_key: &'a Option<String>,
    }
    let mut bytes = serde_json::to_vec(&Middle {
        event_type: &e.event_type,
        schema: e.schema,
        payload: &e.payload,
        actor: &e.actor,
        occurred_at: e
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        recorded_at: recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        policy_version: e.policy_version,
        correlation_id: &e.correlation_id,
        causation_id: &e.causation_id,
        idempotency_key,
    })
    .expect("events serialize");
    bytes.pop();
    bytes.remove(0);
    bytes
}

/// `{...}` → `{...,"hash":"<hash>"}`.
fn with_hash(mut canonical: Vec<u8>, hash: &str) -> Vec<u8> {
    debug_assert_eq!(canonical.last(), Some(&b'}'));
    canonical.pop();
    canonical.reserve(hash.len() + 11);
    canonical.extend_from_slice(b",\"hash\":\"");
    canonical.extend_from_slice(hash.as_bytes());
    canonical.extend_from_slice(b"\"}");
    canonical
}

/// The result of a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendResult {
    /// Every event the commit appended (or, for a duplicate, the events the first attempt appended).
    pub events: Vec<RecordedEvent>,
    /// The position of the last event of the commit.
    pub last_position: u64,
    /// True when the idempotency key had been used before with the same fingerprint.
    pub duplicate: bool,
}

/// The end of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub position: u64,
    pub hash: String,
}

/// A saved projection state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last position folded into `state`.
    pub position: u64,
    pub state: Vec<u8>,
}

/// The result of walking the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub events_checked: u64,
    pub head: Head,
    /// The first position whose record is missing, undecodable, out of order or whose hash or
    /// `prev_hash` does not match; `None` when the chain is intact.
    pub first_broken: Option<u64>,
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bytes_decode_as_the_event_and_carry_the_hash_of_the_canonical_bytes() {
        let mut e = RecordedEvent {
            position: 7,
            stream: "unit-A1".into(),
            version: 2,
            event_type: "HandoverSigned".into(),
            schema: 1,
            payload: serde_json::json!({"z": [1, 2.5, "\u{00e9}\"q\n"], "a": {"y": null, "b": true}}),
            actor: EventActor {
                person_id: "wang.as".into(),
                role: "after_sales".into(),
            },
            occurred_at: "2026-03-02T09:00:00.123456789Z".parse().unwrap(),
            recorded_at: "2026-03-02T09:00:01Z".parse().unwrap(),
            policy_version: 2,
            correlation_id: Some("c-1".into()),
            causation_id: None,
            idempotency_key: Some("k".into()),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let new = NewEvent {
            event_type: e.event_type.clone(),
            schema: e.schema,
            payload: e.payload.clone(),
            actor: e.actor.clone(),
            occurred_at: e.occurred_at,
            policy_version: e.policy_version,
            correlation_id: e.correlation_id.clone(),
            causation_id: e.causation_id.clone(),
        };
        let middle = prerender(&new, e.recorded_at, &e.idempotency_key);
        let bytes = e.seal_prerendered(&middle);

        assert_eq!(e.hash, e.compute_hash());
        let decoded: RecordedEvent = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(decoded, e);
        // The joined pieces are exactly the canonical bytes plus the hash.
        assert_eq!(e.stored_bytes(), bytes);
    }
}
