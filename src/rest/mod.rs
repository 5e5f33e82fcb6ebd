//! Clients for the REST APIs switchboard calls out to: Twilio's (calls, messages)
//! and SendGrid's mail send. One module both the carrier edges and the text and
//! notification senders use, so none of them imports another's; they send with
//! [`crate::http_client`].

pub mod sendgrid;
pub mod twilio;
