//! Queries over `tenants`: tenants declared in `config.toml` are upserted at
//! start-up and listed for the admin API.

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
