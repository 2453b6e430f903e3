//! Given/when/then for §2: each step, and each step refused.

use super::*;
use crate::fees::QuotePart;
use crate::unit::SignatureEvidence;
use crate::{Actor, Policy};
use chrono::TimeZone;

struct Given {
    policy: Policy,
    state: ServiceState,
    at: DateTime<Utc>,
}

fn p(id: &str, role: Role) -> Actor {
    Actor::new(id, role)
}

fn receptionist() -> Actor {
    p("li.fr", Role::FieldReceiver)
}
fn service() -> Actor {
    p("wang.as", Role::AfterSales)
}
fn lead() -> Actor {
    p("zhao.ts", Role::TechnicalService)
}
fn gm() -> Actor {
    p("chen.gm", Role::GeneralManager)
}

impl Given {
    fn new() -> Given {
        Given {
            policy: Policy::default_policy(),
            state: ServiceState::new("SR-1"),
            at: Utc.with_ymd_and_hms(2026, 3, 3, 1, 0, 0).unwrap(),
        }
    }

    fn try_do(&self, who: &Actor, c: ServiceCommand) -> Result<Vec<ServiceEvent>, DomainError> {
        decide(&self.state, &c, &Ctx::new(who, self.at, &self.policy))
    }

    /// Decides and folds; panics on a refusal (the setup must be valid).
    fn did(mut self, who: &Actor, c: ServiceCommand) -> Given {
        let events = self
            .try_do(who, c.clone())
            .unwrap_or_else(|e| panic!("{c:?} was refused: {e}"));
        self.state = events.iter().fold(self.state, |s, e| s.evolve(e));
        self.at += chrono::Duration::hours(1);
        self
    }

    fn refused(&self, who: &Actor, c: ServiceCommand) -> &'static str {
        self.try_do(who, c).expect_err("should be refused").code()
    }

    /// The exact refusal.
    fn refusal(&self, who: &Actor, c: ServiceCommand) -> DomainError {
        self.try_do(who, c).expect_err("should be refused")
    }

    fn received(category: ProductCategory, kind: RequestKind) -> Given {
        Given::new().did(
            &receptionist(),
            ServiceCommand::Receive {
                kind,
                category,
                customer: CustomerRef {
                    customer_id: "C-9".into(),
                    name: "Jinan Machinery".into(),
                },
                serial: Some("ZT1100068".into()),
                model: Some("Z30100x31".into()),
                site: "Jinan plant 2".into(),
                distance_km: 280,
                description: "column clamping cylinder shaft broke during installation".into(),
            },
        )
    }

    fn relayed(category: ProductCategory, kind: RequestKind) -> Given {
        Given::received(category, kind).did(
            &receptionist(),
            ServiceCommand::Relay {
                to: PersonRef {
                    person_id: "wang.as".into(),
                    role: Role::AfterSales,
                },
            },
        )
    }

    fn warranty(self, in_warranty: bool) -> Given {
        self.did(
            &service(),
            ServiceCommand::DecideWarranty {
                in_warranty,
                misuse: false,
                basis: "delivered 2026-08-21, 12 months".into(),
            },
        )
    }

    fn on_site(self) -> Given {
        self.did(
            &service(),
            ServiceCommand::DetermineSolution {
                solution: "replace the cylinder on site".into(),
                on_site: true,
            },
        )
    }

    fn departed(self, parts: Vec<BorrowedPart>) -> Given {
        self.did(
            &lead(),
            ServiceCommand::Depart {
                team: vec!["sun.ts".into()],
                borrowed_parts: parts,
            },
        )
    }

    fn arrived(self) -> Given {
        self.did(&lead(), ServiceCommand::Arrive)
    }

    fn feedback(self) -> Given {
        self.did(
            &lead(),
            ServiceCommand::SignFeedback {
                satisfaction: Satisfaction::Satisfied,
                opinion: "works; took too long".into(),
                signature: Signature {
                    name: "Mr Liu".into(),
                    signed_at: Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap(),
                    evidence: SignatureEvidence::Typed {
                        reason: "no device on site; paper feedback form No. 17".into(),
                    },
                },
            },
        )
    }
}

/// Closing duties, one step each (§2, seed 000 part 3 art. 7.2).
impl Given {
    fn contacted(self) -> Given {
        self.did(
            &service(),
            ServiceCommand::Contact {
                note: "called the customer: engineers are planned".into(),
            },
        )
    }

    fn left(self, finished: bool) -> Given {
        let g = if finished {
            self.feedback().did(
                &service(),
                ServiceCommand::ApproveSiteDeparture { finished: true },
            )
        } else {
            self
        };
        g.did(
            &lead(),
            ServiceCommand::LeaveSite {
                finished,
                reason: if finished {
                    "fitted and tested".into()
                } else {
                    "dispute over the groove".into()
                },
            },
        )
    }

    fn back(self) -> Given {
        self.did(&lead(), ServiceCommand::ReturnToFactory)
    }

    fn parts_back(self, n: u32) -> Given {
        self.did(
            &lead(),
            ServiceCommand::ReturnParts {
                parts: vec![ReturnedPart {
                    part_no: "CYL-100".into(),
                    used: 1,
                    unused: n - 1,
                    damaged: 0,
                }],
            },
        )
    }

    fn reinspected(self) -> Given {
        self.did(
            &p("qian.qc", Role::Qc),
            ServiceCommand::ReinspectParts {
                findings: "unused cylinder sealed, fit for stock".into(),
            },
        )
    }

    fn reported(self) -> Given {
        self.did(
            &lead(),
            ServiceCommand::FileTripReport {
                report: "replaced cylinder, 1 day on site".into(),
                expenses_minor: 90_000,
            },
        )
    }

    fn checked(self) -> Given {
        self.did(&service(), check())
    }
}

fn check() -> ServiceCommand {
    ServiceCommand::ConfirmSatisfaction {
        satisfaction: Satisfaction::Satisfied,
        note: "called Mr Liu, running fine".into(),
        cost_audit: CostAudit {
            claimed_minor: 90_000,
            approved_minor: 85_000,
            notes: "one taxi without receipt".into(),
        },
    }
}

fn close() -> ServiceCommand {
    ServiceCommand::Close {
        outcome: "fixed on site".into(),
    }
}

fn cancel() -> ServiceCommand {
    ServiceCommand::Cancel {
        reason: "the customer replaced the machine and no longer wants the visit".into(),
        requested_by: "Mr Liu, equipment manager, by phone".into(),
    }
}

fn cylinder(n: u32) -> Vec<BorrowedPart> {
    vec![BorrowedPart {
        part_no: "CYL-100".into(),
        quantity: n,
    }]
}

fn quote_input() -> QuoteInput {
    QuoteInput {
        travel_cost_minor: 50_000,
        engineers: 2,
        days: 2,
        parts: vec![QuotePart {
            part_no: "CYL-100".into(),
            quantity: 1,
            unit_price_minor: 120_000,
        }],
        work_cost_minor: 0,
        margin_bp: None,
    }
}

#[test]
fn a_request_received_by_after_sales_is_relayed_at_once() {
    let g = Given::new().did(
        &service(),
        ServiceCommand::Receive {
            kind: RequestKind::Consultation,
            category: ProductCategory::Own,
            customer: CustomerRef {
                customer_id: "C-1".into(),
                name: "Plant".into(),
            },
            serial: None,
            model: None,
            site: "phone".into(),
            distance_km: 0,
            description: "how to reset the spindle alarm".into(),
        },
    );
    assert_eq!(g.state.relayed_to.as_ref().unwrap().person_id, "wang.as");
}

#[test]
fn only_the_receiver_relays_and_only_to_the_service_dept() {
    let g = Given::received(ProductCategory::Own, RequestKind::Repair);
    let to_qc = ServiceCommand::Relay {
        to: PersonRef {
            person_id: "qian.qc".into(),
            role: Role::Qc,
        },
    };
    assert_eq!(g.refused(&receptionist(), to_qc), "not-service-dept");
    let to_as = ServiceCommand::Relay {
        to: PersonRef {
            person_id: "wang.as".into(),
            role: Role::AfterSales,
        },
    };
    assert_eq!(
        g.refused(&p("other.fr", Role::FieldReceiver), to_as.clone()),
        "role-not-permitted"
    );
    let g = g.did(&receptionist(), to_as.clone());
    assert_eq!(g.refused(&receptionist(), to_as), "step-out-of-order");
}

#[test]
fn placeholders_are_refused_in_a_request() {
    let g = Given::new();
    let c = ServiceCommand::Receive {
        kind: RequestKind::Repair,
        category: ProductCategory::Own,
        customer: CustomerRef {
            customer_id: "C".into(),
            name: "C".into(),
        },
        serial: None,
        model: None,
        site: "Jinan".into(),
        distance_km: 10,
        description: "不详".into(),
    };
    assert_eq!(g.refused(&receptionist(), c), "placeholder-description");
}

#[test]
fn warranty_is_decided_before_a_solution_or_a_quote() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair);
    let solution = ServiceCommand::DetermineSolution {
        solution: "replace the cylinder".into(),
        on_site: true,
    };
    assert_eq!(
        g.refused(&service(), solution.clone()),
        "warranty-not-decided"
    );
    assert_eq!(
        g.refused(
            &service(),
            ServiceCommand::IssueQuote {
                input: quote_input()
            }
        ),
        "warranty-not-decided"
    );
    let g = g.warranty(true);
    assert!(g.try_do(&service(), solution).is_ok());
    assert_eq!(
        g.refused(
            &service(),
            ServiceCommand::IssueQuote {
                input: quote_input()
            }
        ),
        "quote-not-needed"
    );
}

#[test]
fn competitors_products_need_the_general_managers_approval() {
    let g = Given::relayed(ProductCategory::Competitor, RequestKind::Repair);
    let decide = ServiceCommand::DecideWarranty {
        in_warranty: true,
        misuse: false,
        basis: "customer says under warranty".into(),
    };
    assert_eq!(
        g.refused(&service(), decide.clone()),
        "competitor-work-not-approved"
    );
    let approve = ServiceCommand::ApproveCompetitorWork {
        scope: "replace hydraulic seals only".into(),
    };
    assert_eq!(g.refused(&service(), approve.clone()), "role-not-permitted");
    let g = g.did(&gm(), approve).did(&service(), decide);
    // Never under our warranty: always chargeable.
    assert_eq!(g.state.chargeable, Some(true));
}

#[test]
fn out_of_warranty_the_customer_confirms_the_quote_before_departure() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(false)
        .on_site();
    assert_eq!(
        g.refused(
            &lead(),
            ServiceCommand::Depart {
                team: vec![],
                borrowed_parts: vec![]
            }
        ),
        "fee-not-settled"
    );
    let confirm = ServiceCommand::ConfirmQuote {
        confirmed_by: "Mr Liu".into(),
        channel: "fax".into(),
    };
    assert_eq!(g.refused(&service(), confirm.clone()), "no-quote");
    let g = g
        .did(
            &service(),
            ServiceCommand::IssueQuote {
                input: quote_input(),
            },
        )
        .did(&service(), confirm);
    let quote = g.state.quote.clone().unwrap();
    assert_eq!(quote.total_minor, 50_000 + 4 * 40_000 + 120_000);
    assert!(g
        .try_do(
            &lead(),
            ServiceCommand::Depart {
                team: vec![],
                borrowed_parts: vec![]
            }
        )
        .is_ok());
}

#[test]
fn a_refused_fee_means_service_only_with_the_general_managers_approval() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(false)
        .on_site()
        .did(
            &service(),
            ServiceCommand::IssueQuote {
                input: quote_input(),
            },
        );
    let approve = ServiceCommand::ApproveFreeService {
        reason: "key account, line down".into(),
    };
    assert_eq!(g.refused(&gm(), approve.clone()), "step-out-of-order");
    let g = g.did(
        &service(),
        ServiceCommand::RefuseFee {
            note: "will not pay travel".into(),
        },
    );
    assert_eq!(
        g.refused(
            &lead(),
            ServiceCommand::Depart {
                team: vec![],
                borrowed_parts: vec![]
            }
        ),
        "fee-not-settled"
    );
    assert_eq!(g.refused(&service(), approve.clone()), "role-not-permitted");
    let g = g.did(&gm(), approve);
    assert!(g
        .try_do(
            &lead(),
            ServiceCommand::Depart {
                team: vec![],
                borrowed_parts: vec![]
            }
        )
        .is_ok());
}

#[test]
fn engineers_depart_only_when_the_solution_needs_a_visit() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(true)
        .did(
            &service(),
            ServiceCommand::DetermineSolution {
                solution: "guide the customer by phone".into(),
                on_site: false,
            },
        );
    assert_eq!(
        g.refused(
            &lead(),
            ServiceCommand::Depart {
                team: vec![],
                borrowed_parts: vec![]
            }
        ),
        "on-site-not-planned"
    );
}

#[test]
fn finished_work_is_signed_by_the_customer_before_the_service_dept_lets_engineers_leave() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(true)
        .on_site()
        .departed(vec![])
        .arrived();
    assert_eq!(
        g.refused(
            &service(),
            ServiceCommand::ApproveSiteDeparture { finished: true }
        ),
        "customer-feedback-missing"
    );
    let g = g
        .feedback()
        .did(
            &service(),
            ServiceCommand::ApproveSiteDeparture { finished: true },
        )
        .did(
            &lead(),
            ServiceCommand::LeaveSite {
                finished: true,
                reason: "cylinder fitted, test run passed".into(),
            },
        );
    assert_eq!(g.state.trip, Trip::LeftFinished);
}

#[test]
fn leaving_without_approval_is_recorded_as_unapproved() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(true)
        .on_site()
        .departed(vec![])
        .arrived();
    let events = g
        .try_do(
            &lead(),
            ServiceCommand::LeaveSite {
                finished: false,
                reason: "dispute over the dust ring groove".into(),
            },
        )
        .unwrap();
    assert!(matches!(
        events[0],
        ServiceEvent::LeftSite {
            approved: false,
            finished: false,
            ..
        }
    ));
    // Someone else on the team may not record the lead's departure.
    assert_eq!(
        g.refused(
            &p("sun.ts", Role::TechnicalService),
            ServiceCommand::LeaveSite {
                finished: false,
                reason: "x y".into()
            }
        ),
        "not-on-team"
    );
    // An approval to leave unfinished does not cover leaving "finished" without feedback.
    let g = g.did(
        &service(),
        ServiceCommand::ApproveSiteDeparture { finished: false },
    );
    let events = g
        .try_do(
            &lead(),
            ServiceCommand::LeaveSite {
                finished: true,
                reason: "done".into(),
            },
        )
        .unwrap();
    assert!(matches!(
        events[0],
        ServiceEvent::LeftSite {
            approved: false,
            ..
        }
    ));
}

#[test]
fn borrowed_parts_come_back_accounted_for_and_qc_reinspects_them() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(true)
        .on_site()
        .departed(cylinder(2))
        .arrived()
        .feedback()
        .did(
            &service(),
            ServiceCommand::ApproveSiteDeparture { finished: true },
        )
        .did(
            &lead(),
            ServiceCommand::LeaveSite {
                finished: true,
                reason: "fitted and tested".into(),
            },
        );
    let g = g.did(&lead(), ServiceCommand::ReturnToFactory);
    let short = vec![ReturnedPart {
        part_no: "CYL-100".into(),
        used: 1,
        unused: 0,
        damaged: 0,
    }];
    assert_eq!(
        g.refused(&lead(), ServiceCommand::ReturnParts { parts: short }),
        "parts-not-accounted-for"
    );
    let all = vec![ReturnedPart {
        part_no: "CYL-100".into(),
        used: 1,
        unused: 1,
        damaged: 0,
    }];
    let inspect = ServiceCommand::ReinspectParts {
        findings: "unused cylinder sealed, fit for stock".into(),
    };
    assert_eq!(
        g.refused(&p("qian.qc", Role::Qc), inspect.clone()),
        "step-out-of-order"
    );
    let g = g.did(&lead(), ServiceCommand::ReturnParts { parts: all });
    assert_eq!(g.refused(&lead(), inspect.clone()), "role-not-permitted");
    let g = g.did(&p("qian.qc", Role::Qc), inspect);
    assert!(g.state.parts_reinspected);
}

#[test]
fn the_manager_checks_satisfaction_only_after_the_trip_report() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(true)
        .on_site()
        .departed(vec![])
        .arrived()
        .feedback()
        .did(
            &service(),
            ServiceCommand::ApproveSiteDeparture { finished: true },
        )
        .did(
            &lead(),
            ServiceCommand::LeaveSite {
                finished: true,
                reason: "fitted and tested".into(),
            },
        )
        .did(&lead(), ServiceCommand::ReturnToFactory);
    let check = ServiceCommand::ConfirmSatisfaction {
        satisfaction: Satisfaction::Satisfied,
        note: "called Mr Liu, running fine".into(),
        cost_audit: CostAudit {
            claimed_minor: 90_000,
            approved_minor: 85_000,
            notes: "one taxi without receipt".into(),
        },
    };
    assert_eq!(g.refused(&service(), check.clone()), "trip-report-missing");
    let g = g.did(
        &lead(),
        ServiceCommand::FileTripReport {
            report: "replaced cylinder, 1 day on site".into(),
            expenses_minor: 90_000,
        },
    );
    let g = g.did(&service(), check);
    assert!(g.state.satisfaction_confirmed);
}

#[test]
fn a_clock_is_paused_with_a_reason_and_resumed() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair);
    let pause = |running| ServiceCommand::PauseClock {
        timer: TimerRule::OnSiteArrival,
        reason: PauseReason::WaitingForParts,
        note: "cylinder shipped from Shenyang".into(),
        timer_running: running,
    };
    assert_eq!(g.refused(&service(), pause(false)), "no-running-timer");
    assert_eq!(g.refused(&lead(), pause(true)), "role-not-permitted");
    let resume = ServiceCommand::ResumeClock {
        timer: TimerRule::OnSiteArrival,
    };
    assert_eq!(g.refused(&service(), resume.clone()), "clock-not-paused");
    let g = g.did(&service(), pause(true));
    assert_eq!(g.refused(&service(), pause(true)), "clock-already-paused");
    let g = g.did(&service(), resume);
    assert!(g.state.paused.is_empty());
}

#[test]
fn escalation_links_an_open_return_of_the_unit() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair).warranty(true);
    let esc = |open: Option<&str>| ServiceCommand::Escalate {
        serial: "ZT1100068".into(),
        return_id: "R-7".into(),
        open_return: open.map(str::to_string),
    };
    assert_eq!(g.refused(&service(), esc(None)), "return-not-open");
    assert_eq!(g.refused(&service(), esc(Some("R-6"))), "return-not-open");
    let g = g.did(&service(), esc(Some("R-7")));
    assert_eq!(
        g.state.escalated_to,
        Some(("ZT1100068".into(), "R-7".into()))
    );
}

#[test]
fn a_closed_request_refuses_everything_and_an_unknown_one_is_not_found() {
    let g = Given::new();
    assert_eq!(
        g.refused(
            &service(),
            ServiceCommand::Contact {
                note: "called".into()
            }
        ),
        "service-request-not-found"
    );
    let g = Given::relayed(ProductCategory::Own, RequestKind::Consultation)
        .contacted()
        .did(
            &service(),
            ServiceCommand::AnswerConsultation {
                answer: "reset with F3 held".into(),
            },
        )
        .did(
            &service(),
            ServiceCommand::Close {
                outcome: "answered".into(),
            },
        );
    assert_eq!(
        g.refused(
            &service(),
            ServiceCommand::Contact {
                note: "called".into()
            }
        ),
        "step-out-of-order"
    );
}

#[test]
fn consultations_are_answered_and_repairs_get_solutions() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair);
    assert_eq!(
        g.refused(
            &service(),
            ServiceCommand::AnswerConsultation {
                answer: "see manual p. 12".into()
            }
        ),
        "step-out-of-order"
    );
    let g = Given::relayed(ProductCategory::Own, RequestKind::Consultation).warranty(true);
    assert_eq!(
        g.refused(
            &service(),
            ServiceCommand::DetermineSolution {
                solution: "visit".into(),
                on_site: true
            }
        ),
        "step-out-of-order"
    );
}

#[test]
fn engineers_who_left_unfinished_may_come_back_and_the_team_is_checked() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(true)
        .on_site()
        .departed(vec![])
        .arrived()
        .did(
            &lead(),
            ServiceCommand::LeaveSite {
                finished: false,
                reason: "dispute over the groove".into(),
            },
        );
    assert_eq!(
        g.refused(&p("ma.ts", Role::TechnicalService), ServiceCommand::Arrive),
        "not-on-team"
    );
    let g = g.did(&p("sun.ts", Role::TechnicalService), ServiceCommand::Arrive);
    assert_eq!(g.state.trip, Trip::OnSite);
    assert!(!g.state.feedback_signed);
}

fn feedback_signed(evidence: SignatureEvidence) -> ServiceCommand {
    ServiceCommand::SignFeedback {
        satisfaction: Satisfaction::Satisfied,
        opinion: "works; took too long".into(),
        signature: Signature {
            name: "Mr Liu".into(),
            signed_at: Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap(),
            evidence,
        },
    }
}

#[test]
fn the_customers_feedback_is_signed_with_evidence_and_a_typed_name_only_with_a_reason() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .warranty(true)
        .on_site()
        .departed(vec![])
        .arrived();
    let refusal = |evidence| g.refused(&lead(), feedback_signed(evidence));
    assert_eq!(
        refusal(SignatureEvidence::LegacyTyped),
        "signature-evidence-required"
    );
    assert_eq!(
        refusal(SignatureEvidence::Typed {
            reason: "unknown".into()
        }),
        "typed-signature-reason-required"
    );
    let events = g
        .try_do(
            &lead(),
            feedback_signed(SignatureEvidence::Portal {
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                media_type: "application/vnd.repairledger.strokes+json".into(),
                person_id: "liu.customer".into(),
                position: 12,
            }),
        )
        .expect("a portal signature is accepted");
    assert!(matches!(
        &events[..],
        [ServiceEvent::CustomerFeedbackSigned { signature, .. }] if signature.evidence.kind() == "portal"
    ));
}

fn repair_on_site() -> Given {
    Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .contacted()
        .warranty(true)
        .on_site()
}

#[test]
fn a_consultation_is_closed_once_the_customer_was_contacted_and_it_was_answered() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Consultation);
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::CustomerNotContacted
    );
    let g = g.contacted();
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::ConsultationNotAnswered
    );
    let g = g.did(
        &service(),
        ServiceCommand::AnswerConsultation {
            answer: "reset with F3 held".into(),
        },
    );
    assert!(matches!(
        g.try_do(&service(), close()).as_deref(),
        Ok([ServiceEvent::ServiceRequestClosed { .. }])
    ));
}

#[test]
fn a_repair_without_a_solution_is_not_closed_and_one_solved_without_a_visit_owes_no_trip() {
    let g = Given::relayed(ProductCategory::Own, RequestKind::Repair)
        .contacted()
        .warranty(true);
    assert_eq!(g.refusal(&service(), close()), DomainError::SolutionMissing);
    let g = g.did(
        &service(),
        ServiceCommand::DetermineSolution {
            solution: "customer resets the controller by phone guidance".into(),
            on_site: false,
        },
    );
    assert!(g.try_do(&service(), close()).is_ok());
}

#[test]
fn a_request_whose_solution_needs_a_visit_is_not_closed_before_departure_or_while_travelling() {
    let g = repair_on_site();
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::OnSiteVisitMissing
    );
    let g = g.departed(vec![]);
    assert_eq!(g.refusal(&service(), close()), DomainError::TeamStillAway);
    let g = g.arrived();
    assert_eq!(g.refusal(&service(), close()), DomainError::TeamStillAway);
}

#[test]
fn closing_after_an_unfinished_visit_is_refused_until_a_revisit_finishes_the_work() {
    let g = repair_on_site().departed(vec![]).arrived().left(false);
    assert_eq!(g.refusal(&service(), close()), DomainError::WorkNotFinished);
    // Back at the factory with the work still unfinished: the revisit is still owed.
    let g = g.back().reported().checked();
    assert_eq!(g.refusal(&service(), close()), DomainError::WorkNotFinished);
    let g = g
        .departed(vec![])
        .arrived()
        .left(true)
        .back()
        .reported()
        .checked();
    assert!(g.try_do(&service(), close()).is_ok());
}

#[test]
fn a_trip_owes_its_return_parts_reinspection_report_and_satisfaction_check_before_close() {
    let g = repair_on_site().departed(cylinder(2)).arrived().left(true);
    assert_eq!(g.refusal(&service(), close()), DomainError::TeamStillAway);
    let g = g.back();
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::PartsOutstanding
    );
    let g = g.parts_back(2);
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::PartsNotReinspected
    );
    let g = g.reinspected();
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::TripReportMissing
    );
    let g = g.reported();
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::SatisfactionCheckMissing
    );
    let g = g.checked();
    assert_eq!(
        g.refusal(&lead(), close()),
        DomainError::RoleNotPermitted {
            role: Role::TechnicalService,
            action: "close a service request"
        }
    );
    let g = g.did(&service(), close());
    assert!(g.state.closed && !g.state.cancelled);
}

#[test]
fn an_escalated_request_owes_no_finished_visit_but_still_owes_its_trip_duties() {
    let escalate = ServiceCommand::Escalate {
        serial: "ZT1100068".into(),
        return_id: "R-7".into(),
        open_return: Some("R-7".into()),
    };
    // Not fixable on site: the engineers left unfinished and the unit came back for repair.
    let g = repair_on_site()
        .departed(cylinder(1))
        .arrived()
        .left(false)
        .did(&service(), escalate.clone());
    assert_eq!(g.refusal(&service(), close()), DomainError::TeamStillAway);
    let g = g.back();
    assert_eq!(
        g.refusal(&service(), close()),
        DomainError::PartsOutstanding
    );
    let g = g.parts_back(1).reinspected().reported().checked();
    assert!(g.try_do(&service(), close()).is_ok());
    // Escalated before anyone went: no visit is owed, so no trip duties either.
    let g = repair_on_site().did(&service(), escalate);
    assert!(g.try_do(&service(), close()).is_ok());
}

#[test]
fn only_the_general_manager_cancels_a_request_with_the_reason_and_who_asked() {
    let g = repair_on_site();
    assert_eq!(
        g.refusal(&service(), cancel()),
        DomainError::RoleNotPermitted {
            role: Role::AfterSales,
            action: "approve cancelling a service request"
        }
    );
    assert_eq!(
        g.refusal(
            &gm(),
            ServiceCommand::Cancel {
                reason: "n/a".into(),
                requested_by: "Mr Liu by phone".into(),
            }
        ),
        DomainError::PlaceholderDescription { field: "reason" }
    );
    let events = g.try_do(&gm(), cancel()).expect("cancelled");
    assert_eq!(
        events,
        vec![ServiceEvent::ServiceRequestCancelled {
            reason: "the customer replaced the machine and no longer wants the visit".into(),
            requested_by: "Mr Liu, equipment manager, by phone".into(),
            approved_by: "chen.gm".into(),
            at: g.at,
        }]
    );
    let g = g.did(&gm(), cancel());
    assert!(g.state.closed && g.state.cancelled);
    assert_eq!(g.refused(&service(), close()), "step-out-of-order");
}

#[test]
fn a_request_is_not_cancelled_while_engineers_are_away_or_parts_are_outstanding() {
    let g = repair_on_site().departed(cylinder(2));
    assert_eq!(g.refusal(&gm(), cancel()), DomainError::TeamStillAway);
    let g = g.arrived().left(false);
    assert_eq!(g.refusal(&gm(), cancel()), DomainError::TeamStillAway);
    let g = g.back();
    assert_eq!(g.refusal(&gm(), cancel()), DomainError::PartsOutstanding);
    let g = g.parts_back(2);
    assert_eq!(g.refusal(&gm(), cancel()), DomainError::PartsNotReinspected);
    // After an unfinished visit the customer may withdraw: the revisit is not owed then.
    let g = g.reinspected().reported().checked();
    assert!(g.try_do(&gm(), cancel()).is_ok());
}
