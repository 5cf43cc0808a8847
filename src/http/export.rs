//! `GET /users.csv?status=ACTIVE&orderBy=EMAIL&…`: the company's users as a CSV download, with
//! the filters and orderings of the `users` query as query parameters (an unknown parameter or
//! value is refused, never ignored: a mistyped filter must not export everyone).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::error::HttpError;
use super::{AppState, csv_attachment, import_caller};
use crate::domain::audit::AuditEvent;
use crate::domain::user_list::{Direction, OrderField, UserFilter, UserOrder};
use crate::domain::{DomainError, Email, Module, Role, UserStatus};
use crate::types::{AuditAction, TargetKind};

const PARAMETERS: [&str; 11] = [
    "search",
    "status",
    "role",
    "managerEmail",
    "module",
    "subAccountId",
    "createdAfter",
    "createdBefore",
    "neverSignedIn",
    "orderBy",
    "direction",
];

pub async fn users_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let principal = import_caller(&state, &headers).await?;
    let (filter, order) = parse(&params)?;
    // Who took a copy of the company's people, and which part of it: audited before the first
    // byte leaves.
    let svc = state.services.clone();
    let mut tx = svc.begin_as(&principal).await?;
    let company = principal.company()?;
    let asked: serde_json::Map<String, serde_json::Value> = params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    tx.audit(
        AuditEvent::new(AuditAction::UsersExported, TargetKind::Company, company).after(json!({"parameters": asked})),
    );
    tx.commit().await?;
    let stream = crate::import::export::users_csv(state.services.for_reading(), principal, filter, order);
    Ok(csv_attachment("users.csv", axum::body::Body::from_stream(stream)))
}

fn parse(params: &HashMap<String, String>) -> Result<(UserFilter, UserOrder), DomainError> {
    if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(DomainError::invalid(unknown, format!("is not a parameter; they are {}", PARAMETERS.join(", "))));
    }
    let get = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let stored = |name: &str| get(name).map(|v| v.to_ascii_uppercase());
    let invalid = |name: &str, why: &str| DomainError::invalid(name, why.to_owned());
    let status = match stored("status") {
        Some(v) => Some(
            <UserStatus as sea_orm::ActiveEnum>::try_from_value(&v)
                .map_err(|_| invalid("status", "is not a user status"))?,
        ),
        None => None,
    };
    let role = match stored("role") {
        Some(v) => {
            Some(<Role as sea_orm::ActiveEnum>::try_from_value(&v).map_err(|_| invalid("role", "is not a role"))?)
        }
        None => None,
    };
    let module = match stored("module") {
        Some(v) => Some(
            <Module as sea_orm::ActiveEnum>::try_from_value(&v).map_err(|_| invalid("module", "is not a module"))?,
        ),
        None => None,
    };
    let time = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, DomainError> {
        get(name)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| invalid(name, "is not an RFC 3339 date and time"))
            })
            .transpose()
    };
    let never_signed_in = match get("neverSignedIn").map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(_) => return Err(invalid("neverSignedIn", "must be true, false, 1 or 0")),
    };
    let filter = UserFilter {
        search: get("search").map(str::to_owned),
        status,
        role,
        manager: get("managerEmail")
            .map(|v| Email::parse(v).map_err(|e| DomainError::invalid("managerEmail", e.to_string())))
            .transpose()?,
        module,
        sub_account: get("subAccountId")
            .map(|v| v.parse().map_err(|_| invalid("subAccountId", "is not a valid id")))
            .transpose()?,
        created_after: time("createdAfter")?,
        created_before: time("createdBefore")?,
        never_signed_in,
    };
    let field = match stored("orderBy").as_deref() {
        None | Some("SURNAME") => OrderField::Surname,
        Some("EMAIL") => OrderField::Email,
        Some("CREATED_AT") => OrderField::CreatedAt,
        Some("LAST_SIGNED_IN_AT") => OrderField::LastSignedInAt,
        Some("STATUS") => OrderField::Status,
        Some(_) => return Err(invalid("orderBy", "is one of SURNAME, EMAIL, CREATED_AT, LAST_SIGNED_IN_AT, STATUS")),
    };
    let direction = match stored("direction").as_deref() {
        None | Some("ASC") => Direction::Asc,
        Some("DESC") => Direction::Desc,
        Some(_) => return Err(invalid("direction", "is ASC or DESC")),
    };
    Ok((filter, UserOrder { field, direction }))
}
