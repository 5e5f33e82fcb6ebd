//! Twilio: Media Streams wire format ([`wire`]), webhook signatures
//! ([`signature`]), TwiML ([`twiml`]), the WebSocket edge ([`edge`]), the REST
//! calls for transfers, outbound calls and recordings ([`rest`]). The Twilio-side
//! emulator used by the `call` CLI, load tests and integration tests is
//! [`crate::caller`].

pub mod edge;
pub mod grant;
pub mod rest;
pub mod signature;
pub mod twiml;
pub mod wire;
