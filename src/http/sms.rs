//! `POST /sms/inbound` (or `GET`, when the number's messaging webhook is set to
//! HTTP GET): Twilio's inbound message webhook (form fields or query parameters
//! `MessageSid`, `AccountSid`, `From`, `To`, `Body`, `NumMedia`, …),
//! signature-checked when `twilio.auth_token` is set (over the URL with its query
//! string, plus a POST's form), idempotent on `MessageSid`, answered with TwiML
//! `<Message>` (or an empty `<Response/>`).

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::carrier::twilio::twiml;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::twilio::{check_signature, twiml_response, webhook_params};
use crate::messaging::router_messages::{Origin, PendingReply, SmsReceived};
use crate::messaging::MessagingError;

/// Twilio's inbound message webhook, `POST` or `GET`.
pub fn configure_sms(routes: &mut Routes<'_>) {
    routes.post("/sms/inbound", Access::Public, inbound);
    routes.get("/sms/inbound", Access::Public, inbound);
}

/// Handles one inbound SMS. 403 on a bad signature, 400 on an unparsable form or a
/// missing `MessageSid`/`From`, 500 when the message cannot be stored (Twilio may
/// retry; the retry is recognised by `MessageSid`). A retried `MessageSid` gets the
/// reply stored for the first delivery and stores nothing new.
pub async fn inbound(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (params, signed_params) = webhook_params(&req, &body)?;
    // A refusal is logged with nothing of the request beyond its path and
    // peer: a GET webhook's URL holds the sender and the message text.
    check_signature(&req, &state, false, &signed_params)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let (Some(sid), Some(from)) = (get("MessageSid").or(get("SmsSid")), get("From")) else {
        return Err(ApiError::BadRequest(
            "MessageSid and From are required".into(),
        ));
    };
    let to = get("To").unwrap_or_default();
    let tenant = match state
        .carrier
        .tenants
        .resolve(None, Some(to), get("AccountSid"))
    {
        Ok(t) => t,
        Err(e) => {
            log::warn!("/sms/inbound: {sid:?} to {to:?}: {e}; not answered");
            return Ok(twiml_response(twiml::empty()));
        }
    };
    let num_media: u32 = get("NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
    let mut text = get("Body").unwrap_or_default().to_owned();
    if num_media > 0 {
        text.push_str(&format!(" [{num_media} media attachment(s)]"));
    }
    let msg = SmsReceived {
        origin: Origin::TwilioWebhook,
        tenant,
        from: from.to_owned(),
        to: to.to_owned(),
        body: text.trim().to_owned(),
        provider_id: Some(sid.to_owned()),
        user: None,
    };
    let sent = state.messaging.router.send(msg).await;
    let accepted = sent
        .map_err(|_| MessagingError::RouterGone)
        .and_then(|taken| taken)
        .map_err(|e| ApiError::from(e).about("message", sid))?;
    let reply = match accepted.reply {
        PendingReply::Ready(reply) => reply,
        PendingReply::Later(rx) => rx.await.ok().flatten(),
        PendingReply::Elsewhere => None,
    };
    Ok(twiml_response(match reply {
        Some(text) => twiml::message(&text),
        None => twiml::empty(),
    }))
}
