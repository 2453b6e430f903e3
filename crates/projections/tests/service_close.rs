//! Closing a service request stops no clock; a cancellation or an escalation stops the visit
//! clocks as cancelled with the reason, never met (issue #20, item 1).

use chrono::Duration;
use repairledger_domain::service::*;
use repairledger_domain::sla::{TimerRule, TimerState};
use repairledger_domain::unit::*;
use repairledger_domain::Role;

mod support;
use support::*;

const AS: (&str, Role) = ("wang.as", Role::AfterSales);
const GM: (&str, Role) = ("chen.gm", Role::GeneralManager);

/// A repair in warranty with an on-site solution: the arrival clock (24 h at 100 km) runs.
fn on_site_request() -> Log {
    let mut log = Log::new();
    log.add(
        "service-S",
        AS,
        t0(),
        ServiceEvent::ServiceRequestReceived {
            request_id: "S".into(),
            kind: RequestKind::Repair,
            category: ProductCategory::Own,
            customer: CustomerRef {
                customer_id: "C".into(),
                name: "Customer".into(),
            },
            serial: None,
            model: None,
            site: "plant".into(),
            distance_km: 100,
            description: "fault".into(),
            received_by: PersonRef {
                person_id: AS.0.into(),
                role: AS.1,
            },
            at: t0(),
        },
    )
    .add(
        "service-S",
        AS,
        t0(),
        ServiceEvent::RequestRelayed {
            to: PersonRef {
                person_id: AS.0.into(),
                role: AS.1,
            },
            at: t0(),
        },
    )
    .add(
        "service-S",
        AS,
        t0() + Duration::minutes(30),
        ServiceEvent::WarrantyDecided {
            in_warranty: true,
            misuse: false,
            chargeable: false,
            basis: "in warranty".into(),
            at: t0() + Duration::minutes(30),
        },
    )
    .add(
        "service-S",
        AS,
        t0() + Duration::hours(1),
        ServiceEvent::SolutionDetermined {
            solution: "visit".into(),
            on_site: true,
            by: AS.0.into(),
            at: t0() + Duration::hours(1),
        },
    );
    log
}

#[test]
fn a_close_in_the_log_stops_no_clock_so_an_unmade_visit_breaches_instead_of_being_met() {
    // An old log may hold a close the domain now refuses (before departure).
    let mut log = on_site_request();
    log.add(
        "service-S",
        AS,
        t0() + Duration::hours(2),
        ServiceEvent::ServiceRequestClosed {
            outcome: "closed".into(),
            at: t0() + Duration::hours(2),
        },
    );
    let t = &log.model.timers["S.on_site_arrival.1"];
    assert_eq!(t.stopped_at, None);
    assert_eq!(t.cancellation, None);
    assert_eq!(
        log.judge("S.on_site_arrival.1", t0() + Duration::hours(3)),
        TimerState::Running
    );
    assert_eq!(
        log.judge("S.on_site_arrival.1", t0() + Duration::hours(30)),
        TimerState::Breached
    );
}

#[test]
fn a_cancelled_request_shows_its_running_clocks_cancelled_with_the_reason_never_met() {
    let mut log = on_site_request();
    let at = t0() + Duration::hours(2);
    log.add(
        "service-S",
        GM,
        at,
        ServiceEvent::ServiceRequestCancelled {
            reason: "customer sold the machine".into(),
            requested_by: "Mr Liu by phone".into(),
            approved_by: GM.0.into(),
            at,
        },
    );
    let t = &log.model.timers["S.on_site_arrival.1"];
    assert_eq!(t.stopped_at, Some(at));
    let c = t.cancellation.as_ref().expect("cancelled");
    assert_eq!(
        (c.reason.as_str(), c.approved_by.as_str()),
        ("customer sold the machine", "chen.gm")
    );
    assert_eq!(
        log.judge("S.on_site_arrival.1", t0() + Duration::days(5)),
        TimerState::Cancelled
    );
    // The contact clock was still running too: cancelled as well.
    assert_eq!(
        log.judge("S.contact.1", t0() + Duration::days(5)),
        TimerState::Cancelled
    );
    // What the duty's own fact stopped before stays met.
    assert_eq!(
        log.judge("S.solution.1", t0() + Duration::days(5)),
        TimerState::Met
    );
    assert!(log.model.services["S"].cancelled.is_some());
    assert!(log.model.services["S"].state.closed);
}

#[test]
fn a_cancellation_after_the_deadline_leaves_the_breach() {
    let mut log = on_site_request();
    let at = t0() + Duration::hours(40);
    log.add(
        "service-S",
        GM,
        at,
        ServiceEvent::ServiceRequestCancelled {
            reason: "customer gave up waiting".into(),
            requested_by: "Mr Liu by phone".into(),
            approved_by: GM.0.into(),
            at,
        },
    );
    assert_eq!(
        log.judge("S.on_site_arrival.1", t0() + Duration::days(5)),
        TimerState::Breached
    );
}

#[test]
fn an_escalation_cancels_the_visit_clocks_and_starts_no_revisit() {
    let mut log = on_site_request();
    let at = t0() + Duration::hours(2);
    log.add(
        "service-S",
        AS,
        at,
        ServiceEvent::EscalatedToReturn {
            serial: "SN-1".into(),
            return_id: "R-1".into(),
            at,
        },
    );
    let t = &log.model.timers["S.on_site_arrival.1"];
    assert_eq!(
        t.cancellation.as_ref().map(|c| c.reason.as_str()),
        Some("escalated to return R-1 of unit SN-1")
    );
    assert_eq!(
        log.judge("S.on_site_arrival.1", t0() + Duration::days(5)),
        TimerState::Cancelled
    );
    // The contact clock is not a visit clock: it keeps running.
    assert!(log.model.timer_running("S", TimerRule::Contact));
    // Leaving unfinished after the escalation owes no revisit: the unit is in the factory.
    log.add(
        "service-S",
        ("zhou.ts", Role::TechnicalService),
        at + Duration::hours(1),
        ServiceEvent::LeftSite {
            finished: false,
            approved: true,
            reason: "unit goes back to the factory".into(),
            at: at + Duration::hours(1),
        },
    );
    assert!(!log.model.timer_running("S", TimerRule::OnSiteRevisit));
    assert!(!log.model.timers.contains_key("S.on_site_revisit.1"));
}
