//! Test support shared by the interop tests: where the pinned stock Tomcat releases are, and how
//! to run the Java programs in `tests/java/` against one of them.
//!
//! The releases are listed in `tests/tomcat-versions` and unpacked by `scripts/fetch-tomcat.sh`
//! (run by `make test`) into `.cache/tomcat/apache-tomcat-VERSION`. A missing release is a test
//! failure with the command that fixes it, never a silent skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root exists")
}

/// One pinned stock Tomcat release, unpacked.
#[derive(Debug, Clone)]
pub struct Tomcat {
    /// The release, for example `10.1.59`.
    pub version: String,
    /// Its CATALINA_HOME.
    pub home: PathBuf,
}

impl Tomcat {
    /// The Tomcat line: `9.0`, `10.1` or `11.0`.
    pub fn line(&self) -> &str {
        let mut dots = self.version.match_indices('.');
        let second = dots.nth(1).map(|(i, _)| i).unwrap_or(self.version.len());
        &self.version[..second]
    }

    pub fn lib(&self, jar: &str) -> PathBuf {
        self.home.join("lib").join(jar)
    }
}

/// Every release in `tests/tomcat-versions`, in file order.
///
/// # Panics
/// When the list is empty or a release is not unpacked: run `make test` (or
/// `scripts/fetch-tomcat.sh`) first.
pub fn tomcats() -> Vec<Tomcat> {
    let root = repo_root();
    let list = std::fs::read_to_string(root.join("tests/tomcat-versions")).expect("tests/tomcat-versions is readable");
    let tomcats: Vec<Tomcat> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|version| Tomcat {
            version: version.to_string(),
            home: root.join(".cache/tomcat").join(format!("apache-tomcat-{version}")),
        })
        .collect();
    assert!(!tomcats.is_empty(), "tests/tomcat-versions lists no Tomcat release");
    for t in &tomcats {
        assert!(
            t.lib("catalina-tribes.jar").is_file(),
            "Tomcat {} is not unpacked at {}: run scripts/fetch-tomcat.sh (make test does)",
            t.version,
            t.home.display()
        );
    }
    tomcats
}

/// The pinned release of one line (`"10.1."`: its version starts with that).
///
/// # Panics
/// When no release of that line is pinned (tests/tomcat-versions) or unpacked.
pub fn pinned(version_prefix: &str) -> Tomcat {
    tomcats()
        .into_iter()
        .find(|t| t.version.starts_with(version_prefix))
        .unwrap_or_else(|| panic!("no pinned Tomcat {version_prefix}"))
}

/// Runs a script from `tests/java/` with the given arguments, feeding `stdin`, and returns its
/// standard output.
///
/// # Panics
/// When the script cannot start or exits non-zero; the panic message carries its stderr.
pub fn run_java_script(script: &str, args: &[&str], stdin: &[u8]) -> String {
    let root = repo_root();
    let path = root.join("tests/java").join(script);
    let mut child = Command::new("bash")
        .arg(&path)
        .args(args)
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    // Write from another thread so a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let out = child.wait_with_output().expect("java script runs to the end");
    writer.join().expect("stdin writer thread").expect("stdin written");
    assert!(
        out.status.success(),
        "{} {:?} failed with {}:\n{}",
        path.display(),
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("java output is UTF-8")
}

pub mod bridge;
pub mod http;
pub mod java_peer;
pub mod netns;
pub mod node;
pub mod order;
pub mod process;
