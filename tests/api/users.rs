//! Company users and administrators: creation rules, search and paging, batching,
//! administrators, deactivation with transfer, anonymization, removal, tenancy, permissions.

use crate::common;

use chrono::Utc;
use common::{TestApp, data, error_code, error_fields};
use portal::db::{
    audit_events, project_members, project_models, projects, service_subscriptions, subscription_members, user_modules,
    users,
};
use portal::domain::{MemberStatus, Module, SubscriptionRole, SubscriptionStatus, UserStatus};
use portal::types::{CompanyId, SubscriptionId, UserId};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    creating_a_user_follows_the_rules,
    search_filters_and_cursors,
    search_answers_alike_on_both_databases,
    search_pages_follow_renames_statuses_and_companies,
    lists_page_backwards_as_well_as_forwards,
    a_dashboard_costs_a_constant_number_of_queries,
    total_count_is_counted_only_when_asked,
    only_the_owner_manages_administrators,
    deactivation_transfers_everything_in_one_go,
    anonymization_scrubs_personal_data_and_keeps_the_trail,
    only_never_activated_users_can_be_removed,
    another_company_sees_nothing,
    a_user_without_user_management_is_forbidden,
);

const CREATE: &str = "mutation ($input: CreateUserInput!) { createUser(input: $input) { id email status role country locale givenName } }";

fn person(given: &str, surname: &str, email: &str, manager: &str) -> Value {
    json!({"givenName": given, "surname": surname, "email": email, "jobTitle": "Analyst", "managerEmail": manager})
}

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    let body = app.graphql_as(Some(token), CREATE, json!({"input": input})).await;
    data(&body)["createUser"].clone()
}

pub(crate) async fn create_id(
    app: &TestApp,
    token: &str,
    given: &str,
    surname: &str,
    email: &str,
    manager: &str,
) -> String {
    create(app, token, person(given, surname, email, manager)).await["id"].as_str().unwrap().to_owned()
}

async fn creating_a_user_follows_the_rules(app: TestApp) {
    let owner = app.company_owner("Acme", "owner@acme.example").await;
    let mut input = person("José", "Pérez", "Jose.Perez@Acme.example", "owner@acme.example");
    input["country"] = json!("Colombia");
    input["locale"] = json!("es");
    let user = create(&app, &owner, input).await;
    assert_eq!(
        (&user["email"], &user["status"], &user["role"], &user["country"], &user["locale"]),
        (&json!("jose.perez@acme.example"), &json!("ACTIVE"), &json!("USER"), &json!("CO"), &json!("es"))
    );
    // The welcome email (in Spanish) carries a link to set a password.
    let welcome = app.wait_for_email("jose.perez@acme.example").await;
    assert!(welcome.subject().unwrap().starts_with("Bienvenido"));
    let token = app.activate("jose.perez@acme.example").await;
    let body = app.graphql_as(Some(&token), "{ viewer { email } }", json!({})).await;
    assert_eq!(data(&body)["viewer"]["email"], "jose.perez@acme.example");

    // Everything wrong at once.
    let blank = json!({"givenName": " ", "surname": "", "email": "nope", "jobTitle": "", "managerEmail": "", "country": "Atlantis"});
    let body = app.graphql_as(Some(&owner), CREATE, json!({"input": blank})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert_eq!(error_fields(&body), ["givenName", "surname", "jobTitle", "email", "managerEmail", "country"]);

    // The same address in other letters is a conflict naming the field.
    let body = app
        .graphql_as(
            Some(&owner),
            CREATE,
            json!({"input": person("J", "P", "JOSE.PEREZ@acme.example", "owner@acme.example")}),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    // The manager must be a user of the company.
    let body = app
        .graphql_as(Some(&owner), CREATE, json!({"input": person("K", "L", "k@acme.example", "stranger@else.example")}))
        .await;
    assert_eq!(error_fields(&body), ["managerEmail"]);

    // Inactive from the start: no welcome email.
    let mut input = person("Ina", "Active", "ina@acme.example", "owner@acme.example");
    input["isActive"] = json!(false);
    assert_eq!(create(&app, &owner, input).await["status"], "INACTIVE");
    assert_eq!(app.deliveries_to("ina@acme.example").await, 0, "nothing queued for an inactive user");
    app.settle().await;
    let to_ina = common::mail::mailbox(&app.mailbox_dir)
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains("To: ina@"))
        .count();
    assert_eq!(to_ina, 0);

    // Updating: one field, the rest kept; audited with before and after.
    let id = user["id"].as_str().unwrap();
    let body = app
        .graphql_as(Some(&owner), "mutation ($id: ID!) { updateUser(id: $id, input: {jobTitle: \"Head buyer\"}) { jobTitle givenName country } }", json!({"id": id}))
        .await;
    assert_eq!(data(&body)["updateUser"], json!({"jobTitle": "Head buyer", "givenName": "José", "country": "CO"}));
    let body = app
        .graphql_as(
            Some(&owner),
            "query ($t: ID!) { auditEvents(targetId: $t) { edges { node { action before after actor { email } } } } }",
            json!({"t": id}),
        )
        .await;
    let events = data(&body)["auditEvents"]["edges"].as_array().unwrap().clone();
    let updated = events.iter().find(|e| e["node"]["action"] == "user.updated").expect("audited").clone();
    assert_eq!(updated["node"]["before"]["jobTitle"], "Analyst");
    assert_eq!(updated["node"]["after"]["jobTitle"], "Head buyer");
    assert_eq!(updated["node"]["actor"]["email"], "owner@acme.example");
}

const LIST: &str = "query ($first: Int, $after: String, $filter: UserFilter) {
    users(first: $first, after: $after, filter: $filter) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { email surname status } } } }";

async fn list(app: &TestApp, token: &str, first: i32, after: Option<&str>, filter: Value) -> Value {
    let body = app.graphql_as(Some(token), LIST, json!({"first": first, "after": after, "filter": filter})).await;
    data(&body)["users"].clone()
}

fn emails(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["email"].as_str().unwrap().to_owned()).collect()
}

/// The same people and searches on SQLite (FTS5 trigram index, `LIKE` for words under three
/// characters) and PostgreSQL (trigram GIN index): the expected answers are written once, so
/// both databases must give them. Renamed people are found by their new name only (the index
/// follows every change), anonymized ones not at all.
async fn search_answers_alike_on_both_databases(app: TestApp) {
    let owner = app.company_owner("Finders", "owner@find.example").await;
    let m = "owner@find.example";
    let mut ids = std::collections::HashMap::new();
    for (given, surname, email) in [
        ("José", "Pérez-García", "jose.perez@find.example"),
        ("Ana_María", "Núñez", "ana_m@find.example"),
        ("Zoë", "O\"Hara", "zoe@find.example"),
        ("Bob", "GARCIA", "bob@find.example"),
        ("Li", "Wu", "li.wu@find.example"),
        ("Percy", "100% Cent", "percy@find.example"),
        ("Renée", "Old", "renee@find.example"),
    ] {
        ids.insert(email, create_id(&app, &owner, given, surname, email, m).await);
    }
    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($id: ID!) { updateUser(id: $id, input: {surname: \"Newname\"}) { surname } }",
            json!({"id": ids["renee@find.example"]}),
        )
        .await;
    assert_eq!(data(&body)["updateUser"]["surname"], "Newname");
    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($id: ID!) { anonymizeUser(id: $id) { scrubbedFields } }",
            json!({"id": ids["percy@find.example"]}),
        )
        .await;
    data(&body);
    let cases: [(&str, &[&str]); 14] = [
        ("garcia", &["bob@find.example", "jose.perez@find.example"]),
        ("GARCÍA", &["bob@find.example", "jose.perez@find.example"]),
        ("perez garcia", &["jose.perez@find.example"]),
        ("garcia perez", &["jose.perez@find.example"]),
        ("ez-ga", &["jose.perez@find.example"]),
        ("nunez", &["ana_m@find.example"]),
        ("a_m", &["ana_m@find.example"]),
        ("a_ma", &["ana_m@find.example"]),
        ("_", &["ana_m@find.example"]),
        ("o\"hara", &["zoe@find.example"]),
        ("wu", &["li.wu@find.example"]),
        ("li wu find", &["li.wu@find.example"]),
        ("newname", &["renee@find.example"]),
        ("100%", &[]),
    ];
    for (search, expected) in cases {
        let found = emails(&list(&app, &owner, 10, None, json!({"search": search})).await);
        let mut found: Vec<&str> = found.iter().map(String::as_str).collect();
        found.sort_unstable();
        assert_eq!(found, expected, "search {search:?}");
    }
    for nobody in ["old", "percy", "a%m", "ana_m%"] {
        let page = list(&app, &owner, 10, None, json!({"search": nobody})).await;
        assert_eq!(emails(&page), Vec::<String>::new(), "search {nobody:?}");
    }
}

const SEARCH_PAGE: &str = "query ($first: Int, $after: String, $last: Int, $filter: UserFilter, $order: UserOrder) {
    users(first: $first, after: $after, last: $last, filter: $filter, orderBy: $order) {
        pageInfo { hasNextPage endCursor } edges { node { email } } } }";

/// On SQLite a search page in the surname or status ordering is picked inside the search index,
/// from its copy of the columns the page is filtered and ordered by (migration 17): the pages
/// stay right when a rename moves someone, a status changes, and another company has people who
/// match and sort first.
async fn search_pages_follow_renames_statuses_and_companies(app: TestApp) {
    let early = app.company_owner("Early", "owner@early.example").await;
    for n in 0..3 {
        create_id(&app, &early, "Aaa", "García", &format!("aaa{n}@early.example"), "owner@early.example").await;
    }
    let owner = app.company_owner("Pages", "owner@pages.example").await;
    let mut ids = std::collections::HashMap::new();
    for name in ["Ana", "Bea", "Carl", "Dan"] {
        let email = format!("{}@pages.example", name.to_lowercase());
        ids.insert(name, create_id(&app, &owner, name, "García", &email, "owner@pages.example").await);
    }
    let page = async |variables: Value| {
        let body = app.graphql_as(Some(&owner), SEARCH_PAGE, variables).await;
        data(&body)["users"].clone()
    };
    let walk = async |filter: Value, order: Value| {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let found = page(json!({"first": 2, "after": after, "filter": filter, "order": order})).await;
            seen.extend(emails(&found));
            if found["pageInfo"]["hasNextPage"] == false {
                return seen;
            }
            after = found["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    };
    let garcia = json!({"search": "garcia"});
    let surname = json!({"field": "SURNAME"});
    assert_eq!(
        walk(garcia.clone(), surname.clone()).await,
        ["ana@pages.example", "bea@pages.example", "carl@pages.example", "dan@pages.example"]
    );

    let rename = "mutation ($id: ID!) { updateUser(id: $id, input: {surname: \"Zgarcía\"}) { surname } }";
    app.graphql_as(Some(&owner), rename, json!({"id": ids["Bea"]})).await;
    let first = page(json!({"first": 2, "filter": garcia, "order": surname})).await;
    assert_eq!(emails(&first), ["ana@pages.example", "carl@pages.example"], "Bea now sorts last");
    assert_eq!(
        walk(garcia.clone(), surname.clone()).await,
        ["ana@pages.example", "carl@pages.example", "dan@pages.example", "bea@pages.example"]
    );
    let last = page(json!({"last": 2, "filter": garcia, "order": surname})).await;
    assert_eq!(emails(&last), ["dan@pages.example", "bea@pages.example"]);

    let deactivate = "mutation ($id: ID!) { deactivateUser(id: $id) { status } }";
    app.graphql_as(Some(&owner), deactivate, json!({"id": ids["Carl"]})).await;
    let active = json!({"search": "garcia", "status": "ACTIVE"});
    let found = page(json!({"first": 3, "filter": active, "order": surname})).await;
    assert_eq!(emails(&found), ["ana@pages.example", "dan@pages.example", "bea@pages.example"], "{found}");
    let inactive = json!({"search": "garcia", "status": "INACTIVE"});
    assert_eq!(walk(inactive, surname.clone()).await, ["carl@pages.example"]);
    let by_status = json!({"field": "STATUS"});
    assert_eq!(
        walk(garcia.clone(), by_status.clone()).await,
        ["ana@pages.example", "dan@pages.example", "bea@pages.example", "carl@pages.example"]
    );
    let descending = json!({"field": "STATUS", "direction": "DESC"});
    assert_eq!(
        walk(garcia, descending).await,
        ["carl@pages.example", "bea@pages.example", "dan@pages.example", "ana@pages.example"]
    );
}

async fn search_filters_and_cursors(app: TestApp) {
    let owner = app.company_owner("Searchers", "owner@search.example").await;
    let m = "owner@search.example";
    for (given, surname, email) in [
        ("José", "Pérez", "jose@search.example"),
        ("Ana", "Núñez", "ana@search.example"),
        ("Zoe", "Adams", "zoe@search.example"),
        ("Bruno", "Díaz", "bruno.diaz@search.example"),
        ("Carla", "Pérez", "carla@search.example"),
    ] {
        create_id(&app, &owner, given, surname, email, m).await;
    }
    // Accents and case do not matter; every word must match.
    assert_eq!(
        emails(&list(&app, &owner, 10, None, json!({"search": "perez"})).await),
        ["carla@search.example", "jose@search.example"]
    );
    assert_eq!(emails(&list(&app, &owner, 10, None, json!({"search": "NÚÑEZ"})).await), ["ana@search.example"]);
    assert_eq!(emails(&list(&app, &owner, 10, None, json!({"search": "jose perez"})).await), ["jose@search.example"]);
    assert_eq!(
        emails(&list(&app, &owner, 10, None, json!({"search": "bruno.diaz@"})).await),
        ["bruno.diaz@search.example"]
    );
    assert_eq!(
        list(&app, &owner, 10, None, json!({"search": "100%_"})).await["totalCount"],
        0,
        "wildcards are literal"
    );
    assert_eq!(emails(&list(&app, &owner, 10, None, json!({"role": "OWNER"})).await), ["owner@search.example"]);

    // Ordered by surname, given name; paged with cursors that survive insertions.
    let first = list(&app, &owner, 2, None, json!({})).await;
    assert_eq!(first["totalCount"], 6);
    assert_eq!(emails(&first), ["zoe@search.example", "bruno.diaz@search.example"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    create_id(&app, &owner, "Aaron", "Aalto", "aaron@search.example", m).await; // sorts before the cursor
    create_id(&app, &owner, "Yves", "Zurich", "yves@search.example", m).await; // after it
    let mut seen = emails(&first);
    let mut cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    loop {
        let page = list(&app, &owner, 2, Some(&cursor), json!({})).await;
        seen.extend(emails(&page));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    }
    assert_eq!(
        seen,
        [
            "zoe@search.example",
            "bruno.diaz@search.example",
            "ana@search.example",
            "owner@search.example",
            "carla@search.example",
            "jose@search.example",
            "yves@search.example"
        ],
        "no duplicate, nothing after the cursor skipped"
    );

    let body = app.graphql_as(Some(&owner), LIST, json!({"after": "garbage"})).await;
    assert_eq!(error_fields(&body), ["after"]);
    // Status filter, and ANONYMIZED is hidden unless asked for.
    let id = create_id(&app, &owner, "Olga", "Old", "olga@search.example", m).await;
    let body = app
        .graphql_as(Some(&owner), "mutation ($id: ID!) { deactivateUser(id: $id) { status } }", json!({"id": id}))
        .await;
    assert_eq!(data(&body)["deactivateUser"]["status"], "INACTIVE");
    assert_eq!(emails(&list(&app, &owner, 10, None, json!({"status": "INACTIVE"})).await), ["olga@search.example"]);
    app.graphql_as(Some(&owner), "mutation ($id: ID!) { anonymizeUser(id: $id) { user { id } } }", json!({"id": id}))
        .await;
    assert_eq!(list(&app, &owner, 50, None, json!({})).await["totalCount"], 8);
    assert_eq!(list(&app, &owner, 50, None, json!({"status": "ANONYMIZED"})).await["totalCount"], 1);
}

async fn seed_subscription(app: &TestApp, company_id: CompanyId, owner_id: UserId) -> service_subscriptions::Model {
    let now = Utc::now();
    service_subscriptions::ActiveModel {
        id: Set(portal::types::SubscriptionId::new()),
        company_id: Set(company_id),
        product: Set("Automation Service".into()),
        plan: Set("Enterprise".into()),
        owner_id: Set(owner_id),
        status: Set(SubscriptionStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
        sub_account_id: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap()
}

async fn add_member(app: &TestApp, subscription: SubscriptionId, user: UserId) {
    let now = Utc::now();
    subscription_members::ActiveModel {
        id: Set(portal::types::MemberId::new()),
        subscription_id: Set(subscription),
        user_id: Set(user),
        role: Set(SubscriptionRole::User),
        status: Set(MemberStatus::Active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
}

async fn user_row(app: &TestApp, email: &str) -> users::Model {
    users::Entity::find().filter(users::Column::Email.eq(email)).one(&app.db).await.unwrap().unwrap()
}

// The batch window is a time: on a loaded machine (CI, the whole suite running) a 1 ms window
// splits batches (48 statements for 31 users has been seen), which says nothing about N+1.
// 50 ms here makes a batch one batch, so the bound below is about batching alone.
backend_tests!(settings: [("PORTAL_GRAPHQL_BATCH_WINDOW_MS", "50")]; listing_costs_a_constant_number_of_queries);

const WIDE: &str = "{ users(first: 100) { edges { node { email manager { email } modules subAccounts { name }
    subscriptions { role status subscription { product } } projects { name } } } } }";

async fn listing_costs_a_constant_number_of_queries(app: TestApp) {
    let owner = app.company_owner("Batch", "owner@batch.example").await;
    let owner_row = user_row(&app, "owner@batch.example").await;
    let subscription = seed_subscription(&app, owner_row.company_id.unwrap(), owner_row.id).await;
    let now = Utc::now();
    let project = projects::ActiveModel {
        id: Set(portal::types::ProjectId::new()),
        company_id: Set(owner_row.company_id.unwrap()),
        subscription_id: Set(subscription.id),
        name: Set("Claims".into()),
        owner_id: Set(owner_row.id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let mut count_for = Vec::new();
    for round in 0..2 {
        for i in 0..15 {
            let email = format!("u{round}-{i}@batch.example");
            let id: UserId =
                create_id(&app, &owner, "Some", &format!("One {round} {i}"), &email, "owner@batch.example")
                    .await
                    .parse()
                    .unwrap();
            add_member(&app, subscription.id, id).await;
            project_members::ActiveModel {
                id: Set(portal::types::ProjectMemberId::new()),
                project_id: Set(project.id),
                user_id: Set(id),
                created_at: Set(now),
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        let before = app.services.statements.count();
        app.services.statements.record();
        let body = app.graphql_as(Some(&owner), WIDE, json!({})).await;
        let after = app.services.statements.count();
        let recorded = app.services.statements.take();
        // The users entity has no such column: a listing cannot read (or decode) it.
        assert!(recorded.iter().all(|sql| !sql.contains("password_hash")), "{recorded:#?}");
        let users = data(&body)["users"]["edges"].as_array().unwrap().clone();
        assert_eq!(users.len(), 1 + 15 * (round + 1));
        let member = users.iter().find(|u| u["node"]["email"] == "u0-0@batch.example").unwrap();
        assert_eq!(member["node"]["manager"]["email"], "owner@batch.example");
        assert_eq!(member["node"]["subscriptions"][0]["subscription"]["product"], "Automation Service");
        assert_eq!(member["node"]["projects"], json!([{"name": "Claims"}]));
        count_for.push(after - before);
    }
    // Without batching each user would cost several queries (N+1: 96 and 186); batched, the
    // same few statements for 16 users as for 31.
    assert_eq!(count_for[0], count_for[1], "queries for 16 and 31 users: {count_for:?}");
    assert!(count_for[0] <= 12, "queries for 16 and 31 users: {count_for:?}");
}

const DASHBOARD: &str = "{ serviceSubscriptions { product owner { email } members { role user { email } }
    contacts { roles isPrimary user { email } subscription { product } }
    projects { name subscription { product } environments { kind name } models { name owner { email } }
               members { user { email } } } } }";

/// Subscriptions, each with projects (environments, models, members) and contacts: the same
/// handful of statements for one subscription as for three.
async fn a_dashboard_costs_a_constant_number_of_queries(app: TestApp) {
    let owner = app.company_owner("Dash", "owner@dash.example").await;
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let call =
        async |query: &str, variables: Value| data(&app.graphql_as(Some(&owner), query, variables).await).clone();
    let mut statements = Vec::new();
    for round in 0..3 {
        let created = call(
            "mutation ($input: CreateServiceSubscriptionInput!) { createServiceSubscription(input: $input) { id } }",
            json!({"input": {"product": format!("Product {round}"), "plan": "Enterprise", "ownerId": owner_id}}),
        )
        .await;
        let subscription = created["createServiceSubscription"]["id"].clone();
        for p in 0..2 {
            let input =
                json!({"subscriptionId": subscription, "name": format!("Project {round}.{p}"), "ownerId": owner_id});
            let project = call(
                "mutation ($input: CreateProjectInput!) { createProject(input: $input) { id } }",
                json!({"input": input}),
            )
            .await;
            let input = json!({"projectId": project["createProject"]["id"], "name": format!("Model {round}.{p}"), "ownerId": owner_id});
            call("mutation ($input: CreateModelInput!) { createModel(input: $input) { id } }", json!({"input": input}))
                .await;
        }
        let input = json!({"subscriptionId": subscription, "email": "owner@dash.example", "roles": ["ADMINISTRATOR"]});
        call(
            "mutation ($input: CreateSupportContactInput!) { createSupportContact(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;

        let before = app.services.statements.count();
        let body = app.graphql_as(Some(&owner), DASHBOARD, json!({})).await;
        let after = app.services.statements.count();
        let subscriptions = data(&body)["serviceSubscriptions"].as_array().unwrap().clone();
        assert_eq!(subscriptions.len(), round + 1);
        let last = &subscriptions[round];
        assert_eq!(last["projects"].as_array().unwrap().len(), 2, "{last}");
        assert_eq!(last["projects"][0]["environments"].as_array().unwrap().len(), 3, "{last}");
        assert_eq!(last["projects"][1]["models"][0]["owner"]["email"], "owner@dash.example");
        assert_eq!(last["projects"][0]["subscription"]["product"], last["product"]);
        assert_eq!(last["contacts"][0]["subscription"]["product"], last["product"]);
        assert_eq!(last["members"][0]["user"]["email"], "owner@dash.example");
        statements.push(after - before);
    }
    // One statement per kind (session, subscriptions, members, users, projects, contacts, roles,
    // environments, models, project members, subscriptions by id): about 12, whatever the
    // number of subscriptions; one per row would be 9 more for each subscription (18 more for
    // three than for one). A batch split by a loaded machine (the window is 5 ms) may add some.
    assert!(statements.iter().all(|n| *n <= 30), "statements for 1, 2 and 3 subscriptions: {statements:?}");
    assert!(statements[2] <= statements[0] + 8, "about the same for 3 subscriptions as for 1: {statements:?}");
}

async fn only_the_owner_manages_administrators(app: TestApp) {
    let owner = app.company_owner("Admins", "owner@admins.example").await;
    let m = "owner@admins.example";
    let alice = create_id(&app, &owner, "Alice", "A", "alice@admins.example", m).await;
    let bob = create_id(&app, &owner, "Bob", "B", "bob@admins.example", m).await;
    let add = "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { role } }";
    let remove = "mutation ($id: ID!) { removeCompanyAdmin(userId: $id) { role } }";
    assert_eq!(
        data(&app.graphql_as(Some(&owner), add, json!({"id": alice})).await)["addCompanyAdmin"]["role"],
        "ADMIN"
    );

    // An administrator holds every module but cannot make or unmake administrators.
    let alice_token = app.activate("alice@admins.example").await;
    let body = app.graphql_as(Some(&alice_token), "{ viewer { modules } }", json!({})).await;
    assert_eq!(data(&body)["viewer"]["modules"].as_array().unwrap().len(), 7);
    assert_eq!(error_code(&app.graphql_as(Some(&alice_token), add, json!({"id": bob})).await), "FORBIDDEN");
    // Nor deactivate the owner, nor another administrator.
    let owner_id = user_row(&app, "owner@admins.example").await.id.to_string();
    let body = app
        .graphql_as(
            Some(&alice_token),
            "mutation ($id: ID!) { deactivateUser(id: $id) { id } }",
            json!({"id": owner_id}),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    let body = app.graphql_as(Some(&owner), remove, json!({"id": owner_id})).await;
    assert_eq!(error_fields(&body), ["userId"], "the owner cannot be demoted");

    // An inactive user cannot become an administrator.
    app.graphql_as(Some(&owner), "mutation ($id: ID!) { deactivateUser(id: $id) { id } }", json!({"id": bob})).await;
    assert_eq!(error_code(&app.graphql_as(Some(&owner), add, json!({"id": bob})).await), "VALIDATION_FAILED");
    assert_eq!(
        data(&app.graphql_as(Some(&owner), remove, json!({"id": alice})).await)["removeCompanyAdmin"]["role"],
        "USER"
    );
}

async fn deactivation_transfers_everything_in_one_go(app: TestApp) {
    let owner = app.company_owner("Transfer", "owner@transfer.example").await;
    let m = "owner@transfer.example";
    let leaver_id = create_id(&app, &owner, "Leo", "Leaver", "leo@transfer.example", m).await;
    let plain_id = create_id(&app, &owner, "Pat", "Plain", "pat@transfer.example", m).await;
    let heir_id = create_id(&app, &owner, "Hana", "Heir", "hana@transfer.example", m).await;
    app.graphql_as(
        Some(&owner),
        "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { role } }",
        json!({"id": heir_id}),
    )
    .await;
    let leaver = user_row(&app, "leo@transfer.example").await;
    let company = leaver.company_id.unwrap();
    let leo_token = app.activate("leo@transfer.example").await;

    // Leo owns a subscription, a project and a model, and is a member of both.
    let subscription = seed_subscription(&app, company, leaver.id).await;
    add_member(&app, subscription.id, leaver.id).await;
    let now = Utc::now();
    let project = projects::ActiveModel {
        id: Set(portal::types::ProjectId::new()),
        company_id: Set(company),
        subscription_id: Set(subscription.id),
        name: Set("Claims".into()),
        owner_id: Set(leaver.id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    project_models::ActiveModel {
        id: Set(portal::types::ModelId::new()),
        project_id: Set(project.id),
        name: Set("Claim intake".into()),
        owner_id: Set(leaver.id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    project_members::ActiveModel {
        id: Set(portal::types::ProjectMemberId::new()),
        project_id: Set(project.id),
        user_id: Set(leaver.id),
        created_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    user_modules::ActiveModel { user_id: Set(leaver.id), module: Set(Module::Reports) }.insert(&app.db).await.unwrap();

    let body = app
        .graphql_as(
            Some(&owner),
            "query ($id: ID!) { deactivationPlan(userId: $id) { kind name } }",
            json!({"id": leaver_id}),
        )
        .await;
    let kinds: Vec<&str> =
        data(&body)["deactivationPlan"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["SUBSCRIPTION", "PROJECT", "MODEL", "SUBSCRIPTION_MEMBERSHIP", "PROJECT_MEMBERSHIP", "MODULE_PERMISSION"]
    );

    let deactivate = "mutation ($id: ID!, $to: ID) { deactivateUser(id: $id, transferTo: $to) { status } }";
    let body = app.graphql_as(Some(&owner), deactivate, json!({"id": leaver_id})).await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED");
    assert_eq!(error_fields(&body).len(), 6, "every resource listed");
    for (to, why) in [(&leaver_id, "themself"), (&plain_id, "modules")] {
        let body = app.graphql_as(Some(&owner), deactivate, json!({"id": leaver_id, "to": to})).await;
        assert!(body["errors"][0]["extensions"]["fields"][0]["message"].as_str().unwrap().contains(why), "{body}");
    }
    assert_eq!(user_row(&app, "leo@transfer.example").await.status, UserStatus::Active, "a refusal changes nothing");

    let body = app.graphql_as(Some(&owner), deactivate, json!({"id": leaver_id, "to": heir_id})).await;
    assert_eq!(data(&body)["deactivateUser"]["status"], "INACTIVE");
    let heir = user_row(&app, "hana@transfer.example").await;
    assert_eq!(
        service_subscriptions::Entity::find_by_id(subscription.id).one(&app.db).await.unwrap().unwrap().owner_id,
        heir.id
    );
    assert_eq!(projects::Entity::find_by_id(project.id).one(&app.db).await.unwrap().unwrap().owner_id, heir.id);
    let models = project_models::Entity::find()
        .filter(project_models::Column::OwnerId.eq(heir.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(models, 1);
    let memberships = subscription_members::Entity::find()
        .filter(subscription_members::Column::UserId.eq(leaver.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(memberships, 0);
    let transferred = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("resource.transferred"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(transferred, 6, "one audit event per moved resource");
    let body = app.graphql_as(Some(&leo_token), "{ viewer { email } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "the leaver's sessions ended");

    let body = app
        .graphql_as(
            Some(&owner),
            "mutation ($id: ID!) { reactivateUser(id: $id) { status } }",
            json!({"id": leaver_id}),
        )
        .await;
    assert_eq!(data(&body)["reactivateUser"]["status"], "ACTIVE");
}

async fn anonymization_scrubs_personal_data_and_keeps_the_trail(app: TestApp) {
    let owner = app.company_owner("Privacy", "owner@privacy.example").await;
    let m = "owner@privacy.example";
    let gone = create_id(&app, &owner, "Greta", "Gone", "greta@privacy.example", m).await;
    create_id(&app, &owner, "Rita", "Report", "rita@privacy.example", "greta@privacy.example").await;
    let body = app
        .graphql_as(Some(&owner), "mutation ($id: ID!) { anonymizeUser(id: $id) { scrubbedFields user { email givenName surname status jobTitle } } }", json!({"id": gone}))
        .await;
    let result = &data(&body)["anonymizeUser"];
    assert_eq!(result["user"]["status"], "ANONYMIZED");
    assert!(result["user"]["email"].as_str().unwrap().ends_with("@anonymized.invalid"));
    assert_eq!(result["user"]["givenName"], "Anonymized");
    assert_eq!(result["user"]["jobTitle"], Value::Null);
    assert_eq!(result["scrubbedFields"], json!(["email", "givenName", "surname", "jobTitle", "managerEmail"]));
    // Nothing personal is left in the row, nor where others pointed at her.
    let row = users::Entity::find_by_id(gone.parse::<Uuid>().unwrap()).one(&app.db).await.unwrap().unwrap();
    assert!(!format!("{row:?}").to_lowercase().contains("greta"));
    assert_eq!(user_row(&app, "rita@privacy.example").await.manager_email.as_deref(), Some(row.email.as_str()));
    // The audit trail still names her by id.
    let body = app
        .graphql_as(
            Some(&owner),
            "query ($t: ID!) { auditEvents(targetId: $t) { totalCount edges { node { action } } } }",
            json!({"t": gone}),
        )
        .await;
    let actions: Vec<&str> = data(&body)["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.anonymized", "user.created"]);
    let body = app
        .graphql_as(Some(&owner), "mutation ($id: ID!) { anonymizeUser(id: $id) { user { id } } }", json!({"id": gone}))
        .await;
    assert_eq!(error_code(&body), "VALIDATION_FAILED", "once is enough");
}

async fn only_never_activated_users_can_be_removed(app: TestApp) {
    let owner = app.company_owner("Removals", "owner@removals.example").await;
    let active = create_id(&app, &owner, "Ann", "Active", "ann@removals.example", "owner@removals.example").await;
    let owner_row = user_row(&app, "owner@removals.example").await;
    // An invited person (the invitation flow writes such rows).
    let email = portal::domain::Email::parse("ivan@removals.example").unwrap();
    let invited = portal::domain::users::NewUser {
        email: &email,
        company_id: owner_row.company_id,
        role: portal::domain::Role::User,
        status: UserStatus::Invited,
        given_name: None,
        surname: None,
        locale: portal::types::Locale::default(),
    }
    .into_active_model(Utc::now())
    .insert(&app.db)
    .await
    .unwrap();
    let remove = "mutation ($id: ID!) { removeUser(id: $id) }";
    let body = app.graphql_as(Some(&owner), remove, json!({"id": active})).await;
    let message = body["errors"][0]["extensions"]["fields"][0]["message"].as_str().unwrap();
    assert!(message.contains("anonymize") && message.contains("USER_REMOVAL"), "{message}");
    let body = app.graphql_as(Some(&owner), remove, json!({"id": invited.id.to_string()})).await;
    assert_eq!(data(&body)["removeUser"], true);
    assert!(users::Entity::find_by_id(invited.id).one(&app.db).await.unwrap().is_none());
}

async fn another_company_sees_nothing(app: TestApp) {
    let owner = app.company_owner("Mine", "owner@mine.example").await;
    let target = create_id(&app, &owner, "Tom", "Target", "tom@mine.example", "owner@mine.example").await;
    let other = app.company_owner("Theirs", "owner@theirs.example").await;
    let id = json!({"id": target});
    let body = app.graphql_as(Some(&other), "query ($id: ID!) { user(id: $id) { email } }", id.clone()).await;
    assert_eq!(data(&body)["user"], Value::Null);
    for mutation in [
        "mutation ($id: ID!) { updateUser(id: $id, input: {jobTitle: \"x\"}) { id } }",
        "mutation ($id: ID!) { deactivateUser(id: $id) { id } }",
        "mutation ($id: ID!) { reactivateUser(id: $id) { id } }",
        "mutation ($id: ID!) { anonymizeUser(id: $id) { user { id } } }",
        "mutation ($id: ID!) { removeUser(id: $id) }",
        "mutation ($id: ID!) { addCompanyAdmin(userId: $id) { id } }",
        "mutation ($id: ID!) { removeCompanyAdmin(userId: $id) { id } }",
        "query ($id: ID!) { deactivationPlan(userId: $id) { kind } }",
    ] {
        let body = app.graphql_as(Some(&other), mutation, id.clone()).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{mutation}");
    }
    let page = list(&app, &other, 50, None, json!({"search": "tom"})).await;
    assert_eq!(page["totalCount"], 0);
    let body = app
        .graphql_as(Some(&other), "query ($t: ID!) { auditEvents(targetId: $t) { totalCount } }", json!({"t": target}))
        .await;
    assert_eq!(data(&body)["auditEvents"]["totalCount"], 0);
    assert_eq!(user_row(&app, "tom@mine.example").await.job_title.as_deref(), Some("Analyst"), "nothing changed");
}

async fn a_user_without_user_management_is_forbidden(app: TestApp) {
    let owner = app.company_owner("Modules", "owner@modules.example").await;
    create_id(&app, &owner, "Uma", "User", "uma@modules.example", "owner@modules.example").await;
    let uma = app.activate("uma@modules.example").await;
    for query in [
        "{ users { totalCount } }".to_owned(),
        format!(
            "mutation {{ createUser(input: {{givenName: \"A\", surname: \"B\", email: \"ab@modules.example\", jobTitle: \"C\", managerEmail: \"{}\"}}) {{ id }} }}",
            "owner@modules.example"
        ),
        "{ auditEvents { totalCount } }".to_owned(),
    ] {
        let body = app.graphql_as(Some(&uma), &query, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}");
    }
    let body = app.graphql_as(Some(&uma), "{ viewer { modules } }", json!({})).await;
    assert_eq!(data(&body)["viewer"]["modules"], json!([]));
}

/// `totalCount` costs a count over the company's users: run only when selected (issue 15).
async fn total_count_is_counted_only_when_asked(app: TestApp) {
    let owner = app.company_owner("Counts", "owner@counts.example").await;
    for i in 0..3 {
        create_id(
            &app,
            &owner,
            "Count",
            &format!("Person {i}"),
            &format!("c{i}@counts.example"),
            "owner@counts.example",
        )
        .await;
    }
    let statements = |query: &'static str| {
        let (app, owner) = (&app, owner.clone());
        async move {
            let before = app.services.statements.count();
            let body = app.graphql_as(Some(&owner), query, json!({})).await;
            let after = app.services.statements.count();
            (after - before, data(&body).clone())
        }
    };
    let (without, page) = statements("{ users(first: 2) { edges { node { email } } } }").await;
    assert_eq!(page["users"]["edges"].as_array().unwrap().len(), 2);
    let (with, counted) = statements("{ users(first: 2) { totalCount edges { node { email } } } }").await;
    assert_eq!(counted["users"]["totalCount"], 4, "every page's users, the owner included");
    assert_eq!(with, without + 1, "one statement more, the count, and only when asked");
    let (_, alone) = statements("{ users(first: 2) { totalCount } }").await;
    assert_eq!(alone["users"]["totalCount"], 4);
}

const PAGE: &str = "query ($first: Int, $after: String, $last: Int, $before: String) {
    users(first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasPreviousPage hasNextPage startCursor endCursor } edges { node { email } } } }";

/// Relay's `last`/`before`: the pages read backwards from the end are the forward listing's,
/// in the same order, with both neighbours' flags right; the same for a list ordered by id
/// (invitations, newest first). Mixing the two directions is refused.
async fn lists_page_backwards_as_well_as_forwards(app: TestApp) {
    let owner = app.company_owner("Both ways", "owner@both.example").await;
    for (i, surname) in ["Baker", "Cruz", "Diaz", "Evans", "Ford", "Gomez"].iter().enumerate() {
        create_id(&app, &owner, "Pat", surname, &format!("p{i}@both.example"), "owner@both.example").await;
    }
    let page = async |variables: Value| data(&app.graphql_as(Some(&owner), PAGE, variables).await)["users"].clone();
    let forward = emails(&page(json!({"first": 100})).await);
    assert_eq!(forward.len(), 7);

    let last = page(json!({"last": 3})).await;
    assert_eq!(emails(&last), forward[4..]);
    assert_eq!((&last["pageInfo"]["hasPreviousPage"], &last["pageInfo"]["hasNextPage"]), (&json!(true), &json!(false)));
    let before = last["pageInfo"]["startCursor"].as_str().unwrap();
    let middle = page(json!({"last": 3, "before": before})).await;
    assert_eq!(emails(&middle), forward[1..4]);
    assert_eq!(
        (&middle["pageInfo"]["hasPreviousPage"], &middle["pageInfo"]["hasNextPage"]),
        (&json!(true), &json!(true))
    );
    let before = middle["pageInfo"]["startCursor"].as_str().unwrap();
    let start = page(json!({"last": 3, "before": before})).await;
    assert_eq!(emails(&start), forward[..1]);
    assert_eq!(start["pageInfo"]["hasPreviousPage"], false);
    // And forwards again from the middle page's end.
    let after = middle["pageInfo"]["endCursor"].as_str().unwrap();
    assert_eq!(emails(&page(json!({"first": 2, "after": after})).await), forward[4..6]);

    let mixed = app.graphql_as(Some(&owner), PAGE, json!({"first": 2, "last": 2})).await;
    assert_eq!(error_code(&mixed), "VALIDATION_FAILED");
    assert_eq!(error_fields(&mixed), ["last"]);
    let bad = app.graphql_as(Some(&owner), PAGE, json!({"last": 2, "before": "not-a-cursor"})).await;
    assert_eq!(error_fields(&bad), ["before"]);

    let invite = "mutation ($e: [String!]!) { inviteUsers(input: {emails: $e, role: USER, modules: [PROJECTS]}) { __typename } }";
    let invited: Vec<String> = (0..5).map(|i| format!("guest{i}@both.example")).collect();
    app.graphql_as(Some(&owner), invite, json!({"e": invited})).await;
    let list =
        "query ($first: Int, $last: Int, $before: String) { invitations(first: $first, last: $last, before: $before) {
        pageInfo { hasPreviousPage hasNextPage startCursor } edges { node { email } } } }";
    let invitations =
        async |variables: Value| data(&app.graphql_as(Some(&owner), list, variables).await)["invitations"].clone();
    let newest_first = emails(&invitations(json!({"first": 10})).await);
    assert_eq!(newest_first.len(), 5);
    let oldest = invitations(json!({"last": 2})).await;
    assert_eq!(emails(&oldest), newest_first[3..]);
    let before = oldest["pageInfo"]["startCursor"].as_str().unwrap();
    let newer = invitations(json!({"last": 2, "before": before})).await;
    assert_eq!(emails(&newer), newest_first[1..3]);
    assert_eq!(newer["pageInfo"]["hasNextPage"], true);
}
