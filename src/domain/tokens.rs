//! Secrets given to people: session tokens, single-use link tokens, temporary passwords.
//! Tokens are random, shown once, and stored only as their SHA-256 (a fast hash is right for
//! 256-bit random tokens, unlike passwords).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use sha2::{Digest, Sha256};

/// 32 random bytes, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256 of a token: what the database stores and looks up.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A 16-character password that meets the password policy: at least one character of each
/// class, the rest from all of them, shuffled. Look-alike characters (0/O, 1/l/I) are left out
/// because people type these from an email.
#[allow(clippy::expect_used, reason = "the alphabets are non-empty constants and ASCII")]
pub fn temporary_password() -> String {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    // Nothing an email encoding or an HTML template escapes (`=` became `=3D` in the
    // quoted-printable mailbox file, `&#x3D;` in the HTML part), nothing that reads as another
    // character (no O/0, l/1/I).
    const SYMBOL: &[u8] = b"!#%+-?@";
    let mut rng = rand::rng();
    let all: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL].concat();
    let mut chars: Vec<u8> =
        [UPPER, LOWER, DIGIT, SYMBOL].iter().map(|class| *class.choose(&mut rng).expect("non-empty class")).collect();
    chars.extend((0..12).map(|_| *all.choose(&mut rng).expect("non-empty alphabet")));
    chars.shuffle(&mut rng);
    String::from_utf8(chars).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::password_policy::POLICY;

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn temporary_passwords_meet_the_policy() {
        for _ in 0..200 {
            let password = temporary_password();
            assert!(POLICY.broken_rules(&password, None).is_empty(), "{password}");
        }
    }

    #[test]
    fn temporary_passwords_copy_as_they_read() {
        for _ in 0..2_000 {
            let password = temporary_password();
            assert!(!password.contains(['=', '&', '<', '>', '"', '\'', '`', 'O', '0', 'l', '1', 'I']), "{password}");
        }
    }
}
