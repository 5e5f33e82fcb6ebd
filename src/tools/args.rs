//! Argument parsing for tools: typed structs from the model's JSON with errors the
//! model can relay ("callerPhone: +1 555 is not an E.164 number").

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::tools::ToolError;

/// Deserialises `args` into `T`, turning serde's message into [`ToolError::InvalidArguments`].
pub fn parse<T: DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments(e.to_string()))
}

/// Checks an E.164 number: `+`, then 8–15 digits, first digit not 0.
pub fn e164(field: &str, value: &str) -> Result<String, ToolError> {
    let digits = value.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(value.to_string())
    } else {
        Err(ToolError::InvalidArguments(format!(
            "{field}: {value:?} is not an E.164 phone number like +15550100001"
        )))
    }
}

/// Checks that a text field is present and not blank, trimmed, at most `max` chars.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ToolError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ToolError::InvalidArguments(format!("{field} is empty")));
    }
    if v.chars().count() > max {
        return Err(ToolError::InvalidArguments(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_and_rejects() {
        assert!(e164("p", "+15550100001").is_ok());
        assert!(e164("p", "5550100001").is_err());
        assert!(e164("p", "+1 555 0100").is_err());
        assert!(e164("p", "+0123456789").is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("m", "  hi ", 10).unwrap(), "hi");
        assert!(text("m", "   ", 10).is_err());
        assert!(text("m", "abcdef", 3).is_err());
    }
}
