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

/// An address reduced to 128 bits of its SHA-256 (two addresses of one file sharing a key is
/// about as likely as guessing a random UUID): how the second reading tells rows apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct EmailKey([u8; 16]);

impl EmailKey {
    fn of(email: &Email) -> EmailKey {
        let digest = Sha256::digest(email.as_str().as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        EmailKey(key)
    }

    /// Its first 64 bits: what the first reading keeps of every row. Two addresses of a
    /// 10,000,000-row file share one with a chance of about 3 in a million; the second reading
    /// then tells them apart by the whole key.
    fn short(self) -> u64 {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        u64::from_be_bytes([a, b, c, d, e, f, g, h])
    }
}

/// Distinct managers remembered with their address (a few MiB): a file naming more is unusual,
/// and its further managers are looked up row by row in the second reading.
const MANAGERS_KEPT: usize = 65_536;

/// What can only be judged with the whole file in view, in two readings so that memory stays
/// small whatever the file's size. The first notes 8 bytes per row (its address's short key)
/// and each distinct manager; its end (`end`) names the suspects: addresses seen more than
/// once, and managers that are neither addresses of the file nor, once looked up, users of the
/// company. A file without suspects (a clean one) is read once. Only a file with suspects is
/// read again (`Suspects`), remembering its suspect rows alone.
#[derive(Default)]
pub struct FileRules {
    addresses: Vec<u64>,
    managers: HashMap<u64, Email>,
    /// Managers past `MANAGERS_KEPT`, by key only; distinct after `compact`.
    more_managers: Vec<u64>,
}

impl FileRules {
    /// For a file of `rows` rows: its keys are then stored without reallocation.
    pub fn with_capacity(rows: usize) -> FileRules {
        FileRules { addresses: Vec::with_capacity(rows), ..FileRules::default() }
    }

    /// Notes a row's addresses (those it has), in the first reading.
    pub fn add(&mut self, email: Option<&Email>, manager: Option<&Email>) {
        if let Some(email) = email {
            self.addresses.push(EmailKey::of(email).short());
        }
        if let Some(manager) = manager {
            let key = EmailKey::of(manager).short();
            if self.managers.len() < MANAGERS_KEPT {
                self.managers.entry(key).or_insert_with(|| manager.clone());
            } else if !self.managers.contains_key(&key) {
                if self.more_managers.len() == self.more_managers.capacity() {
                    compact(&mut self.more_managers);
                }
                self.more_managers.push(key);
            }
        }
    }

    /// The end of the first reading: the suspects, and the managers outside the file to look
    /// up among the company's users (then `Suspects::found_in_company`).
    pub fn end(mut self) -> (Suspects, Vec<Email>) {
        self.addresses.sort_unstable();
        let in_file = |key: &u64| self.addresses.binary_search(key).is_ok();
        let repeated: HashSet<u64> = self.addresses.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        compact(&mut self.more_managers);
        let look_up_by_row = self.more_managers.iter().copied().filter(|key| !in_file(key)).collect();
        let outside: Vec<(u64, Email)> = self.managers.into_iter().filter(|(key, _)| !in_file(key)).collect();
        let suspects = Suspects {
            repeated,
            unknown_managers: outside.iter().map(|(key, _)| *key).collect(),
            look_up_by_row,
            first_row: HashMap::new(),
            duplicates_reported: HashSet::new(),
        };
        (suspects, outside.into_iter().map(|(_, email)| email).collect())
    }
}

/// Sorted and deduplicated, with room for as many again.
fn compact(keys: &mut Vec<u64>) {
    keys.sort_unstable();
    keys.dedup();
    keys.reserve(keys.len().max(1_024));
}

/// The second reading of a file with suspects, row by row in file order.
pub struct Suspects {
    repeated: HashSet<u64>,
    /// Managers that are neither rows of the file nor users of the company.
    unknown_managers: HashSet<u64>,
    /// Managers outside the file not remembered with their address: looked up per row.
    look_up_by_row: HashSet<u64>,
    /// Where each repeated address was first seen.
    first_row: HashMap<EmailKey, u32>,
    duplicates_reported: HashSet<u32>,
}

impl Suspects {
    /// Of the managers `FileRules::end` gave to look up, these are users of the company.
    pub fn found_in_company(&mut self, company_users: &HashSet<Email>) {
        for user in company_users {
            self.unknown_managers.remove(&EmailKey::of(user).short());
        }
    }

    /// Nothing to look at: the file needs no second reading.
    pub fn is_empty(&self) -> bool {
        self.repeated.is_empty() && self.unknown_managers.is_empty() && self.look_up_by_row.is_empty()
    }

    /// Row `number`'s issues (every occurrence of a repeated address is reported, each with
    /// the row it repeats; an unknown manager), and its manager when it is still to be looked
    /// up among the company's users (`unknown_manager` if it is not one).
    pub fn add<'m>(
        &mut self,
        number: u64,
        email: Option<&Email>,
        manager: Option<&'m Email>,
    ) -> (Vec<Issue>, Option<&'m Email>) {
        let row = number as u32;
        let mut issues = Vec::new();
        if let Some(email) = email {
            let key = EmailKey::of(email);
            if self.repeated.contains(&key.short()) {
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
        }
        let mut look_up = None;
        if let Some(manager) = manager {
            let key = EmailKey::of(manager).short();
            if self.unknown_managers.contains(&key) {
                issues.push(unknown_manager(number, manager));
            } else if self.look_up_by_row.contains(&key) {
                look_up = Some(manager);
            }
        }
        (issues, look_up)
    }
}

/// The row's manager is neither a user of the company nor a row of the file.
pub fn unknown_manager(row: u64, manager: &Email) -> Issue {
    Issue {
        row,
        column: Some(COLUMNS[MANAGER]),
        code: IssueCode::UnknownManager,
        message: format!("{manager} is neither a user of the company nor a row of this file"),
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

    /// The two readings: duplicates (also a repeat in another case) and managers outside the
    /// file found, and a manager who is a company user not reported.
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
        let mut rules = FileRules::with_capacity(valid.len());
        for row in &valid {
            let (email, manager) = row.addresses();
            rules.add(email, manager);
        }
        let (mut suspects, outside) = rules.end();
        let outside: HashSet<String> = outside.iter().map(ToString::to_string).collect();
        assert_eq!(outside, HashSet::from(["boss@x.com".to_owned(), "ghost@x.com".to_owned()]));
        suspects.found_in_company(&HashSet::from([Email::parse("boss@x.com").unwrap()]));
        assert!(!suspects.is_empty());
        let mut found = vec![email_exists(6, &Email::parse("taken@x.com").unwrap())];
        for row in &valid {
            let (email, manager) = row.addresses();
            let (issues, look_up) = suspects.add(row.number, email, manager);
            assert_eq!(look_up, None, "every manager was remembered with its address");
            found.extend(issues);
        }
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

    /// A clean file leaves nothing to read twice: managers that are rows of the file, or
    /// users of the company once looked up.
    #[test]
    fn a_clean_file_has_no_suspects() {
        let mut rules = FileRules::default();
        let email = |i: usize| Email::parse(&format!("user{i}@x.com")).unwrap();
        let boss = Email::parse("boss@x.com").unwrap();
        for i in 0..5_000 {
            let manager = if i % 2 == 0 { boss.clone() } else { email(i / 100) };
            rules.add(Some(&email(i)), Some(&manager));
        }
        let (mut suspects, outside) = rules.end();
        assert_eq!(outside, std::slice::from_ref(&boss));
        suspects.found_in_company(&HashSet::from([boss]));
        assert!(suspects.is_empty());
    }

    /// Past the managers remembered with their address, the rest are looked up row by row.
    #[test]
    fn many_managers_are_looked_up_by_row() {
        let mut rules = FileRules::default();
        let email = |i: usize| Email::parse(&format!("m{i}@x.com")).unwrap();
        let rows = MANAGERS_KEPT + 10;
        for i in 0..rows {
            rules.add(None, Some(&email(i)));
        }
        let (mut suspects, outside) = rules.end();
        assert_eq!(outside.len(), MANAGERS_KEPT);
        suspects.found_in_company(&outside.into_iter().collect());
        let by_row: Vec<u64> = (0..rows)
            .filter(|&i| suspects.add(i as u64, None, Some(&email(i))).1.is_some())
            .map(|i| i as u64)
            .collect();
        assert_eq!(by_row.len(), 10);
    }
}
