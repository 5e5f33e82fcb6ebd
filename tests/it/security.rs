//! Security: the authorisation matrix — every endpoint × {no
//! credential, wrong credential, replayed credential, valid} → its documented
//! status — and secrets (model API key, Twilio auth token, admin token) never
//! appearing in the log, in error bodies or in `/metrics`. The email
//! secret with a SendGrid key, the `/metrics` token, and the simulator from
//! loopback and from a foreign peer (a network namespace, [`NetNs`]).
//!
//! The matrix is a table: an endpoint added elsewhere is one more row.

use std::time::Duration;

use switchboard::carrier::twilio::signature;
use switchboard::far_end::{CallSetup, TwilioCall};

use crate::support::child::{write_config, ChildServer};
use crate::support::netns::{status_of, NetNs};
use crate::support::stub::HttpStub;
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
    (
        "GET",
        "/api/caller-messages",
        false,
        Guard::Admin,
        [401, 401, 401, 200],
    ),
    (
        "GET",
        "/api/appointments",
        false,
        Guard::Admin,
        [401, 401, 401, 200],
    ),
    (
        "GET",
        "/api/notifications",
        false,
        Guard::Admin,
        [401, 401, 401, 200],
    ),
    (
        "GET",
        "/api/settings",
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
    // A signature over the fixed URL is a constant: it opens no stream. The
    // per-call URL a signed webhook's TwiML names is tested in twiml.rs.
    (
        "GET",
        "/media-stream",
        true,
        Guard::TwilioSignature,
        [403, 403, 403, 403],
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
    // The admin token is never taken from a URL (proxies log URLs).
    let in_url = awc::Client::default()
        .get(app.http_url(&format!("/api/tenants?token={ADMIN}")))
        .send()
        .await
        .expect("get");
    assert_eq!(in_url.status().as_u16(), 401);
    let logs_in_url = awc::Client::new()
        .ws(format!(
            "{}?token={ADMIN}",
            app.http_url("/logs").replace("http", "ws")
        ))
        .connect()
        .await;
    assert!(logs_in_url.is_err(), "/logs took the token from its URL");
    // `/logs` with a single-use ticket minted by an authenticated POST.
    let mut minted = awc::Client::default()
        .post(app.http_url("/api/logs/ticket"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("mint");
    assert_eq!(minted.status().as_u16(), 201);
    let body: serde_json::Value = minted.json().await.expect("json");
    let ticket = body["ticket"].as_str().expect("ticket").to_string();
    let ws = |t: &str| {
        awc::Client::new()
            .ws(format!(
                "{}?ticket={t}",
                app.http_url("/logs").replace("http", "ws")
            ))
            .connect()
    };
    assert!(ws(&ticket).await.is_ok(), "/logs with a ticket");
    assert!(ws(&ticket).await.is_err(), "a ticket works once");
    let unauth = awc::Client::default()
        .post(app.http_url("/api/logs/ticket"))
        .send()
        .await
        .expect("post");
    assert_eq!(unauth.status().as_u16(), 401);
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
    let setup = crate::support::through_signed_webhook(
        &server.http_url("/twiml"),
        CallSetup::new(server.media_url())
            .with_parameter("from", CALLER)
            .with_parameter("to", DIALLED),
        TWILIO_TOKEN,
    )
    .await;
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

/// A request body in the extended matrix.
#[derive(Clone)]
enum Body {
    Empty,
    Json(&'static str),
    Form(Vec<(String, String)>),
    /// An empty `multipart/form-data` body (SendGrid's content type).
    Multipart,
    /// A `multipart/form-data` body with boundary `xYzZY`.
    Parse(String),
}

/// One request of the extended matrix.
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: String,
    ws: bool,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

/// (label, request per [`Cred`] — `None` where it does not apply, expected statuses).
type Row = (&'static str, [Option<Req>; 4], [u16; 4]);

fn req(method: &'static str, path: impl Into<String>) -> Req {
    Req {
        method,
        path: path.into(),
        ws: false,
        headers: Vec::new(),
        body: Body::Empty,
    }
}

impl Req {
    fn ws(mut self) -> Req {
        self.ws = true;
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, body: Body) -> Req {
        self.body = body;
        self
    }
}

async fn send_req(app: &TestApp, r: &Req) -> u16 {
    let client = awc::Client::default();
    let url = app.http_url(&r.path);
    if r.ws {
        let mut ws = client.ws(url.replacen("http://", "ws://", 1));
        for (name, value) in &r.headers {
            ws = ws.header(*name, value.as_str());
        }
        return match ws.connect().await {
            Ok((resp, _conn)) => resp.status().as_u16(),
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => status.as_u16(),
            Err(err) => panic!("{}: {err}", r.path),
        };
    }
    let mut builder = match r.method {
        "POST" => client.post(url.as_str()),
        "PUT" => client.put(url.as_str()),
        _ => client.get(url.as_str()),
    };
    for (name, value) in &r.headers {
        builder = builder.insert_header((*name, value.as_str()));
    }
    let resp = match &r.body {
        Body::Empty => builder.send().await,
        Body::Json(text) => {
            builder
                .insert_header(("Content-Type", "application/json"))
                .send_body(*text)
                .await
        }
        Body::Form(form) => builder.send_form(form).await,
        Body::Multipart => {
            builder
                .insert_header(("Content-Type", "multipart/form-data; boundary=b"))
                .send_body("--b--\r\n")
                .await
        }
        Body::Parse(body) => {
            builder
                .insert_header(("Content-Type", "multipart/form-data; boundary=xYzZY"))
                .send_body(body.clone())
                .await
        }
    };
    resp.expect("request").status().as_u16()
}

/// A form signed (or not) for `path` on `app`.
fn signed_form(app: &TestApp, path: &str, form: &[(&str, &str)], sig: Option<String>) -> Req {
    let form: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let sig = sig.unwrap_or_else(|| signature::compute(TWILIO_TOKEN, &app.http_url(path), &form));
    req("POST", path)
        .header("X-Twilio-Signature", sig)
        .body(Body::Form(form))
}

/// A SendGrid Inbound Parse post (parsed mode) whose `Message-ID` is `id`.
fn parse_post(id: &str) -> String {
    let part = |name: &str, value: &str| {
        format!("--xYzZY\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    [
        part("headers", &format!("Message-ID: <{id}@sender.example>")),
        part("from", "Mallory <mallory@sender.example>"),
        part("to", "desk@acme.example"),
        part("subject", "Please forward"),
        part("text", "Reply to victim@elsewhere.example"),
        "--xYzZY--\r\n".to_owned(),
    ]
    .concat()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[actix_rt::test]
async fn authorisation_matrix_for_every_later_endpoint() {
    const EMAIL_SECRET: &str = "matrix-email-secret";
    const METRICS_TOKEN: &str = "matrix-metrics-token";
    const JAMBONZ_PASSWORD: &str = "matrix-jambonz-password";
    // SendGrid's mail-send, on loopback: replies can leave, so the secret is required.
    let mail_send = HttpStub::start(|_, _| (202, serde_json::Value::Null)).await;
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TWILIO_TOKEN.into());
        c.messaging.email_secret = Some(EMAIL_SECRET.into());
        c.sendgrid.api_key = Some("SG.matrix".into());
        c.sendgrid.api_base = mail_send.base.clone();
        c.server.metrics_token = Some(METRICS_TOKEN.into());
        c.jambonz.username = "jambonz".into();
        c.jambonz.password = Some(JAMBONZ_PASSWORD.into());
    })
    .await;
    let state = app.running.as_ref().expect("running").state.clone();
    let origin = format!("http://{}", app.running.as_ref().expect("running").addr());
    let admin = |r: Req, cred: Cred| match cred {
        Cred::None => r,
        Cred::Wrong => r.header("Authorization", "Bearer not-the-token"),
        Cred::Replayed => r.header("Authorization", format!("Bearer {ADMIN}-old")),
        Cred::Valid => r.header("Authorization", format!("Bearer {ADMIN}")),
    };
    // Node client tokens: one valid, one expired (the "replayed" credential).
    let node_token = |expires: Option<chrono::Duration>| {
        let mut conn = state.pool.get().expect("conn");
        switchboard::messaging::tokens::create_client(
            &mut conn,
            "matrix",
            &["acme-dental".to_owned()],
            expires.map(|d| (chrono::Utc::now() + d).naive_utc()),
        )
        .expect("client")
        .1
    };
    let node_valid = node_token(None);
    let node_expired = node_token(Some(chrono::Duration::seconds(-5)));
    // Browser tokens: a used one (replayed), an expired one, a fresh one.
    let (_, used) = state.carrier.browser_tokens.issue(None);
    state
        .carrier
        .browser_tokens
        .redeem(&used)
        .expect("first use");
    let (_, expired) = state
        .carrier
        .browser_tokens
        .issue_with_ttl(None, Duration::from_millis(1));
    let (_, fresh) = state.carrier.browser_tokens.issue(None);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let sms = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", CALLER),
        ("To", DIALLED),
        ("Body", "hello"),
        ("NumMedia", "0"),
    ];
    let forged = || Some("AAAA".to_owned());
    let other_sig = || {
        Some(signature::compute(
            TWILIO_TOKEN,
            &app.http_url("/twiml"),
            &[("CallSid".to_owned(), "CA9".to_owned())],
        ))
    };
    let mut rows: Vec<Row> = Vec::new();
    // Operator API (admin token).
    for (label, r, valid) in [
        (
            "POST /api/sessions",
            req("POST", "/api/sessions").body(Body::Json("{}")),
            201,
        ),
        ("GET /api/messages", req("GET", "/api/messages"), 200),
        (
            "POST /api/calls",
            req("POST", "/api/calls").body(Body::Json("{}")),
            400,
        ),
        (
            "POST /api/calls/{id}/recording",
            req("POST", "/api/calls/CA404/recording").body(Body::Json(r#"{"action":"start"}"#)),
            404,
        ),
        (
            "POST /api/calls/{id}/session",
            req("POST", "/api/calls/CA404/session").body(Body::Json(r#"{"voice":"marin"}"#)),
            404,
        ),
        ("GET /api/calls/live", req("GET", "/api/calls/live"), 200),
        (
            "POST /api/calls/{id}/hangup",
            req("POST", "/api/calls/CA404/hangup"),
            404,
        ),
        (
            "POST /api/calls/{id}/transfer",
            req("POST", "/api/calls/CA404/transfer").body(Body::Json(r#"{"reason":"urgent"}"#)),
            404,
        ),
        (
            "PUT /api/tenants/{id}/session",
            req("PUT", "/api/tenants/acme-dental/session").body(Body::Json(r#"{"voice":"marin"}"#)),
            200,
        ),
    ] {
        rows.push((
            label,
            [Cred::None, Cred::Wrong, Cred::Replayed, Cred::Valid]
                .map(|c| Some(admin(r.clone(), c))),
            [401, 401, 401, valid],
        ));
    }
    // Twilio-signed webhooks: a signature for another request is the replay.
    // A transfer webhook for a call not live here is a 404 once signed.
    for (label, path, form, valid) in [
        ("POST /sms/inbound", "/sms/inbound", &sms[..], 200),
        (
            "POST /twiml/screen-result",
            "/twiml/screen-result?call=00000000-0000-4000-8000-000000000000",
            FORM,
            404,
        ),
    ] {
        let unsigned_form = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        rows.push((
            label,
            [
                Some(req("POST", path).body(Body::Form(unsigned_form))),
                Some(signed_form(&app, path, form, forged())),
                Some(signed_form(&app, path, form, other_sig())),
                Some(signed_form(&app, path, form, None)),
            ],
            [403, 403, 403, valid],
        ));
    }
    // SendGrid: the shared secret (query or Basic auth); valid + empty body → 400.
    rows.push((
        "POST /email/inbound",
        [
            Some(req("POST", "/email/inbound").body(Body::Multipart)),
            Some(req("POST", "/email/inbound?secret=wrong").body(Body::Multipart)),
            Some(
                req("POST", "/email/inbound")
                    .header("Authorization", "Basic c2VuZGdyaWQ6b2xkLXNlY3JldA==")
                    .body(Body::Multipart),
            ),
            Some(
                req("POST", format!("/email/inbound?secret={EMAIL_SECRET}")).body(Body::Multipart),
            ),
        ],
        [401, 401, 401, 400],
    ));
    // The same with a real parse post: only the secret's holder gets a reply sent.
    let parse = |id: &str| req("POST", "/email/inbound").body(Body::Parse(parse_post(id)));
    rows.push((
        "POST /email/inbound (parse post, SendGrid key set)",
        [
            Some(parse("m-none")),
            Some(parse("m-wrong").header("Authorization", basic("sendgrid", "guess"))),
            Some(
                req("POST", "/email/inbound?secret=old-secret")
                    .body(Body::Parse(parse_post("m-replayed"))),
            ),
            Some(parse("m-valid").header("Authorization", basic("sendgrid", EMAIL_SECRET))),
        ],
        [401, 401, 401, 200],
    ));
    // Prometheus with `server.metrics_token` (the dashboard may use the admin
    // token); another deployment's metrics token is the replay.
    let metrics = || req("GET", "/metrics");
    rows.push((
        "GET /metrics (server.metrics_token set)",
        [
            Some(metrics()),
            Some(metrics().header("Authorization", "Bearer not-the-token")),
            Some(metrics().header("Authorization", format!("Bearer {METRICS_TOKEN}-old"))),
            Some(metrics().header("Authorization", format!("Bearer {METRICS_TOKEN}"))),
        ],
        [401, 401, 401, 200],
    ));
    rows.push((
        "GET /metrics (server.metrics_token set; the admin token)",
        [
            Some(metrics().header("Authorization", format!("Basic {METRICS_TOKEN}"))),
            None,
            None,
            Some(metrics().header("Authorization", format!("Bearer {ADMIN}"))),
        ],
        [401, 0, 0, 200],
    ));
    // The built-in simulator (the configured model): open to loopback peers
    // only; `simulator_refuses_a_peer_outside_this_host` covers the others.
    let sim = || req("GET", "/sim/v1/realtime").ws();
    rows.push((
        "GET /sim/v1/realtime (from loopback)",
        [Some(sim()), None, None, Some(sim())],
        [101, 0, 0, 101],
    ));
    // Node clients: without a header the client authenticates in-band (101,
    // then `auth` within messaging.auth_timeout_secs or close 1008).
    rows.push((
        "GET /supervisor",
        [
            Some(req("GET", "/supervisor").ws()),
            Some(
                req("GET", "/supervisor")
                    .ws()
                    .header("Authorization", "Bearer nope"),
            ),
            Some(
                req("GET", "/supervisor")
                    .ws()
                    .header("Authorization", format!("Bearer {node_expired}")),
            ),
            Some(
                req("GET", "/supervisor")
                    .ws()
                    .header("Authorization", format!("Bearer {node_valid}")),
            ),
        ],
        [101, 401, 401, 101],
    ));
    // Browser softphone: single-use, short-lived tokens; the origin is checked first.
    let browser = |token: &str| {
        req("GET", format!("/browser?token={token}"))
            .ws()
            .header("Origin", origin.clone())
    };
    rows.push((
        "GET /browser",
        [
            Some(req("GET", "/browser").ws().header("Origin", origin.clone())),
            Some(browser("0123abcd")),
            Some(browser(&used)),
            Some(browser(&fresh)),
        ],
        [401, 401, 401, 101],
    ));
    rows.push((
        "GET /browser (expired token; valid token from a foreign origin)",
        [
            None,
            Some(browser(&expired)),
            Some(
                req("GET", format!("/browser?token={fresh}"))
                    .ws()
                    .header("Origin", "https://evil.example"),
            ),
            None,
        ],
        [0, 401, 403, 0],
    ));
    // A tenant's calendar feed: its token in the URL (a rotated-away token is
    // the replay); every refusal is 404, so a feed's existence stays secret.
    for token in ["feed-token-old", "feed-token-now"] {
        let mut conn = state.pool.get().expect("conn");
        switchboard::store::calendar::set_feed_token(
            &mut conn,
            "acme-dental",
            token,
            chrono::Utc::now().naive_utc(),
        )
        .expect("feed token");
    }
    let feed = |token: &str| req("GET", format!("/calendar/acme-dental.ics?token={token}"));
    rows.push((
        "GET /calendar/{tenant}.ics",
        [
            Some(req("GET", "/calendar/acme-dental.ics")),
            Some(feed("nope")),
            Some(feed("feed-token-old")),
            Some(feed("feed-token-now")),
        ],
        [404, 404, 404, 200],
    ));
    // jambonz: HTTP Basic on the upgrade, as feature-server sends it for a
    // WebSocket URL with user:password (`ws` client option `auth`).
    let jambonz = |auth: Option<(&str, &str)>| {
        let r = req("GET", "/jambonz")
            .ws()
            .header("Sec-WebSocket-Protocol", "ws.jambonz.org");
        match auth {
            None => r,
            Some((user, password)) => {
                use base64::Engine as _;
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                r.header("Authorization", format!("Basic {encoded}"))
            }
        }
    };
    rows.push((
        "GET /jambonz",
        [
            Some(jambonz(None)),
            Some(jambonz(Some(("jambonz", "guess")))),
            // Another deployment's (or the old) password.
            Some(jambonz(Some(("jambonz", "matrix-jambonz-password-old")))),
            Some(jambonz(Some(("jambonz", JAMBONZ_PASSWORD)))),
        ],
        [401, 401, 401, 101],
    ));
    // Public: the dashboard page (no data until the operator enters the token).
    rows.push((
        "GET /",
        [Some(req("GET", "/")), None, None, Some(req("GET", "/"))],
        [200, 0, 0, 200],
    ));
    let mut failures = Vec::new();
    for (label, requests, expected) in &rows {
        for (i, r) in requests.iter().enumerate() {
            let Some(r) = r else { continue };
            let got = send_req(&app, r).await;
            if got != expected[i] {
                failures.push(format!(
                    "{label} {:?}: {got}, expected {}",
                    [Cred::None, Cred::Wrong, Cred::Replayed, Cred::Valid][i],
                    expected[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Exactly one email reply left: the authenticated post's.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while mail_send.requests().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = mail_send.requests();
    assert_eq!(sent.len(), 1, "mail-send requests: {sent:#?}");
    assert_eq!(sent[0].path, "/v3/mail/send");
    app.stop().await;
    mail_send.stop().await;
}

#[actix_rt::test]
async fn email_inbound_refuses_every_post_when_a_sendgrid_key_has_no_secret() {
    // `serve` refuses this configuration (crate::exposure); a server built
    // without `serve` still never relays mail.
    let mail_send = HttpStub::start(|_, _| (202, serde_json::Value::Null)).await;
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.sendgrid.api_key = Some("SG.nosecret".into());
        c.sendgrid.api_base = mail_send.base.clone();
    })
    .await;
    for r in [
        req("POST", "/email/inbound").body(Body::Parse(parse_post("n-1"))),
        req("POST", "/email/inbound?secret=").body(Body::Parse(parse_post("n-2"))),
        req("POST", "/email/inbound")
            .header("Authorization", basic("sendgrid", ""))
            .body(Body::Parse(parse_post("n-3"))),
    ] {
        assert_eq!(send_req(&app, &r).await, 401, "{}", r.path);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(mail_send.requests().is_empty(), "a reply left");
    app.stop().await;
    mail_send.stop().await;
}

#[actix_rt::test]
async fn simulator_route_exists_only_when_it_is_the_model_or_enabled() {
    let sim = req("GET", "/sim/v1/realtime").ws();
    // A real provider configured (never dialled here: no call is placed).
    let real = "ws://127.0.0.1:9/v1/realtime".to_owned();
    let app = TestApp::start_with(Db::Sqlite, |c| c.model.url = real.clone()).await;
    assert_eq!(
        send_req(&app, &sim).await,
        404,
        "simulator served beside a real model"
    );
    app.stop().await;
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.model.url = real.clone();
        c.simulator.enabled = true;
    })
    .await;
    assert_eq!(send_req(&app, &sim).await, 101, "simulator.enabled");
    app.stop().await;
}

#[actix_rt::test]
async fn simulator_refuses_a_peer_outside_this_host() {
    let ns = match NetNs::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!(
                "SKIP simulator_refuses_a_peer_outside_this_host: no network namespace: {why}"
            );
            return;
        }
    };
    for public in [false, true] {
        let app = TestApp::start_with(Db::Sqlite, |c| {
            c.server.bind = format!("{}:0", ns.host_ip);
            c.simulator.public = public;
        })
        .await;
        let server = app.running.as_ref().expect("running").addr();
        assert_eq!(server.ip(), std::net::IpAddr::V4(ns.host_ip));
        let (health, sim) = ns
            .run(move || {
                (
                    status_of(server, "/health", false),
                    status_of(server, "/sim/v1/realtime", true),
                )
            })
            .await;
        assert_eq!(health, 200, "the namespace reaches the server");
        assert_eq!(
            sim,
            if public { 101 } else { 403 },
            "/sim/v1/realtime from {} with simulator.public = {public}",
            ns.ns_ip
        );
        app.stop().await;
    }
}

/// `GET /` (the dashboard) carries a CSP with its script's hash and
/// `frame-ancestors 'none'`; every response carries nosniff and no-referrer;
/// HSTS when the public URL is https.
#[actix_rt::test]
async fn browser_security_headers() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.server.public_url = "https://voice.example.com".into();
    })
    .await;
    let resp = awc::Client::default()
        .get(app.http_url("/"))
        .send()
        .await
        .expect("GET /");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("strict-transport-security"), "max-age=31536000");
    let health = awc::Client::default()
        .get(app.http_url("/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(
        health
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    app.stop().await;
}

/// Request values are logged escaped (a CR or an ANSI sequence in an
/// unverified `CallSid` cannot forge a log line), and an unauthenticated
/// webhook logs nothing of its content (a GET SMS webhook's URL holds the
/// text).
#[actix_rt::test]
async fn logs_escape_request_values_and_keep_unauthenticated_content_out() {
    crate::support::logs::install();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TWILIO_TOKEN.into());
    })
    .await;
    let forged = "CAlogforge\r[2026-12-04T13:59:59Z INFO  switchboard::app] all good\u{1b}[8m";
    let form = [("CallSid", forged), ("From", CALLER), ("To", DIALLED)];
    let resp = awc::Client::default()
        .post(app.http_url("/twiml"))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .insert_header(("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl"))
        .send_body(serde_urlencoded::to_string(form).expect("form"))
        .await
        .expect("POST /twiml");
    assert_eq!(resp.status().as_u16(), 403);
    let secret_text = "my-card-is-4111111111111111-logcheck";
    let resp = awc::Client::default()
        .get(app.http_url(&format!(
            "/sms/inbound?MessageSid=SM1&From=%2B15550100001&Body={secret_text}"
        )))
        .insert_header(("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl"))
        .send()
        .await
        .expect("GET /sms/inbound");
    assert_eq!(resp.status().as_u16(), 403);
    let lines = crate::support::logs::warnings_mentioning("CAlogforge");
    assert!(!lines.is_empty(), "the refused webhook is logged");
    for line in &lines {
        assert!(
            !line.contains('\r') && !line.contains('\u{1b}'),
            "raw control characters: {line:?}"
        );
    }
    assert!(
        crate::support::logs::warnings_mentioning(secret_text).is_empty(),
        "message text logged before authentication"
    );
    app.stop().await;
}
