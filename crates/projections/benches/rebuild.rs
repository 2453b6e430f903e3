//! Rebuild speed: the full projection rebuild against a deserialize-only pass over the same log
//! (read every envelope and decode its domain event, fold nothing), side by side in one run.
//!
//! The log is realistic: units taken through opening, two signed handovers, registration, a
//! signed handover to repair, diagnosis, repair, inspection, placement, delivery; all decided by
//! the domain itself. `cargo bench -p repairledger-projections --bench rebuild` (BENCH_UNITS).

use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use repairledger_domain::unit::*;
use repairledger_domain::{Actor, Policy, Role};
use repairledger_projections::codec;
use repairledger_store::{
    Commit, EventActor, EventStore, ExpectedVersion, NewEvent, SledStore, SledStoreConfig,
    StreamAppend,
};

fn unit_history(serial: &str, policy: &Policy) -> Vec<(UnitEvent, Actor)> {
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
            customer_signature: None,
            receiver_returned_at: None,
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
            },
        },
        &mut state,
        &mut out,
    );
    out
}

fn main() {
    let units: usize = std::env::var("BENCH_UNITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::default_policy();
    let store = rt
        .block_on(async { SledStore::open(SledStoreConfig::new(dir.path().join("log"))).unwrap() });
    rt.block_on(async {
        for u in 0..units {
            let serial = format!("SN-{u}");
            let events = unit_history(&serial, &policy)
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
                .collect();
            store
                .append(Commit {
                    streams: vec![StreamAppend {
                        stream: format!("unit-{serial}"),
                        expected: ExpectedVersion::NoStream,
                        events,
                    }],
                    idempotency: None,
                    recorded_at: Utc::now(),
                })
                .await
                .unwrap();
        }
    });
    let total = store.head().unwrap().position;
    let deserialize_only = || {
        let start = Instant::now();
        let mut after = 0;
        let mut n = 0u64;
        loop {
            let page = store.read_all(after, 1024).unwrap();
            if page.is_empty() {
                break;
            }
            for e in &page {
                let ev: UnitEvent = codec::decode(e).unwrap();
                std::hint::black_box(ev);
                n += 1;
            }
            after = page.last().unwrap().position;
        }
        assert_eq!(n, total);
        start.elapsed()
    };
    let rebuild = || {
        let start = Instant::now();
        let m = repairledger_projections::rebuild(&store, |_| {}).unwrap();
        assert_eq!(m.position, total);
        start.elapsed()
    };
    let mut best: [Duration; 2] = [Duration::MAX; 2];
    for _ in 0..3 {
        best[0] = best[0].min(deserialize_only());
        best[1] = best[1].min(rebuild());
    }
    let r = |d: Duration| total as f64 / d.as_secs_f64();
    println!("projection rebuild over {total} events ({units} units), best of 3 (events/s)");
    println!("{:>20} {:>14}", "deserialize-only", "rebuild");
    println!(
        "{:>20.0} {:>14.0}   rebuild / deserialize-only = {:.2}x",
        r(best[0]),
        r(best[1]),
        r(best[1]) / r(best[0])
    );
}
