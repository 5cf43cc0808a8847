//! SCIM filters (RFC 7644 §3.4.2.2): `userName eq "a@b.c" and not (title pr)`,
//! `emails[type eq "work" and value co "@example.com"]`. Parsed into a `Filter`, which is
//! either turned into SQL over the users table (listings) or judged against a resource's JSON
//! (PATCH paths such as `members[value eq "…"]`).
//!
//! Bounded before any recursive work: at most `MAX_FILTER_BYTES` of text and
//! `MAX_DEPTH` levels of nesting, so a hostile filter cannot exhaust the stack.

use serde_json::Value;

pub const MAX_FILTER_BYTES: usize = 4096;
const MAX_DEPTH: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare {
        path: String,
        op: Op,
        value: Value,
    },
    Present(String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter` (whose paths are
    /// relative to the value).
    ValuePath {
        attr: String,
        filter: Box<Filter>,
    },
}

/// What is wrong with a filter, for the SCIM error's `detail` (`scimType: invalidFilter`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:user:";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:group:";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";

/// An attribute path in lower case without the core schema's URN (`name.givenname`); the
/// enterprise extension's attributes keep a short prefix (`enterprise:manager.value`).
pub fn normalize_path(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    for core in [CORE_USER, CORE_GROUP] {
        if let Some(rest) = lower.strip_prefix(core) {
            return rest.to_owned();
        }
    }
    if let Some(rest) = lower.strip_prefix(ENTERPRISE_USER) {
        return format!("enterprise{rest}");
    }
    lower
}

pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(FilterError(format!("the filter is longer than {MAX_FILTER_BYTES} bytes")));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, at: 0 };
    let filter = parser.or(0)?;
    match parser.tokens.get(parser.at) {
        None => Ok(filter),
        Some(token) => Err(FilterError(format!("unexpected {} after the filter", token.describe()))),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Literal(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(word) => format!("`{word}`"),
            Token::Literal(value) => format!("`{value}`"),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::OpenBracket => "`[`".into(),
            Token::CloseBracket => "`]`".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: find its closing quote (skipping escapes), then let serde read it.
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (i, c) in chars.by_ref() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| FilterError("a string is not closed".into()))?;
                let literal: Value = serde_json::from_str(&text[start..=end])
                    .map_err(|_| FilterError("a string has a bad escape".into()))?;
                tokens.push(Token::Literal(literal));
            }
            _ => {
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                let word = &text[start..end];
                tokens.push(match word.to_ascii_lowercase().as_str() {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    "null" => Token::Literal(Value::Null),
                    _ => match word.parse::<f64>() {
                        Ok(number) if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                            Token::Literal(serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number))
                        }
                        _ => Token::Word(word.to_owned()),
                    },
                });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(FilterError(format!("the filter nests deeper than {MAX_DEPTH} levels")));
        }
        let mut left = self.and(depth)?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(FilterError("a `(` is not closed".into())),
                }
            }
            Some(Token::Word(path)) => self.attribute(path, depth),
            Some(other) => Err(FilterError(format!("expected an attribute, found {}", other.describe()))),
            None => Err(FilterError("the filter ends where an attribute was expected".into())),
        }
    }

    fn attribute(&mut self, path: String, depth: usize) -> Result<Filter, FilterError> {
        let path = normalize_path(&path);
        if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
            self.at += 1;
            let filter = self.or(depth + 1)?;
            return match self.next() {
                Some(Token::CloseBracket) => Ok(Filter::ValuePath { attr: path, filter: Box::new(filter) }),
                _ => Err(FilterError("a `[` is not closed".into())),
            };
        }
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => {
                return Err(FilterError(format!(
                    "`{path}` needs an operator (eq, ne, co, sw, ew, pr, gt, ge, lt, le)"
                )));
            }
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(FilterError(format!("`{other}` is not an operator"))),
        };
        match self.next() {
            Some(Token::Literal(value)) => Ok(Filter::Compare { path, op, value }),
            _ => Err(FilterError(format!("`{path}` needs a value (a quoted string, a number, true, false or null)"))),
        }
    }
}

/// Whether `resource` (a JSON object) matches: strings compare without regard to case, as SCIM
/// says for attributes that are not `caseExact` (the ids compared this way are UUIDs).
pub fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::Present(path) => {
            values_at(resource, path).iter().any(|v| !v.is_null() && **v != Value::String(String::new()))
        }
        Filter::Compare { path, op, value } => values_at(resource, path).iter().any(|found| compare(found, *op, value)),
        Filter::ValuePath { attr, filter } => values_at(resource, attr).iter().any(|item| match item {
            Value::Array(items) => items.iter().any(|i| matches(filter, i)),
            item => matches(filter, item),
        }),
    }
}

/// The values at a dotted path, looked up without regard to case; through arrays.
fn values_at<'v>(resource: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![resource];
    for part in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for item in items {
                if let Some(object) = item.as_object()
                    && let Some((_, found)) = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(part))
                {
                    next.push(found);
                }
            }
        }
        current = next;
    }
    current
}

fn compare(found: &Value, op: Op, wanted: &Value) -> bool {
    match (found, wanted) {
        (Value::String(found), Value::String(wanted)) => {
            let (found, wanted) = (found.to_lowercase(), wanted.to_lowercase());
            match op {
                Op::Eq => found == wanted,
                Op::Ne => found != wanted,
                Op::Co => found.contains(&wanted),
                Op::Sw => found.starts_with(&wanted),
                Op::Ew => found.ends_with(&wanted),
                Op::Gt => found > wanted,
                Op::Ge => found >= wanted,
                Op::Lt => found < wanted,
                Op::Le => found <= wanted,
            }
        }
        (found, wanted) => match op {
            Op::Eq => found == wanted,
            Op::Ne => found != wanted,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_precedence_value_paths_and_urns() {
        let filter = parse(r#"userName eq "A@B.c" or not (title pr) and emails[type eq "work"]"#).unwrap();
        let Filter::Or(left, right) = filter else { panic!("or binds last") };
        assert_eq!(*left, Filter::Compare { path: "username".into(), op: Op::Eq, value: json!("A@B.c") });
        assert!(matches!(*right, Filter::And(..)));
        let urn = parse("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw \"Jo\"").unwrap();
        assert!(matches!(urn, Filter::Compare { ref path, .. } if path == "name.givenname"));
        assert!(matches!(parse("active eq True").unwrap(), Filter::Compare { value: Value::Bool(true), .. }));
    }

    #[test]
    fn refuses_what_is_not_a_filter_with_a_reason() {
        for (text, says) in [
            ("userName", "needs an operator"),
            ("userName eq", "needs a value"),
            ("userName xx \"a\"", "not an operator"),
            ("(userName pr", "not closed"),
            ("userName eq \"a", "not closed"),
            ("userName pr extra", "unexpected"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.0.contains(says), "{text}: {error}");
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().0.contains("deeper"));
        assert!(parse(&"a".repeat(5000)).unwrap_err().0.contains("longer"));
    }

    #[test]
    fn judges_json_resources() {
        let group = json!({"members": [{"value": "AB"}, {"value": "cd"}], "displayName": "Sales"});
        assert!(matches(&parse(r#"members[value eq "ab"]"#).unwrap(), &group));
        assert!(!matches(&parse(r#"members[value eq "zz"]"#).unwrap(), &group));
        assert!(matches(&parse(r#"displayName sw "sa" and members pr"#).unwrap(), &group));
    }
}
