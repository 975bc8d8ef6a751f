//! The HTTP side of `--metrics`: `GET /metrics` answered from the [`Exporter`] on a thread of
//! its own; anything else gets a short page saying where the metrics are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::Exporter;

/// The `Content-Type` of the Prometheus text format.
const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A running endpoint; it stops when dropped.
pub struct Endpoint {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Endpoint {
    /// Listens on `addr` and serves `exporter`.
    pub fn start(addr: SocketAddr, exporter: Exporter) -> Result<Endpoint, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("cannot listen on {addr} for --metrics: {e}"))?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("memwarden-metrics".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    let _ = answer(request, &exporter);
                }
            })
            .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
        Ok(Endpoint {
            server,
            thread: Some(thread),
            addr,
        })
    }

    /// The address it listens on (the port chosen when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn answer(request: tiny_http::Request, exporter: &Exporter) -> std::io::Result<()> {
    let header = |v: &str| {
        tiny_http::Header::from_bytes(&b"Content-Type"[..], v.as_bytes()).expect("a valid header")
    };
    let path = request.url().split('?').next().unwrap_or_default();
    match path {
        "/metrics" => {
            let response = tiny_http::Response::from_string(exporter.scrape())
                .with_header(header(CONTENT_TYPE));
            request.respond(response)
        }
        _ => {
            let response = tiny_http::Response::from_string(
                "memwarden: the metrics are at /metrics (Prometheus text format)\n",
            )
            .with_header(header("text/plain; charset=utf-8"))
            .with_status_code(404);
            request.respond(response)
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Parses `--metrics`: `HOST:PORT`, or a port alone (`9464`, `:9464`) on the loopback address.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    let port_only = t.strip_prefix(':').unwrap_or(t);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    t.parse::<SocketAddr>().map_err(|_| {
        format!(
            "'{s}' is not an address to listen on; use a port (9464, on 127.0.0.1), \
             HOST:PORT (127.0.0.1:9464, 0.0.0.0:9464 for every interface) or [::1]:9464"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn addresses_default_to_the_loopback() {
        assert_eq!(parse_addr("9464"), Ok("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(parse_addr(":9464"), Ok("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(parse_addr("0.0.0.0:80"), Ok("0.0.0.0:80".parse().unwrap()));
        assert!(parse_addr("localhost").unwrap_err().contains("HOST:PORT"));
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn metrics_are_served_and_other_paths_say_where_they_are() {
        let endpoint = Endpoint::start(parse_addr("0").unwrap(), Exporter::default()).unwrap();
        let addr = endpoint.addr();
        assert!(addr.ip().is_loopback());
        let page = get(addr, "/metrics");
        assert!(
            page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
            "{page}"
        );
        assert!(page.contains("text/plain; version=0.0.4"), "{page}");
        assert!(page.contains("process_resident_memory_bytes"), "{page}");
        assert!(get(addr, "/").contains("404"));
        // Dropping joins the serving thread: it returns, and the port is free to bind again
        // once tiny_http's listener has seen its last connection.
        drop(endpoint);
    }
}
