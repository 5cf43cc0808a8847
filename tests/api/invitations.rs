//! Invitations and module permissions: the whole story, the module rules and their
//! enforcement, expiry on the application's clock, and a schema walk that fails when an
//! operation declares no requirement.

use crate::common;

use common::mail::link;
use common::{TestApp, data, error_code};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    seed_004_story,
    module_rules_and_enforcement,
    invitations_expire_after_seven_days,
    resends_are_limited,
    sub_accounts_and_live_permission_changes,
    the_accept_page_works_end_to_end,
);

async fn the_accept_page_works_end_to_end(app: TestApp) {
    let owner = app.company_owner("Pages", "owner@pages.example").await;
    data(
        &app.graphql_as(Some(&owner), INVITE, json!({"input": {"emails": ["page@pages.example"], "role": "USER"}}))
            .await,
    );
    let token = invitation_token(&app, "page@pages.example", 1).await;
    let page =
        app.http.get(app.url(&format!("/accept-invitation?token={token}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Accept invitation")
            && page.contains("At least 12 characters")
            && page.contains("id=\"givenName\"")
    );
    // Submit as the page's script does: its own mutation text, the token from the URL.
    let embedded = page.split("const MUTATION = ").nth(1).unwrap().split(";\n").next().unwrap();
    let mutation: String = serde_json::from_str(embedded).unwrap();
    let variables = json!({"token": token, "password": "Paper-Harbour-2026", "givenName": "Paz", "surname": "Page"});
    let body = app.graphql(&mutation, variables).await;
    assert!(data(&body)["acceptInvitation"]["token"].is_string());
    app.login("page@pages.example", "Paper-Harbour-2026").await;
}

const INVITE: &str = "mutation ($input: InviteUsersInput!) { inviteUsers(input: $input) { id email status role } }";
const LIST: &str = "query ($status: InvitationStatus) { invitations(status: $status) { totalCount edges { node { id email status sendCount } } } }";
const ACCEPT: &str = "mutation ($t: String!, $p: String!, $g: String, $s: String) {
    acceptInvitation(token: $t, password: $p, givenName: $g, surname: $s) { token user { email status role modules givenName } } }";

/// The newest invitation link sent to `email`, waiting for it: the `n`th email to that address.
async fn invitation_token(app: &TestApp, email: &str, n: usize) -> String {
    // Files are named by (time-ordered) delivery id: the last is the newest.
    let text = common::eventually(&format!("invitation #{n} to {email}"), async || {
        common::mail::mailbox(&app.mailbox_dir)
            .iter()
            .map(|raw| mail_parser::MessageParser::default().parse(raw).unwrap().into_owned())
            .filter(|m| m.to().and_then(|t| t.first()).and_then(|a| a.address()) == Some(email))
            .map(|m| m.body_text(0).unwrap().into_owned())
            .nth(n - 1)
    })
    .await;
    let url = link(&text, "http://127.0.0.1:8080/accept-invitation?token=");
    url.split("token=").nth(1).unwrap().to_owned()
}

fn node_ids(body: &Value, field: &str) -> Vec<String> {
    data(body)[field].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

async fn seed_004_story(app: TestApp) {
    let owner = app.company_owner("Seed Four", "owner@four.example").await;
    // 1. Invite two people with modules.
    let input =
        json!({"emails": ["Ana@four.example", "bob@four.example"], "role": "USER", "modules": ["PROJECTS", "REPORTS"]});
    let body = app.graphql_as(Some(&owner), INVITE, json!({"input": input})).await;
    let ids = node_ids(&body, "inviteUsers");
    assert_eq!(data(&body)["inviteUsers"][0]["email"], "ana@four.example");
    // 2. Both are listed as INVITED.
    let body = app
        .graphql_as(
            Some(&owner),
            "{ users(filter: {status: INVITED}) { edges { node { email modules } } } }",
            json!({}),
        )
        .await;
    let invited: Vec<&Value> = data(&body)["users"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    assert_eq!(invited.len(), 2);
    assert_eq!(invited[0]["modules"], json!(["PROJECTS", "REPORTS"]));
    // The email names the inviter, the company, the modules and the 7 days.
    let email = app.wait_for_email("ana@four.example").await;
    let text = email.body_text(0).unwrap().into_owned();
    assert!(
        text.contains("Olive Owner invited you to join Seed Four")
            && text.contains("- REPORTS")
            && text.contains("7 days"),
        "{text}"
    );
    let first_link = invitation_token(&app, "ana@four.example", 1).await;

    // 3. Resend Ana's: a new link; the old one fails with the clear message.
    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($id: ID!) { resendInvitation(id: $id) { sendCount } }",
            json!({"id": ids[0]}),
        )
        .await;
    assert_eq!(data(&body)["resendInvitation"]["sendCount"], 2);
    let second_link = invitation_token(&app, "ana@four.example", 2).await;
    let body = app.graphql(ACCEPT, json!({"t": first_link, "p": "Bright-Morning-2026"})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert!(
        body["errors"][0]["extensions"]["fields"][0]["message"].as_str().unwrap().contains("ask for a new invitation")
    );

    // A password that breaks the policy names the argument, and leaves the link usable.
    let body = app.graphql(ACCEPT, json!({"t": second_link, "p": "short"})).await;
    assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "password");
    // 4. Accept with the new one: ACTIVE, signed in, with the invited modules.
    let body =
        app.graphql(ACCEPT, json!({"t": second_link, "p": "Bright-Morning-2026", "g": "Ana", "s": "Alba"})).await;
    let session = &data(&body)["acceptInvitation"];
    assert_eq!(
        session["user"],
        json!({"email": "ana@four.example", "status": "ACTIVE", "role": "USER", "modules": ["PROJECTS", "REPORTS"], "givenName": "Ana"})
    );
    app.login("ana@four.example", "Bright-Morning-2026").await;
    let accepted = portal::db::outbox_events::Entity::find()
        .filter(portal::db::outbox_events::Column::EventType.eq("invitation.accepted"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(accepted, 1, "webhook consumers hear of it");
    let body = app.graphql(ACCEPT, json!({"t": second_link, "p": "Bright-Morning-2026"})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "a link works once");

    // 5. Remove the other one; they can be invited again.
    let body = app
        .graphql_as(Some(&owner), "mutation ($id: ID!) { revokeInvitation(id: $id) { status } }", json!({"id": ids[1]}))
        .await;
    assert_eq!(data(&body)["revokeInvitation"]["status"], "REVOKED");
    let bob_link = invitation_token(&app, "bob@four.example", 1).await;
    let body = app.graphql(ACCEPT, json!({"t": bob_link, "p": "Bright-Morning-2026"})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "a revoked invitation cannot be accepted");
    let body =
        app.graphql_as(Some(&owner), INVITE, json!({"input": {"emails": ["bob@four.example"], "role": "USER"}})).await;
    assert_eq!(data(&body)["inviteUsers"][0]["status"], "PENDING");

    let body = app.graphql_as(Some(&owner), LIST, json!({"status": "ACCEPTED"})).await;
    assert_eq!(data(&body)["invitations"]["totalCount"], 1);
    let body = app.graphql_as(Some(&owner), LIST, json!({})).await;
    assert_eq!(data(&body)["invitations"]["totalCount"], 3);

    // Inviting an existing member, an invalid address and a duplicate: nothing is sent, all listed.
    let input = json!({"emails": ["new@four.example", "ana@four.example", "not-an-address", "NEW@four.example"], "role": "USER"});
    let body = app.graphql_as(Some(&owner), INVITE, json!({"input": input})).await;
    let fields = common::error_fields(&body);
    assert_eq!(fields, ["emails[1]", "emails[2]", "emails[3]"]);
    let body = app.graphql_as(Some(&owner), "{ users(filter: {search: \"new@\"}) { totalCount } }", json!({})).await;
    assert_eq!(data(&body)["users"]["totalCount"], 0, "nobody was invited");
}

async fn module_rules_and_enforcement(app: TestApp) {
    let owner = app.company_owner("Rules", "owner@rules.example").await;
    for module in ["PRICING", "PAYMENT", "USER_MANAGEMENT"] {
        let input = json!({"emails": ["x@rules.example"], "role": "USER", "modules": ["REPORTS", module]});
        let body = app.graphql_as(Some(&owner), INVITE, json!({"input": input})).await;
        let problem = &body["errors"][0]["extensions"]["fields"][0];
        assert_eq!(problem["field"], "modules");
        assert_eq!(problem["message"], format!("{module} can only be held by administrators"));
    }
    // An ADMIN invitation implies every module.
    let body = app
        .graphql_as(Some(&owner), INVITE, json!({"input": {"emails": ["adam@rules.example"], "role": "ADMIN"}}))
        .await;
    data(&body);
    let token = invitation_token(&app, "adam@rules.example", 1).await;
    let body = app.graphql(ACCEPT, json!({"t": token, "p": "Admin-Harbour-2026"})).await;
    assert_eq!(data(&body)["acceptInvitation"]["user"]["modules"].as_array().unwrap().len(), 7);
    let adam = data(&body)["acceptInvitation"]["token"].as_str().unwrap().to_owned();
    let body = app.graphql_as(Some(&adam), "{ users { totalCount } }", json!({})).await;
    assert_eq!(data(&body)["users"]["totalCount"], 2);

    // A USER holds only what was granted: REPORTS gives no user management.
    let body = app
        .graphql_as(
            Some(&owner),
            INVITE,
            json!({"input": {"emails": ["uma@rules.example"], "role": "USER", "modules": ["REPORTS"]}}),
        )
        .await;
    data(&body);
    let token = invitation_token(&app, "uma@rules.example", 1).await;
    let body = app.graphql(ACCEPT, json!({"t": token, "p": "Quiet-Harbour-2026"})).await;
    let uma = data(&body)["acceptInvitation"]["token"].as_str().unwrap().to_owned();
    for operation in [
        "{ invitations { totalCount } }",
        "{ subAccounts { id } }",
        "mutation { createSubAccount(name: \"X\") { id } }",
        "mutation { inviteUsers(input: {emails: [\"z@rules.example\"], role: USER}) { id } }",
        "{ notificationDeliveries { totalCount } }",
        "{ webhookEndpoints { id } }",
    ] {
        let body = app.graphql_as(Some(&uma), operation, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{operation}");
    }
}

async fn invitations_expire_after_seven_days(app: TestApp) {
    let owner = app.company_owner("Expiry", "owner@expiry.example").await;
    let body = app
        .graphql_as(Some(&owner), INVITE, json!({"input": {"emails": ["late@expiry.example"], "role": "USER"}}))
        .await;
    let id = node_ids(&body, "inviteUsers")[0].clone();
    let token = invitation_token(&app, "late@expiry.example", 1).await;
    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    // Sessions last 12 hours: a week later the owner signs in again.
    let owner = app.login("owner@expiry.example", common::OWNER_PASSWORD).await;
    let body = app.graphql_as(Some(&owner), LIST, json!({"status": "EXPIRED"})).await;
    assert_eq!(data(&body)["invitations"]["edges"][0]["node"]["status"], "EXPIRED", "derived from the time");
    let body = app.graphql_as(Some(&owner), LIST, json!({"status": "PENDING"})).await;
    assert_eq!(data(&body)["invitations"]["totalCount"], 0);
    let body = app.graphql(ACCEPT, json!({"t": token, "p": "Evening-Harbour-2026"})).await;
    assert!(
        body["errors"][0]["extensions"]["fields"][0]["message"].as_str().unwrap().contains("ask for a new invitation")
    );
    // A resend gives seven new days.
    app.graphql_as(Some(&owner), "mutation ($id: ID!) { resendInvitation(id: $id) { id } }", json!({"id": id})).await;
    let token = invitation_token(&app, "late@expiry.example", 2).await;
    let body = app.graphql(ACCEPT, json!({"t": token, "p": "Evening-Harbour-2026"})).await;
    assert_eq!(data(&body)["acceptInvitation"]["user"]["status"], "ACTIVE");
}

async fn resends_are_limited(app: TestApp) {
    let owner = app.company_owner("Resends", "owner@resends.example").await;
    let body =
        app.graphql_as(Some(&owner), INVITE, json!({"input": {"emails": ["r@resends.example"], "role": "USER"}})).await;
    let id = node_ids(&body, "inviteUsers")[0].clone();
    let resend = "mutation ($id: ID!) { resendInvitation(id: $id) { sendCount } }";
    for n in 2..=6 {
        let body = app.graphql_as(Some(&owner), resend, json!({"id": id})).await;
        assert_eq!(data(&body)["resendInvitation"]["sendCount"], n);
    }
    let body = app.graphql_as(Some(&owner), resend, json!({"id": id})).await;
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().unwrap() <= 3600);
    app.clock.advance(chrono::Duration::minutes(61));
    let body = app.graphql_as(Some(&owner), resend, json!({"id": id})).await;
    assert_eq!(data(&body)["resendInvitation"]["sendCount"], 7);
}

async fn sub_accounts_and_live_permission_changes(app: TestApp) {
    let owner = app.company_owner("Units", "owner@units.example").await;
    let body =
        app.graphql_as(Some(&owner), "mutation { createSubAccount(name: \"North\") { id name } }", json!({})).await;
    let north = data(&body)["createSubAccount"]["id"].as_str().unwrap().to_owned();
    let body = app.graphql_as(Some(&owner), "mutation { createSubAccount(name: \"North\") { id } }", json!({})).await;
    assert_eq!(error_code(&body), "CONFLICT");
    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($id: ID!) { renameSubAccount(id: $id, name: \"Norte\") { name } }",
            json!({"id": north}),
        )
        .await;
    assert_eq!(data(&body)["renameSubAccount"]["name"], "Norte");

    let input =
        json!({"emails": ["sam@units.example"], "role": "USER", "modules": ["REPORTS"], "subAccountIds": [north]});
    data(&app.graphql_as(Some(&owner), INVITE, json!({"input": input})).await);
    let token = invitation_token(&app, "sam@units.example", 1).await;
    let body = app.graphql(ACCEPT, json!({"t": token, "p": "Steady-Harbour-2026"})).await;
    let sam = data(&body)["acceptInvitation"]["token"].as_str().unwrap().to_owned();
    let body = app.graphql_as(Some(&sam), "{ viewer { id modules subAccounts { name } } }", json!({})).await;
    assert_eq!(data(&body)["viewer"]["subAccounts"], json!([{"name": "Norte"}]));
    let sam_id = data(&body)["viewer"]["id"].as_str().unwrap().to_owned();

    // Granting USER_MANAGEMENT to a USER is refused; SUPPORT is fine and applies to the open session.
    let set = "mutation ($id: ID!, $m: [Module!]!) { setUserPermissions(userId: $id, modules: $m) { modules } }";
    let body = app.graphql_as(Some(&owner), set, json!({"id": sam_id, "m": ["USER_MANAGEMENT"]})).await;
    assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "modules");
    let body = app.graphql_as(Some(&sam), "{ invitations { totalCount } }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app.graphql_as(Some(&owner), set, json!({"id": sam_id, "m": ["SUPPORT", "REPORTS"]})).await;
    assert_eq!(data(&body)["setUserPermissions"]["modules"], json!(["SUPPORT", "REPORTS"]));
    let body = app.graphql_as(Some(&sam), "{ viewer { modules subAccounts { name } } }", json!({})).await;
    assert_eq!(
        data(&body)["viewer"],
        json!({"modules": ["SUPPORT", "REPORTS"], "subAccounts": [{"name": "Norte"}]}),
        "sub-accounts kept when not given"
    );
}
