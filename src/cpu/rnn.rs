//! Recurrent layers on the CPU: the time loop of one layer and direction, the batch's rows
//! shared once between the team's threads.
//!
//! A row's state depends only on its own previous state (its recurrent product is its
//! previous hidden state times `W_hhᵀ`), so the rows are independent through time: each
//! thread runs the whole sequence for its rows, writing its rows of the step's gates (the
//! bias, then the input projection `x_t·W_ihᵀ` and the product with `W_hhᵀ` added in one
//! product by `[x_t, h_{t−1}]`) and at once applying the cell, with one hand-off per layer
//! rather than one per step, and the gates a thread just wrote still in its cache. (Projecting every step at once
//! beforehand, as one large product, wrote the gates out to memory and read them back in
//! the loop.) Backward through time is the same shape: per step and rows, the cell's
//! backward and then the rows' product with `W_hh` that carries the gradient to the
//! previous step. `W_ihᵀ` and `W_hhᵀ` (forward) and `W_hh` (backward) are packed once per
//! call ([`PackedRhs`]), not at every step. Nothing is allocated per step; the weight
//! gradients are single products over all steps, left to the op layer.
//!
//! The element functions keep PyTorch's formulas (`sigmoid = 1/(1 + e^{−x})`, the cell
//! updates of `nn.LSTM`, `nn.GRU`, `nn.RNN`), in `simd_dispatch!` loops over a row's units,
//! whose `sigmoid` and `tanh` polynomials use fused multiply-adds where the CPU has them.

use super::conv::Fma;
use super::matmul::MatRef;
use super::panel::{product, PackedRhs};
use super::{assume_init, assume_init_ref, team, uninit_vec, vec_assume_init, zero_init};
use crate::backend::num::{Float, MulAdd};
use crate::backend::{RnnCell, RnnGrads, RnnRun};
use crate::simd_dispatch;
use std::mem::MaybeUninit;

/// From this many multiply-adds per step's product on, the batch's rows are shared between
/// the team's threads (below, a part's products are too small to run well).
const SPLIT_FLOPS: usize = 1 << 18;
/// The fewest rows a part gets.
const SPLIT_MIN_ROWS: usize = 8;

/// The row ranges `[r0, r1)` the `rows` rows of the batch are split into.
fn row_parts(rows: usize, flops_per_row: usize) -> Vec<(usize, usize)> {
    if rows == 0 {
        return Vec::new();
    }
    let threads = team::parts();
    let parts = if rows * flops_per_row >= SPLIT_FLOPS {
        threads.min(rows / SPLIT_MIN_ROWS).max(1)
    } else {
        1
    };
    let per = rows.div_ceil(parts);
    (0..rows)
        .step_by(per)
        .map(|r0| (r0, (r0 + per).min(rows)))
        .collect()
}

/// Consecutive pieces of `s` of `rows[i].1 − rows[i].0` rows of `width` each, from row 0.
fn split_rows<'b, T>(
    mut s: &'b mut [T],
    width: usize,
    rows: &[(usize, usize)],
) -> Vec<&'b mut [T]> {
    let mut out = Vec::with_capacity(rows.len());
    for &(r0, r1) in rows {
        let (head, tail) = std::mem::take(&mut s).split_at_mut((r1 - r0) * width);
        out.push(head);
        s = tail;
    }
    out
}

/// Each part's rows of every step's block: `buf` holds `steps` blocks of the batch's rows,
/// `width` elements each, and part `i` gets rows `parts[i]` of each block (empty blocks
/// when `width` is 0: an operand the cell does not have).
fn part_blocks<'b, X>(
    buf: &'b mut [X],
    steps: usize,
    width: usize,
    parts: &[(usize, usize)],
) -> Vec<Vec<&'b mut [X]>> {
    let mut out: Vec<Vec<&'b mut [X]>> = parts.iter().map(|_| Vec::with_capacity(steps)).collect();
    if width == 0 {
        for blocks in &mut out {
            blocks.extend((0..steps).map(|_| -> &'b mut [X] { &mut [] }));
        }
        return out;
    }
    let rows = parts.last().map_or(0, |p| p.1);
    for block in buf.chunks_mut(rows * width).take(steps) {
        for (blocks, piece) in out.iter_mut().zip(split_rows(block, width, parts)) {
            blocks.push(piece);
        }
    }
    out
}

/// Block `t` of `blocks`, not yet written, and block `prev` (or `init` when there is none),
/// readable.
///
/// # Safety
/// Block `prev` must have been written.
unsafe fn step_and_prev<'b, T>(
    blocks: &'b mut [&mut [MaybeUninit<T>]],
    t: usize,
    prev: Option<usize>,
    init: &'b [T],
) -> (&'b mut [MaybeUninit<T>], &'b [T]) {
    let (cur, prev): (&mut [MaybeUninit<T>], &[MaybeUninit<T>]) = match prev {
        None => return (&mut *blocks[t], init),
        Some(p) if p < t => {
            let (lo, hi) = blocks.split_at_mut(t);
            (&mut *hi[0], &*lo[p])
        }
        Some(p) => {
            let (lo, hi) = blocks.split_at_mut(p);
            (&mut *lo[t], &*hi[0])
        }
    };
    // SAFETY: the caller vouches that block `prev` was written.
    (cur, unsafe { assume_init_ref(prev) })
}

/// `dst` written with `src` (as long as each other), as initialised elements.
fn write_copy<'d, T: Copy>(dst: &'d mut [MaybeUninit<T>], src: &[T]) -> &'d mut [T] {
    assert_eq!(dst.len(), src.len(), "write_copy: lengths differ");
    for (d, &v) in dst.iter_mut().zip(src) {
        d.write(v);
    }
    // SAFETY: every element was just written (the lengths agree).
    unsafe { assume_init(dst) }
}

/// `dst` written with the first `dst.len()` of `values` (which must have that many), as
/// initialised elements. `values` is a zip of the operands' slices, so the loop vectorises
/// (indexing them from a closure left a bounds check per element, and the loop scalar).
#[inline(always)]
fn write_iter<T>(dst: &mut [MaybeUninit<T>], values: impl Iterator<Item = T>) -> &mut [T] {
    let mut written = 0;
    for (d, v) in dst.iter_mut().zip(values) {
        d.write(v);
        written += 1;
    }
    assert_eq!(written, dst.len(), "write_iter: too few values");
    // SAFETY: every element was just written (counted above).
    unsafe { assume_init(dst) }
}

/// Some rows of one step, for [`cell_rows`]: `g` holds each row's gates with the recurrent
/// product added (and, for GRU, `hw` that product alone, its n block still without `b_hn`);
/// `b_hh` is added in the cell. The activated gates go back into `g`, the new state into
/// `h` (and LSTM's cell state into `extra`; GRU keeps `h·W_hnᵀ + b_hn` there): both are
/// only written, every element (`extra` empty for the plain cells). `h_prev` is read by
/// GRU, `c_prev` by LSTM; operands a cell does not use are empty.
pub struct StepRows<'a, T> {
    pub g: &'a mut [T],
    pub hw: &'a [T],
    pub b_hh: &'a [T],
    pub h_prev: &'a [T],
    pub c_prev: &'a [T],
    pub h: &'a mut [MaybeUninit<T>],
    pub extra: &'a mut [MaybeUninit<T>],
}

/// Some rows of one step going back, for [`cell_rows_backward`]: the forward's activated
/// gates `g`, new states `h` and `extra`, the previous `extra_prev` (LSTM) and `h_prev`
/// (GRU), the output's gradient `dout` (empty when none). `dh` holds the gradient w.r.t.
/// the rows' new hidden state; for GRU it becomes the part of the previous state's
/// gradient that does not go through `W_hh` (the other cells have none, and leave `dh` for
/// the product with `W_hh` to overwrite); `dc` becomes the gradient w.r.t. LSTM's previous
/// cell state. The gradients w.r.t. the input projections are written into every element
/// of `dgx` and, for GRU, w.r.t. the hidden ones into every element of `dgh` (empty for
/// the others).
pub struct StepRowsBack<'a, T> {
    pub g: &'a [T],
    pub h: &'a [T],
    pub extra: &'a [T],
    pub extra_prev: &'a [T],
    pub h_prev: &'a [T],
    pub dout: &'a [T],
    pub dh: &'a mut [T],
    pub dc: &'a mut [T],
    pub dgx: &'a mut [MaybeUninit<T>],
    pub dgh: &'a mut [MaybeUninit<T>],
}

/// `sigmoid` of each element, in place (a one-slice loop, which vectorises).
#[inline(always)]
fn sigmoid_all<T: Float, M: MulAdd>(v: &mut [T]) {
    for x in v {
        *x = x.sigmoid_with::<M>();
    }
}

/// `tanh` of each element, in place.
#[inline(always)]
fn tanh_all<T: Float, M: MulAdd>(v: &mut [T]) {
    for x in v {
        *x = x.tanh_with::<M>();
    }
}

/// One LSTM row: the gates `g` (i f g o) activated in place, the new cell state `c` from
/// `cp`, and the hidden state `h`. The activations run as one-slice passes (vectorised),
/// the updates as passes over the row's few operands; `M` is the copy's multiply-add.
#[inline(always)]
fn lstm_units<T: Float, M: MulAdd>(
    g: &mut [T],
    cp: &[T],
    c: &mut [MaybeUninit<T>],
    h: &mut [MaybeUninit<T>],
    hidden: usize,
) {
    let (ifg, o) = g.split_at_mut(3 * hidden);
    let (i_f, u) = ifg.split_at_mut(2 * hidden);
    sigmoid_all::<T, M>(i_f);
    tanh_all::<T, M>(u);
    sigmoid_all::<T, M>(o);
    let (i, f) = i_f.split_at(hidden);
    let new_c = f.iter().zip(cp).zip(i.iter().zip(&*u));
    let c = write_iter(
        &mut c[..hidden],
        new_c.map(|((&f, &cp), (&i, &u))| f.mul(cp).add(i.mul(u))),
    );
    write_iter(
        &mut h[..hidden],
        c.iter().zip(&*o).map(|(&c, &o)| o.mul(c.tanh_with::<M>())),
    );
}

/// One GRU row: `g` (r z n input projections) activated in place with the recurrent
/// product `hw` and `b_hh`, `hn = hw_n + b_hn` kept for backward, the new state `h` from
/// `hp`. In passes of a few operands each, which vectorise.
#[inline(always)]
fn gru_units<T: Float, M: MulAdd>(
    g: &mut [T],
    hw: &[T],
    b: &[T],
    hp: &[T],
    hn: &mut [MaybeUninit<T>],
    h: &mut [MaybeUninit<T>],
    hidden: usize,
) {
    let (rz, n) = g.split_at_mut(2 * hidden);
    for ((v, &w), &b) in rz.iter_mut().zip(&hw[..2 * hidden]).zip(&b[..2 * hidden]) {
        *v = v.add(w).add(b);
    }
    sigmoid_all::<T, M>(rz);
    let (hw_n, b_n) = (&hw[2 * hidden..], &b[2 * hidden..]);
    let hn = write_iter(
        &mut hn[..hidden],
        hw_n.iter().zip(b_n).map(|(&w, &b)| w.add(b)),
    );
    let (r, z) = rz.split_at(hidden);
    for ((n, &r), &hn) in n.iter_mut().zip(r).zip(&*hn) {
        *n = n.add(r.mul(hn));
    }
    tanh_all::<T, M>(n);
    let new_h = z.iter().zip(&*n).zip(hp);
    write_iter(
        &mut h[..hidden],
        new_h.map(|((&z, &n), &hp)| T::one().sub(z).mul(n).add(z.mul(hp))),
    );
}

/// One LSTM row back: from the activated gates `g`, the cell states `c` and `cp`, and the
/// state gradients `dh` (read) and `dc` (in: w.r.t. the new state; out: w.r.t. `cp`), the
/// gate gradients `dgx` (i f g o, written). In passes of a few operands each.
#[inline(always)]
fn lstm_units_backward<T: Float, M: MulAdd>(
    g: &[T],
    c: &[T],
    cp: &[T],
    dh: &[T],
    dc: &mut [T],
    dgx: &mut [MaybeUninit<T>],
    hidden: usize,
) {
    let one = T::one();
    let (gi, rest) = g.split_at(hidden);
    let (gf, rest) = rest.split_at(hidden);
    let (gg, go) = rest.split_at(hidden);
    let (di, rest) = dgx.split_at_mut(hidden);
    let (df, rest) = rest.split_at_mut(hidden);
    let (dg, d_o) = rest.split_at_mut(hidden);
    let d_o = write_iter(&mut d_o[..hidden], c.iter().map(|v| v.tanh_with::<M>()));
    // dc += dh·o·(1 − tanh²c), then d_o = dh·tanh(c)·o·(1 − o).
    for ((dc, &dh), (&o, &tc)) in dc.iter_mut().zip(dh).zip(go.iter().zip(&*d_o)) {
        *dc = dc.add(dh.mul(o).mul(one.sub(tc.mul(tc))));
    }
    for ((d, &dh), &o) in d_o.iter_mut().zip(dh).zip(go) {
        *d = dh.mul(*d).mul(o).mul(one.sub(o));
    }
    let d_c = dc.iter().copied();
    let d_i = d_c.clone().zip(gg.iter().zip(gi));
    write_iter(
        di,
        d_i.map(|(dc, (&u, &i))| dc.mul(u).mul(i).mul(one.sub(i))),
    );
    let d_f = d_c.clone().zip(cp.iter().zip(gf));
    write_iter(
        df,
        d_f.map(|(dc, (&cp, &f))| dc.mul(cp).mul(f).mul(one.sub(f))),
    );
    let d_g = d_c.zip(gi.iter().zip(gg));
    write_iter(
        dg,
        d_g.map(|(dc, (&i, &u))| dc.mul(i).mul(one.sub(u.mul(u)))),
    );
    for (dc, &f) in dc.iter_mut().zip(gf) {
        *dc = dc.mul(f);
    }
}

/// One GRU row back: from the activated gates `g` (r z n), `hn = hw_n + b_hn`, the previous
/// state `hp` and `dh` (in: w.r.t. the new state; out: the part w.r.t. `hp` not through
/// `W_hh`), the gradients w.r.t. the input projections `dgx` and the hidden ones `dgh`.
#[inline(always)]
fn gru_units_backward<T: Float>(
    g: &[T],
    hn: &[T],
    hp: &[T],
    dh: &mut [T],
    dgx: &mut [MaybeUninit<T>],
    dgh: &mut [MaybeUninit<T>],
    hidden: usize,
) {
    let one = T::one();
    let (gr, rest) = g.split_at(hidden);
    let (gz, gn) = rest.split_at(hidden);
    let (xr, rest) = dgx.split_at_mut(hidden);
    let (xz, xn) = rest.split_at_mut(hidden);
    let d_n = dh.iter().zip(gz.iter().zip(gn));
    let xn = write_iter(
        &mut xn[..hidden],
        d_n.map(|(&dh, (&z, &n))| dh.mul(one.sub(z)).mul(one.sub(n.mul(n)))),
    );
    let d_r = xn.iter().zip(hn.iter().zip(gr));
    let xr = write_iter(
        xr,
        d_r.map(|(&dn, (&hn, &r))| dn.mul(hn).mul(r).mul(one.sub(r))),
    );
    let d_z = dh.iter().zip(hp.iter().zip(gn).zip(gz));
    let xz = write_iter(
        xz,
        d_z.map(|(&dh, ((&hp, &n), &z))| dh.mul(hp.sub(n)).mul(z).mul(one.sub(z))),
    );
    let (hr, rest) = dgh.split_at_mut(hidden);
    let (hz, hnn) = rest.split_at_mut(hidden);
    write_copy(hr, xr);
    write_copy(hz, xz);
    write_iter(
        &mut hnn[..hidden],
        xn.iter().zip(gr).map(|(&dn, &r)| dn.mul(r)),
    );
    for (dh, &z) in dh.iter_mut().zip(gz) {
        *dh = dh.mul(z);
    }
}

simd_dispatch! {
    /// The cell's forward over whole rows of one step (see [`StepRows`]).
    pub fn cell_rows<T: Float>(cell: RnnCell, rows: StepRows<'_, T>, hidden: usize) -> () {
        let StepRows { g, hw, b_hh, h_prev, c_prev, h, extra } = rows;
        let gh = cell.gates() * hidden;
        // Every row of `h` gets written: as many as there are rows of gates.
        assert_eq!(g.len() / gh, h.len() / hidden, "cell_rows: gates and states disagree");
        for (r, (g, h)) in g.chunks_exact_mut(gh).zip(h.chunks_exact_mut(hidden)).enumerate() {
            let g = &mut g[..gh];
            if !b_hh.is_empty() && cell != RnnCell::Gru {
                for (v, &b) in g.iter_mut().zip(b_hh) {
                    *v = v.add(b);
                }
            }
            let row = r * hidden..(r + 1) * hidden;
            match cell {
                RnnCell::Tanh => {
                    write_iter(h, g.iter().map(|v| v.tanh_with::<CopyMulAdd>()));
                }
                RnnCell::Relu => {
                    // relu(NaN) is NaN, as PyTorch's.
                    let relu = |&v: &T| if v > T::zero() || v.is_nan() { v } else { T::zero() };
                    write_iter(h, g.iter().map(relu));
                }
                RnnCell::Lstm => {
                    lstm_units::<T, CopyMulAdd>(g, &c_prev[row.clone()], &mut extra[row], h, hidden);
                }
                RnnCell::Gru => {
                    let hw = &hw[r * gh..][..gh];
                    gru_units::<T, CopyMulAdd>(g, hw, b_hh, &h_prev[row.clone()], &mut extra[row], h, hidden);
                }
            }
        }
    }
}

simd_dispatch! {
    /// The cell's backward over whole rows of one step (see [`StepRowsBack`]).
    pub fn cell_rows_backward<T: Float>(cell: RnnCell, rows: StepRowsBack<'_, T>, hidden: usize) -> () {
        let StepRowsBack { g, h, extra, extra_prev, h_prev, dout, dh, dc, dgx, dgh } = rows;
        let gh = cell.gates() * hidden;
        // Every row of `dgx` gets written: as many as there are rows of `dh`.
        assert_eq!(dgx.len() / gh, dh.len() / hidden, "cell_rows_backward: rows disagree");
        for (r, (dgx, dh)) in dgx.chunks_exact_mut(gh).zip(dh.chunks_exact_mut(hidden)).enumerate() {
            let row = r * hidden..(r + 1) * hidden;
            if !dout.is_empty() {
                for (d, &o) in dh.iter_mut().zip(&dout[row.clone()]) {
                    *d = d.add(o);
                }
            }
            let g = &g[r * gh..][..gh];
            match cell {
                RnnCell::Tanh | RnnCell::Relu => {
                    let (dh, y) = (&dh[..hidden], &h[row]);
                    let back = |(&dh, &y): (&T, &T)| {
                        if cell == RnnCell::Tanh {
                            dh.mul(T::one().sub(y.mul(y)))
                        } else if y > T::zero() {
                            dh
                        } else {
                            T::zero()
                        }
                    };
                    write_iter(&mut dgx[..hidden], dh.iter().zip(y).map(back));
                }
                RnnCell::Lstm => {
                    lstm_units_backward::<T, CopyMulAdd>(g, &extra[row.clone()], &extra_prev[row.clone()], dh, &mut dc[row], dgx, hidden);
                }
                RnnCell::Gru => {
                    let dgh = &mut dgh[r * gh..][..gh];
                    gru_units_backward(g, &extra[row.clone()], &h_prev[row], dh, dgx, dgh, hidden);
                }
            }
        }
    }
}

/// The first `n` elements of an operand (an absent, empty one stays empty).
fn head<T>(v: &[T], n: usize) -> &[T] {
    if v.is_empty() {
        v
    } else {
        &v[..n]
    }
}

/// Rows `r0..r1` (`width` wide) of block `step` of a `[steps, rows, width]` buffer, or of a
/// `[rows, width]` one when `step` is `None` (an absent, empty operand stays empty).
fn step_rows<T>(
    v: &[T],
    step: Option<usize>,
    rows: usize,
    (r0, r1): (usize, usize),
    width: usize,
) -> &[T] {
    match step {
        _ if v.is_empty() => v,
        Some(step) => rows_of(&v[step * rows * width..][..rows * width], r0, r1, width),
        None => rows_of(v, r0, r1, width),
    }
}

/// Rows `r0..r1` of a matrix `w` wide (an absent, empty operand stays empty).
fn rows_of<T>(v: &[T], r0: usize, r1: usize, w: usize) -> &[T] {
    if v.is_empty() {
        v
    } else {
        &v[r0 * w..r1 * w]
    }
}

/// `g` (whole rows of a step's gates, `gh` wide) written with `b_ih` (zeros when there is
/// none).
fn bias_rows<'g, T: Float>(g: &'g mut [MaybeUninit<T>], b_ih: &[T], gh: usize) -> &'g mut [T] {
    if b_ih.is_empty() {
        return zero_init(g);
    }
    for row in g.chunks_exact_mut(gh) {
        write_copy(row, &b_ih[..gh]);
    }
    // SAFETY: every row, and so every element (`g` holds whole rows), was just written.
    unsafe { assume_init(g) }
}

/// Weights `w` (each `[G·hidden, k]`, row-major: `W_ih`, `W_hh`) packed as their
/// `k × G·hidden` transposes stacked, the right operand of the forward's products.
fn pack_transposed<T: Fma>(ws: &[(&[T], usize)], gh: usize) -> PackedRhs<T> {
    let parts: Vec<_> = ws
        .iter()
        .map(|&(w, k)| {
            let mb = MatRef {
                offset: 0,
                rs: 1,
                cs: k as isize,
            };
            (w, mb, k)
        })
        .collect();
    PackedRhs::stacked(&parts, gh)
}

/// `W_hh` packed as it is, the backward's right operand (`G·hidden × hidden`).
fn pack_w_hh<T: Fma>(w_hh: &[T], hidden: usize, gh: usize) -> PackedRhs<T> {
    let mb = MatRef {
        offset: 0,
        rs: hidden as isize,
        cs: 1,
    };
    PackedRhs::new(w_hh, mb, gh, hidden)
}

/// A layer's input `x` (`[steps, batch, features]`) and its projection's `W_ih`
/// (`[G·hidden, features]`) and `b_ih` (`[G·hidden]`, empty when there is none).
pub struct Input<'a, T> {
    pub x: &'a [T],
    pub w_ih: &'a [T],
    pub b_ih: &'a [T],
    pub features: usize,
}

/// What [`forward`] writes: the activated gates of every step, the hidden state of every
/// step, and LSTM's cell states or GRU's `h·W_hnᵀ + b_hn`.
pub struct Forward<T> {
    pub gates: Vec<T>,
    pub h: Vec<T>,
    pub extra: Option<Vec<T>>,
}

/// One layer over the whole sequence, from its input: each step's gates are its input
/// projection plus the recurrent product, made in the time loop.
pub fn forward<T: Float + Fma>(
    run: &RnnRun<'_>,
    input: &Input<'_, T>,
    w_hh: &[T],
    b_hh: &[T],
    h0: &[T],
    c0: &[T],
) -> Forward<T> {
    let (cell, b, hd) = (run.cell, run.batch, run.hidden);
    let gh = cell.gates() * hd;
    let (bh, f) = (b * hd, input.features);
    // Operands may sit at the start of longer storages.
    let (h0, c0) = (head(h0, bh), head(c0, bh));
    let x_in = head(input.x, run.steps * b * f);
    // Each step writes its whole block of the gates: the live rows' projections, the
    // other rows zeros (never read).
    let mut gates = uninit_vec(run.steps * b * gh);
    // Each step writes its whole block of `h` and `extra`: the live rows by the cell of the
    // thread that owns them, the others carried over (GRU's `extra`: zeros).
    let mut h = uninit_vec(run.steps * bh);
    let keeps_extra = matches!(cell, RnnCell::Lstm | RnnCell::Gru);
    let mut extra = uninit_vec(if keeps_extra { run.steps * bh } else { 0 });
    // GRU's products apart (its recurrent product's n block is scaled by r before the sum);
    // the others' `W_ihᵀ` and `W_hhᵀ` stacked, for one product by `[x_t, h_{t−1}]`.
    let w_ih = &input.w_ih[..gh * f];
    let (w, w_ih) = if cell == RnnCell::Gru {
        let w_ih = pack_transposed(&[(w_ih, f)], gh);
        (pack_transposed(&[(w_hh, hd)], gh), Some(w_ih))
    } else {
        (pack_transposed(&[(w_ih, f), (w_hh, hd)], gh), None)
    };
    let parts = row_parts(b, gh * (hd + f));
    let items: Vec<_> = part_blocks(&mut gates, run.steps, gh, &parts)
        .into_iter()
        .zip(part_blocks(&mut h, run.steps, hd, &parts))
        .zip(part_blocks(
            &mut extra,
            run.steps,
            if keeps_extra { hd } else { 0 },
            &parts,
        ))
        .zip(&parts)
        .collect();
    team::for_each_part(items, |(((mut g, mut h), mut x), &(r0, r1))| {
        let m = r1 - r0;
        // GRU's recurrent product, kept apart from the input projection (its n block is
        // scaled by r before the sum).
        let mut hw = vec![T::zero(); if cell == RnnCell::Gru { m * gh } else { 0 }];
        // The others' rows of `[x_t, h_{t−1}]`, the left operand of their one product.
        let xh_w = f + hd;
        let mut xh = vec![T::zero(); if cell == RnnCell::Gru { 0 } else { m * xh_w }];
        let (h0, c0) = (rows_of(h0, r0, r1, hd), rows_of(c0, r0, r1, hd));
        for t in run.order() {
            let prev = run.previous(t);
            // This part's live rows at step `t` (the batch's live rows come first).
            let live = run.live(t).saturating_sub(r0).min(m);
            // SAFETY: `run.order()` runs step `prev` before step `t`, and every step writes
            // its whole block (below).
            let (h_t, h_prev) = unsafe { step_and_prev(&mut h, t, prev, h0) };
            let (x_t, x_prev) = if keeps_extra {
                let init = if cell == RnnCell::Lstm { c0 } else { &[][..] };
                // SAFETY: as for `h`.
                unsafe { step_and_prev(&mut x, t, prev, init) }
            } else {
                (&mut [][..], &[][..])
            };
            let xw = if keeps_extra { hd } else { 0 };
            let (h_live, h_rest) = h_t.split_at_mut(live * hd);
            let (x_live, x_rest) = x_t.split_at_mut(live * xw);
            let (g_live, g_rest) = g[t].split_at_mut(live * gh);
            zero_init(g_rest);
            if live > 0 {
                let x_rows = &x_in[(t * b + r0) * f..][..live * f];
                // The rows' gates: `b_ih` written (a streaming copy into the buffer, which
                // is out of cache: the product's stores of fresh lines cost more), then the
                // input projection `x_t·W_ihᵀ` and the recurrent product added, in one pass
                // of the product's register blocks (but for GRU), while the rows are in this
                // core's cache.
                let g = bias_rows(g_live, input.b_ih, gh);
                let hw = match &w_ih {
                    Some(w_ih) => {
                        let hw = &mut hw[..live * gh];
                        product(h_prev, hd, live, &w, hw, gh, false);
                        product(x_rows, f, live, w_ih, g, gh, true);
                        &*hw
                    }
                    None => {
                        let xh = &mut xh[..live * xh_w];
                        for (r, row) in xh.chunks_exact_mut(xh_w).enumerate() {
                            row[..f].copy_from_slice(&x_rows[r * f..][..f]);
                            row[f..].copy_from_slice(&h_prev[r * hd..][..hd]);
                        }
                        product(xh, xh_w, live, &w, g, gh, true);
                        &[][..]
                    }
                };
                let rows = StepRows {
                    g,
                    hw,
                    b_hh,
                    h_prev: if cell == RnnCell::Gru {
                        &h_prev[..live * hd]
                    } else {
                        &[][..]
                    },
                    c_prev: if cell == RnnCell::Lstm {
                        &x_prev[..live * hd]
                    } else {
                        &[][..]
                    },
                    h: h_live,
                    extra: x_live,
                };
                cell_rows(cell, rows, hd);
            }
            // Rows past their sequence's end carry their state through the step.
            _ = write_copy(h_rest, &h_prev[live * hd..]);
            match cell {
                RnnCell::Lstm => _ = write_copy(x_rest, &x_prev[live * hd..]),
                RnnCell::Gru => _ = zero_init(x_rest),
                _ => {}
            }
        }
    });
    // SAFETY: every part ran every step of `run.order()`, and each wrote its rows of the
    // step's blocks, which together cover them.
    unsafe {
        Forward {
            gates: vec_assume_init(gates),
            h: vec_assume_init(h),
            extra: keeps_extra.then(|| vec_assume_init(extra)),
        }
    }
}

/// The inputs of [`backward`]: the forward's saved buffers and the gradients arriving.
pub struct Saved<'a, T> {
    pub gates: &'a [T],
    pub h: &'a [T],
    pub extra: &'a [T],
    pub h0: &'a [T],
    pub c0: &'a [T],
    pub dout: &'a [T],
    pub dh_n: &'a [T],
    pub dc_n: &'a [T],
}

/// Backward through time of [`forward`], each part of the batch's rows on its own thread.
pub fn backward<T: Float + Fma>(
    run: &RnnRun<'_>,
    s: &Saved<'_, T>,
    w_hh: &[T],
) -> RnnGrads<Vec<T>> {
    let (cell, b, hd) = (run.cell, run.batch, run.hidden);
    let gh = cell.gates() * hd;
    let bh = b * hd;
    // Each step writes its whole blocks of `dgx` and `dgh`: the live rows by the cell's
    // backward on the thread that owns them, the others zeros.
    let mut dgx = uninit_vec(run.steps * b * gh);
    let mut dgh = uninit_vec(if cell == RnnCell::Gru {
        run.steps * b * gh
    } else {
        0
    });
    let (h0, c0) = (head(s.h0, bh), head(s.c0, bh));
    let dout = head(s.dout, run.steps * bh);
    let w = pack_w_hh(w_hh, hd, gh);
    let mut dh = if s.dh_n.is_empty() {
        vec![T::zero(); bh]
    } else {
        s.dh_n[..bh].to_vec()
    };
    let lstm = cell == RnnCell::Lstm;
    let mut dc = if !lstm {
        Vec::new()
    } else if s.dc_n.is_empty() {
        vec![T::zero(); bh]
    } else {
        s.dc_n[..bh].to_vec()
    };
    let parts = row_parts(b, gh * hd);
    let items: Vec<_> = split_rows(&mut dh, hd, &parts)
        .into_iter()
        .zip(split_rows(&mut dc, if lstm { hd } else { 0 }, &parts))
        .zip(part_blocks(&mut dgx, run.steps, gh, &parts))
        .zip(part_blocks(
            &mut dgh,
            run.steps,
            if cell == RnnCell::Gru { gh } else { 0 },
            &parts,
        ))
        .zip(&parts)
        .collect();
    let order: Vec<usize> = run.order().collect();
    team::for_each_part(items, |((((dh, dc), mut dgx), mut dgh), &(r0, r1))| {
        let m = r1 - r0;
        for &t in order.iter().rev() {
            let prev = run.previous(t);
            let live = run.live(t).saturating_sub(r0).min(m);
            let at = |v, step, width| step_rows(v, step, b, (r0, r1), width);
            let h_prev = match prev {
                Some(_) => at(s.h, prev, hd),
                None => at(h0, None, hd),
            };
            let (x_t, x_prev) = match cell {
                RnnCell::Lstm => (
                    at(s.extra, Some(t), hd),
                    match prev {
                        Some(_) => at(s.extra, prev, hd),
                        None => at(c0, None, hd),
                    },
                ),
                RnnCell::Gru => (at(s.extra, Some(t), hd), &[][..]),
                _ => (&[][..], &[][..]),
            };
            let dout_t = at(dout, Some(t), hd);
            let (dgx_live, dgx_rest) = dgx[t].split_at_mut(live * gh);
            zero_init(dgx_rest);
            let dgh_w = if cell == RnnCell::Gru { gh } else { 0 };
            let (dgh_live, dgh_rest) = dgh[t].split_at_mut(live * dgh_w);
            zero_init(dgh_rest);
            if live > 0 {
                let live_rows = |v| head(v, live * hd);
                let back = StepRowsBack {
                    g: &at(s.gates, Some(t), gh)[..live * gh],
                    h: live_rows(at(s.h, Some(t), hd)),
                    extra: live_rows(x_t),
                    extra_prev: live_rows(x_prev),
                    h_prev: if cell == RnnCell::Gru {
                        live_rows(h_prev)
                    } else {
                        &[][..]
                    },
                    dout: live_rows(dout_t),
                    dh: &mut dh[..live * hd],
                    dc: if lstm {
                        &mut dc[..live * hd]
                    } else {
                        &mut [][..]
                    },
                    dgx: &mut *dgx_live,
                    dgh: &mut *dgh_live,
                };
                cell_rows_backward(cell, back, hd);
                let dg = if cell == RnnCell::Gru {
                    dgh_live
                } else {
                    dgx_live
                };
                // SAFETY: the cell's backward writes every element of `dgx` and `dgh`.
                let dg = unsafe { assume_init_ref(dg) };
                // dh_prev (rows) = dg (rows × G·hidden) @ W_hh (G·hidden × hidden), added to
                // GRU's part that bypasses `W_hh` (the other cells have none).
                product(
                    dg,
                    gh,
                    live,
                    &w,
                    &mut dh[..live * hd],
                    hd,
                    cell == RnnCell::Gru,
                );
            }
            // Rows past their sequence's end passed their state through: so does the
            // gradient.
            if !dout_t.is_empty() {
                for (d, &o) in dh[live * hd..].iter_mut().zip(&dout_t[live * hd..]) {
                    *d = d.add(o);
                }
            }
        }
    });
    // SAFETY: every part ran every step, and each wrote its rows of the step's blocks,
    // which together cover them.
    let (dgx, dgh) = unsafe { (vec_assume_init(dgx), vec_assume_init(dgh)) };
    RnnGrads {
        gates: dgx,
        hidden_gates: (cell == RnnCell::Gru).then_some(dgh),
        h0: dh,
        c0: lstm.then_some(dc),
    }
}
