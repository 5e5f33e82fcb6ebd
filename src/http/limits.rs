//! The HTTP side of the per-client-address limits: the [`RateLimits`]
//! (`crate::rate_limits`) applied to every request, a deadline for request
//! bodies, and a cap on open connections per address. Over a rate limit the
//! request is answered `429 Too Many Requests` with `Retry-After: <seconds>`
//! ([`ApiError::TooManyRequests`]) and never reaches its handler.
//!
//! Twilio's routes ([`TWILIO_PATHS`]) are the exception to a block: they are
//! authenticated by a signature no one can guess, so a request there from a
//! blocked address still reaches its handler and is refused 429 only when its
//! signature fails — others' failed logins behind the same address never
//! cost a genuine webhook.
//!
//! Failed authentications are the 401/403 answers of any route (admin token,
//! Node client token on the upgrade, browser token or origin, Twilio signature,
//! email secret). When an address exhausts its budget it is blocked from every
//! route except `/health` until the limiter would admit it again, so a guessed
//! credential cannot be confirmed by a 200 while blocked.

use std::collections::HashMap;
use std::future::Future as _;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::Extensions;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};
use bytes::Bytes;
use futures_util::Stream;
use ipnet::IpNet;

use crate::http::error::ApiError;
use crate::net::parse_cidr;
use crate::rate_limits::{canonical, limit_key, RateLimits, RetryAfter};

/// Webhook routes subject to `limits.webhook_per_minute` (`POST`, or `GET` where
/// Twilio is configured to use it), besides every Twilio voice webhook under
/// `/twiml/` (whisper, voicemail, …).
pub const WEBHOOK_PATHS: &[&str] = &["/twiml", "/twiml/whisper", "/sms/inbound", "/email/inbound"];

/// Where tenants' calendar feeds live (`/calendar/{tenant}.ics?token=…`).
pub const FEED_PREFIX: &str = "/calendar/";

/// Twilio's signed routes (and every voice webhook under `/twiml/`, and the
/// per-call `/media-stream/…` URLs): never refused for an address's failed
/// logins while their own signature holds.
pub const TWILIO_PATHS: &[&str] = &["/twiml", "/twiml/whisper", "/sms/inbound", "/media-stream"];

/// Whether `path` is one of [`TWILIO_PATHS`], a voice webhook under
/// `/twiml/`, or a per-call stream URL under `/media-stream/`.
fn is_twilio_path(path: &str) -> bool {
    TWILIO_PATHS.contains(&path)
        || path.starts_with("/twiml/")
        || path.starts_with("/media-stream/")
}

/// Whether `path` is a webhook counted by `limits.webhook_per_minute`.
fn is_webhook_path(path: &str) -> bool {
    WEBHOOK_PATHS.contains(&path) || path.starts_with("/twiml/")
}

/// The 429 refusal for `retry`.
fn too_many(retry: RetryAfter, what: &'static str) -> ApiError {
    ApiError::TooManyRequests {
        what,
        retry_after: retry.0,
    }
}

/// Middleware (`middleware::from_fn`) applying the [`RateLimits`] in app data.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limits = req.app_data::<web::Data<RateLimits>>().cloned();
    let ip = limits
        .as_ref()
        .and_then(|l| l.client_ip(req.head(), req.peer_addr()));
    let (Some(limits), Some(ip)) = (limits, ip) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Twilio's routes go on to their signature check even when blocked.
    let signed_route = is_twilio_path(req.path());
    let mut blocked = None;
    if req.path() != "/health" {
        if let Err(retry) = limits.blocked(ip) {
            if !signed_route {
                return Ok(req.error_response(too_many(retry, "failed authentications")));
            }
            blocked = Some(retry);
        }
    }
    if matches!(*req.method(), Method::POST | Method::GET) && is_webhook_path(req.path()) {
        if let Err(retry) = limits.webhook(ip) {
            log::warn!("{ip}: webhook rate limit exceeded on {}", req.path());
            return Ok(req.error_response(too_many(retry, "webhook requests")));
        }
    }
    // A calendar feed answers a wrong token with 404 (the feed's existence
    // stays secret); it counts as a failed authentication all the same.
    let feed = req.path().starts_with(FEED_PREFIX);
    let resp = next.call(req).await?;
    if matches!(
        resp.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) || (feed && resp.status() == StatusCode::NOT_FOUND)
    {
        let counted = limits.failed_auth(ip);
        if let Err(retry) = blocked.map_or(counted, Err) {
            log::warn!(
                "{ip}: failed-authentication limit exceeded; blocked for {} s",
                retry.0
            );
            let (req, _) = resp.into_parts();
            return Ok(ServiceResponse::from_err(
                too_many(retry, "failed authentications"),
                req,
            ));
        }
    }
    Ok(resp.map_into_boxed_body())
}

/// How long a request body may take to arrive (`server.body_timeout_ms`),
/// in app data for [`body_deadline`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// A request body that fails with `TimedOut` once its deadline passes,
/// noting it in `expired` so the middleware answers 408.
struct DeadlineBody {
    inner: actix_web::dev::Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl Stream for DeadlineBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.expired.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request body too slow",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}

/// Whether `req` has a body to wait for (a length above 0 or chunked) and
/// is not a protocol upgrade (a WebSocket's frames are not a body).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::UPGRADE) {
        return false;
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

/// Middleware (`middleware::from_fn`): a request body must arrive within
/// [`BodyTimeout`] of the end of its head; a slower one is answered
/// `408 Request Timeout` and the connection closed (actix-web's own
/// `client_request_timeout` covers the head only).
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let timeout = req.app_data::<web::Data<BodyTimeout>>().map(|t| t.0);
    let Some(timeout) = timeout.filter(|_| has_body(&req)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let expired = Arc::new(AtomicBool::new(false));
    let body = DeadlineBody {
        inner: req.take_payload(),
        sleep: Box::pin(tokio::time::sleep(timeout)),
        expired: expired.clone(),
    };
    req.set_payload(actix_web::dev::Payload::from(
        Box::pin(body) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    let resp = next.call(req).await?;
    if !expired.load(Ordering::Relaxed) {
        return Ok(resp.map_into_boxed_body());
    }
    let (req, _) = resp.into_parts();
    log::debug!(
        "{}: request body to {} not received within {} ms",
        req.peer_addr()
            .map_or_else(|| "?".into(), |a| a.ip().to_string()),
        req.path(),
        timeout.as_millis()
    );
    let mut answer = ServiceResponse::from_err(ApiError::RequestTimeout, req);
    answer
        .response_mut()
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(answer)
}

/// Open connections per client address (`server.max_connections_per_address`),
/// shared by all workers. The TCP peer is the key (IPv6 by /64); trusted
/// proxies are not capped (they carry everyone's requests: cap them at the
/// proxy, nginx `limit_conn`).
pub struct ConnectionCap {
    per_address: usize,
    trusted: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection, in the connection's data: counted down when the
/// connection closes; `over` when it is past its address's cap.
pub struct Counted {
    cap: Arc<ConnectionCap>,
    key: IpAddr,
    /// This connection is past the cap: its requests are refused and it is
    /// closed.
    pub over: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl ConnectionCap {
    /// A cap of `per_address` (0: none) sparing `trusted_proxies`.
    pub fn new(per_address: usize, trusted_proxies: &[String]) -> Arc<ConnectionCap> {
        Arc::new(ConnectionCap {
            per_address,
            trusted: trusted_proxies
                .iter()
                .filter_map(|p| parse_cidr(p))
                .collect(),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a new connection from `peer`; `None` when uncapped.
    pub fn open(self: &Arc<Self>, peer: IpAddr) -> Option<Counted> {
        let peer = canonical(peer);
        if self.per_address == 0 || self.trusted.iter().any(|n| n.contains(&peer)) {
            return None;
        }
        let key = limit_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        *n += 1;
        Some(Counted {
            cap: self.clone(),
            key,
            over: *n > self.per_address,
        })
    }

    /// `HttpServer::on_connect`: counts each TCP connection.
    pub fn on_connect(self: &Arc<Self>, conn: &dyn std::any::Any, data: &mut Extensions) {
        let peer = conn
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .and_then(|s| s.peer_addr().ok());
        if let Some(counted) = peer.and_then(|p| self.open(p.ip())) {
            data.insert(counted);
        }
    }
}

/// Middleware (`middleware::from_fn`): a request on a connection past its
/// address's cap ([`ConnectionCap`]) is answered 503 and the connection
/// closed.
pub async fn connection_cap(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let over = req
        .conn_data::<Counted>()
        .is_some_and(|counted| counted.over);
    if !over {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let mut answer = req.error_response(ApiError::TooManyConnections);
    answer
        .response_mut()
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(answer)
}
