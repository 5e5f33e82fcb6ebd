//! `ToolActor`: one per call (a child of the call actor, or of the jambonz call);
//! runs the model's tool calls with [`execute_tool`] off the call's audio path and
//! answers each with a [`ToolResult`], which the call records through its ledger.

use std::sync::Arc;

use actix::prelude::*;

use crate::actor_messages::{ToolCall, ToolResult};
use crate::tools::env::ToolEnv;
use crate::tools::{execute_tool, ToolContext};

/// Runs one call's tool calls and answers each with a [`ToolResult`] (recorded by
/// the call).
pub struct ToolActor {
    ctx: ToolContext,
    env: Arc<ToolEnv>,
    reply_to: Recipient<ToolResult>,
}

impl ToolActor {
    /// Starts the tool runner of the call `ledger` keeps (its tenant, caller
    /// and carrier); results go to `reply_to`, the call.
    pub fn start_for(
        ledger: &crate::call_tree::call::ledger::CallLedger,
        env: Arc<ToolEnv>,
        reply_to: Recipient<ToolResult>,
    ) -> Addr<ToolActor> {
        ToolActor {
            ctx: ledger.tool_context(),
            env,
            reply_to,
        }
        .start()
    }
}

impl Actor for ToolActor {
    type Context = Context<Self>;
}

impl Handler<ToolCall> for ToolActor {
    type Result = ();

    fn handle(&mut self, call: ToolCall, ctx: &mut Context<Self>) {
        let env = self.env.clone();
        let mut tool_ctx = self.ctx.clone();
        tool_ctx.conversation = call.conversation;
        let reply_to = self.reply_to.clone();
        let fut = async move {
            let run = execute_tool(env, tool_ctx, &call.name, &call.arguments).await;
            reply_to.do_send(ToolResult {
                call_id: call.call_id,
                name: call.name,
                arguments: call.arguments,
                output: run.output,
                error: run.error,
                is_error: run.is_error,
                action: run.action,
                duration: run.duration,
            });
        };
        ctx.spawn(fut.into_actor(self));
    }
}
