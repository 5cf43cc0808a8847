//! `GET /users.csv`: the company's users as Excel opens them, with the filters and orderings
//! of `users`, audited; and the round trip: an exported file of active users imports into
//! another company without edits.

use crate::common;

use common::{TestApp, data};
use serde_json::{Value, json};

backend_tests!(an_export_reads_right_in_excel_and_imports_elsewhere, export_parameters_are_strict_and_guarded);

const OWNER: &str = "owner@source.example";
const HEADER: &str = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active,\
                      Status,Role,Modules,Sub-accounts,Created at,Activated at,Last signed in at,Deactivated at";

async fn create(
    app: &TestApp,
    owner: &str,
    given: &str,
    surname: &str,
    email: &str,
    title: &str,
    manager: &str,
) -> String {
    let input = json!({"givenName": given, "surname": surname, "email": email, "jobTitle": title,
                       "managerEmail": manager, "country": "CO"});
    let body = app
        .graphql_as(
            Some(owner),
            "mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({"i": input}),
        )
        .await;
    data(&body)["createUser"]["id"].as_str().unwrap().to_owned()
}

async fn download(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.http.get(app.url(&format!("/users.csv?{query}"))).bearer_auth(token).send().await.unwrap()
}

/// A team whose managers are all in the team (Tess and Uri manage each other), one of them with
/// a job title a spreadsheet would run as a formula.
async fn team(app: &TestApp) -> (String, Vec<String>) {
    let owner = app.company_owner("Source", OWNER).await;
    let tess = create(app, &owner, "Tess", "Núñez", "tess@source.example", "Lead", OWNER).await;
    let uri = create(app, &owner, "Uri", "Ortiz", "uri@source.example", "Engineer", "tess@source.example").await;
    let update = "mutation ($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { id } }";
    data(&app.graphql_as(Some(&owner), update, json!({"id": tess, "i": {"managerEmail": "uri@source.example"}})).await);
    let vic =
        create(app, &owner, "Vic", "Pérez", "vic@source.example", "=HYPERLINK(\"http://x\")", "uri@source.example")
            .await;
    let unit = data(
        &app.graphql_as(Some(&owner), "mutation { createSubAccount(name: \"North\") { id } }", json!({})).await,
    )["createSubAccount"]["id"]
        .clone();
    let grant = "mutation ($u: ID!, $s: [ID!]) { setUserPermissions(userId: $u, modules: [REPORTS, SUPPORT], subAccountIds: $s) { id } }";
    data(&app.graphql_as(Some(&owner), grant, json!({"u": uri, "s": [unit]})).await);
    // Someone the export of active users leaves out.
    let wes = create(app, &owner, "Wes", "Gone", "wes@source.example", "Former", "tess@source.example").await;
    data(
        &app.graphql_as(Some(&owner), "mutation ($id: ID!) { deactivateUser(id: $id) { id } }", json!({"id": wes}))
            .await,
    );
    (owner, vec![tess, uri, vic])
}

async fn an_export_reads_right_in_excel_and_imports_elsewhere(app: TestApp) {
    let (owner, team_ids) = team(&app).await;
    let response = download(&app, &owner, "status=ACTIVE&role=USER&orderBy=EMAIL").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("users.csv"));
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], HEADER);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    let emails: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(emails, ["tess@source.example", "uri@source.example", "vic@source.example"], "active users, by address");
    let uri = &rows[1];
    assert_eq!(&uri[..7], ["Uri", "Ortiz", "uri@source.example", "Engineer", "tess@source.example", "CO", "1"]);
    assert_eq!(&uri[7..11], ["ACTIVE", "USER", "SUPPORT;REPORTS", "North"]);
    assert!(chrono::DateTime::parse_from_rfc3339(&uri[11]).is_ok(), "{uri:?}");
    assert_eq!(rows[0][1], "Núñez", "UTF-8 throughout");
    assert_eq!(rows[2][3], "'=HYPERLINK(\"http://x\")", "a formula is shown, never run");
    let audited = "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'users.exported'";
    assert_eq!(app.count(audited).await, 1);

    // The people move on: their old accounts are anonymized (which frees the addresses; what
    // they hold goes to the owner), and the very same file imports into another company.
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    for id in &team_ids {
        let anonymize = "mutation ($id: ID!, $to: ID) { anonymizeUser(id: $id, transferTo: $to) { user { id } } }";
        data(&app.graphql_as(Some(&owner), anonymize, json!({"id": id, "to": owner_id})).await);
    }
    let target = app.company_owner("Target", "owner@target.example").await;
    let response = app
        .http
        .post(app.url("/imports?fileName=users.csv"))
        .bearer_auth(&target)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let query = "query ($id: ID!) { importJob(id: $id) { status createdCount errorCount } }";
    let done = common::eventually("the import finishes", async || {
        let body = app.graphql_as(Some(&target), query, json!({"id": job["id"]})).await;
        let job = data(&body)["importJob"].clone();
        (!matches!(job["status"].as_str(), Some("VALIDATING" | "IMPORTING"))).then_some(job)
    })
    .await;
    assert_eq!(done, json!({"status": "COMPLETED", "createdCount": 3, "errorCount": 0}));
    let imported = app
        .graphql_as(Some(&target), "{ users(orderBy: {field: EMAIL}, filter: {role: USER}) { edges { node { email givenName surname jobTitle managerEmail country status } } } }", json!({}))
        .await;
    let nodes: Vec<Value> =
        data(&imported)["users"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    assert_eq!(nodes.len(), 3);
    assert_eq!(
        nodes[1],
        json!({"email": "uri@source.example", "givenName": "Uri", "surname": "Ortiz", "jobTitle": "Engineer",
               "managerEmail": "tess@source.example", "country": "CO", "status": "ACTIVE"})
    );
    assert_eq!(nodes[0]["managerEmail"], "uri@source.example");
}

async fn export_parameters_are_strict_and_guarded(app: TestApp) {
    let (owner, _) = team(&app).await;
    for (query, named) in [
        ("status=activ", "status"),
        ("orderBy=AGE", "orderBy"),
        ("createdAfter=yesterday", "createdAfter"),
        ("stauts=ACTIVE", "stauts"),
        ("neverSignedIn=maybe", "neverSignedIn"),
        ("managerEmail=not-an-address", "managerEmail"),
    ] {
        let response = download(&app, &owner, query).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().await.unwrap().contains(named), "{query}");
    }
    // Filters and orderings as in `users`: the inactive person alone, newest first.
    let response = download(&app, &owner, "status=INACTIVE&orderBy=CREATED_AT&direction=DESC").await;
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("wes@source.example"));

    // Not for people without USER_MANAGEMENT, nor anonymous callers; another company's export
    // holds only its own people.
    let response = app.http.get(app.url("/users.csv")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let user = app.activate("vic@source.example").await;
    assert_eq!(download(&app, &user, "").await.status(), 403);
    let other = app.company_owner("Other", "owner@other.example").await;
    let theirs = download(&app, &other, "").await.text().await.unwrap();
    assert!(!theirs.contains("source.example") && theirs.contains("owner@other.example"), "{theirs}");
}
