//! `users(orderBy:, filter:)` as dashboards use it: every ordering in both directions pages
//! with cursors that stay stable when people are added between pages, each ordering served by
//! an index, and the filters by module, sub-account, creation date and sign-in.

use crate::common;

use common::{Backend, TestApp, data, error_code, error_fields};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::{Value, json};

backend_tests!(
    every_user_field_reads_the_same_from_a_narrow_listing,
    every_ordering_pages_stably_both_ways,
    dashboard_filters_keep_the_right_people,
    every_ordering_reads_an_index,
    users_read_by_position_equal_users_read_by_name
);

const OWNER: &str = "owner@order.example";
const PAGE: &str = "query ($o: UserOrder, $f: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {
    users(orderBy: $o, filter: $f, first: $first, after: $after, last: $last, before: $before) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { node { email surname status createdAt lastSignedInAt } } } }";

async fn create(app: &TestApp, owner: &str, given: &str, surname: &str, email: &str, active: bool) -> String {
    let input = json!({"givenName": given, "surname": surname, "email": email, "jobTitle": "Analyst",
                       "managerEmail": OWNER, "isActive": active});
    let body = app
        .graphql_as(
            Some(owner),
            "mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({"i": input}),
        )
        .await;
    data(&body)["createUser"]["id"].as_str().unwrap().to_owned()
}

/// Eight people over eight hours, some signed in at different times, one inactive.
async fn team(app: &TestApp) -> String {
    let owner = app.company_owner("Order", OWNER).await;
    let people = [
        ("Zoe", "Álvarez", "zoe@order.example", true),
        ("Abe", "Zapata", "abe@order.example", true),
        ("Mia", "Núñez", "mia@order.example", true),
        ("Bob", "Núñez", "bob@order.example", false),
        ("Kai", "Smith", "kai@order.example", true),
        ("Lia", "smith", "lia@order.example", true),
        ("Ned", "Olsen", "ned@order.example", true),
    ];
    for (given, surname, email, active) in people {
        app.clock.advance(chrono::Duration::hours(1));
        create(app, &owner, given, surname, email, active).await;
    }
    // Sign-ins in an order of their own (and two people never).
    for email in ["mia@order.example", "zoe@order.example", "ned@order.example"] {
        app.clock.advance(chrono::Duration::minutes(10));
        app.activate(email).await;
    }
    owner
}

fn emails(body: &Value) -> Vec<String> {
    data(body)["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["email"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `size` forwards, then every page backwards from the end.
async fn walk(app: &TestApp, owner: &str, order: &Value, size: i64) -> (Vec<String>, Vec<String>) {
    let mut forwards = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app.graphql_as(Some(owner), PAGE, json!({"o": order, "first": size, "after": after})).await;
        forwards.extend(emails(&body));
        let info = &data(&body)["users"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].clone();
    }
    let mut backwards = Vec::new();
    let mut before = Value::Null;
    loop {
        let body = app.graphql_as(Some(owner), PAGE, json!({"o": order, "last": size, "before": before})).await;
        let mut page = emails(&body);
        page.extend(backwards);
        backwards = page;
        let info = &data(&body)["users"]["pageInfo"];
        if info["hasPreviousPage"] != true {
            break;
        }
        before = info["startCursor"].clone();
    }
    (forwards, backwards)
}

async fn every_ordering_pages_stably_both_ways(app: TestApp) {
    let owner = team(&app).await;
    let expected = [
        ("SURNAME", "ASC", vec!["zoe", "bob", "mia", "ned", "owner", "kai", "lia", "abe"]),
        ("EMAIL", "ASC", vec!["abe", "bob", "kai", "lia", "mia", "ned", "owner", "zoe"]),
        ("CREATED_AT", "ASC", vec!["owner", "zoe", "abe", "mia", "bob", "kai", "lia", "ned"]),
        // The latest sign-in first; people who never signed in come last (among them, ids).
        ("LAST_SIGNED_IN_AT", "DESC", vec!["ned", "zoe", "mia", "owner"]),
        ("STATUS", "ASC", vec!["zoe", "mia", "ned", "owner", "kai", "lia", "abe", "bob"]),
    ];
    for (field, direction, want) in expected {
        let order = json!({"field": field, "direction": direction});
        let whole = emails(&app.graphql_as(Some(&owner), PAGE, json!({"o": order, "first": 100})).await);
        let whole: Vec<String> = whole.iter().map(|e| e.trim_end_matches("@order.example").to_owned()).collect();
        assert_eq!(whole[..want.len()], want, "{field} {direction}");
        let (forwards, backwards) = walk(&app, &owner, &order, 3).await;
        let short = |list: Vec<String>| -> Vec<String> {
            list.iter().map(|e| e.trim_end_matches("@order.example").to_owned()).collect()
        };
        assert_eq!(short(forwards), whole, "{field} {direction}: pages forwards");
        assert_eq!(short(backwards), whole, "{field} {direction}: pages backwards");
        // The reverse direction is the exact reverse (ids break ties both ways).
        let reverse = json!({"field": field, "direction": if direction == "ASC" { "DESC" } else { "ASC" }});
        let mut reversed = emails(&app.graphql_as(Some(&owner), PAGE, json!({"o": reverse, "first": 100})).await);
        reversed.reverse();
        assert_eq!(short(reversed), whole, "{field}: DESC is ASC reversed");
    }

    // People added between two pages: the next page neither repeats nor skips anyone it had
    // not passed; someone sorting before the cursor is simply not on later pages.
    let order = json!({"field": "EMAIL", "direction": "ASC"});
    let first = app.graphql_as(Some(&owner), PAGE, json!({"o": order, "first": 3})).await;
    assert_eq!(emails(&first), ["abe@order.example", "bob@order.example", "kai@order.example"]);
    let cursor = data(&first)["users"]["pageInfo"]["endCursor"].clone();
    create(&app, &owner, "Aaron", "Early", "aaron@order.example", true).await;
    create(&app, &owner, "Lee", "Later", "lee@order.example", true).await;
    let rest = app.graphql_as(Some(&owner), PAGE, json!({"o": order, "first": 100, "after": cursor})).await;
    assert_eq!(
        emails(&rest),
        [
            "lee@order.example",
            "lia@order.example",
            "mia@order.example",
            "ned@order.example",
            "owner@order.example",
            "zoe@order.example"
        ]
    );

    // A cursor belongs to its ordering.
    let other = json!({"field": "CREATED_AT", "direction": "ASC"});
    let refused = app.graphql_as(Some(&owner), PAGE, json!({"o": other, "first": 3, "after": cursor})).await;
    assert_eq!((error_code(&refused), error_fields(&refused)), ("VALIDATION_FAILED", vec!["after".to_owned()]));
    let garbage = app.graphql_as(Some(&owner), PAGE, json!({"first": 3, "after": "eyJub3QiOiJhIGN1cnNvciJ9"})).await;
    assert_eq!(error_fields(&garbage), ["after"]);
}

async fn dashboard_filters_keep_the_right_people(app: TestApp) {
    let owner = team(&app).await;
    let ids = |body: &Value| -> Vec<String> {
        let mut found: Vec<String> =
            emails(body).iter().map(|e| e.trim_end_matches("@order.example").to_owned()).collect();
        found.sort();
        found
    };
    let listed = async |filter: Value| {
        let body = app.graphql_as(Some(&owner), PAGE, json!({"f": filter, "first": 100})).await;
        let total = data(&body)["users"]["totalCount"].as_u64().unwrap() as usize;
        let found = ids(&body);
        assert_eq!(total, found.len(), "totalCount agrees with the filter");
        found
    };
    assert_eq!(listed(json!({"neverSignedIn": true})).await, ["abe", "bob", "kai", "lia"]);
    assert_eq!(listed(json!({"neverSignedIn": false})).await, ["mia", "ned", "owner", "zoe"]);

    // Creation range: the owner came first, then one person an hour.
    let by_creation = app.graphql_as(Some(&owner), PAGE, json!({"o": {"field": "CREATED_AT"}, "first": 100})).await;
    let created: Vec<String> = data(&by_creation)["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["createdAt"].as_str().unwrap().to_owned())
        .collect();
    let range = json!({"createdAfter": created[2], "createdBefore": created[5]});
    assert_eq!(listed(range).await, ["abe", "bob", "mia"], "from the third (inclusive) to the sixth (exclusive)");

    // Modules: owners and administrators hold them all; users by their grants.
    let kai = data(
        &app.graphql_as(Some(&owner), "{ users(filter: {search: \"kai\"}) { edges { node { id } } } }", json!({}))
            .await,
    )["users"]["edges"][0]["node"]["id"]
        .clone();
    let grant = "mutation ($u: ID!, $s: [ID!]) { setUserPermissions(userId: $u, modules: [REPORTS], subAccountIds: $s) { id } }";
    let unit = data(
        &app.graphql_as(Some(&owner), "mutation { createSubAccount(name: \"North\") { id } }", json!({})).await,
    )["createSubAccount"]["id"]
        .clone();
    data(&app.graphql_as(Some(&owner), grant, json!({"u": kai, "s": [unit]})).await);
    assert_eq!(listed(json!({"module": "REPORTS"})).await, ["kai", "owner"]);
    assert_eq!(listed(json!({"module": "PAYMENT"})).await, ["owner"]);
    assert_eq!(listed(json!({"subAccountId": unit})).await, ["kai"]);
    // Filters combine.
    assert_eq!(listed(json!({"module": "REPORTS", "neverSignedIn": false})).await, ["owner"]);
    assert_eq!(listed(json!({"status": "INACTIVE", "neverSignedIn": true})).await, ["bob"]);
    // Another company's sub-account finds nobody (and tells nothing).
    let other = app.company_owner("Other", "owner@other.example").await;
    let theirs = data(
        &app.graphql_as(Some(&other), "mutation { createSubAccount(name: \"North\") { id } }", json!({})).await,
    )["createSubAccount"]["id"]
        .clone();
    assert_eq!(listed(json!({"subAccountId": theirs})).await, Vec::<String>::new());
}

/// The statement each ordering makes, as the planner sees it: the company's index serves the
/// order, so no sort of the whole company is needed (SQLite: no temporary B-tree; PostgreSQL
/// with sequential scans priced out: an index scan and no Sort node).
async fn every_ordering_reads_an_index(app: TestApp) {
    let orderings = [
        "sort_key, id",
        "email, id",
        "created_at, id",
        "last_signed_in_at NULLS FIRST, id",
        "status, sort_key, id",
        "status DESC, sort_key DESC, id DESC",
        "last_signed_in_at DESC NULLS LAST, id DESC",
    ];
    let db = &app.db;
    let backend = db.get_database_backend();
    let company = "'0190aaaa-0000-7000-8000-000000000000'";
    for order in orderings {
        let select = format!(
            "SELECT id FROM users WHERE company_id = {company} AND status <> 'ANONYMIZED' ORDER BY {order} LIMIT 21"
        );
        let plan: Vec<String> = match app.backend {
            Backend::Sqlite => {
                let rows = db
                    .query_all_raw(Statement::from_string(backend, format!("EXPLAIN QUERY PLAN {select}")))
                    .await
                    .unwrap();
                rows.iter().map(|row| row.try_get::<String>("", "detail").unwrap()).collect()
            }
            Backend::Postgres(_) => {
                // On one connection: the setting holds for this transaction only.
                let tx = db.begin().await.unwrap();
                tx.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
                let select = select.replace(company, &format!("{company}::uuid"));
                let rows =
                    tx.query_all_raw(Statement::from_string(backend, format!("EXPLAIN {select}"))).await.unwrap();
                tx.commit().await.unwrap();
                rows.iter().map(|row| row.try_get::<String>("", "QUERY PLAN").unwrap()).collect()
            }
        };
        let plan = plan.join("\n");
        assert!(plan.contains("ix_users_company_"), "{order}: no company index in\n{plan}");
        assert!(!plan.contains("TEMP B-TREE") && !plan.contains("Sort"), "{order}: sorts the company in\n{plan}");
    }
}

/// `users::read_all` (what listings and loaders read) decodes by position: it must give exactly
/// what sea-orm's by-name reader gives, NULL and set columns alike, and fall back to names when
/// the columns are not the entity's own in order.
async fn users_read_by_position_equal_users_read_by_name(app: TestApp) {
    use portal::db::users;
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    team(&app).await;
    app.db
        .execute_unprepared("UPDATE users SET external_id = 'ext-' || email, scim_user_name = 'u-' || email, deactivated_at = created_at WHERE email LIKE 'b%'")
        .await
        .unwrap();
    let by_name = users::Entity::find().order_by_asc(users::Column::Email).all(&app.db).await.unwrap();
    let by_position = users::read_all(users::Entity::find().order_by_asc(users::Column::Email), &app.db).await.unwrap();
    assert_eq!(by_position, by_name);
    assert!(by_name.iter().any(|u| u.external_id.is_some() && u.deactivated_at.is_some()));
    assert!(by_name.iter().any(|u| u.last_signed_in_at.is_some()) && by_name.iter().any(|u| u.company_id.is_none()));
    // Columns in another order are read by name.
    let mut reordered = users::Entity::find().select_only();
    for column in [users::Column::Email, users::Column::Id] {
        reordered = reordered.column(column);
    }
    let all_columns =
        <users::Column as sea_orm::Iterable>::iter().filter(|c| !matches!(c, users::Column::Email | users::Column::Id));
    for column in all_columns {
        reordered = reordered.column(column);
    }
    let reread = users::read_all(reordered.order_by_asc(users::Column::Email), &app.db).await.unwrap();
    assert_eq!(reread, by_name);
    // Each column read alone (with the keys) holds what the whole row holds.
    for column in <users::Column as sea_orm::Iterable>::iter() {
        let select = users::Entity::find().order_by_asc(users::Column::Email);
        let narrow = users::read_columns(select, users::Columns::of(&[column]), &app.db).await.unwrap();
        assert_eq!(narrow.len(), by_name.len());
        for (part, whole) in narrow.iter().zip(&by_name) {
            use sea_orm::ModelTrait;
            for read in [column, users::Column::Id, users::Column::CompanyId, users::Column::Email] {
                assert_eq!(part.get(read), whole.get(read), "{read:?} read with {column:?}");
            }
        }
    }
}

/// The fields of `type User` in the served schema, in order.
fn user_fields() -> Vec<String> {
    let sdl = include_str!("../../schema.graphql");
    let body = sdl.split("\ntype User {\n").nth(1).unwrap().split("\n}").next().unwrap();
    let mut fields = Vec::new();
    let mut in_description = false;
    for line in body.lines().map(str::trim) {
        if line.starts_with("\"\"\"") {
            in_description = !(in_description || line.len() > 3 && line.ends_with("\"\"\""));
            continue;
        }
        if !in_description && !line.is_empty() {
            fields.push(line.split(['(', ':']).next().unwrap().to_owned());
        }
    }
    fields
}

/// A listing reads only the columns of the fields its client selected (`graphql/user.rs`):
/// every field of `User`, alone and all together, answers from a listing exactly what it
/// answers from users read whole (`usersByIds`), and a listing of addresses reads no more.
async fn every_user_field_reads_the_same_from_a_narrow_listing(app: TestApp) {
    let owner = team(&app).await;
    let sql = format!(
        "UPDATE users SET external_id = 'ext-' || email, job_title = 'Analyst', country = 'CO', \
         manager_email = '{OWNER}', deactivated_at = created_at WHERE email LIKE '%order.example' AND email <> '{OWNER}'"
    );
    app.db.execute_unprepared(&sql).await.unwrap();
    let selection = |field: &str| match field {
        "subAccounts" | "projects" => format!("{field} {{ id }}"),
        "manager" | "invitedBy" => format!("{field} {{ email }}"),
        "subscriptions" => format!("{field} {{ role }}"),
        "directReports" => format!("{field} {{ totalCount edges {{ node {{ email }} }} }}"),
        _ => field.to_owned(),
    };
    let fields = user_fields();
    assert!(fields.len() > 20 && fields.contains(&"lastSignedInAt".to_owned()), "{fields:?}");
    let listed = app.graphql_as(Some(&owner), "{ users(first: 20) { nodes { id } } }", json!({})).await;
    let ids: Vec<Value> = data(&listed)["users"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect();
    assert_eq!(ids.len(), 8);
    let mut all = fields.iter().map(|f| selection(f)).collect::<Vec<_>>();
    all.push("...more".to_owned());
    for chosen in fields.iter().map(|f| selection(f)).chain([all.join(" ")]) {
        let fragment = "fragment more on User { email }";
        let narrow = format!("{{ users(first: 20) {{ edges {{ node {{ {chosen} }} }} }} }} {fragment}");
        let whole = format!("query ($ids: [ID!]!) {{ usersByIds(ids: $ids) {{ {chosen} }} }} {fragment}");
        let (narrow, whole) = if chosen.contains("...more") {
            (narrow, whole)
        } else {
            (narrow.replace(fragment, ""), whole.replace(fragment, ""))
        };
        let listed = app.graphql_as(Some(&owner), &narrow, json!({})).await;
        let nodes: Vec<Value> =
            data(&listed)["users"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
        let read_whole = app.graphql_as(Some(&owner), &whole, json!({"ids": ids})).await;
        assert_eq!(Value::Array(nodes), data(&read_whole)["usersByIds"], "{chosen}");
    }
    // Members' users are read with the columns their fields need too.
    let owner_id = data(&app.graphql_as(Some(&owner), "{ viewer { id } }", json!({})).await)["viewer"]["id"].clone();
    let create =
        "mutation ($input: CreateServiceSubscriptionInput!) { createServiceSubscription(input: $input) { id } }";
    let input = json!({"product": "Portal", "plan": "Enterprise", "ownerId": owner_id});
    let subscription =
        data(&app.graphql_as(Some(&owner), create, json!({"input": input})).await)["createServiceSubscription"]["id"]
            .clone();
    let add =
        "mutation ($s: ID!, $u: ID!) { addSubscriptionMember(subscriptionId: $s, userId: $u, role: USER) { id } }";
    let active = "{ users(filter: {status: ACTIVE}) { nodes { id } } }";
    let active = data(&app.graphql_as(Some(&owner), active, json!({})).await)["users"]["nodes"].clone();
    for user in active.as_array().unwrap().iter().filter(|u| u["id"] != owner_id).take(2) {
        data(&app.graphql_as(Some(&owner), add, json!({"s": subscription, "u": user["id"]})).await);
    }
    let project = "mutation ($input: CreateProjectInput!) { createProject(input: $input) { id } }";
    let input = json!({"subscriptionId": subscription, "name": "Dashboards", "ownerId": owner_id});
    data(&app.graphql_as(Some(&owner), project, json!({"input": input})).await);
    let members_of = |body: &Value| {
        let subscriptions = data(body)["serviceSubscriptions"].as_array().unwrap().clone();
        let mut users = Vec::new();
        for subscription in &subscriptions {
            let projects = subscription["projects"].as_array().unwrap();
            let project_members = projects.iter().flat_map(|p| p["members"].as_array().unwrap().clone());
            for member in subscription["members"].as_array().unwrap().iter().cloned().chain(project_members) {
                users.push(member["user"]["v"].clone());
            }
        }
        users
    };
    for chosen in fields.iter().map(|f| selection(f)) {
        let query = |user: &str| {
            format!(
                "{{ serviceSubscriptions {{ members {{ user {{ {user} }} }} projects {{ members {{ user {{ {user} }} }} }} }} }}"
            )
        };
        let narrow = app.graphql_as(Some(&owner), &query(&format!("v: {chosen}")), json!({})).await;
        let whole =
            app.graphql_as(Some(&owner), &query(&format!("v: {chosen} subscriptions {{ role }}")), json!({})).await;
        let (narrow, whole) = (members_of(&narrow), members_of(&whole));
        assert!(narrow.len() >= 4, "{narrow:?}");
        assert_eq!(narrow, whole, "members' {chosen}");
    }

    app.services.statements.record();
    app.graphql_as(Some(&owner), "{ users(first: 20) { edges { node { email } } } }", json!({})).await;
    let recorded = app.services.statements.take();
    let listing = recorded.iter().find(|sql| sql.contains("LIMIT")).expect("the listing's statement");
    for unread in ["given_name", "search_key", "job_title", "external_id"] {
        assert!(!listing.contains(unread), "{unread} read for addresses only: {listing}");
    }
}
