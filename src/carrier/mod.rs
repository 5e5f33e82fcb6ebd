//! Carrier edges: modules that speak one carrier's wire protocol (Twilio Media
//! Streams, TwiML and webhook signatures) and hand typed values to the call actors.

pub mod twilio;
