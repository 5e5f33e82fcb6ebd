//! OpenAI SIP (issue 29): calls OpenAI answers itself, announced by signed
//! webhooks and steered over a sideband. OpenAI is played by a local server
//! (support/replay.rs) that records its REST call controls and replays
//! sideband frames from tests/fixtures/openai-sip/; every webhook is signed by
//! the `standardwebhooks` library and checked by the `openai` package's own
//! `webhooks.unwrap` before it is sent (tests/python/openai_webhook.py), and
//! every accept/reject/refer/hangup body and sideband client event
//! switchboard sent is validated against the `openai` package's models
//! (tests/python/validate_sip.py).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::model::api::ModelApi;
use switchboard::store::{caller_messages, notifications};
use switchboard::tenant::{OwnerNotify, TenantConfig};

use crate::support::radicale::python;
use crate::support::replay::{Replay, ReplayModel, RestCall};
use crate::support::{Db, TestApp, ADMIN};

/// The webhook endpoint's signing secret (`whsec_` + base64 of 32 bytes).
const SECRET: &str = "whsec_c3dpdGNoYm9hcmQtdGVzdC1zZWNyZXQtMzJieXRlcyE=";
const API_KEY: &str = "sk-test-openai-sip";
const BUSINESS: &str = "+15550100000";
const CALLER: &str = "+14155550123";
const OWNER_PHONE: &str = "+15550100009";
const ON_CALL: &str = "+15550100077";
const WAIT: Duration = Duration::from_secs(15);

/// One delivery as `openai_webhook.py` signed it.
#[derive(Debug, Clone)]
struct Signed {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// Signs each of `lines` (an event, or `{"event":…,"id":…,"timestamp":…}`)
/// with `standardwebhooks` and checks it with `openai`'s `webhooks.unwrap`.
fn sign(lines: &[Value]) -> Vec<Signed> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python())
        .arg(root.join("tests/python/openai_webhook.py"))
        .arg("--secret")
        .arg(SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs (run .ci/run, or set SWITCHBOARD_PYTHON)");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for line in lines {
            writeln!(stdin, "{line}").expect("write");
        }
    }
    let out = child.wait_with_output().expect("signer ran");
    assert!(
        out.status.success(),
        "openai_webhook.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("signed line");
            Signed {
                id: v["webhook-id"].as_str().expect("id").into(),
                timestamp: v["webhook-timestamp"].as_str().expect("ts").into(),
                signature: v["webhook-signature"].as_str().expect("sig").into(),
                body: v["body"].as_str().expect("body").into(),
            }
        })
        .collect()
}

fn sip_headers(to: &str) -> Value {
    json!([
        {"name": "From", "value": format!("\"Dana Smith\" <sip:{CALLER}@pstn.twilio.com>;tag=8f2a")},
        {"name": "To", "value": format!("<sip:{to}@proj_test.sip.api.openai.com>")},
        {"name": "Call-ID", "value": "3c26700a8ea4@203.0.113.7"}
    ])
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `live.transport.incoming` (or its deprecated name) for `session`.
fn live_incoming(kind: &str, session: &str, to: &str) -> Value {
    let mut data = json!({
        "session_id": session,
        "sip_headers": sip_headers(to),
        "sip_media_security": "srtp"
    });
    if kind == "live.transport.incoming" {
        data["type"] = json!("sip");
    }
    json!({"object": "event", "id": format!("evt_{kind}_{session}"), "type": kind,
           "created_at": now(), "data": data})
}

/// `realtime.call.incoming` for `call_id`.
fn realtime_incoming(call_id: &str, to: &str) -> Value {
    json!({"object": "event", "id": format!("evt_rt_{call_id}"), "type": "realtime.call.incoming",
           "created_at": now(), "data": {"call_id": call_id, "sip_headers": sip_headers(to)}})
}

/// Posts a signed delivery; returns the status.
async fn deliver(app: &TestApp, signed: &Signed) -> u16 {
    awc::Client::new()
        .post(app.http_url("/openai/webhook"))
        .insert_header(("webhook-id", signed.id.as_str()))
        .insert_header(("webhook-timestamp", signed.timestamp.as_str()))
        .insert_header(("webhook-signature", signed.signature.as_str()))
        .insert_header(("content-type", "application/json"))
        .insert_header((
            "user-agent",
            "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
        ))
        .send_body(signed.body.clone())
        .await
        .expect("webhook answered")
        .status()
        .as_u16()
}

/// A switchboard whose OpenAI is `openai`, its one tenant on `api`.
async fn sip_app(
    openai: &ReplayModel,
    api: ModelApi,
    db: Db,
    tweak: impl FnOnce(&mut switchboard::config::Config),
) -> TestApp {
    let base = openai.base();
    TestApp::start_with(db, |c| {
        c.openai.api_base = base;
        c.openai.webhook_secret = Some(SECRET.into());
        c.openai.farewell_max_ms = 5000;
        c.model.api_key = Some(API_KEY.into());
        c.notify.poll_ms = 100;
        let mut tenant = TenantConfig::example();
        tenant.api = Some(api);
        tenant.transfer_numbers = vec![ON_CALL.into()];
        tenant.notify = OwnerNotify {
            sms: vec![OWNER_PHONE.into()],
            ..OwnerNotify::default()
        };
        c.tenants = vec![tenant];
        tweak(c);
    })
    .await
}

/// Checks every REST body and sideband client event switchboard sent
/// against the `openai` package's models.
fn validate(openai: &ReplayModel, api: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let requests = dir.path().join("requests.jsonl");
    let sideband = dir.path().join("sideband.jsonl");
    let mut lines = String::new();
    for call in openai.rest_calls() {
        let path = call.path.split('?').next().unwrap_or_default().to_string();
        lines.push_str(&json!({"method": "POST", "path": path, "body": call.body}).to_string());
        lines.push('\n');
    }
    std::fs::write(&requests, lines).expect("write");
    let mut events = String::new();
    for conn in openai.connections() {
        for event in &conn.events {
            events.push_str(&event.to_string());
            events.push('\n');
        }
    }
    std::fs::write(&sideband, events).expect("write");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(root.join("tests/python/validate_sip.py"))
        .args(["--api", api, "--requests"])
        .arg(&requests)
        .arg("--sideband")
        .arg(&sideband)
        .output()
        .expect("validate_sip.py runs");
    assert!(
        out.status.success(),
        "switchboard sent what the openai package's models refuse:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn posts_ending(openai: &ReplayModel, suffix: &str) -> Vec<RestCall> {
    openai
        .rest_calls()
        .into_iter()
        .filter(|c| c.path.ends_with(suffix))
        .collect()
}

fn is_type(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == kind
}

fn pool(app: &TestApp) -> switchboard::store::Pool {
    app.running.as_ref().expect("running").state.pool.clone()
}

/// `GET /api/calls/{sid}` once the call's row is written (write-behind).
async fn call_row(app: &TestApp, sid: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = app.get_json(&format!("/api/calls/{sid}")).await;
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no row for {sid}: {status} {body}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the owner has a notification about the call.
async fn owner_notified(app: &TestApp) {
    let mut conn = pool(app).get().expect("conn");
    let deadline = Instant::now() + WAIT;
    loop {
        let (rows, _) = notifications::list(&mut conn, Some("acme-dental"), 10, 0).expect("list");
        if !rows.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "owner not notified");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn a_gpt_live_sip_call_is_accepted_steered_and_hung_up_after_goodbye() {
    let openai = ReplayModel::start(Replay::load("../openai-sip/live-sideband.replay")).await;
    let app = sip_app(&openai, ModelApi::Live, Db::Sqlite, |_| {}).await;
    let session = "live_6841a0c2e1f48190a1b2";
    // OpenAI announces the call three times: the Live event, its deprecated
    // name (old subscription), and the Realtime surface's own id.
    let signed = sign(&[
        live_incoming("live.transport.incoming", session, BUSINESS),
        live_incoming("live.call.incoming", session, BUSINESS),
        realtime_incoming("rtc_u1_9c4e7a", BUSINESS),
    ]);
    for delivery in &signed {
        assert_eq!(deliver(&app, delivery).await, 200);
    }
    // A retry of the first delivery is answered 200 and does nothing.
    assert_eq!(deliver(&app, &signed[0]).await, 200);

    let accept = openai.wait_rest("/accept", WAIT).await;
    assert_eq!(accept.path, format!("/v1/live/sessions/{session}/accept"));
    assert_eq!(
        accept.authorization.as_deref(),
        Some("Bearer sk-test-openai-sip")
    );
    let body = accept.body.clone().expect("accept body");
    assert_eq!(body["session"]["type"], "live");
    assert!(body["session"]["instructions"]
        .as_str()
        .expect("instructions")
        .contains("Acme Dental"));
    let tools = body["session"]["delegation"]["responses"]["tools"].to_string();
    assert!(
        tools.contains("takeMessage") && tools.contains("hangUp"),
        "{tools}"
    );

    openai.wait_connections(1, WAIT).await;
    assert_eq!(
        openai.connections()[0].path,
        format!("/v1/live/sessions/{session}/attach")
    );
    // Greeted by instructions (nothing of session.start on a sideband).
    openai
        .wait_sent(0, WAIT, is_type("session.instructions.append"))
        .await;
    openai.play("greeting");
    openai.play("caller_turn");
    openai.play("tool_call");
    let output = openai
        .wait_sent(0, WAIT, is_type("response.item.create"))
        .await;
    assert_eq!(output["item"]["call_id"], "call_sb1");
    openai.wait_sent(0, WAIT, is_type("response.create")).await;
    openai.play("after_tool");

    // The dashboard and the API see the call, carried by OpenAI SIP.
    let listed = call_row(&app, session).await;
    assert_eq!(listed["call"]["carrier"], "openai-sip");

    // The sideband drops; switchboard attaches again to the same session and
    // the call goes on (no second greeting).
    openai.play("drop");
    openai.wait_connections(2, WAIT).await;
    assert_eq!(
        openai.connections()[1].path,
        format!("/v1/live/sessions/{session}/attach")
    );
    // A key press reaches the model as context.
    openai.play("dtmf");
    let told = openai
        .wait_sent(1, WAIT, is_type("session.instructions.append"))
        .await;
    assert!(
        told["content"]
            .as_str()
            .unwrap_or_default()
            .contains("pressed 0"),
        "{told}"
    );

    openai.play("hangup_call");
    let hangup_output = openai
        .wait_sent(1, WAIT, |e| {
            e["type"] == "response.item.create" && e["item"]["call_id"] == "call_sb3"
        })
        .await;
    assert!(hangup_output["item"]["output"].is_string());
    // Not before the goodbye has been spoken.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert!(
        posts_ending(&openai, "/hangup").is_empty(),
        "hung up before the goodbye"
    );
    openai.play("goodbye");
    let hangup = openai.wait_rest("/hangup", WAIT).await;
    assert_eq!(hangup.path, format!("/v1/live/sessions/{session}/hangup"));
    assert!(hangup.body.is_none());
    openai.play("closed");

    let ended = app.wait_call_ended(session, WAIT).await;
    assert_eq!(
        ended["call"]["ended_reason"],
        "assistant_hangup: caller finished"
    );
    let call_id = ended["call"]["id"].as_str().expect("id").to_string();
    let transcript = ended["transcript"].to_string();
    assert!(transcript.contains("my crown came loose"), "{transcript}");
    assert!(
        transcript.contains("I have taken your message"),
        "{transcript}"
    );

    // Exactly one accept for three announcements and a retry; the message
    // stored once and the owner told.
    assert_eq!(posts_ending(&openai, "/accept").len(), 1);
    assert_eq!(openai.connections().len(), 2);
    let mut conn = pool(&app).get().expect("conn");
    let messages = caller_messages::for_call(&mut conn, &call_id).expect("messages");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].caller_name, "Dana Smith");
    owner_notified(&app).await;
    validate(&openai, "live");
    // The frames the stand-in played are the package's server events too.
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(root.join("tests/python/validate_live.py"))
        .arg("--server")
        .arg(root.join("tests/fixtures/openai-sip/live-sideband.replay"))
        .output()
        .expect("validate_live.py runs");
    assert!(
        out.status.success(),
        "the sideband fixture is not what the openai package's models declare:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    app.stop().await;
    openai.stop().await;
}

#[actix_rt::test]
async fn a_realtime_sip_call_is_accepted_and_an_operator_transfer_refers_it() {
    let openai = ReplayModel::start(Replay::load("../openai-sip/realtime-sideband.replay")).await;
    let app = sip_app(&openai, ModelApi::Realtime, Db::Postgres, |_| {}).await;
    let call = "rtc_u7_2f9d0c41";
    // Both surfaces announce it; this tenant answers on Realtime.
    let signed = sign(&[
        live_incoming("live.transport.incoming", "live_u7_other", BUSINESS),
        realtime_incoming(call, BUSINESS),
    ]);
    for delivery in &signed {
        assert_eq!(deliver(&app, delivery).await, 200);
    }
    let accept = openai.wait_rest("/accept", WAIT).await;
    assert_eq!(accept.path, format!("/v1/realtime/calls/{call}/accept"));
    let body = accept.body.clone().expect("accept body");
    assert_eq!(body["type"], "realtime");
    assert!(body["audio"]["input"].get("format").is_none(), "{body}");
    openai.wait_connections(1, WAIT).await;
    assert_eq!(
        openai.connections()[0].path,
        format!("/v1/realtime?call_id={call}")
    );
    openai.wait_sent(0, WAIT, is_type("response.create")).await;
    openai.play("caller_turn");
    openai.play("tool_call");
    let output = openai
        .wait_sent(0, WAIT, is_type("conversation.item.create"))
        .await;
    assert_eq!(output["item"]["type"], "function_call_output");
    openai.play("after_tool");

    // An operator transfers the call: a SIP REFER to the on-call number.
    let listed = call_row(&app, call).await;
    let call_id = listed["call"]["id"].as_str().expect("id").to_string();
    // An operator's session edit reaches the live call as a session.update
    // that leaves the SIP leg's formats alone.
    let edit = awc::Client::new()
        .post(app.http_url(&format!("/api/calls/{call_id}/session")))
        .bearer_auth(ADMIN)
        .send_json(&json!({"instructions": "Speak slowly and clearly."}))
        .await
        .expect("session edit answered");
    assert_eq!(edit.status().as_u16(), 202);
    let update = openai.wait_sent(0, WAIT, is_type("session.update")).await;
    assert!(
        update["session"]["instructions"]
            .as_str()
            .unwrap_or_default()
            .contains("Speak slowly"),
        "{update}"
    );
    assert!(
        update["session"]["audio"]["input"].get("format").is_none(),
        "{update}"
    );
    let answer = awc::Client::new()
        .post(app.http_url(&format!("/api/calls/{call_id}/transfer")))
        .bearer_auth(ADMIN)
        .send_json(&json!({"reason": "caller asked for Dr Lee"}))
        .await
        .expect("transfer answered");
    assert_eq!(answer.status().as_u16(), 200);
    let refer = openai.wait_rest("/refer", WAIT).await;
    assert_eq!(refer.path, format!("/v1/realtime/calls/{call}/refer"));
    assert_eq!(
        refer.body.expect("refer body")["target_uri"],
        format!("tel:{ON_CALL}")
    );
    let ended = app.wait_call_ended(call, WAIT).await;
    assert!(
        ended["call"]["ended_reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("transferred"),
        "{ended}"
    );
    assert_eq!(posts_ending(&openai, "/accept").len(), 1);
    let mut conn = pool(&app).get().expect("conn");
    let messages = caller_messages::for_call(&mut conn, &call_id).expect("messages");
    assert_eq!(messages.len(), 1, "{messages:?}");
    validate(&openai, "realtime");
    app.stop().await;
    openai.stop().await;
}

#[actix_rt::test]
async fn at_capacity_a_call_is_rejected_486_with_a_refused_row_and_an_unknown_number_404() {
    let openai = ReplayModel::start(Replay::load("../openai-sip/live-sideband.replay")).await;
    let app = sip_app(&openai, ModelApi::Live, Db::Sqlite, |c| {
        c.calls.max_calls = 1;
        c.routing.unknown_number = switchboard::config::UnknownNumber::Refuse;
    })
    .await;
    let signed = sign(&[
        live_incoming("live.transport.incoming", "live_first_1", BUSINESS),
        live_incoming("live.transport.incoming", "live_busy_1", BUSINESS),
        live_incoming("live.transport.incoming", "live_nobody_1", "+15559990000"),
    ]);
    // The first call takes the node's one slot.
    assert_eq!(deliver(&app, &signed[0]).await, 200);
    openai.wait_rest("/live_first_1/accept", WAIT).await;
    for delivery in &signed[1..] {
        assert_eq!(deliver(&app, delivery).await, 200);
    }
    let busy = openai.wait_rest("/live_busy_1/reject", WAIT).await;
    assert_eq!(busy.body.expect("body"), json!({"status_code": 486}));
    let unknown = openai.wait_rest("/live_nobody_1/reject", WAIT).await;
    assert_eq!(unknown.body.expect("body"), json!({"status_code": 404}));
    assert_eq!(posts_ending(&openai, "/accept").len(), 1);
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = app.get_json("/api/calls/live_busy_1").await;
        if status == 200 && body["call"]["status"] == "refused" {
            assert_eq!(body["call"]["carrier"], "openai-sip");
            break;
        }
        assert!(Instant::now() < deadline, "no refused row: {status} {body}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    validate(&openai, "live");
    app.stop().await;
    openai.stop().await;
}

#[actix_rt::test]
async fn bad_signatures_old_timestamps_and_replays_are_refused_or_ignored_with_nothing_stored() {
    let openai = ReplayModel::start(Replay::load("../openai-sip/live-sideband.replay")).await;
    let app = sip_app(&openai, ModelApi::Live, Db::Sqlite, |_| {}).await;
    let event = live_incoming("live.transport.incoming", "live_attack_1", BUSINESS);
    let signed = sign(&[
        event.clone(),
        json!({"event": event.clone(), "id": "msg_old_1", "timestamp": now() - 600}),
    ]);
    // A body changed after signing.
    let mut tampered = signed[0].clone();
    tampered.body = tampered.body.replace(BUSINESS, "+15550100001");
    assert_eq!(deliver(&app, &tampered).await, 401);
    // A signature under another secret.
    let mut forged = signed[0].clone();
    forged.signature = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=".into();
    assert_eq!(deliver(&app, &forged).await, 401);
    // Signed properly, but ten minutes old (a captured delivery replayed).
    assert_eq!(deliver(&app, &signed[1]).await, 401);
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert!(openai.rest_calls().is_empty(), "{:?}", openai.rest_calls());
    let (status, calls) = app.get_json("/api/calls").await;
    assert_eq!(status, 200);
    assert_eq!(calls.as_array().map(Vec::len), Some(0), "{calls}");

    // The genuine delivery is acted on once; its replay (same webhook-id,
    // still within the window) is answered 200 and does nothing.
    assert_eq!(deliver(&app, &signed[0]).await, 200);
    openai.wait_rest("/accept", WAIT).await;
    assert_eq!(deliver(&app, &signed[0]).await, 200);
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(posts_ending(&openai, "/accept").len(), 1);
    app.stop().await;
    openai.stop().await;
}
