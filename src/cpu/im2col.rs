//! Convolutions as im2col and products, a tile of images at a time, the tiles shared out
//! between the threads: each tile's patch matrix is built, multiplied (one single-threaded
//! product) and, for the input gradient, folded back while it is still in the core's cache.
//! No patch matrix of the whole batch is made, and the products write the `[n, c, …]`
//! layout directly instead of a `[c, n, …]` one that needs a permuting copy.
//!
//! A tile holds enough images for its product to be about [`MIN_COLS`] columns wide (one
//! image when its output has that many positions), the count of tiles a multiple of the
//! threads'. The weight gradient sums its tiles in a fixed
//! order (each thread its run of tiles, the runs added in order), so runs repeat.

use super::assume_init;
use super::matmul::{GemmElem, MatRef, SharedLhs};
use super::window::{fold_into, unfold};
use crate::backend::Window;
use crate::tensor::layout::Layout;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The narrowest product a tile makes (columns: images × output positions).
const MIN_COLS: usize = 256;

/// A batch of `n` images cut into tiles of `per` images (the last may be shorter).
#[derive(Clone, Copy, Debug)]
pub struct Tiles {
    n: usize,
    per: usize,
}

impl Tiles {
    /// Tiles for `n` images of `l` output positions each, or `None` when there would be
    /// too few to keep every thread busy (the whole-batch product is then faster) or the
    /// kernels may use one thread only.
    pub fn new(n: usize, l: usize) -> Option<Tiles> {
        let threads = super::team::parts();
        if n == 0 || l == 0 || threads < 2 {
            return None;
        }
        // As many tiles for every thread: the count rounded up to a multiple of the
        // threads, then the images spread over that many.
        let wide = MIN_COLS.div_ceil(l).min(n);
        let per = n.div_ceil(n.div_ceil(wide).next_multiple_of(threads));
        (n.div_ceil(per) >= 2 * threads).then_some(Tiles { n, per })
    }

    /// [`Tiles::new`], or where that would give too few tiles of [`MIN_COLS`] columns,
    /// two narrower ones per thread (for products whose columns per image are few but
    /// each worth more than im2col's, as Winograd's blocks are).
    pub fn shared(n: usize, l: usize) -> Option<Tiles> {
        let threads = super::team::parts();
        Tiles::new(n, l).or_else(|| {
            let per = n / (2 * threads).max(1);
            (threads >= 2 && l > 0 && per > 0).then_some(Tiles { n, per })
        })
    }

    /// Tiles of `per` images over `n`, whatever the thread count.
    pub fn fixed(n: usize, per: usize) -> Tiles {
        Tiles { n, per }
    }

    /// The batch's images.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Images per tile (the last tile may have fewer).
    pub fn per(&self) -> usize {
        self.per
    }

    /// The number of tiles.
    pub fn count(&self) -> usize {
        self.n.div_ceil(self.per)
    }

    /// Tile `i`'s first image and its number of images.
    pub fn tile(&self, i: usize) -> (usize, usize) {
        let b = i * self.per;
        (b, self.per.min(self.n - b))
    }
}

/// The view `l` narrowed to images `b..b + t`.
fn narrowed(l: &Layout, b: usize, t: usize) -> Layout {
    let mut v = l.clone();
    v.shape[0] = t;
    v.offset = (l.offset as isize + b as isize * l.strides[0]) as usize;
    v
}

/// `g` (contiguous `[n, c, l]`) images `b..b + t` as one `[c, t·l]` matrix (a copy when
/// `t > 1`).
fn grad_tile<T: Copy>(
    g: &[T],
    c: usize,
    l: usize,
    b: usize,
    t: usize,
) -> std::borrow::Cow<'_, [T]> {
    let at = b * c * l;
    if t == 1 {
        return std::borrow::Cow::Borrowed(&g[at..at + c * l]);
    }
    let mut m = Vec::with_capacity(c * t * l);
    for ch in 0..c {
        for i in 0..t {
            m.extend_from_slice(&g[at + (i * c + ch) * l..][..l]);
        }
    }
    std::borrow::Cow::Owned(m)
}

/// The convolution of `x` (`[n, cin, *input]`, any strides) with `w` (contiguous `[cout,
/// cin·K]`), plus `bias`: a contiguous `[n, cout, *output]`. Where the products go
/// straight into the output, an image's output starts as the bias and the product is added
/// to it; without a bias, the product only writes it (no zero-fill first).
pub fn forward<T: GemmElem>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    bias: Option<&[T]>,
    win: &Window,
    tiles: Tiles,
) -> Vec<T> {
    let (n, cin) = (xl.shape[0], xl.shape[1]);
    let ck = cin * win.kernel_numel();
    let cout = w.len() / ck.max(1);
    let l = win.output_numel();
    let filters = SharedLhs::new(w, MatRef::dense(0, ck), (cout, ck), tiles.per() * l);
    let tile = |i: usize, o: &mut [MaybeUninit<T>]| {
        let (b, t) = tiles.tile(i);
        let cols = unfold(x, &narrowed(xl, b, t), win);
        // Image by image, each its columns of the patches into its place in the output:
        // one image per tile, or filters packed once (each product then costs about what a
        // tile's does, and no tile-wide result is made and copied out).
        if t == 1 || filters.packed_for(l) {
            for (img, o) in o.chunks_mut(cout * l).enumerate() {
                let cm = MatRef {
                    offset: img * l,
                    rs: (t * l) as isize,
                    cs: 1,
                };
                match bias {
                    Some(bias) => {
                        for (j, dst) in o.chunks_mut(l).enumerate() {
                            dst.iter_mut().for_each(|v| {
                                v.write(bias[j]);
                            });
                        }
                        // SAFETY: every element was just written with its channel's bias.
                        let o = unsafe { assume_init(o) };
                        filters.gemm(&cols, cm, o, l, T::one(), T::one());
                    }
                    None => filters.gemm_into(&cols, cm, o, l, T::one()),
                }
            }
            return;
        }
        let cm = MatRef::dense(0, t * l);
        // `[cout, t·l]` from the product, copied out image by image.
        // SAFETY: `gemm_into` writes all `cout·t·l` elements.
        let p = unsafe {
            super::write_new_vec(cout * t * l, |p| {
                filters.gemm_into(&cols, cm, p, t * l, T::one())
            })
        };
        for (j, dst) in o.chunks_mut(l).enumerate() {
            let (img, ch) = (j / cout, j % cout);
            let bv = bias.map_or(T::zero(), |b| b[ch]);
            for (d, &v) in dst.iter_mut().zip(&p[(ch * t + img) * l..][..l]) {
                d.write(v.add(bv));
            }
        }
    };
    // SAFETY: the chunks cover the output, and each tile writes every element of its chunk
    // (its images' `cout·l` outputs), by the product or by the copy.
    unsafe {
        super::write_new_vec(n * cout * l, |out| {
            out.par_chunks_mut(tiles.per * cout * l)
                .enumerate()
                .for_each(|(i, o)| super::team::as_part(|| tile(i, o)))
        })
    }
}

/// The input gradient of [`forward`]: `g` (contiguous `[n, cout, *output]`) through `w`
/// (contiguous `[cout, cin·K]`), folded back: a contiguous `[n, cin, *input]`. Each tile's
/// patch gradients are only written by the product (no zero-fill) and folded straight into
/// the tile's images.
pub fn input_grad<T: GemmElem>(g: &[T], w: &[T], cin: usize, win: &Window, tiles: Tiles) -> Vec<T> {
    let kn = win.kernel_numel();
    let ck = cin * kn;
    let cout = w.len() / ck.max(1);
    let (l, plane) = (win.output_numel(), cin * win.input_numel());
    // wᵀ: `[cin·K, cout]`.
    let wt = MatRef {
        offset: 0,
        rs: 1,
        cs: ck as isize,
    };
    let filters = SharedLhs::new(w, wt, (ck, cout), tiles.per * l);
    let mut out = vec![T::zero(); tiles.n * plane];
    out.par_chunks_mut(tiles.per * plane)
        .enumerate()
        .for_each(|(i, o)| {
            super::team::as_part(|| {
                let (b, t) = tiles.tile(i);
                if filters.packed_for(l) {
                    // Image by image, straight from `g` (no tile-wide copy of it): wᵀ @ g
                    // for each, `[t, cin·K, l]` in all.
                    // SAFETY: each image's `gemm_into` writes its `ck·l` elements.
                    let cols = unsafe {
                        super::write_new_vec(ck * t * l, |c| {
                            for (img, c) in c.chunks_mut(ck * l).enumerate() {
                                let gm = MatRef {
                                    offset: (b + img) * cout * l,
                                    rs: l as isize,
                                    cs: 1,
                                };
                                filters.gemm_into(g, gm, c, l, T::one());
                            }
                        })
                    };
                    let cl = Layout::contiguous(&[t, ck, l]);
                    fold_into(&cols, &cl, win, o);
                    return;
                }
                let gt = grad_tile(g, cout, l, b, t);
                // wᵀ @ g: `[cin·K, t·l]`, read by the fold as `[t, cin·K, l]`.
                // SAFETY: `gemm_into` writes all `ck·t·l` elements.
                let cols = unsafe {
                    super::write_new_vec(ck * t * l, |c| {
                        filters.gemm_into(&gt, MatRef::dense(0, t * l), c, t * l, T::one())
                    })
                };
                let cl = Layout {
                    shape: vec![t, ck, l],
                    strides: vec![l as isize, (t * l) as isize, 1],
                    offset: 0,
                };
                fold_into(&cols, &cl, win, o);
            })
        });
    out
}

/// The weight gradient of [`forward`]: `g` (contiguous `[n, cout, *output]`) against the
/// patches of `x` (`[n, cin, *input]`, any strides), summed over the batch: a contiguous
/// `[cout, cin·K]`.
pub fn weight_grad<T: GemmElem>(
    x: &[T],
    xl: &Layout,
    g: &[T],
    cout: usize,
    win: &Window,
    tiles: Tiles,
) -> Vec<T> {
    let ck = xl.shape[1] * win.kernel_numel();
    let l = win.output_numel();
    let count = tiles.count();
    let parts = super::team::parts().clamp(1, count);
    let sums: Vec<Vec<T>> = (0..parts)
        .into_par_iter()
        .map(|p| {
            super::team::as_part(|| {
                let mut acc = vec![T::zero(); cout * ck];
                for i in (p * count / parts)..((p + 1) * count / parts) {
                    let (b, t) = tiles.tile(i);
                    let cols = unfold(x, &narrowed(xl, b, t), win);
                    let gt = grad_tile(g, cout, l, b, t);
                    // g @ colsᵀ: `[cout, t·l] @ [t·l, cin·K]`, added into the part's sum.
                    let ct = MatRef {
                        offset: 0,
                        rs: 1,
                        cs: (t * l) as isize,
                    };
                    T::gemm(
                        &gt,
                        MatRef::dense(0, t * l),
                        &cols,
                        ct,
                        &mut acc,
                        (cout, ck, t * l),
                        T::one(),
                        T::one(),
                        1,
                    );
                }
                acc
            })
        })
        .collect();
    super::team::sum_in_order(sums, |a: &mut T, b| *a = a.add(b))
        .unwrap_or_else(|| vec![T::zero(); cout * ck])
}

#[cfg(test)]
mod tests {
    use super::{Tiles, MIN_COLS};

    #[test]
    fn tiles_cover_the_batch_and_decline_empty_ones() {
        let threads = crate::cpu::team::parts();
        for l in [0, 1, 4, 16, 20, 64, 300] {
            assert!(Tiles::new(0, l).is_none());
            for n in 1..70 {
                let Some(t) = Tiles::new(n, l) else {
                    continue;
                };
                assert!(l > 0 && t.count() >= 2 * threads);
                assert!(t.per() <= MIN_COLS.div_ceil(l));
                let (b, last) = t.tile(t.count() - 1);
                assert!(last > 0 && b + last == n, "n {n}, l {l}: {t:?}");
            }
        }
    }
}
