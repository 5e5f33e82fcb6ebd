//! The real `switchboard` binary as a child process (CARGO_BIN_EXE_switchboard)
//! with a temporary config file, its stderr log captured: for crash (SIGKILL),
//! signal (SIGTERM) and log-content tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ADMIN;

/// A running switchboard process.
pub struct ChildServer {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// A config file for a child server in `dir`: loopback on a free port,
/// `db_url`, spool in `dir`, the shipped simulator, 5 s carrier idle timeout.
pub fn write_config(dir: &Path, db_url: &str, extra: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"[server]
bind = "127.0.0.1:0"
workers = 1
drain_timeout_secs = 2

[database]
url = "{db_url}"
pool_size = 4
spool_file = "{spool}"
spool_replay_secs = 1

[calls]
carrier_idle_timeout_secs = 5
# Scenarios start with the caller's turn, as in TestApp.
greet_caller = false

[model]
restart_backoff_ms = 50
connect_timeout_secs = 2
heartbeat_secs = 2

[simulator]
script = "{script}"
clips_dir = "{clips}"
{extra}
"#,
        spool = dir.join("spool.jsonl").display(),
        script = root.join("assets/sim/script.toml").display(),
        clips = root.join("assets/sim").display(),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

impl ChildServer {
    /// Spawns `switchboard --config CONFIG serve` in `dir` with `env` (plus the
    /// test admin token) and waits for its "listening" log line.
    pub fn spawn(dir: &Path, config: &Path, env: &[(&str, &str)]) -> ChildServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.arg("--config")
            .arg(config)
            .arg("serve")
            .current_dir(dir)
            .env("SWITCHBOARD_SERVER__ADMIN_TOKEN", ADMIN)
            .env("SWITCHBOARD_CLUSTER__SECRET", super::CLUSTER_SECRET)
            .env_remove("SWITCHBOARD_MODEL__API_KEY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("XAI_API_KEY")
            .env_remove("ULTRAVOX_API_KEY")
            .env_remove("SWITCHBOARD_TWILIO__AUTH_TOKEN");
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::start(cmd)
    }

    /// Spawns `cmd` (a `switchboard … serve` command, stderr not yet
    /// redirected) and waits for its "listening" log line.
    pub fn start(mut cmd: Command) -> ChildServer {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let text = log.lock().expect("log lock").clone();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.split("switchboard listening on http://").nth(1))
                .and_then(|a| a.trim().parse().ok())
            {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("switchboard exited with {status} before listening:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "switchboard did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        ChildServer { child, addr, log }
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// `ws://ADDR/media-stream`.
    pub fn media_url(&self) -> String {
        format!("ws://{}/media-stream", self.addr)
    }

    /// `http://ADDR{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM (`kill -TERM PID`).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits up to `timeout` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
