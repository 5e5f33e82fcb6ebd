//! `getNextResponseFromSupervisor`: the chat-supervisor pattern. The voice model
//! hands a hard turn to a text model (`[text_model]`, OpenAI-compatible chat
//! completions) that sees the tenant's instructions, the conversation so far and
//! the receptionist's data tools, runs its own tool loop (bounded by
//! `text_model.max_iterations`), and returns a short sentence for the voice model
//! to say.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::chat::{ChatError, ChatMessage};
use crate::config::Config;
use crate::model::session::Role;
use crate::tools::chat_loop::run_tool_loop;
use crate::tools::env::ToolEnv;
use crate::tools::{args, Tool, ToolContext, ToolError, ToolOutcome};

/// The tool's name.
pub const NAME: &str = "getNextResponseFromSupervisor";

/// Tools the supervisor never gets: itself, and call control (the voice model
/// alone decides to hang up or transfer).
const WITHHELD: &[&str] = &[NAME, "hangUp", "transferToOnCall"];

/// The `getNextResponseFromSupervisor` tool.
pub struct ChatSupervisor;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    relevant_context_from_last_user_message: String,
}

impl Tool for ChatSupervisor {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> &str {
        "Ask the supervisor what to say next when a request needs checking records, policies or several steps. Say its answer to the caller."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "relevantContextFromLastUserMessage": {
                    "type": "string",
                    "description": "The key facts from the caller's last message"
                }
            },
            "required": ["relevantContextFromLastUserMessage"]
        })
    }

    /// The whole loop gets `text_model.timeout_secs`.
    fn timeout(&self, config: &Config) -> Duration {
        Duration::from_secs(config.text_model.timeout_secs)
    }

    fn call(
        &self,
        ctx: ToolContext,
        args: Value,
        env: Arc<ToolEnv>,
    ) -> LocalBoxFuture<'static, Result<ToolOutcome, ToolError>> {
        Box::pin(async move {
            let a: Args = args::parse(args)?;
            let context = args::text(
                "relevantContextFromLastUserMessage",
                &a.relevant_context_from_last_user_message,
                2000,
            )?;
            let mut messages = vec![ChatMessage::System(format!(
                "You supervise a phone receptionist. Use the tools to check facts, then answer with \
                 one or two short sentences the receptionist will say to the caller, in plain words.\n{}",
                ctx.tenant.instructions(ctx.caller.as_deref(), Utc::now())
            ))];
            for (role, text) in &ctx.conversation {
                match role {
                    Role::User => messages.push(ChatMessage::User(text.clone())),
                    Role::Assistant => messages.push(ChatMessage::Assistant(text.clone())),
                    Role::System => {}
                }
            }
            messages.push(ChatMessage::User(format!(
                "[receptionist asks for guidance] Relevant context from the caller's last message: {context}"
            )));
            let names: Vec<String> = env
                .registry
                .names_for(&ctx.tenant)
                .into_iter()
                .filter(|n| !WITHHELD.contains(&n.as_str()))
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let answer = run_tool_loop(env.clone(), ctx, messages, &names)
                .await
                .map_err(|e| match e {
                    ChatError::NoApiKey => ToolError::Unavailable(
                        "the supervisor is not available; help the caller yourself or take a message"
                            .into(),
                    ),
                    other => ToolError::Unavailable(format!("the supervisor could not answer: {other}")),
                })?;
            Ok(ToolOutcome::output(json!({ "say": answer })))
        })
    }
}
