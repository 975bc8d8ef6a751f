//! The store never harms the command: unwritable paths, corrupt files, a full disk.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

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
        err.contains("is not a memwarden database: it is not a SQLite file")
            && err.contains("runs.db"),
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

/// Grows to 400 MiB at once, written so it is resident, then holds it for 3 s and exits 0.
const GROW_400: &str =
    "import time\nkeep = [b'\\x01' * (16 << 20) for _ in range(25)]\ntime.sleep(3)\n";

/// Another program holds a write transaction on the store for the whole run: the run is
/// guarded from its first interval (a polled limit, a timeout) and said to be unrecorded.
#[test]
fn a_locked_database_delays_no_guard_and_the_run_is_said_unrecorded() {
    let lab = Lab::new();
    assert!(lab.run(&["run", "-q", "--", "true"]).status.success());
    let holder = rusqlite::Connection::open(lab.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    lab.script("grow.py", GROW_400);
    let py = python();
    let out = lab.run(&[
        "run",
        "-q",
        "--no-cgroup",
        "--limit",
        "100MiB",
        "--grace",
        "1s",
        "--",
        &py,
        "grow.py",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(121), "the limit held: {err}");
    assert!(
        err.contains("this run will not be recorded") && err.contains("locked"),
        "said even with -q: {err}"
    );

    // The command would end by itself after 4 s, long before the store gives up.
    let out = lab.run(&["run", "-q", "--timeout", "1s", "--", "sleep", "4"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(124), "the timeout held: {err}");
    assert!(err.contains("this run will not be recorded"), "{err}");

    drop(holder);
    assert_eq!(lab.runs().len(), 1, "only the run before the lock");
}

/// Four runs started at once on a database that does not exist yet: the schema is created
/// once and every run is recorded (rounds repeat the race).
#[test]
fn runs_started_at_once_on_a_new_database_are_all_recorded() {
    for round in 0..4 {
        let lab = Lab::new();
        let children: Vec<_> = (0..4)
            .map(|i| {
                lab.memwarden()
                    .args(["run", "-q", "--label", &format!("r{i}"), "--", "true"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", stderr(&out));
            assert_eq!(
                stderr(&out),
                "",
                "round {round}: nothing lost, nothing to say"
            );
        }
        let mut labels: Vec<String> = lab
            .runs()
            .iter()
            .map(|r| r["label"].as_str().unwrap().to_string())
            .collect();
        labels.sort();
        assert_eq!(labels, ["r0", "r1", "r2", "r3"], "round {round}");
    }
}

/// A SQLite file of another program at the store's path is refused, never written into.
#[test]
fn another_programs_sqlite_file_is_refused_and_left_untouched() {
    let lab = Lab::new();
    {
        let c = rusqlite::Connection::open(lab.db()).unwrap();
        c.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada');")
            .unwrap();
    }
    let before = std::fs::read(lab.db()).unwrap();
    let out = lab.run(&["run", "--", "sh", "-c", "echo out; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "out\n");
    let err = stderr(&out);
    assert!(
        err.contains("this run will not be recorded")
            && err.contains("another program's SQLite database")
            && err.contains("users"),
        "{err}"
    );
    for args in [
        &["ls"][..],
        &["report"],
        &["rm", "1"],
        &["prune", "--older-than", "1s"],
    ] {
        let out = lab.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("another program's SQLite database"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        std::fs::read(lab.db()).unwrap(),
        before,
        "not one byte written"
    );
    assert!(!lab.path("runs.db-wal").exists());
}

/// A store path that is a symbolic link is followed only into a memwarden database: not into
/// a text file, another program's database, an empty file or nothing at all.
#[test]
fn a_link_is_followed_only_into_a_memwarden_database() {
    let lab = Lab::new();
    let link_to = |target: &std::path::Path| {
        let _ = std::fs::remove_file(lab.db());
        std::os::unix::fs::symlink(target, lab.db()).unwrap();
    };
    let notes = lab.script("notes.txt", "my notes\n");
    let empty = lab.script("empty", "");
    let foreign = lab.path("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let foreign_bytes = std::fs::read(&foreign).unwrap();
    let missing = lab.path("missing.db");
    let cases = [
        (&notes, "not a SQLite file"),
        (
            &empty,
            "a symbolic link to a file that is not a memwarden database",
        ),
        (
            &foreign,
            "a symbolic link to a file that is not a memwarden database",
        ),
        (&missing, "which does not exist"),
    ];
    for (target, why) in cases {
        link_to(target);
        let out = lab.run(&["run", "--", "true"]);
        assert_eq!(out.status.code(), Some(0));
        let err = stderr(&out);
        assert!(
            err.contains("this run will not be recorded") && err.contains(why),
            "{target:?}: {err}"
        );
        let out = lab.run(&["ls"]);
        assert_eq!(out.status.code(), Some(1), "{target:?}");
        assert!(stderr(&out).contains(why), "{target:?}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    assert_eq!(std::fs::read(&foreign).unwrap(), foreign_bytes);
    assert!(!missing.exists(), "nothing created through a dangling link");

    // A link to a real memwarden database is followed.
    let real = lab.path("real.db");
    let out = lab
        .memwarden()
        .env("MEMWARDEN_DB", &real)
        .args(["run", "-q", "--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    link_to(&real);
    let out = lab.run(&["run", "-q", "--", "true"]);
    assert_eq!(stderr(&out), "");
    assert_eq!(lab.runs().len(), 2);
}

/// `MEMWARDEN_DB=` set but empty is as good as unset: the default path is used.
#[test]
fn an_empty_memwarden_db_means_the_default_store() {
    let lab = Lab::new();
    let data = lab.path("data");
    let with_env = |args: &[&str]| {
        lab.memwarden()
            .env("MEMWARDEN_DB", "")
            .env("XDG_DATA_HOME", &data)
            .args(args)
            .output()
            .unwrap()
    };
    let out = with_env(&["run", "-q", "--label", "default", "--", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(data.join("memwarden/memwarden.db").exists());
    let out = with_env(&["ls"]);
    assert!(stdout(&out).contains("default"), "{}", stdout(&out));
}

/// A store written by the memwarden before this one (schema 2: no application id, no owner
/// columns) is brought up to date, its runs kept.
#[test]
fn a_database_of_an_older_memwarden_is_brought_up_to_date() {
    let lab = Lab::new();
    assert!(lab
        .run(&["run", "-q", "--label", "old", "--", "true"])
        .status
        .success());
    {
        let c = rusqlite::Connection::open(lab.db()).unwrap();
        c.execute_batch(
            "DROP TABLE heap_sites;
             ALTER TABLE runs DROP COLUMN heap;
             ALTER TABLE runs DROP COLUMN cgroup;
             ALTER TABLE runs DROP COLUMN pid_start_ticks;
             ALTER TABLE runs DROP COLUMN pid;
             PRAGMA user_version = 2;
             PRAGMA application_id = 0;",
        )
        .unwrap();
    }
    let listed = lab.runs();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "ended");
    let c = rusqlite::Connection::open(lab.db()).unwrap();
    let pragma = |name: &str| -> i64 { c.pragma_query_value(None, name, |r| r.get(0)).unwrap() };
    assert_eq!(pragma("user_version"), 4);
    assert_eq!(pragma("application_id"), 0x4D57_444E);
    assert!(lab.run(&["run", "-q", "--", "true"]).status.success());
    assert_eq!(lab.runs().len(), 2);
}

/// Each run records its memwarden's PID and start time, and its cgroup when it has one.
#[test]
fn a_run_records_who_recorded_it_and_its_cgroup() {
    let lab = Lab::new();
    assert!(lab.run(&["run", "-q", "--", "true"]).status.success());
    let mode = lab.runs()[0]["mode"].as_str().unwrap().to_string();
    let c = rusqlite::Connection::open(lab.db()).unwrap();
    let (pid, ticks, cgroup): (i64, i64, Option<String>) = c
        .query_row("SELECT pid, pid_start_ticks, cgroup FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert!(pid > 0 && ticks > 0, "{pid} {ticks}");
    match cgroup {
        Some(dir) => {
            assert_ne!(mode, "process-tree");
            assert!(dir.contains("memwarden-"), "{dir}");
        }
        None => assert_eq!(mode, "process-tree"),
    }
}

/// `ls`, `report` and `compare` for a user who may read the store but not write it or its
/// directory: nothing is written (no -wal or -shm created), whether a run is being recorded
/// or not.
#[test]
fn a_user_who_may_only_read_the_store_can_list_and_report() {
    if !is_root() {
        eprintln!("skipped: becoming user nobody needs root");
        return;
    }
    let lab = Lab::new();
    let world = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    world(lab.dir.path(), 0o755);
    // A world-readable copy of the binary: nobody may not reach the build directory.
    let bin = lab.path("memwarden");
    std::fs::copy(env!("CARGO_BIN_EXE_memwarden"), &bin).unwrap();
    world(&bin, 0o755);
    assert!(lab
        .run(&["run", "-q", "--label", "readable", "--", "true"])
        .status
        .success());
    world(&lab.db(), 0o644);
    let nobody = |args: &[&str]| {
        drop_to_nobody(lab.command(&bin).args(args))
            .output()
            .unwrap()
    };
    let before = std::fs::read(lab.db()).unwrap();
    for args in [
        &["ls"][..],
        &["report"],
        &["report", "readable", "--format", "json"],
        &["compare", "1", "1"],
    ] {
        let out = nobody(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("readable"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    assert_eq!(std::fs::read(lab.db()).unwrap(), before);
    assert!(!lab.path("runs.db-wal").exists() && !lab.path("runs.db-shm").exists());
    // Writing is refused with the system's reason, and the command is unharmed.
    let out = nobody(&["run", "--", "sh", "-c", "exit 6"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        stderr(&out).contains("will not be recorded"),
        "{}",
        stderr(&out)
    );

    // While root records a run, its -wal and -shm exist and nobody may only read them.
    let _ongoing = Group::spawn(lab.memwarden().args([
        "run",
        "-q",
        "--no-cgroup",
        "--label",
        "ongoing",
        "--",
        "sleep",
        "30",
    ]));
    wait_for("the run to be recorded", Duration::from_secs(20), || {
        (lab.runs().len() == 2 && lab.path("runs.db-shm").exists()).then_some(())
    });
    let out = nobody(&["ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    assert!(
        listed.contains("readable") && listed.contains("ongoing") && listed.contains("running"),
        "{listed}"
    );
}
