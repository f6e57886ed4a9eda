//! Secrets handed out once (API tokens, setup links, session ids as
//! stored): generated from a cryptographic random generator, kept only as SHA-256
//! digests. These secrets carry 190 bits or more of randomness, so a fast
//! digest is enough; a slow password hash would only cost every request.

use rand::Rng as _;
use sha2::{Digest as _, Sha256};

/// What every API token starts with (so a leaked one is easy to recognise
/// and to search for).
pub const TOKEN_PREFIX: &str = "fst_";

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters drawn uniformly from `[A-Za-z0-9]` (5.95 bits each), by
/// `rand`'s thread generator (ChaCha12, seeded and reseeded from the OS).
#[must_use]
pub fn random_secret(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// A new API token: the prefix and 40 random characters (238 bits).
#[must_use]
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret(40))
}

/// The SHA-256 of `secret`, lower-case hex: what is stored and looked up.
#[must_use]
pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().fold(String::with_capacity(64), |mut out, byte| {
        use std::fmt::Write as _;
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_stored_as_their_digest() {
        let a = new_token();
        let b = new_token();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 40, "{a}");
        assert_ne!(a, b);
        assert!(a[TOKEN_PREFIX.len()..].bytes().all(|c| c.is_ascii_alphanumeric()));
        // SHA-256("abc"), from FIPS 180-2.
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(digest(&a), digest(&b));
    }
}
