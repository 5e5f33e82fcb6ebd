//! Queries over `tenants`: tenants declared in `config.toml` are upserted at
//! start-up and listed for the admin API; the operator's session settings
//! for each tenant's new calls are kept beside them.

use diesel::prelude::*;

use super::db::on_backend;
use super::models::TenantRow;
use super::schema::tenants;
use super::{DbConnection, StoreError};

/// Insert the tenant, or replace name, config and `updated_at` of the one
/// with the same id (`INSERT … ON CONFLICT (id) DO UPDATE`).
pub fn upsert(conn: &mut DbConnection, tenant: &TenantRow) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(tenants::table)
        .values(tenant)
        .on_conflict(tenants::id)
        .do_update()
        .set(tenant)
        .execute(c))?;
    Ok(())
}

/// All tenants, by id.
pub fn list(conn: &mut DbConnection) -> Result<Vec<TenantRow>, StoreError> {
    Ok(tenants::table
        .order(tenants::id.asc())
        .select(TenantRow::as_select())
        .load(conn)?)
}

/// A tenant's stored session settings: JSON text and edit count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub tenant_id: String,
    pub json: String,
    pub version: i64,
}

/// Rewrites the tenant's session settings in one transaction: `edit` gets the
/// stored JSON (`None` before the first edit) and returns the new JSON; the
/// version goes up by one. `Ok(None)` when there is no such tenant row. Two
/// racing edits (two nodes) both count: the row is locked on PostgreSQL
/// (`SELECT … FOR UPDATE`) and SQLite takes its write lock first
/// (`BEGIN IMMEDIATE`).
///
/// # Errors
/// [`StoreError::Query`] when the database refuses.
pub fn edit_session(
    conn: &mut DbConnection,
    tenant_id: &str,
    edit: impl FnOnce(Option<&str>) -> String,
) -> Result<Option<StoredSession>, StoreError> {
    let row = tenants::table
        .find(tenant_id)
        .select((tenants::session_json, tenants::session_version));
    let store = |held: Option<(Option<String>, i64)>| {
        held.map(|(json, version)| StoredSession {
            tenant_id: tenant_id.to_string(),
            json: edit(json.as_deref()),
            version: version + 1,
        })
    };
    let update = |s: &StoredSession| {
        diesel::update(tenants::table.find(tenant_id)).set((
            tenants::session_json.eq(s.json.clone()),
            tenants::session_version.eq(s.version),
        ))
    };
    match conn {
        DbConnection::Pg(c) => c.transaction::<_, StoreError, _>(|c| {
            let edited = store(row.for_update().first(c).optional()?);
            if let Some(s) = &edited {
                update(s).execute(c)?;
            }
            Ok(edited)
        }),
        DbConnection::Sqlite(c) => c.immediate_transaction::<_, StoreError, _>(|c| {
            let edited = store(row.first(c).optional()?);
            if let Some(s) = &edited {
                update(s).execute(c)?;
            }
            Ok(edited)
        }),
    }
}

/// The stored session settings of `tenant_id` (`None`: never edited, or no
/// such tenant).
pub fn session_of(
    conn: &mut DbConnection,
    tenant_id: &str,
) -> Result<Option<StoredSession>, StoreError> {
    let row: Option<(Option<String>, i64)> = tenants::table
        .filter(tenants::id.eq(tenant_id))
        .select((tenants::session_json, tenants::session_version))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(json, version)| {
        json.map(|json| StoredSession {
            tenant_id: tenant_id.to_string(),
            json,
            version,
        })
    }))
}

/// Every tenant's stored session settings (tenants never edited are left out).
pub fn sessions(conn: &mut DbConnection) -> Result<Vec<StoredSession>, StoreError> {
    let rows: Vec<(String, Option<String>, i64)> = tenants::table
        .filter(tenants::session_json.is_not_null())
        .order(tenants::id.asc())
        .select((tenants::id, tenants::session_json, tenants::session_version))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(tenant_id, json, version)| {
            json.map(|json| StoredSession {
                tenant_id,
                json,
                version,
            })
        })
        .collect())
}
