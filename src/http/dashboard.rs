//! `GET /`: the dashboard, one static HTML page (inline CSS and JS) embedded
//! in the binary. A person signs in with email and password (`POST
//! /api/login`, the session cookie); an operator or script may paste a token
//! instead (kept in sessionStorage, sent as `Authorization: Bearer`). The
//! page asks `GET /api/me` who it is, hides what the role may not do, and
//! then uses only the API, `/logs`, `/health` and `/browser`.

use crate::accounts::Access;
use crate::http::routes::Routes;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The page (src/http/dashboard.html).
const PAGE: &str = include_str!("dashboard.html");

/// The page's Content-Security-Policy: its one inline script by hash (no
/// other script runs, injected or not), the softphone's audio worklet from a
/// `blob:`, styles inline, connections to this origin only, never framed.
/// After the OWASP Secure Headers Project's recommendations.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let script = PAGE
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(script, _)| script)
        .unwrap_or_default();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}' blob:; style-src 'unsafe-inline'; \
         connect-src 'self'; img-src 'self' data:; media-src 'self' blob:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
});

/// The dashboard page, `GET /`.
pub fn configure_dashboard(routes: &mut Routes<'_>) {
    routes.get("/", Access::Public, index);
}

/// `GET /`: the dashboard page. Public: it holds no data until someone signs in.
pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", CSP.as_str()))
        .body(PAGE)
}
