//! Tests of `index.rs`, most of them on the host: the kernels built as C++ for the CPU and
//! compared with the CPU backend.

use super::super::elementwise::download;
use super::super::host_check::testing::*;
use super::super::host_check::{available, HostDevice};
use super::*;
use crate::backend::{Backend, HostBuffer};
use crate::cpu::Cpu;
use crate::tensor::dtype::Scalar;

/// The host harness loads one copy of each kernel library per process, so its barrier
/// and `__shared__` statics are shared by every `HostDevice`: these tests take turns.
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

fn ints(v: &[i64]) -> HostBuffer {
    HostBuffer::from_vec(v.to_vec())
}

fn of_dtype(v: &[f64], dtype: DType) -> HostBuffer {
    let h = HostBuffer::from_vec(v.to_vec());
    Cpu::cast(&h, &Layout::contiguous(&[v.len()]), dtype).unwrap()
}

fn c(shape: &[usize]) -> Layout {
    Layout::contiguous(shape)
}

/// Index tensors on the host and on the device, with their layouts.
struct Indices {
    host: Vec<(HostBuffer, Layout)>,
    dev: Vec<CudaBuffer>,
}

impl Indices {
    fn new(dev: &Arc<dyn DeviceApi>, idx: &[(Vec<i64>, Layout)]) -> Indices {
        let host: Vec<(HostBuffer, Layout)> =
            idx.iter().map(|(v, l)| (ints(v), l.clone())).collect();
        let dev = host.iter().map(|(h, _)| put(dev, h)).collect();
        Indices { host, dev }
    }
    fn host_views(&self) -> Vec<(&HostBuffer, &Layout)> {
        self.host.iter().map(|(h, l)| (h, l)).collect()
    }
    fn dev_views(&self) -> Vec<(&CudaBuffer, &Layout)> {
        self.dev
            .iter()
            .zip(&self.host)
            .map(|(d, (_, l))| (d, l))
            .collect()
    }
}

/// Index tensors: each one's values and layout.
type IndexSpec = Vec<(Vec<i64>, Layout)>;

/// Advanced-index cases over a `[5, 4, 3]` tensor: (index tensors, index shape).
fn index_cases() -> Vec<(IndexSpec, Vec<usize>)> {
    vec![
        // One 1-D index with negative values.
        (vec![(vec![-1, 0, 3, 2, 4, -5, 1], c(&[7]))], vec![7]),
        // Two indices broadcast together: [2, 1] and [3] to [2, 3].
        (
            vec![(vec![4, -2], c(&[2, 1])), (vec![0, 3, -1], c(&[3]))],
            vec![2, 3],
        ),
        // A transposed index.
        (
            vec![(vec![0, 1, 2, 3, 4, 0], c(&[2, 3]).transpose(0, 1).unwrap())],
            vec![3, 2],
        ),
        // A strided index expanded along its first dim.
        (
            vec![(
                vec![1, 9, 3, 9, 0],
                Layout {
                    shape: vec![2, 3],
                    strides: vec![0, 2],
                    offset: 0,
                },
            )],
            vec![2, 3],
        ),
        // Every dim indexed: the rest is one element.
        (
            vec![
                (vec![0, 4, 2], c(&[3])),
                (vec![3, 0, -1], c(&[3])),
                (vec![2, 1, 0], c(&[3])),
            ],
            vec![3],
        ),
        // No entries.
        (vec![(vec![], c(&[0]))], vec![0]),
    ]
}

#[test]
fn index_matches_the_cpu_over_dtypes_layouts_and_index_shapes() {
    if !available("index") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    for dtype in [DType::F32, DType::F16, DType::I64, DType::Bool, DType::U8] {
        for (l, len) in layouts(&[5, 4, 3]) {
            let host = data(dtype, len, 3, true);
            let buf = put(&dev, &host);
            for (idx, shape) in index_cases() {
                let ix = Indices::new(&dev, &idx);
                let got = get(&index(&buf, &l, &ix.dev_views(), &shape).unwrap());
                let want = as_f64(&Cpu::index(&host, &l, &ix.host_views(), &shape).unwrap());
                assert_close(&format!("index {dtype:?} {l:?} {idx:?}"), &got, &want, 0.0);
            }
        }
    }
}

#[test]
fn index_put_matches_the_cpu_with_and_without_accumulate() {
    if !available("index_put") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    let dl = c(&[5, 4, 3]);
    // Distinct places for plain puts; repeated ones (also through wrapping) to add.
    let plain: Vec<IndexSpec> = vec![
        vec![(vec![1, 3, -1, 0], c(&[4]))],
        vec![(vec![0, 2, 4], c(&[3])), (vec![1, -1, 1], c(&[3]))],
    ];
    let repeated: Vec<IndexSpec> = vec![
        vec![(vec![1, 3, 1, -4, 0, 1], c(&[6]))],
        vec![(vec![0, 2, 0, 0], c(&[4])), (vec![1, 1, 1, -3], c(&[4]))],
        vec![(vec![2, 2, 2, 2, 2, 2], c(&[2, 3]))],
    ];
    for dtype in [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F64,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::I8,
        DType::U8,
        DType::Bool,
    ] {
        let tolerance = 4.0 * tol(dtype);
        for (accumulate, cases) in [(false, &plain), (true, &repeated)] {
            for idx in cases {
                let ix = Indices::new(&dev, idx);
                let index_shape = idx[0].1.shape.clone();
                let k = idx.len();
                let mut full = index_shape.clone();
                full.extend_from_slice(&dl.shape[k..]);
                // Values: the whole shape in each test layout, the rest only (broadcast
                // over the index entries), and a number.
                let mut values: Vec<(HostBuffer, Option<Layout>)> = layouts(&full)
                    .into_iter()
                    .map(|(vl, len)| (data(dtype, len, 9, false), Some(vl)))
                    .collect();
                let rest = &dl.shape[k..];
                values.push((data(dtype, numel(rest), 4, false), Some(c(rest))));
                values.push((data(dtype, 1, 0, false), None));
                for (vh, vl) in &values {
                    let host = data(dtype, 60, 2, false);
                    let dst = put(&dev, &host);
                    let vd = put(&dev, vh);
                    let number = Scalar::Float(-1.25);
                    let (harg, darg) = match vl {
                        Some(vl) => (Arg::Buf(vh, vl), Arg::Buf(&vd, vl)),
                        None => (Arg::Scalar(number), Arg::Scalar(number)),
                    };
                    index_put(&dst, &dl, &ix.dev_views(), &index_shape, darg, accumulate).unwrap();
                    Cpu::index_put(&host, &dl, &ix.host_views(), &index_shape, harg, accumulate)
                        .unwrap();
                    assert_close(
                        &format!("index_put {dtype:?} acc={accumulate} {idx:?} {vl:?}"),
                        &get(&dst),
                        &as_f64(&host),
                        tolerance,
                    );
                }
            }
        }
    }
}

#[test]
fn plain_puts_at_repeated_places_keep_one_of_the_values() {
    if !available("index_put repeated") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    let dst = put(&dev, &HostBuffer::from_vec(vec![0.0f32; 4]));
    let ix = Indices::new(&dev, &[(vec![2, -2, 2], c(&[3]))]);
    let vals = put(&dev, &HostBuffer::from_vec(vec![1.0f32, 2.0, 3.0]));
    index_put(
        &dst,
        &c(&[4]),
        &ix.dev_views(),
        &[3],
        Arg::Buf(&vals, &c(&[3])),
        false,
    )
    .unwrap();
    let got = get(&dst);
    assert_eq!((got[0], got[1], got[3]), (0.0, 0.0, 0.0));
    assert!([1.0, 2.0, 3.0].contains(&got[2]), "{got:?}");
}

/// Gather/scatter cases: (src/dst shape, dim, index shape).
fn dim_cases() -> Vec<(Vec<usize>, usize, Vec<usize>)> {
    vec![
        (vec![4, 5], 0, vec![3, 5]),
        (vec![4, 5], 1, vec![4, 3]),
        (vec![2, 3, 4], 2, vec![2, 2, 3]),
        (vec![2, 3, 4], 1, vec![1, 3, 4]),
        // Longer than the source along `dim` (gather, or a scatter that adds).
        (vec![4, 5], 1, vec![4, 7]),
    ]
}

/// Index values for `shape` along `dim` of size `size`: distinct along `dim` when
/// `distinct` (a plain scatter then writes each place once), else repeating.
fn dim_index(shape: &[usize], dim: usize, size: usize, distinct: bool) -> Vec<i64> {
    let n = numel(shape);
    let st = crate::tensor::layout::contiguous_strides(shape);
    (0..n)
        .map(|i| {
            let along = (i as isize / st[dim]) as usize % shape[dim];
            let v = if distinct {
                (along + (i - along * st[dim] as usize) % size) % size
            } else {
                (i * 7 + 3) % size
            };
            v as i64
        })
        .collect()
}

#[test]
fn gather_matches_the_cpu_along_first_and_last_dims() {
    if !available("gather") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    for dtype in [DType::F32, DType::F16, DType::I64, DType::Bool, DType::U8] {
        for (shape, dim, ishape) in dim_cases() {
            for (sl, len) in layouts(&shape) {
                let host = data(dtype, len, 5, true);
                let buf = put(&dev, &host);
                for (il, ilen) in layouts(&ishape) {
                    // The index values in the layout's order of storage.
                    let vals = dim_index(&[ilen], 0, shape[dim], false);
                    let (hi, di) = (ints(&vals), put(&dev, &ints(&vals)));
                    let got = get(&gather(&buf, &sl, dim, &di, &il).unwrap());
                    let want = as_f64(&Cpu::gather(&host, &sl, dim, &hi, &il).unwrap());
                    assert_close(
                        &format!("gather {dtype:?} {sl:?} {dim} {il:?}"),
                        &got,
                        &want,
                        0.0,
                    );
                }
            }
        }
    }
}

#[test]
fn scatter_matches_the_cpu_with_buffers_numbers_and_accumulate() {
    if !available("scatter") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    for dtype in [
        DType::F32,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::Bool,
        DType::U8,
    ] {
        for (shape, dim, ishape) in dim_cases() {
            let dl = c(&shape);
            for accumulate in [false, true] {
                if !accumulate && ishape[dim] > shape[dim] {
                    continue;
                }
                let vals = dim_index(&ishape, dim, shape[dim], !accumulate);
                let (hi, di) = (ints(&vals), put(&dev, &ints(&vals)));
                let il = c(&ishape);
                // src: in each test layout of the index's shape, larger than the index
                // (PyTorch reads its leading block), and a number.
                let mut srcs: Vec<(HostBuffer, Option<Layout>)> = layouts(&ishape)
                    .into_iter()
                    .map(|(l, len)| (data(dtype, len, 8, false), Some(l)))
                    .collect();
                let bigger: Vec<usize> = ishape.iter().map(|s| s + 1).collect();
                srcs.push((data(dtype, numel(&bigger), 6, false), Some(c(&bigger))));
                srcs.push((data(dtype, 1, 0, false), None));
                for (sh, sl) in &srcs {
                    let host = data(dtype, numel(&shape), 1, false);
                    let dst = put(&dev, &host);
                    let sd = put(&dev, sh);
                    let number = Scalar::Int(3);
                    let (harg, darg) = match sl {
                        Some(sl) => (Arg::Buf(sh, sl), Arg::Buf(&sd, sl)),
                        None => (Arg::Scalar(number), Arg::Scalar(number)),
                    };
                    scatter(&dst, &dl, dim, &di, &il, darg, accumulate).unwrap();
                    Cpu::scatter(&host, &dl, dim, &hi, &il, harg, accumulate).unwrap();
                    assert_close(
                        &format!("scatter {dtype:?} {shape:?} dim {dim} acc={accumulate} {sl:?}"),
                        &get(&dst),
                        &as_f64(&host),
                        4.0 * tol(dtype),
                    );
                }
            }
        }
    }
}

#[test]
fn bad_indices_are_reported_at_the_next_read_and_the_device_works_on() {
    if !available("index errors") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    let host = data(DType::F32, 20, 1, false);
    let src = put(&dev, &host);
    let l = c(&[5, 4]);
    let good = Indices::new(&dev, &[(vec![4, 0], c(&[2]))]);
    let want = as_f64(&Cpu::index(&host, &l, &good.host_views(), &[2]).unwrap());
    let check_good = || {
        assert_eq!(
            get(&index(&src, &l, &good.dev_views(), &[2]).unwrap()),
            want
        );
    };

    let bad = Indices::new(&dev, &[(vec![0, 5], c(&[2]))]);
    let out = index(&src, &l, &bad.dev_views(), &[2]).expect("the launch succeeds");
    let e = download(&out, &c(&[8])).unwrap_err();
    assert_eq!(
        e,
        Error::Index("index 5 is out of bounds for dimension 0 with size 5".into())
    );
    check_good();

    let bad = Indices::new(&dev, &[(vec![0], c(&[1])), (vec![-5], c(&[1]))]);
    let dst = put(&dev, &host);
    index_put(
        &dst,
        &l,
        &bad.dev_views(),
        &[1],
        Arg::Scalar(Scalar::Int(1)),
        true,
    )
    .unwrap();
    let e = download(&dst, &l).unwrap_err();
    assert_eq!(
        e,
        Error::Index("index -5 is out of bounds for dimension 1 with size 4".into())
    );
    check_good();

    let idx = put(&dev, &ints(&[0, 1, 7, 2]));
    let out = gather(&src, &l, 1, &idx, &c(&[1, 4])).unwrap();
    let e = download(&out, &c(&[4])).unwrap_err();
    assert_eq!(
        e,
        Error::Runtime("index 7 is out of bounds for dimension 1 with size 4".into())
    );
    check_good();

    let idx = put(&dev, &ints(&[-1, 0, 1, 2]));
    let dst = put(&dev, &host);
    scatter(
        &dst,
        &l,
        0,
        &idx,
        &c(&[1, 4]),
        Arg::Scalar(Scalar::Int(0)),
        false,
    )
    .unwrap();
    let e = download(&dst, &l).unwrap_err();
    assert_eq!(
        e,
        Error::Runtime("index -1 is out of bounds for dimension 0 with size 5".into())
    );
    check_good();
}

/// Values with zeros, -0.0 and NaN in several places.
fn sparse_values(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match i % 11 {
            0 | 3 | 7 => 0.0,
            5 => -0.0,
            9 => f64::NAN,
            _ => (i % 5) as f64 - 2.0,
        })
        .collect()
}

#[test]
fn nonzero_matches_the_cpu_over_chunks_layouts_and_edge_shapes() {
    if !available("nonzero") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    for dtype in [
        DType::Bool,
        DType::I32,
        DType::U8,
        DType::F32,
        DType::F16,
        DType::BF16,
    ] {
        let mut cases: Vec<(Layout, usize)> = layouts(&[70, 90]);
        cases.extend(layouts(&[10, 20, 30]));
        cases.push((c(&[]), 1));
        cases.push((
            Layout {
                shape: vec![],
                strides: vec![],
                offset: 1,
            },
            2,
        ));
        cases.push((c(&[0, 3]), 0));
        cases.push((c(&[3, 0]), 0));
        cases.push((c(&[4000]), 4000));
        for (l, len) in cases {
            for seed in [0usize, 1] {
                let vals: Vec<f64> = sparse_values(len + seed).split_off(seed);
                let host = of_dtype(&vals, dtype);
                let (out, count) = nonzero(&put(&dev, &host), &l).unwrap();
                let (want, want_count) = Cpu::nonzero(&host, &l).unwrap();
                assert_eq!(count, want_count, "nonzero count {dtype:?} {l:?}");
                assert_eq!(out.len(), count * l.ndim());
                assert_close(
                    &format!("nonzero {dtype:?} {l:?}"),
                    &get(&out),
                    &as_f64(&want),
                    0.0,
                );
            }
        }
    }
}

/// Sort keys with ties, both zeros, infinities and NaN.
fn sort_values(n: usize, seed: u64) -> Vec<f64> {
    let pool = [
        f64::NAN,
        -0.0,
        0.0,
        1.0,
        -1.5,
        2.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.0,
        7.0,
        -3.0,
    ];
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            pool[(s % pool.len() as u64) as usize]
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn check_sort(
    dev: &Arc<dyn DeviceApi>,
    host: &HostBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    descending: bool,
    k: usize,
    tile: usize,
) {
    let buf = put(dev, host);
    let got = get(&sort_in_tiles(&buf, l, rows, len, descending, k, tile).unwrap());
    let want = as_f64(&Cpu::sort(host, l, rows, len, descending, k).unwrap());
    let what = format!(
        "sort {:?} {l:?} rows {rows} len {len} desc {descending} k {k} tile {tile}",
        host.dtype()
    );
    assert_close(&what, &got, &want, 0.0);
}

#[test]
fn short_row_sorts_match_the_cpu_for_every_dtype() {
    if !available("sort") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    for dtype in DType::ALL {
        let tile = sort_tile(dtype);
        let (rows, len) = (6, 37);
        let host = of_dtype(&sort_values(rows * len, 1), dtype);
        let views = [c(&[rows, len]), c(&[len, rows]).transpose(0, 1).unwrap()];
        for l in &views {
            for descending in [false, true] {
                for k in [len, 5] {
                    check_sort(&dev, &host, l, rows, len, descending, k, tile);
                }
            }
        }
        // Many short rows, several groups of rows per block (small tiles).
        let host = of_dtype(&sort_values(300 * 3, 2), dtype);
        for descending in [false, true] {
            check_sort(&dev, &host, &c(&[300, 3]), 300, 3, descending, 3, 16);
            check_sort(&dev, &host, &c(&[300, 3]), 300, 3, descending, 2, tile);
        }
        // Rows of one element, and nothing to sort.
        let host = of_dtype(&sort_values(5, 3), dtype);
        check_sort(&dev, &host, &c(&[5, 1]), 5, 1, false, 1, tile);
        let empty = of_dtype(&[], dtype);
        check_sort(&dev, &empty, &c(&[3, 0]), 3, 0, false, 0, tile);
        check_sort(&dev, &empty, &c(&[0, 4]), 0, 4, true, 4, tile);
    }
}

#[test]
fn long_row_sorts_match_the_cpu() {
    if !available("long sort") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    // Small tiles: several global passes and merges per stage.
    for dtype in [
        DType::F32,
        DType::F16,
        DType::F64,
        DType::I64,
        DType::U8,
        DType::Bool,
    ] {
        let (rows, len) = (3, 100);
        let host = of_dtype(&sort_values(rows * len, 4), dtype);
        let views = [c(&[rows, len]), c(&[len, rows]).transpose(0, 1).unwrap()];
        for l in &views {
            for descending in [false, true] {
                for k in [len, 10, 20] {
                    check_sort(&dev, &host, l, rows, len, descending, k, 16);
                }
            }
        }
    }
    // Rows longer than the real tile.
    let host = of_dtype(&sort_values(5000, 5), DType::F32);
    for descending in [false, true] {
        check_sort(
            &dev,
            &host,
            &c(&[1, 5000]),
            1,
            5000,
            descending,
            5000,
            sort_tile(DType::F32),
        );
    }
    let host = of_dtype(&sort_values(2 * 3000, 6), DType::F16);
    check_sort(&dev, &host, &c(&[2, 3000]), 2, 3000, true, 100, 1024);
}

#[test]
fn random_int64_keys_sort_to_the_cpus_permutation() {
    if !available("randperm keys") {
        return;
    }
    let _turn = SERIAL.lock();
    let dev = HostDevice::open();
    let mut s = 0x1234_5678_9abc_def1u64;
    let keys: Vec<i64> = (0..2 * 3000)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as i64
        })
        .collect();
    let host = ints(&keys);
    check_sort(
        &dev,
        &host,
        &c(&[2, 3000]),
        2,
        3000,
        false,
        3000,
        sort_tile(DType::I64),
    );
    let got = get(&sort(&put(&dev, &host), &c(&[6000]), 1, 6000, false, 6000).unwrap());
    let mut seen = vec![false; 6000];
    for v in got {
        seen[v as usize] = true;
    }
    assert!(seen.iter().all(|&b| b), "a permutation");
}
