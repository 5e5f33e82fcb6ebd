//! OpenAI's webhooks for incoming SIP calls: verification (Standard Webhooks,
//! through the `standardwebhooks` reference crate) and the three events
//! switchboard acts on, in their wire shapes.
//!
//! Facts (docs/openai-sip.md in our words): OpenAI guide "Webhooks" and
//! "Voice over SIP" (api=live, api=realtime); the `openai` Python package's
//! `openai/types/webhooks/live_transport_incoming_webhook_event.py`,
//! `live_call_incoming_webhook_event.py` (deprecated) and
//! `realtime_call_incoming_webhook_event.py`; the Standard Webhooks
//! specification (`webhook-id`, `webhook-timestamp` within 5 minutes,
//! `webhook-signature` = space-separated `v1,<base64 HMAC-SHA256>` over
//! `{id}.{timestamp}.{body}`, keyed with the base64 after `whsec_`).

use serde::Deserialize;

pub use crate::rest::openai_calls::Surface;

/// Why a webhook was refused before anything was done with it.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The configured secret is not `whsec_` + base64.
    #[error("the webhook secret does not decode: {0}")]
    Secret(String),
    /// A header is missing, the timestamp is outside 5 minutes, or no
    /// signature matches (the library's reason).
    #[error("webhook not verified: {0}")]
    Unverified(#[from] standardwebhooks::WebhookError),
    /// Verified, but not an event body.
    #[error("webhook body is not an OpenAI event: {0}")]
    Body(#[from] serde_json::Error),
}

/// The signed headers of one delivery, as received.
#[derive(Debug, Clone, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks `body` against its headers under `secret` at the current time.
///
/// # Errors
/// [`WebhookError::Secret`] for a secret that does not decode,
/// [`WebhookError::Unverified`] for a missing header, a timestamp more than
/// 5 minutes away, or no matching `v1` signature.
pub fn verify(secret: &str, headers: &SignedHeaders<'_>, body: &[u8]) -> Result<(), WebhookError> {
    let webhook = standardwebhooks::Webhook::new(secret.trim())
        .map_err(|e| WebhookError::Secret(e.to_string()))?;
    let mut map = http::HeaderMap::new();
    for (name, value) in [
        (standardwebhooks::HEADER_WEBHOOK_ID, headers.id),
        (
            standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
            headers.timestamp,
        ),
        (
            standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
            headers.signature,
        ),
    ] {
        if let Some(value) = value.and_then(|v| http::HeaderValue::from_str(v).ok()) {
            map.insert(name, value);
        }
    }
    webhook.verify(body, &map)?;
    Ok(())
}

/// One SIP INVITE header as OpenAI forwards it (untrusted call metadata).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SipHeader {
    pub name: String,
    pub value: String,
}

/// `data` of `live.transport.incoming` and `live.call.incoming`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiveIncoming {
    /// The pending session's id (`live_…`), passed unchanged to accept,
    /// reject, refer, hang-up and the sideband.
    pub session_id: String,
    pub sip_headers: Vec<SipHeader>,
}

/// `data` of `realtime.call.incoming`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RealtimeIncoming {
    /// The pending call's id (`rtc_…`).
    pub call_id: String,
    pub sip_headers: Vec<SipHeader>,
}

/// A verified webhook's event, by `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum WebhookEvent {
    /// A SIP call OpenAI can answer with GPT-Live.
    #[serde(rename = "live.transport.incoming")]
    LiveTransportIncoming { id: String, data: LiveIncoming },
    /// The deprecated name of the same, still sent to old subscriptions.
    #[serde(rename = "live.call.incoming")]
    LiveCallIncoming { id: String, data: LiveIncoming },
    /// A SIP call OpenAI can answer with the Realtime API. OpenAI may send
    /// this and a Live event for one call: the first accept decides.
    #[serde(rename = "realtime.call.incoming")]
    RealtimeCallIncoming { id: String, data: RealtimeIncoming },
    /// Any other event type: answered 200, nothing done.
    #[serde(other)]
    Other,
}

/// An incoming SIP call, whichever event announced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub surface: Surface,
    /// `session_id` (Live) or `call_id` (Realtime).
    pub id: String,
    pub sip_headers: Vec<SipHeader>,
}

impl WebhookEvent {
    /// Parses a verified body.
    ///
    /// # Errors
    /// [`WebhookError::Body`] when it is not JSON or a known event is malformed.
    pub fn parse(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        Ok(serde_json::from_slice(body)?)
    }

    /// The incoming call this event announces, if it is one.
    pub fn incoming(self) -> Option<Incoming> {
        match self {
            WebhookEvent::LiveTransportIncoming { data, .. }
            | WebhookEvent::LiveCallIncoming { data, .. } => Some(Incoming {
                surface: Surface::Live,
                id: data.session_id,
                sip_headers: data.sip_headers,
            }),
            WebhookEvent::RealtimeCallIncoming { data, .. } => Some(Incoming {
                surface: Surface::Realtime,
                id: data.call_id,
                sip_headers: data.sip_headers,
            }),
            WebhookEvent::Other => None,
        }
    }
}

impl Incoming {
    /// The first value of header `name` (case-insensitive, as SIP header
    /// names are).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.sip_headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The number dialled: the user part of the `To` URI.
    pub fn to_number(&self) -> Option<String> {
        self.header("To").and_then(uri_number)
    }

    /// The caller: the user part of the `From` URI.
    pub fn from_number(&self) -> Option<String> {
        self.header("From").and_then(uri_number)
    }

    /// The SIP `Call-ID`, for logs.
    pub fn sip_call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }
}

/// The telephone number in a SIP `From`/`To` value (`"Ann" <sip:+1415…@host>;tag=x`,
/// `sip:+1415…@host`, `<tel:+1415…>`): the URI's user part, visual separators
/// dropped; `None` when it is not a number (`sip:alice@host`). RFC 3261
/// §20.20/§20.39, RFC 3966.
pub fn uri_number(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or(value),
    };
    let uri = uri.trim();
    let rest = ["sips:", "sip:", "tel:"].iter().find_map(|scheme| {
        uri.get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &uri[scheme.len()..])
    })?;
    let user = rest.split(['@', ';', '?']).next().unwrap_or_default();
    let number: String = user
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    let digits = number.strip_prefix('+').unwrap_or(&number);
    (!digits.is_empty() && digits.len() <= 15 && digits.chars().all(|c| c.is_ascii_digit()))
        .then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_from_sip_and_tel_uris_in_any_header_form() {
        assert_eq!(
            uri_number("sip:+14155550123@sip.example.com").as_deref(),
            Some("+14155550123")
        );
        assert_eq!(
            uri_number("\"Dana\" <sip:+1-415-555-0123@pbx.example.com;user=phone>;tag=9f")
                .as_deref(),
            Some("+14155550123")
        );
        assert_eq!(
            uri_number("<tel:+18005550100>").as_deref(),
            Some("+18005550100")
        );
        assert_eq!(
            uri_number("sips:18005550100@x;transport=tls").as_deref(),
            Some("18005550100")
        );
        assert_eq!(uri_number("sip:alice@example.com"), None);
        assert_eq!(uri_number("mailto:a@b"), None);
        assert_eq!(uri_number(""), None);
    }

    #[test]
    fn the_three_incoming_events_parse_and_others_are_other() {
        let live = br#"{"object":"event","id":"evt_1","type":"live.transport.incoming","created_at":1750287018,"data":{"type":"sip","session_id":"live_123","sip_media_security":"srtp","sip_headers":[{"name":"From","value":"sip:+14155550123@sip.example.com"},{"name":"to","value":"sip:+18005550100@sip.example.com"}]}}"#;
        let incoming = WebhookEvent::parse(live).unwrap().incoming().unwrap();
        assert_eq!(incoming.surface, Surface::Live);
        assert_eq!(incoming.id, "live_123");
        assert_eq!(incoming.to_number().as_deref(), Some("+18005550100"));
        assert_eq!(incoming.from_number().as_deref(), Some("+14155550123"));
        let realtime = br#"{"object":"event","id":"evt_2","type":"realtime.call.incoming","created_at":1,"data":{"call_id":"rtc_9","sip_headers":[]}}"#;
        let incoming = WebhookEvent::parse(realtime).unwrap().incoming().unwrap();
        assert_eq!(
            (incoming.surface, incoming.id.as_str()),
            (Surface::Realtime, "rtc_9")
        );
        let other = br#"{"object":"event","id":"evt_3","type":"batch.completed","created_at":1,"data":{"id":"b"}}"#;
        assert_eq!(WebhookEvent::parse(other).unwrap(), WebhookEvent::Other);
        assert!(WebhookEvent::parse(b"{\"type\":\"realtime.call.incoming\"}").is_err());
    }

    #[test]
    fn signatures_are_checked_with_the_timestamp_window() {
        // Key "test-key-32-bytes-long-enough!!!" in base64.
        let secret = "whsec_dGVzdC1rZXktMzItYnl0ZXMtbG9uZy1lbm91Z2ghISE=";
        let webhook = standardwebhooks::Webhook::new(secret).unwrap();
        let body = br#"{"type":"x"}"#;
        let now = chrono::Utc::now().timestamp();
        let signature = webhook.sign("msg_1", now, body).unwrap();
        let ts = now.to_string();
        let headers = SignedHeaders {
            id: Some("msg_1"),
            timestamp: Some(&ts),
            signature: Some(&signature),
        };
        assert!(verify(secret, &headers, body).is_ok());
        assert!(verify(secret, &headers, br#"{"type":"y"}"#).is_err());
        let other = SignedHeaders {
            id: Some("msg_2"),
            ..headers.clone()
        };
        assert!(verify(secret, &other, body).is_err());
        let old = (now - 301).to_string();
        let signature_old = webhook.sign("msg_1", now - 301, body).unwrap();
        let stale = SignedHeaders {
            id: Some("msg_1"),
            timestamp: Some(&old),
            signature: Some(&signature_old),
        };
        assert!(verify(secret, &stale, body).is_err());
        let missing = SignedHeaders {
            signature: None,
            ..headers
        };
        assert!(verify(secret, &missing, body).is_err());
        assert!(matches!(
            verify("whsec_%%%", &SignedHeaders::default(), body),
            Err(WebhookError::Secret(_))
        ));
    }
}
