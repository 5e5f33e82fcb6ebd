//! `transferToOnCall`: hands the caller to the tenant's on-call person. The tool
//! checks that a transfer is possible (Twilio call, REST credentials, an on-call
//! number) and tells the model to say a short hand-off line; the call then, once
//! that line has played, replaces the call's TwiML through the Twilio REST API
//! with `<Dial action="…/twiml/dial-action?call=…"><Number url="…/twiml/screen?call=…">`
//! (docs/twilio.md §Transfers), so the person answering hears who calls and
//! why and presses 1 to take the call; otherwise the caller comes back to the
//! receptionist.

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::actor_messages::CallAction;
use crate::lifecycle::Carrier;
use crate::tools::env::ToolEnv;
use crate::tools::{args, Tool, ToolContext, ToolError, ToolOutcome};

/// The `transferToOnCall` tool.
pub struct TransferToOnCall;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    reason: String,
}

/// A transfer webhook of call `call_id`: `{public base}{path}?call={call_id}`
/// (`/twiml/screen`, `/twiml/dial-action`).
pub fn transfer_hook_url(env: &ToolEnv, path: &str, call_id: &str) -> String {
    let query = serde_urlencoded::to_string([("call", call_id)]).unwrap_or_default();
    format!("{}{path}?{query}", env.public_base())
}

/// A transfer about to be made: the on-call number (E.164), the screening
/// URL (TwiML run on the on-call person's leg when they answer), the
/// dial's action URL (told how the dial ended), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPlan {
    pub number: String,
    pub screen_url: String,
    pub action_url: String,
    pub reason: String,
}

impl From<TransferPlan> for CallAction {
    fn from(plan: TransferPlan) -> CallAction {
        CallAction::Transfer {
            number: plan.number,
            screen_url: plan.screen_url,
            action_url: plan.action_url,
            reason: plan.reason,
        }
    }
}

/// The transfer of the call `ctx` describes to the tenant's first on-call
/// number, for `reason`: what the tool and an operator's
/// `POST /api/calls/{id}/transfer` both carry out.
///
/// # Errors
/// [`ToolError::Refused`] when the call is not a phone call (Twilio with a
/// CallSid, jambonz, or OpenAI SIP) or the tenant has no `transfer_numbers`;
/// [`ToolError::Unavailable`] on a Twilio call without REST credentials.
pub fn plan_transfer(
    env: &ToolEnv,
    ctx: &ToolContext,
    reason: String,
) -> Result<TransferPlan, ToolError> {
    let twilio_call = ctx.carrier == Some(Carrier::Twilio) && ctx.call_sid.is_some();
    let carrier_dials = matches!(ctx.carrier, Some(Carrier::Jambonz | Carrier::OpenAiSip));
    if !twilio_call && !carrier_dials {
        return Err(ToolError::Refused(
            "transfers are only possible on phone calls (Twilio, jambonz or OpenAI SIP)".into(),
        ));
    }
    let number = ctx
        .tenant
        .transfer_numbers
        .first()
        .cloned()
        .ok_or_else(|| {
            ToolError::Refused("no on-call number is set up; take a message instead".into())
        })?;
    let twilio = &env.config.twilio;
    if twilio_call
        && (twilio.account_sid.is_empty() || twilio.auth_token.as_deref().unwrap_or("").is_empty())
    {
        return Err(ToolError::Unavailable(
            "transfers are not set up (Twilio credentials missing); take a message instead".into(),
        ));
    }
    let call_id = ctx.call_id.as_deref().unwrap_or_default();
    Ok(TransferPlan {
        screen_url: transfer_hook_url(env, "/twiml/screen", call_id),
        action_url: transfer_hook_url(env, "/twiml/dial-action", call_id),
        number,
        reason,
    })
}

impl Tool for TransferToOnCall {
    fn name(&self) -> &str {
        "transferToOnCall"
    }

    fn description(&self) -> &str {
        "Transfer the caller to the on-call person (urgent matters only). Give the reason in a few words."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why, for the person answering"}},
            "required": ["reason"]
        })
    }

    fn call(
        &self,
        ctx: ToolContext,
        args: Value,
        env: Arc<ToolEnv>,
    ) -> LocalBoxFuture<'static, Result<ToolOutcome, ToolError>> {
        Box::pin(async move {
            let a: Args = args::parse(args)?;
            let reason = args::text("reason", &a.reason, 200)?;
            let plan = plan_transfer(&env, &ctx, reason)?;
            Ok(ToolOutcome {
                output: json!({
                    "transferring": true,
                    "say": "Tell the caller in one short sentence that you are connecting them to the on-call person now and to stay on the line."
                }),
                action: Some(plan.into()),
            })
        })
    }
}
