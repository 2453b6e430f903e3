//! Wire format of complaints, quality information feedback, the monthly QC report and the unit
//! file (domain.md §3, §4, §1 rule 16).

use chrono::{DateTime, NaiveDate, Utc};
use repairledger_domain::complaint::{Grade, Market, Outcome, TraceLink};
use repairledger_domain::quality::{Investigation, QualitySource, Severity};
use repairledger_domain::service::Satisfaction;
use repairledger_domain::unit::{CauseCategory, CustomerRef, ProductInfo};
use repairledger_projections::{
    ComplaintView, FollowUpRecord, RecallView, ReturnRecord, ServiceRequestView, ShipmentRecord,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterComplaintRequest {
    #[schema(value_type = crate::dto::Id)]
    pub complaint_id: String,
    pub customer: CustomerRef,
    pub market: Market,
    pub model: String,
    /// The production batch; required for a recall if QC grades the sample A.
    pub batch: Option<String>,
    /// The print code on the product: production date and number.
    pub print_code: Option<String>,
    #[schema(value_type = Vec<crate::dto::Id>)]
    pub serials: Vec<String>,
    pub quantity: u32,
    /// Total weight of the goods complained about: decides who approves a return.
    pub weight_kg: u32,
    pub description: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleInspectionRequest {
    pub grade: Grade,
    /// The cause category QC found; product causes count in the monthly QC report.
    pub cause: CauseCategory,
    pub findings: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NonconformingControlRequest {
    pub measures: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceLinkRequest {
    pub link: TraceLink,
    /// The document or code this link points at (label text, report number, batch number...).
    pub reference: String,
    /// The department this link shows responsible for the problem: the chain's root cause
    /// (确定质量责任部门). A quality complaint is resolved only once a link names one.
    #[serde(default)]
    pub responsible_dept: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceBrokenRequest {
    /// The first link not recorded: where the chain cannot be followed.
    pub at_link: TraceLink,
    /// Why (the record is missing, unreadable...).
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveComplaintRequest {
    /// `cash_refund` is refused: replacement products instead.
    pub outcome: Outcome,
    pub detail: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityRequest {
    pub quantity: u32,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodsInspectionRequest {
    pub passed: bool,
    pub findings: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RaiseQualityIssueRequest {
    #[schema(value_type = crate::dto::Id)]
    pub case_id: String,
    pub source: QualitySource,
    pub severity: Severity,
    pub model: String,
    pub batch: Option<String>,
    pub complaint_id: Option<String>,
    pub description: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvestigationRequest {
    pub investigation: Investigation,
    pub findings: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstructionRequest {
    pub instruction: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRequest {
    pub cause: CauseCategory,
    /// The archive key: cases with the same common cause are grouped.
    pub common_cause: String,
    pub analysis: String,
    pub corrective_action: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer": {"customer_id": "CUST-017", "name": "Huadong Power Plant"}, "shipped_on": "2025-10-08", "configuration": "RD-40, 4 channels, firmware 2.3", "occurred_at": null}))]
pub struct ShipmentRequest {
    pub customer: CustomerRef,
    pub shipped_on: NaiveDate,
    /// The shipped state: configuration, options, firmware.
    pub configuration: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"year": 2025, "satisfaction": "satisfied", "notes": "runs two shifts, no complaints", "occurred_at": null}))]
pub struct FollowUpRequest {
    pub year: i32,
    pub satisfaction: Satisfaction,
    pub notes: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Cases of the accident analysis archive that share a common cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveGroup {
    pub common_cause: String,
    pub cases: Vec<String>,
    pub causes: Vec<CauseCategory>,
    pub models: Vec<String>,
    pub corrective_actions: Vec<String>,
}

/// One cell of the monthly QC report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportRow {
    /// "YYYY-MM", local time.
    pub month: String,
    pub model: String,
    pub cause: CauseCategory,
    pub repairs: u32,
    pub complaints: u32,
    pub total: u32,
}

/// QC's functional inspections of one month and model (rule 8): how many repaired units passed
/// at the first attempt, and how many inspections were repeats after a failed one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InspectionRow {
    /// "YYYY-MM", local time, of the inspection.
    pub month: String,
    pub model: String,
    /// Every inspection, first or repeated.
    pub inspections: u32,
    /// Returns inspected for the first time.
    pub first_inspections: u32,
    /// First inspections that passed.
    pub first_pass_passes: u32,
    /// Inspections after a failed one: each is one more repair-and-inspect cycle.
    pub reinspections: u32,
    /// First-pass passes per first inspection, in basis points (10 000 = 100 %, rounded down);
    /// absent without a first inspection.
    pub first_pass_yield_bp: Option<u32>,
    /// The same, as text with two decimals ("66.66 %").
    pub first_pass_yield: Option<String>,
}

/// The monthly QC report (rule 16): failures caused by the product itself, one per return (or
/// per complaint), and QC's first-pass yield.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QcReport {
    /// The month reported, or absent for every month on record.
    pub month: Option<String>,
    /// Log position the report was computed at: the same position gives the same report.
    pub position: u64,
    pub rows: Vec<ReportRow>,
    pub by_cause: Vec<CauseTotal>,
    pub total: u32,
    /// Rules 5 and 13: the month's receipts by registration, so pile-up shows in the report.
    pub registration: RegistrationTally,
    /// By month and model.
    pub inspections: Vec<InspectionRow>,
    /// All months and models of the report together (month and model are empty).
    pub inspection_total: InspectionRow,
}

/// Units received by after-sales in the month (every month when absent), by how their
/// registration went (the `registration` timer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationTally {
    pub received: u32,
    /// Registered within `returns.registration_working_days`.
    pub registered_in_time: u32,
    /// Registered after the deadline.
    pub registered_late: u32,
    /// Still awaiting registration at the report's position.
    pub awaiting_registration: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CauseTotal {
    pub cause: CauseCategory,
    pub total: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// "YYYY-MM"; all months when absent.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
    /// json (default), csv or svg.
    #[param(pattern = "^(json|csv|svg)$")]
    pub format: Option<String>,
    pub as_of: Option<DateTime<Utc>>,
    pub as_of_position: Option<u64>,
    pub min_position: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplaintListQuery {
    /// open or closed.
    #[param(pattern = "^(open|closed)$")]
    pub status: Option<String>,
    pub grade: Option<Grade>,
    pub as_of: Option<DateTime<Utc>>,
    pub as_of_position: Option<u64>,
    pub min_position: Option<u64>,
}

/// Satisfaction as the user expressed it, from any source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SatisfactionEntry {
    /// follow_up, field_service_feedback or field_service_check.
    pub source: String,
    pub reference: String,
    pub satisfaction: Satisfaction,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// The unit file (产品档案): original and shipped state, the user, satisfaction, yearly
/// follow-ups and the whole service history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnitFile {
    pub serial: String,
    /// The original state: the product facts recorded when the unit was first seen.
    pub product: Option<ProductInfo>,
    pub shipments: Vec<ShipmentRecord>,
    /// The current user: the last shipment's customer, or the last return's.
    pub user: Option<CustomerRef>,
    pub satisfaction: Vec<SatisfactionEntry>,
    pub follow_ups: Vec<FollowUpRecord>,
    /// Years since the first shipment without a follow-up, up to the current year.
    pub follow_ups_missing: Vec<i32>,
    pub returns: Vec<ReturnRecord>,
    pub field_service: Vec<ServiceRequestView>,
    pub complaints: Vec<ComplaintView>,
    pub recalls: Vec<RecallView>,
}
