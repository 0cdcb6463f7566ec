//! rustorch: a tensor engine with strided tensors, a define-by-run autograd graph and
//! parallel CPU kernels, usable from Rust directly or from Python as `rustorch`.
//!
//! ```
//! use rustorch::{Tensor, DType};
//! let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
//! a.set_requires_grad(true).unwrap();
//! let loss = a.matmul(&a).unwrap().sum().unwrap();
//! loss.backward(None, false, false, None).unwrap();
//! assert_eq!(a.grad().unwrap().to_vec::<f32>().unwrap(), vec![7.0, 11.0, 9.0, 13.0]);
//! assert_eq!(a.dtype(), DType::F32);
//! ```

pub mod autograd;
pub mod backend;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod error;
pub mod nn;
pub mod ops;
pub mod tensor;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use ops::{Operand, Scalar};
pub use tensor::device::Device;
pub use tensor::dtype::{DType, Element};
pub use tensor::Tensor;
