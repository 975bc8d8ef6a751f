//! The thread that reads every process's stream: one `poll` over the listening socket and
//! the connections, so a fork storm costs descriptors, not threads; and a snapshot of every
//! site's live bytes at each tick.

use std::io::{ErrorKind, Read};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::profile::{Process, Profile};
use super::protocol;

/// Longest the receiver reads on once told to stop (a process left running may write on).
const DRAIN: Duration = Duration::from_millis(500);

/// One process's connection and the bytes of its incomplete record.
struct Connection {
    stream: UnixStream,
    pending: Vec<u8>,
    process: Process,
}

/// Reads until `stop` is set (then drains what was sent), snapshotting every `tick`; the
/// clock of the snapshots is seconds since `start`.
pub fn receive(
    listener: UnixListener,
    profile: &mut Profile,
    start: Instant,
    tick: Duration,
    stop: Arc<AtomicBool>,
) {
    let mut connections: Vec<Connection> = Vec::new();
    let mut next_tick = start + tick;
    let mut buf = vec![0u8; 64 * 1024];
    let mut drain_until = None;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        if stopping && drain_until.is_none() {
            drain_until = Some(Instant::now() + DRAIN);
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        let timeout = if stopping {
            PollTimeout::ZERO
        } else {
            PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX)
        };
        let (listener_ready, ready) = {
            let mut fds = Vec::with_capacity(connections.len() + 1);
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
            fds.extend(
                connections
                    .iter()
                    .map(|c| PollFd::new(c.stream.as_fd(), PollFlags::POLLIN)),
            );
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let flags: Vec<bool> = fds[1..].iter().map(ready).collect();
            (ready(&fds[0]), flags)
        };
        let mut any = listener_ready;
        if listener_ready {
            while let Ok((stream, _)) = listener.accept() {
                if stream.set_nonblocking(true).is_ok() {
                    connections.push(Connection {
                        stream,
                        pending: Vec::new(),
                        process: Process::default(),
                    });
                }
            }
        }
        let mut closed = Vec::new();
        // Connections accepted just now come after the polled ones: read at the next poll.
        let polled = connections.iter_mut().take(ready.len()).enumerate();
        for (i, c) in polled.filter(|(i, _)| ready[*i]) {
            any = true;
            let (open, _) = read_from(c, profile, &mut buf);
            if !open {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            profile.disconnect(connections.swap_remove(i).process);
        }
        let now = Instant::now();
        if now >= next_tick {
            profile.snapshot((now - start).as_secs_f64());
            next_tick += tick;
            if next_tick < now {
                next_tick = now + tick;
            }
        }
        if stopping && (!any || drain_until.is_some_and(|d| Instant::now() > d)) {
            break;
        }
    }
}

/// Reads what `c` has sent and applies its complete records; returns whether it is still open
/// (not after sending something that is not a heap stream) and the bytes read.
fn read_from(c: &mut Connection, profile: &mut Profile, buf: &mut [u8]) -> (bool, usize) {
    let mut total = 0;
    loop {
        match c.stream.read(buf) {
            Ok(0) => return (false, total),
            Ok(n) => {
                total += n;
                c.pending.extend_from_slice(&buf[..n]);
                match protocol::decode(&c.pending) {
                    Ok((records, used)) => {
                        for r in records {
                            if let protocol::Record::Hello { version, .. } = r {
                                if version != protocol::VERSION {
                                    return (false, total);
                                }
                            }
                            profile.apply(&mut c.process, r);
                        }
                        c.pending.drain(..used);
                    }
                    Err(_) => return (false, total),
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return (true, total),
            Err(_) => return (false, total),
        }
    }
}
