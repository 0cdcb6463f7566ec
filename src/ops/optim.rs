//! Fused optimizer updates: one call updates every parameter of a group in place, instead
//! of a Python loop of small tensor ops per parameter (`torch.optim`'s "foreach/fused" idea).

use super::run;
use crate::error::{Error, Result};
use crate::tensor::storage::Storage;
use crate::Tensor;

pub use crate::backend::{AdamOptions, SgdOptions};

/// Checks that `t` can be updated in place by a fused kernel alongside `others`.
fn check_target(what: &str, t: &Tensor, like: &Tensor, others: &[&Tensor]) -> Result<()> {
    if !t.is_contiguous() || t.shape() != like.shape() || t.dtype() != like.dtype() {
        return Err(Error::Runtime(format!(
            "fused optimizer: {what} must be contiguous with the parameter's shape and dtype (got {:?} {:?}, parameter {:?} {:?})",
            t.shape(),
            t.dtype(),
            like.shape(),
            like.dtype()
        )));
    }
    if others.iter().any(|o| o.shares_storage(t)) {
        return Err(Error::Runtime(format!(
            "fused optimizer: {what} shares memory with another operand"
        )));
    }
    if !t.dtype().is_float() {
        return Err(Error::Runtime(format!(
            "fused optimizer: {what} must be floating point"
        )));
    }
    Ok(())
}

/// SGD over a parameter group. `bufs[i]` is the momentum buffer (None before the first
/// step, when momentum is used); returns the buffers after the step.
pub fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    bufs: &[Option<Tensor>],
    o: &SgdOptions,
) -> Result<Vec<Option<Tensor>>> {
    let mut out = Vec::with_capacity(params.len());
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        let g = g.to_dtype_raw(p.dtype())?.contiguous()?;
        let buf = match (o.momentum != 0.0, bufs.get(i).cloned().flatten()) {
            (false, _) => None,
            (true, Some(b)) => Some((b, false)),
            (true, None) => Some((crate::ops::creation::zeros_like(p)?, true)),
        };
        check_target("parameter", p, p, &[&g])?;
        if let Some((b, _)) = &buf {
            check_target("momentum buffer", b, p, &[&g, p])?;
        }
        let first = buf.as_ref().is_some_and(|(_, first)| *first);
        Storage::sgd_step(run(p), run(&g), buf.as_ref().map(|(b, _)| run(b)), first, o)?;
        p.storage().bump_version();
        out.push(buf.map(|(b, _)| b));
    }
    Ok(out)
}

/// Adam/AdamW over a parameter group; `steps[i]` is the step number after increment.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    max_exp_avg_sqs: &[Tensor],
    steps: &[f64],
    o: &AdamOptions,
) -> Result<()> {
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        let g = g.to_dtype_raw(p.dtype())?.contiguous()?;
        let (m, v) = (&exp_avgs[i], &exp_avg_sqs[i]);
        let mx = if o.amsgrad {
            max_exp_avg_sqs.get(i)
        } else {
            None
        };
        check_target("parameter", p, p, &[&g, m, v])?;
        check_target("exp_avg", m, p, &[&g, v])?;
        check_target("exp_avg_sq", v, p, &[&g])?;
        if let Some(mx) = mx {
            check_target("max_exp_avg_sq", mx, p, &[&g, m, v, p])?;
        }
        Storage::adam_step(run(p), run(&g), run(m), run(v), mx.map(run), steps[i], o)?;
        for t in [p, m, v] {
            t.storage().bump_version();
        }
    }
    Ok(())
}
