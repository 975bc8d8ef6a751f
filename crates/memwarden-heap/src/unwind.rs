//! The call stack of a sampled allocation: framehop's unwinder over the unwind tables (CFI)
//! of the loaded objects, read in place from memory, with framehop's own frame-pointer rule
//! for code that has none; reads are confined to the thread's stack, and the depth is capped.
//!
//! Only x86-64 unwinds today; elsewhere a sample carries its immediate caller alone.

use std::cell::Cell;
use std::ops::{Deref, Range};

use crate::modules::{self, Module};

/// Most frames kept per sample: deeper stacks are cut (the innermost frames are the ones
/// that tell sites apart).
pub const MAX_FRAMES: usize = 64;

/// Bytes mapped in this process, for framehop to read unwind tables in place.
pub struct Mapped {
    start: *const u8,
    len: usize,
}

// SAFETY: the bytes are read-only sections of loaded objects; they are only read under the
// sampler's lock, and modules are re-read whenever the loader unloads anything.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Default for Mapped {
    fn default() -> Self {
        Mapped {
            start: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
        }
    }
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `start..start+len` lies in a loaded segment of a loaded object.
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }
}

/// The unwinder with the objects it knows, rebuilt when the loader's counts change.
pub struct Stacks {
    #[cfg(target_arch = "x86_64")]
    unwinder: framehop::x86_64::UnwinderX86_64<Mapped>,
    #[cfg(target_arch = "x86_64")]
    cache: framehop::x86_64::CacheX86_64,
    generation: (u64, u64),
    /// This library's own addresses: frames in it are not the program's.
    own: Range<u64>,
}

impl Stacks {
    /// An unwinder for the objects loaded now.
    pub fn new() -> Self {
        Stacks {
            #[cfg(target_arch = "x86_64")]
            unwinder: framehop::x86_64::UnwinderX86_64::new(),
            #[cfg(target_arch = "x86_64")]
            cache: framehop::x86_64::CacheX86_64::new(),
            generation: (u64::MAX, u64::MAX),
            own: 0..0,
        }
    }

    /// Makes the next `refresh` read and report the loaded objects (a forked child reports
    /// them on its own connection).
    pub fn report_again(&mut self) {
        self.generation = (u64::MAX, u64::MAX);
    }

    /// Re-reads the loaded objects if the loader loaded or unloaded any since last time;
    /// returns them when it did (to be reported), `None` when nothing changed.
    pub fn refresh(&mut self) -> Option<Vec<Module>> {
        let now = modules::generation();
        if now == self.generation {
            return None;
        }
        self.generation = now;
        let loaded = modules::loaded();
        let here = Stacks::new as *const () as u64;
        self.own = loaded
            .iter()
            .find(|m| m.avma.contains(&here))
            .map_or(0..0, |m| m.avma.clone());
        #[cfg(target_arch = "x86_64")]
        {
            use framehop::Unwinder;
            self.unwinder = framehop::x86_64::UnwinderX86_64::new();
            for m in &loaded {
                self.unwinder.add_module(unwind_module(m));
            }
        }
        Some(loaded)
    }

    /// Writes the return addresses of the current call stack into `out`, innermost first,
    /// from the caller of the interposed function outward; `stack` bounds every read.
    /// Returns the count.
    #[inline(never)]
    pub fn capture(&mut self, stack: Range<u64>, out: &mut [u64; MAX_FRAMES]) -> usize {
        let mut n = 0;
        let own = self.own.clone();
        let mut keep = |address: u64| {
            // The innermost frames are the sampler's, under the loader's `dl_iterate_phdr`
            // (see `modules::with_loader_lock`): whatever came before a frame of this
            // library is dropped with it. The program only enters it through `malloc` & co.
            if own.contains(&address) {
                n = 0;
                return true;
            }
            out[n] = address;
            n += 1;
            n < MAX_FRAMES
        };
        self.walk(stack, &mut keep);
        n
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn walk(&mut self, stack: Range<u64>, keep: &mut impl FnMut(u64) -> bool) {
        use framehop::x86_64::UnwindRegsX86_64;
        use framehop::Unwinder;
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers, touches no memory.
        unsafe {
            std::arch::asm!(
                "lea {ip}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                ip = out(reg) ip,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags),
            );
        }
        // Nothing below the innermost frame is part of the stack being walked.
        let low = sp.max(stack.start);
        let mut read = |addr: u64| -> Result<u64, ()> {
            if addr.is_multiple_of(8) && addr >= low && addr.saturating_add(8) <= stack.end {
                // SAFETY: an aligned word inside this thread's mapped stack.
                Ok(unsafe { *(addr as *const u64) })
            } else {
                Err(())
            }
        };
        let regs = UnwindRegsX86_64::new(ip, sp, bp);
        let mut frames = self
            .unwinder
            .iter_frames(ip, regs, &mut self.cache, &mut read);
        // The first frame is this function itself (an instruction pointer, not a return).
        while let Ok(Some(frame)) = frames.next() {
            if !keep(frame.address()) {
                break;
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn walk(&mut self, _stack: Range<u64>, _keep: &mut impl FnMut(u64) -> bool) {}
}

#[cfg(target_arch = "x86_64")]
fn unwind_module(m: &Module) -> framehop::Module<Mapped> {
    let mapped = |svma: &Range<u64>| Mapped {
        start: (m.bias + svma.start) as *const u8,
        len: (svma.end - svma.start) as usize,
    };
    let info = framehop::ExplicitModuleSectionInfo {
        text_svma: Some(m.text_svma.clone()),
        text: Some(mapped(&m.text_svma)),
        eh_frame_svma: m.eh_frame_svma.clone(),
        eh_frame: m.eh_frame_svma.as_ref().map(mapped),
        eh_frame_hdr_svma: m.eh_frame_hdr_svma.clone(),
        eh_frame_hdr: m.eh_frame_hdr_svma.as_ref().map(mapped),
        base_svma: 0,
        stubs_svma: None,
        stub_helper_svma: None,
        got_svma: None,
        unwind_info: None,
        debug_frame: None,
        text_segment_svma: None,
        text_segment: None,
    };
    framehop::Module::new(String::new(), m.avma.clone(), m.bias, info)
}

/// The mapping that holds the current stack (`sp`), for bounding reads: the thread's stack,
/// or the alternate signal stack when a handler runs on it. Read from `/proc/self/maps` with
/// plain system calls, once per thread (kept in `cached`): glibc's `pthread_getattr_np` takes
/// a lock its own callers hold while they allocate, so it cannot be called from here.
pub fn stack_bounds(sp: u64, cached: &Cell<(u64, u64)>) -> Range<u64> {
    let (lo, hi) = cached.get();
    if (lo..hi).contains(&sp) {
        return lo..hi;
    }
    match mapping_containing(sp) {
        Some(r) => {
            cached.set((r.start, r.end));
            r
        }
        None => sp..sp,
    }
}

/// The readable mapping of this process that contains `addr`.
fn mapping_containing(addr: u64) -> Option<Range<u64>> {
    // SAFETY: open, read and close on a descriptor this function owns, into a local buffer.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 8192];
    let (mut len, mut found) = (0, None);
    while found.is_none() {
        // SAFETY: reads into the unused tail of the buffer.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
        let mut start = 0;
        while let Some(nl) = buf[start..len].iter().position(|&b| b == b'\n') {
            found = found
                .or_else(|| readable_range(&buf[start..start + nl]).filter(|r| r.contains(&addr)));
            start += nl + 1;
        }
        if start == 0 && len == buf.len() {
            // A line longer than the buffer (a very long path): skip what was read of it.
            len = 0;
        } else {
            buf.copy_within(start..len, 0);
            len -= start;
        }
    }
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    found
}

/// `lo..hi` of a maps line (`lo-hi perms ...`) when its mapping is readable.
fn readable_range(line: &[u8]) -> Option<Range<u64>> {
    let mut fields = line.split(|&b| b == b' ');
    let range = fields.next()?;
    let readable = fields.next()?.first() == Some(&b'r');
    let dash = range.iter().position(|&b| b == b'-')?;
    let hex = |s: &[u8]| u64::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok();
    let (lo, hi) = (hex(&range[..dash])?, hex(&range[dash + 1..])?);
    readable.then_some(lo..hi)
}

/// The current stack pointer.
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let probe = 0u8;
    std::ptr::addr_of!(probe) as u64
}
