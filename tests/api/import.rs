//! The CSV import's files and rules: the template and country list, `POST /imports` with the raw
//! file, files as Excel writes them, the background validation (whole file before anything is
//! written), all-or-nothing import, dry runs, the error log round trip, broken files. What
//! happens while a job runs (multipart upload, progress, commit, cancellation, webhooks, the
//! terminal command) is in `import_live.rs`.

use crate::common;

use common::{TestApp, data, error_code};
use serde_json::json;

backend_tests!(
    the_template_and_countries_are_downloadable,
    an_excel_file_imports_after_a_dry_run,
    a_file_with_errors_creates_nobody_and_its_log_round_trips,
    broken_files_get_one_clear_error,
    upload_parameters_are_strict,
);

const JOB: &str =
    "query ($id: ID!) { importJob(id: $id) { status dryRun totalRows createdCount errorCount errorLogUrl } }";

async fn upload(app: &TestApp, token: &str, file: &[u8], dry_run: bool) -> String {
    let response = app
        .http
        .post(app.url(&format!("/imports?dryRun={dry_run}&fileName=users.csv")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(file.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Polls the job until it has finished.
async fn finished(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    common::eventually("the import finishes", async || {
        let body = app.graphql_as(Some(token), JOB, json!({"id": id})).await;
        let job = data(&body)["importJob"].clone();
        (!matches!(job["status"].as_str(), Some("VALIDATING" | "IMPORTING"))).then_some(job)
    })
    .await
}

async fn count_users(app: &TestApp, token: &str, search: &str) -> u64 {
    let body = app
        .graphql_as(
            Some(token),
            "query ($s: String) { users(filter: {search: $s}) { totalCount } }",
            json!({"s": search}),
        )
        .await;
    data(&body)["users"]["totalCount"].as_u64().unwrap()
}

async fn an_excel_file_imports_after_a_dry_run(app: TestApp) {
    let owner = app.company_owner("Excel", "owner@excel.example").await;
    // What Excel writes in a Spanish locale: BOM, `;`, CRLF, quotes, accents.
    let file = "\u{feff}Given Name;Surname;Email address;Job title;Manager's email address;Country;Is Active\r\n\
                José;Pérez;jose@excel.example;\"Buyer; senior\";owner@excel.example;Colombia;1\r\n\
                Ana;Núñez;ana@excel.example;Analyst;jose@excel.example;ES;0\r\n\
                Zoë;O'Brien;zoe@excel.example;\"Head, Ops\";ana@excel.example;;1\r\n\
                Bo;Back;bo@excel.example;C:\\Ops\\new \\N;owner@excel.example;;1\r\n";
    let id = upload(&app, &owner, file.as_bytes(), true).await;
    let job = finished(&app, &owner, &id).await;
    assert_eq!(
        job,
        json!({"status": "VALIDATED", "dryRun": true, "totalRows": 4, "createdCount": 0, "errorCount": 0, "errorLogUrl": null})
    );
    assert_eq!(count_users(&app, &owner, "excel.example").await, 1, "a dry run writes nobody");

    let id = upload(&app, &owner, file.as_bytes(), false).await;
    let job = finished(&app, &owner, &id).await;
    assert_eq!((&job["status"], &job["createdCount"]), (&json!("COMPLETED"), &json!(4)));
    let body = app.graphql_as(Some(&owner), "{ users(filter: {search: \"perez\"}) { edges { node { email jobTitle country status manager { email } } } } }", json!({})).await;
    assert_eq!(
        data(&body)["users"]["edges"][0]["node"],
        json!({"email": "jose@excel.example", "jobTitle": "Buyer; senior", "country": "CO", "status": "ACTIVE", "manager": {"email": "owner@excel.example"}})
    );
    // Backslashes and COPY's NULL marker arrive as they were written (PostgreSQL loads the
    // file through COPY's text format, where they must be escaped).
    let body = app
        .graphql_as(Some(&owner), "{ users(filter: {search: \"bo@excel\"}) { nodes { jobTitle } } }", json!({}))
        .await;
    assert_eq!(data(&body)["users"]["nodes"][0], json!({"jobTitle": "C:\\Ops\\new \\N"}));
    let body = app
        .graphql_as(Some(&owner), "{ users(filter: {status: INACTIVE}) { edges { node { email } } } }", json!({}))
        .await;
    assert_eq!(data(&body)["users"]["edges"][0]["node"]["email"], "ana@excel.example");
    let body = app
        .graphql_as(Some(&owner), "{ importJobs { totalCount } auditEvents { edges { node { action } } } }", json!({}))
        .await;
    assert_eq!(data(&body)["importJobs"]["totalCount"], 2);
    let imports = data(&body)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["action"] == "import.completed")
        .count();
    assert_eq!(imports, 1, "one audit event for the import, not one per row");
}

async fn a_file_with_errors_creates_nobody_and_its_log_round_trips(app: TestApp) {
    let owner = app.company_owner("Errors", "owner@errors.example").await;
    let file = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\n\
                Good,Row,good@errors.example,Analyst,owner@errors.example,CO,1\n\
                ,\"=HYPERLINK(\"\"http://evil.example\"\")\",bad-address,Analyst,owner@errors.example,Atlantis,yes\n\
                \u{20} Dup ,Licate\u{20},good@errors.example,Analyst,ghost@errors.example,,1\n";
    let id = upload(&app, &owner, file.as_bytes(), false).await;
    let job = finished(&app, &owner, &id).await;
    assert_eq!(job["status"], "FAILED_VALIDATION");
    assert_eq!(job["errorCount"], 7);
    assert_eq!(count_users(&app, &owner, "errors.example").await, 1, "all or nothing: not even the good row");

    let url = job["errorLogUrl"].as_str().unwrap();
    let path = url.trim_start_matches("http://127.0.0.1:8080");
    let log = app.http.get(app.url(path)).bearer_auth(&owner).send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        "\u{feff}Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active,Errors"
    );
    assert!(
        lines[1].starts_with(
            "Good,Row,good@errors.example,Analyst,owner@errors.example,CO,1,good@errors.example is also on row 4"
        ),
        "{log}"
    );
    assert!(lines[2].contains("Given Name is required") && lines[2].contains("Is Active must be 1 or 0"), "{log}");
    // A cell a spreadsheet would run comes back as text.
    assert!(lines[2].starts_with(",\"'=HYPERLINK(\"\"http://evil.example\"\")\",bad-address,"), "{log}");
    assert!(lines[3].contains("ghost@errors.example is neither a user of the company nor a row of this file"), "{log}");
    assert!(lines[3].starts_with("  Dup ,Licate ,good@errors.example,"), "cells exactly as uploaded: {log}");

    // Fix the rows in the log, drop its Errors column, upload again.
    let fixed = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\n\
                 Good,Row,good@errors.example,Analyst,owner@errors.example,CO,1\n\
                 Nina,Named,nina@errors.example,Analyst,owner@errors.example,Spain,0\n\
                 Dup,Licate,dup@errors.example,Analyst,good@errors.example,,1\n";
    let id = upload(&app, &owner, fixed.as_bytes(), false).await;
    assert_eq!(finished(&app, &owner, &id).await["createdCount"], 3);

    // Another company sees neither the job nor its log.
    let other = app.company_owner("Others", "owner@others.example").await;
    let body = app.graphql_as(Some(&other), JOB, json!({"id": id})).await;
    assert_eq!(data(&body)["importJob"], serde_json::Value::Null);
    let response = app.http.get(app.url(path)).bearer_auth(&other).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

async fn broken_files_get_one_clear_error(app: TestApp) {
    let owner = app.company_owner("Broken", "owner@broken.example").await;
    let latin1: &[u8] = b"Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\nJos\xe9,P,j@broken.example,B,owner@broken.example,,1\n";
    for (file, expected) in [
        (&b""[..], "The file is empty"),
        (latin1, "CSV UTF-8"),
        (&b"Name,Email\nAna,ana@broken.example\n"[..], "missing Given Name"),
        // An .xlsx uploaded by mistake: a zip archive, binary.
        (&b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb7\xac\xce\xfe\x00\x00"[..], "CSV UTF-8"),
    ] {
        let id = upload(&app, &owner, file, false).await;
        let job = finished(&app, &owner, &id).await;
        assert_eq!((&job["status"], &job["errorCount"]), (&json!("FAILED_VALIDATION"), &json!(1)));
        let path = job["errorLogUrl"].as_str().unwrap().trim_start_matches("http://127.0.0.1:8080").to_owned();
        let log = app.http.get(app.url(&path)).bearer_auth(&owner).send().await.unwrap().text().await.unwrap();
        assert!(log.contains(expected), "{log}");
    }
    // A header alone is a valid, empty import.
    let header = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n";
    let id = upload(&app, &owner, header.as_bytes(), true).await;
    assert_eq!(finished(&app, &owner, &id).await["status"], "VALIDATED");
}

async fn the_template_and_countries_are_downloadable(app: TestApp) {
    let response = app.http.get(app.url("/imports/template.csv")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let owner = app.company_owner("Imports", "owner@imports.example").await;

    let response = app.http.get(app.url("/imports/template.csv")).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let template = response.text().await.unwrap();
    assert!(template.starts_with(
        "\u{feff}Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n"
    ));
    assert_eq!(template.lines().count(), 3, "header and two example rows");
    let body = app.graphql_as(Some(&owner), "{ userImportTemplate }", json!({})).await;
    assert_eq!(data(&body)["userImportTemplate"], template.as_str());

    let countries =
        app.http.get(app.url("/imports/countries.csv")).bearer_auth(&owner).send().await.unwrap().text().await.unwrap();
    assert_eq!(countries.lines().count(), 250);
    assert!(countries.contains("CO,\"Colombia\""));

    // A user without USER_MANAGEMENT gets neither.
    let operator = app.operator_token().await;
    let response = app.http.get(app.url("/imports/template.csv")).bearer_auth(&operator).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body = app.graphql_as(Some(&operator), "{ userImportTemplate }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

/// `dryRun=TRUE` is a dry run; `dryRun=yes` or `dry_run=true` are refused, naming the
/// parameter, and start nothing (they used to run a real import).
async fn upload_parameters_are_strict(app: TestApp) {
    let owner = app.company_owner("Strict", "owner@strict.example").await;
    let file = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n\
                Ana,Strict,ana@strict.example,Analyst,owner@strict.example,CO,1\r\n";
    let post = |query: &'static str| {
        let (app, owner) = (&app, owner.clone());
        async move {
            app.http.post(app.url(&format!("/imports?{query}"))).bearer_auth(owner).body(file).send().await.unwrap()
        }
    };
    for (query, named) in
        [("dryRun=yes", "dryRun"), ("dry_run=true", "dry_run"), ("sendWelcomeEmails=maybe", "sendWelcomeEmails")]
    {
        let response = post(query).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().await.unwrap().contains(named), "{query}");
    }
    let response = post("dryRun=TRUE&sendWelcomeEmails=False").await;
    assert_eq!(response.status(), 202);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let job = finished(&app, &owner, &id).await;
    assert_eq!((&job["dryRun"], &job["status"]), (&json!(true), &json!("VALIDATED")));
    let body = app.graphql_as(Some(&owner), "{ importJobs { totalCount } }", json!({})).await;
    assert_eq!(data(&body)["importJobs"]["totalCount"], 1, "the refused uploads started nothing");
}
