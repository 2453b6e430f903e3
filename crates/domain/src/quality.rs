//! Quality information feedback (质量信息反馈; seed 000 part 1), one stream per case
//! (`quality-{id}`): an inspector's alert about an internal anomaly, or customer quality feedback
//! registered by QC; investigations (same-batch check, retained-sample recheck); major issues
//! escalated to the general manager; an analysis of the cause, which files the case in the
//! accident analysis archive under its common cause.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::error::DomainError;
use crate::guard::{out_of_order, role_in, specific};
use crate::unit::{CauseCategory, Ctx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QualitySource {
    /// An inspector's alert about an anomaly inside the factory.
    InternalAnomaly,
    /// A customer's quality feedback, registered by QC.
    CustomerFeedback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Minor,
    /// Escalated to the general manager.
    Major,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Investigation {
    /// Other products of the same batch checked.
    SameBatchCheck,
    /// The retained sample of the batch re-tested.
    RetainedSampleRecheck,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum QualityEvent {
    QualityIssueRaised {
        case_id: String,
        source: QualitySource,
        severity: Severity,
        model: String,
        batch: Option<String>,
        /// A complaint this feedback came with, if any.
        complaint_id: Option<String>,
        description: String,
        raised_by: String,
        at: DateTime<Utc>,
    },
    InvestigationRecorded {
        investigation: Investigation,
        findings: String,
        by: String,
        at: DateTime<Utc>,
    },
    EscalatedToGeneralManager {
        reason: String,
        by: String,
        at: DateTime<Utc>,
    },
    GeneralManagerInstructed {
        instruction: String,
        at: DateTime<Utc>,
    },
    /// Files the case in the accident analysis archive under `common_cause`.
    CaseAnalysed {
        cause: CauseCategory,
        common_cause: String,
        analysis: String,
        corrective_action: String,
        by: String,
        at: DateTime<Utc>,
    },
    QualityCaseClosed {
        at: DateTime<Utc>,
    },
}

impl QualityEvent {
    pub fn event_type(&self) -> &'static str {
        use QualityEvent::*;
        match self {
            QualityIssueRaised { .. } => "QualityIssueRaised",
            InvestigationRecorded { .. } => "InvestigationRecorded",
            EscalatedToGeneralManager { .. } => "EscalatedToGeneralManager",
            GeneralManagerInstructed { .. } => "GeneralManagerInstructed",
            CaseAnalysed { .. } => "CaseAnalysed",
            QualityCaseClosed { .. } => "QualityCaseClosed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QualityState {
    pub raised: bool,
    pub severity: Option<Severity>,
    pub investigations: u32,
    pub escalated: bool,
    pub instructed: bool,
    pub analysed: bool,
    pub closed: bool,
}

impl QualityState {
    pub fn evolve(mut self, e: &QualityEvent) -> Self {
        use QualityEvent::*;
        match e {
            QualityIssueRaised { severity, .. } => {
                self.raised = true;
                self.severity = Some(*severity);
            }
            InvestigationRecorded { .. } => self.investigations += 1,
            EscalatedToGeneralManager { .. } => self.escalated = true,
            GeneralManagerInstructed { .. } => self.instructed = true,
            CaseAnalysed { .. } => self.analysed = true,
            QualityCaseClosed { .. } => self.closed = true,
        }
        self
    }

    pub fn from_events(events: &[QualityEvent]) -> Self {
        events
            .iter()
            .fold(QualityState::default(), |s, e| s.evolve(e))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum QualityCommand {
    Raise {
        source: QualitySource,
        severity: Severity,
        model: String,
        batch: Option<String>,
        complaint_id: Option<String>,
        description: String,
    },
    Investigate {
        investigation: Investigation,
        findings: String,
    },
    Escalate {
        reason: String,
    },
    Instruct {
        instruction: String,
    },
    Analyse {
        cause: CauseCategory,
        common_cause: String,
        analysis: String,
        corrective_action: String,
    },
    Close,
}

/// Common causes are archive keys: lower case, so that "Lug casting" and "lug casting" are one.
pub fn common_cause_key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

pub fn decide(
    s: &QualityState,
    case_id: &str,
    c: &QualityCommand,
    ctx: &Ctx,
) -> Result<Vec<QualityEvent>, DomainError> {
    use QualityCommand as C;
    use QualityEvent as E;
    let (at, me) = (ctx.at, ctx.actor.person_id.clone());
    if let C::Raise {
        source,
        severity,
        model,
        batch,
        complaint_id,
        description,
    } = c
    {
        // Inspectors raise internal alerts; QC registers customers' feedback too (seed 000 part 1).
        role_in(ctx, &[Role::Qc], "raise a quality issue")?;
        if s.raised {
            return Err(out_of_order("raised", "a new case id"));
        }
        specific(ctx, "description", description)?;
        return Ok(vec![E::QualityIssueRaised {
            case_id: case_id.into(),
            source: *source,
            severity: *severity,
            model: model.clone(),
            batch: batch.clone(),
            complaint_id: complaint_id.clone(),
            description: description.clone(),
            raised_by: me,
            at,
        }]);
    }
    if !s.raised {
        return Err(DomainError::QualityCaseNotFound {
            case_id: case_id.into(),
        });
    }
    if s.closed {
        return Err(out_of_order("closed", "an open quality case"));
    }
    match c {
        C::Raise { .. } => unreachable!("handled above"),
        C::Investigate {
            investigation,
            findings,
        } => {
            role_in(ctx, &[Role::Qc], "record an investigation")?;
            specific(ctx, "findings", findings)?;
            Ok(vec![E::InvestigationRecorded {
                investigation: *investigation,
                findings: findings.clone(),
                by: me,
                at,
            }])
        }
        C::Escalate { reason } => {
            role_in(ctx, &[Role::Qc], "escalate to the general manager")?;
            if s.severity != Some(Severity::Major) {
                return Err(DomainError::NotMajorIssue);
            }
            if s.escalated {
                return Err(out_of_order("escalated", "a case not yet escalated"));
            }
            specific(ctx, "reason", reason)?;
            Ok(vec![E::EscalatedToGeneralManager {
                reason: reason.clone(),
                by: me,
                at,
            }])
        }
        C::Instruct { instruction } => {
            role_in(
                ctx,
                &[Role::GeneralManager],
                "instruct on an escalated quality issue",
            )?;
            if !s.escalated {
                return Err(out_of_order("not escalated", "an escalated case"));
            }
            specific(ctx, "instruction", instruction)?;
            Ok(vec![E::GeneralManagerInstructed {
                instruction: instruction.clone(),
                at,
            }])
        }
        C::Analyse {
            cause,
            common_cause,
            analysis,
            corrective_action,
        } => {
            role_in(ctx, &[Role::Qc], "analyse a quality case")?;
            if s.investigations == 0 {
                return Err(DomainError::InvestigationRequired);
            }
            if s.analysed {
                return Err(out_of_order("analysed", "a case not yet analysed"));
            }
            specific(ctx, "common_cause", common_cause)?;
            specific(ctx, "analysis", analysis)?;
            specific(ctx, "corrective_action", corrective_action)?;
            Ok(vec![E::CaseAnalysed {
                cause: *cause,
                common_cause: common_cause_key(common_cause),
                analysis: analysis.clone(),
                corrective_action: corrective_action.clone(),
                by: me,
                at,
            }])
        }
        C::Close => {
            role_in(ctx, &[Role::Qc], "close a quality case")?;
            if !s.analysed {
                return Err(out_of_order("not analysed", "an analysed case"));
            }
            // A major issue is closed only once the general manager has given instructions.
            if s.escalated && !s.instructed {
                return Err(out_of_order(
                    "awaiting the general manager",
                    "the general manager's instruction",
                ));
            }
            Ok(vec![E::QualityCaseClosed { at }])
        }
    }
}

impl crate::Aggregate for QualityState {
    type Event = QualityEvent;
    type Command = QualityCommand;
    const ID: &'static str = "case_id";
    fn stream(id: &str) -> String {
        crate::streams::quality(id)
    }
    fn fold(_id: &str, events: &[QualityEvent]) -> Self {
        QualityState::from_events(events)
    }
    fn decide(
        &self,
        id: &str,
        c: &QualityCommand,
        ctx: &Ctx,
    ) -> Result<Vec<QualityEvent>, DomainError> {
        decide(self, id, c, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Policy};
    use chrono::TimeZone;

    fn run(
        s: &QualityState,
        role: Role,
        c: QualityCommand,
    ) -> Result<Vec<QualityEvent>, DomainError> {
        let policy = Policy::default_policy();
        let actor = Actor::new("x", role);
        let at = Utc.with_ymd_and_hms(2026, 3, 3, 2, 0, 0).unwrap();
        decide(s, "Q-1", &c, &Ctx::new(&actor, at, &policy))
    }

    fn fold(s: QualityState, events: Vec<QualityEvent>) -> QualityState {
        events.iter().fold(s, |s, e| s.evolve(e))
    }

    fn raised(severity: Severity) -> QualityState {
        let c = QualityCommand::Raise {
            source: QualitySource::InternalAnomaly,
            severity,
            model: "RD-40".into(),
            batch: Some("B-1".into()),
            complaint_id: None,
            description: "three housings with porosity at final inspection".into(),
        };
        fold(
            QualityState::default(),
            run(&QualityState::default(), Role::Qc, c).unwrap(),
        )
    }

    fn analyse() -> QualityCommand {
        QualityCommand::Analyse {
            cause: CauseCategory::ComponentQuality,
            common_cause: "  Lug   Casting porosity ".into(),
            analysis: "supplier changed the mould temperature".into(),
            corrective_action: "incoming X-ray on lugs for three batches".into(),
        }
    }

    #[test]
    fn only_qc_raises_and_investigates() {
        let c = QualityCommand::Raise {
            source: QualitySource::CustomerFeedback,
            severity: Severity::Minor,
            model: "RD-40".into(),
            batch: None,
            complaint_id: Some("CP-1".into()),
            description: "customer reports flicker".into(),
        };
        assert_eq!(
            run(&QualityState::default(), Role::AfterSales, c)
                .unwrap_err()
                .code(),
            "role-not-permitted"
        );
        let s = raised(Severity::Minor);
        let inv = QualityCommand::Investigate {
            investigation: Investigation::SameBatchCheck,
            findings: "12 of 40 affected".into(),
        };
        assert_eq!(
            run(&s, Role::Repair, inv.clone()).unwrap_err().code(),
            "role-not-permitted"
        );
        assert!(run(&s, Role::Qc, inv).is_ok());
    }

    #[test]
    fn an_analysis_needs_an_investigation_and_files_under_a_normalised_common_cause() {
        let s = raised(Severity::Minor);
        assert_eq!(
            run(&s, Role::Qc, analyse()).unwrap_err().code(),
            "investigation-required"
        );
        let inv = QualityCommand::Investigate {
            investigation: Investigation::RetainedSampleRecheck,
            findings: "retained sample shows the same porosity".into(),
        };
        let s = fold(s.clone(), run(&s, Role::Qc, inv).unwrap());
        let events = run(&s, Role::Qc, analyse()).unwrap();
        assert!(
            matches!(&events[0], QualityEvent::CaseAnalysed { common_cause, .. } if common_cause == "lug casting porosity")
        );
    }

    #[test]
    fn only_major_issues_go_to_the_general_manager_who_must_instruct_before_closing() {
        let minor = raised(Severity::Minor);
        let esc = QualityCommand::Escalate {
            reason: "safety risk".into(),
        };
        assert_eq!(
            run(&minor, Role::Qc, esc.clone()).unwrap_err().code(),
            "not-major-issue"
        );
        let major = raised(Severity::Major);
        let major = fold(major.clone(), run(&major, Role::Qc, esc).unwrap());
        let inv = QualityCommand::Investigate {
            investigation: Investigation::SameBatchCheck,
            findings: "all of batch B-1".into(),
        };
        let major = fold(major.clone(), run(&major, Role::Qc, inv).unwrap());
        let major = fold(major.clone(), run(&major, Role::Qc, analyse()).unwrap());
        assert_eq!(
            run(&major, Role::Qc, QualityCommand::Close)
                .unwrap_err()
                .code(),
            "step-out-of-order"
        );
        let instruct = QualityCommand::Instruct {
            instruction: "stop shipping batch B-1".into(),
        };
        assert_eq!(
            run(&major, Role::Qc, instruct.clone()).unwrap_err().code(),
            "role-not-permitted"
        );
        let major = fold(
            major.clone(),
            run(&major, Role::GeneralManager, instruct).unwrap(),
        );
        assert!(run(&major, Role::Qc, QualityCommand::Close).is_ok());
    }
}
