//! The jambonz `llm` verb per vendor, shaped as jambonz-feature-server 0.9.8 runs
//! it: which vendor a tenant gets ([`plan`]), the verb with `auth.apiKey` and the
//! vendor's `llmOptions` ([`llm_verb`]), tool results in the vendor's own event
//! ([`tool_output`]), mid-call changes ([`session_update`]) and the vendor events
//! switchboard reads back (transcripts, first response).
//!
//! Facts (restated in docs/jambonz.md), all from jambonz-feature-server v0.9.8:
//! - `lib/tasks/llm/index.js`: `vendor` `openai`/`microsoft` → OpenAI S2S,
//!   `ultravox` → Ultravox; any other vendor throws (the call fails).
//! - `lib/tasks/llm/llms/openai_s2s.js`: throws without `auth.apiKey`; model default
//!   `gpt-4o-realtime-preview-2024-12-17`; `llmOptions.response_create` (an object)
//!   is sent first as `{type:"response.create", response}`, then
//!   `llmOptions.session_update` as `{type:"session.update", session}`, both
//!   verbatim through FreeSWITCH's `mod_openai_s2s`, which speaks OpenAI's
//!   *beta* Realtime protocol (its README; event names such as
//!   `response.audio_transcript.done`) — so the session fields are the beta ones
//!   (`voice`, `turn_detection`, `input_audio_transcription` at the top level).
//!   Tool output must be a `conversation.item.create`; `llm:update` accepts
//!   `session.update`, `conversation.item.create`/`.delete`, `response.cancel`.
//!   Any OpenAI `error` event ends the verb.
//! - `lib/tasks/llm/llms/ultravox_s2s.js`: throws without `auth.apiKey`; posts
//!   `{...llmOptions, model, medium: {serverWebSocket: {inputSampleRate: 8000,
//!   outputSampleRate: 8000}}}` to `https://api.ultravox.ai/api/calls` (model
//!   default `fixie-ai/ultravox`); tool output must be
//!   `{type:"client_tool_result", invocation_id, result}`; `llm:update` accepts only
//!   `input_text_message`.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::carrier::jambonz::wire::{self, Outbound, Verb};
use crate::config::Config;
use crate::model::provider::Provider;
use crate::model::session::{FunctionTool, TurnDetection};
use crate::tenant::TenantConfig;

pub use super::llm_verb::{
    LlmAuth, LlmOptions, LlmVerb, OpenAiOptions, OpenAiResponse, OpenAiSession, OpenAiTool,
    UltravoxCall, UltravoxMedium, UltravoxParameter, UltravoxSelectedTool, UltravoxServerWebSocket,
    UltravoxTemporaryTool,
};

/// OpenAI Realtime events forwarded to the event hook: final transcripts (beta
/// names, as `mod_openai_s2s` forwards them, and the GA spelling), the start of
/// each response (the first one means audio is on its way, so the voice is fixed),
/// and errors.
pub const OPENAI_EVENTS: &[&str] = &[
    "conversation.item.input_audio_transcription.completed",
    "response.audio_transcript.done",
    "response.output_audio_transcript.done",
    "response.created",
    "error",
];
/// Ultravox data messages forwarded to the event hook: transcripts.
pub const ULTRAVOX_EVENTS: &[&str] = &["transcript"];
/// Model used for the `openai` vendor when `[model]` names another provider.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-realtime-2.1";
/// Voice used for the `openai` vendor when neither the tenant nor `[model]` sets one.
pub const OPENAI_DEFAULT_VOICE: &str = "marin";
/// feature-server's own default model for the `ultravox` vendor.
pub const ULTRAVOX_DEFAULT_MODEL: &str = "fixie-ai/ultravox";
/// OpenAI's voice names (beta and GA): never sent to Ultravox.
pub const OPENAI_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
];

/// A speech-to-speech vendor jambonz's `llm` verb runs for switchboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// `vendor: "openai"` (OpenAI Realtime through `mod_openai_s2s`).
    OpenAi,
    /// `vendor: "ultravox"` (Ultravox `serverWebSocket` through `mod_ultravox_s2s`).
    Ultravox,
}

impl Vendor {
    /// The jambonz vendor for a tenant's provider; `None` when jambonz has none
    /// (xAI).
    pub fn for_provider(provider: Provider) -> Option<Vendor> {
        match provider {
            Provider::OpenAi => Some(Vendor::OpenAi),
            Provider::Ultravox => Some(Vendor::Ultravox),
            Provider::Xai => None,
        }
    }

    /// The `vendor` value of the verb.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::OpenAi => "openai",
            Vendor::Ultravox => "ultravox",
        }
    }

    /// `calls.model_provider` of calls it carries: `jambonz-openai`, `jambonz-ultravox`.
    pub fn call_label(self) -> &'static str {
        match self {
            Vendor::OpenAi => "jambonz-openai",
            Vendor::Ultravox => "jambonz-ultravox",
        }
    }

    /// The verb's `events` filter.
    pub fn events(self) -> &'static [&'static str] {
        match self {
            Vendor::OpenAi => OPENAI_EVENTS,
            Vendor::Ultravox => ULTRAVOX_EVENTS,
        }
    }
}

/// Why jambonz would refuse a tenant's `llm` verb; its calls are answered with a
/// short `say` and `hangup` instead, and recorded as `refused`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The provider has no jambonz vendor (feature-server throws
    /// `Unsupported vendor`).
    #[error(
        "provider {provider} has no jambonz llm vendor (jambonz runs openai or ultravox); \
         set the tenant's provider to openai or ultravox"
    )]
    NoVendor { provider: &'static str },
    /// No API key (feature-server throws `auth.apiKey is required`).
    #[error("provider {provider} has no API key (jambonz requires auth.apiKey); set {hint}")]
    NoKey {
        provider: &'static str,
        hint: String,
    },
}

impl Refusal {
    /// The `ended_reason` of the refused call row.
    pub fn reason(&self) -> crate::lifecycle::Refusal {
        match self {
            Refusal::NoVendor { .. } => crate::lifecycle::Refusal::NoJambonzVendor,
            Refusal::NoKey { .. } => crate::lifecycle::Refusal::NoModelKey,
        }
    }
}

/// The vendor settings of one tenant's jambonz calls.
#[derive(Clone, PartialEq)]
pub struct VendorPlan {
    pub vendor: Vendor,
    /// `auth.apiKey`.
    pub api_key: String,
    /// The verb's `model`.
    pub model: String,
    /// Voice when the tenant sets none; `None` = the vendor's default (Ultravox).
    pub default_voice: Option<String>,
}

impl std::fmt::Debug for VendorPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorPlan")
            .field("vendor", &self.vendor)
            .field("model", &self.model)
            .field("default_voice", &self.default_voice)
            .finish_non_exhaustive()
    }
}

/// The vendor, key, model and default voice for `tenant`'s jambonz calls: the
/// tenant's `provider` (else `model.provider`), its key ([`Config::model_key`]),
/// `model.model`/`model.voice` when the provider is `model.provider` (an OpenAI
/// model or voice name is never sent to Ultravox), else the vendor's default.
///
/// Errors: [`Refusal`] when jambonz would refuse the verb.
pub fn plan(config: &Config, tenant: &TenantConfig) -> Result<VendorPlan, Refusal> {
    let provider = tenant.provider.unwrap_or(config.model.provider);
    if Vendor::for_provider(provider).is_none() {
        return Err(Refusal::NoVendor {
            provider: provider.as_str(),
        });
    }
    let api_key = config.model_key(provider).ok_or_else(|| Refusal::NoKey {
        provider: provider.as_str(),
        hint: config.model_key_hint(provider),
    })?;
    plan_with_key(config, tenant, api_key).ok_or(Refusal::NoVendor {
        provider: provider.as_str(),
    })
}

/// [`plan`] with `api_key` given (start-up sizing of a tenant without a key);
/// `None` when the tenant's provider has no jambonz vendor.
pub fn plan_with_key(config: &Config, tenant: &TenantConfig, api_key: &str) -> Option<VendorPlan> {
    let provider = tenant.provider.unwrap_or(config.model.provider);
    let vendor = Vendor::for_provider(provider)?;
    let own = provider == config.model.provider;
    let configured_model = Some(config.model.model.as_str()).filter(|m| own && !m.is_empty());
    let configured_voice = Some(config.model.voice.as_str()).filter(|v| own && !v.is_empty());
    let (model, default_voice) = match vendor {
        Vendor::OpenAi => (
            configured_model.unwrap_or(OPENAI_DEFAULT_MODEL).to_string(),
            Some(configured_voice.unwrap_or(OPENAI_DEFAULT_VOICE).to_string()),
        ),
        Vendor::Ultravox => (
            configured_model
                .filter(|m| !m.starts_with("gpt-"))
                .unwrap_or(ULTRAVOX_DEFAULT_MODEL)
                .to_string(),
            configured_voice
                .filter(|v| !is_openai_voice(v))
                .map(str::to_string),
        ),
    };
    Some(VendorPlan {
        vendor,
        api_key: api_key.to_string(),
        model,
        default_voice,
    })
}

/// Whether `voice` is one of OpenAI's voice names (case-insensitive).
pub fn is_openai_voice(voice: &str) -> bool {
    OPENAI_VOICES.iter().any(|v| v.eq_ignore_ascii_case(voice))
}

/// What one call's `llm` verb says: the tenant (with operator edits) at call time.
#[derive(Debug, Clone)]
pub struct LlmSpec {
    /// Tenant instructions incl. business hours (see `TenantConfig::instructions`).
    pub instructions: String,
    /// Tenant voice, else the plan's default; `None` = the vendor's default.
    pub voice: Option<String>,
    pub tools: Vec<FunctionTool>,
    /// Transcription model for caller transcripts (OpenAI); `None` = none.
    pub transcription_model: Option<String>,
    pub turn_detection: TurnDetection,
}

/// The OpenAI `turn_detection` for the session: `semantic_vad` with the operator's
/// eagerness, else `server_vad` with `[model]`'s settings.
fn turn_detection(td: &TurnDetection) -> Value {
    match td.eagerness {
        Some(e) => json!({"type": "semantic_vad", "eagerness": e.as_str()}),
        None => json!({
            "type": "server_vad",
            "threshold": td.threshold,
            "prefix_padding_ms": td.prefix_padding_ms,
            "silence_duration_ms": td.silence_duration_ms,
        }),
    }
}

/// `dynamicParameters` from a JSON Schema object's `properties` (each with its
/// own schema, required as the schema says).
fn ultravox_parameters(schema: &Value) -> Vec<UltravoxParameter> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| UltravoxParameter {
                    name: name.clone(),
                    location: "PARAMETER_LOCATION_BODY".into(),
                    schema: prop.clone(),
                    required: required.contains(&name.as_str()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `llm` verb handing the call to the tenant's model, with tool calls and
/// transcripts delivered on this socket ([`wire::TOOL_HOOK`], [`wire::EVENT_HOOK`]).
pub fn llm_verb(plan: &VendorPlan, spec: &LlmSpec) -> Verb {
    let llm_options = match plan.vendor {
        Vendor::OpenAi => {
            let voice = spec
                .voice
                .clone()
                .unwrap_or_else(|| OPENAI_DEFAULT_VOICE.to_string());
            let tools: Vec<OpenAiTool> = spec
                .tools
                .iter()
                .map(|t| OpenAiTool {
                    kind: "function".into(),
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.parameters.clone(),
                })
                .collect();
            LlmOptions::OpenAi(OpenAiOptions {
                response_create: OpenAiResponse {
                    instructions: spec.instructions.clone(),
                    voice: voice.clone(),
                },
                session_update: OpenAiSession {
                    instructions: spec.instructions.clone(),
                    voice,
                    turn_detection: turn_detection(&spec.turn_detection),
                    input_audio_transcription: spec
                        .transcription_model
                        .as_ref()
                        .map(|m| json!({"model": m})),
                    tool_choice: (!tools.is_empty()).then(|| "auto".to_string()),
                    tools,
                },
            })
        }
        Vendor::Ultravox => LlmOptions::Ultravox(UltravoxCall {
            system_prompt: spec.instructions.clone(),
            model: plan.model.clone(),
            voice: spec.voice.clone(),
            first_speaker: "FIRST_SPEAKER_AGENT".into(),
            selected_tools: spec
                .tools
                .iter()
                .map(|t| UltravoxSelectedTool {
                    temporary_tool: UltravoxTemporaryTool {
                        model_tool_name: t.name.clone(),
                        description: t.description.clone(),
                        dynamic_parameters: ultravox_parameters(&t.parameters),
                        client: json!({}),
                    },
                })
                .collect(),
            medium: UltravoxMedium {
                server_web_socket: UltravoxServerWebSocket {
                    input_sample_rate: 8000,
                    output_sample_rate: 8000,
                },
            },
        }),
    };
    Verb::Llm(Box::new(LlmVerb {
        vendor: plan.vendor.as_str().into(),
        model: plan.model.clone(),
        auth: LlmAuth {
            api_key: plan.api_key.clone(),
        },
        action_hook: wire::LLM_ACTION_HOOK.into(),
        event_hook: wire::EVENT_HOOK.into(),
        tool_hook: wire::TOOL_HOOK.into(),
        events: plan.vendor.events().iter().map(|e| e.to_string()).collect(),
        llm_options,
    }))
}

/// `llm:tool-output` answering `tool_call_id` with `output` (JSON text), in the
/// vendor's own event, which jambonz forwards verbatim: OpenAI
/// `{"type":"conversation.item.create","item":{"type":"function_call_output",
/// "call_id","output"}}` (jambonz then sends `response.create` itself); Ultravox
/// `{"type":"client_tool_result","invocation_id","result"}`.
pub fn tool_output(vendor: Vendor, tool_call_id: &str, output: &str) -> Outbound {
    let data = match vendor {
        Vendor::OpenAi => json!({
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": tool_call_id, "output": output}
        }),
        Vendor::Ultravox => json!({
            "type": "client_tool_result",
            "invocation_id": tool_call_id,
            "result": output,
        }),
    };
    Outbound::command("llm:tool-output", Some(tool_call_id), data)
}

/// `llm:update` carrying an operator's session edit to a live call: OpenAI
/// `session.update` with the instructions and turn detection, and the voice only
/// while no audio has been produced (OpenAI refuses a voice change after that, and
/// its `error` event ends jambonz's llm verb). `None` for Ultravox, whose
/// `llm:update` takes only `input_text_message`: edits apply to its next call.
pub fn session_update(vendor: Vendor, spec: &LlmSpec, audio_started: bool) -> Option<Outbound> {
    match vendor {
        Vendor::OpenAi => {
            let mut session = json!({
                "instructions": spec.instructions,
                "turn_detection": turn_detection(&spec.turn_detection),
            });
            if !audio_started {
                session["voice"] = json!(spec
                    .voice
                    .clone()
                    .unwrap_or_else(|| OPENAI_DEFAULT_VOICE.to_string()));
            }
            Some(Outbound::command(
                "llm:update",
                None,
                json!({"type": "session.update", "session": session}),
            ))
        }
        Vendor::Ultravox => None,
    }
}

/// A final transcript line from an `llm:event`.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmTranscript {
    /// What the caller said.
    User {
        item_id: Option<String>,
        text: String,
    },
    /// What the receptionist said.
    Assistant {
        item_id: Option<String>,
        text: String,
    },
}

/// What switchboard reads from one `llm:event`.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// A final transcript line.
    Transcript(LlmTranscript),
    /// A response started: from now on the model may have spoken (voice fixed).
    ResponseStarted,
    /// The vendor reported an error (OpenAI: jambonz ends the verb).
    Error(String),
    /// Anything else (ignored).
    Other,
}

fn text_field(data: &Value, name: &str) -> Option<String> {
    data.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Reads an OpenAI Realtime server event forwarded by jambonz.
pub fn openai_event(data: &Value) -> LlmEvent {
    let item_id = text_field(data, "item_id");
    match data["type"].as_str().unwrap_or_default() {
        "conversation.item.input_audio_transcription.completed" => text_field(data, "transcript")
            .map(|text| LlmEvent::Transcript(LlmTranscript::User { item_id, text }))
            .unwrap_or(LlmEvent::Other),
        "response.audio_transcript.done" | "response.output_audio_transcript.done" => {
            text_field(data, "transcript")
                .map(|text| LlmEvent::Transcript(LlmTranscript::Assistant { item_id, text }))
                .unwrap_or(LlmEvent::ResponseStarted)
        }
        "response.created" => LlmEvent::ResponseStarted,
        "error" => LlmEvent::Error(
            data["error"]["message"]
                .as_str()
                .or_else(|| data["error"].as_str())
                .unwrap_or("unknown error")
                .to_string(),
        ),
        _ => LlmEvent::Other,
    }
}

/// Most Ultravox utterances assembled at once; more means the vendor never sends
/// `final`, and the oldest partial lines are dropped (bounds memory per call).
const ULTRAVOX_OPEN_LINES: usize = 16;

/// Assembles Ultravox `transcript` data messages (`role` `user`/`agent`, `text` =
/// the whole line so far or `delta` = more of it, `final`, `ordinal`) into final
/// lines, per call.
#[derive(Debug, Default)]
pub struct UltravoxTranscripts {
    open: HashMap<u64, (bool, String)>,
}

impl UltravoxTranscripts {
    /// Feeds one forwarded data message; a line when it is final.
    pub fn feed(&mut self, data: &Value) -> LlmEvent {
        if data["type"] != "transcript" {
            return LlmEvent::Other;
        }
        let ordinal = data["ordinal"].as_u64().unwrap_or(0);
        let user = data["role"] == "user";
        if !self.open.contains_key(&ordinal) && self.open.len() >= ULTRAVOX_OPEN_LINES {
            if let Some(oldest) = self.open.keys().min().copied() {
                self.open.remove(&oldest);
            }
        }
        let entry = self
            .open
            .entry(ordinal)
            .or_insert_with(|| (user, String::new()));
        if let Some(text) = data["text"].as_str() {
            entry.1 = text.to_string();
        } else if let Some(delta) = data["delta"].as_str() {
            entry.1.push_str(delta);
        }
        if data["final"] != true {
            return if user {
                LlmEvent::Other
            } else {
                LlmEvent::ResponseStarted
            };
        }
        let Some((user, text)) = self.open.remove(&ordinal) else {
            return LlmEvent::Other;
        };
        let item_id = Some(format!("ultravox-{ordinal}"));
        LlmEvent::Transcript(if user {
            LlmTranscript::User { item_id, text }
        } else {
            LlmTranscript::Assistant { item_id, text }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VendorKeys;

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jambonz")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn spec() -> LlmSpec {
        LlmSpec {
            instructions: "You are the phone receptionist for Acme Dental.".into(),
            voice: Some("marin".into()),
            tools: vec![FunctionTool {
                name: "takeMessage".into(),
                description: "Take a message".into(),
                parameters: json!({"type": "object",
                    "properties": {"callerName": {"type": "string"}, "urgency": {"type": "string"}},
                    "required": ["callerName"]}),
            }],
            transcription_model: Some("gpt-live-transcribe".into()),
            turn_detection: TurnDetection {
                threshold: 0.5,
                prefix_padding_ms: 300,
                silence_duration_ms: 500,
                eagerness: None,
            },
        }
    }

    fn config(keys: VendorKeys) -> Config {
        let mut config = Config::default();
        config.take_vendor_keys(keys);
        config
    }

    #[test]
    fn plan_takes_each_provider_key_by_its_vendor_name() {
        let config = config(VendorKeys {
            openai: Some("sk-openai".into()),
            xai: None,
            ultravox: Some("uv-key".into()),
        });
        let mut tenant = TenantConfig::example();
        let openai = plan(&config, &tenant).unwrap();
        assert_eq!(
            (
                openai.vendor,
                openai.api_key.as_str(),
                openai.model.as_str()
            ),
            (Vendor::OpenAi, "sk-openai", OPENAI_DEFAULT_MODEL)
        );
        tenant.provider = Some(Provider::Ultravox);
        let ultravox = plan(&config, &tenant).unwrap();
        assert_eq!(ultravox.api_key, "uv-key");
        assert_eq!(ultravox.model, ULTRAVOX_DEFAULT_MODEL);
        assert_eq!(
            ultravox.default_voice, None,
            "marin is not an Ultravox voice"
        );
        tenant.provider = Some(Provider::Xai);
        assert_eq!(
            plan(&config, &tenant).unwrap_err().reason().as_str(),
            "refused_no_jambonz_vendor"
        );
    }

    #[test]
    fn plan_refuses_a_provider_without_key_naming_the_variable() {
        let config = config(VendorKeys::default());
        let err = plan(&config, &TenantConfig::example()).unwrap_err();
        assert_eq!(err.reason().as_str(), "refused_no_model_key");
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
        assert!(
            err.to_string().contains("SWITCHBOARD_MODEL__API_KEY"),
            "{err}"
        );
    }

    #[test]
    fn openai_verb_carries_auth_and_greets_with_the_tenant_instructions() {
        let plan = VendorPlan {
            vendor: Vendor::OpenAi,
            api_key: "sk-test".into(),
            model: "gpt-realtime-2.1".into(),
            default_voice: Some("marin".into()),
        };
        let verb = serde_json::to_value(llm_verb(&plan, &spec())).unwrap();
        assert_eq!(verb["verb"], "llm");
        assert_eq!(verb["vendor"], "openai");
        assert_eq!(verb["model"], "gpt-realtime-2.1");
        assert_eq!(verb["auth"], json!({"apiKey": "sk-test"}));
        assert_eq!(verb["toolHook"], wire::TOOL_HOOK);
        let opts = &verb["llmOptions"];
        assert_eq!(opts["response_create"]["instructions"], spec().instructions);
        assert_eq!(opts["response_create"]["voice"], "marin");
        assert_eq!(opts["session_update"]["voice"], "marin");
        assert_eq!(opts["session_update"]["tools"][0]["type"], "function");
        assert_eq!(
            opts["session_update"]["turn_detection"]["type"],
            "server_vad"
        );
        assert_eq!(
            opts["session_update"]["input_audio_transcription"]["model"],
            "gpt-live-transcribe"
        );
    }

    #[test]
    fn ultravox_verb_is_the_create_call_body_with_client_tools() {
        let plan = VendorPlan {
            vendor: Vendor::Ultravox,
            api_key: "uv-key".into(),
            model: ULTRAVOX_DEFAULT_MODEL.into(),
            default_voice: None,
        };
        let mut s = spec();
        s.voice = Some("Mark".into());
        let verb = serde_json::to_value(llm_verb(&plan, &s)).unwrap();
        assert_eq!(verb["vendor"], "ultravox");
        assert_eq!(verb["auth"]["apiKey"], "uv-key");
        let body = &verb["llmOptions"];
        assert_eq!(body["systemPrompt"], s.instructions);
        assert_eq!(body["voice"], "Mark");
        assert_eq!(body["model"], ULTRAVOX_DEFAULT_MODEL);
        assert_eq!(body["firstSpeaker"], "FIRST_SPEAKER_AGENT");
        assert_eq!(
            body["medium"],
            json!({"serverWebSocket": {"inputSampleRate": 8000, "outputSampleRate": 8000}})
        );
        let tool = &body["selectedTools"][0]["temporaryTool"];
        assert_eq!(tool["modelToolName"], "takeMessage");
        assert_eq!(tool["client"], json!({}));
        assert_eq!(
            tool["dynamicParameters"][0],
            json!({"name": "callerName", "location": "PARAMETER_LOCATION_BODY",
                   "schema": {"type": "string"}, "required": true})
        );
        assert_eq!(tool["dynamicParameters"][1]["required"], false);
    }

    #[test]
    fn tool_output_is_each_vendors_own_event() {
        let out = serde_json::to_value(tool_output(Vendor::OpenAi, "c1", "{}")).unwrap();
        assert_eq!(out["type"], "command");
        assert_eq!(out["command"], "llm:tool-output");
        assert_eq!(out["tool_call_id"], "c1");
        assert_eq!(out["data"]["type"], "conversation.item.create");
        assert_eq!(out["data"]["item"]["call_id"], "c1");
        let out =
            serde_json::to_value(tool_output(Vendor::Ultravox, "inv-9", "{\"ok\":1}")).unwrap();
        assert_eq!(
            out["data"],
            json!({"type": "client_tool_result", "invocation_id": "inv-9", "result": "{\"ok\":1}"})
        );
    }

    #[test]
    fn session_update_drops_the_voice_once_audio_started() {
        let before = serde_json::to_value(session_update(Vendor::OpenAi, &spec(), false)).unwrap();
        assert_eq!(before["command"], "llm:update");
        assert_eq!(before["data"]["session"]["voice"], "marin");
        let after = serde_json::to_value(session_update(Vendor::OpenAi, &spec(), true)).unwrap();
        assert!(after["data"]["session"].get("voice").is_none());
        assert_eq!(
            after["data"]["session"]["instructions"],
            spec().instructions
        );
        assert!(session_update(Vendor::Ultravox, &spec(), false).is_none());
    }

    #[test]
    fn openai_events_from_recorded_frames() {
        let user = fixture("llm-event-openai-user-transcript.json");
        assert!(matches!(openai_event(&user["data"]),
            LlmEvent::Transcript(LlmTranscript::User { text, .. }) if text.contains("Doctor Lee")));
        let said = fixture("llm-event-openai-assistant-transcript.json");
        assert!(matches!(openai_event(&said["data"]),
            LlmEvent::Transcript(LlmTranscript::Assistant { text, .. }) if text.contains("Acme")));
        let created = fixture("llm-event-openai-response-created.json");
        assert_eq!(openai_event(&created["data"]), LlmEvent::ResponseStarted);
        assert_eq!(
            openai_event(&json!({"type": "error", "error": {"message": "bad voice"}})),
            LlmEvent::Error("bad voice".into())
        );
    }

    #[test]
    fn ultravox_transcripts_assemble_deltas_into_final_lines() {
        let mut t = UltravoxTranscripts::default();
        let frame = fixture("llm-event-ultravox-transcript.json");
        assert!(matches!(t.feed(&frame["data"]),
            LlmEvent::Transcript(LlmTranscript::User { text, .. }) if text.contains("Doctor Lee")));
        let part = |delta: &str, fin: bool| {
            json!({"type": "transcript", "role": "agent", "medium": "voice",
                   "delta": delta, "final": fin, "ordinal": 2})
        };
        assert_eq!(
            t.feed(&part("Thanks for ", false)),
            LlmEvent::ResponseStarted
        );
        assert!(matches!(t.feed(&part("calling.", true)),
            LlmEvent::Transcript(LlmTranscript::Assistant { text, .. }) if text == "Thanks for calling."));
        for ordinal in 10..40 {
            t.feed(&json!({"type": "transcript", "role": "user", "delta": "x", "final": false, "ordinal": ordinal}));
        }
        assert!(t.open.len() <= ULTRAVOX_OPEN_LINES);
    }
}
