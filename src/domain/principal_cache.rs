//! Session tokens resolved without a database round trip on the hot path, and never stale.
//!
//! A request's session costs two statements (the session with its user, then the user's
//! modules); a dashboard makes many requests on one session. This cache keeps the resolved
//! [`Principal`] of a session token (keyed by the token's SHA-256, never the token) for at most
//! [`TTL`]. What keeps it exact is an *epoch*, not a list of call sites to remember:
//!
//! - Every statement the requests' pool runs passes [`PrincipalCache::observe`] (the pool's
//!   metric callback, set in `app.rs`). A write to a table a principal is made of
//!   ([`writes_principal_table`]: users, sessions, user_modules, user_sub_accounts, companies)
//!   moves the epoch, and an entry from an older epoch is never served. So a change made by any
//!   code path, present or future, is covered without that code knowing the cache exists.
//! - A write inside a transaction takes effect at its commit, after the callback ran: a request
//!   that read the old rows in between could cache them. The unit of work therefore moves the
//!   epoch again after committing if it moved while the work was open
//!   ([`PrincipalCache::epoch`] at begin, [`PrincipalCache::after_commit`]). A request only
//!   stores what it read if the epoch did not move while it read ([`PrincipalCache::store`]).
//!   Transactions are opened through `Services::begin` (the unit of work) everywhere but the
//!   outbox worker, whose pool handle writes deliveries only.
//! - Other processes (PostgreSQL): statement triggers on the same tables (migration 9) run
//!   `pg_notify('portal_principals')`, delivered at commit to every process's listener
//!   ([`listen`]), which moves its epoch. While a process has no working listener it does not
//!   use its cache at all ([`PrincipalCache::set_listening`]).
//!
//! Moving the epoch forgets every entry at once (coarse, but a write to these tables is rare next
//! to the reads: a sign-in only inserts a session, which no cached entry can depend on).
//! API keys are resolved per request: their `lastUsedAt` is written as they are used.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lru::LruCache;

use super::principal::Principal;

/// How long a resolved session is served from memory at most (any change forgets it sooner).
pub const TTL: Duration = Duration::from_secs(30);
/// Sessions kept; the least recently used goes first.
const CAPACITY: usize = 10_000;
/// The PostgreSQL channel the triggers of migration 9 notify.
pub const PG_CHANNEL: &str = "portal_principals";

pub struct PrincipalCache {
    epoch: AtomicU64,
    /// False while another process's changes could go unheard (PostgreSQL, no listener yet or
    /// the listener's connection lost): then nothing is served from or stored in the cache.
    listening: AtomicBool,
    entries: Mutex<LruCache<String, Entry>>,
}

#[derive(Clone)]
struct Entry {
    principal: Principal,
    session_expires_at: DateTime<Utc>,
    stored_at: Instant,
    epoch: u64,
}

impl PrincipalCache {
    /// `alone`: no other process can change the database (SQLite, embedded), so no listener is
    /// needed before the cache is used.
    pub fn new(alone: bool) -> Self {
        PrincipalCache {
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(alone),
            entries: Mutex::new(LruCache::new(NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN))),
        }
    }

    /// The current epoch: read before resolving a token (to store it), or when a unit of work
    /// begins (to know at commit whether it changed a principal).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Sees every statement run on the requests' pool.
    pub fn observe(&self, sql: &str) {
        if writes_principal_table(sql) {
            self.forget_all();
        }
    }

    /// Called by a unit of work after its commit with the epoch it began at: if a principal
    /// changed while it was open (possibly its own write), what was read meanwhile is dropped.
    pub fn after_commit(&self, began_at: u64) {
        if self.epoch() != began_at {
            self.forget_all();
        }
    }

    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the cache is in use (always on SQLite; on PostgreSQL once its listener listens).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    pub fn set_listening(&self, listening: bool) {
        // Whatever happened while nobody listened is unknown: start over either way.
        self.forget_all();
        self.listening.store(listening, Ordering::SeqCst);
    }

    /// The principal of the token whose hash is `key`, if resolved in this epoch, less than
    /// [`TTL`] ago, and its session not expired at `now`.
    pub fn get(&self, key: &str, now: DateTime<Utc>) -> Option<Principal> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(key)?;
        if entry.epoch == self.epoch() && entry.stored_at.elapsed() < TTL && now < entry.session_expires_at {
            return Some(entry.principal.clone());
        }
        entries.pop(key);
        None
    }

    /// Keeps what was resolved from the database, unless a principal changed since `epoch`
    /// was read (the rows read may be older than that change).
    pub fn store(&self, key: String, principal: Principal, session_expires_at: DateTime<Utc>, epoch: u64) {
        if !self.listening.load(Ordering::SeqCst) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked under the lock `get` takes: a move of the epoch after this check makes the
        // entry stale at its first `get`.
        if self.epoch() == epoch {
            entries.put(key, Entry { principal, session_expires_at, stored_at: Instant::now(), epoch });
        }
    }
}

/// Whether `sql` changes a row a principal is made of. New sessions and new users cannot be
/// in the cache, so plain inserts into those tables do not count (an upsert does).
pub fn writes_principal_table(sql: &str) -> bool {
    let sql = sql.trim_start();
    let head: String = sql.chars().take(40).collect::<String>().to_ascii_lowercase();
    let (insert, rest) = if let Some(rest) = head.strip_prefix("insert into ") {
        (true, rest)
    } else if let Some(rest) = head.strip_prefix("update ").or_else(|| head.strip_prefix("delete from ")) {
        (false, rest)
    } else {
        return false;
    };
    let table = rest.trim_start_matches('"');
    let table = &table[..table.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(table.len())];
    match table {
        "user_modules" | "user_sub_accounts" => true,
        "users" | "sessions" | "companies" => {
            !insert || sql.contains("ON CONFLICT") || sql.to_ascii_lowercase().contains("on conflict")
        }
        _ => false,
    }
}

/// PostgreSQL: other processes' changes (notified by migration 9's triggers at their commit)
/// forget this process's entries. Without a listening connection the cache stays unused.
pub async fn listen(db: sea_orm::DatabaseConnection, cache: std::sync::Arc<PrincipalCache>) {
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(PG_CHANNEL).await {
                Ok(()) => {
                    cache.set_listening(true);
                    // `try_recv` answers None when the connection was lost (and notifications
                    // with it): stop using the cache until listening again.
                    while let Ok(Some(_)) = listener.try_recv().await {
                        cache.forget_all();
                    }
                    cache.set_listening(false);
                }
                Err(error) => tracing::warn!(%error, "sessions: LISTEN failed"),
            },
            Err(error) => tracing::warn!(%error, "sessions: cannot open the LISTEN connection"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writes_that_change_a_principal() {
        for sql in [
            r#"UPDATE "users" SET "status" = $1 WHERE "users"."id" = $2"#,
            r#"DELETE FROM "sessions" WHERE "sessions"."user_id" = $1"#,
            r#"UPDATE "sessions" SET "revoked_at" = $1"#,
            r#"INSERT INTO "user_modules" ("user_id", "module") VALUES ($1, $2)"#,
            r#"DELETE FROM "user_sub_accounts" WHERE 1"#,
            r#"update companies set name = 'x'"#,
            r#"INSERT INTO "users" ("id") VALUES ($1) ON CONFLICT ("id") DO UPDATE SET "email" = $2"#,
        ] {
            assert!(writes_principal_table(sql), "{sql}");
        }
        for sql in [
            r#"SELECT "users"."id" FROM "users""#,
            r#"INSERT INTO "sessions" ("id", "token_hash") VALUES ($1, $2)"#,
            r#"INSERT INTO "users" ("id") VALUES ($1)"#,
            r#"UPDATE "users_search" SET x = 1"#,
            r#"UPDATE "api_keys" SET "last_used_at" = $1"#,
            r#"INSERT INTO "audit_events" ("action") VALUES ('user.updated')"#,
        ] {
            assert!(!writes_principal_table(sql), "{sql}");
        }
    }

    fn principal() -> Principal {
        Principal {
            actor: super::super::principal::Actor::Person {
                user_id: crate::types::UserId::new(),
                session_id: uuid::Uuid::now_v7(),
            },
            company_id: None,
            role: crate::types::enums::Role::Operator,
            modules: Vec::new(),
            must_change_password: false,
            reach: super::super::principal::Reach::WholeCompany,
        }
    }

    #[test]
    fn an_entry_read_before_a_change_is_never_served_after_it() {
        let cache = PrincipalCache::new(true);
        let now = Utc::now();
        let later = now + chrono::Duration::hours(1);
        let epoch = cache.epoch();
        cache.store("a".into(), principal(), later, epoch);
        assert!(cache.get("a", now).is_some());
        assert!(cache.get("a", later).is_none(), "an expired session is not served");
        cache.store("a".into(), principal(), later, cache.epoch());
        cache.observe(r#"UPDATE "users" SET "role" = $1"#);
        assert!(cache.get("a", now).is_none(), "a change forgets what was resolved before it");
        // Read before the change, stored after it: refused.
        cache.store("b".into(), principal(), later, epoch);
        assert!(cache.get("b", now).is_none());
        // A unit of work that wrote moves the epoch again at its commit.
        let began = cache.epoch();
        cache.observe(r#"DELETE FROM "user_modules" WHERE 1"#);
        let during = cache.epoch();
        cache.store("c".into(), principal(), later, during);
        cache.after_commit(began);
        assert!(cache.get("c", now).is_none(), "read between the write and its commit");
    }

    #[test]
    fn nothing_is_served_while_other_processes_go_unheard() {
        let cache = PrincipalCache::new(false);
        let now = Utc::now();
        cache.store("a".into(), principal(), now + chrono::Duration::hours(1), cache.epoch());
        assert!(cache.get("a", now).is_none());
        cache.set_listening(true);
        cache.store("a".into(), principal(), now + chrono::Duration::hours(1), cache.epoch());
        assert!(cache.get("a", now).is_some());
        cache.set_listening(false);
        assert!(cache.get("a", now).is_none());
    }
}
