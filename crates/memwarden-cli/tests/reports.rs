//! Reports of recorded runs: HTML, CSV, text, `compare` and `ls` filters, on real runs and on
//! runs written into the store with fixed values (golden files, a week-long run).

mod common;

use common::*;

const T0: i64 = 1_714_557_600_000; // 2024-05-01T10:00:00Z

#[test]
fn ls_filters_by_label_and_start() {
    let lab = Lab::new();
    let mut db = lab.fake_store();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    FakeRun::new("nightly-1", T0).insert(&mut db);
    FakeRun::new("Nightly-2", T0 + 2 * 86_400_000).insert(&mut db);
    FakeRun::new("adhoc 50%_done", now_ms - 600_000).insert(&mut db);

    let labels = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ls", "--format", "json"];
        all.extend(args);
        let out = lab.run(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(labels(&[]).len(), 3);
    assert_eq!(labels(&["--label", "nightly"]), ["nightly-1", "Nightly-2"]);
    assert_eq!(labels(&["--label", "NIGHTLY-2"]), ["Nightly-2"]);
    assert_eq!(
        labels(&["--label", "%_"]),
        ["adhoc 50%_done"],
        "no wildcards"
    );
    assert_eq!(
        labels(&["--since", "2024-05-02"]),
        ["Nightly-2", "adhoc 50%_done"]
    );
    assert_eq!(
        labels(&["--since", "2024-05-03 10:00"]),
        ["Nightly-2", "adhoc 50%_done"]
    );
    assert_eq!(
        labels(&["--since", "2024-05-03T10:00:01Z"]),
        ["adhoc 50%_done"]
    );
    assert_eq!(labels(&["--since", "1h"]), ["adhoc 50%_done"]);
    assert_eq!(labels(&["--since", "5m"]), Vec::<String>::new());
    assert_eq!(
        labels(&["--since", "1h", "--label", "nightly"]),
        Vec::<String>::new()
    );

    let out = lab.run(&["ls", "--label", "weekly"]);
    assert_eq!(stdout(&out), "no runs match\n");
    let out = lab.run(&["ls", "--since", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));
}
