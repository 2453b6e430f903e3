//! The monthly QC report's input (rule 16): one failure per return, and QC's inspections with
//! their first-pass and re-inspection marks.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use repairledger_domain::unit::*;
use repairledger_domain::Role;
use repairledger_projections::{codec, FailureSource, ReadModel};
use repairledger_store::{EventActor, RecordedEvent};

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 3, 1, 0, 0).unwrap() + Duration::hours(hours)
}

struct Log {
    model: ReadModel,
    version: u64,
}

impl Log {
    /// A unit of model RD-40 with return R-1 open.
    fn new() -> Log {
        let mut log = Log {
            model: ReadModel::new(),
            version: 0,
        };
        log.add(UnitEvent::ProductIdentified {
            serial: "SN-1".into(),
            product: ProductInfo {
                model: "RD-40".into(),
                production_date: NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
                warranty_end: NaiveDate::from_ymd_opt(2027, 9, 1).unwrap(),
                batch: None,
            },
        });
        log.add(UnitEvent::ReturnOpened {
            return_id: "R-1".into(),
            mode: ReturnMode::CustomerDirect,
            customer: CustomerRef {
                customer_id: "C-1".into(),
                name: "Huadong Power".into(),
            },
            form: OffSiteInfo {
                fault_symptoms: "channel 2 dead after warm-up".into(),
                site: "control room 3".into(),
                circumstances: "morning load test".into(),
                filled_by: "wang.as".into(),
                unverifiable_reason: None,
            },
            opened_by: PersonRef {
                person_id: "wang.as".into(),
                role: Role::AfterSales,
            },
            custody: Custody::Person {
                person_id: "wang.as".into(),
                role: Role::AfterSales,
            },
            customer_signature: None,
            receiver_returned_at: None,
            customer_due_date: None,
            emergency_retrieval: false,
            at: t(0),
        });
        log
    }

    fn add(&mut self, e: UnitEvent) -> &mut Self {
        let (event_type, payload) = codec::encode(&e);
        self.version += 1;
        let recorded = RecordedEvent {
            position: self.model.position + 1,
            stream: "unit-SN-1".into(),
            version: self.version,
            schema: codec::current_schema(&event_type),
            event_type,
            payload,
            actor: EventActor {
                person_id: "someone".into(),
                role: "qc".into(),
            },
            occurred_at: t(1),
            recorded_at: t(1),
            policy_version: 2,
            correlation_id: None,
            causation_id: None,
            idempotency_key: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.model.apply(&recorded).expect("the event folds");
        self
    }

    fn confirmed(&mut self, cause: CauseCategory, hour: i64) -> &mut Self {
        self.add(UnitEvent::FaultConfirmed {
            return_id: "R-1".into(),
            cause,
            analysis: "output stage transistor open".into(),
            at: t(hour),
        })
    }

    fn inspected(&mut self, passed: bool, hour: i64) -> &mut Self {
        self.add(if passed {
            UnitEvent::InspectionPassed {
                return_id: "R-1".into(),
                label: "RQ-1".into(),
                findings: "all channels in tolerance".into(),
                form_archived: false,
                at: t(hour),
            }
        } else {
            UnitEvent::InspectionFailed {
                return_id: "R-1".into(),
                findings: "channel 2 drifts".into(),
                at: t(hour),
            }
        })
    }
}

#[test]
fn a_return_failed_once_then_passed_counts_one_failure_and_one_reinspection() {
    let mut log = Log::new();
    log.confirmed(CauseCategory::ComponentQuality, 2)
        .inspected(false, 3)
        .confirmed(CauseCategory::ComponentQuality, 4)
        .inspected(true, 5);
    let m = &log.model;
    assert_eq!(m.failures.len(), 1, "{:?}", m.failures);
    assert_eq!(m.failures[0].source, FailureSource::Repair);
    assert_eq!(m.failures[0].return_id.as_deref(), Some("R-1"));
    assert_eq!(m.failures[0].at, t(2), "found at the first confirmation");
    let marks: Vec<(bool, bool)> = m.inspections.iter().map(|i| (i.first, i.passed)).collect();
    assert_eq!(marks, [(true, false), (false, true)]);
    let first_pass = m.inspections.iter().filter(|i| i.first && i.passed).count();
    let first = m.inspections.iter().filter(|i| i.first).count();
    assert!(first_pass < first, "first-pass yield below 100 %");
}

#[test]
fn a_return_passed_at_the_first_inspection_is_a_first_pass() {
    let mut log = Log::new();
    log.confirmed(CauseCategory::DesignDefect, 2)
        .inspected(true, 3);
    let m = &log.model;
    assert_eq!(m.failures.len(), 1);
    let marks: Vec<(bool, bool)> = m.inspections.iter().map(|i| (i.first, i.passed)).collect();
    assert_eq!(marks, [(true, true)]);
}

#[test]
fn a_second_confirmation_with_another_cause_moves_the_failure_to_the_last_cause() {
    let mut log = Log::new();
    log.confirmed(CauseCategory::ComponentQuality, 2)
        .inspected(false, 3)
        .confirmed(CauseCategory::ProcessDefect, 4);
    let m = &log.model;
    assert_eq!(m.failures.len(), 1);
    assert_eq!(m.failures[0].cause, CauseCategory::ProcessDefect);
}

#[test]
fn a_second_confirmation_of_customer_misuse_takes_the_return_out_of_the_report() {
    let mut log = Log::new();
    log.confirmed(CauseCategory::ComponentQuality, 2)
        .inspected(false, 3)
        .confirmed(CauseCategory::CustomerMisuse, 4);
    assert!(log.model.failures.is_empty());
}

#[test]
fn two_failed_inspections_are_one_first_inspection_and_two_reinspections() {
    let mut log = Log::new();
    log.confirmed(CauseCategory::ComponentQuality, 2)
        .inspected(false, 3)
        .confirmed(CauseCategory::ComponentQuality, 4)
        .inspected(false, 5)
        .confirmed(CauseCategory::ComponentQuality, 6)
        .inspected(true, 7);
    let m = &log.model;
    assert_eq!(m.failures.len(), 1);
    let marks: Vec<(bool, bool)> = m.inspections.iter().map(|i| (i.first, i.passed)).collect();
    assert_eq!(marks, [(true, false), (false, false), (false, true)]);
}
