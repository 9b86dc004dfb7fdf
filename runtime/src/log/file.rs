//! A size-rotated JSONL file sink.
//!
//! `app.jsonl` is written until the next line would take it past `max_bytes`; then every
//! `app.jsonl.N` becomes `app.jsonl.{N+1}` (the oldest, `app.jsonl.{backups}`, is replaced), the
//! current file becomes `app.jsonl.1` and a new one starts. Files are created with mode 0640, and
//! the directory (0750) when it is missing. The file name is sanitised (only `[A-Za-z0-9._-]`, no
//! leading dot).
//!
//! Retention by age ([`RotatingFile::with_max_age`], `OBSERVA_LOG_FILE_MAX_AGE`): rotated files
//! (`app.jsonl.N`, whatever `N`) whose last write is older than the age are removed when the
//! sink opens and after every rotation. The current file is never removed.
//!
//! Failures never take the application down and never cost a backup:
//! - the file removed or replaced under the writer (by hand, by an external logrotate) is noticed
//!   at the next batch of lines and a new one is created at the path (the directory too);
//! - a rotation that cannot move the current file aside moves nothing (backups stay as they
//!   are) and is retried only after another `max_bytes` of lines;
//! - a line that cannot be written goes to stderr and counts in
//!   `observa_internal_errors_total{kind="log_file"}`; the next batch tries the file again, so
//!   the sink comes back once the path is writable.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A rotating file writer. Used behind the non-blocking queue, so it runs on the writer thread.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    backups: usize,
    max_age: Option<Duration>,
    file: Option<File>,
    written: u64,
    /// Device and inode of the open file, to notice a removed or replaced file.
    id: Option<(u64, u64)>,
}

/// Keeps `[A-Za-z0-9._-]`, replaces anything else with `_`, strips leading dots.
pub fn sanitize_file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "observa.jsonl".to_owned()
    } else {
        s.to_owned()
    }
}

impl RotatingFile {
    /// Opens (or creates) the file at `path` (its file name sanitised), creating its directory
    /// when missing.
    pub fn open(path: &Path, max_bytes: u64, backups: usize) -> io::Result<RotatingFile> {
        let name = path
            .file_name()
            .map(|n| sanitize_file_name(&n.to_string_lossy()))
            .unwrap_or_else(|| "observa.jsonl".to_owned());
        let path = path.with_file_name(name);
        let mut f = RotatingFile {
            path,
            max_bytes: max_bytes.max(1024),
            backups,
            max_age: None,
            file: None,
            written: 0,
            id: None,
        };
        f.reopen()?;
        Ok(f)
    }

    /// Removes rotated files older than `age` (by their last write) now and after every
    /// rotation.
    #[must_use]
    pub fn with_max_age(mut self, age: Duration) -> RotatingFile {
        self.max_age = Some(age);
        self.prune();
        self
    }

    /// Rotated files kept (`app.jsonl.N` kept up to `N = backups`).
    pub fn backups(&self) -> usize {
        self.backups
    }

    /// Rotation size in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Removes the rotated files (`<name>.<digits>`) whose last write is older than the
    /// retention age. A file that cannot be read or removed stays (and is counted).
    fn prune(&self) {
        let Some(age) = self.max_age else { return };
        let Some(cutoff) = SystemTime::now().checked_sub(age) else {
            return;
        };
        let Some(name) = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            return;
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let fname = e.file_name();
            let fname = fname.to_string_lossy();
            let numbered = fname
                .strip_prefix(name.as_str())
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !numbered {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            if old && std::fs::remove_file(e.path()).is_err() {
                crate::metrics::internal_error("log_file");
            }
        }
    }

    /// (Re)opens the file at the path, creating the directory when missing.
    fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        self.id = None;
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o750);
            }
            b.create(dir)?;
        }
        let file = open_0640(&self.path)?;
        let meta = file.metadata()?;
        self.written = meta.len();
        self.id = file_id(&meta);
        self.file = Some(file);
        Ok(())
    }

    /// True when the path still names the open file.
    fn still_there(&self) -> bool {
        match (self.file.is_some(), std::fs::metadata(&self.path)) {
            (true, Ok(m)) => self.id.is_none() || file_id(&m) == self.id,
            _ => false,
        }
    }

    /// The path written to (after sanitising).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn backup(&self, n: usize) -> PathBuf {
        let mut s = self.path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Moves the current file aside (to a temporary name first: if that fails, no backup has
    /// moved), shifts the backups and starts a new file.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        self.id = None;
        if self.backups == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let mut aside = self.path.as_os_str().to_owned();
            aside.push(".rotating");
            let aside = PathBuf::from(aside);
            std::fs::rename(&self.path, &aside)?;
            // Oldest first (`rename` replaces the target: the oldest backup goes), so a failure
            // part way leaves a gap, never a lost file.
            let shifted = (1..self.backups)
                .rev()
                .map(|n| (self.backup(n), self.backup(n + 1)))
                .filter(|(from, _)| from.exists())
                .try_for_each(|(from, to)| std::fs::rename(from, to))
                .and_then(|()| std::fs::rename(&aside, self.backup(1)));
            if let Err(e) = shifted {
                // Put the current file back and carry on in it.
                let _ = std::fs::rename(&aside, &self.path);
                let _ = self.reopen();
                return Err(e);
            }
        }
        self.prune();
        self.reopen()
    }

    fn write_line(&mut self, line: &[u8]) {
        if self.written > 0
            && self.written + line.len() as u64 > self.max_bytes
            && self.rotate().is_err()
        {
            crate::metrics::internal_error("log_file");
            // Carry on in whatever file the path names now; no new attempt before another
            // `max_bytes` of lines.
            if self.file.is_none() {
                let _ = self.reopen();
            }
            self.written = 0;
        }
        let res = match self.file.as_mut() {
            Some(f) => f.write_all(line),
            None => Err(io::Error::other("log file not open")),
        };
        match res {
            Ok(()) => self.written += line.len() as u64,
            Err(_) => {
                crate::metrics::internal_error("log_file");
                self.file = None;
                let _ = io::stderr().write_all(line);
            }
        }
    }
}

fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

fn open_0640(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o640);
    }
    o.open(path)
}

impl Write for RotatingFile {
    /// Writes whole lines (a batch from the non-blocking writer may hold many), rotating
    /// between lines so no file passes `max_bytes` unless a single line does.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Once per batch: a removed or replaced file (or one that failed before) is reopened.
        if !self.still_there() && self.reopen().is_err() {
            crate::metrics::internal_error("log_file");
        }
        for line in buf.split_inclusive(|b| *b == b'\n') {
            self.write_line(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}
