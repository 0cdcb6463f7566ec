//! Normalization layers: batch, instance, group and local response norm here; layer and
//! RMS norm in [`super::layer_norm`] (re-exported).
//!
//! Batch, instance and group norm run on the backends' batch-norm kernels (see
//! [`train_fused`]): one statistics pass (two reads: the mean, then the squared deviations),
//! one per-channel affine pass `(x − mean)·w/√(var+ε) + b`, and a node (`NativeBatchNorm`,
//! `NativeGroupNorm`, PyTorch's names) whose backward is one pass of per-channel sums and
//! one affine pass for the input gradient. Instance norm is batch norm over a `[1, rows, …]`
//! view of its input (a row per sample and channel). Group norm takes its statistics per
//! (sample, group) and applies them with its per-channel parameters in one affine pass per
//! (sample, channel). A recorded backward (`create_graph`) computes the same formulas as
//! differentiable ops, so it differentiates again.
//!
//! Batch norm in evaluation normalises with the running statistics in one affine pass when
//! no gradient is wanted, and otherwise (like RMS and local response norm) is a composite of
//! differentiable tensor ops, folded as PyTorch's CPU kernel folds it:
//! `y = x·scale + shift` with `scale = w/√(var+ε)` and `shift = b − mean·scale`.
//!
//! Running statistics are updated in place with no history (PyTorch's buffers are not part
//! of the graph): `r ← momentum·stat + (1 − momentum)·r`, the variance unbiased.

use super::binary::div_rounded;
use super::creation;
use super::dense;
use super::join::cat;
use super::{Operand, Scalar};
use crate::autograd::{grad_if, is_grad_enabled, needs_grad, record, GradModeGuard, SavedTensor};
use crate::error::{wrap_dim, Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::Tensor;

pub use super::layer_norm::{layer_norm, rms_norm};

/// Refuses integer and bool inputs as PyTorch's kernel dispatch does
/// (`"batch_norm" not implemented for 'Long'`).
pub(super) fn float_input(kernel: &str, x: &Tensor) -> Result<()> {
    if x.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::NotImplemented(format!(
            "\"{kernel}\" not implemented for '{}'",
            x.dtype().scalar_name()
        )))
    }
}

/// PyTorch's CPU check that parameters share the input's dtype (its kernels do not promote;
/// a float64 weight on a float32 input would otherwise give a float64 result). PyTorch
/// words it two ways: a float32 input asks for float32 parameters, any other input for
/// one shared dtype.
pub(super) fn same_dtype(x: &Tensor, params: &[Option<&Tensor>]) -> Result<()> {
    if params.iter().flatten().all(|p| p.dtype() == x.dtype()) {
        return Ok(());
    }
    Err(Error::Runtime(if x.dtype() == DType::F32 {
        "mixed dtype (CPU): expect parameter to have scalar type of Float".into()
    } else {
        "mixed dtype (CPU): all inputs must share same datatype.".into()
    }))
}

/// `v` (one value per channel) shaped `[C, 1, …, 1]` to broadcast against an input of
/// `ndim` dims whose channel dim is 1.
fn per_channel(v: &Tensor, ndim: usize) -> Result<Tensor> {
    let mut shape = vec![1i64; ndim.saturating_sub(1).max(1)];
    shape[0] = v.numel() as i64;
    v.reshape(&shape)
}

/// `x·scale + shift`, `scale = w/√(var+ε)`, `shift = b − mean·scale`; `mean`, `var`, `w`, `b`
/// already broadcast against `x` and are small (per channel or per group).
fn scale_shift(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
    w: Option<Tensor>,
    b: Option<Tensor>,
) -> Result<Tensor> {
    let invstd = var.add_scalar(eps)?.rsqrt()?;
    let scale = match w {
        Some(w) => invstd.mul(&w)?,
        None => invstd,
    };
    let centred = mean.mul(&scale)?;
    let shift = match b {
        Some(b) => b.sub(&centred)?,
        None => centred.neg()?,
    };
    x.mul(&scale)?.add(&shift)
}

/// `running ← momentum·stat + (1 − momentum)·running`, in place, unrecorded.
fn update_running(running: &Tensor, stat: &Tensor, momentum: f64) -> Result<()> {
    let _no_grad = GradModeGuard::new(false);
    let new = stat
        .detach()
        .mul_scalar(momentum)?
        .add(&running.mul_scalar(1.0 - momentum)?)?;
    running.copy_(&new)
}

/// The (optional) running statistics of batch and instance norm.
#[derive(Clone, Copy, Default)]
pub struct RunningStats<'a> {
    pub mean: Option<&'a Tensor>,
    pub var: Option<&'a Tensor>,
    /// Weight of the new batch's statistic (PyTorch's `momentum`; the module passes
    /// `1/num_batches_tracked` for a cumulative average).
    pub momentum: f64,
}

/// The optional per-channel (or per-element) affine parameters.
#[derive(Clone, Copy, Default)]
pub struct Affine<'a> {
    pub weight: Option<&'a Tensor>,
    pub bias: Option<&'a Tensor>,
}

/// PyTorch's `check_dims_match_num_input_features` over the optional per-channel tensors.
fn check_per_channel(
    channels: usize,
    running: &RunningStats,
    affine: &Affine,
    use_running: bool,
    mult: usize,
) -> Result<()> {
    let items = [
        ("running_mean", running.mean),
        ("running_var", running.var),
        ("weight", affine.weight),
        ("bias", affine.bias),
    ];
    for (i, (name, t)) in items.into_iter().enumerate() {
        match t {
            Some(t) if i < 2 && is_grad_enabled() && t.requires_grad() => {
                return Err(Error::Runtime(format!(
                    "The function 'native_batch_norm' is not differentiable with respect to argument '{name}'. This input cannot have requires_grad True."
                )))
            }
            Some(t) if t.numel() * mult != channels => {
                return Err(Error::Runtime(format!(
                    "{name} should contain {channels} elements not {}",
                    t.numel() * mult
                )))
            }
            None if i < 2 && use_running => {
                return Err(Error::Runtime(format!(
                    "{name} must be defined in evaluation mode"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)`.
///
/// Training normalises with the batch's statistics over every dim but the channel dim 1
/// (biased variance) and, when running statistics are given, updates them in place with
/// the unbiased variance; evaluation normalises with the running statistics.
pub fn batch_norm(
    input: &Tensor,
    running: RunningStats,
    affine: Affine,
    training: bool,
    eps: f64,
) -> Result<Tensor> {
    let present = [running.mean, running.var, affine.weight, affine.bias];
    let operands: Vec<&Tensor> = std::iter::once(input)
        .chain(present.into_iter().flatten())
        .collect();
    crate::ops::trace::traced(
        "batch_norm",
        &operands,
        || {
            vec![
                (
                    "present",
                    crate::ops::trace::Attr::Ints(
                        present.iter().map(|t| t.is_some() as i64).collect(),
                    ),
                ),
                ("training", crate::ops::trace::Attr::Int(training as i64)),
                ("eps", crate::ops::trace::Attr::Float(eps)),
            ]
        },
        || {
            float_input("batch_norm", input)?;
            let channels = input.shape()[wrap_dim(1, input.dim())?];
            check_per_channel(channels, &running, &affine, !training, 1)?;
            same_dtype(
                input,
                &[running.mean, running.var, affine.weight, affine.bias],
            )?;
            if input.numel() == 0 {
                // PyTorch's empty-batch path: a fresh tensor still connected to the parameters.
                let mut out = input.mul_scalar(1.0)?;
                if let Some(w) = affine.weight.filter(|w| w.numel() > 0) {
                    out = out.mul(&w.reshape(&[-1])?.select(0, 0)?)?;
                }
                if let Some(b) = affine.bias.filter(|b| b.numel() > 0) {
                    out = out.add(&b.reshape(&[-1])?.select(0, 0)?)?;
                }
                return Ok(out);
            }
            let nd = input.dim();
            let pc = |t: Option<&Tensor>| t.map(|t| per_channel(t, nd)).transpose();
            let (w, b) = (pc(affine.weight)?, pc(affine.bias)?);
            let mut params = vec![input];
            params.extend(affine.weight);
            params.extend(affine.bias);
            if !training && !needs_grad(&params) {
                let present = "checked by check_per_channel in evaluation mode";
                let (rm, rv) = (running.mean.expect(present), running.var.expect(present));
                return eval_fused(input, rm, rv, affine, eps);
            }
            if training {
                let (out, mean, var) = train_fused("NativeBatchNormBackward0", input, affine, eps)?;
                let _off = GradModeGuard::new(false);
                let m = (input.numel() / channels) as f64;
                if let Some(rm) = running.mean {
                    update_running(rm, &mean.reshape(&shape_of(rm))?, running.momentum)?;
                }
                if let Some(rv) = running.var {
                    let unbiased = var.mul_scalar(m / (m - 1.0))?;
                    update_running(rv, &unbiased.reshape(&shape_of(rv))?, running.momentum)?;
                }
                return Ok(out);
            }
            {
                // Running statistics are buffers, not differentiable inputs (as in PyTorch).
                let stat = |t: Option<&Tensor>| pc(t.map(|t| t.detach()).as_ref());
                let present = "checked by check_per_channel in evaluation mode";
                let (mean, var) = (
                    stat(running.mean)?.expect(present),
                    stat(running.var)?.expect(present),
                );
                scale_shift(input, &mean, &var, eps, w, b)
            }
        },
    )
}

/// The dtype batch norm's per-channel values are computed in: float32 for the 16-bit
/// types (as PyTorch's `save_mean`/`save_invstd`), the input's otherwise.
fn acc_dtype(d: DType) -> DType {
    if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// `[n, c, s]`: a batch-norm input's batch, channels and positions per channel and image.
fn channel_dims(x: &Tensor) -> [usize; 3] {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    [n, c, x.numel() / (n * c).max(1)]
}

/// A per-channel parameter (weight or bias) as a detached `[c]` tensor of `dtype`.
fn channel_param(p: Option<&Tensor>, dtype: DType) -> Result<Option<Tensor>> {
    p.map(|p| dense(&p.detach().reshape(&[-1])?.to_dtype(dtype)?))
        .transpose()
}

/// `(x − center)·a + b` (+ `y·d`) on the backend's affine kernel, shaped as `like`.
fn channel_affine(
    x: &Tensor,
    [center, a, b]: [&Tensor; 3],
    y: Option<(&Tensor, &Tensor)>,
    like: &Tensor,
) -> Result<Tensor> {
    let dims = channel_dims(x);
    let s = x.storage().channel_affine(
        [center.storage(), a.storage(), b.storage()],
        y.map(|(y, d)| (&**y.storage(), &**d.storage())),
        dims,
    )?;
    Ok(Tensor::from_storage(s, like.shape().to_vec()))
}

/// Evaluation with no gradient wanted: one affine pass with the running statistics.
fn eval_fused(
    input: &Tensor,
    rm: &Tensor,
    rv: &Tensor,
    affine: Affine,
    eps: f64,
) -> Result<Tensor> {
    let _off = GradModeGuard::new(false);
    let acc = acc_dtype(input.dtype());
    let c = input.shape()[1];
    let x = dense(input)?;
    let mean = channel_param(Some(rm), acc)?.expect("given");
    let invstd = channel_param(Some(rv), acc)?
        .expect("given")
        .add_scalar(eps)?
        .rsqrt()?;
    let a = match channel_param(affine.weight, acc)? {
        Some(w) => invstd.mul(&w)?,
        None => invstd,
    };
    let b = match channel_param(affine.bias, acc)? {
        Some(b) => b,
        None => creation::zeros(&[c], acc, input.device())?,
    };
    channel_affine(&x, [&mean, &a, &b], None, input)
}

/// Normalisation of each channel of `input` (`[n, c, …]`) by its own statistics: one pass
/// for the statistics on the backend's kernel, one affine pass, and a node named `name`
/// (one sums pass and one affine pass backward). Returns the output and the per-channel
/// mean and biased variance (detached, in [`acc_dtype`]). Batch norm is this over the
/// batch; instance, group and layer norm are it over a `[1, rows, …]` view of their input.
fn train_fused(
    name: &'static str,
    input: &Tensor,
    affine: Affine,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let acc = acc_dtype(input.dtype());
    let [n, c, s] = channel_dims(input);
    let (x, out, mean, var, invstd, weight) = {
        let _off = GradModeGuard::new(false);
        let x = dense(input)?;
        let (ms, vs) = x.storage().channel_stats([n, c, s])?;
        let (mean, var) = (Tensor::from_storage(ms, [c]), Tensor::from_storage(vs, [c]));
        let invstd = var.add_scalar(eps)?.rsqrt()?;
        let weight = channel_param(affine.weight, acc)?;
        let a = match &weight {
            Some(w) => invstd.mul(w)?,
            None => invstd.clone(),
        };
        let b = match channel_param(affine.bias, acc)? {
            Some(b) => b,
            None => creation::zeros(&[c], acc, input.device())?,
        };
        let out = channel_affine(&x, [&mean, &a, &b], None, input)?;
        (x, out, mean, var, invstd, weight)
    };
    let stats = (mean.clone(), var);
    let Some(NormNode {
        inputs,
        like: [w_like, b_like],
        x: saved_x,
        w: saved_w,
    }) = norm_node(input, &affine)
    else {
        return Ok((out, stats.0, stats.1));
    };
    // The input's copy the statistics were taken from, when it had to be made.
    let copy = (!std::sync::Arc::ptr_eq(&x.0, &input.0)).then_some(x);
    record(name, &inputs, &out, move |g, need| {
        let (gx, gw, gb) = if is_grad_enabled() {
            let w = saved_w.as_ref().map(|w| w.unpack()).transpose()?;
            let x = saved_x.unpack()?;
            batch_norm_backward_recorded(&x, w.as_ref(), g, eps, need)?
        } else {
            let x = match &copy {
                Some(x) => x.clone(),
                None => saved_x.unpack()?,
            };
            let gd = dense(g)?;
            let (ps, qs) =
                gd.storage()
                    .channel_grad_sums(x.storage(), mean.storage(), [n, c, s])?;
            let (sum_g, sum_gx) = (Tensor::from_storage(ps, [c]), Tensor::from_storage(qs, [c]));
            let gx = grad_if(need[0], || {
                // gx = k·(g − Σg/M − (x − mean)·invstd²·Σg(x−mean)/M), k = w·invstd.
                let m = (n * s) as f64;
                let k = match &weight {
                    Some(w) => invstd.mul(w)?,
                    None => invstd.clone(),
                };
                let a = k
                    .mul(&invstd)?
                    .mul(&invstd)?
                    .mul(&sum_gx)?
                    .mul_scalar(-1.0 / m)?;
                let d = k.mul(&sum_g)?.mul_scalar(-1.0 / m)?;
                channel_affine(&x, [&mean, &a, &d], Some((&gd, &k)), &x)
            })?;
            let gw = sum_gx.mul(&invstd)?;
            (gx, Some(gw), Some(sum_g))
        };
        norm_grads([gx, gw, gb], need, [&w_like, &b_like])
    });
    Ok((out, stats.0, stats.1))
}

/// An optional norm parameter's dtype and shape, in which its gradient is given back.
pub(super) type ParamLike = Option<(DType, Vec<i64>)>;

/// A norm node's differentiable inputs (the input, then the weight and bias given), the
/// parameters' [`ParamLike`]s, and the input and weight its backward keeps.
pub(super) struct NormNode<'a> {
    pub(super) inputs: Vec<&'a Tensor>,
    pub(super) like: [ParamLike; 2],
    pub(super) x: SavedTensor,
    pub(super) w: Option<SavedTensor>,
}

/// The [`NormNode`] of a norm of `input` with `affine`, or `None` when no gradient is
/// wanted.
pub(super) fn norm_node<'a>(input: &'a Tensor, affine: &Affine<'a>) -> Option<NormNode<'a>> {
    let mut inputs = vec![input];
    inputs.extend(affine.weight);
    inputs.extend(affine.bias);
    if !needs_grad(&inputs) {
        return None;
    }
    Some(NormNode {
        inputs,
        like: [param_like(affine.weight), param_like(affine.bias)],
        x: SavedTensor::new(input),
        w: affine.weight.map(SavedTensor::new),
    })
}

fn param_like(p: Option<&Tensor>) -> ParamLike {
    p.map(|p| (p.dtype(), shape_of(p)))
}

/// A norm node's gradients in input order: the input's, then the weight's and the bias's
/// (for those given, where needed), each in its parameter's dtype and shape.
pub(super) fn norm_grads(
    [gx, gw, gb]: [Option<Tensor>; 3],
    need: &[bool],
    [w, b]: [&ParamLike; 2],
) -> Result<Vec<Option<Tensor>>> {
    let mut grads = vec![gx];
    for (t, like) in [(gw, w), (gb, b)] {
        if let Some((dtype, shape)) = like {
            let wanted = need[grads.len()];
            grads.push(match t.filter(|_| wanted) {
                Some(t) => Some(t.reshape(shape)?.to_dtype(*dtype)?),
                None => None,
            });
        }
    }
    Ok(grads)
}

/// Batch norm's gradients as differentiable ops on the saved input (a backward being
/// recorded): `x̂ = (x − mean)·invstd`, `gb = Σg`, `gw = Σg·x̂`,
/// `gx = (g − gb/M − x̂·gw/M)·invstd·w`, the statistics recomputed from `x` so that the
/// gradients differentiate through them.
fn batch_norm_backward_recorded(
    x: &Tensor,
    w: Option<&Tensor>,
    g: &Tensor,
    eps: f64,
    need: &[bool],
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let nd = x.dim();
    let dims: Vec<i64> = (0..nd as i64).filter(|&d| d != 1).collect();
    let m = (x.numel() / x.shape()[1]) as f64;
    let (xhat, invstd) = standardized(x, &dims, eps)?;
    let gb = g.sum_dims(Some(&dims), true, None)?;
    let gw = g.mul(&xhat)?.sum_dims(Some(&dims), true, None)?;
    let gx = grad_if(need[0], || {
        let k = match w {
            Some(w) => invstd.mul(&per_channel(w, nd)?)?,
            None => invstd.clone(),
        };
        g.sub(&gb.mul_scalar(1.0 / m)?)?
            .sub(&xhat.mul(&gw.mul_scalar(1.0 / m)?)?)?
            .mul(&k)
    })?;
    let flat = |t: Tensor| t.reshape(&[-1]);
    Ok((gx, Some(flat(gw)?), Some(flat(gb)?)))
}

/// `(x̂, invstd)` over `dims` of `x` as differentiable ops: `x̂ = (x − mean)·invstd`,
/// `invstd = 1/√(var + ε)` with the biased variance. The recorded backwards recompute the
/// statistics this way so that their gradients differentiate through them.
pub(super) fn standardized(x: &Tensor, dims: &[i64], eps: f64) -> Result<(Tensor, Tensor)> {
    let mean = x.mean_dims(Some(dims), true, None)?;
    let invstd = x
        .var_dims(Some(dims), 0.0, true)?
        .add_scalar(eps)?
        .rsqrt()?;
    Ok((x.sub(&mean)?.mul(&invstd)?, invstd))
}

/// The input gradient of a normalisation over `dims`, from `h = g·w` (the output gradient
/// times the elementwise scale): `invstd·(h − mean(h) − x̂·mean(h·x̂))`.
pub(super) fn normalized_input_grad(
    h: &Tensor,
    xhat: &Tensor,
    invstd: &Tensor,
    dims: &[i64],
) -> Result<Tensor> {
    let mean_h = h.mean_dims(Some(dims), true, None)?;
    let mean_hx = h.mul(xhat)?.mean_dims(Some(dims), true, None)?;
    h.sub(&mean_h)?.sub(&xhat.mul(&mean_hx)?)?.mul(invstd)
}

fn shape_of(t: &Tensor) -> Vec<i64> {
    t.shape().iter().map(|&s| s as i64).collect()
}

/// `instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
/// momentum, eps)`: batch norm of each (sample, channel) slice on its own.
///
/// With `use_input_stats` each slice is normalised with its own statistics and the running
/// statistics, if given, move towards their batch average (PyTorch runs batch norm on the
/// input viewed as `[1, N·C, …]` with the running statistics repeated N times, then
/// averages the N copies back); otherwise the running statistics normalise, per channel.
pub fn instance_norm(
    input: &Tensor,
    running: RunningStats,
    affine: Affine,
    use_input_stats: bool,
    eps: f64,
) -> Result<Tensor> {
    if !use_input_stats && (running.mean.is_none() || running.var.is_none()) {
        return Err(Error::Runtime(
            "Expected running_mean and running_var to be defined when use_input_stats is false"
                .into(),
        ));
    }
    float_input("batch_norm", input)?;
    let channels = input.shape()[wrap_dim(1, input.dim())?];
    let batch = input.shape()[0];
    // PyTorch's messages count the repeated copies: N·C expected, N·numel given.
    check_per_channel(batch * channels, &running, &affine, false, batch)?;
    same_dtype(
        input,
        &[running.mean, running.var, affine.weight, affine.bias],
    )?;
    if !use_input_stats {
        return batch_norm(input, running, affine, false, eps);
    }
    if input.numel() == 0 {
        return batch_norm(input, RunningStats::default(), affine, true, eps);
    }
    // Batch norm over `[1, N·C, *]`: each (sample, channel) slice a channel of its own, the
    // affine parameters repeated for each sample (their gradients summed back by `repeat`).
    let rows = batch * channels;
    let x = input.reshape(&[1, rows as i64, (input.numel() / rows) as i64])?;
    let rep = |t: Option<&Tensor>| {
        t.map(|t| t.reshape(&[-1])?.repeat(&[batch as i64]))
            .transpose()
    };
    let (w, b) = (rep(affine.weight)?, rep(affine.bias)?);
    let both = Affine {
        weight: w.as_ref(),
        bias: b.as_ref(),
    };
    let (out, mean, var) = train_fused("NativeBatchNormBackward0", &x, both, eps)?;
    let out = out.reshape(&shape_of(input))?;
    let n = (input.numel() / (batch * channels)) as f64;
    let nc = [batch as i64, channels as i64];
    let batch_average = |s: &Tensor, r: &Tensor| -> Result<Tensor> {
        let _no_grad = GradModeGuard::new(false);
        s.reshape(&nc)?
            .mean_dims(Some(&[0]), false, None)?
            .reshape(&shape_of(r))
    };
    if let Some(rm) = running.mean {
        update_running(rm, &batch_average(&mean, rm)?, running.momentum)?;
    }
    if let Some(rv) = running.var {
        let unbiased = {
            let _no_grad = GradModeGuard::new(false);
            var.mul_scalar(n / (n - 1.0))?
        };
        update_running(rv, &batch_average(&unbiased, rv)?, running.momentum)?;
    }
    Ok(out)
}

/// `group_norm(input, num_groups, weight, bias, eps)`: the channels of each sample split
/// into `num_groups` groups, each normalised over its channels and positions; the affine
/// parameters are per channel.
pub fn group_norm(input: &Tensor, num_groups: usize, affine: Affine, eps: f64) -> Result<Tensor> {
    let nd = input.dim();
    if nd < 2 {
        return Err(Error::Runtime(format!(
            "Expected at least 2 dimensions for input tensor but received {nd}"
        )));
    }
    let channels = input.shape()[1];
    if num_groups == 0 || !channels.is_multiple_of(num_groups) {
        return Err(Error::Runtime(format!(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape {} and num_groups={num_groups}",
            fmt_shape(input.shape())
        )));
    }
    for (name, p) in [("weight", affine.weight), ("bias", affine.bias)] {
        if let Some(p) = p {
            if p.dim() != 1 || p.numel() != channels {
                // PyTorch's message shows the weight's shape for both (`[0]` when absent).
                let shown = affine.weight.map_or(vec![0], |w| w.shape().to_vec());
                return Err(Error::Runtime(format!(
                    "Expected {name} to be a vector of size equal to the number of channels in input, but got {name} of shape {} and input of shape {}",
                    fmt_shape(&shown),
                    fmt_shape(input.shape())
                )));
            }
        }
    }
    float_input("GroupNormKernelImpl", input)?;
    same_dtype(input, &[affine.weight, affine.bias])?;
    group_norm_fused(input, num_groups, affine, eps)
}

/// Group norm on the batch-norm kernels: statistics per (sample, group) over the input
/// viewed as `[1, N·G, C/G·positions]`, then one affine pass over `[1, N·C, positions]`
/// with each (sample, channel)'s coefficients (its group's statistics, its channel's
/// parameters); backward, one sums pass per (sample, channel) and one affine pass.
fn group_norm_fused(input: &Tensor, groups: usize, affine: Affine, eps: f64) -> Result<Tensor> {
    let acc = acc_dtype(input.dtype());
    let (n, c) = (input.shape()[0], input.shape()[1]);
    let s: usize = input.shape()[2..].iter().product();
    let cg = c / groups;
    let dims = [1, n * c, s];
    let dev = input.device();
    // Per (sample, group) values `[n·groups]` repeated for each channel of the group.
    let spread = move |t: &Tensor| -> Result<Tensor> {
        dense(
            &t.reshape(&[n as i64, groups as i64, 1])?
                .expand(&[n as i64, groups as i64, cg as i64])?
                .reshape(&[(n * c) as i64])?,
        )
    };
    // Per-channel values `[c]` repeated for each sample.
    let per_sample = |t: &Tensor| t.repeat(&[n as i64]);
    let (x, out, center, invstd, wr) = {
        let _off = GradModeGuard::new(false);
        let x = dense(input)?;
        let (ms, vs) = x.storage().channel_stats([1, n * groups, cg * s])?;
        let mean = Tensor::from_storage(ms, [n * groups]);
        let invstd = Tensor::from_storage(vs, [n * groups])
            .add_scalar(eps)?
            .rsqrt()?;
        let wr = match channel_param(affine.weight, acc)? {
            Some(w) => per_sample(&w)?,
            None => creation::ones(&[n * c], acc, dev)?,
        };
        let b = match channel_param(affine.bias, acc)? {
            Some(b) => per_sample(&b)?,
            None => creation::zeros(&[n * c], acc, dev)?,
        };
        let center = spread(&mean)?;
        let a = spread(&invstd)?.mul(&wr)?;
        let s =
            x.storage()
                .channel_affine([center.storage(), a.storage(), b.storage()], None, dims)?;
        let out = Tensor::from_storage(s, input.shape().to_vec());
        (x, out, center, invstd, wr)
    };
    let Some(NormNode {
        inputs,
        like: [w_like, b_like],
        x: saved_x,
        w: saved_w,
    }) = norm_node(input, &affine)
    else {
        return Ok(out);
    };
    record("NativeGroupNormBackward0", &inputs, &out, move |g, need| {
        let (gx, gw, gb) = if is_grad_enabled() {
            let w = saved_w.as_ref().map(|w| w.unpack()).transpose()?;
            group_norm_backward_recorded(&saved_x.unpack()?, w.as_ref(), g, groups, eps, need[0])?
        } else {
            let gd = dense(g)?;
            let (ps, qs) = gd
                .storage()
                .channel_grad_sums(x.storage(), center.storage(), dims)?;
            let (sum_g, sum_gx) = (
                Tensor::from_storage(ps, [n * c]),
                Tensor::from_storage(qs, [n * c]),
            );
            let inv = spread(&invstd)?;
            let over_samples = |t: Tensor| {
                t.reshape(&[n as i64, c as i64])?
                    .sum_dims(Some(&[0]), false, None)
            };
            let gx = grad_if(need[0], || {
                // gx = invstd·(w·g − A/M − (x − mean)·invstd²·B/M) with the group sums
                // A = Σ w·Σg, B = Σ w·Σg(x − mean) over the group's channels.
                let m = (cg * s) as f64;
                let by_group = |t: Tensor| -> Result<Tensor> {
                    t.reshape(&[n as i64, groups as i64, cg as i64])?
                        .sum_dims(Some(&[2]), false, None)?
                        .reshape(&[(n * groups) as i64])
                };
                let a_sum = by_group(wr.mul(&sum_g)?)?;
                let b_sum = by_group(wr.mul(&sum_gx)?)?;
                let a2 = spread(
                    &invstd
                        .mul(&invstd)?
                        .mul(&invstd)?
                        .mul(&b_sum)?
                        .mul_scalar(-1.0 / m)?,
                )?;
                let b2 = spread(&invstd.mul(&a_sum)?.mul_scalar(-1.0 / m)?)?;
                let d2 = inv.mul(&wr)?;
                let s = x.storage().channel_affine(
                    [center.storage(), a2.storage(), b2.storage()],
                    Some((gd.storage(), d2.storage())),
                    dims,
                )?;
                Ok(Tensor::from_storage(s, x.shape().to_vec()))
            })?;
            (
                gx,
                Some(over_samples(sum_gx.mul(&inv)?)?),
                Some(over_samples(sum_g)?),
            )
        };
        norm_grads([gx, gw, gb], need, [&w_like, &b_like])
    });
    Ok(out)
}

/// Group norm's gradients as differentiable ops on the saved input (a backward being
/// recorded), over `[n, groups, c/groups, positions]`: `x̂ = (x − mean)·invstd`,
/// `gb = Σg`, `gw = Σg·x̂` per channel, `h = g·w`, `gx = invstd·(h − mean(h) − x̂·mean(h·x̂))`
/// per group.
fn group_norm_backward_recorded(
    x: &Tensor,
    w: Option<&Tensor>,
    g: &Tensor,
    groups: usize,
    eps: f64,
    need_x: bool,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (n, c) = (x.shape()[0] as i64, x.shape()[1] as i64);
    let s = (x.numel() as i64).checked_div(n * c).unwrap_or(0);
    let four = [n, groups as i64, c / groups as i64, s];
    let (xg, gg) = (x.reshape(&four)?, g.reshape(&four)?);
    let within = [2i64, 3];
    let (xhat, invstd) = standardized(&xg, &within, eps)?;
    let per_channel_sum = |t: &Tensor| t.sum_dims(Some(&[0, 3]), false, None)?.reshape(&[-1]);
    let gw = per_channel_sum(&gg.mul(&xhat)?)?;
    let gb = per_channel_sum(&gg)?;
    let gx = grad_if(need_x, || {
        let h = match w {
            Some(w) => gg.mul(&w.reshape(&[1, groups as i64, c / groups as i64, 1])?)?,
            None => gg.clone(),
        };
        normalized_input_grad(&h, &xhat, &invstd, &within)?.reshape(&shape_of(x))
    })?;
    Ok((gx, Some(gw), Some(gb)))
}

/// `local_response_norm(input, size, alpha, beta, k)`: each element divided by
/// `(k + alpha·avg(x²))^beta`, the average over a window of `size` neighbouring channels
/// (zero-padded `size/2` before and `(size−1)/2` after, divided by `size` as PyTorch's
/// average pool with padding counted). The window sum adds shifted slices in the pool's
/// order. An empty input comes back as it is; the dtypes that pool refuses (PyTorch's
/// `avg_pool2d` for 3-D inputs, `avg_pool3d` for more dimensions) are refused with its
/// error.
pub fn local_response_norm(
    input: &Tensor,
    size: usize,
    alpha: f64,
    beta: f64,
    k: f64,
) -> Result<Tensor> {
    let nd = input.dim();
    if nd < 3 {
        return Err(Error::Value(format!(
            "Expected 3D or higher dimensionality                          input (got {nd} dimensions)"
        )));
    }
    if input.numel() == 0 {
        return Ok(input.clone());
    }
    if size == 0 {
        // The message of the average pool PyTorch runs the window through.
        let kernel = if nd == 3 {
            "kH: 0 kW: 1"
        } else {
            "kT: 0 kH: 1 kW: 1"
        };
        return Err(Error::Runtime(format!(
            "kernel size should be greater than zero, but got {kernel}"
        )));
    }
    let pool = if nd == 3 { "avg_pool2d" } else { "avg_pool3d" };
    crate::ops::pool::check_pool_dtype(pool, input)?;
    let channels = input.shape()[1];
    let zeros = |c: usize| {
        let mut shape = input.shape().to_vec();
        shape[1] = c;
        creation::zeros(&shape, input.dtype(), input.device())
    };
    let squares = input.mul(input)?;
    let (before, after) = (size / 2, (size - 1) / 2);
    let mut parts = Vec::with_capacity(3);
    if before > 0 {
        parts.push(zeros(before)?);
    }
    parts.push(squares);
    if after > 0 {
        parts.push(zeros(after)?);
    }
    let padded = if parts.len() == 1 {
        parts.pop().unwrap()
    } else {
        cat(&parts, 1)?
    };
    let mut window = padded.narrow(1, 0, channels)?;
    for j in 1..size {
        window = window.add(&padded.narrow(1, j as i64, channels)?)?;
    }
    let average = if input.dtype().is_float() {
        window.div_scalar(size as f64)?
    } else {
        // PyTorch's integer average pool divides with truncation.
        let size = Operand::Scalar(Scalar::Int(size as i64));
        div_rounded(&Operand::Tensor(window), &size, Some("trunc"))?
    };
    let div = average.mul_scalar(alpha)?.add_scalar(k)?.pow_scalar(beta)?;
    input.div(&div)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape)
    }

    #[test]
    fn batch_norm_updates_running_stats_with_unbiased_variance() {
        let x = t(&[1.0, 2.0, 3.0, 5.0], &[2, 2]);
        let rm = t(&[0.0, 0.0], &[2]);
        let rv = t(&[1.0, 1.0], &[2]);
        let running = RunningStats {
            mean: Some(&rm),
            var: Some(&rv),
            momentum: 0.5,
        };
        let y = batch_norm(&x, running, Affine::default(), true, 0.0).unwrap();
        // Channel 0 holds {1, 3}: mean 2, biased var 1, unbiased var 2.
        let y = y.to_vec::<f64>().unwrap();
        assert!(y
            .iter()
            .zip([-1.0, -1.0, 1.0, 1.0])
            .all(|(a, b)| (a - b).abs() < 1e-12));
        assert_eq!(rm.to_vec::<f64>().unwrap(), vec![1.0, 1.75]);
        assert_eq!(rv.to_vec::<f64>().unwrap(), vec![1.5, 2.75]);
    }
}
