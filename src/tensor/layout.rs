//! `Layout`: shape, signed strides (in elements) and offset into a shared storage.
//!
//! Pure view algebra: every function here returns a new layout over the same storage and
//! copies no data. Whether a view is possible at all (e.g. `view` of a transposed tensor) is
//! decided here, with PyTorch's rules.

use crate::error::{wrap_dim, Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<isize>,
    pub offset: usize,
}

/// Row-major strides of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d.max(1) as isize;
    }
    strides
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The elements of a new tensor of `shape` with `itemsize`-byte elements, or PyTorch's
/// error when the storage's size in bytes does not fit in an `isize`.
pub fn checked_numel(shape: &[usize], itemsize: usize) -> Result<usize> {
    let n = if shape.contains(&0) {
        Some(0)
    } else {
        shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    };
    match n {
        Some(n)
            if n.checked_mul(itemsize)
                .is_some_and(|b| b <= isize::MAX as usize) =>
        {
            Ok(n)
        }
        _ => Err(Error::Runtime(format!(
            "Storage size calculation overflowed with sizes={}",
            fmt_shape(shape)
        ))),
    }
}

/// The broadcast shape of two shapes, or PyTorch's error naming the first mismatching dim.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in (0..n).rev() {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::Runtime(format!(
                "The size of tensor a ({da}) must match the size of tensor b ({db}) at non-singleton dimension {i}"
            )));
        };
    }
    Ok(out)
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    /// Row-major contiguous, as PyTorch's `is_contiguous` (size-1 dims' strides don't matter).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1isize;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d == 0 {
                return true;
            }
            if d != 1 {
                if s != expected {
                    return false;
                }
                expected *= d as isize;
            }
        }
        true
    }
    /// The element range `[lo, hi)` of storage this layout can touch (empty layouts: none).
    pub fn storage_span(&self) -> (usize, usize) {
        if self.numel() == 0 {
            return (self.offset, self.offset);
        }
        let (mut lo, mut hi) = (self.offset as isize, self.offset as isize);
        for (&d, &s) in self.shape.iter().zip(&self.strides) {
            let ext = (d as isize - 1) * s;
            if ext < 0 {
                lo += ext
            } else {
                hi += ext
            }
        }
        (lo as usize, hi as usize + 1)
    }

    pub fn transpose(&self, d0: i64, d1: i64) -> Result<Layout> {
        let n = self.ndim();
        let (a, b) = (wrap_dim(d0, n)?, wrap_dim(d1, n)?);
        let mut l = self.clone();
        if n > 0 {
            l.shape.swap(a, b);
            l.strides.swap(a, b);
        }
        Ok(l)
    }

    pub fn permute(&self, dims: &[i64]) -> Result<Layout> {
        let n = self.ndim();
        if dims.len() != n {
            return Err(Error::Runtime(format!(
                "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {} is not equal to len(dims) = {}",
                n,
                dims.len()
            )));
        }
        let mut seen = vec![false; n];
        let mut l = Layout {
            shape: Vec::with_capacity(n),
            strides: Vec::with_capacity(n),
            offset: self.offset,
        };
        for &d in dims {
            let d = wrap_dim(d, n)?;
            if seen[d] {
                return Err(Error::Runtime(
                    "permute(): duplicate dims are not allowed.".into(),
                ));
            }
            seen[d] = true;
            l.shape.push(self.shape[d]);
            l.strides.push(self.strides[d]);
        }
        Ok(l)
    }

    pub fn narrow(&self, dim: i64, start: i64, length: usize) -> Result<Layout> {
        let n = self.ndim();
        if n == 0 {
            return Err(Error::Runtime(
                "narrow() cannot be applied to a 0-dim tensor.".into(),
            ));
        }
        let d = wrap_dim(dim, n)?;
        let size = self.shape[d] as i64;
        let start = if start < 0 { start + size } else { start };
        if start < 0 || start > size || length as u64 > (size - start) as u64 {
            return Err(Error::Runtime(format!(
                "start ({start}) + length ({length}) exceeds dimension size ({size})."
            )));
        }
        let mut l = self.clone();
        l.offset = (l.offset as isize + start as isize * l.strides[d]) as usize;
        l.shape[d] = length;
        Ok(l)
    }

    /// Strided slice `start:stop:step` along `dim`, with bounds already clamped by the caller.
    pub fn slice(&self, d: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut l = self.clone();
        if len > 0 {
            l.offset = (l.offset as isize + start as isize * l.strides[d]) as usize;
        }
        l.shape[d] = len;
        l.strides[d] *= step as isize;
        l
    }

    pub fn select(&self, dim: i64, index: i64) -> Result<Layout> {
        let n = self.ndim();
        if n == 0 {
            return Err(Error::Index(
                "select() cannot be applied to a 0-dim tensor.".into(),
            ));
        }
        let d = wrap_dim(dim, n)?;
        let size = self.shape[d] as i64;
        let i = if index < 0 { index + size } else { index };
        if i < 0 || i >= size {
            return Err(Error::Index(format!(
                "index {index} is out of bounds for dimension {d} with size {size}"
            )));
        }
        let mut l = self.clone();
        l.offset = (l.offset as isize + i as isize * l.strides[d]) as usize;
        l.shape.remove(d);
        l.strides.remove(d);
        Ok(l)
    }

    pub fn unsqueeze(&self, dim: i64) -> Result<Layout> {
        let d = wrap_dim(dim, self.ndim() + 1)?;
        let mut l = self.clone();
        let stride = if d < self.ndim() {
            self.strides[d] * self.shape[d] as isize
        } else {
            1
        };
        l.shape.insert(d, 1);
        l.strides.insert(d, stride);
        Ok(l)
    }

    pub fn squeeze(&self, dims: Option<&[i64]>) -> Result<Layout> {
        let n = self.ndim();
        let mut drop = vec![false; n];
        match dims {
            None => {
                for (i, &s) in self.shape.iter().enumerate() {
                    drop[i] = s == 1;
                }
            }
            Some(ds) => {
                for &d in ds {
                    if n == 0 {
                        wrap_dim(d, 0)?;
                        continue;
                    }
                    let d = wrap_dim(d, n)?;
                    drop[d] = self.shape[d] == 1;
                }
            }
        }
        let mut l = Layout {
            shape: vec![],
            strides: vec![],
            offset: self.offset,
        };
        for (i, _) in drop.iter().enumerate().filter(|(_, &d)| !d) {
            l.shape.push(self.shape[i]);
            l.strides.push(self.strides[i]);
        }
        Ok(l)
    }

    /// Broadcast to `shape` (PyTorch's `expand`; -1 keeps a size).
    pub fn expand(&self, shape: &[i64]) -> Result<Layout> {
        let n = shape.len();
        if n < self.ndim() {
            return Err(Error::Runtime(format!(
                "expand({}{:?}, size={:?}): the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
                "Tensor", self.shape, shape, n, self.ndim()
            )));
        }
        let lead = n - self.ndim();
        let mut l = Layout {
            shape: vec![0; n],
            strides: vec![0; n],
            offset: self.offset,
        };
        for i in 0..n {
            let want = shape[i];
            if i < lead {
                if want < 0 {
                    return Err(Error::Runtime(format!(
                        "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
                    )));
                }
                l.shape[i] = want as usize;
                l.strides[i] = 0;
            } else {
                let have = self.shape[i - lead];
                let st = self.strides[i - lead];
                if want == -1 || want as usize == have {
                    l.shape[i] = have;
                    l.strides[i] = st;
                } else if have == 1 && want >= 0 {
                    l.shape[i] = want as usize;
                    l.strides[i] = 0;
                } else {
                    return Err(Error::Runtime(format!(
                        "The expanded size of the tensor ({want}) must match the existing size ({have}) at non-singleton dimension {i}.  Target sizes: {shape:?}.  Tensor sizes: {:?}",
                        self.shape
                    )));
                }
            }
        }
        // PyTorch's numel is an int64: a view of more elements than that is refused.
        let fits = l.shape.contains(&0)
            || l.shape
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
                .is_some_and(|n| n <= i64::MAX as u64);
        if !fits {
            return Err(Error::Runtime(
                "numel: integer multiplication overflow".into(),
            ));
        }
        Ok(l)
    }

    /// Strides for viewing this layout as `new_shape` without a copy, if possible
    /// (PyTorch's `computeStride`): each run of merged dims must be contiguous in memory.
    pub fn view_strides(&self, new_shape: &[usize]) -> Option<Vec<isize>> {
        if self.numel() == 0 || self.ndim() == 0 {
            return Some(contiguous_strides(new_shape));
        }
        let mut new_strides = vec![0isize; new_shape.len()];
        let mut view_d = new_shape.len() as isize - 1;
        let mut chunk_base_stride = *self.strides.last().unwrap();
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for td in (0..self.ndim()).rev() {
            tensor_numel *= self.shape[td];
            let at_chunk_end = td == 0
                || (self.shape[td - 1] != 1
                    && self.strides[td - 1] != tensor_numel as isize * chunk_base_stride);
            if at_chunk_end {
                while view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d as usize] == 1)
                {
                    new_strides[view_d as usize] = view_numel as isize * chunk_base_stride;
                    view_numel *= new_shape[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if td > 0 {
                    chunk_base_stride = self.strides[td - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(new_strides)
    }
}

/// Resolves a `view`/`reshape` size list with at most one -1 against `numel`.
pub fn infer_shape(shape: &[i64], numel: usize) -> Result<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &s) in shape.iter().enumerate() {
        if s == -1 {
            if infer.is_some() {
                return Err(Error::Runtime("only one dimension can be inferred".into()));
            }
            infer = Some(i);
        } else if s < 0 {
            return Err(Error::Runtime(format!("invalid shape dimension {s}")));
        } else {
            known *= s as usize;
        }
    }
    let mut out: Vec<usize> = shape.iter().map(|&s| s.max(0) as usize).collect();
    match infer {
        Some(i) => {
            if known == 0 || !numel.is_multiple_of(known) {
                return Err(Error::Runtime(format!(
                    "shape '{}' is invalid for input of size {numel}",
                    fmt_shape(shape)
                )));
            }
            out[i] = numel / known;
        }
        None => {
            if known != numel {
                return Err(Error::Runtime(format!(
                    "shape '{}' is invalid for input of size {numel}",
                    fmt_shape(shape)
                )));
            }
        }
    }
    Ok(out)
}

/// `[2, 3]` as PyTorch prints shapes in messages.
pub fn fmt_shape<T: std::fmt::Display>(s: &[T]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Merges adjacent dims where every operand is contiguous across them, and drops size-1 dims.
pub fn coalesce<const N: usize>(
    shape: &[usize],
    strides: [&[isize]; N],
) -> (Vec<usize>, [Vec<isize>; N]) {
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out_strides: [Vec<isize>; N] = std::array::from_fn(|_| Vec::with_capacity(shape.len()));
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        if let Some(&last) = out_shape.last() {
            let mergeable = (0..N)
                .all(|k| *out_strides[k].last().unwrap() == strides[k][d] * shape[d] as isize);
            if mergeable {
                *out_shape.last_mut().unwrap() = last * shape[d];
                for k in 0..N {
                    *out_strides[k].last_mut().unwrap() = strides[k][d];
                }
                continue;
            }
        }
        out_shape.push(shape[d]);
        for k in 0..N {
            out_strides[k].push(strides[k][d]);
        }
    }
    (out_shape, out_strides)
}

/// Strides of `shape_in` broadcast to `shape_out` (0 where broadcast), right-aligned.
pub fn broadcast_strides(
    shape_in: &[usize],
    strides_in: &[isize],
    shape_out: &[usize],
) -> Vec<isize> {
    let lead = shape_out.len() - shape_in.len();
    (0..shape_out.len())
        .map(|d| {
            if d < lead || shape_in[d - lead] == 1 {
                0
            } else {
                strides_in[d - lead]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_and_transpose() {
        let l = Layout::contiguous(&[2, 3, 4]);
        assert_eq!(l.strides, vec![12, 4, 1]);
        assert!(l.is_contiguous());
        let t = l.transpose(0, 2).unwrap();
        assert_eq!(t.shape, vec![4, 3, 2]);
        assert_eq!(t.strides, vec![1, 4, 12]);
        assert!(!t.is_contiguous());
    }

    #[test]
    fn broadcast_error_names_dim() {
        let e = broadcast_shapes(&[2, 3], &[2, 4]).unwrap_err();
        assert!(e.to_string().contains(
            "tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"
        ));
        assert_eq!(
            broadcast_shapes(&[5, 1, 3], &[4, 1]).unwrap(),
            vec![5, 4, 3]
        );
    }

    #[test]
    fn view_of_transposed_is_refused_but_split_dims_work() {
        let l = Layout::contiguous(&[4, 6]);
        assert_eq!(l.view_strides(&[2, 2, 6]).unwrap(), vec![12, 6, 1]);
        let t = l.transpose(0, 1).unwrap();
        assert!(t.view_strides(&[24]).is_none());
        assert_eq!(t.view_strides(&[3, 2, 4]).unwrap(), vec![2, 1, 6]);
    }

    #[test]
    fn narrow_select_expand() {
        let l = Layout::contiguous(&[3, 4]);
        let n = l.narrow(1, 1, 2).unwrap();
        assert_eq!((n.offset, n.shape.clone()), (1, vec![3, 2]));
        let s = l.select(0, -1).unwrap();
        assert_eq!((s.offset, s.shape.clone()), (8, vec![4]));
        let e = Layout::contiguous(&[3, 1]).expand(&[2, 3, 5]).unwrap();
        assert_eq!(e.strides, vec![0, 1, 0]);
        assert!(l.select(0, 3).is_err());
    }

    #[test]
    fn coalesce_merges_contiguous_dims() {
        let (s, [st]) = coalesce(&[2, 3, 4], [&[12, 4, 1]]);
        assert_eq!((s, st), (vec![24], vec![1]));
        let (s, [a, b]) = coalesce(&[2, 3], [&[3, 1], &[0, 1]]);
        assert_eq!((s, a, b), (vec![2, 3], vec![3, 1], vec![0, 1]));
    }

    #[test]
    fn infer_shape_rules() {
        assert_eq!(infer_shape(&[-1, 4], 12).unwrap(), vec![3, 4]);
        assert!(infer_shape(&[-1, 5], 12).is_err());
        assert!(infer_shape(&[-1, -1], 12).is_err());
    }
}
