//! The CSV import of users (seed 001, design section 4): `parse` reads what Excel and
//! LibreOffice write, streaming; `validate` applies the row and file rules. The job that runs
//! them (upload, progress, the all-or-nothing write, the error log) builds on these.

pub mod job;
pub mod parse;
pub mod validate;

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
