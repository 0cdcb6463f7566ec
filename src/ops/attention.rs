//! The attention weights between the two products of scaled dot-product attention:
//! `dropout(softmax(scale·scores + mask))` over the last dim, with an optional causal mask
//! (query `i` sees the keys `j ≤ i`, PyTorch's `is_causal`). One node over the backends'
//! row kernels (`Backend::attention_softmax`: scale, mask, softmax and dropout in one pass
//! per row, saving the weights; backward, one pass per row for the scores' gradient). With
//! dropout the node has a second output, the weights before dropout, so that a recorded
//! backward (`create_graph=True`) differentiates them again; that backward is written in
//! tensor ops. Under an ONNX trace the op runs as its composite, which the exporter maps.

use super::dense;
use crate::autograd::{grad_if, is_grad_enabled, record_outputs, GradModeGuard, SavedTensor};
use crate::backend::{AttnRows, Distribution};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::{broadcast_shapes, fmt_shape, numel};
use crate::tensor::storage::Storage;
use crate::Tensor;
use std::sync::{Arc, OnceLock};

/// `dropout(softmax(scale·scores + mask), dropout_p)` over the last dim of `scores`
/// (`[…, L, S]`), the keys past each query left out when `is_causal`. A boolean `mask` keeps
/// its `true` positions (those left out get −∞), a float one is added; either broadcasts to
/// the scores' shape. A row with every key left out gives NaN as `softmax`, or zeros with
/// `safe` (PyTorch's `_safe_softmax`, which its `scaled_dot_product_attention` takes; its
/// multi-head attention takes `softmax` when it returns the weights).
pub fn attention_softmax(
    scores: &Tensor,
    mask: Option<&Tensor>,
    is_causal: bool,
    scale: f64,
    dropout_p: f64,
    safe: bool,
) -> Result<Tensor> {
    let shape = scores.shape().to_vec();
    let nd = shape.len();
    let dtype = scores.dtype();
    if !dtype.is_float() {
        return Err(Error::NotImplemented(format!(
            "\"softmax_lastdim_kernel_impl\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    if nd < 2 {
        return Err(Error::Runtime(format!(
            "attention_softmax: expected scores of at least 2 dims [..., L, S], got {}",
            fmt_shape(&shape)
        )));
    }
    if !(0.0..=1.0).contains(&dropout_p) {
        return Err(Error::Value(format!(
            "dropout probability has to be between 0 and 1, but got {dropout_p}"
        )));
    }
    let mask = mask.map(|m| additive_mask(m, &shape, dtype)).transpose()?;
    if crate::ops::trace::tracing() {
        return composite(scores, mask.as_ref(), is_causal, scale, dropout_p, safe);
    }
    let len = shape[nd - 1];
    let rows = numel(&shape[..nd - 1]);
    let keep = (dropout_p > 0.0)
        .then(|| {
            let p = Distribution::Bernoulli {
                p: 1.0 - dropout_p,
                value: 1.0,
            };
            let k = Storage::random(scores.device(), rows * len, DType::Bool, p)?;
            Ok::<_, Error>(Tensor::from_storage(k, shape.clone()))
        })
        .transpose()?;
    let ks = keep_scale(dropout_p);
    let rows_opts = AttnRows {
        rows,
        len,
        scale,
        causal: is_causal.then_some(shape[nd - 2]),
        safe,
    };
    let (y, out) = {
        let _off = GradModeGuard::new(false);
        let x = dense(scores)?;
        // Contiguous first, so that the broadcast view has no negative stride.
        let m = mask
            .as_ref()
            .map(|m| m.contiguous()?.expand_to(&shape))
            .transpose()?;
        let (y, out) = x.storage().attention_softmax(
            &rows_opts,
            m.as_ref().map(|m| (&**m.storage(), m.layout())),
            keep.as_ref().map(|k| (&**k.storage(), ks)),
        )?;
        let t = |s| Tensor::from_storage(s, shape.clone());
        (t(y), out.map(t))
    };
    let inputs: Vec<&Tensor> = std::iter::once(scores).chain(mask.as_ref()).collect();
    if !crate::autograd::needs_grad(&inputs) {
        return Ok(out.unwrap_or(y));
    }
    let outputs: Vec<Tensor> = out.iter().chain([&y]).cloned().collect();
    let mask_shape = mask.as_ref().map(|m| m.shape().to_vec());
    let saved_y = Arc::new(OnceLock::<SavedTensor>::new());
    let weights = saved_y.clone();
    let backward = move |grads: &[Option<Tensor>], need: &[bool]| -> Result<Vec<Option<Tensor>>> {
        let y = weights.get().expect("saved after recording").unpack()?;
        // With dropout, the gradients of the output and of the weights before it.
        let (g_out, g_y) = match &keep {
            Some(_) => (grads[0].as_ref(), grads.get(1).and_then(Option::as_ref)),
            None => (None, grads[0].as_ref()),
        };
        // `y·(gd − Σ gd·y)` times `factor`, gd the gradient of the weights before dropout.
        let grad = |factor: f64| -> Result<Tensor> {
            if !is_grad_enabled() && (g_out.is_none() || g_y.is_none()) {
                // One kernel pass; dropout's factor applies to the output's gradient.
                let g = g_out.or(g_y).expect("a gradient reaches the node");
                let (yd, gd) = (dense(&y)?, dense(&g.to_dtype(dtype)?)?);
                let s = yd.storage().attention_softmax_backward(
                    gd.storage(),
                    [rows, len],
                    keep.as_ref()
                        .filter(|_| g_out.is_some())
                        .map(|k| (&**k.storage(), ks)),
                    factor,
                )?;
                return Ok(Tensor::from_storage(s, shape.clone()));
            }
            let mut gd = match (g_out, &keep) {
                (Some(g), Some(k)) => Some(g.mul(&k.to_dtype(dtype)?)?.mul_scalar(ks)?),
                _ => None,
            };
            if let Some(gy) = g_y {
                gd = Some(match gd {
                    Some(d) => d.add(gy)?,
                    None => gy.clone(),
                });
            }
            let gd = gd.expect("a gradient reaches the node");
            let dot = gd.mul(&y)?.sum_dims(Some(&[-1]), true, None)?;
            y.mul(&gd.sub(&dot)?)?.mul_scalar(factor)
        };
        let gx = grad_if(need[0], || grad(scale))?;
        let mut gs = vec![gx];
        if let Some(ms) = &mask_shape {
            gs.push(grad_if(need[1], || grad(1.0)?.sum_to(ms))?);
        }
        Ok(gs)
    };
    let edges = inputs.iter().map(|t| t.gradient_edge()).collect();
    // The weights before dropout rarely get a gradient: without zeros standing in for it,
    // the backward is one kernel pass.
    record_outputs(
        "SoftmaxBackward0",
        edges,
        &outputs,
        Box::new(backward),
        false,
    );
    let _ = saved_y.set(SavedTensor::new(&y));
    Ok(outputs.into_iter().next().expect("the op has an output"))
}

/// The mask as an additive float of the scores' dtype: a boolean one's left-out (`false`)
/// positions at −∞, a float one (of the scores' dtype) as it is. It must broadcast to the scores' shape.
fn additive_mask(mask: &Tensor, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if broadcast_shapes(shape, mask.shape())? != shape {
        return Err(Error::Runtime(format!(
            "attention_softmax: a mask of shape {} does not broadcast to the attention weights' shape {}",
            fmt_shape(mask.shape()),
            fmt_shape(shape)
        )));
    }
    match mask.dtype() {
        DType::Bool => crate::ops::creation::zeros(mask.shape(), dtype, mask.device())?
            .masked_fill(&mask.logical_not()?, Scalar::Float(f64::NEG_INFINITY)),
        d if d == dtype => Ok(mask.clone()),
        // PyTorch takes a float32 mask with any query ("bool or float").
        DType::F32 => mask.to_dtype(dtype),
        d => Err(Error::Runtime(format!(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: {} and  query.dtype: {} instead.",
            d.cpp_name(),
            dtype.cpp_name()
        ))),
    }
}

/// The op as tensor ops (PyTorch's math path), which an ONNX trace records.
fn composite(
    scores: &Tensor,
    mask: Option<&Tensor>,
    is_causal: bool,
    scale: f64,
    dropout_p: f64,
    safe: bool,
) -> Result<Tensor> {
    let shape = scores.shape();
    let nd = shape.len();
    let mut t = scores.mul_scalar(scale)?;
    if is_causal {
        let (l, s) = (shape[nd - 2], shape[nd - 1]);
        let ones =
            crate::ops::creation::full(&[l, s], Scalar::Bool(true), DType::Bool, scores.device())?;
        t = t.masked_fill(
            &ones.triangle(0, false)?.logical_not()?,
            Scalar::Float(f64::NEG_INFINITY),
        )?;
    }
    if let Some(m) = mask {
        t = t.add(m)?;
    }
    let mut y = t.softmax(-1)?;
    if safe {
        let left_out = t
            .eq_scalar(f64::NEG_INFINITY)?
            .all_any(Some(&[-1]), true, true)?;
        y = y.masked_fill(&left_out, Scalar::Float(0.0))?;
    }
    if dropout_p == 0.0 {
        return Ok(y);
    }
    let p = Distribution::Bernoulli {
        p: 1.0 - dropout_p,
        value: 1.0,
    };
    let keep = Storage::random(scores.device(), numel(shape), DType::Bool, p)?;
    let kept = Tensor::from_storage(keep, shape.to_vec()).to_dtype(y.dtype())?;
    y.mul(&kept)?.mul_scalar(keep_scale(dropout_p))
}

/// The factor on the weights dropout keeps, `1/(1 − p)`; 0 at `p = 1`, where nothing is kept
/// (not ∞, whose product with the dropped weights' 0 would be NaN in the gradient; PyTorch's
/// gradient there is 0).
fn keep_scale(dropout_p: f64) -> f64 {
    if dropout_p < 1.0 {
        1.0 / (1.0 - dropout_p)
    } else {
        0.0
    }
}
