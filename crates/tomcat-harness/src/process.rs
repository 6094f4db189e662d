//! A child process whose stdout and stderr go to a log file that tests poll.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running program; killed with SIGKILL when dropped.
pub struct LoggedChild {
    pub name: String,
    pub log_path: PathBuf,
    child: Option<Child>,
}

impl LoggedChild {
    /// Starts `command` with its output in `log_path` (created, with its folder).
    pub fn spawn(name: &str, mut command: Command, log_path: PathBuf) -> LoggedChild {
        std::fs::create_dir_all(log_path.parent().expect("log has a folder")).expect("log folder");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        LoggedChild { name: name.to_string(), log_path, child: Some(child) }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until the log has a line containing every one of `needles`, and returns that line.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> Result<String, String> {
        wait_for(timeout, || self.log().lines().find(|l| needles.iter().all(|n| l.contains(n))).map(str::to_string))
            .ok_or_else(|| {
                format!("{} logged no line with {needles:?} within {timeout:?}:\n{}", self.name, tail(&self.log(), 40))
            })
    }

    /// SIGKILL, as `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then up to `timeout` for the process to end (SIGKILL after that).
    pub fn terminate(&mut self, timeout: Duration) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `f` every 20 ms until it returns `Some`, or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
