//! `/Users`: the company's people as SCIM resources. `userName` is the email address; `title`
//! the job title; the enterprise extension's `manager.value` the manager's id (the portal keeps
//! the manager's address); `active` false is a deactivation; DELETE is the portal's removal of
//! a person who never signed in, else GDPR anonymization (both answer 404 afterwards). Absent
//! attributes in a PUT keep their values (the portal's mandatory fields cannot be cleared).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition};
use serde_json::{Value, json};

use super::filter::{ENTERPRISE_USER, Filter, FilterError, Op};
use super::listing::{ListParams, OneParams, invalid_filter};
use super::patch::{self, field};
use super::{ScimCaller, ScimError, json_body, scim_json};
use crate::db::users;
use crate::domain::people::{self, PersonInput};
use crate::domain::principal::Principal;
use crate::domain::{DomainError, Services, UserStatus, batch, companies, lifecycle};
use crate::types::{Email, UserId};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn version(user: &users::Model) -> String {
    format!("W/\"{}\"", user.updated_at.timestamp_micros())
}

/// A user as SCIM shows them; `manager` is the manager's row, if found.
fn resource(services: &Services, user: &users::Model, manager: Option<&users::Model>) -> Value {
    let given = user.given_name.clone().unwrap_or_default();
    let family = user.surname.clone().unwrap_or_default();
    let full = format!("{given} {family}").trim().to_owned();
    let mut resource = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "id": user.id,
        "userName": user.scim_user_name.as_ref().map_or(user.email.as_str(), String::as_str),
        "name": {"givenName": given, "familyName": family},
        "displayName": full,
        "active": user.status != UserStatus::Inactive,
        "locale": user.locale,
        "emails": [{"value": user.email, "type": "work", "primary": true}],
        "meta": {
            "resourceType": "User",
            "created": user.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": user.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": services.link(&format!("/scim/v2/Users/{}", user.id)),
            "version": version(user),
        },
    });
    if let Some(external_id) = &user.external_id {
        resource["externalId"] = json!(external_id);
    }
    if let Some(title) = &user.job_title {
        resource["title"] = json!(title);
    }
    if let Some(country) = &user.country {
        resource["addresses"] = json!([{"type": "work", "country": country}]);
    }
    if let Some(manager) = manager {
        resource[ENTERPRISE_SCHEMA] = json!({"manager": {
            "value": manager.id,
            "$ref": services.link(&format!("/scim/v2/Users/{}", manager.id)),
        }});
    }
    resource
}

async fn with_manager(services: &Services, user: &users::Model) -> Result<Value, ScimError> {
    let manager = match (&user.manager_email, user.company_id) {
        (Some(email), Some(company)) => {
            batch::users_by_email(&services.db, &[(company, email.clone())]).await?.into_values().next()
        }
        _ => None,
    };
    Ok(resource(services, user, manager.as_ref()))
}

/// One person of the caller's company; the anonymized are gone, as SCIM expects after DELETE.
async fn find(services: &Services, principal: &Principal, id: &str) -> Result<users::Model, ScimError> {
    let missing =
        || ScimError::new(StatusCode::NOT_FOUND, None, format!("no user {}", crate::domain::text::quoted(id)));
    let id = uuid::Uuid::parse_str(id).map_err(|_| missing())?;
    match people::get(&services.db, principal, UserId(id)).await {
        Ok(user) if user.status != UserStatus::Anonymized => Ok(user),
        Ok(_) | Err(DomainError::NotFound(_)) => Err(missing()),
        Err(other) => Err(other.into()),
    }
}

fn answer(status: StatusCode, services: &Services, user: &users::Model, body: Value) -> Response {
    let mut response = scim_json(status, &body);
    if let Ok(etag) = HeaderValue::from_str(&version(user)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&services.link(&format!("/scim/v2/Users/{}", user.id)))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `If-Match`: a change to a version the client has not seen is refused (412).
fn check_version(headers: &HeaderMap, user: &users::Model) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let current = version(user);
    let strong = current.trim_start_matches("W/");
    let ok = wanted.split(',').map(str::trim).any(|w| w == "*" || w == current || w.trim_start_matches("W/") == strong);
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            format!("the user changed: its version is now {current}"),
        ))
    }
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

/// `POST /Users/.search` (RFC 7644 §3.4.3): a listing's query in a body, for filters too long
/// for a URL.
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

/// The users matching `filter` from `offset`, as resources, and how many match in all.
pub async fn page(
    services: &Services,
    principal: &Principal,
    filter: Option<&Filter>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<Value>, u64), ScimError> {
    let condition = match filter {
        Some(filter) => condition(filter, "").map_err(invalid_filter)?,
        None => Condition::all(),
    };
    let (found, total) = people::page_where(services, principal, condition, offset, limit).await?;
    let keys: Vec<_> = found.iter().filter_map(|u| Some((u.company_id?, u.manager_email.clone()?))).collect::<Vec<_>>();
    let managers = batch::users_by_email(&services.db, &keys).await?;
    let resources = found
        .iter()
        .map(|user| {
            let manager = user.company_id.zip(user.manager_email.clone()).and_then(|key| managers.get(&key));
            resource(services, user, manager)
        })
        .collect();
    Ok((resources, total))
}

pub async fn get(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
    Query(params): Query<OneParams>,
) -> Result<Response, ScimError> {
    let user = find(&services, &principal, &id).await?;
    let body = with_manager(&services, &user).await?;
    let projection = params.projection();
    Ok(answer(StatusCode::OK, &services, &user, projection.apply(body)))
}

pub async fn create(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&body)?;
    let incoming = Incoming::read(&body)?;
    let company = companies::current(&services, &principal).await?;
    let (address, scim_user_name) = incoming.identity()?;
    let address = address.ok_or_else(|| ScimError::invalid_value("userName is required"))?;
    let manager_email = match &incoming.manager {
        Some(Some(id)) => Some(manager_address(&services, &principal, id).await?),
        _ => company.scim_default_manager_email.as_ref().map(ToString::to_string),
    };
    let job_title = incoming.title.clone().flatten().or(company.scim_default_job_title.clone());
    let mut missing = Vec::new();
    if job_title.is_none() {
        missing.push("title");
    }
    if manager_email.is_none() {
        missing.push(ENTERPRISE_MANAGER);
    }
    if !missing.is_empty() {
        return Err(ScimError::invalid_value(format!(
            "the portal requires {} (or a company default: updateCompanySettings)",
            missing.join(" and ")
        )));
    }
    let input = PersonInput {
        given_name: incoming.given_name.clone().flatten(),
        surname: incoming.family_name.clone().flatten(),
        email: Some(address),
        job_title,
        manager_email,
        country: incoming.country.clone().flatten(),
        locale: incoming.locale.clone().flatten(),
        is_active: incoming.active,
        external_id: incoming.external_id.clone().flatten(),
        scim_user_name,
    };
    let user = people::create_with(&services, &principal, input, company.scim_welcome_email).await?;
    let body = with_manager(&services, &user).await?;
    Ok(answer(StatusCode::CREATED, &services, &user, body))
}

const ENTERPRISE_MANAGER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

pub async fn replace(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&body)?;
    let user = find(&services, &principal, &id).await?;
    check_version(&headers, &user)?;
    let user = change(&services, &principal, user, &Incoming::read(&body)?).await?;
    let body = with_manager(&services, &user).await?;
    Ok(answer(StatusCode::OK, &services, &user, body))
}

pub async fn patch(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&body)?;
    let user = find(&services, &principal, &id).await?;
    check_version(&headers, &user)?;
    let mut current = with_manager(&services, &user).await?;
    let before = current.clone();
    patch::apply(&mut current, &body)?;
    let mut incoming = Incoming::read(&current)?;
    // What the PATCH removed is cleared, not kept as a PUT's absent attribute would be; what
    // the portal keeps for everyone cannot be removed.
    let removed = |path: &str| {
        let at = |resource: &Value| path.split('.').try_fold(resource.clone(), |v, part| field(&v, part).cloned());
        at(&before).is_some_and(|v| !Value::is_null(&v)) && at(&current).is_none_or(|v| Value::is_null(&v))
    };
    for kept in ["userName", "name.givenName", "name.familyName", "title", "active", "locale", "emails"] {
        if removed(kept) {
            return Err(ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("mutability"),
                format!("{kept} cannot be removed: the portal keeps it for every person"),
            ));
        }
    }
    let manager_of = |resource: &Value| field(resource, ENTERPRISE_SCHEMA).and_then(|e| field(e, "manager")).cloned();
    if manager_of(&before).is_some() && manager_of(&current).is_none_or(|m| Value::is_null(&m)) {
        incoming.manager = Some(None); // refused by `change`, which says why
    }
    if removed("externalId") {
        incoming.external_id = Some(None);
    }
    if removed("addresses") {
        incoming.country = Some(None);
    }
    let user = change(&services, &principal, user, &incoming).await?;
    let body = with_manager(&services, &user).await?;
    Ok(answer(StatusCode::OK, &services, &user, body))
}

pub async fn delete(
    State(services): State<Services>,
    ScimCaller(principal): ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let user = find(&services, &principal, &id).await?;
    check_version(&headers, &user)?;
    if user.status == UserStatus::Invited {
        lifecycle::remove(&services, &principal, user.id).await?;
    } else {
        lifecycle::anonymize(&services, &principal, user.id, None).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Applies a whole resource (a PUT's body, or the result of a PATCH) to the user: the fields
/// first (validated by the portal's rules), then the status. A deactivation the portal refuses
/// (the person holds what must first be transferred) leaves the fields changed and says why.
async fn change(
    services: &Services,
    principal: &Principal,
    user: users::Model,
    incoming: &Incoming,
) -> Result<users::Model, ScimError> {
    let manager_email = match &incoming.manager {
        Some(Some(id)) => Some(manager_address(services, principal, id).await?),
        Some(None) => {
            return Err(ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("mutability"),
                format!("{ENTERPRISE_MANAGER} cannot be removed: the portal requires a manager"),
            ));
        }
        None => None,
    };
    let title = match &incoming.title {
        Some(None) => {
            return Err(ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("mutability"),
                "title cannot be removed: the portal requires a job title",
            ));
        }
        other => other.clone().flatten(),
    };
    let (address, scim_user_name) = incoming.identity()?;
    let input = PersonInput {
        given_name: incoming.given_name.clone().flatten(),
        surname: incoming.family_name.clone().flatten(),
        email: address,
        scim_user_name,
        job_title: title,
        manager_email,
        country: incoming.country.clone().map(Option::unwrap_or_default),
        locale: incoming.locale.clone().flatten(),
        is_active: None,
        external_id: incoming.external_id.clone().map(Option::unwrap_or_default),
    };
    let mut user = people::update(services, principal, user.id, input).await?;
    match (incoming.active, user.status) {
        (Some(false), UserStatus::Active) => {
            user = lifecycle::deactivate(services, principal, user.id, None).await.map_err(|error| match error {
                DomainError::Validation(problems) => ScimError::new(
                    StatusCode::CONFLICT,
                    Some("mutability"),
                    format!(
                        "cannot deactivate yet: {} (an administrator transfers these in the portal first)",
                        problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")
                    ),
                ),
                other => other.into(),
            })?;
        }
        (Some(true), UserStatus::Inactive) => user = lifecycle::reactivate(services, principal, user.id).await?,
        _ => {}
    }
    Ok(user)
}

/// The address of the manager a client names by id (SCIM's `manager.value`), in the caller's
/// company only.
async fn manager_address(services: &Services, principal: &Principal, id: &str) -> Result<String, ScimError> {
    let not_found = || {
        ScimError::invalid_value(format!(
            "{ENTERPRISE_MANAGER}: no user {} in this company",
            crate::domain::text::quoted(id)
        ))
    };
    // Some clients name the manager by address instead.
    if let Ok(email) = Email::parse(id) {
        return Ok(email.to_string());
    }
    let id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
    match people::get(&services.db, principal, UserId(id)).await {
        Ok(manager) if manager.status != UserStatus::Anonymized => Ok(manager.email.to_string()),
        Ok(_) | Err(DomainError::NotFound(_)) => Err(not_found()),
        Err(other) => Err(other.into()),
    }
}

/// What a client sent, attribute by attribute: `None` absent, `Some(None)` null or empty.
#[derive(Debug, Default)]
struct Incoming {
    user_name: Option<String>,
    /// The primary (else the first) `emails` value.
    email: Option<String>,
    given_name: Option<Option<String>>,
    family_name: Option<Option<String>>,
    title: Option<Option<String>>,
    external_id: Option<Option<String>>,
    active: Option<bool>,
    country: Option<Option<String>>,
    locale: Option<Option<String>>,
    manager: Option<Option<String>>,
}

fn text(value: Option<&Value>, name: &str) -> Result<Option<Option<String>>, ScimError> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) if text.is_empty() => Ok(Some(None)),
        Some(Value::String(text)) => Ok(Some(Some(text.clone()))),
        Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
    }
}

impl Incoming {
    /// The person's address and the `userName` to keep beside it: a `userName` that is an
    /// address is the address (and no separate name is kept: `Some("")` clears one); any other
    /// (an Entra UPN, a login) is kept as is, and the address comes from `emails`.
    fn identity(&self) -> Result<(Option<String>, Option<String>), ScimError> {
        match &self.user_name {
            Some(name) if Email::parse(name).is_ok() => Ok((Some(name.clone()), Some(String::new()))),
            Some(name) => match &self.email {
                Some(address) => Ok((Some(address.clone()), Some(name.clone()))),
                None => Err(ScimError::invalid_value(format!(
                    "userName {} is not an email address, and no emails[].value gives one: the portal needs the person's address",
                    crate::domain::text::quoted(name)
                ))),
            },
            None => Ok((self.email.clone(), None)),
        }
    }

    fn read(body: &Value) -> Result<Incoming, ScimError> {
        let name = field(body, "name");
        let extension = field(body, ENTERPRISE_USER);
        let manager = match extension.and_then(|e| field(e, "manager")) {
            None => None,
            Some(Value::Null) => Some(None),
            // A manager object, or (some clients) the id alone.
            Some(Value::Object(_)) => {
                text(extension.and_then(|e| field(e, "manager")).and_then(|m| field(m, "value")), "manager.value")?
                    .or(Some(None))
            }
            Some(other) => text(Some(other), "manager")?,
        };
        let active = match field(body, "active") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(active)) => Some(*active),
            // Entra ID sends "True" and "False" as strings.
            Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => Some(false),
            Some(_) => return Err(ScimError::invalid_value("active must be true or false")),
        };
        let country = match field(body, "addresses") {
            Some(Value::Array(addresses)) => {
                let chosen = addresses
                    .iter()
                    .find(|a| field(a, "primary") == Some(&Value::Bool(true)))
                    .or_else(|| addresses.first());
                match chosen {
                    Some(address) => text(field(address, "country"), "addresses.country")?.or(Some(None)),
                    None => Some(None),
                }
            }
            Some(Value::Null) => Some(None),
            None => None,
            Some(_) => return Err(ScimError::invalid_value("addresses must be a list")),
        };
        let email = match field(body, "emails") {
            Some(Value::Array(emails)) => emails
                .iter()
                .find(|e| field(e, "primary") == Some(&Value::Bool(true)))
                .or_else(|| emails.first())
                .and_then(|e| field(e, "value"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        Ok(Incoming {
            user_name: text(field(body, "userName"), "userName")?.flatten(),
            email,
            given_name: text(name.and_then(|n| field(n, "givenName")), "name.givenName")?,
            family_name: text(name.and_then(|n| field(n, "familyName")), "name.familyName")?,
            title: text(field(body, "title"), "title")?,
            external_id: text(field(body, "externalId"), "externalId")?,
            active,
            country,
            locale: text(field(body, "locale"), "locale")?,
            manager,
        })
    }
}

/// The SQL of a filter over the users table. `prefix` is the multi-valued attribute a value
/// filter is inside (`emails.`).
fn condition(filter: &Filter, prefix: &str) -> Result<Condition, FilterError> {
    Ok(match filter {
        Filter::And(a, b) => Condition::all().add(condition(a, prefix)?).add(condition(b, prefix)?),
        Filter::Or(a, b) => Condition::any().add(condition(a, prefix)?).add(condition(b, prefix)?),
        Filter::Not(inner) => condition(inner, prefix)?.not(),
        Filter::ValuePath { attr, filter } => condition(filter, &format!("{attr}."))?,
        Filter::Present(path) => present(&format!("{prefix}{path}"))?,
        Filter::Compare { path, op, value } => compare(&format!("{prefix}{path}"), *op, value)?,
    })
}

fn constant(truth: bool) -> Condition {
    Condition::all().add(Expr::val(1).eq(if truth { 1 } else { 0 }))
}

/// A text column, and whether it compares exactly (else without regard to case).
fn text_column(path: &str) -> Option<(users::Column, bool)> {
    Some(match path {
        "emails" | "emails.value" => (users::Column::Email, false),
        "externalid" => (users::Column::ExternalId, true),
        "name.givenname" => (users::Column::GivenName, false),
        "name.familyname" => (users::Column::Surname, false),
        "title" => (users::Column::JobTitle, false),
        "locale" => (users::Column::Locale, false),
        "addresses.country" | "addresses" => (users::Column::Country, false),
        _ => return None,
    })
}

fn unsupported(path: &str) -> FilterError {
    FilterError(format!(
        "`{path}` cannot be filtered on (try userName, externalId, name.givenName, name.familyName, title, active, emails.value, locale, addresses.country, id, meta.created, meta.lastModified)"
    ))
}

fn present(path: &str) -> Result<Condition, FilterError> {
    if let Some((column, _)) = text_column(path) {
        return Ok(Condition::all().add(column.is_not_null()).add(column.ne("")));
    }
    match path {
        "id" | "username" | "active" | "meta.created" | "meta.lastmodified" | "emails.type" | "emails.primary"
        | "name" => Ok(constant(true)),
        _ => Err(unsupported(path)),
    }
}

fn compare(path: &str, op: Op, value: &Value) -> Result<Condition, FilterError> {
    if path == "username" {
        // The kept userName where there is one, else the address.
        let named = Condition::all().add(users::Column::ScimUserName.is_not_null()).add(text_compare(
            users::Column::ScimUserName,
            false,
            path,
            op,
            value,
        )?);
        let by_address = Condition::all().add(users::Column::ScimUserName.is_null()).add(text_compare(
            users::Column::Email,
            false,
            path,
            op,
            value,
        )?);
        return Ok(Condition::any().add(named).add(by_address));
    }
    if let Some((column, exact)) = text_column(path) {
        return text_compare(column, exact, path, op, value);
    }
    other_compare(path, op, value)
}

fn text_compare(
    column: users::Column,
    exact: bool,
    path: &str,
    op: Op,
    value: &Value,
) -> Result<Condition, FilterError> {
    let Value::String(wanted) = value else {
        return Err(FilterError(format!("`{path}` is compared with a quoted string")));
    };
    // The address is stored lower-cased (and compared so, using its index); other text
    // is lower-cased on both sides unless the attribute is case-exact.
    let (target, wanted): (SimpleExpr, String) = if exact {
        (Expr::col(column), wanted.clone())
    } else if matches!(column, users::Column::Email) {
        (Expr::col(column), wanted.to_lowercase())
    } else {
        (Func::lower(Expr::col(column)).into(), wanted.to_lowercase())
    };
    let escaped = wanted.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let like = |pattern: String| Condition::all().add(target.clone().like(LikeExpr::new(pattern).escape('\\')));
    Ok(match op {
        Op::Eq => Condition::all().add(target.eq(wanted)),
        Op::Ne => Condition::any().add(target.ne(wanted)).add(column.is_null()),
        Op::Co => like(format!("%{escaped}%")),
        Op::Sw => like(format!("{escaped}%")),
        Op::Ew => like(format!("%{escaped}")),
        Op::Gt => Condition::all().add(target.gt(wanted)),
        Op::Ge => Condition::all().add(target.gte(wanted)),
        Op::Lt => Condition::all().add(target.lt(wanted)),
        Op::Le => Condition::all().add(target.lte(wanted)),
    })
}

fn other_compare(path: &str, op: Op, value: &Value) -> Result<Condition, FilterError> {
    match path {
        "id" => {
            let Value::String(id) = value else {
                return Err(FilterError("`id` is compared with a quoted string".into()));
            };
            let Ok(id) = uuid::Uuid::parse_str(id) else { return Ok(constant(op == Op::Ne)) };
            match op {
                Op::Eq => Ok(Condition::all().add(users::Column::Id.eq(UserId(id)))),
                Op::Ne => Ok(Condition::all().add(users::Column::Id.ne(UserId(id)))),
                _ => Err(FilterError("`id` takes eq or ne".into())),
            }
        }
        "active" => {
            let Value::Bool(active) = value else {
                return Err(FilterError("`active` is compared with true or false".into()));
            };
            let wanted = match op {
                Op::Eq => *active,
                Op::Ne => !*active,
                _ => return Err(FilterError("`active` takes eq or ne".into())),
            };
            let inactive = users::Column::Status.eq(UserStatus::Inactive);
            Ok(if wanted { Condition::all().add(inactive).not() } else { Condition::all().add(inactive) })
        }
        "meta.created" | "meta.lastmodified" => {
            let column = if path == "meta.created" { users::Column::CreatedAt } else { users::Column::UpdatedAt };
            let at = value
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .ok_or_else(|| FilterError(format!("`{path}` is compared with a date-time (RFC 3339)")))?
                .with_timezone(&chrono::Utc);
            Ok(Condition::all().add(match op {
                Op::Eq => column.eq(at),
                Op::Ne => column.ne(at),
                Op::Gt => column.gt(at),
                Op::Ge => column.gte(at),
                Op::Lt => column.lt(at),
                Op::Le => column.lte(at),
                _ => return Err(FilterError(format!("`{path}` takes eq, ne, gt, ge, lt or le"))),
            }))
        }
        // Every user has one address, of type work, primary.
        "emails.type" | "addresses.type" => {
            Ok(constant(matches!(value, Value::String(t) if t.eq_ignore_ascii_case("work")) == (op == Op::Eq)))
        }
        "emails.primary" => Ok(constant((value == &Value::Bool(true)) == (op == Op::Eq))),
        _ => Err(unsupported(path)),
    }
}
