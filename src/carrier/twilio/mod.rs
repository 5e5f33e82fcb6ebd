//! Twilio: Media Streams wire format ([`wire`]), webhook signatures
//! ([`signature`]), TwiML ([`twiml`]), the WebSocket edge ([`edge`]), the REST
//! calls made during a call ([`rest`]), and a client
//! that behaves like Twilio for the `call` CLI, load tests and integration tests
//! ([`client`]).

pub mod client;
pub mod edge;
pub mod rest;
pub mod signature;
pub mod twiml;
pub mod wire;
