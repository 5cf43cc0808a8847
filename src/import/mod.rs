//! The CSV import of users.
//!
//! - `parse` reads what Excel and LibreOffice write, one row at a time;
//! - `validate` holds the rules: each row on its own, then the file as a whole;
//! - `file` keeps the upload in the database (chunks) until its job ends;
//! - `states` is a job's state machine (every status change, the lease, the announcements);
//! - `job` is what people do with jobs (start, commit, cancel, look), `runner` runs them in the
//!   background (validation, then the write; resume after a crash, cancellation flags), `check`
//!   is the validation pass, `write` the all-or-nothing write, `progress` what subscribers see
//!   while a job runs and `report` how a running job publishes it (also to webhooks);
//! - `error_log` gives the rows back with an `Errors` column;
//! - `terminal` is `portal import`, the same pipeline with a progress bar.
//!
//! Memory stays flat whatever the file's size: the file streams from its chunks through the
//! parser in batches, and the file rules remember each address in 16 bytes.

pub mod check;
pub mod error_log;
pub mod export;
pub mod file;
pub mod job;
pub mod parse;
pub mod progress;
pub mod report;
pub mod runner;
pub mod states;
pub mod terminal;
pub mod validate;
pub mod welcome;
pub mod write;

/// What imports need beyond the rules' context: this process's running jobs (so that a
/// cancellation reaches them at once), the progress channel (to this process's subscribers
/// and, on PostgreSQL, everyone's), and the notification engine that sends the welcome emails
/// (`welcome`). One per process; it derefs to `Services`.
#[derive(Clone)]
pub struct Imports {
    pub services: crate::domain::Services,
    pub progress: progress::ProgressHub,
    pub running: runner::RunningImports,
    pub notifier: crate::notify::worker::Worker,
}

impl Imports {
    pub fn new(services: crate::domain::Services, notifier: crate::notify::worker::Worker) -> Imports {
        Imports { services, progress: Default::default(), running: Default::default(), notifier }
    }
}

impl std::ops::Deref for Imports {
    type Target = crate::domain::Services;
    fn deref(&self) -> &crate::domain::Services {
        &self.services
    }
}

/// What the uploader chose.
#[derive(Clone, Debug)]
pub struct Options {
    pub file_name: Option<String>,
    pub dry_run: bool,
    pub send_welcome_emails: bool,
    /// The sub-accounts every imported user is limited to (none: the whole company).
    pub sub_account_ids: Vec<crate::types::SubAccountId>,
}

/// The template's columns, in order: the only header an import accepts (any order, any case).
pub const COLUMNS: [&str; 7] =
    ["Given Name", "Surname", "Email address", "Job title", "Manager's email address", "Country", "Is Active"];

/// The template: the header and two example rows, UTF-8 with a BOM so Excel opens it right.
pub fn template() -> String {
    let mut text = String::from("\u{feff}");
    text.push_str(&COLUMNS.join(","));
    text.push_str("\r\nAna,Pérez,ana.perez@example.com,Buyer,maria.gomez@example.com,CO,1\r\n");
    text.push_str("Luis,Núñez,luis.nunez@example.com,Analyst,ana.perez@example.com,Spain,0\r\n");
    text
}
