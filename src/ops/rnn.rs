//! Recurrent layers (`nn.RNN`, `nn.LSTM`, `nn.GRU`): one layer and direction over a whole
//! sequence is one op and one graph node.
//!
//! The forward is the backend's time loop
//! ([`Backend::rnn_forward`](crate::backend::Backend::rnn_forward)), given the input and
//! the projection's `W_ih` and bias (`b_hh` folded in where the cell allows): per step the
//! input projection `x_t·W_ihᵀ + b`, the recurrent product and a fused cell update (the CPU
//! makes each step's projection in the loop, a GPU every step's as one product first). The
//! backward is the backend's loop back through time,
//! which gives the gradients w.r.t. the projections and the initial states; the input and
//! weight gradients are then single products over all steps. A backward that is itself
//! recorded (`create_graph=True`) differentiates the composite form of the layer
//! ([`rnn_layer_composite`]: the same cell written in tensor ops, step by step) instead, so
//! higher-order gradients work.
//!
//! The 16-bit float types compute in float32, as PyTorch's CPU kernels; the results are
//! given back in the input's dtype.

use super::creation;
use super::join::{cat, stack};
use crate::autograd::engine;
use crate::autograd::record_outputs;
use crate::autograd::{grad_if, is_grad_enabled, needs_grad, GradModeGuard, SavedTensor};
use crate::backend::{RnnCell, RnnInput, RnnRun, RnnSaved};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::tensor::storage::Storage;
use crate::Tensor;

/// A layer's weights for one direction, in PyTorch's layout: `w_ih` is `[G·hidden, input]`,
/// `w_hh` `[G·hidden, state]`, the biases `[G·hidden]`, and LSTM's projection `w_hr`
/// (`proj_size`) `[state, hidden]`; without it the state is `hidden` wide.
#[derive(Clone, Copy)]
pub struct RnnWeights<'a> {
    pub w_ih: &'a Tensor,
    pub w_hh: &'a Tensor,
    pub b_ih: Option<&'a Tensor>,
    pub b_hh: Option<&'a Tensor>,
    pub w_hr: Option<&'a Tensor>,
}

/// The output of one layer and direction: every step's hidden state `[steps, batch,
/// hidden]`, the final hidden state, and LSTM's final cell state (each `[batch, hidden]`).
pub type RnnOutput = (Tensor, Tensor, Option<Tensor>);

fn shape_error(what: &str, expected: &[usize], got: &Tensor) -> Error {
    Error::Runtime(format!(
        "rnn: expected {what} of size {}, got {}",
        fmt_shape(expected),
        fmt_shape(got.shape())
    ))
}

/// Checks the operands' shapes, dtypes, devices and the packed batch sizes.
fn check(
    cell: RnnCell,
    input: &Tensor,
    w: RnnWeights<'_>,
    h0: &Tensor,
    c0: Option<&Tensor>,
    batch_sizes: Option<&[usize]>,
) -> Result<()> {
    if input.dim() != 3 {
        return Err(Error::Runtime(format!(
            "rnn: expected a 3-D input [steps, batch, features], got {}",
            fmt_shape(input.shape())
        )));
    }
    let [steps, batch, features] = [input.shape()[0], input.shape()[1], input.shape()[2]];
    if steps == 0 {
        return Err(Error::Runtime(
            "Expected sequence length to be larger than 0 in RNN".into(),
        ));
    }
    if w.w_hh.dim() != 2 {
        return Err(shape_error("weight_hh", &[0, 0], w.w_hh));
    }
    let state = w.w_hh.shape()[1];
    let hidden = match w.w_hr {
        Some(p) if cell == RnnCell::Lstm && p.dim() == 2 => p.shape()[1],
        Some(_) => {
            return Err(Error::Runtime(
                "rnn: a projection needs LSTM and a 2-D weight_hr".into(),
            ))
        }
        None => state,
    };
    let gh = cell.gates() * hidden;
    let expect = |what: &str, t: &Tensor, shape: &[usize]| {
        if t.shape() == shape {
            Ok(())
        } else {
            Err(shape_error(what, shape, t))
        }
    };
    expect("weight_hh", w.w_hh, &[gh, state])?;
    if let Some(p) = w.w_hr {
        expect("weight_hr", p, &[state, hidden])?;
    }
    expect("weight_ih", w.w_ih, &[gh, features])?;
    for b in w.b_ih.iter().chain(&w.b_hh) {
        expect("bias", b, &[gh])?;
    }
    expect("hx", h0, &[batch, state])?;
    match (cell, c0) {
        (RnnCell::Lstm, Some(c)) => expect("cx", c, &[batch, hidden])?,
        (RnnCell::Lstm, None) => {
            return Err(Error::Runtime("lstm: the cell state is missing".into()))
        }
        (_, Some(_)) => return Err(Error::Runtime("rnn: only LSTM has a cell state".into())),
        (_, None) => {}
    }
    let mut all = vec![input, w.w_ih, w.w_hh, h0];
    all.extend(w.b_ih.into_iter().chain(w.b_hh).chain(c0).chain(w.w_hr));
    for t in &all {
        if !t.dtype().is_float() || t.dtype() != input.dtype() {
            return Err(Error::Runtime(format!(
                "rnn: expected every tensor to be of the input's floating dtype {}, got {}",
                input.dtype().name(),
                t.dtype().name()
            )));
        }
        if t.device() != input.device() {
            return Err(Error::Runtime(format!(
                "Input and parameter tensors are not at the same device, found input tensor at {} and parameter tensor at {}",
                input.device(),
                t.device()
            )));
        }
    }
    if let Some(bs) = batch_sizes {
        let sorted = bs.windows(2).all(|w| w[0] >= w[1]);
        if bs.len() != steps || !sorted || bs.first().is_some_and(|&b| b > batch) {
            return Err(Error::Runtime(format!(
                "rnn: batch sizes {bs:?} do not describe {steps} steps of at most {batch} sequences sorted longest first"
            )));
        }
    }
    Ok(())
}

/// The dtype a layer computes in.
fn compute_dtype(dtype: DType) -> DType {
    if dtype.is_half() {
        DType::F32
    } else {
        dtype
    }
}

/// `t` in the compute dtype, contiguous from offset 0.
fn dense_in(t: &Tensor, dtype: DType) -> Result<Tensor> {
    super::dense(&t.to_dtype(dtype)?)
}

/// One layer and direction of a recurrent network over `input` (`[steps, batch, input]`),
/// starting from `h0` (and LSTM's `c0`), each `[batch, hidden]`. With `batch_sizes` (a
/// packed sequence's, sorted longest first), only the first `batch_sizes[t]` rows are live
/// at step `t`; the others carry their state through unchanged, so each sequence's final
/// state is the one after its last step.
pub fn rnn_layer(
    cell: RnnCell,
    input: &Tensor,
    w: RnnWeights<'_>,
    h0: &Tensor,
    c0: Option<&Tensor>,
    batch_sizes: Option<&[usize]>,
    reverse: bool,
) -> Result<RnnOutput> {
    let operands: Vec<&Tensor> = [input, w.w_ih, w.w_hh]
        .into_iter()
        .chain(w.b_ih)
        .chain(w.b_hh)
        .chain(w.w_hr)
        .chain([h0])
        .chain(c0)
        .collect();
    let attrs = || {
        let cell = match cell {
            RnnCell::Tanh => "RNN_TANH",
            RnnCell::Relu => "RNN_RELU",
            RnnCell::Lstm => "LSTM",
            RnnCell::Gru => "GRU",
        };
        let present = [
            w.b_ih.is_some(),
            w.b_hh.is_some(),
            w.w_hr.is_some(),
            c0.is_some(),
        ];
        vec![
            ("mode", crate::ops::trace::Attr::Str(cell.into())),
            ("reverse", crate::ops::trace::Attr::Int(reverse as i64)),
            (
                "packed",
                crate::ops::trace::Attr::Int(batch_sizes.is_some() as i64),
            ),
            (
                "present",
                crate::ops::trace::Attr::Ints(present.iter().map(|&p| p as i64).collect()),
            ),
        ]
    };
    crate::ops::trace::traced_outputs(
        "rnn",
        &operands,
        attrs,
        || {
            if w.w_hr.is_some() {
                return rnn_layer_composite(cell, input, w, h0, c0, batch_sizes, reverse);
            }
            check(cell, input, w, h0, c0, batch_sizes)?;
            let dtype = input.dtype();
            let cdt = compute_dtype(dtype);
            let [steps, batch, features] = [input.shape()[0], input.shape()[1], input.shape()[2]];
            let hidden = w.w_hh.shape()[1];
            let gh = cell.gates() * hidden;
            let sizes = batch_sizes.map(<[usize]>::to_vec);
            let run = RnnRun {
                cell,
                steps,
                batch,
                hidden,
                reverse,
                active: sizes.as_deref(),
            };
            let _off = GradModeGuard::new(false);
            let x = dense_in(input, cdt)?.reshape(&[(steps * batch) as i64, features as i64])?;
            let w_ih = dense_in(w.w_ih, cdt)?;
            let w_hh = dense_in(w.w_hh, cdt)?;
            let b_ih = w.b_ih.map(|b| b.to_dtype(cdt)).transpose()?;
            let b_hh = w.b_hh.map(|b| dense_in(b, cdt)).transpose()?;
            // GRU's b_hn is scaled by the reset gate, so its b_hh stays apart; the others add both
            // biases to the projections once.
            let (bias, step_bias) = match (cell, b_ih, b_hh) {
                (RnnCell::Gru, bi, Some(bh)) => (bi, Some(bh)),
                (RnnCell::Gru, bi, None) => {
                    (bi, Some(creation::zeros(&[gh], cdt, input.device())?))
                }
                (_, Some(bi), Some(bh)) => (Some(bi.add(&bh)?), None),
                (_, bi, bh) => (bi.or(bh), None),
            };
            let bias = bias.map(|b| dense_in(&b, cdt)).transpose()?;
            let h0d = dense_in(h0, cdt)?;
            let c0d = c0.map(|c| dense_in(c, cdt)).transpose()?;
            let projection = RnnInput {
                x: x.storage().as_ref(),
                w_ih: w_ih.storage().as_ref(),
                b_ih: bias.as_ref().map(|b| b.storage().as_ref()),
                features,
            };
            let saved = Storage::rnn_forward(
                &run,
                projection,
                w_hh.storage(),
                step_bias.as_ref().map(|b| b.storage().as_ref()),
                h0d.storage(),
                c0d.as_ref().map(|c| c.storage().as_ref()),
            )?;
            let seq = [steps, batch, hidden];
            let h_all = Tensor::from_storage(saved.h, seq);
            let gates = Tensor::from_storage(saved.gates, [steps, batch, gh]);
            let extra = saved.extra.map(|e| Tensor::from_storage(e, seq));
            let last = if reverse { 0 } else { steps as i64 - 1 };
            let h_n = h_all.select(0, last)?.contiguous_copy()?.to_dtype(dtype)?;
            let c_n = match (cell, &extra) {
                (RnnCell::Lstm, Some(c)) => {
                    Some(c.select(0, last)?.contiguous_copy()?.to_dtype(dtype)?)
                }
                _ => None,
            };
            // A handle of its own: the node's history goes on it, not on the buffer kept for
            // backward (which would then hold its own node).
            let out = if cdt == dtype {
                h_all.detach()
            } else {
                h_all.to_dtype(dtype)?
            };
            drop(_off);

            let mut inputs = vec![input, w.w_ih, w.w_hh];
            inputs.extend(w.b_ih.into_iter().chain(w.b_hh));
            inputs.push(h0);
            inputs.extend(c0);
            if !needs_grad(&inputs) {
                return Ok((out, h_n, c_n));
            }
            let kinds: Vec<DType> = inputs.iter().map(|t| t.dtype()).collect();
            let has_bias = (w.b_ih.is_some(), w.b_hh.is_some());
            let originals: Vec<SavedTensor> = inputs.iter().map(|t| SavedTensor::new(t)).collect();
            // The fast backward's operands, in the compute dtype; `h_all` shares its storage with
            // the output when the dtypes agree, so an in-place change of the output is caught.
            let kept_h = SavedTensor::new(&h_all);
            let mut outputs = vec![out.clone(), h_n.clone()];
            outputs.extend(c_n.clone());
            let edges = inputs.iter().map(|t| t.gradient_edge()).collect();
            let backward = move |grads: &[Option<Tensor>],
                                 need: &[bool]|
                  -> Result<Vec<Option<Tensor>>> {
                if is_grad_enabled() {
                    let orig: Vec<Tensor> = originals
                        .iter()
                        .map(SavedTensor::unpack)
                        .collect::<Result<_>>()?;
                    return composite_grads(
                        cell,
                        &orig,
                        has_bias,
                        grads,
                        sizes.as_deref(),
                        reverse,
                        need,
                    );
                }
                // Unpacking checks that no operand was changed in place since the forward.
                for o in &originals {
                    o.unpack()?;
                }
                let h_all = kept_h.unpack()?;
                let run = RnnRun {
                    cell,
                    steps,
                    batch,
                    hidden,
                    reverse,
                    active: sizes.as_deref(),
                };
                let in_cdt = |g: &Option<Tensor>| g.as_ref().map(|g| dense_in(g, cdt)).transpose();
                let (dout, dh_n) = (in_cdt(&grads[0])?, in_cdt(&grads[1])?);
                let dc_n = in_cdt(grads.get(2).unwrap_or(&None))?;
                let saved = RnnSaved {
                    gates: gates.storage().as_ref(),
                    h: h_all.storage().as_ref(),
                    extra: extra.as_ref().map(|e| e.storage().as_ref()),
                };
                let c0d = c0d.clone();
                let g = Storage::rnn_backward(
                    &run,
                    saved,
                    w_hh.storage(),
                    h0d.storage(),
                    c0d.as_ref().map(|c| c.storage().as_ref()),
                    storage_of(&dout),
                    storage_of(&dh_n),
                    storage_of(&dc_n),
                )?;
                let rows = [steps * batch, gh];
                let dg = Tensor::from_storage(g.gates, rows);
                let dgh = match g.hidden_gates {
                    Some(d) => Tensor::from_storage(d, rows),
                    None => dg.clone(),
                };
                // Σ_t dg_tᵀ · h_{t−1}: the step that started from h0, and the others, whose
                // states are the other steps' outputs, as two products (no copy of the states).
                let dw_hh = || -> Result<Tensor> {
                    let first = if reverse { steps - 1 } else { 0 };
                    let from_h0 = dgh
                        .narrow(0, (first * batch) as i64, batch)?
                        .t()?
                        .mm(&h0d)?;
                    if steps == 1 {
                        return Ok(from_h0);
                    }
                    let rest = (steps - 1) * batch;
                    let (dg_rest, h_rest) = if reverse {
                        (dgh.narrow(0, 0, rest)?, h_all.narrow(0, 1, steps - 1)?)
                    } else {
                        (
                            dgh.narrow(0, batch as i64, rest)?,
                            h_all.narrow(0, 0, steps - 1)?,
                        )
                    };
                    let h_rest = h_rest.reshape(&[rest as i64, hidden as i64])?;
                    dg_rest.t()?.mm(&h_rest)?.add(&from_h0)
                };
                let mut gs = vec![
                    grad_if(need[0], || {
                        dg.mm(&w_ih)?
                            .reshape(&[steps as i64, batch as i64, features as i64])
                    })?,
                    grad_if(need[1], || dg.t()?.mm(&x))?,
                    grad_if(need[2], dw_hh)?,
                ];
                // Σ dg: both biases' gradient when the cell has no separate hidden gates
                // (all but GRU), summed once and copied.
                let mut db_ih: Option<Tensor> = None;
                if has_bias.0 {
                    db_ih = grad_if(need[gs.len()], || dg.sum_dims(Some(&[0]), false, None))?;
                    gs.push(db_ih.clone());
                }
                if has_bias.1 {
                    gs.push(grad_if(need[gs.len()], || match &db_ih {
                        Some(d) if cell != RnnCell::Gru => d.clone_tensor(),
                        _ => dgh.sum_dims(Some(&[0]), false, None),
                    })?);
                }
                gs.push(Some(Tensor::from_storage(g.h0, [batch, hidden])));
                if let Some(dc0) = g.c0 {
                    gs.push(Some(Tensor::from_storage(dc0, [batch, hidden])));
                }
                gs.into_iter()
                    .zip(&kinds)
                    .map(|(g, &dt)| g.map(|g| g.to_dtype(dt)).transpose())
                    .collect()
            };
            record_outputs(
                rnn_node_name(cell),
                edges,
                &outputs,
                Box::new(backward),
                true,
            );
            Ok((out, h_n, c_n))
        },
        |(out, h, c): &RnnOutput| {
            [out.clone(), h.clone()]
                .into_iter()
                .chain(c.clone())
                .collect()
        },
    )
}

/// An optional tensor's storage.
fn storage_of(t: &Option<Tensor>) -> Option<&Storage> {
    t.as_ref().map(|t| t.storage().as_ref())
}

/// The node's name (`grad_fn` of a recurrent layer's outputs).
fn rnn_node_name(cell: RnnCell) -> &'static str {
    match cell {
        RnnCell::Tanh => "RnnTanhBackward0",
        RnnCell::Relu => "RnnReluBackward0",
        RnnCell::Lstm => "LstmBackward0",
        RnnCell::Gru => "GruBackward0",
    }
}

/// The gradients of a recurrent node, recorded: the composite layer rebuilt over aliases of
/// the node's inputs (`orig`: input, w_ih, w_hh, the biases given, h0, c0), differentiated
/// with `create_graph`.
fn composite_grads(
    cell: RnnCell,
    orig: &[Tensor],
    (has_bi, has_bh): (bool, bool),
    grads: &[Option<Tensor>],
    batch_sizes: Option<&[usize]>,
    reverse: bool,
    need: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    // Fresh aliases: the gradients are captured at their own nodes, so the engine stops
    // there and never runs the nodes that made the inputs.
    let alias: Vec<Tensor> = orig
        .iter()
        .map(|t| {
            if t.requires_grad() {
                let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
                t.view(&shape)
            } else {
                Ok(t.clone())
            }
        })
        .collect::<Result<_>>()?;
    let mut it = alias.iter();
    let (x, w_ih, w_hh) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let b_ih = if has_bi { it.next() } else { None };
    let b_hh = if has_bh { it.next() } else { None };
    let h0 = it.next().unwrap();
    let c0 = it.next();
    let w = RnnWeights {
        w_ih,
        w_hh,
        b_ih,
        b_hh,
        w_hr: None,
    };
    let (out, h_n, c_n) = rnn_layer_composite(cell, x, w, h0, c0, batch_sizes, reverse)?;
    let mut roots = vec![];
    for (t, g) in [Some(out), Some(h_n), c_n].into_iter().zip(grads) {
        if let (Some(t), Some(g)) = (t, g) {
            roots.push((t, g.clone()));
        }
    }
    let wanted: Vec<usize> = (0..alias.len())
        .filter(|&i| need[i] && alias[i].requires_grad())
        .collect();
    let targets: Vec<Tensor> = wanted.iter().map(|&i| alias[i].clone()).collect();
    let found = engine::grad(roots, &targets, true, true, true)?;
    let mut out = vec![None; alias.len()];
    for (i, g) in wanted.into_iter().zip(found) {
        out[i] = g;
    }
    Ok(out)
}

/// Rows `live..` of `old` replace those of `new` (sequences already ended keep their state).
fn carry(new: Tensor, old: &Tensor, live: usize) -> Result<Tensor> {
    let batch = new.shape()[0];
    if live >= batch {
        return Ok(new);
    }
    cat(
        &[
            new.narrow(0, 0, live)?,
            old.narrow(0, live as i64, batch - live)?,
        ],
        0,
    )
}

/// The same layer as [`rnn_layer`], written step by step in differentiable tensor ops
/// (PyTorch's cell formulas): the reference the fused kernels are tested against and what a
/// recorded backward differentiates.
pub fn rnn_layer_composite(
    cell: RnnCell,
    input: &Tensor,
    w: RnnWeights<'_>,
    h0: &Tensor,
    c0: Option<&Tensor>,
    batch_sizes: Option<&[usize]>,
    reverse: bool,
) -> Result<RnnOutput> {
    check(cell, input, w, h0, c0, batch_sizes)?;
    let steps = input.shape()[0];
    let batch = input.shape()[1];
    let linear = |x: &Tensor, wt: &Tensor, b: Option<&Tensor>| -> Result<Tensor> {
        let y = x.matmul(&wt.t()?)?;
        match b {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    };
    let xw = linear(input, w.w_ih, w.b_ih)?;
    let (mut h, mut c) = (h0.clone(), c0.cloned());
    let mut outs: Vec<Option<Tensor>> = vec![None; steps];
    for s in 0..steps {
        let t = if reverse { steps - 1 - s } else { s };
        let live = batch_sizes.map_or(batch, |b| b[t]);
        let x_t = xw.select(0, t as i64)?;
        let hw = linear(&h, w.w_hh, w.b_hh)?;
        let (h_new, c_new) = match cell {
            RnnCell::Tanh => (x_t.add(&hw)?.tanh()?, None),
            RnnCell::Relu => (x_t.add(&hw)?.relu()?, None),
            RnnCell::Lstm => {
                let g = x_t.add(&hw)?.chunk(4, 1)?;
                let (i, f) = (g[0].sigmoid()?, g[1].sigmoid()?);
                let (u, o) = (g[2].tanh()?, g[3].sigmoid()?);
                let cp = c.as_ref().expect("checked: LSTM has a cell state");
                let cn = f.mul(cp)?.add(&i.mul(&u)?)?;
                let mut hn = o.mul(&cn.tanh()?)?;
                if let Some(p) = w.w_hr {
                    hn = hn.matmul(&p.t()?)?;
                }
                (hn, Some(carry(cn, cp, live)?))
            }
            RnnCell::Gru => {
                let gx = x_t.chunk(3, 1)?;
                let gh = hw.chunk(3, 1)?;
                let r = gx[0].add(&gh[0])?.sigmoid()?;
                let z = gx[1].add(&gh[1])?.sigmoid()?;
                let n = gx[2].add(&r.mul(&gh[2])?)?.tanh()?;
                // (1 − z)·n + z·h
                (z.rsub_scalar(1.0)?.mul(&n)?.add(&z.mul(&h)?)?, None)
            }
        };
        h = carry(h_new, &h, live)?;
        c = c_new.or(c);
        outs[t] = Some(h.clone());
    }
    let outs: Vec<Tensor> = outs
        .into_iter()
        .map(|o| o.expect("every step ran"))
        .collect();
    Ok((stack(&outs, 0)?, h, c))
}
