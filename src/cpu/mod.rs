//! CPU kernels. They see slices, layouts and dtypes — never autograd.

pub mod copy;
pub mod elementwise;
pub mod fused;
pub mod math;
pub mod matmul;
pub mod reduce;
pub mod strided;

/// Below this many elements a kernel runs on the calling thread: handing a small tensor to
/// the rayon pool costs more than computing it.
pub const PAR_THRESHOLD: usize = 1 << 15;
