//! FAILOVER (issue 24): two `menusync run` hosts, `a` and `b`, each with its
//! own state folder, on a real three-member etcd (Debian's etcd-server), both
//! pushing to one local target in `releases` mode. Round after round the
//! leader is killed with SIGKILL while one store's menu changes at the POS;
//! the harness records when the standby leads and when the target serves the
//! change, counts pushes of the stores that did not change (on the target:
//! a new `.epoch` or a moved `current`; in the new leader's log: `deployed`
//! lines), then starts the killed host again as the next standby.

use super::*;
use etcd::EtcdCluster;

/// How long one step of a round may take before the run is abandoned.
const STEP_LIMIT: Duration = Duration::from_secs(120);

pub(crate) struct FailoverSizes {
    pub(crate) stores: usize,
    /// Leader kills, one a round.
    pub(crate) kills: usize,
    /// `lease_ttl_secs` of the cluster.
    pub(crate) ttl: u64,
}

/// One host: its universe (state folder, config, log) and its daemon.
struct Host {
    member: &'static str,
    u: Universe,
    daemon: Option<Measured>,
}

impl Host {
    fn start(&mut self, plan: &Plan) {
        self.daemon = Some(self.u.spawn(&["run".to_string()], &plan.wrap));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.u.log_path()).unwrap_or_default()
    }

    /// The log from byte `from` on.
    fn log_since(&self, from: usize) -> String {
        let log = self.log();
        log.get(from..).unwrap_or_default().to_string()
    }

    fn kill_9(&mut self) -> Measured {
        let daemon = self.daemon.take().expect("a running daemon");
        // SAFETY: plain kill(2) on our helper's child, which it has not waited for.
        unsafe { libc::kill(daemon.pid as libc::pid_t, libc::SIGKILL) };
        daemon
    }
}

/// Waits until `condition` holds, at most [`STEP_LIMIT`]; how long it took.
async fn until(what: &str, hosts: &[&Host], mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > STEP_LIMIT {
            let logs: Vec<String> = hosts
                .iter()
                .map(|h| h.u.log_path().display().to_string())
                .collect();
            panic!(
                "FAILOVER: {what} took over {STEP_LIMIT:?}; see {}",
                logs.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// What a target shows of one store: its `.epoch` and where `current` points.
fn on_target(web: &Path, id: &str) -> (String, Option<PathBuf>) {
    let folder = web.join(id);
    (
        std::fs::read_to_string(folder.join(".epoch")).unwrap_or_default(),
        std::fs::read_link(folder.join("current")).ok(),
    )
}

/// The stores named by `deployed` lines of `log`.
fn deployed_stores(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(" deployed"))
        .filter_map(|line| {
            let rest = &line[line.find("store=")? + "store=".len()..];
            let end = rest.find([' ', '}', ':']).unwrap_or(rest.len());
            Some(rest[..end].trim_matches('"').to_string())
        })
        .collect()
}

fn quantiles(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return "none".into();
    }
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:.1} s, p99 {:.1} s, max {:.1} s",
        at(0.5),
        at(0.99),
        values[values.len() - 1]
    )
}

pub(crate) async fn failover(pos: &Pos, sizes: &FailoverSizes, plan: &Plan) -> Row {
    let started = Instant::now();
    let cluster = EtcdCluster::start(3);
    let web = tempfile::tempdir().expect("the target's folder");
    let endpoints: Vec<String> = cluster
        .endpoints()
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect();
    let target = format!(
        "dest = \"{}\"\nmode = \"releases\"\nretry_backoff_secs = 1\n",
        web.path().display()
    );
    let host = |member: &'static str| {
        let sections = format!(
            "\n[cluster]\nendpoints = [{}]\nname = \"bench\"\nmember = \"{member}\"\nlease_ttl_secs = {}\n",
            endpoints.join(", "),
            sizes.ttl
        );
        let u = universe(
            pos,
            &Shape {
                name: "failover",
                stores: sizes.stores,
                images: 2,
                items: 10,
                concurrency: 16,
                schedule: Some("* * * * * *".into()),
                daemon_extra: "",
                target: Some(&target),
                sections: &sections,
            },
        );
        Host {
            member,
            u,
            daemon: None,
        }
    };
    let mut hosts = [host("a"), host("b")];
    let ids = hosts[0].u.ids.clone();
    let pos_ids = hosts[0].u.pos_ids.clone();
    let menu = |n: usize| web.path().join(&ids[n]).join("current/data/menu.json");

    hosts[0].start(plan);
    until(
        "a's first lead and every store served",
        &[&hosts[0]],
        || {
            hosts[0].log().contains("leading the cluster")
                && (0..ids.len()).all(|n| menu(n).exists())
        },
    )
    .await;
    hosts[1].start(plan);
    until("b standing by", &[&hosts[1]], || {
        hosts[1].log().contains("standing by")
    })
    .await;

    let mut rng = seeded(&[24]);
    let (mut takeovers, mut served) = (Vec::new(), Vec::new());
    let (mut target_pushes, mut logged_pushes) = (0usize, 0usize);
    let mut leader = 0;
    for round in 0..sizes.kills {
        let standby = 1 - leader;
        let changed = (xorshift(&mut rng) % ids.len() as u64) as usize;
        let before: Vec<_> = ids.iter().map(|id| on_target(web.path(), id)).collect();
        let old_menu = std::fs::read(menu(changed)).unwrap_or_default();
        let mark = hosts[standby].log().len();

        // The kill lands at a random point of the leader's renewal cycle
        // (every TTL/3), so the rounds sample the whole spread of lease
        // expiries rather than one phase the harness's own rhythm picks.
        let cycle = sizes.ttl * 1000 / 3;
        let jitter = xorshift(&mut rng) % cycle.max(1);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        let killed = hosts[leader].kill_9();
        let t0 = Instant::now();
        pos.control(
            reqwest::Method::POST,
            "_change",
            format!("price {}", pos_ids[changed]),
        )
        .await;
        let what = format!("round {round}: {} leading", hosts[standby].member);
        until(&what, &[&hosts[standby]], || {
            hosts[standby]
                .log_since(mark)
                .contains("leading the cluster")
        })
        .await;
        takeovers.push(t0.elapsed().as_secs_f64());
        let what = format!("round {round}: the change to {} served", ids[changed]);
        until(&what, &[&hosts[standby]], || {
            std::fs::read(menu(changed)).is_ok_and(|now| now != old_menu)
        })
        .await;
        served.push(t0.elapsed().as_secs_f64());
        // Two more passes of every store by the new leader: any push of an
        // unchanged store would have happened by then.
        let what = format!("round {round}: two passes of every store");
        until(&what, &[&hosts[standby]], || {
            let since = hosts[standby].log_since(mark);
            let leading = since.find("leading the cluster").unwrap_or(since.len());
            since[leading..].matches("stage=result").count() > 2 * ids.len()
        })
        .await;
        for (n, id) in ids.iter().enumerate() {
            if n != changed && on_target(web.path(), id) != before[n] {
                target_pushes += 1;
            }
        }
        logged_pushes += deployed_stores(&hosts[standby].log_since(mark))
            .iter()
            .filter(|store| **store != ids[changed])
            .count();

        tokio::task::spawn_blocking(move || killed.wait())
            .await
            .expect("wait");
        let mark = hosts[leader].log().len();
        hosts[leader].start(plan);
        let what = format!("round {round}: {} standing by again", hosts[leader].member);
        until(&what, &[&hosts[leader]], || {
            hosts[leader].log_since(mark).contains("standing by")
        })
        .await;
        leader = standby;
    }

    let mut exits = Vec::new();
    for host in &mut hosts {
        let daemon = host.daemon.take().expect("running");
        terminate(daemon.pid);
        let usage = tokio::task::spawn_blocking(move || daemon.wait())
            .await
            .expect("wait");
        exits.push(usage.exit);
    }
    drop(cluster);
    let clean = exits.iter().all(|exit| *exit == Some(0));
    Row {
        name: "FAILOVER".into(),
        stores: sizes.stores,
        wall: started.elapsed().as_secs_f64(),
        failed: target_pushes + logged_pushes + usize::from(!clean),
        extra: format!(
            "{} leader kills (kill -9), lease TTL {} s, schedule every 1 s, {} stores: \
             kill to the standby leading {}; kill to a change made at the kill served {}; \
             pushes of unchanged stores after failover: {target_pushes} on the target \
             (new .epoch or current), {logged_pushes} `deployed` lines (goal 0); \
             exits at the end {exits:?}",
            sizes.kills,
            sizes.ttl,
            sizes.stores,
            quantiles(takeovers),
            quantiles(served),
        ),
        ..Row::default()
    }
}
