//! The attention weights of one (batch, head) at a time: scale, mask, softmax and dropout of
//! each row of the scores in one pass over it, and the input gradient in one more
//! (`Backend::attention_softmax`, `crate::ops::attention`).

use super::reduce::{pairwise_sum, row_max, thread_block, MAX_LANES};
use crate::backend::num::Float;
use crate::backend::AttnRows;
use crate::tensor::layout::Layout;
use std::mem::MaybeUninit;

/// A call's rows (see [`AttnRows`]) with its operands in the element type.
pub struct Rows<'a, T> {
    pub a: &'a AttnRows,
    /// `a.scale` in the element type.
    pub scale: T,
    /// An additive mask and its layout over the scores' shape (broadcast dims stride 0).
    pub mask: Option<(&'a [T], &'a Layout)>,
    /// Dropout: the kept positions (`rows × len`) and the survivors' factor `1/(1 − p)`.
    pub keep: Option<(&'a [bool], T)>,
}

impl<T: Copy> Rows<'_, T> {
    /// Where row `r` of the mask starts, and its stride along the row.
    #[inline]
    fn mask_row(&self, r: usize) -> Option<(&[T], usize, usize)> {
        let (m, l) = self.mask?;
        let nd = l.shape.len();
        let mut rest = r;
        let mut off = l.offset as isize;
        for d in (0..nd - 1).rev() {
            let s = l.shape[d];
            off += (rest % s) as isize * l.strides[d];
            rest /= s;
        }
        Some((m, off as usize, l.strides[nd - 1] as usize))
    }
}

crate::simd_dispatch! {
    /// The weights of the rows `r0..` of `x` held in `x` (whole rows): `y = softmax(scale·x +
    /// mask)` with the causal positions at −∞ (a fully masked row gives NaN, or zeros when
    /// `safe`), and with dropout `out = keep·y/(1 − p)` (`out` empty without it). Every
    /// element of `y` and `out` is written.
    pub fn attention_block<T: Float>(x: &[T], y: &mut [MaybeUninit<T>], out: &mut [MaybeUninit<T>], r0: usize, a: &Rows<'_, T>) -> () {
        let len = a.a.len;
        let neg_inf = T::lit(f64::NEG_INFINITY);
        for (k, (yr, xr)) in y.chunks_exact_mut(len).zip(x.chunks_exact(len)).enumerate() {
            let r = r0 + k;
            match a.mask_row(r) {
                None => {
                    for (o, &x) in yr.iter_mut().zip(xr) {
                        o.write(x.mul(a.scale));
                    }
                }
                Some((m, off, 1)) => {
                    for ((o, &x), &m) in yr.iter_mut().zip(xr).zip(&m[off..off + len]) {
                        o.write(x.mul(a.scale).add(m));
                    }
                }
                Some((m, off, ms)) => {
                    for (j, (o, &x)) in yr.iter_mut().zip(xr).enumerate() {
                        o.write(x.mul(a.scale).add(m[off + j * ms]));
                    }
                }
            }
            // SAFETY: the loop above wrote every element of the row.
            let yr = unsafe { std::slice::from_raw_parts_mut(yr.as_mut_ptr().cast::<T>(), len) };
            if let Some(l) = a.a.causal {
                let first_masked = (r % l + 1).min(len);
                yr[first_masked..].iter_mut().for_each(|v| *v = neg_inf);
            }
            let m = row_max(yr);
            if m.is_inf() && m > T::zero() {
                // A +inf in the row: every weight is NaN, as softmax's.
                yr.iter_mut().for_each(|v| *v = T::lit(f64::NAN));
            } else if m.is_inf() && a.a.safe {
                // Every key left out: zeros, as PyTorch's `_safe_softmax`.
                yr.iter_mut().for_each(|v| *v = T::zero());
            } else {
                // An all −∞ row shifts by 0 and gives 0/0 = NaN, as softmax's.
                let m = if m.is_inf() { T::zero() } else { m };
                let mut lanes = [T::zero(); MAX_LANES];
                let mut chunks = yr.chunks_exact_mut(MAX_LANES);
                for c in &mut chunks {
                    for k in 0..MAX_LANES {
                        c[k] = c[k].sub(m).exp();
                        lanes[k] = lanes[k].add(c[k]);
                    }
                }
                for v in chunks.into_remainder() {
                    *v = v.sub(m).exp();
                    lanes[0] = lanes[0].add(*v);
                }
                let inv = T::one().div(pairwise_sum(&lanes));
                yr.iter_mut().for_each(|v| *v = v.mul(inv));
            }
            if let Some((keep, ks)) = a.keep {
                let o = &mut out[k * len..(k + 1) * len];
                let kr = &keep[r * len..(r + 1) * len];
                for ((o, &y), &kept) in o.iter_mut().zip(yr.iter()).zip(kr) {
                    o.write(if kept { y.mul(ks) } else { T::zero() });
                }
            }
        }
    }
}

/// The weights of every row (see [`attention_block`]): `(y, out)`, `out` empty without
/// dropout. Large inputs are split into one block of whole rows per thread.
pub fn attention_rows<T: Float>(x: &[T], a: &Rows<'_, T>) -> (Vec<T>, Vec<T>) {
    let len = a.a.len;
    let rows = x.len().checked_div(len).unwrap_or(0);
    let n = if rows == 0 { 0 } else { x.len() };
    let block = thread_block(rows, len).max(1);
    let on = a.keep.is_some();
    let mut out = Vec::<T>::with_capacity(if on { n } else { 0 });
    // SAFETY: the blocks cover `y` (and `out` with dropout), each paired with the same rows
    // of `x`, and `attention_block` writes every element of its blocks.
    let y = unsafe {
        super::write_new_vec(n, |y| {
            let spare = &mut out.spare_capacity_mut()[..if on { n } else { 0 }];
            let outs: Vec<&mut [MaybeUninit<T>]> = if on {
                spare.chunks_mut(block).collect()
            } else {
                (0..y.len().div_ceil(block)).map(|_| &mut [][..]).collect()
            };
            let items: Vec<_> = y
                .chunks_mut(block)
                .zip(outs)
                .zip(x.chunks(block))
                .enumerate()
                .collect();
            super::team::for_each_part(items, |(i, ((y, o), x))| {
                attention_block(x, y, o, i * block / len, a)
            });
        })
    };
    if on {
        // SAFETY: the blocks above wrote all `n` elements of `out`'s capacity.
        unsafe { out.set_len(n) };
    }
    (y, out)
}

crate::simd_dispatch! {
    /// The scores' gradient of the rows `r0..` from the weights `y` and the gradient `g` of
    /// the op's output: with `gd = g·keep/(1 − p)` (`g` without dropout),
    /// `scale·y·(gd − Σ gd·y)`. Every element of `out` is written.
    pub fn attention_backward_block<T: Float>(y: &[T], g: &[T], out: &mut [MaybeUninit<T>], r0: usize, a: &Rows<'_, T>) -> () {
        let len = a.a.len;
        let rows = out.chunks_exact_mut(len).zip(y.chunks_exact(len).zip(g.chunks_exact(len)));
        for (k, (o, (y, g))) in rows.enumerate() {
            let r = r0 + k;
            // The weights' gradient `gd` first, in the output.
            match a.keep {
                Some((keep, ks)) => {
                    for ((o, &g), &kept) in o.iter_mut().zip(g).zip(&keep[r * len..(r + 1) * len]) {
                        o.write(if kept { g.mul(ks) } else { T::zero() });
                    }
                }
                None => {
                    for (o, &g) in o.iter_mut().zip(g) {
                        o.write(g);
                    }
                }
            }
            // SAFETY: the loops above wrote every element of the row.
            let o = unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr().cast::<T>(), len) };
            let mut lanes = [T::zero(); MAX_LANES];
            let (oc, yc) = (o.chunks_exact(MAX_LANES), y.chunks_exact(MAX_LANES));
            let tail = oc.remainder().len();
            for (o, y) in oc.zip(yc) {
                for k in 0..MAX_LANES {
                    lanes[k] = lanes[k].add(o[k].mul(y[k]));
                }
            }
            for (&o, &y) in o[len - tail..].iter().zip(&y[len - tail..]) {
                lanes[0] = lanes[0].add(o.mul(y));
            }
            let s = pairwise_sum(&lanes);
            for (o, &y) in o.iter_mut().zip(y) {
                *o = a.scale.mul(y.mul(o.sub(s)));
            }
        }
    }
}

/// The scores' gradient of every row (see [`attention_backward_block`]), split into one
/// block of whole rows per thread when large.
pub fn attention_backward_rows<T: Float>(y: &[T], g: &[T], a: &Rows<'_, T>) -> Vec<T> {
    let len = a.a.len;
    let rows = y.len().checked_div(len).unwrap_or(0);
    if rows == 0 {
        return vec![T::zero(); y.len()];
    }
    let block = thread_block(rows, len);
    // SAFETY: the blocks cover the output, each paired with the same rows of `y` and `g`,
    // and `attention_backward_block` writes every element of its block.
    unsafe {
        super::write_new_vec(y.len(), |out| {
            let items: Vec<_> = out
                .chunks_mut(block)
                .zip(y.chunks(block).zip(g.chunks(block)))
                .enumerate()
                .collect();
            super::team::for_each_part(items, |(i, (o, (y, g)))| {
                attention_backward_block(y, g, o, i * block / len, a)
            });
        })
    }
}
