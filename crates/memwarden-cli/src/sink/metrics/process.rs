//! memwarden's own `process_*` figures, read from `/proc/self` at each scrape (the names every
//! Prometheus client library uses, so existing dashboards show memwarden's own cost).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// memwarden's own process.
#[derive(Debug)]
pub struct OwnProcess;

/// Clock ticks per second and the page size, for `/proc/self/stat` and `statm`.
fn ticks_and_page() -> (f64, f64) {
    // SAFETY: sysconf has no preconditions.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (hz.max(1) as f64, page.max(1) as f64)
}

impl Collector for OwnProcess {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (hz, page) = ticks_and_page();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name, which may hold spaces: utime is field 14, stime 15,
        // starttime 22 (proc(5)), so 11, 12 and 19 after the state.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        let cpu = field(11).zip(field(12)).map(|(u, s)| (u + s) / hz);
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let mut pages = statm.split_whitespace().map(|v| v.parse::<f64>().ok());
        let (virt, resident) = (pages.next().flatten(), pages.next().flatten());
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as f64)
            .ok();
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        let start = boot.zip(field(19)).map(|(b, t)| b + t / hz);
        if let Some(cpu) = cpu {
            let c = ConstCounter::new(cpu);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                c.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                resident.map(|p| p * page),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                virt.map(|p| p * page),
            ),
            ("process_open_fds", "Number of open file descriptors", fds),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                start,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let g = ConstGauge::new(v);
                g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
            }
        }
        Ok(())
    }
}
