//! Pooling over 1–3 spatial dims: max (with the window argmax saved for backward), average
//! (whose backward is its adjoint kernel) and their adaptive forms, with PyTorch's output
//! sizes (`ceil_mode`) and checks.

use crate::autograd::{needs_grad, record};
use crate::backend::{AvgDivisor, Window};
use crate::error::{Error, Result};
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

/// PyTorch's `pooling_output_shape`.
fn output_size(input: i64, k: i64, pad: i64, stride: i64, dil: i64, ceil: bool) -> i64 {
    let span = input + 2 * pad - dil * (k - 1) - 1 + if ceil { stride - 1 } else { 0 };
    let mut out = span.div_euclid(stride) + 1;
    if ceil && (out - 1) * stride >= input + pad {
        out -= 1;
    }
    out
}

/// The input with a batch dim (added when unbatched), after PyTorch's rank check.
fn batched(name: &str, x: &Tensor, k: usize) -> Result<(Tensor, bool)> {
    if x.dim() != k + 1 && x.dim() != k + 2 {
        return Err(Error::Runtime(format!(
            "{name}: Expected {}D or {}D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: {}",
            k + 1,
            k + 2,
            fmt_shape(x.shape())
        )));
    }
    if x.shape()[x.dim() - k..].contains(&0) {
        return Err(Error::Runtime(format!(
            "{name}: Expected input's non-batch dimensions to have positive length, but input has a shape of {}",
            fmt_shape(x.shape())
        )));
    }
    Ok(if x.dim() == k + 2 {
        (x.clone(), true)
    } else {
        (x.unsqueeze(0)?, false)
    })
}

/// Checks fixed-window options against the input and builds the windows.
fn fixed_window(name: &str, x: &Tensor, o: &PoolOptions, max: bool) -> Result<Window> {
    let k = o.kernel.len();
    let list = |v: &[i64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if o.kernel.iter().any(|&v| v <= 0) {
        return Err(Error::Runtime(format!(
            "{name}: kernel_size must be greater than zero, but got {}",
            list(&o.kernel)
        )));
    }
    if o.stride.iter().any(|&v| v <= 0) {
        return Err(Error::Runtime(format!(
            "{name}: stride should be greater than zero, but got {}",
            list(&o.stride)
        )));
    }
    if o.dilation.iter().any(|&v| v <= 0) {
        return Err(Error::Runtime(format!(
            "{name}: dilation should be greater than zero, but got {}",
            list(&o.dilation)
        )));
    }
    if o.padding.iter().any(|&v| v < 0) {
        return Err(Error::Runtime(format!(
            "{name}: pad must be non-negative, but got {}",
            list(&o.padding)
        )));
    }
    if (0..k).any(|d| o.padding[d] * 2 > o.kernel[d]) {
        return Err(Error::Runtime(format!(
            "{name}: pad should be at most half of effective kernel size, but got pad={}, kernel_size={} and dilation={}",
            list(&o.padding),
            list(&o.kernel),
            list(&o.dilation)
        )));
    }
    let input: Vec<usize> = x.shape()[2..].to_vec();
    let output: Vec<i64> = (0..k)
        .map(|d| {
            let dil = if max { o.dilation[d] } else { 1 };
            output_size(
                input[d] as i64,
                o.kernel[d],
                o.padding[d],
                o.stride[d],
                dil,
                o.ceil_mode,
            )
        })
        .collect();
    if output.iter().any(|&v| v < 1) {
        let fmt = |v: &mut dyn Iterator<Item = i64>| {
            v.map(|x| x.to_string()).collect::<Vec<_>>().join("x")
        };
        return Err(Error::Runtime(format!(
            "{name}: Given input size: ({}x{}). Calculated output size: ({}x{}). Output size is too small",
            x.shape()[1],
            fmt(&mut input.iter().map(|&v| v as i64)),
            x.shape()[1],
            fmt(&mut output.iter().copied())
        )));
    }
    let u = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<_>>();
    Ok(Window {
        input,
        output: u(&output),
        kernel: u(&o.kernel),
        stride: u(&o.stride),
        padding: u(&o.padding),
        dilation: if max { u(&o.dilation) } else { vec![1; k] },
        adaptive: false,
    })
}

/// Adaptive windows from `x`'s spatial sizes to `output` (a size of -1 keeps the input's).
fn adaptive_window(name: &str, x: &Tensor, output: &[i64]) -> Result<Window> {
    let k = output.len();
    let input: Vec<usize> = x.shape()[2..].to_vec();
    if output.iter().any(|&v| v < -1) {
        return Err(Error::Runtime(format!(
            "{name}: elements of output_size must be greater than or equal to 0 but received {}",
            fmt_shape(output)
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
        let planes = (n * c) as i64;
        let (lin, lout) = (w.input_numel() as i64, w.output_numel() as i64);
        let idx = indices.reshape(&[planes, lout])?;
        record("MaxPoolBackward0", &[x], &values, move |g, _| {
            // Each output's gradient lands on its window's argmax (summed where windows
            // share one), as a scatter-add whose own backward is a gather.
            let shape: Vec<i64> = in_shape.iter().map(|&v| v as i64).collect();
            let grad =
                crate::ops::creation::zeros(&[planes as usize, lin as usize], dtype, device)?
                    .scatter(1, &idx, &g.reshape(&[planes, lout])?, true)?
                    .reshape(&shape)?;
            Ok(vec![Some(grad)])
        });
    }
    if unbatch {
        Ok((values.squeeze(Some(&[0]))?, indices.squeeze(Some(&[0]))?))
    } else {
        Ok((values, indices))
    }
}

/// `max_pool{k}d(input, kernel_size, stride, padding, dilation, ceil_mode,
/// return_indices=True)`: the maxima and their flat indices within each input plane.
pub fn max_pool(name: &str, input: &Tensor, o: &PoolOptions) -> Result<(Tensor, Tensor)> {
    let (x, is_batched) = batched(name, input, o.kernel.len())?;
    let w = fixed_window(name, &x, o, true)?;
    max_pool_window(&x, &w, !is_batched)
}

/// `adaptive_max_pool{k}d(input, output_size, return_indices=True)`.
pub fn adaptive_max_pool(name: &str, input: &Tensor, output: &[i64]) -> Result<(Tensor, Tensor)> {
    let (x, is_batched) = batched(name, input, output.len())?;
    let w = adaptive_window(name, &x, output)?;
    max_pool_window(&x, &w, !is_batched)
}

/// Average pooling over `w` of a batched input, differentiable to any order (the backward
/// kernel is the forward's adjoint, and the adjoint's backward is the forward).
fn avg_pool_window(x: &Tensor, w: &Window, d: AvgDivisor) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return Err(Error::NotImplemented(format!(
            "\"avg_pool\" not implemented for '{}'",
            x.dtype().scalar_name()
        )));
    }
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

/// `avg_pool{k}d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
/// divisor_override)`.
pub fn avg_pool(name: &str, input: &Tensor, o: &PoolOptions, d: AvgDivisor) -> Result<Tensor> {
    let (x, is_batched) = batched(name, input, o.kernel.len())?;
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
}

/// `adaptive_avg_pool{k}d(input, output_size)`.
pub fn adaptive_avg_pool(name: &str, input: &Tensor, output: &[i64]) -> Result<Tensor> {
    let (x, is_batched) = batched(name, input, output.len())?;
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
}
