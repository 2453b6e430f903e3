//! Penalties (考核, "asset quality loss accountability"): each breach becomes one
//! `PenaltyAssessed` against the responsible person and department, for an amount the policy's
//! scale allows; the general manager may waive it with a reason. Stream `penalty-{breach_id}`:
//! one breach, one stream, so a breach is never assessed twice, even by two managers at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::error::DomainError;
use crate::sla::TimerRule;
use crate::unit::Ctx;

/// The rules a penalty can be assessed under: every timer, and the two breaches that are not
/// deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PenaltyRule {
    CarryBack,
    RepairCycle,
    Registration,
    SpareRetrieval,
    Relay,
    Contact,
    ConsultationAnswer,
    Solution,
    OnSiteArrival,
    EngineeringReply,
    Departure,
    OnSiteRevisit,
    TripReport,
    PartsReturn,
    SatisfactionCheck,
    ComplaintResolution,
    /// Left the site without the service dept's approval (7.2.6).
    UnapprovedDeparture,
    /// Unclear or incomplete records that caused extra cost, per item (7.1.5).
    UnclearRecord,
}

impl PenaltyRule {
    pub const ALL: [PenaltyRule; 18] = [
        PenaltyRule::CarryBack,
        PenaltyRule::RepairCycle,
        PenaltyRule::Registration,
        PenaltyRule::SpareRetrieval,
        PenaltyRule::Relay,
        PenaltyRule::Contact,
        PenaltyRule::ConsultationAnswer,
        PenaltyRule::Solution,
        PenaltyRule::OnSiteArrival,
        PenaltyRule::EngineeringReply,
        PenaltyRule::Departure,
        PenaltyRule::OnSiteRevisit,
        PenaltyRule::TripReport,
        PenaltyRule::PartsReturn,
        PenaltyRule::SatisfactionCheck,
        PenaltyRule::ComplaintResolution,
        PenaltyRule::UnapprovedDeparture,
        PenaltyRule::UnclearRecord,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PenaltyRule::UnapprovedDeparture => "unapproved_departure",
            PenaltyRule::UnclearRecord => "unclear_record",
            other => other.timer().expect("every other rule is a timer").as_str(),
        }
    }

    pub fn timer(self) -> Option<TimerRule> {
        use PenaltyRule as P;
        Some(match self {
            P::CarryBack => TimerRule::CarryBack,
            P::RepairCycle => TimerRule::RepairCycle,
            P::Registration => TimerRule::Registration,
            P::SpareRetrieval => TimerRule::SpareRetrieval,
            P::Relay => TimerRule::Relay,
            P::Contact => TimerRule::Contact,
            P::ConsultationAnswer => TimerRule::ConsultationAnswer,
            P::Solution => TimerRule::Solution,
            P::OnSiteArrival => TimerRule::OnSiteArrival,
            P::EngineeringReply => TimerRule::EngineeringReply,
            P::Departure => TimerRule::Departure,
            P::OnSiteRevisit => TimerRule::OnSiteRevisit,
            P::TripReport => TimerRule::TripReport,
            P::PartsReturn => TimerRule::PartsReturn,
            P::SatisfactionCheck => TimerRule::SatisfactionCheck,
            P::ComplaintResolution => TimerRule::ComplaintResolution,
            P::UnapprovedDeparture | P::UnclearRecord => return None,
        })
    }

    pub fn from_timer(t: TimerRule) -> PenaltyRule {
        *PenaltyRule::ALL
            .iter()
            .find(|r| r.timer() == Some(t))
            .expect("every timer has a penalty rule")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum PenaltyEvent {
    PenaltyAssessed {
        penalty_id: String,
        rule: PenaltyRule,
        /// The service request id or unit serial the breach belongs to.
        subject: String,
        person_id: String,
        department: Role,
        amount_minor: i64,
        /// Per-item rules: how many items; otherwise 1.
        items: u32,
        /// Per-day rules: days late; otherwise what the timer showed.
        days_late: u32,
        /// Local month of the assessment, "YYYY-MM", for the tallies.
        month: String,
        reason: String,
        /// Log positions of the events that prove the breach.
        evidence: Vec<u64>,
        at: DateTime<Utc>,
    },
    PenaltyWaived {
        penalty_id: String,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl PenaltyEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            PenaltyEvent::PenaltyAssessed { .. } => "PenaltyAssessed",
            PenaltyEvent::PenaltyWaived { .. } => "PenaltyWaived",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PenaltyState {
    pub assessed: bool,
    pub waived: bool,
}

impl PenaltyState {
    pub fn evolve(mut self, e: &PenaltyEvent) -> Self {
        match e {
            PenaltyEvent::PenaltyAssessed { .. } => self.assessed = true,
            PenaltyEvent::PenaltyWaived { .. } => self.waived = true,
        }
        self
    }
}

/// A breach as the projections show it, found by the adapter for the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub breach_id: String,
    pub rule: PenaltyRule,
    pub subject: String,
    pub person_id: String,
    pub department: Role,
    /// False when the timer was met or is still running: nothing to assess.
    pub breached: bool,
    pub days_late: u32,
    pub evidence: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assess {
    pub breach: Breach,
    /// Required for ranges; for fixed and per-day rules it may be given and must then match.
    pub amount_minor: Option<i64>,
    /// Per-item rules (unclear records).
    pub items: Option<u32>,
    pub reason: String,
}

/// Assessed by the service dept's management or the general manager; the amount follows the
/// policy's scale for the rule.
pub fn assess(
    state: &PenaltyState,
    c: &Assess,
    ctx: &Ctx,
) -> Result<Vec<PenaltyEvent>, DomainError> {
    if !matches!(ctx.actor.role, Role::AfterSales | Role::GeneralManager) {
        return Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action: "assess a penalty",
        });
    }
    if state.assessed {
        return Err(DomainError::PenaltyAlreadyAssessed {
            penalty_id: c.breach.breach_id.clone(),
        });
    }
    if !c.breach.breached {
        return Err(DomainError::NoBreach {
            breach_id: c.breach.breach_id.clone(),
        });
    }
    if ctx.policy.is_placeholder(&c.reason) {
        return Err(DomainError::PlaceholderDescription { field: "reason" });
    }
    let scale = ctx.policy.penalty_scale(c.breach.rule);
    let per_item = c.breach.rule == PenaltyRule::UnclearRecord;
    if c.items.is_some() && !per_item {
        return Err(DomainError::InvalidInput {
            field: "items",
            reason: "only per-item rules (unclear_record) count items".into(),
        });
    }
    let items = c.items.unwrap_or(1);
    if items == 0 {
        return Err(DomainError::InvalidInput {
            field: "items",
            reason: "at least 1".into(),
        });
    }
    let fixed = if scale.per_day_minor > 0 {
        Some(scale.per_day_minor * i64::from(c.breach.days_late.max(1)))
    } else if scale.min_minor == scale.max_minor {
        Some(scale.min_minor * i64::from(items))
    } else {
        None
    };
    let amount_minor = match (fixed, c.amount_minor) {
        (Some(expected), None) => expected,
        (Some(expected), Some(a)) if a == expected => a,
        (Some(expected), Some(_)) => {
            return Err(DomainError::PenaltyAmountFixed {
                expected_minor: expected,
            })
        }
        (None, Some(a)) if (scale.min_minor..=scale.max_minor).contains(&a) => a,
        (None, _) => {
            return Err(DomainError::PenaltyOutOfRange {
                amount_minor: c.amount_minor,
                min_minor: scale.min_minor,
                max_minor: scale.max_minor,
            })
        }
    };
    Ok(vec![PenaltyEvent::PenaltyAssessed {
        penalty_id: c.breach.breach_id.clone(),
        rule: c.breach.rule,
        subject: c.breach.subject.clone(),
        person_id: c.breach.person_id.clone(),
        department: c.breach.department,
        amount_minor,
        items,
        days_late: c.breach.days_late,
        month: ctx.policy.calendar().local_month(ctx.at),
        reason: c.reason.clone(),
        evidence: c.breach.evidence.clone(),
        at: ctx.at,
    }])
}

/// Only the general manager waives, with a reason; a waiver is final.
pub fn waive(
    state: &PenaltyState,
    penalty_id: &str,
    reason: &str,
    ctx: &Ctx,
) -> Result<Vec<PenaltyEvent>, DomainError> {
    if ctx.actor.role != Role::GeneralManager {
        return Err(DomainError::RoleNotPermitted {
            role: ctx.actor.role,
            action: "waive a penalty",
        });
    }
    if !state.assessed {
        return Err(DomainError::PenaltyNotFound {
            penalty_id: penalty_id.into(),
        });
    }
    if state.waived {
        return Err(DomainError::PenaltyAlreadyWaived {
            penalty_id: penalty_id.into(),
        });
    }
    if ctx.policy.is_placeholder(reason) {
        return Err(DomainError::PlaceholderDescription { field: "reason" });
    }
    Ok(vec![PenaltyEvent::PenaltyWaived {
        penalty_id: penalty_id.into(),
        reason: reason.into(),
        at: ctx.at,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, Policy};
    use chrono::TimeZone;

    fn breach(rule: PenaltyRule, breached: bool, days_late: u32) -> Breach {
        Breach {
            breach_id: format!("SR-1.{}.1", rule.as_str()),
            rule,
            subject: "SR-1".into(),
            person_id: "zhao.ts".into(),
            department: Role::TechnicalService,
            breached,
            days_late,
            evidence: vec![7],
        }
    }

    fn run(role: Role, c: &Assess) -> Result<Vec<PenaltyEvent>, DomainError> {
        let policy = Policy::default_policy();
        let actor = Actor::new("boss", role);
        let at = Utc.with_ymd_and_hms(2026, 9, 30, 20, 0, 0).unwrap();
        assess(&PenaltyState::default(), c, &Ctx::new(&actor, at, &policy))
    }

    fn amount(events: &[PenaltyEvent]) -> i64 {
        match &events[0] {
            PenaltyEvent::PenaltyAssessed { amount_minor, .. } => *amount_minor,
            _ => unreachable!(),
        }
    }

    fn cmd(b: Breach, amount_minor: Option<i64>) -> Assess {
        Assess {
            breach: b,
            amount_minor,
            items: None,
            reason: "left the site at 15:50 with the drill unfinished".into(),
        }
    }

    #[test]
    fn a_judged_amount_must_lie_within_the_policy_range() {
        let b = breach(PenaltyRule::UnapprovedDeparture, true, 0);
        assert_eq!(
            amount(&run(Role::AfterSales, &cmd(b.clone(), Some(30_000))).unwrap()),
            30_000
        );
        for bad in [Some(4_999), Some(50_001), None] {
            assert_eq!(
                run(Role::AfterSales, &cmd(b.clone(), bad))
                    .unwrap_err()
                    .code(),
                "penalty-out-of-range"
            );
        }
    }

    #[test]
    fn fixed_amounts_are_computed_and_a_different_amount_is_refused() {
        let b = breach(PenaltyRule::Relay, true, 0);
        assert_eq!(
            amount(&run(Role::AfterSales, &cmd(b.clone(), None)).unwrap()),
            5_000
        );
        assert_eq!(
            run(Role::AfterSales, &cmd(b, Some(9_000)))
                .unwrap_err()
                .code(),
            "penalty-amount-fixed"
        );
    }

    #[test]
    fn per_day_penalties_count_the_days_late() {
        let b = breach(PenaltyRule::SatisfactionCheck, true, 3);
        assert_eq!(
            amount(&run(Role::GeneralManager, &cmd(b, None)).unwrap()),
            3_000
        );
    }

    #[test]
    fn unclear_records_are_charged_per_item() {
        let mut c = cmd(breach(PenaltyRule::UnclearRecord, true, 0), None);
        c.items = Some(3);
        assert_eq!(amount(&run(Role::AfterSales, &c).unwrap()), 15_000);
        let mut c = cmd(breach(PenaltyRule::Relay, true, 0), None);
        c.items = Some(2);
        assert_eq!(
            run(Role::AfterSales, &c).unwrap_err().code(),
            "invalid-input"
        );
    }

    #[test]
    fn a_met_timer_cannot_be_penalised_and_only_managers_assess() {
        assert_eq!(
            run(
                Role::AfterSales,
                &cmd(breach(PenaltyRule::Relay, false, 0), None)
            )
            .unwrap_err()
            .code(),
            "no-breach"
        );
        assert_eq!(
            run(Role::Qc, &cmd(breach(PenaltyRule::Relay, true, 0), None))
                .unwrap_err()
                .code(),
            "role-not-permitted"
        );
    }

    #[test]
    fn the_month_is_the_local_month_of_the_assessment() {
        // 2026-09-30 20:00 UTC is 10-01 04:00 in +08:00.
        match &run(
            Role::AfterSales,
            &cmd(breach(PenaltyRule::Relay, true, 0), None),
        )
        .unwrap()[0]
        {
            PenaltyEvent::PenaltyAssessed { month, .. } => assert_eq!(month, "2026-10"),
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_breach_is_assessed_once_and_waived_once_by_the_general_manager() {
        let policy = Policy::default_policy();
        let at = Utc.with_ymd_and_hms(2026, 9, 30, 8, 0, 0).unwrap();
        let gm = Actor::new("gm", Role::GeneralManager);
        let am = Actor::new("am", Role::AfterSales);
        let events = run(
            Role::AfterSales,
            &cmd(breach(PenaltyRule::Relay, true, 0), None),
        )
        .unwrap();
        let state = events
            .iter()
            .fold(PenaltyState::default(), |s, e| s.evolve(e));
        let again = assess(
            &state,
            &cmd(breach(PenaltyRule::Relay, true, 0), None),
            &Ctx::new(&am, at, &policy),
        );
        assert_eq!(again.unwrap_err().code(), "penalty-already-assessed");
        let refused = waive(
            &state,
            "p",
            "the customer withdrew the complaint",
            &Ctx::new(&am, at, &policy),
        );
        assert_eq!(refused.unwrap_err().code(), "role-not-permitted");
        assert_eq!(
            waive(&state, "p", "n/a", &Ctx::new(&gm, at, &policy))
                .unwrap_err()
                .code(),
            "placeholder-description"
        );
        let w = waive(
            &state,
            "p",
            "the customer withdrew the complaint",
            &Ctx::new(&gm, at, &policy),
        )
        .unwrap();
        let state = w.iter().fold(state, |s, e| s.evolve(e));
        assert_eq!(
            waive(&state, "p", "again", &Ctx::new(&gm, at, &policy))
                .unwrap_err()
                .code(),
            "penalty-already-waived"
        );
        assert_eq!(
            waive(
                &PenaltyState::default(),
                "p",
                "why",
                &Ctx::new(&gm, at, &policy)
            )
            .unwrap_err()
            .code(),
            "penalty-not-found"
        );
    }
}
