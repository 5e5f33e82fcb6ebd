//! Scripted tool calls: write a simulator script whose caller turns make the model
//! call given tools, and drive one short caller turn per scripted call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::events::CallEvent;
use switchboard::far_end::{LogFeed, TwilioCall};

use super::{caller_mulaw, talk_silence_until};

/// Writes a script to `dir/script.toml`: one turn per `(tool, arguments)`, each
/// answered with the short fallback clip saying `"Done: <tool>."`.
pub fn write_script(dir: &Path, calls: &[(&str, Value)]) -> PathBuf {
    let turns: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            json!({
                "user_transcript": format!("Caller turn {} asking for {name}.", i + 1),
                "function_call": {"name": name, "arguments": arguments},
                "reply": {"clip": "fallback.wav", "text": format!("Done: {name}.")},
            })
        })
        .collect();
    let script = json!({
        "turns": turns,
        "fallback": {"clip": "fallback.wav", "text": "Sorry, could you say that again?"},
    });
    let path = dir.join("script.toml");
    std::fs::write(&path, toml::to_string(&script).expect("script toml")).expect("write script");
    path
}

/// About two seconds of the shipped caller recording: enough speech for the
/// simulator's energy VAD to detect one caller turn.
pub fn short_turn() -> Vec<u8> {
    let audio = caller_mulaw("caller-booking");
    audio[..audio.len().min(8 * 2000)].to_vec()
}

/// Speaks one short turn and waits for the scripted tool call and the spoken
/// answer after it; returns the tool call event.
pub async fn turn_with_tool(call: &mut TwilioCall, feed: &LogFeed, tool: &str) -> CallEvent {
    let before = feed
        .events()
        .iter()
        .filter(|e| matches!(e, CallEvent::ToolCall { .. }))
        .count();
    call.stream_mulaw(&short_turn()).await.expect("caller turn");
    let done = format!("Done: {tool}.");
    let answered = talk_silence_until(call, feed, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::Transcript { role, text, .. } if role == "assistant" && *text == done)
    })
    .await;
    assert!(
        answered.is_some(),
        "no answer after {tool}; events: {:?}",
        feed.events()
    );
    feed.events()
        .into_iter()
        .filter(|e| matches!(e, CallEvent::ToolCall { .. }))
        .nth(before)
        .unwrap_or_else(|| panic!("no {tool} call; events: {:?}", feed.events()))
}
