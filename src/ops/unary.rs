//! Unary elementwise ops (math functions, activations, rounding, clamp) and their backward
//! rules. Float functions of integer tensors compute in float32, as PyTorch.

use super::{result_type, Scalar};
use crate::autograd::{needs_grad, record, SavedTensor};
use crate::cpu::elementwise::{map, Float, Num};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Element};
use crate::Tensor;
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, PI};
use std::sync::{Arc, OnceLock};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Exp,
    Log,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Erf,
    Reciprocal,
    Gelu { tanh: bool },
    Silu,
    Softplus { beta: f64, threshold: f64 },
    LeakyRelu { slope: f64 },
    Elu { alpha: f64 },
}

use UnaryOp::*;

fn float_kernel<T: Float>(op: UnaryOp, x: &[T], l: &crate::tensor::layout::Layout) -> Vec<T> {
    let one = T::one();
    let half = T::lit(0.5);
    match op {
        Exp => map(x, l, |v: T| v.exp()),
        Log => map(x, l, |v: T| v.ln()),
        Log1p => map(x, l, |v: T| v.ln_1p()),
        Expm1 => map(x, l, |v: T| v.exp_m1()),
        Sqrt => map(x, l, |v: T| v.sqrt()),
        Rsqrt => map(x, l, |v: T| one.div(v.sqrt())),
        Sin => map(x, l, |v: T| v.sin()),
        Cos => map(x, l, |v: T| v.cos()),
        Tanh => map(x, l, |v: T| v.tanh()),
        Sigmoid => map(x, l, |v: T| one.div(one.add(v.neg().exp()))),
        Erf => map(x, l, |v: T| v.erf()),
        Reciprocal => map(x, l, |v: T| one.div(v)),
        Gelu { tanh: false } => {
            let k = T::lit(FRAC_1_SQRT_2);
            map(x, l, move |v: T| half.mul(v).mul(one.add(v.mul(k).erf())))
        }
        Gelu { tanh: true } => {
            let (k, c) = (T::lit((2.0 / PI).sqrt()), T::lit(0.044715));
            map(x, l, move |v: T| {
                half.mul(v)
                    .mul(one.add(k.mul(v.add(c.mul(v).mul(v).mul(v))).tanh()))
            })
        }
        Silu => map(x, l, |v: T| v.div(one.add(v.neg().exp()))),
        Softplus { beta, threshold } => {
            let (b, t) = (T::lit(beta), T::lit(threshold));
            map(x, l, move |v: T| {
                if v.mul(b) > t {
                    v
                } else {
                    v.mul(b).exp().ln_1p().div(b)
                }
            })
        }
        LeakyRelu { slope } => {
            let s = T::lit(slope);
            map(x, l, move |v: T| if v > T::zero() { v } else { v.mul(s) })
        }
        Elu { alpha } => {
            let a = T::lit(alpha);
            map(
                x,
                l,
                move |v: T| if v > T::zero() { v } else { a.mul(v.exp_m1()) },
            )
        }
    }
}

impl Tensor {
    /// A float unary op with its backward.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let x = self.to_dtype(self.dtype().to_float());
        let out = crate::with_float_dtype!(
            x.dtype(),
            T,
            Tensor::from_vec(
                float_kernel::<T>(op, x.storage().as_slice::<T>(), x.layout()),
                x.shape()
            ),
            unreachable!()
        );
        if needs_grad(&[&x]) {
            record_unary_backward(op, &x, &out);
        }
        Ok(out)
    }
}

/// Records the backward of `out = op(x)`. Rules that use the output read it through a saved
/// tensor filled after the node exists, so higher-order gradients see its history.
fn record_unary_backward(op: UnaryOp, x: &Tensor, out: &Tensor) {
    let sx = SavedTensor::new(x);
    let so: Arc<OnceLock<SavedTensor>> = Arc::new(OnceLock::new());
    let so2 = so.clone();
    let result = move || so2.get().expect("saved right after recording").unpack();
    let name = match op {
        Exp => "ExpBackward0",
        Log => "LogBackward0",
        Log1p => "Log1PBackward0",
        Expm1 => "Expm1Backward0",
        Sqrt => "SqrtBackward0",
        Rsqrt => "RsqrtBackward0",
        Sin => "SinBackward0",
        Cos => "CosBackward0",
        Tanh => "TanhBackward0",
        Sigmoid => "SigmoidBackward0",
        Erf => "ErfBackward0",
        Reciprocal => "ReciprocalBackward0",
        Gelu { .. } => "GeluBackward0",
        Silu => "SiluBackward0",
        Softplus { .. } => "SoftplusBackward0",
        LeakyRelu { .. } => "LeakyReluBackward0",
        Elu { .. } => "EluBackward0",
    };
    record(name, &[x], out, move |g, _| {
        let d = match op {
            Exp => g.mul(&result()?)?,
            Log => g.div(&sx.unpack()?)?,
            Log1p => g.div(&sx.unpack()?.add_scalar(1.0)?)?,
            Expm1 => g.mul(&result()?.add_scalar(1.0)?)?,
            Sqrt => g.div(&result()?.mul_scalar(2.0)?)?,
            Rsqrt => {
                let r = result()?;
                g.mul(&r.mul(&r)?.mul(&r)?)?.mul_scalar(-0.5)?
            }
            Sin => g.mul(&sx.unpack()?.unary(Cos)?)?,
            Cos => g.mul(&sx.unpack()?.unary(Sin)?)?.neg()?,
            Tanh => {
                let r = result()?;
                g.mul(&r.mul(&r)?.rsub_scalar(1.0)?)?
            }
            Sigmoid => {
                let r = result()?;
                g.mul(&r.mul(&r.rsub_scalar(1.0)?)?)?
            }
            Erf => {
                let x = sx.unpack()?;
                g.mul(&x.mul(&x)?.neg()?.unary(Exp)?.mul_scalar(FRAC_2_SQRT_PI)?)?
            }
            Reciprocal => {
                let r = result()?;
                g.mul(&r.mul(&r)?)?.neg()?
            }
            Gelu { tanh: false } => {
                let x = sx.unpack()?;
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
            Gelu { tanh: true } => {
                let x = sx.unpack()?;
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
                let x = sx.unpack()?;
                let s = x.unary(Sigmoid)?;
                g.mul(&s.mul(&x.mul(&s.rsub_scalar(1.0)?)?.add_scalar(1.0)?)?)?
            }
            Softplus { beta, threshold } => {
                let x = sx.unpack()?;
                let bx = x.mul_scalar(beta)?;
                let d = bx.unary(Sigmoid)?;
                g.mul(&d.where_scalar(&bx.gt_scalar(threshold)?, 1.0)?)?
            }
            LeakyRelu { slope } => {
                let x = sx.unpack()?;
                g.mul(
                    &x.gt_scalar(0.0)?
                        .to_dtype(g.dtype())
                        .mul_scalar(1.0 - slope)?
                        .add_scalar(slope)?,
                )?
            }
            Elu { alpha } => {
                let x = sx.unpack()?;
                let neg = g.mul(&x.unary(Exp)?.mul_scalar(alpha)?)?;
                g.where_(&x.gt_scalar(0.0)?, &neg)?
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
    sin => Sin, cos => Cos, tanh => Tanh, sigmoid => Sigmoid, erf => Erf, reciprocal => Reciprocal,
    silu => Silu,
);

/// Ops that keep the dtype: negation, absolute value, sign, rounding, relu.
#[derive(Clone, Copy, Debug, PartialEq)]
enum SameTypeOp {
    Neg,
    Abs,
    Sign,
    Floor,
    Ceil,
    Round,
    Trunc,
    Relu,
}

fn same_type_kernel<T: Num>(
    op: SameTypeOp,
    x: &[T],
    l: &crate::tensor::layout::Layout,
    round: impl Fn(T) -> T + Sync,
) -> Vec<T> {
    match op {
        SameTypeOp::Neg => map(x, l, |v: T| v.neg()),
        SameTypeOp::Abs => map(x, l, |v: T| v.abs()),
        SameTypeOp::Sign => map(x, l, |v: T| {
            if v > T::zero() {
                T::one()
            } else if v < T::zero() {
                T::one().neg()
            } else {
                v
            }
        }),
        SameTypeOp::Relu => map(x, l, |v: T| {
            if v > T::zero() || v.is_nan() {
                v
            } else {
                T::zero()
            }
        }),
        _ => map(x, l, round),
    }
}

impl Tensor {
    fn same_type(&self, op: SameTypeOp) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            return match op {
                SameTypeOp::Neg => Err(Error::Runtime(
                    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.".into(),
                )),
                SameTypeOp::Abs | SameTypeOp::Sign | SameTypeOp::Relu => {
                    Ok(self.to_dtype_raw(DType::U8).same_type(op)?.to_dtype_raw(DType::Bool))
                }
                _ => Ok(self.contiguous_copy()),
            };
        }
        let out = crate::with_numeric_dtype!(
            self.dtype(),
            T,
            {
                let data = self.storage().as_slice::<T>();
                let l = self.layout();
                let v: Vec<T> = if T::DTYPE.is_float() {
                    let round = |v: T| {
                        let f = v.to_f64();
                        T::from_f64(match op {
                            SameTypeOp::Floor => f.floor(),
                            SameTypeOp::Ceil => f.ceil(),
                            SameTypeOp::Round => f.round_ties_even(),
                            _ => f.trunc(),
                        })
                    };
                    same_type_kernel(op, data, l, round)
                } else {
                    same_type_kernel(op, data, l, |v: T| v)
                };
                Tensor::from_vec(v, self.shape())
            },
            unreachable!()
        );
        if needs_grad(&[self]) {
            let sx = SavedTensor::new(self);
            let name = match op {
                SameTypeOp::Neg => "NegBackward0",
                SameTypeOp::Abs => "AbsBackward0",
                SameTypeOp::Sign => "SignBackward0",
                SameTypeOp::Floor => "FloorBackward0",
                SameTypeOp::Ceil => "CeilBackward0",
                SameTypeOp::Round => "RoundBackward0",
                SameTypeOp::Trunc => "TruncBackward0",
                SameTypeOp::Relu => "ReluBackward0",
            };
            record(name, &[self], &out, move |g, _| {
                Ok(vec![Some(match op {
                    SameTypeOp::Neg => g.neg()?,
                    SameTypeOp::Abs => g.mul(&sx.unpack()?.sign()?)?,
                    // relu passes no gradient at 0 (a `max(x, 0)` rule would pass half).
                    SameTypeOp::Relu => g.threshold_backward(&sx.unpack()?)?,
                    _ => g.mul_scalar(0.0)?,
                })])
            });
        }
        Ok(out)
    }

    /// `g` where `x > 0`, else 0: relu's gradient in one pass. Differentiable in `g`.
    pub fn threshold_backward(&self, x: &Tensor) -> Result<Tensor> {
        let shape = crate::tensor::layout::broadcast_shapes(self.shape(), x.shape())?;
        let xs = x.to_dtype_raw(self.dtype());
        let out = crate::with_numeric_dtype!(
            self.dtype(),
            T,
            {
                let v = crate::cpu::elementwise::zip(
                    self.storage().as_slice::<T>(),
                    self.layout(),
                    xs.storage().as_slice::<T>(),
                    xs.layout(),
                    &shape,
                    |g: T, x: T| if x > T::zero() { g } else { T::zero() },
                );
                Tensor::from_vec(v, &shape)
            },
            return Err(Error::Runtime(
                "threshold_backward: bool gradients are not supported".into()
            ))
        );
        if needs_grad(&[self]) {
            let x = x.detach();
            record("ThresholdBackwardBackward0", &[self], &out, move |gg, _| {
                Ok(vec![Some(gg.threshold_backward(&x)?)])
            });
        }
        Ok(out)
    }

    pub fn neg(&self) -> Result<Tensor> {
        self.same_type(SameTypeOp::Neg)
    }
    pub fn abs(&self) -> Result<Tensor> {
        self.same_type(SameTypeOp::Abs)
    }
    pub fn sign(&self) -> Result<Tensor> {
        self.same_type(SameTypeOp::Sign)
    }
    pub fn floor(&self) -> Result<Tensor> {
        self.same_type(SameTypeOp::Floor)
    }
    pub fn ceil(&self) -> Result<Tensor> {
        self.same_type(SameTypeOp::Ceil)
    }
    pub fn trunc(&self) -> Result<Tensor> {
        self.same_type(SameTypeOp::Trunc)
    }
    pub fn relu(&self) -> Result<Tensor> {
        self.same_type(SameTypeOp::Relu)
    }
    /// `round(decimals=0)`: half to even, as PyTorch.
    pub fn round(&self, decimals: i64) -> Result<Tensor> {
        if decimals == 0 {
            return self.same_type(SameTypeOp::Round);
        }
        let k = 10f64.powi(decimals as i32);
        self.mul_scalar(k)?
            .same_type(SameTypeOp::Round)?
            .div_scalar(k)
    }

    pub fn gelu(&self, approximate_tanh: bool) -> Result<Tensor> {
        self.unary(Gelu {
            tanh: approximate_tanh,
        })
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

    /// `isnan()` / `isinf()` / `isfinite()`: bool masks.
    pub fn isnan(&self) -> Tensor {
        self.float_predicate(|v| v.is_nan())
    }
    pub fn isinf(&self) -> Tensor {
        self.float_predicate(|v| v.is_infinite())
    }
    pub fn isfinite(&self) -> Tensor {
        self.float_predicate(|v| v.is_finite())
    }
    fn float_predicate(&self, f: impl Fn(f64) -> bool + Sync) -> Tensor {
        let v = crate::with_dtype!(
            self.dtype(),
            T,
            map(self.storage().as_slice::<T>(), self.layout(), |x: T| f(
                x.to_f64()
            ))
        );
        Tensor::from_vec(v, self.shape())
    }

    /// `~x`: logical not for bool, bitwise not for integers.
    pub fn bitwise_not(&self) -> Result<Tensor> {
        let l = self.layout();
        Ok(match self.dtype() {
            DType::Bool => Tensor::from_vec(
                map(self.storage().as_slice::<bool>(), l, |v: bool| !v),
                self.shape(),
            ),
            DType::U8 => Tensor::from_vec(
                map(self.storage().as_slice::<u8>(), l, |v: u8| !v),
                self.shape(),
            ),
            DType::I32 => Tensor::from_vec(
                map(self.storage().as_slice::<i32>(), l, |v: i32| !v),
                self.shape(),
            ),
            DType::I64 => Tensor::from_vec(
                map(self.storage().as_slice::<i64>(), l, |v: i64| !v),
                self.shape(),
            ),
            d => {
                return Err(Error::Runtime(format!(
                    "\"bitwise_not_cpu\" not implemented for '{}'",
                    if d == DType::F32 { "Float" } else { "Double" }
                )))
            }
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
        let x = self.to_dtype(dtype);
        let (lo, hi) = (min.map(|s| s.to_f64()), max.map(|s| s.to_f64()));
        let out = crate::with_numeric_dtype!(
            dtype,
            T,
            {
                let (lo, hi) = (lo.map(T::from_f64), hi.map(T::from_f64));
                let v = map(x.storage().as_slice::<T>(), x.layout(), move |v: T| {
                    if v.is_nan() {
                        return v;
                    }
                    let v = match lo {
                        Some(l) if v < l => l,
                        _ => v,
                    };
                    match hi {
                        Some(h) if v > h => h,
                        _ => v,
                    }
                });
                Tensor::from_vec(v, x.shape())
            },
            return Err(Error::Runtime(
                "\"clamp_cpu\" not implemented for 'Bool'".into()
            ))
        );
        if needs_grad(&[&x]) {
            let sx = SavedTensor::new(&x);
            record(name, &[&x], &out, move |g, _| {
                let x = sx.unpack()?;
                let mut keep = crate::ops::creation::ones(x.shape(), DType::Bool);
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
                Ok(vec![Some(g.mul(&keep.to_dtype(g.dtype()))?)])
            });
        }
        Ok(out)
    }
}
