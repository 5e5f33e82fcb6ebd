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

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::http::state::AppState;
use crate::messaging::router_messages::{EmailReceived, Origin};
use crate::messaging::sendgrid;

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
) -> HttpResponse {
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
        log::warn!("/email/inbound: missing or wrong shared secret");
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Basic realm=\"email\""))
            .json(json!({"error": "missing or wrong secret"}));
    }
    let limit = state.config.messaging.email_max_bytes;
    let mut total = 0usize;
    let mut fields: Vec<(String, String)> = Vec::new();
    while let Some(field) = payload.next().await {
        let mut field = match field {
            Ok(f) => f,
            Err(e) => {
                return HttpResponse::BadRequest()
                    .json(json!({"error": format!("invalid multipart body: {e}")}))
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .is_some();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    return HttpResponse::BadRequest()
                        .json(json!({"error": format!("invalid multipart body: {e}")}))
                }
            };
            total += chunk.len();
            if total > limit {
                log::warn!("/email/inbound: body over {limit} bytes; refused");
                return HttpResponse::PayloadTooLarge()
                    .json(json!({"error": format!("email larger than {limit} bytes")}));
            }
            if !is_file {
                value.extend_from_slice(&chunk);
            }
        }
        if !is_file {
            fields.push((name, String::from_utf8_lossy(&value).into_owned()));
        }
    }
    let email = match sendgrid::parse_fields(&fields) {
        Ok(e) => e,
        Err(e) => return HttpResponse::BadRequest().json(json!({"error": e.to_string()})),
    };
    let tenant = match state
        .carrier
        .tenants
        .resolve(query.tenant.as_deref(), None, None)
    {
        Ok(t) => t,
        Err(e) => {
            log::warn!("/email/inbound: from {:?}: {e}; dropped", email.from);
            return HttpResponse::Ok().json(json!({"stored": false, "reason": e.to_string()}));
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
    match state.messaging.router.send(msg).await {
        Ok(Ok(accepted)) => HttpResponse::Ok().json(json!({
            "stored": true,
            "message_id": accepted.message_id,
            "duplicate": accepted.duplicate,
        })),
        Ok(Err(e)) => {
            log::error!("/email/inbound: {e}");
            HttpResponse::InternalServerError().json(json!({"error": e.to_string()}))
        }
        Err(e) => {
            log::error!("/email/inbound: router unavailable: {e}");
            HttpResponse::ServiceUnavailable().json(json!({"error": "shutting down"}))
        }
    }
}
