//! OpenAI GPT-Live (`model.api = "live"`) through whole Twilio-shaped calls,
//! against a local server replaying tests/fixtures/live/gpt-live-session.replay:
//! a recorded gpt-live-1 session (its audio reaches the caller byte for byte,
//! its transcript fragments are stored as one line per turn) and switchboard's
//! own sequence in OpenAI's documented shapes (a greeting, a tool call by
//! Responses delegation answered in the documented order, a session that
//! expires mid-call and continues on a new one told the conversation).
//! Every client event the link sent is then validated against the `openai`
//! Python package's `openai.types.live` models, and every server frame of the
//! fixture against the server-event models (tests/python/validate_live.py).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use switchboard::events::CallEvent;
use switchboard::far_end::{LogFeed, TwilioCall};
use switchboard::model::api::ModelApi;
use switchboard::store::{caller_messages, notifications};
use switchboard::tenant::{OwnerNotify, TenantConfig};

use crate::support::replay::{Connection, Replay, ReplayModel};
use crate::support::stub::HttpStub;
use crate::support::{logs, mulaw_dbfs, talk_silence_until, Db, TestApp, ADMIN};

const FIXTURE: &str = "../live/gpt-live-session.replay";
const WAIT: Duration = Duration::from_secs(20);
const USER_LINE: &str =
    "Please check the deployment status of the staging environment and tell me the result.";
const CALLER_LINE: &str = "Please tell Doctor Lee my crown came loose, it's Dana Smith.";
const TAKEN: &str = "I have taken your message, and Doctor Lee will call you back this afternoon.";
const GREETING: &str = "Thank you for calling Acme Dental, how can I help you today?";
const OWNER_PHONE: &str = "+15550100009";

fn is_type(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == kind
}

fn said(role: &'static str, text: &'static str) -> impl Fn(&CallEvent) -> bool {
    move |e| matches!(e, CallEvent::Transcript { role: r, text: t, .. } if r == role && t == text)
}

/// The recorded session's output audio, decoded, in order.
fn recorded_audio() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/live/gpt-live-session.replay");
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut in_recorded = false;
    let mut audio = Vec::new();
    for line in text.lines() {
        if let Some(step) = line.strip_prefix("@step ") {
            in_recorded = step == "recorded";
            continue;
        }
        if in_recorded && line.contains("session.output_audio.delta") {
            let v: Value = serde_json::from_str(line).expect("frame");
            let b64 = v["delta"].as_str().expect("delta");
            audio.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64"),
            );
        }
    }
    audio
}

/// Checks what switchboard sent against openai-python's `openai.types.live`
/// client-event models, and the fixture's frames against the server-event
/// models (`SWITCHBOARD_PYTHON`, set by .ci/run, names an interpreter with
/// the `openai` package; else the venv .ci/run keeps in ~/.cache, else
/// `python3`).
fn validate_with_openai_types(connections: &[Connection]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = dir.path().join("client-events.jsonl");
    let mut lines = String::new();
    for conn in connections {
        for event in conn.events.iter().chain(conn.first_append.iter()) {
            lines.push_str(&event.to_string());
            lines.push('\n');
        }
    }
    std::fs::write(&client, lines).expect("write events");
    // The load test's stamping model is a GPT-Live stand-in too.
    let stamping = dir.path().join("stamping-model.replay");
    std::fs::write(
        &stamping,
        format!(
            "{}\n{}\n",
            switchboard::loadtest::model::LIVE_SESSION_STARTED,
            switchboard::loadtest::model::live_silence_frame()
        ),
    )
    .expect("write stamping frames");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // .ci/run installs the package into this venv and exports its path.
    let cached = std::env::var("HOME")
        .map(|home| format!("{home}/.cache/switchboard-python/bin/python"))
        .ok()
        .filter(|p| std::path::Path::new(p).exists());
    let python = std::env::var("SWITCHBOARD_PYTHON")
        .ok()
        .or(cached)
        .unwrap_or_else(|| "python3".into());
    let out = Command::new(&python)
        .arg(root.join("tests/python/validate_live.py"))
        .arg("--client")
        .arg(&client)
        .arg("--server")
        .arg(root.join("tests/fixtures/live/gpt-live-session.replay"))
        .arg("--server")
        .arg(&stamping)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (run .ci/run, or set SWITCHBOARD_PYTHON to a python with the openai package)"));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openai.types.live refused events:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(" passed, 0 failed"), "{report}");
}

/// The fixture's model server, and switchboard on GPT-Live against it
/// (greeting on), with `tweak` applied.
async fn live_app(tweak: impl FnOnce(&mut switchboard::config::Config)) -> (ReplayModel, TestApp) {
    let model = ReplayModel::start(Replay::load(FIXTURE)).await;
    let url = model.url();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.model.url = url;
        c.model.api = ModelApi::Live;
        c.calls.greet_caller = true;
        tweak(c);
    })
    .await;
    (model, app)
}

fn tool_outputs_in_order(events: &[Value]) -> (usize, usize) {
    let creates: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "response.item.create")
        .map(|(i, _)| i)
        .collect();
    let continues: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "response.create")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(creates.len(), 1, "one tool result: {events:#?}");
    assert_eq!(continues.len(), 1, "one response.create: {events:#?}");
    (creates[0], continues[0])
}

#[actix_rt::test]
async fn recorded_gpt_live_session_replays_through_a_twilio_call() {
    logs::install();
    let (model, app) = live_app(|_| {}).await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();

    let start = model
        .wait_event(&mut call, 0, WAIT, is_type("session.start"))
        .await;
    assert_eq!(
        model.connections()[0].path,
        "/v1/realtime",
        "GPT-Live takes no query"
    );
    let session = &start["session"];
    assert_eq!(session["model"], "gpt-live-1.1");
    assert_eq!(
        session["audio"]["format"],
        serde_json::json!({"type": "audio/pcmu", "rate": 8000})
    );
    assert_eq!(session["delegation"]["type"], "responses");
    let tools: Vec<&str> = session["delegation"]["responses"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&"takeMessage"), "{tools:?}");
    model.play("started");
    let greet = model
        .wait_event(&mut call, 0, WAIT, is_type("session.instructions.append"))
        .await;
    assert!(greet["delegation_id"].is_null());

    let before = call.received_audio().len();
    model.play("recorded");
    talk_silence_until(&mut call, &feed, WAIT, said("user", USER_LINE))
        .await
        .expect("the caller's fragments stored as one line");
    talk_silence_until(
        &mut call,
        &feed,
        WAIT,
        said("assistant", "Staging is healthy:"),
    )
    .await
    .expect("the answer after a timeline gap is its own line");
    // The caller hears the recorded audio bytes, unchanged and in order.
    let recorded = recorded_audio();
    assert_eq!(recorded.len(), 3072);
    let heard = call.received_audio()[before..].to_vec();
    assert_eq!(heard, recorded, "audio passed through untouched");
    assert!(
        model.connections()[0].appends > 0,
        "caller audio reaches the model"
    );

    // A delegated function call: the tool runs once, its output goes back,
    // then one response.create.
    model.play("tool_call");
    model
        .wait_event(&mut call, 0, WAIT, is_type("response.create"))
        .await;
    let events = model.connections()[0].events.clone();
    let (create, cont) = tool_outputs_in_order(&events);
    assert!(create < cont, "all outputs before response.create");
    let item = &events[create]["item"];
    assert_eq!(item["type"], "function_call_output");
    assert_eq!(item["call_id"], "call_sb1");
    let output: Value =
        serde_json::from_str(item["output"].as_str().expect("output")).expect("JSON");
    assert!(
        output.get("error").is_none(),
        "takeMessage failed: {output}"
    );
    model.play("after_tool");
    talk_silence_until(&mut call, &feed, WAIT, said("assistant", TAKEN))
        .await
        .expect("the result spoken and stored");

    call.stop().await.expect("hang up");
    let body = app.wait_call_ended(&call_sid, WAIT).await;
    let transcript: Vec<(String, String)> = body["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .map(|t| {
            (
                t["role"].as_str().unwrap_or_default().to_string(),
                t["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = [
        ("user", USER_LINE),
        ("assistant", "Okay, checking now."),
        ("assistant", "Staging is healthy:"),
        ("assistant", TAKEN),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(r, t)| (r.to_string(), t.to_string()))
        .collect();
    assert_eq!(transcript, expected);
    let tools = body["tool_invocations"].as_array().expect("tools");
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(tools[0]["tool_call_id"], "call_sb1");
    // The link ends the session the documented way.
    model
        .wait_event(&mut call, 0, WAIT, is_type("session.close"))
        .await;
    let call_id = body["call"]["id"].as_str().expect("call id").to_string();
    assert!(
        logs::warnings_mentioning(&call_id).is_empty(),
        "warnings: {:#?}",
        logs::warnings_mentioning(&call_id)
    );
    validate_with_openai_types(&model.connections());
    app.stop().await;
    model.stop().await;
}

#[actix_rt::test]
async fn live_call_greets_takes_a_message_and_survives_an_expired_session() {
    logs::install();
    let twilio = HttpStub::start(|_, n| {
        (
            201,
            serde_json::json!({"sid": format!("SM{n:032}"), "status": "queued"}),
        )
    })
    .await;
    let twilio_base = twilio.base.clone();
    let (model, app) = live_app(|c| {
        c.twilio.account_sid = "AC00000000000000000000000000000027".into();
        c.twilio.auth_token = Some("twilio-test-auth-token".into());
        c.twilio.api_base = twilio_base;
        c.notify.poll_ms = 100;
        let mut tenant = TenantConfig::example();
        tenant.notify = OwnerNotify {
            sms: vec![OWNER_PHONE.into()],
            ..OwnerNotify::default()
        };
        c.tenants = vec![tenant];
    })
    .await;
    // Signed like Twilio's own upgrade: the auth token is set for the REST API.
    let setup = app
        .through_signed_webhook(app.call_setup(), "twilio-test-auth-token")
        .await;
    let feed = LogFeed::connect(&app.logs_url(&setup.call_sid), Some(ADMIN))
        .await
        .expect("log feed");
    let mut call = TwilioCall::connect(setup).await.expect("call connects");
    let call_sid = call.call_sid().to_string();
    model
        .wait_event(&mut call, 0, WAIT, is_type("session.start"))
        .await;
    model.play("started");
    model
        .wait_event(&mut call, 0, WAIT, is_type("session.instructions.append"))
        .await;

    // The greeting: heard, stored as one line.
    let before = call.received_audio().len();
    model.play("greeting");
    talk_silence_until(&mut call, &feed, WAIT, said("assistant", GREETING))
        .await
        .expect("greeting stored");
    let greeting = &call.received_audio()[before..];
    assert!(
        greeting.len() >= 8 * 1000,
        "heard {} ms",
        greeting.len() / 8
    );
    assert!(mulaw_dbfs(greeting) > -40.0, "the greeting is not silence");

    // takeMessage by delegation: stored, the owner told.
    model.play("caller_turn");
    model.play("tool_call");
    model
        .wait_event(&mut call, 0, WAIT, is_type("response.create"))
        .await;
    let (create, cont) = tool_outputs_in_order(&model.connections()[0].events);
    assert!(create < cont);
    model.play("after_tool");
    talk_silence_until(&mut call, &feed, WAIT, said("assistant", TAKEN))
        .await
        .expect("the result spoken");
    talk_silence_until(&mut call, &feed, WAIT, said("user", CALLER_LINE))
        .await
        .expect("caller line stored");

    // The session expires mid-call: a new one starts with the conversation.
    model.play("expire");
    let restart = model
        .wait_event(&mut call, 1, WAIT, is_type("session.start"))
        .await;
    let input: Vec<(String, String)> = restart["session"]["input"]
        .as_array()
        .expect("history replayed as session.input")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_string(),
                m["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        input[0],
        ("assistant".into(), GREETING.into()),
        "{input:#?}"
    );
    assert_eq!(input[1], ("user".into(), CALLER_LINE.into()), "{input:#?}");
    assert_eq!(input[2].0, "developer");
    assert!(input[2].1.contains("takeMessage"), "{input:#?}");
    assert_eq!(input[3], ("assistant".into(), TAKEN.into()), "{input:#?}");
    assert!(input[4].1.contains("Do not greet"), "{input:#?}");
    model.play("started_again");
    // No second greeting on the new session; the call goes on.
    call.send_silence(1500).await.expect("line open");
    assert!(
        !model.connections()[1]
            .events
            .iter()
            .any(|e| e["type"] == "session.instructions.append"),
        "greeted again"
    );
    assert!(
        model.connections()[1].appends > 0,
        "audio flows to the new session"
    );

    call.stop().await.expect("hang up");
    let body = app.wait_call_ended(&call_sid, WAIT).await;
    let call_id = body["call"]["id"].as_str().expect("call id").to_string();
    let mut conn = app
        .running
        .as_ref()
        .expect("running")
        .state
        .pool
        .get()
        .expect("conn");
    let messages = caller_messages::for_call(&mut conn, &call_id).expect("messages");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].caller_name, "Dana Smith");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (rows, _) = notifications::list(&mut conn, Some("acme-dental"), 10, 0).expect("list");
        let sent = twilio
            .requests()
            .iter()
            .any(|r| r.form().iter().any(|(k, v)| k == "To" && v == OWNER_PHONE));
        if !rows.is_empty() && sent {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "owner not notified: {rows:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Only the expected warning: the expired session's link going down.
    let warnings = logs::warnings_mentioning(&call_id);
    let unexpected: Vec<&String> = warnings
        .iter()
        .filter(|w| !w.contains("GPT-Live session closed: expired"))
        .collect();
    assert!(unexpected.is_empty(), "warnings: {unexpected:#?}");
    validate_with_openai_types(&model.connections());
    app.stop().await;
    model.stop().await;
    twilio.stop().await;
}

/// Polls until connection `index` has a client event matching `pred` (no
/// caller on the line yet to keep it alive).
async fn wait_without_caller(
    model: &ReplayModel,
    index: usize,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = model
            .connections()
            .get(index)
            .and_then(|c| c.events.iter().find(|e| pred(e)).cloned());
        if let Some(event) = found {
            return event;
        }
        assert!(std::time::Instant::now() < deadline, "no matching event");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn prewarmed_live_call_is_fed_silence_greets_at_once_and_hangs_up_after_goodbye() {
    logs::install();
    let (model, app) = live_app(|c| c.calls.prewarm = true).await;
    // Twilio's voice webhook: the session opens before any stream.
    let call_sid = format!("CA{:032x}", rand::random::<u128>());
    let twiml = crate::prewarm::webhook(&app, &call_sid).await;
    wait_without_caller(&model, 0, is_type("session.start")).await;
    model.play("started");
    wait_without_caller(&model, 0, is_type("session.instructions.append")).await;
    // With no caller yet, the session's clock is kept running on silence.
    let deadline = std::time::Instant::now() + WAIT;
    while model.connections()[0].appends < 2 {
        assert!(std::time::Instant::now() < deadline, "no silence fed");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let fed = model.connections()[0].first_append.clone().expect("append");
    let fed = base64::engine::general_purpose::STANDARD
        .decode(fed["audio"].as_str().expect("audio"))
        .expect("base64");
    assert!(
        !fed.is_empty() && fed.iter().all(|b| *b == 0xFF),
        "µ-law silence"
    );
    model.play("greeting");

    // The stream attaches: the held greeting plays at once.
    let setup = crate::prewarm::stream_for(&app, &call_sid, &twiml);
    let feed = LogFeed::connect(&app.logs_url(&call_sid), Some(ADMIN))
        .await
        .expect("log feed");
    let mut call = TwilioCall::connect(setup).await.expect("stream connects");
    talk_silence_until(&mut call, &feed, WAIT, said("assistant", GREETING))
        .await
        .expect("greeting stored");
    assert!(call.received_audio().len() >= 8 * 1000, "greeting heard");

    // hangUp by delegation: the goodbye plays in full, then the call ends.
    model.play("hangup_call");
    model
        .wait_event(&mut call, 0, WAIT, is_type("response.create"))
        .await;
    let before = call.received_audio().len();
    model.play("goodbye");
    let body = {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if call.send_silence(100).await.is_err() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "call not ended");
        }
        app.wait_call_ended(&call_sid, WAIT).await
    };
    let goodbye_ms = (call.received_audio().len() - before) / 8;
    assert!(goodbye_ms >= 1000, "goodbye heard for {goodbye_ms} ms");
    let reason = body["call"]["ended_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("caller finished"), "ended {reason:?}");
    let transcript = body["transcript"].as_array().expect("transcript");
    assert_eq!(
        transcript.last().and_then(|t| t["text"].as_str()),
        Some("Thanks for calling, goodbye!")
    );
    let call_id = body["call"]["id"].as_str().expect("call id").to_string();
    assert!(
        logs::warnings_mentioning(&call_id).is_empty(),
        "{:#?}",
        logs::warnings_mentioning(&call_id)
    );
    validate_with_openai_types(&model.connections());
    app.stop().await;
    model.stop().await;
}
