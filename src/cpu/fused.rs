//! Fused kernels for the training loop: optimizer updates (one pass per parameter, in
//! place) and cross-entropy over logits rows. The formulas keep PyTorch's order of
//! operations so float32 trajectories match its single-tensor implementations; SGD's
//! `add_(…, alpha=)` steps are fused multiply-adds, as PyTorch's kernels compute them.

use super::conv::Fma;
use super::team;
use crate::backend::num::Float;
use crate::backend::{AdamOptions, SgdOptions};
use crate::error::{Error, Result};
use std::mem::MaybeUninit;

/// One SGD step on a parameter. `buf` is the momentum buffer; `first` says it has just
/// been created and must be set to the gradient (as PyTorch clones the first gradient).
pub fn sgd<T: Float + Fma>(
    p: &mut [T],
    g: &[T],
    buf: Option<&mut [T]>,
    first: bool,
    o: &SgdOptions,
) {
    if let Some(part) = parallel_part(p.len()) {
        let bufs = parts_of(buf, p.len(), part);
        let items = p.chunks_mut(part).zip(g.chunks(part)).zip(bufs).collect();
        team::for_each_part(items, |((p, g), b)| sgd_part(p, g, b, first, o));
    } else {
        sgd_part(p, g, buf, first, o);
    }
}

/// [`sgd`] over one contiguous part of a parameter, on the calling thread.
fn sgd_part<T: Float + Fma>(
    p: &mut [T],
    g: &[T],
    buf: Option<&mut [T]>,
    first: bool,
    o: &SgdOptions,
) {
    let c = [
        T::lit(o.weight_decay),
        T::lit(o.momentum),
        T::lit(1.0 - o.dampening),
        T::lit(-o.lr),
    ];
    let plain = !o.maximize && o.weight_decay == 0.0;
    match buf {
        Some(b) if plain && !first && !o.nesterov => {
            sgd_momentum_plain(p, g, b, &[c[1], c[2], c[3]])
        }
        None if plain => sgd_plain(p, g, c[3]),
        buf => {
            let flags = [first, o.maximize, o.weight_decay != 0.0, o.nesterov];
            sgd_general(p, g, buf, &c, flags)
        }
    }
}

crate::simd_dispatch! {
    /// SGD without momentum, weight decay or maximize: `p += lr·g` as one fused multiply-add
    /// per element (`lr` negated), in a dispatched copy so it runs as the hardware's vector
    /// fma (elsewhere `mul_add` is a libm call per element). This is also every
    /// `add_(g, alpha=)` and every gradient accumulated into a `.grad`.
    fn sgd_plain<T: Fma>(p: &mut [T], g: &[T], lr: T) -> () {
        for (p, &g) in p.iter_mut().zip(g) {
            *p = p.fma(lr, g);
        }
    }
}

crate::simd_dispatch! {
    /// The other SGD steps, PyTorch's single-tensor update in its order. `c` = [weight
    /// decay, momentum, 1 - dampening, -lr]; `flags` = [first (the momentum buffer is set to
    /// the gradient), maximize, weight decay, nesterov].
    fn sgd_general<T: Fma>(p: &mut [T], g: &[T], buf: Option<&mut [T]>, c: &[T; 4], flags: [bool; 4]) -> () {
        let [wd, m, damp, lr] = *c;
        let [first, maximize, decay, nesterov] = flags;
        let grad = |g: T, p: T| {
            let g = if maximize { g.neg() } else { g };
            if decay {
                g.fma(wd, p)
            } else {
                g
            }
        };
        match buf {
            None => {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p = p.fma(lr, grad(g, *p));
                }
            }
            Some(buf) => {
                for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
                    let g = grad(g, *p);
                    *b = if first { g } else { b.mul(m).fma(damp, g) };
                    let d = if nesterov { g.fma(m, *b) } else { *b };
                    *p = p.fma(lr, d);
                }
            }
        }
    }
}

/// Parameters from this many elements on are updated by every thread, each taking one
/// contiguous part in order: the rows the row-split product that computed the gradient gave
/// the same thread (see `cpu::matmul`), so each core updates data already in its cache
/// (reading a gradient another core wrote tripled the step's time on two cores).
const PAR_MIN: usize = 1 << 15;

/// The part length of a parallel update of `n` elements, or None to stay on this thread.
fn parallel_part(n: usize) -> Option<usize> {
    let threads = team::parts();
    (threads > 1 && n >= PAR_MIN).then(|| n.div_ceil(threads))
}

/// An optional state buffer cut like the parameter into `part`-long pieces (Nones if absent).
fn parts_of<T>(buf: Option<&mut [T]>, n: usize, part: usize) -> Vec<Option<&mut [T]>> {
    match buf {
        Some(b) => b.chunks_mut(part).map(Some).collect(),
        None => (0..n.div_ceil(part)).map(|_| None).collect(),
    }
}

/// One Adam step on a parameter at step number `step` (1-based).
pub fn adam<T: Float>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    vmax: Option<&mut [T]>,
    step: f64,
    o: &AdamOptions,
) {
    if let Some(part) = parallel_part(p.len()) {
        let vmax_parts = parts_of(vmax, p.len(), part);
        let items = p
            .chunks_mut(part)
            .zip(g.chunks(part))
            .zip(m.chunks_mut(part))
            .zip(v.chunks_mut(part))
            .zip(vmax_parts)
            .collect();
        team::for_each_part(items, |((((p, g), m), v), mx)| {
            adam_part(p, g, m, v, mx, step, o)
        });
    } else {
        adam_part(p, g, m, v, vmax, step, o);
    }
}

/// [`adam`] over one contiguous part of a parameter, on the calling thread.
fn adam_part<T: Float>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    mut vmax: Option<&mut [T]>,
    step: f64,
    o: &AdamOptions,
) {
    let bc1 = 1.0 - o.beta1.powf(step);
    let bc2 = 1.0 - o.beta2.powf(step);
    let step_size = T::lit(-(o.lr / bc1));
    let bc2_sqrt = T::lit(bc2.sqrt());
    let w = 1.0 - o.beta1;
    let (wt, one_minus_w) = (T::lit(w), T::lit(1.0 - w));
    let (b2, one_minus_b2) = (T::lit(o.beta2), T::lit(1.0 - o.beta2));
    let (wd, decay, eps) = (
        T::lit(o.weight_decay),
        T::lit(1.0 - o.lr * o.weight_decay),
        T::lit(o.eps),
    );
    if !o.amsgrad && !o.maximize && (o.weight_decay == 0.0 || o.decoupled) && w.abs() < 0.5 {
        // The common case as one branch-free loop, so it vectorises (sqrt and div dominate).
        if o.weight_decay != 0.0 {
            p.iter_mut().for_each(|p| *p = p.mul(decay));
        }
        let c = [wt, b2, one_minus_b2, bc2_sqrt, eps, step_size];
        adam_plain(p, g, m, v, &c);
        return;
    }
    for i in 0..p.len() {
        let mut gi = if o.maximize { g[i].neg() } else { g[i] };
        if o.weight_decay != 0.0 {
            if o.decoupled {
                p[i] = p[i].mul(decay);
            } else {
                gi = gi.add(wd.mul(p[i]));
            }
        }
        // exp_avg.lerp_(grad, 1 - beta1), PyTorch's two-sided lerp.
        m[i] = if w.abs() < 0.5 {
            m[i].add(wt.mul(gi.sub(m[i])))
        } else {
            gi.sub(gi.sub(m[i]).mul(one_minus_w))
        };
        v[i] = v[i].mul(b2).add(gi.mul(one_minus_b2).mul(gi));
        let second = match vmax.as_deref_mut() {
            Some(mx) => {
                mx[i] = mx[i].max_nan(v[i]);
                mx[i]
            }
            None => v[i],
        };
        let denom = second.sqrt().div(bc2_sqrt).add(eps);
        p[i] = p[i].add(m[i].mul(step_size).div(denom));
    }
}

crate::simd_dispatch! {
    /// SGD with momentum in its common case (a momentum buffer past its first step, no
    /// weight decay, no Nesterov, no maximize) as one branch-free loop, so it vectorises.
    /// `c` = [momentum, 1 - dampening, -lr].
    pub fn sgd_momentum_plain<T: Fma>(p: &mut [T], g: &[T], buf: &mut [T], c: &[T; 3]) -> () {
        let [m, damp, lr] = *c;
        for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
            *b = b.mul(m).fma(damp, g);
            *p = p.fma(lr, *b);
        }
    }
}

crate::simd_dispatch! {
    /// Adam's common case (no amsgrad, no maximize, no coupled weight decay) as one
    /// branch-free loop, so it vectorises: sqrt and the divisions dominate, so the vector
    /// width sets its speed. `c` = [1-β1, β2, 1-β2, √(1-β2^t), eps, -lr/(1-β1^t)].
    pub fn adam_plain<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: &[T; 6]) -> () {
        let [wt, b2, one_minus_b2, bc2_sqrt, eps, step_size] = *c;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = m.add(wt.mul(g.sub(*m)));
            *v = v.mul(b2).add(g.mul(one_minus_b2).mul(g));
            let denom = v.sqrt().div(bc2_sqrt).add(eps);
            *p = p.add(m.mul(step_size).div(denom));
        }
    }
}

/// Lanes of the exponential sums in [`cross_entropy_row`].
const CE_LANES: usize = 16;

crate::simd_dispatch! {
    /// Cross-entropy of one row of logits against class `t`, with optional class weights and
    /// label smoothing `eps`: `(1-eps)·w_t·(lse − x_t) + eps/C·Σ_c w_c·(lse − x_c)`.
    /// Returns (loss, lse). The maximum and the sum of exponentials run in lanes, so they
    /// vectorise (a language model's rows are 10 000 logits long).
    pub fn cross_entropy_row<T: Float>(x: &[T], t: usize, weight: Option<&[T]>, eps: f64) -> (T, T) {
        let mx = super::reduce::row_max(x);
        let chunks = x.chunks_exact(CE_LANES);
        let rest = chunks.remainder();
        let shift = if mx.is_inf() { T::zero() } else { mx };
        let mut sums = [T::zero(); CE_LANES];
        for c in chunks {
            for k in 0..CE_LANES {
                sums[k] = sums[k].add(c[k].sub(shift).exp());
            }
        }
        let s = sums
            .iter()
            .fold(T::zero(), |a, &b| a.add(b))
            .add(rest.iter().fold(T::zero(), |a, &b| a.add(b.sub(shift).exp())));
        let lse = shift.add(s.ln());
        let w = |c: usize| weight.map_or(T::one(), |w| w[c]);
        let nll = w(t).mul(lse.sub(x[t]));
        if eps == 0.0 {
            return (nll, lse);
        }
        let c = x.len() as f64;
        let smooth = x
            .iter()
            .enumerate()
            .fold(T::zero(), |a, (k, &v)| a.add(w(k).mul(lse.sub(v))));
        (
            T::lit(1.0 - eps).mul(nll).add(T::lit(eps / c).mul(smooth)),
            lse,
        )
    }
}

/// How many of `n` rows of logits (`len` elements in all) each thread takes: one contiguous
/// block per thread for large inputs, all rows on the caller's thread for small ones.
fn rows_per_part(len: usize, n: usize) -> usize {
    let parts = if len >= super::PAR_THRESHOLD && n > 1 {
        team::parts().min(n)
    } else {
        1
    };
    n.div_ceil(parts).max(1)
}

crate::simd_dispatch! {
    /// The input gradient of one row's cross-entropy (no label smoothing): `out =
    /// s·softmax(x) − s·onehot(t)`, `s` the row's weight times the upstream gradient, and
    /// `t` skipped when outside the row (an ignored row has `s = 0`). The softmax is
    /// PyTorch's: a row holding `+inf` gives NaN throughout. Every element of `out` is
    /// written, so it need not be initialised (zero-filling a language model's 700 × 10 000
    /// gradient first cost a tenth of this op).
    pub fn cross_entropy_backward_row<T: Float>(x: &[T], t: i64, s: T, out: &mut [MaybeUninit<T>]) -> () {
        let mx = super::reduce::row_max(x);
        if mx.is_inf() && mx > T::zero() {
            out.iter_mut().for_each(|o| {
                o.write(T::lit(f64::NAN));
            });
            return;
        }
        let shift = if mx.is_inf() { T::zero() } else { mx };
        // The exponentials are written out as they are summed (in lanes, as the forward's),
        // then scaled: one exponential per logit.
        let mut sums = [T::zero(); CE_LANES];
        let mut o_chunks = out.chunks_exact_mut(CE_LANES);
        let mut x_chunks = x.chunks_exact(CE_LANES);
        for (o, c) in (&mut o_chunks).zip(&mut x_chunks) {
            for k in 0..CE_LANES {
                let e = c[k].sub(shift).exp();
                o[k].write(e);
                sums[k] = sums[k].add(e);
            }
        }
        let mut rest = T::zero();
        for (o, &v) in o_chunks.into_remainder().iter_mut().zip(x_chunks.remainder()) {
            rest = rest.add(*o.write(v.sub(shift).exp()));
        }
        // SAFETY: the loops above wrote every element of `out` (`x` and `out` have one
        // length: whole chunks, then the remainder).
        let out = unsafe { super::assume_init(out) };
        let total = sums.iter().fold(T::zero(), |a, &b| a.add(b)).add(rest);
        let k = s.div(total);
        for o in out.iter_mut() {
            *o = o.mul(k);
        }
        if let Some(o) = usize::try_from(t).ok().and_then(|t| out.get_mut(t)) {
            *o = o.sub(s);
        }
    }
}

/// [`cross_entropy_backward_row`] over the `c`-long rows of `x`, with class `target[i]` and
/// scale `scale[i]` for row `i`; large inputs one block of rows per thread.
pub fn cross_entropy_backward_rows<T: Float>(
    x: &[T],
    c: usize,
    target: &[i64],
    scale: &[T],
) -> Vec<T> {
    let n = target.len();
    if c == 0 {
        return Vec::new();
    }
    let per = rows_per_part(x.len(), n);
    // SAFETY: the parts cover the `n·c` elements, and each row's call writes its whole row.
    unsafe {
        super::write_new_vec(n * c, |out| {
            let items: Vec<_> = out.chunks_mut(per * c).enumerate().collect();
            team::for_each_part(items, |(p, out)| {
                for (i, o) in out.chunks_exact_mut(c).enumerate() {
                    let row = p * per + i;
                    cross_entropy_backward_row(&x[row * c..][..c], target[row], scale[row], o);
                }
            });
        })
    }
}

/// Cross-entropy of each `c`-long row of `x` against its class in `target`: (loss per row,
/// the target class's weight per row), both 0 for rows whose target is `ignore_index`.
pub fn cross_entropy_rows<T: Float>(
    x: &[T],
    c: usize,
    target: &[i64],
    weight: Option<&[T]>,
    ignore_index: i64,
    eps: f64,
) -> Result<(Vec<T>, Vec<T>)> {
    if let Some(&bad) = target
        .iter()
        .find(|&&t| t != ignore_index && (t < 0 || t >= c as i64))
    {
        return Err(Error::Index(format!("Target {bad} is out of bounds.")));
    }
    let n = target.len();
    let mut losses = vec![T::zero(); n];
    let mut row_w = vec![T::zero(); n];
    // Large batches: one contiguous block of rows per thread.
    let per = rows_per_part(x.len(), n);
    let items: Vec<_> = losses
        .chunks_mut(per)
        .zip(row_w.chunks_mut(per))
        .zip(target.chunks(per))
        .enumerate()
        .collect();
    team::for_each_part(items, |(p, ((losses, row_w), target))| {
        for (i, &t) in target.iter().enumerate() {
            if t == ignore_index {
                continue;
            }
            let row = p * per + i;
            let t = t as usize;
            losses[i] = cross_entropy_row(&x[row * c..(row + 1) * c], t, weight, eps).0;
            row_w[i] = weight.map_or(T::one(), |w| w[t]);
        }
    });
    Ok((losses, row_w))
}
