//! Dashboard sign-in: `POST /api/login {"email","password"}` opens a
//! server-side session and sets its cookie; `POST /api/logout` ends it;
//! `GET /api/me` says who the request is. A failed sign-in is answered in one
//! form — 401 `wrong email or password`, after the same Argon2id work
//! whether or not the account exists — and attempts are limited per address
//! and per account (`limits.sign_in_per_minute`, 429). Every attempt is in
//! the audit log; no password is ever logged.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::accounts::audit::{self, Change, Who};
use crate::accounts::{users, Access, Principal};
use crate::http::auth::{client_address, SESSION_COOKIE};
use crate::http::db::query;
use crate::http::error::{json_body, ApiError};
use crate::http::routes::Routes;
use crate::http::state::AppState;
use crate::rate_limits::RateLimits;

/// Sign-in, sign-out and who-am-I.
pub fn configure_account(routes: &mut Routes<'_>) {
    routes
        .post("/api/login", Access::Public, login)
        .post("/api/logout", Access::Read, logout)
        .get("/api/me", Access::Read, me);
}

/// Body of `POST /api/login`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// The one answer to every failed sign-in.
const FAILED: &str = "wrong email or password";

/// `principal` as `GET /api/me` and a sign-in answer it:
/// `{"name","kind","role","tenant","read_only"}`.
fn who_json(principal: &Principal) -> serde_json::Value {
    json!({
        "name": principal.name(),
        "kind": principal.kind(),
        "role": principal.role,
        "tenant": principal.scope.tenant(),
        "read_only": principal.read_only,
    })
}

/// The session cookie with `value`, living `max_age`.
fn session_cookie<'c>(state: &AppState, value: String, max_age: CookieDuration) -> Cookie<'c> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.server.public_url.starts_with("https://"))
        .max_age(max_age)
        .finish()
}

/// `POST /api/login {"email","password"}`: 200 with the person
/// (`{"name","kind":"user","role","tenant","read_only":false}`) and
/// `Set-Cookie: sb_session=…; HttpOnly; SameSite=Strict; Path=/; Max-Age=…`
/// (`Secure` when `server.public_url` is https); 401 `wrong email or
/// password`; 429 past `limits.sign_in_per_minute`; 400 for another body.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let SignIn { email, password } = json_body(&body)?;
    let claimed = email.trim().to_lowercase();
    let address = client_address(&req);
    let limits = req.app_data::<web::Data<RateLimits>>().cloned();
    let ip = limits
        .as_ref()
        .and_then(|l| l.client_ip(req.head(), req.peer_addr()));
    if let (Some(limits), Some(ip)) = (limits, ip) {
        if let Err(retry) = limits.sign_in(ip, &claimed) {
            log::warn!("{ip}: sign-in attempts over the limit (account {claimed})");
            return Err(ApiError::TooManyRequests {
                what: "sign-in attempts",
                retry_after: retry.0,
            });
        }
    }
    let ttl = chrono::Duration::hours(i64::from(state.config.server.session_hours.max(1)));
    let from = address.clone();
    let (user, cookie) = query(&state, move |conn| {
        let Some(user) = users::check_password(conn, &email, &password)? else {
            // Filed under the account's tenant when the email is one, so its
            // owner sees attempts on it; the answer does not say.
            let tenant = crate::store::users::by_email(conn, &claimed)?.and_then(|u| u.tenant_id);
            let who = Who::anonymous(&claimed, from);
            audit::record(
                conn,
                &who,
                Change::new("sign_in.failed", tenant.as_deref(), None),
            )?;
            return Ok((None, None));
        };
        let now = Utc::now().naive_utc();
        let cookie = users::open_session(conn, &user, now, ttl, from.clone())?;
        let who = Who {
            actor: user.email.clone(),
            kind: "user",
            address: from,
        };
        let change = Change::new(
            "sign_in.succeeded",
            user.tenant_id.as_deref(),
            Some(&user.id),
        );
        audit::record(conn, &who, change)?;
        Ok((Some(user), Some(cookie)))
    })
    .await?;
    let (Some(user), Some(cookie)) = (user, cookie) else {
        log::info!(
            "sign-in refused from {}",
            address.as_deref().unwrap_or("an unknown address")
        );
        return Err(ApiError::Unauthorized {
            message: FAILED.into(),
            challenge: None,
        });
    };
    let Some(principal) = Principal::user(&user, true) else {
        return Err(ApiError::Internal(format!(
            "account {} has role {:?} without a fitting tenant",
            user.id, user.role
        )));
    };
    log::info!("{} signed in", user.email);
    let max_age = CookieDuration::hours(ttl.num_hours());
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, cookie, max_age))
        .json(who_json(&principal)))
}

/// `POST /api/logout`: ends this browser's session (server-side: the cookie
/// is worthless afterwards) and clears the cookie. 200 `{"status":"signed_out"}`.
pub async fn logout(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let value = cookie.value().to_string();
        let who = Who::principal(&principal, client_address(&req));
        let tenant = principal.scope.tenant().map(str::to_string);
        query(&state, move |conn| {
            if users::close_session(conn, &value, Utc::now().naive_utc())? {
                audit::record(conn, &who, Change::new("sign_out", tenant.as_deref(), None))?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, String::new(), CookieDuration::ZERO))
        .json(json!({"status": "signed_out"})))
}

/// `GET /api/me`: who this request is, `{"name","kind","role","tenant","read_only"}`
/// (`kind`: `user`, `token` or `admin_token`; `tenant` null for admins).
pub async fn me(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(who_json(&principal))
}
