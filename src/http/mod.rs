//! The actix-web application, its routes grouped by resource, one
//! `configure_<resource>` per file: carriers (`/twiml`, `/media-stream`,
//! `/jambonz`, the browser softphone `/browser` and `/api/sessions`, OpenAI SIP
//! `/openai/webhook`), text
//! channels (`/sms/inbound`, `/email/inbound`), the Node client gateway
//! (`/supervisor`), operations (`/health`, `/metrics`, `/tools`), the
//! dashboard (`/`), the event feed (`/logs`), and the operators' API: calls,
//! tenants, the owner's inbox, erasing a caller; tenants' calendar feeds (`/calendar/{tenant}.ics`). The built-in simulator (`/sim/v1/realtime`)
//! mounts its own route. Every error answer is an [`error::ApiError`].

pub mod account;
pub mod amd;
pub mod audit;
pub mod auth;
pub mod browser;
pub mod calendar;
pub mod callers;
pub mod calls;
pub mod dashboard;
pub mod db;
pub mod email;
pub mod error;
pub mod gateway;
pub mod head;
pub mod inbox;
pub mod jambonz;
pub mod limits;
pub mod live_calls;
pub mod logs;
pub mod openai_webhook;
pub mod ops;
pub mod paging;
pub mod routes;
pub mod sms;
pub mod state;
pub mod tenants;
pub mod tickets;
pub mod transfer;
pub mod twilio;
pub mod voicemail;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use state::AppState;

/// Largest form body accepted on webhooks, bytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Headers on every response (OWASP Secure Headers Project): no MIME
/// sniffing, no referrer, and HSTS (one year) when `server.public_url` is
/// https — a browser then never speaks plain HTTP to this host.
fn security_headers(config: &crate::config::Config) -> actix_web::middleware::DefaultHeaders {
    let headers = actix_web::middleware::DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"));
    if config.server.public_url.starts_with("https://") {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}

/// Every route, each with its access level (`routes::Routes::add`).
pub fn configure_routes(routes: &mut routes::Routes<'_>) {
    // Carriers and text channels.
    twilio::configure_twilio(routes);
    voicemail::configure_voicemail(routes);
    amd::configure_amd(routes);
    transfer::configure_transfer(routes);
    jambonz::configure_jambonz(routes);
    openai_webhook::configure_openai_webhook(routes);
    browser::configure_browser(routes);
    sms::configure_sms(routes);
    email::configure_email(routes);
    gateway::configure_gateway(routes);
    // Operations and operators.
    ops::configure_ops(routes);
    dashboard::configure_dashboard(routes);
    account::configure_account(routes);
    audit::configure_audit(routes);
    logs::configure_logs(routes);
    calls::configure_calls(routes);
    tenants::configure_tenants(routes);
    inbox::configure_inbox(routes);
    calendar::configure_calendar(routes);
    callers::configure_callers(routes);
}

/// Builds the HTTP server on an already-bound listener (signals are handled by the
/// binary, which drains calls before stopping the server).
pub fn server(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let workers = match state.config.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let limits = web::Data::new(crate::rate_limits::RateLimits::new(
        &state.config.limits,
        &state.config.server.trusted_proxies,
    ));
    let body_timeout = web::Data::new(limits::BodyTimeout(std::time::Duration::from_millis(
        state.config.server.body_timeout_ms,
    )));
    let connection_cap = limits::ConnectionCap::new(
        state.config.server.max_connections_per_address,
        &state.config.server.trusted_proxies,
    );
    let max_connections = state.config.server.max_connections;
    let carrier = web::Data::from(state.carrier.clone());
    let messaging = web::Data::from(state.messaging.clone());
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        let state = data.clone();
        App::new()
            .app_data(state.clone())
            .app_data(carrier.clone())
            .app_data(messaging.clone())
            .app_data(limits.clone())
            .wrap(actix_web::middleware::from_fn(limits::enforce))
            .wrap(security_headers(&state.config))
            // Outermost: the rate limits and every route see a HEAD as its GET.
            .wrap(actix_web::middleware::from_fn(head::head_as_get))
            .app_data(web::PayloadConfig::new(MAX_FORM_BYTES))
            // Outside even the HEAD mapping: a connection past its address's
            // cap, or a body too slow, never reaches a route.
            .app_data(body_timeout.clone())
            .wrap(actix_web::middleware::from_fn(limits::body_deadline))
            .wrap(actix_web::middleware::from_fn(limits::connection_cap))
            // Outermost: every error answer is logged once, with its request id.
            .wrap(actix_web::middleware::from_fn(error::log_errors))
            .configure(error::configure_extractors)
            .configure(|cfg| {
                if let Some(sim) = &state.simulator {
                    sim.configure(cfg);
                }
            })
            .configure(|cfg| configure_routes(&mut routes::Routes::on(cfg)))
    })
    .workers(workers)
    .max_connections(max_connections)
    .on_connect(move |conn, data| connection_cap.on_connect(conn, data))
    .disable_signals()
    .shutdown_timeout(5)
    // A socket we end (a stream we close, a model session the built-in
    // simulator drops) is closed at the TCP level within 100 ms, not after
    // actix's default second: its peer notices at once, as it would a
    // provider that went away.
    .client_disconnect_timeout(std::time::Duration::from_millis(100))
    .listen(listener)?
    .run();
    Ok(server)
}
