//! The input planes the direct kernels read: the view copied into zero-padded planes of
//! a given pitch, or borrowed where it already is laid out so.

use crate::backend::num::Num;
use crate::cpu::window::per_plane;
use crate::tensor::layout::Layout;
use std::mem::MaybeUninit;

/// The view `l` (`[n, c, h, w]`) copied into `rows × cols` planes at `(top, left)`, zeros
/// around it and `slack` zeros after the last plane; planes shared between threads when
/// large. Each element is written once: the copy and its borders, not zeros first and then
/// the copy over them (that first pass ran on one thread, before the planes were shared out).
pub(super) fn padded<T: Num>(
    x: &[T],
    l: &Layout,
    top: usize,
    left: usize,
    rows: usize,
    cols: usize,
    slack: usize,
) -> Vec<T> {
    let (c, h, w) = (l.shape[1], l.shape[2], l.shape[3]);
    assert!(
        top + h <= rows && left + w <= cols,
        "padded: the view does not fit the planes"
    );
    let s = &l.strides;
    let planes = l.shape[0] * c;
    let len = planes * rows * cols;
    let zero = MaybeUninit::new(T::zero());
    let fill = |out: &mut [MaybeUninit<T>]| {
        let (body, tail) = out.split_at_mut(len);
        tail.fill(zero);
        per_plane(body, rows * cols, |p, o| {
            let plane = l.offset as isize + (p / c) as isize * s[0] + (p % c) as isize * s[1];
            let (above, rest) = o.split_at_mut(top * cols);
            let (inside, below) = rest.split_at_mut(h * cols);
            above.fill(zero);
            below.fill(zero);
            for (y, dst) in inside.chunks_exact_mut(cols).enumerate() {
                let row = plane + y as isize * s[2];
                let (before, rest) = dst.split_at_mut(left);
                let (dst, after) = rest.split_at_mut(w);
                before.fill(zero);
                after.fill(zero);
                if s[3] == 1 {
                    copy_row(dst, &x[row as usize..][..w]);
                } else {
                    for (i, d) in dst.iter_mut().enumerate() {
                        d.write(x[(row + i as isize * s[3]) as usize]);
                    }
                }
            }
        })
    };
    // SAFETY: `fill` writes every one of the `len + slack` elements: the tail of zeros, and
    // each plane whole (the rows above, inside and below the view; inside, each row's
    // borders and its copy).
    unsafe { crate::cpu::write_new_vec(len + slack, fill) }
}

/// `src` written into `dst` (as long) in pieces of fixed sizes, each a few vector moves:
/// the rows copied here are a few dozen elements, for which a `memcpy` call (what a loop over
/// the elements compiles to) costs more than the copy.
#[inline(always)]
fn copy_row<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    fn pieces<T: Copy, const N: usize>(dst: &mut [MaybeUninit<T>], src: &[T]) -> usize {
        let (d, _) = dst.as_chunks_mut::<N>();
        let (s, _) = src.as_chunks::<N>();
        for (d, s) in d.iter_mut().zip(s) {
            *d = s.map(MaybeUninit::new);
        }
        s.len() * N
    }
    let mut at = pieces::<T, 16>(dst, src);
    // What is left is shorter than 16: at most one piece of each smaller size.
    macro_rules! piece {
        ($n:literal) => {
            if src.len() - at >= $n {
                at += pieces::<T, $n>(&mut dst[at..][..$n], &src[at..][..$n]);
            }
        };
    }
    piece!(8);
    piece!(4);
    piece!(2);
    if let (Some(d), Some(&v)) = (dst.get_mut(at), src.get(at)) {
        d.write(v);
    }
}

/// The input planes the kernels read, `rows × cols` each with `(top, left)` zeros before
/// the view: borrowed from the view where it already is laid out so (contiguous, no
/// padding, its own width and height), copied by [`padded`] where not, and for the images
/// whose reads (`reach` elements from each image's start) would run past the storage.
pub(super) struct Planes<'a, T> {
    /// The storage from the first image on, when borrowed.
    head: &'a [T],
    /// The images read from `head`; the rest from `copied`.
    borrowed: usize,
    copied: Vec<T>,
    /// The elements of one image's planes.
    image: usize,
    reach: usize,
}

impl<'a, T: Num> Planes<'a, T> {
    pub(super) fn new(
        x: &'a [T],
        l: &Layout,
        [top, left]: [usize; 2],
        [rows, cols]: [usize; 2],
        reach: usize,
    ) -> Planes<'a, T> {
        let (n, c, h, w) = (l.shape[0], l.shape[1], l.shape[2], l.shape[3]);
        let image = c * rows * cols;
        let laid_out = top == 0 && left == 0 && rows == h && cols == w && l.is_contiguous();
        let head = if laid_out {
            &x[l.offset.min(x.len())..]
        } else {
            &[]
        };
        let borrowed = if image == 0 || head.len() < reach {
            0
        } else {
            ((head.len() - reach) / image + 1).min(n)
        };
        let copied = if borrowed < n {
            let rest = l.slice(0, borrowed, n - borrowed, 1);
            padded(x, &rest, top, left, rows, cols, reach.saturating_sub(image))
        } else {
            Vec::new()
        };
        Planes {
            head,
            borrowed,
            copied,
            image,
            reach,
        }
    }

    /// Image `img`'s planes and what its reads run past them: `reach` elements.
    pub(super) fn image(&self, img: usize) -> &[T] {
        let (from, at) = if img < self.borrowed {
            (self.head, img)
        } else {
            (&self.copied[..], img - self.borrowed)
        };
        &from[at * self.image..][..self.reach]
    }
}
