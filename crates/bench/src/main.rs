//! `make bench`: each section measures tribesd and stock Tomcat side by side in one run and
//! returns a Markdown section; all of them are written to docs/benchmarks.md with a description
//! of the machine. Speed is measured here only, never asserted in tests.
//!
//! `tribes-bench [SECTION...]` runs the named sections (all by default).

use std::fmt::Write as _;

mod channel;
mod jser_bench;
mod manager;
mod procfs;
mod state;

/// One benchmark section: a name for the command line and a function producing Markdown.
struct Section {
    name: &'static str,
    run: fn() -> Result<String, String>,
}

const SECTIONS: &[Section] = &[
    Section { name: "jser", run: jser_bench::run },
    Section { name: "channel", run: channel::run },
    Section { name: "state", run: state::run },
    Section { name: "manager", run: manager::run },
];

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let mut doc = String::from("# Benchmarks\n\nWritten by `make bench`; every number in a table was measured in the same run as the\nnumbers it is compared with. Speed is never asserted in tests.\n\n");
    let _ = writeln!(doc, "## Machine\n\n{}\n", machine());
    let mut failed = false;
    for s in SECTIONS.iter().filter(|s| wanted.is_empty() || wanted.iter().any(|w| w == s.name)) {
        eprintln!("bench: {} ...", s.name);
        match (s.run)() {
            Ok(md) => doc.push_str(&md),
            Err(e) => {
                eprintln!("bench: {} failed: {e}", s.name);
                let _ = writeln!(doc, "## {}\n\nFailed in this run: {e}\n", s.name);
                failed = true;
            }
        }
    }
    let path = tomcat_harness::repo_root().join("docs/benchmarks.md");
    std::fs::write(&path, doc).expect("write docs/benchmarks.md");
    eprintln!("bench: wrote {}", path.display());
    if failed {
        std::process::exit(1);
    }
}

/// CPU model, core count, memory and the Java and Rust versions.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0) / 1024 / 1024)
        })
        .unwrap_or(0);
    let java = std::process::Command::new("java")
        .arg("-version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("").to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} GiB; {java}; Tomcat releases from tests/tomcat-versions")
}
