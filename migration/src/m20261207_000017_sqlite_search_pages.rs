//! SQLite: a search page read inside the search index. `user_search` (migration 10) also keeps
//! a copy of the columns a search page is filtered and ordered by (`company_id`, `status`,
//! `import_job_id`, `sort_key`), so that `users(filter: {search})` in the surname or status
//! ordering picks its page among the index's matches without looking every match up in
//! `users` by its UUID (two B-tree descents and a wide row each: 4,000 of them for a surname
//! one user in 25 has). Triggers keep the copy in step with every insert and change, whatever
//! writes them; the delete trigger of migration 10 already removes the row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: [&str; 8] = [
    "ALTER TABLE user_search ADD COLUMN company_id BLOB",
    "ALTER TABLE user_search ADD COLUMN status TEXT",
    "ALTER TABLE user_search ADD COLUMN import_job_id BLOB",
    "ALTER TABLE user_search ADD COLUMN sort_key TEXT",
    "UPDATE user_search SET (company_id, status, import_job_id, sort_key) =
        (SELECT u.company_id, u.status, u.import_job_id, u.sort_key FROM users u WHERE u.id = user_search.user_id)",
    "DROP TRIGGER tr_users_search_insert",
    "CREATE TRIGGER tr_users_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO user_search (user_id, company_id, status, import_job_id, sort_key)
            VALUES (new.id, new.company_id, new.status, new.import_job_id, new.sort_key);
        INSERT INTO users_fts (rowid, search_key) VALUES (last_insert_rowid(), new.search_key);
     END",
    "CREATE TRIGGER tr_users_search_copies AFTER UPDATE OF company_id, status, import_job_id, sort_key ON users
     WHEN old.company_id IS NOT new.company_id OR old.status IS NOT new.status
       OR old.import_job_id IS NOT new.import_job_id OR old.sort_key IS NOT new.sort_key BEGIN
        UPDATE user_search SET company_id = new.company_id, status = new.status,
            import_job_id = new.import_job_id, sort_key = new.sort_key
        WHERE user_id = new.id;
     END",
];

const DOWN: [&str; 7] = [
    "DROP TRIGGER IF EXISTS tr_users_search_copies",
    "DROP TRIGGER IF EXISTS tr_users_search_insert",
    "CREATE TRIGGER tr_users_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO user_search (user_id) VALUES (new.id);
        INSERT INTO users_fts (rowid, search_key) VALUES (last_insert_rowid(), new.search_key);
     END",
    "ALTER TABLE user_search DROP COLUMN sort_key",
    "ALTER TABLE user_search DROP COLUMN import_job_id",
    "ALTER TABLE user_search DROP COLUMN status",
    "ALTER TABLE user_search DROP COLUMN company_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::on_sqlite_only(m, &UP).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::on_sqlite_only(m, &DOWN).await
    }
}
