//! The HTTP and GraphQL surface of the foundation: health, GraphiQL, introspection, the public
//! queries, the error model, the request limits, authentication and the websocket endpoint.

use crate::common;

use chrono::{Duration, Utc};
use common::{TestApp, data, error_code};
use portal::db::sessions;
use portal::domain::tokens::hash_token;
use portal::domain::{Role, UserStatus};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

backend_tests!(
    health_reports_the_database,
    health_is_unavailable_when_the_database_is_down,
    graphiql_is_served_to_browsers,
    introspection_works_like_graphiql_asks_it,
    countries_lists_every_iso_country,
    password_policy_is_data,
    viewer_is_null_without_a_token,
    viewer_is_the_user_of_a_valid_session,
    bad_tokens_are_unauthenticated,
    deeply_nested_queries_are_refused,
    too_complex_queries_are_refused,
    graphql_errors_carry_a_code,
    oversized_bodies_are_refused,
    websocket_speaks_graphql_transport_ws,
    websocket_refuses_a_bad_token_at_connection_init,
    request_ids_are_kept_or_made,
    malformed_ids_are_refused_before_any_resolver,
    answers_come_in_the_type_the_client_accepts,
);

/// GraphQL over HTTP: `application/json` unless the client lists the newer
/// `application/graphql-response+json` (clients written before it must still parse answers).
async fn answers_come_in_the_type_the_client_accepts(app: TestApp) {
    let post = |accept: Option<&'static str>| {
        let mut request = app.http.post(app.url("/graphql")).json(&json!({"query": "{ __typename }"}));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["data"]["__typename"], "Query");
            content_type
        }
    };
    for accept in [None, Some("application/json"), Some("*/*"), Some("application/graphql-response+json;q=0, */*")] {
        assert!(post(accept).await.starts_with("application/json"), "Accept {accept:?}");
    }
    for accept in ["application/graphql-response+json", "application/json;q=0.9, application/graphql-response+json"] {
        assert!(post(Some(accept)).await.starts_with("application/graphql-response+json"), "Accept {accept}");
    }
}

backend_tests!(cors_allows_only_configured_origins);

/// Every ID argument is typed (a user's, a project's…): one that is not an id at all is a
/// validation error naming the value and where it is, in arguments and in input objects alike,
/// and nothing runs.
async fn malformed_ids_are_refused_before_any_resolver(app: TestApp) {
    let owner = app.company_owner("Ids", "owner@ids.example").await;
    let body = app.graphql_as(Some(&owner), "{ user(id: \"42; DROP TABLE users\") { id } }", json!({})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("\"42; DROP TABLE users\" is not a valid id"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["locations"][0]["line"], 1, "{body}");

    let create = "mutation ($input: CreateProjectInput!) { createProject(input: $input) { id } }";
    let input = json!({"subscriptionId": "not-an-id", "name": "P", "ownerId": uuid::Uuid::now_v7()});
    let body = app.graphql_as(Some(&owner), create, json!({"input": input})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("\"not-an-id\" is not a valid id"), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM projects").await, 0);

    // A well-formed id of nothing is the ordinary answer: not found, the same as another company's.
    let body = app
        .graphql_as(Some(&owner), "query ($id: ID!) { user(id: $id) { id } }", json!({"id": uuid::Uuid::now_v7()}))
        .await;
    assert_eq!(data(&body)["user"], Value::Null);
}

async fn request_ids_are_kept_or_made(app: TestApp) {
    let response = app.http.get(app.url("/health")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let a = app.http.get(app.url("/health")).send().await.unwrap();
    let b = app.http.get(app.url("/health")).send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

async fn cors_allows_only_configured_origins(app: TestApp) {
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    // The default app allows no cross-origin caller.
    let response = preflight("https://dashboard.example.com").await.unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));

    let configured =
        TestApp::spawn_with(app.backend.clone(), &[("PORTAL_CORS_ORIGINS", "https://dashboard.example.com")]).await;
    let response = configured
        .http
        .request(reqwest::Method::OPTIONS, configured.url("/graphql"))
        .header("origin", "https://dashboard.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "https://dashboard.example.com");
    let response = configured
        .http
        .request(reqwest::Method::OPTIONS, configured.url("/graphql"))
        .header("origin", "https://evil.example.net")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));
}

async fn health_reports_the_database(app: TestApp) {
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"), "every response carries a request id");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "database": "ok"}));
}

async fn health_is_unavailable_when_the_database_is_down(app: TestApp) {
    // The test shares the application's pools: closing them is the database going away.
    app.db.clone().close().await.unwrap();
    app.services.reads.clone().close().await.unwrap();
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "unavailable");

    // Any request that needs the database now gets INTERNAL, without the database's words.
    let body = app.graphql_as(Some("some-token"), "{ viewer { id } }", json!({})).await;
    assert_eq!(error_code(&body), "INTERNAL");
    assert_eq!(body["errors"][0]["message"], "Internal error; it has been logged");
}

async fn graphiql_is_served_to_browsers(app: TestApp) {
    let response = app.http.get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-eval"), "{policy}");
    let page = response.text().await.unwrap();
    // Everything from this server: no CDN, nothing to trust but ourselves.
    let sources: Vec<&str> = page
        .split("src=\"")
        .skip(1)
        .chain(page.split("href=\"").skip(1))
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert!(sources.len() >= 5 && sources.iter().all(|s| s.starts_with("/graphiql/")), "{sources:?}");
    for source in &sources {
        let asset = app.http.get(app.url(source)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{source}");
        assert!(asset.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    }
    let version = sources[0].split('/').nth(2).unwrap();
    for missing in [
        format!("/graphiql/{version}/README.md"),
        format!("/graphiql/{version}/start.js.gz"),
        "/graphiql/0/start.js".into(),
    ] {
        assert_eq!(app.http.get(app.url(&missing)).send().await.unwrap().status(), 404, "{missing}");
    }
    // Gzipped for browsers that take it, revalidated by ETag.
    let script = sources.iter().find(|s| s.ends_with("/graphiql.min.js")).unwrap();
    let plain = app.http.get(app.url(script)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let etag = plain.headers()["etag"].clone();
    let plain_length = plain.bytes().await.unwrap().len();
    let zipped = app.http.get(app.url(script)).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert!(zipped.bytes().await.unwrap().len() * 3 < plain_length, "gzip is at least 3x smaller");
    let again = app.http.get(app.url(script)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), 304);

    // A real browser with no internet renders it, under the page's policy.
    let Some(dom) = common::browser::dump_dom(&app.url("/graphql")).await else { return };
    assert!(dom.contains("graphiql-container"), "GraphiQL did not render: {}", &dom[..dom.len().min(2000)]);
    assert!(!dom.contains("Loading GraphiQL"), "the scripts did not run");
}

const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}"#;

async fn introspection_works_like_graphiql_asks_it(app: TestApp) {
    // 13 levels deep: introspection is exempt from the depth limit, or GraphiQL breaks.
    let body = app.graphql(INTROSPECTION, json!({})).await;
    let schema = &data(&body)["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    let types: Vec<&str> = schema["types"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for expected in ["User", "Country", "PasswordPolicy", "Module", "Role", "UserStatus"] {
        assert!(types.contains(&expected), "{expected} missing from {types:?}");
    }
}

async fn countries_lists_every_iso_country(app: TestApp) {
    let body = app.graphql("{ countries { code alpha3 name } }", json!({})).await;
    let countries = data(&body)["countries"].as_array().unwrap();
    assert_eq!(countries.len(), 249);
    assert!(countries.contains(&json!({"code": "CO", "alpha3": "COL", "name": "Colombia"})));
    let names: Vec<&str> = countries.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "ordered by name");
}

async fn password_policy_is_data(app: TestApp) {
    let body = app
        .graphql("{ passwordPolicy { minLength maxLength historySize rules { code description } } }", json!({}))
        .await;
    let policy = &data(&body)["passwordPolicy"];
    assert_eq!(policy["minLength"], 12);
    assert_eq!(policy["maxLength"], 128);
    assert_eq!(policy["historySize"], 5);
    let codes: Vec<&str> = policy["rules"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        ["MIN_LENGTH", "MAX_LENGTH", "UPPERCASE", "LOWERCASE", "DIGIT", "SYMBOL", "NOT_EMAIL", "NOT_RECENTLY_USED"]
    );
    assert_eq!(policy["rules"][0]["description"], "At least 12 characters");
}

async fn viewer_is_null_without_a_token(app: TestApp) {
    let body = app.graphql("{ viewer { id } }", json!({})).await;
    assert_eq!(data(&body)["viewer"], Value::Null);
}

/// A user and a session written straight into the database (login itself is another issue's).
async fn seed_session(app: &TestApp, email: &str, expires_in: Duration) -> String {
    let now = Utc::now();
    let address = portal::domain::Email::parse(email).unwrap();
    let mut user = portal::domain::users::NewUser {
        email: &address,
        company_id: None,
        role: Role::Operator,
        status: UserStatus::Active,
        given_name: Some("Olga".into()),
        surname: Some("Operator".into()),
        locale: portal::types::Locale::default(),
    }
    .into_active_model(now);
    user.country = Set(Some("CO".into()));
    let user = user.insert(&app.db).await.unwrap();
    let token = format!("test-token-{}", uuid::Uuid::new_v4());
    sessions::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(user.id),
        token_hash: Set(hash_token(&token)),
        created_at: Set(now),
        expires_at: Set(now + expires_in),
        last_seen_at: Set(now),
        revoked_at: Set(None),
        client_address: Set(None),
        user_agent: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    token
}

async fn viewer_is_the_user_of_a_valid_session(app: TestApp) {
    let token = seed_session(&app, "olga@example.com", Duration::hours(1)).await;
    let body = app
        .graphql_as(
            Some(&token),
            "{ viewer { email givenName role status country modules subAccounts { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data(&body)["viewer"],
        json!({"email": "olga@example.com", "givenName": "Olga", "role": "OPERATOR", "status": "ACTIVE",
               "country": "CO", "modules": [], "subAccounts": []})
    );
}

async fn bad_tokens_are_unauthenticated(app: TestApp) {
    let expired = seed_session(&app, "old@example.com", Duration::seconds(-1)).await;
    for token in ["not-a-session", expired.as_str()] {
        let body = app.graphql_as(Some(token), "{ viewer { id } }", json!({})).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{token}");
        assert_eq!(body["data"], Value::Null);
    }
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("authorization", "Basic b2xnYTpzZWNyZXQ=")
        .json(&json!({"query": "{ viewer { id } }"}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("Bearer"));
}

/// `{ f { f { … } } }`, `levels` fields deep.
fn nested(levels: usize) -> String {
    format!("{{ {}{} }}", "viewer { ".repeat(levels - 1) + "id", " }".repeat(levels - 1))
}

async fn deeply_nested_queries_are_refused(app: TestApp) {
    let body = app.graphql(&nested(12), json!({})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert_eq!(body["errors"][0]["message"], "Query is nested too deeply: 12 levels, at most 10 allowed");
    assert_eq!(body["data"], Value::Null);

    // Ten levels pass the depth check (and then fail validation: `viewer` has no `viewer`).
    let body = app.graphql(&nested(10), json!({})).await;
    assert!(!body["errors"][0]["message"].as_str().unwrap().contains("too deeply"), "{body}");

    // Fragments do not hide depth.
    let query = format!("query {{ ...A }} fragment A on Query {}", nested(12));
    let body = app.graphql(&query, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("too deeply"), "{body}");
}

async fn too_complex_queries_are_refused(app: TestApp) {
    // Under the alias limit, over a lowered complexity limit.
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_GRAPHQL_MAX_COMPLEXITY", "50")]).await;
    let fields: String = (0..30).map(|i| format!("c{i}: countries {{ code }} ")).collect();
    let body = app.graphql(&format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{body}");
}

async fn graphql_errors_carry_a_code(app: TestApp) {
    for query in ["{ nope }", "{ countries { code ", "query ($n: Int!) { countries { code } }"] {
        let body = app.graphql(query, json!({})).await;
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{query}: {body}");
    }
}

async fn oversized_bodies_are_refused(app: TestApp) {
    // A small limit, so the whole request fits in the socket buffers: the server's early 413
    // cannot race the client's write.
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_MAX_BODY_BYTES", "4096")]).await;
    let padding = "x".repeat(16 * 1024);
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ viewer { id } }", "variables": {"padding": padding}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let fits = app.graphql("{ viewer { id } }", json!({"padding": "x".repeat(1024)})).await;
    assert_eq!(data(&fits)["viewer"], Value::Null);
}

async fn websocket_speaks_graphql_transport_ws(app: TestApp) {
    let token = seed_session(&app, "ws@example.com", Duration::hours(1)).await;
    let mut client = app.ws(json!({"Authorization": format!("Bearer {token}")})).await.expect("accepted");
    let result = client.execute("{ viewer { email } countries { code } }", json!({})).await;
    assert_eq!(data(&result)["viewer"]["email"], "ws@example.com");
    assert_eq!(data(&result)["countries"].as_array().unwrap().len(), 249);

    let mut anonymous = app.ws(json!({})).await.expect("anonymous connections are accepted");
    let result = anonymous.execute("{ viewer { email } }", json!({})).await;
    assert_eq!(data(&result)["viewer"], Value::Null);
}

async fn websocket_refuses_a_bad_token_at_connection_init(app: TestApp) {
    let refused = app.ws(json!({"Authorization": "Bearer not-a-session"})).await;
    let closed = refused.err().expect("a bad token closes the connection");
    // The protocol's "Forbidden" (clients retry 1002 forever), with the reason.
    assert_eq!(closed.code, Some(4403), "{closed:?}");
    assert_eq!(closed.reason, "the session token is invalid or has expired");
}
