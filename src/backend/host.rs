//! `HostBuffer`: a flat run of elements in host memory — the CPU backend's buffer, and what
//! the other backends copy to and from.
//!
//! The memory is either owned (a `Vec<T>` the buffer allocated) or foreign (memory of another
//! library, e.g. a NumPy array, kept alive by `owner`). Either way the buffer hands out raw
//! element slices; it never reallocates, so pointers stay valid for its whole life.

use super::shm::SharedRegion;
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Element};
use std::any::Any;
use std::os::fd::{OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

/// The most bytes one tensor may ask of host memory: RAM plus swap (`/proc/meminfo`), and
/// no more than a cgroup's `memory.max` where one is set: the bound Linux's default
/// overcommit heuristic puts on one allocation. mimalloc reserves large blocks lazily and
/// would hand out more, the process then being killed when the pages are touched; PyTorch's
/// allocator gets the kernel's refusal instead. Unbounded where neither file is readable.
fn host_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let kib = |info: &str, key: &str| -> Option<usize> {
            let line = info.lines().find(|l| l.starts_with(key))?;
            line[key.len()..].split_whitespace().next()?.parse().ok()
        };
        let machine = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| {
                let total = kib(&info, "MemTotal:")? + kib(&info, "SwapTotal:").unwrap_or(0);
                total.checked_mul(1024)
            });
        let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok());
        machine
            .into_iter()
            .chain(cgroup)
            .min()
            .unwrap_or(usize::MAX)
    })
}

/// PyTorch's CPU allocator error (a `RuntimeError`) for a request of `bytes` more than this
/// machine could ever provide (see `host_limit`), checked before a large tensor's memory
/// is allocated so that the request raises instead of aborting or being killed later.
pub fn check_host_alloc(bytes: usize) -> Result<()> {
    if bytes <= host_limit() {
        return Ok(());
    }
    Err(Error::Runtime(format!(
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate {bytes} bytes. Error code 12 (Cannot allocate memory)"
    )))
}

pub struct HostBuffer {
    /// The elements: in `_owner`'s memory, or in `shared` once the buffer moved there.
    ptr: AtomicPtr<u8>,
    len: usize,
    dtype: DType,
    /// Page-locked (`Tensor.is_pinned()`), allocated through a GPU driver.
    pinned: bool,
    /// Keeps the memory alive: the `Vec<T>` itself, or a foreign owner. Kept after a move
    /// into shared memory too, as slices taken before the move may still read it.
    _owner: Box<dyn Any + Send + Sync>,
    /// The shared memory the elements live in (`share_memory_`, or received from another
    /// process). Set only after `ptr` points into it.
    shared: OnceLock<SharedRegion>,
    /// Serialises moves into shared memory.
    moving: parking_lot::Mutex<()>,
}

// SAFETY: the buffer is plain data owned by `_owner` or `shared` (both Send + Sync); concurrent
// writes through shared storages (from other threads, or other processes mapping shared
// memory) are the caller's race exactly as in PyTorch, and the engine itself only writes into
// buffers it has just allocated or through copies that never alias their source.
unsafe impl Send for HostBuffer {}
// SAFETY: see `Send` above.
unsafe impl Sync for HostBuffer {}

impl HostBuffer {
    #[inline]
    pub fn from_vec<T: Element>(mut v: Vec<T>) -> HostBuffer {
        let len = v.len();
        // An empty Vec's pointer is dangling but aligned, which is all a zero-length slice needs.
        let ptr = NonNull::new(v.as_mut_ptr() as *mut u8).expect("Vec pointer is never null");
        HostBuffer {
            ptr: AtomicPtr::new(ptr.as_ptr()),
            len,
            dtype: T::DTYPE,
            pinned: false,
            _owner: Box::new(v),
            shared: OnceLock::new(),
            moving: parking_lot::Mutex::new(()),
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
    ) -> HostBuffer {
        HostBuffer {
            ptr: AtomicPtr::new(ptr.as_ptr()),
            len,
            dtype,
            pinned: false,
            _owner: owner,
            shared: OnceLock::new(),
            moving: parking_lot::Mutex::new(()),
        }
    }

    /// Wraps page-locked memory.
    ///
    /// # Safety
    /// As [`HostBuffer::from_foreign`].
    pub unsafe fn from_pinned(
        ptr: NonNull<u8>,
        len: usize,
        dtype: DType,
        owner: Box<dyn Any + Send + Sync>,
    ) -> HostBuffer {
        // SAFETY: forwarded from the caller.
        let base = unsafe { HostBuffer::from_foreign(ptr, len, dtype, owner) };
        HostBuffer {
            pinned: true,
            ..base
        }
    }

    /// Whether the memory is page-locked.
    pub fn is_pinned(&self) -> bool {
        self.pinned && self.shared.get().is_none()
    }

    /// A buffer of `len` elements of `dtype` in the memory file `fd` received from another
    /// process, which the buffer takes over.
    pub fn from_shared_fd(fd: OwnedFd, len: usize, dtype: DType) -> Result<HostBuffer> {
        let bytes = len.checked_mul(dtype.size()).ok_or_else(|| {
            Error::Runtime(format!("a shared storage of {len} elements overflows"))
        })?;
        let region = SharedRegion::from_fd(fd, bytes)?;
        let shared = OnceLock::new();
        let ptr = region.ptr().as_ptr();
        let _ = shared.set(region);
        Ok(HostBuffer {
            ptr: AtomicPtr::new(ptr),
            len,
            dtype,
            pinned: false,
            _owner: Box::new(()),
            shared,
            moving: parking_lot::Mutex::new(()),
        })
    }

    /// Moves the elements into shared memory that other processes can map (PyTorch's
    /// `share_memory_`); a no-op if they are there already. Views of the buffer see the
    /// move; a write made by another thread while the elements are copied may be lost, as
    /// in PyTorch. The old memory stays allocated until the buffer is dropped, since a slice
    /// taken before the move may still read it.
    pub fn share_memory(&self) -> Result<()> {
        let _moving = self.moving.lock();
        if self.shared.get().is_some() {
            return Ok(());
        }
        let region = SharedRegion::new(self.len * self.dtype.size())?;
        let bytes = self.as_bytes();
        // SAFETY: the region was just made with room for exactly these bytes, and nothing
        // else views it yet.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), region.ptr().as_ptr(), bytes.len())
        };
        // The pointer moves before `shared` is published, so whoever sees the buffer shared
        // (and hands its descriptor on) also writes into the shared memory.
        self.ptr.store(region.ptr().as_ptr(), Ordering::Release);
        let _ = self.shared.set(region);
        Ok(())
    }

    /// Whether the elements live in shared memory.
    pub fn is_shared(&self) -> bool {
        self.shared.get().is_some()
    }

    /// The descriptor of the shared memory file holding the elements (owned by the buffer;
    /// duplicate it to hand it on).
    pub fn shared_fd(&self) -> Option<RawFd> {
        self.shared.get().map(SharedRegion::fd)
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline]
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.load(Ordering::Acquire)
    }

    /// The elements, read-only.
    ///
    /// Panics (an engine bug, never user input) if `T` is not this buffer's dtype.
    #[inline]
    pub fn as_slice<T: Element>(&self) -> &[T] {
        assert_eq!(T::DTYPE, self.dtype, "buffer dtype mismatch");
        // SAFETY: ptr/len describe initialised elements of T (checked dtype) kept alive by
        // `_owner` or `shared`, both dropped only with the buffer.
        unsafe { std::slice::from_raw_parts(self.as_ptr() as *const T, self.len) }
    }

    /// The elements, writable.
    ///
    /// # Safety
    /// The caller must ensure no other slice of this buffer is alive while the returned one
    /// is written (the engine writes only into fresh buffers or via non-aliasing copies).
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub unsafe fn as_mut_slice<T: Element>(&self) -> &mut [T] {
        assert_eq!(T::DTYPE, self.dtype, "buffer dtype mismatch");
        // SAFETY: as `as_slice`, with exclusivity promised by the caller.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr() as *mut T, self.len) }
    }

    /// A buffer of `n` elements of `dtype`, zero-filled (a destination for device reads).
    pub fn zeros(dtype: DType, n: usize) -> HostBuffer {
        crate::with_dtype!(dtype, T, HostBuffer::from_vec(vec![T::default(); n]))
    }

    /// The raw bytes, writable (a destination for device reads).
    ///
    /// # Safety
    /// As [`HostBuffer::as_mut_slice`]; and bytes written for a bool buffer must be 0 or 1.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_bytes(&self) -> &mut [u8] {
        // SAFETY: the buffer holds `len` elements of `dtype.size()` bytes; exclusivity and
        // valid bool bytes are promised by the caller.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.len * self.dtype.size()) }
    }

    /// The raw bytes (for transfers to a device).
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the buffer holds `len` initialised elements of `dtype.size()` bytes each.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len * self.dtype.size()) }
    }
}

impl Clone for HostBuffer {
    /// A copy that owns its elements.
    fn clone(&self) -> HostBuffer {
        crate::with_dtype!(
            self.dtype(),
            T,
            HostBuffer::from_vec(self.as_slice::<T>().to_vec())
        )
    }
}

impl std::fmt::Debug for HostBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostBuffer({} x {})", self.len, self.dtype)
    }
}
