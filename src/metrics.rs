//! Prometheus metrics (`GET /metrics`, text exposition format). Counters are atomics
//! updated on call lifecycle events only — never per audio frame.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Every metric switchboard exports, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// Calls in progress.
    pub calls_active: IntGauge,
    /// Calls admitted since start.
    pub calls_total: IntCounter,
    /// Calls refused, by reason (`capacity`, `draining`, `routing`).
    pub calls_refused: IntCounterVec,
    /// Calls ended, by `ended_reason`.
    pub calls_ended: IntCounterVec,
    /// Model link restarts.
    pub link_restarts: IntCounter,
    /// Tool calls by tool name and outcome (`ok`, `error`).
    pub tool_calls: IntCounterVec,
    /// Barge-ins that cleared carrier audio.
    pub barge_ins: IntCounter,
    /// Turn latency: caller end of speech (model `speech_stopped`) to first assistant
    /// audio sent to the carrier, seconds.
    pub turn_latency: Histogram,
    /// Invalid frames received from carriers (malformed, unknown, out of order).
    pub carrier_bad_frames: IntCounter,
    /// Model server events of a type switchboard does not model (ignored).
    pub model_events_unknown: IntCounter,
    /// Model server frames that could not be read at all (not JSON, audio without data).
    pub model_events_unparsable: IntCounter,
    /// Pre-warmed calls whose stream claimed them, by where the call went on:
    /// `same_thread` (stream and webhook on one worker), `handed_over` (moved to
    /// the stream's worker), `across_threads` (could not move; attached as is).
    pub prewarm_claims: IntCounterVec,
}

impl Metrics {
    /// Creates and registers all metrics.
    ///
    /// Errors: the [`prometheus::Error`] of a definition prometheus rejects (an
    /// invalid name or label, a duplicate registration). The definitions are
    /// constants, so this fails only after a bad edit — the unit test below and
    /// every server start catch it.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("switchboard".into()), None)?;
        let calls_active = IntGauge::new("calls_active", "Calls in progress")?;
        let calls_total = IntCounter::new("calls_total", "Calls admitted")?;
        let calls_refused = IntCounterVec::new(
            Opts::new("calls_refused_total", "Calls refused"),
            &["reason"],
        )?;
        let calls_ended =
            IntCounterVec::new(Opts::new("calls_ended_total", "Calls ended"), &["reason"])?;
        let link_restarts = IntCounter::new("model_link_restarts_total", "Model link restarts")?;
        let tool_calls = IntCounterVec::new(
            Opts::new("tool_calls_total", "Tool calls"),
            &["tool", "outcome"],
        )?;
        let barge_ins = IntCounter::new("barge_ins_total", "Barge-ins")?;
        let turn_latency = Histogram::with_opts(
            HistogramOpts::new(
                "turn_latency_seconds",
                "End of caller speech to first assistant audio",
            )
            .buckets(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0]),
        )?;
        let carrier_bad_frames =
            IntCounter::new("carrier_bad_frames_total", "Invalid carrier frames")?;
        let model_events_unknown = IntCounter::new(
            "model_events_unknown_total",
            "Model server events of unmodelled types (ignored)",
        )?;
        let model_events_unparsable = IntCounter::new(
            "model_events_unparsable_total",
            "Model server frames that could not be read",
        )?;
        let prewarm_claims = IntCounterVec::new(
            Opts::new(
                "prewarm_claims_total",
                "Pre-warmed calls claimed by their stream, by placement",
            ),
            &["placement"],
        )?;
        for c in [
            Box::new(calls_active.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(prewarm_claims.clone()),
            Box::new(model_events_unknown.clone()),
            Box::new(model_events_unparsable.clone()),
            Box::new(calls_total.clone()),
            Box::new(calls_refused.clone()),
            Box::new(calls_ended.clone()),
            Box::new(link_restarts.clone()),
            Box::new(tool_calls.clone()),
            Box::new(barge_ins.clone()),
            Box::new(turn_latency.clone()),
            Box::new(carrier_bad_frames.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Metrics {
            registry,
            calls_active,
            calls_total,
            calls_refused,
            calls_ended,
            link_restarts,
            tool_calls,
            barge_ins,
            turn_latency,
            carrier_bad_frames,
            model_events_unknown,
            model_events_unparsable,
            prewarm_claims,
        })
    }

    /// The text exposition of every metric plus `extra` lines (gauges owned elsewhere).
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        let mut text = String::from_utf8_lossy(&buf).into_owned();
        for (name, help, value) in extra {
            text.push_str(&format!("# HELP switchboard_{name} {help}\n# TYPE switchboard_{name} gauge\nswitchboard_{name} {value}\n"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_all_families() {
        let m = Metrics::new().unwrap();
        m.calls_total.inc();
        m.calls_refused.with_label_values(&["capacity"]).inc();
        let text = m.render(&[("store_pending_writes", "Writes not yet committed", 3.0)]);
        assert!(text.contains("switchboard_calls_total 1"));
        assert!(text.contains("switchboard_calls_refused_total{reason=\"capacity\"} 1"));
        assert!(text.contains("switchboard_store_pending_writes 3"));
    }
}
