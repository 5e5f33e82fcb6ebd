//! Issue 25's accounts, through the real binary: `switchboard user add` and
//! `token add` (passwords from the environment, hashed with Argon2id), sign-in
//! failures answered in one form and limited per address and per account, and
//! no password, token or session cookie in any line the server or the command
//! line logs at debug level.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::child::{write_config, ChildServer};
use crate::support::ADMIN;

const PASSWORD: &str = "Tr0ub4dor-and-3-more-words";
const WRONG: &str = "not-the-password-at-all";

/// Runs `switchboard --config CONFIG ARGS…` with `env`; stdout and stderr.
fn cli(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "debug");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run switchboard");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
    (stdout, stderr)
}

/// `POST /api/login`; status, body and the session cookie's value.
async fn login(url: &str, email: &str, password: &str) -> (u16, Value, Option<String>) {
    let mut resp = awc::Client::default()
        .post(url)
        .send_json(&json!({"email": email, "password": password}))
        .await
        .expect("login");
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| actix_web::cookie::Cookie::parse(h.to_string()).ok())
        .map(|c| c.value().to_string());
    let body = resp.body().await.expect("body");
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        cookie,
    )
}

#[actix_rt::test]
async fn passwords_are_argon2id_failures_look_alike_are_limited_and_nothing_secret_is_logged() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("switchboard.db");
    let config = write_config(dir.path(), &db.display().to_string(), "");
    let pw_env = [("SB_TEST_PASSWORD", PASSWORD)];
    let (out, err) = cli(
        &config,
        &[
            "user",
            "add",
            "--email",
            "Owner@Acme.test",
            "--tenant",
            "acme-dental",
            "--role",
            "owner",
            "--password-from-env",
            "SB_TEST_PASSWORD",
        ],
        &pw_env,
    );
    assert!(out.contains("owner@acme.test"), "{out}");
    let mut cli_output = out + &err;
    let (token_out, err) = cli(
        &config,
        &[
            "token",
            "add",
            "--tenant",
            "acme-dental",
            "--name",
            "reports",
        ],
        &[],
    );
    let token = token_out.trim().to_string();
    assert!(
        token.starts_with("sbt_") && token.len() == 68,
        "{token_out}"
    );
    cli_output += &err;
    let (listed, err) = cli(&config, &["token", "list"], &[]);
    assert!(
        listed.contains("reports") && listed.contains("never used"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "the list shows no token");
    cli_output += &listed;
    cli_output += &err;

    // The stored password is an Argon2id PHC string, and neither it nor the
    // token is stored as given.
    {
        let (pool, link) = switchboard::store::db::open(&db.display().to_string(), 1).expect("db");
        let mut conn = pool.get().expect("conn");
        let users = switchboard::store::users::all(&mut conn).expect("users");
        assert_eq!(users.len(), 1);
        assert!(
            users[0].password_hash.starts_with("$argon2id$v=19$"),
            "{}",
            users[0].password_hash
        );
        assert!(!users[0].password_hash.contains(PASSWORD));
        let tokens = switchboard::store::api_tokens::all(&mut conn).expect("tokens");
        assert_ne!(tokens[0].token_hash, token);
        drop(conn);
        link.close(Duration::from_secs(5));
    }

    // 4 sign-in attempts a minute: one refills every 15 s, far longer than
    // this test's attempts take even on a loaded machine.
    let server = ChildServer::spawn(
        dir.path(),
        &config,
        &[
            ("RUST_LOG", "debug"),
            ("SWITCHBOARD_LIMITS__SIGN_IN_PER_MINUTE", "4"),
        ],
    );
    let url = server.http_url("/api/login");

    // Unknown account and wrong password: one answer, and about the same time
    // (the same Argon2id work either way).
    let timed = |email: &'static str, password: &'static str| {
        let url = url.clone();
        async move {
            let t0 = Instant::now();
            let (status, body, cookie) = login(&url, email, password).await;
            (status, body, cookie, t0.elapsed())
        }
    };
    let (s1, b1, c1, wrong_took) = timed("owner@acme.test", WRONG).await;
    let (s2, b2, c2, nobody_took) = timed("nobody@acme.test", WRONG).await;
    assert_eq!(
        (s1, &b1, &c1),
        (401, &json!({"error": "wrong email or password"}), &None)
    );
    assert_eq!(
        (s2, &b2, &c2),
        (s1, &b1, &c1),
        "an unknown email is answered alike"
    );
    let ratio = nobody_took.as_secs_f64() / wrong_took.as_secs_f64();
    assert!(
        (0.2..5.0).contains(&ratio),
        "unknown account took {nobody_took:?}, wrong password {wrong_took:?}"
    );

    // The right password signs in, whatever the email's case.
    let (status, me, cookie) = login(&url, "OWNER@acme.test", PASSWORD).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["tenant"], "acme-dental");
    let cookie = cookie.expect("session cookie");

    // Attempts are limited (here to 4 a minute; this address made 3): the
    // 5th is 429 without a check.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(login(&url, "owner@acme.test", WRONG).await.0);
    }
    assert_eq!(statuses, [401, 429, 429], "{statuses:?}");
    // Even the right password waits out the limit.
    assert_eq!(login(&url, "owner@acme.test", PASSWORD).await.0, 429);

    // The token and the cookie work, a wrong token does not.
    let client = awc::Client::default();
    let calls = server.http_url("/api/calls");
    let mut ok = client
        .get(&calls)
        .bearer_auth(&token)
        .send()
        .await
        .expect("token");
    assert_eq!(ok.status().as_u16(), 200);
    let _ = ok.body().await;
    let wrong_token = format!("sbt_{}", "0".repeat(64));
    let resp = client
        .get(&calls)
        .bearer_auth(&wrong_token)
        .send()
        .await
        .expect("wrong token");
    assert_eq!(resp.status().as_u16(), 401);
    let resp = client
        .get(server.http_url("/api/me"))
        .insert_header(("Cookie", format!("sb_session={cookie}")))
        .send()
        .await
        .expect("cookie");
    assert_eq!(resp.status().as_u16(), 200);

    // Every attempt is in the audit log, failures under the account's tenant.
    let mut audit = client
        .get(server.http_url("/api/audit?limit=200"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("audit");
    let audit: Value = serde_json::from_slice(&audit.body().await.expect("body")).expect("json");
    let count = |action: &str| {
        audit["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["action"] == action)
            .count()
    };
    assert_eq!(count("sign_in.succeeded"), 1, "{audit}");
    assert_eq!(count("sign_in.failed"), 3, "{audit}");
    assert_eq!(count("user.added"), 1, "{audit}");
    assert_eq!(count("token.added"), 1, "{audit}");

    // Nothing secret in any log line, at debug level, server or command line.
    let log = server.log();
    assert!(
        log.contains("sign-in refused"),
        "the log is captured: {log}"
    );
    for secret in [
        PASSWORD,
        WRONG,
        token.as_str(),
        cookie.as_str(),
        &token[4..],
        &cookie[4..],
    ] {
        assert!(
            !log.contains(secret),
            "the server logged a secret: {secret}"
        );
        assert!(
            !cli_output.contains(secret),
            "the command line logged {secret}"
        );
    }
}
