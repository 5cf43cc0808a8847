//! Text that people type, parsed once: trimmed, in Unicode's composed form (NFC, so "é" typed
//! two ways is one name), bounded in characters, and free of what no name, title or message
//! needs and what attacks use: NUL (PostgreSQL refuses it), control characters (headers and
//! logs split on them) and invisible format characters (zero-width joiners, right-to-left
//! overrides that make `evil.exe` look like `exe.live`).

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether line breaks (and tabs) are part of the text: a description yes, a name no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

/// Text of at most `MAX` characters on one line: names, titles, subjects.
pub type Line<const MAX: usize> = Text<MAX, false>;
/// Text of at most `MAX` characters that may hold line breaks and tabs: descriptions.
pub type Paragraphs<const MAX: usize> = Text<MAX, true>;

/// Text that passed the rules above, within `MAX` characters (`MULTILINE`: may span lines).
/// The bound is in the type, so a field's limit is written once, where its type is chosen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text<const MAX: usize, const MULTILINE: bool>(String);

/// Why a text was refused; the message completes "<field> …".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is required")]
    Required,
    #[error("is longer than {0} characters")]
    TooLong(usize),
    #[error("contains a NUL character")]
    Nul,
    #[error("must be on one line")]
    OneLine,
    #[error("contains a control character")]
    Control,
    #[error("contains an invisible formatting character")]
    Invisible,
}

impl<const MAX: usize, const MULTILINE: bool> Text<MAX, MULTILINE> {
    /// Trimmed, NFC, at most `MAX` characters, no NUL, control or format characters. Empty is
    /// allowed (an optional field); `required` is not.
    pub fn parse(value: &str) -> Result<Self, TextError> {
        let lines = if MULTILINE { Lines::Many } else { Lines::One };
        parse(value, MAX, lines).map(Text)
    }

    /// `parse`, and something must be left.
    pub fn required(value: &str) -> Result<Self, TextError> {
        let text = Self::parse(value)?;
        if text.0.is_empty() {
            return Err(TextError::Required);
        }
        Ok(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<const MAX: usize, const MULTILINE: bool> From<Text<MAX, MULTILINE>> for String {
    fn from(text: Text<MAX, MULTILINE>) -> String {
        text.0
    }
}

/// Why a character is refused.
fn refusal(c: char, lines: Lines) -> Option<TextError> {
    match c {
        '\0' => Some(TextError::Nul),
        '\n' | '\t' | '\r' if lines == Lines::Many => None,
        '\n' | '\r' => Some(TextError::OneLine),
        c if c.is_control() => Some(TextError::Control),
        c if is_format(c) => Some(TextError::Invisible),
        _ => None,
    }
}

/// An invisible format character (zero-width joiner, right-to-left override, …). No ASCII
/// character is one: ASCII skips the category table, the costly part of checking a
/// million-row import, nearly all of it ASCII.
pub(crate) fn is_format(c: char) -> bool {
    !c.is_ascii() && c.general_category() == GeneralCategory::Format
}

/// `text` in Unicode's composed form: copied as it is when it is already (all ASCII text is).
fn nfc(text: &str) -> String {
    match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => text.to_owned(),
        _ => text.nfc().collect(),
    }
}

/// The rules of `Text`.
fn parse(value: &str, max: usize, lines: Lines) -> Result<String, TextError> {
    // Length first, on the raw input, so a megabyte is refused before it is normalised.
    if value.len() > max.saturating_mul(4).saturating_add(64) {
        return Err(TextError::TooLong(max));
    }
    let text = nfc(value.trim());
    if let Some(why) = text.chars().find_map(|c| refusal(c, lines)) {
        return Err(why);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    Ok(text)
}

/// A value quoted back in an error message: at most 60 characters, control and format
/// characters shown as escapes, so a 50 MB cell or a line break cannot ride along.
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 60;
    let mut shown: String =
        value.chars().take(SHOWN).map(|c| if c.is_control() || is_format(c) { '\u{fffd}' } else { c }).collect();
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
    fn no_ascii_character_is_a_format_character() {
        // What `refusal`'s shortcut for ASCII rests on.
        assert!((0..128u8).all(|b| char::from(b).general_category() != GeneralCategory::Format));
    }

    proptest::proptest! {
        /// The shortcut for text already composed gives what the full normalisation gives.
        #[test]
        fn nfc_is_the_full_normalisation(text in "\\PC{0,40}|[a-zA-Z\u{300}-\u{36f}\u{1100}-\u{11ff}\u{ac00}-\u{ac10}]{0,20}") {
            proptest::prop_assert_eq!(nfc(&text), text.nfc().collect::<String>());
        }
    }

    #[test]
    fn composes_trims_and_bounds() {
        assert_eq!(Line::<10>::parse("  Jose\u{301}  ").unwrap().as_str(), "José");
        assert_eq!(Line::<10>::parse(&"a".repeat(10)).unwrap().as_str().len(), 10);
        assert_eq!(Line::<10>::parse(&"a".repeat(11)), Err(TextError::TooLong(10)));
        assert_eq!(Line::<10>::parse(&"a".repeat(1 << 20)), Err(TextError::TooLong(10)));
        assert_eq!(Line::<10>::required("  "), Err(TextError::Required));
        assert_eq!(Line::<10>::parse("  ").unwrap(), Line::default());
    }

    #[test]
    fn refuses_what_no_name_needs() {
        for (input, why) in [
            ("a\0b", TextError::Nul),
            ("a\u{7}b", TextError::Control),
            ("a\nb", TextError::OneLine),
            ("abc\u{202e}exe.txt", TextError::Invisible),
            ("ad\u{200b}min", TextError::Invisible),
            ("\u{feff}x", TextError::Invisible),
        ] {
            assert_eq!(Line::<100>::parse(input), Err(why), "{input:?}");
        }
        let many = Paragraphs::<100>::parse("line one\nline two\tend").unwrap();
        assert_eq!(many.as_str(), "line one\nline two\tend");
        assert_eq!(Paragraphs::<100>::parse("a\0"), Err(TextError::Nul));
    }

    #[test]
    fn quoting_is_short_and_plain() {
        assert_eq!(quoted("Atlantis"), "`Atlantis`");
        assert_eq!(quoted("a\nb"), "`a\u{fffd}b`");
        let long = quoted(&"x".repeat(1_000_000));
        assert_eq!(long.chars().count(), 63);
    }
}
