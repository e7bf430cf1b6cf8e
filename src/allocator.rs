//! The global allocator of both binaries: mimalloc (see Cargo.toml for why),
//! asked for a plain block whenever any block will do.
//!
//! The `mimalloc` crate sends every allocation through mimalloc's aligned
//! entry points, which check the alignment and look for a suitably aligned
//! block before taking the common path. Every mimalloc block is aligned to
//! a word (its size classes are multiples of one), so an alignment of a
//! word or less, which is nearly every allocation here (strings, vectors
//! of pointers and of structs of them), goes to `mi_malloc`; anything
//! else keeps the aligned path.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use libmimalloc_sys as ffi;

pub struct MiMalloc;

/// The alignment every mimalloc block has.
const WORD: usize = core::mem::size_of::<usize>();

// SAFETY: each method forwards to the mimalloc function with the same
// contract, with the layout's alignment whenever it exceeds what every
// block has.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            ffi::mi_malloc(layout.size()) as *mut u8
        } else {
            ffi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            ffi::mi_zalloc(layout.size()) as *mut u8
        } else {
            ffi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        ffi::mi_free(ptr as *mut c_void)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            ffi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            ffi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_asked_for() {
        // Every size up to a few pages, at each alignment from a byte to a
        // page, allocated, grown and zeroed.
        for align in (0..=12).map(|s| 1usize << s) {
            for size in (1..=4096).step_by(7).chain([align, 3 * align]) {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let p = MiMalloc.alloc(layout);
                    assert!(!p.is_null() && p as usize % align == 0, "{size} at {align}");
                    p.write_bytes(0xa5, size);
                    let q = MiMalloc.realloc(p, layout, size * 2 + 1);
                    assert!(!q.is_null() && q as usize % align == 0, "{size} at {align}, grown");
                    assert!(std::slice::from_raw_parts(q, size).iter().all(|&b| b == 0xa5), "{size} at {align}: kept");
                    MiMalloc.dealloc(q, Layout::from_size_align(size * 2 + 1, align).unwrap());
                    let z = MiMalloc.alloc_zeroed(layout);
                    assert!(!z.is_null() && z as usize % align == 0 && std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    MiMalloc.dealloc(z, layout);
                }
            }
        }
    }
}
