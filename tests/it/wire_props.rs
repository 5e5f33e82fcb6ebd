//! Property tests for every wire parser: Twilio Media Streams
//! inbound and outbound frames, OpenAI Realtime server and client events,
//! Twilio request signatures, jambonz messages, Node client messages and
//! SendGrid Inbound Parse fields. Arbitrary input never panics a parser; valid
//! messages survive a write → parse round trip unchanged.

use base64::Engine;
use proptest::prelude::*;
use switchboard::carrier::jambonz::wire as jambonz;
use switchboard::carrier::twilio::{signature, wire};
use switchboard::messaging::{protocol, sendgrid};
use switchboard::model::realtime::{
    parse_client_event, parse_server_event, server_event_json, ClientEvent, ServerEvent,
};

/// Ids as carriers and models write them, plus characters JSON must escape.
fn id_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_\\-\"\\\\/ é]{0,40}"
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn twilio_parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = wire::parse_inbound(&text);
        let _ = wire::parse_outbound(&text);
    }

    #[test]
    fn twilio_parsers_never_panic_on_mangled_frames(
        seq in any::<u64>(), sid in id_text(), payload in proptest::collection::vec(any::<u8>(), 0..400),
        cut in any::<usize>(), junk in "[\\[\\]{}\":,a-z0-9]{0,8}",
    ) {
        let frame = wire::media_frame_json(seq, &sid, 1, 20, &b64(&payload));
        let at = cut % (frame.len() + 1);
        let mut mangled: String = frame.chars().take(at).collect();
        mangled.push_str(&junk);
        let _ = wire::parse_inbound(&mangled);
        let typed = frame.replace("\"chunk\":\"1\"", "\"chunk\":[1]");
        prop_assert!(wire::parse_inbound(&typed).is_err());
    }

    #[test]
    fn twilio_inbound_media_round_trips(
        seq in any::<u64>(), sid in id_text(), chunk in any::<u64>(), ts in any::<u64>(),
        audio in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let payload = b64(&audio);
        let frame = wire::media_frame_json(seq, &sid, chunk, ts, &payload);
        match wire::parse_inbound(&frame) {
            Ok(wire::InboundEvent::Media { sequence_number, stream_sid, media }) => {
                prop_assert_eq!(sequence_number, seq);
                prop_assert_eq!(stream_sid.as_ref(), sid.as_str());
                prop_assert_eq!((media.chunk, media.timestamp), (chunk, ts));
                prop_assert_eq!(media.payload.as_ref(), payload.as_str());
            }
            other => prop_assert!(false, "{frame} parsed as {other:?}"),
        }
    }

    #[test]
    fn twilio_inbound_mark_and_stop_round_trip(seq in any::<u64>(), sid in id_text(), name in id_text()) {
        let frame = wire::mark_echo_json(seq, &sid, &name);
        match wire::parse_inbound(&frame) {
            Ok(wire::InboundEvent::Mark { sequence_number, stream_sid, mark }) => {
                prop_assert_eq!(sequence_number, seq);
                prop_assert_eq!(stream_sid.as_ref(), sid.as_str());
                prop_assert_eq!(mark.name.as_ref(), name.as_str());
            }
            other => prop_assert!(false, "{frame} parsed as {other:?}"),
        }
        let stop = wire::stop_json(seq, &sid, "AC1", "CA1");
        let parsed = wire::parse_inbound(&stop);
        prop_assert!(matches!(parsed, Ok(wire::InboundEvent::Stop { .. })), "{:?}", parsed);
    }

    #[test]
    fn twilio_outbound_frames_round_trip(sid in id_text(), name in id_text(), audio in proptest::collection::vec(any::<u8>(), 0..400)) {
        let payload = b64(&audio);
        let mut out = String::new();
        wire::media_json(&sid, &payload, &mut out);
        match wire::parse_outbound(&out) {
            Ok(wire::OutboundEvent::Media { stream_sid, media }) => {
                prop_assert_eq!(stream_sid.as_ref(), sid.as_str());
                prop_assert_eq!(media.payload.as_ref(), payload.as_str());
            }
            other => prop_assert!(false, "{out} parsed as {other:?}"),
        }
        out.clear();
        wire::mark_json(&sid, &name, &mut out);
        let mark = wire::parse_outbound(&out);
        prop_assert!(matches!(&mark, Ok(wire::OutboundEvent::Mark { mark, .. }) if mark.name == name), "{:?}", mark);
        out.clear();
        wire::clear_json(&sid, &mut out);
        let clear = wire::parse_outbound(&out);
        prop_assert!(matches!(&clear, Ok(wire::OutboundEvent::Clear { stream_sid }) if *stream_sid == sid), "{:?}", clear);
    }

    #[test]
    fn realtime_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), kind in "[a-z_.]{0,40}") {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_server_event(&text);
        let _ = parse_client_event(&text);
        let typed = format!(r#"{{"type":"{kind}","delta":{},"item_id":7}}"#, text.len());
        let _ = parse_server_event(&typed);
        let _ = parse_client_event(&typed);
    }

    #[test]
    fn realtime_audio_delta_round_trips(
        response_id in id_text(), item_id in id_text(), output_index in any::<u32>(),
        content_index in any::<u32>(), audio in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let delta = b64(&audio);
        let event = ServerEvent::OutputAudioDelta {
            response_id: Some(response_id.as_str().into()),
            item_id: Some(item_id.as_str().into()),
            output_index,
            content_index,
            delta: delta.as_str().into(),
        };
        let json = server_event_json("evt_1", &event).expect("encode");
        let parsed = parse_server_event(&json).expect("parse");
        prop_assert_eq!(parsed, event);
    }

    #[test]
    fn realtime_client_events_round_trip(item_id in id_text(), ms in any::<u32>(), call_id in id_text(), output in id_text()) {
        for event in [
            ClientEvent::truncate(item_id.clone(), ms),
            ClientEvent::function_call_output(call_id.clone(), output.clone()),
            ClientEvent::response_create(),
            ClientEvent::response_cancel(),
        ] {
            let json = event.to_json().expect("encode");
            prop_assert_eq!(parse_client_event(&json).expect("parse"), event);
        }
    }

    #[test]
    fn twilio_signature_accepts_only_the_signed_request(
        token in "[a-f0-9]{32}", path in "[a-z/]{0,20}", value in id_text(), other in id_text(), junk in ".{0,60}",
    ) {
        let url = format!("https://voice.example.com/{path}");
        let params = vec![("CallSid".to_owned(), "CA1".to_owned()), ("From".to_owned(), value.clone())];
        let sig = signature::compute(&token, &url, &params);
        prop_assert!(signature::validate(&token, &url, &params, &sig));
        prop_assert!(!signature::validate(&token, &url, &params, &junk) || junk == sig);
        if other != value {
            let forged = vec![("CallSid".to_owned(), "CA1".to_owned()), ("From".to_owned(), other)];
            prop_assert!(!signature::validate(&token, &url, &forged, &sig));
        }
        let _ = signature::validate_json_body(&token, &junk, junk.as_bytes(), &junk);
    }
}

/// Printable text with characters JSON and mail headers care about.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 _.,:;!?'\"\\\\/<>@é\n-]{0,60}"
}

/// A JSON value of any kind, for wrongly typed fields.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(|v| serde_json::json!(v)),
        text().prop_map(|t| serde_json::json!({ "k": t })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn jambonz_parser_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        kind in "(session:new|session:reconnect|verb:hook|dial:confirm|call:status|llm:event|llm:tool-call|jambonz:error|[a-z:]{0,12})",
        msgid in any_json(),
        data in any_json(),
    ) {
        let _ = jambonz::parse_inbound(&String::from_utf8_lossy(&bytes));
        let typed = serde_json::json!({"type": kind, "msgid": msgid, "data": data});
        let _ = jambonz::parse_inbound(&typed.to_string());
        let untyped = serde_json::json!({"type": kind, "msgid": "m1", "call_sid": data, "data": {"call_sid": msgid}});
        let _ = jambonz::parse_inbound(&untyped.to_string());
    }

    #[test]
    fn jambonz_messages_round_trip(
        msgid in id_text(),
        call_sid in id_text(),
        from in id_text(),
        to in id_text(),
        tool_call_id in "[A-Za-z0-9_]{1,20}",
        name in "[a-zA-Z_]{1,20}",
        arg in text(),
    ) {
        let new = serde_json::json!({
            "type": "session:new", "msgid": msgid, "call_sid": call_sid,
            "data": {"from": from, "to": to, "direction": "inbound", "sip": {"x": 1}},
        });
        match jambonz::parse_inbound(&new.to_string()) {
            Ok(jambonz::Inbound::SessionNew { msgid: m, info }) => {
                prop_assert_eq!(m, msgid.clone());
                prop_assert_eq!(info.call_sid, call_sid.clone());
                prop_assert_eq!(info.from, Some(from.clone()));
                prop_assert_eq!(info.to, Some(to.clone()));
            }
            other => prop_assert!(false, "{other:?}"),
        }
        let call = serde_json::json!({
            "type": "llm:tool-call", "call_sid": call_sid,
            "data": {"tool_call_id": tool_call_id, "name": name, "args": {"q": arg}},
        });
        prop_assert_eq!(
            jambonz::parse_inbound(&call.to_string()).ok(),
            Some(jambonz::Inbound::LlmToolCall {
                tool_call_id: tool_call_id.clone(),
                name: name.clone(),
                args: serde_json::json!({"q": arg}),
            })
        );
        let hook = serde_json::json!({"type": "verb:hook"});
        prop_assert!(jambonz::parse_inbound(&hook.to_string()).is_err(), "verb:hook without msgid");
    }

    #[test]
    fn node_client_parser_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        kind in "(auth|sms_received|email_received|ping|delivered|[a-z_]{0,12})",
        id in any_json(),
        field in any_json(),
    ) {
        let _ = protocol::parse(&String::from_utf8_lossy(&bytes));
        let typed = serde_json::json!({"type": kind, "id": id, "from": field, "to": field, "message": field, "token": field});
        if let Err(e) = protocol::parse(&typed.to_string()) {
            // The error names the frame's id whenever it was a non-empty string.
            if let Some(s) = id.as_str().filter(|s| !s.is_empty()) {
                prop_assert_eq!(e.id.map(|i| i.0), Some(s.to_owned()));
            }
        }
    }

    #[test]
    fn node_client_messages_round_trip(
        id in "[A-Za-z0-9_-]{1,30}",
        from in "\\+[0-9]{8,14}",
        to in "\\+[0-9]{8,14}",
        message in text(),
        user in proptest::option::of(id_text()),
    ) {
        let frame = serde_json::json!({
            "type": "sms_received", "id": id, "from": from, "to": to,
            "message": message, "user": user,
        });
        prop_assert_eq!(
            protocol::parse(&frame.to_string()),
            Ok(protocol::ClientMessage::SmsReceived {
                id: Some(protocol::RequestId(id.clone())),
                from: from.clone(),
                to: to.clone(),
                message: message.clone(),
                user: user.clone(),
                tenant: None,
            })
        );
        let unknown_field = serde_json::json!({"type": "ping", "id": id, "extra": 1});
        let err = protocol::parse(&unknown_field.to_string()).expect_err("unknown field");
        prop_assert_eq!(err.code, protocol::ErrorCode::InvalidMessage);
        prop_assert_eq!(err.id, Some(protocol::RequestId(id.clone())));
    }

    #[test]
    fn sendgrid_fields_never_panic(
        fields in proptest::collection::vec(
            ("(from|to|subject|text|html|headers|envelope|attachments|[a-z]{1,8})", text()),
            0..10,
        ),
    ) {
        let fields: Vec<(String, String)> = fields;
        if let Ok(email) = sendgrid::parse_fields(&fields) {
            prop_assert!(email.from.contains('@'));
        }
        for (_, value) in &fields {
            let _ = sendgrid::parse_mailbox(value);
        }
    }

    #[test]
    fn sendgrid_email_round_trips(
        name in "[A-Za-z][A-Za-z ]{0,20}[A-Za-z]",
        local in "[a-z0-9.]{1,12}",
        domain in "[a-z]{1,10}\\.example",
        subject in "[A-Za-z0-9 ?!]{0,40}",
        body in "[A-Za-z0-9 .,]{1,80}",
        mid in "[a-z0-9]{4,20}@[a-z]{1,10}\\.example",
    ) {
        let fields: Vec<(String, String)> = [
            ("from", format!("{name} <{local}@{domain}>")),
            ("to", "Front Desk <desk@clinic.example>".to_owned()),
            ("subject", subject.clone()),
            ("text", body.clone()),
            ("headers", format!("Subject: {subject}\nMessage-ID: <{mid}>\n")),
            ("attachments", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let email = sendgrid::parse_fields(&fields).expect("valid post");
        prop_assert_eq!(email.from, format!("{local}@{domain}"));
        prop_assert_eq!(email.from_name.as_deref(), Some(name.trim()));
        prop_assert_eq!(email.to, "desk@clinic.example");
        prop_assert_eq!(email.subject, subject.trim());
        prop_assert_eq!(email.text, body.trim());
        prop_assert_eq!(email.message_id, Some(format!("<{mid}>")));
    }
}
