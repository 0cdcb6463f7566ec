//! Binary elementwise ops with broadcasting and PyTorch's type promotion, and their
//! backward rules (gradients summed back to each input's shape).

use super::{result_type, Operand, Scalar};
use crate::autograd::{grad_if, needs_grad, record, SavedTensor};
use crate::cpu::elementwise::{zip, Num};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::broadcast_shapes;
use crate::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Rem,
    Pow,
    Maximum,
    Minimum,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    BitAnd,
    BitOr,
    BitXor,
}

use BinaryOp::*;

impl BinaryOp {
    fn is_comparison(self) -> bool {
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
    fn is_bitwise(self) -> bool {
        matches!(self, BitAnd | BitOr | BitXor)
    }
    fn kernel_name(self) -> &'static str {
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            FloorDiv => "floor_divide",
            Rem => "remainder",
            Pow => "pow",
            Maximum => "maximum",
            Minimum => "minimum",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
            BitAnd => "bitwise_and",
            BitOr => "bitwise_or",
            BitXor => "bitwise_xor",
        }
    }
}

/// The dtype `op` computes in, or PyTorch's error for a dtype it does not take.
fn compute_dtype(op: BinaryOp, promoted: DType) -> Result<DType> {
    match op {
        Div => Ok(promoted.to_float()),
        Sub if promoted == DType::Bool => Err(Error::Runtime(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.".into(),
        )),
        BitAnd | BitOr | BitXor if promoted.is_float() => Err(Error::Runtime(format!(
            "\"{}_cpu\" not implemented for '{}'",
            op.kernel_name(),
            if promoted == DType::F32 { "Float" } else { "Double" }
        ))),
        _ => Ok(promoted),
    }
}

/// Elementwise `a op b` on same-dtype operands (already cast), broadcast to `shape`.
fn arith_kernel<T: Num>(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Vec<T> {
    let (da, la) = (a.storage().as_slice::<T>(), a.layout());
    let (db, lb) = (b.storage().as_slice::<T>(), b.layout());
    match op {
        Add => zip(da, la, db, lb, shape, |x, y| x.add(y)),
        Sub => zip(da, la, db, lb, shape, |x, y| x.sub(y)),
        Mul => zip(da, la, db, lb, shape, |x, y| x.mul(y)),
        Div => zip(da, la, db, lb, shape, |x, y| x.div(y)),
        FloorDiv => zip(da, la, db, lb, shape, |x, y| x.floor_div(y)),
        Rem => zip(da, la, db, lb, shape, |x, y| x.rem(y)),
        Pow => zip(da, la, db, lb, shape, |x, y| x.pow(y)),
        Maximum => zip(da, la, db, lb, shape, |x, y| x.max_nan(y)),
        Minimum => zip(da, la, db, lb, shape, |x, y| x.min_nan(y)),
        _ => unreachable!("comparisons and bitwise ops have their own kernels"),
    }
}

fn compare_kernel<T: crate::Element>(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
) -> Vec<bool> {
    let (da, la) = (a.storage().as_slice::<T>(), a.layout());
    let (db, lb) = (b.storage().as_slice::<T>(), b.layout());
    match op {
        Eq => zip(da, la, db, lb, shape, |x, y| x == y),
        Ne => zip(da, la, db, lb, shape, |x, y| x != y),
        Lt => zip(da, la, db, lb, shape, |x, y| x < y),
        Le => zip(da, la, db, lb, shape, |x, y| x <= y),
        Gt => zip(da, la, db, lb, shape, |x, y| x > y),
        Ge => zip(da, la, db, lb, shape, |x, y| x >= y),
        _ => unreachable!(),
    }
}

macro_rules! bitwise_kernel {
    ($T:ty, $op:expr, $a:expr, $b:expr, $shape:expr) => {{
        let (da, la) = ($a.storage().as_slice::<$T>(), $a.layout());
        let (db, lb) = ($b.storage().as_slice::<$T>(), $b.layout());
        match $op {
            BitAnd => zip(da, la, db, lb, $shape, |x, y| x & y),
            BitOr => zip(da, la, db, lb, $shape, |x, y| x | y),
            _ => zip(da, la, db, lb, $shape, |x, y| x ^ y),
        }
    }};
}

/// Runs the kernel of `op` on `a`, `b` cast to `dtype`; no autograd.
fn forward(op: BinaryOp, a: &Tensor, b: &Tensor, dtype: DType) -> Result<Tensor> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let a = a.to_dtype_raw(dtype);
    let b = b.to_dtype_raw(dtype);
    if op.is_comparison() {
        let out = crate::with_dtype!(dtype, T, compare_kernel::<T>(op, &a, &b, &shape));
        return Ok(Tensor::from_vec(out, &shape));
    }
    if op.is_bitwise() {
        return Ok(match dtype {
            DType::Bool => Tensor::from_vec(bitwise_kernel!(bool, op, a, b, &shape), &shape),
            DType::U8 => Tensor::from_vec(bitwise_kernel!(u8, op, a, b, &shape), &shape),
            DType::I32 => Tensor::from_vec(bitwise_kernel!(i32, op, a, b, &shape), &shape),
            _ => Tensor::from_vec(bitwise_kernel!(i64, op, a, b, &shape), &shape),
        });
    }
    if matches!(op, FloorDiv | Rem) && !dtype.is_float() && b.to_vec::<i64>().contains(&0) {
        return Err(Error::Runtime("ZeroDivisionError".into()));
    }
    if op == Pow && !dtype.is_float() && b.to_vec::<i64>().iter().any(|&e| e < 0) {
        return Err(Error::Runtime(
            "Integers to negative integer powers are not allowed.".into(),
        ));
    }
    if dtype == DType::Bool {
        // bool + bool is logical or, bool * bool logical and: compute in uint8, then back.
        let r = forward(op, &a, &b, DType::U8)?;
        return Ok(r.to_dtype_raw(DType::Bool));
    }
    let out = crate::with_numeric_dtype!(
        dtype,
        T,
        Tensor::from_vec(arith_kernel::<T>(op, &a, &b, &shape), &shape),
        unreachable!()
    );
    Ok(out)
}

/// The gradient `g` summed to `shape` and cast to `dtype`, as an input of that shape needs it.
fn fit(g: Tensor, shape: &[usize], dtype: DType) -> Result<Tensor> {
    let g = g.sum_to(shape)?;
    Ok(if g.dtype() != dtype {
        g.to_dtype(dtype)
    } else {
        g
    })
}

/// `a op b` for tensors and/or Python numbers, with autograd.
pub fn binary(op: BinaryOp, a: &Operand, b: &Operand) -> Result<Tensor> {
    let (ts, ss): (Vec<&Tensor>, Vec<Scalar>) = {
        let mut ts = vec![];
        let mut ss = vec![];
        for o in [a, b] {
            match o {
                Operand::Tensor(t) => ts.push(t),
                Operand::Scalar(s) => ss.push(*s),
            }
        }
        (ts, ss)
    };
    let promoted = result_type(&ts, &ss);
    let dtype = compute_dtype(op, promoted)?;
    let as_tensor = |o: &Operand| match o {
        Operand::Tensor(t) => t.clone(),
        Operand::Scalar(s) => s.to_tensor(dtype),
    };
    let (ta, tb) = (as_tensor(a), as_tensor(b));
    let out = forward(op, &ta, &tb, dtype)?;
    if op.is_comparison() || op.is_bitwise() || !dtype.is_float() || !needs_grad(&[&ta, &tb]) {
        return Ok(out);
    }
    let (sa, da) = (ta.shape().to_vec(), ta.dtype());
    let (sb, db) = (tb.shape().to_vec(), tb.dtype());
    let reverse_scalar = matches!(a, Operand::Scalar(_));
    match op {
        Add => record("AddBackward0", &[&ta, &tb], &out, move |g, n| {
            Ok(vec![
                grad_if(n[0], || fit(g.clone(), &sa, da))?,
                grad_if(n[1], || fit(g.clone(), &sb, db))?,
            ])
        }),
        Sub => record(
            if reverse_scalar {
                "RsubBackward1"
            } else {
                "SubBackward0"
            },
            &[&ta, &tb],
            &out,
            move |g, n| {
                Ok(vec![
                    grad_if(n[0], || fit(g.clone(), &sa, da))?,
                    grad_if(n[1], || fit(g.neg()?, &sb, db))?,
                ])
            },
        ),
        Mul => {
            let (xa, xb) = (SavedTensor::new(&ta), SavedTensor::new(&tb));
            record("MulBackward0", &[&ta, &tb], &out, move |g, n| {
                Ok(vec![
                    grad_if(n[0], || fit(g.mul(&xb.unpack()?)?, &sa, da))?,
                    grad_if(n[1], || fit(g.mul(&xa.unpack()?)?, &sb, db))?,
                ])
            })
        }
        Div => {
            let (xa, xb) = (SavedTensor::new(&ta), SavedTensor::new(&tb));
            record("DivBackward0", &[&ta, &tb], &out, move |g, n| {
                let b = xb.unpack()?;
                Ok(vec![
                    grad_if(n[0], || fit(g.div(&b)?, &sa, da))?,
                    grad_if(n[1], || {
                        // d(a/b)/db = -a / b²
                        let a = xa.unpack()?;
                        fit(g.mul(&a)?.div(&b.mul(&b)?)?.neg()?, &sb, db)
                    })?,
                ])
            })
        }
        Pow => {
            let (xa, xb) = (SavedTensor::new(&ta), SavedTensor::new(&tb));
            let name = if matches!(b, Operand::Scalar(_)) {
                "PowBackward0"
            } else {
                "PowBackward1"
            };
            record(name, &[&ta, &tb], &out, move |g, n| {
                let (a, b) = (xa.unpack()?, xb.unpack()?);
                Ok(vec![
                    grad_if(n[0], || {
                        // b·a^(b-1), with the 0^0 case masked to 0 as PyTorch's pow_backward.
                        let d = b.mul(&a.pow(&b.sub_scalar(1.0)?)?)?;
                        let d = d.where_scalar(&b.eq_scalar(0.0)?, 0.0)?;
                        fit(g.mul(&d)?, &sa, da)
                    })?,
                    grad_if(n[1], || {
                        // a^b·ln(a), taken as 0 where a = 0 and b ≥ 0.
                        let d = a.pow(&b)?.mul(&a.log()?)?;
                        let zero_base = a.eq_scalar(0.0)?.logical_and(&b.ge_scalar(0.0)?)?;
                        let d = d.where_scalar(&zero_base, 0.0)?;
                        fit(g.mul(&d)?, &sb, db)
                    })?,
                ])
            })
        }
        Maximum | Minimum => {
            let (xa, xb) = (SavedTensor::new(&ta), SavedTensor::new(&tb));
            let name = if op == Maximum {
                "MaximumBackward0"
            } else {
                "MinimumBackward0"
            };
            record(name, &[&ta, &tb], &out, move |g, n| {
                // Ties split the gradient evenly, as PyTorch.
                let (a, b) = (xa.unpack()?, xb.unpack()?);
                let wins = if op == Maximum { a.gt(&b)? } else { a.lt(&b)? };
                let ties = a.eq(&b)?;
                let w_a = wins
                    .to_dtype(g.dtype())
                    .add(&ties.to_dtype(g.dtype()).mul_scalar(0.5)?)?;
                Ok(vec![
                    grad_if(n[0], || fit(g.mul(&w_a)?, &sa, da))?,
                    grad_if(n[1], || fit(g.mul(&w_a.rsub_scalar(1.0)?)?, &sb, db))?,
                ])
            })
        }
        Rem => {
            let (xa, xb) = (SavedTensor::new(&ta), SavedTensor::new(&tb));
            record("RemainderBackward0", &[&ta, &tb], &out, move |g, n| {
                Ok(vec![
                    grad_if(n[0], || fit(g.clone(), &sa, da))?,
                    grad_if(n[1], || {
                        let q = xa.unpack()?.floor_divide(&xb.unpack()?)?;
                        fit(g.mul(&q)?.neg()?, &sb, db)
                    })?,
                ])
            })
        }
        FloorDiv => record("FloorDivideBackward0", &[&ta, &tb], &out, move |g, n| {
            let z = g.mul_scalar(0.0)?;
            Ok(vec![
                grad_if(n[0], || fit(z.clone(), &sa, da))?,
                if n[1] { Some(fit(z, &sb, db)?) } else { None },
            ])
        }),
        _ => {}
    }
    Ok(out)
}

macro_rules! tensor_tensor_ops {
    ($($name:ident => $op:expr),* $(,)?) => {
        impl Tensor {
            $(pub fn $name(&self, other: &Tensor) -> Result<Tensor> {
                binary($op, &Operand::Tensor(self.clone()), &Operand::Tensor(other.clone()))
            })*
        }
    };
}
tensor_tensor_ops!(
    add => Add, sub => Sub, mul => Mul, div => Div, floor_divide => FloorDiv, remainder => Rem,
    pow => Pow, maximum => Maximum, minimum => Minimum, eq => Eq, ne => Ne, lt => Lt, le => Le,
    gt => Gt, ge => Ge, bitwise_and => BitAnd, bitwise_or => BitOr, bitwise_xor => BitXor,
);

macro_rules! tensor_scalar_ops {
    ($($name:ident => $op:expr),* $(,)?) => {
        impl Tensor {
            $(pub fn $name(&self, s: f64) -> Result<Tensor> {
                binary($op, &Operand::Tensor(self.clone()), &Operand::Scalar(Scalar::Float(s)))
            })*
        }
    };
}
tensor_scalar_ops!(
    add_scalar => Add, sub_scalar => Sub, mul_scalar => Mul, div_scalar => Div,
    pow_scalar => Pow, eq_scalar => Eq, gt_scalar => Gt, ge_scalar => Ge, lt_scalar => Lt,
    le_scalar => Le,
);

impl Tensor {
    /// `s - self`.
    pub fn rsub_scalar(&self, s: f64) -> Result<Tensor> {
        binary(
            Sub,
            &Operand::Scalar(Scalar::Float(s)),
            &Operand::Tensor(self.clone()),
        )
    }
    /// Logical and of two bool tensors (used by backward rules).
    pub fn logical_and(&self, other: &Tensor) -> Result<Tensor> {
        self.to_dtype_raw(DType::Bool)
            .bitwise_and(&other.to_dtype_raw(DType::Bool))
    }
    /// `to(dtype)` without recording history (kernel-internal casts).
    pub(crate) fn to_dtype_raw(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            self.clone()
        } else {
            self.cast_copy(dtype)
        }
    }
}
