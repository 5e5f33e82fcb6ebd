//! Admin API (bearer admin token): calls with transcripts and tool calls, tenants,
//! recent SMS/email messages.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::auth::Admin;
use crate::http::state::AppState;
use crate::store::{self, DbConnection, StoreError};

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
pub async fn get_call(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
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
pub async fn list_calls(_: Admin, state: web::Data<AppState>) -> HttpResponse {
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
pub async fn list_tenants(_: Admin, state: web::Data<AppState>) -> HttpResponse {
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
pub async fn list_messages(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    match query(&state, |conn| store::text_messages::list_recent(conn, 50)).await {
        Ok(messages) => HttpResponse::Ok().json(messages),
        Err(resp) => resp,
    }
}
