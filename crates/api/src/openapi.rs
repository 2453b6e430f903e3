//! The OpenAPI document. Headers and problem responses that every command shares are added by a
//! modifier, so no endpoint can forget them.

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    access, complaints, feed, plans, quality, reads, service, sla, units, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "repairledger",
        description = "Event-sourced return-for-repair workflow: units, signed handovers, repair plans, inspections, zones and dispositions. Every command appends immutable events to a hash-chained log; reads are projections of that log.\n\nCommands accept `If-Match` (the stream version you decided against; 412 if it moved) and `Idempotency-Key` (a retry with the same key and body returns the original response without appending). Errors are RFC 9457 `application/problem+json` with a stable `type` per rule (see `GET /v1/problems`).",
        version = "1.0.0",
        license(name = "MIT", identifier = "MIT")
    ),
    servers((url = "/", description = "The server that serves this document")),
    paths(
        units::open_return, units::receive_by_post, units::initiate_handover, units::sign_handover,
        units::cancel_handover, units::register, units::confirm_fault, units::record_repair,
        units::declare_unrepairable, units::inspect, units::place_for_return, units::register_as_spare,
        units::deliver, units::decide_disposition, units::customer_insists, units::confirm_no_fault,
        units::scrap, units::return_to_stock, units::exchange, units::emergency_use,
        plans::compile, plans::request_amendment, plans::revise, plans::co_sign, plans::issue,
        plans::order_production, plans::complete_production,
        reads::me, reads::people, reads::list_units, reads::get_unit, reads::unit_events,
        reads::open_returns, reads::zones, reads::zone_ledger, reads::plans, reads::plan, reads::order,
        feed::list_events, feed::stream_events, feed::live, feed::export_log, reads::verify, reads::anchors,
        webhooks::subscribe, webhooks::list, webhooks::get_one, webhooks::unsubscribe,
        webhooks::dead_letters, webhooks::redeliver, reads::policy, reads::problems, reads::health, reads::ready, crate::metrics::scrape,
        service::receive, service::relay, service::contact, service::approve_competitor_work,
        service::decide_warranty, service::answer_consultation, service::determine_solution,
        service::issue_quote, service::confirm_quote, service::refuse_fee, service::approve_free_service,
        service::depart, service::arrive, service::log_work, service::record_chase, service::sign_feedback,
        service::approve_site_departure, service::leave_site, service::return_to_factory,
        service::file_trip_report, service::return_parts, service::reinspect_parts,
        service::confirm_satisfaction, service::pause_clock, service::resume_clock, service::escalate,
        service::close, service::list, service::get_one,
        sla::timers, sla::breaches, sla::assess_breach, sla::assess_unclear_record, sla::waive,
        sla::list_penalties, sla::tallies, sla::get_one,
        units::record_shipment, units::record_follow_up,
        complaints::register, complaints::inspect_sample, complaints::record_nonconforming_control,
        complaints::record_trace_link, complaints::approve_return, complaints::resolve,
        complaints::receive_goods, complaints::inspect_goods, complaints::restock, complaints::close,
        complaints::list, complaints::get_one, complaints::recalls,
        quality::raise, quality::investigate, quality::escalate, quality::instruct, quality::analyse,
        quality::close, quality::list, quality::get_one, quality::archive, quality::qc_monthly,
        quality::unit_file,
        access::issue, access::revoke, access::list, access::erase, access::erasures
    ),
    components(schemas(
        crate::problem::Problem,
        crate::routes::feed::ExportFormat,
        crate::field_dto::TallyBy,
        repairledger_domain::unit::UnitEvent,
        repairledger_domain::plan::PlanEvent,
        repairledger_domain::production::ProductionEvent,
        repairledger_domain::service::ServiceEvent,
        repairledger_domain::penalty::PenaltyEvent,
        repairledger_domain::complaint::ComplaintEvent,
        repairledger_domain::quality::QualityEvent,
        repairledger_domain::access::TokenEvent,
        repairledger_domain::privacy::PrivacyEvent
    )),
    modifiers(&Conventions),
    tags(
        (name = "returns", description = "Opening, receiving and registering returns (rules 1, 3, 5)"),
        (name = "handovers", description = "Signed handovers with continuous custody (rules 2, 4)"),
        (name = "repair plans", description = "Compile, co-sign, amend and issue (rule 6)"),
        (name = "repair", description = "Fault confirmation, cause, repair (rules 7, 10, 11)"),
        (name = "inspection", description = "QC functional inspection (rule 8)"),
        (name = "dispositions", description = "Return, scrap, exchange (rules 9-12)"),
        (name = "spares", description = "Repair spares, emergency use and production (rules 12, 14)"),
        (name = "zones", description = "The four zones and their ledgers (rule 15)"),
        (name = "events", description = "The raw event log"),
        (name = "audit", description = "Tamper evidence, anchors, export"),
        (name = "webhooks", description = "Signed deliveries of the log to integrators"),
        (name = "field service", description = "Field service requests: relay, warranty, quotes, on-site work, trip reports (domain.md §2)"),
        (name = "sla", description = "Deadline timers judged at an instant, with pauses (domain.md §1 rules 3, 13, 14; §2)"),
        (name = "complaints", description = "Complaints: grades A-D, recalls, trace chain, returns by weight, no cash refunds (domain.md §3)"),
        (name = "access", description = "API tokens with expiry and revocation, and the erasure of a customer's personal data (docs/security.md)"),
        (name = "quality", description = "Quality information feedback, the accident archive, the monthly QC report, the unit file"),
        (name = "units", description = "Units and their files"),
        (name = "penalties", description = "Breaches, penalties within the policy's scale, waivers and tallies (rule 17, §2)"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer scheme, the shared command headers and the problem responses.
struct Conventions;

/// The end-to-end scenarios: every command body in them ran green in a test, so the first
/// accepted body of each operation is its example in the spec.
const SCENARIOS: &[&str] = &[
    include_str!("../../../fixtures/scenarios/happy_path.jsonl"),
    include_str!("../../../fixtures/scenarios/emergency_spare.jsonl"),
    include_str!("../../../fixtures/scenarios/two_strikes_no_fault.jsonl"),
    include_str!("../../../fixtures/scenarios/two_strikes_repaired.jsonl"),
    include_str!("../../../fixtures/scenarios/unrepairable_customer_cause.jsonl"),
    include_str!("../../../fixtures/scenarios/unrepairable_in_warranty.jsonl"),
    include_str!("../../../fixtures/scenarios/unrepairable_out_of_warranty.jsonl"),
    include_str!("../../../fixtures/scenarios/field_service_drill.jsonl"),
    include_str!("../../../fixtures/scenarios/field_service_on_time.jsonl"),
    include_str!("../../../fixtures/scenarios/return_deadlines.jsonl"),
    include_str!("../../../fixtures/scenarios/complaint_grades.jsonl"),
    include_str!("../../../fixtures/scenarios/qc_month.jsonl"),
];

/// Does a concrete path (`/v1/units/SN-1/returns`) fit a template (`/v1/units/{serial}/returns`)?
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && a.ends_with('}') && !b.is_empty()) || a == b)
}

/// The first accepted body per POST template, from the scenarios.
fn examples(templates: &[String]) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut found = std::collections::BTreeMap::new();
    for line in SCENARIOS.iter().flat_map(|s| s.lines()) {
        let Ok(l) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let accepted = l["method"] == "POST" && l["expect"].as_u64().unwrap_or(200) == 200;
        let (Some(path), Some(body)) = (l["path"].as_str(), l.get("body")) else {
            continue;
        };
        if !accepted {
            continue;
        }
        if let Some(t) = templates.iter().find(|t| fits(t, path)) {
            found.entry(t.clone()).or_insert_with(|| body.clone());
        }
    }
    found
}

fn header(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
        ))
        .build()
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .into()
}

fn add_problems(op: &mut Operation, codes: &[(&str, &str)]) {
    for (status, description) in codes {
        op.responses
            .responses
            .entry((*status).to_string())
            .or_insert_with(|| problem(description));
    }
}

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let templates: Vec<String> = openapi.paths.paths.keys().cloned().collect();
        let mut bodies = examples(&templates);
        for (path, item) in openapi.paths.paths.iter_mut() {
            if let Some(body) = item
                .post
                .as_mut()
                .and_then(|op| op.request_body.as_mut())
                .and_then(|b| b.content.get_mut("application/json"))
            {
                if let Some(example) = bodies.remove(path) {
                    body.example = Some(example);
                }
            }
            let public = matches!(
                path.as_str(),
                "/healthz" | "/readyz" | "/metrics" | "/v1/problems"
            );
            if let Some(op) = item.post.as_mut() {
                let params = op.parameters.get_or_insert_with(Vec::new);
                params.push(header("If-Match", "The stream version the command was decided against, e.g. \"3\". 412 if the stream has moved on."));
                params.push(header("Idempotency-Key", "A retry with the same key and body returns the original response and appends nothing; another body answers 422."));
                params.push(header(
                    "X-Correlation-Id",
                    "Recorded on every event the command appends; generated if absent.",
                ));
                params.push(header(
                    "X-Causation-Id",
                    "Recorded on every event the command appends.",
                ));
                add_problems(op, &[
                    ("400", "Malformed JSON, unknown field, wrong type, bad id or header (malformed-request, invalid-header)"),
                    ("401", "Missing, unknown, revoked or expired bearer token (unauthenticated, token-expired)"),
                    ("403", "The role or person may not do this (role-not-permitted, not-custodian, not-handover-recipient, read-only-role)"),
                    ("404", "Unknown unit, plan, order or handover"),
                    ("409", "Not possible in the current state, or lost a race (step-out-of-order, handover-pending, concurrent-modification, ...)"),
                    ("412", "If-Match names another version than the stream's (version-mismatch); `current_version` says which"),
                    ("413", "Body larger than the limit (payload-too-large)"),
                    ("422", "Refused by a business rule; `type` names the rule (bypass-not-registered, placeholder-description, two-strikes-repaired, ...)"),
                    ("429", "More requests than the token's rate (rate-limited); retry after Retry-After"),
                    ("503", "The event log cannot take writes now (service-unavailable); retry after Retry-After"),
                ]);
            }
            if let Some(op) = item.get.as_mut() {
                if public {
                    continue;
                }
                add_problems(
                    op,
                    &[
                        ("400", "Bad query or id (malformed-request)"),
                        ("401", "Missing, unknown, revoked or expired bearer token (unauthenticated, token-expired)"),
                        ("429", "More requests than the token's rate (rate-limited); retry after Retry-After"),
                    ],
                );
                if crate::authz::read_roles(path).is_some() {
                    add_problems(
                        op,
                        &[("403", "This role may not read this (role-not-permitted)")],
                    );
                }
                if path.contains('{') {
                    add_problems(op, &[("404", "Not found")]);
                }
            }
            for op in [item.get.as_mut(), item.post.as_mut()]
                .into_iter()
                .flatten()
            {
                if !public {
                    op.security = Some(vec![SecurityRequirement::new(
                        "bearer",
                        Vec::<String>::new(),
                    )]);
                }
            }
        }
    }
}

/// The document as served and committed.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Pretty JSON with a trailing newline: the bytes of `api-spec/openapi.json`.
pub fn document_json() -> String {
    let mut s = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    s.push('\n');
    s
}
