//! Region-of-interest ops of detection models (torchvision's `ops.roi_pool`), forward and
//! backward.

use super::binary::{binary, BinaryOp};
use super::{creation, dense, Operand, Scalar};
use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::backend::RoiPool;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::Tensor;

/// `roi_pool(input, boxes, output_size, spatial_scale)`: the maximum of each of
/// `output_size` bins of each box of `rois` (`[K, 5]`: batch index, x1, y1, x2, y2, in the
/// input's coordinates before `spatial_scale`), per channel of the `[N, C, H, W]` input, as
/// torchvision's `roi_pool`: `[K, C, oh, ow]`. An empty bin gives 0 and no gradient; a box
/// whose batch index is outside `0..N` pools nothing (torchvision reads out of bounds).
pub fn roi_pool(
    input: &Tensor,
    rois: &Tensor,
    output_size: (usize, usize),
    spatial_scale: f64,
) -> Result<Tensor> {
    if input.dim() != 4 {
        return Err(Error::Runtime(format!(
            "roi_pool: expected a 4-D input [N, C, H, W], got shape {}",
            fmt_shape(input.shape())
        )));
    }
    if rois.dim() != 2 || rois.shape()[1] != 5 {
        return Err(Error::Runtime(format!(
            "rois must have shape as Tensor[K, 5], got shape {}",
            fmt_shape(rois.shape())
        )));
    }
    if input.device() != rois.device() {
        return Err(Error::Runtime(format!(
            "Expected all tensors to be on the same device, but found at least two devices, {} and {}! (when checking argument for argument rois in method roi_pool)",
            input.device(),
            rois.device()
        )));
    }
    if input.dtype() != rois.dtype() {
        return Err(Error::Runtime(format!(
            "Expected tensor for argument #1 'input' to have the same type as tensor for argument #2 'rois'; but type torch.{} does not equal torch.{} (while checking arguments for roi_pool_forward_kernel)",
            input.dtype().legacy_name(),
            rois.dtype().legacy_name()
        )));
    }
    if !input.dtype().is_float() {
        return Err(Error::NotImplemented(format!(
            "\"roi_pool_forward_kernel\" not implemented for '{}'",
            input.dtype().scalar_name()
        )));
    }
    let (oh, ow) = output_size;
    if oh == 0 || ow == 0 {
        return Err(Error::Runtime(format!(
            "roi_pool: output_size must be positive, got ({oh}, {ow})"
        )));
    }
    let s = input.shape();
    let p = RoiPool {
        batch: s[0],
        channels: s[1],
        height: s[2],
        width: s[3],
        rois: rois.shape()[0],
        pooled_h: oh,
        pooled_w: ow,
        spatial_scale,
    };
    let (x, boxes) = (dense(input)?, dense(&rois.detach())?);
    let (v, i) = x.storage().roi_pool(boxes.storage(), &p)?;
    let shape = vec![p.rois, p.channels, oh, ow];
    let out = Tensor::from_storage(v, shape.clone());
    if needs_grad(&[input]) {
        let idx = Tensor::from_storage(i, shape);
        let in_shape = s.to_vec();
        record("RoiPoolBackward0", &[input], &out, move |g, _| {
            if !is_grad_enabled() {
                let g = dense(g)?;
                let grad = g
                    .storage()
                    .roi_pool_backward(idx.storage(), boxes.storage(), &p)?;
                return Ok(vec![Some(Tensor::from_storage(grad, in_shape.clone()))]);
            }
            Ok(vec![Some(roi_pool_backward_recorded(g, &idx, &boxes, &p)?)])
        });
    }
    Ok(out)
}

/// The gradient of [`roi_pool`] as differentiable ops (for `create_graph`): each output's
/// gradient scattered, with `scatter_add`, to its argmax's flat position in the input.
fn roi_pool_backward_recorded(
    g: &Tensor,
    idx: &Tensor,
    boxes: &Tensor,
    p: &RoiPool,
) -> Result<Tensor> {
    let (k, c, bins) = (
        p.rois as i64,
        p.channels as i64,
        (p.pooled_h * p.pooled_w) as i64,
    );
    let plane = (p.height * p.width) as i64;
    let image = boxes.select(1, 0)?.trunc()?;
    let valid_image = image
        .ge_scalar(0.0)?
        .logical_and(&image.lt_scalar(p.batch as f64)?)?;
    let image = image
        .clamp(Some(Scalar::Int(0)), Some(Scalar::Int(p.batch as i64 - 1)))?
        .to_dtype(DType::I64)?;
    // Each (box, channel)'s plane start: (image·C + channel)·H·W, in int64.
    let times = |t: &Tensor, v: i64| {
        binary(
            BinaryOp::Mul,
            &Operand::Tensor(t.clone()),
            &Operand::Scalar(Scalar::Int(v)),
        )
    };
    let channel = creation::arange(0.0, c as f64, 1.0, DType::I64, g.device())?;
    let base = times(
        &times(&image, c)?
            .reshape(&[k, 1])?
            .add(&channel.reshape(&[1, c])?)?,
        plane,
    )?
    .reshape(&[k, c, 1])?;
    let idx = idx.reshape(&[k, c, bins])?;
    let valid = idx
        .ge_scalar(0.0)?
        .logical_and(&valid_image.reshape(&[k, 1, 1])?)?;
    let zero = Operand::Scalar(Scalar::Int(0));
    let flat = super::ternary::where_(&valid, &Operand::Tensor(base.add(&idx)?), &zero)?;
    let values =
        super::ternary::where_(&valid, &Operand::Tensor(g.reshape(&[k, c, bins])?), &zero)?;
    let total = p.batch * p.channels * p.height * p.width;
    let shape: Vec<i64> = [p.batch, p.channels, p.height, p.width]
        .iter()
        .map(|&v| v as i64)
        .collect();
    creation::zeros(&[total], g.dtype(), g.device())?
        .scatter(0, &flat.reshape(&[-1])?, &values.reshape(&[-1])?, true)?
        .reshape(&shape)
}
