//! Runtime selection of AVX2/FMA and AVX-512 builds of hot loops.

/// Defines `$name`, a function whose body is compiled three times — for the baseline target,
/// with AVX2+FMA and with AVX-512 — and which runs the best copy the CPU supports. The shipped
/// wheel targets plain x86-64, so this is how hot loops get wide vectors.
///
/// The copies compute the same values: Rust never contracts `a * b + c` into a fused
/// multiply-add on its own, so only the vector width differs. A body that wants the fused
/// form where it is one instruction names `CopyMulAdd`, which each copy defines: `Fused` in
/// the AVX2+FMA and AVX-512 copies, `Separate` in the baseline one (see
/// [`MulAdd`](crate::backend::num::MulAdd)); those bodies' copies differ in the last place.
#[macro_export]
macro_rules! simd_dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident<$($g:ident: $bound:path),*>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block
    ) => {
        $(#[$meta])*
        $vis fn $name<$($g: $bound),*>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512<$($g: $bound),*>($($arg: $ty),*) -> $ret {
                    #[allow(dead_code)]
                    type CopyMulAdd = $crate::backend::num::Fused;
                    $body
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $bound),*>($($arg: $ty),*) -> $ret {
                    #[allow(dead_code)]
                    type CopyMulAdd = $crate::backend::num::Fused;
                    $body
                }
                if $crate::cpu::math::has_avx512() {
                    // SAFETY: the CPU was checked to support every feature `avx512` enables.
                    return unsafe { avx512::<$($g),*>($($arg),*) };
                }
                if $crate::cpu::math::has_avx2() {
                    // SAFETY: the CPU was checked to support the features `avx2` enables.
                    return unsafe { avx2::<$($g),*>($($arg),*) };
                }
            }
            fn base<$($g: $bound),*>($($arg: $ty),*) -> $ret {
                #[allow(dead_code)]
                type CopyMulAdd = $crate::backend::num::Separate;
                $body
            }
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
