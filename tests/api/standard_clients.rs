//! What standard clients expect of the endpoint: GraphQL over HTTP (GET and POST, status codes
//! and media types, request-level errors; the `graphql-http` audit), Apollo's persisted
//! queries with Apollo Client itself, and the graphql-transport-ws close codes.

use crate::common;

use common::ws::WsClient;
use common::{TestApp, data, error_code};
use serde_json::{Value, json};

backend_tests!(
    the_graphql_over_http_audit_passes,
    queries_run_over_get_and_mutations_do_not,
    malformed_requests_get_a_graphql_shaped_400,
    nothing_ran_is_a_4xx_without_data_for_the_new_media_type,
    syntax_errors_read_like_graphql_js,
    apollo_persisted_queries_register_once_then_hit,
    websocket_protocol_violations_close_with_the_protocol_codes,
    graphiql_signs_in_queries_and_follows_a_subscription_offline,
);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The reference suite of the spec (github.com/graphql/graphql-http, `serverAudits`): no MUST
/// may fail, and none of the SHOULDs (the issue allows two; today none is left).
async fn the_graphql_over_http_audit_passes(app: TestApp) {
    let Some(results) = common::node::run("audit.mjs", &[&app.url("/graphql")]).await else { return };
    assert_eq!(results["mustFailures"], json!([]), "{results:#}");
    assert_eq!(results["shouldWarnings"], json!([]), "{results:#}");
    assert!(results["ok"].as_u64().unwrap() >= 60, "{results:#}");
}

fn with_params(app: &TestApp, params: &[(&str, &str)]) -> String {
    url::Url::parse_with_params(&app.url("/graphql"), params).unwrap().to_string()
}

async fn queries_run_over_get_and_mutations_do_not(app: TestApp) {
    let get = |query: &str, accept: &str| {
        app.http.get(with_params(&app, &[("query", query)])).header("accept", accept).send()
    };
    let response = get("{ countries { code } }", "application/json").await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(data(&body)["countries"].as_array().unwrap().len(), 249);

    // Variables and the operation's name as JSON in the query string.
    let response = app
        .http
        .get(with_params(
            &app,
            &[
                ("query", "query A { viewer { id } } query B($c: String!) { __type(name: $c) { name } }"),
                ("operationName", "B"),
                ("variables", r#"{"c": "Country"}"#),
            ],
        ))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(data(&body)["__type"]["name"], "Country", "{body}");

    // A mutation over GET is refused before it runs (a link or an image must not change data).
    let tokens = "SELECT COUNT(*) AS n FROM link_tokens";
    let before = app.count(tokens).await;
    let reset = "mutation { requestPasswordReset(email: \"operator@localhost\") }";
    let response = get(reset, "application/json").await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_REQUEST");
    app.settle().await; // the link would be written in the background
    assert_eq!(app.count(tokens).await, before, "no reset link was made");
    // The same mutation over POST does make one (so the count above could have changed).
    app.graphql(reset, json!({})).await;
    app.settle().await;
    assert_eq!(app.count(tokens).await, before + 1);

    // A browser opening the endpoint gets GraphiQL; a browser sending an operation, the answer.
    let page = app.http.get(app.url("/graphql")).header("accept", "text/html,*/*").send().await.unwrap();
    assert!(page.text().await.unwrap().contains("GraphiQL"));
    let answer = get("{ __typename }", "text/html,*/*").await.unwrap();
    assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}

async fn malformed_requests_get_a_graphql_shaped_400(app: TestApp) {
    let post = |body: &'static str| {
        app.http.post(app.url("/graphql")).header("content-type", "application/json").body(body).send()
    };
    for (body, says) in [
        ("{\"query\": ", "not a GraphQL request"),
        ("{\"query\": 1}", "expected a string"),
        ("{\"query\": \"{ __typename }\", \"variables\": [1]}", "`variables` must be an object"),
        ("{\"query\": \"{ __typename }\", \"extensions\": \"x\"}", "`extensions` must be an object"),
        ("{\"variables\": {}}", "`query` is required"),
        ("[{\"query\": \"{ __typename }\"}]", "one operation per request"),
    ] {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(error_code(&answer), "BAD_REQUEST", "{body}: {answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
        assert!(!message.contains("InvalidRequest") && !message.contains("Error("), "debug text: {message}");
    }
}

/// `application/graphql-response+json` promises `data` only when something ran; a request that
/// fails before (syntax, validation, variables that do not coerce, a bad token) is a 4xx
/// without `data`. `application/json` clients keep the 200 they were written for.
async fn nothing_ran_is_a_4xx_without_data_for_the_new_media_type(app: TestApp) {
    let post = |query: &str, variables: Value, accept: &str, token: Option<&str>| {
        let mut request = app
            .http
            .post(app.url("/graphql"))
            .header("accept", accept)
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let failures = [
        ("{ viewer { id }", json!({}), None, 400),
        ("{ noSuchField }", json!({}), None, 400),
        ("query ($e: String!) { __type(name: $e) { name } }", json!({"e": 5}), None, 400),
        ("{ viewer { id } }", json!({}), Some("not-a-session"), 401),
    ];
    for (query, variables, token, status) in failures {
        let response = post(query, variables.clone(), GRAPHQL_RESPONSE, token).await.unwrap();
        assert_eq!(response.status(), status, "{query}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(GRAPHQL_RESPONSE));
        let body: Value = response.json().await.unwrap();
        assert!(body.get("data").is_none() && body["errors"][0]["message"].is_string(), "{query}: {body}");

        let response = post(query, variables, "application/json", token).await.unwrap();
        assert_eq!(response.status(), 200, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"][0]["message"].is_string(), "{body}");
    }
    // A field that fails after execution began is a 200 with `data` under either type.
    let response =
        post("{ viewer { id } users(first: 1) { totalCount } }", json!({}), GRAPHQL_RESPONSE, None).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("data").is_some() && error_code(&body) == "UNAUTHENTICATED", "{body}");
}

async fn syntax_errors_read_like_graphql_js(app: TestApp) {
    for (query, message) in [
        ("{", "Syntax Error: Expected Name, found <EOF>."),
        ("{ viewer(id: ) { id } }", "Syntax Error: Unexpected \")\"."),
        ("qery { viewer { id } }", "Syntax Error: Unexpected Name \"qery\"."),
    ] {
        let body = app.graphql(query, json!({})).await;
        assert_eq!(body["errors"][0]["message"], message, "{body}");
        assert_eq!(error_code(&body), "VALIDATION_FAILED");
        assert!(body["errors"][0]["locations"][0]["line"].is_number(), "{body}");
    }
}

/// Apollo Client's own link: the first call sends the hash alone and is told
/// PERSISTED_QUERY_NOT_FOUND, the client registers the query (POST with the text), and the
/// next calls are hash-only GETs that hit.
async fn apollo_persisted_queries_register_once_then_hit(app: TestApp) {
    let Some(results) = common::node::run("persisted-queries.mjs", &[&app.url("/graphql")]).await else { return };
    assert_eq!(results["counts"], json!([249, 249, 249]), "{results:#}");
    let requests = results["requests"].as_array().unwrap();
    let shape: Vec<(String, bool, u64, Value)> = requests
        .iter()
        .map(|r| {
            let method = r["method"].as_str().unwrap().to_owned();
            (method, r["sentQuery"].as_bool().unwrap(), r["status"].as_u64().unwrap(), r["code"].clone())
        })
        .collect();
    let not_found = json!("PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(
        shape,
        vec![
            ("GET".to_owned(), false, 404, not_found),
            ("POST".to_owned(), true, 200, Value::Null),
            ("GET".to_owned(), false, 200, Value::Null),
            ("GET".to_owned(), false, 200, Value::Null),
        ],
        "{results:#}"
    );
    // A text sent under another query's hash is refused, not registered.
    let hash = "0".repeat(64);
    let body = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
}

async fn closed(client: &mut WsClient) -> (Option<u16>, String) {
    loop {
        match client.receive().await {
            Ok(_) => continue,
            Err(closed) => return (closed.code, closed.reason),
        }
    }
}

/// github.com/enisdenjo/graphql-ws PROTOCOL.md: each violation closes with its own code, which
/// the standard client acts on (it stops retrying a 4403, for one).
async fn websocket_protocol_violations_close_with_the_protocol_codes(app: TestApp) {
    let url = app.ws_url();
    let mut client = WsClient::open(&url).await;
    client.send(json!({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})).await;
    assert_eq!(closed(&mut client).await.0, Some(4403));

    let mut client = WsClient::open(&url).await;
    client.send(json!({"type": "no such type"})).await;
    assert_eq!(closed(&mut client).await, (Some(4400), "Invalid message received".to_owned()));

    let mut client = WsClient::open(&url).await;
    client.send(json!({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})).await;
    assert_eq!(closed(&mut client).await, (Some(4401), "Unauthorized".to_owned()));

    let mut client = WsClient::connect(&url, json!({})).await.expect("acknowledged");
    client.send(json!({"type": "connection_init", "payload": {}})).await;
    assert_eq!(closed(&mut client).await.0, Some(4429));

    let mut client = WsClient::connect(&url, json!({})).await.expect("acknowledged");
    client.send(json!({"id": "", "type": "subscribe", "payload": {"query": "{ __typename }"}})).await;
    assert_eq!(closed(&mut client).await.0, Some(4400), "an empty id");

    // The socket still works for clients that follow the protocol.
    let mut client = WsClient::connect(&url, json!({})).await.expect("acknowledged");
    let result = client.execute("{ __typename }", json!({})).await;
    assert_eq!(data(&result)["__typename"], "Query");
}

/// GraphiQL in a real Chromium with every other address closed: it renders from the server's
/// own files, opens on the first steps, signs in through the login mutation, runs a query with
/// the pasted Bearer header and follows an `importProgress` subscription over the websocket.
async fn graphiql_signs_in_queries_and_follows_a_subscription_offline(app: TestApp) {
    let owner = app.company_owner("Browser", "owner@browser.example").await;
    let csv = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n\
               Ada,Lovelace,ada@browser.example,Analyst,owner@browser.example,GB,1\r\n";
    let job: Value = app
        .http
        .post(app.url("/imports?dryRun=true"))
        .bearer_auth(&owner)
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = job["id"].as_str().unwrap();
    let origin = app.url("");
    let origin = origin.trim_end_matches('/');
    let args = [origin, "owner@browser.example", common::OWNER_PASSWORD, job_id];
    let Some(seen) = common::node::run("graphiql.mjs", &args).await else { return };
    assert_eq!(seen["outside"], json!([]), "the page asked for something off the server: {seen:#}");
    assert_eq!(seen["pageErrors"], json!([]), "{seen:#}");
    assert_eq!(seen["explorerButtons"], 1, "the Explorer plugin is there");
    let first_steps = seen["defaultQuery"].as_str().unwrap();
    assert!(first_steps.contains("mutation SignIn") && first_steps.contains("Authorization"), "{first_steps}");
    assert_eq!(seen["viewer"], json!({"email": "owner@browser.example", "role": "OWNER"}), "{seen:#}");
    let progress = &seen["progress"]["data"]["importProgress"];
    assert_eq!((progress["jobId"].as_str(), &progress["status"]), (Some(job_id), &json!("VALIDATED")), "{seen:#}");
    let frames: Vec<&str> = seen["websocket"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert!(frames.starts_with(&["connection_ack", "next"]) && frames.ends_with(&["complete"]), "{frames:?}");
    assert!(seen["websocket"][0]["url"].as_str().unwrap().ends_with("/graphql/ws"));
}

/// A socket that never sends `connection_init` is closed with 4408 once the wait is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_closed_with_4408() {
    let app = TestApp::spawn_with(common::Backend::Sqlite, &[("PORTAL_WEBSOCKET_INIT_TIMEOUT_SECONDS", "1")]).await;
    let mut client = WsClient::open(&app.ws_url()).await;
    assert_eq!(closed(&mut client).await, (Some(4408), "Connection initialisation timeout".to_owned()));
}
