//! Binary elementwise ops with broadcasting and PyTorch's type promotion, and their
//! backward rules (gradients summed back to each input's shape).

use super::{result_type, Operand, Scalar};
use crate::autograd::{grad_if, needs_grad, record, SavedTensor};
use crate::backend::op::BinaryKind;
use crate::backend::Fused3;
use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::layout::broadcast_shapes;
use crate::tensor::memory_format::result_order;
use crate::tensor::storage::Storage;
use crate::Tensor;

pub use crate::backend::BinaryOp;
use BinaryOp::*;

/// The dtype `op` computes in, or PyTorch's error for a dtype it does not take.
fn compute_dtype(op: BinaryOp, promoted: DType, device: Device) -> Result<DType> {
    match op {
        Div | Atan2 => Ok(promoted.to_float()),
        BitAnd | BitOr | BitXor if promoted.is_float() => Err(Error::Runtime(format!(
            "\"{}_{}\" not implemented for '{}'",
            op.kernel(),
            device.kind(),
            promoted.scalar_name()
        ))),
        Pow if promoted == DType::Bool => Err(Error::NotImplemented(
            "\"pow\" not implemented for 'Bool'".into(),
        )),
        FloorDiv | Rem | Fmod if promoted == DType::Bool => {
            // PyTorch's kernel names: `div_floor_cpu`, `remainder_cpu`, `fmod_cpu`.
            let kernel = match op {
                FloorDiv => format!("div_floor_{}", device.kind()),
                _ => format!("{}_{}", op.kernel(), device.kind()),
            };
            Err(Error::NotImplemented(format!(
                "\"{kernel}\" not implemented for 'Bool'"
            )))
        }
        _ => Ok(promoted),
    }
}

/// PyTorch's `sub_check`: no subtraction with a bool operand (a tensor or a Python bool).
fn check_sub(op: BinaryOp, a: &Operand, b: &Operand) -> Result<()> {
    let is_bool = |o: &Operand| match o {
        Operand::Tensor(t) => t.dtype() == DType::Bool,
        Operand::Scalar(s) => matches!(s, Scalar::Bool(_)),
    };
    if op != Sub {
        return Ok(());
    }
    match (is_bool(a), is_bool(b)) {
        (true, true) => Err(Error::Runtime(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.".into(),
        )),
        (true, _) | (_, true) => Err(Error::Runtime(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.".into(),
        )),
        _ => Ok(()),
    }
}

/// Runs `op` on `a`, `b` cast to `dtype`, broadcast together; no autograd.
/// The result is laid out after its operands, as PyTorch's TensorIterator lays it out (see
/// [`result_order`]): a channels-last or transposed operand gives a result in its order.
pub(crate) fn binary_raw(op: BinaryOp, a: &Tensor, b: &Tensor, dtype: DType) -> Result<Tensor> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    if let Some(order) = result_order(&shape, &[a.layout(), b.layout()]) {
        let (a, b) = (a.ordered(&shape, &order), b.ordered(&shape, &order));
        return Ok(binary_in_order(op, &a, &b, dtype)?.unordered(&order));
    }
    binary_in_order(op, a, b, dtype)
}

/// Whether the right operand `b` of `op` in the 16-bit float `dtype` keeps its own value:
/// PyTorch's CPU add, sub, mul and div take a one-element right operand (a number, a 0-d
/// tensor) at its value in float32, the type they compute 16-bit floats in, instead of
/// rounding it to 16 bits first (`x.half() * 0.7` multiplies by 0.7f, not by 0.69971).
/// Such an operand stays on the host, where the backends read it as a number.
fn keeps_own_value(op: BinaryOp, b: &Tensor, dtype: DType) -> bool {
    dtype.is_half()
        && matches!(op, Add | Sub | Mul | Div)
        && b.numel() == 1
        && matches!(b.dtype(), DType::F32 | DType::F64)
        && b.device() == Device::Cpu
}

/// [`binary_raw`] with a row-major result.
fn binary_in_order(op: BinaryOp, a: &Tensor, b: &Tensor, dtype: DType) -> Result<Tensor> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    // Operands already in `dtype` are used as they are (no handle clones on the hot path).
    let (ca, cb);
    let a = if a.dtype() == dtype {
        a
    } else {
        ca = a.cast_copy(dtype)?;
        &ca
    };
    let b = if b.dtype() == dtype || keeps_own_value(op, b, dtype) {
        b
    } else {
        cb = b.cast_copy(dtype)?;
        &cb
    };
    if dtype == DType::Bool && op.kind() == BinaryKind::Arith {
        // bool + bool is logical or, bool * bool logical and: compute in uint8, then back.
        return binary_in_order(op, a, b, DType::U8)?.to_dtype_raw(DType::Bool);
    }
    let s = Storage::binary(
        (a.storage(), a.layout()),
        (b.storage(), b.layout()),
        dtype,
        &shape,
        op,
    )?;
    Ok(Tensor::from_storage(s, shape))
}

/// The gradient `g` summed to `shape` and cast to `dtype`, as an input of that shape needs it.
fn fit(g: Tensor, shape: &[usize], dtype: DType) -> Result<Tensor> {
    g.sum_to(shape)?.to_dtype(dtype)
}

/// The tensor operands of a binary op (or `where`'s values), for a trace.
pub(crate) fn operand_tensors<'a>(a: &'a Operand, b: &'a Operand) -> Vec<&'a Tensor> {
    [a, b]
        .into_iter()
        .filter_map(|o| match o {
            Operand::Tensor(t) => Some(t),
            Operand::Scalar(_) => None,
        })
        .collect()
}

/// The number operands of a binary op (or `where`'s values) as `a`/`b`, for a trace.
pub(crate) fn operand_attrs(
    a: &Operand,
    b: &Operand,
) -> Vec<(&'static str, crate::ops::trace::Attr)> {
    [("a", a), ("b", b)]
        .into_iter()
        .filter_map(|(name, o)| match o {
            Operand::Scalar(s) => Some((name, crate::ops::trace::Attr::from(*s))),
            Operand::Tensor(_) => None,
        })
        .collect()
}

/// `x ** e` for a number exponent that PyTorch's float32/float64 kernels (CPU and CUDA)
/// compute without `pow`, computed as they do: 2 and 3 as `x·x` and `x·x·x` (the cube in one
/// pass: as a square and a product it took three times PyTorch's time), −2 as `1/(x·x)`,
/// 0.5, −0.5 and −1 as `sqrt`, `rsqrt` and `reciprocal` (the same bits, and no `pow` call
/// per element: `x ** 2` took 4 ns an element). None for other exponents.
fn pow_by_arithmetic(x: &Tensor, e: f64, dtype: DType) -> Result<Option<Tensor>> {
    use crate::backend::UnaryOp::{Cube, Reciprocal, Rsqrt, Sqrt};
    let x = x.to_dtype(dtype)?;
    let square = || binary_raw(Mul, &x, &x, dtype);
    Ok(Some(match e {
        2.0 => square()?,
        3.0 => x.map_raw(Cube)?,
        -2.0 => binary_raw(Div, &Scalar::Float(1.0).to_tensor(dtype), &square()?, dtype)?,
        0.5 => x.map_raw(Sqrt)?,
        -0.5 => x.map_raw(Rsqrt)?,
        -1.0 => x.map_raw(Reciprocal)?,
        _ => return Ok(None),
    }))
}

/// `a op b` for tensors and/or Python numbers, with autograd.
pub fn binary(op: BinaryOp, a: &Operand, b: &Operand) -> Result<Tensor> {
    crate::ops::trace::traced(
        op.kernel(),
        &operand_tensors(a, b),
        || operand_attrs(a, b),
        || {
            use Operand::{Scalar as S, Tensor as T};
            // Promotion over the tensors and the numbers, without allocating (this is the hot path
            // of every small op).
            let (promoted, device) = match (a, b) {
                (T(x), T(y)) => (
                    result_type(&[x, y], &[]),
                    if x.device().is_cuda() {
                        x.device()
                    } else {
                        y.device()
                    },
                ),
                (T(x), S(s)) | (S(s), T(x)) => (result_type(&[x], &[*s]), x.device()),
                (S(s), S(t)) => (result_type(&[], &[*s, *t]), Device::Cpu),
            };
            check_sub(op, a, b)?;
            // PyTorch's pow with a number exponent of 0 or 1 is a fill or a copy, for bools too.
            let trivial_pow = op == Pow && matches!(b, S(s) if matches!(s.to_f64(), 0.0 | 1.0));
            let dtype = if trivial_pow {
                promoted
            } else {
                compute_dtype(op, promoted, device)?
            };
            if op == Pow && !dtype.is_float() && matches!(b, S(Scalar::Int(e)) if *e < 0) {
                // PyTorch refuses a negative number as an integer exponent (a tensor of them gives
                // 0, 1 or -1 per element).
                return Err(Error::Runtime(
                    "Integers to negative integer powers are not allowed.".into(),
                ));
            }
            // A number beside 16-bit floats is kept in float32 (see `keeps_own_value`).
            let number = if dtype.is_half() { DType::F32 } else { dtype };
            let as_tensor = |o: &Operand| match o {
                Operand::Tensor(t) => t.clone(),
                Operand::Scalar(s) => s.to_tensor(number),
            };
            let (ta, tb) = (as_tensor(a), as_tensor(b));
            let out = match (op, b) {
                (Pow, S(e)) if matches!(dtype, DType::F32 | DType::F64) => {
                    pow_by_arithmetic(&ta, e.to_f64(), dtype)?
                }
                _ => None,
            };
            let out = match out {
                Some(out) => out,
                None => binary_raw(op, &ta, &tb, dtype)?,
            };
            if op.kind() != BinaryKind::Arith || !dtype.is_float() || !needs_grad(&[&ta, &tb]) {
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
                    let number = match b {
                        Operand::Scalar(e) => Some(e.to_f64()),
                        Operand::Tensor(_) => None,
                    };
                    record(name, &[&ta, &tb], &out, move |g, n| {
                        let (a, b) = (xa.unpack()?, xb.unpack()?);
                        Ok(vec![
                            grad_if(n[0], || {
                                let d = match number {
                                    // PyTorch's pow_backward for a number exponent: zeros for
                                    // 0, else e·a^(e−1) with a^(e−1) itself a number power
                                    // (so x ** 0.5 differentiates through rsqrt, as PyTorch's).
                                    Some(0.0) => {
                                        super::creation::zeros(a.shape(), a.dtype(), a.device())?
                                    }
                                    Some(e) => a.pow_scalar(e - 1.0)?.mul_scalar(e)?,
                                    // b·a^(b-1), with the 0^0 case masked to 0.
                                    None => {
                                        let d = b.mul(&a.pow(&b.sub_scalar(1.0)?)?)?;
                                        d.where_scalar(&b.eq_scalar(0.0)?, 0.0)?
                                    }
                                };
                                fit(g.mul(&d)?, &sa, da)
                            })?,
                            grad_if(n[1], || {
                                // a^b·ln(a), taken as 0 where a = 0 and b ≥ 0.
                                let d = a.pow(&b)?.mul(&a.log()?)?;
                                let zero_base =
                                    a.eq_scalar(0.0)?.logical_and(&b.ge_scalar(0.0)?)?;
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
                            .to_dtype(g.dtype())?
                            .add(&ties.to_dtype(g.dtype())?.mul_scalar(0.5)?)?;
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
                Fmod => {
                    let (xa, xb) = (SavedTensor::new(&ta), SavedTensor::new(&tb));
                    record("FmodBackward0", &[&ta, &tb], &out, move |g, n| {
                        Ok(vec![
                            grad_if(n[0], || fit(g.clone(), &sa, da))?,
                            grad_if(n[1], || {
                                let q = xa.unpack()?.div(&xb.unpack()?)?.trunc()?;
                                fit(g.mul(&q)?.neg()?, &sb, db)
                            })?,
                        ])
                    })
                }
                Atan2 => {
                    let (xa, xb) = (SavedTensor::new(&ta), SavedTensor::new(&tb));
                    record("Atan2Backward0", &[&ta, &tb], &out, move |g, n| {
                        // d atan2(a, b) = (b·da − a·db) / (a² + b²)
                        let (a, b) = (xa.unpack()?, xb.unpack()?);
                        let r = a.mul(&a)?.add(&b.mul(&b)?)?;
                        Ok(vec![
                            grad_if(n[0], || fit(g.mul(&b)?.div(&r)?, &sa, da))?,
                            grad_if(n[1], || fit(g.mul(&a)?.div(&r)?.neg()?, &sb, db))?,
                        ])
                    })
                }
                FloorDiv => record("FloorDivideBackward0", &[&ta, &tb], &out, move |g, n| {
                    let z = crate::ops::creation::zeros_like(g)?;
                    Ok(vec![
                        grad_if(n[0], || fit(z.clone(), &sa, da))?,
                        if n[1] { Some(fit(z, &sb, db)?) } else { None },
                    ])
                }),
                _ => {}
            }
            Ok(out)
        },
    )
}

/// `add`/`sub` with `alpha`: `a op alpha·b`, as PyTorch's `add(other, alpha=)`.
pub fn binary_alpha(
    op: BinaryOp,
    a: &Operand,
    b: &Operand,
    alpha: Option<Scalar>,
) -> Result<Tensor> {
    check_sub(op, a, b)?;
    if let (Some(al), Operand::Tensor(x)) = (alpha, a) {
        let mut ts = vec![x];
        let mut ss = vec![];
        match b {
            Operand::Tensor(t) => ts.push(t),
            Operand::Scalar(s) => ss.push(*s),
        }
        let dtype = result_type(&ts, &ss);
        if al.to_f64() != 1.0 && super::ternary::fuses(dtype) {
            return add_scaled_fused(op, x, b, al, dtype);
        }
    }
    let b = match (alpha, b) {
        (None, _) => b.clone(),
        (Some(al), _) if al.to_f64() == 1.0 => b.clone(),
        (Some(al), Operand::Tensor(t)) => Operand::Tensor(binary(
            Mul,
            &Operand::Tensor(t.clone()),
            &Operand::Scalar(al),
        )?),
        (Some(al), Operand::Scalar(s)) => Operand::Scalar(match (*s, al) {
            (Scalar::Int(x), Scalar::Int(y)) => Scalar::Int(x.wrapping_mul(y)),
            _ => Scalar::Float(s.to_f64() * al.to_f64()),
        }),
    };
    binary(op, a, &b)
}

/// `a ± alpha·b` for a float result as PyTorch's kernels round it: one fused multiply-add,
/// `alpha` rounded to the result's type (16-bit ones too; their sum runs in float32).
fn add_scaled_fused(
    op: BinaryOp,
    x: &Tensor,
    b: &Operand,
    alpha: Scalar,
    dtype: DType,
) -> Result<Tensor> {
    let al = dtype.round(if op == Sub {
        -alpha.to_f64()
    } else {
        alpha.to_f64()
    });
    let y = match b {
        Operand::Tensor(t) => t.clone(),
        Operand::Scalar(s) => s.to_tensor(dtype),
    };
    let out = super::ternary::fused3(x, &y, &y, dtype, Fused3::AddScaled(al))?;
    if needs_grad(&[x, &y]) {
        let (sa, sb) = (x.shape().to_vec(), y.shape().to_vec());
        let name = if op == Sub {
            "SubBackward0"
        } else {
            "AddBackward0"
        };
        record(name, &[x, &y], &out, move |g, n| {
            Ok(vec![
                grad_if(n[0], || g.sum_to(&sa))?,
                grad_if(n[1], || g.mul_scalar(al)?.sum_to(&sb))?,
            ])
        });
    }
    Ok(out)
}

/// `div(a, b, rounding_mode)`: true division (`None`), or the quotient rounded toward zero
/// (`"trunc"`) or down (`"floor"`) in the promoted dtype.
pub fn div_rounded(a: &Operand, b: &Operand, rounding_mode: Option<&str>) -> Result<Tensor> {
    match rounding_mode {
        None => binary(Div, a, b),
        Some("floor") => binary(FloorDiv, a, b),
        Some("trunc") => {
            let (mut ts, mut ss) = (vec![], vec![]);
            for o in [a, b] {
                match o {
                    Operand::Tensor(t) => ts.push(t),
                    Operand::Scalar(s) => ss.push(*s),
                }
            }
            let dtype = result_type(&ts, &ss);
            binary(Div, a, b)?.trunc()?.to_dtype(dtype)
        }
        Some(m) => Err(Error::Value(format!(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{m}'"
        ))),
    }
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
    add => Add, sub => Sub, mul => Mul, div => Div, floor_divide => FloorDiv, remainder => Rem, fmod => Fmod, atan2 => Atan2,
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
    pow_scalar => Pow, eq_scalar => Eq, ne_scalar => Ne, gt_scalar => Gt, ge_scalar => Ge, lt_scalar => Lt,
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
    /// `to(dtype)` without recording history (kernel-internal casts).
    pub(crate) fn to_dtype_raw(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype() == dtype {
            Ok(self.clone())
        } else {
            self.cast_copy(dtype)
        }
    }
}

impl Tensor {
    /// Whether each element is nonzero (true for bool `true`), as a bool tensor.
    fn truthy(&self) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            return Ok(self.clone());
        }
        binary_raw(
            Ne,
            self,
            &Scalar::Int(0).to_tensor(self.dtype()),
            self.dtype(),
        )
    }
    /// `logical_and`: both nonzero, a bool tensor.
    pub fn logical_and(&self, other: &Tensor) -> Result<Tensor> {
        binary_raw(BitAnd, &self.truthy()?, &other.truthy()?, DType::Bool)
    }
    /// `logical_or`: either nonzero.
    pub fn logical_or(&self, other: &Tensor) -> Result<Tensor> {
        binary_raw(BitOr, &self.truthy()?, &other.truthy()?, DType::Bool)
    }
    /// `logical_xor`: exactly one nonzero.
    pub fn logical_xor(&self, other: &Tensor) -> Result<Tensor> {
        binary_raw(BitXor, &self.truthy()?, &other.truthy()?, DType::Bool)
    }
    /// `isclose(other, rtol, atol, equal_nan)`: `|a − b| ≤ atol + rtol·|b|` elementwise, as
    /// PyTorch's: equal values (infinities included) are close, NaNs only with `equal_nan`,
    /// and a non-finite difference is not. Both operands must have one dtype.
    pub fn isclose(&self, other: &Tensor, rtol: f64, atol: f64, equal_nan: bool) -> Result<Tensor> {
        if self.dtype() != other.dtype() {
            return Err(Error::Runtime(format!(
                "{} did not match {}",
                self.dtype().scalar_name(),
                other.dtype().scalar_name()
            )));
        }
        if rtol < 0.0 || atol < 0.0 {
            let (name, v) = if rtol < 0.0 {
                ("rtol", rtol)
            } else {
                ("atol", atol)
            };
            return Err(Error::Value(format!(
                "{name} must be greater than or equal to zero, but got {v}"
            )));
        }
        let (a, b) = (self.detach(), other.detach());
        let mut close = a.eq(&b)?;
        if equal_nan && a.dtype().is_float() {
            close = close.logical_or(&a.isnan()?.logical_and(&b.isnan()?)?)?;
        }
        if a.dtype() == DType::Bool {
            return Ok(close);
        }
        let (a, b) = if a.dtype().is_float() {
            (a, b)
        } else {
            (
                a.to_dtype(DType::default_float())?,
                b.to_dtype(DType::default_float())?,
            )
        };
        let err = a.sub(&b)?.abs()?;
        let allowed = b.abs()?.mul_scalar(rtol)?.add_scalar(atol)?;
        close.logical_or(&err.isfinite()?.logical_and(&err.le(&allowed)?)?)
    }

    /// `logical_not`: zero elements.
    pub fn logical_not(&self) -> Result<Tensor> {
        crate::ops::trace::traced("logical_not", &[self], Vec::new, || {
            binary_raw(BitXor, &self.truthy()?, &Tensor::scalar(true), DType::Bool)
        })
    }
}
