//! SLA timers judged at an instant, the breaches they show, and the penalties assessed for them
//! (domain.md §1 rule 17, §2).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::web::{Data, Path, Query};
use actix_web::{get, post, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use repairledger_domain::calendar::Calendar;
use repairledger_domain::penalty::{self, Assess, Breach, PenaltyEvent, PenaltyRule, PenaltyState};
use repairledger_domain::sla::{self, TimerState};
use repairledger_domain::{streams, DomainError, Policy};
use repairledger_projections::{PenaltyView, ReadModel, TimerView};

use crate::auth::Caller;
use crate::command::{check_id, execute, load, page_limit, refused, Meta, Planned};
use crate::dto::{CommandResponse, Page, ReadQuery};
use crate::field_dto::*;
use crate::json::Json;
use crate::problem::ApiError;
use crate::routes::reads::{view, At};
use crate::AppState;

/// Parsed policies by version, with their calendars: timers are judged under the policy they
/// started under. A version whose text no longer parses (written before the calendar existed)
/// is judged under the current policy.
#[derive(Default)]
pub struct PolicyCache(std::sync::RwLock<std::collections::HashMap<u32, Arc<(Policy, Calendar)>>>);

impl PolicyCache {
    pub fn get(
        &self,
        current: &Policy,
        version: u32,
        text: Option<&String>,
    ) -> Arc<(Policy, Calendar)> {
        if let Some(p) = self.0.read().expect("policy cache lock").get(&version) {
            return p.clone();
        }
        let policy = match text.map(|t| Policy::parse(t)) {
            Some(Ok(p)) => p,
            _ => current.clone(),
        };
        let calendar = policy.calendar();
        let entry = Arc::new((policy, calendar));
        self.0
            .write()
            .expect("policy cache lock")
            .insert(version, entry.clone());
        entry
    }
}

/// A timer judged at `at`.
pub fn judge(state: &AppState, m: &ReadModel, t: &TimerView, at: DateTime<Utc>) -> TimerStatus {
    let p = state.policies.get(
        &state.policy,
        t.policy_version,
        m.policies.get(&t.policy_version),
    );
    let (policy, calendar) = (&p.0, &p.1);
    let budget = sla::budget_for(t.rule, t.started_at, &t.params, policy);
    let risk = policy.service.at_risk_percent;
    // A clock an approved exception stopped is judged cancelled, never met.
    let evaluation = match (&t.cancellation, t.stopped_at) {
        (Some(_), Some(stop)) => {
            sla::evaluate_cancelled(budget, t.started_at, &t.pauses, stop, at, calendar, risk)
        }
        _ => sla::evaluate(
            budget,
            t.started_at,
            &t.pauses,
            t.stopped_at,
            at,
            calendar,
            risk,
        ),
    };
    TimerStatus {
        timer: t.clone(),
        department: t.responsible.role,
        budget,
        evaluation,
        judged_at: at,
    }
}

fn parse_state(s: &str) -> Result<TimerState, ApiError> {
    [
        TimerState::Running,
        TimerState::AtRisk,
        TimerState::Paused,
        TimerState::Met,
        TimerState::Breached,
        TimerState::Cancelled,
    ]
    .into_iter()
    .find(|t| t.as_str() == s)
    .ok_or_else(|| {
        ApiError::MalformedRequest(format!(
            "state is running, at_risk, paused, met, breached or cancelled; got {s:?}"
        ))
    })
}

/// SLA timers judged at an instant: by state, rule, subject (unit or request), responsible
/// person or department. `as_of` shows the timers as the log stood then, judged then.
#[utoipa::path(get, path = "/v1/timers", tag = "sla", operation_id = "listTimers",
    params(TimerQuery),
    responses((status = 200, description = "A page of timers, by timer id", body = Page<TimerStatus>)))]
#[get("/timers")]
pub async fn timers(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<TimerQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit, 1000)?;
    let wanted = q.state.as_deref().map(parse_state).transpose()?;
    let at = q.at.or(q.as_of).unwrap_or_else(|| state.clock.now());
    let page = view(
        &state,
        At::new(q.min_position, q.as_of, q.as_of_position),
        |m| {
            let mut items = Vec::new();
            let mut next_cursor = None;
            let from = q
                .cursor
                .clone()
                .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
            for (_, t) in m
                .timers
                .range::<String, _>((from, std::ops::Bound::Unbounded))
            {
                let matches = q.rule.is_none_or(|r| t.rule == r)
                    && q.subject.as_deref().is_none_or(|s| t.subject == s)
                    && q.person
                        .as_deref()
                        .is_none_or(|p| t.responsible.person_id == p)
                    && q.department.is_none_or(|d| t.responsible.role == d);
                if !matches {
                    continue;
                }
                let status = judge(&state, m, t, at);
                if wanted.is_some_and(|w| status.evaluation.state != w) {
                    continue;
                }
                if items.len() == limit {
                    next_cursor = items.last().map(|s: &TimerStatus| s.timer.timer_id.clone());
                    break;
                }
                items.push(status);
            }
            Page { items, next_cursor }
        },
    )?;
    Ok(HttpResponse::Ok().json(page))
}

/// The breach behind an id, as the projections show it at `at`, and whether it is one (a timer
/// still running in time, or met, is not).
fn find_breach(
    state: &AppState,
    m: &ReadModel,
    breach_id: &str,
    at: DateTime<Utc>,
) -> Option<(BreachView, bool)> {
    if let Some(t) = m.timers.get(breach_id) {
        let s = judge(state, m, t, at);
        let breached = s.evaluation.state == TimerState::Breached;
        let view = BreachView {
            breach_id: breach_id.into(),
            rule: PenaltyRule::from_timer(t.rule),
            subject: t.subject.clone(),
            person_id: t.responsible.person_id.clone(),
            department: t.responsible.role,
            deadline: s.evaluation.deadline,
            days_late: s.evaluation.days_late,
            evidence: std::iter::once(t.start_position)
                .chain(t.stop_position)
                .collect(),
            penalty_id: t.penalty_id.clone(),
        };
        return Some((view, breached));
    }
    m.departures.get(breach_id).map(|d| {
        let view = BreachView {
            breach_id: d.breach_id.clone(),
            rule: PenaltyRule::UnapprovedDeparture,
            subject: d.request_id.clone(),
            person_id: d.person_id.clone(),
            department: d.department,
            deadline: None,
            days_late: 0,
            evidence: vec![d.position],
            penalty_id: d.penalty_id.clone(),
        };
        (view, true)
    })
}

/// Breaches to assess (or assessed): breached timers and unapproved departures from a site.
#[utoipa::path(get, path = "/v1/breaches", tag = "penalties", operation_id = "listBreaches",
    params(BreachQuery),
    responses((status = 200, description = "Breaches, by id", body = [BreachView])))]
#[get("/breaches")]
pub async fn breaches(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<BreachQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = q.at.unwrap_or_else(|| state.clock.now());
    let list = view(&state, At::new(q.min_position, None, None), |m| {
        m.timers
            .keys()
            .chain(m.departures.keys())
            .filter_map(|id| find_breach(&state, m, id, at))
            .filter(|(_, breached)| *breached)
            .map(|(b, _)| b)
            .filter(|b| q.assessed.is_none_or(|a| b.penalty_id.is_some() == a))
            .filter(|b| q.person.as_deref().is_none_or(|p| b.person_id == p))
            .filter(|b| q.department.is_none_or(|d| b.department == d))
            .collect::<Vec<_>>()
    })?;
    Ok(HttpResponse::Ok().json(list))
}

#[allow(clippy::too_many_arguments)]
async fn assess(
    state: &AppState,
    breach_id: &str,
    amount_minor: Option<i64>,
    items: Option<u32>,
    reason: &str,
    meta: Meta,
    resolve: impl Fn(&AppState, &ReadModel, DateTime<Utc>) -> Result<Breach, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let stream = streams::penalty(breach_id);
    let at = meta.at;
    execute(state, meta, &stream, |state, ctx| {
        let (events, version) = load::<PenaltyEvent>(state, &stream)?;
        let current = events
            .iter()
            .fold(PenaltyState::default(), |s, e| s.evolve(e));
        state.projector.catch_up(state.store.as_ref())?;
        let breach = state.projector.read(|m| resolve(state, m, at))?;
        let cmd = Assess {
            breach,
            amount_minor,
            items,
            reason: reason.to_string(),
        };
        let new = penalty::assess(&current, &cmd, ctx).map_err(refused)?;
        Ok(vec![Planned::new(stream.clone(), version, &new)])
    })
    .await
}

/// Assess the penalty for a breach (after-sales management or the general manager). The amount
/// follows the policy's scale: fixed, per day late, or judged within a range.
#[utoipa::path(post, path = "/v1/breaches/{breach_id}/penalty", tag = "penalties",
    operation_id = "assessPenalty", request_body = AssessPenaltyRequest,
    params(("breach_id" = String, Path, description = "A timer id or an unapproved-departure id")),
    responses((status = 200, description = "Assessed", body = CommandResponse)))]
#[post("/breaches/{breach_id}/penalty")]
pub async fn assess_breach(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    breach_id: Path<String>,
    body: Json<AssessPenaltyRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_breach_id(&breach_id)?;
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    let id = breach_id.into_inner();
    assess(
        &state,
        &id,
        b.amount_minor,
        None,
        &b.reason,
        meta,
        |state, m, at| {
            let (found, breached) = find_breach(state, m, &id, at)
                .ok_or_else(|| ApiError::BreachNotFound(id.clone()))?;
            Ok(Breach {
                breach_id: found.breach_id,
                rule: found.rule,
                subject: found.subject,
                person_id: found.person_id,
                department: found.department,
                breached,
                days_late: found.days_late,
                evidence: found.evidence,
            })
        },
    )
    .await
}

/// Penalise unclear or incomplete records of a request that caused extra cost (per item).
#[utoipa::path(post, path = "/v1/service-requests/{request_id}/unclear-record-penalties", tag = "penalties",
    operation_id = "assessUnclearRecordPenalty", request_body = UnclearRecordPenaltyRequest,
    params(("request_id" = String, Path, description = "The service request")),
    responses((status = 200, description = "Assessed", body = CommandResponse)))]
#[post("/service-requests/{request_id}/unclear-record-penalties")]
pub async fn assess_unclear_record(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    request_id: Path<String>,
    body: Json<UnclearRecordPenaltyRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_id("request_id", &request_id)?;
    let person = state
        .directory
        .person(&b.person_id)
        .ok_or_else(|| ApiError::UnknownPerson(b.person_id.clone()))?
        .clone();
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    let request_id = request_id.into_inner();
    state.projector.catch_up(state.store.as_ref())?;
    let (known, n) = state.projector.read(|m| {
        let n = m
            .penalties
            .values()
            .filter(|p| p.subject == request_id && p.rule == PenaltyRule::UnclearRecord)
            .count()
            + 1;
        (m.services.contains_key(&request_id), n)
    });
    if !known {
        return Err(ApiError::Domain(DomainError::ServiceRequestNotFound {
            request_id,
        }));
    }
    let breach_id = format!("{request_id}.unclear_record.{n}");
    let service_position = state
        .projector
        .read(|m| m.services[&request_id].last_position);
    assess(
        &state,
        &breach_id,
        None,
        Some(b.items),
        &b.reason,
        meta,
        |_, _, _| {
            Ok(Breach {
                breach_id: breach_id.clone(),
                rule: PenaltyRule::UnclearRecord,
                subject: request_id.clone(),
                person_id: person.person_id.clone(),
                department: person.role,
                breached: true,
                days_late: 0,
                evidence: vec![service_position],
            })
        },
    )
    .await
}

fn check_breach_id(id: &str) -> Result<(), ApiError> {
    crate::command::check_id_up_to("breach or penalty id", id, 160)
}

/// Waive a penalty (general manager only), with the reason.
#[utoipa::path(post, path = "/v1/penalties/{penalty_id}/waiver", tag = "penalties",
    operation_id = "waivePenalty", request_body = ReasonRequest,
    params(("penalty_id" = String, Path, description = "The penalty (its breach id)")),
    responses((status = 200, description = "Waived", body = CommandResponse)))]
#[post("/penalties/{penalty_id}/waiver")]
pub async fn waive(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    penalty_id: Path<String>,
    body: Json<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_breach_id(&penalty_id)?;
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    let stream = streams::penalty(&penalty_id);
    execute(&state, meta, &stream, |state, ctx| {
        let (events, version) = load::<PenaltyEvent>(state, &stream)?;
        let current = events
            .iter()
            .fold(PenaltyState::default(), |s, e| s.evolve(e));
        let new = penalty::waive(&current, &penalty_id, &b.reason, ctx).map_err(refused)?;
        Ok(vec![Planned::new(stream.clone(), version, &new)])
    })
    .await
}

fn select<'a>(m: &'a ReadModel, q: &'a PenaltyQuery) -> impl Iterator<Item = &'a PenaltyView> + 'a {
    m.penalties.values().filter(move |p| {
        q.person.as_deref().is_none_or(|x| p.person_id == x)
            && q.department.is_none_or(|d| p.department == d)
            && q.month.as_deref().is_none_or(|mo| p.month == mo)
            && q.rule.is_none_or(|r| p.rule == r)
    })
}

/// Penalties by id, filtered by person, department, month or rule.
#[utoipa::path(get, path = "/v1/penalties", tag = "penalties", operation_id = "listPenalties",
    params(PenaltyQuery),
    responses((status = 200, description = "Penalties, by id", body = [PenaltyView])))]
#[get("/penalties")]
pub async fn list_penalties(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<PenaltyQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let found = view(&state, at, |m| select(m, &q).cloned().collect::<Vec<_>>())?;
    Ok(HttpResponse::Ok().json(found))
}

/// Penalty tallies by person, department or month: what counts in the assessment (考核).
#[utoipa::path(get, path = "/v1/penalties/tallies", tag = "penalties", operation_id = "penaltyTallies",
    params(TallyQuery),
    responses((status = 200, description = "Tallies, by key", body = [Tally])))]
#[get("/penalties/tallies")]
pub async fn tallies(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<TallyQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let list = view(&state, at, |m| {
        let mut by: BTreeMap<String, Tally> = BTreeMap::new();
        for p in m
            .penalties
            .values()
            .filter(|p| q.month.as_deref().is_none_or(|mo| p.month == mo))
        {
            let key = match q.by {
                TallyBy::Person => p.person_id.clone(),
                TallyBy::Department => p.department.as_str().to_string(),
                TallyBy::Month => p.month.clone(),
            };
            let t = by.entry(key.clone()).or_insert(Tally {
                key,
                penalties: 0,
                assessed_minor: 0,
                waived_minor: 0,
                net_minor: 0,
            });
            t.penalties += 1;
            t.assessed_minor += p.amount_minor;
            if p.waiver.is_some() {
                t.waived_minor += p.amount_minor;
            }
            t.net_minor = t.assessed_minor - t.waived_minor;
        }
        by.into_values().collect::<Vec<_>>()
    })?;
    Ok(HttpResponse::Ok().json(list))
}

/// One penalty.
#[utoipa::path(get, path = "/v1/penalties/{penalty_id}", tag = "penalties", operation_id = "getPenalty",
    params(("penalty_id" = String, Path, description = "The penalty (its breach id)"), ReadQuery),
    responses((status = 200, description = "The penalty", body = PenaltyView)))]
#[get("/penalties/{penalty_id}")]
pub async fn get_one(
    state: Data<AppState>,
    _caller: Caller,
    penalty_id: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_breach_id(&penalty_id)?;
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    match view(&state, at, |m| {
        m.penalties.get(penalty_id.as_str()).cloned()
    })? {
        Some(p) => Ok(HttpResponse::Ok().json(p)),
        None => Err(ApiError::Domain(DomainError::PenaltyNotFound {
            penalty_id: penalty_id.to_string(),
        })),
    }
}
