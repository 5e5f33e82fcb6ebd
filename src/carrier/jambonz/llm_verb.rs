//! The jambonz `llm` verb's JSON shape (`{"verb":"llm", vendor, model, auth,
//! actionHook, eventHook, toolHook, events, llmOptions}`) with each vendor's
//! `llmOptions`, as jambonz-feature-server 0.9.8 reads them and
//! `@jambonz/verb-specifications` accepts them. Pure data: built by
//! [`super::llm::llm_verb`], carried by [`super::wire::Verb::Llm`].

use serde::Serialize;
use serde_json::Value;

/// The `llm` verb (`{"verb":"llm", vendor, model, auth, actionHook, eventHook,
/// toolHook, events, llmOptions}`), accepted by `@jambonz/verb-specifications`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LlmVerb {
    pub vendor: String,
    pub model: String,
    pub auth: LlmAuth,
    pub action_hook: String,
    pub event_hook: String,
    pub tool_hook: String,
    pub events: Vec<String>,
    pub llm_options: LlmOptions,
}

/// `auth` of the `llm` verb.
#[derive(Clone, Serialize, PartialEq)]
pub struct LlmAuth {
    #[serde(rename = "apiKey")]
    pub api_key: String,
}

impl std::fmt::Debug for LlmAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LlmAuth { .. }")
    }
}

/// `llmOptions`, per vendor.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum LlmOptions {
    OpenAi(OpenAiOptions),
    Ultravox(UltravoxCall),
}

/// OpenAI `llmOptions`: `response_create` goes out first (the greeting), then
/// `session_update`; both in OpenAI's beta shape (module docs above).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenAiOptions {
    pub response_create: OpenAiResponse,
    pub session_update: OpenAiSession,
}

/// The greeting's `response` (beta `response.create`): sent before the session is
/// configured, so it carries the tenant's instructions and voice itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenAiResponse {
    pub instructions: String,
    pub voice: String,
}

/// The `session` of the `session.update` jambonz sends (beta field names).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenAiSession {
    pub instructions: String,
    pub voice: String,
    pub turn_detection: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_audio_transcription: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OpenAiTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
}

/// A function tool in the OpenAI session shape (`{"type":"function", name, …}`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenAiTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// Ultravox `llmOptions`: the body of Ultravox's create-call request as jambonz
/// posts it (it overwrites `model` and `medium.serverWebSocket` with the same values).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UltravoxCall {
    pub system_prompt: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// `FIRST_SPEAKER_AGENT`: the receptionist greets the caller.
    pub first_speaker: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selected_tools: Vec<UltravoxSelectedTool>,
    pub medium: UltravoxMedium,
}

/// `medium` of the create-call body.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UltravoxMedium {
    pub server_web_socket: UltravoxServerWebSocket,
}

/// `medium.serverWebSocket`: 8 kHz both ways, as jambonz sets it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UltravoxServerWebSocket {
    pub input_sample_rate: u32,
    pub output_sample_rate: u32,
}

/// One `selectedTools` entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UltravoxSelectedTool {
    pub temporary_tool: UltravoxTemporaryTool,
}

/// A client tool: Ultravox sends `client_tool_invocation`, jambonz forwards it
/// as `llm:tool-call`, switchboard answers.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UltravoxTemporaryTool {
    pub model_tool_name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dynamic_parameters: Vec<UltravoxParameter>,
    /// `{}`: a client tool.
    pub client: Value,
}

/// One argument of a client tool (`location: PARAMETER_LOCATION_BODY`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UltravoxParameter {
    pub name: String,
    pub location: String,
    pub schema: Value,
    pub required: bool,
}
