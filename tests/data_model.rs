//! The data model on both databases: every entity matches its table, the rules the schema
//! itself enforces hold, and the migration rolls back and forward.

mod common;

use chrono::Utc;
use common::TestApp;
use migration::{Migrator, MigratorTrait};
use portal::db::*;
use portal::domain::{Module, Role, UserStatus};
use sea_orm::{ActiveModelTrait, EntityTrait, QuerySelect, Set};

backend_tests!(
    every_entity_matches_its_table,
    emails_are_unique_and_stored_lower_cased,
    foreign_keys_are_enforced,
    the_migration_rolls_back_and_forward,
);

macro_rules! select_each {
    ($db:expr, $($entity:ident),+ $(,)?) => {$(
        $entity::Entity::find()
            .limit(1)
            .all($db)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", stringify!($entity)));
    )+};
}

async fn every_entity_matches_its_table(app: TestApp) {
    // Selecting names every column of the entity: a column missing or misnamed fails here.
    select_each!(
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
        models,
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

fn user(email: &str, company_id: Option<uuid::Uuid>) -> users::ActiveModel {
    let now = Utc::now();
    users::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        company_id: Set(company_id),
        email: Set(email.to_owned()),
        given_name: Set(None),
        surname: Set(None),
        job_title: Set(None),
        manager_email: Set(None),
        country: Set(None),
        locale: Set("en".into()),
        status: Set(UserStatus::Invited),
        role: Set(Role::User),
        search_key: Set(email.to_owned()),
        sort_key: Set(String::new()),
        password_hash: Set(None),
        must_change_password: Set(false),
        failed_login_count: Set(0),
        first_failed_login_at: Set(None),
        locked_until: Set(None),
        password_changed_at: Set(None),
        activated_at: Set(None),
        deactivated_at: Set(None),
        anonymized_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

async fn emails_are_unique_and_stored_lower_cased(app: TestApp) {
    user("ana@example.com", None).insert(&app.db).await.expect("first insert");
    let duplicate = user("ana@example.com", None).insert(&app.db).await;
    assert!(duplicate.is_err(), "the same email twice");
    let upper = user("Bob@Example.com", None).insert(&app.db).await;
    assert!(upper.is_err(), "an email that is not lower-cased");
}

async fn foreign_keys_are_enforced(app: TestApp) {
    let orphan = user("orphan@example.com", Some(uuid::Uuid::now_v7())).insert(&app.db).await;
    assert!(orphan.is_err(), "a user of a company that does not exist");

    let saved = user("cleo@example.com", None).insert(&app.db).await.unwrap();
    user_modules::ActiveModel { user_id: Set(saved.id), module: Set(Module::Reports) }.insert(&app.db).await.unwrap();
    users::Entity::delete_by_id(saved.id).exec(&app.db).await.unwrap();
    let left = user_modules::Entity::find().all(&app.db).await.unwrap();
    assert!(left.is_empty(), "module grants go with their user");
}

async fn the_migration_rolls_back_and_forward(app: TestApp) {
    Migrator::down(&app.db, None).await.expect("down");
    assert!(users::Entity::find().all(&app.db).await.is_err(), "tables are gone");
    Migrator::up(&app.db, None).await.expect("up again");
    select_each!(&app.db, users, webhook_endpoints);
}
