//! Complaints, recalls, quality cases and the product-caused failures the monthly QC report
//! counts, folded from the log.

use chrono::{DateTime, Utc};
use repairledger_domain::complaint::*;
use repairledger_domain::quality::*;
use repairledger_domain::sla::{TimerParams, TimerRule};
use repairledger_domain::unit::{CauseCategory, CustomerRef, PersonRef};
use repairledger_domain::Role;
use repairledger_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::field::SubjectKind;
use crate::model::{Entry, ReadModel};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GradeRecord {
    pub grade: Grade,
    pub cause: CauseCategory,
    pub findings: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceRecord {
    pub link: TraceLink,
    pub reference: String,
    /// The department this link showed responsible: the chain's root cause.
    #[serde(default)]
    pub responsible_dept: Option<String>,
    pub recorded_by: String,
    pub at: DateTime<Utc>,
}

/// The technical vice-president accepted that the chain cannot be followed past `at_link`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TraceBreak {
    pub at_link: TraceLink,
    pub reason: String,
    pub approved_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReturnApproval {
    pub weight_kg: u32,
    pub approved_by: String,
    pub role: Role,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Resolution {
    pub outcome: Outcome,
    pub detail: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GoodsInspection {
    pub passed: bool,
    pub findings: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A complaint with its trace chain, grade, resolution and the goods that came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplaintView {
    pub complaint_id: String,
    pub version: u64,
    pub customer: CustomerRef,
    pub market: Market,
    pub model: String,
    pub batch: Option<String>,
    pub print_code: Option<String>,
    pub serials: Vec<String>,
    pub quantity: u32,
    pub weight_kg: u32,
    pub description: String,
    pub registered_by: String,
    pub registered_at: DateTime<Utc>,
    pub grade: Option<GradeRecord>,
    pub recall_id: Option<String>,
    pub nonconforming_control: Option<Entry>,
    /// The links recorded, in the order they were recorded.
    pub trace: Vec<TraceRecord>,
    /// The links of the chain (label → … → supplier) still without a reference.
    pub missing_links: Vec<TraceLink>,
    /// The responsible department the chain reached, if a link named one.
    #[serde(default)]
    pub responsible_dept: Option<String>,
    #[serde(default)]
    pub trace_broken: Option<TraceBreak>,
    pub return_approval: Option<ReturnApproval>,
    pub resolution: Option<Resolution>,
    pub goods_received: u32,
    pub goods_inspection: Option<GoodsInspection>,
    pub restocked_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub state: ComplaintState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecallView {
    pub recall_id: String,
    pub complaint_id: String,
    pub batch: String,
    pub model: String,
    /// Every unit of the batch known to the log when the recall opened.
    pub serials: Vec<String>,
    pub opened_at: DateTime<Utc>,
    pub position: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvestigationRecord {
    pub investigation: Investigation,
    pub findings: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalysisRecord {
    pub cause: CauseCategory,
    pub common_cause: String,
    pub analysis: String,
    pub corrective_action: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A quality information feedback case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QualityCaseView {
    pub case_id: String,
    pub version: u64,
    pub source: QualitySource,
    pub severity: Severity,
    pub model: String,
    pub batch: Option<String>,
    pub complaint_id: Option<String>,
    pub description: String,
    pub raised_by: String,
    pub raised_at: DateTime<Utc>,
    pub investigations: Vec<InvestigationRecord>,
    pub escalation: Option<Entry>,
    pub instruction: Option<Entry>,
    pub analysis: Option<AnalysisRecord>,
    pub closed_at: Option<DateTime<Utc>>,
    pub state: QualityState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureSource {
    /// The repair dept confirmed the fault and its cause on a returned unit.
    Repair,
    /// QC graded a complaint's sample with a product cause.
    Complaint,
}

/// One failure caused by the product itself (rule 16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailureLine {
    pub position: u64,
    pub at: DateTime<Utc>,
    pub model: String,
    pub cause: CauseCategory,
    pub source: FailureSource,
    /// The unit serial or the complaint id.
    pub subject: String,
    /// The unit's return, for repairs: a return counts once, whatever its confirmations.
    #[serde(default)]
    pub return_id: Option<String>,
}

/// One functional inspection of a repaired unit by QC (rule 8), for the report's first-pass yield.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InspectionLine {
    pub position: u64,
    pub at: DateTime<Utc>,
    pub model: String,
    pub serial: String,
    pub return_id: String,
    /// The return's first inspection; any later one is a re-inspection cycle.
    pub first: bool,
    pub passed: bool,
}

impl ReadModel {
    pub(crate) fn apply_complaint(&mut self, id: &str, e: &RecordedEvent, ev: &ComplaintEvent) {
        use ComplaintEvent::*;
        let by = e.actor.person_id.clone();
        if let ComplaintRegistered {
            customer,
            market,
            model,
            batch,
            print_code,
            serials,
            quantity,
            weight_kg,
            description,
            registered_by,
            at,
            ..
        } = ev
        {
            self.complaints.insert(
                id.to_string(),
                ComplaintView {
                    complaint_id: id.to_string(),
                    version: 0,
                    customer: customer.clone(),
                    market: *market,
                    model: model.clone(),
                    batch: batch.clone(),
                    print_code: print_code.clone(),
                    serials: serials.clone(),
                    quantity: *quantity,
                    weight_kg: *weight_kg,
                    description: description.clone(),
                    registered_by: registered_by.clone(),
                    registered_at: *at,
                    grade: None,
                    recall_id: None,
                    nonconforming_control: None,
                    trace: Vec::new(),
                    missing_links: TraceLink::CHAIN.to_vec(),
                    responsible_dept: None,
                    trace_broken: None,
                    return_approval: None,
                    resolution: None,
                    goods_received: 0,
                    goods_inspection: None,
                    restocked_at: None,
                    closed_at: None,
                    state: ComplaintState::default(),
                },
            );
            self.start_timer(
                TimerRule::ComplaintResolution,
                SubjectKind::Complaint,
                id,
                None,
                PersonRef {
                    person_id: registered_by.clone(),
                    role: Role::parse(&e.actor.role).unwrap_or(Role::AfterSales),
                },
                *at,
                TimerParams {
                    foreign: *market == Market::Foreign,
                    ..Default::default()
                },
                e,
            );
        }
        let mut failure: Option<FailureLine> = None;
        let mut recall: Option<RecallView> = None;
        let mut stop: Option<DateTime<Utc>> = None;
        let Some(v) = self.complaints.get_mut(id) else {
            return;
        };
        v.version = e.version;
        v.state = std::mem::take(&mut v.state).evolve(ev);
        match ev {
            ComplaintRegistered { .. } => {}
            SampleInspected {
                grade,
                cause,
                findings,
                at,
                ..
            } => {
                v.grade = Some(GradeRecord {
                    grade: *grade,
                    cause: *cause,
                    findings: findings.clone(),
                    by: by.clone(),
                    at: *at,
                });
                if cause.is_product_caused() {
                    failure = Some(FailureLine {
                        position: e.position,
                        at: *at,
                        model: v.model.clone(),
                        cause: *cause,
                        source: FailureSource::Complaint,
                        subject: id.to_string(),
                        return_id: None,
                    });
                }
            }
            RecallOpened {
                recall_id,
                batch,
                serials,
                at,
            } => {
                v.recall_id = Some(recall_id.clone());
                recall = Some(RecallView {
                    recall_id: recall_id.clone(),
                    complaint_id: id.to_string(),
                    batch: batch.clone(),
                    model: v.model.clone(),
                    serials: serials.clone(),
                    opened_at: *at,
                    position: e.position,
                });
            }
            NonconformingControlRecorded { measures, at, .. } => {
                v.nonconforming_control = Some(Entry {
                    text: measures.clone(),
                    by: by.clone(),
                    at: *at,
                })
            }
            TraceLinkRecorded {
                link,
                reference,
                responsible_dept,
                recorded_by,
                at,
            } => {
                v.trace.push(TraceRecord {
                    link: *link,
                    reference: reference.clone(),
                    responsible_dept: responsible_dept.clone(),
                    recorded_by: recorded_by.clone(),
                    at: *at,
                });
                v.missing_links.retain(|l| l != link);
                if responsible_dept.is_some() {
                    v.responsible_dept = responsible_dept.clone();
                }
            }
            TraceChainBroken {
                at_link,
                reason,
                approved_by,
                at,
            } => {
                v.trace_broken = Some(TraceBreak {
                    at_link: *at_link,
                    reason: reason.clone(),
                    approved_by: approved_by.clone(),
                    at: *at,
                })
            }
            ReturnApproved {
                weight_kg,
                approved_by,
                role,
                at,
            } => {
                v.return_approval = Some(ReturnApproval {
                    weight_kg: *weight_kg,
                    approved_by: approved_by.clone(),
                    role: *role,
                    at: *at,
                })
            }
            ComplaintResolved {
                outcome,
                detail,
                at,
            } => {
                v.resolution = Some(Resolution {
                    outcome: *outcome,
                    detail: detail.clone(),
                    by: by.clone(),
                    at: *at,
                });
                stop = Some(*at);
            }
            ReturnedGoodsReceived { quantity, .. } => v.goods_received += quantity,
            ReturnedGoodsInspected {
                passed,
                findings,
                inspected_by,
                at,
            } => {
                v.goods_inspection = Some(GoodsInspection {
                    passed: *passed,
                    findings: findings.clone(),
                    by: inspected_by.clone(),
                    at: *at,
                })
            }
            ReturnedGoodsRestocked { at, .. } => v.restocked_at = Some(*at),
            ComplaintClosed { at } => v.closed_at = Some(*at),
        }
        if let Some(f) = failure {
            self.failures.push(f);
        }
        if let Some(r) = recall {
            for s in &r.serials {
                self.recalled_units
                    .entry(s.clone())
                    .or_default()
                    .push(r.recall_id.clone());
            }
            self.recalls.insert(r.recall_id.clone(), r);
        }
        if let Some(at) = stop {
            self.stop_timer(id, TimerRule::ComplaintResolution, at, e);
        }
        if let Some(serials) = self.complaints.get(id).map(|c| c.serials.clone()) {
            if matches!(ev, ComplaintRegistered { .. }) {
                for s in serials {
                    self.unit_complaints
                        .entry(s)
                        .or_default()
                        .push(id.to_string());
                }
            }
        }
    }

    pub(crate) fn apply_quality(&mut self, id: &str, e: &RecordedEvent, ev: &QualityEvent) {
        use QualityEvent::*;
        let by = e.actor.person_id.clone();
        if let QualityIssueRaised {
            source,
            severity,
            model,
            batch,
            complaint_id,
            description,
            raised_by,
            at,
            ..
        } = ev
        {
            self.quality_cases.insert(
                id.to_string(),
                QualityCaseView {
                    case_id: id.to_string(),
                    version: 0,
                    source: *source,
                    severity: *severity,
                    model: model.clone(),
                    batch: batch.clone(),
                    complaint_id: complaint_id.clone(),
                    description: description.clone(),
                    raised_by: raised_by.clone(),
                    raised_at: *at,
                    investigations: Vec::new(),
                    escalation: None,
                    instruction: None,
                    analysis: None,
                    closed_at: None,
                    state: QualityState::default(),
                },
            );
        }
        let Some(v) = self.quality_cases.get_mut(id) else {
            return;
        };
        v.version = e.version;
        v.state = std::mem::take(&mut v.state).evolve(ev);
        let entry = |text: &str, at: &DateTime<Utc>| Entry {
            text: text.to_string(),
            by: by.clone(),
            at: *at,
        };
        match ev {
            QualityIssueRaised { .. } => {}
            InvestigationRecorded {
                investigation,
                findings,
                at,
                ..
            } => v.investigations.push(InvestigationRecord {
                investigation: *investigation,
                findings: findings.clone(),
                by: by.clone(),
                at: *at,
            }),
            EscalatedToGeneralManager { reason, at, .. } => v.escalation = Some(entry(reason, at)),
            GeneralManagerInstructed { instruction, at } => {
                v.instruction = Some(entry(instruction, at))
            }
            CaseAnalysed {
                cause,
                common_cause,
                analysis,
                corrective_action,
                at,
                ..
            } => {
                v.analysis = Some(AnalysisRecord {
                    cause: *cause,
                    common_cause: common_cause.clone(),
                    analysis: analysis.clone(),
                    corrective_action: corrective_action.clone(),
                    by: by.clone(),
                    at: *at,
                })
            }
            QualityCaseClosed { at } => v.closed_at = Some(*at),
        }
    }
}

impl ReadModel {
    /// Repairs that confirmed a product-caused fault count in the monthly QC report, once per
    /// return. A failed inspection sends the unit back to repair, which confirms the fault again:
    /// that confirmation replaces the return's line instead of adding one. The last confirmed
    /// cause counts (it is the analysis the repair finally stood on); the line keeps the month
    /// and position of the first confirmation, when the failure was found. A later confirmation
    /// of a non-product cause, or of no fault, takes the return out of the report.
    pub(crate) fn unit_failures(
        &mut self,
        serial: &str,
        e: &RecordedEvent,
        ev: &repairledger_domain::unit::UnitEvent,
    ) {
        use repairledger_domain::unit::UnitEvent::*;
        let model = || {
            self.units
                .get(serial)
                .and_then(|u| u.state.product.as_ref())
                .map(|p| p.model.clone())
                .unwrap_or_default()
        };
        match ev {
            FaultConfirmed {
                return_id,
                cause,
                at,
                ..
            } => {
                let key = format!("{serial}/{return_id}");
                // Lines are in log order, so the return's line is found by its position.
                let earlier = self
                    .repair_failures
                    .get(&key)
                    .and_then(|p| self.failures.binary_search_by_key(p, |f| f.position).ok());
                match (earlier, cause.is_product_caused()) {
                    (Some(i), true) => self.failures[i].cause = *cause,
                    (Some(i), false) => {
                        self.failures.remove(i);
                        self.repair_failures.remove(&key);
                    }
                    (None, true) => {
                        let model = model();
                        self.repair_failures.insert(key, e.position);
                        self.failures.push(FailureLine {
                            position: e.position,
                            at: *at,
                            model,
                            cause: *cause,
                            source: FailureSource::Repair,
                            subject: serial.to_string(),
                            return_id: Some(return_id.clone()),
                        });
                    }
                    (None, false) => {}
                }
            }
            NoFaultFound { return_id, .. } => {
                let key = format!("{serial}/{return_id}");
                if let Some(p) = self.repair_failures.remove(&key) {
                    if let Ok(i) = self.failures.binary_search_by_key(&p, |f| f.position) {
                        self.failures.remove(i);
                    }
                }
            }
            InspectionPassed { return_id, at, .. } | InspectionFailed { return_id, at, .. } => {
                let passed = matches!(ev, InspectionPassed { .. });
                // The unit's state already holds this inspection: a pass with no failed one
                // before it, or the return's first failure, is the first inspection.
                let failed_before = self
                    .units
                    .get(serial)
                    .and_then(|u| u.state.returns.iter().find(|r| &r.return_id == return_id))
                    .map_or(0, |r| r.inspections_failed);
                let first = if passed {
                    failed_before == 0
                } else {
                    failed_before == 1
                };
                let model = model();
                self.inspections.push(InspectionLine {
                    position: e.position,
                    at: *at,
                    model,
                    serial: serial.to_string(),
                    return_id: return_id.clone(),
                    first,
                    passed,
                });
            }
            _ => {}
        }
    }
}
