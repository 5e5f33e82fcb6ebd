//! `lookupCustomer`: finds the caller's own customer record — only the
//! verified caller's number ([`crate::tools::identity`]), and only what the
//! caller needs to hear (name, whether they are known; no email).

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::customers;
use crate::tools::builtin::with_conn;
use crate::tools::env::ToolEnv;
use crate::tools::{args, identity, Tool, ToolContext, ToolError, ToolOutcome};

/// The `lookupCustomer` tool.
pub struct LookupCustomer;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    phone: Option<String>,
}

impl Tool for LookupCustomer {
    fn name(&self) -> &str {
        "lookupCustomer"
    }

    fn description(&self) -> &str {
        "Look up whether the caller is an existing customer of this business, by the number they are calling from. Only the caller's own record can be looked up."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"phone": {"type": "string", "description": "The caller's own number (E.164); omit to use the number calling. Another number is refused."}}
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
            let phone = identity::caller_number(&ctx, "phone", a.phone.as_deref())?;
            let tenant = ctx.tenant.id.clone();
            let found = with_conn(&env.pool, move |conn| {
                customers::find_by_phone(conn, &tenant, &phone)
            })
            .await?;
            Ok(ToolOutcome::output(match found {
                Some(c) => {
                    json!({"found": true, "name": c.name})
                }
                None => json!({"found": false}),
            }))
        })
    }
}
