//! Field service requests, SLA timers and penalties, folded from the log.
//!
//! Timers are facts here (rule, start, pauses, stop, who answers for it); whether a timer is
//! running, at risk, met or breached depends on an instant and the policy's calendar, so it is
//! judged when read (`repairledger_domain::sla::evaluate`), never stored: the same log gives the
//! same timers, and any instant can be asked about.

use chrono::{DateTime, Utc};
use repairledger_domain::penalty::{PenaltyEvent, PenaltyRule};
use repairledger_domain::service::*;
use repairledger_domain::sla::{Pause, TimerParams, TimerRule};
use repairledger_domain::unit::{CustomerRef, PersonRef, ReturnMode, Signature, Step, UnitEvent};
use repairledger_domain::Role;
use repairledger_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{Entry, ReadModel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Unit,
    ServiceRequest,
    Complaint,
}

/// One deadline of one subject: `{subject}.{rule}.{n}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimerView {
    pub timer_id: String,
    pub rule: TimerRule,
    pub subject_kind: SubjectKind,
    /// The unit serial or the service request id.
    pub subject: String,
    pub return_id: Option<String>,
    /// Who answers for the deadline, and so their department (role).
    pub responsible: PersonRef,
    pub started_at: DateTime<Utc>,
    pub start_position: u64,
    pub params: TimerParams,
    /// The policy the timer started under: its budget and calendar apply.
    pub policy_version: u32,
    pub pauses: Vec<Pause>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_position: Option<u64>,
    /// The penalty assessed for its breach, if any.
    pub penalty_id: Option<String>,
    /// Set when an approved exception stopped the timer (a cancelled or escalated request),
    /// not the duty done: it is judged `cancelled` with this reason, never `met`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<TimerCancellation>,
}

/// Why a timer stopped without its duty done, and who approved it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimerCancellation {
    pub reason: String,
    pub approved_by: String,
    pub at: DateTime<Utc>,
    pub position: u64,
}

/// A request the customer withdrew, cancelled with the general manager's approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancellationRecord {
    pub reason: String,
    /// Who asked, as recorded (the customer's name and the channel).
    pub requested_by: String,
    pub approved_by: String,
    pub at: DateTime<Utc>,
}

/// Engineers who left a site without the service dept's approval (7.2.6): a breach by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnapprovedDeparture {
    pub breach_id: String,
    pub request_id: String,
    pub person_id: String,
    pub department: Role,
    pub finished: bool,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub position: u64,
    pub penalty_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarrantyDecision {
    pub in_warranty: bool,
    pub misuse: bool,
    pub chargeable: bool,
    pub basis: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SolutionRecord {
    pub solution: String,
    pub on_site: bool,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuoteRecord {
    pub quote: repairledger_domain::fees::Quote,
    pub input: repairledger_domain::fees::QuoteInput,
    pub issued_by: String,
    pub at: DateTime<Utc>,
    /// "confirmed", "refused" or absent while the customer has not answered.
    pub answer: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// One stay on site, from arrival to leaving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SiteVisit {
    pub arrived_at: DateTime<Utc>,
    pub arrived_by: String,
    pub left_at: Option<DateTime<Utc>>,
    pub finished: Option<bool>,
    pub approved: Option<bool>,
    pub approved_by: Option<String>,
    pub leave_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedbackRecord {
    pub satisfaction: Satisfaction,
    pub opinion: String,
    pub signature: Signature,
    pub recorded_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TripRecord {
    pub lead: String,
    pub team: Vec<String>,
    pub borrowed_parts: Vec<BorrowedPart>,
    pub departed_at: DateTime<Utc>,
    pub back_at: Option<DateTime<Utc>>,
    pub report: Option<Entry>,
    pub expenses_minor: Option<i64>,
    pub parts_returned: Option<Vec<ReturnedPart>>,
    pub parts_returned_at: Option<DateTime<Utc>>,
    pub parts_reinspection: Option<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SatisfactionRecord {
    pub satisfaction: Satisfaction,
    pub note: String,
    pub cost_audit: CostAudit,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A field service request with its paper trail: what was asked, who did what, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceRequestView {
    pub request_id: String,
    pub version: u64,
    pub last_position: u64,
    pub kind: RequestKind,
    pub category: ProductCategory,
    pub customer: CustomerRef,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub site: String,
    pub distance_km: u32,
    pub description: String,
    pub received_by: PersonRef,
    pub received_at: DateTime<Utc>,
    pub relayed_to: Option<PersonRef>,
    pub relayed_at: Option<DateTime<Utc>>,
    pub contacts: Vec<Entry>,
    pub competitor_approval: Option<Entry>,
    pub warranty: Option<WarrantyDecision>,
    pub answer: Option<Entry>,
    pub solution: Option<SolutionRecord>,
    pub quotes: Vec<QuoteRecord>,
    pub free_service_approval: Option<Entry>,
    pub trips: Vec<TripRecord>,
    pub visits: Vec<SiteVisit>,
    pub work_log: Vec<Entry>,
    pub chases: Vec<Entry>,
    pub feedback: Vec<FeedbackRecord>,
    pub satisfaction: Option<SatisfactionRecord>,
    pub escalated_to: Option<EscalationLink>,
    pub closed: Option<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<CancellationRecord>,
    /// Where the request stands, as its decisions see it.
    pub state: ServiceState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EscalationLink {
    pub serial: String,
    pub return_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Waiver {
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PenaltyView {
    pub penalty_id: String,
    pub rule: PenaltyRule,
    pub subject: String,
    pub person_id: String,
    pub department: Role,
    pub amount_minor: i64,
    pub items: u32,
    pub days_late: u32,
    pub month: String,
    pub reason: String,
    pub evidence: Vec<u64>,
    pub assessed_by: String,
    pub assessed_at: DateTime<Utc>,
    pub position: u64,
    pub waiver: Option<Waiver>,
}

/// Timers an approved exception ends: (these rules, or all; reason; approved by; at).
type Cancels = (Option<&'static [TimerRule]>, String, String, DateTime<Utc>);

fn key(subject: &str, rule: TimerRule) -> String {
    format!("{subject}|{}", rule.as_str())
}

impl ReadModel {
    /// Starts a timer unless one of the rule is already running for the subject.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_timer(
        &mut self,
        rule: TimerRule,
        subject_kind: SubjectKind,
        subject: &str,
        return_id: Option<String>,
        responsible: PersonRef,
        started_at: DateTime<Utc>,
        params: TimerParams,
        e: &RecordedEvent,
    ) {
        let k = key(subject, rule);
        if self.open_timers.contains_key(&k) {
            return;
        }
        let n = self.timer_counts.entry(k.clone()).or_insert(0);
        *n += 1;
        let timer_id = format!("{subject}.{}.{n}", rule.as_str());
        self.open_timers.insert(k, timer_id.clone());
        self.timers.insert(
            timer_id.clone(),
            TimerView {
                timer_id,
                rule,
                subject_kind,
                subject: subject.to_string(),
                return_id,
                responsible,
                started_at,
                start_position: e.position,
                params,
                policy_version: e.policy_version,
                pauses: Vec::new(),
                stopped_at: None,
                stop_position: None,
                penalty_id: None,
                cancellation: None,
            },
        );
    }

    /// Stops the subject's running timers of `rules` (all of them when `None`) as cancelled with
    /// the reason: an approved exception ended them, not the duty done.
    fn cancel_timers(
        &mut self,
        subject: &str,
        rules: Option<&[TimerRule]>,
        reason: &str,
        approved_by: &str,
        at: DateTime<Utc>,
        e: &RecordedEvent,
    ) {
        let running: Vec<TimerRule> = self
            .open_timers
            .values()
            .filter_map(|id| self.timers.get(id))
            .filter(|t| t.subject == subject && rules.is_none_or(|r| r.contains(&t.rule)))
            .map(|t| t.rule)
            .collect();
        for rule in running {
            let Some(id) = self.open_timers.get(&key(subject, rule)).cloned() else {
                continue;
            };
            self.stop_timer(subject, rule, at, e);
            if let Some(t) = self.timers.get_mut(&id) {
                t.cancellation = Some(TimerCancellation {
                    reason: reason.to_string(),
                    approved_by: approved_by.to_string(),
                    at,
                    position: e.position,
                });
            }
        }
    }

    pub(crate) fn stop_timer(
        &mut self,
        subject: &str,
        rule: TimerRule,
        at: DateTime<Utc>,
        e: &RecordedEvent,
    ) {
        if let Some(id) = self.open_timers.remove(&key(subject, rule)) {
            if let Some(t) = self.timers.get_mut(&id) {
                t.stopped_at = Some(at);
                t.stop_position = Some(e.position);
                // A clock paused when its timer stops resumes at the stop.
                if let Some(p) = t.pauses.last_mut().filter(|p| p.to.is_none()) {
                    p.to = Some(at);
                }
            }
        }
    }

    fn open_timer_mut(&mut self, subject: &str, rule: TimerRule) -> Option<&mut TimerView> {
        let id = self.open_timers.get(&key(subject, rule))?;
        self.timers.get_mut(id)
    }

    /// Whether a timer of this rule is running for the subject (the pause command needs it).
    pub fn timer_running(&self, subject: &str, rule: TimerRule) -> bool {
        self.open_timers.contains_key(&key(subject, rule))
    }

    /// Rule 3, 13, 14 timers, from a unit's events.
    pub(crate) fn unit_timers(&mut self, serial: &str, e: &RecordedEvent, ev: &UnitEvent) {
        let actor = || PersonRef {
            person_id: e.actor.person_id.clone(),
            role: Role::parse(&e.actor.role).unwrap_or(Role::AfterSales),
        };
        match ev {
            UnitEvent::ReturnOpened {
                return_id,
                mode,
                opened_by,
                receiver_returned_at,
                emergency_retrieval,
                at,
                ..
            } => {
                if *emergency_retrieval {
                    self.stop_timer(serial, TimerRule::SpareRetrieval, *at, e);
                }
                if let (ReturnMode::Carried, Some(back)) = (mode, receiver_returned_at) {
                    self.start_timer(
                        TimerRule::CarryBack,
                        SubjectKind::Unit,
                        serial,
                        Some(return_id.clone()),
                        opened_by.clone(),
                        *back,
                        TimerParams::default(),
                        e,
                    );
                }
            }
            UnitEvent::HandoverSigned { to, at, .. } if to.role == Role::AfterSales => {
                self.stop_timer(serial, TimerRule::CarryBack, *at, e)
            }
            UnitEvent::ReceivedByPost { at, .. } => {
                self.stop_timer(serial, TimerRule::CarryBack, *at, e)
            }
            UnitEvent::UnitRegistered { at, .. } => {
                self.stop_timer(serial, TimerRule::CarryBack, *at, e);
                self.stop_timer(serial, TimerRule::Registration, *at, e);
            }
            UnitEvent::ReturnClosed { at, .. } => {
                self.stop_timer(serial, TimerRule::CarryBack, *at, e);
                self.stop_timer(serial, TimerRule::Registration, *at, e);
                self.stop_timer(serial, TimerRule::RepairCycle, *at, e);
            }
            UnitEvent::ReplacedBySpareOnSite {
                retrieval_due, at, ..
            } => self.start_timer(
                TimerRule::SpareRetrieval,
                SubjectKind::Unit,
                serial,
                None,
                actor(),
                *at,
                TimerParams {
                    until: Some(*retrieval_due),
                    ..Default::default()
                },
                e,
            ),
            _ => {}
        }
        self.receipt_timers(serial, e, ev);
    }

    /// Rules 5 and 13: the repair cycle and the registration deadline start when after-sales
    /// receives the unit (售后服务部接收), whatever the path: a carried unit's signed handover, a
    /// mailed unit out of the post, a customer's unit taken in directly. Not at registration,
    /// or a unit never registered would have no clock.
    fn receipt_timers(&mut self, serial: &str, e: &RecordedEvent, ev: &UnitEvent) {
        let at = match ev {
            UnitEvent::ReturnOpened { at, .. }
            | UnitEvent::ReceivedByPost { at, .. }
            | UnitEvent::HandoverSigned { at, .. } => *at,
            _ => return,
        };
        // Only the event that made after-sales the holder (the state is already folded).
        let Some(view) = self.units.get(serial) else {
            return;
        };
        let Some(r) = view.state.open_return() else {
            return;
        };
        if view.state.step != Step::Received || r.arrived_at != Some(at) {
            return;
        }
        let arrived = at;
        let return_id = r.return_id.clone();
        let due = view
            .records
            .iter()
            .rev()
            .find(|rec| rec.return_id == return_id)
            .and_then(|rec| rec.customer_due_date);
        let receiver = PersonRef {
            person_id: e.actor.person_id.clone(),
            role: Role::parse(&e.actor.role).unwrap_or(Role::AfterSales),
        };
        self.start_timer(
            TimerRule::Registration,
            SubjectKind::Unit,
            serial,
            Some(return_id.clone()),
            receiver.clone(),
            arrived,
            TimerParams::default(),
            e,
        );
        self.start_timer(
            TimerRule::RepairCycle,
            SubjectKind::Unit,
            serial,
            Some(return_id),
            receiver,
            arrived,
            TimerParams {
                customer_due_date: due,
                ..Default::default()
            },
            e,
        );
    }

    pub(crate) fn apply_service(&mut self, id: &str, e: &RecordedEvent, ev: &ServiceEvent) {
        use ServiceEvent::*;
        let by = e.actor.person_id.clone();
        let actor = PersonRef {
            person_id: by.clone(),
            role: Role::parse(&e.actor.role).unwrap_or(Role::AfterSales),
        };
        if let ServiceRequestReceived {
            kind,
            category,
            customer,
            serial,
            model,
            site,
            distance_km,
            description,
            received_by,
            at,
            ..
        } = ev
        {
            self.services.insert(
                id.to_string(),
                ServiceRequestView {
                    request_id: id.to_string(),
                    version: 0,
                    last_position: 0,
                    kind: *kind,
                    category: *category,
                    customer: customer.clone(),
                    serial: serial.clone(),
                    model: model.clone(),
                    site: site.clone(),
                    distance_km: *distance_km,
                    description: description.clone(),
                    received_by: received_by.clone(),
                    received_at: *at,
                    relayed_to: None,
                    relayed_at: None,
                    contacts: Vec::new(),
                    competitor_approval: None,
                    warranty: None,
                    answer: None,
                    solution: None,
                    quotes: Vec::new(),
                    free_service_approval: None,
                    trips: Vec::new(),
                    visits: Vec::new(),
                    work_log: Vec::new(),
                    chases: Vec::new(),
                    feedback: Vec::new(),
                    satisfaction: None,
                    escalated_to: None,
                    closed: None,
                    cancelled: None,
                    state: ServiceState::new(id),
                },
            );
        }
        let Some(v) = self.services.get_mut(id) else {
            return;
        };
        v.version = e.version;
        v.last_position = e.position;
        v.state = std::mem::replace(&mut v.state, ServiceState::new(id)).evolve(ev);
        let entry = |text: &str, at: &DateTime<Utc>| Entry {
            text: text.to_string(),
            by: by.clone(),
            at: *at,
        };
        let distance = TimerParams {
            distance_km: Some(v.distance_km),
            engineering: v.kind == RequestKind::EngineeringProject,
            ..Default::default()
        };
        let (kind, received_at, received_by) = (v.kind, v.received_at, v.received_by.clone());
        let service_person = v.relayed_to.clone().unwrap_or_else(|| received_by.clone());
        let lead = v.trips.last().map(|t| PersonRef {
            person_id: t.lead.clone(),
            role: Role::TechnicalService,
        });
        let mut starts: Vec<(TimerRule, PersonRef, DateTime<Utc>, TimerParams)> = Vec::new();
        let mut stops: Vec<(TimerRule, DateTime<Utc>)> = Vec::new();
        // Changes outside this request's view, made once its borrow ends.
        let mut departure: Option<(bool, String, DateTime<Utc>)> = None;
        let mut link: Option<String> = None;
        let mut cancels: Option<Cancels> = None;
        let escalated = v.escalated_to.is_some();
        match ev {
            ServiceRequestReceived { at, .. } => {
                starts.push((
                    TimerRule::Relay,
                    received_by.clone(),
                    *at,
                    TimerParams::default(),
                ));
                if kind == RequestKind::EngineeringProject {
                    starts.push((
                        TimerRule::EngineeringReply,
                        received_by.clone(),
                        *at,
                        distance.clone(),
                    ));
                }
            }
            RequestRelayed { to, at } => {
                v.relayed_to = Some(to.clone());
                v.relayed_at = Some(*at);
                stops.push((TimerRule::Relay, *at));
                starts.push((TimerRule::Contact, to.clone(), *at, TimerParams::default()));
                let next = if kind == RequestKind::Consultation {
                    TimerRule::ConsultationAnswer
                } else {
                    TimerRule::Solution
                };
                starts.push((next, to.clone(), *at, TimerParams::default()));
            }
            CustomerContacted { note, at, .. } => {
                v.contacts.push(entry(note, at));
                stops.push((TimerRule::Contact, *at));
                stops.push((TimerRule::EngineeringReply, *at));
            }
            CompetitorWorkApproved { scope, at, .. } => {
                v.competitor_approval = Some(entry(scope, at))
            }
            WarrantyDecided {
                in_warranty,
                misuse,
                chargeable,
                basis,
                at,
            } => {
                v.warranty = Some(WarrantyDecision {
                    in_warranty: *in_warranty,
                    misuse: *misuse,
                    chargeable: *chargeable,
                    basis: basis.clone(),
                    by: by.clone(),
                    at: *at,
                })
            }
            ConsultationAnswered { answer, at, .. } => {
                v.answer = Some(entry(answer, at));
                stops.push((TimerRule::ConsultationAnswer, *at));
            }
            SolutionDetermined {
                solution,
                on_site,
                at,
                ..
            } => {
                v.solution = Some(SolutionRecord {
                    solution: solution.clone(),
                    on_site: *on_site,
                    by: by.clone(),
                    at: *at,
                });
                stops.push((TimerRule::Solution, *at));
                let chargeable = v.warranty.as_ref().is_some_and(|w| w.chargeable);
                if *on_site && kind == RequestKind::EngineeringProject {
                    // Seed 001: on site within 72 h once it is confirmed a visit is needed.
                    starts.push((
                        TimerRule::OnSiteArrival,
                        service_person.clone(),
                        *at,
                        distance.clone(),
                    ));
                } else if *on_site && !chargeable {
                    // 5.1.3: counted from the request, by distance.
                    starts.push((
                        TimerRule::OnSiteArrival,
                        service_person.clone(),
                        received_at,
                        distance.clone(),
                    ));
                }
            }
            QuoteIssued { input, quote, at } => v.quotes.push(QuoteRecord {
                quote: quote.clone(),
                input: input.clone(),
                issued_by: by.clone(),
                at: *at,
                answer: None,
                answered_at: None,
            }),
            QuoteConfirmed { at, .. } | FeeRefused { at, .. } => {
                if let Some(q) = v.quotes.last_mut() {
                    q.answer = Some(
                        if matches!(ev, QuoteConfirmed { .. }) {
                            "confirmed"
                        } else {
                            "refused"
                        }
                        .into(),
                    );
                    q.answered_at = Some(*at);
                }
                if matches!(ev, QuoteConfirmed { .. }) {
                    starts.push((
                        TimerRule::Departure,
                        service_person.clone(),
                        *at,
                        TimerParams::default(),
                    ));
                }
            }
            FreeServiceApproved { reason, at, .. } => {
                v.free_service_approval = Some(entry(reason, at));
                starts.push((
                    TimerRule::Departure,
                    service_person.clone(),
                    *at,
                    TimerParams::default(),
                ));
            }
            EngineersDeparted {
                lead,
                team,
                borrowed_parts,
                at,
            } => {
                v.trips.push(TripRecord {
                    lead: lead.clone(),
                    team: team.clone(),
                    borrowed_parts: borrowed_parts.clone(),
                    departed_at: *at,
                    back_at: None,
                    report: None,
                    expenses_minor: None,
                    parts_returned: None,
                    parts_returned_at: None,
                    parts_reinspection: None,
                });
                stops.push((TimerRule::Departure, *at));
            }
            ArrivedOnSite { at, .. } => {
                v.visits.push(SiteVisit {
                    arrived_at: *at,
                    arrived_by: by.clone(),
                    left_at: None,
                    finished: None,
                    approved: None,
                    approved_by: None,
                    leave_reason: None,
                });
                stops.push((TimerRule::OnSiteArrival, *at));
                stops.push((TimerRule::OnSiteRevisit, *at));
            }
            WorkLogged { text, at, .. } => v.work_log.push(entry(text, at)),
            CustomerChased { note, at } => v.chases.push(entry(note, at)),
            CustomerFeedbackSigned {
                satisfaction,
                opinion,
                signature,
                at,
            } => v.feedback.push(FeedbackRecord {
                satisfaction: *satisfaction,
                opinion: opinion.clone(),
                signature: signature.clone(),
                recorded_by: by.clone(),
                at: *at,
            }),
            SiteDepartureApproved { .. } => {
                if let Some(visit) = v.visits.last_mut() {
                    visit.approved_by = Some(by.clone());
                }
            }
            LeftSite {
                finished,
                approved,
                reason,
                at,
            } => {
                if let Some(visit) = v.visits.last_mut() {
                    visit.left_at = Some(*at);
                    visit.finished = Some(*finished);
                    visit.approved = Some(*approved);
                    visit.leave_reason = Some(reason.clone());
                }
                // Once escalated, the unit is repaired in the factory: no revisit is owed.
                if !*finished && !escalated {
                    starts.push((
                        TimerRule::OnSiteRevisit,
                        actor.clone(),
                        *at,
                        distance.clone(),
                    ));
                }
                if !*approved {
                    departure = Some((*finished, reason.clone(), *at));
                }
            }
            BackAtFactory { at } => {
                let borrowed = v.trips.last().is_some_and(|t| !t.borrowed_parts.is_empty());
                if let Some(t) = v.trips.last_mut() {
                    t.back_at = Some(*at);
                }
                if let Some(lead) = lead.clone() {
                    starts.push((
                        TimerRule::TripReport,
                        lead.clone(),
                        *at,
                        TimerParams::default(),
                    ));
                    if borrowed {
                        starts.push((TimerRule::PartsReturn, lead, *at, TimerParams::default()));
                    }
                }
            }
            TripReportFiled {
                report,
                expenses_minor,
                at,
            } => {
                if let Some(t) = v.trips.last_mut() {
                    t.report = Some(entry(report, at));
                    t.expenses_minor = Some(*expenses_minor);
                }
                stops.push((TimerRule::TripReport, *at));
                starts.push((
                    TimerRule::SatisfactionCheck,
                    service_person.clone(),
                    *at,
                    TimerParams::default(),
                ));
            }
            PartsReturned { parts, at } => {
                if let Some(t) = v
                    .trips
                    .iter_mut()
                    .rev()
                    .find(|t| !t.borrowed_parts.is_empty())
                {
                    t.parts_returned = Some(parts.clone());
                    t.parts_returned_at = Some(*at);
                }
                stops.push((TimerRule::PartsReturn, *at));
            }
            PartsReinspected { findings, at, .. } => {
                if let Some(t) = v
                    .trips
                    .iter_mut()
                    .rev()
                    .find(|t| t.parts_returned.is_some())
                {
                    t.parts_reinspection = Some(entry(findings, at));
                }
            }
            SatisfactionConfirmed {
                satisfaction,
                note,
                cost_audit,
                at,
                ..
            } => {
                v.satisfaction = Some(SatisfactionRecord {
                    satisfaction: *satisfaction,
                    note: note.clone(),
                    cost_audit: cost_audit.clone(),
                    by: by.clone(),
                    at: *at,
                });
                stops.push((TimerRule::SatisfactionCheck, *at));
            }
            ClockPaused { .. } | ClockResumed { .. } => {}
            EscalatedToReturn {
                serial,
                return_id,
                at,
            } => {
                v.escalated_to = Some(EscalationLink {
                    serial: serial.clone(),
                    return_id: return_id.clone(),
                    at: *at,
                });
                link = Some(serial.clone());
                // The unit continues in the return for repair (§1): the visit clocks end there,
                // shown as cancelled with the reason, never met; a trip's own duties stay.
                cancels = Some((
                    Some(&[
                        TimerRule::Departure,
                        TimerRule::OnSiteArrival,
                        TimerRule::OnSiteRevisit,
                    ]),
                    format!("escalated to return {return_id} of unit {serial}"),
                    by.clone(),
                    *at,
                ));
            }
            ServiceRequestClosed { outcome, at } => {
                // Closing stops no clock: its duties' own facts stopped them (the domain
                // refuses a close that owes any). One still running keeps running.
                v.closed = Some(entry(outcome, at));
            }
            ServiceRequestCancelled {
                reason,
                requested_by,
                approved_by,
                at,
            } => {
                v.cancelled = Some(CancellationRecord {
                    reason: reason.clone(),
                    requested_by: requested_by.clone(),
                    approved_by: approved_by.clone(),
                    at: *at,
                });
                cancels = Some((None, reason.clone(), approved_by.clone(), *at));
            }
        }
        match ev {
            ClockPaused {
                timer,
                reason,
                note,
                at,
            } => {
                if let Some(t) = self.open_timer_mut(id, *timer) {
                    t.pauses.push(Pause {
                        from: *at,
                        to: None,
                        reason: *reason,
                        note: note.clone(),
                    });
                }
            }
            ClockResumed { timer, at } => {
                if let Some(p) = self
                    .open_timer_mut(id, *timer)
                    .and_then(|t| t.pauses.last_mut())
                    .filter(|p| p.to.is_none())
                {
                    p.to = Some(*at);
                }
            }
            _ => {}
        }
        if let Some((finished, reason, at)) = departure {
            let n = self
                .departures
                .values()
                .filter(|d| d.request_id == id)
                .count()
                + 1;
            let breach_id = format!("{id}.unapproved_departure.{n}");
            self.departures.insert(
                breach_id.clone(),
                UnapprovedDeparture {
                    breach_id,
                    request_id: id.to_string(),
                    person_id: by.clone(),
                    department: actor.role,
                    finished,
                    reason,
                    at,
                    position: e.position,
                    penalty_id: None,
                },
            );
        }
        if let Some(serial) = link {
            self.service_links
                .entry(serial)
                .or_default()
                .push(id.to_string());
        }
        for (rule, at) in stops {
            self.stop_timer(id, rule, at, e);
        }
        if let Some((rules, reason, approved_by, at)) = cancels {
            self.cancel_timers(id, rules, &reason, &approved_by, at, e);
        }
        for (rule, who, at, params) in starts {
            self.start_timer(
                rule,
                SubjectKind::ServiceRequest,
                id,
                None,
                who,
                at,
                params,
                e,
            );
        }
        // The lead answers for the arrival once the team is on its way.
        if let EngineersDeparted { lead, .. } = ev {
            for rule in [TimerRule::OnSiteArrival, TimerRule::OnSiteRevisit] {
                if let Some(t) = self.open_timer_mut(id, rule) {
                    t.responsible = PersonRef {
                        person_id: lead.clone(),
                        role: Role::TechnicalService,
                    };
                }
            }
        }
    }

    pub(crate) fn apply_penalty(&mut self, e: &RecordedEvent, ev: &PenaltyEvent) {
        match ev {
            PenaltyEvent::PenaltyAssessed {
                penalty_id,
                rule,
                subject,
                person_id,
                department,
                amount_minor,
                items,
                days_late,
                month,
                reason,
                evidence,
                at,
            } => {
                if let Some(t) = self.timers.get_mut(penalty_id) {
                    t.penalty_id = Some(penalty_id.clone());
                }
                if let Some(d) = self.departures.get_mut(penalty_id) {
                    d.penalty_id = Some(penalty_id.clone());
                }
                self.penalties.insert(
                    penalty_id.clone(),
                    PenaltyView {
                        penalty_id: penalty_id.clone(),
                        rule: *rule,
                        subject: subject.clone(),
                        person_id: person_id.clone(),
                        department: *department,
                        amount_minor: *amount_minor,
                        items: *items,
                        days_late: *days_late,
                        month: month.clone(),
                        reason: reason.clone(),
                        evidence: evidence.clone(),
                        assessed_by: e.actor.person_id.clone(),
                        assessed_at: *at,
                        position: e.position,
                        waiver: None,
                    },
                );
            }
            PenaltyEvent::PenaltyWaived {
                penalty_id,
                reason,
                at,
            } => {
                if let Some(p) = self.penalties.get_mut(penalty_id) {
                    p.waiver = Some(Waiver {
                        reason: reason.clone(),
                        by: e.actor.person_id.clone(),
                        at: *at,
                        position: e.position,
                    });
                }
            }
        }
    }
}
