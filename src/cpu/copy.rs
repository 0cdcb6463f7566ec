//! Copies between layouts and dtypes: gathering a strided view into a contiguous buffer,
//! casting, and writing a buffer into a strided destination.

use super::strided::{broadcast_strides, walk_runs};
use super::{write_new_vec, PAR_THRESHOLD};
use crate::tensor::dtype::{cast, Element};
use crate::tensor::layout::Layout;
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
    // SAFETY: each part walks the indices of its own chunk of `out`, in order, and its
    // runs cover that chunk exactly, so every element is written.
    unsafe {
        write_new_vec(n, |out| {
            let part = |start: usize, o: &mut [MaybeUninit<B>]| {
                let mut i = 0;
                let range = start..start + o.len();
                walk_runs(
                    &layout.shape,
                    [&layout.strides],
                    [layout.offset],
                    range,
                    |[s], len, [st]| {
                        let dst = &mut o[i..i + len];
                        match st {
                            1 => map_contiguous(&data[s..s + len], dst, &f),
                            0 => {
                                let v = f(data[s]);
                                dst.iter_mut().for_each(|d| {
                                    d.write(v);
                                });
                            }
                            _ => dst.iter_mut().enumerate().for_each(|(j, d)| {
                                d.write(f(data[(s as isize + j as isize * st) as usize]));
                            }),
                        }
                        i += len;
                    },
                );
            };
            if n >= PAR_THRESHOLD {
                let size = super::team_part(n);
                let parts = out.chunks_mut(size).enumerate();
                super::team::for_each_part(parts.collect(), |(p, o)| part(p * size, o));
            } else {
                part(0, out);
            }
        })
    }
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
        if n >= PAR_THRESHOLD {
            let part = super::team_part(n);
            let parts = d.chunks_mut(part).zip(s.chunks(part));
            super::team::for_each_part(parts.collect(), |(d, s)| cast_contiguous(s, d));
        } else {
            cast_contiguous(s, d);
        }
        return;
    }
    let sstrides = broadcast_strides(&sl.shape, &sl.strides, &dl.shape);
    let strides = [&dl.strides[..], &sstrides[..]];
    walk_runs(
        &dl.shape,
        strides,
        [dl.offset, sl.offset],
        0..dl.numel(),
        |[od, os], len, st| match st {
            [1, 1] => cast_contiguous(&s[os..os + len], &mut dst[od..od + len]),
            [1, 0] => dst[od..od + len].fill(cast::<S, D>(s[os])),
            [sd, ss] => {
                for j in 0..len as isize {
                    dst[(od as isize + j * sd) as usize] =
                        cast::<S, D>(s[(os as isize + j * ss) as usize]);
                }
            }
        },
    );
}

crate::simd_dispatch! {
    /// `dst[i] = src[i]` converted to `D`, over slices of the same length.
    pub fn cast_contiguous<S: Element, D: Element>(src: &[S], dst: &mut [D]) -> () {
        dst.iter_mut().zip(src).for_each(|(d, &s)| *d = cast::<S, D>(s));
    }
}

/// Fills the strided view `l` of `dst` with one value.
pub fn fill<T: Element>(dst: &mut [T], l: &Layout, value: T) {
    if l.is_contiguous() {
        dst[l.offset..l.offset + l.numel()].fill(value);
    } else {
        walk_runs(
            &l.shape,
            [&l.strides],
            [l.offset],
            0..l.numel(),
            |[o], len, [st]| {
                if st == 1 {
                    dst[o..o + len].fill(value);
                } else {
                    (0..len as isize).for_each(|j| dst[(o as isize + j * st) as usize] = value);
                }
            },
        );
    }
}
