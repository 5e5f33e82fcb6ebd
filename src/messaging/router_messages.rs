//! Typed actor messages of the text channels: what the webhooks and the Node
//! gateway tell the [`super::router::MessageRouter`] (`SmsReceived`,
//! `EmailReceived`, client lifecycle, delivery acknowledgements) and what the
//! router pushes to a connected Node client session (`PushResponses`).

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::MessagingError;
use crate::tenant::TenantConfig;

/// The text channel of a message; stored as `messages.channel`, and the
/// `message_type` of a Node client acknowledgement (`sms`/`email`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    /// `sms` or `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

/// Where an inbound message came from, which decides how its reply leaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Twilio's SMS webhook: the reply is the TwiML `<Message>` of the HTTP answer.
    TwilioWebhook,
    /// SendGrid Inbound Parse: the reply goes out through the mail-send API.
    SendGridWebhook,
    /// A Node client. With a `request_id` (the client's `id`, the id form) the
    /// reply waits in `outbox` and is pushed as `send_sms_response` /
    /// `send_email_response`. Without one (the webhook form) the reply is the
    /// direct answer on the requesting connection, if the text model writes it
    /// within `messaging.sync_reply_ms`; it is never pushed later, and the
    /// auto-reply is not used (the client falls back to its own processing).
    NodeClient {
        client_id: String,
        request_id: Option<String>,
    },
}

impl Origin {
    /// True for a Node client message without an `id` (the webhook form).
    pub fn is_node_without_id(&self) -> bool {
        matches!(
            self,
            Origin::NodeClient {
                request_id: None,
                ..
            }
        )
    }
}

/// An SMS arrived (Twilio webhook or Node client `sms_received`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Accepted, MessagingError>")]
pub struct SmsReceived {
    pub origin: Origin,
    pub tenant: Arc<TenantConfig>,
    /// Sender, E.164.
    pub from: String,
    /// Dialled number, E.164.
    pub to: String,
    pub body: String,
    /// Unique id for idempotency (Twilio `MessageSid`, or `node:{client}:{id}`);
    /// `None` for a Node client message without `id`, which is recognised as a
    /// resend by its content instead (same tenant, from, to and text within
    /// `messaging.resend_window_secs`).
    pub provider_id: Option<String>,
    /// The Node client's own id of the sender, when given.
    pub user: Option<String>,
}

/// An email arrived (SendGrid Inbound Parse or Node client `email_received`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Accepted, MessagingError>")]
pub struct EmailReceived {
    pub origin: Origin,
    pub tenant: Arc<TenantConfig>,
    /// Sender address (bare, `dana@example.com`).
    pub from: String,
    /// Display name of the sender, when the `From` header had one.
    pub from_name: Option<String>,
    /// Recipient address (bare).
    pub to: String,
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Unique id for idempotency (the email's `Message-ID`, or `node:{client}:{id}`).
    pub provider_id: Option<String>,
    pub user: Option<String>,
}

/// The reply to an inbound message, as far as it is known when it is accepted.
/// For a Node client message without `id` only a text model's reply is ever
/// given here (`None` otherwise: no model, the model failed, or no reply).
#[derive(Debug)]
pub enum PendingReply {
    /// Known now (a retried message whose reply is stored); `None` = no reply will
    /// be sent for it.
    Ready(Option<String>),
    /// Will be known when the text agent finishes (or falls back to the auto-reply).
    Later(oneshot::Receiver<Option<String>>),
    /// Goes out by another path (outbox push or mail-send).
    Elsewhere,
}

/// The router stored (or recognised) an inbound message.
#[derive(Debug)]
pub struct Accepted {
    /// `messages.id` of the inbound row.
    pub message_id: String,
    pub received_at: DateTime<Utc>,
    /// True when the provider id was seen before (nothing new was stored).
    pub duplicate: bool,
    pub reply: PendingReply,
}

/// One outbox row for a Node client: its id (acknowledged with `delivered`) and
/// the JSON text of the `send_*_response`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: String,
    pub payload: String,
}

/// Router → Node session: deliver these responses, in order.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct PushResponses(pub Vec<OutboxItem>);

/// A Node session authenticated and can take responses for `tenant_ids`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientConnected {
    /// Unique per connection.
    pub session_id: u64,
    pub client_id: String,
    pub tenant_ids: Vec<String>,
    pub recipient: Recipient<PushResponses>,
}

/// A Node session ended; its unacknowledged responses go to another session of
/// the same tenants, or wait for the next one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientGone {
    pub session_id: u64,
}

/// A Node session wrote the direct answer to a webhook-form request (no `id`)
/// to its open socket: recorded in `outbox` as delivered at once (`payload` the
/// JSON written), so what reached a client is on record.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct AnswerWritten {
    pub tenant_id: String,
    /// `messages.id` of the inbound message answered.
    pub message_id: String,
    pub payload: String,
}

/// A Node client acknowledged outbox row `id` (`{"type":"delivered"}`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct OutboxDelivered {
    pub id: String,
    pub tenant_ids: Vec<String>,
}
