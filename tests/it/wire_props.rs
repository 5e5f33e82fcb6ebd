//! Property tests for every wire parser (issue 7): Twilio Media Streams
//! inbound and outbound frames, OpenAI Realtime server and client events, and
//! Twilio request signatures. Arbitrary input never panics a parser; valid
//! messages survive a write → parse round trip unchanged.

use base64::Engine;
use proptest::prelude::*;
use switchboard::carrier::twilio::{signature, wire};
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
            response_id: response_id.as_str().into(),
            item_id: item_id.as_str().into(),
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
