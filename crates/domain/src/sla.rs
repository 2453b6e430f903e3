//! SLA timers: what a deadline rule allows (`Budget`), and how a timer stands at an instant
//! (`evaluate`). Pure: the instant comes in (`now` or an auditor's `as_of`), the calendar comes
//! from the policy the timer started under.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::policy::Policy;

/// Every deadline rule of domain.md, by the clock it runs on. The `snake_case` name is part of
/// timer ids and of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimerRule {
    /// §1 rule 3: a carried-back unit reaches after-sales within 2 working days of the
    /// receiver's return to the factory.
    CarryBack,
    /// §1 rule 13: the in-factory cycle, two weeks or the customer's date if sooner, from the
    /// unit's receipt by after-sales.
    RepairCycle,
    /// §1 rules 5 and 13: after-sales registers a received unit (返厂维修登记表) promptly, so
    /// units never pile up unregistered.
    Registration,
    /// §1 rule 14: the faulty unit is retrieved after a spare replaced it on site.
    SpareRetrieval,
    /// §2: whoever receives a request relays it to the service dept (4 working hours).
    Relay,
    /// §2: the service dept contacts the customer (4 working hours after the relay).
    Contact,
    /// §2: a consultation is answered (8 working hours after the relay).
    ConsultationAnswer,
    /// §2: a solution is determined (8 working hours after the relay).
    Solution,
    /// §2: engineers arrive on site, by distance, counted from the request.
    OnSiteArrival,
    /// §2 (001): an engineering project's request gets a reply within 24 h.
    EngineeringReply,
    /// §2: out of warranty, engineers depart within 24 h of the customer's confirmation.
    Departure,
    /// §2 / seed 004: engineers who left unfinished are back on site within the distance band.
    OnSiteRevisit,
    /// §2: the trip report, 3 working days after the return to the factory.
    TripReport,
    /// §2: borrowed parts returned within 3 days of the return to the factory.
    PartsReturn,
    /// §2: the manager confirms satisfaction and audits costs within 5 working days.
    SatisfactionCheck,
    /// §3: a complaint is resolved within 10 days (domestic) or 15 (foreign).
    ComplaintResolution,
}

impl TimerRule {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerRule::CarryBack => "carry_back",
            TimerRule::RepairCycle => "repair_cycle",
            TimerRule::Registration => "registration",
            TimerRule::SpareRetrieval => "spare_retrieval",
            TimerRule::Relay => "relay",
            TimerRule::Contact => "contact",
            TimerRule::ConsultationAnswer => "consultation_answer",
            TimerRule::Solution => "solution",
            TimerRule::OnSiteArrival => "on_site_arrival",
            TimerRule::EngineeringReply => "engineering_reply",
            TimerRule::Departure => "departure",
            TimerRule::OnSiteRevisit => "on_site_revisit",
            TimerRule::TripReport => "trip_report",
            TimerRule::PartsReturn => "parts_return",
            TimerRule::SatisfactionCheck => "satisfaction_check",
            TimerRule::ComplaintResolution => "complaint_resolution",
        }
    }
}

/// How much time a rule allows, on which clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "clock", content = "amount", rename_all = "snake_case")]
pub enum Budget {
    /// Working hours of the calendar.
    WorkingHours(u32),
    /// Until close of business on the n-th working day after the start's date.
    WorkingDays(u32),
    /// Calendar hours.
    Hours(u32),
    /// Calendar days (24 h each).
    Days(u32),
    /// A fixed instant recorded by the start event (a customer's date, a retrieval deadline).
    Until(DateTime<Utc>),
}

impl Budget {
    fn on_working_clock(self) -> bool {
        matches!(self, Budget::WorkingHours(_) | Budget::WorkingDays(_))
    }

    /// The deadline with nothing paused.
    pub fn deadline(self, start: DateTime<Utc>, cal: &Calendar) -> DateTime<Utc> {
        match self {
            Budget::WorkingHours(h) => cal.add_working(start, Duration::hours(h.into())),
            Budget::WorkingDays(d) => cal.end_of_working_days(start, d),
            Budget::Hours(h) => start + Duration::hours(h.into()),
            Budget::Days(d) => start + Duration::days(d.into()),
            Budget::Until(t) => t,
        }
    }
}

/// What a timer needs to know about its subject to find its budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimerParams {
    /// On-site timers: the distance to the site.
    pub distance_km: Option<u32>,
    /// Repair cycle: the date the customer set (end of that local day).
    pub customer_due_date: Option<NaiveDate>,
    /// A deadline the start event recorded (spare retrieval).
    pub until: Option<DateTime<Utc>>,
    /// On-site timers of engineering projects use the project's limit, not the distance bands.
    pub engineering: bool,
    /// Complaint resolution: foreign complaints have longer.
    #[serde(default)]
    pub foreign: bool,
}

/// The budget a rule allows under a policy, for a timer that started at `start`.
pub fn budget_for(
    rule: TimerRule,
    start: DateTime<Utc>,
    p: &TimerParams,
    policy: &Policy,
) -> Budget {
    let s = &policy.service;
    let r = &policy.returns;
    match rule {
        TimerRule::CarryBack => Budget::WorkingDays(r.carry_back_working_days),
        TimerRule::RepairCycle => match p.customer_due_date {
            // The customer's date counts to the end of that local day, and only if it is sooner.
            Some(d) => {
                let cal = policy.calendar();
                let cycle_end = start + Duration::days(r.repair_cycle_days.into());
                let due = cal.start_of_local_day(d.succ_opt().unwrap_or(d));
                Budget::Until(cycle_end.min(due))
            }
            None => Budget::Days(r.repair_cycle_days),
        },
        TimerRule::Registration => Budget::WorkingDays(r.registration_working_days),
        TimerRule::SpareRetrieval => match p.until {
            Some(t) => Budget::Until(t),
            None => Budget::Days(r.spare_retrieval_days),
        },
        TimerRule::Relay => Budget::WorkingHours(s.relay_working_hours),
        TimerRule::Contact => Budget::WorkingHours(s.contact_working_hours),
        TimerRule::ConsultationAnswer => Budget::WorkingHours(s.consultation_answer_working_hours),
        TimerRule::Solution => Budget::WorkingHours(s.solution_working_hours),
        TimerRule::OnSiteArrival | TimerRule::OnSiteRevisit => {
            if p.engineering {
                Budget::Hours(s.engineering_on_site_hours)
            } else {
                Budget::Hours(policy.on_site_hours(p.distance_km.unwrap_or(u32::MAX)))
            }
        }
        TimerRule::EngineeringReply => Budget::Hours(s.engineering_reply_hours),
        TimerRule::Departure => Budget::Hours(s.departure_after_confirmation_hours),
        TimerRule::TripReport => Budget::WorkingDays(s.trip_report_working_days),
        TimerRule::PartsReturn => Budget::Days(s.parts_return_days),
        TimerRule::SatisfactionCheck => Budget::WorkingDays(s.satisfaction_check_working_days),
        TimerRule::ComplaintResolution => Budget::Days(if p.foreign {
            policy.complaints.resolution_days_foreign
        } else {
            policy.complaints.resolution_days_domestic
        }),
    }
}

/// Why a clock stopped counting for a while (§2: documented exceptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// Waiting on the customer (access, a confirmation, their own preparation).
    WaitingOnCustomer,
    /// Waiting for a part to arrive.
    WaitingForParts,
    /// A public holiday period (逢年过节).
    Holiday,
    /// No tickets to travel (买不到票).
    NoTickets,
    /// Another documented exception; the note says which.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pause {
    pub from: DateTime<Utc>,
    /// Open while the clock is still paused.
    pub to: Option<DateTime<Utc>>,
    pub reason: PauseReason,
    pub note: String,
}

/// Where a timer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimerState {
    /// Counting, with time to spare.
    Running,
    /// Counting, with less than the policy's share of the budget left.
    AtRisk,
    /// Stopped by a documented exception.
    Paused,
    /// Stopped in time.
    Met,
    /// The deadline passed (stopped late, or still running past it).
    Breached,
    /// Stopped in time by an approved exception (a cancelled request), not by the duty being
    /// done: shown with its reason, counted apart from met.
    Cancelled,
}

impl TimerState {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerState::Running => "running",
            TimerState::AtRisk => "at_risk",
            TimerState::Paused => "paused",
            TimerState::Met => "met",
            TimerState::Breached => "breached",
            TimerState::Cancelled => "cancelled",
        }
    }
}

/// A timer at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evaluation {
    pub state: TimerState,
    /// The deadline after pauses; absent while paused (it moves until the clock resumes).
    pub deadline: Option<DateTime<Utc>>,
    /// Seconds left (negative: seconds late). For a stopped timer, measured at the stop.
    pub slack_seconds: Option<i64>,
    /// Whole days late, a started day counting (the unit of "10 per day late").
    pub days_late: u32,
    /// Time the clock was paused before the deadline, in seconds, on its own clock.
    pub paused_seconds: i64,
}

/// Judges a timer at `now`. `pauses` are in order; pauses that begin after the deadline passed
/// (or after the stop) do not move it: a breach is not undone by pausing later.
pub fn evaluate(
    budget: Budget,
    start: DateTime<Utc>,
    pauses: &[Pause],
    stopped_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    cal: &Calendar,
    at_risk_percent: u32,
) -> Evaluation {
    // A stop after `now` has not happened yet at `now`.
    let stopped_at = stopped_at.filter(|s| *s <= now);
    let until = stopped_at.unwrap_or(now);
    let mut deadline = budget.deadline(start, cal);
    let base = deadline;
    let mut paused_seconds = 0;
    let mut open = false;
    for p in pauses {
        if p.from >= deadline || p.from >= until {
            continue;
        }
        let end = match p.to {
            Some(t) => t.min(until),
            None => {
                open = stopped_at.is_none();
                until
            }
        };
        let extension = if budget.on_working_clock() {
            cal.working_between(p.from, end)
        } else {
            (end - p.from).max(Duration::zero())
        };
        paused_seconds += extension.num_seconds();
        deadline = if budget.on_working_clock() {
            cal.add_working(deadline, extension)
        } else {
            deadline + extension
        };
    }
    if open {
        return Evaluation {
            state: TimerState::Paused,
            deadline: None,
            slack_seconds: None,
            days_late: 0,
            paused_seconds,
        };
    }
    let slack = (deadline - until).num_seconds();
    let days_late = Calendar::days_late(deadline, until);
    let state = match (stopped_at, slack >= 0) {
        (Some(_), true) => TimerState::Met,
        (_, false) => TimerState::Breached,
        (None, true) => {
            let total = (base - start).num_seconds().max(1);
            if slack * 100 <= total * i64::from(at_risk_percent) {
                TimerState::AtRisk
            } else {
                TimerState::Running
            }
        }
    };
    Evaluation {
        state,
        deadline: Some(deadline),
        slack_seconds: Some(slack),
        days_late,
        paused_seconds,
    }
}

/// Judges a timer an approved exception stopped at `cancelled_at` (not the duty done): in time it
/// is `Cancelled`, never `Met`; a deadline that passed before the cancellation stays `Breached`,
/// as a pause after the deadline does not undo a breach.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_cancelled(
    budget: Budget,
    start: DateTime<Utc>,
    pauses: &[Pause],
    cancelled_at: DateTime<Utc>,
    now: DateTime<Utc>,
    cal: &Calendar,
    at_risk_percent: u32,
) -> Evaluation {
    let mut e = evaluate(
        budget,
        start,
        pauses,
        Some(cancelled_at),
        now,
        cal,
        at_risk_percent,
    );
    if e.state == TimerState::Met {
        e.state = TimerState::Cancelled;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

    fn local(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn eval(
        budget: Budget,
        start: DateTime<Utc>,
        pauses: &[Pause],
        stop: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Evaluation {
        let p = Policy::default_policy();
        evaluate(
            budget,
            start,
            pauses,
            stop,
            now,
            &p.calendar(),
            p.service.at_risk_percent,
        )
    }

    #[test]
    fn a_timer_stopped_before_its_deadline_is_met() {
        let e = eval(
            Budget::WorkingHours(4),
            local(3, 3, 9, 0),
            &[],
            Some(local(3, 3, 14, 0)),
            local(3, 9, 0, 0),
        );
        assert_eq!(e.state, TimerState::Met);
        assert_eq!(e.deadline, Some(local(3, 3, 14, 30)));
        assert_eq!(e.slack_seconds, Some(1800));
    }

    #[test]
    fn a_timer_stopped_after_its_deadline_is_breached_with_the_days_late() {
        let e = eval(
            Budget::WorkingDays(5),
            local(3, 2, 10, 0),
            &[],
            Some(local(3, 11, 9, 0)),
            local(3, 20, 0, 0),
        );
        // Monday + 5 working days = Monday 03-09 close (17:30); stopped Wednesday 09:00.
        assert_eq!(e.deadline, Some(local(3, 9, 17, 30)));
        assert_eq!(e.state, TimerState::Breached);
        assert_eq!(e.days_late, 2);
    }

    #[test]
    fn a_timer_cancelled_in_time_is_cancelled_not_met_and_one_cancelled_late_stays_breached() {
        let p = Policy::default_policy();
        let judge = |cancelled_at, now| {
            evaluate_cancelled(
                Budget::Hours(24),
                local(3, 3, 9, 0),
                &[],
                cancelled_at,
                now,
                &p.calendar(),
                p.service.at_risk_percent,
            )
            .state
        };
        assert_eq!(
            judge(local(3, 3, 15, 0), local(3, 9, 0, 0)),
            TimerState::Cancelled
        );
        assert_eq!(
            judge(local(3, 5, 9, 0), local(3, 9, 0, 0)),
            TimerState::Breached
        );
        // Before the cancellation happened, it was simply running.
        assert_eq!(
            judge(local(3, 3, 15, 0), local(3, 3, 10, 0)),
            TimerState::Running
        );
    }

    #[test]
    fn a_running_timer_is_at_risk_near_its_end_and_breached_after() {
        let start = local(3, 3, 9, 0);
        assert_eq!(
            eval(Budget::Hours(24), start, &[], None, local(3, 3, 10, 0)).state,
            TimerState::Running
        );
        assert_eq!(
            eval(Budget::Hours(24), start, &[], None, local(3, 4, 4, 0)).state,
            TimerState::AtRisk
        );
        assert_eq!(
            eval(Budget::Hours(24), start, &[], None, local(3, 4, 9, 1)).state,
            TimerState::Breached
        );
    }

    #[test]
    fn paused_time_does_not_count_towards_a_breach() {
        let start = local(8, 26, 15, 0);
        let pause = Pause {
            from: local(8, 26, 16, 0),
            to: Some(local(8, 31, 18, 0)),
            reason: PauseReason::WaitingForParts,
            note: "cylinder shipped from Shenyang".into(),
        };
        // 24 h from 15:00; 1 h used before the pause, 23 h after 08-31 18:00 → 09-01 17:00.
        let e = eval(
            Budget::Hours(24),
            start,
            std::slice::from_ref(&pause),
            Some(local(9, 1, 14, 30)),
            local(9, 2, 0, 0),
        );
        assert_eq!(e.deadline, Some(local(9, 1, 17, 0)));
        assert_eq!(e.state, TimerState::Met);
        // Without the pause it is a breach.
        assert_eq!(
            eval(
                Budget::Hours(24),
                start,
                &[],
                Some(local(9, 1, 14, 30)),
                local(9, 2, 0, 0)
            )
            .state,
            TimerState::Breached
        );
    }

    #[test]
    fn an_open_pause_shows_paused_and_no_deadline() {
        let pause = Pause {
            from: local(3, 3, 10, 0),
            to: None,
            reason: PauseReason::NoTickets,
            note: "no train tickets until Thursday".into(),
        };
        let e = eval(
            Budget::Hours(24),
            local(3, 3, 9, 0),
            &[pause],
            None,
            local(3, 5, 0, 0),
        );
        assert_eq!(e.state, TimerState::Paused);
        assert_eq!(e.deadline, None);
    }

    #[test]
    fn a_pause_after_the_deadline_does_not_undo_the_breach() {
        let pause = Pause {
            from: local(3, 5, 10, 0),
            to: Some(local(3, 6, 10, 0)),
            reason: PauseReason::WaitingOnCustomer,
            note: "customer away".into(),
        };
        let e = eval(
            Budget::Hours(24),
            local(3, 3, 9, 0),
            &[pause],
            Some(local(3, 6, 12, 0)),
            local(3, 7, 0, 0),
        );
        assert_eq!(e.state, TimerState::Breached);
        assert_eq!(e.paused_seconds, 0);
    }

    #[test]
    fn working_clock_pauses_count_only_working_time() {
        // 4 working hours from Tuesday 09:00; paused from 10:00 to Wednesday 10:00: 2 h + 4 h +
        // 1.5 h of working time, so the deadline moves from Tuesday 14:30 to Wednesday 14:30.
        let pause = Pause {
            from: local(3, 3, 10, 0),
            to: Some(local(3, 4, 10, 0)),
            reason: PauseReason::WaitingOnCustomer,
            note: "customer's phone off".into(),
        };
        let e = eval(
            Budget::WorkingHours(4),
            local(3, 3, 9, 0),
            &[pause],
            None,
            local(3, 4, 10, 30),
        );
        assert_eq!(e.paused_seconds, 27_000);
        assert_eq!(e.deadline, Some(local(3, 4, 14, 30)));
    }

    #[test]
    fn the_repair_cycle_is_two_weeks_or_the_customers_sooner_date() {
        let p = Policy::default_policy();
        let start = local(3, 2, 10, 0);
        let none = TimerParams::default();
        assert_eq!(
            budget_for(TimerRule::RepairCycle, start, &none, &p),
            Budget::Days(14)
        );
        let soon = TimerParams {
            customer_due_date: NaiveDate::from_ymd_opt(2026, 3, 9),
            ..Default::default()
        };
        assert_eq!(
            budget_for(TimerRule::RepairCycle, start, &soon, &p),
            Budget::Until(local(3, 10, 0, 0))
        );
        let late = TimerParams {
            customer_due_date: NaiveDate::from_ymd_opt(2026, 4, 30),
            ..Default::default()
        };
        assert_eq!(
            budget_for(TimerRule::RepairCycle, start, &late, &p),
            Budget::Until(local(3, 16, 10, 0))
        );
    }

    #[test]
    fn on_site_budgets_follow_the_distance_bands() {
        let p = Policy::default_policy();
        let b = |km| {
            budget_for(
                TimerRule::OnSiteArrival,
                local(3, 3, 9, 0),
                &TimerParams {
                    distance_km: Some(km),
                    ..Default::default()
                },
                &p,
            )
        };
        assert_eq!(b(120), Budget::Hours(24));
        assert_eq!(b(300), Budget::Hours(24));
        assert_eq!(b(301), Budget::Hours(48));
        assert_eq!(b(1000), Budget::Hours(48));
        assert_eq!(b(2500), Budget::Hours(72));
        let eng = TimerParams {
            distance_km: Some(50),
            engineering: true,
            ..Default::default()
        };
        assert_eq!(
            budget_for(TimerRule::OnSiteArrival, local(3, 3, 9, 0), &eng, &p),
            Budget::Hours(72)
        );
        assert_eq!(
            budget_for(TimerRule::EngineeringReply, local(3, 3, 9, 0), &eng, &p),
            Budget::Hours(24)
        );
    }
}
