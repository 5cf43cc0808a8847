//! The unit of work: every audit event names the actor, the company and the request that made
//! it; a change that fails leaves neither audit nor notification behind; uniqueness is decided
//! by the database's index, so racing requests cannot both pass and the loser is told the field.

use crate::common;

use common::{TestApp, data, error_code};
use serde_json::{Value, json};

backend_tests!(
    audit_events_name_the_request_that_made_them,
    a_failed_change_leaves_no_trail,
    racing_creations_of_one_name_make_one,
);

const CREATE: &str = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";

fn person(email: &str) -> Value {
    json!({"input": {"givenName": "Rita", "surname": "Request", "email": email, "jobTitle": "Analyst",
                     "managerEmail": "owner@acme.example"}})
}

/// POSTs `query` with the owner's session and, if given, our own `x-request-id`; returns the
/// body and the request id the server answered with.
async fn post(app: &TestApp, token: &str, request_id: Option<&str>, query: &str, variables: Value) -> (Value, String) {
    let mut request =
        app.http.post(app.url("/graphql")).bearer_auth(token).json(&json!({"query": query, "variables": variables}));
    if let Some(request_id) = request_id {
        request = request.header("x-request-id", request_id);
    }
    let response = request.send().await.unwrap();
    let answered = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    (response.json().await.unwrap(), answered)
}

async fn event_of(app: &TestApp, token: &str, target: &str) -> Value {
    let body = app
        .graphql_as(
            Some(token),
            "query ($t: ID!) { auditEvents(targetId: $t) { nodes { action actorId requestId } } }",
            json!({"t": target}),
        )
        .await;
    let events = data(&body)["auditEvents"]["nodes"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "one event for {target}: {events:?}");
    events[0].clone()
}

async fn audit_events_name_the_request_that_made_them(app: TestApp) {
    let owner = app.company_owner("Acme", "owner@acme.example").await;
    let viewer = app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await;
    let owner_id = data(&viewer)["viewer"]["id"].as_str().unwrap().to_owned();

    let (body, answered) = post(&app, &owner, Some("trace-4711.a"), CREATE, person("rita@acme.example")).await;
    assert_eq!(answered, "trace-4711.a");
    let created = data(&body)["createUser"]["id"].as_str().unwrap().to_owned();
    let event = event_of(&app, &owner, &created).await;
    assert_eq!(event["action"], "user.created");
    assert_eq!(event["actorId"], owner_id.as_str(), "the actor comes from the session");
    assert_eq!(event["requestId"], "trace-4711.a");

    // No id of the client's (or an unusable one): the event names the id the server gave.
    let (body, answered) = post(&app, &owner, Some("not a token!"), CREATE, person("rudi@acme.example")).await;
    let created = data(&body)["createUser"]["id"].as_str().unwrap().to_owned();
    assert_ne!(answered, "not a token!");
    assert_eq!(event_of(&app, &owner, &created).await["requestId"], answered.as_str());
}

async fn a_failed_change_leaves_no_trail(app: TestApp) {
    let owner = app.company_owner("Acme", "owner@acme.example").await;
    let (body, _) = post(&app, &owner, None, CREATE, person("rita@acme.example")).await;
    data(&body);
    let before = (
        app.count("SELECT COUNT(*) AS n FROM audit_events").await,
        app.count("SELECT COUNT(*) AS n FROM outbox_events").await,
    );
    // The same address again: refused after the transaction opened, so nothing it began stays.
    let (body, _) = post(&app, &owner, None, CREATE, person("Rita@Acme.example")).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    let after = (
        app.count("SELECT COUNT(*) AS n FROM audit_events").await,
        app.count("SELECT COUNT(*) AS n FROM outbox_events").await,
    );
    assert_eq!(before, after);
}

async fn racing_creations_of_one_name_make_one(app: TestApp) {
    let owner = app.company_owner("Acme", "owner@acme.example").await;
    let (body, _) = post(&app, &owner, None, CREATE, person("rita@acme.example")).await;
    data(&body);
    // The same address (in three spellings) and the same sub-account name, eight times at once.
    let users = (0..8).map(|i| {
        let email = ["ria@acme.example", "Ria@Acme.example", "RIA@acme.example"][i % 3];
        post(&app, &owner, None, CREATE, person(email))
    });
    let sub_accounts =
        (0..8).map(|_| post(&app, &owner, None, "mutation { createSubAccount(name: \"Bogotá\") { id } }", json!({})));
    let (users, sub_accounts) =
        tokio::join!(futures_util::future::join_all(users), futures_util::future::join_all(sub_accounts));
    for (answers, field) in [(users, "email"), (sub_accounts, "name")] {
        let created = answers.iter().filter(|(body, _)| body.get("errors").is_none()).count();
        assert_eq!(created, 1, "exactly one wins: {answers:?}");
        for (body, _) in answers.iter().filter(|(body, _)| body.get("errors").is_some()) {
            assert_eq!(error_code(body), "CONFLICT", "{body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
    }
    let rows = app.count("SELECT COUNT(*) AS n FROM users WHERE email = 'ria@acme.example'").await;
    assert_eq!(rows, 1);
}
