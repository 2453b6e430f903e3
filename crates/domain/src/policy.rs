//! The versioned policy: every number the regulations leave to the company. Never a constant in code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Months, NaiveDate, Utc};

use crate::calendar::{Calendar, CalendarPolicy};
use crate::error::DomainError;

/// Months after its publication a policy's calendar must cover: the requirement, so a
/// year's holidays are published before clocks run into it.
pub const COVERED_MONTHS: u32 = 12;

/// A policy version. Its `version` is recorded in every event decided under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: u32,
    pub returns: ReturnsPolicy,
    /// Working hours, weekends and holidays for deadlines in working time.
    pub calendar: CalendarPolicy,
    /// Field service deadlines (domain.md §2).
    pub service: ServicePolicy,
    /// Rate tables for quotes (domain.md §2, out of warranty).
    pub fees: FeesPolicy,
    /// Complaints (domain.md §3).
    pub complaints: ComplaintsPolicy,
    /// Penalty scales by rule name (`TimerRule` names, `unapproved_departure`, `unclear_record`).
    pub penalties: BTreeMap<String, PenaltyScale>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintsPolicy {
    /// Days to resolve a domestic complaint.
    pub resolution_days_domestic: u32,
    /// Days to resolve a foreign complaint.
    pub resolution_days_foreign: u32,
    /// Returns up to this weight are approved by the sales dept; heavier ones by the technical VP.
    pub sales_approval_max_kg: u32,
}

/// Field service deadlines. Hours are calendar hours unless the name says working hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePolicy {
    pub relay_working_hours: u32,
    pub contact_working_hours: u32,
    pub consultation_answer_working_hours: u32,
    pub solution_working_hours: u32,
    /// On-site arrival by distance, nearest band first; the last band has no `up_to_km`.
    pub on_site_bands: Vec<OnSiteBand>,
    pub engineering_reply_hours: u32,
    pub engineering_on_site_hours: u32,
    pub departure_after_confirmation_hours: u32,
    pub trip_report_working_days: u32,
    pub parts_return_days: u32,
    pub satisfaction_check_working_days: u32,
    /// A running timer with at most this share (percent) of its budget left is "at risk".
    pub at_risk_percent: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnSiteBand {
    pub up_to_km: Option<u32>,
    pub hours: u32,
}

/// Per-person, per-day travel rates, in minor units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayRates {
    pub lodging_minor: i64,
    pub meals_minor: i64,
    pub allowance_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerDayByCategory {
    pub own: DayRates,
    pub own_via_agent: DayRates,
    pub partner: DayRates,
    pub competitor: DayRates,
}

/// Rates in basis points (1 % = 100 bp), so money never meets a float.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeesPolicy {
    pub per_day: PerDayByCategory,
    pub partner_parts_markup_bp: i64,
    pub partner_parts_handling_fee_bp: i64,
    pub competitor_min_margin_bp: i64,
    pub engineering_markup_bp: i64,
}

/// What a breach of one rule costs the responsible person. `per_day_minor > 0`: that much per
/// day late. Otherwise `min_minor == max_minor` is a fixed amount (per time, or per item), and a
/// range is for the manager to judge within.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltyScale {
    pub min_minor: i64,
    pub max_minor: i64,
    pub per_day_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnsPolicy {
    /// Rule 3: carried-back units reach after-sales within this many working days.
    pub carry_back_working_days: u32,
    /// Rule 13: the whole in-factory cycle, in calendar days.
    pub repair_cycle_days: u32,
    /// Rules 5 and 13: working days from receipt by after-sales to registration. The seeds say
    /// only "after receiving" (接收后); 1 is our documented default. Absent in older policies.
    #[serde(default = "default_registration_working_days")]
    pub registration_working_days: u32,
    /// Rule 11: a unit produced at most this many days before it is scrapped is "young" and goes
    /// to the development dept. The seeds give no number; 365 is our documented default.
    pub young_unit_days: u32,
    /// Rule 14: days to retrieve the faulty unit after a spare replaced it on site (chosen default).
    pub spare_retrieval_days: u32,
    /// Rule 10: in-warranty repairs after which a further failure means scrap and exchange.
    pub two_strikes_repairs: u32,
    /// Rule 11: no-fault-found returns after which the unit is no longer returned.
    pub two_strikes_no_fault: u32,
    /// Rule 11: the least fee (minor units) when the customer insists on the unit back.
    pub no_fault_return_fee_min_minor: i64,
    /// Rule 1: words that say nothing ("无", "n/a"), compared after folding width and case and
    /// dropping whitespace and punctuation; a text of only whitespace, punctuation or dashes is
    /// a placeholder whatever this lists (`guard::is_placeholder`).
    pub placeholders: Vec<String>,
    /// Rule 12: which spares may return to stock (退库).
    pub return_to_stock: ReturnToStockPolicy,
}

fn default_registration_working_days() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnToStockPolicy {
    /// Recent production: at most this many days old.
    pub max_age_days: u32,
    /// High value: at least this much, in minor units.
    pub min_value_minor: i64,
    /// Low use: used on site at most this many times.
    pub max_field_uses: u32,
}

/// Why a policy document was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error("policy does not parse: {0}")]
    Parse(String),
    #[error("policy is invalid: {0}")]
    Invalid(String),
}

impl Policy {
    /// The documented defaults: the only copy (docs, the CLI and the fuzz seed point at it).
    pub const DEFAULT_TOML: &'static str = include_str!("default_policy.toml");

    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn default_policy() -> Policy {
        Policy::parse(Self::DEFAULT_TOML).expect("the shipped default policy is valid")
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let r = &self.returns;
        let checks = [
            (self.version >= 1, "version must be at least 1"),
            (
                r.carry_back_working_days >= 1,
                "carry_back_working_days must be at least 1",
            ),
            (
                r.repair_cycle_days >= 1,
                "repair_cycle_days must be at least 1",
            ),
            (
                r.registration_working_days >= 1,
                "registration_working_days must be at least 1",
            ),
            (
                r.spare_retrieval_days >= 1,
                "spare_retrieval_days must be at least 1",
            ),
            (
                r.two_strikes_repairs >= 1,
                "two_strikes_repairs must be at least 1",
            ),
            (
                r.two_strikes_no_fault >= 1,
                "two_strikes_no_fault must be at least 1",
            ),
            (
                r.no_fault_return_fee_min_minor >= 0,
                "no_fault_return_fee_min_minor must not be negative",
            ),
            (
                r.return_to_stock.min_value_minor >= 0,
                "return_to_stock.min_value_minor must not be negative",
            ),
        ];
        if let Some((_, msg)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(PolicyError::Invalid((*msg).to_string()));
        }
        self.calendar.compile().map_err(PolicyError::Invalid)?;
        let s = &self.service;
        let bands = &s.on_site_bands;
        let ordered = bands
            .windows(2)
            .all(|w| match (w[0].up_to_km, w[1].up_to_km) {
                (Some(a), Some(b)) => a < b,
                (Some(_), None) => true,
                (None, _) => false,
            });
        if bands.is_empty() || !ordered || bands.last().and_then(|b| b.up_to_km).is_some() {
            return Err(PolicyError::Invalid(
                "service.on_site_bands: nearest first, the last without up_to_km".into(),
            ));
        }
        if s.at_risk_percent > 100 {
            return Err(PolicyError::Invalid(
                "service.at_risk_percent is 0..=100".into(),
            ));
        }
        let f = &self.fees;
        let rates = [
            &f.per_day.own,
            &f.per_day.own_via_agent,
            &f.per_day.partner,
            &f.per_day.competitor,
        ];
        let bps = [
            f.partner_parts_markup_bp,
            f.partner_parts_handling_fee_bp,
            f.competitor_min_margin_bp,
            f.engineering_markup_bp,
        ];
        if rates
            .iter()
            .any(|r| r.lodging_minor < 0 || r.meals_minor < 0 || r.allowance_minor < 0)
            || bps.iter().any(|b| !(0..=100_000).contains(b))
        {
            return Err(PolicyError::Invalid(
                "fees: rates must be 0 or more, basis points 0..=100000".into(),
            ));
        }
        for rule in crate::penalty::PenaltyRule::ALL {
            let scale = self.penalties.get(rule.as_str()).ok_or_else(|| {
                PolicyError::Invalid(format!("penalties.{} is missing", rule.as_str()))
            })?;
            if scale.min_minor < 0 || scale.max_minor < scale.min_minor || scale.per_day_minor < 0 {
                return Err(PolicyError::Invalid(format!(
                    "penalties.{}: 0 <= min_minor <= max_minor, per_day_minor >= 0",
                    rule.as_str()
                )));
            }
        }
        if let Some(k) = self.penalties.keys().find(|k| {
            !crate::penalty::PenaltyRule::ALL
                .iter()
                .any(|r| r.as_str() == k.as_str())
        }) {
            return Err(PolicyError::Invalid(format!("penalties.{k} names no rule")));
        }
        Ok(())
    }

    /// Publishing this policy at `at` (the command's business time, not the wall clock): its
    /// calendar must list the holidays of every year in the 12 months that follow, local time, or
    /// working-hour clocks would run through an unlisted Spring Festival. Policies already in the
    /// log are not judged again: replaying old versions must not fail.
    pub fn decide_publish(&self, at: DateTime<Utc>) -> Result<(), DomainError> {
        let from = self.calendar().local_date(at);
        let to = from
            .checked_add_months(Months::new(COVERED_MONTHS))
            .and_then(|d| d.pred_opt())
            .unwrap_or(NaiveDate::MAX);
        let gaps = self.calendar.uncovered(from, to);
        if gaps.is_empty() {
            return Ok(());
        }
        let range = |(a, b): &(NaiveDate, NaiveDate)| format!("{a}..{b}");
        Err(DomainError::CalendarNotCovered {
            missing: gaps.iter().map(range).collect::<Vec<_>>().join(", "),
            needed: range(&(from, to)),
        })
    }

    /// The working calendar (validated when the policy was parsed).
    pub fn calendar(&self) -> Calendar {
        self.calendar
            .compile()
            .expect("validated when the policy was parsed")
    }

    /// On-site arrival limit for a distance (§2).
    pub fn on_site_hours(&self, distance_km: u32) -> u32 {
        let bands = &self.service.on_site_bands;
        bands
            .iter()
            .find(|b| b.up_to_km.is_none_or(|max| distance_km <= max))
            .or(bands.last())
            .map(|b| b.hours)
            .unwrap_or(0)
    }

    /// The scale of a penalty rule (validated present).
    pub fn penalty_scale(&self, rule: crate::penalty::PenaltyRule) -> PenaltyScale {
        self.penalties[rule.as_str()]
    }

    /// Rule 1: is this description a placeholder that says nothing? (`guard::is_placeholder`)
    pub fn is_placeholder(&self, text: &str) -> bool {
        crate::guard::is_placeholder(text, &self.returns.placeholders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_and_validates() {
        let p = Policy::default_policy();
        assert_eq!(p.returns.carry_back_working_days, 2);
        assert_eq!(p.returns.repair_cycle_days, 14);
        assert_eq!(p.returns.registration_working_days, 1);
    }

    #[test]
    fn it_should_refuse_an_unknown_field() {
        let text = Policy::DEFAULT_TOML.replace("version = 3", "version = 3\nsurprise = 3");
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Parse(_))));
    }

    #[test]
    fn it_should_refuse_a_zero_repair_cycle() {
        let text = Policy::DEFAULT_TOML.replace("repair_cycle_days = 14", "repair_cycle_days = 0");
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Invalid(_))));
    }

    fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(y, m, d, 2, 0, 0).unwrap()
    }

    #[test]
    fn the_default_policy_is_published_while_its_calendar_covers_the_next_twelve_months() {
        let p = Policy::default_policy();
        // The scenarios' clock, and the last day the 2026 to 2028 lists cover a full year.
        assert_eq!(p.decide_publish(utc(2026, 3, 2)), Ok(()));
        assert_eq!(p.decide_publish(utc(2028, 1, 1)), Ok(()));
    }

    #[test]
    fn a_policy_whose_calendar_ends_within_twelve_months_is_refused_naming_the_gap() {
        let p = Policy::default_policy();
        assert_eq!(
            p.decide_publish(utc(2028, 4, 1)),
            Err(DomainError::CalendarNotCovered {
                missing: "2029-01-01..2029-03-31".into(),
                needed: "2028-04-01..2029-03-31".into(),
            })
        );
        assert_eq!(
            p.decide_publish(utc(2028, 4, 1)).unwrap_err().code(),
            "calendar-not-covered"
        );
        // One day into the next year is already a gap.
        assert_eq!(
            p.decide_publish(utc(2028, 1, 2)),
            Err(DomainError::CalendarNotCovered {
                missing: "2029-01-01..2029-01-01".into(),
                needed: "2028-01-02..2029-01-01".into(),
            })
        );
    }

    #[test]
    fn the_coverage_is_judged_in_local_time_and_every_gap_is_named() {
        let mut p = Policy::default_policy();
        p.calendar.holidays.remove("2026");
        // 2025-12-31 17:00 UTC is already 2026-01-01 in +08:00.
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2025, 12, 31, 17, 0, 0).unwrap();
        assert_eq!(
            p.decide_publish(at),
            Err(DomainError::CalendarNotCovered {
                missing: "2026-01-01..2026-12-31".into(),
                needed: "2026-01-01..2026-12-31".into(),
            })
        );
        p.calendar.holidays.remove("2027");
        p.calendar
            .holidays
            .insert("2028".into(), vec!["2028-01-01".into()]);
        p.calendar
            .holidays
            .insert("2030".into(), vec!["2030-01-01".into()]);
        let gaps = p.calendar.uncovered(
            NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            NaiveDate::from_ymd_opt(2030, 2, 1).unwrap(),
        );
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            gaps,
            [
                (d(2026, 6, 1), d(2027, 12, 31)),
                (d(2029, 1, 1), d(2029, 12, 31))
            ]
        );
    }

    #[test]
    fn it_should_refuse_a_zero_registration_deadline() {
        let text = Policy::DEFAULT_TOML.replace(
            "registration_working_days = 1",
            "registration_working_days = 0",
        );
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Invalid(_))));
    }

    #[test]
    fn a_policy_written_before_the_registration_deadline_gets_the_documented_default() {
        let text = Policy::DEFAULT_TOML.replace("registration_working_days = 1\n", "");
        assert!(!text.contains("registration_working_days"));
        let p = toml::from_str::<Policy>(&text).expect("parses without the key");
        assert_eq!(p.returns.registration_working_days, 1);
    }

    #[test]
    fn placeholders_are_recognised_whatever_the_case_and_spacing() {
        let p = Policy::default_policy();
        for t in ["unknown", " Unknown ", "不详", "N/A", "-", ""] {
            assert!(p.is_placeholder(t), "{t:?} should be a placeholder");
        }
        assert!(!p.is_placeholder("display flickers after 10 minutes"));
    }
}
