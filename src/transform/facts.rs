//! The schema-2 facts of a category or item, checked and put in one form:
//! time windows, sold-out-until times and nutrition. Pure, like the rest of
//! the transform: a window is published as local times for the page to
//! evaluate, never evaluated here.

use std::collections::BTreeMap;

use crate::menu::{Day, Nutrition, Window};
use crate::pos::doc::WindowDoc;

/// The POS's windows in one form: days Monday first, `HH:MM` times, windows
/// with the same hours merged, sorted by first day then start. An error names
/// the window that does not read; the caller leaves its owner out rather than
/// sell it at all hours.
pub(super) fn windows(docs: &[WindowDoc]) -> Result<Vec<Window>, String> {
    let mut by_hours: BTreeMap<(String, String), Vec<Day>> = BTreeMap::new();
    for doc in docs {
        let start = local_time(&doc.start, false)
            .ok_or_else(|| format!("window start {:?} is not a time like 11:00", doc.start))?;
        let end = local_time(&doc.end, true)
            .ok_or_else(|| format!("window end {:?} is not a time like 14:00", doc.end))?;
        if doc.days.is_empty() {
            return Err(format!("window {start}-{end} names no day"));
        }
        let days = by_hours.entry((start, end)).or_default();
        for name in &doc.days {
            let day = Day::parse(name)
                .ok_or_else(|| format!("window day {name:?} is not a day of the week"))?;
            if !days.contains(&day) {
                days.push(day);
            }
        }
    }
    let mut windows: Vec<Window> = by_hours
        .into_iter()
        .map(|((start, end), mut days)| {
            days.sort();
            Window { days, start, end }
        })
        .collect();
    windows.sort_by(|a, b| (a.days[0], &a.start, &a.end).cmp(&(b.days[0], &b.start, &b.end)));
    Ok(windows)
}

/// `H:MM`, `HH:MM` or `HH:MM:SS` as `HH:MM` (seconds dropped); `24:00` only as an end.
fn local_time(text: &str, is_end: bool) -> Option<String> {
    let mut parts = text.trim().split(':');
    let hours: u32 = parts.next()?.parse().ok()?;
    let minutes_text = parts.next()?;
    if minutes_text.len() != 2 {
        return None;
    }
    let minutes: u32 = minutes_text.parse().ok()?;
    if let Some(seconds) = parts.next() {
        let seconds: u32 = seconds.parse().ok()?;
        if seconds > 59 || (hours == 24 && seconds > 0) {
            return None;
        }
    }
    if parts.next().is_some() || minutes > 59 {
        return None;
    }
    let valid = hours < 24 || (is_end && hours == 24 && minutes == 0);
    valid.then(|| format!("{hours:02}:{minutes:02}"))
}

/// A sold-out item's RFC 3339 "until", in UTC (`2026-12-03T18:00:00Z`);
/// none when the item is not sold out or the time does not read (then it
/// stays sold out until the POS says otherwise).
pub(super) fn sold_out_until(sold_out: bool, until: Option<&str>) -> Option<String> {
    let until = until.filter(|_| sold_out)?;
    let time = chrono::DateTime::parse_from_rfc3339(until.trim()).ok()?;
    Some(
        time.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )
}

/// Nutrition with every amount a finite number of 0 or more; none when no amount is left.
pub(super) fn nutrition(facts: Option<&Nutrition>) -> Option<Nutrition> {
    let mut facts = facts?.clone();
    let amounts = [
        &mut facts.energy_kcal,
        &mut facts.fat_g,
        &mut facts.carbohydrate_g,
        &mut facts.sugars_g,
        &mut facts.protein_g,
        &mut facts.salt_g,
    ];
    let mut any = false;
    for amount in amounts {
        *amount = amount.filter(|value| value.is_finite() && *value >= 0.0);
        any |= amount.is_some();
    }
    any.then_some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], start: &str, end: &str) -> WindowDoc {
        WindowDoc {
            days: days.iter().map(|day| day.to_string()).collect(),
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn windows_are_normalised_merged_and_sorted() {
        let docs = [
            window(&["FRI"], "17:00:00", "22:00:00"),
            window(&["TUE", "mon"], "11:00", "14:00"),
            window(&["Wednesday"], "11:00", "14:00"),
            window(&["SAT"], "8:30:00", "24:00"),
        ];
        let got = windows(&docs).unwrap();
        let text: Vec<String> = got
            .iter()
            .map(|w| {
                let days: Vec<&str> = w.days.iter().map(|d| d.as_str()).collect();
                format!("{} {}-{}", days.join(","), w.start, w.end)
            })
            .collect();
        assert_eq!(
            text,
            [
                "mon,tue,wed 11:00-14:00",
                "fri 17:00-22:00",
                "sat 08:30-24:00"
            ]
        );
    }

    #[test]
    fn a_window_that_does_not_read_is_an_error_naming_it() {
        for (doc, needle) in [
            (window(&["mon"], "25:00", "26:00"), "25:00"),
            (window(&["mon"], "11:0", "14:00"), "11:0"),
            (window(&["mon"], "24:00", "02:00"), "24:00"),
            (window(&["mon"], "11:00", "24:30"), "24:30"),
            (window(&["funday"], "11:00", "14:00"), "funday"),
            (window(&[], "11:00", "14:00"), "no day"),
            (window(&["mon"], "lunch", "14:00"), "lunch"),
        ] {
            let err = windows(&[doc]).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        assert!(windows(&[]).unwrap().is_empty());
    }

    #[test]
    fn sold_out_until_is_utc_and_only_for_what_is_sold_out() {
        assert_eq!(
            sold_out_until(true, Some("2026-12-04T09:00:00+09:00")).as_deref(),
            Some("2026-12-04T00:00:00Z")
        );
        assert_eq!(sold_out_until(false, Some("2026-12-04T00:00:00Z")), None);
        assert_eq!(sold_out_until(true, Some("tomorrow")), None);
        assert_eq!(sold_out_until(true, None), None);
    }
}
