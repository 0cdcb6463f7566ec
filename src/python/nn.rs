//! `rustorch._C` functions behind `nn.functional`'s convolution, pooling, fold, pad,
//! recurrent layers, dropout masks and attention weights:
//! argument conversion only (Python passes per-dim lists; `name` is the op's PyTorch name
//! for messages).

use super::tensor::PyTensor;
use crate::backend::{AvgDivisor, RnnCell};
use crate::ops::conv::{ConvOptions, ConvPadding};
use crate::ops::pad::PadMode;
use crate::ops::pool::PoolOptions;
use crate::ops::rnn::{self, RnnWeights};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

type R = PyResult<PyTensor>;
type R2 = PyResult<(PyTensor, PyTensor)>;

/// `padding` as `nn.functional` takes it: a list of ints, `'same'` or `'valid'`.
fn conv_padding(obj: &Bound<'_, PyAny>) -> PyResult<ConvPadding> {
    if let Ok(s) = obj.extract::<String>() {
        return match s.as_str() {
            "same" => Ok(ConvPadding::Same),
            "valid" => Ok(ConvPadding::Valid),
            _ => Err(PyRuntimeError::new_err(format!(
                "Invalid padding string: '{s}'"
            ))),
        };
    }
    Ok(ConvPadding::Explicit(obj.extract()?))
}

/// `conv{k}d(input, weight, bias, stride, padding, dilation, groups)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn _conv(
    name: &str,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    stride: Vec<i64>,
    padding: &Bound<'_, PyAny>,
    dilation: Vec<i64>,
    groups: i64,
) -> R {
    let o = ConvOptions {
        output_padding: vec![0; stride.len()],
        stride,
        padding: conv_padding(padding)?,
        dilation,
        groups,
    };
    let b = bias.as_ref().map(|b| &b.inner);
    Ok(PyTensor::new(crate::ops::conv::conv(
        name,
        &input.inner,
        &weight.inner,
        b,
        &o,
    )?))
}

/// `conv_transpose{k}d(input, weight, bias, stride, padding, output_padding, groups,
/// dilation)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn _conv_transpose(
    name: &str,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    output_padding: Vec<i64>,
    groups: i64,
    dilation: Vec<i64>,
) -> R {
    let o = ConvOptions {
        stride,
        padding: ConvPadding::Explicit(padding),
        dilation,
        groups,
        output_padding,
    };
    let b = bias.as_ref().map(|b| &b.inner);
    Ok(PyTensor::new(crate::ops::conv::conv_transpose(
        name,
        &input.inner,
        &weight.inner,
        b,
        &o,
    )?))
}

/// `unfold(input, kernel_size, dilation, padding, stride)`.
#[pyfunction]
pub fn _unfold(
    input: PyRef<'_, PyTensor>,
    kernel_size: Vec<i64>,
    dilation: Vec<i64>,
    padding: Vec<i64>,
    stride: Vec<i64>,
) -> R {
    Ok(PyTensor::new(crate::ops::fold::unfold(
        &input.inner,
        &kernel_size,
        &dilation,
        &padding,
        &stride,
    )?))
}

/// `fold(input, output_size, kernel_size, dilation, padding, stride)`.
#[pyfunction]
pub fn _fold(
    input: PyRef<'_, PyTensor>,
    output_size: Vec<i64>,
    kernel_size: Vec<i64>,
    dilation: Vec<i64>,
    padding: Vec<i64>,
    stride: Vec<i64>,
) -> R {
    Ok(PyTensor::new(crate::ops::fold::fold(
        &input.inner,
        &output_size,
        &kernel_size,
        &dilation,
        &padding,
        &stride,
    )?))
}

/// `max_pool{k}d(..., return_indices=True)`: (values, indices).
#[pyfunction]
pub fn _max_pool(
    name: &str,
    input: PyRef<'_, PyTensor>,
    kernel_size: Vec<i64>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    dilation: Vec<i64>,
    ceil_mode: bool,
) -> R2 {
    let o = PoolOptions {
        kernel: kernel_size,
        stride,
        padding,
        dilation,
        ceil_mode,
    };
    let (v, i) = crate::ops::pool::max_pool(name, &input.inner, &o)?;
    Ok((PyTensor::new(v), PyTensor::new(i)))
}

/// `avg_pool{k}d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
/// divisor_override)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn _avg_pool(
    name: &str,
    input: PyRef<'_, PyTensor>,
    kernel_size: Vec<i64>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<i64>,
) -> R {
    let o = PoolOptions {
        dilation: vec![1; kernel_size.len()],
        kernel: kernel_size,
        stride,
        padding,
        ceil_mode,
    };
    let d = AvgDivisor {
        count_include_pad,
        divisor_override,
    };
    Ok(PyTensor::new(crate::ops::pool::avg_pool(
        name,
        &input.inner,
        &o,
        d,
    )?))
}

/// `fractional_max_pool{k}d(input, kernel_size, output_size, _random_samples)`: (values,
/// indices).
#[pyfunction]
pub fn _fractional_max_pool(
    dims: usize,
    input: PyRef<'_, PyTensor>,
    kernel_size: Vec<i64>,
    output_size: Vec<i64>,
    samples: PyRef<'_, PyTensor>,
) -> R2 {
    let (v, i) = crate::ops::pool::fractional_max_pool(
        dims,
        &input.inner,
        &kernel_size,
        &output_size,
        &samples.inner,
    )?;
    Ok((PyTensor::new(v), PyTensor::new(i)))
}

/// `adaptive_max_pool{k}d(..., return_indices=True)`: (values, indices).
#[pyfunction]
pub fn _adaptive_max_pool(name: &str, input: PyRef<'_, PyTensor>, output_size: Vec<i64>) -> R2 {
    let (v, i) = crate::ops::pool::adaptive_max_pool(name, &input.inner, &output_size)?;
    Ok((PyTensor::new(v), PyTensor::new(i)))
}

/// `adaptive_avg_pool{k}d(input, output_size)`.
#[pyfunction]
pub fn _adaptive_avg_pool(name: &str, input: PyRef<'_, PyTensor>, output_size: Vec<i64>) -> R {
    Ok(PyTensor::new(crate::ops::pool::adaptive_avg_pool(
        name,
        &input.inner,
        &output_size,
    )?))
}

/// `pad(input, pad, mode, value)`.
#[pyfunction]
#[pyo3(signature = (input, pad, mode="constant", value=None))]
pub fn _pad(input: PyRef<'_, PyTensor>, pad: Vec<i64>, mode: &str, value: Option<f64>) -> R {
    let mode = PadMode::parse(mode)?;
    if mode != PadMode::Constant && value.is_some_and(|v| v != 0.0) {
        return Err(PyRuntimeError::new_err(format!(
            "Padding mode \"{}\" doesn't take in value argument",
            mode.name()
        )));
    }
    Ok(PyTensor::new(input.inner.pad(
        &pad,
        mode,
        value.unwrap_or(0.0),
    )?))
}

/// `pixel_shuffle(input, upscale_factor)`.
#[pyfunction]
pub fn pixel_shuffle(input: PyRef<'_, PyTensor>, upscale_factor: i64) -> R {
    Ok(PyTensor::new(input.inner.pixel_shuffle(upscale_factor)?))
}

/// `torchvision.ops.roi_pool(input, boxes, output_size, spatial_scale)` with `boxes` already
/// in the `[K, 5]` form.
#[pyfunction]
#[pyo3(signature = (input, rois, output_size, spatial_scale))]
pub fn _roi_pool(
    input: PyRef<'_, PyTensor>,
    rois: PyRef<'_, PyTensor>,
    output_size: (usize, usize),
    spatial_scale: f64,
) -> R {
    Ok(PyTensor::new(crate::ops::roi::roi_pool(
        &input.inner,
        &rois.inner,
        output_size,
        spatial_scale,
    )?))
}

/// `torchvision.ops.roi_align(input, boxes, output_size, spatial_scale, sampling_ratio,
/// aligned)` with `boxes` already in the `[K, 5]` form.
#[pyfunction]
#[pyo3(signature = (input, rois, output_size, spatial_scale, sampling_ratio, aligned))]
pub fn _roi_align(
    input: PyRef<'_, PyTensor>,
    rois: PyRef<'_, PyTensor>,
    output_size: (usize, usize),
    spatial_scale: f64,
    sampling_ratio: i64,
    aligned: bool,
) -> R {
    Ok(PyTensor::new(crate::ops::roi::roi_align(
        &input.inner,
        &rois.inner,
        output_size,
        spatial_scale,
        sampling_ratio,
        aligned,
    )?))
}

/// `torchvision.ops.nms(boxes, scores, iou_threshold)`.
#[pyfunction]
pub fn _nms(boxes: PyRef<'_, PyTensor>, scores: PyRef<'_, PyTensor>, iou_threshold: f64) -> R {
    Ok(PyTensor::new(crate::ops::roi::nms(
        &boxes.inner,
        &scores.inner,
        iou_threshold,
    )?))
}

/// `pixel_unshuffle(input, downscale_factor)`.
#[pyfunction]
pub fn pixel_unshuffle(input: PyRef<'_, PyTensor>, downscale_factor: i64) -> R {
    Ok(PyTensor::new(
        input.inner.pixel_unshuffle(downscale_factor)?,
    ))
}

/// `interpolate(input, size, ...)` once the output size is known: `scales` are the user's
/// scale factors when they set the source mapping (PyTorch's `recompute_scale_factor`);
/// with `antialias`, `mode` is bilinear, bicubic or lanczos.
#[pyfunction]
#[pyo3(signature = (input, output_size, scales, mode, align_corners, antialias))]
pub fn _resample(
    input: PyRef<'_, PyTensor>,
    output_size: Vec<i64>,
    scales: Option<Vec<f64>>,
    mode: &str,
    align_corners: bool,
    antialias: bool,
) -> R {
    use crate::ops::resample::{Filter, Resample};
    let (x, scales) = (&input.inner, scales.as_deref());
    Ok(PyTensor::new(if antialias {
        x.resample_antialias(
            &output_size,
            scales,
            Filter::antialiased(mode)?,
            align_corners,
        )?
    } else {
        x.resample(&output_size, scales, Resample::parse(mode)?, align_corners)?
    }))
}

/// `affine_grid(theta, size, align_corners)`.
#[pyfunction]
pub fn _affine_grid(theta: PyRef<'_, PyTensor>, size: Vec<usize>, align_corners: bool) -> R {
    Ok(PyTensor::new(crate::ops::grid::affine_grid(
        &theta.inner,
        &size,
        align_corners,
    )?))
}

/// `grid_sample(input, grid, mode, padding_mode, align_corners)` (bilinear or nearest).
#[pyfunction]
pub fn _grid_sample(
    input: PyRef<'_, PyTensor>,
    grid: PyRef<'_, PyTensor>,
    mode: &str,
    padding_mode: &str,
    align_corners: bool,
) -> R {
    let mode = crate::ops::grid::GridMode::parse(mode)?;
    let padding = crate::ops::grid::GridPadding::parse(padding_mode)?;
    Ok(PyTensor::new(crate::ops::grid::grid_sample(
        &input.inner,
        &grid.inner,
        mode,
        padding,
        align_corners,
    )?))
}

/// One layer and direction of `nn.RNN`/`nn.LSTM`/`nn.GRU` (`mode`: PyTorch's `RNN_TANH`,
/// `RNN_RELU`, `LSTM`, `GRU`) over a `[steps, batch, input]` input: (output, h_n, c_n).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn _rnn_layer(
    mode: &str,
    input: PyRef<'_, PyTensor>,
    w_ih: PyRef<'_, PyTensor>,
    w_hh: PyRef<'_, PyTensor>,
    b_ih: Option<PyRef<'_, PyTensor>>,
    b_hh: Option<PyRef<'_, PyTensor>>,
    w_hr: Option<PyRef<'_, PyTensor>>,
    hx: PyRef<'_, PyTensor>,
    cx: Option<PyRef<'_, PyTensor>>,
    batch_sizes: Option<Vec<usize>>,
    reverse: bool,
) -> PyResult<(PyTensor, PyTensor, Option<PyTensor>)> {
    let cell = match mode {
        "RNN_TANH" => RnnCell::Tanh,
        "RNN_RELU" => RnnCell::Relu,
        "LSTM" => RnnCell::Lstm,
        "GRU" => RnnCell::Gru,
        _ => return Err(PyRuntimeError::new_err(format!("Unknown mode: {mode}"))),
    };
    let inner = |t: &Option<PyRef<'_, PyTensor>>| t.as_ref().map(|t| t.inner.clone());
    let (b_ih, b_hh, w_hr, cx) = (inner(&b_ih), inner(&b_hh), inner(&w_hr), inner(&cx));
    let w = RnnWeights {
        w_ih: &w_ih.inner,
        w_hh: &w_hh.inner,
        b_ih: b_ih.as_ref(),
        b_hh: b_hh.as_ref(),
        w_hr: w_hr.as_ref(),
    };
    let (out, h, c) = rnn::rnn_layer(
        cell,
        &input.inner,
        w,
        &hx.inner,
        cx.as_ref(),
        batch_sizes.as_deref(),
        reverse,
    )?;
    Ok((PyTensor::new(out), PyTensor::new(h), c.map(PyTensor::new)))
}

/// Dropout's mask for `input`: kept with probability `keep` (as 1, or `1/keep` when
/// `scaled`), else 0, of `shape`, in `input`'s dtype and on its device.
#[pyfunction]
pub fn _dropout_mask(input: PyRef<'_, PyTensor>, shape: Vec<usize>, keep: f64, scaled: bool) -> R {
    let x = &input.inner;
    Ok(PyTensor::new(crate::ops::random::dropout_mask(
        &shape,
        keep,
        scaled,
        x.dtype(),
        x.device(),
    )?))
}

#[pyfunction]
#[pyo3(signature = (scores, mask, is_causal, scale, dropout_p, safe))]
pub fn _attention_softmax(
    scores: PyRef<'_, PyTensor>,
    mask: Option<PyRef<'_, PyTensor>>,
    is_causal: bool,
    scale: f64,
    dropout_p: f64,
    safe: bool,
) -> R {
    Ok(PyTensor::new(crate::ops::attention::attention_softmax(
        &scores.inner,
        mask.as_ref().map(|m| &m.inner),
        is_causal,
        scale,
        dropout_p,
        safe,
    )?))
}
