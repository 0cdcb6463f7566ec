//! The gather/scatter family: `gather`, `scatter`/`scatter_add`, `take`,
//! `index_select`, `masked_select`, `nonzero`, `one_hot`, `embedding` and the `index_*`
//! updates (`index_add`, `index_copy`, `index_fill`), each with its backward rule.

use super::binary::{binary_raw, BinaryOp};
use super::index::IndexItem;
use super::Scalar;
use crate::autograd::{grad_if, needs_grad, record};
use crate::error::{wrap_dim, Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::layout::{broadcast_shapes, fmt_shape};
use crate::Tensor;

impl Tensor {
    /// `gather(dim, index)`.
    pub fn gather(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        let d = wrap_dim(dim, self.dim())?;
        check_index_like("gather", self, d, index, None)?;
        if self.dim() == 0 {
            // A 0-d input behaves as a 1-element vector.
            let shape: Vec<i64> = index.shape().iter().map(|&s| s as i64).collect();
            return self
                .reshape(&[1])?
                .gather(0, &index.reshape(&[-1])?)?
                .reshape(&shape);
        }
        let s = self
            .storage()
            .gather(self.layout(), d, (index.storage(), index.layout()))?;
        let out = Tensor::from_storage(s, index.shape());
        if needs_grad(&[self]) {
            let (shape, dtype, device) = (self.shape().to_vec(), self.dtype(), self.device());
            let idx = index.detach();
            record("GatherBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(
                    crate::ops::creation::zeros(&shape, dtype, device)?
                        .scatter(d as i64, &idx, g, true)?,
                )])
            });
        }
        Ok(out)
    }

    /// `scatter(dim, index, src)` / `scatter_add` (with `accumulate`), out of place.
    pub fn scatter(
        &self,
        dim: i64,
        index: &Tensor,
        src: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        let d = wrap_dim(dim, self.dim())?;
        check_index_like(
            if accumulate { "scatter_add" } else { "scatter" },
            self,
            d,
            index,
            Some(src),
        )?;
        if self.dim() == 0 {
            let src1 = if src.dim() == 0 {
                src.clone()
            } else {
                src.reshape(&[-1])?
            };
            return self
                .reshape(&[1])?
                .scatter(0, &index.reshape(&[-1])?, &src1, accumulate)?
                .reshape(&[]);
        }
        let srcc = src.to_dtype(self.dtype())?;
        let out = self.contiguous_copy()?;
        out.storage().scatter(
            out.layout(),
            d,
            (index.storage(), index.layout()),
            (srcc.storage(), srcc.layout()),
            accumulate,
        )?;
        if needs_grad(&[self, &srcc]) {
            let idx = index.detach();
            let src_scalar = srcc.dim() == 0 && index.dim() > 0;
            record(
                if accumulate {
                    "ScatterAddBackward0"
                } else {
                    "ScatterBackward0"
                },
                &[self, &srcc],
                &out,
                move |g, n| {
                    let zero = Scalar::Int(0).to_tensor(g.dtype());
                    Ok(vec![
                        if n[0] {
                            Some(if accumulate {
                                g.clone()
                            } else {
                                g.scatter(d as i64, &idx, &zero, false)?
                            })
                        } else {
                            None
                        },
                        grad_if(n[1], || {
                            let gs = g.gather(d as i64, &idx)?;
                            Ok(if src_scalar { gs.sum()? } else { gs })
                        })?,
                    ])
                },
            );
        }
        Ok(out)
    }

    /// `index_select(dim, index)` with a 1-D index.
    /// `take(index)`: the elements of this tensor, read as 1-D, at `index` (int64), in the
    /// index's shape; an index outside `[-numel, numel)` is PyTorch's `IndexError`.
    pub fn take(&self, index: &Tensor) -> Result<Tensor> {
        if index.dtype() != DType::I64 {
            return Err(Error::Runtime(format!(
                "take(): Expected a long tensor for index, but got {}",
                index.dtype().scalar_name()
            )));
        }
        let n = self.numel() as i64;
        if index.numel() > 0 {
            let lo = index.amax_amin(None, false, false, "min")?.item_f64()? as i64;
            let hi = index.amax_amin(None, false, true, "max")?.item_f64()? as i64;
            if let Some(bad) = [lo, hi].into_iter().find(|&v| v < -n || v >= n) {
                return Err(Error::Index(format!(
                    "out of range: tried to access index {bad} on a tensor of {n} elements."
                )));
            }
        }
        // Negative indices count from the end.
        let flat = index.reshape(&[-1])?;
        let flat = flat.add(
            &flat
                .lt_scalar(0.0)?
                .to_dtype(DType::I64)?
                .mul_scalar(n as f64)?
                .to_dtype(DType::I64)?,
        )?;
        let shape: Vec<i64> = index.shape().iter().map(|&s| s as i64).collect();
        self.reshape(&[-1])?.index_select(0, &flat)?.reshape(&shape)
    }

    pub fn index_select(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        if index.dim() > 1 {
            return Err(Error::Index(
                "index_select(): Index is supposed to be a vector".into(),
            ));
        }
        if index.dtype() != DType::I64 && index.dtype() != DType::I32 {
            return Err(Error::Runtime(
                "index_select(): Expected dtype int32 or int64 for index".into(),
            ));
        }
        let d = wrap_dim(dim, self.dim())?;
        let index = index.reshape(&[-1])?;
        // Unlike advanced indexing, index_select takes no negative indices (PyTorch's
        // "index out of range in self"; the shared index kernel would wrap them).
        if index.numel() > 0
            && index
                .amax_amin(None, false, false, "AminBackward0")?
                .to_dtype(DType::I64)?
                .to_vec::<i64>()?[0]
                < 0
        {
            return Err(Error::Index("index out of range in self".into()));
        }
        if self.numel() == 0 && index.numel() > 0 {
            // The kernel reads nothing, so it checks nothing: PyTorch checks here.
            let size = self.shape().get(d).copied().unwrap_or(1) as i64;
            let high = index.to_dtype(DType::I64)?.to_vec::<i64>()?;
            if let Some(v) = high.into_iter().find(|&v| v >= size) {
                return Err(Error::Runtime(format!(
                    "INDICES element is out of DATA bounds, id={v} axis_dim={size}"
                )));
            }
        }
        let mut items = vec![IndexItem::Slice(None, None, 1); d];
        items.push(IndexItem::Tensor(index));
        let out = if self.dim() == 0 {
            self.reshape(&[1])?.index(&items)?.reshape(&[])
        } else {
            self.index(&items)
        };
        out.map_err(|e| match e {
            Error::Index(_) => Error::Index("index out of range in self".into()),
            e => e,
        })
    }

    /// `masked_select(mask)`: the selected elements, 1-D.
    pub fn masked_select(&self, mask: &Tensor) -> Result<Tensor> {
        if mask.dtype() != DType::Bool {
            return Err(Error::Runtime(format!(
                "masked_select: expected BoolTensor for mask, got {}",
                mask.dtype().name()
            )));
        }
        let shape = broadcast_shapes(self.shape(), mask.shape())?;
        let x = self.expand_to(&shape)?;
        let m = mask.expand_to(&shape)?;
        x.index(&[IndexItem::Tensor(m.contiguous_copy()?)])
    }

    /// `nonzero()`: an `n × ndim` int64 tensor of the nonzero positions, row-major order.
    /// (On a GPU the count is read back to size the result, as PyTorch does.)
    pub fn nonzero(&self) -> Result<Tensor> {
        if self.dim() == 0 {
            // PyTorch's `[1, 0]` for a set 0-d tensor, `[0, 0]` for an unset one.
            return self.reshape(&[1])?.nonzero()?.narrow(1, 0, 0)?.contiguous();
        }
        let (s, count) = self.storage().nonzero(self.layout())?;
        Ok(Tensor::from_storage(s, [count, self.dim()]))
    }

    /// `nonzero(as_tuple=True)` and one-argument `where`: one int64 index tensor per dim, a
    /// 0-d tensor counting as 1-d (as PyTorch's).
    pub fn nonzero_tuple(&self) -> Result<Vec<Tensor>> {
        let x = if self.dim() == 0 {
            self.reshape(&[1])?
        } else {
            self.clone()
        };
        let nz = x.nonzero()?;
        (0..x.dim() as i64)
            .map(|k| nz.select(1, k)?.contiguous())
            .collect()
    }

    /// `one_hot(num_classes)`: int64 indices to an int64 one-hot tensor, built as
    /// `index == arange(num_classes)`.
    pub fn one_hot(&self, num_classes: i64) -> Result<Tensor> {
        if self.dtype() != DType::I64 {
            return Err(Error::Runtime(
                "one_hot is only applicable to index tensor of type LongTensor.".into(),
            ));
        }
        let (lo, hi) = if self.numel() == 0 {
            if num_classes <= 0 {
                return Err(Error::Runtime(
                    "Can not infer total number of classes from empty tensor.".into(),
                ));
            }
            (0, -1)
        } else {
            let lo = self.amax_amin(None, false, false, "AminBackward0")?;
            let hi = self.amax_amin(None, false, true, "AmaxBackward0")?;
            (lo.to_vec::<i64>()?[0], hi.to_vec::<i64>()?[0])
        };
        if lo < 0 {
            return Err(Error::Runtime("Class values must be non-negative.".into()));
        }
        let n = if num_classes < 0 { hi + 1 } else { num_classes };
        if hi >= n {
            return Err(Error::Runtime(
                "Class values must be smaller than num_classes.".into(),
            ));
        }
        let classes = crate::ops::creation::arange(0.0, n as f64, 1.0, DType::I64, self.device())?;
        binary_raw(BinaryOp::Eq, &self.unsqueeze(-1)?, &classes, DType::I64)?
            .to_dtype_raw(DType::I64)
    }
}

/// `F.embedding(input, weight, padding_idx, scale_grad_by_freq)`: the rows of the 2-D
/// `weight` the int64/int32 `indices` name, shaped `indices.shape + [embedding_dim]`.
///
/// Its node (`EmbeddingBackward0`) adds each output row's gradient into the row it came
/// from, none into `padding_idx`'s, each divided by how often its index occurs in the batch
/// with `scale_grad_by_freq` (PyTorch's `embedding_dense_backward`), written in tensor ops
/// so that it differentiates again. `indices` get no gradient.
pub fn embedding(
    weight: &Tensor,
    indices: &Tensor,
    padding_idx: Option<i64>,
    scale_grad_by_freq: bool,
) -> Result<Tensor> {
    crate::ops::trace::traced("embedding", &[weight, indices], Vec::new, || {
        embedding_untraced(weight, indices, padding_idx, scale_grad_by_freq)
    })
}

fn embedding_untraced(
    weight: &Tensor,
    indices: &Tensor,
    padding_idx: Option<i64>,
    scale_grad_by_freq: bool,
) -> Result<Tensor> {
    if !matches!(indices.dtype(), DType::I64 | DType::I32) {
        return Err(Error::Runtime(format!(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got torch.{} instead (while checking arguments for embedding)",
            indices.dtype().legacy_name()
        )));
    }
    if weight.dim() != 2 {
        return Err(Error::Runtime("'weight' must be 2-D".into()));
    }
    let flat = indices.reshape(&[-1])?.to_dtype(DType::I64)?;
    let rows = {
        let _off = crate::autograd::GradModeGuard::new(false);
        weight.index_select(0, &flat)?
    };
    let mut shape: Vec<i64> = indices.shape().iter().map(|&d| d as i64).collect();
    shape.push(weight.shape()[1] as i64);
    let out = rows.reshape(&shape)?;
    if !needs_grad(&[weight]) {
        return Ok(out);
    }
    let (num, dim) = (weight.shape()[0], weight.shape()[1]);
    let (wdtype, device) = (weight.dtype(), weight.device());
    record("EmbeddingBackward0", &[weight], &out, move |g, _| {
        let mut g = g.reshape(&[-1, dim as i64])?;
        if let Some(p) = padding_idx {
            let keep = flat.ne_scalar(p as f64)?.unsqueeze(1)?;
            g = g.mul(&keep.to_dtype(g.dtype())?)?;
        }
        if scale_grad_by_freq {
            let ones = crate::ops::creation::ones(&[flat.numel()], g.dtype(), device)?;
            let counts = crate::ops::creation::zeros(&[num], g.dtype(), device)?
                .index_put_indices(std::slice::from_ref(&flat), &ones, true)?;
            g = g.div(&counts.index_select(0, &flat)?.unsqueeze(1)?)?;
        }
        let zeros = crate::ops::creation::zeros(&[num, dim], wdtype, device)?;
        Ok(vec![Some(zeros.index_put_indices(
            std::slice::from_ref(&flat),
            &g.to_dtype(wdtype)?,
            true,
        )?)])
    });
    Ok(out)
}

/// PyTorch's checks for gather/scatter: same rank, index no larger than self (and src)
/// outside `dim`.
fn check_index_like(
    op: &str,
    t: &Tensor,
    d: usize,
    index: &Tensor,
    src: Option<&Tensor>,
) -> Result<()> {
    if index.dtype() != DType::I64 {
        return Err(Error::Runtime(format!(
            "{op}(): Expected dtype int64 for index"
        )));
    }
    if (t.dim() == 0 && index.dim() > 1) || (t.dim() > 0 && index.dim() != t.dim()) {
        return Err(Error::Runtime(format!(
            "Index tensor must have the same number of dimensions as {} tensor",
            if op == "gather" { "input" } else { "self" }
        )));
    }
    for (k, &s) in index.shape().iter().enumerate() {
        if k != d && t.dim() > 0 && s > t.shape()[k] {
            return Err(Error::Runtime(format!(
                "Size does not match at dimension {k} expected index {} to be smaller than self {} apart from dimension {d}",
                fmt_shape(index.shape()),
                fmt_shape(t.shape())
            )));
        }
        if let Some(src) = src {
            if src.dim() > 0 && (src.dim() != index.dim() || s > src.shape()[k]) {
                return Err(Error::Runtime(format!(
                    "Expected index {} to be smaller than self {} apart from dimension {d} and to be smaller size than src {}",
                    fmt_shape(index.shape()),
                    fmt_shape(t.shape()),
                    fmt_shape(src.shape())
                )));
            }
        }
    }
    Ok(())
}

/// Which `index_*` update: add (scaled) source slices, copy them, or fill with a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IndexUpdate {
    Add,
    Copy,
}

impl Tensor {
    /// `index_add(dim, index, source, alpha)` / `index_copy(dim, index, source)`: a copy of
    /// self whose slices `index[i]` along `dim` have `source`'s slice `i` added (scaled by
    /// `alpha`) or written. Differentiable in self and `source`.
    pub fn index_update(
        &self,
        op: IndexUpdate,
        dim: i64,
        index: &Tensor,
        source: &Tensor,
        alpha: f64,
    ) -> Result<Tensor> {
        let name = if op == IndexUpdate::Add {
            "index_add"
        } else {
            "index_copy"
        };
        crate::ops::rearrange::check_index_vector(name, index)?;
        let d = wrap_dim(dim, self.dim())?;
        let n = index.numel();
        let src = if source.dim() == 0 {
            source.reshape(&[1])?
        } else {
            source.clone()
        };
        let me = if self.dim() == 0 {
            self.reshape(&[1])?
        } else {
            self.clone()
        };
        let mut want = me.shape().to_vec();
        want[d] = n;
        if src.shape() != want.as_slice() {
            let without_d = |t: &Tensor| {
                let s: Vec<usize> = t
                    .shape()
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != d)
                    .map(|(_, &s)| s)
                    .collect();
                fmt_shape(&s)
            };
            return Err(Error::Runtime(if op == IndexUpdate::Add {
                format!(
                    "source tensor shape must match self tensor shape, excluding the specified dimension. Got self.shape = {:?} source.shape = {:?}",
                    me.shape(),
                    src.shape()
                )
            } else {
                format!(
                    "index_copy_(): Source/destination tensor must have same slice shapes. Destination slice shape: {} at dimension {d} and source slice shape: {} at dimension {d}.",
                    without_d(&me),
                    without_d(&src)
                )
            }));
        }
        let src = if op == IndexUpdate::Add && alpha != 1.0 {
            src.mul_scalar(alpha)?
        } else {
            src
        };
        let src = src.to_dtype(self.dtype())?;
        let front = me.transpose(0, d as i64)?;
        let idx = index.reshape(&[-1])?;
        let out = front
            .index_put_indices(&[idx], &src.transpose(0, d as i64)?, op == IndexUpdate::Add)?
            .transpose(0, d as i64)?;
        let shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
        out.reshape(&shape)
    }

    /// `index_fill(dim, index, value)`: a copy of self with the slices `index` along `dim`
    /// set to `value` (a number or a 0-d tensor, differentiable in both).
    pub fn index_fill(&self, dim: i64, index: &Tensor, value: &Tensor) -> Result<Tensor> {
        crate::ops::rearrange::check_index_vector("index_fill", index)?;
        if value.dim() != 0 {
            return Err(Error::Runtime(format!(
                "index_fill_ only supports a 0-dimensional value tensor, but got tensor with {} dimension(s).",
                value.dim()
            )));
        }
        let d = wrap_dim(dim, self.dim().max(1))?;
        let mut shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
        if shape.is_empty() {
            shape.push(1);
        }
        shape[d] = index.numel() as i64;
        // Moved before it is expanded: a 0-d CPU value joins a GPU tensor only as a number.
        let value = if value.device() == Device::Cpu {
            value.to_device(self.device())?
        } else {
            value.clone()
        };
        let src = value.to_dtype(self.dtype())?.expand(&shape)?;
        self.index_update(IndexUpdate::Copy, dim, index, &src, 1.0)
    }
}
