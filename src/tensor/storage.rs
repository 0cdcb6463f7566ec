//! `Storage`: one flat buffer of elements shared by every view of it.
//!
//! The buffer is either owned (a `Vec<T>` the storage allocated) or foreign (memory of
//! another library, e.g. a NumPy array, kept alive by `owner`). Either way the storage
//! hands out raw element slices; it never reallocates, so pointers stay valid for its
//! whole life. The version counter lives here because PyTorch shares it among views.

use super::dtype::{DType, Element};
use std::any::Any;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Storage {
    ptr: NonNull<u8>,
    len: usize,
    dtype: DType,
    /// Keeps the memory alive: the `Vec<T>` itself, or a foreign owner.
    _owner: Box<dyn Any + Send + Sync>,
    version: AtomicU64,
}

// SAFETY: the buffer is plain data owned by `_owner` (Send + Sync); concurrent writes through
// shared storages are the caller's race exactly as in PyTorch, and the engine itself only writes
// into storages it has just allocated or through `copy_into`, which never aliases its source.
unsafe impl Send for Storage {}
// SAFETY: see `Send` above.
unsafe impl Sync for Storage {}

impl Storage {
    pub fn from_vec<T: Element>(mut v: Vec<T>) -> Storage {
        let len = v.len();
        // An empty Vec's pointer is dangling but aligned, which is all a zero-length slice needs.
        let ptr = NonNull::new(v.as_mut_ptr() as *mut u8).expect("Vec pointer is never null");
        Storage {
            ptr,
            len,
            dtype: T::DTYPE,
            _owner: Box::new(v),
            version: AtomicU64::new(0),
        }
    }

    /// Wraps foreign memory.
    ///
    /// # Safety
    /// `ptr` must point to `len` initialised, properly aligned elements of `dtype` that stay
    /// valid and are not freed for as long as `owner` is alive.
    pub unsafe fn from_foreign(
        ptr: NonNull<u8>,
        len: usize,
        dtype: DType,
        owner: Box<dyn Any + Send + Sync>,
    ) -> Storage {
        Storage {
            ptr,
            len,
            dtype,
            _owner: owner,
            version: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The elements, read-only.
    ///
    /// Panics (an engine bug, never user input) if `T` is not this storage's dtype.
    pub fn as_slice<T: Element>(&self) -> &[T] {
        assert_eq!(T::DTYPE, self.dtype, "storage dtype mismatch");
        // SAFETY: ptr/len describe initialised elements of T (checked dtype) kept alive by _owner.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr() as *const T, self.len) }
    }

    /// The elements, writable.
    ///
    /// # Safety
    /// The caller must ensure no other slice of this storage is alive while the returned one
    /// is written (the engine writes only into fresh storages or via non-aliasing copies).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice<T: Element>(&self) -> &mut [T] {
        assert_eq!(T::DTYPE, self.dtype, "storage dtype mismatch");
        std::slice::from_raw_parts_mut(self.ptr.as_ptr() as *mut T, self.len)
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }
}
