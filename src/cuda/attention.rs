//! Attention weights on a GPU (`kernels/attention.cu`): scale, mask, softmax and dropout of
//! each row of the scores, and the scores' gradient, with the CPU's formulas
//! (`crate::cpu::attention`). One block per row; the row sums are trees, so the results
//! agree with the CPU's within rounding.

use super::buffer::CudaBuffer;
use super::device::{Args, Dims, View, MAX_DIMS};
use super::fused::launch_rows;
use super::kernels::ATTENTION;
use crate::backend::AttnRows;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;

/// Checks that an operand of `op` holds at least `n` elements of `dtype`.
fn operand(op: &str, what: &str, b: &CudaBuffer, n: usize, dtype: DType) -> Result<()> {
    if b.dtype() != dtype || b.len() < n {
        return Err(Error::Runtime(format!(
            "{op}: expected {what} of {n} elements of {}, got {} of {}",
            dtype.name(),
            b.len(),
            b.dtype().name()
        )));
    }
    Ok(())
}

/// Checks the scores' dtype is a float one.
fn float_scores(op: &str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(Error::NotImplemented(format!(
            "\"{op}_cuda\" not implemented for '{}'",
            dtype.scalar_name()
        )))
    }
}

/// The dropout operands: the keep flags' address (0 for none) and `1/(1 − p)`.
fn keep_arg(op: &str, keep: Option<(&CudaBuffer, f64)>, n: usize) -> Result<(u64, f64)> {
    match keep {
        None => Ok((0, 1.0)),
        Some((k, ks)) => {
            operand(op, "dropout flags", k, n, DType::Bool)?;
            Ok((k.device_ptr(), ks))
        }
    }
}

/// See `Backend::attention_softmax`.
pub fn attention_softmax(
    x: &CudaBuffer,
    a: &AttnRows,
    mask: Option<(&CudaBuffer, &Layout)>,
    keep: Option<(&CudaBuffer, f64)>,
) -> Result<(CudaBuffer, Option<CudaBuffer>)> {
    const OP: &str = "attention_softmax";
    let AttnRows { rows, len, .. } = *a;
    let dtype = x.dtype();
    float_scores(OP, dtype)?;
    let n = rows * len;
    operand(OP, "scores", x, n, dtype)?;
    let (kp, ks) = keep_arg(OP, keep, n)?;
    let dev = x.dev();
    let y = CudaBuffer::alloc(dev, n, dtype)?;
    let out = keep.map(|_| CudaBuffer::alloc(dev, n, dtype)).transpose()?;
    if n == 0 {
        return Ok((y, out));
    }
    // The mask's row `r` starts at `view.offset` + the strided offset of `r` over the
    // scores' leading dims (`sizes`); its elements are `mcs` apart.
    let (mut sizes, mut view) = (Dims::default(), View::default());
    let (mp, nk, mcs) = match mask {
        None => (0u64, 0i32, 0i64),
        Some((m, l)) => {
            let nd = l.shape.len();
            if nd == 0 || nd - 1 > MAX_DIMS || l.strides.iter().any(|&s| s < 0) {
                return Err(Error::NotImplemented(format!(
                    "{OP}: a mask of shape {:?} and strides {:?} is not supported on CUDA",
                    l.shape, l.strides
                )));
            }
            if m.dtype() != dtype {
                return Err(Error::Runtime(format!(
                    "{OP}: expected a mask of {}, got {}",
                    dtype.name(),
                    m.dtype().name()
                )));
            }
            for d in 0..nd - 1 {
                sizes.v[d] = l.shape[d] as i64;
                view.strides.v[d] = l.strides[d] as i64;
            }
            view.offset = l.offset as i64;
            (m.device_ptr(), (nd - 1) as i32, l.strides[nd - 1] as i64)
        }
    };
    let mut args = Args::new();
    args.arg(y.device_ptr())
        .arg(out.as_ref().map_or(0, |o| o.device_ptr()))
        .arg(x.device_ptr())
        .arg(rows as i64)
        .arg(len as i64)
        .arg(mp)
        .arg(nk)
        .arg(sizes)
        .arg(view)
        .arg(mcs)
        .arg(a.causal.unwrap_or(0) as i64)
        .arg(a.scale)
        .arg(a.safe as i32)
        .arg(kp)
        .arg(ks);
    launch_rows(
        &ATTENTION,
        x,
        "attention_softmax_rows",
        rows,
        len,
        &mut args,
    )?;
    Ok((y, out))
}

/// See `Backend::attention_softmax_backward`.
pub fn attention_softmax_backward(
    y: &CudaBuffer,
    g: &CudaBuffer,
    rows: usize,
    len: usize,
    keep: Option<(&CudaBuffer, f64)>,
    scale: f64,
) -> Result<CudaBuffer> {
    const OP: &str = "attention_softmax_backward";
    let dtype = y.dtype();
    float_scores(OP, dtype)?;
    let n = rows * len;
    operand(OP, "weights", y, n, dtype)?;
    operand(OP, "a gradient", g, n, dtype)?;
    let (kp, ks) = keep_arg(OP, keep, n)?;
    let gx = CudaBuffer::alloc(y.dev(), n, dtype)?;
    if n == 0 {
        return Ok(gx);
    }
    let mut args = Args::new();
    args.arg(gx.device_ptr())
        .arg(y.device_ptr())
        .arg(g.device_ptr())
        .arg(rows as i64)
        .arg(len as i64)
        .arg(kp)
        .arg(ks)
        .arg(scale);
    launch_rows(
        &ATTENTION,
        y,
        "attention_softmax_backward_rows",
        rows,
        len,
        &mut args,
    )?;
    Ok(gx)
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;

    /// A mask of `shape` broadcast to the scores `[2, 3, 4, len]`: its layout has stride 0
    /// along the dims it lacks.
    fn broadcast(shape: &[usize], len: usize) -> Layout {
        let full = [2, 3, 4, len];
        let own = Layout::contiguous(shape);
        let lead = full.len() - shape.len();
        let strides = (0..full.len())
            .map(|d| {
                if d < lead || shape[d - lead] == 1 {
                    0
                } else {
                    own.strides[d - lead]
                }
            })
            .collect();
        Layout {
            shape: full.to_vec(),
            strides,
            offset: 0,
        }
    }

    /// The kernels against the CPU's for every float dtype, rows shorter and longer than a
    /// block, broadcast masks, causal rows, fully masked rows (NaN or zeros when safe), and
    /// dropout, forward and backward.
    #[test]
    fn attention_softmax_matches_the_cpu() {
        if !available("attention_softmax") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for len in [5, 40] {
                let rows = 2 * 3 * 4;
                let n = rows * len;
                let hx = data(dtype, n, 3, false);
                let dx = put(&dev, &hx);
                let hg = data(dtype, n, 5, false);
                let dg = put(&dev, &hg);
                let keep: Vec<bool> = (0..n).map(|i| (i * 7) % 5 != 0).collect();
                let hk = HostBuffer::from_vec(keep);
                let dk = put(&dev, &hk);
                // An additive mask over (4, len) with a fully masked row, and one over
                // (2, 1, 1, len).
                let mut mv = vec![0.0; 4 * len];
                mv.iter_mut().enumerate().for_each(|(i, v)| {
                    if i % 3 == 1 || i / len == 2 {
                        *v = f64::NEG_INFINITY;
                    } else {
                        *v = (i % 7) as f64 * 0.25;
                    }
                });
                let hm = Cpu::cast(
                    &HostBuffer::from_vec(mv),
                    &Layout::contiguous(&[4 * len]),
                    dtype,
                )
                .unwrap();
                let hm2 = data(dtype, 2 * len, 9, false);
                let masks = [
                    None,
                    Some((&hm, broadcast(&[4, len], len))),
                    Some((&hm2, broadcast(&[2, 1, 1, len], len))),
                ];
                for mask in &masks {
                    let dm = mask.as_ref().map(|(m, l)| (put(&dev, m), l.clone()));
                    for causal in [None, Some(4)] {
                        for safe in [false, true] {
                            let a = AttnRows {
                                rows,
                                len,
                                scale: 0.7,
                                causal,
                                safe,
                            };
                            for dropout in [false, true] {
                                let hkeep = dropout.then_some((&hk, 1.25));
                                let dkeep = dropout.then_some((&dk, 1.25));
                                let what = format!(
                                    "{dtype:?} len {len} mask {} causal {causal:?} safe {safe} dropout {dropout}",
                                    mask.is_some()
                                );
                                let (hy, hout) = Cpu::attention_softmax(
                                    &hx,
                                    &a,
                                    mask.as_ref().map(|(m, l)| (*m, l)),
                                    hkeep,
                                )
                                .unwrap();
                                let (gy, gout) = attention_softmax(
                                    &dx,
                                    &a,
                                    dm.as_ref().map(|(m, l)| (m, l)),
                                    dkeep,
                                )
                                .unwrap();
                                let t = tol(dtype);
                                assert_close(&what, &get(&gy), &as_f64(&hy), t);
                                assert_eq!(hout.is_some(), dropout);
                                if let (Some(h), Some(g)) = (hout, gout) {
                                    assert_close(&what, &get(&g), &as_f64(&h), t);
                                }
                                let want = Cpu::attention_softmax_backward(
                                    &hy, &hg, rows, len, hkeep, 0.7,
                                )
                                .unwrap();
                                let got = attention_softmax_backward(
                                    &put(&dev, &hy),
                                    &dg,
                                    rows,
                                    len,
                                    dkeep,
                                    0.7,
                                )
                                .unwrap();
                                assert_close(&what, &get(&got), &as_f64(&want), 4.0 * t);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The CPU's kernels against the formulas written out, with a masked-out row.
    #[test]
    fn cpu_attention_softmax_is_the_formula() {
        let (rows, len) = (3, 4);
        let x: Vec<f64> = (0..rows * len)
            .map(|i| ((i * 5) % 7) as f64 * 0.4 - 1.0)
            .collect();
        let inf = f64::INFINITY;
        let m = vec![0.5, -inf, 0.0, 1.0];
        let ml = Layout {
            shape: vec![rows, len],
            strides: vec![0, 1],
            offset: 0,
        };
        let keep = vec![
            true, false, true, true, true, true, false, true, false, true, true, true,
        ];
        let g: Vec<f64> = (0..rows * len).map(|i| (i % 5) as f64 - 2.0).collect();
        let a = AttnRows {
            rows,
            len,
            scale: 0.5,
            causal: Some(rows),
            safe: true,
        };
        let hk = HostBuffer::from_vec(keep.clone());
        let (y, out) = Cpu::attention_softmax(
            &HostBuffer::from_vec(x.clone()),
            &a,
            Some((&HostBuffer::from_vec(m.clone()), &ml)),
            Some((&hk, 2.0)),
        )
        .unwrap();
        let (y, out) = (as_f64(&y), as_f64(&out.unwrap()));
        let gx = as_f64(
            &Cpu::attention_softmax_backward(
                &HostBuffer::from_vec(y.clone()),
                &HostBuffer::from_vec(g.clone()),
                rows,
                len,
                Some((&hk, 2.0)),
                0.5,
            )
            .unwrap(),
        );
        for r in 0..rows {
            let t: Vec<f64> = (0..len)
                .map(|j| {
                    if j > r {
                        -inf
                    } else {
                        0.5 * x[r * len + j] + m[j]
                    }
                })
                .collect();
            let total: f64 = t.iter().map(|v| v.exp()).sum();
            let w: Vec<f64> = t.iter().map(|v| v.exp() / total).collect();
            let gd: Vec<f64> = (0..len)
                .map(|j| {
                    if keep[r * len + j] {
                        2.0 * g[r * len + j]
                    } else {
                        0.0
                    }
                })
                .collect();
            let dot: f64 = (0..len).map(|j| gd[j] * w[j]).sum();
            for j in 0..len {
                let i = r * len + j;
                let o = if keep[i] { 2.0 * w[j] } else { 0.0 };
                assert!((y[i] - w[j]).abs() < 1e-14, "y[{i}]");
                assert!((out[i] - o).abs() < 1e-14, "out[{i}]");
                assert!(
                    (gx[i] - 0.5 * w[j] * (gd[j] - dot)).abs() < 1e-14,
                    "gx[{i}]"
                );
            }
        }
        // Every key of row 0 masked out (the causal mask leaves key 0, the mask takes it):
        // zeros when safe, NaN otherwise.
        let m0 = HostBuffer::from_vec(vec![-inf, 0.0, 0.0, 0.0]);
        for safe in [true, false] {
            let a = AttnRows { safe, ..a };
            let (y, _) = Cpu::attention_softmax(
                &HostBuffer::from_vec(x.clone()),
                &a,
                Some((&m0, &ml)),
                None,
            )
            .unwrap();
            let y = as_f64(&y);
            assert!(y[..len]
                .iter()
                .all(|v| if safe { *v == 0.0 } else { v.is_nan() }));
            assert!(y[len..].iter().all(|v| v.is_finite()));
        }
    }
}
