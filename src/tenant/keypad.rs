//! The caller's keypad: which keys a call may see (DTMF digits `0`–`9`, `*`,
//! `#`; Twilio Media Streams `dtmf.digit`, jambonz `dtmf` verb events, the
//! browser softphone's `dtmf` message) and what a tenant's `[tenants.keypad]`
//! table does with them ([`KeypadAction`]). A key without an action is told
//! to the model as a caller event ([`caller_event_text`]). Pure: no actors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One key of a telephone keypad: `0`–`9`, `*` or `#` (the DTMF digits a
/// caller can press; `A`–`D` exist in DTMF but not on phones, and are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeypadKey(char);

/// A text that is not one keypad key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a keypad key (one of 0-9, * or #)")]
pub struct NotAKey(pub String);

impl KeypadKey {
    /// The key as its character.
    pub const fn as_char(self) -> char {
        self.0
    }
}

impl FromStr for KeypadKey {
    type Err = NotAKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => Ok(KeypadKey(c)),
            _ => Err(NotAKey(s.chars().take(16).collect())),
        }
    }
}

impl fmt::Display for KeypadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for KeypadKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeypadKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a mapped key does, without a model round trip
/// (`[tenants.keypad]`, e.g. `"0" = "transfer"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeypadAction {
    /// Hand the caller to the tenant's first on-call number at once, as an
    /// operator's transfer does (Twilio calls; elsewhere the model is told).
    Transfer,
    /// The caller wants to leave a message: the model is told to take it.
    Message,
}

/// The conversation item that tells the model about `key`: what the tenant
/// mapped it to (`Some(Message)`), or a plain key press.
pub fn caller_event_text(key: KeypadKey, action: Option<KeypadAction>) -> String {
    match action {
        Some(KeypadAction::Message) => {
            format!("The caller pressed {key} to leave a message; take their message.")
        }
        Some(KeypadAction::Transfer) => format!(
            "The caller pressed {key} to be put through to a person, but the call cannot be \
             transferred right now; apologise and offer to take a message."
        ),
        None => format!("The caller pressed {key} on their keypad."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_keypad_character() {
        for ok in ["0", "5", "9", "*", "#"] {
            assert_eq!(
                ok.parse::<KeypadKey>().map(|k| k.to_string()),
                Ok(ok.into())
            );
        }
        for bad in ["", "10", "A", "d", " 1", "١", "00"] {
            assert!(bad.parse::<KeypadKey>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "12".parse::<KeypadKey>().unwrap_err().to_string(),
            "\"12\" is not a keypad key (one of 0-9, * or #)"
        );
    }

    #[test]
    fn caller_events_name_the_key() {
        let key: KeypadKey = "1".parse().unwrap();
        assert_eq!(
            caller_event_text(key, None),
            "The caller pressed 1 on their keypad."
        );
        let nine: KeypadKey = "9".parse().unwrap();
        assert_eq!(
            caller_event_text(nine, Some(KeypadAction::Message)),
            "The caller pressed 9 to leave a message; take their message."
        );
    }
}
