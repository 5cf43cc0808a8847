//! Reading an uploaded file: UTF-8 with or without BOM, CRLF or LF, `,` or `;` (detected from
//! the header), quoted fields with separators, quotes and line breaks inside, blank lines,
//! surrounding spaces. Rows are read one at a time: a file of a million rows is never held.

use std::io::{BufRead, BufReader, Read};

use super::COLUMNS;
use super::export::EXTRA_COLUMNS as EXPORT_ONLY;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("The file is empty")]
    Empty,
    #[error("The file is not UTF-8 text: in Excel, save it as \"CSV UTF-8 (Comma delimited)\"")]
    NotUtf8,
    #[error("The header does not match the template: {0}")]
    Header(String),
    #[error("Line {line}: {message}")]
    Malformed { line: u64, message: String },
    /// The cause (database or disk text) goes to the log, never to the client.
    #[error("The stored file could not be read (the server log says why)")]
    Unreadable(String),
}

fn read_error(error: csv::Error) -> FileError {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => FileError::NotUtf8,
        csv::ErrorKind::Io(io) => {
            tracing::error!(error = %io, "reading a stored import file");
            FileError::Unreadable(io.to_string())
        }
        _ => FileError::Malformed { line: error.position().map_or(0, |p| p.line()), message: error.to_string() },
    }
}

/// A data row: its fields in template order, trimmed, the cells exactly as uploaded, and where
/// it was in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// 1 is the header; the first data row is 2 (what a spreadsheet shows).
    pub number: u64,
    pub fields: [String; 7],
    /// The row exactly as uploaded (for the error log).
    pub raw: Vec<String>,
}

pub struct Rows<R: Read> {
    reader: csv::Reader<BufReader<R>>,
    /// For each template column, its position in the file.
    positions: [usize; 7],
    pub delimiter: u8,
    pub header: Vec<String>,
}

/// `;` when the header has more semicolons than commas outside quotes (Excel in many locales).
fn detect_delimiter(first_line: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for byte in first_line {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

fn normalize(name: &str) -> String {
    name.trim().to_lowercase().replace('’', "'")
}

pub fn rows<R: Read>(input: R) -> Result<Rows<R>, FileError> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let peek = input.fill_buf().map_err(|error| {
        tracing::error!(%error, "reading a stored import file");
        FileError::Unreadable(error.to_string())
    })?;
    if peek.is_empty() {
        return Err(FileError::Empty);
    }
    let bom = peek.starts_with(b"\xEF\xBB\xBF");
    let start = if bom { 3 } else { 0 };
    let line_end = peek[start..].iter().position(|b| *b == b'\n').map_or(peek.len(), |p| p + start);
    let delimiter = detect_delimiter(&peek[start..line_end]);
    if bom {
        input.consume(3);
    }
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).flexible(true).from_reader(input);
    let header: Vec<String> = match reader.headers() {
        Ok(header) => header.iter().map(str::to_owned).collect(),
        Err(error) => return Err(read_error(error)),
    };
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(FileError::Empty);
    }
    let normalized: Vec<String> = header.iter().map(|h| normalize(h)).collect();
    let mut positions = [0usize; 7];
    let mut missing = Vec::new();
    for (i, column) in COLUMNS.iter().enumerate() {
        match normalized.iter().position(|h| *h == normalize(column)) {
            Some(position) => positions[i] = position,
            None => missing.push(*column),
        }
    }
    let unknown: Vec<&str> = header
        .iter()
        .zip(&normalized)
        // The export's extra columns (status, role, dates…) are there to read: skipped, so an
        // exported file imports as it is.
        .filter(|(_, n)| !n.is_empty() && !COLUMNS.iter().chain(&EXPORT_ONLY).any(|c| normalize(c) == **n))
        .map(|(h, _)| h.as_str())
        .collect();
    if !missing.is_empty() || !unknown.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            problems.push(format!("unknown {}", unknown.join(", ")));
        }
        return Err(FileError::Header(format!("{} (expected: {})", problems.join("; "), COLUMNS.join(", "))));
    }
    Ok(Rows { reader, positions, delimiter, header })
}

impl<R: Read> Rows<R> {
    /// How many data rows follow, without building them: a quick first pass, so that progress
    /// can say "row n of N".
    pub fn count_rows(mut self) -> Result<u64, FileError> {
        let mut record = csv::ByteRecord::new();
        let mut count = 0;
        loop {
            match self.reader.read_byte_record(&mut record) {
                Ok(false) => return Ok(count),
                Ok(true) if record.iter().all(|field| field.trim_ascii().is_empty()) => {}
                Ok(true) => count += 1,
                Err(error) => return Err(read_error(error)),
            }
        }
    }
}

impl<R: Read> Iterator for Rows<R> {
    type Item = Result<Row, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut record = csv::StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => return None,
                Ok(true) if record.iter().all(|field| field.trim().is_empty()) => continue, // blank lines
                Ok(true) => {
                    // The spreadsheet row: the header is record 0 and row 1.
                    let number = record.position().map_or(0, |p| p.record() + 1);
                    // Trimmed to validate; `raw` keeps every cell as uploaded, for the error log.
                    let fields = self.positions.map(|p| record.get(p).unwrap_or_default().trim().to_owned());
                    return Some(Ok(Row { number, fields, raw: record.iter().map(str::to_owned).collect() }));
                }
                Err(error) => return Some(Err(read_error(error))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Result<Vec<Row>, FileError> {
        rows(input)?.collect()
    }

    #[test]
    fn reads_what_excel_writes() {
        // BOM, `;`, CRLF, columns in another order and case, a quoted `;`, a non-ASCII name.
        let file = "\u{feff}surname;GIVEN NAME; Email address ;Job title;Manager's email address;Country;Is Active\r\n\
                    \"Pérez; Gómez\";José;jose@x.com;\"Buyer, senior\";boss@x.com;CO;1\r\n\r\n";
        let rows = all(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].number, 2);
        assert_eq!(rows[0].fields[0], "José");
        assert_eq!(rows[0].fields[1], "Pérez; Gómez");
        assert_eq!(rows[0].fields[3], "Buyer, senior");
    }

    #[test]
    fn cells_are_trimmed_to_validate_and_kept_as_uploaded() {
        let file = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\n\
                    \u{20}Ana\u{20}\u{20},\" Ruiz \",ana@x.com,Buyer,b@x.com,CO,1\n  ,  \n";
        let rows = all(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1, "a row of spaces is blank");
        assert_eq!((rows[0].fields[0].as_str(), rows[0].fields[1].as_str()), ("Ana", "Ruiz"));
        assert_eq!((rows[0].raw[0].as_str(), rows[0].raw[1].as_str()), (" Ana  ", " Ruiz "));
    }

    #[test]
    fn quoted_line_breaks_and_quotes() {
        let file = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\n\
                    Ana,\"O\"\"Neil\",ana@x.com,\"Head of\nbuying\",b@x.com,,0\n";
        let rows = all(file.as_bytes()).unwrap();
        assert_eq!(rows[0].fields[1], "O\"Neil");
        assert_eq!(rows[0].fields[3], "Head of\nbuying");
        assert_eq!(rows[0].fields[5], "");
    }

    #[test]
    fn refuses_bad_files_with_one_clear_error() {
        assert_eq!(all(b"").unwrap_err(), FileError::Empty);
        let latin1 = b"Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\nJos\xe9,P,j@x.com,B,m@x.com,,1\n";
        assert_eq!(all(latin1).unwrap_err(), FileError::NotUtf8);
        let error =
            all(b"Given Name,Surname,Email,Job title,Manager's email address,Country,Is Active,Age\n").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("missing Email address") && message.contains("unknown Email, Age"), "{message}");
        let quoted_break = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\n\
                            A,\"B\nC\",a@x.com,J,m@x.com,,1\n\n\nD,E,d@x.com,J,m@x.com,,1\n";
        assert_eq!(rows(quoted_break.as_bytes()).unwrap().count_rows().unwrap(), 2);
        let header_only = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n";
        assert_eq!(all(header_only.as_bytes()).unwrap(), vec![]);
    }

    #[test]
    fn the_template_reads_back() {
        let rows = all(super::super::template().as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].fields[5], "Spain");
    }
}
