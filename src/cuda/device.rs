//! One CUDA device: its context, memory (through the caching allocator), compiled kernels,
//! cuBLAS handle, random-number state and the record of failed in-kernel checks.
//!
//! The backend's op families talk to a device only through [`DeviceApi`]. [`Gpu`] implements
//! it with the CUDA driver; the tests implement it on the host (`super::host_check`), running
//! the same kernels compiled as C++ over host memory, so that every launch path of the
//! backend — argument packing, grid sizes, index arithmetic — is exercised without a GPU.
//!
//! All work goes to the device's legacy default stream, in order (PyTorch's default stream
//! is the same one): a freed block can be reused by the next allocation at once, and a copy
//! to the host waits for the kernels before it.

use super::allocator::{Block, CachingAllocator, DeviceMemory, MemoryStats};
use super::kernels::{self, KernelFile};
use super::{loader, nvrtc};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use cudarc::driver::{result, sys};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::{Arc, OnceLock};

/// The most dims a strided kernel takes (`RT_MAX_DIMS` in `common.cuh`).
pub const MAX_DIMS: usize = 8;

/// Sizes or strides of up to [`MAX_DIMS`] dims (`struct Dims` in `common.cuh`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dims {
    pub v: [i64; MAX_DIMS],
}

/// One operand of a strided kernel (`struct RtView`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct View {
    pub strides: Dims,
    pub offset: i64,
}

/// A number as a kernel argument, both as f64 and as i64 (`struct RtScalar`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KScalar {
    pub f: f64,
    pub i: i64,
}

impl From<crate::tensor::dtype::Scalar> for KScalar {
    fn from(s: crate::tensor::dtype::Scalar) -> KScalar {
        use crate::tensor::dtype::Scalar;
        match s {
            Scalar::Bool(b) => KScalar {
                f: b as u8 as f64,
                i: b as i64,
            },
            Scalar::Int(i) => KScalar { f: i as f64, i },
            Scalar::Float(f) => KScalar { f, i: f as i64 },
        }
    }
}

/// A value that can be passed to a kernel by value: plain data with the layout the kernel's
/// C parameter has.
///
/// # Safety
/// The type must be `#[repr(C)]` (or a primitive) with exactly the size, alignment and
/// layout of the parameter it is passed as, and contain no pointers the kernel would follow
/// other than device addresses (as `u64`).
pub unsafe trait KernelArg: Copy + 'static {}
// SAFETY: primitives have the C layout of the matching C types (u64 for pointers).
unsafe impl KernelArg for u64 {}
// SAFETY: as above.
unsafe impl KernelArg for i64 {}
// SAFETY: as above.
unsafe impl KernelArg for i32 {}
// SAFETY: as above.
unsafe impl KernelArg for f64 {}
// SAFETY: as above.
unsafe impl KernelArg for f32 {}
// SAFETY: `#[repr(C)]` arrays of i64, as `struct Dims`.
unsafe impl KernelArg for Dims {}
// SAFETY: `#[repr(C)]`, as `struct RtView`.
unsafe impl KernelArg for View {}
// SAFETY: `#[repr(C)]`, as `struct RtScalar`.
unsafe impl KernelArg for KScalar {}

/// The arguments of one launch, each at a stable 8-byte aligned address until the launch
/// (the driver reads them through `void**`).
#[derive(Default)]
pub struct Args {
    words: Vec<u64>,
    starts: Vec<usize>,
}

impl Args {
    pub fn new() -> Args {
        Args::default()
    }
    /// Appends one argument.
    pub fn arg<T: KernelArg>(&mut self, v: T) -> &mut Args {
        let words = std::mem::size_of::<T>().div_ceil(8);
        let start = self.words.len();
        self.words.resize(start + words, 0);
        // SAFETY: the words just added hold at least size_of::<T>() bytes, and u64 storage
        // is 8-byte aligned, which covers every KernelArg's alignment.
        unsafe {
            std::ptr::write_unaligned(self.words.as_mut_ptr().add(start) as *mut T, v);
        }
        self.starts.push(start);
        self
    }
    /// The `void*` array the launch API takes; valid while `self` is neither moved nor
    /// changed.
    pub fn pointers(&mut self) -> Vec<*mut c_void> {
        let base = self.words.as_mut_ptr();
        self.starts
            .iter()
            // SAFETY: every start lies within `words`.
            .map(|&s| unsafe { base.add(s) } as *mut c_void)
            .collect()
    }
}

/// One kernel: its file and its name without the dtype tag.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    pub file: &'static KernelFile,
    pub name: &'static str,
}

/// A matrix product for cuBLAS, in its column-major terms: `C = alpha·op(A)·op(B) +
/// beta·C`, `batch` times with the given element strides between matrices.
#[derive(Clone, Copy, Debug)]
pub struct GemmCall {
    pub dtype: DType,
    pub trans_a: bool,
    pub trans_b: bool,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub alpha: f64,
    pub a: u64,
    pub lda: i64,
    pub stride_a: i64,
    pub b: u64,
    pub ldb: i64,
    pub stride_b: i64,
    pub beta: f64,
    pub c: u64,
    pub ldc: i64,
    pub stride_c: i64,
    pub batch: i64,
}

/// What a backend op needs of a device.
pub trait DeviceApi: Send + Sync + 'static {
    /// The CUDA ordinal.
    fn ordinal(&self) -> usize;
    /// A block of at least `bytes` bytes of device memory (through the caching allocator).
    fn alloc(&self, bytes: usize) -> Result<Block>;
    /// Returns a block to the cache.
    fn free(&self, block: Block);
    fn htod(&self, dst: u64, src: &[u8]) -> Result<()>;
    /// A device-to-host copy: waits for the work before it.
    fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()>;
    fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()>;
    /// Launches `k` for `dtype` on a 1-D grid of `grid` blocks of `block` threads.
    fn launch(&self, k: Kernel, dtype: DType, grid: u32, block: u32, args: &mut Args)
        -> Result<()>;
    /// A product through cuBLAS; `Ok(false)` when the device has none (the caller then
    /// runs the generic gemm kernel).
    fn gemm(&self, call: &GemmCall) -> Result<bool>;
    /// The device address of the record kernels write failed checks into (`RtError`).
    fn error_record(&self) -> u64;
    /// Reads and clears the record: the error of the first failed check since the last
    /// call, if any. Waits for the device.
    fn take_error(&self) -> Result<()>;
    /// Waits for all queued work, then reports failed checks.
    fn synchronize(&self) -> Result<()>;
    /// The number of multiprocessors (to size grids).
    fn sm_count(&self) -> u32;
    /// `(seed, offset)` for a launch drawing `n` random numbers; advances the offset.
    fn philox(&self, n: u64) -> (u64, u64);
    /// Reseeds the device's generator.
    fn manual_seed(&self, seed: u64);
    /// The caching allocator's statistics.
    fn memory_stats(&self) -> MemoryStats;
}

/// Builds the error a failed in-kernel check recorded (codes of `common.cuh`).
pub fn check_error(code: i32, dim: i32, value: i64, bound: i64) -> Result<()> {
    match code {
        0 => Ok(()),
        1 => Err(Error::Index(format!(
            "index {value} is out of bounds for dimension {dim} with size {bound}"
        ))),
        2 => Err(Error::Runtime(format!(
            "index {value} is out of bounds for dimension {dim} with size {bound}"
        ))),
        3 => Err(Error::Runtime("ZeroDivisionError".into())),
        5 => Err(Error::Index(format!("Target {value} is out of bounds."))),
        c => Err(Error::Runtime(format!(
            "CUDA error: device-side check {c} failed"
        ))),
    }
}

/// The bytes of the error record (`struct RtError`: code, dim, value, bound).
pub const ERROR_RECORD_BYTES: usize = 24;

/// Decodes an error record read from the device.
pub fn decode_error(bytes: &[u8; ERROR_RECORD_BYTES]) -> Result<()> {
    let i32_at = |o: usize| i32::from_ne_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let i64_at = |o: usize| i64::from_ne_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    check_error(i32_at(0), i32_at(4), i64_at(8), i64_at(16))
}

/// A grid for `n` independent elements: 256-thread blocks, at most 32 per multiprocessor
/// (the kernels loop over the rest).
pub fn grid_for(dev: &dyn DeviceApi, n: usize) -> (u32, u32) {
    const BLOCK: usize = 256;
    let blocks = n.div_ceil(BLOCK).clamp(1, dev.sm_count() as usize * 32);
    (blocks as u32, BLOCK as u32)
}

fn driver_err(what: &str) -> impl Fn(result::DriverError) -> Error + '_ {
    move |e| Error::Runtime(format!("CUDA error: {what}: {e:?}"))
}

/// Device memory straight from the driver, for the caching allocator.
struct DriverMemory {
    ctx: Context,
}

impl std::fmt::Debug for DriverMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DriverMemory")
    }
}

impl DeviceMemory for DriverMemory {
    fn malloc(&mut self, bytes: usize) -> std::result::Result<u64, ()> {
        self.ctx.bind().map_err(|_| ())?;
        // SAFETY: a plain allocation in the bound context; the pointer is freed only through
        // `free` below, once the allocator lets go of it.
        unsafe { result::malloc_sync(bytes) }.map_err(|_| ())
    }
    fn free(&mut self, ptr: u64) {
        if self.ctx.bind().is_ok() {
            // SAFETY: `ptr` came from `malloc` above and is freed once (the allocator's
            // contract); the kernels that used it were queued before on the one stream.
            let _ = unsafe { result::free_sync(ptr) };
        }
    }
}

/// A CUDA context handle that may be shared between threads (the driver allows binding a
/// context on any thread).
#[derive(Clone, Copy)]
struct Context(sys::CUcontext);
// SAFETY: a CUcontext is an opaque handle the driver lets any thread make current.
unsafe impl Send for Context {}
// SAFETY: as above; it is only passed to driver calls.
unsafe impl Sync for Context {}

impl Context {
    /// Makes the context current on the calling thread (a no-op when it already is).
    fn bind(&self) -> Result<()> {
        let current = result::ctx::get_current().map_err(driver_err("cuCtxGetCurrent"))?;
        if current != Some(self.0) {
            // SAFETY: the context is the device's retained primary context, alive for the
            // process (it is never released).
            unsafe { result::ctx::set_current(self.0) }.map_err(driver_err("cuCtxSetCurrent"))?;
        }
        Ok(())
    }
}

/// A loaded kernel function.
#[derive(Clone, Copy)]
struct Function(sys::CUfunction);
// SAFETY: a CUfunction is an opaque handle valid in its context on any thread.
unsafe impl Send for Function {}
// SAFETY: as above.
unsafe impl Sync for Function {}

/// A GPU driven through the CUDA driver API.
pub struct Gpu {
    ordinal: usize,
    ctx: Context,
    name: String,
    capability: (i32, i32),
    sm_count: u32,
    total_memory: usize,
    allocator: Mutex<CachingAllocator<DriverMemory>>,
    functions: Mutex<HashMap<(&'static str, &'static str, DType), Function>>,
    error: u64,
    rng: Mutex<(u64, u64)>,
    blas: Mutex<Option<super::blas::Blas>>,
}

/// The GPUs opened so far, by ordinal.
fn registry() -> &'static Mutex<Vec<Option<Arc<Gpu>>>> {
    static GPUS: OnceLock<Mutex<Vec<Option<Arc<Gpu>>>>> = OnceLock::new();
    GPUS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Device `ordinal`, opened on first use.
///
/// # Errors
/// PyTorch's messages when there is no driver or no such device.
pub fn gpu(ordinal: usize) -> Result<Arc<Gpu>> {
    let mut all = registry().lock();
    if let Some(Some(g)) = all.get(ordinal) {
        return Ok(g.clone());
    }
    let count = super::runtime::device_count_checked()?;
    if ordinal >= count {
        return Err(Error::Runtime(format!(
            "CUDA error: invalid device ordinal (device {ordinal} requested, {count} available)"
        )));
    }
    let g = Arc::new(Gpu::open(ordinal)?);
    if all.len() <= ordinal {
        all.resize(ordinal + 1, None);
    }
    all[ordinal] = Some(g.clone());
    Ok(g)
}

/// The devices opened so far (for `manual_seed`, `synchronize` and memory queries that must
/// not open a device just to answer).
pub fn opened() -> Vec<Arc<Gpu>> {
    registry().lock().iter().flatten().cloned().collect()
}

impl Gpu {
    fn open(ordinal: usize) -> Result<Gpu> {
        let dev = result::device::get(ordinal as i32).map_err(driver_err("cuDeviceGet"))?;
        // SAFETY: `dev` is a valid device; the primary context is retained for the life of
        // the process, as PyTorch's runtime does.
        let ctx = Context(
            unsafe { result::primary_ctx::retain(dev) }
                .map_err(driver_err("cuDevicePrimaryCtxRetain"))?,
        );
        ctx.bind()?;
        let attr = |a: sys::CUdevice_attribute| -> Result<i32> {
            // SAFETY: querying an attribute of a valid device.
            unsafe { result::device::get_attribute(dev, a) }
                .map_err(driver_err("cuDeviceGetAttribute"))
        };
        use sys::CUdevice_attribute as A;
        let capability = (
            attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        );
        let sm_count = attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?.max(1) as u32;
        let name = result::device::get_name(dev).map_err(driver_err("cuDeviceGetName"))?;
        // SAFETY: querying a valid device.
        let total_memory =
            unsafe { result::device::total_mem(dev) }.map_err(driver_err("cuDeviceTotalMem"))?;
        // SAFETY: a small allocation in the bound context, kept for the process.
        let error =
            unsafe { result::malloc_sync(ERROR_RECORD_BYTES) }.map_err(driver_err("cuMemAlloc"))?;
        // SAFETY: `error` points to ERROR_RECORD_BYTES bytes just allocated.
        unsafe { result::memset_d8_sync(error, 0, ERROR_RECORD_BYTES) }
            .map_err(driver_err("cuMemsetD8"))?;
        Ok(Gpu {
            ordinal,
            ctx,
            name,
            capability,
            sm_count,
            total_memory,
            allocator: Mutex::new(CachingAllocator::new(DriverMemory { ctx })),
            functions: Mutex::new(HashMap::new()),
            error,
            rng: Mutex::new((super::random::default_seed(), 0)),
            blas: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    /// Makes the device's context current on the calling thread.
    pub fn bind(&self) -> Result<()> {
        self.ctx.bind()
    }
    pub fn sm_count(&self) -> u32 {
        self.sm_count
    }
    pub fn capability(&self) -> (i32, i32) {
        self.capability
    }
    pub fn total_memory(&self) -> usize {
        self.total_memory
    }

    /// Frees every cached block that no tensor uses (`torch.cuda.empty_cache`).
    pub fn empty_cache(&self) {
        self.allocator.lock().empty_cache();
    }
    /// Resets the peaks of the memory statistics.
    pub fn reset_peak_memory_stats(&self) {
        self.allocator.lock().reset_peak();
    }
    /// Free and total device memory, as the driver reports them.
    pub fn mem_get_info(&self) -> Result<(usize, usize)> {
        self.ctx.bind()?;
        result::mem_get_info().map_err(driver_err("cuMemGetInfo"))
    }

    /// The loaded function of kernel `k` for `dtype`, compiling its file on first use.
    fn function(&self, k: Kernel, dtype: DType) -> Result<Function> {
        let key = (k.file.name, k.name, dtype);
        if let Some(f) = self.functions.lock().get(&key) {
            return Ok(*f);
        }
        if !kernels::has_kernel(k.file, k.name, dtype) {
            return Err(Error::NotImplemented(format!(
                "\"{}_cuda\" not implemented for '{}'",
                k.name,
                dtype.scalar_name()
            )));
        }
        let src = kernels::instantiate(k.file, dtype)?;
        let arch = format!("sm_{}{}", self.capability.0, self.capability.1);
        let image = nvrtc::compile_cached(k.file.name, &src, &arch)?;
        self.ctx.bind()?;
        // SAFETY: `image` is a complete cubin (or NUL-terminated PTX) produced by NVRTC for
        // this device's architecture; the module stays loaded for the process.
        let module = unsafe { result::module::load_data(image.as_ptr() as *const c_void) }
            .map_err(driver_err("cuModuleLoadData"))?;
        let mut functions = self.functions.lock();
        for (name, dtypes) in k.file.kernels {
            if !dtypes.contains(&dtype) {
                continue;
            }
            let sym = CString::new(kernels::kernel_name(name, dtype))
                .map_err(|_| Error::Runtime("kernel name with NUL".into()))?;
            // SAFETY: `module` is loaded; the symbol names a kernel of this instantiation.
            if let Ok(f) = unsafe { result::module::get_function(module, sym) } {
                functions.insert((k.file.name, *name, dtype), Function(f));
            }
        }
        functions.get(&key).copied().ok_or_else(|| {
            Error::Runtime(format!(
                "CUDA kernel {} missing from {}",
                kernels::kernel_name(k.name, dtype),
                k.file.name
            ))
        })
    }

    /// Formats an allocator failure as PyTorch's `OutOfMemoryError`.
    fn out_of_memory(&self, requested: usize) -> Error {
        let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
        let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
        let stats = self.allocator.lock().stats();
        let free = self.mem_get_info().map(|(f, _)| f).unwrap_or(0);
        Error::OutOfMemory(format!(
            "CUDA out of memory. Tried to allocate {:.2} MiB. GPU {} has a total capacity of {:.2} GiB of which {:.2} GiB is free. Of the allocated memory {:.2} MiB is allocated by rustorch, and {:.2} MiB is reserved by rustorch but unallocated.",
            mib(requested),
            self.ordinal,
            gib(self.total_memory),
            gib(free),
            mib(stats.allocated),
            mib(stats.reserved.saturating_sub(stats.allocated)),
        ))
    }
}

impl DeviceApi for Gpu {
    fn ordinal(&self) -> usize {
        self.ordinal
    }
    fn alloc(&self, bytes: usize) -> Result<Block> {
        let r = self.allocator.lock().allocate(bytes);
        r.map_err(|_| self.out_of_memory(bytes))
    }
    fn free(&self, block: Block) {
        self.allocator.lock().release(block);
    }
    fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        if src.is_empty() {
            return Ok(());
        }
        self.ctx.bind()?;
        // SAFETY: `dst` is a device block of at least `src.len()` bytes (the caller's
        // buffer); the copy completes before this returns.
        unsafe { result::memcpy_htod_sync(dst, src) }.map_err(driver_err("cuMemcpyHtoD"))
    }
    fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        if dst.is_empty() {
            return Ok(());
        }
        self.ctx.bind()?;
        // SAFETY: `src` is a device block of at least `dst.len()` bytes; the copy waits for
        // the kernels queued before it and completes before this returns.
        unsafe { result::memcpy_dtoh_sync(dst, src) }.map_err(driver_err("cuMemcpyDtoH"))
    }
    fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        self.ctx.bind()?;
        // SAFETY: both ranges are device blocks of at least `bytes` bytes that do not
        // overlap (the backend copies only between distinct buffers); the copy is queued on
        // the default stream in order with the kernels.
        unsafe { result::memcpy_dtod_async(dst, src, bytes, std::ptr::null_mut()) }
            .map_err(driver_err("cuMemcpyDtoD"))
    }
    fn launch(
        &self,
        k: Kernel,
        dtype: DType,
        grid: u32,
        block: u32,
        args: &mut Args,
    ) -> Result<()> {
        let f = self.function(k, dtype)?;
        self.ctx.bind()?;
        let mut params = args.pointers();
        // SAFETY: `params` points at arguments laid out as the kernel's parameters (each
        // launcher passes exactly the kernel's parameter list, checked by the host tests
        // that run the same launchers against the same sources); device addresses in them
        // are live buffers of the right sizes; the launch is queued on the default stream.
        unsafe {
            result::launch_kernel(
                f.0,
                (grid.max(1), 1, 1),
                (block.max(1), 1, 1),
                0,
                std::ptr::null_mut(),
                &mut params,
            )
        }
        .map_err(|e| {
            Error::Runtime(format!(
                "CUDA error: launching {}: {e:?}",
                kernels::kernel_name(k.name, dtype)
            ))
        })
    }
    fn gemm(&self, call: &GemmCall) -> Result<bool> {
        self.ctx.bind()?;
        let mut blas = self.blas.lock();
        if blas.is_none() {
            if !loader::cublas_present() {
                return Ok(false);
            }
            *blas = Some(super::blas::Blas::new()?);
        }
        blas.as_ref().expect("created above").gemm(call)?;
        Ok(true)
    }
    fn error_record(&self) -> u64 {
        self.error
    }
    fn take_error(&self) -> Result<()> {
        let mut rec = [0u8; ERROR_RECORD_BYTES];
        self.dtoh(&mut rec, self.error)?;
        if rec[..4] != [0, 0, 0, 0] {
            // SAFETY: the record's bytes, allocated at open.
            unsafe { result::memset_d8_sync(self.error, 0, ERROR_RECORD_BYTES) }
                .map_err(driver_err("cuMemsetD8"))?;
        }
        decode_error(&rec)
    }
    fn synchronize(&self) -> Result<()> {
        self.ctx.bind()?;
        result::ctx::synchronize().map_err(driver_err("cuCtxSynchronize"))?;
        self.take_error()
    }
    fn sm_count(&self) -> u32 {
        self.sm_count
    }
    fn philox(&self, n: u64) -> (u64, u64) {
        let mut rng = self.rng.lock();
        let (seed, offset) = *rng;
        rng.1 = offset + n.div_ceil(4) * 4;
        (seed, offset)
    }
    fn manual_seed(&self, seed: u64) {
        *self.rng.lock() = (seed, 0);
    }
    fn memory_stats(&self) -> MemoryStats {
        self.allocator.lock().stats()
    }
}
