//! Branch-free math kernels the compiler can vectorise (the C library's `expf` is an opaque
//! call per element), and runtime selection of an AVX2/FMA build of hot loops.

/// `exp` for float32, within about 2 ulp of the correctly rounded result.
///
/// Cody–Waite reduction `x = n·ln2 + r` (|r| ≤ ln2/2), a degree-7 Taylor polynomial for
/// `e^r`, and `2^n` built from exponent bits in two factors so results that are subnormal
/// in float32 come out right. Every step is a select or an arithmetic op, so loops over it
/// vectorise.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-104.0, 89.0);
    let shifted = xc * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n as two normal factors (n ∈ [-150, 129] after the clamp).
    // `n` read from the low mantissa bits of `shifted` (an integer plus 1.5·2^23), as
    // `n as i32` would not vectorise (it saturates and maps NaN to 0 lane by lane).
    let ni = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
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

/// Defines `$name`, a function whose body is compiled three times — for the baseline target,
/// with AVX2+FMA and with AVX-512 — and which runs the best copy the CPU supports. The shipped
/// wheel targets plain x86-64, so this is how hot loops get wide vectors.
///
/// The copies compute the same values: Rust never contracts `a * b + c` into a fused
/// multiply-add on its own, so only the vector width differs.
#[macro_export]
macro_rules! simd_dispatch {
    (
        $(#[$meta:meta])*
        pub fn $name:ident<$($g:ident: $bound:path),*>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block
    ) => {
        $(#[$meta])*
        pub fn $name<$($g: $bound),*>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512<$($g: $bound),*>($($arg: $ty),*) -> $ret $body
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $bound),*>($($arg: $ty),*) -> $ret $body
                if $crate::cpu::math::has_avx512() {
                    // SAFETY: the CPU was checked to support every feature `avx512` enables.
                    return unsafe { avx512::<$($g),*>($($arg),*) };
                }
                if $crate::cpu::math::has_avx2() {
                    // SAFETY: the CPU was checked to support the features `avx2` enables.
                    return unsafe { avx2::<$($g),*>($($arg),*) };
                }
            }
            fn base<$($g: $bound),*>($($arg: $ty),*) -> $ret $body
            base::<$($g),*>($($arg),*)
        }
    };
}

/// Whether this CPU runs the AVX-512 copies of `simd_dispatch!` functions (F, BW, DQ, VL).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512dq")
        && std::is_x86_feature_detected!("avx512vl")
        && has_avx2()
}

/// Whether this CPU runs the AVX2+FMA copies of `simd_dispatch!` functions.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(test)]
mod tests {
    use super::*;

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
