//! Per-source-address rate limits (`[limits]`): webhook requests and failed
//! authentications, counted with GCRA keyed limiters (the `governor` crate) on the
//! client address: the TCP peer, or, when the peer is one of
//! `server.trusted_proxies`, the right-most address of `Forwarded` /
//! `X-Forwarded-For` that is not a trusted proxy ([`RateLimits::client_ip`]).
//! IPv6 clients are counted by /64 (one subscriber's whole prefix). Over a
//! limit the request is answered `429 Too Many Requests` with
//! `Retry-After: <seconds>` and never reaches its handler.
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
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::Extensions;
use actix_web::dev::{RequestHead, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, HttpResponse};
use bytes::Bytes;
use futures_util::Stream;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use serde_json::json;

use crate::config::{parse_cidr, LimitsConfig};

/// Webhook routes subject to `limits.webhook_per_minute` (`POST`, or `GET` where
/// Twilio is configured to use it).
pub const WEBHOOK_PATHS: &[&str] = &["/twiml", "/twiml/whisper", "/sms/inbound", "/email/inbound"];

/// Twilio's signed routes (and the per-call `/media-stream/…` URLs): never
/// refused for an address's failed logins while their own signature holds.
pub const TWILIO_PATHS: &[&str] = &["/twiml", "/twiml/whisper", "/sms/inbound", "/media-stream"];

/// Whether `path` is one of [`TWILIO_PATHS`] or a per-call stream URL under
/// `/media-stream/`.
fn is_twilio_path(path: &str) -> bool {
    TWILIO_PATHS.contains(&path) || path.starts_with("/media-stream/")
}

/// Keys kept per limiter before idle ones are pruned (bounds memory under a
/// spread of source addresses).
const PRUNE_ABOVE: usize = 10_000;

/// The server's rate limiters; one per server, shared by all workers.
pub struct RateLimits {
    webhook: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failed_auth: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses over the failed-auth budget, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
    /// `server.trusted_proxies`.
    trusted: Vec<IpNet>,
}

/// A refusal: the whole seconds to put in `Retry-After` (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn limiter(per_minute: u32) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

/// `wait` rounded up to whole seconds, at least 1.
fn retry_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl RateLimits {
    /// Limiters for `config` (a 0 limit is off), believing the forwarding
    /// headers of `trusted_proxies` (`server.trusted_proxies`; entries that
    /// do not parse, refused by config validation, are left out).
    pub fn new(config: &LimitsConfig, trusted_proxies: &[String]) -> RateLimits {
        RateLimits {
            webhook: limiter(config.webhook_per_minute),
            failed_auth: limiter(config.failed_auth_per_minute),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
            trusted: trusted_proxies
                .iter()
                .filter_map(|p| parse_cidr(p))
                .collect(),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The key a request from `peer` with `head` is counted under: the peer,
    /// or behind a trusted proxy the right-most forwarded address that is not
    /// a trusted proxy (`Forwarded` when present, else `X-Forwarded-For`); an
    /// unreadable hop stops the walk at the last address read. IPv6 by /64.
    pub fn client_ip(&self, head: &RequestHead, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let mut client = canonical(peer?.ip());
        if self.trusted.is_empty() || !self.is_trusted(client) {
            return Some(limit_key(client));
        }
        let hops = forwarded_hops(head);
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = canonical(ip);
            if !self.is_trusted(client) {
                break;
            }
        }
        Some(limit_key(client))
    }

    /// Counts one webhook request from `ip`; `Err` when over the limit.
    pub fn webhook(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let Some(limiter) = &self.webhook else {
            return Ok(());
        };
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        limiter
            .check_key(&ip)
            .map_err(|not_until| RetryAfter(retry_secs(not_until.wait_time_from(self.clock.now()))))
    }

    /// `Err` while `ip` is blocked for too many failed authentications.
    pub fn blocked(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > now => Err(RetryAfter(retry_secs(*until - now))),
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts one failed authentication from `ip`; `Err` (and the address is
    /// blocked) when this one is over the limit.
    pub fn failed_auth(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let Some(limiter) = &self.failed_auth else {
            return Ok(());
        };
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        let Err(not_until) = limiter.check_key(&ip) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.clock.now());
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        if blocked.len() > PRUNE_ABOVE {
            blocked.retain(|_, until| *until > now);
        }
        blocked.insert(ip, now + wait);
        Err(RetryAfter(retry_secs(wait)))
    }
}

/// IPv4-mapped IPv6 as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The limiter key of `ip`: itself for IPv4, its /64 for IPv6.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// The forwarded hops of `head`, left (client) to right (nearest proxy):
/// the `for=` of every `Forwarded` element when that header is present, else
/// every `X-Forwarded-For` entry.
fn forwarded_hops(head: &RequestHead) -> Vec<String> {
    let values = |name: &str| -> Vec<String> {
        head.headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_string())
            .collect()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (k, v) = pair.trim().split_once('=')?;
                        k.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| v.trim().trim_matches('"').to_string())
                    })
                    .unwrap_or_default()
            })
            .collect();
    }
    values("x-forwarded-for")
}

/// The address of one hop: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|ip| ip.parse().ok())
}

/// The 429 answer: `Retry-After` and a JSON `{"error": …, "retry_after_secs": N}` body.
pub fn too_many(retry: RetryAfter, what: &str) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header(("Retry-After", retry.0.to_string()))
        .json(json!({
            "error": format!("too many {what} from this address"),
            "retry_after_secs": retry.0,
        }))
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
                return Ok(req.into_response(too_many(retry, "failed authentications")));
            }
            blocked = Some(retry);
        }
    }
    if matches!(*req.method(), Method::POST | Method::GET) && WEBHOOK_PATHS.contains(&req.path()) {
        if let Err(retry) = limits.webhook(ip) {
            log::warn!("{ip}: webhook rate limit exceeded on {}", req.path());
            return Ok(req.into_response(too_many(retry, "webhook requests")));
        }
    }
    let resp = next.call(req).await?;
    if matches!(
        resp.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        let counted = limits.failed_auth(ip);
        if let Err(retry) = blocked.map_or(counted, Err) {
            log::warn!(
                "{ip}: failed-authentication limit exceeded; blocked for {} s",
                retry.0
            );
            let (req, _) = resp.into_parts();
            return Ok(ServiceResponse::new(
                req,
                too_many(retry, "failed authentications"),
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
    let mut answer = HttpResponse::RequestTimeout().json(json!({
        "error": "request body not received in time",
    }));
    answer
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(ServiceResponse::new(req, answer))
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
    let mut answer = HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "1"))
        .json(json!({"error": "too many connections from this address"}));
    answer
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(req.into_response(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_secs(Duration::ZERO), 1);
    }

    fn head(headers: &[(&'static str, &str)]) -> RequestHead {
        let mut head = RequestHead::default();
        for (name, value) in headers {
            head.headers.append(
                actix_web::http::header::HeaderName::from_static(name),
                actix_web::http::header::HeaderValue::from_str(value).unwrap(),
            );
        }
        head
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop_behind_a_trusted_proxy() {
        let limits = RateLimits::new(
            &LimitsConfig::default(),
            &["10.0.0.0/8".into(), "192.0.2.7".into()],
        );
        let proxy = Some("10.1.2.3:443".parse().unwrap());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Spoofed left-most entries do not matter: the proxy appended the peer.
        let xff = head(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.9.9.9")]);
        assert_eq!(limits.client_ip(&xff, proxy), Some(ip("203.0.113.9")));
        let fwd = head(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8:1:2::7]:4711\";proto=https",
        )]);
        assert_eq!(limits.client_ip(&fwd, proxy), Some(ip("2001:db8:1:2::")));
        // From an untrusted peer the headers are ignored.
        let direct = Some("198.51.100.4:5000".parse().unwrap());
        assert_eq!(limits.client_ip(&xff, direct), Some(ip("198.51.100.4")));
        // Only trusted hops: the left-most of them.
        let inner = head(&[("x-forwarded-for", "192.0.2.7")]);
        assert_eq!(limits.client_ip(&inner, proxy), Some(ip("192.0.2.7")));
        // No proxies configured: the peer, IPv6 by /64.
        let none = RateLimits::new(&LimitsConfig::default(), &[]);
        let v6 = Some("[2001:db8:a:b:1:2:3:4]:1".parse().unwrap());
        assert_eq!(none.client_ip(&xff, v6), Some(ip("2001:db8:a:b::")));
    }

    #[test]
    fn failed_auth_blocks_only_the_offending_address() {
        let limits = RateLimits::new(
            &LimitsConfig {
                webhook_per_minute: 2,
                failed_auth_per_minute: 3,
            },
            &[],
        );
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.failed_auth(a).is_ok());
        }
        assert!(limits.failed_auth(a).is_err());
        assert!(limits.blocked(a).is_err());
        assert!(limits.blocked(b).is_ok());
        assert!(limits.webhook(b).is_ok());
        assert!(limits.webhook(b).is_ok());
        assert!(limits.webhook(b).is_err());
        assert!(limits.webhook(a).is_ok());
    }
}
