//! Copies between layouts and dtypes: gathering a strided view into a contiguous buffer,
//! casting, and writing a buffer into a strided destination.

use super::strided::{broadcast_strides, walk};
use super::{write_new_vec, PAR_THRESHOLD};
use crate::tensor::dtype::{cast, Element};
use crate::tensor::layout::Layout;
use crate::tensor::storage::Storage;
use crate::Tensor;
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
                    out.par_chunks_mut(1 << 16)
                        .zip(src.par_chunks(1 << 16))
                        .for_each(|(o, s)| map_contiguous(s, o, &f));
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

/// A tensor's elements converted to `T`, row-major.
pub fn to_vec_as<T: Element>(t: &Tensor) -> Vec<T> {
    let l = t.layout();
    crate::with_dtype!(
        t.dtype(),
        S,
        gather_map(t.storage().as_slice::<S>(), l, cast::<S, T>)
    )
}

/// Writes `src` (broadcast to `dst`'s shape, cast to its dtype) into `dst`'s strided view.
///
/// `src` must not share storage with `dst`; callers copy it first if it does.
pub fn copy_into(dst: &Tensor, src: &Tensor) {
    debug_assert!(!dst.shares_storage(src));
    let dl = dst.layout();
    let sl = src.layout();
    if dl.numel() == 0 {
        return;
    }
    let sstrides = broadcast_strides(&sl.shape, &sl.strides, &dl.shape);
    crate::with_dtype!(dst.dtype(), D, {
        // SAFETY: dst's storage is distinct from src's (asserted above) and this is the only
        // writer; every offset walked lies inside dst's layout span, which lies in its storage.
        let d: &mut [D] = unsafe { dst.storage().as_mut_slice::<D>() };
        crate::with_dtype!(src.dtype(), S, {
            let s: &[S] = src.storage().as_slice::<S>();
            if dl.is_contiguous() && sl.is_contiguous() && sl.shape == dl.shape {
                let n = dl.numel();
                let (d, s) = (
                    &mut d[dl.offset..dl.offset + n],
                    &s[sl.offset..sl.offset + n],
                );
                let body = |(d, s): (&mut [D], &[S])| {
                    d.iter_mut().zip(s).for_each(|(d, &s)| *d = cast::<S, D>(s))
                };
                if n >= PAR_THRESHOLD {
                    d.par_chunks_mut(1 << 16)
                        .zip(s.par_chunks(1 << 16))
                        .for_each(body);
                } else {
                    body((d, s));
                }
                return;
            }
            walk(
                &dl.shape,
                [&dl.strides, &sstrides],
                [dl.offset, sl.offset],
                |[od, os]| {
                    d[od] = cast::<S, D>(s[os]);
                },
            );
        })
    });
}

/// Fills `dst`'s strided view with one value.
pub fn fill<T: Element>(dst: &Tensor, value: T) {
    let l = dst.layout();
    // SAFETY: the engine holds no other slice of this storage during the fill; offsets stay
    // inside the layout's span.
    let d: &mut [T] = unsafe { dst.storage().as_mut_slice::<T>() };
    if l.is_contiguous() {
        d[l.offset..l.offset + l.numel()].fill(value);
    } else {
        walk(&l.shape, [&l.strides], [l.offset], |[o]| d[o] = value);
    }
}

/// A new contiguous storage with `t`'s elements cast to dtype `T`.
pub fn cast_storage<T: Element>(t: &Tensor) -> Storage {
    Storage::from_vec(to_vec_as::<T>(t))
}
