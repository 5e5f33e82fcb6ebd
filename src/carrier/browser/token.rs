//! Single-use browser session tokens: `POST /api/sessions` issues one
//! (`{sessionId, token}`), `GET /browser?token=…` redeems it once within
//! [`TOKEN_TTL`]. Tokens are 32 random bytes, hex; they live only in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

/// How long an issued token can be redeemed: 60 s.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);

/// Why a token was not accepted (HTTP 401 on `/browser`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing token")]
    Missing,
    #[error("unknown token")]
    Unknown,
    #[error("token expired")]
    Expired,
    #[error("token already used")]
    Used,
}

/// A redeemed token: the session it was issued for.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserSession {
    /// `BR…`; the call's carrier call id (`/logs?call_sid=`, `/api/calls/{id}`).
    pub session_id: String,
    /// Tenant chosen at issue time; `None` = routing default.
    pub tenant_id: Option<String>,
    /// The pre-warm token of the call started for this session at issue time
    /// (`calls.prewarm`); the socket attaches to that call.
    pub prewarm: Option<String>,
}

struct Issued {
    session: BrowserSession,
    expires: Instant,
    used: bool,
}

/// Issued tokens (a handful at a time; the lock is held for a map lookup only).
#[derive(Default)]
pub struct BrowserTokens {
    issued: Mutex<HashMap<String, Issued>>,
}

impl BrowserTokens {
    /// Issues a token valid for [`TOKEN_TTL`]; returns (session id, token).
    pub fn issue(&self, tenant_id: Option<String>) -> (String, String) {
        self.issue_with_ttl(tenant_id, TOKEN_TTL)
    }

    /// As [`BrowserTokens::issue`] with another lifetime.
    pub fn issue_with_ttl(&self, tenant_id: Option<String>, ttl: Duration) -> (String, String) {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let session_id = format!("BR{}", uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        if let Ok(mut map) = self.issued.lock() {
            // Spent and expired tokens are kept one TTL longer to report them precisely.
            map.retain(|_, t| t.expires + TOKEN_TTL > now);
            map.insert(
                token.clone(),
                Issued {
                    session: BrowserSession {
                        session_id: session_id.clone(),
                        tenant_id,
                        prewarm: None,
                    },
                    expires: now + ttl,
                    used: false,
                },
            );
        }
        (session_id, token)
    }

    /// Records the pre-warm token of the call started for `token`'s session.
    pub fn set_prewarm(&self, token: &str, prewarm: String) {
        if let Ok(mut map) = self.issued.lock() {
            if let Some(issued) = map.get_mut(token) {
                issued.session.prewarm = Some(prewarm);
            }
        }
    }

    /// Redeems `token` once.
    ///
    /// Errors: [`TokenError::Unknown`], [`TokenError::Expired`] (past its TTL),
    /// [`TokenError::Used`] (redeemed before).
    pub fn redeem(&self, token: &str) -> Result<BrowserSession, TokenError> {
        let mut map = self.issued.lock().map_err(|_| TokenError::Unknown)?;
        let issued = map.get_mut(token).ok_or(TokenError::Unknown)?;
        if issued.used {
            return Err(TokenError::Used);
        }
        if Instant::now() >= issued.expires {
            return Err(TokenError::Expired);
        }
        issued.used = true;
        Ok(issued.session.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_redeems_once() {
        let tokens = BrowserTokens::default();
        let (session_id, token) = tokens.issue(Some("acme-dental".into()));
        assert_eq!(token.len(), 64);
        let session = tokens.redeem(&token).unwrap();
        assert_eq!(session.session_id, session_id);
        assert_eq!(tokens.redeem(&token), Err(TokenError::Used));
        assert_eq!(tokens.redeem("nope"), Err(TokenError::Unknown));
    }

    #[test]
    fn expired_token_is_refused() {
        let tokens = BrowserTokens::default();
        let (_, token) = tokens.issue_with_ttl(None, Duration::ZERO);
        assert_eq!(tokens.redeem(&token), Err(TokenError::Expired));
    }
}
