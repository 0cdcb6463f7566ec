//! The arithmetic of tensor elements: what each op computes on one element (or a pair),
//! with PyTorch's semantics (Python-style integer division and modulo, NaN-propagating
//! `maximum`, wrapping integer overflow). The CPU kernels run these functions; the CUDA
//! kernels in `src/cuda/kernels` implement the same formulas, and tests compare the two.

use crate::tensor::dtype::Element;

/// Arithmetic every numeric dtype supports. Integer ops wrap on overflow (as PyTorch's do);
/// integer division by zero is rejected by the op layer before a kernel runs.
pub trait Num: Element {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// True division for floats; integer callers promote to float first.
    fn div(self, o: Self) -> Self;
    /// Python's floor division.
    fn floor_div(self, o: Self) -> Self;
    /// Python's modulo: the result has the divisor's sign.
    fn rem(self, o: Self) -> Self;
    /// The remainder with the dividend's sign (C's `fmod`), as PyTorch's `fmod`.
    fn fmod(self, o: Self) -> Self;
    /// The angle of the point `(o, self)`, C's `atan2(self, o)` (integers are promoted to
    /// float before the op; their form goes through f64).
    fn atan2(self, o: Self) -> Self;
    fn pow(self, o: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn zero() -> Self;
    fn one() -> Self;
    /// `max` that propagates NaN, like PyTorch's `maximum`.
    fn max_nan(self, o: Self) -> Self;
    fn min_nan(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
    /// Rounding, the identity for integers.
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Half to even, as PyTorch's `round`.
    fn round_even(self) -> Self;
    fn trunc(self) -> Self;
}

macro_rules! impl_num_int {
    ($($t:ty),*) => {$(
        impl Num for $t {
            #[inline(always)] fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)] fn sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            #[inline(always)] fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[inline(always)] fn div(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_div(o) } }
            #[inline(always)] fn floor_div(self, o: Self) -> Self {
                if o == 0 { return 0; }
                let q = self.wrapping_div(o);
                #[allow(unused_comparisons)]
                if (self.wrapping_rem(o) != 0) && ((self < 0) != (o < 0)) { q - 1 } else { q }
            }
            #[inline(always)] fn rem(self, o: Self) -> Self {
                if o == 0 { return 0; }
                let r = self.wrapping_rem(o);
                #[allow(unused_comparisons)]
                if r != 0 && ((r < 0) != (o < 0)) { r.wrapping_add(o) } else { r }
            }
            #[inline(always)] fn fmod(self, o: Self) -> Self { if o == 0 { 0 } else { self.wrapping_rem(o) } }
            #[inline(always)] fn atan2(self, o: Self) -> Self { (self as f64).atan2(o as f64) as $t }
            /// A negative exponent gives 1 for a base of 1, ±1 for -1 and 0 otherwise, as
            /// PyTorch's integer pow with a tensor exponent.
            #[inline(always)] fn pow(self, o: Self) -> Self {
                #[allow(unused_comparisons)]
                if o < 0 {
                    if self == 1 { 1 } else if self == (0 as $t).wrapping_sub(1) { if o & 1 == 1 { self } else { 1 } } else { 0 }
                } else {
                    self.wrapping_pow(o as u32)
                }
            }
            #[inline(always)] fn neg(self) -> Self { (0 as $t).wrapping_sub(self) }
            #[inline(always)] fn abs(self) -> Self {
                #[allow(unused_comparisons)]
                if self < 0 { self.neg() } else { self }
            }
            #[inline(always)] fn zero() -> Self { 0 }
            #[inline(always)] fn one() -> Self { 1 }
            #[inline(always)] fn max_nan(self, o: Self) -> Self { if self >= o { self } else { o } }
            #[inline(always)] fn min_nan(self, o: Self) -> Self { if self <= o { self } else { o } }
            #[inline(always)] fn is_nan(self) -> bool { false }
            #[inline(always)] fn floor(self) -> Self { self }
            #[inline(always)] fn ceil(self) -> Self { self }
            #[inline(always)] fn round_even(self) -> Self { self }
            #[inline(always)] fn trunc(self) -> Self { self }
        }
    )*};
}
impl_num_int!(i64, i32, i16, i8, u8);

/// How a kernel multiplies and adds in the float32 polynomials of [`Float::tanh_with`] and
/// [`Float::sigmoid_with`]: [`Fused`] in the copies `simd_dispatch!` compiles for CPUs with
/// FMA, where `a·b + c` rounded once is one instruction, [`Separate`] everywhere else,
/// where `f32::mul_add` would be a library call per element. `simd_dispatch!` names its
/// copy's kind `CopyMulAdd`.
pub trait MulAdd {
    /// `a·b + c`.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// `a·b + c` rounded once (see [`MulAdd`]).
pub struct Fused;

/// `a·b + c` as a product and a sum, each rounded (see [`MulAdd`]).
pub struct Separate;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Transcendental and rounding functions of the floating dtypes.
pub trait Float: Num {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn log2(self) -> Self;
    fn log10(self) -> Self;
    fn exp2(self) -> Self;
    /// ln|Γ(x)|.
    fn lgamma(self) -> Self;
    /// ψ(x) = d/dx ln Γ(x).
    fn digamma(self) -> Self;
    /// ψ⁽ⁿ⁾(x), `polygamma(n, x)` for n ≥ 1 (`n` a whole number in `Self`).
    fn polygamma(self, n: Self) -> Self;
    /// `tanh`, multiplying and adding as [`Separate`] does.
    #[inline(always)]
    fn tanh(self) -> Self {
        self.tanh_with::<Separate>()
    }
    /// `tanh`, with the multiply-adds of `M` (a `simd_dispatch!` copy's `CopyMulAdd`).
    fn tanh_with<M: MulAdd>(self) -> Self;
    /// The logistic function `1/(1 + e^{−x})`, multiplying and adding as [`Separate`] does.
    #[inline(always)]
    fn sigmoid(self) -> Self {
        self.sigmoid_with::<Separate>()
    }
    /// The logistic function, with the multiply-adds of `M`.
    fn sigmoid_with<M: MulAdd>(self) -> Self;
    fn erf(self) -> Self;
    fn is_inf(self) -> bool;
    fn lit(v: f64) -> Self;
}

macro_rules! impl_float {
    ($t:ty, $erf:path, $lgamma:path, $exp:path, $exp_m1:path, $tanh:ident, $sigmoid:ident, $ln:path, $ln_1p:path) => {
        impl Num for $t {
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self + o
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self - o
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self * o
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self / o
            }
            #[inline(always)]
            fn floor_div(self, o: Self) -> Self {
                // PyTorch's div(rounding_mode='floor'): Python's float floor division.
                if o == 0.0 {
                    return self / o;
                }
                let m = self % o;
                let mut d = (self - m) / o;
                if m != 0.0 && ((o < 0.0) != (m < 0.0)) {
                    d -= 1.0;
                }
                if d == 0.0 {
                    return (0.0 as $t).copysign(self / o);
                }
                let f = d.floor();
                if d - f > 0.5 {
                    f + 1.0
                } else {
                    f
                }
            }
            #[inline(always)]
            fn rem(self, o: Self) -> Self {
                let r = self % o;
                if r != 0.0 && ((r < 0.0) != (o < 0.0)) {
                    r + o
                } else {
                    r
                }
            }
            #[inline(always)]
            fn fmod(self, o: Self) -> Self {
                self % o
            }
            #[inline(always)]
            fn atan2(self, o: Self) -> Self {
                <$t>::atan2(self, o)
            }
            #[inline(always)]
            fn pow(self, o: Self) -> Self {
                self.powf(o)
            }
            #[inline(always)]
            fn neg(self) -> Self {
                -self
            }
            #[inline(always)]
            fn abs(self) -> Self {
                self.abs()
            }
            #[inline(always)]
            fn zero() -> Self {
                0.0
            }
            #[inline(always)]
            fn one() -> Self {
                1.0
            }
            #[inline(always)]
            fn max_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self >= o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn min_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self <= o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                self.is_nan()
            }
            #[inline(always)]
            fn floor(self) -> Self {
                self.floor()
            }
            #[inline(always)]
            fn ceil(self) -> Self {
                self.ceil()
            }
            #[inline(always)]
            fn round_even(self) -> Self {
                self.round_ties_even()
            }
            #[inline(always)]
            fn trunc(self) -> Self {
                self.trunc()
            }
        }
        impl Float for $t {
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                $ln_1p(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                $exp_m1(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                self.sqrt()
            }
            #[inline(always)]
            fn sin(self) -> Self {
                self.sin()
            }
            #[inline(always)]
            fn cos(self) -> Self {
                self.cos()
            }
            #[inline(always)]
            fn tan(self) -> Self {
                self.tan()
            }
            #[inline(always)]
            fn asin(self) -> Self {
                self.asin()
            }
            #[inline(always)]
            fn acos(self) -> Self {
                self.acos()
            }
            #[inline(always)]
            fn atan(self) -> Self {
                self.atan()
            }
            #[inline(always)]
            fn sinh(self) -> Self {
                self.sinh()
            }
            #[inline(always)]
            fn cosh(self) -> Self {
                self.cosh()
            }
            #[inline(always)]
            fn asinh(self) -> Self {
                self.asinh()
            }
            #[inline(always)]
            fn acosh(self) -> Self {
                self.acosh()
            }
            #[inline(always)]
            fn atanh(self) -> Self {
                self.atanh()
            }
            #[inline(always)]
            fn log2(self) -> Self {
                self.log2()
            }
            #[inline(always)]
            fn log10(self) -> Self {
                self.log10()
            }
            #[inline(always)]
            fn exp2(self) -> Self {
                self.exp2()
            }
            #[inline(always)]
            fn lgamma(self) -> Self {
                $lgamma(self)
            }
            #[inline(always)]
            fn digamma(self) -> Self {
                digamma_f64(self as f64) as $t
            }
            #[inline(always)]
            fn polygamma(self, n: Self) -> Self {
                polygamma_f64(n as f64, self as f64) as $t
            }
            #[inline(always)]
            fn tanh_with<M: MulAdd>(self) -> Self {
                $tanh::<M>(self)
            }
            #[inline(always)]
            fn sigmoid_with<M: MulAdd>(self) -> Self {
                $sigmoid::<M>(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn is_inf(self) -> bool {
                self.is_infinite()
            }
            #[inline(always)]
            fn lit(v: f64) -> Self {
                v as $t
            }
        }
    };
}
impl_float!(
    f32,
    erf_f32,
    libm::lgammaf,
    exp_f32,
    exp_m1_f32,
    tanh_f32,
    sigmoid_f32,
    ln_f32,
    ln_1p_f32
);
impl_float!(
    f64,
    libm::erf,
    libm::lgamma,
    f64::exp,
    f64::exp_m1,
    tanh_f64,
    sigmoid_f64,
    f64::ln,
    f64::ln_1p
);

/// ψ(x), the digamma function, as PyTorch's: −∞ at 0 (±0), NaN at the negative integers.
/// Reflection below 0, the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 6, then the
/// asymptotic series (error below 1e-15 there). `src/cuda/kernels/common.cuh` has the same.
pub fn digamma_f64(x: f64) -> f64 {
    use std::f64::consts::PI;
    if x == 0.0 {
        return f64::NEG_INFINITY.copysign(-x);
    }
    if x < 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        // ψ(1 − x) − ψ(x) = π cot(πx)
        return digamma_f64(1.0 - x) - PI / (PI * x).tan();
    }
    let (mut x, mut acc) = (x, 0.0);
    while x < 6.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let z = 1.0 / (x * x);
    let series = z
        * (1.0 / 12.0
            - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (1.0 / 132.0)))));
    acc + x.ln() - 0.5 / x - series
}

/// ψ⁽ⁿ⁾(x) for n ≥ 1: (−1)ⁿ⁺¹ n! ζ(n + 1, x), as PyTorch's `polygamma`.
/// `src/cuda/kernels/common.cuh` has the same.
pub fn polygamma_f64(n: f64, x: f64) -> f64 {
    if n == 1.0 && x == f64::INFINITY {
        return 0.0; // (PyTorch computes n = 1 apart, with this limit; ζ gives NaN at ∞)
    }
    let sign = if n as i64 % 2 == 0 { -1.0 } else { 1.0 };
    let factorial: f64 = (1..=n as i64).map(|k| k as f64).product();
    sign * factorial * hurwitz_zeta(n + 1.0, x)
}

/// The Hurwitz zeta function ζ(s, q) = Σₖ (q + k)^−s for s > 1 (Cephes' `zeta`, which
/// PyTorch uses): direct summation until q + k ≥ 9, then the Euler–Maclaurin tail.
/// `src/cuda/kernels/common.cuh` has the same.
pub fn hurwitz_zeta(s: f64, q: f64) -> f64 {
    const A: [f64; 12] = [
        12.0,
        -720.0,
        30240.0,
        -1209600.0,
        47900160.0,
        -1.892_437_580_318_379_2e9,
        7.472_424_96e10,
        -2.950_130_727_918_164e12,
        1.164_678_281_435_006_7e14,
        -4.597_978_722_407_473e15,
        1.815_210_540_194_354_7e17,
        -7.166_165_256_175_667e18,
    ];
    if s == 1.0 {
        return f64::INFINITY;
    }
    if s < 1.0 {
        return f64::NAN;
    }
    if q <= 0.0 {
        if q == q.floor() {
            return f64::INFINITY;
        }
        if s != s.floor() {
            return f64::NAN;
        }
    }
    let mut sum = q.powf(-s);
    let (mut a, mut b, mut i) = (q, 0.0, 0);
    while i < 9 || a <= 9.0 {
        i += 1;
        a += 1.0;
        b = a.powf(-s);
        sum += b;
        if (b / sum).abs() < f64::EPSILON {
            return sum;
        }
    }
    let w = a;
    sum += b * w / (s - 1.0);
    sum -= 0.5 * b;
    let (mut fac, mut k) = (1.0, 0.0);
    for c in A {
        fac *= s + k;
        b /= w;
        let t = fac * b / c;
        sum += t;
        if (t / sum).abs() < f64::EPSILON {
            break;
        }
        k += 1.0;
        fac *= s + k;
        b /= w;
        k += 1.0;
    }
    sum
}

/// Bitwise logic, for the integer dtypes and bool (where it is logical).
pub trait Bits: Element {
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
}

macro_rules! impl_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            #[inline(always)] fn and(self, o: Self) -> Self { self & o }
            #[inline(always)] fn or(self, o: Self) -> Self { self | o }
            #[inline(always)] fn xor(self, o: Self) -> Self { self ^ o }
        }
    )*};
}
impl_bits!(bool, u8, i8, i16, i32, i64);

/// The Cody–Waite reduction `x = n·ln2 + r` (|r| ≤ ln2/2, ln2 in two parts so `n·ln2_hi` is
/// exact) of [`exp_f32`], [`exp_f32_saturating`] and [`exp_m1_f32`], for `x` already
/// clamped to [-104, 89]: `r` and `n`. `n` is read from the low mantissa bits of `x·log2e`
/// plus 1.5·2^23 (adding and subtracting that rounds to the nearest integer without a libm
/// call), as `n as i32` would not vectorise (it saturates and maps NaN to 0 lane by lane).
#[inline(always)]
fn ln2_reduced<M: MulAdd>(xc: f32) -> (f32, i32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0;
    let shifted = M::mul_add(xc, LOG2E, ROUND);
    let n = shifted - ROUND;
    let r = M::mul_add(-n, LN2_LO, M::mul_add(-n, LN2_HI, xc));
    let ni = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    (r, ni)
}

/// The shared part of [`exp_f32`] and [`exp_f32_saturating`] for `x` already clamped to
/// [-104, 89]: `e^r` for [`ln2_reduced`]'s `r`, as a degree-7 Taylor polynomial, and `n`.
#[inline(always)]
fn exp_f32_reduced<M: MulAdd>(xc: f32) -> (f32, i32) {
    let (r, ni) = ln2_reduced::<M>(xc);
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = M::mul_add(p, r, c);
    }
    (p, ni)
}

/// `exp` for float32, within about 2 ulp of the correctly rounded result.
///
/// [`exp_f32_reduced`], then `2^n` built from exponent bits in two factors so results that
/// are subnormal in float32 come out right. Every step is a select or an arithmetic op, so
/// loops over it vectorise.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let (p, ni) = exp_f32_reduced::<Separate>(x.clamp(-104.0, 89.0));
    // 2^n as two normal factors (n ∈ [-150, 129] after the clamp).
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127).clamp(0, 255) as u32) << 23);
    let s2 = f32::from_bits((n2.wrapping_add(127).clamp(0, 255) as u32) << 23);
    let y = p * s1 * s2;
    let y = if x > 88.722_84 { f32::INFINITY } else { y };
    let y = if x < -103.972_08 { 0.0 } else { y };
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// `e^x` for `x` clamped to [-87.33, 88.3], where the result is a normal float (from about
/// 1.2e-38 to 2.2e38) and `2^n` is a single factor: half the operations of [`exp_f32`], for
/// `1/(1 + e)`, where the ends saturate (sigmoid, tanh). NaN stays NaN (the clamp keeps it).
#[inline(always)]
fn exp_f32_saturating<M: MulAdd>(x: f32) -> f32 {
    let (p, ni) = exp_f32_reduced::<M>(x.clamp(-87.33, 88.3));
    p * f32::from_bits((ni.wrapping_add(127) as u32) << 23)
}

/// The logistic function for float64, as its formula. (Like [`tanh_f64`], it has no
/// polynomial of its own, so `M` goes unused: the parameter keeps `impl_float!` uniform.)
#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)]
fn sigmoid_f64<M: MulAdd>(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `tanh` for float64: the library's (`M` unused, as for [`sigmoid_f64`]).
#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)]
fn tanh_f64<M: MulAdd>(x: f64) -> f64 {
    x.tanh()
}

/// `e^x − 1` for float32, within about 2 ulp, in selects and arithmetic only so loops over
/// it vectorise (ELU, SELU, CELU and `expm1` took a libm call per element). `x = n·ln2 + r`
/// by [`ln2_reduced`]; `e^r − 1` by its series to `r⁹` (the
/// remainder is below 1e-11 relative there), so near 0 nothing cancels; then
/// `e^x − 1 = 2^n·(e^r − 1) + (2^n − 1)`, whose two terms never nearly cancel for
/// `|r| ≤ ln2/2`. Above 16 and below −9, where nothing cancels, `e^x − 1` is
/// [`exp_f32`]'s result less 1 (−1 from −17.33 down, +∞ from 88.72).
#[inline(always)]
pub fn exp_m1_f32(x: f32) -> f32 {
    let (r, ni) = ln2_reduced::<Separate>(x.clamp(-9.5, 16.5));
    let mut p = 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    let em1 = r + (r * r) * p;
    // n ∈ [−14, 24]: 2^n is a normal float32, and 2^n − 1 exact.
    let two_n = f32::from_bits((ni.wrapping_add(127).clamp(1, 254) as u32) << 23);
    let y = two_n * em1 + (two_n - 1.0);
    let y = if ni == 0 { em1 } else { y };
    if !(-9.0..=16.0).contains(&x) && !x.is_nan() {
        exp_f32(x) - 1.0
    } else if x.is_nan() || x == 0.0 {
        // (−0 stays −0.)
        x
    } else {
        y
    }
}

/// The logistic function `1/(1 + e^{−x})` for float32, within about 2 ulp down to 1e-38.
/// Below x = −88.72, where `e^{−x}` overflows, it is 0, as PyTorch's; between that and
/// −88.3, where PyTorch's result is subnormal (3.0e-39 to 4.5e-39), about 4.5e-39.
#[inline(always)]
pub fn sigmoid_f32<M: MulAdd>(x: f32) -> f32 {
    let y = 1.0 / (1.0 + exp_f32_saturating::<M>(-x));
    if x < -88.722_84 {
        0.0
    } else {
        y
    }
}

/// `tanh` for float32, within about 3 ulp of the correctly rounded result, in selects and
/// arithmetic only, so loops over it vectorise (a recurrent layer takes two per hidden unit
/// and step; the library call cost more than the step's product).
///
/// Below 0.625 in magnitude, `x·P(x²)` with a degree-5 least-squares fit of `tanh(x)/x`
/// (1.7 ulp); above, `1 − 2/(e^{2|x|} + 1)`, whose result is at least 0.55 so the
/// subtraction loses nothing; the sign is put back at the end.
#[inline(always)]
pub fn tanh_f32<M: MulAdd>(x: f32) -> f32 {
    let a = x.abs();
    let a2 = a * a;
    let mut p = -0.005_709_965_5_f32;
    for c in [
        0.020_642_255,
        -0.053_739_844,
        0.133_314_19,
        -0.333_332_78,
        1.0,
    ] {
        p = M::mul_add(p, a2, c);
    }
    let small = a * p;
    // From a ≈ 44, e^{2a} saturates at 2.2e38, and 1 − 2/2.2e38 rounds to exactly 1.
    let large = 1.0 - 2.0 / (exp_f32_saturating::<M>(2.0 * a) + 1.0);
    let t = if a < 0.625 { small } else { large };
    // NaN stays NaN through both branches; copysign keeps tanh(−0) = −0.
    t.copysign(x)
}

/// `ln(1 + f)` for `1 + f` in [√½, √2), as `f − s·(f − R)` with `s = f/(2 + f)`: then
/// `ln(1 + f) = 2·atanh(s) = 2s + s·R`, `R = 2s²/3 + 2s⁴/5 + …` (the series to `s⁸`, whose
/// remainder is below 1e-9 relative for |s| ≤ 0.172), and `2s = f − s·f`.
#[inline(always)]
fn ln_1p_reduced(f: f32) -> f32 {
    let s = f / (2.0 + f);
    let s2 = s * s;
    let r = s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0))));
    f - s * (f - r)
}

/// `(k, f)` with `x = 2^k·(1 + f)`, `1 + f` in [√½, √2), for a positive normal `x`.
#[inline(always)]
fn ln_split(x: f32) -> (f32, f32) {
    // The exponent of x/√½, taken from the bits: subtracting √½'s bits borrows from the
    // exponent field exactly when the mantissa is below √½'s.
    const SQRT_HALF_BITS: i32 = 0x3f35_04f3;
    let k = (x.to_bits() as i32).wrapping_sub(SQRT_HALF_BITS) >> 23;
    let m = f32::from_bits((x.to_bits() as i32).wrapping_sub(k << 23) as u32);
    (k as f32, m - 1.0)
}

/// The natural logarithm for float32, within about 1 ulp, in selects and arithmetic only
/// so loops over it vectorise (the libm call held `log`, `log1p` and with them softplus
/// and BCE-with-logits to one element at a time). `x = 2^k·(1 + f)` (subnormals scaled
/// up by 2^23 first), `ln x = k·ln2 + ln(1 + f)` with ln2 in two parts so `k·ln2_hi` is
/// exact. 0 gives −∞, negatives and NaN give NaN, +∞ stays +∞.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let sub = x < f32::MIN_POSITIVE;
    let (k, f) = ln_split(if sub { x * 8_388_608.0 } else { x });
    let k = if sub { k - 23.0 } else { k };
    let y = k * LN2_HI + (ln_1p_reduced(f) + k * LN2_LO);
    if x == 0.0 {
        f32::NEG_INFINITY
    } else if x < 0.0 || x.is_nan() {
        f32::NAN
    } else if x == f32::INFINITY {
        x
    } else {
        y
    }
}

/// `ln(1 + x)` for float32, within about 2 ulp, vectorisable like [`ln_f32`]. `u = 1 + x`
/// is rounded; `ln u` plus `(x − (u − 1))/u` (the rounding's first-order effect) restores
/// what it lost, and below 2^-24 in magnitude the result is `x` itself. −1 gives −∞,
/// below −1 NaN.
#[inline(always)]
pub fn ln_1p_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let u = 1.0 + x;
    let (k, f) = ln_split(u);
    // The correction only matters while `u` keeps some of `x`'s bits (below 2^25 or so).
    let c = if u < 33_554_432.0 {
        (x - (u - 1.0)) / u
    } else {
        0.0
    };
    let y = k * LN2_HI + (ln_1p_reduced(f) + (k * LN2_LO + c));
    if x.abs() < 5.960_464_5e-8 {
        x
    } else if x == -1.0 {
        f32::NEG_INFINITY
    } else if x < -1.0 || x.is_nan() {
        f32::NAN
    } else if x == f32::INFINITY {
        x
    } else {
        y
    }
}

/// `erf` for float32, within about 3 ulp of the correctly rounded result, in selects and
/// arithmetic only, so loops over it vectorise (GELU takes one per element; the libm call
/// made `gelu` 16 times slower than PyTorch's vectorised one).
///
/// Below 0.875 in magnitude, `x·P(x²)` with a degree-5 fit of `erf(x)/x` (relative error
/// 2e-8); above, `1 − e^{−x²}·Q(t)` with `t = 1/(1 + x/2)` and a degree-8 fit of
/// `erfc(x)·e^{x²}` (8e-10), `x` clamped at 3.92, from where the result rounds to 1. Both
/// fits are weighted least-squares Chebyshev fits made for this function; the sign is put
/// back at the end.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    // The fit's constant term is 2/√π, as the series'.
    const P: [f32; 6] = [
        std::f32::consts::FRAC_2_SQRT_PI,
        -0.376_125_22,
        0.112_822_95,
        -0.026_787_957,
        0.005_029_259_2,
        -0.000_619_710_6,
    ];
    const Q: [f32; 9] = [
        -0.000_134_816_12,
        0.284_570_66,
        0.262_298_8,
        0.336_532_74,
        -0.073_552_23,
        0.512_54,
        -0.418_300_18,
        0.088_180_42,
        0.007_945_833,
    ];
    let horner = |c: &[f32], t: f32| c.iter().rev().fold(0.0, |r, &k| r * t + k);
    let a = x.abs();
    let small = a * horner(&P, a * a);
    let ac = a.min(3.92);
    let t = 1.0 / (1.0 + 0.5 * ac);
    let large = 1.0 - exp_f32_saturating::<Separate>(-(ac * ac)) * horner(&Q, t);
    let e = if a < 0.875 {
        small
    } else if a < 3.92 {
        large
    } else {
        1.0
    };
    // NaN stays NaN (`small`); copysign keeps erf(−0) = −0.
    let e = if x.is_nan() { x } else { e };
    e.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_int_division() {
        assert_eq!(Num::floor_div(-7i64, 2), -4);
        assert_eq!(Num::rem(-7i64, 2), 1);
        assert_eq!(Num::rem(7i64, -2), -1);
        assert_eq!(Num::rem(-7.5f64, 2.0), 0.5);
        assert_eq!(Num::floor_div(-7.0f64, 2.0), -4.0);
    }

    /// The largest distance, in float32 ulps of the reference, between `f` and the float64
    /// reference `want` at `from, from + step, …` below `to`.
    fn worst_ulp(f: fn(f32) -> f32, want: fn(f64) -> f64, from: f32, to: f32, step: f32) -> f64 {
        let mut worst = 0.0f64;
        let mut x = from;
        while x < to {
            let (got, want) = (f(x) as f64, want(x as f64));
            let ulp = (want.abs() as f32).max(f32::MIN_POSITIVE);
            let ulp = (f32::from_bits(ulp.to_bits() + 1) - ulp) as f64;
            worst = worst.max((got - want).abs() / ulp);
            x += step;
        }
        worst
    }

    #[test]
    fn exp_m1_f32_matches_f64_across_the_range() {
        let em1 = |x: f64| x.exp_m1();
        assert!(worst_ulp(exp_m1_f32, em1, -20.0, 88.7, 0.000_37) <= 2.0);
        assert!(worst_ulp(exp_m1_f32, em1, -1.0, 1.0, 0.000_013) <= 2.0);
        assert!(worst_ulp(exp_m1_f32, em1, -1e-3, 1e-3, 1.3e-7) <= 2.0);
        assert!(worst_ulp(exp_m1_f32, em1, 1e-30, 1e-6, 1.7e-10) <= 2.0);
        assert_eq!(exp_m1_f32(0.0), 0.0);
        assert!(exp_m1_f32(-0.0).is_sign_negative());
        assert_eq!(exp_m1_f32(1e-30), 1e-30);
        assert_eq!(exp_m1_f32(-30.0), -1.0);
        assert_eq!(exp_m1_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(exp_m1_f32(89.0), f32::INFINITY);
        assert_eq!(exp_m1_f32(f32::INFINITY), f32::INFINITY);
        assert!(exp_m1_f32(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_f32_matches_std_across_the_range() {
        tanh_f32_within::<Separate>();
        tanh_f32_within::<Fused>();
    }

    /// `tanh_f32` with the multiply-adds of `M` (`Fused` runs here as the library's `fmaf`,
    /// the same values as the FMA copies' instruction).
    fn tanh_f32_within<M: MulAdd>() {
        let tanh = tanh_f32::<M>;
        let worst = worst_ulp(tanh, f64::tanh, -20.0, 20.0, 0.000_37);
        assert!(worst <= 4.0, "tanh_f32 is {worst} ulp off");
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert!(tanh(-0.0).is_sign_negative());
        assert_eq!(tanh(1e-30), 1e-30);
    }

    #[test]
    fn ln_and_ln_1p_f32_match_f64_across_the_range() {
        let ln = |x: f64| x.ln();
        assert!(worst_ulp(ln_f32, ln, 1e-3, 10.0, 0.000_7) <= 1.0);
        assert!(worst_ulp(ln_f32, ln, 0.5, 2.0, 0.000_013) <= 1.0);
        assert!(worst_ulp(ln_f32, ln, 1e30, 3e38, 1.1e33) <= 1.0);
        let sub = [1e-45f32, 3e-42, 1.1e-38, 1.2e-38];
        for x in sub {
            assert!((ln_f32(x) as f64 - (x as f64).ln()).abs() < 1e-5, "ln({x})");
        }
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f32(1.0), 0.0);
        assert!(ln_f32(-1.0).is_nan() && ln_f32(f32::NAN).is_nan());
        assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
        let ln_1p = |x: f64| x.ln_1p();
        assert!(worst_ulp(ln_1p_f32, ln_1p, -0.999, 10.0, 0.000_9) <= 2.0);
        assert!(worst_ulp(ln_1p_f32, ln_1p, -1e-3, 1e-3, 1.3e-7) <= 2.0);
        assert!(worst_ulp(ln_1p_f32, ln_1p, 1e-30, 1e-6, 1.7e-10) <= 2.0);
        assert!(worst_ulp(ln_1p_f32, ln_1p, 1e6, 1e30, 1.3e26) <= 2.0);
        assert_eq!(ln_1p_f32(-1.0), f32::NEG_INFINITY);
        assert!(ln_1p_f32(-2.0).is_nan() && ln_1p_f32(f32::NAN).is_nan());
        assert_eq!(ln_1p_f32(f32::INFINITY), f32::INFINITY);
        assert!(ln_1p_f32(-0.0).is_sign_negative());
    }

    #[test]
    fn erf_f32_matches_f64_across_the_range() {
        let worst = worst_ulp(erf_f32, libm::erf, -5.0, 5.0, 0.000_13);
        assert!(worst <= 3.0, "erf_f32 is {worst} ulp off");
        let tiny = worst_ulp(erf_f32, libm::erf, 1e-30, 1e-3, 1.1e-7);
        assert!(tiny <= 3.0, "erf_f32 is {tiny} ulp off near 0");
        assert!(erf_f32(f32::NAN).is_nan());
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert!(erf_f32(-0.0).is_sign_negative() && erf_f32(-0.0) == 0.0);
    }

    #[test]
    fn sigmoid_f32_matches_f64_across_the_range() {
        sigmoid_f32_within::<Separate>();
        sigmoid_f32_within::<Fused>();
    }

    fn sigmoid_f32_within<M: MulAdd>() {
        let sigmoid = sigmoid_f32::<M>;
        let worst = worst_ulp(sigmoid, sigmoid_f64::<M>, -88.0, 30.0, 0.000_71);
        assert!(worst <= 3.0, "sigmoid_f32 is {worst} ulp off");
        assert!(sigmoid(f32::NAN).is_nan());
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(sigmoid(0.0), 0.5);
        // Where e^{−x} overflows PyTorch's result is 0; just above, a tiny positive number.
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(-100.0), 0.0);
        let tail = sigmoid(-88.5);
        assert!(tail > 0.0 && tail < 5e-39, "{tail}");
    }

    #[test]
    fn exp_f32_matches_std_across_the_range() {
        let mut worst = 0.0f64;
        let mut x = -103.0f32;
        while x < 88.0 {
            let (a, b) = (exp_f32(x) as f64, (x as f64).exp());
            if b > 1e-37 {
                worst = worst.max(((a - b) / b).abs());
            }
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
    }
}
