//! The text model's tool loop: the chat-supervisor tool
//! (`getNextResponseFromSupervisor`) and the SMS/email agent send a conversation
//! with the schemas of the tools the tenant may use; every tool call the model
//! makes runs through [`crate::tools::run_tool`] (so it is stored in
//! `tool_invocations`), and the loop ends at a final answer or at
//! `text_model.max_iterations` requests. Wire format: docs/openai-chat.md.

use std::sync::Arc;

use crate::chat::wire::{WireMessage, WireTool};
use crate::chat::{ChatError, ChatMessage};
use crate::tools::env::ToolEnv;
use crate::tools::{run_tool, ToolContext, ToolError};

/// Sends `messages` with the schemas of `tool_names` (those the tenant may use),
/// runs each requested tool, appends the assistant's `tool_calls` and one `tool`
/// message per call, and asks again — until the model answers with text, which is
/// returned trimmed. A tool not in `tool_names` gets an `{"error": …}` output.
///
/// Errors: those of [`crate::chat::ChatClient::complete`] (including
/// [`ChatError::NoApiKey`]), and [`ChatError::IterationLimit`] when
/// `text_model.max_iterations` requests all asked for tools.
pub async fn run_tool_loop(
    env: Arc<ToolEnv>,
    ctx: ToolContext,
    messages: Vec<ChatMessage>,
    tool_names: &[&str],
) -> Result<String, ChatError> {
    if !env.chat.has_api_key() {
        return Err(ChatError::NoApiKey);
    }
    let tools: Vec<WireTool> = tool_names
        .iter()
        .filter_map(|name| env.registry.function(name, &ctx.tenant))
        .map(|f| WireTool::function(f.name, f.description, f.parameters))
        .collect();
    let mut wire: Vec<WireMessage> = messages.into_iter().map(WireMessage::from).collect();
    let max_iterations = env.chat.max_iterations();
    for _ in 0..max_iterations {
        let reply = env.chat.complete(&wire, &tools).await?;
        if reply.tool_calls.is_empty() {
            return reply
                .content
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ChatError::BadResponse("neither text nor tool calls".into()));
        }
        wire.push(WireMessage::Assistant {
            content: reply.content.clone(),
            tool_calls: reply.tool_calls.clone(),
        });
        for call in reply.tool_calls {
            let name = call.function.name.as_str();
            let output = if tools.iter().any(|t| t.function.name == name) {
                run_tool(
                    env.clone(),
                    ctx.clone(),
                    &call.id,
                    name,
                    &call.function.arguments,
                )
                .await
                .output
            } else {
                ToolError::UnknownTool(name.to_string())
                    .to_output()
                    .to_string()
            };
            wire.push(WireMessage::Tool {
                tool_call_id: call.id,
                content: output,
            });
        }
    }
    Err(ChatError::IterationLimit(max_iterations))
}
