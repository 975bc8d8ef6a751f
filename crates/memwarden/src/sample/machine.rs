//! The machine's memory: `/proc/meminfo` and PSI memory pressure, read through held handles.

use std::fs::File;
use std::io;
use std::path::Path;

use super::procfs::{parse_kib, read_held};
use super::types::MachineSample;

/// Parses `MemTotal` and `MemAvailable` (bytes) from `/proc/meminfo`.
///
/// ```
/// use memwarden::sample::machine::parse_meminfo;
/// let m = parse_meminfo(b"MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable: 500 kB\n").unwrap();
/// assert_eq!(m, (1000 * 1024, 500 * 1024));
/// ```
pub fn parse_meminfo(buf: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (mut total, mut available) = (None, None);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("MemTotal:") {
            total = parse_kib(v);
        } else if let Some(v) = line.strip_prefix("MemAvailable:") {
            available = parse_kib(v);
        }
        if total.is_some() && available.is_some() {
            break;
        }
    }
    Some((total?, available?))
}

/// Parses the `avg10` values of the `some` and `full` lines of a PSI file.
///
/// ```
/// use memwarden::sample::machine::parse_psi;
/// let p = parse_psi(b"some avg10=1.50 avg60=0.00 avg300=0.00 total=9\nfull avg10=0.25 avg60=0 avg300=0 total=1\n");
/// assert_eq!(p, Some((1.5, 0.25)));
/// ```
pub fn parse_psi(buf: &[u8]) -> Option<(f64, f64)> {
    let text = std::str::from_utf8(buf).ok()?;
    let avg10 = |kind: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(kind))?;
        line.split_ascii_whitespace()
            .find_map(|f| f.strip_prefix("avg10="))?
            .parse()
            .ok()
    };
    Some((avg10("some")?, avg10("full")?))
}

/// Reads the machine's memory and pressure; holds its files open between samples.
#[derive(Debug)]
pub struct MachineReader {
    meminfo: File,
    pressure: Option<File>,
    buf: Vec<u8>,
}

impl MachineReader {
    /// Opens `/proc/meminfo` and, where the kernel has PSI, `/proc/pressure/memory`.
    pub fn open() -> io::Result<Self> {
        Self::open_at(Path::new("/proc"))
    }

    /// Like [`open`](Self::open) with another proc root (fixture trees in tests).
    pub fn open_at(proc_root: &Path) -> io::Result<Self> {
        Ok(MachineReader {
            meminfo: File::open(proc_root.join("meminfo"))?,
            pressure: File::open(proc_root.join("pressure/memory")).ok(),
            buf: vec![0; 8192],
        })
    }

    /// Whether memory pressure (PSI) is available on this kernel.
    pub fn has_pressure(&self) -> bool {
        self.pressure.is_some()
    }

    /// Reads the current values.
    pub fn read(&mut self) -> io::Result<MachineSample> {
        let n = read_held(&self.meminfo, &mut self.buf)?;
        let (total, available) = parse_meminfo(&self.buf[..n]).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/meminfo")
        })?;
        let pressure = self.pressure.as_ref().and_then(|f| {
            let n = read_held(f, &mut self.buf).ok()?;
            parse_psi(&self.buf[..n])
        });
        Ok(MachineSample {
            mem_total_bytes: total,
            mem_available_bytes: available,
            psi_some_avg10: pressure.map(|p| p.0),
            psi_full_avg10: pressure.map(|p| p.1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine_twice() {
        let mut m = MachineReader::open().unwrap();
        let a = m.read().unwrap();
        let b = m.read().unwrap();
        assert!(a.mem_total_bytes > 0 && a.mem_available_bytes <= a.mem_total_bytes);
        assert_eq!(a.mem_total_bytes, b.mem_total_bytes);
        assert_eq!(
            m.has_pressure(),
            Path::new("/proc/pressure/memory").exists()
        );
    }

    #[test]
    fn missing_fields_are_refused() {
        assert_eq!(parse_meminfo(b"MemTotal: 1 kB\n"), None);
        assert_eq!(parse_psi(b"some avg10=1.0\n"), None);
    }
}
