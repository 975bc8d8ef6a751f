//! The connection to memwarden and the records sent on it.
//!
//! Each process opens its own connection (a stream Unix socket, close-on-exec) on its first
//! sample and writes records as they happen, so memwarden sees a leak's growth as it grows.
//! A record is `u32 length of the body, u8 kind, body`, integers little-endian:
//!
//! | kind | body |
//! |---|---|
//! | 1 hello | `u32 version, u32 pid, u32 ppid, u64 mean sample interval (bytes), program path` |
//! | 2 module | `u64 start, u64 end, u64 load bias, path` (a loaded object; sent again after a `dlopen`) |
//! | 3 alloc | `u64 time (ns, CLOCK_MONOTONIC), u64 pointer, u64 size, u64 weight (bytes it stands for), u64 return addresses…` innermost first |
//! | 4 free | `u64 time, u64 pointer` (a sampled allocation released) |
//! | 5 dropped | `u64 time, u64 count` (samples not tracked: the live set was full) |
//!
//! Writes block (memwarden reads on its own thread), ignore `SIGPIPE`, and give up after a
//! few seconds: if memwarden is gone or stuck, the process stops sampling and runs on.

use std::os::fd::RawFd;

use crate::modules::Module;
use crate::unwind::MAX_FRAMES;

/// Version of the record format, in the hello.
pub const VERSION: u32 = 1;

const HELLO: u8 = 1;
const MODULE: u8 = 2;
const ALLOC: u8 = 3;
const FREE: u8 = 4;
const DROPPED: u8 = 5;

/// Largest record: an alloc with every frame, or a path of up to 4 KiB.
const MAX_RECORD: usize = 5 + 32 + 8 * MAX_FRAMES + 4096;

/// Seconds a write may block before the process gives up on memwarden.
const SEND_TIMEOUT_S: libc::time_t = 5;

/// Where the connection stands.
enum State {
    NotYet,
    Open(RawFd),
    Failed,
}

/// Bytes of records gathered before they are written: one write (and one wake-up of
/// memwarden) per batch rather than per record, which costs a busy allocator a system call
/// each.
const BATCH: usize = 16 * 1024;
/// A batch is written once its oldest record is this old (nanoseconds), when the next record
/// comes, or when it is full, or at exit.
const BATCH_AGE_NS: u64 = 100_000_000;

/// This process's connection.
pub struct Connection {
    state: State,
    batch: [u8; BATCH],
    len: usize,
    oldest: u64,
}

/// A record being built on the stack.
struct Record {
    buf: [u8; MAX_RECORD],
    len: usize,
}

impl Record {
    fn new(kind: u8) -> Self {
        let mut r = Record {
            buf: [0; MAX_RECORD],
            len: 5,
        };
        r.buf[4] = kind;
        r
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        let n = b.len().min(MAX_RECORD - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        self
    }

    fn finished(&mut self) -> &[u8] {
        let body = (self.len - 5) as u32;
        self.buf[..4].copy_from_slice(&body.to_le_bytes());
        &self.buf[..self.len]
    }
}

impl Connection {
    /// Not connected yet.
    pub const fn new() -> Self {
        Connection {
            state: State::NotYet,
            batch: [0; BATCH],
            len: 0,
            oldest: 0,
        }
    }

    /// Whether records can still be sent (connecting first if needed); `false` for good
    /// once connecting or a write has failed.
    pub fn ready(&mut self, socket: &[u8], mean: u64) -> bool {
        if let State::NotYet = self.state {
            self.state = match connect(socket) {
                Some(fd) => State::Open(fd),
                None => State::Failed,
            };
            if let State::Open(_) = self.state {
                let mut r = Record::new(HELLO);
                // SAFETY: getpid and getppid have no preconditions.
                let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
                r.u32(VERSION).u32(pid as u32).u32(ppid as u32).u64(mean);
                let mut exe = [0u8; 4096];
                // SAFETY: readlink writes at most the given length.
                let n = unsafe {
                    libc::readlink(
                        c"/proc/self/exe".as_ptr(),
                        exe.as_mut_ptr().cast(),
                        exe.len(),
                    )
                };
                r.bytes(&exe[..n.max(0) as usize]);
                self.push(r.finished(), 0);
            }
        }
        matches!(self.state, State::Open(_))
    }

    /// Reports the loaded objects.
    pub fn modules(&mut self, modules: &[Module]) {
        for m in modules {
            let mut r = Record::new(MODULE);
            r.u64(m.avma.start)
                .u64(m.avma.end)
                .u64(m.bias)
                .bytes(&m.path);
            self.push(r.finished(), 0);
        }
    }

    /// Reports a sampled allocation.
    pub fn alloc(&mut self, time: u64, p: usize, size: usize, weight: u64, frames: &[u64]) {
        let mut r = Record::new(ALLOC);
        r.u64(time).u64(p as u64).u64(size as u64).u64(weight);
        for &f in frames {
            r.u64(f);
        }
        self.push(r.finished(), time);
    }

    /// Reports the release of a sampled allocation.
    pub fn free(&mut self, time: u64, p: usize) {
        let mut r = Record::new(FREE);
        r.u64(time).u64(p as u64);
        self.push(r.finished(), time);
    }

    /// Reports samples that could not be tracked.
    pub fn dropped(&mut self, time: u64, count: u64) {
        let mut r = Record::new(DROPPED);
        r.u64(time).u64(count);
        self.push(r.finished(), time);
    }

    /// Adds a record to the batch (`time` 0: no clock reading, as for hello and modules),
    /// writing the batch first if it is full, and after if its oldest record is old enough.
    fn push(&mut self, record: &[u8], time: u64) {
        if self.len + record.len() > BATCH {
            self.flush();
        }
        if self.len == 0 {
            self.oldest = time;
        }
        self.batch[self.len..self.len + record.len()].copy_from_slice(record);
        self.len += record.len();
        if time.saturating_sub(self.oldest) >= BATCH_AGE_NS {
            self.flush();
        }
    }

    /// Writes the gathered records.
    pub fn flush(&mut self) {
        let len = std::mem::take(&mut self.len);
        send(&mut self.state, &self.batch[..len]);
    }

    /// Forgets a connection inherited across `fork`: it is the parent's, and so are the
    /// records it gathered.
    pub fn forget(&mut self) {
        self.len = 0;
        if let State::Open(fd) = self.state {
            // SAFETY: this process's copy of the descriptor is ours to close.
            unsafe { libc::close(fd) };
        }
        if !matches!(self.state, State::Failed) {
            self.state = State::NotYet;
        }
    }
}

/// Writes `bytes` on the connection; a failure closes it for good.
fn send(state: &mut State, mut bytes: &[u8]) {
    let State::Open(fd) = *state else {
        return;
    };
    while !bytes.is_empty() {
        // SAFETY: writes from a live buffer of the given length.
        let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else {
            // SAFETY: closing our own descriptor.
            unsafe { libc::close(fd) };
            *state = State::Failed;
            return;
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Connects to memwarden's socket at `path`.
fn connect(path: &[u8]) -> Option<RawFd> {
    // SAFETY: plain socket calls on a descriptor this function owns; the address is built
    // within its bounds.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        if path.is_empty() || path.len() >= addr.sun_path.len() {
            libc::close(fd);
            return None;
        }
        for (d, s) in addr.sun_path.iter_mut().zip(path) {
            *d = *s as libc::c_char;
        }
        let timeout = libc::timeval {
            tv_sec: SEND_TIMEOUT_S,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        loop {
            if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) == 0 {
                return Some(fd);
            }
            if errno() != libc::EINTR {
                libc::close(fd);
                return None;
            }
        }
    }
}
