//! Reads beside writes: a GraphQL query answers while another transaction holds the writer (on
//! SQLite, the one writer connection; an import's long write is such a transaction), and sees
//! only what is committed.

use crate::common;

use common::{TestApp, data};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;

backend_tests!(a_query_answers_while_a_write_is_open);

const PEOPLE: &str = "{ viewer { email } users(first: 10, filter: {search: \"held@held\"}) { totalCount edges { node { givenName } } } }";

async fn a_query_answers_while_a_write_is_open(app: TestApp) {
    let owner = app.company_owner("Held", "owner@held.example").await;
    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({"input": {"givenName": "Before", "surname": "Held", "email": "held@held.example",
                             "jobTitle": "Analyst", "managerEmail": "owner@held.example"}}),
        )
        .await;
    let id = data(&body)["createUser"]["id"].as_str().unwrap().to_owned();
    // A token the server has not resolved yet: its session is read from the database too.
    let fresh = app.login("owner@held.example", common::OWNER_PASSWORD).await;

    // The writer is taken: on SQLite this transaction holds the pool's only writer connection
    // until it ends, as an import's write does.
    let held = app.db.begin().await.unwrap();
    let rename = "UPDATE users SET given_name = 'During' WHERE email = 'held@held.example'";
    held.execute_raw(Statement::from_string(held.get_database_backend(), rename)).await.unwrap();

    // Before the reader pool, this waited for the writer and failed after the pool's 10 s
    // acquire timeout. It answers, from what is committed.
    let body = app.graphql_as(Some(&fresh), PEOPLE, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(data(&body)["viewer"]["email"], "owner@held.example");
    assert_eq!(data(&body)["users"]["totalCount"], 1);
    assert_eq!(data(&body)["users"]["edges"][0]["node"]["givenName"], "Before");
    let one = app.graphql_as(Some(&owner), "query ($id: ID!) { user(id: $id) { givenName } }", json!({"id": id})).await;
    assert_eq!(data(&one)["user"]["givenName"], "Before", "{one}");

    held.commit().await.unwrap();
    let body = app.graphql_as(Some(&fresh), PEOPLE, json!({})).await;
    assert_eq!(data(&body)["users"]["edges"][0]["node"]["givenName"], "During", "{body}");
}
