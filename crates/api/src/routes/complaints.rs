//! Complaints (domain.md §3): one endpoint per step, the complaint views and recalls.

use actix_web::web::{Data, Path, Query};
use actix_web::{get, post, HttpRequest, HttpResponse};
use repairledger_domain::complaint::{ComplaintCommand, ComplaintState};
use repairledger_domain::DomainError;
use repairledger_projections::{ComplaintView, RecallView};

use crate::auth::Caller;
use crate::command::{aggregate_command, check_id, Meta};
use crate::dto::{CommandResponse, ReadQuery};
use crate::json::Json;
use crate::problem::ApiError;
use crate::quality_dto::*;
use crate::routes::reads::{view, At};
use crate::AppState;

/// Every step of this aggregate takes the same path: load, fold, decide, append.
async fn complaint_command(
    state: &AppState,
    meta: Meta,
    id: &str,
    make: impl Fn(&AppState) -> Result<ComplaintCommand, ApiError>,
) -> Result<HttpResponse, ApiError> {
    aggregate_command::<ComplaintState>(state, meta, id, make).await
}

/// Register a complaint (after-sales, QC or sales): starts the resolution clock (10 days
/// domestic, 15 foreign).
#[utoipa::path(
    post, path = "/v1/complaints", tag = "complaints", operation_id = "registerComplaint",
    request_body = RegisterComplaintRequest,
    responses((status = 200, description = "Registered", body = CommandResponse))
)]
#[post("/complaints")]
pub async fn register(
    req: HttpRequest,
    state: Data<AppState>,
    caller: Caller,
    body: Json<RegisterComplaintRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    for s in &b.serials {
        check_id("serials[]", s)?;
    }
    let meta = Meta::new(&req, &state, &caller, b.occurred_at, &b)?;
    complaint_command(&state, meta, &b.complaint_id, |_| {
        Ok(ComplaintCommand::Register {
            customer: b.customer.clone(),
            market: b.market,
            model: b.model.clone(),
            batch: b.batch.clone(),
            print_code: b.print_code.clone(),
            serials: b.serials.clone(),
            quantity: b.quantity,
            weight_kg: b.weight_kg,
            description: b.description.clone(),
        })
    })
    .await
}

macro_rules! complaint_step {
    ($($t:tt)*) => {
        command_step!(complaint_command, "complaint_id", "The complaint", "complaints", $($t)*);
    };
}

complaint_step!(
    /// QC inspects a sample and grades it. Grade A opens a recall over every known unit of the
    /// complaint's batch, in the same commit.
    inspect_sample, "/complaints/{complaint_id}/sample-inspection", SampleInspectionRequest,
    "inspectComplaintSample", "Graded",
    |state, b, complaint_id| {
        state.projector.catch_up(state.store.as_ref())?;
        let batch_units = state.projector.read(|m| {
            let batch = m.complaints.get(&complaint_id).and_then(|c| c.batch.clone());
            m.units
                .values()
                .filter(|u| {
                    batch.is_some()
                        && u.state.product.as_ref().and_then(|p| p.batch.as_ref()) == batch.as_ref()
                })
                .map(|u| u.serial.clone())
                .collect::<Vec<_>>()
        });
        ComplaintCommand::InspectSample { grade: b.grade, cause: b.cause, findings: b.findings.clone(), batch_units }
    }
);
complaint_step!(
    /// Record nonconforming product control for a grade B or C complaint (QC).
    record_nonconforming_control, "/complaints/{complaint_id}/nonconforming-control",
    NonconformingControlRequest, "recordNonconformingControl", "Recorded",
    |state, b| ComplaintCommand::RecordNonconformingControl { measures: b.measures.clone() }
);
complaint_step!(
    /// Record one link of the trace chain (label → print code → inspection report → production
    /// record → material → requisition → material batch → receipt → supplier).
    record_trace_link, "/complaints/{complaint_id}/trace-links", TraceLinkRequest,
    "recordTraceLink", "Recorded",
    |state, b| ComplaintCommand::RecordTraceLink {
        link: b.link, reference: b.reference.clone(), responsible_dept: b.responsible_dept.clone()
    }
);
complaint_step!(
    /// Accept that the trace chain cannot be followed past its first missing link (the technical
    /// vice-president), with the reason: the complaint may then be resolved without the root
    /// cause.
    record_trace_broken, "/complaints/{complaint_id}/trace-broken", TraceBrokenRequest,
    "recordTraceBroken", "Recorded",
    |state, b| ComplaintCommand::RecordTraceBroken { at_link: b.at_link, reason: b.reason.clone() }
);
complaint_step!(
    /// Approve a return: the sales dept up to the policy's weight (500 kg), the technical
    /// vice-president above it.
    approve_return, "/complaints/{complaint_id}/return-approval", crate::dto::StepRequest,
    "approveComplaintReturn", "Approved",
    |state, b| ComplaintCommand::ApproveReturn
);
complaint_step!(
    /// Resolve the complaint: return, exchange, discount or explanation. Cash refunds are refused.
    resolve, "/complaints/{complaint_id}/resolution", ResolveComplaintRequest, "resolveComplaint", "Resolved",
    |state, b| ComplaintCommand::Resolve { outcome: b.outcome, detail: b.detail.clone() }
);
complaint_step!(
    /// Receive the returned goods (after-sales).
    receive_goods, "/complaints/{complaint_id}/returned-goods", QuantityRequest,
    "receiveReturnedGoods", "Received",
    |state, b| ComplaintCommand::ReceiveReturnedGoods { quantity: b.quantity }
);
complaint_step!(
    /// QC inspects the returned goods.
    inspect_goods, "/complaints/{complaint_id}/returned-goods-inspection", GoodsInspectionRequest,
    "inspectReturnedGoods", "Inspected",
    |state, b| ComplaintCommand::InspectReturnedGoods { passed: b.passed, findings: b.findings.clone() }
);
complaint_step!(
    /// Put the returned goods back into stock: only after QC passed them.
    restock, "/complaints/{complaint_id}/restock", crate::dto::StepRequest, "restockReturnedGoods", "Restocked",
    |state, b| ComplaintCommand::Restock
);
complaint_step!(
    /// Close a resolved complaint.
    close, "/complaints/{complaint_id}/closure", crate::dto::StepRequest, "closeComplaint", "Closed",
    |state, b| ComplaintCommand::Close
);

/// Complaints by id, optionally open or closed, or of one grade.
#[utoipa::path(get, path = "/v1/complaints", tag = "complaints", operation_id = "listComplaints",
    params(ComplaintListQuery),
    responses((status = 200, description = "Complaints", body = [ComplaintView])))]
#[get("/complaints")]
pub async fn list(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ComplaintListQuery>,
) -> Result<HttpResponse, ApiError> {
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
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let found = view(&state, at, |m| {
        m.complaints
            .values()
            .filter(|c| closed.is_none_or(|x| c.state.closed == x))
            .filter(|c| q.grade.is_none_or(|g| c.state.grade == Some(g)))
            .cloned()
            .collect::<Vec<_>>()
    })?;
    Ok(HttpResponse::Ok().json(found))
}

/// One complaint: grade, trace chain with its missing links, resolution, returned goods.
#[utoipa::path(get, path = "/v1/complaints/{complaint_id}", tag = "complaints", operation_id = "getComplaint",
    params(("complaint_id" = String, Path, description = "The complaint"), ReadQuery),
    responses((status = 200, description = "The complaint", body = ComplaintView)))]
#[get("/complaints/{complaint_id}")]
pub async fn get_one(
    state: Data<AppState>,
    _caller: Caller,
    complaint_id: Path<String>,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_id("complaint_id", &complaint_id)?;
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    match view(&state, at, |m| {
        m.complaints.get(complaint_id.as_str()).cloned()
    })? {
        Some(c) => Ok(HttpResponse::Ok()
            .insert_header((actix_web::http::header::ETAG, format!("\"{}\"", c.version)))
            .json(c)),
        None => Err(ApiError::Domain(DomainError::ComplaintNotFound {
            complaint_id: complaint_id.to_string(),
        })),
    }
}

/// Recall campaigns opened by grade-A complaints, with the units of each batch.
#[utoipa::path(get, path = "/v1/recalls", tag = "complaints", operation_id = "listRecalls",
    params(ReadQuery),
    responses((status = 200, description = "Recalls", body = [RecallView])))]
#[get("/recalls")]
pub async fn recalls(
    state: Data<AppState>,
    _caller: Caller,
    q: Query<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let at = At::new(q.min_position, q.as_of, q.as_of_position);
    let found = view(&state, at, |m| {
        m.recalls.values().cloned().collect::<Vec<_>>()
    })?;
    Ok(HttpResponse::Ok().json(found))
}
