//! Twilio HTTP edges: the voice webhook (`POST` or `GET /twiml`) that answers with
//! `<Connect><Stream>` TwiML, and the Media Streams upgrade (`GET /media-stream`).
//! Both check `X-Twilio-Signature` when `twilio.auth_token` is set (Twilio
//! "Webhook security": the signature covers the full URL with its query string,
//! plus the form body of a POST; the upgrade is signed over the `wss://` URL).
//!
//! A refused request (bad signature, unparsable form, draining) is an
//! [`ApiError`]. A call we cannot serve is not: Twilio reads what to do with
//! the call only from a 200 TwiML body, so that refusal is spoken
//! ([`twiml_refusal`]) — the one place TwiML answers a refused call.

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use crate::call_tree::call::route::{route_call, RouteKeys, RouteRefusal};
use crate::call_tree::supervisor::Prewarm;
use crate::carrier::twilio::edge::{twilio_call_setup, MediaStreamSession, MAX_FRAME_BYTES};
use crate::carrier::twilio::grant::{grant_key, StreamGrant, GRANT_TTL_SECS};
use crate::carrier::twilio::{signature, twiml};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Twilio's voice routes: the voice webhook (POST, or GET when the number is
/// configured so) and the Media Streams upgrade (with or without its
/// per-call grant). A transfer's webhooks are in [`super::transfer`].
pub fn configure_twilio(routes: &mut Routes<'_>) {
    routes.post("/twiml", Access::Public, twiml);
    routes.get("/twiml", Access::Public, twiml);
    routes.get("/media-stream", Access::Public, media_stream);
    routes.get("/media-stream/{grant}", Access::Public, media_stream);
}

/// A TwiML document, answered 200 `text/xml` as Twilio expects.
pub fn twiml_response(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/xml").body(body)
}

/// A call turned away: `<Say>sentence</Say><Hangup/>`, answered 200 (a 4xx
/// or 5xx would make Twilio play its own "application error" message).
pub fn twiml_refusal(sentence: &str) -> HttpResponse {
    twiml_response(twiml::say_and_hangup(sentence))
}

/// The header Twilio signs requests with.
const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The URL Twilio requested, as it signed it: `server.public_url` (scheme and host)
/// plus our path and query; without a public URL, rebuilt from `Host`.
/// `websocket` swaps the scheme for `ws`/`wss`.
pub fn signed_url(req: &HttpRequest, state: &AppState, websocket: bool) -> String {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let base = if state.config.server.public_url.is_empty() {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    } else {
        state
            .config
            .server
            .public_url
            .trim_end_matches('/')
            .to_string()
    };
    let base = if websocket {
        if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base
        }
    } else {
        base
    };
    format!("{base}{path_and_query}")
}

fn signature_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok())
}

/// Checks `X-Twilio-Signature` over the URL Twilio requested (`websocket`:
/// its `wss://` form) and `params`, when `twilio.auth_token` is set.
///
/// Errors: 403 when the signature is missing or does not hold.
pub fn check_signature(
    req: &HttpRequest,
    state: &AppState,
    websocket: bool,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let Some(token) = state.config.twilio.auth_token.as_deref() else {
        return Ok(());
    };
    let url = signed_url(req, state, websocket);
    let valid = signature_of(req.headers())
        .is_some_and(|sig| signature::validate(token, &url, params, sig));
    if valid {
        Ok(())
    } else {
        Err(ApiError::Forbidden("invalid X-Twilio-Signature".into()))
    }
}

/// Form or query parameters, in order, repeated names kept.
pub type Params = Vec<(String, String)>;

/// A webhook's parameters and the ones its signature covers. Twilio sends a
/// webhook configured as GET with its parameters in the query string, which the
/// signed URL already contains, so no parameters are appended; a POST appends its
/// form body.
///
/// Errors: 400 when the form body (or query string) does not parse.
pub fn webhook_params(req: &HttpRequest, body: &[u8]) -> Result<(Params, Params), ApiError> {
    let parsed = if req.method() == Method::GET {
        serde_urlencoded::from_str(req.query_string()).map(|params| (params, Vec::new()))
    } else {
        serde_urlencoded::from_bytes::<Params>(body).map(|params| (params.clone(), params))
    };
    parsed.map_err(|e| ApiError::BadRequest(format!("invalid form body: {e}")))
}

/// `POST /twiml` (form body) or `GET /twiml` (query string): Twilio's voice
/// webhook (CallSid, AccountSid, From, To, Direction, …). Answers `text/xml` TwiML
/// connecting the call to `/media-stream` with the tenant, caller and dialled
/// number as `<Parameter>`s. For `Direction=outbound-api` (a call placed by
/// `POST /api/calls`) `From` is the tenant's number and `To` the customer. 403 on a bad signature, 400 on an unparsable form. A tenant
/// served only through jambonz (Ultravox) gets `<Say>` + `<Hangup/>`. With
/// `calls.prewarm`, an admitted call's model link starts now and the TwiML
/// carries its single-use `prewarm` token.
pub async fn twiml(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (params, signed_params) = webhook_params(&req, &body)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let call_sid = get("CallSid").unwrap_or("-").to_string();
    // The unverified call sid is logged escaped (a CR or an escape sequence
    // in it cannot forge a log line).
    check_signature(&req, &state, false, &signed_params).map_err(|e| e.for_call(&call_sid))?;
    // An outbound call placed through the REST API (`POST /api/calls`) calls
    // the customer from the tenant's number: the tenant is `From` there, and
    // the stream names the customer as `from` as on an inbound call.
    let outbound = get("Direction") == Some("outbound-api");
    let (from, to) = if outbound {
        (
            get("To").unwrap_or_default(),
            get("From").unwrap_or_default(),
        )
    } else {
        (
            get("From").unwrap_or_default(),
            get("To").unwrap_or_default(),
        )
    };
    let routed = route_call(
        &state.carrier.tenants,
        &state.carrier.metrics,
        &format!("/twiml: call {call_sid} to {to}"),
        RouteKeys {
            tenant: None,
            dialled: Some(to),
            account_sid: get("AccountSid"),
        },
        Some(state.config.model.provider),
    );
    let tenant = match routed {
        Ok(t) => t,
        Err(RouteRefusal::NoTenant(_)) => {
            return Ok(twiml_refusal(
                "Sorry, this number is not in service. Goodbye.",
            ));
        }
        Err(RouteRefusal::NoDirectLink(_)) => {
            // The tenant's provider runs only through jambonz: point this number at jambonz.
            return Ok(twiml_refusal(
                "Sorry, we cannot take your call right now. Please call again later.",
            ));
        }
    };
    let stream_url = stream_url(
        &req,
        &state,
        &StreamFacts {
            call_sid: &call_sid,
            tenant: &tenant.id,
            from,
            to,
        },
    );
    log::info!(
        "/twiml: call {call_sid:?} from {from:?} to {to:?} → tenant {}",
        tenant.id
    );
    let prewarm = if state.config.calls.prewarm && call_sid != "-" {
        let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let setup = twilio_call_setup(
            &call_sid,
            non_empty(from),
            non_empty(to),
            tenant.clone(),
            None,
        );
        let ask = Prewarm::here(setup);
        state.carrier.supervisor.send(ask).await.ok().flatten()
    } else {
        None
    };
    let mut parameters = vec![("tenant", tenant.id.as_str()), ("from", from), ("to", to)];
    if outbound {
        parameters.push(("direction", "outbound"));
    }
    if let Some(token) = &prewarm {
        parameters.push(("prewarm", token.as_str()));
    }
    Ok(twiml_response(twiml::connect_stream(
        &stream_url,
        &parameters,
    )))
}

/// What the signed webhook established about a call, for its stream URL.
pub struct StreamFacts<'a> {
    /// Twilio `CallSid`; `-` when the webhook had none (no grant then).
    pub call_sid: &'a str,
    pub tenant: &'a str,
    /// Caller; empty when unknown.
    pub from: &'a str,
    /// Dialled number; empty when unknown.
    pub to: &'a str,
}

/// The `<Stream url>` answering `req` (a webhook under `/twiml`): this
/// server's `wss://…/media-stream`, with the call's per-call grant in the
/// path when a Twilio auth token is configured (see
/// [`crate::carrier::twilio::grant`]: Twilio signs the stream's URL, and the
/// grant carries what the signed webhook said).
pub fn stream_url(req: &HttpRequest, state: &AppState, call: &StreamFacts<'_>) -> String {
    let mut base = signed_url(req, state, true);
    if let Some(idx) = base.find("/twiml") {
        base.truncate(idx);
    }
    match state.config.twilio.auth_token.as_deref() {
        Some(auth_token) if call.call_sid != "-" => {
            let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_string());
            let grant = StreamGrant {
                call_sid: call.call_sid.to_string(),
                tenant: call.tenant.to_string(),
                from: non_empty(call.from),
                to: non_empty(call.to),
                expires: chrono::Utc::now().timestamp() + GRANT_TTL_SECS,
            };
            format!("{base}/media-stream/{}", grant.mint(&grant_key(auth_token)))
        }
        _ => format!("{base}/media-stream"),
    }
}

/// `GET /media-stream` or `GET /media-stream/{grant}`: upgrades to a Twilio Media
/// Stream. 503 while draining. With a Twilio auth token configured, 403 on a
/// bad signature, and on a stream without a valid per-call grant (the URL the
/// signed voice webhook's TwiML named; see [`crate::carrier::twilio::grant`]).
pub async fn media_stream(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.carrier.is_draining() {
        return Err(ApiError::draining());
    }
    check_signature(&req, &state, true, &[])?;
    let mut grant = None;
    if let Some(token) = state.config.twilio.auth_token.as_deref() {
        // The signature alone is a constant for a fixed URL: the stream must
        // come on its call's own URL, minted by the signed voice webhook.
        let Some(segment) = req.match_info().get("grant") else {
            return Err(ApiError::Forbidden(
                "this stream needs the per-call URL from its voice webhook's TwiML".into(),
            ));
        };
        let now = chrono::Utc::now().timestamp();
        let verified = StreamGrant::verify(segment, &grant_key(token), now)
            .map_err(|e| ApiError::Forbidden(e.to_string()))?;
        grant = Some(verified);
    }
    let session = MediaStreamSession::new(state.carrier.clone(), grant);
    ws::WsResponseBuilder::new(session, &req, stream)
        .frame_size(MAX_FRAME_BYTES)
        .start()
        .map_err(ApiError::upgrade)
}
