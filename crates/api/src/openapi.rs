//! The OpenAPI document. Headers and problem responses that every command shares are added by a
//! modifier, so no endpoint can forget them.

use std::collections::BTreeSet;

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::command::MAX_HEADER_LEN;

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
        units::declare_unrepairable, units::inspect, units::archive_form, units::place_for_return,
        units::record_customer_declined_return, units::register_as_spare,
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
        service::close, service::cancel, service::list, service::get_one,
        sla::timers, sla::breaches, sla::assess_breach, sla::assess_unclear_record, sla::waive,
        sla::list_penalties, sla::tallies, sla::get_one,
        units::record_shipment, units::record_follow_up,
        complaints::register, complaints::inspect_sample, complaints::record_nonconforming_control,
        complaints::record_trace_link, complaints::record_trace_broken, complaints::approve_return, complaints::resolve,
        complaints::receive_goods, complaints::inspect_goods, complaints::restock, complaints::close,
        complaints::list, complaints::get_one, complaints::recalls,
        quality::raise, quality::investigate, quality::escalate, quality::instruct, quality::analyse,
        quality::close, quality::list, quality::get_one, quality::archive, quality::qc_monthly,
        quality::unit_file,
        access::issue, access::revoke, access::list, access::erase, access::erasures,
        crate::routes::signatures::upload, crate::routes::signatures::get_one
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
        repairledger_domain::privacy::PrivacyEvent,
        repairledger_domain::signature::SignatureEvent
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
        (name = "signatures", description = "Customer signatures as evidence: captured handwriting or a portal signature, stored content-addressed (domain.md §1 rules 2, 12; §2)"),
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
    include_str!("../../../fixtures/scenarios/service_close_loophole.jsonl"),
    include_str!("../../../fixtures/scenarios/return_deadlines.jsonl"),
    include_str!("../../../fixtures/scenarios/complaint_grades.jsonl"),
    include_str!("../../../fixtures/scenarios/qc_month.jsonl"),
    include_str!("../../../fixtures/scenarios/signature_evidence.jsonl"),
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

/// `If-Match` as `command::parse_if_match` reads it: a version of 1 to 19 digits, quoted (an
/// entity tag, weak or strong) or bare.
const IF_MATCH_PATTERN: &str = r#"^(W/)?"[0-9]{1,19}"$|^[0-9]{1,19}$"#;

/// The other command headers as `command::header_value` takes them: visible ASCII (spaces and
/// tabs inside), neither starting nor ending with white space, 1 to `MAX_HEADER_LEN` characters.
const HEADER_TEXT_PATTERN: &str = "^[!-~]([\t -~]*[!-~])?$";

fn header(name: &str, description: &str) -> Parameter {
    let schema = ObjectBuilder::new().schema_type(Type::String);
    let schema = if name == "If-Match" {
        schema.pattern(Some(IF_MATCH_PATTERN))
    } else {
        schema
            .min_length(Some(1))
            .max_length(Some(MAX_HEADER_LEN))
            .pattern(Some(HEADER_TEXT_PATTERN))
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// The pattern of a path id, as `command::check_id` checks it (`check_id_up_to` with 160 for
/// breach and penalty ids); `None` for a stream name, which is looked up as it is.
fn path_id_pattern(name: &str) -> Option<&'static str> {
    match name {
        "stream" => None,
        "breach_id" | "penalty_id" => Some("^[A-Za-z0-9._-]{1,160}$"),
        // A signature is named by the hex SHA-256 of its bytes (`routes::signatures`).
        "sha256" => Some("^[0-9a-f]{64}$"),
        _ => Some("^[A-Za-z0-9._-]{1,64}$"),
    }
}

/// Gives every string path parameter its id pattern.
fn constrain_path_ids(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        if p.parameter_in != ParameterIn::Path {
            continue;
        }
        let Some(pattern) = path_id_pattern(&p.name) else {
            continue;
        };
        if let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() {
            if o.schema_type == SchemaType::Type(Type::String) && o.enum_values.is_none() {
                o.pattern = Some(pattern.to_string());
            }
        }
    }
}

/// Unsigned integers come out of utoipa as `int32`/`int64` with `minimum: 0`, but the server
/// takes their whole range (a `u32` up to 4294967295, a `u64` up to 18446744073709551615), more
/// than those signed formats allow. Request-side schemas say so: format `uint32`/`uint64` and
/// `maximum`. The component names the walk meets go to `refs`.
fn bound_unsigned(schema: &mut RefOr<Schema>, refs: &mut BTreeSet<String>) {
    let schema = match schema {
        RefOr::Ref(r) => {
            if let Some(name) = r.ref_location.strip_prefix("#/components/schemas/") {
                refs.insert(name.to_string());
            }
            return;
        }
        RefOr::T(schema) => schema,
    };
    match schema {
        Schema::Object(o) => {
            let integer = match &o.schema_type {
                SchemaType::Type(t) => *t == Type::Integer,
                SchemaType::Array(ts) => ts.contains(&Type::Integer),
                SchemaType::AnyValue => false,
            };
            let unsigned = o.maximum.is_none()
                && match o.minimum {
                    Some(utoipa::Number::Int(n)) => n == 0,
                    Some(utoipa::Number::UInt(n)) => n == 0,
                    Some(utoipa::Number::Float(n)) => n == 0.0,
                    None => false,
                };
            if integer && unsigned {
                let full = match &o.format {
                    Some(SchemaFormat::KnownFormat(KnownFormat::Int32)) => {
                        Some(("uint32", u32::MAX as usize))
                    }
                    Some(SchemaFormat::KnownFormat(KnownFormat::Int64)) => {
                        Some(("uint64", u64::MAX as usize))
                    }
                    _ => None,
                };
                if let Some((format, maximum)) = full {
                    o.format = Some(SchemaFormat::Custom(format.into()));
                    o.maximum = Some(maximum.into());
                }
            }
            for p in o.properties.values_mut() {
                bound_unsigned(p, refs);
            }
            if let Some(AdditionalProperties::RefOr(a)) = o.additional_properties.as_deref_mut() {
                bound_unsigned(a, refs);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                bound_unsigned(items, refs);
            }
        }
        Schema::OneOf(c) => c.items.iter_mut().for_each(|s| bound_unsigned(s, refs)),
        Schema::AllOf(c) => c.items.iter_mut().for_each(|s| bound_unsigned(s, refs)),
        Schema::AnyOf(c) => c.items.iter_mut().for_each(|s| bound_unsigned(s, refs)),
        _ => {}
    }
}

/// What the API checks of a schema the domain defines: a customer's id is an id
/// (`command::check_customer_ids`).
fn constrain_domain_schemas(openapi: &mut utoipa::openapi::OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(customer))) = components.schemas.get_mut("CustomerRef") {
        if let Some(RefOr::T(Schema::Object(id))) = customer.properties.get_mut("customer_id") {
            id.pattern = path_id_pattern("customer_id").map(str::to_string);
        }
    }
}

/// [`bound_unsigned`] over everything a client sends: parameters, request bodies and the
/// components they use, transitively. Response-only schemas are left as they are.
fn bound_request_integers(openapi: &mut utoipa::openapi::OpenApi) {
    let mut refs = BTreeSet::new();
    for item in openapi.paths.paths.values_mut() {
        for op in [item.get.as_mut(), item.post.as_mut()]
            .into_iter()
            .flatten()
        {
            for p in op.parameters.iter_mut().flatten() {
                if let Some(s) = p.schema.as_mut() {
                    bound_unsigned(s, &mut refs);
                }
            }
            for c in op
                .request_body
                .iter_mut()
                .flat_map(|b| b.content.values_mut())
            {
                if let Some(s) = c.schema.as_mut() {
                    bound_unsigned(s, &mut refs);
                }
            }
        }
    }
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let mut done = BTreeSet::new();
    while let Some(name) = refs.pop_first() {
        if !done.insert(name.clone()) {
            continue;
        }
        if let Some(s) = components.schemas.get_mut(&name) {
            bound_unsigned(s, &mut refs);
        }
    }
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
            for op in [item.get.as_mut(), item.post.as_mut()]
                .into_iter()
                .flatten()
            {
                constrain_path_ids(op);
            }
            if let Some(op) = item.post.as_mut() {
                let params = op.parameters.get_or_insert_with(Vec::new);
                // The webhook endpoints change subscriptions, not the command log: they read none
                // of these headers.
                let command = !path.starts_with("/v1/webhooks");
                if command {
                    params.push(header("If-Match", "The stream version the command was decided against, e.g. \"3\". 412 if the stream has moved on."));
                }
                // A replay could not show an issued token again: `POST /v1/tokens` refuses the key.
                if command && path != "/v1/tokens" {
                    params.push(header("Idempotency-Key", "A retry with the same key and body returns the original response and appends nothing; another body answers 422."));
                }
                if command {
                    params.push(header(
                        "X-Correlation-Id",
                        "Recorded on every event the command appends; generated if absent.",
                    ));
                    params.push(header(
                        "X-Causation-Id",
                        "Recorded on every event the command appends.",
                    ));
                }
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
                    ("503", "The event log cannot take writes now: overload (service-unavailable), or the disk refused the write (storage-full, storage-failed); nothing was acknowledged: retry with the same Idempotency-Key after Retry-After"),
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
                let waits = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.name == "min_position");
                if waits {
                    add_problems(
                        op,
                        &[("409", "`min_position` is past the log's head (position-not-reached); `detail` names the head")],
                    );
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
        bound_request_integers(openapi);
        constrain_domain_schemas(openapi);
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
