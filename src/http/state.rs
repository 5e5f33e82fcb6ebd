//! `AppState`: what the HTTP handlers see — the layer contexts they route into
//! and the few things only operators' endpoints use. Built once by `app::start`;
//! nothing below the HTTP layer sees it.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::Addr;

use crate::call_tree::call::env::CallEnv;
use crate::carrier::env::CarrierEnv;
use crate::config::Config;
use crate::messaging::env::MessagingEnv;
use crate::model::simulator::Simulator;
use crate::store::writer::Store;
use crate::store::Pool;
use crate::tools::env::ToolEnv;

/// The HTTP layer's state, behind an `Arc` (`web::Data`).
pub struct AppState {
    pub config: Arc<Config>,
    /// Carrier webhooks and edges (tenants, metrics, the Supervisor, draining).
    pub carrier: Arc<CarrierEnv>,
    /// SMS/email webhooks and the Node client gateway.
    pub messaging: Arc<MessagingEnv>,
    /// `/tools` and the tool registry.
    pub tools: Arc<ToolEnv>,
    /// The call layer (operator session edits for calls that start later).
    pub calls: Arc<CallEnv>,
    /// Reads for the operators' API.
    pub pool: Pool,
    /// The write-behind Store actor (its queue depth for `/health`, `/metrics`).
    pub store: Addr<Store>,
    /// The built-in simulator, when served (`Config::serves_simulator`).
    pub simulator: Option<Simulator>,
    /// The address the HTTP server listens on.
    pub local_addr: SocketAddr,
    /// Single-use tickets for `/logs` (the admin token stays out of URLs).
    pub log_tickets: crate::http::tickets::LogTickets,
}
