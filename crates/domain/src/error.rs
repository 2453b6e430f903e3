//! Every refusal of the domain, one variant per rule. The API maps each to a stable problem
//! `type` (`code()`) and an HTTP status (`kind()`); nothing else decides that.

use crate::actor::Role;

/// How a refusal should be classed by an adapter: the domain does not know HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The actor's role or person may not do this.
    Forbidden,
    /// The thing is not in a state where this can happen now (retrying later may work).
    Conflict,
    /// The request breaks a business rule as written.
    Rule,
    /// The target does not exist.
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("role {role} may not {action}")]
    RoleNotPermitted { role: Role, action: &'static str },
    #[error("only the current custodian ({custodian}) may do this with the unit")]
    NotCustodian { custodian: String },
    #[error("a handover ({handover_id}) is already waiting for the receiver's signature")]
    HandoverPending { handover_id: String },
    #[error("no handover {handover_id} is waiting for a signature")]
    NoSuchHandover { handover_id: String },
    #[error("handover {handover_id} is addressed to {expected}, not to this person")]
    NotHandoverRecipient {
        handover_id: String,
        expected: String,
    },
    #[error("a handover needs two different people")]
    HandoverToSelf,
    #[error("the unit must be received and registered by after-sales before it goes to repair")]
    BypassNotRegistered,
    #[error("the repair dept accepts only units listed on an issued repair plan: {reason}")]
    NotOnIssuedPlan { reason: String },
    #[error("a unit at this step ({step}) may be handed to {allowed}, not to {to}")]
    HandoverRouteNotAllowed {
        step: &'static str,
        to: Role,
        allowed: String,
    },
    #[error("the {field} must be specific; a placeholder is accepted only with the reason it could not be verified")]
    PlaceholderDescription { field: &'static str },
    #[error("the unit already has an open return ({return_id})")]
    ReturnAlreadyOpen { return_id: String },
    #[error("the unit is not with the customer, so no return can be opened (it is {step})")]
    UnitNotAtCustomer { step: &'static str },
    #[error("return mode {mode} is opened by {expected}")]
    WrongOpenerForMode {
        mode: &'static str,
        expected: &'static str,
    },
    #[error("this step is not possible now: the unit is {step}, expected {expected}")]
    StepOutOfOrder {
        step: &'static str,
        expected: &'static str,
    },
    #[error("the product's {field} is needed the first time a unit is seen")]
    MissingProductInfo { field: &'static str },
    #[error("cause category {cause} does not fit a {finding} finding")]
    CauseMismatch {
        cause: &'static str,
        finding: &'static str,
    },
    #[error("the unit failed again after {repairs} in-warranty return-repairs: it must be scrapped and the customer's unit exchanged")]
    TwoStrikesRepaired { repairs: u32 },
    #[error("two returns found no fault: the unit is not returned to the customer unless they insist and pay the fee")]
    TwoStrikesNoFaultNotReturned,
    #[error("the development dept must confirm the no-fault finding before the unit is scrapped")]
    DevelopmentConfirmationRequired,
    #[error("the fee {fee_minor} is below the policy minimum {min_minor}")]
    FeeBelowMinimum { fee_minor: i64, min_minor: i64 },
    #[error("an explanation to the customer is required")]
    ExplanationRequired,
    #[error("the customer's signature is required")]
    CustomerSignatureRequired,
    #[error("the customer's signature needs evidence: a captured record (POST /v1/signatures) or, for a name typed by staff, the reason")]
    SignatureEvidenceRequired,
    #[error("a name typed by staff is accepted as the customer's signature only with a specific reason (e.g. the paper form's number)")]
    TypedSignatureReasonRequired,
    #[error("no signature record {sha256}: upload it first with POST /v1/signatures")]
    SignatureNotFound { sha256: String },
    #[error("a signature is accepted as image/png, image/svg+xml or application/vnd.repairledger.strokes+json, not {media_type}")]
    SignatureMediaTypeNotAccepted { media_type: String },
    #[error("the signature has no bytes")]
    SignatureEmpty,
    #[error("the signature has {bytes} bytes, more than the {max} accepted")]
    SignatureTooLarge { bytes: u64, max: u64 },
    #[error("the replacement unit {serial} is not available: {reason}")]
    ReplacementUnavailable { serial: String, reason: String },
    #[error("the customer's unit was already exchanged ({replacement})")]
    AlreadyExchanged { replacement: String },
    #[error("this disposition does not exchange the customer's unit")]
    ExchangeNotDue,
    #[error("the customer already received a spare for this unit: once repaired it becomes a repair spare")]
    EmergencyUnitBecomesSpare,
    #[error("a carried return needs the date the field receiver came back to the factory (receiver_returned_at): the carry-back clock starts there")]
    ReceiverReturnDateRequired,
    #[error("the customer's unit is registered as a spare only after an exchange, an on-site spare, or the customer's recorded decision not to take it back")]
    SpareWithoutCustomerDecision,
    #[error("technical service's customer-cause flag ({customer_cause}) contradicts the repair dept's confirmed cause ({cause})")]
    CustomerCauseContradictsFindings {
        customer_cause: bool,
        cause: &'static str,
    },
    #[error("the spare does not qualify for return to stock: {reason}")]
    SpareNotSuitableForStock { reason: String },
    #[error("a repair spare of model {model} is available ({count}); use it instead of emergency production")]
    SpareAvailable { model: String, count: u32 },
    #[error("the unit is already in the zone {zone}")]
    AlreadyInZone { zone: &'static str },
    #[error("a young scrapped unit goes to the development dept")]
    YoungUnitGoesToDevelopment,
    #[error("repair plan: {0}")]
    Plan(#[from] PlanError),
    #[error("no service request {request_id}")]
    ServiceRequestNotFound { request_id: String },
    #[error("{person_id} is not in the service dept: requests are relayed to after-sales")]
    NotServiceDept { person_id: String },
    #[error("work on a competitor's product needs the general manager's approval first")]
    CompetitorWorkNotApproved,
    #[error("warranty must be decided first")]
    WarrantyNotDecided,
    #[error("the service is free (in warranty, no misuse): there is nothing to quote")]
    QuoteNotNeeded,
    #[error("no quote has been issued")]
    NoQuote,
    #[error("chargeable service: the customer must confirm the quote, or the general manager approve service without the fee, before departure")]
    FeeNotSettled,
    #[error("the solution does not call for service on site")]
    OnSiteNotPlanned,
    #[error("{person_id} is not on the team (the lead records the trip)")]
    NotOnTeam { person_id: String },
    #[error(
        "the customer has not signed the feedback form: finished work is not left before that"
    )]
    CustomerFeedbackMissing,
    #[error("borrowed part {part_no} is not fully accounted for (used + unused + damaged must equal what was borrowed)")]
    PartsNotAccountedFor { part_no: String },
    #[error("the trip report is not filed yet")]
    TripReportMissing,
    #[error("the {timer} clock is already paused")]
    ClockAlreadyPaused { timer: &'static str },
    #[error("the {timer} clock is not paused")]
    ClockNotPaused { timer: &'static str },
    #[error("no {timer} timer is running for this request")]
    NoRunningTimer { timer: &'static str },
    #[error("unit {serial} has no open return {return_id}")]
    ReturnNotOpen { serial: String, return_id: String },
    #[error("the engineers are still away from the factory")]
    TeamStillAway,
    #[error("borrowed parts are not returned yet")]
    PartsOutstanding,
    #[error("the service dept has not contacted the customer yet")]
    CustomerNotContacted,
    #[error("the consultation is not answered yet")]
    ConsultationNotAnswered,
    #[error("no solution is determined yet")]
    SolutionMissing,
    #[error("the solution calls for a visit and no engineer has gone on site: a request the customer withdraws is cancelled (general manager), not closed")]
    OnSiteVisitMissing,
    #[error("the engineers left the site with the work unfinished: the revisit is owed")]
    WorkNotFinished,
    #[error("QC has not re-inspected the returned parts yet")]
    PartsNotReinspected,
    #[error("the manager's satisfaction check and cost audit are not recorded yet")]
    SatisfactionCheckMissing,
    #[error("the margin {margin_bp} bp is below the policy minimum {min_bp} bp")]
    MarginBelowMinimum { margin_bp: i64, min_bp: i64 },
    #[error("{breach_id} is not a breach (met, still running, or unknown)")]
    NoBreach { breach_id: String },
    #[error("the amount {amount_minor:?} is outside the policy range {min_minor}..={max_minor}")]
    PenaltyOutOfRange {
        amount_minor: Option<i64>,
        min_minor: i64,
        max_minor: i64,
    },
    #[error("this rule's amount is fixed by the policy: {expected_minor}")]
    PenaltyAmountFixed { expected_minor: i64 },
    #[error("breach {penalty_id} is already assessed")]
    PenaltyAlreadyAssessed { penalty_id: String },
    #[error("penalty {penalty_id} is already waived")]
    PenaltyAlreadyWaived { penalty_id: String },
    #[error("no penalty {penalty_id}")]
    PenaltyNotFound { penalty_id: String },
    #[error("a follow-up for {year} is already on file")]
    FollowUpAlreadyRecorded { year: i32 },
    #[error("no complaint {complaint_id}")]
    ComplaintNotFound { complaint_id: String },
    #[error("a grade A (safety-critical) finding recalls the batch: the complaint must name it")]
    RecallNeedsBatch,
    #[error("a return of {weight_kg} kg is approved by {needed} (the sales dept up to {limit_kg} kg, the technical vice-president above)")]
    ReturnApprovalRole {
        weight_kg: u32,
        limit_kg: u32,
        needed: Role,
    },
    #[error("no cash refunds: the customer gets replacement products")]
    CashRefundNotAllowed,
    #[error("QC must inspect and grade a sample first")]
    ComplaintNotGraded,
    #[error("grades B and C need nonconforming product control recorded before the complaint is resolved")]
    NonconformingControlRequired,
    #[error("a grade {grade} complaint is settled by {allowed}")]
    OutcomeNotForGrade {
        grade: &'static str,
        allowed: &'static str,
    },
    #[error("a return needs its approval first")]
    ReturnNotApproved,
    #[error("returned goods enter stock only after QC inspected and passed them")]
    StockEntryBeforeInspection,
    #[error("the information transfer form still travels with the unit ({step}): QC files the original once the unit passed and was handed on, or the return ended")]
    FormStillCirculating { step: &'static str },
    #[error("the form of return {return_id} is already archived")]
    FormAlreadyArchived { return_id: String },
    #[error(
        "the trace chain is followed in order: {link} comes after {missing}, which is not recorded"
    )]
    TraceLinkOutOfOrder {
        link: &'static str,
        missing: &'static str,
    },
    #[error("a quality complaint is resolved once the trace chain names the responsible department, or the technical vice-president accepts it broken (next link: {next})")]
    TraceChainIncomplete { next: &'static str },
    #[error("no quality case {case_id}")]
    QualityCaseNotFound { case_id: String },
    #[error("only major issues are escalated to the general manager")]
    NotMajorIssue,
    #[error(
        "a cause analysis rests on an investigation (same-batch check or retained-sample recheck)"
    )]
    InvestigationRequired,
    #[error("the personal data of customer {customer_id} is already erased")]
    PersonalDataAlreadyErased { customer_id: String },
    #[error("token {token_id} is already issued")]
    TokenAlreadyIssued { token_id: String },
    #[error("no token {token_id}")]
    TokenNotFound { token_id: String },
    #[error("token {token_id} is already revoked")]
    TokenAlreadyRevoked { token_id: String },
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// A policy is published only with a calendar for the 12 months after its publication.
    #[error("holidays not defined for {missing}: the calendar must cover {needed}")]
    CalendarNotCovered { missing: String, needed: String },
}

/// Refusals of the repair-plan process (rule 6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the plan already exists")]
    AlreadyExists,
    #[error("the plan does not exist")]
    NotFound,
    #[error("a plan lists at least one unit")]
    Empty,
    #[error("unit {serial} is not registered and awaiting repair")]
    UnitNotRegistered { serial: String },
    #[error("unit {serial} is listed twice")]
    DuplicateUnit { serial: String },
    #[error("the plan is {status}; expected {expected}")]
    WrongStatus {
        status: &'static str,
        expected: &'static str,
    },
    #[error("an amendment needs a written reason")]
    AmendmentReasonRequired,
}

impl DomainError {
    /// The stable problem type slug: part of the API contract, never renamed.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            RoleNotPermitted { .. } => "role-not-permitted",
            NotCustodian { .. } => "not-custodian",
            HandoverPending { .. } => "handover-pending",
            NoSuchHandover { .. } => "no-such-handover",
            NotHandoverRecipient { .. } => "not-handover-recipient",
            HandoverToSelf => "handover-to-self",
            BypassNotRegistered => "bypass-not-registered",
            NotOnIssuedPlan { .. } => "not-on-issued-plan",
            HandoverRouteNotAllowed { .. } => "handover-route-not-allowed",
            PlaceholderDescription { .. } => "placeholder-description",
            ReturnAlreadyOpen { .. } => "return-already-open",
            UnitNotAtCustomer { .. } => "unit-not-at-customer",
            WrongOpenerForMode { .. } => "wrong-opener-for-mode",
            StepOutOfOrder { .. } => "step-out-of-order",
            MissingProductInfo { .. } => "missing-product-info",
            CauseMismatch { .. } => "cause-mismatch",
            TwoStrikesRepaired { .. } => "two-strikes-repaired",
            TwoStrikesNoFaultNotReturned => "two-strikes-no-fault",
            DevelopmentConfirmationRequired => "development-confirmation-required",
            FeeBelowMinimum { .. } => "fee-below-minimum",
            ExplanationRequired => "explanation-required",
            CustomerSignatureRequired => "customer-signature-required",
            SignatureEvidenceRequired => "signature-evidence-required",
            TypedSignatureReasonRequired => "typed-signature-reason-required",
            SignatureNotFound { .. } => "signature-not-found",
            SignatureMediaTypeNotAccepted { .. } => "signature-media-type-not-accepted",
            SignatureEmpty => "signature-empty",
            SignatureTooLarge { .. } => "signature-too-large",
            ReplacementUnavailable { .. } => "replacement-unavailable",
            AlreadyExchanged { .. } => "already-exchanged",
            ExchangeNotDue => "exchange-not-due",
            EmergencyUnitBecomesSpare => "emergency-unit-becomes-spare",
            ReceiverReturnDateRequired => "receiver-return-date-required",
            SpareWithoutCustomerDecision => "spare-without-customer-decision",
            CustomerCauseContradictsFindings { .. } => "customer-cause-contradicts-findings",
            SpareNotSuitableForStock { .. } => "spare-not-suitable-for-stock",
            SpareAvailable { .. } => "spare-available",
            AlreadyInZone { .. } => "already-in-zone",
            YoungUnitGoesToDevelopment => "young-unit-goes-to-development",
            Plan(p) => match p {
                PlanError::AlreadyExists => "plan-already-exists",
                PlanError::NotFound => "plan-not-found",
                PlanError::Empty => "plan-empty",
                PlanError::UnitNotRegistered { .. } => "plan-unit-not-registered",
                PlanError::DuplicateUnit { .. } => "plan-duplicate-unit",
                PlanError::WrongStatus { .. } => "plan-wrong-status",
                PlanError::AmendmentReasonRequired => "amendment-reason-required",
            },
            ServiceRequestNotFound { .. } => "service-request-not-found",
            NotServiceDept { .. } => "not-service-dept",
            CompetitorWorkNotApproved => "competitor-work-not-approved",
            WarrantyNotDecided => "warranty-not-decided",
            QuoteNotNeeded => "quote-not-needed",
            NoQuote => "no-quote",
            FeeNotSettled => "fee-not-settled",
            OnSiteNotPlanned => "on-site-not-planned",
            NotOnTeam { .. } => "not-on-team",
            CustomerFeedbackMissing => "customer-feedback-missing",
            PartsNotAccountedFor { .. } => "parts-not-accounted-for",
            TripReportMissing => "trip-report-missing",
            ClockAlreadyPaused { .. } => "clock-already-paused",
            ClockNotPaused { .. } => "clock-not-paused",
            NoRunningTimer { .. } => "no-running-timer",
            ReturnNotOpen { .. } => "return-not-open",
            TeamStillAway => "team-still-away",
            PartsOutstanding => "parts-outstanding",
            CustomerNotContacted => "customer-not-contacted",
            ConsultationNotAnswered => "consultation-not-answered",
            SolutionMissing => "solution-missing",
            OnSiteVisitMissing => "on-site-visit-missing",
            WorkNotFinished => "work-not-finished",
            PartsNotReinspected => "parts-not-reinspected",
            SatisfactionCheckMissing => "satisfaction-check-missing",
            MarginBelowMinimum { .. } => "margin-below-minimum",
            NoBreach { .. } => "no-breach",
            PenaltyOutOfRange { .. } => "penalty-out-of-range",
            PenaltyAmountFixed { .. } => "penalty-amount-fixed",
            PenaltyAlreadyAssessed { .. } => "penalty-already-assessed",
            PenaltyAlreadyWaived { .. } => "penalty-already-waived",
            PenaltyNotFound { .. } => "penalty-not-found",
            FollowUpAlreadyRecorded { .. } => "follow-up-already-recorded",
            ComplaintNotFound { .. } => "complaint-not-found",
            RecallNeedsBatch => "recall-needs-batch",
            ReturnApprovalRole { .. } => "return-approval-role",
            CashRefundNotAllowed => "cash-refund-not-allowed",
            ComplaintNotGraded => "complaint-not-graded",
            NonconformingControlRequired => "nonconforming-control-required",
            OutcomeNotForGrade { .. } => "outcome-not-for-grade",
            ReturnNotApproved => "return-not-approved",
            StockEntryBeforeInspection => "stock-entry-before-inspection",
            FormStillCirculating { .. } => "form-still-circulating",
            FormAlreadyArchived { .. } => "form-already-archived",
            TraceLinkOutOfOrder { .. } => "trace-link-out-of-order",
            TraceChainIncomplete { .. } => "trace-chain-incomplete",
            QualityCaseNotFound { .. } => "quality-case-not-found",
            NotMajorIssue => "not-major-issue",
            InvestigationRequired => "investigation-required",
            PersonalDataAlreadyErased { .. } => "personal-data-already-erased",
            TokenAlreadyIssued { .. } => "token-already-issued",
            TokenNotFound { .. } => "token-not-found",
            TokenAlreadyRevoked { .. } => "token-already-revoked",
            InvalidInput { .. } => "invalid-input",
            CalendarNotCovered { .. } => "calendar-not-covered",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        use DomainError::*;
        match self {
            RoleNotPermitted { .. }
            | NotCustodian { .. }
            | NotHandoverRecipient { .. }
            | NotOnTeam { .. } => ErrorKind::Forbidden,
            ServiceRequestNotFound { .. }
            | PenaltyNotFound { .. }
            | ComplaintNotFound { .. }
            | QualityCaseNotFound { .. } => ErrorKind::NotFound,
            ReturnApprovalRole { .. } => ErrorKind::Forbidden,
            TokenNotFound { .. } => ErrorKind::NotFound,
            TokenAlreadyIssued { .. } | TokenAlreadyRevoked { .. } => ErrorKind::Conflict,
            FormAlreadyArchived { .. } => ErrorKind::Conflict,
            FollowUpAlreadyRecorded { .. } | PersonalDataAlreadyErased { .. } => {
                ErrorKind::Conflict
            }
            ClockAlreadyPaused { .. }
            | ClockNotPaused { .. }
            | TeamStillAway
            | PenaltyAlreadyAssessed { .. }
            | PenaltyAlreadyWaived { .. } => ErrorKind::Conflict,
            HandoverPending { .. }
            | ReturnAlreadyOpen { .. }
            | UnitNotAtCustomer { .. }
            | StepOutOfOrder { .. }
            | ReplacementUnavailable { .. }
            | AlreadyExchanged { .. }
            | SpareAvailable { .. }
            | AlreadyInZone { .. } => ErrorKind::Conflict,
            NoSuchHandover { .. } => ErrorKind::NotFound,
            Plan(PlanError::NotFound) => ErrorKind::NotFound,
            Plan(PlanError::AlreadyExists) | Plan(PlanError::WrongStatus { .. }) => {
                ErrorKind::Conflict
            }
            _ => ErrorKind::Rule,
        }
    }

    /// Where the rule comes from, for the problem's `detail`.
    pub fn rule(&self) -> &'static str {
        use DomainError::*;
        match self {
            RoleNotPermitted { .. } => "domain.md: parties and roles",
            NotCustodian { .. } | HandoverPending { .. } | NoSuchHandover { .. }
            | NotHandoverRecipient { .. } | HandoverToSelf | HandoverRouteNotAllowed { .. } => {
                "domain.md §1 rule 2 (seed 000 part 2): every handover is signed, custody is continuous"
            }
            BypassNotRegistered => "domain.md §1 rule 4 (seed 000 part 2 art. 8.6): no bypass",
            NotOnIssuedPlan { .. } | Plan(_) => {
                "domain.md §1 rule 6 (seed 000 part 2 art. 9, 10.1): repair plans"
            }
            PlaceholderDescription { .. } | MissingProductInfo { .. } | WrongOpenerForMode { .. }
            | ReturnAlreadyOpen { .. } | UnitNotAtCustomer { .. } => {
                "domain.md §1 rule 1 (seed 000 part 2 art. 8): opening a return"
            }
            CauseMismatch { .. } => "domain.md §1 rule 7: repair, fault confirmation and cause",
            TwoStrikesRepaired { .. } => "domain.md §1 rule 10 (seed 000 part 2 art. 10.4)",
            TwoStrikesNoFaultNotReturned | DevelopmentConfirmationRequired
            | FeeBelowMinimum { .. } | YoungUnitGoesToDevelopment => {
                "domain.md §1 rule 11 (seed 000 part 2 art. 10.4)"
            }
            ExplanationRequired | ExchangeNotDue | AlreadyExchanged { .. }
            | ReplacementUnavailable { .. } => "domain.md §1 rules 9-11: unrepairable units and exchange",
            CustomerSignatureRequired => "domain.md §1 rules 2 and 12: the customer signs",
            SignatureEvidenceRequired | TypedSignatureReasonRequired | SignatureNotFound { .. }
            | SignatureMediaTypeNotAccepted { .. } | SignatureEmpty | SignatureTooLarge { .. } => {
                "domain.md §1 rules 2 and 12, §2 feedback form: the customer's signature is evidence, not a typed name"
            }
            EmergencyUnitBecomesSpare | SpareAvailable { .. } => {
                "domain.md §1 rule 14 (seed 000 part 2 art. 11): emergency"
            }
            SpareNotSuitableForStock { .. } => "domain.md §1 rule 12: return to stock (退库)",
            ReceiverReturnDateRequired => {
                "domain.md §1 rule 3 (seed 000 part 2 art. 8.1): carried-back units reach after-sales within 2 working days of the receiver's return"
            }
            SpareWithoutCustomerDecision => {
                "domain.md §1 rule 12 (seed 000 part 2 art. 9): only a unit not to be returned becomes a repair spare"
            }
            CustomerCauseContradictsFindings { .. } => {
                "domain.md §1 rules 7 and 9: the disposition follows the repair dept's cause analysis"
            }
            AlreadyInZone { .. } => "domain.md §1 rule 15: a unit is in at most one zone",
            StepOutOfOrder { .. } => "domain.md §1: the return-for-repair process",
            ServiceRequestNotFound { .. } | NotServiceDept { .. } => {
                "domain.md §2 (seed 000 part 3 art. 7.1.3): relay to the service dept"
            }
            CompetitorWorkNotApproved => "domain.md §2: competitors' products, only approved work",
            WarrantyNotDecided | QuoteNotNeeded | NoQuote | FeeNotSettled => {
                "domain.md §2 (seed 000 part 3 art. 7.2.2, 7.2.4): warranty first, quote and confirmation out of warranty"
            }
            MarginBelowMinimum { .. } => "domain.md §2: fees, competitors' work at the minimum margin",
            OnSiteNotPlanned | NotOnTeam { .. } => "domain.md §2: on-site service",
            CustomerFeedbackMissing => {
                "domain.md §2 (seed 000 part 3 art. 7.2.6): the customer signs before the engineers leave"
            }
            PartsNotAccountedFor { .. } | PartsOutstanding | PartsNotReinspected => {
                "domain.md §2 (seed 000 part 3 art. 7.2.7): borrowed parts returned and re-inspected"
            }
            TripReportMissing => "domain.md §2 (seed 000 part 3 art. 7.2.7): trip report, then the manager's check",
            ClockAlreadyPaused { .. } | ClockNotPaused { .. } | NoRunningTimer { .. } => {
                "domain.md §2: a clock may be paused with a recorded reason"
            }
            ReturnNotOpen { .. } => "domain.md §2: a request not fixable on site becomes a return for repair",
            TeamStillAway | CustomerNotContacted | ConsultationNotAnswered | SolutionMissing
            | OnSiteVisitMissing | WorkNotFinished | SatisfactionCheckMissing => {
                "domain.md §2 (seed 000 part 3 art. 7.2): closing a service request owes its duties; a withdrawn request is cancelled by the general manager"
            }
            NoBreach { .. } | PenaltyOutOfRange { .. } | PenaltyAmountFixed { .. }
            | PenaltyAlreadyAssessed { .. } | PenaltyAlreadyWaived { .. } | PenaltyNotFound { .. } => {
                "domain.md §1 rule 17 and §2: penalties within the policy's scale; the general manager may waive"
            }
            FollowUpAlreadyRecorded { .. } => "domain.md §4: the unit file, one follow-up a year",
            ComplaintNotFound { .. } | RecallNeedsBatch | ComplaintNotGraded
            | NonconformingControlRequired | OutcomeNotForGrade { .. } => {
                "domain.md §3 (seed 002): QC grades the sample; A recall, B/C nonconforming control, D exchange or guidance"
            }
            ReturnApprovalRole { .. } | ReturnNotApproved => {
                "domain.md §3: returns up to 500 kg approved by sales, above by the technical vice-president"
            }
            CashRefundNotAllowed => "domain.md §3: no cash refunds, replacement products instead",
            StockEntryBeforeInspection => "domain.md §3: returned goods re-enter stock only after QC inspection",
            FormStillCirculating { .. } | FormAlreadyArchived { .. } => {
                "domain.md §1 rule 8 (seed 000 art. 10.8): QC archives the original form after its circulation"
            }
            TraceLinkOutOfOrder { .. } | TraceChainIncomplete { .. } => {
                "domain.md §3 (seed 004): trace label → … → supplier to the responsible department"
            }
            QualityCaseNotFound { .. } | NotMajorIssue | InvestigationRequired => {
                "seed 000 part 1: quality information feedback, investigation and escalation"
            }
            PersonalDataAlreadyErased { .. } => {
                "seed 003: customer data is confidential; erasure destroys the customer's key"
            }
            TokenAlreadyIssued { .. } | TokenNotFound { .. } | TokenAlreadyRevoked { .. } => {
                "docs/security.md: tokens are issued with an expiry and revoked with a reason"
            }
            InvalidInput { .. } => "request validation",
            CalendarNotCovered { .. } => {
                "issue #20: a policy's working calendar covers the 12 months after it is published"
            }
        }
    }
}

/// Every stable problem code a domain refusal can carry (listed for docs and the API's catalogue).
pub const CODES: &[&str] = &[
    "role-not-permitted",
    "not-custodian",
    "handover-pending",
    "no-such-handover",
    "not-handover-recipient",
    "handover-to-self",
    "bypass-not-registered",
    "not-on-issued-plan",
    "handover-route-not-allowed",
    "placeholder-description",
    "return-already-open",
    "unit-not-at-customer",
    "wrong-opener-for-mode",
    "step-out-of-order",
    "missing-product-info",
    "cause-mismatch",
    "two-strikes-repaired",
    "two-strikes-no-fault",
    "development-confirmation-required",
    "fee-below-minimum",
    "explanation-required",
    "customer-signature-required",
    "signature-evidence-required",
    "typed-signature-reason-required",
    "signature-not-found",
    "signature-media-type-not-accepted",
    "signature-empty",
    "signature-too-large",
    "replacement-unavailable",
    "already-exchanged",
    "exchange-not-due",
    "emergency-unit-becomes-spare",
    "receiver-return-date-required",
    "spare-without-customer-decision",
    "customer-cause-contradicts-findings",
    "spare-not-suitable-for-stock",
    "spare-available",
    "already-in-zone",
    "young-unit-goes-to-development",
    "plan-already-exists",
    "plan-not-found",
    "plan-empty",
    "plan-unit-not-registered",
    "plan-duplicate-unit",
    "plan-wrong-status",
    "amendment-reason-required",
    "service-request-not-found",
    "not-service-dept",
    "competitor-work-not-approved",
    "warranty-not-decided",
    "quote-not-needed",
    "no-quote",
    "fee-not-settled",
    "on-site-not-planned",
    "not-on-team",
    "customer-feedback-missing",
    "parts-not-accounted-for",
    "trip-report-missing",
    "clock-already-paused",
    "clock-not-paused",
    "no-running-timer",
    "return-not-open",
    "team-still-away",
    "parts-outstanding",
    "customer-not-contacted",
    "consultation-not-answered",
    "solution-missing",
    "on-site-visit-missing",
    "work-not-finished",
    "parts-not-reinspected",
    "satisfaction-check-missing",
    "margin-below-minimum",
    "no-breach",
    "penalty-out-of-range",
    "penalty-amount-fixed",
    "penalty-already-assessed",
    "penalty-already-waived",
    "penalty-not-found",
    "follow-up-already-recorded",
    "complaint-not-found",
    "recall-needs-batch",
    "return-approval-role",
    "cash-refund-not-allowed",
    "complaint-not-graded",
    "nonconforming-control-required",
    "outcome-not-for-grade",
    "return-not-approved",
    "stock-entry-before-inspection",
    "form-still-circulating",
    "form-already-archived",
    "trace-link-out-of-order",
    "trace-chain-incomplete",
    "quality-case-not-found",
    "not-major-issue",
    "investigation-required",
    "personal-data-already-erased",
    "token-already-issued",
    "token-not-found",
    "token-already-revoked",
    "invalid-input",
    "calendar-not-covered",
];
