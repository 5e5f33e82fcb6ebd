//! Text models: an OpenAI-compatible Chat Completions client ([`ChatClient`])
//! with a tool loop, used by the SMS/email text agent. The model sees the
//! messages and the named tools' JSON schemas; each tool call it makes runs
//! through [`crate::tools::run_tool`] with the caller's [`ToolContext`] and is
//! recorded in `tool_invocations`; the loop ends at a text answer or after
//! `text_model.max_iterations` requests. Wire format: [`wire`] (models.md §6.1).

pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::app::Services;
use crate::config::TextModelConfig;
use crate::store::writer::RecordToolInvocation;
use crate::tools::{run_tool, ToolContext};
use wire::{ChatRequest, ChatResponse, WireFunction, WireMessage, WireTool};

/// Largest chat response body read, bytes.
const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

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

/// One message handed to [`ChatClient::run_tool_loop`].
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

/// An OpenAI-compatible chat-completions client built from `[text_model]`.
#[derive(Clone)]
pub struct ChatClient {
    endpoint: String,
    model: String,
    api_key: Option<String>,
    max_iterations: u32,
    timeout: Duration,
}

impl ChatClient {
    /// A client for `POST {base_url}/chat/completions`.
    pub fn new(config: &TextModelConfig) -> Self {
        ChatClient {
            endpoint: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            model: config.model.clone(),
            api_key: config.api_key.clone(),
            max_iterations: config.max_iterations,
            timeout: Duration::from_secs(config.timeout_secs),
        }
    }

    /// Whether a key is configured.
    pub fn has_key(&self) -> bool {
        self.api_key.is_some()
    }

    async fn complete(&self, key: &str, request: &ChatRequest) -> Result<ChatResponse, ChatError> {
        let mut resp = awc::Client::builder()
            .timeout(self.timeout)
            .finish()
            .post(&self.endpoint)
            .bearer_auth(key)
            .send_json(request)
            .await
            .map_err(|e| ChatError::Http(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .body()
            .limit(MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| ChatError::Http(e.to_string()))?;
        if !status.is_success() {
            return Err(ChatError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(500).collect(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ChatError::BadResponse(e.to_string()))
    }

    /// Runs the tool loop: sends `messages` with the schemas of `tool_names` (those
    /// registered and allowed for `ctx.tenant`), runs every tool call the model
    /// makes (recorded in `tool_invocations`), and returns the model's final text.
    ///
    /// Errors: [`ChatError::NoApiKey`], [`ChatError::Http`], [`ChatError::Status`],
    /// [`ChatError::BadResponse`], [`ChatError::IterationLimit`] after
    /// `max_iterations` requests that all asked for tools.
    pub async fn run_tool_loop(
        &self,
        services: Arc<Services>,
        ctx: ToolContext,
        messages: Vec<ChatMessage>,
        tool_names: &[&str],
    ) -> Result<String, ChatError> {
        let key = self.api_key.as_deref().ok_or(ChatError::NoApiKey)?;
        let tools: Vec<WireTool> = tool_names
            .iter()
            .filter_map(|n| services.tools.get(n, &ctx.tenant))
            .map(|t| WireTool {
                kind: "function",
                function: WireFunction {
                    name: t.name().to_owned(),
                    description: t.description().to_owned(),
                    parameters: t.parameters(),
                },
            })
            .collect();
        let mut request = ChatRequest {
            model: self.model.clone(),
            messages: messages.into_iter().map(WireMessage::from).collect(),
            tool_choice: (!tools.is_empty()).then_some("auto"),
            tools,
        };
        for _ in 0..self.max_iterations {
            let response = self.complete(key, &request).await?;
            let choice = response
                .choices
                .into_iter()
                .next()
                .ok_or_else(|| ChatError::BadResponse("no choices".into()))?;
            let message = choice.message;
            if message.tool_calls.is_empty() {
                return message
                    .content
                    .ok_or_else(|| ChatError::BadResponse("neither content nor tool_calls".into()));
            }
            let calls = message.tool_calls.clone();
            request.messages.push(WireMessage::Assistant {
                content: message.content,
                tool_calls: message.tool_calls,
            });
            for call in calls {
                let (result, duration) = run_tool(
                    services.clone(),
                    ctx.clone(),
                    &call.function.name,
                    &call.function.arguments,
                )
                .await;
                let (output, error) = match result {
                    Ok(outcome) => (outcome.output.to_string(), None),
                    Err(e) => (e.to_output().to_string(), Some(e.to_string())),
                };
                services.store.do_send(RecordToolInvocation {
                    id: uuid::Uuid::new_v4().to_string(),
                    call_id: ctx.call_id.clone(),
                    tenant_id: Some(ctx.tenant.id.clone()),
                    tool_call_id: call.id.clone(),
                    name: call.function.name.clone(),
                    arguments: call.function.arguments.clone(),
                    result: error.is_none().then(|| output.clone()),
                    error,
                    duration_ms: duration.as_millis() as i64,
                    created_at: Utc::now().naive_utc(),
                });
                request.messages.push(WireMessage::Tool {
                    tool_call_id: call.id,
                    content: output,
                });
            }
        }
        Err(ChatError::IterationLimit(self.max_iterations))
    }
}
