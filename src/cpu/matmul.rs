//! Matrix products. Floats go through the `gemm` crate, which reads the operands through
//! their strides (a transposed operand is never copied) and picks its SIMD kernel at run
//! time; integer dtypes use a plain loop, as they are rare and PyTorch has no BLAS for them.

use super::team;
use crate::backend::num::Num;
use crate::backend::MatBatch;
use crate::tensor::dtype::Element;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A strided matrix operand: element offset, row stride, column stride.
#[derive(Clone, Copy, Debug)]
pub struct MatRef {
    pub offset: usize,
    pub rs: isize,
    pub cs: isize,
}

impl MatRef {
    /// A dense row-major matrix with `cols` columns starting at `offset`.
    pub fn dense(offset: usize, cols: usize) -> MatRef {
        MatRef {
            offset,
            rs: cols as isize,
            cs: 1,
        }
    }

    /// Whether every element of a `rows × cols` matrix read through this reference lies
    /// within a buffer of `len` elements (strides are never negative here).
    fn fits(&self, rows: usize, cols: usize, len: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let (Ok(rs), Ok(cs)) = (usize::try_from(self.rs), usize::try_from(self.cs)) else {
            return false;
        };
        (rows - 1)
            .checked_mul(rs)
            .zip((cols - 1).checked_mul(cs))
            .and_then(|(r, c)| r.checked_add(c)?.checked_add(self.offset))
            .is_some_and(|last| last < len)
    }
}

/// From this many multiply-adds on, `gemm` parallelises a product itself.
const PAR_FLOPS: usize = 1 << 23;

/// Between this many multiply-adds and `PAR_FLOPS`, a product is split into one
/// single-threaded `gemm` per thread. At the sizes of small models (64×784×128) `gemm`'s own
/// parallel scheme costs more than it saves (measured: 137 µs on one thread, 195 µs on two),
/// while halves run side by side in 80 µs.
const SPLIT_FLOPS: usize = 1 << 19;

/// The fewest rows or columns a split part gets (a multiple of the micro-kernels' blocks).
const SPLIT_MIN: usize = 16;

/// How a mid-size product is shared between threads: by rows of `out` (each thread reads
/// its rows of `a`) or by columns (each reads its columns of `b`), whichever keeps the
/// largest operand's parts apart. For `nn.Linear` that gives each thread the same rows of
/// `weight` in the forward product, in the weight-gradient product and in the optimizer
/// step, so the weights never travel between cores' caches.
///
/// A product with a long shared dim and a small output (a convolution's weight gradient:
/// a few output channels by a few window positions, summed over every image and output
/// position) is split along `k` instead: each thread multiplies its slice of `k` into its
/// own `m × n` block and the blocks are added, which `gemm`'s own scheme (by rows and
/// columns of the output) cannot share out. That pays from a `k` eight times the output's
/// longer side: a word model's decoder input gradient, `[700, 10000] @ [10000, 200]`, took
/// 8.3 ms under `gemm`'s scheme and 6.0 ms split along `k` (2 threads; PyTorch 13.4 ms).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Split {
    Rows(usize),
    Cols(usize),
    Depth(usize),
}

/// From this many times the output's longer side on, a shared dim counts as long: a large
/// product is still split by rows or columns rather than left to `gemm`'s own scheme, which
/// loses there. An LSTM's weight gradients (`[512, 1792] @ [1792, 28 or 128]`, every step's
/// gates against its inputs) took 590 and 1228 µs under `gemm`'s scheme and 425 and 1009
/// split by rows; `[128, 4096] @ [4096, 1152]` is the same either way (2 threads).
const LONG_K: usize = 3;

fn split_plan(m: usize, n: usize, k: usize, threads: usize) -> Option<Split> {
    if threads >= 2 && m * n * k >= SPLIT_FLOPS && k >= 8 * m.max(n) {
        return Some(Split::Depth(k.div_ceil(threads)));
    }
    let flops = m * n * k;
    let long_k = k >= LONG_K * m.max(n);
    if threads < 2 || flops < SPLIT_FLOPS || (flops >= PAR_FLOPS && !long_k) {
        return None;
    }
    let b_largest = n > m && k > m;
    if b_largest && n >= 2 * SPLIT_MIN {
        Some(Split::Cols(n.div_ceil(threads).next_multiple_of(SPLIT_MIN)))
    } else if m >= 2 * SPLIT_MIN {
        Some(Split::Rows(m.div_ceil(threads).next_multiple_of(SPLIT_MIN)))
    } else {
        None
    }
}

/// A pointer to an output buffer that threads writing disjoint parts of it may share.
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);
// SAFETY: only used to hand disjoint blocks (row or column ranges) of one buffer to
// different threads.
unsafe impl<T> Send for SharedOut<T> {}
// SAFETY: as above; no two threads write the same element.
unsafe impl<T> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// The pointer `count` elements further on.
    ///
    /// # Safety
    /// The result must stay within the buffer, as for `pointer::add`.
    unsafe fn add(self, count: usize) -> Self {
        // SAFETY: the caller keeps the offset within the buffer.
        SharedOut(unsafe { self.0.add(count) })
    }
}

pub trait GemmElem: Num {
    /// `out[m×n] (row-major) = alpha·out + beta·a·b`, or `beta·a·b` when `alpha` is `None`.
    ///
    /// # Safety
    /// `out` points to `m·n` writable elements aliasing neither operand, initialised unless
    /// `alpha` is `None` (then they are only written, every one of them); every (row, col)
    /// that `ma`/`mb` reach lies within `a`/`b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        a: &[Self],
        ma: MatRef,
        b: &[Self],
        mb: MatRef,
        out: *mut Self,
        mnk: (usize, usize, usize),
        alpha: Option<Self>,
        beta: Self,
        threads: usize,
    );

    /// Whether products of `(m, n, k)` with contiguous operands run on tile units.
    fn on_tile_units(_mnk: (usize, usize, usize)) -> bool {
        false
    }

    /// `a` packed for products of `(m, n, k)` where they run on tile units ([`SharedLhs`]).
    fn pack_lhs(_a: &[Self], _ma: MatRef, _mnk: (usize, usize, usize)) -> Option<Packed> {
        None
    }

    /// [`GemmElem::gemm_raw`] on this thread with a shared left operand.
    ///
    /// # Safety
    /// As [`GemmElem::gemm_raw`], for `lhs`'s `m × k` and `n` columns.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_shared(
        lhs: &SharedLhs<'_, Self>,
        b: &[Self],
        mb: MatRef,
        out: *mut Self,
        n: usize,
        alpha: Option<Self>,
        beta: Self,
    ) {
        // SAFETY: the caller's promise.
        unsafe { Self::gemm_raw(lhs.a, lhs.ma, b, mb, out, (lhs.m, n, lhs.k), alpha, beta, 1) }
    }

    /// `out[m×n] = alpha·out + beta·a·b`. The op layer checked the operands' shapes.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        a: &[Self],
        ma: MatRef,
        b: &[Self],
        mb: MatRef,
        out: &mut [Self],
        (m, n, k): (usize, usize, usize),
        alpha: Self,
        beta: Self,
        threads: usize,
    ) {
        assert!(out.len() >= m * n && ma.fits(m, k, a.len()) && mb.fits(k, n, b.len()));
        // SAFETY: `out` is an initialised, exclusively borrowed slice of at least m·n, and
        // the operands' elements lie within `a` and `b` (asserted above).
        unsafe {
            Self::gemm_raw(
                a,
                ma,
                b,
                mb,
                out.as_mut_ptr(),
                (m, n, k),
                Some(alpha),
                beta,
                threads,
            )
        }
    }

    /// `out[m×n] = beta·a·b`, writing every element of a possibly uninitialised `out` (a
    /// fresh output is not zero-filled first: that `memset` was 4% of an MLP's epoch).
    #[allow(clippy::too_many_arguments)]
    fn gemm_into(
        a: &[Self],
        ma: MatRef,
        b: &[Self],
        mb: MatRef,
        out: &mut [MaybeUninit<Self>],
        (m, n, k): (usize, usize, usize),
        beta: Self,
        threads: usize,
    ) {
        assert!(out.len() >= m * n && ma.fits(m, k, a.len()) && mb.fits(k, n, b.len()));
        // SAFETY: `out` is exclusively borrowed and at least m·n long (with no `alpha` it is
        // only written), and the operands' elements lie within `a` and `b` (asserted above).
        unsafe {
            Self::gemm_raw(
                a,
                ma,
                b,
                mb,
                out.as_mut_ptr().cast(),
                (m, n, k),
                None,
                beta,
                threads,
            )
        }
    }
}

/// Whether a product reads its right operand through a row-major copy ([`row_major`]):
/// when that operand is column-major (`x @ weight.T`, `nn.Linear`'s forward) with columns a
/// multiple of 1 KiB apart, `gemm` neither packs it (below 8192 rows) nor reads it well, and
/// a product of few rows (each column read by one or two row blocks) along a long `k` loses
/// to the copy by 2–6× (`[64, k] @ [k, 128]` with `k` 1024 to 4096: 0.5–2.1 ms, after the
/// copy 0.22–0.77; PyTorch 0.11–0.54). With more rows, or a short `k` (a convolution's
/// weight gradient over a tile of 256 positions), the columns stay in cache between row
/// blocks and the copy cost 10–15% of a DCGAN layer's forward and backward.
fn copies_rhs(mb: MatRef, (m, n, k): (usize, usize, usize), size: usize) -> bool {
    let column_major = mb.rs == 1 && mb.cs > 1 && n > 1;
    column_major && (mb.cs as usize * size).is_multiple_of(1024) && m < 256 && k >= 512
}

/// The columns [`row_major`] copies together: row segments of 16 elements (64 bytes of
/// `f32`, a cache line's worth).
const GROUP: usize = 16;

/// The `k × n` matrix read from `b` through `mb` (column-major: `mb.rs == 1`) as a dense
/// row-major copy, made [`GROUP`] columns at a time: the group's columns are read down
/// together (one sequential stream each, which the prefetchers follow) a tile of rows at a
/// time, and each row's segment of the copy is written whole. The groups are shared out
/// between the threads when the copy is large.
///
/// (Reading a tile of one column, then the next column a whole column-stride away, left
/// each read a cache miss: `[128, 9216]`'s transpose took 2.3 ms, the product after it
/// 0.9 ms.)
fn row_major<T: Copy + Default + Send + Sync>(
    b: &[T],
    mb: MatRef,
    k: usize,
    n: usize,
    threads: usize,
) -> Vec<T> {
    const TILE: usize = 64;
    assert!(mb.rs == 1 && mb.fits(k, n, b.len()));
    let mut out: Vec<T> = Vec::with_capacity(k * n);
    let dst = SharedOut(out.as_mut_ptr());
    let group = |g: usize| {
        let j0 = g * GROUP;
        let width = GROUP.min(n - j0);
        let cols: [usize; GROUP] = std::array::from_fn(|c| {
            mb.offset + ((j0 + c.min(width - 1)) as isize * mb.cs) as usize
        });
        // Only the entries a tile fills are read back, so one buffer serves every tile.
        let mut tile = [[T::default(); GROUP]; TILE];
        for k0 in (0..k).step_by(TILE) {
            let len = TILE.min(k - k0);
            for (c, &col) in cols.iter().enumerate().take(width) {
                for (row, &v) in tile.iter_mut().zip(&b[col + k0..col + k0 + len]) {
                    row[c] = v;
                }
            }
            for (i, row) in tile.iter().enumerate().take(len) {
                // SAFETY: row `k0 + i`, columns `j0..j0 + width`, lie within the k × n copy,
                // and each group writes only its own columns.
                let at = unsafe { dst.add((k0 + i) * n + j0) };
                for (c, &v) in row.iter().enumerate().take(width) {
                    // SAFETY: as above, `c < width`.
                    unsafe { at.add(c).0.write(v) };
                }
            }
        }
    };
    let groups = n.div_ceil(GROUP);
    let parts = if k * n >= 1 << 16 {
        threads.max(1).min(groups)
    } else {
        1
    };
    team::for_each_part((0..parts).collect(), |p| {
        for g in (p * groups / parts)..((p + 1) * groups / parts) {
            group(g)
        }
    });
    // SAFETY: the groups together wrote every (row, column) of the k·n elements.
    unsafe { out.set_len(k * n) };
    out
}

/// A left operand packed for the AMX tile units ([`super::amx`]).
#[cfg(target_arch = "x86_64")]
pub use super::amx::Packed;

/// A left operand packed for tile units (none on this architecture).
#[cfg(not(target_arch = "x86_64"))]
#[derive(Debug)]
pub enum Packed {}

/// A left operand that many products share (a convolution's filters, multiplied by each
/// tile of images in turn). Where the products run on the AMX tile units it is packed once
/// here ([`super::amx::Packed`]) rather than by each product.
#[derive(Debug)]
pub struct SharedLhs<'a, T> {
    a: &'a [T],
    ma: MatRef,
    m: usize,
    k: usize,
    packed: Option<Packed>,
}

impl<'a, T: GemmElem> SharedLhs<'a, T> {
    /// `a` (`m × k` through `ma`), for products with right operands of about `n` columns.
    pub fn new(a: &'a [T], ma: MatRef, (m, k): (usize, usize), n: usize) -> Self {
        assert!(ma.fits(m, k, a.len()));
        let packed = T::pack_lhs(a, ma, (m, n, k));
        SharedLhs {
            a,
            ma,
            m,
            k,
            packed,
        }
    }

    /// Whether products of `n` columns read the operand packed for the tile units: then
    /// they cost about as much per column however narrow they are.
    pub fn packed_for(&self, n: usize) -> bool {
        self.packed.is_some() && n >= TILE_PACKED_MIN
    }

    /// `out[m×n] = alpha·out + beta·a·b`, on this thread.
    pub fn gemm(&self, b: &[T], mb: MatRef, out: &mut [T], n: usize, alpha: T, beta: T) {
        assert!(out.len() >= self.m * n && mb.fits(self.k, n, b.len()));
        // SAFETY: `out` is an initialised, exclusively borrowed slice of at least m·n, and
        // the operands' elements lie within `a` (checked by `new`) and `b` (asserted).
        unsafe { T::gemm_shared(self, b, mb, out.as_mut_ptr(), n, Some(alpha), beta) }
    }

    /// `out[m×n] = beta·a·b`, writing every element of a possibly uninitialised `out`, on
    /// this thread.
    pub fn gemm_into(&self, b: &[T], mb: MatRef, out: &mut [MaybeUninit<T>], n: usize, beta: T) {
        assert!(out.len() >= self.m * n && mb.fits(self.k, n, b.len()));
        // SAFETY: as in `gemm`; with no `alpha`, `out` is only written.
        unsafe { T::gemm_shared(self, b, mb, out.as_mut_ptr().cast(), n, None, beta) }
    }
}

/// Products on the AMX tile units ([`super::amx`]), for the dtypes and shapes they serve.
trait TileUnits: Sized {
    /// Whether [`TileUnits::on_tiles`] takes an `(m, n, k)` product through `ma`, `mb`.
    fn takes(_ma: MatRef, _mb: MatRef, _mnk: (usize, usize, usize)) -> bool {
        false
    }

    /// `a` packed, when its products would take the tile units.
    fn pack(_a: &[Self], _ma: MatRef, _mnk: (usize, usize, usize)) -> Option<Packed> {
        None
    }

    /// `out` (row stride `ldo`) updated as [`GemmElem::gemm_raw`] says, on this thread,
    /// from `a` or its `packed` form; false (nothing done) where the tile units do not take
    /// the product.
    ///
    /// # Safety
    /// As [`GemmElem::gemm_raw`], for `m` rows of `out` `ldo` apart; `packed` is `a`'s.
    #[allow(clippy::too_many_arguments)]
    unsafe fn on_tiles(
        _a: (&[Self], MatRef, Option<&Packed>),
        _b: &[Self],
        _mb: MatRef,
        _out: *mut Self,
        _ldo: usize,
        _mnk: (usize, usize, usize),
        _alpha: Option<Self>,
        _beta: Self,
    ) -> bool {
        false
    }
}

impl TileUnits for f64 {}

#[cfg(not(target_arch = "x86_64"))]
impl TileUnits for f32 {}

/// The fewest rows and columns (each) of a product on the tile units, and the fewest
/// multiply-adds: packing the operands costs about as much per element as 128 columns' or
/// rows' worth of tile products (measured, one thread: `[128, 128] @ [128, 128]` 0.95× the
/// float32 kernels' rate, `[256, 256] @ [256, 256]` 1.19×, `[256, 2048] @ [2048, 256]`
/// 1.2–1.35×). A left operand packed once ([`SharedLhs`]) needs [`TILE_PACKED_MIN`] columns.
#[cfg(target_arch = "x86_64")]
const TILE_MIN: usize = 128;

/// The fewest columns of a product whose left operand is packed (the micro-kernel's
/// block is 32 wide).
const TILE_PACKED_MIN: usize = 32;

#[cfg(target_arch = "x86_64")]
fn unit_stride(r: MatRef) -> bool {
    r.rs == 1 || r.cs == 1
}

#[cfg(target_arch = "x86_64")]
impl TileUnits for f32 {
    fn takes(ma: MatRef, mb: MatRef, (m, n, k): (usize, usize, usize)) -> bool {
        m >= TILE_MIN
            && n >= TILE_MIN
            && k >= 64
            && m * n * k >= 1 << 21
            && unit_stride(ma)
            && unit_stride(mb)
            && super::amx::available()
    }

    fn pack(a: &[f32], ma: MatRef, (m, n, k): (usize, usize, usize)) -> Option<Packed> {
        Self::takes(ma, MatRef::dense(0, n), (m, n, k)).then(|| {
            let op = super::amx::Operand {
                ptr: a[ma.offset..].as_ptr(),
                sx: ma.rs,
                sk: ma.cs,
            };
            // SAFETY: the tile units are available (`takes`), and the caller checked that
            // `a` holds every element `ma` reaches for `m × k`.
            unsafe { Packed::new(op, m, k) }
        })
    }

    unsafe fn on_tiles(
        (a, ma, packed): (&[f32], MatRef, Option<&Packed>),
        b: &[f32],
        mb: MatRef,
        out: *mut f32,
        ldo: usize,
        (m, n, k): (usize, usize, usize),
        alpha: Option<f32>,
        beta: f32,
    ) -> bool {
        use super::amx;
        let take = match packed {
            Some(_) => n >= TILE_PACKED_MIN && unit_stride(mb),
            None => Self::takes(ma, mb, (m, n, k)),
        };
        if !take {
            return false;
        }
        let at = |r: MatRef, i: usize, j: usize| {
            r.offset as isize + i as isize * r.rs + j as isize * r.cs
        };
        // SAFETY (all three): the caller's promise covers every element the operands reach
        // for `(m, n, k)` and `m` rows of `out`; the blocks lie within them.
        let op = |s: &[f32], r: MatRef, x: isize, depth: isize| amx::Operand {
            ptr: unsafe { s.as_ptr().add(r.offset) },
            sx: x,
            sk: depth,
        };
        let mut fallback = |blk: amx::Block| unsafe {
            gemm::gemm(
                blk.rows,
                blk.cols,
                blk.kc,
                out.add(blk.r0 * ldo + blk.c0),
                1,
                ldo as isize,
                !blk.first || alpha.is_some(),
                a.as_ptr().offset(at(ma, blk.r0, blk.k0)),
                ma.cs,
                ma.rs,
                b.as_ptr().offset(at(mb, blk.k0, blk.c0)),
                mb.cs,
                mb.rs,
                if blk.first { alpha.unwrap_or(0.0) } else { 1.0 },
                beta,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        };
        let lhs = match packed {
            Some(p) => amx::Lhs::Packed(p),
            None => amx::Lhs::Plain(op(a, ma, ma.rs, ma.cs)),
        };
        unsafe {
            amx::gemm(
                (m, n, k),
                lhs,
                op(b, mb, mb.cs, mb.rs),
                out,
                ldo,
                // An `alpha` of 0 leaves `out` unread, as `gemm` does.
                amx::Update {
                    alpha: alpha.filter(|&a| a != 0.0),
                    beta,
                },
                &mut fallback,
            )
        };
        true
    }
}

macro_rules! impl_gemm_float {
    ($($t:ty),*) => {$(
        impl GemmElem for $t {
            fn on_tile_units((m, n, k): (usize, usize, usize)) -> bool {
                <$t as TileUnits>::takes(MatRef::dense(0, k), MatRef::dense(0, n), (m, n, k))
            }

            fn pack_lhs(a: &[Self], ma: MatRef, mnk: (usize, usize, usize)) -> Option<Packed> {
                <$t as TileUnits>::pack(a, ma, mnk)
            }

            unsafe fn gemm_shared(lhs: &SharedLhs<'_, Self>, b: &[Self], mb: MatRef, out: *mut Self, n: usize, alpha: Option<Self>, beta: Self) {
                let (m, k) = (lhs.m, lhs.k);
                // SAFETY: the caller's promise (as `gemm_raw`'s).
                unsafe {
                    if m == 0 || n == 0
                        || !<$t as TileUnits>::on_tiles((lhs.a, lhs.ma, lhs.packed.as_ref()), b, mb, out, n, (m, n, k), alpha, beta)
                    {
                        Self::gemm_raw(lhs.a, lhs.ma, b, mb, out, (m, n, k), alpha, beta, 1)
                    }
                }
            }

            unsafe fn gemm_raw(a: &[Self], ma: MatRef, b: &[Self], mb: MatRef, out: *mut Self, (m, n, k): (usize, usize, usize), alpha: Option<Self>, beta: Self, threads: usize) {
                if m == 0 || n == 0 {
                    return;
                }
                let copy;
                let (b, mb) = if copies_rhs(mb, (m, n, k), std::mem::size_of::<Self>()) {
                    copy = row_major(b, mb, k, n, threads);
                    (&copy[..], MatRef { offset: 0, rs: n as isize, cs: 1 })
                } else {
                    (b, mb)
                };
                // Writes `rows × cols` of `out` starting at `at` (row stride n); with
                // `read_dst` false, `gemm` only writes `out` (zeros when k is 0).
                // SAFETY (for callers): see the trait's contract; the parts below cover
                // disjoint blocks of `out`.
                let run = |at: SharedOut<Self>, ma: MatRef, mb: MatRef, rows: usize, cols: usize, par| unsafe {
                    if matches!(par, gemm::Parallelism::None)
                        && <$t as TileUnits>::on_tiles((a, ma, None), b, mb, at.0, n, (rows, cols, k), alpha, beta)
                    {
                        return;
                    }
                    gemm::gemm(
                        rows, cols, k,
                        at.0, 1, n as isize, alpha.is_some(),
                        a.as_ptr().add(ma.offset), ma.cs, ma.rs,
                        b.as_ptr().add(mb.offset), mb.cs, mb.rs,
                        alpha.unwrap_or(0.0), beta, false, false, false, par,
                    )
                };
                let base = SharedOut(out);
                let plan = split_plan(m, n, k, threads).or_else(|| {
                    // The tile units' products run on one thread each: a product they take
                    // that `gemm` would parallelise itself is split here instead.
                    // Only where every part is still one they take.
                    let big = threads > 1 && m * n * k >= PAR_FLOPS;
                    let (rows, cols) = (m.div_ceil(threads).next_multiple_of(32), n.div_ceil(threads).next_multiple_of(32));
                    // The smallest part: the last.
                    let last = |len: usize, part: usize| len - part * (len.div_ceil(part) - 1);
                    let split = if m >= n { (Split::Rows(rows), (last(m, rows), n, k)) } else { (Split::Cols(cols), (m, last(n, cols), k)) };
                    (big && <$t as TileUnits>::takes(ma, mb, split.1)).then_some(split.0)
                });
                match plan {
                    Some(Split::Rows(rows)) => {
                        team::for_each_part((0..m.div_ceil(rows)).collect(), |i| {
                            let (r0, r1) = (i * rows, ((i + 1) * rows).min(m));
                            let ma = MatRef { offset: (ma.offset as isize + r0 as isize * ma.rs) as usize, ..ma };
                            // SAFETY: r0 < m, so the part starts within `out`; parts cover disjoint rows.
                            let at = unsafe { base.add(r0 * n) };
                            run(at, ma, mb, r1 - r0, n, gemm::Parallelism::None);
                        });
                    }
                    Some(Split::Cols(cols)) => {
                        team::for_each_part((0..n.div_ceil(cols)).collect(), |i| {
                            let (c0, c1) = (i * cols, ((i + 1) * cols).min(n));
                            let mb = MatRef { offset: (mb.offset as isize + c0 as isize * mb.cs) as usize, ..mb };
                            // SAFETY: c0 < n, so the part starts within `out`; parts cover disjoint columns.
                            let at = unsafe { base.add(c0) };
                            run(at, ma, mb, m, c1 - c0, gemm::Parallelism::None);
                        });
                    }
                    Some(Split::Depth(depth)) => {
                        // Part 0 writes `out` as a whole product would; the others write
                        // their own blocks, added in after the join.
                        let parts = k.div_ceil(depth);
                        let mut partial: Vec<Vec<Self>> = (1..parts).map(|_| vec![0.0; m * n]).collect();
                        let blocks: Vec<SharedOut<Self>> = std::iter::once(base)
                            .chain(partial.iter_mut().map(|v| SharedOut(v.as_mut_ptr())))
                            .collect();
                        team::for_each_part((0..parts).collect(), |i| {
                            let (p0, p1) = (i * depth, ((i + 1) * depth).min(k));
                            let ma = MatRef { offset: (ma.offset as isize + p0 as isize * ma.cs) as usize, ..ma };
                            let mb = MatRef { offset: (mb.offset as isize + p0 as isize * mb.rs) as usize, ..mb };
                            let alpha_i = if i == 0 { alpha } else { None };
                            // SAFETY: part i writes only block i (`out` for part 0, its own
                            // m·n vector otherwise); p0 < k keeps the operands in bounds.
                            if unsafe { <$t as TileUnits>::on_tiles((a, ma, None), b, mb, blocks[i].0, n, (m, n, p1 - p0), alpha_i, beta) } {
                                return;
                            }
                            // SAFETY: as above.
                            unsafe {
                                gemm::gemm(
                                    m, n, p1 - p0,
                                    blocks[i].0, 1, n as isize, i == 0 && alpha.is_some(),
                                    a.as_ptr().add(ma.offset), ma.cs, ma.rs,
                                    b.as_ptr().add(mb.offset), mb.cs, mb.rs,
                                    if i == 0 { alpha.unwrap_or(0.0) } else { 0.0 }, beta,
                                    false, false, false, gemm::Parallelism::None,
                                )
                            }
                        });
                        for p in &partial {
                            for (j, v) in p.iter().enumerate() {
                                // SAFETY: j < m·n, within `out`, which part 0 initialised.
                                unsafe { *out.add(j) += *v };
                            }
                        }
                    }
                    None => {
                        if threads > 1 && m * n * k >= PAR_FLOPS {
                            team::quiet(|| run(base, ma, mb, m, n, gemm::Parallelism::Rayon(threads)));
                        } else {
                            run(base, ma, mb, m, n, gemm::Parallelism::None);
                        }
                    }
                }
            }
        }
    )*};
}
impl_gemm_float!(f32, f64);

macro_rules! impl_gemm_int {
    ($($t:ty),*) => {$(
        impl GemmElem for $t {
            unsafe fn gemm_raw(a: &[Self], ma: MatRef, b: &[Self], mb: MatRef, out: *mut Self, (m, n, k): (usize, usize, usize), alpha: Option<Self>, beta: Self, _threads: usize) {
                let at = |i: usize, p: usize| a[(ma.offset as isize + i as isize * ma.rs + p as isize * ma.cs) as usize];
                let bt = |p: usize, j: usize| b[(mb.offset as isize + p as isize * mb.rs + j as isize * mb.cs) as usize];
                for i in 0..m {
                    for j in 0..n {
                        let mut acc: Self = 0;
                        for p in 0..k {
                            acc = acc.add(at(i, p).mul(bt(p, j)));
                        }
                        // SAFETY: i·n + j < m·n, within `out` by the caller's contract, and
                        // `out` is read only when `alpha` says it is initialised.
                        unsafe {
                            let o = out.add(i * n + j);
                            *o = match alpha {
                                Some(alpha) => alpha.mul(*o).add(beta.mul(acc)),
                                None => beta.mul(acc),
                            };
                        }
                    }
                }
            }
        }
    )*};
}
impl_gemm_int!(i64, i32, i16, i8, u8);

/// The `i`-th matrix of a batch as a gemm operand.
fn mat(batch: &MatBatch, i: usize) -> MatRef {
    MatRef {
        offset: batch.offsets[i],
        rs: batch.rs,
        cs: batch.cs,
    }
}

/// Batched product: for each matrix pair `i`, `out[i] = alpha · a[i] @ b[i]`.
pub fn batched<T: GemmElem + Element>(
    a: &[T],
    ma: &MatBatch,
    b: &[T],
    mb: &MatBatch,
    (m, n, k): (usize, usize, usize),
    alpha: T,
) -> Vec<T> {
    let batches = ma.offsets.len();
    if m * n == 0 {
        return Vec::new();
    }
    let threads = team::parts();
    let one = |(i, o): (usize, &mut [MaybeUninit<T>])| {
        let per_product = if batches > 1 { 1 } else { threads };
        T::gemm_into(
            a,
            mat(ma, i),
            b,
            mat(mb, i),
            o,
            (m, n, k),
            alpha,
            per_product,
        );
    };
    // SAFETY: the chunks cover the whole vector, and `gemm_into` writes every element of each.
    unsafe {
        super::write_new_vec(batches * m * n, |out| {
            if batches > 1 && batches * m * n * k >= PAR_FLOPS && threads > 1 {
                out.par_chunks_mut(m * n).enumerate().for_each(one);
            } else {
                out.chunks_mut(m * n).enumerate().for_each(one);
            }
        })
    }
}

/// Batched product added into `out`: for each pair `i`, `out[i] += alpha · a[i] @ b[i]`.
pub fn batched_acc<T: GemmElem + Element>(
    a: &[T],
    ma: &MatBatch,
    b: &[T],
    mb: &MatBatch,
    (m, n, k): (usize, usize, usize),
    alpha: T,
    out: &mut [T],
) {
    let batches = ma.offsets.len();
    if m * n == 0 {
        return;
    }
    let threads = if batches > 1 { 1 } else { team::parts() };
    for (i, o) in out.chunks_mut(m * n).enumerate().take(batches) {
        T::gemm(
            a,
            mat(ma, i),
            b,
            mat(mb, i),
            o,
            (m, n, k),
            T::one(),
            alpha,
            threads,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_reads_transposed_operand_in_place() {
        // a = [[1,2],[3,4]]; b^T stored row-major as [[5,7],[6,8]] means b = [[5,6],[7,8]].
        let a = [1.0f64, 2., 3., 4.];
        let bt = [5.0f64, 7., 6., 8.];
        let row_major = MatBatch {
            offsets: vec![0],
            rs: 2,
            cs: 1,
        };
        let col_major = MatBatch {
            offsets: vec![0],
            rs: 1,
            cs: 2,
        };
        let out = batched(&a, &row_major, &bt, &col_major, (2, 2, 2), 1.0);
        assert_eq!(out, vec![19., 22., 43., 50.]);
        let ai = [1i64, 2, 3, 4];
        let bi = [5i64, 6, 7, 8];
        assert_eq!(
            batched(&ai, &row_major, &bi, &row_major, (2, 2, 2), 2),
            vec![38, 44, 86, 100]
        );
    }

    /// Split products (by rows and by columns, parts of uneven size, a transposed `b`,
    /// accumulating into `out`) equal the plain loop.
    #[test]
    fn split_products_match_the_naive_product() {
        let cases = [
            (70, 500, 130, false),
            (64, 150, 784, true),
            (200, 90, 80, true),
            (6, 75, 5001, true),
            (16, 40, 1200, false),
            // Past `PAR_FLOPS`, split for its long `k`.
            (300, 40, 1000, false),
        ];
        for (m, n, k, b_transposed) in cases {
            let expect = split_plan(m, n, k, 2);
            assert!(expect.is_some(), "{m}x{n}x{k} is not split");
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let b: Vec<f64> = (0..k * n)
                .map(|i| ((i * 104_729) % 11) as f64 - 5.0)
                .collect();
            let ma = MatRef {
                offset: 0,
                rs: k as isize,
                cs: 1,
            };
            let mb = if b_transposed {
                MatRef {
                    offset: 0,
                    rs: 1,
                    cs: k as isize,
                }
            } else {
                MatRef {
                    offset: 0,
                    rs: n as isize,
                    cs: 1,
                }
            };
            let bt = |p: usize, j: usize| b[p * mb.rs as usize + j * mb.cs as usize];
            let start: Vec<f64> = (0..m * n).map(|i| (i % 5) as f64).collect();
            let mut out = start.clone();
            f64::gemm(&a, ma, &b, mb, &mut out, (m, n, k), 1.0, 2.0, 2);
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|p| a[i * k + p] * bt(p, j)).sum();
                    assert_eq!(
                        out[i * n + j],
                        start[i * n + j] + 2.0 * dot,
                        "{m}x{n}x{k} at {i},{j}"
                    );
                }
            }
        }
        assert!(matches!(split_plan(64, 128, 784, 2), Some(Split::Cols(64))));
        assert!(matches!(split_plan(128, 784, 64, 2), Some(Split::Rows(64))));
        assert!(matches!(
            split_plan(512, 28, 1792, 2),
            Some(Split::Rows(256))
        ));
        assert_eq!(split_plan(1792, 512, 128, 2), None);
    }

    /// A fresh output is only written: NaN left in the buffer never shows (as it would if
    /// `gemm` read it), including the gemv shapes, k = 0 and split products.
    #[test]
    fn column_major_rhs_is_read_through_a_row_major_copy() {
        // Columns 1 KiB apart (128 f64) along a long `k` (the second copy large enough to
        // share out), and products that read the operand in place: many rows, a short `k`,
        // columns not 1 KiB apart. An offset into a longer buffer, an odd column count and a
        // row count that is not a multiple of the tile.
        for (m, n, k, cs) in [
            (5, 37, 600, 640),
            (3, 120, 1000, 1024),
            (300, 9, 600, 640),
            (7, 19, 100, 128),
            (7, 19, 600, 645),
            // Three column groups over two threads: an uneven split.
            (3, 40, 2000, 2048),
        ] {
            let size = std::mem::size_of::<f64>();
            let mb = MatRef {
                offset: 3,
                rs: 1,
                cs: cs as isize,
            };
            let copied = cs % 128 == 0 && m < 256 && k >= 512;
            assert_eq!(copies_rhs(mb, (m, n, k), size), copied);
            let b: Vec<f64> = (0..3 + n * cs)
                .map(|i| ((i * 31) % 17) as f64 - 8.0)
                .collect();
            let copy = row_major(&b, mb, k, n, 2);
            for p in 0..k {
                for j in 0..n {
                    assert_eq!(copy[p * n + j], b[3 + j * cs + p], "{k}x{n} at {p},{j}");
                }
            }
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
            let ma = MatRef {
                offset: 0,
                rs: k as isize,
                cs: 1,
            };
            let mut out = vec![0.0; m * n];
            f64::gemm(&a, ma, &b, mb, &mut out, (m, n, k), 0.0, 1.0, 2);
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|p| a[i * k + p] * b[3 + j * cs + p]).sum();
                    assert_eq!(out[i * n + j], dot, "{m}x{n}x{k} at {i},{j}");
                }
            }
        }
    }

    #[test]
    fn gemm_into_writes_every_element_without_reading() {
        for (m, n, k) in [
            (1, 7, 5),
            (6, 1, 5),
            (3, 4, 0),
            (64, 128, 784),
            (5, 9, 3),
            (6, 75, 4000),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();
            let ma = MatRef {
                offset: 0,
                rs: k as isize,
                cs: 1,
            };
            let mb = MatRef {
                offset: 0,
                rs: n as isize,
                cs: 1,
            };
            let mut out = vec![MaybeUninit::new(f32::NAN); m * n];
            f32::gemm_into(&a, ma, &b, mb, &mut out, (m, n, k), 1.0, 2);
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: the buffer was initialised (with NaN) before the product.
                    let got = unsafe { out[i * n + j].assume_init() };
                    let dot: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                    assert_eq!(got, dot, "{m}x{n}x{k} at {i},{j}");
                }
            }
        }
    }

    #[test]
    fn operand_bounds_are_checked() {
        let row_major = MatRef {
            offset: 2,
            rs: 4,
            cs: 1,
        };
        assert!(row_major.fits(3, 4, 14));
        assert!(!row_major.fits(3, 4, 13));
        assert!(row_major.fits(0, 4, 0));
        let broadcast = MatRef {
            offset: 0,
            rs: 0,
            cs: 1,
        };
        assert!(broadcast.fits(1000, 3, 3));
        assert!(!MatRef {
            offset: 0,
            rs: -1,
            cs: 1
        }
        .fits(2, 2, 100));
        assert!(!MatRef {
            offset: 0,
            rs: isize::MAX,
            cs: 1
        }
        .fits(3, 2, usize::MAX));
    }
}
