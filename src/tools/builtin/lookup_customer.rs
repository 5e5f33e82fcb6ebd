//! `lookupCustomer`: finds the tenant's customer record by phone number.

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::customers;
use crate::tools::builtin::with_conn;
use crate::tools::env::ToolEnv;
use crate::tools::{args, Tool, ToolContext, ToolError, ToolOutcome};

/// The `lookupCustomer` tool.
pub struct LookupCustomer;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    phone: String,
}

impl Tool for LookupCustomer {
    fn name(&self) -> &str {
        "lookupCustomer"
    }

    fn description(&self) -> &str {
        "Look up an existing customer of this business by phone number (E.164)."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"phone": {"type": "string", "description": "E.164 number, e.g. +15550100001"}},
            "required": ["phone"]
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
            let phone = args::e164("phone", &a.phone)?;
            let tenant = ctx.tenant.id.clone();
            let found = with_conn(&env.pool, move |conn| {
                customers::find_by_phone(conn, &tenant, &phone)
            })
            .await?;
            Ok(ToolOutcome::output(match found {
                Some(c) => {
                    json!({"found": true, "customerId": c.id, "name": c.name, "phone": c.phone, "email": c.email})
                }
                None => json!({"found": false}),
            }))
        })
    }
}
