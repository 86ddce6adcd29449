//! The archive's global allocator: mimalloc, unless the process asks for the system allocator.
//!
//! hyper allocates ~36 blocks per small HTTP/1.1 exchange (the request and response parts, header
//! maps, the boxed send task, body channels, a fresh 8 KiB read buffer). Through glibc's malloc
//! those cost about a tenth of the client's CPU (the three blocks over 1 KiB take the large-bin
//! path with fastbin consolidation); mimalloc's thread-local free lists serve them for much less
//! (bench/PROFILE.md, "Fifth round"). Blocks of 64 KiB and more stay with the system allocator
//! (`LARGE`).
//!
//! `NODE_HYPER_ALLOCATOR=system` routes every Rust allocation to the C library's `malloc`
//! instead, so that valgrind and AddressSanitizer see (and check) each of hyper's blocks; the
//! sanitizer scripts set it. The choice is made once, on the archive's first allocation, and never
//! changes afterwards, so every block is freed by the allocator that made it. Only the Rust side is
//! affected: the C++ addon and Node keep the process's malloc either way, and mimalloc does not
//! replace `malloc` (no `override` feature).
//!
//! mimalloc is built with local-dynamic TLS (`local_dynamic_tls`): the addon is a shared object
//! that Node loads with dlopen, where initial-exec TLS fails ("cannot allocate memory in static
//! TLS block").
use std::alloc::{GlobalAlloc, Layout, System};
use std::os::raw::{c_char, c_int, c_long};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

extern "C" {
    fn getenv(name: *const c_char) -> *const c_char;
    // mimalloc's (built by libmimalloc-sys, pinned through mimalloc =0.1.52 in Cargo.lock).
    fn mi_option_set(option: c_int, value: c_long);
}

/// `mi_option_arena_eager_commit` in mimalloc.h's `mi_option_e` (v2, as libmimalloc-sys 0.1.49
/// builds it): the fifth entry. The crate's Rust bindings do not name it.
const MI_OPTION_ARENA_EAGER_COMMIT: c_int = 4;

/// The value of an environment variable, read without allocating (this runs inside the first
/// allocation).
fn env_var(name: &[u8]) -> Option<&'static [u8]> {
    debug_assert!(name.ends_with(b"\0"));
    // SAFETY: a NUL-terminated name; getenv returns null or a NUL-terminated string it owns.
    unsafe {
        let v = getenv(name.as_ptr() as *const c_char);
        if v.is_null() { None } else { Some(std::ffi::CStr::from_ptr(v).to_bytes()) }
    }
}

#[cold]
fn decide() -> u8 {
    let system = env_var(b"NODE_HYPER_ALLOCATOR\0") == Some(b"system");
    if !system && env_var(b"MIMALLOC_ARENA_EAGER_COMMIT\0").is_none() {
        // mimalloc's default commits its arenas eagerly where the OS overcommits (Linux). In a
        // client holding 10,000 idle keep-alive connections that cost ~13 KiB of RSS per
        // connection more than glibc (37 vs 24 KiB); committed on demand, ~26 KiB, at the same
        // request-path speed. (An explicit MIMALLOC_ARENA_EAGER_COMMIT still wins.)
        // SAFETY: sets an option before mimalloc's first allocation from this archive.
        unsafe { mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    }
    let want = if system { SYSTEM } else { MIMALLOC };
    match CHOICE.compare_exchange(UNDECIDED, want, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => want,
        Err(first) => first,
    }
}

#[inline(always)]
fn choice() -> u8 {
    match CHOICE.load(Ordering::Relaxed) {
        UNDECIDED => decide(),
        c => c,
    }
}

/// Blocks of this size and above go to the system allocator even when mimalloc serves the rest:
/// hyper's read buffer for a large body grows to 408 KiB, is allocated about three times per MiB
/// read, and in mimalloc each such block gets its own page that is purged (handed back to the
/// kernel) once freed and faulted in again on reuse; glibc keeps them in its heap. A streaming
/// 1 MiB download cost 15–38% more CPU per MiB with every block in mimalloc. Routing by size is
/// exact because `dealloc` and `realloc` receive the block's layout.
const LARGE: usize = 64 * 1024;

#[inline(always)]
fn mimalloc_serves(size: usize) -> bool {
    size < LARGE && choice() == MIMALLOC
}

pub struct NodeHyperAlloc;

unsafe impl GlobalAlloc for NodeHyperAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mimalloc_serves(layout.size()) { MiMalloc.alloc(layout) } else { System.alloc(layout) }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mimalloc_serves(layout.size()) { MiMalloc.alloc_zeroed(layout) } else { System.alloc_zeroed(layout) }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mimalloc_serves(layout.size()) { MiMalloc.dealloc(ptr, layout) } else { System.dealloc(ptr, layout) }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let from_mi = mimalloc_serves(layout.size());
        let to_mi = mimalloc_serves(new_size);
        if from_mi == to_mi {
            return if from_mi { MiMalloc.realloc(ptr, layout, new_size) } else { System.realloc(ptr, layout, new_size) };
        }
        // Crossing LARGE: a block from the other allocator, the bytes copied over, the old one freed.
        // SAFETY: the caller guarantees new_size > 0 and that it rounds to a valid layout.
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new_ptr = self.alloc(new_layout);
        if !new_ptr.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new_ptr
    }
}

#[global_allocator]
static GLOBAL: NodeHyperAlloc = NodeHyperAlloc;

/// Which allocator serves the archive's Rust allocations: 1 = mimalloc, 2 = the system's malloc
/// (deciding now if nothing has been allocated yet). For the addon's `allocator()` report.
#[no_mangle]
pub extern "C" fn node_hyper_allocator() -> c_int {
    choice() as c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    // Blocks that grow or shrink across LARGE move between the two allocators with their bytes.
    #[test]
    fn realloc_across_large_keeps_the_bytes() {
        for (from, to) in [(1000, LARGE + 1000), (LARGE - 1, LARGE), (LARGE * 4, 100), (LARGE, LARGE - 1), (16, 32)] {
            let layout = Layout::from_size_align(from, 8).unwrap();
            unsafe {
                let p = GLOBAL.alloc(layout);
                assert!(!p.is_null());
                for i in 0..from { *p.add(i) = (i % 251) as u8; }
                let q = GLOBAL.realloc(p, layout, to);
                assert!(!q.is_null());
                for i in 0..from.min(to) { assert_eq!(*q.add(i), (i % 251) as u8, "byte {i} of {from} -> {to}"); }
                GLOBAL.dealloc(q, Layout::from_size_align(to, 8).unwrap());
            }
        }
        // And through a Vec, the way BytesMut grows hyper's read buffer.
        let mut v: Vec<u8> = Vec::with_capacity(8192);
        for i in 0..(LARGE * 3) { v.push((i % 13) as u8); }
        assert!(v.iter().enumerate().all(|(i, b)| *b == (i % 13) as u8));
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v, (0..10).map(|i| (i % 13) as u8).collect::<Vec<_>>());
    }
}
