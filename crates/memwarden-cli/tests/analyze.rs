//! `analyze` under hostile input: devices, FIFOs, growing logs, huge lines, binary data, time
//! columns in other units, logs cut short. Memory stays bounded and errors stay short.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// What a finished `memwarden` printed, and the most memory it was resident in.
struct Measured {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    max_rss_mib: f64,
}

/// Runs `memwarden ARGS` to its end and reads its peak resident memory from wait4 (the kernel's
/// own account, for the process alone).
// The child is reaped by wait4 below, which std's Child does not know of.
#[allow(clippy::zombie_processes)]
fn measured(lab: &Lab, args: &[&str]) -> Measured {
    let mut child = lab
        .memwarden()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("memwarden starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            r.read_to_string(&mut s).expect("utf-8 output");
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child, reaped here (the
    // Child handle is never waited on afterwards).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    }
}

/// The peak a bounded `analyze` stays under here, a debug build included. Reading the whole
/// input (as `analyze` once did) costs more than the inputs these tests give it.
const BOUNDED_MIB: f64 = 32.0;

/// A CSV row of the synthetic trace: 1 KiB more every second on top of 100 MiB.
fn row(i: u64) -> String {
    format!("{}.0,{}\n", i, (100 << 20) + i * 1024)
}

#[test]
fn a_device_of_zeros_is_refused_at_once() {
    let lab = Lab::new();
    let m = measured(&lab, &["analyze", "/dev/zero"]);
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    assert_eq!(
        m.stderr,
        "memwarden: /dev/zero: the trace is not text: it has NUL bytes: binary data, not a trace\n"
    );
    assert!(m.max_rss_mib < BOUNDED_MIB, "{} MiB", m.max_rss_mib);
    let m = measured(&lab, &["analyze", "/dev/urandom"]);
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    assert!(
        m.stderr.starts_with("memwarden: /dev/urandom: ") && m.stderr.contains("binary data"),
        "{}",
        m.stderr
    );
    assert!(m.stderr.len() < 300, "{}", m.stderr);
}

#[test]
fn a_huge_line_is_an_error_quoting_only_its_start() {
    let lab = Lab::new();
    let path = lab.path("one-line.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(b"t_seconds,rss_bytes\n").unwrap();
    let chunk = vec![b'7'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\n0,5\n").unwrap();
    drop(f);
    let m = measured(&lab, &["analyze", path.to_str().unwrap()]);
    assert_eq!(m.code, Some(1), "{}", m.stderr);
    assert!(
        m.stderr
            .contains("one-line.csv: line 2: longer than 64 KiB")
            && m.stderr.contains("\"7777"),
        "{}",
        m.stderr
    );
    assert!(
        m.stderr.len() < 300,
        "the error quotes an excerpt: {}",
        m.stderr
    );
    assert!(m.max_rss_mib < BOUNDED_MIB, "{} MiB", m.max_rss_mib);
}

#[test]
fn binary_data_after_a_good_start_names_its_line() {
    let lab = Lab::new();
    let path = lab.path("mixed.csv");
    let mut bytes = b"t_seconds,rss_bytes\n".to_vec();
    // More than the first read takes, so the binary data comes after it.
    for i in 0..30_000 {
        bytes.extend(row(i).as_bytes());
    }
    bytes.extend([0xff, 0xfe, 0x00, 0x12, b'\n']);
    std::fs::write(&path, bytes).unwrap();
    let out = lab.run(&["analyze", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "memwarden: mixed.csv: line 30002: not UTF-8 text (binary data in the trace?)\n"
            .replace("mixed.csv", path.to_str().unwrap())
    );
}

/// A FIFO whose writer sends many megabytes: read as it comes, never held whole.
#[test]
fn a_fifo_is_read_as_a_stream_in_bounded_memory() {
    let lab = Lab::new();
    let fifo = lab.path("trace.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    const ROWS: u64 = 1_500_000;
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&fifo).unwrap());
            let header = b"t_seconds,anon_bytes,host\n";
            f.write_all(header).unwrap();
            let mut sent = header.len();
            // A wide third column: the input is several times the bound.
            let host = ",build-worker-17.ci.example.invalid.with.a.long.name";
            for i in 0..ROWS {
                let r = row(i).replace('\n', host) + "\n";
                sent += r.len();
                f.write_all(r.as_bytes()).unwrap();
            }
            sent
        })
    };
    let m = measured(
        &lab,
        &["analyze", "--format", "json", fifo.to_str().unwrap()],
    );
    let sent = writer.join().unwrap();
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    let r: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert_eq!(r["samples"], ROWS, "{r}");
    // Every row was read: the last one's value is the end (the verdict is the detector's).
    assert_eq!(
        r["memory"]["end_bytes"],
        ((100 << 20) + (ROWS - 1) * 1024) as f64
    );
    assert!(
        (sent as f64) > 2.0 * BOUNDED_MIB * MIB as f64,
        "the input ({sent} bytes) is larger than the bound"
    );
    assert!(m.max_rss_mib < BOUNDED_MIB, "{} MiB", m.max_rss_mib);
}

/// A log still being written: read up to where it ends when read, judged, and done.
#[test]
fn a_growing_log_is_judged_as_far_as_it_goes() {
    let lab = Lab::new();
    let log = lab.path("growing.csv");
    std::fs::write(
        &log,
        format!("t_seconds,anon_bytes\n{}", {
            (0..2000).map(row).collect::<String>()
        }),
    )
    .unwrap();
    let appender = format!(
        "import time\nf = open({:?}, 'a')\ni = 2000\nwhile True:\n    f.write('%d.0,%d\\n' % (i, (100 << 20) + i * 1024)); f.flush(); i += 1; time.sleep(0.001)\n",
        log.to_str().unwrap()
    );
    let _writer = Group::spawn(Command::new(python()).args(["-c", &appender]));
    wait_for("the log to grow", Duration::from_secs(20), || {
        (std::fs::metadata(&log).ok()?.len() > 2000 * 18 + 200).then_some(())
    });
    let m = measured(
        &lab,
        &["analyze", "--format", "json", log.to_str().unwrap()],
    );
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    let r: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert!(r["samples"].as_u64().unwrap() > 2000, "{r}");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../memwarden/tests/fixtures")
        .join(name)
}

/// psrecord and mprof killed mid-write leave a last line without its end: skipped, said.
#[test]
fn logs_cut_short_by_a_killed_recorder_are_judged_with_a_note() {
    let lab = Lab::new();
    for (name, keep) in [("psrecord_slow_leak.log", 13), ("mprof_slow_leak.dat", 5)] {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let whole = text.trim_end().lines().count();
        // Everything but the last line's tail: the last line keeps `keep` characters.
        let cut_at = text.trim_end().rfind('\n').unwrap() + 1 + keep;
        let path = lab.path(name);
        std::fs::write(&path, &text[..cut_at]).unwrap();
        let out = lab.run(&["analyze", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let r = stdout_json(&out);
        let note = r["notes"][0].as_str().unwrap_or_default().to_string();
        assert!(
            note.starts_with(&format!("line {whole} was cut short")),
            "{name}: {r}"
        );
        let text_out = stdout(&lab.run(&["analyze", path.to_str().unwrap()]));
        assert!(text_out.contains("note     line"), "{name}: {text_out}");
    }
}

#[test]
fn a_time_column_in_milliseconds_is_converted_or_refused() {
    let lab = Lab::new();
    let ms = lab.script(
        "ms.csv",
        &(0..300)
            .map(|i| format!("{},{}\n", i * 500, (100 << 20) + i * 4096))
            .fold("t_ms,anon_bytes\n".to_string(), |a, r| a + &r),
    );
    let out = lab.run(&["analyze", "--format", "json", ms.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = stdout_json(&out);
    assert_eq!(r["duration_s"], 149.5, "{r}");
    assert_eq!(r["interval_s"], 0.5, "{r}");

    let epoch = lab.script(
        "epoch.csv",
        "timestamp,anon_bytes\n1700000000000,5\n1700000000500,6\n",
    );
    let out = lab.run(&["analyze", epoch.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("epoch.csv: line 2: time (timestamp) is 1700000000000, too large for seconds")
            && err.contains("t_ms"),
        "{err}"
    );
    let ticks = lab.script("ticks.csv", "t_jiffies,anon_bytes\n1,5\n");
    let err = stderr(&lab.run(&["analyze", ticks.to_str().unwrap()]));
    assert!(err.contains("is in jiffies"), "{err}");
}
