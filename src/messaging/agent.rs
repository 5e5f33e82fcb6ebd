//! The text agent: answers one SMS or email as the tenant's receptionist. The
//! model (OpenAI-compatible chat completions, `crate::chat`) gets the tenant's
//! brief and instructions, the customer's recent history across channels
//! (earlier messages, the last lines of recent calls' transcripts) and the
//! receptionist tools; its tool calls run with the tenant's context like a
//! call's. Without a text-model key, or when the model fails or loops, the
//! configured `messaging.auto_reply` is the answer.

use std::fmt::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::router_messages::Channel;
use crate::chat::{ChatError, ChatMessage};
use crate::tenant::TenantConfig;
use crate::tools::chat_loop::run_tool_loop;
use crate::tools::env::ToolEnv;
use crate::tools::ToolContext;

/// The receptionist tools offered to the text agent, when registered and allowed
/// for the tenant.
pub const TEXT_TOOLS: &[&str] = &[
    "lookupCustomer",
    "checkAvailability",
    "createBooking",
    "cancelBooking",
    "takeMessage",
];

/// Longest reply sent by SMS, characters (Twilio's `Body` limit is 1600).
pub const MAX_SMS_REPLY_CHARS: usize = 1600;

/// One earlier message of the customer.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// `sms` or `email`.
    pub channel: String,
    /// True for the customer's messages, false for the business's replies.
    pub inbound: bool,
    pub subject: Option<String>,
    pub body: String,
}

/// One recent call of the customer: when, how it ended, its last transcript lines
/// as `(role, text)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSummary {
    pub started_at: DateTime<Utc>,
    pub ended_reason: Option<String>,
    pub lines: Vec<(String, String)>,
}

/// What the agent knows of the customer before this message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Oldest first.
    pub messages: Vec<HistoryEntry>,
    /// Newest first.
    pub calls: Vec<CallSummary>,
}

/// One message to answer.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    pub tenant: Arc<TenantConfig>,
    pub channel: Channel,
    pub from: String,
    pub from_name: Option<String>,
    pub to: String,
    pub subject: Option<String>,
    pub body: String,
    /// The Node client's own id of the sender, when given.
    pub user: Option<String>,
    pub history: History,
}

/// Where a reply came from (logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplySource {
    /// The text model wrote it.
    Model,
    /// The configured auto-reply, with the reason the model was not used.
    AutoReply(String),
}

impl std::fmt::Display for ReplySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplySource::Model => f.write_str("text model"),
            ReplySource::AutoReply(why) => write!(f, "auto-reply: {why}"),
        }
    }
}

/// The answer to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub source: ReplySource,
}

impl Reply {
    /// The auto-reply `text`, used because of `why`.
    pub fn auto(text: String, why: &str) -> Reply {
        Reply {
            text,
            source: ReplySource::AutoReply(why.to_owned()),
        }
    }
}

/// Answers `request`: the model's reply, or the auto-reply when there is no key or
/// the model fails (the reason is logged and kept in [`Reply::source`]).
pub async fn answer(env: Arc<ToolEnv>, request: AgentRequest) -> Reply {
    let auto = env.config.messaging.auto_reply.clone();
    let tools: Vec<&str> = TEXT_TOOLS
        .iter()
        .copied()
        .filter(|n| env.registry.get(n, &request.tenant).is_some())
        .collect();
    let ctx = ToolContext {
        call_id: None,
        call_sid: None,
        tenant: request.tenant.clone(),
        caller: (request.channel == Channel::Sms).then(|| request.from.clone()),
        carrier: None,
        conversation: Vec::new(),
    };
    let messages = vec![
        ChatMessage::System(system_prompt(&request, Utc::now())),
        ChatMessage::User(user_text(&request)),
    ];
    match run_tool_loop(env.clone(), ctx, messages, &tools).await {
        Ok(text) if !text.trim().is_empty() => Reply {
            text: fit(request.channel, text.trim()),
            source: ReplySource::Model,
        },
        Ok(_) => Reply::auto(auto, "the model answered with empty text"),
        Err(ChatError::NoApiKey) => Reply::auto(auto, "no text model key"),
        Err(e) => {
            log::warn!(
                "text agent for {} ({}): {e}; sending the auto-reply",
                request.tenant.id,
                request.from
            );
            Reply::auto(auto, &e.to_string())
        }
    }
}

/// Cuts an SMS reply to [`MAX_SMS_REPLY_CHARS`].
fn fit(channel: Channel, text: &str) -> String {
    match channel {
        Channel::Sms => text.chars().take(MAX_SMS_REPLY_CHARS).collect(),
        Channel::Email => text.to_owned(),
    }
}

/// The system prompt: the tenant's receptionist instructions rewritten for text,
/// the channel's conventions, and the customer's history.
pub fn system_prompt(request: &AgentRequest, now: DateTime<Utc>) -> String {
    let tenant = &request.tenant;
    let mut text = tenant
        .instructions(None, now)
        .replace("phone receptionist", "receptionist")
        .replace("Speak naturally and briefly.", "");
    let _ = match request.channel {
        Channel::Sms => writeln!(
            text,
            "You are answering an SMS from {} sent to {}. Reply in plain text, \
             at most a few short sentences, no markdown. Use the tools to look up the \
             customer, check availability, book or cancel appointments, or take a \
             message for the staff; never invent times or confirmations.",
            request.from, request.to
        ),
        Channel::Email => writeln!(
            text,
            "You are answering an email from {} sent to {}. Reply with the plain-text \
             body only (no subject line), short and polite, signed as {}. Use the \
             tools to look up the customer, check availability, book or cancel \
             appointments, or take a message for the staff; never invent times or \
             confirmations.",
            request.from, request.to, tenant.name
        ),
    };
    if let Some(user) = &request.user {
        let _ = writeln!(
            text,
            "The sender's account id in the business's system: {user}."
        );
    }
    if !request.history.messages.is_empty() {
        text.push_str("<message_history>\n");
        for m in &request.history.messages {
            let who = if m.inbound { "customer" } else { "business" };
            let _ = write!(
                text,
                "[{} {} {}] ",
                m.at.format("%Y-%m-%d %H:%M"),
                m.channel,
                who
            );
            if let Some(subject) = m.subject.as_deref().filter(|s| !s.is_empty()) {
                let _ = write!(text, "(subject: {subject}) ");
            }
            let _ = writeln!(text, "{}", m.body.trim());
        }
        text.push_str("</message_history>\n");
    }
    if !request.history.calls.is_empty() {
        text.push_str("<recent_calls>\n");
        for call in &request.history.calls {
            let _ = writeln!(
                text,
                "Call on {} (ended: {}):",
                call.started_at.format("%Y-%m-%d %H:%M"),
                call.ended_reason.as_deref().unwrap_or("unknown")
            );
            for (role, line) in &call.lines {
                let who = if role == "user" {
                    "customer"
                } else {
                    role.as_str()
                };
                let _ = writeln!(text, "  {who}: {line}");
            }
        }
        text.push_str("</recent_calls>\n");
    }
    text
}

fn user_text(request: &AgentRequest) -> String {
    match (&request.channel, request.subject.as_deref()) {
        (Channel::Email, Some(subject)) if !subject.is_empty() => {
            format!("Subject: {subject}\n\n{}", request.body)
        }
        _ => request.body.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn prompt_carries_brief_channel_and_history() {
        let at = Utc.with_ymd_and_hms(2025, 3, 14, 15, 0, 0).unwrap();
        let request = AgentRequest {
            tenant: Arc::new(TenantConfig::example()),
            channel: Channel::Sms,
            from: "+15550100001".into(),
            from_name: None,
            to: "+15550100000".into(),
            subject: None,
            body: "Can I move my appointment?".into(),
            user: None,
            history: History {
                messages: vec![HistoryEntry {
                    at,
                    channel: "email".into(),
                    inbound: true,
                    subject: Some("Cleaning".into()),
                    body: "Do you do cleanings?".into(),
                }],
                calls: vec![CallSummary {
                    started_at: at,
                    ended_reason: Some("caller_hangup".into()),
                    lines: vec![("user".into(), "I'd like Tuesday morning".into())],
                }],
            },
        };
        let prompt = system_prompt(&request, at);
        assert!(prompt.contains("<company_brief>"), "{prompt}");
        assert!(
            prompt.contains("answering an SMS from +15550100001"),
            "{prompt}"
        );
        assert!(prompt.contains("email customer] (subject: Cleaning) Do you do cleanings?"));
        assert!(
            prompt.contains("customer: I'd like Tuesday morning"),
            "{prompt}"
        );
        assert_eq!(
            fit(Channel::Sms, &"x".repeat(2000)).len(),
            MAX_SMS_REPLY_CHARS
        );
    }
}
