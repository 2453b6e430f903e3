//! Field service requests (售后服务请求; domain.md §2; seed 000 part 3 art. 5, 7; seed 001;
//! seed 004), one stream each (`service-{request}`): received, relayed to the service dept,
//! warranty decided first, quoted and confirmed when chargeable, engineers on site, the
//! customer's signed feedback, leaving only with the service dept's approval, back at the
//! factory with the trip report, the borrowed parts and the manager's check.
//!
//! The clocks of these steps are not kept here: they are timers (`crate::sla`) a projection
//! starts and stops from these events. This aggregate records the facts and refuses the steps
//! the rules forbid; facts that break a rule but did happen (engineers who left without approval)
//! are recorded as such, because the engine's job is to show them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::error::DomainError;
use crate::fees::{self, Quote, QuoteInput};
use crate::guard::{out_of_order, role_in, specific};
use crate::sla::{PauseReason, TimerRule};
use crate::unit::{Ctx, CustomerRef, PersonRef, Signature};

/// Product categories, in service priority order (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProductCategory {
    /// Our own products.
    Own,
    /// Our own products sold by an agent.
    OwnViaAgent,
    /// Partner brands serviced under contract.
    Partner,
    /// Competitors' products: only approved work, with the general manager's approval.
    Competitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A question: answered, no visit.
    Consultation,
    /// A product fault: a solution, possibly on site.
    Repair,
    /// An engineering project (seed 001): reply in 24 h, on site in 72 h, cost + 10 %.
    EngineeringProject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    VerySatisfied,
    Satisfied,
    Neutral,
    Dissatisfied,
}

/// A part an engineer took along (borrow slip, 借用单).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BorrowedPart {
    pub part_no: String,
    pub quantity: u32,
}

/// What came back of a borrowed part: every piece used, unused or damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReturnedPart {
    pub part_no: String,
    pub used: u32,
    pub unused: u32,
    pub damaged: u32,
}

/// The manager's cost audit (费用审核).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CostAudit {
    pub claimed_minor: i64,
    pub approved_minor: i64,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ServiceEvent {
    ServiceRequestReceived {
        request_id: String,
        kind: RequestKind,
        category: ProductCategory,
        customer: CustomerRef,
        serial: Option<String>,
        model: Option<String>,
        site: String,
        distance_km: u32,
        description: String,
        received_by: PersonRef,
        at: DateTime<Utc>,
    },
    /// Passed to the service dept (信息传递).
    RequestRelayed {
        to: PersonRef,
        at: DateTime<Utc>,
    },
    CustomerContacted {
        by: String,
        note: String,
        at: DateTime<Utc>,
    },
    CompetitorWorkApproved {
        scope: String,
        approved_by: String,
        at: DateTime<Utc>,
    },
    /// Warranty first (7.2.2): decides whether the service is charged.
    WarrantyDecided {
        in_warranty: bool,
        misuse: bool,
        chargeable: bool,
        basis: String,
        at: DateTime<Utc>,
    },
    ConsultationAnswered {
        answer: String,
        by: String,
        at: DateTime<Utc>,
    },
    SolutionDetermined {
        solution: String,
        on_site: bool,
        by: String,
        at: DateTime<Utc>,
    },
    QuoteIssued {
        input: QuoteInput,
        quote: Quote,
        at: DateTime<Utc>,
    },
    QuoteConfirmed {
        confirmed_by: String,
        channel: String,
        at: DateTime<Utc>,
    },
    FeeRefused {
        note: String,
        at: DateTime<Utc>,
    },
    /// The general manager allows the service although the customer refused the fee.
    FreeServiceApproved {
        reason: String,
        approved_by: String,
        at: DateTime<Utc>,
    },
    EngineersDeparted {
        lead: String,
        team: Vec<String>,
        borrowed_parts: Vec<BorrowedPart>,
        at: DateTime<Utc>,
    },
    ArrivedOnSite {
        by: String,
        at: DateTime<Utc>,
    },
    WorkLogged {
        text: String,
        by: String,
        at: DateTime<Utc>,
    },
    /// The customer chased (a call, a message): evidence of a delay.
    CustomerChased {
        note: String,
        at: DateTime<Utc>,
    },
    /// The user feedback form (用户意见处理反馈表), signed by the customer.
    CustomerFeedbackSigned {
        satisfaction: Satisfaction,
        opinion: String,
        signature: Signature,
        at: DateTime<Utc>,
    },
    /// The service dept allows the engineers to leave the site.
    SiteDepartureApproved {
        finished: bool,
        by: String,
        at: DateTime<Utc>,
    },
    /// The engineers left the site; `approved` is false when nobody allowed it (7.2.6).
    LeftSite {
        finished: bool,
        approved: bool,
        reason: String,
        at: DateTime<Utc>,
    },
    BackAtFactory {
        at: DateTime<Utc>,
    },
    TripReportFiled {
        report: String,
        expenses_minor: i64,
        at: DateTime<Utc>,
    },
    PartsReturned {
        parts: Vec<ReturnedPart>,
        at: DateTime<Utc>,
    },
    PartsReinspected {
        findings: String,
        by: String,
        at: DateTime<Utc>,
    },
    SatisfactionConfirmed {
        satisfaction: Satisfaction,
        note: String,
        cost_audit: CostAudit,
        by: String,
        at: DateTime<Utc>,
    },
    ClockPaused {
        timer: TimerRule,
        reason: PauseReason,
        note: String,
        at: DateTime<Utc>,
    },
    ClockResumed {
        timer: TimerRule,
        at: DateTime<Utc>,
    },
    /// Not fixable on site: the unit comes back for repair; its return carries this request's id.
    EscalatedToReturn {
        serial: String,
        return_id: String,
        at: DateTime<Utc>,
    },
    ServiceRequestClosed {
        outcome: String,
        at: DateTime<Utc>,
    },
    /// The customer withdrew the request and the general manager approved ending it undone:
    /// the exception to the closing duties. Its running clocks show as cancelled, never met.
    ServiceRequestCancelled {
        reason: String,
        /// Who asked, as recorded (the customer's name and the channel).
        requested_by: String,
        approved_by: String,
        at: DateTime<Utc>,
    },
}

impl ServiceEvent {
    pub fn event_type(&self) -> &'static str {
        use ServiceEvent::*;
        match self {
            ServiceRequestReceived { .. } => "ServiceRequestReceived",
            RequestRelayed { .. } => "RequestRelayed",
            CustomerContacted { .. } => "CustomerContacted",
            CompetitorWorkApproved { .. } => "CompetitorWorkApproved",
            WarrantyDecided { .. } => "WarrantyDecided",
            ConsultationAnswered { .. } => "ConsultationAnswered",
            SolutionDetermined { .. } => "SolutionDetermined",
            QuoteIssued { .. } => "QuoteIssued",
            QuoteConfirmed { .. } => "QuoteConfirmed",
            FeeRefused { .. } => "FeeRefused",
            FreeServiceApproved { .. } => "FreeServiceApproved",
            EngineersDeparted { .. } => "EngineersDeparted",
            ArrivedOnSite { .. } => "ArrivedOnSite",
            WorkLogged { .. } => "WorkLogged",
            CustomerChased { .. } => "CustomerChased",
            CustomerFeedbackSigned { .. } => "CustomerFeedbackSigned",
            SiteDepartureApproved { .. } => "SiteDepartureApproved",
            LeftSite { .. } => "LeftSite",
            BackAtFactory { .. } => "BackAtFactory",
            TripReportFiled { .. } => "TripReportFiled",
            PartsReturned { .. } => "PartsReturned",
            PartsReinspected { .. } => "PartsReinspected",
            SatisfactionConfirmed { .. } => "SatisfactionConfirmed",
            ClockPaused { .. } => "ClockPaused",
            ClockResumed { .. } => "ClockResumed",
            EscalatedToReturn { .. } => "EscalatedToReturn",
            ServiceRequestClosed { .. } => "ServiceRequestClosed",
            ServiceRequestCancelled { .. } => "ServiceRequestCancelled",
        }
    }
}

/// Where the engineers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trip {
    NotStarted,
    Travelling,
    OnSite,
    /// Left the site with the work unfinished: they owe the customer a return.
    LeftUnfinished,
    LeftFinished,
    Back,
}

/// A request as its decisions need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceState {
    pub request_id: String,
    pub received: bool,
    pub kind: Option<RequestKind>,
    pub category: Option<ProductCategory>,
    pub received_by: Option<PersonRef>,
    pub relayed_to: Option<PersonRef>,
    pub contacted: bool,
    pub competitor_approved: bool,
    /// `Some(chargeable)` once warranty is decided.
    pub chargeable: Option<bool>,
    pub answered: bool,
    /// `Some(on_site)` once a solution is determined.
    pub on_site_planned: Option<bool>,
    pub quote: Option<Quote>,
    pub quote_confirmed: bool,
    pub fee_refused: bool,
    pub free_service_approved: bool,
    pub trip: Trip,
    pub lead: Option<String>,
    pub team: Vec<String>,
    pub borrowed: Vec<BorrowedPart>,
    pub parts_returned: bool,
    pub parts_reinspected: bool,
    /// Since the last arrival.
    pub feedback_signed: bool,
    /// Since the last arrival: `Some(finished)` when the service dept allowed leaving.
    pub departure_approved: Option<bool>,
    pub work_finished: bool,
    pub trip_report_filed: bool,
    pub satisfaction_confirmed: bool,
    pub paused: BTreeSet<TimerRule>,
    pub escalated_to: Option<(String, String)>,
    /// Closed or cancelled: nothing more is recorded.
    pub closed: bool,
    /// Ended by an approved cancellation rather than closed with its duties done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

impl ServiceState {
    pub fn new(request_id: impl Into<String>) -> Self {
        ServiceState {
            request_id: request_id.into(),
            received: false,
            kind: None,
            category: None,
            received_by: None,
            relayed_to: None,
            contacted: false,
            competitor_approved: false,
            chargeable: None,
            answered: false,
            on_site_planned: None,
            quote: None,
            quote_confirmed: false,
            fee_refused: false,
            free_service_approved: false,
            trip: Trip::NotStarted,
            lead: None,
            team: Vec::new(),
            borrowed: Vec::new(),
            parts_returned: false,
            parts_reinspected: false,
            feedback_signed: false,
            departure_approved: None,
            work_finished: false,
            trip_report_filed: false,
            satisfaction_confirmed: false,
            paused: BTreeSet::new(),
            escalated_to: None,
            closed: false,
            cancelled: false,
        }
    }

    pub fn from_events(request_id: &str, events: &[ServiceEvent]) -> Self {
        events
            .iter()
            .fold(ServiceState::new(request_id), |s, e| s.evolve(e))
    }

    pub fn evolve(mut self, e: &ServiceEvent) -> Self {
        use ServiceEvent::*;
        match e {
            ServiceRequestReceived {
                kind,
                category,
                received_by,
                ..
            } => {
                self.received = true;
                self.kind = Some(*kind);
                self.category = Some(*category);
                self.received_by = Some(received_by.clone());
            }
            RequestRelayed { to, .. } => self.relayed_to = Some(to.clone()),
            CustomerContacted { .. } => self.contacted = true,
            CompetitorWorkApproved { .. } => self.competitor_approved = true,
            WarrantyDecided { chargeable, .. } => self.chargeable = Some(*chargeable),
            ConsultationAnswered { .. } => self.answered = true,
            SolutionDetermined { on_site, .. } => self.on_site_planned = Some(*on_site),
            QuoteIssued { quote, .. } => {
                self.quote = Some(quote.clone());
                self.quote_confirmed = false;
                self.fee_refused = false;
            }
            QuoteConfirmed { .. } => self.quote_confirmed = true,
            FeeRefused { .. } => self.fee_refused = true,
            FreeServiceApproved { .. } => self.free_service_approved = true,
            EngineersDeparted {
                lead,
                team,
                borrowed_parts,
                ..
            } => {
                self.trip = Trip::Travelling;
                self.lead = Some(lead.clone());
                self.team = team.clone();
                self.borrowed.extend(borrowed_parts.iter().cloned());
                if !borrowed_parts.is_empty() {
                    self.parts_returned = false;
                    self.parts_reinspected = false;
                }
            }
            ArrivedOnSite { .. } => {
                self.trip = Trip::OnSite;
                self.feedback_signed = false;
                self.departure_approved = None;
            }
            WorkLogged { .. } | CustomerChased { .. } => {}
            CustomerFeedbackSigned { .. } => self.feedback_signed = true,
            SiteDepartureApproved { finished, .. } => self.departure_approved = Some(*finished),
            LeftSite { finished, .. } => {
                self.trip = if *finished {
                    Trip::LeftFinished
                } else {
                    Trip::LeftUnfinished
                };
                self.work_finished = *finished;
            }
            BackAtFactory { .. } => {
                self.trip = Trip::Back;
                self.trip_report_filed = false;
                self.satisfaction_confirmed = false;
            }
            TripReportFiled { .. } => self.trip_report_filed = true,
            PartsReturned { .. } => self.parts_returned = true,
            PartsReinspected { .. } => self.parts_reinspected = true,
            SatisfactionConfirmed { .. } => self.satisfaction_confirmed = true,
            ClockPaused { timer, .. } => {
                self.paused.insert(*timer);
            }
            ClockResumed { timer, .. } => {
                self.paused.remove(timer);
            }
            EscalatedToReturn {
                serial, return_id, ..
            } => self.escalated_to = Some((serial.clone(), return_id.clone())),
            ServiceRequestClosed { .. } => self.closed = true,
            ServiceRequestCancelled { .. } => {
                self.closed = true;
                self.cancelled = true;
            }
        }
        self
    }

    fn on_team(&self, person: &str) -> bool {
        self.team.iter().any(|p| p == person)
    }
}

/// Commands on a service request. Facts another aggregate or a projection knows come in with
/// the command (resolved by the adapter), as elsewhere in this crate.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceCommand {
    Receive {
        kind: RequestKind,
        category: ProductCategory,
        customer: CustomerRef,
        serial: Option<String>,
        model: Option<String>,
        site: String,
        distance_km: u32,
        description: String,
    },
    /// `to` is the service-dept person, with the role the directory gives them.
    Relay {
        to: PersonRef,
    },
    Contact {
        note: String,
    },
    ApproveCompetitorWork {
        scope: String,
    },
    DecideWarranty {
        in_warranty: bool,
        misuse: bool,
        basis: String,
    },
    AnswerConsultation {
        answer: String,
    },
    DetermineSolution {
        solution: String,
        on_site: bool,
    },
    IssueQuote {
        input: QuoteInput,
    },
    ConfirmQuote {
        confirmed_by: String,
        channel: String,
    },
    RefuseFee {
        note: String,
    },
    ApproveFreeService {
        reason: String,
    },
    Depart {
        team: Vec<String>,
        borrowed_parts: Vec<BorrowedPart>,
    },
    Arrive,
    LogWork {
        text: String,
    },
    RecordChase {
        note: String,
    },
    SignFeedback {
        satisfaction: Satisfaction,
        opinion: String,
        signature: Signature,
    },
    ApproveSiteDeparture {
        finished: bool,
    },
    LeaveSite {
        finished: bool,
        reason: String,
    },
    ReturnToFactory,
    FileTripReport {
        report: String,
        expenses_minor: i64,
    },
    ReturnParts {
        parts: Vec<ReturnedPart>,
    },
    ReinspectParts {
        findings: String,
    },
    ConfirmSatisfaction {
        satisfaction: Satisfaction,
        note: String,
        cost_audit: CostAudit,
    },
    /// `timer_running`: whether the projection has this timer running for the request.
    PauseClock {
        timer: TimerRule,
        reason: PauseReason,
        note: String,
        timer_running: bool,
    },
    ResumeClock {
        timer: TimerRule,
    },
    /// `open_return`: the unit's open return id, read from the unit's stream.
    Escalate {
        serial: String,
        return_id: String,
        open_return: Option<String>,
    },
    Close {
        outcome: String,
    },
    /// The customer withdraws the request; only the general manager approves ending it undone.
    Cancel {
        reason: String,
        requested_by: String,
    },
}

type Decision = Result<Vec<ServiceEvent>, DomainError>;

/// The rules of §2, one guard per step.
pub fn decide(s: &ServiceState, c: &ServiceCommand, ctx: &Ctx) -> Decision {
    use ServiceCommand as C;
    use ServiceEvent as E;
    let at = ctx.at;
    let me = ctx.actor.person_id.clone();
    if let C::Receive {
        kind,
        category,
        customer,
        serial,
        model,
        site,
        distance_km,
        description,
    } = c
    {
        if matches!(ctx.actor.role, Role::Auditor | Role::Customer) {
            return Err(DomainError::RoleNotPermitted {
                role: ctx.actor.role,
                action: "receive a service request",
            });
        }
        if s.received {
            return Err(out_of_order("received", "a new request id"));
        }
        specific(ctx, "description", description)?;
        specific(ctx, "site", site)?;
        let received_by = PersonRef {
            person_id: me,
            role: ctx.actor.role,
        };
        let mut events = vec![E::ServiceRequestReceived {
            request_id: s.request_id.clone(),
            kind: *kind,
            category: *category,
            customer: customer.clone(),
            serial: serial.clone(),
            model: model.clone(),
            site: site.clone(),
            distance_km: *distance_km,
            description: description.clone(),
            received_by: received_by.clone(),
            at,
        }];
        // The service dept receiving it directly has nothing to relay: the relay is the receipt.
        if ctx.actor.role == Role::AfterSales {
            events.push(E::RequestRelayed {
                to: received_by,
                at,
            });
        }
        return Ok(events);
    }
    if !s.received {
        return Err(DomainError::ServiceRequestNotFound {
            request_id: s.request_id.clone(),
        });
    }
    if s.closed {
        return Err(out_of_order("closed", "an open service request"));
    }
    let relayed = || {
        s.relayed_to
            .as_ref()
            .map(|_| ())
            .ok_or(out_of_order("not relayed", "the relay to the service dept"))
    };
    let warranty_first = || s.chargeable.ok_or(DomainError::WarrantyNotDecided);
    let lead_only = |action: &'static str| -> Result<(), DomainError> {
        role_in(ctx, &[Role::TechnicalService], action)?;
        if s.lead.as_deref() == Some(me.as_str()) {
            Ok(())
        } else {
            Err(DomainError::NotOnTeam {
                person_id: me.clone(),
            })
        }
    };
    match c {
        C::Receive { .. } => unreachable!("handled above"),
        C::Relay { to } => {
            if s.relayed_to.is_some() {
                return Err(out_of_order("relayed", "a request not yet relayed"));
            }
            let receiver = s.received_by.as_ref().map(|p| p.person_id.as_str());
            if receiver != Some(me.as_str()) {
                return Err(DomainError::RoleNotPermitted {
                    role: ctx.actor.role,
                    action: "relay a request someone else received",
                });
            }
            if to.role != Role::AfterSales {
                return Err(DomainError::NotServiceDept {
                    person_id: to.person_id.clone(),
                });
            }
            Ok(vec![E::RequestRelayed { to: to.clone(), at }])
        }
        C::Contact { note } => {
            role_in(ctx, &[Role::AfterSales], "contact the customer")?;
            relayed()?;
            specific(ctx, "note", note)?;
            Ok(vec![E::CustomerContacted {
                by: me,
                note: note.clone(),
                at,
            }])
        }
        C::ApproveCompetitorWork { scope } => {
            role_in(
                ctx,
                &[Role::GeneralManager],
                "approve work on a competitor's product",
            )?;
            if s.category != Some(ProductCategory::Competitor) {
                return Err(DomainError::InvalidInput {
                    field: "category",
                    reason: "only competitors' products need this approval".into(),
                });
            }
            specific(ctx, "scope", scope)?;
            Ok(vec![E::CompetitorWorkApproved {
                scope: scope.clone(),
                approved_by: me,
                at,
            }])
        }
        C::DecideWarranty {
            in_warranty,
            misuse,
            basis,
        } => {
            role_in(ctx, &[Role::AfterSales], "decide warranty")?;
            relayed()?;
            if s.chargeable.is_some() {
                return Err(out_of_order(
                    "warranty decided",
                    "a request without a warranty decision",
                ));
            }
            if s.category == Some(ProductCategory::Competitor) && !s.competitor_approved {
                return Err(DomainError::CompetitorWorkNotApproved);
            }
            specific(ctx, "basis", basis)?;
            // Competitors' products are never under our warranty; misuse voids it (5.1).
            let chargeable =
                !*in_warranty || *misuse || s.category == Some(ProductCategory::Competitor);
            Ok(vec![E::WarrantyDecided {
                in_warranty: *in_warranty,
                misuse: *misuse,
                chargeable,
                basis: basis.clone(),
                at,
            }])
        }
        C::AnswerConsultation { answer } => {
            role_in(ctx, &[Role::AfterSales], "answer a consultation")?;
            relayed()?;
            if s.kind != Some(RequestKind::Consultation) {
                return Err(out_of_order("not a consultation", "a consultation request"));
            }
            specific(ctx, "answer", answer)?;
            Ok(vec![E::ConsultationAnswered {
                answer: answer.clone(),
                by: me,
                at,
            }])
        }
        C::DetermineSolution { solution, on_site } => {
            role_in(ctx, &[Role::AfterSales], "determine a solution")?;
            relayed()?;
            if s.kind == Some(RequestKind::Consultation) {
                return Err(out_of_order(
                    "a consultation",
                    "a repair or engineering request",
                ));
            }
            warranty_first()?;
            specific(ctx, "solution", solution)?;
            Ok(vec![E::SolutionDetermined {
                solution: solution.clone(),
                on_site: *on_site,
                by: me,
                at,
            }])
        }
        C::IssueQuote { input } => {
            role_in(ctx, &[Role::AfterSales], "issue a quote")?;
            if !warranty_first()? {
                return Err(DomainError::QuoteNotNeeded);
            }
            if s.trip != Trip::NotStarted {
                return Err(out_of_order(
                    "engineers dispatched",
                    "a quote before departure",
                ));
            }
            let quote = fees::quote(
                &ctx.policy.fees,
                s.category.unwrap_or(ProductCategory::Own),
                s.kind.unwrap_or(RequestKind::Repair),
                input,
            )?;
            Ok(vec![E::QuoteIssued {
                input: input.clone(),
                quote,
                at,
            }])
        }
        C::ConfirmQuote {
            confirmed_by,
            channel,
        } => {
            role_in(
                ctx,
                &[Role::AfterSales],
                "record the customer's confirmation",
            )?;
            if s.quote.is_none() {
                return Err(DomainError::NoQuote);
            }
            if s.quote_confirmed {
                return Err(out_of_order("quote confirmed", "an unconfirmed quote"));
            }
            specific(ctx, "confirmed_by", confirmed_by)?;
            Ok(vec![E::QuoteConfirmed {
                confirmed_by: confirmed_by.clone(),
                channel: channel.clone(),
                at,
            }])
        }
        C::RefuseFee { note } => {
            role_in(ctx, &[Role::AfterSales], "record the customer's refusal")?;
            if s.quote.is_none() {
                return Err(DomainError::NoQuote);
            }
            if s.quote_confirmed {
                return Err(out_of_order("quote confirmed", "an unconfirmed quote"));
            }
            Ok(vec![E::FeeRefused {
                note: note.clone(),
                at,
            }])
        }
        C::ApproveFreeService { reason } => {
            role_in(
                ctx,
                &[Role::GeneralManager],
                "approve service without the fee",
            )?;
            if !s.fee_refused {
                return Err(out_of_order(
                    "fee not refused",
                    "the customer's refusal of the fee",
                ));
            }
            specific(ctx, "reason", reason)?;
            Ok(vec![E::FreeServiceApproved {
                reason: reason.clone(),
                approved_by: me,
                at,
            }])
        }
        C::Depart {
            team,
            borrowed_parts,
        } => {
            role_in(ctx, &[Role::TechnicalService], "depart for the site")?;
            let chargeable = warranty_first()?;
            if s.category == Some(ProductCategory::Competitor) && !s.competitor_approved {
                return Err(DomainError::CompetitorWorkNotApproved);
            }
            if s.on_site_planned != Some(true) {
                return Err(DomainError::OnSiteNotPlanned);
            }
            if chargeable && !(s.quote_confirmed || s.free_service_approved) {
                return Err(DomainError::FeeNotSettled);
            }
            if !matches!(s.trip, Trip::NotStarted | Trip::Back) {
                return Err(out_of_order("engineers away", "engineers at the factory"));
            }
            if borrowed_parts.iter().any(|p| p.quantity == 0) {
                return Err(DomainError::InvalidInput {
                    field: "borrowed_parts",
                    reason: "a borrowed part has a quantity of at least 1".into(),
                });
            }
            let mut members: Vec<String> = vec![me.clone()];
            for p in team {
                if !members.contains(p) {
                    members.push(p.clone());
                }
            }
            Ok(vec![E::EngineersDeparted {
                lead: me,
                team: members,
                borrowed_parts: borrowed_parts.clone(),
                at,
            }])
        }
        C::Arrive => {
            role_in(ctx, &[Role::TechnicalService], "record arrival on site")?;
            if !s.on_team(&me) {
                return Err(DomainError::NotOnTeam { person_id: me });
            }
            if !matches!(s.trip, Trip::Travelling | Trip::LeftUnfinished) {
                return Err(out_of_order("not travelling", "engineers on their way"));
            }
            Ok(vec![E::ArrivedOnSite { by: me, at }])
        }
        C::LogWork { text } => {
            role_in(ctx, &[Role::TechnicalService], "log work on site")?;
            if !s.on_team(&me) {
                return Err(DomainError::NotOnTeam { person_id: me });
            }
            if s.trip != Trip::OnSite {
                return Err(out_of_order("not on site", "engineers on site"));
            }
            specific(ctx, "text", text)?;
            Ok(vec![E::WorkLogged {
                text: text.clone(),
                by: me,
                at,
            }])
        }
        C::RecordChase { note } => {
            if matches!(ctx.actor.role, Role::Auditor) {
                return Err(DomainError::RoleNotPermitted {
                    role: ctx.actor.role,
                    action: "record a chase",
                });
            }
            specific(ctx, "note", note)?;
            Ok(vec![E::CustomerChased {
                note: note.clone(),
                at,
            }])
        }
        C::SignFeedback {
            satisfaction,
            opinion,
            signature,
        } => {
            role_in(
                ctx,
                &[Role::TechnicalService],
                "record the customer's feedback",
            )?;
            if !s.on_team(&me) {
                return Err(DomainError::NotOnTeam { person_id: me });
            }
            if s.trip != Trip::OnSite {
                return Err(out_of_order("not on site", "engineers on site"));
            }
            crate::signature::require(signature, ctx)?;
            specific(ctx, "opinion", opinion)?;
            Ok(vec![E::CustomerFeedbackSigned {
                satisfaction: *satisfaction,
                opinion: opinion.clone(),
                signature: signature.clone(),
                at,
            }])
        }
        C::ApproveSiteDeparture { finished } => {
            role_in(
                ctx,
                &[Role::AfterSales],
                "allow engineers to leave the site",
            )?;
            if s.trip != Trip::OnSite {
                return Err(out_of_order("not on site", "engineers on site"));
            }
            // 7.2.6: finished work is signed off by the customer before anyone leaves.
            if *finished && !s.feedback_signed {
                return Err(DomainError::CustomerFeedbackMissing);
            }
            Ok(vec![E::SiteDepartureApproved {
                finished: *finished,
                by: me,
                at,
            }])
        }
        C::LeaveSite { finished, reason } => {
            lead_only("leave the site")?;
            if s.trip != Trip::OnSite {
                return Err(out_of_order("not on site", "engineers on site"));
            }
            specific(ctx, "reason", reason)?;
            // Leaving finished work on an "unfinished" approval is not the approval given.
            let approved = matches!(s.departure_approved, Some(f) if f || !*finished);
            Ok(vec![E::LeftSite {
                finished: *finished,
                approved,
                reason: reason.clone(),
                at,
            }])
        }
        C::ReturnToFactory => {
            lead_only("record the return to the factory")?;
            if !matches!(s.trip, Trip::LeftFinished | Trip::LeftUnfinished) {
                return Err(out_of_order(
                    "not travelling back",
                    "engineers who left the site",
                ));
            }
            Ok(vec![E::BackAtFactory { at }])
        }
        C::FileTripReport {
            report,
            expenses_minor,
        } => {
            lead_only("file the trip report")?;
            if s.trip != Trip::Back {
                return Err(out_of_order("not back", "engineers back at the factory"));
            }
            if s.trip_report_filed {
                return Err(out_of_order("report filed", "a trip without a report"));
            }
            specific(ctx, "report", report)?;
            if *expenses_minor < 0 {
                return Err(DomainError::InvalidInput {
                    field: "expenses_minor",
                    reason: "must not be negative".into(),
                });
            }
            Ok(vec![E::TripReportFiled {
                report: report.clone(),
                expenses_minor: *expenses_minor,
                at,
            }])
        }
        C::ReturnParts { parts } => {
            lead_only("return borrowed parts")?;
            if s.trip != Trip::Back {
                return Err(out_of_order("not back", "engineers back at the factory"));
            }
            if s.borrowed.is_empty() || s.parts_returned {
                return Err(out_of_order(
                    "no parts outstanding",
                    "borrowed parts to return",
                ));
            }
            let mut owed: BTreeMap<&str, u64> = BTreeMap::new();
            for b in &s.borrowed {
                *owed.entry(b.part_no.as_str()).or_default() += u64::from(b.quantity);
            }
            let mut back: BTreeMap<&str, u64> = BTreeMap::new();
            for p in parts {
                *back.entry(p.part_no.as_str()).or_default() +=
                    u64::from(p.used) + u64::from(p.unused) + u64::from(p.damaged);
            }
            if let Some(part) = owed
                .keys()
                .chain(back.keys())
                .find(|k| owed.get(*k) != back.get(*k))
            {
                return Err(DomainError::PartsNotAccountedFor {
                    part_no: part.to_string(),
                });
            }
            Ok(vec![E::PartsReturned {
                parts: parts.clone(),
                at,
            }])
        }
        C::ReinspectParts { findings } => {
            role_in(ctx, &[Role::Qc], "re-inspect returned parts")?;
            if !s.parts_returned || s.parts_reinspected {
                return Err(out_of_order("no parts to inspect", "returned parts"));
            }
            specific(ctx, "findings", findings)?;
            Ok(vec![E::PartsReinspected {
                findings: findings.clone(),
                by: me,
                at,
            }])
        }
        C::ConfirmSatisfaction {
            satisfaction,
            note,
            cost_audit,
        } => {
            role_in(
                ctx,
                &[Role::AfterSales],
                "confirm satisfaction and audit costs",
            )?;
            if !s.trip_report_filed {
                return Err(DomainError::TripReportMissing);
            }
            if s.satisfaction_confirmed {
                return Err(out_of_order("confirmed", "a trip not yet checked"));
            }
            if cost_audit.claimed_minor < 0
                || cost_audit.approved_minor < 0
                || cost_audit.approved_minor > cost_audit.claimed_minor
            {
                return Err(DomainError::InvalidInput {
                    field: "cost_audit",
                    reason: "0 <= approved_minor <= claimed_minor".into(),
                });
            }
            specific(ctx, "note", note)?;
            Ok(vec![E::SatisfactionConfirmed {
                satisfaction: *satisfaction,
                note: note.clone(),
                cost_audit: cost_audit.clone(),
                by: me,
                at,
            }])
        }
        C::PauseClock {
            timer,
            reason,
            note,
            timer_running,
        } => {
            role_in(
                ctx,
                &[Role::AfterSales, Role::GeneralManager],
                "pause a clock",
            )?;
            if s.paused.contains(timer) {
                return Err(DomainError::ClockAlreadyPaused {
                    timer: timer.as_str(),
                });
            }
            if !timer_running {
                return Err(DomainError::NoRunningTimer {
                    timer: timer.as_str(),
                });
            }
            specific(ctx, "note", note)?;
            Ok(vec![E::ClockPaused {
                timer: *timer,
                reason: *reason,
                note: note.clone(),
                at,
            }])
        }
        C::ResumeClock { timer } => {
            role_in(
                ctx,
                &[Role::AfterSales, Role::GeneralManager],
                "resume a clock",
            )?;
            if !s.paused.contains(timer) {
                return Err(DomainError::ClockNotPaused {
                    timer: timer.as_str(),
                });
            }
            Ok(vec![E::ClockResumed { timer: *timer, at }])
        }
        C::Escalate {
            serial,
            return_id,
            open_return,
        } => {
            role_in(ctx, &[Role::AfterSales], "escalate to a return for repair")?;
            if s.escalated_to.is_some() {
                return Err(out_of_order("escalated", "a request not yet escalated"));
            }
            if open_return.as_deref() != Some(return_id.as_str()) {
                return Err(DomainError::ReturnNotOpen {
                    serial: serial.clone(),
                    return_id: return_id.clone(),
                });
            }
            Ok(vec![E::EscalatedToReturn {
                serial: serial.clone(),
                return_id: return_id.clone(),
                at,
            }])
        }
        C::Close { outcome } => {
            role_in(ctx, &[Role::AfterSales], "close a service request")?;
            closing_duties(s)?;
            specific(ctx, "outcome", outcome)?;
            Ok(vec![E::ServiceRequestClosed {
                outcome: outcome.clone(),
                at,
            }])
        }
        C::Cancel {
            reason,
            requested_by,
        } => {
            // domain.md: the general manager approves exceptions (§2: "the general manager may
            // approve exceptions"); ending a request with its duties undone is one.
            role_in(
                ctx,
                &[Role::GeneralManager],
                "approve cancelling a service request",
            )?;
            trip_duties(s)?;
            specific(ctx, "reason", reason)?;
            specific(ctx, "requested_by", requested_by)?;
            Ok(vec![E::ServiceRequestCancelled {
                reason: reason.clone(),
                requested_by: requested_by.clone(),
                approved_by: me,
                at,
            }])
        }
    }
}

/// What a close owes, by kind (§2, seed 000 part 3 art. 7.2): the customer contacted; a
/// consultation answered, or a solution determined; a visit the solution calls for made and its
/// work finished (an unfinished visit owes the revisit); then the trip's duties. A request
/// escalated to a return for repair continues in the factory: it owes no visit or finished
/// work, but a trip that did happen still owes its duties.
fn closing_duties(s: &ServiceState) -> Result<(), DomainError> {
    if !s.contacted {
        return Err(DomainError::CustomerNotContacted);
    }
    if s.kind == Some(RequestKind::Consultation) {
        if !s.answered {
            return Err(DomainError::ConsultationNotAnswered);
        }
    } else if s.on_site_planned.is_none() {
        return Err(DomainError::SolutionMissing);
    }
    let escalated = s.escalated_to.is_some();
    if !escalated {
        if s.on_site_planned == Some(true) && s.trip == Trip::NotStarted {
            return Err(DomainError::OnSiteVisitMissing);
        }
        let unfinished = match s.trip {
            Trip::LeftUnfinished => true,
            Trip::Back => !s.work_finished,
            _ => false,
        };
        if unfinished {
            return Err(DomainError::WorkNotFinished);
        }
    }
    trip_duties(s)
}

/// What a trip owes before its request may end, closed or cancelled (§2: back at the factory,
/// trip report, borrowed parts returned and re-inspected by QC, the manager's satisfaction check
/// and cost audit). No trip, no duties.
fn trip_duties(s: &ServiceState) -> Result<(), DomainError> {
    match s.trip {
        Trip::NotStarted => return Ok(()),
        Trip::Back => {}
        Trip::Travelling | Trip::OnSite | Trip::LeftUnfinished | Trip::LeftFinished => {
            return Err(DomainError::TeamStillAway)
        }
    }
    if !s.borrowed.is_empty() && !s.parts_returned {
        return Err(DomainError::PartsOutstanding);
    }
    if !s.borrowed.is_empty() && !s.parts_reinspected {
        return Err(DomainError::PartsNotReinspected);
    }
    if !s.trip_report_filed {
        return Err(DomainError::TripReportMissing);
    }
    if !s.satisfaction_confirmed {
        return Err(DomainError::SatisfactionCheckMissing);
    }
    Ok(())
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;

impl crate::Aggregate for ServiceState {
    type Event = ServiceEvent;
    type Command = ServiceCommand;
    const ID: &'static str = "request_id";
    fn stream(id: &str) -> String {
        crate::streams::service(id)
    }
    fn fold(id: &str, events: &[ServiceEvent]) -> Self {
        ServiceState::from_events(id, events)
    }
    fn decide(&self, _id: &str, c: &ServiceCommand, ctx: &Ctx) -> Decision {
        decide(self, c, ctx)
    }
}
