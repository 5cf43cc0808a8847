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
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityName, EntityTrait, IdenStatic, Iterable,
    Statement, Value,
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
    let table = Table::<A>::new();
    let per_statement = match backend {
        DatabaseBackend::Postgres => PG_BATCH,
        _ => (SQLITE_VARIABLES / table.columns.len()).max(1),
    };
    let mut built = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk = rows.by_ref().take(per_statement);
        built.push(match backend {
            DatabaseBackend::Postgres => table.populate(chunk)?,
            _ => table.values(backend, chunk)?,
        });
    }
    Ok(built)
}

/// The table of `A`, as both statement shapes name it.
struct Table<A: ActiveModelTrait> {
    name: String,
    columns: Vec<<A::Entity as EntityTrait>::Column>,
    /// The column names, quoted and comma-separated.
    quoted: String,
}

impl<A: ActiveModelTrait> Table<A> {
    fn new() -> Self {
        let columns: Vec<<A::Entity as EntityTrait>::Column> = <A::Entity as EntityTrait>::Column::iter().collect();
        let quoted = columns.iter().map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>().join(", ");
        Table { name: <A::Entity as Default>::default().table_name().to_owned(), columns, quoted }
    }

    /// A row's values, in column order.
    fn row_values(&self, row: &A) -> impl Iterator<Item = Result<(&'static str, Value), DbErr>> {
        self.columns.iter().map(move |column| {
            let name = column.as_str();
            let value = row.get(*column).into_value();
            value
                .map(|value| (name, value))
                .ok_or_else(|| DbErr::Custom(format!("bulk insert: column {name} is not set")))
        })
    }

    /// SQLite: `INSERT … VALUES (…), (…)`.
    fn values(&self, backend: DatabaseBackend, rows: impl Iterator<Item = A>) -> Result<Statement, DbErr> {
        let mut values = Vec::new();
        let mut count = 0;
        for row in rows {
            for value in self.row_values(&row) {
                values.push(value?.1);
            }
            count += 1;
        }
        let row = format!("({})", vec!["?"; self.columns.len()].join(", "));
        let (table, quoted) = (&self.name, &self.quoted);
        let sql = format!("INSERT INTO \"{table}\" ({quoted}) VALUES {}", vec![row.as_str(); count].join(", "));
        Ok(Statement::from_sql_and_values(backend, sql, values))
    }

    /// PostgreSQL: the rows as one JSON parameter of `json_populate_recordset`.
    fn populate(&self, rows: impl Iterator<Item = A>) -> Result<Statement, DbErr> {
        let mut json = Vec::new();
        for row in rows {
            let mut object = serde_json::Map::with_capacity(self.columns.len());
            for value in self.row_values(&row) {
                let (name, value) = value?;
                object.insert(name.to_owned(), to_json(&value));
            }
            json.push(serde_json::Value::Object(object));
        }
        let (table, quoted) = (&self.name, &self.quoted);
        let sql = format!(
            "INSERT INTO \"{table}\" ({quoted}) SELECT {quoted} FROM json_populate_recordset(NULL::\"{table}\", $1::json)"
        );
        let rows = serde_json::Value::Array(json).to_string();
        Ok(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, [rows.into()]))
    }
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
