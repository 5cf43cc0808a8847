//! `Email`: an address that has been checked and lower-cased. Holding one proves both.

use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

/// Also the column type of every stored address: what the database holds was parsed on the
/// way in, so reading it back needs no second check.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, sea_orm::DeriveValueType, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// Read-only: an address is text wherever text is wanted; only `parse` makes one.
impl std::ops::Deref for Email {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Email {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Email {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEmail(&'static str);

/// RFC 5321 limits: 64 octets of local part, 254 of address.
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

impl Email {
    /// Trims surrounding space, folds compatibility forms (NFKC: fullwidth `ａｎａ＠ｘ．ｃｏｍ`
    /// is `ana@x.com`) and lower-cases; the whole address is compared case-insensitively (as
    /// every mail provider in practice does), so `Ana@X.com` and `ana@x.com` are one user.
    /// Invisible and control characters are refused: they would make look-alike accounts.
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        if input.len() > MAX_LEN * 4 {
            return Err(InvalidEmail("is longer than 254 characters"));
        }
        let input = input.trim();
        // ASCII is its own compatibility form: the normalisation is for the rest.
        let address =
            if input.is_ascii() { input.to_ascii_lowercase() } else { input.nfkc().collect::<String>().to_lowercase() };
        if address.is_empty() {
            return Err(InvalidEmail("is required"));
        }
        if address.len() > MAX_LEN {
            return Err(InvalidEmail("is longer than 254 characters"));
        }
        if address.chars().any(|c| c.is_control() || super::text::is_format(c)) {
            return Err(InvalidEmail("contains an invisible or control character"));
        }
        // `email_address` implements the RFC 5322 addr-spec grammar; display names ("Ana <a@x>")
        // and quoted local parts are refused: they are valid mail syntax, never a login.
        let parsed = email_address::EmailAddress::parse_with_options(
            &address,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|_| InvalidEmail("is not a valid email address"))?;
        let (local, domain) = (parsed.local_part(), parsed.domain());
        if local.starts_with('"') || domain.starts_with('[') {
            return Err(InvalidEmail("is not a valid email address"));
        }
        if local.len() > MAX_LOCAL_LEN {
            return Err(InvalidEmail("has a part before @ longer than 64 characters"));
        }
        Ok(Email(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl FromStr for Email {
    type Err = InvalidEmail;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Email::parse(s)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_trims() {
        assert_eq!(Email::parse("  Ana.Perez@Example.COM ").unwrap().as_str(), "ana.perez@example.com");
        assert_eq!(Email::parse("operator@localhost").unwrap().local_part(), "operator");
    }

    #[test]
    fn look_alikes_are_one_address_or_none() {
        // Fullwidth letters fold to the address they imitate.
        assert_eq!(Email::parse("ａｄｍｉｎ＠ａｃｍｅ．ｅｘａｍｐｌｅ").unwrap().as_str(), "admin@acme.example");
        for bad in [
            "ad\u{200b}min@acme.example",
            "admin\u{202e}@acme.example",
            "admin@acme.example\u{0}",
            "\u{feff}a@b.example",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn refuses_what_is_not_a_login_address() {
        for bad in [
            "",
            "   ",
            "ana",
            "ana@",
            "@example.com",
            "ana@@example.com",
            "Ana <ana@example.com>",
            "\"ana\"@example.com",
            "ana@[127.0.0.1]",
            "ana perez@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::Email;

        /// Addresses people type: mixed case, dots, plus tags, surrounding space.
        fn typed_address() -> impl Strategy<Value = String> {
            ("[ \t]{0,2}", "[A-Za-z0-9][A-Za-z0-9._+-]{0,30}", "[A-Za-z0-9]{1,20}(\\.[A-Za-z]{2,6}){1,2}", "[ \t]{0,2}")
                .prop_map(|(before, local, domain, after)| format!("{before}{local}@{domain}{after}"))
        }

        proptest! {
            /// Whatever the input, parsing never panics, and what it accepts is a login
            /// address: lower-case, one @, within the length limits, nothing invisible, and
            /// stable (parsing the result gives it back).
            #[test]
            fn what_is_accepted_is_canonical(input in prop_oneof![
                "\\PC{0,80}|[\\u{0}-\\u{ffff}]{0,40}",
                (typed_address(), any::<char>(), any::<prop::sample::Index>()).prop_map(|(address, c, at)| {
                    let mut chars: Vec<char> = address.chars().collect();
                    chars.insert(at.index(chars.len() + 1), c);
                    chars.into_iter().collect::<String>()
                }),
            ]) {
                if let Ok(email) = Email::parse(&input) {
                    let text = email.as_str();
                    prop_assert_eq!(text.to_lowercase(), text);
                    prop_assert_eq!(text.matches('@').count(), 1);
                    prop_assert!(text.len() <= 254 && email.local_part().len() <= 64);
                    prop_assert!(!text.chars().any(|c| c.is_control() || c.is_whitespace()));
                    prop_assert_eq!(Email::parse(text), Ok(email.clone()));
                }
            }

            /// ASCII, which skips the normalisation, reads as the normalisation would have it.
            #[test]
            fn ascii_skips_nothing(input in "[\\x00-\\x7f]{0,40}") {
                use unicode_normalization::UnicodeNormalization;
                prop_assert_eq!(input.to_ascii_lowercase(), input.nfkc().collect::<String>().to_lowercase());
            }

            /// Case and surrounding space never make two accounts of one address.
            #[test]
            fn case_and_space_do_not_matter(input in typed_address()) {
                let parsed = Email::parse(&input);
                prop_assert_eq!(Email::parse(&input.to_ascii_uppercase()), parsed.clone());
                prop_assert_eq!(Email::parse(input.trim()), parsed.clone());
                if input.trim().split('@').next().is_some_and(|l| !l.starts_with('.') && !l.ends_with('.') && !l.contains("..")) {
                    prop_assert!(parsed.is_ok(), "{:?} is an address", input);
                }
            }
        }
    }
}
