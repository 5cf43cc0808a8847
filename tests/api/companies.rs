//! The platform staff's console: listing companies with what staff need to run them, one
//! company by id, and suspending a company (its people cannot sign in, sessions and keys end).

use crate::common;

use common::receiver::{Receiver, verifies};
use common::{OWNER_PASSWORD, TestApp, data, error_code, error_fields};
use serde_json::{Value, json};

backend_tests!(staff_list_and_read_companies, suspension_ends_sessions_keys_and_sign_in);

const LIST: &str = "query ($f: CompanyFilter, $first: Int, $after: String) {
    companies(first: $first, after: $after, filter: $f) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { node { id name status suspendedAt owner { email } userCounts { invited active inactive anonymized total }
                       subscriptions { product } } } } }";

fn names(body: &Value) -> Vec<String> {
    data(body)["companies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn staff_list_and_read_companies(app: TestApp) {
    let acme = app.company_owner("Acme Tools", "owner@acme.example").await;
    let globex = app.company_owner("Globex", "owner@globex.example").await;
    let person = json!({"givenName": "Ines", "surname": "Invitee", "email": "ines@acme.example", "jobTitle": "Buyer",
                        "managerEmail": "owner@acme.example", "isActive": false});
    data(
        &app.graphql_as(
            Some(&acme),
            "mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({"i": person}),
        )
        .await,
    );
    data(
        &app.graphql_as(
            Some(&acme),
            "mutation { inviteUsers(input: {emails: [\"ivo@acme.example\"], role: USER, modules: []}) { id } }",
            json!({}),
        )
        .await,
    );
    let operator = app.operator_token().await;
    // An operator sets up a subscription for Acme (explicitly, by its owner's id).
    let acme_owner = data(&app.graphql_as(Some(&acme), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let create = "mutation ($o: ID!) { createServiceSubscription(input: {product: \"Tools\", plan: \"Gold\", ownerId: $o}) { id } }";
    data(&app.graphql_as(Some(&operator), create, json!({"o": acme_owner})).await);

    let all = app.graphql_as(Some(&operator), LIST, json!({})).await;
    assert_eq!(names(&all), ["Globex", "Acme Tools"], "newest first");
    assert_eq!(data(&all)["companies"]["totalCount"], 2);
    let acme_node = &data(&all)["companies"]["edges"][1]["node"];
    assert_eq!(acme_node["owner"]["email"], "owner@acme.example");
    assert_eq!(acme_node["status"], "ACTIVE");
    assert_eq!(acme_node["subscriptions"], json!([{"product": "Tools"}]));
    assert_eq!(data(&all)["companies"]["edges"][0]["node"]["subscriptions"], json!([]));
    let counts = &acme_node["userCounts"];
    assert_eq!((counts["active"].as_u64(), counts["total"].as_u64()), (Some(1), Some(3)), "{counts}");
    assert_eq!(counts["invited"].as_u64().unwrap() + counts["inactive"].as_u64().unwrap(), 2, "{counts}");

    // Paging and filters.
    let first = app.graphql_as(Some(&operator), LIST, json!({"first": 1})).await;
    assert_eq!(names(&first), ["Globex"]);
    let cursor = data(&first)["companies"]["pageInfo"]["endCursor"].clone();
    let second = app.graphql_as(Some(&operator), LIST, json!({"first": 1, "after": cursor})).await;
    assert_eq!(names(&second), ["Acme Tools"]);
    assert_eq!(data(&second)["companies"]["pageInfo"]["hasNextPage"], false);
    let searched = app.graphql_as(Some(&operator), LIST, json!({"f": {"search": "ACME"}})).await;
    assert_eq!(names(&searched), ["Acme Tools"]);
    let literal = app.graphql_as(Some(&operator), LIST, json!({"f": {"search": "%"}})).await;
    assert_eq!(names(&literal), Vec::<String>::new(), "% is a character, not a wildcard");
    let too_long = app.graphql_as(Some(&operator), LIST, json!({"f": {"search": "x".repeat(201)}})).await;
    assert_eq!(
        (error_code(&too_long), error_fields(&too_long)),
        ("VALIDATION_FAILED", vec!["filter.search".to_owned()])
    );

    // A support agent lists too; company people may not.
    let agent = app.support_agent().await;
    let listed = app
        .graphql_as(Some(&agent), "{ companies { totalCount edges { node { name owner { email } } } } }", json!({}))
        .await;
    assert_eq!(data(&listed)["companies"]["totalCount"], 2);
    assert_eq!(error_code(&app.graphql_as(Some(&acme), LIST, json!({})).await), "FORBIDDEN");

    // One company by id: staff any, a company's people only their own.
    let acme_id = acme_node["id"].clone();
    let one = "query ($id: ID) { company(id: $id) { name owner { email } } }";
    let read = app.graphql_as(Some(&operator), one, json!({"id": acme_id})).await;
    assert_eq!(data(&read)["company"]["name"], "Acme Tools");
    assert_eq!(data(&app.graphql_as(Some(&acme), one, json!({"id": acme_id})).await)["company"]["name"], "Acme Tools");
    assert_eq!(data(&app.graphql_as(Some(&acme), one, json!({})).await)["company"]["name"], "Acme Tools");
    assert_eq!(error_code(&app.graphql_as(Some(&globex), one, json!({"id": acme_id})).await), "NOT_FOUND");
    let unknown = json!({"id": "0190aaaa-0000-7000-8000-000000000000"});
    assert_eq!(error_code(&app.graphql_as(Some(&operator), one, unknown).await), "NOT_FOUND");
    // Without an id, staff have no company of their own.
    assert_eq!(error_code(&app.graphql_as(Some(&operator), one, json!({})).await), "FORBIDDEN");
    // Staff do not read a company's provisioning settings.
    let settings = "query ($id: ID) { company(id: $id) { settings { scimEnabled } } }";
    assert_eq!(error_code(&app.graphql_as(Some(&operator), settings, json!({"id": acme_id})).await), "FORBIDDEN");
}

async fn suspension_ends_sessions_keys_and_sign_in(app: TestApp) {
    let owner = app.company_owner("Paused", "owner@paused.example").await;
    let other = app.company_owner("Running", "owner@running.example").await;
    let receiver = Receiver::start().await;
    let (_, signing) =
        app.webhook_endpoint(&owner, &receiver.url(), &["company.suspended", "company.reactivated"]).await;
    let key = data(
        &app.graphql_as(
            Some(&owner),
            "mutation { createApiKey(input: {name: \"k\", modules: [REPORTS]}) { secret } }",
            json!({}),
        )
        .await,
    )["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let company_id =
        data(&app.graphql_as(Some(&owner), "{ company { id } }", json!({})).await)["company"]["id"].clone();
    let operator = app.operator_token().await;
    let suspend = "mutation ($id: ID!) { suspendCompany(id: $id) { status suspendedAt } }";
    let reactivate = "mutation ($id: ID!) { reactivateCompany(id: $id) { status suspendedAt } }";

    // Only operators: not the company's owner, not a support agent.
    assert_eq!(error_code(&app.graphql_as(Some(&owner), suspend, json!({"id": company_id})).await), "FORBIDDEN");
    let agent = app.support_agent().await;
    assert_eq!(error_code(&app.graphql_as(Some(&agent), suspend, json!({"id": company_id})).await), "FORBIDDEN");

    let done = app.graphql_as(Some(&operator), suspend, json!({"id": company_id})).await;
    assert_eq!(data(&done)["suspendCompany"]["status"], "SUSPENDED");
    assert!(data(&done)["suspendCompany"]["suspendedAt"].is_string());
    let probe = "{ viewer { id } }";
    assert_eq!(
        error_code(&app.graphql_as(Some(&owner), probe, json!({})).await),
        "UNAUTHENTICATED",
        "the session ended"
    );
    assert_eq!(error_code(&app.graphql_as(Some(&key), probe, json!({})).await), "UNAUTHENTICATED", "keys are refused");
    let login = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let refused = app.graphql_as(None, login, json!({"e": "owner@paused.example", "p": OWNER_PASSWORD})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    assert!(refused.to_string().contains("suspended"), "{refused}");
    // A wrong password still says only that: suspension is not an oracle for accounts.
    let wrong = app.graphql_as(None, login, json!({"e": "owner@paused.example", "p": "Wrong-Password-2026!"})).await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    // Another company is untouched.
    assert!(data(&app.graphql_as(Some(&other), probe, json!({})).await)["viewer"]["id"].is_string());
    // Suspending again changes nothing (one audit event, one webhook).
    data(&app.graphql_as(Some(&operator), suspend, json!({"id": company_id})).await);
    let filtered = app.graphql_as(Some(&operator), LIST, json!({"f": {"status": "SUSPENDED"}})).await;
    assert_eq!(names(&filtered), ["Paused"]);

    let lifted = app.graphql_as(Some(&operator), reactivate, json!({"id": company_id})).await;
    assert_eq!(data(&lifted)["reactivateCompany"], json!({"status": "ACTIVE", "suspendedAt": null}));
    let owner = app.login("owner@paused.example", OWNER_PASSWORD).await;
    assert!(data(&app.graphql_as(Some(&owner), probe, json!({})).await)["viewer"]["id"].is_string());
    assert!(data(&app.graphql_as(Some(&key), probe, json!({})).await).is_object(), "the key works again");

    let audited = "SELECT COUNT(*) AS n FROM audit_events WHERE action IN ('company.suspended', 'company.reactivated')";
    assert_eq!(app.count(audited).await, 2);
    let mut seen = Vec::new();
    for n in 1..=2 {
        let request = receiver.nth(n).await;
        assert!(verifies(&signing, &request), "signed per the standard");
        let payload: Value = serde_json::from_slice(&request.body).unwrap();
        seen.push(payload["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["company.suspended", "company.reactivated"]);
}
