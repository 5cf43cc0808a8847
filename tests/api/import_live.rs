//! The CSV import as it runs: the GraphQL multipart upload, live progress over
//! `graphql-transport-ws` (first and last messages, a late subscriber, another server process on
//! the same PostgreSQL database), signed `import.progress` / `import.completed` webhooks, a
//! dry run committed (and refused when the portal changed), cancellation, welcome emails,
//! size limits and `portal import` at a terminal.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::receiver::{Receiver, verifies as verify};
use common::{Backend, TestApp, data, error_code};
use portal::domain::ImportStatus;
use portal::domain::clock::Clock;
use portal::import::progress::Progress;
use portal::notify::email::EmailNotifier;
use portal::notify::mailbox::MailboxDir;
use portal::notify::plugin::{Channel, Notifier, Outcome, Outgoing};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    a_multipart_upload_is_followed_to_its_end_with_signed_webhooks,
    a_dry_run_is_committed_unless_the_portal_changed,
    cancelling_a_running_import_rolls_it_back,
    a_write_half_done_serves_reads_and_is_cancelled,
    a_login_during_a_write_succeeds,
    a_crash_in_the_middle_of_a_write_shows_nobody_and_the_job_resumes,
    a_write_that_fails_halfway_deletes_what_it_wrote,
    a_write_longer_than_its_lease_keeps_its_job,
    imported_users_get_welcome_emails_unless_asked_not_to,
    uploads_over_the_limit_are_refused,
    an_import_interrupted_by_a_crash_resumes_on_the_next_start,
    welcome_emails_interrupted_by_a_crash_resume_after_the_last_sent,
    welcome_emails_wait_out_a_mail_outage,
    a_long_error_log_names_every_row_in_order,
    a_stalled_upload_holds_no_database_connection,
    concurrent_uploads_respect_the_company_limit,
    a_progress_subscription_ends_with_its_session,
    every_problem_of_a_row_is_reported_at_once,
);

const HEADER: &str = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n";
const START: &str = "mutation ($file: Upload!, $dry: Boolean, $welcome: Boolean!) {
    startUserImport(file: $file, dryRun: $dry, sendWelcomeEmails: $welcome) { id status dryRun fileName } }";
const JOB: &str =
    "query ($id: ID!) { importJob(id: $id) { status dryRun totalRows processedRows createdCount errorCount } }";
const PROGRESS: &str = "subscription ($id: ID!) { importProgress(jobId: $id) {
    jobId status totalRows processedRows createdCount errorCount warningCount } }";

/// `rows` valid rows under `domain`, every one managed by `manager`.
fn generated(rows: usize, domain: &str, manager: &str) -> String {
    let mut file = String::from(HEADER);
    for i in 0..rows {
        file.push_str(&format!("Given{i},Surname{i},user{i}@{domain},Analyst,{manager},CO,1\r\n"));
    }
    file
}

/// POST /graphql as a GraphQL multipart request (the spec's `operations`, `map`, then the file).
async fn multipart(app: &TestApp, token: &str, query: &str, variables: Value, file: &[u8]) -> reqwest::Response {
    let boundary = "portal-test-boundary-7d3f";
    let mut variables = variables;
    variables["file"] = Value::Null;
    let operations = json!({"query": query, "variables": variables});
    let mut body = Vec::new();
    let mut part = |headers: &str, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part("Content-Disposition: form-data; name=\"operations\"", operations.to_string().as_bytes());
    part("Content-Disposition: form-data; name=\"map\"", br#"{"0": ["variables.file"]}"#);
    part("Content-Disposition: form-data; name=\"0\"; filename=\"users.csv\"\r\nContent-Type: text/csv", file);
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    app.http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn start(app: &TestApp, token: &str, file: &str, dry_run: bool, welcome: bool) -> String {
    let response = multipart(app, token, START, json!({"dry": dry_run, "welcome": welcome}), file.as_bytes()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let job = &data(&body)["startUserImport"];
    assert_eq!((&job["dryRun"], &job["fileName"]), (&json!(dry_run), &json!("users.csv")));
    job["id"].as_str().unwrap().to_owned()
}

/// Every message of an `importProgress` subscription, until it completes.
async fn follow(ws: &mut common::ws::WsClient, id: &str) -> Vec<Value> {
    let operation = ws.subscribe(PROGRESS, json!({"id": id})).await;
    let mut messages = Vec::new();
    while let Some(payload) = ws.next_payload(&operation).await {
        messages.push(data(&payload)["importProgress"].clone());
    }
    messages
}

async fn job(app: &TestApp, token: &str, id: &str) -> Value {
    data(&app.graphql_as(Some(token), JOB, json!({"id": id})).await)["importJob"].clone()
}

async fn until(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    common::eventually_within(30, &format!("the job {status}"), async || {
        let job = job(app, token, id).await;
        (job["status"] == status).then_some(job)
    })
    .await
}

/// Waits until a write paused by `pause_write` holds after its first batch (transaction open).
async fn until_the_write_holds(app: &TestApp) {
    common::eventually("the write holds after its first batch", async || {
        (app.imports.running.writes_paused() > 0).then_some(())
    })
    .await;
}

async fn users_under(app: &TestApp, token: &str, domain: &str) -> u64 {
    let body = app
        .graphql_as(
            Some(token),
            "query ($s: String) { users(filter: {search: $s}) { totalCount } }",
            json!({"s": domain}),
        )
        .await;
    data(&body)["users"]["totalCount"].as_u64().unwrap()
}

async fn a_multipart_upload_is_followed_to_its_end_with_signed_webhooks(app: TestApp) {
    let owner = app.company_owner("Live", "owner@live.example").await;
    let hooks = Receiver::start().await;
    let (_, secret) = app.webhook_endpoint(&owner, &hooks.url(), &["import.progress", "import.completed"]).await;

    let rows = 5_000;
    let id = start(&app, &owner, &generated(rows, "live.example", "owner@live.example"), false, false).await;
    let mut ws = app.ws(json!({"Authorization": format!("Bearer {owner}")})).await.unwrap();
    let messages = follow(&mut ws, &id).await;

    // The first message is the job as it was when subscribing; the last is the final state,
    // after which the subscription completes. In between, nothing goes backwards.
    let first = &messages[0];
    assert_eq!(first["jobId"], id.as_str());
    assert!(["VALIDATING", "IMPORTING", "COMPLETED"].contains(&first["status"].as_str().unwrap()), "{first}");
    let last = messages.last().unwrap();
    assert_eq!(
        last,
        &json!({"jobId": id, "status": "COMPLETED", "totalRows": rows, "processedRows": rows, "createdCount": rows,
                "errorCount": 0, "warningCount": 0})
    );
    if first["status"] == "VALIDATING" {
        // Subscribed while it ran: the states in between reached the subscriber live.
        assert!(messages.iter().any(|m| m["status"] == "IMPORTING"), "{messages:?}");
    }
    for pair in messages.windows(2) {
        let step = |m: &Value| (m["processedRows"].as_i64().unwrap(), m["createdCount"].as_i64().unwrap());
        assert!(step(&pair[0]) <= step(&pair[1]), "progress never goes back: {messages:?}");
    }
    assert_eq!(users_under(&app, &owner, "live.example").await, rows as u64 + 1);

    // A late subscriber gets the final state at once, then the end.
    let late = follow(&mut ws, &id).await;
    assert_eq!(late, vec![last.clone()]);

    // Webhooks: progress while validating (the first batch is well over 10% of the file) and
    // the completion with its counts, each signed so that a Standard Webhooks consumer accepts it.
    let completed = loop {
        let requests = hooks.requests();
        let found =
            requests.iter().find(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["type"] == "import.completed");
        if let Some(request) = found {
            break (request.clone(), requests);
        }
        hooks.nth(requests.len() + 1).await;
    };
    let (completed, requests) = completed;
    assert!(requests.iter().all(|r| verify(&secret, r)), "every delivery verifies");
    let body: Value = serde_json::from_slice(&completed.body).unwrap();
    assert_eq!(body["data"]["jobId"], id.as_str());
    assert_eq!((&body["data"]["createdCount"], &body["data"]["errorLogUrl"]), (&json!(rows), &Value::Null));
    let progress: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|b| b["type"] == "import.progress")
        .collect();
    assert!(!progress.is_empty(), "at least one import.progress");
    assert!(progress.len() <= 22, "throttled to every 10% per phase: {}", progress.len());
    assert!(progress.iter().all(|p| p["data"]["jobId"] == id.as_str() && p["data"]["totalRows"] == rows));

    // Another company cannot follow the job.
    let other = app.company_owner("Elsewhere", "owner@elsewhere.example").await;
    let mut ws = app.ws(json!({"Authorization": format!("Bearer {other}")})).await.unwrap();
    let operation = ws.subscribe(PROGRESS, json!({"id": id})).await;
    let answer = ws.next_payload(&operation).await.unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "NOT_FOUND", "{answer}");
}

async fn a_dry_run_is_committed_unless_the_portal_changed(app: TestApp) {
    let owner = app.company_owner("Commit", "owner@commit.example").await;
    let file = format!(
        "{HEADER}Ana,A,ana@commit.example,Buyer,owner@commit.example,CO,1\r\nBen,B,ben@commit.example,Buyer,ana@commit.example,,0\r\n"
    );
    let id = start(&app, &owner, &file, true, false).await;
    until(&app, &owner, &id, "VALIDATED").await;
    assert_eq!(users_under(&app, &owner, "commit.example").await, 1, "a dry run writes nobody");
    let commit = "mutation ($id: ID!) { commitUserImport(id: $id) { id status dryRun } }";
    let body = app.graphql_as(Some(&owner), commit, json!({"id": id})).await;
    assert_eq!(data(&body)["commitUserImport"]["status"], "IMPORTING");
    let done = until(&app, &owner, &id, "COMPLETED").await;
    assert_eq!((&done["createdCount"], &done["totalRows"]), (&json!(2), &json!(2)));
    let body = app
        .graphql_as(
            Some(&owner),
            "query ($id: ID!) { importJob(id: $id) { fileName fileSize sendWelcomeEmails startedAt finishedAt startedBy { email } } }",
            json!({"id": id}),
        )
        .await;
    let details = &data(&body)["importJob"];
    assert_eq!(details["startedBy"]["email"], "owner@commit.example");
    assert_eq!((&details["fileName"], &details["fileSize"]), (&json!("users.csv"), &json!(file.len())));
    assert!(details["startedAt"].is_string() && details["finishedAt"].is_string(), "{details}");
    assert_eq!(users_under(&app, &owner, "commit.example").await, 3);
    let body = app.graphql_as(Some(&owner), commit, json!({"id": id})).await;
    assert_eq!(error_code(&body), "CONFLICT", "a job is written once");

    // The portal changes between the dry run and the commit: refused, nothing written.
    let file = format!(
        "{HEADER}Cy,C,cy@commit.example,Buyer,owner@commit.example,CO,1\r\nDi,D,di@commit.example,Buyer,cy@commit.example,,1\r\n"
    );
    let id = start(&app, &owner, &file, true, false).await;
    until(&app, &owner, &id, "VALIDATED").await;
    let create = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";
    let input = json!({"givenName": "Cy", "surname": "Early", "email": "cy@commit.example", "jobTitle": "Buyer",
                       "managerEmail": "owner@commit.example", "isActive": false});
    data(&app.graphql_as(Some(&owner), create, json!({"input": input})).await);
    let body = app.graphql_as(Some(&owner), commit, json!({"id": id})).await;
    assert_eq!(error_code(&body), "CONFLICT");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("cy@commit.example already has an account"), "{message}");
    assert_eq!(job(&app, &owner, &id).await["status"], "VALIDATED", "still there to discard");
    assert_eq!(users_under(&app, &owner, "di@commit.example").await, 0);

    // Discarding the dry run; then it can be neither committed nor cancelled again.
    let cancel = "mutation ($id: ID!) { cancelUserImport(id: $id) { status } }";
    let body = app.graphql_as(Some(&owner), cancel, json!({"id": id})).await;
    assert_eq!(data(&body)["cancelUserImport"]["status"], "CANCELLED");
    assert_eq!(error_code(&app.graphql_as(Some(&owner), commit, json!({"id": id})).await), "CONFLICT");
    assert_eq!(error_code(&app.graphql_as(Some(&owner), cancel, json!({"id": id})).await), "CONFLICT");
}

async fn cancelling_a_running_import_rolls_it_back(app: TestApp) {
    let owner = app.company_owner("Cancel", "owner@cancel.example").await;
    // Three batches; the validation is held after the first, so the job is still validating
    // when the cancellation comes (however fast the machine).
    let paused = app.imports.running.pause_validation().await;
    let id = start(&app, &owner, &generated(5_000, "cancel.example", "owner@cancel.example"), false, false).await;
    let mut ws = app.ws(json!({"Authorization": format!("Bearer {owner}")})).await.unwrap();
    let operation = ws.subscribe(PROGRESS, json!({"id": id})).await;
    let first = ws.next_payload(&operation).await.unwrap();
    let first = &data(&first)["importProgress"];
    assert_eq!(first["status"], "VALIDATING", "{first}");

    let cancel = "mutation ($id: ID!) { cancelUserImport(id: $id) { status } }";
    let body = app.graphql_as(Some(&owner), cancel, json!({"id": id})).await;
    assert_eq!(data(&body)["cancelUserImport"]["status"], "CANCELLED");
    drop(paused);
    let mut last = first.clone();
    while let Some(payload) = ws.next_payload(&operation).await {
        last = data(&payload)["importProgress"].clone();
    }
    assert_eq!((&last["status"], &last["createdCount"]), (&json!("CANCELLED"), &json!(0)));
    assert_eq!(users_under(&app, &owner, "cancel.example").await, 1, "nobody but the owner");
    let body = app.graphql_as(Some(&owner), cancel, json!({"id": id})).await;
    assert_eq!(error_code(&body), "CONFLICT", "already ended");
    let body = app.graphql_as(Some(&owner), "{ auditEvents { edges { node { action targetId } } } }", json!({})).await;
    let cancelled: Vec<&Value> = data(&body)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["action"] == "import.cancelled")
        .collect();
    assert_eq!(cancelled.len(), 1, "one audit event for the cancellation");
    assert_eq!(cancelled[0]["node"]["targetId"], id.as_str());
}

/// The rows a job has written, shown or not (what no client can count).
async fn rows_written_by(app: &TestApp, id: &str) -> u64 {
    let job: portal::types::ImportJobId = id.parse().unwrap();
    let rows = portal::db::users::find_including_hidden().filter(portal::db::users::Column::ImportJobId.eq(job));
    rows.count(&app.db).await.unwrap()
}

/// Whether the job's rows are hidden (listed in `hidden_imports`).
async fn hidden(app: &TestApp, id: &str) -> bool {
    let job: portal::types::ImportJobId = id.parse().unwrap();
    portal::db::hidden_imports::Entity::find_by_id(job).one(&app.db).await.unwrap().is_some()
}

/// Every way in to a person of the halfway file while its write is half done, tried as an
/// attacker would: the owner's reports, the staff's counts, a password reset for one of them
/// (same answer as for anyone, and no email), a sign-in with their address.
async fn nobody_of_the_file_shows_anywhere(app: &TestApp, owner: &str) {
    let reports = "{ users(filter: {managerEmail: \"owner@halfway.example\"}) { totalCount } }";
    let body = app.graphql_as(Some(owner), reports, json!({})).await;
    assert_eq!(data(&body)["users"]["totalCount"], 0, "{body}");
    let operator = app.operator_token().await;
    let counts = "{ companies(filter: {search: \"Halfway\"}) { nodes { userCounts { total invited active } } } }";
    let body = app.graphql_as(Some(&operator), counts, json!({})).await;
    assert_eq!(data(&body)["companies"]["nodes"][0]["userCounts"], json!({"total": 1, "invited": 0, "active": 1}));
    let reset = "mutation ($e: String!) { requestPasswordReset(email: $e) }";
    let body = app.graphql_as(None, reset, json!({"e": "user1@halfway.example"})).await;
    assert_eq!(data(&body)["requestPasswordReset"], true, "the same answer as for anyone");
    let login = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let body = app.graphql_as(None, login, json!({"e": "user1@halfway.example", "p": "Whatever-1234"})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    app.settle().await;
    assert_eq!(app.deliveries_to("user1@halfway.example").await, 0, "no reset email for a hidden person");
}

/// While a write is half done (held after its first batch, committed but hidden): reads answer
/// and see nobody of the file, and a cancellation deletes what was written. The cancellation
/// asks the running job to stop before it changes the status.
async fn a_write_half_done_serves_reads_and_is_cancelled(app: TestApp) {
    let owner = app.company_owner("Halfway", "owner@halfway.example").await;
    let paused = app.imports.running.pause_write().await;
    let id = start(&app, &owner, &generated(5_000, "halfway.example", "owner@halfway.example"), false, false).await;
    let job_id: portal::types::ImportJobId = id.parse().unwrap();
    until_the_write_holds(&app).await;

    let viewer = app.graphql_as(Some(&owner), "{ viewer { email } }", json!({})).await;
    assert_eq!(data(&viewer)["viewer"]["email"], "owner@halfway.example");
    assert_eq!(rows_written_by(&app, &id).await, 2_000, "the first batch is in");
    assert_eq!(users_under(&app, &owner, "halfway.example").await, 1, "nobody of the file shows yet");
    let search = "{ users(filter: {search: \"user1@halfway\"}) { nodes { id } } }";
    let found = app.graphql_as(Some(&owner), search, json!({})).await;
    assert_eq!(data(&found)["users"]["nodes"], json!([]), "{found}");
    // A page of a search that 2,000 hidden rows match too, from either end: the hidden rows
    // do not take the places of the page (SQLite picks it inside its search index).
    let ends = "query ($first: Int, $last: Int) { users(first: $first, last: $last, filter: {search: \"halfway\"}) { nodes { email } } }";
    for end in [json!({"first": 1}), json!({"last": 1})] {
        let found = app.graphql_as(Some(&owner), ends, end).await;
        assert_eq!(data(&found)["users"]["nodes"], json!([{"email": "owner@halfway.example"}]), "{found}");
    }
    nobody_of_the_file_shows_anywhere(&app, &owner).await;
    assert_eq!(job(&app, &owner, &id).await["status"], "IMPORTING");

    let cancel = "mutation ($id: ID!) { cancelUserImport(id: $id) { status createdCount } }";
    let cancelling = app.graphql_as(Some(&owner), cancel, json!({"id": id}));
    let releasing = async {
        common::eventually("the running job is asked to stop", async || {
            app.imports.running.cancel_requested(job_id).then_some(())
        })
        .await;
        drop(paused);
    };
    let (body, ()) = tokio::join!(cancelling, releasing);
    let cancelled = &data(&body)["cancelUserImport"];
    assert_eq!((&cancelled["status"], &cancelled["createdCount"]), (&json!("CANCELLED"), &json!(0)), "{body}");
    assert_eq!(users_under(&app, &owner, "halfway.example").await, 1, "nobody of the file, ever");
    common::eventually("the written rows are deleted", async || {
        (rows_written_by(&app, &id).await == 0 && !hidden(&app, &id).await).then_some(())
    })
    .await;
    let body = app.graphql_as(Some(&owner), cancel, json!({"id": id})).await;
    assert_eq!(error_code(&body), "CONFLICT", "already ended");
}

/// A write half done holds nothing a sign-in needs, on either database: each batch commits on
/// its own, so SQLite's only writer is free between them. The job's progress is stored as it
/// goes, and everyone shows at once at the end.
async fn a_login_during_a_write_succeeds(app: TestApp) {
    let owner = app.company_owner("Busy", "owner@busy.example").await;
    let paused = app.imports.running.pause_write().await;
    let id = start(&app, &owner, &generated(3_000, "busy.example", "owner@busy.example"), false, false).await;
    until_the_write_holds(&app).await;
    // A sign-in writes (a session, the time, an audit event).
    let token = app.login("owner@busy.example", common::OWNER_PASSWORD).await;
    let viewer = app.graphql_as(Some(&token), "{ viewer { email } }", json!({})).await;
    assert_eq!(data(&viewer)["viewer"]["email"], "owner@busy.example");
    let during = job(&app, &token, &id).await;
    assert_eq!((&during["status"], &during["createdCount"]), (&json!("IMPORTING"), &json!(2_000)), "{during}");
    drop(paused);
    let done = until(&app, &owner, &id, "COMPLETED").await;
    assert_eq!(done["createdCount"], 3_000);
    assert_eq!(users_under(&app, &owner, "busy.example").await, 3_001, "everyone shows");
    assert!(!hidden(&app, &id).await);
}

/// A process that dies in the middle of a write (here: stops after its first batch, as a dead
/// one would) leaves its batches hidden: nobody shows. The next sweep, once the lease ran out,
/// resumes the job after those batches: every row of the file, exactly once.
async fn a_crash_in_the_middle_of_a_write_shows_nobody_and_the_job_resumes(app: TestApp) {
    let owner = app.company_owner("Midway", "owner@midway.example").await;
    app.imports.running.simulate_crash(true);
    let id = start(&app, &owner, &generated(5_000, "midway.example", "owner@midway.example"), false, false).await;
    let job_id: portal::types::ImportJobId = id.parse().unwrap();
    common::eventually("the write stopped after its first batch", async || {
        (rows_written_by(&app, &id).await == 2_000 && !app.imports.running.is_running(job_id)).then_some(())
    })
    .await;
    app.imports.running.simulate_crash(false);
    assert_eq!(job(&app, &owner, &id).await["status"], "IMPORTING");
    assert_eq!(users_under(&app, &owner, "midway.example").await, 1, "nobody of the file shows");
    assert!(hidden(&app, &id).await);

    let lease = chrono::Duration::from_std(portal::import::states::LEASE).unwrap();
    app.clock.advance(lease * 2);
    assert_eq!(portal::import::runner::resume_interrupted(&app.imports).await.unwrap(), 1);
    let done = until(&app, &owner, &id, "COMPLETED").await;
    assert_eq!(done["createdCount"], 5_000);
    assert_eq!(rows_written_by(&app, &id).await, 5_000, "no row twice");
    assert_eq!(users_under(&app, &owner, "midway.example").await, 5_001);
    let search = "{ users(filter: {search: \"user4999@midway\"}) { nodes { email } } }";
    let last = app.graphql_as(Some(&owner), search, json!({})).await;
    assert_eq!(data(&last)["users"]["nodes"][0]["email"], "user4999@midway.example");
}

/// Someone takes an address of the file after it was validated, while the write is half done:
/// the write fails at that batch, and what it had written is deleted, never shown. The person
/// created meanwhile stays.
async fn a_write_that_fails_halfway_deletes_what_it_wrote(app: TestApp) {
    let owner = app.company_owner("Taken", "owner@taken.example").await;
    let paused = app.imports.running.pause_write().await;
    let id = start(&app, &owner, &generated(5_000, "taken.example", "owner@taken.example"), false, false).await;
    until_the_write_holds(&app).await;
    let input = json!({"input": {"givenName": "Early", "surname": "Bird", "email": "user4500@taken.example",
                                 "jobTitle": "Analyst", "managerEmail": "owner@taken.example"}});
    let create = "mutation ($input: CreateUserInput!) { createUser(input: $input) { email } }";
    let created = app.graphql_as(Some(&owner), create, input).await;
    assert_eq!(data(&created)["createUser"]["email"], "user4500@taken.example", "{created}");
    drop(paused);
    let failed = until(&app, &owner, &id, "FAILED").await;
    assert_eq!(failed["createdCount"], 0, "{failed}");
    let why =
        app.graphql_as(Some(&owner), "query ($id: ID!) { importJob(id: $id) { failureMessage } }", json!({"id": id}));
    let why = data(&why.await)["importJob"]["failureMessage"].as_str().unwrap().to_owned();
    assert!(why.contains("given to someone else") && why.ends_with("nothing was imported"), "{why}");
    common::eventually("the written rows are deleted", async || {
        (rows_written_by(&app, &id).await == 0 && !hidden(&app, &id).await).then_some(())
    })
    .await;
    assert_eq!(users_under(&app, &owner, "taken.example").await, 2, "the owner and the one created meanwhile");
}

/// A write may outlast the job's lease (a batch that takes longer than the lease, a renewal that
/// failed): the lease is renewed as the write completes, so no sweep takes the job, whose
/// welcome emails are still to queue, from the process running it.
async fn a_write_longer_than_its_lease_keeps_its_job(app: TestApp) {
    let owner = app.company_owner("Lengthy", "owner@lengthy.example").await;
    let paused = app.imports.running.pause_write().await;
    let id = start(&app, &owner, &generated(3_000, "lengthy.example", "owner@lengthy.example"), false, true).await;
    until_the_write_holds(&app).await;
    let lease = chrono::Duration::from_std(portal::import::states::LEASE).unwrap();
    app.clock.advance(lease * 3);
    drop(paused);
    until(&app, &owner, &id, "COMPLETED").await;
    let job_id: uuid::Uuid = id.parse().unwrap();
    let stored = portal::db::import_jobs::Entity::find_by_id(job_id).one(&app.db).await.unwrap().unwrap();
    let held_until = stored.lease_until.expect("leased");
    assert!(held_until > app.clock.now(), "held until {held_until}, now {}", app.clock.now());
}

async fn imported_users_get_welcome_emails_unless_asked_not_to(app: TestApp) {
    let owner = app.company_owner("Welcome", "owner@welcome.example").await;
    let file = format!(
        "{HEADER}Ana,A,ana@welcome.example,Buyer,owner@welcome.example,CO,1\r\nBen,B,ben@welcome.example,Buyer,ana@welcome.example,,0\r\n"
    );
    let id = start(&app, &owner, &file, false, true).await;
    until(&app, &owner, &id, "COMPLETED").await;
    let email = app.wait_for_email("ana@welcome.example").await;
    let text = email.body_text(0).unwrap().into_owned();
    assert!(text.contains("Welcome") && text.contains("/set-password?token="), "{text}");
    let link = common::mail::link(&text, "http://127.0.0.1:8080/set-password?token=");
    let token = link.split("token=").nth(1).unwrap();
    let body = app
        .graphql(
            "mutation ($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }",
            json!({"t": token, "p": "Imported-Harbour-2026!"}),
        )
        .await;
    data(&body);
    app.login("ana@welcome.example", "Imported-Harbour-2026!").await;

    let file = format!("{HEADER}Cy,C,cy@welcome.example,Buyer,owner@welcome.example,CO,1\r\n");
    let id = start(&app, &owner, &file, false, false).await;
    until(&app, &owner, &id, "COMPLETED").await;
    assert_eq!(app.deliveries_to("ben@welcome.example").await, 0, "an inactive user gets no welcome");
    assert_eq!(app.deliveries_to("cy@welcome.example").await, 0, "sendWelcomeEmails: false");
    app.settle().await;
    let mailbox = common::mail::mailbox(&app.mailbox_dir);
    let to = |needle: &str| mailbox.iter().filter(|m| String::from_utf8_lossy(m).contains(needle)).count();
    assert_eq!(to("To: ben@welcome.example"), 0, "an inactive user gets no welcome");
    assert_eq!(to("To: cy@welcome.example"), 0, "sendWelcomeEmails: false");
}

async fn uploads_over_the_limit_are_refused(app: TestApp) {
    let small = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_IMPORT_MAX_BYTES", "4096")]).await;
    let owner = small.company_owner("Limits", "owner@limits.example").await;
    let big = generated(200, "limits.example", "owner@limits.example");
    assert!(big.len() > 4096);
    let response = multipart(&small, &owner, START, json!({"dry": false, "welcome": false}), big.as_bytes()).await;
    assert_eq!(response.status(), 413);
    let response = small.http.post(small.url("/imports")).bearer_auth(&owner).body(big.clone()).send().await.unwrap();
    assert_eq!(response.status(), 413);
    // Within the limit, the same route works; JSON requests keep their own, smaller limit.
    let fits = generated(10, "limits.example", "owner@limits.example");
    let id = start(&small, &owner, &fits, false, false).await;
    until(&small, &owner, &id, "COMPLETED").await;
    let body = small.graphql_as(Some(&owner), "{ importJobs { totalCount } }", json!({})).await;
    assert_eq!(data(&body)["importJobs"]["totalCount"], 1, "the refused uploads left nothing behind");

    // At most three imports of a company run at once (held running here: leased far ahead).
    for _ in 0..3 {
        let id = start(&small, &owner, HEADER, true, false).await;
        until(&small, &owner, &id, "VALIDATED").await;
        let id = id.parse::<uuid::Uuid>().unwrap();
        let id =
            if matches!(small.backend, Backend::Sqlite) { format!("X'{}'", id.simple()) } else { format!("'{id}'") };
        let sql = format!(
            "UPDATE import_jobs SET status = 'VALIDATING', lease_until = '2999-01-01 00:00:00+00:00' WHERE id = {id}"
        );
        sea_orm::ConnectionTrait::execute_unprepared(&small.db, &sql).await.unwrap();
    }
    let response = multipart(&small, &owner, START, json!({"dry": true, "welcome": false}), fits.as_bytes()).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "CONFLICT");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("3 imports of your company are running"), "{body}");
    let response = small.http.post(small.url("/imports")).bearer_auth(&owner).body(fits.clone()).send().await.unwrap();
    assert_eq!(response.status(), 409);
}

/// Email in front of a switch: the app's mailbox while up; while down, every attempt fails as
/// a mail server that refuses connections would, and the switch counts the attempts made
/// before their delivery was recorded (the welcome pass's own, not the outbox worker's).
#[derive(Clone, Default)]
struct MailSwitch {
    down: Arc<AtomicBool>,
    tried_unrecorded: Arc<AtomicUsize>,
    tried: Arc<AtomicUsize>,
    behind: Arc<std::sync::OnceLock<SwitchedTo>>,
}

/// The mailbox plugin behind a `MailSwitch`, and the database its deliveries are recorded in.
type SwitchedTo = (Arc<dyn Notifier>, sea_orm::DatabaseConnection);

#[async_trait::async_trait]
impl Notifier for MailSwitch {
    fn name(&self) -> &'static str {
        "switch"
    }
    fn channel(&self) -> Channel {
        Channel::Email
    }
    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        let (mailbox, db) = self.behind.get().expect("set after the app starts");
        if !self.down.load(Ordering::SeqCst) {
            return mailbox.deliver(outgoing).await;
        }
        self.tried.fetch_add(1, Ordering::SeqCst);
        let recorded = portal::db::deliveries::Entity::find_by_id(outgoing.delivery_id).one(db).await.unwrap();
        if recorded.is_none() {
            self.tried_unrecorded.fetch_add(1, Ordering::SeqCst);
        }
        Outcome::Transient("SMTP: connection refused".into())
    }
}

/// The mail server is down while an import's welcome pass runs: the pass tries no more than
/// one round of emails (the rest wait in the outbox untried), records every email, and the
/// worker delivers each one once the server is back, its activation link working.
async fn welcome_emails_wait_out_a_mail_outage(app: TestApp) {
    let switch = MailSwitch::default();
    let app = TestApp::spawn_with_plugins(app.backend.clone(), &[], vec![Arc::new(switch.clone())]).await;
    let from: lettre::message::Mailbox = "Portal <no-reply@example.com>".parse().unwrap();
    let mailbox = EmailNotifier::new(MailboxDir::new(app.mailbox_dir.clone()), from);
    assert!(switch.behind.set((Arc::new(mailbox), app.db.clone())).is_ok());
    let owner = app.company_owner("Outage", "owner@outage.example").await;
    switch.down.store(true, Ordering::SeqCst);
    let id = start(&app, &owner, &generated(40, "outage.example", "owner@outage.example"), false, true).await;
    until(&app, &owner, &id, "COMPLETED").await;
    let pending = "SELECT count(*) AS n FROM import_jobs WHERE welcomes_pending";
    common::eventually("the welcome pass ends", async || (app.count(pending).await == 0).then_some(())).await;
    app.settle().await;
    let by_the_pass = switch.tried_unrecorded.load(Ordering::SeqCst);
    let round = app.worker.lanes * app.worker.concurrency;
    assert!((1..=round).contains(&by_the_pass), "the pass tried {by_the_pass} of 40 (at most {round} at once)");
    let welcomes = "FROM deliveries WHERE template = 'welcome' AND recipient LIKE 'user%@outage.example'";
    let waiting = format!("SELECT count(*) AS n {welcomes} AND status = 'FAILED' AND attempts = 1");
    assert_eq!(app.count(&waiting).await, 40, "every email recorded, tried once, waiting for its retry");
    assert_eq!(switch.tried.load(Ordering::SeqCst), 40);

    switch.down.store(false, Ordering::SeqCst);
    app.clock.advance(chrono::Duration::seconds(8)); // past the first retry's 5 s (+20%)
    app.settle().await;
    let delivered = format!("SELECT count(*) AS n {welcomes} AND status = 'DELIVERED' AND attempts = 2");
    assert_eq!(app.count(&delivered).await, 40);
    let mailbox = common::mail::mailbox(&app.mailbox_dir);
    for i in [0, 39] {
        let to = format!("To: user{i}@outage.example");
        assert_eq!(mailbox.iter().filter(|m| String::from_utf8_lossy(m).contains(&to)).count(), 1, "{to}");
    }
    let email = app.wait_for_email("user7@outage.example").await;
    let text = email.body_text(0).unwrap().into_owned();
    let link = common::mail::link(&text, "http://127.0.0.1:8080/set-password?token=");
    let token = link.split("token=").nth(1).unwrap();
    let set = "mutation ($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
    data(&app.graphql(set, json!({"t": token, "p": "After-The-Outage-2026!"})).await);
    app.login("user7@outage.example", "After-The-Outage-2026!").await;
}

async fn a_long_error_log_names_every_row_in_order(app: TestApp) {
    let owner = app.company_owner("Long", "owner@long.example").await;
    let hooks = Receiver::start().await;
    let (_, secret) = app.webhook_endpoint(&owner, &hooks.url(), &["import.completed"]).await;
    // 12,000 rows, every 1,000th with a bad flag: the log reads its issues page by page.
    let mut file = generated(12_000, "long.example", "owner@long.example");
    file = file
        .lines()
        .enumerate()
        .map(|(i, line)| if i > 0 && i % 1000 == 0 { line.replace(",CO,1", ",CO,yes") } else { line.to_owned() })
        .collect::<Vec<_>>()
        .join("\r\n");
    let id = start(&app, &owner, &file, false, false).await;
    let failed = until(&app, &owner, &id, "FAILED_VALIDATION").await;
    assert_eq!(failed["errorCount"], 12);
    let log = app.http.get(app.url(&format!("/imports/{id}/errors.csv"))).bearer_auth(&owner).send().await.unwrap();
    let log = log.text().await.unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 12_001, "the header and every row");
    let flagged: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.ends_with("not `yes`\"")).map(|(i, _)| i).collect();
    assert_eq!(flagged, (1..=12).map(|k| k * 1000).collect::<Vec<_>>(), "each message on its own row");

    // Webhook consumers hear of the failure, with the counts and where the log is.
    let request = hooks.nth(1).await;
    assert!(verify(&secret, &request));
    let event: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(event["type"], "import.completed");
    assert_eq!((&event["data"]["status"], &event["data"]["errorCount"]), (&json!("FAILED_VALIDATION"), &json!(12)));
    assert_eq!(event["data"]["errorLogUrl"], format!("http://127.0.0.1:8080/imports/{id}/errors.csv"));
}

async fn every_problem_of_a_row_is_reported_at_once(app: TestApp) {
    let owner = app.company_owner("Whole", "owner@whole.example").await;
    // Row 3 breaks its own rule (the flag) and, with the addresses it has, the file's rules:
    // its address repeats row 2's and its manager is nobody. All three come in one round.
    let file = format!(
        "{HEADER}Ana,A,ana@whole.example,Buyer,owner@whole.example,CO,1\r\n\
         Ana,Again,ana@whole.example,Buyer,ghost@whole.example,CO,yes\r\n"
    );
    let id = start(&app, &owner, &file, false, false).await;
    let failed = until(&app, &owner, &id, "FAILED_VALIDATION").await;
    assert_eq!(failed["errorCount"], 4, "{failed}");
    let log = app.http.get(app.url(&format!("/imports/{id}/errors.csv"))).bearer_auth(&owner).send().await.unwrap();
    let log = log.text().await.unwrap();
    let row3 = log.lines().nth(2).unwrap();
    for expected in [
        "Is Active must be 1 or 0, not `yes`",
        "ana@whole.example is also on row 2",
        "ghost@whole.example is neither a user of the company nor a row of this file",
    ] {
        assert!(row3.contains(expected), "{expected} missing from {row3}");
    }
    assert!(log.lines().nth(1).unwrap().ends_with("ana@whole.example is also on row 3"), "{log}");
}

async fn an_import_interrupted_by_a_crash_resumes_on_the_next_start(app: TestApp) {
    let owner = app.company_owner("Crash", "owner@crash.example").await;
    let clean = format!("{HEADER}Ana,A,ana@crash.example,Buyer,owner@crash.example,CO,1\r\n");
    let writing = start(&app, &owner, &clean, true, false).await;
    until(&app, &owner, &writing, "VALIDATED").await;
    let broken = format!("{HEADER}Bad,Row,bad@crash.example,Buyer,ghost@crash.example,CO,1\r\n");
    let validating = start(&app, &owner, &broken, false, false).await;
    until(&app, &owner, &validating, "FAILED_VALIDATION").await;
    // What a process that died in the middle leaves behind: a write whose lease ran out, and a
    // job stored but never started (its process died right after the upload).
    let long_ago = "'2000-01-01 00:00:00+00:00'";
    for (id, status, lease) in [(&writing, "IMPORTING", long_ago), (&validating, "VALIDATING", "NULL")] {
        let sql = format!(
            "UPDATE import_jobs SET status = '{status}', dry_run = false, finished_at = NULL, \
             lease_until = {lease}, created_at = {long_ago} WHERE id = '{id}'"
        );
        let sql = if matches!(app.backend, Backend::Sqlite) {
            sql.replace(&format!("'{id}'"), &format!("X'{}'", id.replace('-', "")))
        } else {
            sql
        };
        sea_orm::ConnectionTrait::execute_unprepared(&app.db, &sql).await.unwrap();
    }
    assert_eq!(job(&app, &owner, &writing).await["status"], "IMPORTING");

    // The next server process to start resumes both, from the stored files.
    let mailbox = tempfile::tempdir().unwrap();
    let next = portal::app::Application::build(common::test_config(&app.database_url, mailbox.path())).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(next.run_until(async move {
        let _ = stopped.await;
    }));
    let done = until(&app, &owner, &writing, "COMPLETED").await;
    assert_eq!(done["createdCount"], 1);
    assert_eq!(users_under(&app, &owner, "ana@crash.example").await, 1);
    let failed = until(&app, &owner, &validating, "FAILED_VALIDATION").await;
    assert_eq!(failed["errorCount"], 1, "validated again from the start, issues not doubled");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// The welcome emails are sent after the write by the process that runs the job, 2,000 users a
/// batch, each batch recorded with the mark of the last user it covered. A process that died
/// after the first 100 (its lease run out) leaves the rest to the next server, which sends each
/// remaining active user's email exactly once, over more than one batch, itself (not through
/// the outbox, which another process's worker would share), and none to someone deactivated
/// meanwhile.
async fn welcome_emails_interrupted_by_a_crash_resume_after_the_last_sent(app: TestApp) {
    let owner = app.company_owner("Resume", "owner@resume.example").await;
    let id = start(&app, &owner, &generated(2_100, "resume.example", "owner@resume.example"), false, false).await;
    until(&app, &owner, &id, "COMPLETED").await;
    let job = match app.backend {
        Backend::Sqlite => format!("X'{}'", id.replace('-', "")),
        _ => format!("'{id}'"),
    };
    let nth_imported =
        |n: usize| format!("(SELECT u.id FROM users u WHERE u.import_job_id = {job} ORDER BY u.id LIMIT 1 OFFSET {n})");
    let crashed = format!(
        "UPDATE import_jobs SET send_welcome_emails = true, welcomes_pending = true, \
         welcomed_through = {}, lease_until = '2000-01-01 00:00:00+00:00' WHERE id = {job}",
        nth_imported(99)
    );
    // Deactivated first: once the job owes emails, any server's sweep may start the pass.
    let deactivated = format!("UPDATE users SET status = 'INACTIVE' WHERE id = {}", nth_imported(150));
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, &deactivated).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, &crashed).await.unwrap();

    let mailbox = tempfile::tempdir().unwrap();
    let next = portal::app::Application::build(common::test_config(&app.database_url, mailbox.path())).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(next.run_until(async move {
        let _ = stopped.await;
    }));
    let pending = format!("SELECT count(*) AS n FROM import_jobs WHERE id = {job} AND welcomes_pending");
    common::eventually_within(60, "the welcome emails sent", async || (app.count(&pending).await == 0).then_some(()))
        .await;
    let welcomed = format!(
        "FROM deliveries d JOIN users u ON u.email = d.recipient WHERE d.template = 'welcome' AND u.import_job_id = {job}"
    );
    assert_eq!(app.count(&format!("SELECT count(*) AS n {welcomed}")).await, 2_100 - 100 - 1);
    // Sent by the pass itself before it marked the job done: all delivered, one attempt each.
    // (Either server's sweep may have taken the job: each has its mailbox.)
    let delivered = format!("SELECT count(*) AS n {welcomed} AND d.status = 'DELIVERED' AND d.attempts = 1");
    assert_eq!(app.count(&delivered).await, 1_999, "delivered when the job says it is done");
    let sent = common::mail::mailbox(mailbox.path()).len() + common::mail::mailbox(&app.mailbox_dir).len();
    assert_eq!(sent, 1_999 + 1, "each once (and the owner's welcome)");
    let links_kept = "SELECT count(*) AS n FROM outbox_events e JOIN deliveries d ON d.event_id = e.id \
         WHERE d.template = 'welcome' AND CAST(e.payload AS TEXT) LIKE '%token=%'";
    assert_eq!(app.count(links_kept).await, 0, "a delivered email's link is not kept in the outbox");
    assert_eq!(app.count(&format!("SELECT count(DISTINCT d.recipient) AS n {welcomed}")).await, 1_999, "none twice");
    let before_the_mark = format!("SELECT count(*) AS n {welcomed} AND u.id <= {}", nth_imported(99));
    assert_eq!(app.count(&before_the_mark).await, 0, "the first 100 were queued before the crash");
    let inactive = format!("SELECT count(*) AS n {welcomed} AND u.status = 'INACTIVE'");
    assert_eq!(app.count(&inactive).await, 0, "a user deactivated meanwhile gets no welcome");
    let tokens = format!(
        "SELECT count(*) AS n FROM link_tokens t JOIN users u ON u.id = t.user_id WHERE u.import_job_id = {job}"
    );
    assert_eq!(app.count(&tokens).await, 1_999, "one activation link per email");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Two server processes on one PostgreSQL database: a client subscribed to the second sees
/// states published by the first (LISTEN/NOTIFY), including ones that never reach the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(portal_postgres_tests), ignore = "PORTAL_TEST_POSTGRES_URL is not set")]
async fn another_process_sees_the_progress_on_postgres() {
    let Some(backend) = Backend::postgres() else { return };
    let app = TestApp::spawn(backend).await;
    let owner = app.company_owner("Two", "owner@two.example").await;
    let mut second = Command::new(env!("CARGO_BIN_EXE_portal"))
        .env("PORTAL_DATABASE_URL", &app.database_url)
        .env("PORTAL_LISTEN", "127.0.0.1:0")
        .env("PORTAL_MAILBOX_DIR", app.mailbox_dir.to_str().unwrap())
        .env("PORTAL_BOOTSTRAP_OPERATOR_PASSWORD", common::OPERATOR_PASSWORD)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(second.stderr.take().unwrap()).lines();
    let address = stderr
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("Portal listening on http://").nth(1).map(|a| a.split_whitespace().next().unwrap().to_owned())
        })
        .expect("the second process logs where it listens");
    // Keep reading its log, or it would block (or die) writing to a full or closed pipe.
    std::thread::spawn(move || stderr.for_each(drop));
    let url = format!("ws://{address}/graphql/ws");

    // A real import runs in the first process; the subscriber on the second sees it end.
    let rows = 3_000;
    let id = start(&app, &owner, &generated(rows, "two.example", "owner@two.example"), false, false).await;
    let mut ws =
        common::ws::WsClient::connect(&url, json!({"Authorization": format!("Bearer {owner}")})).await.unwrap();
    let messages = follow(&mut ws, &id).await;
    let last = messages.last().unwrap();
    assert_eq!((&last["status"], &last["createdCount"]), (&json!("COMPLETED"), &json!(rows)));

    // What only NOTIFY can carry: states published by the first process and never stored.
    let id = start(&app, &owner, HEADER, true, false).await;
    until(&app, &owner, &id, "VALIDATED").await;
    let job_id: portal::types::ImportJobId = id.parse().unwrap();
    let mut state = Progress {
        job_id,
        status: ImportStatus::Validating,
        total_rows: 12_345,
        processed_rows: 0,
        created_count: 0,
        error_count: 0,
        warning_count: 0,
    };
    // Make the stored job look as if it were running, so the subscription stays open.
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!("UPDATE import_jobs SET status = 'VALIDATING' WHERE id = '{job_id}'"),
    )
    .await
    .unwrap();
    let operation = ws.subscribe(PROGRESS, json!({"id": id})).await;
    let first = ws.next_payload(&operation).await.unwrap();
    assert_eq!(data(&first)["importProgress"]["totalRows"], 0, "the stored state comes first");
    for processed in [6_000, 12_345] {
        state.processed_rows = processed;
        if processed == 12_345 {
            state.status = ImportStatus::Validated;
        }
        app.imports.progress.publish(&app.db, state.clone()).await;
        // A subscriber that heard nothing for 2 s re-reads the stored job (still 0 of 0): on a
        // loaded machine such a re-read may come before the notification. The published state
        // must still follow.
        let next = loop {
            let next = ws.next_payload(&operation).await.unwrap();
            if data(&next)["importProgress"]["totalRows"] != 0 {
                break next;
            }
        };
        let next = &data(&next)["importProgress"];
        assert_eq!(
            (next["totalRows"].as_i64(), next["processedRows"].as_i64()),
            (Some(12_345), Some(i64::from(processed)))
        );
    }
    assert!(ws.next_payload(&operation).await.is_none(), "the final state ends the subscription");

    let _ = Command::new("kill").args(["-TERM", &second.id().to_string()]).status();
    let _ = second.wait();
}

/// `portal import` at a terminal: a file with errors leaves its log next to it and creates
/// nobody; the fixed file imports, with a summary.
#[test]
fn the_import_command_writes_the_error_log_next_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("portal.db").display());
    let portal = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_portal"))
            .env_remove("RUST_LOG")
            .env("PORTAL_DATABASE_URL", &database)
            .env("PORTAL_MAILBOX_DIR", dir.path().join("mailbox"))
            .env("PORTAL_ARGON2_MEMORY_KIB", "64")
            .env("PORTAL_ARGON2_ITERATIONS", "1")
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .unwrap()
    };
    let output = portal(&[
        "provision-company",
        "--name",
        "Term",
        "--owner-email",
        "owner@term.example",
        "--owner-given-name",
        "O",
        "--owner-surname",
        "T",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let company = stdout.split("(id ").nth(1).unwrap().split(')').next().unwrap().to_owned();

    let file = dir.path().join("users.csv");
    std::fs::write(&file, format!("{HEADER}Ana,A,ana@term.example,Buyer,owner@term.example,CO,1\r\nBen,B,not-an-address,Buyer,ana@term.example,,2\r\n")).unwrap();
    let output = portal(&["import", "--company", &company, file.to_str().unwrap()]);
    assert!(!output.status.success(), "a file with errors fails the command");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("FailedValidation: 2 rows, 0 created, 2 errors"), "{stdout}");
    let log = std::fs::read_to_string(dir.path().join("users.errors.csv")).unwrap();
    assert!(log.lines().next().unwrap().ends_with(",Errors"), "{log}");
    assert!(log.contains("Is Active must be 1 or 0") && log.contains("not-an-address"), "{log}");

    std::fs::write(&file, format!("{HEADER}Ana,A,ana@term.example,Buyer,owner@term.example,CO,1\r\nBen,B,ben@term.example,Buyer,ana@term.example,,0\r\n")).unwrap();
    let output = portal(&["import", "--company", &company, file.to_str().unwrap(), "--dry-run"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Dry run: the file is clean"));
    let output = portal(&["import", "--company", &company, file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("Completed: 2 rows, 2 created, 0 errors"), "{stdout}");
    // The command stays until the welcome emails are sent (after the write), for the active
    // user only.
    assert!(stdout.contains("Welcome emails sent"), "{stdout}");
    let delivered = rusqlite::Connection::open(dir.path().join("portal.db"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM deliveries WHERE template = 'welcome' AND recipient LIKE '%@term.example' \
             AND recipient <> 'owner@term.example' AND status = 'DELIVERED'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .unwrap();
    let mailbox = common::mail::mailbox(&dir.path().join("mailbox"));
    let to = |needle: &str| mailbox.iter().filter(|m| String::from_utf8_lossy(m).contains(needle)).count();
    assert_eq!((to("To: ana@term.example"), to("To: ben@term.example")), (1, 0), "in the mailbox before it returns");
    assert_eq!(delivered, 1, "ana's welcome, none for ben (inactive)");
    // The terminal is the progress bar's: the library's info lines stay out of it.
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("INFO"), "{stderr}");
    let output = portal(&["import", "--company", &company, file.to_str().unwrap()]);
    assert!(!output.status.success(), "the same file again");
    let log = std::fs::read_to_string(dir.path().join("users.errors.csv")).unwrap();
    assert!(log.contains("ana@term.example already has an account"), "{log}");
}

/// Ctrl-C at the terminal cancels the import: nothing is written, and no server resumes it.
#[test]
fn ctrl_c_cancels_the_terminal_import() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("portal.db").display());
    let portal = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portal"));
        command
            .env("PORTAL_DATABASE_URL", &database)
            .env("PORTAL_MAILBOX_DIR", dir.path().join("mailbox"))
            .env("PORTAL_ARGON2_MEMORY_KIB", "64")
            .env("PORTAL_ARGON2_ITERATIONS", "1")
            .env("NO_COLOR", "1");
        command
    };
    let output = portal()
        .args(["provision-company", "--name", "Stop", "--owner-email", "owner@stop.example"])
        .args(["--owner-given-name", "O", "--owner-surname", "S"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let company = stdout.split("(id ").nth(1).unwrap().split(')').next().unwrap().to_owned();
    let file = dir.path().join("users.csv");
    std::fs::write(&file, generated(200_000, "stop.example", "owner@stop.example")).unwrap();

    let mut import = portal()
        .args(["import", "--company", &company, file.to_str().unwrap(), "--no-welcome-emails"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(import.stderr.take().unwrap()).lines();
    stderr.by_ref().map_while(Result::ok).find(|line| line.starts_with("Importing")).expect("the import starts");
    std::thread::spawn(move || stderr.for_each(drop));
    let status = Command::new("kill").args(["-INT", &import.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = import.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success());
    assert!(stdout.contains("Cancelled: nothing was imported."), "{stdout}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = sea_orm::Database::connect(database.as_str()).await.unwrap();
        let count = |sql: &'static str| {
            let db = db.clone();
            async move {
                let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await;
                row.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
            }
        };
        use sea_orm::ConnectionTrait;
        assert_eq!(count("SELECT count(*) FROM import_jobs WHERE status = 'CANCELLED'").await, 1);
        assert_eq!(count("SELECT count(*) FROM users WHERE email LIKE '%@stop.example'").await, 1, "the owner only");
        assert_eq!(count("SELECT count(*) FROM import_file_chunks").await, 0, "the file is forgotten");
    });
}

/// A client that sends part of its upload and stops: other requests keep being served (SQLite
/// has one connection, which the upload must not hold), and the upload is dropped once it has
/// been idle for `PORTAL_BODY_IDLE_TIMEOUT_SECONDS`.
async fn a_stalled_upload_holds_no_database_connection(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_BODY_IDLE_TIMEOUT_SECONDS", "2")]).await;
    let owner = app.company_owner("Stall", "owner@stall.example").await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {owner}\r\nContent-Length: 100000\r\n\r\n{HEADER}"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    // While it stalls, the database answers others (several times over the pool's wait).
    for _ in 0..5 {
        let body = app.graphql_as(Some(&owner), "{ viewer { email } importJobs { totalCount } }", json!({})).await;
        assert_eq!(data(&body)["viewer"]["email"], "owner@stall.example");
    }
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not complete"), "{answer}");
    let body = app.graphql_as(Some(&owner), "{ importJobs { totalCount } }", json!({})).await;
    assert_eq!(data(&body)["importJobs"]["totalCount"], 0, "nothing was kept");
}

/// Ten uploads at once with two imports already running: exactly one more starts (the count
/// and the new job are one step per company), the others are refused.
async fn concurrent_uploads_respect_the_company_limit(app: TestApp) {
    let owner = app.company_owner("Burst", "owner@burst.example").await;
    for _ in 0..2 {
        let id = start(&app, &owner, HEADER, true, false).await;
        until(&app, &owner, &id, "VALIDATED").await;
        let id = id.parse::<uuid::Uuid>().unwrap();
        let id = if matches!(app.backend, Backend::Sqlite) { format!("X'{}'", id.simple()) } else { format!("'{id}'") };
        let sql = format!(
            "UPDATE import_jobs SET status = 'VALIDATING', lease_until = '2999-01-01 00:00:00+00:00' WHERE id = {id}"
        );
        sea_orm::ConnectionTrait::execute_unprepared(&app.db, &sql).await.unwrap();
    }
    // Large enough that the one that starts is still validating when the last answer comes.
    let file = generated(40_000, "burst.example", "owner@burst.example");
    let uploads = (0..10).map(|_| async {
        let response = app.http.post(app.url("/imports")).bearer_auth(&owner).body(file.clone()).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = if status == 202 { response.json().await.unwrap() } else { json!(null) };
        (status, body["id"].as_str().map(str::to_owned))
    });
    let answers = futures_util::future::join_all(uploads).await;
    let started: Vec<String> =
        answers.iter().filter(|(status, _)| *status == 202).map(|(_, id)| id.clone().unwrap()).collect();
    assert_eq!(started.len(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|(status, _)| *status == 409).count(), 9, "{answers:?}");
    let cancel = "mutation ($id: ID!) { cancelUserImport(id: $id) { status } }";
    let body = app.graphql_as(Some(&owner), cancel, json!({"id": started[0]})).await;
    assert_eq!(data(&body)["cancelUserImport"]["status"], "CANCELLED", "it was still running: {body}");
}

/// A subscription already running when its session is revoked sends UNAUTHENTICATED with its
/// next state and ends, however long the import still runs.
async fn a_progress_subscription_ends_with_its_session(app: TestApp) {
    let owner = app.company_owner("Revoked", "owner@revoked.example").await;
    let id = start(&app, &owner, &generated(60_000, "revoked.example", "owner@revoked.example"), true, false).await;
    let mut ws = app.ws(json!({"Authorization": format!("Bearer {owner}")})).await.unwrap();
    let operation = ws.subscribe(PROGRESS, json!({"id": id})).await;
    let first = ws.next_payload(&operation).await.unwrap();
    assert_eq!(data(&first)["importProgress"]["status"], "VALIDATING", "60,000 rows are still being validated");
    data(&app.graphql_as(Some(&owner), "mutation { logout }", json!({})).await);
    let mut refused = None;
    while let Some(payload) = ws.next_payload(&operation).await {
        if payload.get("errors").is_some_and(|e| !e.is_null()) {
            refused = Some(payload);
        } else {
            assert!(refused.is_none(), "nothing after the refusal: {payload}");
        }
    }
    let refused = refused.expect("the subscription was refused before it completed");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    let token = app.login("owner@revoked.example", common::OWNER_PASSWORD).await;
    let body = app.graphql_as(Some(&token), JOB, json!({"id": id})).await;
    assert_ne!(data(&body)["importJob"]["status"], "CANCELLED", "the import itself goes on");
}
