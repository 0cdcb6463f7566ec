//! Pooling over 1–3 spatial dims: max (with the window argmax saved for backward), average
//! (whose backward is its adjoint kernel) and their adaptive forms, with PyTorch's output
//! sizes (`ceil_mode`) and checks.

use crate::autograd::{is_grad_enabled, needs_grad, record};
use crate::backend::{AvgDivisor, Window};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::Tensor;

/// The options of a fixed-window pooling, per spatial dim.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub kernel: Vec<i64>,
    pub stride: Vec<i64>,
    pub padding: Vec<i64>,
    pub dilation: Vec<i64>,
    pub ceil_mode: bool,
}

impl PoolOptions {
    /// The options a trace records with a pool.
    fn trace_attrs(&self) -> Vec<(&'static str, crate::ops::trace::Attr)> {
        vec![
            ("kernel", crate::ops::trace::Attr::Ints(self.kernel.clone())),
            ("stride", crate::ops::trace::Attr::Ints(self.stride.clone())),
            (
                "padding",
                crate::ops::trace::Attr::Ints(self.padding.clone()),
            ),
            (
                "dilation",
                crate::ops::trace::Attr::Ints(self.dilation.clone()),
            ),
            (
                "ceil_mode",
                crate::ops::trace::Attr::Int(self.ceil_mode as i64),
            ),
        ]
    }
}

/// PyTorch's `pooling_output_shape`.
fn output_size(input: i64, k: i64, pad: i64, stride: i64, dil: i64, ceil: bool) -> i64 {
    let span = input + 2 * pad - dil * (k - 1) - 1 + if ceil { stride - 1 } else { 0 };
    let mut out = span.div_euclid(stride) + 1;
    if ceil && (out - 1) * stride >= input + pad {
        out -= 1;
    }
    out
}

/// PyTorch's message for an input of the wrong rank: its 1d, 2d and 3d pools are separate
/// kernels, each with its own wording (those of an input that needs no gradient).
fn rank_message(name: &str, k: usize, shape: &[usize]) -> String {
    let s = fmt_shape(shape);
    match name {
        "max_pool1d" => format!(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:{s}"
        ),
        "max_pool2d" | "max_pool3d" | "avg_pool3d" => format!(
            "non-empty {}D or {}D (batch mode) tensor expected for input",
            k + 1,
            k + 2
        ),
        "avg_pool1d" | "adaptive_avg_pool1d" | "adaptive_max_pool1d" => format!(
            "Expected 2 to 3 dimensions, but got {}-dimensional tensor for argument #1 'self' (while checking arguments for {name})",
            shape.len()
        ),
        "adaptive_avg_pool2d" | "adaptive_avg_pool3d" => format!(
            "{name}(): Expected {}D or {}D tensor, but got {s}",
            k + 1,
            k + 2
        ),
        "adaptive_max_pool2d" | "adaptive_max_pool3d" => format!(
            "{name}(): Expected {}D or {}D tensor, but got: {s}",
            k + 1,
            k + 2
        ),
        _ => format!(
            "Expected {}D or {}D (batch mode) tensor with optional 0 dim batch size for input, but got:{s}",
            k + 1,
            k + 2
        ),
    }
}

/// PyTorch's check that a pool's input is not empty where it must not be, with the
/// message of the kernel that checks it. The fixed-window pools need channels and every
/// spatial dim; the adaptive ones every dim after the first, except `adaptive_avg_pool1d`
/// and `2d`, which need only the spatial dims. The 1d pools that PyTorch runs as 2d ones
/// report the input with its inserted height of 1.
fn check_nonempty(name: &str, shape: &[usize], k: usize) -> Result<()> {
    let as_2d = matches!(name, "avg_pool1d" | "adaptive_avg_pool1d");
    let shape: Vec<usize> = if as_2d {
        let mut v = shape.to_vec();
        v.insert(v.len() - 1, 1);
        v
    } else {
        shape.to_vec()
    };
    let k = k + usize::from(as_2d);
    let first = match name {
        "adaptive_avg_pool1d" | "adaptive_avg_pool2d" => shape.len() - k,
        n if n.starts_with("adaptive") => 1,
        _ => shape.len() - k - 1,
    };
    let Some(empty) = (first..shape.len()).find(|&d| shape[d] == 0) else {
        return Ok(());
    };
    let s = fmt_shape(&shape);
    Err(Error::Runtime(match name {
        "max_pool1d" => rank_message(name, 1, &shape),
        "max_pool3d" | "avg_pool3d" => format!(
            "{}(): Expected input's non-batch dimensions to have positive length, but input has a shape of {s} and non-batch dimension 0 has length zero!",
            if name == "max_pool3d" { "max_pool3d_with_indices_out_cpu_template" } else { name }
        ),
        n if n.starts_with("adaptive") => format!(
            "{}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {s} with dimension {empty} being empty",
            if as_2d { "adaptive_avg_pool2d" } else { name }
        ),
        _ => format!(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:{s}"
        ),
    }))
}

/// The input with a batch dim (added when unbatched), after PyTorch's rank check.
fn batched(name: &str, x: &Tensor, k: usize) -> Result<(Tensor, bool)> {
    if x.dim() != k + 1 && x.dim() != k + 2 {
        return Err(Error::Runtime(rank_message(name, k, x.shape())));
    }
    check_nonempty(name, x.shape(), k)?;
    Ok(if x.dim() == k + 2 {
        (x.clone(), true)
    } else {
        (x.unsqueeze(0)?, false)
    })
}

/// `max_pool1d`'s own checks (PyTorch gives it a separate kernel with its own messages).
fn check_max_pool1d(o: &PoolOptions, input: i64) -> Result<()> {
    let (k, s, p, d) = (o.kernel[0], o.stride[0], o.padding[0], o.dilation[0]);
    let fail = |m: String| Err(Error::Runtime(format!("max_pool1d() {m}")));
    if k <= 0 {
        return fail(format!(
            "kernel_size must be greater than zero, but got {k}"
        ));
    }
    if s <= 0 {
        return fail(format!("stride must be greater than zero, but got {s}"));
    }
    if p < 0 {
        return fail(format!("padding must be non-negative, but got {p}"));
    }
    if p > k / 2 {
        return fail(format!(
            "padding should be at most half of kernel size, but got padding={p} and kernel_size={k}"
        ));
    }
    if d <= 0 {
        return fail(format!("dilation must be greater than zero, but got {d}"));
    }
    let out = output_size(input, k, p, s, d, o.ceil_mode);
    if out <= 0 {
        return fail(format!("Invalid computed output size: {out}"));
    }
    Ok(())
}

/// PyTorch's `pooling_output_shape` and `pool2d/3d_shape_check` checks, in their order and
/// with their messages; `avg_pool1d` is PyTorch's 2d kernel over a height of 1, so its
/// messages name that height too. `x` is batched.
fn check_pool(name: &str, x: &Tensor, o: &PoolOptions, dilation: &[i64]) -> Result<()> {
    let fail = |m: String| Err(Error::Runtime(m));
    for (d, &dl) in dilation.iter().enumerate() {
        let (k, s, p) = (o.kernel[d], o.stride[d], o.padding[d]);
        if s == 0 {
            return fail("stride should not be zero".into());
        }
        if p < 0 {
            return fail(format!("pad must be non-negative, but got pad: {p}"));
        }
        if p > ((k - 1) * dl + 1) / 2 {
            return fail(format!(
                "pad should be at most half of effective kernel size, but got pad={p}, kernel_size={k} and dilation={dl}"
            ));
        }
    }
    // The per-dim values as PyTorch's kernel sees them (a height of 1 prepended in 1d).
    let lift = |v: &[i64], one: i64| -> Vec<i64> {
        if v.len() == 1 {
            vec![one, v[0]]
        } else {
            v.to_vec()
        }
    };
    let input: Vec<i64> = x.shape()[2..].iter().map(|&v| v as i64).collect();
    let (kernel, stride, padding, dil, input) = (
        lift(&o.kernel, 1),
        lift(&o.stride, 1),
        lift(&o.padding, 0),
        lift(dilation, 1),
        lift(&input, 1),
    );
    let labels: &[&str] = if kernel.len() == 3 {
        &["T", "H", "W"]
    } else {
        &["H", "W"]
    };
    let named = |prefix: &str, v: &[i64]| {
        labels
            .iter()
            .zip(v)
            .map(|(l, x)| format!("{prefix}{l}: {x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if kernel.iter().any(|&v| v <= 0) {
        return fail(format!(
            "kernel size should be greater than zero, but got {}",
            named("k", &kernel)
        ));
    }
    if stride.iter().any(|&v| v <= 0) {
        return fail(format!(
            "stride should be greater than zero, but got {}",
            named("d", &stride)
        ));
    }
    if dil.iter().any(|&v| v <= 0) {
        return fail(format!(
            "dilation should be greater than zero, but got {}",
            named("dilation", &dil)
        ));
    }
    if name == "avg_pool3d" && (0..3).any(|d| input[d] < kernel[d]) {
        return fail(format!(
            "input image ({}) smaller than kernel size ({})",
            named("", &input),
            named("k", &kernel)
        ));
    }
    if (0..kernel.len()).any(|d| padding[d] > kernel[d] / 2) {
        return fail(if kernel.len() == 3 {
            format!(
                "pad should be smaller than or equal to half of kernel size, but got kT: {} kW: {} kH: {} padT: {} padW: {} padH: {}",
                kernel[0], kernel[2], kernel[1], padding[0], padding[2], padding[1]
            )
        } else {
            format!(
                "pad should be smaller than or equal to half of kernel size, but got padW = {}, padH = {}, kW = {}, kH = {}",
                padding[1], padding[0], kernel[1], kernel[0]
            )
        });
    }
    let output: Vec<i64> = (0..kernel.len())
        .map(|d| {
            output_size(
                input[d],
                kernel[d],
                padding[d],
                stride[d],
                dil[d],
                o.ceil_mode,
            )
        })
        .collect();
    if output.iter().any(|&v| v < 1) {
        let c = x.shape()[1];
        let join = |v: &[i64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("x")
        };
        return fail(format!(
            "Given input size: ({c}x{}). Calculated output size: ({c}x{}). Output size is too small",
            join(&input),
            join(&output)
        ));
    }
    Ok(())
}

/// Checks fixed-window options against the input (PyTorch's checks and messages) and builds
/// the windows.
fn fixed_window(name: &str, x: &Tensor, o: &PoolOptions, max: bool) -> Result<Window> {
    let k = o.kernel.len();
    let dilation = if max { o.dilation.clone() } else { vec![1; k] };
    if name == "max_pool1d" {
        check_max_pool1d(o, x.shape()[2] as i64)?;
    } else {
        check_pool(name, x, o, &dilation)?;
    }
    let input: Vec<usize> = x.shape()[2..].to_vec();
    let output: Vec<usize> = (0..k)
        .map(|d| {
            output_size(
                input[d] as i64,
                o.kernel[d],
                o.padding[d],
                o.stride[d],
                dilation[d],
                o.ceil_mode,
            ) as usize
        })
        .collect();
    let u = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<_>>();
    Ok(Window {
        input,
        output,
        kernel: u(&o.kernel),
        stride: u(&o.stride),
        padding: u(&o.padding),
        dilation: u(&dilation),
        adaptive: false,
    })
}

/// Adaptive windows from `x`'s spatial sizes to `output` (a size of -1 keeps the input's).
fn adaptive_window(name: &str, x: &Tensor, output: &[i64]) -> Result<Window> {
    let k = output.len();
    let input: Vec<usize> = x.shape()[2..].to_vec();
    if output.iter().any(|&v| v < -1) {
        if name.starts_with("adaptive_max") {
            let mut shape: Vec<i64> = x.shape()[..2].iter().map(|&v| v as i64).collect();
            shape.extend_from_slice(output);
            let neg = output.iter().find(|&&v| v < -1).copied().unwrap_or(-2);
            return Err(Error::Runtime(format!(
                "Trying to create tensor with negative dimension {neg}: {}",
                fmt_shape(&shape)
            )));
        }
        // PyTorch's 1d adaptive average is its 2d kernel over a height of 1, and its 3d
        // message lacks a space; both are copied.
        let (op, list) = match output.len() {
            1 => (
                "adaptive_avg_pool2d".to_string(),
                format!("1, {}", output[0]),
            ),
            2 => (name.to_string(), format!("{}, {}", output[0], output[1])),
            _ => (
                name.to_string(),
                format!("{}, {},{}", output[0], output[1], output[2]),
            ),
        };
        return Err(Error::Runtime(format!(
            "{op}: elements of output_size must be greater than or equal to 0 but received {{{list}}}"
        )));
    }
    let output: Vec<usize> = (0..k)
        .map(|d| {
            if output[d] == -1 {
                input[d]
            } else {
                output[d] as usize
            }
        })
        .collect();
    Ok(Window {
        input,
        output,
        kernel: vec![1; k],
        stride: vec![1; k],
        padding: vec![0; k],
        dilation: vec![1; k],
        adaptive: true,
    })
}

/// Max pooling over `w` of a batched input: (values, int64 indices within each plane).
fn max_pool_window(x: &Tensor, w: &Window, unbatch: bool) -> Result<(Tensor, Tensor)> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let (v, i) = x.storage().max_pool(x.layout(), w)?;
    let mut shape = vec![n, c];
    shape.extend_from_slice(&w.output);
    let values = Tensor::from_storage(v, shape.clone());
    let indices = Tensor::from_storage(i, shape);
    if needs_grad(&[x]) {
        let (in_shape, dtype, device) = (x.shape().to_vec(), x.dtype(), x.device());
        let (lin, lout) = (w.input_numel(), w.output_numel() as i64);
        let idx = indices.reshape(&[(n * c) as i64, lout])?;
        let w = w.clone();
        record("MaxPoolBackward0", &[x], &values, move |g, _| {
            // Each output's gradient lands on its window's argmax (summed where windows
            // share one): one kernel pass, or, when the backward is recorded, a scatter-add
            // whose own backward is a gather.
            if !is_grad_enabled() {
                let grad = g
                    .storage()
                    .max_pool_backward(g.layout(), idx.storage(), &w)?;
                return Ok(vec![Some(Tensor::from_storage(grad, in_shape.clone()))]);
            }
            Ok(vec![Some(scatter_to_argmax(
                g, &idx, &in_shape, lin, dtype, device,
            )?)])
        });
    }
    if unbatch {
        Ok((values.squeeze(Some(&[0]))?, indices.squeeze(Some(&[0]))?))
    } else {
        Ok((values, indices))
    }
}

/// The gradient of a max pool as a scatter-add: each output's gradient `g` added at its
/// argmax `idx` (`[planes, outputs]`) of a zeroed `[planes, lin]`, shaped as the input
/// `in_shape`. Differentiable (its own backward is a gather) and on every backend.
fn scatter_to_argmax(
    g: &Tensor,
    idx: &Tensor,
    in_shape: &[usize],
    lin: usize,
    dtype: DType,
    device: crate::Device,
) -> Result<Tensor> {
    let planes = idx.shape()[0];
    let shape: Vec<i64> = in_shape.iter().map(|&v| v as i64).collect();
    crate::ops::creation::zeros(&[planes, lin], dtype, device)?
        .scatter(
            1,
            idx,
            &g.reshape(&[planes as i64, idx.shape()[1] as i64])?,
            true,
        )?
        .reshape(&shape)
}

/// `max_pool{k}d(input, kernel_size, stride, padding, dilation, ceil_mode,
/// return_indices=True)`: the maxima and their flat indices within each input plane.
pub fn max_pool(name: &str, input: &Tensor, o: &PoolOptions) -> Result<(Tensor, Tensor)> {
    // A trace records the maxima (the indices are for the backward and `return_indices`).
    let mut indices = None;
    let values = crate::ops::trace::traced(
        "max_pool",
        &[input],
        || o.trace_attrs(),
        || {
            let (x, is_batched) = batched(name, input, o.kernel.len())?;
            check_pool_dtype(name, &x)?;
            let w = fixed_window(name, &x, o, true)?;
            let (v, i) = max_pool_window(&x, &w, !is_batched)?;
            indices = Some(i);
            Ok(v)
        },
    )?;
    Ok((
        values,
        indices.expect("set by the pool that returned its values"),
    ))
}

/// `adaptive_max_pool{k}d(input, output_size, return_indices=True)`.
pub fn adaptive_max_pool(name: &str, input: &Tensor, output: &[i64]) -> Result<(Tensor, Tensor)> {
    let (x, is_batched) = batched(name, input, output.len())?;
    check_pool_dtype(name, &x)?;
    let w = adaptive_window(name, &x, output)?;
    max_pool_window(&x, &w, !is_batched)
}

/// PyTorch's `generate_intervals`: the first input position of each of `output` windows
/// of `k` positions over `input` positions, from `sample` in `[0, 1)`, computed as PyTorch's
/// CPU kernel does in the input's float type (`dtype`), each operation rounded to it.
fn fractional_starts(dtype: DType, sample: f64, input: usize, output: usize, k: usize) -> Vec<i64> {
    let r = |v: f64| dtype.round(v);
    let mut seq = Vec::with_capacity(output);
    if output > 1 {
        let alpha = r(r((input - k) as f64) / r((output - 1) as f64));
        let origin = r(sample * alpha).trunc() as i64;
        for i in 0..output - 1 {
            seq.push(r(r(r(i as f64) + sample) * alpha).trunc() as i64 - origin);
        }
    }
    if output > 0 {
        seq.push((input - k) as i64);
    }
    seq
}

/// `fractional_max_pool{k}d(input, kernel_size, output_size, _random_samples)` (`k` 2 or 3), PyTorch's
/// checks and messages: (maxima, flat indices within each input plane). Plane `(n, c)`'s
/// windows start where PyTorch puts them from `samples[n, c]` (2-D: width from sample 0,
/// height from 1; 3-D: time, height, width from 0, 1, 2), computed on the host as its CPU
/// kernel does, on every device. The gradient goes to each window's argmax.
pub fn fractional_max_pool(
    k: usize,
    input: &Tensor,
    kernel: &[i64],
    output: &[i64],
    samples: &Tensor,
) -> Result<(Tensor, Tensor)> {
    if !(2..=3).contains(&k) {
        crate::bail!("fractional_max_pool: 2 or 3 spatial dims, not {k}");
    }
    let (op, prefix, three) = if k == 2 {
        ("fractional_max_pool2d", "fractional_max_pool2d()", "")
    } else {
        (
            "fractional_max_pool3d",
            "fractional_max_pool3d_out()",
            " three",
        )
    };
    let rt = |m: String| Err(Error::Runtime(m));
    if kernel.len() != k {
        return rt(format!(
            "{op}: kernel_size must either be a single Int or tuple of{three} Ints"
        ));
    }
    if output.len() != k {
        return rt(format!(
            "{op}: output_size must either be a single Int or tuple of{three} Ints"
        ));
    }
    let shape = input.shape();
    if shape.len() != k + 1 && shape.len() != k + 2 {
        return rt(format!(
            "{prefix}: Expected {}D or {}D tensor, but got: {}",
            k + 1,
            k + 2,
            fmt_shape(shape)
        ));
    }
    if let Some(d) = (1..shape.len()).find(|&d| shape[d] == 0) {
        return rt(format!(
            "{prefix}: Expected input to have non-zero size for non-batch dimensions, but got{} with dimension {d} being empty.",
            fmt_shape(shape)
        ));
    }
    if let Some(&bad) = kernel.iter().find(|&&v| v <= 0) {
        return rt(format!(
            "{op}: kernel_size must be greater than zero, but got {bad}"
        ));
    }
    if let Some(&bad) = output.iter().find(|&&v| v < 0) {
        return rt(format!(
            "{op}: output_size must be non-negative, but got {bad}"
        ));
    }
    // PyTorch's bounds: output + kernel − 1 ≤ input in 2-D, < input in 3-D (kernel > 0 here,
    // so the right side cannot overflow).
    let spatial = &shape[shape.len() - k..];
    let names = ["time", "height", "width"];
    for d in 0..k {
        let room = spatial[d] as i64 - kernel[d] + 1 - i64::from(k == 3);
        if output[d] > room {
            let name = names[3 - k + d];
            return rt(format!(
                "{prefix}: pool {name} {} too large relative to input {name} {}",
                kernel[d], spatial[d]
            ));
        }
    }
    if samples.requires_grad() && crate::autograd::is_grad_enabled() {
        return rt(format!(
            "The function '{op}' is not differentiable with respect to argument 'random_samples'. This input cannot have requires_grad True."
        ));
    }
    let batched = shape.len() == k + 2;
    let (batch, channels) = if batched {
        (shape[0], shape[1])
    } else {
        (1, shape[0])
    };
    if samples.dtype() != input.dtype() {
        return rt("Expect _random_samples to have the same dtype as input".into());
    }
    if samples.dim() != 3 {
        return rt(format!(
            "Expect _random_samples to have 3 dimensions, got {}",
            samples.dim()
        ));
    }
    let s = samples.shape();
    if s[0] < batch {
        return rt("Expect _random_samples.size(0) no less then input batch size.".into());
    }
    if s[1] != channels {
        return rt("Expect _random_samples.size(1) equals to input channel size.".into());
    }
    if s[2] != k {
        return rt(format!(
            "Expect _random_samples.size(2) equals to {k}; got {}.",
            s[2]
        ));
    }
    if samples.device() != input.device() {
        return rt(format!(
            "{op}: expected _random_samples on {}, the input's device, but got {}",
            input.device(),
            samples.device()
        ));
    }
    let dtype = input.dtype();
    if !dtype.is_float() {
        return Err(Error::NotImplemented(format!(
            "\"{op}_out_frame\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    let x = if batched {
        input.clone()
    } else {
        input.unsqueeze(0)?
    };
    let u = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<_>>();
    let w = Window {
        input: spatial.to_vec(),
        output: u(output),
        kernel: u(kernel),
        stride: vec![1; k],
        padding: vec![0; k],
        dilation: vec![1; k],
        adaptive: false,
    };
    // Each plane's window starts along the three axes of `Window::to_3d`, from its samples.
    let w3 = w.to_3d();
    let values = samples.to_vec::<f64>()?;
    let mut starts = Vec::with_capacity(batch * channels * w3.output.iter().sum::<usize>());
    for p in 0..batch * channels {
        let own = &values[p * k..][..k];
        for d in 0..3 {
            // 2-D: width from sample 0, height from sample 1 (axis 0 is a unit one); 3-D: in
            // order.
            let sample = if k == 2 {
                [0.0, own[1], own[0]][d]
            } else {
                own[d]
            };
            let seq = fractional_starts(dtype, sample, w3.input[d], w3.output[d], w3.kernel[d]);
            if seq
                .iter()
                .any(|&s| s < 0 || s as usize + w3.kernel[d] > w3.input[d])
            {
                return rt(format!(
                    "{prefix}: the windows placed from _random_samples ({sample}) would leave the input; samples lie in [0, 1)"
                ));
            }
            starts.extend(seq.into_iter().map(|s| s as usize));
        }
    }
    let (v, i) = x.storage().fractional_max_pool(x.layout(), &w, &starts)?;
    let mut out_shape = vec![batch, channels];
    out_shape.extend_from_slice(&w.output);
    let values = Tensor::from_storage(v, out_shape.clone());
    let indices = Tensor::from_storage(i, out_shape);
    if needs_grad(&[&x]) {
        let (in_shape, device) = (x.shape().to_vec(), x.device());
        let idx = indices.reshape(&[(batch * channels) as i64, w.output_numel() as i64])?;
        let lin = w.input_numel();
        let node = if k == 2 {
            "FractionalMaxPool2DBackward0"
        } else {
            "FractionalMaxPool3DBackward0"
        };
        record(node, &[&x], &values, move |g, _| {
            Ok(vec![Some(scatter_to_argmax(
                g, &idx, &in_shape, lin, dtype, device,
            )?)])
        });
    }
    if batched {
        Ok((values, indices))
    } else {
        Ok((values.squeeze(Some(&[0]))?, indices.squeeze(Some(&[0]))?))
    }
}

/// Average pooling over `w` of a batched input, differentiable to any order (the backward
/// kernel is the forward's adjoint, and the adjoint's backward is the forward).
fn avg_pool_window(x: &Tensor, w: &Window, d: AvgDivisor) -> Result<Tensor> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let mut shape = vec![n, c];
    shape.extend_from_slice(&w.output);
    let out = Tensor::from_storage(x.storage().avg_pool(x.layout(), w, d)?, shape);
    if needs_grad(&[x]) {
        let w = w.clone();
        record("AvgPoolBackward0", &[x], &out, move |g, _| {
            Ok(vec![Some(avg_pool_adjoint(g, &w, d)?)])
        });
    }
    Ok(out)
}

/// The adjoint of average pooling: an output-shaped gradient spread over the windows.
fn avg_pool_adjoint(g: &Tensor, w: &Window, d: AvgDivisor) -> Result<Tensor> {
    let (n, c) = (g.shape()[0], g.shape()[1]);
    let mut shape = vec![n, c];
    shape.extend_from_slice(&w.input);
    let out = Tensor::from_storage(g.storage().avg_pool_backward(g.layout(), w, d)?, shape);
    if needs_grad(&[g]) {
        let w = w.clone();
        record("AvgPoolBackwardBackward0", &[g], &out, move |gg, _| {
            Ok(vec![Some(avg_pool_window(gg, &w, d)?)])
        });
    }
    Ok(out)
}

/// PyTorch's dtypes for the pools `name` (`avg_pool2d`, `adaptive_max_pool3d`, …): float;
/// any but bool for the max pools over fixed windows; int64 on the CPU for the average
/// pools over fixed windows (each window's sum divided by its divisor as integers are,
/// toward zero; the sum is exact below 2⁵³); no other for the adaptive pools. Its errors
/// name the kernel: `avg_pool2d` (for 1-D too), `avg_pool3d_out_frame`,
/// `adaptive_max_pool3d_cpu`, `max_pool3d`, …. The CPU's 3-D average pool takes no half
/// floats either, as PyTorch's.
pub(crate) fn check_pool_dtype(name: &str, x: &Tensor) -> Result<()> {
    let dt = x.dtype();
    let half = matches!(dt, DType::F16 | DType::BF16);
    let ok = match name.split('_').next() {
        // PyTorch's CPU kernel for the 3-D average pool takes no half floats.
        _ if name == "avg_pool3d" && half && !x.device().is_cuda() => false,
        _ if dt.is_float() => true,
        Some("max") => dt != DType::Bool,
        Some("avg") => dt == DType::I64 && !x.device().is_cuda(),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let stem = &name[..name.len().saturating_sub(2)];
    let kernel = match (name.ends_with("3d"), name.split('_').next()) {
        (false, _) => format!("{stem}2d"),
        (true, Some("max")) => name.to_string(),
        (true, Some("avg")) => format!("{stem}3d_out_frame"),
        (true, _) => format!("{stem}3d_cpu"),
    };
    Err(Error::NotImplemented(format!(
        "\"{kernel}\" not implemented for '{}'",
        dt.scalar_name()
    )))
}

/// `avg_pool{k}d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
/// divisor_override)`.
pub fn avg_pool(name: &str, input: &Tensor, o: &PoolOptions, d: AvgDivisor) -> Result<Tensor> {
    crate::ops::trace::traced(
        "avg_pool",
        &[input],
        || {
            let mut a = o.trace_attrs();
            a.push((
                "count_include_pad",
                crate::ops::trace::Attr::Int(d.count_include_pad as i64),
            ));
            if let Some(v) = d.divisor_override {
                a.push(("divisor_override", crate::ops::trace::Attr::Int(v)));
            }
            a
        },
        || {
            let (x, is_batched) = batched(name, input, o.kernel.len())?;
            check_pool_dtype(name, &x)?;
            if d.divisor_override == Some(0) {
                return Err(Error::Runtime("divisor must be not zero".into()));
            }
            let w = fixed_window(name, &x, o, false)?;
            let y = avg_pool_window(&x, &w, d)?;
            if is_batched {
                Ok(y)
            } else {
                y.squeeze(Some(&[0]))
            }
        },
    )
}

/// `adaptive_avg_pool{k}d(input, output_size)`.
pub fn adaptive_avg_pool(name: &str, input: &Tensor, output: &[i64]) -> Result<Tensor> {
    crate::ops::trace::traced(
        "adaptive_avg_pool",
        &[input],
        || {
            vec![(
                "output_size",
                crate::ops::trace::Attr::Ints(output.to_vec()),
            )]
        },
        || {
            let (x, is_batched) = batched(name, input, output.len())?;
            if output.iter().all(|&v| v == 1) && !x.dtype().is_float() {
                // PyTorch takes the mean over the planes for an output of ones.
                return Err(Error::Runtime(format!(
                    "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                    x.dtype().scalar_name()
                )));
            }
            check_pool_dtype(name, &x)?;
            let w = adaptive_window(name, &x, output)?;
            let d = AvgDivisor {
                count_include_pad: false,
                divisor_override: None,
            };
            let y = avg_pool_window(&x, &w, d)?;
            if is_batched {
                Ok(y)
            } else {
                y.squeeze(Some(&[0]))
            }
        },
    )
}
