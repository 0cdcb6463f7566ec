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
    // SAFETY: each part writes the elements of its own chunk of `out` (`gather_range`
    // writes every element of the slice it is handed).
    unsafe {
        write_new_vec(n, |out| {
            if n >= PAR_THRESHOLD {
                let size = super::team_part(n);
                let parts = out.chunks_mut(size).enumerate();
                super::team::for_each_part(parts.collect(), |(p, o)| {
                    gather_range(data, layout, p * size, o, &f)
                });
            } else {
                gather_range(data, layout, 0, out, &f);
            }
        })
    }
}

/// Rows gathered together as one tile by [`gather_range`]: up to this many runs whose
/// sources start one element apart (a transposed view's consecutive columns).
const TILE_ROWS: usize = 16;
/// The width of a tile's column block: `TILE_ROWS` × this many elements are read from at
/// most this many cache lines, which stay in L1 while every row of the tile reads them.
const TILE_COLS: usize = 64;

/// Writes elements `start..start + out.len()` (in row-major order) of `layout`'s view of
/// `data`, converted by `f`, into `out`; every element of `out` is written.
///
/// Contiguous runs are mapped as slices and reversed ones (a flip) as reversed slices.
/// Strided runs (a transposed view: each output row reads one column) are not walked one
/// at a time: consecutive runs whose sources start one element apart are gathered as a
/// tile, column block by column block, so that each cache line read serves every row of the
/// tile instead of being evicted before the next row reads its neighbour.
fn gather_range<A: Element, B: Element>(
    data: &[A],
    layout: &Layout,
    start: usize,
    out: &mut [MaybeUninit<B>],
    f: &(impl Fn(A) -> B + Sync),
) {
    /// Strided runs waiting to be gathered as one tile: `rows` runs of `len` elements
    /// `stride` apart, the k-th starting at source `src + k` and written to `out[at + k·len..]`.
    #[derive(Clone, Copy)]
    struct Tile {
        src: usize,
        at: usize,
        rows: usize,
        len: usize,
        stride: isize,
    }
    let flush = |t: Tile, out: &mut [MaybeUninit<B>]| {
        let dst = &mut out[t.at..t.at + t.rows * t.len];
        for jb in (0..t.len).step_by(TILE_COLS) {
            let je = (jb + TILE_COLS).min(t.len);
            for (k, row) in dst.chunks_mut(t.len).enumerate() {
                let s0 = (t.src + k) as isize;
                for (j, d) in (jb..je).zip(&mut row[jb..je]) {
                    d.write(f(data[(s0 + j as isize * t.stride) as usize]));
                }
            }
        }
    };
    let mut tile: Option<Tile> = None;
    let mut i = 0;
    walk_runs(
        &layout.shape,
        [&layout.strides],
        [layout.offset],
        start..start + out.len(),
        |[s], len, [st]| {
            match st {
                -1..=1 => map_run(data, s, st, &mut out[i..i + len], f),
                _ => match &mut tile {
                    Some(t)
                        if t.len == len
                            && t.stride == st
                            && t.at + t.rows * t.len == i
                            && t.src + t.rows == s
                            && t.rows < TILE_ROWS =>
                    {
                        t.rows += 1
                    }
                    _ => {
                        if let Some(t) = tile {
                            flush(t, out);
                        }
                        tile = Some(Tile {
                            src: s,
                            at: i,
                            rows: 1,
                            len,
                            stride: st,
                        });
                    }
                },
            }
            i += len;
        },
    );
    if let Some(t) = tile {
        flush(t, out);
    }
}

/// Writes `out.len()` elements of `data`, the first at `s` and the rest `st` apart, each
/// converted by `f`, into `out`: a slice map for a contiguous run, a reversed one for a
/// run read backwards, a fill for a broadcast one.
fn map_run<A: Element, B: Element>(
    data: &[A],
    s: usize,
    st: isize,
    out: &mut [MaybeUninit<B>],
    f: &impl Fn(A) -> B,
) {
    let len = out.len();
    match st {
        1 => map_contiguous(&data[s..s + len], out, f),
        -1 => map_reversed(&data[s + 1 - len..s + 1], out, f),
        0 => {
            let v = f(data[s]);
            out.iter_mut().for_each(|d| {
                d.write(v);
            });
        }
        _ => out.iter_mut().enumerate().for_each(|(j, d)| {
            d.write(f(data[(s as isize + j as isize * st) as usize]));
        }),
    }
}

/// The elements of `layout`'s view of `data` converted as `f` converts one, where
/// `convert_run` converts a contiguous run of them at once (the float32 ⇄ float16
/// conversions below, eight lanes an instruction instead of one runtime feature check and
/// one conversion call per element); a view that is not contiguous goes through `f`.
pub fn convert_gather<A: Element, B: Element>(
    data: &[A],
    layout: &Layout,
    convert_run: impl Fn(&[A], &mut [MaybeUninit<B>]) + Sync,
    f: impl Fn(A) -> B + Sync,
) -> Vec<B> {
    if !layout.is_contiguous() {
        return gather_map(data, layout, f);
    }
    let n = layout.numel();
    let src = &data[layout.offset..layout.offset + n];
    // SAFETY: the chunks of `out` cover it and pair with chunks of `src` of the same
    // length, and `convert_run` writes every element of its output chunk.
    unsafe {
        write_new_vec(n, |out| {
            if n >= PAR_THRESHOLD {
                let part = super::team_part(n);
                let parts = out.chunks_mut(part).zip(src.chunks(part));
                super::team::for_each_part(parts.collect(), |(o, s)| convert_run(s, o));
            } else {
                convert_run(src, out);
            }
        })
    }
}

/// `out[i] = src[i]` rounded to float16 (to nearest, ties to even), with F16C's
/// `vcvtps2ph` where the CPU has it — the instruction `half::f16::from_f32` runs one element
/// at a time, so the bits are the same.
pub fn f32_to_f16_run(src: &[f32], out: &mut [MaybeUninit<half::f16>]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU was checked to support the features the function enables.
        return unsafe { f32_to_f16_f16c(src, out) };
    }
    map_contiguous(src, out, &half::f16::from_f32);
}

/// [`f32_to_f16_run`] by F16C, eight elements an instruction.
///
/// # Safety
/// The CPU must support AVX and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn f32_to_f16_f16c(src: &[f32], out: &mut [MaybeUninit<half::f16>]) {
    use std::arch::x86_64::*;
    let n = src.len().min(out.len());
    let whole = n / 8 * 8;
    for i in (0..whole).step_by(8) {
        // SAFETY: `i + 8 <= n`, so both eight-element accesses are in bounds; the load and
        // store are unaligned ones, and `f16` is a `u16`.
        unsafe {
            let v = _mm256_loadu_ps(src.as_ptr().add(i));
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), h);
        }
    }
    for (o, &s) in out[whole..n].iter_mut().zip(&src[whole..n]) {
        o.write(half::f16::from_f32(s));
    }
}

/// `out[i] = src[i]` widened to float32 (exact), with F16C's `vcvtph2ps` where the CPU has
/// it, as [`f32_to_f16_run`].
pub fn f16_to_f32_run(src: &[half::f16], out: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU was checked to support the features the function enables.
        return unsafe { f16_to_f32_f16c(src, out) };
    }
    map_contiguous(src, out, &half::f16::to_f32);
}

/// [`f16_to_f32_run`] by F16C, eight elements an instruction.
///
/// # Safety
/// The CPU must support AVX and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn f16_to_f32_f16c(src: &[half::f16], out: &mut [MaybeUninit<f32>]) {
    use std::arch::x86_64::*;
    let n = src.len().min(out.len());
    let whole = n / 8 * 8;
    for i in (0..whole).step_by(8) {
        // SAFETY: `i + 8 <= n`, so both eight-element accesses are in bounds; the load and
        // store are unaligned ones, and `f16` is a `u16`.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
            _mm256_storeu_ps(out.as_mut_ptr().add(i).cast(), _mm256_cvtph_ps(h));
        }
    }
    for (o, &s) in out[whole..n].iter_mut().zip(&src[whole..n]) {
        o.write(s.to_f32());
    }
}

/// `parts` (each a view of a slice) joined along `dim` into a new contiguous vector of
/// `shape`. The output is written once, split over the team into chunks: each output row
/// (one index of the dims before `dim`) is each part's row in turn, so a chunk holds a
/// contiguous range of each part's elements, which is walked once as runs (slice copies
/// where the part is contiguous along its rows) — no zero-fill first and no
/// single-threaded strided copy per part.
pub fn cat<T: Element>(parts: &[(&[T], &Layout)], dim: usize, shape: &[usize]) -> Vec<T> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Vec::new();
    }
    let outer: usize = shape[..dim].iter().product();
    let widths: Vec<usize> = parts.iter().map(|(_, l)| l.numel() / outer).collect();
    let row: usize = widths.iter().sum();
    // Writes output elements `a..a + out.len()`.
    let fill = |a: usize, out: &mut [MaybeUninit<T>]| {
        let mut col = 0;
        for (&(data, l), &w) in parts.iter().zip(&widths) {
            // The part's first element at or after output position `p`.
            let at = |p: usize| p / row * w + (p % row).saturating_sub(col).min(w);
            let mut idx = at(a);
            walk_runs(
                &l.shape,
                [&l.strides],
                [l.offset],
                idx..at(a + out.len()),
                |[mut s], mut len, [st]| {
                    // A run may cross the part's rows: one piece per row.
                    while len > 0 {
                        let (r, q) = (idx / w, idx % w);
                        let piece = len.min(w - q);
                        let o = r * row + col + q - a;
                        map_run(data, s, st, &mut out[o..o + piece], &|x| x);
                        s = (s as isize + piece as isize * st) as usize;
                        idx += piece;
                        len -= piece;
                    }
                },
            );
            col += w;
        }
    };
    // SAFETY: each chunk of `out` is filled by one call of `fill`, which writes every
    // element of it: the elements of each part that land in the chunk, and the parts'
    // rows tile every output row.
    unsafe {
        write_new_vec(n, |out| {
            if n >= PAR_THRESHOLD {
                let size = super::team_part(n);
                let chunks = out.chunks_mut(size).enumerate();
                super::team::for_each_part(chunks.collect(), |(p, o)| fill(p * size, o));
            } else {
                fill(0, out);
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

crate::simd_dispatch! {
    /// `out[i] = f(src[len - 1 - i])` over slices of the same length: a run read backwards
    /// (`flip` along the innermost dim), vectorised with in-register reversals.
    pub fn map_reversed<A: Element, B: Element, F: Fn(A) -> B>(src: &[A], out: &mut [MaybeUninit<B>], f: &F) -> () {
        out.iter_mut().zip(src.iter().rev()).for_each(|(o, &s)| {
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
