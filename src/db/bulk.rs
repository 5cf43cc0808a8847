//! Inserting many rows of one table fast, inside the caller's transaction.
//!
//! PostgreSQL: one `INSERT … SELECT … FROM json_populate_recordset(NULL::table, $1)` per batch,
//! the rows as one JSON parameter: one round trip and one parameter per batch, so the server
//! spends its time inserting rather than parsing statements (close to what `COPY` costs; the
//! benchmark measures it). SQLite: multi-row `INSERT … VALUES` within its limit on bound
//! variables.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityName, EntityTrait, Iterable, Statement, Value,
};

/// Rows per statement on PostgreSQL.
const PG_BATCH: usize = 5_000;
/// SQLite accepts 32,766 bound variables per statement.
const SQLITE_VARIABLES: usize = 32_000;

/// Inserts `rows` (every column set, as `insert_many` requires).
pub async fn insert<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    if rows.is_empty() {
        return Ok(());
    }
    let columns: Vec<<A::Entity as EntityTrait>::Column> = <A::Entity as EntityTrait>::Column::iter().collect();
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                populate(db, &columns, rows.by_ref().take(PG_BATCH)).await?;
            }
            Ok(())
        }
        _ => {
            let per_statement = (SQLITE_VARIABLES / columns.len()).max(1);
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let batch: Vec<A> = rows.by_ref().take(per_statement).collect();
                <A::Entity as EntityTrait>::insert_many(batch).exec_without_returning(db).await?;
            }
            Ok(())
        }
    }
}

async fn populate<A: ActiveModelTrait>(
    db: &impl ConnectionTrait,
    columns: &[<A::Entity as EntityTrait>::Column],
    rows: impl Iterator<Item = A>,
) -> Result<(), DbErr> {
    let names: Vec<&str> = columns.iter().map(|c| sea_orm::IdenStatic::as_str(c)).collect();
    let mut json = Vec::new();
    for row in rows {
        let mut object = serde_json::Map::with_capacity(columns.len());
        for (column, name) in columns.iter().zip(&names) {
            let value = row
                .get(*column)
                .into_value()
                .ok_or_else(|| DbErr::Custom(format!("bulk insert: column {name} is not set")))?;
            object.insert((*name).to_owned(), to_json(&value));
        }
        json.push(serde_json::Value::Object(object));
    }
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let columns = quoted.join(", ");
    let sql = format!(
        "INSERT INTO \"{table}\" ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::\"{table}\", $1::json)"
    );
    let rows = serde_json::Value::Array(json).to_string();
    db.execute_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, [rows.into()])).await?;
    Ok(())
}

/// A column value as PostgreSQL reads it from JSON.
fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::ChronoDateTimeUtc(Some(at)) => at.to_rfc3339().into(),
        Value::Bytes(Some(bytes)) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\x{hex}").into()
        }
        other => sea_orm::sea_query::value::sea_value_to_json_value(other),
    }
}
