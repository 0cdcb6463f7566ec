//! CUDA C sources of the kernels, compiled at run time with NVRTC (see [`super::nvrtc`]).
//!
//! Each `.cu` file is written once over an element type: it uses `scalar_t` (the type in
//! memory), `acc_t` (the type arithmetic is done in) and names its kernels with the
//! `KERNEL(name)` macro, which appends the dtype tag (`add` becomes `add_f32`). The full
//! source of one instantiation is [`dtype_prelude`] + `common.cuh` + the file (see
//! [`instantiate`]), so every (kernel, dtype) pair has its own unmangled `extern "C"` symbol.
//! float32 and float64 are instantiated now; float16 and bfloat16 are for later (they need
//! NVRTC's bundled `cuda_fp16.h` / `cuda_bf16.h`).

use crate::error::{Error, Result};
use crate::DType;

/// Helpers shared by every kernel file (math overloads, grid-stride loop, block reduction).
pub const COMMON: &str = include_str!("common.cuh");

/// One kernel source file.
#[derive(Clone, Copy, Debug)]
pub struct KernelFile {
    /// The file name, used as NVRTC's program name in its diagnostics.
    pub name: &'static str,
    /// The CUDA C source, without the dtype prelude and `common.cuh`.
    pub source: &'static str,
    /// The kernels the file defines, without the dtype tag.
    pub kernels: &'static [&'static str],
}

/// Elementwise binary ops, contiguous and broadcasting (strided) forms.
pub const BINARY: KernelFile = KernelFile {
    name: "binary.cu",
    source: include_str!("binary.cu"),
    kernels: &[
        "add",
        "add_strided",
        "sub",
        "sub_strided",
        "mul",
        "mul_strided",
        "div",
        "div_strided",
        "maximum",
        "maximum_strided",
        "minimum",
        "minimum_strided",
        "pow",
        "pow_strided",
    ],
};

/// Elementwise unary ops on contiguous buffers.
pub const UNARY: KernelFile = KernelFile {
    name: "unary.cu",
    source: include_str!("unary.cu"),
    kernels: &[
        "neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu",
        "gelu", "silu", "softplus",
    ],
};

/// Fill a contiguous buffer with one value.
pub const FILL: KernelFile = KernelFile {
    name: "fill.cu",
    source: include_str!("fill.cu"),
    kernels: &["fill"],
};

/// Strided view to contiguous buffer (up to 8 dimensions).
pub const GATHER: KernelFile = KernelFile {
    name: "gather.cu",
    source: include_str!("gather.cu"),
    kernels: &["strided_copy"],
};

/// Row-wise sum and max, one block per row.
pub const REDUCE: KernelFile = KernelFile {
    name: "reduce.cu",
    source: include_str!("reduce.cu"),
    kernels: &["sum_rows", "max_rows"],
};

/// Row softmax and log_softmax, one block per row.
pub const SOFTMAX: KernelFile = KernelFile {
    name: "softmax.cu",
    source: include_str!("softmax.cu"),
    kernels: &["softmax_rows", "log_softmax_rows"],
};

/// Fused SGD and Adam/AdamW updates (the formulas of `crate::cpu::fused`).
pub const OPTIM: KernelFile = KernelFile {
    name: "optim.cu",
    source: include_str!("optim.cu"),
    kernels: &["sgd", "adam"],
};

/// Every kernel file.
pub const FILES: [KernelFile; 7] = [BINARY, UNARY, FILL, GATHER, REDUCE, SOFTMAX, OPTIM];

/// The element types the kernels are instantiated for.
pub const DTYPES: [DType; 2] = [DType::F32, DType::F64];

/// The tag `dtype`'s kernels carry (`"f32"` for `add_f32`), or `None` if the kernels are not
/// instantiated for it.
pub fn dtype_tag(dtype: DType) -> Option<&'static str> {
    match dtype {
        DType::F32 => Some("f32"),
        DType::F64 => Some("f64"),
        _ => None,
    }
}

fn unsupported(dtype: DType) -> Error {
    Error::NotImplemented(format!(
        "CUDA kernels are not implemented for dtype {}",
        dtype.name()
    ))
}

/// The definitions that make a kernel file `dtype`'s instantiation: `scalar_t`, `acc_t` and
/// the `RT_SUFFIX` tag.
///
/// # Errors
/// [`Error::NotImplemented`] for dtypes the kernels are not written for.
pub fn dtype_prelude(dtype: DType) -> Result<String> {
    let (scalar, acc) = match dtype {
        DType::F32 => ("float", "float"),
        DType::F64 => ("double", "double"),
        _ => return Err(unsupported(dtype)),
    };
    let tag = dtype_tag(dtype).ok_or_else(|| unsupported(dtype))?;
    Ok(format!(
        "// rustorch kernel instantiation for {}\n\
         typedef {scalar} scalar_t;\ntypedef {acc} acc_t;\n#define RT_SUFFIX {tag}\n",
        dtype.name()
    ))
}

/// The full source of `file` instantiated for `dtype`: prelude, `common.cuh`, the file.
///
/// # Errors
/// [`Error::NotImplemented`] for dtypes the kernels are not written for.
pub fn instantiate(file: &KernelFile, dtype: DType) -> Result<String> {
    Ok(format!(
        "{}\n{COMMON}\n// ---- {} ----\n{}",
        dtype_prelude(dtype)?,
        file.name,
        file.source
    ))
}

/// The symbol of kernel `base` (as listed in [`KernelFile::kernels`]) for `dtype`:
/// `kernel_name("add", DType::F32)` is `"add_f32"`.
///
/// # Errors
/// [`Error::NotImplemented`] for dtypes the kernels are not written for.
pub fn kernel_name(base: &str, dtype: DType) -> Result<String> {
    let tag = dtype_tag(dtype).ok_or_else(|| unsupported(dtype))?;
    Ok(format!("{base}_{tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn kernel_names_are_unique_and_declared_in_their_file() {
        let mut seen = HashSet::new();
        for file in FILES {
            for k in file.kernels {
                for d in DTYPES {
                    assert!(
                        seen.insert(kernel_name(k, d).unwrap()),
                        "duplicate kernel {k}"
                    );
                }
                // Declared either directly or through a macro instantiation `RT_...(name, ...)`.
                let direct = format!("KERNEL({k})");
                let via_macro = format!("({}, ", k.trim_end_matches("_strided"));
                assert!(
                    file.source.contains(&direct) || file.source.contains(&via_macro),
                    "{} does not define {k}",
                    file.name
                );
            }
        }
    }

    #[test]
    fn instantiation_has_prelude_common_and_body() {
        let src = instantiate(&FILL, DType::F64).unwrap();
        assert!(src.contains("typedef double scalar_t;"));
        assert!(src.contains("#define RT_SUFFIX f64"));
        assert!(src.contains("rt_block_reduce"));
        assert!(src.contains("KERNEL(fill)"));
        assert!(instantiate(&FILL, DType::I64).is_err());
        assert!(!src.lines().any(|l| l.trim_start().starts_with("#include")));
    }
}
