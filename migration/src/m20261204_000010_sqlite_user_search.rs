//! SQLite: `users(filter: {search})` through an FTS5 trigram index instead of scanning the
//! company's rows for `LIKE '%word%'` (PostgreSQL has its trigram GIN index since migration 3).
//!
//! `users_fts` is a contentless FTS5 table (trigram tokenizer) over `search_key`. Its integer
//! rowids are those of `user_search`, a map from each user to a stable integer: the users'
//! own rowid is not (VACUUM may renumber a table without an INTEGER PRIMARY KEY). Triggers on
//! `users` keep both in step with every insert, change of `search_key` and delete, whatever
//! writes them (the application, an import, a hand-run statement).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: [&str; 7] = [
    "CREATE TABLE user_search (id INTEGER PRIMARY KEY, user_id BLOB NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE users_fts USING fts5(search_key, content='', contentless_delete=1, tokenize='trigram')",
    "INSERT INTO user_search (user_id) SELECT id FROM users",
    "INSERT INTO users_fts (rowid, search_key) SELECT s.id, u.search_key FROM user_search s JOIN users u ON u.id = s.user_id",
    "CREATE TRIGGER tr_users_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO user_search (user_id) VALUES (new.id);
        INSERT INTO users_fts (rowid, search_key) VALUES (last_insert_rowid(), new.search_key);
     END",
    "CREATE TRIGGER tr_users_search_update AFTER UPDATE OF search_key ON users
     WHEN old.search_key IS NOT new.search_key BEGIN
        DELETE FROM users_fts WHERE rowid = (SELECT id FROM user_search WHERE user_id = old.id);
        INSERT INTO users_fts (rowid, search_key) SELECT id, new.search_key FROM user_search WHERE user_id = old.id;
     END",
    "CREATE TRIGGER tr_users_search_delete AFTER DELETE ON users BEGIN
        DELETE FROM users_fts WHERE rowid = (SELECT id FROM user_search WHERE user_id = old.id);
        DELETE FROM user_search WHERE user_id = old.id;
     END",
];

const DOWN: [&str; 5] = [
    "DROP TRIGGER IF EXISTS tr_users_search_delete",
    "DROP TRIGGER IF EXISTS tr_users_search_update",
    "DROP TRIGGER IF EXISTS tr_users_search_insert",
    "DROP TABLE IF EXISTS users_fts",
    "DROP TABLE IF EXISTS user_search",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        for statement in UP {
            m.get_connection().execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        for statement in DOWN {
            m.get_connection().execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
