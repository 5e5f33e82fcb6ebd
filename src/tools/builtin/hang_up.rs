//! `hangUp`: ends the call after the model's goodbye has played (the call waits for
//! the carrier's mark echo), recording the reason.

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::actor_messages::CallAction;
use crate::tools::env::ToolEnv;
use crate::tools::{args, Tool, ToolContext, ToolError, ToolOutcome};

/// The `hangUp` tool.
pub struct HangUp;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    reason: String,
}

impl Tool for HangUp {
    fn name(&self) -> &str {
        "hangUp"
    }

    fn description(&self) -> &str {
        "End the call after saying goodbye. Give a short reason (e.g. 'caller finished')."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"reason": {"type": "string"}},
            "required": ["reason"]
        })
    }

    fn call(
        &self,
        ctx: ToolContext,
        args: Value,
        _env: Arc<ToolEnv>,
    ) -> LocalBoxFuture<'static, Result<ToolOutcome, ToolError>> {
        Box::pin(async move {
            let a: Args = args::parse(args)?;
            let reason = args::text("reason", &a.reason, 200)?;
            if ctx.call_id.is_none() {
                return Err(ToolError::Refused("there is no call to hang up".into()));
            }
            Ok(ToolOutcome {
                output: json!({"ok": true, "say": "Say a short goodbye now; the call ends after it."}),
                action: Some(CallAction::HangUp { reason }),
            })
        })
    }
}
