//! CPU time and resident memory of a process, read from Linux's `/proc`
//! (proc(5): `/proc/PID/stat` fields 14–15 `utime`/`stime` in clock ticks,
//! `/proc/PID/status` `VmRSS` in KiB).

use std::path::PathBuf;

/// Why a sample could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unexpected format in {0}")]
    Format(PathBuf),
}

/// One observation of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User + system CPU time since the process started, ms.
    pub cpu_ms: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

/// Samples process `pid` (use `std::process::id()` for this process).
///
/// # Errors
/// [`ProcError::Read`] when the process is gone or `/proc` is unavailable,
/// [`ProcError::Format`] when a file does not parse.
pub fn sample(pid: u32) -> Result<ProcSample, ProcError> {
    let stat_path = PathBuf::from(format!("/proc/{pid}/stat"));
    let stat = read(&stat_path)?;
    let status_path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = read(&status_path)?;
    let ticks = cpu_ticks(&stat).ok_or(ProcError::Format(stat_path))?;
    let rss_kib = vm_rss_kib(&status).ok_or(ProcError::Format(status_path))?;
    Ok(ProcSample {
        cpu_ms: ticks as f64 * 1000.0 / clock_ticks_per_second(),
        rss_kib,
    })
}

fn read(path: &PathBuf) -> Result<String, ProcError> {
    std::fs::read_to_string(path).map_err(|source| ProcError::Read {
        path: path.clone(),
        source,
    })
}

/// `utime + stime` from a `/proc/PID/stat` line. The command name (field 2) is
/// in parentheses and may contain spaces, so fields are counted after the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ")": field 3 (state) is index 0, so utime (14) is index 11, stime index 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS:   12345 kB` from `/proc/PID/status`.
fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `sysconf(_SC_CLK_TCK)`, 100 on every common Linux.
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_command() {
        let stat =
            "4242 (my proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000 200";
        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t  5120 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kib(status), Some(5120));
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kib > 0);
        assert!(s.cpu_ms >= 0.0);
    }
}
