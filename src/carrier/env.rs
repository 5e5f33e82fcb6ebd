//! `CarrierEnv`: what the carrier edges (Twilio Media Streams, the browser
//! softphone, jambonz) and their webhooks may use — configuration, tenant
//! routing, metrics, live events, the Supervisor they ask to start calls, and the
//! per-carrier registries. Built once by `app::start`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::Addr;

use crate::call_tree::call::env::CallEnv;
use crate::call_tree::supervisor::Supervisor;
use crate::carrier::browser::token::BrowserTokens;
use crate::carrier::jambonz::JambonzCalls;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::tenant::Tenants;

/// The carrier layer's context, behind an `Arc`.
pub struct CarrierEnv {
    pub config: Arc<Config>,
    pub tenants: Tenants,
    pub metrics: Arc<Metrics>,
    pub events: EventBus,
    /// Starts, admits and tracks every call.
    pub supervisor: Addr<Supervisor>,
    /// The call layer, for a call an edge turns away itself (its `refused` row
    /// goes through a `CallLedger` like every call's).
    pub calls: Arc<CallEnv>,
    /// TLS connector for Twilio's REST API.
    pub tls: Option<openssl::ssl::SslConnector>,
    /// Set on SIGTERM/SIGINT: webhooks and upgrades are refused.
    pub draining: Arc<AtomicBool>,
    /// Live jambonz calls by `call_sid` (for `session:reconnect`).
    pub jambonz_calls: Arc<JambonzCalls>,
    /// Browser softphone tokens issued by `POST /api/sessions`.
    pub browser_tokens: Arc<BrowserTokens>,
    /// The cluster bus; `None` on a single node.
    pub cluster: Option<Cluster>,
}

impl CarrierEnv {
    /// Whether the server is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
