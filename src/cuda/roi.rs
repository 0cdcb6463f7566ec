//! Detection kernels on the GPU (`kernels/roi.cu`), with the CPU backend's semantics
//! (`crate::cpu::roi`): RoI pooling and alignment, one thread per output bin forward;
//! backward, one thread per output adding its gradient at its argmax (or its samples'
//! pixels) with atomic adds (the boxes of one image overlap), so the sums' order, and so
//! their last bits, can vary from run to run as torchvision's do. NMS: one thread per
//! 64-box word of the overlap mask, then the greedy scan of the mask on the host.

use super::buffer::CudaBuffer;
use super::device::{Args, Kernel, KernelArg};
use super::elementwise::{cast, download, full, launch_elementwise};
use super::kernels::{self, ROI};
use crate::backend::{RoiAlign, RoiPool};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::Layout;

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
    let total = p.rois * p.channels * p.pooled_h * p.pooled_w;
    let len = p.batch * p.channels * p.height * p.width;
    scatter_in_acc(g, len, |out| {
        let mut args = Args::new();
        args.arg(out.device_ptr())
            .arg(g.device_ptr())
            .arg(idx.device_ptr())
            .arg(rois.device_ptr())
            .arg(RoiArgs::new(p))
            .arg(total as i64);
        launch_elementwise(g.dev(), k, g.dtype(), total, &mut args)
    })
}

/// A gradient of `len` elements that `launch` scatters with atomic adds into a zeroed
/// buffer of `g`'s accumulation type: the 16-bit floats sum in float32 (many shares may meet
/// in a pixel, in any order), rounded once at the end, as the CPU does.
fn scatter_in_acc(
    g: &CudaBuffer,
    len: usize,
    launch: impl FnOnce(&CudaBuffer) -> Result<()>,
) -> Result<CudaBuffer> {
    let acc = if g.dtype().is_half() {
        DType::F32
    } else {
        g.dtype()
    };
    let out = full(g.dev(), len, acc, Scalar::Int(0))?;
    launch(&out)?;
    if acc == g.dtype() {
        return Ok(out);
    }
    cast(&out, &Layout::contiguous(&[len]), g.dtype())
}

/// The geometry of RoI Align (`struct RtRoiAlign` in `roi.cu`).
#[repr(C)]
#[derive(Clone, Copy)]
struct AlignArgs {
    pool: RoiArgs,
    sampling_ratio: i64,
    aligned: i64,
}
// SAFETY: `#[repr(C)]` with the fields, order and sizes of `struct RtRoiAlign` (an
// `RtRoiPool`, as `RoiArgs` above, then two long longs as i64), 8-byte aligned, no pointers.
unsafe impl KernelArg for AlignArgs {}

impl AlignArgs {
    fn new(p: &RoiAlign) -> AlignArgs {
        AlignArgs {
            pool: RoiArgs::new(&p.pool),
            sampling_ratio: p.sampling_ratio,
            aligned: p.aligned as i64,
        }
    }
}

/// RoI Align of the contiguous `x` over the contiguous boxes `rois`: the
/// `[rois, channels, pooled_h, pooled_w]` bin means.
pub fn roi_align(x: &CudaBuffer, rois: &CudaBuffer, p: &RoiAlign) -> Result<CudaBuffer> {
    let k = kernel("roi_align", x.dtype())?;
    let dev = x.dev();
    let q = &p.pool;
    let total = q.rois * q.channels * q.pooled_h * q.pooled_w;
    let out = CudaBuffer::alloc(dev, total, x.dtype())?;
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(x.device_ptr())
        .arg(rois.device_ptr())
        .arg(AlignArgs::new(p))
        .arg(total as i64);
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok(out)
}

/// The gradient of [`roi_align`]: a zeroed `[batch, channels, height, width]` buffer with
/// each output's gradient spread on its samples' pixels.
pub fn roi_align_backward(g: &CudaBuffer, rois: &CudaBuffer, p: &RoiAlign) -> Result<CudaBuffer> {
    let k = kernel("roi_align_backward", g.dtype())?;
    let q = &p.pool;
    let total = q.rois * q.channels * q.pooled_h * q.pooled_w;
    scatter_in_acc(g, q.batch * q.channels * q.height * q.width, |out| {
        let mut args = Args::new();
        args.arg(out.device_ptr())
            .arg(g.device_ptr())
            .arg(rois.device_ptr())
            .arg(AlignArgs::new(p))
            .arg(total as i64);
        launch_elementwise(g.dev(), k, g.dtype(), total, &mut args)
    })
}

/// Greedy non-maximum suppression of the contiguous `[n, 4]` boxes sorted by score: the
/// overlap mask computed on the device, scanned on the host.
pub fn nms(boxes: &CudaBuffer, iou_threshold: f64) -> Result<Vec<usize>> {
    let k = kernel("nms_mask", boxes.dtype())?;
    let dev = boxes.dev();
    let n = boxes.len() / 4;
    let words = n.div_ceil(64);
    let total = n * words;
    if total == 0 {
        return Ok(Vec::new());
    }
    let mask = CudaBuffer::alloc(dev, total, DType::I64)?;
    let mut args = Args::new();
    args.arg(mask.device_ptr())
        .arg(boxes.device_ptr())
        .arg(n as i64)
        .arg(words as i64)
        .arg(iou_threshold)
        .arg(total as i64);
    launch_elementwise(dev, k, boxes.dtype(), total, &mut args)?;
    let mask = download(&mask, &Layout::contiguous(&[total]))?;
    let mask = mask.as_slice::<i64>();
    let mut removed = vec![0u64; words];
    let mut keep = Vec::new();
    for i in 0..n {
        if removed[i / 64] >> (i % 64) & 1 != 0 {
            continue;
        }
        keep.push(i);
        for (r, &m) in removed.iter_mut().zip(&mask[i * words..(i + 1) * words]) {
            *r |= m as u64;
        }
    }
    Ok(keep)
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

    #[test]
    fn roi_align_and_its_backward_match_the_cpu() {
        if !available("roi_align") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for (ph, pw, scale, ratio, aligned) in [
                (3, 3, 1.0, -1, false),
                (2, 4, 0.5, 2, true),
                (1, 1, 1.0, 0, true),
                (5, 2, 0.7, 3, false),
            ] {
                let p = RoiAlign {
                    pool: RoiPool {
                        batch: 2,
                        channels: 3,
                        height: 7,
                        width: 9,
                        rois: 10,
                        pooled_h: ph,
                        pooled_w: pw,
                        spatial_scale: scale,
                    },
                    sampling_ratio: ratio,
                    aligned,
                };
                let x = data(dtype, 2 * 3 * 7 * 9, 5, true);
                let rois = boxes(dtype);
                let got = roi_align(&put(&dev, &x), &put(&dev, &rois), &p).unwrap();
                let want = Cpu::roi_align(&x, &rois, &p).unwrap();
                let what = format!("roi_align {dtype:?} {p:?}");
                assert_close(&what, &get(&got), &as_f64(&want), tol(dtype));
                let g = data(dtype, 10 * 3 * ph * pw, 9, false);
                let got = roi_align_backward(&put(&dev, &g), &put(&dev, &rois), &p).unwrap();
                let want = Cpu::roi_align_backward(&g, &rois, &p).unwrap();
                let what = format!("roi_align_backward {dtype:?} {p:?}");
                assert_close(&what, &get(&got), &as_f64(&want), tol(dtype));
            }
        }
    }

    #[test]
    fn nms_matches_the_cpu() {
        if !available("nms_mask") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            // 150 boxes (more than two mask words) on a 40×40 field, some identical, some
            // empty, corners from the deterministic data.
            let c = as_f64(&data(DType::F64, 150 * 4, 3, false));
            let mut v = Vec::with_capacity(600);
            for (i, q) in c.chunks_exact(4).enumerate() {
                let (x, y) = ((q[0] * 7.0).abs() % 30.0, (q[1] * 11.0).abs() % 30.0);
                let (w, h) = if i % 17 == 0 {
                    (0.0, 0.0)
                } else {
                    (
                        1.0 + (q[2] * 5.0).abs() % 9.0,
                        1.0 + (q[3] * 3.0).abs() % 9.0,
                    )
                };
                v.extend([x, y, x + w, y + h]);
            }
            v.extend_from_within(0..8);
            let b = crate::with_dtype!(dtype, T, {
                HostBuffer::from_vec(v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>())
            });
            for threshold in [0.0, 0.3, 0.5, 0.9] {
                let got = nms(&put(&dev, &b), threshold).unwrap();
                let want = Cpu::nms(&b, threshold).unwrap();
                assert_eq!(got, want, "nms {dtype:?} threshold {threshold}");
            }
        }
    }
}
