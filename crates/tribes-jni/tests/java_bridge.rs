//! The bridge jars (java-bridge/) in the JVM, on each pinned stock Tomcat's classpath: 9.0 with
//! `tribesd-tomcat9.jar` (javax), 10.1 and 11.0 with `tribesd-tomcat10.jar` (jakarta).
//!
//! `java-bridge/build.sh` (what `make java-bridge` runs) builds the release library and both jars
//! once per test run; `tests/java-bridge/run.sh` runs `BridgeSmoke.java` against a Tomcat. The
//! library is extracted from the jar into a fresh directory shared by the three JVMs, which start
//! at once. A jar whose library cannot be loaded fails the smoke test (the first thing it does is
//! load it); the load-failure test checks what the error says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tomcat_harness::{repo_root, tomcats, Tomcat};
use tribes_jni::batch::{self, Batch, Change};

/// The jar for a Tomcat line, and its flavour.
fn jar_for(tomcat: &Tomcat) -> (&'static Path, &'static str) {
    let flavour = if tomcat.line() == "9.0" { "javax" } else { "jakarta" };
    (tomcat_harness::bridge::jar_for(tomcat), flavour)
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn fields(&self) -> HashMap<String, String> {
        self.stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn field(&self, key: &str) -> String {
        self.fields()
            .remove(key)
            .unwrap_or_else(|| panic!("no {key}= in the output:\n{}\n{}", self.stdout, self.stderr))
    }
}

fn run_smoke(tomcat: &Tomcat, jar: &Path, jvm: &[String], args: &[&str]) -> Run {
    let script = repo_root().join("tests/java-bridge/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&tomcat.home)
        .arg(jar)
        .args(jvm)
        .arg("--")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    Run {
        ok: out.status.success() && out.stdout.ends_with(b"ok\n"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tribes-jni-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_tomcat_line_loads_its_jar_and_hands_batches_to_the_native_node() {
    let dir = fresh_dir("smoke");
    // Extracted into a directory of its own, by three JVMs at once.
    let native = dir.join("native");
    let jvm = vec![format!("-Dtribesd.native.dir={}", native.display())];
    let runs: Vec<(Tomcat, Run)> = std::thread::scope(|s| {
        let handles: Vec<_> = tomcats()
            .into_iter()
            .map(|t| {
                let jvm = &jvm;
                s.spawn(move || {
                    let (jar, flavour) = jar_for(&t);
                    let run = run_smoke(&t, jar, jvm, &["smoke", env!("CARGO_PKG_VERSION"), flavour]);
                    (t, run)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("smoke thread")).collect()
    });

    // The batch BridgeSmoke writes with ChangeBatch.java, as our encoder writes it.
    let golden = batch::encode(&Batch {
        context: "/a".into(),
        session_id: "S1".into(),
        changes: vec![
            Change::Create { max_inactive_interval: None },
            Change::SetAttribute {
                name: "k".into(),
                value: bytes::Bytes::from_static(&[0xAC, 0xED, 0x00, 0x05, 0x74, 0x00, 0x01, b'v']),
            },
            Change::Access,
        ],
    });
    for (t, run) in &runs {
        let v = &t.version;
        assert!(run.ok, "Tomcat {v}: BridgeSmoke failed:\n{}\n{}", run.stdout, run.stderr);
        assert!(Path::new(&run.field("loaded")).starts_with(&native), "Tomcat {v}: loaded {}", run.field("loaded"));
        assert_eq!(run.field("version"), env!("CARGO_PKG_VERSION"), "Tomcat {v}");
        assert_eq!(run.field("golden"), hex(&golden), "Tomcat {v}: ChangeBatch.java and batch::encode differ");
        assert_eq!(run.field("taken"), "14", "Tomcat {v}");
        assert_eq!(
            run.field("stats"),
            r#"{"submitted":2,"processed":2,"changes":17,"refused":0,"members":0,"sessions":0}"#,
            "Tomcat {v}"
        );
        for (key, needle) in [
            ("truncated-error", "bad request batch (224 bytes): batch truncated at offset 215"),
            ("garbage-error", "does not start with the magic \"TB\""),
            ("bad-value-error", "operation 0 (attribute \"cart\"): not a valid Java stream"),
            ("null-error", "the request batch is null"),
            ("config-error", "unknown field `workerThread`"),
            ("stopped-error", "no running node has handle"),
            ("double-stop-error", "no running node has handle"),
        ] {
            let message = run.field(key);
            assert!(message.starts_with("tribes-jni: ") && message.contains(needle), "Tomcat {v}: {key}={message}");
        }
        assert_eq!(run.field("manager"), "started-and-stopped", "Tomcat {v}");
        let refused = run.field("non-serializable-error");
        assert!(refused.contains("socket"), "Tomcat {v}: non-serializable-error={refused}");
        assert!(
            run.stderr.contains("is not inside a io.tribesd.tomcat.TribesdCluster: its sessions are NOT replicated"),
            "Tomcat {v}: no warning about the manager outside a TribesdCluster:\n{}",
            run.stderr
        );
    }
    let extracted: Vec<_> =
        std::fs::read_dir(&native).expect("native dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(extracted.len(), 1, "one library file, no temporary files left: {extracted:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_library_that_cannot_load_is_reported_with_its_file_and_reason() {
    let dir = fresh_dir("fail");
    let not_a_library = dir.join("libnot.so");
    std::fs::write(&not_a_library, b"not an ELF file").expect("write");
    let tomcat = tomcats().into_iter().next().expect("a Tomcat");
    let (jar, _) = jar_for(&tomcat);
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec![format!("-Dtribesd.native.library={}", not_a_library.display())],
            vec![not_a_library.display().to_string(), "the JVM refused it".into(), "too short".into()],
        ),
        (
            vec!["-Dtribesd.native.dir=/dev/null/native".into()],
            vec![
                "resource META-INF/native/linux-x86_64/libtribes_jni.so extracted to /dev/null/native/".into(),
                "cannot create directory /dev/null/native".into(),
            ],
        ),
        (
            vec!["-Dos.arch=riscv64".into(), format!("-Dtribesd.native.dir={}", dir.join("n").display())],
            vec![
                "resource META-INF/native/linux-riscv64/libtribes_jni.so is not in".into(),
                "no native library for linux-riscv64".into(),
            ],
        ),
    ];
    for (jvm, needles) in cases {
        let run = run_smoke(&tomcat, jar, &jvm, &["load-fail"]);
        assert!(run.ok, "{jvm:?}: BridgeSmoke load-fail failed:\n{}\n{}", run.stdout, run.stderr);
        let message = run.field("load-error");
        assert!(message.starts_with("tribesd: cannot load the native library"), "{jvm:?}: {message}");
        for needle in needles {
            assert!(message.contains(&needle), "{jvm:?}: {needle:?} not in {message:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
