//! Property tests: random interleavings of commands by random people on shared units. Whatever
//! the order, the rules hold: custody moves only by a signed handover to its named receiver, a
//! unit is in at most one zone with every entry and exit a ledger line, nothing reaches repair
//! unregistered or off-plan, and a refused command changes nothing.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use repairledger_domain::unit::*;
use repairledger_domain::{Actor, Policy, Role};

const UNITS: usize = 3;

fn people() -> Vec<Actor> {
    vec![
        Actor::new("fr1", Role::FieldReceiver),
        Actor::new("fr2", Role::FieldReceiver),
        Actor::new("as1", Role::AfterSales),
        Actor::new("as2", Role::AfterSales),
        Actor::new("rp1", Role::Repair),
        Actor::new("qc1", Role::Qc),
        Actor::new("ts1", Role::TechnicalService),
        Actor::new("dev1", Role::Development),
    ]
}

#[derive(Debug, Clone)]
struct Op {
    unit: usize,
    actor: usize,
    other: usize,
    kind: u8,
    flag_a: bool,
    flag_b: bool,
    /// Act as a random person instead of the one the step calls for (to exercise refusals).
    chaos: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..UNITS,
        0..8usize,
        0..8usize,
        0..17u8,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(unit, actor, other, kind, flag_a, flag_b, chaos)| Op {
            unit,
            actor,
            other,
            kind,
            flag_a,
            flag_b,
            chaos,
        })
}

fn sig(at: DateTime<Utc>) -> Signature {
    Signature {
        name: "Customer".into(),
        signed_at: at,
        evidence: SignatureEvidence::Typed {
            reason: "signed the paper handover form".into(),
        },
    }
}

/// The command kinds that may make progress at this step; chaos picks any kind.
fn kind_for(op: &Op, state: &UnitState) -> u8 {
    if op.chaos {
        return op.kind;
    }
    let plausible: &[u8] = if state.pending_handover.is_some() {
        &[3, 4, 5]
    } else {
        match state.step {
            Step::New | Step::AtCustomer | Step::AwaitingRetrieval => &[0],
            Step::Received => &[6, 1],
            Step::InRepair => &[7, 8, 9],
            Step::InInspection => &[10],
            Step::Qualified => &[1, 11, 12],
            Step::OutForDelivery => &[13],
            Step::Unrepairable => &[1, 14],
            Step::Disposed => &[1, 13, 15],
            Step::MustScrap => &[1, 15],
            Step::NoFaultTwice => &[1, 13, 15, 16],
            _ => &[1],
        }
    };
    plausible[op.kind as usize % plausible.len()]
}

/// Who would naturally make this command: the custodian, the named receiver, or the role the
/// step needs; a random person when the op asks for chaos.
fn actor_for(op: &Op, state: &UnitState, people: &[Actor]) -> Actor {
    let by_role = |role: Role| people.iter().find(|p| p.role == role).cloned();
    let natural = match op.kind {
        _ if op.chaos => None,
        0 => by_role(if op.flag_a {
            Role::FieldReceiver
        } else {
            Role::AfterSales
        }),
        3..=5 => state
            .pending_handover
            .as_ref()
            .map(|p| Actor::new(p.to.person_id.clone(), p.to.role)),
        16 => by_role(Role::Development),
        _ => state.custodian().map(|(p, r)| Actor::new(p, r)),
    };
    natural.unwrap_or_else(|| people[op.actor].clone())
}

fn command(
    op: &Op,
    n: usize,
    state: &UnitState,
    people: &[Actor],
    at: DateTime<Utc>,
) -> UnitCommand {
    // The receiver: someone the route allows, unless chaos picks anyone.
    let allowed = allowed_receivers(state);
    let other = match allowed.get(op.other % allowed.len().max(1)) {
        Some(role) if !op.chaos => people
            .iter()
            .find(|p| p.role == *role)
            .unwrap_or(&people[op.other]),
        _ => &people[op.other],
    };
    let pending = state
        .pending_handover
        .as_ref()
        .map(|p| p.handover_id.clone())
        .unwrap_or_else(|| "H-none".into());
    match op.kind {
        0 => UnitCommand::OpenReturn(OpenReturn {
            return_id: format!("R{n}"),
            mode: if op.flag_a {
                ReturnMode::Carried
            } else {
                ReturnMode::CustomerDirect
            },
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
                fault_symptoms: "no output".into(),
                site: "line 3".into(),
                circumstances: "after a power cut".into(),
                filled_by: "fr1".into(),
                unverifiable_reason: None,
            },
            customer_signature: None,
            receiver_returned_at: None,
            customer_due_date: None,
        }),
        1 | 2 => UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: format!("H{n}"),
            to: PersonRefInput {
                person_id: other.person_id.clone(),
                role: other.role,
            },
            plan: Some(PlanSnapshot {
                plan_id: "P1".into(),
                issued: op.flag_a || !op.chaos,
                lists_unit: op.flag_b || !op.chaos,
            }),
        }),
        3 | 4 => UnitCommand::SignHandover {
            handover_id: pending,
        },
        5 => UnitCommand::CancelHandover {
            handover_id: pending,
            reason: "changed plans".into(),
        },
        6 => UnitCommand::Register,
        7 => UnitCommand::ConfirmFault {
            fault_found: op.flag_a,
            cause: if op.flag_a {
                CauseCategory::ComponentQuality
            } else {
                CauseCategory::NoFaultFound
            },
            analysis: "bench test".into(),
        },
        8 => UnitCommand::RecordRepair {
            work_done: "replaced C12".into(),
        },
        9 => UnitCommand::DeclareUnrepairable {
            reason: UnrepairableReason::BadlyDamaged,
            detail: "board burnt".into(),
        },
        10 => UnitCommand::Inspect {
            passed: op.flag_a,
            label: Some("QL-1".into()),
            findings: "functional test".into(),
        },
        11 => UnitCommand::PlaceForReturn,
        12 => UnitCommand::RegisterAsSpare,
        13 => UnitCommand::DeliverToCustomer {
            customer_signature: sig(at),
        },
        14 => UnitCommand::DecideDisposition {
            customer_cause: op.flag_a,
            customer_needs_unit: op.flag_b,
            explanation: Some("explained to the customer".into()),
        },
        15 => UnitCommand::Scrap {
            reason: "scrap procedure".into(),
        },
        _ => UnitCommand::ConfirmNoFault {
            finding: "confirmed".into(),
        },
    }
}

fn holder(s: &UnitState) -> Option<(String, Role)> {
    s.custodian().map(|(p, r)| (p.to_string(), r))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn rules_hold_in_any_interleaving(ops in proptest::collection::vec(op(), 1..120)) {
        let policy = Policy::default_policy();
        let people = people();
        let mut units: Vec<UnitState> = (0..UNITS).map(|i| UnitState::new(format!("SN{i}"))).collect();
        // The zone each unit is in, folded from ledger lines alone.
        let mut ledger: Vec<Option<Zone>> = vec![None; UNITS];
        let mut at = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        for (n, op) in ops.iter().enumerate() {
            at += Duration::minutes(10);
            let before = units[op.unit].clone();
            let op = &Op { kind: kind_for(op, &before), ..op.clone() };
            let actor = &actor_for(op, &before, &people);
            let cmd = command(op, n, &before, &people, at);
            let Ok(events) = decide(&before, &cmd, &Ctx::new(actor, at, &policy)) else {
                // A refusal appends nothing: the state is simply not evolved.
                continue;
            };
            let after = events.iter().fold(before.clone(), |s, e| s.evolve(e));
            for e in &events {
                match e {
                    UnitEvent::ZoneEntered { zone, .. } => {
                        prop_assert_eq!(ledger[op.unit], None, "entered {:?} while in a zone", zone);
                        ledger[op.unit] = Some(*zone);
                    }
                    UnitEvent::ZoneExited { zone, .. } => {
                        prop_assert_eq!(ledger[op.unit], Some(*zone), "left a zone it was not in");
                        ledger[op.unit] = None;
                    }
                    UnitEvent::HandoverInitiated { .. } => {
                        prop_assert_eq!(
                            holder(&before).map(|h| h.0),
                            Some(actor.person_id.clone()),
                            "only the custodian hands over"
                        );
                    }
                    UnitEvent::HandoverSigned { to, .. } => {
                        prop_assert_eq!(&to.person_id, &actor.person_id, "only the named receiver signs");
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(after.zone, ledger[op.unit], "state and ledger agree");
            // Custody passes between people only through a signed handover.
            if let (Some(a), Some(b)) = (holder(&before), holder(&after)) {
                if a != b {
                    let signed = events.iter().any(|e| matches!(e, UnitEvent::HandoverSigned { to, .. } if to.person_id == b.0));
                    prop_assert!(signed, "custody moved from {:?} to {:?} without a signature", a, b);
                }
            }
            // Nothing reaches repair unregistered or off an issued plan.
            if after.step == Step::InRepair && before.step != Step::InRepair {
                let r = after.open_return().expect("an open return");
                prop_assert!(r.in_warranty.is_some(), "repair before registration");
                prop_assert!(r.plan_id.is_some(), "repair without a plan");
            }
            units[op.unit] = after;
        }
    }
}
