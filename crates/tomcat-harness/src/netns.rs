//! A private network namespace for one test: only `lo`, with multicast on and 224.0.0.0/4 routed
//! to it, so that no cluster traffic can leave the machine.
//!
//! A holder process (`unshare --net`) keeps the namespace alive; every program of the test is
//! started inside it with `nsenter`. Making a namespace needs root (CI runs as root); without it
//! [`NetNs::new`] says why and tests fall back to static membership on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A network namespace that lives as long as this value.
pub struct NetNs {
    /// `None` for [`NetNs::current`].
    holder: Option<Child>,
}

impl NetNs {
    /// Makes the namespace and sets up `lo` for multicast.
    pub fn new() -> Result<NetNs, String> {
        Self::with_setup("ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo")
    }

    /// Makes a namespace whose `lo` is up but has neither the MULTICAST flag nor a multicast
    /// route: what a container without multicast looks like.
    pub fn without_multicast() -> Result<NetNs, String> {
        Self::with_setup("ip link set lo up")
    }

    fn with_setup(setup: &str) -> Result<NetNs, String> {
        let script = format!("{setup} && echo ready && exec sleep 100000");
        let mut holder = Command::new("unshare")
            .args(["--net", "--fork", "--kill-child", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .map_err(|e| format!("reading from the namespace holder: {e}"))?;
        if line.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().map_err(|e| e.to_string())?;
            return Err(format!(
                "cannot make a network namespace (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(NetNs { holder: Some(holder) })
    }

    /// The namespace this process is in: programs run directly, without `nsenter`, and nothing
    /// keeps their traffic on this machine. For `make demo` without root (static membership on
    /// 127.0.0.1); tests use [`NetNs::for_test`].
    pub fn current() -> NetNs {
        NetNs { holder: None }
    }

    /// Whether this is a private namespace (not [`NetNs::current`]).
    pub fn is_private(&self) -> bool {
        self.holder.is_some()
    }

    /// The shell words that run a program inside the namespace (`nsenter --net=/proc/PID/ns/net
    /// --`), empty for [`NetNs::current`]; for commands printed to a user.
    pub fn enter_prefix(&self) -> String {
        match self.pid() {
            Some(pid) => format!("nsenter --net=/proc/{pid}/ns/net -- "),
            None => String::new(),
        }
    }

    /// The namespace a test runs in, or `None` with a line saying why when namespaces cannot be
    /// made here (not root), in which case the test checks nothing. Under CI (root) that is an
    /// error.
    pub fn for_test(without_multicast: bool) -> Option<NetNs> {
        if !Self::available() {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root and must be able to make namespaces");
            eprintln!("not root: no network namespace can be made, so this test checks nothing here");
            return None;
        }
        let ns = if without_multicast { Self::without_multicast() } else { Self::new() };
        Some(ns.expect("network namespace"))
    }

    /// Whether this machine lets us make namespaces (we are root).
    pub fn available() -> bool {
        // Effective uid 0 is what `unshare --net` needs here.
        std::fs::read_to_string("/proc/self/status")
            .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")))
            .unwrap_or(false)
    }

    /// The pid whose namespace programs join: the `sh` that `unshare --fork` started.
    fn pid(&self) -> Option<u32> {
        // unshare --fork runs sh as its child; nsenter can target unshare itself, whose network
        // namespace is the new one too (unshare switches before forking).
        self.holder.as_ref().map(Child::id)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let Some(pid) = self.pid() else {
            return Command::new(program);
        };
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/proc/{pid}/ns/net")).arg("--").arg(program);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Some(holder) = &mut self.holder {
            let _ = holder.kill();
            let _ = holder.wait();
        }
    }
}
