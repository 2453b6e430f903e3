//! Every deadline rule, met and breached: the events that start and stop each timer are folded
//! into the read model, and the timer is judged under the default policy.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use repairledger_domain::service::*;
use repairledger_domain::sla::{TimerRule, TimerState};
use repairledger_domain::unit::*;
use repairledger_domain::Role;

mod support;
use support::*;

const AS: (&str, Role) = ("wang.as", Role::AfterSales);
const FR: (&str, Role) = ("li.fr", Role::FieldReceiver);
const TS: (&str, Role) = ("zhou.ts", Role::TechnicalService);

fn received(log: &mut Log, kind: RequestKind, by: (&str, Role), at: DateTime<Utc>) {
    log.add(
        "service-S",
        by,
        at,
        ServiceEvent::ServiceRequestReceived {
            request_id: "S".into(),
            kind,
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
                person_id: by.0.into(),
                role: by.1,
            },
            at,
        },
    );
}

fn relayed(log: &mut Log, at: DateTime<Utc>) {
    log.add(
        "service-S",
        FR,
        at,
        ServiceEvent::RequestRelayed {
            to: PersonRef {
                person_id: "wang.as".into(),
                role: Role::AfterSales,
            },
            at,
        },
    );
}

fn departed(log: &mut Log, at: DateTime<Utc>, parts: u32) {
    let borrowed_parts = (0..parts)
        .map(|_| BorrowedPart {
            part_no: "P-1".into(),
            quantity: 1,
        })
        .collect();
    log.add(
        "service-S",
        TS,
        at,
        ServiceEvent::EngineersDeparted {
            lead: "zhou.ts".into(),
            team: vec!["zhou.ts".into()],
            borrowed_parts,
            at,
        },
    );
}

/// Builds the log for one rule: `start` events at t0, the stopping event at `t0 + after`.
fn scenario(rule: TimerRule, after: Duration) -> (Log, String) {
    let mut log = Log::new();
    let t = t0();
    let stop = t + after;
    let s = "service-S";
    let id = |subject: &str| format!("{subject}.{}.1", rule.as_str());
    match rule {
        TimerRule::Relay => {
            received(&mut log, RequestKind::Repair, FR, t);
            relayed(&mut log, stop);
        }
        TimerRule::Contact | TimerRule::Solution | TimerRule::ConsultationAnswer => {
            let kind = if rule == TimerRule::ConsultationAnswer {
                RequestKind::Consultation
            } else {
                RequestKind::Repair
            };
            received(&mut log, kind, FR, t);
            relayed(&mut log, t);
            let e = match rule {
                TimerRule::Contact => ServiceEvent::CustomerContacted {
                    by: "wang.as".into(),
                    note: "called".into(),
                    at: stop,
                },
                TimerRule::Solution => ServiceEvent::SolutionDetermined {
                    solution: "by phone".into(),
                    on_site: false,
                    by: "wang.as".into(),
                    at: stop,
                },
                _ => ServiceEvent::ConsultationAnswered {
                    answer: "see manual".into(),
                    by: "wang.as".into(),
                    at: stop,
                },
            };
            log.add(s, AS, stop, e);
        }
        TimerRule::EngineeringReply => {
            received(&mut log, RequestKind::EngineeringProject, AS, t);
            log.add(
                s,
                AS,
                stop,
                ServiceEvent::CustomerContacted {
                    by: "wang.as".into(),
                    note: "replied".into(),
                    at: stop,
                },
            );
        }
        TimerRule::OnSiteArrival => {
            received(&mut log, RequestKind::Repair, AS, t);
            log.add(
                s,
                AS,
                t,
                ServiceEvent::WarrantyDecided {
                    in_warranty: true,
                    misuse: false,
                    chargeable: false,
                    basis: "in".into(),
                    at: t,
                },
            );
            log.add(
                s,
                AS,
                t,
                ServiceEvent::SolutionDetermined {
                    solution: "visit".into(),
                    on_site: true,
                    by: "wang.as".into(),
                    at: t,
                },
            );
            departed(&mut log, t, 0);
            log.add(
                s,
                TS,
                stop,
                ServiceEvent::ArrivedOnSite {
                    by: "zhou.ts".into(),
                    at: stop,
                },
            );
        }
        TimerRule::Departure => {
            received(&mut log, RequestKind::Repair, AS, t);
            log.add(
                s,
                AS,
                t,
                ServiceEvent::QuoteConfirmed {
                    confirmed_by: "customer".into(),
                    channel: "fax".into(),
                    at: t,
                },
            );
            departed(&mut log, stop, 0);
        }
        TimerRule::OnSiteRevisit => {
            received(&mut log, RequestKind::Repair, AS, t);
            departed(&mut log, t, 0);
            log.add(
                s,
                TS,
                t,
                ServiceEvent::ArrivedOnSite {
                    by: "zhou.ts".into(),
                    at: t,
                },
            );
            log.add(
                s,
                TS,
                t,
                ServiceEvent::LeftSite {
                    finished: false,
                    approved: true,
                    reason: "part".into(),
                    at: t,
                },
            );
            log.add(
                s,
                TS,
                stop,
                ServiceEvent::ArrivedOnSite {
                    by: "zhou.ts".into(),
                    at: stop,
                },
            );
        }
        TimerRule::TripReport | TimerRule::PartsReturn | TimerRule::SatisfactionCheck => {
            received(&mut log, RequestKind::Repair, AS, t);
            departed(&mut log, t - Duration::days(2), 1);
            log.add(s, TS, t, ServiceEvent::BackAtFactory { at: t });
            let e = match rule {
                TimerRule::TripReport => ServiceEvent::TripReportFiled {
                    report: "r".into(),
                    expenses_minor: 0,
                    at: stop,
                },
                TimerRule::PartsReturn => ServiceEvent::PartsReturned {
                    parts: vec![ReturnedPart {
                        part_no: "P-1".into(),
                        used: 1,
                        unused: 0,
                        damaged: 0,
                    }],
                    at: stop,
                },
                _ => {
                    log.add(
                        s,
                        TS,
                        t,
                        ServiceEvent::TripReportFiled {
                            report: "r".into(),
                            expenses_minor: 0,
                            at: t,
                        },
                    );
                    ServiceEvent::SatisfactionConfirmed {
                        satisfaction: Satisfaction::Satisfied,
                        note: "ok".into(),
                        cost_audit: CostAudit {
                            claimed_minor: 0,
                            approved_minor: 0,
                            notes: "ok".into(),
                        },
                        by: "wang.as".into(),
                        at: stop,
                    }
                }
            };
            log.add(s, AS, stop, e);
        }
        TimerRule::ComplaintResolution => {
            use repairledger_domain::complaint::*;
            let c = "complaint-K";
            log.add(
                c,
                AS,
                t,
                ComplaintEvent::ComplaintRegistered {
                    complaint_id: "K".into(),
                    customer: CustomerRef {
                        customer_id: "C".into(),
                        name: "Customer".into(),
                    },
                    market: Market::Domestic,
                    model: "RD-40".into(),
                    batch: None,
                    print_code: None,
                    serials: vec![],
                    quantity: 1,
                    weight_kg: 1,
                    description: "cracked".into(),
                    registered_by: "wang.as".into(),
                    at: t,
                },
            );
            log.add(
                c,
                AS,
                stop,
                ComplaintEvent::ComplaintResolved {
                    outcome: Outcome::Exchange,
                    detail: "new one".into(),
                    at: stop,
                },
            );
            return (log, id("K"));
        }
        TimerRule::CarryBack
        | TimerRule::RepairCycle
        | TimerRule::Registration
        | TimerRule::SpareRetrieval => {
            let u = "unit-U";
            let opened = |at: DateTime<Utc>, returned: Option<DateTime<Utc>>, emergency: bool| {
                UnitEvent::ReturnOpened {
                    return_id: "R".into(),
                    mode: ReturnMode::Carried,
                    customer: CustomerRef {
                        customer_id: "C".into(),
                        name: "Customer".into(),
                    },
                    form: OffSiteInfo {
                        fault_symptoms: "dead".into(),
                        site: "plant".into(),
                        circumstances: "night shift".into(),
                        filled_by: "li.fr".into(),
                        unverifiable_reason: None,
                    },
                    opened_by: PersonRef {
                        person_id: "li.fr".into(),
                        role: Role::FieldReceiver,
                    },
                    custody: Custody::Person {
                        person_id: "li.fr".into(),
                        role: Role::FieldReceiver,
                    },
                    customer_signature: None,
                    receiver_returned_at: returned,
                    customer_due_date: None,
                    emergency_retrieval: emergency,
                    at,
                }
            };
            let registered = |at: DateTime<Utc>| UnitEvent::UnitRegistered {
                return_id: "R".into(),
                arrived_on: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
                warranty: WarrantyDecision {
                    end: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
                    judged_on: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
                    in_warranty: true,
                },
                at,
            };
            match rule {
                TimerRule::CarryBack => {
                    log.add(u, FR, t, opened(t, Some(t), false));
                    log.add(u, AS, stop, registered(stop));
                }
                TimerRule::RepairCycle => {
                    // The cycle runs from after-sales' receipt, registered or not.
                    log.add(u, FR, t, opened(t, Some(t), false));
                    log.add(u, AS, t, handed_to_after_sales(t));
                    log.add(
                        u,
                        AS,
                        stop,
                        UnitEvent::ReturnClosed {
                            return_id: "R".into(),
                            outcome: ReturnOutcome::ReturnedRepaired,
                            at: stop,
                        },
                    );
                }
                TimerRule::Registration => {
                    log.add(u, FR, t, opened(t, Some(t), false));
                    log.add(u, AS, t, handed_to_after_sales(t));
                    log.add(u, AS, stop, registered(stop));
                }
                _ => {
                    log.add(
                        u,
                        TS,
                        t,
                        UnitEvent::ReplacedBySpareOnSite {
                            spare_serial: "SP".into(),
                            customer: CustomerRef {
                                customer_id: "C".into(),
                                name: "Customer".into(),
                            },
                            retrieval_due: t + Duration::days(7),
                            at: t,
                        },
                    );
                    log.add(u, FR, stop, opened(stop, None, true));
                }
            }
            return (log, id("U"));
        }
    }
    (log, id("S"))
}

/// The field receiver's signed handover of unit U to after-sales.
fn handed_to_after_sales(at: DateTime<Utc>) -> UnitEvent {
    UnitEvent::HandoverSigned {
        handover_id: "H".into(),
        from: PersonRef {
            person_id: "li.fr".into(),
            role: Role::FieldReceiver,
        },
        to: PersonRef {
            person_id: "wang.as".into(),
            role: Role::AfterSales,
        },
        at,
    }
}

/// (rule, a stop in time, a stop too late). Working-hour budgets of 4 and 8 from Tuesday 09:00
/// end on Tuesday 14:30 and Wednesday 09:30; working days end at a close of business.
const CASES: &[(TimerRule, i64, i64)] = &[
    (TimerRule::Relay, 4, 6),
    (TimerRule::Contact, 4, 6),
    (TimerRule::ConsultationAnswer, 20, 26),
    (TimerRule::Solution, 20, 26),
    (TimerRule::EngineeringReply, 23, 25),
    (TimerRule::OnSiteArrival, 23, 25),
    (TimerRule::Departure, 23, 25),
    (TimerRule::OnSiteRevisit, 23, 25),
    (TimerRule::TripReport, 3 * 24, 4 * 24),
    (TimerRule::PartsReturn, 71, 73),
    (TimerRule::SatisfactionCheck, 7 * 24, 8 * 24),
    (TimerRule::CarryBack, 2 * 24, 3 * 24),
    (TimerRule::RepairCycle, 13 * 24, 15 * 24),
    // One working day from Tuesday 09:00: Wednesday's close of business (17:30).
    (TimerRule::Registration, 32, 34),
    (TimerRule::SpareRetrieval, 6 * 24, 8 * 24),
    (TimerRule::ComplaintResolution, 9 * 24, 11 * 24),
];

#[test]
fn every_rule_is_met_in_time_and_breached_when_late() {
    let judged_at = t0() + Duration::days(30);
    for &(rule, ok_hours, late_hours) in CASES {
        let (log, id) = scenario(rule, Duration::hours(ok_hours));
        assert_eq!(
            log.judge(&id, judged_at),
            TimerState::Met,
            "{rule:?} stopped after {ok_hours} h"
        );
        let (log, id) = scenario(rule, Duration::hours(late_hours));
        assert_eq!(
            log.judge(&id, judged_at),
            TimerState::Breached,
            "{rule:?} stopped after {late_hours} h"
        );
    }
    let covered: std::collections::BTreeSet<_> = CASES.iter().map(|c| c.0).collect();
    assert_eq!(covered.len(), 16, "every timer rule has a case");
}

#[test]
fn a_timer_still_running_past_its_deadline_is_breached_and_before_it_running() {
    let (log, id) = scenario(TimerRule::Relay, Duration::hours(100));
    assert_eq!(
        log.judge(&id, t0() + Duration::hours(1)),
        TimerState::Running
    );
    assert_eq!(
        log.judge(&id, t0() + Duration::hours(5) + Duration::minutes(20)),
        TimerState::AtRisk
    );
    assert_eq!(
        log.judge(&id, t0() + Duration::hours(6)),
        TimerState::Breached
    );
}

#[test]
fn after_sales_receiving_a_request_has_no_relay_to_breach() {
    let mut log = Log::new();
    received(&mut log, RequestKind::Repair, AS, t0());
    // The API appends the relay with the receipt; here the receipt alone starts the clock.
    assert!(log.model.timer_running("S", TimerRule::Relay));
    relayed(&mut log, t0());
    assert_eq!(
        log.judge("S.relay.1", t0() + Duration::days(9)),
        TimerState::Met
    );
}

/// A return of unit U opened by `by`, in `mode`, held as `custody`.
fn opened_as(mode: ReturnMode, by: (&str, Role), custody: Custody, at: DateTime<Utc>) -> UnitEvent {
    UnitEvent::ReturnOpened {
        return_id: "R".into(),
        mode,
        customer: CustomerRef {
            customer_id: "C".into(),
            name: "Customer".into(),
        },
        form: OffSiteInfo {
            fault_symptoms: "dead".into(),
            site: "plant".into(),
            circumstances: "night shift".into(),
            filled_by: by.0.into(),
            unverifiable_reason: None,
        },
        opened_by: PersonRef {
            person_id: by.0.into(),
            role: by.1,
        },
        custody,
        customer_signature: None,
        receiver_returned_at: None,
        customer_due_date: None,
        emergency_retrieval: false,
        at,
    }
}

#[test]
fn a_mailed_unit_received_but_never_registered_has_its_clocks_running_from_receipt() {
    let mut log = Log::new();
    let t = t0();
    log.add(
        "unit-U",
        TS,
        t,
        opened_as(ReturnMode::Mailed, TS, Custody::InPost, t),
    );
    assert!(!log.model.timer_running("U", TimerRule::RepairCycle));
    let received_at = t + Duration::days(2);
    log.add(
        "unit-U",
        AS,
        received_at,
        UnitEvent::ReceivedByPost {
            return_id: "R".into(),
            received_by: PersonRef {
                person_id: "wang.as".into(),
                role: Role::AfterSales,
            },
            waybill: "SF1".into(),
            at: received_at,
        },
    );
    let registration = &log.model.timers["U.registration.1"];
    assert_eq!(registration.started_at, received_at);
    assert_eq!(registration.responsible.person_id, "wang.as");
    assert_eq!(log.model.timers["U.repair_cycle.1"].started_at, received_at);
    // Thursday 09:00 + 1 working day: Friday's close of business, then breached.
    assert_eq!(
        log.judge("U.registration.1", received_at + Duration::hours(8)),
        TimerState::Running
    );
    assert_eq!(
        log.judge("U.registration.1", received_at + Duration::days(3)),
        TimerState::Breached
    );
    assert_eq!(
        log.judge("U.repair_cycle.1", received_at + Duration::days(15)),
        TimerState::Breached
    );
}

#[test]
fn a_customer_direct_unit_is_timed_from_after_sales_taking_it_in() {
    let mut log = Log::new();
    let t = t0();
    log.add(
        "unit-U",
        AS,
        t,
        opened_as(
            ReturnMode::CustomerDirect,
            AS,
            Custody::Person {
                person_id: "wang.as".into(),
                role: Role::AfterSales,
            },
            t,
        ),
    );
    assert!(log.model.timer_running("U", TimerRule::Registration));
    assert!(log.model.timer_running("U", TimerRule::RepairCycle));
    assert_eq!(log.model.timers["U.repair_cycle.1"].started_at, t);
}

#[test]
fn an_old_carried_return_without_the_receivers_date_still_replays_with_a_repair_cycle() {
    let mut log = Log::new();
    let t = t0();
    let fr = Custody::Person {
        person_id: "li.fr".into(),
        role: Role::FieldReceiver,
    };
    log.add("unit-U", FR, t, opened_as(ReturnMode::Carried, FR, fr, t));
    assert!(!log.model.timer_running("U", TimerRule::CarryBack));
    let signed = t + Duration::hours(3);
    log.add("unit-U", AS, signed, handed_to_after_sales(signed));
    assert_eq!(log.model.timers["U.repair_cycle.1"].started_at, signed);
    assert!(log.model.timer_running("U", TimerRule::Registration));
}
