//! What dashboards read of a user beyond the profile (issue 18): its dates, who invited it,
//! its direct reports (paged, a first page batched across the response), and `usersByIds`
//! for clients that cache, always within the caller's company.

use crate::common;

use common::{TestApp, data, error_code, error_fields};
use serde_json::{Value, json};

backend_tests!(
    a_user_shows_when_it_was_activated_signed_in_and_changed,
    direct_reports_page_and_cost_the_same_for_any_number_of_managers,
    invited_by_names_the_inviter,
    users_by_ids_answers_in_order_within_the_company,
    activity_dates_are_administrators_business,
);

const CREATE: &str = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";

async fn create(app: &TestApp, token: &str, given: &str, email: &str, manager: &str) -> String {
    let input = json!({"givenName": given, "surname": "Field", "email": email, "jobTitle": "Analyst",
                       "managerEmail": manager});
    let body = app.graphql_as(Some(token), CREATE, json!({"input": input})).await;
    data(&body)["createUser"]["id"].as_str().unwrap().to_owned()
}

const DATES: &str =
    "query ($id: ID!) { user(id: $id) { createdAt updatedAt activatedAt deactivatedAt lastSignedInAt } }";

async fn a_user_shows_when_it_was_activated_signed_in_and_changed(app: TestApp) {
    let owner = app.company_owner("Dates", "owner@dates.example").await;
    let id = create(&app, &owner, "Dana", "dana@dates.example", "owner@dates.example").await;
    let user = |body: &Value| data(body)["user"].clone();

    let fresh = user(&app.graphql_as(Some(&owner), DATES, json!({"id": id})).await);
    assert_eq!(fresh["createdAt"], fresh["updatedAt"], "{fresh}");
    assert!(fresh["activatedAt"].is_string(), "created active: {fresh}");
    assert!(fresh["lastSignedInAt"].is_null() && fresh["deactivatedAt"].is_null(), "{fresh}");

    app.clock.advance(chrono::Duration::hours(2));
    app.activate("dana@dates.example").await;
    let signed_in = user(&app.graphql_as(Some(&owner), DATES, json!({"id": id})).await);
    let at = |value: &Value| chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap();
    assert!(at(&signed_in["lastSignedInAt"]) >= at(&fresh["createdAt"]) + chrono::Duration::hours(2), "{signed_in}");
    // The owner's own sign-in is its own.
    let viewer = app.graphql_as(Some(&owner), "{ viewer { lastSignedInAt } }", json!({})).await;
    assert!(data(&viewer)["viewer"]["lastSignedInAt"].is_string(), "{viewer}");

    app.clock.advance(chrono::Duration::hours(1));
    let body =
        app.graphql_as(Some(&owner), "mutation ($id: ID!) { deactivateUser(id: $id) { id } }", json!({"id": id})).await;
    data(&body);
    let deactivated = user(&app.graphql_as(Some(&owner), DATES, json!({"id": id})).await);
    assert!(deactivated["deactivatedAt"].is_string(), "{deactivated}");
    assert!(at(&deactivated["updatedAt"]) > at(&fresh["updatedAt"]), "{deactivated}");
}

const REPORTS: &str = "query ($after: String) { users(first: 50, filter: {search: \"manager\"}) { edges { node { email
    directReports(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { email } } } } } } }";

async fn direct_reports_page_and_cost_the_same_for_any_number_of_managers(app: TestApp) {
    let owner = app.company_owner("Reports", "owner@reports.example").await;
    let mut statements = Vec::new();
    for m in 0..3 {
        let manager = format!("manager{m}@reports.example");
        create(&app, &owner, &format!("Manager{m}"), &manager, "owner@reports.example").await;
        for r in 0..3 {
            create(&app, &owner, &format!("Report{r}"), &format!("r{r}.m{m}@reports.example"), &manager).await;
        }
        let before = app.services.statements.count();
        let body = app.graphql_as(Some(&owner), REPORTS, json!({})).await;
        statements.push(app.services.statements.count() - before);
        let managers = data(&body)["users"]["edges"].as_array().unwrap().clone();
        assert_eq!(managers.len(), m + 1, "{body}");
        for edge in &managers {
            let reports = &edge["node"]["directReports"];
            let emails: Vec<&str> =
                reports["edges"].as_array().unwrap().iter().map(|e| e["node"]["email"].as_str().unwrap()).collect();
            let manager = edge["node"]["email"].as_str().unwrap();
            let index = &manager["manager".len()..manager.find('@').unwrap()];
            assert_eq!(emails, [format!("r0.m{index}@reports.example"), format!("r1.m{index}@reports.example")]);
            assert_eq!(reports["pageInfo"]["hasNextPage"], true);
            assert_eq!(reports["totalCount"], 3);
        }
    }
    // One statement for everyone's first page, whatever the number of managers (the counts
    // are one per manager, asked for).
    let without_counts: Vec<u64> = statements.iter().enumerate().map(|(m, n)| n - (m as u64 + 1)).collect();
    assert!(without_counts.windows(2).all(|w| w[0] == w[1]), "statements per request: {statements:?}");

    // The next page of one manager's reports, through its cursor.
    let body = app.graphql_as(Some(&owner), REPORTS, json!({})).await;
    let first = &data(&body)["users"]["edges"][0]["node"]["directReports"];
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap();
    let body = app.graphql_as(Some(&owner), REPORTS, json!({"after": cursor})).await;
    let next = &data(&body)["users"]["edges"][0]["node"]["directReports"];
    assert_eq!(next["edges"][0]["node"]["email"], "r2.m0@reports.example", "{next}");
    assert_eq!(next["pageInfo"]["hasNextPage"], false);

    // The same people through the listing's own filter.
    let body = app
        .graphql_as(
            Some(&owner),
            "{ users(filter: {managerEmail: \"MANAGER1@reports.example\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&body)["users"]["totalCount"], 3);
    let body =
        app.graphql_as(Some(&owner), "{ users(filter: {managerEmail: \"nope\"}) { totalCount } }", json!({})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert_eq!(error_fields(&body), ["filter.managerEmail"]);
}

async fn invited_by_names_the_inviter(app: TestApp) {
    let owner = app.company_owner("Inviting", "owner@inviting.example").await;
    let invite =
        "mutation { inviteUsers(input: {emails: [\"guest@inviting.example\"], role: USER, modules: []}) { id } }";
    data(&app.graphql_as(Some(&owner), invite, json!({})).await);
    let body = app
        .graphql_as(
            Some(&owner),
            "{ users(filter: {status: INVITED}) { edges { node { email invitedBy { email } } } } viewer { invitedBy { email } } }",
            json!({}),
        )
        .await;
    let edges = data(&body)["users"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 1, "{body}");
    assert_eq!(edges[0]["node"]["invitedBy"]["email"], "owner@inviting.example");
    // The owner was not invited by anyone of the company.
    assert!(data(&body)["viewer"]["invitedBy"].is_null(), "{body}");
}

const BY_IDS: &str = "query ($ids: [ID!]!) { usersByIds(ids: $ids) { email } }";

async fn users_by_ids_answers_in_order_within_the_company(app: TestApp) {
    let owner = app.company_owner("Cache", "owner@cache.example").await;
    let a = create(&app, &owner, "Ana", "ana@cache.example", "owner@cache.example").await;
    let b = create(&app, &owner, "Bea", "bea@cache.example", "owner@cache.example").await;
    let other = app.company_owner("Elsewhere", "owner@elsewhere.example").await;
    let theirs = create(&app, &other, "Eve", "eve@elsewhere.example", "owner@elsewhere.example").await;
    let unknown = "0192f1f0-0000-7000-8000-000000000000";

    let body = app.graphql_as(Some(&owner), BY_IDS, json!({"ids": [b, theirs, a, unknown, b]})).await;
    let emails: Vec<Value> = data(&body)["usersByIds"].as_array().unwrap().iter().map(|u| u["email"].clone()).collect();
    // Another company's user reads exactly like an id that names nobody.
    assert_eq!(
        emails,
        [json!("bea@cache.example"), Value::Null, json!("ana@cache.example"), Value::Null, json!("bea@cache.example")]
    );

    let many: Vec<String> = (0..101).map(|_| a.clone()).collect();
    let body = app.graphql_as(Some(&owner), BY_IDS, json!({"ids": many})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert_eq!(error_fields(&body), ["ids"]);
}

async fn activity_dates_are_administrators_business(app: TestApp) {
    let owner = app.company_owner("Private", "owner@private.example").await;
    create(&app, &owner, "Pia", "pia@private.example", "owner@private.example").await;
    let pia = app.activate("pia@private.example").await;
    // Without USER_MANAGEMENT: the own dates yes, another user's no.
    let own = app.graphql_as(Some(&pia), "{ viewer { lastSignedInAt invitedBy { email } } }", json!({})).await;
    assert!(data(&own)["viewer"]["lastSignedInAt"].is_string(), "{own}");
    let others = app.graphql_as(Some(&pia), "{ viewer { manager { email lastSignedInAt } } }", json!({})).await;
    assert_eq!(error_code(&others), "FORBIDDEN", "{others}");
    let reports =
        app.graphql_as(Some(&pia), "{ viewer { manager { directReports { totalCount } } } }", json!({})).await;
    assert_eq!(error_code(&reports), "FORBIDDEN", "{reports}");
    let by_ids = app.graphql_as(Some(&pia), BY_IDS, json!({"ids": []})).await;
    assert_eq!(error_code(&by_ids), "FORBIDDEN", "{by_ids}");
}
