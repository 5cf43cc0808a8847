//! Sessions resolved from memory (`principal_cache`): a repeated request costs no statement for
//! its session, and every way a session or its rights end is refused on the very next request,
//! with the session cached at that moment; on PostgreSQL also by another server process.

use serde_json::{Value, json};

use crate::common::{self, Backend, TestApp, data, error_code, eventually};

backend_tests!(a_cached_session_sees_every_revocation_on_its_next_request);

const PROJECTS: &str = "{ projects { id } }";
const SETTINGS: &str = "{ company { settings { scimEnabled } } }";

/// A request after which `token`'s principal is cached (the listener is up, and a repeat costs
/// no statement): any later refusal comes from the cache having been told.
async fn cached(app: &TestApp, token: &str) {
    eventually("the sessions cache is in use", async || app.services.principals.is_listening().then_some(())).await;
    // A notification of an earlier commit (the set-up's) may still be on its way on a loaded
    // machine, and forget the entry once more: wait for a repeat that costs nothing.
    eventually("a resolved session costs no statement", async || {
        data(&app.graphql_as(Some(token), "{ __typename }", json!({})).await);
        let before = app.services.statements.count();
        data(&app.graphql_as(Some(token), "{ __typename }", json!({})).await);
        (app.services.statements.count() == before).then_some(())
    })
    .await;
}

async fn user_id(app: &TestApp, owner: &str, email: &str) -> String {
    let body = app
        .graphql_as(
            Some(owner),
            "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({"input": {"givenName": "Uma", "surname": "User", "email": email, "jobTitle": "Analyst", "managerEmail": "owner@cache.example"}}),
        )
        .await;
    data(&body)["createUser"]["id"].as_str().unwrap().to_owned()
}

async fn set_modules(app: &TestApp, owner: &str, id: &str, modules: Value) {
    let body = app
        .graphql_as(
            Some(owner),
            "mutation ($id: ID!, $m: [Module!]!) { setUserPermissions(userId: $id, modules: $m) { id } }",
            json!({"id": id, "m": modules}),
        )
        .await;
    data(&body);
}

async fn a_cached_session_sees_every_revocation_on_its_next_request(app: TestApp) {
    let owner = app.company_owner("Cache", "owner@cache.example").await;
    let uma_id = user_id(&app, &owner, "uma@cache.example").await;
    let uma = app.activate("uma@cache.example").await;

    // A module granted, then taken away.
    cached(&app, &uma).await;
    assert_eq!(error_code(&app.graphql_as(Some(&uma), PROJECTS, json!({})).await), "FORBIDDEN");
    set_modules(&app, &owner, &uma_id, json!(["PROJECTS"])).await;
    data(&app.graphql_as(Some(&uma), PROJECTS, json!({})).await);
    cached(&app, &uma).await;
    set_modules(&app, &owner, &uma_id, json!([])).await;
    assert_eq!(error_code(&app.graphql_as(Some(&uma), PROJECTS, json!({})).await), "FORBIDDEN", "module taken away");

    // Administrator, then not.
    let admin = |add: bool| {
        let name = if add { "addCompanyAdmin" } else { "removeCompanyAdmin" };
        format!("mutation ($id: ID!) {{ {name}(userId: $id) {{ role }} }}")
    };
    data(&app.graphql_as(Some(&owner), &admin(true), json!({"id": uma_id})).await);
    data(&app.graphql_as(Some(&uma), SETTINGS, json!({})).await);
    cached(&app, &uma).await;
    data(&app.graphql_as(Some(&owner), &admin(false), json!({"id": uma_id})).await);
    assert_eq!(error_code(&app.graphql_as(Some(&uma), SETTINGS, json!({})).await), "FORBIDDEN", "no longer an admin");

    // A password change ends the person's other sessions, not the one it was made with.
    let other = app.login("uma@cache.example", common::USER_PASSWORD).await;
    cached(&app, &other).await;
    cached(&app, &uma).await;
    let body = app
        .graphql_as(
            Some(&uma),
            "mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            json!({"c": common::USER_PASSWORD, "n": "Another-Season-2027!"}),
        )
        .await;
    data(&body);
    assert_eq!(error_code(&app.graphql_as(Some(&other), "{ viewer { id } }", json!({})).await), "UNAUTHENTICATED");
    data(&app.graphql_as(Some(&uma), "{ viewer { id } }", json!({})).await);

    // Logout.
    let second = app.login("uma@cache.example", "Another-Season-2027!").await;
    cached(&app, &second).await;
    data(&app.graphql_as(Some(&second), "mutation { logout }", json!({})).await);
    assert_eq!(error_code(&app.graphql_as(Some(&second), "{ viewer { id } }", json!({})).await), "UNAUTHENTICATED");

    // Deactivation.
    cached(&app, &uma).await;
    let body = app
        .graphql_as(Some(&owner), "mutation ($id: ID!) { deactivateUser(id: $id) { status } }", json!({"id": uma_id}))
        .await;
    assert_eq!(data(&body)["deactivateUser"]["status"], "INACTIVE");
    assert_eq!(error_code(&app.graphql_as(Some(&uma), "{ viewer { id } }", json!({})).await), "UNAUTHENTICATED");

    // A session past its expiry, with nothing written: the clock alone ends it.
    cached(&app, &owner).await;
    app.clock.advance(chrono::Duration::days(400));
    assert_eq!(error_code(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await), "UNAUTHENTICATED");
}

/// Two server processes on one PostgreSQL database, each with its own cache: what one changes,
/// the other refuses on its next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(portal_postgres_tests), ignore = "PORTAL_TEST_POSTGRES_URL is not set")]
async fn another_process_refuses_a_revoked_session_at_once() {
    let Some(backend) = Backend::postgres() else { return };
    let app = TestApp::spawn(backend).await;
    let owner = app.company_owner("Cache", "owner@cache.example").await;
    let uma_id = user_id(&app, &owner, "uma@cache.example").await;
    let uma = app.activate("uma@cache.example").await;
    set_modules(&app, &owner, &uma_id, json!(["PROJECTS"])).await;

    let mailbox = tempfile::tempdir().unwrap();
    let next = portal::app::Application::build(common::test_config(&app.database_url, mailbox.path())).await.unwrap();
    let other = next.services().clone();
    let url = format!("http://{}/graphql", next.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(next.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let on_other = async |token: &str, query: &str| -> Value {
        let response = http.post(&url).bearer_auth(token).json(&json!({"query": query})).send().await.unwrap();
        response.json().await.unwrap()
    };
    let cached_there = async |token: &str| {
        eventually("the other process's cache is in use", async || other.principals.is_listening().then_some(())).await;
        data(&on_other(token, "{ __typename }").await);
        let before = other.statements.count();
        data(&on_other(token, "{ __typename }").await);
        assert_eq!(other.statements.count(), before, "served from the other process's cache");
    };

    cached_there(&uma).await;
    data(&on_other(&uma, PROJECTS).await);
    set_modules(&app, &owner, &uma_id, json!([])).await;
    assert_eq!(error_code(&on_other(&uma, PROJECTS).await), "FORBIDDEN", "a module taken away in the first process");

    cached_there(&uma).await;
    data(&app.graphql_as(Some(&uma), "mutation { logout }", json!({})).await);
    assert_eq!(error_code(&on_other(&uma, "{ viewer { id } }").await), "UNAUTHENTICATED", "logged out in the first");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
