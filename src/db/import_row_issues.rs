//! `import_row_issues`: see the migration for what each column means.

use crate::types::ImportJobId;
use crate::types::enums::{IssueCode, IssueSeverity};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_row_issues")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub job_id: ImportJobId,
    pub row_number: i32,
    pub column: Option<String>,
    pub severity: IssueSeverity,
    pub code: IssueCode,
    #[sea_orm(column_type = "Text")]
    pub message: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
