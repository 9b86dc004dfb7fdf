//! The counting global allocator behind observa's per-request `alloc_bytes`, re-exported as
//! `observa::resource::CountingAlloc`.
//!
//! The one `unsafe` item of observa lives here, in a crate of its own, so that the runtime
//! crate can `#![forbid(unsafe_code)]`: implementing [`GlobalAlloc`] cannot be done without
//! `unsafe`. Each method delegates to [`System`] unchanged and, on success, adds the bytes to a
//! per-thread counter; nothing else.

#![deny(unsafe_op_in_unsafe_fn, missing_docs, unreachable_pub)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// Bytes allocated by this thread since it started (monotonic). `const`-initialised `Cell`:
    /// no lazy registration and no destructor, so it is safe to touch from inside the
    /// allocator.
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A global allocator that counts the bytes each thread allocates, so observa can report
/// `alloc_bytes` per request and per `#[observed]` call. Opt-in: install it in the binary.
///
/// ```standalone_crate
/// #[global_allocator]
/// static ALLOC: observa_alloc::CountingAlloc = observa_alloc::CountingAlloc;
/// # fn main() {
/// #     let v: Vec<u8> = Vec::with_capacity(4096);
/// #     assert!(v.capacity() >= 4096);
/// #     assert!(observa_alloc::thread_allocated().is_some_and(|n| n >= 4096));
/// # }
/// ```
///
/// Cost: one thread-local add per allocation. It counts bytes requested by `alloc`,
/// `alloc_zeroed` and the growth of `realloc`; frees are not subtracted (the figure is what the
/// request allocated, not what it kept).
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAlloc;

#[inline]
fn count(bytes: usize) {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    // `try_with`: during thread teardown the slot may be gone; then the bytes are not counted.
    let _ = ALLOCATED.try_with(|c| c.set(c.get().wrapping_add(bytes as u64)));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the only addition is a thread-local counter update that neither
// allocates nor unwinds (a `const`-initialised `Cell<u64>` has no lazy initialisation and no
// destructor, and `try_with` does not panic).
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && new_size > layout.size() {
            count(new_size - layout.size());
        }
        p
    }
}

/// Bytes this thread allocated so far, when [`CountingAlloc`] is the global allocator
/// (`None` when it is not, or during thread teardown).
#[inline]
pub fn thread_allocated() -> Option<u64> {
    if INSTALLED.load(Ordering::Relaxed) {
        ALLOCATED.try_with(Cell::get).ok()
    } else {
        None
    }
}
