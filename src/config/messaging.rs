//! `[messaging]` and `[sendgrid]`: text channels (SMS, email, the Node client
//! gateway) and outbound email, with the defaults beside each struct.

use serde::{Deserialize, Serialize};

/// `[messaging]`: SMS/email webhooks, the Node client gateway (`/supervisor`) and
/// the text agent's fallback.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingConfig {
    /// Sent when no text model key is set or the model fails (the message is still
    /// stored and acknowledged).
    pub auto_reply: String,
    /// Largest Node client WebSocket message, bytes; larger closes with 1009.
    pub max_message_bytes: usize,
    /// Seconds a Node client may take to send `{"type":"auth"}` after connecting
    /// without an `Authorization` header; then the socket closes with 1008.
    pub auth_timeout_secs: u64,
    /// Seconds of client silence after which the server sends a WebSocket ping.
    pub heartbeat_secs: u64,
    /// Seconds without any frame (pongs included) after which a client is dropped.
    pub client_timeout_secs: u64,
    /// Largest SendGrid Inbound Parse body accepted at `/email/inbound`, bytes
    /// (SendGrid's own limit is 30 MB); larger is refused with 413.
    pub email_max_bytes: usize,
    /// Seconds `/sms/inbound` waits for the text agent before answering with the
    /// auto-reply (Twilio gives up on a webhook after about 15 s).
    pub reply_timeout_secs: u64,
    /// Earlier messages and call transcript lines the text agent sees per customer.
    pub history_limit: i64,
    /// Milliseconds `/supervisor` waits for the text model's reply to a Node client
    /// message without `id` before answering `message_acknowledged` instead (the
    /// existing webhook clients give up on a request after 10 s). Below 10000.
    pub sync_reply_ms: u64,
    /// Seconds within which a Node client message without `id` that repeats an
    /// earlier one (same tenant, channel, from, to, subject and text) is taken as
    /// a resend: answered from the stored reply, not stored or answered again.
    /// 0 turns the check off; at most 86400.
    pub resend_window_secs: u64,
    /// Shared secret for `/email/inbound` (env `SWITCHBOARD_MESSAGING__EMAIL_SECRET`):
    /// when set, the request must carry `?secret=` or HTTP Basic auth with it as the
    /// password. Required when `SWITCHBOARD_SENDGRID__API_KEY` is set (replies
    /// leave by email): `serve` refuses to start without it.
    #[serde(skip_serializing)]
    pub email_secret: Option<String>,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            auto_reply:
                "Thanks for your message! We have received it and will get back to you shortly."
                    .into(),
            max_message_bytes: 64 * 1024,
            auth_timeout_secs: 5,
            heartbeat_secs: 15,
            client_timeout_secs: 45,
            email_max_bytes: 30 * 1024 * 1024,
            reply_timeout_secs: 12,
            history_limit: 10,
            sync_reply_ms: 8000,
            resend_window_secs: 120,
            email_secret: None,
        }
    }
}

/// `[sendgrid]`: outbound email replies through the SendGrid v3 mail-send API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendGridConfig {
    /// API base URL; replies go to `POST {api_base}/v3/mail/send` (tests point it at
    /// a local server).
    pub api_base: String,
    /// Sender address of replies; empty = the address the email was sent to.
    pub from_address: String,
    /// Bearer key (env `SWITCHBOARD_SENDGRID__API_KEY`); unset = replies are stored
    /// but not sent.
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
}

impl Default for SendGridConfig {
    fn default() -> Self {
        SendGridConfig {
            api_base: "https://api.sendgrid.com".into(),
            from_address: String::new(),
            api_key: None,
        }
    }
}
