//! What requests ran against the database: a count, and, while someone records, the statements
//! themselves. Tests use it to show the shape of what an operation costs (batching; a failed
//! sign-in that writes the same for every address).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Default)]
pub struct StatementLog {
    count: AtomicU64,
    recording: AtomicBool,
    recorded: Mutex<Vec<sea_orm::Statement>>,
}

impl StatementLog {
    /// Statements run so far (all connections of the requests' pool).
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// From now on, keeps each statement's SQL until `take`.
    pub fn record(&self) {
        self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.recording.store(true, Ordering::SeqCst);
    }

    /// Stops recording; the SQL of what was run since `record`, in order.
    pub fn take(&self) -> Vec<String> {
        self.take_statements().into_iter().map(|statement| statement.sql).collect()
    }

    /// Stops recording; what was run since `record` (SQL and values), in order: a benchmark
    /// runs the very same statements again as its ceiling.
    pub fn take_statements(&self) -> Vec<sea_orm::Statement> {
        self.recording.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub(crate) fn seen(&self, statement: &sea_orm::Statement) {
        self.count.fetch_add(1, Ordering::SeqCst);
        // Only a test records; the rest of the time a statement costs one atomic add here.
        if self.recording.load(Ordering::Relaxed) {
            self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(statement.clone());
        }
    }
}
