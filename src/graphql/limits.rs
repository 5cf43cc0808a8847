//! Bounds on what a GraphQL request may cost, checked before anything walks it recursively.
//!
//! async-graphql's parser (pest) recurses once per nested bracket, and its own depth and
//! complexity checks walk every path through fragment spreads without memoising, so a 4 KB
//! document can overflow a worker's stack or keep a core busy for minutes. Here, in order:
//! 1. the text: size, then one flat pass over its characters for nesting and tokens;
//! 2. only then the parse (its recursion is bounded by step 1);
//! 3. the document: each fragment is measured once (fields, depth, aliases), spreads are
//!    resolved over the fragment graph without recursion, so `...G1 ...G1` thirty levels deep
//!    costs thirty steps and is refused for what it would expand to;
//! 4. the variables: how many values, how long a list.
//!
//! The parsed document is handed on to async-graphql, which does not parse it again.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError, ServerResult, Value};
use std::collections::HashMap;

use super::error::ErrorCode;

/// The limits; `depth` comes from `PORTAL_GRAPHQL_MAX_DEPTH`, the rest are fixed (see
/// docs/security.md for why each is where it is).
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Field nesting, not counting introspection (GraphiQL's own query is 13 levels deep).
    pub depth: usize,
    /// Bytes of the document text.
    pub document_bytes: usize,
    /// Brackets `{ [ (` open at once, anywhere in the text (values included).
    pub nesting: usize,
    /// Names, numbers, strings and punctuators in the text.
    pub tokens: usize,
    /// Fields once every fragment spread is expanded (introspection included).
    pub expanded_fields: usize,
    /// Aliased fields once expanded (each alias can run a resolver again).
    pub aliases: usize,
    /// Values in the variables, all levels together.
    pub variable_values: usize,
    /// Items of one list, in the variables or written in the document.
    pub list_items: usize,
    /// Bytes of one string in the variables (the document's are bounded by its size).
    pub string_bytes: usize,
}

impl QueryLimits {
    pub fn with_depth(depth: usize) -> QueryLimits {
        QueryLimits {
            depth,
            document_bytes: 64 * 1024,
            nesting: 64,
            tokens: 20_000,
            expanded_fields: 5_000,
            aliases: 50,
            variable_values: 20_000,
            list_items: 1_000,
            string_bytes: 128 * 1024,
        }
    }
}

impl QueryLimits {
    /// The whole request, in the order above; the parsed document stays in the request
    /// (execution does not parse it again). Run first by `extensions::PortalExtension`.
    pub fn check_request(&self, request: &mut Request) -> ServerResult<()> {
        self.check_text(&request.query)?;
        // The HTTP endpoint may have parsed it already (to learn the operation's type).
        match request.parsed_query() {
            Ok(document) => self.check_document(document)?,
            Err(_) => {
                let error = async_graphql::parser::parse_query(&request.query).err();
                let message = error.map(|error| super::syntax::syntax_error(&request.query, &error));
                return Err(message.unwrap_or_else(|| refused("the document cannot be parsed".into())));
            }
        }
        self.check_variables(&request.variables)
    }
}

/// No input of ours holds a NUL (PostgreSQL cannot store one in text): refused for the whole
/// request, before any resolver could pass one to the database.
fn nul() -> ServerError {
    refused("A string in the request contains a NUL character (\\u0000)".into())
}

fn refused(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", ErrorCode::ValidationFailed.as_str());
    error
}

impl QueryLimits {
    /// One pass over the characters: strings, block strings and comments are skipped as the
    /// lexer would, so a `{` inside a string does not count. Items of a list written in the
    /// document (`[1, 2, …]`) are counted here too, since the parser would build them all.
    pub fn check_text(&self, query: &str) -> ServerResult<()> {
        if query.len() > self.document_bytes {
            return Err(refused(format!(
                "The query is {} bytes long, at most {} allowed",
                query.len(),
                self.document_bytes
            )));
        }
        let bytes = query.as_bytes();
        // The brackets open at this point, each with the items seen inside it.
        let mut open: Vec<(u8, usize)> = Vec::new();
        let mut tokens = 0usize;
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            match bytes[i] {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                    i += 1;
                    continue;
                }
                b'#' => {
                    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                        i += 1;
                    }
                    continue;
                }
                b'}' | b']' | b')' => {
                    open.pop();
                    i += 1;
                }
                b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                    }
                    i += 3;
                }
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        if bytes[i..].starts_with(b"\\u0000") || bytes[i..].starts_with(b"\\u{0}") {
                            return Err(nul());
                        }
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                0 => return Err(nul()),
                b'{' | b'[' | b'(' => i += 1,
                byte if byte.is_ascii_alphanumeric() || b"_-$".contains(&byte) => {
                    // A name, a number or a variable: one token, however long.
                    i += 1;
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || b"_.+-".contains(&bytes[i])) {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
            tokens += 1;
            if tokens > self.tokens {
                return Err(refused(format!("The query has more than {} tokens", self.tokens)));
            }
            let byte = bytes[start];
            if matches!(byte, b'}' | b']' | b')') {
                continue;
            }
            if let Some((b'[', items)) = open.last_mut() {
                if byte != b':' {
                    *items += 1;
                }
                if *items > self.list_items {
                    return Err(refused(format!("A list in the query has more than {} items", self.list_items)));
                }
            }
            if matches!(byte, b'{' | b'[' | b'(') {
                open.push((byte, 0));
                if open.len() > self.nesting {
                    return Err(refused(format!("The query nests brackets more than {} levels deep", self.nesting)));
                }
            }
        }
        Ok(())
    }

    /// Measures the operations as if every fragment spread were expanded, each fragment once.
    pub fn check_document(&self, document: &ExecutableDocument) -> ServerResult<()> {
        let fragments: HashMap<&str, Shape> = document
            .fragments
            .iter()
            .map(|(name, fragment)| (name.as_str(), Shape::of(&fragment.node.selection_set.node)))
            .collect();
        let expanded = expand(&fragments)?;
        for (_, operation) in document.operations.iter() {
            let shape = Shape::of(&operation.node.selection_set.node);
            let size = shape.resolve(&expanded);
            if size.fields > self.expanded_fields {
                return Err(refused(format!(
                    "The query expands to more than {} fields once its fragments are spread",
                    self.expanded_fields
                )));
            }
            if size.aliases > self.aliases {
                return Err(refused(format!("The query has more than {} aliased fields", self.aliases)));
            }
            if size.depth > self.depth {
                return Err(refused(format!(
                    "Query is nested too deeply: {} levels, at most {} allowed",
                    size.depth, self.depth
                )));
            }
        }
        Ok(())
    }

    /// Counts with an explicit stack: variables nest at most as deep as serde_json allows.
    pub fn check_variables(&self, variables: &async_graphql::Variables) -> ServerResult<()> {
        let mut pending: Vec<&Value> = variables.values().collect();
        let mut seen = 0usize;
        while let Some(value) = pending.pop() {
            seen += 1;
            if seen > self.variable_values {
                return Err(refused(format!("The variables hold more than {} values", self.variable_values)));
            }
            match value {
                Value::List(items) => {
                    if items.len() > self.list_items {
                        return Err(refused(format!(
                            "A list in the variables has {} items, at most {} allowed",
                            items.len(),
                            self.list_items
                        )));
                    }
                    pending.extend(items);
                }
                Value::Object(fields) => pending.extend(fields.values()),
                Value::String(text) if text.len() > self.string_bytes => {
                    return Err(refused(format!(
                        "A string in the variables is {} bytes long, at most {} allowed",
                        text.len(),
                        self.string_bytes
                    )));
                }
                Value::String(text) if crate::domain::text::has_nul(text) => return Err(nul()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a selection set costs without its spreads, and the spreads it makes.
#[derive(Default)]
struct Shape<'a> {
    own: Size,
    /// (fragment name, depth at which it is spread, whether under introspection)
    spreads: Vec<(&'a str, usize, bool)>,
}

#[derive(Clone, Copy, Default, Debug)]
struct Size {
    fields: usize,
    aliases: usize,
    depth: usize,
}

impl<'a> Shape<'a> {
    /// Recursion here follows the document's own nesting, which `check_text` has bounded.
    fn of(set: &'a SelectionSet) -> Shape<'a> {
        let mut shape = Shape::default();
        shape.walk(set, 0, false);
        shape
    }

    fn walk(&mut self, set: &'a SelectionSet, depth: usize, introspection: bool) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let introspection = introspection || field.name.node.starts_with("__");
                    let depth = if introspection { depth } else { depth + 1 };
                    self.own.fields += 1;
                    self.own.aliases += usize::from(field.alias.is_some());
                    self.own.depth = self.own.depth.max(depth);
                    self.walk(&field.selection_set.node, depth, introspection);
                }
                Selection::InlineFragment(fragment) => {
                    self.walk(&fragment.node.selection_set.node, depth, introspection)
                }
                Selection::FragmentSpread(spread) => {
                    self.spreads.push((spread.node.fragment_name.node.as_str(), depth, introspection))
                }
            }
        }
    }

    /// The size once spreads are replaced by their fragments' (already expanded) sizes.
    /// Fragments that do not exist are left to validation, which names them.
    fn resolve(&self, expanded: &HashMap<&str, Size>) -> Size {
        let mut size = self.own;
        for (name, at, introspection) in &self.spreads {
            if let Some(fragment) = expanded.get(name) {
                size.fields = size.fields.saturating_add(fragment.fields);
                size.aliases = size.aliases.saturating_add(fragment.aliases);
                if !introspection {
                    size.depth = size.depth.max(at + fragment.depth);
                }
            }
        }
        size
    }
}

/// Every fragment's expanded size, in dependency order (a fragment after those it spreads),
/// without recursion; a cycle is refused here (validation would too, after walking it).
fn expand<'a>(fragments: &HashMap<&'a str, Shape<'a>>) -> ServerResult<HashMap<&'a str, Size>> {
    let mut expanded: HashMap<&str, Size> = HashMap::with_capacity(fragments.len());
    let mut remaining: Vec<&str> = fragments.keys().copied().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|name| {
            let shape = &fragments[name];
            let ready = shape.spreads.iter().all(|(s, ..)| expanded.contains_key(s) || !fragments.contains_key(s));
            if ready {
                let size = shape.resolve(&expanded);
                expanded.insert(name, size);
            }
            !ready
        });
        if remaining.len() == before {
            return Err(refused(format!("Fragment \"{}\" spreads itself, directly or through others", remaining[0])));
        }
    }
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), String> {
        let limits = QueryLimits::with_depth(10);
        limits.check_text(query).map_err(|e| e.message.clone())?;
        let document = async_graphql::parser::parse_query(query).map_err(|e| e.to_string())?;
        limits.check_document(&document).map_err(|e| e.message)
    }

    #[test]
    fn nested_values_are_refused_before_parsing() {
        let deep = format!("{{ countries(x: {}1{}) {{ code }} }}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(check(&deep).unwrap_err(), "The query nests brackets more than 64 levels deep");
        let objects = format!("{{ countries(x: {}1{}) {{ code }} }}", "{a:".repeat(5000), "}".repeat(5000));
        assert!(check(&objects).unwrap_err().contains("nests brackets"));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let query = format!(
            "# {}\n{{ countries {{ code }} a: passwordPolicy {{ minLength }} }} # \"\"\"{}\n",
            "{".repeat(100),
            "[".repeat(100)
        );
        assert_eq!(check(&query), Ok(()));
        let strings =
            format!("{{ countries(s: \"{}\", b: \"\"\"{}\"\"\") {{ code }} }}", "{".repeat(100), "[".repeat(100));
        assert_eq!(check(&strings), Ok(()));
    }

    #[test]
    fn fragment_bombs_are_measured_without_expanding_them() {
        let mut query = String::from("{ viewer { ...G0 } }\n");
        for level in 0..40 {
            query.push_str(&format!("fragment G{level} on User {{ id ...G{next} ...G{next} }}\n", next = level + 1));
        }
        query.push_str("fragment G40 on User { id }\n");
        let started = std::time::Instant::now();
        let refused = check(&query).unwrap_err();
        assert!(refused.contains("expands to more than 5000 fields"), "{refused}");
        // Not a timing assertion of the suite's speed: 2^40 paths would never finish at all.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn fragment_cycles_and_depth_through_fragments() {
        let cycle = "{ viewer { ...A } } fragment A on User { id ...B } fragment B on User { ...A }";
        assert!(check(cycle).unwrap_err().contains("spreads itself"));
        let deep = format!("{{ ...A }} fragment A on Query {{ {}id{} }}", "viewer { ".repeat(11), " }".repeat(11));
        assert_eq!(check(&deep).unwrap_err(), "Query is nested too deeply: 12 levels, at most 10 allowed");
    }

    #[test]
    fn aliases_tokens_and_size_are_bounded() {
        let aliases: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
        assert!(check(&format!("{{ {aliases} }}")).unwrap_err().contains("aliased fields"));
        let words = "__typename ".repeat(25_000);
        assert!(check(&format!("{{ {words} }}")).unwrap_err().contains("bytes long"));
        let mut limits = QueryLimits::with_depth(10);
        limits.document_bytes = usize::MAX;
        assert!(limits.check_text(&format!("{{ {words} }}")).unwrap_err().message.contains("tokens"));
    }

    #[test]
    fn introspection_keeps_working() {
        // The shape of GraphiQL's query: deep through `ofType`, exempt from the depth limit.
        let type_ref =
            format!("fragment TypeRef on __Type {{ {}kind{} }}", "kind name ofType { ".repeat(8), " }".repeat(8));
        let query = format!(
            "query IntrospectionQuery {{ __schema {{ types {{ ...FullType }} }} }}
             fragment FullType on __Type {{ kind name fields(includeDeprecated: true) {{ name args {{ ...InputValue }} type {{ ...TypeRef }} }} }}
             fragment InputValue on __InputValue {{ name type {{ ...TypeRef }} defaultValue }}
             {type_ref}"
        );
        assert_eq!(check(&query), Ok(()));
    }

    #[test]
    fn long_lists_in_the_document_are_refused() {
        let items = |n: usize| (0..n).map(|i| format!("{{code: \"c{i}\"}}")).collect::<Vec<_>>().join(", ");
        assert!(
            check(&format!("{{ countries(x: [{}]) {{ code }} }}", items(1001)))
                .unwrap_err()
                .contains("more than 1000 items")
        );
        assert_eq!(check(&format!("{{ countries(x: [{}]) {{ code }} }}", items(1000))), Ok(()));
    }

    #[test]
    fn long_lists_in_variables_are_refused() {
        let limits = QueryLimits::with_depth(10);
        let emails: Vec<serde_json::Value> = (0..1001).map(|i| format!("u{i}@example.com").into()).collect();
        let variables = async_graphql::Variables::from_json(serde_json::json!({"emails": emails}));
        assert!(limits.check_variables(&variables).unwrap_err().message.contains("1001 items"));
        let fits = async_graphql::Variables::from_json(serde_json::json!({"emails": emails[..1000]}));
        assert!(limits.check_variables(&fits).is_ok());
    }

    #[test]
    fn nul_characters_are_refused_anywhere() {
        let limits = QueryLimits::with_depth(10);
        for query in [
            "{ countries(x: \"a\\u0000b\") { code } }",
            "{ countries(x: \"a\\u{0}\") { code } }",
            "{ countries\0 { code } }",
        ] {
            assert!(check(query).unwrap_err().contains("NUL"), "{query:?}");
        }
        let nested = async_graphql::Variables::from_json(serde_json::json!({"input": {"names": ["ok", "a\u{0}b"]}}));
        assert!(limits.check_variables(&nested).unwrap_err().message.contains("NUL"));
        let huge = async_graphql::Variables::from_json(serde_json::json!({"s": "x".repeat(200_000)}));
        assert!(limits.check_variables(&huge).unwrap_err().message.contains("200000 bytes"));
    }
}
