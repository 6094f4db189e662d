//! Reading processes from /proc, shared by the bench sections that measure a node's memory.

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
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}
