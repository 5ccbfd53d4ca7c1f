//! What a customer's browser gets from a real web server (Debian's nginx)
//! serving a target: a browser that revalidates its cached `menu.json`
//! (`If-None-Match` and `If-Modified-Since`, as `Cache-Control: no-cache`
//! makes it) must get the new menu after every publish, even when two
//! publishes of the same size land within one second, in both target modes,
//! and after a rollback.
//!
//! Regression test for "browsers keep an old menu" (issue 22): nginx derives
//! both validators from the file's mtime in whole seconds and its size, and
//! rsync keeps the mtime, so a second publish in the same second answered a
//! revalidation with 304 Not Modified for changed content.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, default_images, menu_doc, serve_pos, text};
use wiremock::MockServer;

const NGINX: &str = "/usr/sbin/nginx";

/// nginx serving `root` on a free loopback port, the README's block for menu.json.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn serve(root: &Path) -> Nginx {
        assert!(
            Path::new(NGINX).is_file(),
            "{NGINX} not found: this test needs Debian's nginx (run tests/setup.sh tests)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        // A port picked by the kernel can be taken again before nginx binds it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|listener| listener.local_addr())
                .expect("a free loopback port")
                .port();
            let conf = dir.path().join("nginx.conf");
            let run = dir.path().display();
            std::fs::write(
                &conf,
                format!(
                    r#"
master_process off;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {run}/access.log;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        disable_symlinks off;
        open_file_cache off;
        location = /data/menu.json {{ add_header Cache-Control "no-cache"; }}
        location /images/ {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
    }}
}}
"#,
                    root = root.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(NGINX)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nginx starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut stderr = String::new();
                    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
                    eprintln!("nginx on port {port} exited ({status}): {stderr}");
                    break;
                }
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Nginx {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nginx did not start on a loopback port in 5 tries");
    }

    /// GET `path` with extra request headers: (status, response headers, body).
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: menu.test\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("an HTTP response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        Response {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn price(&self) -> i64 {
        let menu: serde_json::Value = serde_json::from_slice(&self.body).expect("a menu");
        common::item(&menu, "I100")["price"].as_i64().unwrap()
    }
}

/// [`Env::new`]'s store and local target `web`, in `mode`, no publish gate in the way.
fn write_config(env: &Env, mode: &str) {
    let config = std::fs::read_to_string(env.config()).unwrap();
    env.write_config(
        &config
            .replace("[daemon]\n", "[daemon]\nhold_price_change_percent = 0\n")
            .replace(
                "dest = \"web\"\n",
                &format!("dest = \"web\"\nmode = \"{mode}\"\n"),
            ),
    );
}

fn docroot(env: &Env, mode: &str) -> PathBuf {
    let store = env.path().join("web/gangnam");
    match mode {
        "files" => store,
        _ => store.join("current"),
    }
}

/// Publishes `rounds` price changes of the same size back to back, each
/// followed by a browser's revalidation of the menu it had; returns the
/// revalidations answered with anything but the new menu.
async fn stale_answers(mode: &str, rounds: i64) -> Vec<String> {
    let pos = MockServer::start().await;
    let env = Env::new(&pos.uri());
    write_config(&env, mode);
    // Four digits every round: menu.json keeps its size, only the content moves.
    let price = |round: i64| 4100 + round * 7;
    serve_pos(&pos, &menu_doc(price(0)), &default_images()).await;
    let output = env.run(&["once"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let nginx = Nginx::serve(&docroot(&env, mode));
    let mut cached = nginx.get("/data/menu.json", &[]);
    assert_eq!(cached.status, 200);
    assert_eq!(cached.price(), price(0));

    let mut stale = Vec::new();
    let mut revalidate = |cached: &Response, want: i64, what: String| {
        let answer = nginx.get(
            "/data/menu.json",
            &[
                ("If-None-Match", cached.header("etag")),
                ("If-Modified-Since", cached.header("last-modified")),
            ],
        );
        if answer.status != 200 || answer.price() != want {
            stale.push(format!(
                "{what}: {} (etag {} → {:?})",
                answer.status,
                cached.header("etag"),
                answer.headers.iter().find(|(key, _)| key == "etag")
            ));
            return None;
        }
        Some(answer)
    };
    for round in 1..=rounds {
        serve_pos(&pos, &menu_doc(price(round)), &default_images()).await;
        let output = env.run(&["once"]).await;
        assert!(output.status.success(), "{}", text(&output));
        let what = format!("{mode} round {round}");
        cached = revalidate(&cached, price(round), what)
            .unwrap_or_else(|| nginx.get("/data/menu.json", &[]));
    }
    // A rollback right after a publish goes back to an older menu of the same size.
    let output = env.run(&["rollback", "gangnam"]).await;
    assert!(output.status.success(), "{}", text(&output));
    revalidate(&cached, price(rounds - 1), format!("{mode} rollback"));
    stale
}

#[tokio::test(flavor = "multi_thread")]
async fn files_mode_revalidation_gets_every_new_menu() {
    let stale = stale_answers("files", 10).await;
    assert!(
        stale.is_empty(),
        "stale revalidations:\n{}",
        stale.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn releases_mode_revalidation_gets_every_new_menu() {
    let stale = stale_answers("releases", 10).await;
    assert!(
        stale.is_empty(),
        "stale revalidations:\n{}",
        stale.join("\n")
    );
}
