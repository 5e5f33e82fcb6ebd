//! `[tenants.recording]`: whether a tenant's calls are recorded by switchboard
//! itself (a two-channel WAV under `recording.dir`), and the consent line the
//! receptionist says first when they are. See docs/recording.md.

use serde::{Deserialize, Serialize};

/// Longest `consent_line`, characters: it is said before every greeting.
pub const MAX_CONSENT_LINE_CHARS: usize = 300;

/// Which calls are recorded.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RecordingMode {
    /// No call is recorded.
    #[default]
    Off,
    /// Every Twilio and browser call is recorded from its first frame.
    All,
}

/// `[tenants.recording]`: local call recording for one tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingPolicy {
    /// `off` (default) or `all`.
    pub mode: RecordingMode,
    /// Said by the receptionist before its greeting while `mode` is not `off`
    /// (told to the voice model as its first words). 1–300 characters.
    pub consent_line: String,
}

impl Default for RecordingPolicy {
    fn default() -> Self {
        RecordingPolicy {
            mode: RecordingMode::Off,
            consent_line: "This call may be recorded.".into(),
        }
    }
}

impl RecordingPolicy {
    /// Whether this tenant's calls are recorded.
    pub fn records(&self) -> bool {
        self.mode != RecordingMode::Off
    }

    /// The instruction that makes the model say the consent line first; `None`
    /// when calls are not recorded.
    pub fn consent_instruction(&self) -> Option<String> {
        self.records().then(|| {
            format!(
                "This call is recorded. Before anything else, including your greeting, \
                 say exactly: \"{}\"\n",
                self.consent_line.trim()
            )
        })
    }

    /// Checks the consent line's length when calls are recorded.
    pub fn validate(&self) -> Result<(), String> {
        let chars = self.consent_line.trim().chars().count();
        if self.records() && (chars == 0 || chars > MAX_CONSENT_LINE_CHARS) {
            return Err(format!(
                "recording.consent_line must be 1–{MAX_CONSENT_LINE_CHARS} characters when \
                 recording.mode is not \"off\""
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consent_line_is_asked_for_only_when_recording() {
        let mut policy = RecordingPolicy::default();
        assert_eq!(policy.consent_instruction(), None);
        policy.mode = RecordingMode::All;
        let said = policy.consent_instruction().unwrap();
        assert!(said.contains("\"This call may be recorded.\""), "{said}");
    }

    #[test]
    fn an_empty_consent_line_is_refused_while_recording() {
        let mut policy = RecordingPolicy {
            mode: RecordingMode::All,
            consent_line: "  ".into(),
        };
        assert!(policy.validate().is_err());
        policy.mode = RecordingMode::Off;
        assert!(policy.validate().is_ok());
        policy.mode = RecordingMode::All;
        policy.consent_line = "x".repeat(MAX_CONSENT_LINE_CHARS + 1);
        assert!(policy.validate().is_err());
    }
}
