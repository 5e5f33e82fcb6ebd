//! Twilio REST API calls switchboard makes (docs/twilio.md §Changing a live call,
//! §Recordings): replace a live
//! call's TwiML (a transfer `<Dial>`), create an outbound call whose inline TwiML
//! streams it back to `/media-stream`, start/stop a recording of a live call, and
//! send an SMS (Messages resource).
//! Form-encoded POSTs under
//! `{api_base}/2010-04-01/Accounts/{AccountSid}/…` with HTTP Basic auth
//! `AccountSid:AuthToken` (field names from twilio-python's Calls and Recordings
//! resources). Replacing a call's TwiML ends its Media Stream: Twilio sends `stop`
//! and runs the new document.

use std::time::Duration;

use serde::Deserialize;

/// Time allowed for one REST request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Characters of an error body kept in [`TwilioRestError::Status`].
const MAX_ERROR_BODY_CHARS: usize = 500;

/// Largest response body read, bytes.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Largest recording downloaded, bytes: ten minutes of 8 kHz 16-bit WAV
/// (9.6 MB) with room to spare.
const MAX_RECORDING_BYTES: usize = 16 * 1024 * 1024;

/// Time allowed for one recording download.
const RECORDING_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a Twilio REST request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TwilioRestError {
    /// `twilio.account_sid` or `SWITCHBOARD_TWILIO__AUTH_TOKEN` is missing.
    #[error(
        "Twilio REST API is not configured (twilio.account_sid and SWITCHBOARD_TWILIO__AUTH_TOKEN)"
    )]
    NotConfigured,
    /// Connecting, sending or reading failed, or timed out.
    #[error("Twilio REST request failed: {0}")]
    Http(String),
    /// Twilio answered with a non-2xx status; `body` is the start of its JSON error.
    #[error("Twilio answered {status}: {body}")]
    Status { status: u16, body: String },
    /// A success body without the expected `sid`.
    #[error("unexpected Twilio response: {0}")]
    Body(String),
}

/// Credentials and base URL for the REST API.
#[derive(Clone)]
pub struct TwilioRest {
    /// `https://api.twilio.com` (tests: a local server), no trailing slash.
    pub api_base: String,
    /// `AC…`
    pub account_sid: String,
    pub auth_token: String,
    /// TLS connector for `https://` bases.
    pub tls: Option<openssl::ssl::SslConnector>,
}

#[derive(Deserialize)]
struct SidBody {
    sid: String,
}

impl TwilioRest {
    /// From `[twilio]`; [`TwilioRestError::NotConfigured`] without SID or token.
    pub fn from_config(
        config: &crate::config::TwilioConfig,
        tls: Option<openssl::ssl::SslConnector>,
    ) -> Result<TwilioRest, TwilioRestError> {
        match (&config.account_sid, &config.auth_token) {
            (sid, Some(token)) if !sid.is_empty() && !token.is_empty() => Ok(TwilioRest {
                api_base: config.api_base.trim_end_matches('/').to_string(),
                account_sid: sid.clone(),
                auth_token: token.clone(),
                tls,
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

    /// The Calls resource URL of `call_sid`.
    pub fn call_url(&self, call_sid: &str) -> String {
        self.url(&format!("Calls/{call_sid}.json"))
    }

    /// POSTs `form` to `url`; returns the success body.
    async fn post(&self, url: String, form: &[(&str, &str)]) -> Result<String, TwilioRestError> {
        let mut resp = self
            .client(REQUEST_TIMEOUT)
            .post(url)
            .basic_auth(&self.account_sid, &self.auth_token)
            .send_form(&form)
            .await
            .map_err(|e| TwilioRestError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body()
            .limit(MAX_BODY_BYTES)
            .await
            .map_err(|e| TwilioRestError::Http(e.to_string()))?;
        let text = String::from_utf8_lossy(&body).into_owned();
        if !(200..300).contains(&status) {
            return Err(TwilioRestError::Status {
                status,
                body: text.chars().take(MAX_ERROR_BODY_CHARS).collect(),
            });
        }
        Ok(text)
    }

    async fn post_for_sid(
        &self,
        url: String,
        form: &[(&str, &str)],
    ) -> Result<String, TwilioRestError> {
        let text = self.post(url, form).await?;
        let parsed: SidBody =
            serde_json::from_str(&text).map_err(|e| TwilioRestError::Body(e.to_string()))?;
        Ok(parsed.sid)
    }

    fn client(&self, timeout: Duration) -> awc::Client {
        crate::http_client::shared(self.tls.as_ref(), timeout)
    }

    /// Downloads recording `recording_sid` (`RE` + 32 hex digits) as a WAV file
    /// (`GET …/Recordings/{RE}.wav`, Twilio "Recording resource: fetch a
    /// recording's media file"; 16-bit PCM). The URL is built from the sid, never
    /// taken from a webhook, so a callback cannot point the download elsewhere.
    ///
    /// Errors: [`TwilioRestError::Body`] for a malformed sid or a body over 16 MB,
    /// [`TwilioRestError::Http`], [`TwilioRestError::Status`] (404 while Twilio
    /// is still processing it, or for an unknown sid).
    pub async fn fetch_recording_wav(
        &self,
        recording_sid: &str,
    ) -> Result<Vec<u8>, TwilioRestError> {
        let well_formed = recording_sid.len() == 34
            && recording_sid.starts_with("RE")
            && recording_sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(TwilioRestError::Body(format!(
                "not a recording sid: {:?}",
                recording_sid.chars().take(40).collect::<String>()
            )));
        }
        let mut resp = self
            .client(RECORDING_TIMEOUT)
            .get(self.url(&format!("Recordings/{recording_sid}.wav")))
            .basic_auth(&self.account_sid, &self.auth_token)
            .send()
            .await
            .map_err(|e| TwilioRestError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = resp.body().limit(MAX_BODY_BYTES).await.unwrap_or_default();
            return Err(TwilioRestError::Status {
                status,
                body: String::from_utf8_lossy(&body)
                    .chars()
                    .take(MAX_ERROR_BODY_CHARS)
                    .collect(),
            });
        }
        let body = resp
            .body()
            .limit(MAX_RECORDING_BYTES)
            .await
            .map_err(|e| TwilioRestError::Body(e.to_string()))?;
        Ok(body.to_vec())
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
        self.post(self.call_url(call_sid), &[("Twiml", twiml)])
            .await
            .map(|_| ())
    }

    /// `POST /2010-04-01/Accounts/{AC}/Calls.json` with `To`, `From`, `Url` and
    /// `Method=POST`: Twilio posts its voice webhook to `url` when the call is
    /// answered (docs/twilio.md §Calls); returns the new call's `CA…` sid.
    /// With `amd_callback`, answering machine detection runs beside the call
    /// (Twilio "Answering Machine Detection": `MachineDetection=DetectMessageEnd`,
    /// `AsyncAmd=true`, `AsyncAmdStatusCallback` posted with `AnsweredBy` once the
    /// machine's greeting has ended or a person is heard, `AsyncAmdStatusCallbackMethod=POST`).
    ///
    /// Errors: as [`TwilioRest::send_message`].
    pub async fn create_call(
        &self,
        to: &str,
        from: &str,
        url: &str,
        amd_callback: Option<&str>,
    ) -> Result<String, TwilioRestError> {
        let mut form = vec![("To", to), ("From", from), ("Url", url), ("Method", "POST")];
        if let Some(callback) = amd_callback {
            form.extend([
                ("MachineDetection", "DetectMessageEnd"),
                ("AsyncAmd", "true"),
                ("AsyncAmdStatusCallback", callback),
                ("AsyncAmdStatusCallbackMethod", "POST"),
            ]);
        }
        self.post_for_sid(self.url("Calls.json"), &form).await
    }

    /// `POST /2010-04-01/Accounts/{AC}/Messages.json` with `To`, `From` and
    /// `Body` (docs/twilio.md §Sending a message); returns the message's `SM…` sid.
    ///
    /// Errors: [`TwilioRestError::Http`], [`TwilioRestError::Status`] (400 for a
    /// number Twilio refuses, 429 when rate limited), [`TwilioRestError::Body`].
    pub async fn send_message(
        &self,
        to: &str,
        from: &str,
        body: &str,
    ) -> Result<String, TwilioRestError> {
        self.post_for_sid(
            self.url("Messages.json"),
            &[("To", to), ("From", from), ("Body", body)],
        )
        .await
    }

    /// `POST …/Calls/{CA}/Recordings.json` (both tracks, dual channel); returns the
    /// recording's `RE…` sid.
    pub async fn start_recording(&self, call_sid: &str) -> Result<String, TwilioRestError> {
        self.post_for_sid(
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
        self.post_for_sid(
            self.url(&format!("Calls/{call_sid}/Recordings/{recording_sid}.json")),
            &[("Status", "stopped")],
        )
        .await
    }
}
