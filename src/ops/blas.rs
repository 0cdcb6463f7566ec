//! The BLAS-style sums `β·input + α·product` beside `addmm` (which has a fused kernel in
//! [`super::matmul`]): `baddbmm`, `addbmm`, `addmv` and `addr`, composed from the products
//! and elementwise ops (so their gradients, any order, come from those), with PyTorch's
//! checks, messages and coefficient casts.

use super::binary::{binary, BinaryOp};
use super::{creation, Operand, Scalar};
use crate::autograd::needs_grad;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::Tensor;

/// A coefficient (`alpha`, `beta`, `value`) of the products added to an input, in the op's
/// dtype: an integer type takes it truncated and bool takes its truth, as PyTorch casts
/// its scalars to the op's type.
pub(crate) fn coefficient(v: Scalar, dtype: DType) -> Scalar {
    match dtype {
        d if d.is_float() => Scalar::Float(v.to_f64()),
        DType::Bool => Scalar::Bool(v.to_f64() != 0.0),
        _ => Scalar::Int(v.to_f64().trunc() as i64),
    }
}

/// `β·input + α·product`, the sum of `baddbmm`, `addbmm`, `addmv` and `addr`: `input`
/// expands to the product's shape (with PyTorch's message when it cannot), and β = 0
/// ignores its values (NaN there does not reach the result) while it still gets a zero
/// gradient, as in PyTorch.
fn add_scaled_product(
    input: &Tensor,
    product: &Tensor,
    beta: Scalar,
    alpha: Scalar,
) -> Result<Tensor> {
    let dtype = product.dtype();
    let input = input.expand_to(product.shape())?;
    let scaled = |t: &Tensor, s: Scalar| match s.to_f64() {
        1.0 => Ok(t.clone()),
        _ => binary(
            BinaryOp::Mul,
            &Operand::Tensor(t.clone()),
            &Operand::Scalar(coefficient(s, dtype)),
        ),
    };
    let product = scaled(product, alpha)?;
    let kept = if beta.to_f64() != 0.0 {
        scaled(&input, beta)?
    } else if needs_grad(&[&input]) {
        let all = creation::full(
            product.shape(),
            Scalar::Bool(true),
            DType::Bool,
            input.device(),
        )?;
        input.where_scalar(&all, 0.0)?
    } else {
        return Ok(product);
    };
    binary(
        BinaryOp::Add,
        &Operand::Tensor(kept.to_dtype(dtype)?),
        &Operand::Tensor(product),
    )
}

/// PyTorch's check that both operands of a batched product are 3-D.
fn check_batches(b1: &Tensor, b2: &Tensor) -> Result<()> {
    for (name, t) in [("batch1", b1), ("batch2", b2)] {
        if t.dim() != 3 {
            return Err(Error::Runtime(format!("{name} must be a 3D tensor")));
        }
    }
    Ok(())
}

/// PyTorch's refusal of bool by the product kernel it names.
fn refuse_bool(dtype: DType, kernel: &str) -> Result<()> {
    if dtype == DType::Bool {
        return Err(Error::NotImplemented(format!(
            "\"{kernel}\" not implemented for 'Bool'"
        )));
    }
    Ok(())
}

impl Tensor {
    /// `baddbmm(self, batch1, batch2, beta=, alpha=)`: `β·self + α·(batch1 @ batch2)` for
    /// batches of matrices, all of one dtype (PyTorch's checks and messages).
    pub fn baddbmm(&self, b1: &Tensor, b2: &Tensor, beta: Scalar, alpha: Scalar) -> Result<Tensor> {
        check_batches(b1, b2)?;
        let [b, _, k] = [b1.shape()[0], b1.shape()[1], b1.shape()[2]];
        if b2.shape()[..2] != [b, k] {
            return Err(Error::Runtime(format!(
                "Expected size for first two dimensions of batch2 tensor to be: [{b}, {k}] but got: [{}, {}].",
                b2.shape()[0],
                b2.shape()[1]
            )));
        }
        if self.dtype() != b1.dtype() || b1.dtype() != b2.dtype() {
            return Err(Error::Runtime(format!(
                "Input dtypes must be the same, got: input {}, batch1: {}, batch2: {}",
                self.dtype().cpp_name(),
                b1.dtype().cpp_name(),
                b2.dtype().cpp_name()
            )));
        }
        refuse_bool(self.dtype(), "baddbmm")?;
        add_scaled_product(self, &b1.matmul(b2)?, beta, alpha)
    }

    /// `addbmm(self, batch1, batch2, beta=, alpha=)`: `β·self + α·Σᵢ batch1[i] @ batch2[i]`,
    /// the sum over the batch taken inside one product (`[n, b·k] @ [b·k, m]`).
    pub fn addbmm(&self, b1: &Tensor, b2: &Tensor, beta: Scalar, alpha: Scalar) -> Result<Tensor> {
        check_batches(b1, b2)?;
        let [b, n, k] = [b1.shape()[0], b1.shape()[1], b1.shape()[2]];
        let m = b2.shape()[2];
        if b2.shape()[0] != b {
            return Err(Error::Runtime(format!(
                "batch1 and batch2 must have same number of batches, got {b} and {}",
                b2.shape()[0]
            )));
        }
        if b2.shape()[1] != k {
            return Err(Error::Runtime(format!(
                "Incompatible matrix sizes for bmm ({n}x{k} and {}x{m})",
                b2.shape()[1]
            )));
        }
        if self.dtype() != b1.dtype() || b1.dtype() != b2.dtype() {
            let other = if self.dtype() != b1.dtype() { b1 } else { b2 };
            return Err(Error::Runtime(format!(
                "self and mat2 must have the same dtype, but got {} and {}",
                self.dtype().scalar_name(),
                other.dtype().scalar_name()
            )));
        }
        refuse_bool(self.dtype(), "addmm_impl_cpu_")?;
        let rows = b1
            .permute(&[1, 0, 2])?
            .reshape(&[n as i64, (b * k) as i64])?;
        let cols = b2.reshape(&[(b * k) as i64, m as i64])?;
        add_scaled_product(self, &rows.matmul(&cols)?, beta, alpha)
    }

    /// `addmv(self, mat, vec, beta=, alpha=)`: `β·self + α·(mat @ vec)`, `self` a vector of
    /// the product's length or a single number, all of one dtype.
    pub fn addmv(&self, mat: &Tensor, vec: &Tensor, beta: Scalar, alpha: Scalar) -> Result<Tensor> {
        if mat.dim() != 2 || vec.dim() != 1 || self.dim() > 1 {
            return Err(Error::Runtime(format!(
                "vector + matrix @ vector expected, got {}, {}, {}",
                self.dim(),
                mat.dim(),
                vec.dim()
            )));
        }
        let (n, k) = (mat.shape()[0], mat.shape()[1]);
        if vec.shape()[0] != k || (self.numel() != n && self.numel() != 1) {
            return Err(Error::Runtime(format!(
                "size mismatch, got input ({}), mat ({n}x{k}), vec ({})",
                self.numel(),
                vec.shape()[0]
            )));
        }
        if self.dtype() != mat.dtype() || mat.dtype() != vec.dtype() {
            return Err(Error::Runtime(format!(
                "addmv input tensors must have the same dtype, but got {}, {}, and {}",
                self.dtype().scalar_name(),
                mat.dtype().scalar_name(),
                vec.dtype().scalar_name()
            )));
        }
        refuse_bool(self.dtype(), "addmv_impl_cpu")?;
        add_scaled_product(self, &mat.matmul(vec)?, beta, alpha)
    }

    /// `addr(self, vec1, vec2, beta=, alpha=)`: `β·self + α·(vec1 ⊗ vec2)`, the dtypes
    /// promoted; for an integral result `β` and `α` must be integers, and for bool the sum
    /// is PyTorch's logical one.
    pub fn addr(&self, v1: &Tensor, v2: &Tensor, beta: Scalar, alpha: Scalar) -> Result<Tensor> {
        for (name, t) in [("vec1", v1), ("vec2", v2)] {
            if t.dim() != 1 {
                return Err(Error::Runtime(format!(
                    "addr: Expected 1-D argument {name}, but got {}-D",
                    t.dim()
                )));
            }
        }
        let dtype = super::result_type(&[self, v1, v2], &[]);
        if !dtype.is_float() {
            for (name, s) in [("beta", beta), ("alpha", alpha)] {
                if matches!(s, Scalar::Float(_)) {
                    return Err(Error::Runtime(format!(
                        "For integral input tensors, argument {name} must not be a floating point number."
                    )));
                }
            }
        }
        let outer = v1
            .to_dtype(dtype)?
            .unsqueeze(1)?
            .mul(&v2.to_dtype(dtype)?.unsqueeze(0)?)?;
        add_scaled_product(&self.to_dtype(dtype)?, &outer, beta, alpha)
    }
}
