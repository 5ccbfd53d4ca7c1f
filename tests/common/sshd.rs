//! A real sshd on 127.0.0.1, on a free port, for pushes to "remote" targets.
//!
//! It gets a generated host key and user key and a temp `authorized_keys`,
//! and runs as the test user (root in CI). Stopping and starting it again on
//! the same port makes a target go down and come back.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The sshd binary, or `None` with the reason when it is not installed.
pub fn sshd_binary() -> Result<PathBuf, String> {
    let path = PathBuf::from("/usr/sbin/sshd");
    if path.is_file() {
        Ok(path)
    } else {
        Err("no /usr/sbin/sshd (install openssh-server; .ci/run does)".to_string())
    }
}

impl Sshd {
    pub fn start() -> Sshd {
        sshd_binary().expect("sshd is installed");
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        run(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-f", &path("host_key")],
        );
        run(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-f", &path("id")],
        );
        std::fs::copy(
            dir.path().join("id.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        // sshd refuses to start without its privilege separation folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host_key = std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap();
        let key_type_and_body: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", key_type_and_body.join(" ")),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {}\n\
                 MaxStartups 100:30:200\nMaxSessions 50\nLogLevel ERROR\n",
                path("host_key"),
                path("authorized_keys"),
                path("sshd.pid"),
            ),
        )
        .unwrap();
        let mut sshd = Sshd {
            dir,
            port,
            child: None,
        };
        sshd.resume();
        sshd
    }

    /// Starts (again) on the same port and waits until it accepts connections.
    pub fn resume(&mut self) {
        let config = self.dir.path().join("sshd_config");
        let child = Command::new(sshd_binary().unwrap())
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops sshd: the target is down until `resume`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("id")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// A `[target.NAME]` section pushing to `remote_dir` on this sshd.
    pub fn target_section(&self, name: &str, remote_dir: &Path, mode: &str) -> String {
        let user = std::env::var("USER")
            .ok()
            .filter(|user| !user.is_empty())
            .unwrap_or_else(|| {
                String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
                    .unwrap()
                    .trim()
                    .to_string()
            });
        format!(
            "[target.{name}]\nkind = \"rsync\"\ndest = \"{user}@127.0.0.1:{}\"\nmode = \"{mode}\"\n\
             ssh_port = {}\nssh_key = \"{}\"\nknown_hosts = \"{}\"\nretry_backoff_secs = 1\n",
            remote_dir.display(),
            self.port,
            self.key().display(),
            self.known_hosts().display(),
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
