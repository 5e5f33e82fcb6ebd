//! [`ApiError`]: every error answer of switchboard's own HTTP routes, in one
//! place. Handlers return `Result<_, ApiError>` and use `?`; the error picks
//! the status, the JSON body `{"error": "<message>"}` (plus `retry_after_secs`
//! on a 429) and the headers a client reads (`WWW-Authenticate` on a 401,
//! `Retry-After` on a 429 and on the connection cap's 503).
//!
//! Each error answer is logged once, by [`log_errors`] (the outermost
//! middleware): its request id, the client address, method, path (never the
//! query string: a GET webhook's URL may hold a message's text), status and
//! message, and the call or tenant when the handler named it
//! ([`ApiError::for_call`], [`ApiError::for_tenant`]). The request id is the
//! client's `X-Request-Id` when it is a plain token (a proxy's id), else a
//! new one, and is sent back in `X-Request-Id` so a report can be matched to
//! its log line.
//!
//! Bodies actix-web rejects before a handler runs get the same shape:
//! [`configure_extractors`] installs `JsonConfig`, `QueryConfig` and
//! `PathConfig` error handlers that answer an [`ApiError`], and
//! [`log_errors`] re-answers a raw body that failed to arrive or was over the
//! `PayloadConfig` limit (that extractor has no error hook) the same way.
//!
//! Not here, on purpose: carriers' protocol replies (TwiML refusals in
//! `http::twilio`, answered 200 because Twilio reads instructions only from a
//! 200) and WebSocket close codes, which are not HTTP answers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use actix_web_actors::ws::HandshakeError;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::carrier::browser::token::TokenError;
use crate::messaging::tokens::AuthError;
use crate::messaging::MessagingError;
use crate::rest::twilio::TwilioRestError;
use crate::session_settings::SettingsError;
use crate::store::StoreError;

/// The header carrying the request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest client-supplied request id kept, characters.
const MAX_REQUEST_ID: usize = 64;

/// Why a request was refused or failed; each variant is one status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is out of range; the message
    /// names the field or the problem.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong credentials. `challenge` is the
    /// `WWW-Authenticate` value, when the client can answer one
    /// (`Bearer`, `Basic realm="…"`).
    #[error("{message}")]
    Unauthorized {
        /// What was wrong ("wrong token", "unknown token", …).
        message: String,
        /// The `WWW-Authenticate` header, if any.
        challenge: Option<&'static str>,
    },
    /// 403: authenticated or not, this request may not do this (a bad
    /// signature, an origin not allowed, a closed endpoint).
    #[error("{0}")]
    Forbidden(String),
    /// 404: the message names what is missing ("no such call").
    #[error("{0}")]
    NotFound(String),
    /// 408: the request body did not arrive within `server.body_timeout_ms`.
    #[error("request body not received in time")]
    RequestTimeout,
    /// 409: the target exists but cannot take this action now; the message
    /// says why.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over a size limit; the message names the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429 with `Retry-After: <retry_after>` and `retry_after_secs` in the
    /// body: this address is over a rate limit (`what` names which).
    #[error("too many {what} from this address")]
    TooManyRequests {
        /// "webhook requests", "failed authentications".
        what: &'static str,
        /// Whole seconds until a retry can succeed (at least 1).
        retry_after: u64,
    },
    /// 500: a fault on our side; the body says only "internal error", the
    /// log line carries the detail.
    #[error("internal error: {0}")]
    Internal(String),
    /// 502: an upstream API (Twilio REST) failed or refused; the message is
    /// its error.
    #[error("{0}")]
    BadGateway(String),
    /// 503: the server cannot take this now (draining, shutting down, a
    /// dependency not configured or not answering); the message says which.
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After: 1`: this address holds more connections than
    /// `server.max_connections_per_address`.
    #[error("too many connections from this address")]
    TooManyConnections,
    /// 503 "database unavailable"; the log line carries the store's error.
    #[error("database unavailable: {0}")]
    Database(#[from] StoreError),
    /// `error`, logged with what it was about (`label` `value`, e.g. call
    /// `CA…`); answered exactly as `error`.
    #[error("{error}")]
    About {
        /// "call", "tenant", "origin", …
        label: &'static str,
        /// The id or value, logged escaped.
        value: String,
        /// The error answered.
        error: Box<ApiError>,
    },
}

impl ApiError {
    /// This error, logged with the call (switchboard id or carrier sid) it
    /// concerns.
    pub fn for_call(self, call: impl Into<String>) -> ApiError {
        self.about("call", call)
    }

    /// This error, logged with the tenant it concerns.
    pub fn for_tenant(self, tenant: impl Into<String>) -> ApiError {
        self.about("tenant", tenant)
    }

    /// This error, logged with `label` `value` (escaped).
    pub fn about(self, label: &'static str, value: impl Into<String>) -> ApiError {
        ApiError::About {
            label,
            value: value.into(),
            error: Box::new(self),
        }
    }

    /// The error without the [`ApiError::About`] wrappers.
    fn inner(&self) -> &ApiError {
        match self {
            ApiError::About { error, .. } => error.inner(),
            other => other,
        }
    }

    /// The message in the body: the error's own text, except for faults on
    /// our side, whose detail stays in the log.
    pub fn message(&self) -> String {
        match self.inner() {
            ApiError::Internal(_) => "internal error".to_string(),
            ApiError::Database(_) => "database unavailable".to_string(),
            other => other.to_string(),
        }
    }

    /// `(label, value)` pairs the handler attached, outermost first.
    fn subjects(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        let mut at = self;
        while let ApiError::About {
            label,
            value,
            error,
        } = at
        {
            out.push((*label, value.as_str()));
            at = error;
        }
        out
    }

    /// How loudly this error is logged: faults on our side as errors,
    /// refused credentials and unavailability as warnings, a client's bad
    /// input as info; the limits' refusals at debug (they come in floods, and
    /// the limiter logs the address when it starts refusing).
    pub fn log_level(&self) -> log::Level {
        match self.inner() {
            ApiError::Internal(_) | ApiError::Database(_) => log::Level::Error,
            ApiError::Unauthorized { .. }
            | ApiError::Forbidden(_)
            | ApiError::BadGateway(_)
            | ApiError::Unavailable(_) => log::Level::Warn,
            ApiError::TooManyRequests { .. }
            | ApiError::TooManyConnections
            | ApiError::RequestTimeout => log::Level::Debug,
            _ => log::Level::Info,
        }
    }

    /// A WebSocket upgrade refused by actix's handshake (not an upgrade
    /// request, a missing key or version): 400. `start()`'s only error.
    pub fn upgrade(e: actix_web::Error) -> ApiError {
        match e.as_error::<HandshakeError>() {
            Some(handshake) => ApiError::from(*handshake),
            None => ApiError::Internal(format!("WebSocket upgrade: {e}")),
        }
    }

    /// The 503 of a server that is draining for shutdown.
    pub fn draining() -> ApiError {
        ApiError::Unavailable("server is draining".into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.inner() {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::TooManyConnections | ApiError::Database(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            // `inner` never answers a wrapper.
            ApiError::About { error, .. } => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status_code());
        let mut body = json!({"error": self.message()});
        match self.inner() {
            ApiError::Unauthorized {
                challenge: Some(challenge),
                ..
            } => {
                answer.insert_header((WWW_AUTHENTICATE, *challenge));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                answer.insert_header((RETRY_AFTER, retry_after.to_string()));
                body["retry_after_secs"] = json!(retry_after);
            }
            ApiError::TooManyConnections => {
                answer.insert_header((RETRY_AFTER, "1"));
            }
            _ => {}
        }
        answer.json(body)
    }
}

/// A Node client's token on the `/supervisor` upgrade: 401 (`Bearer`), or
/// 503 when the database could not be asked (not a failed login).
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(store) => ApiError::Database(store),
            other => ApiError::Unauthorized {
                message: other.to_string(),
                challenge: Some("Bearer"),
            },
        }
    }
}

/// A browser softphone token on `/browser`: 401, no challenge (the token is a
/// query parameter, not an `Authorization` scheme).
impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::Unauthorized {
            message: e.to_string(),
            challenge: None,
        }
    }
}

/// Twilio REST: 503 when not configured here, 502 when Twilio failed.
impl From<TwilioRestError> for ApiError {
    fn from(e: TwilioRestError) -> Self {
        match e {
            TwilioRestError::NotConfigured => ApiError::Unavailable(e.to_string()),
            other => ApiError::BadGateway(other.to_string()),
        }
    }
}

/// A text message that could not be taken in: 500 (Twilio and SendGrid retry
/// on a 5xx), or 503 while shutting down.
impl From<MessagingError> for ApiError {
    fn from(e: MessagingError) -> Self {
        match e {
            MessagingError::RouterGone => ApiError::Unavailable("shutting down".into()),
            MessagingError::Store(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// Operator session settings out of range: 400.
impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<HandshakeError> for ApiError {
    fn from(e: HandshakeError) -> Self {
        ApiError::BadRequest(format!("not a WebSocket upgrade: {e}"))
    }
}

impl From<&PayloadError> for ApiError {
    fn from(e: &PayloadError) -> Self {
        match e {
            PayloadError::Overflow => ApiError::PayloadTooLarge(format!(
                "request body larger than {} bytes",
                crate::http::MAX_FORM_BYTES
            )),
            other => ApiError::BadRequest(format!("request body: {other}")),
        }
    }
}

impl From<JsonPayloadError> for ApiError {
    fn from(e: JsonPayloadError) -> Self {
        match e {
            JsonPayloadError::OverflowKnownLength { limit, .. }
            | JsonPayloadError::Overflow { limit } => {
                ApiError::PayloadTooLarge(format!("JSON body larger than {limit} bytes"))
            }
            JsonPayloadError::ContentType => {
                ApiError::BadRequest("Content-Type: expected application/json".into())
            }
            JsonPayloadError::Deserialize(e) => {
                ApiError::BadRequest(format!("invalid JSON body: {e}"))
            }
            JsonPayloadError::Payload(e) => ApiError::from(&e),
            // Serialising a response; never on input.
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<QueryPayloadError> for ApiError {
    fn from(e: QueryPayloadError) -> Self {
        match e {
            QueryPayloadError::Deserialize(e) => {
                ApiError::BadRequest(format!("invalid query string: {e}"))
            }
            other => ApiError::BadRequest(format!("invalid query string: {other}")),
        }
    }
}

impl From<PathError> for ApiError {
    fn from(e: PathError) -> Self {
        match e {
            PathError::Deserialize(e) => ApiError::BadRequest(format!("invalid path: {e}")),
            other => ApiError::BadRequest(format!("invalid path: {other}")),
        }
    }
}

/// `body` as JSON of `T`, for handlers that read their body only after the
/// admin check (an unauthenticated caller learns nothing from validation).
///
/// Errors: 400 `invalid JSON body: <serde's message>`.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Installs the `JsonConfig`, `QueryConfig` and `PathConfig` error handlers
/// that answer a rejected body, query string or path as an [`ApiError`]
/// (limits unchanged: actix-web's defaults).
pub fn configure_extractors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default().error_handler(|e, _: &HttpRequest| ApiError::from(e).into()),
    )
    .app_data(
        web::QueryConfig::default().error_handler(|e, _: &HttpRequest| ApiError::from(e).into()),
    )
    .app_data(
        web::PathConfig::default().error_handler(|e, _: &HttpRequest| ApiError::from(e).into()),
    );
}

/// The request id for `headers`: the client's `X-Request-Id` when it is 1–64
/// characters of `[A-Za-z0-9._-]`, else a new random one (16 hex digits).
pub fn request_id(headers: &HeaderMap) -> String {
    let given = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=MAX_REQUEST_ID).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
    match given {
        Some(id) => id.to_string(),
        None => uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
    }
}

/// `text` with control characters escaped (`\r`, `\u{1b}`): a message can
/// quote a client's input, which must not forge a log line.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The one log line of an error answer.
fn log_line(id: &str, peer: &str, method: &str, path: &str, error: &ApiError) -> String {
    let mut line = format!(
        "request {id} from {peer}: {method} {path} → {} {}",
        error.status_code().as_u16(),
        printable(&error.to_string()),
    );
    for (label, value) in error.subjects() {
        line.push_str(&format!(" ({label} {value:?})"));
    }
    line
}

/// Middleware (`middleware::from_fn`, outermost): logs every [`ApiError`]
/// answer once (see the module docs) and tags it with `X-Request-Id`; a body
/// actix-web failed to read (over the size limit, broken off) is answered as
/// an [`ApiError`] too.
pub async fn log_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let method = req.method().to_string();
    let path = req.path().to_string();
    let peer = req
        .peer_addr()
        .map_or_else(|| "-".to_string(), |a| a.ip().to_string());
    let id = request_id(req.headers());
    let mut resp = next.call(req).await?.map_into_boxed_body();
    let payload = resp
        .response()
        .error()
        .and_then(|e| e.as_error::<PayloadError>())
        .map(ApiError::from);
    if let Some(error) = payload {
        let (req, _) = resp.into_parts();
        resp = ServiceResponse::from_err(error, req);
    }
    let Some(error) = resp
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
    else {
        return Ok(resp);
    };
    log::log!(
        error.log_level(),
        "{}",
        log_line(&id, &peer, &method, &path, error)
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::auth::AuthError;
    use actix_web::body::to_bytes;
    use actix_web::test as http_test;
    use actix_web::App;

    async fn body_of(resp: HttpResponse) -> serde_json::Value {
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[actix_rt::test]
    async fn each_variant_answers_its_status_and_json_body() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::BadRequest("limit: must be 1–200".into()),
                400,
                "limit: must be 1–200",
            ),
            (
                AuthError::Missing.into(),
                401,
                "missing credentials: sign in, or send Authorization: Bearer <token>",
            ),
            (
                ApiError::Forbidden("origin not allowed".into()),
                403,
                "origin not allowed",
            ),
            (
                ApiError::NotFound("no such call".into()),
                404,
                "no such call",
            ),
            (
                ApiError::RequestTimeout,
                408,
                "request body not received in time",
            ),
            (
                ApiError::Conflict("the call is already ending".into()),
                409,
                "the call is already ending",
            ),
            (
                ApiError::PayloadTooLarge("email larger than 10 bytes".into()),
                413,
                "email larger than 10 bytes",
            ),
            (
                ApiError::TooManyRequests {
                    what: "webhook requests",
                    retry_after: 7,
                },
                429,
                "too many webhook requests from this address",
            ),
            (
                ApiError::Internal("disk on fire".into()),
                500,
                "internal error",
            ),
            (
                TwilioRestError::Http("timed out".into()).into(),
                502,
                "Twilio REST request failed: timed out",
            ),
            (ApiError::draining(), 503, "server is draining"),
            (
                ApiError::TooManyConnections,
                503,
                "too many connections from this address",
            ),
            (
                ApiError::Database(StoreError::Migration("x".into())),
                503,
                "database unavailable",
            ),
            (
                ApiError::NotFound("no such call".into()).for_call("CA1"),
                404,
                "no such call",
            ),
        ];
        for (error, status, message) in cases {
            let resp = error.error_response();
            assert_eq!(resp.status().as_u16(), status, "{error:?}");
            let body = body_of(resp).await;
            assert_eq!(body["error"], message, "{error:?}");
        }
    }

    #[actix_rt::test]
    async fn headers_clients_read_are_kept() {
        let admin = ApiError::from(AuthError::WrongToken).error_response();
        assert_eq!(admin.headers().get(WWW_AUTHENTICATE).unwrap(), "Bearer");
        let browser = ApiError::from(TokenError::Expired).error_response();
        assert!(browser.headers().get(WWW_AUTHENTICATE).is_none());
        let limited = ApiError::TooManyRequests {
            what: "failed authentications",
            retry_after: 12,
        }
        .error_response();
        assert_eq!(limited.headers().get(RETRY_AFTER).unwrap(), "12");
        assert_eq!(body_of(limited).await["retry_after_secs"], 12);
        let capped = ApiError::TooManyConnections.error_response();
        assert_eq!(capped.headers().get(RETRY_AFTER).unwrap(), "1");
    }

    #[test]
    fn the_log_line_names_the_request_and_escapes_what_the_client_sent() {
        let error = ApiError::Forbidden("invalid X-Twilio-Signature".into())
            .for_call("CAforge\r[INFO] all good\u{1b}[8m");
        let line = log_line("abc", "192.0.2.1", "POST", "/twiml", &error);
        assert!(
            line.starts_with(
                "request abc from 192.0.2.1: POST /twiml → 403 invalid X-Twilio-Signature"
            ),
            "{line}"
        );
        assert!(line.contains("(call \"CAforge\\r"), "{line}");
        assert!(!line.contains('\r') && !line.contains('\u{1b}'), "{line}");
        let quoted = log_line(
            "abc",
            "-",
            "GET",
            "/x",
            &ApiError::BadRequest("bad \r value".into()),
        );
        assert!(!quoted.contains('\r'), "{quoted}");
    }

    #[test]
    fn a_request_id_is_the_clients_plain_token_or_a_new_one() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(REQUEST_ID),
            HeaderValue::from_static("lb-1234.abc_D"),
        );
        assert_eq!(request_id(&headers), "lb-1234.abc_D");
        headers.insert(
            HeaderName::from_static(REQUEST_ID),
            HeaderValue::from_static("has spaces"),
        );
        let fresh = request_id(&headers);
        assert_eq!(fresh.len(), 16);
        assert!(fresh.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(request_id(&HeaderMap::new()), fresh);
    }

    async fn refuse() -> Result<HttpResponse, ApiError> {
        Err(ApiError::NotFound("no such tenant".into()).for_tenant("nope"))
    }

    #[derive(serde::Deserialize)]
    struct Page {
        #[allow(dead_code)]
        limit: u32,
    }

    async fn paged(_: web::Query<Page>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[derive(serde::Deserialize)]
    struct Mark {
        #[allow(dead_code)]
        status: String,
    }

    async fn marked(_: web::Json<Mark>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn raw(_: web::Bytes) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[actix_rt::test]
    async fn handlers_and_extractors_answer_the_same_shape_with_a_request_id() {
        let app = http_test::init_service(
            App::new()
                .configure(configure_extractors)
                .app_data(web::PayloadConfig::new(16))
                .wrap(actix_web::middleware::from_fn(log_errors))
                .route("/refuse", web::get().to(refuse))
                .route("/paged", web::get().to(paged))
                .route("/marked", web::post().to(marked))
                .route("/raw", web::post().to(raw)),
        )
        .await;
        let cases = [
            (
                http_test::TestRequest::get().uri("/refuse").to_request(),
                404,
                "no such tenant",
            ),
            (
                http_test::TestRequest::get()
                    .uri("/paged?limit=x")
                    .to_request(),
                400,
                "invalid query string",
            ),
            (
                http_test::TestRequest::post()
                    .uri("/marked")
                    .insert_header(("content-type", "application/json"))
                    .set_payload("{not json")
                    .to_request(),
                400,
                "invalid JSON body",
            ),
            (
                http_test::TestRequest::post()
                    .uri("/marked")
                    .insert_header(("content-type", "text/plain"))
                    .set_payload("{}")
                    .to_request(),
                400,
                "Content-Type",
            ),
            (
                http_test::TestRequest::post()
                    .uri("/raw")
                    .set_payload(vec![b'x'; 64])
                    .to_request(),
                413,
                "larger than",
            ),
        ];
        for (req, status, message) in cases {
            let resp = http_test::call_service(&app, req).await;
            assert_eq!(resp.status().as_u16(), status);
            let id = resp.headers().get(REQUEST_ID).cloned();
            assert!(id.is_some(), "no request id");
            let body: serde_json::Value = http_test::read_body_json(resp).await;
            assert!(
                body["error"].as_str().is_some_and(|e| e.contains(message)),
                "{body}"
            );
        }
        // A success is left alone.
        let ok = http_test::call_service(
            &app,
            http_test::TestRequest::get()
                .uri("/paged?limit=3")
                .to_request(),
        )
        .await;
        assert_eq!(ok.status().as_u16(), 200);
        assert!(ok.headers().get(REQUEST_ID).is_none());
    }
}
