//! Reads: the projections, the raw log, the audit check. Every role may read; none of these
//! change anything.

use actix_web::web::{Data, Path, Query};
use actix_web::{get, http::header, HttpResponse};
use chrono::{DateTime, Utc};
use repairledger_domain::streams;
use repairledger_domain::unit::Zone;
use repairledger_projections::{
    Anchor, OpenReturnView, PlanView, ProductionOrderView, ReadModel, UnitView, ZoneLedger,
};

use crate::auth::{Caller, Person};
use crate::command::{check_id, envelopes, page_limit};
use crate::dto::*;
use crate::problem::ApiError;
use crate::AppState;

/// Most unit views kept as ready JSON; past this the cache starts again empty.
const UNIT_JSON_CACHE: usize = 50_000;

/// Makes sure the projections include `min_position` (read your own writes). A position the
/// log has not reached yet is not malformed, only early: 409 `position-not-reached`.
fn fresh(state: &AppState, min_position: Option<u64>) -> Result<(), ApiError> {
    if min_position.is_some_and(|p| p > state.projector.position()) {
        state.projector.catch_up(state.store.as_ref())?;
    }
    if let Some(position) = min_position {
        let head = state.store.head()?.position;
        if position > head {
            return Err(ApiError::PositionNotReached { position, head });
        }
    }
    Ok(())
}

/// Which model a read looks at: the live one (caught up to `min_position`), or the one that
/// stood at a past position or instant (rebuilt from the log: O(position), meant for auditors).
pub struct At {
    min_position: Option<u64>,
    as_of: Option<DateTime<Utc>>,
    as_of_position: Option<u64>,
}

impl At {
    pub(crate) fn new(
        min_position: Option<u64>,
        as_of: Option<DateTime<Utc>>,
        as_of_position: Option<u64>,
    ) -> At {
        At {
            min_position,
            as_of,
            as_of_position,
        }
    }

    fn of(q: &impl Temporal) -> At {
        q.at()
    }

    fn is_past(&self) -> bool {
        self.as_of.is_some() || self.as_of_position.is_some()
    }
}

trait Temporal {
    fn at(&self) -> At;
}

impl Temporal for ReadQuery {
    fn at(&self) -> At {
        At {
            min_position: self.min_position,
            as_of: self.as_of,
            as_of_position: self.as_of_position,
        }
    }
}

impl Temporal for UnitListQuery {
    fn at(&self) -> At {
        At {
            min_position: self.min_position,
            as_of: self.as_of,
            as_of_position: self.as_of_position,
        }
    }
}

pub(crate) fn view<T>(
    state: &AppState,
    at: At,
    f: impl FnOnce(&ReadModel) -> T,
) -> Result<T, ApiError> {
    let past = match (at.as_of, at.as_of_position) {
        (Some(_), Some(_)) => {
            return Err(ApiError::MalformedRequest(
                "give as_of or as_of_position, not both".into(),
            ))
        }
        (Some(t), None) => Some(repairledger_projections::position_at(
            state.store.as_ref(),
            t,
        )?),
        (None, p) => p,
    };
    match past {
        Some(p) => {
            let model = repairledger_projections::rebuild_until(state.store.as_ref(), p, |_| {})?;
            Ok(f(&model))
        }
        None => {
            fresh(state, at.min_position)?;
            Ok(state.projector.read(f))
        }
    }
}

/// Who am I: the person and role behind the token.
#[utoipa::path(get, path = "/v1/me", tag = "people", operation_id = "whoAmI",
    responses((status = 200, description = "The caller", body = Person)))]
#[get("/me")]
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(caller.0)
}

/// The directory of people (handover receivers are named by `person_id`).
#[utoipa::path(get, path = "/v1/people", tag = "people", operation_id = "listPeople",
    responses((status = 200, description = "Everyone who may act", body = [Person])))]
#[get("/people")]
pub async fn people(state: Data<AppState>, _caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(state.directory.people())
}

/// List units, by serial, optionally at one step or in one zone.
#[utoipa::path(get, path = "/v1/units", tag = "units", operation_id = "listUnits",
    params(UnitListQuery),
    responses((status = 200, description = "A page of units", body = Page<UnitView>)))]
#[get("/units")]
pub async fn list_units(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<UnitListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit, 500)?;
    let zone = match &q.zone {
        Some(z) => Some(
            Zone::parse(z)
                .ok_or_else(|| ApiError::MalformedRequest(format!("unknown zone {z:?}")))?,
        ),
        None => None,
    };
    let page = view(&state, At::of(&*q), |m| {
        let mut items: Vec<UnitView> = m
            .units
            .range::<String, _>((
                q.cursor
                    .clone()
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
                std::ops::Bound::Unbounded,
            ))
            .map(|(_, u)| u)
            .filter(|u| q.step.as_deref().is_none_or(|s| u.state.step.as_str() == s))
            .filter(|u| zone.is_none_or(|z| u.state.zone == Some(z)))
            .take(limit + 1)
            .cloned()
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|u| u.serial.clone())
        } else {
            None
        };
        Page { items, next_cursor }
    })?;
    Ok(HttpResponse::Ok().json(page))
}

/// One unit: custody, zone, step, warranty, and every return with its records.
#[utoipa::path(get, path = "/v1/units/{serial}", tag = "units", operation_id = "getUnit",
    params(("serial" = String, Path, description = "The unit's serial number"), ReadQuery),
    responses((status = 200, description = "The unit; `ETag` is its stream version", body = UnitView)))]
#[get("/units/{serial}")]
pub async fn get_unit(
    state: Data<AppState>,
    _caller: Caller,
    serial: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_id("serial", &serial)?;
    if At::of(&*q).is_past() {
        let unit = view(&state, At::of(&*q), |m| {
            m.units.get(serial.as_str()).cloned()
        })?
        .ok_or_else(|| ApiError::UnitNotFound(serial.to_string()))?;
        return Ok(HttpResponse::Ok().json(unit));
    }
    fresh(&state, q.min_position)?;
    // The live view's JSON is cached per stream version: a read is then a lookup, not a clone
    // and a serialization (measured: 0.24x -> see docs/performance.md).
    let (version, body) = state
        .projector
        .read(|m| {
            let unit = m.units.get(serial.as_str())?;
            let cache = &state.unit_json;
            if let Some((v, bytes)) = cache.read().expect("cache lock").get(serial.as_str()) {
                if *v == unit.version {
                    return Some((*v, bytes.clone()));
                }
            }
            let bytes =
                actix_web::web::Bytes::from(serde_json::to_vec(unit).expect("views serialize"));
            let mut w = cache.write().expect("cache lock");
            if w.len() >= UNIT_JSON_CACHE {
                w.clear();
            }
            w.insert(serial.to_string(), (unit.version, bytes.clone()));
            Some((unit.version, bytes))
        })
        .ok_or_else(|| ApiError::UnitNotFound(serial.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .content_type("application/json")
        .body(body))
}

/// A unit's own events, oldest first: its complete history.
#[utoipa::path(get, path = "/v1/units/{serial}/events", tag = "units", operation_id = "getUnitEvents",
    params(("serial" = String, Path, description = "The unit's serial number")),
    responses((status = 200, description = "The unit stream", body = [EventEnvelope])))]
#[get("/units/{serial}/events")]
pub async fn unit_events(
    state: Data<AppState>,
    _caller: Caller,
    serial: Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_id("serial", &serial)?;
    let events = state
        .store
        .read_stream(&streams::unit(&serial), 1, usize::MAX)?;
    if events.is_empty() {
        return Err(ApiError::UnitNotFound(serial.to_string()));
    }
    Ok(HttpResponse::Ok().json(envelopes(&events)))
}

/// Open returns, oldest first: the after-sales work list.
#[utoipa::path(get, path = "/v1/returns", tag = "returns", operation_id = "listOpenReturns",
    params(ReadQuery),
    responses((status = 200, description = "Open returns", body = [OpenReturnView])))]
#[get("/returns")]
pub async fn open_returns(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&state, At::of(&*q), |m| m.open_returns())?))
}

/// The four zones and who is in each.
#[utoipa::path(get, path = "/v1/zones", tag = "zones", operation_id = "listZones",
    params(ReadQuery),
    responses((status = 200, description = "Zones", body = [ZoneSummary])))]
#[get("/zones")]
pub async fn zones(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let v: Vec<ZoneSummary> = view(&state, At::of(&*q), |m| {
        m.zones
            .values()
            .map(|z| ZoneSummary {
                zone: z.zone,
                occupants: z.occupants.iter().cloned().collect(),
                lines: z.lines.len(),
            })
            .collect()
    })?;
    Ok(HttpResponse::Ok().json(v))
}

/// A zone's ledger (管理台帐): occupants and every entry and exit line.
#[utoipa::path(get, path = "/v1/zones/{zone}", tag = "zones", operation_id = "getZoneLedger",
    params(("zone" = Zone, Path, description = "The zone"), ReadQuery),
    responses((status = 200, description = "The ledger", body = ZoneLedger)))]
#[get("/zones/{zone}")]
pub async fn zone_ledger(
    state: Data<AppState>,
    _caller: Caller,
    zone: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let z = Zone::parse(&zone)
        .ok_or_else(|| ApiError::NotFound(format!("no zone {:?}", zone.as_str())))?;
    Ok(HttpResponse::Ok().json(view(&state, At::of(&*q), |m| m.zones.get(&z).cloned())?))
}

/// Repair plans, by id.
#[utoipa::path(get, path = "/v1/repair-plans", tag = "repair plans", operation_id = "listRepairPlans",
    params(ReadQuery),
    responses((status = 200, description = "Plans", body = [PlanView])))]
#[get("/repair-plans")]
pub async fn plans(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let v: Vec<PlanView> = view(&state, At::of(&*q), |m| m.plans.values().cloned().collect())?;
    Ok(HttpResponse::Ok().json(v))
}

/// One repair plan: status, units, amendments, who co-signed and issued it.
#[utoipa::path(get, path = "/v1/repair-plans/{plan_id}", tag = "repair plans", operation_id = "getRepairPlan",
    params(("plan_id" = String, Path, description = "The repair plan"), ReadQuery),
    responses((status = 200, description = "The plan; `ETag` is its stream version", body = PlanView)))]
#[get("/repair-plans/{plan_id}")]
pub async fn plan(
    state: Data<AppState>,
    _caller: Caller,
    plan_id: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_id("plan_id", &plan_id)?;
    let p = view(&state, At::of(&*q), |m| {
        m.plans.get(plan_id.as_str()).cloned()
    })?
    .ok_or_else(|| ApiError::PlanNotFound(plan_id.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", p.version)))
        .json(p))
}

/// One emergency production order and the unit built for it.
#[utoipa::path(get, path = "/v1/emergency-production-orders/{order_id}", tag = "spares",
    operation_id = "getEmergencyProductionOrder",
    params(("order_id" = String, Path, description = "The production order"), ReadQuery),
    responses((status = 200, description = "The order", body = ProductionOrderView)))]
#[get("/emergency-production-orders/{order_id}")]
pub async fn order(
    state: Data<AppState>,
    _caller: Caller,
    order_id: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_id("order_id", &order_id)?;
    let o = view(&state, At::of(&*q), |m| {
        m.orders.get(order_id.as_str()).cloned()
    })?
    .ok_or_else(|| ApiError::OrderNotFound(order_id.to_string()))?;
    Ok(HttpResponse::Ok().json(o))
}

/// Walk the hash chain from position 1 and report the first broken position.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", operation_id = "verifyLog",
    responses((status = 200, description = "The chain report", body = VerifyResponse)))]
#[get("/audit/verify")]
pub async fn verify(state: Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let r = actix_web::web::block(move || store.verify())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(VerifyResponse {
        events_checked: r.events_checked,
        head_position: r.head.position,
        head_hash: r.head.hash,
        intact: r.first_broken.is_none(),
        first_broken: r.first_broken,
        reason: r.reason,
    }))
}

/// The head hash at the end of each day (UTC): publish these outside the system (a ticket, an
/// email to the auditor, a newspaper) and any later change to the log shows.
#[utoipa::path(get, path = "/v1/audit/anchors", tag = "audit", operation_id = "listAnchors",
    params(ReadQuery),
    responses((status = 200, description = "One anchor per day with events", body = [Anchor])))]
#[get("/audit/anchors")]
pub async fn anchors(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let v: Vec<Anchor> = view(&state, At::of(&*q), |m| {
        m.anchors.values().cloned().collect()
    })?;
    Ok(HttpResponse::Ok().json(v))
}

/// The policy in force: every number the rules use, and its version.
#[utoipa::path(get, path = "/v1/policy", tag = "policy", operation_id = "getPolicy",
    responses((status = 200, description = "The policy in force", body = Object)))]
#[get("/policy")]
pub async fn policy(state: Data<AppState>, _caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(&state.policy)
}

/// Every problem `type` the API answers with.
#[utoipa::path(get, path = "/v1/problems", tag = "problems", operation_id = "listProblemTypes",
    security(()),
    responses((status = 200, description = "Problem type URIs", body = [String])))]
#[get("/problems")]
pub async fn problems() -> HttpResponse {
    let v: Vec<String> = crate::problem::all_codes()
        .into_iter()
        .map(|c| format!("{}{c}", crate::problem::PROBLEM_BASE))
        .collect();
    HttpResponse::Ok().json(v)
}

/// Liveness and where the log and projections stand.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "health", security(()),
    responses((status = 200, description = "Up", body = Health)))]
#[get("/healthz")]
pub async fn health(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(Health {
        status: "ok".into(),
        head_position: state.store.head()?.position,
        projection_position: state.projector.position(),
        policy_version: state.policy.version,
    }))
}

/// Most events the projections may trail the log by and still take traffic.
const READY_MAX_LAG: u64 = 1000;

/// Readiness: the log answers and takes appends (no failed flush since it opened), the
/// projections are caught up (within 1000 events) and the write queue has room. A load balancer sends traffic only while this answers 200.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "ready", security(()),
    responses((status = 200, description = "Ready", body = Health),
              (status = 503, description = "Not ready: the reason is in `detail`", body = crate::problem::Problem)))]
#[get("/readyz")]
pub async fn ready(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(fault) = state.store.fault() {
        return Err(ApiError::NotReady(fault));
    }
    let head = state.store.head()?.position;
    let projected = state.projector.position();
    if head.saturating_sub(projected) > READY_MAX_LAG {
        return Err(ApiError::NotReady(format!(
            "the projections trail the log by {} events",
            head - projected
        )));
    }
    let queued = state.store.queue_depth();
    if queued >= state.limits.ready_max_queue {
        return Err(ApiError::NotReady(format!(
            "{queued} commits wait for the writer"
        )));
    }
    Ok(HttpResponse::Ok().json(Health {
        status: "ready".into(),
        head_position: head,
        projection_position: projected,
        policy_version: state.policy.version,
    }))
}
