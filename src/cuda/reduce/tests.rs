//! Tests of `reduce.rs`, most of them on the host: the kernels built as C++ for the CPU and
//! compared with the CPU backend.

use super::super::host_check::testing::*;
use super::super::host_check::{available, HostDevice};
use super::*;
use crate::backend::{Backend, HostBuffer};
use crate::cpu::Cpu;
use crate::tensor::dtype::Element;
use parking_lot::Mutex;
use std::sync::Arc;

/// The host harness keeps a kernel's `__shared__` arrays and its barrier in statics of
/// the loaded library, so two launches of the same kernel file must not overlap: these
/// tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// The device's own sizing (the harness shrinks the launches to 16-thread blocks), and
/// a small one that cuts even short rows into parts and gives lanes of 16, so the
/// two-pass paths run on the test sizes.
fn tunings(dev: &Arc<dyn DeviceApi>) -> [Tuning; 2] {
    [
        Tuning::for_device(dev.as_ref()),
        Tuning {
            block: 16,
            target_blocks: 8,
            min_work: 64,
        },
    ]
}

/// Float tolerance of a reduction over `len` elements: the tree adds in another order
/// than the CPU's pairwise / sequential sums, each rounding by up to ~len·eps of the
/// row's absolute sum (the inputs are in [-3, 3), so relative to the result it scales
/// with len). The 16-bit types accumulate in float32 on both sides and differ by one
/// rounding of the result at most.
fn red_tol(dtype: DType, len: usize) -> f64 {
    let n = len.max(2) as f64;
    match dtype {
        DType::F32 => 1e-6 * n,
        DType::F64 => 1e-14 * n,
        d => tol(d),
    }
}

/// `l` reduced over `red` as the op layer arranges it: (permuted layout, rows, len).
fn arrange(l: &Layout, red: &[usize]) -> (Layout, usize, usize) {
    let kept: Vec<usize> = (0..l.ndim()).filter(|d| !red.contains(d)).collect();
    let order: Vec<i64> = kept.iter().chain(red).map(|&d| d as i64).collect();
    let rows = kept.iter().map(|&d| l.shape[d]).product();
    let len = red.iter().map(|&d| l.shape[d]).product();
    (l.permute(&order).unwrap(), rows, len)
}

/// A case: its name, the arranged layout, rows, len, and the buffer length it needs.
struct Case {
    name: String,
    l: Layout,
    rows: usize,
    len: usize,
    n: usize,
}

fn case(name: &str, l: Layout, red: &[usize]) -> Case {
    let n = l.storage_span().1.max(1);
    let (l, rows, len) = arrange(&l, red);
    Case {
        name: format!("{name} {:?}/{:?}+{}", l.shape, l.strides, l.offset),
        l,
        rows,
        len,
        n,
    }
}

/// Row-major layouts (lane-fast), leading-dim reductions (row-fast, `sum_cols`), strided,
/// permuted, broadcast, unmergeable (packed first), long rows, empty ones.
fn cases() -> Vec<Case> {
    let c = |s: &[usize]| Layout::contiguous(s);
    let strided = |s: &[usize]| layouts(s).pop().unwrap().0;
    let mut v = vec![];
    for (r, n) in [
        (3, 1),
        (4, 7),
        (3, 1000),
        (1, 5000),
        (40, 3),
        (2, 0),
        (0, 4),
    ] {
        v.push(case("rows", c(&[r, n]), &[1]));
    }
    for (n, r) in [(7, 4), (1000, 3), (3, 40), (3000, 2)] {
        v.push(case("leading", c(&[n, r]), &[0]));
    }
    let at_offset = Layout {
        offset: 3,
        ..c(&[50, 4])
    };
    v.push(case("leading at an offset", at_offset, &[0]));
    v.push(case("strided", strided(&[5, 9]), &[1]));
    v.push(case("strided long", strided(&[2, 700]), &[1]));
    v.push(case("strided leading", strided(&[300, 3]), &[0]));
    v.push(case("unmergeable", c(&[2, 3, 4]), &[0, 2]));
    v.push(case("middle", c(&[3, 5, 6]), &[1]));
    v.push(case("leading 2-d", c(&[4, 5, 6]), &[0, 1]));
    v.push(case("all", c(&[4, 5, 6]), &[0, 1, 2]));
    v.push(case(
        "transposed",
        c(&[6, 5, 4]).permute(&[2, 1, 0]).unwrap(),
        &[2],
    ));
    v.push(case(
        "transposed all",
        c(&[30, 40]).transpose(0, 1).unwrap(),
        &[0, 1],
    ));
    let bcast_row = Layout {
        shape: vec![5, 6],
        strides: vec![0, 1],
        offset: 0,
    };
    let bcast_col = Layout {
        shape: vec![5, 6],
        strides: vec![1, 0],
        offset: 2,
    };
    v.push(case("broadcast rows", bcast_row, &[1]));
    v.push(case("broadcast within rows", bcast_col.clone(), &[1]));
    v.push(case("broadcast kept", bcast_col, &[0]));
    v
}

/// `h`'s elements mapped through `f` (as f64), same dtype.
fn map(h: &HostBuffer, mut f: impl FnMut(f64) -> f64) -> HostBuffer {
    let v = as_f64(h);
    crate::with_dtype!(
        h.dtype(),
        T,
        HostBuffer::from_vec(v.iter().map(|&x| T::from_f64(f(x))).collect::<Vec<T>>())
    )
}

/// Test data for `op`: products of values near 1 (no overflow, so the order of the
/// float products does not matter), sparse zeros for all/any, the usual mix otherwise.
fn op_data(op: ReduceOp, dtype: DType, n: usize, seed: u64) -> HostBuffer {
    let h = data(dtype, n, seed, true);
    match op {
        ReduceOp::Prod if dtype.is_float() => map(&h, |x| 1.0 + x / 64.0),
        ReduceOp::All if dtype != DType::Bool => map(&h, |x| if x == 1.0 { 0.0 } else { x }),
        ReduceOp::Any if dtype != DType::Bool => map(&h, |x| if x == 1.0 { 1.0 } else { 0.0 }),
        _ => h,
    }
}

const DTYPES: [DType; 8] = [
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I64,
    DType::I32,
    DType::U8,
    DType::Bool,
];

#[test]
fn every_reduce_op_matches_the_cpu() {
    if !available("reduce") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    let mut ops = ReduceOp::ALL.to_vec();
    ops.push(ReduceOp::Var { correction: 0.0 });
    ops.push(ReduceOp::Var { correction: 2.5 });
    for t in tunings(&dev) {
        for &op in &ops {
            for dtype in DTYPES
                .into_iter()
                .filter(|d| kernels::reduce_dtypes(op).contains(d))
            {
                for (k, c) in cases().iter().enumerate() {
                    if c.len == 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) {
                        continue;
                    }
                    let host = op_data(op, dtype, c.n, k as u64 + 1);
                    let got = reduce_with(&t, &put(&dev, &host), &c.l, c.rows, c.len, op)
                        .unwrap_or_else(|e| panic!("{op:?} {dtype:?} {}: {e}", c.name));
                    let want = Cpu::reduce(&host, &c.l, c.rows, c.len, op).unwrap();
                    assert_eq!(got.dtype(), want.dtype());
                    let what = format!("{op:?} {dtype:?} {} {t:?}", c.name);
                    assert_close(&what, &get(&got), &as_f64(&want), red_tol(dtype, c.len));
                }
            }
        }
    }
}

#[test]
fn nan_propagates_and_empty_rows_give_the_identity() {
    if !available("reduce nan") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    let small = tunings(&dev)[1];
    let mut v = vec![1.0f32; 3000];
    v[2900] = f32::NAN;
    let host = HostBuffer::from_vec(v);
    let l = Layout::contiguous(&[1, 3000]);
    for op in [
        ReduceOp::Sum,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Prod,
        ReduceOp::LogSumExp,
    ] {
        let r = get(&reduce_with(&small, &put(&dev, &host), &l, 1, 3000, op).unwrap());
        assert!(r[0].is_nan(), "{op:?}: {r:?}");
    }
    let any = get(&reduce_with(&small, &put(&dev, &host), &l, 1, 3000, ReduceOp::All).unwrap());
    assert_eq!(any, vec![1.0]);
    // Infinite rows: logsumexp does not shift (no NaN from inf − inf).
    let host = HostBuffer::from_vec(vec![
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
        1.0,
        f64::INFINITY,
    ]);
    let l = Layout::contiguous(&[2, 2]);
    let r = get(&reduce(&put(&dev, &host), &l, 2, 2, ReduceOp::LogSumExp).unwrap());
    assert_eq!(r, vec![f64::NEG_INFINITY, f64::INFINITY]);
    // Empty rows.
    let e = put(&dev, &HostBuffer::from_vec(Vec::<f32>::new()));
    let l = Layout::contiguous(&[3, 0]);
    for (op, want) in [
        (ReduceOp::Sum, 0.0),
        (ReduceOp::Prod, 1.0),
        (ReduceOp::All, 1.0),
        (ReduceOp::Any, 0.0),
        (ReduceOp::LogSumExp, f64::NEG_INFINITY),
    ] {
        assert_eq!(
            get(&reduce(&e, &l, 3, 0, op).unwrap()),
            vec![want; 3],
            "{op:?}"
        );
    }
    let var = get(&reduce(&e, &l, 3, 0, ReduceOp::Var { correction: 1.0 }).unwrap());
    assert!(var.iter().all(|v| v.is_nan()));
    let err = reduce(&e, &l, 3, 0, ReduceOp::Max).err().unwrap();
    assert!(matches!(err, Error::Index(_)), "{err}");
    let none = reduce(&e, &Layout::contiguous(&[0, 5]), 0, 5, ReduceOp::Sum).unwrap();
    assert_eq!(none.len(), 0);
    // Unsupported dtypes fail as NotImplemented, and the device works on.
    let i = put(&dev, &HostBuffer::from_vec(vec![1i64, 2, 3]));
    let l = Layout::contiguous(&[1, 3]);
    let err = reduce(&i, &l, 1, 3, ReduceOp::Var { correction: 1.0 })
        .err()
        .unwrap();
    assert!(matches!(err, Error::NotImplemented(_)), "{err}");
    let b = put(&dev, &HostBuffer::from_vec(vec![true, false]));
    let err = reduce(&b, &Layout::contiguous(&[1, 2]), 1, 2, ReduceOp::Sum)
        .err()
        .unwrap();
    assert!(matches!(err, Error::NotImplemented(_)), "{err}");
    assert_eq!(
        get(&reduce(&i, &l, 1, 3, ReduceOp::Sum).unwrap()),
        vec![6.0]
    );
}

#[test]
fn integer_sums_and_products_wrap() {
    if !available("reduce wrap") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    for t in tunings(&dev) {
        let v: Vec<i64> = (0..2000).map(|i| i64::MAX - i).collect();
        let host = HostBuffer::from_vec(v);
        let l = Layout::contiguous(&[1, 2000]);
        for op in [ReduceOp::Sum, ReduceOp::Prod] {
            let got = reduce_with(&t, &put(&dev, &host), &l, 1, 2000, op).unwrap();
            let h = super::super::elementwise::download(&got, &Layout::contiguous(&[1])).unwrap();
            let want = Cpu::reduce(&host, &l, 1, 2000, op).unwrap();
            assert_eq!(h.as_slice::<i64>(), want.as_slice::<i64>(), "{op:?}");
        }
        let host = HostBuffer::from_vec((0..3000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let l = Layout::contiguous(&[1, 3000]);
        let got = get(&reduce_with(&t, &put(&dev, &host), &l, 1, 3000, ReduceOp::Sum).unwrap());
        assert_eq!(
            got,
            as_f64(&Cpu::reduce(&host, &l, 1, 3000, ReduceOp::Sum).unwrap())
        );
    }
}

/// Data with many ties (small integers) and, for floats, a few NaN.
fn tie_data(dtype: DType, n: usize, seed: u64, nan: bool) -> HostBuffer {
    let ints = data(DType::I64, n, seed, false);
    let h = Cpu::cast(&ints, &Layout::contiguous(&[n]), dtype).unwrap();
    if nan && dtype.is_float() {
        let mut k = 0usize;
        map(&h, |x| {
            k += 1;
            if k % 97 == 50 {
                f64::NAN
            } else {
                x
            }
        })
    } else {
        h
    }
}

#[test]
fn arg_extremes_match_the_cpu_with_ties_and_nan() {
    if !available("argmax") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    for t in tunings(&dev) {
        for dtype in DTYPES.into_iter().filter(|&d| d != DType::Bool) {
            for (k, c) in cases().iter().enumerate().filter(|(_, c)| c.len > 0) {
                for (nan, max) in [(false, true), (false, false), (true, true), (true, false)] {
                    let host = tie_data(dtype, c.n, k as u64 + 3, nan);
                    let (v, i) = arg_reduce_with(&t, &put(&dev, &host), &c.l, c.rows, c.len, max)
                        .unwrap_or_else(|e| panic!("{dtype:?} {}: {e}", c.name));
                    let (wv, wi) = Cpu::arg_reduce(&host, &c.l, c.rows, c.len, max).unwrap();
                    let what = format!("arg max={max} nan={nan} {dtype:?} {} {t:?}", c.name);
                    assert_close(&what, &get(&v), &as_f64(&wv), 0.0);
                    assert_eq!(get(&i), as_f64(&wi), "{what}: indices");
                }
            }
        }
    }
    let b = put(&dev, &HostBuffer::from_vec(vec![true]));
    let l = Layout::contiguous(&[1, 1]);
    assert!(matches!(
        arg_reduce(&b, &l, 1, 1, true),
        Err(Error::NotImplemented(_))
    ));
}

/// The fused softmax backward against the CPU's, for every float dtype, rows shorter
/// and longer than a block, from the CPU's softmax of host data.
#[test]
fn softmax_backward_matches_the_cpu() {
    if !available("scan") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    fn span<B>(buf: &B, len: usize) -> Span<'_, B> {
        Span {
            buf,
            offset: 0,
            len,
        }
    }
    for dtype in DTYPES.into_iter().filter(|d| d.is_float()) {
        for (rows, len) in [(3usize, 5usize), (2, 1500), (0, 4)] {
            let n = rows * len;
            let l = Layout::contiguous(&[rows, len]);
            for (op, log) in [(ScanOp::Softmax, false), (ScanOp::LogSoftmax, true)] {
                let y = Cpu::scan(&data(dtype, n, 3, false), &l, rows, len, op).unwrap();
                let g = data(dtype, n, 5, false);
                let want = Cpu::softmax_backward(span(&y, n), span(&g, n), len, log).unwrap();
                let (dy, dg) = (put(&dev, &y), put(&dev, &g));
                let got = softmax_backward(span(&dy, n), span(&dg, n), len, log)
                    .unwrap_or_else(|e| panic!("{dtype:?} {rows}x{len} log {log}: {e}"));
                let what = format!("softmax_backward {dtype:?} {rows}x{len} log {log}");
                assert_close(&what, &get(&got), &as_f64(&want), red_tol(dtype, len));
            }
        }
    }
}

#[test]
fn scans_match_the_cpu() {
    if !available("scan") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    for t in tunings(&dev) {
        for &op in ScanOp::ALL {
            for dtype in DTYPES
                .into_iter()
                .filter(|d| kernels::scan_dtypes(op).contains(d))
            {
                for (k, c) in cases().iter().enumerate() {
                    let specials = op != ScanOp::Cumsum || k % 2 == 0;
                    let host = data(dtype, c.n, k as u64 + 7, specials);
                    // Products of values near 1 (no overflow, no underflow), as for prod.
                    let host = if op == ScanOp::Cumprod {
                        op_data(ReduceOp::Prod, dtype, c.n, k as u64 + 7)
                    } else {
                        host
                    };
                    let got = scan_with(&t, &put(&dev, &host), &c.l, c.rows, c.len, op)
                        .unwrap_or_else(|e| panic!("{op:?} {dtype:?} {}: {e}", c.name));
                    let want = Cpu::scan(&host, &c.l, c.rows, c.len, op).unwrap();
                    let what = format!("{op:?} {dtype:?} {} {t:?}", c.name);
                    assert_close(&what, &get(&got), &as_f64(&want), red_tol(dtype, c.len));
                }
            }
        }
    }
    // Rows of -inf (the shift is 0, as on the CPU) and of a large value.
    let host = HostBuffer::from_vec(vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 1000.0, 1000.0]);
    let l = Layout::contiguous(&[2, 2]);
    for op in [ScanOp::Softmax, ScanOp::LogSoftmax] {
        let got = get(&scan(&put(&dev, &host), &l, 2, 2, op).unwrap());
        assert_close(
            &format!("{op:?}"),
            &got,
            &as_f64(&Cpu::scan(&host, &l, 2, 2, op).unwrap()),
            0.0,
        );
    }
    let i = put(&dev, &HostBuffer::from_vec(vec![1i64, 2]));
    let err = scan(&i, &Layout::contiguous(&[1, 2]), 1, 2, ScanOp::Softmax)
        .err()
        .unwrap();
    assert!(matches!(err, Error::NotImplemented(_)), "{err}");
}

#[test]
fn cumulative_extremes_match_the_cpu_with_ties_and_nan() {
    if !available("cummax") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    for dtype in DTYPES.into_iter().filter(|&d| d != DType::Bool) {
        for (k, c) in cases().iter().enumerate() {
            for (nan, max) in [(false, true), (false, false), (true, true), (true, false)] {
                let host = tie_data(dtype, c.n, k as u64 + 5, nan);
                let (v, i) = arg_scan(&put(&dev, &host), &c.l, c.rows, c.len, max)
                    .unwrap_or_else(|e| panic!("{dtype:?} {}: {e}", c.name));
                let (wv, wi) = Cpu::arg_scan(&host, &c.l, c.rows, c.len, max).unwrap();
                let what = format!("cum max={max} nan={nan} {dtype:?} {}", c.name);
                assert_eq!(v.dtype(), dtype, "{what}");
                assert_close(&what, &get(&v), &as_f64(&wv), 0.0);
                assert_eq!(get(&i), as_f64(&wi), "{what}: indices");
            }
        }
    }
    let b = put(&dev, &HostBuffer::from_vec(vec![true]));
    let l = Layout::contiguous(&[1, 1]);
    assert!(matches!(
        arg_scan(&b, &l, 1, 1, true),
        Err(Error::NotImplemented(_))
    ));
}

#[test]
fn cumprod_wraps_and_logcumsumexp_keeps_infinities() {
    if !available("cumprod") {
        return;
    }
    let _serial = SERIAL.lock();
    let dev = HostDevice::open();
    let l = Layout::contiguous(&[2, 40]);
    let host = HostBuffer::from_vec((0..80).map(|i| i64::MAX - i).collect::<Vec<i64>>());
    let got = scan(&put(&dev, &host), &l, 2, 40, ScanOp::Cumprod).unwrap();
    let h = super::super::elementwise::download(&got, &Layout::contiguous(&[80])).unwrap();
    let want = Cpu::scan(&host, &l, 2, 40, ScanOp::Cumprod).unwrap();
    assert_eq!(h.as_slice::<i64>(), want.as_slice::<i64>());
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let host = HostBuffer::from_vec(vec![-inf, 1e300, -inf, inf, 1.0, inf, inf, -inf, nan, 1.0]);
    let l = Layout::contiguous(&[2, 5]);
    let got = get(&scan(&put(&dev, &host), &l, 2, 5, ScanOp::LogCumSumExp).unwrap());
    let want = as_f64(&Cpu::scan(&host, &l, 2, 5, ScanOp::LogCumSumExp).unwrap());
    assert_close("logcumsumexp infinities", &got, &want, 0.0);
    assert_eq!(&got[..5], &[-inf, 1e300, 1e300, inf, inf]);
}

#[test]
fn launches_fill_the_device_and_split_only_few_rows() {
    let gpu = Tuning {
        block: 512,
        target_blocks: 132 * 6,
        min_work: 16 * 1024,
    };
    // A full sum of 2^28 contiguous floats (an H200's 132 SMs): 792 parts of one row,
    // whole blocks.
    let v = RowsView::contiguous(1, 1 << 28);
    let p = plan(&gpu, &v, 8, true);
    assert_eq!((p.lanes, p.parts, p.items), (512, 792, 792));
    assert_eq!(p.chunk % 64, 0);
    // Many short rows: one lane per row, no split.
    let p = plan(&gpu, &RowsView::contiguous(1 << 20, 7), 8, true);
    assert_eq!((p.lanes, p.parts, p.items), (1, 1, (1 << 20) / 512));
    // A bias gradient: row-fast over 1024 outputs, the 65536 rows cut into parts.
    let mut v = RowsView::contiguous(1024, 65536);
    v.row_fast = true;
    let p = plan(&gpu, &v, 4, true);
    assert_eq!(p.lanes, 1);
    assert!(p.items >= 396 && p.parts > 1, "{p:?}");
    // Row-major views are read in place; leading-dim views are detected.
    if !available("rows view") {
        return;
    }
    let dev = HostDevice::open();
    let x = put(&dev, &HostBuffer::from_vec(vec![0f32; 24]));
    let (v, packed) = rows_view(
        &x,
        &Layout::contiguous(&[4, 6]).transpose(0, 1).unwrap(),
        6,
        4,
    )
    .unwrap();
    assert!(packed.is_none() && v.leading && v.row_fast && v.cs == 6);
    let (l, rows, len) = arrange(&Layout::contiguous(&[2, 3, 4]), &[0, 2]);
    assert!(rows_view(&x, &l, rows, len).unwrap().1.is_some());
}
