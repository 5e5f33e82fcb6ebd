//! Signed bus messages: whoever can publish on the cluster's NATS subjects is
//! not thereby a node. Every message a node publishes (events, Node-client
//! notices, settings notices, operator requests and their answers, spool
//! batches) carries its origin node, a send time and an HMAC-SHA256 under the
//! cluster secret (`SWITCHBOARD_CLUSTER__SECRET`) over the subject, origin,
//! time and payload. A receiver drops, with a rate-limited WARN line naming
//! the subject but never the payload, a message whose signature is missing or
//! wrong, whose time is more than [`REPLAY_WINDOW`] away from its own clock,
//! or whose exact signature it has already seen within that window. Stored
//! messages (the spool) are checked without the time bound: they are meant
//! to be read later.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_nats::HeaderMap;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use super::bus::ORIGIN_HEADER;

/// Header holding the send time, Unix milliseconds.
pub const TIME_HEADER: &str = "Switchboard-Time";
/// Header holding the hex HMAC-SHA256 of the message.
pub const SIGNATURE_HEADER: &str = "Switchboard-Signature";
/// How far a live message's send time may be from the receiver's clock
/// (either way); also how long its signature is remembered against replays.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(30);
/// At most one WARN line about dropped messages per this many milliseconds.
const WARN_EVERY_MS: u64 = 10_000;
/// Remembered signatures before expired ones are pruned.
const PRUNE_ABOVE: usize = 20_000;

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Unsigned,
    BadSignature,
    Stale,
    Replayed,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejected::Unsigned => "unsigned",
            Rejected::BadSignature => "bad signature",
            Rejected::Stale => "outside the replay window",
            Rejected::Replayed => "replayed",
        })
    }
}

/// Signs and checks the cluster's bus messages.
pub struct Signer {
    key: Vec<u8>,
    /// Signatures seen on live messages, with the Unix ms they expire at.
    seen: Mutex<HashMap<[u8; 32], u64>>,
    dropped: AtomicU64,
    last_warn_ms: AtomicU64,
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn now_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

impl Signer {
    /// A signer under `secret` (the cluster secret, as configured).
    pub fn new(secret: &str) -> Signer {
        Signer {
            key: secret.as_bytes().to_vec(),
            seen: Mutex::default(),
            dropped: AtomicU64::new(0),
            last_warn_ms: AtomicU64::new(0),
        }
    }

    fn mac(&self, subject: &str, origin: &str, time: &str, payload: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length: `new_from_slice` cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        for part in [
            b"switchboard-bus-v1".as_slice(),
            subject.as_bytes(),
            origin.as_bytes(),
            time.as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }

    /// The headers of a message from `origin` on `subject` with `payload`:
    /// origin, send time (now) and signature.
    pub fn headers(&self, subject: &str, origin: &str, payload: &[u8]) -> HeaderMap {
        let time = now_ms().to_string();
        let mac = self.mac(subject, origin, &time, payload);
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN_HEADER, origin);
        headers.insert(TIME_HEADER, time.as_str());
        headers.insert(SIGNATURE_HEADER, to_hex(&mac).as_str());
        headers
    }

    /// The origin node of a live message (on `subject`, with `headers` and
    /// `payload`) when its signature holds, its time is within
    /// [`REPLAY_WINDOW`] and it was not seen before.
    pub fn check_live(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Result<String, Rejected> {
        let (origin, time, mac) = self.check(subject, headers, payload)?;
        let now = now_ms();
        let window = u64::try_from(REPLAY_WINDOW.as_millis()).unwrap_or(u64::MAX);
        if time.abs_diff(now) > window {
            return Err(Rejected::Stale);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > PRUNE_ABOVE {
            seen.retain(|_, expires| *expires > now);
        }
        if seen.insert(mac, time.saturating_add(window)).is_some() {
            return Err(Rejected::Replayed);
        }
        Ok(origin)
    }

    /// The origin node of a stored message when its signature holds (no
    /// time bound).
    pub fn check_stored(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Result<String, Rejected> {
        self.check(subject, headers, payload)
            .map(|(origin, _, _)| origin)
    }

    fn check(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Result<(String, u64, [u8; 32]), Rejected> {
        let headers = headers.ok_or(Rejected::Unsigned)?;
        let get = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
        let (Some(origin), Some(time), Some(signature)) =
            (get(ORIGIN_HEADER), get(TIME_HEADER), get(SIGNATURE_HEADER))
        else {
            return Err(Rejected::Unsigned);
        };
        let given = from_hex(signature.trim()).ok_or(Rejected::BadSignature)?;
        let mac = self.mac(subject, &origin, &time, payload);
        if !bool::from(mac.as_slice().ct_eq(&given)) {
            return Err(Rejected::BadSignature);
        }
        let time = time.parse::<u64>().map_err(|_| Rejected::BadSignature)?;
        Ok((origin, time, mac))
    }

    /// Notes a dropped message: a WARN line (subject and reason, never the
    /// payload) at most every 10 s, counting the ones not logged.
    pub fn dropped(&self, subject: &str, why: Rejected) {
        let count = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let now = now_ms();
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.dropped.store(0, Ordering::Relaxed);
            log::warn!(
                "cluster: dropped a bus message on {subject} ({why}); {count} dropped since the last report. \
                 Something not holding the cluster secret publishes on this cluster's NATS subjects"
            );
        } else {
            log::debug!("cluster: dropped a bus message on {subject} ({why})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_message_checks_once_and_a_changed_one_never() {
        let signer = Signer::new("0123456789abcdef0123456789abcdef");
        let headers = signer.headers("c.events.t.x", "a", b"{}");
        assert_eq!(
            signer.check_live("c.events.t.x", Some(&headers), b"{}"),
            Ok("a".to_string())
        );
        assert_eq!(
            signer.check_live("c.events.t.x", Some(&headers), b"{}"),
            Err(Rejected::Replayed)
        );
        let headers = signer.headers("c.events.t.x", "a", b"{}");
        assert_eq!(
            signer.check_live("c.events.t.y", Some(&headers), b"{}"),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            signer.check_live("c.events.t.x", Some(&headers), b"{ }"),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            signer.check_live("c.events.t.x", None, b"{}"),
            Err(Rejected::Unsigned)
        );
        let other = Signer::new("another secret of enough characters");
        let forged = other.headers("c.events.t.x", "a", b"{}");
        assert_eq!(
            signer.check_live("c.events.t.x", Some(&forged), b"{}"),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            signer.check_stored("c.events.t.x", Some(&headers), b"{}"),
            Ok("a".to_string())
        );
    }

    #[test]
    fn an_old_message_is_stale() {
        let signer = Signer::new("0123456789abcdef0123456789abcdef");
        let time = (now_ms() - 60_000).to_string();
        let mac = signer.mac("s", "a", &time, b"x");
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN_HEADER, "a");
        headers.insert(TIME_HEADER, time.as_str());
        headers.insert(SIGNATURE_HEADER, to_hex(&mac).as_str());
        assert_eq!(
            signer.check_live("s", Some(&headers), b"x"),
            Err(Rejected::Stale)
        );
        assert_eq!(
            signer.check_stored("s", Some(&headers), b"x"),
            Ok("a".into())
        );
    }
}
