//! What the domain functions need, built once at start-up and shared (cheap to clone).

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use super::clock::Clock;
use super::passwords::Passwords;

#[derive(Clone)]
pub struct Services {
    /// Where changes go (and whatever reads must see them in the same transaction).
    pub db: DatabaseConnection,
    /// Where reads that change nothing go: on SQLite a pool of readers beside the one writer
    /// (`db::connect_readers`), on PostgreSQL the same pool as `db`.
    pub reads: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub passwords: Passwords,
    pub settings: Arc<Settings>,
    /// What requests ran against `db` (not the outbox worker): tests use it for the shape of
    /// what an operation costs.
    pub statements: Arc<crate::db::statement_log::StatementLog>,
    pub login_limiter: Arc<super::rate_limit::AddressLimiter>,
    /// Rung after a commit that may have queued notifications: the outbox worker wakes at once.
    pub outbox_wakeup: Arc<Notify>,
    /// Work a request starts and does not wait for (a reset link is written after the answer):
    /// shutdown waits for it, and tests wait for it before asserting that nothing was sent.
    pub background: tokio_util::task::TaskTracker,
    /// Sessions resolved a moment ago (see `principal_cache`).
    pub principals: Arc<super::principal_cache::PrincipalCache>,
}

/// The slice of configuration the rules depend on.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base of the links put in emails.
    pub public_url: url::Url,
    /// Where "Sign in" leads (`PORTAL_SIGN_IN_URL`).
    pub sign_in_url: url::Url,
    pub session_ttl: chrono::Duration,
    pub webhook_allow_private: bool,
}

impl Services {
    /// These services with every database access on the reader pool: for operations that
    /// change nothing (GraphQL queries), so that they never wait for a writer.
    pub fn for_reading(&self) -> Services {
        Services { db: self.reads.clone(), ..self.clone() }
    }

    pub fn link(&self, path_and_query: &str) -> String {
        self.settings.public_url.join(path_and_query).map(String::from).unwrap_or_default()
    }
}
