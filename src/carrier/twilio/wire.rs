//! Twilio Media Streams wire format, both directions, as pure functions and serde
//! types (no I/O). [`InboundEvent`] is what Twilio sends us (`connected`, `start`,
//! `media`, `dtmf`, `mark`, `stop`) and borrows its strings — above all the base64
//! `media.payload` — from the frame text; [`media_json`], [`mark_json`] and
//! [`clear_json`] write what we send Twilio into a reusable buffer without building a
//! JSON tree. The mirror image ([`OutboundEvent`], [`parse_outbound`] and the
//! `*_json` builders for Twilio's frames) serves our Twilio-imitating client and
//! tests. Facts: Twilio docs "Media Streams - WebSocket
//! Messages", restated in docs/twilio.md §Media Streams: numeric-looking fields (`sequenceNumber`,
//! `chunk`, `timestamp`) are JSON strings; `sampleRate`/`channels` are numbers.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a Media Streams text frame could not be turned into an event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// Not JSON, or JSON that is not an object (`detail` is the parser's message).
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A JSON object without a string `event` field.
    #[error("frame has no string `event` field")]
    MissingEvent,
    /// A JSON object whose `event` names no event of this direction.
    #[error("unknown event `{0}`")]
    UnknownEvent(String),
    /// A known event with missing or mistyped fields.
    #[error("invalid `{event}` event: {detail}")]
    InvalidEvent {
        /// The frame's `event` value.
        event: String,
        /// What was wrong (serde's message, with the field name).
        detail: String,
    },
}

/// Deserializes an unsigned integer sent as a JSON string (`"42"`, Twilio's habit)
/// or, tolerantly, as a JSON number.
fn de_u64_str<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct U64Visitor;
    impl Visitor<'_> for U64Visitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an unsigned integer, as a string or a number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("negative number {v}")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim()
                .parse()
                .map_err(|_| E::custom(format!("`{v}` is not an unsigned integer")))
        }
    }
    d.deserialize_any(U64Visitor)
}

/// `u32` variant of [`de_u64_str`] (sample rate, channels).
fn de_u32_num<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = de_u64_str(d)?;
    u32::try_from(v).map_err(|_| de::Error::custom(format!("{v} is out of range")))
}

/// One message Twilio sends on a Media Stream (carrier → app), tagged by `event`.
///
/// `sequence_number` counts every message after `connected` from 1 (on `start`),
/// across all kinds; the wire carries it as a string. Unknown fields are ignored and
/// `streamSid` is not format-checked (a 2020 capture shows a UUID, not `MZ…`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum InboundEvent<'a> {
    /// First frame of the socket; carries no sequence number.
    Connected {
        /// Always `"Call"` so far; empty when absent.
        #[serde(borrow, default)]
        protocol: Cow<'a, str>,
        /// `"1.0.0"` today, `"0.2.0"` in 2019 captures; any string is accepted.
        #[serde(borrow, default)]
        version: Cow<'a, str>,
    },
    /// Stream metadata, once, right after `connected`.
    Start {
        /// Message counter (`"1"` on start).
        #[serde(rename = "sequenceNumber", deserialize_with = "de_u64_str")]
        sequence_number: u64,
        /// The stream id (`MZ…` usually).
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// Call and format details.
        #[serde(borrow)]
        start: StartMeta<'a>,
    },
    /// 20 ms of caller audio (160 µ-law bytes, 216 base64 chars).
    Media {
        /// Message counter.
        #[serde(rename = "sequenceNumber", deserialize_with = "de_u64_str")]
        sequence_number: u64,
        /// The stream id.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// Track, chunk counter, timestamp and payload.
        #[serde(borrow)]
        media: MediaChunk<'a>,
    },
    /// The caller pressed a key (bidirectional streams only).
    Dtmf {
        /// Message counter.
        #[serde(rename = "sequenceNumber", deserialize_with = "de_u64_str")]
        sequence_number: u64,
        /// The stream id.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// Track and digit.
        #[serde(borrow)]
        dtmf: Dtmf<'a>,
    },
    /// Echo of one of our marks: the audio queued before it has played, or was cleared.
    Mark {
        /// Message counter.
        #[serde(rename = "sequenceNumber", deserialize_with = "de_u64_str")]
        sequence_number: u64,
        /// The stream id.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// The name we gave the mark.
        #[serde(borrow)]
        mark: MarkName<'a>,
    },
    /// The stream ended (hang-up, redirect, stream stopped).
    Stop {
        /// Message counter.
        #[serde(rename = "sequenceNumber", deserialize_with = "de_u64_str")]
        sequence_number: u64,
        /// The stream id.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// Account and call ids.
        #[serde(borrow)]
        stop: StopMeta<'a>,
    },
}

impl InboundEvent<'_> {
    /// The wire name of the event (`"media"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            InboundEvent::Connected { .. } => "connected",
            InboundEvent::Start { .. } => "start",
            InboundEvent::Media { .. } => "media",
            InboundEvent::Dtmf { .. } => "dtmf",
            InboundEvent::Mark { .. } => "mark",
            InboundEvent::Stop { .. } => "stop",
        }
    }

    /// The message's sequence number; `None` for `connected`.
    pub fn sequence_number(&self) -> Option<u64> {
        match self {
            InboundEvent::Connected { .. } => None,
            InboundEvent::Start {
                sequence_number, ..
            }
            | InboundEvent::Media {
                sequence_number, ..
            }
            | InboundEvent::Dtmf {
                sequence_number, ..
            }
            | InboundEvent::Mark {
                sequence_number, ..
            }
            | InboundEvent::Stop {
                sequence_number, ..
            } => Some(*sequence_number),
        }
    }

    /// The top-level `streamSid`; `None` for `connected`.
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            InboundEvent::Connected { .. } => None,
            InboundEvent::Start { stream_sid, .. }
            | InboundEvent::Media { stream_sid, .. }
            | InboundEvent::Dtmf { stream_sid, .. }
            | InboundEvent::Mark { stream_sid, .. }
            | InboundEvent::Stop { stream_sid, .. } => Some(stream_sid),
        }
    }
}

/// The `start` object: who the call is and what the audio is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StartMeta<'a> {
    /// `AC…` account id.
    #[serde(rename = "accountSid", borrow)]
    pub account_sid: Cow<'a, str>,
    /// Same value as the top-level `streamSid`; empty when absent.
    #[serde(rename = "streamSid", borrow, default)]
    pub stream_sid: Cow<'a, str>,
    /// `CA…` call id.
    #[serde(rename = "callSid", borrow)]
    pub call_sid: Cow<'a, str>,
    /// `"inbound"` and/or `"outbound"` (`<Connect><Stream>` sends `["inbound"]`).
    #[serde(default)]
    pub tracks: Vec<String>,
    /// From the TwiML `<Parameter name value>` children of `<Stream>`; `{}` when none.
    #[serde(rename = "customParameters", default)]
    pub custom_parameters: BTreeMap<String, String>,
    /// Audio format (always µ-law 8000 Hz mono in practice).
    #[serde(rename = "mediaFormat", borrow)]
    pub media_format: MediaFormat<'a>,
}

/// `start.mediaFormat`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaFormat<'a> {
    /// `"audio/x-mulaw"`.
    #[serde(borrow)]
    pub encoding: Cow<'a, str>,
    /// Hz; a JSON number on the wire (`8000`).
    #[serde(rename = "sampleRate", deserialize_with = "de_u32_num")]
    pub sample_rate: u32,
    /// Channel count; a JSON number on the wire (`1`).
    #[serde(deserialize_with = "de_u32_num")]
    pub channels: u32,
}

/// `media` object of an inbound `media` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaChunk<'a> {
    /// `"inbound"` or `"outbound"` (note: not `"inbound_track"`).
    #[serde(borrow)]
    pub track: Cow<'a, str>,
    /// Per-track media counter from 1 (a string on the wire).
    #[serde(deserialize_with = "de_u64_str")]
    pub chunk: u64,
    /// Milliseconds since the stream started (a string on the wire; not 0 at first).
    #[serde(deserialize_with = "de_u64_str")]
    pub timestamp: u64,
    /// Base64 of raw µ-law 8 kHz bytes, borrowed from the frame when it has no escapes.
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

/// `dtmf` object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dtmf<'a> {
    /// Always `"inbound_track"` (spelt unlike `media.track`).
    #[serde(borrow)]
    pub track: Cow<'a, str>,
    /// `0`–`9`, `*` or `#`.
    pub digit: char,
}

/// `mark` object, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkName<'a> {
    /// The mark's name, chosen by us when we sent it.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
}

/// `stop` object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StopMeta<'a> {
    /// `AC…` account id.
    #[serde(rename = "accountSid", borrow)]
    pub account_sid: Cow<'a, str>,
    /// `CA…` call id.
    #[serde(rename = "callSid", borrow)]
    pub call_sid: Cow<'a, str>,
}

/// One message we send Twilio on a bidirectional stream (app → carrier), as parsed
/// by the Twilio side (our client and tests).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum OutboundEvent<'a> {
    /// Audio to queue for play-out (any length).
    Media {
        /// The stream id from `start`.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// The payload.
        #[serde(borrow)]
        media: OutboundMedia<'a>,
    },
    /// Ask for an echo once the audio queued before it has played.
    Mark {
        /// The stream id from `start`.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
        /// The mark's name.
        #[serde(borrow)]
        mark: MarkName<'a>,
    },
    /// Drop all queued audio now; pending marks are echoed at once.
    Clear {
        /// The stream id from `start`.
        #[serde(rename = "streamSid", borrow)]
        stream_sid: Cow<'a, str>,
    },
}

/// `media` object of an outbound `media` event: only the payload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OutboundMedia<'a> {
    /// Base64 of raw µ-law 8 kHz bytes.
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

const INBOUND_EVENTS: [&str; 6] = ["connected", "start", "media", "dtmf", "mark", "stop"];
const OUTBOUND_EVENTS: [&str; 3] = ["media", "mark", "clear"];

/// Just the tag, to classify a frame that failed to parse.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
}

/// Turns a failed typed parse into a [`WireError`]; only runs on the error path.
fn classify(text: &str, err: serde_json::Error, known: &[&str]) -> WireError {
    match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => WireError::Malformed(e.to_string()),
        Ok(serde_json::Value::Object(_)) => match serde_json::from_str::<Probe>(text) {
            Ok(Probe { event: Some(event) }) if known.contains(&event.as_ref()) => {
                WireError::InvalidEvent {
                    event: event.into_owned(),
                    detail: err.to_string(),
                }
            }
            Ok(Probe { event: Some(event) }) => WireError::UnknownEvent(event.into_owned()),
            _ => WireError::MissingEvent,
        },
        Ok(_) => WireError::Malformed("frame is not a JSON object".to_owned()),
    }
}

/// Parses one text frame Twilio sent us.
///
/// Errors: [`WireError::Malformed`] (not a JSON object), [`WireError::MissingEvent`],
/// [`WireError::UnknownEvent`] (callers should log and ignore these: Twilio may add
/// events), [`WireError::InvalidEvent`] (a known event with wrong or missing fields).
pub fn parse_inbound(text: &str) -> Result<InboundEvent<'_>, WireError> {
    serde_json::from_str(text).map_err(|e| classify(text, e, &INBOUND_EVENTS))
}

/// Parses one text frame we sent Twilio (`media`, `mark`, `clear`); errors as
/// [`parse_inbound`].
pub fn parse_outbound(text: &str) -> Result<OutboundEvent<'_>, WireError> {
    serde_json::from_str(text).map_err(|e| classify(text, e, &OUTBOUND_EVENTS))
}

/// Appends `s` as a JSON string literal (quotes included), escaping `"`, `\` and
/// control characters; unescaped runs are copied in one go.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            // Other control characters: \u00XX. Writing to a String cannot fail.
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes an outbound `media` message into `out` (cleared first):
/// `{"event":"media","streamSid":S,"media":{"payload":B64}}`. `payload_b64` is
/// base64 of raw µ-law 8 kHz bytes, any length (Twilio buffers it).
pub fn media_json(stream_sid: &str, payload_b64: &str, out: &mut String) {
    out.clear();
    out.reserve(64 + stream_sid.len() + payload_b64.len());
    out.push_str(r#"{"event":"media","streamSid":"#);
    push_json_str(out, stream_sid);
    out.push_str(r#","media":{"payload":"#);
    push_json_str(out, payload_b64);
    out.push_str("}}");
}

/// Writes an outbound `mark` message into `out` (cleared first):
/// `{"event":"mark","streamSid":S,"mark":{"name":N}}`.
pub fn mark_json(stream_sid: &str, name: &str, out: &mut String) {
    out.clear();
    out.reserve(56 + stream_sid.len() + name.len());
    out.push_str(r#"{"event":"mark","streamSid":"#);
    push_json_str(out, stream_sid);
    out.push_str(r#","mark":{"name":"#);
    push_json_str(out, name);
    out.push_str("}}");
}

/// Writes an outbound `clear` message into `out` (cleared first):
/// `{"event":"clear","streamSid":S}` and nothing else.
pub fn clear_json(stream_sid: &str, out: &mut String) {
    out.clear();
    out.reserve(32 + stream_sid.len());
    out.push_str(r#"{"event":"clear","streamSid":"#);
    push_json_str(out, stream_sid);
    out.push('}');
}

/// Twilio's first frame: `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
pub fn connected_json() -> String {
    r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.to_owned()
}

/// Opening of every sequenced Twilio frame: `{"event":E,"sequenceNumber":"N","streamSid":S`.
fn sequenced_head(out: &mut String, event: &str, seq: u64, stream_sid: &str) {
    out.push_str(r#"{"event":""#);
    out.push_str(event);
    let _ = write!(out, r#"","sequenceNumber":"{seq}","streamSid":"#);
    push_json_str(out, stream_sid);
}

/// Twilio's `start` frame for a `<Connect><Stream>` call: `tracks` `["inbound"]`,
/// `mediaFormat` `audio/x-mulaw`, 8000 Hz, 1 channel; `custom_parameters` become
/// `start.customParameters` (name → value, in the given order).
pub fn start_json(
    seq: u64,
    stream_sid: &str,
    account_sid: &str,
    call_sid: &str,
    custom_parameters: &[(String, String)],
) -> String {
    let mut out = String::with_capacity(320);
    sequenced_head(&mut out, "start", seq, stream_sid);
    out.push_str(r#","start":{"accountSid":"#);
    push_json_str(&mut out, account_sid);
    out.push_str(r#","streamSid":"#);
    push_json_str(&mut out, stream_sid);
    out.push_str(r#","callSid":"#);
    push_json_str(&mut out, call_sid);
    out.push_str(r#","tracks":["inbound"],"customParameters":{"#);
    for (i, (name, value)) in custom_parameters.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(&mut out, name);
        out.push(':');
        push_json_str(&mut out, value);
    }
    out.push_str(
        r#"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#,
    );
    out
}

/// Twilio's inbound `media` frame: track `inbound`, `chunk` (from 1 per track),
/// `timestamp_ms` (ms since stream start), `payload_b64` (base64 µ-law, 216 chars
/// for a 20 ms frame). Numbers are written as strings, as Twilio does.
pub fn media_frame_json(
    seq: u64,
    stream_sid: &str,
    chunk: u64,
    timestamp_ms: u64,
    payload_b64: &str,
) -> String {
    let mut out = String::with_capacity(128 + stream_sid.len() + payload_b64.len());
    sequenced_head(&mut out, "media", seq, stream_sid);
    let _ = write!(
        out,
        r#","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{timestamp_ms}","payload":"#
    );
    push_json_str(&mut out, payload_b64);
    out.push_str("}}");
    out
}

/// Twilio's echo of our mark `name` (`mark` event).
pub fn mark_echo_json(seq: u64, stream_sid: &str, name: &str) -> String {
    let mut out = String::with_capacity(96 + stream_sid.len() + name.len());
    sequenced_head(&mut out, "mark", seq, stream_sid);
    out.push_str(r#","mark":{"name":"#);
    push_json_str(&mut out, name);
    out.push_str("}}");
    out
}

/// Twilio's `dtmf` frame for a key press: track `inbound_track`, `digit` one char.
pub fn dtmf_json(seq: u64, stream_sid: &str, digit: char) -> String {
    let mut out = String::with_capacity(112 + stream_sid.len());
    sequenced_head(&mut out, "dtmf", seq, stream_sid);
    out.push_str(r#","dtmf":{"track":"inbound_track","digit":"#);
    let mut buf = [0u8; 4];
    push_json_str(&mut out, digit.encode_utf8(&mut buf));
    out.push_str("}}");
    out
}

/// Twilio's `stop` frame (call hung up or stream stopped).
pub fn stop_json(seq: u64, stream_sid: &str, account_sid: &str, call_sid: &str) -> String {
    let mut out = String::with_capacity(160);
    sequenced_head(&mut out, "stop", seq, stream_sid);
    out.push_str(r#","stop":{"accountSid":"#);
    push_json_str(&mut out, account_sid);
    out.push_str(r#","callSid":"#);
    push_json_str(&mut out, call_sid);
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;

    const SID: &str = "MZ00000000000000000000000000000001";

    /// 160 bytes of a µ-law ramp: a real 20 ms frame's size.
    fn frame_b64() -> String {
        let frame: Vec<u8> = (0..160u32).map(|i| (i * 37 % 256) as u8).collect();
        B64.encode(frame)
    }

    #[test]
    fn illustrative_sequence_from_reference_parses() {
        let payload = frame_b64();
        let frames = [
            r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.to_owned(),
            r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ00000000000000000000000000000001",
 "start":{"accountSid":"AC00000000000000000000000000000001","streamSid":"MZ00000000000000000000000000000001",
  "callSid":"CA00000000000000000000000000000001","tracks":["inbound"],
  "customParameters":{"tenant":"acme","lang":"en"},
  "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#
                .to_owned(),
            format!(
                r#"{{"event":"media","sequenceNumber":"2","streamSid":"MZ00000000000000000000000000000001",
 "media":{{"track":"inbound","chunk":"1","timestamp":"60","payload":"{payload}"}}}}"#
            ),
            r#"{"event":"dtmf","sequenceNumber":"40","streamSid":"MZ00000000000000000000000000000001",
 "dtmf":{"track":"inbound_track","digit":"7"}}"#
                .to_owned(),
            r#"{"event":"mark","sequenceNumber":"103","streamSid":"MZ00000000000000000000000000000001",
 "mark":{"name":"reply-1"}}"#
                .to_owned(),
            r#"{"event":"stop","sequenceNumber":"352","streamSid":"MZ00000000000000000000000000000001",
 "stop":{"accountSid":"AC00000000000000000000000000000001","callSid":"CA00000000000000000000000000000001"}}"#
                .to_owned(),
        ];
        let events: Vec<InboundEvent> = frames
            .iter()
            .map(|f| parse_inbound(f).expect("frame parses"))
            .collect();
        let names: Vec<_> = events.iter().map(InboundEvent::name).collect();
        assert_eq!(
            names,
            ["connected", "start", "media", "dtmf", "mark", "stop"]
        );
        let seqs: Vec<_> = events.iter().map(InboundEvent::sequence_number).collect();
        assert_eq!(
            seqs,
            [None, Some(1), Some(2), Some(40), Some(103), Some(352)]
        );
        match &events[1] {
            InboundEvent::Start { start, .. } => {
                assert_eq!(start.call_sid, "CA00000000000000000000000000000001");
                assert_eq!(start.tracks, ["inbound"]);
                assert_eq!(start.custom_parameters["tenant"], "acme");
                assert_eq!(start.media_format.sample_rate, 8000);
                assert_eq!(start.media_format.channels, 1);
            }
            other => panic!("expected start, got {other:?}"),
        }
        match &events[2] {
            InboundEvent::Media { media, .. } => {
                assert_eq!((media.chunk, media.timestamp), (1, 60));
                assert_eq!(media.payload.len(), 216);
                assert_eq!(B64.decode(media.payload.as_bytes()).unwrap().len(), 160);
                assert!(
                    matches!(media.payload, Cow::Borrowed(_)),
                    "payload is zero-copy"
                );
            }
            other => panic!("expected media, got {other:?}"),
        }
        match &events[3] {
            InboundEvent::Dtmf { dtmf, .. } => {
                assert_eq!(dtmf.track, "inbound_track");
                assert_eq!(dtmf.digit, '7');
            }
            other => panic!("expected dtmf, got {other:?}"),
        }
        match &events[5] {
            InboundEvent::Stop { stop, .. } => {
                assert_eq!(stop.account_sid, "AC00000000000000000000000000000001")
            }
            other => panic!("expected stop, got {other:?}"),
        }
    }

    #[test]
    fn tolerates_old_versions_extra_fields_and_uuid_stream_sids() {
        let connected =
            r#"{"event":"connected","protocol":"Call","version":"0.2.0","extra":{"x":1}}"#;
        assert_eq!(
            parse_inbound(connected).unwrap(),
            InboundEvent::Connected {
                protocol: "Call".into(),
                version: "0.2.0".into()
            }
        );
        let bare = parse_inbound(r#"{"event":"connected"}"#).unwrap();
        assert_eq!(bare.sequence_number(), None);
        let uuid = "8d1b7a3e-2f4c-4e55-9b1a-0c9f1d2e3a4b";
        let mark = format!(
            r#"{{"event":"mark","sequenceNumber":"5","streamSid":"{uuid}","mark":{{"name":"a"}},"newField":true}}"#
        );
        assert_eq!(parse_inbound(&mark).unwrap().stream_sid(), Some(uuid));
    }

    #[test]
    fn numbers_are_strings_on_the_wire_but_numbers_are_tolerated() {
        let as_numbers = format!(
            r#"{{"event":"media","sequenceNumber":7,"streamSid":"{SID}","media":{{"track":"inbound","chunk":6,"timestamp":140,"payload":""}}}}"#
        );
        let ev = parse_inbound(&as_numbers).unwrap();
        assert_eq!(ev.sequence_number(), Some(7));
        let bad = format!(
            r#"{{"event":"media","sequenceNumber":"seven","streamSid":"{SID}","media":{{"track":"inbound","chunk":"6","timestamp":"140","payload":""}}}}"#
        );
        match parse_inbound(&bad) {
            Err(WireError::InvalidEvent { event, detail }) => {
                assert_eq!(event, "media");
                assert!(detail.contains("seven"), "{detail}");
            }
            other => panic!("expected InvalidEvent, got {other:?}"),
        }
    }

    #[test]
    fn errors_distinguish_malformed_unknown_and_invalid() {
        assert!(matches!(
            parse_inbound("{not json"),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            parse_inbound("[1,2]"),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(parse_inbound(r#"{"foo":1}"#), Err(WireError::MissingEvent));
        assert_eq!(
            parse_inbound(r#"{"event":"transcription","sequenceNumber":"3"}"#),
            Err(WireError::UnknownEvent("transcription".into()))
        );
        // `clear` is ours to send, not Twilio's.
        assert_eq!(
            parse_inbound(r#"{"event":"clear","streamSid":"MZ1"}"#),
            Err(WireError::UnknownEvent("clear".into()))
        );
        assert!(matches!(
            parse_inbound(r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1"}"#),
            Err(WireError::InvalidEvent { ref event, .. }) if event == "media"
        ));
        assert!(matches!(
            parse_inbound(r#"{"event":"dtmf","sequenceNumber":"3","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"12"}}"#),
            Err(WireError::InvalidEvent { ref event, .. }) if event == "dtmf"
        ));
    }

    #[test]
    fn outbound_writers_produce_exact_json_and_reuse_the_buffer() {
        let mut out = String::new();
        media_json(SID, "AAEC", &mut out);
        assert_eq!(
            out,
            r#"{"event":"media","streamSid":"MZ00000000000000000000000000000001","media":{"payload":"AAEC"}}"#
        );
        let cap = out.capacity();
        clear_json(SID, &mut out);
        assert_eq!(
            out,
            r#"{"event":"clear","streamSid":"MZ00000000000000000000000000000001"}"#
        );
        assert_eq!(out.capacity(), cap, "clear_json reused the buffer");
        mark_json(SID, "reply-1", &mut out);
        assert_eq!(
            parse_outbound(&out).unwrap(),
            OutboundEvent::Mark {
                stream_sid: SID.into(),
                mark: MarkName {
                    name: "reply-1".into()
                }
            }
        );
    }

    #[test]
    fn outbound_strings_are_json_escaped() {
        let name = "quote\" back\\ nl\n tab\t bell\u{7} é";
        let sid = "MZ\"x";
        let mut out = String::new();
        mark_json(sid, name, &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["mark"]["name"], name);
        assert_eq!(v["streamSid"], sid);
        clear_json(sid, &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 2, "clear has no other fields");
        match parse_outbound(&out).unwrap() {
            OutboundEvent::Clear { stream_sid } => assert_eq!(stream_sid, sid),
            other => panic!("expected clear, got {other:?}"),
        }
    }

    #[test]
    fn outbound_media_of_any_length_round_trips() {
        let second: Vec<u8> = vec![0xFF; 8000];
        let payload = B64.encode(&second);
        assert_eq!(payload.len(), 10_668);
        let mut out = String::new();
        media_json(SID, &payload, &mut out);
        match parse_outbound(&out).unwrap() {
            OutboundEvent::Media { media, stream_sid } => {
                assert_eq!(stream_sid, SID);
                assert_eq!(B64.decode(media.payload.as_bytes()).unwrap(), second);
            }
            other => panic!("expected media, got {other:?}"),
        }
        assert_eq!(
            parse_outbound(r#"{"event":"stop"}"#),
            Err(WireError::UnknownEvent("stop".into()))
        );
    }

    #[test]
    fn twilio_side_builders_parse_back() {
        let params = vec![
            ("tenant".to_owned(), "acme".to_owned()),
            ("token".to_owned(), "a\"b".to_owned()),
        ];
        let ac = "AC00000000000000000000000000000001";
        let ca = "CA00000000000000000000000000000001";
        let start = start_json(1, SID, ac, ca, &params);
        match parse_inbound(&start).unwrap() {
            InboundEvent::Start {
                sequence_number,
                start,
                ..
            } => {
                assert_eq!(sequence_number, 1);
                assert_eq!(start.stream_sid, SID);
                assert_eq!(start.custom_parameters["token"], "a\"b");
                assert_eq!(start.media_format.encoding, "audio/x-mulaw");
            }
            other => panic!("expected start, got {other:?}"),
        }
        let payload = frame_b64();
        let media = media_frame_json(2, SID, 1, 20, &payload);
        let raw: serde_json::Value = serde_json::from_str(&media).unwrap();
        assert_eq!(
            raw["sequenceNumber"], "2",
            "numbers are strings on the wire"
        );
        assert_eq!(raw["media"]["chunk"], "1");
        assert_eq!(raw["media"]["timestamp"], "20");
        match parse_inbound(&media).unwrap() {
            InboundEvent::Media { media, .. } => assert_eq!(media.payload, payload),
            other => panic!("expected media, got {other:?}"),
        }
        let dtmf = dtmf_json(3, SID, '#');
        let raw: serde_json::Value = serde_json::from_str(&dtmf).unwrap();
        assert_eq!(raw["dtmf"]["track"], "inbound_track");
        assert_eq!(parse_inbound(&dtmf).unwrap().sequence_number(), Some(3));
        let mark = mark_echo_json(4, SID, "reply-1");
        assert!(matches!(
            parse_inbound(&mark).unwrap(),
            InboundEvent::Mark { mark, .. } if mark.name == "reply-1"
        ));
        let stop = stop_json(5, SID, ac, ca);
        assert!(matches!(
            parse_inbound(&stop).unwrap(),
            InboundEvent::Stop { stop, .. } if stop.call_sid == ca
        ));
        assert!(matches!(
            parse_inbound(&connected_json()).unwrap(),
            InboundEvent::Connected { version, .. } if version == "1.0.0"
        ));
    }
}
