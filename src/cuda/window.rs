//! Sliding-window kernels on the GPU (`kernels/window.cu`): im2col / col2im, max and average
//! pooling and its adjoint, with the CPU backend's semantics (`crate::cpu::window`), and
//! one axis of uint8 resampling (`crate::cpu::resample`'s, to the byte).
//!
//! Design choices:
//! - One thread per element of the result, over the windows' three spatial dims
//!   ([`Window::to_3d`]); the geometry travels by value (`WindowArgs`), the operand's
//!   strides as a [`View`] (n, c, z, y, x), so any strided input is read in place.
//! - The adjoints (col2im, the average pooling's backward) gather: each input element's
//!   thread walks the output positions whose window holds it and sums their
//!   contributions, rather than scattering with atomic adds. The result is deterministic
//!   and summed in the CPU's order (output positions ascending), so col2im gives the CPU's
//!   bits; the averages accumulate in `acc_t` (float32 for the 16-bit types and float32
//!   itself, where the CPU uses float64), so they agree within rounding.

use super::buffer::CudaBuffer;
use super::device::{Args, Kernel, KernelArg, View};
use super::elementwise::{launch_elementwise, upload};
use super::kernels::{self, WINDOW};
use crate::backend::{AvgDivisor, HostBuffer, ResampleAxis, Window};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Element};
use crate::tensor::layout::Layout;

/// The windows over three spatial dims (`struct RtWindow` in `window.cu`).
#[repr(C)]
#[derive(Clone, Copy)]
struct WindowArgs {
    input: [i64; 3],
    output: [i64; 3],
    kernel: [i64; 3],
    stride: [i64; 3],
    padding: [i64; 3],
    dilation: [i64; 3],
    adaptive: i64,
}
// SAFETY: `#[repr(C)]` with the fields, order and sizes of `struct RtWindow` (arrays of long
// long as i64, then a long long), 8-byte aligned and without pointers.
unsafe impl KernelArg for WindowArgs {}

impl WindowArgs {
    fn new(w: &Window) -> WindowArgs {
        let w = w.to_3d();
        let three = |v: &[usize]| -> [i64; 3] { std::array::from_fn(|d| v[d] as i64) };
        WindowArgs {
            input: three(&w.input),
            output: three(&w.output),
            kernel: three(&w.kernel),
            stride: three(&w.stride),
            padding: three(&w.padding),
            dilation: three(&w.dilation),
            adaptive: i64::from(w.adaptive),
        }
    }
}

/// Kernel `name` of `window.cu` for `dtype`, or the CPU's error for a dtype it lacks (also
/// for empty tensors, where nothing is launched).
fn kernel(name: &'static str, dtype: DType) -> Result<Kernel> {
    if !kernels::has_kernel(&WINDOW, name, dtype) {
        return Err(Error::NotImplemented(format!(
            "\"{name}_cuda\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    Ok(Kernel {
        file: &WINDOW,
        name,
    })
}

/// The number of spatial dims of `w`, checked to be 1–3.
fn spatial_dims(op: &str, w: &Window) -> Result<usize> {
    let sd = w.input.len();
    if !(1..=3).contains(&sd) {
        return Err(Error::Runtime(format!(
            "{op}: expected 1 to 3 spatial dims, got {sd}"
        )));
    }
    Ok(sd)
}

/// The `[n, c, *spatial]` view `l` as the kernels read it: the strides of n, c and the
/// three spatial dims (0 for the size-1 dims [`Window::to_3d`] adds), and its offset.
fn plane_view(op: &str, l: &Layout, w: &Window) -> Result<View> {
    let sd = spatial_dims(op, w)?;
    if l.ndim() != 2 + sd {
        return Err(Error::Runtime(format!(
            "{op}: expected a [n, c, *spatial] view with {sd} spatial dims, got shape {:?}",
            l.shape
        )));
    }
    let mut v = View {
        offset: l.offset as i64,
        ..View::default()
    };
    v.strides.v[0] = l.strides[0] as i64;
    v.strides.v[1] = l.strides[1] as i64;
    for (d, &s) in l.strides[2..].iter().enumerate() {
        v.strides.v[5 - sd + d] = s as i64;
    }
    Ok(v)
}

/// The arguments every window kernel starts with after its pointers.
fn geometry(args: &mut Args, total: usize, channels: usize, w: &Window, v: View) {
    args.arg(total as i64)
        .arg(channels as i64)
        .arg(WindowArgs::new(w))
        .arg(v);
}

/// The divisor arguments of the average kernels.
fn divisor_args(args: &mut Args, d: AvgDivisor) {
    args.arg(i32::from(d.count_include_pad))
        .arg(i32::from(d.divisor_override.is_some()))
        .arg(d.divisor_override.unwrap_or(0));
}

/// im2col: the view `l` (`[n, c, *w.input]`) to a contiguous `[c·∏kernel, n, ∏output]`.
pub fn unfold(x: &CudaBuffer, l: &Layout, w: &Window) -> Result<CudaBuffer> {
    let k = kernel("im2col", x.dtype())?;
    let xv = plane_view("unfold", l, w)?;
    let dev = x.dev();
    let c = l.shape[1];
    let total = l.shape[0] * c * w.kernel_numel() * w.output_numel();
    let out = CudaBuffer::alloc(dev, total, x.dtype())?;
    let mut args = Args::new();
    args.arg(out.device_ptr()).arg(x.device_ptr());
    geometry(&mut args, total, c, w, xv);
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok(out)
}

/// col2im: the view `l` (`[n, c·∏kernel, ∏output]`) to a contiguous `[n, c, *w.input]`,
/// summing where windows overlap.
pub fn fold(cols: &CudaBuffer, l: &Layout, w: &Window) -> Result<CudaBuffer> {
    let k = kernel("col2im", cols.dtype())?;
    spatial_dims("fold", w)?;
    if l.ndim() != 3 {
        return Err(Error::Runtime(format!(
            "fold: expected a [n, c*K, L] view, got shape {:?}",
            l.shape
        )));
    }
    let dev = cols.dev();
    let c = l.shape[1].checked_div(w.kernel_numel()).unwrap_or(0);
    let total = l.shape[0] * c * w.input_numel();
    let out = CudaBuffer::alloc(dev, total, cols.dtype())?;
    let mut cv = View {
        offset: l.offset as i64,
        ..View::default()
    };
    for (slot, &s) in cv.strides.v.iter_mut().zip(&l.strides) {
        *slot = s as i64;
    }
    let mut args = Args::new();
    args.arg(out.device_ptr()).arg(cols.device_ptr());
    geometry(&mut args, total, c, w, cv);
    launch_elementwise(dev, k, cols.dtype(), total, &mut args)?;
    Ok(out)
}

/// Max pooling of the view `l` (`[n, c, *w.input]`): the contiguous `[n, c, *w.output]`
/// maxima (NaN wins) and their int64 flat indices within the input plane (the first of ties,
/// the last of several NaNs, as PyTorch).
pub fn max_pool(x: &CudaBuffer, l: &Layout, w: &Window) -> Result<(CudaBuffer, CudaBuffer)> {
    let k = kernel("max_pool", x.dtype())?;
    let xv = plane_view("max_pool", l, w)?;
    let dev = x.dev();
    let c = l.shape[1];
    let total = l.shape[0] * c * w.output_numel();
    let vals = CudaBuffer::alloc(dev, total, x.dtype())?;
    let idx = CudaBuffer::alloc(dev, total, DType::I64)?;
    let mut args = Args::new();
    args.arg(vals.device_ptr())
        .arg(idx.device_ptr())
        .arg(x.device_ptr());
    geometry(&mut args, total, c, w, xv);
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok((vals, idx))
}

/// Fractional max pooling of the view `l` (`[n, c, *w.input]`): windows of `w.kernel`
/// positions from the per-plane first positions `starts` (see
/// [`Backend::fractional_max_pool`](crate::backend::Backend::fractional_max_pool)), maxima and
/// indices as [`max_pool`].
pub fn fractional_max_pool(
    x: &CudaBuffer,
    l: &Layout,
    w: &Window,
    starts: &[usize],
) -> Result<(CudaBuffer, CudaBuffer)> {
    let k = kernel("fractional_max_pool", x.dtype())?;
    let xv = plane_view("fractional_max_pool", l, w)?;
    let dev = x.dev();
    let c = l.shape[1];
    let total = l.shape[0] * c * w.output_numel();
    let vals = CudaBuffer::alloc(dev, total, x.dtype())?;
    let idx = CudaBuffer::alloc(dev, total, DType::I64)?;
    let firsts = HostBuffer::from_vec(starts.iter().map(|&s| s as i64).collect::<Vec<i64>>());
    let firsts = upload(dev, &firsts)?;
    let mut args = Args::new();
    args.arg(vals.device_ptr())
        .arg(idx.device_ptr())
        .arg(x.device_ptr());
    geometry(&mut args, total, c, w, xv);
    args.arg(firsts.device_ptr());
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok((vals, idx))
}

/// The gradient of max pooling: each output's gradient (the view `gl`, `[n, c, *w.output]`)
/// at its window's argmax (`idx`, contiguous, as [`max_pool`] returned it), gathered per
/// input element in ascending output order.
pub fn max_pool_backward(
    g: &CudaBuffer,
    gl: &Layout,
    idx: &CudaBuffer,
    w: &Window,
) -> Result<CudaBuffer> {
    let k = kernel("max_pool_backward", g.dtype())?;
    let gv = plane_view("max_pool_backward", gl, w)?;
    let dev = g.dev();
    let c = gl.shape[1];
    let total = gl.shape[0] * c * w.input_numel();
    let out = CudaBuffer::alloc(dev, total, g.dtype())?;
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(g.device_ptr())
        .arg(idx.device_ptr());
    geometry(&mut args, total, c, w, gv);
    launch_elementwise(dev, k, g.dtype(), total, &mut args)?;
    Ok(out)
}

/// Average pooling of the view `l` (`[n, c, *w.input]`) to a contiguous `[n, c, *w.output]`.
pub fn avg_pool(x: &CudaBuffer, l: &Layout, w: &Window, d: AvgDivisor) -> Result<CudaBuffer> {
    let k = kernel("avg_pool", x.dtype())?;
    let xv = plane_view("avg_pool", l, w)?;
    let dev = x.dev();
    let c = l.shape[1];
    let total = l.shape[0] * c * w.output_numel();
    let out = CudaBuffer::alloc(dev, total, x.dtype())?;
    let mut args = Args::new();
    args.arg(out.device_ptr()).arg(x.device_ptr());
    geometry(&mut args, total, c, w, xv);
    divisor_args(&mut args, d);
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok(out)
}

/// The adjoint of [`avg_pool`]: the gradient view `l` (`[n, c, *w.output]`) to a
/// contiguous `[n, c, *w.input]`.
pub fn avg_pool_backward(
    g: &CudaBuffer,
    l: &Layout,
    w: &Window,
    d: AvgDivisor,
) -> Result<CudaBuffer> {
    let k = kernel("avg_pool_backward", g.dtype())?;
    let gv = plane_view("avg_pool_backward", l, w)?;
    let dev = g.dev();
    let c = l.shape[1];
    let total = l.shape[0] * c * w.input_numel();
    let out = CudaBuffer::alloc(dev, total, g.dtype())?;
    let mut args = Args::new();
    args.arg(out.device_ptr()).arg(g.device_ptr());
    geometry(&mut args, total, c, w, gv);
    divisor_args(&mut args, d);
    launch_elementwise(dev, k, g.dtype(), total, &mut args)?;
    Ok(out)
}

/// The sizes of one resampling axis (`struct RtResample` in `window.cu`).
#[repr(C)]
#[derive(Clone, Copy)]
struct ResampleArgs {
    input: i64,
    inner: i64,
    output: i64,
    taps: i64,
    bits: i64,
}
// SAFETY: `#[repr(C)]` with the fields, order and sizes of `struct RtResample` (five long
// longs as i64), 8-byte aligned and without pointers.
unsafe impl KernelArg for ResampleArgs {}

/// Kernel `name` of `window.cu` run over the spans of `p`: one thread per output element,
/// the spans and weights uploaded first.
fn resample<W: Element>(
    name: &'static str,
    x: &CudaBuffer,
    p: &ResampleAxis<W>,
    bits: u32,
) -> Result<CudaBuffer> {
    let k = kernel(name, x.dtype())?;
    let dev = x.dev();
    let total = p.outer * p.output * p.inner;
    let out = CudaBuffer::alloc(dev, total, x.dtype())?;
    let as_i64 = |v: &[usize]| HostBuffer::from_vec(v.iter().map(|&u| u as i64).collect());
    let start = upload(dev, &as_i64(&p.start))?;
    let len = upload(dev, &as_i64(&p.len))?;
    let weights = upload(dev, &HostBuffer::from_vec(p.weights.clone()))?;
    let a = ResampleArgs {
        input: p.input as i64,
        inner: p.inner as i64,
        output: p.output as i64,
        taps: p.taps as i64,
        bits: i64::from(bits),
    };
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(x.device_ptr())
        .arg(start.device_ptr())
        .arg(len.device_ptr())
        .arg(weights.device_ptr())
        .arg(a)
        .arg(total as i64);
    launch_elementwise(dev, k, x.dtype(), total, &mut args)?;
    Ok(out)
}

/// One axis of a separable resampling of the contiguous float `x` (see [`ResampleAxis`]).
pub fn resample_axis(x: &CudaBuffer, p: &ResampleAxis<f64>) -> Result<CudaBuffer> {
    resample("resample_axis", x, p, 0)
}

/// One axis of PyTorch's uint8 resampling of the contiguous uint8 `x`, `bits` of the
/// weights fractional.
pub fn resample_u8(x: &CudaBuffer, p: &ResampleAxis<i16>, bits: u32) -> Result<CudaBuffer> {
    resample("resample_fixed", x, p, bits)
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::Backend;
    use crate::cpu::Cpu;
    use crate::tensor::layout::numel;

    /// Each test builds the host libraries of `window.cu` it needs on first use, and two
    /// tests building the same one at once would trip over each other's files: they take
    /// turns.
    static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

    const N: usize = 2;
    const C: usize = 3;

    /// Windows with explicit output sizes (so that "ceil mode" outputs, whose last window
    /// runs past the padded input, are just larger outputs).
    fn win(
        input: &[usize],
        output: &[usize],
        kernel: &[usize],
        stride: &[usize],
        padding: &[usize],
        dilation: &[usize],
    ) -> Window {
        Window {
            input: input.to_vec(),
            output: output.to_vec(),
            kernel: kernel.to_vec(),
            stride: stride.to_vec(),
            padding: padding.to_vec(),
            dilation: dilation.to_vec(),
            adaptive: false,
        }
    }

    fn adaptive(input: &[usize], output: &[usize]) -> Window {
        let ones = vec![1; input.len()];
        Window {
            input: input.to_vec(),
            output: output.to_vec(),
            kernel: ones.clone(),
            stride: ones.clone(),
            padding: vec![0; input.len()],
            dilation: ones,
            adaptive: true,
        }
    }

    /// Fixed windows: 1-D/2-D/3-D, strides, padding, dilation, ceil-mode outputs.
    fn fixed_windows() -> Vec<Window> {
        vec![
            win(&[9], &[5], &[3], &[2], &[1], &[1]),
            win(&[5, 6], &[5, 3], &[3, 2], &[1, 2], &[1, 0], &[1, 1]),
            // Dilated, padded on both axes.
            win(&[7, 6], &[3, 6], &[2, 3], &[2, 1], &[1, 2], &[3, 2]),
            win(
                &[4, 5, 3],
                &[3, 5, 2],
                &[2, 3, 2],
                &[2, 1, 1],
                &[1, 1, 0],
                &[1, 1, 1],
            ),
            // Ceil mode without padding: the last windows hang past the input.
            win(&[5, 5], &[3, 3], &[2, 2], &[2, 2], &[0, 0], &[1, 1]),
            // Ceil mode with padding: the last y window runs past the padded input.
            win(&[6, 8], &[4, 5], &[3, 3], &[2, 2], &[1, 1], &[1, 1]),
            // Stride larger than the kernel (positions no window covers).
            win(
                &[2, 3, 11],
                &[2, 2, 3],
                &[1, 2, 2],
                &[1, 1, 4],
                &[0, 0, 1],
                &[1, 1, 1],
            ),
        ]
    }

    /// Adaptive windows, non-divisible sizes, shrinking and growing.
    fn adaptive_windows() -> Vec<Window> {
        vec![
            adaptive(&[10], &[4]),
            adaptive(&[7, 5], &[3, 4]),
            adaptive(&[3, 5, 7], &[2, 3, 4]),
            adaptive(&[3, 4], &[5, 7]),
        ]
    }

    /// `[N, C, *spatial]` layouts: contiguous, reversed, channels-last, strided.
    fn plane_layouts(spatial: &[usize]) -> Vec<(Layout, usize)> {
        let mut shape = vec![N, C];
        shape.extend_from_slice(spatial);
        let mut out = layouts(&shape);
        let mut last = vec![N];
        last.extend_from_slice(spatial);
        last.push(C);
        let k = spatial.len() as i64;
        let mut order = vec![0, k + 1];
        order.extend(1..=k);
        let cl = Layout::contiguous(&last).permute(&order).expect("permute");
        out.push((cl, numel(&shape)));
        out
    }

    const DIVISORS: [AvgDivisor; 3] = [
        AvgDivisor {
            count_include_pad: true,
            divisor_override: None,
        },
        AvgDivisor {
            count_include_pad: false,
            divisor_override: None,
        },
        AvgDivisor {
            count_include_pad: true,
            divisor_override: Some(3),
        },
    ];

    const FLOAT_DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

    #[test]
    fn unfold_and_fold_match_the_cpu() {
        if !available("unfold_and_fold") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let windows: Vec<Window> = fixed_windows();
        for dtype in [
            DType::F32,
            DType::F64,
            DType::F16,
            DType::I64,
            DType::U8,
            DType::Bool,
        ] {
            for w in &windows {
                for (l, len) in plane_layouts(&w.input) {
                    let host = data(dtype, len, 7, true);
                    let got = get(&unfold(&put(&dev, &host), &l, w).unwrap());
                    let want = as_f64(&Cpu::unfold(&host, &l, w).unwrap());
                    assert_close(&format!("unfold {dtype:?} {w:?} {l:?}"), &got, &want, 0.0);
                }
                if dtype == DType::Bool {
                    continue;
                }
                // The same summation order as the CPU: exact.
                let cols = [N, C * w.kernel_numel(), w.output_numel()];
                for (l, len) in layouts(&cols) {
                    let host = data(dtype, len, 11, false);
                    let got = get(&fold(&put(&dev, &host), &l, w).unwrap());
                    let want = as_f64(&Cpu::fold(&host, &l, w).unwrap());
                    assert_close(&format!("fold {dtype:?} {w:?} {l:?}"), &got, &want, 0.0);
                }
            }
        }
    }

    #[test]
    fn max_pool_matches_the_cpu_with_nans_and_ties() {
        if !available("max_pool") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let mut windows = fixed_windows();
        windows.extend(adaptive_windows());
        for dtype in [DType::F32, DType::F64, DType::F16, DType::I32, DType::U8] {
            for w in &windows {
                for (l, len) in plane_layouts(&w.input) {
                    // Specials bring NaN and infinities; the integers have many ties.
                    let host = data(dtype, len, 5, true);
                    let (v, i) = max_pool(&put(&dev, &host), &l, w).unwrap();
                    let (wv, wi) = Cpu::max_pool(&host, &l, w).unwrap();
                    let what = format!("max_pool {dtype:?} {w:?} {l:?}");
                    assert_close(&what, &get(&v), &as_f64(&wv), 0.0);
                    assert_close(&what, &get(&i), &as_f64(&wi), 0.0);
                }
            }
        }
    }

    #[test]
    fn max_pool_backward_matches_the_cpu() {
        if !available("max_pool_backward") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let mut windows = fixed_windows();
        windows.extend(adaptive_windows());
        for dtype in FLOAT_DTYPES {
            for w in &windows {
                // Few distinct values: ties, and overlapping windows sharing an argmax.
                let x = data(dtype, N * C * numel(&w.input), 3, false);
                let xl = Layout::contiguous(&[&[N, C][..], &w.input].concat());
                let (_, idx) = Cpu::max_pool(&x, &xl, w).unwrap();
                let dev_idx = put(&dev, &idx);
                for (l, len) in plane_layouts(&w.output) {
                    let g = data(dtype, len, 13, false);
                    let got = get(&max_pool_backward(&put(&dev, &g), &l, &dev_idx, w).unwrap());
                    let want = as_f64(&Cpu::max_pool_backward(&g, &l, &idx, w).unwrap());
                    let what = format!("max_pool_backward {dtype:?} {w:?} {l:?}");
                    assert_close(&what, &got, &want, tol(dtype));
                }
            }
        }
    }

    #[test]
    fn avg_pool_and_its_backward_match_the_cpu() {
        if !available("avg_pool") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let mut cases: Vec<(Window, AvgDivisor)> = Vec::new();
        for w in fixed_windows() {
            cases.extend(DIVISORS.map(|d| (w.clone(), d)));
        }
        for w in adaptive_windows() {
            cases.extend(DIVISORS[1..].iter().map(|&d| (w.clone(), d)));
        }
        for dtype in FLOAT_DTYPES {
            // float32 sums in float32 here, in float64 on the CPU.
            let tolerance = 8.0 * tol(dtype);
            for (w, d) in &cases {
                let what = format!("{dtype:?} {w:?} {d:?}");
                for (l, len) in plane_layouts(&w.input) {
                    let host = data(dtype, len, 3, false);
                    let got = get(&avg_pool(&put(&dev, &host), &l, w, *d).unwrap());
                    let want = as_f64(&Cpu::avg_pool(&host, &l, w, *d).unwrap());
                    assert_close(&format!("avg_pool {what} {l:?}"), &got, &want, tolerance);
                }
                for (l, len) in plane_layouts(&w.output) {
                    let host = data(dtype, len, 13, false);
                    let got = get(&avg_pool_backward(&put(&dev, &host), &l, w, *d).unwrap());
                    let want = as_f64(&Cpu::avg_pool_backward(&host, &l, w, *d).unwrap());
                    assert_close(
                        &format!("avg_pool_backward {what} {l:?}"),
                        &got,
                        &want,
                        tolerance,
                    );
                }
            }
        }
    }

    /// The geometries both resampling tests run: spans of several lengths, along the last
    /// axis and a middle one, an output longer and shorter than the input.
    const RESAMPLES: [(usize, usize, usize, usize); 4] =
        [(6, 9, 1, 4), (2, 5, 7, 13), (3, 1, 4, 3), (1, 12, 3, 12)];

    /// uint8 fixed point, with weights of both signs large enough to push sums past both
    /// ends of a byte.
    #[test]
    fn uint8_resampling_matches_the_cpu() {
        if !available("resample_fixed") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        for (outer, input, inner, output) in RESAMPLES {
            let p = ResampleAxis::test_case(outer, input, inner, output, 4, |i| {
                ((i * 37) % 400) as i16 - 120
            });
            let host = data(DType::U8, outer * input * inner, 5, false);
            let got = get(&resample_u8(&put(&dev, &host), &p, 7).unwrap());
            let want = as_f64(&Cpu::resample_u8(&host, &p, 7).unwrap());
            assert_eq!(got, want, "{p:?}");
            assert!(
                want.contains(&0.0) && want.contains(&255.0),
                "{p:?}: no clamped sums"
            );
        }
    }

    /// The float kernel, weights of both signs, in every float dtype.
    #[test]
    fn float_resampling_matches_the_cpu() {
        if !available("resample_axis") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        for (outer, input, inner, output) in RESAMPLES {
            let p = ResampleAxis::test_case(outer, input, inner, output, 3, |i| {
                (i % 5) as f64 * 0.3 - 0.4
            });
            for dtype in FLOAT_DTYPES {
                let host = data(dtype, outer * input * inner, 9, false);
                let got = get(&resample_axis(&put(&dev, &host), &p).unwrap());
                let want = as_f64(&Cpu::resample_axis(&host, &p).unwrap());
                let what = format!("resample_axis {dtype:?} {p:?}");
                assert_close(&what, &got, &want, 4.0 * tol(dtype));
            }
        }
    }

    #[test]
    fn fractional_max_pool_matches_the_cpu_with_nans_and_ties() {
        if !available("fractional_max_pool") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        // (input, output, kernel): 1-3 spatial dims, windows overlapping and not.
        let cases: [(&[usize], &[usize], &[usize]); 3] = [
            (&[9, 11], &[4, 5], &[2, 3]),
            (&[7, 6], &[6, 2], &[2, 3]),
            (&[5, 6, 7], &[2, 3, 4], &[2, 2, 3]),
        ];
        for (input, output, kernel) in cases {
            let k = input.len();
            let w = win(input, output, kernel, &vec![1; k], &vec![0; k], &vec![1; k]);
            let w3 = w.to_3d();
            // Each plane its own starts: spread over the room each axis leaves.
            let starts: Vec<usize> = (0..N * C)
                .flat_map(|p| {
                    let w3 = &w3;
                    (0..3).flat_map(move |d| {
                        let room = w3.input[d] - w3.kernel[d];
                        (0..w3.output[d])
                            .map(move |o| (o * room + p) / w3.output[d].max(1) % (room + 1))
                    })
                })
                .collect();
            for dtype in [DType::F32, DType::F64, DType::F16] {
                for (l, len) in plane_layouts(input) {
                    let host = data(dtype, len, 7, true);
                    let (v, i) = fractional_max_pool(&put(&dev, &host), &l, &w, &starts).unwrap();
                    let (wv, wi) = Cpu::fractional_max_pool(&host, &l, &w, &starts).unwrap();
                    let what = format!("fractional_max_pool {dtype:?} {w:?} {l:?}");
                    assert_close(&what, &get(&v), &as_f64(&wv), 0.0);
                    assert_close(&what, &get(&i), &as_f64(&wi), 0.0);
                }
            }
        }
    }

    #[test]
    fn dtypes_without_a_kernel_are_refused_as_on_the_cpu() {
        let dev = HostDevice::open();
        let w = win(&[4], &[2], &[2], &[2], &[0], &[1]);
        let (l, cols) = (
            Layout::contiguous(&[1, 1, 4]),
            Layout::contiguous(&[1, 2, 2]),
        );
        let d = DIVISORS[0];
        let as_cuda = |e: Error| e.to_string().replace("_cpu\"", "_cuda\"");
        let bools = HostBuffer::from_vec(vec![true; 4]);
        let b = put(&dev, &bools);
        assert_eq!(
            max_pool(&b, &l, &w).err().map(|e| e.to_string()),
            Cpu::max_pool(&bools, &l, &w).err().map(as_cuda)
        );
        assert!(matches!(fold(&b, &cols, &w), Err(Error::NotImplemented(_))));
        let ints = HostBuffer::from_vec(vec![1i64; 4]);
        let i = put(&dev, &ints);
        let int32s = HostBuffer::from_vec(vec![1i32; 4]);
        assert_eq!(
            avg_pool(&put(&dev, &int32s), &l, &w, d)
                .err()
                .map(|e| e.to_string()),
            Cpu::avg_pool(&int32s, &l, &w, d).err().map(as_cuda)
        );
        // The CPU averages int64, as PyTorch's; its CUDA kernel, as PyTorch's, does not.
        assert!(Cpu::avg_pool(&ints, &l, &w, d).is_ok());
        assert!(matches!(
            avg_pool(&i, &l, &w, d),
            Err(Error::NotImplemented(_))
        ));
        let gl = Layout::contiguous(&[1, 1, 2]);
        assert_eq!(
            avg_pool_backward(&i, &gl, &w, d)
                .err()
                .map(|e| e.to_string()),
            Cpu::avg_pool_backward(&ints, &gl, &w, d).err().map(as_cuda)
        );
    }
}
