//! Who may call which command: one table, checked before a request body is even read.
//!
//! Every `POST` under `/v1` must have a row here: the matrix test, which calls every operation
//! as every role, fails on a command without one, so a new endpoint cannot ship without a
//! decision. Reads are open to every authenticated role. The domain still checks
//! roles itself (and who in a role: the custodian, the named receiver, the lead engineer); this
//! table is the outer gate and the published contract (`docs/authorization.md`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use repairledger_domain::Role;
use Role::*;

use crate::problem::ApiError;
use crate::AppState;

/// Every role of the organisation that may act (the auditor and customers only read).
const STAFF: &[Role] = &[
    FieldReceiver,
    AfterSales,
    Production,
    Repair,
    Qc,
    TechnicalService,
    Development,
    GeneralManager,
    Sales,
    TechnicalVp,
];
const MANAGEMENT: &[Role] = &[AfterSales, GeneralManager];

/// (route pattern of a `POST`, roles that may call it, why).
pub const COMMANDS: &[(&str, &[Role], &str)] = &[
    (
        "/v1/units/{serial}/returns",
        &[FieldReceiver, TechnicalService, AfterSales],
        "rule 1: carried, mailed or customer-direct",
    ),
    (
        "/v1/units/{serial}/receipt-by-post",
        &[AfterSales],
        "rule 1: the post arrives at after-sales",
    ),
    (
        "/v1/units/{serial}/handovers",
        STAFF,
        "rule 2: the custodian, whoever it is",
    ),
    (
        "/v1/units/{serial}/handovers/{handover_id}/signature",
        STAFF,
        "rule 2: the named receiver",
    ),
    (
        "/v1/units/{serial}/handovers/{handover_id}/cancellation",
        STAFF,
        "rule 2: either party",
    ),
    ("/v1/units/{serial}/registration", &[AfterSales], "rule 5"),
    ("/v1/units/{serial}/fault-confirmation", &[Repair], "rule 7"),
    ("/v1/units/{serial}/repair", &[Repair], "rule 7"),
    ("/v1/units/{serial}/unrepairable", &[Repair], "rule 9"),
    ("/v1/units/{serial}/inspections", &[Qc], "rule 8"),
    (
        "/v1/units/{serial}/placement-for-return",
        &[AfterSales],
        "rule 12",
    ),
    (
        "/v1/units/{serial}/spare-registration",
        &[AfterSales],
        "rule 12",
    ),
    (
        "/v1/units/{serial}/delivery",
        &[TechnicalService],
        "rule 12",
    ),
    (
        "/v1/units/{serial}/disposition",
        &[TechnicalService],
        "rule 9",
    ),
    (
        "/v1/units/{serial}/customer-insistence",
        &[TechnicalService],
        "rule 11",
    ),
    (
        "/v1/units/{serial}/development-confirmation",
        &[Development],
        "rule 11",
    ),
    ("/v1/units/{serial}/scrap", &[AfterSales], "rules 9-11"),
    (
        "/v1/units/{serial}/return-to-stock",
        &[AfterSales],
        "rule 12",
    ),
    ("/v1/units/{serial}/exchange", &[AfterSales], "rules 9-11"),
    (
        "/v1/units/{serial}/emergency-use",
        &[FieldReceiver, TechnicalService],
        "rule 14",
    ),
    (
        "/v1/units/{serial}/shipments",
        &[Production, AfterSales],
        "§4 unit file",
    ),
    (
        "/v1/units/{serial}/follow-ups",
        &[AfterSales],
        "§4 unit file",
    ),
    ("/v1/repair-plans", &[AfterSales], "rule 6"),
    (
        "/v1/repair-plans/{plan_id}/amendment-requests",
        &[Production],
        "rule 6",
    ),
    (
        "/v1/repair-plans/{plan_id}/revisions",
        &[AfterSales],
        "rule 6",
    ),
    (
        "/v1/repair-plans/{plan_id}/co-signature",
        &[Production],
        "rule 6",
    ),
    ("/v1/repair-plans/{plan_id}/issue", &[AfterSales], "rule 6"),
    ("/v1/emergency-production-orders", &[AfterSales], "rule 14"),
    (
        "/v1/emergency-production-orders/{order_id}/completion",
        &[Production],
        "rule 14",
    ),
    ("/v1/service-requests", STAFF, "§2: whoever takes the call"),
    (
        "/v1/service-requests/{request_id}/relay",
        STAFF,
        "§2: whoever received it",
    ),
    (
        "/v1/service-requests/{request_id}/contacts",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/competitor-approval",
        &[GeneralManager],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/warranty-decision",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/consultation-answer",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/solution",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/quotes",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/quote-confirmation",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/fee-refusal",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/free-service-approval",
        &[GeneralManager],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/departure",
        &[TechnicalService],
        "§2: the lead engineer",
    ),
    (
        "/v1/service-requests/{request_id}/arrival",
        &[TechnicalService],
        "§2: a team member",
    ),
    (
        "/v1/service-requests/{request_id}/work-log",
        &[TechnicalService],
        "§2: a team member",
    ),
    (
        "/v1/service-requests/{request_id}/chases",
        STAFF,
        "§2: whoever takes the call",
    ),
    (
        "/v1/service-requests/{request_id}/customer-feedback",
        &[TechnicalService],
        "§2: a team member",
    ),
    (
        "/v1/service-requests/{request_id}/site-departure-approval",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/site-departure",
        &[TechnicalService],
        "§2: the lead",
    ),
    (
        "/v1/service-requests/{request_id}/return-to-factory",
        &[TechnicalService],
        "§2: the lead",
    ),
    (
        "/v1/service-requests/{request_id}/trip-report",
        &[TechnicalService],
        "§2: the lead",
    ),
    (
        "/v1/service-requests/{request_id}/parts-return",
        &[TechnicalService],
        "§2: the lead",
    ),
    (
        "/v1/service-requests/{request_id}/parts-reinspection",
        &[Qc],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/satisfaction-check",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/clock-pauses",
        MANAGEMENT,
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/clock-resumptions",
        MANAGEMENT,
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/escalation",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/closure",
        &[AfterSales],
        "§2",
    ),
    (
        "/v1/service-requests/{request_id}/unclear-record-penalties",
        MANAGEMENT,
        "§2 penalties",
    ),
    (
        "/v1/breaches/{breach_id}/penalty",
        MANAGEMENT,
        "rule 17, §2 penalties",
    ),
    (
        "/v1/penalties/{penalty_id}/waiver",
        &[GeneralManager],
        "§2: the general manager may waive",
    ),
    ("/v1/complaints", &[AfterSales, Qc, Sales], "§3"),
    (
        "/v1/complaints/{complaint_id}/sample-inspection",
        &[Qc],
        "§3",
    ),
    (
        "/v1/complaints/{complaint_id}/nonconforming-control",
        &[Qc],
        "§3",
    ),
    (
        "/v1/complaints/{complaint_id}/trace-links",
        &[Qc, Production, AfterSales],
        "§3",
    ),
    (
        "/v1/complaints/{complaint_id}/return-approval",
        &[Sales, TechnicalVp],
        "§3: by weight",
    ),
    (
        "/v1/complaints/{complaint_id}/resolution",
        &[AfterSales, Sales],
        "§3",
    ),
    (
        "/v1/complaints/{complaint_id}/returned-goods",
        &[AfterSales],
        "§3",
    ),
    (
        "/v1/complaints/{complaint_id}/returned-goods-inspection",
        &[Qc],
        "§3",
    ),
    ("/v1/complaints/{complaint_id}/restock", &[AfterSales], "§3"),
    ("/v1/complaints/{complaint_id}/closure", &[AfterSales], "§3"),
    ("/v1/quality-cases", &[Qc], "seed 000 part 1"),
    (
        "/v1/quality-cases/{case_id}/investigations",
        &[Qc],
        "seed 000 part 1",
    ),
    (
        "/v1/quality-cases/{case_id}/escalation",
        &[Qc],
        "seed 000 part 1",
    ),
    (
        "/v1/quality-cases/{case_id}/instruction",
        &[GeneralManager],
        "seed 000 part 1",
    ),
    (
        "/v1/quality-cases/{case_id}/analysis",
        &[Qc],
        "seed 000 part 1",
    ),
    (
        "/v1/quality-cases/{case_id}/closure",
        &[Qc],
        "seed 000 part 1",
    ),
    (
        "/v1/webhooks",
        MANAGEMENT,
        "integration: a subscription sees every event",
    ),
    (
        "/v1/webhooks/{subscription_id}/cancellation",
        MANAGEMENT,
        "integration",
    ),
    (
        "/v1/webhooks/{subscription_id}/dead-letters/{position}/redelivery",
        MANAGEMENT,
        "integration",
    ),
];

/// The roles that may call a `POST` route, or `None` when the table has no row for it.
pub fn command_roles(pattern: &str) -> Option<&'static [Role]> {
    COMMANDS
        .iter()
        .find(|(p, _, _)| *p == pattern)
        .map(|(_, roles, _)| *roles)
}

/// The outer gate: authenticates and checks the table for every `POST` under `/v1`, before
/// the body is parsed (so a role that may not call a command learns that, not a schema error).
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if let Err(refusal) = check(&req) {
        let response = refusal.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}

fn check(req: &ServiceRequest) -> Result<(), ApiError> {
    if req.method() != actix_web::http::Method::POST {
        return Ok(());
    }
    let Some(pattern) = req.match_pattern() else {
        return Ok(()); // no such route: the router answers 404
    };
    // A route with no row here has no POST handler (a POST to a read): the router answers.
    // A POST handler without a row fails the matrix test, so none ships.
    let Some(roles) = command_roles(&pattern) else {
        return Ok(());
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("no app state".into()))?;
    let person = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| state.directory.authenticate(t.trim()))
        .ok_or(ApiError::Unauthenticated)?;
    if person.role == Role::Auditor {
        return Err(ApiError::ReadOnlyRole {
            role: person.role.to_string(),
        });
    }
    if !roles.contains(&person.role) {
        return Err(ApiError::OperationNotPermitted {
            role: person.role.to_string(),
            operation: format!("POST {pattern}"),
        });
    }
    Ok(())
}

/// The table as Markdown, for `docs/authorization.md` (a test keeps the file equal to this).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Authorization\n\n\
         Generated from `crates/api/src/authz.rs` (a test fails when this file differs).\n\n\
         Every authenticated role may read (`GET`). The auditor never writes (`read-only-role`).\n\
         A `POST` by a role not listed answers 403 `role-not-permitted` before its body is read.\n\
         The domain then checks who within the role: the unit's custodian, the named receiver,\n\
         the lead engineer of the trip.\n\n\
         | command | roles | why |\n|---|---|---|\n",
    );
    for (pattern, roles, why) in COMMANDS {
        let names: Vec<&str> = if *roles == STAFF {
            vec!["every staff role"]
        } else {
            roles.iter().map(|r| r.as_str()).collect()
        };
        out.push_str(&format!(
            "| `POST {pattern}` | {} | {why} |\n",
            names.join(", ")
        ));
    }
    out
}
