//! Elementwise families on a GPU: fills, copies and casts, transfers, unary and binary
//! ops, `where`. Every kernel walks an iteration shape whose dims are merged wherever all
//! operands allow (a contiguous or merely broadcast operand walks as a few long runs), and
//! reads each operand through its own strides.

use super::buffer::CudaBuffer;
use super::device::{grid_for, Args, DeviceApi, Dims, KScalar, Kernel, View, MAX_DIMS};
use super::kernels::{BINARY, COPY, UNARY};
use crate::backend::op::BinaryKind;
use crate::backend::{Arg, BinaryOp, Fused3, HostBuffer, Span, UnaryOp};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::{broadcast_strides, coalesce, numel, Layout};
use std::sync::Arc;

/// The iteration of an elementwise kernel: `n` elements of a shape merged to `ndim` dims,
/// and one view per operand.
pub struct Iter<const N: usize> {
    pub n: usize,
    pub ndim: i32,
    pub sizes: Dims,
    pub views: [View; N],
}

/// The iteration over `shape` of operands laid out as `layouts` (each broadcast to `shape`;
/// `None` for an operand that is a number).
pub fn iter<const N: usize>(
    op: &str,
    shape: &[usize],
    layouts: [Option<&Layout>; N],
) -> Result<Iter<N>> {
    let strides: [Vec<isize>; N] = std::array::from_fn(|k| match layouts[k] {
        Some(l) => broadcast_strides(&l.shape, &l.strides, shape),
        None => vec![0; shape.len()],
    });
    let refs: [&[isize]; N] = std::array::from_fn(|k| strides[k].as_slice());
    let (merged, merged_strides) = coalesce(shape, refs);
    if merged.len() > MAX_DIMS {
        return Err(Error::NotImplemented(format!(
            "{op}: a view with more than {MAX_DIMS} dims that cannot be merged is not supported on CUDA (shape {shape:?})"
        )));
    }
    let mut sizes = Dims::default();
    for (d, &s) in merged.iter().enumerate() {
        sizes.v[d] = s as i64;
    }
    let views = std::array::from_fn(|k| {
        let mut v = View {
            offset: layouts[k].map_or(0, |l| l.offset as i64),
            ..View::default()
        };
        for (d, &s) in merged_strides[k].iter().enumerate() {
            v.strides.v[d] = s as i64;
        }
        v
    });
    Ok(Iter {
        n: numel(shape),
        ndim: merged.len() as i32,
        sizes,
        views,
    })
}

/// Launches `k` over `n` independent elements.
pub fn launch_elementwise(
    dev: &Arc<dyn DeviceApi>,
    k: Kernel,
    dtype: DType,
    n: usize,
    args: &mut Args,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let (grid, block) = grid_for(dev.as_ref(), n);
    dev.launch(k, dtype, grid, block, args)
}

/// `n` elements of `dtype`, all `value`, on `dev`.
pub fn full(dev: &Arc<dyn DeviceApi>, n: usize, dtype: DType, value: Scalar) -> Result<CudaBuffer> {
    let out = CudaBuffer::alloc(dev, n, dtype)?;
    fill(&out, &Layout::contiguous(&[n]), value)?;
    Ok(out)
}

/// Writes `value` into the view `l` of `dst`.
fn fill(dst: &CudaBuffer, l: &Layout, value: Scalar) -> Result<()> {
    let it = iter("fill", &l.shape, [Some(l)])?;
    let mut args = Args::new();
    args.arg(dst.device_ptr())
        .arg(it.n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[0])
        .arg(KScalar::from(value));
    let k = Kernel {
        file: &COPY,
        name: "fill",
    };
    launch_elementwise(dst.dev(), k, dst.dtype(), it.n, &mut args)
}

/// The copy kernel that reads elements of `src`.
fn copy_kernel(src: DType) -> Kernel {
    let name = match src {
        DType::Bool => "copy_from_b8",
        DType::U8 => "copy_from_u8",
        DType::I8 => "copy_from_i8",
        DType::I16 => "copy_from_i16",
        DType::I32 => "copy_from_i32",
        DType::I64 => "copy_from_i64",
        DType::F16 => "copy_from_f16",
        DType::BF16 => "copy_from_bf16",
        DType::F32 => "copy_from_f32",
        DType::F64 => "copy_from_f64",
    };
    Kernel { file: &COPY, name }
}

/// Writes `src` (broadcast to `dl`'s shape, cast to `dst`'s dtype) into the view `dl` of
/// `dst`.
pub fn copy_into(dst: &CudaBuffer, dl: &Layout, src: Arg<'_, CudaBuffer>) -> Result<()> {
    match src {
        Arg::Scalar(s) => fill(dst, dl, s),
        Arg::Buf(s, sl)
            if s.dtype() == dst.dtype()
                && sl.shape == dl.shape
                && sl.is_contiguous()
                && dl.is_contiguous()
                && s.device_ptr() != dst.device_ptr() =>
        {
            // Same dtype, both dense and distinct buffers: the copy engine's memcpy, at the
            // card's copy bandwidth.
            let bytes = numel(&dl.shape) * dst.dtype().size();
            dst.dev()
                .dtod(dst.ptr_at(dl.offset), s.ptr_at(sl.offset), bytes)
        }
        Arg::Buf(s, sl) => {
            let it = iter("copy_", &dl.shape, [Some(dl), Some(sl)])?;
            let mut args = Args::new();
            args.arg(dst.device_ptr())
                .arg(s.device_ptr())
                .arg(it.n as i64)
                .arg(it.ndim)
                .arg(it.sizes)
                .arg(it.views[0])
                .arg(it.views[1]);
            launch_elementwise(
                dst.dev(),
                copy_kernel(s.dtype()),
                dst.dtype(),
                it.n,
                &mut args,
            )
        }
    }
}

/// The view `l` of `x` as a fresh contiguous buffer of `dtype`.
pub fn cast(x: &CudaBuffer, l: &Layout, dtype: DType) -> Result<CudaBuffer> {
    let out = CudaBuffer::alloc(x.dev(), numel(&l.shape), dtype)?;
    copy_into(&out, &Layout::contiguous(&l.shape), Arg::Buf(x, l))?;
    Ok(out)
}

/// A copy of a host buffer on `dev`.
pub fn upload(dev: &Arc<dyn DeviceApi>, host: &HostBuffer) -> Result<CudaBuffer> {
    let out = CudaBuffer::alloc(dev, host.len(), host.dtype())?;
    dev.htod(out.device_ptr(), host.as_bytes())?;
    Ok(out)
}

/// The view `l` of `buf`, contiguous, in host memory; reports the failed checks of the
/// kernels before it.
pub fn download(buf: &CudaBuffer, l: &Layout) -> Result<HostBuffer> {
    let n = numel(&l.shape);
    let packed;
    let (src, start) = if l.is_contiguous() {
        (buf, l.offset)
    } else {
        packed = cast(buf, l, buf.dtype())?;
        (&packed, 0)
    };
    let host = HostBuffer::zeros(buf.dtype(), n);
    // SAFETY: `host` is fresh and only written here; the device writes 0 or 1 for bools.
    let bytes = unsafe { host.as_mut_bytes() };
    buf.dev().dtoh(bytes, src.ptr_at(start))?;
    buf.dev().take_error()?;
    Ok(host)
}

/// `op` of each element of the view `l` of `x`, contiguous.
pub fn unary(x: &CudaBuffer, l: &Layout, op: UnaryOp) -> Result<CudaBuffer> {
    let out = CudaBuffer::alloc(x.dev(), numel(&l.shape), x.dtype())?;
    launch_unary(x, l, out.device_ptr(), op)?;
    Ok(out)
}

/// `op` of each element of the contiguous run `x`, written back in place: each element is
/// read by the thread that then writes it.
pub fn unary_(x: Span<'_, CudaBuffer>, op: UnaryOp) -> Result<()> {
    let l = Layout {
        offset: x.offset,
        ..Layout::contiguous(&[x.len])
    };
    launch_unary(x.buf, &l, x.buf.ptr_at(x.offset), op)
}

/// Launches `op`'s kernel from the view `l` of `x` to the contiguous elements at `out`.
fn launch_unary(x: &CudaBuffer, l: &Layout, out: u64, op: UnaryOp) -> Result<()> {
    let it = iter(op.kernel(), &l.shape, [Some(l)])?;
    let [p0, p1] = op.params();
    let mut args = Args::new();
    args.arg(out)
        .arg(x.device_ptr())
        .arg(it.n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[0])
        .arg(p0)
        .arg(p1);
    let k = Kernel {
        file: &UNARY,
        name: op.kernel(),
    };
    launch_elementwise(x.dev(), k, x.dtype(), it.n, &mut args)
}

/// The device of the first buffer among elementwise operands (one always is).
fn device_of<'a>(args: &[Arg<'a, CudaBuffer>]) -> Result<&'a Arc<dyn DeviceApi>> {
    args.iter()
        .find_map(|a| match a {
            Arg::Buf(b, _) => Some(b.dev()),
            Arg::Scalar(_) => None,
        })
        .ok_or_else(|| Error::Runtime("internal error: a GPU op with no GPU operand".into()))
}

/// An operand's pointer, layout (if a buffer) and value (if a number).
fn parts<'a>(a: Arg<'a, CudaBuffer>) -> (u64, Option<&'a Layout>, KScalar) {
    match a {
        Arg::Buf(b, l) => (b.device_ptr(), Some(l), KScalar::default()),
        Arg::Scalar(s) => (0, None, KScalar::from(s)),
    }
}

/// `op` of `a` and `b` broadcast to `shape`; comparisons give bool.
pub fn binary(
    a: Arg<'_, CudaBuffer>,
    b: Arg<'_, CudaBuffer>,
    dtype: DType,
    shape: &[usize],
    op: BinaryOp,
) -> Result<CudaBuffer> {
    let dev = device_of(&[a, b])?;
    let out_dtype = if op.kind() == BinaryKind::Compare {
        DType::Bool
    } else {
        dtype
    };
    let out = CudaBuffer::alloc(dev, numel(shape), out_dtype)?;
    launch_binary(dev, out.device_ptr(), a, b, dtype, shape, op)?;
    Ok(out)
}

/// `x op s` for each element of the contiguous run `x`, written back in place: each
/// element is read by the thread that then writes it.
pub fn binary_scalar_(x: Span<'_, CudaBuffer>, s: Scalar, op: BinaryOp) -> Result<()> {
    let l = Layout {
        offset: x.offset,
        ..Layout::contiguous(&[x.len])
    };
    let (a, b) = (Arg::Buf(x.buf, &l), Arg::Scalar(s));
    launch_binary(
        x.buf.dev(),
        x.buf.ptr_at(x.offset),
        a,
        b,
        x.buf.dtype(),
        &[x.len],
        op,
    )
}

/// Launches `op`'s kernel from `a` and `b` broadcast to `shape` to the contiguous elements
/// at `out`.
fn launch_binary(
    dev: &Arc<dyn DeviceApi>,
    out: u64,
    a: Arg<'_, CudaBuffer>,
    b: Arg<'_, CudaBuffer>,
    dtype: DType,
    shape: &[usize],
    op: BinaryOp,
) -> Result<()> {
    let ((pa, la, sa), (pb, lb, sb)) = (parts(a), parts(b));
    let it = iter(
        op.kernel(),
        shape,
        [Some(&Layout::contiguous(shape)), la, lb],
    )?;
    let mode = i32::from(la.is_none()) | (i32::from(lb.is_none()) << 1);
    let mut args = Args::new();
    args.arg(out)
        .arg(pa)
        .arg(pb)
        .arg(it.n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[1])
        .arg(it.views[2])
        .arg(sa)
        .arg(sb)
        .arg(mode)
        .arg(dev.error_record());
    let k = Kernel {
        file: &BINARY,
        name: op.kernel(),
    };
    launch_elementwise(dev, k, dtype, it.n, &mut args)
}

/// The [`Fused3`] op of `a`, `b`, `c` (floats; the 16-bit ones in float32) broadcast to
/// `shape`, with the
/// CPU's fused multiply-adds (`binary.cu` `fused3`).
pub fn fused3(
    a: Arg<'_, CudaBuffer>,
    b: Arg<'_, CudaBuffer>,
    c: Arg<'_, CudaBuffer>,
    dtype: DType,
    shape: &[usize],
    op: Fused3,
) -> Result<CudaBuffer> {
    let dev = device_of(&[a, b, c])?;
    let ((pa, la, sa), (pb, lb, sb), (pc, lc, sc)) = (parts(a), parts(b), parts(c));
    let it = iter(
        "fused3",
        shape,
        [Some(&Layout::contiguous(shape)), la, lb, lc],
    )?;
    let out = CudaBuffer::alloc(dev, it.n, dtype)?;
    let mode =
        i32::from(la.is_none()) | (i32::from(lb.is_none()) << 1) | (i32::from(lc.is_none()) << 2);
    let (which, value) = match op {
        Fused3::Addcmul(v) => (0i32, v),
        Fused3::Lerp(None) => (1, 0.0),
        Fused3::Lerp(Some(w)) => (2, w),
        Fused3::AddScaled(alpha) => (3, alpha),
        Fused3::GeluBackward { tanh } => (4 + i32::from(tanh), 0.0),
        Fused3::SiluBackward => (6, 0.0),
    };
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(pa)
        .arg(pb)
        .arg(pc)
        .arg(it.n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[1])
        .arg(it.views[2])
        .arg(it.views[3])
        .arg(sa)
        .arg(sb)
        .arg(sc)
        .arg(mode)
        .arg(which)
        .arg(value);
    let k = Kernel {
        file: &BINARY,
        name: "fused3",
    };
    launch_elementwise(dev, k, dtype, it.n, &mut args)?;
    Ok(out)
}

/// `a` where the bool `cond`, else `b`, broadcast to `shape`.
pub fn where_(
    cond: Arg<'_, CudaBuffer>,
    a: Arg<'_, CudaBuffer>,
    b: Arg<'_, CudaBuffer>,
    dtype: DType,
    shape: &[usize],
) -> Result<CudaBuffer> {
    let dev = device_of(&[cond, a, b])?;
    let ((pc, lc, sc), (pa, la, sa), (pb, lb, sb)) = (parts(cond), parts(a), parts(b));
    let it = iter(
        "where",
        shape,
        [Some(&Layout::contiguous(shape)), lc, la, lb],
    )?;
    let out = CudaBuffer::alloc(dev, it.n, dtype)?;
    let mode =
        i32::from(lc.is_none()) | (i32::from(la.is_none()) << 1) | (i32::from(lb.is_none()) << 2);
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(pc)
        .arg(pa)
        .arg(pb)
        .arg(it.n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[1])
        .arg(it.views[2])
        .arg(it.views[3])
        .arg(sc)
        .arg(sa)
        .arg(sb)
        .arg(mode);
    let k = Kernel {
        file: &BINARY,
        name: "where",
    };
    launch_elementwise(dev, k, dtype, it.n, &mut args)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::super::kernels;
    use super::*;
    use crate::backend::Backend;
    use crate::cpu::Cpu;
    use crate::tensor::dtype::Scalar;

    #[test]
    fn casts_match_the_cpu_for_every_dtype_pair_and_layout() {
        if !available("casts") {
            return;
        }
        let dev = HostDevice::open();
        for src in DType::ALL {
            for (l, len) in layouts(&[3, 5]) {
                let host = data(src, len, 7, true);
                let buf = put(&dev, &host);
                for dst in DType::ALL {
                    let got = get(&cast(&buf, &l, dst).unwrap());
                    let want = as_f64(&Cpu::cast(&host, &l, dst).unwrap());
                    assert_close(&format!("{src:?} -> {dst:?} {l:?}"), &got, &want, 0.0);
                }
            }
        }
    }

    #[test]
    fn fills_and_strided_copies_write_only_their_view() {
        if !available("fills") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::I64, DType::Bool, DType::BF16] {
            let host = data(dtype, 24, 3, false);
            let buf = put(&dev, &host);
            let view = Layout {
                shape: vec![2, 3],
                strides: vec![8, 2],
                offset: 1,
            };
            copy_into(&buf, &view, Arg::Scalar(Scalar::Int(1))).unwrap();
            Cpu::copy_into(&host, &view, Arg::Scalar(Scalar::Int(1))).unwrap();
            assert_close(&format!("fill {dtype:?}"), &get(&buf), &as_f64(&host), 0.0);
            let src = data(DType::F64, 3, 9, false);
            let sl = Layout {
                shape: vec![1, 3],
                strides: vec![0, 1],
                offset: 0,
            };
            copy_into(&buf, &view, Arg::Buf(&put(&dev, &src), &sl)).unwrap();
            Cpu::copy_into(&host, &view, Arg::Buf(&src, &sl)).unwrap();
            assert_close(
                &format!("broadcast copy {dtype:?}"),
                &get(&buf),
                &as_f64(&host),
                0.0,
            );
        }
    }

    #[test]
    fn every_unary_op_matches_the_cpu() {
        if !available("unary") {
            return;
        }
        let dev = HostDevice::open();
        let ops: Vec<UnaryOp> = UnaryOp::ALL
            .iter()
            .map(|&op| match op {
                UnaryOp::Clamp { .. } => UnaryOp::Clamp { lo: -1.5, hi: 2.0 },
                UnaryOp::Softplus { .. } => UnaryOp::Softplus {
                    beta: 2.0,
                    threshold: 3.0,
                },
                UnaryOp::LeakyRelu { .. } => UnaryOp::LeakyRelu { slope: 0.1 },
                UnaryOp::Elu { .. } => UnaryOp::Elu { alpha: 0.7 },
                UnaryOp::Polygamma { .. } => UnaryOp::Polygamma { n: 2.0 },
                op => op,
            })
            .collect();
        for op in ops {
            for &dtype in kernels::unary_dtypes(op) {
                for (l, len) in layouts(&[4, 6]) {
                    let host = data(dtype, len, 11, true);
                    let got = get(&unary(&put(&dev, &host), &l, op).unwrap());
                    let want = as_f64(&Cpu::unary(&host, &l, op).unwrap());
                    assert_close(&format!("{op:?} {dtype:?} {l:?}"), &got, &want, tol(dtype));
                }
            }
        }
    }

    #[test]
    fn every_binary_op_matches_the_cpu_with_broadcasts_and_numbers() {
        if !available("binary") {
            return;
        }
        let dev = HostDevice::open();
        let shape = [3, 4];
        for &op in BinaryOp::ALL {
            for &dtype in kernels::binary_dtypes(op) {
                let a = data(dtype, 12, 1, true);
                // The right operand avoids zero for the integer ops that reject it.
                let b = {
                    let b = data(dtype, 12, 2, true);
                    if op.int_rhs_check().is_some() && !dtype.is_float() {
                        Cpu::binary(
                            Arg::Buf(&b, &Layout::contiguous(&[12])),
                            Arg::Scalar(Scalar::Int(0)),
                            dtype,
                            &[12],
                            BinaryOp::Maximum,
                        )
                        .and_then(|m| {
                            Cpu::binary(
                                Arg::Buf(&m, &Layout::contiguous(&[12])),
                                Arg::Scalar(Scalar::Int(1)),
                                dtype,
                                &[12],
                                BinaryOp::Add,
                            )
                        })
                        .unwrap()
                    } else {
                        b
                    }
                };
                let (da, db) = (put(&dev, &a), put(&dev, &b));
                let cases: Vec<(Layout, Layout)> = vec![
                    (Layout::contiguous(&shape), Layout::contiguous(&shape)),
                    (Layout::contiguous(&shape), Layout::contiguous(&[4])),
                    (
                        Layout::contiguous(&[3, 1]),
                        Layout::contiguous(&[4, 3]).transpose(0, 1).unwrap(),
                    ),
                ];
                for (la, lb) in &cases {
                    let got = get(
                        &binary(Arg::Buf(&da, la), Arg::Buf(&db, lb), dtype, &shape, op).unwrap(),
                    );
                    let want = as_f64(
                        &Cpu::binary(Arg::Buf(&a, la), Arg::Buf(&b, lb), dtype, &shape, op)
                            .unwrap(),
                    );
                    assert_close(
                        &format!("{op:?} {dtype:?} {la:?} {lb:?}"),
                        &got,
                        &want,
                        tol(dtype),
                    );
                }
                let s = if dtype == DType::Bool {
                    Scalar::Bool(true)
                } else if dtype.is_float() {
                    Scalar::Float(1.5)
                } else {
                    Scalar::Int(3)
                };
                let l = Layout::contiguous(&shape);
                for (x, y, hx, hy) in [
                    (
                        Arg::Buf(&da, &l),
                        Arg::Scalar(s),
                        Arg::Buf(&a, &l),
                        Arg::Scalar(s),
                    ),
                    (
                        Arg::Scalar(s),
                        Arg::Buf(&db, &l),
                        Arg::Scalar(s),
                        Arg::Buf(&b, &l),
                    ),
                ] {
                    let got = get(&binary(x, y, dtype, &shape, op).unwrap());
                    let want = as_f64(&Cpu::binary(hx, hy, dtype, &shape, op).unwrap());
                    assert_close(
                        &format!("{op:?} {dtype:?} with a number"),
                        &got,
                        &want,
                        tol(dtype),
                    );
                }
            }
        }
    }

    #[test]
    fn dense_binary_ops_cover_whole_steps_and_the_tail() {
        // The dense loop takes four elements a step per thread: more elements than four
        // steps of the host launch (8 blocks of 16 threads), an uneven tail, operands that
        // start inside their buffers, and numbers on either side.
        if !available("binary") {
            return;
        }
        let dev = HostDevice::open();
        let n = 4 * 128 * 2 + 37;
        let shape = [n];
        for op in [BinaryOp::Add, BinaryOp::Mul, BinaryOp::Lt] {
            for dtype in [DType::F32, DType::F64, DType::BF16, DType::I64, DType::U8] {
                let (a, b) = (data(dtype, n + 5, 3, true), data(dtype, n + 2, 4, true));
                let (da, db) = (put(&dev, &a), put(&dev, &b));
                let la = Layout::contiguous(&[n + 5]).narrow(0, 5, n).unwrap();
                let lb = Layout::contiguous(&[n + 2]).narrow(0, 1, n).unwrap();
                let s = if dtype.is_float() {
                    Scalar::Float(0.25)
                } else {
                    Scalar::Int(2)
                };
                let cases = [
                    (
                        Arg::Buf(&da, &la),
                        Arg::Buf(&db, &lb),
                        Arg::Buf(&a, &la),
                        Arg::Buf(&b, &lb),
                    ),
                    (
                        Arg::Buf(&da, &la),
                        Arg::Scalar(s),
                        Arg::Buf(&a, &la),
                        Arg::Scalar(s),
                    ),
                    (
                        Arg::Scalar(s),
                        Arg::Buf(&db, &lb),
                        Arg::Scalar(s),
                        Arg::Buf(&b, &lb),
                    ),
                ];
                for (x, y, hx, hy) in cases {
                    let got = get(&binary(x, y, dtype, &shape, op).unwrap());
                    let want = as_f64(&Cpu::binary(hx, hy, dtype, &shape, op).unwrap());
                    assert_close(&format!("dense {op:?} {dtype:?}"), &got, &want, tol(dtype));
                }
            }
        }
    }

    #[test]
    fn integer_division_by_zero_is_reported_at_the_next_read() {
        if !available("zero division") {
            return;
        }
        let dev = HostDevice::open();
        let a = put(&dev, &HostBuffer::from_vec(vec![5i64, 6, 7]));
        let b = put(&dev, &HostBuffer::from_vec(vec![1i64, 0, 2]));
        let l = Layout::contiguous(&[3]);
        let q = binary(
            Arg::Buf(&a, &l),
            Arg::Buf(&b, &l),
            DType::I64,
            &[3],
            BinaryOp::FloorDiv,
        )
        .expect("the launch itself succeeds");
        let e = download(&q, &l).unwrap_err();
        assert_eq!(e.to_string(), "ZeroDivisionError");
        // Reported once: the device works on.
        assert_eq!(get(&a), vec![5.0, 6.0, 7.0]);
    }

    #[test]
    fn fused3_matches_the_cpu() {
        if !available("fused3") {
            return;
        }
        let dev = HostDevice::open();
        let (la, lb, lc) = (
            Layout::contiguous(&[3, 4]),
            Layout::contiguous(&[4]),
            Layout::contiguous(&[3, 1]),
        );
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            let (a, b) = (data(dtype, 12, 5, false), data(dtype, 4, 6, false));
            // weights on both sides of ±0.5 for lerp's two formulas
            let c = data(dtype, 3, 7, false);
            let (da, db, dc) = (put(&dev, &a), put(&dev, &b), put(&dev, &c));
            let ops = [
                Fused3::Addcmul(0.3),
                Fused3::Addcmul(1.0),
                Fused3::Lerp(None),
                Fused3::Lerp(Some(0.3)),
                Fused3::Lerp(Some(0.7)),
                Fused3::AddScaled(-0.3),
                Fused3::GeluBackward { tanh: false },
                Fused3::GeluBackward { tanh: true },
                Fused3::SiluBackward,
            ];
            for op in ops {
                // The activations' erf, exp and tanh are the device's own, close to the CPU's but not
                // its bits; the rest are products and sums rounded alike.
                let tol = match op {
                    Fused3::GeluBackward { .. } | Fused3::SiluBackward => tol(dtype),
                    _ => 0.0,
                };
                let got = get(&fused3(
                    Arg::Buf(&da, &la),
                    Arg::Buf(&db, &lb),
                    Arg::Buf(&dc, &lc),
                    dtype,
                    &[3, 4],
                    op,
                )
                .unwrap());
                let want = as_f64(
                    &Cpu::fused3(
                        Arg::Buf(&a, &la),
                        Arg::Buf(&b, &lb),
                        Arg::Buf(&c, &lc),
                        dtype,
                        &[3, 4],
                        op,
                    )
                    .unwrap(),
                );
                assert_close(&format!("{op:?} {dtype:?}"), &got, &want, tol);
                let w = Scalar::Float(0.75);
                let got = get(&fused3(
                    Arg::Buf(&da, &la),
                    Arg::Buf(&db, &lb),
                    Arg::Scalar(w),
                    dtype,
                    &[3, 4],
                    op,
                )
                .unwrap());
                let want = as_f64(
                    &Cpu::fused3(
                        Arg::Buf(&a, &la),
                        Arg::Buf(&b, &lb),
                        Arg::Scalar(w),
                        dtype,
                        &[3, 4],
                        op,
                    )
                    .unwrap(),
                );
                assert_close(&format!("{op:?} {dtype:?} with a number"), &got, &want, tol);
            }
        }
    }

    #[test]
    fn where_matches_the_cpu() {
        if !available("where") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::I32, DType::Bool, DType::F16] {
            let c = data(DType::Bool, 12, 5, false);
            let a = data(dtype, 4, 6, false);
            let b = data(dtype, 3, 7, false);
            let (lc, la, lb) = (
                Layout::contiguous(&[3, 4]),
                Layout::contiguous(&[4]),
                Layout::contiguous(&[3, 1]),
            );
            let (dc, da, db) = (put(&dev, &c), put(&dev, &a), put(&dev, &b));
            let got = get(&where_(
                Arg::Buf(&dc, &lc),
                Arg::Buf(&da, &la),
                Arg::Buf(&db, &lb),
                dtype,
                &[3, 4],
            )
            .unwrap());
            let want = as_f64(
                &Cpu::where_(
                    Arg::Buf(&c, &lc),
                    Arg::Buf(&a, &la),
                    Arg::Buf(&b, &lb),
                    dtype,
                    &[3, 4],
                )
                .unwrap(),
            );
            assert_close(&format!("where {dtype:?}"), &got, &want, 0.0);
            let s = Scalar::Int(0);
            let got = get(&where_(
                Arg::Buf(&dc, &lc),
                Arg::Scalar(s),
                Arg::Buf(&db, &lb),
                dtype,
                &[3, 4],
            )
            .unwrap());
            let want = as_f64(
                &Cpu::where_(
                    Arg::Buf(&c, &lc),
                    Arg::Scalar(s),
                    Arg::Buf(&b, &lb),
                    dtype,
                    &[3, 4],
                )
                .unwrap(),
            );
            assert_close(&format!("where {dtype:?} with a number"), &got, &want, 0.0);
        }
    }
}
