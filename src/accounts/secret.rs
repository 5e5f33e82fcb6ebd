//! Bearer secrets (session cookies, integration tokens, Node client tokens):
//! 256 random bits as lowercase hex, stored only as their SHA-256, so a
//! database read does not hand out a usable credential. A SHA-256 suffices
//! here (unlike passwords): the secret has full entropy, nothing to guess.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// `prefix` + 64 lowercase hex digits from the OS's CSPRNG (via `rand`).
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut out = String::with_capacity(prefix.len() + 64);
    out.push_str(prefix);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// SHA-256 of `secret`, lowercase hex (64 characters): what the database keeps.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_hex_and_hash_to_hex() {
        let a = generate("sbt_");
        let b = generate("sbt_");
        assert_ne!(a, b);
        assert!(a.starts_with("sbt_") && a.len() == 68);
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
