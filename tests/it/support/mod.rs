//! `TestApp`: the real server on an ephemeral port with a fresh database (a temp
//! SQLite file, or a fresh PostgreSQL schema), the built-in simulator as the model,
//! and helpers to drive calls the way Twilio does.

#![allow(dead_code)]

pub mod child;
pub mod db;
pub mod logs;
pub mod netns;
pub mod private_pg;
pub mod radicale;
pub mod raw;
pub mod replay;
pub mod schema;
pub mod scripted;
pub mod stub;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard::app::{self, RunningServer};
use switchboard::audio::format::{encode_pcm, AudioFormat};
use switchboard::audio::level::rms_dbfs;
use switchboard::audio::mulaw;
use switchboard::audio::wav::read_wav;
use switchboard::config::Config;
use switchboard::events::CallEvent;
use switchboard::far_end::{CallSetup, LogFeed, TwilioCall};
use switchboard::model::simulator::Simulator;
use switchboard::tenant::TenantConfig;

/// The admin token every TestApp uses.
pub const ADMIN: &str = "test-admin-token";
/// The caller number test calls come from.
pub const CALLER: &str = "+15550100001";
/// The number test calls dial (owned by the example tenant).
pub const DIALLED: &str = "+15550100000";

/// Which database backs a TestApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running switchboard for one test. Dropping it removes its database: the
/// temporary directory (SQLite file, spool) and, on PostgreSQL, its schema.
/// Fields drop in declaration order, so the server goes before its schema.
pub struct TestApp {
    pub running: Option<RunningServer>,
    /// The PostgreSQL schema behind [`TestApp::db_url`] (`Db::Postgres` only).
    pub pg: Option<db::PgSchema>,
    pub dir: tempfile::TempDir,
    pub db_url: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Test configuration: loopback, one worker, fast restarts, recording simulator,
/// an always-open tenant.
pub fn test_config(db_url: &str) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.workers = 1;
    config.server.admin_token = Some(ADMIN.into());
    config.database.url = db_url.into();
    config.database.pool_size = 4;
    config.simulator.record_events = true;
    config.simulator.pace = 2.0;
    config.model.restart_backoff_ms = 50;
    config.model.connect_timeout_secs = 2;
    config.model.heartbeat_secs = 2;
    config.calls.carrier_idle_timeout_secs = 5;
    // Scenarios start with the caller's turn; the greeting has its own test.
    config.calls.greet_caller = false;
    config.tenants = vec![TenantConfig::example()];
    // Used only by the tests that set cluster.nats_url.
    config.cluster.secret = Some(CLUSTER_SECRET.into());
    config
}

/// The cluster secret of the test nodes (SWITCHBOARD_CLUSTER__SECRET).
pub const CLUSTER_SECRET: &str = "test-cluster-secret-0123456789abcdef";

impl TestApp {
    /// A TestApp on SQLite with the default test configuration.
    pub async fn start() -> TestApp {
        Self::start_with(Db::Sqlite, |_| {}).await
    }

    /// A TestApp on `db`, with `tweak` applied to the test configuration.
    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let pg = (db == Db::Postgres).then(db::PgSchema::new);
        let db_url = pg.as_ref().map(|schema| schema.url().to_owned());
        Self::start_inner(pg, db_url, tweak).await
    }

    /// A TestApp on the existing database at `db_url`, which the caller owns
    /// and drops after the app (the nodes of a cluster share one
    /// [`db::PgSchema`]).
    pub async fn start_on(db_url: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_inner(None, Some(db_url.to_owned()), tweak).await
    }

    /// `db_url` `None`: a new SQLite file in the app's directory.
    async fn start_inner(
        pg: Option<db::PgSchema>,
        db_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = db_url.unwrap_or_else(|| db::sqlite_url(dir.path()));
        let mut config = test_config(&db_url);
        config.database.spool_file = dir.path().join("spool.jsonl");
        config.recording.dir = dir.path().join("recordings");
        tweak(&mut config);
        let running = app::start(config).await.expect("switchboard starts");
        TestApp {
            running: Some(running),
            pg,
            dir,
            db_url,
        }
    }

    /// This app's `recording.dir`.
    pub fn recordings_dir(&self) -> PathBuf {
        self.running().state.config.recording.dir.clone()
    }

    /// A config file in `dir` for running the binary's commands on this
    /// app's database and recordings, with `extra` TOML appended.
    pub fn cli_config(&self, dir: &Path, extra: &str) -> PathBuf {
        child::write_config(
            dir,
            &self.db_url,
            &format!(
                "\n[recording]\ndir = {:?}\n{extra}",
                self.recordings_dir().display().to_string()
            ),
        )
    }

    fn running(&self) -> &RunningServer {
        self.running.as_ref().expect("running")
    }

    /// `ws://127.0.0.1:PORT/media-stream`.
    pub fn media_url(&self) -> String {
        format!("ws://{}/media-stream", self.running().addr())
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running().addr())
    }

    /// The `/logs` feed URL for one call.
    pub fn logs_url(&self, call_sid: &str) -> String {
        format!("ws://{}/logs?call_sid={call_sid}", self.running().addr())
    }

    /// The built-in simulator.
    pub fn sim(&self) -> &Simulator {
        self.running()
            .state
            .simulator
            .as_ref()
            .expect("simulator enabled")
    }

    /// A call setup from [`CALLER`] to [`DIALLED`].
    pub fn call_setup(&self) -> CallSetup {
        CallSetup::new(self.media_url())
            .with_parameter("from", CALLER)
            .with_parameter("to", DIALLED)
    }

    /// What Twilio does on a line with an auth token: posts the signed voice
    /// webhook for `setup`'s call (its `from`/`to` parameters), then opens the
    /// stream the TwiML names — the per-call URL, the TwiML's parameters, the
    /// upgrade signed over that URL. Returns the stream's setup.
    pub async fn through_signed_webhook(&self, setup: CallSetup, auth_token: &str) -> CallSetup {
        through_signed_webhook(&self.http_url("/twiml"), setup, auth_token).await
    }

    /// Places a call and subscribes to its live events first (so none are missed).
    pub async fn dial(&self) -> (TwilioCall, LogFeed) {
        let setup = self.call_setup();
        let feed = LogFeed::connect(&self.logs_url(&setup.call_sid), Some(ADMIN))
            .await
            .expect("log feed connects");
        let call = TwilioCall::connect(setup).await.expect("call connects");
        (call, feed)
    }

    /// GET with the admin token; returns status and JSON body (Null if not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        admin_request(awc::http::Method::GET, &self.http_url(path)).await
    }

    /// Waits until the call with carrier id `call_sid` has ended and its row is
    /// written; returns `/api/calls/{sid}` (call, transcript, tool_invocations).
    pub async fn wait_call_ended(&self, call_sid: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get_json(&format!("/api/calls/{call_sid}")).await;
            if status == 200 && !body["call"]["ended_at"].is_null() {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "call {call_sid} not ended within {timeout:?}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /metrics` (no token configured in tests): the Prometheus text.
    pub async fn metrics(&self) -> String {
        let mut resp = awc::Client::default()
            .get(self.http_url("/metrics"))
            .send()
            .await
            .expect("metrics");
        String::from_utf8_lossy(&resp.body().await.expect("body")).into_owned()
    }

    /// Every client event the simulator received, all sessions, in order.
    pub fn model_client_events(&self) -> Vec<Value> {
        self.sim()
            .recorded_sessions()
            .into_iter()
            .flatten()
            .collect()
    }

    /// Graceful shutdown (drain 0 s).
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(0)).await;
        }
    }
}

/// A shipped caller recording (`assets/audio/NAME.wav`) as 8 kHz µ-law.
/// `method url` (no body) with the admin token: the status and the JSON body
/// (Null if not JSON).
pub async fn admin_request(method: awc::http::Method, url: &str) -> (u16, Value) {
    let mut resp = awc::Client::default()
        .request(method.clone(), url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.body().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub fn caller_mulaw(name: &str) -> Vec<u8> {
    let pcm =
        read_wav(&root().join("assets/audio").join(format!("{name}.wav"))).expect("caller wav");
    encode_pcm(AudioFormat::Pcmu, &pcm).expect("encode µ-law")
}

/// RMS level of µ-law audio, dBFS.
pub fn mulaw_dbfs(bytes: &[u8]) -> f32 {
    let mut pcm = Vec::new();
    mulaw::decode_into(bytes, &mut pcm);
    rms_dbfs(&pcm)
}

/// Keeps the line open like a phone (100 ms of µ-law silence at a time) until
/// `pred` holds for an event on `feed`, or `timeout`. Returns the event.
pub async fn talk_silence_until(
    call: &mut TwilioCall,
    feed: &LogFeed,
    timeout: Duration,
    pred: impl Fn(&CallEvent) -> bool,
) -> Option<CallEvent> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(e) = feed.events().into_iter().find(|e| pred(e)) {
            return Some(e);
        }
        if call.is_closed() {
            // The server may close the stream before its last events (call_ended)
            // reach the feed: give them a moment instead of racing them.
            return feed.wait_for(&pred, Duration::from_secs(3)).await;
        }
        let _ = call.send_silence(100).await;
    }
    None
}

/// True for a final transcript of `role`.
pub fn is_transcript(role: &'static str) -> impl Fn(&CallEvent) -> bool {
    move |e| matches!(e, CallEvent::Transcript { role: r, .. } if r == role)
}

/// Path helper for assets.
pub fn asset(path: &str) -> PathBuf {
    root().join(path)
}

/// Whether a path exists (for clear test failures).
pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// [`TestApp::through_signed_webhook`] against the voice webhook at `twiml_url`.
pub async fn through_signed_webhook(
    twiml_url: &str,
    setup: CallSetup,
    auth_token: &str,
) -> CallSetup {
    let param = |name: &str| {
        setup
            .custom_parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let url = twiml_url.to_string();
    let form = switchboard::loadtest::caller::webhook_form(
        &setup.call_sid,
        &setup.account_sid,
        &param("from"),
        &param("to"),
    );
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&form).expect("form");
    let sig = switchboard::carrier::twilio::signature::compute(auth_token, &url, &params);
    let mut resp = awc::Client::default()
        .post(&url)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .insert_header(("X-Twilio-Signature", sig))
        .send_body(form)
        .await
        .expect("POST /twiml");
    assert_eq!(resp.status().as_u16(), 200, "signed voice webhook");
    let body = resp.body().await.expect("TwiML");
    let answer =
        switchboard::carrier::twilio::twiml::parse_connect_stream(&String::from_utf8_lossy(&body))
            .expect("<Connect><Stream> TwiML");
    assert!(
        answer.url.contains("/media-stream/"),
        "a per-call stream URL: {}",
        answer.url
    );
    let mut stream = CallSetup::new(answer.url);
    stream.account_sid = setup.account_sid;
    stream.call_sid = setup.call_sid;
    stream.stream_sid = setup.stream_sid;
    stream.custom_parameters = answer.parameters;
    stream.signed(auth_token)
}

/// Every file under `dir` (recursively) whose bytes hold `needle`: what a
/// test that promises "nowhere in storage" scans.
pub fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path)
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            found.push(path.display().to_string());
        }
    }
    found
}
