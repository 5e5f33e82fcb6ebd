//! `ToolEnv`: what tools and the text agent may use — configuration, the
//! database, the Store actor, live events, metrics, the text-model client and the
//! tool registry. Built once by `app::start`; shared by every call's `ToolActor`,
//! the chat supervisor and the text-channel agent.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::Addr;

use crate::calendar::TenantCalendars;
use crate::chat::ChatClient;
use crate::config::Config;
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::store::writer::Store;
use crate::store::Pool;
use crate::tools::ToolRegistry;

/// The tool layer's context, behind an `Arc`.
pub struct ToolEnv {
    pub config: Arc<Config>,
    /// Reads and the few synchronous writes tools make (bookings, messages), each
    /// through `spawn_blocking`.
    pub pool: Pool,
    /// Fire-and-forget writes (tool invocation rows).
    pub store: Addr<Store>,
    pub events: EventBus,
    pub metrics: Arc<Metrics>,
    /// The text model (`[text_model]`): chat supervisor and text replies.
    pub chat: ChatClient,
    pub registry: Arc<ToolRegistry>,
    /// The address the HTTP server listens on (URLs Twilio fetches when
    /// `server.public_url` is empty).
    pub local_addr: SocketAddr,
    /// Tenants' CalDAV calendars (`[tenants.calendar]`): availability is read
    /// from them and bookings written to them.
    pub calendars: Arc<TenantCalendars>,
}

impl ToolEnv {
    /// The base of the URLs carriers fetch from this node (TwiML callbacks):
    /// see [`public_base`].
    pub fn public_base(&self) -> String {
        public_base(&self.config, self.local_addr)
    }
}

/// `server.public_url` without a trailing `/`, else `http://{local_addr}`.
pub fn public_base(config: &Config, local_addr: SocketAddr) -> String {
    if config.server.public_url.is_empty() {
        format!("http://{local_addr}")
    } else {
        config.server.public_url.trim_end_matches('/').to_string()
    }
}
