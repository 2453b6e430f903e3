//! Field service requests (domain.md §2): one endpoint per step, and the request's views.

use actix_web::web::{Data, Path, Query};
use actix_web::{get, post, HttpRequest, HttpResponse};
use repairledger_domain::fees::QuoteInput;
use repairledger_domain::service::{ProductCategory, ServiceCommand, ServiceEvent, ServiceState};
use repairledger_domain::streams;
use repairledger_domain::unit::PersonRef;
use repairledger_projections::ServiceRequestView;

use crate::auth::Caller;
use crate::command::{aggregate_command, check_id, load, page_limit, Meta};
use crate::dto::{CommandResponse, Page, ReadQuery, StepRequest};
use crate::field_dto::*;
use crate::json::Json;
use crate::problem::ApiError;
use crate::routes::reads::{view, At};
use crate::routes::units::load_unit;
use crate::AppState;

pub fn load_request(state: &AppState, request_id: &str) -> Result<(ServiceState, u64), ApiError> {
    let (events, version) = load::<ServiceEvent>(state, &streams::service(request_id))?;
    Ok((ServiceState::from_events(request_id, &events), version))
}

/// Every step of this aggregate takes the same path: load, fold, decide, append.
async fn service_command(
    state: &AppState,
    meta: Meta,
    id: &str,
    make: impl Fn(&AppState) -> Result<ServiceCommand, ApiError>,
) -> Result<HttpResponse, ApiError> {
    aggregate_command::<ServiceState>(state, meta, id, make).await
}

/// Receive a field service request (anyone who takes the call; after-sales receiving it directly
/// is the relay too). Starts the relay clock (4 working hours).
#[utoipa::path(
    post, path = "/v1/service-requests", tag = "field service", operation_id = "receiveServiceRequest",
    request_body = ReceiveServiceRequest,
    responses((status = 200, description = "Received", body = CommandResponse))
)]
#[post("/service-requests")]
pub async fn receive(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    body: Json<ReceiveServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    if let Some(s) = &b.serial {
        check_id("serial", s)?;
    }
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    service_command(&state, meta, &b.request_id, |_| {
        Ok(ServiceCommand::Receive {
            kind: b.kind,
            category: b.category,
            customer: b.customer.clone(),
            serial: b.serial.clone(),
            model: b.model.clone(),
            site: b.site.clone(),
            distance_km: b.distance_km,
            description: b.description.clone(),
        })
    })
    .await
}

macro_rules! service_step {
    ($($t:tt)*) => {
        command_step!(service_command, "request_id", "The service request", "field service", $($t)*);
    };
}

service_step!(
    /// Relay the request to the service dept (by whoever received it; 4 working hours).
    relay, "/service-requests/{request_id}/relay", RelayRequest, "relayServiceRequest", "Relayed",
    |state, b| {
        let person = state
            .directory
            .person(&b.to_person_id)
            .ok_or_else(|| ApiError::UnknownPerson(b.to_person_id.clone()))?;
        ServiceCommand::Relay { to: PersonRef { person_id: person.person_id.clone(), role: person.role } }
    }
);
service_step!(
    /// Record the service dept's contact with the customer (4 working hours after the relay).
    contact, "/service-requests/{request_id}/contacts", NoteRequest, "contactCustomer", "Contact recorded",
    |state, b| ServiceCommand::Contact { note: b.note.clone() }
);
service_step!(
    /// Approve work on a competitor's product (general manager), with its scope.
    approve_competitor_work, "/service-requests/{request_id}/competitor-approval", CompetitorApprovalRequest,
    "approveCompetitorWork", "Approved",
    |state, b| ServiceCommand::ApproveCompetitorWork { scope: b.scope.clone() }
);
service_step!(
    /// Decide warranty first: in warranty and no misuse is free; otherwise a quote comes first.
    decide_warranty, "/service-requests/{request_id}/warranty-decision", WarrantyDecisionRequest,
    "decideServiceWarranty", "Decided",
    |state, b| ServiceCommand::DecideWarranty { in_warranty: b.in_warranty, misuse: b.misuse, basis: b.basis.clone() }
);
service_step!(
    /// Answer a consultation (8 working hours after the relay).
    answer_consultation, "/service-requests/{request_id}/consultation-answer", AnswerRequest,
    "answerConsultation", "Answered",
    |state, b| ServiceCommand::AnswerConsultation { answer: b.answer.clone() }
);
service_step!(
    /// Determine the solution (8 working hours after the relay). On site and in warranty, the
    /// on-site clock runs from the request, by distance.
    determine_solution, "/service-requests/{request_id}/solution", SolutionRequest,
    "determineSolution", "Solution recorded",
    |state, b| ServiceCommand::DetermineSolution { solution: b.solution.clone(), on_site: b.on_site }
);
service_step!(
    /// Issue a quote priced from the policy's rate tables (chargeable service only).
    issue_quote, "/service-requests/{request_id}/quotes", QuoteRequest, "issueQuote", "Quoted",
    |state, b| ServiceCommand::IssueQuote {
        input: QuoteInput {
            travel_cost_minor: b.travel_cost_minor,
            engineers: b.engineers,
            days: b.days,
            parts: b.parts.clone(),
            work_cost_minor: b.work_cost_minor,
            margin_bp: b.margin_bp,
        },
    }
);
service_step!(
    /// Record the customer's confirmation of the quote: departure is due within 24 h.
    confirm_quote, "/service-requests/{request_id}/quote-confirmation", QuoteConfirmationRequest,
    "confirmQuote", "Confirmed",
    |state, b| ServiceCommand::ConfirmQuote { confirmed_by: b.confirmed_by.clone(), channel: b.channel.clone() }
);
service_step!(
    /// Record that the customer refuses the fee: service then needs the general manager.
    refuse_fee, "/service-requests/{request_id}/fee-refusal", NoteRequest, "refuseFee", "Refusal recorded",
    |state, b| ServiceCommand::RefuseFee { note: b.note.clone() }
);
service_step!(
    /// Approve service without the fee (general manager), with the reason.
    approve_free_service, "/service-requests/{request_id}/free-service-approval", ReasonRequest,
    "approveFreeService", "Approved",
    |state, b| ServiceCommand::ApproveFreeService { reason: b.reason.clone() }
);
service_step!(
    /// Depart for the site (the lead engineer), with the team and the borrow slip.
    depart, "/service-requests/{request_id}/departure", DepartureRequest, "departForSite", "On the way",
    |state, b| {
        for p in &b.team {
            if state.directory.person(p).is_none() {
                return Err(ApiError::UnknownPerson(p.clone()));
            }
        }
        ServiceCommand::Depart { team: b.team.clone(), borrowed_parts: b.borrowed_parts.clone() }
    }
);
service_step!(
    /// Arrive on site (a team member): stops the on-site clock.
    arrive, "/service-requests/{request_id}/arrival", StepRequest, "arriveOnSite", "On site",
    |state, b| ServiceCommand::Arrive
);
service_step!(
    /// Log work on site.
    log_work, "/service-requests/{request_id}/work-log", WorkLogRequest, "logWork", "Logged",
    |state, b| ServiceCommand::LogWork { text: b.text.clone() }
);
service_step!(
    /// Record a customer's chase (a call, a message): evidence of a delay.
    record_chase, "/service-requests/{request_id}/chases", NoteRequest, "recordChase", "Recorded",
    |state, b| ServiceCommand::RecordChase { note: b.note.clone() }
);
service_step!(
    /// Record the customer's signed feedback form (user opinion).
    sign_feedback, "/service-requests/{request_id}/customer-feedback", FeedbackRequest,
    "recordCustomerFeedback", "Feedback recorded",
    |state, b| ServiceCommand::SignFeedback {
        satisfaction: b.satisfaction,
        opinion: b.opinion.clone(),
        signature: crate::routes::signatures::resolve(state, &b.signature)?,
    }
);
service_step!(
    /// Allow the engineers to leave the site (service dept). Finished work needs the customer's
    /// signed feedback first.
    approve_site_departure, "/service-requests/{request_id}/site-departure-approval",
    SiteDepartureApprovalRequest, "approveSiteDeparture", "Approved",
    |state, b| ServiceCommand::ApproveSiteDeparture { finished: b.finished }
);
service_step!(
    /// Leave the site (the lead). Leaving without approval is recorded as such: a breach.
    leave_site, "/service-requests/{request_id}/site-departure", LeaveSiteRequest, "leaveSite", "Left the site",
    |state, b| ServiceCommand::LeaveSite { finished: b.finished, reason: b.reason.clone() }
);
service_step!(
    /// Back at the factory (the lead): the trip report and borrowed-parts clocks start.
    return_to_factory, "/service-requests/{request_id}/return-to-factory", StepRequest,
    "returnToFactory", "Back",
    |state, b| ServiceCommand::ReturnToFactory
);
service_step!(
    /// File the trip report (3 working days): the manager's check clock starts.
    file_trip_report, "/service-requests/{request_id}/trip-report", TripReportRequest,
    "fileTripReport", "Filed",
    |state, b| ServiceCommand::FileTripReport { report: b.report.clone(), expenses_minor: b.expenses_minor }
);
service_step!(
    /// Return the borrowed parts, each piece used, unused or damaged (3 days).
    return_parts, "/service-requests/{request_id}/parts-return", PartsReturnRequest,
    "returnBorrowedParts", "Returned",
    |state, b| ServiceCommand::ReturnParts { parts: b.parts.clone() }
);
service_step!(
    /// QC re-inspects the returned parts.
    reinspect_parts, "/service-requests/{request_id}/parts-reinspection", ReinspectionRequest,
    "reinspectParts", "Re-inspected",
    |state, b| ServiceCommand::ReinspectParts { findings: b.findings.clone() }
);
service_step!(
    /// The manager confirms satisfaction and audits the costs (5 working days; 10 per day late).
    confirm_satisfaction, "/service-requests/{request_id}/satisfaction-check", SatisfactionCheckRequest,
    "confirmSatisfaction", "Checked",
    |state, b| ServiceCommand::ConfirmSatisfaction {
        satisfaction: b.satisfaction,
        note: b.note.clone(),
        cost_audit: b.cost_audit.clone(),
    }
);
service_step!(
    /// Pause a running clock with a documented reason (waiting on the customer, holiday, no
    /// tickets): paused time does not count towards a breach.
    pause_clock, "/service-requests/{request_id}/clock-pauses", ClockPauseRequest, "pauseClock", "Paused",
    |state, b, request_id| {
        state.projector.catch_up(state.store.as_ref())?;
        ServiceCommand::PauseClock {
            timer: b.timer,
            reason: b.reason,
            note: b.note.clone(),
            timer_running: state.projector.read(|m| m.timer_running(&request_id, b.timer)),
        }
    }
);
service_step!(
    /// Resume a paused clock.
    resume_clock, "/service-requests/{request_id}/clock-resumptions", ClockResumeRequest, "resumeClock", "Resumed",
    |state, b| ServiceCommand::ResumeClock { timer: b.timer }
);
/// Escalate to a return for repair: links the unit's open return to this request.
#[utoipa::path(
    post, path = "/v1/service-requests/{request_id}/escalation", tag = "field service",
    operation_id = "escalateToReturn", request_body = EscalationRequest,
    params(("request_id" = String, Path, description = "The service request")),
    responses((status = 200, description = "Linked", body = CommandResponse))
)]
#[post("/service-requests/{request_id}/escalation")]
pub async fn escalate(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Json<EscalationRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    // A malformed body is refused before `If-Match` is judged.
    check_id("serial", &b.serial)?;
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    service_command(&state, meta, &id, |state| {
        let (unit, _) = load_unit(state, &b.serial)?;
        Ok(ServiceCommand::Escalate {
            serial: b.serial.clone(),
            return_id: b.return_id.clone(),
            open_return: unit.open_return().map(|r| r.return_id.clone()),
        })
    })
    .await
}
service_step!(
    /// Close the request with its outcome.
    close, "/service-requests/{request_id}/closure", ClosureRequest, "closeServiceRequest", "Closed",
    |state, b| ServiceCommand::Close { outcome: b.outcome.clone() }
);

service_step!(
    /// Cancel the request the customer withdrew (general manager), with the reason and who asked.
    /// Refused while engineers are away or a trip owes its duties; the clocks it stops show as
    /// cancelled with the reason, never met.
    cancel, "/service-requests/{request_id}/cancellation", CancellationRequest, "cancelServiceRequest",
    "Cancelled",
    |state, b| ServiceCommand::Cancel { reason: b.reason.clone(), requested_by: b.requested_by.clone() }
);

/// List service requests by id (or as the service queue, `sort=priority`), optionally open or
/// closed, or for one unit.
#[utoipa::path(get, path = "/v1/service-requests", tag = "field service", operation_id = "listServiceRequests",
    params(ServiceListQuery),
    responses((status = 200, description = "A page of requests", body = Page<ServiceRequestView>)))]
#[get("/service-requests")]
pub async fn list(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ServiceListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit, 500)?;
    let closed = match q.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("closed") => Some(true),
        Some(other) => {
            return Err(ApiError::MalformedRequest(format!(
                "status is open or closed, got {other:?}"
            )))
        }
    };
    let by_priority = match q.sort.as_deref() {
        None | Some("id") => false,
        Some("priority") => true,
        Some(other) => {
            return Err(ApiError::MalformedRequest(format!(
                "sort is id or priority, got {other:?}"
            )))
        }
    };
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let page = view(&state, at, |m| {
        let selected = m
            .services
            .values()
            .filter(|v| closed.is_none_or(|c| v.state.closed == c))
            .filter(|v| {
                q.serial.as_deref().is_none_or(|s| {
                    v.serial.as_deref() == Some(s)
                        || v.escalated_to.as_ref().is_some_and(|e| e.serial == s)
                })
            });
        let mut ordered: Vec<&ServiceRequestView> = selected.collect();
        if by_priority {
            ordered.sort_by(|a, b| priority_key(a).cmp(&priority_key(b)));
        }
        // The cursor is the last id of the previous page, in this order.
        let skip = match &q.cursor {
            Some(c) if by_priority => ordered
                .iter()
                .position(|v| &v.request_id == c)
                .map_or(ordered.len(), |i| i + 1),
            Some(c) => ordered.partition_point(|v| &v.request_id <= c),
            None => 0,
        };
        let mut items: Vec<ServiceRequestView> = ordered
            .into_iter()
            .skip(skip)
            .take(limit + 1)
            .cloned()
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|v| v.request_id.clone())
        } else {
            None
        };
        Page { items, next_cursor }
    })?;
    Ok(HttpResponse::Ok().json(page))
}

/// The service queue's order (domain.md §2): product category in priority order, then the oldest
/// request first, then the id.
pub fn priority_key(
    v: &ServiceRequestView,
) -> (ProductCategory, chrono::DateTime<chrono::Utc>, &str) {
    (v.category, v.received_at, v.request_id.as_str())
}

/// One service request with its paper trail.
#[utoipa::path(get, path = "/v1/service-requests/{request_id}", tag = "field service",
    operation_id = "getServiceRequest",
    params(("request_id" = String, Path, description = "The service request"), ReadQuery),
    responses((status = 200, description = "The request", body = ServiceRequestView)))]
#[get("/service-requests/{request_id}")]
pub async fn get_one(
    state: Data<AppState>,
    _caller: Caller,
    request_id: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_id("request_id", &request_id)?;
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let found = view(&state, at, |m| m.services.get(request_id.as_str()).cloned())?;
    match found {
        Some(v) => Ok(HttpResponse::Ok()
            .insert_header((actix_web::http::header::ETAG, format!("\"{}\"", v.version)))
            .json(v)),
        None => Err(ApiError::Domain(
            repairledger_domain::DomainError::ServiceRequestNotFound {
                request_id: request_id.to_string(),
            },
        )),
    }
}
