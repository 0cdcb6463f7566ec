//! Separable resampling on the CPU: one axis of a contiguous `[outer, input, inner]`
//! buffer, each output position a weighted sum of its span of sources (see
//! [`ResampleAxis`]): in the float dtype itself, or in PyTorch's uint8 fixed point.
//!
//! Both directions multiply-add whole vectors of independent sums: along another axis
//! (`inner > 1`, PyTorch's vertical pass) an output line is the weighted sum of its span's
//! `inner`-long source lines; along the last axis (`inner == 1`, the horizontal pass)
//! blocks of [`ROWS`] rows are first transposed into a tile, so that each tap is one
//! multiply-add over the block's rows side by side. The blocks (or `outer` planes) are
//! shared out over the team when the result is large.

use super::window::per_plane;
use crate::backend::num::Num;
use crate::backend::ResampleAxis;
use crate::simd_dispatch;
use std::marker::PhantomData;

/// The rows one horizontal block resamples side by side (one AVX-512 vector of int32 or
/// float32).
const ROWS: usize = 16;

/// How one output's weighted sum is kept and ended.
trait Weighing: Sync {
    /// The elements read and written.
    type Elem: Copy + Default + Send + Sync;
    /// A weight.
    type W: Copy + Sync;
    /// A running sum.
    type Acc: Copy;
    fn start(&self) -> Self::Acc;
    fn mac(acc: Self::Acc, w: Self::W, v: Self::Elem) -> Self::Acc;
    fn end(&self, acc: Self::Acc) -> Self::Elem;
}

/// Sums in the float dtype itself.
struct Plain<T>(PhantomData<T>);

impl<T: Num> Weighing for Plain<T> {
    type Elem = T;
    type W = T;
    type Acc = T;
    #[inline(always)]
    fn start(&self) -> T {
        T::zero()
    }
    #[inline(always)]
    fn mac(acc: T, w: T, v: T) -> T {
        acc.add(w.mul(v))
    }
    #[inline(always)]
    fn end(&self, acc: T) -> T {
        acc
    }
}

/// PyTorch's uint8 fixed point: int32 sums of int16 weights with `bits` fractional bits,
/// rounded half up by starting at `2^(bits−1)`, then shifted and clamped to a byte.
struct Fixed {
    bits: u32,
}

impl Weighing for Fixed {
    type Elem = u8;
    type W = i16;
    type Acc = i32;
    #[inline(always)]
    fn start(&self) -> i32 {
        1 << (self.bits - 1)
    }
    /// Wrapping, as PyTorch's int arithmetic would (the weights' scale keeps real sums
    /// below 2^31).
    #[inline(always)]
    fn mac(acc: i32, w: i16, v: u8) -> i32 {
        acc.wrapping_add(i32::from(w).wrapping_mul(i32::from(v)))
    }
    #[inline(always)]
    fn end(&self, acc: i32) -> u8 {
        (acc >> self.bits).clamp(0, 255) as u8
    }
}

/// Output position `o`'s weights, one per source of its span.
#[inline(always)]
fn taps<W>(p: &ResampleAxis<W>, o: usize) -> &[W] {
    &p.weights[o * p.taps..][..p.len[o]]
}

/// One axis of a separable resampling of the float `x` (see [`ResampleAxis`]), summed in
/// `T` with the weights rounded to `T`.
pub fn resample_axis<T: Num>(x: &[T], p: &ResampleAxis<f64>) -> Vec<T> {
    run(x, &p.map_weights(|&w| T::from_f64(w)), &Plain(PhantomData))
}

/// One axis of PyTorch's uint8 resampling of `x`, `bits` of the weights fractional.
pub fn resample_u8(x: &[u8], p: &ResampleAxis<i16>, bits: u32) -> Vec<u8> {
    run(x, p, &Fixed { bits })
}

fn run<S: Weighing>(x: &[S::Elem], p: &ResampleAxis<S::W>, s: &S) -> Vec<S::Elem> {
    let mut out = vec![S::Elem::default(); p.outer * p.output * p.inner];
    if p.inner == 1 {
        per_plane(&mut out, ROWS * p.output, |b, out| {
            row_block(&x[b * ROWS * p.input..], p, s, out)
        });
    } else {
        let (block_in, block_out) = (p.input * p.inner, p.output * p.inner);
        per_plane(&mut out, block_out, |b, out| {
            lines(&x[b * block_in..][..block_in], p, s, out)
        });
    }
    out
}

simd_dispatch! {
    /// The rows of `out` (up to [`ROWS`], `p.output` long) from the rows of `x` (`p.input`
    /// long) along their length.
    fn row_block<S: Weighing>(x: &[S::Elem], p: &ResampleAxis<S::W>, s: &S, out: &mut [S::Elem]) -> () {
        let rows = out.len() / p.output;
        // tile[i·ROWS + r] = source i of row r.
        let mut tile = vec![S::Elem::default(); p.input * ROWS];
        for (r, row) in x.chunks_exact(p.input).take(rows).enumerate() {
            for (t, &v) in tile.chunks_exact_mut(ROWS).zip(row) {
                t[r] = v;
            }
        }
        for o in 0..p.output {
            let mut acc = [s.start(); ROWS];
            for (j, &w) in taps(p, o).iter().enumerate() {
                let column = &tile[(p.start[o] + j) * ROWS..][..ROWS];
                for (a, &v) in acc.iter_mut().zip(column) {
                    *a = S::mac(*a, w, v);
                }
            }
            for (r, &a) in acc.iter().take(rows).enumerate() {
                out[r * p.output + o] = s.end(a);
            }
        }
    }
}

simd_dispatch! {
    /// One `[output, inner]` plane of `out` from the `[input, inner]` plane `x`: each output
    /// line the weighted sum of its span's source lines.
    fn lines<S: Weighing>(x: &[S::Elem], p: &ResampleAxis<S::W>, s: &S, out: &mut [S::Elem]) -> () {
        let mut acc = vec![s.start(); p.inner];
        for (o, y) in out.chunks_exact_mut(p.inner).enumerate() {
            acc.fill(s.start());
            for (j, &w) in taps(p, o).iter().enumerate() {
                let line = &x[(p.start[o] + j) * p.inner..][..p.inner];
                for (a, &v) in acc.iter_mut().zip(line) {
                    *a = S::mac(*a, w, v);
                }
            }
            for (y, &a) in y.iter_mut().zip(&acc) {
                *y = s.end(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sums of [`ResampleAxis`] written out: `mac` folded over each output's sources
    /// from `start`.
    fn sums<W: Copy, V: Copy, A: Copy>(
        p: &ResampleAxis<W>,
        x: &[V],
        start: A,
        mac: impl Fn(A, W, V) -> A,
    ) -> Vec<A> {
        let mut out = Vec::new();
        for b in 0..p.outer {
            for o in 0..p.output {
                for c in 0..p.inner {
                    let at = |j: usize| x[(b * p.input + p.start[o] + j) * p.inner + c];
                    out.push(
                        (0..p.len[o]).fold(start, |a, j| mac(a, p.weights[o * p.taps + j], at(j))),
                    );
                }
            }
        }
        out
    }

    /// Both directions, blocks of rows with a ragged last one, clipped sums, in uint8
    /// fixed point and in float64.
    #[test]
    fn matches_the_formula() {
        for (outer, input, inner, output) in
            [(37, 9, 1, 5), (3, 6, 5, 11), (1, 4, 1, 9), (21, 7, 1, 12)]
        {
            let p = ResampleAxis::test_case(outer, input, inner, output, 3, |i| {
                ((i * 53) % 300) as i16 - 80
            });
            let x: Vec<u8> = (0..outer * input * inner)
                .map(|i| (i * 97 % 256) as u8)
                .collect();
            let want: Vec<u8> = sums(&p, &x, 1 << 5, |a: i32, w, v| {
                a + i32::from(w) * i32::from(v)
            })
            .into_iter()
            .map(|a| (a >> 6).clamp(0, 255) as u8)
            .collect();
            assert_eq!(resample_u8(&x, &p, 6), want, "{p:?}");
            let p = p.map_weights(|&w| f64::from(w) * 0.25);
            let x: Vec<f64> = x.iter().map(|&v| f64::from(v) - 100.0).collect();
            assert_eq!(
                resample_axis(&x, &p),
                sums(&p, &x, 0.0, |a, w, v| a + w * v),
                "{p:?}"
            );
        }
    }
}
