//! The store never harms the command: unwritable paths, corrupt files, a full disk.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn the_database_is_private() {
    let lab = Lab::new();
    let out = lab.run(&["run", "-q", "--", "true"]);
    assert!(out.status.success());
    let mode = std::fs::metadata(lab.db()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn an_unwritable_store_leaves_the_command_unharmed() {
    let lab = Lab::new();
    std::fs::write(lab.path("a-file"), "").unwrap();
    let out = lab
        .memwarden()
        .args(["run", "--db"])
        .arg(lab.path("a-file/runs.db"))
        .args(["--", "sh", "-c", "echo out; echo err >&2; exit 5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout(&out), "out\n", "the command's output is its own");
    let err = stderr(&out);
    assert!(
        err.contains("err\n"),
        "the command's stderr passes through: {err}"
    );
    assert!(
        err.contains("will not be recorded") && err.contains("a-file"),
        "{err}"
    );
    assert!(
        err.contains("stored   not recorded"),
        "the summary says so: {err}"
    );
}

#[test]
fn a_corrupt_store_is_a_clear_error_and_harms_no_run() {
    let lab = Lab::new();
    std::fs::write(lab.db(), vec![0x5a; 8192]).unwrap();
    let out = lab.run(&["ls"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("is not a usable memwarden database") && err.contains("runs.db"),
        "{err}"
    );
    let out = lab.run(&["run", "--", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("will not be recorded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_database_yet_is_explained() {
    let lab = Lab::new();
    let out = lab.run(&["report"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no runs recorded yet"),
        "{}",
        stderr(&out)
    );
}

/// A tiny tmpfs fills up while the run is being recorded.
#[test]
fn a_full_disk_loses_samples_not_the_command() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let lab = Lab::new();
    let mnt = lab.path("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=160k", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "mounting a tmpfs as root failed");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let out = lab
        .memwarden()
        .args(["run", "--interval", "10ms", "--db"])
        .arg(mnt.join("runs.db"))
        .args([
            "--",
            "python3",
            "-c",
            "import time; time.sleep(4); raise SystemExit(6)",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let err = stderr(&out);
    assert!(err.contains("the disk is full"), "{err}");
    assert!(
        err.contains("incomplete"),
        "the summary says the record is incomplete: {err}"
    );
    assert!(
        err.contains("exited with status 6"),
        "the summary is still printed: {err}"
    );
}
