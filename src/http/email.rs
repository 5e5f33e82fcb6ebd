//! `POST /email/inbound`: SendGrid Inbound Parse (parsed mode,
//! `multipart/form-data`; SendGrid "Inbound Email Parse Webhook",
//! docs/sendgrid.md). The body may be at most
//! `messaging.email_max_bytes` (413 beyond). When
//! `SWITCHBOARD_MESSAGING__EMAIL_SECRET` is set the request must carry it as
//! `?secret=` or as the password of HTTP Basic auth (401 otherwise). With a
//! SendGrid key (replies leave by email) the secret is required: without one
//! configured every post is refused 401, so the endpoint is never an open mail
//! relay (and `serve` refuses to start that way). The tenant
//! is `?tenant=ID` or the routing default. The reply goes out through SendGrid
//! mail-send when a key is set.

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::messaging::router_messages::{EmailReceived, Origin};
use crate::messaging::sendgrid;
use crate::messaging::MessagingError;

/// SendGrid Inbound Parse's post.
pub fn configure_email(routes: &mut Routes<'_>) {
    routes.post("/email/inbound", Access::Public, inbound);
}

/// A body that is not a readable multipart post: 400.
fn bad_multipart(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("invalid multipart body: {e}"))
}

/// Query parameters of the parse URL.
#[derive(Debug, Deserialize)]
pub struct EmailQuery {
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

fn secret_matches(expected: &str, presented: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// The password of an `Authorization: Basic` header.
fn basic_password(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// Handles one Inbound Parse post: 200 when stored (or recognised by its
/// `Message-ID`), 401 without the shared secret, 400 for a body that is not a
/// parse post, 413 over the size limit, 500 when it cannot be stored (SendGrid
/// retries).
pub async fn inbound(
    req: HttpRequest,
    query: web::Query<EmailQuery>,
    mut payload: Multipart,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let secret = state
        .config
        .messaging
        .email_secret
        .as_deref()
        .filter(|s| !s.is_empty());
    let replies_leave = state
        .config
        .sendgrid
        .api_key
        .as_deref()
        .is_some_and(|k| !k.is_empty());
    let authorised = match secret {
        Some(secret) => query
            .secret
            .clone()
            .or_else(|| basic_password(&req))
            .is_some_and(|p| secret_matches(secret, &p)),
        // Replies would leave by email for anyone who posts: refuse all
        // (`serve` does not start this way; see crate::exposure).
        None => !replies_leave,
    };
    if !authorised {
        return Err(ApiError::Unauthorized {
            message: "missing or wrong secret".into(),
            challenge: Some("Basic realm=\"email\""),
        });
    }
    let limit = state.config.messaging.email_max_bytes;
    let mut total = 0usize;
    let mut fields: Vec<(String, String)> = Vec::new();
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(bad_multipart)?;
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .is_some();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(bad_multipart)?;
            total += chunk.len();
            if total > limit {
                return Err(ApiError::PayloadTooLarge(format!(
                    "email larger than {limit} bytes"
                )));
            }
            if !is_file {
                value.extend_from_slice(&chunk);
            }
        }
        if !is_file {
            fields.push((name, String::from_utf8_lossy(&value).into_owned()));
        }
    }
    let email = sendgrid::parse_fields(&fields).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let tenant = match state
        .carrier
        .tenants
        .resolve(query.tenant.as_deref(), None, None)
    {
        Ok(t) => t,
        Err(e) => {
            log::warn!("/email/inbound: from {:?}: {e}; dropped", email.from);
            return Ok(HttpResponse::Ok().json(json!({"stored": false, "reason": e.to_string()})));
        }
    };
    let mut body = email.text.clone();
    if email.attachments > 0 {
        body.push_str(&format!("\n[{} attachment(s)]", email.attachments));
    }
    let msg = EmailReceived {
        origin: Origin::SendGridWebhook,
        tenant,
        from: email.from,
        from_name: email.from_name,
        to: email.to,
        subject: email.subject,
        body,
        provider_id: email.message_id,
        user: None,
    };
    let accepted = state
        .messaging
        .router
        .send(msg)
        .await
        .map_err(|_| MessagingError::RouterGone)
        .and_then(|taken| taken)?;
    Ok(HttpResponse::Ok().json(json!({
        "stored": true,
        "message_id": accepted.message_id,
        "duplicate": accepted.duplicate,
    })))
}
