//! Tests of `matmul.rs`, most of them on the host: the kernels built as C++ for the CPU and
//! compared with the CPU backend.

use super::super::host_check::testing::*;
use super::super::host_check::{available, HostDevice};
use super::*;
use crate::backend::Backend;
use crate::cpu::Cpu;

/// Runs `calls` with cuBLAS's semantics over one f64 memory (addresses are byte
/// addresses into it), checking the leading dimensions as cuBLAS does.
fn run_calls(calls: &[GemmCall], mem: &mut [f64]) {
    for c in calls {
        assert_eq!(c.a % 8, 0);
        let (a0, b0, c0) = ((c.a / 8) as i64, (c.b / 8) as i64, (c.c / 8) as i64);
        let rows_a = if c.trans_a { c.k } else { c.m };
        let rows_b = if c.trans_b { c.n } else { c.k };
        assert!(c.lda >= rows_a.max(1), "lda {c:?}");
        assert!(c.ldb >= rows_b.max(1), "ldb {c:?}");
        assert!(c.ldc >= c.m.max(1), "ldc {c:?}");
        for p in 0..c.batch {
            let (pa, pb, pc) = (
                a0 + p * c.stride_a,
                b0 + p * c.stride_b,
                c0 + p * c.stride_c,
            );
            for i in 0..c.m {
                for j in 0..c.n {
                    let mut s = 0.0;
                    for l in 0..c.k {
                        let x = if c.trans_a {
                            mem[(pa + l + i * c.lda) as usize]
                        } else {
                            mem[(pa + i + l * c.lda) as usize]
                        };
                        let y = if c.trans_b {
                            mem[(pb + j + l * c.ldb) as usize]
                        } else {
                            mem[(pb + l + j * c.ldb) as usize]
                        };
                        s += x * y;
                    }
                    let o = (pc + i + j * c.ldc) as usize;
                    mem[o] = c.alpha * s + c.beta * mem[o];
                }
            }
        }
    }
}

/// The row-major product the backend defines.
fn reference(
    a: &[f64],
    ma: &MatBatch,
    b: &[f64],
    mb: &MatBatch,
    (m, n, k): (usize, usize, usize),
    alpha: f64,
) -> Vec<f64> {
    let mut out = vec![];
    for (&oa, &ob) in ma.offsets.iter().zip(&mb.offsets) {
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|p| {
                        a[(oa as isize + i as isize * ma.rs + p as isize * ma.cs) as usize]
                            * b[(ob as isize + p as isize * mb.rs + j as isize * mb.cs) as usize]
                    })
                    .sum();
                out.push(alpha * s);
            }
        }
    }
    out
}

/// A batch of `count` matrices, `rows × cols`, stored row-major or transposed, at
/// offsets `start + i·step` (or the given offsets).
fn batch(offsets: Vec<usize>, rows: usize, cols: usize, transposed: bool) -> MatBatch {
    if transposed {
        MatBatch {
            offsets,
            rs: 1,
            cs: rows as isize,
        }
    } else {
        MatBatch {
            offsets,
            rs: cols as isize,
            cs: 1,
        }
    }
}

/// Every stride pattern the mapping accepts, run with cuBLAS's semantics, gives the
/// row-major product; the others are refused.
#[test]
fn the_column_major_mapping_reproduces_the_row_major_product() {
    let (m, n, k) = (3, 4, 5);
    let mut cases = vec![];
    for ta in [false, true] {
        for tb in [false, true] {
            // One pair; an evenly spaced batch; a broadcast operand; uneven offsets.
            cases.push((batch(vec![2], m, k, ta), batch(vec![1], k, n, tb)));
            cases.push((
                batch(vec![0, 15, 30], m, k, ta),
                batch(vec![0, 20, 40], k, n, tb),
            ));
            cases.push((
                batch(vec![0, 15, 30], m, k, ta),
                batch(vec![7, 7, 7], k, n, tb),
            ));
            cases.push((
                batch(vec![30, 0, 15], m, k, ta),
                batch(vec![0, 40, 20], k, n, tb),
            ));
        }
    }
    // Padded rows (leading dimension beyond the row length).
    cases.push((
        MatBatch {
            offsets: vec![0],
            rs: 8,
            cs: 1,
        },
        MatBatch {
            offsets: vec![0],
            rs: 1,
            cs: 9,
        },
    ));
    for (ma, mb) in &cases {
        let a: Vec<f64> = (0..64).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
        let b: Vec<f64> = (0..64).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
        let total = ma.offsets.len() * m * n;
        let mut mem = [a.clone(), b.clone(), vec![1.0; total]].concat();
        let calls = gemm_calls(DType::F64, 0, ma, 64 * 8, mb, 128 * 8, (m, n, k), 2.0, 1.0)
            .expect("a BLAS layout");
        let even = progression(&ma.offsets).is_some() && progression(&mb.offsets).is_some();
        assert_eq!(
            calls.len(),
            if even { 1 } else { ma.offsets.len() },
            "{ma:?} {mb:?}"
        );
        run_calls(&calls, &mut mem);
        let want: Vec<f64> = reference(&a, ma, &b, mb, (m, n, k), 2.0)
            .iter()
            .map(|x| x + 1.0)
            .collect();
        assert_eq!(&mem[128..], &want[..], "{ma:?} {mb:?}");
    }
    // Size-1 dims make their stride irrelevant: a row vector with a broadcast row
    // stride, a column vector with any column stride.
    let (m, n, k) = (1, 3, 4);
    let ma = MatBatch {
        offsets: vec![0],
        rs: 0,
        cs: 2,
    };
    let mb = MatBatch {
        offsets: vec![1],
        rs: 3,
        cs: 1,
    };
    let calls = gemm_calls(
        DType::F64,
        0,
        &ma,
        64 * 8,
        &mb,
        128 * 8,
        (m, n, k),
        1.0,
        0.0,
    )
    .unwrap();
    let a: Vec<f64> = (0..64).map(|i| i as f64).collect();
    let b: Vec<f64> = (0..64).map(|i| (i % 5) as f64).collect();
    let mut mem = [a.clone(), b.clone(), vec![f64::NAN; m * n]].concat();
    // beta = 0 must not read C; the reference executor multiplies NaN by 0, so clear it.
    mem[128..].iter_mut().for_each(|x| *x = 0.0);
    run_calls(&calls, &mut mem);
    assert_eq!(
        &mem[128..],
        &reference(&a, &ma, &b, &mb, (m, n, k), 1.0)[..]
    );
    let mb = MatBatch {
        offsets: vec![0],
        rs: 5,
        cs: 0,
    };
    assert_eq!(storage(4, 1, 5, 0), Some(Storage::RowMajor(5)));
    assert!(gemm_calls(DType::F64, 0, &ma, 0, &mb, 0, (1, 1, 4), 1.0, 0.0).is_some());
    // Broadcast rows, both strides ≠ 1, or overlapping rows are refused.
    assert_eq!(storage(3, 4, 0, 1), None);
    assert_eq!(storage(3, 4, 8, 2), None);
    assert_eq!(storage(3, 4, 2, 1), None);
    assert_eq!(storage(3, 4, 1, 2), None);
    assert_eq!(storage(3, 4, 1, 3), Some(Storage::ColMajor(3)));
    assert_eq!(progression(&[4, 2]), None);
    assert_eq!(progression(&[3, 3, 3]), Some(0));
}

/// Compares the GPU product with the CPU's for one case.
#[allow(clippy::too_many_arguments)]
fn compare(
    dev: &Arc<dyn DeviceApi>,
    dtype: DType,
    ma: &MatBatch,
    mb: &MatBatch,
    mnk: (usize, usize, usize),
    alpha: f64,
    with_acc: bool,
    what: &str,
) {
    let len = |mx: &MatBatch, r: usize, c: usize| {
        mx.offsets.iter().max().copied().unwrap_or(0)
            + r.saturating_sub(1) * mx.rs as usize
            + c.saturating_sub(1) * mx.cs as usize
            + 1
    };
    let (m, n, k) = mnk;
    let ha = data(dtype, len(ma, m, k), 3, false);
    let hb = data(dtype, len(mb, k, n), 4, false);
    let total = ma.offsets.len() * m * n;
    let hacc = with_acc.then(|| data(dtype, total, 5, false));
    let got = matmul(
        &put(dev, &ha),
        ma,
        &put(dev, &hb),
        mb,
        mnk,
        alpha,
        hacc.as_ref().map(|h| put(dev, h)),
    )
    .unwrap();
    let want = Cpu::matmul(&ha, ma, &hb, mb, mnk, alpha, hacc.clone()).unwrap();
    let t = match dtype {
        DType::F32 => 1e-5,
        DType::F16 => 2e-3 * k as f64,
        DType::BF16 => 1.6e-2 * k as f64,
        d => tol(d),
    };
    assert_eq!(got.dtype(), dtype);
    assert_close(
        &format!("{what} {dtype:?} {ma:?} {mb:?} {mnk:?} alpha {alpha} acc {with_acc}"),
        &get(&got),
        &as_f64(&want),
        t,
    );
}

#[test]
fn products_match_the_cpu() {
    if !available("matmul") {
        return;
    }
    let dev = HostDevice::open();
    for dtype in [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::U8,
    ] {
        // Sizes around the host's 4 × 4 tiles, and a row and a column vector.
        for (m, n, k) in [(3, 5, 7), (9, 6, 13), (1, 7, 5), (6, 1, 9), (4, 4, 4)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let ma = batch(vec![0], m, k, ta);
                    let mb = batch(vec![2], k, n, tb);
                    compare(&dev, dtype, &ma, &mb, (m, n, k), 1.0, false, "single");
                    compare(&dev, dtype, &ma, &mb, (m, n, k), -1.5, true, "accumulated");
                    // A batch of three against one broadcast right operand.
                    let ma = batch(vec![0, m * k, 2 * m * k], m, k, ta);
                    let mb = batch(vec![1, 1, 1], k, n, tb);
                    compare(&dev, dtype, &ma, &mb, (m, n, k), 2.0, false, "broadcast");
                }
            }
        }
        // Uneven offsets, strided (padded) rows, a broadcast row stride.
        let ma = MatBatch {
            offsets: vec![20, 0, 7],
            rs: 6,
            cs: 1,
        };
        let mb = MatBatch {
            offsets: vec![3, 3, 30],
            rs: 2,
            cs: 9,
        };
        compare(&dev, dtype, &ma, &mb, (3, 4, 5), 0.5, true, "uneven");
        let ma = MatBatch {
            offsets: vec![0, 5, 2],
            rs: 0,
            cs: 1,
        };
        compare(
            &dev,
            dtype,
            &ma,
            &mb,
            (3, 4, 5),
            1.0,
            false,
            "broadcast rows",
        );
    }
}

#[test]
fn empty_products_and_bool() {
    if !available("matmul empty") {
        return;
    }
    let dev = HostDevice::open();
    for dtype in [DType::F32, DType::I64, DType::F16] {
        let one = batch(vec![0], 3, 0, false);
        let other = batch(vec![0], 0, 4, false);
        compare(&dev, dtype, &one, &other, (3, 4, 0), 1.0, false, "k = 0");
        compare(
            &dev,
            dtype,
            &one,
            &other,
            (3, 4, 0),
            1.0,
            true,
            "k = 0 with acc",
        );
        compare(
            &dev,
            dtype,
            &batch(vec![0], 0, 5, false),
            &batch(vec![0], 5, 4, false),
            (0, 4, 5),
            1.0,
            false,
            "m = 0",
        );
        compare(
            &dev,
            dtype,
            &batch(vec![], 2, 2, false),
            &batch(vec![], 2, 2, false),
            (2, 2, 2),
            1.0,
            false,
            "no matrices",
        );
    }
    let hb = HostBuffer::from_vec(vec![true; 4]);
    let b = put(&dev, &hb);
    let mb = batch(vec![0], 2, 2, false);
    let Err(e) = matmul(&b, &mb, &b, &mb, (2, 2, 2), 1.0, None) else {
        panic!("bool matmul")
    };
    let Err(cpu) = Cpu::matmul(&hb, &mb, &hb, &mb, (2, 2, 2), 1.0, None) else {
        panic!("bool matmul on the CPU")
    };
    assert_eq!(e.to_string(), cpu.to_string().replace("_cpu_", "_cuda_"));
}

/// Operands cuBLAS cannot read are copied into matrices it can, holding the same values.
#[test]
fn unreadable_operands_are_copied_faithfully() {
    if !available("matmul copies") {
        return;
    }
    let dev = HostDevice::open();
    let host: Vec<f64> = (0..200).map(|i| i as f64).collect();
    let x = put(&dev, &HostBuffer::from_vec(host.clone()));
    let (rows, cols) = (3, 4);
    let cases = [
        MatBatch {
            offsets: vec![5, 5, 5],
            rs: 0,
            cs: 1,
        },
        MatBatch {
            offsets: vec![0, 40, 80],
            rs: 9,
            cs: 2,
        },
        MatBatch {
            offsets: vec![60, 1, 17],
            rs: 2,
            cs: 11,
        },
        MatBatch {
            offsets: vec![3, 3],
            rs: 1,
            cs: 1,
        },
        MatBatch {
            offsets: vec![0, 12],
            rs: 4,
            cs: 1,
        },
    ];
    for mx in &cases {
        let op = blas_readable(&x, mx, rows, cols).unwrap();
        let (buf, packed) = op.parts();
        assert!(
            storage(rows, cols, packed.rs, packed.cs).is_some(),
            "{mx:?}"
        );
        assert_eq!(
            matches!(op, Operand::Same(..)),
            storage(rows, cols, mx.rs, mx.cs).is_some()
        );
        let vals = get(buf);
        for (i, (&o, &p)) in mx.offsets.iter().zip(&packed.offsets).enumerate() {
            for r in 0..rows {
                for c in 0..cols {
                    let want =
                        host[(o as isize + r as isize * mx.rs + c as isize * mx.cs) as usize];
                    let got = vals
                        [(p as isize + r as isize * packed.rs + c as isize * packed.cs) as usize];
                    assert_eq!(got, want, "{mx:?} matrix {i} ({r}, {c})");
                }
            }
        }
    }
}

/// Integer products wrap as the CPU's do, and integer alphas are truncated as there.
#[test]
fn integer_products_wrap_and_truncate_alpha() {
    if !available("matmul wrap") {
        return;
    }
    let dev = HostDevice::open();
    let mx = batch(vec![0], 2, 2, false);
    let big = HostBuffer::from_vec(vec![i64::MAX, 3, 1 << 62, -7]);
    let small = HostBuffer::from_vec(vec![200u8, 17, 255, 3]);
    for (h, alpha) in [(&big, 3.0), (&small, 2.7), (&small, -1.0)] {
        let got = matmul(
            &put(&dev, h),
            &mx,
            &put(&dev, h),
            &mx,
            (2, 2, 2),
            alpha,
            None,
        )
        .unwrap();
        let want = Cpu::matmul(h, &mx, h, &mx, (2, 2, 2), alpha, None).unwrap();
        let got = super::super::elementwise::download(&got, &Layout::contiguous(&[4])).unwrap();
        assert_eq!(
            got.as_bytes(),
            want.as_bytes(),
            "{:?} alpha {alpha}",
            h.dtype()
        );
    }
}
