//! Typed errors carried from the kernels to the Python boundary.
//!
//! Each variant maps onto the Python exception PyTorch raises for the same fault, so the
//! bindings translate without inspecting messages.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// Shape, dtype, device or state mismatches (`RuntimeError` in Python).
    #[error("{0}")]
    Runtime(String),
    /// Out-of-range indices and dimensions (`IndexError`).
    #[error("{0}")]
    Index(String),
    /// Wrong argument kinds (`TypeError`).
    #[error("{0}")]
    Type(String),
    /// Arguments of the right kind with bad values (`ValueError`).
    #[error("{0}")]
    Value(String),
    /// An op or dtype this engine does not provide (`NotImplementedError`).
    #[error("{0}")]
    NotImplemented(String),
    /// A device allocation that failed even after the cache was freed
    /// (`torch.cuda.OutOfMemoryError`, a `RuntimeError`).
    #[error("{0}")]
    OutOfMemory(String),
    /// An error raised by user code the engine called back (a Python hook, a custom
    /// `Function`'s backward), carried unchanged through the engine so that the boundary
    /// re-raises the original exception (its type and traceback), as PyTorch does.
    #[error("{0}")]
    Foreign(String, ForeignError),
}

/// The original error object of an [`Error::Foreign`] (e.g. a Python exception), opaque to
/// the engine. Two are equal when they hold the same object.
#[derive(Clone)]
pub struct ForeignError(pub std::sync::Arc<dyn std::any::Any + Send + Sync>);

impl PartialEq for ForeignError {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for ForeignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForeignError(..)")
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error::Runtime`] from a format string.
#[macro_export]
macro_rules! rt_err {
    ($($arg:tt)*) => { $crate::error::Error::Runtime(format!($($arg)*)) };
}

/// Returns early with an [`Error::Runtime`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::rt_err!($($arg)*)) };
}

/// Normalises a possibly negative dimension against `ndim`, as PyTorch's `maybe_wrap_dim`.
pub fn wrap_dim(dim: i64, ndim: usize) -> Result<usize> {
    // A 0-d tensor accepts dims -1 and 0, as in PyTorch.
    let n = ndim.max(1) as i64;
    let d = if dim < 0 { dim + n } else { dim };
    if d < 0 || d >= n {
        return Err(Error::Index(format!(
            "Dimension out of range (expected to be in range of [{}, {}], but got {})",
            -n,
            n - 1,
            dim
        )));
    }
    Ok(d as usize)
}
