//! `takeMessage`: records a message for the business (name, callback number,
//! message, urgency) in `caller_messages`. Urgency is stored as `low`, `normal` or
//! `urgent`; the words receptionist tools and prompts commonly use (`low`,
//! `medium`, `high`) are accepted too and stored normalised.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use diesel::Connection;

use crate::notify::{self, OwnerEvent};
use crate::store::caller_messages;
use crate::store::models::CallerMessageRow;
use crate::tools::builtin::with_conn;
use crate::tools::env::ToolEnv;
use crate::tools::{args, Tool, ToolContext, ToolError, ToolOutcome};

/// The `takeMessage` tool.
pub struct TakeMessage;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    caller_name: String,
    caller_phone: Option<String>,
    message: String,
    #[serde(default = "normal")]
    urgency: String,
}

fn normal() -> String {
    "normal".into()
}

/// The stored urgency for `word` (case-insensitive): `low`; `normal` or `medium`
/// → `normal`; `urgent` or `high` → `urgent`. `None` for anything else.
pub fn normalise_urgency(word: &str) -> Option<&'static str> {
    match word.trim().to_ascii_lowercase().as_str() {
        "low" => Some("low"),
        "normal" | "medium" => Some("normal"),
        "urgent" | "high" => Some("urgent"),
        _ => None,
    }
}

impl Tool for TakeMessage {
    fn name(&self) -> &str {
        "takeMessage"
    }

    fn description(&self) -> &str {
        "Take a message for the business: the caller's name, callback number, the message, and how urgent it is."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "callerName": {"type": "string", "description": "Caller's full name"},
                "callerPhone": {"type": "string", "description": "Callback number in E.164, e.g. +15550100001; omit to use the calling number"},
                "message": {"type": "string", "description": "The message, in the caller's words"},
                "urgency": {
                    "type": "string",
                    "enum": ["low", "normal", "urgent", "medium", "high"],
                    "description": "How soon the business should respond; medium = normal, high = urgent"
                }
            },
            "required": ["callerName", "message"]
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
            let name = args::text("callerName", &a.caller_name, 200)?;
            let message = args::text("message", &a.message, 2000)?;
            let phone = match a.caller_phone.as_deref().or(ctx.caller.as_deref()) {
                Some(p) => Some(args::e164("callerPhone", p)?),
                None => None,
            };
            let Some(urgency) = normalise_urgency(&a.urgency) else {
                return Err(ToolError::InvalidArguments(format!(
                    "urgency: {:?} is not one of low, normal, urgent (or medium, high)",
                    a.urgency
                )));
            };
            let row = CallerMessageRow {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: ctx.tenant.id.clone(),
                call_id: ctx.call_id.clone(),
                kind: "message".into(),
                caller_name: name,
                caller_phone: phone,
                message: ctx.tenant.redacted(&message).into_owned(),
                urgency: urgency.to_string(),
                created_at: Utc::now().naive_utc(),
                status: "new".into(),
                handled_by: None,
                handled_at: None,
            };
            let id = row.id.clone();
            let tenant = ctx.tenant.clone();
            with_conn(&env.pool, move |conn| {
                conn.transaction(|conn| {
                    caller_messages::insert(conn, &row)?;
                    notify::enqueue(conn, &tenant, &OwnerEvent::MessageTaken(row), Utc::now())
                })
            })
            .await?;
            Ok(ToolOutcome::output(json!({
                "saved": true,
                "messageId": id,
                "say": "The message is saved; someone from the office will call back."
            })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_urgency;

    #[test]
    fn urgency_words_of_other_tools_are_stored_normalised() {
        assert_eq!(normalise_urgency("low"), Some("low"));
        assert_eq!(normalise_urgency("medium"), Some("normal"));
        assert_eq!(normalise_urgency("Normal"), Some("normal"));
        assert_eq!(normalise_urgency("HIGH"), Some("urgent"));
        assert_eq!(normalise_urgency("urgent"), Some("urgent"));
        assert_eq!(normalise_urgency("asap"), None);
    }
}
