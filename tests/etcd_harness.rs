//! The etcd harness (tests/common/etcd.rs) against a real 3-member cluster,
//! and what menusync's etcd client (issue 24: active/standby) meets through
//! etcd 3.4's JSON gateway when quorum goes and comes back: which requests
//! fail, with which HTTP status and body, after how long, and which one
//! does not fail at all.

mod common;

use std::time::Duration;

use common::etcd::{EtcdCluster, Reply, b64};
use serde_json::{Value, json};

/// Longer than the gateway's own limit (5 s + 2 × the election timeout), so
/// the test sees the gateway's answer rather than its own timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The gateway answers a request it cannot serve after its request timeout:
/// 5 s + 2 × the harness's 500 ms election timeout = 6 s.
const GATEWAY_LIMIT: Duration = Duration::from_secs(10);

fn post(cluster: &EtcdCluster, member: usize, path: &str, body: Value) -> Reply {
    let reply = cluster
        .post(member, path, &body, CLIENT_TIMEOUT)
        .unwrap_or_else(|why| panic!("{path} through m{member}: {why}"));
    println!(
        "m{member} {path} {body}\n  -> HTTP {} after {:?}: {}",
        reply.status, reply.elapsed, reply.body
    );
    reply
}

/// Keeps `lease` alive through `member` until the gateway refuses (at most
/// 20 s): how many renewals it granted first, and the refusal.
fn keepalive_until_refused(cluster: &EtcdCluster, member: usize, lease: &str) -> (usize, Reply) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut renewals = 0;
    loop {
        let reply = post(cluster, member, "/v3/lease/keepalive", json!({"ID": lease}));
        if reply.status != 200 {
            return (renewals, reply);
        }
        renewals += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "m{member} kept renewing a lease for 20 s without quorum: {reply:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_three_member_cluster_forms_loses_quorum_and_regains_it() {
    let mut cluster = EtcdCluster::start(3);
    let endpoints = cluster.endpoints();
    assert_eq!(endpoints.len(), 3);
    assert!(
        endpoints
            .iter()
            .all(|url| url.starts_with("http://127.0.0.1:"))
    );
    assert!(
        !endpoints.iter().any(|url| url.ends_with(":2379")),
        "{endpoints:?}"
    );

    every_member_reads_every_write(&cluster);
    // The gateway sends 64-bit numbers as JSON strings, lease IDs included.
    let granted = post(&cluster, 0, "/v3/lease/grant", json!({"TTL": "30"}));
    assert_eq!(granted.status, 200);
    let lease = granted.body["ID"]
        .as_str()
        .expect("the lease ID is a string")
        .to_string();
    assert_eq!(granted.body["TTL"], "30");
    let survivor = lose_quorum(&mut cluster, &lease);
    regain_quorum(&mut cluster, survivor, &lease);
    one_member_down_leaves_a_quorum(&mut cluster);
}

/// Any member takes a write, and every member reads every write.
fn every_member_reads_every_write(cluster: &EtcdCluster) {
    for writer in 0..3 {
        let key = format!("harness/written-through-m{writer}");
        cluster
            .try_put(writer, &key, "가나다")
            .expect("put while quorum holds");
        for reader in 0..3 {
            assert_eq!(
                cluster
                    .try_get(reader, &key)
                    .expect("get while quorum holds"),
                Some("가나다".to_string()),
                "m{reader} reads what m{writer} wrote"
            );
        }
    }
    assert_eq!(cluster.get("harness/never-written"), None);
}

/// Stops every member but the leader: no quorum. Keeping the leader rather
/// than a follower is the case that matters to menusync (the member it talks
/// to believes it still leads), and stopping only followers hands no
/// leadership over. Returns the leader's index.
fn lose_quorum(cluster: &mut EtcdCluster, lease: &str) -> usize {
    let survivor = cluster
        .leader()
        .expect("a cluster with quorum has a leader");
    for index in (0..3).filter(|&index| index != survivor) {
        cluster.stop(index);
    }
    let key = b64("harness/fence");
    let requests = [
        ("/v3/kv/put", json!({"key": key, "value": b64("lost")})),
        (
            "/v3/kv/txn",
            json!({"compare": [{"target": "CREATE", "key": key, "create_revision": "0"}],
                   "success": [{"request_range": {"key": key}}]}),
        ),
        (
            "/v3/kv/txn",
            json!({"compare": [{"target": "CREATE", "key": key, "create_revision": "0"}],
                   "success": []}),
        ),
    ];
    // All at once: each one that fails takes the gateway's full request timeout.
    let cluster = &*cluster;
    let (keepalive, [put, fenced_read, compare_only]) = std::thread::scope(|scope| {
        let keepalive = scope.spawn(|| keepalive_until_refused(cluster, survivor, lease));
        let replies = requests
            .map(|(path, body)| scope.spawn(|| post(cluster, survivor, path, body)))
            .map(|handle| handle.join().expect("the request thread does not panic"));
        (
            keepalive
                .join()
                .expect("the keepalive thread does not panic"),
            replies,
        )
    });

    // A write fails with an HTTP error, not a hang: 500 with gRPC code 2
    // ("context deadline exceeded") or 503 with code 14 ("etcdserver: no
    // leader" / "request timed out"), once the gateway's limit has passed.
    for (what, reply) in [("put", &put), ("txn with a range", &fenced_read)] {
        assert!(
            matches!(reply.status, 500 | 503),
            "{what} without quorum: {reply:?}"
        );
        assert!(reply.body["error"].is_string(), "{what}: {reply:?}");
        assert!(reply.body["code"].is_u64(), "{what}: {reply:?}");
        assert!(reply.elapsed < GATEWAY_LIMIT, "{what}: {reply:?}");
    }
    // A leader renews leases on its own, without the quorum, until
    // check-quorum makes it step down an election timeout or so after it
    // lost its followers; then keepalives fail after the gateway's limit.
    // Keepalive is a stream in gRPC: its error has another shape.
    let (renewals, refused) = keepalive;
    println!("keepalives m{survivor} renewed without quorum before refusing: {renewals}");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.body["error"]["grpc_code"], 14, "{refused:?}");
    assert!(refused.elapsed < GATEWAY_LIMIT, "{refused:?}");
    // The trap: a txn with no operations counts as a serializable read, so
    // the member answers from its own, possibly stale, state without asking
    // the quorum. Comparing without an operation proves nothing; a fence
    // needs a put or a (linearizable) range in the txn.
    assert_eq!(compare_only.status, 200, "{compare_only:?}");
    assert_eq!(compare_only.body["succeeded"], true, "{compare_only:?}");
    survivor
}

/// Quorum back: writes succeed again, and the lease outlived the outage.
fn regain_quorum(cluster: &mut EtcdCluster, survivor: usize, lease: &str) {
    for index in (0..3).filter(|&index| index != survivor) {
        cluster.restart(index);
    }
    let took = cluster.wait_writable(survivor, Duration::from_secs(20));
    println!("writable again {took:?} after the restarts");
    cluster.put("harness/after", "back");
    assert_eq!(cluster.get("harness/after"), Some("back".to_string()));
    let renewed = post(
        cluster,
        survivor,
        "/v3/lease/keepalive",
        json!({"ID": lease}),
    );
    assert_eq!(renewed.status, 200);
    assert_eq!(renewed.body["result"]["TTL"], "30", "{renewed:?}");
}

/// A hang or a crash of one member of three leaves a quorum.
fn one_member_down_leaves_a_quorum(cluster: &mut EtcdCluster) {
    cluster.pause(1);
    cluster.wait_writable(0, Duration::from_secs(20));
    cluster.resume(1);
    cluster.kill(2);
    assert!(!cluster.is_running(2));
    cluster.wait_writable(1, Duration::from_secs(20));
    cluster.restart(2);
    cluster.wait_writable(2, Duration::from_secs(20));
}
