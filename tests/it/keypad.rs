//! The caller's keypad: a Twilio `dtmf` event (or the browser softphone's
//! `dtmf` message) for a key the tenant mapped acts without the model — `0` =
//! transfer through the Twilio REST API — and any other key reaches the model
//! as a caller line (`conversation.item.create` with `input_text`, then
//! `response.create`), stored in the transcript.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::far_end::TwilioCall;
use switchboard::tenant::keypad::KeypadAction;

use crate::support::stub::HttpStub;
use crate::support::{Db, TestApp};
use crate::transfer::{
    assert_transferred, bridge, live_call_id, with_twilio_and_on_call, ON_CALL, TOKEN,
};

/// Waits until the simulator has received a client event `matches` accepts;
/// returns it with every event received so far.
async fn wait_model_event(
    app: &TestApp,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> (Value, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = app.model_client_events();
        if let Some(found) = events.iter().find(|e| matches(e)).cloned() {
            return (found, events);
        }
        assert!(
            Instant::now() < deadline,
            "the model never got {what}: {events:#?}"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `conversation.item.create` of a `user` message whose `input_text` is `text`.
fn is_caller_line(text: &str) -> impl Fn(&Value) -> bool + '_ {
    move |e| {
        e["type"] == "conversation.item.create"
            && e["item"]["role"] == "user"
            && e["item"]["content"][0]["type"] == "input_text"
            && e["item"]["content"][0]["text"] == text
    }
}

fn keypad(
    pairs: &[(&str, KeypadAction)],
) -> BTreeMap<switchboard::tenant::keypad::KeypadKey, KeypadAction> {
    pairs
        .iter()
        .map(|(k, a)| (k.parse().unwrap(), *a))
        .collect()
}

#[actix_rt::test]
async fn key_zero_mapped_to_transfer_transfers_without_asking_the_model() {
    let twilio = HttpStub::start(|_, _| (200, json!({"sid": "CA", "status": "in-progress"}))).await;
    let api_base = twilio.base.clone();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        with_twilio_and_on_call(c, &api_base);
        c.tenants[0].keypad = keypad(&[("0", KeypadAction::Transfer)]);
    })
    .await;
    let setup = app.through_signed_webhook(app.call_setup(), TOKEN).await;
    let call_sid = setup.call_sid.clone();
    let mut call = TwilioCall::connect(setup).await.expect("call connects");
    wait_model_event(&app, "session.update", |e| e["type"] == "session.update").await;

    let call_id = live_call_id(&app, "twilio", Some(&call_sid)).await;
    call.send_dtmf('0').await.unwrap();
    let form = assert_transferred(&mut call, &twilio, &call_sid).await;
    assert_eq!(form[0].0, "Twiml");
    assert!(
        form[0].1.contains(&format!("{ON_CALL}</Number></Dial>")),
        "{form:?}"
    );
    // The on-call person takes it: the call ends transferred.
    bridge(&app, &call_id).await;
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(
        record["call"]["ended_reason"],
        "transferred: caller pressed 0 on the keypad"
    );
    // No model round trip: the model was told nothing and asked nothing.
    let events = app.model_client_events();
    assert!(
        !events.iter().any(|e| e["type"] == "response.create"
            || (e["type"] == "conversation.item.create" && e["item"]["type"] == "message")),
        "{events:#?}"
    );
    app.stop().await;
    twilio.stop().await;
}

#[actix_rt::test]
async fn keys_without_a_transfer_reach_the_model_as_caller_lines() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.tenants[0].keypad = keypad(&[("9", KeypadAction::Message)]);
    })
    .await;
    let (mut call, _feed) = app.dial().await;
    let call_sid = call.setup().call_sid.clone();
    wait_model_event(&app, "session.update", |e| e["type"] == "session.update").await;

    call.send_dtmf('1').await.unwrap();
    let pressed = "The caller pressed 1 on their keypad.";
    let (_, events) = wait_model_event(&app, "the key press", is_caller_line(pressed)).await;
    let at = events.iter().position(is_caller_line(pressed)).unwrap();
    let (_, events) = wait_model_event(&app, "a response to the key", |e| {
        e["type"] == "response.create"
    })
    .await;
    assert!(
        events[at..].iter().any(|e| e["type"] == "response.create"),
        "no response.create after the key press: {events:#?}"
    );

    // A mapped "message" key: the model is told to take a message.
    call.send_dtmf('9').await.unwrap();
    let message = "The caller pressed 9 to leave a message; take their message.";
    let (_, events) = wait_model_event(&app, "the message key", is_caller_line(message)).await;
    for event in &events {
        crate::support::schema::assert_client_event(event);
    }

    call.stop().await.unwrap();
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    let lines: Vec<(&str, &str)> = record["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["role"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert!(lines.contains(&("system", pressed)), "{lines:?}");
    assert!(lines.contains(&("system", message)), "{lines:?}");
    app.stop().await;
}

#[actix_rt::test]
async fn the_browser_keypad_reaches_the_model_and_bad_keys_get_an_error() {
    let app = TestApp::start().await;
    let token = crate::browser::new_session(&app).await;
    let mut socket = crate::browser::open(&app, &token, Some(&crate::browser::origin(&app)))
        .await
        .expect("browser call");
    wait_model_event(&app, "session.update", |e| e["type"] == "session.update").await;

    socket
        .send(Message::Text(r##"{"type":"dtmf","digit":"#"}"##.into()))
        .await
        .unwrap();
    wait_model_event(
        &app,
        "the browser key press",
        is_caller_line("The caller pressed # on their keypad."),
    )
    .await;

    socket
        .send(Message::Text(r#"{"type":"dtmf","digit":"12"}"#.into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut error = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Frame::Text(text) = frame {
            let msg: Value = serde_json::from_slice(&text).unwrap();
            if msg["type"] == "error" {
                error = Some(msg["message"].as_str().unwrap_or_default().to_string());
                break;
            }
        }
    }
    let error = error.expect("an error message for a bad key");
    assert!(
        error.contains("\"12\" is not a keypad key (one of 0-9, * or #)"),
        "{error}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_key_press_is_replayed_to_a_restarted_model_link() {
    let app = TestApp::start().await;
    let (mut call, feed) = app.dial().await;
    wait_model_event(&app, "session.update", |e| e["type"] == "session.update").await;
    call.send_dtmf('4').await.unwrap();
    let pressed = "The caller pressed 4 on their keypad.";
    wait_model_event(&app, "the key press", is_caller_line(pressed)).await;

    // The model socket dies: the new link is told the conversation again,
    // the key press in it.
    app.sim().kill_sessions();
    crate::support::talk_silence_until(&mut call, &feed, Duration::from_secs(10), |e| {
        matches!(e, switchboard::events::CallEvent::LinkRestart { .. })
    })
    .await
    .expect("link restart announced");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sessions = app.sim().recorded_sessions();
        if sessions.len() >= 2 && sessions[1].iter().any(is_caller_line(pressed)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the key press was not replayed: {sessions:#?}"
        );
        call.send_silence(100).await.unwrap();
    }
    app.stop().await;
}
