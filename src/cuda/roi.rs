//! Region-of-interest kernels on the GPU (`kernels/roi.cu`), with the CPU backend's
//! semantics (`crate::cpu::roi`): one thread per output bin forward; backward, one thread per
//! output adding its gradient at its argmax with an atomic add (the boxes of one image
//! overlap), so the sums' order, and so their last bits, can vary from run to run as
//! torchvision's do.

use super::buffer::CudaBuffer;
use super::device::{Args, Kernel, KernelArg};
use super::elementwise::{full, launch_elementwise};
use super::kernels::{self, ROI};
use crate::backend::RoiPool;
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Scalar};

/// The geometry (`struct RtRoiPool` in `roi.cu`).
#[repr(C)]
#[derive(Clone, Copy)]
struct RoiArgs {
    batch: i64,
    channels: i64,
    height: i64,
    width: i64,
    rois: i64,
    pooled_h: i64,
    pooled_w: i64,
    spatial_scale: f64,
}
// SAFETY: `#[repr(C)]` with the fields, order and sizes of `struct RtRoiPool` (seven long
// longs as i64, then a double as f64), 8-byte aligned and without pointers.
unsafe impl KernelArg for RoiArgs {}

impl RoiArgs {
    fn new(p: &RoiPool) -> RoiArgs {
        RoiArgs {
            batch: p.batch as i64,
            channels: p.channels as i64,
            height: p.height as i64,
            width: p.width as i64,
            rois: p.rois as i64,
            pooled_h: p.pooled_h as i64,
            pooled_w: p.pooled_w as i64,
            spatial_scale: p.spatial_scale,
        }
    }
}

/// Kernel `name` of `roi.cu` for `dtype`, or torchvision's error for a dtype it lacks.
fn kernel(name: &'static str, dtype: DType) -> Result<Kernel> {
    if !kernels::has_kernel(&ROI, name, dtype) {
        return Err(Error::NotImplemented(format!(
            "\"{name}_cuda\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    Ok(Kernel { file: &ROI, name })
}

/// RoI max pooling of the contiguous `x` over the contiguous boxes `rois`: the
/// `[rois, channels, pooled_h, pooled_w]` maxima and their int64 flat indices in the plane.
pub fn roi_pool(
    x: &CudaBuffer,
    rois: &CudaBuffer,
    p: &RoiPool,
) -> Result<(CudaBuffer, CudaBuffer)> {
    let k = kernel("roi_pool", x.dtype())?;
    let dev = x.dev();
    let total = p.rois * p.channels * p.pooled_h * p.pooled_w;
    let vals = CudaBuffer::alloc(dev, total, x.dtype())?;
    let idx = CudaBuffer::alloc(dev, total, DType::I64)?;
    let mut args = Args::new();
    args.arg(vals.device_ptr())
        .arg(idx.device_ptr())
        .arg(x.device_ptr())
        .arg(rois.device_ptr())
        .arg(RoiArgs::new(p))
        .arg(total as i64);
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok((vals, idx))
}

/// The gradient of [`roi_pool`]: a zeroed `[batch, channels, height, width]` buffer with each
/// output's gradient `g` added at its argmax.
pub fn roi_pool_backward(
    g: &CudaBuffer,
    idx: &CudaBuffer,
    rois: &CudaBuffer,
    p: &RoiPool,
) -> Result<CudaBuffer> {
    let k = kernel("roi_pool_backward", g.dtype())?;
    let dev = g.dev();
    let out = full(
        dev,
        p.batch * p.channels * p.height * p.width,
        g.dtype(),
        Scalar::Int(0),
    )?;
    let total = p.rois * p.channels * p.pooled_h * p.pooled_w;
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(g.device_ptr())
        .arg(idx.device_ptr())
        .arg(rois.device_ptr())
        .arg(RoiArgs::new(p))
        .arg(total as i64);
    launch_elementwise(dev, k, g.dtype(), total, &mut args)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;
    use crate::tensor::dtype::Element;

    /// Boxes over a 2-image, 7×9 input: inside, whole, one pixel, partly outside, reversed
    /// corners, before the origin, fractional and out-of-range batch indices, NaN corners.
    fn boxes(dtype: DType) -> HostBuffer {
        let v: Vec<f64> = vec![
            0.0,
            1.0,
            1.0,
            6.0,
            5.0, //
            1.0,
            0.0,
            0.0,
            8.0,
            6.0, //
            0.0,
            3.6,
            2.4,
            3.6,
            2.4, //
            1.0,
            6.0,
            4.0,
            14.0,
            12.0, //
            0.0,
            7.5,
            0.5,
            2.5,
            6.5, //
            1.0,
            -3.0,
            -2.0,
            2.0,
            3.0, //
            1.7,
            0.5,
            0.5,
            4.5,
            3.5, //
            2.0,
            0.0,
            0.0,
            3.0,
            3.0, //
            -1.0,
            0.0,
            0.0,
            3.0,
            3.0, //
            0.0,
            f64::NAN,
            1.0,
            3.0,
            3.0, //
        ];
        crate::with_dtype!(dtype, T, {
            HostBuffer::from_vec(v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>())
        })
    }

    #[test]
    fn roi_pool_and_its_backward_match_the_cpu() {
        if !available("roi_pool") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for (ph, pw, scale) in [(3, 3, 1.0), (2, 4, 0.5), (1, 1, 1.0), (5, 2, 0.7)] {
                let p = RoiPool {
                    batch: 2,
                    channels: 3,
                    height: 7,
                    width: 9,
                    rois: 10,
                    pooled_h: ph,
                    pooled_w: pw,
                    spatial_scale: scale,
                };
                let x = data(dtype, 2 * 3 * 7 * 9, 5, true);
                let rois = boxes(dtype);
                let (v, i) = roi_pool(&put(&dev, &x), &put(&dev, &rois), &p).unwrap();
                let (wv, wi) = Cpu::roi_pool(&x, &rois, &p).unwrap();
                let what = format!("roi_pool {dtype:?} {p:?}");
                assert_close(&what, &get(&v), &as_f64(&wv), 0.0);
                assert_close(&what, &get(&i), &as_f64(&wi), 0.0);
                let g = data(dtype, 10 * 3 * ph * pw, 9, false);
                let got = roi_pool_backward(&put(&dev, &g), &i, &put(&dev, &rois), &p).unwrap();
                let want = Cpu::roi_pool_backward(&g, &wi, &rois, &p).unwrap();
                let what = format!("roi_pool_backward {dtype:?} {p:?}");
                assert_close(&what, &get(&got), &as_f64(&want), tol(dtype));
            }
        }
    }
}
