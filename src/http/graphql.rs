//! `GET` and `POST /graphql` as the GraphQL over HTTP spec says (graphql.github.io/graphql-over-http;
//! the `graphql-http` package's audit runs in `tests/api/clients.rs`):
//! - a POST carries JSON (`{query, operationName, variables, extensions}`) or, for uploads, the
//!   multipart request spec; a GET carries the same in its query string and runs queries only
//!   (a mutation over GET is 405 with `Allow: POST`); a browser's GET without parameters gets
//!   GraphiQL;
//! - requests that are not well-formed (bad JSON, a `variables` that is not an object…) are 400
//!   with a GraphQL-shaped error coded `BAD_REQUEST`;
//! - the answer is `application/json` unless the client lists `application/graphql-response+json`
//!   in `Accept`; to those clients a request that fails before execution (syntax, validation,
//!   variables that do not coerce, authentication) is a 4xx without `data`, as that type promises;
//! - Apollo's automatic persisted queries (`persisted.rs`).

use std::net::SocketAddr;

use async_graphql::http::MultipartOptions;
use async_graphql::parser::types::OperationType;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;
use tokio_util::compat::TokioAsyncReadCompatExt;

use super::{AppState, bearer_token, loaders, refused_request, resolve};
use crate::graphql::RequestContext;
use crate::graphql::error::{ErrorCode, request_error};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The media type the client gets, from its `Accept`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    /// `application/json`: status 200 for every executed or refused operation (clients that
    /// predate the newer type read errors from the body only).
    Json,
    /// `application/graphql-response+json`: the status says whether anything ran.
    GraphqlResponse,
}

impl Answer {
    /// The newer type only to clients that list it (`;q=0` refuses it); `application/json` to
    /// everyone else (an Accept of `application/json` or `*/*`, or none).
    fn negotiate(headers: &HeaderMap) -> Answer {
        let accepts = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok());
        let listed = accepts.flat_map(|v| v.split(',')).any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            media.eq_ignore_ascii_case(GRAPHQL_RESPONSE) && !refused
        });
        if listed { Answer::GraphqlResponse } else { Answer::Json }
    }

    fn content_type(self) -> &'static str {
        match self {
            Answer::Json => "application/json",
            Answer::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// A browser opening `/graphql` (it asks for HTML and sends no operation) gets GraphiQL.
fn wants_graphiql(request: &Request) -> bool {
    let html = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"));
    html && request.uri().query().is_none_or(str::is_empty)
}

pub async fn endpoint(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if request.method() == Method::GET && wants_graphiql(&request) {
        return crate::graphiql::page().await;
    }
    let answer = Answer::negotiate(request.headers());
    let headers = request.headers().clone();
    let is_get = request.method() == Method::GET;
    let operation = match read_request(request).await {
        Ok(operation) => operation,
        Err(refusal) => return refused_request(refusal.status, refusal.message),
    };
    let operation = match state.persisted.resolve(operation) {
        Ok(operation) => operation,
        Err(error) => return answer_with(answer, async_graphql::Response::from_errors(vec![error])),
    };
    let mut operation = operation;
    let kind = operation_type(&state, &mut operation.request);
    if is_get && kind.is_some_and(|kind| kind != OperationType::Query) {
        let message = "GET runs queries only: send mutations with POST".to_owned();
        let mut response = refused_request(StatusCode::METHOD_NOT_ALLOWED, message);
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let token = match bearer_token(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())) {
        Ok(token) => token,
        Err(error) => return answer_with(answer, async_graphql::Response::from_errors(vec![request_error(error)])),
    };
    let principal = match resolve(&state.services, token).await {
        Ok(principal) => principal,
        Err(error) => return answer_with(answer, async_graphql::Response::from_errors(vec![request_error(error)])),
    };
    // A query changes nothing: it reads through the reader pool (on SQLite, beside the writer).
    // Mutations keep the writer, which also sees what they have just written.
    let services =
        if kind == Some(OperationType::Query) { state.services.for_reading() } else { state.services.clone() };
    let cleared = state.prejudged.clear(&state.limits, &mut operation.request, principal.as_ref());
    let request = operation
        .request
        .data(RequestContext { principal, client_address: Some(client.ip()) })
        .data(loaders(&services, state.batch_window))
        .data(services);
    let response = match cleared {
        // Every field was judged before the run; the extension's codes are added here.
        Some(schema) => crate::graphql::extensions::with_codes(schema.execute(request).await),
        None => state.schema.execute(request).await,
    };
    if let Some(registration) = operation.registration
        && !failed_before_execution(&response)
    {
        state.persisted.register(registration);
    }
    answer_with(answer, response)
}

/// An operation as read from the HTTP request, before persisted queries are looked up.
pub struct Operation {
    pub request: async_graphql::Request,
    /// Apollo's `extensions.persistedQuery.sha256Hash`, when the client sent one.
    pub persisted_hash: Option<String>,
    /// Set by `PersistedQueries::resolve` when the request brings a query to remember.
    pub registration: Option<super::persisted::Registration>,
}

/// The body of a JSON POST; anything else in it is ignored, as the spec allows.
#[derive(Deserialize)]
struct JsonBody {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<serde_json::Value>,
    extensions: Option<serde_json::Value>,
}

/// The GET query string uses the same names; `variables` and `extensions` are JSON texts.
#[derive(Deserialize)]
struct QueryString {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// Why a request is not a GraphQL request; answered in GraphQL's shape with `BAD_REQUEST`.
struct Refusal {
    status: StatusCode,
    message: String,
}

fn bad(message: String) -> Refusal {
    Refusal { status: StatusCode::BAD_REQUEST, message }
}

async fn read_request(request: Request) -> Result<Operation, Refusal> {
    if request.method() == Method::GET {
        let raw = request.uri().query().unwrap_or("");
        let params: QueryString =
            serde_urlencoded::from_str(raw).map_err(|e| bad(format!("the query string is not understood: {e}")))?;
        let json = |name: &str, text: Option<String>| -> Result<Option<serde_json::Value>, Refusal> {
            match text.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => {
                    serde_json::from_str(text).map(Some).map_err(|e| bad(format!("`{name}` is not JSON: {e}")))
                }
            }
        };
        let variables = json("variables", params.variables)?;
        let extensions = json("extensions", params.extensions)?;
        return operation(params.query, params.operation_name, variables, extensions).map_err(bad);
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if content_type.as_deref().is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("multipart/form-data")) {
        return read_multipart(content_type, request).await;
    }
    let bytes = match axum::body::to_bytes(request.into_body(), usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) if is_too_large(&error) => return Err(too_large()),
        Err(error) => return Err(bad(format!("the request body could not be read: {error}"))),
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(bad("batched operations are not accepted: send one operation per request".into()));
    }
    let body: JsonBody =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("the body is not a GraphQL request: {e}")))?;
    operation(body.query, body.operation_name, body.variables, body.extensions).map_err(bad)
}

fn operation(
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<serde_json::Value>,
    extensions: Option<serde_json::Value>,
) -> Result<Operation, String> {
    let variables = match variables {
        None | Some(serde_json::Value::Null) => async_graphql::Variables::default(),
        Some(value @ serde_json::Value::Object(_)) => async_graphql::Variables::from_json(value),
        Some(_) => return Err("`variables` must be an object (a map of names to values)".into()),
    };
    let persisted_hash = match extensions {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(extensions)) => super::persisted::hash_in(&extensions)?,
        Some(_) => return Err("`extensions` must be an object".into()),
    };
    if query.is_none() && persisted_hash.is_none() {
        return Err("`query` is required: the GraphQL document to run".into());
    }
    let mut request = async_graphql::Request::new(query.unwrap_or_default()).variables(variables);
    if let Some(name) = operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    Ok(Operation { request, persisted_hash, registration: None })
}

/// An upload (the GraphQL multipart request spec); the body limit was set by the middleware.
async fn read_multipart(content_type: Option<String>, request: Request) -> Result<Operation, Refusal> {
    let body = request.into_body().into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(body).compat();
    match async_graphql::http::receive_body(content_type, reader, MultipartOptions::default()).await {
        Ok(request) => Ok(Operation { request, persisted_hash: None, registration: None }),
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => Err(too_large()),
        Err(error) => Err(bad(format!("the upload is not understood: {error}"))),
    }
}

fn is_too_large(error: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn too_large() -> Refusal {
    Refusal { status: StatusCode::PAYLOAD_TOO_LARGE, message: "the request is larger than the limit".into() }
}

/// The type of the operation a request names, if it has one that parses. The limits are
/// checked first, so the parser's recursion stays bounded. A document that does not parse, or
/// is over the limits, gives `None` and runs as a POST would, on the writer, to get its error.
/// The parsed document stays in the request, so execution does not parse it again.
fn operation_type(state: &AppState, request: &mut async_graphql::Request) -> Option<OperationType> {
    state.limits.check_text(&request.query).ok()?;
    let operation_name = request.operation_name.clone();
    let document = state.documents.parse(request)?;
    let chosen = match &operation_name {
        Some(name) => document.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)).map(|(_, op)| op),
        None => document.operations.iter().next().map(|(_, op)| op),
    };
    chosen.map(|op| op.node.ty)
}

/// Nothing ran: every error is the request's (no field path) and there is no data.
fn failed_before_execution(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

fn answer_with(answer: Answer, response: async_graphql::Response) -> Response {
    let refused = failed_before_execution(&response);
    let (status, body) = if answer == Answer::GraphqlResponse && refused {
        // That media type's promise: no `data` when nothing ran, and a status that says so.
        let errors = serde_json::json!({ "errors": response.errors });
        (refusal_status(&response), serde_json::to_vec(&errors))
    } else {
        // Straight to bytes: a dashboard's answer is thousands of values, and going through
        // `serde_json::Value` first cost a twentieth of its time.
        (StatusCode::OK, serde_json::to_vec(&response))
    };
    let body = body.unwrap_or_else(|_| br#"{"errors":[{"message":"the answer could not be written"}]}"#.to_vec());
    let mut http = (status, [(header::CONTENT_TYPE, answer.content_type())], body).into_response();
    for (name, value) in response.http_headers.iter() {
        http.headers_mut().append(name, value.clone());
    }
    http
}

fn refusal_status(response: &async_graphql::Response) -> StatusCode {
    let code = response.errors.first().and_then(|e| e.extensions.as_ref()).and_then(|e| e.get("code"));
    match code {
        Some(async_graphql::Value::String(code)) if code == ErrorCode::Unauthenticated.as_str() => {
            StatusCode::UNAUTHORIZED
        }
        Some(async_graphql::Value::String(code)) if code == ErrorCode::RateLimited.as_str() => {
            StatusCode::TOO_MANY_REQUESTS
        }
        Some(async_graphql::Value::String(code)) if code == super::persisted::NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        Answer::negotiate(&headers)
    }

    #[test]
    fn only_clients_that_list_the_new_type_get_it() {
        assert_eq!(Answer::negotiate(&HeaderMap::new()), Answer::Json);
        assert_eq!(accept("application/json"), Answer::Json);
        assert_eq!(accept("*/*"), Answer::Json);
        assert_eq!(accept("application/graphql-response+json;q=0, */*"), Answer::Json);
        assert_eq!(accept("application/graphql-response+json"), Answer::GraphqlResponse);
        assert_eq!(accept("application/json;q=0.9, Application/GraphQL-Response+JSON"), Answer::GraphqlResponse);
    }

    #[test]
    fn variables_and_extensions_must_be_objects() {
        assert!(operation(Some("{a}".into()), None, Some(serde_json::json!([1])), None).is_err());
        assert!(operation(Some("{a}".into()), None, Some(serde_json::json!("x")), None).is_err());
        assert!(operation(Some("{a}".into()), None, None, Some(serde_json::json!(1))).is_err());
        assert!(operation(None, None, None, None).is_err());
        assert!(operation(Some("{a}".into()), None, Some(serde_json::Value::Null), None).is_ok());
    }
}
