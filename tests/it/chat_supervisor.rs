//! The chat supervisor (`getNextResponseFromSupervisor`) against a local
//! OpenAI-compatible chat-completions stand-in that follows the wire format
//! (docs/openai-chat.md): it first asks for a tool, then answers; a variant keeps
//! asking for tools until the iteration limit stops the loop.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::chat::{ChatError, ChatMessage};
use switchboard::lifecycle::Carrier;
use switchboard::store::tool_invocations;
use switchboard::tenant::TenantConfig;
use switchboard::tools::chat_loop::run_tool_loop;
use switchboard::tools::ToolContext;

use crate::support::scripted::{turn_with_tool, write_script};
use crate::support::stub::{HttpStub, Recorded};
use crate::support::{Db, TestApp, CALLER};

const ANSWER: &str = "Dana, you have no appointments on file yet; shall I book a cleaning?";

fn completion(message: Value, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]
    })
}

fn lookup_call(id: &str) -> Value {
    completion(
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": id, "type": "function",
            "function": {"name": "lookupCustomer", "arguments": format!("{{\"phone\":\"{CALLER}\"}}")}
        }]}),
        "tool_calls",
    )
}

/// The call-summary request sent when a call ends (no tools, its own system prompt).
fn is_summary_request(req: &Recorded) -> bool {
    req.json()["messages"][0]["content"]
        .as_str()
        .is_some_and(|c| c.starts_with("You summarise phone calls"))
}

fn looks_authorized(req: &Recorded) -> bool {
    req.path == "/v1/chat/completions" && req.authorization.as_deref() == Some("Bearer test-key")
}

#[actix_rt::test]
async fn supervisor_runs_its_tool_loop_and_the_voice_model_gets_its_sentence() {
    let chat = HttpStub::start(|req, n| {
        if !looks_authorized(req) {
            return (401, json!({"error": {"message": "bad key"}}));
        }
        if n == 0 {
            (200, lookup_call("call_1"))
        } else {
            (
                200,
                completion(json!({"role": "assistant", "content": ANSWER}), "stop"),
            )
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        &[(
            "getNextResponseFromSupervisor",
            json!({"relevantContextFromLastUserMessage": "Caller asks whether she has appointments"}),
        )],
    );
    let base = format!("{}/v1", chat.base);
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.simulator.script = script;
        c.text_model.base_url = base;
        c.text_model.api_key = Some("test-key".into());
    })
    .await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();
    turn_with_tool(&mut call, &feed, "getNextResponseFromSupervisor").await;
    call.stop().await.unwrap();
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;

    // The voice model was handed the supervisor's sentence.
    let output = app
        .model_client_events()
        .into_iter()
        .find(|e| e["item"]["type"] == "function_call_output")
        .expect("function_call_output");
    let said: Value = serde_json::from_str(output["item"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(said, json!({"say": ANSWER}));

    // The wire: tools nested under `function`, the call's conversation, then the
    // assistant tool_calls and the tool output appended.
    // (The call's summary request, sent once the call has ended, is checked below.)
    let requests: Vec<Recorded> = chat
        .requests()
        .into_iter()
        .filter(|r| !is_summary_request(r))
        .collect();
    assert_eq!(requests.len(), 2);
    let first = requests[0].json();
    assert_eq!(first["model"], "gpt-4.1-mini");
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["type"], "function");
            t["function"]["name"].as_str().unwrap()
        })
        .collect();
    assert!(offered.contains(&"lookupCustomer") && offered.contains(&"createBooking"));
    for withheld in [
        "getNextResponseFromSupervisor",
        "hangUp",
        "transferToOnCall",
    ] {
        assert!(!offered.contains(&withheld), "{withheld} offered");
    }
    let first_messages = first["messages"].as_array().unwrap();
    assert_eq!(first_messages[0]["role"], "system");
    assert!(first_messages.iter().any(|m| m["role"] == "user"
        && m["content"] == "Caller turn 1 asking for getNextResponseFromSupervisor."));
    let second = requests[1].json();
    let tail: Vec<Value> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .cloned()
        .collect();
    assert_eq!(tail[1]["role"], "assistant");
    assert_eq!(tail[1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(tail[0]["role"], "tool");
    assert_eq!(tail[0]["tool_call_id"], "call_1");
    assert_eq!(
        serde_json::from_str::<Value>(tail[0]["content"].as_str().unwrap()).unwrap(),
        json!({"found": false})
    );

    // Both the supervisor's own tool call and the supervisor call are stored.
    let call_id = record["call"]["id"].as_str().unwrap().to_string();
    let state = app.running.as_ref().unwrap().state.clone();
    let rows = tool_invocations::for_call(&mut state.pool.get().unwrap(), &call_id).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"lookupCustomer") && names.contains(&"getNextResponseFromSupervisor"));

    // With a text model configured, the call's summary is the model's answer to
    // one tool-less request carrying the conversation.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = app.get_json(&format!("/api/calls/{call_sid}")).await;
        if body["call"]["summary"] == ANSWER {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no model summary: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let summary = chat
        .requests()
        .into_iter()
        .find(is_summary_request)
        .unwrap();
    assert!(summary.json().get("tools").is_none());
    let prompt = summary.json()["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("Caller: Caller turn 1 asking for getNextResponseFromSupervisor."),
        "{prompt}"
    );
    app.stop().await;
    chat.stop().await;
}

#[actix_rt::test]
async fn a_model_that_keeps_calling_tools_stops_at_the_iteration_limit() {
    let chat = HttpStub::start(|_, n| (200, lookup_call(&format!("call_{n}")))).await;
    let base = format!("{}/v1", chat.base);
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.text_model.base_url = base;
        c.text_model.api_key = Some("test-key".into());
        c.text_model.max_iterations = 3;
    })
    .await;
    let tools = app.running.as_ref().unwrap().state.tools.clone();
    let ctx = ToolContext {
        call_id: None,
        call_sid: None,
        tenant: Arc::new(TenantConfig::example()),
        caller: Some(CALLER.into()),
        carrier: None,
        conversation: Vec::new(),
    };
    let result = run_tool_loop(
        tools.clone(),
        ctx,
        vec![
            ChatMessage::System("Answer briefly.".into()),
            ChatMessage::User("Do I have an appointment?".into()),
        ],
        &["lookupCustomer"],
    )
    .await;
    assert_eq!(result, Err(ChatError::IterationLimit(3)));
    assert_eq!(chat.requests().len(), 3);
    // The third request carries both earlier rounds of tool_calls + tool outputs.
    let last = chat.requests()[2].json();
    let tool_messages = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .count();
    assert_eq!(tool_messages, 2);
    app.stop().await;
    chat.stop().await;
}

#[actix_rt::test]
async fn without_a_key_the_supervisor_says_it_is_unavailable() {
    let app = TestApp::start().await;
    let tools = app.running.as_ref().unwrap().state.tools.clone();
    let ctx = ToolContext {
        call_id: None,
        call_sid: None,
        tenant: Arc::new(TenantConfig::example()),
        caller: None,
        carrier: Some(Carrier::Twilio),
        conversation: Vec::new(),
    };
    let run = switchboard::tools::run_tool(
        tools,
        ctx,
        "call_1",
        "getNextResponseFromSupervisor",
        r#"{"relevantContextFromLastUserMessage":"hours?"}"#,
    )
    .await;
    assert!(run.is_error);
    assert!(
        run.output.contains("the supervisor is not available"),
        "{}",
        run.output
    );
    app.stop().await;
}
