//! The ops the backends implement, each variant with its CPU element function and its CUDA
//! kernel side by side, so the two cannot drift apart: the CPU backend runs the function
//! given here, the CUDA backend launches the kernel named here (defined in
//! `src/cuda/kernels`), and `cuda::kernels` tests that every name has a compiled kernel for
//! every dtype the op takes.
//!
//! The element functions reach the CPU loops through small visitor traits ([`MapFn`],
//! [`ZipFn`]), so each op's loop is compiled for its own closure and vectorises.

use super::num::{Bits, Float, Num};
use crate::tensor::dtype::Element;

/// Receives the element function of a unary op (a visitor: each op's loop is monomorphised).
pub trait MapFn<T> {
    type Out;
    fn call<F: Fn(T) -> T + Sync + Send + Copy>(self, f: F) -> Self::Out;
}

/// Receives the element function of a binary op with output element `C`.
pub trait ZipFn<T, C> {
    type Out;
    fn call<F: Fn(T, T) -> C + Sync + Send + Copy>(self, f: F) -> Self::Out;
}

/// Which dtypes an op takes: every numeric dtype, or the floating ones only (the op layer
/// computes integer inputs of float-valued ops in float32, as PyTorch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    Numeric,
    Float,
}

macro_rules! unary_ops {
    (
        numeric { $( $(#[$nm:meta])* $NV:ident $({ $($np:ident),* })? => $nk:literal, |$nx:ident| $nf:expr; )* }
        float { $( $(#[$fm:meta])* $FV:ident $({ $($fp:ident),* })? => $fk:literal, |$fx:ident| $ff:expr; )* }
    ) => {
        /// Elementwise ops of one operand. Parameters are `f64` and are converted to the
        /// element type once per call.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum UnaryOp {
            $( $(#[$nm])* $NV $({ $($np: f64),* })?, )*
            $( $(#[$fm])* $FV $({ $($fp: f64),* })?, )*
        }

        impl UnaryOp {
            /// One value of every variant (parameters zero), for coverage tests.
            pub const ALL: &'static [UnaryOp] = &[
                $( UnaryOp::$NV $({ $($np: 0.0),* })?, )*
                $( UnaryOp::$FV $({ $($fp: 0.0),* })?, )*
            ];

            /// The CUDA kernel in `unary.cu`.
            pub fn kernel(self) -> &'static str {
                match self {
                    $( UnaryOp::$NV { .. } => $nk, )*
                    $( UnaryOp::$FV { .. } => $fk, )*
                }
            }

            pub fn domain(self) -> Domain {
                match self {
                    $( UnaryOp::$NV { .. } => Domain::Numeric, )*
                    $( UnaryOp::$FV { .. } => Domain::Float, )*
                }
            }

            /// The parameters as the CUDA kernels take them (unused slots are 0).
            pub fn params(self) -> [f64; 2] {
                #[allow(unused_mut)]
                match self {
                    $( UnaryOp::$NV $({ $($np),* })? => {
                        let mut p = [0.0; 2];
                        $( let mut i = 0; $( p[i] = $np; i += 1; )* let _ = i; )?
                        p
                    } )*
                    $( UnaryOp::$FV $({ $($fp),* })? => {
                        let mut p = [0.0; 2];
                        $( let mut i = 0; $( p[i] = $fp; i += 1; )* let _ = i; )?
                        p
                    } )*
                }
            }

            /// Hands the element function to `v`, for a floating element type.
            pub fn map_float<T: Float, V: MapFn<T>>(self, v: V) -> V::Out {
                match self {
                    $( UnaryOp::$NV $({ $($np),* })? => {
                        $( $( let $np = T::from_f64($np); )* )?
                        v.call(#[inline(always)] move |$nx: T| $nf)
                    } )*
                    $( UnaryOp::$FV $({ $($fp),* })? => {
                        $( $( let $fp = T::from_f64($fp); )* )?
                        v.call(#[inline(always)] move |$fx: T| $ff)
                    } )*
                }
            }

            /// Hands the element function to `v` for an integer element type, or `None` for
            /// the float-only ops.
            pub fn map_numeric<T: Num, V: MapFn<T>>(self, v: V) -> Option<V::Out> {
                match self {
                    $( UnaryOp::$NV $({ $($np),* })? => {
                        $( $( let $np = T::from_f64($np); )* )?
                        Some(v.call(#[inline(always)] move |$nx: T| $nf))
                    } )*
                    _ => None,
                }
            }
        }
    };
}

unary_ops! {
    numeric {
        Neg => "neg", |x| x.neg();
        Abs => "abs", |x| x.abs();
        /// 1, -1 or 0 (also for NaN and -0.0: `(0 < x) - (x < 0)`, as PyTorch).
        Sign => "sign", |x| if x > T::zero() { T::one() } else if x < T::zero() { T::one().neg() } else { T::zero() };
        Floor => "floor", |x| x.floor();
        Ceil => "ceil", |x| x.ceil();
        Round => "round", |x| x.round_even();
        Trunc => "trunc", |x| x.trunc();
        /// max(x, 0), keeping NaN.
        Relu => "relu", |x| if x > T::zero() || x.is_nan() { x } else { T::zero() };
        /// Bounds as f64 (±∞ for none), applied in turn (so `hi` wins when `lo > hi`);
        /// NaN stays NaN.
        Clamp { lo, hi } => "clamp", |x| {
            let v = if x < lo { lo } else { x };
            if x.is_nan() { x } else if v > hi { hi } else { v }
        };
    }
    float {
        Exp => "exp", |x| x.exp();
        Log => "log", |x| x.ln();
        Log1p => "log1p", |x| x.ln_1p();
        Expm1 => "expm1", |x| x.exp_m1();
        Sqrt => "sqrt", |x| x.sqrt();
        Rsqrt => "rsqrt", |x| T::one().div(x.sqrt());
        Sin => "sin", |x| x.sin();
        Cos => "cos", |x| x.cos();
        Tan => "tan", |x| x.tan();
        Asin => "asin", |x| x.asin();
        Acos => "acos", |x| x.acos();
        Atan => "atan", |x| x.atan();
        Sinh => "sinh", |x| x.sinh();
        Cosh => "cosh", |x| x.cosh();
        Asinh => "asinh", |x| x.asinh();
        Acosh => "acosh", |x| x.acosh();
        Atanh => "atanh", |x| x.atanh();
        Log2 => "log2", |x| x.log2();
        Log10 => "log10", |x| x.log10();
        Exp2 => "exp2", |x| x.exp2();
        Lgamma => "lgamma", |x| x.lgamma();
        Digamma => "digamma", |x| x.digamma();
        Tanh => "tanh", |x| x.tanh();
        Sigmoid => "sigmoid", |x| x.sigmoid();
        Erf => "erf", |x| x.erf();
        Reciprocal => "reciprocal", |x| T::one().div(x);
        /// `x ** 3` as PyTorch computes it, `(x·x)·x`, in one pass.
        Cube => "cube", |x| x.mul(x).mul(x);
        /// x·Φ(x), Φ the normal CDF.
        Gelu => "gelu", |x| T::lit(0.5).mul(x).mul(T::one().add(x.mul(T::lit(std::f64::consts::FRAC_1_SQRT_2)).erf()));
        /// GELU's tanh approximation.
        GeluTanh => "gelu_tanh", |x| {
            let (k, c) = (T::lit((2.0 / std::f64::consts::PI).sqrt()), T::lit(0.044715));
            T::lit(0.5).mul(x).mul(T::one().add(k.mul(x.add(c.mul(x).mul(x).mul(x))).tanh()))
        };
        Silu => "silu", |x| x.div(T::one().add(x.neg().exp()));
        /// log(1 + e^(βx))/β, linear above the threshold.
        Softplus { beta, threshold } => "softplus", |x| if x.mul(beta) > threshold { x } else { x.mul(beta).exp().ln_1p().div(beta) };
        LeakyRelu { slope } => "leaky_relu", |x| if x > T::zero() { x } else { x.mul(slope) };
        Elu { alpha } => "elu", |x| if x > T::zero() { x } else { alpha.mul(x.exp_m1()) };
        /// ψ⁽ⁿ⁾(x) for n ≥ 1 (`digamma` is n = 0).
        Polygamma { n } => "polygamma", |x| x.polygamma(n);
    }
}

/// The kinds of binary op: what they compute in and what they return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    /// Numeric dtypes, result in the same dtype.
    Arith,
    /// Any dtype, bool result.
    Compare,
    /// Integer and bool dtypes, same dtype.
    Bitwise,
}

macro_rules! binary_ops {
    (
        arith { $( $(#[$am:meta])* $AV:ident => $ak:literal, |$ax:ident, $ay:ident| $af:expr; )* }
        compare { $( $(#[$cm:meta])* $CV:ident => $ck:literal, |$cx:ident, $cy:ident| $cf:expr; )* }
        bitwise { $( $(#[$bm:meta])* $BV:ident => $bk:literal, |$bx:ident, $by:ident| $bf:expr; )* }
    ) => {
        /// Elementwise ops of two operands (already promoted to one dtype and broadcast).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BinaryOp {
            $( $(#[$am])* $AV, )*
            $( $(#[$cm])* $CV, )*
            $( $(#[$bm])* $BV, )*
        }

        impl BinaryOp {
            pub const ALL: &'static [BinaryOp] = &[
                $( BinaryOp::$AV, )* $( BinaryOp::$CV, )* $( BinaryOp::$BV, )*
            ];

            /// The CUDA kernel in `binary.cu`; also PyTorch's name for the op.
            pub fn kernel(self) -> &'static str {
                match self {
                    $( BinaryOp::$AV => $ak, )*
                    $( BinaryOp::$CV => $ck, )*
                    $( BinaryOp::$BV => $bk, )*
                }
            }

            pub fn kind(self) -> BinaryKind {
                match self {
                    $( BinaryOp::$AV => BinaryKind::Arith, )*
                    $( BinaryOp::$CV => BinaryKind::Compare, )*
                    $( BinaryOp::$BV => BinaryKind::Bitwise, )*
                }
            }

            /// The element function of an arithmetic op.
            pub fn map_arith<T: Num, V: ZipFn<T, T>>(self, v: V) -> Option<V::Out> {
                match self {
                    $( BinaryOp::$AV => Some(v.call(#[inline(always)] |$ax: T, $ay: T| $af)), )*
                    _ => None,
                }
            }

            /// The element function of a comparison.
            pub fn map_compare<T: Element, V: ZipFn<T, bool>>(self, v: V) -> Option<V::Out> {
                match self {
                    $( BinaryOp::$CV => Some(v.call(#[inline(always)] |$cx: T, $cy: T| $cf)), )*
                    _ => None,
                }
            }

            /// The element function of a bitwise op.
            pub fn map_bitwise<T: Bits, V: ZipFn<T, T>>(self, v: V) -> Option<V::Out> {
                match self {
                    $( BinaryOp::$BV => Some(v.call(#[inline(always)] |$bx: T, $by: T| $bf)), )*
                    _ => None,
                }
            }
        }
    };
}

binary_ops! {
    arith {
        Add => "add", |x, y| x.add(y);
        Sub => "sub", |x, y| x.sub(y);
        Mul => "mul", |x, y| x.mul(y);
        /// True division (integer inputs are promoted to float first).
        Div => "div", |x, y| x.div(y);
        FloorDiv => "floor_divide", |x, y| x.floor_div(y);
        Rem => "remainder", |x, y| x.rem(y);
        /// The remainder with the dividend's sign (C's `fmod`).
        Fmod => "fmod", |x, y| x.fmod(y);
        /// The angle of the point `(y, x)`, `atan2(x, y)` (integer inputs are promoted to
        /// float first).
        Atan2 => "atan2", |x, y| x.atan2(y);
        Pow => "pow", |x, y| x.pow(y);
        Maximum => "maximum", |x, y| x.max_nan(y);
        Minimum => "minimum", |x, y| x.min_nan(y);
        /// relu's backward: the gradient `x` where `y > 0`, else 0.
        ThresholdBackward => "threshold_backward", |g, x| if x > T::zero() { g } else { T::zero() };
    }
    compare {
        Eq => "eq", |x, y| x == y;
        Ne => "ne", |x, y| x != y;
        Lt => "lt", |x, y| x < y;
        Le => "le", |x, y| x <= y;
        Gt => "gt", |x, y| x > y;
        Ge => "ge", |x, y| x >= y;
    }
    bitwise {
        BitAnd => "bitwise_and", |x, y| x.and(y);
        BitOr => "bitwise_or", |x, y| x.or(y);
        BitXor => "bitwise_xor", |x, y| x.xor(y);
    }
}

impl BinaryOp {
    /// Integer forms of these ops fail on some right-hand values (a zero divisor); the
    /// backends check the right operand as part of the kernel.
    pub fn int_rhs_check(self) -> Option<IntRhsCheck> {
        match self {
            BinaryOp::FloorDiv | BinaryOp::Rem | BinaryOp::Fmod => Some(IntRhsCheck::NonZero),
            _ => None,
        }
    }
}

/// A condition the right operand of an integer op must meet, and PyTorch's error when not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntRhsCheck {
    NonZero,
}

impl IntRhsCheck {
    pub fn holds(self, v: i64) -> bool {
        match self {
            IntRhsCheck::NonZero => v != 0,
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            IntRhsCheck::NonZero => "ZeroDivisionError",
        }
    }
}

/// Reductions of each row of a `rows × len` arrangement to one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReduceOp {
    /// Pairwise (CPU) / tree (CUDA) summation; integers sum in int64 (the op layer casts).
    Sum,
    Prod,
    /// NaN-propagating extremes (values only).
    Max,
    Min,
    /// Variance with the given correction (1 = Bessel's), two-pass.
    Var {
        correction: f64,
    },
    /// log Σ exp, shifted by the row max.
    LogSumExp,
    /// Whether every / any element is nonzero: a bool result.
    All,
    Any,
}

impl ReduceOp {
    pub const ALL: &'static [ReduceOp] = &[
        ReduceOp::Sum,
        ReduceOp::Prod,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Var { correction: 1.0 },
        ReduceOp::LogSumExp,
        ReduceOp::All,
        ReduceOp::Any,
    ];
    /// The CUDA kernel in `reduce.cu`.
    pub fn kernel(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum_rows",
            ReduceOp::Prod => "prod_rows",
            ReduceOp::Max => "max_rows",
            ReduceOp::Min => "min_rows",
            ReduceOp::Var { .. } => "var_rows",
            ReduceOp::LogSumExp => "logsumexp_rows",
            ReduceOp::All => "all_rows",
            ReduceOp::Any => "any_rows",
        }
    }
    pub fn domain(self) -> Domain {
        match self {
            ReduceOp::Var { .. } | ReduceOp::LogSumExp => Domain::Float,
            _ => Domain::Numeric,
        }
    }
}

/// Row ops that map each `len`-long row to a row of the same length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanOp {
    Softmax,
    LogSoftmax,
    /// Inclusive prefix sums.
    Cumsum,
    /// Inclusive prefix products (integers wrap).
    Cumprod,
    /// `log Σ_{k≤j} exp(x_k)`: a running maximum with rescaling, PyTorch's
    /// `_log_add_exp_helper` (NaN propagates; equal infinities stay).
    LogCumSumExp,
}

impl ScanOp {
    pub const ALL: &'static [ScanOp] = &[
        ScanOp::Softmax,
        ScanOp::LogSoftmax,
        ScanOp::Cumsum,
        ScanOp::Cumprod,
        ScanOp::LogCumSumExp,
    ];
    /// The CUDA kernel in `scan.cu`.
    pub fn kernel(self) -> &'static str {
        match self {
            ScanOp::Softmax => "softmax_rows",
            ScanOp::LogSoftmax => "log_softmax_rows",
            ScanOp::Cumsum => "cumsum_rows",
            ScanOp::Cumprod => "cumprod_rows",
            ScanOp::LogCumSumExp => "logcumsumexp_rows",
        }
    }
    pub fn domain(self) -> Domain {
        match self {
            ScanOp::Cumsum | ScanOp::Cumprod => Domain::Numeric,
            _ => Domain::Float,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Apply(f64);
    impl MapFn<f64> for Apply {
        type Out = f64;
        fn call<F: Fn(f64) -> f64 + Sync + Send + Copy>(self, f: F) -> f64 {
            f(self.0)
        }
    }

    #[test]
    fn parameters_reach_the_element_function() {
        let op = UnaryOp::Softplus {
            beta: 2.0,
            threshold: 20.0,
        };
        assert_eq!(op.params(), [2.0, 20.0]);
        let want = (2.0f64 * 0.3).exp().ln_1p() / 2.0;
        assert!((op.map_float(Apply(0.3)) - want).abs() < 1e-15);
        let clamp = UnaryOp::Clamp { lo: -1.0, hi: 1.0 };
        assert_eq!(clamp.map_float(Apply(3.0)), 1.0);
        assert!(UnaryOp::Exp.map_numeric::<i64, _>(ApplyI(2)).is_none());
        assert_eq!(UnaryOp::Neg.map_numeric(ApplyI(2)), Some(-2));
    }

    struct ApplyI(i64);
    impl MapFn<i64> for ApplyI {
        type Out = i64;
        fn call<F: Fn(i64) -> i64 + Sync + Send + Copy>(self, f: F) -> i64 {
            f(self.0)
        }
    }

    #[test]
    fn kernel_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for op in UnaryOp::ALL {
            assert!(seen.insert(op.kernel()), "{op:?}");
        }
        for op in BinaryOp::ALL {
            assert!(seen.insert(op.kernel()), "{op:?}");
        }
    }
}
