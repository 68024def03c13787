//! What every Rust function gets: panic and out-of-memory reports to the host log.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::bindings::{log, Level};

/// Sends panic messages to the host log (a panic then aborts, which traps).
pub fn install_panic_hook() {
    static mut INSTALLED: bool = false;
    unsafe {
        if INSTALLED {
            return;
        }
        INSTALLED = true;
    }
    std::panic::set_hook(Box::new(|info| {
        log::log(Level::Error, &format!("panic: {}", info));
    }));
}

const RESERVE_SIZE: usize = 64 * 1024;
static mut RESERVE: *mut u8 = std::ptr::null_mut();

/// The system allocator, plus a small reserve released on allocation failure
/// so the "out of memory" report itself can allocate.
pub struct GuardedAlloc;

fn reserve_layout() -> Layout {
    unsafe { Layout::from_size_align_unchecked(RESERVE_SIZE, 16) }
}

#[cold]
fn out_of_memory(size: usize) -> ! {
    unsafe {
        if !RESERVE.is_null() {
            System.dealloc(RESERVE, reserve_layout());
            RESERVE = std::ptr::null_mut();
        }
    }
    log::log(Level::Error, &format!("out of memory: allocation of {} bytes failed", size));
    std::process::abort()
}

unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if RESERVE.is_null() {
            RESERVE = System.alloc(reserve_layout());
        }
        let ptr = System.alloc(layout);
        if ptr.is_null() {
            out_of_memory(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if new.is_null() {
            out_of_memory(new_size);
        }
        new
    }
}
