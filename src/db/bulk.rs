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
//!
//! `Load` is rows of several tables written in one transaction of their own, by each database's
//! fastest path: on PostgreSQL `COPY … FROM STDIN` in its text format (it needs the driver's
//! connection, so it cannot join a caller's transaction), on SQLite the statements above. The
//! import's batches, each its own transaction, load through it.

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

/// Rows to write in one transaction of their own; built anywhere (it is plain data), committed
/// on a connection of the database it was built for.
pub enum Load {
    /// PostgreSQL: `COPY`s, run on a connection of the pool (sea-orm's transactions do not
    /// expose the driver's `COPY`).
    Copies(Vec<CopyIn>),
    /// Any other database: statements.
    Statements(DatabaseBackend, Vec<Statement>),
}

impl Load {
    pub fn new(backend: DatabaseBackend) -> Load {
        match backend {
            DatabaseBackend::Postgres => Load::Copies(Vec::new()),
            other => Load::Statements(other, Vec::new()),
        }
    }

    /// Adds `rows` (every column set), written after those added before.
    pub fn add<A: ActiveModelTrait>(&mut self, rows: Vec<A>) -> Result<(), DbErr> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Load::Copies(copies) => copies.push(copy(rows)?),
            Load::Statements(backend, built) => built.extend(statements(*backend, rows)?),
        }
        Ok(())
    }

    /// Writes the rows in one transaction and commits it.
    pub async fn commit(self, db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
        use sea_orm::TransactionTrait as _;
        match self {
            Load::Copies(copies) => copy_in(db.get_postgres_connection_pool(), &copies).await,
            Load::Statements(_, statements) => {
                let tx = db.begin().await?;
                for statement in statements {
                    tx.execute_raw(statement).await?;
                }
                tx.commit().await
            }
        }
    }
}

/// PostgreSQL: a `COPY … FROM STDIN` and its data, in COPY's text format.
pub struct CopyIn {
    statement: String,
    data: Vec<u8>,
}

/// The `COPY` that loads `rows` (every column set).
fn copy<A: ActiveModelTrait>(rows: impl IntoIterator<Item = A>) -> Result<CopyIn, DbErr> {
    let table = Table::<A>::new();
    let mut data = Vec::new();
    for row in rows {
        for (index, value) in table.row_values(&row).enumerate() {
            if index > 0 {
                data.push(b'\t');
            }
            copy_text(&value?.1, &mut data)?;
        }
        data.push(b'\n');
    }
    let statement = format!("COPY \"{}\" ({}) FROM STDIN", table.name, table.quoted);
    Ok(CopyIn { statement, data })
}

/// Runs `copies` in order in one transaction on a connection of `pool`, and commits.
async fn copy_in(pool: &sea_orm::sqlx::PgPool, copies: &[CopyIn]) -> Result<(), DbErr> {
    let failed = |error: sea_orm::sqlx::Error| DbErr::Exec(sea_orm::RuntimeErr::SqlxError(error.into()));
    let mut tx = pool.begin().await.map_err(failed)?;
    for copy in copies {
        let mut into = tx.copy_in_raw(&copy.statement).await.map_err(failed)?;
        into.send(copy.data.as_slice()).await.map_err(failed)?;
        into.finish().await.map_err(failed)?;
    }
    tx.commit().await.map_err(failed)
}

/// One value in COPY's text format: `\N` for NULL, text with its backslash, tab, newline and
/// carriage return escaped. A column type not listed here fails rather than load wrong.
fn copy_text(value: &Value, out: &mut Vec<u8>) -> Result<(), DbErr> {
    use std::borrow::Cow;
    use std::fmt::Write as _;
    let text: Cow<str> = match value {
        Value::String(Some(text)) => Cow::Borrowed(text),
        Value::Uuid(Some(id)) => id.to_string().into(),
        Value::Bool(Some(yes)) => Cow::Borrowed(if *yes { "t" } else { "f" }),
        Value::TinyInt(Some(n)) => n.to_string().into(),
        Value::SmallInt(Some(n)) => n.to_string().into(),
        Value::Int(Some(n)) => n.to_string().into(),
        Value::BigInt(Some(n)) => n.to_string().into(),
        Value::ChronoDateTimeUtc(Some(at)) => at.to_rfc3339().into(),
        Value::Json(Some(json)) => json.to_string().into(),
        Value::Bytes(Some(bytes)) => {
            let hex = bytes.iter().fold(String::from("\\x"), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            });
            hex.into()
        }
        other if sea_orm::sea_query::value::sea_value_to_json_value(other).is_null() => {
            out.extend_from_slice(b"\\N");
            return Ok(());
        }
        other => return Err(DbErr::Custom(format!("bulk copy: no COPY text for {other:?}"))),
    };
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(byte),
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value) -> String {
        let mut out = Vec::new();
        copy_text(&value, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn copy_text_escapes_what_copy_would_read_otherwise() {
        assert_eq!(text("a\\b\tc\nd\re \\N".into()), "a\\\\b\\tc\\nd\\re \\\\N");
        assert_eq!(text(Value::String(None)), "\\N");
        assert_eq!(text(Value::Uuid(None)), "\\N");
        assert_eq!(text(true.into()), "t");
        assert_eq!(text(Value::Bytes(Some(vec![0, 255]))), "\\\\x00ff");
        let mut out = Vec::new();
        assert!(copy_text(&Value::Float(Some(1.0)), &mut out).is_err(), "a type without a rule fails");
    }
}
