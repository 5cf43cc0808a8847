//! What listings share (RFC 7644 §3.4.2): `filter`, 1-based `startIndex`, `count`, and
//! `attributes` / `excludedAttributes`, from a query string or a `.search` body; the
//! ListResponse; and the search of every resource type at `/.search`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::filter::{self, Filter, FilterError};
use super::patch::field;
use super::{LIST_SCHEMA, ScimCaller, ScimError, groups, json_body, scim_json, users};
use crate::domain::Services;

/// Resources in one list answer (the `count` asked for is cut to this).
pub const MAX_COUNT: u64 = 1000;
const DEFAULT_COUNT: u64 = 100;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

pub fn invalid_filter(error: FilterError) -> ScimError {
    ScimError::new(StatusCode::BAD_REQUEST, Some("invalidFilter"), error.0)
}

impl ListParams {
    /// A `.search` body: the same parameters, the attribute lists as JSON lists.
    pub fn from_body(body: &Value) -> ListParams {
        let text = |name: &str| field(body, name).and_then(Value::as_str).map(str::to_owned);
        let number = |name: &str| field(body, name).and_then(Value::as_i64);
        let list = |name: &str| match field(body, name) {
            Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
            Some(Value::String(names)) => Some(names.clone()),
            _ => None,
        };
        ListParams {
            filter: text("filter"),
            start_index: number("startIndex"),
            count: number("count"),
            attributes: list("attributes"),
            excluded_attributes: list("excludedAttributes"),
        }
    }

    pub fn filter(&self) -> Result<Option<Filter>, ScimError> {
        match self.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            Some(text) => Ok(Some(filter::parse(text).map_err(invalid_filter)?)),
            None => Ok(None),
        }
    }

    fn start_index(&self) -> u64 {
        Ord::max(self.start_index.unwrap_or(1), 1) as u64
    }

    pub fn offset(&self) -> u64 {
        self.start_index() - 1
    }

    pub fn count(&self) -> u64 {
        self.count.map_or(DEFAULT_COUNT, |c| Ord::min(Ord::max(c, 0) as u64, MAX_COUNT))
    }

    /// The ListResponse of `resources` (one page of `total`), each projected as asked.
    pub fn answer(&self, total: u64, resources: Vec<Value>) -> Response {
        let projection = Projection::of(self.attributes.as_deref(), self.excluded_attributes.as_deref());
        let resources: Vec<Value> = resources.into_iter().map(|r| projection.apply(r)).collect();
        scim_json(
            StatusCode::OK,
            &json!({"schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": self.start_index(),
                    "itemsPerPage": resources.len(), "Resources": resources}),
        )
    }
}

/// `POST /.search`: users, then groups, matching the filter (a filter one type cannot judge,
/// such as `displayName` for users, matches none of that type).
pub async fn search_all(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    body: Bytes,
) -> Result<Response, ScimError> {
    let params = ListParams::from_body(&json_body(&body)?);
    let filter = params.filter()?;
    let (offset, count) = (params.offset(), params.count());
    let (mut resources, user_total) = match users::page(&services, &principal, filter.as_ref(), offset, count).await {
        Ok(found) => found,
        Err(error) if error.scim_type == Some("invalidFilter") => (Vec::new(), 0),
        Err(error) => return Err(error),
    };
    let group_offset = offset.saturating_sub(user_total);
    let room = count - resources.len() as u64;
    let (groups, group_total) = groups::page(&services, &principal, filter.as_ref(), group_offset, room).await?;
    resources.extend(groups);
    Ok(params.answer(user_total + group_total, resources))
}

/// The projection of a single resource's GET.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneParams {
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

impl OneParams {
    pub fn projection(&self) -> Projection {
        Projection::of(self.attributes.as_deref(), self.excluded_attributes.as_deref())
    }
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5): top-level names or `parent.sub`;
/// `id`, `schemas` and `meta` always stay.
pub struct Projection {
    only: Option<Vec<String>>,
    except: Vec<String>,
}

impl Projection {
    pub fn of(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let names = |list: &str| -> Vec<String> {
            list.split(',').map(|n| filter::normalize_path(n.trim())).filter(|n| !n.is_empty()).take(64).collect()
        };
        Projection { only: attributes.map(names), except: excluded.map(names).unwrap_or_default() }
    }

    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(object) = resource else { return resource };
        let always = |key: &str| ["id", "schemas", "meta"].contains(&key);
        let mut kept = Map::new();
        for (key, value) in object {
            let name = filter::normalize_path(&key);
            if always(&name) {
                kept.insert(key, value);
                continue;
            }
            let wanted = match &self.only {
                Some(only) => only.iter().any(|o| o == &name || o.starts_with(&format!("{name}."))),
                None => true,
            };
            if wanted && !self.except.contains(&name) {
                kept.insert(key, value);
            }
        }
        Value::Object(kept)
    }
}
