//! `HEAD` wherever `GET` is (RFC 9110 §9.3.2): a middleware that serves a
//! `HEAD` request as the `GET` of the same path and sends its status and
//! headers without the body. Routes are registered for `GET` only; this keeps
//! load balancers and uptime checks that probe with `HEAD /health` or `HEAD /`
//! from reading 404.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

/// Middleware (`middleware::from_fn`): runs a `HEAD` request as `GET` and
/// drops the body of the answer (its `Content-Length`, when the handler set
/// one, is kept as the `GET` would have sent it).
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::HEAD {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    req.head_mut().method = Method::GET;
    let resp = next.call(req).await?;
    Ok(resp.map_body(|_, _| BoxBody::new(())))
}
