//! SCIM 2.0 (RFC 7643/7644) at `/scim/v2`: a company's identity provider (Entra ID, Okta,
//! Google) creates, updates and removes the company's people. Authenticated by a company API
//! key holding USER_MANAGEMENT, and only once the company's administrator has turned SCIM on
//! (`updateCompanySettings(input: {scimEnabled: true})`). Like `graphql/`, a thin layer: parse
//! the protocol, call `domain`, answer in SCIM's shapes (`application/scim+json`, SCIM error
//! bodies). Provisioned people follow the portal's rules (mandatory fields, who may change
//! whom, transfers before removal), so a key can never do here what it could not do in GraphQL.

mod discovery;
pub mod filter;
mod groups;
mod listing;
mod patch;
mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::domain::principal::{self, Principal};
use crate::domain::{DomainError, Module, Services, companies};

pub const CONTENT_TYPE: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The routes under `/scim/v2`, with the services they work on.
pub fn router<S>(services: Services) -> Router<S> {
    Router::new()
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", axum::routing::post(users::search))
        .route("/Groups/.search", axum::routing::post(groups::search))
        .route("/.search", axum::routing::post(listing::search_all))
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/{id}", get(groups::get).put(groups::replace).patch(groups::patch).delete(groups::delete))
        .route("/Users/{id}", get(users::get).put(users::replace).patch(users::patch).delete(users::delete))
        .fallback(|| async { ScimError::new(StatusCode::NOT_FOUND, None, "no such SCIM endpoint") })
        .with_state(services)
}

/// A SCIM error answer: `status`, an optional `scimType`, a `detail` for people.
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }
}

/// The portal's field names as SCIM clients know them.
fn scim_field(field: &str) -> &str {
    match field {
        "givenName" => "name.givenName",
        "surname" => "name.familyName",
        "email" => "userName",
        "jobTitle" => "title",
        "managerEmail" => "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "country" => "addresses.country",
        "transferTo" | "relatedUserId" => "active",
        other => other,
    }
}

impl From<DomainError> for ScimError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Unauthenticated(message) => ScimError::new(StatusCode::UNAUTHORIZED, None, message),
            DomainError::Forbidden(message) => ScimError::new(StatusCode::FORBIDDEN, None, message),
            DomainError::NotFound(what) => ScimError::new(StatusCode::NOT_FOUND, None, format!("{what} not found")),
            DomainError::Validation(problems) => ScimError::invalid_value(
                problems
                    .iter()
                    .map(|p| format!("{}: {}", scim_field(&p.field), p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            DomainError::Conflict { field, message } => {
                let detail = match field {
                    Some(field) => format!("{}: {message}", scim_field(&field)),
                    None => message,
                };
                ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
            }
            DomainError::RateLimited { retry_after } => ScimError::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                format!("too many requests: retry in {} s", retry_after.as_secs()),
            ),
            DomainError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                ScimError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "Internal error; it has been logged")
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body =
            json!({"schemas": [ERROR_SCHEMA], "status": self.status.as_u16().to_string(), "detail": self.detail});
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = scim_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
        }
        response
    }
}

pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], body.to_string()).into_response()
}

/// The caller of a SCIM request: a company API key with USER_MANAGEMENT, its company having
/// SCIM turned on. Sessions are refused: provisioning is an integration's job, and a key's
/// audit trail says which integration did what.
pub struct ScimCaller(pub Principal);

impl FromRequestParts<Services> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, services: &Services) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ScimError::new(StatusCode::UNAUTHORIZED, None, "send a company API key: `Authorization: Bearer pk_live_…`")
        })?;
        if !crate::domain::api_keys::looks_like_key(token) {
            return Err(ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "SCIM takes a company API key (pk_live_…), not a session",
            ));
        }
        let principal = principal::authenticate(services, token).await?;
        if !principal.modules.contains(&Module::UserManagement) {
            return Err(ScimError::new(StatusCode::FORBIDDEN, None, "this API key does not hold USER_MANAGEMENT"));
        }
        if !companies::current(services, &principal).await?.scim_enabled {
            return Err(ScimError::new(
                StatusCode::FORBIDDEN,
                None,
                "SCIM is off for this company: an administrator turns it on (updateCompanySettings, scimEnabled)",
            ));
        }
        Ok(ScimCaller(principal))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// A request body as JSON (`application/scim+json` or `application/json`).
pub fn json_body(body: &[u8]) -> Result<Value, ScimError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    }
    Ok(value)
}
