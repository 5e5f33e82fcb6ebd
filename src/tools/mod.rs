//! Tools the voice model can call for the caller's tenant: the registry and its
//! JSON schemas ([`registry`]), the built-in tools ([`builtin`]), and the per-call
//! runner ([`execute_tool`]) that gives each run a timeout and panic isolation and
//! returns a structured result — a failing or slow tool becomes `{"error": …}` for
//! the model, never a stalled call. A call's `ToolActor` (in the call tree) uses it. Every invocation is recorded
//! by [`record_tool_run`]: for calls through the call's ledger when the result
//! arrives, for text channels by [`run_tool`].

pub mod args;
pub mod builtin;
pub mod chat_loop;
pub mod chat_supervisor;
pub mod env;
pub mod identity;
pub mod mcp;
pub mod registry;
pub mod schedule;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::FutureExt;

use crate::actor_messages::CallAction;
use crate::events::CallEvent;
use crate::lifecycle::Carrier;
use crate::model::session::Role;
use crate::store::writer::RecordToolInvocation;
use crate::tenant::TenantConfig;
use crate::tools::env::ToolEnv;
pub use registry::{Tool, ToolError, ToolOutcome, ToolRegistry};

/// Who a tool acts for: the tenant, the caller, and the call.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// switchboard call id (None for text channels).
    pub call_id: Option<String>,
    /// Carrier call id (Twilio `CA…`).
    pub call_sid: Option<String>,
    pub tenant: Arc<TenantConfig>,
    /// Caller's number (E.164) as the carrier reported it.
    pub caller: Option<String>,
    /// The carrier of a call; `None` for text channels (SMS, email).
    pub carrier: Option<Carrier>,
    /// The conversation so far (caller and receptionist lines, oldest first), as
    /// of the tool call; the chat supervisor reads it. Empty for text channels.
    pub conversation: Vec<(Role, String)>,
}

/// One finished tool run, as the model and the call see it.
#[derive(Debug, Clone)]
pub struct ToolRun {
    /// JSON text for the model (`{"error": …}` on failure).
    pub output: String,
    /// What went wrong, for the record (`None` on success).
    pub error: Option<String>,
    pub is_error: bool,
    /// What the call should do next (hang up, transfer), on success only.
    pub action: Option<CallAction>,
    /// Wall time of the run.
    pub duration: Duration,
}

/// Runs `name` with `arguments` (JSON text, as the model sent it) for `ctx` with
/// [`execute_tool`], then records it with [`record_tool_run`]: the text channels'
/// tool loop. Never fails: errors become `{"error": …}` outputs.
pub async fn run_tool(
    env: Arc<ToolEnv>,
    ctx: ToolContext,
    tool_call_id: &str,
    name: &str,
    arguments: &str,
) -> ToolRun {
    let run = execute_tool(env.clone(), ctx.clone(), name, arguments).await;
    record_tool_run(&env, &ctx, tool_call_id, name, arguments, &run);
    run
}

/// Runs `name` with `arguments` (JSON text, as the model sent it) for `ctx`, with
/// the tool's timeout (`model.tool_timeout_secs` unless the tool sets its own) and
/// panic isolation; records nothing (a call's ledger records its tool runs).
/// Never fails: errors become `{"error": …}` outputs.
pub async fn execute_tool(
    env: Arc<ToolEnv>,
    ctx: ToolContext,
    name: &str,
    arguments: &str,
) -> ToolRun {
    let started = Instant::now();
    let result = match env.registry.get(name, &ctx.tenant) {
        None => Err(ToolError::UnknownTool(name.to_string())),
        Some(tool) => match serde_json::from_str::<serde_json::Value>(arguments) {
            Err(e) => Err(ToolError::InvalidArguments(format!(
                "arguments are not valid JSON: {e}"
            ))),
            Ok(args) => {
                let timeout = tool.timeout(&env.config);
                let fut =
                    AssertUnwindSafe(tool.call(ctx.clone(), args, env.clone())).catch_unwind();
                match tokio::time::timeout(timeout, fut).await {
                    Err(_) => Err(ToolError::Timeout(timeout.as_secs())),
                    Ok(Err(_)) => Err(ToolError::Panicked),
                    Ok(Ok(result)) => result,
                }
            }
        },
    };
    let duration = started.elapsed();
    let (output, error, action) = match result {
        Ok(outcome) => (outcome.output.to_string(), None, outcome.action),
        Err(e) => {
            log::warn!(
                "call {}: tool {name} failed: {e}",
                ctx.call_id.as_deref().unwrap_or("-")
            );
            (e.to_output().to_string(), Some(e.to_string()), None)
        }
    };
    let is_error = error.is_some();
    ToolRun {
        output,
        error,
        is_error,
        action,
        duration,
    }
}

/// Records one tool run: a `tool_invocations` row (call, tenant, `tool_call_id`,
/// name, arguments, result or error, duration), the `tool_calls_total` metric,
/// and, for a call, a `tool_call` event on its live feed.
pub fn record_tool_run(
    env: &ToolEnv,
    ctx: &ToolContext,
    tool_call_id: &str,
    name: &str,
    arguments: &str,
    run: &ToolRun,
) {
    let ToolRun {
        output,
        error,
        is_error,
        duration,
        ..
    } = run;
    let is_error = *is_error;
    env.metrics
        .tool_calls
        .with_label_values(&[
            metric_tool_name(&env.registry, name),
            if is_error { "error" } else { "ok" },
        ])
        .inc();
    env.store.do_send(RecordToolInvocation {
        id: uuid::Uuid::new_v4().to_string(),
        call_id: ctx.call_id.clone(),
        tenant_id: Some(ctx.tenant.id.clone()),
        tool_call_id: tool_call_id.to_string(),
        name: name.to_string(),
        arguments: ctx.tenant.redacted(arguments).into_owned(),
        result: (!is_error).then(|| ctx.tenant.redacted(output).into_owned()),
        error: error.clone(),
        duration_ms: duration.as_millis() as i64,
        created_at: Utc::now().naive_utc(),
    });
    if let Some(call_id) = ctx.call_id.clone() {
        env.events.publish(
            &ctx.tenant.id,
            CallEvent::ToolCall {
                call_id,
                call_sid: ctx.call_sid.clone(),
                name: name.to_string(),
                arguments: arguments.to_string(),
                result: (!is_error).then(|| output.clone()),
                error: error.clone(),
                duration_ms: duration.as_millis() as u64,
            },
        );
    }
}

/// Tool names are model-chosen; only registered names become metric labels.
fn metric_tool_name<'a>(registry: &'a ToolRegistry, name: &str) -> &'a str {
    registry.static_name(name).unwrap_or("unknown")
}
