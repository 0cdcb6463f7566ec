//! Resampling (`F.interpolate`) with PyTorch's source-coordinate rules.
//!
//! Every mode is separable: one spatial dim at a time (the last first), each output
//! position a weighted sum of a span of consecutive sources along the dim
//! ([`ResampleAxis`], a backend kernel). The spans and weights are computed on the host from
//! the sizes alone: nearest (one source), linear (two), cubic (four; Keys, A = −0.75), and
//! the antialiased filters of bilinear, bicubic (A = −0.5) and lanczos, widened by the step
//! when downsampling. A pass's gradient is the pass over the transposed spans (recorded the
//! same way, so gradients of any order follow). uint8 bilinear, bicubic and lanczos run in
//! PyTorch's fixed point instead, rounding to bytes after each pass.

use crate::autograd::{needs_grad, record};
use crate::backend::ResampleAxis;
use crate::error::{Error, Result};
use crate::ops::dense;
use crate::tensor::dtype::DType;
use crate::tensor::memory_format::MemoryFormat;
use crate::Tensor;

/// How `interpolate` maps and weighs source positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    Nearest,
    NearestExact,
    Linear,
    Cubic,
}

impl Resample {
    pub fn parse(mode: &str) -> Result<Resample> {
        Ok(match mode {
            "nearest" => Resample::Nearest,
            "nearest-exact" => Resample::NearestExact,
            "linear" | "bilinear" | "trilinear" => Resample::Linear,
            "bicubic" => Resample::Cubic,
            _ => {
                return Err(Error::NotImplemented(format!(
                    "Input Error: unsupported interpolation mode {mode}"
                )))
            }
        })
    }
}

/// PyTorch's `area_pixel_compute_scale`: the source step per output position.
fn step(input: usize, output: usize, align_corners: bool, scale: Option<f64>) -> f64 {
    if align_corners {
        if output > 1 {
            (input as f64 - 1.0) / (output as f64 - 1.0)
        } else {
            0.0
        }
    } else {
        match scale {
            Some(s) if s > 0.0 => 1.0 / s,
            _ => input as f64 / output as f64,
        }
    }
}

/// PyTorch's `area_pixel_compute_source_index`: the source position of output `o`, not
/// below 0 for linear (cubic reads clamp each tap instead).
fn source(st: f64, o: usize, align_corners: bool, cubic: bool) -> f64 {
    if align_corners {
        st * o as f64
    } else {
        let src = st * (o as f64 + 0.5) - 0.5;
        if cubic {
            src
        } else {
            src.max(0.0)
        }
    }
}

/// The taps of one output position of linear or cubic (`cubic`) resampling: (source
/// index, weight) pairs.
fn taps(cubic: bool, o: usize, input: usize, st: f64, align_corners: bool) -> Vec<(i64, f64)> {
    let last = input as i64 - 1;
    let clamp = |i: i64| i.clamp(0, last);
    if !cubic {
        let src = source(st, o, align_corners, false);
        let i0 = (src.floor() as i64).min(last);
        let i1 = (i0 + 1).min(last);
        let l1 = src - i0 as f64;
        return vec![(i0, 1.0 - l1), (i1, l1)];
    }
    // Taps at ⌊src⌋−1 … ⌊src⌋+2.
    let src = source(st, o, align_corners, true);
    let f = src.floor();
    let t = src - f;
    let i = f as i64;
    let k = Filter::KEYS;
    vec![
        (clamp(i - 1), k.at(t + 1.0)),
        (clamp(i), k.at(t)),
        (clamp(i + 1), k.at(1.0 - t)),
        (clamp(i + 2), k.at(2.0 - t)),
    ]
}

/// Which of PyTorch's nearest kernels a call runs, which decides how its source index is
/// rounded.
#[derive(Clone, Copy, Debug, PartialEq)]
enum NearestKernel {
    /// The generic CPU kernel: the position computed in the dtype's math type (float64 for
    /// float64, float32 for the others), then floored as a float32 (`floorf`).
    Generic { double: bool },
    /// The CUDA kernels and the CPU channels-last one: the step in float32; the latter
    /// (`shortcuts`, nearest only) copies at equal sizes and halves at double ones.
    Float { shortcuts: bool },
}

/// The source position output `o` of nearest (or, `exact`, nearest-exact) resampling reads
/// along an axis of `input` positions resampled to `output`, `scale` the user's factor.
fn nearest_index(
    kernel: NearestKernel,
    exact: bool,
    o: usize,
    input: usize,
    output: usize,
    scale: Option<f64>,
) -> usize {
    let step32 = || match scale {
        Some(s) if s > 0.0 => (1.0 / s) as f32,
        _ => input as f32 / output as f32,
    };
    let at = match kernel {
        NearestKernel::Generic { double: true } => {
            let st = step(input, output, false, scale);
            let real = if exact {
                (st * (o as f64 + 0.5) - 0.5).max(0.0) + 0.5
            } else {
                st * o as f64
            };
            (real as f32).floor()
        }
        NearestKernel::Generic { double: false } => {
            let st = step32();
            let real = if exact {
                (st * (o as f32 + 0.5) - 0.5).max(0.0) + 0.5
            } else {
                st * o as f32
            };
            real.floor()
        }
        NearestKernel::Float { shortcuts } => {
            if shortcuts && !exact && output == input {
                return o;
            }
            if shortcuts && !exact && output == 2 * input {
                return o / 2;
            }
            let st = step32();
            if exact {
                ((o as f32 + 0.5) * st).floor()
            } else {
                (o as f32 * st).floor()
            }
        }
    };
    (at as usize).min(input - 1)
}

/// The kernels of PyTorch's separable resampling (its `aa_filter`s): the triangle for
/// linear, Keys' cubic convolution with coefficient `a` (−0.75, as OpenCV, for plain
/// bicubic; −0.5, as PIL, for antialiased), and Lanczos-3, `sinc(x)·sinc(x/3)` (as PIL).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Filter {
    Triangle,
    Cubic(f64),
    Lanczos,
}

impl Filter {
    const KEYS: Filter = Filter::Cubic(-0.75);

    /// The filter of an antialiased `mode`: `"bilinear"`, `"bicubic"` or `"lanczos"`.
    pub fn antialiased(mode: &str) -> Result<Filter> {
        Ok(match mode {
            "bilinear" => Filter::Triangle,
            "bicubic" => Filter::Cubic(-0.5),
            "lanczos" => Filter::Lanczos,
            _ => {
                return Err(Error::Value(
                    "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor as input"
                        .into(),
                ))
            }
        })
    }

    /// Its taps without antialiasing (PyTorch's `interp_size`).
    fn width(self) -> usize {
        match self {
            Filter::Triangle => 2,
            Filter::Cubic(_) => 4,
            Filter::Lanczos => 6,
        }
    }

    fn at(self, x: f64) -> f64 {
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                let x = x * std::f64::consts::PI;
                x.sin() / x
            }
        };
        let x = x.abs();
        match self {
            Filter::Triangle if x < 1.0 => 1.0 - x,
            Filter::Cubic(a) if x < 1.0 => ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
            Filter::Cubic(a) if x < 2.0 => ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a,
            Filter::Lanczos if x < 3.0 => sinc(x) * sinc(x / 3.0),
            _ => 0.0,
        }
    }
}

/// The consecutive source positions one output position reads along an axis: from
/// `start`, one per weight.
#[derive(Debug)]
struct Span {
    start: usize,
    weights: Vec<f64>,
}

/// The spans of every output position along an axis of `input` positions resampled to
/// `output`, and the largest weight (which sets the uint8 path's fixed-point precision).
///
/// Antialiased (PyTorch's `_compute_indices_min_size_weights_aa`): the filter widened by
/// the step when downsampling, centred on `step·(o + 0.5)`, cut to the input and
/// normalised to sum 1. Plain (its `_compute_indices_min_size_weights`, for uint8): the
/// filter's taps around the source position, those past an edge folded onto the edge's
/// tap; its largest weight is the largest partial sum met while folding, as PyTorch's.
fn spans(
    filter: Filter,
    antialias: bool,
    input: usize,
    output: usize,
    st: f64,
    align_corners: bool,
) -> (Vec<Span>, f64) {
    let n = input as i64;
    let mut most = 0.0f64;
    let spans = (0..output)
        .map(|o| {
            let size = filter.width();
            if antialias {
                let half = size as f64 * 0.5;
                let support = if st >= 1.0 { half * st } else { half };
                let widest = support.ceil() as i64 * 2 + 1;
                let invscale = if st >= 1.0 { 1.0 / st } else { 1.0 };
                let center = st * (o as f64 + 0.5);
                // `as i64` truncates toward zero, as PyTorch's `static_cast`.
                let start = ((center - support + 0.5) as i64).max(0);
                let len = (((center + support + 0.5) as i64).min(n) - start).clamp(0, widest);
                let mut weights: Vec<f64> = (start..start + len)
                    .map(|i| filter.at((i as f64 - center + 0.5) * invscale))
                    .collect();
                let total: f64 = weights.iter().sum();
                if total != 0.0 {
                    for w in &mut weights {
                        *w /= total;
                        most = most.max(*w);
                    }
                }
                Span {
                    start: start as usize,
                    weights,
                }
            } else {
                let src = source(st, o, align_corners, size > 2);
                let index = (src.floor() as i64).min(n - 1);
                let lambda = (src - index as f64).clamp(0.0, 1.0);
                let support = size as i64 / 2;
                let first = index - support + 1;
                let start = first.max(0);
                let len = ((index + support + 1).min(n) - start).clamp(1, size as i64) as usize;
                let mut weights = vec![0.0; size];
                let mut at = 0usize;
                for j in 0..size {
                    let w = filter.at((j as i64 + 1 - support) as f64 - lambda);
                    let i = first + j as i64;
                    if i <= 0 {
                        at = 0;
                    } else if i >= n - 1 {
                        at = len - 1;
                    }
                    weights[at] += w;
                    most = most.max(weights[at]);
                    at += 1;
                }
                weights.truncate(len);
                Span {
                    start: start as usize,
                    weights,
                }
            }
        })
        .collect();
    (spans, most)
}

/// `taps` (source index, weight pairs, indices possibly repeated at an edge) as one span:
/// from the lowest index to the highest, each weight added at its index.
fn span_of(taps: &[(i64, f64)]) -> Span {
    let lo = taps.iter().map(|t| t.0).min().unwrap_or(0);
    let hi = taps.iter().map(|t| t.0).max().unwrap_or(0);
    let mut weights = vec![0.0; (hi - lo + 1) as usize];
    for &(i, w) in taps {
        weights[(i - lo) as usize] += w;
    }
    Span {
        start: lo as usize,
        weights,
    }
}

/// The adjoint of resampling `input` positions with `spans`: for each input position, the
/// span of output positions that read it and their weights (the spans' starts and ends
/// never decrease, so each input's readers are consecutive; an input none reads gets an
/// empty span).
fn transposed(spans: &[Span], input: usize) -> Vec<Span> {
    let mut readers: Vec<Vec<(i64, f64)>> = vec![Vec::new(); input];
    for (o, span) in spans.iter().enumerate() {
        for (j, &w) in span.weights.iter().enumerate() {
            readers[span.start + j].push((o as i64, w));
        }
    }
    readers
        .iter()
        .map(|r| {
            if r.is_empty() {
                // An input no output reads (a downsampling skips it): no terms, a zero
                // (not `0·g`, which a non-finite gradient would make NaN).
                Span {
                    start: 0,
                    weights: Vec::new(),
                }
            } else {
                span_of(r)
            }
        })
        .collect()
}

/// The spans of one axis as a backend's [`ResampleAxis`] over the contiguous `shape`
/// along `dim`, each weight made by `weight`.
fn axis<W: Copy + Default>(
    shape: &[usize],
    dim: usize,
    spans: &[Span],
    weight: impl Fn(f64) -> W,
) -> ResampleAxis<W> {
    let taps = spans.iter().map(|s| s.weights.len()).max().unwrap_or(0);
    let mut weights = vec![W::default(); spans.len() * taps];
    for (row, span) in weights.chunks_exact_mut(taps.max(1)).zip(spans) {
        for (w, &v) in row.iter_mut().zip(&span.weights) {
            *w = weight(v);
        }
    }
    ResampleAxis {
        outer: shape[..dim].iter().product(),
        input: shape[dim],
        inner: shape[dim + 1..].iter().product(),
        output: spans.len(),
        taps,
        start: spans.iter().map(|s| s.start).collect(),
        len: spans.iter().map(|s| s.weights.len()).collect(),
        weights,
    }
}

/// `x` (float) resampled along `dim` with `spans`, laid out in `format`, recorded as `name`
/// with the adjoint pass (the transposed spans, laid out as `x`) as its gradient, so that
/// gradients of any order come from this same op.
fn resample_pass(
    x: &Tensor,
    dim: usize,
    spans: &[Span],
    name: &'static str,
    format: MemoryFormat,
) -> Result<Tensor> {
    let xd = dense(x)?;
    let mut shape = xd.shape().to_vec();
    let input = shape[dim];
    let p = axis(&shape, dim, spans, |w| w);
    shape[dim] = spans.len();
    let out = Tensor::from_storage(xd.storage().resample_axis(&p)?, shape).contiguous_as(format)?;
    if needs_grad(&[x]) {
        let back = transposed(spans, input);
        let back_format = x.layout().suggested_format();
        record(name, &[x], &out, move |g, _| {
            Ok(vec![Some(resample_pass(g, dim, &back, name, back_format)?)])
        });
    }
    Ok(out)
}

/// PyTorch's name of the backward of `interpolate` in `mode` over `k` spatial dims.
fn backward_name(mode: Resample, k: usize) -> &'static str {
    const NAMES: [[&str; 3]; 4] = [
        [
            "UpsampleNearest1DBackward0",
            "UpsampleNearest2DBackward0",
            "UpsampleNearest3DBackward0",
        ],
        [
            "UpsampleNearestExact1DBackward0",
            "UpsampleNearestExact2DBackward0",
            "UpsampleNearestExact3DBackward0",
        ],
        [
            "UpsampleLinear1DBackward0",
            "UpsampleBilinear2DBackward0",
            "UpsampleTrilinear3DBackward0",
        ],
        ["UpsampleBicubic2DBackward0"; 3],
    ];
    let m = match mode {
        Resample::Nearest => 0,
        Resample::NearestExact => 1,
        Resample::Linear => 2,
        Resample::Cubic => 3,
    };
    NAMES[m][k - 1]
}

impl Tensor {
    /// `F.interpolate` over the trailing `output.len()` dims of an `[n, c, *spatial]` input
    /// to `output`, `scales` being the user's scale factors (used for the source mapping,
    /// as PyTorch does when `recompute_scale_factor` is not set). Floats resample one axis
    /// at a time (the last first); uint8 takes the nearest modes (exactly, through float32,
    /// as PyTorch does) and, over 2 dims, bilinear and bicubic in PyTorch's fixed point (see
    /// [`Tensor::resample_fixed_point`]).
    pub fn resample(
        &self,
        output: &[i64],
        scales: Option<&[f64]>,
        mode: Resample,
        align_corners: bool,
    ) -> Result<Tensor> {
        let k = output.len();
        if !(1..=3).contains(&k) || self.dim() != k + 2 {
            return Err(Error::Runtime(format!(
                "interpolate: expected 1 to 3 output sizes for a 3-D to 5-D input, one per spatial dim, but got {k} output sizes for a {}-D input",
                self.dim()
            )));
        }
        let nearest = matches!(mode, Resample::Nearest | Resample::NearestExact);
        let u8 = self.dtype() == DType::U8;
        // PyTorch's kernels take the floats, and uint8 for nearest modes and for bilinear
        // and bicubic.
        if !(self.dtype().is_float() || (u8 && (nearest || k == 2))) {
            let kernel = if self.device().is_cuda() {
                let name = match mode {
                    Resample::Nearest | Resample::NearestExact => "nearest",
                    Resample::Linear => ["linear", "bilinear", "trilinear"][k - 1],
                    Resample::Cubic => "bicubic",
                };
                format!("upsample_{name}{k}d_out_frame")
            } else {
                match (mode, k) {
                    (Resample::Nearest | Resample::NearestExact, 2) => {
                        "upsample_nearest2d_channels_last"
                    }
                    (Resample::Nearest | Resample::NearestExact, _) => {
                        "compute_indices_weights_nearest"
                    }
                    (Resample::Linear, 2) => "upsample_bilinear2d_channels_last",
                    (Resample::Linear, _) => "compute_indices_weights_linear",
                    (Resample::Cubic, _) => "compute_indices_weights_cubic",
                }
                .to_string()
            };
            return Err(self.unimplemented_for(&kernel));
        }
        let out = self.check_resample_sizes(output)?;
        if u8 && !nearest {
            let filter = if mode == Resample::Cubic {
                Filter::KEYS
            } else {
                Filter::Triangle
            };
            return self.resample_fixed_point(&out, scales, filter, false, align_corners);
        }
        let channels_last = |fmt| self.layout().is_contiguous_as(fmt) && self.shape()[1] > 3;
        let kernel = if self.device().is_cuda() {
            NearestKernel::Float { shortcuts: false }
        } else if (k == 2 && (out[0] + out[1] <= 128 || channels_last(MemoryFormat::ChannelsLast)))
            || (k == 3 && channels_last(MemoryFormat::ChannelsLast3d))
        {
            NearestKernel::Float { shortcuts: true }
        } else {
            NearestKernel::Generic {
                double: self.dtype() == DType::F64,
            }
        };
        let mut passes = Vec::new();
        for d in (0..k).rev() {
            let input = self.shape()[2 + d];
            let scale = scales.map(|s| s[d]);
            let st = step(input, out[d], align_corners, scale);
            if input == out[d] && st == 1.0 {
                // Every output position reads its own input position with weight 1.
                continue;
            }
            let spans = (0..out[d])
                .map(|o| match mode {
                    Resample::Nearest | Resample::NearestExact => Span {
                        start: nearest_index(
                            kernel,
                            mode == Resample::NearestExact,
                            o,
                            input,
                            out[d],
                            scale,
                        ),
                        weights: vec![1.0],
                    },
                    _ => span_of(&taps(mode == Resample::Cubic, o, input, st, align_corners)),
                })
                .collect();
            passes.push((2 + d, spans));
        }
        let name = backward_name(mode, k);
        if u8 {
            // One source of weight 1: with 1 fractional bit, (1 + 2·x) >> 1 = x exactly.
            let passes = passes
                .into_iter()
                .map(|(dim, spans)| (dim, spans, 1))
                .collect();
            return self.fixed_point_passes(passes);
        }
        self.resample_passes(passes, name)
    }

    /// `x` resampled by each `(dim, spans)` pass in turn; a new tensor even when there is
    /// none (an identity pass along the last dim), as PyTorch's op always makes one, laid
    /// out as PyTorch's output (channels-last for a channels-last input).
    fn resample_passes(
        &self,
        mut passes: Vec<(usize, Vec<Span>)>,
        name: &'static str,
    ) -> Result<Tensor> {
        if passes.is_empty() {
            let dim = self.dim() - 1;
            let identity = (0..self.shape()[dim])
                .map(|i| Span {
                    start: i,
                    weights: vec![1.0],
                })
                .collect();
            passes.push((dim, identity));
        }
        let (mut x, last) = (self.clone(), passes.len() - 1);
        for (i, (dim, spans)) in passes.iter().enumerate() {
            let format = if i == last {
                self.layout().suggested_format()
            } else {
                MemoryFormat::Contiguous
            };
            x = resample_pass(&x, *dim, spans, name, format)?;
        }
        Ok(x)
    }

    /// `F.interpolate(..., antialias=True)` of an `[n, c, h, w]` input to `output` with
    /// `filter` (bilinear, bicubic or lanczos), as PyTorch's separable antialiased kernels:
    /// the filter widened by the step when downsampling and normalised per output position,
    /// one axis at a time, the last first (an axis whose size is unchanged skipped); uint8
    /// in PyTorch's fixed-point arithmetic. PyTorch's CPU kernels take float32 and float64
    /// only (its CUDA ones half precision too, and have no lanczos); these take the same on
    /// the CPU, and every float on CUDA.
    pub fn resample_antialias(
        &self,
        output: &[i64],
        scales: Option<&[f64]>,
        filter: Filter,
        align_corners: bool,
    ) -> Result<Tensor> {
        if self.dim() != 4 || output.len() != 2 {
            return Err(Error::Value(
                "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D tensor as input"
                    .into(),
            ));
        }
        let dtype = self.dtype();
        let cuda = self.device().is_cuda();
        let takes =
            matches!(dtype, DType::F32 | DType::F64 | DType::U8) || (cuda && dtype.is_float());
        if !takes {
            let kernel = match (cuda, filter) {
                (true, Filter::Triangle) => "upsample_bilinear2d_aa_out_frame",
                (true, _) => "upsample_bicubic2d_aa_out_frame",
                (false, _) => "compute_index_ranges_weights",
            };
            return Err(self.unimplemented_for(kernel));
        }
        let output = self.check_resample_sizes(output)?;
        if dtype == DType::U8 {
            return self.resample_fixed_point(&output, scales, filter, true, align_corners);
        }
        let mut passes = Vec::new();
        for d in [1, 0] {
            let input = self.shape()[2 + d];
            if input == output[d] {
                continue;
            }
            let st = step(input, output[d], align_corners, scales.map(|s| s[d]));
            passes.push((
                2 + d,
                spans(filter, true, input, output[d], st, align_corners).0,
            ));
        }
        let name = match filter {
            Filter::Triangle => "UpsampleBilinear2DAaBackward0",
            Filter::Cubic(_) => "UpsampleBicubic2DAaBackward0",
            Filter::Lanczos => "UpsampleLanczos2DAaBackward0",
        };
        self.resample_passes(passes, name)
    }

    /// PyTorch's uint8 bilinear, bicubic and lanczos resampling (its separable kernels,
    /// the generic one and the AVX2 one, which give the same bytes): one pass per axis
    /// whose size changes, the last axis first, each rounding to uint8. A pass weighs each
    /// output's span of sources with int16 weights of `p` fractional bits (`p` as large as
    /// the largest weight allows, at most 22) and gives `clamp((2^(p−1) + Σ wᵢ·xᵢ) >> p, 0,
    /// 255)` (a backend kernel). On CUDA the same bytes (PyTorch's CUDA kernels instead
    /// accumulate in float).
    fn resample_fixed_point(
        &self,
        output: &[usize],
        scales: Option<&[f64]>,
        filter: Filter,
        antialias: bool,
        align_corners: bool,
    ) -> Result<Tensor> {
        let mut passes = Vec::new();
        for d in [1, 0] {
            let input = self.shape()[2 + d];
            if input == output[d] {
                continue;
            }
            let st = step(input, output[d], align_corners, scales.map(|s| s[d]));
            let (spans, most) = spans(filter, antialias, input, output[d], st, align_corners);
            // The most fractional bits that keep the largest weight, doubled, below 2^15.
            let bits = (0..22)
                .find(|&p| (0.5 + most * f64::from(1u32 << (p + 1))) as i64 >= 1 << 15)
                .unwrap_or(22);
            if bits == 0 {
                return Err(Error::Runtime(format!(
                    "interpolate: a uint8 resampling weight of {most} leaves no fractional bits"
                )));
            }
            passes.push((2 + d, spans, bits));
        }
        self.fixed_point_passes(passes)
    }

    /// This uint8 tensor resampled by each `(dim, spans, bits)` pass in turn, the weights
    /// rounded to int16 with `bits` fractional bits (half away from zero, as PyTorch's cast);
    /// a new tensor even when there is no pass, laid out as the input suggests.
    fn fixed_point_passes(&self, passes: Vec<(usize, Vec<Span>, u32)>) -> Result<Tensor> {
        let format = self.layout().suggested_format();
        if passes.is_empty() {
            return self.detach().clone_as(format);
        }
        let mut x = dense(self)?;
        for (dim, spans, bits) in passes {
            let mut shape = x.shape().to_vec();
            let scale = f64::from(1u32 << bits);
            let p = axis(&shape, dim, &spans, |v| {
                let v = v * scale;
                (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i16
            });
            shape[dim] = spans.len();
            x = Tensor::from_storage(x.storage().resample_u8(&p, bits)?, shape);
        }
        x.contiguous_as(format)
    }

    /// PyTorch's check that no size is zero, and the output sizes as counts.
    fn check_resample_sizes(&self, output: &[i64]) -> Result<Vec<usize>> {
        let k = output.len();
        if output.iter().any(|&v| v <= 0) || self.shape()[2..].contains(&0) {
            let names = ["D", "H", "W"];
            let fmt = |v: &mut dyn Iterator<Item = i64>| {
                v.zip(&names[3usize.saturating_sub(k)..])
                    .map(|(x, n)| format!("{n}: {x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::Runtime(format!(
                "Input and output sizes should be greater than 0, but got input ({}) output ({})",
                fmt(&mut self.shape()[2..].iter().map(|&v| v as i64)),
                fmt(&mut output.iter().copied())
            )));
        }
        Ok(output.iter().map(|&v| v as usize).collect())
    }

    /// PyTorch's error for a dtype its `kernel` does not take.
    fn unimplemented_for(&self, kernel: &str) -> Error {
        Error::NotImplemented(format!(
            "\"{kernel}\" not implemented for '{}'",
            self.dtype().scalar_name()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero or more than three spatial dims are an error, not a panic.
    #[test]
    fn refuses_other_numbers_of_spatial_dims() {
        let x = Tensor::from_vec(vec![0f32; 4], &[2, 2]);
        assert!(x.resample(&[], None, Resample::Linear, false).is_err());
        let y = Tensor::from_vec(vec![0f32; 64], &[1, 1, 2, 2, 2, 2, 2, 2]);
        assert!(y.resample(&[2; 6], None, Resample::Nearest, false).is_err());
    }
}
