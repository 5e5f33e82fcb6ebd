//! Pre-warming a call at its voice webhook (or the browser's `POST
//! /api/sessions`): the token a pre-warmed call's stream carries (TwiML
//! `<Parameter name="prewarm">`; kept server-side for the browser, whose
//! session token is already secret and single-use) and the message that
//! attaches the stream's carrier edge to the call. The call starts its model
//! link and asks for the greeting before the stream exists, holds the greeting
//! audio in its own (bounded) playback queue, and plays it on [`AttachEdge`].
//!
//! The webhook and the stream are separate connections, so they may land on
//! different worker threads. A call left on the webhook's thread would cost a
//! cross-thread wake for every 20 ms frame in each direction; instead the
//! stream's worker takes the call over ([`HandOver`]): the open model session
//! moves (its socket re-registered there) and a new call actor on the stream's
//! thread replays what the session has said so far, so it holds the same
//! greeting, conversation and response state.

use actix::prelude::*;
use rand::RngCore;

use crate::actor_messages::CarrierCommand;
use crate::call_tree::call::CallSetup;
use crate::call_tree::link::LinkHandover;

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

    /// A token already handed out (answering the same webhook again).
    pub fn from_issued(token: String) -> Self {
        PrewarmToken(token)
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
#[derive(Message, Clone)]
#[rtype(result = "bool")]
pub struct AttachEdge {
    pub edge: Recipient<CarrierCommand>,
    /// Carrier stream id (Twilio `MZ…`; `None` for the browser).
    pub stream_sid: Option<String>,
}

/// Carrier edge (through the Supervisor) → pre-warmed `CallActor` on another
/// thread: give the call up to be continued on the stream's thread. `None`
/// when it cannot be moved now (ended or ending, already attached, a tool
/// call or restart under way, or its session stopped recording); the stream
/// then attaches across threads ([`AttachEdge`]).
#[derive(Message)]
#[rtype(result = "Option<CallHandover>")]
pub struct HandOver;

/// A pre-warmed call leaving its actor: its setup (no edge yet), its open
/// model session and whether that session was already asked for the greeting.
/// The old actor has stopped without ending the call: the admission slot,
/// the call row (not written yet) and the call id pass to the new actor.
pub struct CallHandover {
    pub setup: CallSetup,
    pub link: LinkHandover,
    pub greeting_requested: bool,
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
