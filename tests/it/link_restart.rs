//! Model link supervision: a dropped model socket is restarted while the caller
//! stays on the line, with the session and the conversation so far replayed; a
//! failure past the restart budget asks the caller for a voicemail, and the
//! call ends `voicemail: <cause>`.

use std::time::{Duration, Instant};

use switchboard::events::CallEvent;

use crate::support::{caller_mulaw, is_transcript, mulaw_dbfs, talk_silence_until, TestApp};

#[actix_rt::test]
async fn model_link_restarts_and_replays_history_then_takes_a_voicemail_past_budget() {
    let app =
        TestApp::start_with(crate::support::Db::Sqlite, |c| c.model.restart_attempts = 1).await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();

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

    // Kill the model socket mid-call: the link restarts, the caller stays on.
    app.sim().kill_sessions();
    talk_silence_until(&mut call, &feed, Duration::from_secs(10), |e| {
        matches!(e, CallEvent::LinkRestart { .. })
    })
    .await
    .expect("link restart announced");
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.sim().connections_total() < 2 && Instant::now() < deadline {
        call.send_silence(100).await.expect("silence");
    }
    assert_eq!(app.sim().connections_total(), 2);
    assert!(!call.is_closed(), "caller was dropped by a link restart");
    call.send_silence(500).await.expect("silence");
    let sessions = app.sim().recorded_sessions();
    let second = sessions.last().expect("second session");
    assert_eq!(
        second[0]["type"], "session.update",
        "new link must configure the session first"
    );
    let replayed: Vec<String> = second
        .iter()
        .filter(|e| e["type"] == "conversation.item.create")
        .filter_map(|e| e["item"]["content"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert!(
        replayed.iter().any(|t| t.contains("teeth cleaning"))
            && replayed.iter().any(|t| t.contains("Tuesday morning")),
        "history not replayed: {replayed:?}"
    );

    // The conversation continues on the new link.
    call.stream_mulaw(&caller_mulaw("caller-message"))
        .await
        .expect("turn 2");
    talk_silence_until(&mut call, &feed, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::Transcript { role, text, .. } if role == "assistant" && text.contains("taken your message"))
    })
    .await
    .expect("reply on the restarted link");

    // Now the model stays unreachable: one restart is allowed and fails, so the
    // caller is not hung up on but asked to leave a voicemail after the tone.
    let before = call.received_audio().len();
    app.sim().set_refuse_connections(true);
    app.sim().kill_sessions();
    let deadline = Instant::now() + Duration::from_secs(20);
    while call.received_audio().len() < before + 6000 * 8 && Instant::now() < deadline {
        call.send_silence(100)
            .await
            .expect("the caller stays on the line");
    }
    let prompt = &call.received_audio()[before..];
    assert!(
        prompt.len() >= 6000 * 8,
        "voicemail prompt too short: {} ms",
        prompt.len() / 8
    );
    assert!(mulaw_dbfs(prompt) > -35.0, "the prompt is silent");
    assert!(!call.is_closed(), "hung up instead of taking a voicemail");
    // The caller hangs up without leaving a message.
    call.stop().await.expect("stop");

    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    let row = &record["call"];
    assert!(
        row["ended_reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("voicemail: "),
        "{row}"
    );
    assert!(row["link_restarts"].as_i64().unwrap_or(0) >= 1, "{row}");
    app.stop().await;
}

#[actix_rt::test]
async fn long_call_rolls_over_to_a_fresh_session_before_the_cap() {
    let app =
        TestApp::start_with(crate::support::Db::Sqlite, |c| c.model.session_max_secs = 3).await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.sim().connections_total() < 2 && Instant::now() < deadline {
        call.send_silence(100).await.expect("silence");
    }
    assert!(app.sim().connections_total() >= 2, "no roll-over happened");
    // The conversation continues in the new session where it left off.
    call.stream_mulaw(&caller_mulaw("caller-message"))
        .await
        .expect("turn 2");
    talk_silence_until(&mut call, &feed, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::Transcript { role, text, .. } if role == "assistant" && text.contains("taken your message"))
    })
    .await
    .expect("reply after roll-over");
    assert!(
        !feed
            .events()
            .iter()
            .any(|e| matches!(e, CallEvent::LinkRestart { .. })),
        "a planned roll-over is not a link failure"
    );
    call.stop().await.expect("stop");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(record["call"]["link_restarts"], 0);
    app.stop().await;
}
