//! `MessagingEnv`: what the text channels' edges (SMS and email webhooks, the
//! Node client gateway) may use. Built once by `app::start`.

use std::sync::Arc;

use actix::Addr;

use crate::config::Config;
use crate::messaging::router::MessageRouter;
use crate::store::Pool;
use crate::tenant::Tenants;

/// The text channels' context, behind an `Arc`.
pub struct MessagingEnv {
    pub config: Arc<Config>,
    /// Node client tokens are checked against the database.
    pub pool: Pool,
    pub tenants: Tenants,
    /// Stores each message, runs the text agent, delivers replies.
    pub router: Addr<MessageRouter>,
}
