//! The outage spool: an append-only JSON-lines file (default
//! `data/spool.jsonl`) where the `Store` actor puts write-behind
//! batches the database cannot take, so a call in progress never waits on
//! the database and nothing is lost across an outage or a crash.
//!
//! One line per write, in arrival order:
//! `{"seq":17,"id":"transcript:4f…","write":{"kind":"transcript","row":{…}}}`.
//! `seq` is the writer's arrival number, `id` the write's stable identity
//! (row id, or `call_end:<call id>`). Each appended batch is `fsync`ed
//! before the writer counts it as settled. [`replay`] applies the file in
//! order through idempotent statements (`INSERT … ON CONFLICT (id) DO
//! NOTHING`, the end-of-call `UPDATE`), so replaying twice, or after a crash
//! half-way through a replay, leaves exactly one copy of every row; then it
//! empties the file. A torn last line (a crash mid-append) is logged and
//! skipped: its batch was never reported settled.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::batch::{write_batch, BatchOutcome, Queued, Write, MAX_BATCH};
use super::db::Pool;
use super::StoreError;

/// A spool shared by the nodes of a cluster (the cluster's JetStream
/// stream), where the writer puts a batch the database cannot take before
/// its own file, so the writes outlive the node: any node replays them.
pub trait SharedSpool: Send + Sync + 'static {
    /// Store `lines` (spool lines, see [`encode`]) under the idempotency key
    /// `id`; resolves once the server has stored them. `Err` carries the cause.
    fn push(&self, id: String, lines: Vec<u8>) -> BoxFuture<'static, Result<(), String>>;
    /// Batches waiting in the shared spool (any node's, being replayed
    /// included); `Err` when it cannot be asked.
    fn waiting(&self) -> BoxFuture<'static, Result<u64, String>>;
}

/// One spool line as written.
#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    id: String,
    write: &'a Write,
}

/// One spool line as read back (`id` is informational).
#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    write: Write,
}

/// What a [`replay`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Writes applied (including ones already present, which are no-ops).
    pub applied: usize,
    /// Writes the database rejected for good (foreign key, check, …); logged
    /// in full and dropped, as the live writer does.
    pub rejected: usize,
    /// Lines that did not parse (a torn final line after a crash); logged.
    pub corrupt: usize,
}

fn spool_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Spool {
        path: path.display().to_string(),
        source,
    }
}

/// Append `batch` to the spool at `path` (created with its folder when
/// missing) as one line per write, then `fsync` the file.
///
/// Errors: [`StoreError::Spool`] when the file cannot be created, written or
/// synced (disk full, read-only); nothing is reported settled then.
pub(super) fn append(path: &Path, batch: &[Queued]) -> Result<(), StoreError> {
    let buf = encode(batch).map_err(|err| spool_error(path, std::io::Error::other(err)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        super::files::create_private_dir_all(dir).map_err(|err| spool_error(path, err))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(super::files::FILE_MODE)
        .open(path)
        .map_err(|err| spool_error(path, err))?;
    file.write_all(&buf).map_err(|err| spool_error(path, err))?;
    file.sync_data().map_err(|err| spool_error(path, err))
}

/// `batch` as spool lines (one JSON line per write, each ending in `\n`):
/// the file's format and the payload of a cluster spool message.
pub(crate) fn encode(batch: &[Queued]) -> Result<Vec<u8>, serde_json::Error> {
    let mut buf = Vec::with_capacity(batch.len() * 256);
    for queued in batch {
        let line = LineOut {
            seq: queued.seq,
            id: queued.write.stable_id(),
            write: &queued.write,
        };
        serde_json::to_writer(&mut buf, &line)?;
        buf.push(b'\n');
    }
    Ok(buf)
}

/// The writes in spool lines, in order; `source` (a path, a message) names
/// them in the log line of an unreadable one, which is skipped and counted
/// in [`ReplayReport::corrupt`].
pub(crate) fn decode(bytes: &[u8], source: &str, report: &mut ReplayReport) -> Vec<Queued> {
    let mut writes = Vec::new();
    for (number, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<LineIn>(line) {
            Ok(LineIn { seq, write }) => writes.push(Queued { seq, write }),
            Err(err) => {
                report.corrupt += 1;
                log::error!(
                    "spool {source}: line {} unreadable, skipped ({err}): {}",
                    number + 1,
                    String::from_utf8_lossy(line)
                );
            }
        }
    }
    writes
}

/// Apply `writes` to the database in order, in transactions of at most
/// [`MAX_BATCH`], adding to `report`; a write rejected for good is logged
/// and dropped. Waits at most `connect_timeout` for a connection.
///
/// Errors: [`StoreError::Pool`] when no connection is available,
/// [`StoreError::BatchFailed`] when a transaction fails for a transient
/// reason (what committed before stays committed; applying again is a no-op
/// for it).
pub(crate) fn apply(
    pool: &Pool,
    mut writes: Vec<Queued>,
    connect_timeout: Duration,
    report: &mut ReplayReport,
) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    let mut conn = pool.get_timeout(connect_timeout)?;
    while !writes.is_empty() {
        let take = writes.len().min(MAX_BATCH);
        let mut chunk: Vec<Queued> = writes.drain(..take).collect();
        while !chunk.is_empty() {
            match write_batch(&mut conn, &chunk) {
                BatchOutcome::Committed => {
                    report.applied += chunk.len();
                    break;
                }
                BatchOutcome::Rejected { index, error } => {
                    let rejected = chunk.remove(index);
                    report.rejected += 1;
                    log::error!(
                        "spool: database rejected write #{} for good ({error}); discarding {:?}",
                        rejected.seq,
                        rejected.write
                    );
                }
                BatchOutcome::Failed(error) => return Err(StoreError::BatchFailed(error)),
                BatchOutcome::Spooled { .. } => {
                    return Err(StoreError::BatchFailed("unexpected spool outcome".into()))
                }
            }
        }
    }
    Ok(())
}

/// Writes waiting in the spool at `path`: its non-empty lines; 0 when the
/// file does not exist.
///
/// Errors: [`StoreError::Spool`] when the file exists but cannot be read.
pub fn depth(path: &Path) -> Result<usize, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .count()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(spool_error(path, err)),
    }
}

/// Apply every write in the spool at `path` to the database, in order, in
/// transactions of at most [`MAX_BATCH`] writes, then empty the file.
/// Idempotent: a write already in the database is a no-op. Waits at most
/// `connect_timeout` for a connection.
///
/// Errors: [`StoreError::Pool`] when no connection is available,
/// [`StoreError::BatchFailed`] when a transaction fails for a transient
/// reason (the file is left whole; what committed is skipped next time),
/// [`StoreError::Spool`] when the file cannot be read or emptied.
pub fn replay(
    pool: &Pool,
    path: &Path,
    connect_timeout: Duration,
) -> Result<ReplayReport, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ReplayReport::default())
        }
        Err(err) => return Err(spool_error(path, err)),
    };
    let mut report = ReplayReport::default();
    let writes = decode(&bytes, &path.display().to_string(), &mut report);
    apply(pool, writes, connect_timeout, &mut report)?;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|err| spool_error(path, err))?;
    file.set_len(0).map_err(|err| spool_error(path, err))?;
    file.sync_all().map_err(|err| spool_error(path, err))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_new_spool_and_its_folder_are_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("data/spool.jsonl");
        append(&path, &[]).expect("append");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("data")), 0o700);
    }
}
