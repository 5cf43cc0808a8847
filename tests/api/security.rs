//! The attacks of the security review, replayed as a client would send them: documents built
//! to crash or stall the parser, an administrator reaching for the owner's account, and a
//! websocket that outlives its session. See docs/security.md for the threat model.

use crate::common;

use std::time::Instant;

use common::{TestApp, data, error_code};
use serde_json::{Value, json};

backend_tests!(
    hostile_documents_are_refused_and_the_server_lives,
    an_oversized_search_is_a_validation_error,
    an_administrator_cannot_take_over_the_owner,
    a_websocket_loses_its_session_with_the_session,
    concurrent_guesses_cannot_outrun_the_lock,
    a_sign_in_starts_the_count_over,
    a_failed_sign_in_writes_alike_for_every_address,
    reset_requests_are_limited_per_address_alike,
    cross_site_shapes_and_framing_are_refused,
    hostile_text_is_refused_by_field,
    nested_fields_keep_the_module_rules,
);

/// Every shape that crashed or stalled the server, at growing sizes; each answers
/// VALIDATION_FAILED with the limit it broke. The times are printed, not asserted.
fn hostile_documents() -> Vec<(String, String, &'static str)> {
    let mut shapes = Vec::new();
    for depth in [2_000, 20_000] {
        let lists = format!("{{ countries(x: {}1{}) {{ code }} }}", "[".repeat(depth), "]".repeat(depth));
        shapes.push((format!("{depth} nested lists"), lists, "nests brackets"));
    }
    for depth in [100, 2_000, 5_000] {
        let objects = format!("{{ countries(x: {}1{}) {{ code }} }}", "{a:".repeat(depth), "}".repeat(depth));
        shapes.push((format!("{depth} nested objects"), objects, "nests brackets"));
        let fields = format!("{{ {}id{} }}", "viewer { ".repeat(depth), " }".repeat(depth));
        shapes.push((format!("{depth} nested fields"), fields, "nests brackets"));
    }
    for levels in [20, 30, 60] {
        let mut bomb = String::from("query { viewer { ...G0 } }\n");
        for level in 0..levels {
            bomb.push_str(&format!("fragment G{level} on User {{ id ...G{n} ...G{n} }}\n", n = level + 1));
        }
        bomb.push_str(&format!("fragment G{levels} on User {{ id }}\n"));
        shapes.push((format!("fragments spread twice, {levels} levels"), bomb, "expands to more than"));
    }
    let aliases: String = (0..200).map(|i| format!("a{i}: __typename ")).collect();
    shapes.push(("200 aliases".into(), format!("{{ {aliases} }}"), "aliased fields"));
    shapes.push((
        "a 1 MB document".into(),
        format!("{{ countries {{ code }} }} #{}", "x".repeat(1 << 20)),
        "bytes long",
    ));
    let items: String = (0..5_000).map(|i| format!("{i},")).collect();
    shapes.push((
        "a list of 5,000 items".into(),
        format!("{{ countries(x: [{items}]) {{ code }} }}"),
        "more than 1000 items",
    ));
    shapes
}

async fn hostile_documents_are_refused_and_the_server_lives(app: TestApp) {
    for (name, query, refusal) in hostile_documents() {
        let started = Instant::now();
        let response = app
            .http
            .post(app.url("/graphql"))
            .json(&json!({"query": query}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: the server did not answer: {e}"));
        let body: Value = response.json().await.unwrap();
        eprintln!("{name}: answered in {:?}", started.elapsed());
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{name}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(refusal), "{name}: {message}");
    }
    // The same over a websocket, which parses through the same schema.
    let mut socket = app.ws(json!({})).await.expect("anonymous sockets are accepted");
    let deep = format!("{{ countries(x: {}1{}) {{ code }} }}", "[".repeat(5_000), "]".repeat(5_000));
    let result = socket.execute(&deep, json!({})).await;
    assert!(result.to_string().contains("nests brackets"), "{result}");

    let long_list: Vec<u32> = (0..1_001).collect();
    let body = app.graphql("query ($x: [Int!]) { countries { code } }", json!({"x": long_list})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("1001 items"), "{body}");

    // Still alive, still answering.
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body = app.graphql("{ countries { code } }", json!({})).await;
    assert_eq!(data(&body)["countries"].as_array().unwrap().len(), 249);
}

async fn an_oversized_search_is_a_validation_error(app: TestApp) {
    let owner = app.company_owner("Searchers", "owner@search.example").await;
    let query = "query ($s: String) { users(filter: {search: $s}) { edges { node { email } } } }";
    for search in ["ab ".repeat(20_000), "ab ".repeat(9), "x".repeat(201)] {
        let body = app.graphql_as(Some(&owner), query, json!({"s": search})).await;
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "filter.search");
    }
    let body = app.graphql_as(Some(&owner), query, json!({"s": "olive owner search example"})).await;
    assert_eq!(data(&body)["users"]["edges"][0]["node"]["email"], "owner@search.example");
}

const CREATE_USER: &str = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }";

async fn new_admin(app: &TestApp, owner: &str, email: &str) -> (String, String) {
    let input = json!({"givenName": "Ad", "surname": "Min", "email": email, "jobTitle": "IT",
                       "managerEmail": "owner@takeover.example"});
    let id = data(&app.graphql_as(Some(owner), CREATE_USER, json!({"input": input})).await)["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { role } }";
    data(&app.graphql_as(Some(owner), add, json!({"id": id})).await);
    (id.clone(), app.activate(email).await)
}

async fn an_administrator_cannot_take_over_the_owner(app: TestApp) {
    let owner = app.company_owner("Takeover", "owner@takeover.example").await;
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let (alice_id, alice) = new_admin(&app, &owner, "alice@takeover.example").await;
    let (bob_id, _) = new_admin(&app, &owner, "bob@takeover.example").await;

    let update = "mutation ($id: ID!, $e: String!) { updateUser(id: $id, input: {email: $e}) { email } }";
    let permissions = "mutation ($id: ID!) { setUserPermissions(userId: $id, modules: [REPORTS]) { id } }";
    let invite =
        "mutation { inviteUsers(input: {emails: [\"eve@takeover.example\"], role: ADMIN, modules: []}) { id } }";
    let attempts = [
        ("the owner's address", update, json!({"id": owner_id, "e": "attacker@evil.example"})),
        ("another administrator's address", update, json!({"id": bob_id, "e": "attacker@evil.example"})),
        ("the owner's permissions", permissions, json!({"id": owner_id})),
        ("another administrator's permissions", permissions, json!({"id": bob_id})),
        ("an administrator by invitation", invite, json!({})),
    ];
    for (what, query, variables) in attempts {
        let body = app.graphql_as(Some(&alice), query, variables).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{what}: {body}");
    }
    // Nothing changed: the owner keeps their address and can still sign in with it.
    let who = "query ($id: ID!) { user(id: $id) { email } }";
    let body = app.graphql_as(Some(&owner), who, json!({"id": owner_id})).await;
    assert_eq!(data(&body)["user"]["email"], "owner@takeover.example");
    let body = app.graphql_as(Some(&owner), "{ invitations { totalCount } }", json!({})).await;
    assert_eq!(data(&body)["invitations"]["totalCount"], 0);

    // What an administrator may do: edit themself and users; the owner may edit administrators.
    let body = app.graphql_as(Some(&alice), update, json!({"id": alice_id, "e": "alice.new@takeover.example"})).await;
    assert_eq!(data(&body)["updateUser"]["email"], "alice.new@takeover.example");
    let body = app.graphql_as(Some(&owner), update, json!({"id": bob_id, "e": "bob.new@takeover.example"})).await;
    assert_eq!(data(&body)["updateUser"]["email"], "bob.new@takeover.example");
    let invite_user =
        "mutation { inviteUsers(input: {emails: [\"uma@takeover.example\"], role: USER, modules: []}) { id } }";
    data(&app.graphql_as(Some(&alice), invite_user, json!({})).await);
}

async fn a_websocket_loses_its_session_with_the_session(app: TestApp) {
    let owner = app.company_owner("Sockets", "owner@sockets.example").await;
    let mut socket = app.ws(json!({"Authorization": format!("Bearer {owner}")})).await.expect("accepted");
    let result = socket.execute("{ viewer { email } company { name } }", json!({})).await;
    assert_eq!(data(&result)["company"]["name"], "Sockets");

    data(&app.graphql_as(Some(&owner), "mutation { logout }", json!({})).await);
    for query in ["{ company { name } }", "mutation { logout }"] {
        let result = socket.execute(query, json!({})).await;
        assert_eq!(result["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{query}: {result}");
    }
    // A fresh session works on a fresh socket.
    let token = app.login("owner@sockets.example", common::OWNER_PASSWORD).await;
    let mut socket = app.ws(json!({"Authorization": format!("Bearer {token}")})).await.expect("accepted");
    let result = socket.execute("{ company { name } }", json!({})).await;
    assert_eq!(data(&result)["company"]["name"], "Sockets");
}

const LOGIN: &str = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";

async fn login_code(app: &TestApp, email: &str, password: &str) -> String {
    let body = app.graphql(LOGIN, json!({"e": email, "p": password})).await;
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_owned()
}

async fn concurrent_guesses_cannot_outrun_the_lock(app: TestApp) {
    // The per-client-address limit is not what is tested here.
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "10000")]).await;
    let _owner = app.company_owner("Guesses", "owner@guess.example").await;
    let guesses =
        (0..19).map(|i| login_code(&app, "owner@guess.example", if i == 0 { "Wrong-1!" } else { "Wrong-2!" }));
    let codes = futures_util::future::join_all(guesses).await;
    let verified = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    assert_eq!(verified, 5, "exactly the limit is checked, the rest refused: {codes:?}");
    assert!(codes.iter().all(|c| c == "UNAUTHENTICATED" || c == "RATE_LIMITED"), "{codes:?}");
    assert_eq!(login_code(&app, "owner@guess.example", common::OWNER_PASSWORD).await, "RATE_LIMITED");

    // An address without an account answers exactly as one with an account.
    let mut unknown = Vec::new();
    for _ in 0..6 {
        unknown.push(login_code(&app, "nobody@guess.example", "Wrong-1!").await);
    }
    assert_eq!(unknown, ["UNAUTHENTICATED"; 5].into_iter().chain(["RATE_LIMITED"]).collect::<Vec<_>>());

    // After the lock, the right password works again.
    app.clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let token = app.login("owner@guess.example", common::OWNER_PASSWORD).await;

    // A session cannot be used to guess its own password.
    let change = "mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
    for _ in 0..5 {
        let body = app.graphql_as(Some(&token), change, json!({"c": "Wrong-1!", "n": "Another-Secret-2026!"})).await;
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{body}");
    }
    let body =
        app.graphql_as(Some(&token), change, json!({"c": common::OWNER_PASSWORD, "n": "Another-Secret-2026!"})).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
}

async fn reset_requests_are_limited_per_address_alike(app: TestApp) {
    let _owner = app.company_owner("Resets", "owner@reset.example").await;
    let aliased = |email: &str| {
        let fields: String = (0..30).map(|i| format!("r{i}: requestPasswordReset(email: \"{email}\") ")).collect();
        format!("mutation {{ {fields} }}")
    };
    let mut answers = Vec::new();
    for email in ["owner@reset.example", "nobody@reset.example"] {
        let body = app.graphql(&aliased(email), json!({})).await;
        let granted = body["data"].as_object().map_or(0, |d| d.values().filter(|v| **v == json!(true)).count());
        let limited =
            body["errors"].as_array().unwrap().iter().filter(|e| e["extensions"]["code"] == "RATE_LIMITED").count();
        answers.push((granted, limited));
    }
    assert_eq!(answers, [(5, 25), (5, 25)], "the same answer for a known and an unknown address");
    // The five accepted requests each sent a link (the last one is the one that works).
    let reset = portal::domain::LinkPurpose::PasswordReset;
    app.settle().await;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let links = portal::db::link_tokens::Entity::find()
        .filter(portal::db::link_tokens::Column::Purpose.eq(reset))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(links, 5, "one link per accepted request, none for the unknown address");
}

async fn cross_site_shapes_and_framing_are_refused(app: TestApp) {
    // What a form or `fetch` from another site can send without a preflight.
    let reset = r#"{"query": "mutation { requestPasswordReset(email: \"someone@example.com\") }"}"#;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "text/plain;charset=UTF-8"] {
        let response =
            app.http.post(app.url("/graphql")).header("content-type", content_type).body(reset).send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body}");
    }
    let form = format!(
        "--b\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{reset}\r\n\
         --b\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{}}\r\n--b--\r\n"
    );
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // None of them ran: the reset would have counted an attempt for the address first.
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM attempt_counters").await, 0);

    // Pages cannot be framed or sniffed.
    for path in ["/graphql", "/reset-password?token=x", "/health"] {
        let response = app.http.get(app.url(path)).header("accept", "text/html").send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
    }

    // A request id that is not a plain token is replaced, not echoed.
    for sent in ["<script>alert(1)</script>", &"x".repeat(65), "a b"] {
        let response = app.http.get(app.url("/health")).header("x-request-id", sent).send().await.unwrap();
        let echoed = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, sent);
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
    }
}

async fn hostile_text_is_refused_by_field(app: TestApp) {
    let owner = app.company_owner("Texts", "owner@texts.example").await;
    let person = |given: &str, email: &str| {
        json!({"input": {"givenName": given, "surname": "Doe", "email": email, "jobTitle": "Analyst",
                         "managerEmail": "owner@texts.example"}})
    };
    data(&app.graphql_as(Some(&owner), CREATE_USER, person("Jane", "jane@texts.example")).await);
    let cases = [
        ("a NUL in a variable", person("Ja\u{0}ne", "nul@texts.example"), None),
        ("a megabyte name", person(&"J".repeat(1 << 20), "big@texts.example"), None),
        ("a 10,000-character name", person(&"J".repeat(10_000), "long@texts.example"), Some("givenName")),
        ("a right-to-left override", person("Jane\u{202e}", "rtl@texts.example"), Some("givenName")),
        ("a zero-width address", person("Jane", "ja\u{200b}ne@texts.example"), Some("email")),
    ];
    for (what, variables, field) in cases {
        let body = app.graphql_as(Some(&owner), CREATE_USER, variables).await;
        assert_eq!(error_code(&body), "VALIDATION_FAILED", "{what}: {body}");
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], field, "{what}: {body}");
        }
        assert!(body.to_string().len() < 2_000, "{what}: the error does not carry the input back");
    }
    // A fullwidth copy of an existing address is that address, not a second account.
    let body = app.graphql_as(Some(&owner), CREATE_USER, person("Jane", "ｊａｎｅ＠ｔｅｘｔｓ．ｅｘａｍｐｌｅ")).await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    // A NUL written in the document itself.
    let inline = "mutation { requestPasswordReset(email: \"a\\u0000@texts.example\") }";
    assert!(app.graphql(inline, json!({})).await["errors"][0]["message"].as_str().unwrap().contains("NUL"));
    let body = app.graphql_as(Some(&owner), "{ users { totalCount } }", json!({})).await;
    assert_eq!(data(&body)["users"]["totalCount"], 2, "nothing was created");
}

/// Every field of the served schema, root or nested, declares what it requires
/// (graphql/access.rs): a new field without a declaration fails here, and cannot resolve anyway.
#[test]
fn every_field_declares_its_requirement() {
    use portal::graphql::access::{field_requirement, requirement};
    let sdl = portal::graphql::sdl();
    let mut undeclared = Vec::new();
    let mut fields_seen = 0;
    for block in sdl.split("\ntype ").skip(1) {
        let type_name: String = block.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        let body = &block[..block.find("\n}").unwrap_or(block.len())];
        let root = ["Query", "Mutation", "Subscription"].contains(&type_name.as_str());
        let mut in_description = false;
        for line in body.lines().skip(1) {
            let line = line.trim();
            if line.starts_with("\"\"\"") {
                // A one-line description opens and closes on the same line.
                in_description = !(in_description || line.len() > 6 && line.ends_with("\"\"\""));
                continue;
            }
            if in_description
                || line.is_empty()
                || line.starts_with('"')
                || !line.starts_with(|c: char| c.is_ascii_lowercase())
            {
                continue;
            }
            let field: String = line.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            fields_seen += 1;
            let declared =
                if root { requirement(&field).is_some() } else { field_requirement(&type_name, &field).is_some() };
            if !declared {
                undeclared.push(format!("{type_name}.{field}"));
            }
        }
    }
    assert!(fields_seen > 200, "the walk found the schema's fields ({fields_seen})");
    assert!(undeclared.is_empty(), "declare these in src/graphql/access.rs: {undeclared:?}");
    assert!(requirement("noSuchOperation").is_none());
    assert!(field_requirement("User", "noSuchField").is_none(), "a guarded type lists its fields one by one");
}

async fn nested_fields_keep_the_module_rules(app: TestApp) {
    let owner = app.company_owner("Nested", "owner@nested.example").await;
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let input = |email: &str| {
        json!({"input": {"givenName": "Pat", "surname": "Plain", "email": email, "jobTitle": "Analyst",
                         "managerEmail": "owner@nested.example"}})
    };
    data(&app.graphql_as(Some(&owner), CREATE_USER, input("uma@nested.example")).await);
    let pete = data(&app.graphql_as(Some(&owner), CREATE_USER, input("pete@nested.example")).await)["createUser"]["id"]
        .clone();
    let grant = "mutation ($id: ID!) { setUserPermissions(userId: $id, modules: [PROJECTS]) { id } }";
    data(&app.graphql_as(Some(&owner), grant, json!({"id": pete})).await);
    let subscription = "mutation ($o: ID!) { createServiceSubscription(input: {product: \"Analytics\", plan: \"Gold\", ownerId: $o}) { id } }";
    let sub = data(&app.graphql_as(Some(&owner), subscription, json!({"o": owner_id})).await)["createServiceSubscription"]["id"]
        .clone();
    let project = "mutation ($s: ID!, $o: ID!) { createProject(input: {subscriptionId: $s, name: \"Atlas\", ownerId: $o}) { id } }";
    data(&app.graphql_as(Some(&owner), project, json!({"s": sub, "o": owner_id})).await);
    let contact =
        "mutation ($s: ID!) { createSupportContact(input: {subscriptionId: $s, email: \"owner@nested.example\",
        phone: \"+57 1 555 0199\", roles: [ADMINISTRATOR]}) { id } }";
    data(&app.graphql_as(Some(&owner), contact, json!({"s": sub})).await);
    let uma = app.activate("uma@nested.example").await;
    let pete = app.activate("pete@nested.example").await;

    // A user without modules sees their own grants and their manager's profile, not the
    // manager's grants.
    let body = app.graphql_as(Some(&uma), "{ viewer { email modules manager { email } } }", json!({})).await;
    assert_eq!(data(&body)["viewer"]["manager"]["email"], "owner@nested.example");
    let own = "query { viewer { ...Mine } } fragment Mine on User { modules lastSignedInAt manager { email } }";
    let body = app.graphql_as(Some(&uma), own, json!({})).await;
    assert_eq!(data(&body)["viewer"]["modules"], json!([]), "{body}");
    for (query, path) in [
        ("{ viewer { manager { email modules } } }", json!(["viewer", "manager", "modules"])),
        ("{ me: viewer { boss: manager { subscriptions { role } } } }", json!(["me", "boss", "subscriptions"])),
        // Fragments are judged where they are spread (`graphql/prejudged.rs` walks them before
        // the request may skip the per-field guard).
        (
            "query { viewer { manager { ...Grants } } } fragment Grants on User { modules }",
            json!(["viewer", "manager", "modules"]),
        ),
        ("{ viewer { manager { ... on User { email modules } } } }", json!(["viewer", "manager", "modules"])),
        (
            "query { viewer { email } ...Everyone } fragment Everyone on Query { users { totalCount } }",
            json!(["users"]),
        ),
    ] {
        let body = app.graphql_as(Some(&uma), query, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], path, "{body}");
        assert!(!body["data"].to_string().contains("USER_MANAGEMENT"), "{body}");
    }

    // PROJECTS shows the subscription a project belongs to, not its members or contacts.
    let body = app.graphql_as(Some(&pete), "{ projects { name subscription { product } } }", json!({})).await;
    assert_eq!(data(&body)["projects"][0]["subscription"]["product"], "Analytics");
    for (query, field) in [
        ("{ projects { subscription { members { user { email } } } } }", "members"),
        ("{ projects { subscription { contacts { phone } } } }", "contacts"),
        ("{ projects { members { user { modules } } } }", "modules"),
    ] {
        let body = app.graphql_as(Some(&pete), query, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
        assert_eq!(body["errors"][0]["path"].as_array().unwrap().last().unwrap(), field, "{body}");
        assert!(!body["data"].to_string().contains("555 0199"), "{body}");
    }
    // The owner, who holds every module, reads all of it.
    let body = app
        .graphql_as(
            Some(&owner),
            "{ projects { subscription { members { user { modules } } contacts { phone } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data(&body)["projects"][0]["subscription"]["contacts"][0]["phone"], "+57 1 555 0199");
}

/// After a sign-in, the next five wrong passwords are five, not four: the first attempt of a
/// window leaves nothing behind.
async fn a_sign_in_starts_the_count_over(app: TestApp) {
    let app = TestApp::spawn_with(app.backend.clone(), &[("PORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "10000")]).await;
    let _owner = app.company_owner("Recount", "owner@recount.example").await;
    app.login("owner@recount.example", common::OWNER_PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(login_code(&app, "owner@recount.example", "Wrong-1!").await, "UNAUTHENTICATED");
    }
    assert_eq!(login_code(&app, "owner@recount.example", common::OWNER_PASSWORD).await, "RATE_LIMITED");
}

/// A wrong password costs the same whether the address has an account: both write one
/// transaction (the failure counted), the known one adding only its audit row. Before, the
/// known address alone committed a transaction, a difference a stopwatch could see.
async fn a_failed_sign_in_writes_alike_for_every_address(app: TestApp) {
    let _owner = app.company_owner("Alike", "owner@alike.example").await;
    let failed_sign_in = |email: &'static str| {
        let app = &app;
        async move {
            app.services.statements.record();
            assert_eq!(login_code(app, email, "Wrong-1!").await, "UNAUTHENTICATED");
            let verbs: Vec<String> = app
                .services
                .statements
                .take()
                .iter()
                .map(|sql| sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ").replace('"', ""))
                .collect();
            verbs
        }
    };
    let known = failed_sign_in("owner@alike.example").await;
    let unknown = failed_sign_in("nobody@alike.example").await;
    assert!(
        unknown.iter().any(|s| s.starts_with("UPDATE attempt_counters")),
        "an unknown address writes its failure too: {unknown:?}"
    );
    let audit = known.iter().position(|s| s.starts_with("INSERT INTO audit_events")).expect("the known one is audited");
    let mut without_audit = known.clone();
    without_audit.remove(audit);
    assert_eq!(without_audit, unknown, "the same statements but the audit row");
}
