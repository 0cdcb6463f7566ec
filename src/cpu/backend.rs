//! The CPU backend: each op family of [`Backend`] on host buffers, dispatching on the dtype
//! to the generic kernels of this directory. The families with more than a line or two of
//! dispatch (reductions, indexing, fused steps, attention, windows, convolutions,
//! normalization, recurrent layers) are in the modules beside this file; this file routes to
//! them and holds the rest, with the helpers they share.

use super::copy::{
    convert_gather, copy_into, f16_to_f32_run, f32_to_f16_run, fill, gather, gather_map,
};
use super::elementwise::{fused3, map, map_in_place, zip, zip3};
use super::{matmul, random, search, sort};

use crate::backend::op::{BinaryKind, MapFn, ZipFn};
use crate::backend::{
    check_host_alloc, AdamOptions, Arg, AttnRows, AvgDivisor, Backend, BinaryOp, Distribution,
    Fused3, HostBuffer, LayerNormGrads, MatBatch, ReduceOp, ResampleAxis, RnnGrads, RnnInput,
    RnnRun, RnnSaved, RoiAlign, RoiPool, ScanOp, SgdOptions, Span, UnaryOp, Window,
};
use crate::error::{Error, Result};
use crate::tensor::dtype::{cast, DType, Element, Scalar};
use crate::tensor::layout::Layout;
use std::borrow::Cow;

mod attention;
mod conv;
mod fused;
mod index;
mod norm;
mod reduce;
mod rnn;
mod window;

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
    let w = match x.dtype() {
        DType::F16 => f16_to_f32(x, l),
        d => crate::with_dtype!(
            d,
            S,
            HostBuffer::from_vec(gather_map(x.as_slice::<S>(), l, cast::<S, f32>))
        ),
    };
    (w, Layout::contiguous(&l.shape))
}

/// The float16 view `l` of `x` as a contiguous float32 buffer, converted eight lanes at a
/// time (F16C) where it is contiguous: bit for bit the per-element `cast`.
fn f16_to_f32(x: &HostBuffer, l: &Layout) -> HostBuffer {
    let src = x.as_slice::<half::f16>();
    HostBuffer::from_vec(convert_gather(
        src,
        l,
        f16_to_f32_run,
        cast::<half::f16, f32>,
    ))
}

/// The float32 view `l` of `x` rounded to a contiguous float16 buffer, as [`f16_to_f32`]
/// the other way.
fn f32_to_f16(x: &HostBuffer, l: &Layout) -> HostBuffer {
    let src = x.as_slice::<f32>();
    HostBuffer::from_vec(convert_gather(
        src,
        l,
        f32_to_f16_run,
        cast::<f32, half::f16>,
    ))
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

/// Runs a unary element function over a contiguous run, in place.
struct MapInPlace<'a, T>(&'a mut [T]);
impl<T: Element> MapFn<T> for MapInPlace<'_, T> {
    type Out = ();
    fn call<F: Fn(T) -> T + Sync + Send + Copy>(self, f: F) {
        map_in_place(self.0, f)
    }
}

/// Runs a binary element function of each element of a contiguous run and a number, in
/// place.
struct ZipScalarInPlace<'a, T>(&'a mut [T], T);
impl<T: Element> ZipFn<T, T> for ZipScalarInPlace<'_, T> {
    type Out = ();
    fn call<F: Fn(T, T) -> T + Sync + Send + Copy>(self, f: F) {
        let s = self.1;
        map_in_place(self.0, move |v| f(v, s))
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

/// Where a `rows × len` arrangement lies in memory as a contiguous `outer × rows × inner`
/// block (`outer · inner = len`): the reduced dims split into a leading and a trailing run
/// around the kept ones, as in a reduction over the leading dims (a bias gradient, where
/// `inner` is one) or over the batch and the spatial dims of an NCHW tensor (a
/// convolution's bias gradient). Such a sum is read in place instead of being gathered
/// into rows first. Returns `(outer, inner)` for the smallest `outer` that fits, `None`
/// when no split does.
fn middle_block(l: &Layout, rows: usize) -> Option<(usize, usize)> {
    let mut prod = 1;
    // The kept dims: the leading ones whose sizes multiply to `rows`.
    let k = (0..=l.shape.len()).find(|&k| {
        if k > 0 {
            prod *= l.shape[k - 1];
        }
        prod == rows
    })?;
    let reduced = l.shape.len() - k;
    (0..=reduced).find_map(|j| {
        let order = (k..k + j).chain(0..k).chain(k + j..l.shape.len());
        let (shape, strides): (Vec<usize>, Vec<isize>) =
            order.map(|d| (l.shape[d], l.strides[d])).unzip();
        let moved = Layout {
            shape,
            strides,
            offset: l.offset,
        };
        moved.is_contiguous().then(|| {
            let outer: usize = l.shape[k..k + j].iter().product();
            (outer, l.shape[k + j..].iter().product())
        })
    })
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
        match (x.dtype(), dtype) {
            (DType::F32, DType::F16) => return Ok(f32_to_f16(x, l)),
            (DType::F16, DType::F32) => return Ok(f16_to_f32(x, l)),
            _ => {}
        }
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

    fn unary_(x: Span<'_, HostBuffer>, op: UnaryOp) -> Result<()> {
        let range = x.offset..x.offset + x.len;
        match x.buf.dtype() {
            // SAFETY (both): the op layer hands in a run of a tensor that nothing else reads
            // or writes while the op runs (an in-place op on it).
            DType::F32 => op.map_float(MapInPlace(unsafe {
                &mut x.buf.as_mut_slice::<f32>()[range]
            })),
            DType::F64 => op.map_float(MapInPlace(unsafe {
                &mut x.buf.as_mut_slice::<f64>()[range]
            })),
            _ => {
                // 16-bit floats compute in float32: through a copy.
                let l = Layout {
                    offset: x.offset,
                    ..Layout::contiguous(&[x.len])
                };
                let out = Self::unary(x.buf, &l, op)?;
                return Self::copy_into(x.buf, &l, Arg::Buf(&out, &Layout::contiguous(&[x.len])));
            }
        }
        Ok(())
    }

    fn binary_scalar_(x: Span<'_, HostBuffer>, s: Scalar, op: BinaryOp) -> Result<()> {
        let range = x.offset..x.offset + x.len;
        let done = match x.buf.dtype() {
            // SAFETY (both): as in `unary_`, a run of a tensor that nothing else reads or
            // writes while the in-place op runs.
            DType::F32 => op.map_arith(ZipScalarInPlace(
                unsafe { &mut x.buf.as_mut_slice::<f32>()[range] },
                s.to_elem(),
            )),
            DType::F64 => op.map_arith(ZipScalarInPlace(
                unsafe { &mut x.buf.as_mut_slice::<f64>()[range] },
                s.to_elem(),
            )),
            d => {
                // 16-bit floats compute in float32: through a result copied back.
                let l = Layout {
                    offset: x.offset,
                    ..Layout::contiguous(&[x.len])
                };
                let out = Self::binary(Arg::Buf(x.buf, &l), Arg::Scalar(s), d, &[x.len], op)?;
                return Self::copy_into(x.buf, &l, Arg::Buf(&out, &Layout::contiguous(&[x.len])));
            }
        };
        done.ok_or_else(|| not_implemented(op.kernel(), x.buf.dtype()))
    }

    fn binary(
        a: Arg<'_, HostBuffer>,
        b: Arg<'_, HostBuffer>,
        dtype: DType,
        shape: &[usize],
        op: BinaryOp,
    ) -> Result<HostBuffer> {
        fits_in_memory(shape, dtype)?;
        if dtype.is_half() {
            // A number (or a one-element float32 operand the op layer kept) joins in float32.
            let wide = |x: Arg<'_, HostBuffer>| match x {
                Arg::Buf(b, l) => widen(b, l),
                Arg::Scalar(s) => (
                    HostBuffer::from_vec(vec![s.to_elem::<f32>()]),
                    Layout::contiguous(&[]),
                ),
            };
            let ((wa, wal), (wb, wbl)) = (wide(a), wide(b));
            let r = Self::binary(
                Arg::Buf(&wa, &wal),
                Arg::Buf(&wb, &wbl),
                DType::F32,
                shape,
                op,
            )?;
            return Ok(narrow(r, dtype));
        }
        let (ab, al) = materialize(a, dtype);
        let (bb, bl) = materialize(b, dtype);
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

    fn fused3<'a>(
        a: Arg<'a, HostBuffer>,
        b: Arg<'a, HostBuffer>,
        c: Arg<'a, HostBuffer>,
        dtype: DType,
        shape: &[usize],
        op: Fused3,
    ) -> Result<HostBuffer> {
        fits_in_memory(shape, dtype)?;
        if dtype.is_half() {
            // In float32, rounded once to the 16-bit type, as PyTorch's kernels.
            let wide = |a: Arg<'a, HostBuffer>| match a {
                Arg::Buf(b, l) => {
                    let (wb, wl) = widen(b, l);
                    (Cow::Owned(wb), Cow::Owned(wl))
                }
                Arg::Scalar(_) => materialize(a, DType::F32),
            };
            let ((ab, al), (bb, bl), (cb, cl)) = (wide(a), wide(b), wide(c));
            let out = fused3::<f32>(
                (ab.as_slice::<f32>(), &al),
                (bb.as_slice::<f32>(), &bl),
                (cb.as_slice::<f32>(), &cl),
                shape,
                op,
            );
            return Ok(narrow(HostBuffer::from_vec(out), dtype));
        }
        let (ab, al) = materialize(a, dtype);
        let (bb, bl) = materialize(b, dtype);
        let (cb, cl) = materialize(c, dtype);
        crate::with_float_dtype!(
            dtype,
            T,
            {
                Ok(HostBuffer::from_vec(fused3::<T>(
                    (ab.as_slice::<T>(), &al),
                    (bb.as_slice::<T>(), &bl),
                    (cb.as_slice::<T>(), &cl),
                    shape,
                    op,
                )))
            },
            Err(not_implemented("fused3", dtype))
        )
    }

    fn reduce(
        x: &HostBuffer,
        l: &Layout,
        rows: usize,
        len: usize,
        op: ReduceOp,
    ) -> Result<HostBuffer> {
        reduce::reduce(x, l, rows, len, op)
    }

    fn arg_reduce(
        x: &HostBuffer,
        l: &Layout,
        _rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(HostBuffer, HostBuffer)> {
        reduce::arg_reduce(x, l, _rows, len, max)
    }

    fn scan(
        x: &HostBuffer,
        l: &Layout,
        _rows: usize,
        len: usize,
        op: ScanOp,
    ) -> Result<HostBuffer> {
        reduce::scan(x, l, _rows, len, op)
    }

    fn scan_middle(
        x: &HostBuffer,
        offset: usize,
        dims: [usize; 3],
        op: ScanOp,
    ) -> Result<Option<HostBuffer>> {
        reduce::scan_middle(x, offset, dims, op)
    }

    fn softmax_backward(
        y: Span<'_, HostBuffer>,
        g: Span<'_, HostBuffer>,
        len: usize,
        log: bool,
    ) -> Result<HostBuffer> {
        reduce::softmax_backward(y, g, len, log)
    }

    fn arg_scan(
        x: &HostBuffer,
        l: &Layout,
        _rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(HostBuffer, HostBuffer)> {
        reduce::arg_scan(x, l, _rows, len, max)
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
        index::index(src, l, indices, index_shape)
    }

    fn index_put(
        dst: &HostBuffer,
        l: &Layout,
        indices: &[(&HostBuffer, &Layout)],
        index_shape: &[usize],
        values: Arg<'_, HostBuffer>,
        accumulate: bool,
    ) -> Result<()> {
        index::index_put(dst, l, indices, index_shape, values, accumulate)
    }

    fn gather(
        src: &HostBuffer,
        sl: &Layout,
        dim: usize,
        idx: &HostBuffer,
        il: &Layout,
    ) -> Result<HostBuffer> {
        index::gather(src, sl, dim, idx, il)
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
        index::scatter(dst, dl, dim, idx, il, src, accumulate)
    }

    fn nonzero(x: &HostBuffer, l: &Layout) -> Result<(HostBuffer, usize)> {
        index::nonzero(x, l)
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
        fused::cross_entropy(x, l, target, tl, weight, ignore_index, label_smoothing)
    }

    fn cross_entropy_backward(
        x: &HostBuffer,
        l: &Layout,
        target: &HostBuffer,
        tl: &Layout,
        scale: &HostBuffer,
    ) -> Result<HostBuffer> {
        fused::cross_entropy_backward(x, l, target, tl, scale)
    }

    fn attention_softmax(
        x: &HostBuffer,
        a: &AttnRows,
        mask: Option<(&HostBuffer, &Layout)>,
        keep: Option<(&HostBuffer, f64)>,
    ) -> Result<(HostBuffer, Option<HostBuffer>)> {
        attention::attention_softmax(x, a, mask, keep)
    }

    fn attention_softmax_backward(
        y: &HostBuffer,
        g: &HostBuffer,
        rows: usize,
        len: usize,
        keep: Option<(&HostBuffer, f64)>,
        scale: f64,
    ) -> Result<HostBuffer> {
        attention::attention_softmax_backward(y, g, rows, len, keep, scale)
    }

    fn sgd_step(
        p: Span<'_, HostBuffer>,
        g: Span<'_, HostBuffer>,
        buf: Option<Span<'_, HostBuffer>>,
        first: bool,
        o: &SgdOptions,
    ) -> Result<()> {
        fused::sgd_step(p, g, buf, first, o)
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
        fused::adam_step(p, g, m, v, vmax, step, o)
    }

    fn unfold(x: &HostBuffer, l: &Layout, w: &Window) -> Result<HostBuffer> {
        window::unfold(x, l, w)
    }
    fn fold(cols: &HostBuffer, l: &Layout, w: &Window) -> Result<HostBuffer> {
        window::fold(cols, l, w)
    }
    fn max_pool(x: &HostBuffer, l: &Layout, w: &Window) -> Result<(HostBuffer, HostBuffer)> {
        window::max_pool(x, l, w)
    }
    fn max_pool_backward(
        g: &HostBuffer,
        gl: &Layout,
        idx: &HostBuffer,
        w: &Window,
    ) -> Result<HostBuffer> {
        window::max_pool_backward(g, gl, idx, w)
    }
    fn fractional_max_pool(
        x: &HostBuffer,
        l: &Layout,
        w: &Window,
        starts: &[usize],
    ) -> Result<(HostBuffer, HostBuffer)> {
        window::fractional_max_pool(x, l, w, starts)
    }
    fn roi_pool(
        x: &HostBuffer,
        rois: &HostBuffer,
        p: &RoiPool,
    ) -> Result<(HostBuffer, HostBuffer)> {
        window::roi_pool(x, rois, p)
    }
    fn roi_pool_backward(
        g: &HostBuffer,
        idx: &HostBuffer,
        rois: &HostBuffer,
        p: &RoiPool,
    ) -> Result<HostBuffer> {
        window::roi_pool_backward(g, idx, rois, p)
    }
    fn roi_align(x: &HostBuffer, rois: &HostBuffer, p: &RoiAlign) -> Result<HostBuffer> {
        window::roi_align(x, rois, p)
    }
    fn roi_align_backward(g: &HostBuffer, rois: &HostBuffer, p: &RoiAlign) -> Result<HostBuffer> {
        window::roi_align_backward(g, rois, p)
    }
    fn resample_axis(x: &HostBuffer, p: &ResampleAxis<f64>) -> Result<HostBuffer> {
        window::resample_axis(x, p)
    }
    fn resample_u8(x: &HostBuffer, p: &ResampleAxis<i16>, bits: u32) -> Result<HostBuffer> {
        window::resample_u8(x, p, bits)
    }
    fn nms(boxes: &HostBuffer, iou_threshold: f64) -> Result<Vec<usize>> {
        window::nms(boxes, iou_threshold)
    }
    fn avg_pool(x: &HostBuffer, l: &Layout, w: &Window, d: AvgDivisor) -> Result<HostBuffer> {
        window::avg_pool(x, l, w, d)
    }
    fn avg_pool_backward(
        g: &HostBuffer,
        l: &Layout,
        w: &Window,
        d: AvgDivisor,
    ) -> Result<HostBuffer> {
        window::avg_pool_backward(g, l, w, d)
    }

    fn conv2d_direct(
        x: &HostBuffer,
        xl: &Layout,
        w: &HostBuffer,
        wl: &Layout,
        bias: Option<(&HostBuffer, &Layout)>,
        padding: [usize; 2],
    ) -> Result<Option<HostBuffer>> {
        conv::conv2d_direct(x, xl, w, wl, bias, padding)
    }

    fn conv2d_direct_input_grad(
        g: &HostBuffer,
        gl: &Layout,
        w: &HostBuffer,
        wl: &Layout,
        padding: [usize; 2],
    ) -> Result<Option<HostBuffer>> {
        conv::conv2d_direct_input_grad(g, gl, w, wl, padding)
    }

    fn conv2d_direct_weight_grad(
        x: &HostBuffer,
        xl: &Layout,
        g: &HostBuffer,
        gl: &Layout,
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Option<HostBuffer>> {
        conv::conv2d_direct_weight_grad(x, xl, g, gl, kernel, padding)
    }

    fn conv_tiled(
        x: &HostBuffer,
        xl: &Layout,
        w: &HostBuffer,
        bias: Option<&HostBuffer>,
        win: &Window,
    ) -> Result<Option<HostBuffer>> {
        conv::conv_tiled(x, xl, w, bias, win)
    }
    fn conv_tiled_input_grad(
        g: &HostBuffer,
        n: usize,
        w: &HostBuffer,
        cin: usize,
        win: &Window,
    ) -> Result<Option<HostBuffer>> {
        conv::conv_tiled_input_grad(g, n, w, cin, win)
    }
    fn conv_tiled_weight_grad(
        x: &HostBuffer,
        xl: &Layout,
        g: &HostBuffer,
        cout: usize,
        win: &Window,
    ) -> Result<Option<HostBuffer>> {
        conv::conv_tiled_weight_grad(x, xl, g, cout, win)
    }
    fn channel_stats(x: &HostBuffer, dims: [usize; 3]) -> Result<(HostBuffer, HostBuffer)> {
        norm::channel_stats(x, dims)
    }
    fn channel_grad_sums(
        g: &HostBuffer,
        x: &HostBuffer,
        mean: &HostBuffer,
        dims: [usize; 3],
    ) -> Result<(HostBuffer, HostBuffer)> {
        norm::channel_grad_sums(g, x, mean, dims)
    }
    fn channel_affine(
        x: &HostBuffer,
        [center, a, b]: [&HostBuffer; 3],
        y: Option<(&HostBuffer, &HostBuffer)>,
        dims: [usize; 3],
    ) -> Result<HostBuffer> {
        norm::channel_affine(x, [center, a, b], y, dims)
    }

    fn layer_norm(
        x: &HostBuffer,
        w: Option<&HostBuffer>,
        b: Option<&HostBuffer>,
        [rows, len]: [usize; 2],
        eps: f64,
    ) -> Result<[HostBuffer; 3]> {
        norm::layer_norm(x, w, b, [rows, len], eps)
    }
    fn layer_norm_backward(
        g: &HostBuffer,
        x: &HostBuffer,
        [mean, rstd]: [&HostBuffer; 2],
        w: Option<&HostBuffer>,
        [rows, len]: [usize; 2],
        params: bool,
    ) -> Result<LayerNormGrads<HostBuffer>> {
        norm::layer_norm_backward(g, x, [mean, rstd], w, [rows, len], params)
    }

    fn rnn_forward(
        run: &RnnRun<'_>,
        input: RnnInput<&HostBuffer>,
        w_hh: &HostBuffer,
        b_hh: Option<&HostBuffer>,
        h0: &HostBuffer,
        c0: Option<&HostBuffer>,
    ) -> Result<RnnSaved<HostBuffer>> {
        rnn::rnn_forward(run, input, w_hh, b_hh, h0, c0)
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
        rnn::rnn_backward(run, saved, w_hh, h0, c0, dout, dh_n, dc_n)
    }
}
