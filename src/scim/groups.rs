//! `/Groups`: the company's sub-accounts. A group's members are the users limited to that
//! sub-account (`setUserPermissions`' `subAccountIds`); a person keeps their other
//! sub-accounts when added to or removed from one. A group with members cannot be deleted
//! (its people would be left unlimited). Filters are judged on the resources themselves
//! (companies have tens of sub-accounts, not millions).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::filter::{self, Filter};
use super::listing::{ListParams, OneParams};
use super::patch::{self, field};
use super::{ScimCaller, ScimError, json_body, scim_json};
use crate::db::sub_accounts;
use crate::domain::principal::Principal;
use crate::domain::{DomainError, Services, batch, permissions};
use crate::types::{SubAccountId, UserId};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Members named in one group body: a bound on the work one request can ask for.
const MAX_MEMBERS: usize = 10_000;

fn resource(services: &Services, group: &sub_accounts::Model, members: &[UserId]) -> Value {
    let members: Vec<Value> =
        members.iter().map(|id| json!({"value": id, "$ref": services.link(&format!("/scim/v2/Users/{id}"))})).collect();
    let mut resource = json!({
        "schemas": [GROUP_SCHEMA],
        "id": group.id,
        "displayName": group.name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": group.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": services.link(&format!("/scim/v2/Groups/{}", group.id)),
        },
    });
    if let Some(external_id) = &group.external_id {
        resource["externalId"] = json!(external_id);
    }
    resource
}

async fn members(services: &Services, group: &sub_accounts::Model) -> Result<Vec<UserId>, ScimError> {
    Ok(batch::members_of_sub_accounts(&services.db, &[group.id]).await?.remove(&group.id).unwrap_or_default())
}

async fn find(services: &Services, principal: &Principal, id: &str) -> Result<sub_accounts::Model, ScimError> {
    let missing =
        || ScimError::new(StatusCode::NOT_FOUND, None, format!("no group {}", crate::domain::text::quoted(id)));
    let id = uuid::Uuid::parse_str(id).map_err(|_| missing())?;
    match permissions::sub_account(&services.db, principal, SubAccountId(id)).await {
        Ok(group) => Ok(group),
        Err(DomainError::NotFound(_)) => Err(missing()),
        Err(other) => Err(other.into()),
    }
}

/// A group body's externalId: `None` absent, `Some(None)` null or empty.
fn external_id(body: &Value) -> Result<Option<Option<String>>, ScimError> {
    match field(body, "externalId") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(id)) => Ok(Some(Some(id.clone()).filter(|id| !id.is_empty()))),
        Some(_) => Err(ScimError::invalid_value("externalId must be a string")),
    }
}

/// The display name and member ids of a group body (POST, PUT, or a PATCH's result).
fn read(body: &Value) -> Result<(Option<String>, Option<Vec<UserId>>), ScimError> {
    let name = match field(body, "displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return Err(ScimError::invalid_value("displayName must be a string")),
    };
    let members = match field(body, "members") {
        None => None,
        Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) if items.len() > MAX_MEMBERS => {
            return Err(ScimError::invalid_value(format!("at most {MAX_MEMBERS} members in one request")));
        }
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| {
                    let value = field(item, "value").and_then(Value::as_str).unwrap_or_default();
                    uuid::Uuid::parse_str(value).map(UserId).map_err(|_| {
                        ScimError::invalid_value(format!(
                            "members: {} is not a user id",
                            crate::domain::text::quoted(value)
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(ScimError::invalid_value("members must be a list")),
    };
    Ok((name, members))
}

fn answer(status: StatusCode, services: &Services, group: &sub_accounts::Model, body: Value) -> Response {
    let mut response = scim_json(status, &body);
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&services.link(&format!("/scim/v2/Groups/{}", group.id)))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The groups matching `filter` from `offset`, as resources, and how many match in all.
pub async fn page(
    services: &Services,
    principal: &Principal,
    filter: Option<&Filter>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Value>, u64), ScimError> {
    let groups = permissions::list_sub_accounts(services, principal).await?;
    let ids: Vec<SubAccountId> = groups.iter().map(|g| g.id).collect();
    let mut members = batch::members_of_sub_accounts(&services.db, &ids).await?;
    let matching: Vec<Value> = groups
        .iter()
        .map(|group| resource(services, group, &members.remove(&group.id).unwrap_or_default()))
        .filter(|resource| filter.is_none_or(|f| filter::matches(f, resource)))
        .collect();
    let total = matching.len() as u64;
    Ok((matching.into_iter().skip(offset as usize).take(limit as usize).collect(), total))
}

pub async fn list(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Query(params): Query<ListParams>,
) -> Result<Response, ScimError> {
    let filter = params.filter()?;
    let (resources, total) = page(&services, &principal, filter.as_ref(), params.offset(), params.count()).await?;
    Ok(params.answer(total, resources))
}

pub async fn get(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
    Query(params): Query<OneParams>,
) -> Result<Response, ScimError> {
    let group = find(&services, &principal, &id).await?;
    let members = members(&services, &group).await?;
    let projection = params.projection();
    Ok(answer(StatusCode::OK, &services, &group, projection.apply(resource(&services, &group, &members))))
}

pub async fn create(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&body)?;
    let (name, members) = read(&body)?;
    let external = external_id(&body)?;
    let name = name.ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let mut group = permissions::create_sub_account(&services, &principal, &name).await?;
    if let Some(Some(external)) = external {
        group = permissions::set_sub_account_external_id(&services, &principal, group.id, Some(&external)).await?;
    }
    let members = match members {
        Some(members) if !members.is_empty() => {
            permissions::set_sub_account_members(&services, &principal, group.id, &members).await?
        }
        _ => Vec::new(),
    };
    Ok(answer(StatusCode::CREATED, &services, &group, resource(&services, &group, &members)))
}

/// A PUT's body or a PATCH's result: a new name and the whole member list.
async fn change(
    services: &Services,
    principal: &Principal,
    group: sub_accounts::Model,
    body: &Value,
) -> Result<Response, ScimError> {
    let (name, members) = read(body)?;
    let external = external_id(body)?;
    let mut group = match name {
        Some(name) if name != group.name => {
            permissions::rename_sub_account(services, principal, group.id, &name).await?
        }
        _ => group,
    };
    if let Some(external) = external {
        group = permissions::set_sub_account_external_id(services, principal, group.id, external.as_deref()).await?;
    }
    let members = match members {
        Some(members) => permissions::set_sub_account_members(services, principal, group.id, &members).await?,
        None => self::members(services, &group).await?,
    };
    Ok(answer(StatusCode::OK, services, &group, resource(services, &group, &members)))
}

pub async fn replace(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&body)?;
    let group = find(&services, &principal, &id).await?;
    let mut body = body;
    // A PUT without members leaves none (it replaces the whole group).
    if field(&body, "members").is_none() {
        body["members"] = json!([]);
    }
    change(&services, &principal, group, &body).await
}

pub async fn patch(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&body)?;
    let group = find(&services, &principal, &id).await?;
    let members = members(&services, &group).await?;
    let mut current = resource(&services, &group, &members);
    patch::apply(&mut current, &body)?;
    // What the PATCH removed is cleared (absent from a PATCH's result is not "left alone").
    if field(&current, "members").is_none() {
        current["members"] = json!([]);
    }
    if group.external_id.is_some() && field(&current, "externalId").is_none() {
        current["externalId"] = Value::Null;
    }
    change(&services, &principal, group, &current).await
}

pub async fn delete(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let group = find(&services, &principal, &id).await?;
    permissions::delete_sub_account(&services, &principal, group.id).await.map_err(|error| match error {
        DomainError::Conflict { message, .. } => ScimError::new(StatusCode::CONFLICT, Some("mutability"), message),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /Groups/.search`.
pub async fn search(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    body: Bytes,
) -> Result<Response, ScimError> {
    let params = ListParams::from_body(&json_body(&body)?);
    let filter = params.filter()?;
    let (resources, total) = page(&services, &principal, filter.as_ref(), params.offset(), params.count()).await?;
    Ok(params.answer(total, resources))
}
