//! Process assembly: [`start`] loads the database, runs migrations, upserts
//! tenants, builds each layer's context (`ToolEnv`, `CallEnv`, `CarrierEnv`,
//! `MessagingEnv`, the HTTP `AppState`), starts the Store, the Supervisor, the
//! message router and the HTTP server, and returns a [`RunningServer`] for
//! shutdown. Imported only by the binary's commands (and tests).

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor as _, Arbiter, ArbiterHandle};

use crate::audio::clip::Clip;
use crate::calendar::pending::{CalendarSync, StopSync};
use crate::calendar::TenantCalendars;
use crate::call_tree::call::env::CallEnv;
use crate::call_tree::supervisor::{ActiveCalls, Drain, EndAllCalls, RestartPolicy, Supervisor};
use crate::carrier::env::CarrierEnv;
use crate::chat::ChatClient;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::events::EventBus;
use crate::http::state::AppState;
use crate::messaging::env::MessagingEnv;
use crate::messaging::router::MessageRouter;
use crate::metrics::Metrics;
use crate::model::api::ModelApi;
use crate::model::simulator::Simulator;
use crate::session_settings::SessionOverrides;
use crate::store::db::Link;
use crate::store::writer::{Flush, Store};
use crate::store::{self, Pool, StoreError};
use crate::tenant::Tenants;
use crate::tools::env::ToolEnv;
use crate::tools::ToolRegistry;

/// The apology clip shipped in the binary (8 kHz speech).
const APOLOGY_WAV: &[u8] = include_bytes!("../assets/audio/apology.wav");
/// The hold clip shipped in the binary (8 kHz chime, 1.8 s, looped).
const HOLD_WAV: &[u8] = include_bytes!("../assets/audio/hold.wav");
/// The voicemail prompt shipped in the binary (8 kHz speech ending in the tone).
const VOICEMAIL_PROMPT_WAV: &[u8] = include_bytes!("../assets/audio/voicemail-prompt.wav");

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// The database or spool named by a config key could not be opened or read.
    #[error("{key}: {source}")]
    Database {
        /// The dotted config key (`database.url`, `database.spool_file`).
        key: &'static str,
        source: store::StoreError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("simulator: {0}")]
    Simulator(String),
    #[error("audio asset: {0}")]
    Audio(#[from] crate::audio::AudioError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Jambonz(#[from] crate::carrier::jambonz::JambonzError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    /// A tenant's `[tenants.calendar]` answered, but not as a usable calendar
    /// (wrong password or URL, no VEVENT support, password variable unset).
    #[error("tenants.{tenant}.calendar: {source}")]
    Calendar {
        tenant: String,
        source: crate::calendar::CalendarError,
    },
}

/// A running server.
pub struct RunningServer {
    /// Everything the HTTP handlers see (and, through it, each layer's context).
    pub state: Arc<AppState>,
    /// The arbiter the message router runs on; stopped at shutdown.
    messaging_arbiter: ArbiterHandle,
    pub server: actix_web::dev::ServerHandle,
    /// Resolves when the HTTP server stops.
    pub join: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The database pool's link: close it before the process exits.
    pub link: Arc<Link>,
    /// Retries queued calendar event writes; stopped at shutdown.
    calendar_sync: actix::Addr<CalendarSync>,
}

impl RunningServer {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.state.local_addr
    }

    /// Graceful shutdown: refuse new calls (health 503), let calls finish up to the
    /// drain timeout, end the rest with the apology, flush the store, close the
    /// calls' recordings, stop HTTP.
    pub async fn shutdown(self, drain: Duration) {
        let carrier = self.state.carrier.clone();
        carrier.draining.store(true, Ordering::Relaxed);
        let supervisor = carrier.supervisor.clone();
        let _ = supervisor.send(Drain).await;
        let deadline = Instant::now() + drain;
        while Instant::now() < deadline {
            match supervisor.send(ActiveCalls).await {
                Ok(0) | Err(_) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        if let Ok(n) = supervisor
            .send(EndAllCalls {
                reason: crate::lifecycle::EndReason::Shutdown,
            })
            .await
        {
            if n > 0 {
                log::info!("drain timeout: ending {n} calls");
                let until = Instant::now() + Duration::from_secs(12);
                while Instant::now() < until {
                    match supervisor.send(ActiveCalls).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        }
        match self.state.store.send(Flush).await {
            Ok(Ok(())) => log::info!("store flushed"),
            Ok(Err(e)) => log::error!("store flush failed: {e}"),
            Err(e) => log::error!("store flush failed: {e}"),
        }
        // Every call has ended and its row is written: its recording is
        // finished and noted on it now, not cut short when the process exits.
        if !self
            .state
            .calls
            .recordings
            .flush(Duration::from_secs(10))
            .await
        {
            log::error!("recordings not closed within 10 s of the last call");
        }
        let _ = self.calendar_sync.send(StopSync).await;
        if let Some(cluster) = &carrier.cluster {
            cluster.leave().await;
        }
        self.server.stop(true).await;
        let _ = self.join.await;
        self.messaging_arbiter.stop();
    }
}

/// Opens the database and applies pending migrations; returns the applied versions.
///
/// Errors: [`StartError::Database`] naming `database.url` when the database
/// cannot be opened or migrated.
///
/// The [`Link`] closes the pool: call [`Link::close`] before the process
/// exits, with the pool's last handle still held (on failure here, this has
/// closed it already).
pub fn migrate(config: &Config) -> Result<(Pool, Arc<Link>, Vec<String>), StartError> {
    let keyed = |source| StartError::Database {
        key: "database.url",
        source,
    };
    let (pool, link) =
        store::db::open(&config.database.url, config.database.pool_size).map_err(keyed)?;
    match store::db::run_migrations(&pool) {
        Ok(applied) => Ok((pool, link, applied)),
        Err(source) => {
            link.close(POOL_CLOSE_TIMEOUT);
            drop(pool);
            Err(keyed(source))
        }
    }
}

/// How long a node starting in a cluster replays the cluster spool before it
/// carries on (the rest is replayed in the background).
const SPOOL_DRAIN_AT_START: Duration = Duration::from_secs(10);

/// How long closing the pool waits for a connection being opened.
pub const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The operator's stored session settings of every tenant
/// (`PUT /api/tenants/{id}/session`), for the calls this node starts.
///
/// Errors: [`StartError::Store`] when the database cannot be read.
fn stored_session_overrides(pool: &Pool) -> Result<SessionOverrides, StartError> {
    let mut conn = pool.get().map_err(StoreError::from)?;
    let overrides = SessionOverrides::default();
    for stored in store::tenants::sessions(&mut conn)? {
        match serde_json::from_str(&stored.json) {
            Ok(settings) => {
                overrides.apply(&stored.tenant_id, settings, stored.version);
            }
            Err(e) => log::warn!(
                "tenant {}: stored session settings unreadable ({e}); its calls start without them",
                stored.tenant_id
            ),
        }
    }
    Ok(overrides)
}

/// Crash recovery, before any call is admitted: replay the outage spool (if
/// configured) into the database, then close every call still marked
/// `in_progress` (the process that carried it is gone) as `interrupted`.
/// Returns the writes left in the spool (0 after a successful replay).
///
/// Errors: [`StartError::Database`] naming `database.spool_file` when the
/// spool cannot be read or a replay transaction fails (the spool is kept whole
/// for the next start); [`StartError::Store`] when the calls cannot be closed.
pub fn recover(config: &Config, pool: &Pool) -> Result<usize, StartError> {
    // In a cluster the other nodes' calls are alive: close only this node's
    // (a node restarted under the same `cluster.node_id`); a dead node's
    // calls are closed by the survivors' sweep.
    let only_node = config
        .cluster
        .enabled()
        .then_some(config.cluster.node_id.as_str());
    let spool = &config.database.spool_file;
    if !spool.as_os_str().is_empty() {
        let report = store::spool::replay(pool, spool, store::writer::REPLAY_CONNECT_TIMEOUT)
            .map_err(|source| StartError::Database {
                key: "database.spool_file",
                source,
            })?;
        if report != store::spool::ReplayReport::default() {
            log::info!(
                "recovery: spool {} replayed: {} writes applied, {} rejected, {} unreadable",
                spool.display(),
                report.applied,
                report.rejected,
                report.corrupt
            );
        }
    }
    let mut conn = pool.get().map_err(store::StoreError::from)?;
    let interrupted = crate::lifecycle::EndReason::Interrupted.to_string();
    let closed = store::calls::close_in_progress(&mut conn, &interrupted, only_node)?;
    if closed > 0 {
        log::warn!(
            "recovery: {closed} calls left in progress by a previous run closed as {interrupted}"
        );
    }
    if spool.as_os_str().is_empty() {
        Ok(0)
    } else {
        store::spool::depth(spool).map_err(|source| StartError::Database {
            key: "database.spool_file",
            source,
        })
    }
}

/// Checks every tenant's calendar (`PROPFIND`). A calendar that answers
/// wrongly stops the start ([`StartError::Calendar`] names the tenant); one
/// that cannot be reached now is logged, and its tenant's bookings are
/// refused until it can be read (a calendar outage must not stop every
/// tenant's phones).
async fn check_calendars(calendars: &TenantCalendars) -> Result<(), StartError> {
    for (tenant, source) in calendars.check_all().await {
        if source.is_transient() {
            log::error!(
                "tenants.{tenant}.calendar cannot be reached at start-up: {source}; \
                 its bookings are refused until it answers"
            );
        } else {
            return Err(StartError::Calendar { tenant, source });
        }
    }
    Ok(())
}

fn tls_connector() -> Result<openssl::ssl::SslConnector, StartError> {
    let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .map_err(|e| StartError::Tls(e.to_string()))?;
    builder
        .set_alpn_protos(b"\x08http/1.1")
        .map_err(|e| StartError::Tls(e.to_string()))?;
    Ok(builder.build())
}

/// Start-up report: tenants whose provider has no API key (WARN when a real model
/// is configured, INFO with the built-in simulator, which needs none — jambonz
/// calls for them are refused either way), tenants jambonz cannot serve, and a
/// TwiML stream URL Twilio would refuse.
///
/// Errors: [`StartError::Jambonz`] when a tenant's jambonz `llm` verb exceeds
/// `jambonz.max_payload_bytes`.
fn report_startup(config: &Config, tools: &ToolRegistry) -> Result<(), StartError> {
    for (provider, line) in config.missing_model_keys() {
        if config.model.url.is_empty() && provider.has_direct_link() {
            log::info!(
                "{line} (the built-in simulator needs none; jambonz calls for it are refused)"
            );
        } else {
            log::warn!("{line}; until then its calls fail (jambonz: refused)");
        }
    }
    for line in crate::carrier::jambonz::preflight(config, tools)? {
        log::warn!("{line}");
    }
    if let Some(line) = crate::carrier::twilio::twiml::stream_url_warning(
        &config.server.public_url,
        &config.server.bind,
    ) {
        log::warn!("{line}");
    }
    Ok(())
}

/// Starts everything on the current actix system and returns once the listener
/// is bound and the database migrated (the server is then ready for `/health`).
///
/// A start that fails once the pool exists closes it ([`Link::close`]) before
/// returning, so the process may exit at once: no thread of the pool is then
/// inside the database client library.
pub async fn start(mut config: Config) -> Result<RunningServer, StartError> {
    if config.cluster.node_id.is_empty() {
        config.cluster.node_id = crate::cluster::default_node_id();
    }
    let config = Arc::new(config);
    let (pool, link, applied) = migrate(&config)?;
    if !applied.is_empty() {
        log::info!("applied migrations: {}", applied.join(", "));
    }
    match start_on_pool(config, pool.clone(), link.clone()).await {
        Ok(running) => Ok(running),
        Err(error) => {
            link.close(POOL_CLOSE_TIMEOUT);
            drop(pool);
            Err(error)
        }
    }
}

/// [`start`] once the database is open and migrated.
async fn start_on_pool(
    config: Arc<Config>,
    pool: Pool,
    link: Arc<Link>,
) -> Result<RunningServer, StartError> {
    let spool_depth = recover(&config, &pool)?;
    let tenants = Tenants::new(&config.tenants, config.routing.clone());
    {
        let mut conn = pool.get().map_err(store::StoreError::from)?;
        for tenant in tenants.all() {
            let row = store::TenantRow {
                id: tenant.id.clone(),
                name: tenant.name.clone(),
                config_json: serde_json::to_string(tenant.as_ref()).unwrap_or_default(),
                updated_at: chrono::Utc::now().naive_utc(),
            };
            store::tenants::upsert(&mut conn, &row)?;
        }
    }
    let listener = TcpListener::bind(&config.server.bind).map_err(|source| StartError::Bind {
        addr: config.server.bind.clone(),
        source,
    })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.server.bind.clone(),
        source,
    })?;
    // Everything that can fail comes before the first actor starts: an actor
    // started but never polled is dropped with the runtime, outside its
    // reactor, and its `started` (the Store's interval) would panic there.
    let simulator = if config.serves_simulator() {
        let sim = Simulator::from_config(&config.simulator)
            .map_err(|e| StartError::Simulator(e.to_string()))?;
        Some(sim)
    } else {
        None
    };
    let (cluster, joined) = if config.cluster.enabled() {
        let cluster = Cluster::connect(&config.cluster, &config.cluster.node_id).await?;
        let joined = crate::cluster::node::join(&cluster, &local_addr.to_string()).await?;
        log::info!(
            "cluster {}: node {} on {}",
            config.cluster.name,
            config.cluster.node_id,
            crate::config::redact_url(&config.cluster.nats_url)
        );
        (Some(cluster), Some(joined))
    } else {
        (None, None)
    };
    // In a cluster the live events and the Node-client notices of the other
    // nodes are subscribed to before anything can publish or miss them.
    let (events, client_news) = match &cluster {
        Some(cluster) => (
            crate::cluster::events::relay(cluster, EventBus::new()).await?,
            Some(cluster.client_news().await?),
        ),
        None => (EventBus::new(), None),
    };
    let mcp = crate::tools::mcp::connect_all(&config.mcp_servers).await;
    let tools = Arc::new(ToolRegistry::builtin().with_mcp(mcp));
    report_startup(&config, &tools)?;
    let tls = tls_connector()?;
    let calendars = Arc::new(TenantCalendars::new(
        &config.tenants,
        pool.clone(),
        crate::tools::env::public_base(&config, local_addr),
        Some(tls.clone()),
    ));
    check_calendars(&calendars).await?;
    let apology = Clip::from_wav(APOLOGY_WAV)?;
    let hold = Clip::from_wav(HOLD_WAV)?;
    let voicemail_prompt = Clip::from_wav(VOICEMAIL_PROMPT_WAV)?;
    let chat = ChatClient::new(&config.text_model, Some(tls.clone()));
    let model_url = config.model_url(local_addr);
    let live_url = config.live_url();
    match config.model.api {
        ModelApi::Realtime => log::info!(
            "model: {} Realtime via {}{}",
            config.model.provider.as_str(),
            model_url,
            if config.model.url.is_empty() {
                " (built-in simulator)"
            } else {
                ""
            }
        ),
        ModelApi::Live => log::info!(
            "model: OpenAI GPT-Live {} (backend {}) via {live_url}",
            config.model.live.model,
            config.model.live.backend_model
        ),
    }
    let metrics = Arc::new(Metrics::new()?);
    let mut writer = Store::new(pool.clone())
        .with_node(config.cluster.node_id.clone())
        .with_link(link.clone());
    if !config.database.spool_file.as_os_str().is_empty() {
        writer = writer.with_spool(
            config.database.spool_file.clone(),
            spool_depth,
            Duration::from_secs(config.database.spool_replay_secs),
        );
    }
    let shared_spool = match &cluster {
        Some(cluster) => Some(cluster.spool().await?),
        None => None,
    };
    if let Some(shared) = &shared_spool {
        let applied = crate::cluster::spool::drain(shared, &pool, SPOOL_DRAIN_AT_START).await;
        if applied > 0 {
            log::info!(
                "recovery: {applied} writes replayed from the cluster spool {}",
                shared.stream()
            );
            // Rows of this node's previous run that were still in the spool.
            let mut conn = pool.get().map_err(StoreError::from)?;
            let interrupted = crate::lifecycle::EndReason::Interrupted.to_string();
            let node = Some(config.cluster.node_id.as_str());
            let closed = store::calls::close_in_progress(&mut conn, &interrupted, node)?;
            if closed > 0 {
                log::warn!(
                    "recovery: {closed} more calls of a previous run closed as {interrupted}"
                );
            }
        }
    }
    let replay_every = Duration::from_secs(config.database.spool_replay_secs.max(1));
    if let Some(shared) = &shared_spool {
        writer = writer.with_shared_spool(Arc::new(shared.clone()), replay_every);
    }
    let store = writer.start();
    let notifier = crate::notify::Notifier::new(
        pool.clone(),
        store.clone(),
        config.clone(),
        chat.clone(),
        Some(tls.clone()),
    )
    .start();
    let tools = Arc::new(ToolEnv {
        config: config.clone(),
        pool: pool.clone(),
        store: store.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        chat,
        registry: tools,
        local_addr,
        calendars: calendars.clone(),
    });
    let session_overrides = Arc::new(stored_session_overrides(&pool)?);
    if let Some(cluster) = &cluster {
        let follow = crate::cluster::settings::follow_sessions(
            cluster,
            session_overrides.clone(),
            pool.clone(),
        )
        .await?;
        actix_rt::spawn(follow);
    }
    let calls = Arc::new(CallEnv {
        config: config.clone(),
        tools: tools.clone(),
        store: store.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        model_url,
        live_url,
        tls: Some(tls.clone()),
        apology,
        hold,
        voicemail_prompt,
        session_overrides,
        notifier,
        recordings: crate::call_tree::call::recorder::RecordingWriter::new(),
    });
    let supervisor = Supervisor::new(
        config.calls.max_calls,
        RestartPolicy {
            attempts: config.model.restart_attempts,
            backoff: Duration::from_millis(config.model.restart_backoff_ms),
        },
        calls.clone(),
    )
    .with_tenant_cap(config.calls.max_calls_per_tenant)
    .with_cluster(cluster.clone())
    .start();
    let draining = Arc::new(AtomicBool::new(false));
    let messaging_arbiter = Arbiter::new().handle();
    let router = {
        let (pool, config, tools) = (pool.clone(), config.clone(), tools.clone());
        let cluster = cluster.clone();
        MessageRouter::start_in_arbiter(&messaging_arbiter, move |_| {
            let router = MessageRouter::new(pool, config, tools);
            match cluster {
                Some(cluster) => router.with_cluster(cluster),
                None => router,
            }
        })
    };
    if let Some(news) = client_news {
        actix_rt::spawn(crate::cluster::clients::forward_news(
            news,
            router.clone().recipient(),
        ));
    }
    let carrier = Arc::new(CarrierEnv {
        config: config.clone(),
        tenants: tenants.clone(),
        metrics,
        events,
        supervisor,
        calls: calls.clone(),
        tls: Some(tls),
        draining: draining.clone(),
        cluster: cluster.clone(),
        jambonz_calls: Default::default(),
        browser_tokens: Default::default(),
    });
    let messaging = Arc::new(MessagingEnv {
        config: config.clone(),
        pool: pool.clone(),
        tenants,
        router,
    });
    let state = Arc::new(AppState {
        config: config.clone(),
        carrier,
        messaging,
        tools,
        calls,
        pool,
        store,
        simulator,
        local_addr,
        log_tickets: Default::default(),
    });
    let server = match crate::http::server(state.clone(), listener) {
        Ok(server) => server,
        Err(source) => {
            // The actors above have not been polled yet: let them start on
            // this runtime before it drops them (see the note above).
            tokio::task::yield_now().await;
            messaging_arbiter.stop();
            return Err(StartError::Bind {
                addr: config.server.bind.clone(),
                source,
            });
        }
    };
    let handle = server.handle();
    let join = actix_rt::spawn(server);
    let calendar_sync = CalendarSync::new(calendars).start();
    if crate::retention::any_policy(&config.tenants) {
        crate::retention::Purger::new(
            state.pool.clone(),
            config.tenants.clone(),
            config.recording.dir.clone(),
        )
        .start();
    }
    if let (Some(cluster), Some(joined)) = (&cluster, joined) {
        let (ops, target) = (
            cluster.clone(),
            state.carrier.supervisor.clone().recipient(),
        );
        actix_rt::spawn(async move {
            if let Err(e) = crate::cluster::ops::serve_operations(ops, target).await {
                log::error!("cluster: operator actions from other nodes unavailable: {e}");
            }
        });
        if let Some(shared) = shared_spool {
            actix_rt::spawn(crate::cluster::spool::replay(
                shared,
                state.pool.clone(),
                link.clone(),
                replay_every,
            ));
        }
        actix_rt::spawn(crate::cluster::node::run_heartbeat(
            cluster.clone(),
            state.pool.clone(),
            local_addr.to_string(),
            joined,
            draining,
        ));
    }
    log::info!("switchboard listening on http://{local_addr}");
    Ok(RunningServer {
        state,
        messaging_arbiter,
        server: handle,
        join,
        link,
        calendar_sync,
    })
}
