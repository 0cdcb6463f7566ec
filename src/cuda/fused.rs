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
mod tests;
