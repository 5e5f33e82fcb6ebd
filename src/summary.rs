//! Call summaries: when a call has ended, a sentence or two for the business
//! owner — who called, what they wanted, what was done (booked …, message
//! taken …, transferred …). Written by the text model (`[text_model]`) when
//! it has a key, else (and whenever the model fails) composed from the stored
//! facts: the caller, the tools' results and how the call ended. Also the
//! readable lines tool runs are shown as ([`tool_line`]).

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use serde_json::Value;

use crate::chat::wire::WireMessage;
use crate::chat::ChatClient;
use crate::store::models::{CallRow, ToolInvocationRow, TranscriptRow};
use crate::store::{calls, tool_invocations, transcripts, DbConnection, StoreError};
use crate::tenant::{local_time, TenantConfig};

/// Longest summary stored, characters.
const MAX_SUMMARY_CHARS: usize = 500;

/// Longest quote of the caller's words in a composed summary, characters.
const MAX_QUOTE_CHARS: usize = 120;

/// What a summary is written from: the call row, its transcript and its tool runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFacts {
    pub call: CallRow,
    pub transcript: Vec<TranscriptRow>,
    pub tools: Vec<ToolInvocationRow>,
}

impl CallFacts {
    /// The stored facts of a call; `None` for an unknown id.
    pub fn load(conn: &mut DbConnection, call_id: &str) -> Result<Option<CallFacts>, StoreError> {
        let Some(call) = calls::get(conn, call_id)? else {
            return Ok(None);
        };
        Ok(Some(CallFacts {
            transcript: transcripts::for_call(conn, call_id)?,
            tools: tool_invocations::for_call(conn, call_id)?,
            call,
        }))
    }

    /// The caller's name as a tool recorded it (see [`caller_name`]).
    pub fn caller_name(&self) -> Option<String> {
        caller_name(&self.tools)
    }

    /// The caller as the owner reads it: `Dana Smith (+15550100001)`, the
    /// number alone, or who it was when there is no number.
    pub fn caller_label(&self) -> String {
        let number = self
            .call
            .from_number
            .as_deref()
            .filter(|n| n.starts_with('+'));
        match (self.caller_name(), number) {
            (Some(name), Some(number)) => format!("{name} ({number})"),
            (Some(name), None) => name,
            (None, Some(number)) => number.to_string(),
            (None, None) if self.call.carrier == "browser" => "A web caller".to_string(),
            (None, None) => "An unknown caller".to_string(),
        }
    }

    /// A summary composed from the facts alone (no model).
    pub fn compose(&self) -> String {
        let mut done = Vec::new();
        for t in self.tools.iter().filter(|t| t.error.is_none()) {
            let args: Value = serde_json::from_str(&t.arguments).unwrap_or(Value::Null);
            let result: Value = t
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(Value::Null);
            let text =
                |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
            match t.name.as_str() {
                "createBooking" => done.push(format!(
                    "booked {} for {}",
                    text(&result, "service"),
                    local_slot(&text(&result, "start"))
                )),
                "cancelBooking" => {
                    for a in result
                        .get("appointments")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        done.push(format!(
                            "cancelled {} on {}",
                            text(a, "service"),
                            local_slot(&text(a, "start"))
                        ));
                    }
                }
                "takeMessage" => {
                    let urgent = matches!(text(&args, "urgency").as_str(), "urgent" | "high");
                    done.push(format!(
                        "left {} message: \"{}\"",
                        if urgent { "an urgent" } else { "a" },
                        quote(&text(&args, "message"))
                    ));
                }
                "collectCallerInfo" => done.push(format!(
                    "asked for a callback: \"{}\"",
                    quote(&text(&args, "concern"))
                )),
                _ => {}
            }
        }
        let reason = self.call.ended_reason.as_deref().unwrap_or("");
        if reason.starts_with("transferred") {
            done.push("was transferred to the on-call number".to_string());
        }
        if done.is_empty() {
            match self
                .transcript
                .iter()
                .find(|l| l.role == "user" && !l.text.trim().is_empty())
            {
                Some(line) => done.push(format!("said: \"{}\"", quote(&line.text))),
                None => done.push("hung up before saying anything".to_string()),
            }
        }
        let mut text = format!("{} {}", self.caller_label(), join_and(&done));
        if !text.ends_with(['.', '"', '!', '?']) {
            text.push('.');
        }
        if let Some(ms) = self.call.duration_ms {
            text.push_str(&format!(" Call length {}.", duration_words(ms)));
        }
        text
    }

    /// The call as text the model summarises: who, how it ended, and every
    /// line and tool run in order.
    fn as_prompt(&self) -> String {
        let mut out = format!(
            "Caller: {}\nEnded: {}\n",
            self.caller_label(),
            self.call.ended_reason.as_deref().unwrap_or("unknown")
        );
        let mut lines: Vec<(NaiveDateTime, String)> = self
            .transcript
            .iter()
            .map(|l| {
                let who = if l.role == "user" {
                    "Caller"
                } else {
                    "Receptionist"
                };
                (l.created_at, format!("{who}: {}", l.text))
            })
            .collect();
        lines.extend(self.tools.iter().map(|t| {
            (
                t.created_at,
                format!(
                    "[{}]",
                    tool_line(
                        &t.name,
                        &t.arguments,
                        t.result.as_deref(),
                        t.error.as_deref()
                    )
                ),
            )
        }));
        lines.sort_by_key(|(at, _)| *at);
        for (_, line) in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// The caller's name as a successful tool run of the call recorded it
/// (message, callback details, booking), if any.
pub fn caller_name<'a>(tools: impl IntoIterator<Item = &'a ToolInvocationRow>) -> Option<String> {
    tools
        .into_iter()
        .filter(|t| t.error.is_none())
        .find_map(|t| {
            let args: Value = serde_json::from_str(&t.arguments).ok()?;
            let key = match t.name.as_str() {
                "takeMessage" => "callerName",
                "createBooking" => "customerName",
                "collectCallerInfo" => "name",
                _ => return None,
            };
            args.get(key)?.as_str().map(str::to_string)
        })
}

/// The call's summary: the text model's when it has a key and answers, else
/// [`CallFacts::compose`].
pub async fn write(chat: &ChatClient, facts: &CallFacts, tenant: &TenantConfig) -> String {
    if chat.has_api_key() {
        let messages = [
            WireMessage::System {
                content: format!(
                    "You summarise phone calls the virtual receptionist of {} answered, for the \
                     business owner, in one or two short sentences: who called, what they wanted, \
                     and what was done (bookings with day and time, messages taken, transfers). \
                     Plain text, no preamble.",
                    tenant.name
                ),
            },
            WireMessage::User {
                content: facts.as_prompt(),
            },
        ];
        match chat.complete(&messages, &[]).await {
            Ok(reply) => {
                if let Some(text) = reply
                    .content
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                {
                    return text.chars().take(MAX_SUMMARY_CHARS).collect();
                }
                log::warn!(
                    "summary of call {}: the text model answered no text",
                    facts.call.id
                );
            }
            Err(e) => log::warn!(
                "summary of call {}: text model failed, composing: {e}",
                facts.call.id
            ),
        }
    }
    facts.compose()
}

/// A tool run as the owner reads it, e.g. `Booked cleaning, Tue 2 Dec 09:00`;
/// `arguments`/`result` are the stored JSON texts (booking tools answer in the
/// tenant's local time, so no zone is needed).
pub fn tool_line(name: &str, arguments: &str, result: Option<&str>, error: Option<&str>) -> String {
    let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
    let result: Value = result
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(error) = error {
        let what = match name {
            "createBooking" => "Booking",
            "cancelBooking" => "Cancelling",
            "takeMessage" => "Taking a message",
            "collectCallerInfo" => "Noting callback details",
            "checkAvailability" => "Checking availability",
            "lookupCustomer" => "Looking up the caller",
            "transferToOnCall" => "Transferring",
            "hangUp" => "Hanging up",
            other => other,
        };
        return format!("{what} failed: {error}");
    }
    match name {
        "createBooking" => format!(
            "Booked {}, {}",
            text(&result, "service"),
            local_slot(&text(&result, "start"))
        ),
        "cancelBooking" => {
            let list: Vec<String> = result
                .get("appointments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|a| format!("{}, {}", text(a, "service"), local_slot(&text(a, "start"))))
                .collect();
            format!("Cancelled {}", join_and(&list))
        }
        "takeMessage" => {
            let urgent = matches!(text(&args, "urgency").as_str(), "urgent" | "high");
            format!(
                "Took {} message from {}: \"{}\"",
                if urgent { "an urgent" } else { "a" },
                text(&args, "callerName"),
                text(&args, "message")
            )
        }
        "collectCallerInfo" => format!(
            "Noted a callback for {} ({}): \"{}\"",
            text(&args, "name"),
            text(&args, "callbackNumber"),
            text(&args, "concern")
        ),
        "checkAvailability" => format!(
            "Checked {} availability on {}",
            text(&args, "service"),
            text(&args, "date")
        ),
        "lookupCustomer" => "Looked up the caller's record".to_string(),
        "transferToOnCall" => "Transferred the call to the on-call number".to_string(),
        "hangUp" => "Ended the call".to_string(),
        "getNextResponseFromSupervisor" => "Asked the supervisor for help".to_string(),
        other => format!("Used {other}"),
    }
}

/// A local `YYYY-MM-DDTHH:MM` (as the booking tools answer) as `Tue 2 Dec 09:00`;
/// other text unchanged.
fn local_slot(local: &str) -> String {
    match NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M") {
        // Already local: format it as is (UTC formatting adds no offset).
        Ok(at) => local_time(Tz::UTC, at),
        Err(_) => local.to_string(),
    }
}

/// The first [`MAX_QUOTE_CHARS`] characters of `text`, `…` when cut.
fn quote(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_QUOTE_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_QUOTE_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `45 s`, `2 min 5 s`.
fn duration_words(ms: i64) -> String {
    let secs = (ms.max(0) + 500) / 1000;
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> CallFacts {
        let at = NaiveDateTime::default();
        CallFacts {
            call: CallRow {
                id: "c1".into(),
                tenant_id: Some("acme-dental".into()),
                carrier: "twilio".into(),
                carrier_call_sid: Some("CA1".into()),
                stream_sid: None,
                from_number: Some("+15550100001".into()),
                to_number: Some("+15550100000".into()),
                status: "completed".into(),
                model_provider: None,
                started_at: at,
                ended_at: Some(at),
                duration_ms: Some(72_400),
                ended_reason: Some("caller_hangup".into()),
                link_restarts: 0,
                turn_latency_p50_ms: None,
                turn_latency_max_ms: None,
                recording_sid: None,
                summary: None,
                node_id: None,
                answered_by: None,
                recording_file: None,
                recording_note: None,
            },
            transcript: Vec::new(),
            tools: vec![
                tool(
                    "createBooking",
                    r#"{"customerName":"Dana Smith","customerPhone":"+15550100001","service":"cleaning","dateTime":"2026-12-01T09:00"}"#,
                    Some(
                        r#"{"booked":true,"service":"cleaning","start":"2026-12-01T09:00","minutes":60}"#,
                    ),
                ),
                tool(
                    "takeMessage",
                    r#"{"callerName":"Dana Smith","message":"Please call back this afternoon.","urgency":"normal"}"#,
                    Some(r#"{"saved":true,"messageId":"m1"}"#),
                ),
            ],
        }
    }

    fn tool(name: &str, args: &str, result: Option<&str>) -> ToolInvocationRow {
        ToolInvocationRow {
            id: name.into(),
            call_id: Some("c1".into()),
            tenant_id: Some("acme-dental".into()),
            tool_call_id: "x".into(),
            name: name.into(),
            arguments: args.into(),
            result: result.map(str::to_string),
            error: None,
            duration_ms: 3,
            created_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn composed_summary_names_caller_and_what_was_done() {
        assert_eq!(
            facts().compose(),
            "Dana Smith (+15550100001) booked cleaning for Tue 1 Dec 09:00 and left a message: \
             \"Please call back this afternoon.\" Call length 1 min 12 s."
        );
    }

    #[test]
    fn a_silent_caller_hung_up_before_saying_anything() {
        let mut f = facts();
        f.tools.clear();
        f.call.from_number = None;
        f.call.carrier = "browser".into();
        f.call.duration_ms = Some(4000);
        assert_eq!(
            f.compose(),
            "A web caller hung up before saying anything. Call length 4 s."
        );
    }

    #[test]
    fn tool_lines_read_as_words() {
        let f = facts();
        let t = &f.tools[0];
        assert_eq!(
            tool_line(&t.name, &t.arguments, t.result.as_deref(), None),
            "Booked cleaning, Tue 1 Dec 09:00"
        );
        assert_eq!(
            tool_line("createBooking", "{}", None, Some("the 09:00 slot is taken")),
            "Booking failed: the 09:00 slot is taken"
        );
        let m = &f.tools[1];
        assert_eq!(
            tool_line(&m.name, &m.arguments, m.result.as_deref(), None),
            "Took a message from Dana Smith: \"Please call back this afternoon.\""
        );
    }
}
