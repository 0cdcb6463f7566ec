//! Batch norm on a GPU (`kernels/norm.cu`), with the CPU's contract (`crate::cpu::norm`):
//! per-channel statistics and backward sums (one block per channel, a block tree), and the
//! per-channel affine pass (one thread per element). Per-channel buffers are in the
//! accumulation dtype, float32 for the 16-bit types.

use super::buffer::CudaBuffer;
use super::device::{Args, Kernel};
use super::elementwise::launch_elementwise;
use super::kernels::{self, NORM};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;

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
}
