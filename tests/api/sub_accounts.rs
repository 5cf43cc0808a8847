//! Sub-accounts as a scope: a user limited to sub-account Alpha sees and acts on the service
//! subscriptions Alpha holds, with everything under them, and nothing of Beta's or of the
//! company-level ones, at every root and nested field. The tenancy walker runs with one
//! company's sub-accounts in place of two companies.

use crate::common;
use crate::tenancy::{collect_ids, walk};

use std::collections::BTreeMap;

use common::{TestApp, data, error_code, error_fields};
use serde_json::{Value, json};

backend_tests!(
    a_user_limited_to_a_sub_account_reaches_only_its_holdings,
    staff_and_owners_place_subscriptions,
    an_import_limits_its_people_to_sub_accounts,
    holdings_go_only_to_heirs_who_reach_them,
);

const MARKER: &str = "vctm";
const OWNER: &str = "owner@scoped.example";
const LENA: &str = "lena@scoped.example";

struct Company {
    owner: String,
    alpha: String,
    beta: String,
    owner_id: String,
    lena_id: String,
}

async fn call(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    data(&app.graphql_as(Some(token), query, variables).await).clone()
}

/// A company with sub-accounts Alpha and Beta, and Lena, a user limited to Alpha who holds
/// SUBSCRIPTIONS, PROJECTS and SUPPORT (signed in).
async fn scoped_company(app: &TestApp) -> (Company, String) {
    let owner = app.company_owner("Scoped", OWNER).await;
    let owner_id = call(app, &owner, "{ viewer { id } }", json!({})).await["viewer"]["id"].as_str().unwrap().to_owned();
    let sub_account = |name: &'static str| {
        let owner = owner.clone();
        async move {
            let made =
                call(app, &owner, "mutation ($n: String!) { createSubAccount(name: $n) { id } }", json!({"n": name}));
            made.await["createSubAccount"]["id"].as_str().unwrap().to_owned()
        }
    };
    let (alpha, beta) = (sub_account("Alpha").await, sub_account("Beta").await);
    let person = json!({"givenName": "Lena", "surname": "Limited", "email": LENA, "jobTitle": "Analyst",
                        "managerEmail": OWNER});
    let lena_id =
        call(app, &owner, "mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }", json!({"i": person}))
            .await["createUser"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    call(
        app,
        &owner,
        "mutation ($u: ID!, $s: [ID!]) { setUserPermissions(userId: $u, modules: [SUBSCRIPTIONS, PROJECTS, SUPPORT], subAccountIds: $s) { id } }",
        json!({"u": lena_id, "s": [alpha]}),
    )
    .await;
    let lena = app.activate(LENA).await;
    (Company { owner, alpha, beta, owner_id, lena_id }, lena)
}

/// A subscription held by `holder` (None: the company), with a project and a model; Lena is a
/// member of it and of its project, and its SUPPORT contact, when she reaches it (Alpha's).
/// Returns its id.
async fn subscription(app: &TestApp, c: &Company, product: &str, holder: Option<&str>) -> String {
    let with_lena = holder == Some(c.alpha.as_str());
    let sub = call(
        app,
        &c.owner,
        "mutation ($p: String!, $o: ID!, $h: ID) { createServiceSubscription(input: {product: $p, plan: \"Gold\", ownerId: $o, subAccountId: $h}) { id } }",
        json!({"p": product, "o": c.owner_id, "h": holder}),
    )
    .await["createServiceSubscription"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    if with_lena {
        call(
            app,
            &c.owner,
            "mutation ($s: ID!, $u: ID!) { addSubscriptionMember(subscriptionId: $s, userId: $u, role: USER) { id } }",
            json!({"s": sub, "u": c.lena_id}),
        )
        .await;
    }
    let project = call(
        app,
        &c.owner,
        "mutation ($s: ID!, $n: String!, $o: ID!) { createProject(input: {subscriptionId: $s, name: $n, ownerId: $o}) { id } }",
        json!({"s": sub, "n": format!("{product} project"), "o": c.owner_id}),
    )
    .await["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    if with_lena {
        call(
            app,
            &c.owner,
            "mutation ($p: ID!, $u: ID!) { addProjectMember(projectId: $p, userId: $u) { id } }",
            json!({"p": project, "u": c.lena_id}),
        )
        .await;
    }
    call(
        app,
        &c.owner,
        "mutation ($p: ID!, $n: String!, $o: ID!) { createModel(input: {projectId: $p, name: $n, ownerId: $o}) { id } }",
        json!({"p": project, "n": format!("{product} model"), "o": c.owner_id}),
    )
    .await;
    let contact = if with_lena { LENA } else { "carla@helpdesk.example" };
    call(
        app,
        &c.owner,
        "mutation ($s: ID!, $e: String!) { createSupportContact(input: {subscriptionId: $s, email: $e, givenName: \"Carla\", surname: \"Desk\", roles: [SUPPORT]}) { id } }",
        json!({"s": sub, "e": contact}),
    )
    .await;
    sub
}

/// Lena opens a ticket on the subscription (she is its SUPPORT contact); the ticket's id.
async fn ticket(app: &TestApp, lena: &str, sub: &str, subject: &str) -> String {
    call(
        app,
        lena,
        "mutation ($s: ID!, $t: String!) { createSupportTicket(input: {subscriptionId: $s, kind: GENERAL, subject: $t, description: \"Please help\"}) { id } }",
        json!({"s": sub, "t": subject}),
    )
    .await["createSupportTicket"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn move_to(app: &TestApp, token: &str, sub: &str, holder: Option<&str>) -> Value {
    app.graphql_as(
        Some(token),
        "mutation ($s: ID!, $h: ID) { moveServiceSubscription(id: $s, subAccountId: $h) { id subAccount { name } } }",
        json!({"s": sub, "h": holder}),
    )
    .await
}

/// Every product Lena can see, from the roots and the nested lists that lead to subscriptions.
async fn products_seen(app: &TestApp, lena: &str) -> Vec<String> {
    let seen = call(
        app,
        lena,
        "{ serviceSubscriptions { product } projects { name subscription { product } }
           viewer { subscriptions { subscription { product } } projects { name subscription { product } } }
           company { subscriptions { product } }
           supportTickets { edges { node { subject subscription { product } } } } }",
        json!({}),
    )
    .await;
    let mut products = Vec::new();
    collect_strings(&seen, &mut products);
    products.sort();
    products.dedup();
    products
}

fn collect_strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) => into.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, into)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, into)),
        _ => {}
    }
}

async fn a_user_limited_to_a_sub_account_reaches_only_its_holdings(app: TestApp) {
    let (c, lena) = scoped_company(&app).await;
    let own = subscription(&app, &c, "Own", Some(&c.alpha)).await;
    // The victim starts in Alpha, so that Lena joins it and opens a ticket, then moves to Beta:
    // what she was part of must vanish from every path, not only what she never saw.
    let victim = subscription(&app, &c, "vctm product", Some(&c.alpha)).await;
    let victim_ticket = ticket(&app, &lena, &victim, "vctm subject").await;
    ticket(&app, &lena, &own, "Own ticket").await;
    let company_level = subscription(&app, &c, "vctm company level", None).await;
    let moved = move_to(&app, &c.owner, &victim, Some(&c.beta)).await;
    assert_eq!(data(&moved)["moveServiceSubscription"]["subAccount"]["name"], "Beta");

    let seen = products_seen(&app, &lena).await;
    assert_eq!(seen, ["Own", "Own project", "Own ticket"], "Lena sees Alpha's holdings only");
    assert!(products_seen(&app, &c.owner).await.len() > 3, "the owner is not limited");

    // Every ID of the victims, as the unlimited owner sees them.
    let tree = "{ serviceSubscriptions { __typename id product members { __typename id }
                  projects { __typename id environments { __typename id } models { __typename id } }
                  contacts { __typename id } } }";
    let everything = call(&app, &c.owner, tree, json!({})).await;
    let mut victim_ids = vec![victim_ticket.clone()];
    for subscription in everything["serviceSubscriptions"].as_array().unwrap() {
        if subscription["product"].as_str().unwrap().contains(MARKER) {
            let mut found = BTreeMap::new();
            collect_ids(subscription, &mut found);
            victim_ids.extend(found.into_values().flatten());
        }
    }
    assert!(victim_ids.len() >= 15, "two subscriptions with one of everything: {victim_ids:?}");
    assert!(victim_ids.contains(&company_level));
    let mut own_ids = BTreeMap::new();
    let mine = "{ viewer { __typename id subAccounts { __typename id } }
                  serviceSubscriptions { __typename id projects { __typename id } } }";
    collect_ids(&call(&app, &lena, mine, json!({})).await, &mut own_ids);
    assert_eq!(own_ids["ServiceSubscription"], std::slice::from_ref(&own));

    let called = walk(&app, &lena, &victim_ids, &own_ids, MARKER).await;
    for operation in
        ["addSubscriptionMember", "createProject", "createSupportContact", "createSupportTicket", "projects"]
    {
        assert!(called.contains(operation), "the walk called {operation}: {called:?}");
    }

    // An API key Lena makes is limited as she is.
    let key = call(
        &app,
        &lena,
        "mutation { createApiKey(input: {name: \"Lena's\", modules: [SUBSCRIPTIONS]}) { secret } }",
        json!({}),
    )
    .await["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_key = call(&app, &key, "{ serviceSubscriptions { product } }", json!({})).await;
    assert_eq!(by_key["serviceSubscriptions"], json!([{"product": "Own"}]));

    // Lena cannot move anything; nor be given a part in Beta's holdings.
    assert_eq!(error_code(&move_to(&app, &lena, &own, Some(&c.beta)).await), "FORBIDDEN");
    let beta_held = call(
        &app,
        &c.owner,
        "mutation ($o: ID!, $h: ID) { createServiceSubscription(input: {product: \"Beta's\", plan: \"Gold\", ownerId: $o, subAccountId: $h}) { id } }",
        json!({"o": c.owner_id, "h": c.beta}),
    )
    .await["createServiceSubscription"]["id"]
        .clone();
    let refused = app
        .graphql_as(
            Some(&c.owner),
            "mutation ($s: ID!, $u: ID!) { addSubscriptionMember(subscriptionId: $s, userId: $u, role: USER) { id } }",
            json!({"s": beta_held, "u": c.lena_id}),
        )
        .await;
    assert_eq!(error_code(&refused), "VALIDATION_FAILED");
    assert_eq!(error_fields(&refused), ["userId"]);

    // Back in Alpha, the victim (and Lena's ticket about it) is hers to see again.
    data(&move_to(&app, &c.owner, &victim, Some(&c.alpha)).await);
    let seen = products_seen(&app, &lena).await;
    assert!(seen.contains(&"vctm product".to_owned()) && seen.contains(&"vctm subject".to_owned()), "{seen:?}");
    // Unlimited again (no sub-account), she sees the company-level one too.
    call(
        &app,
        &c.owner,
        "mutation ($u: ID!) { setUserPermissions(userId: $u, modules: [SUBSCRIPTIONS, PROJECTS, SUPPORT], subAccountIds: []) { id } }",
        json!({"u": c.lena_id}),
    )
    .await;
    assert!(products_seen(&app, &lena).await.contains(&"vctm company level".to_owned()));
}

async fn staff_and_owners_place_subscriptions(app: TestApp) {
    let (c, _lena) = scoped_company(&app).await;
    let other_owner = app.company_owner("Elsewhere", "owner@elsewhere.example").await;
    let foreign_sub_account = call(
        &app,
        &other_owner,
        "mutation { createSubAccount(name: \"Theirs\") { id } }",
        json!({}),
    )
    .await["createSubAccount"]["id"]
        .clone();
    // Another company's sub-account is refused on its field, and nothing is created.
    let create = "mutation ($o: ID!, $h: ID) { createServiceSubscription(input: {product: \"P\", plan: \"Gold\", ownerId: $o, subAccountId: $h}) { id subAccount { id name } } }";
    let refused = app.graphql_as(Some(&c.owner), create, json!({"o": c.owner_id, "h": foreign_sub_account})).await;
    assert_eq!((error_code(&refused), error_fields(&refused)), ("VALIDATION_FAILED", vec!["subAccountId".to_owned()]));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM service_subscriptions").await, 0);
    // The owner of a subscription must reach it.
    let refused = app.graphql_as(Some(&c.owner), create, json!({"o": c.lena_id, "h": c.beta})).await;
    assert_eq!(error_fields(&refused), ["ownerId"]);

    // An operator places a company's subscription in one of its sub-accounts.
    let operator = app.operator_token().await;
    let made = call(&app, &operator, create, json!({"o": c.owner_id, "h": c.alpha})).await;
    assert_eq!(made["createServiceSubscription"]["subAccount"]["name"], "Alpha");
    let sub = made["createServiceSubscription"]["id"].as_str().unwrap().to_owned();
    let moved = move_to(&app, &operator, &sub, None).await;
    assert_eq!(data(&moved)["moveServiceSubscription"]["subAccount"], Value::Null);
    // Not into another company's sub-account, whoever asks.
    let refused = move_to(&app, &operator, &sub, foreign_sub_account.as_str()).await;
    assert_eq!(error_fields(&refused), ["subAccountId"]);
    let refused = move_to(&app, &other_owner, &sub, foreign_sub_account.as_str()).await;
    assert_eq!(error_code(&refused), "NOT_FOUND");

    // What a sub-account holds and who is limited to it.
    data(&move_to(&app, &c.owner, &sub, Some(&c.alpha)).await);
    let listed =
        call(&app, &c.owner, "{ subAccounts { name members { email } subscriptions { product } } }", json!({})).await;
    assert_eq!(
        listed["subAccounts"],
        json!([{"name": "Alpha", "members": [{"email": LENA}], "subscriptions": [{"product": "P"}]},
               {"name": "Beta", "members": [], "subscriptions": []}])
    );
    let audited = "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'subscription.moved'";
    assert_eq!(app.count(audited).await, 2);
}

async fn an_import_limits_its_people_to_sub_accounts(app: TestApp) {
    let (c, _lena) = scoped_company(&app).await;
    let other = app.company_owner("Elsewhere", "owner@elsewhere.example").await;
    let theirs = call(&app, &other, "mutation { createSubAccount(name: \"Theirs\") { id } }", json!({})).await
        ["createSubAccount"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n\
                Ina,Import,ina@scoped.example,Analyst,owner@scoped.example,CO,1\r\n\
                Ike,Import,ike@scoped.example,Analyst,ina@scoped.example,CO,0\r\n";
    let post = |query: String| {
        let owner = c.owner.clone();
        let app = &app;
        async move {
            app.http.post(app.url(&format!("/imports?{query}"))).bearer_auth(owner).body(file).send().await.unwrap()
        }
    };
    // Another company's sub-account, or a malformed id: refused before anything is stored.
    for query in [format!("subAccountIds={theirs}"), "subAccountIds=nope".to_owned()] {
        let refused = post(query.clone()).await;
        assert_eq!(refused.status(), 400, "{query}");
        assert!(refused.text().await.unwrap().contains("subAccountIds"), "{query}");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM import_jobs").await, 0);

    // The same sub-account twice is the same limit.
    let started = post(format!("subAccountIds={},{},{}", c.alpha, c.beta, c.alpha)).await;
    assert_eq!(started.status(), 202);
    let job: Value = started.json().await.unwrap();
    let query = "query ($id: ID!) { importJob(id: $id) { status createdCount subAccountIds } }";
    let done = common::eventually("the import finishes", async || {
        let job = call(&app, &c.owner, query, json!({"id": job["id"]})).await["importJob"].clone();
        (!matches!(job["status"].as_str(), Some("VALIDATING" | "IMPORTING"))).then_some(job)
    })
    .await;
    assert_eq!((&done["status"], &done["createdCount"]), (&json!("COMPLETED"), &json!(2)), "{done}");
    assert_eq!(done["subAccountIds"].as_array().unwrap().len(), 2);
    let limited = "query ($s: ID) { users(orderBy: {field: EMAIL}, filter: {subAccountId: $s}) { edges { node { email subAccounts { name } } } } }";
    let in_beta = call(&app, &c.owner, limited, json!({"s": c.beta})).await;
    assert_eq!(
        in_beta["users"]["edges"],
        json!([{"node": {"email": "ike@scoped.example", "subAccounts": [{"name": "Alpha"}, {"name": "Beta"}]}},
               {"node": {"email": "ina@scoped.example", "subAccounts": [{"name": "Alpha"}, {"name": "Beta"}]}}])
    );
}

async fn holdings_go_only_to_heirs_who_reach_them(app: TestApp) {
    let (c, _lena) = scoped_company(&app).await;
    let beta_held = subscription(&app, &c, "Beta's", Some(&c.beta)).await;
    let person = json!({"givenName": "Hal", "surname": "Holder", "email": "hal@scoped.example", "jobTitle": "Analyst",
                        "managerEmail": OWNER});
    let hal =
        call(&app, &c.owner, "mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }", json!({"i": person}))
            .await["createUser"]["id"]
            .clone();
    call(
        &app,
        &c.owner,
        "mutation ($s: ID!, $u: ID!) { addSubscriptionMember(subscriptionId: $s, userId: $u, role: USER) { id } }",
        json!({"s": beta_held, "u": hal}),
    )
    .await;
    let deactivate = "mutation ($id: ID!, $to: ID) { deactivateUser(id: $id, transferTo: $to) { status } }";
    let refused = app.graphql_as(Some(&c.owner), deactivate, json!({"id": hal, "to": c.lena_id})).await;
    assert_eq!((error_code(&refused), error_fields(&refused)), ("VALIDATION_FAILED", vec!["transferTo".to_owned()]));
    assert!(refused.to_string().contains("limited to sub-accounts"), "{refused}");
    let done = call(&app, &c.owner, deactivate, json!({"id": hal, "to": c.owner_id})).await;
    assert_eq!(done["deactivateUser"]["status"], "INACTIVE");
}
