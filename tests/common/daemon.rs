//! A running `menusync run` as the daemon and cluster tests drive it:
//! its log in a file read while it runs, signals, bounded waits.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Env;

/// A running `menusync run` whose log goes to a file we can read while it runs.
pub struct Daemon {
    pub child: Child,
    log: std::path::PathBuf,
}

impl Daemon {
    pub fn start(env: &Env) -> Daemon {
        let log = env.path().join("daemon.log");
        let child = Command::new(assert_cmd::cargo::cargo_bin("menusync"))
            .arg("--config")
            .arg(env.config())
            .arg("run")
            .env(super::KEY_ENV, super::API_KEY)
            .env("MENUSYNC_LOG", "info")
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Passes that have ended, by their closing `result` line.
    pub fn passes_done(&self) -> usize {
        self.log().matches("stage=result").count()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits until `condition` holds, failing with the log after `limit`.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut condition: impl FnMut(&Daemon) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !condition(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and returns the exit status and how long the stop took.
    pub async fn stop(mut self) -> (std::process::ExitStatus, Duration, String) {
        let started = Instant::now();
        self.signal("TERM");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed(), self.log());
            }
            if started.elapsed() > Duration::from_secs(20) {
                self.child.kill().unwrap();
                panic!("the daemon ignored SIGTERM for 20 s\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
