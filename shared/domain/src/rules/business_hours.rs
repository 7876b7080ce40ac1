//! Business hours: whether an account is open at an instant, in the account's own time zone.
//!
//! Channels without agent presence (WeCom) choose between the online and the offline greeting by business
//! hours instead of by who is logged in (see [`crate::model::ChannelKind::uses_agent_presence`]).
//!
//! # Format
//!
//! An account keeps its hours as the JSON of [`BusinessHours`]:
//!
//! ```json
//! {
//!   "time_zone": "Asia/Shanghai",
//!   "weekly": {"mon": ["09:00-12:00", "13:00-18:00"], "tue": ["09:00-18:00"], "sat": [], "sun": []},
//!   "holidays": ["2026-10-01", "2026-10-02"],
//!   "special_days": [{"date": "2026-10-10", "open": ["09:00-18:00"]}]
//! }
//! ```
//!
//! - `time_zone`: an IANA name (`Asia/Shanghai`, `America/New_York`); daylight saving time follows it.
//! - `weekly`: per weekday (`mon` … `sun`) a list of open intervals `HH:MM-HH:MM` in local time, start
//!   included, end excluded (`09:00-18:00` is open at 09:00:00 and closed at 18:00:00). An interval may end
//!   at `24:00` (open until midnight); it may not cross midnight (write `22:00-24:00` on one day and
//!   `00:00-02:00` on the next). A weekday left out, or with an empty list, is closed.
//! - `holidays`: dates (`YYYY-MM-DD`, local) closed all day.
//! - `special_days`: dates with their own intervals, replacing the weekday's, such as a Saturday that is a
//!   working day (调休) or a shortened day before a holiday. An empty list closes the day. A date that is both
//!   a holiday and a special day follows the special day.
//!
//! Local times that do not exist (the hour skipped when daylight saving time starts) are never open; local
//! times that happen twice (the hour repeated when it ends) are open both times if the interval covers them.
//!
//! An account **without** business hours (`None`) counts as always open ([`open_at`]); an account with
//! hours but no interval at all is always closed.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a business-hours value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessHoursError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("bad time of day {0:?} (HH:MM, 00:00 to 24:00)")]
    Time(String),
    #[error("bad interval {0:?} (HH:MM-HH:MM, start before end)")]
    Interval(String),
    #[error("bad date {0:?} (YYYY-MM-DD)")]
    Date(String),
}

/// A local time of day in minutes after midnight, `0..=1440` (`24:00` is the end of the day). Written
/// `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    pub const END_OF_DAY: TimeOfDay = TimeOfDay(24 * 60);

    pub fn new(hour: u16, minute: u16) -> Result<Self, BusinessHoursError> {
        let total = hour * 60 + minute;
        if minute >= 60 || total > 24 * 60 {
            return Err(BusinessHoursError::Time(format!("{hour:02}:{minute:02}")));
        }
        Ok(TimeOfDay(total))
    }

    /// Minutes after midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for TimeOfDay {
    type Err = BusinessHoursError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BusinessHoursError::Time(s.to_string());
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let digits = |p: &str| {
            (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten()
        };
        let (h, m) = (digits(h).ok_or_else(bad)?, digits(m).ok_or_else(bad)?);
        TimeOfDay::new(h, m).map_err(|_| bad())
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// An open interval of one day, `from` included, `to` excluded, `from < to`. Written `HH:MM-HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Interval {
    pub from: TimeOfDay,
    pub to: TimeOfDay,
}

impl Interval {
    pub fn new(from: TimeOfDay, to: TimeOfDay) -> Result<Self, BusinessHoursError> {
        if from >= to {
            return Err(BusinessHoursError::Interval(format!("{from}-{to}")));
        }
        Ok(Interval { from, to })
    }

    /// Whether `second` (seconds after local midnight) lies in the interval.
    fn contains(&self, second: u32) -> bool {
        u32::from(self.from.0) * 60 <= second && second < u32::from(self.to.0) * 60
    }
}

impl FromStr for Interval {
    type Err = BusinessHoursError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BusinessHoursError::Interval(s.to_string());
        let (from, to) = s.split_once('-').ok_or_else(bad)?;
        let (from, to) = (
            from.parse().map_err(|_| bad())?,
            to.parse().map_err(|_| bad())?,
        );
        Interval::new(from, to).map_err(|_| bad())
    }
}

impl TryFrom<String> for Interval {
    type Error = BusinessHoursError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Interval> for String {
    fn from(i: Interval) -> String {
        i.to_string()
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.from, self.to)
    }
}

/// A calendar date in the account's time zone. Written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalDate {
    year: i16,
    month: i8,
    day: i8,
}

impl LocalDate {
    pub fn new(year: i16, month: i8, day: i8) -> Result<Self, BusinessHoursError> {
        jiff::civil::Date::new(year, month, day)
            .map(Self::from)
            .map_err(|_| BusinessHoursError::Date(format!("{year:04}-{month:02}-{day:02}")))
    }
}

impl From<jiff::civil::Date> for LocalDate {
    fn from(d: jiff::civil::Date) -> Self {
        LocalDate {
            year: d.year(),
            month: d.month(),
            day: d.day(),
        }
    }
}

impl FromStr for LocalDate {
    type Err = BusinessHoursError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BusinessHoursError::Date(s.to_string());
        let mut parts = s.trim().split('-');
        let mut next = |len: usize| {
            parts
                .next()
                .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<i16>().ok())
                .ok_or_else(bad)
        };
        let (y, m, d) = (next(4)?, next(2)?, next(2)?);
        if parts.next().is_some() {
            return Err(bad());
        }
        LocalDate::new(y, m as i8, d as i8).map_err(|_| bad())
    }
}

impl TryFrom<String> for LocalDate {
    type Error = BusinessHoursError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<LocalDate> for String {
    fn from(d: LocalDate) -> String {
        d.to_string()
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Open intervals per weekday, in local time. Unknown keys are refused (a misspelt day would otherwise be
/// silently closed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weekly {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mon: Vec<Interval>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tue: Vec<Interval>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wed: Vec<Interval>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thu: Vec<Interval>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fri: Vec<Interval>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sat: Vec<Interval>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sun: Vec<Interval>,
}

impl Weekly {
    /// The same intervals Monday to Friday, weekends closed.
    pub fn weekdays(intervals: &[Interval]) -> Weekly {
        Weekly {
            mon: intervals.to_vec(),
            tue: intervals.to_vec(),
            wed: intervals.to_vec(),
            thu: intervals.to_vec(),
            fri: intervals.to_vec(),
            ..Weekly::default()
        }
    }

    fn day(&self, weekday: jiff::civil::Weekday) -> &[Interval] {
        use jiff::civil::Weekday::*;
        match weekday {
            Monday => &self.mon,
            Tuesday => &self.tue,
            Wednesday => &self.wed,
            Thursday => &self.thu,
            Friday => &self.fri,
            Saturday => &self.sat,
            Sunday => &self.sun,
        }
    }
}

/// A date with its own intervals (empty: closed all day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDay {
    pub date: LocalDate,
    #[serde(default)]
    pub open: Vec<Interval>,
}

/// An account's business hours. See the module documentation for the JSON form and the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawBusinessHours")]
pub struct BusinessHours {
    /// IANA time-zone name.
    pub time_zone: String,
    #[serde(default)]
    pub weekly: Weekly,
    /// Dates closed all day.
    #[serde(default)]
    pub holidays: Vec<LocalDate>,
    /// Dates with their own intervals, overriding both the weekly schedule and `holidays`.
    #[serde(default)]
    pub special_days: Vec<SpecialDay>,
}

/// The unchecked form, so deserialising refuses an unknown time zone.
#[derive(Deserialize)]
struct RawBusinessHours {
    time_zone: String,
    #[serde(default)]
    weekly: Weekly,
    #[serde(default)]
    holidays: Vec<LocalDate>,
    #[serde(default)]
    special_days: Vec<SpecialDay>,
}

impl TryFrom<RawBusinessHours> for BusinessHours {
    type Error = BusinessHoursError;
    fn try_from(r: RawBusinessHours) -> Result<Self, Self::Error> {
        let hours = BusinessHours {
            time_zone: r.time_zone,
            weekly: r.weekly,
            holidays: r.holidays,
            special_days: r.special_days,
        };
        hours.validate()?;
        Ok(hours)
    }
}

impl BusinessHours {
    /// Hours in `time_zone` with the given weekly schedule, no holidays and no special days.
    pub fn new(time_zone: &str, weekly: Weekly) -> Result<Self, BusinessHoursError> {
        let hours = BusinessHours {
            time_zone: time_zone.to_string(),
            weekly,
            holidays: Vec::new(),
            special_days: Vec::new(),
        };
        hours.validate()?;
        Ok(hours)
    }

    /// Checks the time zone (intervals and dates are checked when they are built or parsed).
    pub fn validate(&self) -> Result<(), BusinessHoursError> {
        self.zone().map(|_| ())
    }

    fn zone(&self) -> Result<TimeZone, BusinessHoursError> {
        TimeZone::get(&self.time_zone)
            .map_err(|_| BusinessHoursError::TimeZone(self.time_zone.clone()))
    }

    /// The intervals that apply on a local date.
    pub fn intervals_on(&self, date: LocalDate, weekday: jiff::civil::Weekday) -> &[Interval] {
        if let Some(special) = self.special_days.iter().find(|s| s.date == date) {
            return &special.open;
        }
        if self.holidays.contains(&date) {
            return &[];
        }
        self.weekly.day(weekday)
    }

    /// Whether the account is open at `at_ms` (milliseconds since the Unix epoch). Hours whose time zone is
    /// unknown (only possible when built by hand, not through deserialisation or [`BusinessHours::new`]) are
    /// closed.
    pub fn is_open(&self, at_ms: i64) -> bool {
        let (Ok(zone), Ok(at)) = (self.zone(), Timestamp::from_millisecond(at_ms)) else {
            return false;
        };
        let local = zone.to_datetime(at);
        let date = local.date();
        let second = u32::try_from(
            i32::from(local.hour()) * 3600
                + i32::from(local.minute()) * 60
                + i32::from(local.second()),
        )
        .unwrap_or(0);
        self.intervals_on(LocalDate::from(date), date.weekday())
            .iter()
            .any(|i| i.contains(second))
    }
}

/// Whether an account with these hours is open at `at_ms`: no hours configured (`None`) means always open.
pub fn open_at(hours: Option<&BusinessHours>, at_ms: i64) -> bool {
    hours.is_none_or(|h| h.is_open(at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    fn date(s: &str) -> LocalDate {
        s.parse().unwrap()
    }

    /// Milliseconds of a local wall-clock time in a zone (unambiguous times only).
    fn at(zone: &str, datetime: &str) -> i64 {
        let dt: jiff::civil::DateTime = datetime.parse().unwrap();
        dt.to_zoned_datetime(TimeZone::get(zone).unwrap())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    fn utc(datetime: &str) -> i64 {
        at("UTC", datetime)
    }

    fn shanghai_office() -> BusinessHours {
        let mut h =
            BusinessHours::new("Asia/Shanghai", Weekly::weekdays(&[iv("09:00-18:00")])).unwrap();
        // National Day: closed from Thursday 1 October; Saturday 10 October 2026 is a working day (调休).
        h.holidays = ["2026-10-01", "2026-10-02", "2026-10-05"]
            .map(date)
            .to_vec();
        h.special_days = vec![SpecialDay {
            date: date("2026-10-10"),
            open: vec![iv("09:00-18:00")],
        }];
        h
    }

    #[test]
    fn shanghai_weekdays_nine_to_six() {
        let h = shanghai_office();
        let sh = |dt: &str| h.is_open(at("Asia/Shanghai", dt));
        // Wednesday 2026-09-16.
        assert!(!sh("2026-09-16T08:59:59"));
        assert!(sh("2026-09-16T09:00:00"), "open at 09:00");
        assert!(sh("2026-09-16T17:59:59"));
        assert!(!sh("2026-09-16T18:00:00"), "closed at 18:00");
        // 09:00 in Shanghai is 01:00 UTC (no DST in China).
        assert!(h.is_open(utc("2026-09-16T01:00:00")));
        assert!(!h.is_open(utc("2026-09-16T00:59:59")));
        // Saturday 2026-09-19 and Sunday 2026-09-20.
        assert!(!sh("2026-09-19T10:00:00"), "closed on a Saturday");
        assert!(!sh("2026-09-20T10:00:00"));
        // Saturday 2026-10-10, a 调休 working day.
        assert!(sh("2026-10-10T10:00:00"), "open on a 调休 Saturday");
        assert!(!sh("2026-10-10T18:30:00"));
        // Thursday 2026-10-01, National Day.
        assert!(!sh("2026-10-01T10:00:00"), "closed on National Day");
        // The next working day after the holidays.
        assert!(sh("2026-10-08T10:00:00"));
    }

    #[test]
    fn a_special_day_wins_over_a_holiday_and_can_close_a_day() {
        let mut h = shanghai_office();
        h.special_days.push(SpecialDay {
            date: date("2026-10-02"),
            open: vec![iv("10:00-12:00")],
        });
        h.special_days.push(SpecialDay {
            date: date("2026-09-30"),
            open: vec![],
        });
        assert!(h.is_open(at("Asia/Shanghai", "2026-10-02T11:00:00")));
        assert!(!h.is_open(at("Asia/Shanghai", "2026-10-02T09:30:00")));
        assert!(!h.is_open(at("Asia/Shanghai", "2026-09-30T11:00:00")));
    }

    #[test]
    fn new_york_follows_daylight_saving_time() {
        // Weekdays 09:00-17:00 local. DST starts on Sunday 2026-03-08 (EST, UTC-5 → EDT, UTC-4).
        let h =
            BusinessHours::new("America/New_York", Weekly::weekdays(&[iv("09:00-17:00")])).unwrap();
        // Friday before: 09:00 EST = 14:00 UTC.
        assert!(!h.is_open(utc("2026-03-06T13:30:00")));
        assert!(h.is_open(utc("2026-03-06T14:00:00")));
        assert!(h.is_open(utc("2026-03-06T21:59:59")));
        assert!(!h.is_open(utc("2026-03-06T22:00:00")));
        // Monday after: 09:00 EDT = 13:00 UTC; the same UTC time as Friday's 08:30 is now open.
        assert!(h.is_open(utc("2026-03-09T13:30:00")));
        assert!(!h.is_open(utc("2026-03-09T12:59:59")));
        assert!(!h.is_open(utc("2026-03-09T21:00:00")), "17:00 EDT");
        // And back on Monday 2026-11-02 after DST ends on Sunday 2026-11-01.
        assert!(!h.is_open(utc("2026-11-02T13:30:00")));
        assert!(h.is_open(utc("2026-11-02T14:00:00")));
    }

    #[test]
    fn skipped_local_times_are_never_open_and_repeated_ones_are_open_twice() {
        let weekly = Weekly {
            sun: vec![iv("02:00-03:00"), iv("01:00-02:00")],
            ..Weekly::default()
        };
        let h = BusinessHours::new("America/New_York", weekly).unwrap();
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
        assert!(h.is_open(utc("2026-03-08T06:59:59")), "01:59:59 EST");
        assert!(!h.is_open(utc("2026-03-08T07:00:00")), "03:00 EDT");
        // 2026-11-01: 01:00-02:00 happens at 05:00 UTC (EDT) and again at 06:00 UTC (EST).
        assert!(h.is_open(utc("2026-11-01T05:30:00")));
        assert!(h.is_open(utc("2026-11-01T06:30:00")));
        assert!(h.is_open(utc("2026-11-01T07:30:00")), "02:30 EST");
        assert!(!h.is_open(utc("2026-11-01T08:00:00")), "03:00 EST");
    }

    #[test]
    fn an_interval_may_end_at_midnight() {
        let weekly = Weekly {
            fri: vec![iv("20:00-24:00")],
            sat: vec![iv("00:00-02:00")],
            ..Weekly::default()
        };
        let h = BusinessHours::new("Asia/Shanghai", weekly).unwrap();
        let sh = |dt: &str| h.is_open(at("Asia/Shanghai", dt));
        assert!(!sh("2026-09-18T19:59:59"));
        assert!(sh("2026-09-18T20:00:00"));
        assert!(sh("2026-09-18T23:59:59"), "open until 24:00");
        assert!(
            sh("2026-09-19T00:00:00"),
            "and on through Saturday's interval"
        );
        assert!(sh("2026-09-19T01:59:59"));
        assert!(!sh("2026-09-19T02:00:00"));
        assert!(!sh("2026-09-17T23:00:00"), "Thursday has no evening hours");
    }

    #[test]
    fn an_empty_schedule_is_always_closed_and_no_schedule_is_always_open() {
        let empty = BusinessHours::new("Asia/Shanghai", Weekly::default()).unwrap();
        for t in [
            utc("2026-09-16T02:00:00"),
            utc("2026-09-19T02:00:00"),
            utc("2026-12-31T23:59:59"),
        ] {
            assert!(!empty.is_open(t));
            assert!(!open_at(Some(&empty), t));
            assert!(
                open_at(None, t),
                "no business hours configured: always open"
            );
        }
    }

    #[test]
    fn json_form_round_trips_and_bad_values_are_refused() {
        let json = serde_json::json!({
            "time_zone": "Asia/Shanghai",
            "weekly": {"mon": ["09:00-12:00", "13:00-18:00"], "sat": []},
            "holidays": ["2026-10-01"],
            "special_days": [{"date": "2026-10-10", "open": ["09:00-18:00"]}]
        });
        let h: BusinessHours = serde_json::from_value(json).unwrap();
        assert_eq!(h.weekly.mon, vec![iv("09:00-12:00"), iv("13:00-18:00")]);
        assert!(h.weekly.sat.is_empty() && h.weekly.sun.is_empty());
        assert!(h.is_open(at("Asia/Shanghai", "2026-09-14T11:00:00")));
        assert!(
            !h.is_open(at("Asia/Shanghai", "2026-09-14T12:30:00")),
            "lunch"
        );
        let back: BusinessHours =
            serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        assert_eq!(
            serde_json::to_value(&h).unwrap()["weekly"]["mon"][1],
            "13:00-18:00"
        );

        let minimal: BusinessHours =
            serde_json::from_str(r#"{"time_zone": "America/New_York"}"#).unwrap();
        assert_eq!(minimal.weekly, Weekly::default());

        for bad in [
            r#"{"time_zone": "Mars/Olympus_Mons"}"#,
            r#"{"weekly": {}}"#,
            r#"{"time_zone": "UTC", "weekly": {"mon": ["18:00-09:00"]}}"#,
            r#"{"time_zone": "UTC", "weekly": {"mon": ["09:00-24:01"]}}"#,
            r#"{"time_zone": "UTC", "weekly": {"mon": ["9:00-18:00"]}}"#,
            r#"{"time_zone": "UTC", "weekly": {"mon": ["09:60-18:00"]}}"#,
            r#"{"time_zone": "UTC", "weekly": {"funday": ["09:00-18:00"]}}"#,
            r#"{"time_zone": "UTC", "holidays": ["2026-02-30"]}"#,
            r#"{"time_zone": "UTC", "holidays": ["2026-1-01"]}"#,
        ] {
            assert!(serde_json::from_str::<BusinessHours>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BusinessHours::new("Nowhere/Special", Weekly::default()),
            Err(BusinessHoursError::TimeZone("Nowhere/Special".into()))
        );
    }

    #[test]
    fn an_unknown_zone_built_by_hand_is_closed() {
        let h = BusinessHours {
            time_zone: "Nowhere/Special".into(),
            weekly: Weekly::weekdays(&[iv("00:00-24:00")]),
            holidays: vec![],
            special_days: vec![],
        };
        assert!(!h.is_open(utc("2026-09-16T12:00:00")));
    }
}
