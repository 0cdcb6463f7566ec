//! Resampling (`F.interpolate`): nearest, nearest-exact, linear (1–3 spatial dims) and
//! bicubic, with PyTorch's source-coordinate rules. Each is separable, so it is applied one
//! spatial dim at a time as a weighted sum of `index_select`s along that dim (one for
//! nearest, two for linear, four for cubic): the weights and indices are computed on the
//! host from the sizes alone, the gradients come from `index_select`'s and `mul`'s rules,
//! and every backend runs it.

use crate::error::{Error, Result};
use crate::ops::Scalar;
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
        output: &[i64],
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
        let output: Vec<usize> = output.iter().map(|&v| v as usize).collect();
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

/// How `grid_sample` reads the input at a grid point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridMode {
    Bilinear,
    Nearest,
    /// PyTorch's cubic convolution (A = −0.75) over the 4×4 pixels around the point, each
    /// tap's position put through the padding mode on its own.
    Bicubic,
}

impl GridMode {
    pub fn parse(s: &str) -> Result<GridMode> {
        Ok(match s {
            "bilinear" => GridMode::Bilinear,
            "nearest" => GridMode::Nearest,
            "bicubic" => GridMode::Bicubic,
            _ => {
                return Err(Error::Value(format!(
                    "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '{s}'"
                )))
            }
        })
    }
}

/// The four weights of cubic convolution (PyTorch's `get_cubic_upsample_coefficients`,
/// A = −0.75) at fractional offsets `t` from the second of four taps.
fn cubic_weights(t: &Tensor) -> Result<[Tensor; 4]> {
    const A: f64 = -0.75;
    // |x| ≤ 1: ((A + 2)·x − (A + 3))·x² + 1
    let near = |x: &Tensor| -> Result<Tensor> {
        x.mul_scalar(A + 2.0)?
            .sub_scalar(A + 3.0)?
            .mul(x)?
            .mul(x)?
            .add_scalar(1.0)
    };
    // 1 < |x| < 2: ((A·x − 5A)·x + 8A)·x − 4A
    let far = |x: &Tensor| -> Result<Tensor> {
        x.mul_scalar(A)?
            .sub_scalar(5.0 * A)?
            .mul(x)?
            .add_scalar(8.0 * A)?
            .mul(x)?
            .sub_scalar(4.0 * A)
    };
    let rest = t.rsub_scalar(1.0)?;
    Ok([
        far(&t.add_scalar(1.0)?)?,
        near(t)?,
        near(&rest)?,
        far(&rest.add_scalar(1.0)?)?,
    ])
}

/// How `grid_sample` treats grid points outside the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridPadding {
    Zeros,
    Border,
    Reflection,
}

impl GridPadding {
    pub fn parse(s: &str) -> Result<GridPadding> {
        Ok(match s {
            "zeros" => GridPadding::Zeros,
            "border" => GridPadding::Border,
            "reflection" => GridPadding::Reflection,
            _ => {
                return Err(Error::Value(format!(
                    "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', but got: '{s}'"
                )))
            }
        })
    }
}

/// `affine_grid(theta [n, 2, 3], size [n, c, h, w], align_corners)`: the `[n, h, w, 2]`
/// sampling grid of the affine maps, as `base @ thetaᵀ` (differentiable in `theta`).
pub fn affine_grid(theta: &Tensor, size: &[usize], align_corners: bool) -> Result<Tensor> {
    if size.len() != 4 || theta.dim() != 3 || theta.shape() != [size[0], 2, 3] {
        return Err(Error::Runtime(format!(
            "Expected a batch of 2D affine matrices of shape Nx2x3 for size {}. Got {}.",
            crate::tensor::layout::fmt_shape(size),
            crate::tensor::layout::fmt_shape(theta.shape())
        )));
    }
    if !theta.dtype().is_float() {
        return Err(Error::Runtime(format!(
            "Expected theta to have floating point type, but got {}",
            theta.dtype().name()
        )));
    }
    let (n, h, w) = (size[0], size[2], size[3]);
    // The normalised coordinates of the pixel centres (or corners), as PyTorch's linspace.
    let coords = |len: usize| -> Vec<f64> {
        (0..len)
            .map(|i| {
                if len <= 1 {
                    0.0
                } else if align_corners {
                    -1.0 + 2.0 * i as f64 / (len - 1) as f64
                } else {
                    (-1.0 + 2.0 * i as f64 / (len - 1) as f64) * (len - 1) as f64 / len as f64
                }
            })
            .collect()
    };
    let (xs, ys) = (coords(w), coords(h));
    let mut base = Vec::with_capacity(h * w * 3);
    for y in &ys {
        for x in &xs {
            base.extend([*x, *y, 1.0]);
        }
    }
    let base = Tensor::from_vec(base, &[1, h * w, 3])
        .to_dtype(theta.dtype())?
        .to_device(theta.device())?;
    base.matmul(&theta.transpose(1, 2)?)?
        .view(&[n as i64, h as i64, w as i64, 2])
}

/// PyTorch's `reflect_coordinates` on a tensor of unnormalised positions, reflecting over
/// `[twice_low / 2, twice_high / 2]`.
fn reflect(x: &Tensor, twice_low: f64, twice_high: f64) -> Result<Tensor> {
    if twice_low == twice_high {
        return x.mul_scalar(0.0);
    }
    let min = twice_low / 2.0;
    let span = (twice_high - twice_low) / 2.0;
    let d = x.sub_scalar(min)?.abs()?;
    let extra = d.remainder(&Scalar::Float(span).to_tensor(d.dtype()))?;
    let flips = d.div_scalar(span)?.floor()?;
    let even = flips
        .remainder(&Scalar::Float(2.0).to_tensor(d.dtype()))?
        .eq_scalar(0.0)?;
    extra
        .add_scalar(min)?
        .where_(&even, &extra.rsub_scalar(span + min)?)
}

/// `grid_sample(input [n, c, h, w], grid [n, ho, wo, 2], mode, padding_mode,
/// align_corners)`: each output reads the input at its grid point (x, y in [-1, 1]);
/// gradients reach both the input (through the gathers) and the grid (through the bilinear
/// or bicubic weights).
pub fn grid_sample(
    input: &Tensor,
    grid: &Tensor,
    mode: GridMode,
    padding: GridPadding,
    align_corners: bool,
) -> Result<Tensor> {
    if input.dim() != 4 || grid.dim() != 4 || grid.shape()[3] != 2 {
        return Err(Error::Runtime(format!(
            "grid_sampler(): expected 4D input and grid with same number of dimensions, but got input with sizes {} and grid with sizes {}",
            crate::tensor::layout::fmt_shape(input.shape()),
            crate::tensor::layout::fmt_shape(grid.shape())
        )));
    }
    if input.shape()[0] != grid.shape()[0] {
        return Err(Error::Runtime(format!(
            "grid_sampler(): expected grid and input to have same batch size, but got input with sizes {} and grid with sizes {}",
            crate::tensor::layout::fmt_shape(input.shape()),
            crate::tensor::layout::fmt_shape(grid.shape())
        )));
    }
    if grid.dtype() != input.dtype() || !input.dtype().is_float() {
        return Err(Error::Runtime(format!(
            "grid_sampler(): expected input and grid to have same dtype, but input has {} and grid has {}",
            input.dtype().name(),
            grid.dtype().name()
        )));
    }
    let [n, c, h, w] = [0, 1, 2, 3].map(|i| input.shape()[i]);
    let (ho, wo) = (grid.shape()[1], grid.shape()[2]);
    if n * c * ho * wo == 0 {
        // Nothing to sample: an empty result, still a view of the input for autograd.
        let flat = input.reshape(&[n as i64, c as i64, (h * w) as i64])?;
        return flat
            .narrow(2, 0, 0)?
            .reshape(&[n as i64, c as i64, ho as i64, wo as i64]);
    }
    let l = (ho * wo) as i64;
    // Pixel coordinates of the grid points.
    let unnormalise = |i: i64, size: usize| -> Result<Tensor> {
        let g = grid.select(3, i)?.reshape(&[n as i64, 1, l])?;
        let s = size as f64;
        if align_corners {
            g.add_scalar(1.0)?.mul_scalar((s - 1.0) / 2.0)
        } else {
            g.add_scalar(1.0)?
                .mul_scalar(s)?
                .sub_scalar(1.0)?
                .div_scalar(2.0)
        }
    };
    // The padding mode applied to coordinates along a dim of `size` pixels.
    let pad = |x: Tensor, size: usize| -> Result<Tensor> {
        let s = size as f64;
        let clip = |t: Tensor| t.clamp(Some(Scalar::Float(0.0)), Some(Scalar::Float(s - 1.0)));
        match padding {
            GridPadding::Zeros => Ok(x),
            GridPadding::Border => clip(x),
            GridPadding::Reflection => clip(if align_corners {
                reflect(&x, 0.0, 2.0 * (s - 1.0))?
            } else {
                reflect(&x, -1.0, 2.0 * s - 1.0)?
            }),
        }
    };
    let (ix, iy) = (unnormalise(0, w)?, unnormalise(1, h)?);
    // Bilinear and nearest pad the point; bicubic pads each of its taps (as PyTorch).
    let (ix, iy) = match mode {
        GridMode::Bicubic => (ix, iy),
        _ => (pad(ix, w)?, pad(iy, h)?),
    };
    let flat = input.reshape(&[n as i64, c as i64, (h * w) as i64])?;
    // The input at integer positions (x, y) (float tensors), zero outside, times `weight`.
    let tap = |x: &Tensor, y: &Tensor, weight: Tensor| -> Result<Tensor> {
        let inside = x
            .ge_scalar(0.0)?
            .logical_and(&x.le_scalar(w as f64 - 1.0)?)?
            .logical_and(&y.ge_scalar(0.0)?)?
            .logical_and(&y.le_scalar(h as f64 - 1.0)?)?;
        let xc = x.clamp(
            Some(Scalar::Float(0.0)),
            Some(Scalar::Float(w as f64 - 1.0)),
        )?;
        let yc = y.clamp(
            Some(Scalar::Float(0.0)),
            Some(Scalar::Float(h as f64 - 1.0)),
        )?;
        let idx = yc
            .mul_scalar(w as f64)?
            .add(&xc)?
            .to_dtype(DType::I64)?
            .expand(&[n as i64, c as i64, l])?;
        let v = flat.gather(2, &idx)?;
        let mask = inside.to_dtype(input.dtype())?;
        v.mul(&weight.mul(&mask)?)
    };
    let out = match mode {
        GridMode::Bilinear => {
            let (x0, y0) = (ix.detach().floor()?, iy.detach().floor()?);
            let (x1, y1) = (x0.add_scalar(1.0)?, y0.add_scalar(1.0)?);
            let (wx1, wy1) = (ix.sub(&x0)?, iy.sub(&y0)?);
            let (wx0, wy0) = (wx1.rsub_scalar(1.0)?, wy1.rsub_scalar(1.0)?);
            tap(&x0, &y0, wx0.mul(&wy0)?)?
                .add(&tap(&x1, &y0, wx1.mul(&wy0)?)?)?
                .add(&tap(&x0, &y1, wx0.mul(&wy1)?)?)?
                .add(&tap(&x1, &y1, wx1.mul(&wy1)?)?)?
        }
        GridMode::Nearest => {
            // Weight 1 still tied to the grid, so the grid gets PyTorch's zero gradient.
            let one = ix.mul_scalar(0.0)?.add_scalar(1.0)?;
            tap(&ix.detach().round(0)?, &iy.detach().round(0)?, one)?
        }
        GridMode::Bicubic => {
            let (x0, y0) = (ix.detach().floor()?, iy.detach().floor()?);
            let wx = cubic_weights(&ix.sub(&x0)?)?;
            let wy = cubic_weights(&iy.sub(&y0)?)?;
            let mut acc: Option<Tensor> = None;
            for (j, wyj) in wy.iter().enumerate() {
                let yj = pad(y0.add_scalar(j as f64 - 1.0)?, h)?;
                for (i, wxi) in wx.iter().enumerate() {
                    let xi = pad(x0.add_scalar(i as f64 - 1.0)?, w)?;
                    let t = tap(&xi, &yj, wxi.mul(wyj)?)?;
                    acc = Some(match acc {
                        None => t,
                        Some(a) => a.add(&t)?,
                    });
                }
            }
            acc.expect("sixteen taps")
        }
    };
    out.reshape(&[n as i64, c as i64, ho as i64, wo as i64])
}
