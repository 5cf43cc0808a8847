//! `GET /users.csv`: the company's users as a spreadsheet, with the same filters and orderings
//! as `users`. The first seven columns are the import template's, so a file of active users
//! imports into another company as it is (the importer ignores the export's other columns).
//! Streamed a page at a time, in keyset order: a million users never sit in memory.

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::Stream;
use tokio_util::bytes::Bytes;

use super::COLUMNS;
use super::error_log::formula_safe;
use crate::db::users;
use crate::domain::page::PageRequest;
use crate::domain::principal::Principal;
use crate::domain::user_list::{self, UserCursor, UserFilter, UserOrder};
use crate::domain::{DomainError, DomainResult, Module, Services, UserStatus, batch};

/// The columns after the template's: informational, skipped by the importer.
pub const EXTRA_COLUMNS: [&str; 8] =
    ["Status", "Role", "Modules", "Sub-accounts", "Created at", "Activated at", "Last signed in at", "Deactivated at"];

/// Rows read (and written) at a time.
const PAGE: u64 = 1_000;

type Piece = Result<Bytes, std::io::Error>;

struct Export {
    svc: Services,
    principal: Principal,
    filter: UserFilter,
    order: UserOrder,
}

enum Step {
    Header,
    /// The page after this cursor (None: the first).
    Page(Option<UserCursor>),
    Done,
}

/// The CSV bytes: the header (after a UTF-8 BOM, so Excel reads the accents right), then a
/// piece per page. A failure half-way ends the stream with an error, so the client sees a cut
/// download rather than a file that looks complete.
pub fn users_csv(
    svc: Services,
    principal: Principal,
    filter: UserFilter,
    order: UserOrder,
) -> impl Stream<Item = Piece> + Send + 'static {
    let export = Export { svc, principal, filter, order };
    futures_util::stream::unfold((export, Step::Header), |(export, step)| async move {
        match step {
            Step::Header => Some((Ok(Bytes::from(header())), (export, Step::Page(None)))),
            Step::Page(from) => match page(&export, from).await {
                Ok((bytes, next)) => {
                    Some((Ok(Bytes::from(bytes)), (export, next.map_or(Step::Done, |c| Step::Page(Some(c))))))
                }
                Err(error) => Some((Err(std::io::Error::other(error.to_string())), (export, Step::Done))),
            },
            Step::Done => None,
        }
    })
}

fn header() -> Vec<u8> {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(b"\xEF\xBB\xBF".to_vec());
    let names = COLUMNS.iter().chain(EXTRA_COLUMNS.iter());
    // Writing to memory cannot fail.
    let _ = out.write_record(names);
    out.into_inner().unwrap_or_default()
}

/// One page as CSV, and the cursor of the page after it when there is one.
async fn page(export: &Export, from: Option<UserCursor>) -> DomainResult<(Vec<u8>, Option<UserCursor>)> {
    let request = PageRequest { size: PAGE, from, backward: false };
    let svc = &export.svc;
    let found =
        user_list::list(svc, &export.principal, &export.filter, export.order, request, users::Columns::ALL).await?;
    let ids: Vec<_> = found.items.iter().map(|u| u.id).collect();
    let mut modules = batch::modules_of(&svc.db, &ids).await?;
    let mut sub_accounts = batch::sub_accounts_of(&svc.db, &ids).await?;
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for user in &found.items {
        let held: Vec<Module> = if user.role.is_company_admin() {
            Module::all().collect()
        } else {
            modules.remove(&user.id).unwrap_or_default()
        };
        let units: Vec<String> =
            sub_accounts.remove(&user.id).unwrap_or_default().into_iter().map(|s| s.name).collect();
        let cells = row(user, &held, &units);
        for cell in &cells {
            out.write_field(formula_safe(cell).as_bytes()).map_err(DomainError::internal)?;
        }
        out.write_record(None::<&[u8]>).map_err(DomainError::internal)?;
    }
    let next = if found.has_next_page { found.items.last().map(|u| UserCursor::of(u, export.order)) } else { None };
    let bytes = out.into_inner().map_err(|e| DomainError::internal(anyhow::anyhow!("{e}")))?;
    Ok((bytes, next))
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)).unwrap_or_default()
}

/// A user's cells: the template's seven, then the extra ones. Lists are `;`-separated.
fn row(user: &users::Model, modules: &[Module], sub_accounts: &[String]) -> Vec<String> {
    vec![
        user.given_name.clone().unwrap_or_default(),
        user.surname.clone().unwrap_or_default(),
        user.email.to_string(),
        user.job_title.clone().unwrap_or_default(),
        user.manager_email.as_ref().map(ToString::to_string).unwrap_or_default(),
        user.country.clone().unwrap_or_default(),
        if user.status == UserStatus::Active { "1" } else { "0" }.to_owned(),
        sea_orm::ActiveEnum::to_value(&user.status),
        sea_orm::ActiveEnum::to_value(&user.role),
        modules.iter().map(|m| m.code()).collect::<Vec<_>>().join(";"),
        sub_accounts.join(";"),
        time(Some(user.created_at)),
        time(user.activated_at),
        time(user.last_signed_in_at),
        time(user.deactivated_at),
    ]
}
