//! Batch norm on a GPU (`kernels/norm.cu`), with the CPU's contract (`crate::cpu::norm`):
//! per-channel statistics and backward sums (one block per channel, a block tree), and the
//! per-channel affine pass (one thread per element). Per-channel buffers are in the
//! accumulation dtype, float32 for the 16-bit types.

use super::buffer::CudaBuffer;
use super::device::{Args, DeviceApi, Kernel};
use super::elementwise::launch_elementwise;
use super::kernels::{self, NORM};
use crate::backend::LayerNormGrads;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use std::sync::Arc;

/// Kernel `name` of `norm.cu` for `dtype`, or PyTorch's error for a dtype it lacks.
fn kernel(name: &'static str, dtype: DType) -> Result<Kernel> {
    if !kernels::has_kernel(&NORM, name, dtype) {
        return Err(Error::NotImplemented(format!(
            "\"batch_norm_cuda\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    Ok(Kernel { file: &NORM, name })
}

/// The dtype of the per-channel buffers for an input of `dtype`.
fn acc_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// Launches a per-channel reduction `name` writing two `c`-long outputs, its other
/// arguments pushed by `more`.
fn per_channel(
    name: &'static str,
    x: &CudaBuffer,
    [n, c, s]: [usize; 3],
    more: impl FnOnce(&mut Args),
) -> Result<(CudaBuffer, CudaBuffer)> {
    let k = kernel(name, x.dtype())?;
    let dev = x.dev();
    let acc = acc_dtype(x.dtype());
    let (p, q) = (
        CudaBuffer::alloc(dev, c, acc)?,
        CudaBuffer::alloc(dev, c, acc)?,
    );
    if c == 0 {
        return Ok((p, q));
    }
    let mut args = Args::new();
    args.arg(p.device_ptr()).arg(q.device_ptr());
    more(&mut args);
    args.arg(n as i64).arg(c as i64).arg(s as i64);
    // One block per channel, as wide as the channel (a power of two, 32 to 1024 threads).
    let block = (n * s).next_power_of_two().clamp(32, 1024) as u32;
    let grid = c.min(dev.sm_count() as usize * 32).max(1) as u32;
    dev.launch(k, x.dtype(), grid, block, &mut args)?;
    Ok((p, q))
}

/// Per channel of `x` (`[n, c, s]`, contiguous), the mean and the biased variance.
pub fn stats(x: &CudaBuffer, dims: [usize; 3]) -> Result<(CudaBuffer, CudaBuffer)> {
    per_channel("channel_stats", x, dims, |a| {
        a.arg(x.device_ptr());
    })
}

/// Per channel, `Σ g` and `Σ g·(x − mean)`.
pub fn grad_sums(
    g: &CudaBuffer,
    x: &CudaBuffer,
    mean: &CudaBuffer,
    dims: [usize; 3],
) -> Result<(CudaBuffer, CudaBuffer)> {
    per_channel("channel_grad_sums", g, dims, |a| {
        a.arg(g.device_ptr())
            .arg(x.device_ptr())
            .arg(mean.device_ptr());
    })
}

/// `(x − center)·a + b`, plus `y·d` when `y = Some((y, d))`, per channel.
pub fn affine(
    x: &CudaBuffer,
    [center, a, b]: [&CudaBuffer; 3],
    y: Option<(&CudaBuffer, &CudaBuffer)>,
    [n, c, s]: [usize; 3],
) -> Result<CudaBuffer> {
    let k = kernel("channel_affine", x.dtype())?;
    let dev = x.dev();
    let total = n * c * s;
    let out = CudaBuffer::alloc(dev, total, x.dtype())?;
    let (yp, dp) = y.map_or((0, 0), |(y, d)| (y.device_ptr(), d.device_ptr()));
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(x.device_ptr())
        .arg(center.device_ptr())
        .arg(a.device_ptr())
        .arg(b.device_ptr())
        .arg(yp)
        .arg(dp)
        .arg(n as i64)
        .arg(c as i64)
        .arg(s as i64);
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok(out)
}

/// The arguments' pointer of an optional buffer (null when absent).
fn ptr_or_null(b: Option<&CudaBuffer>) -> u64 {
    b.map_or(0, |b| b.device_ptr())
}

/// One block per row of `len` (a power of two, 32 to 1024 threads), at most 32 per SM.
fn row_launch(dev: &Arc<dyn DeviceApi>, rows: usize, len: usize) -> (u32, u32) {
    let block = len.next_power_of_two().clamp(32, 1024) as u32;
    (rows.min(dev.sm_count() as usize * 32).max(1) as u32, block)
}

/// Layer norm of each row of the contiguous `[rows, len]` at the start of `x`:
/// `[out, mean, rstd]`.
pub fn layer_norm(
    x: &CudaBuffer,
    w: Option<&CudaBuffer>,
    b: Option<&CudaBuffer>,
    [rows, len]: [usize; 2],
    eps: f64,
) -> Result<[CudaBuffer; 3]> {
    let k = kernel("layer_norm_rows", x.dtype())?;
    let dev = x.dev();
    let acc = acc_dtype(x.dtype());
    let out = CudaBuffer::alloc(dev, rows * len, x.dtype())?;
    let (mean, rstd) = (
        CudaBuffer::alloc(dev, rows, acc)?,
        CudaBuffer::alloc(dev, rows, acc)?,
    );
    if rows > 0 {
        let mut args = Args::new();
        args.arg(out.device_ptr())
            .arg(mean.device_ptr())
            .arg(rstd.device_ptr())
            .arg(x.device_ptr())
            .arg(ptr_or_null(w))
            .arg(ptr_or_null(b))
            .arg(rows as i64)
            .arg(len as i64)
            .arg(eps);
        let (grid, block) = row_launch(dev, rows, len);
        dev.launch(k, x.dtype(), grid, block, &mut args)?;
    }
    Ok([out, mean, rstd])
}

/// The input gradient of [`layer_norm`], and with `params` the weight's and the bias's.
pub fn layer_norm_backward(
    g: &CudaBuffer,
    x: &CudaBuffer,
    [mean, rstd]: [&CudaBuffer; 2],
    w: Option<&CudaBuffer>,
    [rows, len]: [usize; 2],
    params: bool,
) -> Result<LayerNormGrads<CudaBuffer>> {
    let dtype = x.dtype();
    let k = kernel("layer_norm_backward_rows", dtype)?;
    let dev = x.dev();
    let gx = CudaBuffer::alloc(dev, rows * len, dtype)?;
    if rows > 0 {
        let mut args = Args::new();
        args.arg(gx.device_ptr())
            .arg(g.device_ptr())
            .arg(x.device_ptr())
            .arg(mean.device_ptr())
            .arg(rstd.device_ptr())
            .arg(ptr_or_null(w))
            .arg(rows as i64)
            .arg(len as i64);
        let (grid, block) = row_launch(dev, rows, len);
        dev.launch(k, dtype, grid, block, &mut args)?;
    }
    if !params {
        return Ok((gx, None));
    }
    let acc = acc_dtype(dtype);
    let (gw, gb) = (
        CudaBuffer::alloc(dev, len, acc)?,
        CudaBuffer::alloc(dev, len, acc)?,
    );
    if len > 0 {
        let mut args = Args::new();
        args.arg(gw.device_ptr())
            .arg(gb.device_ptr())
            .arg(g.device_ptr())
            .arg(x.device_ptr())
            .arg(mean.device_ptr())
            .arg(rstd.device_ptr())
            .arg(rows as i64)
            .arg(len as i64);
        // 32 columns a block, as many row lanes as there are rows (up to 32).
        let block = (32 * rows.next_power_of_two().clamp(1, 32)) as u32;
        let grid = len.div_ceil(32).min(dev.sm_count() as usize * 32).max(1) as u32;
        let k = kernel("layer_norm_param_grads", dtype)?;
        dev.launch(k, dtype, grid, block, &mut args)?;
    }
    Ok((gx, Some((gw, gb))))
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;

    /// The three kernels, run on the host, against the CPU backend: odd sizes, a channel
    /// longer than the launch's threads, each float dtype.
    #[test]
    fn batch_norm_kernels_match_the_cpu() {
        if !available("batch_norm") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            // The kernels sum in a tree, the CPU in lanes: rounding differs.
            let tolerance = 64.0 * tol(dtype);
            for dims in [[2, 3, 5], [3, 2, 37], [1, 1, 1]] {
                let len = dims.iter().product();
                let what = format!("{dtype:?} {dims:?}");
                let (x, g) = (data(dtype, len, 3, false), data(dtype, len, 5, false));
                let (xd, gd) = (put(&dev, &x), put(&dev, &g));
                let (m, v) = stats(&xd, dims).unwrap();
                let (cm, cv) = Cpu::channel_stats(&x, dims).unwrap();
                assert_close(&format!("mean {what}"), &get(&m), &as_f64(&cm), tolerance);
                assert_close(&format!("var {what}"), &get(&v), &as_f64(&cv), tolerance);
                let (p, q) = grad_sums(&gd, &xd, &m, dims).unwrap();
                let (cp, cq) = Cpu::channel_grad_sums(&g, &x, &cm, dims).unwrap();
                assert_close(&format!("sum g {what}"), &get(&p), &as_f64(&cp), tolerance);
                assert_close(
                    &format!("sum g(x-m) {what}"),
                    &get(&q),
                    &as_f64(&cq),
                    tolerance,
                );
                let acc = acc_dtype(dtype);
                let k: Vec<HostBuffer> = (0..4).map(|i| data(acc, dims[1], 7 + i, false)).collect();
                let kd: Vec<CudaBuffer> = k.iter().map(|h| put(&dev, h)).collect();
                for with_y in [false, true] {
                    let got = affine(
                        &xd,
                        [&kd[0], &kd[1], &kd[2]],
                        with_y.then(|| (&gd, &kd[3])),
                        dims,
                    )
                    .unwrap();
                    let want = Cpu::channel_affine(
                        &x,
                        [&k[0], &k[1], &k[2]],
                        with_y.then(|| (&g, &k[3])),
                        dims,
                    )
                    .unwrap();
                    assert_close(
                        &format!("affine {what} {with_y}"),
                        &get(&got),
                        &as_f64(&want),
                        tolerance,
                    );
                }
            }
        }
    }

    /// The three layer-norm kernels, run on the host, against the CPU backend: rows shorter
    /// and longer than the launch's threads, more rows than the launch's blocks, with and
    /// without the parameters, each float dtype.
    #[test]
    fn layer_norm_kernels_match_the_cpu() {
        if !available("layer_norm") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            let tolerance = 64.0 * tol(dtype);
            for dims in [[3, 5], [11, 37], [1, 1], [40, 3]] {
                let [rows, len] = dims;
                let what = format!("{dtype:?} {dims:?}");
                let (x, g) = (
                    data(dtype, rows * len, 3, false),
                    data(dtype, rows * len, 5, false),
                );
                let (w, b) = (data(dtype, len, 7, false), data(dtype, len, 9, false));
                let (xd, gd, wd, bd) = (put(&dev, &x), put(&dev, &g), put(&dev, &w), put(&dev, &b));
                for affine in [false, true] {
                    let what = format!("{what} affine={affine}");
                    let (cw, cb) = (affine.then_some(&w), affine.then_some(&b));
                    let (gw, gb) = (affine.then_some(&wd), affine.then_some(&bd));
                    let [y, m, r] = layer_norm(&xd, gw, gb, dims, 1e-5).unwrap();
                    let [cy, cm, cr] = Cpu::layer_norm(&x, cw, cb, dims, 1e-5).unwrap();
                    assert_close(&format!("out {what}"), &get(&y), &as_f64(&cy), tolerance);
                    assert_close(&format!("mean {what}"), &get(&m), &as_f64(&cm), tolerance);
                    assert_close(&format!("rstd {what}"), &get(&r), &as_f64(&cr), tolerance);
                    let (gx, p) = layer_norm_backward(&gd, &xd, [&m, &r], gw, dims, true).unwrap();
                    let (cgx, cp) =
                        Cpu::layer_norm_backward(&g, &x, [&cm, &cr], cw, dims, true).unwrap();
                    assert_close(&format!("gx {what}"), &get(&gx), &as_f64(&cgx), tolerance);
                    let ((pw, pb), (cpw, cpb)) = (p.unwrap(), cp.unwrap());
                    assert_close(&format!("gw {what}"), &get(&pw), &as_f64(&cpw), tolerance);
                    assert_close(&format!("gb {what}"), &get(&pb), &as_f64(&cpb), tolerance);
                }
            }
        }
    }
}
