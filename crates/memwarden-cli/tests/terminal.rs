//! Text for a person at a terminal, on real runs and real terminals: the output fits the
//! terminal's width (a pseudo-terminal of 80 and of 160 columns), colors only there, text a
//! watched process chose never reaches the terminal raw, the processes are grouped by
//! command, and the words say what happened.

mod common;

use std::io::Read;
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

const T0: i64 = 1_714_557_600_000; // 2024-05-01T10:00:00Z

/// A judged leak with a long label and the processes of a spawner, written into the store.
fn spawner_run() -> FakeRun {
    let mut r = FakeRun::new(
        "nightly batch of the feature collector with a very long label that cannot fit",
        T0,
    );
    r.duration_s = 10.0;
    r.options = json!({"interval": "1s", "metric": "anon", "limit_bytes": 400 * MIB});
    r.verdict = Some(json!({
        "kind": "leak", "memory_kind": "leak", "growth_bytes_per_s": 10.0 * MIB as f64,
        "growth_ci_bytes_per_s": [9.5 * MIB as f64, 10.5 * MIB as f64],
        "detected_at_s": 6.0, "time_to_limit_s": 20.0, "limit_bytes": 400 * MIB,
        "reason": "the floor rose 10.0 MiB/s and kept rising; recent slope 1.0x the early one"
    }));
    r.samples = (0..=10)
        .map(|i| FakeSample {
            t: i as f64,
            anon: 100 * MIB + i * 10 * MIB,
            rss: 120 * MIB + i * 10 * MIB,
            threads: 4 + i,
            fds: 10 + i,
            processes: 1 + i as u32,
            mem_available: 8 << 30,
            ..Default::default()
        })
        .collect();
    // The runner, and ten helpers whose command line holds an inline script.
    r.processes = vec![(
        100,
        "/usr/bin/python3 batch.py --workers 8".into(),
        0.0,
        10.0,
        90 * MIB,
        100 * MIB,
        100 * MIB,
    )];
    r.processes.extend((0..10).map(|i| {
        (
            200 + i,
            "/usr/bin/python3 -c \nimport sys\nblock = bytearray(8 << 20)\n 8".to_string(),
            1.0 + i as f64 * 0.5,
            10.0,
            10 * MIB,
            10 * MIB,
            10 * MIB,
        )
    }));
    r
}

/// A memwarden started in the background, leading its own process group: killed with it if
/// the test fails before [`Background::finish`] collects its end.
struct Background(Option<std::process::Child>);

impl Background {
    fn spawn(command: &mut Command) -> Background {
        use std::os::unix::process::CommandExt;
        Background(Some(command.process_group(0).spawn().expect("spawn")))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    /// Sends `sig` to memwarden alone.
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child this test started and has not reaped.
        unsafe { libc::kill(self.id() as i32, sig) };
    }

    /// Waits for memwarden to end; its status and output.
    fn finish(mut self) -> std::process::Output {
        let child = self.0.take().expect("running");
        child.wait_with_output().expect("memwarden ends")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            // SAFETY: kill(2) on the group this child leads; it has not been reaped yet.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

/// Runs `cmd` with its stdout and stderr on a new pseudo-terminal `columns` wide; what it
/// wrote there.
fn run_on_pty(mut cmd: Command, columns: u16) -> String {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 50,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors into the given integers; no name or termios, a
    // window size read from `size`.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here.
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    // The terminal's own width, not one a shell exported.
    let mut child = cmd
        .env_remove("COLUMNS")
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .expect("memwarden starts");
    drop(cmd); // our copy of the terminal's other end: reading ends when the child's closes
    let mut out = Vec::new();
    // Reading the master after the child closed the slave ends with EIO: that is the end.
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    assert!(child.wait().unwrap().success());
    // A terminal turns each newline into CR LF.
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// The widest line of `text` as a terminal shows it, in characters: escape sequences take no
/// room and a carriage return starts the line again (the live status line redraws itself).
fn widest(text: &str) -> usize {
    let mut widest = 0;
    for line in text.lines() {
        let (mut n, mut escape) = (0, false);
        for c in line.chars() {
            match (escape, c) {
                (false, '\x1b') => escape = true,
                (false, '\r') => n = 0,
                (false, _) => {
                    n += 1;
                    widest = widest.max(n);
                }
                // A CSI sequence ends with a letter (or @ ~ and the like); `[` opens it.
                (true, '[') => {}
                (true, c) if ('\x40'..='\x7e').contains(&c) => escape = false,
                (true, _) => {}
            }
        }
    }
    widest
}

#[test]
fn text_fits_the_terminal_it_is_printed_on() {
    let lab = Lab::new();
    let mut db = lab.fake_store();
    spawner_run().insert(&mut db);
    let label = "nightly batch of the feature collector with a very long label that cannot fit";
    for command in [
        &["ls"][..],
        &["report"],
        &["compare", "1", "1", "--format", "text"],
    ] {
        let mut cmd = lab.memwarden();
        cmd.args(command).env_remove("NO_COLOR");
        let narrow = run_on_pty(cmd, 80);
        assert!(
            widest(&narrow) <= 80,
            "{command:?} at 80 columns:\n{narrow}"
        );
        let mut cmd = lab.memwarden();
        cmd.args(command).env("NO_COLOR", "1");
        let wide = run_on_pty(cmd, 160);
        assert!(widest(&wide) <= 160, "{command:?} at 160 columns:\n{wide}");
        assert!(!wide.contains('\x1b'), "NO_COLOR: {wide:?}");
        if command[0] != "compare" {
            assert!(
                wide.contains(label) && !narrow.contains(label),
                "the whole label at 160 columns only:\n{narrow}\n{wide}"
            );
        }
    }
    // Not a terminal: 80 columns, or what COLUMNS says.
    let out = lab.run(&["ls"]);
    let ls = stdout(&out);
    assert!(widest(&ls) <= 80 && !ls.contains(label), "{ls}");
    let line = ls.lines().nth(1).unwrap();
    for cell in [
        "1",
        "2024-05-01",
        "10.0s",
        "200.0 MiB",
        "leak",
        "0",
        "nightly batch",
    ] {
        assert!(line.contains(cell), "{cell} in {line}");
    }
    let out = lab
        .memwarden()
        .arg("ls")
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    assert!(stdout(&out).contains(label));
}

#[test]
fn the_summary_fits_and_colors_a_terminal() {
    let lab = Lab::new();
    let leak = lab.script("leak.py", LEAK);
    let py = python();
    let summary = |columns: u16, no_color: Option<&str>| {
        let mut cmd = lab.memwarden();
        cmd.args(["run", "--no-cgroup", "--interval", "50ms", "--label"])
            .arg("a label long enough to be cut at eighty columns, and whole at 160 ones")
            .args(["--", &py, leak.to_str().unwrap()]);
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        run_on_pty(cmd, columns)
    };
    let narrow = summary(80, None);
    assert!(widest(&narrow) <= 80, "{narrow}");
    assert!(narrow.contains("\x1b[1minconclusive\x1b[0m"), "{narrow:?}");
    let wide = summary(160, Some("1"));
    // The live status line clears itself with escapes; colors there are none.
    assert!(!wide.contains("m\x1b[0m"), "{wide:?}");
    let headline = wide.lines().find(|l| l.contains("memwarden: `"));
    assert!(
        headline.unwrap_or_default().contains(
            "`a label long enough to be cut at eighty columns, and whole at 160 ones` \
             exited with status 0 after"
        ),
        "the headline is one line at 160 columns: {wide}"
    );
}

#[test]
fn the_report_groups_processes_by_command_and_colors_only_on_a_terminal() {
    let lab = Lab::new();
    let mut db = lab.fake_store();
    spawner_run().insert(&mut db);

    let out = lab
        .memwarden()
        .arg("report")
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(!text.contains('\x1b'), "not a terminal: {text}");
    let verdict = text
        .lines()
        .position(|l| l.starts_with("  verdict  leaking ~10.0 MiB/s"));
    let memory = text.lines().position(|l| l.starts_with("  memory"));
    assert!(
        verdict.is_some() && verdict < memory,
        "the finding comes before the figures: {text}"
    );
    assert!(
        text.contains("at this rate it would have reached its limit (400.0 MiB) in 20.0s"),
        "{text}"
    );
    assert!(text.contains("why      the floor rose 10.0 MiB/s and kept rising"));
    // Ten helpers are one row, on one line, their inline script cut at its first line.
    let helpers = text
        .lines()
        .find(|l| l.contains("10 ×"))
        .unwrap_or_else(|| panic!("a row of ten helpers in\n{text}"));
    assert!(
        helpers.contains("10.0 MiB")
            && helpers.contains("100.0 MiB")
            && helpers.ends_with("python3 -c …"),
        "{helpers}"
    );
    assert!(text.contains("1 ×") && text.contains("python3 batch.py --workers 8"));
    assert!(!text.contains("import sys"), "{text}");
    let spark = text
        .lines()
        .find(|l| l.contains("0–200.0 MiB over 10.0s"))
        .unwrap_or_else(|| panic!("a sparkline in\n{text}"))
        .trim_start();
    assert!(
        spark.starts_with("▄▄▄") && spark.contains("███ 0–200.0 MiB"),
        "{spark}"
    );
    assert_eq!(spark.chars().take_while(|c| *c != ' ').count(), 60);

    let on_tty = |no_color: Option<&str>| {
        let mut cmd = lab.memwarden();
        cmd.arg("report");
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        run_on_pty(cmd, 120)
    };
    let colored = on_tty(None);
    assert!(colored.contains("\x1b[1;31mleaking\x1b[0m"), "{colored:?}");
    assert!(!on_tty(Some("1")).contains('\x1b'));
    assert!(
        on_tty(Some("")).contains('\x1b'),
        "an empty NO_COLOR does not count"
    );
}

/// A process whose arguments hold a terminal title, a clear screen and a forged line, and
/// which starts three helpers with the same arguments, and leaves behind one more whose name
/// is the first of them.
const HOSTILE: &str = r#"
import subprocess, sys, time
helpers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"] + sys.argv[1:])
           for _ in range(3)]
subprocess.Popen([sys.argv[1], "-c", "import time; time.sleep(60)"], executable=sys.executable)
for h in helpers:
    h.wait()
"#;

#[test]
fn watched_processes_cannot_write_to_the_terminal() {
    let lab = Lab::new();
    let evil = [
        "\x1b]0;pwned\x07\x1b[2J",
        "\nmemwarden: forged line\n",
        "\u{9b}31m",
    ];
    let py = python();
    let mut args = vec![
        "run",
        "--no-cgroup",
        "--interval",
        "100ms",
        "--",
        &py,
        "-c",
        HOSTILE,
    ];
    args.extend(evil);
    let out = lab.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let trace = lab.path("trace\x1b[2J.csv");
    std::fs::write(&trace, "t_seconds,anon_bytes\n0,100\n1,110\n2,120\n").unwrap();
    let outputs = [
        ("the summary", stderr(&out)),
        (
            "report",
            stdout(
                &lab.memwarden()
                    .arg("report")
                    .env("COLUMNS", "300")
                    .output()
                    .unwrap(),
            ),
        ),
        ("ls", stdout(&lab.run(&["ls"]))),
        (
            "compare",
            stdout(&lab.run(&["compare", "1", "1", "--format", "text"])),
        ),
        ("compare markdown", stdout(&lab.run(&["compare", "1", "1"]))),
        ("html", stdout(&lab.run(&["report", "--format", "html"]))),
        (
            "analyze",
            stdout(&lab.run(&["analyze", trace.to_str().unwrap()])),
        ),
    ];
    for (what, text) in &outputs {
        for raw in ['\x1b', '\x07', '\u{9b}'] {
            assert!(!text.contains(raw), "{what} holds {raw:?}: {text:?}");
        }
        assert!(
            !text.lines().any(|l| l.starts_with("memwarden: forged")),
            "{what} has a forged line: {text}"
        );
    }
    assert!(
        outputs[0].1.contains("outlived the command") && outputs[0].1.contains("\\x1b]0;pwned"),
        "the leftover is named, escaped, on the live line: {}",
        outputs[0].1
    );
    let report = &outputs[1].1;
    assert!(report.contains("\\x1b]0;pwned\\x07\\x1b[2J"), "{report}");
    assert!(report.contains("\\nmemwarden: forged line\\n"), "{report}");
    // The helpers are one group: the same command line, three times.
    assert!(
        report
            .lines()
            .any(|l| l.contains("3 ×") && l.contains("python3 -c import time")),
        "{report}"
    );
    assert!(
        outputs[6].1.contains("trace\\x1b[2J.csv"),
        "{}",
        outputs[6].1
    );
}

#[test]
fn the_end_says_who_ended_the_run() {
    let lab = Lab::new();
    // A command that handles the INT memwarden forwards, and exits 3.
    let ready = lab.path("ready");
    let script = format!(
        "trap 'exit 3' INT; touch {}; while :; do sleep 0.05; done",
        ready.display()
    );
    let mut cmd = lab.memwarden();
    cmd.args([
        "run",
        "--no-cgroup",
        "--interval",
        "100ms",
        "--",
        "sh",
        "-c",
        &script,
    ])
    .env("COLUMNS", "200")
    .stderr(Stdio::piped());
    let run = Background::spawn(&mut cmd);
    wait_for("the command to start", Duration::from_secs(20), || {
        ready.exists().then_some(())
    });
    run.signal(libc::SIGINT);
    let out = run.finish();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("exited with status 3 after memwarden forwarded SIGINT; it ran"),
        "{err}"
    );
    assert!(!err.contains("stopped by memwarden"), "{err}");

    // Ctrl-C on a watch ends the watch, and stops nothing.
    let mut sleeper = Command::new("sleep");
    sleeper.arg("30");
    let sleeper = Group::spawn(&mut sleeper);
    let mut cmd = lab.memwarden();
    cmd.args(["watch", "--interval", "100ms", &sleeper.id().to_string()])
        .stderr(Stdio::piped());
    let watch = Background::spawn(&mut cmd);
    wait_for("the watch to be recorded", Duration::from_secs(20), || {
        let out = lab.run(&["ls", "--format", "json"]);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (rows.as_array()?.len() == 2).then_some(())
    });
    watch.signal(libc::SIGINT);
    let out = watch.finish();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("` watched for ") && err.contains(", ended by SIGINT"),
        "{err}"
    );
    assert!(!err.contains("stopped by memwarden"), "{err}");
    assert!(alive(sleeper.id()), "the watched process lives on");

    // A run too short to judge says so, in lines that fit 80 columns.
    let out = lab
        .memwarden()
        .args(["run", "--no-cgroup", "--", "sh", "-c", "sleep 0.3"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("inconclusive: too short to judge (it lasted"),
        "{err}"
    );
    assert!(widest(&err) <= 80, "{err}");
}

#[test]
fn a_run_still_going_shows_its_figures_so_far() {
    let lab = Lab::new();
    let holder = lab.script(
        "hold.py",
        "import time\nb = bytearray(40 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n\
         time.sleep(60)\n",
    );
    let py = python();
    let mut cmd = lab.memwarden();
    cmd.args([
        "run",
        "--no-cgroup",
        "-q",
        "--interval",
        "50ms",
        "--label",
        "holder",
        "--",
    ])
    .args([&py, holder.to_str().unwrap()]);
    let run = Background::spawn(&mut cmd);
    let text = wait_for(
        "samples of the running run",
        Duration::from_secs(30),
        || {
            let out = lab.run(&["report"]);
            let text = stdout(&out);
            text.contains("anon peak 4").then_some(text)
        },
    );
    assert!(text.contains("end      still running, "), "{text}");
    assert!(text.contains("so far"), "{text}");
    assert!(!text.contains("could not be started"), "{text}");
    let ls = stdout(&lab.run(&["ls"]));
    let row = ls.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("running")
            && row.contains("+")
            && row.contains(" MiB")
            && row.ends_with("holder"),
        "{ls}"
    );
    let html = stdout(&lab.run(&["report", "--format", "html"]));
    assert!(html.contains("<span class=\"badge\">running</span>"));
    assert!(html.contains("Verdict so far:") && html.contains("Still running, "));
    // TERM is forwarded to the command, which ends; the run ends with it.
    run.signal(libc::SIGTERM);
    let out = run.finish();
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGTERM),
        "{}",
        stderr(&out)
    );
    let text = stdout(&lab.run(&["report"]));
    assert!(
        text.contains("killed by SIGTERM after memwarden forwarded SIGTERM"),
        "{text}"
    );
}

#[test]
fn a_run_writes_the_reports_asked_for_and_never_into_the_commands_output() {
    let lab = Lab::new();
    let py = python();
    let leak = lab.script("leak.py", LEAK);
    let files = ["out.html", "out.csv", "out.md", "out.svg", "out.json"];
    let out = lab.run(&[
        "run",
        "--no-cgroup",
        "-q",
        "--interval",
        "50ms",
        "--html",
        files[0],
        "--csv",
        files[1],
        "--markdown",
        files[2],
        "--svg",
        files[3],
        "--json",
        files[4],
        "--",
        &py,
        leak.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "quiet, and every report written");
    let read = |f: &str| std::fs::read_to_string(lab.path(f)).unwrap();
    assert!(read(files[0]).starts_with("<!DOCTYPE html>"));
    let csv = read(files[1]);
    assert!(
        csv.starts_with("t_seconds,anon_bytes,") && csv.lines().count() > 10,
        "{csv}"
    );
    let md = read(files[2]);
    assert!(
        md.starts_with("### memwarden · run 1: ") && md.contains("| end | exited with status 0"),
        "{md}"
    );
    let svg = read(files[3]);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
            && svg.contains("Memory: anon, what a leak grows")
            && svg.contains("<style>")
            && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    let json: serde_json::Value = serde_json::from_str(&read(files[4])).unwrap();
    assert_eq!(json["run_id"], 1);

    // `-` in `run` would mix the report into the command's stdout: refused before it starts.
    let ran = lab.path("ran");
    let out = lab.run(&["run", "--json", "-", "--", "touch", ran.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--json - would mix") && stderr(&out).contains("/dev/fd/3"));
    assert!(!ran.exists(), "nothing started");
    // In `watch`, stdout is memwarden's own: the JSON goes there, alone.
    let mut sleeper = Command::new("sleep");
    sleeper.arg("30");
    let sleeper = Group::spawn(&mut sleeper);
    let out = lab.run(&[
        "watch",
        "-q",
        "--duration",
        "300ms",
        "--interval",
        "100ms",
        "--json",
        "-",
        &sleeper.id().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = stdout_json(&out);
    assert_eq!(report["kind"], "watch");
}

#[test]
fn completions_a_manual_and_help_written_for_each_command() {
    let lab = Lab::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = lab.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("memwarden") && stdout(&out).contains("interval"));
    }
    let out = lab.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let man = stdout(&lab.run(&["man"]));
    assert!(
        man.contains(".TH memwarden 1") && man.contains("Examples:"),
        "{man}"
    );
    let man = stdout(&lab.run(&["man", "watch"]));
    assert!(
        man.contains(".TH memwarden-watch 1") && man.contains("\\-\\-duration"),
        "{man}"
    );
    let out = lab.run(&["man", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("run, watch, analyze"),
        "{}",
        stderr(&out)
    );

    // Help as one line of words, however clap wraps it.
    let help = |sub: &str| {
        let text = stdout(&lab.run(&[sub, "--help"]));
        let examples = text.contains("Examples:\n  memwarden ");
        (
            examples,
            text.split_whitespace().collect::<Vec<_>>().join(" "),
        )
    };
    for sub in [
        "run",
        "watch",
        "analyze",
        "ls",
        "report",
        "compare",
        "completions",
        "man",
    ] {
        assert!(help(sub).0, "{sub} --help has examples");
    }
    let (_, run) = help("run");
    assert!(
        run.contains("122 when the command succeeded but a CI gate failed"),
        "{run}"
    );
    let (_, watch) = help("watch");
    assert!(watch.contains("the watched processes") && watch.contains("Ctrl-C ends the watch"));
    assert!(
        !watch.contains("a kernel limit where the run has a cgroup"),
        "{watch}"
    );
    assert!(!watch.contains("--no-cgroup"), "watch never makes a cgroup");
    assert!(watch.contains("(default: the first watched process's command)"));
}
