//! Identity and first access: provisioning, the welcome email through a real SMTP
//! conversation, temporary passwords, reset links, lockout, no enumeration, tenancy.

use crate::common;

use common::mail::{SmtpSink, link, mailbox, value_after};
use common::{Backend, OPERATOR_EMAIL, OPERATOR_PASSWORD, TestApp, TestDatabase, data, error_code};
use portal::app::Application;
use portal::config::Config;
use portal::db::{audit_events, users};
use portal::domain::Role;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    a_temporary_password_copied_from_the_mailbox_file_works,
    first_access_story_through_smtp,
    reset_links_are_single_use_superseded_and_short_lived,
    unknown_addresses_are_not_revealed,
    repeated_failures_lock_the_account,
    login_attempts_are_limited_per_client_address,
    a_temporary_password_allows_only_changing_it,
    owners_see_only_their_company,
    the_reset_page_lists_the_rules_and_submits,
);

const PROVISION: &str = "mutation ($input: ProvisionCompanyInput!) { provisionCompany(input: $input) { id name } }";
const LOGIN: &str = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token mustChangePassword user { email role } } }";
const CHANGE: &str = "mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
const REQUEST_RESET: &str = "mutation ($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str = "mutation ($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";

async fn provision(app: &TestApp, name: &str, owner: &str) -> Value {
    let operator = app.operator_token().await;
    let input = json!({"name": name, "ownerEmail": owner, "ownerGivenName": "Ana", "ownerSurname": "Pérez"});
    let body = app.graphql_as(Some(&operator), PROVISION, json!({"input": input})).await;
    data(&body)["provisionCompany"].clone()
}

/// Waits for the `n`th email in the app's mailbox directory and returns its text body.
async fn nth_mailbox_email(app: &TestApp, n: usize) -> (String, String) {
    let raw =
        common::eventually(&format!("email #{n}"), async || mailbox(&app.mailbox_dir).into_iter().nth(n - 1)).await;
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let to = message.to().unwrap().first().unwrap().address().unwrap().to_owned();
    (to, message.body_text(0).unwrap().into_owned())
}

async fn login_body(app: &TestApp, email: &str, password: &str) -> Value {
    app.graphql(LOGIN, json!({"e": email, "p": password})).await
}

async fn first_access_story_through_smtp(app: TestApp) {
    // This story needs SMTP: a second app on the same backend, pointed at a real SMTP server.
    let smtp = SmtpSink::start();
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_SMTP_URL", &smtp.url())]).await;

    // 1. The operator provisions the company; the owner gets the welcome email.
    let company = provision(&app, "Acme Logistics", "Ana.Perez@Acme.example").await;
    assert_eq!(company["name"], "Acme Logistics");
    let received = smtp.wait_for("ana.perez@acme.example").await;
    assert_eq!(received.from, "no-reply@localhost");
    let raw = String::from_utf8_lossy(&received.raw).to_string();
    assert!(raw.contains("multipart/alternative"), "{raw}");
    let email = received.parsed();
    assert!(email.date().is_some() && email.message_id().is_some());
    assert_eq!(email.from().unwrap().first().unwrap().address(), Some("no-reply@localhost"));
    assert_eq!(email.subject(), Some("Welcome to the Acme Logistics customer portal, Ana"));
    let html = email.body_html(0).unwrap();
    assert!(html.contains("<strong>Acme Logistics</strong>"));
    let text = email.body_text(0).unwrap();
    let temporary = value_after(&text, "Your temporary password is:");
    // Handlebars escapes `=` as `&#x3D;` in HTML, which a mail reader shows as `=`.
    assert!(html.replace("&#x3D;", "=").contains(&temporary), "the HTML part carries the same password");

    // 2. Signing in with it works, flagged: nothing but changing it is allowed.
    let body = login_body(&app, "ana.perez@acme.example", &temporary).await;
    let session = &data(&body)["login"];
    assert_eq!(session["mustChangePassword"], true);
    assert_eq!(session["user"]["role"], "OWNER");
    let token = session["token"].as_str().unwrap().to_owned();
    let body = app.graphql_as(Some(&token), "{ company { name } }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("temporary password"));

    // 3. A weak new password: every broken rule at once.
    let body = app.graphql_as(Some(&token), CHANGE, json!({"c": temporary, "n": "anaperez"})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    let messages: Vec<&str> = body["errors"][0]["extensions"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "At least 12 characters",
            "At least one upper-case letter",
            "At least one digit",
            "At least one symbol (such as ! ? # % -)"
        ]
    );
    // Reusing the temporary password is a reuse of a recent one.
    let body = app.graphql_as(Some(&token), CHANGE, json!({"c": temporary, "n": temporary})).await;
    assert!(body["errors"][0]["extensions"]["fields"][0]["message"].as_str().unwrap().contains("last 5"));

    // 4. A good one: the session works fully.
    let body = app.graphql_as(Some(&token), CHANGE, json!({"c": temporary, "n": "Harbour-Lights-2026"})).await;
    assert_eq!(data(&body)["changePassword"], true);
    let body = app.graphql_as(Some(&token), "{ company { name } viewer { email } }", json!({})).await;
    assert_eq!(data(&body)["company"]["name"], "Acme Logistics");

    // 5. The other way in: "Forgot your password", through SMTP too.
    let body = app.graphql(REQUEST_RESET, json!({"e": "ANA.PEREZ@acme.example"})).await;
    assert_eq!(data(&body)["requestPasswordReset"], true);
    let reset = common::eventually("the reset email over SMTP", async || {
        smtp.received().into_iter().filter(|m| m.to == ["ana.perez@acme.example"]).nth(1)
    })
    .await;
    let text = reset.parsed().body_text(0).unwrap().into_owned();
    assert!(text.contains("expires in 5 minutes"));
    let url = link(&text, "http://127.0.0.1:8080/reset-password?token=");
    let reset_token = url.split("token=").nth(1).unwrap();
    let body = app.graphql(RESET, json!({"t": reset_token, "p": "Northern-Pier-2027"})).await;
    assert_eq!(data(&body)["resetPassword"], true);
    let body = app.graphql_as(Some(&token), "{ viewer { email } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "a reset ends every session");
    let body = login_body(&app, "ana.perez@acme.example", "Northern-Pier-2027").await;
    assert_eq!(data(&body)["login"]["mustChangePassword"], false);

    // The audit trail has the story.
    let actions: Vec<String> =
        audit_events::Entity::find().all(&app.db).await.unwrap().into_iter().map(|e| e.action).collect();
    for action in ["company.provisioned", "user.logged_in", "user.password_changed", "user.password_reset_requested"] {
        assert!(actions.iter().any(|a| a == action), "{action} missing from {actions:?}");
    }
    assert_eq!(smtp.count_to("ana.perez@acme.example"), 2, "no duplicate emails");
}

async fn reset_links_are_single_use_superseded_and_short_lived(app: TestApp) {
    provision(&app, "Beta", "owner@beta.example").await;
    let (_, welcome) = nth_mailbox_email(&app, 1).await;
    let temporary = value_after(&welcome, "Your temporary password is:");
    let session = app.login("owner@beta.example", &temporary).await;

    let token_of = |text: &str| {
        link(text, "http://127.0.0.1:8080/reset-password?token=").split("token=").nth(1).unwrap().to_owned()
    };
    let app = &app;
    let request = || app.graphql(REQUEST_RESET, json!({"e": "owner@beta.example"}));
    let reset = |token: String, password: &'static str| async move {
        app.graphql(RESET, json!({"t": token, "p": password})).await
    };
    let same_error = "This link is invalid, has already been used, or has expired: ask for a new one";
    let assert_refused = |body: Value| {
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["fields"][0], json!({"field": "token", "message": same_error}));
    };

    // Supersession: a second request voids the first link.
    request().await;
    let first = token_of(&nth_mailbox_email(app, 2).await.1);
    request().await;
    let second = token_of(&nth_mailbox_email(app, 3).await.1);
    assert_refused(reset(first, "Quiet-Meadow-2026").await);

    // A password that breaks the policy does not use the link up.
    let body = reset(second.clone(), "short").await;
    assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "newPassword");
    assert_eq!(data(&reset(second.clone(), "Quiet-Meadow-2026").await)["resetPassword"], true);
    // Single use.
    assert_refused(reset(second, "Other-Meadow-2026").await);
    // The reset ended the session that was open.
    let body = app.graphql_as(Some(&session), "{ viewer { email } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    // Expiry: five minutes, on the application's clock.
    request().await;
    let late = token_of(&nth_mailbox_email(app, 4).await.1);
    app.clock.advance(chrono::Duration::minutes(5) + chrono::Duration::seconds(1));
    assert_refused(reset(late, "Late-Meadow-2026!").await);
    // Unknown tokens get the very same answer.
    assert_refused(reset("not-a-token".into(), "Late-Meadow-2026!").await);
    app.login("owner@beta.example", "Quiet-Meadow-2026").await;
}

async fn unknown_addresses_are_not_revealed(app: TestApp) {
    provision(&app, "Gamma", "known@gamma.example").await;
    nth_mailbox_email(&app, 1).await;

    let known = app.graphql(REQUEST_RESET, json!({"e": "known@gamma.example"})).await;
    let unknown = app.graphql(REQUEST_RESET, json!({"e": "nobody@gamma.example"})).await;
    assert_eq!(known, unknown);
    nth_mailbox_email(&app, 2).await;
    app.settle().await;
    assert_eq!(mailbox(&app.mailbox_dir).len(), 2, "no email for an unknown address");
    assert_eq!(app.deliveries_to("nobody@gamma.example").await, 0);

    let wrong_password = login_body(&app, "known@gamma.example", "Wrong-Password-1!").await;
    let unknown_user = login_body(&app, "nobody@gamma.example", "Wrong-Password-1!").await;
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(error_code(&unknown_user), "UNAUTHENTICATED");
}

async fn repeated_failures_lock_the_account(app: TestApp) {
    provision(&app, "Delta", "owner@delta.example").await;
    let temporary = value_after(&nth_mailbox_email(&app, 1).await.1, "Your temporary password is:");

    // Four failures, then a success: the counter starts over.
    for _ in 0..4 {
        assert_eq!(error_code(&login_body(&app, "owner@delta.example", "Wrong-Password-1!").await), "UNAUTHENTICATED");
    }
    app.login("owner@delta.example", &temporary).await;
    for _ in 0..4 {
        login_body(&app, "owner@delta.example", "Wrong-Password-1!").await;
    }
    app.login("owner@delta.example", &temporary).await;

    // Five within 15 minutes: locked, whatever the password, with the wait.
    for _ in 0..5 {
        login_body(&app, "owner@delta.example", "Wrong-Password-1!").await;
    }
    let body = login_body(&app, "owner@delta.example", &temporary).await;
    assert_eq!(error_code(&body), "RATE_LIMITED");
    let wait = body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().unwrap();
    assert!((890..=900).contains(&wait), "{wait}");
    app.clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    app.login("owner@delta.example", &temporary).await;

    let locked = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("user.locked_out"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(locked, 1);
}

async fn login_attempts_are_limited_per_client_address(app: TestApp) {
    let limited = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        let body = login_body(&limited, "someone@example.com", "Wrong-Password-1!").await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    let body = login_body(&limited, OPERATOR_EMAIL, OPERATOR_PASSWORD).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "even with the right password");
}

async fn a_temporary_password_allows_only_changing_it(app: TestApp) {
    provision(&app, "Epsilon", "owner@epsilon.example").await;
    let temporary = value_after(&nth_mailbox_email(&app, 1).await.1, "Your temporary password is:");
    let token = app.login("owner@epsilon.example", &temporary).await;
    let body = app.graphql_as(Some(&token), "{ viewer { email } }", json!({})).await;
    assert_eq!(data(&body)["viewer"]["email"], "owner@epsilon.example");
    let body = app.graphql_as(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(data(&body)["logout"], true);
    let body = app.graphql_as(Some(&token), "{ viewer { email } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "logout revokes the session");
}

async fn owners_see_only_their_company(app: TestApp) {
    provision(&app, "North", "owner@north.example").await;
    provision(&app, "South", "owner@south.example").await;
    let mut tokens = Vec::new();
    for (n, company) in [(1, "north"), (2, "south")] {
        let (to, text) = nth_mailbox_email(&app, n).await;
        let owner = format!("owner@{company}.example");
        assert_eq!(to, owner);
        let temporary = value_after(&text, "Your temporary password is:");
        let token = app.login(&owner, &temporary).await;
        let new = format!("{}-Harbour-2026", company.to_uppercase());
        let body = app.graphql_as(Some(&token), CHANGE, json!({"c": temporary, "n": new})).await;
        data(&body);
        tokens.push(token);
    }
    let body = app.graphql_as(Some(&tokens[0]), "{ company { name } viewer { email } }", json!({})).await;
    assert_eq!(data(&body)["company"]["name"], "North");
    assert_eq!(data(&body)["viewer"]["email"], "owner@north.example");
    let body = app.graphql_as(Some(&tokens[1]), "{ company { name } }", json!({})).await;
    assert_eq!(data(&body)["company"]["name"], "South");

    // Only operators provision; an owner cannot create or claim another company.
    let input = json!({"name": "Annex", "ownerEmail": "x@annex.example", "ownerGivenName": "X", "ownerSurname": "Y"});
    let body = app.graphql_as(Some(&tokens[0]), PROVISION, json!({"input": input})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    // Staff have no company.
    let operator = app.operator_token().await;
    let body = app.graphql_as(Some(&operator), "{ company { name } }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    // Duplicates are conflicts naming the field.
    let input =
        json!({"name": "North", "ownerEmail": "other@north.example", "ownerGivenName": "O", "ownerSurname": "N"});
    let body = app.graphql_as(Some(&operator), PROVISION, json!({"input": input})).await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "name");
    // Every bad field at once, the locale too (it used to be stored as typed); nothing created.
    let input = json!({"name": " ", "ownerEmail": "o@annex.example", "ownerGivenName": "O\u{200b}", "ownerSurname": "N",
        "ownerLocale": "klingon"});
    let body = app.graphql_as(Some(&operator), PROVISION, json!({"input": input})).await;
    let fields = common::error_fields(&body);
    assert_eq!(fields, ["name", "ownerGivenName", "ownerLocale"], "{body}");
    let input = json!({"name": "Annex", "ownerEmail": "o@annex.example", "ownerGivenName": "O", "ownerSurname": "N",
        "ownerLocale": "es_co"});
    data(&app.graphql_as(Some(&operator), PROVISION, json!({"input": input})).await);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE locale = 'es-CO'").await, 1, "kept as ll-RR");
}

async fn the_reset_page_lists_the_rules_and_submits(app: TestApp) {
    provision(&app, "Zeta", "owner@zeta.example").await;
    nth_mailbox_email(&app, 1).await;
    app.graphql(REQUEST_RESET, json!({"e": "owner@zeta.example"})).await;
    let text = nth_mailbox_email(&app, 2).await.1;
    let url = link(&text, "http://127.0.0.1:8080/reset-password?token=");
    let path = url.trim_start_matches("http://127.0.0.1:8080");

    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let page = response.text().await.unwrap();
    for rule in ["At least 12 characters", "At least one digit", "Must not be one of your last 5 passwords"] {
        assert!(page.contains(rule), "{rule} not listed");
    }
    assert!(page.contains("<button type=\"submit\">Change password</button>"));
    assert!(!page.contains("<script src"), "no script from the network");

    // Submit as the page's script does: the mutation text it embeds, the token from its URL.
    let embedded = page.split("const MUTATION = ").nth(1).unwrap().split(";\n").next().unwrap();
    let mutation: String = serde_json::from_str(embedded).unwrap();
    let token = url.split("token=").nth(1).unwrap();
    let body = app.graphql(&mutation, json!({"token": token, "password": "Zesty-Lemon-2026"})).await;
    assert_eq!(data(&body)["resetPassword"], true);
    app.login("owner@zeta.example", "Zesty-Lemon-2026").await;
}

/// Start-up creates the operator once: a restart (or a second replica) does not make another.
#[tokio::test]
async fn the_operator_is_bootstrapped_once() {
    for backend in [Some(Backend::Sqlite), Backend::postgres()].into_iter().flatten() {
        let database = TestDatabase::create(&backend).await;
        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("PORTAL_DATABASE_URL", database.url.as_str()),
            ("PORTAL_LISTEN", "127.0.0.1:0"),
            ("PORTAL_MAILBOX_DIR", dir.path().to_str().unwrap()),
            ("PORTAL_ARGON2_MEMORY_KIB", "64"),
            ("PORTAL_ARGON2_ITERATIONS", "1"),
            ("PORTAL_BOOTSTRAP_OPERATOR", "ops@example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = Config::from_vars(&vars).unwrap();
        for _ in 0..2 {
            let app = Application::build(config.clone()).await.unwrap();
            let operators = users::Entity::find()
                .filter(users::Column::Role.eq(Role::Operator))
                .all(&app.services().db)
                .await
                .unwrap();
            assert_eq!(operators.len(), 1);
            assert_eq!(operators[0].email, "ops@example.com");
            assert!(operators[0].must_change_password, "a generated password is temporary");
            app.services().db.clone().close().await.unwrap();
        }
    }
}

/// A newcomer opens the `.eml` file in `data/mailbox` and copies the password from its text as
/// it is written there (no decoding): it must sign in.
async fn a_temporary_password_copied_from_the_mailbox_file_works(app: TestApp) {
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "1000")]).await;
    // One in four used to hold a `=` (shown `=3D` in the file): twelve would almost surely meet one.
    for i in 0..12 {
        let owner = format!("owner{i}@copied.example");
        provision(&app, &format!("Copied {i}"), &owner).await;
        app.wait_for_email(&owner).await;
        let raw = mailbox(&app.mailbox_dir)
            .into_iter()
            .map(|bytes| String::from_utf8(bytes).unwrap())
            .find(|text| text.contains(&format!("To: {owner}")))
            .unwrap();
        let copied = value_after(&raw, "Your temporary password is:");
        let body = login_body(&app, &owner, &copied).await;
        assert_eq!(data(&body)["login"]["mustChangePassword"], true, "{copied:?} as read in the file: {body}");
    }
}
