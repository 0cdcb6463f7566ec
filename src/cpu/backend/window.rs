//! Window ops on host buffers: im2col and col2im, pooling, and the detection ops (RoI pool
//! and align, NMS).

use super::{fits_in_memory, narrow, not_implemented, widen, widen_all, Cpu};
use crate::backend::{AvgDivisor, Backend, HostBuffer, ResampleAxis, RoiAlign, RoiPool, Window};
use crate::cpu::{pool, resample, roi, window};
use crate::error::Result;
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;

/// [`Backend::unfold`](crate::backend::Backend::unfold) on host buffers.
pub(super) fn unfold(x: &HostBuffer, l: &Layout, w: &Window) -> Result<HostBuffer> {
    let (n, c) = (l.shape[0], l.shape[1]);
    fits_in_memory(&[n, c, w.kernel_numel(), w.output_numel()], x.dtype())?;
    Ok(crate::with_dtype!(
        x.dtype(),
        T,
        HostBuffer::from_vec(window::unfold(x.as_slice::<T>(), l, w))
    ))
}

/// [`Backend::fold`](crate::backend::Backend::fold) on host buffers.
pub(super) fn fold(cols: &HostBuffer, l: &Layout, w: &Window) -> Result<HostBuffer> {
    let dtype = cols.dtype();
    if dtype.is_half() {
        let (c, cl) = widen(cols, l);
        return Ok(narrow(Cpu::fold(&c, &cl, w)?, dtype));
    }
    crate::with_numeric_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(window::fold(
            cols.as_slice::<T>(),
            l,
            w
        ))),
        Err(not_implemented("col2im", dtype))
    )
}

/// [`Backend::max_pool`](crate::backend::Backend::max_pool) on host buffers.
pub(super) fn max_pool(x: &HostBuffer, l: &Layout, w: &Window) -> Result<(HostBuffer, HostBuffer)> {
    fits_in_memory(&[l.shape[0], l.shape[1], w.output_numel()], DType::I64)?;
    let dtype = x.dtype();
    if dtype.is_half() {
        let (c, cl) = widen(x, l);
        let (v, i) = Cpu::max_pool(&c, &cl, w)?;
        return Ok((narrow(v, dtype), i));
    }
    crate::with_numeric_dtype!(
        dtype,
        T,
        {
            let (v, i) = pool::max_pool(x.as_slice::<T>(), l, w);
            Ok((HostBuffer::from_vec(v), HostBuffer::from_vec(i)))
        },
        Err(not_implemented("max_pool", dtype))
    )
}

/// [`Backend::fractional_max_pool`](crate::backend::Backend::fractional_max_pool) on host
/// buffers: float dtypes, as PyTorch's kernel.
pub(super) fn fractional_max_pool(
    x: &HostBuffer,
    l: &Layout,
    w: &Window,
    starts: &[usize],
) -> Result<(HostBuffer, HostBuffer)> {
    fits_in_memory(&[l.shape[0], l.shape[1], w.output_numel()], DType::I64)?;
    let dtype = x.dtype();
    if dtype.is_half() {
        let (c, cl) = widen(x, l);
        let (v, i) = Cpu::fractional_max_pool(&c, &cl, w, starts)?;
        return Ok((narrow(v, dtype), i));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        {
            let (v, i) = pool::fractional_max_pool(x.as_slice::<T>(), l, w, starts);
            Ok((HostBuffer::from_vec(v), HostBuffer::from_vec(i)))
        },
        Err(not_implemented("fractional_max_pool", dtype))
    )
}

/// [`Backend::max_pool_backward`](crate::backend::Backend::max_pool_backward) on host buffers.
pub(super) fn max_pool_backward(
    g: &HostBuffer,
    gl: &Layout,
    idx: &HostBuffer,
    w: &Window,
) -> Result<HostBuffer> {
    let dtype = g.dtype();
    if dtype.is_half() {
        let (c, cl) = widen(g, gl);
        return Ok(narrow(Cpu::max_pool_backward(&c, &cl, idx, w)?, dtype));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(pool::max_pool_backward(
            g.as_slice::<T>(),
            gl,
            idx.as_slice::<i64>(),
            w
        ))),
        Err(not_implemented("max_pool_backward", dtype))
    )
}

/// [`Backend::roi_pool`](crate::backend::Backend::roi_pool) on host buffers.
pub(super) fn roi_pool(
    x: &HostBuffer,
    rois: &HostBuffer,
    p: &RoiPool,
) -> Result<(HostBuffer, HostBuffer)> {
    let dtype = x.dtype();
    if dtype.is_half() {
        let (xw, rw) = (widen_all(x), widen_all(rois));
        let (v, i) = Cpu::roi_pool(&xw, &rw, p)?;
        return Ok((narrow(v, dtype), i));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        {
            let (v, i) = roi::roi_pool(x.as_slice::<T>(), rois.as_slice::<T>(), p);
            Ok((HostBuffer::from_vec(v), HostBuffer::from_vec(i)))
        },
        Err(not_implemented("roi_pool", dtype))
    )
}

/// [`Backend::roi_pool_backward`](crate::backend::Backend::roi_pool_backward) on host buffers.
pub(super) fn roi_pool_backward(
    g: &HostBuffer,
    idx: &HostBuffer,
    rois: &HostBuffer,
    p: &RoiPool,
) -> Result<HostBuffer> {
    let dtype = g.dtype();
    if dtype.is_half() {
        let (gw, rw) = (widen_all(g), widen_all(rois));
        return Ok(narrow(Cpu::roi_pool_backward(&gw, idx, &rw, p)?, dtype));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(roi::roi_pool_backward(
            g.as_slice::<T>(),
            idx.as_slice::<i64>(),
            rois.as_slice::<T>(),
            p
        ))),
        Err(not_implemented("roi_pool_backward", dtype))
    )
}

/// [`Backend::roi_align`](crate::backend::Backend::roi_align) on host buffers.
pub(super) fn roi_align(x: &HostBuffer, rois: &HostBuffer, p: &RoiAlign) -> Result<HostBuffer> {
    let dtype = x.dtype();
    if dtype.is_half() {
        let (xw, rw) = (widen_all(x), widen_all(rois));
        return Ok(narrow(Cpu::roi_align(&xw, &rw, p)?, dtype));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(roi::roi_align(
            x.as_slice::<T>(),
            rois.as_slice::<T>(),
            p
        ))),
        Err(not_implemented("roi_align", dtype))
    )
}

/// [`Backend::roi_align_backward`](crate::backend::Backend::roi_align_backward) on host buffers.
pub(super) fn roi_align_backward(
    g: &HostBuffer,
    rois: &HostBuffer,
    p: &RoiAlign,
) -> Result<HostBuffer> {
    let dtype = g.dtype();
    if dtype.is_half() {
        let (gw, rw) = (widen_all(g), widen_all(rois));
        return Ok(narrow(Cpu::roi_align_backward(&gw, &rw, p)?, dtype));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(roi::roi_align_backward(
            g.as_slice::<T>(),
            rois.as_slice::<T>(),
            p
        ))),
        Err(not_implemented("roi_align_backward", dtype))
    )
}

/// [`Backend::resample_axis`](crate::backend::Backend::resample_axis) on host buffers.
pub(super) fn resample_axis(x: &HostBuffer, p: &ResampleAxis<f64>) -> Result<HostBuffer> {
    let dtype = x.dtype();
    if dtype.is_half() {
        return Ok(narrow(Cpu::resample_axis(&widen_all(x), p)?, dtype));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(resample::resample_axis(
            x.as_slice::<T>(),
            p
        ))),
        Err(not_implemented("resample_axis", dtype))
    )
}

/// [`Backend::resample_u8`](crate::backend::Backend::resample_u8) on host buffers.
pub(super) fn resample_u8(x: &HostBuffer, p: &ResampleAxis<i16>, bits: u32) -> Result<HostBuffer> {
    match x.dtype() {
        DType::U8 => Ok(HostBuffer::from_vec(resample::resample_u8(
            x.as_slice::<u8>(),
            p,
            bits,
        ))),
        dtype => Err(not_implemented("resample_u8", dtype)),
    }
}

/// [`Backend::nms`](crate::backend::Backend::nms) on host buffers.
pub(super) fn nms(boxes: &HostBuffer, iou_threshold: f64) -> Result<Vec<usize>> {
    let dtype = boxes.dtype();
    if dtype.is_half() {
        return Cpu::nms(&widen_all(boxes), iou_threshold);
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(roi::nms(boxes.as_slice::<T>(), iou_threshold)),
        Err(not_implemented("nms", dtype))
    )
}

/// [`Backend::avg_pool`](crate::backend::Backend::avg_pool) on host buffers.
pub(super) fn avg_pool(
    x: &HostBuffer,
    l: &Layout,
    w: &Window,
    d: AvgDivisor,
) -> Result<HostBuffer> {
    fits_in_memory(&[l.shape[0], l.shape[1], w.output_numel()], x.dtype())?;
    let dtype = x.dtype();
    if dtype.is_half() {
        let (c, cl) = widen(x, l);
        return Ok(narrow(Cpu::avg_pool(&c, &cl, w, d)?, dtype));
    }
    if dtype == DType::I64 {
        return Ok(HostBuffer::from_vec(pool::avg_pool(
            x.as_slice::<i64>(),
            l,
            w,
            d,
        )));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(pool::avg_pool(
            x.as_slice::<T>(),
            l,
            w,
            d
        ))),
        Err(not_implemented("avg_pool", dtype))
    )
}

/// [`Backend::avg_pool_backward`](crate::backend::Backend::avg_pool_backward) on host buffers.
pub(super) fn avg_pool_backward(
    g: &HostBuffer,
    l: &Layout,
    w: &Window,
    d: AvgDivisor,
) -> Result<HostBuffer> {
    let dtype = g.dtype();
    if dtype.is_half() {
        let (c, cl) = widen(g, l);
        return Ok(narrow(Cpu::avg_pool_backward(&c, &cl, w, d)?, dtype));
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(pool::avg_pool_backward(
            g.as_slice::<T>(),
            l,
            w,
            d
        ))),
        Err(not_implemented("avg_pool_backward", dtype))
    )
}
