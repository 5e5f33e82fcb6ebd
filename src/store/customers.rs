//! Queries over `customers`: a tenant's customers are keyed by phone number
//! (unique per tenant), found when they call or text and created on first
//! contact.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::CustomerRow;
use super::schema::customers;
use super::{DbConnection, StoreError};

/// Fields to refresh on an existing customer; `None` keeps the stored value.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = customers)]
struct CustomerChanges<'a> {
    name: Option<&'a str>,
    email: Option<&'a str>,
    updated_at: NaiveDateTime,
}

/// The tenant's customer with this phone number (E.164), if any.
pub fn find_by_phone(
    conn: &mut DbConnection,
    tenant_id: &str,
    phone: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::tenant_id.eq(tenant_id))
        .filter(customers::phone.eq(phone))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}

/// Find the tenant's customer by phone and refresh the given `name`/`email`
/// (a `None` keeps what is stored), or create the customer with a new UUID.
/// `now` (UTC) becomes `updated_at`, and `created_at` of a new row. Safe
/// against a concurrent insert of the same phone: the loser of the unique
/// `(tenant_id, phone)` race updates the winner's row. Returns the row as
/// stored.
pub fn upsert_by_phone(
    conn: &mut DbConnection,
    tenant_id: &str,
    phone: &str,
    name: Option<&str>,
    email: Option<&str>,
    now: NaiveDateTime,
) -> Result<CustomerRow, StoreError> {
    if find_by_phone(conn, tenant_id, phone)?.is_none() {
        let row = CustomerRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant_id.to_owned(),
            name: name.map(str::to_owned),
            phone: Some(phone.to_owned()),
            email: email.map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        match diesel::insert_into(customers::table)
            .values(&row)
            .execute(conn)
            .map_err(StoreError::from)
        {
            Ok(_) => return Ok(row),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
    }
    diesel::update(
        customers::table
            .filter(customers::tenant_id.eq(tenant_id))
            .filter(customers::phone.eq(phone)),
    )
    .set(&CustomerChanges {
        name,
        email,
        updated_at: now,
    })
    .execute(conn)?;
    find_by_phone(conn, tenant_id, phone)?
        .ok_or_else(|| StoreError::Query(diesel::result::Error::NotFound))
}

/// The tenant's customer with this email address (compared case-insensitively
/// on the stored lowercase form), created with a new UUID when absent. `now`
/// (UTC) stamps a new row. Returns the row as stored.
pub fn find_or_create_by_email(
    conn: &mut DbConnection,
    tenant_id: &str,
    email: &str,
    name: Option<&str>,
    now: NaiveDateTime,
) -> Result<CustomerRow, StoreError> {
    let email = email.trim().to_ascii_lowercase();
    let existing = customers::table
        .filter(customers::tenant_id.eq(tenant_id))
        .filter(customers::email.eq(&email))
        .order(customers::created_at.asc())
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = existing {
        return Ok(row);
    }
    let row = CustomerRow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_owned(),
        name: name.map(str::to_owned),
        phone: None,
        email: Some(email),
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(customers::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// The customer with this id, if any.
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<CustomerRow>, StoreError> {
    Ok(customers::table
        .find(id)
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}
