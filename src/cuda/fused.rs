//! Fused cross-entropy and optimizer steps on a GPU (`kernels/loss.cu`, `kernels/optim.cu`).
//!
//! The formulas and their order of operations are the CPU's (`crate::cpu::fused`), and the
//! kernels are compiled without contracting `a * b + c` into fused multiply-adds, so an
//! optimizer step gives the CPU's bits in float32 and float64 (the 16-bit types are computed
//! in float32 and rounded once, as the CPU's widened path does). Cross-entropy sums its rows
//! in a different order from the CPU (a tree per block), so it agrees within rounding.

use super::buffer::CudaBuffer;
use super::device::{Args, DeviceApi, Kernel};
use super::elementwise::{cast, launch_elementwise};
use super::kernels::{KernelFile, LOSS, OPTIM};
use crate::backend::{AdamOptions, SgdOptions, Span};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::{numel, Layout};
use std::sync::Arc;

/// A buffer an op reads: the caller's, or a copy made for the call.
enum Held<'a> {
    Borrowed(&'a CudaBuffer),
    Owned(CudaBuffer),
}

impl std::ops::Deref for Held<'_> {
    type Target = CudaBuffer;
    fn deref(&self) -> &CudaBuffer {
        match self {
            Held::Borrowed(b) => b,
            Held::Owned(b) => b,
        }
    }
}

/// Bits of the optimizer kernels' `flags` (`optim.cu`).
const SGD_NESTEROV: i32 = 1;
const SGD_MAXIMIZE: i32 = 2;
const SGD_FIRST: i32 = 4;
const ADAM_AMSGRAD: i32 = 1;
const ADAM_MAXIMIZE: i32 = 2;
const ADAM_DECOUPLED: i32 = 4;

/// A 1-D operand as (buffer, element offset, element stride): its own buffer when its layout
/// is 1-D (or contiguous), else a contiguous copy of `dtype`. Casts to `dtype` if needed.
fn strided_1d<'a>(b: &'a CudaBuffer, l: &Layout, dtype: DType) -> Result<(Held<'a>, usize, i64)> {
    if b.dtype() == dtype {
        if l.is_contiguous() {
            return Ok((Held::Borrowed(b), l.offset, 1));
        }
        if l.shape.len() == 1 && l.strides[0] >= 0 {
            return Ok((Held::Borrowed(b), l.offset, l.strides[0] as i64));
        }
    }
    Ok((Held::Owned(cast(b, l, dtype)?), 0, 1))
}

/// Cross-entropy of each row of the `n × c` logits `x` (viewed through `l`) against the
/// int64 classes `target`: (loss per row, the target's weight per row), both in `x`'s dtype
/// and 0 where the target is `ignore_index`. A target outside `[0, c)` is reported as
/// PyTorch's `IndexError("Target {t} is out of bounds.")` at the next read from the device.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy(
    x: &CudaBuffer,
    l: &Layout,
    target: &CudaBuffer,
    tl: &Layout,
    weight: Option<(&CudaBuffer, &Layout)>,
    ignore_index: i64,
    label_smoothing: f64,
) -> Result<(CudaBuffer, CudaBuffer)> {
    let dev = x.dev();
    let dtype = x.dtype();
    if !dtype.is_float() {
        return Err(Error::NotImplemented(format!(
            "\"cross_entropy_cuda\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    let CeRows {
        x: (xs, x_off),
        target: (ts, t_off, t_stride),
        rows,
        c,
    } = ce_rows("cross_entropy", x, l, target, tl)?;
    let w = match weight {
        Some((wb, wl)) => {
            if numel(&wl.shape) != c {
                return Err(Error::Runtime(format!(
                    "weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {:?}",
                    wl.shape
                )));
            }
            Some(strided_1d(wb, wl, dtype)?)
        }
        None => None,
    };
    let (w_ptr, w_stride) = w
        .as_ref()
        .map_or((0, 0), |(b, off, s)| (b.ptr_at(*off), *s));
    let losses = CudaBuffer::alloc(dev, rows, dtype)?;
    let row_w = CudaBuffer::alloc(dev, rows, dtype)?;
    if rows == 0 {
        return Ok((losses, row_w));
    }
    let mut args = Args::new();
    args.arg(losses.device_ptr())
        .arg(row_w.device_ptr())
        .arg(xs.ptr_at(x_off))
        .arg(rows as i64)
        .arg(c as i64)
        .arg(ts.ptr_at(t_off))
        .arg(t_stride)
        .arg(w_ptr)
        .arg(w_stride)
        .arg(ignore_index)
        .arg(1.0 - label_smoothing)
        .arg(label_smoothing / c as f64)
        .arg(i32::from(label_smoothing != 0.0))
        .arg(dev.error_record());
    launch_rows(&LOSS, x, "cross_entropy_rows", rows, c, &mut args)?;
    Ok((losses, row_w))
}

/// The input gradient of [`cross_entropy`] without label smoothing (see
/// `Backend::cross_entropy_backward`): `scale_i·(softmax(x_i) − onehot(t_i))` per row, `scale`
/// contiguous from its first element.
pub fn cross_entropy_backward(
    x: &CudaBuffer,
    l: &Layout,
    target: &CudaBuffer,
    tl: &Layout,
    scale: &CudaBuffer,
) -> Result<CudaBuffer> {
    let dev = x.dev();
    let dtype = x.dtype();
    if !dtype.is_float() || scale.dtype() != dtype {
        return Err(Error::NotImplemented(format!(
            "\"cross_entropy_backward_cuda\" not implemented for '{}' with a '{}' scale",
            dtype.scalar_name(),
            scale.dtype().scalar_name()
        )));
    }
    let CeRows {
        x: (xs, x_off),
        target: (ts, t_off, t_stride),
        rows,
        c,
    } = ce_rows("cross_entropy_backward", x, l, target, tl)?;
    if scale.len() < rows {
        return Err(Error::Runtime(format!(
            "cross_entropy_backward: {} scales for {rows} rows",
            scale.len()
        )));
    }
    let out = CudaBuffer::alloc(dev, rows * c, dtype)?;
    if rows == 0 || c == 0 {
        return Ok(out);
    }
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(xs.ptr_at(x_off))
        .arg(rows as i64)
        .arg(c as i64)
        .arg(ts.ptr_at(t_off))
        .arg(t_stride)
        .arg(scale.device_ptr());
    launch_rows(&LOSS, x, "cross_entropy_backward_rows", rows, c, &mut args)?;
    Ok(out)
}

/// What both cross-entropy kernels read: the logits contiguous (buffer, offset), the
/// targets (buffer, offset, stride), and the rows' count and length.
struct CeRows<'a> {
    x: (Held<'a>, usize),
    target: (Held<'a>, usize, i64),
    rows: usize,
    c: usize,
}

/// The operands of `op` over the logits `x` (viewed through `l`) and the int64 `target`,
/// whose elements are the rows, each `c` logits long (as the CPU's).
fn ce_rows<'a>(
    op: &str,
    x: &'a CudaBuffer,
    l: &Layout,
    target: &'a CudaBuffer,
    tl: &Layout,
) -> Result<CeRows<'a>> {
    let c = l.shape.get(1).copied().unwrap_or(1);
    let rows = numel(&tl.shape);
    if rows * c > numel(&l.shape) {
        return Err(Error::Runtime(format!(
            "{op}: {rows} targets for logits of shape {:?}",
            l.shape
        )));
    }
    let xs = if l.is_contiguous() {
        (Held::Borrowed(x), l.offset)
    } else {
        (Held::Owned(cast(x, l, x.dtype())?), 0)
    };
    Ok(CeRows {
        x: xs,
        target: strided_1d(target, tl, DType::I64)?,
        rows,
        c,
    })
}

/// Launches the kernel `name` of `file` for `x`'s dtype: one block per row (grid-stride
/// past 32 per multiprocessor), as wide as the row (a power of two, 32 to 1024 threads).
/// The row kernels of `loss.cu` and `attention.cu` take this geometry.
pub(super) fn launch_rows(
    file: &'static KernelFile,
    x: &CudaBuffer,
    name: &'static str,
    rows: usize,
    c: usize,
    args: &mut Args,
) -> Result<()> {
    let dev = x.dev();
    let block = c.next_power_of_two().clamp(32, 1024) as u32;
    let grid = rows.min(dev.sm_count() as usize * 32).max(1) as u32;
    dev.launch(Kernel { file, name }, x.dtype(), grid, block, args)
}

/// The device address of a span's first element.
fn at(s: &Span<'_, CudaBuffer>) -> u64 {
    s.buf.ptr_at(s.offset)
}

/// Checks a state span matches the parameter's length and dtype (the op layer's invariant).
fn check(what: &str, p: &Span<'_, CudaBuffer>, s: &Span<'_, CudaBuffer>) -> Result<()> {
    if s.len != p.len || s.buf.dtype() != p.buf.dtype() {
        return Err(Error::Runtime(format!(
            "{what}: expected {} elements of {}, got {} of {}",
            p.len,
            p.buf.dtype().name(),
            s.len,
            s.buf.dtype().name()
        )));
    }
    Ok(())
}

/// One SGD step on a parameter, in place; `buf` is the momentum buffer (`first`: just
/// created, set to the gradient). The formulas of `crate::cpu::fused::sgd`.
pub fn sgd_step(
    p: Span<'_, CudaBuffer>,
    g: Span<'_, CudaBuffer>,
    buf: Option<Span<'_, CudaBuffer>>,
    first: bool,
    o: &SgdOptions,
) -> Result<()> {
    check("sgd grad", &p, &g)?;
    if let Some(b) = &buf {
        check("sgd momentum_buffer", &p, b)?;
    }
    let flags = if o.nesterov { SGD_NESTEROV } else { 0 }
        | if o.maximize { SGD_MAXIMIZE } else { 0 }
        | if first { SGD_FIRST } else { 0 };
    let mut args = Args::new();
    args.arg(at(&p))
        .arg(at(&g))
        .arg(buf.as_ref().map_or(0, at))
        .arg(p.len as i64)
        .arg(o.lr)
        .arg(o.momentum)
        .arg(o.dampening)
        .arg(o.weight_decay)
        .arg(flags);
    let k = Kernel {
        file: &OPTIM,
        name: "sgd",
    };
    launch(p.buf.dev(), k, p.buf.dtype(), p.len, &mut args)
}

/// One Adam / AdamW step at 1-based step number `step`, in place. The host computes the
/// step's constants as `crate::cpu::fused::adam` does.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    p: Span<'_, CudaBuffer>,
    g: Span<'_, CudaBuffer>,
    m: Span<'_, CudaBuffer>,
    v: Span<'_, CudaBuffer>,
    vmax: Option<Span<'_, CudaBuffer>>,
    step: f64,
    o: &AdamOptions,
) -> Result<()> {
    check("adam grad", &p, &g)?;
    check("adam exp_avg", &p, &m)?;
    check("adam exp_avg_sq", &p, &v)?;
    if let Some(x) = &vmax {
        check("adam max_exp_avg_sq", &p, x)?;
    }
    let bc1 = 1.0 - o.beta1.powf(step);
    let bc2 = 1.0 - o.beta2.powf(step);
    let step_size = -(o.lr / bc1);
    let decay = 1.0 - o.lr * o.weight_decay;
    let flags = if o.amsgrad { ADAM_AMSGRAD } else { 0 }
        | if o.maximize { ADAM_MAXIMIZE } else { 0 }
        | if o.decoupled { ADAM_DECOUPLED } else { 0 };
    let mut args = Args::new();
    args.arg(at(&p))
        .arg(at(&g))
        .arg(at(&m))
        .arg(at(&v))
        .arg(vmax.as_ref().map_or(0, at))
        .arg(p.len as i64)
        .arg(step_size)
        .arg(bc2.sqrt())
        .arg(o.beta1)
        .arg(o.beta2)
        .arg(o.eps)
        .arg(o.weight_decay)
        .arg(decay)
        .arg(flags);
    let k = Kernel {
        file: &OPTIM,
        name: "adam",
    };
    launch(p.buf.dev(), k, p.buf.dtype(), p.len, &mut args)
}

/// Launches an optimizer kernel over `n` elements; an unsupported dtype fails even when
/// empty, as on the CPU.
fn launch(
    dev: &Arc<dyn DeviceApi>,
    k: Kernel,
    dtype: DType,
    n: usize,
    args: &mut Args,
) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::NotImplemented(format!(
            "\"{}_cuda\" not implemented for '{}'",
            k.name,
            dtype.scalar_name()
        )));
    }
    launch_elementwise(dev, k, dtype, n, args)
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;

    fn span(b: &CudaBuffer, offset: usize, len: usize) -> Span<'_, CudaBuffer> {
        Span {
            buf: b,
            offset,
            len,
        }
    }
    fn hspan(b: &HostBuffer, offset: usize, len: usize) -> Span<'_, HostBuffer> {
        Span {
            buf: b,
            offset,
            len,
        }
    }
    /// The bits of a downloaded buffer (exact comparison), every NaN as one: a NaN's sign
    /// follows which operand the compiler puts first, which neither side specifies.
    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter()
            .map(|x| if x.is_nan() { f64::NAN } else { *x }.to_bits())
            .collect()
    }

    /// Gradient-like data: mixed magnitudes, with a NaN in the last position when `nan`.
    fn values(dtype: DType, n: usize, seed: u64, nan: bool) -> HostBuffer {
        let h = data(dtype, n, seed, false);
        if !nan {
            return h;
        }
        let mut v = as_f64(&h);
        v[n - 1] = f64::NAN;
        crate::with_dtype!(
            dtype,
            T,
            HostBuffer::from_vec(
                v.iter()
                    .map(|&x| <T as crate::tensor::dtype::Element>::from_f64(x))
                    .collect::<Vec<T>>()
            )
        )
    }

    #[test]
    fn sgd_matches_the_cpu_bit_for_bit() {
        if !available("sgd") {
            return;
        }
        let dev = HostDevice::open();
        let (n, off) = (45, 3);
        let mut cases = vec![];
        for momentum in [0.0, 0.9] {
            for nesterov in [false, true] {
                for maximize in [false, true] {
                    for weight_decay in [0.0, 0.01] {
                        for dampening in [0.0, 0.3] {
                            if nesterov && (momentum == 0.0 || dampening != 0.0) {
                                continue;
                            }
                            cases.push(SgdOptions {
                                lr: 0.05,
                                momentum,
                                dampening,
                                weight_decay,
                                nesterov,
                                maximize,
                            });
                        }
                    }
                }
            }
        }
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for o in &cases {
                // Parameter, gradient and momentum buffer live at different offsets of
                // larger buffers.
                let hp = values(dtype, n + off + 2, 1, false);
                let hg = values(dtype, n + 1, 2, true);
                let hb = values(dtype, n + 5, 3, false);
                let (dp, dg, db) = (put(&dev, &hp), put(&dev, &hg), put(&dev, &hb));
                for first in [true, false] {
                    let with_buf = o.momentum != 0.0;
                    Cpu::sgd_step(
                        hspan(&hp, off, n),
                        hspan(&hg, 1, n),
                        with_buf.then(|| hspan(&hb, 5, n)),
                        first,
                        o,
                    )
                    .unwrap();
                    sgd_step(
                        span(&dp, off, n),
                        span(&dg, 1, n),
                        with_buf.then(|| span(&db, 5, n)),
                        first,
                        o,
                    )
                    .unwrap();
                }
                let what = format!("{dtype:?} {o:?}");
                assert_eq!(bits(&get(&dp)), bits(&as_f64(&hp)), "param {what}");
                assert_eq!(bits(&get(&db)), bits(&as_f64(&hb)), "buffer {what}");
                assert_eq!(bits(&get(&dg)), bits(&as_f64(&hg)), "grad {what}");
            }
        }
    }

    #[test]
    fn adam_matches_the_cpu_bit_for_bit() {
        if !available("adam") {
            return;
        }
        let dev = HostDevice::open();
        let (n, off) = (70, 2);
        let mut cases = vec![];
        for amsgrad in [false, true] {
            for maximize in [false, true] {
                for decoupled in [false, true] {
                    for weight_decay in [0.0, 0.1] {
                        // beta1 = 0.3 takes the other side of the two-sided lerp.
                        for beta1 in [0.9, 0.3] {
                            cases.push(AdamOptions {
                                lr: 1e-2,
                                beta1,
                                beta2: 0.999,
                                eps: 1e-8,
                                weight_decay,
                                amsgrad,
                                maximize,
                                decoupled,
                            });
                        }
                    }
                }
            }
        }
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for o in &cases {
                let hp = values(dtype, n + off, 1, false);
                let hg = values(dtype, n + 4, 2, false);
                let hm = Cpu::full(0, n, dtype, crate::tensor::dtype::Scalar::Float(0.0)).unwrap();
                let hv =
                    Cpu::full(0, n + 1, dtype, crate::tensor::dtype::Scalar::Float(0.0)).unwrap();
                let hx =
                    Cpu::full(0, n + 3, dtype, crate::tensor::dtype::Scalar::Float(0.0)).unwrap();
                let (dp, dg, dm, dv, dx) = (
                    put(&dev, &hp),
                    put(&dev, &hg),
                    put(&dev, &hm),
                    put(&dev, &hv),
                    put(&dev, &hx),
                );
                for step in 1..=3 {
                    let step = step as f64;
                    Cpu::adam_step(
                        hspan(&hp, off, n),
                        hspan(&hg, 4, n),
                        hspan(&hm, 0, n),
                        hspan(&hv, 1, n),
                        o.amsgrad.then(|| hspan(&hx, 3, n)),
                        step,
                        o,
                    )
                    .unwrap();
                    adam_step(
                        span(&dp, off, n),
                        span(&dg, 4, n),
                        span(&dm, 0, n),
                        span(&dv, 1, n),
                        o.amsgrad.then(|| span(&dx, 3, n)),
                        step,
                        o,
                    )
                    .unwrap();
                }
                let what = format!("{dtype:?} {o:?}");
                assert_eq!(bits(&get(&dp)), bits(&as_f64(&hp)), "param {what}");
                assert_eq!(bits(&get(&dm)), bits(&as_f64(&hm)), "exp_avg {what}");
                assert_eq!(bits(&get(&dv)), bits(&as_f64(&hv)), "exp_avg_sq {what}");
                assert_eq!(bits(&get(&dx)), bits(&as_f64(&hx)), "max_exp_avg_sq {what}");
            }
        }
    }

    /// A parameter long enough for the CPU's threaded path (parts on several threads) still
    /// matches, and so does an empty one.
    #[test]
    fn large_and_empty_updates_match_the_cpu() {
        if !available("adam large") {
            return;
        }
        let dev = HostDevice::open();
        let n = 40_000;
        let o = AdamOptions {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            amsgrad: false,
            maximize: false,
            decoupled: true,
        };
        let hp = values(DType::F32, n, 5, false);
        let hg = values(DType::F32, n, 6, false);
        let hm = values(DType::F32, n, 7, false);
        let hv = Cpu::unary(
            &values(DType::F32, n, 8, false),
            &Layout::contiguous(&[n]),
            crate::backend::UnaryOp::Abs,
        )
        .unwrap();
        let (dp, dg, dm, dv) = (
            put(&dev, &hp),
            put(&dev, &hg),
            put(&dev, &hm),
            put(&dev, &hv),
        );
        Cpu::adam_step(
            hspan(&hp, 0, n),
            hspan(&hg, 0, n),
            hspan(&hm, 0, n),
            hspan(&hv, 0, n),
            None,
            7.0,
            &o,
        )
        .unwrap();
        adam_step(
            span(&dp, 0, n),
            span(&dg, 0, n),
            span(&dm, 0, n),
            span(&dv, 0, n),
            None,
            7.0,
            &o,
        )
        .unwrap();
        assert_eq!(bits(&get(&dp)), bits(&as_f64(&hp)));
        assert_eq!(bits(&get(&dv)), bits(&as_f64(&hv)));
        adam_step(
            span(&dp, 0, 0),
            span(&dg, 0, 0),
            span(&dm, 0, 0),
            span(&dv, 0, 0),
            None,
            1.0,
            &o,
        )
        .unwrap();
        let so = SgdOptions {
            lr: 0.1,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        };
        let e = sgd_step(span(&dp, 0, 0), span(&dg, 0, 1), None, false, &so).unwrap_err();
        assert!(e.to_string().contains("sgd grad"), "{e}");
        let di = put(&dev, &HostBuffer::from_vec(vec![1i64, 2]));
        let e = sgd_step(span(&di, 0, 2), span(&di, 0, 2), None, false, &so).unwrap_err();
        assert_eq!(e.to_string(), "\"sgd_cuda\" not implemented for 'Long'");
    }

    /// Runs cross-entropy on both backends and compares.
    #[allow(clippy::too_many_arguments)]
    fn compare_ce(
        dev: &Arc<dyn DeviceApi>,
        hx: &HostBuffer,
        l: &Layout,
        ht: &HostBuffer,
        tl: &Layout,
        hw: Option<(&HostBuffer, &Layout)>,
        ignore: i64,
        eps: f64,
    ) {
        let dtype = hx.dtype();
        let (dx, dt) = (put(dev, hx), put(dev, ht));
        let dw = hw.map(|(w, wl)| (put(dev, w), wl.clone()));
        let (gl, gw) = cross_entropy(
            &dx,
            l,
            &dt,
            tl,
            dw.as_ref().map(|(b, wl)| (b, wl)),
            ignore,
            eps,
        )
        .unwrap();
        let (wl_, ww) = Cpu::cross_entropy(hx, l, ht, tl, hw, ignore, eps).unwrap();
        let what = format!(
            "{dtype:?} {l:?} weights {} ignore {ignore} eps {eps}",
            hw.is_some()
        );
        let t = match dtype {
            DType::F32 => 1e-5,
            d => tol(d),
        };
        assert_close(&format!("loss {what}"), &get(&gl), &as_f64(&wl_), t);
        assert_close(&format!("weight {what}"), &get(&gw), &as_f64(&ww), 0.0);
    }

    /// The CPU's gradient (a plain formula, checked below it) against the kernel's, for
    /// every float dtype, rows shorter and longer than a block, strided logits and targets,
    /// an ignored row (scale 0), and rows holding NaN, +inf and only -inf.
    #[test]
    fn cross_entropy_backward_matches_the_cpu() {
        if !available("cross_entropy_backward") {
            return;
        }
        let dev = HostDevice::open();
        let check = |hx: &HostBuffer, l: &Layout, ht: &HostBuffer, tl: &Layout, hs: &HostBuffer| {
            let (dx, dt, ds) = (put(&dev, hx), put(&dev, ht), put(&dev, hs));
            let got = cross_entropy_backward(&dx, l, &dt, tl, &ds).unwrap();
            let want = Cpu::cross_entropy_backward(hx, l, ht, tl, hs).unwrap();
            let t = match hx.dtype() {
                DType::F32 => 1e-5,
                d => tol(d),
            };
            assert_close(
                &format!("{:?} {l:?}", hx.dtype()),
                &get(&got),
                &as_f64(&want),
                t,
            );
        };
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for (n, c) in [(5, 7), (3, 40), (4, 1), (9, 16)] {
                let mut targets: Vec<i64> = (0..n as i64).map(|i| (i * 5 + 2) % c as i64).collect();
                targets[n / 2] = -100;
                let ht = HostBuffer::from_vec(targets);
                let tl = Layout::contiguous(&[n]);
                let hs = data(dtype, n, 4, false);
                let mut sv = as_f64(&hs);
                sv[n / 2] = 0.0;
                let hs =
                    Cpu::cast(&HostBuffer::from_vec(sv), &Layout::contiguous(&[n]), dtype).unwrap();
                for (l, len) in layouts(&[n, c]) {
                    check(&data(dtype, len, 3, false), &l, &ht, &tl, &hs);
                }
            }
        }
        let inf = f64::INFINITY;
        let hx = HostBuffer::from_vec(vec![
            1.0,
            f64::NAN,
            2.0, //
            -inf,
            -inf,
            -inf, //
            inf,
            0.0,
            1.0, //
            0.5,
            -inf,
            3.0,
        ]);
        let ht = HostBuffer::from_vec(vec![0i64, 9, 1, 9, 2, 9, 1, 9]);
        let tl = Layout {
            shape: vec![4],
            strides: vec![2],
            offset: 0,
        };
        let hs = HostBuffer::from_vec(vec![0.5f64, 1.0, 2.0, -0.25]);
        check(&hx, &Layout::contiguous(&[4, 3]), &ht, &tl, &hs);
    }

    /// The CPU's kernel against `s·(softmax(x) − onehot(t))` written out.
    #[test]
    fn cpu_cross_entropy_backward_is_the_formula() {
        let (n, c) = (3, 5);
        let x: Vec<f64> = (0..n * c)
            .map(|i| ((i * 7) % 11) as f64 * 0.3 - 1.0)
            .collect();
        let t = [4i64, -100, 0];
        let s = [0.5, 0.0, -2.0];
        let got = Cpu::cross_entropy_backward(
            &HostBuffer::from_vec(x.clone()),
            &Layout::contiguous(&[n, c]),
            &HostBuffer::from_vec(t.to_vec()),
            &Layout::contiguous(&[n]),
            &HostBuffer::from_vec(s.to_vec()),
        )
        .unwrap();
        let mut want = Vec::new();
        for r in 0..n {
            let row = &x[r * c..][..c];
            let total: f64 = row.iter().map(|v| v.exp()).sum();
            for (k, v) in row.iter().enumerate() {
                let hit = if t[r] == k as i64 { s[r] } else { 0.0 };
                want.push(s[r] * v.exp() / total - hit);
            }
        }
        assert_close("cpu", &as_f64(&got), &want, 1e-14);
    }

    #[test]
    fn cross_entropy_matches_the_cpu() {
        if !available("cross_entropy") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            // Rows shorter and longer than a block (16 threads on the host device), length 1.
            for (n, c) in [(5, 7), (3, 40), (4, 1), (9, 16)] {
                let targets: Vec<i64> = (0..n as i64).map(|i| (i * 5 + 2) % c as i64).collect();
                let mut with_ignored = targets.clone();
                with_ignored[n / 2] = -100;
                let ht = HostBuffer::from_vec(with_ignored);
                let tl = Layout::contiguous(&[n]);
                let hw = data(dtype, c, 9, false);
                let hw = Cpu::unary(&hw, &Layout::contiguous(&[c]), crate::backend::UnaryOp::Abs)
                    .unwrap();
                let wl = Layout::contiguous(&[c]);
                for (l, len) in layouts(&[n, c]) {
                    let hx = data(dtype, len, 3, false);
                    for eps in [0.0, 0.1] {
                        compare_ce(&dev, &hx, &l, &ht, &tl, None, -100, eps);
                        compare_ce(&dev, &hx, &l, &ht, &tl, Some((&hw, &wl)), -100, eps);
                    }
                }
            }
        }
    }

    #[test]
    fn cross_entropy_handles_strided_targets_weights_and_special_logits() {
        if !available("cross_entropy special") {
            return;
        }
        let dev = HostDevice::open();
        // Logits with NaN, ±inf and a whole row of -inf.
        let inf = f64::INFINITY;
        let x = vec![
            1.0,
            f64::NAN,
            2.0,
            -1.0, //
            -inf,
            -inf,
            -inf,
            -inf, //
            inf,
            0.0,
            1.0,
            2.0, //
            0.5,
            -0.5,
            3.0,
            -inf, //
        ];
        let hx = HostBuffer::from_vec(x);
        let l = Layout::contiguous(&[4, 4]);
        // Targets every other element of a longer buffer; weights reversed (stride -1 is
        // not a view the op layer makes, so a transposed 1-D weight is a permuted 2-D one).
        let ht = HostBuffer::from_vec(vec![0i64, 9, 3, 9, 1, 9, 2, 9]);
        let tl = Layout {
            shape: vec![4],
            strides: vec![2],
            offset: 0,
        };
        let hw = HostBuffer::from_vec(vec![0.5f64, 9.0, 2.0, 9.0, 1.0, 9.0, 3.0]);
        let wl = Layout {
            shape: vec![4],
            strides: vec![2],
            offset: 0,
        };
        for eps in [0.0, 0.25] {
            compare_ce(&dev, &hx, &l, &ht, &tl, None, -100, eps);
            compare_ce(&dev, &hx, &l, &ht, &tl, Some((&hw, &wl)), 3, eps);
        }
        // Finite rows, with the target's weight strided.
        let hx = data(DType::F64, 12, 8, false);
        let l = Layout::contiguous(&[3, 4]);
        let tl3 = Layout {
            shape: vec![3],
            strides: vec![2],
            offset: 2,
        };
        compare_ce(&dev, &hx, &l, &ht, &tl3, Some((&hw, &wl)), -100, 0.3);
        let Err(e) = cross_entropy(
            &put(&dev, &ht),
            &Layout::contiguous(&[2, 4]),
            &put(&dev, &ht),
            &tl3,
            None,
            -100,
            0.0,
        ) else {
            panic!("int64 logits");
        };
        assert_eq!(
            e.to_string(),
            "\"cross_entropy_cuda\" not implemented for 'Long'"
        );
        // No rows at all.
        let empty = HostBuffer::from_vec(Vec::<f32>::new());
        let none = HostBuffer::from_vec(Vec::<i64>::new());
        compare_ce(
            &dev,
            &empty,
            &Layout::contiguous(&[0, 5]),
            &none,
            &Layout::contiguous(&[0]),
            None,
            -100,
            0.1,
        );
    }

    #[test]
    fn an_out_of_range_target_is_reported_at_the_next_read() {
        if !available("cross_entropy target") {
            return;
        }
        let dev = HostDevice::open();
        let hx = data(DType::F32, 12, 4, false);
        let l = Layout::contiguous(&[3, 4]);
        for bad in [4i64, -1] {
            let ht = HostBuffer::from_vec(vec![0i64, bad, 2]);
            let cpu = Cpu::cross_entropy(&hx, &l, &ht, &Layout::contiguous(&[3]), None, -100, 0.0);
            let Err(cpu) = cpu else {
                panic!("the CPU accepted target {bad}")
            };
            let (dx, dt) = (put(&dev, &hx), put(&dev, &ht));
            let (losses, _) =
                cross_entropy(&dx, &l, &dt, &Layout::contiguous(&[3]), None, -100, 0.0)
                    .expect("the launch itself succeeds");
            let Err(e) = download(&losses) else {
                panic!("target {bad} was not reported")
            };
            assert_eq!(e.to_string(), cpu.to_string());
            assert_eq!(e.to_string(), format!("Target {bad} is out of bounds."));
            assert!(matches!(e, Error::Index(_)));
            // Reported once: the device works on.
            assert_eq!(get(&dt), vec![0.0, bad as f64, 2.0]);
        }
    }

    fn download(b: &CudaBuffer) -> Result<HostBuffer> {
        super::super::elementwise::download(b, &Layout::contiguous(&[b.len()]))
    }
}
