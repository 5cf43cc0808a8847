//! `Locale`: the language (and optionally the region) a person reads their emails in, such as
//! `en` or `es-CO`. Holding one proves it has that shape; templates pick the closest they have.

use std::fmt;

/// Also the column type of `users.locale`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, sea_orm::DeriveValueType, serde::Serialize)]
#[serde(transparent)]
pub struct Locale(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("is not a locale such as en or es-CO")]
pub struct InvalidLocale;

impl Locale {
    /// A language of two or three letters, then optionally a region of two (`-` or `_`
    /// between them), in any case; kept as `ll-RR`.
    pub fn parse(input: &str) -> Result<Locale, InvalidLocale> {
        let input = input.trim();
        if input.len() > 6 {
            return Err(InvalidLocale);
        }
        let mut parts = input.split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        let region = parts.next();
        let letters = |part: &str, lengths: std::ops::RangeInclusive<usize>| {
            lengths.contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphabetic())
        };
        if !letters(language, 2..=3) || region.is_some_and(|r| !letters(r, 2..=2)) || parts.next().is_some() {
            return Err(InvalidLocale);
        }
        let mut locale = language.to_ascii_lowercase();
        if let Some(region) = region {
            locale.push('-');
            locale.push_str(&region.to_ascii_uppercase());
        }
        Ok(Locale(locale))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// English: what a person gets until they say otherwise.
impl Default for Locale {
    fn default() -> Locale {
        Locale("en".to_owned())
    }
}

impl std::ops::Deref for Locale {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_language_and_region_in_their_cases() {
        assert_eq!(Locale::parse(" es_co ").unwrap().as_str(), "es-CO");
        assert_eq!(Locale::parse("EN").unwrap().as_str(), "en");
        assert_eq!(Locale::parse("fil").unwrap().as_str(), "fil");
        for bad in ["", "e", "english", "es-", "es-COL", "es-CO-x", "e1", "es-C0", "zh-Hans"] {
            assert_eq!(Locale::parse(bad), Err(InvalidLocale), "{bad:?}");
        }
    }
}
