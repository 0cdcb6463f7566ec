//! Element types, their Rust representations, and PyTorch's type promotion.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `DType::ALL`'s index of the default float dtype.
static DEFAULT_FLOAT: AtomicUsize = AtomicUsize::new(DType::F32 as usize);

/// The element type of a tensor. Names follow PyTorch (`float32`, `int64`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    /// IEEE half precision (`torch.float16`); the CPU computes it in float32.
    F16,
    /// bfloat16 (`torch.bfloat16`): float32's exponent with 8 bits of mantissa.
    BF16,
    F32,
    F64,
}

/// Promotion category, PyTorch's order: bool < integral < floating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Bool,
    Integral,
    Floating,
}

impl DType {
    /// Every dtype, in declaration order (`ALL[d as usize] == d`).
    pub const ALL: [DType; 10] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// The default float dtype (`torch.get_default_dtype()`): what Python floats, float
    /// fills and float-valued ops of integer inputs produce. float32 until set.
    pub fn default_float() -> DType {
        DType::ALL[DEFAULT_FLOAT.load(Ordering::Relaxed)]
    }

    /// Sets the default float dtype for the whole process (`torch.set_default_dtype`);
    /// false (and nothing changes) for a non-float dtype.
    pub fn set_default_float(d: DType) -> bool {
        match DType::ALL.iter().position(|&x| x == d) {
            Some(i) if d.is_float() => {
                DEFAULT_FLOAT.store(i, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
    /// PyTorch's scalar type name (`Float`, `Long`), as its "not implemented for" and
    /// promotion messages print dtypes.
    pub fn scalar_name(self) -> &'static str {
        match self {
            DType::Bool => "Bool",
            DType::U8 => "Byte",
            DType::I8 => "Char",
            DType::I16 => "Short",
            DType::I32 => "Int",
            DType::I64 => "Long",
            DType::F16 => "Half",
            DType::BF16 => "BFloat16",
            DType::F32 => "Float",
            DType::F64 => "Double",
        }
    }
    /// The C++ name of the element type (`long int`), as some of PyTorch's messages
    /// print it.
    pub fn cpp_name(self) -> &'static str {
        match self {
            DType::F16 => "c10::Half",
            DType::BF16 => "c10::BFloat16",
            DType::F32 => "float",
            DType::F64 => "double",
            DType::I64 => "long int",
            DType::I32 => "int",
            DType::I16 => "short int",
            DType::I8 => "signed char",
            DType::U8 => "unsigned char",
            DType::Bool => "bool",
        }
    }
    /// PyTorch's legacy type name (`FloatTensor`) used in some error messages.
    pub fn legacy_name(self) -> &'static str {
        match self {
            DType::Bool => "BoolTensor",
            DType::U8 => "ByteTensor",
            DType::I8 => "CharTensor",
            DType::I16 => "ShortTensor",
            DType::I32 => "IntTensor",
            DType::I64 => "LongTensor",
            DType::F16 => "HalfTensor",
            DType::BF16 => "BFloat16Tensor",
            DType::F32 => "FloatTensor",
            DType::F64 => "DoubleTensor",
        }
    }
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" => DType::Bool,
            "uint8" => DType::U8,
            "int8" => DType::I8,
            "int16" | "short" => DType::I16,
            "int32" | "int" => DType::I32,
            "int64" | "long" => DType::I64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => return None,
        })
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }
    /// `v` rounded to this float dtype's precision (unchanged for float64 and the others).
    pub fn round(self, v: f64) -> f64 {
        match self {
            DType::F16 => half::f16::from_f64(v).to_f64(),
            DType::BF16 => half::bf16::from_f64(v).to_f64(),
            DType::F32 => v as f32 as f64,
            _ => v,
        }
    }
    /// The 16-bit float types, which the CPU backend computes in float32.
    pub fn is_half(self) -> bool {
        matches!(self, DType::F16 | DType::BF16)
    }
    pub fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            d if d.is_float() => Category::Floating,
            _ => Category::Integral,
        }
    }
    /// The dtype both operands are computed in, following PyTorch's `promote_types`.
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        match (a, b) {
            (F64, _) | (_, F64) => F64,
            (F32, _) | (_, F32) => F32,
            // Neither 16-bit type holds the other: they meet in float32, as in PyTorch.
            (F16, BF16) | (BF16, F16) => F32,
            (F16, _) | (_, F16) => F16,
            (BF16, _) | (_, BF16) => BF16,
            (I64, _) | (_, I64) => I64,
            (I32, _) | (_, I32) => I32,
            // uint8 and int8 hold neither each other: they meet in int16, as in PyTorch.
            (I16, _) | (_, I16) | (U8, I8) | (I8, U8) => I16,
            (I8, _) | (_, I8) => I8,
            (U8, _) | (_, U8) => U8,
            _ => Bool,
        }
    }
    /// The dtype a float-valued op (exp, true division, mean) computes in: ints go to the
    /// default float dtype.
    pub fn to_float(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::default_float()
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torch.{}", self.name())
    }
}

/// A Rust type that can be a tensor element.
pub trait Element: Copy + Send + Sync + PartialOrd + fmt::Debug + Default + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn to_i64(self) -> i64;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
    fn from_bool(v: bool) -> Self;
    fn is_nonzero(self) -> bool;
}

/// PyTorch's float-to-integer conversion (C's, as x86 computes it): toward zero, and NaN or
/// a value outside the range gives the range's minimum (`0x80…0`). The range is int64's
/// for int64 (`wide`) and int32's for the others, which keep the int32's low bits (so 300.7
/// is 44 in uint8, 3e9 is 0).
#[inline(always)]
pub fn float_to_int(v: f64, wide: bool) -> i64 {
    if wide {
        if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
            v as i64
        } else {
            i64::MIN
        }
    } else if v > -2_147_483_649.0 && v < 2_147_483_648.0 {
        v as i32 as i64
    } else {
        i32::MIN as i64
    }
}

macro_rules! impl_element_num {
    ($t:ty, $dt:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dt;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn from_bool(v: bool) -> Self {
                v as u8 as $t
            }
            #[inline(always)]
            fn is_nonzero(self) -> bool {
                self != (0 as $t)
            }
        }
    };
}
impl_element_num!(f32, DType::F32);
impl_element_num!(f64, DType::F64);
impl_element_num!(i64, DType::I64);
impl_element_num!(i32, DType::I32);
impl_element_num!(i16, DType::I16);
impl_element_num!(i8, DType::I8);
impl_element_num!(u8, DType::U8);

macro_rules! impl_element_half {
    ($t:ty, $dt:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dt;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self.to_f64()
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self.to_f64() as i64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                // Through float32, as PyTorch converts doubles to 16-bit floats.
                <$t>::from_f32(v as f32)
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                <$t>::from_f32(v as f64 as f32)
            }
            #[inline(always)]
            fn from_bool(v: bool) -> Self {
                <$t>::from_f32(v as u8 as f32)
            }
            #[inline(always)]
            fn is_nonzero(self) -> bool {
                self.to_f32() != 0.0
            }
        }
    };
}
impl_element_half!(half::f16, DType::F16);
impl_element_half!(half::bf16, DType::BF16);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    #[inline(always)]
    fn from_bool(v: bool) -> Self {
        v
    }
    #[inline(always)]
    fn is_nonzero(self) -> bool {
        self
    }
}

/// Converts one element to another dtype with C cast semantics (float→int truncates), as
/// PyTorch's `to(dtype)` does.
#[inline(always)]
pub fn cast<A: Element, B: Element>(a: A) -> B {
    if B::DTYPE.is_float() || B::DTYPE == DType::Bool {
        B::from_f64(a.to_f64())
    } else if A::DTYPE.is_float() {
        B::from_i64(float_to_int(a.to_f64(), B::DTYPE == DType::I64))
    } else {
        B::from_i64(a.to_i64())
    }
}

/// A Python number taking part in an op. It never widens a tensor's dtype within its
/// category (a float32 tensor times 2.5 stays float32), as PyTorch's "wrapped numbers".
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    /// The dtype a wrapped number stands for in promotion (floats: the default dtype).
    pub fn dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::I64,
            Scalar::Float(_) => DType::default_float(),
        }
    }
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as u8 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
    /// The number as an element of type `T` (integers exactly, floats with C casts).
    /// Whether this value overflows a `dtype` element (PyTorch's `c10::overflows`): an
    /// integer outside the type's range (unsigned types also take negatives down to `-max`,
    /// which wrap), a float beyond a float type's largest finite value, and any NaN or
    /// infinity for an integer type. Bools take anything.
    pub fn overflows(self, dtype: DType) -> bool {
        let (lo, hi) = match dtype {
            DType::Bool | DType::F64 => return false,
            DType::U8 => (-255.0, 255.0),
            DType::I8 => (i8::MIN as f64, i8::MAX as f64),
            DType::I16 => (i16::MIN as f64, i16::MAX as f64),
            DType::I32 => (i32::MIN as f64, i32::MAX as f64),
            // `[-2^63, 2^63)`: every int64, and the floats that truncate into one.
            DType::I64 => (-(2f64.powi(63)), 2f64.powi(63)),
            DType::F16 => (-65504.0, 65504.0),
            DType::BF16 => (-3.3895314e38, 3.3895314e38),
            DType::F32 => (f32::MIN as f64, f32::MAX as f64),
        };
        match self {
            Scalar::Bool(_) => false,
            Scalar::Int(_) if dtype == DType::I64 => false,
            Scalar::Int(i) if dtype == DType::I32 => i32::try_from(i).is_err(),
            Scalar::Int(i) => (i as f64) < lo || (i as f64) > hi,
            Scalar::Float(f) if !f.is_finite() => !dtype.is_float(),
            Scalar::Float(f) if dtype == DType::I64 => !(f >= lo && f < hi),
            Scalar::Float(f) => f < lo || f > hi,
        }
    }

    /// PyTorch's `checked_convert` for a value written into a `dtype` tensor (`full`,
    /// `fill_`): [`Scalar::overflows`] is `RuntimeError: value cannot be converted to type
    /// T without overflow`, `T` the C++ type's name.
    pub fn check_fits(self, dtype: DType) -> crate::error::Result<()> {
        if !self.overflows(dtype) {
            return Ok(());
        }
        let name = match dtype {
            DType::Bool => "bool",
            DType::U8 => "uint8_t",
            DType::I8 => "int8_t",
            DType::I16 => "int16_t",
            DType::I32 => "int",
            DType::I64 => "int64_t",
            DType::F16 => "c10::Half",
            DType::BF16 => "c10::BFloat16",
            DType::F32 => "float",
            DType::F64 => "double",
        };
        Err(crate::error::Error::Runtime(format!(
            "value cannot be converted to type {name} without overflow"
        )))
    }

    pub fn to_elem<T: Element>(self) -> T {
        match self {
            Scalar::Int(i) if !T::DTYPE.is_float() => T::from_i64(i),
            Scalar::Bool(b) => T::from_bool(b),
            _ => cast::<f64, T>(self.to_f64()),
        }
    }
}

impl From<f64> for Scalar {
    fn from(v: f64) -> Scalar {
        Scalar::Float(v)
    }
}
impl From<i64> for Scalar {
    fn from(v: i64) -> Scalar {
        Scalar::Int(v)
    }
}

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident, $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Like [`with_dtype!`] for the dtypes with arithmetic kernels; `bool` and the 16-bit
/// floats (which the CPU computes in float32) take the `$other` arm.
#[macro_export]
macro_rules! with_numeric_dtype {
    ($dtype:expr, $T:ident, $body:expr, $on_bool:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::Bool | $crate::DType::F16 | $crate::DType::BF16 => $on_bool,
        }
    };
}

/// Like [`with_dtype!`] for float32 and float64; others (the 16-bit floats included) take
/// the `$other` arm.
#[macro_export]
macro_rules! with_float_dtype {
    ($dtype:expr, $T:ident, $body:expr, $other:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $other,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(DType::promote(DType::I64, DType::F32), DType::F32);
        assert_eq!(DType::promote(DType::F32, DType::F64), DType::F64);
        assert_eq!(DType::promote(DType::I32, DType::I64), DType::I64);
        assert_eq!(DType::promote(DType::Bool, DType::U8), DType::U8);
    }
    #[test]
    fn cast_truncates_like_c() {
        assert_eq!(cast::<f32, i64>(-2.7), -2);
        assert!(cast::<f64, bool>(0.5));
        assert_eq!(cast::<i64, f32>(3), 3.0);
    }
}
