//! Clients for the REST APIs switchboard calls out to: Twilio's (calls, messages)
//! and SendGrid's mail send. One module both the carrier edges and the text and
//! notification senders use, so none of them imports another's; [`http_client`]
//! builds the client they (and the CalDAV calendars) send with.

pub mod sendgrid;
pub mod twilio;

use std::time::Duration;

/// An HTTP client whose connect and request timeouts are `timeout`, speaking
/// TLS through `tls` for `https://` URLs (none: plain HTTP only).
pub fn http_client(tls: Option<&openssl::ssl::SslConnector>, timeout: Duration) -> awc::Client {
    let mut connector = awc::Connector::new().timeout(timeout);
    if let Some(tls) = tls {
        connector = connector.openssl(tls.clone());
    }
    awc::Client::builder()
        .connector(connector)
        .timeout(timeout)
        .finish()
}
