//! The rules of an import: each row on its own (`check_row`), then the file
//! as a whole (`FileRules`: duplicates within the file, addresses already in the portal,
//! managers that are neither users of the company nor rows of the file).

use crate::domain::text::quoted;
use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::COLUMNS;
use super::parse::Row;
use crate::domain::enums::IssueCode;
use crate::domain::people::{JobTitle, Person, PersonName};
use crate::domain::{Email, countries};
use crate::types::{Line, Locale, TextError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub row: u64,
    /// A template column, or None for the row as a whole.
    pub column: Option<&'static str>,
    pub code: IssueCode,
    pub message: String,
}

/// A row that passed its own rules: a person ready to become a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidRow {
    pub number: u64,
    pub person: Person,
}

/// A row that broke its own rules: its issues, and the addresses it does have (the file rules
/// still judge them, so that a row's every problem is reported at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRow {
    pub number: u64,
    pub issues: Vec<Issue>,
    pub email: Option<Email>,
    pub manager: Option<Email>,
}

const GIVEN: usize = 0;
const SURNAME: usize = 1;
const EMAIL: usize = 2;
const JOB: usize = 3;
const MANAGER: usize = 4;
const COUNTRY: usize = 5;
const ACTIVE: usize = 6;

pub fn check_row(row: &Row) -> Result<ValidRow, InvalidRow> {
    let mut issues = Vec::new();
    let mut issue = |column: usize, code: IssueCode, message: String| {
        issues.push(Issue { row: row.number, column: Some(COLUMNS[column]), code, message });
    };
    // The same text rules as createUser (one line, bounded, no invisible characters).
    let mut text = |column: usize, parsed: Result<String, TextError>| {
        parsed.unwrap_or_else(|error| {
            let code = match error {
                TextError::Required => IssueCode::Required,
                TextError::TooLong(_) => IssueCode::TooLong,
                _ => IssueCode::InvalidText,
            };
            issue(column, code, format!("{} {error}", COLUMNS[column]));
            String::new()
        })
    };
    let given_name = text(GIVEN, PersonName::required(&row.fields[GIVEN]).map(Line::into_inner));
    let surname = text(SURNAME, PersonName::required(&row.fields[SURNAME]).map(Line::into_inner));
    let job_title = text(JOB, JobTitle::required(&row.fields[JOB]).map(Line::into_inner));
    let mut email_of = |column: usize| {
        let value = &row.fields[column];
        if value.is_empty() {
            issue(column, IssueCode::Required, format!("{} is required", COLUMNS[column]));
            return None;
        }
        Email::parse(value).map_err(|e| issue(column, IssueCode::InvalidEmail, format!("{} {e}", quoted(value)))).ok()
    };
    let email = email_of(EMAIL);
    let manager = email_of(MANAGER);
    if let (Some(email), Some(manager)) = (&email, &manager)
        && email == manager
    {
        issue(MANAGER, IssueCode::SelfManager, "a user cannot be their own manager".into());
    }
    let is_active = match row.fields[ACTIVE].as_str() {
        "1" => true,
        "0" => false,
        other => {
            issue(ACTIVE, IssueCode::InvalidFlag, format!("Is Active must be 1 or 0, not {}", quoted(other)));
            false
        }
    };
    let country = match row.fields[COUNTRY].as_str() {
        "" => None,
        value => countries::find(value).map(|country| country.code.to_owned()).or_else(|| {
            let message = format!("{} is not a country (ISO code or English name)", quoted(value));
            issue(COUNTRY, IssueCode::UnknownCountry, message);
            None
        }),
    };
    match (email, manager) {
        (Some(email), Some(manager_email)) if issues.is_empty() => {
            let locale = Locale::default();
            let person = Person { given_name, surname, email, job_title, manager_email, country, locale, is_active };
            Ok(ValidRow { number: row.number, person })
        }
        (email, manager) => Err(InvalidRow { number: row.number, issues, email, manager }),
    }
}

impl ValidRow {
    /// Its addresses, as the file rules take them.
    pub fn addresses(&self) -> (Option<&Email>, Option<&Email>) {
        (Some(&self.person.email), Some(&self.person.manager_email))
    }
}

/// An address reduced to 128 bits of its SHA-256: the file rules remember every address of a
/// million-row file at 16 bytes each instead of a `String` (two addresses of one file sharing
/// a key is about as likely as guessing a random UUID).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct EmailKey([u8; 16]);

impl EmailKey {
    fn of(email: &Email) -> EmailKey {
        let digest = Sha256::digest(email.as_str().as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        EmailKey(key)
    }
}

/// What can only be judged with the whole file in view.
#[derive(Default)]
pub struct FileRules {
    first_row: HashMap<EmailKey, u32>,
    duplicates_reported: HashSet<u32>,
    /// Every row's manager, as an index into the distinct managers (few, in practice).
    managers: Vec<(u32, u32)>,
    manager_index: HashMap<EmailKey, u32>,
    manager_addresses: Vec<(EmailKey, Email)>,
}

impl FileRules {
    /// Notes row `number`'s addresses (those it has); returns its duplicate issues. Every
    /// occurrence of a duplicated address is reported, each with the row it repeats.
    pub fn add(&mut self, number: u64, email: Option<&Email>, manager: Option<&Email>) -> Vec<Issue> {
        let row = number as u32;
        let mut issues = Vec::new();
        if let Some(email) = email {
            let key = EmailKey::of(email);
            match self.first_row.get(&key) {
                Some(&first) => {
                    if self.duplicates_reported.insert(first) {
                        issues.push(duplicate(first.into(), email, number));
                    }
                    issues.push(duplicate(number, email, first.into()));
                }
                None => {
                    self.first_row.insert(key, row);
                }
            }
        }
        if let Some(manager) = manager {
            let key = EmailKey::of(manager);
            let next = self.manager_addresses.len() as u32;
            let index = *self.manager_index.entry(key).or_insert(next);
            if index == next {
                self.manager_addresses.push((key, manager.clone()));
            }
            self.managers.push((row, index));
        }
        issues
    }

    /// Every manager address that is not a row of the file (to look up among the company's
    /// users). Only final once every row has been added.
    pub fn outside_managers(&self) -> Vec<&Email> {
        self.manager_addresses.iter().filter(|(key, _)| !self.first_row.contains_key(key)).map(|(_, e)| e).collect()
    }

    /// The managers that are neither rows of the file nor in `company_users`.
    pub fn finish(self, company_users: &HashSet<Email>) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (row, index) in &self.managers {
            let (key, manager) = &self.manager_addresses[*index as usize];
            if !self.first_row.contains_key(key) && !company_users.contains(manager) {
                issues.push(Issue {
                    row: (*row).into(),
                    column: Some(COLUMNS[MANAGER]),
                    code: IssueCode::UnknownManager,
                    message: format!("{manager} is neither a user of the company nor a row of this file"),
                });
            }
        }
        issues
    }
}

/// The row's address already has an account.
pub fn email_exists(row: u64, email: &Email) -> Issue {
    Issue {
        row,
        column: Some(COLUMNS[EMAIL]),
        code: IssueCode::EmailExists,
        message: format!("{email} already has an account in the portal"),
    }
}

fn duplicate(row: u64, email: &Email, other: u64) -> Issue {
    Issue {
        row,
        column: Some(COLUMNS[EMAIL]),
        code: IssueCode::DuplicateEmail,
        message: format!("{email} is also on row {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::rows;
    use super::*;

    const HEADER: &str = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\n";

    fn check(body: &str) -> (Vec<ValidRow>, Vec<Issue>) {
        let mut valid = Vec::new();
        let mut issues = Vec::new();
        for row in rows(format!("{HEADER}{body}").as_bytes()).unwrap() {
            match check_row(&row.unwrap()) {
                Ok(row) => valid.push(row),
                Err(invalid) => issues.extend(invalid.issues),
            }
        }
        (valid, issues)
    }

    #[test]
    fn every_row_rule_has_its_code() {
        let (valid, issues) = check(
            ",Pérez,not-an-email,Buyer,boss@x.com,Atlantis,yes\n\
             Ana,Pérez,ana@x.com,Buyer,ana@x.com,,1\n\
             Luis,Núñez,luis@x.com,Analyst,ana@x.com,Colombia,0\n",
        );
        let codes: Vec<(u64, IssueCode)> = issues.iter().map(|i| (i.row, i.code)).collect();
        assert_eq!(
            codes,
            [
                (2, IssueCode::Required),
                (2, IssueCode::InvalidEmail),
                (2, IssueCode::InvalidFlag),
                (2, IssueCode::UnknownCountry),
                (3, IssueCode::SelfManager)
            ]
        );
        assert_eq!(valid.len(), 1);
        assert_eq!((valid[0].person.country.as_deref(), valid[0].person.is_active), (Some("CO"), false));
    }

    /// The text rules are createUser's: a name with an invisible character or a title that
    /// would reverse its line is refused, and names are stored composed (NFC).
    #[test]
    fn text_cells_follow_the_same_rules_as_forms() {
        let (valid, issues) = check(
            "Ad\u{200b}min,Pérez,a@x.com,Buyer,boss@x.com,,1\n\
             Ana,Pérez,b@x.com,abc\u{202e}exe,boss@x.com,,1\n\
             Jose\u{301},Pérez,c@x.com,Buyer,boss@x.com,,1\n",
        );
        let codes: Vec<(u64, Option<&str>, IssueCode)> = issues.iter().map(|i| (i.row, i.column, i.code)).collect();
        assert_eq!(
            codes,
            [(2, Some("Given Name"), IssueCode::InvalidText), (3, Some("Job title"), IssueCode::InvalidText)]
        );
        assert_eq!(valid[0].person.given_name, "José");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::super::COLUMNS;
        use super::super::super::parse::Row;
        use super::super::{IssueCode, check_row};

        fn row(fields: [String; 7]) -> Row {
            Row { number: 2, raw: fields.to_vec(), fields }
        }

        /// A row a careful person would write: every rule met.
        fn good_fields() -> impl Strategy<Value = [String; 7]> {
            (
                // As the reader hands cells over: trimmed (inner spaces and apostrophes stay).
                "[A-Za-zÁÉÍÓÚáéíóúñÑ]([' -]?[A-Za-zÁÉÍÓÚáéíóúñÑ]){0,20}",
                "[A-Za-zÁÉÍÓÚáéíóúñÑ]([' -]?[A-Za-zÁÉÍÓÚáéíóúñÑ]){0,20}",
                "[a-z]{1,12}",
                "[A-Za-z]( ?[A-Za-z]){0,30}",
                "[a-z]{1,12}",
                prop::sample::select(vec!["", "CO", "Spain", "es", "United States of America"]),
                prop::bool::ANY,
            )
                .prop_filter("a manager other than the user", |(_, _, user, _, manager, _, _)| user != manager)
                .prop_map(|(given, surname, user, job, manager, country, active)| {
                    [
                        given,
                        surname,
                        format!("{user}@example.com"),
                        job,
                        format!("{manager}@example.com"),
                        country.to_owned(),
                        if active { "1" } else { "0" }.to_owned(),
                    ]
                })
        }

        proptest! {
            /// Any seven cells: no panic; a row passes exactly when it has no issue, and every
            /// issue names a template column and this row.
            #[test]
            fn every_row_gets_a_verdict(fields in prop::array::uniform7("\\PC{0,12}|[\\u{0}-\\u{7f}]{0,3}")) {
                match check_row(&row(fields)) {
                    Ok(valid) => prop_assert_eq!(valid.number, 2),
                    Err(invalid) => {
                        prop_assert!(!invalid.issues.is_empty());
                        for issue in invalid.issues {
                            prop_assert_eq!(issue.row, 2);
                            prop_assert!(issue.column.is_some_and(|c| COLUMNS.contains(&c)));
                            prop_assert!(!issue.message.is_empty());
                        }
                    }
                }
            }

            /// A good row passes with its values; emptying a mandatory cell fails it with
            /// REQUIRED on that column, and nothing else.
            #[test]
            fn a_missing_mandatory_cell_is_named(fields in good_fields(), blank in 0usize..5) {
                let valid = check_row(&row(fields.clone())).expect("a good row passes");
                prop_assert_eq!(&valid.person.given_name, &fields[0]);
                prop_assert_eq!(valid.person.email.as_str(), fields[2].as_str());
                prop_assert_eq!(valid.person.is_active, fields[6] == "1");
                let mut broken = fields;
                broken[blank].clear();
                let invalid = check_row(&row(broken)).expect_err("a blank mandatory cell fails");
                let found: Vec<_> = invalid.issues.iter().map(|i| (i.column, i.code)).collect();
                prop_assert_eq!(found, vec![(Some(COLUMNS[blank]), IssueCode::Required)]);
            }
        }
    }

    #[test]
    fn file_rules_report_duplicates_existing_and_unknown_managers() {
        let (valid, issues) = check(
            "Ana,A,ana@x.com,B,boss@x.com,,1\n\
             Bob,B,bob@x.com,B,ana@x.com,,1\n\
             Ana,Again,ANA@x.com,B,boss@x.com,,1\n\
             Cy,C,cy@x.com,B,ghost@x.com,,1\n\
             Di,D,taken@x.com,B,boss@x.com,,1\n",
        );
        assert!(issues.is_empty());
        let mut rules = FileRules::default();
        let mut found: Vec<Issue> = valid
            .iter()
            .flat_map(|row| {
                let (email, manager) = row.addresses();
                rules.add(row.number, email, manager)
            })
            .collect();
        let outside: HashSet<String> = rules.outside_managers().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(outside, HashSet::from(["boss@x.com".to_owned(), "ghost@x.com".to_owned()]));
        found.push(email_exists(6, &Email::parse("taken@x.com").unwrap()));
        found.extend(rules.finish(&HashSet::from([Email::parse("boss@x.com").unwrap()])));
        found.sort_by_key(|i| i.row);
        let found: Vec<(u64, IssueCode, &str)> = found.iter().map(|i| (i.row, i.code, i.message.as_str())).collect();
        assert_eq!(
            found,
            [
                (2, IssueCode::DuplicateEmail, "ana@x.com is also on row 4"),
                (4, IssueCode::DuplicateEmail, "ana@x.com is also on row 2"),
                (5, IssueCode::UnknownManager, "ghost@x.com is neither a user of the company nor a row of this file"),
                (6, IssueCode::EmailExists, "taken@x.com already has an account in the portal"),
            ]
        );
    }
}
