//! Sliding-window kernels: im2col / col2im (the convolutions' data movement), and the window
//! geometry the pooling kernels ([`super::pool`]) share. Every kernel sees its windows over three spatial dims
//! ([`Window::to_3d`]) and works plane by plane (one `(n, c)` pair), the planes split over
//! the thread team when the tensor is large.

use super::{team, PAR_THRESHOLD};
use crate::backend::num::Num;
use crate::backend::Window;
use crate::simd_dispatch;
use crate::tensor::dtype::Element;
use crate::tensor::layout::Layout;
use std::mem::MaybeUninit;

/// One spatial dim of a window: where output position `o`'s window starts and what it spans.
#[derive(Clone, Copy)]
pub(super) struct Axis {
    pub(super) input: usize,
    pub(super) kernel: usize,
    pub(super) stride: isize,
    pub(super) padding: isize,
    pub(super) dilation: isize,
    pub(super) adaptive: bool,
    pub(super) output: usize,
}

impl Axis {
    /// The window of output position `o`: its first input position (may be negative, in
    /// the padding), the step between its positions, and its number of positions.
    #[inline]
    pub(super) fn window(&self, o: usize) -> (isize, isize, usize) {
        if self.adaptive {
            let start = o * self.input / self.output;
            let end = ((o + 1) * self.input).div_ceil(self.output);
            (start as isize, 1, end - start)
        } else {
            (
                o as isize * self.stride - self.padding,
                self.dilation,
                self.kernel,
            )
        }
    }
}

/// The three axes of `w` (leading axes of size 1 where it has fewer spatial dims).
pub(super) fn axes(w: &Window) -> [Axis; 3] {
    let w = w.to_3d();
    std::array::from_fn(|d| Axis {
        input: w.input[d],
        kernel: w.kernel[d],
        stride: w.stride[d] as isize,
        padding: w.padding[d] as isize,
        dilation: w.dilation[d] as isize,
        adaptive: w.adaptive,
        output: w.output[d],
    })
}

/// The strides of `l` (`[n, c, *spatial]`) as (n, c, three spatial strides).
pub(super) fn strides(l: &Layout) -> (isize, isize, [isize; 3]) {
    let s = &l.strides;
    let sp = &s[2..];
    let mut sp3 = [0isize; 3];
    sp3[3 - sp.len()..].copy_from_slice(sp);
    (s[0], s[1], sp3)
}

/// Runs `f(plane, out)` for each `chunk`-element plane of `out`; when `out` is large, the
/// planes in one contiguous run per thread of the team (whose helpers spin between the
/// short sections of a small model's step rather than sleep).
pub(crate) fn per_plane<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if chunk == 0 {
        return;
    }
    let planes = out.len().div_ceil(chunk);
    if out.len() >= PAR_THRESHOLD && planes > 1 {
        let per = planes.div_ceil(team::parts().min(planes));
        let runs: Vec<(usize, &mut [T])> = out.chunks_mut(per * chunk).enumerate().collect();
        team::for_each_part(runs, |(r, o)| {
            o.chunks_mut(chunk)
                .enumerate()
                .for_each(|(p, o)| f(r * per + p, o))
        });
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(p, o)| f(p, o));
    }
}

/// A new vector of `len` elements made plane by plane (`chunk` elements each, the last
/// possibly shorter), shared out as [`per_plane`] does: each plane is zeroed by the thread
/// that then runs `f(plane, elements)` on it. (`vec![0; len]` first zeroes the whole vector
/// on the calling thread, a pass over memory before the planes are shared out.)
pub(crate) fn zeroed_planes<T: Num>(
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    if chunk == 0 {
        return vec![T::zero(); len];
    }
    let fill = |out: &mut [MaybeUninit<T>]| per_plane(out, chunk, |p, o| f(p, super::zero_init(o)));
    // SAFETY: `per_plane` hands out every element as part of some plane, and `fill` zeroes
    // each plane before `f` sees it.
    unsafe { super::write_new_vec(len, fill) }
}

/// Calls `f(out_index, z, y, x)` for each input position of each output's window, in
/// order, with `z`, `y`, `x` signed input coordinates (outside the input in the padding).
#[inline]
pub(super) fn each_window(a: &[Axis; 3], mut f: impl FnMut(usize, isize, isize, isize)) {
    let mut o = 0;
    for oz in 0..a[0].output {
        let (z0, dz, kz) = a[0].window(oz);
        for oy in 0..a[1].output {
            let (y0, dy, ky) = a[1].window(oy);
            for ox in 0..a[2].output {
                let (x0, dx, kx) = a[2].window(ox);
                for i in 0..kz as isize {
                    for j in 0..ky as isize {
                        for k in 0..kx as isize {
                            f(o, z0 + i * dz, y0 + j * dy, x0 + k * dx);
                        }
                    }
                }
                o += 1;
            }
        }
    }
}

/// Whether signed position `v` lies inside an axis of `n` positions.
#[inline(always)]
pub(super) fn inside(v: isize, n: usize) -> bool {
    v >= 0 && (v as usize) < n
}

/// The output positions `lo..hi` of an axis whose input position `o·stride + base` lies in
/// the input (`base` = window offset − padding), clipped to `0..output`.
#[inline]
fn valid_range(ax: &Axis, base: isize) -> (usize, usize) {
    let (s, n) = (ax.stride, ax.input as isize);
    // o·s + base ≥ 0  ⇔  o ≥ ⌈−base / s⌉;  o·s + base < n  ⇔  o ≤ ⌊(n − 1 − base) / s⌋.
    let lo = (((-base).max(0) as usize).div_ceil(s as usize) as isize).min(ax.output as isize);
    let hi = if n - 1 - base < 0 {
        0
    } else {
        ((n - 1 - base) / s + 1).min(ax.output as isize)
    };
    (lo as usize, hi.max(lo) as usize)
}

/// im2col: `[n, c, *input]` (any strides) to a contiguous `[c·∏kernel, n, ∏output]`
/// buffer: row block `ci·∏kernel + k` holds channel `ci` at window position `k` for every
/// image and output position, so one product covers the whole batch.
pub fn unfold<T: Element>(x: &[T], l: &Layout, w: &Window) -> Vec<T> {
    let a = axes(w);
    let (n, c) = (l.shape[0], l.shape[1]);
    let (kn, on) = (w.kernel_numel(), w.output_numel());
    let total = c * kn * n * on;
    // SAFETY: every block of rows writes each of its `n·on` elements exactly once (see
    // `unfold_rows`), so all `total` are set.
    unsafe {
        super::write_new_vec(total, |out| {
            if on == 0 || n == 0 {
                return;
            }
            if let Some(pad) = Padded::for_rows(&a) {
                // Every window position of one channel from its padded plane, image by image.
                per_plane(out, kn * n * on, |ci, dst| {
                    let mut buf = pad.buffer::<T>();
                    for img in 0..n {
                        pad.load(&mut buf, x, l, [img, ci]);
                        unfold_taps(&buf, &pad, &a, [n, img], dst);
                    }
                });
                return;
            }
            per_plane(out, n * on, |ck, dst| {
                let k = ck % kn;
                let at = [
                    k / (a[1].kernel * a[2].kernel),
                    (k / a[2].kernel) % a[1].kernel,
                    k % a[2].kernel,
                ];
                for (img, dst) in dst.chunks_exact_mut(on).enumerate() {
                    unfold_row(x, l, &a, [img, ck / kn], at, dst);
                }
            });
        })
    }
}

/// A plane of two spatial dims copied inside a border of zeros as wide as the padding (plus
/// a slack element, so that a strided row may read one past its last position): every
/// window position then lies inside it, and [`unfold`] and [`fold`] walk rows of small
/// outputs (the 8×8 and 4×4 maps of a DCGAN's deep layers) with no bounds or padding
/// checks per row, which cost more than the rows' few elements.
struct Padded {
    /// The padded plane's rows and their length.
    h: usize,
    w: usize,
    /// The padding above and left of the input.
    top: usize,
    left: usize,
    /// The input plane's rows and their length.
    ih: usize,
    iw: usize,
}

impl Padded {
    /// For windows over two spatial dims whose output rows are short (under 32 positions);
    /// `None` otherwise (long rows walk the input in place).
    fn for_rows(a: &[Axis; 3]) -> Option<Padded> {
        let flat = a[0].input == 1 && a[0].kernel == 1 && a[0].output == 1;
        let ok = flat
            && !a[0].adaptive
            && a[2].output < 32
            && (1..3).all(|d| a[d].padding >= 0 && a[d].stride > 0 && a[d].dilation > 0);
        ok.then(|| {
            // The padding both sides, or as far as the last window reaches if further.
            let span = |ax: &Axis| {
                let reach = (ax.output.max(1) - 1) * ax.stride as usize
                    + (ax.kernel.max(1) - 1) * ax.dilation as usize
                    + 1;
                (ax.input + 2 * ax.padding as usize).max(reach)
            };
            Padded {
                h: span(&a[1]),
                w: span(&a[2]),
                top: a[1].padding as usize,
                left: a[2].padding as usize,
                ih: a[1].input,
                iw: a[2].input,
            }
        })
    }

    /// A zeroed buffer for one plane.
    fn buffer<T: Element>(&self) -> Vec<T> {
        vec![T::default(); self.h * self.w + 1]
    }

    /// Copies plane `ic = [image, channel]` of `x` inside `buf`'s border.
    fn load<T: Element>(&self, buf: &mut [T], x: &[T], l: &Layout, ic: [usize; 2]) {
        let (sn, sc, s) = strides(l);
        let (ih, iw) = (self.ih, self.iw);
        let base = l.offset as isize + ic[0] as isize * sn + ic[1] as isize * sc;
        for y in 0..ih {
            let dst = &mut buf[(y + self.top) * self.w + self.left..][..iw];
            let row = base + y as isize * s[1];
            if s[2] == 1 {
                dst.copy_from_slice(&x[row as usize..][..iw]);
            } else {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = x[(row + j as isize * s[2]) as usize];
                }
            }
        }
    }
}

/// The most columns of one parity that [`unfold_taps`] splits a row into: rows of stride-2
/// windows reaching at most twice this many columns take that path.
const PARITY_ROW: usize = 40;

simd_dispatch! {
    /// Image `ni[1]` (of `ni[0]`) of one channel's rows of [`unfold`] (`dst`, the channel's
    /// `[∏kernel, n, ∏output]` block), read from its padded plane `buf`. Compiled per
    /// instruction set, so the stride-2 gathers become vector loads and shuffles.
    fn unfold_taps<T: Element>(buf: &[T], pad: &Padded, a: &[Axis; 3], ni: [usize; 2], dst: &mut [MaybeUninit<T>]) -> () {
        let (oh, ow) = (a[1].output, a[2].output);
        let on = oh * ow;
        let (sy, sx) = (a[1].stride as usize, a[2].stride as usize);
        let (dy, dx) = (a[1].dilation as usize, a[2].dilation as usize);
        let kw = a[2].kernel;
        // The columns a row's windows read (all `kw` taps of its `ow` positions).
        let reach = 2 * ow + kw - 2;
        if sx == 2 && dx == 1 && reach <= 2 * PARITY_ROW {
            // Each row's even and odd columns split once; every tap's row is then a run of
            // one of them (`kx mod 2`) from column `kx div 2`.
            let mut parity = [[T::default(); PARITY_ROW]; 2];
            for ky in 0..a[1].kernel {
                for oy in 0..oh {
                    let src = &buf[(oy * sy + ky * dy) * pad.w..][..reach];
                    let [even, odd] = &mut parity;
                    for ((e, o), p) in even.iter_mut().zip(odd.iter_mut()).zip(src.chunks_exact(2)) {
                        (*e, *o) = (p[0], p[1]);
                    }
                    if reach % 2 == 1 {
                        parity[0][reach / 2] = src[reach - 1];
                    }
                    for kx in 0..kw {
                        let k = ky * kw + kx;
                        let row = &mut dst[(k * ni[0] + ni[1]) * on + oy * ow..][..ow];
                        copy_row(row, &parity[kx % 2][kx / 2..][..ow]);
                    }
                }
            }
            return;
        }
        for ky in 0..a[1].kernel {
            for kx in 0..a[2].kernel {
                let k = ky * a[2].kernel + kx;
                let out = &mut dst[(k * ni[0] + ni[1]) * on..][..on];
                for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
                    let src = &buf[(oy * sy + ky * dy) * pad.w + kx * dx..];
                    match sx {
                        1 => copy_row(row, &src[..ow]),
                        2 => {
                            for (d, p) in row.iter_mut().zip(src[..2 * ow].chunks_exact(2)) {
                                d.write(p[0]);
                            }
                        }
                        _ => {
                            for (d, v) in row.iter_mut().zip(src.iter().step_by(sx)) {
                                d.write(*v);
                            }
                        }
                    }
                }
            }
        }
    }
}

simd_dispatch! {
    /// The row of [`unfold`] of image `ic[0]`, channel `ic[1]` at window position `at`:
    /// zeros outside the input or outside `lo..hi`, the input's values inside. Compiled per
    /// instruction set, so the stride-2 gather (every other element) becomes vector loads
    /// and shuffles.
    fn unfold_row<T: Element>(x: &[T], l: &Layout, a: &[Axis; 3], ic: [usize; 2], at: [usize; 3], dst: &mut [MaybeUninit<T>]) -> () {
        let (sn, sc, s) = strides(l);
        let (kz, ky, kx) = (at[0], at[1], at[2]);
        let base = l.offset as isize + ic[0] as isize * sn + ic[1] as isize * sc;
        let xb = kx as isize * a[2].dilation - a[2].padding;
        let (lo, hi) = valid_range(&a[2], xb);
        let ow = a[2].output;
        let zero = T::default();
        let mut i = 0;
        for oz in 0..a[0].output {
            let z = oz as isize * a[0].stride - a[0].padding + kz as isize * a[0].dilation;
            for oy in 0..a[1].output {
                let y = oy as isize * a[1].stride - a[1].padding + ky as isize * a[1].dilation;
                let out = &mut dst[i..i + ow];
                i += ow;
                if !(inside(z, a[0].input) && inside(y, a[1].input)) {
                    out.iter_mut().for_each(|v| {
                        v.write(zero);
                    });
                    continue;
                }
                out[..lo].iter_mut().for_each(|v| {
                    v.write(zero);
                });
                out[hi..].iter_mut().for_each(|v| {
                    v.write(zero);
                });
                let start = base + z * s[0] + y * s[1] + (lo as isize * a[2].stride + xb) * s[2];
                let step = a[2].stride * s[2];
                if step == 1 {
                    copy_row(&mut out[lo..hi], &x[start as usize..start as usize + (hi - lo)]);
                } else if step == 2 && hi > lo {
                    // Every other element (stride-2 windows): pairs of one checked slice.
                    let n = hi - lo;
                    let src = &x[start as usize..][..2 * n - 1];
                    let pairs = src.chunks_exact(2);
                    for (v, p) in out[lo..hi - 1].iter_mut().zip(pairs) {
                        v.write(p[0]);
                    }
                    out[hi - 1].write(src[2 * n - 2]);
                } else {
                    for (j, v) in out[lo..hi].iter_mut().enumerate() {
                        v.write(x[(start + j as isize * step) as usize]);
                    }
                }
            }
        }
    }
}

/// `src` written into `dst` (as long) in whole 8-element blocks, the last one overlapping
/// the one before: a row of an image (a few dozen elements) then takes a few vector moves
/// instead of a call to `memcpy`, which cost more than the copy (9% of a 32→64 3×3
/// convolution's forward and backward).
#[inline(always)]
fn copy_row<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    const B: usize = 8;
    let n = dst.len().min(src.len());
    if n < B {
        for (d, &s) in dst.iter_mut().zip(src) {
            d.write(s);
        }
        return;
    }
    // One checked length per block, then a fixed-size move.
    let block = |d: &mut [MaybeUninit<T>], s: &[T]| {
        let (Some(d), Some(s)) = (d.first_chunk_mut::<B>(), s.first_chunk::<B>()) else {
            unreachable!("blocks lie within both rows")
        };
        *d = s.map(MaybeUninit::new);
    };
    let mut i = 0;
    while i + B <= n {
        block(&mut dst[i..], &src[i..]);
        i += B;
    }
    if i < n {
        block(&mut dst[n - B..], &src[n - B..]);
    }
}

/// col2im: `[n, c·∏kernel, ∏output]` (any strides) to contiguous `[n, c, *input]`, summing
/// overlapping windows: each plane adds its window positions' rows in turn, over the output
/// positions whose input position is inside (the adjoint of [`unfold`]'s row walk).
pub fn fold<T: Num>(cols: &[T], l: &Layout, w: &Window) -> Vec<T> {
    let (n, c) = (l.shape[0], l.shape[1] / w.kernel_numel());
    let mut out = vec![T::zero(); n * c * w.input_numel()];
    fold_into(cols, l, w, &mut out);
    out
}

/// [`fold`] added into `out` (contiguous `[n, c, *input]`), so that a caller holding the
/// destination (a tile of an input gradient) skips the copy.
pub fn fold_into<T: Num>(cols: &[T], l: &Layout, w: &Window, out: &mut [T]) {
    let a = axes(w);
    let c = l.shape[1] / w.kernel_numel();
    let plane_in = w.input_numel();
    // Added to the elements a stride-2 row skips, so that the row's additions are one
    // interleaved pass: −0 leaves every value as it is (a NaN quiet). Hidden from the
    // optimiser, which would otherwise drop the additions and scatter the others.
    let skip = std::hint::black_box(T::zero().neg());
    if let Some(pad) = Padded::for_rows(&a).filter(|_| l.strides[2] == 1) {
        // Each plane's sums in a padded plane, its inside then added to the output.
        per_plane(out, plane_in, |p, o| {
            let mut buf = pad.buffer::<T>();
            fold_taps(cols, l, &a, [c, p], &pad, &mut buf, skip);
            for (y, o) in o.chunks_exact_mut(pad.iw).enumerate() {
                let b = &buf[(y + pad.top) * pad.w + pad.left..][..pad.iw];
                o.iter_mut().zip(b).for_each(|(o, &b)| *o = o.add(b));
            }
        });
        return;
    }
    per_plane(out, plane_in, |p, o| fold_plane(cols, l, &a, c, p, o, skip));
}

simd_dispatch! {
    /// Plane `cp[1]` of [`fold`] (of `cp[0]` channels; `cols` with contiguous rows) summed
    /// into its padded plane `buf`, in [`fold_plane`]'s order. Compiled per instruction set
    /// as [`fold_plane`] is.
    fn fold_taps<T: Num>(cols: &[T], l: &Layout, a: &[Axis; 3], cp: [usize; 2], pad: &Padded, buf: &mut [T], skip: T) -> () {
        let (c, p) = (cp[0], cp[1]);
        let (oh, ow) = (a[1].output, a[2].output);
        let kn = a[1].kernel * a[2].kernel;
        let (sy, sx) = (a[1].stride as usize, a[2].stride as usize);
        let (dy, dx) = (a[1].dilation as usize, a[2].dilation as usize);
        let base = l.offset as isize + (p / c) as isize * l.strides[0] + ((p % c) * kn) as isize * l.strides[1];
        for k in (0..kn).rev() {
            let (ky, kx) = (k / a[2].kernel, k % a[2].kernel);
            let row = (base + k as isize * l.strides[1]) as usize;
            for oy in 0..oh {
                let src = &cols[row + oy * ow..][..ow];
                let d = &mut buf[(oy * sy + ky * dy) * pad.w + kx * dx..];
                match sx {
                    1 => d[..ow].iter_mut().zip(src).for_each(|(d, &v)| *d = d.add(v)),
                    2 => {
                        for (d, &v) in d[..2 * ow].chunks_exact_mut(2).zip(src) {
                            d[0] = d[0].add(v);
                            d[1] = d[1].add(skip);
                        }
                    }
                    _ => d.iter_mut().step_by(sx).zip(src).for_each(|(d, &v)| *d = d.add(v)),
                }
            }
        }
    }
}

simd_dispatch! {
    /// Plane `p` of [`fold`] (image `p / c`, channel `p % c`) added into `o`. Compiled per
    /// instruction set, so the stride-2 rows' additions (every other element, `skip` added
    /// to the others) become vector shuffles and adds.
    fn fold_plane<T: Num>(cols: &[T], l: &Layout, a: &[Axis; 3], c: usize, p: usize, o: &mut [T], skip: T) -> () {
        let kn = a[0].kernel * a[1].kernel * a[2].kernel;
        let (sn, sr, sl) = (l.strides[0], l.strides[1], l.strides[2]);
        let base = l.offset as isize + (p / c) as isize * sn + ((p % c) * kn) as isize * sr;
        // Window positions last to first: each input element then receives its terms in
        // ascending output order, the order the GPU's gather sums them in.
        for k in (0..kn).rev() {
            let (kz, ky, kx) = (
                k / (a[1].kernel * a[2].kernel),
                (k / a[2].kernel) % a[1].kernel,
                k % a[2].kernel,
            );
            let row = base + k as isize * sr;
            let xb = kx as isize * a[2].dilation - a[2].padding;
            let (lo, hi) = valid_range(&a[2], xb);
            let mut oi = 0isize;
            for oz in 0..a[0].output {
                let z = oz as isize * a[0].stride - a[0].padding + kz as isize * a[0].dilation;
                for oy in 0..a[1].output {
                    let y = oy as isize * a[1].stride - a[1].padding + ky as isize * a[1].dilation;
                    let at = oi;
                    oi += a[2].output as isize;
                    if !(inside(z, a[0].input) && inside(y, a[1].input)) {
                        continue;
                    }
                    let dst = (z as usize * a[1].input + y as usize) * a[2].input;
                    if sl == 1 && hi > lo {
                        // Contiguous columns: one slice walk, no per-element index checks.
                        let src = &cols[(row + at + lo as isize) as usize..][..hi - lo];
                        let first = (lo as isize * a[2].stride + xb) as usize;
                        match a[2].stride {
                            1 => {
                                let d = &mut o[dst + first..][..hi - lo];
                                for (d, &v) in d.iter_mut().zip(src) {
                                    *d = d.add(v);
                                }
                            }
                            2 => {
                                let m = hi - lo - 1;
                                let d = &mut o[dst + first..][..2 * m + 1];
                                for (d, &v) in d.chunks_exact_mut(2).zip(&src[..m]) {
                                    d[0] = d[0].add(v);
                                    d[1] = d[1].add(skip);
                                }
                                d[2 * m] = d[2 * m].add(src[m]);
                            }
                            step => {
                                let d = o[dst + first..].iter_mut().step_by(step as usize);
                                for (d, &v) in d.zip(src) {
                                    *d = d.add(v);
                                }
                            }
                        }
                        continue;
                    }
                    for ox in lo..hi {
                        let xx = (ox as isize * a[2].stride + xb) as usize;
                        let v = cols[(row + (at + ox as isize) * sl) as usize];
                        o[dst + xx] = o[dst + xx].add(v);
                    }
                }
            }
        }
    }
}
