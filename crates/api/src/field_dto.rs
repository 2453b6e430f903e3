//! Wire format of field service, SLA timers and penalties (domain.md §2, §1 rule 17).

use chrono::{DateTime, Utc};
use repairledger_domain::fees::QuotePart;
use repairledger_domain::penalty::PenaltyRule;
use repairledger_domain::service::{
    BorrowedPart, CostAudit, ProductCategory, RequestKind, ReturnedPart, Satisfaction,
};
use repairledger_domain::sla::{Budget, Evaluation, PauseReason, TimerRule};
use repairledger_domain::unit::{CustomerRef, SignatureInput};
use repairledger_domain::Role;
use repairledger_projections::TimerView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A field service request as it was received (by phone, fax, mail or in person).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveServiceRequest {
    /// Chosen by the client (an ERP ticket number, say): the request's stream id.
    #[schema(value_type = crate::dto::Id)]
    pub request_id: String,
    pub kind: RequestKind,
    pub category: ProductCategory,
    pub customer: CustomerRef,
    #[schema(value_type = Option<crate::dto::Id>)]
    pub serial: Option<String>,
    pub model: Option<String>,
    pub site: String,
    /// Road distance to the site: picks the on-site deadline.
    pub distance_km: u32,
    pub description: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayRequest {
    /// The service-dept (after-sales) person who takes the request over.
    pub to_person_id: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A step that is a dated note (a contact, a chase, the customer's refusal of the fee).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "called the shift lead: leak confirmed on the rod side", "occurred_at": null}))]
pub struct NoteRequest {
    pub note: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A step that is an approval with its reason (service without the fee, a waiver).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "key account, line down; approved by the general manager", "occurred_at": null}))]
pub struct ReasonRequest {
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scope": "replace the seal kit of the press only", "occurred_at": null}))]
pub struct CompetitorApprovalRequest {
    /// The work approved, and nothing beyond it.
    pub scope: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarrantyDecisionRequest {
    pub in_warranty: bool,
    /// Damage from misuse is charged even in warranty.
    pub misuse: bool,
    /// What the decision rests on (delivery date, contract, inspection).
    pub basis: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"answer": "hold F3 for five seconds to reset the spindle alarm", "occurred_at": null}))]
pub struct AnswerRequest {
    pub answer: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SolutionRequest {
    pub solution: String,
    /// Whether engineers go to the site (starts the on-site deadline in warranty).
    pub on_site: bool,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The estimate a quote is priced from with the policy's rate tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub travel_cost_minor: i64,
    pub engineers: u32,
    pub days: u32,
    pub parts: Vec<QuotePart>,
    pub work_cost_minor: i64,
    /// Competitors' products only: the margin in basis points (at least the policy minimum).
    pub margin_bp: Option<i64>,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteConfirmationRequest {
    /// Who confirmed for the customer.
    pub confirmed_by: String,
    /// How: "fax", "signed quote", "email".
    pub channel: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartureRequest {
    /// The other engineers; the caller leads.
    pub team: Vec<String>,
    /// The borrow slip: parts taken along, to be returned within the policy's days.
    pub borrowed_parts: Vec<BorrowedPart>,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkLogRequest {
    pub text: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The user feedback form, signed by the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub satisfaction: Satisfaction,
    pub opinion: String,
    pub signature: SignatureInput,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteDepartureApprovalRequest {
    /// True: the work is done (the customer must have signed). False: leaving to come back.
    pub finished: bool,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveSiteRequest {
    pub finished: bool,
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TripReportRequest {
    pub report: String,
    pub expenses_minor: i64,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartsReturnRequest {
    pub parts: Vec<ReturnedPart>,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReinspectionRequest {
    pub findings: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionCheckRequest {
    pub satisfaction: Satisfaction,
    pub note: String,
    pub cost_audit: CostAudit,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockPauseRequest {
    pub timer: TimerRule,
    pub reason: PauseReason,
    pub note: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockResumeRequest {
    pub timer: TimerRule,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"serial": "SN-1001", "return_id": "R-1001-2", "occurred_at": null}))]
pub struct EscalationRequest {
    #[schema(value_type = crate::dto::Id)]
    pub serial: String,
    /// The unit's open return (open it first with `POST /v1/units/{serial}/returns`).
    pub return_id: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureRequest {
    pub outcome: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The customer withdraws the request; the general manager approves ending it undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancellationRequest {
    pub reason: String,
    /// Who asked, as recorded: the customer's name and the channel.
    pub requested_by: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Assess the penalty for a listed breach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessPenaltyRequest {
    /// Required where the policy gives a range; may be omitted where it fixes the amount.
    pub amount_minor: Option<i64>,
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Unclear or incomplete records of a request that caused extra cost (7.1.5): per item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"person_id": "li.fr", "items": 2, "reason": "site address and contact missing: a wasted trip", "occurred_at": null}))]
pub struct UnclearRecordPenaltyRequest {
    pub person_id: String,
    pub items: u32,
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A timer judged at an instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimerStatus {
    pub timer: TimerView,
    /// The responsible person's department.
    pub department: Role,
    pub budget: Budget,
    pub evaluation: Evaluation,
    /// The instant the timer was judged at.
    pub judged_at: DateTime<Utc>,
}

/// A breach that a penalty may be (or was) assessed for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BreachView {
    pub breach_id: String,
    pub rule: PenaltyRule,
    pub subject: String,
    pub person_id: String,
    pub department: Role,
    /// The deadline that passed (timer breaches).
    pub deadline: Option<DateTime<Utc>>,
    pub days_late: u32,
    /// Log positions that prove it.
    pub evidence: Vec<u64>,
    pub penalty_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tally {
    /// The person id, department (role) or month, by `by`.
    pub key: String,
    pub penalties: u32,
    pub assessed_minor: i64,
    pub waived_minor: i64,
    /// Assessed minus waived: what counts in the assessment.
    pub net_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimerQuery {
    /// running, at_risk, paused, met, breached or cancelled (stopped by an approved exception).
    #[param(value_type = Option<repairledger_domain::sla::TimerState>)]
    pub state: Option<String>,
    pub rule: Option<TimerRule>,
    /// A unit serial or a service request id.
    pub subject: Option<String>,
    /// The responsible person.
    pub person: Option<String>,
    /// The responsible department (role).
    pub department: Option<Role>,
    /// The instant to judge at; default: `as_of` if given, else now.
    pub at: Option<DateTime<Utc>>,
    /// The log as the system knew it at this instant (auditors).
    pub as_of: Option<DateTime<Utc>>,
    pub as_of_position: Option<u64>,
    pub min_position: Option<u64>,
    /// At most this many timers (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The last timer id of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BreachQuery {
    /// true: only breaches with a penalty; false: only those still to assess.
    pub assessed: Option<bool>,
    pub person: Option<String>,
    pub department: Option<Role>,
    /// The instant to judge running timers at; default now.
    pub at: Option<DateTime<Utc>>,
    pub min_position: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceListQuery {
    /// open or closed.
    #[param(pattern = "^(open|closed)$")]
    pub status: Option<String>,
    pub serial: Option<String>,
    pub as_of: Option<DateTime<Utc>>,
    pub as_of_position: Option<u64>,
    pub min_position: Option<u64>,
    /// At most this many requests (1..=500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    /// `id` (default) or `priority`: the service queue, by product category in §2's priority
    /// order (own, own via agent, partner, competitor), then oldest received first. A cursor
    /// is the last request id of the previous page.
    #[param(pattern = "^(id|priority)$")]
    pub sort: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PenaltyQuery {
    pub person: Option<String>,
    pub department: Option<Role>,
    /// "YYYY-MM", local month of the assessment.
    pub month: Option<String>,
    pub rule: Option<PenaltyRule>,
    pub as_of: Option<DateTime<Utc>>,
    pub as_of_position: Option<u64>,
    pub min_position: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TallyBy {
    Person,
    Department,
    Month,
}

#[derive(Debug, Clone, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TallyQuery {
    pub by: TallyBy,
    /// Only this month ("YYYY-MM").
    pub month: Option<String>,
    pub as_of: Option<DateTime<Utc>>,
    pub as_of_position: Option<u64>,
    pub min_position: Option<u64>,
}
