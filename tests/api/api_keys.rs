//! API keys as an integrator and an attacker use them: a Bearer secret shown once and stored
//! hashed, scoped to its company and modules, never more than its creator holds (now, not only
//! at creation), refused at once when revoked, rotated, expired or when its creator leaves,
//! named in the audit trail and announced to webhooks.

use crate::common;

use common::receiver::{Receiver, verifies};
use common::{TestApp, data, error_code, error_fields};
use portal::domain::clock::Clock;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

backend_tests!(
    a_key_is_a_bearer_token_within_its_company_and_modules,
    a_key_manages_plain_users_but_never_the_owner_or_administrators,
    a_key_never_holds_more_than_its_creator,
    revoked_rotated_and_expired_keys_are_refused_at_once,
    key_changes_are_audited_and_reach_webhooks,
    bad_key_input_is_refused_and_creates_nothing,
    a_company_holds_a_bounded_number_of_usable_keys,
);

const CREATE: &str = "mutation ($i: CreateApiKeyInput!) { createApiKey(input: $i) {
    secret apiKey { id name prefix modules status createdBy { email } expiresAt lastUsedAt } } }";
const CREATE_USER: &str = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";

/// Creates a key as `token`; returns (id, secret).
async fn key(app: &TestApp, token: &str, name: &str, modules: &[&str]) -> (String, String) {
    let body = app.graphql_as(Some(token), CREATE, json!({"i": {"name": name, "modules": modules}})).await;
    let created = &data(&body)["createApiKey"];
    (created["apiKey"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

async fn user(app: &TestApp, token: &str, email: &str, manager: &str) -> String {
    let input = json!({"givenName": "Kim", "surname": "Keyes", "email": email, "jobTitle": "Analyst",
                       "managerEmail": manager});
    let body = app.graphql_as(Some(token), CREATE_USER, json!({"input": input})).await;
    data(&body)["createUser"]["id"].as_str().unwrap().to_owned()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

async fn a_key_is_a_bearer_token_within_its_company_and_modules(app: TestApp) {
    let owner = app.company_owner("Keys Inc", "owner@keys.example").await;
    let input = json!({"i": {"name": "Directory sync", "modules": ["USER_MANAGEMENT", "PROJECTS", "PROJECTS"]}});
    let body = app.graphql_as(Some(&owner), CREATE, input).await;
    let created = &data(&body)["createApiKey"];
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pk_live_") && secret.len() > 40, "{secret}");
    let shown = &created["apiKey"];
    assert_eq!(shown["prefix"], &secret[..12]);
    assert_eq!(shown["modules"], json!(["PROJECTS", "USER_MANAGEMENT"]), "named once, in the enum's order");
    assert_eq!(shown["status"], "ACTIVE");
    assert_eq!(shown["createdBy"]["email"], "owner@keys.example");
    assert_eq!(shown["lastUsedAt"], Value::Null);
    // Stored as its hash only: the secret itself is nowhere in the table.
    let hashed = format!("SELECT COUNT(*) AS n FROM api_keys WHERE secret_hash = '{}'", sha256_hex(&secret));
    assert_eq!(app.count(&hashed).await, 1);
    let plain = format!("SELECT COUNT(*) AS n FROM api_keys WHERE secret_hash = '{secret}' OR prefix = '{secret}'");
    assert_eq!(app.count(&plain).await, 0);
    // Listings never carry a secret.
    let listed = app.graphql_as(Some(&owner), "{ apiKeys { edges { node { name prefix } } } }", json!({})).await;
    assert_eq!(data(&listed)["apiKeys"]["edges"][0]["node"]["name"], "Directory sync");
    assert!(!listed.to_string().contains(&secret));

    // What it holds, it may; nothing else; and it is nobody.
    let users = app.graphql_as(Some(&secret), "{ users { edges { node { email } } } }", json!({})).await;
    assert_eq!(data(&users)["users"]["edges"][0]["node"]["email"], "owner@keys.example");
    let projects = app.graphql_as(Some(&secret), "{ projects { id } }", json!({})).await;
    assert_eq!(data(&projects)["projects"], json!([]));
    let refused = [
        "{ serviceSubscriptions { id } }",
        "{ auditEvents { edges { node { id } } } }",
        "mutation { createApiKey(input: {name: \"child\", modules: [PROJECTS]}) { secret } }",
        "mutation { changePassword(currentPassword: \"x\", newPassword: \"y\") }",
        "mutation { logout }",
        "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { id } }",
    ];
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    for query in refused {
        let body = app.graphql_as(Some(&secret), query, json!({"id": owner_id})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
    }
    let viewer = app.graphql_as(Some(&secret), "{ viewer { id } }", json!({})).await;
    assert_eq!(data(&viewer)["viewer"], Value::Null, "a key is no person");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_keys").await, 1, "no key made by a key");

    // Another company's user, by id, is nobody to this key.
    let other = app.company_owner("Other Co", "owner@other.example").await;
    let stranger = data(&app.graphql_as(Some(&other), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let body =
        app.graphql_as(Some(&secret), "query ($id: ID!) { user(id: $id) { email } }", json!({"id": stranger})).await;
    assert_eq!(body["data"]["user"], Value::Null, "{body}");
    let body = app
        .graphql_as(
            Some(&secret),
            "mutation ($id: ID!) { updateUser(id: $id, input: {jobTitle: \"taken\"}) { id } }",
            json!({"id": stranger}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");

    // Used: to the minute, without a write per request.
    let listed = app.graphql_as(Some(&owner), "{ apiKeys { edges { node { lastUsedAt } } } }", json!({})).await;
    let used = data(&listed)["apiKeys"]["edges"][0]["node"]["lastUsedAt"].as_str().unwrap().to_owned();
    let now = app.clock.now();
    let used: chrono::DateTime<chrono::Utc> = used.parse().unwrap();
    assert!((now - used).num_seconds().abs() <= 60, "{used} vs {now}");

    // The same secret over the websocket: accepted at connection_init, and it is still the key.
    let mut socket = app.ws(json!({"Authorization": format!("Bearer {secret}")})).await.expect("accepted");
    let result = socket.execute("{ users { edges { node { email } } } viewer { id } }", json!({})).await;
    assert_eq!(data(&result)["viewer"], Value::Null);
    assert!(result.to_string().contains("owner@keys.example"));
}

async fn a_key_manages_plain_users_but_never_the_owner_or_administrators(app: TestApp) {
    let owner = app.company_owner("Managed", "owner@managed.example").await;
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let plain = user(&app, &owner, "plain@managed.example", "owner@managed.example").await;
    let admin = user(&app, &owner, "admin@managed.example", "owner@managed.example").await;
    data(
        &app.graphql_as(
            Some(&owner),
            "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { id } }",
            json!({"id": admin}),
        )
        .await,
    );
    let (_, secret) = key(&app, &owner, "Provisioning", &["USER_MANAGEMENT"]).await;

    let update = "mutation ($id: ID!, $e: String!) { updateUser(id: $id, input: {email: $e}) { email } }";
    let body = app.graphql_as(Some(&secret), update, json!({"id": plain, "e": "renamed@managed.example"})).await;
    assert_eq!(data(&body)["updateUser"]["email"], "renamed@managed.example");
    let body = app
        .graphql_as(
            Some(&secret),
            CREATE_USER,
            json!({"input": {"givenName": "New", "surname": "Hire",
        "email": "new@managed.example", "jobTitle": "Clerk", "managerEmail": "owner@managed.example"}}),
        )
        .await;
    assert!(data(&body)["createUser"]["id"].is_string());
    let deactivate = "mutation ($id: ID!) { deactivateUser(id: $id) { id } }";
    for target in [&owner_id, &json!(admin)] {
        let body = app.graphql_as(Some(&secret), update, json!({"id": target, "e": "attacker@evil.example"})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let body = app.graphql_as(Some(&secret), deactivate, json!({"id": target})).await;
        // The owner cannot be deactivated by anyone (VALIDATION_FAILED); an administrator not by a key.
        assert!(["FORBIDDEN", "VALIDATION_FAILED"].contains(&error_code(&body)), "{body}");
    }
    let body = app.graphql_as(Some(&secret), deactivate, json!({"id": admin})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let active = "SELECT COUNT(*) AS n FROM users WHERE status <> 'INACTIVE' AND role IN ('OWNER', 'ADMIN')";
    assert_eq!(app.count(active).await, 2);
    let invite =
        "mutation { inviteUsers(input: {emails: [\"eve@managed.example\"], role: ADMIN, modules: []}) { id } }";
    assert_eq!(error_code(&app.graphql_as(Some(&secret), invite, json!({})).await), "FORBIDDEN");
    let taken = "SELECT COUNT(*) AS n FROM users WHERE email = 'attacker@evil.example'";
    assert_eq!(app.count(taken).await, 0);
}

async fn a_key_never_holds_more_than_its_creator(app: TestApp) {
    let owner = app.company_owner("Bounded", "owner@bounded.example").await;
    let member = user(&app, &owner, "pat@bounded.example", "owner@bounded.example").await;
    let grant = "mutation ($id: ID!, $m: [Module!]!) { setUserPermissions(userId: $id, modules: $m) { id } }";
    data(&app.graphql_as(Some(&owner), grant, json!({"id": member, "m": ["PROJECTS"]})).await);
    let pat = app.activate("pat@bounded.example").await;

    let body =
        app.graphql_as(Some(&pat), CREATE, json!({"i": {"name": "x", "modules": ["PROJECTS", "SUPPORT"]}})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert!(body.to_string().contains("you do not hold SUPPORT"), "{body}");
    let body = app.graphql_as(Some(&pat), CREATE, json!({"i": {"name": "x", "modules": ["USER_MANAGEMENT"]}})).await;
    assert!(body.to_string().contains("only administrators may give a key USER_MANAGEMENT"), "{body}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_keys").await, 0);

    let (pat_key_id, pat_key) = key(&app, &pat, "Pat's script", &["PROJECTS"]).await;
    let (owner_key_id, _) = key(&app, &owner, "Owner's", &["REPORTS"]).await;
    assert!(data(&app.graphql_as(Some(&pat_key), "{ projects { id } }", json!({})).await)["projects"].is_array());
    // People see their own keys; administrators every key of the company.
    let list = "{ apiKeys { edges { node { id } } } }";
    let mine = app.graphql_as(Some(&pat), list, json!({})).await;
    assert_eq!(data(&mine)["apiKeys"]["edges"], json!([{"node": {"id": pat_key_id}}]));
    let all = app.graphql_as(Some(&owner), list, json!({})).await;
    assert_eq!(data(&all)["apiKeys"]["edges"].as_array().unwrap().len(), 2);
    let body = app
        .graphql_as(Some(&pat), "mutation ($id: ID!) { revokeApiKey(id: $id) { id } }", json!({"id": owner_key_id}))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "someone else's key is not found: {body}");

    // The creator loses the module: so does the key, on its very next request.
    data(&app.graphql_as(Some(&owner), grant, json!({"id": member, "m": ["REPORTS"]})).await);
    let body = app.graphql_as(Some(&pat_key), "{ projects { id } }", json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    // The creator is deactivated: the key stops, and says why in the listing.
    data(&app.graphql_as(Some(&owner), grant, json!({"id": member, "m": ["PROJECTS"]})).await);
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let deactivate = "mutation ($id: ID!, $to: ID!) { deactivateUser(id: $id, transferTo: $to) { status } }";
    data(&app.graphql_as(Some(&owner), deactivate, json!({"id": member, "to": owner_id})).await);
    let body = app.graphql_as(Some(&pat_key), "{ projects { id } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    let all = app.graphql_as(Some(&owner), "{ apiKeys { edges { node { name status } } } }", json!({})).await;
    let statuses: Vec<(String, String)> = data(&all)["apiKeys"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["name"].as_str().unwrap().to_owned(), e["node"]["status"].as_str().unwrap().to_owned()))
        .collect();
    assert!(statuses.contains(&("Pat's script".into(), "CREATOR_INACTIVE".into())), "{statuses:?}");
    assert!(statuses.contains(&("Owner's".into(), "ACTIVE".into())), "{statuses:?}");
}

async fn revoked_rotated_and_expired_keys_are_refused_at_once(app: TestApp) {
    let owner = app.company_owner("Revokes", "owner@revokes.example").await;
    let probe = "{ users(first: 1) { edges { node { id } } } }";

    let (id, secret) = key(&app, &owner, "To revoke", &["USER_MANAGEMENT"]).await;
    let mut socket = app.ws(json!({"Authorization": format!("Bearer {secret}")})).await.expect("accepted");
    assert!(data(&socket.execute(probe, json!({})).await)["users"].is_object());
    let revoke = "mutation ($id: ID!) { revokeApiKey(id: $id) { status revokedAt } }";
    let body = app.graphql_as(Some(&owner), revoke, json!({"id": id})).await;
    assert_eq!(data(&body)["revokeApiKey"]["status"], "REVOKED");
    assert_eq!(error_code(&app.graphql_as(Some(&secret), probe, json!({})).await), "UNAUTHENTICATED");
    let on_socket = socket.execute(probe, json!({})).await;
    assert_eq!(error_code(&on_socket), "UNAUTHENTICATED", "the open socket's next operation too: {on_socket}");
    let listed = app.graphql_as(Some(&owner), "{ apiKeys { edges { node { id } } } }", json!({})).await;
    assert_eq!(data(&listed)["apiKeys"]["edges"], json!([]), "revoked keys only when asked for");
    let listed =
        app.graphql_as(Some(&owner), "{ apiKeys(includeRevoked: true) { edges { node { id } } } }", json!({})).await;
    assert_eq!(data(&listed)["apiKeys"]["edges"][0]["node"]["id"], id.as_str());
    let rotate = "mutation ($id: ID!) { rotateApiKey(id: $id) { secret apiKey { prefix } } }";
    assert_eq!(error_code(&app.graphql_as(Some(&owner), rotate, json!({"id": id})).await), "VALIDATION_FAILED");

    let (id, old) = key(&app, &owner, "To rotate", &["USER_MANAGEMENT"]).await;
    let body = app.graphql_as(Some(&owner), rotate, json!({"id": id})).await;
    let new = data(&body)["rotateApiKey"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(data(&body)["rotateApiKey"]["apiKey"]["prefix"], &new[..12]);
    assert_eq!(error_code(&app.graphql_as(Some(&old), probe, json!({})).await), "UNAUTHENTICATED");
    assert!(data(&app.graphql_as(Some(&new), probe, json!({})).await)["users"].is_object());

    let soon = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let input = json!({"i": {"name": "Short-lived", "modules": ["USER_MANAGEMENT"], "expiresAt": soon}});
    let body = app.graphql_as(Some(&owner), CREATE, input).await;
    let short = data(&body)["createApiKey"]["secret"].as_str().unwrap().to_owned();
    assert!(data(&app.graphql_as(Some(&short), probe, json!({})).await)["users"].is_object());
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(error_code(&app.graphql_as(Some(&short), probe, json!({})).await), "UNAUTHENTICATED");
    let listed = app.graphql_as(Some(&owner), "{ apiKeys { edges { node { name status } } } }", json!({})).await;
    assert!(listed.to_string().contains(r#"{"name":"Short-lived","status":"EXPIRED"}"#), "{listed}");
    // A made-up key of the right shape is refused like any bad token.
    let forged = format!("pk_live_{}", "A".repeat(43));
    assert_eq!(error_code(&app.graphql_as(Some(&forged), probe, json!({})).await), "UNAUTHENTICATED");
}

async fn key_changes_are_audited_and_reach_webhooks(app: TestApp) {
    let owner = app.company_owner("Audited", "owner@audited.example").await;
    let receiver = Receiver::start().await;
    let events = ["api_key.created", "api_key.rotated", "api_key.revoked", "user.created"];
    let (_, signing) = app.webhook_endpoint(&owner, &receiver.url(), &events).await;
    let (id, secret) = key(&app, &owner, "Audited key", &["USER_MANAGEMENT"]).await;
    user(&app, &secret, "made@audited.example", "owner@audited.example").await;
    data(
        &app.graphql_as(Some(&owner), "mutation ($id: ID!) { rotateApiKey(id: $id) { secret } }", json!({"id": id}))
            .await,
    );
    data(
        &app.graphql_as(Some(&owner), "mutation ($id: ID!) { revokeApiKey(id: $id) { id } }", json!({"id": id})).await,
    );

    let trail =
        "{ auditEvents(first: 20) { edges { node { action actor { email } actorApiKey { id name } after } } } }";
    let body = app.graphql_as(Some(&owner), trail, json!({})).await;
    let edges = data(&body)["auditEvents"]["edges"].as_array().unwrap().clone();
    let event = |action: &str| edges.iter().map(|e| &e["node"]).find(|n| n["action"] == action).cloned().unwrap();
    let made = event("user.created");
    assert_eq!(made["actor"], Value::Null, "the key acted, not a person");
    assert_eq!(made["actorApiKey"], json!({"id": id, "name": "Audited key"}));
    for action in ["api_key.created", "api_key.rotated", "api_key.revoked"] {
        assert_eq!(event(action)["actor"]["email"], "owner@audited.example", "{action}");
    }
    assert!(!body.to_string().contains(&secret), "no secret in the trail");

    let mut seen = Vec::new();
    for n in 1..=4 {
        let request = receiver.nth(n).await;
        assert!(verifies(&signing, &request), "signed per the standard");
        let payload: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(!payload.to_string().contains(&secret), "no secret in a webhook");
        seen.push(payload["type"].as_str().unwrap().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["api_key.created", "api_key.revoked", "api_key.rotated", "user.created"]);
}

async fn bad_key_input_is_refused_and_creates_nothing(app: TestApp) {
    let owner = app.company_owner("Strict", "owner@strict.example").await;
    let past = (app.clock.now() - chrono::Duration::minutes(1)).to_rfc3339();
    let cases = [
        (json!({"name": "", "modules": ["REPORTS"]}), vec!["name"]),
        (json!({"name": "x".repeat(101), "modules": ["REPORTS"]}), vec!["name"]),
        (json!({"name": "line\nbreak", "modules": ["REPORTS"]}), vec!["name"]),
        (json!({"name": "ok", "modules": []}), vec!["modules"]),
        (json!({"name": "ok", "modules": ["REPORTS"], "expiresAt": past}), vec!["expiresAt"]),
        (json!({"name": "", "modules": [], "expiresAt": past}), vec!["name", "modules", "expiresAt"]),
    ];
    for (input, fields) in cases {
        let body = app.graphql_as(Some(&owner), CREATE, json!({"i": input})).await;
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{input}: {body}");
        assert_eq!(error_fields(&body), fields, "{input}: {body}");
    }
    let many = vec!["REPORTS"; 1000];
    let body = app.graphql_as(Some(&owner), CREATE, json!({"i": {"name": "ok", "modules": many}})).await;
    assert_eq!(data(&body)["createApiKey"]["apiKey"]["modules"], json!(["REPORTS"]), "a repeated module is one");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_keys").await, 1);
    let body = app.graphql_as(Some(&owner), "mutation { revokeApiKey(id: \"not-an-id\") { id } }", json!({})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
}

async fn a_company_holds_a_bounded_number_of_usable_keys(app: TestApp) {
    let owner = app.company_owner("Many", "owner@many.example").await;
    let mut first = None;
    for n in 0..100 {
        let (id, _) = key(&app, &owner, &format!("key {n}"), &["REPORTS"]).await;
        first.get_or_insert(id);
    }
    let body = app.graphql_as(Some(&owner), CREATE, json!({"i": {"name": "one more", "modules": ["REPORTS"]}})).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert!(body.to_string().contains("revoke one first"), "{body}");
    data(
        &app.graphql_as(Some(&owner), "mutation ($id: ID!) { revokeApiKey(id: $id) { id } }", json!({"id": first}))
            .await,
    );
    key(&app, &owner, "one more", &["REPORTS"]).await;
}
