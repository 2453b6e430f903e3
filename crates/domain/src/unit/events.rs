//! Facts of a unit's history, in the past tense. Never changed; a correction is a new event.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::types::*;

/// Every event of a `unit-{serial}` stream. The `type` tag is the envelope's event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum UnitEvent {
    /// The product facts, recorded the first time the unit is seen.
    ProductIdentified {
        serial: String,
        product: ProductInfo,
    },
    /// A return was opened with the off-site part of the information transfer form.
    ReturnOpened {
        return_id: String,
        mode: ReturnMode,
        customer: CustomerRef,
        form: OffSiteInfo,
        opened_by: PersonRef,
        custody: Custody,
        customer_signature: Option<Signature>,
        /// When the field receiver came back to the factory (rule 3's clock starts here).
        receiver_returned_at: Option<DateTime<Utc>>,
        /// A date the customer set, shorter than the policy's cycle (rule 13).
        customer_due_date: Option<NaiveDate>,
        /// The unit comes back after a spare replaced it on site (rule 14).
        emergency_retrieval: bool,
        at: DateTime<Utc>,
    },
    /// After-sales took a mailed unit out of the post.
    ReceivedByPost {
        return_id: String,
        received_by: PersonRef,
        waybill: String,
        at: DateTime<Utc>,
    },
    /// The custodian signed a handover; custody moves when the receiver signs too.
    HandoverInitiated {
        handover_id: String,
        return_id: Option<String>,
        from: PersonRef,
        to: PersonRef,
        /// The issued repair plan the unit is handed to repair under.
        plan_id: Option<String>,
        at: DateTime<Utc>,
    },
    /// The receiver signed: custody moved (交接签字).
    HandoverSigned {
        handover_id: String,
        from: PersonRef,
        to: PersonRef,
        at: DateTime<Utc>,
    },
    HandoverCancelled {
        handover_id: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// A ledger line: the unit entered a zone.
    ZoneEntered {
        zone: Zone,
        reason: String,
        at: DateTime<Utc>,
    },
    /// A ledger line: the unit left a zone.
    ZoneExited {
        zone: Zone,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Entered in the return-repair register (返厂维修登记表); warranty fixed at arrival.
    /// Schema 2: the warranty decision is one object with the date it was judged on (schema 1
    /// had `warranty_end` and `in_warranty` at the top level; the codec upcasts it).
    UnitRegistered {
        return_id: String,
        arrived_on: NaiveDate,
        warranty: WarrantyDecision,
        at: DateTime<Utc>,
    },
    FaultConfirmed {
        return_id: String,
        cause: CauseCategory,
        analysis: String,
        at: DateTime<Utc>,
    },
    NoFaultFound {
        return_id: String,
        analysis: String,
        at: DateTime<Utc>,
    },
    /// Rule 10 reached: the unit failed again after the policy's in-warranty repairs.
    TwoStrikesRepairedReached {
        return_id: String,
        prior_repairs: u32,
    },
    /// Rule 11 reached: the policy's number of returns found no fault.
    TwoStrikesNoFaultReached {
        return_id: String,
        no_fault_returns: u32,
    },
    UnitRepaired {
        return_id: String,
        work_done: String,
        at: DateTime<Utc>,
    },
    UnitDeclaredUnrepairable {
        return_id: String,
        reason: UnrepairableReason,
        detail: String,
        at: DateTime<Utc>,
    },
    /// QC passed the unit and applied the "repair qualified" label.
    InspectionPassed {
        return_id: String,
        label: String,
        findings: String,
        /// Legacy: written as a constant `true` before the archiving was a fact of its own, and
        /// `false` since; the archive is [`UnitEvent::FormArchived`]. Not read.
        form_archived: bool,
        at: DateTime<Utc>,
    },
    InspectionFailed {
        return_id: String,
        findings: String,
        at: DateTime<Utc>,
    },
    /// QC filed the original information transfer form once it had travelled with the unit to
    /// after-sales (rule 8; seed 000 art. 10.8: 《信息传递表》随产品流转完成后,由质检部负责将原件存档).
    FormArchived {
        return_id: String,
        /// Where the original is filed.
        archive_ref: String,
        at: DateTime<Utc>,
    },
    /// Technical service decided an unrepairable unit's fate (rule 9) or a two-strikes rule did.
    DispositionDecided {
        return_id: String,
        disposition: Disposition,
        customer_cause: bool,
        explanation: Option<String>,
        at: DateTime<Utc>,
    },
    /// Rule 11: the customer insists on getting the no-fault unit back and pays the fee.
    CustomerInsistedOnReturn {
        return_id: String,
        fee_minor: i64,
        at: DateTime<Utc>,
    },
    /// Rule 11: the development dept confirmed the no-fault finding.
    NoFaultConfirmedByDevelopment {
        return_id: String,
        finding: String,
        at: DateTime<Utc>,
    },
    /// Scrapped by the factory scrap procedure. A young unit goes on to development.
    UnitScrapped {
        return_id: String,
        reason: String,
        to_development: bool,
        at: DateTime<Utc>,
    },
    /// Technical service delivered the unit and the customer signed.
    ReturnedToCustomer {
        return_id: String,
        customer_signature: Signature,
        at: DateTime<Utc>,
    },
    /// A return ended.
    ReturnClosed {
        return_id: String,
        outcome: ReturnOutcome,
        at: DateTime<Utc>,
    },
    /// Rule 12: the customer will not take the repaired unit back (recorded with who asked and
    /// why), so it may become a repair spare.
    CustomerDeclinedReturn {
        return_id: String,
        reason: String,
        recorded_by: PersonRef,
        at: DateTime<Utc>,
    },
    /// Registered as a repair spare (维修备品), rule 12.
    RegisteredAsSpare {
        return_id: String,
        at: DateTime<Utc>,
    },
    /// A spare of high value, recent production and low use went back to stock (退库).
    ReturnedToStock { value_minor: i64, at: DateTime<Utc> },
    /// This spare replaced a faulty unit on site (维修备品现场使用情况记录表).
    SpareUsedOnSite {
        faulty_serial: String,
        customer: CustomerRef,
        site: String,
        record: String,
        used_by: PersonRef,
        customer_signature: Signature,
        at: DateTime<Utc>,
    },
    /// A spare replaced this faulty unit on site; it must be retrieved by `retrieval_due`.
    ReplacedBySpareOnSite {
        spare_serial: String,
        customer: CustomerRef,
        retrieval_due: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The customer received `replacement_serial` in exchange for this unit (调换).
    CustomerUnitExchanged {
        replacement_serial: String,
        customer: CustomerRef,
        at: DateTime<Utc>,
    },
    /// This unit went to a customer in exchange for `faulty_serial`.
    IssuedAsExchange {
        faulty_serial: String,
        customer: CustomerRef,
        customer_signature: Signature,
        at: DateTime<Utc>,
    },
    /// Built by emergency production (rule 14) when no spare was available.
    UnitProduced { order_id: String, at: DateTime<Utc> },
    /// The unit file's shipped state (出厂状态): to whom, when, in which configuration.
    UnitShipped {
        customer: CustomerRef,
        shipped_on: NaiveDate,
        configuration: String,
        at: DateTime<Utc>,
    },
    /// The yearly follow-up with the user (年度回访), with their satisfaction.
    FollowUpRecorded {
        year: i32,
        satisfaction: crate::service::Satisfaction,
        notes: String,
        at: DateTime<Utc>,
    },
}

impl UnitEvent {
    /// The envelope's event type: the variant name.
    pub fn event_type(&self) -> &'static str {
        use UnitEvent::*;
        match self {
            ProductIdentified { .. } => "ProductIdentified",
            ReturnOpened { .. } => "ReturnOpened",
            ReceivedByPost { .. } => "ReceivedByPost",
            HandoverInitiated { .. } => "HandoverInitiated",
            HandoverSigned { .. } => "HandoverSigned",
            HandoverCancelled { .. } => "HandoverCancelled",
            ZoneEntered { .. } => "ZoneEntered",
            ZoneExited { .. } => "ZoneExited",
            UnitRegistered { .. } => "UnitRegistered",
            FaultConfirmed { .. } => "FaultConfirmed",
            NoFaultFound { .. } => "NoFaultFound",
            TwoStrikesRepairedReached { .. } => "TwoStrikesRepairedReached",
            TwoStrikesNoFaultReached { .. } => "TwoStrikesNoFaultReached",
            UnitRepaired { .. } => "UnitRepaired",
            UnitDeclaredUnrepairable { .. } => "UnitDeclaredUnrepairable",
            InspectionPassed { .. } => "InspectionPassed",
            InspectionFailed { .. } => "InspectionFailed",
            FormArchived { .. } => "FormArchived",
            DispositionDecided { .. } => "DispositionDecided",
            CustomerInsistedOnReturn { .. } => "CustomerInsistedOnReturn",
            NoFaultConfirmedByDevelopment { .. } => "NoFaultConfirmedByDevelopment",
            UnitScrapped { .. } => "UnitScrapped",
            ReturnedToCustomer { .. } => "ReturnedToCustomer",
            ReturnClosed { .. } => "ReturnClosed",
            CustomerDeclinedReturn { .. } => "CustomerDeclinedReturn",
            RegisteredAsSpare { .. } => "RegisteredAsSpare",
            ReturnedToStock { .. } => "ReturnedToStock",
            SpareUsedOnSite { .. } => "SpareUsedOnSite",
            ReplacedBySpareOnSite { .. } => "ReplacedBySpareOnSite",
            CustomerUnitExchanged { .. } => "CustomerUnitExchanged",
            IssuedAsExchange { .. } => "IssuedAsExchange",
            UnitProduced { .. } => "UnitProduced",
            UnitShipped { .. } => "UnitShipped",
            FollowUpRecorded { .. } => "FollowUpRecorded",
        }
    }
}
