//! Push markers of a [`PostgresStore`] ([`crate::TokenStore::mark_seen`]): the table
//! `<table>_seen` (`marker text PRIMARY KEY, owner text, expires_at timestamptz`), created on
//! open beside the token table. A marker is recorded by one `INSERT … ON CONFLICT` that replaces
//! only an expired row, so that of all the hosts recording one marker exactly one succeeds; the
//! row names the call that wrote it (`owner`, random), so that a call retried after a lost reply
//! knows its own write. Expiry is the server's clock; expired rows are deleted now and then.

use std::time::Duration;

use postgres::error::SqlState;

use super::{PostgresStore, lock_id};
use crate::error::Result;
use crate::store::seen::{bounded_ttl, check_marker};

/// One call in this many that records a marker also deletes the expired ones.
const SWEEP_ONE_IN: u32 = 64;

impl PostgresStore {
    /// Creates `<table>_seen` when missing (serialized like the token table's creation). A table
    /// already made is only read, so that a user who may only read (`iop tokens list`) opens the
    /// store; one who may not use or create it gets a warning here, and an error from
    /// [`crate::TokenStore::mark_seen`] when a push is handled.
    pub(super) fn create_seen_table(&self) -> Result<()> {
        let t = &self.options.table;
        let check = format!(r#"SELECT marker, owner, expires_at FROM "{t}_seen" LIMIT 0"#);
        let setup = format!(
            r#"BEGIN;
               SELECT pg_advisory_xact_lock({lock});
               CREATE TABLE IF NOT EXISTS "{t}_seen" (
                   marker text PRIMARY KEY,
                   owner text NOT NULL,
                   expires_at timestamptz NOT NULL);
               COMMIT;"#,
            lock = lock_id(t, "")
        );
        let created = self.run("", "cannot create the push marker table", |conn| {
            match conn.client.batch_execute(&check) {
                Ok(()) => return Ok(true),
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {}
                // There, but this user may not use it (a read-only user).
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => return Ok(false),
                // The columns we use must be there (a table of the same name made by someone
                // else).
                Err(e) => return Err(e),
            }
            match conn.client.batch_execute(&setup) {
                Ok(()) => conn.client.batch_execute(&check).map(|()| true),
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                    // The session goes back to the pool: out of the failed transaction first.
                    conn.client.batch_execute("ROLLBACK").map(|()| false)
                }
                Err(e) => Err(e),
            }
        })?;
        if !created {
            log::warn!(
                "postgres {}: this user may not use (or create) table {t}_seen; handling push \
                 messages will fail",
                self.endpoint
            );
        }
        Ok(())
    }

    /// [`crate::TokenStore::mark_seen`] in `<table>_seen` (see the module docs).
    pub(super) fn mark_seen_in_table(&self, marker: &str, ttl: Duration) -> Result<bool> {
        check_marker(marker)?;
        let t = &self.options.table;
        let seconds = bounded_ttl(ttl).as_secs_f64();
        let owner = format!(
            "{:016x}{:016x}-{}",
            fastrand::u64(..),
            fastrand::u64(..),
            std::process::id()
        );
        // The outer read sees the rows as they were before the insert: a row of this owner
        // there is the write of an earlier attempt of this very call.
        let mark = format!(
            r#"WITH ins AS (
                   INSERT INTO "{t}_seen" AS s (marker, owner, expires_at)
                   VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 second')
                   ON CONFLICT (marker) DO UPDATE
                       SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                       WHERE s.expires_at <= clock_timestamp()
                   RETURNING 1)
               SELECT EXISTS (SELECT 1 FROM ins)
                   OR EXISTS (SELECT 1 FROM "{t}_seen" WHERE marker = $1 AND owner = $2)"#
        );
        let first: bool = self.run("", "cannot record a push marker", |conn| {
            let statement = conn.statement(&mark)?;
            conn.client
                .query_one(&statement, &[&marker, &owner, &seconds])
                .map(|row| row.get(0))
        })?;
        if fastrand::u32(..SWEEP_ONE_IN) == 0 {
            let sweep = format!(r#"DELETE FROM "{t}_seen" WHERE expires_at < clock_timestamp()"#);
            if let Err(e) = self.run("", "cannot delete expired push markers", |conn| {
                conn.client.execute(&sweep, &[])
            }) {
                log::debug!("{e}");
            }
        }
        Ok(first)
    }
}
