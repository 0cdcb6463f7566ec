//! CUDA events (timing and synchronisation points on the default stream) and pinned host
//! memory, for `rustorch.cuda.Event` and `Tensor.pin_memory()`.

use super::device::{gpu, Gpu};
use crate::backend::HostBuffer;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use cudarc::driver::{result, sys};
use std::ptr::NonNull;
use std::sync::Arc;

fn driver_err(what: &str) -> impl Fn(result::DriverError) -> Error + '_ {
    move |e| Error::Runtime(format!("CUDA error: {what}: {e:?}"))
}

/// A CUDA event on one device.
pub struct Event {
    gpu: Arc<Gpu>,
    event: sys::CUevent,
    timing: bool,
    recorded: bool,
}

// SAFETY: a CUevent is an opaque handle usable from any thread with its context bound
// (every method binds it first).
unsafe impl Send for Event {}
// SAFETY: as above; the methods taking `&self` only query the driver.
unsafe impl Sync for Event {}

impl Event {
    /// An event on device `ordinal`; `timing` enables `elapsed_ms`.
    pub fn new(ordinal: usize, timing: bool) -> Result<Event> {
        let gpu = gpu(ordinal)?;
        gpu.bind()?;
        let flags = if timing {
            sys::CUevent_flags::CU_EVENT_DEFAULT
        } else {
            sys::CUevent_flags::CU_EVENT_DISABLE_TIMING
        };
        let event = result::event::create(flags).map_err(driver_err("cuEventCreate"))?;
        Ok(Event {
            gpu,
            event,
            timing,
            recorded: false,
        })
    }
    /// Records the event on the default stream (after the work queued so far).
    pub fn record(&mut self) -> Result<()> {
        self.gpu.bind()?;
        // SAFETY: a live event of this context, recorded on the legacy default stream.
        unsafe { result::event::record(self.event, std::ptr::null_mut()) }
            .map_err(driver_err("cuEventRecord"))?;
        self.recorded = true;
        Ok(())
    }
    /// Waits until the work before the event is done.
    pub fn synchronize(&self) -> Result<()> {
        if !self.recorded {
            return Ok(());
        }
        self.gpu.bind()?;
        // SAFETY: a live, recorded event.
        unsafe { result::event::synchronize(self.event) }.map_err(driver_err("cuEventSynchronize"))
    }
    /// Whether the work before the event is done.
    pub fn query(&self) -> Result<bool> {
        if !self.recorded {
            return Ok(true);
        }
        self.gpu.bind()?;
        // SAFETY: a live event; NOT_READY is an answer, not an error.
        match unsafe { result::event::query(self.event) } {
            Ok(()) => Ok(true),
            Err(e) if e.0 == sys::CUresult::CUDA_ERROR_NOT_READY => Ok(false),
            Err(e) => Err(driver_err("cuEventQuery")(e)),
        }
    }
    /// Milliseconds from `self` to `end` (both recorded, with timing), as PyTorch's
    /// `Event.elapsed_time`.
    pub fn elapsed_ms(&self, end: &Event) -> Result<f32> {
        if !(self.timing && end.timing) {
            return Err(Error::Runtime(
                "Both events must be created with argument 'enable_timing=True'.".into(),
            ));
        }
        if !(self.recorded && end.recorded) {
            return Err(Error::Runtime(
                "Both events must be recorded before calculating elapsed time.".into(),
            ));
        }
        self.gpu.bind()?;
        end.synchronize()?;
        // SAFETY: two live, recorded timing events of the same context.
        unsafe { result::event::elapsed(self.event, end.event) }
            .map_err(driver_err("cuEventElapsedTime"))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if self.gpu.bind().is_ok() {
            // SAFETY: the event was created in `new` and is destroyed once.
            let _ = unsafe { result::event::destroy(self.event) };
        }
    }
}

/// Page-locked host memory, freed with the driver when dropped.
struct Pinned {
    gpu: Arc<Gpu>,
    ptr: NonNull<u8>,
}
// SAFETY: plain host memory; the pointer is only freed, once, in `drop`.
unsafe impl Send for Pinned {}
// SAFETY: as above.
unsafe impl Sync for Pinned {}

impl Drop for Pinned {
    fn drop(&mut self) {
        if self.gpu.bind().is_ok() {
            // SAFETY: allocated by `cuMemHostAlloc` in `pinned_host` and freed once.
            let _ = unsafe { result::free_host(self.ptr.as_ptr().cast()) };
        }
    }
}

/// `len` zeroed elements of `dtype` in page-locked host memory (copies between it and a GPU
/// run at full bus speed), as `Tensor.pin_memory()` allocates.
pub fn pinned_host(len: usize, dtype: DType) -> Result<HostBuffer> {
    let gpu = gpu(super::current_device())?;
    gpu.bind()?;
    let bytes = (len * dtype.size()).max(1);
    // SAFETY: a host allocation through the bound context; freed by `Pinned::drop`.
    let raw = unsafe { result::malloc_host(bytes, 0) }.map_err(driver_err("cuMemHostAlloc"))?;
    let ptr = NonNull::new(raw as *mut u8)
        .ok_or_else(|| Error::OutOfMemory("cuMemHostAlloc returned null".into()))?;
    // SAFETY: the allocation holds `bytes` bytes; zero them so the elements are valid
    // values of every dtype (bool included).
    unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, bytes) };
    let owner = Pinned { gpu, ptr };
    // SAFETY: `ptr` points to `len` initialised (zeroed) elements, aligned for any dtype
    // (page-aligned), kept alive by `owner` for the buffer's life.
    Ok(unsafe { HostBuffer::from_pinned(ptr, len, dtype, Box::new(owner)) })
}
