//! What people ask of a unit. A command carries everything a rule needs to know that is not in
//! the unit's own history (the plan it is handed under, the receiver's role): the adapter looks
//! those up before deciding.

use chrono::NaiveDate;
use chrono::{DateTime, Utc};

use super::types::*;
use crate::actor::Actor;
use crate::policy::Policy;

/// The facts every decision is made against besides the state: who, when, under which policy.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub actor: &'a Actor,
    /// Business time of the command (the caller's `occurred_at`).
    pub at: DateTime<Utc>,
    pub policy: &'a Policy,
}

/// A repair plan as the adapter found it, for the handover to repair (rule 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSnapshot {
    pub plan_id: String,
    pub issued: bool,
    pub lists_unit: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenReturn {
    pub return_id: String,
    pub mode: ReturnMode,
    pub customer: CustomerRef,
    /// Required the first time the unit is seen.
    pub product: Option<ProductInfo>,
    pub form: OffSiteInfo,
    pub customer_signature: Option<Signature>,
    pub receiver_returned_at: Option<DateTime<Utc>>,
    pub customer_due_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InitiateHandover {
    pub handover_id: String,
    pub to: PersonRefInput,
    /// Looked up by the adapter when the receiver is the repair dept.
    pub plan: Option<PlanSnapshot>,
}

/// The receiver of a handover as the adapter resolved it from the directory of people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRefInput {
    pub person_id: String,
    pub role: crate::Role,
}

#[derive(Debug, Clone, PartialEq)]
// Commands live for one decision; boxing the big variant would buy nothing measurable.
#[allow(clippy::large_enum_variant)]
pub enum UnitCommand {
    /// The unit file's shipped state.
    RecordShipment {
        customer: CustomerRef,
        shipped_on: NaiveDate,
        configuration: String,
    },
    /// The yearly follow-up with the user.
    RecordFollowUp {
        year: i32,
        satisfaction: crate::service::Satisfaction,
        notes: String,
    },
    OpenReturn(OpenReturn),
    ReceiveByPost {
        waybill: String,
    },
    InitiateHandover(InitiateHandover),
    SignHandover {
        handover_id: String,
    },
    CancelHandover {
        handover_id: String,
        reason: String,
    },
    Register,
    ConfirmFault {
        fault_found: bool,
        cause: CauseCategory,
        analysis: String,
    },
    RecordRepair {
        work_done: String,
    },
    DeclareUnrepairable {
        reason: UnrepairableReason,
        detail: String,
    },
    Inspect {
        passed: bool,
        label: Option<String>,
        findings: String,
    },
    /// QC files the original information transfer form (rule 8).
    ArchiveForm {
        archive_ref: String,
    },
    PlaceForReturn,
    /// Rule 12: the customer's decision not to take the repaired unit back, with the reason.
    RecordCustomerDeclinedReturn {
        reason: String,
    },
    RegisterAsSpare,
    DeliverToCustomer {
        customer_signature: Signature,
    },
    DecideDisposition {
        customer_cause: bool,
        customer_needs_unit: bool,
        explanation: Option<String>,
    },
    RecordCustomerInsists {
        fee_minor: i64,
    },
    ConfirmNoFault {
        finding: String,
    },
    Scrap {
        reason: String,
    },
    ReturnToStock {
        value_minor: i64,
    },
}

/// Emergency use of a spare on site: decided against the spare and the faulty unit together.
#[derive(Debug, Clone, PartialEq)]
pub struct UseSpareOnSite {
    pub faulty_serial: String,
    pub customer: CustomerRef,
    pub site: String,
    pub record: String,
    pub customer_signature: Signature,
}

/// An exchange (调换): decided against the faulty unit and the replacement together.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub replacement_serial: String,
    /// Required when the replacement has never been seen (a new unit from stock).
    pub replacement_product: Option<ProductInfo>,
    pub customer_signature: Signature,
}

impl<'a> Ctx<'a> {
    pub fn new(actor: &'a Actor, at: DateTime<Utc>, policy: &'a Policy) -> Self {
        Ctx { actor, at, policy }
    }
}
