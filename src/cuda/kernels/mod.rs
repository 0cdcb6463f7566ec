//! CUDA C sources of the kernels, compiled at run time with NVRTC (see [`super::nvrtc`]).
//!
//! Each `.cu` file is written once over an element type: it uses `scalar_t` (the type in
//! memory), `acc_t` (the type arithmetic is done in) and names its kernels with the
//! `KERNEL(name)` macro, which appends the dtype tag (`add` becomes `add_f32`). The full
//! source of one instantiation is [`dtype_prelude`] + `common.cuh` + the file (see
//! [`instantiate`]), so every (kernel, dtype) pair has its own unmangled `extern "C"` symbol.
//! The kernels need no CUDA headers: the 16-bit floats are 16-bit structs converted with
//! inline PTX (a pip-installed NVRTC may come without `cuda_fp16.h`).
//!
//! Each op enum names its kernels ([`UnaryOp::kernel`], [`BinaryOp::kernel`], …); the tests
//! below fail when a variant has no kernel in its file, and `nvrtc`'s test compiles every
//! file for every dtype it declares and finds each kernel's symbol in the output.

use crate::backend::op::{BinaryKind, Domain};
use crate::backend::{BinaryOp, ReduceOp, ScanOp, UnaryOp};
use crate::error::{Error, Result};
use crate::DType;

/// Helpers shared by every kernel file (types, conversions, indexing, math, reductions).
pub const COMMON: &str = include_str!("common.cuh");

/// One kernel source file.
#[derive(Debug)]
pub struct KernelFile {
    /// The file name, used as NVRTC's program name in its diagnostics.
    pub name: &'static str,
    /// The CUDA C source, without the dtype prelude and `common.cuh`.
    pub source: &'static str,
    /// The kernels the file defines (without the dtype tag), each with the dtypes it is
    /// defined for.
    pub kernels: &'static [(&'static str, &'static [DType])],
}

impl KernelFile {
    /// The dtypes the file is instantiated for (those of any of its kernels).
    pub fn dtypes(&self) -> Vec<DType> {
        DType::ALL
            .into_iter()
            .filter(|d| self.kernels.iter().any(|(_, ds)| ds.contains(d)))
            .collect()
    }
}

pub const ALL: &[DType] = &DType::ALL;
pub const NUMERIC: &[DType] = &[
    DType::U8,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::F16,
    DType::BF16,
    DType::F32,
    DType::F64,
];
pub const FLOATS: &[DType] = &[DType::F16, DType::BF16, DType::F32, DType::F64];
pub const INTEGRAL_BOOL: &[DType] = &[
    DType::Bool,
    DType::U8,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
];
pub const INT64: &[DType] = &[DType::I64];
pub const UINT8: &[DType] = &[DType::U8];
pub const FLOAT_BOOL: &[DType] = &[DType::Bool, DType::F16, DType::BF16, DType::F32, DType::F64];

/// `kernel_file!(NAME = "file.cu", [DTYPES: "k1", "k2"; OTHER: "k3"])`.
macro_rules! kernel_file {
    ($(#[$m:meta])* $NAME:ident = $file:literal, [$($ds:ident: $($k:literal),*);* $(;)?]) => {
        $(#[$m])*
        pub static $NAME: KernelFile = KernelFile {
            name: $file,
            source: include_str!($file),
            kernels: &[$($(($k, $ds)),*),*],
        };
    };
}

kernel_file!(
    /// Fills, strided copies and casts (the cast kernels are named by their source dtype).
    COPY = "copy.cu",
    [ALL: "fill", "copy_from_b8", "copy_from_u8", "copy_from_i8", "copy_from_i16", "copy_from_i32", "copy_from_i64",
        "copy_from_f16", "copy_from_bf16", "copy_from_f32", "copy_from_f64"]
);

kernel_file!(
    /// Unary ops: one kernel per [`UnaryOp`].
    UNARY = "unary.cu",
    [NUMERIC: "neg", "abs", "sign", "floor", "ceil", "round", "trunc", "relu", "clamp";
     FLOATS: "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "asin",
        "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2", "log10", "exp2", "lgamma",
        "digamma",
        "tanh", "sigmoid", "erf", "reciprocal", "cube", "gelu", "gelu_tanh", "silu", "softplus", "leaky_relu", "elu", "polygamma"]
);

kernel_file!(
    /// Binary ops: one kernel per [`BinaryOp`], and `where`.
    BINARY = "binary.cu",
    [NUMERIC: "add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "atan2", "pow",
        "maximum", "minimum", "threshold_backward";
     ALL: "eq", "ne", "lt", "le", "gt", "ge", "where";
     INTEGRAL_BOOL: "bitwise_and", "bitwise_or", "bitwise_xor";
     FLOATS: "fused3"]
);

kernel_file!(
    /// Row reductions ([`ReduceOp`]) and the arg-extremes.
    REDUCE = "reduce.cu",
    [NUMERIC: "sum_rows", "prod_rows", "max_rows", "min_rows", "argmax_rows", "argmin_rows",
        "sum_cols";
     FLOATS: "var_rows", "logsumexp_rows";
     ALL: "all_rows", "any_rows"]
);

kernel_file!(
    /// Row scans ([`ScanOp`]).
    SCAN = "scan.cu",
    [FLOATS: "softmax_rows", "log_softmax_rows", "logcumsumexp_rows", "softmax_backward_rows",
        "log_softmax_backward_rows";
     NUMERIC: "cumsum_rows", "cumprod_rows", "cummax_rows", "cummin_rows"]
);

kernel_file!(
    /// Sorted search (`searchsorted`, `bucketize`): a binary search per value.
    SEARCH = "search.cu",
    [NUMERIC: "search_sorted"]
);

kernel_file!(
    /// Advanced indexing, gather/scatter along a dim, nonzero.
    INDEX = "index.cu",
    [INT64: "index_offsets";
     ALL: "index_gather", "index_put", "gather_dim", "scatter_dim", "nonzero_count",
        "nonzero_write"]
);

kernel_file!(
    /// Row sorts (indices of each row in order).
    SORT = "sort.cu",
    [ALL: "sort_rows", "sort_tiles", "sort_step", "sort_merge"]
);

kernel_file!(
    /// Random sampling (Philox4x32-10, counter-based).
    RANDOM = "random.cu",
    [FLOATS: "uniform", "normal"; FLOAT_BOOL: "bernoulli"; INT64: "randint"]
);

kernel_file!(
    /// Fused cross-entropy of logits rows.
    LOSS = "loss.cu",
    [FLOATS: "cross_entropy_rows", "cross_entropy_backward_rows"]
);

kernel_file!(
    /// A plain batched matrix product, for the integer dtypes (floats use cuBLAS).
    GEMM = "gemm.cu",
    [NUMERIC: "gemm"]
);

kernel_file!(
    /// Fused optimizer updates (the formulas of `crate::cpu::fused`).
    OPTIM = "optim.cu",
    [FLOATS: "sgd", "adam"]
);

kernel_file!(
    /// Sliding windows: im2col / col2im, max and average pooling (and its adjoint), and
    /// one axis of a separable resampling, in float or in uint8 fixed point (its spans of
    /// sources are windows too).
    WINDOW = "window.cu",
    [ALL: "im2col"; NUMERIC: "col2im", "max_pool";
     FLOATS: "max_pool_backward", "fractional_max_pool", "avg_pool", "avg_pool_backward", "resample_axis";
     UINT8: "resample_fixed"]
);

kernel_file!(
    /// Batch norm: per-channel statistics, the backward's sums, the per-channel affine pass;
    /// layer norm's rows, their input gradient and the parameters' column sums.
    NORM = "norm.cu",
    [FLOATS: "channel_stats", "channel_grad_sums", "channel_affine", "layer_norm_rows",
     "layer_norm_backward_rows", "layer_norm_param_grads"]
);

kernel_file!(
    /// Recurrent layers: the fused cell update of one step, and its backward.
    RNN = "rnn.cu",
    [FLOATS: "rnn_cell_forward", "rnn_cell_backward"]
);

kernel_file!(
    /// The detection ops of torchvision: region-of-interest max pooling (`roi_pool`) and
    /// alignment (`roi_align`) with their gradients, and the overlap mask of `nms`.
    ROI = "roi.cu",
    [FLOATS: "roi_pool", "roi_pool_backward", "roi_align", "roi_align_backward", "nms_mask"]
);

kernel_file!(
    /// Attention weights: scale, mask, softmax and dropout of each row of scores, and the
    /// scores' gradient.
    ATTENTION = "attention.cu",
    [FLOATS: "attention_softmax_rows", "attention_softmax_backward_rows"]
);

/// Every kernel file.
pub static FILES: [&KernelFile; 17] = [
    &COPY, &UNARY, &BINARY, &REDUCE, &SCAN, &INDEX, &SORT, &RANDOM, &LOSS, &GEMM, &OPTIM, &WINDOW,
    &NORM, &RNN, &SEARCH, &ROI, &ATTENTION,
];

/// The tag `dtype`'s kernels carry (`"f32"` for `add_f32`).
pub fn dtype_tag(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "b8",
        DType::U8 => "u8",
        DType::I8 => "i8",
        DType::I16 => "i16",
        DType::I32 => "i32",
        DType::I64 => "i64",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F32 => "f32",
        DType::F64 => "f64",
    }
}

/// The definitions that make a kernel file `dtype`'s instantiation (see `common.cuh`).
pub fn dtype_prelude(dtype: DType) -> String {
    let tag = dtype_tag(dtype);
    format!(
        "// rustorch kernel instantiation for {}\n#define RT_SUFFIX {tag}\n#define RT_DTYPE_{} 1\n",
        dtype.name(),
        tag.to_uppercase()
    )
}

/// The full source of `file` instantiated for `dtype`: prelude, `common.cuh`, the file.
///
/// # Errors
/// [`Error::NotImplemented`] for a dtype the file is not written for.
pub fn instantiate(file: &KernelFile, dtype: DType) -> Result<String> {
    if !file.dtypes().contains(&dtype) {
        return Err(Error::NotImplemented(format!(
            "CUDA kernels of {} are not implemented for dtype {}",
            file.name,
            dtype.name()
        )));
    }
    Ok(format!(
        "{}\n{COMMON}\n// ---- {} ----\n{}",
        dtype_prelude(dtype),
        file.name,
        file.source
    ))
}

/// The symbol of kernel `base` (as listed in [`KernelFile::kernels`]) for `dtype`:
/// `kernel_name("add", DType::F32)` is `"add_f32"`.
pub fn kernel_name(base: &str, dtype: DType) -> String {
    format!("{base}_{}", dtype_tag(dtype))
}

/// The dtypes a unary op runs on: floats for the float ops, every numeric dtype otherwise.
pub fn unary_dtypes(op: UnaryOp) -> &'static [DType] {
    match op.domain() {
        Domain::Float => FLOATS,
        Domain::Numeric => NUMERIC,
    }
}

/// The dtypes a binary op runs on.
pub fn binary_dtypes(op: BinaryOp) -> &'static [DType] {
    match op.kind() {
        BinaryKind::Arith => NUMERIC,
        BinaryKind::Compare => ALL,
        BinaryKind::Bitwise => INTEGRAL_BOOL,
    }
}

/// The dtypes a reduction runs on.
pub fn reduce_dtypes(op: ReduceOp) -> &'static [DType] {
    match op {
        ReduceOp::All | ReduceOp::Any => ALL,
        _ if op.domain() == Domain::Float => FLOATS,
        _ => NUMERIC,
    }
}

/// The dtypes a row scan runs on.
pub fn scan_dtypes(op: ScanOp) -> &'static [DType] {
    match op.domain() {
        Domain::Float => FLOATS,
        Domain::Numeric => NUMERIC,
    }
}

/// Whether `file` defines kernel `base` for `dtype` (declared in its list, for a dtype it
/// is instantiated for). The compile test checks the declarations against the output.
pub fn has_kernel(file: &KernelFile, base: &str, dtype: DType) -> bool {
    file.kernels
        .iter()
        .any(|(k, ds)| *k == base && ds.contains(&dtype))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn kernel_names_are_unique_and_declared_in_their_file() {
        for file in FILES {
            let mut seen = HashSet::new();
            for (k, _) in file.kernels {
                assert!(seen.insert(*k), "{} lists {k} twice", file.name);
                // Declared directly, or through an instantiation macro `RT_...(name, ...)`.
                let direct = format!("KERNEL({k})");
                let via_macro = format!("({k},");
                assert!(
                    file.source.contains(&direct) || file.source.contains(&via_macro),
                    "{} does not define {k}",
                    file.name
                );
            }
        }
    }

    /// Every variant of every op enum has a kernel in its file for every dtype it runs on.
    #[test]
    fn every_op_variant_has_a_cuda_kernel() {
        for &op in UnaryOp::ALL {
            for &d in unary_dtypes(op) {
                assert!(has_kernel(&UNARY, op.kernel(), d), "{op:?} {d:?}");
            }
        }
        for &op in BinaryOp::ALL {
            for &d in binary_dtypes(op) {
                assert!(has_kernel(&BINARY, op.kernel(), d), "{op:?} {d:?}");
            }
        }
        for &op in ReduceOp::ALL {
            for &d in reduce_dtypes(op) {
                assert!(has_kernel(&REDUCE, op.kernel(), d), "{op:?} {d:?}");
            }
        }
        for &op in ScanOp::ALL {
            for &d in scan_dtypes(op) {
                assert!(has_kernel(&SCAN, op.kernel(), d), "{op:?} {d:?}");
            }
        }
    }

    #[test]
    fn instantiation_has_prelude_common_and_body() {
        let src = instantiate(&COPY, DType::F64).unwrap();
        assert!(src.contains("#define RT_DTYPE_F64 1"));
        assert!(src.contains("#define RT_SUFFIX f64"));
        assert!(src.contains("rt_strided_offset"));
        assert!(src.contains("KERNEL(fill)"));
        assert!(instantiate(&OPTIM, DType::I64).is_err());
        // Nothing is included on the GPU side (only the host shim includes headers).
        let device_part = src.split("#if !defined(__CUDACC__)").collect::<Vec<_>>();
        assert!(device_part.len() == 2);
    }
}
