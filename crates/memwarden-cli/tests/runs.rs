//! The store's runs through the command line: `ls` on no store, `report` and `compare` by
//! label, `rm` and `prune`, and a run in progress told from one whose memwarden died.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Runs labelled `labels`, one a day from 2024-05-01, each with a sample and an event.
fn store_with(lab: &Lab, labels: &[&str]) -> rusqlite::Connection {
    let mut conn = lab.fake_store();
    for (i, label) in labels.iter().enumerate() {
        let mut run = FakeRun::new(label, 1_714_557_600_000 + i as i64 * 86_400_000);
        run.duration_s = 10.0;
        run.samples.push(FakeSample {
            t: 1.0,
            anon: 10 * MIB,
            rss: 20 * MIB,
            processes: 1,
            mem_available: 1 << 30,
            ..FakeSample::default()
        });
        run.events.push((0.0, "start".into(), "started".into()));
        run.insert(&mut conn);
    }
    conn
}

fn count(conn: &rusqlite::Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn ids(lab: &Lab) -> Vec<i64> {
    lab.runs()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn ls_without_a_store_says_so_and_succeeds() {
    let lab = Lab::new();
    let out = lab.run(&["ls"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("no runs recorded yet in "),
        "{}",
        stdout(&out)
    );
    let out = lab.run(&["ls", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_json(&out), serde_json::json!([]));
    assert!(!lab.db().exists(), "listing creates no store");
    std::fs::write(lab.db(), b"").unwrap();
    let out = lab.run(&["ls"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("no runs recorded yet"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn report_and_compare_take_a_label_or_a_part_that_picks_one_label() {
    let lab = Lab::new();
    store_with(
        &lab,
        &["nightly-asan", "nightly-main", "nightly-main", "service"],
    );
    let title = |spec: &str| {
        let out = lab.run(&["report", spec]);
        assert!(out.status.success(), "{spec}: {}", stderr(&out));
        stdout(&out).lines().next().unwrap().to_string()
    };
    assert_eq!(
        title("nightly-main"),
        "run 3: nightly-main",
        "the latest with it"
    );
    assert_eq!(title("asan"), "run 1: nightly-asan");
    assert_eq!(title("MAIN"), "run 3: nightly-main", "one label, any case");
    assert_eq!(title("2"), "run 2: nightly-main");

    let out = lab.run(&["report", "nightly"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("'nightly' matches 3 runs of 2 different labels"),
        "{err}"
    );
    for id in ["1", "2", "3"] {
        assert!(
            err.lines().any(|l| l.trim_start().starts_with(id)),
            "run {id} is listed: {err}"
        );
    }
    assert!(!err.contains("service"), "{err}");

    let out = lab.run(&["compare", "asan", "main", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c = stdout_json(&out);
    assert_eq!(
        (
            c["before"]["run_id"].as_i64(),
            c["after"]["run_id"].as_i64()
        ),
        (Some(1), Some(3)),
        "{c}"
    );
    let out = lab.run(&["compare", "nightly", "service"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("matches 3 runs"), "{}", stderr(&out));
}

#[test]
fn rm_removes_runs_with_what_was_recorded_with_them() {
    let lab = Lab::new();
    let conn = store_with(
        &lab,
        &["nightly-asan", "nightly-main", "nightly-main", "service"],
    );
    let out = lab.run(&["rm", "--dry-run", "1", "service"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("would remove run 1: nightly-asan")
            && said.contains("would remove run 4: service")
            && said.contains("would remove 2 runs (dry run: nothing removed)"),
        "{said}"
    );
    assert_eq!(ids(&lab), [1, 2, 3, 4]);
    let out = lab.run(&["rm", "night"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("matches 3 runs"), "{}", stderr(&out));
    assert_eq!(ids(&lab), [1, 2, 3, 4]);

    let out = lab.run(&["rm", "1", "service", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("removed run 1: nightly-asan"), "{said}");
    assert!(said.ends_with("removed 2 runs\n"), "{said}");
    assert_eq!(ids(&lab), [2, 3]);
    assert_eq!(count(&conn, "samples"), 2, "their samples went with them");
    assert_eq!(count(&conn, "events"), 2);

    let out = lab.run(&["rm", "2", "99"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no run with id or label '99'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        ids(&lab),
        [2, 3],
        "nothing removed when one run is not found"
    );
    // What `report` would show is what `rm` removes: the latest run with the label.
    let out = lab.run(&["rm", "main"]);
    assert!(
        stdout(&out).contains("removed run 3: nightly-main"),
        "{}",
        stdout(&out)
    );
    assert_eq!(ids(&lab), [2]);
}

#[test]
fn prune_removes_the_runs_started_before_a_time() {
    let lab = Lab::new();
    let mut conn = store_with(&lab, &["old-a", "old-b", "kept-old"]);
    let mut recent = FakeRun::new("recent", now_ms() - 3_600_000);
    recent.duration_s = 5.0;
    recent.insert(&mut conn);

    let out = lab.run(&[
        "prune",
        "--older-than",
        "30d",
        "--label",
        "old-",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("would remove run 1: old-a") && said.contains("would remove run 2: old-b"),
        "{said}"
    );
    assert!(
        !said.contains("kept-old") && !said.contains("recent"),
        "{said}"
    );
    assert_eq!(ids(&lab), [1, 2, 3, 4]);

    let out = lab.run(&["prune", "--older-than", "30d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("removed 3 runs\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(ids(&lab), [4]);
    assert_eq!(count(&conn, "samples"), 0);

    let out = lab.run(&["prune", "--older-than", "2024-01-01"]);
    assert_eq!(stdout(&out), "no runs to remove\n");
    let out = lab.run(&["prune", "--older-than", "soon"]);
    assert_eq!(out.status.code(), Some(2), "a bad value is a usage error");
}

/// A run being recorded is listed and reported as running, and cannot be removed; once its
/// memwarden is killed, it is reported as such, not as running or as never started.
#[test]
fn a_run_in_progress_is_running_and_one_whose_memwarden_died_says_so() {
    let lab = Lab::new();
    let memwarden = Group::spawn(lab.memwarden().args([
        "run",
        "-q",
        "--no-cgroup",
        "--label",
        "long",
        "--",
        "sleep",
        "60",
    ]));
    let state = || Some(lab.runs().first()?["state"].as_str()?.to_string());
    wait_for("the run to be recorded", Duration::from_secs(20), || {
        (state()? == "running").then_some(())
    });
    let listed = stdout(&lab.run(&["ls"]));
    assert!(
        listed.contains("running") && !listed.contains("running?"),
        "{listed}"
    );
    // Killed once the store holds some of its samples.
    wait_for("samples to be stored", Duration::from_secs(20), || {
        let r = stdout_json(&lab.run(&["report", "--format", "json"]));
        (r["samples"].as_u64()? >= 2).then_some(())
    });
    let report = stdout(&lab.run(&["report"]));
    assert!(report.contains("still running"), "{report}");
    let out = lab.run(&["rm", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("still being recorded"),
        "{}",
        stderr(&out)
    );
    let out = lab.run(&["prune", "--older-than", "0s"]);
    assert!(
        stdout(&out).contains("kept 1 still running"),
        "{}",
        stdout(&out)
    );
    assert_eq!(ids(&lab), [1]);

    // SAFETY: kill(2) on our own child, not yet reaped (the Group reaps it).
    unsafe { libc::kill(memwarden.id() as i32, libc::SIGKILL) };
    wait_for("memwarden to die", Duration::from_secs(20), || {
        (!alive(memwarden.id())).then_some(())
    });
    wait_for("the run to be told dead", Duration::from_secs(20), || {
        (state()? == "memwarden-died").then_some(())
    });
    let listed = stdout(&lab.run(&["ls"]));
    assert!(listed.contains("memwarden died"), "{listed}");
    let report = stdout(&lab.run(&["report"]));
    assert!(report.contains("its memwarden died"), "{report}");
    assert!(
        !report.contains("could not be started") && !report.contains("lasted"),
        "{report}"
    );
    let json = stdout_json(&lab.run(&["report", "--format", "json"]));
    assert_eq!(json["state"], "memwarden-died");
    assert!(lab.run(&["rm", "1"]).status.success());
}
