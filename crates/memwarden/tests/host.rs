//! The host-wide sampler: grouping on fixture `/proc` and cgroup trees where the machine
//! cannot serve the case (a pure cgroup v2 layout, containers, pods), and on real processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use memwarden::sample::cgroup::{CgroupMounts, MemoryHierarchy};
use memwarden::sample::host::{GroupBy, HostCadence, HostGroup, HostSampler};
use memwarden::sample::machine::MachineReader;
use memwarden::sample::procfs::ProcFs;

const PAGE: u64 = 4096;

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mw-host-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, content: &str) {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake process: its command line, resident and shared pages, cgroup file, descriptors.
struct FakeProc<'a> {
    pid: u32,
    cmdline: &'a [u8],
    resident: u64,
    shared: u64,
    cgroup: &'a str,
    fds: u32,
    kernel: bool,
}

fn fake_proc(root: &Scratch, p: &FakeProc<'_>) {
    let flags = if p.kernel { 0x0020_0040 } else { 0x0040_0100 };
    root.write(
        &format!("{}/stat", p.pid),
        &format!(
            "{} (x) S 1 {} {} 0 -1 {flags} 0 0 0 0 0 0 0 0 20 0 2 0 {} 0 0",
            p.pid,
            p.pid,
            p.pid,
            1000 + p.pid
        ),
    );
    let statm = if p.kernel {
        "0 0 0 0 0 0 0\n".to_string()
    } else {
        format!("9999 {} {} 1 0 1 0\n", p.resident, p.shared)
    };
    root.write(&format!("{}/statm", p.pid), &statm);
    std::fs::write(root.0.join(format!("{}/cmdline", p.pid)), p.cmdline).unwrap();
    root.write(&format!("{}/cgroup", p.pid), p.cgroup);
    root.write(
        &format!("{}/status", p.pid),
        "Name:\tx\nThreads:\t2\nVmSwap:\t       0 kB\n",
    );
    for fd in 0..p.fds {
        root.write(&format!("{}/fd/{fd}", p.pid), "");
    }
}

fn fake_machine(root: &Scratch) {
    root.write(
        "meminfo",
        "MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n",
    );
    root.write("loadavg", "0.00 0.00 0.00 1/100 4242\n");
}

fn sampler(proc_root: &Scratch, hierarchy: MemoryHierarchy, by: GroupBy) -> HostSampler {
    let machine = MachineReader::open_at(&proc_root.0).unwrap();
    HostSampler::with_roots(
        ProcFs::new(&proc_root.0),
        hierarchy,
        machine,
        by,
        HostCadence::for_interval(Duration::from_secs(1)),
    )
}

fn by_name(s: &HostSampler) -> BTreeMap<String, HostGroup> {
    s.groups().map(|g| (g.name.clone(), g.clone())).collect()
}

const SERVICE_V2: &str = "0::/system.slice/web.service\n";

#[test]
fn a_pure_v2_machine_groups_by_unit_with_its_limit_and_charge() {
    let proc_root = Scratch::new("proc");
    fake_machine(&proc_root);
    let cg = Scratch::new("cg2");
    cg.write("cgroup.controllers", "cpuset cpu io memory pids\n");
    cg.write("system.slice/memory.max", "max\n");
    cg.write("system.slice/web.service/memory.max", "1073741824\n");
    cg.write("system.slice/web.service/memory.current", "52428800\n");
    cg.write("system.slice/web.service/workers/memory.max", "max\n");
    // A limit on the slice above is tighter than the container's own: the tightest wins.
    cg.write("machine.slice/memory.max", "536870912\n");
    let id = "4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";
    let container = format!("machine.slice/docker-{id}.scope");
    cg.write(&format!("{container}/memory.max"), "max\n");
    cg.write(&format!("{container}/memory.current"), "1000\n");
    for p in [
        FakeProc {
            pid: 10,
            cmdline: b"/usr/bin/web\0--port\x008080\0",
            resident: 1000,
            shared: 200,
            cgroup: SERVICE_V2,
            fds: 3,
            kernel: false,
        },
        FakeProc {
            pid: 11,
            cmdline: b"/usr/bin/web-worker\0",
            resident: 500,
            shared: 100,
            cgroup: "0::/system.slice/web.service/workers\n",
            fds: 2,
            kernel: false,
        },
        FakeProc {
            pid: 20,
            cmdline: b"redis-server *:6379\0",
            resident: 300,
            shared: 0,
            cgroup: &format!("0::/{container}\n"),
            fds: 1,
            kernel: false,
        },
        FakeProc {
            pid: 2,
            cmdline: b"",
            resident: 0,
            shared: 0,
            cgroup: "0::/\n",
            fds: 0,
            kernel: true,
        },
    ] {
        fake_proc(&proc_root, &p);
    }
    let mounts = CgroupMounts {
        v2: Some((cg.0.clone(), "/".into())),
        v1_memory: None,
    };
    let hierarchy = MemoryHierarchy::of(mounts);
    assert!(hierarchy.memory.is_some(), "v2 with the memory controller");
    let mut s = sampler(&proc_root, hierarchy, GroupBy::Cgroup);
    s.sample().unwrap();
    let groups = by_name(&s);
    assert_eq!(
        groups.keys().collect::<Vec<_>>(),
        ["docker:4f3a2b1c0d9e", "web.service"],
        "the kernel thread is in no group"
    );
    let web = &groups["web.service"];
    assert_eq!(web.sample.tree.processes, 2);
    assert_eq!(web.sample.tree.rss_bytes, 1500 * PAGE);
    assert_eq!(web.sample.tree.anon_bytes, 1200 * PAGE);
    assert_eq!(web.sample.tree.fds, 5);
    assert_eq!(web.sample.tree.threads, 4);
    assert_eq!(web.sample.cgroup_bytes, Some(50 << 20));
    assert_eq!(web.limit_bytes, Some(1 << 30));
    assert_eq!(web.sample.machine.mem_available_bytes, 4_000_000 * 1024);
    let redis = &groups["docker:4f3a2b1c0d9e"];
    assert_eq!(
        redis.limit_bytes,
        Some(512 << 20),
        "the slice's limit applies"
    );
    assert_eq!(redis.sample.cgroup_bytes, Some(1000));
    let members: Vec<u32> = s.members(web.id).map(|(p, _)| p.pid).collect();
    assert_eq!(members.len(), 2);
    assert_eq!(s.unreadable().processes, 0);
}

#[test]
fn a_v1_machine_groups_containers_and_pods() {
    let proc_root = Scratch::new("proc1");
    fake_machine(&proc_root);
    let cg = Scratch::new("cg1");
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let pod = "kubepods/burstable/pod0a1b2c3d-1111-2222-3333-444455556666";
    cg.write(&format!("{pod}/memory.limit_in_bytes"), "268435456\n");
    cg.write(&format!("{pod}/memory.usage_in_bytes"), "4096\n");
    cg.write(
        &format!("docker/{id}/memory.limit_in_bytes"),
        "9223372036854771712\n",
    );
    cg.write(&format!("docker/{id}/memory.usage_in_bytes"), "8192\n");
    let in_v1 = |path: &str| format!("12:pids:/\n4:memory:/{path}\n1:name=systemd:/\n0::/\n");
    let in_pod = in_v1(&format!("{pod}/{id}"));
    let in_docker = in_v1(&format!("docker/{id}"));
    for (pid, cgroup) in [(30, &in_pod), (31, &in_pod), (40, &in_docker)] {
        fake_proc(
            &proc_root,
            &FakeProc {
                pid,
                cmdline: b"app\0",
                resident: 100,
                shared: 0,
                cgroup,
                fds: 0,
                kernel: false,
            },
        );
    }
    let mounts = CgroupMounts {
        v2: None,
        v1_memory: Some((cg.0.clone(), "/".into())),
    };
    let mut s = sampler(&proc_root, MemoryHierarchy::of(mounts), GroupBy::Cgroup);
    s.sample().unwrap();
    let groups = by_name(&s);
    let pod = &groups["pod:0a1b2c3d-1111-2222-3333-444455556666"];
    assert_eq!(pod.sample.tree.processes, 2);
    assert_eq!(pod.limit_bytes, Some(256 << 20));
    assert_eq!(pod.sample.cgroup_bytes, Some(4096));
    let docker = &groups["docker:0123456789ab"];
    assert_eq!(docker.limit_bytes, None, "v1's huge default is no limit");
    assert_eq!(docker.sample.cgroup_bytes, Some(8192));
}

#[test]
fn helpers_share_a_command_group_and_gone_groups_are_forgotten() {
    let proc_root = Scratch::new("proc-cmd");
    fake_machine(&proc_root);
    for pid in 100..169 {
        fake_proc(
            &proc_root,
            &FakeProc {
                pid,
                cmdline: format!("/usr/bin/python3\0-c\0import sys\nx = 1\n\0{}\0", pid % 7)
                    .as_bytes(),
                resident: 10,
                shared: 2,
                cgroup: "0::/\n",
                fds: 0,
                kernel: false,
            },
        );
    }
    fake_proc(
        &proc_root,
        &FakeProc {
            pid: 200,
            cmdline: b"broken",
            resident: 1,
            shared: 0,
            cgroup: "0::/\n",
            fds: 0,
            kernel: false,
        },
    );
    // A process whose stat cannot be read is counted, not an error.
    proc_root.write("200/stat", "garbage");
    let mut cadence = HostCadence::for_interval(Duration::from_secs(1));
    cadence.forget_after_s = 0.0;
    // A fixture's files stay readable once removed: only a listing sees the exits.
    cadence.list_every = 1;
    let machine = MachineReader::open_at(&proc_root.0).unwrap();
    let mut s = HostSampler::with_roots(
        ProcFs::new(&proc_root.0),
        MemoryHierarchy::default(),
        machine,
        GroupBy::Command,
        cadence,
    );
    s.sample().unwrap();
    let groups = by_name(&s);
    assert_eq!(groups.len(), 1, "{:?}", groups.keys());
    let helpers = &groups["python3 -c … N"];
    assert_eq!(helpers.sample.tree.processes, 69);
    assert_eq!(helpers.sample.tree.anon_bytes, 69 * 8 * PAGE);
    assert_eq!(s.unreadable().processes, 1);

    // Every helper exits (their directories go, and the kernel hands out a new PID).
    for pid in 100..169 {
        std::fs::remove_dir_all(proc_root.0.join(pid.to_string())).unwrap();
    }
    proc_root.write("loadavg", "0.00 0.00 0.00 1/100 4243\n");
    s.sample().unwrap();
    assert!(s.groups().all(|g| g.sample.tree.processes == 0));
    s.sample().unwrap();
    assert_eq!(s.take_forgotten(), vec![helpers.id]);
    assert_eq!(
        s.groups().count(),
        0,
        "nothing is kept of a forgotten group"
    );
}

/// Starts `n` copies of a Python program holding `mib` MiB.
fn pythons(n: usize, mib: u32, tag: &str) -> Vec<Child> {
    let code = format!(
        "import sys, time\nb = bytearray({mib} << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n\
         print('ready', flush=True)\ntime.sleep(60)\n"
    );
    (0..n)
        .map(|_| {
            Command::new("python3")
                .args(["-c", &code, tag])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

#[test]
fn real_processes_of_one_command_are_one_group() {
    // The tag makes the shape this test's own (other programs may run `python3 -c`).
    let mut children = pythons(3, 20, "mwhosttest");
    for c in &mut children {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
    }
    let pids: Vec<u32> = children.iter().map(Child::id).collect();
    let mut s = HostSampler::new(
        GroupBy::Command,
        HostCadence::for_interval(Duration::from_secs(1)),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let group = loop {
        s.sample().unwrap();
        let found = s.groups().find(|g| {
            let members: Vec<u32> = s.members(g.id).map(|(p, _)| p.pid).collect();
            pids.iter().all(|p| members.contains(p))
        });
        if let Some(g) = found {
            break g.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the three pythons never shared a group"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(group.name, "python3 -c … mwhosttest");
    assert!(group.sample.tree.anon_bytes >= 3 * (20 << 20), "{group:?}");
    assert!(s.processes() >= 4, "every process of the machine is read");
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    // Their exits are seen; the group stays (with no process) until it is forgotten.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        s.sample().unwrap();
        let g = s.group(group.id).expect("kept for a while");
        if g.sample.tree.processes == 0 {
            assert!(g.empty_since.is_some());
            break;
        }
        assert!(Instant::now() < deadline, "the exits were never seen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn by_process_each_process_is_its_own_group() {
    let mut s = HostSampler::new(
        GroupBy::Process,
        HostCadence::for_interval(Duration::from_secs(1)),
    )
    .unwrap();
    s.sample().unwrap();
    let me = std::process::id();
    let mine: Vec<&HostGroup> = s
        .groups()
        .filter(|g| g.name.starts_with(&format!("{me} ")))
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].sample.tree.processes, 1);
    assert!(mine[0].sample.tree.rss_bytes > 0);
    assert_eq!(s.groups().count(), s.processes());
}
