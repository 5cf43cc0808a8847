//! The unit of work: how every change is made. It opens the transaction, takes the moment of
//! the change once, collects the audit events (stamped with the actor, the company and the
//! request id) and queues notifications inside the transaction; `commit` writes the audit trail,
//! commits, and wakes the outbox worker. A mutation is its rule and one `commit`: dropping the
//! work instead (an early `?`) rolls everything back, audit and notifications included.
//!
//! It is a database connection itself (`ConnectionTrait`), so queries run on it as on the
//! transaction it holds.

use std::future::Future;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult, QueryResult, Statement,
    TransactionTrait,
};

use super::audit::AuditEvent;
use super::principal::Principal;
use super::{DomainResult, Services};
use crate::db::audit_events;
use crate::notify::{self, Notification};
use crate::types::{ApiKeyId, CompanyId, EventId, UserId};

tokio::task_local! {
    /// The id of the HTTP request being served (`x-request-id`), set by the HTTP layer around
    /// each request so that audit events name the request that made them. Work started outside
    /// a request (the import runner, start-up) has none.
    static REQUEST_ID: Option<String>;
}

/// Runs `work` with `request_id` as the request the audit trail names.
pub async fn with_request_id<F: Future>(request_id: Option<String>, work: F) -> F::Output {
    REQUEST_ID.scope(request_id, work).await
}

fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok().flatten()
}

pub struct UnitOfWork<'s> {
    svc: &'s Services,
    tx: DatabaseTransaction,
    now: DateTime<Utc>,
    actor_id: Option<UserId>,
    actor_api_key_id: Option<ApiKeyId>,
    company_id: Option<CompanyId>,
    request_id: Option<String>,
    audit: Vec<audit_events::ActiveModel>,
    /// The sessions cache's epoch when the work began (see `principal_cache`).
    principals_epoch: u64,
}

impl Services {
    /// A change made by a signed-in caller: audit events name them and their company.
    pub async fn begin_as(&self, principal: &Principal) -> DomainResult<UnitOfWork<'_>> {
        let mut work = self.begin().await?;
        work.actor_id = principal.person_id();
        work.actor_api_key_id = principal.api_key_id();
        work.company_id = principal.company_id;
        Ok(work)
    }

    /// A change nobody signed in makes (a sign-in, a link followed, start-up, a background job):
    /// its audit events name the actor and company themselves, if any.
    pub async fn begin(&self) -> DomainResult<UnitOfWork<'_>> {
        let principals_epoch = self.principals.epoch();
        Ok(UnitOfWork {
            svc: self,
            tx: self.db.begin().await?,
            now: self.clock.now(),
            actor_id: None,
            actor_api_key_id: None,
            company_id: None,
            request_id: current_request_id(),
            audit: Vec::new(),
            principals_epoch,
        })
    }
}

impl UnitOfWork<'_> {
    /// The moment of the change, the same for every row it writes.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Adds `event` to the audit trail at commit. The actor and company default to the caller's.
    pub fn audit(&mut self, event: AuditEvent) {
        // An event that names its actor (a sign-in, a job's start) is that person's, not the key's.
        let (actor_id, actor_api_key_id) = match event.actor_id {
            Some(actor_id) => (Some(actor_id), None),
            None => (self.actor_id, self.actor_api_key_id),
        };
        let company_id = event.company_id.or(self.company_id);
        self.audit.push(event.into_row(actor_id, actor_api_key_id, company_id, self.request_id.clone(), self.now));
    }

    /// Queues `notification` (its email and webhook deliveries) in this transaction.
    pub async fn notify(&self, notification: Notification) -> DomainResult<EventId> {
        Ok(notify::enqueue(&self.tx, self.now, notification).await?)
    }

    /// Undoes everything, audit events and notifications included (as dropping the work does).
    pub async fn rollback(self) -> DomainResult<()> {
        Ok(self.tx.rollback().await?)
    }

    /// Writes the audit trail (one statement), commits, and wakes the outbox worker for whatever
    /// was queued; on PostgreSQL the NOTIFY queued with it wakes the other processes' workers.
    pub async fn commit(self) -> DomainResult<()> {
        if !self.audit.is_empty() {
            audit_events::Entity::insert_many(self.audit).exec_without_returning(&self.tx).await?;
        }
        self.tx.commit().await?;
        // A session or permission this work changed is forgotten only now that it is seen.
        self.svc.principals.after_commit(self.principals_epoch);
        self.svc.outbox_wakeup.notify_one();
        Ok(())
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for UnitOfWork<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.tx.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.tx.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.tx.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.tx.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.tx.query_all_raw(stmt).await
    }
}
