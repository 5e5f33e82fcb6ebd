//! jambonz WebSocket API scenarios over a real socket. The client connects as
//! jambonz-feature-server 0.9.8 does (`lib/utils/ws-requestor.js`: subprotocol
//! `ws.jambonz.org`, HTTP Basic credentials from the application URL, frames over
//! 24 KiB refused) and plays frames shaped exactly as feature-server sends them
//! (tests/fixtures/jambonz); the replies are checked against what feature-server's
//! vendor modules accept, and the persisted call against what happened.

use std::path::PathBuf;
use std::time::Duration;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::config::{Config, VendorKeys};
use switchboard::model::provider::Provider;
use switchboard::store::caller_messages;
use switchboard::tenant::TenantConfig;

use crate::support::{db, test_config, Db, TestApp, ADMIN, CALLER, DIALLED};

const JB_USER: &str = "jambonz";
const JB_PASSWORD: &str = "jb-app-s3cret";
const OPENAI_KEY: &str = "sk-test-openai-key";
const ULTRAVOX_KEY: &str = "uv-test-ultravox-key";
/// jambonz's `JAMBONES_WS_MAX_PAYLOAD` default: its `ws` client refuses larger frames.
const JAMBONZ_MAX_PAYLOAD: usize = 24 * 1024;
/// The number of the Ultravox / xAI test tenants.
const ULTRAVOX_NUMBER: &str = "+15550200000";
const XAI_NUMBER: &str = "+15550300000";

/// A jambonz-like client: one WebSocket per call, as feature-server opens it.
struct JambonzSession {
    framed: Framed<BoxedSocket, Codec>,
}

/// `Authorization: Basic base64(user:pass)`, what the `ws` client sends for
/// feature-server's `auth: user:pass` option.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

impl JambonzSession {
    async fn connect(app: &TestApp) -> JambonzSession {
        let (resp, framed) = awc::Client::new()
            .ws(format!(
                "ws://{}/jambonz",
                app.running.as_ref().expect("running").addr()
            ))
            .protocols(["ws.jambonz.org"])
            .header("Authorization", basic(JB_USER, JB_PASSWORD))
            .max_frame_size(JAMBONZ_MAX_PAYLOAD)
            .connect()
            .await
            .expect("jambonz socket connects");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("ws.jambonz.org"),
            "server must select the jambonz subprotocol"
        );
        JambonzSession { framed }
    }

    async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    async fn send_text(&mut self, text: String) {
        self.framed
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next JSON text frame (pings skipped), within 5 s; always `ack` or
    /// `command`, the only types feature-server accepts.
    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.framed.next())
                .await
                .expect("a reply within 5 s")
                .expect("socket open")
                .expect("valid frame (within jambonz's 24 KiB payload limit)");
            match frame {
                Frame::Text(bytes) => {
                    let value: Value = serde_json::from_slice(&bytes).expect("JSON reply");
                    assert!(
                        value["type"] == "ack" || value["type"] == "command",
                        "jambonz accepts only ack and command: {value}"
                    );
                    return value;
                }
                Frame::Close(reason) => panic!("socket closed: {reason:?}"),
                _ => continue,
            }
        }
    }

    /// No frame within `wait`.
    async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(Some(Ok(Frame::Text(bytes)))) =
            tokio::time::timeout(wait, self.framed.next()).await
        {
            panic!("unexpected frame: {}", String::from_utf8_lossy(&bytes));
        }
    }
}

/// A frame from tests/fixtures/jambonz (feature-server 0.9.8 shapes) for `call_sid`.
fn frame(name: &str, call_sid: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jambonz")
        .join(name);
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    value["call_sid"] = json!(call_sid);
    if value["data"].get("call_sid").is_some() && value["type"] != "dial:confirm" {
        value["data"]["call_sid"] = json!(call_sid);
    }
    value
}

/// `session:new` (or `session:reconnect`) for a call to `to`.
fn session(name: &str, call_sid: &str, to: &str) -> Value {
    let mut value = frame(name, call_sid);
    value["data"]["to"] = json!(to);
    value
}

fn tenant(id: &str, number: &str, provider: Provider) -> TenantConfig {
    let mut t = TenantConfig::example();
    t.id = id.into();
    t.name = format!("{id} office");
    t.phone_numbers = vec![number.into()];
    t.provider = Some(provider);
    t
}

/// jambonz credentials, the OpenAI and Ultravox keys by their vendor names, and
/// an Ultravox and an xAI tenant beside Acme Dental.
fn jambonz_config(c: &mut Config) {
    c.jambonz.username = JB_USER.into();
    c.jambonz.password = Some(JB_PASSWORD.into());
    c.jambonz.farewell_delay_ms = 100;
    c.take_vendor_keys(VendorKeys {
        openai: Some(OPENAI_KEY.into()),
        xai: None,
        ultravox: Some(ULTRAVOX_KEY.into()),
    });
    c.tenants
        .push(tenant("bright-vox", ULTRAVOX_NUMBER, Provider::Ultravox));
    c.tenants
        .push(tenant("grok-plumbing", XAI_NUMBER, Provider::Xai));
}

fn new_sid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[actix_rt::test]
async fn openai_tenant_gets_a_keyed_llm_verb_and_the_call_is_persisted() {
    let app = TestApp::start_with(Db::Sqlite, jambonz_config).await;
    let call_sid = new_sid();
    let mut jb = JambonzSession::connect(&app).await;

    jb.send(session("session-new.json", &call_sid, DIALLED))
        .await;
    let ack = jb.recv().await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["msgid"], "auuHioXGktYh2ZFYxf3hAA");
    let llm = &ack["data"][0];
    assert_eq!(llm["verb"], "llm");
    assert_eq!(llm["vendor"], "openai");
    assert_eq!(llm["model"], "gpt-realtime-2.1");
    assert_eq!(llm["auth"], json!({"apiKey": OPENAI_KEY}));
    assert_eq!(llm["toolHook"], "/llm-tool");
    let options = &llm["llmOptions"];
    let session_update = &options["session_update"];
    let instructions = session_update["instructions"].as_str().unwrap_or_default();
    assert!(instructions.contains("Acme Dental"), "{instructions}");
    // The greeting goes out before session.update: it carries the tenant itself.
    assert_eq!(options["response_create"]["instructions"], instructions);
    assert_eq!(options["response_create"]["voice"], session_update["voice"]);
    let tools: Vec<&str> = session_update["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"takeMessage") && tools.contains(&"hangUp"),
        "{tools:?}"
    );

    jb.send(frame("call-status-in-progress.json", &call_sid))
        .await;
    jb.send(frame("llm-event-openai-user-transcript.json", &call_sid))
        .await;
    jb.send(frame(
        "llm-event-openai-assistant-transcript.json",
        &call_sid,
    ))
    .await;

    // A frame switchboard cannot use is dropped: no reply of a type jambonz rejects.
    jb.send_text("{not json".into()).await;
    jb.expect_silence(Duration::from_millis(300)).await;

    jb.send(frame("llm-tool-call-openai.json", &call_sid)).await;
    let out = jb.recv().await;
    assert_eq!(out["command"], "llm:tool-output");
    assert_eq!(out["tool_call_id"], "call_Qm3v8kT2xLp9");
    assert_eq!(out["data"]["type"], "conversation.item.create");
    assert_eq!(out["data"]["item"]["type"], "function_call_output");
    assert_eq!(out["data"]["item"]["call_id"], "call_Qm3v8kT2xLp9");
    let output: Value = serde_json::from_str(
        out["data"]["item"]["output"]
            .as_str()
            .expect("output string"),
    )
    .expect("output is JSON");
    assert_eq!(output["saved"], true, "takeMessage failed: {output}");

    let mut hang_up = frame("llm-tool-call-openai.json", &call_sid);
    hang_up["data"] = json!({"tool_call_id": "call_bye_2", "name": "hangUp",
                             "args": {"reason": "message taken"}});
    jb.send(hang_up).await;
    let out = jb.recv().await;
    assert_eq!(out["tool_call_id"], "call_bye_2");
    let redirect = jb.recv().await;
    assert_eq!(redirect["command"], "redirect");
    assert_eq!(redirect["data"], json!([{"verb": "hangup"}]));

    // The killed llm verb's actionHook is acked without verbs.
    jb.send(frame("verb-hook-llm-done.json", &call_sid)).await;
    let ack = jb.recv().await;
    assert_eq!(
        ack,
        json!({"type": "ack", "msgid": "Rt9yUi7OpA5sDf3GhJ1kLz"})
    );

    jb.send(frame("call-status-completed.json", &call_sid))
        .await;
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    let row = &record["call"];
    assert_eq!(row["carrier"], "jambonz");
    assert_eq!(row["tenant_id"], "acme-dental");
    assert_eq!(row["model_provider"], "jambonz-openai");
    assert_eq!(row["from_number"], CALLER);
    assert_eq!(row["ended_reason"], "assistant_hangup: message taken");
    assert_eq!(row["duration_ms"], 42_000);
    let roles: Vec<&str> = record["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .filter_map(|t| t["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
    // takeMessage's `urgency: "high"` (another tool's word) is stored normalised.
    let state = app.running.as_ref().expect("running").state.clone();
    let mut conn = state.pool.get().expect("conn");
    let messages = caller_messages::for_tenant(&mut conn, "acme-dental", 10).expect("messages");
    assert_eq!(messages[0].urgency, "urgent");
    app.stop().await;
}

#[actix_rt::test]
async fn ultravox_tenant_gets_the_create_call_body_and_client_tool_results() {
    let app = TestApp::start_with(Db::Sqlite, jambonz_config).await;
    let call_sid = new_sid();
    let mut jb = JambonzSession::connect(&app).await;
    jb.send(session("session-new.json", &call_sid, ULTRAVOX_NUMBER))
        .await;
    let ack = jb.recv().await;
    let llm = &ack["data"][0];
    assert_eq!(llm["vendor"], "ultravox");
    assert_eq!(llm["model"], "fixie-ai/ultravox");
    assert_eq!(llm["auth"], json!({"apiKey": ULTRAVOX_KEY}));
    assert_eq!(llm["events"], json!(["transcript"]));
    let body = &llm["llmOptions"];
    assert!(body["systemPrompt"]
        .as_str()
        .unwrap_or_default()
        .contains("bright-vox office"));
    assert_eq!(body["firstSpeaker"], "FIRST_SPEAKER_AGENT");
    assert!(
        body.get("voice").is_none(),
        "no OpenAI voice sent to Ultravox"
    );
    assert_eq!(
        body["medium"]["serverWebSocket"],
        json!({"inputSampleRate": 8000, "outputSampleRate": 8000})
    );
    let take = body["selectedTools"]
        .as_array()
        .expect("selectedTools")
        .iter()
        .map(|t| &t["temporaryTool"])
        .find(|t| t["modelToolName"] == "takeMessage")
        .expect("takeMessage offered");
    assert_eq!(take["client"], json!({}));
    assert!(take["dynamicParameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .any(|p| p["name"] == "callerName"
            && p["location"] == "PARAMETER_LOCATION_BODY"
            && p["required"] == true));

    jb.send(frame("llm-event-ultravox-transcript.json", &call_sid))
        .await;
    jb.send(frame("llm-tool-call-ultravox.json", &call_sid))
        .await;
    let out = jb.recv().await;
    assert_eq!(out["command"], "llm:tool-output");
    let invocation = "5e0c8f4b-2a1d-4b7e-9c6f-3d2e1a0b9c8d";
    assert_eq!(out["tool_call_id"], invocation);
    assert_eq!(out["data"]["type"], "client_tool_result");
    assert_eq!(out["data"]["invocation_id"], invocation);
    let result: Value =
        serde_json::from_str(out["data"]["result"].as_str().expect("result string"))
            .expect("result is JSON");
    assert_eq!(result["saved"], true, "{result}");

    jb.send(frame("call-status-completed.json", &call_sid))
        .await;
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    assert_eq!(record["call"]["tenant_id"], "bright-vox");
    assert_eq!(record["call"]["model_provider"], "jambonz-ultravox");
    assert_eq!(record["transcript"][0]["role"], "user");
    app.stop().await;
}

#[actix_rt::test]
async fn tenants_jambonz_would_refuse_hear_a_short_message_and_get_a_refused_row() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        jambonz_config(c);
        // No OpenAI key at all: Acme Dental (openai) cannot be served.
        c.model.api_key = None;
        c.model.vendor_keys.openai = None;
    })
    .await;
    for (to, reason) in [
        (DIALLED, "refused_no_model_key"),
        (XAI_NUMBER, "refused_no_jambonz_vendor"),
    ] {
        let call_sid = new_sid();
        let mut jb = JambonzSession::connect(&app).await;
        jb.send(session("session-new.json", &call_sid, to)).await;
        let ack = jb.recv().await;
        let verbs = ack["data"].as_array().expect("verbs");
        assert_eq!(verbs.len(), 2, "{ack}");
        assert_eq!(verbs[0]["verb"], "say");
        assert!(verbs[0]["text"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(verbs[1], json!({"verb": "hangup"}));
        let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
        assert_eq!(record["call"]["status"], "refused", "{to}");
        assert_eq!(record["call"]["ended_reason"], reason, "{to}");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn socket_lost_before_the_first_ack_gets_the_verbs_on_reconnect() {
    let app = TestApp::start_with(Db::Sqlite, jambonz_config).await;
    let call_sid = new_sid();
    let mut first = JambonzSession::connect(&app).await;
    first
        .send(session("session-new.json", &call_sid, DIALLED))
        .await;
    // The socket drops before jambonz reads our ack (whether or not it was written).
    drop(first);

    // feature-server reconnects and moves the pending session:new onto the
    // reconnect's msgid: this ack must carry the application.
    let mut second = JambonzSession::connect(&app).await;
    second
        .send(session("session-reconnect.json", &call_sid, DIALLED))
        .await;
    let ack = second.recv().await;
    assert_eq!(ack["msgid"], "7kQm2LxPz9RtVb4NcW1sYe");
    assert_eq!(ack["data"][0]["verb"], "llm", "{ack}");
    assert_eq!(ack["data"][0]["auth"]["apiKey"], OPENAI_KEY);

    let mut lookup = frame("llm-tool-call-openai.json", &call_sid);
    lookup["data"] = json!({"tool_call_id": "call_lookup", "name": "lookupCustomer",
                            "args": {"phone": CALLER}});
    second.send(lookup).await;
    assert_eq!(second.recv().await["tool_call_id"], "call_lookup");
    second
        .send(frame("call-status-completed.json", &call_sid))
        .await;
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    assert_eq!(record["call"]["ended_reason"], "caller_hangup");
    let (_, calls) = app.get_json("/api/calls").await;
    let rows = calls
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["carrier_call_sid"] == call_sid.as_str())
        .count();
    assert_eq!(rows, 1, "a reconnect must not start a second call");
    app.stop().await;
}

#[actix_rt::test]
async fn reconnect_of_an_established_call_is_acked_with_its_current_verbs() {
    let app = TestApp::start_with(Db::Sqlite, jambonz_config).await;
    let call_sid = new_sid();
    let mut first = JambonzSession::connect(&app).await;
    first
        .send(session("session-new.json", &call_sid, DIALLED))
        .await;
    let llm = first.recv().await["data"][0].clone();
    assert_eq!(llm["verb"], "llm");
    drop(first);

    let mut second = JambonzSession::connect(&app).await;
    second
        .send(session("session-reconnect.json", &call_sid, DIALLED))
        .await;
    let ack = second.recv().await;
    assert_eq!(ack["msgid"], "7kQm2LxPz9RtVb4NcW1sYe");
    assert_eq!(ack["data"], json!([llm]), "the same application, again");
    second
        .send(frame("call-status-completed.json", &call_sid))
        .await;
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    assert_eq!(record["call"]["ended_reason"], "caller_hangup");
    app.stop().await;
}

/// The switchboard call id of the live jambonz call `call_sid`.
async fn call_id_of(app: &TestApp, call_sid: &str) -> String {
    for _ in 0..50 {
        let (status, body) = app.get_json(&format!("/api/calls/{call_sid}")).await;
        if status == 200 {
            return body["call"]["id"].as_str().expect("id").to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("call {call_sid} never appeared");
}

async fn push_session(app: &TestApp, call_id: &str, body: Value) {
    let resp = awc::Client::default()
        .post(app.http_url(&format!("/api/calls/{call_id}/session")))
        .bearer_auth(ADMIN)
        .send_json(&body)
        .await
        .expect("POST session");
    assert_eq!(resp.status().as_u16(), 202);
}

#[actix_rt::test]
async fn live_session_edit_never_changes_the_voice_after_the_first_response() {
    let app = TestApp::start_with(Db::Sqlite, jambonz_config).await;
    let call_sid = new_sid();
    let mut jb = JambonzSession::connect(&app).await;
    jb.send(session("session-new.json", &call_sid, DIALLED))
        .await;
    assert_eq!(jb.recv().await["data"][0]["verb"], "llm");
    let call_id = call_id_of(&app, &call_sid).await;

    push_session(
        &app,
        &call_id,
        json!({"voice": "cedar", "instructions": "Be brisk."}),
    )
    .await;
    let update = jb.recv().await;
    assert_eq!(update["command"], "llm:update");
    assert_eq!(update["data"]["type"], "session.update");
    assert_eq!(update["data"]["session"]["voice"], "cedar");

    // The greeting's response has started: OpenAI refuses a voice change now, and
    // feature-server ends the llm verb on OpenAI's error event.
    jb.send(frame("llm-event-openai-response-created.json", &call_sid))
        .await;
    push_session(
        &app,
        &call_id,
        json!({"voice": "ash", "instructions": "Be gentle."}),
    )
    .await;
    let update = jb.recv().await;
    assert_eq!(update["command"], "llm:update");
    let session = &update["data"]["session"];
    assert!(session.get("voice").is_none(), "{update}");
    assert!(session["instructions"]
        .as_str()
        .unwrap_or_default()
        .contains("Be gentle."));
    jb.send(frame("call-status-completed.json", &call_sid))
        .await;
    app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    app.stop().await;
}

#[actix_rt::test]
async fn a_tenant_whose_llm_verb_exceeds_the_jambonz_payload_limit_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(&db::sqlite_url(dir.path()));
    config.database.spool_file = dir.path().join("spool.jsonl");
    jambonz_config(&mut config);
    config.tenants[0].company_brief = "We fix teeth. ".repeat(1200);
    let err = match switchboard::app::start(config).await {
        Ok(_) => panic!("started with a 33 KB llm verb"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("acme-dental") && err.contains("jambonz.max_payload_bytes = 24576"),
        "{err}"
    );
}

#[actix_rt::test]
async fn an_operator_edit_past_the_payload_limit_refuses_the_call_instead_of_a_dropped_ack() {
    let app = TestApp::start_with(Db::Sqlite, jambonz_config).await;
    let resp = awc::Client::default()
        .put(app.http_url("/api/tenants/acme-dental/session"))
        .bearer_auth(ADMIN)
        .send_json(&json!({"instructions": "Always be polite. ".repeat(800)}))
        .await
        .expect("PUT session");
    assert_eq!(resp.status().as_u16(), 200);
    let call_sid = new_sid();
    let mut jb = JambonzSession::connect(&app).await;
    jb.send(session("session-new.json", &call_sid, DIALLED))
        .await;
    let ack = jb.recv().await;
    assert_eq!(ack["data"][0]["verb"], "say", "{ack}");
    assert_eq!(ack["data"][1]["verb"], "hangup");
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    assert_eq!(record["call"]["ended_reason"], "refused_payload_too_large");
    app.stop().await;
}

#[actix_rt::test]
async fn jambonz_upgrade_without_subprotocol_is_refused() {
    let app = TestApp::start().await;
    let result = awc::Client::new()
        .ws(format!(
            "ws://{}/jambonz",
            app.running.as_ref().expect("running").addr()
        ))
        .connect()
        .await;
    match result {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 400)
        }
        other => panic!(
            "expected HTTP 400, got {:?}",
            other.map(|(r, _)| r.status())
        ),
    }
    app.stop().await;
}

/// A jambonz call, acked, to a tenant whose on-call number is +15550109999.
async fn call_with_on_call() -> (TestApp, JambonzSession, String) {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        jambonz_config(c);
        c.tenants[0].transfer_numbers = vec!["+15550109999".into()];
    })
    .await;
    let call_sid = new_sid();
    let mut jb = JambonzSession::connect(&app).await;
    jb.send(session("session-new.json", &call_sid, DIALLED))
        .await;
    assert_eq!(jb.recv().await["type"], "ack");
    (app, jb, call_sid)
}

/// The caller asks for the on-call person (scripted tool call): the tool's
/// output, then the `llm` verb redirected to the `dial`, which is returned.
async fn transfer_by_tool(jb: &mut JambonzSession, call_sid: &str) -> Value {
    let mut said = frame("llm-event-openai-user-transcript.json", call_sid);
    said["data"]["transcript"] = json!("My kitchen pipe burst, get me someone now.");
    jb.send(said).await;
    let mut transfer = frame("llm-tool-call-openai.json", call_sid);
    transfer["data"] = json!({"tool_call_id": "call_xfer_1", "name": "transferToOnCall",
                              "args": {"reason": "burst pipe"}});
    jb.send(transfer).await;
    let out = jb.recv().await;
    assert_eq!(out["command"], "llm:tool-output");
    assert_eq!(out["tool_call_id"], "call_xfer_1");
    let output: Value =
        serde_json::from_str(out["data"]["item"]["output"].as_str().expect("output"))
            .expect("output is JSON");
    assert_eq!(output["transferring"], true, "{output}");
    // After the hand-off line, the llm verb is replaced by a dial of the on-call number.
    let redirect = jb.recv().await;
    assert_eq!(redirect["command"], "redirect");
    redirect["data"][0].clone()
}

#[actix_rt::test]
async fn jambonz_transfer_tool_dials_and_screens_the_on_call_person() {
    let (app, mut jb, call_sid) = call_with_on_call().await;
    let dial = transfer_by_tool(&mut jb, &call_sid).await;
    assert_eq!(dial["verb"], "dial", "{dial}");
    assert_eq!(dial["timeout"], 20, "transfer.ring_secs");
    assert_eq!(dial["actionHook"], "/dial-done");
    assert_eq!(dial["target"][0]["type"], "phone");
    assert_eq!(dial["target"][0]["number"], "+15550109999");
    assert_eq!(dial["target"][0]["confirmHook"], "/screen");

    // The on-call person answers: a one-key gather telling who calls and why.
    jb.send(frame("dial-confirm.json", &call_sid)).await;
    let ack = jb.recv().await;
    assert_eq!(ack["msgid"], "Vb1nMq3WeR5tYu7IoP9aSd");
    assert_eq!(ack["data"][0]["verb"], "gather", "{ack}");
    assert_eq!(ack["data"][0]["numDigits"], 1);
    assert_eq!(ack["data"][0]["actionHook"], "/screen-result");
    let prompt = ack["data"][0]["say"]["text"].as_str().unwrap_or_default();
    assert!(prompt.contains("Reason: burst pipe."), "{prompt}");
    assert!(prompt.contains("My kitchen pipe burst"), "{prompt}");
    assert!(prompt.ends_with("Press 1 to take the call."), "{prompt}");
    assert_eq!(ack["data"][1]["verb"], "hangup");

    // They press 1: no verbs left on their leg, so jambonz bridges.
    jb.send(frame("verb-hook-screen-result.json", &call_sid))
        .await;
    let taken = jb.recv().await;
    assert_eq!(taken["msgid"], "Gt4hJk6LmN8pQr0StUv2Wx");
    assert_eq!(taken["data"], json!([]), "{taken}");
    // The bridged call ends: the caller's leg hangs up, the call is transferred.
    let mut done = frame("verb-hook-dial-done.json", &call_sid);
    done["data"]["dial_call_status"] = json!("completed");
    done["data"]["duration"] = json!(42);
    jb.send(done).await;
    let ack = jb.recv().await;
    assert_eq!(ack["data"], json!([{"verb": "hangup"}]), "{ack}");
    jb.send(frame("call-status-completed.json", &call_sid))
        .await;
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    assert_eq!(
        record["call"]["ended_reason"],
        "transferred: +15550109999 (burst pipe)"
    );
    assert!(
        record["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "Bridged to the on-call person for 42 s."),
        "{record}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn an_unanswered_jambonz_transfer_goes_back_to_the_llm_with_the_conversation() {
    let (app, mut jb, call_sid) = call_with_on_call().await;
    transfer_by_tool(&mut jb, &call_sid).await;
    // The killed llm verb's actionHook cannot override the dial.
    jb.send(frame("verb-hook-llm-done.json", &call_sid)).await;
    assert_eq!(jb.recv().await.get("data"), None);
    // Nobody answers within the ring time.
    jb.send(frame("verb-hook-dial-done.json", &call_sid)).await;
    let ack = jb.recv().await;
    assert_eq!(ack["msgid"], "Dd2fGh4JkL6mNp8QrS0tUv");
    let llm = &ack["data"][0];
    assert_eq!(llm["verb"], "llm", "{ack}");
    let instructions = llm["llmOptions"]["session_update"]["instructions"]
        .as_str()
        .unwrap_or_default();
    assert!(
        instructions.contains("Caller: My kitchen pipe burst, get me someone now."),
        "{instructions}"
    );
    assert!(
        instructions.contains(
            "The transfer to the on-call person failed: nobody answered. Offer to take a message."
        ),
        "{instructions}"
    );
    // The same call goes on: a message is taken, the caller hangs up.
    let mut message = frame("llm-tool-call-openai.json", &call_sid);
    message["data"] = json!({"tool_call_id": "call_msg_1", "name": "takeMessage",
        "args": {"callerName": "Dana Smith", "callerPhone": CALLER,
                 "message": "Pipe burst.", "urgency": "urgent"}});
    jb.send(message).await;
    let out = jb.recv().await;
    assert_eq!(out["tool_call_id"], "call_msg_1", "{out}");
    jb.send(frame("call-status-completed.json", &call_sid))
        .await;
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    assert_eq!(record["call"]["ended_reason"], "caller_hangup", "{record}");
    let tools: Vec<&str> = record["tool_invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(tools, ["transferToOnCall", "takeMessage"], "{record}");
    app.stop().await;
}

#[actix_rt::test]
async fn an_operator_transfer_redirects_a_jambonz_call_to_the_dial_at_once() {
    use crate::transfer::{live_call_id, post_transfer};

    let (app, mut jb, call_sid) = call_with_on_call().await;
    let id = live_call_id(&app, "jambonz", Some(&call_sid)).await;

    let (status, body) = post_transfer(&app, &id, r#"{"reason":"owner takes it"}"#).await;
    assert_eq!(status, 200, "{body}");
    // No tool output, no hand-off line: the llm verb is replaced by the dial now.
    let redirect = jb.recv().await;
    assert_eq!(redirect["command"], "redirect", "{redirect}");
    let dial = &redirect["data"][0];
    assert_eq!(dial["verb"], "dial", "{redirect}");
    assert_eq!(dial["target"][0]["number"], "+15550109999");

    let (status, body) = post_transfer(&app, &id, r#"{"reason":"again"}"#).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "the call is already ending");
    app.stop().await;
}

/// With a model key configured and no jambonz credentials, `/jambonz` is
/// closed on every address: a `session:new` without credentials would get the
/// key back in its `llm` verb. With credentials it opens (the other tests).
#[actix_rt::test]
async fn an_open_jambonz_with_a_model_key_is_closed() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        jambonz_config(c);
        c.jambonz.username = String::new();
        c.jambonz.password = None;
    })
    .await;
    let url = format!(
        "ws://{}/jambonz",
        app.running.as_ref().expect("running").addr()
    );
    let refused = awc::Client::new()
        .ws(url)
        .protocols(["ws.jambonz.org"])
        .connect()
        .await;
    match refused {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 403)
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("an open /jambonz accepted a socket while a model key is set"),
    }
    app.stop().await;
}
