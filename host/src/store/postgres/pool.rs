//! Pooled connections that keep their prepared statements.
//!
//! The client prepares a statement given as text on every call: a round
//! trip and a parse and plan on the server before the one that runs it.
//! The hot paths (claims, the reads of each decided event, commits,
//! journaling) name their SQL once and run it prepared on each connection
//! ([`PgConn::prepared`], [`Tx::prepared`]); everything else uses the
//! client as it is, through `Deref`.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use ::postgres::types::ToSql;
use ::postgres::{Client, NoTls, Row, Statement, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2;

use super::Result;

/// The statements a connection has prepared, by their SQL.
type Statements = HashMap<String, Statement>;

/// One connection and the statements prepared on it.
pub(super) struct PgConn {
    client: Client,
    statements: Statements,
}

impl PgConn {
    /// `sql` prepared on this connection, once.
    pub(super) fn prepared(&mut self, sql: &str) -> Result<Statement> {
        prepare(&mut self.statements, &mut self.client, sql)
    }

    /// Runs `sql`, prepared once on this connection.
    pub(super) fn query_prepared(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let statement = self.prepared(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    /// A transaction of the hot paths, that can run prepared statements
    /// and plans only by key.
    ///
    /// These transactions touch a few hundred rows by their keys, where a
    /// plan that reads a whole table is never right; but statistics lag a
    /// table that grows fast (a backlog: autovacuum analyzes a minute
    /// later), and then the planner takes those plans. In the cluster
    /// proof a commit group joined by a hash join over every event took
    /// 114 ms, and a claim of the oldest 512 pending events fetched and
    /// sorted all 75,000 of them (138 ms) instead of reading the pending
    /// index in order. Scans, bitmap scans, sorts and hash or merge joins
    /// are therefore priced out (`SET LOCAL`: for this transaction only;
    /// a plan with no alternative still runs).
    pub(super) fn prepared_transaction(&mut self) -> Result<Tx<'_>> {
        let mut tx = self.client.transaction()?;
        tx.batch_execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
             SET LOCAL enable_sort = off; SET LOCAL enable_hashjoin = off;
             SET LOCAL enable_mergejoin = off",
        )?;
        Ok(Tx {
            tx,
            statements: &mut self.statements,
        })
    }
}

impl Deref for PgConn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// A transaction on a [`PgConn`]; `Deref`s to the client's transaction.
pub(super) struct Tx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut Statements,
}

impl<'a> Tx<'a> {
    /// `sql` prepared on this transaction's connection, once.
    pub(super) fn prepared(&mut self, sql: &str) -> Result<Statement> {
        prepare(self.statements, &mut self.tx, sql)
    }

    /// Runs `sql`, prepared once on this connection.
    pub(super) fn query_prepared(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let statement = self.prepared(sql)?;
        Ok(self.tx.query(&statement, params)?)
    }

    /// Executes `sql`, prepared once on this connection; the rows it changed.
    pub(super) fn execute_prepared(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let statement = self.prepared(sql)?;
        Ok(self.tx.execute(&statement, params)?)
    }

    pub(super) fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

impl<'a> Deref for Tx<'a> {
    type Target = Transaction<'a>;
    fn deref(&self) -> &Transaction<'a> {
        &self.tx
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

fn prepare(
    statements: &mut Statements,
    client: &mut impl ::postgres::GenericClient,
    sql: &str,
) -> Result<Statement> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    statements.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

/// Makes [`PgConn`]s for the pool.
#[derive(Debug)]
pub(super) struct Manager(PostgresConnectionManager<NoTls>);

impl Manager {
    pub(super) fn new(config: ::postgres::Config) -> Self {
        Self(PostgresConnectionManager::new(config, NoTls))
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = ::postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, ::postgres::Error> {
        Ok(PgConn {
            client: self.0.connect()?,
            statements: Statements::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), ::postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}
