//! Private files: everything switchboard creates on disk (the SQLite database
//! and its `-wal`/`-shm`, the outage spool, the generated admin token) holds
//! callers' numbers, transcripts or a credential, so it is created mode 0600
//! in folders created mode 0700, whatever the process umask. Modes are set
//! at creation (never by a `chmod` after the content is written); files and
//! folders that already exist keep theirs.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Mode of the files switchboard creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the folders switchboard creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents, each new one mode 0700.
///
/// # Errors
/// The I/O error of the first folder that cannot be created.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Creates the file `path` (mode 0600) and its folder (0700) unless it exists;
/// an existing file is left as it is.
///
/// # Errors
/// The I/O error when the folder or file cannot be created.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        create_private_dir_all(dir)?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `path` new (mode 0600; fails when it exists), for writing.
///
/// # Errors
/// The I/O error, [`io::ErrorKind::AlreadyExists`] among them.
pub fn create_private_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Whether `path` is readable by its group or by others (mode `& 0o077`).
pub fn readable_by_others(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o077 != 0)
        .unwrap_or(false)
}

/// Removes the files at `relative` paths under `dir` (recordings that
/// expired or were erased); how many were removed. A path that would leave
/// `dir` (absolute, or with `..`) is skipped, a file already gone counts as
/// removed, and any other failure is logged and skipped: the rows naming
/// them are cleared already.
pub fn remove_under(dir: &Path, relative: &[String]) -> usize {
    let mut removed = 0;
    for name in relative {
        let rel = Path::new(name);
        let inside = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            log::warn!("not removing {name:?}: not a path inside {}", dir.display());
            continue;
        }
        match std::fs::remove_file(dir.join(rel)) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => removed += 1,
            Err(e) => log::warn!("{}: not removed: {e}", dir.join(rel).display()),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_files_and_folders_are_private_under_a_loose_umask() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("a/b/db.sqlite");
        ensure_private_file(&file).expect("create");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
        assert!(!readable_by_others(&file));
        ensure_private_file(&file).expect("existing is fine");
        assert!(create_private_new(&file).is_err());
    }
}
