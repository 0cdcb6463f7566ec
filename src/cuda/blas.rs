//! Matrix products through cuBLAS (`cublasGemmStridedBatchedEx`), on the default stream.
//!
//! float32 products use TF32 tensor cores only when allowed
//! (`rustorch.backends.cuda.matmul.allow_tf32`, `set_float32_matmul_precision`), as in
//! PyTorch, whose default is full float32 precision. The 16-bit types accumulate in float32.

use super::device::GemmCall;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use cudarc::cublas::{result, sys};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

static ALLOW_TF32: AtomicBool = AtomicBool::new(false);

/// Whether float32 products may use TF32 (`torch.backends.cuda.matmul.allow_tf32`).
pub fn allow_tf32() -> bool {
    ALLOW_TF32.load(Ordering::Relaxed)
}
pub fn set_allow_tf32(on: bool) {
    ALLOW_TF32.store(on, Ordering::Relaxed);
}

/// A cuBLAS handle bound to the default stream.
pub struct Blas {
    handle: sys::cublasHandle_t,
}

// SAFETY: a cuBLAS handle may be used from any thread as long as calls are not concurrent;
// the device keeps it behind a mutex.
unsafe impl Send for Blas {}

fn blas_err(what: &str) -> impl Fn(result::CublasError) -> Error + '_ {
    move |e| Error::Runtime(format!("CUDA error: {what}: {e:?}"))
}

impl Blas {
    /// A handle for the calling thread's current context (the caller bound it).
    pub fn new() -> Result<Blas> {
        let handle = result::create_handle().map_err(blas_err("cublasCreate"))?;
        // SAFETY: a fresh handle; the null stream is the legacy default stream.
        unsafe { result::set_stream(handle, std::ptr::null_mut()) }
            .map_err(blas_err("cublasSetStream"))?;
        Ok(Blas { handle })
    }

    /// Runs one (batched) product.
    pub fn gemm(&self, c: &GemmCall) -> Result<()> {
        use sys::cublasComputeType_t as C;
        use sys::cudaDataType as T;
        let (data, compute) = match c.dtype {
            DType::F32 if allow_tf32() => (T::CUDA_R_32F, C::CUBLAS_COMPUTE_32F_FAST_TF32),
            DType::F32 => (T::CUDA_R_32F, C::CUBLAS_COMPUTE_32F),
            DType::F64 => (T::CUDA_R_64F, C::CUBLAS_COMPUTE_64F),
            DType::F16 => (T::CUDA_R_16F, C::CUBLAS_COMPUTE_32F),
            DType::BF16 => (T::CUDA_R_16BF, C::CUBLAS_COMPUTE_32F),
            d => {
                return Err(Error::NotImplemented(format!(
                    "cuBLAS products are not available for {}",
                    d.name()
                )))
            }
        };
        // alpha and beta have the compute type's precision.
        let (a32, b32) = (c.alpha as f32, c.beta as f32);
        let (alpha, beta): (*const c_void, *const c_void) = if c.dtype == DType::F64 {
            (
                &c.alpha as *const f64 as *const c_void,
                &c.beta as *const f64 as *const c_void,
            )
        } else {
            (
                &a32 as *const f32 as *const c_void,
                &b32 as *const f32 as *const c_void,
            )
        };
        let op = |t: bool| {
            if t {
                sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let int = |v: i64, what: &str| {
            i32::try_from(v).map_err(|_| {
                Error::NotImplemented(format!(
                    "matmul: {what} = {v} is beyond cuBLAS's 32-bit sizes"
                ))
            })
        };
        // SAFETY: the pointers are live device buffers holding the matrices the sizes,
        // leading dimensions and strides describe (the caller built them from checked
        // layouts); alpha and beta point at host values of the compute precision that live
        // across the call, which returns once the product is queued.
        unsafe {
            result::gemm_strided_batched_ex(
                self.handle,
                op(c.trans_a),
                op(c.trans_b),
                int(c.m, "m")?,
                int(c.n, "n")?,
                int(c.k, "k")?,
                alpha,
                c.a as *const c_void,
                data,
                int(c.lda, "lda")?,
                c.stride_a,
                c.b as *const c_void,
                data,
                int(c.ldb, "ldb")?,
                c.stride_b,
                beta,
                c.c as *mut c_void,
                data,
                int(c.ldc, "ldc")?,
                c.stride_c,
                int(c.batch, "batch")?,
                compute,
                sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(blas_err("cublasGemmStridedBatchedEx"))
    }
}

impl Drop for Blas {
    fn drop(&mut self) {
        // SAFETY: the handle was created in `new` and is destroyed once.
        let _ = unsafe { result::destroy_handle(self.handle) };
    }
}
