//! Schedules: six cron fields, seconds first, each checked against its range
//! and parsed once into [`Schedule`]; and the time zones the stores' windows
//! are read in.

use std::fmt;

use toml::Spanned;

use super::checker::Checker;
use super::defaults::DEFAULT_SCHEDULE;
use super::error::ConfigError;

impl Checker<'_> {
    /// An IANA time zone name as the tz database spells it (`Asia/Seoul`).
    pub(super) fn check_time_zone(&self, zone: &Spanned<String>) -> Result<String, ConfigError> {
        let name = zone.get_ref().trim();
        match name.parse::<chrono_tz::Tz>() {
            Ok(tz) => Ok(tz.name().to_string()),
            Err(_) => Err(self.error(
                zone.span(),
                match zone_like(name) {
                    Some(zone) => format!(
                        "time_zone `{name}` is not an IANA time zone; did you mean \"{zone}\"?"
                    ),
                    None => format!(
                        "time_zone `{name}` is not an IANA time zone; write it like \
                         \"Asia/Seoul\" or \"America/New_York\""
                    ),
                },
            )),
        }
    }

    pub(super) fn check_schedule(
        &self,
        schedule: &Spanned<String>,
    ) -> Result<Schedule, ConfigError> {
        Schedule::parse(schedule.get_ref()).map_err(|reason| self.error(schedule.span(), reason))
    }
}

/// A checked schedule: parsed once, kept with its text (what the config
/// says, what the scheduler is given, what messages show). Two schedules are
/// equal when their text is.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    cron: croner::Cron,
}

impl Schedule {
    /// Parses a 6-field cron string (seconds first) the way the scheduler
    /// will, refusing one that never comes round within a year.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "schedule `{text}` has {fields} fields; it needs 6, seconds first (e.g. \"{DEFAULT_SCHEDULE}\")"
            ));
        }
        for (field, (name, min, max)) in text.split_whitespace().zip(CRON_FIELDS) {
            check_cron_field(field, name, min, max)
                .map_err(|why| format!("schedule `{text}`: {why}"))?;
        }
        let cron = parser()
            .parse(text)
            .map_err(|err| format!("schedule `{text}` does not parse: {err}"))?;
        // A pattern can parse and still never come round (30 February): the store
        // would sync once at start and never again, and never be reported stale.
        let now = chrono::Utc::now();
        match cron.find_next_occurrence(&now, false) {
            Ok(next) if next - now <= chrono::TimeDelta::days(366) => Ok(Schedule {
                text: text.to_string(),
                cron,
            }),
            _ => Err(format!(
                "schedule `{text}` never runs within a year (is that day in that month?); \
                 e.g. \"{DEFAULT_SCHEDULE}\" is every 5 minutes"
            )),
        }
    }

    /// The schedule as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The time between the two runs after `now`: the interval its stores
    /// are spread over (splay).
    pub fn interval(&self, now: chrono::DateTime<chrono::Utc>) -> Option<std::time::Duration> {
        let first = self.cron.find_next_occurrence(&now, false).ok()?;
        let second = self.cron.find_next_occurrence(&first, false).ok()?;
        (second - first).to_std().ok()
    }

    /// The run a tick arriving at `now` belongs to: the latest occurrence at
    /// or before `now` (a tick may arrive a little late).
    pub fn tick(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        // Whole seconds: croner keeps the fraction of the time it starts from.
        let whole = chrono::Timelike::with_nanosecond(&now, 0)?;
        self.cron
            .find_previous_occurrence(&whole, true)
            .ok()
            .filter(|tick| *tick <= now)
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.text == other.text
    }
}

impl Eq for Schedule {}

impl PartialEq<&str> for Schedule {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schedule").field(&self.text).finish()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
}

/// The six fields of a schedule, seconds first, with their numeric ranges.
const CRON_FIELDS: [(&str, u32, u32); 6] = [
    ("seconds", 0, 59),
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// Every number in one cron field within its range, so the message names the
/// field; names (MON, JAN), `*`, `?`, `L`, `W` and `#` are left to croner.
fn check_cron_field(field: &str, name: &str, min: u32, max: u32) -> Result<(), String> {
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (part, None),
        };
        if let Some(step) = step
            && step.parse::<u32>().is_ok_and(|step| step == 0)
        {
            return Err(format!("the {name} field `{field}` has a step of 0"));
        }
        for number in range.split('-') {
            if let Ok(value) = number.parse::<u64>()
                && !(u64::from(min)..=u64::from(max)).contains(&value)
            {
                return Err(format!(
                    "the {name} field `{field}` is out of range: {name} go from {min} to {max}"
                ));
            }
        }
    }
    Ok(())
}

/// The tz database name `name` could mean: the one equal but for case and
/// spaces (`asia/seoul`, `utc`), else the only one with that city (`Seoul`,
/// `new york`).
fn zone_like(name: &str) -> Option<&'static str> {
    let wanted = name.replace(' ', "_");
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(exact) = names().find(|zone| zone.eq_ignore_ascii_case(&wanted)) {
        return Some(exact);
    }
    let mut cities = names().filter(|zone| {
        zone.rsplit_once('/')
            .is_some_and(|(_, city)| city.eq_ignore_ascii_case(&wanted))
    });
    let first = cities.next()?;
    cities.next().is_none().then_some(first)
}
