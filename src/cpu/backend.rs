//! The CPU backend: each op family of [`Backend`] on host buffers, dispatching on the dtype
//! to the generic kernels of this directory.

use super::copy::{copy_into, fill, gather, gather_map};
use super::elementwise::{map, zip, zip3};
use super::{
    attention, conv, fused, im2col, index, matmul, norm, random, reduce, rnn, roi, search, sort,
    window, winograd,
};
use crate::backend::num::{Float, Num};
use crate::backend::op::{BinaryKind, MapFn, ZipFn};
use crate::backend::{
    check_host_alloc, AdamOptions, Arg, AttnRows, AvgDivisor, Backend, BinaryOp, Distribution,
    HostBuffer, LayerNormGrads, MatBatch, ReduceOp, RnnGrads, RnnRun, RnnSaved, RoiAlign, RoiPool,
    ScanOp, SgdOptions, Span, UnaryOp, Window,
};
use crate::error::{Error, Result};
use crate::tensor::dtype::{cast, DType, Element, Scalar};
use crate::tensor::layout::Layout;
use std::borrow::Cow;

/// The CPU backend.
pub struct Cpu;

fn not_implemented(op: &str, d: DType) -> Error {
    Error::NotImplemented(format!(
        "\"{op}_cpu\" not implemented for '{}'",
        d.scalar_name()
    ))
}

/// An operand as a buffer and layout: a scalar becomes a one-element buffer viewed as 0-d,
/// which the kernels broadcast like any other operand.
#[inline]
fn materialize<'a>(a: Arg<'a, HostBuffer>, dtype: DType) -> (Cow<'a, HostBuffer>, Cow<'a, Layout>) {
    match a {
        Arg::Buf(b, l) => (Cow::Borrowed(b), Cow::Borrowed(l)),
        Arg::Scalar(s) => (
            Cow::Owned(crate::with_dtype!(
                dtype,
                T,
                HostBuffer::from_vec(vec![s.to_elem::<T>()])
            )),
            Cow::Owned(Layout::contiguous(&[])),
        ),
    }
}

/// The view `l` of a 16-bit float buffer widened to a contiguous float32 buffer: the CPU
/// computes the 16-bit types in float32 and rounds each result once, as PyTorch's CPU
/// kernels do.
fn widen(x: &HostBuffer, l: &Layout) -> (HostBuffer, Layout) {
    let w = crate::with_dtype!(
        x.dtype(),
        S,
        HostBuffer::from_vec(gather_map(x.as_slice::<S>(), l, cast::<S, f32>))
    );
    (w, Layout::contiguous(&l.shape))
}

/// A float32 result rounded back to the 16-bit type `dtype` (other results pass through).
fn narrow(r: HostBuffer, dtype: DType) -> HostBuffer {
    if r.dtype() != DType::F32 || dtype == DType::F32 {
        return r;
    }
    Cpu::cast(&r, &Layout::contiguous(&[r.len()]), dtype).unwrap_or(r)
}

/// PyTorch's errors for a new buffer of `shape` and `dtype` whose size overflows or is more
/// than the machine could allocate, checked before the kernels allocate their outputs
/// (creation, copies and casts, element-wise ops, sampling, products, convolutions,
/// patches, pooling, scans, sorts, gathers and indexing).
fn fits_in_memory(shape: &[usize], dtype: DType) -> Result<()> {
    let n = crate::tensor::layout::checked_numel(shape, dtype.size())?;
    check_host_alloc(n * dtype.size())
}

/// A 16-bit buffer widened to float32 (others borrowed as they are).
fn half_widened(x: &HostBuffer) -> Cow<'_, HostBuffer> {
    if x.dtype().is_half() {
        Cow::Owned(widen_all(x))
    } else {
        Cow::Borrowed(x)
    }
}

/// A whole 16-bit buffer widened in place of order (offsets into it stay valid).
fn widen_all(x: &HostBuffer) -> HostBuffer {
    widen(x, &Layout::contiguous(&[x.len()])).0
}

/// The layout of a span's elements.
fn span_layout(s: &Span<'_, HostBuffer>) -> Layout {
    Layout {
        shape: vec![s.len],
        strides: vec![1],
        offset: s.offset,
    }
}

/// A float32 copy of a 16-bit span (for the fused updates, which run in float32).
fn widen_span(s: &Span<'_, HostBuffer>) -> HostBuffer {
    widen(s.buf, &span_layout(s)).0
}

/// An optional buffer's elements, empty when absent.
fn or_empty<T: Element>(b: Option<&HostBuffer>) -> &[T] {
    b.map_or(&[][..], |b| b.as_slice())
}

/// A span over all of a buffer.
fn whole(b: &HostBuffer) -> Span<'_, HostBuffer> {
    Span {
        buf: b,
        offset: 0,
        len: b.len(),
    }
}

/// Writes an updated float32 copy back into its 16-bit span.
fn write_back(s: &Span<'_, HostBuffer>, w: &HostBuffer) -> Result<()> {
    Cpu::copy_into(
        s.buf,
        &span_layout(s),
        Arg::Buf(w, &Layout::contiguous(&[s.len])),
    )
}

/// Runs a unary element function over a strided view.
struct MapKernel<'a, T> {
    data: &'a [T],
    l: &'a Layout,
}
impl<T: Element> MapFn<T> for MapKernel<'_, T> {
    type Out = HostBuffer;
    fn call<F: Fn(T) -> T + Sync + Send + Copy>(self, f: F) -> HostBuffer {
        HostBuffer::from_vec(map(self.data, self.l, f))
    }
}

/// Runs a binary element function over two strided views broadcast to `shape`.
struct ZipKernel<'a, T> {
    a: (&'a [T], &'a Layout),
    b: (&'a [T], &'a Layout),
    shape: &'a [usize],
}
impl<T: Element, C: Element> ZipFn<T, C> for ZipKernel<'_, T> {
    type Out = HostBuffer;
    fn call<F: Fn(T, T) -> C + Sync + Send + Copy>(self, f: F) -> HostBuffer {
        HostBuffer::from_vec(zip(self.a.0, self.a.1, self.b.0, self.b.1, self.shape, f))
    }
}

/// The elements of a `rows × len` arrangement (each row's elements in the layout's last
/// dims), contiguous.
fn rows_of<'a, T: Element>(data: &'a [T], l: &Layout) -> Cow<'a, [T]> {
    if l.is_contiguous() {
        Cow::Borrowed(&data[l.offset..l.offset + l.numel()])
    } else {
        Cow::Owned(gather(data, l))
    }
}

/// Whether a `rows × len` arrangement is a contiguous `len × rows` block: a reduction over
/// the leading dims of a contiguous tensor (bias gradients), which is summed a whole row at
/// a time instead of being transposed first.
fn is_leading_block(l: &Layout, rows: usize) -> bool {
    if rows < 2 {
        return false;
    }
    let mut prod = 1;
    let Some(k) = (0..=l.shape.len()).find(|&k| {
        if k > 0 {
            prod *= l.shape[k - 1];
        }
        prod == rows
    }) else {
        return false;
    };
    let swapped = Layout {
        shape: [&l.shape[k..], &l.shape[..k]].concat(),
        strides: [&l.strides[k..], &l.strides[..k]].concat(),
        offset: l.offset,
    };
    swapped.is_contiguous()
}

/// The range of a `Span`, as a slice.
fn span<'a, T: Element>(s: &Span<'a, HostBuffer>) -> &'a [T] {
    &s.buf.as_slice::<T>()[s.offset..s.offset + s.len]
}

/// The range of a `Span`, writable.
///
/// # Safety
/// No other slice of the span's buffer may be alive while the result is (the op layer
/// checks that the updated tensors share no storage).
#[allow(clippy::mut_from_ref)]
unsafe fn span_mut<'a, T: Element>(s: &Span<'a, HostBuffer>) -> &'a mut [T] {
    // SAFETY: exclusivity is the caller's promise.
    let all = unsafe { s.buf.as_mut_slice::<T>() };
    &mut all[s.offset..s.offset + s.len]
}

impl Backend for Cpu {
    type Buffer = HostBuffer;

    fn full(_: usize, n: usize, dtype: DType, value: Scalar) -> Result<HostBuffer> {
        fits_in_memory(&[n], dtype)?;
        Ok(crate::with_dtype!(
            dtype,
            T,
            HostBuffer::from_vec(vec![value.to_elem::<T>(); n])
        ))
    }

    fn upload(_: usize, host: &HostBuffer) -> Result<HostBuffer> {
        Ok(host.clone())
    }

    fn download(buf: &HostBuffer, l: &Layout) -> Result<HostBuffer> {
        fits_in_memory(&l.shape, buf.dtype())?;
        Ok(crate::with_dtype!(
            buf.dtype(),
            T,
            HostBuffer::from_vec(gather(buf.as_slice::<T>(), l))
        ))
    }

    fn cast(x: &HostBuffer, l: &Layout, dtype: DType) -> Result<HostBuffer> {
        fits_in_memory(&l.shape, dtype)?;
        Ok(crate::with_dtype!(dtype, D, {
            crate::with_dtype!(
                x.dtype(),
                S,
                HostBuffer::from_vec(gather_map(x.as_slice::<S>(), l, cast::<S, D>))
            )
        }))
    }

    fn copy_into(dst: &HostBuffer, dl: &Layout, src: Arg<'_, HostBuffer>) -> Result<()> {
        crate::with_dtype!(dst.dtype(), D, {
            // SAFETY: the op layer hands in a source that does not alias `dst` (it copies an
            // overlapping one first) and holds no other slice of `dst` during the copy.
            let d: &mut [D] = unsafe { dst.as_mut_slice::<D>() };
            match src {
                Arg::Scalar(s) => fill(d, dl, s.to_elem::<D>()),
                Arg::Buf(s, sl) => {
                    crate::with_dtype!(s.dtype(), S, copy_into(d, dl, s.as_slice::<S>(), sl))
                }
            }
        });
        Ok(())
    }

    fn unary(x: &HostBuffer, l: &Layout, op: UnaryOp) -> Result<HostBuffer> {
        let d = x.dtype();
        fits_in_memory(&l.shape, d)?;
        if d.is_half() {
            let (w, wl) = widen(x, l);
            return Ok(narrow(Self::unary(&w, &wl, op)?, d));
        }
        match d {
            DType::F32 => Ok(op.map_float(MapKernel {
                data: x.as_slice::<f32>(),
                l,
            })),
            DType::F64 => Ok(op.map_float(MapKernel {
                data: x.as_slice::<f64>(),
                l,
            })),
            _ => crate::with_numeric_dtype!(
                d,
                T,
                op.map_numeric(MapKernel {
                    data: x.as_slice::<T>(),
                    l,
                }),
                None
            )
            .ok_or_else(|| not_implemented(op.kernel(), d)),
        }
    }

    fn binary(
        a: Arg<'_, HostBuffer>,
        b: Arg<'_, HostBuffer>,
        dtype: DType,
        shape: &[usize],
        op: BinaryOp,
    ) -> Result<HostBuffer> {
        fits_in_memory(shape, dtype)?;
        let (ab, al) = materialize(a, dtype);
        let (bb, bl) = materialize(b, dtype);
        if dtype.is_half() {
            let ((wa, wal), (wb, wbl)) = (widen(&ab, &al), widen(&bb, &bl));
            let r = Self::binary(
                Arg::Buf(&wa, &wal),
                Arg::Buf(&wb, &wbl),
                DType::F32,
                shape,
                op,
            )?;
            return Ok(narrow(r, dtype));
        }
        let any = shape.iter().all(|&d| d > 0);
        if let (Some(check), false, true) = (op.int_rhs_check(), dtype.is_float(), any) {
            let bad = crate::with_dtype!(dtype, T, {
                let mut bad = false;
                super::strided::walk(&bl.shape, [&bl.strides], [bl.offset], |[o]| {
                    bad |= !check.holds(bb.as_slice::<T>()[o].to_i64())
                });
                bad
            });
            if bad {
                return Err(Error::Runtime(check.message().into()));
            }
        }
        let unsupported = || not_implemented(op.kernel(), dtype);
        match op.kind() {
            BinaryKind::Arith => crate::with_numeric_dtype!(
                dtype,
                T,
                op.map_arith::<T, _>(ZipKernel {
                    a: (ab.as_slice::<T>(), &al),
                    b: (bb.as_slice::<T>(), &bl),
                    shape,
                })
                .ok_or_else(unsupported),
                Err(unsupported())
            ),
            BinaryKind::Compare => crate::with_dtype!(
                dtype,
                T,
                op.map_compare::<T, _>(ZipKernel {
                    a: (ab.as_slice::<T>(), &al),
                    b: (bb.as_slice::<T>(), &bl),
                    shape,
                })
                .ok_or_else(unsupported)
            ),
            BinaryKind::Bitwise => {
                macro_rules! bits {
                    ($T:ty) => {
                        op.map_bitwise::<$T, _>(ZipKernel {
                            a: (ab.as_slice::<$T>(), &al),
                            b: (bb.as_slice::<$T>(), &bl),
                            shape,
                        })
                        .ok_or_else(unsupported)
                    };
                }
                match dtype {
                    DType::Bool => bits!(bool),
                    DType::U8 => bits!(u8),
                    DType::I8 => bits!(i8),
                    DType::I16 => bits!(i16),
                    DType::I32 => bits!(i32),
                    DType::I64 => bits!(i64),
                    _ => Err(unsupported()),
                }
            }
        }
    }

    fn where_(
        cond: Arg<'_, HostBuffer>,
        a: Arg<'_, HostBuffer>,
        b: Arg<'_, HostBuffer>,
        dtype: DType,
        shape: &[usize],
    ) -> Result<HostBuffer> {
        fits_in_memory(shape, dtype)?;
        let (cb, cl) = materialize(cond, DType::Bool);
        let (ab, al) = materialize(a, dtype);
        let (bb, bl) = materialize(b, dtype);
        Ok(crate::with_dtype!(
            dtype,
            T,
            HostBuffer::from_vec(zip3(
                (cb.as_slice::<bool>(), &cl),
                (ab.as_slice::<T>(), &al),
                (bb.as_slice::<T>(), &bl),
                shape,
                |c, x, y| if c { x } else { y },
            ))
        ))
    }

    fn reduce(
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
            return Ok(narrow(Self::reduce(&w, &wl, rows, len, op)?, dtype));
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
                ReduceOp::Sum if is_leading_block(l, rows) => {
                    reduce::sum_leading(&data[l.offset..l.offset + l.numel()], rows)
                }
                ReduceOp::Sum => reduce::sum_rows(&rows_of(data, l), rows, len),
                ReduceOp::Prod => reduce::prod_rows(&rows_of(data, l), rows, len),
                ReduceOp::Max | ReduceOp::Min => {
                    reduce::arg_extreme_rows(&rows_of(data, l), len, op == ReduceOp::Max)
                        .into_iter()
                        .map(|p| p.0)
                        .collect()
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

    fn arg_reduce(
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
            let (v, i) = Self::arg_reduce(&w, &wl, _rows, len, max)?;
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

    fn scan(
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
            return Ok(narrow(Self::scan(&w, &wl, _rows, len, op)?, dtype));
        }
        match op {
            ScanOp::Cumsum => crate::with_numeric_dtype!(
                dtype,
                T,
                Ok(HostBuffer::from_vec(reduce::cumsum_rows(
                    &rows_of(x.as_slice::<T>(), l),
                    len
                ))),
                Err(not_implemented("cumsum", dtype))
            ),
            ScanOp::Cumprod => crate::with_numeric_dtype!(
                dtype,
                T,
                Ok(HostBuffer::from_vec(reduce::cumprod_rows(
                    &rows_of(x.as_slice::<T>(), l),
                    len
                ))),
                Err(not_implemented("cumprod", dtype))
            ),
            ScanOp::LogCumSumExp => crate::with_float_dtype!(
                dtype,
                T,
                Ok(HostBuffer::from_vec(reduce::logcumsumexp_rows(
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
                    Ok(HostBuffer::from_vec(reduce::softmax_rows(&rows, len, log)))
                },
                Err(not_implemented(op.kernel(), dtype))
            ),
        }
    }

    fn softmax_backward(
        y: Span<'_, HostBuffer>,
        g: Span<'_, HostBuffer>,
        len: usize,
        log: bool,
    ) -> Result<HostBuffer> {
        let dtype = y.buf.dtype();
        if dtype.is_half() {
            let (wy, wg) = (widen_span(&y), widen_span(&g));
            let w = Self::softmax_backward(whole(&wy), whole(&wg), len, log)?;
            return Self::cast(&w, &Layout::contiguous(&[w.len()]), dtype);
        }
        crate::with_float_dtype!(
            dtype,
            T,
            Ok(HostBuffer::from_vec(reduce::softmax_backward_rows(
                span::<T>(&y),
                span::<T>(&g),
                len,
                log
            ))),
            Err(not_implemented("softmax_backward", dtype))
        )
    }

    fn arg_scan(
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
            let (v, i) = Self::arg_scan(&w, &wl, _rows, len, max)?;
            return Ok((narrow(v, x.dtype()), i));
        }
        crate::with_numeric_dtype!(
            x.dtype(),
            T,
            {
                let (v, i) =
                    reduce::cum_extreme_rows::<T>(&rows_of(x.as_slice::<T>(), l), len, max);
                Ok((HostBuffer::from_vec(v), HostBuffer::from_vec(i)))
            },
            Err(not_implemented(
                if max { "cummax" } else { "cummin" },
                DType::Bool
            ))
        )
    }

    fn search_sorted(
        seq: &HostBuffer,
        _seq_rows: usize,
        len: usize,
        values: &HostBuffer,
        per_row: usize,
        right: bool,
        out: DType,
    ) -> Result<HostBuffer> {
        crate::with_dtype!(seq.dtype(), T, {
            let (s, v) = (seq.as_slice::<T>(), values.as_slice::<T>());
            Ok(match out {
                DType::I32 => {
                    HostBuffer::from_vec(search::search_sorted::<T, i32>(s, len, v, per_row, right))
                }
                _ => {
                    HostBuffer::from_vec(search::search_sorted::<T, i64>(s, len, v, per_row, right))
                }
            })
        })
    }

    fn sort(
        x: &HostBuffer,
        l: &Layout,
        _rows: usize,
        len: usize,
        descending: bool,
        k: usize,
    ) -> Result<HostBuffer> {
        fits_in_memory(&[_rows, k], DType::I64)?;
        Ok(HostBuffer::from_vec(crate::with_dtype!(
            x.dtype(),
            T,
            sort::sort_rows(&rows_of(x.as_slice::<T>(), l), len, descending, k)
        )))
    }

    fn matmul(
        a: &HostBuffer,
        ma: &MatBatch,
        b: &HostBuffer,
        mb: &MatBatch,
        (m, n, k): (usize, usize, usize),
        alpha: f64,
        acc: Option<HostBuffer>,
    ) -> Result<HostBuffer> {
        if acc.is_none() {
            fits_in_memory(&[ma.offsets.len().max(mb.offsets.len()), m, n], a.dtype())?;
        }
        if a.dtype().is_half() {
            let (wa, wb) = (widen_all(a), widen_all(b));
            let r = Self::matmul(
                &wa,
                ma,
                &wb,
                mb,
                (m, n, k),
                alpha,
                acc.as_ref().map(widen_all),
            )?;
            return Ok(narrow(r, a.dtype()));
        }
        crate::with_numeric_dtype!(
            a.dtype(),
            T,
            {
                let (a, b) = (a.as_slice::<T>(), b.as_slice::<T>());
                let alpha = T::from_f64(alpha);
                Ok(match acc {
                    None => HostBuffer::from_vec(matmul::batched(a, ma, b, mb, (m, n, k), alpha)),
                    Some(acc) => {
                        // SAFETY: `acc` was handed over by value: no other slice of it exists.
                        let out = unsafe { acc.as_mut_slice::<T>() };
                        matmul::batched_acc(a, ma, b, mb, (m, n, k), alpha, out);
                        acc
                    }
                })
            },
            Err(Error::NotImplemented(
                "\"addmm_impl_cpu_\" not implemented for 'Bool'".into()
            ))
        )
    }

    fn index(
        src: &HostBuffer,
        l: &Layout,
        indices: &[(&HostBuffer, &Layout)],
        index_shape: &[usize],
    ) -> Result<HostBuffer> {
        let mut out = index_shape.to_vec();
        out.extend_from_slice(&l.shape[indices.len().min(l.shape.len())..]);
        fits_in_memory(&out, src.dtype())?;
        fits_in_memory(index_shape, DType::I64)?;
        let idx: Vec<(&[i64], &Layout)> = indices
            .iter()
            .map(|(b, il)| (b.as_slice::<i64>(), *il))
            .collect();
        let offs = index::advanced_offsets(l, &idx, index_shape)?;
        let k = indices.len();
        let rest = Layout {
            shape: l.shape[k..].to_vec(),
            strides: l.strides[k..].to_vec(),
            offset: 0,
        };
        Ok(crate::with_dtype!(
            src.dtype(),
            T,
            HostBuffer::from_vec(index::gather_rows(src.as_slice::<T>(), &offs, &rest))
        ))
    }

    fn index_put(
        dst: &HostBuffer,
        l: &Layout,
        indices: &[(&HostBuffer, &Layout)],
        index_shape: &[usize],
        values: Arg<'_, HostBuffer>,
        accumulate: bool,
    ) -> Result<()> {
        let idx: Vec<(&[i64], &Layout)> = indices
            .iter()
            .map(|(b, il)| (b.as_slice::<i64>(), *il))
            .collect();
        let offs = index::advanced_offsets(l, &idx, index_shape)?;
        let k = indices.len();
        let rest = Layout {
            shape: l.shape[k..].to_vec(),
            strides: l.strides[k..].to_vec(),
            offset: 0,
        };
        let (vb, vl) = materialize(values, dst.dtype());
        crate::with_dtype!(dst.dtype(), T, {
            // SAFETY: `dst` is a fresh copy the op layer made for this call.
            let d = unsafe { dst.as_mut_slice::<T>() };
            index::put_rows(
                d,
                &offs,
                index_shape,
                &rest,
                vb.as_slice::<T>(),
                &vl,
                accumulate,
            );
        });
        Ok(())
    }

    fn gather(
        src: &HostBuffer,
        sl: &Layout,
        dim: usize,
        idx: &HostBuffer,
        il: &Layout,
    ) -> Result<HostBuffer> {
        fits_in_memory(&il.shape, src.dtype())?;
        Ok(crate::with_dtype!(
            src.dtype(),
            T,
            HostBuffer::from_vec(index::gather_dim(
                src.as_slice::<T>(),
                sl,
                dim,
                idx.as_slice::<i64>(),
                il
            )?)
        ))
    }

    fn scatter(
        dst: &HostBuffer,
        dl: &Layout,
        dim: usize,
        idx: &HostBuffer,
        il: &Layout,
        src: Arg<'_, HostBuffer>,
        accumulate: bool,
    ) -> Result<()> {
        let (sb, sl) = materialize(src, dst.dtype());
        crate::with_dtype!(dst.dtype(), T, {
            // SAFETY: `dst` is a fresh copy the op layer made for this call.
            let d = unsafe { dst.as_mut_slice::<T>() };
            index::scatter_dim(
                d,
                dl,
                dim,
                idx.as_slice::<i64>(),
                il,
                sb.as_slice::<T>(),
                &sl,
                accumulate,
            )
        })
    }

    fn nonzero(x: &HostBuffer, l: &Layout) -> Result<(HostBuffer, usize)> {
        let (v, count) = crate::with_dtype!(x.dtype(), T, index::nonzero(x.as_slice::<T>(), l));
        Ok((HostBuffer::from_vec(v), count))
    }

    fn random(_: usize, n: usize, dtype: DType, dist: Distribution) -> Result<HostBuffer> {
        fits_in_memory(&[n], dtype)?;
        Ok(crate::with_dtype!(
            dtype,
            T,
            HostBuffer::from_vec(random::sample::<T>(n, dist))
        ))
    }

    fn randperm(_: usize, n: usize) -> Result<HostBuffer> {
        Ok(HostBuffer::from_vec(random::randperm(n)))
    }

    fn manual_seed(_: usize, seed: u64) -> Result<()> {
        random::manual_seed(seed);
        Ok(())
    }

    fn cross_entropy(
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
            let (losses, row_w) = Self::cross_entropy(
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

    fn cross_entropy_backward(
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
            let d = Self::cross_entropy_backward(&w, &wl, target, tl, &ws)?;
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

    fn attention_softmax(
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
                Self::attention_softmax(&widen_all(x), a, wm.as_ref().map(|(m, l)| (m, *l)), keep)?;
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

    fn attention_softmax_backward(
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
            let gx = Self::attention_softmax_backward(
                &widen_all(y),
                &widen_all(g),
                rows,
                len,
                keep,
                scale,
            )?;
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

    fn sgd_step(
        p: Span<'_, HostBuffer>,
        g: Span<'_, HostBuffer>,
        buf: Option<Span<'_, HostBuffer>>,
        first: bool,
        o: &SgdOptions,
    ) -> Result<()> {
        if p.buf.dtype().is_half() {
            let (wp, wg) = (widen_span(&p), widen_span(&g));
            let wb = buf.as_ref().map(widen_span);
            Self::sgd_step(whole(&wp), whole(&wg), wb.as_ref().map(whole), first, o)?;
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
                let (ps, bs) =
                    unsafe { (span_mut::<T>(&p), buf.as_ref().map(|b| span_mut::<T>(b))) };
                fused::sgd(ps, span::<T>(&g), bs, first, o);
                Ok(())
            },
            Err(not_implemented("sgd", p.buf.dtype()))
        )
    }

    fn adam_step(
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
            Self::adam_step(
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

    fn unfold(x: &HostBuffer, l: &Layout, w: &Window) -> Result<HostBuffer> {
        let (n, c) = (l.shape[0], l.shape[1]);
        fits_in_memory(&[n, c, w.kernel_numel(), w.output_numel()], x.dtype())?;
        Ok(crate::with_dtype!(
            x.dtype(),
            T,
            HostBuffer::from_vec(window::unfold(x.as_slice::<T>(), l, w))
        ))
    }
    fn fold(cols: &HostBuffer, l: &Layout, w: &Window) -> Result<HostBuffer> {
        let dtype = cols.dtype();
        if dtype.is_half() {
            let (c, cl) = widen(cols, l);
            return Ok(narrow(Self::fold(&c, &cl, w)?, dtype));
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
    fn max_pool(x: &HostBuffer, l: &Layout, w: &Window) -> Result<(HostBuffer, HostBuffer)> {
        fits_in_memory(&[l.shape[0], l.shape[1], w.output_numel()], DType::I64)?;
        let dtype = x.dtype();
        if dtype.is_half() {
            let (c, cl) = widen(x, l);
            let (v, i) = Self::max_pool(&c, &cl, w)?;
            return Ok((narrow(v, dtype), i));
        }
        crate::with_numeric_dtype!(
            dtype,
            T,
            {
                let (v, i) = window::max_pool(x.as_slice::<T>(), l, w);
                Ok((HostBuffer::from_vec(v), HostBuffer::from_vec(i)))
            },
            Err(not_implemented("max_pool", dtype))
        )
    }
    fn max_pool_backward(
        g: &HostBuffer,
        gl: &Layout,
        idx: &HostBuffer,
        w: &Window,
    ) -> Result<HostBuffer> {
        let dtype = g.dtype();
        if dtype.is_half() {
            let (c, cl) = widen(g, gl);
            return Ok(narrow(Self::max_pool_backward(&c, &cl, idx, w)?, dtype));
        }
        crate::with_float_dtype!(
            dtype,
            T,
            Ok(HostBuffer::from_vec(window::max_pool_backward(
                g.as_slice::<T>(),
                gl,
                idx.as_slice::<i64>(),
                w
            ))),
            Err(not_implemented("max_pool_backward", dtype))
        )
    }
    fn roi_pool(
        x: &HostBuffer,
        rois: &HostBuffer,
        p: &RoiPool,
    ) -> Result<(HostBuffer, HostBuffer)> {
        let dtype = x.dtype();
        if dtype.is_half() {
            let (xw, rw) = (widen_all(x), widen_all(rois));
            let (v, i) = Self::roi_pool(&xw, &rw, p)?;
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
    fn roi_pool_backward(
        g: &HostBuffer,
        idx: &HostBuffer,
        rois: &HostBuffer,
        p: &RoiPool,
    ) -> Result<HostBuffer> {
        let dtype = g.dtype();
        if dtype.is_half() {
            let (gw, rw) = (widen_all(g), widen_all(rois));
            return Ok(narrow(Self::roi_pool_backward(&gw, idx, &rw, p)?, dtype));
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
    fn roi_align(x: &HostBuffer, rois: &HostBuffer, p: &RoiAlign) -> Result<HostBuffer> {
        let dtype = x.dtype();
        if dtype.is_half() {
            let (xw, rw) = (widen_all(x), widen_all(rois));
            return Ok(narrow(Self::roi_align(&xw, &rw, p)?, dtype));
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
    fn roi_align_backward(g: &HostBuffer, rois: &HostBuffer, p: &RoiAlign) -> Result<HostBuffer> {
        let dtype = g.dtype();
        if dtype.is_half() {
            let (gw, rw) = (widen_all(g), widen_all(rois));
            return Ok(narrow(Self::roi_align_backward(&gw, &rw, p)?, dtype));
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
    fn nms(boxes: &HostBuffer, iou_threshold: f64) -> Result<Vec<usize>> {
        let dtype = boxes.dtype();
        if dtype.is_half() {
            return Self::nms(&widen_all(boxes), iou_threshold);
        }
        crate::with_float_dtype!(
            dtype,
            T,
            Ok(roi::nms(boxes.as_slice::<T>(), iou_threshold)),
            Err(not_implemented("nms", dtype))
        )
    }
    fn avg_pool(x: &HostBuffer, l: &Layout, w: &Window, d: AvgDivisor) -> Result<HostBuffer> {
        fits_in_memory(&[l.shape[0], l.shape[1], w.output_numel()], x.dtype())?;
        let dtype = x.dtype();
        if dtype.is_half() {
            let (c, cl) = widen(x, l);
            return Ok(narrow(Self::avg_pool(&c, &cl, w, d)?, dtype));
        }
        crate::with_float_dtype!(
            dtype,
            T,
            Ok(HostBuffer::from_vec(window::avg_pool(
                x.as_slice::<T>(),
                l,
                w,
                d
            ))),
            Err(not_implemented("avg_pool", dtype))
        )
    }
    fn avg_pool_backward(
        g: &HostBuffer,
        l: &Layout,
        w: &Window,
        d: AvgDivisor,
    ) -> Result<HostBuffer> {
        let dtype = g.dtype();
        if dtype.is_half() {
            let (c, cl) = widen(g, l);
            return Ok(narrow(Self::avg_pool_backward(&c, &cl, w, d)?, dtype));
        }
        crate::with_float_dtype!(
            dtype,
            T,
            Ok(HostBuffer::from_vec(window::avg_pool_backward(
                g.as_slice::<T>(),
                l,
                w,
                d
            ))),
            Err(not_implemented("avg_pool_backward", dtype))
        )
    }

    fn conv2d_direct(
        x: &HostBuffer,
        xl: &Layout,
        w: &HostBuffer,
        wl: &Layout,
        bias: Option<(&HostBuffer, &Layout)>,
        padding: [usize; 2],
    ) -> Result<Option<HostBuffer>> {
        let (ws, dtype) = (&wl.shape, x.dtype());
        if !conv::fits(ws[1], ws[0], ws[2], ws[3]) {
            return Ok(None);
        }
        let (xs, p) = (&xl.shape, padding);
        let out = |d: usize| (xs[d] + 2 * p[d - 2] + 1).saturating_sub(ws[d]);
        fits_in_memory(&[xs[0], ws[0], out(2), out(3)], dtype)?;
        macro_rules! run {
            ($t:ty) => {
                HostBuffer::from_vec(conv::forward(
                    x.as_slice::<$t>(),
                    xl,
                    w.as_slice::<$t>(),
                    wl,
                    bias.map(|(b, l)| (b.as_slice::<$t>(), l)),
                    padding,
                ))
            };
        }
        Ok(match dtype {
            DType::F32 => Some(run!(f32)),
            DType::F64 => Some(run!(f64)),
            _ => None,
        })
    }

    fn conv2d_direct_input_grad(
        g: &HostBuffer,
        gl: &Layout,
        w: &HostBuffer,
        wl: &Layout,
        padding: [usize; 2],
    ) -> Result<Option<HostBuffer>> {
        let ws = &wl.shape;
        // The turned-around weight has the channel counts swapped.
        if !conv::fits_input_grad(ws[0], ws[1], ws[2], ws[3])
            || padding[0] >= ws[2]
            || padding[1] >= ws[3]
        {
            return Ok(None);
        }
        macro_rules! run {
            ($t:ty) => {
                HostBuffer::from_vec(conv::input_grad(
                    g.as_slice::<$t>(),
                    gl,
                    w.as_slice::<$t>(),
                    wl,
                    padding,
                ))
            };
        }
        Ok(match g.dtype() {
            DType::F32 => Some(run!(f32)),
            DType::F64 => Some(run!(f64)),
            _ => None,
        })
    }

    fn conv2d_direct_weight_grad(
        x: &HostBuffer,
        xl: &Layout,
        g: &HostBuffer,
        gl: &Layout,
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Option<HostBuffer>> {
        if !conv::fits(xl.shape[1], gl.shape[1], kernel[0], kernel[1]) {
            return Ok(None);
        }
        macro_rules! run {
            ($t:ty) => {
                conv::weight_grad(
                    x.as_slice::<$t>(),
                    xl,
                    g.as_slice::<$t>(),
                    gl,
                    kernel,
                    padding,
                )
                .map(HostBuffer::from_vec)
            };
        }
        Ok(match x.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            _ => None,
        })
    }

    fn conv_tiled(
        x: &HostBuffer,
        xl: &Layout,
        w: &HostBuffer,
        bias: Option<&HostBuffer>,
        win: &Window,
    ) -> Result<Option<HostBuffer>> {
        let cout = w.len() / (xl.shape[1] * win.kernel_numel()).max(1);
        fits_in_memory(&[xl.shape[0], cout, win.output_numel()], x.dtype())?;
        let winograd = crate::with_float_dtype!(
            x.dtype(),
            T,
            winograd::forward(
                x.as_slice::<T>(),
                xl,
                w.as_slice(),
                bias.map(|b| b.as_slice()),
                win
            )
            .map(HostBuffer::from_vec),
            None
        );
        if winograd.is_some() {
            return Ok(winograd);
        }
        let Some(tiles) = im2col::Tiles::new(xl.shape[0], win.output_numel()) else {
            return Ok(None);
        };
        Ok(crate::with_float_dtype!(
            x.dtype(),
            T,
            Some(HostBuffer::from_vec(im2col::forward(
                x.as_slice::<T>(),
                xl,
                w.as_slice(),
                bias.map(|b| b.as_slice()),
                win,
                tiles
            ))),
            None
        ))
    }
    fn conv_tiled_input_grad(
        g: &HostBuffer,
        n: usize,
        w: &HostBuffer,
        cin: usize,
        win: &Window,
    ) -> Result<Option<HostBuffer>> {
        fits_in_memory(&[n, cin, win.input_numel()], g.dtype())?;
        let winograd = crate::with_float_dtype!(
            g.dtype(),
            T,
            winograd::input_grad(g.as_slice::<T>(), n, w.as_slice(), cin, win)
                .map(HostBuffer::from_vec),
            None
        );
        if winograd.is_some() {
            return Ok(winograd);
        }
        let Some(tiles) = im2col::Tiles::new(n, win.output_numel()) else {
            return Ok(None);
        };
        Ok(crate::with_float_dtype!(
            g.dtype(),
            T,
            Some(HostBuffer::from_vec(im2col::input_grad(
                g.as_slice::<T>(),
                w.as_slice(),
                cin,
                win,
                tiles
            ))),
            None
        ))
    }
    fn conv_tiled_weight_grad(
        x: &HostBuffer,
        xl: &Layout,
        g: &HostBuffer,
        cout: usize,
        win: &Window,
    ) -> Result<Option<HostBuffer>> {
        let winograd = crate::with_float_dtype!(
            x.dtype(),
            T,
            winograd::weight_grad(x.as_slice::<T>(), xl, g.as_slice(), cout, win)
                .map(HostBuffer::from_vec),
            None
        );
        if winograd.is_some() {
            return Ok(winograd);
        }
        let Some(tiles) = im2col::Tiles::new(xl.shape[0], win.output_numel()) else {
            return Ok(None);
        };
        Ok(crate::with_float_dtype!(
            x.dtype(),
            T,
            Some(HostBuffer::from_vec(im2col::weight_grad(
                x.as_slice::<T>(),
                xl,
                g.as_slice(),
                cout,
                win,
                tiles
            ))),
            None
        ))
    }
    fn channel_stats(x: &HostBuffer, dims: [usize; 3]) -> Result<(HostBuffer, HostBuffer)> {
        let x = half_widened(x);
        crate::with_float_dtype!(
            x.dtype(),
            T,
            {
                let (m, v) = norm::stats(x.as_slice::<T>(), dims);
                Ok((HostBuffer::from_vec(m), HostBuffer::from_vec(v)))
            },
            Err(not_implemented("batch_norm", x.dtype()))
        )
    }
    fn channel_grad_sums(
        g: &HostBuffer,
        x: &HostBuffer,
        mean: &HostBuffer,
        dims: [usize; 3],
    ) -> Result<(HostBuffer, HostBuffer)> {
        let (g, x) = (half_widened(g), half_widened(x));
        crate::with_float_dtype!(
            x.dtype(),
            T,
            {
                let (sg, sgx) =
                    norm::grad_sums(g.as_slice::<T>(), x.as_slice(), mean.as_slice(), dims);
                Ok((HostBuffer::from_vec(sg), HostBuffer::from_vec(sgx)))
            },
            Err(not_implemented("batch_norm_backward", x.dtype()))
        )
    }
    fn channel_affine(
        x: &HostBuffer,
        [center, a, b]: [&HostBuffer; 3],
        y: Option<(&HostBuffer, &HostBuffer)>,
        dims: [usize; 3],
    ) -> Result<HostBuffer> {
        let dtype = x.dtype();
        let xw = half_widened(x);
        let yw = y.map(|(y, _)| half_widened(y));
        let out = crate::with_float_dtype!(
            xw.dtype(),
            T,
            {
                let k = norm::Coefficients {
                    center: center.as_slice::<T>(),
                    a: a.as_slice(),
                    b: b.as_slice(),
                    d: y.map_or(&[][..], |(_, d)| d.as_slice()),
                };
                let ys = yw.as_ref().map_or(&[][..], |y| y.as_slice::<T>());
                HostBuffer::from_vec(norm::affine(xw.as_slice::<T>(), ys, &k, dims))
            },
            return Err(not_implemented("batch_norm", dtype))
        );
        Ok(narrow(out, dtype))
    }

    fn layer_norm(
        x: &HostBuffer,
        w: Option<&HostBuffer>,
        b: Option<&HostBuffer>,
        [rows, len]: [usize; 2],
        eps: f64,
    ) -> Result<[HostBuffer; 3]> {
        let dtype = x.dtype();
        let (xw, ww, bw) = (half_widened(x), w.map(half_widened), b.map(half_widened));
        crate::with_float_dtype!(
            xw.dtype(),
            T,
            {
                let [y, mean, rstd] = norm::layer_norm(
                    &xw.as_slice::<T>()[..rows * len],
                    ww.as_ref().map_or(&[][..], |w| w.as_slice()),
                    bw.as_ref().map_or(&[][..], |b| b.as_slice()),
                    len,
                    eps,
                );
                Ok([
                    narrow(HostBuffer::from_vec(y), dtype),
                    HostBuffer::from_vec(mean),
                    HostBuffer::from_vec(rstd),
                ])
            },
            Err(not_implemented("LayerNormKernelImpl", dtype))
        )
    }
    fn layer_norm_backward(
        g: &HostBuffer,
        x: &HostBuffer,
        [mean, rstd]: [&HostBuffer; 2],
        w: Option<&HostBuffer>,
        [rows, len]: [usize; 2],
        params: bool,
    ) -> Result<LayerNormGrads<HostBuffer>> {
        let dtype = x.dtype();
        let (gw, xw, ww) = (half_widened(g), half_widened(x), w.map(half_widened));
        crate::with_float_dtype!(
            xw.dtype(),
            T,
            {
                let n = rows * len;
                let (gx, sums) = norm::layer_norm_backward(
                    &gw.as_slice::<T>()[..n],
                    &xw.as_slice()[..n],
                    [mean.as_slice(), rstd.as_slice()],
                    ww.as_ref().map_or(&[][..], |w| w.as_slice()),
                    len,
                    params,
                );
                Ok((
                    narrow(HostBuffer::from_vec(gx), dtype),
                    sums.map(|(a, b)| (HostBuffer::from_vec(a), HostBuffer::from_vec(b))),
                ))
            },
            Err(not_implemented("LayerNormBackwardKernelImpl", dtype))
        )
    }

    fn rnn_forward(
        run: &RnnRun<'_>,
        gates: HostBuffer,
        w_hh: &HostBuffer,
        b_hh: Option<&HostBuffer>,
        h0: &HostBuffer,
        c0: Option<&HostBuffer>,
    ) -> Result<RnnSaved<HostBuffer>> {
        crate::with_float_dtype!(
            gates.dtype(),
            T,
            {
                // SAFETY: `gates` was handed over by value: no other slice of it exists.
                let g = unsafe { gates.as_mut_slice::<T>() };
                let f = rnn::forward(
                    run,
                    g,
                    w_hh.as_slice(),
                    b_hh.map_or(&[][..], |b| b.as_slice()),
                    h0.as_slice(),
                    c0.map_or(&[][..], |c| c.as_slice()),
                );
                Ok(RnnSaved {
                    gates,
                    h: HostBuffer::from_vec(f.h),
                    extra: f.extra.map(HostBuffer::from_vec),
                })
            },
            Err(not_implemented("rnn", gates.dtype()))
        )
    }
    fn rnn_backward(
        run: &RnnRun<'_>,
        saved: RnnSaved<&HostBuffer>,
        w_hh: &HostBuffer,
        h0: &HostBuffer,
        c0: Option<&HostBuffer>,
        dout: Option<&HostBuffer>,
        dh_n: Option<&HostBuffer>,
        dc_n: Option<&HostBuffer>,
    ) -> Result<RnnGrads<HostBuffer>> {
        crate::with_float_dtype!(
            w_hh.dtype(),
            T,
            {
                let s = rnn::Saved {
                    gates: saved.gates.as_slice::<T>(),
                    h: saved.h.as_slice(),
                    extra: or_empty(saved.extra),
                    h0: h0.as_slice(),
                    c0: or_empty(c0),
                    dout: or_empty(dout),
                    dh_n: or_empty(dh_n),
                    dc_n: or_empty(dc_n),
                };
                let b = rnn::backward(run, &s, w_hh.as_slice());
                Ok(RnnGrads {
                    gates: HostBuffer::from_vec(b.gates),
                    hidden_gates: b.hidden_gates.map(HostBuffer::from_vec),
                    h0: HostBuffer::from_vec(b.h0),
                    c0: b.c0.map(HostBuffer::from_vec),
                })
            },
            Err(not_implemented("rnn_backward", w_hh.dtype()))
        )
    }
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
