//! Every client event switchboard can produce is checked against OpenAI's
//! published Realtime GA schema in strict mode (no undeclared properties), and
//! recorded-style GA server frames parse into the right `ServerEvent`
//! variants.

use std::borrow::Cow;

use crate::support::schema::{assert_client_event, client_event_errors};
use serde_json::{json, Value};
use switchboard::model::provider::Provider;
use switchboard::model::realtime::{
    append_audio_json, parse_server_event, AudioFormatSpec, ClientEvent, ContentPart, ErrorPayload,
    Item, ResponseParams, ResponseStatus, Role, ServerEvent,
};
use switchboard::model::session::{
    history_items, session_update, FunctionTool, HistoryItem, SessionSpec, TurnDetection,
};

fn openai_spec(format: AudioFormatSpec) -> SessionSpec {
    SessionSpec {
        provider: Provider::OpenAi,
        model: Some("gpt-realtime-2.1".into()),
        instructions: "You answer the phone for Acme Dental. Keep replies short.".into(),
        voice: "marin".into(),
        tools: vec![FunctionTool {
            name: "takeMessage".into(),
            description: "Record a message for a staff member.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "callerName": {"type": "string"},
                    "callerPhone": {"type": "string"},
                    "message": {"type": "string"},
                    "urgency": {"type": "string", "enum": ["low", "normal", "high"]}
                },
                "required": ["callerName", "message"]
            }),
        }],
        audio_format: format,
        keyterms: vec!["Acme Dental".into()],
        transcription_model: Some("gpt-live-transcribe".into()),
        turn_detection: TurnDetection {
            threshold: 0.6,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            eagerness: None,
        },
    }
}

fn to_value(ev: &ClientEvent) -> Value {
    serde_json::to_value(ev).expect("client event serializes")
}

#[test]
fn openai_session_update_validates_strictly() {
    for format in [
        AudioFormatSpec::PCMU,
        AudioFormatSpec::PCMA,
        AudioFormatSpec::PCM24K,
    ] {
        assert_client_event(&to_value(&session_update(&openai_spec(format))));
    }
    let mut no_tools = openai_spec(AudioFormatSpec::PCMU);
    no_tools.tools.clear();
    no_tools.transcription_model = None;
    no_tools.model = None;
    assert_client_event(&to_value(&session_update(&no_tools)));
}

#[test]
fn audio_and_buffer_events_validate_strictly() {
    let mut buf = String::new();
    append_audio_json("//7+/w==", &mut buf);
    let appended: Value = serde_json::from_str(&buf).expect("append JSON parses");
    assert_client_event(&appended);
    assert_client_event(&to_value(&ClientEvent::InputAudioBufferAppend {
        event_id: Some("cli_1".into()),
        audio: "AAAA".into(),
    }));
    assert_client_event(&to_value(&ClientEvent::InputAudioBufferCommit {
        event_id: None,
    }));
    assert_client_event(&to_value(&ClientEvent::InputAudioBufferClear {
        event_id: None,
    }));
}

#[test]
fn history_replay_and_tool_output_validate_strictly() {
    let history = history_items(&[
        HistoryItem::Message {
            role: Role::System,
            text: "The caller was transferred from the main line.".into(),
        },
        HistoryItem::Message {
            role: Role::User,
            text: "Hi, I need to move my cleaning.".into(),
        },
        HistoryItem::FunctionCall {
            call_id: "call_1".into(),
            name: "checkAvailability".into(),
            arguments: r#"{"service":"cleaning"}"#.into(),
        },
        HistoryItem::FunctionOutput {
            call_id: "call_1".into(),
            output: r#"{"slots":["Tue 09:00"]}"#.into(),
        },
        HistoryItem::Message {
            role: Role::Assistant,
            text: "Sure, which day works better?".into(),
        },
    ]);
    assert_eq!(history.len(), 5);
    for ev in &history {
        assert_client_event(&to_value(ev));
    }
    assert_client_event(&to_value(&ClientEvent::ConversationItemCreate {
        event_id: Some("cli_tool_1".into()),
        previous_item_id: Some("item_F1".into()),
        item: Item::FunctionCallOutput {
            id: None,
            call_id: "call_7Hq2".into(),
            output: r#"{"ok":true,"messageId":42}"#.into(),
        },
    }));
}

#[test]
fn truncate_and_response_control_validate_strictly() {
    assert_client_event(&to_value(&ClientEvent::ConversationItemTruncate {
        event_id: None,
        item_id: "item_A1".into(),
        content_index: 0,
        audio_end_ms: 2340,
    }));
    assert_client_event(&to_value(&ClientEvent::ResponseCreate {
        event_id: None,
        response: None,
    }));
    assert_client_event(&to_value(&ClientEvent::ResponseCreate {
        event_id: Some("cli_9".into()),
        response: Some(ResponseParams {
            instructions: Some("Apologise briefly; the line dropped.".into()),
            conversation: Some("auto".into()),
            ..ResponseParams::default()
        }),
    }));
    assert_client_event(&to_value(&ClientEvent::ResponseCancel {
        event_id: None,
        response_id: Some("resp_B2".into()),
    }));
    assert_client_event(&to_value(&ClientEvent::ResponseCancel {
        event_id: None,
        response_id: None,
    }));
    assert_client_event(&to_value(&ClientEvent::ConversationItemDelete {
        event_id: None,
        item_id: "item_A1".into(),
    }));
}

#[test]
fn beta_era_session_update_fails_strict_check() {
    let with_beta_format = json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "Hi",
            "input_audio_format": "g711_ulaw",
            "output_audio_format": "g711_ulaw"
        }
    });
    let errors = client_event_errors(&with_beta_format);
    assert!(
        errors.iter().any(|e| e.contains("input_audio_format")),
        "beta field not reported: {errors:?}"
    );
    let with_modalities = json!({
        "type": "session.update",
        "session": {"type": "realtime", "modalities": ["text", "audio"], "voice": "alloy"}
    });
    assert!(!client_event_errors(&with_modalities).is_empty());
    let xai_shape = to_value(&session_update(&SessionSpec {
        provider: Provider::Xai,
        ..openai_spec(AudioFormatSpec::PCMU)
    }));
    assert!(
        !client_event_errors(&xai_shape).is_empty(),
        "the xAI session (no type) must not pass as OpenAI GA"
    );
}

// Frames written after docs/openai-realtime.md §Server events, §Typical sequences and
// §Function calling (GA names, real-server nulls).
const SERVER_TURN: &[&str] = &[
    r#"{"type":"session.created","event_id":"event_C1","session":{"type":"realtime","object":"realtime.session","id":"sess_C1","model":"gpt-realtime","output_modalities":["audio"],"instructions":"","tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"truncation":"auto","prompt":null,"expires_at":1767225600,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":200,"idle_timeout_ms":null,"create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}},"include":null}}"#,
    r#"{"type":"input_audio_buffer.speech_started","event_id":"event_C2","audio_start_ms":1180,"item_id":"item_U1"}"#,
    r#"{"type":"input_audio_buffer.speech_stopped","event_id":"event_C3","audio_end_ms":4620,"item_id":"item_U1"}"#,
    r#"{"type":"input_audio_buffer.committed","event_id":"event_C4","previous_item_id":null,"item_id":"item_U1"}"#,
    r#"{"type":"conversation.item.added","event_id":"event_C5","previous_item_id":null,"item":{"id":"item_U1","object":"realtime.item","type":"message","status":"completed","role":"user","content":[{"type":"input_audio","transcript":null}]}}"#,
    r#"{"type":"response.created","event_id":"event_C6","response":{"object":"realtime.response","id":"resp_R1","status":"in_progress","status_details":null,"output":[],"conversation_id":"conv_1","output_modalities":["audio"],"max_output_tokens":"inf","audio":{"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}},"usage":null,"metadata":null}}"#,
    r#"{"type":"rate_limits.updated","event_id":"event_C7","rate_limits":[{"name":"requests","limit":5000,"remaining":4999,"reset_seconds":0.012},{"name":"tokens","limit":40000,"remaining":38000,"reset_seconds":3.1}]}"#,
    r#"{"type":"response.output_item.added","event_id":"event_C8","response_id":"resp_R1","output_index":0,"item":{"id":"item_A1","object":"realtime.item","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
    r#"{"type":"conversation.item.added","event_id":"event_C9","previous_item_id":"item_U1","item":{"id":"item_A1","object":"realtime.item","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
    r#"{"type":"response.content_part.added","event_id":"event_C10","response_id":"resp_R1","item_id":"item_A1","output_index":0,"content_index":0,"part":{"type":"audio","transcript":""}}"#,
    r#"{"type":"response.output_audio.delta","event_id":"event_C11","response_id":"resp_R1","item_id":"item_A1","output_index":0,"content_index":0,"delta":"/////39/f39/fn5+"}"#,
    r#"{"type":"response.output_audio_transcript.delta","event_id":"event_C12","response_id":"resp_R1","item_id":"item_A1","output_index":0,"content_index":0,"delta":"Happy "}"#,
    r#"{"type":"conversation.item.input_audio_transcription.completed","event_id":"event_C13","item_id":"item_U1","content_index":0,"transcript":"Hi, this is Dana Smith.","usage":{"type":"tokens","input_tokens":31,"output_tokens":7,"total_tokens":38,"input_token_details":{"text_tokens":0,"audio_tokens":31}},"logprobs":null}"#,
    r#"{"type":"response.output_audio.done","event_id":"event_C14","response_id":"resp_R1","item_id":"item_A1","output_index":0,"content_index":0}"#,
    r#"{"type":"response.output_audio_transcript.done","event_id":"event_C15","response_id":"resp_R1","item_id":"item_A1","output_index":0,"content_index":0,"transcript":"Happy to help with that."}"#,
    r#"{"type":"response.content_part.done","event_id":"event_C16","response_id":"resp_R1","item_id":"item_A1","output_index":0,"content_index":0,"part":{"type":"output_audio","transcript":"Happy to help with that."}}"#,
    r#"{"type":"response.output_item.done","event_id":"event_C17","response_id":"resp_R1","output_index":0,"item":{"id":"item_A1","object":"realtime.item","type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"Happy to help with that."}]}}"#,
    r#"{"type":"conversation.item.done","event_id":"event_C18","previous_item_id":"item_U1","item":{"id":"item_A1","object":"realtime.item","type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"Happy to help with that."}]}}"#,
    r#"{"type":"response.done","event_id":"event_C19","response":{"object":"realtime.response","id":"resp_R1","status":"completed","status_details":null,"output":[{"id":"item_A1","object":"realtime.item","type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"Happy to help with that."}]}],"conversation_id":"conv_1","output_modalities":["audio"],"max_output_tokens":"inf","usage":{"total_tokens":410,"input_tokens":300,"output_tokens":110,"input_token_details":{"text_tokens":220,"audio_tokens":80,"image_tokens":0,"cached_tokens":128,"cached_tokens_details":{"text_tokens":128,"audio_tokens":0,"image_tokens":0}},"output_token_details":{"text_tokens":25,"audio_tokens":85}},"metadata":null}}"#,
];

#[test]
fn recorded_ga_turn_parses_into_variants() {
    let events: Vec<ServerEvent<'_>> = SERVER_TURN
        .iter()
        .map(|f| parse_server_event(f).unwrap_or_else(|e| panic!("{e}: {f}")))
        .collect();
    assert!(matches!(events[0], ServerEvent::SessionCreated { .. }));
    assert!(matches!(
        events[1],
        ServerEvent::SpeechStarted { audio_start_ms: Some(1180), ref item_id } if item_id.as_deref() == Some("item_U1")
    ));
    assert!(matches!(
        events[2],
        ServerEvent::SpeechStopped {
            audio_end_ms: Some(4620),
            ..
        }
    ));
    assert!(matches!(
        events[3],
        ServerEvent::InputAudioBufferCommitted {
            previous_item_id: None,
            ..
        }
    ));
    match &events[4] {
        ServerEvent::ConversationItemAdded {
            item: Item::Message { role, content, .. },
            ..
        } => {
            assert_eq!(*role, Role::User);
            assert_eq!(
                content[0],
                ContentPart::InputAudio {
                    audio: None,
                    transcript: None
                }
            );
        }
        other => panic!("expected user item, got {other:?}"),
    }
    match &events[5] {
        ServerEvent::ResponseCreated { response } => {
            assert_eq!(response.status, ResponseStatus::InProgress);
            assert!(response.status_details.is_none() && response.usage.is_none());
        }
        other => panic!("expected response.created, got {other:?}"),
    }
    assert!(
        matches!(&events[6], ServerEvent::RateLimitsUpdated { rate_limits } if rate_limits.len() == 2)
    );
    match &events[10] {
        ServerEvent::OutputAudioDelta { delta, item_id, .. } => {
            assert!(matches!(delta, Cow::Borrowed("/////39/f39/fn5+")));
            assert_eq!(item_id.as_deref(), Some("item_A1"));
        }
        other => panic!("expected audio delta, got {other:?}"),
    }
    assert!(matches!(
        &events[12],
        ServerEvent::InputTranscriptionCompleted { transcript, .. } if transcript == "Hi, this is Dana Smith."
    ));
    assert!(matches!(
        &events[14],
        ServerEvent::OutputAudioTranscriptDone { transcript, .. } if transcript.as_deref() == Some("Happy to help with that.")
    ));
    match &events[15] {
        ServerEvent::ContentPartDone { part, .. } => assert_eq!(part.kind, "output_audio"),
        other => panic!("expected content_part.done, got {other:?}"),
    }
    match &events[18] {
        ServerEvent::ResponseDone { response } => {
            assert_eq!(response.status, ResponseStatus::Completed);
            assert!(matches!(
                &response.output[0],
                Item::Message { content, .. }
                    if content[0] == ContentPart::OutputAudio { audio: None, transcript: Some("Happy to help with that.".into()) }
            ));
        }
        other => panic!("expected response.done, got {other:?}"),
    }
}

#[test]
fn recorded_function_call_and_barge_in_parse() {
    let args_done = r#"{"type":"response.function_call_arguments.done","event_id":"ev_12","response_id":"resp_B3","item_id":"item_F1","output_index":0,"call_id":"call_7Hq2","name":"lookup_appointment","arguments":"{\"phone\":\"+15551234567\"}"}"#;
    match parse_server_event(args_done).expect("parses") {
        ServerEvent::FunctionCallArgumentsDone {
            call_id,
            name,
            arguments,
            ..
        } => {
            assert_eq!(call_id.as_deref(), Some("call_7Hq2"));
            assert_eq!(name.as_deref(), Some("lookup_appointment"));
            let args: Value = serde_json::from_str(arguments.as_deref().unwrap_or_default())
                .expect("arguments are JSON");
            assert_eq!(args["phone"], "+15551234567");
        }
        other => panic!("wrong variant {other:?}"),
    }
    let item_added = r#"{"type":"response.output_item.added","event_id":"ev_10","response_id":"resp_B3","output_index":0,"item":{"id":"item_F1","object":"realtime.item","type":"function_call","status":"in_progress","call_id":"call_7Hq2","name":"lookup_appointment","arguments":""}}"#;
    assert!(matches!(
        parse_server_event(item_added).expect("parses"),
        ServerEvent::OutputItemAdded {
            item: Item::FunctionCall { .. },
            ..
        }
    ));
    let cancelled = r#"{"type":"response.done","event_id":"ev_14","response":{"object":"realtime.response","id":"resp_B2","status":"cancelled","status_details":{"type":"cancelled","reason":"turn_detected"},"output":[],"usage":null,"metadata":null}}"#;
    match parse_server_event(cancelled).expect("parses") {
        ServerEvent::ResponseDone { response } => {
            assert_eq!(response.status, ResponseStatus::Cancelled);
            assert_eq!(
                response.status_details.and_then(|d| d.reason).as_deref(),
                Some("turn_detected")
            );
        }
        other => panic!("wrong variant {other:?}"),
    }
    let error = r#"{"type":"error","event_id":"ev_15","error":{"type":"invalid_request_error","code":"conversation_already_has_active_response","message":"Conversation already has an active response in progress.","param":null,"event_id":"cli_009"}}"#;
    match parse_server_event(error).expect("parses") {
        ServerEvent::Error {
            error: Some(ErrorPayload::Detail(error)),
            ..
        } => {
            assert_eq!(
                error.code.as_deref(),
                Some("conversation_already_has_active_response")
            );
            assert_eq!(error.event_id.as_deref(), Some("cli_009"));
        }
        other => panic!("wrong variant {other:?}"),
    }
}

#[test]
fn xai_dialect_and_unknown_events_parse() {
    let text = r#"{"type":"response.text.delta","event_id":"x1","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"Hel"}"#;
    assert!(matches!(
        parse_server_event(text).expect("parses"),
        ServerEvent::OutputTextDelta { delta, .. } if delta == "Hel"
    ));
    let ping = r#"{"type":"ping","timestamp":1767225600123}"#;
    assert!(matches!(
        parse_server_event(ping).expect("parses"),
        ServerEvent::Ping { .. }
    ));
    let deleted = r#"{"type":"conversation.item.deleted","event_id":"x2","item_id":""}"#;
    assert!(matches!(
        parse_server_event(deleted).expect("parses"),
        ServerEvent::ConversationItemDeleted { .. }
    ));
    for unknown in [
        r#"{"type":"output_audio_buffer.started","event_id":"e","response_id":"r"}"#,
        r#"{"type":"response.mcp_call.in_progress","event_id":"e","item_id":"i","output_index":0}"#,
        r#"{"type":"something.brand_new","event_id":"e","payload":{"a":[1,2,3]}}"#,
    ] {
        assert_eq!(
            parse_server_event(unknown).expect("unknown types parse"),
            ServerEvent::Unknown
        );
    }
    assert!(parse_server_event("{not json").is_err());
}
