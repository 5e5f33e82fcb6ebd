//! Garbage against every endpoint while a good call runs: random, truncated,
//! oversized and wrongly typed frames on every WebSocket endpoint and bodies on
//! every HTTP route (a seeded generator, bounded to a few seconds). The good
//! call still gets its reply, `/health` stays 200 and the server keeps
//! accepting calls afterwards.

use std::time::{Duration, Instant};

use awc::ws::Message;
use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::{caller_mulaw, is_transcript, talk_silence_until, Db, TestApp, ADMIN};

/// How long each endpoint is fed garbage.
const PER_ENDPOINT: Duration = Duration::from_millis(250);

/// Valid-looking frames of the protocols spoken on the WebSocket endpoints, to
/// truncate and mistype.
const SAMPLES: &[&str] = &[
    r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"accountSid":"AC1","callSid":"CA1","customParameters":{}}}"#,
    r#"{"event":"media","streamSid":"MZ1","media":{"payload":"//////8="}}"#,
    r#"{"type":"session:new","msgid":"m1","call_sid":"c1","data":{"from":"+1","to":"+2"}}"#,
    r#"{"type":"sms_received","id":"r1","from":"+15550100001","to":"+15550100000","message":"hi"}"#,
    r#"{"type":"session.update","session":{"type":"realtime","instructions":"x"}}"#,
    r#"{"type":"input_audio_buffer.append","audio":"AAAA"}"#,
];

/// Wrongly typed documents: right keys, wrong JSON types.
const MISTYPED: &[&str] = &[
    r#"{"event":5}"#,
    r#"{"event":"start","start":[]}"#,
    r#"{"event":"media","media":{"payload":12}}"#,
    r#"{"type":["auth"],"token":{}}"#,
    r#"{"type":"session:new","msgid":7,"data":"x"}"#,
    r#"{"type":"input_audio_buffer.append","audio":null}"#,
    r#"[1,2,3]"#,
    r#""just a string""#,
    r#"null"#,
];

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..max);
    (0..n).map(|_| rng.gen()).collect()
}

/// One garbage body/frame: random, truncated, oversized or mistyped.
fn garbage(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..4) {
        0 => random_bytes(rng, 2048),
        1 => {
            let sample = SAMPLES[rng.gen_range(0..SAMPLES.len())];
            sample.as_bytes()[..rng.gen_range(0..sample.len())].to_vec()
        }
        2 => vec![b'A'; rng.gen_range(70_000..200_000)],
        _ => MISTYPED[rng.gen_range(0..MISTYPED.len())]
            .as_bytes()
            .to_vec(),
    }
}

fn frame(rng: &mut StdRng) -> Message {
    let bytes = garbage(rng);
    if rng.gen_bool(0.3) {
        Message::Binary(bytes.into())
    } else {
        Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
    }
}

/// Feeds one WebSocket endpoint garbage for [`PER_ENDPOINT`], reconnecting
/// whenever the server closes; returns how many frames were sent.
async fn feed_ws(url: &str, headers: &[(&str, String)], protocol: Option<&str>, seed: u64) -> u32 {
    let mut rng = StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + PER_ENDPOINT;
    let mut sent = 0;
    while Instant::now() < deadline {
        let mut req = awc::Client::default().ws(url);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        if let Some(p) = protocol {
            req = req.protocols([p]);
        }
        let Ok((_, mut conn)) = req.connect().await else {
            // Refused before the upgrade (e.g. no token): that is the answer.
            return sent;
        };
        while Instant::now() < deadline {
            if conn.send(frame(&mut rng)).await.is_err() {
                break;
            }
            sent += 1;
        }
    }
    sent
}

/// Every HTTP route with garbage bodies and content types; returns the statuses.
async fn feed_http(base: &str, seed: u64) -> Vec<u16> {
    let mut rng = StdRng::seed_from_u64(seed);
    let routes = [
        ("POST", "/twiml"),
        ("POST", "/twiml/dial-action?call=x"),
        ("POST", "/twiml/voicemail/done?call=x"),
        ("POST", "/twiml/voicemail/recording?call=x"),
        ("GET", "/api/caller-messages/x/audio"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/tools"),
        ("GET", "/api/calls"),
        ("GET", "/api/calls/%E2%80%8Bx%00"),
        ("GET", "/api/tenants"),
        ("GET", "/"),
        ("POST", "/api/sessions"),
        ("GET", "/api/messages"),
        ("GET", "/api/caller-messages?limit=x&tenant=%00"),
        ("PATCH", "/api/caller-messages/%E2%80%8Bx"),
        ("GET", "/api/appointments?from=%FF&to=2030-13-45"),
        ("GET", "/api/notifications?offset=-1"),
        ("POST", "/api/calls"),
        ("POST", "/api/calls/CA1/recording"),
        ("POST", "/api/calls/CA1/session"),
        ("GET", "/api/calls/live"),
        ("POST", "/api/calls/%E2%80%8Bx%00/hangup"),
        ("POST", "/api/calls/%E2%80%8Bx%00/transfer"),
        ("PUT", "/api/tenants/acme-dental/session"),
        ("POST", "/sms/inbound"),
        ("POST", "/email/inbound"),
    ];
    let types = [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=zz",
        "multipart/form-data",
        "text/plain",
    ];
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let mut statuses = Vec::new();
    for (method, path) in routes {
        for _ in 0..4 {
            let url = format!("{base}{path}");
            let req = match method {
                "POST" => client.post(url),
                "PUT" => client.put(url),
                "PATCH" => client.patch(url),
                _ => client.get(url),
            }
            .insert_header(("Authorization", format!("Bearer {ADMIN}")))
            .insert_header(("Content-Type", types[rng.gen_range(0..types.len())]));
            let body = garbage(&mut rng);
            match req.send_body(body).await {
                Ok(resp) => statuses.push(resp.status().as_u16()),
                // The server may close on an oversized body before reading it.
                Err(_) => statuses.push(0),
            }
        }
    }
    statuses
}

#[actix_rt::test]
async fn garbage_on_every_endpoint_leaves_a_good_call_and_the_server_intact() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        // Garbage from one address must not turn into 429s here.
        c.limits.webhook_per_minute = 0;
        c.limits.failed_auth_per_minute = 0;
    })
    .await;
    let addr = app.running.as_ref().expect("running").addr();
    let (mut good, feed) = app.dial().await;
    let ws_base = format!("ws://{addr}");
    let http_base = format!("http://{addr}");
    let garbage_task = actix_rt::spawn(async move {
        let admin = [("Authorization", format!("Bearer {ADMIN}"))];
        let origin = [("Origin", format!("http://{addr}"))];
        let mut sent = 0;
        sent += feed_ws(&format!("{ws_base}/media-stream"), &[], None, 1).await;
        sent += feed_ws(
            &format!("{ws_base}/jambonz"),
            &[],
            Some("ws.jambonz.org"),
            2,
        )
        .await;
        sent += feed_ws(&format!("{ws_base}/browser?token=x"), &origin, None, 3).await;
        sent += feed_ws(&format!("{ws_base}/supervisor"), &[], None, 4).await;
        sent += feed_ws(&format!("{ws_base}/logs"), &admin, None, 5).await;
        sent += feed_ws(&format!("{ws_base}/sim/v1/realtime"), &[], None, 6).await;
        (sent, feed_http(&http_base, 7).await)
    });
    good.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("good call audio");
    talk_silence_until(
        &mut good,
        &feed,
        Duration::from_secs(20),
        is_transcript("assistant"),
    )
    .await
    .expect("good call answered during the garbage");
    let (frames, statuses) = garbage_task.await.expect("garbage task");
    assert!(frames > 50, "only {frames} garbage frames sent");
    assert!(
        statuses.iter().all(|s| *s < 500 || *s == 503),
        "a route failed on garbage: {statuses:?}"
    );
    let (status, health) = app.get_json("/health").await;
    assert_eq!(status, 200, "{health}");
    good.stop().await.expect("stop");
    // The server still takes calls.
    let (mut again, _feed) = app.dial().await;
    again
        .send_silence(200)
        .await
        .expect("new call after garbage");
    again.stop().await.expect("stop");
    app.stop().await;
}
