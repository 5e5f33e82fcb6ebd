//! The bodies that accept an OpenAI SIP call with the tenant's session:
//! GPT-Live wraps it (`{"session":{"type":"live",…}}`, openai-python
//! `SessionAcceptParams`), Realtime sends the session itself
//! (`{"type":"realtime",…}`, `CallAcceptParams`). Neither names an audio
//! format: SIP negotiates the codec. Built from the same [`SessionSpec`] and
//! builders as a relayed call's `session.start` / `session.update`, so a
//! tenant sounds the same however its call arrives.

use serde::Serialize;

use crate::model::live::{self, AudioOutput, Delegation};
use crate::model::realtime::{ClientEvent, SessionPayload};
use crate::model::session::{self, SessionSpec};

/// Why no accept body could be built.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("the session is not an OpenAI session: {0}")]
    NotOpenAi(&'static str),
    #[error("cannot encode the session: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Debug, Serialize)]
struct LiveAccept {
    session: LiveAcceptSession,
}

#[derive(Debug, Serialize)]
struct LiveAcceptSession {
    /// Always `live`.
    #[serde(rename = "type")]
    kind: &'static str,
    model: String,
    instructions: String,
    audio: LiveAcceptAudio,
    delegation: Delegation,
}

#[derive(Debug, Serialize)]
struct LiveAcceptAudio {
    output: AudioOutput,
}

/// `POST /v1/live/sessions/{id}/accept` for `spec`: the model, the
/// receptionist's prompt with its delegation policy, the voice, and the
/// tools on the Responses backend `backend_model` — `session.start`'s
/// session without its audio format or history.
///
/// # Errors
/// [`AcceptError::Encode`] (not expected: every field is plain data).
pub fn live_body(
    spec: &SessionSpec,
    backend_model: &str,
) -> Result<serde_json::Value, AcceptError> {
    let live::ClientEvent::SessionStart { session } = live::session_start(spec, backend_model, &[])
    else {
        return Err(AcceptError::NotOpenAi("session_start gave no session"));
    };
    Ok(serde_json::to_value(LiveAccept {
        session: LiveAcceptSession {
            kind: "live",
            model: session.model,
            instructions: session.instructions,
            audio: LiveAcceptAudio {
                output: session.audio.output,
            },
            delegation: session.delegation,
        },
    })?)
}

/// `POST /v1/realtime/calls/{id}/accept` for `spec`: the relayed call's
/// `session.update` session (model, prompt, voice, transcription, turn
/// detection, tools) without audio formats.
///
/// # Errors
/// [`AcceptError::NotOpenAi`] for a spec of another provider (xAI has no SIP
/// of this kind); [`AcceptError::Encode`].
pub fn realtime_body(spec: &SessionSpec) -> Result<serde_json::Value, AcceptError> {
    let ClientEvent::SessionUpdate {
        session: SessionPayload::Ga(mut session),
        ..
    } = session::session_update(spec)
    else {
        return Err(AcceptError::NotOpenAi("only OpenAI Realtime answers SIP"));
    };
    if let Some(audio) = session.audio.as_mut() {
        if let Some(input) = audio.input.as_mut() {
            input.format = None;
        }
        if let Some(output) = audio.output.as_mut() {
            output.format = None;
        }
    }
    Ok(serde_json::to_value(session)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::format::AudioFormat;
    use crate::model::api::ModelApi;
    use crate::model::provider::Provider;
    use crate::model::session::FunctionTool;
    use crate::model::settings::ModelConfig;

    fn spec(api: ModelApi) -> SessionSpec {
        SessionSpec::for_call(
            Provider::OpenAi,
            api,
            &ModelConfig::default(),
            "You are the receptionist of Acme Dental.".into(),
            "marin".into(),
            vec![FunctionTool {
                name: "takeMessage".into(),
                description: "Take a message for the owner.".into(),
                parameters: serde_json::json!({"type": "object", "properties": {}}),
            }],
            AudioFormat::Pcmu,
        )
    }

    #[test]
    fn live_accept_wraps_a_live_session_without_a_format() {
        let body = live_body(&spec(ModelApi::Live), "gpt-5.6-luna").unwrap();
        let session = &body["session"];
        assert_eq!(session["type"], "live");
        assert_eq!(session["model"], ModelConfig::default().live.model);
        assert_eq!(session["audio"]["output"]["voice"], "marin");
        assert!(session["audio"].get("format").is_none());
        assert_eq!(session["delegation"]["type"], "responses");
        assert_eq!(
            session["delegation"]["responses"]["tools"][0]["name"],
            "takeMessage"
        );
        assert!(session["instructions"]
            .as_str()
            .unwrap()
            .starts_with("You are the receptionist"));
    }

    #[test]
    fn realtime_accept_is_the_session_itself_without_formats() {
        let body = realtime_body(&spec(ModelApi::Realtime)).unwrap();
        assert_eq!(body["type"], "realtime");
        assert!(body.get("session").is_none());
        assert!(body["audio"]["input"].get("format").is_none());
        assert!(body["audio"]["output"].get("format").is_none());
        assert_eq!(body["audio"]["output"]["voice"], "marin");
        assert_eq!(body["tools"][0]["name"], "takeMessage");
    }
}
