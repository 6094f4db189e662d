//! The Tomcat Manager jars of `java-bridge/` (issue 7): `tribesd-tomcat9.jar` for Tomcat 9.0
//! (javax) and `tribesd-tomcat10.jar` for 10.1 and 11.0 (jakarta), each with the release build of
//! `crates/tribes-jni` inside.
//!
//! Tests build them with [`jars`] (`java-bridge/build.sh`, what `make java-bridge` runs, once per
//! test process); programs that run after `make java-bridge` find them with [`built_jar`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::Tomcat;

/// The two jars, as `java-bridge/build.sh` printed them.
#[derive(Debug)]
pub struct Jars {
    /// `tribesd-tomcat9.jar`, for Tomcat 9.0.
    pub javax: PathBuf,
    /// `tribesd-tomcat10.jar`, for Tomcat 10.1 and 11.0.
    pub jakarta: PathBuf,
}

/// The jar's file name for a Tomcat line: `tribesd-tomcat9.jar` for 9.0, `tribesd-tomcat10.jar`
/// otherwise.
pub fn jar_name(tomcat: &Tomcat) -> &'static str {
    match tomcat.line() {
        "9.0" => "tribesd-tomcat9.jar",
        _ => "tribesd-tomcat10.jar",
    }
}

/// Builds both jars once per process (`java-bridge/build.sh`: `cargo build --release -p
/// tribes-jni`, then Maven; serialised with flock, so parallel test binaries can call it).
///
/// # Panics
/// When the script fails (the message carries its output) or does not print a jar it built.
pub fn jars() -> &'static Jars {
    static JARS: OnceLock<Jars> = OnceLock::new();
    JARS.get_or_init(|| {
        let script = crate::repo_root().join("java-bridge/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("CARGO", env!("CARGO"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} failed with {}:\n{}\n{}",
            script.display(),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let jar = |name: &str| {
            let path = stdout
                .lines()
                .find(|l| l.ends_with(name))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("build.sh did not print {name}:\n{stdout}"));
            assert!(path.is_file(), "{} was not built", path.display());
            path
        };
        Jars { javax: jar("tribesd-tomcat9.jar"), jakarta: jar("tribesd-tomcat10.jar") }
    })
}

/// The jar for `tomcat`'s line, built by [`jars`] if this process has not built it yet.
pub fn jar_for(tomcat: &Tomcat) -> &'static Path {
    match tomcat.line() {
        "9.0" => &jars().javax,
        _ => &jars().jakarta,
    }
}

/// The jar for `tomcat`'s line as `make java-bridge` left it (`$CARGO_TARGET_DIR` or `target`,
/// then `java-bridge/`), without building anything. `Err` says how to build it.
pub fn built_jar(tomcat: &Tomcat) -> Result<PathBuf, String> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => crate::repo_root().join(dir),
        None => crate::repo_root().join("target"),
    };
    let jar = target.join("java-bridge").join(jar_name(tomcat));
    if jar.is_file() {
        Ok(jar)
    } else {
        Err(format!("{} is missing: run `make java-bridge` (make demo does)", jar.display()))
    }
}
