//! Pre-warm at the voice webhook: `POST /twiml` starts the call's model link and
//! greeting before Twilio opens the media stream, so the greeting plays the
//! moment the stream starts. The model is the built-in simulator with a real
//! provider's delays (400 ms connect, 500 ms to first audio); the stream opens
//! 1 s after the webhook, as Twilio's typically does.

use std::time::{Duration, Instant};

use switchboard::config::Config;
use switchboard::events::CallEvent;
use switchboard::far_end::{random_sid, CallSetup, LogFeed, TwilioCall};

use crate::support::{caller_mulaw, talk_silence_until, Db, TestApp, ADMIN, CALLER, DIALLED};

/// Stand-in provider: connect 400 ms, first audio 500 ms after `response.create`.
const CONNECT_MS: u64 = 400;
const FIRST_AUDIO_MS: u64 = 500;
/// Twilio's webhook → stream gap.
const GAP: Duration = Duration::from_secs(1);

fn with_delays(c: &mut Config) {
    c.calls.greet_caller = true;
    c.simulator.connect_delay_ms = CONNECT_MS;
    c.simulator.first_audio_delay_ms = FIRST_AUDIO_MS;
}

/// Posts Twilio's voice webhook for `call_sid`; returns the TwiML.
pub(crate) async fn webhook(app: &TestApp, call_sid: &str) -> String {
    let form = [
        ("CallSid", call_sid),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", CALLER),
        ("To", DIALLED),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let mut resp = awc::Client::default()
        .post(app.http_url("/twiml"))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body(serde_urlencoded::to_string(form).expect("form"))
        .await
        .expect("POST /twiml");
    assert_eq!(resp.status().as_u16(), 200);
    String::from_utf8_lossy(&resp.body().await.expect("body")).into_owned()
}

/// The value of TwiML `<Parameter name="…">`, if present.
fn parameter(twiml: &str, name: &str) -> Option<String> {
    let key = format!("<Parameter name=\"{name}\" value=\"");
    let start = twiml.find(&key)? + key.len();
    let len = twiml[start..].find('"')?;
    Some(twiml[start..start + len].to_string())
}

/// The stream Twilio opens for `call_sid` with the TwiML's parameters.
pub(crate) fn stream_for(app: &TestApp, call_sid: &str, twiml: &str) -> CallSetup {
    let mut setup = CallSetup::new(app.media_url());
    setup.call_sid = call_sid.to_string();
    for name in ["tenant", "from", "to", "prewarm"] {
        if let Some(value) = parameter(twiml, name) {
            setup = setup.with_parameter(name, value);
        }
    }
    setup
}

/// Opens the stream and waits for the first greeting frame; the time from its
/// `start` to that frame.
async fn greeting_latency(setup: CallSetup) -> (TwilioCall, Duration) {
    let call = TwilioCall::connect(setup).await.expect("stream connects");
    assert!(
        call.wait_for_audio(20, Duration::from_secs(10)).await,
        "no greeting audio"
    );
    let latency = call.first_audio_latency().expect("first audio seen");
    (call, latency)
}

/// One full call first, as on a server already taking calls: a fresh server's
/// first call pays one-off costs (lazily built state, first connections) of up
/// to a few hundred ms in a debug build that are not the steady state measured.
async fn warm_up(app: &TestApp) {
    let call_sid = random_sid("CA");
    let twiml = webhook(app, &call_sid).await;
    let (mut call, _) = greeting_latency(stream_for(app, &call_sid, &twiml)).await;
    call.stop().await.expect("stop");
    app.wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
}

const MODEL_DELAYS: Duration = Duration::from_millis(CONNECT_MS + FIRST_AUDIO_MS);

#[actix_rt::test]
async fn prewarmed_greeting_plays_within_100_ms_of_the_stream_start() {
    let app = TestApp::start_with(Db::Sqlite, with_delays).await;
    warm_up(&app).await;
    let sessions = app.sim().connections_total();
    let call_sid = random_sid("CA");
    let twiml = webhook(&app, &call_sid).await;
    let token = parameter(&twiml, "prewarm").expect("prewarm parameter");
    assert_eq!(token.len(), 32, "{twiml}");
    tokio::time::sleep(GAP).await;

    let (mut call, latency) = greeting_latency(stream_for(&app, &call_sid, &twiml)).await;
    eprintln!("greeting latency with pre-warm: {} ms", latency.as_millis());
    assert!(
        latency < Duration::from_millis(100),
        "greeting {} ms after start",
        latency.as_millis()
    );
    // One more model connection: the stream used the pre-warmed call's.
    assert_eq!(app.sim().connections_total(), sessions + 1);
    call.stop().await.expect("stop");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(record["call"]["ended_reason"], "caller_hangup", "{record}");
    assert_eq!(
        record["call"]["stream_sid"],
        call.stream_sid(),
        "the row names the stream that attached: {record}"
    );
    app.stop().await;
}

/// `name{placement="…"} N` from the metrics text, 0 when absent.
fn claims(metrics: &str, placement: &str) -> u64 {
    let key = format!("switchboard_prewarm_claims_total{{placement=\"{placement}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Pre-warms calls with two workers and a webhook → stream `gap`, each stream
/// put on the other worker every second call (the server hands connections to
/// its workers in turn: one more connection shifts the next one). Every call
/// must go on as if nothing happened — the greeting once, one model session
/// configured once, the caller's turn answered, the transcript stored in
/// order — and `prewarm_claims_total` must show calls moved to the stream's
/// worker and none left across threads. Returns the greeting latencies.
async fn calls_across_workers(app: &TestApp, gap: Duration) -> Vec<Duration> {
    const CALLS: u64 = 4;
    let before = app.metrics().await;
    let mut latencies = Vec::new();
    for i in 0..CALLS {
        let sessions = app.sim().connections_total();
        let call_sid = random_sid("CA");
        let feed = LogFeed::connect(&app.logs_url(&call_sid), Some(ADMIN))
            .await
            .expect("log feed connects");
        let twiml = webhook(app, &call_sid).await;
        tokio::time::sleep(gap).await;
        if i % 2 == 1 {
            app.metrics().await;
        }
        let (mut call, latency) = greeting_latency(stream_for(app, &call_sid, &twiml)).await;
        latencies.push(latency);
        call.stream_mulaw(&caller_mulaw("caller-booking"))
            .await
            .expect("stream caller audio");
        let answered = |e: &CallEvent| {
            matches!(e, CallEvent::Transcript { role, text, .. }
                if role == "assistant" && text.contains("Tuesday morning"))
        };
        let reply = talk_silence_until(&mut call, &feed, Duration::from_secs(20), answered).await;
        assert!(reply.is_some(), "no answer; events: {:?}", feed.events());
        call.stop().await.expect("stop");
        let record = app
            .wait_call_ended(&call_sid, Duration::from_secs(10))
            .await;
        assert_eq!(record["call"]["ended_reason"], "caller_hangup", "{record}");
        assert_eq!(record["call"]["stream_sid"], call.stream_sid(), "{record}");
        let lines = record["transcript"].as_array().expect("transcript array");
        let roles: Vec<&str> = lines.iter().filter_map(|l| l["role"].as_str()).collect();
        assert_eq!(
            roles,
            ["assistant", "user", "assistant"],
            "greeting once, then the turn: {lines:?}"
        );
        assert_eq!(
            app.sim().connections_total(),
            sessions + 1,
            "the call kept its one model session"
        );
        let session = app.sim().recorded_sessions().pop().expect("a session");
        let count = |kind: &str| session.iter().filter(|e| e["type"] == kind).count();
        assert_eq!(count("session.update"), 1, "configured once");
        assert_eq!(count("response.create"), 1, "the greeting asked for once");
        assert!(
            count("input_audio_buffer.append") > 0,
            "caller audio reached the model"
        );
    }
    let after = app.metrics().await;
    let delta = |placement| claims(&after, placement) - claims(&before, placement);
    let (moved, stayed) = (delta("handed_over"), delta("same_thread"));
    eprintln!(
        "gap {} ms: {moved} handed over, {stayed} on the same thread; greeting latencies {latencies:?}",
        gap.as_millis()
    );
    assert_eq!(delta("across_threads"), 0, "no call left across threads");
    assert_eq!(moved + stayed, CALLS);
    assert!(moved >= 1, "no stream landed on the other worker: {after}");
    latencies
}

/// The usual case: the greeting is ready when the stream starts, on whichever
/// worker the stream lands.
#[actix_rt::test]
async fn a_prewarmed_call_moves_to_its_streams_worker_and_carries_on() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        with_delays(c);
        c.server.workers = 2;
    })
    .await;
    warm_up(&app).await;
    for latency in calls_across_workers(&app, GAP).await {
        assert!(
            latency < Duration::from_millis(100),
            "greeting {} ms after start",
            latency.as_millis()
        );
    }
    app.stop().await;
}

/// A stream that starts while the pre-warmed model session is still being
/// opened (150 ms gap, 400 ms connect): the call moves once the session is
/// open, and the greeting is asked for once — by whichever actor saw the
/// session ready — and plays sooner than a cold call's would.
#[actix_rt::test]
async fn a_call_moved_before_its_model_session_opened_greets_once() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        with_delays(c);
        c.server.workers = 2;
    })
    .await;
    warm_up(&app).await;
    for latency in calls_across_workers(&app, Duration::from_millis(150)).await {
        assert!(
            latency < MODEL_DELAYS,
            "greeting {} ms after start: the pre-warm's head start was lost",
            latency.as_millis()
        );
    }
    app.stop().await;
}

#[actix_rt::test]
async fn without_prewarm_the_greeting_waits_for_the_model() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        with_delays(c);
        c.calls.prewarm = false;
    })
    .await;
    warm_up(&app).await;
    let sessions = app.sim().connections_total();
    let call_sid = random_sid("CA");
    let twiml = webhook(&app, &call_sid).await;
    assert_eq!(parameter(&twiml, "prewarm"), None, "{twiml}");
    tokio::time::sleep(GAP).await;
    assert_eq!(
        app.sim().connections_total(),
        sessions,
        "no model session before the stream"
    );

    let (mut call, latency) = greeting_latency(stream_for(&app, &call_sid, &twiml)).await;
    eprintln!(
        "greeting latency without pre-warm: {} ms",
        latency.as_millis()
    );
    assert!(
        latency >= MODEL_DELAYS,
        "greeting {} ms after start, faster than the model's delays",
        latency.as_millis()
    );
    call.stop().await.expect("stop");
    app.stop().await;
}

#[actix_rt::test]
async fn webhook_without_a_stream_ends_no_stream_and_frees_its_slot() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.calls.greet_caller = true;
        c.calls.max_calls = 1;
        c.calls.prewarm_timeout_secs = 1;
        c.notify.poll_ms = 100;
        // An owner who would be told about every call.
        c.tenants[0].notify.sms = vec!["+15550100009".into()];
    })
    .await;
    let first = random_sid("CA");
    let twiml = webhook(&app, &first).await;
    assert!(parameter(&twiml, "prewarm").is_some(), "{twiml}");
    // The pre-warmed call holds the only slot: the next webhook is not pre-warmed.
    let second = random_sid("CA");
    let twiml = webhook(&app, &second).await;
    assert_eq!(parameter(&twiml, "prewarm"), None, "{twiml}");

    // Its model link is opened before any stream.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.sim().session_count() == 0 {
        assert!(
            Instant::now() < deadline,
            "no model session for the pre-warm"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.sim().session_count(), 1);

    let started = Instant::now();
    let record = app.wait_call_ended(&first, Duration::from_secs(10)).await;
    assert_eq!(record["call"]["ended_reason"], "no_stream", "{record}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Its model link is closed …
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.sim().session_count() > 0 {
        assert!(Instant::now() < deadline, "model session left open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nobody was on the line: no summary, no owner notification (a replayed
    // webhook must not text the owner).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, sent) = app.get_json("/api/notifications?tenant=acme-dental").await;
    assert_eq!(sent["total"], 0, "{sent}");
    let record = app.wait_call_ended(&first, Duration::from_secs(1)).await;
    assert!(record["call"]["summary"].is_null(), "{record}");
    // … and its slot is free: a new webhook is admitted (pre-warmed) again.
    let third = random_sid("CA");
    let twiml = webhook(&app, &third).await;
    assert!(parameter(&twiml, "prewarm").is_some(), "{twiml}");
    app.stop().await;
}

#[actix_rt::test]
async fn a_foreign_or_replayed_prewarm_is_served_cold() {
    let app = TestApp::start_with(Db::Sqlite, with_delays).await;
    warm_up(&app).await;
    let call_sid = random_sid("CA");
    let twiml = webhook(&app, &call_sid).await;
    assert!(parameter(&twiml, "prewarm").is_some(), "{twiml}");

    // Another call's stream naming this token is served cold: its own model
    // session, the model's full delays. It does not use the token up.
    let foreign = random_sid("CA");
    let (mut other, latency) = greeting_latency(stream_for(&app, &foreign, &twiml)).await;
    assert!(
        latency >= MODEL_DELAYS,
        "foreign stream greeted {} ms after start",
        latency.as_millis()
    );
    let sessions = app.sim().connections_total();

    // The genuine stream still attaches to its pre-warmed call.
    let (mut genuine, latency) = greeting_latency(stream_for(&app, &call_sid, &twiml)).await;
    assert!(
        latency < Duration::from_millis(100),
        "genuine stream greeted {} ms after start",
        latency.as_millis()
    );
    assert_eq!(app.sim().connections_total(), sessions);

    // Replaying the used token (same CallSid) is served cold, never refused.
    let (mut replay, latency) = greeting_latency(stream_for(&app, &call_sid, &twiml)).await;
    assert!(
        latency >= MODEL_DELAYS,
        "replayed stream greeted {} ms after start",
        latency.as_millis()
    );
    assert_eq!(app.sim().connections_total(), sessions + 1);
    assert!(!replay.is_closed() && !genuine.is_closed() && !other.is_closed());

    other.stop().await.expect("stop");
    let record = app.wait_call_ended(&foreign, Duration::from_secs(10)).await;
    assert_eq!(record["call"]["ended_reason"], "caller_hangup", "{record}");
    genuine.stop().await.expect("stop");
    replay.stop().await.expect("stop");
    app.stop().await;
}

#[actix_rt::test]
async fn browser_session_is_prewarmed_and_its_socket_hears_the_greeting_at_once() {
    use awc::ws::Frame;
    use futures_util::StreamExt;

    use crate::browser::{new_session, open, origin};

    let app = TestApp::start_with(Db::Sqlite, with_delays).await;
    warm_up(&app).await;
    let before = app.sim().connections_total();
    let token = new_session(&app).await;
    tokio::time::sleep(GAP).await;
    // The session's model link was opened at POST /api/sessions.
    assert_eq!(app.sim().connections_total(), before + 1);

    let mut socket = open(&app, &token, Some(&origin(&app)))
        .await
        .expect("upgrade");
    let opened = Instant::now();
    let latency = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("greeting within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Frame::Binary(audio) = frame {
            assert!(!audio.is_empty());
            break opened.elapsed();
        }
    };
    eprintln!(
        "browser greeting latency with pre-warm: {} ms",
        latency.as_millis()
    );
    assert!(
        latency < Duration::from_millis(100),
        "greeting {} ms after the socket opened",
        latency.as_millis()
    );
    assert_eq!(app.sim().connections_total(), before + 1, "no second link");
    app.stop().await;
}

/// Twilio's side fails just after the stream started: the TCP connection drops
/// without `stop` once the first greeting audio has arrived — the call attached
/// on its webhook's worker or, for every second call, moved to the stream's.
/// No call is left behind: each ends as a carrier reset (not `no_stream`, so the
/// claim took), no model session stays open and every slot is free again.
#[actix_rt::test]
async fn a_stream_dropped_after_its_start_leaves_no_call_behind() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        with_delays(c);
        c.server.workers = 2;
    })
    .await;
    warm_up(&app).await;
    let before = claims(&app.metrics().await, "handed_over");
    for i in 0..4 {
        let call_sid = random_sid("CA");
        let twiml = webhook(&app, &call_sid).await;
        assert!(parameter(&twiml, "prewarm").is_some(), "{twiml}");
        tokio::time::sleep(GAP).await;
        if i % 2 == 1 {
            app.metrics().await;
        }
        let call = TwilioCall::connect(stream_for(&app, &call_sid, &twiml))
            .await
            .expect("stream connects");
        assert!(
            call.wait_for_audio(1, Duration::from_secs(5)).await,
            "no greeting"
        );
        call.close_abruptly().await;
        let record = app
            .wait_call_ended(&call_sid, Duration::from_secs(10))
            .await;
        assert_eq!(record["call"]["ended_reason"], "carrier_reset", "{record}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, live) = app.get_json("/api/calls/live").await;
        assert_eq!(status, 200, "{live}");
        let calls = live["calls"].as_array().map_or(0, Vec::len);
        if calls == 0 && app.sim().session_count() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "calls or model sessions left: {live}, {} sessions",
            app.sim().session_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = app.metrics().await;
    assert!(
        text.contains("switchboard_calls_active 0"),
        "slots still held: {text}"
    );
    assert!(
        claims(&text, "handed_over") > before,
        "no dropped stream was on the other worker: {text}"
    );
    app.stop().await;
}
