//! Ops that move elements without computing new ones (`flip`, `roll`, `rot90`,
//! `meshgrid`) and products built from broadcasting (`kron`, `cross`). `flip` and `roll`
//! are single copies of (negatively strided or joined) views with their own backward; the
//! rest are compositions of indexing and view ops, so autograd and every device come from
//! those.

use crate::autograd::{needs_grad, record};
use crate::error::{wrap_dim, Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::tensor::storage::Storage;
use crate::Tensor;

/// Wraps a list of dims, PyTorch's error for a repeated one.
fn wrap_dims(op: &str, dims: &[i64], ndim: usize) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = vec![];
    for &d in dims {
        let w = wrap_dim(d, ndim)?;
        if out.contains(&w) {
            return Err(Error::Runtime(format!(
                "{op}: dim {w} appears multiple times in the list of dims"
            )));
        }
        out.push(w);
    }
    Ok(out)
}

impl Tensor {
    /// `index` (int64, 1-D) of the positions `f(i)` for `i` in `0..len`, on this device.
    fn positions(&self, len: usize, f: impl Fn(usize) -> usize) -> Result<Tensor> {
        let v: Vec<i64> = (0..len).map(|i| f(i) as i64).collect();
        Tensor::from_vec(v, &[len]).to_device(self.device())
    }

    /// `flip(dims)`: the elements in reverse order along each of `dims` (a copy, as
    /// PyTorch's), whose gradient is the output's flipped back (`FlipBackward0`).
    pub fn flip(&self, dims: &[i64]) -> Result<Tensor> {
        let wrapped = wrap_dims("flip", dims, self.dim())?;
        // A 0-d tensor's dim 0 (or -1) is itself: nothing to reverse.
        let wrapped: Vec<usize> = wrapped.into_iter().filter(|_| self.dim() > 0).collect();
        let out = if self.device() == Device::Cpu {
            // On the host, one copy of the view read backwards along `dims` (negative
            // strides): runs reversed as slices, not an index gather per flipped dim.
            let mut l = self.layout().clone();
            for &d in &wrapped {
                if l.shape[d] > 1 {
                    let last = (l.shape[d] - 1) as isize * l.strides[d];
                    l.offset = (l.offset as isize + last) as usize;
                    l.strides[d] = -l.strides[d];
                }
            }
            let storage = self.storage().cast(&l, self.dtype())?;
            Tensor::from_storage(storage, self.shape())
        } else {
            let mut out = self.detach();
            for &d in &wrapped {
                let n = self.shape()[d];
                out = out.index_select(d as i64, &self.positions(n, |i| n - 1 - i)?)?;
            }
            if wrapped.is_empty() {
                out = out.contiguous_copy()?;
            }
            out
        };
        if needs_grad(&[self]) {
            let dims = dims.to_vec();
            record("FlipBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(g.flip(&dims)?)])
            });
        }
        Ok(out)
    }

    /// `roll(shifts, dims)`: elements shifted along each dim, wrapping around; with no dims,
    /// over the flattened tensor (then restored to its shape). The gradient is the output's
    /// rolled back (`RollBackward0`).
    pub fn roll(&self, shifts: &[i64], dims: &[i64]) -> Result<Tensor> {
        if self.numel() == 0 {
            // PyTorch returns an empty tensor's copy before reading the arguments.
            return self.contiguous_copy();
        }
        if dims.is_empty() {
            if shifts.len() != 1 {
                return Err(Error::Runtime(format!(
                    "roll: shifts must be a scalar or a tuple of length 1 when dims is not given, got {}",
                    shifts.len()
                )));
            }
            let shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
            return self.reshape(&[-1])?.roll(shifts, &[0])?.reshape(&shape);
        }
        if shifts.len() != dims.len() {
            return Err(Error::Runtime(format!(
                "shifts and dimensions must align. shifts: {}, dims:{}",
                shifts.len(),
                dims.len()
            )));
        }
        if self.dim() == 0 {
            // PyTorch wraps roll's dims without treating a 0-d tensor as 1-d.
            return Err(Error::Index(format!(
                "Dimension specified as {} but tensor has no dimensions",
                dims[0]
            )));
        }
        let mut out = self.detach();
        // Each (dim, shift in 0..size) applied, to be undone by the backward.
        let mut applied = vec![];
        for (&s, &d) in shifts.iter().zip(dims) {
            let d = wrap_dim(d, self.dim())?;
            let n = self.shape()[d];
            let s = s.rem_euclid(n as i64) as usize;
            // The last `s` along `d`, then the rest: one copy joining the two views.
            let l = out.layout();
            let tail = l.narrow(d as i64, (n - s) as i64, s)?;
            let head = l.narrow(d as i64, 0, n - s)?;
            let st: &Storage = out.storage();
            let joined = Storage::cat(
                &[(st, &tail), (st, &head)],
                d,
                self.shape(),
                self.dtype(),
                self.device(),
            )?;
            out = Tensor::from_storage(joined, self.shape());
            applied.push((d as i64, (n - s) as i64));
        }
        if needs_grad(&[self]) {
            let (dims, back): (Vec<i64>, Vec<i64>) = applied.into_iter().rev().unzip();
            record("RollBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(g.roll(&back, &dims)?)])
            });
        }
        Ok(out)
    }

    /// `rot90(k, dims)`: rotation by 90° `k` times in the plane of `dims`, from the first
    /// axis towards the second.
    pub fn rot90(&self, k: i64, dims: &[i64]) -> Result<Tensor> {
        if dims.len() != 2 {
            return Err(Error::Runtime(format!(
                "expected total rotation dims == 2, but got dims = {}",
                dims.len()
            )));
        }
        if self.dim() < 2 {
            return Err(Error::Runtime(format!(
                "expected total dims >= 2, but got total dims = {}",
                self.dim()
            )));
        }
        let (d0, d1) = (
            wrap_dim(dims[0], self.dim())?,
            wrap_dim(dims[1], self.dim())?,
        );
        if d0 == d1 {
            return Err(Error::Runtime(format!(
                "expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}"
            )));
        }
        let (a, b) = (d0 as i64, d1 as i64);
        match k.rem_euclid(4) {
            1 => self.flip(&[b])?.transpose(a, b),
            2 => self.flip(&[a, b]),
            3 => self.flip(&[a])?.transpose(a, b),
            _ => self.clone_tensor(),
        }
    }

    /// `kron(other)`: the Kronecker product (shapes padded with leading 1s to one rank; the
    /// result's sizes are the products of the operands').
    pub fn kron(&self, other: &Tensor) -> Result<Tensor> {
        let nd = self.dim().max(other.dim());
        let pad = |t: &Tensor| -> Vec<usize> {
            let mut s = vec![1; nd - t.dim()];
            s.extend_from_slice(t.shape());
            s
        };
        let (sa, sb) = (pad(self), pad(other));
        let (mut ea, mut eb, mut out) = (vec![], vec![], vec![]);
        for i in 0..nd {
            ea.extend([sa[i] as i64, 1]);
            eb.extend([1, sb[i] as i64]);
            out.push((sa[i] * sb[i]) as i64);
        }
        self.reshape(&ea)?.mul(&other.reshape(&eb)?)?.reshape(&out)
    }

    /// `cross(other, dim)`: the 3-vector cross product along `dim` (broadcasting the
    /// operands), as `torch.linalg.cross`.
    pub fn cross(&self, other: &Tensor, dim: i64) -> Result<Tensor> {
        let nd = self.dim().max(other.dim());
        let d = wrap_dim(dim, nd)?;
        let size = |t: &Tensor| t.shape().get(d + t.dim() - nd).copied();
        if size(self) != Some(3) || size(other) != Some(3) {
            return Err(Error::Runtime(format!(
                "linalg.cross: inputs dimension {dim} must have length 3. Got {} and {}",
                size(self).unwrap_or(0),
                size(other).unwrap_or(0)
            )));
        }
        let d = d as i64 - nd as i64;
        let turn = |t: &Tensor, s: usize| t.index_select(d, &t.positions(3, |i| (i + s) % 3)?);
        let left = turn(self, 1)?.mul(&turn(other, 2)?)?;
        left.sub(&turn(self, 2)?.mul(&turn(other, 1)?)?)
    }
}

/// `meshgrid(*tensors, indexing)`: for n 1-D (or 0-d) tensors, n tensors of their sizes'
/// shape, each varying along its own dim ("ij") — with "xy" the first two dims swap, as
/// NumPy's. Expanded views of the inputs.
pub fn meshgrid(tensors: &[Tensor], xy: bool) -> Result<Vec<Tensor>> {
    if tensors.is_empty() {
        return Err(Error::Runtime(
            "meshgrid expects a non-empty TensorList".into(),
        ));
    }
    let first = &tensors[0];
    for t in tensors {
        if t.dim() > 1 {
            return Err(Error::Runtime(format!(
                "torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {}",
                fmt_shape(t.shape())
            )));
        }
        if t.dtype() != first.dtype() || t.device() != first.device() {
            return Err(Error::Runtime(
                "torch.meshgrid: Expected all tensors in the tensor list to have the same dtype and device".into(),
            ));
        }
    }
    let n = tensors.len();
    let swap = xy && n >= 2;
    // The position of input i among the output dims.
    let axis = |i: usize| if swap && i < 2 { 1 - i } else { i };
    let mut shape = vec![0i64; n];
    for (i, t) in tensors.iter().enumerate() {
        shape[axis(i)] = t.numel() as i64;
    }
    tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut view = vec![1i64; n];
            view[axis(i)] = -1;
            t.reshape(&view)?.expand(&shape)
        })
        .collect()
}

/// Ensures an index tensor for the `index_*` updates is 1-D integer, PyTorch's message.
pub(crate) fn check_index_vector(op: &str, index: &Tensor) -> Result<()> {
    if index.dim() > 1 {
        return Err(Error::Index(format!(
            "{op}(): Index is supposed to be a vector"
        )));
    }
    if !matches!(index.dtype(), DType::I64 | DType::I32) {
        return Err(Error::Index(format!(
            "{op}(): Expected dtype int32/int64 for index but got: {}",
            index.dtype()
        )));
    }
    Ok(())
}
