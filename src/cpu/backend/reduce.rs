//! Reductions, scans and the softmax backward on host buffers.

use super::{
    fits_in_memory, middle_block, narrow, not_implemented, rows_of, span, whole, widen, widen_span,
    Cpu,
};
use crate::backend::num::{Float, Num};
use crate::backend::{Backend, HostBuffer, ReduceOp, ScanOp, Span};
use crate::cpu::{reduce, scan};
use crate::error::Result;
use crate::tensor::dtype::{DType, Element};
use crate::tensor::layout::Layout;

/// [`Backend::reduce`](crate::backend::Backend::reduce) on host buffers.
pub(super) fn reduce(
    x: &HostBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    op: ReduceOp,
) -> Result<HostBuffer> {
    let dtype = x.dtype();
    // A strided input is gathered into rows first (an expanded one can be far larger
    // than its storage).
    if !l.is_contiguous() {
        fits_in_memory(&l.shape, dtype)?;
    }
    let unsupported = || not_implemented(op.kernel(), dtype);
    if dtype.is_half() && !matches!(op, ReduceOp::All | ReduceOp::Any) {
        // Accumulated in float32, as PyTorch does for the 16-bit types.
        let (w, wl) = widen(x, l);
        return Ok(narrow(Cpu::reduce(&w, &wl, rows, len, op)?, dtype));
    }
    if let ReduceOp::All | ReduceOp::Any = op {
        let all = op == ReduceOp::All;
        return Ok(HostBuffer::from_vec(crate::with_dtype!(dtype, T, {
            let data = rows_of(x.as_slice::<T>(), l);
            if len == 0 {
                vec![all; rows]
            } else {
                reduce::per_row(&data, len, |r| {
                    if all {
                        r.iter().all(|v| v.is_nonzero())
                    } else {
                        r.iter().any(|v| v.is_nonzero())
                    }
                })
            }
        })));
    }
    fn numeric<T: Num>(
        data: &[T],
        l: &Layout,
        rows: usize,
        len: usize,
        op: ReduceOp,
    ) -> Option<Vec<T>> {
        Some(match op {
            ReduceOp::Sum => {
                // The contiguous block such a layout spans.
                let block = || &data[l.offset..l.offset + l.numel()];
                match middle_block(l, rows) {
                    Some((outer, 1)) if outer > 1 && rows > 1 => reduce::sum_leading(block(), rows),
                    Some((outer, inner)) if outer > 1 => {
                        reduce::sum_middle(block(), outer, rows, inner)
                    }
                    _ => reduce::sum_rows(&rows_of(data, l), rows, len),
                }
            }
            ReduceOp::Prod => reduce::prod_rows(&rows_of(data, l), rows, len),
            ReduceOp::Max | ReduceOp::Min => {
                let max = op == ReduceOp::Max;
                match middle_block(l, rows) {
                    Some((outer, inner)) if outer > 1 => reduce::extreme_middle(
                        &data[l.offset..l.offset + l.numel()],
                        outer,
                        rows,
                        inner,
                        max,
                    ),
                    _ => reduce::extreme_rows(&rows_of(data, l), rows, len, max),
                }
            }
            _ => return None,
        })
    }
    fn float<T: Float>(
        data: &[T],
        l: &Layout,
        rows: usize,
        len: usize,
        op: ReduceOp,
    ) -> Option<Vec<T>> {
        Some(match op {
            ReduceOp::Var { correction } => {
                reduce::var_rows(&rows_of(data, l), rows, len, correction)
            }
            ReduceOp::LogSumExp => reduce::logsumexp_rows(&rows_of(data, l), rows, len),
            _ => return numeric(data, l, rows, len, op),
        })
    }
    match dtype {
        DType::F32 => float(x.as_slice::<f32>(), l, rows, len, op).map(HostBuffer::from_vec),
        DType::F64 => float(x.as_slice::<f64>(), l, rows, len, op).map(HostBuffer::from_vec),
        _ => crate::with_numeric_dtype!(
            dtype,
            T,
            numeric(x.as_slice::<T>(), l, rows, len, op).map(HostBuffer::from_vec),
            None
        ),
    }
    .ok_or_else(unsupported)
}

/// [`Backend::arg_reduce`](crate::backend::Backend::arg_reduce) on host buffers.
pub(super) fn arg_reduce(
    x: &HostBuffer,
    l: &Layout,
    _rows: usize,
    len: usize,
    max: bool,
) -> Result<(HostBuffer, HostBuffer)> {
    if !l.is_contiguous() {
        fits_in_memory(&l.shape, x.dtype())?;
    }
    if x.dtype().is_half() {
        let (w, wl) = widen(x, l);
        let (v, i) = Cpu::arg_reduce(&w, &wl, _rows, len, max)?;
        return Ok((narrow(v, x.dtype()), i));
    }
    crate::with_numeric_dtype!(
        x.dtype(),
        T,
        {
            let r = reduce::arg_extreme_rows::<T>(&rows_of(x.as_slice::<T>(), l), len, max);
            let (v, i): (Vec<T>, Vec<i64>) = r.into_iter().unzip();
            Ok((HostBuffer::from_vec(v), HostBuffer::from_vec(i)))
        },
        Err(not_implemented(
            if max { "max" } else { "min" },
            DType::Bool
        ))
    )
}

/// [`Backend::scan`](crate::backend::Backend::scan) on host buffers.
pub(super) fn scan(
    x: &HostBuffer,
    l: &Layout,
    _rows: usize,
    len: usize,
    op: ScanOp,
) -> Result<HostBuffer> {
    let dtype = x.dtype();
    fits_in_memory(&l.shape, dtype)?;
    if dtype.is_half() {
        let (w, wl) = widen(x, l);
        return Ok(narrow(Cpu::scan(&w, &wl, _rows, len, op)?, dtype));
    }
    match op {
        ScanOp::Cumsum => crate::with_numeric_dtype!(
            dtype,
            T,
            Ok(HostBuffer::from_vec(scan::cumsum_rows(
                &rows_of(x.as_slice::<T>(), l),
                len
            ))),
            Err(not_implemented("cumsum", dtype))
        ),
        ScanOp::Cumprod => crate::with_numeric_dtype!(
            dtype,
            T,
            Ok(HostBuffer::from_vec(scan::cumprod_rows(
                &rows_of(x.as_slice::<T>(), l),
                len
            ))),
            Err(not_implemented("cumprod", dtype))
        ),
        ScanOp::LogCumSumExp => crate::with_float_dtype!(
            dtype,
            T,
            Ok(HostBuffer::from_vec(scan::logcumsumexp_rows(
                &rows_of(x.as_slice::<T>(), l),
                len
            ))),
            Err(not_implemented("logcumsumexp_out", dtype))
        ),
        ScanOp::Softmax | ScanOp::LogSoftmax => crate::with_float_dtype!(
            dtype,
            T,
            {
                let rows = rows_of(x.as_slice::<T>(), l);
                let log = op == ScanOp::LogSoftmax;
                Ok(HostBuffer::from_vec(scan::softmax_rows(&rows, len, log)))
            },
            Err(not_implemented(op.kernel(), dtype))
        ),
    }
}

/// [`Backend::scan_middle`](crate::backend::Backend::scan_middle) on host buffers:
/// softmax, log-softmax and cumsum along the middle dim, read and written in place of order
/// (see [`scan::softmax_middle`]); `None` for the other scans and for inner sizes too
/// small to vectorise along.
pub(super) fn scan_middle(
    x: &HostBuffer,
    offset: usize,
    [outer, len, inner]: [usize; 3],
    op: ScanOp,
) -> Result<Option<HostBuffer>> {
    let dtype = x.dtype();
    let n = outer * len * inner;
    let supported = matches!(op, ScanOp::Softmax | ScanOp::LogSoftmax | ScanOp::Cumsum);
    if !supported || inner < scan::MIN_MIDDLE_INNER || dtype == DType::Bool {
        return Ok(None);
    }
    fits_in_memory(&[n], dtype)?;
    if dtype.is_half() {
        let mut l = Layout::contiguous(&[n]);
        l.offset = offset;
        let (w, _) = widen(x, &l);
        let r = scan_middle(&w, 0, [outer, len, inner], op)?;
        return Ok(r.map(|r| narrow(r, dtype)));
    }
    Ok(match op {
        ScanOp::Cumsum => crate::with_numeric_dtype!(
            dtype,
            T,
            Some(HostBuffer::from_vec(scan::cumsum_middle(
                &x.as_slice::<T>()[offset..offset + n],
                len,
                inner
            ))),
            None
        ),
        _ => crate::with_float_dtype!(
            dtype,
            T,
            Some(HostBuffer::from_vec(scan::softmax_middle(
                &x.as_slice::<T>()[offset..offset + n],
                len,
                inner,
                op == ScanOp::LogSoftmax
            ))),
            None
        ),
    })
}

/// [`Backend::softmax_backward`](crate::backend::Backend::softmax_backward) on host buffers.
pub(super) fn softmax_backward(
    y: Span<'_, HostBuffer>,
    g: Span<'_, HostBuffer>,
    len: usize,
    log: bool,
) -> Result<HostBuffer> {
    let dtype = y.buf.dtype();
    if dtype.is_half() {
        let (wy, wg) = (widen_span(&y), widen_span(&g));
        let w = Cpu::softmax_backward(whole(&wy), whole(&wg), len, log)?;
        return Cpu::cast(&w, &Layout::contiguous(&[w.len()]), dtype);
    }
    crate::with_float_dtype!(
        dtype,
        T,
        Ok(HostBuffer::from_vec(scan::softmax_backward_rows(
            span::<T>(&y),
            span::<T>(&g),
            len,
            log
        ))),
        Err(not_implemented("softmax_backward", dtype))
    )
}

/// [`Backend::arg_scan`](crate::backend::Backend::arg_scan) on host buffers.
pub(super) fn arg_scan(
    x: &HostBuffer,
    l: &Layout,
    _rows: usize,
    len: usize,
    max: bool,
) -> Result<(HostBuffer, HostBuffer)> {
    fits_in_memory(&l.shape, DType::I64)?;
    if x.dtype().is_half() {
        // Widening is exact, so the running extremes come back unchanged.
        let (w, wl) = widen(x, l);
        let (v, i) = Cpu::arg_scan(&w, &wl, _rows, len, max)?;
        return Ok((narrow(v, x.dtype()), i));
    }
    crate::with_numeric_dtype!(
        x.dtype(),
        T,
        {
            let (v, i) = scan::cum_extreme_rows::<T>(&rows_of(x.as_slice::<T>(), l), len, max);
            Ok((HostBuffer::from_vec(v), HostBuffer::from_vec(i)))
        },
        Err(not_implemented(
            if max { "cummax" } else { "cummin" },
            DType::Bool
        ))
    )
}
