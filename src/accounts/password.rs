//! Passwords: hashed with Argon2id (RFC 9106) by the RustCrypto `argon2`
//! crate, with its default parameters (19 MiB, 2 passes, 1 lane: OWASP's
//! Password Storage Cheat Sheet minimum), stored as a PHC string with its own
//! random salt. A password never leaves this module except as that string,
//! and no error here carries it.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest password accepted, characters (NIST SP 800-63B §3.1.1.2: at least 8;
/// we ask more of an account that sees callers' data).
pub const MIN_CHARS: usize = 10;

/// Longest password accepted, bytes (bounds the hashing work a request can ask for).
pub const MAX_BYTES: usize = 1024;

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is shorter than {MIN_CHARS} characters")]
    TooShort,
    #[error("the password is longer than {MAX_BYTES} bytes")]
    TooLong,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// The Argon2id PHC string of `password` (`$argon2id$v=19$m=19456,t=2,p=1$…`).
///
/// Errors: [`PasswordError::TooShort`] / [`PasswordError::TooLong`] outside
/// [`MIN_CHARS`]..=[`MAX_BYTES`]; [`PasswordError::Hash`] if hashing fails.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    hash_unchecked(password)
}

fn hash_unchecked(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (constant-time inside
/// the crate). An unreadable `stored` or an over-long password never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Does the work of a [`verify`] that cannot succeed: a sign-in for an email
/// no account has takes as long as a wrong password, so the answer's timing
/// does not tell whether the account exists.
pub fn verify_nobody(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored =
        DUMMY.get_or_init(|| hash_unchecked("no account has this password").unwrap_or_default());
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterz", &a));
        assert!(!verify("correct horse battery", "not a phc string"));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
        let huge = "x".repeat(MAX_BYTES + 1);
        assert!(matches!(hash(&huge), Err(PasswordError::TooLong)));
        assert!(!verify(&huge, &hash("correct horse battery").unwrap()));
    }
}
