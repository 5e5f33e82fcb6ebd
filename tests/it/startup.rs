//! Start-up as an operator meets it, through the real binary:
//! `serve --config <absolute path>` started from `/` keeps its relative paths
//! (SQLite file, spool, generated admin token) beside the config file and
//! answers a call with the built-in simulator; a bad configuration prints one
//! line naming the key and exits 2 (no panic, no backtrace); a fresh start on a
//! new SQLite file logs no error.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard::events::CallEvent;
use switchboard::far_end::{CallSetup, LogFeed, TwilioCall};

use crate::support::child::ChildServer;
use crate::support::{caller_mulaw, talk_silence_until, CALLER, DIALLED};

/// A config with only relative paths (the simulator's script and clips are
/// the ones built into the binary) and `extra` appended.
fn relative_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[server]
bind = "127.0.0.1:0"
workers = 1
drain_timeout_secs = 2

[database]
url = "data/sb.db"
spool_file = "data/spool.jsonl"

[calls]
greet_caller = false
{extra}
"#
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `switchboard --config CONFIG serve` with the working directory `/` and no
/// admin token in the environment.
fn serve_from_root(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("--config")
        .arg(config)
        .arg("serve")
        .current_dir("/")
        .env("RUST_LOG", "info")
        .env_remove("RUST_BACKTRACE")
        .env_remove("SWITCHBOARD_SERVER__ADMIN_TOKEN")
        .env_remove("SWITCHBOARD_DATABASE__URL")
        .env_remove("SWITCHBOARD_DATABASE__SPOOL_FILE")
        .env_remove("SWITCHBOARD_MODEL__API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("SWITCHBOARD_TWILIO__AUTH_TOKEN");
    cmd
}

/// Lines of `log` at ERROR level, or that show a panic.
fn errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("ERROR") || l.contains("panicked"))
        .collect()
}

#[actix_rt::test]
async fn serve_from_root_keeps_relative_paths_beside_the_config_and_answers_a_call() {
    let temp = tempfile::tempdir().expect("dir");
    let dir = std::path::absolute(temp.path()).expect("absolute temp dir");
    let config = relative_config(&dir, "");
    let server = ChildServer::start(serve_from_root(&config));

    // The relative paths landed beside the config file, not in `/`.
    assert!(
        dir.join("data/sb.db").is_file(),
        "no data/sb.db beside config"
    );
    let token = std::fs::read_to_string(dir.join("data/admin-token")).expect("admin token file");
    assert!(!token.trim().is_empty());
    assert!(
        server.log().contains(&format!(
            "stored in {}",
            dir.join("data/admin-token").display()
        )),
        "{}",
        server.log()
    );
    // A fresh start on a new SQLite file: nothing at ERROR level.
    assert_eq!(
        errors(&server.log()),
        Vec::<&str>::new(),
        "{}",
        server.log()
    );

    let setup = CallSetup::new(server.media_url())
        .with_parameter("from", CALLER)
        .with_parameter("to", DIALLED);
    let feed = LogFeed::connect(
        &format!("ws://{}/logs?call_sid={}", server.addr, setup.call_sid),
        Some(token.trim()),
    )
    .await
    .expect("live feed with the generated token");
    let mut call = TwilioCall::connect(setup).await.expect("call connects");
    call.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("audio");
    let answer = talk_silence_until(
        &mut call,
        &feed,
        Duration::from_secs(20),
        |e| matches!(e, CallEvent::Transcript { role, .. } if role == "assistant"),
    )
    .await;
    assert!(answer.is_some(), "no answer:\n{}", server.log());
    assert!(
        !call.received_audio().is_empty(),
        "the caller heard nothing"
    );
    call.stop().await.expect("hang up");
    assert_eq!(
        errors(&server.log()),
        Vec::<&str>::new(),
        "{}",
        server.log()
    );
}

/// Runs `serve` from `/` on the relative config plus `extra` (TOML
/// sections it does not have) and `env`, until it exits; its exit code and
/// stderr. Only ERROR-level logging is on, so any other line on stderr is the
/// failure report.
fn refused(extra: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("dir");
    let config = relative_config(dir.path(), extra);
    let mut cmd = serve_from_root(&config);
    cmd.env("RUST_LOG", "error")
        .env("SWITCHBOARD_SERVER__ADMIN_TOKEN", "startup-test-token")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run switchboard");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A bad configuration: TOML to add, environment to set, and what the one
/// line must name.
type BadConfig = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn a_bad_config_prints_one_line_naming_the_key_and_exits_2() {
    let cases: [BadConfig; 7] = [
        // A model id past OpenAI's announced shutdown: one line with the id,
        // the date and the replacement.
        (
            "[model]\nmodel = \"gpt-4o-realtime-preview\"\n",
            &[],
            "model.model = \"gpt-4o-realtime-preview\" was shut down by OpenAI on 2026-05-07; use \"gpt-realtime-1.5\" instead",
        ),
        // GPT-Live is OpenAI's: another provider cannot speak it.
        (
            "[model]\nprovider = \"xai\"\napi = \"live\"\n",
            &[],
            "model.api",
        ),
        // A value of the wrong type, in the file.
        (
            "[model]\nvad_silence_ms = \"long\"\n",
            &[],
            "model.vad_silence_ms",
        ),
        // A value of the wrong type, from the environment.
        (
            "",
            &[("SWITCHBOARD_DATABASE__POOL_SIZE", "many")],
            "database.pool_size",
        ),
        // A value out of range (validation).
        (
            "[messaging]\nsync_reply_ms = 20000\n",
            &[],
            "messaging.sync_reply_ms",
        ),
        // A database the process cannot create: fails once the config loaded.
        (
            "",
            &[("SWITCHBOARD_DATABASE__URL", "/proc/self/nope/sb.db")],
            "database.url",
        ),
        // A missing simulator script: fails after the database opened (this
        // once panicked with "there is no reactor running").
        (
            "",
            &[(
                "SWITCHBOARD_SIMULATOR__SCRIPT",
                "/nonexistent/missing-script.toml",
            )],
            "missing-script.toml",
        ),
    ];
    for (extra, env, key) in cases {
        let (code, stderr) = refused(extra, env);
        assert_eq!(code, Some(2), "case {key}: exit code; stderr:\n{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "case {key}: one line:\n{stderr}");
        assert!(lines[0].starts_with("switchboard: "), "{}", lines[0]);
        assert!(lines[0].contains(key), "case {key} not named: {}", lines[0]);
        for bad in ["panicked", "backtrace", "Caused by"] {
            assert!(!stderr.contains(bad), "case {key}: {bad:?} in:\n{stderr}");
        }
    }
}

#[actix_rt::test]
async fn head_is_answered_wherever_get_is() {
    let app = crate::support::TestApp::start().await;
    let client = awc::Client::default();
    for (path, status) in [("/health", 200), ("/", 200), ("/no-such-page", 404)] {
        let mut resp = client.head(app.http_url(path)).send().await.expect("HEAD");
        assert_eq!(resp.status().as_u16(), status, "HEAD {path}");
        let body = resp.body().await.expect("body");
        assert!(body.is_empty(), "HEAD {path} sent a body: {body:?}");
        let get = client.get(app.http_url(path)).send().await.expect("GET");
        assert_eq!(get.status().as_u16(), status, "GET {path}");
    }
}

/// A start that fails after the pool exists (its port is taken) ends with
/// exit code 2 and one line, 20 times out of 20: never by a signal (the pool's
/// threads used to be inside libpq when the process exited).
#[test]
fn a_start_failing_after_the_pool_exists_exits_2_every_time() {
    use std::os::unix::process::ExitStatusExt;
    let schema = crate::support::db::PgSchema::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").to_string();
    let mut signalled = Vec::new();
    for run in 0..20 {
        let dir = tempfile::tempdir().expect("dir");
        let config = relative_config(dir.path(), "");
        let out = serve_from_root(&config)
            .env("RUST_LOG", "error")
            .env("SWITCHBOARD_SERVER__ADMIN_TOKEN", "startup-test-token")
            .env("SWITCHBOARD_DATABASE__URL", schema.url())
            .env("SWITCHBOARD_SERVER__BIND", &port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run switchboard");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if let Some(signal) = out.status.signal() {
            signalled.push((run, signal, stderr));
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "run {run}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "run {run}: one line:\n{stderr}");
        assert!(
            lines[0].starts_with("switchboard: ") && lines[0].contains(&port),
            "run {run}: {}",
            lines[0]
        );
    }
    assert!(signalled.is_empty(), "ended by a signal: {signalled:?}");
    drop(taken);
}

/// Mode bits (permissions only) of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[actix_rt::test]
async fn a_fresh_start_under_umask_022_leaves_the_database_token_and_folder_private() {
    use std::os::unix::process::CommandExt as _;
    let temp = tempfile::tempdir().expect("dir");
    let dir = std::path::absolute(temp.path()).expect("absolute temp dir");
    let config = relative_config(&dir, "");
    let mut cmd = serve_from_root(&config);
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let server = ChildServer::start(cmd);
    let data = dir.join("data");
    assert_eq!(mode(&data), 0o700, "data folder");
    assert_eq!(mode(&data.join("sb.db")), 0o600, "database");
    assert_eq!(mode(&data.join("admin-token")), 0o600, "admin token");
    for side in ["sb.db-wal", "sb.db-shm"] {
        let path = data.join(side);
        assert!(path.exists(), "no {side} (the database is in WAL mode)");
        assert_eq!(mode(&path), 0o600, "{side}");
    }
    drop(server);

    // A token file others can read is used, with a warning naming it.
    let token = data.join("admin-token");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("loosen token file");
    let server = ChildServer::start(serve_from_root(&config));
    assert!(
        server
            .log()
            .contains("admin token file is readable by its group or others"),
        "{}",
        server.log()
    );
}
