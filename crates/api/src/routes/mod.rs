//! Route registration: one list, so the OpenAPI document and the router cannot disagree
//! (`openapi::ApiDoc` lists the same handlers; a test checks every documented path answers).

/// One POST endpoint per step of an aggregate: the handler reads the body and headers, builds the
/// domain command (`$cmd`, with the app state and optionally the path id at hand) and hands it to
/// the aggregate's runner (`$runner(state, meta, id, make)`), which loads, decides and appends.
macro_rules! command_step {
    ($runner:path, $param:literal, $param_doc:literal, $tag:literal,
     $(#[$doc:meta])* $name:ident, $route:literal, $body:ty, $op:literal, $ok:literal,
     |$state:ident, $b:ident $(, $rid:ident)?| $cmd:expr) => {
        $(#[$doc])*
        #[utoipa::path(
            post, path = concat!("/v1", $route), tag = $tag, operation_id = $op,
            request_body = $body,
            params(($param = String, Path, description = $param_doc)),
            responses((status = 200, description = $ok, body = CommandResponse))
        )]
        #[post($route)]
        pub async fn $name(
            req: HttpRequest,
            state: Data<AppState>,
            caller: Caller,
            id: Path<String>,
            body: $crate::json::Json<$body>,
        ) -> Result<HttpResponse, ApiError> {
            let $b = body.into_inner();
            let meta = Meta::new(&req, &state, &caller, $b.occurred_at, &$b)?;
            $(let $rid = id.to_string();)?
            #[allow(unused_variables)]
            $runner(&state, meta, &id, |$state| Ok($cmd)).await
        }
    };
}

pub mod access;
pub mod complaints;
pub mod feed;
pub mod plans;
pub mod quality;
pub mod reads;
pub mod service;
pub mod signatures;
pub mod sla;
pub mod units;
pub mod webhooks;

use actix_web::web;

pub fn register(cfg: &mut web::ServiceConfig) {
    // Registration order is match order: actix tries each resource's pattern (a regex) in turn,
    // which was a fifth of the CPU of a unit read when every command came first (measured,
    // docs/performance.md). Reads are most requests and the cheapest, so they go first; a
    // command pays the ~40 extra checks beside its durable append. The route test in
    // tests/operations.rs checks that every documented path still finds its own handler.
    cfg.service(service::list)
        .service(service::get_one)
        .service(sla::timers)
        .service(sla::breaches)
        .service(sla::list_penalties)
        .service(sla::tallies)
        .service(sla::get_one)
        .service(complaints::list)
        .service(complaints::get_one)
        .service(complaints::recalls)
        .service(quality::list)
        .service(quality::get_one)
        .service(quality::archive)
        .service(quality::qc_monthly)
        .service(quality::unit_file)
        .service(reads::me)
        .service(reads::people)
        .service(reads::list_units)
        .service(reads::unit_events)
        .service(reads::get_unit)
        .service(reads::open_returns)
        .service(reads::zones)
        .service(reads::zone_ledger)
        .service(reads::plans)
        .service(reads::plan)
        .service(reads::order)
        .service(feed::live)
        .service(feed::list_events)
        .service(feed::stream_events)
        .service(feed::export_log)
        .service(reads::verify)
        .service(webhooks::list)
        .service(webhooks::get_one)
        .service(webhooks::dead_letters)
        .service(reads::anchors)
        .service(reads::policy)
        .service(reads::problems)
        .service(access::list)
        .service(access::erasures)
        .service(signatures::get_one)
        .service(units::open_return)
        .service(units::receive_by_post)
        .service(units::initiate_handover)
        .service(units::sign_handover)
        .service(units::cancel_handover)
        .service(units::register)
        .service(units::confirm_fault)
        .service(units::record_repair)
        .service(units::declare_unrepairable)
        .service(units::inspect)
        .service(units::archive_form)
        .service(units::place_for_return)
        .service(units::record_customer_declined_return)
        .service(units::register_as_spare)
        .service(units::deliver)
        .service(units::decide_disposition)
        .service(units::customer_insists)
        .service(units::confirm_no_fault)
        .service(units::scrap)
        .service(units::return_to_stock)
        .service(units::exchange)
        .service(units::emergency_use)
        .service(plans::compile)
        .service(plans::request_amendment)
        .service(plans::revise)
        .service(plans::co_sign)
        .service(plans::issue)
        .service(plans::order_production)
        .service(plans::complete_production)
        .service(service::receive)
        .service(service::relay)
        .service(service::contact)
        .service(service::approve_competitor_work)
        .service(service::decide_warranty)
        .service(service::answer_consultation)
        .service(service::determine_solution)
        .service(service::issue_quote)
        .service(service::confirm_quote)
        .service(service::refuse_fee)
        .service(service::approve_free_service)
        .service(service::depart)
        .service(service::arrive)
        .service(service::log_work)
        .service(service::record_chase)
        .service(service::sign_feedback)
        .service(service::approve_site_departure)
        .service(service::leave_site)
        .service(service::return_to_factory)
        .service(service::file_trip_report)
        .service(service::return_parts)
        .service(service::reinspect_parts)
        .service(service::confirm_satisfaction)
        .service(service::pause_clock)
        .service(service::resume_clock)
        .service(service::escalate)
        .service(service::close)
        .service(service::cancel)
        .service(sla::assess_breach)
        .service(sla::assess_unclear_record)
        .service(sla::waive)
        .service(units::record_shipment)
        .service(units::record_follow_up)
        .service(complaints::register)
        .service(complaints::inspect_sample)
        .service(complaints::record_nonconforming_control)
        .service(complaints::record_trace_link)
        .service(complaints::record_trace_broken)
        .service(complaints::approve_return)
        .service(complaints::resolve)
        .service(complaints::receive_goods)
        .service(complaints::inspect_goods)
        .service(complaints::restock)
        .service(complaints::close)
        .service(quality::raise)
        .service(quality::investigate)
        .service(quality::escalate)
        .service(quality::instruct)
        .service(quality::analyse)
        .service(quality::close)
        .service(webhooks::subscribe)
        .service(webhooks::unsubscribe)
        .service(webhooks::redeliver)
        .service(access::issue)
        .service(access::revoke)
        .service(access::erase)
        .service(signatures::upload);
}
