//! Rate limits per source address (`[limits]`): webhook floods and repeated
//! failed authentications get 429 with `Retry-After`; another source address,
//! or the same one after the window refills, is unaffected. Requests come from
//! distinct loopback addresses (127.0.0.x) over raw sockets bound to them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::support::raw::{http, RawResponse};
use crate::support::{TestApp, ADMIN};

const TWILIO_TOKEN: &str = "limits-twilio-token";
const EMAIL_SECRET: &str = "limits-email-secret";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn addr(app: &TestApp) -> SocketAddr {
    app.running.as_ref().expect("running").addr()
}

/// One request from 127.0.0.`last`, off the test's thread.
async fn send(
    server: SocketAddr,
    last: u8,
    method: &'static str,
    path: String,
    headers: Vec<String>,
    body: &'static [u8],
) -> RawResponse {
    tokio::task::spawn_blocking(move || http(ip(last), server, method, &path, &headers, body))
        .await
        .expect("request thread")
}

fn assert_429(resp: &RawResponse, what: &str) {
    assert_eq!(resp.status, 429, "{what}: {resp:?}");
    let retry: u64 = resp
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no Retry-After: {resp:?}"));
    assert!((1..=60).contains(&retry), "{what}: Retry-After {retry}");
}

/// (source 127.0.0.x, method, path, header lines, body) of a failing request.
type FailCase = (u8, &'static str, String, Vec<String>, &'static [u8]);

const FORM: &[u8] = b"CallSid=CA1&AccountSid=AC1&From=%2B15550100001&To=%2B15550100000";

#[actix_rt::test]
async fn webhook_flood_gets_429_per_source_address() {
    const PER_MINUTE: u32 = 30;
    let app = TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.limits.webhook_per_minute = PER_MINUTE;
    })
    .await;
    let server = addr(&app);
    let form = vec!["Content-Type: application/x-www-form-urlencoded".to_owned()];
    let multipart = vec!["Content-Type: multipart/form-data; boundary=b".to_owned()];
    for (n, (path, headers)) in [
        ("/twiml", &form),
        ("/twiml/dial-action", &form),
        ("/sms/inbound", &form),
        ("/email/inbound", &multipart),
    ]
    .into_iter()
    .enumerate()
    {
        let source = 10 + n as u8;
        for i in 0..PER_MINUTE {
            let resp = send(server, source, "POST", path.into(), headers.clone(), FORM).await;
            assert_ne!(resp.status, 429, "{path} request {i} limited too early");
        }
        let resp = send(server, source, "POST", path.into(), headers.clone(), FORM).await;
        assert_429(&resp, path);
        // Another address is unaffected.
        let other = send(
            server,
            source + 100,
            "POST",
            path.into(),
            headers.clone(),
            FORM,
        )
        .await;
        assert_ne!(other.status, 429, "{path} from another address");
    }
    // The bucket refills one request per 60/PER_MINUTE s.
    tokio::time::sleep(Duration::from_millis(60_000 / PER_MINUTE as u64 + 200)).await;
    let resp = send(server, 10, "POST", "/twiml".into(), form.clone(), FORM).await;
    assert_eq!(resp.status, 200, "after the window: {resp:?}");
    // Non-webhook routes are not counted.
    let health = send(server, 10, "GET", "/health".into(), vec![], b"").await;
    assert_eq!(health.status, 200);
    app.stop().await;
}

#[actix_rt::test]
async fn failed_authentications_get_429_per_source_address() {
    const PER_MINUTE: u32 = 3;
    let app = TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.limits.failed_auth_per_minute = PER_MINUTE;
        c.twilio.auth_token = Some(TWILIO_TOKEN.into());
        c.messaging.email_secret = Some(EMAIL_SECRET.into());
        c.server.metrics_token = Some("limits-metrics-token".into());
    })
    .await;
    let server = addr(&app);
    let origin = format!("Origin: http://{server}");
    // (source, method, path, headers, body): each fails authentication.
    let cases: Vec<FailCase> = vec![
        (
            1,
            "GET",
            "/api/calls".into(),
            vec!["Authorization: Bearer wrong".into()],
            b"",
        ),
        (
            3,
            "POST",
            "/twiml".into(),
            vec![
                "Content-Type: application/x-www-form-urlencoded".into(),
                "X-Twilio-Signature: forged".into(),
            ],
            FORM,
        ),
        (
            4,
            "GET",
            "/supervisor".into(),
            vec!["Authorization: Bearer not-a-client-token".into()],
            b"",
        ),
        (5, "GET", "/browser?token=bogus".into(), vec![origin], b""),
        (
            6,
            "POST",
            "/email/inbound?secret=wrong".into(),
            vec!["Content-Type: multipart/form-data; boundary=b".into()],
            b"",
        ),
        (
            7,
            "POST",
            "/sms/inbound".into(),
            vec![
                "Content-Type: application/x-www-form-urlencoded".into(),
                "X-Twilio-Signature: forged".into(),
            ],
            FORM,
        ),
        (
            8,
            "GET",
            "/metrics".into(),
            vec!["Authorization: Bearer guessed-metrics-token".into()],
            b"",
        ),
    ];
    for (source, method, path, headers, body) in cases {
        // A forged Twilio signature is forbidden; a wrong token, secret or
        // client credential is unauthorised.
        let signed = headers.iter().any(|h| h.starts_with("X-Twilio-Signature"));
        let refused = if signed { 403 } else { 401 };
        for i in 0..PER_MINUTE {
            let resp = send(server, source, method, path.clone(), headers.clone(), body).await;
            assert_eq!(
                resp.status, refused,
                "{method} {path} attempt {i}: {resp:?}"
            );
        }
        let resp = send(server, source, method, path.clone(), headers.clone(), body).await;
        assert_429(&resp, &path);
    }
    // A blocked address is refused even with the right token; /health stays open.
    let valid = vec![format!("Authorization: Bearer {ADMIN}")];
    let blocked = send(server, 1, "GET", "/api/calls".into(), valid.clone(), b"").await;
    assert_429(&blocked, "valid token from a blocked address");
    let health = send(server, 1, "GET", "/health".into(), vec![], b"").await;
    assert_eq!(health.status, 200);
    // Another address is unaffected.
    let other = send(server, 2, "GET", "/api/calls".into(), valid, b"").await;
    assert_eq!(other.status, 200, "{other:?}");
    app.stop().await;
}

/// One request from the proxy (127.0.0.1, a trusted proxy) on behalf of
/// `client` (its `X-Forwarded-For`), off the test's thread.
async fn via_proxy(
    server: SocketAddr,
    client: &str,
    method: &'static str,
    path: &str,
    mut headers: Vec<String>,
    body: Vec<u8>,
) -> RawResponse {
    headers.push(format!("X-Forwarded-For: {client}"));
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || http(ip(1), server, method, &path, &headers, &body))
        .await
        .expect("request thread")
}

/// A `/twiml` form for a new call (its own `CallSid`), signed for `url` when
/// `signed`, else with a forged signature.
fn twiml_form(url: &str, n: usize, signed: bool) -> (Vec<String>, Vec<u8>) {
    let params: Vec<(String, String)> = vec![
        ("CallSid".into(), format!("CAproxy{n:04}")),
        ("AccountSid".into(), "AC1".into()),
        ("From".into(), "+15550100001".into()),
        ("To".into(), "+15550100000".into()),
    ];
    let signature = if signed {
        switchboard::carrier::twilio::signature::compute(TWILIO_TOKEN, url, &params)
    } else {
        "forged".into()
    };
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&");
    (
        vec![
            "Content-Type: application/x-www-form-urlencoded".into(),
            format!("X-Twilio-Signature: {signature}"),
        ],
        body.into_bytes(),
    )
}

/// Behind a trusted proxy every request comes from 127.0.0.1; the limits key
/// on the forwarded client instead. Client A's failed logins block A (even
/// with the right token afterwards) but neither Twilio (B), whose signed
/// webhooks all answer 200, nor A's own signed webhooks; A's forged ones get
/// 429. In-band `/supervisor` auth failures from C count: C's next
/// header-authenticated request gets 429.
#[actix_rt::test]
async fn behind_a_trusted_proxy_others_failed_logins_never_refuse_signed_webhooks() {
    const PER_MINUTE: u32 = 3;
    let app = TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.limits.failed_auth_per_minute = PER_MINUTE;
        c.twilio.auth_token = Some(TWILIO_TOKEN.into());
        c.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let server = addr(&app);
    let (a, b, c) = ("198.51.100.7", "203.0.113.50", "192.0.2.99");
    let wrong = vec!["Authorization: Bearer wrong".to_owned()];
    for i in 0..PER_MINUTE {
        let resp = via_proxy(server, a, "GET", "/api/calls", wrong.clone(), vec![]).await;
        assert_eq!(resp.status, 401, "attempt {i}: {resp:?}");
    }
    let resp = via_proxy(server, a, "GET", "/api/calls", wrong.clone(), vec![]).await;
    assert_429(&resp, "A over its failed-login budget");
    let valid = vec![format!("Authorization: Bearer {ADMIN}")];
    let resp = via_proxy(server, a, "GET", "/api/calls", valid.clone(), vec![]).await;
    assert_429(&resp, "A blocked even with the right token");

    let url = app.http_url("/twiml");
    for n in 0..10 {
        let (headers, body) = twiml_form(&url, n, true);
        let resp = via_proxy(server, b, "POST", "/twiml", headers, body).await;
        assert_eq!(resp.status, 200, "Twilio webhook {n}: {resp:?}");
    }
    let (headers, body) = twiml_form(&url, 100, true);
    let resp = via_proxy(server, a, "POST", "/twiml", headers, body).await;
    assert_eq!(resp.status, 200, "a signed webhook from A: {resp:?}");
    let (headers, body) = twiml_form(&url, 101, false);
    let resp = via_proxy(server, a, "POST", "/twiml", headers, body).await;
    assert_429(&resp, "a forged webhook from blocked A");
    let resp = via_proxy(server, b, "GET", "/api/calls", valid.clone(), vec![]).await;
    assert_eq!(resp.status, 200, "B is not blocked: {resp:?}");

    // In-band /supervisor auth failures from C, one past its budget.
    for i in 0..=PER_MINUTE {
        let (_resp, mut ws) = awc::Client::new()
            .ws(format!("ws://{server}/supervisor"))
            .header("X-Forwarded-For", c)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("upgrade {i}: {e}"));
        use futures_util::{SinkExt as _, StreamExt as _};
        ws.send(awc::ws::Message::Text(
            r#"{"type":"auth","token":"guessed"}"#.into(),
        ))
        .await
        .expect("send auth");
        // Wait for the refusal (the answer, then the close).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, ws.next()).await {
            if matches!(frame, Ok(awc::ws::Frame::Close(_)) | Err(_)) {
                break;
            }
        }
    }
    let resp = via_proxy(server, c, "GET", "/api/calls", valid, vec![]).await;
    assert_429(&resp, "C after in-band /supervisor failures");
    app.stop().await;
}

/// 200 connections from one address each send a webhook head announcing a
/// 1000-byte body, then trickle it one byte every 200 ms: every one is
/// answered 408 (and closed) within `body_timeout_ms` + 1 s, while a signed
/// webhook on a fresh connection meanwhile answers 200 and `/health` stays up.
#[actix_rt::test]
async fn slow_bodies_get_408_in_time_and_signed_webhooks_still_answer() {
    use std::io::Write as _;
    use std::time::Instant;
    const SLOW: usize = 200;
    const BODY_TIMEOUT_MS: u64 = 1500;
    let app = TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TWILIO_TOKEN.into());
        c.server.body_timeout_ms = BODY_TIMEOUT_MS;
        c.limits.webhook_per_minute = 0;
    })
    .await;
    let server = addr(&app);
    let slow = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut sent_at = Vec::with_capacity(SLOW);
        let mut streams: Vec<std::net::TcpStream> = (0..SLOW)
            .map(|_| {
                let mut s = crate::support::raw::connect_from(ip(20), server);
                let head = format!(
                    "POST /twiml HTTP/1.1\r\nHost: {server}\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     X-Twilio-Signature: x\r\nContent-Length: 1000\r\n\r\nC"
                );
                s.write_all(head.as_bytes()).expect("head");
                sent_at.push(started.elapsed());
                s
            })
            .collect();
        let heads_sent = started.elapsed();
        // Trickle a byte every 200 ms to each, reading what comes back, until
        // every one has been answered and closed or the deadline has long passed.
        for s in &streams {
            s.set_nonblocking(true).expect("nonblocking");
        }
        let mut answers: Vec<(Option<Duration>, Vec<u8>, bool)> =
            (0..SLOW).map(|_| (None, Vec::new(), false)).collect();
        let give_up = Instant::now() + Duration::from_millis(BODY_TIMEOUT_MS + 3000);
        while Instant::now() < give_up && answers.iter().any(|(_, _, closed)| !closed) {
            for (s, (at, raw, closed)) in streams.iter_mut().zip(answers.iter_mut()) {
                if *closed {
                    continue;
                }
                let _ = s.write_all(b"a");
                let mut buf = [0u8; 1024];
                loop {
                    match std::io::Read::read(s, &mut buf) {
                        Ok(0) => {
                            *closed = true;
                            break;
                        }
                        Ok(n) => {
                            raw.extend_from_slice(&buf[..n]);
                            at.get_or_insert_with(|| started.elapsed());
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            *closed = true;
                            break;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Per connection: from its head sent to its answer.
        let answers: Vec<(Option<Duration>, Option<u16>, bool)> = answers
            .into_iter()
            .zip(sent_at)
            .map(|((at, raw, closed), sent)| {
                let text = String::from_utf8_lossy(&raw).into_owned();
                let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok());
                (at.map(|at| at.saturating_sub(sent)), status, closed)
            })
            .collect();
        (heads_sent, answers)
    });
    // Meanwhile a signed webhook and /health, each on a fresh connection.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let url = app.http_url("/twiml");
    let (headers, body) = twiml_form(&url, 7, true);
    let signed = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let resp = http(ip(21), server, "POST", "/twiml", &headers, &body);
        (resp, started.elapsed())
    })
    .await
    .expect("signed webhook");
    assert_eq!(signed.0.status, 200, "{:?}", signed.0);
    assert!(
        signed.1 < Duration::from_secs(2),
        "signed webhook took {:?}",
        signed.1
    );
    let health = send(server, 22, "GET", "/health".into(), vec![], b"").await;
    assert_eq!(health.status, 200);

    let (heads_sent, answers) = slow.await.expect("slow clients");
    let timed_out = answers.iter().filter(|(_, s, _)| *s == Some(408)).count();
    assert_eq!(timed_out, SLOW, "answers: {answers:?}");
    assert!(
        answers.iter().all(|(_, _, closed)| *closed),
        "a connection was kept open"
    );
    let slowest = answers
        .iter()
        .filter_map(|(at, _, _)| *at)
        .max()
        .expect("answered");
    assert!(
        slowest <= Duration::from_millis(BODY_TIMEOUT_MS + 1000),
        "the last 408 came after {slowest:?}"
    );
    eprintln!("slow bodies: heads sent in {heads_sent:?}, last 408 after {slowest:?}; signed webhook in {:?}", signed.1);
    app.stop().await;
}

/// `server.max_connections_per_address = 5`: five open connections from one
/// address are served; a sixth from it is answered 503 and closed while
/// another address is served; once the five close, the address is served again.
#[actix_rt::test]
async fn connections_past_the_per_address_cap_are_refused() {
    use std::io::{Read as _, Write as _};
    let app = TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.server.max_connections_per_address = 5;
    })
    .await;
    let server = addr(&app);
    let held = tokio::task::spawn_blocking(move || {
        (0..5)
            .map(|i| {
                let mut s = crate::support::raw::connect_from(ip(30), server);
                s.write_all(format!("GET /health HTTP/1.1\r\nHost: {server}\r\n\r\n").as_bytes())
                    .expect("request");
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).expect("answer");
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                assert!(head.starts_with("HTTP/1.1 200"), "held {i}: {head}");
                s
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("held connections");
    let sixth = send(server, 30, "GET", "/health".into(), vec![], b"").await;
    assert_eq!(sixth.status, 503, "{sixth:?}");
    let other = send(server, 31, "GET", "/health".into(), vec![], b"").await;
    assert_eq!(other.status, 200, "{other:?}");
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let again = send(server, 30, "GET", "/health".into(), vec![], b"").await;
        if again.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{again:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
