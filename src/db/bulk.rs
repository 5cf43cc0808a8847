//! Inserting many rows of one table fast, inside the caller's transaction.
//!
//! PostgreSQL: one `INSERT … SELECT … FROM json_populate_recordset(NULL::table, $1)` per batch,
//! the rows as one JSON parameter: one round trip and one parameter per batch, so the server
//! spends its time inserting rather than parsing statements (close to what `COPY` costs; the
//! benchmark measures it). SQLite: multi-row `INSERT … VALUES` within its limit on bound
//! variables, the same text for every full statement so that the driver's statement cache
//! prepares it once.
//!
//! `statements` only builds them, so that a caller can build the next rows' statements on
//! another thread while the database runs these (the import does).

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
    for statement in statements(db.get_database_backend(), rows)? {
        db.execute_raw(statement).await?;
    }
    Ok(())
}

/// The statements that insert `rows` (every column set), to run in order.
pub fn statements<A: ActiveModelTrait>(backend: DatabaseBackend, rows: Vec<A>) -> Result<Vec<Statement>, DbErr> {
    let columns: Vec<<A::Entity as EntityTrait>::Column> = <A::Entity as EntityTrait>::Column::iter().collect();
    let names: Vec<&str> = columns.iter().map(|c| sea_orm::IdenStatic::as_str(c)).collect();
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let quoted = names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let per_statement = match backend {
        DatabaseBackend::Postgres => PG_BATCH,
        _ => (SQLITE_VARIABLES / columns.len()).max(1),
    };
    let mut built = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk = rows.by_ref().take(per_statement);
        built.push(match backend {
            DatabaseBackend::Postgres => populate(&table, &quoted, &columns, &names, chunk)?,
            _ => values(backend, &table, &quoted, &columns, &names, chunk)?,
        });
    }
    Ok(built)
}

/// A set column's value.
fn value_of<A: ActiveModelTrait>(
    row: &A,
    column: <A::Entity as EntityTrait>::Column,
    name: &str,
) -> Result<Value, DbErr> {
    row.get(column).into_value().ok_or_else(|| DbErr::Custom(format!("bulk insert: column {name} is not set")))
}

fn values<A: ActiveModelTrait>(
    backend: DatabaseBackend,
    table: &str,
    quoted: &str,
    columns: &[<A::Entity as EntityTrait>::Column],
    names: &[&str],
    rows: impl Iterator<Item = A>,
) -> Result<Statement, DbErr> {
    let mut values = Vec::new();
    let mut count = 0;
    for row in rows {
        for (column, name) in columns.iter().zip(names) {
            values.push(value_of(&row, *column, name)?);
        }
        count += 1;
    }
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    let sql = format!("INSERT INTO \"{table}\" ({quoted}) VALUES {}", vec![row.as_str(); count].join(", "));
    Ok(Statement::from_sql_and_values(backend, sql, values))
}

fn populate<A: ActiveModelTrait>(
    table: &str,
    quoted: &str,
    columns: &[<A::Entity as EntityTrait>::Column],
    names: &[&str],
    rows: impl Iterator<Item = A>,
) -> Result<Statement, DbErr> {
    let mut json = Vec::new();
    for row in rows {
        let mut object = serde_json::Map::with_capacity(columns.len());
        for (column, name) in columns.iter().zip(names) {
            object.insert((*name).to_owned(), to_json(&value_of(&row, *column, name)?));
        }
        json.push(serde_json::Value::Object(object));
    }
    let sql = format!(
        "INSERT INTO \"{table}\" ({quoted}) SELECT {quoted} FROM json_populate_recordset(NULL::\"{table}\", $1::json)"
    );
    let rows = serde_json::Value::Array(json).to_string();
    Ok(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, [rows.into()]))
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
