//! `tribesd members` as a multicast doctor: in a namespace without multicast it says what is
//! wrong and how to fix it.

use tomcat_harness::netns::NetNs;

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");

fn members(ns: &NetNs, extra: &[&str]) -> (i32, String) {
    let out = ns.command(TRIBESD).args(["members", "--once", "--timeout", "1s"]).args(extra).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn without_multicast_the_doctor_names_the_errno_and_the_fix() {
    let Some(ns) = NetNs::for_test(true) else { return };
    // No route and no interface named: joining fails with ENODEV.
    let (code, err) = members(&ns, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("No such device"), "{err}");
    assert!(err.contains("hint: no interface can join the group (ENODEV"), "{err}");
    assert!(err.contains("--interface"), "{err}");
    // Interface named, but lo lacks the MULTICAST flag: nothing is heard, and the doctor says why.
    let (code, err) = members(&ns, &["--interface", "127.0.0.1"]);
    assert_eq!(code, 2, "nobody heard: {err}");
    assert!(err.contains("hint: nothing heard on 228.0.0.4:45564"), "{err}");
    assert!(err.contains("without the MULTICAST flag: lo"), "{err}");
}

#[test]
fn a_live_member_is_listed_once_and_its_shutdown_is_shown() {
    let Some(ns) = NetNs::for_test(false) else { return };
    let mut node = ns
        .command(TRIBESD)
        .args(["run", "--membership-bind", "127.0.0.1", "--receiver-address", "127.0.0.1", "--receiver-port", "4300"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let watcher = ns
        .command(TRIBESD)
        .args(["members", "--once", "--timeout", "3s", "--json", "--interface", "127.0.0.1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = std::process::Command::new("kill").args(["-TERM", &node.id().to_string()]).status();
    let _ = node.wait();
    let out = watcher.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0]["port"], 4300);
    assert_eq!(rows[0]["status"], "shut_down", "{text}");
}
