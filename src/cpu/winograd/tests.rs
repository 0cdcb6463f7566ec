//! [`super`] against direct convolutions in f64.

use super::*;

/// The direct 3×3 convolution of a contiguous `[n, cin, h, w]` by `[cout, cin, 3, 3]`,
/// padded by `pad`, plus `bias`.
fn naive(
    x: &[f64],
    [n, cin, h, w]: [usize; 4],
    wt: &[f64],
    cout: usize,
    pad: [usize; 2],
    bias: &[f64],
) -> Vec<f64> {
    let (oh, ow) = (h + 2 * pad[0] - 2, w + 2 * pad[1] - 2);
    let mut y = vec![0.0; n * cout * oh * ow];
    for i in 0..n {
        for k in 0..cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias[k];
                    for c in 0..cin {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (yy, xx) = (
                                    (oy + ky) as isize - pad[0] as isize,
                                    (ox + kx) as isize - pad[1] as isize,
                                );
                                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                    acc += x[((i * cin + c) * h + yy as usize) * w + xx as usize]
                                        * wt[((k * cin + c) * 3 + ky) * 3 + kx];
                                }
                            }
                        }
                    }
                    y[((i * cout + k) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    y
}

fn values(len: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn window(h: usize, w: usize, pad: [usize; 2]) -> Window {
    Window {
        input: vec![h, w],
        output: vec![h + 2 * pad[0] - 2, w + 2 * pad[1] - 2],
        kernel: vec![3, 3],
        stride: vec![1, 1],
        padding: pad.to_vec(),
        dilation: vec![1, 1],
        adaptive: false,
    }
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
            "element {i}: {x} against {y}"
        );
    }
}

/// Tiles of three images (the last one shorter), whatever the thread count.
fn threes(n: usize, _blocks: usize, _source: Source) -> Option<Tiles> {
    Some(Tiles::fixed(n, 3))
}

#[test]
fn forward_and_input_grad_match_the_direct_convolution() {
    let mut sizes = std::collections::BTreeSet::new();
    for (n, cin, cout, h, w, pad) in [
        (7, 16, 16, 13, 13, [1, 1]),
        (4, 17, 20, 9, 12, [0, 0]),
        (3, 16, 18, 7, 6, [2, 1]),
        (5, 20, 16, 15, 11, [0, 2]),
        (2, 16, 17, 10, 19, [1, 0]),
    ] {
        let x = values(n * cin * h * w, 1);
        let wt = values(cout * cin * 9, 2);
        let bias = values(cout, 3);
        let win = window(h, w, pad);
        // Both block sizes: F(4×4, 3×3) where both output sides reach 8, F(2×2, 3×3) below.
        let (forward, source) = plan(&win, cin, cout, Pass::Forward).expect("a plan");
        for (plan, out) in [(forward, &win.output), (forward.transposed(), &win.input)] {
            let m = if out[0].min(out[1]) >= 8 { 4 } else { 2 };
            assert_eq!(plan.wider(source).m, m);
            sizes.insert(m);
        }
        let xl = Layout::contiguous(&[n, cin, h, w]);
        let y = forward_in(&x, &xl, &wt, Some(&bias), &win, threes).expect("takes the path");
        close(&y, &naive(&x, [n, cin, h, w], &wt, cout, pad, &bias));
        // The input gradient is the convolution of the output gradient by the flipped,
        // transposed filters, padded by 2 − pad.
        let (oh, ow) = (win.output[0], win.output[1]);
        let g = values(n * cout * oh * ow, 4);
        let gx = input_grad_in(&g, n, &wt, cin, &win, threes).expect("takes the path");
        let mut flipped = vec![0.0; cin * cout * 9];
        for k in 0..cout {
            for c in 0..cin {
                for t in 0..9 {
                    flipped[(c * cout + k) * 9 + 8 - t] = wt[(k * cin + c) * 9 + t];
                }
            }
        }
        let want = naive(
            &g,
            [n, cout, oh, ow],
            &flipped,
            cin,
            [2 - pad[0], 2 - pad[1]],
            &vec![0.0; cin],
        );
        close(&gx, &want);
        // The weight gradient: each output gradient times the inputs its filter tap saw.
        let gw = weight_grad_in(&x, &xl, &g, cout, &win, threes).expect("takes the path");
        let mut want = vec![0.0; cout * cin * 9];
        for i in 0..n {
            for k in 0..cout {
                for c in 0..cin {
                    for t in 0..9 {
                        let (ky, kx) = (t / 3, t % 3);
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let (yy, xx) = (
                                    (oy + ky) as isize - pad[0] as isize,
                                    (ox + kx) as isize - pad[1] as isize,
                                );
                                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                    want[(k * cin + c) * 9 + t] += g
                                        [((i * cout + k) * oh + oy) * ow + ox]
                                        * x[((i * cin + c) * h + yy as usize) * w + xx as usize];
                                }
                            }
                        }
                    }
                }
            }
        }
        close(&gw, &want);
    }
    assert_eq!(sizes.into_iter().collect::<Vec<_>>(), [2, 4]);
}

/// An `[n, cin, h, w]` view of every other element of a twice-as-wide buffer, from offset
/// 1: the view's layout and where its element `(i, c, y, x)` is in the buffer.
fn every_other([n, cin, h, w]: [usize; 4]) -> (Layout, impl Fn(usize) -> usize) {
    let layout = Layout {
        shape: vec![n, cin, h, w],
        strides: vec![
            (cin * h * 2 * w) as isize,
            (h * 2 * w) as isize,
            2 * w as isize,
            2,
        ],
        offset: 1,
    };
    // Element `e` of the dense `[n, cin, h, w]`: its plane, row and column in the buffer.
    (layout, move |e: usize| 1 + e / w * 2 * w + 2 * (e % w))
}

/// The view's elements as a dense array.
fn dense_of(buffer: &[f64], len: usize, at: &impl Fn(usize) -> usize) -> Vec<f64> {
    (0..len).map(|e| buffer[at(e)]).collect()
}

#[test]
fn strided_input_and_declined_cases() {
    let (n, cin, cout, h, w) = (4, 16, 16, 10, 10);
    let wide = values(n * cin * h * 2 * w, 5);
    let (xl, at) = every_other([n, cin, h, w]);
    let x = dense_of(&wide, n * cin * h * w, &at);
    let wt = values(cout * cin * 9, 6);
    let win = window(h, w, [1, 1]);
    let y = forward_in(&wide, &xl, &wt, None, &win, threes).expect("takes the path");
    close(
        &y,
        &naive(&x, [n, cin, h, w], &wt, cout, [1, 1], &vec![0.0; cout]),
    );
    // Not finite, too few channels, a padding over 2, a stride: declined.
    let mut bad = wide.clone();
    bad[1 + 2 * 37] = f64::INFINITY;
    assert!(forward_in(&bad, &xl, &wt, None, &win, threes).is_none());
    let g = values(n * cout * h * w, 7);
    let mut badg = g.clone();
    badg[301] = f64::NEG_INFINITY;
    assert!(weight_grad_in(&wide, &xl, &g, cout, &win, threes).is_some());
    assert!(weight_grad_in(&wide, &xl, &badg, cout, &win, threes).is_none());
    assert!(weight_grad_in(&bad, &xl, &g, cout, &win, threes).is_none());
    let mut badw = wt.clone();
    badw[4] = f64::NAN;
    assert!(forward_in(&wide, &xl, &badw, None, &win, threes).is_none());
    let narrow = Layout::contiguous(&[n, 8, h, w]);
    assert!(forward_in(&x, &narrow, &wt[..cout * 8 * 9], None, &win, threes).is_none());
    let mut far = window(h, w, [3, 3]);
    assert!(forward_in(&wide, &xl, &wt, None, &far, threes).is_none());
    far = window(h, w, [1, 1]);
    far.stride = vec![2, 2];
    assert!(forward_in(&wide, &xl, &wt, None, &far, threes).is_none());
}

/// The direct convolution of a contiguous `[n, cin, h, w]` by `[cout, cin, 4, 4]` at
/// stride 2, padded by `pad`, and, for the output gradient `g`, its input and weight
/// gradients, every tap accumulated one by one.
fn naive_stride2(
    x: &[f64],
    [n, cin, h, w]: [usize; 4],
    wt: &[f64],
    cout: usize,
    pad: [usize; 2],
    g: &[f64],
) -> [Vec<f64>; 3] {
    let (oh, ow) = ((h + 2 * pad[0] - 4) / 2 + 1, (w + 2 * pad[1] - 4) / 2 + 1);
    let mut y = vec![0.0; n * cout * oh * ow];
    let mut gx = vec![0.0; x.len()];
    let mut gw = vec![0.0; wt.len()];
    for i in 0..n {
        for k in 0..cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let o = ((i * cout + k) * oh + oy) * ow + ox;
                    for c in 0..cin {
                        for t in 0..16 {
                            let yy = (2 * oy + t / 4) as isize - pad[0] as isize;
                            let xx = (2 * ox + t % 4) as isize - pad[1] as isize;
                            if yy < 0 || xx < 0 || yy as usize >= h || xx as usize >= w {
                                continue;
                            }
                            let e = ((i * cin + c) * h + yy as usize) * w + xx as usize;
                            let f = (k * cin + c) * 16 + t;
                            y[o] += x[e] * wt[f];
                            gx[e] += g[o] * wt[f];
                            gw[f] += g[o] * x[e];
                        }
                    }
                }
            }
        }
    }
    [y, gx, gw]
}

fn window_stride2(h: usize, w: usize, pad: [usize; 2]) -> Window {
    Window {
        input: vec![h, w],
        output: vec![(h + 2 * pad[0] - 4) / 2 + 1, (w + 2 * pad[1] - 4) / 2 + 1],
        kernel: vec![4, 4],
        stride: vec![2, 2],
        padding: pad.to_vec(),
        dilation: vec![1, 1],
        adaptive: false,
    }
}

#[test]
fn stride_two_windows_match_the_direct_convolution() {
    // Odd sizes (a last row or column no window reaches), paddings 0 to 3.
    for (n, cin, cout, h, w, pad) in [
        (5, 4, 16, 32, 32, [1, 1]),
        (4, 5, 17, 35, 33, [0, 2]),
        (3, 6, 16, 33, 36, [3, 1]),
    ] {
        let x = values(n * cin * h * w, 11);
        let wt = values(cout * cin * 16, 12);
        let win = window_stride2(h, w, pad);
        let g = values(n * cout * win.output_numel(), 13);
        let [y, gx, gw] = naive_stride2(&x, [n, cin, h, w], &wt, cout, pad, &g);
        let xl = Layout::contiguous(&[n, cin, h, w]);
        let bias = vec![0.0; cout];
        close(
            &forward_in(&x, &xl, &wt, Some(&bias), &win, threes).expect("takes the path"),
            &y,
        );
        close(
            &input_grad_in(&g, n, &wt, cin, &win, threes).expect("takes the path"),
            &gx,
        );
        close(
            &weight_grad_in(&x, &xl, &g, cout, &win, threes).expect("takes the path"),
            &gw,
        );
    }
    // Outputs under 16 a side: the forward from 4, the weight gradient from 8, the input
    // gradient declined. Blocks of four and two a row, and a ragged last one.
    for (n, cin, cout, h, w, pad) in [
        (5, 8, 16, 16, 17, [1, 1]),
        (4, 6, 18, 11, 10, [1, 0]),
        (3, 5, 16, 28, 28, [1, 1]),
    ] {
        let x = values(n * cin * h * w, 19);
        let wt = values(cout * cin * 16, 20);
        let win = window_stride2(h, w, pad);
        let g = values(n * cout * win.output_numel(), 21);
        let [y, _, gw] = naive_stride2(&x, [n, cin, h, w], &wt, cout, pad, &g);
        let xl = Layout::contiguous(&[n, cin, h, w]);
        let small = *win.output.iter().min().expect("two sides");
        assert!(small < 16);
        close(
            &forward_in(&x, &xl, &wt, None, &win, threes).expect("takes the path"),
            &y,
        );
        let weight = weight_grad_in(&x, &xl, &g, cout, &win, threes);
        assert_eq!(weight.is_some(), small >= 8);
        if let Some(weight) = weight {
            close(&weight, &gw);
        }
        assert!(input_grad_in(&g, n, &wt, cin, &win, threes).is_none());
    }
    // Outputs under 4 a side, or too few channels: declined.
    let x = values(4 * 4 * 28 * 28, 14);
    let xl = Layout::contiguous(&[4, 4, 6, 6]);
    let wt = values(16 * 4 * 16, 15);
    let x6 = &x[..4 * 4 * 6 * 6];
    assert!(forward_in(x6, &xl, &wt, None, &window_stride2(6, 6, [1, 1]), threes).is_none());
    let xl = Layout::contiguous(&[4, 3, 32, 32]);
    let wt = values(16 * 3 * 16, 15);
    let win = window_stride2(32, 32, [1, 1]);
    assert!(forward_in(&x[..4 * 3 * 32 * 32], &xl, &wt, None, &win, threes).is_none());
}

#[test]
fn stride_two_windows_on_a_strided_view_and_non_finite_values() {
    let (n, cin, cout, h, w, pad) = (3, 4, 16, 34, 37, [0, 0]);
    let wide = values(n * cin * h * 2 * w, 16);
    let (xl, at) = every_other([n, cin, h, w]);
    let dense = |v: &[f64]| dense_of(v, n * cin * h * w, &at);
    let at = |i: usize, c: usize, y: usize, xx: usize| at(((i * cin + c) * h + y) * w + xx);
    let wt = values(cout * cin * 16, 17);
    let win = window_stride2(h, w, pad);
    let g = values(n * cout * win.output_numel(), 18);
    let [y, _, gw] = naive_stride2(&dense(&wide), [n, cin, h, w], &wt, cout, pad, &g);
    close(
        &forward_in(&wide, &xl, &wt, None, &win, threes).expect("takes the path"),
        &y,
    );
    close(
        &weight_grad_in(&wide, &xl, &g, cout, &win, threes).expect("takes the path"),
        &gw,
    );
    // An infinity in the last column, which no window reaches (the outputs are 16 × 17,
    // the last block's right half past them): the forward still takes the path.
    let mut unread = wide.clone();
    unread[at(1, 2, 5, w - 1)] = f64::INFINITY;
    let [y, ..] = naive_stride2(&dense(&unread), [n, cin, h, w], &wt, cout, pad, &g);
    close(
        &forward_in(&unread, &xl, &wt, None, &win, threes).expect("takes the path"),
        &y,
    );
    // A non-finite input, output gradient or weight that a window reaches: declined.
    let mut bad = wide.clone();
    bad[at(2, 0, 7, 9)] = f64::NAN;
    assert!(forward_in(&bad, &xl, &wt, None, &win, threes).is_none());
    assert!(weight_grad_in(&bad, &xl, &g, cout, &win, threes).is_none());
    let mut badg = g.clone();
    badg[100] = f64::INFINITY;
    assert!(input_grad_in(&badg, n, &wt, cin, &win, threes).is_none());
    assert!(weight_grad_in(&wide, &xl, &badg, cout, &win, threes).is_none());
    let mut badw = wt.clone();
    badw[21] = f64::NEG_INFINITY;
    assert!(forward_in(&wide, &xl, &badw, None, &win, threes).is_none());
    assert!(input_grad_in(&g, n, &badw, cin, &win, threes).is_none());
}
