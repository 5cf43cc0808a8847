//! Walks of the served schema for the adversarial tests: what introspection says the
//! operations take, and literals and selections built from it.

use std::collections::HashMap;

use serde_json::{Value, json};

pub const INTROSPECTION: &str = "{ __schema { queryType { name } mutationType { name } types { name kind
    fields { name args { name type { ...T } } type { ...T } }
    inputFields { name type { ...T } } enumValues { name } } } }
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// Operations the walk does not call: they act on the caller's own session or password (the
/// walk would lock itself out), or take tokens, not IDs.
pub const SKIPPED: [&str; 6] =
    ["logout", "changePassword", "login", "resetPassword", "acceptInvitation", "requestPasswordReset"];

pub struct Schema {
    pub types: HashMap<String, Value>,
}

impl Schema {
    /// From the answer to `INTROSPECTION`.
    pub fn from_introspection(body: &Value) -> Schema {
        let types = body["data"]["__schema"]["types"].as_array().expect("an introspection answer");
        Schema { types: types.iter().map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone())).collect() }
    }

    /// The named type under NON_NULL and LIST wrappers.
    pub fn named(type_ref: &Value) -> &Value {
        let mut t = type_ref;
        while t["name"].is_null() {
            t = &t["ofType"];
        }
        t
    }

    /// A literal for a value of `type_ref` named `name`, with `id(slot)` in every ID slot;
    /// None for an Upload.
    pub fn literal(&self, name: &str, type_ref: &Value, id: &dyn Fn(&str) -> String) -> Option<String> {
        match type_ref["kind"].as_str().unwrap() {
            "NON_NULL" => self.literal(name, &type_ref["ofType"], id),
            "LIST" => Some(format!("[{}]", self.literal(name, &type_ref["ofType"], id)?)),
            "ENUM" => {
                let values = &self.types[type_ref["name"].as_str().unwrap()]["enumValues"];
                Some(values[0]["name"].as_str().unwrap().to_owned())
            }
            "INPUT_OBJECT" => {
                let input = &self.types[type_ref["name"].as_str().unwrap()];
                let mut fields = Vec::new();
                for field in input["inputFields"].as_array().unwrap() {
                    let field_name = field["name"].as_str().unwrap();
                    fields.push(format!("{field_name}: {}", self.literal(field_name, &field["type"], id)?));
                }
                Some(format!("{{{}}}", fields.join(", ")))
            }
            _ => Some(match type_ref["name"].as_str().unwrap() {
                "ID" => format!("\"{}\"", id(name)),
                "Int" => "1".into(),
                "Boolean" => "false".into(),
                "DateTime" => "\"2030-01-01T00:00:00Z\"".into(),
                "Upload" => return None,
                _ => json!(plausible_text(name)).to_string(),
            }),
        }
    }

    /// Every field without required arguments, `depth` levels deep (the last level: scalars).
    pub fn selection(&self, type_ref: &Value, depth: usize) -> String {
        let named = Schema::named(type_ref);
        let Some(object) = self.types.get(named["name"].as_str().unwrap()) else { return String::new() };
        if object["kind"] != "OBJECT" {
            return String::new();
        }
        let mut fields = vec!["__typename".to_owned()];
        for field in object["fields"].as_array().unwrap() {
            if field["args"].as_array().unwrap().iter().any(|a| a["type"]["kind"] == "NON_NULL") {
                continue;
            }
            let name = field["name"].as_str().unwrap();
            let inner = Schema::named(&field["type"]);
            let is_object = self.types.get(inner["name"].as_str().unwrap()).is_some_and(|t| t["kind"] == "OBJECT");
            match (is_object, depth) {
                (false, _) => fields.push(name.to_owned()),
                (true, 0) => {}
                (true, _) => fields.push(format!("{name} {}", self.selection(&field["type"], depth - 1))),
            }
        }
        format!("{{ {} }}", fields.join(" "))
    }
}

/// Text a field of that name would accept, so a call gets past validation to the IDs.
fn plausible_text(field: &str) -> Value {
    let field = field.to_lowercase();
    if field.contains("email") {
        return json!("walker@attacker.example");
    }
    json!(match field.as_str() {
        "url" => "https://hooks.attacker.example/walk",
        "country" => "CO",
        "locale" => "en",
        "phone" => "+57 1 555 0000",
        "events" => "user.created",
        "template" => "welcome",
        _ => "walk",
    })
}
