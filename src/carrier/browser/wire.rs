//! Browser softphone wire format on `GET /browser`, pure serde. Binary frames are
//! raw PCM16 little-endian mono 24 kHz audio, both ways. Text frames are JSON:
//! the page sends [`Control`] (`mark` echoes after playing audio, `dtmf` for a
//! keypad key, `hangup`); the
//! server sends [`ServerMessage`] (`mark`, `clear`, `error`) and the call's live
//! events in the `/logs` shape (`transcript`, `tool_call`, `call_started`, `call_ended`).

use serde::{Deserialize, Serialize};

use crate::tenant::keypad::KeypadKey;

/// Largest JSON text frame accepted from the page, bytes (close 1009 past it).
pub const MAX_JSON_BYTES: usize = 10 * 1024;
/// Largest binary audio frame accepted from the page, bytes (close 1009 past it):
/// about 2 s of PCM16 24 kHz.
pub const MAX_AUDIO_BYTES: usize = 100 * 1024;

/// A control message from the page.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// The audio sent before our `mark` named `name` has played (barge-in accounting).
    Mark { name: String },
    /// The caller pressed a keypad key: `{"type":"dtmf","digit":"5"}`, one of
    /// `0`–`9`, `*`, `#` (anything else is refused with an `error` message).
    Dtmf { digit: KeypadKey },
    /// The caller hung up.
    Hangup,
}

/// A control message to the page.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// Echo `name` back once the audio sent before it has played.
    Mark { name: &'a str },
    /// Drop all audio not yet played (the caller barged in).
    Clear,
    /// A message of the page was not understood; the call goes on.
    Error { message: &'a str },
}

/// Why a text frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("control message over {MAX_JSON_BYTES} bytes")]
    TooLarge,
    #[error("invalid control message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Parses a text frame from the page.
///
/// Errors: [`WireError::TooLarge`] past [`MAX_JSON_BYTES`], [`WireError::Json`] for
/// anything but a known control message.
pub fn parse_control(text: &str) -> Result<Control, WireError> {
    if text.len() > MAX_JSON_BYTES {
        return Err(WireError::TooLarge);
    }
    Ok(serde_json::from_str(text)?)
}

/// The JSON text of a server message.
pub fn to_json(message: &ServerMessage<'_>) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_parse() {
        assert_eq!(
            parse_control(r#"{"type":"mark","name":"17"}"#).unwrap(),
            Control::Mark { name: "17".into() }
        );
        assert_eq!(
            parse_control(r#"{"type":"hangup"}"#).unwrap(),
            Control::Hangup
        );
        assert_eq!(
            parse_control(r##"{"type":"dtmf","digit":"#"}"##).unwrap(),
            Control::Dtmf {
                digit: "#".parse().unwrap()
            }
        );
        let bad = parse_control(r#"{"type":"dtmf","digit":"12"}"#).unwrap_err();
        assert!(
            bad.to_string()
                .contains("\"12\" is not a keypad key (one of 0-9, * or #)"),
            "{bad}"
        );
        assert!(parse_control(r#"{"type":"dtmf"}"#).is_err());
        assert!(parse_control(r#"{"type":"dance"}"#).is_err());
        let big = format!(
            r#"{{"type":"mark","name":"{}"}}"#,
            "x".repeat(MAX_JSON_BYTES)
        );
        assert!(matches!(parse_control(&big), Err(WireError::TooLarge)));
    }

    #[test]
    fn server_messages_serialize() {
        assert_eq!(
            to_json(&ServerMessage::Mark { name: "3" }),
            r#"{"type":"mark","name":"3"}"#
        );
        assert_eq!(to_json(&ServerMessage::Clear), r#"{"type":"clear"}"#);
    }
}
