//! Elementwise kernels: the numeric traits the kernels are generic over, and the map/zip
//! drivers with their contiguous, scalar, row-broadcast and general strided paths.

use super::conv::Fma;
use super::copy::map_contiguous;
use super::strided::{broadcast_strides, walk_runs};
use super::team;
use super::{team_part, write_new_vec, PAR_THRESHOLD};
use crate::backend::num::Float;
use crate::backend::Fused3;
use crate::tensor::dtype::Element;
use crate::tensor::layout::{numel, Layout};
use std::mem::MaybeUninit;

/// `f` applied to each element of a strided view (unary ops).
pub fn map<A: Element, B: Element>(
    data: &[A],
    layout: &Layout,
    f: impl Fn(A) -> B + Sync,
) -> Vec<B> {
    super::copy::gather_map(data, layout, f)
}

/// `x[i] = f(x[i])` over a contiguous slice (the in-place unary ops), on the threads for
/// large slices.
pub fn map_in_place<T: Element>(x: &mut [T], f: impl Fn(T) -> T + Sync) {
    let n = x.len();
    if n >= PAR_THRESHOLD {
        let parts = x.chunks_mut(team_part(n)).collect();
        team::for_each_part(parts, |p| map_in_place_contiguous(p, &f));
    } else {
        map_in_place_contiguous(x, &f);
    }
}

crate::simd_dispatch! {
    /// `x[i] = f(x[i])` over a contiguous slice.
    fn map_in_place_contiguous<T: Element, F: Fn(T) -> T>(x: &mut [T], f: &F) -> () {
        x.iter_mut().for_each(|v| *v = f(*v));
    }
}

crate::simd_dispatch! {
    /// `out[i] = f(a[i], b[i])` over contiguous slices (the loop every binary op runs).
    /// Writes every element of `out` when the three slices have the same length.
    pub fn zip_contiguous<A: Element, B: Element, C: Element, F: Fn(A, B) -> C>(a: &[A], b: &[B], out: &mut [MaybeUninit<C>], f: &F) -> () {
        out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&x, &y))| {
            o.write(f(x, y));
        });
    }
}

crate::simd_dispatch! {
    /// `out[i] = f(a[i], b[i], c[i])` over contiguous slices (`where` of same-shape operands).
    /// Writes every element of `out` when the four slices have the same length.
    fn zip3_contiguous<A: Element, B: Element, C: Element, D: Element, F: Fn(A, B, C) -> D>(a: &[A], b: &[B], c: &[C], out: &mut [MaybeUninit<D>], f: &F) -> () {
        out.iter_mut().zip(a.iter().zip(b.iter().zip(c))).for_each(|(o, (&x, (&y, &z)))| {
            o.write(f(x, y, z));
        });
    }
}

/// `f(a, b)` over two strided operands broadcast to `out_shape`.
pub fn zip<A: Element, B: Element, C: Element>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    out_shape: &[usize],
    f: impl Fn(A, B) -> C + Sync,
) -> Vec<C> {
    let n = numel(out_shape);
    let (ca, cb) = (la.is_contiguous(), lb.is_contiguous());
    let (na, nb) = (la.numel(), lb.numel());
    if ca && cb && na == n && nb == n {
        let (sa, sb) = (&a[la.offset..], &b[lb.offset..]);
        // SAFETY: `zip_contiguous` writes every element of the chunk it is handed, paired
        // with as many elements of `sa` and `sb` from the chunk's start.
        return unsafe {
            new_in_parts(n, |at, o| {
                zip_contiguous(&sa[at..at + o.len()], &sb[at..at + o.len()], o, &f)
            })
        };
    }
    if nb == 1 && n > 0 && na == n {
        let y = b[lb.offset];
        return map(a, la, |x| f(x, y));
    }
    if na == 1 && n > 0 && nb == n {
        let x = a[la.offset];
        return map(b, lb, |y| f(x, y));
    }
    // Row broadcast (the bias-add shape): a is the full contiguous output, b a contiguous suffix.
    if ca && cb && na == n && nb > 0 && la.shape == out_shape && out_shape.ends_with(&lb.shape) {
        let (sa, sb) = (&a[la.offset..la.offset + n], &b[lb.offset..lb.offset + nb]);
        let body = |(o, x): (&mut [MaybeUninit<C>], &[A])| zip_contiguous(x, sb, o, &f);
        // SAFETY: `n` is a multiple of `nb`, so the `nb`-long chunks of `out` cover it, each
        // paired with an `nb`-long chunk of `sa` and all of `sb`, and `zip_contiguous` writes
        // every element of its output chunk.
        return unsafe {
            write_new_vec(n, |out| {
                if n >= PAR_THRESHOLD {
                    let rows = (n / nb).div_ceil(team::parts());
                    let parts = out.chunks_mut(rows * nb).zip(sa.chunks(rows * nb));
                    team::for_each_part(parts.collect(), |(o, x)| {
                        o.chunks_mut(nb).zip(x.chunks(nb)).for_each(body)
                    });
                } else {
                    out.chunks_mut(nb).zip(sa.chunks(nb)).for_each(body);
                }
            })
        };
    }
    let sa = broadcast_strides(&la.shape, &la.strides, out_shape);
    let sb = broadcast_strides(&lb.shape, &lb.strides, out_shape);
    // SAFETY: each part walks the indices of its own chunk of `out`, in order, and its runs
    // cover that chunk exactly, so every element is written.
    unsafe {
        new_in_parts(n, |start: usize, o: &mut [MaybeUninit<C>]| {
            let (mut i, range) = (0, start..start + o.len());
            let offsets = [la.offset, lb.offset];
            walk_runs(out_shape, [&sa, &sb], offsets, range, |[x, y], len, st| {
                let dst = &mut o[i..i + len];
                match st {
                    [1, 1] => zip_contiguous(&a[x..x + len], &b[y..y + len], dst, &f),
                    [1, 0] => {
                        let y = b[y];
                        map_contiguous(&a[x..x + len], dst, &|x| f(x, y));
                    }
                    [0, 1] => {
                        let x = a[x];
                        map_contiguous(&b[y..y + len], dst, &|y| f(x, y));
                    }
                    [sx, sy] => dst.iter_mut().enumerate().for_each(|(j, d)| {
                        let j = j as isize;
                        let (x, y) = (x as isize + j * sx, y as isize + j * sy);
                        d.write(f(a[x as usize], b[y as usize]));
                    }),
                }
                i += len;
            });
        })
    }
}

/// A new vector of `n` elements, each chunk written by `fill(start, chunk)` (`start` its
/// first index); the chunks shared out between the team when `n` is large.
///
/// # Safety
/// `fill` must write every element of the chunk it is handed.
pub(super) unsafe fn new_in_parts<D: Send>(
    n: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<D>]) + Sync,
) -> Vec<D> {
    // SAFETY: the chunks cover the vector, and the caller vouches that `fill` writes each.
    unsafe {
        write_new_vec(n, |out| {
            if n >= PAR_THRESHOLD {
                let size = team_part(n);
                let parts = out.chunks_mut(size).enumerate();
                team::for_each_part(parts.collect(), |(p, o)| fill(p * size, o));
            } else {
                fill(0, out);
            }
        })
    }
}

/// `f(a, b, c)` over three strided operands broadcast to `out_shape` (where, lerp, clamp).
pub fn zip3<A: Element, B: Element, C: Element, D: Element>(
    (a, la): (&[A], &Layout),
    (b, lb): (&[B], &Layout),
    (c, lc): (&[C], &Layout),
    out_shape: &[usize],
    f: impl Fn(A, B, C) -> D + Sync,
) -> Vec<D> {
    let n = numel(out_shape);
    if [la, lb, lc]
        .iter()
        .all(|l| l.is_contiguous() && l.numel() == n)
    {
        let (sa, sb, sc) = (&a[la.offset..], &b[lb.offset..], &c[lc.offset..]);
        // SAFETY: `zip3_contiguous` writes every element of the chunk it is handed, paired
        // with as many elements of `sa`, `sb` and `sc` from the chunk's start.
        return unsafe {
            new_in_parts(n, |at, o| {
                let r = at..at + o.len();
                zip3_contiguous(&sa[r.clone()], &sb[r.clone()], &sc[r], o, &f)
            })
        };
    }
    // A single-element operand (a number, as in `where(cond, x, 0.0)` and where's own
    // gradient) is a constant of the other two operands' zip, with its fast paths.
    if n > 0 {
        if lc.numel() == 1 {
            let z = c[lc.offset];
            return zip(a, la, b, lb, out_shape, move |x, y| f(x, y, z));
        }
        if lb.numel() == 1 {
            let y = b[lb.offset];
            return zip(a, la, c, lc, out_shape, move |x, z| f(x, y, z));
        }
        if la.numel() == 1 {
            let x = a[la.offset];
            return zip(b, lb, c, lc, out_shape, move |y, z| f(x, y, z));
        }
    }
    let sa = broadcast_strides(&la.shape, &la.strides, out_shape);
    let sb = broadcast_strides(&lb.shape, &lb.strides, out_shape);
    let sc = broadcast_strides(&lc.shape, &lc.strides, out_shape);
    // SAFETY: each part walks the indices of its own chunk of `out`, in order, and its runs
    // cover that chunk exactly, so every element is written.
    unsafe {
        new_in_parts(n, |start: usize, o: &mut [MaybeUninit<D>]| {
            let (mut i, range) = (0, start..start + o.len());
            let offsets = [la.offset, lb.offset, lc.offset];
            walk_runs(
                out_shape,
                [&sa, &sb, &sc],
                offsets,
                range,
                |[x, y, z], len, st| {
                    let dst = &mut o[i..i + len];
                    match st {
                        [1, 1, 1] => {
                            let r = |at: usize| at..at + len;
                            zip3_contiguous(&a[r(x)], &b[r(y)], &c[r(z)], dst, &f)
                        }
                        [sx, sy, sz] => dst.iter_mut().enumerate().for_each(|(j, d)| {
                            let at = |o: usize, s: isize| (o as isize + j as isize * s) as usize;
                            d.write(f(a[at(x, sx)], b[at(y, sy)], c[at(z, sz)]));
                        }),
                    }
                    i += len;
                },
            );
        })
    }
}

/// The [`Fused3`] op of three strided operands broadcast to `out_shape`: for `addcmul`,
/// `add` with alpha and `lerp`, each product and sum rounded once (a fused multiply-add), as
/// PyTorch's CPU kernels compute them; the activations' backward in one pass, as PyTorch's.
pub fn fused3<T: Fma + Float>(
    a: (&[T], &Layout),
    b: (&[T], &Layout),
    c: (&[T], &Layout),
    out_shape: &[usize],
    op: Fused3,
) -> Vec<T> {
    match op {
        Fused3::Addcmul(value) => {
            let v = T::from_f64(value);
            zip3(a, b, c, out_shape, move |x, y, z| x.fma(v.mul(y), z))
        }
        Fused3::AddScaled(alpha) => {
            let alpha = T::from_f64(alpha);
            zip(a.0, a.1, b.0, b.1, out_shape, move |x, y| x.fma(alpha, y))
        }
        Fused3::Lerp(weight) => {
            let half = T::from_f64(0.5);
            let lerp = move |x: T, y: T, w: T| {
                let d = y.sub(x);
                if w.abs() < half {
                    x.fma(w, d)
                } else {
                    y.fma(T::zero().sub(d), T::one().sub(w))
                }
            };
            match weight {
                Some(w) => {
                    let w = T::from_f64(w);
                    zip(a.0, a.1, b.0, b.1, out_shape, move |x, y| lerp(x, y, w))
                }
                None => zip3(a, b, c, out_shape, lerp),
            }
        }
        // Closures, not the functions themselves: a function item's call shim is not
        // inlined by force, and exact GELU's then ran as a call per element.
        Fused3::GeluBackward { tanh: false } => times_derivative(
            a,
            b,
            out_shape,
            #[inline(always)]
            |x| gelu_grad(x),
        ),
        Fused3::GeluBackward { tanh: true } => times_derivative(
            a,
            b,
            out_shape,
            #[inline(always)]
            |x| gelu_tanh_grad(x),
        ),
        Fused3::SiluBackward => times_derivative(
            a,
            b,
            out_shape,
            #[inline(always)]
            |x| silu_grad(x),
        ),
    }
}

/// An activation's backward in one pass: `g·f′(x)` over the gradient `g` and the input `x`
/// (broadcast to `out_shape`), given the derivative `f′`. The closures are inlined by force:
/// left to the compiler, exact GELU's was called per element, at ten times the pass's time.
#[inline(always)]
fn times_derivative<T: Float>(
    (g, lg): (&[T], &Layout),
    (x, lx): (&[T], &Layout),
    out_shape: &[usize],
    derivative: impl Fn(T) -> T + Sync,
) -> Vec<T> {
    zip(
        g,
        lg,
        x,
        lx,
        out_shape,
        #[inline(always)]
        move |g, x| g.mul(derivative(x)),
    )
}

/// `d silu(x) / dx = σ(x)·(1 + x·(1 − σ(x)))`, PyTorch's `silu_backward` formula. PyTorch
/// multiplies the gradient by `σ(x)` first; the product here can differ in the last place.
#[inline(always)]
fn silu_grad<T: Float>(x: T) -> T {
    let s = x.sigmoid();
    s.mul(T::one().add(x.mul(T::one().sub(s))))
}

/// `d gelu(x) / dx = Φ(x) + x·φ(x)`, as PyTorch's `gelu_backward` computes it.
#[inline(always)]
fn gelu_grad<T: Float>(x: T) -> T {
    let half = T::lit(0.5);
    let cdf = half.mul(T::one().add(x.mul(T::lit(std::f64::consts::FRAC_1_SQRT_2)).erf()));
    // 1/√(2π)
    let k = T::lit(0.398_942_280_401_432_7);
    let pdf = k.mul(x.mul(x).mul(T::lit(-0.5)).exp());
    cdf.add(x.mul(pdf))
}

/// The derivative of GELU's tanh approximation `x/2·(1 + tanh(k·(x + c·x³)))`, with
/// `k = √(2/π)`, `c = 0.044715`, as PyTorch's `gelu_backward(approximate='tanh')`.
#[inline(always)]
fn gelu_tanh_grad<T: Float>(x: T) -> T {
    let (k, c) = (
        T::lit((2.0 / std::f64::consts::PI).sqrt()),
        T::lit(0.044715),
    );
    let (half, one) = (T::lit(0.5), T::one());
    let x2 = x.mul(x);
    let t = k.mul(x.add(c.mul(x2).mul(x))).tanh();
    let left = half.mul(one.add(t));
    let inner_grad = k.mul(one.add(T::lit(3.0).mul(c).mul(x2)));
    let right = half.mul(x).mul(one.sub(t.mul(t))).mul(inner_grad);
    left.add(right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_row_broadcast_and_general() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let la = Layout::contiguous(&[2, 3]);
        let b = vec![10f32, 20., 30.];
        let lb = Layout::contiguous(&[3]);
        assert_eq!(
            zip(&a, &la, &b, &lb, &[2, 3], |x, y| x + y),
            vec![10., 21., 32., 13., 24., 35.]
        );
        // Column broadcast goes through the strided walk.
        let c = vec![1f32, 2.];
        let lc = Layout::contiguous(&[2, 1]);
        assert_eq!(
            zip(&a, &la, &c, &lc, &[2, 3], |x, y| x * y),
            vec![0., 1., 2., 6., 8., 10.]
        );
    }
}
