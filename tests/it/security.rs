//! Security (issue 7): the authorisation matrix — every endpoint × {no
//! credential, wrong credential, replayed credential, valid} → its documented
//! status — and secrets (model API key, Twilio auth token, admin token) never
//! appearing in the log, in error bodies or in `/metrics`.
//!
//! The matrix is a table: an endpoint added elsewhere is one more row.

use std::time::Duration;

use switchboard::carrier::twilio::client::{CallSetup, TwilioCall};
use switchboard::carrier::twilio::signature;

use crate::support::child::{write_config, ChildServer};
use crate::support::{db, Db, TestApp, ADMIN, CALLER, DIALLED};

const TWILIO_TOKEN: &str = "twilio-auth-token-5f1c0ffee";

/// How an endpoint authenticates.
#[derive(Clone, Copy, Debug)]
enum Guard {
    /// `Authorization: Bearer <admin token>` or `?token=`.
    Admin,
    /// `X-Twilio-Signature` over URL and form.
    TwilioSignature,
    /// No credential (public operations endpoints).
    Open,
}

/// One credential variant.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cred {
    None,
    Wrong,
    /// A genuine credential for a different request (a replayed signature).
    Replayed,
    Valid,
}

/// (method, path, is WebSocket, guard, expected status for [None, Wrong, Replayed, Valid]).
const MATRIX: &[(&str, &str, bool, Guard, [u16; 4])] = &[
    (
        "GET",
        "/api/calls",
        false,
        Guard::Admin,
        [401, 401, 401, 200],
    ),
    (
        "GET",
        "/api/calls/CA404",
        false,
        Guard::Admin,
        [401, 401, 401, 404],
    ),
    (
        "GET",
        "/api/tenants",
        false,
        Guard::Admin,
        [401, 401, 401, 200],
    ),
    ("GET", "/logs", true, Guard::Admin, [401, 401, 401, 101]),
    (
        "POST",
        "/twiml",
        false,
        Guard::TwilioSignature,
        [403, 403, 403, 200],
    ),
    (
        "GET",
        "/media-stream",
        true,
        Guard::TwilioSignature,
        [403, 403, 403, 101],
    ),
    ("GET", "/health", false, Guard::Open, [200, 200, 200, 200]),
    ("GET", "/metrics", false, Guard::Open, [200, 200, 200, 200]),
    ("GET", "/tools", false, Guard::Open, [200, 200, 200, 200]),
];

const FORM: &[(&str, &str)] = &[
    ("CallSid", "CA00000000000000000000000000000001"),
    ("AccountSid", "AC00000000000000000000000000000001"),
    ("From", CALLER),
    ("To", DIALLED),
];

async fn request(
    app: &TestApp,
    method: &str,
    path: &str,
    ws: bool,
    guard: Guard,
    cred: Cred,
) -> u16 {
    let url = app.http_url(path);
    let ws_url = url.replacen("http://", "ws://", 1);
    let params: Vec<(String, String)> = FORM
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let header: Option<(&str, String)> = match (guard, cred) {
        (_, Cred::None) | (Guard::Open, _) => None,
        (Guard::Admin, Cred::Wrong) => Some(("Authorization", "Bearer not-the-token".into())),
        // An admin token from another deployment (right shape, wrong value).
        (Guard::Admin, Cred::Replayed) => Some(("Authorization", format!("Bearer {ADMIN}-old"))),
        (Guard::Admin, Cred::Valid) => Some(("Authorization", format!("Bearer {ADMIN}"))),
        (Guard::TwilioSignature, Cred::Wrong) => Some(("X-Twilio-Signature", "AAAA".into())),
        (Guard::TwilioSignature, Cred::Replayed) => {
            // A real signature captured from another request (other URL/form).
            let other = vec![("CallSid".to_owned(), "CA9".to_owned())];
            Some((
                "X-Twilio-Signature",
                signature::compute(TWILIO_TOKEN, &app.http_url("/twiml"), &other),
            ))
        }
        (Guard::TwilioSignature, Cred::Valid) => {
            let signed = if ws { ws_url.clone() } else { url.clone() };
            let signed_params = if ws { Vec::new() } else { params.clone() };
            Some((
                "X-Twilio-Signature",
                signature::compute(TWILIO_TOKEN, &signed, &signed_params),
            ))
        }
    };
    let client = awc::Client::default();
    if ws {
        let mut req = client.ws(ws_url.as_str());
        if let Some((name, value)) = &header {
            req = req.header(*name, value.as_str());
        }
        return match req.connect().await {
            Ok((resp, _conn)) => resp.status().as_u16(),
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => status.as_u16(),
            Err(err) => panic!("{path}: {err}"),
        };
    }
    let mut req = match method {
        "POST" => client.post(url.as_str()),
        _ => client.get(url.as_str()),
    };
    if let Some((name, value)) = &header {
        req = req.insert_header((*name, value.as_str()));
    }
    let resp = if method == "POST" {
        req.send_form(&params).await
    } else {
        req.send().await
    };
    resp.expect("request").status().as_u16()
}

#[actix_rt::test]
async fn authorisation_matrix() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TWILIO_TOKEN.into());
    })
    .await;
    let mut failures = Vec::new();
    for (method, path, ws, guard, expected) in MATRIX {
        for (i, cred) in [Cred::None, Cred::Wrong, Cred::Replayed, Cred::Valid]
            .into_iter()
            .enumerate()
        {
            let got = request(&app, method, path, *ws, *guard, cred).await;
            if got != expected[i] {
                failures.push(format!(
                    "{method} {path} {cred:?}: {got}, expected {}",
                    expected[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // `?token=` works for admin endpoints; a wrong one does not.
    let ok = awc::Client::default()
        .get(app.http_url(&format!("/api/tenants?token={ADMIN}")))
        .send()
        .await
        .expect("get");
    assert_eq!(ok.status().as_u16(), 200);
    app.stop().await;
}

#[actix_rt::test]
async fn secrets_never_appear_in_logs_errors_or_metrics() {
    let api_key = "sk-test-SECRET-model-key-9d8c7b";
    let admin = "admin-SECRET-token-41f2e3";
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), &db::sqlite_url(dir.path()), "");
    let server = ChildServer::spawn(
        dir.path(),
        &config,
        &[
            ("RUST_LOG", "debug"),
            ("SWITCHBOARD_MODEL__API_KEY", api_key),
            ("SWITCHBOARD_TWILIO__AUTH_TOKEN", TWILIO_TOKEN),
            ("SWITCHBOARD_SERVER__ADMIN_TOKEN", admin),
        ],
    );
    let mut seen = String::new();
    // A signed call that talks to the model (which gets the API key).
    let setup = CallSetup::new(server.media_url())
        .with_parameter("from", CALLER)
        .with_parameter("to", DIALLED)
        .signed(TWILIO_TOKEN);
    let mut call = TwilioCall::connect(setup).await.expect("signed call");
    call.send_silence(1000).await.expect("audio");
    call.stop().await.expect("stop");
    call.wait_closed(Duration::from_secs(5)).await;
    // Failed authentications and their error bodies.
    let client = awc::Client::default();
    for (path, header) in [
        ("/api/calls", format!("Bearer {admin}x")),
        ("/api/calls", "Bearer nope".to_owned()),
    ] {
        let mut resp = client
            .get(server.http_url(path))
            .insert_header(("Authorization", header))
            .send()
            .await
            .expect("get");
        seen.push_str(&String::from_utf8_lossy(&resp.body().await.expect("body")));
    }
    let mut resp = client
        .post(server.http_url("/twiml"))
        .insert_header(("X-Twilio-Signature", "forged"))
        .send_form(&FORM)
        .await
        .expect("twiml");
    seen.push_str(&String::from_utf8_lossy(&resp.body().await.expect("body")));
    let mut metrics = client
        .get(server.http_url("/metrics"))
        .send()
        .await
        .expect("metrics");
    seen.push_str(&String::from_utf8_lossy(
        &metrics.body().await.expect("body"),
    ));
    let mut server = server;
    server.terminate();
    server.wait_exit(Duration::from_secs(15));
    let log = server.log();
    assert!(log.contains("DEBUG"), "debug logging was not on");
    for secret in [api_key, TWILIO_TOKEN, admin] {
        assert!(!log.contains(secret), "{secret} in the log");
        assert!(!seen.contains(secret), "{secret} in a response");
    }
}
