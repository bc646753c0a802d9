//! Small helpers shared by several modules.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A random token of `n` bytes, base64url without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Lets one log line per key through every [`LOG_WINDOW`] and counts the
/// ones it holds back, so a flood (connections, wrong tokens, a failing
/// partner) writes a line per window with "and N more", not a line per
/// event.
pub struct LogLimiter {
    seen: std::sync::Mutex<std::collections::BTreeMap<String, (std::time::Instant, u64)>>,
}

/// The window of [`LogLimiter`].
pub const LOG_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// Keys remembered at most (partner and producer names are few; beyond
/// this the oldest windows are forgotten).
const LOG_KEYS: usize = 1024;

impl LogLimiter {
    pub const fn new() -> LogLimiter {
        LogLimiter {
            seen: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// `Some(n)` when a line for `key` is due now, `n` being how many were
    /// held back in the window before; `None` to hold this one back.
    pub fn allow(&self, key: &str) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(key) {
            Some((since, held)) if now.duration_since(*since) < LOG_WINDOW => {
                *held += 1;
                None
            }
            Some((since, held)) => {
                let n = *held;
                *since = now;
                *held = 0;
                Some(n)
            }
            None => {
                if seen.len() >= LOG_KEYS {
                    seen.retain(|_, (since, _)| now.duration_since(*since) < LOG_WINDOW);
                    if seen.len() >= LOG_KEYS {
                        return None;
                    }
                }
                seen.insert(key.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter::new()
    }
}

/// Failures in a row of one store (a failing disk fails every write), so
/// that they are logged at the 1st, 2nd, 4th, 8th… and once when they end,
/// while the metric counts every one.
#[derive(Debug, Default)]
pub struct FailuresInARow(std::sync::atomic::AtomicU32);

impl FailuresInARow {
    /// Counts one more failure; true when this one is to be logged.
    pub fn fail(&self) -> bool {
        let n = self
            .0
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .saturating_add(1);
        n.is_power_of_two()
    }

    /// Is the latest failure one that is logged?
    pub fn logged(&self) -> bool {
        self.0
            .load(std::sync::atomic::Ordering::Relaxed)
            .is_power_of_two()
    }

    /// Ends the run: how many failures it had (0 when there were none).
    pub fn succeed(&self) -> u32 {
        self.0.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

/// " (and N more in the last 10 s)" for a [`LogLimiter`] count; empty for 0.
pub fn held_back(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" (and {n} more in the last {} s)", LOG_WINDOW.as_secs())
    }
}

/// Raises the soft limit on open files to the hard limit (each partner,
/// connection and outbox segment holds descriptors; distributions often
/// start services at a soft 1024). Returns `(old, new)` soft limits when
/// it changed them.
pub fn raise_nofile_limit() -> std::io::Result<Option<(u64, u64)>> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let old = lim.rlim_cur;
    if old >= lim.rlim_max {
        return Ok(None);
    }
    // An unlimited hard limit cannot be the soft one on Linux (capped by
    // fs.nr_open): fall back to that cap.
    let mut want = lim.rlim_max;
    if want == libc::RLIM_INFINITY {
        want = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
    }
    if want <= old {
        return Ok(None);
    }
    let new = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Some((old, want)))
}

/// The calling thread's nice value (Linux: per thread).
pub fn thread_nice() -> std::io::Result<i32> {
    // getpriority may return -1 as a value: errno tells an error apart.
    // SAFETY: errno is this thread's own int; getpriority only reads its
    // integer arguments.
    let n = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
    };
    let err = std::io::Error::last_os_error();
    if n == -1 && err.raw_os_error() != Some(0) {
        return Err(err);
    }
    Ok(n)
}

/// Sets the calling thread's nice value (at most 19). Linux schedules
/// threads, so no other thread of the process is touched. A thread that
/// serves no waiting request (the privacy store's writer, push delivery)
/// runs a few values below the process: it yields the CPU to ingest when
/// both want it, and runs at full speed when ingest does not.
pub fn set_thread_nice(nice: i32) -> std::io::Result<()> {
    // SAFETY: setpriority only reads its integer arguments.
    let r = unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            nice.min(19),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// How often freed heap memory is handed back to the system.
pub const MEMORY_TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Hands freed heap memory back to the system. glibc's allocator keeps
/// what a burst of large bodies freed in its arenas (RSS stays at the
/// peak); `malloc_trim` releases the free pages of every arena. A few
/// milliseconds at most, run off the async workers every
/// [`MEMORY_TRIM_INTERVAL`]. Other C libraries: nothing to do.
pub fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a padding size and touches only the
    // allocator's own free lists; safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_are_logged_at_powers_of_two_and_end_once() {
        let f = FailuresInARow::default();
        let logged: Vec<bool> = (1..=9).map(|_| f.fail()).collect();
        assert_eq!(
            logged,
            [true, true, false, true, false, false, false, true, false]
        );
        assert!(!f.logged(), "the 9th is not");
        assert_eq!(f.succeed(), 9);
        assert_eq!(f.succeed(), 0, "a success after a success ends nothing");
        assert!(f.fail(), "a new run logs its first failure");
    }

    #[test]
    fn log_limiter_lets_one_line_per_window_through_and_counts_the_rest() {
        let l = LogLimiter::new();
        assert_eq!(l.allow("a"), Some(0));
        assert_eq!(l.allow("a"), None);
        assert_eq!(l.allow("a"), None);
        assert_eq!(l.allow("b"), Some(0));
        // Move the window back as if it had passed.
        l.seen.lock().unwrap().get_mut("a").unwrap().0 -= LOG_WINDOW;
        assert_eq!(l.allow("a"), Some(2));
        assert_eq!(held_back(2), " (and 2 more in the last 10 s)");
    }
}
