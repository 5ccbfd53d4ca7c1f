//! Checks the rows, formats the table and rewrites BENCHMARKS.md's generated part.

use super::*;

pub(crate) fn check(rows: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    for row in rows {
        // The soak, the failover and the events count failed checks (lost
        // events), named in their extra.
        if row.name.starts_with("SOAK")
            || row.name.starts_with("FAILOVER")
            || row.name.starts_with("S7")
        {
            if row.failed > 0 {
                problems.push(format!("{}: {}", row.name, row.extra));
            }
            continue;
        }
        if row.failed > 0 {
            problems.push(format!("{}: {} stores failed", row.name, row.failed));
        }
        let scenario = &row.name[..2];
        match scenario {
            "S1" if row.published != row.stores => {
                problems.push(format!("S1 published {} of {}", row.published, row.stores))
            }
            // The new image and menu.json; with variants, the image is its
            // WebP and JPEG (one width: the bench's PNG is narrower than all).
            "S4" if row.published != 1
                || !(row.extra.starts_with("files written 2 ")
                    || row.extra.starts_with("files written 3 ")) =>
            {
                problems.push(format!("S4: published {}, {}", row.published, row.extra));
            }
            "S2" if row.served[2].0 != 0 || row.published != 0 => problems.push(format!(
                "S2: {} image requests, {} published",
                row.served[2].0, row.published
            )),
            "S3" if row.published != 1 => {
                problems.push(format!("S3 published {} stores, not 1", row.published));
            }
            "S5" if !row.extra.contains(" 0 runs missed, 0 doubled") => {
                problems.push(format!("S5: {}", row.extra));
            }
            // A quiet pass publishes nothing; this build's Square quiet
            // passes read the whole catalog at most once in 20 (the default
            // full_read_every), counted over the pos's passes.
            "QU" if row.published != 0 || !quiet_full_reads_bounded(row) => {
                problems.push(format!(
                    "{}: {} published; {}",
                    row.name, row.published, row.extra
                ));
            }
            _ => {}
        }
    }
    problems
}

/// Whether a QUIET Square row of this build read in full at most once in 20 passes.
fn quiet_full_reads_bounded(row: &Row) -> bool {
    if !row.name.starts_with("QUIET square") || row.name.contains("--menusync") {
        return true;
    }
    let number = |text: Option<&str>| text.and_then(|word| word.parse::<usize>().ok());
    let passes = number(row.extra.split(' ').next());
    let full_reads = number(
        row.extra
            .strip_suffix(" full catalog reads")
            .and_then(|head| head.rsplit(' ').next()),
    );
    matches!((passes, full_reads), (Some(passes), Some(full)) if full <= passes.div_ceil(20) + 1)
}

pub(crate) fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | stores | wall s | floor s | ratio | disk floor s | ratio to disk floor | CPU s (user+sys) | CPU ms/store | peak RSS MB | POST /api/menu | POST /api/images | GET images | published / unchanged / failed |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let versus = |floor: Option<f64>| match floor {
            Some(f) => (format!("{f:.2}"), format!("{:.2}×", r.wall / f)),
            None => ("–".into(), "–".into()),
        };
        let (floor, ratio) = versus(r.floor);
        let (disk_floor, disk_ratio) = versus(r.disk_floor);
        // S5's CPU is over all its ticks: per store per tick.
        let passes = if r.name.starts_with("S5") {
            r.served[0].0.max(1) as f64
        } else {
            r.stores as f64
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {floor} | {ratio} | {disk_floor} | {disk_ratio} | {:.2} | {:.2} | {:.1} | {} ({}) | {} ({}) | {} ({}) | {} / {} / {} |",
            r.name,
            r.stores,
            r.wall,
            r.cpu,
            r.cpu * 1000.0 / passes,
            r.rss_mb,
            r.served[0].0,
            mb(r.served[0].1),
            r.served[1].0,
            mb(r.served[1].1),
            r.served[2].0,
            mb(r.served[2].1),
            r.published,
            r.unchanged,
            r.failed
        );
    }
    out
}

pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap_or("MemTotal: ?")
        .split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    format!("{cores} cores ({model}), {mem} RAM")
}

pub(crate) const BEGIN: &str = "<!-- GENERATED-TABLE -->";
pub(crate) const END: &str = "<!-- END GENERATED-TABLE -->";

/// Replaces the generated part of `path` (between the markers), keeping the rest.
pub(crate) fn write_report(path: &str, generated: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (before, after) = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => (&old[..b], &old[e + END.len()..]),
        _ => ("", old.as_str()),
    };
    let text = format!("{before}{BEGIN}\n{generated}{END}{after}");
    std::fs::write(path, text).expect("write the report");
}
