//! `[text_model]`: the chat-completions model behind text replies and the
//! chat-supervisor tool, with the defaults beside the struct.

use serde::{Deserialize, Serialize};

/// `[text_model]`: the OpenAI-compatible chat-completions model behind the
/// chat-supervisor tool and text replies (docs/openai-chat.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextModelConfig {
    /// API base URL; requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// Model id (`gpt-4.1-mini`).
    pub model: String,
    /// Chat requests per tool loop before it stops with an error.
    pub max_iterations: u32,
    /// Seconds one chat request may take; also the supervisor tool's whole budget.
    pub timeout_secs: u64,
    /// Bearer key (env `SWITCHBOARD_TEXT_MODEL__API_KEY`).
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
}

impl Default for TextModelConfig {
    fn default() -> Self {
        TextModelConfig {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4.1-mini".into(),
            max_iterations: 10,
            timeout_secs: 20,
            api_key: None,
        }
    }
}
