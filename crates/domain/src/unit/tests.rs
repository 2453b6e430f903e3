//! One given/when/then test per rule of domain.md §1, with the refusal beside it.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::*;
use crate::{Actor, DomainError, Policy, Role};

fn fr() -> Actor {
    Actor::new("fr1", Role::FieldReceiver)
}
fn after_sales() -> Actor {
    Actor::new("as1", Role::AfterSales)
}
fn repair() -> Actor {
    Actor::new("rp1", Role::Repair)
}
fn qc() -> Actor {
    Actor::new("qc1", Role::Qc)
}
fn ts() -> Actor {
    Actor::new("ts1", Role::TechnicalService)
}
fn dev() -> Actor {
    Actor::new("dev1", Role::Development)
}

fn to(a: &Actor) -> PersonRefInput {
    PersonRefInput {
        person_id: a.person_id.clone(),
        role: a.role,
    }
}

fn sig() -> Signature {
    Signature {
        name: "Customer Rep".into(),
        signed_at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        evidence: SignatureEvidence::Captured {
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            media_type: "image/png".into(),
        },
    }
}

fn customer() -> CustomerRef {
    CustomerRef {
        customer_id: "c1".into(),
        name: "Plant One".into(),
    }
}

fn form() -> OffSiteInfo {
    OffSiteInfo {
        fault_symptoms: "no output on channel 2".into(),
        site: "Plant One, line 3".into(),
        circumstances: "failed after a power cut".into(),
        filled_by: "fr1".into(),
        unverifiable_reason: None,
    }
}

/// When the field receiver came back to the factory: before every test's first command.
fn receiver_back() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

fn open_cmd(return_id: &str, mode: ReturnMode, form: OffSiteInfo) -> UnitCommand {
    UnitCommand::OpenReturn(OpenReturn {
        return_id: return_id.into(),
        mode,
        customer: customer(),
        product: None,
        form,
        customer_signature: match mode {
            ReturnMode::Mailed => None,
            _ => Some(sig()),
        },
        receiver_returned_at: (mode == ReturnMode::Carried).then(receiver_back),
        customer_due_date: None,
    })
}

fn plan(issued: bool, lists_unit: bool) -> Option<PlanSnapshot> {
    Some(PlanSnapshot {
        plan_id: "P1".into(),
        issued,
        lists_unit,
    })
}

/// A unit driven through real decisions, so each test starts from a state the rules reached.
struct World {
    state: UnitState,
    policy: Policy,
    now: DateTime<Utc>,
    n: u32,
}

impl World {
    fn new() -> World {
        Self::produced(
            NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
            NaiveDate::from_ymd_opt(2027, 6, 1).unwrap(),
        )
    }

    fn produced(production_date: NaiveDate, warranty_end: NaiveDate) -> World {
        let mut w = World {
            state: UnitState::new("SN1"),
            policy: Policy::default_policy(),
            now: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
            n: 0,
        };
        w.state = w.state.evolve(&UnitEvent::ProductIdentified {
            serial: "SN1".into(),
            product: ProductInfo {
                model: "RD-40".into(),
                production_date,
                warranty_end,
                batch: None,
            },
        });
        w.state = w.state.evolve(&UnitEvent::IssuedAsExchange {
            faulty_serial: "none".into(),
            customer: customer(),
            customer_signature: sig(),
            at: w.now,
        });
        w
    }

    fn try_(&mut self, actor: &Actor, cmd: UnitCommand) -> Result<Vec<UnitEvent>, DomainError> {
        self.now += Duration::hours(1);
        let events = decide(&self.state, &cmd, &Ctx::new(actor, self.now, &self.policy))?;
        for e in &events {
            self.state = self.state.clone().evolve(e);
        }
        Ok(events)
    }

    fn ok(&mut self, actor: &Actor, cmd: UnitCommand) -> Vec<UnitEvent> {
        let c = format!("{cmd:?}");
        self.try_(actor, cmd)
            .unwrap_or_else(|e| panic!("{c} refused: {e}"))
    }

    fn err(&mut self, actor: &Actor, cmd: UnitCommand) -> DomainError {
        let before = self.state.clone();
        let e = self.try_(actor, cmd).expect_err("should be refused");
        assert_eq!(self.state, before, "a refusal changes nothing");
        e
    }

    fn hand(&mut self, from: &Actor, to_actor: &Actor, plan: Option<PlanSnapshot>) {
        self.n += 1;
        let id = format!("H{}", self.n);
        self.ok(
            from,
            UnitCommand::InitiateHandover(InitiateHandover {
                handover_id: id.clone(),
                to: to(to_actor),
                plan,
            }),
        );
        self.ok(to_actor, UnitCommand::SignHandover { handover_id: id });
    }

    fn open(&mut self) {
        let n = self.state.returns.len() + 1;
        self.ok(
            &fr(),
            UnitCommand::OpenReturn(OpenReturn {
                return_id: format!("R{n}"),
                mode: ReturnMode::Carried,
                customer: customer(),
                product: None,
                form: form(),
                customer_signature: Some(sig()),
                receiver_returned_at: Some(self.now),
                customer_due_date: None,
            }),
        );
    }

    fn registered(&mut self) {
        self.open();
        self.hand(&fr(), &after_sales(), None);
        self.ok(&after_sales(), UnitCommand::Register);
    }

    fn in_repair(&mut self) {
        self.registered();
        self.hand(&after_sales(), &repair(), plan(true, true));
    }

    fn diagnose(&mut self, fault: bool) -> Vec<UnitEvent> {
        self.ok(
            &repair(),
            UnitCommand::ConfirmFault {
                fault_found: fault,
                cause: if fault {
                    CauseCategory::ComponentQuality
                } else {
                    CauseCategory::NoFaultFound
                },
                analysis: if fault {
                    "capacitor C12 dried out"
                } else {
                    "ran 48 h on the bench, no fault"
                }
                .into(),
            },
        )
    }

    fn repaired(&mut self) {
        self.in_repair();
        self.diagnose(true);
        self.ok(
            &repair(),
            UnitCommand::RecordRepair {
                work_done: "replaced C12".into(),
            },
        );
    }

    fn inspect(&mut self, passed: bool) {
        self.ok(
            &qc(),
            UnitCommand::Inspect {
                passed,
                label: passed.then(|| "QL-001".into()),
                findings: "functional test".into(),
            },
        );
    }

    fn qualified_with_after_sales(&mut self) {
        self.repaired();
        self.hand(&repair(), &qc(), None);
        self.inspect(true);
        self.hand(&qc(), &after_sales(), None);
    }

    /// Rule 12: the customer declines the repaired unit, which after-sales then keeps as a spare.
    fn declined_and_spare(&mut self) {
        self.ok(
            &after_sales(),
            UnitCommand::RecordCustomerDeclinedReturn {
                reason: "customer bought a newer model and does not want it back".into(),
            },
        );
        self.ok(&after_sales(), UnitCommand::RegisterAsSpare);
    }

    /// A full return that ends with the repaired unit back at the customer.
    fn full_repair_cycle(&mut self) {
        self.qualified_with_after_sales();
        self.ok(&after_sales(), UnitCommand::PlaceForReturn);
        self.hand(&after_sales(), &ts(), None);
        self.ok(
            &ts(),
            UnitCommand::DeliverToCustomer {
                customer_signature: sig(),
            },
        );
    }

    /// A full return where no fault was found, back at the customer.
    fn full_no_fault_cycle(&mut self) {
        self.in_repair();
        self.diagnose(false);
        self.hand(&repair(), &qc(), None);
        self.inspect(true);
        self.hand(&qc(), &after_sales(), None);
        self.ok(&after_sales(), UnitCommand::PlaceForReturn);
        self.hand(&after_sales(), &ts(), None);
        self.ok(
            &ts(),
            UnitCommand::DeliverToCustomer {
                customer_signature: sig(),
            },
        );
    }

    fn unrepairable_with_technical_service(&mut self) {
        self.unrepairable_with_cause(CauseCategory::ComponentQuality);
    }

    /// Unrepairable after the repair dept confirmed `cause`, with technical service.
    fn unrepairable_with_cause(&mut self, cause: CauseCategory) {
        self.in_repair();
        self.ok(
            &repair(),
            UnitCommand::ConfirmFault {
                fault_found: true,
                cause,
                analysis: "housing cracked, main board burnt".into(),
            },
        );
        self.ok(
            &repair(),
            UnitCommand::DeclareUnrepairable {
                reason: UnrepairableReason::BadlyDamaged,
                detail: "main board burnt".into(),
            },
        );
        self.hand(&repair(), &ts(), None);
    }
}

fn types(events: &[UnitEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type()).collect()
}

// ---- rule 1: opening a return ----------------------------------------------------------------

#[test]
fn it_should_open_a_carried_return_with_the_receiver_as_custodian() {
    let mut w = World::new();
    w.open();
    assert_eq!(w.state.step, Step::ReturnOpened);
    assert_eq!(w.state.custodian(), Some(("fr1", Role::FieldReceiver)));
}

#[test]
fn it_should_record_the_product_the_first_time_a_unit_is_seen() {
    let state = UnitState::new("SN9");
    let policy = Policy::default_policy();
    let mut cmd = OpenReturn {
        return_id: "R1".into(),
        mode: ReturnMode::CustomerDirect,
        customer: customer(),
        product: None,
        form: form(),
        customer_signature: Some(sig()),
        receiver_returned_at: None,
        customer_due_date: None,
    };
    let actor = after_sales();
    let ctx = Ctx::new(&actor, sig().signed_at, &policy);
    let refused = decide(&state, &UnitCommand::OpenReturn(cmd.clone()), &ctx).unwrap_err();
    assert_eq!(refused.code(), "missing-product-info");
    cmd.product = Some(ProductInfo {
        model: "RD-40".into(),
        production_date: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        warranty_end: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        batch: None,
    });
    let events = decide(&state, &UnitCommand::OpenReturn(cmd), &ctx).unwrap();
    assert_eq!(types(&events), ["ProductIdentified", "ReturnOpened"]);
    let s = UnitState::from_events("SN9", &events);
    assert_eq!(
        s.step,
        Step::Received,
        "customer-direct returns start with after-sales"
    );
}

#[test]
fn it_should_refuse_a_placeholder_fault_description() {
    let mut w = World::new();
    for placeholder in ["unknown", "不详", "n/a", "-"] {
        let mut f = form();
        f.fault_symptoms = placeholder.into();
        let e = w.err(&fr(), open_cmd("R1", ReturnMode::Carried, f));
        assert_eq!(
            e,
            DomainError::PlaceholderDescription {
                field: "fault_symptoms"
            }
        );
    }
}

#[test]
fn it_should_accept_a_placeholder_when_the_form_says_why_it_could_not_be_verified() {
    let mut w = World::new();
    let mut f = form();
    f.circumstances = "不详".into();
    f.unverifiable_reason = Some("operator on leave, site log lost in the power cut".into());
    w.ok(&fr(), open_cmd("R1", ReturnMode::Carried, f));
}

fn with_signature(cmd: UnitCommand, signature: Option<Signature>) -> UnitCommand {
    match cmd {
        UnitCommand::OpenReturn(o) => UnitCommand::OpenReturn(OpenReturn {
            customer_signature: signature,
            ..o
        }),
        other => other,
    }
}

#[test]
fn a_unit_picked_up_from_the_customer_needs_the_customers_signature() {
    let mut w = World::new();
    let unsigned = with_signature(open_cmd("R1", ReturnMode::Carried, form()), None);
    assert_eq!(
        w.err(&fr(), unsigned),
        DomainError::CustomerSignatureRequired
    );
    let unsigned = with_signature(open_cmd("R1", ReturnMode::CustomerDirect, form()), None);
    assert_eq!(
        w.err(&after_sales(), unsigned),
        DomainError::CustomerSignatureRequired
    );
    let events = w.ok(&fr(), open_cmd("R1", ReturnMode::Carried, form()));
    assert!(events.iter().any(|e| matches!(
        e,
        UnitEvent::ReturnOpened { customer_signature: Some(s), .. } if s.evidence.kind() == "captured"
    )));
}

#[test]
fn a_mailed_unit_needs_no_signature_at_pick_up() {
    let mut w = World::new();
    w.ok(
        &ts(),
        with_signature(open_cmd("R1", ReturnMode::Mailed, form()), None),
    );
}

#[test]
fn a_pick_up_signature_typed_by_staff_needs_a_specific_reason() {
    let mut w = World::new();
    let typed = |reason: &str| Signature {
        evidence: SignatureEvidence::Typed {
            reason: reason.into(),
        },
        ..sig()
    };
    let e = w.err(
        &fr(),
        with_signature(
            open_cmd("R1", ReturnMode::Carried, form()),
            Some(typed("n/a")),
        ),
    );
    assert_eq!(e, DomainError::TypedSignatureReasonRequired);
    let legacy = Signature {
        evidence: SignatureEvidence::LegacyTyped,
        ..sig()
    };
    let e = w.err(
        &fr(),
        with_signature(open_cmd("R1", ReturnMode::Carried, form()), Some(legacy)),
    );
    assert_eq!(e, DomainError::SignatureEvidenceRequired);
    w.ok(
        &fr(),
        with_signature(
            open_cmd("R1", ReturnMode::Carried, form()),
            Some(typed(
                "customer has no device; signed paper form No. 2026-031",
            )),
        ),
    );
}

#[test]
fn it_should_refuse_a_carried_return_opened_by_after_sales() {
    let mut w = World::new();
    let e = w.err(&after_sales(), open_cmd("R1", ReturnMode::Carried, form()));
    assert_eq!(e.code(), "wrong-opener-for-mode");
}

#[test]
fn a_carried_return_records_when_the_receiver_came_back_to_the_factory() {
    let mut w = World::new();
    let events = w.ok(&fr(), open_cmd("R1", ReturnMode::Carried, form()));
    assert!(matches!(
        &events[0],
        UnitEvent::ReturnOpened {
            receiver_returned_at: Some(t),
            ..
        } if *t == receiver_back()
    ));
}

#[test]
fn it_should_refuse_a_carried_return_without_the_receivers_return_date() {
    let mut w = World::new();
    let mut cmd = open_cmd("R1", ReturnMode::Carried, form());
    if let UnitCommand::OpenReturn(c) = &mut cmd {
        c.receiver_returned_at = None;
    }
    assert_eq!(
        w.err(&fr(), cmd.clone()),
        DomainError::ReceiverReturnDateRequired
    );
    if let UnitCommand::OpenReturn(c) = &mut cmd {
        c.receiver_returned_at = Some(w.now + Duration::days(1));
    }
    assert_eq!(w.err(&fr(), cmd).code(), "invalid-input");
}

#[test]
fn a_mailed_return_needs_no_receivers_return_date() {
    let mut w = World::new();
    w.ok(&ts(), open_cmd("R1", ReturnMode::Mailed, form()));
    assert_eq!(w.state.step, Step::ReturnOpened);
}

#[test]
fn it_should_refuse_a_second_open_return() {
    let mut w = World::new();
    w.open();
    let e = w.err(&fr(), open_cmd("R2", ReturnMode::Carried, form()));
    assert_eq!(
        e,
        DomainError::ReturnAlreadyOpen {
            return_id: "R1".into()
        }
    );
}

#[test]
fn a_mailed_unit_is_in_the_post_until_after_sales_receives_it() {
    let mut w = World::new();
    w.ok(&ts(), open_cmd("R1", ReturnMode::Mailed, form()));
    assert_eq!(w.state.custody, Some(Custody::InPost));
    assert_eq!(
        w.err(
            &repair(),
            UnitCommand::ReceiveByPost {
                waybill: "SF1".into()
            }
        )
        .code(),
        "role-not-permitted"
    );
    w.ok(
        &after_sales(),
        UnitCommand::ReceiveByPost {
            waybill: "SF1".into(),
        },
    );
    assert_eq!(w.state.step, Step::Received);
    w.ok(&after_sales(), UnitCommand::Register);
}

// ---- rule 2: signed handovers, continuous custody --------------------------------------------

#[test]
fn it_should_move_custody_only_when_the_receiver_signs() {
    let mut w = World::new();
    w.open();
    w.ok(
        &fr(),
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "H1".into(),
            to: to(&after_sales()),
            plan: None,
        }),
    );
    assert_eq!(w.state.custodian(), Some(("fr1", Role::FieldReceiver)));
    let events = w.ok(
        &after_sales(),
        UnitCommand::SignHandover {
            handover_id: "H1".into(),
        },
    );
    assert_eq!(types(&events), ["HandoverSigned"]);
    assert_eq!(w.state.custodian(), Some(("as1", Role::AfterSales)));
}

#[test]
fn it_should_refuse_a_handover_by_someone_who_is_not_the_custodian() {
    let mut w = World::new();
    w.open();
    let other = Actor::new("fr2", Role::FieldReceiver);
    let e = w.err(
        &other,
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "H1".into(),
            to: to(&after_sales()),
            plan: None,
        }),
    );
    assert_eq!(e.code(), "not-custodian");
}

#[test]
fn it_should_refuse_a_signature_by_anyone_but_the_named_receiver() {
    let mut w = World::new();
    w.open();
    w.ok(
        &fr(),
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "H1".into(),
            to: to(&after_sales()),
            plan: None,
        }),
    );
    let e = w.err(
        &Actor::new("as2", Role::AfterSales),
        UnitCommand::SignHandover {
            handover_id: "H1".into(),
        },
    );
    assert_eq!(e.code(), "not-handover-recipient");
    let e = w.err(
        &after_sales(),
        UnitCommand::SignHandover {
            handover_id: "H9".into(),
        },
    );
    assert_eq!(e.code(), "no-such-handover");
}

#[test]
fn it_should_refuse_a_second_handover_while_one_is_pending_and_allow_cancelling() {
    let mut w = World::new();
    w.open();
    let start = |id: &str| {
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: id.into(),
            to: to(&after_sales()),
            plan: None,
        })
    };
    w.ok(&fr(), start("H1"));
    assert_eq!(w.err(&fr(), start("H2")).code(), "handover-pending");
    w.ok(
        &fr(),
        UnitCommand::CancelHandover {
            handover_id: "H1".into(),
            reason: "wrong receiver on shift".into(),
        },
    );
    w.ok(&fr(), start("H2"));
}

#[test]
fn it_should_refuse_a_handover_off_the_route() {
    let mut w = World::new();
    w.open();
    let e = w.err(
        &fr(),
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "H1".into(),
            to: to(&qc()),
            plan: None,
        }),
    );
    assert_eq!(e.code(), "handover-route-not-allowed");
}

// ---- rule 4: no bypass -------------------------------------------------------------------------

#[test]
fn it_should_refuse_to_hand_an_unregistered_unit_to_repair() {
    let mut w = World::new();
    w.open();
    let e = w.err(
        &fr(),
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "H1".into(),
            to: to(&repair()),
            plan: plan(true, true),
        }),
    );
    assert_eq!(e, DomainError::BypassNotRegistered);
    // Received by after-sales but not registered: still a bypass.
    w.hand(&fr(), &after_sales(), None);
    let e = w.err(
        &after_sales(),
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "H2".into(),
            to: to(&repair()),
            plan: plan(true, true),
        }),
    );
    assert_eq!(e, DomainError::BypassNotRegistered);
}

// ---- rule 5: registration ----------------------------------------------------------------------

#[test]
fn registration_fixes_warranty_at_arrival_and_enters_the_awaiting_repair_zone() {
    let mut w = World::new();
    w.open();
    w.hand(&fr(), &after_sales(), None);
    let events = w.ok(&after_sales(), UnitCommand::Register);
    assert_eq!(types(&events), ["UnitRegistered", "ZoneEntered"]);
    assert!(matches!(
        events[0],
        UnitEvent::UnitRegistered {
            warranty: WarrantyDecision {
                in_warranty: true,
                ..
            },
            ..
        }
    ));
    assert_eq!(w.state.zone, Some(Zone::AwaitingRepair));
}

#[test]
fn a_unit_arriving_after_its_warranty_end_is_out_of_warranty() {
    let mut w = World::produced(
        NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
    );
    w.registered();
    assert_eq!(w.state.open_return().unwrap().in_warranty, Some(false));
}

#[test]
fn only_after_sales_registers_and_only_once() {
    let mut w = World::new();
    w.open();
    w.hand(&fr(), &after_sales(), None);
    assert_eq!(
        w.err(&repair(), UnitCommand::Register).code(),
        "role-not-permitted"
    );
    w.ok(&after_sales(), UnitCommand::Register);
    assert_eq!(
        w.err(&after_sales(), UnitCommand::Register).code(),
        "step-out-of-order"
    );
}

// ---- rule 6: repair plans ---------------------------------------------------------------------

#[test]
fn repair_accepts_only_units_on_an_issued_plan() {
    let mut w = World::new();
    w.registered();
    let cmd = |p| {
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "H9".into(),
            to: to(&repair()),
            plan: p,
        })
    };
    assert_eq!(
        w.err(&after_sales(), cmd(None)).code(),
        "not-on-issued-plan"
    );
    assert_eq!(
        w.err(&after_sales(), cmd(plan(false, true))).code(),
        "not-on-issued-plan"
    );
    assert_eq!(
        w.err(&after_sales(), cmd(plan(true, false))).code(),
        "not-on-issued-plan"
    );
    w.ok(&after_sales(), cmd(plan(true, true)));
    let events = w.ok(
        &repair(),
        UnitCommand::SignHandover {
            handover_id: "H9".into(),
        },
    );
    assert_eq!(
        types(&events),
        ["ZoneExited", "HandoverSigned"],
        "leaving the zone is a ledger line"
    );
    assert_eq!(w.state.step, Step::InRepair);
    assert_eq!(
        w.state.open_return().unwrap().plan_id.as_deref(),
        Some("P1")
    );
}

// ---- rule 7: repair -------------------------------------------------------------------------------

#[test]
fn repair_needs_a_confirmed_fault_with_a_fitting_cause() {
    let mut w = World::new();
    w.in_repair();
    let e = w.err(
        &repair(),
        UnitCommand::RecordRepair {
            work_done: "replaced C12".into(),
        },
    );
    assert_eq!(e.code(), "step-out-of-order");
    let e = w.err(
        &repair(),
        UnitCommand::ConfirmFault {
            fault_found: true,
            cause: CauseCategory::NoFaultFound,
            analysis: "x failed".into(),
        },
    );
    assert_eq!(e.code(), "cause-mismatch");
    let e = w.err(
        &repair(),
        UnitCommand::ConfirmFault {
            fault_found: true,
            cause: CauseCategory::DesignDefect,
            analysis: "unknown".into(),
        },
    );
    assert_eq!(e.code(), "placeholder-description");
    w.diagnose(true);
    w.ok(
        &repair(),
        UnitCommand::RecordRepair {
            work_done: "replaced C12".into(),
        },
    );
    assert_eq!(w.state.step, Step::Repaired);
}

#[test]
fn only_the_repair_dept_repairs() {
    let mut w = World::new();
    w.in_repair();
    let e = w.err(
        &qc(),
        UnitCommand::ConfirmFault {
            fault_found: true,
            cause: CauseCategory::DesignDefect,
            analysis: "bad".into(),
        },
    );
    assert_eq!(e.code(), "role-not-permitted");
}

// ---- rule 8: inspection ---------------------------------------------------------------------------

#[test]
fn a_passed_inspection_labels_the_unit_and_a_failed_one_goes_back_to_repair() {
    let mut w = World::new();
    w.repaired();
    w.hand(&repair(), &qc(), None);
    assert_eq!(
        w.err(
            &qc(),
            UnitCommand::Inspect {
                passed: true,
                label: None,
                findings: "ok".into()
            }
        )
        .code(),
        "invalid-input"
    );
    w.inspect(false);
    assert_eq!(w.state.step, Step::InspectionFailed);
    let off_route = w.err(
        &qc(),
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "Hx".into(),
            to: to(&after_sales()),
            plan: None,
        }),
    );
    assert_eq!(off_route.code(), "handover-route-not-allowed");
    w.hand(&qc(), &repair(), None);
    w.diagnose(true);
    w.ok(
        &repair(),
        UnitCommand::RecordRepair {
            work_done: "replaced C13 too".into(),
        },
    );
    w.hand(&repair(), &qc(), None);
    let events = w.ok(
        &qc(),
        UnitCommand::Inspect {
            passed: true,
            label: Some("QL-7".into()),
            findings: "all channels ok".into(),
        },
    );
    assert!(
        matches!(
            &events[0],
            UnitEvent::InspectionPassed {
                form_archived: false,
                ..
            }
        ),
        "the pass no longer claims the form archived: QC files it afterwards"
    );
    assert_eq!(w.state.open_return().unwrap().inspections_failed, 1);
    assert!(!w.state.open_return().unwrap().form_archived);
}

fn archive() -> UnitCommand {
    UnitCommand::ArchiveForm {
        archive_ref: "QC archive 2026/03, folder 12".into(),
    }
}

#[test]
fn qc_archives_the_form_only_once_the_passed_unit_went_on_to_after_sales() {
    let mut w = World::new();
    w.repaired();
    w.hand(&repair(), &qc(), None);
    assert_eq!(
        w.err(&qc(), archive()),
        DomainError::FormStillCirculating {
            step: "in_inspection"
        }
    );
    w.ok(
        &qc(),
        UnitCommand::Inspect {
            passed: true,
            label: Some("QL-7".into()),
            findings: "all channels ok".into(),
        },
    );
    assert_eq!(
        w.err(&qc(), archive()),
        DomainError::FormStillCirculating { step: "qualified" },
        "QC still holds the unit and its form"
    );
    w.hand(&qc(), &after_sales(), None);
    assert_eq!(
        w.err(&after_sales(), archive()).code(),
        "role-not-permitted"
    );
    let events = w.ok(&qc(), archive());
    assert!(
        matches!(&events[0], UnitEvent::FormArchived { archive_ref, .. }
        if archive_ref == "QC archive 2026/03, folder 12")
    );
    assert!(w.state.open_return().unwrap().form_archived);
}

#[test]
fn a_form_is_archived_once() {
    let mut w = World::new();
    w.repaired();
    w.hand(&repair(), &qc(), None);
    w.ok(
        &qc(),
        UnitCommand::Inspect {
            passed: true,
            label: Some("QL-7".into()),
            findings: "all channels ok".into(),
        },
    );
    w.hand(&qc(), &after_sales(), None);
    w.ok(&qc(), archive());
    assert_eq!(
        w.err(&qc(), archive()),
        DomainError::FormAlreadyArchived {
            return_id: w.state.open_return().unwrap().return_id.clone()
        }
    );
}

#[test]
fn only_qc_inspects() {
    let mut w = World::new();
    w.repaired();
    w.hand(&repair(), &qc(), None);
    let e = w.err(
        &repair(),
        UnitCommand::Inspect {
            passed: true,
            label: Some("L".into()),
            findings: "ok".into(),
        },
    );
    assert_eq!(e.code(), "role-not-permitted");
}

// ---- rule 9: unrepairable ---------------------------------------------------------------------------

fn dispose(
    w: &mut World,
    customer_cause: bool,
    needs: bool,
    explanation: Option<&str>,
) -> Result<Disposition, DomainError> {
    w.try_(
        &ts(),
        UnitCommand::DecideDisposition {
            customer_cause,
            customer_needs_unit: needs,
            explanation: explanation.map(str::to_string),
        },
    )
    .map(|_| w.state.open_return().unwrap().disposition.unwrap())
}

#[test]
fn unrepairable_in_warranty_is_scrapped_and_exchanged() {
    let mut w = World::new();
    w.unrepairable_with_technical_service();
    assert_eq!(
        dispose(&mut w, false, true, None),
        Ok(Disposition::ScrapAndExchange)
    );
    w.hand(&ts(), &after_sales(), None);
    let events = w.ok(
        &after_sales(),
        UnitCommand::Scrap {
            reason: "factory scrap procedure".into(),
        },
    );
    assert_eq!(
        types(&events),
        ["UnitScrapped", "ZoneEntered", "ReturnClosed"]
    );
    assert_eq!(w.state.zone, Some(Zone::Scrap));
    assert!(w.state.exchange_due);
}

#[test]
fn unrepairable_by_customer_cause_is_returned_as_is() {
    let mut w = World::new();
    w.unrepairable_with_cause(CauseCategory::CustomerMisuse);
    assert_eq!(
        dispose(&mut w, true, true, None).unwrap_err(),
        DomainError::ExplanationRequired
    );
    assert_eq!(
        dispose(&mut w, true, true, Some("dropped from a crane")),
        Ok(Disposition::ReturnAsIs)
    );
    w.ok(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: sig(),
        },
    );
    assert_eq!(
        w.state.returns[0].outcome,
        Some(ReturnOutcome::ReturnedAsIs)
    );
}

#[test]
fn unrepairable_out_of_warranty_is_returned_unrepaired_with_an_explanation() {
    let mut w = World::produced(
        NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2022, 1, 1).unwrap(),
    );
    w.unrepairable_with_technical_service();
    assert_eq!(
        dispose(&mut w, false, true, Some("n/a")).unwrap_err(),
        DomainError::ExplanationRequired
    );
    assert_eq!(
        dispose(
            &mut w,
            false,
            true,
            Some("board no longer made; quoted a new unit")
        ),
        Ok(Disposition::ReturnUnrepaired)
    );
    w.ok(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: sig(),
        },
    );
    assert_eq!(
        w.state.returns[0].outcome,
        Some(ReturnOutcome::ReturnedUnrepaired)
    );
}

#[test]
fn it_should_refuse_a_free_exchange_when_the_repair_dept_found_customer_misuse() {
    let mut w = World::new();
    w.unrepairable_with_cause(CauseCategory::CustomerMisuse);
    assert_eq!(
        dispose(&mut w, false, true, None).unwrap_err(),
        DomainError::CustomerCauseContradictsFindings {
            customer_cause: false,
            cause: "customer_misuse",
        }
    );
    assert!(!w.state.exchange_due);
    assert_eq!(w.state.step, Step::Unrepairable);
}

#[test]
fn it_should_refuse_a_customer_cause_flag_the_repair_findings_contradict() {
    let mut w = World::new();
    w.unrepairable_with_cause(CauseCategory::DesignDefect);
    assert_eq!(
        dispose(
            &mut w,
            true,
            true,
            Some("operator error, as the site claims")
        )
        .unwrap_err(),
        DomainError::CustomerCauseContradictsFindings {
            customer_cause: true,
            cause: "design_defect",
        }
    );
}

#[test]
fn customer_misuse_out_of_warranty_is_returned_as_is() {
    let mut w = World::produced(
        NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2022, 1, 1).unwrap(),
    );
    w.unrepairable_with_cause(CauseCategory::CustomerMisuse);
    assert_eq!(
        dispose(&mut w, true, false, Some("flooded cabinet; returned as is")),
        Ok(Disposition::ReturnAsIs)
    );
}

#[test]
fn unrepairable_in_warranty_without_need_is_scrapped_without_exchange() {
    let mut w = World::new();
    w.unrepairable_with_technical_service();
    assert_eq!(
        dispose(&mut w, false, false, None),
        Ok(Disposition::ScrapWithoutExchange)
    );
    assert!(!w.state.exchange_due);
    // Not delivered back: the only way on is the factory scrap procedure, via after-sales.
    let e = w.err(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: sig(),
        },
    );
    assert_eq!(e.code(), "step-out-of-order");
    w.hand(&ts(), &after_sales(), None);
    let events = w.ok(
        &after_sales(),
        UnitCommand::Scrap {
            reason: "factory scrap procedure".into(),
        },
    );
    assert_eq!(
        types(&events),
        ["UnitScrapped", "ZoneEntered", "ReturnClosed"]
    );
    assert_eq!(w.state.returns[0].outcome, Some(ReturnOutcome::Scrapped));
}

#[test]
fn a_scrap_without_exchange_gives_the_customer_no_replacement() {
    let mut w = World::new();
    w.unrepairable_with_technical_service();
    dispose(&mut w, false, false, None).unwrap();
    let replacement = UnitState::new("SN-NEW");
    let policy = Policy::default_policy();
    let actor = after_sales();
    let refused = exchange(
        &w.state,
        &replacement,
        &Exchange {
            replacement_serial: "SN-NEW".into(),
            replacement_product: None,
            customer_signature: sig(),
        },
        &Ctx::new(&actor, w.now, &policy),
    )
    .unwrap_err();
    assert_eq!(refused, DomainError::ExchangeNotDue);
}

#[test]
fn a_scrapped_unit_cannot_be_delivered() {
    let mut w = World::new();
    w.unrepairable_with_technical_service();
    dispose(&mut w, false, true, None).unwrap();
    let e = w.err(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: sig(),
        },
    );
    assert_eq!(e.code(), "step-out-of-order");
}

// ---- rule 10: two strikes, repaired --------------------------------------------------------------

#[test]
fn a_unit_failing_after_two_in_warranty_repairs_must_be_scrapped() {
    let mut w = World::new();
    w.full_repair_cycle();
    w.full_repair_cycle();
    w.in_repair();
    let events = w.diagnose(true);
    assert_eq!(
        types(&events),
        ["FaultConfirmed", "TwoStrikesRepairedReached"]
    );
    let e = w.err(
        &repair(),
        UnitCommand::RecordRepair {
            work_done: "again".into(),
        },
    );
    assert_eq!(e, DomainError::TwoStrikesRepaired { repairs: 2 });
    w.hand(&repair(), &after_sales(), None);
    w.ok(
        &after_sales(),
        UnitCommand::Scrap {
            reason: "two strikes".into(),
        },
    );
    assert!(w.state.exchange_due);
}

#[test]
fn customer_misuse_after_two_repairs_is_not_a_third_strike() {
    let mut w = World::new();
    w.full_repair_cycle();
    w.full_repair_cycle();
    w.in_repair();
    let events = w.ok(
        &repair(),
        UnitCommand::ConfirmFault {
            fault_found: true,
            cause: CauseCategory::CustomerMisuse,
            analysis: "cable pulled out by a forklift".into(),
        },
    );
    assert_eq!(types(&events), ["FaultConfirmed"]);
    assert!(!w.state.exchange_due);
    assert_eq!(w.state.step, Step::InRepair);
}

#[test]
fn one_prior_repair_is_not_yet_two_strikes() {
    let mut w = World::new();
    w.full_repair_cycle();
    w.in_repair();
    assert_eq!(types(&w.diagnose(true)), ["FaultConfirmed"]);
}

// ---- rule 11: two strikes, no fault found --------------------------------------------------------

fn second_no_fault(w: &mut World) {
    w.full_no_fault_cycle();
    w.in_repair();
    let events = w.diagnose(false);
    assert_eq!(types(&events), ["NoFaultFound", "TwoStrikesNoFaultReached"]);
}

#[test]
fn a_unit_with_two_no_fault_returns_is_not_returned() {
    let mut w = World::new();
    second_no_fault(&mut w);
    w.hand(&repair(), &ts(), None);
    let e = w.err(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: sig(),
        },
    );
    assert_eq!(e, DomainError::TwoStrikesNoFaultNotReturned);
}

#[test]
fn the_customer_who_insists_pays_the_fee_and_gets_the_unit_back() {
    let mut w = World::new();
    second_no_fault(&mut w);
    w.hand(&repair(), &ts(), None);
    let e = w.err(&ts(), UnitCommand::RecordCustomerInsists { fee_minor: 1 });
    assert_eq!(e.code(), "fee-below-minimum");
    w.ok(
        &ts(),
        UnitCommand::RecordCustomerInsists { fee_minor: 30_000 },
    );
    w.ok(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: sig(),
        },
    );
    assert_eq!(
        w.state.returns[1].outcome,
        Some(ReturnOutcome::ReturnedForFee)
    );
}

#[test]
fn no_fault_scrapping_needs_development_and_a_young_unit_goes_there() {
    let mut w = World::new();
    second_no_fault(&mut w);
    w.hand(&repair(), &after_sales(), None);
    let e = w.err(
        &after_sales(),
        UnitCommand::Scrap {
            reason: "two no-fault returns".into(),
        },
    );
    assert_eq!(e, DomainError::DevelopmentConfirmationRequired);
    assert_eq!(
        w.err(
            &repair(),
            UnitCommand::ConfirmNoFault {
                finding: "no fault".into()
            }
        )
        .code(),
        "role-not-permitted"
    );
    w.ok(
        &dev(),
        UnitCommand::ConfirmNoFault {
            finding: "firmware ok, hardware ok".into(),
        },
    );
    let events = w.ok(
        &after_sales(),
        UnitCommand::Scrap {
            reason: "two no-fault returns".into(),
        },
    );
    assert!(matches!(
        events[0],
        UnitEvent::UnitScrapped {
            to_development: true,
            ..
        }
    ));
    w.hand(&after_sales(), &dev(), None);
    assert_eq!(w.state.step, Step::WithDevelopment);
    assert_eq!(w.state.zone, None);
}

#[test]
fn an_old_no_fault_unit_is_scrapped_and_stays_in_the_scrap_zone() {
    let mut w = World::produced(
        NaiveDate::from_ymd_opt(2022, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2028, 1, 1).unwrap(),
    );
    second_no_fault(&mut w);
    w.hand(&repair(), &after_sales(), None);
    w.ok(
        &dev(),
        UnitCommand::ConfirmNoFault {
            finding: "no fault reproduced".into(),
        },
    );
    let events = w.ok(
        &after_sales(),
        UnitCommand::Scrap {
            reason: "two no-fault returns".into(),
        },
    );
    assert!(matches!(
        events[0],
        UnitEvent::UnitScrapped {
            to_development: false,
            ..
        }
    ));
    let e = w.err(
        &after_sales(),
        UnitCommand::InitiateHandover(InitiateHandover {
            handover_id: "Hd".into(),
            to: to(&dev()),
            plan: None,
        }),
    );
    assert_eq!(e.code(), "handover-route-not-allowed");
}

// ---- exchange (rules 9–11) ----------------------------------------------------------------------

#[test]
fn an_exchange_links_both_units_and_is_refused_when_not_due() {
    let policy = Policy::default_policy();
    let mut w = World::new();
    let replacement = UnitState::new("SN2");
    let cmd = Exchange {
        replacement_serial: "SN2".into(),
        replacement_product: Some(ProductInfo {
            model: "RD-40".into(),
            production_date: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
            warranty_end: NaiveDate::from_ymd_opt(2028, 2, 1).unwrap(),
            batch: None,
        }),
        customer_signature: sig(),
    };
    let actor = after_sales();
    let ctx = Ctx::new(&actor, w.now, &policy);
    assert_eq!(
        exchange(&w.state, &replacement, &cmd, &ctx).unwrap_err(),
        DomainError::ExchangeNotDue
    );
    w.unrepairable_with_technical_service();
    dispose(&mut w, false, true, None).unwrap();
    let (faulty_events, replacement_events) = exchange(&w.state, &replacement, &cmd, &ctx).unwrap();
    assert_eq!(types(&faulty_events), ["CustomerUnitExchanged"]);
    assert_eq!(
        types(&replacement_events),
        ["ProductIdentified", "IssuedAsExchange"]
    );
    let faulty = faulty_events
        .iter()
        .fold(w.state.clone(), |s, e| s.evolve(e));
    assert_eq!(
        exchange(&faulty, &replacement, &cmd, &ctx).unwrap_err(),
        DomainError::AlreadyExchanged {
            replacement: "SN2".into()
        }
    );
}

// ---- rule 12: after repair ---------------------------------------------------------------------------

#[test]
fn a_repaired_unit_is_returned_with_the_customers_signature() {
    let mut w = World::new();
    w.qualified_with_after_sales();
    w.ok(&after_sales(), UnitCommand::PlaceForReturn);
    assert_eq!(w.state.zone, Some(Zone::RepairedAwaitingReturn));
    w.hand(&after_sales(), &ts(), None);
    assert_eq!(w.state.zone, None);
    let unsigned = Signature {
        name: " ".into(),
        signed_at: w.now,
        evidence: sig().evidence,
    };
    let e = w.err(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: unsigned,
        },
    );
    assert_eq!(e, DomainError::CustomerSignatureRequired);
    let typed_without_reason = Signature {
        evidence: SignatureEvidence::Typed { reason: " ".into() },
        ..sig()
    };
    let e = w.err(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: typed_without_reason,
        },
    );
    assert_eq!(e, DomainError::TypedSignatureReasonRequired);
    w.ok(
        &ts(),
        UnitCommand::DeliverToCustomer {
            customer_signature: sig(),
        },
    );
    assert_eq!(w.state.step, Step::AtCustomer);
    assert!(w.state.open_return().is_none());
}

#[test]
fn it_should_refuse_to_make_a_customers_repaired_unit_a_spare_without_a_recorded_decision() {
    let mut w = World::new();
    w.qualified_with_after_sales();
    assert_eq!(
        w.err(&after_sales(), UnitCommand::RegisterAsSpare),
        DomainError::SpareWithoutCustomerDecision
    );
}

#[test]
fn a_customers_recorded_decision_not_to_take_the_unit_back_lets_it_become_a_spare() {
    let mut w = World::new();
    w.qualified_with_after_sales();
    let refused = w.err(
        &repair(),
        UnitCommand::RecordCustomerDeclinedReturn {
            reason: "customer said so".into(),
        },
    );
    assert_eq!(refused.code(), "role-not-permitted");
    let vague = w.err(
        &after_sales(),
        UnitCommand::RecordCustomerDeclinedReturn {
            reason: "unknown".into(),
        },
    );
    assert_eq!(
        vague,
        DomainError::PlaceholderDescription { field: "reason" }
    );
    let events = w.ok(
        &after_sales(),
        UnitCommand::RecordCustomerDeclinedReturn {
            reason: "customer replaced the line; confirmed by phone with Mr Zhang".into(),
        },
    );
    assert!(matches!(
        &events[0],
        UnitEvent::CustomerDeclinedReturn { recorded_by, .. } if recorded_by.person_id == "as1"
    ));
    let events = w.ok(&after_sales(), UnitCommand::RegisterAsSpare);
    assert_eq!(
        types(&events),
        ["RegisteredAsSpare", "ZoneEntered", "ReturnClosed"]
    );
    assert_eq!(w.state.zone, Some(Zone::Spares));
}

#[test]
fn a_spare_returns_to_stock_only_if_valuable_recent_and_little_used() {
    let mut w = World::new();
    w.qualified_with_after_sales();
    w.declined_and_spare();
    assert_eq!(w.state.zone, Some(Zone::Spares));
    let e = w.err(
        &after_sales(),
        UnitCommand::ReturnToStock { value_minor: 100 },
    );
    assert_eq!(e.code(), "spare-not-suitable-for-stock");
    w.ok(
        &after_sales(),
        UnitCommand::ReturnToStock {
            value_minor: 900_000,
        },
    );
    assert_eq!(w.state.step, Step::InStock);
    assert_eq!(w.state.zone, None);
}

#[test]
fn an_old_spare_does_not_return_to_stock() {
    let mut w = World::produced(
        NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
    );
    w.qualified_with_after_sales();
    w.declined_and_spare();
    let e = w.err(
        &after_sales(),
        UnitCommand::ReturnToStock {
            value_minor: 900_000,
        },
    );
    assert!(matches!(e, DomainError::SpareNotSuitableForStock { .. }));
}

// ---- rule 14: emergency --------------------------------------------------------------------------------

#[test]
fn a_spare_used_on_site_obliges_retrieval_and_the_retrieved_unit_becomes_a_spare() {
    let policy = Policy::default_policy();
    // The spare: a repaired unit registered as a spare, then taken out by technical service.
    let mut spare = World::new();
    spare.state.serial = "SP1".into();
    spare.qualified_with_after_sales();
    spare.declined_and_spare();
    spare.hand(&after_sales(), &ts(), None);
    assert_eq!(spare.state.step, Step::SpareIssued);

    let mut faulty = World::new();
    let cmd = UseSpareOnSite {
        faulty_serial: "SN1".into(),
        customer: customer(),
        site: "Plant One, line 3".into(),
        record: "spare SP1 installed, line restarted 14:20".into(),
        customer_signature: sig(),
    };
    let at = faulty.now;
    let refused = use_spare_on_site(
        &spare.state,
        &faulty.state,
        &cmd,
        &Ctx::new(&fr(), at, &policy),
    );
    assert_eq!(refused.unwrap_err().code(), "not-custodian");
    let (spare_events, faulty_events) = use_spare_on_site(
        &spare.state,
        &faulty.state,
        &cmd,
        &Ctx::new(&ts(), at, &policy),
    )
    .unwrap();
    assert_eq!(types(&spare_events), ["SpareUsedOnSite"]);
    match &faulty_events[0] {
        UnitEvent::ReplacedBySpareOnSite { retrieval_due, .. } => {
            assert_eq!(*retrieval_due, at + Duration::days(7))
        }
        other => panic!("unexpected {other:?}"),
    }
    for e in &faulty_events {
        faulty.state = faulty.state.clone().evolve(e);
    }
    assert_eq!(faulty.state.step, Step::AwaitingRetrieval);
    faulty.qualified_with_after_sales();
    assert!(faulty.state.open_return().unwrap().emergency_retrieval);
    assert_eq!(
        faulty.err(&after_sales(), UnitCommand::PlaceForReturn),
        DomainError::EmergencyUnitBecomesSpare
    );
    faulty.ok(&after_sales(), UnitCommand::RegisterAsSpare);
}

// ---- rule 15: zones ---------------------------------------------------------------------------------------

#[test]
fn every_zone_entry_has_an_exit_before_the_next_entry() {
    let mut w = World::new();
    let mut all = Vec::new();
    let mut record = |w: &World| all.push(w.state.zone);
    w.registered();
    record(&w);
    w.hand(&after_sales(), &repair(), plan(true, true));
    record(&w);
    assert_eq!(all, [Some(Zone::AwaitingRepair), None]);
}

// ---- §4: the unit file -------------------------------------------------------------------------

#[test]
fn the_shipped_state_is_on_file_before_any_follow_up_and_follow_ups_are_yearly() {
    let mut w = World::new();
    let follow_up = |year| UnitCommand::RecordFollowUp {
        year,
        satisfaction: crate::service::Satisfaction::Satisfied,
        notes: "running two shifts, no complaints".into(),
    };
    assert_eq!(
        w.err(&after_sales(), follow_up(2025)),
        DomainError::StepOutOfOrder {
            step: "never shipped",
            expected: "a unit whose shipped state is on file"
        }
    );
    let ship = |on| UnitCommand::RecordShipment {
        customer: customer(),
        shipped_on: on,
        configuration: "RD-40, 4 channels, firmware 2.3".into(),
    };
    assert_eq!(
        w.err(
            &repair(),
            ship(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap())
        )
        .code(),
        "role-not-permitted"
    );
    assert_eq!(
        w.err(
            &after_sales(),
            ship(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap())
        )
        .code(),
        "invalid-input"
    );
    w.ok(
        &after_sales(),
        ship(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap()),
    );
    w.ok(&after_sales(), follow_up(2025));
    assert_eq!(
        w.err(&after_sales(), follow_up(2025)),
        DomainError::FollowUpAlreadyRecorded { year: 2025 }
    );
    assert_eq!(
        w.err(&after_sales(), follow_up(2030)).code(),
        "invalid-input"
    );
    assert_eq!(w.err(&qc(), follow_up(2026)).code(), "role-not-permitted");
}

// ---- issue #20: refusals that had no test (rules 12 and 15) -----------------------------------

impl World {
    /// Given a qualified unit registered as a spare and handed to technical service, when it
    /// replaces a faulty unit on site (rule 14), then it has one more field use; the customer's
    /// faulty unit stays behind. Real decisions, so `field_uses` is what the events made it.
    fn spare_used_on_site(&mut self) {
        self.qualified_with_after_sales();
        self.declined_and_spare();
        self.hand(&after_sales(), &ts(), None);
        let faulty = World::new();
        self.now += Duration::hours(1);
        let (spare_events, _) = use_spare_on_site(
            &self.state,
            &faulty.state,
            &UseSpareOnSite {
                faulty_serial: "SN1".into(),
                customer: customer(),
                site: "Plant One, line 3".into(),
                record: "spare installed, line restarted 14:20".into(),
                customer_signature: sig(),
            },
            &Ctx::new(&ts(), self.now, &self.policy),
        )
        .expect("the spare is used on site");
        for e in &spare_events {
            self.state = self.state.clone().evolve(e);
        }
    }

    /// A spare that was used on site `uses` times, back in the spares zone.
    fn spare_back_after_field_uses(uses: u32) -> World {
        // Out of warranty, so the second strike (rule 10) does not scrap it on its way back.
        let mut w = World::produced(
            NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
            NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        );
        w.state.serial = "SP1".into();
        for _ in 0..uses {
            w.spare_used_on_site();
        }
        w.qualified_with_after_sales();
        // Rule 12: it came back as a customer's unit, so it is a spare again only by decision.
        w.declined_and_spare();
        assert_eq!(w.state.field_uses, uses);
        assert_eq!(w.state.zone, Some(Zone::Spares));
        w
    }
}

#[test]
fn a_spare_used_on_site_as_often_as_the_policy_allows_returns_to_stock() {
    let limit = Policy::default_policy()
        .returns
        .return_to_stock
        .max_field_uses;
    let mut w = World::spare_back_after_field_uses(limit);
    w.ok(
        &after_sales(),
        UnitCommand::ReturnToStock {
            value_minor: 900_000,
        },
    );
    assert_eq!(w.state.step, Step::InStock);
}

#[test]
fn a_spare_used_on_site_more_often_than_the_policy_allows_does_not_return_to_stock() {
    let limit = Policy::default_policy()
        .returns
        .return_to_stock
        .max_field_uses;
    let mut w = World::spare_back_after_field_uses(limit + 1);
    let e = w.err(
        &after_sales(),
        UnitCommand::ReturnToStock {
            value_minor: 900_000,
        },
    );
    assert_eq!(
        e,
        DomainError::SpareNotSuitableForStock {
            reason: format!("used on site {} times, more than {limit}", limit + 1)
        }
    );
}

#[test]
fn a_qualified_unit_outside_every_zone_enters_the_zone_for_return() {
    let mut w = World::new();
    w.qualified_with_after_sales();
    assert_eq!(w.state.zone, None);
    w.ok(&after_sales(), UnitCommand::PlaceForReturn);
    assert_eq!(w.state.zone, Some(Zone::RepairedAwaitingReturn));
}

#[test]
fn a_unit_still_in_a_zone_is_refused_entry_to_another() {
    let mut w = World::new();
    w.qualified_with_after_sales();
    // Given a ledger that never wrote the spares zone's exit (a log from before exits were
    // recorded, or a lost line): the unit is still in that zone.
    w.state.zone = Some(Zone::Spares);
    let e = w.err(&after_sales(), UnitCommand::PlaceForReturn);
    assert_eq!(e, DomainError::AlreadyInZone { zone: "spares" });
}

#[test]
fn a_fault_described_the_way_chinese_forms_leave_a_blank_is_refused() {
    let mut w = World::new();
    for placeholder in [
        "——",
        "。",
        "\u{3000}",
        "无",
        "同上",
        "见附件",
        "ＮＡ",
        "n/A",
    ] {
        let mut f = form();
        f.fault_symptoms = placeholder.into();
        let e = w.err(&fr(), open_cmd("R1", ReturnMode::Carried, f));
        assert_eq!(
            e,
            DomainError::PlaceholderDescription {
                field: "fault_symptoms"
            },
            "{placeholder:?}"
        );
    }
    let mut f = form();
    f.fault_symptoms = "主轴异响，转速超过800转时振动".into();
    w.ok(&fr(), open_cmd("R1", ReturnMode::Carried, f));
}
