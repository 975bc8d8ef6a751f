//! Both variants run, finish on time, exit 0 and say what they did (this test also makes
//! `cargo test --workspace` build the binaries that the scenario suite runs under memwarden).

use std::process::Command;

fn run(bin: &str) -> String {
    let out = Command::new(bin)
        .args(["--duration", "0.5"])
        .output()
        .expect("the scenario runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{bin}: {stderr}");
    assert!(
        stderr.lines().count() >= 2 && stderr.contains("done:"),
        "{stderr}"
    );
    stderr
}

#[test]
fn leaky_keeps_every_transaction() {
    let said = run(env!("CARGO_BIN_EXE_s4-leaky"));
    assert!(said.contains("(0 cleaned)"), "{said}");
}

#[test]
fn fixed_runs_under_its_watchdog() {
    let said = run(env!("CARGO_BIN_EXE_s4-fixed"));
    assert!(said.contains("0 watchdog cleanups"), "{said}");
}
