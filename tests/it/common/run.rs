//! Running the real binary in tests, the way ripgrep's tests/util.rs does:
//! every failure prints the command, its exit code, stdout and stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// What one run of the binary did, with everything needed to explain a failure.
pub struct Run {
    pub cmd: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn exec(cmd: &mut Command) -> Run {
        Run::exec_stdin(cmd, None)
    }

    /// Runs `cmd`, feeding `stdin` (or nothing: stdin is closed).
    pub fn exec_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> Run {
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        let mut pipe = child.stdin.take().unwrap();
        let input = stdin.unwrap_or_default().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait");
        writer.join().unwrap();
        Run {
            cmd: shown,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with `what`, the command and everything it printed.
    #[track_caller]
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "\n{what}\n---- command ----\n{}\n---- exit code ----\n{:?}\n---- stdout ----\n{}\n---- stderr ----\n{}\n",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn code(&self, want: i32) -> &Run {
        if self.code != Some(want) {
            self.fail(&format!("expected exit code {want}"));
        }
        self
    }

    #[track_caller]
    pub fn check(&self, ok: bool, what: &str) -> &Run {
        if !ok {
            self.fail(what);
        }
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        self.check(
            self.stderr.contains(needle),
            &format!("stderr should contain {needle:?}"),
        )
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        self.check(
            self.stdout.contains(needle),
            &format!("stdout should contain {needle:?}"),
        )
    }

    #[track_caller]
    pub fn nowhere(&self, needle: &str) -> &Run {
        self.check(
            !self.stdout.contains(needle) && !self.stderr.contains(needle),
            &format!("{needle:?} must not appear in the output"),
        )
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| self.fail(&format!("stdout is not JSON: {e}")))
    }

    /// No secret value in stdout or stderr.
    #[track_caller]
    pub fn no_secrets(&self, secrets: &[String]) -> &Run {
        for s in secrets {
            self.nowhere(s);
        }
        self
    }
}
