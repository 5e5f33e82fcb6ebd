//! The Node client protocol spoken on `GET /supervisor` (WebSocket): JSON text
//! frames with a snake_case `type` tag and a client-chosen `id`. Pure types and
//! parsing, no I/O; the gateway session moves these to and from actors.
//!
//! Client → server: `auth`, `sms_received`, `email_received`, `ping`,
//! `delivered`. Server → client: `authenticated`, `message_acknowledged`,
//! `pong`, `error`, `send_sms_response`, `send_email_response`. The README's
//! "Node client protocol" table documents each with example JSON.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A client-chosen request id: a JSON string or integer on the wire, echoed back
/// as a string. At most [`MAX_ID_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

/// Longest request id accepted, characters.
pub const MAX_ID_CHARS: usize = 128;

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = RequestId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a string or integer id of at most {MAX_ID_CHARS} characters"
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RequestId, E> {
                if v.is_empty() || v.chars().count() > MAX_ID_CHARS {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                Ok(RequestId(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RequestId, E> {
                Ok(RequestId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RequestId, E> {
                Ok(RequestId(v.to_string()))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

/// A message from a Node client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Authenticate (first message, when the upgrade carried no `Authorization`).
    Auth {
        #[serde(default)]
        id: Option<RequestId>,
        token: String,
    },
    /// An SMS the client's webhook received: `from`/`to` E.164, `message` the text,
    /// `user` the client's own id for the sender (optional).
    SmsReceived {
        id: RequestId,
        from: String,
        to: String,
        message: String,
        #[serde(default)]
        user: Option<String>,
        /// Tenant id; needed only when the client serves several tenants and the
        /// `to` address does not identify one.
        #[serde(default)]
        tenant: Option<String>,
    },
    /// An email the client's webhook received (`body` plain text).
    EmailReceived {
        id: RequestId,
        from: String,
        to: String,
        #[serde(default)]
        subject: String,
        body: String,
        #[serde(default)]
        user: Option<String>,
        /// Tenant id; needed only when the client serves several tenants and the
        /// `to` address does not identify one.
        #[serde(default)]
        tenant: Option<String>,
    },
    /// Application-level liveness check; answered with `pong`.
    Ping { id: RequestId },
    /// The client has delivered the `send_*_response` with this `id`.
    Delivered { id: RequestId },
}

/// The `type` tags [`ClientMessage`] accepts.
pub const CLIENT_TYPES: &[&str] = &[
    "auth",
    "sms_received",
    "email_received",
    "ping",
    "delivered",
];

/// Machine-readable `error.code` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON (or not a JSON object).
    MalformedJson,
    /// `type` is missing or not one of [`CLIENT_TYPES`].
    UnknownType,
    /// A known `type` with missing, mistyped or unknown fields.
    InvalidMessage,
    /// Binary frames are not part of the protocol.
    BinaryNotSupported,
    /// The message's number or address belongs to no tenant of this client.
    TenantNotAllowed,
    /// `delivered` named an id that is not pending for this client.
    UnknownDelivery,
    /// `auth` after the connection was already authenticated.
    AlreadyAuthenticated,
    /// The server could not store or route the message; retry later.
    Internal,
}

impl ErrorCode {
    /// The wire text of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::TenantNotAllowed => "tenant_not_allowed",
            ErrorCode::UnknownDelivery => "unknown_delivery",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A client frame that could not be parsed: answered with an `error` message,
/// the connection stays open.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ParseError {
    /// The frame's `id` when it could be read.
    pub id: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
}

/// Parses one client text frame.
///
/// Errors: [`ErrorCode::MalformedJson`] (not a JSON object),
/// [`ErrorCode::UnknownType`] (missing or unknown `type`),
/// [`ErrorCode::InvalidMessage`] (known type, bad fields); each carries the
/// frame's `id` when it was readable.
pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
        id: None,
        code: ErrorCode::MalformedJson,
        message: format!("not valid JSON: {e}"),
    })?;
    let object = value.as_object().ok_or_else(|| ParseError {
        id: None,
        code: ErrorCode::MalformedJson,
        message: "expected a JSON object".into(),
    })?;
    let id = object
        .get("id")
        .and_then(|v| RequestId::deserialize(v).ok());
    let kind = object.get("type").and_then(|t| t.as_str());
    match kind {
        None => Err(ParseError {
            id,
            code: ErrorCode::UnknownType,
            message: "missing string field \"type\"".into(),
        }),
        Some(kind) if !CLIENT_TYPES.contains(&kind) => Err(ParseError {
            id,
            code: ErrorCode::UnknownType,
            message: format!(
                "unknown type {kind:?}; expected one of {}",
                CLIENT_TYPES.join(", ")
            ),
        }),
        Some(kind) => ClientMessage::deserialize(value.clone()).map_err(|e| ParseError {
            id,
            code: ErrorCode::InvalidMessage,
            message: format!("invalid {kind}: {e}"),
        }),
    }
}

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A message to a Node client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Authentication succeeded: the client's id and the tenants it serves.
    Authenticated {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        client_id: String,
        tenants: Vec<String>,
    },
    /// `sms_received`/`email_received` `id` is stored as `message_id`
    /// (`received_at` RFC 3339 UTC).
    MessageAcknowledged {
        id: RequestId,
        message_id: String,
        #[serde(serialize_with = "rfc3339")]
        received_at: DateTime<Utc>,
    },
    /// Answer to `ping`.
    Pong { id: RequestId },
    /// A request failed; `id` is the request's when known (else `null`).
    Error {
        id: Option<RequestId>,
        code: ErrorCode,
        message: String,
    },
    /// An SMS for the client to send. `id` is the outbox id to acknowledge with
    /// `delivered`; `in_reply_to` the `id` of the client's `sms_received`;
    /// `message_id` the stored inbound message it answers.
    SendSmsResponse {
        id: String,
        in_reply_to: String,
        message_id: String,
        tenant: String,
        to: String,
        from: String,
        body: String,
    },
    /// An email for the client to send (plain-text `body`); ids as for SMS.
    SendEmailResponse {
        id: String,
        in_reply_to: String,
        message_id: String,
        tenant: String,
        to: String,
        from: String,
        subject: String,
        body: String,
    },
}

impl ServerMessage {
    /// The JSON text of this message.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (no maps with non-string keys).
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// An `error` reply.
    pub fn error(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            id,
            code,
            message: message.into(),
        }
    }
}

impl From<ParseError> for ServerMessage {
    fn from(e: ParseError) -> Self {
        ServerMessage::Error {
            id: e.id,
            code: e.code,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{json, Value};

    fn id(s: &str) -> RequestId {
        RequestId(s.into())
    }

    #[test]
    fn parses_recorded_client_frames() {
        let sms = r#"{"type":"sms_received","id":"req-1","from":"+15550100001","to":"+15550100000","message":"Can I book a cleaning?","user":"u_42"}"#;
        assert_eq!(
            parse(sms).unwrap(),
            ClientMessage::SmsReceived {
                id: id("req-1"),
                from: "+15550100001".into(),
                to: "+15550100000".into(),
                message: "Can I book a cleaning?".into(),
                user: Some("u_42".into()),
                tenant: None,
            }
        );
        let email = r#"{"type":"email_received","id":7,"from":"dana@example.com","to":"desk@acme.example","subject":"Hours","body":"Are you open Saturday?"}"#;
        match parse(email).unwrap() {
            ClientMessage::EmailReceived {
                id: i,
                subject,
                user,
                ..
            } => {
                assert_eq!(i, id("7"));
                assert_eq!(subject, "Hours");
                assert_eq!(user, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(r#"{"type":"ping","id":"p1"}"#).unwrap(),
            ClientMessage::Ping { id: id("p1") }
        );
        assert_eq!(
            parse(r#"{"type":"delivered","id":"ob-1"}"#).unwrap(),
            ClientMessage::Delivered { id: id("ob-1") }
        );
        assert_eq!(
            parse(r#"{"type":"auth","token":"sbn_x"}"#).unwrap(),
            ClientMessage::Auth {
                id: None,
                token: "sbn_x".into()
            }
        );
    }

    #[test]
    fn bad_frames_get_their_codes_and_keep_the_id() {
        let e = parse("{not json").unwrap_err();
        assert_eq!((e.code, e.id), (ErrorCode::MalformedJson, None));
        assert_eq!(parse("[1,2]").unwrap_err().code, ErrorCode::MalformedJson);
        let e = parse(r#"{"type":"fax_received","id":"f1"}"#).unwrap_err();
        assert_eq!((e.code, e.id), (ErrorCode::UnknownType, Some(id("f1"))));
        assert_eq!(
            parse(r#"{"id":"x"}"#).unwrap_err().code,
            ErrorCode::UnknownType
        );
        let e = parse(r#"{"type":"sms_received","id":"s1","from":"+1"}"#).unwrap_err();
        assert_eq!(
            (e.code, e.id.clone()),
            (ErrorCode::InvalidMessage, Some(id("s1")))
        );
        assert!(e.message.contains("to"), "{}", e.message);
        let e = parse(r#"{"type":"ping","id":"p","extra":1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        let long = "x".repeat(MAX_ID_CHARS + 1);
        let e = parse(&format!(r#"{{"type":"ping","id":"{long}"}}"#)).unwrap_err();
        assert_eq!((e.code, e.id), (ErrorCode::InvalidMessage, None));
    }

    #[test]
    fn server_messages_serialise_to_the_documented_shapes() {
        let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 30, 0).unwrap();
        let ack = ServerMessage::MessageAcknowledged {
            id: id("req-1"),
            message_id: "m-1".into(),
            received_at: at,
        };
        let v: Value = serde_json::from_str(&ack.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"message_acknowledged","id":"req-1","message_id":"m-1","received_at":"2025-03-14T09:30:00.000Z"})
        );
        let err = ServerMessage::error(None, ErrorCode::MalformedJson, "bad");
        let v: Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"error","id":null,"code":"malformed_json","message":"bad"})
        );
        let sms = ServerMessage::SendSmsResponse {
            id: "ob-1".into(),
            in_reply_to: "req-1".into(),
            message_id: "m-2".into(),
            tenant: "acme-dental".into(),
            to: "+15550100001".into(),
            from: "+15550100000".into(),
            body: "Booked!".into(),
        };
        let v: Value = serde_json::from_str(&sms.to_json()).unwrap();
        assert_eq!(v["type"], "send_sms_response");
        assert_eq!(v["in_reply_to"], "req-1");
        let pong: Value =
            serde_json::from_str(&ServerMessage::Pong { id: id("9") }.to_json()).unwrap();
        assert_eq!(pong, json!({"type":"pong","id":"9"}));
    }
}
