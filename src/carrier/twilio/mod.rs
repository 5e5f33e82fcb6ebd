//! Twilio: Media Streams wire format ([`wire`]), webhook signatures
//! ([`signature`]), TwiML ([`twiml`]), the WebSocket edge ([`edge`]), the REST
//! calls for transfers, outbound calls and recordings (`crate::rest::twilio`). The Twilio-side
//! emulator used by the `call` CLI, load tests and integration tests is
//! [`crate::far_end`].

pub mod edge;
pub mod grant;
pub mod signature;
pub mod twiml;
pub mod wire;
