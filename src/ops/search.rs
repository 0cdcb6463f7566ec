//! Sorted search and counting: `searchsorted` and `bucketize` (a binary search per value, in
//! the backends' `search_sorted` kernels), and `histc` and `bincount`, composites of a
//! scatter-add into zeros, so they run on every device. None of them has a gradient: the
//! first two give integers, and PyTorch defines none for the last two.

use super::{dense, result_type, Operand};
use crate::autograd::GradModeGuard;
use crate::error::{Error, Result};
use crate::ops::creation::{ones, zeros};
use crate::tensor::dtype::{DType, Scalar};
use crate::Tensor;

/// `"name_cpu"` / `"name_cuda"`, as PyTorch's dispatch errors name a kernel.
fn kernel_name(name: &str, t: &Tensor) -> String {
    let dev = if t.device().is_cuda() { "cuda" } else { "cpu" };
    format!("\"{name}_{dev}\"")
}

fn not_implemented(name: &str, t: &Tensor, dtype: DType) -> Error {
    Error::NotImplemented(format!(
        "{} not implemented for '{}'",
        kernel_name(name, t),
        dtype.scalar_name()
    ))
}

/// The options of `searchsorted` besides its two operands.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchOptions<'a> {
    pub out_int32: bool,
    pub right: bool,
    /// `"left"` or `"right"`; must agree with `right` when both are given.
    pub side: Option<&'a str>,
    /// int64 indices that sort `sorted_sequence` along its last dim.
    pub sorter: Option<&'a Tensor>,
}

/// `torch.searchsorted(sorted_sequence, values, *, out_int32, right, side, sorter)`: for each
/// value, the index of the first element of its row of `sorted_sequence` that is `>=` it
/// (`right`: `>`). `sorted_sequence` is 1-D, or has the leading dims of `values`.
pub fn searchsorted(seq: &Tensor, values: &Operand, o: SearchOptions<'_>) -> Result<Tensor> {
    const OP: &str = "torch.searchsorted()";
    let right = match o.side {
        None => o.right,
        Some("left") if o.right => {
            return Err(Error::Runtime(format!(
            "{OP}: side and right can't be set to opposites, got side of left while right was True"
        )))
        }
        Some("left") => false,
        Some("right") => true,
        Some(s) => {
            return Err(Error::Runtime(format!(
                "{OP}: side can only be 'left' or 'right' but got {s}"
            )))
        }
    };
    if seq.dim() == 0 {
        return Err(Error::Runtime(format!(
            "{OP}: boundaries tensor should have positive dimension, but got 0 dimension"
        )));
    }
    let (values, scalar) = match values {
        Operand::Tensor(t) => (t.clone(), None),
        Operand::Scalar(s) => (s.to_tensor(s.dtype()).to_device(seq.device())?, Some(*s)),
    };
    if seq.dim() != 1 {
        if values.dim() == 0 {
            return Err(Error::Runtime(format!(
                "{OP}: input value can be a scalar only when boundaries tensor dimension is 1, but we got boundaries tensor dim({}) and input value's dim(0) numel(1)",
                seq.dim()
            )));
        }
        let lead = |t: &Tensor| t.shape()[..t.dim() - 1].to_vec();
        if values.dim() != seq.dim() || lead(&values) != lead(seq) {
            return Err(Error::Runtime(format!(
                "{OP}: boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries tensor and input value tensor must match, but we got boundaries tensor {:?} and input value tensor {:?}",
                seq.shape(),
                values.shape()
            )));
        }
    }
    if let Some(s) = o.sorter {
        if s.dtype() != DType::I64 {
            return Err(Error::Runtime(format!(
                "{OP}: sorter must be a tensor of long dtype but got dtype {}",
                s.dtype().scalar_name()
            )));
        }
        if s.shape() != seq.shape() {
            return Err(Error::Runtime(format!(
                "{OP}: boundary and sorter must have the same size, but got boundary tensor {:?}and got sorter tensor {:?}",
                seq.shape(),
                s.shape()
            )));
        }
    }
    let len = seq.shape()[seq.dim() - 1];
    if o.out_int32 && len >= i32::MAX as usize {
        return Err(Error::Runtime(format!(
            "{OP}: the size of boundaries' last dimension should be less than {}, but we got {len}",
            i32::MAX
        )));
    }
    let dtype = match scalar {
        Some(s) => result_type(&[seq], &[s]),
        None => result_type(&[seq, &values], &[]),
    };
    if dtype == DType::Bool {
        return Err(not_implemented("searchsorted_out", seq, dtype));
    }
    let _no_grad = GradModeGuard::new(false);
    let mut seq = seq.detach().to_dtype(dtype)?;
    if let Some(s) = o.sorter {
        if s.numel() > 0 {
            let lo = s
                .amax_amin(None, false, false, "AminBackward0")?
                .item_f64()?;
            let hi = s
                .amax_amin(None, false, true, "AmaxBackward0")?
                .item_f64()?;
            if lo < 0.0 || hi >= len as f64 {
                return Err(Error::Runtime(format!("{OP}: sorter index out of range")));
            }
        }
        // Searching the sequence in sorted order gives positions in that order, as PyTorch.
        seq = seq.gather(-1, s)?;
    }
    let values = values.detach().to_dtype(dtype)?;
    let (seq, vals) = (dense(&seq)?, dense(&values)?);
    let seq_rows = seq.numel().checked_div(len).unwrap_or(0);
    let per_row = if seq.dim() == 1 {
        vals.numel()
    } else {
        vals.shape()[vals.dim() - 1]
    };
    let out = if o.out_int32 { DType::I32 } else { DType::I64 };
    let s =
        seq.storage()
            .search_sorted(seq_rows.max(1), len, vals.storage(), per_row, right, out)?;
    Ok(Tensor::from_storage(s, vals.shape()))
}

/// `torch.bucketize(input, boundaries, *, out_int32, right)`: `searchsorted` with 1-D
/// boundaries and the roles of the operands swapped.
pub fn bucketize(
    input: &Operand,
    boundaries: &Tensor,
    out_int32: bool,
    right: bool,
) -> Result<Tensor> {
    if boundaries.dim() != 1 {
        return Err(Error::Runtime(format!(
            "boundaries tensor must be 1 dimension, but got dim({})",
            boundaries.dim()
        )));
    }
    searchsorted(
        boundaries,
        input,
        SearchOptions {
            out_int32,
            right,
            ..SearchOptions::default()
        },
    )
}

impl Tensor {
    /// `histc(bins=100, min=0, max=0)`: counts of the elements in `bins` equal-width bins
    /// over `[min, max]` (the data's range when `min == max`), in the input's float dtype.
    /// Elements outside the range (and NaN) are not counted; `max` itself goes in the last
    /// bin. Bin `⌊(x − min)·bins / (max − min)⌋`, computed in the input dtype, as PyTorch.
    pub fn histc(&self, bins: i64, min: f64, max: f64) -> Result<Tensor> {
        let dtype = self.dtype();
        if !dtype.is_float() {
            return Err(not_implemented("histogram", self, dtype));
        }
        if bins <= 0 {
            return Err(Error::Runtime(format!(
                "torch.histogram(): bins must be > 0, but got {bins} for dimension 0"
            )));
        }
        let _no_grad = GradModeGuard::new(false);
        let x = self.detach().reshape(&[-1])?;
        let (mut lo, mut hi) = (min, max);
        if lo == hi && x.numel() > 0 {
            lo = x
                .amax_amin(None, false, false, "AminBackward0")?
                .item_f64()?;
            hi = x
                .amax_amin(None, false, true, "AmaxBackward0")?
                .item_f64()?;
        }
        if lo == hi {
            lo -= 1.0;
            hi += 1.0;
        }
        if !lo.is_finite() || !hi.is_finite() {
            return Err(Error::Runtime(format!(
                "torch.histc: range of [{lo}, {hi}] is not finite"
            )));
        }
        if lo >= hi {
            return Err(Error::Runtime(
                "torch.histc: max must be larger than min".into(),
            ));
        }
        let nb = bins as usize;
        let (lo, hi) = (dtype.round(lo), dtype.round(hi));
        let width = dtype.round(hi - lo);
        let inside = x.ge_scalar(lo)?.logical_and(&x.le_scalar(hi)?)?;
        // In range, the position is in [0, bins] (bins only for `max` itself, which joins
        // the last bin); elements outside go to an extra bin `bins` that is dropped.
        let pos = x
            .sub_scalar(lo)?
            .mul_scalar(bins as f64)?
            .div_scalar(width)?
            .clamp(
                Some(Scalar::Float(0.0)),
                Some(Scalar::Float((nb - 1) as f64)),
            )?
            .where_scalar(&inside.logical_not()?, nb as f64)?
            .to_dtype(DType::I64)?;
        let counts = zeros(&[nb + 1], dtype, x.device())?.scatter(
            0,
            &pos,
            &ones(&[x.numel()], dtype, x.device())?,
            true,
        )?;
        counts.narrow(0, 0, nb)
    }

    /// `bincount(weights=None, minlength=0)`: occurrences of each value of a 1-D tensor of
    /// non-negative integers (or the sums of their `weights`: float32 weights give float32,
    /// any others float64), at least `minlength` bins.
    pub fn bincount(&self, weights: Option<&Tensor>, minlength: i64) -> Result<Tensor> {
        let dtype = self.dtype();
        if dtype.is_float() || dtype == DType::Bool {
            return Err(not_implemented("bincount", self, dtype));
        }
        if minlength < 0 {
            return Err(Error::Runtime("minlength should be >= 0".into()));
        }
        let _no_grad = GradModeGuard::new(false);
        let dev = self.device();
        if self.dim() == 1 && self.numel() == 0 {
            return zeros(&[minlength as usize], DType::I64, dev);
        }
        let not_1d =
            || Error::Runtime("bincount only supports 1-d non-negative integral inputs.".into());
        if self.dim() != 1 {
            return Err(not_1d());
        }
        let x = self.detach();
        let lowest = x
            .amax_amin(None, false, false, "AminBackward0")?
            .item_f64()?;
        if lowest < 0.0 {
            return Err(not_1d());
        }
        if let Some(w) = weights {
            if w.dim() != 1 || w.shape()[0] != x.shape()[0] {
                return Err(Error::Runtime(
                    "weights should be 1-d and have the same length as input".into(),
                ));
            }
        }
        let highest = x
            .amax_amin(None, false, true, "AmaxBackward0")?
            .item_f64()? as usize;
        let nb = (highest + 1).max(minlength as usize);
        let idx = x.to_dtype(DType::I64)?;
        let src = match weights {
            None => ones(&[x.numel()], DType::I64, dev)?,
            Some(w) => {
                let out = if w.dtype() == DType::F32 {
                    DType::F32
                } else {
                    DType::F64
                };
                w.detach().to_dtype(out)?
            }
        };
        zeros(&[nb], src.dtype(), dev)?.scatter(0, &idx, &src, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Vec<f64>) -> Tensor {
        let n = v.len();
        Tensor::from_vec(v, &[n])
    }

    fn values(t: &Tensor) -> Vec<f64> {
        let t = t.to_dtype(DType::F64).unwrap();
        t.to_vec::<f64>().unwrap()
    }

    #[test]
    fn searchsorted_sides_and_sorter() {
        let seq = t(vec![1.0, 2.0, 2.0, 3.0]);
        let v = Operand::Tensor(t(vec![0.0, 2.0, 2.5, 9.0]));
        let left = searchsorted(&seq, &v, SearchOptions::default()).unwrap();
        assert_eq!(left.dtype(), DType::I64);
        assert_eq!(values(&left), vec![0.0, 1.0, 3.0, 4.0]);
        let o = SearchOptions {
            side: Some("right"),
            out_int32: true,
            ..SearchOptions::default()
        };
        let right = searchsorted(&seq, &v, o).unwrap();
        assert_eq!(right.dtype(), DType::I32);
        assert_eq!(values(&right), vec![0.0, 3.0, 3.0, 4.0]);
        let unsorted = t(vec![3.0, 1.0, 2.0]);
        let sorter = Tensor::from_vec(vec![1i64, 2, 0], &[3]);
        let o = SearchOptions {
            sorter: Some(&sorter),
            ..SearchOptions::default()
        };
        let r = searchsorted(&unsorted, &Operand::Scalar(Scalar::Float(2.5)), o).unwrap();
        assert_eq!(values(&r), vec![2.0]);
        let bad = SearchOptions {
            side: Some("left"),
            right: true,
            ..SearchOptions::default()
        };
        assert!(searchsorted(&seq, &v, bad).is_err());
    }

    #[test]
    fn histc_and_bincount() {
        let x = t(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(values(&x.histc(3, 1.0, 4.0).unwrap()), vec![1.0, 1.0, 2.0]);
        let i = Tensor::from_vec(vec![1i64, 3, 1], &[3]);
        assert_eq!(
            values(&i.bincount(None, 5).unwrap()),
            vec![0.0, 2.0, 0.0, 1.0, 0.0]
        );
        let neg = Tensor::from_vec(vec![-1i64], &[1]);
        assert!(neg.bincount(None, 0).is_err());
    }
}
