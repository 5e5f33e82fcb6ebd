//! Built-in receptionist tools.

mod hang_up;
mod lookup_customer;
mod take_message;

use std::sync::Arc;

use crate::store::{DbConnection, Pool, StoreError};
use crate::tools::{Tool, ToolError};

pub use hang_up::HangUp;
pub use lookup_customer::LookupCustomer;
pub use take_message::TakeMessage;

/// Every built-in tool, in the order the model sees them.
pub fn all() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(LookupCustomer),
        Arc::new(TakeMessage),
        Arc::new(HangUp),
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
        Ok(Err(e)) => {
            log::error!("tool database error: {e}");
            Err(ToolError::Store(e.to_string()))
        }
        Ok(Ok(v)) => Ok(v),
    }
}
