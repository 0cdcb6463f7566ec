//! Shared memory for host buffers that several processes map (`Tensor.share_memory_()`,
//! tensors sent through `rustorch.multiprocessing`): an anonymous memory file
//! (`memfd_create`) mapped `MAP_SHARED`. Another process maps the same pages from a duplicate
//! of its file descriptor (PyTorch's `file_descriptor` sharing strategy), and the memory is
//! returned to the system when the last mapping and descriptor are gone: nothing is left in
//! `/dev/shm` by a process that dies.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// One mapping of a memory file, unmapped on drop; the descriptor stays open so that the
/// memory can be handed to further processes.
pub struct SharedRegion {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    bytes: usize,
}

// SAFETY: the region is plain memory owned by this value; concurrent access to its bytes is
// governed by the buffers that view it (as for any host buffer).
unsafe impl Send for SharedRegion {}
// SAFETY: see `Send`.
unsafe impl Sync for SharedRegion {}

fn os_error(what: &str) -> Error {
    Error::Runtime(format!(
        "share_memory_: {what} failed ({})",
        std::io::Error::last_os_error()
    ))
}

impl SharedRegion {
    /// A new zero-filled region of `bytes` bytes.
    pub fn new(bytes: usize) -> Result<SharedRegion> {
        super::check_host_alloc(bytes)?;
        // SAFETY: the name is a zero-terminated string; the call returns a new descriptor or -1.
        let fd = unsafe { libc::memfd_create(c"rustorch-shared".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(os_error("memfd_create"));
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = libc::off_t::try_from(bytes)
            .map_err(|_| Error::Runtime(format!("share_memory_: {bytes} bytes is too large")))?;
        // SAFETY: `fd` is an open memory file.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
            return Err(os_error("ftruncate"));
        }
        SharedRegion::map(fd, bytes)
    }

    /// Maps `bytes` bytes of the memory file `fd`, which the region takes over (a descriptor
    /// received from another process).
    ///
    /// Fails if the file is shorter than `bytes`.
    pub fn from_fd(fd: OwnedFd, bytes: usize) -> Result<SharedRegion> {
        // SAFETY: `stat` is plain data that fstat fills in.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is an open descriptor and `st` a valid destination.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(os_error("fstat"));
        }
        if (st.st_size as u64) < bytes as u64 {
            return Err(Error::Runtime(format!(
                "shared memory of {} bytes cannot hold a storage of {bytes} bytes",
                st.st_size
            )));
        }
        SharedRegion::map(fd, bytes)
    }

    fn map(fd: OwnedFd, bytes: usize) -> Result<SharedRegion> {
        if bytes == 0 {
            // Nothing to map; a dangling pointer aligned for every dtype (16 bytes) serves a
            // zero-length slice.
            return Ok(SharedRegion {
                fd,
                ptr: NonNull::<u128>::dangling().cast(),
                bytes,
            });
        }
        // SAFETY: maps `bytes` bytes of an open file that is at least that long; the result is
        // checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(os_error("mmap"));
        }
        let ptr = NonNull::new(p as *mut u8).ok_or_else(|| os_error("mmap"))?;
        Ok(SharedRegion { fd, ptr, bytes })
    }

    /// The first byte (page-aligned when mapped, so aligned for every dtype).
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The memory file's descriptor (still owned by the region).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        if self.bytes > 0 {
            // SAFETY: the mapping made in `map`, unmapped once; no buffer views it any more
            // (the region is dropped with the last buffer that holds it).
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.bytes) };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::HostBuffer;
    use crate::tensor::dtype::DType;

    #[test]
    fn a_buffer_moved_into_shared_memory_is_mapped_again_from_its_descriptor() {
        let b = HostBuffer::from_vec((0..1000).map(|i| i as f32).collect::<Vec<_>>());
        assert!(!b.is_shared() && b.shared_fd().is_none());
        let before = b.as_ptr();
        b.share_memory().unwrap();
        assert!(b.is_shared() && b.as_ptr() != before);
        assert_eq!(b.as_slice::<f32>()[999], 999.0);
        let fd = b.shared_fd().unwrap();
        b.share_memory().unwrap(); // a no-op once shared
        assert_eq!(b.shared_fd(), Some(fd));
        // a second mapping of the same file sees writes made through the first
        let other = HostBuffer::from_shared_fd(dup(fd), 1000, DType::F32).unwrap();
        // SAFETY (test): no other slice of `b` is alive while it is written.
        unsafe { b.as_mut_slice::<f32>()[7] = -1.0 };
        assert_eq!(other.as_slice::<f32>()[7], -1.0);
        // a file too short for the storage is refused
        let short = HostBuffer::from_shared_fd(dup(fd), 2000, DType::F32);
        assert!(short.is_err());
    }

    /// A new descriptor for the same file.
    fn dup(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
        // SAFETY (test): `fd` is open for the whole test (owned by the buffer).
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        borrowed.try_clone_to_owned().unwrap()
    }
}
