//! `where` and the ops composed from it (masked_fill), plus the pointwise ops of three
//! operands: `lerp`, `addcmul`, `addcdiv`.

use super::binary::{binary, BinaryOp};
use super::blas::coefficient;
use super::{result_type, Operand, Scalar};
use crate::autograd::{grad_if, needs_grad, record};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::broadcast_shapes;
use crate::tensor::memory_format::result_order;
use crate::tensor::storage::Storage;
use crate::Tensor;
use std::borrow::Cow;

/// `where(cond, a, b)`: `a` where `cond` holds, else `b`, all broadcast together.
pub fn where_(cond: &Tensor, a: &Operand, b: &Operand) -> Result<Tensor> {
    use super::binary::{operand_attrs, operand_tensors};
    let mut tensors = vec![cond];
    tensors.extend(operand_tensors(a, b));
    crate::ops::trace::traced(
        "where",
        &tensors,
        || operand_attrs(a, b),
        || where_untraced(cond, a, b),
    )
}

fn where_untraced(cond: &Tensor, a: &Operand, b: &Operand) -> Result<Tensor> {
    if cond.dtype() != DType::Bool && cond.dtype() != DType::U8 {
        return Err(Error::Runtime(format!(
            "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
            cond.dtype().scalar_name()
        )));
    }
    let (mut ts, mut ss) = (vec![], vec![]);
    for o in [a, b] {
        match o {
            Operand::Tensor(t) => ts.push(t),
            Operand::Scalar(s) => ss.push(*s),
        }
    }
    let dtype = result_type(&ts, &ss);
    let to_t = |o: &Operand| match o {
        Operand::Tensor(t) => t.to_dtype(dtype),
        Operand::Scalar(s) => Ok(s.to_tensor(dtype)),
    };
    let (ta, tb) = (to_t(a)?, to_t(b)?);
    let c = cond.to_dtype_raw(DType::Bool)?;
    let shape = broadcast_shapes(&broadcast_shapes(c.shape(), ta.shape())?, tb.shape())?;
    // Laid out after the operands, condition first, as PyTorch's (see `result_order`).
    let order = result_order(&shape, &[c.layout(), ta.layout(), tb.layout()]);
    fn view<'t>(t: &'t Tensor, shape: &[usize], order: &Option<Vec<usize>>) -> Cow<'t, Tensor> {
        match order {
            Some(o) => Cow::Owned(t.ordered(shape, o)),
            None => Cow::Borrowed(t),
        }
    }
    let (vc, va, vb) = (
        view(&c, &shape, &order),
        view(&ta, &shape, &order),
        view(&tb, &shape, &order),
    );
    let inner = match &order {
        Some(o) => o.iter().map(|&d| shape[d]).collect(),
        None => shape.clone(),
    };
    let s = Storage::where_(
        (vc.storage(), vc.layout()),
        (va.storage(), va.layout()),
        (vb.storage(), vb.layout()),
        dtype,
        &inner,
    )?;
    let out = Tensor::from_storage(s, inner);
    let out = match &order {
        Some(o) => out.unordered(o),
        None => out,
    };
    if needs_grad(&[&ta, &tb]) {
        let (sa, sb) = (ta.shape().to_vec(), tb.shape().to_vec());
        record("WhereBackward0", &[&ta, &tb], &out, move |g, n| {
            let zero = Operand::Scalar(Scalar::Float(0.0));
            let gt = Operand::Tensor(g.clone());
            Ok(vec![
                grad_if(n[0], || where_(&c, &gt, &zero)?.sum_to(&sa))?,
                grad_if(n[1], || where_(&c, &zero, &gt)?.sum_to(&sb))?,
            ])
        });
    }
    Ok(out)
}

impl Tensor {
    /// `triu(diagonal)` (`upper`) or `tril(diagonal)`: the elements of the last two dims on
    /// and above (below) diagonal `diagonal`, zeros elsewhere; as `where` on a mask built from
    /// the positions, so its gradient is the same mask.
    pub fn triangle(&self, diagonal: i64, upper: bool) -> Result<Tensor> {
        let name = if upper { "triu" } else { "tril" };
        if self.dim() < 2 {
            return Err(Error::Runtime(format!(
                "{name}: input tensor must have at least 2 dimensions"
            )));
        }
        let (r, c) = (self.shape()[self.dim() - 2], self.shape()[self.dim() - 1]);
        let pos =
            |n: usize| crate::ops::creation::arange(0.0, n as f64, 1.0, DType::I64, self.device());
        // col − row: 0 on the main diagonal, k on the k-th above it.
        let offset = pos(c)?.unsqueeze(0)?.sub(&pos(r)?.unsqueeze(1)?)?;
        let mask = if upper {
            offset.ge_scalar(diagonal as f64)?
        } else {
            offset.le_scalar(diagonal as f64)?
        };
        let zero = crate::ops::creation::zeros(&[], self.dtype(), self.device())?;
        where_(
            &mask,
            &Operand::Tensor(self.clone()),
            &Operand::Tensor(zero),
        )
    }

    /// `self` where `cond`, else `other`.
    pub fn where_(&self, cond: &Tensor, other: &Tensor) -> Result<Tensor> {
        where_(
            cond,
            &Operand::Tensor(self.clone()),
            &Operand::Tensor(other.clone()),
        )
    }
    /// `masked_fill(mask, value)`: `value` where `mask`, else self (dtype of self kept).
    pub fn where_scalar(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let v = Scalar::Float(value).to_tensor(self.dtype());
        where_(mask, &Operand::Tensor(v), &Operand::Tensor(self.clone()))
    }
    /// `masked_fill(mask, value)` with a PyTorch scalar; the mask must broadcast to self.
    pub fn masked_fill(&self, mask: &Tensor, value: Scalar) -> Result<Tensor> {
        check_fill_mask(mask)?;
        let shape = broadcast_shapes(self.shape(), mask.shape())?;
        if shape != self.shape() {
            return Err(Error::Runtime(format!(
                "The size of tensor a ({}) must match the size of tensor b ({}) at non-singleton dimension 0",
                self.shape().first().copied().unwrap_or(1),
                shape[0]
            )));
        }
        let v = value.to_tensor(self.dtype());
        let out = where_(mask, &Operand::Tensor(v), &Operand::Tensor(self.clone()))?;
        Ok(out)
    }
    /// Out-of-place `masked_fill(mask, value)` with a 0-d tensor `value`, as PyTorch's: `self`
    /// broadcast with `mask`, `value` (cast to self's dtype) where `mask`; the gradient
    /// reaches `value` too.
    pub fn masked_fill_tensor(&self, mask: &Tensor, value: &Tensor) -> Result<Tensor> {
        check_fill_value(value)?;
        check_fill_mask(mask)?;
        let v = value.to_dtype(self.dtype())?;
        where_(mask, &Operand::Tensor(v), &Operand::Tensor(self.clone()))
    }
    /// `lerp(end, weight)`: `self + weight·(end − self)`.
    pub fn lerp(&self, end: &Tensor, weight: &Operand) -> Result<Tensor> {
        let diff = end.sub(self)?;
        let step = match weight {
            Operand::Tensor(w) => diff.mul(w)?,
            Operand::Scalar(s) => diff.mul_scalar(s.to_f64())?,
        };
        self.add(&step)
    }
}

/// PyTorch's check on `masked_fill`'s mask: boolean only.
fn check_fill_mask(mask: &Tensor) -> Result<()> {
    if mask.dtype() == DType::Bool {
        return Ok(());
    }
    Err(Error::Runtime(format!(
        "masked_fill_ only supports boolean masks, but got mask with dtype {}",
        mask.dtype().name()
    )))
}

/// PyTorch's check on `masked_fill`'s tensor value: 0-d only.
pub fn check_fill_value(value: &Tensor) -> Result<()> {
    if value.dim() == 0 {
        return Ok(());
    }
    Err(Error::Runtime(format!(
        "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {} dimension(s).",
        value.dim()
    )))
}

impl Tensor {
    /// `addcmul(self, tensor1, tensor2, value=)`: `self + value·tensor1·tensor2`, the three
    /// broadcast together and their dtypes promoted; `value` is cast to the result's type
    /// (truncated for integers), and bool results are refused, as in PyTorch.
    pub fn addcmul(&self, t1: &Tensor, t2: &Tensor, value: Scalar) -> Result<Tensor> {
        broadcast_shapes(&broadcast_shapes(self.shape(), t1.shape())?, t2.shape())?;
        let dtype = result_type(&[self, t1, t2], &[]);
        if dtype == DType::Bool {
            return Err(Error::NotImplemented(
                "\"addcmul_cpu_out\" not implemented for 'Bool'".into(),
            ));
        }
        self.add_scaled(t1, BinaryOp::Mul, t2, value, dtype)
    }

    /// `addcdiv(self, tensor1, tensor2, value=)`: `self + value·tensor1/tensor2` (true
    /// division); two integer operands are refused with PyTorch's message.
    pub fn addcdiv(&self, t1: &Tensor, t2: &Tensor, value: Scalar) -> Result<Tensor> {
        if !t1.dtype().is_float() && !t2.dtype().is_float() {
            return Err(Error::Runtime(
                "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the latter implementation: (input + value * tensor1 / tensor2), for all dtypes.".into(),
            ));
        }
        broadcast_shapes(&broadcast_shapes(self.shape(), t1.shape())?, t2.shape())?;
        let dtype = result_type(&[self, t1, t2], &[]);
        self.add_scaled(t1, BinaryOp::Div, t2, value, dtype)
    }

    /// `self + (value·t1) op t2` in `dtype`, rounded in PyTorch's order.
    fn add_scaled(
        &self,
        t1: &Tensor,
        op: BinaryOp,
        t2: &Tensor,
        value: Scalar,
        dtype: DType,
    ) -> Result<Tensor> {
        let t1 = t1.to_dtype(dtype)?;
        let scaled = match value.to_f64() {
            1.0 => t1,
            _ => binary(
                BinaryOp::Mul,
                &Operand::Tensor(t1),
                &Operand::Scalar(coefficient(value, dtype)),
            )?,
        };
        let term = binary(
            op,
            &Operand::Tensor(scaled),
            &Operand::Tensor(t2.to_dtype(dtype)?),
        )?;
        self.to_dtype(dtype)?.add(&term)
    }
}
