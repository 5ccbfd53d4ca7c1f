//! A real etcd cluster (Debian's etcd-server, 3.4) on free loopback ports, for
//! the active/standby tests (issue 24), and a small client for etcd's JSON
//! gateway (`POST /v3/...`, keys and values in base64), the API menusync uses.
//!
//! Each member has its own folder in the cluster's temp dir (`m<i>/data`, and
//! `m<i>/etcd.log` with its stdout and stderr); stopping, killing, pausing and
//! restarting members makes quorum come and go. Dropping the cluster kills
//! every member and removes the folder. It never touches the etcd service the
//! Debian package starts, nor its ports 2379/2380.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

pub const ETCD: &str = "/usr/bin/etcd";

/// How long a whole cluster may take to form and accept a write.
const FORM_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a restarted member may take to listen on its client port.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a member may take to exit after SIGTERM before it gets SIGKILL.
/// A leader first tries to hand leadership over, and when no peer can take
/// it that attempt times out after 5 s + 2 × the election timeout (6 s here).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Raft timing short enough for fast tests: a lost leader is replaced in about a second.
const HEARTBEAT_MS: u32 = 50;
const ELECTION_MS: u32 = 500;
/// Attempts at forming a cluster: a port the kernel gave us may be taken again.
const START_TRIES: usize = 3;

/// Tells clusters started by one test process apart.
static CLUSTERS: AtomicUsize = AtomicUsize::new(0);

/// One etcd process of the cluster, and where it keeps its data and log.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn log(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }
}

/// An N-member etcd cluster on 127.0.0.1; see the module docs.
pub struct EtcdCluster {
    dir: tempfile::TempDir,
    token: String,
    members: Vec<Member>,
}

/// What the gateway answered: the HTTP status, the body as JSON (`Value::String`
/// when it is not JSON), and how long the answer took.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub elapsed: Duration,
}

impl EtcdCluster {
    /// Starts `members` members with a static `--initial-cluster` and waits
    /// (at most 20 s) until a put through each member's gateway succeeds.
    /// Panics with every member's log tail when it cannot.
    pub fn start(members: usize) -> EtcdCluster {
        assert!(members > 0, "a cluster has at least one member");
        assert!(
            Path::new(ETCD).is_file(),
            "{ETCD} not found: the etcd tests need Debian's etcd-server (run tests/setup.sh tests)"
        );
        let mut failures = Vec::new();
        for _ in 0..START_TRIES {
            let mut cluster = EtcdCluster::configure(members);
            for index in 0..members {
                cluster.spawn(index, "new");
            }
            match cluster.wait_formed() {
                Ok(()) => return cluster,
                Err(why) => failures.push(format!("{why}\n{}", cluster.log_tails())),
            }
        }
        panic!(
            "etcd did not form a {members}-member cluster in {START_TRIES} tries:\n{}",
            failures.join("\n====\n")
        );
    }

    /// A fresh temp dir, token and free ports for each member; nothing running yet.
    fn configure(members: usize) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = format!(
            "menusync-test-{}-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_nanos()
        );
        let ports = free_ports(2 * members);
        let members = (0..members)
            .map(|index| {
                let member_dir = dir.path().join(format!("m{index}"));
                std::fs::create_dir_all(&member_dir).expect("member dir");
                Member {
                    name: format!("m{index}"),
                    client_port: ports[2 * index],
                    peer_port: ports[2 * index + 1],
                    dir: member_dir,
                    child: None,
                }
            })
            .collect();
        EtcdCluster {
            dir,
            token,
            members,
        }
    }

    /// Launches member `index` with `--initial-cluster-state state`, its
    /// output appended to its log.
    fn spawn(&mut self, index: usize, state: &str) {
        let initial_cluster = self
            .members
            .iter()
            .map(|member| format!("{}=http://127.0.0.1:{}", member.name, member.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let member = &self.members[index];
        let client_url = format!("http://127.0.0.1:{}", member.client_port);
        let peer_url = format!("http://127.0.0.1:{}", member.peer_port);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(member.log())
            .expect("member log opens");
        let mut command = Command::new(ETCD);
        command
            .arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(member.dir.join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", &HEARTBEAT_MS.to_string()])
            .args(["--election-timeout", &ELECTION_MS.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        // etcd reads every flag from an ETCD_* variable too: keep the caller's out.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(name);
            }
        }
        let child = command.spawn().expect("etcd starts");
        self.members[index].child = Some(child);
    }

    /// Waits until a put through every member succeeds; `Err` when a member
    /// exits (a taken port, say) or time runs out.
    fn wait_formed(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + FORM_TIMEOUT;
        for index in 0..self.members.len() {
            loop {
                // A member that died (of a taken port, say) fails the try at once.
                for member in 0..self.members.len() {
                    self.check_alive(member)?;
                }
                let last = match self.try_put(index, "menusync-test/formed", "yes") {
                    Ok(()) => break,
                    Err(why) => why,
                };
                if Instant::now() >= deadline {
                    return Err(format!(
                        "no put through m{index} within {FORM_TIMEOUT:?}: {last}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// `Err` when member `index` was started and has exited since.
    fn check_alive(&mut self, index: usize) -> Result<(), String> {
        let member = &mut self.members[index];
        match member.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => Err(format!("{} exited ({status})", member.name)),
            _ => Ok(()),
        }
    }

    /// Every member's client URL, `http://127.0.0.1:PORT`, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len())
            .map(|index| self.endpoint(index))
            .collect()
    }

    /// Member `index`'s client URL.
    pub fn endpoint(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[index].client_port)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether member `index` has a process (running or paused).
    pub fn is_running(&mut self, index: usize) -> bool {
        self.members[index].child.is_some() && self.check_alive(index).is_ok()
    }

    /// SIGTERM to member `index`, waiting (at most 15 s, then SIGKILL) until it exits.
    pub fn stop(&mut self, index: usize) {
        let Some(mut child) = self.members[index].child.take() else {
            return;
        };
        signal(&child, libc::SIGCONT);
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait().expect("wait on etcd").is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
    }

    /// SIGKILL to member `index`: it dies at once, as in a crash.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts stopped or killed member `index` again with its data dir and
    /// flags (`--initial-cluster-state existing`) and waits (at most 20 s)
    /// until it listens. It serves writes only once it reaches a quorum: see
    /// [`EtcdCluster::wait_writable`].
    pub fn restart(&mut self, index: usize) {
        assert!(
            self.members[index].child.is_none(),
            "m{index} is still running: stop or kill it first"
        );
        self.spawn(index, "existing");
        let port = self.members[index].client_port;
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Err(why) = self.check_alive(index) {
                panic!("restarting m{index}: {why}\n{}", self.log_tails());
            }
            assert!(
                Instant::now() < deadline,
                "restarted m{index} did not listen on {port} within {LISTEN_TIMEOUT:?}\n{}",
                self.log_tails()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGSTOP to member `index`: it keeps its sockets but answers nothing,
    /// like a host that hangs. Undone by [`EtcdCluster::resume`].
    pub fn pause(&mut self, index: usize) {
        signal(self.child(index), libc::SIGSTOP);
    }

    /// SIGCONT to member `index` after [`EtcdCluster::pause`].
    pub fn resume(&mut self, index: usize) {
        signal(self.child(index), libc::SIGCONT);
    }

    fn child(&self, index: usize) -> &Child {
        self.members[index]
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("m{index} is not running"))
    }

    /// Waits at most `limit` until a put through member `index` succeeds,
    /// and says how long that took.
    pub fn wait_writable(&self, index: usize, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let last = match self.try_put(index, "menusync-test/writable", "yes") {
                Ok(()) => return started.elapsed(),
                Err(why) => why,
            };
            assert!(
                started.elapsed() < limit,
                "no put through m{index} within {limit:?}: {last}\n{}",
                self.log_tails()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The index of the member that leads, as the running members see it
    /// (`/v3/maintenance/status`, served without quorum); `None` when none
    /// of them names a running member.
    pub fn leader(&self) -> Option<usize> {
        let ids: Vec<(usize, Value)> = self
            .running()
            .filter_map(|index| {
                let reply = self
                    .post(
                        index,
                        "/v3/maintenance/status",
                        &json!({}),
                        Duration::from_secs(5),
                    )
                    .ok()?;
                Some((index, reply.body))
            })
            .collect();
        let leader = ids
            .iter()
            .find_map(|(_, status)| status["leader"].as_str())?;
        ids.iter()
            .find(|(_, status)| status["header"]["member_id"] == leader)
            .map(|(index, _)| *index)
    }

    /// The last lines of every member's log, for panic messages.
    pub fn log_tails(&self) -> String {
        self.members
            .iter()
            .map(|member| {
                let text = std::fs::read_to_string(member.log()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("--- {} ({})\n{tail}", member.name, member.log().display())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The cluster's temp dir (members' data and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `POST path` with `body` to member `index`'s gateway, waiting at most `timeout`.
    pub fn post(
        &self,
        index: usize,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Reply, String> {
        post(self.members[index].client_port, path, body, timeout)
    }

    /// Puts `key` = `value` through member `index`; `Err` says why not.
    pub fn try_put(&self, index: usize, key: &str, value: &str) -> Result<(), String> {
        let body = json!({"key": b64(key), "value": b64(value)});
        let reply = self.post(index, "/v3/kv/put", &body, Duration::from_secs(10))?;
        if reply.status == 200 {
            Ok(())
        } else {
            Err(format!("HTTP {}: {}", reply.status, reply.body))
        }
    }

    /// `key`'s value read through member `index` (a linearizable read).
    pub fn try_get(&self, index: usize, key: &str) -> Result<Option<String>, String> {
        let body = json!({"key": b64(key)});
        let reply = self.post(index, "/v3/kv/range", &body, Duration::from_secs(10))?;
        if reply.status != 200 {
            return Err(format!("HTTP {}: {}", reply.status, reply.body));
        }
        // A missing key has no `kvs` at all, not an empty list.
        Ok(reply.body["kvs"][0]["value"].as_str().map(unb64))
    }

    /// Puts `key` = `value` through the first running member that accepts it.
    pub fn put(&self, key: &str, value: &str) {
        let mut errors = Vec::new();
        for index in self.running() {
            match self.try_put(index, key, value) {
                Ok(()) => return,
                Err(why) => errors.push(format!("m{index}: {why}")),
            }
        }
        panic!("no member took the put of {key}: {errors:?}");
    }

    /// `key`'s value read through the first running member that answers.
    pub fn get(&self, key: &str) -> Option<String> {
        let mut errors = Vec::new();
        for index in self.running() {
            match self.try_get(index, key) {
                Ok(value) => return value,
                Err(why) => errors.push(format!("m{index}: {why}")),
            }
        }
        panic!("no member answered a get of {key}: {errors:?}");
    }

    /// The indexes of members that have a process.
    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.members.len()).filter(|&index| self.members[index].child.is_some())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}

/// `n` distinct free loopback ports: all bound at once, so none repeats, then released.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("bound address").port())
        .collect()
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: plain kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(pid, sig) };
}

/// `text` in base64, as the gateway wants keys and values.
pub fn b64(text: &str) -> String {
    BASE64.encode(text)
}

/// A base64 key or value from the gateway, as text.
pub fn unb64(encoded: &str) -> String {
    let bytes = BASE64
        .decode(encoded)
        .unwrap_or_else(|err| panic!("the gateway sent bad base64 {encoded:?}: {err}"));
    String::from_utf8(bytes).expect("the tests store UTF-8")
}

/// `POST path` with a JSON body to the gateway on `port`, in HTTP/1.0 so the
/// answer is never chunked and ends when the connection closes. `Err` when
/// there is no connection or no whole answer within `timeout`.
pub fn post(port: u16, path: &str, body: &Value, timeout: Duration) -> Result<Reply, String> {
    let started = Instant::now();
    let address = (Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|err| format!("connect to 127.0.0.1:{port}: {err}"))?;
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|err| format!("send to 127.0.0.1:{port}: {err}"))?;
    let mut raw = Vec::new();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(format!(
                "no answer from 127.0.0.1:{port}{path} in {timeout:?}"
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .expect("a non-zero timeout");
        let mut buffer = [0; 8192];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                return Err(format!(
                    "reading 127.0.0.1:{port}{path} after {:?}: {err}",
                    started.elapsed()
                ));
            }
        }
    }
    parse_reply(&raw, started.elapsed()).ok_or_else(|| {
        format!(
            "not an HTTP answer from 127.0.0.1:{port}{path}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_reply(raw: &[u8], elapsed: Duration) -> Option<Reply> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head.lines().next()?.split(' ').nth(1)?.parse().ok()?;
    let text = String::from_utf8_lossy(&raw[split + 4..])
        .trim()
        .to_string();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Some(Reply {
        status,
        body,
        elapsed,
    })
}
