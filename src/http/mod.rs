//! The actix-web application: routes for carriers (`/twiml`, `/media-stream`),
//! operators (`/health`, `/metrics`, `/tools`, `/logs`, `/api/calls/…`) and the
//! built-in simulator (`/sim/v1/realtime`), text channels (`/sms/inbound`,
//! `/email/inbound`) and the Node client gateway (`/supervisor`).

pub mod admin;
pub mod email;
pub mod logs;
pub mod ops;
pub mod sms;
pub mod twilio;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::app::Services;

/// Largest form body accepted on webhooks, bytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Builds the HTTP server on an already-bound listener (signals are handled by the
/// binary, which drains calls before stopping the server).
pub fn server(services: Arc<Services>, listener: TcpListener) -> std::io::Result<Server> {
    let workers = match services.config.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let data = web::Data::from(services);
    let server = HttpServer::new(move || {
        let services = data.clone();
        App::new()
            .app_data(services.clone())
            .app_data(web::PayloadConfig::new(MAX_FORM_BYTES))
            .configure(|cfg| {
                if let Some(sim) = &services.simulator {
                    sim.configure(cfg);
                }
            })
            .route("/twiml", web::post().to(twilio::twiml))
            .route("/twiml/whisper", web::post().to(twilio::whisper))
            .route("/media-stream", web::get().to(twilio::media_stream))
            .route("/health", web::get().to(ops::health))
            .route("/metrics", web::get().to(ops::metrics))
            .route("/tools", web::get().to(ops::tools))
            .route("/logs", web::get().to(logs::logs))
            .route("/api/calls", web::get().to(admin::list_calls))
            .route("/api/calls/{id}", web::get().to(admin::get_call))
            .route("/api/tenants", web::get().to(admin::list_tenants))
            .route("/sms/inbound", web::post().to(sms::inbound))
            .route("/email/inbound", web::post().to(email::inbound))
            .route(
                "/supervisor",
                web::get().to(crate::messaging::gateway::connect),
            )
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}
