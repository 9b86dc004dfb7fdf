//! A size-rotated JSONL file sink.
//!
//! `app.jsonl` is written until the next line would take it past `max_bytes`; then
//! `app.jsonl.{backups-1}` is dropped, every `app.jsonl.N` becomes `app.jsonl.{N+1}`, the current
//! file becomes `app.jsonl.1` and a new one starts. Files are created with mode 0640. The file
//! name is sanitised (only `[A-Za-z0-9._-]`, no leading dot). If the file cannot be opened or
//! written, lines go to stderr instead and `observa_internal_errors_total{kind="log_file"}`
//! counts it: logging never takes the application down.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A rotating file writer. Used behind the non-blocking queue, so it runs on the writer thread.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    backups: usize,
    file: Option<File>,
    written: u64,
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
    /// Opens (or creates) the file at `path` (its file name sanitised).
    pub fn open(path: &Path, max_bytes: u64, backups: usize) -> io::Result<RotatingFile> {
        let name = path
            .file_name()
            .map(|n| sanitize_file_name(&n.to_string_lossy()))
            .unwrap_or_else(|| "observa.jsonl".to_owned());
        let path = path.with_file_name(name);
        let file = open_0640(&path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile {
            path,
            max_bytes: max_bytes.max(1024),
            backups,
            file: Some(file),
            written,
        })
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

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.backups == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(self.backup(self.backups));
            for n in (1..self.backups).rev() {
                let from = self.backup(n);
                if from.exists() {
                    std::fs::rename(&from, self.backup(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.backup(1))?;
        }
        self.file = Some(open_0640(&self.path)?);
        self.written = 0;
        Ok(())
    }
}

impl RotatingFile {
    fn write_line(&mut self, line: &[u8]) {
        if self.written > 0
            && self.written + line.len() as u64 > self.max_bytes
            && self.rotate().is_err()
        {
            crate::metrics::internal_error("log_file");
        }
        let res = match self.file.as_mut() {
            Some(f) => f.write_all(line),
            None => Err(io::Error::other("log file not open")),
        };
        match res {
            Ok(()) => self.written += line.len() as u64,
            Err(_) => {
                crate::metrics::internal_error("log_file");
                let _ = io::stderr().write_all(line);
            }
        }
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
