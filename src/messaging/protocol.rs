//! The Node client protocol spoken on `GET /supervisor` (WebSocket): JSON text
//! frames with a snake_case `type` tag. Pure types and parsing, no I/O; the
//! gateway session moves these to and from actors.
//!
//! Client → server: `auth`, `sms_received`, `email_received`, `ping`,
//! `delivered`. Server → client: `authenticated`, `auth_result`,
//! `message_acknowledged`, `pong`, `error`, `send_sms_response`,
//! `send_email_response`.
//!
//! Two forms share these types. The **id form** (ours): requests carry a
//! client-chosen `id`, are acknowledged at once and answered later through the
//! outbox (`delivered` acknowledges). The **webhook form** spoken by existing Node
//! webhook servers (xswarm-boss `packages/server/src/lib/supervisor-client.js`, the
//! facts are in docs/messaging.md): no `id` anywhere, `auth` answered by `auth_result`,
//! a request resolved by the first `message_acknowledged` of its `message_type`,
//! `send_*_response` with its `user`, or `error`. So every server event carries
//! both forms' fields: `message_type`/`user`/`timestamp` on acknowledgements,
//! `message` beside `body` and `user` on responses. docs/messaging.md's "Node client
//! protocol" section documents each with example JSON.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::router_messages::Channel;

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
        /// Absent in the webhook form: the answer is then the agent's reply (or an
        /// acknowledgement), on this connection only.
        #[serde(default)]
        id: Option<RequestId>,
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
        /// Absent in the webhook form (see `SmsReceived`).
        #[serde(default)]
        id: Option<RequestId>,
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
    /// Application-level liveness check; answered with `pong` (bare without `id`).
    Ping {
        #[serde(default)]
        id: Option<RequestId>,
    },
    /// The client has delivered the `send_*_response` with this `id` (the id
    /// names the response, so it is required here).
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
    /// Answer to an `auth` message: `success` with the client's id and tenants,
    /// or `success: false` with the reason in `message` (the socket then closes
    /// with 1008). The webhook form reads `success` and `message`.
    AuthResult {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        success: bool,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tenants: Option<Vec<String>>,
    },
    /// The `sms_received`/`email_received` is stored as `message_id`
    /// (`received_at` RFC 3339 UTC). `id` echoes the request's (absent in the
    /// webhook form); `message_type` (`sms`/`email`), `user` (the request's, when
    /// it had one) and `timestamp` (RFC 3339 UTC, when this was sent) are what
    /// the webhook form reads.
    MessageAcknowledged {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        message_id: String,
        #[serde(serialize_with = "rfc3339")]
        received_at: DateTime<Utc>,
        message_type: Channel,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(serialize_with = "rfc3339")]
        timestamp: DateTime<Utc>,
    },
    /// Answer to `ping`: `{"type":"pong"}` without an id.
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
    },
    /// A request failed; `id` is the request's when known (else `null`).
    Error {
        id: Option<RequestId>,
        code: ErrorCode,
        message: String,
    },
    /// An SMS for the client to send. In the id form `id` is the outbox id to
    /// acknowledge with `delivered` and `in_reply_to` the `id` of the client's
    /// `sms_received`; both are absent when this is the direct answer to a
    /// webhook-form request. `message_id` is the stored inbound message it
    /// answers; `message` repeats `body` and `user` echoes the request's (the
    /// webhook form reads `to`, `message`, `user`).
    SendSmsResponse {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        in_reply_to: Option<String>,
        message_id: String,
        tenant: String,
        to: String,
        from: String,
        body: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// An email for the client to send (plain-text `body`); ids and `user` as for
    /// SMS (the webhook form reads `to`, `subject`, `body`, `user`).
    SendEmailResponse {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        in_reply_to: Option<String>,
        message_id: String,
        tenant: String,
        to: String,
        from: String,
        subject: String,
        body: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
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
                id: Some(id("req-1")),
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
                assert_eq!(i, Some(id("7")));
                assert_eq!(subject, "Hours");
                assert_eq!(user, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse(r#"{"type":"ping","id":"p1"}"#).unwrap(),
            ClientMessage::Ping { id: Some(id("p1")) }
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

    /// The frames an existing webhook server sends (xswarm-boss
    /// supervisor-client.js): no `id` anywhere.
    #[test]
    fn parses_webhook_form_frames_without_ids() {
        let sms = r#"{"type":"sms_received","from":"+15550100001","to":"+15550100000","message":"Open Saturday?","user":"alice"}"#;
        assert_eq!(
            parse(sms).unwrap(),
            ClientMessage::SmsReceived {
                id: None,
                from: "+15550100001".into(),
                to: "+15550100000".into(),
                message: "Open Saturday?".into(),
                user: Some("alice".into()),
                tenant: None,
            }
        );
        let email = r#"{"type":"email_received","from":"dana@example.com","to":"desk@acme.example","subject":"Hours","body":"Open Saturday?","user":"dana"}"#;
        assert!(matches!(
            parse(email).unwrap(),
            ClientMessage::EmailReceived { id: None, .. }
        ));
        assert_eq!(
            parse(r#"{"type":"ping"}"#).unwrap(),
            ClientMessage::Ping { id: None }
        );
        assert_eq!(
            parse(r#"{"type":"delivered"}"#).unwrap_err().code,
            ErrorCode::InvalidMessage
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
        let later = Utc.with_ymd_and_hms(2025, 3, 14, 9, 30, 1).unwrap();
        let ack = ServerMessage::MessageAcknowledged {
            id: Some(id("req-1")),
            message_id: "m-1".into(),
            received_at: at,
            message_type: Channel::Sms,
            user: Some("u_42".into()),
            timestamp: later,
        };
        let v: Value = serde_json::from_str(&ack.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"message_acknowledged","id":"req-1","message_id":"m-1",
                "received_at":"2025-03-14T09:30:00.000Z","message_type":"sms","user":"u_42",
                "timestamp":"2025-03-14T09:30:01.000Z"})
        );
        // The webhook form: no id, no user given.
        let ack = ServerMessage::MessageAcknowledged {
            id: None,
            message_id: "m-1".into(),
            received_at: at,
            message_type: Channel::Email,
            user: None,
            timestamp: later,
        };
        let v: Value = serde_json::from_str(&ack.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"message_acknowledged","message_id":"m-1",
                "received_at":"2025-03-14T09:30:00.000Z","message_type":"email",
                "timestamp":"2025-03-14T09:30:01.000Z"})
        );
        let err = ServerMessage::error(None, ErrorCode::MalformedJson, "bad");
        let v: Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"error","id":null,"code":"malformed_json","message":"bad"})
        );
        let sms = ServerMessage::SendSmsResponse {
            id: Some("ob-1".into()),
            in_reply_to: Some("req-1".into()),
            message_id: "m-2".into(),
            tenant: "acme-dental".into(),
            to: "+15550100001".into(),
            from: "+15550100000".into(),
            body: "Booked!".into(),
            message: "Booked!".into(),
            user: Some("u_42".into()),
        };
        let v: Value = serde_json::from_str(&sms.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"send_sms_response","id":"ob-1","in_reply_to":"req-1","message_id":"m-2",
                "tenant":"acme-dental","to":"+15550100001","from":"+15550100000",
                "body":"Booked!","message":"Booked!","user":"u_42"})
        );
        let email = ServerMessage::SendEmailResponse {
            id: None,
            in_reply_to: None,
            message_id: "m-3".into(),
            tenant: "acme-dental".into(),
            to: "dana@example.com".into(),
            from: "desk@acme.example".into(),
            subject: "Re: Hours".into(),
            body: "Yes, 9 to 1.".into(),
            user: Some("dana".into()),
        };
        let v: Value = serde_json::from_str(&email.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"send_email_response","message_id":"m-3","tenant":"acme-dental",
                "to":"dana@example.com","from":"desk@acme.example","subject":"Re: Hours",
                "body":"Yes, 9 to 1.","user":"dana"})
        );
        let pong: Value =
            serde_json::from_str(&ServerMessage::Pong { id: Some(id("9")) }.to_json()).unwrap();
        assert_eq!(pong, json!({"type":"pong","id":"9"}));
        let bare: Value =
            serde_json::from_str(&ServerMessage::Pong { id: None }.to_json()).unwrap();
        assert_eq!(bare, json!({"type":"pong"}));
        let ok = ServerMessage::AuthResult {
            id: None,
            success: true,
            message: "authenticated".into(),
            client_id: Some("c-1".into()),
            tenants: Some(vec!["acme-dental".into()]),
        };
        let v: Value = serde_json::from_str(&ok.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"auth_result","success":true,"message":"authenticated",
                "client_id":"c-1","tenants":["acme-dental"]})
        );
        let refused = ServerMessage::AuthResult {
            id: None,
            success: false,
            message: "unknown token".into(),
            client_id: None,
            tenants: None,
        };
        let v: Value = serde_json::from_str(&refused.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"auth_result","success":false,"message":"unknown token"})
        );
    }
}
