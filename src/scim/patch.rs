//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: the result is then read back as a
//! whole resource (the same parse as PUT), so a PATCH can never set what a PUT could not.
//! Paths and attribute names match without regard to case; `op` too (Entra sends `Replace`),
//! and a `replace` without a path may name sub-attributes with dots (`name.givenName`).

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::ScimError;
use super::filter::{self, ENTERPRISE_USER};

/// Operations in one PATCH: more than any identity provider sends for one person.
const MAX_OPERATIONS: usize = 100;
const MAX_PATH_BYTES: usize = 512;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("noTarget"), detail)
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("invalidPath"), detail)
}

/// Applies the body's `Operations` to `resource`, in order.
pub fn apply(resource: &mut Value, body: &Value) -> Result<(), ScimError> {
    let operations = field(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body has `Operations`: a list of add, replace and remove"))?;
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!("at most {MAX_OPERATIONS} operations in one PATCH")));
    }
    for operation in operations {
        let kind = match field(operation, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("add") => Kind::Add,
            Some("replace") => Kind::Replace,
            Some("remove") => Kind::Remove,
            _ => return Err(ScimError::invalid_syntax("each operation's `op` is add, replace or remove")),
        };
        let value = field(operation, "value").cloned();
        match field(operation, "path").and_then(Value::as_str) {
            Some(path) => at_path(resource, path, kind, value)?,
            None => {
                if kind == Kind::Remove {
                    return Err(no_target("a remove needs a `path`"));
                }
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::invalid_value("an operation without `path` takes an object `value`"));
                };
                for (name, value) in values {
                    if name.eq_ignore_ascii_case(ENTERPRISE_USER)
                        && let Value::Object(extension) = value
                    {
                        for (sub, value) in extension {
                            at_path(resource, &format!("{ENTERPRISE_USER}:{sub}"), kind, Some(value))?;
                        }
                    } else {
                        at_path(resource, &name, kind, Some(value))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `object[name]`, the name matched without regard to case.
pub fn field<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The key under which `object` holds `name` (its own spelling), or `name` if it has none.
fn key_in(object: &Map<String, Value>, name: &str) -> String {
    object.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_owned())
}

fn at_path(resource: &mut Value, path: &str, kind: Kind, value: Option<Value>) -> Result<(), ScimError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(invalid_path(format!("a path is longer than {MAX_PATH_BYTES} bytes")));
    }
    let lower = path.to_ascii_lowercase();
    // The enterprise extension's attributes live in their own object.
    // The extension as a whole: each of its attributes in turn.
    if lower == ENTERPRISE_USER {
        let Some(Value::Object(values)) = value else {
            if kind == Kind::Remove {
                let root = resource.as_object_mut().ok_or_else(|| invalid_path("the resource is not an object"))?;
                root.retain(|k, _| !k.eq_ignore_ascii_case(ENTERPRISE_USER));
                return Ok(());
            }
            return Err(ScimError::invalid_value(format!("`{path}` takes an object")));
        };
        for (name, value) in values {
            at_path(resource, &format!("{ENTERPRISE_USER}:{name}"), kind, Some(value))?;
        }
        return Ok(());
    }
    let (container, path) = if let Some(rest) = lower.strip_prefix(ENTERPRISE_USER) {
        let rest = rest.strip_prefix(':').ok_or_else(|| invalid_path(format!("`{path}` names no attribute")))?;
        let root = resource.as_object_mut().ok_or_else(|| invalid_path("the resource is not an object"))?;
        let key = key_in(root, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
        let extension = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
        (extension, path[path.len() - rest.len()..].to_owned())
    } else {
        let normalized = filter::normalize_path(path);
        let start = path.len() - normalized.len();
        (resource, path[start..].to_owned())
    };
    let (attribute, selector, sub) = split_path(&path)?;
    let object = container.as_object_mut().ok_or_else(|| invalid_path("the resource is not an object"))?;
    let key = key_in(object, &attribute);
    match (selector, sub) {
        (None, None) => set(object, &key, kind, value),
        (None, Some(sub)) => {
            let parent = object.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let parent = parent.as_object_mut().ok_or_else(|| invalid_path(format!("`{attribute}` has no `{sub}`")))?;
            let sub_key = key_in(parent, &sub);
            set(parent, &sub_key, kind, value)
        }
        (Some(selector), sub) => {
            let Some(Value::Array(items)) = object.get_mut(&key) else {
                return Err(no_target(format!("`{attribute}` has no values to select from")));
            };
            let chosen: Vec<usize> = (0..items.len()).filter(|&i| filter::matches(&selector, &items[i])).collect();
            if chosen.is_empty() {
                return Err(no_target(format!("no value of `{attribute}` matches the path's filter")));
            }
            match (kind, sub) {
                (Kind::Remove, None) => {
                    let mut i = 0;
                    items.retain(|_| {
                        i += 1;
                        !chosen.contains(&(i - 1))
                    });
                    Ok(())
                }
                (kind, sub) => {
                    for i in chosen {
                        let item = items[i]
                            .as_object_mut()
                            .ok_or_else(|| invalid_path("a selected value is not an object"))?;
                        match &sub {
                            Some(sub) => {
                                let sub_key = key_in(item, sub);
                                set(item, &sub_key, kind, value.clone())?;
                            }
                            None => merge_into(item, value.clone())?,
                        }
                    }
                    Ok(())
                }
            }
        }
    }
}

/// `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
fn split_path(path: &str) -> Result<(String, Option<filter::Filter>, Option<String>), ScimError> {
    if let Some(open) = path.find('[') {
        let close = path.rfind(']').ok_or_else(|| invalid_path(format!("`{path}`: a `[` is not closed")))?;
        let selector = filter::parse(&path[open + 1..close]).map_err(|e| invalid_path(format!("`{path}`: {e}")))?;
        let sub = path[close + 1..].strip_prefix('.').map(str::to_owned).filter(|s| !s.is_empty());
        return Ok((path[..open].to_owned(), Some(selector), sub));
    }
    match path.split_once('.') {
        Some((attribute, sub)) => Ok((attribute.to_owned(), None, Some(sub.to_owned()))),
        None if path.is_empty() => Err(invalid_path("an empty path")),
        None => Ok((path.to_owned(), None, None)),
    }
}

fn set(object: &mut Map<String, Value>, key: &str, kind: Kind, value: Option<Value>) -> Result<(), ScimError> {
    if kind == Kind::Remove {
        // Entra removes multi-valued members by value: `{"path": "members", "value": [{"value": id}]}`.
        if let (Some(Value::Array(items)), Some(Value::Array(gone))) = (object.get_mut(key), &value) {
            items.retain(|item| {
                !gone.iter().any(|g| field(g, "value").is_some_and(|v| Some(v) == field(item, "value")))
            });
            return Ok(());
        }
        object.remove(key);
        return Ok(());
    }
    let value = value.ok_or_else(|| ScimError::invalid_value(format!("`{key}`: add and replace need a `value`")))?;
    match (object.get_mut(key), value) {
        (Some(Value::Array(items)), Value::Array(more)) if kind == Kind::Add => items.extend(more),
        (Some(Value::Array(items)), single) if kind == Kind::Add && single.is_object() => items.push(single),
        (Some(Value::Object(existing)), Value::Object(values)) => {
            for (name, value) in values {
                let name = key_in(existing, &name);
                existing.insert(name, value);
            }
        }
        (_, value) => {
            object.insert(key.to_owned(), value);
        }
    }
    Ok(())
}

fn merge_into(item: &mut Map<String, Value>, value: Option<Value>) -> Result<(), ScimError> {
    match value {
        Some(Value::Object(values)) => {
            for (name, value) in values {
                let name = key_in(item, &name);
                item.insert(name, value);
            }
            Ok(())
        }
        _ => Err(ScimError::invalid_value("a selected value is replaced by an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(mut resource: Value, operations: Value) -> Value {
        apply(&mut resource, &json!({"Operations": operations})).unwrap();
        resource
    }

    #[test]
    fn entra_style_operations() {
        let user = json!({"userName": "a@b.c", "name": {"givenName": "A", "familyName": "B"}, "active": true,
                          "emails": [{"value": "a@b.c", "type": "work", "primary": true}]});
        let out =
            patched(user.clone(), json!([{"op": "Replace", "value": {"name.givenName": "Ann", "active": "False"}}]));
        assert_eq!(out["name"], json!({"givenName": "Ann", "familyName": "B"}));
        assert_eq!(out["active"], "False");
        let out = patched(
            user.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "n@b.c"}]),
        );
        assert_eq!(out["emails"][0]["value"], "n@b.c");
        let out = patched(
            user.clone(),
            json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "id-1"}]),
        );
        assert_eq!(out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"], "id-1");
        let out = patched(user, json!([{"op": "remove", "path": "name.givenName"}]));
        assert_eq!(out["name"], json!({"familyName": "B"}));
    }

    #[test]
    fn members_are_removed_by_value_or_by_filter() {
        let group = json!({"members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let out = patched(group.clone(), json!([{"op": "remove", "path": "members", "value": [{"value": "2"}]}]));
        assert_eq!(out["members"], json!([{"value": "1"}, {"value": "3"}]));
        let out = patched(group.clone(), json!([{"op": "remove", "path": "members[value eq \"3\"]"}]));
        assert_eq!(out["members"], json!([{"value": "1"}, {"value": "2"}]));
        let out = patched(group, json!([{"op": "add", "path": "members", "value": [{"value": "4"}]}]));
        assert_eq!(out["members"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn refuses_with_the_scim_error_type() {
        let mut user = json!({"emails": [{"value": "a@b.c", "type": "work"}]});
        let miss = apply(
            &mut user,
            &json!({"Operations": [{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}]}),
        );
        assert_eq!(miss.unwrap_err().scim_type, Some("noTarget"));
        let bad = apply(&mut user, &json!({"Operations": [{"op": "move", "path": "x"}]}));
        assert_eq!(bad.unwrap_err().scim_type, Some("invalidSyntax"));
        let many: Vec<Value> = (0..101).map(|_| json!({"op": "remove", "path": "title"})).collect();
        assert!(apply(&mut user, &json!({"Operations": many})).is_err());
    }
}
