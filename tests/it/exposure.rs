//! The start-up exposure audit, through the real binary: on a public
//! address (`server.public_url` or `server.bind` not loopback) each open door
//! makes `switchboard serve` exit 2 with one line naming it and the key to set;
//! the same configuration on loopback starts and logs one WARN line. The
//! public cases never bind a public address: the audit runs before the listener.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::child::write_config;
use crate::support::db;

const PUBLIC_URL: (&str, &str) = (
    "SWITCHBOARD_SERVER__PUBLIC_URL",
    "https://voice.example.com",
);

/// Every door closed.
const LOCKED: &[(&str, &str)] = &[
    ("SWITCHBOARD_SERVER__ADMIN_TOKEN", "exposure-admin-token"),
    ("SWITCHBOARD_TWILIO__AUTH_TOKEN", "exposure-twilio-token"),
    ("SWITCHBOARD_JAMBONZ__USERNAME", "jambonz"),
    ("SWITCHBOARD_JAMBONZ__PASSWORD", "exposure-jambonz-password"),
];

/// How one `switchboard serve` run ended.
struct Outcome {
    /// Exit code when it exited by itself; `None` when it started listening
    /// (then it was stopped by the test).
    code: Option<i32>,
    /// Everything it wrote to stderr.
    log: String,
    dir: tempfile::TempDir,
}

impl Outcome {
    fn lines_with(&self, needle: &str) -> Vec<&str> {
        self.log.lines().filter(|l| l.contains(needle)).collect()
    }

    /// Asserts a refusal: exit 2, one line naming every `keys`, nothing else of note.
    fn assert_refused(&self, keys: &[&str]) {
        assert_eq!(self.code, Some(2), "not refused:\n{}", self.log);
        let lines = self.lines_with("refusing to start");
        assert_eq!(lines.len(), 1, "one refusal line:\n{}", self.log);
        for key in keys {
            assert!(lines[0].contains(key), "{key} not named: {}", lines[0]);
        }
        for bad in ["panicked", "backtrace", "Caused by", "listening on"] {
            assert!(!self.log.contains(bad), "{bad:?} in:\n{}", self.log);
        }
    }

    /// Asserts a start with exactly one WARN line, naming every `keys` (none
    /// when `keys` is empty).
    fn assert_started_warning(&self, keys: &[&str]) {
        assert_eq!(self.code, None, "did not start:\n{}", self.log);
        let warns = self.lines_with("WARN");
        if keys.is_empty() {
            assert!(warns.is_empty(), "unexpected WARN:\n{}", self.log);
            return;
        }
        assert_eq!(warns.len(), 1, "one WARN line:\n{}", self.log);
        for key in keys {
            assert!(warns[0].contains(key), "{key} not named: {}", warns[0]);
        }
    }
}

/// Runs `switchboard serve` with only `env` (plus the test config: loopback
/// bind, SQLite in a temp dir, built-in simulator) until it exits or listens.
fn serve(env: &[(&str, &str)]) -> Outcome {
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), &db::sqlite_url(dir.path()), "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    let code = loop {
        while let Ok(line) = rx.try_recv() {
            log.push_str(&line);
            log.push('\n');
        }
        if log.contains("switchboard listening on") {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status.code().unwrap_or(-1));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("switchboard neither exited nor listened:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        log.push_str(&line);
        log.push('\n');
    }
    Outcome { code, log, dir }
}

/// [`LOCKED`] without the variables named in `drop`, plus `add`.
fn env_with(
    drop: &[&str],
    add: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    LOCKED
        .iter()
        .copied()
        .filter(|(k, _)| !drop.contains(k))
        .chain(add.iter().copied())
        .collect()
}

#[test]
fn public_start_refused_without_twilio_auth_token_and_warned_on_loopback() {
    let open = ["SWITCHBOARD_TWILIO__AUTH_TOKEN"];
    serve(&env_with(&open, &[PUBLIC_URL]))
        .assert_refused(&["server.public_url https://voice.example.com", open[0]]);
    serve(&env_with(&open, &[])).assert_started_warning(&[open[0]]);
}

#[test]
fn public_start_refused_without_jambonz_credentials_and_warned_on_loopback() {
    let fix = "jambonz.username and SWITCHBOARD_JAMBONZ__PASSWORD";
    let open = [
        "SWITCHBOARD_JAMBONZ__USERNAME",
        "SWITCHBOARD_JAMBONZ__PASSWORD",
    ];
    serve(&env_with(&open, &[PUBLIC_URL])).assert_refused(&[fix]);
    serve(&env_with(&open, &[])).assert_started_warning(&[fix]);
    // A user name alone is no credential: the configuration itself is refused
    // on any address, in one line naming both keys (exit 2).
    let half = serve(&env_with(&["SWITCHBOARD_JAMBONZ__PASSWORD"], &[]));
    assert_eq!(half.code, Some(2), "not refused:\n{}", half.log);
    let lines = half.lines_with("switchboard: ");
    assert_eq!(lines.len(), 1, "one line:\n{}", half.log);
    assert!(lines[0].contains("jambonz.username"), "{}", lines[0]);
    assert!(
        lines[0].contains("SWITCHBOARD_JAMBONZ__PASSWORD"),
        "{}",
        lines[0]
    );
    assert!(!half.log.contains("panicked"), "{}", half.log);
}

#[test]
fn sendgrid_key_without_email_secret_is_refused_on_every_address() {
    let key = ("SWITCHBOARD_SENDGRID__API_KEY", "SG.exposure");
    let fix = "SWITCHBOARD_MESSAGING__EMAIL_SECRET";
    serve(&env_with(&[], &[key, PUBLIC_URL])).assert_refused(&[fix]);
    // An open mail relay harms others: loopback and insecure_public refuse it too.
    serve(&env_with(&[], &[key])).assert_refused(&[fix]);
    serve(&env_with(
        &[],
        &[
            key,
            PUBLIC_URL,
            ("SWITCHBOARD_SERVER__INSECURE_PUBLIC", "true"),
        ],
    ))
    .assert_refused(&[fix]);
    // With the secret every door is shut: a public start without a warning.
    serve(&env_with(
        &[],
        &[key, PUBLIC_URL, (fix, "exposure-email-secret")],
    ))
    .assert_started_warning(&[]);
}

#[test]
fn public_start_with_a_generated_admin_token_is_allowed() {
    let outcome = serve(&env_with(
        &["SWITCHBOARD_SERVER__ADMIN_TOKEN"],
        &[PUBLIC_URL],
    ));
    outcome.assert_started_warning(&[]);
    assert!(
        outcome.log.contains("admin token: generated"),
        "{}",
        outcome.log
    );
    let token = std::fs::read_to_string(outcome.dir.path().join("data/admin-token"))
        .expect("generated token file");
    assert!(token.trim().len() >= 32, "token {token:?}");
}

#[test]
fn public_bind_with_every_door_open_names_each_in_one_line() {
    let outcome = serve(&[("SWITCHBOARD_SERVER__BIND", "0.0.0.0:0")]);
    outcome.assert_refused(&[
        "server.bind 0.0.0.0:0 is not loopback",
        "SWITCHBOARD_TWILIO__AUTH_TOKEN",
        "jambonz.username and SWITCHBOARD_JAMBONZ__PASSWORD",
        "server.insecure_public = true",
    ]);
}

#[test]
fn insecure_public_starts_with_one_warning() {
    let outcome = serve(&[
        PUBLIC_URL,
        ("SWITCHBOARD_SERVER__INSECURE_PUBLIC", "true"),
        ("SWITCHBOARD_SERVER__ADMIN_TOKEN", "exposure-admin-token"),
    ]);
    outcome.assert_started_warning(&[
        "server.insecure_public = true",
        "SWITCHBOARD_TWILIO__AUTH_TOKEN",
        "jambonz.username and SWITCHBOARD_JAMBONZ__PASSWORD",
    ]);
}
