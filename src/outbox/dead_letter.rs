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
        buf.extend_from_slice(crate::guard::hex(h).as_bytes());
        buf.push(b'"');
    }
    buf.extend_from_slice(b"],\"event\":");
    buf.extend_from_slice(line);
    buf.extend_from_slice(b"}\n");
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
                    .create(true)
                    .append(true)
                    .open(self.path(partner))?;
                files.entry(partner.to_owned()).or_insert(f)
            }
        };
        file.write_all(&buf)?;
        file.sync_data()?;
        Ok(n)
    }

    /// Removes every dead letter of `subject` from every partner's file
    /// (rewritten to a temp file, fsync'd, renamed); returns how many.
    pub fn purge(&self, subject: &SubjectHash) -> io::Result<u64> {
        let needle = format!("\"{}\"", crate::guard::hex(subject));
        let mut files = self.files.lock().unwrap();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "ndjson") {
                continue;
            }
            let reader = io::BufReader::new(File::open(&path)?);
            let tmp = path.with_extension("ndjson.tmp");
            let mut out = io::BufWriter::new(File::create(&tmp)?);
            let mut n = 0;
            for line in reader.split(b'\n') {
                let line = line?;
                if line.is_empty() {
                    continue;
                }
                if line.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    n += 1;
                    continue;
                }
                out.write_all(&line)?;
                out.write_all(b"\n")?;
            }
            let f = out.into_inner().map_err(|e| e.into_error())?;
            if n == 0 {
                drop(f);
                fs::remove_file(&tmp)?;
                continue;
            }
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()?;
            // The cached append handle points at the replaced file.
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                files.remove(stem);
            }
            removed += n;
        }
        Ok(removed)
    }
}
