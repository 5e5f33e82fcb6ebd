//! Text channels: SMS and email reach switchboard through webhooks (Twilio SMS,
//! SendGrid Inbound Parse; handlers in `crate::http`) or through authenticated
//! Node.js clients on the `/supervisor` WebSocket ([`gateway`], wire format in
//! [`protocol`], tokens in [`tokens`]). Every inbound message becomes a typed
//! [`router_messages::SmsReceived`]/[`router_messages::EmailReceived`] for the
//! [`router::MessageRouter`], which stores it, links it to the customer, asks
//! the [`agent`] for a reply (the tenant's brief, the receptionist tools, the
//! customer's history; the configured auto-reply without a model), stores the
//! reply, and sends it back the way the message came — TwiML, SendGrid
//! mail-send ([`sendgrid`]), or the `outbox` pushed to a Node client.

pub mod agent;
pub mod env;
pub mod gateway;
pub mod peers;
pub mod protocol;
pub mod router;
pub mod router_messages;
pub mod sendgrid;
pub mod tokens;

use crate::store::StoreError;

/// Why a text message could not be taken in or answered.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// Storing or reading messages failed; the sender should retry (Twilio and
    /// SendGrid retry on 5xx, Node clients get `error` with code `internal`).
    #[error("message store: {0}")]
    Store(#[from] StoreError),
    /// The router is not running (shutdown in progress).
    #[error("message router unavailable")]
    RouterGone,
}
