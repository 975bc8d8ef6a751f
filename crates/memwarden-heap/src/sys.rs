//! glibc's own allocator, which every interposed call ends in, and the global allocator of
//! this library itself (so nothing it allocates comes back through the hooks).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn __libc_free(p: *mut c_void);
}

/// `malloc` as glibc implements it, bypassing any interposer.
#[inline(always)]
pub fn malloc(size: usize) -> *mut c_void {
    // SAFETY: glibc's allocator entry points take any size.
    unsafe { __libc_malloc(size) }
}

/// `calloc` as glibc implements it.
#[inline(always)]
pub fn calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: as for malloc; glibc checks the product for overflow.
    unsafe { __libc_calloc(n, size) }
}

/// `realloc` as glibc implements it.
///
/// # Safety
/// `p` is null or a live pointer from glibc's allocator.
#[inline(always)]
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    __libc_realloc(p, size)
}

/// `memalign` as glibc implements it.
#[inline(always)]
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: glibc validates the alignment.
    unsafe { __libc_memalign(align, size) }
}

/// `free` as glibc implements it.
///
/// # Safety
/// `p` is null or a live pointer from glibc's allocator.
#[inline(always)]
pub unsafe fn free(p: *mut c_void) {
    __libc_free(p)
}

/// The global allocator of this library: glibc directly.
pub struct LibcAllocator;

// SAFETY: glibc's allocator returns memory aligned to 16 bytes; larger alignments go through
// memalign, and the layout's size is what was asked for.
unsafe impl GlobalAlloc for LibcAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= 16 {
            malloc(layout.size()).cast()
        } else {
            memalign(layout.align(), layout.size()).cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= 16 {
            calloc(1, layout.size()).cast()
        } else {
            let p = self.alloc(layout);
            if !p.is_null() {
                p.write_bytes(0, layout.size());
            }
            p
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, _layout: Layout) {
        free(p.cast())
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= 16 {
            realloc(p.cast(), new_size).cast()
        } else {
            let q = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
            if !q.is_null() {
                q.copy_from_nonoverlapping(p, layout.size().min(new_size));
                free(p.cast());
            }
            q
        }
    }
}
