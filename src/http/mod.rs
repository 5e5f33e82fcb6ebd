//! The actix-web application: routes for carriers (`/twiml`, `/media-stream`),
//! jambonz (`/jambonz`), the browser softphone (`/browser`, `/api/sessions`),
//! text channels (`/sms/inbound`, `/email/inbound`), the Node client gateway
//! (`/supervisor`), operators (`/` dashboard, `/health`, `/metrics`, `/tools`,
//! `/logs`, `/api/…` including the owner's inbox) and the built-in simulator (`/sim/v1/realtime`).

pub mod admin;
pub mod auth;
pub mod browser;
pub mod call_control;
pub mod dashboard;
pub mod email;
pub mod head;
pub mod inbox;
pub mod limits;
pub mod live_calls;
pub mod logs;
pub mod ops;
pub mod sms;
pub mod state;
pub mod tickets;
pub mod twilio;

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

/// Builds the HTTP server on an already-bound listener (signals are handled by the
/// binary, which drains calls before stopping the server).
pub fn server(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let workers = match state.config.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let limits = web::Data::new(limits::RateLimits::new(
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
            .configure(|cfg| {
                if let Some(sim) = &state.simulator {
                    sim.configure(cfg);
                }
            })
            .route("/twiml", web::post().to(twilio::twiml))
            .route("/twiml", web::get().to(twilio::twiml))
            .route("/twiml/whisper", web::post().to(twilio::whisper))
            .route("/media-stream", web::get().to(twilio::media_stream))
            .route("/media-stream/{grant}", web::get().to(twilio::media_stream))
            .route("/health", web::get().to(ops::health))
            .route("/metrics", web::get().to(ops::metrics))
            .route("/tools", web::get().to(ops::tools))
            .route("/logs", web::get().to(logs::logs))
            .route("/api/logs/ticket", web::post().to(logs::ticket))
            .route("/api/calls", web::get().to(admin::list_calls))
            .route("/api/calls/live", web::get().to(live_calls::live_calls))
            .route(
                "/api/calls/{id}/hangup",
                web::post().to(live_calls::hang_up),
            )
            .route(
                "/api/calls/{id}/transfer",
                web::post().to(live_calls::transfer),
            )
            .route("/api/calls/{id}", web::get().to(admin::get_call))
            .route("/api/tenants", web::get().to(admin::list_tenants))
            .route("/", web::get().to(dashboard::index))
            .route(
                "/jambonz",
                web::get().to(crate::carrier::jambonz::edge::upgrade),
            )
            .route("/browser", web::get().to(browser::browser))
            .route("/api/sessions", web::post().to(browser::create_session))
            .route("/api/messages", web::get().to(admin::list_messages))
            .route(
                "/api/caller-messages",
                web::get().to(inbox::list_caller_messages),
            )
            .route(
                "/api/caller-messages/{id}",
                web::patch().to(inbox::mark_caller_message),
            )
            .route("/api/appointments", web::get().to(inbox::list_appointments))
            .route(
                "/api/notifications",
                web::get().to(inbox::list_notifications),
            )
            .route("/api/settings", web::get().to(inbox::settings))
            .route("/api/calls", web::post().to(call_control::place_call))
            .route(
                "/api/calls/{id}/recording",
                web::post().to(call_control::recording),
            )
            .route(
                "/api/calls/{id}/session",
                web::post().to(call_control::call_session),
            )
            .route(
                "/api/tenants/{id}/session",
                web::put().to(call_control::tenant_session),
            )
            .route("/sms/inbound", web::post().to(sms::inbound))
            .route("/sms/inbound", web::get().to(sms::inbound))
            .route("/email/inbound", web::post().to(email::inbound))
            .route(
                "/supervisor",
                web::get().to(crate::messaging::gateway::connect),
            )
    })
    .workers(workers)
    .max_connections(max_connections)
    .on_connect(move |conn, data| connection_cap.on_connect(conn, data))
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}
