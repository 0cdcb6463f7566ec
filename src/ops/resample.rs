//! Resampling (`F.interpolate`): nearest, nearest-exact, linear (1–3 spatial dims) and
//! bicubic, with PyTorch's source-coordinate rules. Each is separable, so it is applied one
//! spatial dim at a time as a weighted sum of `index_select`s along that dim (one for
//! nearest, two for linear, four for cubic): the weights and indices are computed on the
//! host from the sizes alone, the gradients come from `index_select`'s and `mul`'s rules,
//! and every backend runs it.

use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
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

/// The taps of one output position: (source index, weight) pairs.
fn taps(mode: Resample, o: usize, input: usize, st: f64, align_corners: bool) -> Vec<(i64, f64)> {
    let last = input as i64 - 1;
    let clamp = |i: i64| i.clamp(0, last);
    match mode {
        Resample::Nearest => vec![(((o as f64 * st).floor() as i64).min(last), 1.0)],
        Resample::NearestExact => vec![((((o as f64 + 0.5) * st).floor() as i64).min(last), 1.0)],
        Resample::Linear | Resample::Cubic => {
            let src = if align_corners {
                st * o as f64
            } else {
                st * (o as f64 + 0.5) - 0.5
            };
            if mode == Resample::Linear {
                let src = if align_corners { src } else { src.max(0.0) };
                let i0 = (src.floor() as i64).min(last);
                let i1 = (i0 + 1).min(last);
                let l1 = src - i0 as f64;
                vec![(i0, 1.0 - l1), (i1, l1)]
            } else {
                // Keys' cubic convolution with A = −0.75, taps at ⌊src⌋−1 … ⌊src⌋+2.
                const A: f64 = -0.75;
                let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
                let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
                let f = src.floor();
                let t = src - f;
                let i = f as i64;
                vec![
                    (clamp(i - 1), far(t + 1.0)),
                    (clamp(i), near(t)),
                    (clamp(i + 1), near(1.0 - t)),
                    (clamp(i + 2), far(2.0 - t)),
                ]
            }
        }
    }
}

impl Tensor {
    /// `F.interpolate` over the trailing `output.len()` dims of an `[n, c, *spatial]` input
    /// to `output`, `scales` being the user's scale factors (used for the source mapping,
    /// as PyTorch does when `recompute_scale_factor` is not set).
    pub fn resample(
        &self,
        output: &[usize],
        scales: Option<&[f64]>,
        mode: Resample,
        align_corners: bool,
    ) -> Result<Tensor> {
        let k = output.len();
        if self.dim() != k + 2 {
            return Err(Error::Runtime(format!(
                "interpolate: expected a {}-D input for {k} output sizes, got {}-D",
                k + 2,
                self.dim()
            )));
        }
        if !self.dtype().is_float() && mode != Resample::Nearest && mode != Resample::NearestExact {
            return Err(Error::NotImplemented(format!(
                "\"upsample\" not implemented for '{}'",
                self.dtype().scalar_name()
            )));
        }
        if output.contains(&0) || self.shape()[2..].contains(&0) {
            return Err(Error::Runtime(format!(
                "Input and output sizes should be greater than 0, but got input ({}) and output ({})",
                self.shape()[2..]
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                output
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut x = self.clone();
        let device = self.device();
        let dtype = if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::F32
        };
        for d in 0..k {
            let dim = 2 + d;
            let input = self.shape()[dim];
            let st = step(input, output[d], align_corners, scales.map(|s| s[d]));
            if input == output[d] && st == 1.0 {
                // Every output position reads its own input position with weight 1.
                continue;
            }
            let all: Vec<Vec<(i64, f64)>> = (0..output[d])
                .map(|o| taps(mode, o, input, st, align_corners))
                .collect();
            // Tap j of every output position: one index_select, times its weights.
            let mut wshape = vec![1usize; self.dim()];
            wshape[dim] = output[d];
            let mut acc: Option<Tensor> = None;
            for j in 0..all[0].len() {
                let idx: Vec<i64> = all.iter().map(|t| t[j].0).collect();
                let idx = Tensor::from_vec(idx, &[output[d]]).to_device(device)?;
                let picked = x.index_select(dim as i64, &idx)?;
                let term = if mode == Resample::Nearest || mode == Resample::NearestExact {
                    picked
                } else {
                    let w: Vec<f64> = all.iter().map(|t| t[j].1).collect();
                    let w = Tensor::from_vec(w, &wshape)
                        .to_dtype(dtype)?
                        .to_device(device)?;
                    picked.mul(&w)?
                };
                acc = Some(match acc {
                    None => term,
                    Some(a) => a.add(&term)?,
                });
            }
            x = acc.expect("every mode has at least one tap");
        }
        x.contiguous()
    }
}
