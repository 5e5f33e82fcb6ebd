//! Carrier edges: modules that speak one carrier's wire protocol (Twilio Media
//! Streams, TwiML and webhook signatures; the jambonz WebSocket API; the browser
//! softphone; OpenAI's SIP webhooks and sideband) and hand typed values to the
//! call actors.

pub mod browser;
pub mod env;
pub mod jambonz;
pub mod openai_sip;
pub mod twilio;
