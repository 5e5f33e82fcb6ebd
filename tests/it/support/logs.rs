//! Log lines at WARN and above, captured process-wide so a scenario can assert
//! what switchboard warned about for its own call (filtered by call id; other
//! scenarios run in the same process).

use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Capture {
    lines: Mutex<Vec<String>>,
}

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= Level::Warn
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            eprintln!("{line}");
            self.lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(line);
        }
    }

    fn flush(&self) {}
}

static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();

fn capture() -> &'static Capture {
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture {
            lines: Mutex::new(Vec::new()),
        }));
        if log::set_logger(capture).is_ok() {
            log::set_max_level(LevelFilter::Warn);
        }
        capture
    })
}

/// Starts capturing (idempotent); call before the scenario runs.
pub fn install() {
    capture();
}

/// Captured WARN/ERROR lines that mention `needle` (e.g. a call id).
pub fn warnings_mentioning(needle: &str) -> Vec<String> {
    capture()
        .lines
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}
