//! Built-in receptionist tools: customers, availability and bookings, messages
//! and callback details, transfer, hang-up, and the chat supervisor.

mod cancel_booking;
mod check_availability;
mod collect_caller_info;
mod create_booking;
mod hang_up;
mod lookup_customer;
mod take_message;
mod transfer_to_on_call;

use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::store::{DbConnection, Pool, StoreError};
use crate::tenant::TenantConfig;
use crate::tools::env::ToolEnv;
use crate::tools::{Tool, ToolError};

pub use cancel_booking::CancelBooking;
pub use check_availability::CheckAvailability;
pub use collect_caller_info::CollectCallerInfo;
pub use create_booking::CreateBooking;
pub use hang_up::HangUp;
pub use lookup_customer::LookupCustomer;
pub use take_message::TakeMessage;
pub use transfer_to_on_call::{plan_transfer, transfer_hook_url, TransferPlan, TransferToOnCall};

/// Every built-in tool, in the order the model sees them.
pub fn all() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(LookupCustomer),
        Arc::new(CheckAvailability),
        Arc::new(CreateBooking),
        Arc::new(CancelBooking),
        Arc::new(TakeMessage),
        Arc::new(CollectCallerInfo),
        Arc::new(TransferToOnCall),
        Arc::new(HangUp),
        Arc::new(crate::tools::chat_supervisor::ChatSupervisor),
    ]
}

/// Runs `f` with a pooled connection on the blocking pool (never on the call's thread).
pub(crate) async fn with_conn<T, F>(pool: &Pool, f: F) -> Result<T, ToolError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
{
    let pool = pool.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await;
    match joined {
        Err(_) => Err(ToolError::Panicked),
        Ok(Err(StoreError::Conflict(msg))) => Err(ToolError::Refused(msg)),
        // An outage is logged once by the pool; the call logs its tool's failure.
        Ok(Err(e)) if e.is_unreachable() => {
            log::debug!("tool database error: {e}");
            Err(ToolError::Store(e.to_string()))
        }
        Ok(Err(e)) => {
            log::error!("tool database error: {e}");
            Err(ToolError::Store(e.to_string()))
        }
        Ok(Ok(v)) => Ok(v),
    }
}

/// What the model is told when the business's calendar cannot be read: no
/// time is offered or booked against a calendar nobody saw.
pub(crate) const CALENDAR_UNREADABLE: &str = "the business's calendar cannot be read right now, \
     so no appointment time can be offered or booked; apologise and offer to take a message \
     (or a callback request) instead";

/// The busy spans `[start, end)` (UTC) of the tenant's own calendar overlapping
/// `[from, to)`: none for a tenant without `[tenants.calendar]`.
///
/// Errors: [`ToolError::Unavailable`] ([`CALENDAR_UNREADABLE`]) when the
/// calendar cannot be read; the cause is logged.
pub(crate) async fn calendar_busy(
    env: &ToolEnv,
    tenant: &TenantConfig,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, NaiveDateTime)>, ToolError> {
    let Some(client) = env.calendars.client(&tenant.id) else {
        return Ok(Vec::new());
    };
    let read = match client {
        Ok(dav) => env.calendars.busy(dav, tenant, from, to).await,
        Err(e) => Err(e),
    };
    match read {
        Ok(busy) => Ok(busy.into_iter().map(|b| (b.start, b.end)).collect()),
        Err(e) => {
            log::warn!("tenant {}: calendar not read: {e}", tenant.id);
            Err(ToolError::Unavailable(CALENDAR_UNREADABLE.into()))
        }
    }
}
