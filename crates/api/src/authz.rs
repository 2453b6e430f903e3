//! Who may call which command: one table, checked before a request body is even read.
//!
//! Every `POST` under `/v1` must have a row here: the matrix test, which calls every operation
//! as every role, fails on a command without one, so a new endpoint cannot ship without a
//! decision. Reads are open to every authenticated role. The domain still checks
//! roles itself (and who in a role: the custodian, the named receiver, the lead engineer); this
//! table is the outer gate and the published contract (`docs/authorization.md`).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};
use repairledger_privacy::Disclosure;

use crate::auth::{authenticate, bearer};
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
    ("/v1/units/{serial}/form-archive", &[Qc], "rule 8"),
    (
        "/v1/units/{serial}/placement-for-return",
        &[AfterSales],
        "rule 12",
    ),
    (
        "/v1/units/{serial}/customer-declined-return",
        &[AfterSales, TechnicalService],
        "rule 12: whoever speaks to the customer",
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
        "/v1/service-requests/{request_id}/cancellation",
        &[GeneralManager],
        "§2: the general manager approves exceptions",
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
        "/v1/complaints/{complaint_id}/trace-broken",
        &[TechnicalVp],
        "§3 (seed 004): a broken trace chain",
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
        "/v1/tokens",
        &[GeneralManager],
        "security: access is granted by the general manager",
    ),
    (
        "/v1/tokens/{token_id}/revocation",
        &[GeneralManager],
        "security: and withdrawn by them",
    ),
    (
        "/v1/signatures",
        &[FieldReceiver, AfterSales, TechnicalService, Customer],
        "rules 2, 12, §2: staff who meet the customer capture the signature; the customer signs in the portal",
    ),
    (
        "/v1/customers/{customer_id}/erasure",
        &[GeneralManager],
        "seed 003: customer data is confidential; erasure is the company's decision",
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

/// Reads that not every role may make: (route pattern of a `GET`, roles, why).
pub const RESTRICTED_READS: &[(&str, &[Role], &str)] = &[
    (
        "/v1/tokens",
        &[GeneralManager, Auditor],
        "who holds access: for the manager who grants it and the auditor",
    ),
    (
        "/v1/signatures/{sha256}",
        &[
            Auditor,
            FieldReceiver,
            AfterSales,
            TechnicalService,
            Sales,
            GeneralManager,
            TechnicalVp,
        ],
        "a customer's handwriting is personal data: the auditor, who checks the evidence, and the roles that see customer data",
    ),
];

/// The roles that may call a restricted `GET` route, or `None` when every role may.
pub fn read_roles(pattern: &str) -> Option<&'static [Role]> {
    RESTRICTED_READS
        .iter()
        .find(|(p, _, _)| *p == pattern)
        .map(|(_, roles, _)| *roles)
}

/// The roles that may call a `POST` route, or `None` when the table has no row for it.
pub fn command_roles(pattern: &str) -> Option<&'static [Role]> {
    COMMANDS
        .iter()
        .find(|(p, _, _)| *p == pattern)
        .map(|(_, roles, _)| *roles)
}

/// Who sees customers' personal data (names, signatures, site addresses) in clear: the people
/// who deal with the customer. Everyone else, the auditor included, reads `[redacted]`; the
/// sealed values in the log and its exports are ciphertext to all.
pub const PERSONAL_DATA: &[(Role, &str)] = &[
    (FieldReceiver, "collects units at the customer's site"),
    (AfterSales, "the customer's single point of contact"),
    (
        TechnicalService,
        "travels to the site, delivers to the customer",
    ),
    (Sales, "owns the customer relationship"),
    (GeneralManager, "approves, waives, orders erasures"),
    (TechnicalVp, "approves heavy complaint returns"),
];

pub fn sees_personal_data(role: Role) -> bool {
    PERSONAL_DATA.iter().any(|(r, _)| *r == role)
}

/// Requests a second per token.
pub type RateLimiter = governor::DefaultKeyedRateLimiter<String>;

pub fn rate_limiter(limits: &crate::Limits) -> Option<RateLimiter> {
    let per_second = std::num::NonZeroU32::new(limits.rate_per_second)?;
    let burst = std::num::NonZeroU32::new(limits.rate_burst.max(limits.rate_per_second))
        .unwrap_or(per_second);
    Some(governor::RateLimiter::keyed(
        governor::Quota::per_second(per_second).allow_burst(burst),
    ))
}

fn rate_check(state: &AppState, key: &str) -> Result<(), ApiError> {
    use governor::clock::Clock;
    let Some(limiter) = &state.rate_limiter else {
        return Ok(());
    };
    limiter.check_key(&key.to_string()).map_err(|not_until| {
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        ApiError::RateLimited {
            per_second: state.limits.rate_per_second,
            burst: state.limits.rate_burst,
            retry_after_secs: wait.as_secs().max(1),
        }
    })
}

/// The outer gate of `/v1`: authenticates once (a wrong or expired token is 401 wherever it is
/// sent), counts the request against the token's rate, checks the table for every `POST` before
/// the body is parsed (so a role that may not call a command learns that, not a schema error),
/// and on the way out discloses personal data to the roles that see it.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let authenticated = match bearer(req.request()).map(|t| authenticate(&state, t)) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => return Ok(req.into_response(e.error_response()).map_into_boxed_body()),
    };
    if let Some(a) = &authenticated {
        if let Err(e) = rate_check(&state, &a.rate_key) {
            return Ok(req.into_response(e.error_response()).map_into_boxed_body());
        }
        req.extensions_mut().insert(a.clone());
    }
    if let Err(refusal) = check(&req, authenticated.as_ref().map(|a| &a.person)) {
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_boxed_body());
    }
    let disclosure = match &authenticated {
        Some(a) if sees_personal_data(a.person.role) => Disclosure::Reveal,
        _ => Disclosure::Redact,
    };
    let res = next.call(req).await?;
    disclose(res, &state.vault, disclosure).await
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Replaces the sealed values of a buffered response (JSON, CSV, SVG); streams (the live feed,
/// exports) are left alone: the feed discloses frame by frame, exports stay sealed.
async fn disclose<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    vault: &repairledger_privacy::Vault,
    d: Disclosure,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let content_type = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let json = content_type.starts_with("application/json")
        || content_type.starts_with("application/problem+json");
    let csv = content_type.starts_with("text/csv");
    let svg = content_type.starts_with("image/svg+xml");
    if !(json || csv || svg) {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
        let e: Box<dyn std::error::Error> = e.into();
        actix_web::error::ErrorInternalServerError(e.to_string())
    })?;
    let shown = if json {
        repairledger_privacy::disclose_json(&bytes, vault, d)
    } else {
        std::str::from_utf8(&bytes).ok().and_then(|text| {
            let escape: fn(&str) -> String = if csv { csv_cell } else { xml_text };
            repairledger_privacy::disclose_text(text, vault, d, escape).map(String::into_bytes)
        })
    };
    let body = shown.map(web::Bytes::from).unwrap_or(bytes);
    Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(body))))
}

fn check(req: &ServiceRequest, person: Option<&crate::auth::Person>) -> Result<(), ApiError> {
    let Some(pattern) = crate::route::Route::of(req).0 else {
        return Ok(()); // no such route: the router answers 404
    };
    if req.method() == actix_web::http::Method::GET {
        if let Some(roles) = read_roles(pattern) {
            let person = person.ok_or(ApiError::Unauthenticated)?;
            if !roles.contains(&person.role) {
                return Err(ApiError::OperationNotPermitted {
                    role: person.role.to_string(),
                    operation: format!("GET {pattern}"),
                });
            }
        }
        return Ok(());
    }
    if req.method() != actix_web::http::Method::POST {
        return Ok(());
    }
    // A route with no row here has no POST handler (a POST to a read): the router answers.
    // A POST handler without a row fails the matrix test, so none ships.
    let Some(roles) = command_roles(pattern) else {
        return Ok(());
    };
    let person = person.ok_or(ApiError::Unauthenticated)?;
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
    out.push_str(
        "\n## Restricted reads\n\n\
         Every other `GET` is open to every authenticated role.\n\n\
         | read | roles | why |\n|---|---|---|\n",
    );
    for (pattern, roles, why) in RESTRICTED_READS {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!(
            "| `GET {pattern}` | {} | {why} |\n",
            names.join(", ")
        ));
    }
    out.push_str(
        "\n## Personal data\n\n\
         Customers' names, signatures and site addresses are sealed in the log (see\n\
         `docs/security.md`). These roles read them in clear; every other role, the auditor\n\
         included, reads `[redacted]`. Once a customer's data is erased, everyone reads `[erased]`.\n\n\
         | role | why |\n|---|---|\n",
    );
    for (role, why) in PERSONAL_DATA {
        out.push_str(&format!("| {} | {why} |\n", role.as_str()));
    }
    out
}
