//! jambonz WebSocket API scenarios over a real socket: a jambonz-like client sends
//! the documented messages (carriers.md §5) and checks the replies and the
//! persisted call.

use std::time::Duration;

use actix_codec::Framed;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::support::{TestApp, CALLER, DIALLED};

/// A jambonz-like client: one WebSocket with the `ws.jambonz.org` subprotocol.
struct JambonzSession {
    framed: Framed<BoxedSocket, Codec>,
}

impl JambonzSession {
    async fn connect(app: &TestApp) -> JambonzSession {
        let (resp, framed) = awc::Client::new()
            .ws(format!(
                "ws://{}/jambonz",
                app.running.as_ref().expect("running").addr()
            ))
            .protocols(["ws.jambonz.org"])
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

    /// The next JSON text frame (pings skipped), within 5 s.
    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.framed.next())
                .await
                .expect("a reply within 5 s")
                .expect("socket open")
                .expect("valid frame");
            match frame {
                Frame::Text(bytes) => return serde_json::from_slice(&bytes).expect("JSON reply"),
                Frame::Close(reason) => panic!("socket closed: {reason:?}"),
                _ => continue,
            }
        }
    }
}

fn session_new(call_sid: &str) -> Value {
    json!({"type": "session:new", "msgid": "m1", "call_sid": call_sid, "data": {
        "call_sid": call_sid, "account_sid": "jb-account-1", "application_sid": "app-1",
        "direction": "inbound", "from": CALLER, "to": DIALLED, "call_status": "trying",
        "sip_status": 100, "sip": {"headers": {"X-Test": "1"}}}})
}

#[actix_rt::test]
async fn jambonz_call_round_trip_is_answered_and_persisted() {
    let app = TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.jambonz.farewell_delay_ms = 100;
    })
    .await;
    let call_sid = format!("jb-{}", uuid::Uuid::new_v4());
    let mut jb = JambonzSession::connect(&app).await;

    jb.send(session_new(&call_sid)).await;
    let ack = jb.recv().await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["msgid"], "m1");
    let llm = &ack["data"][0];
    assert_eq!(llm["verb"], "llm");
    assert_eq!(llm["vendor"], "openai");
    assert_eq!(llm["toolHook"], "/llm-tool");
    let session = &llm["llmOptions"]["session_update"];
    assert!(session["instructions"]
        .as_str()
        .unwrap_or_default()
        .contains("Acme Dental"));
    let tools: Vec<&str> = session["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"takeMessage") && tools.contains(&"hangUp"),
        "{tools:?}"
    );

    jb.send(
        json!({"type": "call:status", "msgid": "m2", "call_sid": call_sid,
        "data": {"call_sid": call_sid, "call_status": "in-progress", "direction": "inbound"}}),
    )
    .await;
    jb.send(
        json!({"type": "llm:event", "msgid": "m3", "call_sid": call_sid, "hook": "/llm-event",
        "data": {"type": "conversation.item.input_audio_transcription.completed",
                 "item_id": "item_1", "transcript": "Please ask Doctor Lee to call me back."}}),
    )
    .await;

    // Garbage from "jambonz" gets a jambonz-style error and the call goes on.
    jb.send_text("{not json".into()).await;
    let err = jb.recv().await;
    assert_eq!(err["type"], "jambonz:error");
    assert_eq!(err["data"]["msg"], "InvalidMessage");

    jb.send(json!({"type": "llm:tool-call", "msgid": "m4", "call_sid": call_sid, "hook": "/llm-tool",
        "data": {"tool_call_id": "call_take_1", "name": "takeMessage", "args": {
            "callerName": "Dana Smith", "message": "Call back this afternoon", "urgency": "normal"}}}))
        .await;
    let out = jb.recv().await;
    assert_eq!(out["type"], "command");
    assert_eq!(out["command"], "llm:tool-output");
    assert_eq!(out["tool_call_id"], "call_take_1");
    assert_eq!(out["data"]["item"]["call_id"], "call_take_1");
    let output: Value = serde_json::from_str(
        out["data"]["item"]["output"]
            .as_str()
            .expect("output string"),
    )
    .expect("output is JSON");
    assert!(
        output.get("error").is_none(),
        "takeMessage failed: {output}"
    );

    jb.send(json!({"type": "llm:tool-call", "msgid": "m5", "call_sid": call_sid, "hook": "/llm-tool",
        "data": {"tool_call_id": "call_bye_2", "name": "hangUp", "args": {"reason": "message taken"}}}))
        .await;
    let out = jb.recv().await;
    assert_eq!(out["command"], "llm:tool-output");
    assert_eq!(out["tool_call_id"], "call_bye_2");
    let redirect = jb.recv().await;
    assert_eq!(redirect["command"], "redirect");
    assert_eq!(redirect["data"], json!([{"verb": "hangup"}]));

    // The killed llm verb's actionHook is acked without verbs.
    jb.send(
        json!({"type": "verb:hook", "msgid": "m6", "call_sid": call_sid, "hook": "/llm-done",
        "data": {"completion_reason": "normal conversation end", "call_sid": call_sid}}),
    )
    .await;
    let ack = jb.recv().await;
    assert_eq!(ack, json!({"type": "ack", "msgid": "m6"}));

    jb.send(
        json!({"type": "call:status", "msgid": "m7", "call_sid": call_sid,
        "data": {"call_sid": call_sid, "call_status": "completed", "duration": 42}}),
    )
    .await;
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    let row = &record["call"];
    assert_eq!(row["carrier"], "jambonz");
    assert_eq!(row["tenant_id"], "acme-dental");
    assert_eq!(row["from_number"], CALLER);
    assert_eq!(row["ended_reason"], "assistant_hangup: message taken");
    assert_eq!(row["duration_ms"], 42_000);
    assert_eq!(record["transcript"][0]["role"], "user");
    let ids: Vec<&str> = record["tool_invocations"]
        .as_array()
        .expect("tool invocations")
        .iter()
        .filter_map(|t| t["tool_call_id"].as_str())
        .collect();
    assert_eq!(ids, ["call_take_1", "call_bye_2"]);
    app.stop().await;
}

#[actix_rt::test]
async fn jambonz_reconnect_resumes_the_call_on_a_new_socket() {
    let app = TestApp::start().await;
    let call_sid = format!("jb-{}", uuid::Uuid::new_v4());
    let mut first = JambonzSession::connect(&app).await;
    first.send(session_new(&call_sid)).await;
    assert_eq!(first.recv().await["msgid"], "m1");
    drop(first);

    let mut second = JambonzSession::connect(&app).await;
    let mut reconnect = session_new(&call_sid);
    reconnect["type"] = json!("session:reconnect");
    reconnect["msgid"] = json!("r1");
    second.send(reconnect).await;
    assert_eq!(second.recv().await, json!({"type": "ack", "msgid": "r1"}));
    second
        .send(json!({"type": "llm:tool-call", "msgid": "r2", "call_sid": call_sid,
            "data": {"tool_call_id": "call_lookup", "name": "lookupCustomer", "args": {"phone": CALLER}}}))
        .await;
    let out = second.recv().await;
    assert_eq!(out["tool_call_id"], "call_lookup");

    second
        .send(
            json!({"type": "call:status", "msgid": "r3", "call_sid": call_sid,
            "data": {"call_status": "completed"}}),
        )
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

#[actix_rt::test]
async fn jambonz_transfer_tool_redirects_to_a_dial_of_the_on_call_number() {
    let app = TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.jambonz.farewell_delay_ms = 100;
        c.tenants[0].transfer_numbers = vec!["+15550109999".into()];
    })
    .await;
    let call_sid = format!("jb-{}", uuid::Uuid::new_v4());
    let mut jb = JambonzSession::connect(&app).await;
    jb.send(session_new(&call_sid)).await;
    let ack = jb.recv().await;
    assert_eq!(ack["type"], "ack");

    jb.send(json!({"type": "llm:tool-call", "msgid": "m2", "call_sid": call_sid, "hook": "/llm-tool",
        "data": {"tool_call_id": "call_xfer_1", "name": "transferToOnCall", "args": {"reason": "burst pipe"}}}))
        .await;
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
    let dial = &redirect["data"][0];
    assert_eq!(dial["verb"], "dial", "{redirect}");
    assert_eq!(dial["target"][0]["type"], "phone");
    assert_eq!(dial["target"][0]["number"], "+15550109999");
    app.stop().await;
}
