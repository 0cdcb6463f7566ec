//! PyO3 bindings: the `rustorch._C` extension module. Thin: argument conversion and
//! forwarding only; all math lives in the core.

mod autograd;
mod convert;
mod cuda;
mod distributed;
mod dlpack;
mod errors;
mod functions;
mod generator;
mod nn;
mod norm;
mod numpy;
mod shared;
mod tensor;
mod tensor_convert;
mod tensor_math;
mod tensor_products;
mod tensor_rearrange;
mod tensor_scan;
mod tensor_shape;

use pyo3::prelude::*;

/// The extension allocates through mimalloc: it keeps freed pages mapped and reuses them, so
/// the large temporaries of elementwise ops do not page-fault on every call as they do when
/// the system allocator hands big blocks back to the kernel. (Only the Python extension;
/// Rust embedders keep their own global allocator.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in the v3 `mi_option_e` enum, which the
/// sys crate does not name).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays mapped before mimalloc returns it to the kernel: never. Its
/// default (one second) purges, once a second, every block a training loop has just freed
/// and is about to take again, so each step re-faults and re-zeroes huge pages (a DCGAN
/// step spent a third of its time in the kernel's page clearing; ten seconds still did).
/// Freed memory is kept for reuse, as PyTorch's GPU caching allocator keeps it: the peak
/// resident size is unchanged, but it does not shrink after the peak.
const PURGE_DELAY_MS: std::ffi::c_long = -1;

/// mimalloc's `mi_option_allow_thp` (its place in the v3 `mi_option_e` enum).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Whether mimalloc asks for transparent huge pages (`madvise(MADV_HUGEPAGE)`) on the memory
/// it maps: no. Where the kernel grants them only on request (the common `madvise` setting,
/// with synchronous defragmentation), each first touch of a huge page cost milliseconds of
/// compaction and zeroing: the first DCGAN step took 4.4 s instead of 1.1 s and a LeNet
/// epoch's first steps 6 ms instead of 3.8. Set before the first arena is mapped; THP stays
/// on for the rest of the process (NumPy's arrays, another library's allocations).
const ALLOW_THP: std::ffi::c_long = 0;

/// Makes the calling thread (Python's main thread) a worker of the kernels' thread pool;
/// see `crate::cpu::threads::use_calling_thread_in_pool`.
#[pyfunction]
fn _use_calling_thread_in_pool() -> bool {
    crate::cpu::threads::use_calling_thread_in_pool()
}

/// The number of threads CPU kernels may use (PyTorch's `get_num_threads`): the last
/// `set_num_threads`, or the pool's size.
#[pyfunction]
fn get_num_threads() -> usize {
    crate::cpu::team::limit()
}

/// Limits the threads CPU kernels use (PyTorch's `set_num_threads`). The pool keeps its
/// size: a number above it is reported back by `get_num_threads`, as PyTorch does, but the
/// kernels stay at the pool's size (PyTorch would start more threads).
#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    if n <= 0 {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "set_num_threads expects a positive integer",
        ));
    }
    crate::cpu::team::set_limit(n as usize);
    Ok(())
}

#[pymodule]
#[pyo3(name = "_C")]
fn rustorch_c(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // SAFETY: `mi_option_set` only stores an integer option; mimalloc reads them when it
    // next purges or maps memory, and this runs once, while Python holds the import lock.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, ALLOW_THP);
    }
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<convert::PyDType>()?;
    m.add_class::<autograd::PyNode>()?;
    m.add_class::<tensor::RemovableHandle>()?;
    m.add_class::<cuda::PyEvent>()?;
    m.add_class::<distributed::PyProcessGroup>()?;
    m.add_class::<distributed::PyWork>()?;
    m.add_class::<generator::PyGenerator>()?;
    m.add(
        "OutOfMemoryError",
        m.py().get_type::<errors::OutOfMemoryError>(),
    )?;
    for d in crate::DType::ALL {
        m.add(d.name(), convert::dtype_object(m.py(), d))?;
    }
    m.add_class::<convert::PyMemoryFormat>()?;
    for f in crate::tensor::memory_format::MemoryFormat::ALL {
        m.add(f.name(), convert::memory_format_object(m.py(), f))?;
    }
    m.add_function(wrap_pyfunction!(tensor::_set_python_types, m)?)?;
    m.add_function(wrap_pyfunction!(numpy::from_numpy, m)?)?;
    macro_rules! add_fns {
        ($($f:path),* $(,)?) => { $( m.add_function(wrap_pyfunction!($f, m)?)?; )* };
    }
    norm::register(m)?;
    add_fns!(
        functions::zeros,
        functions::ones,
        functions::empty,
        functions::rand,
        functions::randn,
        functions::full,
        functions::zeros_like,
        functions::ones_like,
        functions::empty_like,
        functions::rand_like,
        functions::randn_like,
        functions::full_like,
        functions::tensor,
        functions::as_tensor,
        functions::arange,
        functions::linspace,
        functions::eye,
        functions::randint,
        functions::randperm,
        functions::manual_seed,
        functions::initial_seed,
        functions::cat,
        functions::stack,
        functions::where_,
        functions::einsum,
        functions::one_hot,
        functions::_embedding,
        convert::_parse_device,
        functions::_set_default_device,
        functions::_set_default_dtype,
        functions::_get_default_dtype,
        functions::_legacy_new,
        functions::_trace_start,
        functions::_trace_stop,
        functions::_trace_id,
        functions::_set_autocast,
        functions::_get_autocast,
        tensor_rearrange::meshgrid,
        tensor_rearrange::cdist,
        tensor_rearrange::normal,
        functions::_get_default_device,
        functions::result_type,
        functions::_cross_entropy,
        nn::_conv,
        nn::_dropout_mask,
        nn::_conv_transpose,
        nn::_unfold,
        nn::_fold,
        nn::_max_pool,
        nn::_avg_pool,
        nn::_adaptive_max_pool,
        nn::_fractional_max_pool,
        nn::_adaptive_avg_pool,
        nn::_pad,
        nn::pixel_shuffle,
        nn::_roi_pool,
        nn::_roi_align,
        nn::_nms,
        nn::pixel_unshuffle,
        nn::_resample,
        nn::_affine_grid,
        nn::_grid_sample,
        nn::_rnn_layer,
        nn::_attention_softmax,
        functions::_sgd_step,
        functions::_adam_step,
        tensor_scan::searchsorted,
        tensor_scan::bucketize,
        autograd::backward,
        autograd::grad,
        autograd::is_grad_enabled,
        autograd::_set_grad_enabled,
        autograd::is_inference_mode_enabled,
        autograd::_set_anomaly_enabled,
        autograd::is_anomaly_enabled,
        autograd::is_anomaly_check_nan_enabled,
        autograd::_set_inference_mode,
        autograd::_record_function,
        _use_calling_thread_in_pool,
        get_num_threads,
        set_num_threads,
        cuda::_cuda_is_available,
        cuda::_cuda_device_count,
        cuda::_cuda_get_device_name,
        cuda::_cuda_set_search_path,
        cuda::_cuda_current_device,
        cuda::_cuda_set_device,
        cuda::_cuda_synchronize,
        cuda::_cuda_device_properties,
        cuda::_cuda_memory_stats,
        cuda::_cuda_reset_peak_memory_stats,
        cuda::_cuda_empty_cache,
        cuda::_cuda_mem_get_info,
        cuda::_cuda_manual_seed,
        cuda::_cuda_get_allow_tf32,
        cuda::_cuda_set_allow_tf32,
        distributed::_mpi_available,
        distributed::_mpi_library_version,
        distributed::_nccl_available,
        distributed::_nccl_version,
        distributed::_mpi_finalize,
        distributed::_mpi_abort,
        shared::_share_fd,
        functions::_default_generator,
        shared::_from_shared_fd,
    );
    Ok(())
}
