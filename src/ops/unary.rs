//! Unary elementwise ops (math functions, activations, rounding, clamp) and their backward
//! rules. Float functions of integer tensors compute in float32, as PyTorch.

use super::binary::{binary_raw, BinaryOp};
use super::run;
use super::{result_type, Scalar};
use crate::autograd::{needs_grad, record, SavedTensor};
use crate::backend::op::Domain;
use crate::backend::Fused3;
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Element};
use crate::tensor::memory_format::result_order;
use crate::tensor::storage::Storage;
use crate::Tensor;
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, PI};
use std::sync::{Arc, OnceLock};

pub use crate::backend::UnaryOp;
use UnaryOp::*;

impl Tensor {
    /// `op` of each element with no history, in the tensor's own dtype.
    /// The result is laid out as the input (a transposed or channels-last input gives a
    /// result in its order, computed in memory order), as PyTorch's.
    pub(crate) fn map_raw(&self, op: UnaryOp) -> Result<Tensor> {
        if let Some(order) = result_order(self.shape(), &[self.layout()]) {
            let v = self.ordered(self.shape(), &order);
            let s = v.storage().unary(v.layout(), op)?;
            return Ok(Tensor::from_storage(s, v.shape()).unordered(&order));
        }
        let s = self.storage().unary(self.layout(), op)?;
        Ok(Tensor::from_storage(s, self.shape()))
    }

    /// `op` with its backward. Float-valued ops compute integer inputs in float32; the
    /// others keep the dtype.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        crate::ops::trace::traced(
            op.kernel(),
            &[self],
            || op.trace_attrs(),
            || {
                if let Clamp { lo, hi } = op {
                    let bound = |v: f64| v.is_finite().then_some(Scalar::Float(v));
                    return self.clamp(bound(lo), bound(hi));
                }
                if op.domain() == Domain::Numeric {
                    return self.same_type(op);
                }
                let x = self.to_dtype(self.dtype().to_float())?;
                let out = x.map_raw(op)?;
                if needs_grad(&[&x]) {
                    record_unary_backward(op, &x, &out, false);
                }
                Ok(out)
            },
        )
    }

    /// The in-place form of `op` (`relu_()`, `leaky_relu_()`, `sigmoid_()`, …). A float
    /// tensor that is neither a view nor strided is mapped in place; others go through a
    /// result written back. Where `op`'s backward reads only its result (relu, leaky relu,
    /// sigmoid, tanh, exp), as PyTorch's saves it, no copy of the original is kept for
    /// backward, and a later in-place change of the result makes backward raise, as in
    /// PyTorch; the other ops that need grad, and every op while tracing, go through
    /// [`Tensor::apply_inplace`]'s snapshot. As in PyTorch, the backward of an in-place leaky
    /// relu with a negative slope (which the result cannot undo) raises.
    pub fn unary_(&self, op: UnaryOp) -> Result<()> {
        let by_result = matches!(op, Relu | Sigmoid | Tanh | Exp | LeakyRelu { .. });
        let grad = needs_grad(&[self]);
        let float = self.dtype().is_float() && !matches!(op, Clamp { .. });
        if !float || (grad && !by_result) || crate::ops::trace::tracing() {
            return self.apply_inplace(&[], |x| x.unary(op));
        }
        self.check_no_internal_overlap()?;
        self.check_inplace()?;
        if !self.is_contiguous() || self.view_base().is_some() {
            let out = self.detach().map_raw(op)?;
            if grad {
                record_unary_backward(op, self, &out, true);
            }
            return self.assign_from(&out);
        }
        Storage::unary_(run(self), op)?;
        self.storage().bump_version();
        if grad {
            // The node's input edge is `self`'s history before the op, its output `self`.
            record_unary_backward(op, self, self, true);
        }
        Ok(())
    }
}

/// Records the backward of `out = op(x)`; `by_result` when `x` is about to be overwritten
/// with `out` (an in-place op whose rule reads only the result), so that `x` is not saved.
/// Rules that use the output read it through a saved tensor filled after the node exists,
/// so higher-order gradients see its history.
fn record_unary_backward(op: UnaryOp, x: &Tensor, out: &Tensor, by_result: bool) {
    let sx = (!by_result).then(|| SavedTensor::new(x));
    let input = move || match &sx {
        Some(sx) => sx.unpack(),
        None => Err(Error::Runtime(format!(
            "internal error: {op:?}'s in-place backward reads its input"
        ))),
    };
    let so: Arc<OnceLock<SavedTensor>> = Arc::new(OnceLock::new());
    let so2 = so.clone();
    let result = move || so2.get().expect("saved right after recording").unpack();
    let name = match op {
        Relu if by_result => "ReluBackward0",
        LeakyRelu { .. } if by_result => "LeakyReluBackward1",
        Exp => "ExpBackward0",
        Log => "LogBackward0",
        Log1p => "Log1PBackward0",
        Expm1 => "Expm1Backward0",
        Sqrt => "SqrtBackward0",
        Rsqrt => "RsqrtBackward0",
        Sin => "SinBackward0",
        Cos => "CosBackward0",
        Tan => "TanBackward0",
        Asin => "AsinBackward0",
        Acos => "AcosBackward0",
        Atan => "AtanBackward0",
        Sinh => "SinhBackward0",
        Cosh => "CoshBackward0",
        Asinh => "AsinhBackward0",
        Acosh => "AcoshBackward0",
        Atanh => "AtanhBackward0",
        Log2 => "Log2Backward0",
        Log10 => "Log10Backward0",
        Exp2 => "Exp2Backward0",
        Lgamma => "LgammaBackward0",
        Digamma => "DigammaBackward0",
        Polygamma { .. } => "PolygammaBackward0",
        Tanh => "TanhBackward0",
        Sigmoid => "SigmoidBackward0",
        Erf => "ErfBackward0",
        Reciprocal => "ReciprocalBackward0",
        Cube => "PowBackward0",
        Gelu | GeluTanh => "GeluBackward0",
        Silu => "SiluBackward0",
        Softplus { .. } => "SoftplusBackward0",
        LeakyRelu { .. } => "LeakyReluBackward0",
        Elu { .. } => "EluBackward0",
        // The dtype-keeping ops record their own rules (see `same_type`, `clamp_impl`).
        Neg | Abs | Sign | Floor | Ceil | Round | Trunc | Relu | Clamp { .. } => return,
    };
    record(name, &[x], out, move |g, _| {
        let d = match op {
            Exp => g.mul(&result()?)?,
            Log => g.div(&input()?)?,
            Log1p => g.div(&input()?.add_scalar(1.0)?)?,
            Expm1 => g.mul(&result()?.add_scalar(1.0)?)?,
            Sqrt => g.div(&result()?.mul_scalar(2.0)?)?,
            Rsqrt => {
                let r = result()?;
                g.mul(&r.mul(&r)?.mul(&r)?)?.mul_scalar(-0.5)?
            }
            Sin => g.mul(&input()?.unary(Cos)?)?,
            Cos => g.mul(&input()?.unary(Sin)?)?.neg()?,
            Tan => {
                let r = result()?;
                g.mul(&r.mul(&r)?.add_scalar(1.0)?)?
            }
            Asin | Acos => {
                let x = input()?;
                let d = g.mul(&x.mul(&x)?.rsub_scalar(1.0)?.unary(Rsqrt)?)?;
                if op == Acos {
                    d.neg()?
                } else {
                    d
                }
            }
            Atan => {
                let x = input()?;
                g.div(&x.mul(&x)?.add_scalar(1.0)?)?
            }
            Sinh => g.mul(&input()?.unary(Cosh)?)?,
            Cosh => g.mul(&input()?.unary(Sinh)?)?,
            Asinh => {
                let x = input()?;
                g.mul(&x.mul(&x)?.add_scalar(1.0)?.unary(Rsqrt)?)?
            }
            Acosh => {
                let x = input()?;
                g.mul(&x.mul(&x)?.sub_scalar(1.0)?.unary(Rsqrt)?)?
            }
            Atanh => {
                let x = input()?;
                g.div(&x.mul(&x)?.rsub_scalar(1.0)?)?
            }
            Log2 => g.div(&input()?.mul_scalar(std::f64::consts::LN_2)?)?,
            Log10 => g.div(&input()?.mul_scalar(std::f64::consts::LN_10)?)?,
            Exp2 => g.mul(&result()?.mul_scalar(std::f64::consts::LN_2)?)?,
            Lgamma => g.mul(&input()?.unary(Digamma)?)?,
            Digamma => g.mul(&input()?.unary(Polygamma { n: 1.0 })?)?,
            Polygamma { n } => g.mul(&input()?.unary(Polygamma { n: n + 1.0 })?)?,
            Tanh => {
                let r = result()?;
                g.mul(&r.mul(&r)?.rsub_scalar(1.0)?)?
            }
            Sigmoid => {
                let r = result()?;
                g.mul(&r.mul(&r.rsub_scalar(1.0)?)?)?
            }
            Erf => {
                let x = input()?;
                g.mul(&x.mul(&x)?.neg()?.unary(Exp)?.mul_scalar(FRAC_2_SQRT_PI)?)?
            }
            Reciprocal => {
                let r = result()?;
                g.mul(&r.mul(&r)?)?.neg()?
            }
            Cube => {
                let x = input()?;
                g.mul(&x.mul(&x)?.mul_scalar(3.0)?)?
            }
            // One pass, as PyTorch's `gelu_backward` and `silu_backward`; a recorded backward
            // (`create_graph=True`) takes the tensor-op forms below, which differentiate again.
            Gelu | GeluTanh | Silu
                if !crate::autograd::is_grad_enabled() && super::ternary::fuses(g.dtype()) =>
            {
                let x = input()?;
                let grad = match op {
                    Silu => Fused3::SiluBackward,
                    _ => Fused3::GeluBackward {
                        tanh: op == GeluTanh,
                    },
                };
                super::ternary::fused3(g, &x, &x, x.dtype(), grad)?
            }
            Gelu => {
                let x = input()?;
                let cdf = x
                    .mul_scalar(FRAC_1_SQRT_2)?
                    .unary(Erf)?
                    .add_scalar(1.0)?
                    .mul_scalar(0.5)?;
                let pdf = x
                    .mul(&x)?
                    .mul_scalar(-0.5)?
                    .unary(Exp)?
                    .mul_scalar(1.0 / (2.0 * PI).sqrt())?;
                g.mul(&cdf.add(&x.mul(&pdf)?)?)?
            }
            GeluTanh => {
                let x = input()?;
                let k = (2.0 / PI).sqrt();
                let x3 = x.mul(&x)?.mul(&x)?;
                let inner = x.add(&x3.mul_scalar(0.044715)?)?.mul_scalar(k)?;
                let t = inner.unary(Tanh)?;
                let dinner = x
                    .mul(&x)?
                    .mul_scalar(3.0 * 0.044715)?
                    .add_scalar(1.0)?
                    .mul_scalar(k)?;
                let left = t.add_scalar(1.0)?.mul_scalar(0.5)?;
                let right = x
                    .mul_scalar(0.5)?
                    .mul(&t.mul(&t)?.rsub_scalar(1.0)?)?
                    .mul(&dinner)?;
                g.mul(&left.add(&right)?)?
            }
            Silu => {
                let x = input()?;
                let s = x.unary(Sigmoid)?;
                g.mul(&s.mul(&x.mul(&s.rsub_scalar(1.0)?)?.add_scalar(1.0)?)?)?
            }
            Softplus { beta, threshold } => {
                let x = input()?;
                let bx = x.mul_scalar(beta)?;
                let d = bx.unary(Sigmoid)?;
                g.mul(&d.where_scalar(&bx.gt_scalar(threshold)?, 1.0)?)?
            }
            LeakyRelu { slope } if by_result && slope < 0.0 => {
                return Err(Error::Runtime(
                    "In-place leakyReLu backward calculation is triggered with a negative slope which is not supported. This is caused by calling in-place forward function with a negative slope, please call out-of-place version instead.".into(),
                ))
            }
            // With a slope ≥ 0 the result is positive where the input is.
            LeakyRelu { slope } => {
                let t = if by_result { result()? } else { input()? };
                g.where_(&t.gt_scalar(0.0)?, &g.mul_scalar(slope)?)?
            }
            Relu if by_result => g.threshold_backward(&result()?)?,
            Elu { alpha } => {
                let x = input()?;
                let neg = g.mul(&x.unary(Exp)?.mul_scalar(alpha)?)?;
                g.where_(&x.gt_scalar(0.0)?, &neg)?
            }
            Neg | Abs | Sign | Floor | Ceil | Round | Trunc | Relu | Clamp { .. } => {
                return Err(Error::Runtime(format!(
                    "internal error: {op:?} records its backward in `same_type`"
                )))
            }
        };
        Ok(vec![Some(d)])
    });
    let _ = so.set(SavedTensor::new(out));
}

macro_rules! float_unary_methods {
    ($($name:ident => $op:expr),* $(,)?) => {
        impl Tensor {
            $(pub fn $name(&self) -> Result<Tensor> { self.unary($op) })*
        }
    };
}
float_unary_methods!(
    exp => Exp, log => Log, log1p => Log1p, expm1 => Expm1, sqrt => Sqrt, rsqrt => Rsqrt,
    sin => Sin, cos => Cos, tan => Tan, asin => Asin, acos => Acos, atan => Atan, sinh => Sinh,
    cosh => Cosh, asinh => Asinh, acosh => Acosh, atanh => Atanh, log2 => Log2, log10 => Log10,
    exp2 => Exp2, lgamma => Lgamma, digamma => Digamma, tanh => Tanh, sigmoid => Sigmoid, erf => Erf, reciprocal => Reciprocal,
    silu => Silu,
);

impl Tensor {
    /// `polygamma(n, x)`: ψ⁽ⁿ⁾(x), the n-th derivative of the digamma function (n = 0 is
    /// `digamma`).
    pub fn polygamma(&self, n: i64) -> Result<Tensor> {
        match n {
            ..0 => Err(Error::Runtime(
                "polygamma(n, x) does not support negative n.".into(),
            )),
            0 => self.unary(Digamma),
            n => self.unary(Polygamma { n: n as f64 }),
        }
    }

    /// An op that keeps the dtype (negation, absolute value, sign, rounding, relu), with
    /// its backward.
    fn same_type(&self, op: UnaryOp) -> Result<Tensor> {
        crate::ops::trace::traced(op.kernel(), &[self], Vec::new, || {
            if self.dtype() == DType::Bool {
                return match op {
                    Neg => Err(Error::Runtime(
                        "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.".into(),
                    )),
                    Sign => self
                        .to_dtype_raw(DType::U8)?
                        .same_type(op)?
                        .to_dtype_raw(DType::Bool),
                    Relu => Err(Error::Runtime(
                        "Boolean inputs not supported for relu".into(),
                    )),
                    // PyTorch has no bool kernel for these (its CPU names are the vml ones).
                    Abs | Floor | Ceil | Round | Trunc => {
                        let vml = op != Abs && matches!(self.device(), crate::Device::Cpu);
                        let kernel = format!("{}{}", op.kernel(), if vml { "_vml" } else { "" });
                        Err(Error::NotImplemented(format!(
                            "\"{kernel}_{}\" not implemented for 'Bool'",
                            self.device().kind()
                        )))
                    }
                    _ => self.contiguous_copy(),
                };
            }
            let out = self.map_raw(op)?;
            if needs_grad(&[self]) {
                let sx = SavedTensor::new(self);
                let name = match op {
                    Neg => "NegBackward0",
                    Abs => "AbsBackward0",
                    Sign => "SignBackward0",
                    Floor => "FloorBackward0",
                    Ceil => "CeilBackward0",
                    Round => "RoundBackward0",
                    Trunc => "TruncBackward0",
                    _ => "ReluBackward0",
                };
                record(name, &[self], &out, move |g, _| {
                    Ok(vec![Some(match op {
                        Neg => g.neg()?,
                        Abs => g.mul(&sx.unpack()?.sign()?)?,
                        // relu passes no gradient at 0 (a `max(x, 0)` rule would pass half).
                        Relu => g.threshold_backward(&sx.unpack()?)?,
                        // Zeros, not `g·0`: an infinite or NaN gradient passes nothing, as
                        // PyTorch's (lp-pooling's `sign(a)·relu(|a|)` at a zero window).
                        _ => crate::ops::creation::zeros_like(g)?,
                    })])
                });
            }
            Ok(out)
        })
    }

    /// `g` where `x > 0`, else 0: relu's gradient in one pass. Differentiable in `g`.
    pub fn threshold_backward(&self, x: &Tensor) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            return Err(Error::Runtime(
                "threshold_backward: bool gradients are not supported".into(),
            ));
        }
        let out = binary_raw(BinaryOp::ThresholdBackward, self, x, self.dtype())?;
        if needs_grad(&[self]) {
            let x = x.detach();
            record("ThresholdBackwardBackward0", &[self], &out, move |gg, _| {
                Ok(vec![Some(gg.threshold_backward(&x)?)])
            });
        }
        Ok(out)
    }

    pub fn neg(&self) -> Result<Tensor> {
        self.same_type(Neg)
    }
    pub fn abs(&self) -> Result<Tensor> {
        self.same_type(Abs)
    }
    pub fn sign(&self) -> Result<Tensor> {
        self.same_type(Sign)
    }
    pub fn floor(&self) -> Result<Tensor> {
        self.same_type(Floor)
    }
    pub fn ceil(&self) -> Result<Tensor> {
        self.same_type(Ceil)
    }
    pub fn trunc(&self) -> Result<Tensor> {
        self.same_type(Trunc)
    }
    pub fn relu(&self) -> Result<Tensor> {
        self.same_type(Relu)
    }
    /// `round(decimals=0)`: half to even, as PyTorch.
    pub fn round(&self, decimals: i64) -> Result<Tensor> {
        if decimals == 0 {
            return self.same_type(Round);
        }
        let k = 10f64.powi(decimals as i32);
        self.mul_scalar(k)?.same_type(Round)?.div_scalar(k)
    }

    pub fn gelu(&self, approximate_tanh: bool) -> Result<Tensor> {
        self.unary(if approximate_tanh { GeluTanh } else { Gelu })
    }
    pub fn softplus(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        self.unary(Softplus { beta, threshold })
    }
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        self.unary(LeakyRelu { slope })
    }
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        self.unary(Elu { alpha })
    }

    /// `isnan()`: `x != x`, false for integers.
    pub fn isnan(&self) -> Result<Tensor> {
        binary_raw(BinaryOp::Ne, self, self, self.dtype())
    }
    /// `isinf()`: `|x| == ∞`.
    pub fn isinf(&self) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return binary_raw(BinaryOp::Ne, self, self, self.dtype());
        }
        let inf = Scalar::Float(f64::INFINITY).to_tensor(self.dtype());
        binary_raw(BinaryOp::Eq, &self.map_raw(Abs)?, &inf, self.dtype())
    }
    /// `isfinite()`: `x - x == 0`, which fails for ±∞ and NaN alone.
    pub fn isfinite(&self) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return binary_raw(BinaryOp::Eq, self, self, self.dtype());
        }
        let zero = binary_raw(BinaryOp::Sub, self, self, self.dtype())?;
        binary_raw(
            BinaryOp::Eq,
            &zero,
            &Scalar::Int(0).to_tensor(self.dtype()),
            self.dtype(),
        )
    }

    /// `~x`: logical not for bool, bitwise not for integers (an xor with all bits set).
    pub fn bitwise_not(&self) -> Result<Tensor> {
        let ones = match self.dtype() {
            DType::Bool => Scalar::Bool(true),
            d if d.is_float() => {
                return Err(Error::Runtime(format!(
                    "\"bitwise_not_{}\" not implemented for '{}'",
                    self.device().kind(),
                    d.scalar_name()
                )))
            }
            _ => Scalar::Int(-1),
        };
        crate::ops::trace::traced("bitwise_not", &[self], Vec::new, || {
            binary_raw(
                BinaryOp::BitXor,
                self,
                &ones.to_tensor(self.dtype()),
                self.dtype(),
            )
        })
    }

    /// `clamp(min, max)` with number bounds; `hardtanh` is the same with an open-interval
    /// gradient.
    pub fn clamp(&self, min: Option<Scalar>, max: Option<Scalar>) -> Result<Tensor> {
        self.clamp_impl(min, max, "ClampBackward1", true)
    }
    pub fn hardtanh(&self, min: f64, max: f64) -> Result<Tensor> {
        self.clamp_impl(
            Some(Scalar::Float(min)),
            Some(Scalar::Float(max)),
            "HardtanhBackward0",
            false,
        )
    }

    fn clamp_impl(
        &self,
        min: Option<Scalar>,
        max: Option<Scalar>,
        name: &'static str,
        closed: bool,
    ) -> Result<Tensor> {
        if min.is_none() && max.is_none() {
            return Err(Error::Runtime(
                "torch.clamp: At least one of 'min' or 'max' must not be None".into(),
            ));
        }
        let scalars: Vec<Scalar> = min.iter().chain(max.iter()).copied().collect();
        let dtype = result_type(&[self], &scalars);
        if dtype == DType::Bool {
            return Err(Error::Runtime(format!(
                "\"clamp_{}\" not implemented for 'Bool'",
                self.device().kind()
            )));
        }
        let x = self.to_dtype(dtype)?;
        // An integer bound is first converted to an integer dtype as PyTorch's: checked
        // (int8 at 300 raises), and wrapping where that allows it (uint8 at -1 is 255).
        let bound = |s: Scalar| -> Result<f64> {
            match s {
                Scalar::Int(_) if !dtype.is_float() => {
                    s.check_fits(dtype)?;
                    Ok(crate::with_dtype!(dtype, T, s.to_elem::<T>().to_f64()))
                }
                _ => Ok(s.to_f64()),
            }
        };
        let lo = min.map(bound).transpose()?;
        let hi = max.map(bound).transpose()?;
        let out = x.map_raw(Clamp {
            lo: lo.unwrap_or(f64::NEG_INFINITY),
            hi: hi.unwrap_or(f64::INFINITY),
        })?;
        if needs_grad(&[&x]) {
            let sx = SavedTensor::new(&x);
            record(name, &[&x], &out, move |g, _| {
                let x = sx.unpack()?;
                let mut keep = crate::ops::creation::ones(x.shape(), DType::Bool, x.device())?;
                if let Some(l) = lo {
                    keep = keep.logical_and(&if closed {
                        x.ge_scalar(l)?
                    } else {
                        x.gt_scalar(l)?
                    })?;
                }
                if let Some(h) = hi {
                    keep = keep.logical_and(&if closed {
                        x.le_scalar(h)?
                    } else {
                        x.lt_scalar(h)?
                    })?;
                }
                Ok(vec![Some(g.mul(&keep.to_dtype(g.dtype())?)?)])
            });
        }
        Ok(out)
    }

    /// `clamp(min, max)` with tensor bounds (broadcast): `minimum(maximum(x, min), max)`,
    /// with the gradient of each `where` it is built from.
    pub fn clamp_tensor(&self, min: Option<&Tensor>, max: Option<&Tensor>) -> Result<Tensor> {
        if min.is_none() && max.is_none() {
            return Err(Error::Runtime(
                "torch.clamp: At least one of 'min' or 'max' must not be None".into(),
            ));
        }
        let mut out = self.clone();
        if let Some(lo) = min {
            out = out.maximum(lo)?;
        }
        if let Some(hi) = max {
            out = out.minimum(hi)?;
        }
        Ok(out)
    }
}

impl UnaryOp {
    /// The parameters a trace records with the op (its kernel name says the rest).
    fn trace_attrs(self) -> Vec<(&'static str, crate::ops::trace::Attr)> {
        use crate::ops::trace::Attr::Float;
        match self {
            LeakyRelu { slope } => vec![("slope", Float(slope))],
            Elu { alpha } => vec![("alpha", Float(alpha))],
            Softplus { beta, threshold } => {
                vec![("beta", Float(beta)), ("threshold", Float(threshold))]
            }
            Clamp { lo, hi } => vec![("min", Float(lo)), ("max", Float(hi))],
            _ => Vec::new(),
        }
    }
}
