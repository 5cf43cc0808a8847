//! The tenancy walker: from the schema the server serves (introspection), it calls every
//! operation that takes an ID, with every ID of another company in every ID slot, and every
//! list query, as that company's strongest user (an owner: every module), selecting every
//! field two levels deep. Nothing of the victim may be read (its IDs and its marker never
//! appear in `data`, no error is INTERNAL, which would be an existence oracle) and nothing of
//! it may change (every row of every table is the same afterwards, and no new row names it).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::schema_walk::{INTROSPECTION, SKIPPED, Schema};
use common::{Backend, TestApp, data};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

backend_tests!(another_company_reads_and_changes_nothing);

/// In every name, product and address of the victim, so a leak is a substring away.
const MARKER: &str = "vctm";

/// The names of the ID slots under an argument (the argument itself, or input fields).
fn id_slots(schema: &Schema, slot: &str, type_ref: &Value, into: &mut BTreeSet<String>) {
    let named = Schema::named(type_ref);
    let name = named["name"].as_str().unwrap();
    if name == "ID" {
        into.insert(slot.to_owned());
    } else if named["kind"] == "INPUT_OBJECT" {
        for field in schema.types[name]["inputFields"].as_array().unwrap() {
            id_slots(schema, field["name"].as_str().unwrap(), &field["type"], into);
        }
    }
}

/// The attacker's own ID for a slot of that name, so that one foreign ID at a time is mixed
/// with the caller's own (a ticket on my subscription about your user); `id` slots have none.
pub(crate) fn own_for(slot: &str, own: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let kind = match slot {
        "subscriptionId" => "ServiceSubscription",
        "projectId" => "Project",
        "subAccountIds" | "subAccountId" => "SubAccount",
        "jobId" => "ImportJob",
        "userId" | "ownerId" | "relatedUserId" | "transferTo" | "targetId" => "User",
        _ => return None,
    };
    own.get(kind).and_then(|ids| ids.last().cloned())
}

/// Every row of every table, as text, by table (the worker's own bookkeeping excluded).
async fn snapshot(app: &TestApp) -> BTreeMap<String, BTreeSet<String>> {
    let db = &app.db;
    let backend = db.get_database_backend();
    let tables_sql = match app.backend {
        Backend::Sqlite => "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        Backend::Postgres(_) => "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'",
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "t").unwrap())
        .filter(|t| !["seaql_migrations", "attempt_counters"].contains(&t.as_str()))
        .collect();
    let mut dump = BTreeMap::new();
    for table in tables {
        let rows_sql = match app.backend {
            Backend::Postgres(_) => format!("SELECT row_to_json(t)::text AS r FROM \"{table}\" t"),
            Backend::Sqlite => {
                let columns: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name AS c FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| format!("hex(\"{}\")", row.try_get::<String>("", "c").unwrap()))
                    .collect();
                format!("SELECT {} AS r FROM \"{table}\"", columns.join(" || '|' || "))
            }
        };
        let rows = db.query_all_raw(Statement::from_string(backend, rows_sql)).await.unwrap();
        dump.insert(table, rows.iter().map(|row| row.try_get::<String>("", "r").unwrap()).collect());
    }
    dump
}

/// How an ID can appear in a dump: as text, and (SQLite) as the hex of its bytes or text.
fn spellings(id: &str) -> Vec<String> {
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    let hex_text: String = id.bytes().map(|b| format!("{b:02X}")).collect();
    vec![id.to_owned(), uuid.simple().to_string().to_uppercase(), hex_text]
}

/// Everything sent, so that the worker's own writes do not show up as a difference between
/// two dumps.
async fn outbox_drained(app: &TestApp) {
    app.settle().await;
    let pending = "SELECT COUNT(*) AS n FROM deliveries WHERE status IN ('PENDING', 'FAILED')";
    assert_eq!(app.count(pending).await, 0, "nothing waits for a retry");
}

/// A company with one of everything, its strings marked with `marker`; returns its owner's
/// token and every ID it holds, by type.
/// A company with one of everything a client can make (also used to fill every table).
pub(crate) async fn company(app: &TestApp, marker: &str) -> (String, BTreeMap<String, Vec<String>>) {
    let owner = app.company_owner(&format!("Company {marker}"), &format!("owner@{marker}.example")).await;
    let call = |query: &'static str, variables: Value| {
        let owner = owner.clone();
        let query = query.replace("vctm", marker);
        let variables: Value = serde_json::from_str(&variables.to_string().replace("vctm", marker)).unwrap();
        async move { data(&app.graphql_as(Some(&owner), &query, variables).await).clone() }
    };
    let owner_id = call("{ viewer { id } }", json!({})).await["viewer"]["id"].clone();
    let person = json!({"givenName": "Vera vctm", "surname": "Victim", "email": "vera@vctm.example",
                        "jobTitle": "vctm analyst", "managerEmail": "owner@vctm.example"});
    let vera = call("mutation ($i: CreateUserInput!) { createUser(input: $i) { id } }", json!({"i": person})).await
        ["createUser"]["id"]
        .clone();
    call("mutation ($u: ID!) { addCompanyAdmin(userId: $u) { id } }", json!({"u": vera})).await;
    call(
        "mutation { inviteUsers(input: {emails: [\"ivan@vctm.example\"], role: USER, modules: [REPORTS]}) { id } }",
        json!({}),
    )
    .await;
    call("mutation { createSubAccount(name: \"vctm unit\") { id } }", json!({})).await;
    let sub = call(
        "mutation ($o: ID!) { createServiceSubscription(input: {product: \"vctm product\", plan: \"vctm plan\", ownerId: $o}) { id } }",
        json!({"o": owner_id}),
    )
    .await["createServiceSubscription"]["id"]
        .clone();
    call(
        "mutation ($s: ID!, $u: ID!) { addSubscriptionMember(subscriptionId: $s, userId: $u, role: USER) { id } }",
        json!({"s": sub, "u": vera}),
    )
    .await;
    let project = call(
        "mutation ($s: ID!, $o: ID!) { createProject(input: {subscriptionId: $s, name: \"vctm project\", ownerId: $o}) { id } }",
        json!({"s": sub, "o": owner_id}),
    )
    .await["createProject"]["id"]
        .clone();
    call(
        "mutation ($p: ID!, $o: ID!) { createModel(input: {projectId: $p, name: \"vctm model\", ownerId: $o}) { id } }",
        json!({"p": project, "o": owner_id}),
    )
    .await;
    call(
        "mutation ($s: ID!) { createSupportContact(input: {subscriptionId: $s, email: \"owner@vctm.example\", phone: \"+57 1 555 0111\", roles: [ADMINISTRATOR, SUPPORT]}) { id } }",
        json!({"s": sub}),
    )
    .await;
    call(
        "mutation ($s: ID!, $u: ID!) { createSupportTicket(input: {subscriptionId: $s, kind: USER_REMOVAL, subject: \"vctm subject\", description: \"vctm\", relatedUserId: $u}) { id } }",
        json!({"s": sub, "u": vera}),
    )
    .await;
    call(
        "mutation { createWebhookEndpoint(input: {url: \"http://127.0.0.1:9/vctm\", events: [\"user.created\"], description: \"vctm\"}) { secret } }",
        json!({}),
    )
    .await;
    call("mutation { createApiKey(input: {name: \"vctm key\", modules: [REPORTS]}) { secret } }", json!({})).await;
    let file = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n\
                Ina vctm,Import,ina@vctm.example,vctm,owner@vctm.example,CO,1\r\n"
        .replace("vctm", marker);
    let upload = app.http.post(app.url("/imports?dryRun=true")).bearer_auth(&owner).body(file).send().await.unwrap();
    assert_eq!(upload.status(), 202);
    let ids = call(
        "{ company { __typename id } users { edges { node { __typename id } } } invitations { edges { node { __typename id } } }
           subAccounts { __typename id } serviceSubscriptions { __typename id members { __typename id }
             projects { __typename id environments { __typename id } models { __typename id } } contacts { __typename id } }
           supportTickets { edges { node { __typename id } } } webhookEndpoints { __typename id }
           importJobs { edges { node { __typename id } } } notificationDeliveries { edges { node { __typename id } } }
           auditEvents { edges { node { __typename id } } } apiKeys { edges { node { __typename id } } } }",
        json!({}),
    )
    .await;
    let mut found = BTreeMap::new();
    collect_ids(&ids, &mut found);
    (owner, found)
}

pub(crate) fn collect_ids(value: &Value, into: &mut BTreeMap<String, Vec<String>>) {
    match value {
        Value::Object(map) => {
            if let (Some(kind), Some(id)) =
                (map.get("__typename").and_then(Value::as_str), map.get("id").and_then(Value::as_str))
            {
                let ids = into.entry(kind.to_owned()).or_default();
                if !ids.iter().any(|known| known == id) {
                    ids.push(id.to_owned());
                }
            }
            map.values().for_each(|value| collect_ids(value, into));
        }
        Value::Array(items) => items.iter().for_each(|item| collect_ids(item, into)),
        _ => {}
    }
}

async fn another_company_reads_and_changes_nothing(app: TestApp) {
    let (_, victim) = company(&app, MARKER).await;
    let victim_ids: Vec<String> = victim.values().flatten().cloned().collect();
    assert!(victim_ids.len() >= 15, "one of everything: {victim:?}");
    let (attacker, own) = company(&app, "attacker").await;
    let called_with_ids = walk(&app, &attacker, &victim_ids, &own, MARKER).await;
    assert!(called_with_ids.len() >= 35, "the walk reached the ID-taking operations: {called_with_ids:?}");
}

/// Calls every operation as `attacker`: every ID-taking one with each of `victim_ids` in each ID
/// slot (the attacker's own IDs in the others), every list query without. Asserts that no
/// answer holds a victim's ID or `marker`, that no error is INTERNAL or tells the marker, and
/// that no row changed and no new row names a victim. Returns the operations called with IDs.
pub(crate) async fn walk(
    app: &TestApp,
    attacker: &str,
    victim_ids: &[String],
    own: &BTreeMap<String, Vec<String>>,
    marker: &str,
) -> BTreeSet<String> {
    let schema = Schema::from_introspection(&app.graphql_as(Some(attacker), INTROSPECTION, json!({})).await);
    outbox_drained(app).await;
    let before = snapshot(app).await;

    let mut calls = 0;
    let mut called_with_ids = BTreeSet::new();
    for (root, keyword) in [("Query", "query"), ("Mutation", "mutation")] {
        for field in schema.types[root]["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap();
            if SKIPPED.contains(&name) {
                continue;
            }
            let args = field["args"].as_array().unwrap();
            let mut slots = BTreeSet::new();
            for arg in args {
                id_slots(&schema, arg["name"].as_str().unwrap(), &arg["type"], &mut slots);
            }
            // Mutations without an ID act on the caller's own company only: not a tenancy question.
            if slots.is_empty() && root == "Mutation" {
                continue;
            }
            // One foreign ID in one slot at a time, the caller's own IDs in the others.
            let mut attempts: Vec<(String, String)> = Vec::new();
            for slot in &slots {
                attempts.extend(victim_ids.iter().map(|id| (slot.clone(), id.clone())));
            }
            if slots.is_empty() {
                attempts.push((String::new(), String::new()));
            }
            for (slot, foreign) in attempts {
                let fill = |name: &str| {
                    if name == slot { foreign.clone() } else { own_for(name, own).unwrap_or_else(|| foreign.clone()) }
                };
                let literals: Option<Vec<String>> = args
                    .iter()
                    .map(|a| {
                        let arg = a["name"].as_str().unwrap();
                        Some(format!("{arg}: {}", schema.literal(arg, &a["type"], &fill)?))
                    })
                    .collect();
                let Some(literals) = literals else { break }; // takes an Upload
                let arguments = if literals.is_empty() { String::new() } else { format!("({})", literals.join(", ")) };
                let query = format!("{keyword} {{ {name}{arguments} {} }}", schema.selection(&field["type"], 2));
                let body = app.graphql_as(Some(attacker), &query, json!({})).await;
                calls += 1;
                let shown = body["data"].to_string();
                assert!(!shown.contains(marker), "{query}\nread the victim's data: {body}");
                for victim_id in victim_ids {
                    assert!(!shown.contains(victim_id.as_str()), "{query}\nanswered a victim's ID: {body}");
                }
                for error in body["errors"].as_array().into_iter().flatten() {
                    assert_ne!(error["extensions"]["code"], "INTERNAL", "{query}\nan oracle: {body}");
                    assert!(!error.to_string().contains(marker), "{query}\nan error told: {body}");
                }
                if !slots.is_empty() {
                    called_with_ids.insert(name.to_owned());
                }
            }
        }
    }
    eprintln!("walk: {calls} calls over {} operations with IDs", called_with_ids.len());

    outbox_drained(app).await;
    let after = snapshot(app).await;
    let victim_spellings: Vec<String> = victim_ids.iter().flat_map(|id| spellings(id)).collect();
    for (table, rows) in &before {
        let now = &after[table];
        let changed: Vec<&String> = rows.difference(now).collect();
        assert!(changed.is_empty(), "{table}: rows changed or vanished: {changed:?}");
        for row in now.difference(rows) {
            for spelling in &victim_spellings {
                assert!(!row.contains(spelling.as_str()), "{table}: a new row names the victim: {row}");
            }
        }
    }
    called_with_ids
}
