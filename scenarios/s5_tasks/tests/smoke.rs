//! Both variants run, finish on time, exit 0 and say what they did (this test also makes
//! `cargo test --workspace` build the binaries that the scenario suite runs under memwarden).

use std::process::Command;

fn run(bin: &str) -> String {
    let out = Command::new(bin)
        .args(["--duration", "0.5", "--tick-ms", "50"])
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
fn leaky_leaves_its_tasks_waiting() {
    let said = run(env!("CARGO_BIN_EXE_s5-leaky"));
    assert!(said.contains("tasks still waiting"), "{said}");
}

#[test]
fn fixed_ends_its_tasks() {
    let said = run(env!("CARGO_BIN_EXE_s5-fixed"));
    assert!(said.contains("0 skipped by the gate"), "{said}");
}
