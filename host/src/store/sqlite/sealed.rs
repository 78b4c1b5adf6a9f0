//! Secrets at rest on SQLite: the executor token sealed in its own column
//! (never in the executor JSON), the check that the store's key is the one
//! its secrets were sealed under, and sealing tokens stored in plain text
//! before there was encryption.
//!
//! Assumes one process opens the file at a time (as the store does
//! throughout): the one-time sealing of old tokens runs at open.

use rusqlite::{Connection, OptionalExtension, params};

use super::Result;
use crate::model::TenantId;
use crate::secrets::SecretsKey;
use crate::store::sealed_fields::SecretField;

/// What `secrets_check` holds sealed: opening it proves the key.
const CHECK_VALUE: &[u8] = b"smstrigger secrets at rest";
const CHECK_CONTEXT: &str = "secrets check";

/// At open: fails when `key` is not the database's key (or records it on
/// a new database), then seals every executor token still in plain text
/// in the executor JSON, overwriting the plain bytes (`secure_delete`).
pub(super) fn seal_at_rest(conn: &Connection, key: &SecretsKey) -> Result<()> {
    let check: Option<Vec<u8>> = conn
        .query_row("SELECT sealed FROM secrets_check WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?;
    match check {
        Some(sealed) => {
            key.open(CHECK_CONTEXT, &sealed)?;
        }
        None => {
            conn.execute(
                "INSERT INTO secrets_check (id, sealed) VALUES (1, ?1)",
                [key.seal(CHECK_CONTEXT, CHECK_VALUE)],
            )?;
        }
    }
    let plain: Vec<(u64, String)> = conn
        .prepare("SELECT id, json_extract(executor, '$.token') FROM tenants WHERE json_extract(executor, '$.token') IS NOT NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if plain.is_empty() {
        return Ok(());
    }
    conn.pragma_update(None, "secure_delete", true)?;
    let tx = conn.unchecked_transaction()?;
    for (tenant, token) in &plain {
        let sealed = key.seal(
            &SecretField::ExecutorToken.context(TenantId(*tenant)),
            token.as_bytes(),
        );
        tx.execute(
            "UPDATE tenants SET executor = json_remove(executor, '$.token'), executor_token = ?2
             WHERE id = ?1",
            params![tenant, sealed],
        )?;
    }
    tx.commit()?;
    conn.pragma_update(None, "secure_delete", false)?;
    tracing::info!(
        tenants = plain.len(),
        "sealed executor tokens stored in plain text"
    );
    Ok(())
}
