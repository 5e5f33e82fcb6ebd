//! Admin API (bearer admin token): calls with transcripts and tool calls, tenants,
//! recent SMS/email messages.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::http::state::AppState;
use crate::store::{self, DbConnection, StoreError};

/// Why an admin request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("missing admin token")]
    Missing,
    #[error("wrong admin token")]
    Wrong,
}

/// Checks `Authorization: Bearer <token>` or `?token=` (browsers cannot set headers on
/// WebSockets) against `server.admin_token`, in constant time. Without a configured
/// token every admin request is refused.
pub fn check_admin(req: &HttpRequest, state: &AppState) -> Result<(), AdminError> {
    let expected = state
        .config
        .server
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or(AdminError::Wrong)?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let query = web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.token.clone());
    let given = header.or(query).ok_or(AdminError::Missing)?;
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(AdminError::Wrong)
    }
}

/// The `token` query parameter.
#[derive(Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
}

/// The 401 an unauthenticated admin request gets.
pub fn unauthorized(err: AdminError) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header(("WWW-Authenticate", "Bearer"))
        .json(json!({"error": err.to_string()}))
}

fn store_error(e: StoreError) -> HttpResponse {
    log::error!("admin API: {e}");
    HttpResponse::ServiceUnavailable().json(json!({"error": "database unavailable"}))
}

/// Runs `f` on a pooled connection off the async thread; errors become 503/500 responses.
pub(crate) async fn query<T, F>(state: &AppState, f: F) -> Result<T, HttpResponse>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
{
    let pool = state.pool.clone();
    match web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    {
        Ok(result) => result.map_err(store_error),
        Err(e) => {
            log::error!("admin API: blocking task failed: {e}");
            Err(HttpResponse::InternalServerError().json(json!({"error": "internal error"})))
        }
    }
}

/// `GET /api/calls/{id}`: a call by switchboard id or carrier call sid, with its
/// transcript (in order) and tool invocations (each with a readable `line`);
/// the call carries `caller_name` as in `GET /api/calls`.
/// 404 when unknown.
pub async fn get_call(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    if let Err(e) = check_admin(&req, &state) {
        return unauthorized(e);
    }
    let id = id.into_inner();
    let result = query(&state, move |conn| {
        let call = match store::calls::get(conn, &id)? {
            Some(c) => Some(c),
            None => store::calls::get_by_sid(conn, &id)?,
        };
        let Some(call) = call else {
            return Ok(None);
        };
        let transcript = store::transcripts::for_call(conn, &call.id)?;
        let tools = store::tool_invocations::for_call(conn, &call.id)?;
        Ok(Some((call, transcript, tools)))
    })
    .await;
    match result {
        Err(resp) => resp,
        Ok(None) => HttpResponse::NotFound().json(json!({"error": "no such call"})),
        Ok(Some((call, transcript, tools))) => {
            let mut call = serde_json::to_value(&call).unwrap_or_default();
            call["caller_name"] = json!(crate::summary::caller_name(&tools));
            // Each tool run also as the owner reads it (`line`).
            let tools: Vec<serde_json::Value> = tools
                .iter()
                .map(|t| {
                    let line = crate::summary::tool_line(
                        &t.name,
                        &t.arguments,
                        t.result.as_deref(),
                        t.error.as_deref(),
                    );
                    let mut v = serde_json::to_value(t).unwrap_or_default();
                    v["line"] = json!(line);
                    v
                })
                .collect();
            HttpResponse::Ok().json(json!({
                "call": call,
                "transcript": transcript,
                "tool_invocations": tools,
            }))
        }
    }
}

/// `GET /api/calls`: the 50 most recent calls, each with `caller_name` (from
/// its tool runs, `null` when unknown).
pub async fn list_calls(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = check_admin(&req, &state) {
        return unauthorized(e);
    }
    let listed = query(&state, |conn| {
        let calls = store::calls::list_recent(conn, 50)?;
        let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
        let tools = store::tool_invocations::for_calls(conn, &ids)?;
        Ok((calls, tools))
    })
    .await;
    match listed {
        Ok((calls, tools)) => {
            // Each call also with the caller's name when a tool recorded it.
            let calls: Vec<serde_json::Value> = calls
                .iter()
                .map(|c| {
                    let name = crate::summary::caller_name(
                        tools
                            .iter()
                            .filter(|t| t.call_id.as_deref() == Some(c.id.as_str())),
                    );
                    let mut v = serde_json::to_value(c).unwrap_or_default();
                    v["caller_name"] = json!(name);
                    v
                })
                .collect();
            HttpResponse::Ok().json(calls)
        }
        Err(resp) => resp,
    }
}

/// `GET /api/tenants`: the configured tenants.
pub async fn list_tenants(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = check_admin(&req, &state) {
        return unauthorized(e);
    }
    let tenants: Vec<_> = state
        .carrier
        .tenants
        .all()
        .iter()
        .map(|t| t.as_ref().clone())
        .collect();
    HttpResponse::Ok().json(tenants)
}

/// `GET /api/messages`: the 50 most recent SMS/email messages (`messages` table).
pub async fn list_messages(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = check_admin(&req, &state) {
        return unauthorized(e);
    }
    match query(&state, |conn| store::text_messages::list_recent(conn, 50)).await {
        Ok(messages) => HttpResponse::Ok().json(messages),
        Err(resp) => resp,
    }
}
