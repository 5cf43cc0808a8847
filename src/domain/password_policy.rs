//! The password policy, as data: clients render the rules under the password box
//! (`passwordPolicy` query) and every rule a password breaks is reported at once.

use super::email::Email;
use super::error::FieldError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordRule {
    MinLength,
    MaxLength,
    Uppercase,
    Lowercase,
    Digit,
    Symbol,
    NotEmailLocalPart,
    NotRecentlyUsed,
}

#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    /// How many previous passwords may not be reused.
    pub history_size: usize,
}

pub const POLICY: PasswordPolicy = PasswordPolicy { min_length: 12, max_length: 128, history_size: 5 };

impl PasswordRule {
    pub const ALL: [PasswordRule; 8] = [
        PasswordRule::MinLength,
        PasswordRule::MaxLength,
        PasswordRule::Uppercase,
        PasswordRule::Lowercase,
        PasswordRule::Digit,
        PasswordRule::Symbol,
        PasswordRule::NotEmailLocalPart,
        PasswordRule::NotRecentlyUsed,
    ];

    /// Stable machine name, for clients that show their own wording.
    pub fn code(self) -> &'static str {
        match self {
            PasswordRule::MinLength => "MIN_LENGTH",
            PasswordRule::MaxLength => "MAX_LENGTH",
            PasswordRule::Uppercase => "UPPERCASE",
            PasswordRule::Lowercase => "LOWERCASE",
            PasswordRule::Digit => "DIGIT",
            PasswordRule::Symbol => "SYMBOL",
            PasswordRule::NotEmailLocalPart => "NOT_EMAIL",
            PasswordRule::NotRecentlyUsed => "NOT_RECENTLY_USED",
        }
    }
}

impl PasswordPolicy {
    pub fn describe(&self, rule: PasswordRule) -> String {
        match rule {
            PasswordRule::MinLength => format!("At least {} characters", self.min_length),
            PasswordRule::MaxLength => format!("At most {} characters", self.max_length),
            PasswordRule::Uppercase => "At least one upper-case letter".into(),
            PasswordRule::Lowercase => "At least one lower-case letter".into(),
            PasswordRule::Digit => "At least one digit".into(),
            PasswordRule::Symbol => "At least one symbol (such as ! ? # % -)".into(),
            PasswordRule::NotEmailLocalPart => "Must not contain the part of your email before @".into(),
            PasswordRule::NotRecentlyUsed => {
                format!("Must not be one of your last {} passwords", self.history_size)
            }
        }
    }

    /// The rules a password breaks, all of them, judged without the password history (the
    /// caller checks `NotRecentlyUsed` against stored hashes, which needs the database).
    pub fn broken_rules(&self, password: &str, email: Option<&Email>) -> Vec<PasswordRule> {
        let length = password.chars().count();
        let mut broken = Vec::new();
        if length < self.min_length {
            broken.push(PasswordRule::MinLength);
        }
        if length > self.max_length {
            broken.push(PasswordRule::MaxLength);
        }
        if !password.chars().any(char::is_uppercase) {
            broken.push(PasswordRule::Uppercase);
        }
        if !password.chars().any(char::is_lowercase) {
            broken.push(PasswordRule::Lowercase);
        }
        if !password.chars().any(|c| c.is_ascii_digit()) {
            broken.push(PasswordRule::Digit);
        }
        if !password.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
            broken.push(PasswordRule::Symbol);
        }
        if let Some(email) = email {
            let local = email.local_part();
            // Very short local parts ("a@x.com") would forbid half the alphabet.
            if local.chars().count() >= 3 && password.to_lowercase().contains(local) {
                broken.push(PasswordRule::NotEmailLocalPart);
            }
        }
        broken
    }

    /// The broken rules as field errors on `field`, one per rule.
    pub fn field_errors(&self, field: &str, broken: &[PasswordRule]) -> Vec<FieldError> {
        broken.iter().map(|rule| FieldError::new(field, self.describe(*rule))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strong_password_breaks_nothing() {
        let email = Email::parse("ana.perez@example.com").unwrap();
        assert!(POLICY.broken_rules("Correct-Horse-42", Some(&email)).is_empty());
    }

    #[test]
    fn reports_every_broken_rule() {
        assert_eq!(
            POLICY.broken_rules("abc", None),
            vec![PasswordRule::MinLength, PasswordRule::Uppercase, PasswordRule::Digit, PasswordRule::Symbol]
        );
        let email = Email::parse("ana.perez@example.com").unwrap();
        assert_eq!(
            POLICY.broken_rules("XX-ANA.PEREZ-2026", Some(&email)),
            vec![PasswordRule::Lowercase, PasswordRule::NotEmailLocalPart]
        );
        let too_long = format!("Aa1!{}", "x".repeat(130));
        assert_eq!(POLICY.broken_rules(&too_long, None), vec![PasswordRule::MaxLength]);
    }
}
