//! `import_jobs`: see the migration for what each column means.

use crate::types::enums::ImportStatus;
use crate::types::{CompanyId, ImportJobId, UserId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ImportJobId,
    pub company_id: CompanyId,
    pub started_by: Option<UserId>,
    pub status: ImportStatus,
    pub dry_run: bool,
    pub send_welcome_emails: bool,
    pub file_name: Option<String>,
    pub file_size: i64,
    pub file_sha256: Option<String>,
    pub total_rows: i32,
    pub processed_rows: i32,
    pub created_count: i32,
    pub error_count: i32,
    pub warning_count: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub failure_message: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// Renewed by the process running the job; once past, the job was interrupted.
    pub lease_until: Option<DateTimeUtc>,
    /// The sub-accounts every imported user is limited to, comma-separated ids ('' for none);
    /// read through `import::states::sub_accounts_of`.
    #[sea_orm(column_type = "Text")]
    pub sub_account_ids: String,
    /// COMPLETED, with welcome emails still to queue (`import::welcome`).
    pub welcomes_pending: bool,
    /// The last of the job's users (in id order) whose welcome email is queued.
    pub welcomed_through: Option<UserId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
