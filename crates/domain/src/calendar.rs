//! The working calendar (工作日历): working hours, weekends, public holidays and make-up working
//! days, in the company's local time. Deadlines in working hours or working days are computed
//! here; calendar-hour deadlines do not need it.
//!
//! China keeps no daylight saving time, so a fixed UTC offset is exact; a site that needs DST
//! would swap the offset for a zone database here and nowhere else.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use serde::{Deserialize, Serialize};

/// The calendar as the policy writes it (strings, so the TOML stays readable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarPolicy {
    /// Local time's offset from UTC, such as "+08:00".
    pub utc_offset: String,
    /// Working periods of a working day, local time, in order: [["08:30", "12:00"], ...].
    pub working_periods: Vec<[String; 2]>,
    /// Days of the week that are not worked: "sat", "sun".
    pub weekend: Vec<String>,
    /// Public holidays, listed per year ("2026" = ["2026-01-01", ...]).
    pub holidays: BTreeMap<String, Vec<String>>,
    /// Weekend days that are worked to make up for a holiday (调休).
    pub make_up_working_days: Vec<String>,
}

/// A validated calendar, ready to compute with.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    offset: FixedOffset,
    periods: Vec<(NaiveTime, NaiveTime)>,
    /// Indexed by days from Monday.
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    make_up: BTreeSet<NaiveDate>,
}

/// The longest stretch a deadline search walks before it gives up: ten years of days. A policy
/// whose calendar has no working day in that span is refused when it is validated.
const MAX_DAYS: i64 = 3660;

fn parse_weekday(s: &str) -> Option<Weekday> {
    match s.trim().to_ascii_lowercase().as_str() {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

impl CalendarPolicy {
    /// Parses and checks the calendar; the error names what is wrong.
    pub fn compile(&self) -> Result<Calendar, String> {
        let offset = parse_offset(&self.utc_offset).ok_or_else(|| {
            format!(
                "calendar.utc_offset {:?} is not like \"+08:00\"",
                self.utc_offset
            )
        })?;
        let mut periods = Vec::new();
        for [from, to] in &self.working_periods {
            let t = |s: &String| {
                NaiveTime::parse_from_str(s, "%H:%M")
                    .map_err(|_| format!("calendar.working_periods: {s:?} is not HH:MM"))
            };
            let (a, b) = (t(from)?, t(to)?);
            if a >= b {
                return Err(format!("calendar.working_periods: {from}..{to} is empty"));
            }
            if periods.last().is_some_and(|&(_, end)| a < end) {
                return Err("calendar.working_periods must be in order and not overlap".into());
            }
            periods.push((a, b));
        }
        if periods.is_empty() {
            return Err("calendar.working_periods must list at least one period".into());
        }
        let mut weekend = [false; 7];
        for d in &self.weekend {
            let day = parse_weekday(d)
                .ok_or_else(|| format!("calendar.weekend: {d:?} is not mon..sun"))?;
            weekend[day.num_days_from_monday() as usize] = true;
        }
        if weekend.iter().all(|off| *off) {
            return Err("calendar.weekend leaves no working day".into());
        }
        let date = |s: &String| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| format!("calendar: {s:?} is not a date YYYY-MM-DD"))
        };
        let mut holidays = BTreeSet::new();
        for (year, days) in &self.holidays {
            for d in days {
                let d = date(d)?;
                if d.year().to_string() != *year {
                    return Err(format!("calendar.holidays.{year}: {d} is not in {year}"));
                }
                holidays.insert(d);
            }
        }
        let make_up = self
            .make_up_working_days
            .iter()
            .map(date)
            .collect::<Result<_, _>>()?;
        Ok(Calendar {
            offset,
            periods,
            weekend,
            holidays,
            make_up,
        })
    }
}

impl CalendarPolicy {
    /// The stretches of `from..=to` that fall in years without a holiday list, as inclusive date
    /// ranges. A year left out would count its Spring Festival as working time.
    pub fn uncovered(&self, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
        let mut gaps: Vec<(NaiveDate, NaiveDate)> = Vec::new();
        for year in from.year()..=to.year() {
            if self.holidays.contains_key(&year.to_string()) {
                continue;
            }
            let first = NaiveDate::from_ymd_opt(year, 1, 1).map_or(from, |d| d.max(from));
            let last = NaiveDate::from_ymd_opt(year, 12, 31).map_or(to, |d| d.min(to));
            match gaps.last_mut() {
                Some((_, end)) if end.succ_opt() == Some(first) => *end = last,
                _ => gaps.push((first, last)),
            }
        }
        gaps
    }
}

impl Calendar {
    /// The local date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.offset).date_naive()
    }

    /// The local month of an instant, "YYYY-MM": penalties are tallied by it.
    pub fn local_month(&self, t: DateTime<Utc>) -> String {
        let d = self.local_date(t);
        format!("{:04}-{:02}", d.year(), d.month())
    }

    /// Local midnight at the start of a date.
    pub fn start_of_local_day(&self, d: NaiveDate) -> DateTime<Utc> {
        self.instant(d, NaiveTime::MIN)
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        self.make_up.contains(&d)
            || !(self.weekend[d.weekday().num_days_from_monday() as usize]
                || self.holidays.contains(&d))
    }

    fn instant(&self, d: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        self.offset
            .from_local_datetime(&d.and_time(t))
            .single()
            .expect("a fixed offset maps every local time to one instant")
            .with_timezone(&Utc)
    }

    /// The working periods of a day as instants; none on a day off.
    fn periods_on(
        &self,
        d: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let working = self.is_working_day(d);
        self.periods
            .iter()
            .filter(move |_| working)
            .map(move |&(a, b)| (self.instant(d, a), self.instant(d, b)))
    }

    /// Working time between two instants (zero if `to` is not after `from`).
    pub fn working_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        if to <= from {
            return total;
        }
        let (first, last) = (self.local_date(from), self.local_date(to));
        let mut d = first;
        while d <= last {
            for (a, b) in self.periods_on(d) {
                let (s, e) = (a.max(from), b.min(to));
                if e > s {
                    total += e - s;
                }
            }
            d = d.succ_opt().expect("dates stay in range");
        }
        total
    }

    /// The instant at which `amount` of working time has passed since `start`.
    pub fn add_working(&self, start: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        let mut left = amount;
        let mut d = self.local_date(start);
        let mut last_end = start;
        for _ in 0..MAX_DAYS {
            for (a, b) in self.periods_on(d) {
                let s = a.max(start);
                if b <= s {
                    continue;
                }
                if left <= b - s {
                    return s + left;
                }
                left -= b - s;
                last_end = b;
            }
            d = d.succ_opt().expect("dates stay in range");
        }
        // Unreachable with a validated calendar; a far deadline is the honest answer anyway.
        last_end + left
    }

    /// Close of business on the `n`-th working day after the local date of `start` ("within n
    /// working days": a unit back on Friday with 2 working days is due at Tuesday's close).
    pub fn end_of_working_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let mut d = self.local_date(start);
        let mut counted = 0;
        for _ in 0..MAX_DAYS {
            if counted >= n && (n > 0 || self.is_working_day(d)) {
                break;
            }
            d = d.succ_opt().expect("dates stay in range");
            if self.is_working_day(d) {
                counted += 1;
            }
        }
        let close = self
            .periods
            .last()
            .expect("validated: at least one period")
            .1;
        self.instant(d, close).max(start)
    }

    /// Whole days (24 h) by which `t` is after `deadline`, a started day counting in full: "10 per
    /// day late" charges the first late hour as a day.
    pub fn days_late(deadline: DateTime<Utc>, t: DateTime<Utc>) -> u32 {
        if t <= deadline {
            return 0;
        }
        let secs = (t - deadline).num_seconds();
        secs.div_euclid(86_400) as u32 + u32::from(secs.rem_euclid(86_400) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn cal() -> Calendar {
        Policy::default_policy().calendar()
    }

    /// Local (+08:00) wall time as an instant.
    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn four_working_hours_within_one_morning_and_afternoon() {
        // Tuesday 2026-03-03, 09:00 + 4 h: 3 h until 12:00, 1 h after 13:30.
        assert_eq!(
            cal().add_working(local(2026, 3, 3, 9, 0), Duration::hours(4)),
            local(2026, 3, 3, 14, 30)
        );
    }

    #[test]
    fn working_hours_cross_the_night() {
        // Tuesday 16:30 + 4 h: 1 h today, 3 h from Wednesday 08:30.
        assert_eq!(
            cal().add_working(local(2026, 3, 3, 16, 30), Duration::hours(4)),
            local(2026, 3, 4, 11, 30)
        );
    }

    #[test]
    fn working_hours_cross_the_weekend() {
        // Friday 2026-03-06 16:00 + 8 h: 1.5 h Friday, 3.5 h Monday morning, 3 h after lunch.
        assert_eq!(
            cal().add_working(local(2026, 3, 6, 16, 0), Duration::hours(8)),
            local(2026, 3, 9, 16, 30)
        );
    }

    #[test]
    fn a_request_received_at_night_starts_counting_next_morning() {
        assert_eq!(
            cal().add_working(local(2026, 3, 3, 22, 0), Duration::hours(1)),
            local(2026, 3, 4, 9, 30)
        );
    }

    #[test]
    fn working_hours_cross_a_public_holiday_and_a_make_up_day() {
        // National Day 2026: 10-01..10-07 off (a Thursday to a Wednesday), Saturday 10-10 worked.
        let c = cal();
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 5).unwrap()));
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 10).unwrap()));
        // Wednesday 09-30 17:00 + 4 h: 0.5 h, then the holiday, then Thursday 10-08 from 08:30.
        assert_eq!(
            c.add_working(local(2026, 9, 30, 17, 0), Duration::hours(4)),
            local(2026, 10, 8, 12, 0)
        );
    }

    #[test]
    fn working_days_end_at_close_of_business() {
        let c = cal();
        // Tuesday → Thursday's close.
        assert_eq!(
            c.end_of_working_days(local(2026, 3, 3, 10, 0), 2),
            local(2026, 3, 5, 17, 30)
        );
        // Friday → Tuesday's close (the weekend does not count).
        assert_eq!(
            c.end_of_working_days(local(2026, 3, 6, 16, 0), 2),
            local(2026, 3, 10, 17, 30)
        );
        // Back on the eve of National Day: 3 working days are 10-08, 10-09, 10-10 (make-up).
        assert_eq!(
            c.end_of_working_days(local(2026, 9, 30, 12, 0), 3),
            local(2026, 10, 10, 17, 30)
        );
    }

    #[test]
    fn working_time_between_two_instants_skips_nights_and_lunch() {
        let c = cal();
        assert_eq!(
            c.working_between(local(2026, 3, 3, 11, 0), local(2026, 3, 3, 14, 0)),
            Duration::minutes(90)
        );
        assert_eq!(
            c.working_between(local(2026, 3, 6, 17, 0), local(2026, 3, 9, 9, 0)),
            Duration::minutes(60)
        );
        assert_eq!(
            c.working_between(local(2026, 3, 9, 9, 0), local(2026, 3, 6, 17, 0)),
            Duration::zero()
        );
    }

    #[test]
    fn days_late_count_a_started_day() {
        let d = local(2026, 3, 3, 17, 30);
        assert_eq!(Calendar::days_late(d, d), 0);
        assert_eq!(Calendar::days_late(d, d + Duration::hours(1)), 1);
        assert_eq!(Calendar::days_late(d, d + Duration::hours(49)), 3);
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_2026_days_off_and_make_up_days_are_the_state_councils() {
        let c = cal();
        let off = [
            date(2026, 1, 2),
            date(2026, 2, 16),
            date(2026, 2, 23),
            date(2026, 4, 6),
            date(2026, 5, 5),
            date(2026, 10, 7),
        ];
        let worked = [
            date(2026, 1, 4),
            date(2026, 2, 14),
            date(2026, 2, 28),
            date(2026, 5, 9),
            date(2026, 9, 20),
            date(2026, 10, 10),
        ];
        assert!(off.iter().all(|d| !c.is_working_day(*d)), "{off:?}");
        assert!(worked.iter().all(|d| c.is_working_day(*d)), "{worked:?}");
        // Spring Festival 2026 is nine days: Sunday 2-15 to Monday 2-23.
        assert!(c.is_working_day(date(2026, 2, 13)) && c.is_working_day(date(2026, 2, 24)));
    }

    #[test]
    fn the_2027_spring_festival_is_not_working_time() {
        let c = cal();
        // New Year's Eve Friday 2027-02-05 to Friday 02-12; Sunday 01-31 and Saturday 02-20 worked.
        for d in 5..=12 {
            assert!(!c.is_working_day(date(2027, 2, d)), "2027-02-{d:02}");
        }
        assert!(c.is_working_day(date(2027, 1, 31)));
        assert!(c.is_working_day(date(2027, 2, 20)));
        // Thursday 02-04 16:30 + 4 working hours: 1 h that day, 3 h on Monday 02-15.
        assert_eq!(
            c.add_working(local(2027, 2, 4, 16, 30), Duration::hours(4)),
            local(2027, 2, 15, 11, 30)
        );
    }

    #[test]
    fn the_other_2027_holidays_are_days_off() {
        let c = cal();
        for d in [
            date(2027, 1, 1),
            date(2027, 4, 5),
            date(2027, 5, 3),
            date(2027, 5, 5),
            date(2027, 6, 9),
            date(2027, 9, 15),
            date(2027, 10, 1),
            date(2027, 10, 7),
        ] {
            assert!(!c.is_working_day(d), "{d}");
        }
        for d in [date(2027, 5, 8), date(2027, 9, 26), date(2027, 10, 9)] {
            assert!(c.is_working_day(d), "{d}");
        }
        // A Wednesday holiday stands alone: Dragon Boat's Tuesday and Thursday are worked.
        assert!(c.is_working_day(date(2027, 6, 8)) && c.is_working_day(date(2027, 6, 10)));
    }

    #[test]
    fn a_calendar_without_a_working_day_is_refused() {
        let mut p = Policy::default_policy().calendar;
        p.weekend = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(String::from)
            .to_vec();
        assert!(p.compile().is_err());
        let mut p = Policy::default_policy().calendar;
        p.working_periods = vec![["13:00".into(), "12:00".into()]];
        assert!(p.compile().is_err());
        let mut p = Policy::default_policy().calendar;
        p.holidays.insert("2027".into(), vec!["2026-05-01".into()]);
        assert!(p.compile().unwrap_err().contains("not in 2027"));
    }
}
