//! Twilio REST API calls the operator can trigger (carriers.md §1.6, §1.7): create
//! an outbound call whose inline TwiML streams it back to `/media-stream`, and
//! start/stop a recording of a live call. Form-encoded POSTs with HTTP Basic auth
//! `AccountSid:AuthToken` against `twilio.api_base` (tests point it at a local server).

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

/// Time allowed for one REST request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Twilio REST request failed.
#[derive(Debug, thiserror::Error)]
pub enum TwilioRestError {
    /// `twilio.account_sid` or `SWITCHBOARD_TWILIO__AUTH_TOKEN` is not set.
    #[error(
        "Twilio REST API is not configured (twilio.account_sid and SWITCHBOARD_TWILIO__AUTH_TOKEN)"
    )]
    NotConfigured,
    /// The request did not complete (connect, timeout, TLS).
    #[error("Twilio REST request failed: {0}")]
    Transport(String),
    /// Twilio answered with an error status; `body` is its JSON error text.
    #[error("Twilio answered {status}: {body}")]
    Status { status: u16, body: String },
    /// The success body lacked `sid`.
    #[error("unexpected Twilio response: {0}")]
    Body(String),
}

/// Credentials and base URL of the REST API.
#[derive(Debug, Clone)]
pub struct TwilioRest {
    /// `https://api.twilio.com` (no trailing slash needed).
    pub api_base: String,
    /// `AC…`
    pub account_sid: String,
    pub auth_token: String,
}

#[derive(Deserialize)]
struct SidBody {
    sid: String,
}

impl TwilioRest {
    /// From `[twilio]`; [`TwilioRestError::NotConfigured`] without SID or token.
    pub fn from_config(config: &crate::config::TwilioConfig) -> Result<Self, TwilioRestError> {
        match (&config.account_sid, &config.auth_token) {
            (sid, Some(token)) if !sid.is_empty() && !token.is_empty() => Ok(TwilioRest {
                api_base: config.api_base.trim_end_matches('/').to_string(),
                account_sid: sid.clone(),
                auth_token: token.clone(),
            }),
            _ => Err(TwilioRestError::NotConfigured),
        }
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{tail}",
            self.api_base, self.account_sid
        )
    }

    async fn post(&self, url: String, form: &[(&str, &str)]) -> Result<String, TwilioRestError> {
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.account_sid, self.auth_token));
        let client = awc::Client::builder().timeout(REQUEST_TIMEOUT).finish();
        let mut resp = client
            .post(url)
            .insert_header(("Authorization", format!("Basic {credentials}")))
            .send_form(&form)
            .await
            .map_err(|e| TwilioRestError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body()
            .await
            .map_err(|e| TwilioRestError::Transport(e.to_string()))?;
        let text = String::from_utf8_lossy(&body).into_owned();
        if !(200..300).contains(&status) {
            return Err(TwilioRestError::Status { status, body: text });
        }
        let parsed: SidBody =
            serde_json::from_str(&text).map_err(|e| TwilioRestError::Body(e.to_string()))?;
        Ok(parsed.sid)
    }

    /// `POST /2010-04-01/Accounts/{AC}/Calls.json` with `To`, `From` and inline
    /// `Twiml`; returns the new call's `CA…` sid.
    pub async fn create_call(
        &self,
        to: &str,
        from: &str,
        twiml: &str,
    ) -> Result<String, TwilioRestError> {
        self.post(
            self.url("Calls.json"),
            &[("To", to), ("From", from), ("Twiml", twiml)],
        )
        .await
    }

    /// `POST …/Calls/{CA}/Recordings.json` (both tracks, dual channel); returns the
    /// recording's `RE…` sid.
    pub async fn start_recording(&self, call_sid: &str) -> Result<String, TwilioRestError> {
        self.post(
            self.url(&format!("Calls/{call_sid}/Recordings.json")),
            &[("RecordingChannels", "dual"), ("RecordingTrack", "both")],
        )
        .await
    }

    /// `POST …/Calls/{CA}/Recordings/{RE}.json` with `Status=stopped`.
    pub async fn stop_recording(
        &self,
        call_sid: &str,
        recording_sid: &str,
    ) -> Result<String, TwilioRestError> {
        self.post(
            self.url(&format!("Calls/{call_sid}/Recordings/{recording_sid}.json")),
            &[("Status", "stopped")],
        )
        .await
    }
}
