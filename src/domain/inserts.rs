//! Inserts into several tables, written in as few statements as the
//! database takes: on PostgreSQL, consecutive inserts travel together as
//! one statement (all but the last as data-modifying `WITH` parts), so a
//! transaction that writes an order, its tickets, its counters and its
//! messages makes one round trip instead of four; SQLite runs them one by
//! one. Foreign keys still hold: PostgreSQL checks them when the whole
//! statement has run, with every part's rows in place.

use sea_orm::sea_query::{Alias, CommonTableExpression, InsertStatement, WithClause};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Iterable, QueryTrait,
};

/// Bound values one statement carries at most: under SQLite's limit
/// (32,766) and PostgreSQL's (65,535), and enough for a rush's batch of
/// one-ticket orders to travel whole; a batch of large orders is split.
const STATEMENT_VALUES: usize = 16_384;

/// Rows one PostgreSQL insert carries at most (as one JSON value).
const RECORDSET_ROWS: usize = 1_000;

/// Inserts gathered in order, each with an upper bound of its bound values;
/// whether rows go as JSON recordsets (PostgreSQL).
#[derive(Debug)]
pub struct Inserts(Vec<(InsertStatement, usize)>, bool);

impl Inserts {
    /// Inserts for `backend`. On PostgreSQL a table's rows go as one JSON
    /// value (`jsonb_populate_recordset`), so the statement has the same
    /// text whatever their number: sqlx prepares and caches a statement per
    /// text on every connection, and with one text per row count the
    /// cache held hundreds of long ones (the service's peak memory in the
    /// large-event rush rose from about 80 to 93 MiB; 61 MiB with this).
    /// Every row must set the columns the first one sets (a column left out
    /// is NULL there, not its default).
    pub fn for_backend(backend: DatabaseBackend) -> Self {
        Self(Vec::new(), backend == DatabaseBackend::Postgres)
    }

    /// Adds `rows` of one table: on PostgreSQL as JSON recordsets of at
    /// most [`RECORDSET_ROWS`] rows, elsewhere in as many statements as the
    /// limit on bound values requires.
    pub fn rows<A>(&mut self, mut rows: Vec<A>) -> &mut Self
    where
        A: ActiveModelTrait,
    {
        if self.1 {
            for chunk in rows.chunks(RECORDSET_ROWS) {
                self.0.push((recordset(chunk), 1));
            }
            return self;
        }
        let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
        let per_statement = (STATEMENT_VALUES / columns).max(1);
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(per_statement));
            let n = rows.len();
            let insert = <A::Entity as EntityTrait>::insert_many(rows).into_query();
            self.0.push((insert, n * columns));
            rows = rest;
        }
        self
    }

    /// Adds one insert built elsewhere (an upsert, say) carrying at most
    /// `values` bound values.
    pub fn statement(&mut self, insert: InsertStatement, values: usize) -> &mut Self {
        self.0.push((insert, values));
        self
    }

    /// Writes everything, in the order added, in `db` (the caller's
    /// transaction: a failed part leaves it to be rolled back).
    pub async fn exec(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            for (insert, _) in self.0 {
                db.execute(&insert).await?;
            }
            return Ok(());
        }
        let mut group = Vec::new();
        let mut values = 0;
        for (insert, n) in self.0 {
            if values + n > STATEMENT_VALUES && !group.is_empty() {
                together(db, std::mem::take(&mut group)).await?;
                values = 0;
            }
            group.push(insert);
            values += n;
        }
        together(db, group).await
    }
}

/// Runs `inserts` as one PostgreSQL statement: the last one as the main
/// statement, the others as `WITH` parts before it.
async fn together(
    db: &impl ConnectionTrait,
    mut inserts: Vec<InsertStatement>,
) -> Result<(), DbErr> {
    let Some(main) = inserts.pop() else {
        return Ok(());
    };
    if inserts.is_empty() {
        db.execute(&main).await?;
        return Ok(());
    }
    let mut with = WithClause::new();
    for (i, insert) in inserts.into_iter().enumerate() {
        with.cte(
            CommonTableExpression::new()
                .query(insert)
                .table_name(Alias::new(format!("part{i}")))
                .to_owned(),
        );
    }
    db.execute(&with.query(main)).await?;
    Ok(())
}

/// `INSERT INTO t (cols) SELECT cols FROM jsonb_populate_recordset(NULL::t,
/// $1)`, with the columns the first row sets.
fn recordset<A: ActiveModelTrait>(rows: &[A]) -> InsertStatement {
    use sea_orm::sea_query::{Expr, Func, Query};
    let table = <A::Entity as Default>::default();
    let name = sea_orm::EntityName::table_name(&table).to_owned();
    let columns: Vec<<A::Entity as EntityTrait>::Column> =
        <A::Entity as EntityTrait>::Column::iter()
            .filter(|column| {
                rows.first()
                    .is_some_and(|row| !row.get(*column).is_not_set())
            })
            .collect();
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let mut object = serde_json::Map::new();
            for column in &columns {
                if let Some(value) = row.get(*column).into_value() {
                    object.insert(
                        sea_orm::IdenStatic::as_str(column).to_owned(),
                        to_json(&value),
                    );
                }
            }
            serde_json::Value::Object(object)
        })
        .collect();
    let names: Vec<Alias> = columns
        .iter()
        .map(|c| Alias::new(sea_orm::IdenStatic::as_str(c)))
        .collect();
    let mut select = Query::select();
    select.columns(names.clone()).from_function(
        Func::cust("jsonb_populate_recordset")
            .arg(Expr::cust(format!("NULL::\"{name}\"")))
            .arg(sea_orm::sea_query::ExprTrait::cast_as(
                Expr::val(serde_json::Value::Array(json)),
                "jsonb",
            )),
        Alias::new("r"),
    );
    let mut insert = Query::insert();
    insert.into_table(Alias::new(name.as_str())).columns(names);
    // The select has as many columns as the insert: cannot fail.
    let _ = insert.select_from(select);
    insert
}

/// A value as `jsonb_populate_recordset` reads it back into its column.
fn to_json(value: &sea_orm::Value) -> serde_json::Value {
    use sea_orm::Value as V;
    match value {
        V::ChronoDateTimeUtc(Some(at)) => {
            serde_json::Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        }
        other => sea_orm::sea_query::value::sea_value_to_json_value(other),
    }
}
