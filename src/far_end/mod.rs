//! The emulated far end of our edges, for the `switchboard call` CLI, load tests
//! and integration tests: [`twilio_call::TwilioCall`] behaves like Twilio's side of
//! a bidirectional Media Stream (with a phone's real-time play-out, [`playout`]),
//! and [`log_feed::LogFeed`] listens to switchboard's own live event feed
//! (`GET /logs`). Both use `awc`, which is `!Send`: run them on an actix/tokio
//! `LocalSet` (`#[actix_rt::test]`, `actix_rt::System`). Our server-side edges live
//! in [`crate::carrier`]; nothing here is used by the server.

pub mod log_feed;
pub mod playout;
pub mod twilio_call;

use std::time::Duration;

use actix_codec::Framed;
use awc::ws;
use awc::BoxedSocket;
use thiserror::Error;
use tokio::time::{timeout_at, Instant};

pub use log_feed::LogFeed;
pub use twilio_call::{random_sid, CallSetup, TwilioCall};

/// One 20 ms µ-law frame at 8 kHz, in bytes.
pub const FRAME_BYTES: usize = 160;
/// Duration of one frame.
pub const FRAME: Duration = Duration::from_millis(20);
/// µ-law bytes played per millisecond (8 kHz, 8 bits).
pub const BYTES_PER_MS: u64 = 8;
/// µ-law silence byte.
pub const SILENCE: u8 = 0xFF;
/// How long [`TwilioCall::connect`] and [`LogFeed::connect`] wait for the handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame accepted from the server (outbound media may be long), in bytes.
pub const MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Why the client could not connect or send.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The WebSocket handshake failed (bad URL, connection refused, TLS, protocol).
    #[error("connect to {url} failed: {detail}")]
    Connect {
        /// The URL dialled.
        url: String,
        /// The transport's message.
        detail: String,
    },
    /// The server answered the upgrade with a non-101 HTTP status (e.g. 403 for a
    /// bad `X-Twilio-Signature`).
    #[error("server refused the WebSocket upgrade with HTTP {status}")]
    Refused {
        /// The HTTP status code.
        status: u16,
    },
    /// No handshake within [`CONNECT_TIMEOUT`].
    #[error("connect to {0} timed out")]
    Timeout(String),
    /// Writing a frame failed (the socket is gone).
    #[error("send failed: {0}")]
    Send(String),
    /// The socket was already closed by either side.
    #[error("the stream is closed")]
    Closed,
    /// Not a DTMF digit Twilio reports (`0`–`9`, `*`, `#`).
    #[error("`{0}` is not a DTMF digit")]
    InvalidDigit(char),
}

type WsFramed = Framed<BoxedSocket, ws::Codec>;

/// Opens a WebSocket with the given headers; maps failures to [`ClientError`].
async fn open_ws(
    url: &str,
    headers: &[(String, String)],
    bearer: Option<&str>,
) -> Result<WsFramed, ClientError> {
    let client = awc::Client::builder()
        .max_http_version(awc::http::Version::HTTP_11)
        .finish();
    let mut req = client.ws(url).max_frame_size(MAX_FRAME_SIZE);
    for (name, value) in headers {
        req = req.header(name.as_str(), value.as_str());
    }
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    match timeout_at(deadline, req.connect()).await {
        Err(_) => Err(ClientError::Timeout(url.to_owned())),
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            Err(ClientError::Refused {
                status: status.as_u16(),
            })
        }
        Ok(Err(e)) => Err(ClientError::Connect {
            url: url.to_owned(),
            detail: e.to_string(),
        }),
        Ok(Ok((_resp, framed))) => Ok(framed),
    }
}
