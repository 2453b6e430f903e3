//! Route registration: one list, so the OpenAPI document and the router cannot disagree
//! (`openapi::ApiDoc` lists the same handlers; a test checks every documented path answers).

pub mod feed;
pub mod plans;
pub mod reads;
pub mod units;
pub mod webhooks;

use actix_web::web;

pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.service(units::open_return)
        .service(units::receive_by_post)
        .service(units::initiate_handover)
        .service(units::sign_handover)
        .service(units::cancel_handover)
        .service(units::register)
        .service(units::confirm_fault)
        .service(units::record_repair)
        .service(units::declare_unrepairable)
        .service(units::inspect)
        .service(units::place_for_return)
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
        .service(webhooks::subscribe)
        .service(webhooks::list)
        .service(webhooks::get_one)
        .service(webhooks::unsubscribe)
        .service(webhooks::dead_letters)
        .service(webhooks::redeliver)
        .service(reads::anchors)
        .service(reads::policy)
        .service(reads::problems);
}
