//! Per-partner dead-letter files: `data_dir/dead_letters/<partner>.ndjson`,
//! one JSON object per event that will not be delivered, with the reason and
//! the partner's last status. Events are already scrubbed when they get
//! here; nothing raw is ever written.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

    /// Appends `(ingest_ms, scrubbed event line)` pairs and fsyncs.
    pub fn write_many<'a>(
        &self,
        partner: &str,
        events: impl Iterator<Item = (u64, &'a [u8])>,
        reason: &str,
        status: Option<u16>,
    ) -> io::Result<u64> {
        let now = crate::util::now_ms();
        let mut now_s = String::new();
        crate::event::format_utc((now / 1000) as i64, &mut now_s);
        let mut buf = Vec::new();
        let mut n = 0;
        for (ms, line) in events {
            let mut ingested = String::new();
            crate::event::format_utc((ms / 1000) as i64, &mut ingested);
            buf.extend_from_slice(b"{\"reason\":");
            serde_json::to_writer(&mut buf, reason).expect("vec write");
            buf.extend_from_slice(b",\"status\":");
            match status {
                Some(s) => buf.extend_from_slice(s.to_string().as_bytes()),
                None => buf.extend_from_slice(b"null"),
            }
            buf.extend_from_slice(b",\"ingested_at\":\"");
            buf.extend_from_slice(ingested.as_bytes());
            buf.extend_from_slice(b"\",\"dead_lettered_at\":\"");
            buf.extend_from_slice(now_s.as_bytes());
            buf.extend_from_slice(b"\",\"event\":");
            buf.extend_from_slice(line);
            buf.extend_from_slice(b"}\n");
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
}
