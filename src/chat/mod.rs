//! Text models: an OpenAI-compatible Chat Completions client ([`ChatClient`]): one
//! request, one answer. The tool loop over it (tools run, answers fed back) lives
//! with the tools, in `crate::tools::chat_loop`; this module knows no tools.
//! Wire format: [`wire`], docs/openai-chat.md.
//! HTTP goes through `awc`, so the client runs on any actix arbiter.

pub mod wire;

use std::time::Duration;

use crate::config::TextModelConfig;
use wire::{ChatRequest, ChatResponse, ResponseMessage, WireMessage, WireTool};

/// Largest chat response body read, bytes.
const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Characters of an error response body kept in [`ChatError::Status`].
const MAX_ERROR_BODY_CHARS: usize = 500;

/// Why a chat request or tool loop failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatError {
    /// No `SWITCHBOARD_TEXT_MODEL__API_KEY` is set.
    #[error("no text model API key (set SWITCHBOARD_TEXT_MODEL__API_KEY)")]
    NoApiKey,
    /// Connecting, sending or reading failed, or the request timed out.
    #[error("text model request failed: {0}")]
    Http(String),
    /// The endpoint answered with a non-2xx status; `body` is its start.
    #[error("text model answered {status}: {body}")]
    Status { status: u16, body: String },
    /// The body is not a chat completion, or has neither text nor tool calls.
    #[error("unexpected text model response: {0}")]
    BadResponse(String),
    /// The model still asked for tools after this many requests.
    #[error("the text model did not answer within {0} requests")]
    IterationLimit(u32),
}

/// One message of a conversation sent to the text model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatMessage {
    /// Instructions (`role: system`).
    System(String),
    /// What the customer said or wrote (`role: user`).
    User(String),
    /// What the receptionist said earlier (`role: assistant`).
    Assistant(String),
}

impl From<ChatMessage> for WireMessage {
    fn from(m: ChatMessage) -> Self {
        match m {
            ChatMessage::System(content) => WireMessage::System { content },
            ChatMessage::User(content) => WireMessage::User { content },
            ChatMessage::Assistant(content) => WireMessage::Assistant {
                content: Some(content),
                tool_calls: Vec::new(),
            },
        }
    }
}

/// An OpenAI-compatible chat-completions client, built from `[text_model]`.
/// Cheap to share (`Send + Sync`); each request builds its `awc` client on the
/// calling arbiter.
#[derive(Clone)]
pub struct ChatClient {
    endpoint: String,
    model: String,
    api_key: Option<String>,
    max_iterations: u32,
    timeout: Duration,
    tls: Option<openssl::ssl::SslConnector>,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("max_iterations", &self.max_iterations)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ChatClient {
    /// A client for `{base_url}/chat/completions`; `tls` is used for `https://`.
    pub fn new(config: &TextModelConfig, tls: Option<openssl::ssl::SslConnector>) -> Self {
        ChatClient {
            endpoint: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            model: config.model.clone(),
            api_key: config.api_key.clone().filter(|k| !k.is_empty()),
            max_iterations: config.max_iterations,
            timeout: Duration::from_secs(config.timeout_secs),
            tls,
        }
    }

    /// Whether an API key is configured (without one every request fails with
    /// [`ChatError::NoApiKey`]).
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// Per-request time limit (`text_model.timeout_secs`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One chat completion: `messages` and `tools` in, the first choice's message out.
    ///
    /// Errors: [`ChatError::NoApiKey`], [`ChatError::Http`] (including timeout),
    /// [`ChatError::Status`] for non-2xx, [`ChatError::BadResponse`] for a body
    /// that is not a completion with at least one choice.
    pub async fn complete(
        &self,
        messages: &[WireMessage],
        tools: &[WireTool],
    ) -> Result<ResponseMessage, ChatError> {
        let api_key = self.api_key.as_deref().ok_or(ChatError::NoApiKey)?;
        let client = crate::http_client::shared(self.tls.as_ref(), self.timeout);
        let body = ChatRequest {
            model: &self.model,
            messages,
            tools,
        };
        let mut resp = client
            .post(&self.endpoint)
            .bearer_auth(api_key)
            .send_json(&body)
            .await
            .map_err(|e| ChatError::Http(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .body()
            .limit(MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| ChatError::Http(e.to_string()))?;
        if !status.is_success() {
            return Err(ChatError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(MAX_ERROR_BODY_CHARS)
                    .collect(),
            });
        }
        let parsed: ChatResponse =
            serde_json::from_slice(&bytes).map_err(|e| ChatError::BadResponse(e.to_string()))?;
        parsed
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
            .ok_or_else(|| ChatError::BadResponse("no choices".into()))
    }

    /// Requests one tool loop may make (`text_model.max_iterations`).
    pub fn max_iterations(&self) -> u32 {
        self.max_iterations
    }
}
