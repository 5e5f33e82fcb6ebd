//! Twilio REST API calls switchboard makes during a live call: replacing a call's
//! TwiML (a transfer `<Dial>`) through the Calls resource,
//! `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` with a
//! form body and HTTP Basic auth `AccountSid:AuthToken` (carriers.md §1.6; field
//! names from twilio-python's Calls resource). Replacing the TwiML ends the Media
//! Stream: Twilio sends `stop` and runs the new document.

use std::time::Duration;

/// Time allowed for one REST request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Characters of an error body kept in [`TwilioRestError::Status`].
const MAX_ERROR_BODY_CHARS: usize = 500;

/// Why a Twilio REST request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TwilioRestError {
    /// `twilio.account_sid` or `SWITCHBOARD_TWILIO__AUTH_TOKEN` is missing.
    #[error("Twilio REST credentials are not configured (twilio.account_sid, SWITCHBOARD_TWILIO__AUTH_TOKEN)")]
    NotConfigured,
    /// Connecting, sending or reading failed, or timed out.
    #[error("Twilio REST request failed: {0}")]
    Http(String),
    /// Twilio answered with a non-2xx status; `body` is the start of its JSON error.
    #[error("Twilio answered {status}: {body}")]
    Status { status: u16, body: String },
}

/// Credentials and base URL for the REST API.
#[derive(Clone)]
pub struct TwilioRest {
    /// `https://api.twilio.com` (tests: a local server).
    pub api_base: String,
    pub account_sid: String,
    pub auth_token: String,
    pub tls: Option<openssl::ssl::SslConnector>,
}

impl TwilioRest {
    /// From `[twilio]`; `None` without an account SID or auth token.
    pub fn from_config(
        config: &crate::config::TwilioConfig,
        tls: Option<openssl::ssl::SslConnector>,
    ) -> Option<TwilioRest> {
        let auth_token = config.auth_token.clone().filter(|t| !t.is_empty())?;
        if config.account_sid.is_empty() {
            return None;
        }
        Some(TwilioRest {
            api_base: config.api_base.clone(),
            account_sid: config.account_sid.clone(),
            auth_token,
            tls,
        })
    }

    /// The Calls resource URL of `call_sid`.
    pub fn call_url(&self, call_sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Calls/{}.json",
            self.api_base.trim_end_matches('/'),
            self.account_sid,
            call_sid
        )
    }

    /// Replaces the live call's instructions with `twiml` (form field `Twiml`).
    ///
    /// Errors: [`TwilioRestError::Http`] on transport failure or timeout,
    /// [`TwilioRestError::Status`] when Twilio refuses (e.g. 404 for a call that
    /// already ended).
    pub async fn update_call_twiml(
        &self,
        call_sid: &str,
        twiml: &str,
    ) -> Result<(), TwilioRestError> {
        let mut connector = awc::Connector::new().timeout(REQUEST_TIMEOUT);
        if let Some(tls) = &self.tls {
            connector = connector.openssl(tls.clone());
        }
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(REQUEST_TIMEOUT)
            .finish();
        let mut resp = client
            .post(self.call_url(call_sid))
            .basic_auth(&self.account_sid, &self.auth_token)
            .send_form(&[("Twiml", twiml)])
            .await
            .map_err(|e| TwilioRestError::Http(e.to_string()))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let body = resp.body().limit(64 * 1024).await.unwrap_or_default();
        Err(TwilioRestError::Status {
            status: resp.status().as_u16(),
            body: String::from_utf8_lossy(&body)
                .chars()
                .take(MAX_ERROR_BODY_CHARS)
                .collect(),
        })
    }
}
