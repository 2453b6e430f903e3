//! Shared by the projection benchmarks: a realistic log, decided by the domain itself.
//!
//! Each unit goes through opening, two signed handovers, registration, a signed handover to
//! repair, diagnosis, repair, inspection, placement and delivery (22 events).

#![allow(dead_code)]

use std::sync::Arc;

use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use repairledger_domain::unit::*;
use repairledger_domain::{Actor, Policy, Role};
use repairledger_projections::codec;
use repairledger_store::{
    Commit, EventActor, EventStore, ExpectedVersion, NewEvent, SledStore, StreamAppend,
};

pub fn unit_history(serial: &str, policy: &Policy) -> Vec<(UnitEvent, Actor)> {
    let fr = Actor::new("li.fr", Role::FieldReceiver);
    let asl = Actor::new("wang.as", Role::AfterSales);
    let rp = Actor::new("liu.rep", Role::Repair);
    let qc = Actor::new("sun.qc", Role::Qc);
    let ts = Actor::new("zhou.ts", Role::TechnicalService);
    let mut state = UnitState::new(serial);
    let mut at = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
    let mut out = Vec::new();
    let mut n = 0;
    let mut run = |actor: &Actor,
                   cmd: UnitCommand,
                   state: &mut UnitState,
                   out: &mut Vec<(UnitEvent, Actor)>| {
        at += Days::minutes(30);
        let events = decide(state, &cmd, &Ctx::new(actor, at, policy)).expect("a valid step");
        for e in events {
            *state = state.clone().evolve(&e);
            out.push((e, actor.clone()));
        }
    };
    let hand = |to: &Actor, n: &mut u32, plan: bool| {
        *n += 1;
        (
            UnitCommand::InitiateHandover(InitiateHandover {
                handover_id: format!("H{n}"),
                to: PersonRefInput {
                    person_id: to.person_id.clone(),
                    role: to.role,
                },
                plan: plan.then(|| PlanSnapshot {
                    plan_id: "P1".into(),
                    issued: true,
                    lists_unit: true,
                }),
            }),
            UnitCommand::SignHandover {
                handover_id: format!("H{n}"),
            },
        )
    };
    run(
        &fr,
        UnitCommand::OpenReturn(OpenReturn {
            return_id: "R1".into(),
            mode: ReturnMode::Carried,
            customer: CustomerRef {
                customer_id: "C1".into(),
                name: "Plant".into(),
            },
            product: Some(ProductInfo {
                model: "RD-40".into(),
                production_date: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
                warranty_end: NaiveDate::from_ymd_opt(2027, 6, 1).unwrap(),
                batch: None,
            }),
            form: OffSiteInfo {
                fault_symptoms: "channel 2 gives no output after warm-up".into(),
                site: "Huadong Power Plant, control room 3".into(),
                circumstances: "failed during the load test after a power cut".into(),
                filled_by: "li.fr".into(),
                unverifiable_reason: None,
            },
            customer_signature: Some(Signature {
                name: "Zhang".into(),
                signed_at: Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap(),
                evidence: SignatureEvidence::Typed {
                    reason: "signed the paper handover form".into(),
                },
            }),
            // Rule 3: a carried return records when the receiver came back (before the run).
            receiver_returned_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 7, 30, 0).unwrap()),
            customer_due_date: None,
        }),
        &mut state,
        &mut out,
    );
    for (from, to, plan, then) in [
        (&fr, &asl, false, Some(UnitCommand::Register)),
        (&asl, &rp, true, None),
    ] {
        let (i, s) = hand(to, &mut n, plan);
        run(from, i, &mut state, &mut out);
        run(to, s, &mut state, &mut out);
        if let Some(c) = then {
            run(to, c, &mut state, &mut out);
        }
    }
    run(
        &rp,
        UnitCommand::ConfirmFault {
            fault_found: true,
            cause: CauseCategory::ComponentQuality,
            analysis: "C12 dried out".into(),
        },
        &mut state,
        &mut out,
    );
    run(
        &rp,
        UnitCommand::RecordRepair {
            work_done: "replaced C12".into(),
        },
        &mut state,
        &mut out,
    );
    let (i, s) = hand(&qc, &mut n, false);
    run(&rp, i, &mut state, &mut out);
    run(&qc, s, &mut state, &mut out);
    run(
        &qc,
        UnitCommand::Inspect {
            passed: true,
            label: Some("QL-1".into()),
            findings: "ok".into(),
        },
        &mut state,
        &mut out,
    );
    let (i, s) = hand(&asl, &mut n, false);
    run(&qc, i, &mut state, &mut out);
    run(&asl, s, &mut state, &mut out);
    run(&asl, UnitCommand::PlaceForReturn, &mut state, &mut out);
    let (i, s) = hand(&ts, &mut n, false);
    run(&asl, i, &mut state, &mut out);
    run(&ts, s, &mut state, &mut out);
    run(
        &ts,
        UnitCommand::DeliverToCustomer {
            customer_signature: Signature {
                name: "Zhang".into(),
                signed_at: Utc.with_ymd_and_hms(2026, 3, 3, 8, 0, 0).unwrap(),
                evidence: SignatureEvidence::Typed {
                    reason: "signed the paper delivery note".into(),
                },
            },
        },
        &mut state,
        &mut out,
    );
    out
}

/// The events of a unit's history as the log takes them.
pub fn unit_events(serial: &str, policy: &Policy) -> Vec<NewEvent> {
    unit_history(serial, policy)
        .into_iter()
        .map(|(e, actor)| {
            let (event_type, payload) = codec::encode(&e);
            NewEvent {
                schema: codec::current_schema(&event_type),
                event_type,
                payload,
                actor: EventActor {
                    person_id: actor.person_id,
                    role: actor.role.to_string(),
                },
                occurred_at: Utc::now(),
                policy_version: 1,
                correlation_id: None,
                causation_id: None,
            }
        })
        .collect()
}

/// Appends the whole histories of units `from..to` (one commit per unit), 64 writers at once.
pub async fn fill(store: &SledStore, from: usize, to: usize) {
    let policy = Arc::new(Policy::default_policy());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(from));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (store, policy, next) = (store.clone(), policy.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let u = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if u >= to {
                        return;
                    }
                    let serial = format!("SN-{u}");
                    store
                        .append(Commit {
                            streams: vec![StreamAppend {
                                stream: format!("unit-{serial}"),
                                expected: ExpectedVersion::NoStream,
                                events: unit_events(&serial, &policy),
                            }],
                            idempotency: None,
                            recorded_at: Utc::now(),
                        })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// Events per unit history.
pub fn events_per_unit() -> usize {
    unit_history("SN-0", &Policy::default_policy()).len()
}
