//! Passwords: the policy a new one must meet and argon2id hashing.
//!
//! The policy follows NIST SP 800-63B rather than composition rules: at
//! least 8 characters (at most 256, which bounds the cost of hashing), not
//! the user's name, and not a common password. "Common" is a whole-password
//! match, ignoring case and common letter-for-digit swaps, in the password
//! frequency list `zxcvbn` ships (the 30,000 most frequent passwords of
//! public leaks).
//!
//! Hashing uses argon2id with OWASP's first recommended setting: 19 MiB of
//! memory, 2 passes, 1 lane. A hash takes tens of milliseconds of CPU, so it
//! runs on tokio's blocking pool, never on an async worker.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted, in characters.
pub const MIN_CHARS: usize = 8;
/// Longest password accepted, in characters.
pub const MAX_CHARS: usize = 256;

/// Why a password is refused (the message is shown next to the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("the password needs at least {MIN_CHARS} characters")]
    TooShort,
    /// More than [`MAX_CHARS`] characters.
    #[error("the password can have at most {MAX_CHARS} characters")]
    TooLong,
    /// The user's own name.
    #[error("the password cannot be the user name")]
    IsName,
    /// In the list of common passwords.
    #[error("this password is among the most common ones; choose another")]
    Common,
}

/// Checks `password` for the user `name` against the policy.
///
/// # Errors
/// The first rule it breaks.
pub fn check(password: &str, name: &str) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong);
    }
    if password.to_lowercase() == name.to_lowercase() {
        return Err(WeakPassword::IsName);
    }
    if is_common(password) {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

/// Whether zxcvbn reads the whole password as one entry of its common
/// passwords list (case and l33t swaps ignored).
fn is_common(password: &str) -> bool {
    let entropy = zxcvbn::zxcvbn(password, &[]);
    let whole = password.chars().count();
    entropy.sequence().iter().any(|m| {
        m.i == 0
            && m.j + 1 == whole
            && matches!(&m.pattern, zxcvbn::matching::patterns::MatchPattern::Dictionary(d)
                // The crate does not export the type of `dictionary_name`.
                if format!("{:?}", d.dictionary_name) == "Passwords" && !d.reversed)
    })
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` (argon2id, random salt) on the blocking pool; the PHC string.
///
/// # Errors
/// When hashing fails (it does not with these parameters) or the task panicked.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(anyhow::Error::msg)
    })
    .await?
}

/// Whether `password` matches the PHC string `stored`, on the blocking pool.
/// A malformed `stored` matches nothing.
pub async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash of nothing anyone knows: verified against when a login names no
/// user, so that answering takes as long as for a real one.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let secret = super::tokens::random_secret(32);
        hasher().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_counts_characters_and_refuses_names_and_common_passwords() {
        assert_eq!(check("short", "ann"), Err(WeakPassword::TooShort));
        // Eight characters, not eight bytes.
        assert_eq!(check("ééééééé", "ann"), Err(WeakPassword::TooShort));
        assert_eq!(check(&"x".repeat(257), "ann"), Err(WeakPassword::TooLong));
        assert_eq!(check("Annabelle", "annabelle"), Err(WeakPassword::IsName));
        for common in ["password", "Password1", "12345678", "qwertyuiop", "iloveyou", "p@ssw0rd", "trustno1"] {
            assert_eq!(check(common, "ann"), Err(WeakPassword::Common), "{common}");
        }
        for fine in ["correct horse battery", "finstage-lab-2026", "ééééééééé"] {
            assert_eq!(check(fine, "ann"), Ok(()), "{fine}");
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify_only_their_password() {
        let a = hash("a long passphrase".into()).await.unwrap();
        let b = hash("a long passphrase".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("a long passphrase".into(), a.clone()).await);
        assert!(!verify("a long passphrasE".into(), a).await);
        assert!(!verify("anything".into(), "not a hash".into()).await);
        assert!(!verify(String::new(), decoy().to_owned()).await);
    }
}
