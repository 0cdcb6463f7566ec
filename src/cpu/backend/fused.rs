//! The fused kernels on host buffers: cross-entropy forward and backward, SGD and Adam steps.

use super::{
    narrow, not_implemented, rows_of, span, span_mut, whole, widen, widen_all, widen_span,
    write_back, Cpu,
};
use crate::backend::{AdamOptions, Backend, HostBuffer, SgdOptions, Span};
use crate::cpu::copy::gather;
use crate::cpu::fused;
use crate::error::{Error, Result};
use crate::tensor::layout::Layout;

/// [`Backend::cross_entropy`](crate::backend::Backend::cross_entropy) on host buffers.
pub(super) fn cross_entropy(
    x: &HostBuffer,
    l: &Layout,
    target: &HostBuffer,
    tl: &Layout,
    weight: Option<(&HostBuffer, &Layout)>,
    ignore_index: i64,
    label_smoothing: f64,
) -> Result<(HostBuffer, HostBuffer)> {
    let c = l.shape.get(1).copied().unwrap_or(1);
    if x.dtype().is_half() {
        let (w, wl) = widen(x, l);
        let ww = weight.map(|(b, bl)| widen(b, bl));
        let (losses, row_w) = Cpu::cross_entropy(
            &w,
            &wl,
            target,
            tl,
            ww.as_ref().map(|(b, bl)| (b, bl)),
            ignore_index,
            label_smoothing,
        )?;
        return Ok((narrow(losses, x.dtype()), narrow(row_w, x.dtype())));
    }
    let t = rows_of(target.as_slice::<i64>(), tl);
    crate::with_float_dtype!(
        x.dtype(),
        T,
        {
            let w: Option<Vec<T>> = weight.map(|(w, wl)| gather(w.as_slice::<T>(), wl));
            let (losses, row_w) = fused::cross_entropy_rows(
                &rows_of(x.as_slice::<T>(), l),
                c,
                &t,
                w.as_deref(),
                ignore_index,
                label_smoothing,
            )?;
            Ok((HostBuffer::from_vec(losses), HostBuffer::from_vec(row_w)))
        },
        Err(not_implemented("cross_entropy", x.dtype()))
    )
}

/// [`Backend::cross_entropy_backward`](crate::backend::Backend::cross_entropy_backward) on host buffers.
pub(super) fn cross_entropy_backward(
    x: &HostBuffer,
    l: &Layout,
    target: &HostBuffer,
    tl: &Layout,
    scale: &HostBuffer,
) -> Result<HostBuffer> {
    let c = l.shape.get(1).copied().unwrap_or(1);
    if x.dtype().is_half() {
        let (w, wl) = widen(x, l);
        let ws = widen_all(scale);
        let d = Cpu::cross_entropy_backward(&w, &wl, target, tl, &ws)?;
        return Ok(narrow(d, x.dtype()));
    }
    let t = rows_of(target.as_slice::<i64>(), tl);
    crate::with_float_dtype!(
        x.dtype(),
        T,
        {
            let s: &[T] = scale.as_slice();
            if s.len() < t.len() || t.len() * c > l.numel() {
                return Err(Error::Runtime(format!(
                    "cross_entropy_backward: {} targets and {} scales for logits of shape {:?}",
                    t.len(),
                    s.len(),
                    l.shape
                )));
            }
            Ok(HostBuffer::from_vec(fused::cross_entropy_backward_rows(
                &rows_of(x.as_slice::<T>(), l),
                c,
                &t,
                s,
            )))
        },
        Err(not_implemented("cross_entropy_backward", x.dtype()))
    )
}

/// [`Backend::sgd_step`](crate::backend::Backend::sgd_step) on host buffers.
pub(super) fn sgd_step(
    p: Span<'_, HostBuffer>,
    g: Span<'_, HostBuffer>,
    buf: Option<Span<'_, HostBuffer>>,
    first: bool,
    o: &SgdOptions,
) -> Result<()> {
    if p.buf.dtype().is_half() {
        let (wp, wg) = (widen_span(&p), widen_span(&g));
        let wb = buf.as_ref().map(widen_span);
        Cpu::sgd_step(whole(&wp), whole(&wg), wb.as_ref().map(whole), first, o)?;
        write_back(&p, &wp)?;
        if let (Some(b), Some(wb)) = (&buf, &wb) {
            write_back(b, wb)?;
        }
        return Ok(());
    }
    crate::with_float_dtype!(
        p.buf.dtype(),
        T,
        {
            // SAFETY: the op layer checked that parameter, gradient and buffer share no
            // storage, so these are the only live slices of them.
            let (ps, bs) = unsafe { (span_mut::<T>(&p), buf.as_ref().map(|b| span_mut::<T>(b))) };
            fused::sgd(ps, span::<T>(&g), bs, first, o);
            Ok(())
        },
        Err(not_implemented("sgd", p.buf.dtype()))
    )
}

/// [`Backend::adam_step`](crate::backend::Backend::adam_step) on host buffers.
pub(super) fn adam_step(
    p: Span<'_, HostBuffer>,
    g: Span<'_, HostBuffer>,
    m: Span<'_, HostBuffer>,
    v: Span<'_, HostBuffer>,
    vmax: Option<Span<'_, HostBuffer>>,
    step: f64,
    o: &AdamOptions,
) -> Result<()> {
    if p.buf.dtype().is_half() {
        let (wp, wg, wm, wv) = (
            widen_span(&p),
            widen_span(&g),
            widen_span(&m),
            widen_span(&v),
        );
        let wx = vmax.as_ref().map(widen_span);
        Cpu::adam_step(
            whole(&wp),
            whole(&wg),
            whole(&wm),
            whole(&wv),
            wx.as_ref().map(whole),
            step,
            o,
        )?;
        for (s, w) in [(&p, &wp), (&m, &wm), (&v, &wv)] {
            write_back(s, w)?;
        }
        if let (Some(x), Some(wx)) = (&vmax, &wx) {
            write_back(x, wx)?;
        }
        return Ok(());
    }
    crate::with_float_dtype!(
        p.buf.dtype(),
        T,
        {
            // SAFETY: the op layer checked that every state tensor is distinct from the
            // others and from the gradient, so each mutable slice is the only one alive.
            unsafe {
                fused::adam(
                    span_mut::<T>(&p),
                    span::<T>(&g),
                    span_mut::<T>(&m),
                    span_mut::<T>(&v),
                    vmax.as_ref().map(|x| span_mut::<T>(x)),
                    step,
                    o,
                );
            }
            Ok(())
        },
        Err(not_implemented("adam", p.buf.dtype()))
    )
}
