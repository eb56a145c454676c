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

/// Inserts gathered in order, each with an upper bound of its bound values.
#[derive(Debug, Default)]
pub struct Inserts(Vec<(InsertStatement, usize)>);

impl Inserts {
    /// Adds `rows` of one table, in as many statements as the limit on
    /// bound values requires.
    pub fn rows<A>(&mut self, mut rows: Vec<A>) -> &mut Self
    where
        A: ActiveModelTrait,
    {
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

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
