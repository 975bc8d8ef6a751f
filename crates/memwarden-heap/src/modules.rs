//! The objects loaded in this process (the program, its libraries, `dlopen`ed ones), read
//! from the loader with `dl_iterate_phdr`: where each is mapped, its load bias and path (for
//! memwarden to symbolize), and where its unwind tables lie in memory (for the unwinder).

use std::ffi::CStr;
use std::ops::Range;

/// One loaded object.
pub struct Module {
    /// Its file (the program's own from `/proc/self/exe`).
    pub path: Vec<u8>,
    /// Addresses it occupies (all its loadable segments).
    pub avma: Range<u64>,
    /// Load bias: address in memory minus address in the file's program headers.
    pub bias: u64,
    /// Its executable segment, as addresses in the file.
    pub text_svma: Range<u64>,
    /// `.eh_frame_hdr`, as addresses in the file.
    pub eh_frame_hdr_svma: Option<Range<u64>>,
    /// `.eh_frame`, as addresses in the file (to the end of the segment that holds it).
    pub eh_frame_svma: Option<Range<u64>>,
}

/// The loader's counts of objects loaded and unloaded so far: when they change, the modules
/// are read again.
pub fn generation() -> (u64, u64) {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _: usize,
        out: *mut libc::c_void,
    ) -> i32 {
        let out = &mut *(out as *mut (u64, u64));
        *out = ((*info).dlpi_adds, (*info).dlpi_subs);
        1
    }
    let mut counts = (0u64, 0u64);
    // SAFETY: the callback writes only through the pointer it is given.
    unsafe { libc::dl_iterate_phdr(Some(first), (&mut counts as *mut (u64, u64)).cast()) };
    counts
}

/// Runs `f` holding the loader's lock (inside a `dl_iterate_phdr` callback): no object can be
/// unloaded meanwhile, so unwind tables read in place stay mapped. The lock is recursive, so
/// `generation` and `loaded` work inside `f`; anything else that takes it (a `dlopen` that
/// allocates, another iteration whose callback allocates) waits or is this same thread.
pub fn with_loader_lock<F: FnOnce()>(f: F) {
    unsafe extern "C" fn once<F: FnOnce()>(
        _: *mut libc::dl_phdr_info,
        _: usize,
        data: *mut libc::c_void,
    ) -> i32 {
        if let Some(f) = (*(data as *mut Option<F>)).take() {
            f();
        }
        1
    }
    let mut f = Some(f);
    // SAFETY: the callback takes the closure out of the option it is given, once.
    unsafe { libc::dl_iterate_phdr(Some(once::<F>), (&mut f as *mut Option<F>).cast()) };
    // A process with no objects at all never calls back.
    if let Some(f) = f.take() {
        f();
    }
}

/// Every loaded object with a file (the vDSO has none).
pub fn loaded() -> Vec<Module> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _: usize,
        out: *mut libc::c_void,
    ) -> i32 {
        let out = &mut *(out as *mut Vec<Module>);
        if let Some(m) = read(&*info, out.is_empty()) {
            out.push(m);
        }
        0
    }
    let mut out = Vec::with_capacity(32);
    // SAFETY: the callback only reads the loader's headers and pushes to the vector it is given.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut out as *mut Vec<Module>).cast()) };
    out
}

/// # Safety
/// `info` is what the loader passed to a `dl_iterate_phdr` callback.
unsafe fn read(info: &libc::dl_phdr_info, is_program: bool) -> Option<Module> {
    let name = if info.dlpi_name.is_null() {
        &[][..]
    } else {
        CStr::from_ptr(info.dlpi_name).to_bytes()
    };
    let path = match name {
        [] if is_program => own_exe()?,
        [b'/', ..] => name.to_vec(),
        _ => return None,
    };
    let headers = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
    let bias = info.dlpi_addr;
    let loads = || headers.iter().filter(|h| h.p_type == libc::PT_LOAD);
    let lo = loads().map(|h| h.p_vaddr).min()?;
    let hi = loads().map(|h| h.p_vaddr + h.p_memsz).max()?;
    let text = loads().find(|h| h.p_flags & libc::PF_X != 0)?;
    let hdr = headers.iter().find(|h| h.p_type == libc::PT_GNU_EH_FRAME);
    let eh_frame_svma = hdr.and_then(|h| {
        let start = eh_frame_address(bias + h.p_vaddr)?.checked_sub(bias)?;
        let seg = loads().find(|s| (s.p_vaddr..s.p_vaddr + s.p_filesz).contains(&start))?;
        Some(start..seg.p_vaddr + seg.p_filesz)
    });
    Some(Module {
        path,
        avma: bias + lo..bias + hi,
        bias,
        text_svma: text.p_vaddr..text.p_vaddr + text.p_filesz,
        eh_frame_hdr_svma: hdr.map(|h| h.p_vaddr..h.p_vaddr + h.p_memsz),
        eh_frame_svma,
    })
}

/// Where `.eh_frame` starts, from the pointer at the head of `.eh_frame_hdr` at `hdr`
/// (encoded pc-relative 32-bit, as every linker writes it, or absolute 64-bit).
///
/// # Safety
/// `hdr` is the address of a mapped `.eh_frame_hdr`.
unsafe fn eh_frame_address(hdr: u64) -> Option<u64> {
    const PCREL_SDATA4: u8 = 0x1b;
    const ABSPTR: u8 = 0x00;
    let bytes = hdr as *const u8;
    let version = *bytes;
    let encoding = *bytes.add(1);
    let field = bytes.add(4);
    match (version, encoding) {
        (1, PCREL_SDATA4) => {
            let offset = (field as *const i32).read_unaligned();
            Some((field as u64).wrapping_add_signed(i64::from(offset)))
        }
        (1, ABSPTR) => Some((field as *const u64).read_unaligned()),
        _ => None,
    }
}

/// This program's path, from `/proc/self/exe`.
fn own_exe() -> Option<Vec<u8>> {
    let mut buf = [0u8; 4096];
    // SAFETY: readlink writes at most the given length into the buffer.
    let n = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n > 0).then(|| buf[..n as usize].to_vec())
}
