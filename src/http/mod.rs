//! The HTTP surface: routes and the middleware every request goes through.

use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::domain::principal::Access;
use crate::domain::principal::{self, Principal};
use crate::domain::{DomainError, Module, Services};
use crate::graphql::PortalSchema;
use crate::graphql::loaders::Loaders;
use crate::pages;

mod documents;
mod error;
mod export;
mod graphql;
mod persisted;
mod websocket;
pub use documents::ParsedDocuments;
pub use error::HttpError;
pub use persisted::PersistedQueries;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub imports: crate::import::Imports,
    pub schema: PortalSchema,
    /// The schema without the per-field guard, for requests judged whole (`prejudged.rs`).
    pub prejudged: crate::graphql::prejudged::Prejudged,
    /// The schema's own bounds, for the checks made before it runs (GET's operation type).
    pub limits: crate::graphql::limits::QueryLimits,
    pub persisted: PersistedQueries,
    pub documents: ParsedDocuments,
    /// `PORTAL_MAX_BODY_BYTES`, which also bounds one websocket message.
    pub max_message_bytes: usize,
    /// `PORTAL_WEBSOCKET_INIT_TIMEOUT_SECONDS`.
    pub websocket_init_timeout: std::time::Duration,
    /// `PORTAL_GRAPHQL_BATCH_WINDOW_MS`.
    pub batch_window: std::time::Duration,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState, config: &Config) -> Router {
    let middleware = ServiceBuilder::new()
        .layer(axum::middleware::map_request(drop_unusable_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum::middleware::from_fn(audit_names_the_request))
        // A client that stops sending its body mid-way is dropped, not waited for.
        .layer(RequestBodyTimeoutLayer::new(config.body_idle_timeout))
        .layer(cors(config))
        // No page of ours may be framed (clickjacking the password pages) or sniffed.
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")));

    let graphql_endpoint = Router::new().route("/graphql", get(graphql::endpoint).post(graphql::endpoint)).layer(
        axum::middleware::from_fn_with_state((config.max_body_bytes, config.import_max_bytes), graphql_body_limit),
    );
    let api = Router::new()
        .route("/graphql/ws", any(websocket::endpoint))
        .route("/", get(pages::home))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/health", get(health))
        .route("/graphiql/{version}/{file}", get(crate::graphiql::asset))
        .route("/reset-password", get(pages::reset_password))
        .route("/set-password", get(pages::set_password))
        .route("/accept-invitation", get(pages::accept_invitation))
        .route("/imports/template.csv", get(import_template))
        .route("/imports/countries.csv", get(import_countries))
        .route("/imports/{id}/errors.csv", get(import_errors))
        .route("/users.csv", get(export::users_csv))
        .nest("/scim/v2", crate::scim::router(state.services.clone()))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));
    // Uploads get their own, larger limit.
    let uploads = Router::new()
        .route("/imports", post(import_upload))
        .layer(DefaultBodyLimit::max(config.import_max_bytes))
        .layer(RequestBodyLimitLayer::new(config.import_max_bytes));
    api.merge(uploads).merge(graphql_endpoint).layer(middleware).with_state(state)
}

/// A client's request id is kept for tracing only when it is a plain token (letters, digits,
/// `-`, `_`, `.`, at most 64): anything else would be echoed into logs and responses as sent.
async fn drop_unusable_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    let usable = |value: &HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty() && bytes.len() <= 64 && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
    };
    if request.headers().get(REQUEST_ID).is_some_and(|value| !usable(value)) {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// The audit events a request writes carry its id (the client's, if usable, or ours).
async fn audit_names_the_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    crate::domain::work::with_request_id(request_id, next.run(request)).await
}

/// A request refused before it reaches GraphQL, answered in GraphQL's shape.
fn refused_request(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]});
    (status, Json(body)).into_response()
}

/// POST /graphql takes JSON, or a multipart upload that carries `Authorization` (only signed-in
/// users upload). Both content types a browser may send cross-site without asking first
/// (`text/plain`, forms) are refused, so another site cannot make a visitor's browser run a
/// public mutation (a password reset, a login). JSON requests may be at most
/// `PORTAL_MAX_BODY_BYTES`; uploads get the import limit.
async fn graphql_body_limit(
    State((json_limit, upload_limit)): State<(usize, usize)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let multipart = essence == "multipart/form-data";
    let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if request.method() == Method::POST && !json && !multipart {
        let message = format!("POST /graphql takes `Content-Type: application/json`, not `{content_type}`");
        return refused_request(StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    if multipart && !request.headers().contains_key(header::AUTHORIZATION) {
        let message = "a multipart request (a file upload) must carry `Authorization: Bearer <token>`".to_owned();
        return refused_request(StatusCode::BAD_REQUEST, message);
    }
    let limit = if multipart { upload_limit } else { json_limit };
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        let message = format!("the request is larger than the limit of {limit} bytes");
        return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
    }
    next.run(request.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit)))).await
}

fn cors(config: &Config) -> CorsLayer {
    // No configured origin: no CORS headers at all, so browsers allow same-origin calls only.
    if config.cors_origins.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(config.cors_origins.clone())
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
}

/// The token of an `Authorization: Bearer …` value; no header is anonymous, any other scheme
/// is an error (a client that sends credentials wants to know they were not understood).
fn bearer_token(value: Option<&str>) -> Result<Option<&str>, DomainError> {
    let Some(value) = value else { return Ok(None) };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(DomainError::Unauthenticated("the Authorization header must be `Bearer <token>`".into())),
    }
}

async fn resolve(services: &Services, token: Option<&str>) -> Result<Option<Principal>, DomainError> {
    match token {
        None => Ok(None),
        Some(token) => principal::authenticate(services, token).await.map(Some),
    }
}

/// Fresh per request (or websocket connection): cached rows never cross callers.
fn loaders(services: &Services, window: Duration) -> DataLoader<Loaders> {
    // Keys requested within the window (1 ms unless configured) go in one batch. A page's rows
    // ask for their keys in one pass of the executor (siblings are polled together), so the
    // window only has to outlast that pass; each millisecond of it is added to every nested
    // level of every query (5 ms cost ~6 ms a page). A loaded machine may split a batch.
    DataLoader::new(Loaders { services: services.clone() }, tokio::spawn).delay(window)
}

/// A CSV download for a signed-in user with USER_MANAGEMENT; errors are plain text.
async fn csv_download(state: &AppState, headers: &HeaderMap, file_name: &str, body: String) -> Response {
    match import_caller(state, headers).await {
        Ok(_) => csv_attachment(file_name, body),
        Err(error) => error.into_response(),
    }
}

fn csv_attachment(file_name: &str, body: impl Into<axum::body::Body>) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body.into(),
    )
        .into_response()
}

async fn import_template(State(state): State<AppState>, headers: HeaderMap) -> Response {
    csv_download(&state, &headers, "users-template.csv", crate::import::template()).await
}

/// The country names and codes an import accepts.
async fn import_countries(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut body = String::from("\u{feff}Code,Name\r\n");
    for country in crate::domain::countries::all() {
        body.push_str(&format!("{},\"{}\"\r\n", country.code, country.name.replace('"', "\"\"")));
    }
    csv_download(&state, &headers, "countries.csv", body).await
}

/// The caller of a plain HTTP endpoint, held to USER_MANAGEMENT.
async fn import_caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, HttpError> {
    let Some(token) = bearer_token(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()))? else {
        return Err(DomainError::Unauthenticated("send Authorization: Bearer <token>".into()).into());
    };
    let principal = principal::authenticate(&state.services, token).await?;
    principal.authorize(Access::Module(Module::UserManagement))?;
    Ok(principal)
}

/// `POST /imports?dryRun=true&sendWelcomeEmails=false&fileName=users.csv` with the CSV as the
/// body, for scripts: answers the job (202) at once; the work goes on in the background. The
/// body streams into the database as it arrives.
async fn import_upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
    body: axum::body::Body,
) -> Result<impl IntoResponse, HttpError> {
    let principal = import_caller(&state, &headers).await?;
    let options = upload_options(&params).map_err(|problem| DomainError::invalid("query", problem))?;
    let company_id = principal
        .company()
        .map_err(|_| DomainError::Forbidden("imports belong to a company: sign in as one of its users".into()))?;
    let content = tokio_util::io::StreamReader::new(futures_util::TryStreamExt::map_err(
        body.into_data_stream(),
        std::io::Error::other,
    ));
    let job = crate::import::job::start(&state.imports, company_id, principal.person_id(), options, content).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"id": job.id, "status": job.status}))))
}

/// The query parameters of `POST /imports`, strictly: a flag is `true`, `false`, `1` or `0` in
/// any case, and an unknown parameter is an error, so `dry_run=true` or `dryRun=yes` never
/// runs a real import by accident.
fn upload_options(params: &std::collections::HashMap<String, String>) -> Result<crate::import::Options, String> {
    let known = ["dryRun", "sendWelcomeEmails", "fileName", "subAccountIds"];
    if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "unknown parameter `{unknown}`: the parameters are dryRun, sendWelcomeEmails, fileName and subAccountIds"
        ));
    }
    // Comma-separated ids.
    let sub_account_ids = match params.get("subAccountIds").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|id| id.trim().parse().map_err(|_| format!("`subAccountIds`: {} is not a valid id", id.trim())))
            .collect::<Result<_, _>>()?,
    };
    let flag = |name: &str, default: bool| match params.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" => Ok(false),
        Some(_) => Err(format!("`{name}` must be true, false, 1 or 0")),
    };
    Ok(crate::import::Options {
        file_name: params.get("fileName").cloned(),
        dry_run: flag("dryRun", false)?,
        send_welcome_emails: flag("sendWelcomeEmails", true)?,
        sub_account_ids,
    })
}

/// The uploaded rows plus an `Errors` column, streamed.
async fn import_errors(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, HttpError> {
    let principal = import_caller(&state, &headers).await?;
    let id = id.parse().map_err(|_| DomainError::NotFound("import job"))?;
    let stream = crate::import::error_log::error_log(&state.imports, &principal, id).await?;
    Ok(csv_attachment("errors.csv", axum::body::Body::from_stream(stream)))
}

/// Liveness and readiness: 200 when the database answers, on the writer and on the readers
/// (one pool on PostgreSQL), 503 when it does not.
async fn health(State(state): State<AppState>) -> Response {
    let services = &state.services;
    let both = async { futures_util::try_join!(services.db.ping(), services.reads.ping()).map(|_| ()) };
    let database = tokio::time::timeout(Duration::from_secs(3), both).await;
    match database {
        Ok(Ok(())) => Json(serde_json::json!({"status": "ok", "database": "ok"})).into_response(),
        outcome => {
            let reason = match outcome {
                Ok(Err(error)) => error.to_string(),
                _ => "timed out".to_owned(),
            };
            tracing::warn!(reason, "health check: database unavailable");
            let body = serde_json::json!({"status": "unavailable", "database": "unavailable"});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
