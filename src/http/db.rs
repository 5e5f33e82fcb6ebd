//! Database reads for the operators' API, off the async threads.

use actix_web::web;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{DbConnection, StoreError};

/// Runs `f` on a pooled connection on the blocking pool. Errors: 503
/// ([`ApiError::Database`]) when the store fails, 500 when the blocking task
/// does.
pub(crate) async fn query<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
{
    let pool = state.pool.clone();
    let result = web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?;
    Ok(result?)
}
