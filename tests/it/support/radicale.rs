//! A real CalDAV server for the calendar tests: Radicale (installed from PyPI
//! by .ci/run into the venv `SWITCHBOARD_PYTHON` names) on an ephemeral
//! loopback port with a temporary storage folder and plain htpasswd users,
//! and the business owner's side played by the Python `caldav` client
//! library (tests/python/caldav_owner.py).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The owner's account on every test Radicale.
pub const OWNER: &str = "dana";
/// The owner's password (switchboard reads it from [`PASSWORD_ENV`]).
pub const PASSWORD: &str = "app-password-1";
/// The variable `[tenants.calendar] password_env` names in the tests.
pub const PASSWORD_ENV: &str = "SWITCHBOARD_TEST_CALDAV_PASSWORD";

/// The Python with `radicale`, `caldav` and `icalendar`: `SWITCHBOARD_PYTHON`
/// (set by .ci/run), else the venv .ci/run keeps in ~/.cache, else `python3`.
pub fn python() -> String {
    let cached = std::env::var("HOME")
        .map(|home| format!("{home}/.cache/switchboard-python/bin/python"))
        .ok()
        .filter(|p| std::path::Path::new(p).exists());
    std::env::var("SWITCHBOARD_PYTHON")
        .ok()
        .or(cached)
        .unwrap_or_else(|| "python3".into())
}

/// A running Radicale; killed on drop.
pub struct Radicale {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Radicale {
    /// Radicale on a free loopback port, everyone's own collections writable.
    pub fn start() -> Radicale {
        let dir = tempfile::tempdir().expect("radicale dir");
        std::fs::write(dir.path().join("users"), format!("{OWNER}:{PASSWORD}\n")).expect("users");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut radicale = Radicale {
            child: None,
            port,
            dir,
        };
        radicale.run(true);
        radicale
    }

    /// The server's base URL, `http://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn config_path(&self, writable: bool) -> PathBuf {
        let d = self.dir.path();
        // Writable: each user owns their collections (`owner_only`). Read-only:
        // `from_file` rights with the root and principals readable and the
        // calendars read-only (a PUT is then 403).
        let rights = if writable {
            "type = owner_only".to_string()
        } else {
            let file = d.join("rights-ro");
            std::fs::write(
                &file,
                "[root]\nuser: .+\ncollection:\npermissions: R\n\n\
                 [principal]\nuser: .+\ncollection: {user}\npermissions: R\n\n\
                 [calendars]\nuser: .+\ncollection: {user}/[^/]+\npermissions: r\n",
            )
            .expect("rights");
            format!("type = from_file\nfile = {}", file.display())
        };
        let config = d.join(if writable { "config-rw" } else { "config-ro" });
        // Logins cached, as a deployed Radicale behind a busy client would be.
        std::fs::write(
            &config,
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n\n\
                 [auth]\ntype = htpasswd\nhtpasswd_filename = {users}\nhtpasswd_encryption = plain\n\
                 cache_logins = true\n\n\
                 [rights]\n{rights}\n\n\
                 [storage]\nfilesystem_folder = {storage}\n\n\
                 [logging]\nlevel = warning\n",
                port = self.port,
                users = d.join("users").display(),
                storage = d.join("collections").display(),
            ),
        )
        .expect("radicale config");
        config
    }

    fn run(&mut self, writable: bool) {
        let config = self.config_path(writable);
        let child = Command::new(python())
            .args(["-m", "radicale", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("radicale: {e} (run .ci/run, or set SWITCHBOARD_PYTHON to a python with radicale)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "radicale did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (its storage stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "radicale still listens");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Restarts the server on the same port and storage; `writable` false:
    /// calendars can be read but not written (a PUT gets 403).
    pub fn restart(&mut self, writable: bool) {
        self.stop();
        self.run(writable);
    }

    /// Creates the owner's calendar `name`; its collection URL.
    pub fn make_calendar(&self, name: &str) -> String {
        owner(&["make-calendar", &self.url(), OWNER, PASSWORD, name], None)
            .trim()
            .to_string()
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs tests/python/caldav_owner.py with `args` (and `stdin`); its stdout.
pub fn owner(args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write as _;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/caldav_owner.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python caldav_owner.py");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("caldav_owner.py output");
    assert!(
        out.status.success(),
        "caldav_owner.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The owner adds the VCALENDAR `ics` to the calendar at `calendar_url`.
pub fn owner_adds(calendar_url: &str, ics: &str) {
    owner(&["add", calendar_url, OWNER, PASSWORD], Some(ics));
}

/// The owner's calendar as the `caldav` client lists it (not expanded).
pub fn owner_lists(calendar_url: &str) -> Vec<serde_json::Value> {
    let out = owner(&["list", calendar_url, OWNER, PASSWORD], None);
    serde_json::from_str(out.trim()).expect("caldav_owner.py list prints JSON")
}
