//! The CUDA kernels run on the host, so their index arithmetic is checked without a GPU.
//!
//! [`HostDevice`] implements [`DeviceApi`] over host memory: each kernel file is compiled as
//! C++ (with the shim at the top of `common.cuh`) into a shared library, and a launch runs
//! the grid block after block, a block's threads as OS threads meeting at a barrier for
//! `__syncthreads`. The backend's own launchers run unchanged on it — argument packing,
//! grid sizes, views — and the tests compare their results with the CPU backend's.
//!
//! The launch is shrunk to at most 8 blocks of 16 threads, so the kernels' grid-stride loops
//! are exercised. Needs a C++ compiler (`$CXX`, else `g++`); without one the tests skip with
//! a note, unless `RUSTORCH_REQUIRE_HOST_CHECK=1` (CI), where that is a failure.

use super::allocator::{Block, MemoryStats};
use super::device::{Args, DeviceApi, GemmCall, Kernel, ERROR_RECORD_BYTES};
use super::kernels::{self, KernelFile};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The C++ that turns the kernel sources into functions the host can launch: thread indices,
/// the barrier, the lock, and `rt_shim_launch`, which runs one launch's grid.
const RUNTIME: &str = r#"
#include <pthread.h>
#include <thread>
#include <utility>
#include <vector>
#include <mutex>
#include <type_traits>
thread_local dim3 blockIdx, threadIdx, blockDim, gridDim;
static pthread_barrier_t rt_barrier;
static std::mutex rt_lock;
void rt_shim_sync() { pthread_barrier_wait(&rt_barrier); }
void rt_shim_lock() { rt_lock.lock(); }
void rt_shim_unlock() { rt_lock.unlock(); }
template <typename... A, size_t... I>
static void rt_invoke_impl(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<std::remove_reference_t<A>*>(p[I])...);
}
template <typename... A>
static void rt_invoke(void (*f)(A...), void** p) {
    rt_invoke_impl(f, p, std::index_sequence_for<A...>{});
}
extern "C" void rt_shim_launch(void (*f)(void**), void** params, unsigned grid, unsigned block) {
    for (unsigned b = 0; b < grid; ++b) {
        pthread_barrier_init(&rt_barrier, nullptr, block);
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([=] {
                blockIdx = dim3{b, 0, 0};
                threadIdx = dim3{t, 0, 0};
                blockDim = dim3{block, 1, 1};
                gridDim = dim3{grid, 1, 1};
                f(params);
            });
        }
        for (auto& th : threads) th.join();
        pthread_barrier_destroy(&rt_barrier);
    }
}
"#;

type Launch =
    unsafe extern "C" fn(unsafe extern "C" fn(*mut *mut c_void), *mut *mut c_void, u32, u32);
type Call = unsafe extern "C" fn(*mut *mut c_void);

/// One kernel file compiled for one dtype as a host library.
struct HostLib {
    lib: libloading::Library,
}

/// The C++ compiler, or `None` (tests then skip).
fn compiler() -> Option<String> {
    static CXX: OnceLock<Option<String>> = OnceLock::new();
    CXX.get_or_init(|| {
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
        let ok = std::process::Command::new(&cxx)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(cxx)
    })
    .clone()
}

/// Whether the host checks can run; skips (with a note) or fails as `RUSTORCH_REQUIRE_HOST_CHECK` says.
pub fn available(test: &str) -> bool {
    if compiler().is_some() {
        return true;
    }
    let required = std::env::var("RUSTORCH_REQUIRE_HOST_CHECK").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "RUSTORCH_REQUIRE_HOST_CHECK=1 but no C++ compiler ($CXX or g++) runs"
    );
    eprintln!("{test}: skipped, no C++ compiler to build the kernels for the host");
    false
}

/// Where compiled host libraries are kept (keyed by a hash of their source).
fn build_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("rustorch-host-check");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl HostLib {
    fn build(file: &KernelFile, dtype: DType) -> Result<HostLib> {
        let mut src = kernels::instantiate(file, dtype)?;
        src.push_str(RUNTIME);
        for (k, ds) in file.kernels {
            if !ds.contains(&dtype) {
                continue;
            }
            let sym = kernels::kernel_name(k, dtype);
            src.push_str(&format!(
                "extern \"C\" void rt_call_{sym}(void** p) {{ rt_invoke({sym}, p); }}\n"
            ));
        }
        let dir = build_dir();
        let stem = format!(
            "{}-{}-{:016x}",
            file.name,
            kernels::dtype_tag(dtype),
            fnv(&src)
        );
        let so = dir.join(format!("{stem}.so"));
        if !so.is_file() {
            // Tests on other threads (or processes) may build the same library at once: each
            // build writes its own source and library, and the finished one is renamed into
            // place atomically.
            static BUILDS: AtomicU64 = AtomicU64::new(0);
            let unique = format!(
                "{stem}.{}.{}",
                std::process::id(),
                BUILDS.fetch_add(1, Ordering::Relaxed)
            );
            let cpp = dir.join(format!("{unique}.cpp"));
            std::fs::write(&cpp, &src).map_err(|e| Error::Runtime(e.to_string()))?;
            let cxx = compiler().ok_or_else(|| Error::Runtime("no C++ compiler".into()))?;
            let tmp = dir.join(format!("{unique}.tmp.so"));
            let out = std::process::Command::new(cxx)
                .args([
                    "-std=c++17",
                    "-O1",
                    "-shared",
                    "-fPIC",
                    "-pthread",
                    "-w",
                    "-o",
                ])
                .arg(&tmp)
                .arg(&cpp)
                .output()
                .map_err(|e| Error::Runtime(e.to_string()))?;
            if !out.status.success() {
                return Err(Error::Runtime(format!(
                    "host build of {} for {dtype:?} failed:\n{}",
                    file.name,
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            let _ = std::fs::remove_file(&cpp);
            std::fs::rename(&tmp, &so).map_err(|e| Error::Runtime(e.to_string()))?;
        }
        // SAFETY: a library this test just built from the kernel sources and the runtime
        // above; its initialisers only set up statics.
        let lib = unsafe { libloading::Library::new(&so) }
            .map_err(|e| Error::Runtime(format!("loading {}: {e}", so.display())))?;
        Ok(HostLib { lib })
    }
}

/// A device whose memory is host memory and whose kernels run as C++ on the CPU.
pub struct HostDevice {
    libs: Mutex<HashMap<(&'static str, DType), Arc<HostLib>>>,
    /// Live allocations by address (8-byte aligned words).
    mem: Mutex<HashMap<u64, Vec<u64>>>,
    error: Mutex<Vec<u64>>,
    rng: Mutex<(u64, u64)>,
}

impl HostDevice {
    /// A fresh host device, as the backend's families take one.
    pub fn open() -> Arc<dyn DeviceApi> {
        Arc::new(HostDevice {
            libs: Mutex::new(HashMap::new()),
            mem: Mutex::new(HashMap::new()),
            error: Mutex::new(vec![0; ERROR_RECORD_BYTES / 8]),
            rng: Mutex::new((crate::cpu::random::DEFAULT_SEED, 0)),
        })
    }

    fn lib(&self, file: &'static KernelFile, dtype: DType) -> Result<Arc<HostLib>> {
        if let Some(l) = self.libs.lock().get(&(file.name, dtype)) {
            return Ok(l.clone());
        }
        let lib = Arc::new(HostLib::build(file, dtype)?);
        self.libs.lock().insert((file.name, dtype), lib.clone());
        Ok(lib)
    }
}

impl DeviceApi for HostDevice {
    fn ordinal(&self) -> usize {
        0
    }
    fn alloc(&self, bytes: usize) -> Result<Block> {
        let words = vec![0xdead_beef_dead_beefu64; bytes.div_ceil(8).max(1)];
        let ptr = words.as_ptr() as u64;
        self.mem.lock().insert(ptr, words);
        Ok(Block { ptr, size: bytes })
    }
    fn free(&self, block: Block) {
        let gone = self.mem.lock().remove(&block.ptr);
        assert!(gone.is_some(), "freeing an unknown block");
    }
    fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        // SAFETY: `dst` is a live allocation of at least `src.len()` bytes (the backend's
        // buffers are sized for what they receive).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        Ok(())
    }
    fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        // SAFETY: as `htod`, the other way.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }
    fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        // SAFETY: as `htod`; the ranges belong to distinct buffers.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, bytes) };
        Ok(())
    }
    fn launch(
        &self,
        k: Kernel,
        dtype: DType,
        grid: u32,
        block: u32,
        args: &mut Args,
    ) -> Result<()> {
        if !kernels::has_kernel(k.file, k.name, dtype) {
            return Err(Error::NotImplemented(format!(
                "\"{}_cuda\" not implemented for '{}'",
                k.name,
                dtype.scalar_name()
            )));
        }
        let lib = self.lib(k.file, dtype)?;
        let sym = format!("rt_call_{}", kernels::kernel_name(k.name, dtype));
        // One launch at a time in the process: a library's barrier and `__shared__` statics
        // are shared by every test thread that runs its kernels (a GPU would give each
        // launch its own).
        static LAUNCH: Mutex<()> = Mutex::new(());
        let _serial = LAUNCH.lock();
        // SAFETY: the symbols were generated above with these signatures.
        unsafe {
            let launch: libloading::Symbol<Launch> = lib
                .lib
                .get(b"rt_shim_launch")
                .map_err(|e| Error::Runtime(e.to_string()))?;
            let call: libloading::Symbol<Call> = lib
                .lib
                .get(sym.as_bytes())
                .map_err(|e| Error::Runtime(format!("{sym}: {e}")))?;
            let mut params = args.pointers();
            // A block size stays a power of two, as the cooperative kernels need.
            launch(
                *call,
                params.as_mut_ptr(),
                grid.clamp(1, 8),
                block.clamp(1, 16),
            );
        }
        Ok(())
    }
    fn gemm(&self, _call: &GemmCall) -> Result<bool> {
        Ok(false)
    }
    fn error_record(&self) -> u64 {
        self.error.lock().as_ptr() as u64
    }
    fn take_error(&self) -> Result<()> {
        let mut rec = self.error.lock();
        let mut bytes = [0u8; ERROR_RECORD_BYTES];
        for (i, w) in rec.iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        rec.iter_mut().for_each(|w| *w = 0);
        super::device::decode_error(&bytes)
    }
    fn synchronize(&self) -> Result<()> {
        self.take_error()
    }
    fn sm_count(&self) -> u32 {
        1
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
        MemoryStats::default()
    }
}

/// Helpers for the family tests: host data onto the host device and back, and comparison
/// with the CPU backend.
#[cfg(test)]
pub mod testing {
    use super::super::buffer::CudaBuffer;
    use super::super::elementwise;
    use super::DeviceApi;
    use crate::backend::HostBuffer;
    use crate::tensor::dtype::{DType, Element};
    use crate::tensor::layout::Layout;
    use std::sync::Arc;

    /// A buffer on `dev` holding `host`.
    pub fn put(dev: &Arc<dyn DeviceApi>, host: &HostBuffer) -> CudaBuffer {
        elementwise::upload(dev, host).expect("upload")
    }
    /// The contiguous elements of `buf` as f64 (bools as 0/1).
    pub fn get(buf: &CudaBuffer) -> Vec<f64> {
        let h = elementwise::download(buf, &Layout::contiguous(&[buf.len()])).expect("download");
        as_f64(&h)
    }
    pub fn as_f64(h: &HostBuffer) -> Vec<f64> {
        crate::with_dtype!(
            h.dtype(),
            T,
            h.as_slice::<T>().iter().map(|v| v.to_f64()).collect()
        )
    }
    /// Pseudo-random test data of `dtype` (xorshift; integers small, some negative; floats in
    /// [-3, 3) with a few special values when `specials`).
    pub fn data(dtype: DType, n: usize, seed: u64, specials: bool) -> HostBuffer {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        crate::with_dtype!(dtype, T, {
            let v: Vec<T> = (0..n)
                .map(|i| {
                    let r = next();
                    if dtype.is_float() {
                        if specials && i % 17 == 5 {
                            return T::from_f64(
                                [f64::NAN, f64::INFINITY, -0.0, 0.0][(r % 4) as usize],
                            );
                        }
                        T::from_f64(((r % 6000) as f64 - 3000.0) / 1000.0)
                    } else if dtype == DType::Bool {
                        T::from_bool(r % 2 == 0)
                    } else if dtype == DType::U8 {
                        T::from_i64((r % 256) as i64)
                    } else {
                        T::from_i64((r % 21) as i64 - 10)
                    }
                })
                .collect();
            HostBuffer::from_vec(v)
        })
    }
    /// Asserts two results agree: exactly for integers, within `tol` (relative and absolute)
    /// for floats; NaN matches NaN.
    pub fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * (1.0 + w.abs());
            assert!(ok, "{what}: element {i}: got {g}, want {w}");
        }
    }
    /// Float tolerance for a dtype (the GPU's math functions may differ in the last bits).
    pub fn tol(dtype: DType) -> f64 {
        match dtype {
            DType::F16 => 2e-3,
            DType::BF16 => 1.6e-2,
            DType::F32 => 2e-6,
            DType::F64 => 1e-12,
            _ => 0.0,
        }
    }
    /// Layouts to test an operand of `shape` with: contiguous, transposed (a permuted copy's
    /// view), and strided (every other element of a larger buffer). Returns (layout, buffer
    /// length needed).
    pub fn layouts(shape: &[usize]) -> Vec<(Layout, usize)> {
        let n: usize = shape.iter().product();
        let mut out = vec![(Layout::contiguous(shape), n)];
        if shape.len() >= 2 {
            let mut rev: Vec<usize> = shape.to_vec();
            rev.reverse();
            let base = Layout::contiguous(&rev);
            let order: Vec<i64> = (0..shape.len() as i64).rev().collect();
            out.push((base.permute(&order).expect("permute"), n));
        }
        let mut strided = Layout::contiguous(shape);
        strided.strides.iter_mut().for_each(|s| *s *= 2);
        strided.offset = 1;
        out.push((strided, 2 * n + 1));
        out
    }
}
