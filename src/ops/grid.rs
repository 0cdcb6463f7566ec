//! Sampling at arbitrary points (`F.affine_grid`, `F.grid_sample`): an affine map's
//! sampling grid, and bilinear, nearest or bicubic reads of the input at each grid point
//! through PyTorch's padding modes, composed from gathers and elementwise ops so gradients
//! reach both the input and the grid, on every backend.

use crate::error::{Error, Result};
use crate::ops::Scalar;
use crate::tensor::dtype::DType;
use crate::Tensor;

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

/// `affine_grid(theta, size, align_corners)`: for 2-D maps `theta [n, 2, 3]` and `size
/// [n, c, h, w]`, the `[n, h, w, 2]` sampling grid; for 3-D maps `theta [n, 3, 4]` and `size
/// [n, c, d, h, w]`, the `[n, d, h, w, 3]` one. Computed as `base @ thetaᵀ`, where `base`
/// holds each point's normalised `(x, y[, z], 1)` (differentiable in `theta`).
pub fn affine_grid(theta: &Tensor, size: &[usize], align_corners: bool) -> Result<Tensor> {
    let k = size.len().saturating_sub(2);
    if !(2..=3).contains(&k) {
        return Err(Error::NotImplemented(format!(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. Got size {}.",
            crate::tensor::layout::fmt_shape(size)
        )));
    }
    if theta.shape() != [size[0], k, k + 1] {
        return Err(Error::Value(format!(
            "Expected a batch of {k}D affine matrices of shape Nx{k}x{} for size {}. Got {}.",
            k + 1,
            crate::tensor::layout::fmt_shape(size),
            crate::tensor::layout::fmt_shape(theta.shape())
        )));
    }
    if !theta.dtype().is_float() {
        return Err(Error::Value(format!(
            "Expected theta to have floating point type, but got {}",
            theta.dtype().name()
        )));
    }
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
    // Coordinate `j` (x, y, z) runs along size dim `1 + k − j`; the points in row-major
    // order of `size[2..]`, each `(x, y[, z], 1)`.
    let spatial = &size[2..];
    let axes: Vec<Vec<f64>> = (0..k).map(|j| coords(spatial[k - 1 - j])).collect();
    let points: usize = spatial.iter().product();
    let mut base = Vec::with_capacity(points * (k + 1));
    let mut at = vec![0usize; k];
    for _ in 0..points {
        base.extend((0..k).map(|j| axes[j][at[k - 1 - j]]));
        base.push(1.0);
        // The next point: the last size dim fastest.
        for d in (0..k).rev() {
            at[d] += 1;
            if at[d] < spatial[d] {
                break;
            }
            at[d] = 0;
        }
    }
    let base = Tensor::from_vec(base, &[1, points, k + 1])
        .to_dtype(theta.dtype())?
        .to_device(theta.device())?;
    let mut shape: Vec<i64> = vec![size[0] as i64];
    shape.extend(spatial.iter().map(|&v| v as i64));
    shape.push(k as i64);
    base.matmul(&theta.transpose(1, 2)?)?.view(&shape)
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

/// `grid_sample(input, grid, mode, padding_mode, align_corners)` over 2 spatial dims
/// (`input [n, c, h, w]`, `grid [n, ho, wo, 2]`) or 3 (`input [n, c, d, h, w]`, `grid [n,
/// do, ho, wo, 3]`): each output reads the input at its grid point (x, y[, z] in [-1, 1]);
/// gradients reach both the input (through the gathers) and the grid (through the bilinear
/// or bicubic weights). Checks in PyTorch's order, with its messages.
pub fn grid_sample(
    input: &Tensor,
    grid: &Tensor,
    mode: GridMode,
    padding: GridPadding,
    align_corners: bool,
) -> Result<Tensor> {
    let shapes = || {
        format!(
            "input with sizes {} and grid with sizes {}",
            crate::tensor::layout::fmt_shape(input.shape()),
            crate::tensor::layout::fmt_shape(grid.shape())
        )
    };
    let same_dims = |d: usize| {
        Error::Runtime(format!(
            "grid_sampler(): expected {d}D input and grid with same number of dimensions, but got {}",
            shapes()
        ))
    };
    if input.dim() < 3 || grid.dim() < 3 {
        return Err(same_dims(if input.dim() == 4 { 4 } else { 5 }));
    }
    if input.shape()[0] != grid.shape()[0] {
        return Err(Error::Runtime(format!(
            "grid_sampler(): expected grid and input to have same batch size, but got {}",
            shapes()
        )));
    }
    let k = input.dim() - 2;
    if grid.shape()[grid.dim() - 1] != k {
        return Err(Error::Runtime(format!(
            "grid_sampler(): expected grid to have size {k} in last dimension, but got grid with sizes {}",
            crate::tensor::layout::fmt_shape(grid.shape())
        )));
    }
    if let Some(d) = (2..input.dim()).find(|&d| input.shape()[d] == 0) {
        return Err(Error::Runtime(format!(
            "grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes {} with dimension {d} being empty",
            crate::tensor::layout::fmt_shape(input.shape())
        )));
    }
    if !(2..=3).contains(&k) || grid.dim() != input.dim() {
        return Err(same_dims(if k == 2 { 4 } else { 5 }));
    }
    if mode == GridMode::Bicubic && k != 2 {
        return Err(Error::Runtime(
            "grid_sampler(): bicubic interpolation only supports 4D input".into(),
        ));
    }
    // PyTorch's kernels take the floats only, and the grid in the input's dtype.
    if !input.dtype().is_float() {
        let kernel = match (input.device().is_cuda(), k) {
            (true, _) => format!("grid_sampler_{k}d_cuda"),
            (false, 2) => "grid_sampler_2d_cpu_kernel_impl".to_string(),
            (false, _) => "grid_sampler3d_cpu".to_string(),
        };
        return Err(Error::NotImplemented(format!(
            "\"{kernel}\" not implemented for '{}'",
            input.dtype().scalar_name()
        )));
    }
    if grid.dtype() != input.dtype() {
        return Err(Error::Runtime(format!(
            "expected scalar type {} but found {}",
            input.dtype().scalar_name(),
            grid.dtype().scalar_name()
        )));
    }
    let (n, c) = (input.shape()[0], input.shape()[1]);
    let spatial = &input.shape()[2..];
    let plane: usize = spatial.iter().product();
    let mut out_shape: Vec<i64> = vec![n as i64, c as i64];
    out_shape.extend(grid.shape()[1..=k].iter().map(|&v| v as i64));
    let l: usize = grid.shape()[1..=k].iter().product();
    let flat = input.reshape(&[n as i64, c as i64, plane as i64])?;
    if n * c * l == 0 {
        // Nothing to sample: an empty view of the input, with the grid tied in by a zero
        // factor so that it gets PyTorch's zero (or empty) gradient too.
        let tie = grid.sum()?.mul_scalar(0.0)?;
        return flat.narrow(2, 0, 0)?.reshape(&out_shape)?.add(&tie);
    }
    let l = l as i64;
    // Coordinate `j` (x, y, z) runs along the input's spatial dim `k − 1 − j`.
    let size_of = |j: usize| spatial[k - 1 - j];
    // Pixel coordinates of the grid points along coordinate `j`.
    let unnormalise = |j: usize| -> Result<Tensor> {
        let g = grid
            .select((k + 1) as i64, j as i64)?
            .reshape(&[n as i64, 1, l])?;
        let s = size_of(j) as f64;
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
    // Bilinear and nearest pad the point; bicubic pads each of its taps (as PyTorch).
    let pos = (0..k)
        .map(|j| match mode {
            GridMode::Bicubic => unnormalise(j),
            _ => pad(unnormalise(j)?, size_of(j)),
        })
        .collect::<Result<Vec<_>>>()?;
    // The input at integer positions `at` (x, y[, z]; float tensors), zero outside, times
    // `weight`.
    let tap = |at: &[Tensor], weight: Tensor| -> Result<Tensor> {
        let mut inside: Option<Tensor> = None;
        let mut idx: Option<Tensor> = None;
        for j in (0..k).rev() {
            let hi = size_of(j) as f64 - 1.0;
            let here = at[j].ge_scalar(0.0)?.logical_and(&at[j].le_scalar(hi)?)?;
            inside = Some(match inside {
                None => here,
                Some(a) => a.logical_and(&here)?,
            });
            let clamped = at[j].clamp(Some(Scalar::Float(0.0)), Some(Scalar::Float(hi)))?;
            idx = Some(match idx {
                None => clamped,
                Some(i) => i.mul_scalar(size_of(j) as f64)?.add(&clamped)?,
            });
        }
        let idx = idx
            .expect("two or three coordinates")
            .to_dtype(DType::I64)?
            .expand(&[n as i64, c as i64, l])?;
        let v = flat.gather(2, &idx)?;
        let mask = inside
            .expect("two or three coordinates")
            .to_dtype(input.dtype())?;
        v.mul(&weight.mul(&mask)?)
    };
    let sum = |acc: Option<Tensor>, t: Tensor| -> Result<Option<Tensor>> {
        Ok(Some(match acc {
            None => t,
            Some(a) => a.add(&t)?,
        }))
    };
    let out = match mode {
        GridMode::Bilinear => {
            // The 2^k corners in PyTorch's order (x fastest); each weight the product of
            // the per-coordinate ones, x first.
            let lo = pos
                .iter()
                .map(|p| p.detach().floor())
                .collect::<Result<Vec<_>>>()?;
            let w1 = pos
                .iter()
                .zip(&lo)
                .map(|(p, f)| p.sub(f))
                .collect::<Result<Vec<_>>>()?;
            let w0 = w1
                .iter()
                .map(|w| w.rsub_scalar(1.0))
                .collect::<Result<Vec<_>>>()?;
            let mut acc = None;
            for corner in 0..1usize << k {
                let mut at = Vec::with_capacity(k);
                let mut weight: Option<Tensor> = None;
                for j in 0..k {
                    let up = corner >> j & 1 == 1;
                    at.push(if up {
                        lo[j].add_scalar(1.0)?
                    } else {
                        lo[j].clone()
                    });
                    let wj = if up { &w1[j] } else { &w0[j] };
                    weight = Some(match weight {
                        None => wj.clone(),
                        Some(w) => w.mul(wj)?,
                    });
                }
                acc = sum(acc, tap(&at, weight.expect("two or three coordinates"))?)?;
            }
            acc.expect("four or eight corners")
        }
        GridMode::Nearest => {
            // Weight 1 still tied to the grid, so the grid gets PyTorch's zero gradient.
            let one = pos[0].mul_scalar(0.0)?.add_scalar(1.0)?;
            let at = pos
                .iter()
                .map(|p| p.detach().round(0))
                .collect::<Result<Vec<_>>>()?;
            tap(&at, one)?
        }
        GridMode::Bicubic => {
            let (ix, iy) = (&pos[0], &pos[1]);
            let (h, w) = (spatial[0], spatial[1]);
            let (x0, y0) = (ix.detach().floor()?, iy.detach().floor()?);
            let wx = cubic_weights(&ix.sub(&x0)?)?;
            let wy = cubic_weights(&iy.sub(&y0)?)?;
            let mut acc = None;
            for (j, wyj) in wy.iter().enumerate() {
                let yj = pad(y0.add_scalar(j as f64 - 1.0)?, h)?;
                for (i, wxi) in wx.iter().enumerate() {
                    let xi = pad(x0.add_scalar(i as f64 - 1.0)?, w)?;
                    acc = sum(acc, tap(&[xi, yj.clone()], wxi.mul(wyj)?)?)?;
                }
            }
            acc.expect("sixteen taps")
        }
    };
    out.reshape(&out_shape)
}
