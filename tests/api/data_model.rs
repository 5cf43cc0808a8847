//! The data model on both databases: every entity matches its table, the rules the schema
//! itself enforces hold, and the migration rolls back and forward.

use crate::common;
use crate::users::create_id;

use chrono::Utc;
use common::TestApp;
use migration::{Migrator, MigratorTrait};
use portal::db::*;
use portal::domain::{Module, Role, UserStatus};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QuerySelect, Set};

backend_tests!(
    every_entity_matches_its_table,
    emails_are_unique_and_stored_lower_cased,
    foreign_keys_are_enforced,
    the_migration_rolls_back_and_forward,
    an_event_has_one_delivery_per_channel_and_recipient,
    sqlite_waits_and_caches,
    sqlite_search_copies_follow_their_users,
    sqlite_checkpoints_beside_the_writer,
);

/// SQLite waits for another writer instead of failing, and has a cache for the hot part of an
/// import's indexes (see `db::connect`); on PostgreSQL there is nothing to check.
async fn sqlite_waits_and_caches(app: TestApp) {
    if app.db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return;
    }
    let busy_ms: i64 = pragma(&app, "busy_timeout").await.try_get_by_index(0).unwrap();
    assert_eq!(busy_ms, 10_000);
    let cache: i64 = pragma(&app, "cache_size").await.try_get_by_index(0).unwrap();
    assert_eq!(cache, -32_768, "32 MiB");
}

/// The first row of `PRAGMA name` on the application's SQLite writer.
async fn pragma(app: &TestApp, name: &str) -> sea_orm::QueryResult {
    let sql = sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Sqlite, format!("PRAGMA {name}"));
    app.db.query_one_raw(sql).await.unwrap().unwrap()
}

/// SQLite's search index keeps a copy of the columns a search page is filtered and ordered by
/// (migration 17): filled from the users already there when the migration runs, then kept in
/// step by triggers through changes. PostgreSQL has no such copy.
async fn sqlite_search_copies_follow_their_users(app: TestApp) {
    if app.db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return;
    }
    let owner = app.company_owner("Copies", "owner@copies.example").await;
    let eve = create_id(&app, &owner, "Eve", "Early", "eve@copies.example", "owner@copies.example").await;
    let out_of_step = async || -> (i64, i64) {
        let sql = "SELECT (SELECT count(*) FROM users) - (SELECT count(*) FROM user_search),
            (SELECT count(*) FROM user_search s JOIN users u ON u.id = s.user_id
             WHERE s.company_id IS NOT u.company_id OR s.status IS NOT u.status
                OR s.import_job_id IS NOT u.import_job_id OR s.sort_key IS NOT u.sort_key)";
        let row = app.db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Sqlite, sql));
        let row = row.await.unwrap().unwrap();
        (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap())
    };
    Migrator::down(&app.db, Some(1)).await.expect("migration 17 down");
    Migrator::up(&app.db, None).await.expect("and up again, over users already there");
    assert_eq!(out_of_step().await, (0, 0), "filled from the users");
    let rename = "mutation ($id: ID!) { updateUser(id: $id, input: {surname: \"Late\"}) { id } }";
    app.graphql_as(Some(&owner), rename, serde_json::json!({"id": eve})).await;
    let deactivate = "mutation ($id: ID!) { deactivateUser(id: $id) { id } }";
    app.graphql_as(Some(&owner), deactivate, serde_json::json!({"id": eve})).await;
    assert_eq!(out_of_step().await, (0, 0), "in step after a rename and a deactivation");
    let search = "{ users(filter: {search: \"late\", status: INACTIVE}) { nodes { email } } }";
    let found = app.graphql_as(Some(&owner), search, serde_json::json!({})).await;
    assert_eq!(common::data(&found)["users"]["nodes"], serde_json::json!([{"email": "eve@copies.example"}]));
}

/// Decodes a row of each entity: a column missing, misnamed or of another type fails here, and
/// so does a table left empty (the decoding would then prove nothing).
macro_rules! decode_each {
    ($db:expr, $($entity:ident),+ $(,)?) => {$(
        let rows = $entity::Entity::find()
            .limit(1)
            .all($db)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", stringify!($entity)));
        assert!(!rows.is_empty(), "no row of {} to decode", stringify!($entity));
    )+};
}

async fn every_entity_matches_its_table(app: TestApp) {
    // Rows of every kind, made as clients make them: a company with one of everything, a user
    // limited to a sub-account, a dry run with a bad row (its issues, its stored file), and the
    // outbox drained once (delivery attempts).
    let (owner, ids) = crate::tenancy::company(&app, "decoded").await;
    let call = async |query: &str, variables: serde_json::Value| {
        common::data(&app.graphql_as(Some(&owner), query, variables).await).clone()
    };
    let ivan = call("{ users(filter: {search: \"ivan\"}) { edges { node { id } } } }", serde_json::json!({})).await
        ["users"]["edges"][0]["node"]["id"]
        .clone();
    call(
        "mutation ($u: ID!, $s: [ID!]) { setUserPermissions(userId: $u, modules: [REPORTS], subAccountIds: $s) { id } }",
        serde_json::json!({"u": ivan, "s": [&ids["SubAccount"][0]]}),
    )
    .await;
    let file = "Given Name,Surname,Email address,Job title,Manager's email address,Country,Is Active\r\n\
                Bad,Row,not-an-address,x,owner@decoded.example,CO,1\r\n";
    let upload = app.http.post(app.url("/imports?dryRun=true")).bearer_auth(&owner).body(file).send().await.unwrap();
    assert_eq!(upload.status(), 202);
    common::eventually("the bad file is judged", async || {
        (app.count("SELECT COUNT(*) AS n FROM import_row_issues").await > 0).then_some(())
    })
    .await;
    app.settle().await;
    decode_each!(
        &app.db,
        companies,
        sub_accounts,
        users,
        user_modules,
        user_sub_accounts,
        password_history,
        sessions,
        link_tokens,
        invitations,
        service_subscriptions,
        subscription_members,
        projects,
        environments,
        project_models,
        project_members,
        support_contacts,
        support_contact_roles,
        support_tickets,
        import_jobs,
        import_file_chunks,
        import_row_issues,
        audit_events,
        outbox_events,
        deliveries,
        delivery_attempts,
        webhook_endpoints,
    );
}

fn user(email: &str, company_id: Option<portal::types::CompanyId>) -> users::ActiveModel {
    let email = portal::domain::Email::parse(email).unwrap();
    portal::domain::users::NewUser {
        email: &email,
        company_id,
        role: Role::User,
        status: UserStatus::Invited,
        given_name: None,
        surname: None,
        locale: portal::types::Locale::default(),
    }
    .into_active_model(Utc::now())
}

async fn emails_are_unique_and_stored_lower_cased(app: TestApp) {
    user("ana@example.com", None).insert(&app.db).await.expect("first insert");
    let duplicate = user("ana@example.com", None).insert(&app.db).await;
    assert!(duplicate.is_err(), "the same email twice");
    // What the application never writes (an `Email` is lower-cased), written by hand: the
    // schema refuses it too.
    let upper = app.db.execute_unprepared("UPDATE users SET email = 'Ana@Example.com'").await;
    assert!(upper.is_err(), "an email that is not lower-cased");
}

async fn foreign_keys_are_enforced(app: TestApp) {
    let orphan = user("orphan@example.com", Some(portal::types::CompanyId::new())).insert(&app.db).await;
    assert!(orphan.is_err(), "a user of a company that does not exist");

    let saved = user("cleo@example.com", None).insert(&app.db).await.unwrap();
    user_modules::ActiveModel { user_id: Set(saved.id), module: Set(Module::Reports) }.insert(&app.db).await.unwrap();
    users::Entity::delete_by_id(saved.id).exec(&app.db).await.unwrap();
    let left = user_modules::Entity::find().all(&app.db).await.unwrap();
    assert!(left.is_empty(), "module grants go with their user");
}

async fn an_event_has_one_delivery_per_channel_and_recipient(app: TestApp) {
    use portal::notify::{EmailNotification, Notification, Template, event_row};
    let to = portal::domain::Email::parse("dora@example.com").unwrap();
    let notification = Notification {
        company_id: None,
        event_type: portal::types::EventType::UserCreated,
        data: serde_json::json!({}),
        email: Some(EmailNotification::new(&to, Template::Welcome, "en", serde_json::json!({}))),
    };
    let (event, delivery) = event_row(&notification, Utc::now()).unwrap();
    event.insert(&app.db).await.unwrap();
    let delivery = delivery.unwrap();
    delivery.clone().insert(&app.db).await.expect("the first delivery");
    let mut again = delivery;
    again.id = Set(portal::types::DeliveryId::new());
    assert!(again.insert(&app.db).await.is_err(), "a second delivery of the same event to the same address");
}

async fn the_migration_rolls_back_and_forward(app: TestApp) {
    Migrator::down(&app.db, None).await.expect("down");
    assert!(users::Entity::find().all(&app.db).await.is_err(), "tables are gone");
    Migrator::up(&app.db, None).await.expect("up again");
    users::Entity::find().all(&app.db).await.expect("users again");
    webhook_endpoints::Entity::find().all(&app.db).await.expect("webhook endpoints again");
}

/// SQLite's writer copies its write-ahead log into the database file itself only rarely (an
/// import's writer spent a sixth of its time in the `fsync`s of those checkpoints); a connection
/// of its own does, beside it (`db::checkpoints`). What is in the file alone, without the log,
/// shows it: a user created now reaches it within a second, though the writer's own rule (every
/// 32,768 pages; SQLite's default 1,000) would not have copied a write this small. PostgreSQL has no such log to copy.
async fn sqlite_checkpoints_beside_the_writer(app: TestApp) {
    let sea_orm::DatabaseBackend::Sqlite = app.db.get_database_backend() else { return };
    let pages: i64 = pragma(&app, "wal_autocheckpoint").await.try_get_by_index(0).unwrap();
    let rarely = portal::db::checkpoints::WRITER_CHECKPOINT_PAGES;
    assert_eq!(pages, i64::from(rarely), "the writer checkpoints only every {rarely} pages");

    let owner = app.company_owner("Logged", "owner@logged.example").await;
    create_id(&app, &owner, "Copied", "Over", "copied@logged.example", "owner@logged.example").await;
    // The main database's file, as SQLite names it (`seq`, `name`, `file`).
    let file: String = pragma(&app, "database_list").await.try_get_by_index(2).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    common::eventually("the new user in the database file itself", async || {
        // The file alone, copied without its log: only what a checkpoint copied into it. A copy
        // taken while a checkpoint writes may be torn; that is "not yet".
        let copy = scratch.path().join(format!("copy-{}.db", uuid::Uuid::new_v4().simple()));
        std::fs::copy(&file, &copy).ok()?;
        let db = sea_orm::Database::connect(format!("sqlite://{}?mode=rw", copy.display())).await.ok()?;
        let sql = sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "SELECT count(*) FROM users WHERE email = 'copied@logged.example'",
        );
        let found: i64 = db.query_one_raw(sql).await.ok()??.try_get_by_index(0).ok()?;
        db.close().await.ok();
        (found == 1).then_some(())
    })
    .await;
}
