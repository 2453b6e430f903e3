//! Repair plans (rule 6) and emergency production orders (rule 14).

use std::collections::BTreeSet;

use actix_web::web::{Data, Path};
use actix_web::{post, HttpRequest, HttpResponse};
use repairledger_domain::plan::{self, PlanCommand, PlanEvent, PlanState, PlanStatus};
use repairledger_domain::production::{
    self, OrderEmergencyProduction, OrderState, ProductionEvent,
};
use repairledger_domain::streams;
use repairledger_domain::unit::Step;

use crate::auth::Caller;
use crate::command::{check_id, execute, load, refused, Meta, Planned};
use crate::dto::*;
use crate::json::Json;
use crate::problem::ApiError;
use crate::routes::units::load_unit;
use crate::AppState;

fn load_plan(state: &AppState, plan_id: &str) -> Result<(PlanState, u64), ApiError> {
    let (events, version) = load::<PlanEvent>(state, &streams::plan(plan_id))?;
    Ok((PlanState::from_events(plan_id, events.iter()), version))
}

/// Every listed serial is an id: checked before the command, so a malformed body is refused
/// before `If-Match` is judged.
fn check_serials(serials: &[String]) -> Result<(), ApiError> {
    serials.iter().try_for_each(|s| check_id("serials[]", s))
}

/// The listed units that are registered and waiting in the awaiting-repair zone, read from their
/// own streams (not the projection) so the check sees the latest state.
fn registered_among(state: &AppState, serials: &[String]) -> Result<BTreeSet<String>, ApiError> {
    let mut registered = BTreeSet::new();
    for s in serials {
        check_id("serials[]", s)?;
        let (unit, _) = load_unit(state, s)?;
        if unit.step == Step::Registered {
            registered.insert(s.clone());
        }
    }
    Ok(registered)
}

async fn plan_command(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    plan_id: &str,
    meta_body: &impl serde::Serialize,
    occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    make: impl Fn(&AppState) -> Result<PlanCommand, ApiError>,
) -> Result<HttpResponse, ApiError> {
    check_id("plan_id", plan_id)?;
    let meta = Meta::new(req, state, caller, occurred_at, meta_body)?;
    execute(state, meta, &streams::plan(plan_id), |state, ctx| {
        let (plan, version) = load_plan(state, plan_id)?;
        let cmd = make(state)?;
        if plan.status == PlanStatus::None && !matches!(cmd, PlanCommand::Compile { .. }) {
            return Err(ApiError::PlanNotFound(plan_id.into()));
        }
        let events = plan::decide(&plan, &cmd, ctx).map_err(refused)?;
        Ok(vec![Planned::new(streams::plan(plan_id), version, &events)])
    })
    .await
}

/// Compile a repair plan (after-sales). Every listed unit must be registered and awaiting repair.
#[utoipa::path(
    post, path = "/v1/repair-plans", tag = "repair plans", operation_id = "compileRepairPlan",
    request_body = CompilePlanRequest,
    responses((status = 200, description = "Compiled; waits for production's co-signature", body = CommandResponse))
)]
#[post("/repair-plans")]
pub async fn compile(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    body: Json<CompilePlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_serials(&b.serials)?;
    plan_command(
        &req,
        &state,
        &caller,
        &b.plan_id,
        &b,
        b.occurred_at,
        |state| {
            Ok(PlanCommand::Compile {
                serials: b.serials.clone(),
                notes: b.notes.clone(),
                registered: registered_among(state, &b.serials)?,
            })
        },
    )
    .await
}

/// Send a plan back in writing with the change production needs (会签 amendment).
#[utoipa::path(
    post, path = "/v1/repair-plans/{plan_id}/amendment-requests", tag = "repair plans",
    operation_id = "requestPlanAmendment", request_body = AmendmentRequest,
    params(("plan_id" = String, Path, description = "The repair plan")),
    responses((status = 200, description = "Sent back to after-sales", body = CommandResponse))
)]
#[post("/repair-plans/{plan_id}/amendment-requests")]
pub async fn request_amendment(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    plan_id: Path<String>,
    body: Json<AmendmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    plan_command(&req, &state, &caller, &plan_id, &b, b.occurred_at, |_| {
        Ok(PlanCommand::RequestAmendment {
            reason: b.reason.clone(),
        })
    })
    .await
}

/// Revise a plan after an amendment request (after-sales), with the reason.
#[utoipa::path(
    post, path = "/v1/repair-plans/{plan_id}/revisions", tag = "repair plans",
    operation_id = "reviseRepairPlan", request_body = RevisePlanRequest,
    params(("plan_id" = String, Path, description = "The repair plan")),
    responses((status = 200, description = "Revised; waits for co-signature again", body = CommandResponse))
)]
#[post("/repair-plans/{plan_id}/revisions")]
pub async fn revise(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    plan_id: Path<String>,
    body: Json<RevisePlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_serials(&b.serials)?;
    plan_command(
        &req,
        &state,
        &caller,
        &plan_id,
        &b,
        b.occurred_at,
        |state| {
            Ok(PlanCommand::Revise {
                serials: b.serials.clone(),
                reason: b.reason.clone(),
                registered: registered_among(state, &b.serials)?,
            })
        },
    )
    .await
}

/// Co-sign a plan (production).
#[utoipa::path(
    post, path = "/v1/repair-plans/{plan_id}/co-signature", tag = "repair plans",
    operation_id = "coSignRepairPlan", request_body = StepRequest,
    params(("plan_id" = String, Path, description = "The repair plan")),
    responses((status = 200, description = "Co-signed", body = CommandResponse))
)]
#[post("/repair-plans/{plan_id}/co-signature")]
pub async fn co_sign(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    plan_id: Path<String>,
    body: Json<StepRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    plan_command(&req, &state, &caller, &plan_id, &b, b.occurred_at, |_| {
        Ok(PlanCommand::CoSign)
    })
    .await
}

/// Issue a co-signed plan (after-sales): the repair dept may now accept its units.
#[utoipa::path(
    post, path = "/v1/repair-plans/{plan_id}/issue", tag = "repair plans",
    operation_id = "issueRepairPlan", request_body = StepRequest,
    params(("plan_id" = String, Path, description = "The repair plan")),
    responses((status = 200, description = "Issued", body = CommandResponse))
)]
#[post("/repair-plans/{plan_id}/issue")]
pub async fn issue(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    plan_id: Path<String>,
    body: Json<StepRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    plan_command(&req, &state, &caller, &plan_id, &b, b.occurred_at, |_| {
        Ok(PlanCommand::Issue)
    })
    .await
}

/// Order emergency production (after-sales), only when no repair spare of the model is available.
#[utoipa::path(
    post, path = "/v1/emergency-production-orders", tag = "spares",
    operation_id = "orderEmergencyProduction", request_body = OrderProductionRequest,
    responses((status = 200, description = "Ordered", body = CommandResponse))
)]
#[post("/emergency-production-orders")]
pub async fn order_production(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    body: Json<OrderProductionRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_id("order_id", &b.order_id)?;
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    execute(
        &state,
        meta,
        &streams::production(&b.order_id),
        |state, ctx| {
            let stream = streams::production(&b.order_id);
            let (events, version) = load::<ProductionEvent>(state, &stream)?;
            let order = events
                .iter()
                .fold(OrderState::new(&b.order_id), |s, e| s.evolve(e));
            state.projector.catch_up(state.store.as_ref())?;
            let cmd = OrderEmergencyProduction {
                model: b.model.clone(),
                customer: b.customer.clone(),
                faulty_serial: b.faulty_serial.clone(),
                reason: b.reason.clone(),
                spares_available: state.projector.read(|m| m.spares_available(&b.model)),
            };
            let new = production::order(&order, &cmd, ctx).map_err(refused)?;
            Ok(vec![Planned::new(stream, version, &new)])
        },
    )
    .await
}

/// Record the emergency build (production): the new unit's file starts here.
#[utoipa::path(
    post, path = "/v1/emergency-production-orders/{order_id}/completion", tag = "spares",
    operation_id = "completeEmergencyProduction", request_body = CompleteProductionRequest,
    params(("order_id" = String, Path, description = "The production order")),
    responses((status = 200, description = "Built", body = CommandResponse))
)]
#[post("/emergency-production-orders/{order_id}/completion")]
pub async fn complete_production(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    order_id: Path<String>,
    body: Json<CompleteProductionRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_id("order_id", &order_id)?;
    check_id("serial", &b.serial)?;
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    execute(
        &state,
        meta,
        &streams::production(&order_id),
        |state, ctx| {
            let stream = streams::production(&order_id);
            let (events, version) = load::<ProductionEvent>(state, &stream)?;
            if version == 0 {
                return Err(ApiError::OrderNotFound(order_id.to_string()));
            }
            let order = events
                .iter()
                .fold(OrderState::new(order_id.as_str()), |s, e| s.evolve(e));
            let (unit, uv) = load_unit(state, &b.serial)?;
            let (oe, ue) =
                production::complete(&order, &unit, b.production_date, b.warranty_end, ctx)
                    .map_err(refused)?;
            Ok(vec![
                Planned::new(stream, version, &oe),
                Planned::new(streams::unit(&b.serial), uv, &ue),
            ])
        },
    )
    .await
}
