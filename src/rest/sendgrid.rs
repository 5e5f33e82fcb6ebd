//! SendGrid's v3 mail-send API (`POST {api_base}/v3/mail/send`, `Authorization:
//! Bearer`, JSON `personalizations`/`from`/`subject`/`content`; 202 Accepted — see
//! docs/sendgrid.md): text replies and owner notifications by email.

use std::time::Duration;

use serde_json::json;

use crate::config::SendGridConfig;

/// Seconds a mail-send request may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a mail-send request failed.
#[derive(Debug, thiserror::Error)]
pub enum MailSendError {
    /// No `SWITCHBOARD_SENDGRID__API_KEY`: the reply is stored, not sent.
    #[error("no SendGrid API key")]
    NoApiKey,
    /// The request could not be sent or timed out.
    #[error("mail-send request failed: {0}")]
    Http(String),
    /// SendGrid answered non-2xx; `body` is the start of its answer.
    #[error("mail-send answered {status}: {body}")]
    Status { status: u16, body: String },
}

/// A plain-text reply to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEmail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The mail-send JSON body for `mail`.
pub fn mail_send_body(mail: &OutboundEmail) -> serde_json::Value {
    json!({
        "personalizations": [{"to": [{"email": mail.to}]}],
        "from": {"email": mail.from},
        "subject": mail.subject,
        "content": [{"type": "text/plain", "value": mail.text}],
    })
}

/// Sends `mail` through `POST {api_base}/v3/mail/send`.
///
/// Errors: [`MailSendError::NoApiKey`], [`MailSendError::Http`],
/// [`MailSendError::Status`].
pub async fn send(config: &SendGridConfig, mail: &OutboundEmail) -> Result<(), MailSendError> {
    let key = config.api_key.as_deref().ok_or(MailSendError::NoApiKey)?;
    let url = format!("{}/v3/mail/send", config.api_base.trim_end_matches('/'));
    let mut resp = crate::http_client::shared(None, SEND_TIMEOUT)
        .post(&url)
        .bearer_auth(key)
        .send_json(&mail_send_body(mail))
        .await
        .map_err(|e| MailSendError::Http(e.to_string()))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.body().limit(4096).await.unwrap_or_default();
    Err(MailSendError::Status {
        status: status.as_u16(),
        body: String::from_utf8_lossy(&body).chars().take(300).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_send_body_has_the_v3_shape() {
        let body = mail_send_body(&OutboundEmail {
            from: "desk@acme.example".into(),
            to: "ana@sender.example".into(),
            subject: "Re: Order 1234".into(),
            text: "On its way.".into(),
        });
        assert_eq!(
            body["personalizations"][0]["to"][0]["email"],
            "ana@sender.example"
        );
        assert_eq!(body["from"]["email"], "desk@acme.example");
        assert_eq!(body["content"][0]["type"], "text/plain");
    }
}
