//! Value types of the return-for-repair process.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Role;

/// How a faulty unit comes back (带回 / 邮寄).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReturnMode {
    /// Carried back by a field receiver (现场接收人员带回).
    Carried,
    /// Mailed back by the staff who handled the fault on site.
    Mailed,
    /// Brought or mailed by the customer; after-sales fills the off-site part after asking.
    CustomerDirect,
}

impl ReturnMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnMode::Carried => "carried",
            ReturnMode::Mailed => "mailed",
            ReturnMode::CustomerDirect => "customer_direct",
        }
    }
}

/// The four storage zones (定置区域), each with its own ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// 待维修产品区.
    AwaitingRepair,
    /// 修复待返产品区.
    RepairedAwaitingReturn,
    /// 维修备品储存区.
    Spares,
    /// 报废品处置区.
    Scrap,
}

impl Zone {
    pub const ALL: [Zone; 4] = [
        Zone::AwaitingRepair,
        Zone::RepairedAwaitingReturn,
        Zone::Spares,
        Zone::Scrap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Zone::AwaitingRepair => "awaiting_repair",
            Zone::RepairedAwaitingReturn => "repaired_awaiting_return",
            Zone::Spares => "spares",
            Zone::Scrap => "scrap",
        }
    }

    pub fn parse(s: &str) -> Option<Zone> {
        Zone::ALL.into_iter().find(|z| z.as_str() == s)
    }
}

/// Cause categories for the monthly QC report (rule 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CauseCategory {
    ComponentQuality,
    DesignDefect,
    ProcessDefect,
    ProductionControl,
    CustomerMisuse,
    NoFaultFound,
    Other,
}

impl CauseCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            CauseCategory::ComponentQuality => "component_quality",
            CauseCategory::DesignDefect => "design_defect",
            CauseCategory::ProcessDefect => "process_defect",
            CauseCategory::ProductionControl => "production_control",
            CauseCategory::CustomerMisuse => "customer_misuse",
            CauseCategory::NoFaultFound => "no_fault_found",
            CauseCategory::Other => "other",
        }
    }

    /// Failures caused by the product itself: what the monthly QC report counts (rule 16).
    pub fn is_product_caused(self) -> bool {
        matches!(
            self,
            CauseCategory::ComponentQuality
                | CauseCategory::DesignDefect
                | CauseCategory::ProcessDefect
                | CauseCategory::ProductionControl
        )
    }
}

/// Why the repair dept gives up on a unit (rule 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnrepairableReason {
    BadlyDamaged,
    NotWorthRepairing,
}

/// What happens to an unrepairable unit, decided by warranty and cause (rule 9), or forced by
/// the two-strikes rules (10, 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// In warranty, the customer needs a unit: scrap by the factory procedure and exchange.
    ScrapAndExchange,
    /// In warranty, the customer needs no unit back: scrap only.
    ScrapWithoutExchange,
    /// Damaged by the customer's own cause: returned as is.
    ReturnAsIs,
    /// Out of warranty: returned unrepaired, with an explanation.
    ReturnUnrepaired,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::ScrapAndExchange => "scrap_and_exchange",
            Disposition::ScrapWithoutExchange => "scrap_without_exchange",
            Disposition::ReturnAsIs => "return_as_is",
            Disposition::ReturnUnrepaired => "return_unrepaired",
        }
    }
}

/// How a return ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReturnOutcome {
    ReturnedRepaired,
    ReturnedNoFault,
    ReturnedAsIs,
    ReturnedUnrepaired,
    ReturnedForFee,
    BecameSpare,
    Scrapped,
}

/// The off-site part of the information transfer form (信息传递表 厂外信息).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OffSiteInfo {
    pub fault_symptoms: String,
    pub site: String,
    pub circumstances: String,
    /// Who filled it: the field receiver, the on-site handler, or after-sales after asking.
    pub filled_by: String,
    /// Why a detail could not be verified; required before a placeholder is accepted.
    pub unverifiable_reason: Option<String>,
}

/// A customer reference. Names are personal data (seed 003): the security issue encrypts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerRef {
    pub customer_id: String,
    pub name: String,
}

/// A signature by someone who has no account, typically the customer (用户签字), and what proves
/// it: a name alone is only as good as the staff member who typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signature {
    pub name: String,
    pub signed_at: DateTime<Utc>,
    /// Absent in events written before evidence existed: those read as `legacy_typed`.
    #[serde(default)]
    pub evidence: SignatureEvidence,
}

/// What proves a customer's signature, as recorded in the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignatureEvidence {
    /// A name typed by staff before evidence was recorded: no proof at all. Only old events.
    #[default]
    LegacyTyped,
    /// A name typed by staff, with why nothing better was possible (e.g. a paper form's number).
    Typed { reason: String },
    /// Handwriting (an image or stroke record) captured by staff, stored content-addressed:
    /// `GET /v1/signatures/{sha256}` gives the bytes back.
    Captured { sha256: String, media_type: String },
    /// Given by the customer with their own portal token: the customer person and the log
    /// position of their act, besides the stored bytes.
    Portal {
        sha256: String,
        media_type: String,
        person_id: String,
        position: u64,
    },
}

impl SignatureEvidence {
    pub fn kind(&self) -> &'static str {
        match self {
            SignatureEvidence::LegacyTyped => "legacy_typed",
            SignatureEvidence::Typed { .. } => "typed",
            SignatureEvidence::Captured { .. } => "captured",
            SignatureEvidence::Portal { .. } => "portal",
        }
    }

    /// The stored record's hash, for the evidence that has one.
    pub fn sha256(&self) -> Option<&str> {
        match self {
            SignatureEvidence::Captured { sha256, .. }
            | SignatureEvidence::Portal { sha256, .. } => Some(sha256),
            _ => None,
        }
    }
}

/// A customer's signature as a command gives it: the evidence is a reference that the adapter
/// resolves against the stored signature records (`signature::resolve`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignatureInput {
    pub name: String,
    pub signed_at: DateTime<Utc>,
    /// Required; optional in the schema only so that its absence is refused with
    /// `signature-evidence-required` rather than a parse error.
    #[serde(default)]
    pub evidence: Option<EvidenceInput>,
}

/// The evidence a command refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvidenceInput {
    /// A record uploaded with `POST /v1/signatures`; recorded as `portal` evidence when the
    /// customer uploaded it with their own token, else as `captured`.
    Captured { sha256: String },
    /// Only a name typed by staff: accepted with a specific reason, and marked typed everywhere.
    Typed { reason: String },
}

/// A stored signature record as the adapter found it in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    pub sha256: String,
    pub media_type: String,
    /// Who uploaded it (a customer-role person makes it portal evidence).
    pub by: PersonRef,
    /// The log position of the upload.
    pub position: u64,
}

/// The product facts needed for warranty and age rules, given the first time a unit is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductInfo {
    pub model: String,
    pub production_date: NaiveDate,
    pub warranty_end: NaiveDate,
    /// The production batch (print code's batch): a grade-A complaint recalls the whole batch.
    /// Absent in events written before it existed.
    #[serde(default)]
    pub batch: Option<String>,
}

/// Rule 5: the warranty status fixed at registration, and what it was judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WarrantyDecision {
    pub end: NaiveDate,
    /// The arrival date: warranty is never judged on any later date for this return.
    pub judged_on: NaiveDate,
    pub in_warranty: bool,
}

/// A person in a handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonRef {
    pub person_id: String,
    pub role: Role,
}

/// Who physically holds the unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Custody {
    /// Not yet seen by the factory, or handed back.
    Customer { customer_id: String },
    /// A person of the organisation.
    Person { person_id: String, role: Role },
    /// In the post, on its way to after-sales.
    InPost,
    /// In stock (never issued, or returned to stock).
    Stock,
}

/// What the repair dept found (厂内信息).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    Fault { cause: CauseCategory },
    NoFault,
}
