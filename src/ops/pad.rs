//! `F.pad` in its four modes. A constant pad writes the input into a filled tensor (its
//! backward slices the gradient); reflect, replicate and circular pads are an
//! `index_select` per padded dim with the source position of every output position, so
//! their gradients (index-adds) come from that op.

use crate::autograd::{needs_grad, record, GradModeGuard};
use crate::error::{Error, Result};
use crate::ops::Scalar;
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::Tensor;

/// How `pad` fills the new positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Replicate,
    Circular,
}

impl PadMode {
    pub fn parse(s: &str) -> Result<PadMode> {
        Ok(match s {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "replicate" => PadMode::Replicate,
            "circular" => PadMode::Circular,
            _ => {
                return Err(Error::NotImplemented(format!(
                    "Unrecognised padding mode {s}"
                )))
            }
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Replicate => "replicate",
            PadMode::Circular => "circular",
        }
    }
}

/// The source position of output position `i` of a dim of `n` padded by `left` and `right`.
fn source(mode: PadMode, i: i64, left: i64, right: i64, n: i64) -> i64 {
    let j = i - left;
    match mode {
        PadMode::Reflect => {
            let j = j.abs();
            if j >= n {
                2 * (n - 1) - j
            } else {
                j
            }
        }
        PadMode::Replicate => j.clamp(0, n - 1),
        // PyTorch crops negative pads first and wraps within what is left.
        PadMode::Circular => {
            let start = (-left).max(0);
            let kept = n - start - (-right).max(0);
            start + (i - left.max(0)).rem_euclid(kept)
        }
        PadMode::Constant => j,
    }
}

impl Tensor {
    /// `F.pad(self, pads, mode, value)`: `pads` holds (left, right) pairs from the last dim
    /// backwards; a constant pad may be negative (it crops).
    pub fn pad(&self, pads: &[i64], mode: PadMode, value: f64) -> Result<Tensor> {
        if !pads.len().is_multiple_of(2) {
            return Err(Error::Runtime(
                "Padding length must be divisible by 2".into(),
            ));
        }
        let k = pads.len() / 2;
        if k > self.dim() {
            return Err(Error::Runtime(
                "Padding length should be less than or equal to two times the input dimension but got padding length 4 and input of dimension 1"
                    .replace("4", &pads.len().to_string())
                    .replace("dimension 1", &format!("dimension {}", self.dim())),
            ));
        }
        if mode == PadMode::Constant {
            return self.pad_constant(pads, value);
        }
        // PyTorch pads only the trailing 1–3 dims of a (batched or unbatched) input.
        if !(1..=3).contains(&k) || self.dim() < k + 1 || self.dim() > k + 2 {
            return Err(Error::NotImplemented(format!(
                "Padding size {} is not supported for {}D input tensor.\n\
                 Supported combinations for non-constant padding:\n  \
                 - 2D or 3D input: padding size = 2 (pads last dimension)\n  \
                 - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n  \
                 - 4D or 5D input: padding size = 6 (pads last 3 dimensions)",
                pads.len(),
                self.dim()
            )));
        }
        let mut taps = Vec::with_capacity(k);
        for p in 0..k {
            let d = self.dim() - 1 - p;
            let (l, r) = (pads[2 * p], pads[2 * p + 1]);
            let n = self.shape()[d] as i64;
            let bad = match mode {
                PadMode::Reflect => l >= n || r >= n,
                PadMode::Circular => l > n || r > n,
                _ => n == 0,
            };
            let len = n + l + r;
            if len <= 0 && k == 1 && mode != PadMode::Circular && n > 0 {
                return Err(Error::Runtime(format!(
                    "input (W: {n}) is too small. Calculated output W: {len}"
                )));
            }
            if bad || l < -n || r < -n {
                return Err(Error::Runtime(match mode {
                    PadMode::Reflect => format!(
                        "Argument #{}: Padding size should be less than the corresponding input dimension, but got: padding ({l}, {r}) at dimension {d} of input {}",
                        4 + 2 * p,
                        fmt_shape(self.shape())
                    ),
                    PadMode::Circular => "Padding value causes wrapping around more than once.".into(),
                    _ => format!(
                        "{}: input tensor must have non-zero size in dimension {d}, but got {}",
                        mode.name(),
                        fmt_shape(self.shape())
                    ),
                }));
            }
            if len <= 0 {
                return Err(Error::Runtime(format!(
                    "The input size {n}, plus negative padding {l} and {r} resulted in a negative output size, which is invalid. Check dimension {d} of your input."
                )));
            }
            if mode == PadMode::Circular && n - (-l).max(0) - (-r).max(0) <= 0 {
                return Err(Error::Runtime(
                    "Negative padding value is resulting in an empty dimension".into(),
                ));
            }
            let idx: Vec<i64> = (0..len).map(|i| source(mode, i, l, r, n)).collect();
            taps.push((d, Tensor::from_vec(idx, &[len as usize])));
        }
        // PyTorch's reflection and replication kernels take every dtype but bool (checked,
        // as there, after the sizes).
        if self.dtype() == DType::Bool && mode != PadMode::Circular {
            let kind = if mode == PadMode::Reflect {
                "reflection"
            } else {
                "replication"
            };
            return Err(Error::NotImplemented(format!(
                "\"{kind}_pad{k}d\" not implemented for 'Bool'"
            )));
        }
        let mut x = self.clone();
        for (d, idx) in taps {
            x = x.index_select(d as i64, &idx.to_device(x.device())?)?;
        }
        Ok(x)
    }

    /// A constant pad: negative sides crop first, then the input is written into a tensor
    /// filled with `value`.
    fn pad_constant(&self, pads: &[i64], value: f64) -> Result<Tensor> {
        let mut x = self.clone();
        let mut shape: Vec<usize> = self.shape().to_vec();
        let mut place = vec![0i64; self.dim()];
        for p in 0..pads.len() / 2 {
            let d = self.dim() - 1 - p;
            let (l, r) = (pads[2 * p], pads[2 * p + 1]);
            let n = self.shape()[d] as i64;
            // Crop the negative sides. PyTorch narrows first, so a crop past the far end
            // fails there (a negative output size implies one).
            let (cl, cr) = ((-l).max(0), (-r).max(0));
            if n - cl - cr < 0 {
                return Err(Error::Runtime(
                    "narrow(): length must be non-negative.".into(),
                ));
            }
            let len = n + l + r;
            x = x.narrow(d as i64, cl, (n - cl - cr) as usize)?;
            shape[d] = len as usize;
            place[d] = l.max(0);
        }
        let dtype = x.dtype();
        let fill = if dtype.is_float() {
            Scalar::Float(value)
        } else if dtype == DType::Bool {
            Scalar::Bool(value != 0.0)
        } else {
            Scalar::Int(value as i64)
        };
        let out = {
            let _g = GradModeGuard::new(false);
            let out = crate::ops::creation::full(&shape, fill, dtype, x.device())?;
            let mut dst = out.clone();
            for (d, &at) in place.iter().enumerate() {
                dst = dst.narrow(d as i64, at, x.shape()[d])?;
            }
            dst.copy_(&x.detach())?;
            out
        };
        if needs_grad(&[&x]) {
            let sizes = x.shape().to_vec();
            record("ConstantPadNdBackward0", &[&x], &out, move |g, _| {
                let mut s = g.clone();
                for (d, &at) in place.iter().enumerate() {
                    s = s.narrow(d as i64, at, sizes[d])?;
                }
                Ok(vec![Some(s)])
            });
        }
        Ok(out)
    }
}
