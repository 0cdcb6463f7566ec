//! Float32 products on Intel's AMX tile units (Sapphire Rapids and later), at float32's
//! accuracy. Each operand element is split exactly into three bfloat16 terms,
//! `a = a₁ + a₂ + a₃`: `a₁` its nearest bfloat16 (8 significant bits), `a₂` the remainder's
//! leading 8 bits, `a₃` what is left (at most 8 bits, so exact); `|a₂| ≤ 2⁻⁸·|a|`,
//! `|a₃| < 2⁻¹⁵·|a|`. `a·b` is made of the six term products down to about 2⁻¹⁶ of it,
//! `a₁b₁`, `a₁b₂`, `a₂b₁`, `a₁b₃`, `a₂b₂` and `a₃b₁` (summed in the order that shares tile
//! loads best, see [`kernel`]); each is exact in float32, and the tiles accumulate in
//! float32 (round to nearest). The terms left out (`a₂b₃`, `a₃b₂`, `a₃b₃`)
//! come to under 2⁻²²·|a·b|, a few units of float32's round-off (2⁻²⁴) per product, below
//! what a float32 sum of many products gathers (XLA's "bf16_6x"; Henry, Tang and Heinecke,
//! "Leveraging the bfloat16 Artificial Intelligence Datatype For Higher-Precision
//! Computations", 2019). PyTorch's float32 products on the same CPU stay on the AVX-512
//! units (its `"highest"` matmul precision); the results differ from them by float32
//! round-off, as two float32 kernels' do.
//!
//! The tiles make 16·16·32 multiply-adds per instruction: the micro-kernel runs at about
//! 2.2–2.3 TFLOP/s of bfloat16 on one core of the benchmark machine, where the AVX-512
//! float32 kernels make about 150–180 GFLOP/s, so its six products still run at over twice
//! the float32 rate. Splitting and packing the operands costs about a cycle per element,
//! and a whole product (`[256, 2048] @ [2048, 256]`, one thread) runs 1.2–1.4× as fast as
//! the float32 kernel; sides under 128 gain nothing.
//!
//! The split carries only finite values between 2⁻⁵¹ and 2¹²⁶ in magnitude (and zero):
//! the tiles flush subnormal term products (two operands of 2⁻⁵¹ keep every term product
//! above 2⁻¹²⁶ but the dropped ones), and a value near float32's largest would round to an
//! infinite first term. A block of an operand holding any other value (an infinity,
//! a NaN, a huge or a tiny value) is multiplied by the caller's float32 kernel instead
//! (`fallback`), so such values give what a float32 product gives.
//!
//! Layout (GotoBLAS's): `B` is packed a block of `kc × nc` at a time (three terms, each as
//! rows of 16 bfloat16 pairs, the tiles' VNNI layout), `A` a panel of 32 rows at a time
//! (or all of it once, [`Packed`], for a left operand many products share); the
//! micro-kernel keeps a 32×32 block of the output in four tiles.

use std::arch::asm;
use std::arch::x86_64::*;
use std::cell::RefCell;
use std::sync::OnceLock;

/// The depth of a packed block (elements of `k`), a multiple of 32.
const KC: usize = 512;

/// The bytes one packed block of `B` may take: it is read by every row panel of `A`, so it
/// should stay in the core's L2 cache (2 MiB on the benchmark machine).
const B_BYTES: usize = 1 << 20;

/// The output rows and columns of one micro-kernel call (two tiles each way).
const MR: usize = 32;
const NR: usize = 32;

/// Dwords in one tile: 16 rows of 16 (1 KiB). Packed operands keep each tile's rows
/// together (rows a power of two apart would share a few of the L1 cache's sets), and
/// each step of 32 along the depth as three terms of two tiles.
const TILE: usize = 256;

/// Whether this CPU has the tile units (AMX-TILE and AMX-BF16, with AVX-512 for the
/// packing) and the kernel lets this process use them (`arch_prctl(ARCH_REQ_XCOMP_PERM)`).
/// `RUSTORCH_AMX=0` in the environment turns them off.
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        if std::env::var("RUSTORCH_AMX").is_ok_and(|v| v == "0") || !super::math::has_avx512() {
            return false;
        }
        // `cpuid` leaf 7 exists on every x86-64 CPU that has AVX-512.
        let leaf = __cpuid_count(7, 0);
        let (tile, bf16) = (leaf.edx & (1 << 24) != 0, leaf.edx & (1 << 22) != 0);
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a request for a permission, with no pointers; it fails harmlessly where
        // the kernel does not know it.
        tile && bf16
            && unsafe {
                libc::syscall(
                    libc::SYS_arch_prctl,
                    ARCH_REQ_XCOMP_PERM,
                    XFEATURE_XTILEDATA,
                )
            } == 0
    })
}

/// An operand: element `(x, k)` at `ptr + x·sx + k·sk`, `x` being the row for `A` and the
/// column for `B`. One of the strides is 1.
#[derive(Clone, Copy, Debug)]
pub struct Operand {
    pub ptr: *const f32,
    pub sx: isize,
    pub sk: isize,
}

/// The left operand of [`gemm`]: packed by each product, or once for many ([`Packed`]).
#[derive(Clone, Copy, Debug)]
pub enum Lhs<'a> {
    Plain(Operand),
    Packed(&'a Packed),
}

/// A left operand packed once for many products (a convolution's filters against each
/// tile of images): every block of `KC` by 32 rows, as [`gemm`] packs them, and whether
/// the split carries its values.
#[derive(Debug)]
pub struct Packed {
    data: Vec<Line>,
    splittable: Vec<bool>,
    panels: usize,
    /// Lines per block.
    size: usize,
}

impl Packed {
    /// `a` (`m × k`) packed.
    ///
    /// # Safety
    /// [`available`] returned true; every element `a` reaches for `m`, `k` is readable.
    pub unsafe fn new(a: Operand, m: usize, k: usize) -> Packed {
        let panels = m.div_ceil(MR);
        let count = panels * k.div_ceil(KC);
        let size = Packed::block_lines(k);
        let mut data = vec![Line([0; 16]); size * count];
        let mut splittable = vec![false; count];
        // The blocks shared out between the threads, a run of them each.
        let run = count.div_ceil(super::team::parts()).max(1);
        let runs: Vec<_> = data
            .chunks_mut(size * run)
            .zip(splittable.chunks_mut(run))
            .enumerate()
            .collect();
        let a = SendOperand(a);
        super::team::for_each_part(runs, |(r, (lines, ok))| {
            let a = a.get();
            for (j, (block, ok)) in lines.chunks_mut(size).zip(ok).enumerate() {
                let i = r * run + j;
                let (kb, p) = (i / panels, i % panels);
                let (k0, r0) = (kb * KC, p * MR);
                let kc = KC.min(k - k0);
                let kcp = kc.next_multiple_of(32) / 2;
                // SAFETY: the caller's promise covers the block; each block has room for
                // `3·32·kcp` dwords of the longest block's `kcp`.
                *ok = unsafe { pack_a(a, r0, MR.min(m - r0), k0, kc, kcp, dwords(block)) };
            }
        });
        Packed {
            data,
            splittable,
            panels,
            size,
        }
    }

    /// Lines per packed block for a depth of `k`: three terms of 32 rows of the longest
    /// block's depth pairs.
    fn block_lines(k: usize) -> usize {
        3 * MR * (KC.min(k.next_multiple_of(32)) / 2) / 16
    }

    /// Depth block `kb`'s panel `p`, and whether the split carries it.
    fn block(&self, kb: usize, p: usize) -> (&[u32], bool) {
        let i = kb * self.panels + p;
        let lines = &self.data[i * self.size..(i + 1) * self.size];
        // SAFETY: as in `dwords`, read-only.
        let d = unsafe { std::slice::from_raw_parts(lines.as_ptr().cast(), 16 * lines.len()) };
        (d, self.splittable[i])
    }
}

/// An operand handed to the threads that pack it.
#[derive(Clone, Copy)]
struct SendOperand(Operand);
// SAFETY: the operand is only read, and its owner outlives the packing (which joins).
unsafe impl Send for SendOperand {}
// SAFETY: as above.
unsafe impl Sync for SendOperand {}

impl SendOperand {
    /// The operand (a method, so that closures capture the whole wrapper).
    fn get(&self) -> Operand {
        self.0
    }
}

/// How `out` is updated by a product: `out = alpha·out + beta·a·b` (`alpha` `None`: `out`
/// is only written).
#[derive(Clone, Copy, Debug)]
pub struct Update {
    pub alpha: Option<f32>,
    pub beta: f32,
}

/// A block of the product that `gemm` leaves to the caller's float32 kernel: rows
/// `r0..r0 + rows`, columns `c0..c0 + cols`, depth `k0..k0 + kc`, to be added to `out`
/// (`first`: written by the [`Update`] rule instead, as the first block of the depth).
#[derive(Clone, Copy, Debug)]
pub struct Block {
    pub r0: usize,
    pub rows: usize,
    pub c0: usize,
    pub cols: usize,
    pub k0: usize,
    pub kc: usize,
    pub first: bool,
}

/// A cache line of dwords: the packing buffers are made of them, so that no tile row
/// straddles two lines.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u32; 16]);

/// The lines' dwords.
fn dwords(lines: &mut [Line]) -> &mut [u32] {
    // SAFETY: a `Line` is 16 dwords with no padding (`repr(C)`, 64 bytes), so the lines are
    // `16·len` initialised dwords, exclusively borrowed like `lines`.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), 16 * lines.len()) }
}

thread_local! {
    /// Each thread's packing buffers, kept between products.
    static SCRATCH: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// `out[m×n]` (row stride `ldo`) updated by `a·b` (`[m, k]` by `[k, n]`) on this thread,
/// the blocks with values the split cannot carry handed to `fallback`.
///
/// # Safety
/// [`available`] returned true; every element the operands reach for `m`, `n`, `k` is
/// readable; `out` holds `m` rows of `n` writable elements `ldo` apart, aliasing neither
/// operand, initialised unless `update.alpha` is `None`. `fallback` computes its block,
/// without the tile units (it must not call this function: the tiles hold this product's
/// state, and the packing buffers are borrowed).
pub unsafe fn gemm(
    (m, n, k): (usize, usize, usize),
    a: Lhs<'_>,
    b: Operand,
    out: *mut f32,
    ldo: usize,
    update: Update,
    fallback: &mut dyn FnMut(Block),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // No tiles to run: every block is the caller's (which writes `beta·0`).
        fallback(Block {
            r0: 0,
            rows: m,
            c0: 0,
            cols: n,
            k0: 0,
            kc: 0,
            first: true,
        });
        return;
    }
    let kcp_max = KC.min(k.next_multiple_of(32)) / 2;
    // Columns per packed block of `B`: as many 32-column groups as fit `B_BYTES`.
    let nc_max = (B_BYTES / (3 * kcp_max * 4)).max(NR) / NR * NR;
    let a_len = if matches!(a, Lhs::Plain(_)) {
        3 * MR * kcp_max
    } else {
        0
    };
    let b_len = 3 * kcp_max * nc_max.min(n.next_multiple_of(NR));
    SCRATCH.with_borrow_mut(|s| {
        if s.len() < (a_len + b_len) / 16 {
            s.resize((a_len + b_len) / 16, Line([0; 16]));
        }
        let s = dwords(s);
        let (abuf, bbuf) = s.split_at_mut(a_len);
        // SAFETY: the tile units are available (the caller's promise); the configuration
        // is a valid palette-1 one.
        unsafe { configure() };
        let mut c = [[0f32; NR]; MR];
        for c0 in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - c0);
            for k0 in (0..k).step_by(KC) {
                let kc = KC.min(k - k0);
                let kcp = kc.next_multiple_of(32) / 2;
                let first = k0 == 0;
                // Rows `r0..r0 + rows` of this block of columns and depth.
                let rows_of = |r0, rows| Block {
                    r0,
                    rows,
                    c0,
                    cols: nc,
                    k0,
                    kc,
                    first,
                };
                // SAFETY: the block lies within `b` (the caller's promise) and `bbuf` holds
                // `3·kcp·nc` rounded up to whole groups.
                if unsafe { !pack_b(b, c0, nc, k0, kc, kcp, bbuf) } {
                    fallback(rows_of(0, m));
                    continue;
                }
                for r0 in (0..m).step_by(MR) {
                    let rows = MR.min(m - r0);
                    let (ap, ok) = match a {
                        // SAFETY: as for `B`; `abuf` holds `3·32·kcp`.
                        Lhs::Plain(a) => {
                            let ok = unsafe { pack_a(a, r0, rows, k0, kc, kcp, abuf) };
                            (&abuf[..], ok)
                        }
                        Lhs::Packed(p) => p.block(k0 / KC, r0 / MR),
                    };
                    if !ok {
                        fallback(rows_of(r0, rows));
                        continue;
                    }
                    for (g, c1) in (c0..c0 + nc).step_by(NR).enumerate() {
                        let cols = NR.min(c0 + nc - c1);
                        let bg = &bbuf[g * 3 * kcp * NR..][..3 * kcp * NR];
                        let (ap, bp) = (ap.as_ptr(), bg.as_ptr());
                        // SAFETY: rows `r0..r0 + rows`, columns `c1..c1 + cols` are in `out`.
                        let o = unsafe { out.add(r0 * ldo + c1) };
                        // A whole block whose update is a plain sum goes between the tiles
                        // and `out` directly; others through `c`.
                        let plain = update.beta == 1.0 && rows == MR && cols == NR;
                        match (plain, first, update.alpha) {
                            // SAFETY (all three): both packs hold `kcp` dwords of depth per
                            // row; `o` is a whole block of `out`, initialised when it is
                            // read (after the first block, or with an `alpha`); `c` is 32
                            // rows of 32.
                            (true, true, None) => unsafe { kernel(ap, bp, kcp, o, ldo, false) },
                            (true, false, _) | (true, true, Some(1.0)) => unsafe {
                                kernel(ap, bp, kcp, o, ldo, true)
                            },
                            _ => unsafe {
                                kernel(ap, bp, kcp, c.as_mut_ptr().cast(), NR, false);
                                store(&c, o, ldo, rows, cols, update, first)
                            },
                        }
                    }
                }
            }
        }
        // SAFETY: releases the tile state this thread configured.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    });
}

/// Loads the tile configuration: palette 1, eight tiles of 16 rows of 64 bytes.
///
/// # Safety
/// The tile units must be available.
unsafe fn configure() {
    let mut cfg = [0u8; 64];
    cfg[0] = 1;
    for t in 0..8 {
        cfg[16 + 2 * t..18 + 2 * t].copy_from_slice(&64u16.to_le_bytes());
        cfg[48 + t] = 16;
    }
    // SAFETY: `cfg` is a 64-byte configuration (the caller vouches for the units).
    unsafe { asm!("ldtilecfg [{}]", in(reg) cfg.as_ptr(), options(nostack, readonly)) };
}

/// The 32×32 block at `c` (rows `ldc` floats apart) = the six term products of an `A`
/// panel (three terms of 32 rows of `kcp` dwords) and a `B` group (three terms of `kcp`
/// rows of 32 dwords), plus the block's values before when `add`.
///
/// # Safety
/// The tiles are configured ([`configure`]); `a` holds `3·32·kcp` and `b` `3·kcp·32`
/// dwords; `kcp` is a multiple of 16; `c` holds 32 rows of 32 floats `ldc` apart,
/// initialised when `add`.
unsafe fn kernel(a: *const u32, b: *const u32, kcp: usize, c: *mut f32, ldc: usize, add: bool) {
    if add {
        // SAFETY: the four tiles are the block's quarters (the caller's promise).
        unsafe {
            asm!(
                "tileloadd tmm0, [{c} + {s}*1]",
                "tileloadd tmm1, [{c} + {s}*1 + 64]",
                "tileloadd tmm2, [{h} + {s}*1]",
                "tileloadd tmm3, [{h} + {s}*1 + 64]",
                c = in(reg) c,
                h = in(reg) c.add(16 * ldc),
                s = in(reg) ldc * 4,
                options(nostack, readonly)
            )
        };
    } else {
        // SAFETY: zeroing the four accumulator tiles touches no memory.
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            )
        };
    }
    // Each step holds the three terms' two tiles of `A` and of `B` side by side (6 KiB
    // each). The six term products take 16 tile loads a step: `A`'s first term against
    // `B`'s second, third and first, then `B`'s first against `A`'s second and third, then
    // the second terms.
    // SAFETY: `kcp / 16` steps of 6 KiB each, within both packs.
    unsafe {
        asm!(
            "2:",
            "tileloadd tmm4, [{a} + {s}*1]",
            "tileloadd tmm5, [{a} + {s}*1 + 1024]",
            "tileloadd tmm6, [{b} + {s}*1 + 2048]",
            "tileloadd tmm7, [{b} + {s}*1 + 3072]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm6, [{b} + {s}*1 + 4096]",
            "tileloadd tmm7, [{b} + {s}*1 + 5120]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm6, [{b} + {s}*1]",
            "tileloadd tmm7, [{b} + {s}*1 + 1024]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm4, [{a} + {s}*1 + 2048]",
            "tileloadd tmm5, [{a} + {s}*1 + 3072]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm4, [{a} + {s}*1 + 4096]",
            "tileloadd tmm5, [{a} + {s}*1 + 5120]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm4, [{a} + {s}*1 + 2048]",
            "tileloadd tmm5, [{a} + {s}*1 + 3072]",
            "tileloadd tmm6, [{b} + {s}*1 + 2048]",
            "tileloadd tmm7, [{b} + {s}*1 + 3072]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "add {a}, 6144",
            "add {b}, 6144",
            "dec {steps}",
            "jnz 2b",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            s = in(reg) 64usize,
            steps = inout(reg) kcp / 16 => _,
            options(nostack, readonly)
        );
    }
    // SAFETY: the four tiles are the block's quarters (the caller's promise).
    unsafe {
        asm!(
            "tilestored [{c} + {s}*1], tmm0",
            "tilestored [{c} + {s}*1 + 64], tmm1",
            "tilestored [{h} + {s}*1], tmm2",
            "tilestored [{h} + {s}*1 + 64], tmm3",
            c = in(reg) c,
            h = in(reg) c.add(16 * ldc),
            s = in(reg) ldc * 4,
            options(nostack)
        )
    };
}

/// `out`'s `rows × cols` block updated from `c`: by the [`Update`] rule for the first block
/// of the depth, added afterwards.
///
/// # Safety
/// `out` holds `rows` rows of `cols` elements `ldo` apart, initialised unless this is the
/// first block and `alpha` is `None`.
#[target_feature(enable = "avx512f")]
unsafe fn store(
    c: &[[f32; NR]; MR],
    out: *mut f32,
    ldo: usize,
    rows: usize,
    cols: usize,
    update: Update,
    first: bool,
) {
    let beta = _mm512_set1_ps(update.beta);
    let coef = match (first, update.alpha) {
        (true, None) => None,
        (true, Some(alpha)) => Some(_mm512_set1_ps(alpha)),
        (false, _) => Some(_mm512_set1_ps(1.0)),
    };
    for (i, row) in c.iter().enumerate().take(rows) {
        for h in 0..2 {
            let lanes = cols.saturating_sub(16 * h).min(16);
            if lanes == 0 {
                break;
            }
            let mask = lanes_mask(lanes);
            // SAFETY: lanes `0..lanes` of the row's half lie within `out`'s block; the
            // masked loads and stores touch no other lane.
            unsafe {
                let o = out.add(i * ldo + 16 * h);
                let v = _mm512_mul_ps(beta, _mm512_loadu_ps(row.as_ptr().add(16 * h)));
                let v = match coef {
                    None => v,
                    Some(cf) => _mm512_fmadd_ps(cf, _mm512_maskz_loadu_ps(mask, o), v),
                };
                _mm512_mask_storeu_ps(o, mask, v);
            }
        }
    }
}

/// The first `lanes` (≤ 16) lanes.
fn lanes_mask(lanes: usize) -> __mmask16 {
    ((1u32 << lanes) - 1) as __mmask16
}

/// Packs `A`'s rows `r0..r0 + rows` (≤ 32), depth `k0..k0 + kc`, as three terms of 32 rows
/// of `kcp` dwords (zero past the block). False when a value cannot be split.
///
/// # Safety
/// The block's elements are readable; `buf` holds `3·32·kcp` dwords.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_a(
    a: Operand,
    r0: usize,
    rows: usize,
    k0: usize,
    kc: usize,
    kcp: usize,
    buf: &mut [u32],
) -> bool {
    assert!(buf.len() >= 3 * MR * kcp);
    let mut ok = true;
    for g in 0..MR / 16 {
        let xn = rows.saturating_sub(16 * g).min(16);
        for kb in 0..kcp / 16 {
            let kn = kc.saturating_sub(32 * kb).min(32);
            // SAFETY: the caller's promise covers the block's elements; the step's three
            // terms of this half lie within `buf` (asserted above).
            ok &= unsafe {
                let dst = buf.as_mut_ptr().add((kb * 6 + g) * TILE);
                block(a, (r0 + 16 * g, xn), (k0 + 32 * kb, kn), true, dst)
            };
        }
    }
    ok
}

/// Packs `B`'s columns `c0..c0 + cols`, depth `k0..k0 + kc`, as groups of 32 columns, each
/// three terms of `kcp` rows of 32 dwords (zero past the block). False when a value cannot
/// be split.
///
/// # Safety
/// The block's elements are readable; `buf` holds `3·kcp·cols` rounded up to 32 columns.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_b(
    b: Operand,
    c0: usize,
    cols: usize,
    k0: usize,
    kc: usize,
    kcp: usize,
    buf: &mut [u32],
) -> bool {
    let groups = cols.div_ceil(NR);
    assert!(buf.len() >= 3 * kcp * NR * groups);
    let mut ok = true;
    for h in 0..2 * groups {
        let xn = cols.saturating_sub(16 * h).min(16);
        for kb in 0..kcp / 16 {
            let at = h / 2 * 3 * kcp * NR + (kb * 6 + h % 2) * TILE;
            // SAFETY: the step's three terms of this half lie within `buf` (asserted above).
            let dst = unsafe { buf.as_mut_ptr().add(at) };
            if xn == 0 {
                // The last group's second half, past the block.
                for i in 0..3 * 16 {
                    // SAFETY: as above.
                    unsafe {
                        let v = dst.add(2 * TILE * (i / 16) + 16 * (i % 16));
                        _mm512_storeu_si512(v.cast(), _mm512_setzero_si512())
                    };
                }
                continue;
            }
            let kn = kc.saturating_sub(32 * kb).min(32);
            // SAFETY: the caller's promise covers the block's elements.
            ok &= unsafe { block(b, (c0 + 16 * h, xn), (k0 + 32 * kb, kn), false, dst) };
        }
    }
    ok
}

/// The block of `src` at `x0..x0 + xn` (≤ 16) by `k0..k0 + kn` (≤ 32), zero past those,
/// split into three bfloat16 terms of 16 vectors of 16 dwords (each dword a pair of values
/// at depths `2j` and `2j + 1`), vector `i` of term `t` stored at `dst + 2·TILE·t + 16·i`:
/// with `rows` one vector per `x` over the depth pairs (`A`'s tile rows), without one per
/// depth pair over `x` (`B`'s VNNI rows). Returns whether every value can be split.
///
/// # Safety
/// The block's elements are readable; `dst` is writable for the three terms' vectors.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn block(
    src: Operand,
    (x0, xn): (usize, usize),
    (k0, kn): (usize, usize),
    rows: bool,
    dst: *mut u32,
) -> bool {
    let zero = _mm512_setzero_si512();
    let mut range = Range::new();
    if xn == 0 || kn == 0 {
        // Past the operand (a panel's second half): zeros, and no address made into it.
        for i in 0..3 * 16 {
            // SAFETY: within the three terms' vectors (the caller's promise).
            unsafe {
                _mm512_storeu_si512(dst.add(2 * TILE * (i / 16) + 16 * (i % 16)).cast(), zero)
            };
        }
        return true;
    }
    let at = |x: usize, k: usize| (x0 + x) as isize * src.sx + (k0 + k) as isize * src.sk;
    // Vectors stored in the order they are made; where that is not the packed order, each
    // term's 16 are transposed in place at the end.
    let direct = rows == (src.sk == 1);
    let put = |term: usize, i: usize, v: __m512i| {
        // SAFETY: within the three terms' vectors (the caller's promise).
        unsafe { _mm512_storeu_si512(dst.add(2 * TILE * term + 16 * i).cast(), v) }
    };
    let made = if src.sk == 1 {
        // Rows along the depth: 32 values per `x` give one vector over its depth pairs.
        let idx = odd_words();
        let (m0, m1) = (lanes_mask(kn.min(16)), lanes_mask(kn.saturating_sub(16)));
        for x in 0..xn {
            // SAFETY: the masked lanes are the block's elements at depths `k0..k0 + kn`
            // (`kn ≥ 1`), and the second half's address is only made when it has some.
            let (lo, hi) = unsafe {
                let p = src.ptr.offset(at(x, 0));
                let hi = if kn > 16 {
                    _mm512_maskz_loadu_ps(m1, p.add(16))
                } else {
                    _mm512_setzero_ps()
                };
                (_mm512_maskz_loadu_ps(m0, p), hi)
            };
            range.add(lo);
            range.add(hi);
            let (sl, sh) = (split(lo), split(hi));
            for j in 0..3 {
                let v = _mm512_permutex2var_epi16(
                    _mm512_castps_si512(sl[j]),
                    idx,
                    _mm512_castps_si512(sh[j]),
                );
                put(j, x, v);
            }
        }
        xn
    } else {
        // Columns along `x`: the rows at depths `2j` and `2j + 1` give one vector over `x`.
        let mx = lanes_mask(xn);
        let load = |k: usize| {
            if k < kn {
                // SAFETY: the masked lanes are the block's elements at depth `k0 + k`.
                unsafe { _mm512_maskz_loadu_ps(mx, src.ptr.offset(at(0, k))) }
            } else {
                _mm512_setzero_ps()
            }
        };
        for j in 0..kn.div_ceil(2) {
            let (even, odd) = (load(2 * j), load(2 * j + 1));
            range.add(even);
            range.add(odd);
            let (se, so) = (split(even), split(odd));
            for (term, (e, o)) in se.into_iter().zip(so).enumerate() {
                let v = _mm512_or_si512(
                    _mm512_castps_si512(o),
                    _mm512_srli_epi32::<16>(_mm512_castps_si512(e)),
                );
                put(term, j, v);
            }
        }
        kn.div_ceil(2)
    };
    for term in 0..3 {
        for i in made..16 {
            put(term, i, zero);
        }
    }
    if !direct {
        for term in 0..3 {
            // SAFETY (both): as in `put`.
            let at = |i: usize| unsafe { dst.add(2 * TILE * term + 16 * i) };
            let mut vs: [__m512i; 16] =
                std::array::from_fn(|i| unsafe { _mm512_loadu_si512(at(i).cast()) });
            transpose(&mut vs);
            for (i, v) in vs.into_iter().enumerate() {
                // SAFETY: as in `put`.
                unsafe { _mm512_storeu_si512(at(i).cast(), v) };
            }
        }
    }
    range.splittable()
}

/// Word indices picking the high (bfloat16) halves of two vectors' 32 dwords, in order.
#[target_feature(enable = "avx512f")]
fn odd_words() -> __m512i {
    let idx: [i16; 32] = std::array::from_fn(|j| (2 * j + 1) as i16);
    // SAFETY: 64 bytes read from a 64-byte array.
    unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) }
}

/// `x`'s three bfloat16 terms (each a float32 with its low 16 bits zero): the nearest
/// bfloat16 (ties to even), then the remainder (at most 16 significant bits) cut to its
/// leading 8, then what is left, which has at most 8 and so is exact. (For finite values
/// below 2¹²⁶, which is all it is given.)
#[target_feature(enable = "avx512f")]
fn split(x: __m512) -> [__m512; 3] {
    let high = _mm512_set1_epi32(0xFFFF_0000u32 as i32);
    let bits = _mm512_castps_si512(x);
    let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
    let up = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7FFF)), odd);
    let t1 = _mm512_castsi512_ps(_mm512_and_si512(up, high));
    let r1 = _mm512_sub_ps(x, t1);
    let t2 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(r1), high));
    [t1, t2, _mm512_sub_ps(r1, t2)]
}

/// The running range of a block's magnitudes: the largest, and the smallest nonzero less
/// one (zero wraps to the largest dword).
#[derive(Clone, Copy)]
struct Range {
    max: __m512i,
    min: __m512i,
}

impl Range {
    #[target_feature(enable = "avx512f")]
    fn new() -> Range {
        Range {
            max: _mm512_setzero_si512(),
            min: _mm512_set1_epi32(-1),
        }
    }

    #[target_feature(enable = "avx512f")]
    fn add(&mut self, x: __m512) {
        let abs = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MAX));
        self.max = _mm512_max_epu32(self.max, abs);
        self.min = _mm512_min_epu32(self.min, _mm512_sub_epi32(abs, _mm512_set1_epi32(1)));
    }

    /// Whether the split carries every value: finite, below 2¹²⁶ in magnitude, and zero or
    /// at least 2⁻⁵¹.
    #[target_feature(enable = "avx512f")]
    fn splittable(&self) -> bool {
        const HUGE: u32 = 253 << 23;
        const TINY: u32 = 76 << 23;
        _mm512_reduce_max_epu32(self.max) < HUGE && _mm512_reduce_min_epu32(self.min) >= TINY - 1
    }
}

/// Transposes 16 vectors of 16 dwords in place: four rounds, each swapping the
/// off-diagonal blocks of side 8, 4, 2 and 1.
#[target_feature(enable = "avx512f")]
fn transpose(r: &mut [__m512i; 16]) {
    for b in [8usize, 4, 2, 1] {
        let lo: [i32; 16] = std::array::from_fn(|c| if c & b != 0 { 16 + c - b } else { c } as i32);
        let hi: [i32; 16] = std::array::from_fn(|c| if c & b != 0 { 16 + c } else { c + b } as i32);
        // SAFETY: 64 bytes read from 64-byte arrays.
        let (lo, hi) = unsafe {
            (
                _mm512_loadu_si512(lo.as_ptr().cast()),
                _mm512_loadu_si512(hi.as_ptr().cast()),
            )
        };
        for i in (0..16).filter(|i| i & b == 0) {
            let (u, v) = (r[i], r[i + b]);
            r[i] = _mm512_permutex2var_epi32(u, lo, v);
            r[i + b] = _mm512_permutex2var_epi32(u, hi, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// `a` as `[m, k]` (row-major, or column-major when `t`).
    fn operand(v: &[f32], rows: usize, cols: usize, t: bool) -> (Operand, isize, isize) {
        let (rs, cs) = if t {
            (1, rows as isize)
        } else {
            (cols as isize, 1)
        };
        (
            Operand {
                ptr: v.as_ptr(),
                sx: rs,
                sk: cs,
            },
            rs,
            cs,
        )
    }

    /// The float64 dot product of row `i` of `a` and column `j` of `b`, and its size (the
    /// sum of the terms' magnitudes).
    fn dot(
        a: (&[f32], isize, isize),
        b: (&[f32], isize, isize),
        i: usize,
        j: usize,
        k: usize,
    ) -> (f64, f64) {
        (0..k).fold((0.0, 0.0), |(s, size), p| {
            let x = a.0[(i as isize * a.1 + p as isize * a.2) as usize] as f64;
            let y = b.0[(p as isize * b.1 + j as isize * b.2) as usize] as f64;
            (s + x * y, size + (x * y).abs())
        })
    }

    /// Products of every operand orientation, with sides that are not multiples of the
    /// tiles, several blocks of depth and of columns, written and accumulated, the left
    /// operand packed by the product and once beforehand, against
    /// float64: within 2⁻²⁰ of the terms' size (float32 products of these depths carry
    /// up to about `k·2⁻²⁴`; a lost term or a misplaced tile is off by far more).
    #[test]
    fn products_match_float64() {
        if !available() {
            eprintln!("no AMX tile units on this CPU: nothing to test");
            return;
        }
        for (m, n, k) in [
            (128, 128, 128),
            (200, 150, 77),
            (33, 47, 1000),
            (70, 700, 600),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (av, bv) = (values(m * k, 1), values(k * n, 2));
                let (a, ars, acs) = operand(&av, m, k, ta);
                let (b, brs, bcs) = operand(&bv, k, n, tb);
                let b = Operand {
                    ptr: b.ptr,
                    sx: bcs,
                    sk: brs,
                };
                let start = values(m * n, 3);
                // SAFETY: as below.
                let packed = unsafe { Packed::new(a, m, k) };
                // Written, accumulated (through `store`), and added as a plain sum (the
                // tiles loading `out`), from `a` packed by the product or once before.
                let updates = [(None, 2.0), (Some(0.5f32), 2.0), (Some(1.0), 1.0)];
                for ((alpha, beta), lhs) in updates
                    .into_iter()
                    .flat_map(|u| [(u, Lhs::Plain(a)), (u, Lhs::Packed(&packed))])
                {
                    let mut out = start.clone();
                    let mut fallback = |blk: Block| panic!("no value needs the fallback: {blk:?}");
                    let update = Update { alpha, beta };
                    // SAFETY: the tiles are available; the operands are `m × k` and `k × n`
                    // within `av` and `bv`, and `out` is `m × n`.
                    unsafe {
                        gemm(
                            (m, n, k),
                            lhs,
                            b,
                            out.as_mut_ptr(),
                            n,
                            update,
                            &mut fallback,
                        )
                    };
                    for i in 0..m {
                        for j in 0..n {
                            let (d, size) = dot((&av, ars, acs), (&bv, brs, bcs), i, j, k);
                            let base = alpha.map_or(0.0, |al| al as f64 * start[i * n + j] as f64);
                            let err = (out[i * n + j] as f64 - base - beta as f64 * d).abs();
                            assert!(
                                err <= 2.0 * size * 2f64.powi(-20) + 1e-7,
                                "{m}x{n}x{k} ta={ta} tb={tb} {alpha:?} {lhs:?} at ({i}, {j}): error {err:e}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// An infinity, a NaN, a huge and a tiny value each send their block (and only theirs)
    /// to the fallback, whose results stand.
    #[test]
    fn values_the_split_cannot_carry_go_to_the_fallback() {
        if !available() {
            eprintln!("no AMX tile units on this CPU: nothing to test");
            return;
        }
        let (m, n, k) = (96, 64, 1100);
        for (at_a, value) in [
            (true, f32::INFINITY),
            (false, f32::NAN),
            (true, 3e38),
            (false, 1e-30),
        ] {
            let mut av = values(m * k, 4);
            let mut bv = values(k * n, 5);
            // Row 40 (the second panel) at depth 600 (the second block), or `b`'s row 600 at
            // column 10.
            if at_a {
                av[40 * k + 600] = value;
            } else {
                bv[600 * n + 10] = value;
            }
            let a = Operand {
                ptr: av.as_ptr(),
                sx: k as isize,
                sk: 1,
            };
            let b = Operand {
                ptr: bv.as_ptr(),
                sx: 1,
                sk: n as isize,
            };
            let mut out = vec![0f32; m * n];
            let mut blocks = Vec::new();
            let o = out.as_mut_ptr();
            let mut fallback = |blk: Block| {
                blocks.push((
                    blk.r0, blk.rows, blk.c0, blk.cols, blk.k0, blk.kc, blk.first,
                ));
                for i in blk.r0..blk.r0 + blk.rows {
                    for j in blk.c0..blk.c0 + blk.cols {
                        let s: f32 = (blk.k0..blk.k0 + blk.kc)
                            .map(|p| av[i * k + p] * bv[p * n + j])
                            .sum();
                        // SAFETY: (i, j) is within the `m × n` output.
                        unsafe { *o.add(i * n + j) += s };
                    }
                }
            };
            let update = Update {
                alpha: None,
                beta: 1.0,
            };
            // SAFETY: as in `products_match_float64`.
            unsafe { gemm((m, n, k), Lhs::Plain(a), b, o, n, update, &mut fallback) };
            let expect = if at_a {
                (32, 32, 0, 64, 512, 512, false)
            } else {
                (0, 96, 0, 64, 512, 512, false)
            };
            assert_eq!(blocks, vec![expect], "{value}");
            for i in 0..m {
                for j in 0..n {
                    let (d, size) = dot((&av, k as isize, 1), (&bv, n as isize, 1), i, j, k);
                    let got = out[i * n + j] as f64;
                    let touched = if at_a { i == 40 } else { j == 10 };
                    if touched && (!value.is_finite() || value.abs() > 1e30) {
                        assert_eq!(got.is_nan(), d.is_nan(), "{value} at ({i}, {j})");
                        assert!(
                            got.is_nan() || got.is_infinite() || (got - d).abs() <= 1e-6 * size,
                            "{value} at ({i}, {j}): {got}"
                        );
                    } else {
                        assert!(
                            (got - d).abs() <= size * 2f64.powi(-20) + 1e-7,
                            "{value} at ({i}, {j}): {got} vs {d}"
                        );
                    }
                }
            }
        }
    }
}
