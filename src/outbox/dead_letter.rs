//! Per-partner dead-letter files: `data_dir/dead_letters/<partner>.ndjson`,
//! one JSON object per event that will not be delivered, with the reason and
//! the partner's last status. Events are already scrubbed when they get
//! here; nothing raw is ever written. Each line also keeps the event's
//! keyed subject hashes (`subjects`, internal key, never delivered) so that
//! forget can erase a person's dead letters too.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::identity::SubjectHash;
use crate::policy::Subjects;

/// Appends one dead-letter line (newline included) to `buf`: the format of
/// both backends' dead letters.
pub fn write_line(
    buf: &mut Vec<u8>,
    ingest_ms: u64,
    subjects: &Subjects,
    line: &[u8],
    reason: &str,
    status: Option<u16>,
) {
    let mut now_s = String::new();
    crate::event::format_utc((crate::util::now_ms() / 1000) as i64, &mut now_s);
    let mut ingested = String::new();
    crate::event::format_utc((ingest_ms / 1000) as i64, &mut ingested);
    buf.extend_from_slice(b"{\"reason\":");
    serde_json::to_writer(&mut *buf, reason).expect("vec write");
    buf.extend_from_slice(b",\"status\":");
    match status {
        Some(s) => buf.extend_from_slice(s.to_string().as_bytes()),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"ingested_at\":\"");
    buf.extend_from_slice(ingested.as_bytes());
    buf.extend_from_slice(b"\",\"dead_lettered_at\":\"");
    buf.extend_from_slice(now_s.as_bytes());
    buf.extend_from_slice(b"\",\"subjects\":[");
    for (i, h) in subjects.as_slice().iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'"');
        buf.extend_from_slice(crate::util::hex(h).as_bytes());
        buf.push(b'"');
    }
    buf.extend_from_slice(b"],\"event\":");
    buf.extend_from_slice(line);
    buf.extend_from_slice(b"}\n");
}

/// Cuts a line without its newline at the end of `f` (an append torn by a
/// crash: never acknowledged), so the next line starts on its own.
fn cut_torn_tail(f: &File) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut pos = len;
    let mut buf = vec![0u8; 64 * 1024];
    while pos > 0 {
        let n = (pos as usize).min(buf.len());
        f.read_exact_at(&mut buf[..n], pos - n as u64)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            let whole = pos - n as u64 + i as u64 + 1;
            if whole < len {
                tracing::warn!(
                    dropped_bytes = len - whole,
                    "dead letters: cutting a torn line at the tail"
                );
                f.set_len(whole)?;
                f.sync_data()?;
            }
            return Ok(());
        }
        pos -= n as u64;
    }
    tracing::warn!(
        dropped_bytes = len,
        "dead letters: cutting a torn line at the tail"
    );
    f.set_len(0)?;
    f.sync_data()
}

#[derive(Debug)]
pub struct DeadLetters {
    dir: PathBuf,
    files: Mutex<HashMap<String, File>>,
}

impl DeadLetters {
    pub fn new(dir: &Path) -> io::Result<DeadLetters> {
        fs::create_dir_all(dir)?;
        Ok(DeadLetters {
            dir: dir.to_owned(),
            files: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self, partner: &str) -> PathBuf {
        self.dir.join(format!("{partner}.ndjson"))
    }

    /// Appends `(ingest_ms, subjects, scrubbed event line)` and fsyncs.
    pub fn write_many<'a>(
        &self,
        partner: &str,
        events: impl Iterator<Item = (u64, &'a Subjects, &'a [u8])>,
        reason: &str,
        status: Option<u16>,
    ) -> io::Result<u64> {
        let mut buf = Vec::new();
        let mut n = 0;
        for (ms, subjects, line) in events {
            write_line(&mut buf, ms, subjects, line, reason, status);
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        let mut files = self.files.lock().unwrap();
        let file = match files.get_mut(partner) {
            Some(f) => f,
            None => {
                let f = OpenOptions::new()
                    .read(true)
                    .create(true)
                    .append(true)
                    .open(self.path(partner))?;
                cut_torn_tail(&f)?;
                files.entry(partner.to_owned()).or_insert(f)
            }
        };
        // All or nothing: a failed write or sync is cut back to the length
        // before it, so a torn line never stays for the next append to be
        // glued onto, and the caller keeps the events (not acknowledged).
        let before = file.metadata()?.len();
        if let Err(e) = file.write_all(&buf).and_then(|_| file.sync_data()) {
            if let Err(t) = file.set_len(before).and_then(|_| file.sync_data()) {
                tracing::error!(partner, error = %t, "dead letters: cannot cut back a failed append");
            }
            // Reopened next time (O_APPEND writes at the current end).
            files.remove(partner);
            return Err(e);
        }
        Ok(n)
    }

    /// Removes every dead letter of `subject` from every partner's file
    /// (rewritten to a temp file, fsync'd, renamed); returns how many.
    pub fn purge(&self, subjects: &[SubjectHash]) -> io::Result<u64> {
        let needles: Vec<String> = subjects
            .iter()
            .map(|s| format!("\"{}\"", crate::util::hex(s)))
            .collect();
        let mut files = self.files.lock().unwrap();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "ndjson") {
                continue;
            }
            let tmp = path.with_extension("ndjson.tmp");
            match Self::rewrite_without(&path, &tmp, &needles) {
                Ok(0) => {
                    fs::remove_file(&tmp)?;
                    continue;
                }
                Ok(n) => {
                    fs::rename(&tmp, &path)?;
                    File::open(&self.dir)?.sync_all()?;
                    // The cached append handle points at the replaced file.
                    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                        files.remove(stem);
                    }
                    removed += n;
                }
                Err(e) => {
                    // The original stays whole; a partial copy is removed.
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
        Ok(removed)
    }

    /// Copies `path` to `tmp` without the lines holding `needle`, fsync'd;
    /// returns how many lines were left out.
    fn rewrite_without(path: &Path, tmp: &Path, needles: &[String]) -> io::Result<u64> {
        let reader = io::BufReader::new(File::open(path)?);
        let mut out = io::BufWriter::new(File::create(tmp)?);
        let mut n = 0;
        for line in reader.split(b'\n') {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            if needles
                .iter()
                .any(|n| memchr::memmem::find(&line, n.as_bytes()).is_some())
            {
                n += 1;
                continue;
            }
            out.write_all(&line)?;
            out.write_all(b"\n")?;
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        if n > 0 {
            f.sync_all()?;
        }
        Ok(n)
    }
}
