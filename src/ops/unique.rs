//! `unique` and `unique_consecutive`: sort (for `unique`), mark where a run of equal values
//! (or slices, with `dim`) begins, and derive the values, the inverse indices and the
//! counts from those marks. Compositions of sort, comparison, cumsum, nonzero and indexing,
//! so they run on every device. No gradient, as PyTorch's.

use crate::error::{wrap_dim, Result};
use crate::tensor::dtype::DType;
use crate::Tensor;

/// What `unique` returns: the values, and on request the inverse indices and the counts.
pub struct Unique {
    pub values: Tensor,
    pub inverse: Tensor,
    pub counts: Tensor,
}

impl Tensor {
    /// `unique(sorted, return_inverse, return_counts, dim)`: the distinct elements (or
    /// slices along `dim`) in ascending (lexicographic) order — always sorted, as PyTorch's
    /// CPU result is.
    pub fn unique(&self, dim: Option<i64>) -> Result<Unique> {
        let x = self.detach();
        match dim {
            None => {
                let flat = x.reshape(&[-1])?;
                let (sorted, perm) = flat.sort(0, false)?;
                let rows = sorted.unsqueeze(1)?;
                runs(&rows, Some(&perm), x.shape(), None)
            }
            Some(dim) => {
                let d = wrap_dim(dim, x.dim())?;
                let rows = slices_as_rows(&x, d)?;
                // Lexicographic order of the rows: stable sorts from the last column to
                // the first.
                let n = rows.shape()[0];
                let mut perm =
                    crate::ops::creation::arange(0.0, n as f64, 1.0, DType::I64, x.device())?;
                for c in (0..rows.shape()[1]).rev() {
                    let col = rows.index_select(0, &perm)?.select(1, c as i64)?;
                    let (_, order) = col.sort(0, false)?;
                    perm = perm.index_select(0, &order)?;
                }
                let sorted = rows.index_select(0, &perm)?;
                runs(&sorted, Some(&perm), &[n], Some((&x, d)))
            }
        }
    }

    /// `unique_consecutive(return_inverse, return_counts, dim)`: one element (or slice
    /// along `dim`) per run of equal consecutive ones, in order.
    pub fn unique_consecutive(&self, dim: Option<i64>) -> Result<Unique> {
        let x = self.detach();
        match dim {
            None => runs(&x.reshape(&[-1])?.unsqueeze(1)?, None, x.shape(), None),
            Some(dim) => {
                let d = wrap_dim(dim, x.dim())?;
                let rows = slices_as_rows(&x, d)?;
                let n = rows.shape()[0];
                runs(&rows, None, &[n], Some((&x, d)))
            }
        }
    }
}

/// The slices of `x` along `d` as the rows of a matrix.
fn slices_as_rows(x: &Tensor, d: usize) -> Result<Tensor> {
    let n = x.shape()[d];
    let moved = x.transpose(0, d as i64)?.contiguous_copy()?;
    moved.reshape(&[n as i64, -1])
}

/// Values, inverse and counts from `rows` (ordered so equal rows are adjacent); `perm[i]`
/// is the original position of row `i` (None: the identity). `inverse_shape` is the shape of
/// the inverse indices; with `slices`, values are slices of that tensor along that dim.
fn runs(
    rows: &Tensor,
    perm: Option<&Tensor>,
    inverse_shape: &[usize],
    slices: Option<(&Tensor, usize)>,
) -> Result<Unique> {
    let n = rows.shape()[0];
    let device = rows.device();
    let int = |v: Vec<i64>| Tensor::from_vec(v.clone(), &[v.len()]).to_device(device);
    let shape: Vec<i64> = inverse_shape.iter().map(|&s| s as i64).collect();
    if n == 0 {
        let values = match slices {
            None => rows.reshape(&[-1])?,
            Some((x, _)) => x.clone(),
        };
        return Ok(Unique {
            values,
            inverse: int(vec![])?.reshape(&shape)?,
            counts: int(vec![])?,
        });
    }
    // starts[i]: row i begins a run (the first row always does).
    let differs = rows
        .narrow(0, 1, n - 1)?
        .ne(&rows.narrow(0, 0, n - 1)?)?
        .all_any(Some(&[1]), false, false)?;
    let head = Tensor::scalar(true).reshape(&[1])?.to_device(device)?;
    let starts = crate::ops::join::cat(&[head, differs], 0)?;
    // The run of each row, counted from 0 (int64 throughout).
    let one = Tensor::scalar(1i64).to_device(device)?;
    let group = starts.to_dtype(DType::I64)?.cumsum(0, None)?.sub(&one)?;
    let inverse = match perm {
        Some(p) => crate::ops::creation::zeros(&[n], DType::I64, device)?.index_put_indices(
            std::slice::from_ref(p),
            &group,
            false,
        )?,
        None => group,
    };
    let first = starts.nonzero()?.reshape(&[-1])?;
    let rest = first.narrow(0, 1, first.numel() - 1)?;
    let ends = crate::ops::join::cat(&[rest, int(vec![n as i64])?], 0)?;
    let counts = ends.sub(&first)?;
    let values = match slices {
        None => rows.index_select(0, &first)?.reshape(&[-1])?,
        Some((x, d)) => {
            let chosen = match perm {
                Some(p) => p.index_select(0, &first)?,
                None => first.clone(),
            };
            x.index_select(d as i64, &chosen)?
        }
    };
    Ok(Unique {
        values,
        inverse: inverse.reshape(&shape)?,
        counts,
    })
}
