//! Tests of `fused.rs`, most of them on the host: the kernels built as C++ for the CPU and
//! compared with the CPU backend.

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
            let hv = Cpu::full(0, n + 1, dtype, crate::tensor::dtype::Scalar::Float(0.0)).unwrap();
            let hx = Cpu::full(0, n + 3, dtype, crate::tensor::dtype::Scalar::Float(0.0)).unwrap();
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
            let hw =
                Cpu::unary(&hw, &Layout::contiguous(&[c]), crate::backend::UnaryOp::Abs).unwrap();
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
        let (losses, _) = cross_entropy(&dx, &l, &dt, &Layout::contiguous(&[3]), None, -100, 0.0)
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
