//! Copies between layouts and dtypes: gathering a strided view into a contiguous buffer,
//! casting, and writing a buffer into a strided destination.

use super::strided::{broadcast_strides, walk};
use super::{write_new_vec, PAR_THRESHOLD};
use crate::tensor::dtype::{cast, Element};
use crate::tensor::layout::Layout;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The elements of `layout` over `data`, contiguous, in row-major order.
pub fn gather<T: Element>(data: &[T], layout: &Layout) -> Vec<T> {
    gather_map(data, layout, |x| x)
}

/// Gathers and converts each element with `f`; parallel over the leading dim when large.
pub fn gather_map<A: Element, B: Element>(
    data: &[A],
    layout: &Layout,
    f: impl Fn(A) -> B + Sync,
) -> Vec<B> {
    let n = layout.numel();
    if n == 0 {
        return Vec::new();
    }
    if layout.is_contiguous() {
        let src = &data[layout.offset..layout.offset + n];
        // SAFETY: the chunks of `out` cover it and pair with chunks of `src` of the same
        // length, and `map_contiguous` writes every element of its output chunk.
        return unsafe {
            write_new_vec(n, |out| {
                if n >= PAR_THRESHOLD {
                    let part = super::team_part(n);
                    let parts = out.chunks_mut(part).zip(src.chunks(part));
                    super::team::for_each_part(parts.collect(), |(o, s)| map_contiguous(s, o, &f));
                } else {
                    map_contiguous(src, out, &f);
                }
            })
        };
    }
    let mut out = vec![B::default(); n];
    let rows = layout.shape[0];
    if n >= PAR_THRESHOLD && rows > 1 {
        let row_len = n / rows;
        out.par_chunks_mut(row_len).enumerate().for_each(|(r, o)| {
            let off = (layout.offset as isize + r as isize * layout.strides[0]) as usize;
            let mut i = 0;
            walk(&layout.shape[1..], [&layout.strides[1..]], [off], |[s]| {
                o[i] = f(data[s]);
                i += 1;
            });
        });
    } else {
        let mut i = 0;
        walk(&layout.shape, [&layout.strides], [layout.offset], |[s]| {
            out[i] = f(data[s]);
            i += 1;
        });
    }
    out
}

crate::simd_dispatch! {
    /// `out[i] = f(src[i])` over contiguous slices (the loop every unary op runs); writes
    /// every element of `out` when the slices have the same length.
    pub fn map_contiguous<A: Element, B: Element, F: Fn(A) -> B>(src: &[A], out: &mut [MaybeUninit<B>], f: &F) -> () {
        out.iter_mut().zip(src).for_each(|(o, &s)| {
            o.write(f(s));
        });
    }
}

/// Writes `src` (broadcast to `dl`'s shape, cast to `D`) into `dst`'s strided view `dl`.
///
/// `src` must not alias `dst`; callers copy it first if it does.
pub fn copy_into<D: Element, S: Element>(dst: &mut [D], dl: &Layout, s: &[S], sl: &Layout) {
    if dl.numel() == 0 {
        return;
    }
    if dl.is_contiguous() && sl.is_contiguous() && sl.shape == dl.shape {
        let n = dl.numel();
        let (d, s) = (
            &mut dst[dl.offset..dl.offset + n],
            &s[sl.offset..sl.offset + n],
        );
        let body =
            |(d, s): (&mut [D], &[S])| d.iter_mut().zip(s).for_each(|(d, &s)| *d = cast::<S, D>(s));
        if n >= PAR_THRESHOLD {
            d.par_chunks_mut(1 << 16)
                .zip(s.par_chunks(1 << 16))
                .for_each(body);
        } else {
            body((d, s));
        }
        return;
    }
    let sstrides = broadcast_strides(&sl.shape, &sl.strides, &dl.shape);
    walk(
        &dl.shape,
        [&dl.strides, &sstrides],
        [dl.offset, sl.offset],
        |[od, os]| {
            dst[od] = cast::<S, D>(s[os]);
        },
    );
}

/// Fills the strided view `l` of `dst` with one value.
pub fn fill<T: Element>(dst: &mut [T], l: &Layout, value: T) {
    if l.is_contiguous() {
        dst[l.offset..l.offset + l.numel()].fill(value);
    } else {
        walk(&l.shape, [&l.strides], [l.offset], |[o]| dst[o] = value);
    }
}
