//! `collectCallerInfo`: records who called, how to reach them and what about, as
//! a `callback_info` row in `caller_messages` (after hours, or when nobody can
//! help right now).

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

/// The `collectCallerInfo` tool.
pub struct CollectCallerInfo;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    name: String,
    callback_number: String,
    concern: String,
}

impl Tool for CollectCallerInfo {
    fn name(&self) -> &str {
        "collectCallerInfo"
    }

    fn description(&self) -> &str {
        "Record the caller's name, callback number and concern so the business can call back."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Caller's full name"},
                "callbackNumber": {"type": "string", "description": "E.164 number, e.g. +15550100001"},
                "concern": {"type": "string", "description": "What the caller needs, in a sentence"}
            },
            "required": ["name", "callbackNumber", "concern"]
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
            let row = CallerMessageRow {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: ctx.tenant.id.clone(),
                call_id: ctx.call_id.clone(),
                kind: "callback_info".into(),
                caller_name: args::text("name", &a.name, 200)?,
                caller_phone: Some(args::e164("callbackNumber", &a.callback_number)?),
                message: ctx
                    .tenant
                    .redacted(&args::text("concern", &a.concern, 2000)?)
                    .into_owned(),
                urgency: "normal".into(),
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
                "callbackId": id,
                "say": "The details are noted; the office will call back during business hours."
            })))
        })
    }
}
