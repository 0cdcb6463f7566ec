//! The CUDA backend (feature `cuda`), through cudarc with dynamic loading: the crate builds,
//! links and runs on machines with no CUDA installed, where [`runtime::is_available`]
//! answers `false`.
//!
//! [`Cuda`] implements every op family of [`crate::backend::Backend`] with CUDA C kernels
//! (`kernels/`, compiled at first use by NVRTC for the device's own architecture and cached
//! in memory and on disk) and cuBLAS for float products. Device memory goes through a caching
//! allocator ([`allocator`]). A device is reached through [`device::DeviceApi`], which the
//! tests also implement on the host to run the same kernels as C++ ([`host_check`]).

pub mod allocator;
mod attention;
mod backend;
pub mod blas;
mod buffer;
pub mod device;
mod elementwise;
pub mod event;
mod fused;
#[cfg(test)]
mod host_check;
mod index;
pub mod kernels;
pub mod loader;
mod matmul;
mod norm;
pub mod nvrtc;
mod random;
mod reduce;
mod rnn;
mod roi;
pub mod runtime;
mod search;
mod window;

pub use backend::Cuda;
pub use buffer::CudaBuffer;

use crate::error::Result;
use parking_lot::Mutex;

/// Whether tensors can be placed on a GPU: a driver sees at least one device.
pub fn is_available() -> bool {
    runtime::is_available()
}

/// The number of GPUs tensors can be placed on.
pub fn device_count() -> usize {
    runtime::device_count()
}

static CURRENT: Mutex<usize> = Mutex::new(0);

/// The device a bare `"cuda"` means (`torch.cuda.current_device()`).
pub fn current_device() -> usize {
    *CURRENT.lock()
}

/// `torch.cuda.set_device`.
pub fn set_device(ordinal: usize) -> Result<()> {
    let n = runtime::device_count_checked()?;
    if ordinal >= n {
        return Err(crate::error::Error::Runtime(format!(
            "CUDA error: invalid device ordinal (device {ordinal} requested, {n} available)"
        )));
    }
    *CURRENT.lock() = ordinal;
    Ok(())
}
