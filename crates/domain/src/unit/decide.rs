//! The rules of the return-for-repair process (domain.md §1): a command decided against a unit's
//! state gives the events to append, or the rule that refuses it.

use chrono::{Datelike, Duration, NaiveDate};

use super::commands::*;
use super::events::UnitEvent;
use super::state::{Step, UnitState};
use super::types::*;
use crate::actor::Role;
use crate::error::DomainError;

type Decision = Result<Vec<UnitEvent>, DomainError>;

/// Which roles a unit at `step` may be handed to. Rule 2 (continuous custody) and rule 4 (no
/// bypass) are enforced on top of this table.
pub fn allowed_receivers(state: &UnitState) -> &'static [Role] {
    use Role::*;
    let holder = state.custodian().map(|(_, r)| r);
    match state.step {
        Step::ReturnOpened => &[AfterSales],
        Step::Registered => &[Repair],
        Step::Repaired | Step::NoFaultFound => &[Qc],
        Step::InspectionFailed => &[Repair],
        Step::Qualified if holder == Some(Qc) => &[AfterSales],
        Step::AwaitingReturn => &[TechnicalService],
        Step::Unrepairable => &[TechnicalService],
        Step::MustScrap => &[TechnicalService, AfterSales],
        Step::NoFaultTwice => &[AfterSales, TechnicalService, Development],
        Step::Disposed => match state.open_return().and_then(|r| r.disposition) {
            Some(Disposition::ScrapAndExchange | Disposition::ScrapWithoutExchange) => {
                &[AfterSales]
            }
            _ => &[],
        },
        Step::Spare => &[FieldReceiver, TechnicalService],
        Step::SpareIssued => &[AfterSales],
        Step::Scrapped if state.to_development => &[Development],
        _ => &[],
    }
}

/// The step a unit reaches when `receiver` signs for it.
pub fn step_after_handover(step: Step, receiver: Role) -> Step {
    match (step, receiver) {
        (Step::ReturnOpened, Role::AfterSales) => Step::Received,
        (Step::Registered, Role::Repair) | (Step::InspectionFailed, Role::Repair) => Step::InRepair,
        (Step::Repaired, Role::Qc) | (Step::NoFaultFound, Role::Qc) => Step::InInspection,
        (Step::AwaitingReturn, Role::TechnicalService) => Step::OutForDelivery,
        (Step::Spare, _) => Step::SpareIssued,
        (Step::SpareIssued, Role::AfterSales) => Step::Spare,
        (Step::Scrapped, Role::Development) => Step::WithDevelopment,
        (s, _) => s,
    }
}

/// Decides a command against one unit.
pub fn decide(state: &UnitState, cmd: &UnitCommand, ctx: &Ctx) -> Decision {
    use UnitCommand::*;
    match cmd {
        RecordShipment {
            customer,
            shipped_on,
            configuration,
        } => record_shipment(state, customer, *shipped_on, configuration, ctx),
        RecordFollowUp {
            year,
            satisfaction,
            notes,
        } => record_follow_up(state, *year, *satisfaction, notes, ctx),
        OpenReturn(c) => open_return(state, c, ctx),
        ReceiveByPost { waybill } => receive_by_post(state, waybill, ctx),
        InitiateHandover(c) => initiate_handover(state, c, ctx),
        SignHandover { handover_id } => sign_handover(state, handover_id, ctx),
        CancelHandover {
            handover_id,
            reason,
        } => cancel_handover(state, handover_id, reason, ctx),
        Register => register(state, ctx),
        ConfirmFault {
            fault_found,
            cause,
            analysis,
        } => confirm_fault(state, *fault_found, *cause, analysis, ctx),
        RecordRepair { work_done } => record_repair(state, work_done, ctx),
        DeclareUnrepairable { reason, detail } => declare_unrepairable(state, *reason, detail, ctx),
        Inspect {
            passed,
            label,
            findings,
        } => inspect(state, *passed, label.as_deref(), findings, ctx),
        ArchiveForm { archive_ref } => archive_form(state, archive_ref, ctx),
        PlaceForReturn => place_for_return(state, ctx),
        RecordCustomerDeclinedReturn { reason } => customer_declined_return(state, reason, ctx),
        RegisterAsSpare => register_as_spare(state, ctx),
        DeliverToCustomer { customer_signature } => deliver(state, customer_signature, ctx),
        DecideDisposition {
            customer_cause,
            customer_needs_unit,
            explanation,
        } => decide_disposition(
            state,
            *customer_cause,
            *customer_needs_unit,
            explanation.as_deref(),
            ctx,
        ),
        RecordCustomerInsists { fee_minor } => customer_insists(state, *fee_minor, ctx),
        ConfirmNoFault { finding } => confirm_no_fault(state, finding, ctx),
        Scrap { reason } => scrap(state, reason, ctx),
        ReturnToStock { value_minor } => return_to_stock(state, *value_minor, ctx),
    }
}

// ---- guards: each rule in one place -------------------------------------------------------

// ---- the unit file (产品档案, domain.md §4) ----------------------------------------------------

fn record_shipment(
    state: &UnitState,
    customer: &CustomerRef,
    shipped_on: NaiveDate,
    configuration: &str,
    ctx: &Ctx,
) -> Decision {
    if !matches!(ctx.actor.role, Role::Production | Role::AfterSales) {
        return Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action: "record a unit's shipped state",
        });
    }
    let product = state
        .product
        .as_ref()
        .ok_or(DomainError::MissingProductInfo { field: "product" })?;
    if shipped_on < product.production_date {
        return Err(DomainError::InvalidInput {
            field: "shipped_on",
            reason: "before the production date".into(),
        });
    }
    if ctx.policy.is_placeholder(configuration) {
        return Err(DomainError::PlaceholderDescription {
            field: "configuration",
        });
    }
    Ok(vec![UnitEvent::UnitShipped {
        customer: customer.clone(),
        shipped_on,
        configuration: configuration.into(),
        at: ctx.at,
    }])
}

fn record_follow_up(
    state: &UnitState,
    year: i32,
    satisfaction: crate::service::Satisfaction,
    notes: &str,
    ctx: &Ctx,
) -> Decision {
    if ctx.actor.role != Role::AfterSales {
        return Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action: "record a follow-up",
        });
    }
    if state.shipments == 0 {
        return Err(DomainError::StepOutOfOrder {
            step: "never shipped",
            expected: "a unit whose shipped state is on file",
        });
    }
    if state.follow_up_years.contains(&year) {
        return Err(DomainError::FollowUpAlreadyRecorded { year });
    }
    if year > ctx.at.year() {
        return Err(DomainError::InvalidInput {
            field: "year",
            reason: "a follow-up is recorded after it happened".into(),
        });
    }
    if ctx.policy.is_placeholder(notes) {
        return Err(DomainError::PlaceholderDescription { field: "notes" });
    }
    Ok(vec![UnitEvent::FollowUpRecorded {
        year,
        satisfaction,
        notes: notes.into(),
        at: ctx.at,
    }])
}

fn require_role(ctx: &Ctx, allowed: &[Role], action: &'static str) -> Result<(), DomainError> {
    if allowed.contains(&ctx.actor.role) {
        Ok(())
    } else {
        Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action,
        })
    }
}

/// Rule 2: only the current custodian acts on the unit.
fn require_custodian(state: &UnitState, ctx: &Ctx) -> Result<(), DomainError> {
    match state.custodian() {
        Some((person, _)) if person == ctx.actor.person_id => Ok(()),
        Some((person, role)) => Err(DomainError::NotCustodian {
            custodian: format!("{person} ({role})"),
        }),
        None => Err(DomainError::NotCustodian {
            custodian: custody_label(state),
        }),
    }
}

fn custody_label(state: &UnitState) -> String {
    match &state.custody {
        Some(Custody::Customer { .. }) => "the customer".into(),
        Some(Custody::InPost) => "the post".into(),
        Some(Custody::Stock) => "stock".into(),
        Some(Custody::Person { person_id, .. }) => person_id.clone(),
        None => "nobody".into(),
    }
}

fn require_step(
    state: &UnitState,
    allowed: &[Step],
    expected: &'static str,
) -> Result<(), DomainError> {
    if allowed.contains(&state.step) {
        Ok(())
    } else {
        Err(DomainError::StepOutOfOrder {
            step: state.step.as_str(),
            expected,
        })
    }
}

fn require_no_pending(state: &UnitState) -> Result<(), DomainError> {
    match &state.pending_handover {
        Some(p) => Err(DomainError::HandoverPending {
            handover_id: p.handover_id.clone(),
        }),
        None => Ok(()),
    }
}

/// Rule 1: descriptions must be specific unless the form says why they could not be verified.
fn require_specific(
    text: &str,
    field: &'static str,
    unverifiable_reason: Option<&str>,
    ctx: &Ctx,
) -> Result<(), DomainError> {
    let excused = unverifiable_reason.is_some_and(|r| !ctx.policy.is_placeholder(r));
    if ctx.policy.is_placeholder(text) && !excused {
        Err(DomainError::PlaceholderDescription { field })
    } else {
        Ok(())
    }
}

fn require_text(text: &str, field: &'static str) -> Result<(), DomainError> {
    if text.trim().is_empty() {
        Err(DomainError::InvalidInput {
            field,
            reason: "must not be empty".into(),
        })
    } else {
        Ok(())
    }
}

/// Rules 2 and 12: the customer's signature, with evidence (`crate::signature`).
fn require_signature(sig: &Signature, ctx: &Ctx) -> Result<(), DomainError> {
    crate::signature::require(sig, ctx)
}

fn open_return_id(state: &UnitState) -> Result<String, DomainError> {
    state
        .open_return()
        .map(|r| r.return_id.clone())
        .ok_or(DomainError::StepOutOfOrder {
            step: state.step.as_str(),
            expected: "an open return",
        })
}

fn me(ctx: &Ctx) -> PersonRef {
    PersonRef {
        person_id: ctx.actor.person_id.clone(),
        role: ctx.actor.role,
    }
}

/// Rule 15: a unit is in at most one zone; entering one is a ledger line.
fn enter_zone(
    state: &UnitState,
    zone: Zone,
    reason: &str,
    ctx: &Ctx,
) -> Result<UnitEvent, DomainError> {
    if let Some(z) = state.zone {
        return Err(DomainError::AlreadyInZone { zone: z.as_str() });
    }
    Ok(UnitEvent::ZoneEntered {
        zone,
        reason: reason.into(),
        at: ctx.at,
    })
}

fn close(return_id: &str, outcome: ReturnOutcome, ctx: &Ctx) -> UnitEvent {
    UnitEvent::ReturnClosed {
        return_id: return_id.into(),
        outcome,
        at: ctx.at,
    }
}

// ---- rule 1: opening a return ---------------------------------------------------------------

/// Rule 2: the first handover, from the customer to the factory's person, is signed by the
/// customer. Only a mailed unit leaves the customer without anyone to sign for it.
fn require_pick_up_signature(c: &OpenReturn, ctx: &Ctx) -> Result<(), DomainError> {
    match (&c.customer_signature, c.mode) {
        (Some(sig), _) => require_signature(sig, ctx),
        (None, ReturnMode::Mailed) => Ok(()),
        (None, _) => Err(DomainError::CustomerSignatureRequired),
    }
}

fn open_return(state: &UnitState, c: &OpenReturn, ctx: &Ctx) -> Decision {
    // Who opens depends on how the unit travels (seed 000 part 2 art. 8.1–8.3).
    let (openers, expected): (&[Role], &'static str) = match c.mode {
        ReturnMode::Carried => (&[Role::FieldReceiver], "the field receiver"),
        ReturnMode::Mailed => (
            &[Role::FieldReceiver, Role::TechnicalService],
            "the staff who handled the fault on site",
        ),
        ReturnMode::CustomerDirect => (
            &[Role::AfterSales],
            "after-sales, after asking the customer",
        ),
    };
    if !openers.contains(&ctx.actor.role) {
        return Err(DomainError::WrongOpenerForMode {
            mode: c.mode.as_str(),
            expected,
        });
    }
    if let Some(r) = state.open_return() {
        return Err(DomainError::ReturnAlreadyOpen {
            return_id: r.return_id.clone(),
        });
    }
    if !matches!(
        state.step,
        Step::New | Step::AtCustomer | Step::AwaitingRetrieval
    ) {
        return Err(DomainError::UnitNotAtCustomer {
            step: state.step.as_str(),
        });
    }
    require_text(&c.return_id, "return_id")?;
    require_text(&c.customer.customer_id, "customer.customer_id")?;
    require_text(&c.form.filled_by, "form.filled_by")?;
    let reason = c.form.unverifiable_reason.as_deref();
    require_specific(&c.form.fault_symptoms, "fault_symptoms", reason, ctx)?;
    require_specific(&c.form.site, "site", reason, ctx)?;
    require_specific(&c.form.circumstances, "circumstances", reason, ctx)?;
    // Rule 3: a carried unit's clock starts when the receiver is back at the factory, so that
    // date is part of the return; a date still to come is not a fact yet.
    if c.mode == ReturnMode::Carried {
        let back = c
            .receiver_returned_at
            .ok_or(DomainError::ReceiverReturnDateRequired)?;
        if back > ctx.at {
            return Err(DomainError::InvalidInput {
                field: "receiver_returned_at",
                reason: "after the time the return is opened".into(),
            });
        }
    }
    require_pick_up_signature(c, ctx)?;

    let mut events = Vec::new();
    if state.product.is_none() {
        let product = c.product.clone().ok_or(DomainError::MissingProductInfo {
            field: "product (model, production_date, warranty_end)",
        })?;
        if product.warranty_end < product.production_date {
            return Err(DomainError::InvalidInput {
                field: "product.warranty_end",
                reason: "must not be before the production date".into(),
            });
        }
        events.push(UnitEvent::ProductIdentified {
            serial: state.serial.clone(),
            product,
        });
    }
    let custody = match c.mode {
        ReturnMode::Mailed => Custody::InPost,
        _ => Custody::Person {
            person_id: ctx.actor.person_id.clone(),
            role: ctx.actor.role,
        },
    };
    events.push(UnitEvent::ReturnOpened {
        return_id: c.return_id.clone(),
        mode: c.mode,
        customer: c.customer.clone(),
        form: c.form.clone(),
        opened_by: me(ctx),
        custody,
        customer_signature: c.customer_signature.clone(),
        receiver_returned_at: c.receiver_returned_at,
        customer_due_date: c.customer_due_date,
        emergency_retrieval: state.step == Step::AwaitingRetrieval,
        at: ctx.at,
    });
    Ok(events)
}

fn receive_by_post(state: &UnitState, waybill: &str, ctx: &Ctx) -> Decision {
    require_role(ctx, &[Role::AfterSales], "receive a unit from the post")?;
    if state.custody != Some(Custody::InPost) {
        return Err(DomainError::StepOutOfOrder {
            step: state.step.as_str(),
            expected: "a mailed unit in the post",
        });
    }
    require_text(waybill, "waybill")?;
    Ok(vec![UnitEvent::ReceivedByPost {
        return_id: open_return_id(state)?,
        received_by: me(ctx),
        waybill: waybill.into(),
        at: ctx.at,
    }])
}

// ---- rules 2, 4, 6: signed handovers, no bypass, plans --------------------------------------

fn initiate_handover(state: &UnitState, c: &InitiateHandover, ctx: &Ctx) -> Decision {
    require_custodian(state, ctx)?;
    require_no_pending(state)?;
    require_text(&c.handover_id, "handover_id")?;
    if c.to.person_id == ctx.actor.person_id {
        return Err(DomainError::HandoverToSelf);
    }
    // Rule 4 before the route table, so a bypass is named as such.
    if c.to.role == Role::Repair && matches!(state.step, Step::ReturnOpened | Step::Received) {
        return Err(DomainError::BypassNotRegistered);
    }
    let allowed = allowed_receivers(state);
    if !allowed.contains(&c.to.role) {
        return Err(DomainError::HandoverRouteNotAllowed {
            step: state.step.as_str(),
            to: c.to.role,
            allowed: if allowed.is_empty() {
                "nobody until the current step is done".into()
            } else {
                allowed
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        });
    }
    if state.step == Step::Spare && state.zone.is_none() {
        return Err(DomainError::StepOutOfOrder {
            step: state.step.as_str(),
            expected: "a spare in the spares zone",
        });
    }
    // Rule 6: the repair dept accepts only units on an issued plan. A unit coming back from a
    // failed inspection is still under the plan it was accepted on.
    let mut plan_id = None;
    if c.to.role == Role::Repair && state.step == Step::Registered {
        let plan = c.plan.as_ref().ok_or(DomainError::NotOnIssuedPlan {
            reason: "no plan was named".into(),
        })?;
        if !plan.issued {
            return Err(DomainError::NotOnIssuedPlan {
                reason: format!("plan {} is not issued", plan.plan_id),
            });
        }
        if !plan.lists_unit {
            return Err(DomainError::NotOnIssuedPlan {
                reason: format!("plan {} does not list this unit", plan.plan_id),
            });
        }
        plan_id = Some(plan.plan_id.clone());
    }
    Ok(vec![UnitEvent::HandoverInitiated {
        handover_id: c.handover_id.clone(),
        return_id: state.open_return().map(|r| r.return_id.clone()),
        from: me(ctx),
        to: PersonRef {
            person_id: c.to.person_id.clone(),
            role: c.to.role,
        },
        plan_id,
        at: ctx.at,
    }])
}

fn sign_handover(state: &UnitState, handover_id: &str, ctx: &Ctx) -> Decision {
    let pending = state
        .pending_handover
        .as_ref()
        .filter(|p| p.handover_id == handover_id)
        .ok_or_else(|| DomainError::NoSuchHandover {
            handover_id: handover_id.into(),
        })?;
    if pending.to.person_id != ctx.actor.person_id || pending.to.role != ctx.actor.role {
        return Err(DomainError::NotHandoverRecipient {
            handover_id: handover_id.into(),
            expected: format!("{} ({})", pending.to.person_id, pending.to.role),
        });
    }
    let mut events = Vec::new();
    // Leaving after-sales' storage is the zone's exit line (rule 15).
    if let Some(zone) = state.zone {
        events.push(UnitEvent::ZoneExited {
            zone,
            reason: format!(
                "handed over to {} ({})",
                pending.to.person_id, pending.to.role
            ),
            at: ctx.at,
        });
    }
    events.push(UnitEvent::HandoverSigned {
        handover_id: handover_id.into(),
        from: pending.from.clone(),
        to: pending.to.clone(),
        at: ctx.at,
    });
    // A spare brought back goes back into its zone.
    if state.step == Step::SpareIssued && pending.to.role == Role::AfterSales {
        events.push(UnitEvent::ZoneEntered {
            zone: Zone::Spares,
            reason: "spare brought back unused".into(),
            at: ctx.at,
        });
    }
    Ok(events)
}

fn cancel_handover(state: &UnitState, handover_id: &str, reason: &str, ctx: &Ctx) -> Decision {
    let pending = state
        .pending_handover
        .as_ref()
        .filter(|p| p.handover_id == handover_id)
        .ok_or_else(|| DomainError::NoSuchHandover {
            handover_id: handover_id.into(),
        })?;
    // Either party may withdraw before custody moves.
    if ctx.actor.person_id != pending.from.person_id && ctx.actor.person_id != pending.to.person_id
    {
        return Err(DomainError::NotHandoverRecipient {
            handover_id: handover_id.into(),
            expected: format!("{} or {}", pending.from.person_id, pending.to.person_id),
        });
    }
    require_text(reason, "reason")?;
    Ok(vec![UnitEvent::HandoverCancelled {
        handover_id: handover_id.into(),
        reason: reason.into(),
        at: ctx.at,
    }])
}

// ---- rule 5: registration ------------------------------------------------------------------

fn register(state: &UnitState, ctx: &Ctx) -> Decision {
    require_role(ctx, &[Role::AfterSales], "register a returned unit")?;
    require_step(state, &[Step::Received], "received by after-sales")?;
    require_custodian(state, ctx)?;
    require_no_pending(state)?;
    let r = state.open_return().ok_or(DomainError::StepOutOfOrder {
        step: state.step.as_str(),
        expected: "an open return",
    })?;
    let product = state
        .product
        .as_ref()
        .ok_or(DomainError::MissingProductInfo { field: "product" })?;
    // Warranty is judged on the arrival date, once, and never again for this return.
    let arrived_on = r.arrived_at.unwrap_or(ctx.at).date_naive();
    Ok(vec![
        UnitEvent::UnitRegistered {
            return_id: r.return_id.clone(),
            arrived_on,
            warranty: WarrantyDecision {
                end: product.warranty_end,
                judged_on: arrived_on,
                in_warranty: arrived_on <= product.warranty_end,
            },
            at: ctx.at,
        },
        enter_zone(state, Zone::AwaitingRepair, "registered for repair", ctx)?,
    ])
}

// ---- rules 7, 10, 11: repair ---------------------------------------------------------------

fn repair_guard(state: &UnitState, ctx: &Ctx, action: &'static str) -> Result<String, DomainError> {
    require_role(ctx, &[Role::Repair], action)?;
    require_custodian(state, ctx)?;
    open_return_id(state)
}

fn confirm_fault(
    state: &UnitState,
    fault_found: bool,
    cause: CauseCategory,
    analysis: &str,
    ctx: &Ctx,
) -> Decision {
    let return_id = repair_guard(state, ctx, "confirm a fault")?;
    require_step(state, &[Step::InRepair], "in repair, not yet diagnosed")?;
    if state.open_return().and_then(|r| r.finding).is_some() {
        return Err(DomainError::StepOutOfOrder {
            step: "diagnosed",
            expected: "in repair, not yet diagnosed",
        });
    }
    require_specific(analysis, "analysis", None, ctx)?;
    let policy = &ctx.policy.returns;
    if !fault_found {
        if cause != CauseCategory::NoFaultFound {
            return Err(DomainError::CauseMismatch {
                cause: cause.as_str(),
                finding: "no-fault",
            });
        }
        let mut events = vec![UnitEvent::NoFaultFound {
            return_id: return_id.clone(),
            analysis: analysis.into(),
            at: ctx.at,
        }];
        let no_fault_returns = state.no_fault_returns() + 1;
        if no_fault_returns >= policy.two_strikes_no_fault {
            events.push(UnitEvent::TwoStrikesNoFaultReached {
                return_id,
                no_fault_returns,
            });
        }
        return Ok(events);
    }
    if cause == CauseCategory::NoFaultFound {
        return Err(DomainError::CauseMismatch {
            cause: cause.as_str(),
            finding: "fault",
        });
    }
    let mut events = vec![UnitEvent::FaultConfirmed {
        return_id: return_id.clone(),
        cause,
        analysis: analysis.into(),
        at: ctx.at,
    }];
    let in_warranty = state.open_return().and_then(|r| r.in_warranty) == Some(true);
    let prior_repairs = state.prior_repairs();
    // Rules 9 and 10: damage by the customer's misuse is not the product failing again, so it
    // never forces the free scrap-and-exchange.
    let product_failed = cause != CauseCategory::CustomerMisuse;
    if in_warranty && product_failed && prior_repairs >= policy.two_strikes_repairs {
        events.push(UnitEvent::TwoStrikesRepairedReached {
            return_id,
            prior_repairs,
        });
    }
    Ok(events)
}

fn record_repair(state: &UnitState, work_done: &str, ctx: &Ctx) -> Decision {
    let return_id = repair_guard(state, ctx, "record a repair")?;
    if state.step == Step::MustScrap {
        return Err(DomainError::TwoStrikesRepaired {
            repairs: state.prior_repairs(),
        });
    }
    require_confirmed_fault(state)?;
    require_specific(work_done, "work_done", None, ctx)?;
    Ok(vec![UnitEvent::UnitRepaired {
        return_id,
        work_done: work_done.into(),
        at: ctx.at,
    }])
}

/// Rule 7: repair work (or giving up on it) follows a confirmed fault and cause.
fn require_confirmed_fault(state: &UnitState) -> Result<(), DomainError> {
    require_step(state, &[Step::InRepair], "in repair with a confirmed fault")?;
    match state.open_return().and_then(|r| r.finding) {
        Some(Finding::Fault { .. }) => Ok(()),
        _ => Err(DomainError::StepOutOfOrder {
            step: "in_repair, fault not confirmed",
            expected: "a confirmed fault (confirm the fault and its cause first)",
        }),
    }
}

fn declare_unrepairable(
    state: &UnitState,
    reason: UnrepairableReason,
    detail: &str,
    ctx: &Ctx,
) -> Decision {
    let return_id = repair_guard(state, ctx, "declare a unit unrepairable")?;
    require_confirmed_fault(state)?;
    require_specific(detail, "detail", None, ctx)?;
    Ok(vec![UnitEvent::UnitDeclaredUnrepairable {
        return_id,
        reason,
        detail: detail.into(),
        at: ctx.at,
    }])
}

// ---- rule 8: inspection --------------------------------------------------------------------

fn inspect(
    state: &UnitState,
    passed: bool,
    label: Option<&str>,
    findings: &str,
    ctx: &Ctx,
) -> Decision {
    require_role(ctx, &[Role::Qc], "inspect a repaired unit")?;
    require_custodian(state, ctx)?;
    require_step(state, &[Step::InInspection], "with QC for inspection")?;
    let return_id = open_return_id(state)?;
    require_text(findings, "findings")?;
    if passed {
        let label = label
            .filter(|l| !l.trim().is_empty())
            .ok_or(DomainError::InvalidInput {
                field: "label",
                reason: "a passed unit carries the \"repair qualified\" label number".into(),
            })?;
        Ok(vec![UnitEvent::InspectionPassed {
            return_id,
            label: label.into(),
            findings: findings.into(),
            form_archived: false,
            at: ctx.at,
        }])
    } else {
        Ok(vec![UnitEvent::InspectionFailed {
            return_id,
            findings: findings.into(),
            at: ctx.at,
        }])
    }
}

/// Rule 8: QC files the original form once its circulation with the unit is complete: the unit
/// passed and QC handed it on (with the form) to after-sales, or the return ended some other way
/// (unrepairable, scrapped, delivered). Archiving is not a gate on delivery: the regulation
/// orders it after the circulation, and the record shows a form not yet filed.
fn archive_form(state: &UnitState, archive_ref: &str, ctx: &Ctx) -> Decision {
    require_role(ctx, &[Role::Qc], "archive the information transfer form")?;
    let r = state.returns.last().ok_or(DomainError::StepOutOfOrder {
        step: state.step.as_str(),
        expected: "a return",
    })?;
    if r.form_archived {
        return Err(DomainError::FormAlreadyArchived {
            return_id: r.return_id.clone(),
        });
    }
    let with_qc = matches!(state.custodian(), Some((_, Role::Qc)));
    let handed_on = r.passed && !with_qc && state.pending_handover.is_none();
    if !(handed_on || r.outcome.is_some()) {
        return Err(DomainError::FormStillCirculating {
            step: state.step.as_str(),
        });
    }
    require_text(archive_ref, "archive_ref")?;
    Ok(vec![UnitEvent::FormArchived {
        return_id: r.return_id.clone(),
        archive_ref: archive_ref.into(),
        at: ctx.at,
    }])
}

// ---- rules 12, 14: after repair ------------------------------------------------------------

fn after_sales_holding(
    state: &UnitState,
    ctx: &Ctx,
    action: &'static str,
) -> Result<(), DomainError> {
    require_role(ctx, &[Role::AfterSales], action)?;
    require_custodian(state, ctx)?;
    require_no_pending(state)
}

fn place_for_return(state: &UnitState, ctx: &Ctx) -> Decision {
    after_sales_holding(state, ctx, "place a unit for return")?;
    require_step(state, &[Step::Qualified], "qualified by QC")?;
    if state.open_return().is_some_and(|r| r.emergency_retrieval) {
        return Err(DomainError::EmergencyUnitBecomesSpare);
    }
    Ok(vec![enter_zone(
        state,
        Zone::RepairedAwaitingReturn,
        "repaired, awaiting return to the customer",
        ctx,
    )?])
}

/// Rule 12: the customer's decision not to take the repaired unit back, recorded by whoever
/// speaks to the customer, is what lets their unit become a spare.
fn customer_declined_return(state: &UnitState, reason: &str, ctx: &Ctx) -> Decision {
    require_role(
        ctx,
        &[Role::AfterSales, Role::TechnicalService],
        "record the customer's decision not to take the unit back",
    )?;
    let r = state.open_return().ok_or(DomainError::StepOutOfOrder {
        step: state.step.as_str(),
        expected: "an open return",
    })?;
    if r.customer_declined {
        return Err(DomainError::StepOutOfOrder {
            step: "customer decision recorded",
            expected: "a return whose customer has not yet declined it",
        });
    }
    require_specific(reason, "reason", None, ctx)?;
    Ok(vec![UnitEvent::CustomerDeclinedReturn {
        return_id: r.return_id.clone(),
        reason: reason.into(),
        recorded_by: me(ctx),
        at: ctx.at,
    }])
}

fn register_as_spare(state: &UnitState, ctx: &Ctx) -> Decision {
    after_sales_holding(state, ctx, "register a repair spare")?;
    require_step(state, &[Step::Qualified], "qualified by QC")?;
    let return_id = open_return_id(state)?;
    // Rule 12: a customer's unit is not to be returned only for a recorded reason: the customer
    // already has another unit (an exchange, or a spare left on site) or said so.
    let r = state.open_return();
    let not_to_be_returned = state.exchanged_with.is_some()
        || r.is_some_and(|r| r.emergency_retrieval || r.customer_declined);
    if !not_to_be_returned {
        return Err(DomainError::SpareWithoutCustomerDecision);
    }
    Ok(vec![
        UnitEvent::RegisteredAsSpare {
            return_id: return_id.clone(),
            at: ctx.at,
        },
        enter_zone(state, Zone::Spares, "registered as a repair spare", ctx)?,
        close(&return_id, ReturnOutcome::BecameSpare, ctx),
    ])
}

fn deliver(state: &UnitState, signature: &Signature, ctx: &Ctx) -> Decision {
    require_role(
        ctx,
        &[Role::TechnicalService],
        "deliver a unit to the customer",
    )?;
    require_custodian(state, ctx)?;
    require_no_pending(state)?;
    let r = state.open_return().ok_or(DomainError::StepOutOfOrder {
        step: state.step.as_str(),
        expected: "an open return",
    })?;
    let outcome = match (state.step, r.disposition) {
        (Step::OutForDelivery, _) if r.finding == Some(Finding::NoFault) => {
            ReturnOutcome::ReturnedNoFault
        }
        (Step::OutForDelivery, _) => ReturnOutcome::ReturnedRepaired,
        (Step::Disposed, Some(Disposition::ReturnAsIs)) => ReturnOutcome::ReturnedAsIs,
        (Step::Disposed, Some(Disposition::ReturnUnrepaired)) => ReturnOutcome::ReturnedUnrepaired,
        (Step::NoFaultTwice, _) if r.customer_insisted_fee.is_some() => {
            ReturnOutcome::ReturnedForFee
        }
        (Step::NoFaultTwice, _) => return Err(DomainError::TwoStrikesNoFaultNotReturned),
        (Step::MustScrap, _) => {
            return Err(DomainError::TwoStrikesRepaired {
                repairs: state.prior_repairs(),
            })
        }
        _ => {
            return Err(DomainError::StepOutOfOrder {
                step: state.step.as_str(),
                expected: "out for delivery, or disposed to be returned",
            })
        }
    };
    require_signature(signature, ctx)?;
    Ok(vec![
        UnitEvent::ReturnedToCustomer {
            return_id: r.return_id.clone(),
            customer_signature: signature.clone(),
            at: ctx.at,
        },
        close(&r.return_id, outcome, ctx),
    ])
}

// ---- rules 9, 11: unrepairable units and the no-fault strikes ----------------------------

fn decide_disposition(
    state: &UnitState,
    customer_cause: bool,
    customer_needs_unit: bool,
    explanation: Option<&str>,
    ctx: &Ctx,
) -> Decision {
    require_role(
        ctx,
        &[Role::TechnicalService],
        "decide what happens to an unrepairable unit",
    )?;
    require_custodian(state, ctx)?;
    require_step(state, &[Step::Unrepairable], "declared unrepairable")?;
    let r = state.open_return().ok_or(DomainError::StepOutOfOrder {
        step: state.step.as_str(),
        expected: "an open return",
    })?;
    // Rules 7 and 9: the customer-cause flag must agree with the repair dept's confirmed cause,
    // so a misuse finding cannot end in a free exchange, nor a product fault in "as is".
    let cause = match r.finding {
        Some(Finding::Fault { cause }) => cause,
        _ => {
            return Err(DomainError::StepOutOfOrder {
                step: "unrepairable without a confirmed cause",
                expected: "a confirmed fault and cause",
            })
        }
    };
    if customer_cause != (cause == CauseCategory::CustomerMisuse) {
        return Err(DomainError::CustomerCauseContradictsFindings {
            customer_cause,
            cause: cause.as_str(),
        });
    }
    let in_warranty = r.in_warranty == Some(true);
    // Rule 9, in the order the seed gives it.
    let disposition = if customer_cause {
        Disposition::ReturnAsIs
    } else if !in_warranty {
        Disposition::ReturnUnrepaired
    } else if customer_needs_unit {
        Disposition::ScrapAndExchange
    } else {
        Disposition::ScrapWithoutExchange
    };
    let needs_explanation = matches!(
        disposition,
        Disposition::ReturnUnrepaired | Disposition::ReturnAsIs
    );
    if needs_explanation && explanation.is_none_or(|e| ctx.policy.is_placeholder(e)) {
        return Err(DomainError::ExplanationRequired);
    }
    Ok(vec![UnitEvent::DispositionDecided {
        return_id: r.return_id.clone(),
        disposition,
        customer_cause,
        explanation: explanation.map(str::to_string),
        at: ctx.at,
    }])
}

fn customer_insists(state: &UnitState, fee_minor: i64, ctx: &Ctx) -> Decision {
    require_role(
        ctx,
        &[Role::TechnicalService],
        "charge the fee for returning a no-fault unit",
    )?;
    require_step(state, &[Step::NoFaultTwice], "two no-fault returns")?;
    let min = ctx.policy.returns.no_fault_return_fee_min_minor;
    if fee_minor < min {
        return Err(DomainError::FeeBelowMinimum {
            fee_minor,
            min_minor: min,
        });
    }
    Ok(vec![UnitEvent::CustomerInsistedOnReturn {
        return_id: open_return_id(state)?,
        fee_minor,
        at: ctx.at,
    }])
}

fn confirm_no_fault(state: &UnitState, finding: &str, ctx: &Ctx) -> Decision {
    require_role(ctx, &[Role::Development], "confirm a no-fault finding")?;
    require_step(state, &[Step::NoFaultTwice], "two no-fault returns")?;
    require_specific(finding, "finding", None, ctx)?;
    Ok(vec![UnitEvent::NoFaultConfirmedByDevelopment {
        return_id: open_return_id(state)?,
        finding: finding.into(),
        at: ctx.at,
    }])
}

fn scrap(state: &UnitState, reason: &str, ctx: &Ctx) -> Decision {
    after_sales_holding(state, ctx, "scrap a unit")?;
    let r = state.open_return().ok_or(DomainError::StepOutOfOrder {
        step: state.step.as_str(),
        expected: "an open return to scrap under",
    })?;
    let mut to_development = false;
    match state.step {
        Step::MustScrap => {}
        Step::Disposed
            if matches!(
                r.disposition,
                Some(Disposition::ScrapAndExchange | Disposition::ScrapWithoutExchange)
            ) => {}
        Step::NoFaultTwice => {
            if r.customer_insisted_fee.is_some() {
                return Err(DomainError::StepOutOfOrder {
                    step: "no_fault_twice, customer paid to get it back",
                    expected: "a unit to be scrapped",
                });
            }
            if !r.development_confirmed {
                return Err(DomainError::DevelopmentConfirmationRequired);
            }
            // Rule 11: a young unit goes to development after scrapping.
            let young = state
                .age_days(ctx.at.date_naive())
                .is_some_and(|d| d <= i64::from(ctx.policy.returns.young_unit_days));
            to_development = young;
        }
        _ => {
            return Err(DomainError::StepOutOfOrder {
                step: state.step.as_str(),
                expected: "a unit whose disposition is scrap",
            })
        }
    }
    require_text(reason, "reason")?;
    Ok(vec![
        UnitEvent::UnitScrapped {
            return_id: r.return_id.clone(),
            reason: reason.into(),
            to_development,
            at: ctx.at,
        },
        enter_zone(
            state,
            Zone::Scrap,
            "scrapped by the factory scrap procedure",
            ctx,
        )?,
        close(&r.return_id, ReturnOutcome::Scrapped, ctx),
    ])
}

fn return_to_stock(state: &UnitState, value_minor: i64, ctx: &Ctx) -> Decision {
    after_sales_holding(state, ctx, "return a spare to stock")?;
    require_step(state, &[Step::Spare], "a repair spare")?;
    if state.zone != Some(Zone::Spares) {
        return Err(DomainError::StepOutOfOrder {
            step: "spare outside the spares zone",
            expected: "a spare in the spares zone",
        });
    }
    let rule = &ctx.policy.returns.return_to_stock;
    let age = state.age_days(ctx.at.date_naive()).unwrap_or(i64::MAX);
    let refusal = if value_minor < rule.min_value_minor {
        Some(format!(
            "value {value_minor} is below {}",
            rule.min_value_minor
        ))
    } else if age > i64::from(rule.max_age_days) {
        Some(format!(
            "produced {age} days ago, more than {}",
            rule.max_age_days
        ))
    } else if state.field_uses > rule.max_field_uses {
        Some(format!(
            "used on site {} times, more than {}",
            state.field_uses, rule.max_field_uses
        ))
    } else {
        None
    };
    if let Some(reason) = refusal {
        return Err(DomainError::SpareNotSuitableForStock { reason });
    }
    Ok(vec![
        UnitEvent::ZoneExited {
            zone: Zone::Spares,
            reason: "returned to stock (退库)".into(),
            at: ctx.at,
        },
        UnitEvent::ReturnedToStock {
            value_minor,
            at: ctx.at,
        },
    ])
}

// ---- decisions over two units ----------------------------------------------------------------

/// Rule 14: a spare replaces a faulty unit on site; the faulty unit must then be retrieved.
/// Returns the spare's events and the faulty unit's events.
pub fn use_spare_on_site(
    spare: &UnitState,
    faulty: &UnitState,
    c: &UseSpareOnSite,
    ctx: &Ctx,
) -> Result<(Vec<UnitEvent>, Vec<UnitEvent>), DomainError> {
    require_role(
        ctx,
        &[Role::FieldReceiver, Role::TechnicalService],
        "use a repair spare on site",
    )?;
    require_custodian(spare, ctx)?;
    require_step(
        spare,
        &[Step::SpareIssued],
        "a repair spare taken out for use",
    )?;
    if !matches!(faulty.step, Step::New | Step::AtCustomer) {
        return Err(DomainError::UnitNotAtCustomer {
            step: faulty.step.as_str(),
        });
    }
    require_text(&c.customer.customer_id, "customer.customer_id")?;
    require_specific(&c.site, "site", None, ctx)?;
    require_specific(&c.record, "record", None, ctx)?;
    require_signature(&c.customer_signature, ctx)?;
    let retrieval_due = ctx.at + Duration::days(i64::from(ctx.policy.returns.spare_retrieval_days));
    Ok((
        vec![UnitEvent::SpareUsedOnSite {
            faulty_serial: c.faulty_serial.clone(),
            customer: c.customer.clone(),
            site: c.site.clone(),
            record: c.record.clone(),
            used_by: me(ctx),
            customer_signature: c.customer_signature.clone(),
            at: ctx.at,
        }],
        vec![UnitEvent::ReplacedBySpareOnSite {
            spare_serial: spare.serial.clone(),
            customer: c.customer.clone(),
            retrieval_due,
            at: ctx.at,
        }],
    ))
}

/// Rules 9–11: the customer gets `replacement` for `faulty`; both histories show the other.
/// Returns the faulty unit's events and the replacement's events.
pub fn exchange(
    faulty: &UnitState,
    replacement: &UnitState,
    c: &Exchange,
    ctx: &Ctx,
) -> Result<(Vec<UnitEvent>, Vec<UnitEvent>), DomainError> {
    require_role(ctx, &[Role::AfterSales], "exchange a customer's unit")?;
    if let Some(with) = &faulty.exchanged_with {
        return Err(DomainError::AlreadyExchanged {
            replacement: with.clone(),
        });
    }
    if !faulty.exchange_due {
        return Err(DomainError::ExchangeNotDue);
    }
    let customer = faulty
        .returns
        .last()
        .map(|r| r.customer.clone())
        .ok_or(DomainError::ExchangeNotDue)?;
    require_signature(&c.customer_signature, ctx)?;
    let unavailable = |reason: &str| DomainError::ReplacementUnavailable {
        serial: c.replacement_serial.clone(),
        reason: reason.into(),
    };
    let mut replacement_events = Vec::new();
    match replacement.step {
        Step::New => {
            let product = c
                .replacement_product
                .clone()
                .ok_or(DomainError::MissingProductInfo {
                    field: "replacement_product",
                })?;
            replacement_events.push(UnitEvent::ProductIdentified {
                serial: replacement.serial.clone(),
                product,
            });
        }
        Step::InStock => {}
        Step::Spare if replacement.zone == Some(Zone::Spares) => {
            replacement_events.push(UnitEvent::ZoneExited {
                zone: Zone::Spares,
                reason: format!("issued in exchange for {}", faulty.serial.clone()),
                at: ctx.at,
            });
        }
        _ => return Err(unavailable(replacement.step.as_str())),
    }
    if replacement.pending_handover.is_some() {
        return Err(unavailable("a handover is pending"));
    }
    replacement_events.push(UnitEvent::IssuedAsExchange {
        faulty_serial: faulty.serial.clone(),
        customer: customer.clone(),
        customer_signature: c.customer_signature.clone(),
        at: ctx.at,
    });
    Ok((
        vec![UnitEvent::CustomerUnitExchanged {
            replacement_serial: c.replacement_serial.clone(),
            customer,
            at: ctx.at,
        }],
        replacement_events,
    ))
}
