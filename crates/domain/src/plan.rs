//! Repair plans (维修计划, rule 6; stream `plan-{id}`): compiled by after-sales, co-signed by
//! production (会签), sent back in writing when production wants a change, then issued.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::actor::Role;
use crate::error::{DomainError, PlanError};
use crate::unit::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Not yet compiled.
    None,
    /// Waiting for production's co-signature.
    AwaitingCoSign,
    /// Production asked for a change in writing; after-sales must revise.
    AmendmentRequested,
    CoSigned,
    Issued,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::None => "none",
            PlanStatus::AwaitingCoSign => "awaiting_co_sign",
            PlanStatus::AmendmentRequested => "amendment_requested",
            PlanStatus::CoSigned => "co_signed",
            PlanStatus::Issued => "issued",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum PlanEvent {
    RepairPlanCompiled {
        plan_id: String,
        serials: Vec<String>,
        notes: String,
        compiled_by: String,
        at: DateTime<Utc>,
    },
    /// Production's written change request (书面反馈), with its reason.
    RepairPlanAmendmentRequested {
        plan_id: String,
        reason: String,
        requested_by: String,
        at: DateTime<Utc>,
    },
    RepairPlanRevised {
        plan_id: String,
        serials: Vec<String>,
        reason: String,
        revised_by: String,
        at: DateTime<Utc>,
    },
    RepairPlanCoSigned {
        plan_id: String,
        co_signed_by: String,
        at: DateTime<Utc>,
    },
    RepairPlanIssued {
        plan_id: String,
        issued_by: String,
        at: DateTime<Utc>,
    },
}

impl PlanEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            PlanEvent::RepairPlanCompiled { .. } => "RepairPlanCompiled",
            PlanEvent::RepairPlanAmendmentRequested { .. } => "RepairPlanAmendmentRequested",
            PlanEvent::RepairPlanRevised { .. } => "RepairPlanRevised",
            PlanEvent::RepairPlanCoSigned { .. } => "RepairPlanCoSigned",
            PlanEvent::RepairPlanIssued { .. } => "RepairPlanIssued",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanState {
    pub plan_id: String,
    pub status: PlanStatus,
    pub serials: Vec<String>,
    pub amendments: Vec<String>,
}

impl PlanState {
    pub fn new(plan_id: impl Into<String>) -> Self {
        PlanState {
            plan_id: plan_id.into(),
            status: PlanStatus::None,
            serials: Vec::new(),
            amendments: Vec::new(),
        }
    }

    pub fn from_events<'a>(plan_id: &str, events: impl IntoIterator<Item = &'a PlanEvent>) -> Self {
        events
            .into_iter()
            .fold(PlanState::new(plan_id), |s, e| s.evolve(e))
    }

    pub fn lists(&self, serial: &str) -> bool {
        self.serials.iter().any(|s| s == serial)
    }

    pub fn evolve(mut self, event: &PlanEvent) -> Self {
        match event {
            PlanEvent::RepairPlanCompiled { serials, .. } => {
                self.serials = serials.clone();
                self.status = PlanStatus::AwaitingCoSign;
            }
            PlanEvent::RepairPlanAmendmentRequested { reason, .. } => {
                self.amendments.push(reason.clone());
                self.status = PlanStatus::AmendmentRequested;
            }
            PlanEvent::RepairPlanRevised { serials, .. } => {
                self.serials = serials.clone();
                self.status = PlanStatus::AwaitingCoSign;
            }
            PlanEvent::RepairPlanCoSigned { .. } => self.status = PlanStatus::CoSigned,
            PlanEvent::RepairPlanIssued { .. } => self.status = PlanStatus::Issued,
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlanCommand {
    /// `registered` holds the serials the adapter found registered and awaiting repair.
    Compile {
        serials: Vec<String>,
        notes: String,
        registered: BTreeSet<String>,
    },
    RequestAmendment {
        reason: String,
    },
    Revise {
        serials: Vec<String>,
        reason: String,
        registered: BTreeSet<String>,
    },
    CoSign,
    Issue,
}

fn role(ctx: &Ctx, role: Role, action: &'static str) -> Result<(), DomainError> {
    if ctx.actor.role == role {
        Ok(())
    } else {
        Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action,
        })
    }
}

fn status(state: &PlanState, expected: PlanStatus) -> Result<(), DomainError> {
    if state.status == expected {
        Ok(())
    } else if state.status == PlanStatus::None {
        Err(PlanError::NotFound.into())
    } else {
        Err(PlanError::WrongStatus {
            status: state.status.as_str(),
            expected: expected.as_str(),
        }
        .into())
    }
}

/// Units on a plan must be registered and awaiting repair: no bypass through a plan either.
fn check_units(serials: &[String], registered: &BTreeSet<String>) -> Result<(), DomainError> {
    if serials.is_empty() {
        return Err(PlanError::Empty.into());
    }
    let mut seen = BTreeSet::new();
    for s in serials {
        if !seen.insert(s) {
            return Err(PlanError::DuplicateUnit { serial: s.clone() }.into());
        }
        if !registered.contains(s) {
            return Err(PlanError::UnitNotRegistered { serial: s.clone() }.into());
        }
    }
    Ok(())
}

pub fn decide(
    state: &PlanState,
    cmd: &PlanCommand,
    ctx: &Ctx,
) -> Result<Vec<PlanEvent>, DomainError> {
    let who = ctx.actor.person_id.clone();
    let plan_id = state.plan_id.clone();
    match cmd {
        PlanCommand::Compile {
            serials,
            notes,
            registered,
        } => {
            role(ctx, Role::AfterSales, "compile a repair plan")?;
            if state.status != PlanStatus::None {
                return Err(PlanError::AlreadyExists.into());
            }
            check_units(serials, registered)?;
            Ok(vec![PlanEvent::RepairPlanCompiled {
                plan_id,
                serials: serials.clone(),
                notes: notes.clone(),
                compiled_by: who,
                at: ctx.at,
            }])
        }
        PlanCommand::RequestAmendment { reason } => {
            role(ctx, Role::Production, "request a plan amendment")?;
            status(state, PlanStatus::AwaitingCoSign)?;
            if ctx.policy.is_placeholder(reason) {
                return Err(PlanError::AmendmentReasonRequired.into());
            }
            Ok(vec![PlanEvent::RepairPlanAmendmentRequested {
                plan_id,
                reason: reason.clone(),
                requested_by: who,
                at: ctx.at,
            }])
        }
        PlanCommand::Revise {
            serials,
            reason,
            registered,
        } => {
            role(ctx, Role::AfterSales, "revise a repair plan")?;
            status(state, PlanStatus::AmendmentRequested)?;
            if ctx.policy.is_placeholder(reason) {
                return Err(PlanError::AmendmentReasonRequired.into());
            }
            check_units(serials, registered)?;
            Ok(vec![PlanEvent::RepairPlanRevised {
                plan_id,
                serials: serials.clone(),
                reason: reason.clone(),
                revised_by: who,
                at: ctx.at,
            }])
        }
        PlanCommand::CoSign => {
            role(ctx, Role::Production, "co-sign a repair plan")?;
            status(state, PlanStatus::AwaitingCoSign)?;
            Ok(vec![PlanEvent::RepairPlanCoSigned {
                plan_id,
                co_signed_by: who,
                at: ctx.at,
            }])
        }
        PlanCommand::Issue => {
            role(ctx, Role::AfterSales, "issue a repair plan")?;
            status(state, PlanStatus::CoSigned)?;
            Ok(vec![PlanEvent::RepairPlanIssued {
                plan_id,
                issued_by: who,
                at: ctx.at,
            }])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Policy};
    use chrono::TimeZone;

    fn run(state: &PlanState, actor: &Actor, cmd: PlanCommand) -> Result<PlanState, DomainError> {
        let policy = Policy::default_policy();
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let events = decide(state, &cmd, &Ctx::new(actor, at, &policy))?;
        Ok(events.iter().fold(state.clone(), |s, e| s.evolve(e)))
    }

    fn after_sales() -> Actor {
        Actor::new("as1", Role::AfterSales)
    }
    fn production() -> Actor {
        Actor::new("pr1", Role::Production)
    }

    fn compile(serials: &[&str], registered: &[&str]) -> PlanCommand {
        PlanCommand::Compile {
            serials: serials.iter().map(|s| s.to_string()).collect(),
            notes: String::new(),
            registered: registered.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_plan_is_compiled_co_signed_and_issued_in_that_order() {
        let p = run(
            &PlanState::new("P1"),
            &after_sales(),
            compile(&["A"], &["A"]),
        )
        .unwrap();
        assert_eq!(p.status, PlanStatus::AwaitingCoSign);
        assert_eq!(
            run(&p, &after_sales(), PlanCommand::Issue)
                .unwrap_err()
                .code(),
            "plan-wrong-status",
            "not issued before co-signing"
        );
        let p = run(&p, &production(), PlanCommand::CoSign).unwrap();
        let p = run(&p, &after_sales(), PlanCommand::Issue).unwrap();
        assert_eq!(p.status, PlanStatus::Issued);
        assert!(p.lists("A"));
    }

    #[test]
    fn only_after_sales_compiles_and_only_production_co_signs() {
        let e = run(
            &PlanState::new("P1"),
            &production(),
            compile(&["A"], &["A"]),
        )
        .unwrap_err();
        assert_eq!(e.code(), "role-not-permitted");
        let p = run(
            &PlanState::new("P1"),
            &after_sales(),
            compile(&["A"], &["A"]),
        )
        .unwrap();
        assert_eq!(
            run(&p, &after_sales(), PlanCommand::CoSign)
                .unwrap_err()
                .code(),
            "role-not-permitted"
        );
    }

    #[test]
    fn a_plan_lists_only_registered_units_once_and_at_least_one() {
        let new = PlanState::new("P1");
        assert_eq!(
            run(&new, &after_sales(), compile(&[], &[]))
                .unwrap_err()
                .code(),
            "plan-empty"
        );
        assert_eq!(
            run(&new, &after_sales(), compile(&["A", "B"], &["A"])).unwrap_err(),
            DomainError::Plan(PlanError::UnitNotRegistered { serial: "B".into() })
        );
        assert_eq!(
            run(&new, &after_sales(), compile(&["A", "A"], &["A"]))
                .unwrap_err()
                .code(),
            "plan-duplicate-unit"
        );
        let p = run(&new, &after_sales(), compile(&["A"], &["A"])).unwrap();
        assert_eq!(
            run(&p, &after_sales(), compile(&["A"], &["A"]))
                .unwrap_err()
                .code(),
            "plan-already-exists"
        );
    }

    #[test]
    fn a_change_during_co_signing_goes_back_in_writing_with_a_reason() {
        let p = run(
            &PlanState::new("P1"),
            &after_sales(),
            compile(&["A", "B"], &["A", "B"]),
        )
        .unwrap();
        let e = run(
            &p,
            &production(),
            PlanCommand::RequestAmendment {
                reason: " - ".into(),
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "amendment-reason-required");
        let p = run(
            &p,
            &production(),
            PlanCommand::RequestAmendment {
                reason: "line 2 is down until Thursday".into(),
            },
        )
        .unwrap();
        assert_eq!(p.status, PlanStatus::AmendmentRequested);
        assert_eq!(
            run(&p, &production(), PlanCommand::CoSign)
                .unwrap_err()
                .code(),
            "plan-wrong-status"
        );
        let p = run(
            &p,
            &after_sales(),
            PlanCommand::Revise {
                serials: vec!["A".into()],
                reason: "B moved to next week's plan".into(),
                registered: ["A".to_string()].into(),
            },
        )
        .unwrap();
        assert_eq!(
            (p.status, p.serials.clone()),
            (PlanStatus::AwaitingCoSign, vec!["A".to_string()])
        );
        assert_eq!(
            p.amendments,
            vec!["line 2 is down until Thursday".to_string()]
        );
    }
}
