//! The spine: a Twilio Media Streams call relayed to the realtime model (the
//! built-in simulator), answered with speech, and persisted — on SQLite and on
//! PostgreSQL. Every client event the model link sent is checked against OpenAI's
//! published Realtime schema, strictly.

use std::time::Duration;

use switchboard::events::CallEvent;

use crate::support::{
    self, caller_mulaw, is_transcript, mulaw_dbfs, talk_silence_until, Db, TestApp,
};

async fn caller_is_answered_and_call_is_persisted(db: Db) {
    let app = TestApp::start_with(db, |_| {}).await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();

    call.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("stream caller audio");
    let reply = talk_silence_until(
        &mut call,
        &feed,
        Duration::from_secs(20),
        is_transcript("assistant"),
    )
    .await;
    let Some(CallEvent::Transcript { text, .. }) = reply else {
        panic!("no assistant transcript; events: {:?}", feed.events());
    };
    assert!(text.contains("Tuesday morning"), "assistant said {text:?}");
    let user = feed.events().into_iter().find(|e| is_transcript("user")(e));
    assert!(
        matches!(&user, Some(CallEvent::Transcript { text, .. }) if text.contains("teeth cleaning")),
        "user transcript: {user:?}"
    );

    // The caller hears real speech back, not silence.
    assert!(
        call.wait_for_audio(2000, Duration::from_secs(10)).await,
        "too little reply audio"
    );
    let level = mulaw_dbfs(&call.received_audio());
    assert!(level > -35.0, "reply audio is near silence: {level} dBFS");

    call.stop().await.expect("stop");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    let row = &record["call"];
    assert_eq!(row["status"], "completed");
    assert_eq!(row["ended_reason"], "caller_hangup");
    assert_eq!(row["tenant_id"], "acme-dental");
    assert_eq!(row["from_number"], support::CALLER);
    assert!(
        row["duration_ms"].as_i64().unwrap_or(0) > 3000,
        "duration: {row}"
    );
    let lines = record["transcript"].as_array().expect("transcript array");
    let roles: Vec<&str> = lines.iter().filter_map(|l| l["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant"], "stored transcript: {lines:?}");
    assert!(lines[0]["text"]
        .as_str()
        .unwrap_or("")
        .contains("teeth cleaning"));

    let events = app.model_client_events();
    assert!(events.iter().any(|e| e["type"] == "session.update"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "input_audio_buffer.append"));
    for event in &events {
        support::schema::assert_client_event(event);
    }
    app.stop().await;
}

#[actix_rt::test]
async fn caller_is_answered_and_call_is_persisted_on_sqlite() {
    caller_is_answered_and_call_is_persisted(Db::Sqlite).await;
}

#[actix_rt::test]
async fn caller_is_answered_and_call_is_persisted_on_postgres() {
    caller_is_answered_and_call_is_persisted(Db::Postgres).await;
}

#[actix_rt::test]
async fn scripted_tool_call_is_run_and_answered() {
    let app = TestApp::start().await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();
    // Turn 1 (booking question), then turn 2 asks for a message: the script makes the
    // model call takeMessage before answering.
    call.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("turn 1");
    talk_silence_until(
        &mut call,
        &feed,
        Duration::from_secs(20),
        is_transcript("assistant"),
    )
    .await
    .expect("first reply");
    call.stream_mulaw(&caller_mulaw("caller-message"))
        .await
        .expect("turn 2");
    let tool = talk_silence_until(&mut call, &feed, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::ToolCall { .. })
    })
    .await;
    let Some(CallEvent::ToolCall { name, error, .. }) = tool else {
        panic!("no tool call; events: {:?}", feed.events());
    };
    assert_eq!(name, "takeMessage");
    assert_eq!(error, None);
    let spoken = talk_silence_until(&mut call, &feed, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::Transcript { role, text, .. } if role == "assistant" && text.contains("taken your message"))
    })
    .await;
    assert!(
        spoken.is_some(),
        "no reply after the tool; events: {:?}",
        feed.events()
    );
    call.stop().await.expect("stop");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    let tools = record["tool_invocations"].as_array().expect("tool rows");
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(tools[0]["name"], "takeMessage");
    assert!(tools[0]["result"]
        .as_str()
        .unwrap_or("")
        .contains("\"saved\":true"));
    // The model got the output and was asked to continue.
    let events = app.model_client_events();
    let output_at = events
        .iter()
        .position(|e| {
            e["type"] == "conversation.item.create" && e["item"]["type"] == "function_call_output"
        })
        .expect("function_call_output sent");
    assert!(events[output_at..]
        .iter()
        .any(|e| e["type"] == "response.create"));
    for event in &events {
        support::schema::assert_client_event(event);
    }
    app.stop().await;
}

#[actix_rt::test]
async fn call_cli_streams_a_wav_and_writes_what_the_caller_heard() {
    let app = TestApp::start().await;
    let out = app.dir.path().join("reply.wav");
    let args = switchboard::cli::call::CallArgs {
        wav: support::asset("assets/audio/caller-booking.wav"),
        url: app.media_url(),
        to: support::DIALLED.into(),
        from: support::CALLER.into(),
        tenant: None,
        out: out.clone(),
        listen_secs: 6,
        admin_token: Some(support::ADMIN.into()),
    };
    // `--admin-token` is given: the token file is not read.
    let token_file = app.dir.path().join("no-admin-token");
    switchboard::cli::call::run(args, &token_file)
        .await
        .expect("call CLI");
    let heard = switchboard::audio::wav::read_wav(&out).expect("reply wav");
    assert_eq!(heard.sample_rate, 8000);
    assert!(
        heard.duration_ms() > 2000,
        "heard only {} ms",
        heard.duration_ms()
    );
    let level = switchboard::audio::level::rms_dbfs(&heard.samples);
    assert!(level > -35.0, "reply is near silence: {level} dBFS");
    let (status, calls) = app.get_json("/api/calls").await;
    assert_eq!(status, 200);
    assert_eq!(calls[0]["ended_reason"], "caller_hangup", "{calls}");
    app.stop().await;
}

#[actix_rt::test]
async fn xai_tenant_gets_the_xai_session_shape_and_no_truncate() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.tenants[0].provider = Some(switchboard::model::provider::Provider::Xai);
        c.tenants[0].voice = Some("eve".into());
    })
    .await;
    let (mut call, feed) = app.dial().await;
    call.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("audio");
    talk_silence_until(
        &mut call,
        &feed,
        Duration::from_secs(20),
        is_transcript("assistant"),
    )
    .await
    .expect("answered by the xAI-shaped session");
    call.stop().await.expect("stop");
    let events = app.model_client_events();
    let update = events
        .iter()
        .find(|e| e["type"] == "session.update")
        .expect("session.update");
    // xAI: voice and turn_detection at the top of the session, no GA `type`.
    assert_eq!(update["session"]["voice"], "eve", "{update}");
    assert!(update["session"]["turn_detection"].is_object(), "{update}");
    assert!(update["session"].get("type").is_none(), "{update}");
    assert!(events
        .iter()
        .all(|e| e["type"] != "conversation.item.truncate"));
    app.stop().await;
}

#[actix_rt::test]
async fn receptionist_greets_the_caller_first() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.calls.greet_caller = true).await;
    let (mut call, feed) = app.dial().await;
    let greeting = talk_silence_until(
        &mut call,
        &feed,
        Duration::from_secs(15),
        is_transcript("assistant"),
    )
    .await;
    assert!(
        matches!(&greeting, Some(CallEvent::Transcript { text, .. }) if text.contains("Thanks for calling Acme Dental")),
        "greeting: {greeting:?}"
    );
    assert!(
        !feed.events().iter().any(|e| is_transcript("user")(e)),
        "the caller had not spoken yet"
    );
    call.stop().await.expect("stop");
    app.stop().await;
}
