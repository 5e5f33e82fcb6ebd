//! The per-call credential of a Twilio Media Stream. Twilio signs a stream's
//! WebSocket upgrade over its URL (`X-Twilio-Signature`, docs/twilio.md
//! §Signatures) — path kept, query dropped, no nonce or timestamp — so a
//! fixed `/media-stream` URL makes the signature a constant: one captured
//! header opened unlimited streams. The voice webhook therefore mints a
//! [`StreamGrant`] for its call and puts it in the stream URL's *path*
//! (`/media-stream/<grant>`): the signature then covers a per-call URL, and the
//! grant itself carries what the signed webhook said (CallSid, tenant, caller,
//! dialled number), so a stream's tenant and caller ID never come from its
//! unsigned `customParameters`. Self-contained (HMAC-SHA256, expiring), so any
//! node of a cluster can check it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Seconds a grant stays valid after the webhook (Twilio opens the stream
/// within a second or two of answering).
pub const GRANT_TTL_SECS: i64 = 120;

/// What the signed voice webhook established about one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamGrant {
    /// Twilio `CallSid` (`CA…`); the stream's `start` must name it.
    #[serde(rename = "c")]
    pub call_sid: String,
    /// The tenant the webhook routed the call to.
    #[serde(rename = "t")]
    pub tenant: String,
    /// The caller (E.164; the customer on an outbound call).
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The dialled number.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Unix seconds after which the grant is refused.
    #[serde(rename = "e")]
    pub expires: i64,
}

/// Why a grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("stream credential is malformed")]
    Malformed,
    #[error("stream credential does not verify")]
    BadSignature,
    #[error("stream credential expired")]
    Expired,
}

/// The grant key: HMAC-SHA256 of a fixed label under the Twilio auth token,
/// so every node holding the token derives the same key and nothing else
/// needs configuring.
pub fn grant_key(auth_token: &str) -> [u8; 32] {
    let mut mac = mac(auth_token.as_bytes());
    mac.update(b"switchboard media-stream grant v1");
    mac.finalize().into_bytes().into()
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

impl StreamGrant {
    /// The path segment: `base64url(JSON).base64url(HMAC)`, URL-safe, no padding.
    pub fn mint(&self, key: &[u8; 32]) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let mut m = mac(key);
        m.update(body.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// Checks `segment` under `key` at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`GrantError`]: malformed, a tag that does not verify (checked in
    /// constant time), or past its expiry.
    pub fn verify(segment: &str, key: &[u8; 32], now: i64) -> Result<StreamGrant, GrantError> {
        let (body, tag) = segment.split_once('.').ok_or(GrantError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| GrantError::Malformed)?;
        let mut m = mac(key);
        m.update(body.as_bytes());
        let expected = m.finalize().into_bytes();
        if expected.as_slice().ct_eq(&tag).unwrap_u8() != 1 {
            return Err(GrantError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| GrantError::Malformed)?;
        let grant: StreamGrant =
            serde_json::from_slice(&json).map_err(|_| GrantError::Malformed)?;
        if now > grant.expires {
            return Err(GrantError::Expired);
        }
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> StreamGrant {
        StreamGrant {
            call_sid: "CA0123456789abcdef0123456789abcdef".into(),
            tenant: "acme-dental".into(),
            from: Some("+15550100001".into()),
            to: Some("+15550100000".into()),
            expires: 1_000,
        }
    }

    #[test]
    fn a_minted_grant_verifies_until_it_expires() {
        let key = grant_key("twilio-auth-token");
        let seg = grant().mint(&key);
        assert!(seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(StreamGrant::verify(&seg, &key, 999), Ok(grant()));
        assert_eq!(
            StreamGrant::verify(&seg, &key, 1_001),
            Err(GrantError::Expired)
        );
    }

    #[test]
    fn a_changed_or_foreign_grant_is_refused() {
        let key = grant_key("twilio-auth-token");
        let seg = grant().mint(&key);
        let other = grant_key("another-token");
        assert_eq!(
            StreamGrant::verify(&seg, &other, 0),
            Err(GrantError::BadSignature)
        );
        let mut forged = grant();
        forged.from = Some("+15550109999".into());
        let (_, tag) = seg.split_once('.').unwrap();
        let body = forged.mint(&key);
        let (body, _) = body.split_once('.').unwrap();
        assert_eq!(
            StreamGrant::verify(&format!("{body}.{tag}"), &key, 0),
            Err(GrantError::BadSignature)
        );
        assert_eq!(
            StreamGrant::verify("nodot", &key, 0),
            Err(GrantError::Malformed)
        );
    }
}
