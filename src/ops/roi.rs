//! The detection ops of torchvision's `ops`: region-of-interest pooling (`roi_pool`) and
//! alignment (`roi_align`), forward and backward, and non-maximum suppression (`nms`).

use super::binary::{binary, BinaryOp};
use super::{creation, dense, Operand, Scalar};
use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::backend::{RoiAlign, RoiPool};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::Tensor;

/// torchvision's argument checks of a region-of-interest op `op`: a 4-D input, `[K, 5]`
/// boxes on its device, of its dtype, a float dtype, and a positive output size.
fn check_rois(op: &str, input: &Tensor, rois: &Tensor, output_size: (usize, usize)) -> Result<()> {
    if input.dim() != 4 {
        return Err(Error::Runtime(format!(
            "{op}: expected a 4-D input [N, C, H, W], got shape {}",
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
            "Expected all tensors to be on the same device, but found at least two devices, {} and {}! (when checking argument for argument rois in method {op})",
            input.device(),
            rois.device()
        )));
    }
    if input.dtype() != rois.dtype() {
        return Err(Error::Runtime(format!(
            "Expected tensor for argument #1 'input' to have the same type as tensor for argument #2 'rois'; but type torch.{} does not equal torch.{} (while checking arguments for {op}_forward_kernel)",
            input.dtype().legacy_name(),
            rois.dtype().legacy_name()
        )));
    }
    if !input.dtype().is_float() {
        return Err(Error::NotImplemented(format!(
            "\"{op}_forward_kernel\" not implemented for '{}'",
            input.dtype().scalar_name()
        )));
    }
    let (oh, ow) = output_size;
    if oh == 0 || ow == 0 {
        return Err(Error::Runtime(format!(
            "{op}: output_size must be positive, got ({oh}, {ow})"
        )));
    }
    Ok(())
}

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
    check_rois("roi_pool", input, rois, output_size)?;
    let (oh, ow) = output_size;
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

/// `roi_align(input, boxes, output_size, spatial_scale, sampling_ratio, aligned)`: each of
/// `output_size` bins of each box of `rois` (`[K, 5]`, as [`roi_pool`]'s) the mean of a grid
/// of bilinear samples, per channel of the `[N, C, H, W]` input, as torchvision's
/// `roi_align` ([`RoiAlign`]): `[K, C, oh, ow]`, differentiable in the input (any number of
/// times: the gradient is linear, the adjoint of this op), not in the boxes.
pub fn roi_align(
    input: &Tensor,
    rois: &Tensor,
    output_size: (usize, usize),
    spatial_scale: f64,
    sampling_ratio: i64,
    aligned: bool,
) -> Result<Tensor> {
    check_rois("roi_align", input, rois, output_size)?;
    let (oh, ow) = output_size;
    let s = input.shape();
    let p = RoiAlign {
        pool: RoiPool {
            batch: s[0],
            channels: s[1],
            height: s[2],
            width: s[3],
            rois: rois.shape()[0],
            pooled_h: oh,
            pooled_w: ow,
            spatial_scale,
        },
        sampling_ratio,
        aligned,
    };
    let boxes = dense(&rois.detach())?;
    roi_align_forward(input, &boxes, &p)
}

/// [`roi_align`] of `input` over the dense, detached `boxes`, recorded with its adjoint as
/// its gradient.
fn roi_align_forward(input: &Tensor, boxes: &Tensor, p: &RoiAlign) -> Result<Tensor> {
    let q = &p.pool;
    let x = dense(input)?;
    let out = Tensor::from_storage(
        x.storage().roi_align(boxes.storage(), p)?,
        vec![q.rois, q.channels, q.pooled_h, q.pooled_w],
    );
    if needs_grad(&[input]) {
        let (boxes, p) = (boxes.clone(), *p);
        record("RoiAlignBackward0", &[input], &out, move |g, _| {
            Ok(vec![Some(roi_align_adjoint(g, &boxes, &p)?)])
        });
    }
    Ok(out)
}

/// The gradient of [`roi_align`]'s input from its output's gradient `g`; recorded, for
/// `create_graph`, with [`roi_align_forward`] as its own gradient (the two are adjoint).
fn roi_align_adjoint(g: &Tensor, boxes: &Tensor, p: &RoiAlign) -> Result<Tensor> {
    let q = &p.pool;
    let gd = dense(g)?;
    let out = Tensor::from_storage(
        gd.storage().roi_align_backward(boxes.storage(), p)?,
        vec![q.batch, q.channels, q.height, q.width],
    );
    if needs_grad(&[g]) {
        let (boxes, p) = (boxes.clone(), *p);
        record("RoiAlignBackwardBackward0", &[g], &out, move |gg, _| {
            Ok(vec![Some(roi_align_forward(gg, &boxes, &p)?)])
        });
    }
    Ok(out)
}

/// `nms(boxes, scores, iou_threshold)`: the int64 indices of the boxes (`[N, 4]`, x1, y1, x2,
/// y2) that greedy non-maximum suppression keeps, by descending score, as torchvision's
/// `nms` ([`crate::backend::Backend::nms`]). Ties in score keep their order (a stable sort).
pub fn nms(boxes: &Tensor, scores: &Tensor, iou_threshold: f64) -> Result<Tensor> {
    if boxes.dim() != 2 {
        return Err(Error::Runtime(format!(
            "boxes should be a 2d tensor, got {}D",
            boxes.dim()
        )));
    }
    if boxes.shape()[1] != 4 {
        return Err(Error::Runtime(format!(
            "boxes should have 4 elements in dimension 1, got {}",
            boxes.shape()[1]
        )));
    }
    if scores.dim() != 1 {
        return Err(Error::Runtime(format!(
            "scores should be a 1d tensor, got {}D",
            scores.dim()
        )));
    }
    if boxes.shape()[0] != scores.shape()[0] {
        return Err(Error::Runtime(format!(
            "boxes and scores should have same number of elements in dimension 0, got {} and {}",
            boxes.shape()[0],
            scores.shape()[0]
        )));
    }
    if boxes.device() != scores.device() {
        return Err(Error::Runtime(format!(
            "Expected all tensors to be on the same device, but found at least two devices, {} and {}! (when checking argument for argument scores in method nms)",
            boxes.device(),
            scores.device()
        )));
    }
    if boxes.dtype() != scores.dtype() {
        return Err(Error::Runtime(format!(
            "dets should have the same type as scores (nms: boxes are {}, scores {})",
            boxes.dtype().scalar_name(),
            scores.dtype().scalar_name()
        )));
    }
    if !boxes.dtype().is_float() {
        return Err(Error::NotImplemented(format!(
            "\"nms_kernel\" not implemented for '{}'",
            boxes.dtype().scalar_name()
        )));
    }
    let (boxes, scores) = (boxes.detach(), scores.detach());
    if boxes.shape()[0] == 0 {
        return creation::zeros(&[0], DType::I64, boxes.device());
    }
    let order = scores.argsort(0, true)?;
    let sorted = dense(&boxes.index_select(0, &order)?)?;
    let kept: Vec<i64> = sorted
        .storage()
        .nms(iou_threshold)?
        .into_iter()
        .map(|i| i as i64)
        .collect();
    let n = kept.len();
    let kept = Tensor::from_vec(kept, &[n]).to_device(boxes.device())?;
    order.index_select(0, &kept)
}
