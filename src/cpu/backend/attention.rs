//! Attention's fused scale, mask, softmax and dropout on host buffers.

use super::{narrow, not_implemented, widen_all, Cpu};
use crate::backend::num::Float;
use crate::backend::{AttnRows, Backend, HostBuffer};
use crate::cpu::attention;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;

/// [`Backend::attention_softmax`](crate::backend::Backend::attention_softmax) on host buffers.
pub(super) fn attention_softmax(
    x: &HostBuffer,
    a: &AttnRows,
    mask: Option<(&HostBuffer, &Layout)>,
    keep: Option<(&HostBuffer, f64)>,
) -> Result<(HostBuffer, Option<HostBuffer>)> {
    let AttnRows { rows, len, .. } = *a;
    let n = rows * len;
    attention_operands("attention_softmax", x, n, keep)?;
    if let Some((m, l)) = mask {
        if m.dtype() != x.dtype()
            || l.numel() != n
            || l.shape.last() != Some(&len)
            || l.strides.iter().any(|&s| s < 0)
        {
            return Err(Error::Runtime(format!(
                "attention_softmax: a mask of {} viewed as {:?} (strides {:?}) for {rows} rows of {len} scores of {}",
                m.dtype().name(),
                l.shape,
                l.strides,
                x.dtype().name()
            )));
        }
    }
    if x.dtype().is_half() {
        let wm = mask.map(|(m, l)| (widen_all(m), l));
        let (y, out) =
            Cpu::attention_softmax(&widen_all(x), a, wm.as_ref().map(|(m, l)| (m, *l)), keep)?;
        return Ok((narrow(y, x.dtype()), out.map(|o| narrow(o, x.dtype()))));
    }
    crate::with_float_dtype!(
        x.dtype(),
        T,
        {
            let rows = attention::Rows {
                a,
                scale: T::lit(a.scale),
                mask: mask.map(|(m, l)| (m.as_slice::<T>(), l)),
                keep: keep.map(|(k, ks)| (k.as_slice::<bool>(), T::lit(ks))),
            };
            let (y, out) = attention::attention_rows(&x.as_slice::<T>()[..n], &rows);
            Ok((
                HostBuffer::from_vec(y),
                keep.map(|_| HostBuffer::from_vec(out)),
            ))
        },
        Err(not_implemented("attention_softmax", x.dtype()))
    )
}

/// [`Backend::attention_softmax_backward`](crate::backend::Backend::attention_softmax_backward) on host buffers.
pub(super) fn attention_softmax_backward(
    y: &HostBuffer,
    g: &HostBuffer,
    rows: usize,
    len: usize,
    keep: Option<(&HostBuffer, f64)>,
    scale: f64,
) -> Result<HostBuffer> {
    let n = rows * len;
    attention_operands("attention_softmax_backward", y, n, keep)?;
    attention_operands("attention_softmax_backward", g, n, None)?;
    if g.dtype() != y.dtype() {
        return Err(Error::Runtime(format!(
            "attention_softmax_backward: a gradient of {} for weights of {}",
            g.dtype().name(),
            y.dtype().name()
        )));
    }
    if y.dtype().is_half() {
        let gx =
            Cpu::attention_softmax_backward(&widen_all(y), &widen_all(g), rows, len, keep, scale)?;
        return Ok(narrow(gx, y.dtype()));
    }
    crate::with_float_dtype!(
        y.dtype(),
        T,
        {
            let a = AttnRows {
                rows,
                len,
                scale,
                causal: None,
                safe: false,
            };
            let rows = attention::Rows {
                a: &a,
                scale: T::lit(scale),
                mask: None,
                keep: keep.map(|(k, ks)| (k.as_slice::<bool>(), T::lit(ks))),
            };
            Ok(HostBuffer::from_vec(attention::attention_backward_rows(
                &y.as_slice::<T>()[..n],
                &g.as_slice::<T>()[..n],
                &rows,
            )))
        },
        Err(not_implemented("attention_softmax_backward", y.dtype()))
    )
}

/// Checks an operand of the attention kernels holds `n` elements, and the dropout flags
/// `n` bools.
fn attention_operands(
    op: &str,
    x: &HostBuffer,
    n: usize,
    keep: Option<(&HostBuffer, f64)>,
) -> Result<()> {
    let short = |b: &HostBuffer| b.len() < n;
    if short(x) || keep.is_some_and(|(k, _)| k.dtype() != DType::Bool || short(k)) {
        return Err(Error::Runtime(format!(
            "{op}: expected {n} elements (and as many dropout flags), got {} of {}",
            x.len(),
            x.dtype().name()
        )));
    }
    Ok(())
}
