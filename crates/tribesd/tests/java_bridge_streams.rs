//! The Java bridge writes String attribute values without an `ObjectOutputStream`
//! (`io.tribesd.tomcat.bridge.JavaStreams`): tests/java/bridge/StreamCheck.java compares its bytes
//! with `ObjectOutputStream`'s for edge cases (empty, NUL, 1/2/3-byte characters, surrogates, the
//! 65535-byte boundary between TC_STRING and TC_LONGSTRING) and 2,000 random strings, in both jars
//! (javax and jakarta builds of one source), in this machine's JVM.

use std::path::Path;
use std::process::Command;

use tomcat_harness::bridge::jars;

fn check(jar: &Path, name: &str) {
    let root = tomcat_harness::repo_root();
    let classes = root.join("target/java/bridge-check").join(name);
    let _ = std::fs::remove_dir_all(&classes);
    std::fs::create_dir_all(&classes).expect("classes directory");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg("-cp")
        .arg(jar)
        .arg(root.join("tests/java/bridge/StreamCheck.java"))
        .output()
        .expect("run javac");
    assert!(javac.status.success(), "javac StreamCheck.java: {}", String::from_utf8_lossy(&javac.stderr));
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{}:{}", jar.display(), classes.display()))
        .arg("StreamCheck")
        .output()
        .expect("run java");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("checked "), "{name}: {stdout}");
    eprintln!("{name}: {}", stdout.trim());
}

#[test]
fn string_streams_equal_object_output_stream() {
    let jars = jars();
    check(&jars.javax, "javax");
    check(&jars.jakarta, "jakarta");
}
