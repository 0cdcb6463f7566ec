//! `where` and the ops composed from it (masked_fill), plus the pointwise ops of three
//! operands: `lerp`, `addcmul`, `addcdiv`.

use super::binary::{binary, BinaryOp};
use super::blas::coefficient;
use super::{result_type, Operand, Scalar};
use crate::autograd::{grad_if, needs_grad, record};
use crate::backend::Fused3;
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
        let pos = |start: i64, n: usize| {
            let end = (start + n as i64) as f64;
            crate::ops::creation::arange(start as f64, end, 1.0, DType::I64, self.device())
        };
        // Column k − row is the diagonal's: compare the columns with row + diagonal (clamped
        // to the range where it decides anything) broadcast, one pass writing the mask
        // rather than an int64 tensor of offsets and then a comparison of it.
        let d = diagonal.clamp(-(r as i64), c as i64);
        let cols = Operand::Tensor(pos(0, c)?.unsqueeze(0)?);
        let rows = Operand::Tensor(pos(d, r)?.unsqueeze(1)?);
        let op = if upper { BinaryOp::Ge } else { BinaryOp::Le };
        let mask = binary(op, &cols, &rows)?;
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
    /// `lerp(end, weight)`: `self + weight·(end − self)`, for floats as PyTorch's kernels
    /// compute it (`self + weight·(end − self)` where `|weight| < 0.5`, else
    /// `end − (end − self)·(1 − weight)`, each a fused multiply-add).
    /// As PyTorch's, `end` and a weight tensor of one dim or more must have self's dtype, a
    /// float one.
    pub fn lerp(&self, end: &Tensor, weight: &Operand) -> Result<Tensor> {
        let dtype = self.dtype();
        let mismatch = |what: &str, other: DType| {
            Err(Error::Runtime(format!(
                "expected dtype {} for `{what}` but got dtype {}",
                dtype.cpp_name(),
                other.cpp_name()
            )))
        };
        if end.dtype() != dtype {
            return mismatch("end", end.dtype());
        }
        if let Operand::Tensor(w) = weight {
            if w.dim() > 0 && w.dtype() != dtype {
                return mismatch("weight", w.dtype());
            }
        }
        if !dtype.is_float() {
            let kernel = match weight {
                Operand::Tensor(_) => "lerp_kernel_tensor",
                Operand::Scalar(_) => "lerp_kernel_scalar",
            };
            return Err(Error::NotImplemented(format!(
                "\"{kernel}\" not implemented for '{}'",
                dtype.scalar_name()
            )));
        }
        if fuses(dtype) {
            return lerp_fused(self, end, weight, dtype);
        }
        let diff = end.sub(self)?;
        let step = match weight {
            Operand::Tensor(w) => diff.mul(w)?,
            Operand::Scalar(s) => diff.mul_scalar(s.to_f64())?,
        };
        self.add(&step)
    }
}

/// Whether an op of result type `dtype` takes its fused kernel: floats, except while a trace
/// records ops for ONNX export, which maps the composite forms (their recorded products and
/// sums) and has no operator of its own for these.
pub(crate) fn fuses(dtype: DType) -> bool {
    dtype.is_float() && !crate::ops::trace::tracing()
}

/// The [`Fused3`] op of `a`, `b`, `c` (converted to `dtype`) broadcast together, the result
/// laid out after the operands as PyTorch's (see `result_order`).
pub(crate) fn fused3(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    dtype: DType,
    op: Fused3,
) -> Result<Tensor> {
    let (a, b, c) = (a.to_dtype(dtype)?, b.to_dtype(dtype)?, c.to_dtype(dtype)?);
    let shape = broadcast_shapes(&broadcast_shapes(a.shape(), b.shape())?, c.shape())?;
    let order = result_order(&shape, &[a.layout(), b.layout(), c.layout()]);
    let view = |t: &Tensor| match &order {
        Some(o) => t.ordered(&shape, o),
        None => t.clone(),
    };
    let (va, vb, vc) = (view(&a), view(&b), view(&c));
    let inner: Vec<usize> = match &order {
        Some(o) => o.iter().map(|&d| shape[d]).collect(),
        None => shape.clone(),
    };
    let s = Storage::fused3(
        (va.storage(), va.layout()),
        (vb.storage(), vb.layout()),
        (vc.storage(), vc.layout()),
        dtype,
        &inner,
        op,
    )?;
    let out = Tensor::from_storage(s, inner);
    Ok(match &order {
        Some(o) => out.unordered(o),
        None => out,
    })
}

/// `addcmul` of float operands: one fused multiply-add per element, `self + (value·t1)·t2`,
/// as PyTorch's kernels (whose compilers contract the sum); the 16-bit types in float32,
/// rounded once.
fn addcmul_fused(
    x: &Tensor,
    t1: &Tensor,
    t2: &Tensor,
    value: Scalar,
    dtype: DType,
) -> Result<Tensor> {
    let v = coefficient(value, dtype).to_f64();
    let out = fused3(x, t1, t2, dtype, Fused3::Addcmul(v))?;
    if needs_grad(&[x, t1, t2]) {
        let shapes = [x.shape().to_vec(), t1.shape().to_vec(), t2.shape().to_vec()];
        let (a, b) = (t1.clone(), t2.clone());
        record("AddcmulBackward0", &[x, t1, t2], &out, move |g, n| {
            Ok(vec![
                grad_if(n[0], || g.sum_to(&shapes[0]))?,
                grad_if(n[1], || g.mul(&b)?.mul_scalar(v)?.sum_to(&shapes[1]))?,
                grad_if(n[2], || g.mul(&a)?.mul_scalar(v)?.sum_to(&shapes[2]))?,
            ])
        });
    }
    Ok(out)
}

/// `lerp` of float operands with PyTorch's two formulas (see [`Tensor::lerp`]), the 16-bit
/// types in float32, rounded once.
/// Its node is `LerpBackward1` with a tensor weight, `LerpBackward0` with a number.
fn lerp_fused(x: &Tensor, end: &Tensor, weight: &Operand, dtype: DType) -> Result<Tensor> {
    // A number weight travels in the op (its precision kept for 16-bit operands); `end`
    // stands in for the unread third operand.
    let (w, op) = match weight {
        Operand::Tensor(w) => (w.clone(), Fused3::Lerp(None)),
        Operand::Scalar(s) => (s.to_tensor(dtype), Fused3::Lerp(Some(s.to_f64()))),
    };
    let third = if matches!(op, Fused3::Lerp(None)) {
        &w
    } else {
        end
    };
    let out = fused3(x, end, third, dtype, op)?;
    let tensor_weight = matches!(weight, Operand::Tensor(_));
    let inputs: Vec<&Tensor> = if tensor_weight {
        vec![x, end, &w]
    } else {
        vec![x, end]
    };
    if needs_grad(&inputs) {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let (a, b, wt) = (x.clone(), end.clone(), w.clone());
        let name = if tensor_weight {
            "LerpBackward1"
        } else {
            "LerpBackward0"
        };
        record(name, &inputs, &out, move |g, n| {
            let mut grads = vec![
                grad_if(n[0], || g.mul(&wt.rsub_scalar(1.0)?)?.sum_to(&shapes[0]))?,
                grad_if(n[1], || g.mul(&wt)?.sum_to(&shapes[1]))?,
            ];
            if n.len() > 2 {
                grads.push(grad_if(n[2], || g.mul(&b.sub(&a)?)?.sum_to(&shapes[2]))?);
            }
            Ok(grads)
        });
    }
    Ok(out)
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
        if fuses(dtype) {
            return addcmul_fused(self, t1, t2, value, dtype);
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
