//! Paged lists of the operators' API: `limit` (1–200, default 50) and
//! `offset` query parameters, answered `{"items": […], "total": N, "limit":
//! L, "offset": O}`.

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::error::ApiError;

/// Default and largest page size.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Paging and tenant filter shared by the lists.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub tenant: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A query parameter out of range or malformed; the message names it (answered 400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadParam(pub String);

impl From<BadParam> for ApiError {
    fn from(e: BadParam) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl Page {
    /// (limit, offset), or the bad one.
    pub fn bounds(&self) -> Result<(i64, i64), BadParam> {
        bounds(self.limit, self.offset)
    }
}

/// (limit, offset) with defaults, or the bad one.
pub fn bounds(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), BadParam> {
    {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let offset = offset.unwrap_or(0);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(BadParam(format!("limit: must be 1–{MAX_LIMIT}")));
        }
        if offset < 0 {
            return Err(BadParam("offset: must be 0 or more".into()));
        }
        Ok((limit, offset))
    }
}

/// The empty page a list answers for a tenant out of the caller's scope.
pub fn empty_page(limit: i64, offset: i64) -> HttpResponse {
    page_json(Vec::new(), 0, limit, offset)
}

/// A page of `items` out of `total`.
pub fn page_json(items: Vec<Value>, total: i64, limit: i64, offset: i64) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    }))
}
