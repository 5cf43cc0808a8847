//! Text that people type, parsed once: trimmed, in Unicode's composed form (NFC, so "é" typed
//! two ways is one name), bounded in characters, and free of what no name, title or message
//! needs and what attacks use: NUL (PostgreSQL refuses it), control characters (headers and
//! logs split on them) and invisible format characters (zero-width joiners, right-to-left
//! overrides that make `evil.exe` look like `exe.live`).

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::FieldError;

/// Whether line breaks (and tabs) are part of the text: a description yes, a name no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Why a character is refused, for the message.
fn refusal(c: char, lines: Lines) -> Option<&'static str> {
    match c {
        '\0' => Some("contains a NUL character"),
        '\n' | '\t' | '\r' if lines == Lines::Many => None,
        '\n' | '\r' => Some("must be on one line"),
        c if c.is_control() => Some("contains a control character"),
        c if c.general_category() == GeneralCategory::Format => Some("contains an invisible formatting character"),
        _ => None,
    }
}

/// Trimmed, NFC, at most `max` characters, no NUL, control or format characters; `field` names
/// the input in the error. An empty result is allowed: the caller decides whether it is.
pub fn parse(field: &str, value: &str, max: usize, lines: Lines) -> Result<String, FieldError> {
    // Length first, on the raw input, so a megabyte is refused before it is normalised.
    if value.len() > max.saturating_mul(4).saturating_add(64) {
        return Err(FieldError::new(field, format!("is longer than {max} characters")));
    }
    let text: String = value.trim().nfc().collect();
    if let Some(why) = text.chars().find_map(|c| refusal(c, lines)) {
        return Err(FieldError::new(field, why));
    }
    if text.chars().count() > max {
        return Err(FieldError::new(field, format!("is longer than {max} characters")));
    }
    Ok(text)
}

/// `parse`, and something must be left.
pub fn required(field: &str, value: &str, max: usize, lines: Lines) -> Result<String, FieldError> {
    let text = parse(field, value, max, lines)?;
    if text.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    Ok(text)
}

/// A value quoted back in an error message: at most 60 characters, control and format
/// characters shown as escapes, so a 50 MB cell or a line break cannot ride along.
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 60;
    let mut shown: String = value
        .chars()
        .take(SHOWN)
        .map(|c| if c.is_control() || c.general_category() == GeneralCategory::Format { '\u{fffd}' } else { c })
        .collect();
    if value.chars().nth(SHOWN).is_some() {
        shown.push('…');
    }
    format!("`{shown}`")
}

/// True when the text holds a character no input of ours accepts anywhere (for checks made
/// before a field is known, such as the request limits).
pub fn has_nul(value: &str) -> bool {
    value.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_trims_and_bounds() {
        assert_eq!(parse("n", "  Jose\u{301}  ", 10, Lines::One).unwrap(), "José");
        assert_eq!(parse("n", &"a".repeat(10), 10, Lines::One).unwrap().len(), 10);
        assert!(parse("n", &"a".repeat(11), 10, Lines::One).unwrap_err().message.contains("longer than 10"));
        assert!(parse("n", &"a".repeat(1 << 20), 10, Lines::One).is_err());
        assert_eq!(required("n", "  ", 10, Lines::One).unwrap_err().message, "is required");
    }

    #[test]
    fn refuses_what_no_name_needs() {
        for (input, why) in [
            ("a\0b", "NUL"),
            ("a\u{7}b", "control"),
            ("a\nb", "one line"),
            ("abc\u{202e}exe.txt", "invisible"),
            ("ad\u{200b}min", "invisible"),
            ("\u{feff}x", "invisible"),
        ] {
            let error = parse("n", input, 100, Lines::One).unwrap_err();
            assert!(error.message.contains(why), "{input:?}: {}", error.message);
        }
        assert_eq!(parse("d", "line one\nline two\tend", 100, Lines::Many).unwrap(), "line one\nline two\tend");
        assert!(parse("d", "a\0", 100, Lines::Many).is_err());
    }

    #[test]
    fn quoting_is_short_and_plain() {
        assert_eq!(quoted("Atlantis"), "`Atlantis`");
        assert_eq!(quoted("a\nb"), "`a\u{fffd}b`");
        let long = quoted(&"x".repeat(1_000_000));
        assert_eq!(long.chars().count(), 63);
    }
}
