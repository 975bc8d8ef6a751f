//! Scenario S5, tasks and connections: what both variants share — the options, the endpoint
//! being scraped (a local TCP server started in-process), one scrape over a connection, and the
//! thread and descriptor counts for the summaries.
//!
//! The seed: a Go scraper/exporter with periodic jobs leaked goroutines (a ticker loop that
//! never exits), kept 100+ idle HTTP connections and big maps alive. `s5-leaky` starts a task
//! (a thread) per tick that blocks forever after its job, holding its parsed map, over a new
//! connection per job that is never closed; `s5-fixed` cancels each tick's task and reuses a
//! small pool of connections.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use clap::Parser;

/// Options of both variants.
#[derive(Debug, Parser)]
pub struct Args {
    /// Seconds of ticking.
    #[arg(long, default_value_t = 12.0)]
    pub duration: f64,
    /// Milliseconds between ticks (one scrape job per tick).
    #[arg(long, default_value_t = 200)]
    pub tick_ms: u64,
    /// Multiplies the tick rate (for soaks and stress).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

impl Args {
    /// Time between ticks.
    pub fn tick(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.tick_ms as f64 / 1000.0 / self.scale.max(1e-3))
    }
}

/// Metrics lines the endpoint serves per scrape (~32 KiB of text).
pub const METRICS: usize = 800;

/// Starts the scraped endpoint on 127.0.0.1 (an ephemeral port): a thread accepting
/// connections and a thread per connection answering each `GET` line with the metrics text,
/// for as long as the client keeps the connection open.
pub fn start_endpoint() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let body: String = (0..METRICS)
        .map(|i| format!("exporter_metric_{i:04}{{job=\"scrape\"}} {}\n", i * 7))
        .collect();
    let body: &'static str = Box::leak(body.into_boxed_str()); // one copy for the process
    thread::Builder::new()
        .name("endpoint".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = thread::Builder::new()
                    .name("endpoint-conn".into())
                    .spawn(move || serve(conn, body));
            }
        })?;
    Ok(addr)
}

/// Answers requests on one connection until the client closes it.
fn serve(conn: TcpStream, body: &str) {
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut writer = conn;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = format!("{}\n{body}", body.len());
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One scrape over `conn`: sends a request, reads the reply and parses it into a map of metric
/// name to value (the "big map" a job produces).
pub fn scrape(conn: &mut TcpStream) -> io::Result<HashMap<String, f64>> {
    conn.write_all(b"GET /metrics\n")?;
    // Read the length line byte by byte, so nothing past it is consumed from the stream.
    let mut len = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        conn.read_exact(&mut byte)?;
        if byte[0] == b'\n' {
            break;
        }
        len.push(byte[0]);
    }
    let len: usize = String::from_utf8_lossy(&len)
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad length line"))?;
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body)?;
    let text = String::from_utf8_lossy(&body);
    Ok(BufReader::new(text.as_bytes())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect())
}

/// Threads and open descriptors of this process, from /proc (0 where unreadable).
pub fn threads_and_fds() -> (u64, u64) {
    let threads = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    (threads, fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_serves_many_scrapes() {
        let addr = start_endpoint().unwrap();
        let mut conn = TcpStream::connect(addr).unwrap();
        for _ in 0..3 {
            let map = scrape(&mut conn).unwrap();
            assert_eq!(map.len(), METRICS);
            assert_eq!(map["exporter_metric_0002{job=\"scrape\"}"], 14.0);
        }
    }
}
