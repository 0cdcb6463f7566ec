//! Layer norm and RMS norm: each sample normalised over its last `normalized_shape.len()`
//! dims. Layer norm runs on the backends' row kernels (`Backend::layer_norm`: the row's
//! mean, biased variance and affine output in one block; backward, the input gradient per
//! row and the weight's and bias's column sums) under a `NativeLayerNormBackward0` node; a
//! recorded backward (`create_graph`) computes the same formulas as differentiable ops. RMS
//! norm is a composite of tensor ops.

use super::dense;
use super::norm::{
    float_input, norm_grads, norm_node, normalized_input_grad, same_dtype, standardized, Affine,
    NormNode,
};
use crate::autograd::{grad_if, is_grad_enabled, record, GradModeGuard};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::Tensor;

/// PyTorch's `_check_layer_norm_inputs` (and the RMS norm twin, whose message lacks the
/// comma after `*`). Returns the dims to normalise over.
fn normalized_dims(
    input: &Tensor,
    normalized_shape: &[usize],
    params: &[(&str, Option<&Tensor>)],
    rms: bool,
) -> Result<Vec<i64>> {
    let k = normalized_shape.len();
    if k == 0 {
        return Err(Error::Runtime(format!(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got normalized_shape = {}",
            fmt_shape(normalized_shape)
        )));
    }
    for (name, p) in params {
        if let Some(p) = p {
            if p.shape() != normalized_shape {
                return Err(Error::Runtime(format!(
                    "Expected {name} to be of same shape as normalized_shape, but got {name} of shape {} and normalized_shape = {}",
                    fmt_shape(p.shape()),
                    fmt_shape(normalized_shape)
                )));
            }
        }
    }
    let nd = input.dim();
    if nd < k || input.shape()[nd - k..] != *normalized_shape {
        let inner = fmt_shape(normalized_shape);
        let inner = &inner[1..inner.len() - 1];
        let star = if rms { "*" } else { "*, " };
        return Err(Error::Runtime(format!(
            "Given normalized_shape={}, expected input with shape [{star}{inner}], but got input of size{}",
            fmt_shape(normalized_shape),
            fmt_shape(input.shape())
        )));
    }
    Ok(((nd - k) as i64..nd as i64).collect())
}

/// `layer_norm(input, normalized_shape, weight, bias, eps)`: each sample normalised over its
/// last `normalized_shape.len()` dims (biased variance), then scaled and shifted
/// element-wise.
pub fn layer_norm(
    input: &Tensor,
    normalized_shape: &[usize],
    affine: Affine,
    eps: f64,
) -> Result<Tensor> {
    use crate::ops::trace::Attr;
    let operands: Vec<&Tensor> = std::iter::once(input)
        .chain(affine.weight)
        .chain(affine.bias)
        .collect();
    let attrs = || {
        vec![
            ("dims", Attr::Int(normalized_shape.len() as i64)),
            (
                "present",
                Attr::Ints(vec![
                    affine.weight.is_some() as i64,
                    affine.bias.is_some() as i64,
                ]),
            ),
            ("eps", Attr::Float(eps)),
        ]
    };
    crate::ops::trace::traced("layer_norm", &operands, attrs, || {
        layer_norm_untraced(input, normalized_shape, affine, eps)
    })
}

fn layer_norm_untraced(
    input: &Tensor,
    normalized_shape: &[usize],
    affine: Affine,
    eps: f64,
) -> Result<Tensor> {
    let dims = normalized_dims(
        input,
        normalized_shape,
        &[("weight", affine.weight), ("bias", affine.bias)],
        false,
    )?;
    float_input("LayerNormKernelImpl", input)?;
    same_dtype(input, &[affine.weight, affine.bias])?;
    let len: usize = normalized_shape.iter().product();
    let rows = input.numel().checked_div(len).unwrap_or(0);
    let param = |p: Option<&Tensor>| p.map(|p| dense(&p.detach())).transpose();
    let (x, w, out, mean, rstd) = {
        let _off = GradModeGuard::new(false);
        let (x, w, b) = (dense(input)?, param(affine.weight)?, param(affine.bias)?);
        let [y, mean, rstd] = x.storage().layer_norm(
            w.as_ref().map(|t| &**t.storage()),
            b.as_ref().map(|t| &**t.storage()),
            [rows, len],
            eps,
        )?;
        let out = Tensor::from_storage(y, input.shape().to_vec());
        (x, w, out, mean, rstd)
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
    // The input's copy the statistics were taken from, when it had to be made.
    let copy = (!std::sync::Arc::ptr_eq(&x.0, &input.0)).then_some(x);
    record("NativeLayerNormBackward0", &inputs, &out, move |g, need| {
        let (gx, gw, gb) = if is_grad_enabled() {
            let w = saved_w.as_ref().map(|w| w.unpack()).transpose()?;
            layer_norm_backward_recorded(&saved_x.unpack()?, w.as_ref(), g, &dims, eps, need)?
        } else {
            let x = match &copy {
                Some(x) => x.clone(),
                None => saved_x.unpack()?,
            };
            let gd = dense(g)?;
            let params = need.iter().skip(1).any(|&n| n);
            let (gx, sums) = gd.storage().layer_norm_backward(
                x.storage(),
                [&mean, &rstd],
                w.as_ref().map(|w| &**w.storage()),
                [rows, len],
                params,
            )?;
            let gx = Tensor::from_storage(gx, x.shape().to_vec());
            let (gw, gb) = match sums {
                Some((a, b)) => (
                    Some(Tensor::from_storage(a, [len])),
                    Some(Tensor::from_storage(b, [len])),
                ),
                None => (None, None),
            };
            (Some(gx), gw, gb)
        };
        norm_grads([gx, gw, gb], need, [&w_like, &b_like])
    });
    Ok(out)
}

/// Layer norm's gradients as differentiable ops on the saved input (a backward being
/// recorded), over the normalised `dims`: `x̂ = (x − mean)·rstd`, `gb = Σ g`,
/// `gw = Σ g·x̂` over the leading dims, and with `p = g·w`,
/// `gx = rstd·(p − mean(p) − x̂·mean(p·x̂))`, the statistics recomputed from `x` so that
/// the gradients differentiate through them.
fn layer_norm_backward_recorded(
    x: &Tensor,
    w: Option<&Tensor>,
    g: &Tensor,
    dims: &[i64],
    eps: f64,
    need: &[bool],
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (xhat, rstd) = standardized(x, dims, eps)?;
    let lead: Vec<i64> = (0..dims[0]).collect();
    let over_rows = |t: Tensor| -> Result<Tensor> {
        if lead.is_empty() {
            Ok(t)
        } else {
            t.sum_dims(Some(&lead), false, None)
        }
    };
    let gb = over_rows(g.clone())?;
    let gw = over_rows(g.mul(&xhat)?)?;
    let gx = grad_if(need[0], || {
        let p = match w {
            Some(w) => g.mul(w)?,
            None => g.clone(),
        };
        normalized_input_grad(&p, &xhat, &rstd, dims)
    })?;
    Ok((gx, Some(gw), Some(gb)))
}

/// The machine epsilon of a float dtype (`torch.finfo(dtype).eps`).
fn finfo_eps(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::EPSILON,
        DType::F16 => 0.0009765625,
        DType::BF16 => 0.0078125,
        _ => f32::EPSILON as f64,
    }
}

/// `rms_norm(input, normalized_shape, weight, eps)`: `x / √(mean(x²) + ε) · w` over the last
/// `normalized_shape.len()` dims; `eps=None` is the dtype's machine epsilon, as PyTorch.
pub fn rms_norm(
    input: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    eps: Option<f64>,
) -> Result<Tensor> {
    let dims = normalized_dims(input, normalized_shape, &[("weight", weight)], true)?;
    float_input("rms_norm", input)?;
    let eps = eps.unwrap_or_else(|| finfo_eps(input.dtype()));
    let rms = input
        .mul(input)?
        .mean_dims(Some(&dims), true, None)?
        .add_scalar(eps)?
        .rsqrt()?;
    let out = input.mul(&rms)?;
    match weight {
        // PyTorch keeps the input's dtype whatever the weight's.
        Some(w) if w.dtype() != input.dtype() => out.mul(w)?.to_dtype(input.dtype()),
        Some(w) => out.mul(w),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_rejects_a_mismatched_shape() {
        let x = Tensor::from_vec(vec![0.0f64; 6], &[2, 3]);
        let e = layer_norm(&x, &[4], Affine::default(), 1e-5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Given normalized_shape=[4], expected input with shape [*, 4], but got input of size[2, 3]"
        );
    }
}
