//! Device discovery: is there a usable CUDA driver and GPU, how many, what are they called.
//!
//! Every function here is safe to call on a machine with no CUDA at all: the driver library
//! is looked for first (see [`super::loader`]), any driver error reads as "no device", and
//! nothing panics. Without a driver the answer comes from a failed `dlopen`, in well under a
//! millisecond.

use super::loader;
use crate::error::{Error, Result};
use std::sync::OnceLock;

const NO_DRIVER: &str = "Found no NVIDIA driver on your system. Please check that you have an \
    NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx";

/// Runs `f`, turning a panic inside cudarc (a missing symbol in an unexpected driver build,
/// say) into an error, so no panic escapes to callers such as the Python bindings.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::Runtime(format!("CUDA error: {what} failed"))))
}

/// The number of CUDA devices, or why there are none usable (no driver library, or `cuInit`
/// failed). Computed once per process, as CUDA fixes the device list at `cuInit`.
fn probe() -> &'static Result<usize> {
    static COUNT: OnceLock<Result<usize>> = OnceLock::new();
    COUNT.get_or_init(|| {
        if !loader::driver_present() {
            return Err(Error::Runtime(NO_DRIVER.into()));
        }
        guarded("cuInit", || {
            cudarc::driver::result::init().map_err(|e| {
                Error::Runtime(format!(
                    "CUDA driver initialization failed, you might not have a CUDA gpu. ({e:?})"
                ))
            })?;
            let n = cudarc::driver::result::device::get_count()
                .map_err(|e| Error::Runtime(format!("CUDA error: cuDeviceGetCount: {e:?}")))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    })
}

/// The number of CUDA devices, or PyTorch's error when there is no usable driver or none.
pub fn device_count_checked() -> Result<usize> {
    let n = probe().clone()?;
    if n == 0 {
        return Err(Error::Runtime("No CUDA GPUs are available".into()));
    }
    Ok(n)
}

/// Whether a CUDA driver is installed and sees at least one device
/// (`torch.cuda.is_available()`).
pub fn is_available() -> bool {
    device_count() > 0
}

/// The number of CUDA devices the driver sees; 0 without a driver or when it fails to
/// initialise (`torch.cuda.device_count()`).
pub fn device_count() -> usize {
    probe().as_ref().map_or(0, |&n| n)
}

/// The name of device `index`, e.g. `"NVIDIA H100 80GB HBM3"`
/// (`torch.cuda.get_device_name(index)`).
///
/// # Errors
/// [`Error::Runtime`] when there is no usable driver or device, or `index` is out of range.
pub fn device_name(index: usize) -> Result<String> {
    let n = probe().clone()?;
    if index >= n {
        return Err(Error::Runtime(format!(
            "Invalid device id {index}: this machine has {n} CUDA device{}",
            if n == 1 { "" } else { "s" }
        )));
    }
    let ordinal = i32::try_from(index).map_err(|_| Error::Runtime("Invalid device id".into()))?;
    guarded("cuDeviceGetName", || {
        let dev = cudarc::driver::result::device::get(ordinal)
            .map_err(|e| Error::Runtime(format!("CUDA error: cuDeviceGet({index}): {e:?}")))?;
        cudarc::driver::result::device::get_name(dev)
            .map_err(|e| Error::Runtime(format!("CUDA error: cuDeviceGetName({index}): {e:?}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_answer_without_panicking() {
        let n = device_count();
        assert_eq!(is_available(), n > 0);
        // Out of range always errors, with or without a driver.
        assert!(device_name(n).is_err());
        if n > 0 {
            assert!(!device_name(0).unwrap().is_empty());
        }
    }

    #[test]
    fn no_driver_means_no_devices() {
        if !loader::driver_present() {
            assert_eq!(device_count(), 0);
            assert!(!is_available());
            let e = device_name(0).unwrap_err().to_string();
            assert!(e.contains("NVIDIA driver"), "{e}");
        }
    }
}
