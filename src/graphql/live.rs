//! The GraphQL `Subscription` root: what a client can follow live (an import's progress).

use async_graphql::{Context, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::extensions::WebsocketSession;
use super::guard::authorize;
use super::imports::{ImportProgress, imports};
use crate::domain::principal::authenticate;
use crate::import::job;
use crate::import::progress::{self, Progress};
use crate::types::ImportJobId;

#[derive(Default)]
pub struct ImportSubscription;

#[Subscription]
impl ImportSubscription {
    /// The job's current state at once, then each new state (at least every 500 ms or 1% while
    /// it changes), then the final state; then the subscription completes.
    ///
    /// On a websocket the session is checked again before each state: once it is revoked (a
    /// logout, a password change, a deactivation) the subscription sends UNAUTHENTICATED and ends.
    async fn import_progress(
        &self,
        ctx: &Context<'_>,
        job_id: ImportJobId,
    ) -> Result<impl Stream<Item = Result<ImportProgress>>> {
        let principal = authorize(ctx)?;
        let svc = imports(ctx);
        let id = job_id;
        // Subscribed before the job is read: no state falls in between.
        let receiver = svc.progress.subscribe();
        let current = job::get(svc, principal, id).await?;
        let session = ctx.data_opt::<WebsocketSession>().map(|session| session.token.clone());
        let checker = svc.clone();
        let states = progress::follow(svc.reads.clone(), Progress::of(&current), receiver).then(move |state| {
            let (svc, session) = (checker.clone(), session.clone());
            async move {
                if let Some(token) = session {
                    authenticate(&svc.services, &token).await?;
                }
                Ok(ImportProgress(state))
            }
        });
        // The refusal is the last thing sent.
        Ok(states.scan(false, |ended, state: Result<ImportProgress>| {
            let next = (!*ended).then(|| {
                *ended = state.is_err();
                state
            });
            futures_util::future::ready(next)
        }))
    }
}
