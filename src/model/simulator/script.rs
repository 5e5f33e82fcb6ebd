//! The simulator's conversation script, loaded from TOML (see
//! `assets/sim/script.toml`): an optional greeting, one entry per expected
//! caller turn (what the "transcriber" reports, an optional scripted function
//! call, and the spoken reply — a WAV clip plus its text), and a fallback reply
//! used once the turns run out.

use std::path::Path;

use figment::providers::{Format, Toml};
use figment::Figment;
use serde::Deserialize;

use super::SimError;

/// A spoken reply: a clip file (24 kHz mono 16-bit WAV, relative to the clips
/// directory) and the words in it, streamed as the audio transcript.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// File name inside the clips directory, e.g. `booking.wav`.
    pub clip: String,
    /// What the clip says.
    pub text: String,
}

/// A scripted tool call the model makes before replying.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    /// Function name, e.g. `takeMessage`.
    pub name: String,
    /// Arguments object; sent JSON-encoded in `arguments`.
    pub arguments: serde_json::Value,
}

/// One caller turn and the model's answer to it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Transcript reported in
    /// `conversation.item.input_audio_transcription.completed`.
    pub user_transcript: String,
    /// When set, the first response is this function call; `reply` follows
    /// the client's `function_call_output` + `response.create`.
    #[serde(default)]
    pub function_call: Option<ScriptedCall>,
    /// The spoken answer.
    pub reply: Reply,
}

/// A whole script.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Played for a `response.create` before any caller turn (an agent-first
    /// greeting); `None` = such a request gets the fallback.
    #[serde(default)]
    pub greeting: Option<Reply>,
    /// Caller turns, in order; each user turn consumes one.
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// Answer once `turns` are exhausted (and for unexpected requests).
    pub fallback: Reply,
}

impl Script {
    /// Parses a script from TOML text.
    ///
    /// # Errors
    /// [`SimError::Script`] for invalid TOML or a shape mismatch (unknown
    /// keys are rejected).
    pub fn from_toml_str(text: &str) -> Result<Script, SimError> {
        Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| SimError::Script(e.to_string()))
    }

    /// Reads and parses a script file.
    ///
    /// # Errors
    /// [`SimError::Io`] if the file cannot be read, [`SimError::Script`] if
    /// it does not parse.
    pub fn load(path: &Path) -> Result<Script, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Script::from_toml_str(&text)
    }

    /// The built-in script ([`super::embedded::SCRIPT`]).
    ///
    /// # Errors
    /// [`SimError::Script`] (a build defect: the unit tests parse it).
    pub fn embedded() -> Result<Script, SimError> {
        Script::from_toml_str(super::embedded::SCRIPT)
    }

    /// `simulator.script` semantics: the file at `path`, or the built-in script
    /// when `path` is empty.
    ///
    /// # Errors
    /// As [`Script::load`].
    pub fn load_or_embedded(path: &Path) -> Result<Script, SimError> {
        if path.as_os_str().is_empty() {
            Script::embedded()
        } else {
            Script::load(path)
        }
    }

    /// Every clip file the script refers to (duplicates removed, sorted).
    pub fn clip_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .turns
            .iter()
            .map(|t| t.reply.clip.as_str())
            .chain(self.greeting.iter().map(|g| g.clip.as_str()))
            .chain(std::iter::once(self.fallback.clip.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_script_parses_with_function_call() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sim/script.toml");
        let script = Script::load(&path).unwrap();
        assert_eq!(script.turns.len(), 2);
        let call = script.turns[1].function_call.as_ref().unwrap();
        assert_eq!(call.name, "takeMessage");
        assert_eq!(call.arguments["callerPhone"], "+15550100001");
        assert_eq!(script.fallback.clip, "fallback.wav");
        assert!(script.clip_names().contains(&"message-taken.wav"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err =
            Script::from_toml_str("[fallback]\nclip = \"f.wav\"\ntext = \"Sorry?\"\nvolume = 3\n")
                .unwrap_err();
        assert!(matches!(err, SimError::Script(_)));
    }
}
