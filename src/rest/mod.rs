//! Clients for the REST APIs switchboard calls out to: Twilio's (calls, messages),
//! SendGrid's mail send and OpenAI's call controls for SIP calls it answers. One module both the carrier edges and the text and
//! notification senders use, so none of them imports another's; they send with
//! [`crate::http_client`].

pub mod openai_calls;
pub mod sendgrid;
pub mod twilio;
