//! Each provider's real wire, replayed through a whole call: the recorded
//! OpenAI GA session (tests/fixtures/realtime/openai-ga-session.replay) and xAI
//! events with only the fields xAI's own client models declare
//! (xai-minimal.replay), served by a local model server. The caller hears the
//! answers, transcripts are stored once, the tool runs and its output goes
//! back, barge-in truncates (OpenAI) or cancels (xAI), and the session that
//! follows a roll-over or a dropped link is told the whole conversation —
//! tool call and output included — with no warning logged for the call.

use std::time::Duration;

use serde_json::Value;
use switchboard::events::CallEvent;
use switchboard::model::provider::Provider;

use crate::support::replay::{Replay, ReplayModel};
use crate::support::schema::assert_client_event;
use crate::support::{logs, mulaw_dbfs, talk_silence_until, Db, TestApp};

/// How each provider answers a barge-in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BargeIn {
    /// `conversation.item.truncate` at what the caller heard.
    Truncate,
    /// `response.cancel` of the answer in progress (no truncate on this provider).
    Cancel,
}

struct Provided {
    provider: Provider,
    fixture: &'static str,
    barge_in: BargeIn,
    /// The step that ends the first model session.
    end_session: &'static str,
    first_user_line: &'static str,
    first_answer_starts: &'static str,
    tool_call_id: &'static str,
    long_item: &'static str,
}

const OPENAI: Provided = Provided {
    provider: Provider::OpenAi,
    fixture: "openai-ga-session.replay",
    barge_in: BargeIn::Truncate,
    end_session: "expire",
    first_user_line: "Hi, could you tell me a short bedtime story?",
    first_answer_starts: "Sure! I'd be happy to tell you a short bedtime story.",
    tool_call_id: "call_Ct1OkQx4b9Zs2LmN",
    long_item: "item_Ct1OkNEvGW5s0xZERnV95",
};

const XAI: Provided = Provided {
    provider: Provider::Xai,
    fixture: "xai-minimal.replay",
    barge_in: BargeIn::Cancel,
    end_session: "drop",
    first_user_line: "Hi, I'd like to book a cleaning.",
    first_answer_starts: "Thanks for calling Acme Dental, how can I help you today?",
    tool_call_id: "call_x1",
    long_item: "item_xa4",
};

const TAKEN: &str = "I have taken your message, and Doctor Lee will call you back this afternoon.";
const LONG: &str = "The highest rated dentist in town is Doctor Lee, and she has openings on Tuesday, Wednesday and Friday mornings this week and next.";
const TOOL_LINE: &str = "Please tell Doctor Lee my crown came loose, it's Dana Smith.";
const BARGE_LINE: &str = "Actually, wait.";

const WAIT: Duration = Duration::from_secs(20);

fn assistant_said(text: &'static str) -> impl Fn(&CallEvent) -> bool {
    move |e| matches!(e, CallEvent::Transcript { role, text: t, .. } if role == "assistant" && t.starts_with(text))
}

fn user_said(text: &'static str) -> impl Fn(&CallEvent) -> bool {
    move |e| matches!(e, CallEvent::Transcript { role, text: t, .. } if role == "user" && t == text)
}

fn is_type(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == kind
}

async fn replayed_session_carries_a_whole_call(p: Provided) {
    logs::install();
    let model = ReplayModel::start(Replay::load(p.fixture)).await;
    let url = model.url();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.model.url = url;
        c.model.provider = p.provider;
    })
    .await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();

    // The session is configured in the provider's own shape.
    let update = model
        .wait_event(&mut call, 0, WAIT, is_type("session.update"))
        .await;
    let session = &update["session"];
    match p.provider {
        Provider::OpenAi => {
            assert_client_event(&update);
            assert_eq!(session["audio"]["output"]["voice"], "marin");
        }
        Provider::Ultravox => unreachable!("Ultravox is reached through jambonz only"),
        Provider::Xai => {
            assert_eq!(session["voice"], "eve", "xAI's default voice: {session}");
            assert!(session.get("model").is_none() && session.get("type").is_none());
            let mut vad: Vec<&String> = session["turn_detection"]
                .as_object()
                .expect("turn_detection")
                .keys()
                .collect();
            vad.sort();
            assert_eq!(
                vad,
                [
                    "prefix_padding_ms",
                    "silence_duration_ms",
                    "threshold",
                    "type"
                ]
            );
            assert_eq!(
                session["audio"]["input"]["transcription"]["keyterms"][0],
                "Acme Dental"
            );
            assert!(
                model.connections()[0]
                    .path
                    .ends_with("?model=grok-voice-think-fast-1.0"),
                "xAI takes the model in the URL: {}",
                model.connections()[0].path
            );
        }
    }
    model.play("session_updated");

    // A turn answered with audio: the caller hears it, the lines are stored.
    let heard_before = call.received_audio().len();
    model.play("turn");
    talk_silence_until(
        &mut call,
        &feed,
        WAIT,
        assistant_said(p.first_answer_starts),
    )
    .await
    .expect("first answer transcribed");
    talk_silence_until(&mut call, &feed, WAIT, user_said(p.first_user_line))
        .await
        .expect("caller line transcribed");
    let answer = &call.received_audio()[heard_before..];
    assert!(
        answer.len() >= 8 * 4000,
        "caller heard {} ms of the answer",
        answer.len() / 8
    );
    assert!(mulaw_dbfs(answer) > -40.0, "the answer is not silence");

    // A tool call: run once, its output returned, then the spoken answer.
    model.play("tool_call");
    let output = model
        .wait_event(&mut call, 0, WAIT, |e| {
            e["type"] == "conversation.item.create" && e["item"]["type"] == "function_call_output"
        })
        .await;
    assert_eq!(output["item"]["call_id"], p.tool_call_id);
    let result: Value =
        serde_json::from_str(output["item"]["output"].as_str().expect("output text"))
            .expect("tool output is JSON");
    assert!(
        result.get("error").is_none(),
        "takeMessage failed: {result}"
    );
    model
        .wait_event(&mut call, 0, WAIT, is_type("response.create"))
        .await;
    model.play("after_tool");
    talk_silence_until(&mut call, &feed, WAIT, assistant_said(TAKEN))
        .await
        .expect("answer after the tool");

    // Barge-in over a long answer, once the caller has heard part of it.
    let before = call.received_audio().len();
    model.play("long_answer");
    let deadline = std::time::Instant::now() + WAIT;
    while call.received_audio().len() < before + 8 * 1200 {
        assert!(
            std::time::Instant::now() < deadline,
            "long answer not heard"
        );
        call.send_silence(100).await.expect("line open");
    }
    let clears = call.clears();
    model.play("barge_in");
    match p.barge_in {
        BargeIn::Truncate => {
            let truncate = model
                .wait_event(&mut call, 0, WAIT, is_type("conversation.item.truncate"))
                .await;
            assert_client_event(&truncate);
            assert_eq!(truncate["item_id"], p.long_item);
            let end = truncate["audio_end_ms"].as_u64().expect("audio_end_ms");
            assert!(
                end > 0 && end <= u64::from(model.replay.audio_ms("long_answer")),
                "truncated at {end} ms"
            );
        }
        BargeIn::Cancel => {
            model
                .wait_event(&mut call, 0, WAIT, is_type("response.cancel"))
                .await;
        }
    }
    assert!(call.clears() > clears, "carrier audio was not cleared");
    model.play("barge_in_done");
    talk_silence_until(&mut call, &feed, WAIT, user_said(BARGE_LINE))
        .await
        .expect("barge-in line transcribed");
    let cut = talk_silence_until(&mut call, &feed, WAIT, |e| {
        matches!(e, CallEvent::Transcript { role, interrupted: true, .. } if role == "assistant")
    })
    .await
    .expect("interrupted answer stored");
    let CallEvent::Transcript { text: cut, .. } = cut else {
        unreachable!()
    };
    assert!(
        !cut.is_empty() && LONG.starts_with(&cut) && cut.len() < LONG.len(),
        "stored cut {cut:?}"
    );

    if p.provider == Provider::Xai {
        // Errors in both of xAI's shapes reach the log with their codes.
        model.play("errors");
        call.send_silence(300).await.expect("line open");
    }

    // The session ends (provider cap / dropped link): a new one is told the
    // whole conversation, in order.
    model.play(p.end_session);
    let history_done = |e: &Value| {
        e["type"] == "conversation.item.create" && e["item"]["content"][0]["text"] == BARGE_LINE
    };
    model.wait_event(&mut call, 1, WAIT, history_done).await;
    let replayed: Vec<(String, String)> = model.connections()[1]
        .events
        .iter()
        .filter(|e| e["type"] == "conversation.item.create")
        .map(|e| {
            let item = &e["item"];
            let kind = item["type"].as_str().unwrap_or_default().to_string();
            let what = match kind.as_str() {
                "message" => format!(
                    "{}: {}",
                    item["role"].as_str().unwrap_or_default(),
                    item["content"][0]["text"].as_str().unwrap_or_default()
                ),
                "function_call" => format!(
                    "{} {} {}",
                    item["name"].as_str().unwrap_or_default(),
                    item["call_id"].as_str().unwrap_or_default(),
                    item["arguments"].as_str().unwrap_or_default()
                ),
                _ => item["call_id"].as_str().unwrap_or_default().to_string(),
            };
            (kind, what)
        })
        .collect();
    let expected_start = [
        ("message", format!("user: {}", p.first_user_line)),
        ("message", format!("assistant: {}", p.first_answer_starts)),
        ("message", format!("user: {TOOL_LINE}")),
    ];
    for (i, (kind, what)) in expected_start.iter().enumerate() {
        assert_eq!(replayed[i].0, *kind, "replayed: {replayed:#?}");
        assert!(
            replayed[i].1.starts_with(what.as_str()),
            "item {i}: {replayed:#?}"
        );
    }
    assert_eq!(replayed[3].0, "function_call", "replayed: {replayed:#?}");
    assert!(replayed[3]
        .1
        .starts_with(&format!("takeMessage {}", p.tool_call_id)));
    assert_eq!(
        replayed[4],
        ("function_call_output".into(), p.tool_call_id.into())
    );
    assert_eq!(replayed[5].1, format!("assistant: {TAKEN}"));
    assert_eq!(replayed[6].1, format!("assistant: {cut}"));
    assert_eq!(replayed[7].1, format!("user: {BARGE_LINE}"));
    assert_eq!(replayed.len(), 8, "replayed: {replayed:#?}");
    for event in &model.connections()[1].events {
        if p.provider == Provider::OpenAi {
            assert_client_event(event);
        }
    }
    if p.provider == Provider::OpenAi {
        assert_eq!(
            model.connections()[0].close_code,
            Some(1000),
            "the expired link closes with a close frame"
        );
    }

    // Hang up: everything stored once.
    call.stop().await.expect("hang up");
    let body = app.wait_call_ended(&call_sid, WAIT).await;
    let transcript = body["transcript"].as_array().expect("transcript");
    let users: Vec<&str> = transcript
        .iter()
        .filter(|t| t["role"] == "user")
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert_eq!(users, [p.first_user_line, TOOL_LINE, BARGE_LINE]);
    let tools = body["tool_invocations"].as_array().expect("tools");
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(tools[0]["name"], "takeMessage");
    assert_eq!(tools[0]["tool_call_id"], p.tool_call_id);

    let call_id = body["call"]["id"].as_str().expect("call id").to_string();
    let warnings = logs::warnings_mentioning(&call_id);
    let (expected, unexpected): (Vec<&String>, Vec<&String>) = warnings
        .iter()
        .partition(|w| w.contains("model error") || w.contains("model link 0 down"));
    assert!(unexpected.is_empty(), "warnings: {unexpected:#?}");
    if p.provider == Provider::Xai {
        assert!(
            expected
                .iter()
                .any(|w| w.contains("invalid_tool_output: Tool output was not valid JSON")),
            "{expected:#?}"
        );
        assert!(
            expected
                .iter()
                .any(|w| w.contains("rate_limited: Slow down a little")),
            "{expected:#?}"
        );
    }
    app.stop().await;
    model.stop().await;
}

#[actix_rt::test]
async fn openai_recorded_session_replays_through_a_call() {
    replayed_session_carries_a_whole_call(OPENAI).await;
}

#[actix_rt::test]
async fn xai_minimal_fields_replay_through_a_call() {
    replayed_session_carries_a_whole_call(XAI).await;
}
