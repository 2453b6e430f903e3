//! What every backend decides the same way: which commits of a batch land and at which
//! positions, versions and hashes; whether an import continues the chain; whether a chain
//! verifies. The backends only fetch what is known (stream versions, idempotency keys) and
//! write the outcome, so sled and PostgreSQL cannot drift apart on the rules.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::{
    AppendResult, Commit, ExpectedVersion, Head, RecordedEvent, StoreError, VerifyReport,
    GENESIS_HASH,
};

pub(crate) type Reply = oneshot::Sender<Result<AppendResult, StoreError>>;

/// A commit on its way to the writer, its events already rendered by the caller (all but
/// position, version and the previous hash): that work is spread over the callers' threads
/// instead of the one writer's.
pub(crate) struct Queued {
    pub commit: Commit,
    pub payloads: Vec<Vec<u8>>,
    pub reply: Reply,
}

impl Queued {
    pub fn new(commit: Commit, reply: Reply) -> Queued {
        let key = commit.idempotency.as_ref().map(|i| i.key.clone());
        let payloads = commit
            .streams
            .iter()
            .flat_map(|s| &s.events)
            .map(|e| crate::envelope::prerender(e, commit.recorded_at, &key))
            .collect();
        Queued {
            commit,
            payloads,
            reply,
        }
    }
}

/// Queues `commit` for a backend's writer (`wrap` makes it the writer's message) and waits for
/// the answer. A full queue is refused at once rather than waited for.
pub(crate) async fn submit<M>(
    queue: &tokio::sync::mpsc::Sender<M>,
    commit: Commit,
    wrap: impl FnOnce(Box<Queued>) -> M,
) -> Result<AppendResult, StoreError> {
    use tokio::sync::mpsc::error::TrySendError;
    let (reply, answer) = oneshot::channel();
    queue
        .try_send(wrap(Box::new(Queued::new(commit, reply))))
        .map_err(|e| match e {
            TrySendError::Full(_) => StoreError::Unavailable("write queue full".into()),
            TrySendError::Closed(_) => StoreError::Unavailable("the writer has stopped".into()),
        })?;
    answer
        .await
        .map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
}

/// What an idempotency key points at: the fingerprint of its request and the commit's positions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdemRecord {
    pub fingerprint: String,
    pub first: u64,
    pub last: u64,
}

/// The fate of one commit within a batch.
pub(crate) enum Outcome {
    Accepted {
        events: Vec<RecordedEvent>,
        /// The bytes to store, one per event (taken when the batch is written).
        encoded: Vec<Vec<u8>>,
        idem: Option<(String, IdemRecord)>,
    },
    Duplicate {
        first: u64,
        last: u64,
    },
    Rejected(StoreError),
}

/// What the log already holds, as a backend reads it.
pub(crate) trait Known {
    fn idempotency(&self, key: &str) -> Result<Option<IdemRecord>, StoreError>;
    /// 0 for a stream without events.
    fn version(&self, stream: &str) -> Result<u64, StoreError>;
}

/// Decides a batch in order against `head` and what is known: each commit sees the ones
/// before it in the batch. Answers the outcomes, the replies in the same order, and the head
/// after the accepted ones.
pub(crate) fn plan(
    batch: Vec<Queued>,
    head: &Head,
    known: &impl Known,
) -> (Vec<Outcome>, Vec<Reply>, Head) {
    let mut head = head.clone();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut keys: HashMap<String, IdemRecord> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for q in batch {
        let Queued {
            commit,
            payloads,
            reply,
        } = q;
        let before = head.clone();
        let outcome = plan_one(commit, payloads, &mut head, &mut versions, &mut keys, known);
        if matches!(outcome, Outcome::Rejected(_)) {
            head = before;
        }
        outcomes.push(outcome);
        replies.push(reply);
    }
    (outcomes, replies, head)
}

fn plan_one(
    commit: Commit,
    payloads: Vec<Vec<u8>>,
    head: &mut Head,
    versions: &mut HashMap<String, u64>,
    keys: &mut HashMap<String, IdemRecord>,
    known: &impl Known,
) -> Outcome {
    // The idempotency key first: a retry of a commit that landed is not a conflict.
    if let Some(idem) = &commit.idempotency {
        let found = match keys.get(&idem.key).cloned() {
            Some(r) => Some(r),
            None => match known.idempotency(&idem.key) {
                Ok(r) => r,
                Err(e) => return Outcome::Rejected(e),
            },
        };
        if let Some(rec) = found {
            return if rec.fingerprint == idem.fingerprint {
                Outcome::Duplicate {
                    first: rec.first,
                    last: rec.last,
                }
            } else {
                Outcome::Rejected(StoreError::IdempotencyMismatch {
                    key: idem.key.clone(),
                })
            };
        }
    }
    if commit.streams.is_empty() || commit.streams.iter().any(|s| s.events.is_empty()) {
        return Outcome::Rejected(StoreError::EmptyCommit);
    }
    let mut local: HashMap<&str, u64> = HashMap::new();
    let mut start: HashMap<&str, u64> = HashMap::new();
    for s in &commit.streams {
        let current = match local.get(s.stream.as_str()) {
            Some(v) => *v,
            None => match versions.get(&s.stream) {
                Some(v) => *v,
                None => match known.version(&s.stream) {
                    Ok(v) => v,
                    Err(e) => return Outcome::Rejected(e),
                },
            },
        };
        let ok = match s.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(v) => current == v,
        };
        if !ok {
            return Outcome::Rejected(StoreError::Conflict {
                stream: s.stream.clone(),
                expected: s.expected,
                actual: (current > 0).then_some(current),
            });
        }
        start.entry(&s.stream).or_insert(current);
        local.insert(&s.stream, current + s.events.len() as u64);
    }
    if payloads.len() != commit.streams.iter().map(|s| s.events.len()).sum::<usize>() {
        return Outcome::Rejected(StoreError::Storage("a payload went missing".into()));
    }
    for (stream, v) in local {
        versions.insert(stream.to_string(), v);
    }
    let mut stream_versions: HashMap<String, u64> =
        start.into_iter().map(|(s, v)| (s.to_string(), v)).collect();
    let first = head.position + 1;
    let mut events = Vec::with_capacity(payloads.len());
    let mut encoded = Vec::with_capacity(payloads.len());
    let mut payloads = payloads.into_iter();
    let idempotency_key = commit.idempotency.as_ref().map(|i| i.key.clone());
    for s in commit.streams {
        for (e, middle) in s.events.into_iter().zip(payloads.by_ref()) {
            let version = stream_versions.entry(s.stream.clone()).or_insert(0);
            *version += 1;
            head.position += 1;
            let mut rec = RecordedEvent {
                position: head.position,
                stream: s.stream.clone(),
                version: *version,
                event_type: e.event_type,
                schema: e.schema,
                payload: e.payload,
                actor: e.actor,
                occurred_at: e.occurred_at,
                recorded_at: commit.recorded_at,
                policy_version: e.policy_version,
                correlation_id: e.correlation_id,
                causation_id: e.causation_id,
                idempotency_key: idempotency_key.clone(),
                prev_hash: std::mem::take(&mut head.hash),
                hash: String::new(),
            };
            let bytes = rec.seal_prerendered(&middle);
            head.hash = rec.hash.clone();
            events.push(rec);
            encoded.push(bytes);
        }
    }
    let idem = commit.idempotency.as_ref().map(|i| {
        let rec = IdemRecord {
            fingerprint: i.fingerprint.clone(),
            first,
            last: head.position,
        };
        keys.insert(i.key.clone(), rec.clone());
        (i.key.clone(), rec)
    });
    Outcome::Accepted {
        events,
        encoded,
        idem,
    }
}

/// A stored record read back: it must decode and sit at the position it claims.
pub(crate) fn decode(position: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    let e: RecordedEvent = serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        position,
        reason: format!("record does not decode: {err}"),
    })?;
    if e.position != position {
        return Err(StoreError::Corrupt {
            position,
            reason: format!("record claims position {}", e.position),
        });
    }
    Ok(e)
}

/// Checks that `events` continue the chain at `head` exactly (position, `prev_hash`,
/// recomputed hash, stream versions) and answers the new head and the idempotency keys the
/// events carry. Those come back with an unknowable fingerprint, so a retry after a restore is
/// refused rather than applied twice.
pub(crate) fn check_import(
    head: &Head,
    events: &[RecordedEvent],
    known: &impl Known,
) -> Result<(Head, Vec<(String, IdemRecord)>), StoreError> {
    let mut head = head.clone();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut keys: Vec<(String, IdemRecord)> = Vec::new();
    for e in events {
        let bad = |reason: String| StoreError::Corrupt {
            position: e.position,
            reason,
        };
        if e.position != head.position + 1 {
            return Err(bad(format!("expected position {}", head.position + 1)));
        }
        if e.prev_hash != head.hash {
            return Err(bad("prev_hash does not continue the chain".into()));
        }
        if e.compute_hash() != e.hash {
            return Err(bad("hash does not match the record".into()));
        }
        let current = match versions.get(&e.stream) {
            Some(v) => *v,
            None => known.version(&e.stream)?,
        };
        if e.version != current + 1 {
            return Err(bad(format!(
                "stream {} expected version {}",
                e.stream,
                current + 1
            )));
        }
        versions.insert(e.stream.clone(), e.version);
        if let Some(key) = &e.idempotency_key {
            match keys.last_mut() {
                Some((k, r)) if k == key && r.last + 1 == e.position => r.last = e.position,
                _ => keys.push((
                    key.clone(),
                    IdemRecord {
                        fingerprint: "imported".into(),
                        first: e.position,
                        last: e.position,
                    },
                )),
            }
        }
        head.position = e.position;
        head.hash = e.hash.clone();
    }
    Ok((head, keys))
}

/// Walks a chain record by record, in position order, against the head the log claims.
pub(crate) struct ChainCheck {
    head: Head,
    expected_prev: String,
    checked: u64,
    broken: Option<(u64, String)>,
}

impl ChainCheck {
    pub fn new(head: Head) -> ChainCheck {
        ChainCheck {
            head,
            expected_prev: GENESIS_HASH.to_string(),
            checked: 0,
            broken: None,
        }
    }

    /// Checks the next record (`position` as stored, the record as decoded). Answers false
    /// once the chain is broken: there is no point in reading on.
    pub fn next(&mut self, position: u64, record: Result<RecordedEvent, StoreError>) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let expected_position = self.checked + 1;
        if position != expected_position {
            self.broken = Some((expected_position, format!("gap: next record is {position}")));
            return false;
        }
        let e = match record {
            Ok(e) => e,
            Err(err) => {
                self.broken = Some((position, err.to_string()));
                return false;
            }
        };
        if e.prev_hash != self.expected_prev {
            self.broken = Some((
                position,
                "prev_hash does not link to the previous event".into(),
            ));
            return false;
        }
        if e.compute_hash() != e.hash {
            self.broken = Some((position, "hash does not match the record's content".into()));
            return false;
        }
        self.expected_prev = e.hash;
        self.checked += 1;
        true
    }

    pub fn report(self) -> VerifyReport {
        let broken = self.broken.or_else(|| {
            (self.checked != self.head.position || self.expected_prev != self.head.hash).then(
                || {
                    (
                        self.checked.max(self.head.position),
                        format!(
                            "the head says position {}, the chain ends at {}",
                            self.head.position, self.checked
                        ),
                    )
                },
            )
        });
        VerifyReport {
            events_checked: self.checked,
            head: self.head,
            first_broken: broken.as_ref().map(|b| b.0),
            reason: broken.map(|b| b.1),
        }
    }
}
