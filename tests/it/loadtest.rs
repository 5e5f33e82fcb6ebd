//! `switchboard loadtest` machinery in CI: a handful of calls for a few seconds
//! through switchboard and through the floor relay, asserting correctness only
//! (every call completed, no frame lost or out of order, turns answered and
//! their latency recorded on the call rows and in /metrics) — never timing,
//! except where the timing is the behaviour: through the voice webhook with a
//! provider's delays, a pre-warmed greeting arrives sooner than the model could
//! have produced it after the stream started, and a cold one cannot.

use std::time::Duration;

use switchboard::config::{Config, UnknownNumber};
use switchboard::loadtest::caller::Webhook;
use switchboard::loadtest::model::{ModelOptions, SimDelays, StampingModel, GREETING_FRAMES};
use switchboard::loadtest::report::RunReport;
use switchboard::loadtest::stats::LatencySummary;
use switchboard::loadtest::{self, Options};

use crate::support::{Db, TestApp, CALLER, DIALLED};

const CALLS: u32 = 4;

/// [`CALLS`] calls of `duration` against `url`: 400 ms speech / 1.2 s
/// silence cycles, a short ramp, no settling, dialling the example tenant.
fn short_run(url: String, duration: Duration) -> Options {
    let mut opts = Options::new(url);
    opts.calls = CALLS;
    opts.duration = duration;
    opts.ramp = Duration::from_millis(400);
    opts.speech = Duration::from_millis(400);
    opts.silence = Duration::from_millis(1200);
    opts.settle = Duration::ZERO;
    opts.custom_parameters = vec![("to".into(), DIALLED.into())];
    opts
}

#[actix_rt::test]
async fn loadtest_smoke_completes_every_call_without_losing_frames() {
    let model = StampingModel::start("127.0.0.1:0", 1).expect("stamping model starts");
    let model_url = model.url();
    let app = TestApp::start_with(Db::Sqlite, |c| c.model.url = model_url).await;

    let mut opts = short_run(app.media_url(), Duration::from_secs(3));
    opts.floor_exe = Some(env!("CARGO_BIN_EXE_switchboard").into());
    opts.floor_workers = 1;
    let report = loadtest::run(&opts, Some(&model), "smoke".into())
        .await
        .expect("load test runs");
    let table = report.table();

    assert_eq!(report.runs.len(), 2, "switchboard and floor runs\n{table}");
    for run in &report.runs {
        assert!(run.is_clean(), "{} run not clean\n{table}", run.target);
        assert_eq!(run.completed, u64::from(CALLS), "{table}");
        let c2m = run.carrier_to_model.as_ref().expect("c→m measured");
        let m2c = run.model_to_carrier.as_ref().expect("m→c measured");
        // 3.2 s of caller audio per call (two 1.6 s cycles), 1 s reply per turn.
        assert_eq!(c2m.frames_sent, u64::from(CALLS) * 160, "{table}");
        assert_eq!(c2m.frames_received, c2m.frames_sent, "{table}");
        assert_eq!(run.turns, u64::from(CALLS) * 2, "{table}");
        assert_eq!(m2c.frames_sent, run.turns * 50, "{table}");
        assert_eq!(m2c.frames_received, m2c.frames_sent, "{table}");
        assert_eq!(run.first_audio.count, u64::from(CALLS), "{table}");
    }
    // switchboard marks every chunk and the caller echoes each after play-out.
    let sb = &report.runs[0];
    assert_eq!(sb.marks_echoed, sb.turns * 50, "{table}");

    // Turn latency (speech_stopped → first assistant frame to the carrier) is on
    // every call row and in the /metrics histogram, one sample per turn.
    let (_, calls) = app.get_json("/api/calls").await;
    let rows = calls.as_array().expect("call list");
    assert_eq!(rows.len(), CALLS as usize, "{calls}");
    for row in rows {
        let p50 = row["turn_latency_p50_ms"].as_i64().expect("p50 recorded");
        let max = row["turn_latency_max_ms"].as_i64().expect("max recorded");
        assert!(p50 <= max, "{row}");
    }
    let metrics = awc::Client::default()
        .get(app.http_url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .body()
        .await
        .expect("metrics body");
    let metrics = String::from_utf8_lossy(&metrics);
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_turn_latency_seconds_count "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert_eq!(count, Some(sb.turns), "{metrics}");

    model.stop().await;
    app.stop().await;
}

/// A provider's delays: connect 400 ms, first greeting audio 500 ms after `response.create`.
const CONNECT: Duration = Duration::from_millis(400);
const FIRST_AUDIO: Duration = Duration::from_millis(500);
/// Twilio's webhook → stream gap.
const GAP: Duration = Duration::from_secs(1);

/// A few calls through the voice webhook against switchboard configured by
/// `config`, with the greeting stamping model's provider delays; the run and
/// its table.
async fn webhook_run(config: impl FnOnce(&mut Config)) -> (RunReport, String) {
    let options = ModelOptions {
        delays: SimDelays {
            connect: CONNECT,
            first_audio: FIRST_AUDIO,
        },
        greeting: true,
        live: false,
    };
    let model =
        StampingModel::start_with("127.0.0.1:0", 1, options).expect("stamping model starts");
    let model_url = model.url();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.model.url = model_url;
        c.calls.greet_caller = true;
        config(c);
    })
    .await;
    let mut opts = Options::new(app.media_url());
    opts.calls = CALLS;
    opts.duration = Duration::from_millis(1600);
    opts.ramp = Duration::from_millis(400);
    opts.speech = Duration::from_millis(400);
    opts.silence = Duration::from_millis(1200);
    opts.settle = Duration::ZERO;
    opts.webhook = Some(Webhook {
        url: app.http_url("/twiml"),
        gap: GAP,
        from: CALLER.into(),
        to: DIALLED.into(),
    });
    let report = loadtest::run(&opts, Some(&model), "webhook".into())
        .await
        .expect("load test runs");
    let table = report.table();
    eprintln!("{table}");
    model.stop().await;
    app.stop().await;
    let run = report.runs.into_iter().next().expect("one run");
    (run, table)
}

/// Every call completed and heard the whole greeting, every frame in order;
/// the greeting latencies (ms).
fn assert_whole_greetings(run: &RunReport, table: &str) -> LatencySummary {
    assert!(run.is_clean(), "{table}");
    assert_eq!(run.completed, u64::from(CALLS), "{table}");
    let webhook = run.webhook_answer.as_ref().expect("webhook timed");
    assert_eq!(webhook.count, u64::from(CALLS), "{table}");
    let greeting = run.greeting.as_ref().expect("greeting measured");
    assert_eq!(
        greeting.frames_sent,
        u64::from(CALLS) * GREETING_FRAMES,
        "one whole greeting per call\n{table}"
    );
    assert_eq!(greeting.frames_received, greeting.frames_sent, "{table}");
    assert_eq!((greeting.lost, greeting.out_of_order), (0, 0), "{table}");
    assert_eq!(greeting.latency.count, u64::from(CALLS), "{table}");
    // The caller listened first, then took its turn, which was answered.
    assert_eq!(run.turns, u64::from(CALLS), "{table}");
    greeting.latency
}

#[actix_rt::test]
async fn prewarmed_webhook_calls_hear_the_greeting_sooner_than_the_model_can_make_it() {
    let (run, table) = webhook_run(|c| c.calls.prewarm = true).await;
    let latency = assert_whole_greetings(&run, &table);
    // The model needs 900 ms from its upgrade to the first greeting frame; the
    // pre-warmed call started it at the webhook, a second before the stream.
    assert!(
        latency.max_ms < (CONNECT + FIRST_AUDIO).as_secs_f64() * 1000.0,
        "every greeting sooner than the model's delays\n{table}"
    );
}

#[actix_rt::test]
async fn without_prewarm_webhook_calls_wait_for_the_models_delays() {
    let (run, table) = webhook_run(|c| c.calls.prewarm = false).await;
    let latency = assert_whole_greetings(&run, &table);
    // 1 ms below the delays: the histogram's 0.1 % resolution.
    assert!(
        latency.min_ms >= (CONNECT + FIRST_AUDIO).as_secs_f64() * 1000.0 - 1.0,
        "a cold call cannot hear its greeting before connect + first audio\n{table}"
    );
}

#[actix_rt::test]
async fn a_webhook_answered_without_a_stream_is_a_refused_call_with_its_reason() {
    let model = StampingModel::start("127.0.0.1:0", 1).expect("stamping model starts");
    let model_url = model.url();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.model.url = model_url;
        c.routing.unknown_number = UnknownNumber::Refuse;
    })
    .await;
    let mut opts = Options::new(app.media_url());
    opts.calls = 2;
    opts.duration = Duration::from_secs(1);
    opts.ramp = Duration::ZERO;
    opts.settle = Duration::ZERO;
    opts.webhook = Some(Webhook {
        url: app.http_url("/twiml"),
        gap: Duration::ZERO,
        from: CALLER.into(),
        to: "+15559999999".into(),
    });
    let report = loadtest::run(&opts, Some(&model), "unknown number".into())
        .await
        .expect("load test runs");
    let run = &report.runs[0];
    let table = report.table();
    assert_eq!(
        (run.refused, run.failed, run.connected),
        (2, 2, 0),
        "{table}"
    );
    assert!(
        run.errors
            .iter()
            .any(|e| e.contains("no <Connect><Stream>") && e.contains("Say")),
        "{table}"
    );
    assert!(!run.is_clean());
    model.stop().await;
    app.stop().await;
}

/// Several `--url`s (the nodes of a cluster): calls are spread over them in
/// turn, and every one completes without losing a frame.
#[actix_rt::test]
async fn loadtest_spreads_calls_over_several_urls() {
    let model = StampingModel::start("127.0.0.1:0", 1).expect("stamping model starts");
    let url = model.url();
    let a = TestApp::start_with(Db::Sqlite, |c| c.model.url = url.clone()).await;
    let b = TestApp::start_with(Db::Sqlite, |c| c.model.url = url).await;

    let mut opts = short_run(a.media_url(), Duration::from_secs(2));
    opts.urls.push(b.media_url());
    let report = loadtest::run(&opts, Some(&model), "spread".into())
        .await
        .expect("load test runs");
    let table = report.table();
    let run = &report.runs[0];
    assert!(run.is_clean(), "{table}");
    assert_eq!(run.completed, u64::from(CALLS), "{table}");
    for app in [&a, &b] {
        let (_, calls) = app.get_json("/api/calls").await;
        assert_eq!(
            calls.as_array().map(Vec::len),
            Some(CALLS as usize / 2),
            "each URL carries half the calls: {calls}"
        );
    }
    model.stop().await;
    a.stop().await;
    b.stop().await;
}

/// The GPT-Live link under the load test: the stamping model speaks GPT-Live
/// (its silent track between replies included); every stamped frame crosses
/// switchboard both ways, in order.
#[actix_rt::test]
async fn loadtest_on_the_gpt_live_link_loses_no_frame() {
    let options = ModelOptions {
        live: true,
        ..ModelOptions::default()
    };
    let model = StampingModel::start_with("127.0.0.1:0", 1, options).expect("stamping model");
    let model_url = model.url();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.model.url = model_url;
        c.model.api = switchboard::model::api::ModelApi::Live;
    })
    .await;
    let opts = short_run(app.media_url(), Duration::from_secs(3));
    let report = loadtest::run(&opts, Some(&model), "live".into())
        .await
        .expect("load test runs");
    let table = report.table();
    let run = &report.runs[0];
    assert!(run.is_clean(), "not clean\n{table}");
    assert_eq!(run.completed, u64::from(CALLS), "{table}");
    let m2c = run.model_to_carrier.as_ref().expect("m→c measured");
    assert_eq!(run.turns, u64::from(CALLS) * 2, "{table}");
    assert_eq!(m2c.frames_sent, run.turns * 50, "{table}");
    assert_eq!(m2c.frames_received, m2c.frames_sent, "{table}");
    model.stop().await;
    app.stop().await;
}
