//! `GET /`: the operator dashboard, one static HTML page (inline CSS and JS)
//! embedded in the binary. It logs in with the admin token (kept in
//! sessionStorage) and then uses only the admin API, `/logs`, `/health`,
//! `/metrics` and `/browser`.

use actix_web::HttpResponse;

/// The page (src/http/dashboard.html).
const PAGE: &str = include_str!("dashboard.html");

/// `GET /`: the dashboard page. Public: it holds no data until the operator logs in.
pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(PAGE)
}
