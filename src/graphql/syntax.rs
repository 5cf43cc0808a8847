//! Syntax errors worded as graphql-js words them ("Syntax Error: Expected Name, found <EOF>."),
//! which is what GraphiQL users and every client's documentation show, instead of the parser's
//! drawing of the line with the grammar rule it wanted.

use async_graphql::parser::Error as ParseError;
use async_graphql::{Pos, ServerError};

use super::error::ErrorCode;

pub fn syntax_error(query: &str, error: &ParseError) -> ServerError {
    let (message, position) = match error {
        ParseError::Syntax { message, start, .. } => (describe(query, message, *start), Some(*start)),
        other => (format!("{}.", capitalised(other.to_string().trim_end_matches('.'))), other.positions().next()),
    };
    let mut error = ServerError::new(message, position);
    error.extensions.get_or_insert_with(Default::default).set("code", ErrorCode::ValidationFailed.as_str());
    error
}

/// pest's message ends with `= expected <rule>, <rule>, or <rule>`; what the parser wanted
/// (a name, an opening brace…) is said as graphql-js says it, and what it found is the token
/// at the error's position.
fn describe(query: &str, pest_message: &str, at: Pos) -> String {
    let found = token_at(query, at);
    let wanted = pest_message
        .lines()
        .find_map(|line| line.trim().strip_prefix("= expected "))
        .and_then(|rules| rules.split([',', ' ']).find_map(expected_token));
    match (wanted, found) {
        (_, Token::Unknown(c)) => format!("Syntax Error: Unexpected character: \"{c}\"."),
        (Some(wanted), found) => format!("Syntax Error: Expected {wanted}, found {}.", found.describe()),
        (None, found) => format!("Syntax Error: Unexpected {}.", found.describe()),
    }
}

/// The token a grammar rule starts with, where graphql-js names one ("Expected Name").
fn expected_token(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "name" | "selection" | "field" | "alias" | "type_" | "named_type" | "fragment_spread" => "Name",
        "selection_set" => "\"{\"",
        "variable" => "\"$\"",
        "type_condition" => "\"on\"",
        _ => return None,
    })
}

enum Token<'a> {
    Eof,
    Punctuator(&'a str),
    Name(&'a str),
    Number(&'a str),
    String,
    Unknown(char),
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self {
            Token::Eof => "<EOF>".into(),
            Token::Punctuator(p) => format!("\"{p}\""),
            Token::Name(name) => format!("Name \"{name}\""),
            Token::Number(number) if number.contains(['.', 'e', 'E']) => format!("Float \"{number}\""),
            Token::Number(number) => format!("Int \"{number}\""),
            Token::String => "String".into(),
            Token::Unknown(c) => format!("\"{c}\""),
        }
    }
}

/// The token that starts at a 1-based line and column (columns count characters).
fn token_at(query: &str, at: Pos) -> Token<'_> {
    let Some(line) = query.split_inclusive('\n').nth(at.line.saturating_sub(1)) else { return Token::Eof };
    let Some((offset, _)) = line.char_indices().nth(at.column.saturating_sub(1)) else {
        return if query.ends_with(line) { Token::Eof } else { Token::Punctuator("\\n") };
    };
    let rest = &line[offset..];
    let Some(first) = rest.chars().next() else { return Token::Eof };
    let run = |keep: fn(char) -> bool| &rest[..rest.find(|c: char| !keep(c)).unwrap_or(rest.len())];
    match first {
        '.' if rest.starts_with("...") => Token::Punctuator("..."),
        '!' | '$' | '&' | '(' | ')' | ':' | '=' | '@' | '[' | ']' | '{' | '|' | '}' => {
            Token::Punctuator(&rest[..first.len_utf8()])
        }
        '_' | 'a'..='z' | 'A'..='Z' => Token::Name(run(|c| c == '_' || c.is_ascii_alphanumeric())),
        '-' | '0'..='9' => Token::Number(run(|c| c.is_ascii_digit() || "-+.eE".contains(c))),
        '"' => Token::String,
        c if c.is_whitespace() => Token::Eof,
        c => Token::Unknown(c),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(query: &str) -> String {
        let error = async_graphql::parser::parse_query(query).unwrap_err();
        syntax_error(query, &error).message
    }

    #[test]
    fn messages_read_like_graphql_js() {
        assert_eq!(message("{"), "Syntax Error: Expected Name, found <EOF>.");
        assert_eq!(message("{ viewer { id }"), "Syntax Error: Expected Name, found <EOF>.");
        assert_eq!(message("{ a b: }"), "Syntax Error: Expected Name, found \"}\".");
        assert_eq!(message("query { viewer(id: ) { id } }"), "Syntax Error: Unexpected \")\".");
        assert_eq!(message("qery { a }"), "Syntax Error: Unexpected Name \"qery\".");
        assert_eq!(message("}"), "Syntax Error: Unexpected \"}\".");
        assert_eq!(message("{ a(x: %) }"), "Syntax Error: Unexpected character: \"%\".");
        assert_eq!(message("{ a }\n{ b }"), "Document contains multiple operations.");
    }
}
