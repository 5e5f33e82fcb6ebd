//! Latency histograms for the load generator. Each socket collects samples in
//! a small local batch and folds it into a shared HdrHistogram now and then, so
//! the per-frame cost is a `Vec::push` and the lock is taken once per batch.

use std::sync::{Arc, Mutex, MutexGuard};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Samples kept locally before they are folded into the shared histogram.
const BATCH: usize = 64;
/// Largest recordable value, µs (60 s; larger samples are clamped).
const MAX_US: u64 = 60_000_000;

/// A histogram of µs samples shared by every socket of one kind.
#[derive(Clone)]
pub struct SharedHistogram {
    inner: Arc<Mutex<Histogram<u64>>>,
}

impl std::fmt::Debug for SharedHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedHistogram")
            .field("count", &self.lock().len())
            .finish()
    }
}

impl SharedHistogram {
    /// An empty histogram, 1 µs to 60 s at 3 significant digits.
    // hdrhistogram only rejects bounds (low < 1, high < 2 × low, more than 5
    // significant digits); these are constants it accepts, so this cannot fail at
    // run time — every unit test below constructs one.
    #[allow(
        clippy::expect_used,
        reason = "constant bounds hdrhistogram accepts; checked by the unit tests"
    )]
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, MAX_US, 3).expect(VALID_BOUNDS);
        SharedHistogram {
            inner: Arc::new(Mutex::new(hist)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Histogram<u64>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A local batch that feeds this histogram.
    pub fn batch(&self) -> Batch {
        Batch {
            target: self.clone(),
            samples: Vec::with_capacity(BATCH),
        }
    }

    /// Empties the histogram (between runs).
    pub fn reset(&self) {
        self.lock().reset();
    }

    /// p50/p90/p99/max of everything recorded so far, in ms.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary::of(&self.lock())
    }
}

impl Default for SharedHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The bounds are compile-time constants hdrhistogram accepts (low ≥ 1, high ≥
/// 2 × low, 3 significant digits); a failure is a programming error, caught by
/// every unit test below.
const VALID_BOUNDS: &str = "static histogram bounds are valid";

/// Samples waiting to be folded into a [`SharedHistogram`]; flushed when full
/// and when dropped.
pub struct Batch {
    target: SharedHistogram,
    samples: Vec<u64>,
}

impl Batch {
    /// Records one sample, µs.
    pub fn record(&mut self, us: u64) {
        self.samples.push(us.clamp(1, MAX_US));
        if self.samples.len() >= BATCH {
            self.flush();
        }
    }

    /// Folds the local samples into the shared histogram.
    pub fn flush(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let mut hist = self.target.lock();
        for s in self.samples.drain(..) {
            let _ = hist.record(s);
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Percentiles of a latency distribution, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summary of a µs histogram.
    pub fn of(hist: &Histogram<u64>) -> Self {
        if hist.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: hist.len(),
            min_ms: ms(hist.min()),
            p50_ms: ms(hist.value_at_quantile(0.50)),
            p90_ms: ms(hist.value_at_quantile(0.90)),
            p95_ms: ms(hist.value_at_quantile(0.95)),
            p99_ms: ms(hist.value_at_quantile(0.99)),
            max_ms: ms(hist.max()),
        }
    }

    /// Summary of µs samples (small sets, e.g. one value per call).
    pub fn of_samples(samples: &[u64]) -> Self {
        let hist = SharedHistogram::new();
        {
            let mut batch = hist.batch();
            samples.iter().for_each(|s| batch.record(*s));
        }
        hist.summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let samples: Vec<u64> = (1..=1000).map(|i| i * 100).collect();
        let s = LatencySummary::of_samples(&samples);
        assert_eq!(s.count, 1000);
        assert!((s.min_ms - 0.1).abs() < 0.001, "{s:?}");
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p95_ms - 95.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn batches_flush_on_drop() {
        let hist = SharedHistogram::new();
        {
            let mut b = hist.batch();
            b.record(5);
        }
        assert_eq!(hist.summary().count, 1);
        hist.reset();
        assert_eq!(hist.summary().count, 0);
    }
}
