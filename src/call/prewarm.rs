//! Pre-warming a call at its voice webhook (or the browser's `POST
//! /api/sessions`): the token a pre-warmed call's stream carries (TwiML
//! `<Parameter name="prewarm">`; kept server-side for the browser, whose
//! session token is already secret and single-use) and the message that
//! attaches the stream's carrier edge to the call. The call starts its model
//! link and asks for the greeting before the stream exists, holds the greeting
//! audio in its own (bounded) playback queue, and plays it on [`AttachEdge`].

use actix::prelude::*;
use rand::RngCore;

use crate::messages::CarrierCommand;

/// A single-use pre-warm token: 128 random bits as 32 lowercase hex digits.
/// Unguessable, so only the TwiML Twilio fetched can name the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrewarmToken(String);

impl PrewarmToken {
    /// A fresh token from the thread-local CSPRNG.
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        PrewarmToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token as sent in the TwiML parameter.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for PrewarmToken {
    fn default() -> Self {
        Self::new()
    }
}

/// Carrier edge → pre-warmed `CallActor`: the call's media stream has started;
/// outbound media now goes to `edge`. `true` when attached; `false` when the
/// call has already ended or has an edge (the stream is then served cold).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct AttachEdge {
    pub edge: Recipient<CarrierCommand>,
    /// Carrier stream id (Twilio `MZ…`; `None` for the browser).
    pub stream_sid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_bit_hex_and_distinct() {
        let a = PrewarmToken::new();
        let b = PrewarmToken::new();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
