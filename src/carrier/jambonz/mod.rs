//! The jambonz edge (`GET /jambonz`, WebSocket API with subprotocol
//! `ws.jambonz.org`): jambonz terminates SIP and RTP and runs the model itself
//! through its `llm` verb; switchboard routes the call to its tenant, hands jambonz
//! the tenant's model settings and tools, answers tool calls on the same socket with
//! the full session context, and records the call. [`wire`] is the pure message
//! format, [`llm`] the `llm` verb per vendor (OpenAI, Ultravox), [`edge`] the
//! WebSocket actor, [`call`] the per-call actor that outlives a socket when jambonz
//! reconnects. [`preflight`] checks every tenant's verb at start-up.

pub mod call;
pub mod edge;
pub mod llm;
pub mod llm_verb;
pub mod wire;

use std::collections::HashMap;
use std::sync::Mutex;

use actix::Addr;
use chrono::{DateTime, TimeZone, Utc};

use crate::config::Config;
use crate::model::session::{Eagerness, FunctionTool, TurnDetection};
use crate::tenant::TenantConfig;
use crate::tools::ToolRegistry;
use call::JambonzCall;
use llm::{LlmSpec, VendorPlan};
use wire::Outbound;

/// Why switchboard will not start with this jambonz configuration.
#[derive(Debug, thiserror::Error)]
pub enum JambonzError {
    /// A tenant's `session:new` ack is larger than jambonz accepts.
    #[error(
        "jambonz: tenant {tenant}: the llm verb is {bytes} bytes, over jambonz.max_payload_bytes \
         = {max} (jambonz drops larger messages, JAMBONES_WS_MAX_PAYLOAD); shorten the tenant's \
         instructions, company brief or tools (allowed_tools), or raise the limit to match jambonz"
    )]
    PayloadTooLarge {
        tenant: String,
        bytes: usize,
        max: usize,
    },
}

/// The `llm` verb's content for one call of `tenant`: its instructions (already
/// rendered for the caller and time), voice (tenant, else the plan's default),
/// tools, and `[model]`'s transcription and turn detection.
pub fn call_spec(
    config: &Config,
    plan: &VendorPlan,
    tenant: &TenantConfig,
    instructions: String,
    tools: Vec<FunctionTool>,
    eagerness: Option<Eagerness>,
) -> LlmSpec {
    let model = &config.model;
    LlmSpec {
        instructions,
        voice: tenant.voice.clone().or_else(|| plan.default_voice.clone()),
        tools,
        transcription_model: Some(model.transcription_model.clone()).filter(|m| !m.is_empty()),
        turn_detection: TurnDetection {
            threshold: model.vad_threshold,
            prefix_padding_ms: model.vad_prefix_padding_ms,
            silence_duration_ms: model.vad_silence_ms,
            eagerness,
        },
    }
}

/// A caller number of the longest E.164 length, for worst-case sizes.
const LONGEST_CALLER: &str = "+999999999999999";

/// The largest `session:new` ack `tenant` can produce: instructions rendered on a
/// Wednesday for the longest caller number, with the after-hours text, and every
/// tool the tenant may call.
fn worst_case_ack(
    config: &Config,
    plan: &VendorPlan,
    tenant: &TenantConfig,
    tools: &ToolRegistry,
) -> String {
    let wednesday: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 9, 30, 12, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let mut instructions = tenant.instructions(Some(LONGEST_CALLER), wednesday);
    if !instructions.contains("AFTER HOURS: ") {
        instructions.push_str("AFTER HOURS: ");
        instructions.push_str(&tenant.after_hours_instructions);
        instructions.push('\n');
    }
    let spec = call_spec(
        config,
        plan,
        tenant,
        instructions,
        tools.schemas_for(tenant),
        None,
    );
    Outbound::ack(
        "auuHioXGktYh2ZFYxf3hAA",
        Some(vec![llm::llm_verb(plan, &spec)]),
    )
    .to_json()
}

/// Start-up check of every tenant's jambonz calls: the lines to report (tenants
/// whose provider jambonz has no vendor for, with the fix — a missing key is in
/// [`Config::missing_model_keys`]; OpenAI voice names set for Ultravox),
/// and an error when a tenant's `session:new` ack exceeds
/// `jambonz.max_payload_bytes` (0 = no size check). A tenant without a key is
/// sized with a placeholder key of the usual length.
///
/// Errors: [`JambonzError::PayloadTooLarge`] naming the first tenant over the limit.
pub fn preflight(config: &Config, tools: &ToolRegistry) -> Result<Vec<String>, JambonzError> {
    let mut report = Vec::new();
    for tenant in &config.tenants {
        let plan = match llm::plan(config, tenant) {
            Ok(plan) => plan,
            Err(refusal) => {
                // A missing key is in the start-up key report already.
                if matches!(refusal, llm::Refusal::NoVendor { .. }) {
                    report.push(format!(
                        "jambonz: tenant {} ({}): {refusal}; its jambonz calls are answered \
                     with a short apology and hung up",
                        tenant.id, tenant.name
                    ));
                }
                match llm::plan_with_key(config, tenant, &"k".repeat(164)) {
                    Some(plan) => plan,
                    None => continue,
                }
            }
        };
        if plan.vendor == llm::Vendor::Ultravox {
            if let Some(voice) = tenant.voice.as_deref().filter(|v| llm::is_openai_voice(v)) {
                report.push(format!(
                    "jambonz: tenant {}: voice {voice:?} is an OpenAI voice; Ultravox will \
                     refuse it (set an Ultravox voice such as \"Mark\")",
                    tenant.id
                ));
            }
        }
        let max = config.jambonz.max_payload_bytes;
        if max > 0 {
            let bytes = worst_case_ack(config, &plan, tenant, tools).len();
            if bytes > max {
                return Err(JambonzError::PayloadTooLarge {
                    tenant: tenant.id.clone(),
                    bytes,
                    max,
                });
            }
        }
    }
    Ok(report)
}

/// Live jambonz calls by jambonz `call_sid`, so a `session:reconnect` on a new
/// socket finds its call. Touched at session start, reconnect and end only.
#[derive(Default)]
pub struct JambonzCalls {
    by_sid: Mutex<HashMap<String, Addr<JambonzCall>>>,
}

impl JambonzCalls {
    /// Registers a live call.
    pub fn insert(&self, call_sid: &str, addr: Addr<JambonzCall>) {
        if let Ok(mut map) = self.by_sid.lock() {
            map.insert(call_sid.to_string(), addr);
        }
    }

    /// The live call with this `call_sid`, if any.
    pub fn get(&self, call_sid: &str) -> Option<Addr<JambonzCall>> {
        self.by_sid
            .lock()
            .ok()
            .and_then(|map| map.get(call_sid).cloned())
    }

    /// Forgets a call that ended.
    pub fn remove(&self, call_sid: &str) {
        if let Ok(mut map) = self.by_sid.lock() {
            map.remove(call_sid);
        }
    }
}
