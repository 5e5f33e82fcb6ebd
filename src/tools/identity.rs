//! Whose data a tool may touch: the verified caller's, never a number the
//! model passes. The verified number is the one the carrier vouched for — a
//! Twilio call's `From` from its signed voice webhook, a jambonz session's
//! `from`, an SMS sender's — carried in [`ToolContext::caller`]. A model is
//! easily talked into "I'm calling for my wife, her number is …" (OWASP LLM
//! Top 10, excessive agency), so the check lives here, in the tool, not in a
//! prompt.

use crate::tools::{args, ToolContext, ToolError};

/// What the model is told when a caller asks about someone else's record.
pub const NOT_THE_CALLER: &str = "for privacy I can only look up or change the record of the \
     number you are calling from; for someone else I can take a message for the office";

/// What the model is told when the line has no verified number (a browser
/// call, an email).
pub const NO_VERIFIED_NUMBER: &str = "I cannot verify the number on this line, so I cannot look \
     up or change a customer's record; I can take a message for the office";

/// The number a customer-record tool acts on: the verified caller's.
/// `asked` (the model's argument named `field`, if it sent one) must be a
/// valid E.164 number and the same one.
///
/// # Errors
/// [`ToolError::InvalidArguments`] for a malformed `asked`;
/// [`ToolError::Refused`] ([`NOT_THE_CALLER`]) when `asked` is another
/// number, or ([`NO_VERIFIED_NUMBER`]) when the line has none.
pub fn caller_number(
    ctx: &ToolContext,
    field: &str,
    asked: Option<&str>,
) -> Result<String, ToolError> {
    let asked = asked
        .filter(|a| !a.trim().is_empty())
        .map(|a| args::e164(field, a.trim()))
        .transpose()?;
    let Some(caller) = ctx
        .caller
        .as_deref()
        .and_then(|c| args::e164("caller", c).ok())
    else {
        return Err(ToolError::Refused(NO_VERIFIED_NUMBER.into()));
    };
    match asked {
        Some(asked) if asked != caller => Err(ToolError::Refused(NOT_THE_CALLER.into())),
        _ => Ok(caller),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ctx(caller: Option<&str>) -> ToolContext {
        ToolContext {
            call_id: None,
            call_sid: None,
            tenant: Arc::new(crate::tenant::TenantConfig::example()),
            caller: caller.map(str::to_string),
            carrier: None,
            conversation: Vec::new(),
        }
    }

    #[test]
    fn only_the_verified_number() {
        let c = ctx(Some("+15550109999"));
        assert_eq!(caller_number(&c, "phone", None).unwrap(), "+15550109999");
        assert_eq!(
            caller_number(&c, "phone", Some("+15550109999")).unwrap(),
            "+15550109999"
        );
        assert!(matches!(
            caller_number(&c, "phone", Some("+15550100001")),
            Err(ToolError::Refused(m)) if m == NOT_THE_CALLER
        ));
        assert!(matches!(
            caller_number(&c, "phone", Some("555-0100")),
            Err(ToolError::InvalidArguments(_))
        ));
        assert!(matches!(
            caller_number(&ctx(None), "phone", Some("+15550100001")),
            Err(ToolError::Refused(m)) if m == NO_VERIFIED_NUMBER
        ));
    }
}
