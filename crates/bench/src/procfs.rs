//! Shared by the bench sections that fill a stock node and measure a node's memory: filling, and
//! reading processes from /proc.

use tomcat_harness::netns::NetNs;

/// The process whose command line contains `needle` (bounded scan of /proc).
pub fn find_pid(needle: &str) -> Result<u32, String> {
    let me = std::process::id();
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?;
    for e in entries.flatten().take(1_000_000) {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // nsenter execs the program itself, so the process with the needle is the program.
        if cmd.contains(needle) && !cmd.starts_with("nsenter") {
            return Ok(pid);
        }
    }
    Err(format!("no process with {needle:?} in its command line"))
}

/// `VmRSS` or `VmHWM` of a process, KiB.
/// CPU time (user + system, all threads) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) in parentheses: utime and stime
    // are fields 14 and 15 of the line, 12 and 13 after ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    let hz = clock_ticks_per_second()?;
    Some(std::time::Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// `getconf CLK_TCK`: the unit of the times in `/proc/PID/stat`.
fn clock_ticks_per_second() -> Option<u64> {
    static HZ: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        let out = std::process::Command::new("getconf").arg("CLK_TCK").output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|&hz| hz > 0)
    })
}

pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

/// Fills the stock node at `port` with `sessions` new sessions of one `chars`-character String
/// each: one curl, URL globbing over `x=[1-N]` without a cookie jar, so every request makes a
/// session (tests/webapp s.jsp `op=bulk`).
pub fn fill_stock(
    ns: &NetNs,
    port: u16,
    context: &str,
    sessions: usize,
    chars: usize,
    parallel: &str,
) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{port}{context}/s.jsp?op=bulk&n=1&size={chars}&prefix=a&x=[1-{sessions}]");
    let out = ns
        .command("curl")
        .args(["--silent", "--show-error", "--noproxy", "*", "--max-time", "900"])
        .args(["--parallel", "--parallel-max", parallel])
        .arg(&url)
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let made = String::from_utf8_lossy(&out.stdout).lines().filter(|l| *l == "bulk=1").count();
    if made != sessions {
        return Err(format!(
            "curl made {made} of {sessions} sessions ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().take(5).collect::<Vec<_>>().join("; ")
        ));
    }
    Ok(())
}

/// The sessions a stock node holds for `context`: peek.jsp's first line, "sessions=N" (curl, up
/// to 120 s: a node holding 100,000 sessions lists them all).
pub fn stock_count(ns: &NetNs, port: u16, context: &str) -> Result<usize, String> {
    let out = ns
        .command("curl")
        .args(["--silent", "--show-error", "--noproxy", "*", "--max-time", "120"])
        .arg(format!("http://127.0.0.1:{port}{context}/peek.jsp"))
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let body = String::from_utf8_lossy(&out.stdout);
    body.lines()
        .next()
        .and_then(|l| l.strip_prefix("sessions="))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("peek.jsp answered {:?}", body.chars().take(200).collect::<String>()))
}
