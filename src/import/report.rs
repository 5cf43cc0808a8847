//! What a running job tells the world as it moves.

use super::Imports;
use super::progress::{Progress, Throttle};
use super::states;
use crate::db::import_jobs;
use crate::domain::{DomainError, DomainResult, ImportStatus};
use crate::notify::Notification;
use crate::types::CompanyId;

/// Publishes a running job's state as it moves: to subscribers at least every 500 ms or 1%,
/// to webhooks (`import.progress`) at most every 5 s or 10%.
pub(super) struct Reporter {
    svc: Imports,
    company_id: CompanyId,
    pub progress: Progress,
    subscribers: Throttle,
    webhooks: Throttle,
}

impl Reporter {
    pub(super) fn new(svc: &Imports, job: &import_jobs::Model) -> Reporter {
        Reporter {
            svc: svc.clone(),
            company_id: job.company_id,
            progress: Progress::of(job),
            subscribers: Throttle::subscribers(),
            webhooks: Throttle::webhooks(),
        }
    }

    /// Rows done in the current phase: validated while validating, written while importing.
    fn done(&self) -> i64 {
        match self.progress.status {
            ImportStatus::Importing => self.progress.created_count.into(),
            _ => self.progress.processed_rows.into(),
        }
    }

    /// Called after each batch: sends what is due. Returns whether the job was cancelled
    /// (by another process: this one's cancellations are seen through the flag).
    pub async fn tick(&mut self) -> DomainResult<bool> {
        let (done, total) = (self.done(), self.progress.total_rows.into());
        if self.subscribers.due(done, total) {
            return self.report().await;
        }
        Ok(false)
    }

    /// Sends the current state now (a phase starts, or a tick is due).
    pub async fn report(&mut self) -> DomainResult<bool> {
        let (done, total) = (self.done(), self.progress.total_rows.into());
        let hub = self.svc.progress.clone();
        if !states::save_progress(&self.svc.db, &self.progress).await? {
            return Ok(true);
        }
        hub.publish(&self.svc.db, self.progress.clone()).await;
        if self.webhooks.due(done, total) {
            let data = serde_json::to_value(&self.progress).map_err(DomainError::internal)?;
            let event = Notification {
                company_id: Some(self.company_id),
                event_type: crate::types::EventType::ImportProgress,
                data,
                email: None,
            };
            let tx = self.svc.begin().await?;
            tx.notify(event).await?;
            tx.commit().await?;
        }
        Ok(false)
    }
}
