//! The harness the projection tests share: a log folded straight into a `ReadModel` (no store),
//! and a timer judged at an instant the way the API judges it (a cancelled clock by
//! `evaluate_cancelled`, every other by `evaluate`).
#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use repairledger_domain::sla::{self, TimerState};
use repairledger_domain::{Policy, Role};
use repairledger_projections::{codec, ReadModel};
use repairledger_store::{EventActor, RecordedEvent};
use serde::Serialize;

/// Tuesday 2026-03-03, 09:00 in +08:00.
pub fn t0() -> DateTime<Utc> {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 3, 3, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[derive(Default)]
pub struct Log {
    pub model: ReadModel,
    versions: std::collections::BTreeMap<String, u64>,
}

impl Log {
    pub fn new() -> Log {
        Log {
            model: ReadModel::new(),
            versions: Default::default(),
        }
    }

    pub fn add<E: Serialize>(
        &mut self,
        stream: &str,
        who: (&str, Role),
        at: DateTime<Utc>,
        e: E,
    ) -> &mut Self {
        let (event_type, payload) = codec::encode(&e);
        let version = self.versions.entry(stream.to_string()).or_insert(0);
        *version += 1;
        let position = self.model.position + 1;
        let recorded = RecordedEvent {
            position,
            stream: stream.to_string(),
            version: *version,
            schema: codec::current_schema(&event_type),
            event_type,
            payload,
            actor: EventActor {
                person_id: who.0.into(),
                role: who.1.as_str().into(),
            },
            occurred_at: at,
            recorded_at: at,
            policy_version: 2,
            correlation_id: None,
            causation_id: None,
            idempotency_key: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.model.apply(&recorded).expect("the event folds");
        self
    }

    pub fn judge(&self, timer_id: &str, now: DateTime<Utc>) -> TimerState {
        let policy = Policy::default_policy();
        let t = self.model.timers.get(timer_id).unwrap_or_else(|| {
            panic!(
                "no timer {timer_id}: {:?}",
                self.model.timers.keys().collect::<Vec<_>>()
            )
        });
        let budget = sla::budget_for(t.rule, t.started_at, &t.params, &policy);
        let (cal, risk) = (policy.calendar(), policy.service.at_risk_percent);
        match (&t.cancellation, t.stopped_at) {
            (Some(_), Some(at)) => {
                sla::evaluate_cancelled(budget, t.started_at, &t.pauses, at, now, &cal, risk)
            }
            _ => sla::evaluate(
                budget,
                t.started_at,
                &t.pauses,
                t.stopped_at,
                now,
                &cal,
                risk,
            ),
        }
        .state
    }
}
