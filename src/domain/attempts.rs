//! Attempt limits per key (an email address, known or not; a user's id), counted by the
//! database in one statement, so that twenty concurrent guesses are twenty attempts and not
//! one (read-then-write counters lose updates). A key past its limit is locked for a while;
//! an unknown address is counted and locked exactly like a known one, so the answers never
//! tell them apart.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Statement, Value};

use super::tokens::hash_token;
use super::{DomainError, DomainResult};

/// What is limited, and how.
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    scope: &'static str,
    /// Attempts allowed within `window`; the one that reaches it locks the key.
    pub limit: i32,
    pub window: Duration,
    pub lock: Duration,
}

/// Five wrong passwords within 15 minutes lock the address for 15 minutes.
pub const LOGIN: Throttle =
    Throttle { scope: "LOGIN", limit: 5, window: Duration::minutes(15), lock: Duration::minutes(15) };
/// A signed-in session guessing its own password (`changePassword`).
pub const CHANGE_PASSWORD: Throttle =
    Throttle { scope: "CHANGE_PASSWORD", limit: 5, window: Duration::minutes(15), lock: Duration::minutes(15) };
/// Reset emails per address: enough for a person who mistyped, not for a mail bomb.
pub const PASSWORD_RESET: Throttle =
    Throttle { scope: "PASSWORD_RESET", limit: 5, window: Duration::hours(1), lock: Duration::hours(1) };

/// One counted attempt: its number within the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt(pub i32);

impl Throttle {
    /// Counts an attempt for `key`, before the work it guards is done. Refused when the key is
    /// locked, or when concurrent attempts already used up the window (then the key is locked).
    pub async fn attempt(&self, db: &impl ConnectionTrait, key: &str, now: DateTime<Utc>) -> DomainResult<Attempt> {
        let key = hash_token(key);
        // Within the window and not after a lock: one more; otherwise a new window. A key that
        // is still locked is not updated at all (no row comes back).
        let counted = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "INSERT INTO attempt_counters (scope, key_hash, attempts, window_started_at, locked_until) \
                 VALUES ($1, $2, 1, $3, NULL) \
                 ON CONFLICT (scope, key_hash) DO UPDATE SET \
                   attempts = CASE WHEN attempt_counters.locked_until IS NULL \
                     AND attempt_counters.window_started_at > $4 THEN attempt_counters.attempts + 1 ELSE 1 END, \
                   window_started_at = CASE WHEN attempt_counters.locked_until IS NULL \
                     AND attempt_counters.window_started_at > $4 THEN attempt_counters.window_started_at ELSE $3 END, \
                   locked_until = NULL \
                 WHERE attempt_counters.locked_until IS NULL OR attempt_counters.locked_until <= $3 \
                 RETURNING attempts",
                [self.scope.into(), key.clone().into(), now.into(), (now - self.window).into()],
            ))
            .await?;
        let Some(row) = counted else {
            let locked_until = self.locked_until(db, &key).await?.unwrap_or(now + self.lock);
            return Err(rate_limited(locked_until, now));
        };
        let attempts: i32 = row.try_get("", "attempts")?;
        if attempts > self.limit {
            self.lock_key(db, &key, now).await?;
            return Err(rate_limited(now + self.lock, now));
        }
        Ok(Attempt(attempts))
    }

    /// The guarded work failed (a wrong password): the attempt that reached the limit locks
    /// the key. True when this call locked it.
    ///
    /// Every failure writes the counter row, whether or not it locks: a failure whose caller
    /// then audits it (a known account) and one that does not (an unknown address) must cost
    /// the same, so both are one written transaction, never "a commit" against "nothing".
    pub async fn failed(
        &self,
        db: &impl ConnectionTrait,
        key: &str,
        attempt: Attempt,
        now: DateTime<Utc>,
    ) -> DomainResult<bool> {
        // Only one attempt of a window can have the limit's number (the counter is atomic).
        let locks = attempt.0 >= self.limit;
        let written = db
            .execute_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "UPDATE attempt_counters SET locked_until = CASE WHEN $1 AND locked_until IS NULL \
                   THEN $2 ELSE locked_until END \
                 WHERE scope = $3 AND key_hash = $4",
                [locks.into(), (now + self.lock).into(), self.scope.into(), hash_token(key).into()],
            ))
            .await?;
        Ok(locks && written.rows_affected() == 1)
    }

    /// The guarded work succeeded: the count starts over.
    pub async fn clear(&self, db: &impl ConnectionTrait, key: &str) -> DomainResult<()> {
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM attempt_counters WHERE scope = $1 AND key_hash = $2",
            [self.scope.into(), hash_token(key).into()],
        ))
        .await?;
        Ok(())
    }

    async fn lock_key(&self, db: &impl ConnectionTrait, key_hash: &str, now: DateTime<Utc>) -> DomainResult<bool> {
        let locked = db
            .execute_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "UPDATE attempt_counters SET locked_until = $1 \
                 WHERE scope = $2 AND key_hash = $3 AND locked_until IS NULL",
                [(now + self.lock).into(), self.scope.into(), key_hash.into()],
            ))
            .await?;
        Ok(locked.rows_affected() == 1)
    }

    async fn locked_until(&self, db: &impl ConnectionTrait, key_hash: &str) -> DomainResult<Option<DateTime<Utc>>> {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT locked_until FROM attempt_counters WHERE scope = $1 AND key_hash = $2",
                [self.scope.into(), Value::from(key_hash)],
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get("", "locked_until")?,
            None => None,
        })
    }
}

fn rate_limited(until: DateTime<Utc>, now: DateTime<Utc>) -> DomainError {
    DomainError::RateLimited { retry_after: (until - now).to_std().unwrap_or_default() }
}

/// Counters whose window and lock are both over hold nothing worth keeping.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> DomainResult<u64> {
    let longest =
        [LOGIN, CHANGE_PASSWORD, PASSWORD_RESET].iter().map(|t| t.window.max(t.lock)).max().unwrap_or_default();
    let purged = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM attempt_counters WHERE window_started_at < $1 AND (locked_until IS NULL OR locked_until < $2)",
            [(now - longest).into(), now.into()],
        ))
        .await?;
    Ok(purged.rows_affected())
}

/// Purges expired counters every ten minutes, for as long as the server runs.
pub async fn keep_purging(svc: super::Services) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        if let Err(error) = purge_expired(&svc.db, svc.clock.now()).await {
            tracing::warn!(%error, "cannot purge expired attempt counters");
        }
    }
}
