//! Per-source-address rate limits (`[limits]`): webhook requests and failed
//! authentications, counted with GCRA keyed limiters (the `governor` crate) on the
//! TCP peer address. Over a limit the request is answered
//! `429 Too Many Requests` with `Retry-After: <seconds>` and never reaches its
//! handler.
//!
//! Failed authentications are the 401/403 answers of any route (admin token,
//! Node client token on the upgrade, browser token or origin, Twilio signature,
//! email secret). When an address exhausts its budget it is blocked from every
//! route except `/health` until the limiter would admit it again, so a guessed
//! credential cannot be confirmed by a 200 while blocked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::config::LimitsConfig;

/// Webhook routes subject to `limits.webhook_per_minute` (`POST`, or `GET` where
/// Twilio is configured to use it).
pub const WEBHOOK_PATHS: &[&str] = &["/twiml", "/twiml/whisper", "/sms/inbound", "/email/inbound"];

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
    /// Limiters for `config` (a 0 limit is off).
    pub fn new(config: &LimitsConfig) -> RateLimits {
        RateLimits {
            webhook: limiter(config.webhook_per_minute),
            failed_auth: limiter(config.failed_auth_per_minute),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
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
    let ip = req.peer_addr().map(|a| a.ip());
    let (Some(limits), Some(ip)) = (limits, ip) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.path() != "/health" {
        if let Err(retry) = limits.blocked(ip) {
            return Ok(req.into_response(too_many(retry, "failed authentications")));
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
        if let Err(retry) = limits.failed_auth(ip) {
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

    #[test]
    fn failed_auth_blocks_only_the_offending_address() {
        let limits = RateLimits::new(&LimitsConfig {
            webhook_per_minute: 2,
            failed_auth_per_minute: 3,
        });
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
