//! OpenAI's call controls for SIP calls it answers itself: accept, reject,
//! refer and hang up, on the GPT-Live surface (`/v1/live/sessions/{id}/…`)
//! or the Realtime one (`/v1/realtime/calls/{id}/…`), and the sideband
//! WebSocket URL of each. Every URL derives from `openai.api_base`.
//!
//! Facts (docs/openai-sip.md): OpenAI guides "Voice over SIP" (api=live,
//! api=realtime) and "Server controls"; the `openai` Python package's
//! `resources/live/sessions.py`, `types/live/session_{accept,reject,refer}_params.py`,
//! `resources/realtime/calls.py`, `types/realtime/call_{accept,reject,refer}_params.py`.
//! Each answers 200 with an empty body; a competing decision on a call that
//! the other surface (or another node) already answered is refused with the
//! error code `decision_already_made`.

use std::time::Duration;

use serde::Serialize;

/// Seconds a call-control request may take (accept answers once OpenAI has
/// set the session up).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most of a response body read, bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Most of an error body kept for the log, characters.
const MAX_ERROR_BODY_CHARS: usize = 300;

/// Which OpenAI surface a pending SIP call is answered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// GPT-Live: `/v1/live/sessions/{session_id}/…`, sideband `…/attach`.
    Live,
    /// Realtime: `/v1/realtime/calls/{call_id}/…`, sideband `/v1/realtime?call_id=`.
    Realtime,
}

impl Surface {
    /// `live` or `realtime`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Live => "live",
            Surface::Realtime => "realtime",
        }
    }
}

/// A call-control request failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenAiCallError {
    /// Transport failure or timeout.
    #[error("OpenAI call control: {0}")]
    Http(String),
    /// OpenAI answered with a non-2xx status; `code` is `error.code` of the body.
    #[error("OpenAI call control answered {status}: {body}")]
    Status {
        status: u16,
        code: Option<String>,
        body: String,
    },
}

impl OpenAiCallError {
    /// The call was already answered elsewhere (the other surface, another node).
    pub fn decision_already_made(&self) -> bool {
        matches!(self, OpenAiCallError::Status { code: Some(c), .. } if c == "decision_already_made")
    }

    /// The session or call no longer exists (it ended).
    pub fn gone(&self) -> bool {
        matches!(self, OpenAiCallError::Status { status: 404, .. })
    }
}

/// Whether `id` (a webhook's `session_id` or `call_id`) can name a call in a
/// URL as is: 1–128 ASCII letters, digits, `_` or `-` (OpenAI's ids are
/// `live_…` and `rtc_…`). Anything else is refused where it arrives.
pub fn well_formed_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `POST …/reject` body: the SIP final response code (300–699).
#[derive(Debug, Serialize)]
struct RejectBody {
    status_code: u16,
}

/// `POST …/refer` body: the SIP `Refer-To` URI (`tel:+E164` or `sip:…`).
#[derive(Debug, Serialize)]
struct ReferBody<'a> {
    target_uri: &'a str,
}

/// OpenAI's call controls with one API key.
#[derive(Clone)]
pub struct OpenAiCalls {
    /// `openai.api_base`, without a trailing slash.
    api_base: String,
    api_key: String,
    tls: Option<openssl::ssl::SslConnector>,
}

impl OpenAiCalls {
    /// Controls under `api_base` (`https://api.openai.com`) with `api_key`.
    pub fn new(api_base: &str, api_key: &str, tls: Option<openssl::ssl::SslConnector>) -> Self {
        OpenAiCalls {
            api_base: api_base.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            tls,
        }
    }

    /// The API key, for the sideband's `Authorization` header.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// `{api_base}/v1/live/sessions/{id}/{action}` or
    /// `{api_base}/v1/realtime/calls/{id}/{action}`; `id` is one path segment
    /// ([`well_formed_id`] is checked where it arrives).
    pub fn action_url(&self, surface: Surface, id: &str, action: &str) -> String {
        match surface {
            Surface::Live => format!("{}/v1/live/sessions/{id}/{action}", self.api_base),
            Surface::Realtime => format!("{}/v1/realtime/calls/{id}/{action}", self.api_base),
        }
    }

    /// The sideband WebSocket URL: `wss://…/v1/live/sessions/{id}/attach` or
    /// `wss://…/v1/realtime?call_id={id}` (`http` bases give `ws`).
    pub fn sideband_url(&self, surface: Surface, id: &str) -> String {
        let base = if let Some(rest) = self.api_base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.api_base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.api_base.clone()
        };
        match surface {
            Surface::Live => format!("{base}/v1/live/sessions/{id}/attach"),
            Surface::Realtime => format!("{base}/v1/realtime?call_id={id}"),
        }
    }

    /// Answers the call with `body` (Live: `{"session":{"type":"live",…}}`;
    /// Realtime: the session itself, `{"type":"realtime",…}`).
    ///
    /// # Errors
    /// [`OpenAiCallError`]; see [`OpenAiCallError::decision_already_made`].
    pub async fn accept(
        &self,
        surface: Surface,
        id: &str,
        body: &serde_json::Value,
    ) -> Result<(), OpenAiCallError> {
        self.post(self.action_url(surface, id, "accept"), Some(body))
            .await
    }

    /// Declines the call with SIP `status_code` (486 busy, 404 not found, 480
    /// temporarily unavailable).
    ///
    /// # Errors
    /// [`OpenAiCallError`].
    pub async fn reject(
        &self,
        surface: Surface,
        id: &str,
        status_code: u16,
    ) -> Result<(), OpenAiCallError> {
        let body = serde_json::to_value(RejectBody { status_code })
            .map_err(|e| OpenAiCallError::Http(e.to_string()))?;
        self.post(self.action_url(surface, id, "reject"), Some(&body))
            .await
    }

    /// Transfers the caller with a SIP REFER to `target_uri`.
    ///
    /// # Errors
    /// [`OpenAiCallError`].
    pub async fn refer(
        &self,
        surface: Surface,
        id: &str,
        target_uri: &str,
    ) -> Result<(), OpenAiCallError> {
        let body = serde_json::to_value(ReferBody { target_uri })
            .map_err(|e| OpenAiCallError::Http(e.to_string()))?;
        self.post(self.action_url(surface, id, "refer"), Some(&body))
            .await
    }

    /// Ends the call (no body).
    ///
    /// # Errors
    /// [`OpenAiCallError`].
    pub async fn hangup(&self, surface: Surface, id: &str) -> Result<(), OpenAiCallError> {
        self.post(self.action_url(surface, id, "hangup"), None)
            .await
    }

    async fn post(
        &self,
        url: String,
        body: Option<&serde_json::Value>,
    ) -> Result<(), OpenAiCallError> {
        let request = crate::http_client::shared(self.tls.as_ref(), REQUEST_TIMEOUT)
            .post(url)
            .bearer_auth(&self.api_key);
        let sent = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let mut resp = sent.map_err(|e| OpenAiCallError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = resp.body().limit(MAX_BODY_BYTES).await.unwrap_or_default();
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string));
        Err(OpenAiCallError::Status {
            status,
            code,
            body: String::from_utf8_lossy(&body)
                .chars()
                .take(MAX_ERROR_BODY_CHARS)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_derive_from_the_api_base() {
        let calls = OpenAiCalls::new("https://api.openai.com/", "k", None);
        assert_eq!(
            calls.action_url(Surface::Live, "live_1", "accept"),
            "https://api.openai.com/v1/live/sessions/live_1/accept"
        );
        assert_eq!(
            calls.action_url(Surface::Realtime, "rtc_1", "refer"),
            "https://api.openai.com/v1/realtime/calls/rtc_1/refer"
        );
        assert_eq!(
            calls.sideband_url(Surface::Live, "live_1"),
            "wss://api.openai.com/v1/live/sessions/live_1/attach"
        );
        let local = OpenAiCalls::new("http://127.0.0.1:9", "k", None);
        assert_eq!(
            local.sideband_url(Surface::Realtime, "rtc_1"),
            "ws://127.0.0.1:9/v1/realtime?call_id=rtc_1"
        );
        assert!(well_formed_id("live_6841a0c2e1f48190"));
        assert!(well_formed_id("rtc_u1_9c4e-7"));
        assert!(!well_formed_id("a/../b"));
        assert!(!well_formed_id(""));
        assert!(!well_formed_id(&"x".repeat(129)));
    }
}
