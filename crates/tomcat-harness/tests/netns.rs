use tomcat_harness::netns::NetNs;

#[test]
fn a_namespace_has_only_a_multicast_loopback() {
    let Some(ns) = NetNs::for_test(false) else { return };
    let out = ns.command("ip").args(["-o", "link"]).output().expect("ip runs");
    let links = String::from_utf8_lossy(&out.stdout);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("MULTICAST") && links.contains("UP"), "{links}");
    let out = ns.command("ip").args(["route", "show", "table", "all"]).output().expect("ip runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("224.0.0.0/4 dev lo"));
}
