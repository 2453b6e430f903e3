//! The wire format: request and response bodies. Only this crate knows JSON field names; the
//! domain's value types are reused where their shape is already the contract.

use chrono::{DateTime, NaiveDate, Utc};
use repairledger_domain::unit::{
    CauseCategory, CustomerRef, OffSiteInfo, ProductInfo, ReturnMode, SignatureInput,
    UnrepairableReason,
};
use repairledger_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

// ---- responses ------------------------------------------------------------------------------------

/// An event as stored in the log: the full envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventEnvelope {
    /// Global position, gapless from 1.
    pub position: u64,
    pub stream: String,
    /// Version within the stream, gapless from 1.
    pub version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Version of the payload's shape.
    pub schema: u32,
    /// The event's data; its shape is given by `type` (see the `UnitEvent` and `PlanEvent` schemas).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub actor: EventActorDto,
    /// Business time given by the caller.
    pub occurred_at: DateTime<Utc>,
    /// Server time when the log recorded it.
    pub recorded_at: DateTime<Utc>,
    pub policy_version: u32,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of the previous event.
    pub prev_hash: String,
    /// SHA-256 (hex) over the canonical bytes of this envelope and `prev_hash`.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventActorDto {
    pub person_id: String,
    pub role: String,
}

impl From<&RecordedEvent> for EventEnvelope {
    fn from(e: &RecordedEvent) -> Self {
        EventEnvelope {
            position: e.position,
            stream: e.stream.clone(),
            version: e.version,
            event_type: e.event_type.clone(),
            schema: e.schema,
            payload: e.payload.clone(),
            actor: EventActorDto {
                person_id: e.actor.person_id.clone(),
                role: e.actor.role.clone(),
            },
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            policy_version: e.policy_version,
            correlation_id: e.correlation_id.clone(),
            causation_id: e.causation_id.clone(),
            idempotency_key: e.idempotency_key.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamVersion {
    pub stream: String,
    pub version: u64,
}

/// What every command answers: the events it appended and where the log now stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommandResponse {
    /// Position of the last appended event; pass it as `min_position` to read your own write.
    pub position: u64,
    /// Each stream the command touched and its new version (the first is the resource's own).
    pub streams: Vec<StreamVersion>,
    pub events: Vec<EventEnvelope>,
}

/// A page of the raw log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventEnvelope>,
    /// Pass as `after` to get the next page; equal to the request's `after` when nothing is new.
    pub next_after: u64,
    /// The log's last position when the page was read.
    pub head: u64,
}

/// A page of a list, with an opaque cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The result of walking the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    pub events_checked: u64,
    pub head_position: u64,
    pub head_hash: String,
    /// The first position whose record or hash is wrong; absent when the chain is intact.
    pub first_broken: Option<u64>,
    pub reason: Option<String>,
    pub intact: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ZoneSummary {
    pub zone: repairledger_domain::unit::Zone,
    pub occupants: Vec<String>,
    pub lines: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub head_position: u64,
    pub projection_position: u64,
    pub policy_version: u32,
}

// ---- query parameters ----------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Wait for the projections to reach this log position (read your own writes).
    pub min_position: Option<u64>,
    /// Time travel: the view as it stood at this instant (events recorded at or before it).
    pub as_of: Option<DateTime<Utc>>,
    /// Time travel: the view as it stood when the log's head was this position.
    pub as_of_position: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnitListQuery {
    /// Only units at this step (for example `registered`, `in_repair`). `received` lists the
    /// units awaiting registration: with after-sales, not yet registered (pile-up, rule 13).
    pub step: Option<String>,
    /// Only units currently in this zone.
    #[param(value_type = Option<repairledger_domain::unit::Zone>)]
    pub zone: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// At most this many units (1..=500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    pub min_position: Option<u64>,
    /// Time travel: the list as it stood at this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Time travel: the list as it stood at this log position.
    pub as_of_position: Option<u64>,
}

// ---- command bodies ---------------------------------------------------------------------------------

/// An id: 1 to 64 letters, digits, `.`, `_` or `-` (it names a stream and a URL segment).
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", example = "SN-1001")]
pub struct Id(pub String);

/// Open a return (rule 1). The first return of a unit also identifies the product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenReturnRequest {
    #[schema(value_type = Id)]
    pub return_id: String,
    pub mode: ReturnMode,
    pub customer: CustomerRef,
    pub product: Option<ProductInfo>,
    pub form: OffSiteInfo,
    pub customer_signature: Option<SignatureInput>,
    /// When the field receiver came back to the factory (rule 3's two working days start here).
    /// Required for a carried return (`receiver-return-date-required`); not after the return
    /// is opened.
    pub receiver_returned_at: Option<DateTime<Utc>>,
    /// A date the customer needs the unit back by, if shorter than the policy's cycle.
    pub customer_due_date: Option<NaiveDate>,
    /// Business time of the step; the server's time if absent.
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"waybill": "SF1234567890", "occurred_at": null}))]
pub struct ReceiveByPostRequest {
    pub waybill: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Start a handover: the custodian signs and names the receiver (rule 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiateHandoverRequest {
    #[schema(value_type = Id)]
    pub handover_id: String,
    /// A person of the directory; their role decides the route.
    pub to_person_id: String,
    /// Required when handing a registered unit to the repair dept (rule 6).
    pub plan_id: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A step with nothing to say but when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"occurred_at": null}))]
pub struct StepRequest {
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "wrong receiver named; handing to Wang instead", "occurred_at": null}))]
pub struct CancelHandoverRequest {
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The repair dept's finding (rule 7): `fault_found = false` with cause `no_fault_found`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmFaultRequest {
    pub fault_found: bool,
    pub cause: CauseCategory,
    pub analysis: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRepairRequest {
    pub work_done: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareUnrepairableRequest {
    pub reason: UnrepairableReason,
    pub detail: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// QC's functional inspection (rule 8). A pass carries the "repair qualified" label number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectRequest {
    pub passed: bool,
    pub label: Option<String>,
    pub findings: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// QC files the original information transfer form (rule 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveFormRequest {
    /// Where the original is filed (file or binder number).
    pub archive_ref: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverRequest {
    pub customer_signature: SignatureInput,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Technical service's decision on an unrepairable unit (rule 9); the outcome follows from the
/// warranty fixed at registration and these facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionRequest {
    pub customer_cause: bool,
    pub customer_needs_unit: bool,
    pub explanation: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"fee_minor": 20000, "occurred_at": null}))]
pub struct CustomerInsistsRequest {
    /// The fee in minor currency units (fen).
    pub fee_minor: i64,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevelopmentConfirmationRequest {
    pub finding: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Rule 12: the customer will not take the repaired unit back. Recorded with who asked and why,
/// it is what lets their unit become a repair spare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "customer replaced the line; confirmed by phone with Mr Zhang", "occurred_at": null}))]
pub struct CustomerDeclinedReturnRequest {
    /// Why, and how the customer said so; a placeholder is refused.
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapRequest {
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value_minor": 860000, "occurred_at": null}))]
pub struct ReturnToStockRequest {
    /// The unit's value in minor currency units.
    pub value_minor: i64,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Exchange the customer's unit (rules 9–11): the replacement is a new unit from stock, a unit
/// returned to stock, or a repair spare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    #[schema(value_type = Id)]
    pub replacement_serial: String,
    /// Required when the replacement has never been seen by the system.
    pub replacement_product: Option<ProductInfo>,
    pub customer_signature: SignatureInput,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Use this spare on site in place of a faulty unit (rule 14).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyUseRequest {
    #[schema(value_type = Id)]
    pub faulty_serial: String,
    pub customer: CustomerRef,
    pub site: String,
    /// The spare field-use record (维修备品现场使用情况记录表).
    pub record: String,
    pub customer_signature: SignatureInput,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompilePlanRequest {
    #[schema(value_type = Id)]
    pub plan_id: String,
    #[schema(value_type = Vec<Id>)]
    pub serials: Vec<String>,
    #[serde(default)]
    pub notes: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendmentRequest {
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisePlanRequest {
    #[schema(value_type = Vec<Id>)]
    pub serials: Vec<String>,
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderProductionRequest {
    #[schema(value_type = Id)]
    pub order_id: String,
    pub model: String,
    pub customer: CustomerRef,
    pub faulty_serial: Option<String>,
    pub reason: String,
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteProductionRequest {
    #[schema(value_type = Id)]
    pub serial: String,
    pub production_date: NaiveDate,
    pub warranty_end: NaiveDate,
    pub occurred_at: Option<DateTime<Utc>>,
}
