//! Per-client-address rate limits (`[limits]`): webhook requests and failed
//! authentications, counted with GCRA keyed limiters (the `governor` crate) on the
//! client address: the TCP peer, or, when the peer is one of
//! `server.trusted_proxies`, the right-most address of `Forwarded` /
//! `X-Forwarded-For` that is not a trusted proxy ([`RateLimits::client_ip`]).
//! IPv6 clients are counted by /64 (one subscriber's whole prefix).
//!
//! Failed authentications are counted wherever a client proves who it is: the
//! 401/403 answers of any HTTP route (`http::limits` applies these limits to
//! every request) and the in-band `auth` of a Node client on `/supervisor`
//! (`messaging::gateway`). When an address exhausts its budget it is blocked
//! until the limiter would admit it again.
//!
//! Below both `http` and `messaging`, which share one [`RateLimits`] per server.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::RequestHead;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::config::LimitsConfig;
use crate::net::parse_cidr;

/// Keys kept per limiter before idle ones are pruned (bounds memory under a
/// spread of source addresses).
const PRUNE_ABOVE: usize = 10_000;

/// The server's rate limiters; one per server, shared by all workers.
pub struct RateLimits {
    webhook: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failed_auth: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Sign-in attempts by address and by account (lowercase email).
    sign_in_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    sign_in_account: Option<DefaultKeyedRateLimiter<String>>,
    /// Addresses over the failed-auth budget, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
    /// `server.trusted_proxies`.
    trusted: Vec<IpNet>,
}

/// A refusal: the whole seconds to put in `Retry-After` (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
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
            sign_in_address: limiter(config.sign_in_per_minute),
            sign_in_account: limiter(config.sign_in_per_minute),
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
        self.client_addr(head, peer).map(limit_key)
    }

    /// The client's own address, as [`RateLimits::client_ip`] finds it but
    /// whole (IPv6 not cut to its /64): what the audit log records.
    pub fn client_addr(&self, head: &RequestHead, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let mut client = canonical(peer?.ip());
        if self.trusted.is_empty() || !self.is_trusted(client) {
            return Some(client);
        }
        let hops = forwarded_hops(head);
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = canonical(ip);
            if !self.is_trusted(client) {
                break;
            }
        }
        Some(client)
    }

    /// Counts one sign-in attempt from `ip` for `account` (a lowercase email,
    /// whether or not an account has it); `Err` when either is over
    /// `limits.sign_in_per_minute`.
    pub fn sign_in(&self, ip: IpAddr, account: &str) -> Result<(), RetryAfter> {
        let now = self.clock.now();
        if let Some(limiter) = &self.sign_in_address {
            if limiter.len() > PRUNE_ABOVE {
                limiter.retain_recent();
            }
            limiter
                .check_key(&ip)
                .map_err(|n| RetryAfter(retry_secs(n.wait_time_from(now))))?;
        }
        if let Some(limiter) = &self.sign_in_account {
            if limiter.len() > PRUNE_ABOVE {
                limiter.retain_recent();
            }
            limiter
                .check_key(&account.to_string())
                .map_err(|n| RetryAfter(retry_secs(n.wait_time_from(now))))?;
        }
        Ok(())
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
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The limiter key of `ip`: itself for IPv4, its /64 for IPv6.
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
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
    fn sign_in_attempts_are_limited_per_address_and_per_account() {
        let limits = RateLimits::new(
            &LimitsConfig {
                sign_in_per_minute: 2,
                ..LimitsConfig::default()
            },
            &[],
        );
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limits.sign_in(a, "dana@acme.test").is_ok());
        assert!(limits.sign_in(a, "lee@acme.test").is_ok());
        // The address is spent, whatever account it tries next.
        assert!(limits.sign_in(a, "kim@acme.test").is_err());
        // Another address on the same account: one attempt left there.
        assert!(limits.sign_in(b, "dana@acme.test").is_ok());
        assert!(limits.sign_in(b, "dana@acme.test").is_err());
    }

    #[test]
    fn failed_auth_blocks_only_the_offending_address() {
        let limits = RateLimits::new(
            &LimitsConfig {
                webhook_per_minute: 2,
                failed_auth_per_minute: 3,
                sign_in_per_minute: 0,
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
