//! Indexing: `x[...]` (basic indices as views, advanced indices as gathers), `x[...] = v`
//! and `index_put`, with their backward rules (the gather/scatter family is in
//! [`super::gather`]).

use super::Scalar;
use crate::autograd::{grad_if, needs_grad, record};
use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::layout::{broadcast_shapes, fmt_shape};
use crate::Tensor;

/// One component of a subscript, as Python passes it.
#[derive(Clone, Debug)]
pub enum IndexItem {
    Int(i64),
    Slice(Option<i64>, Option<i64>, i64),
    NewAxis,
    Ellipsis,
    Tensor(Tensor),
}

/// A subscript as a trace records it: per item a kind and three numbers (0: an integer
/// `[i]`; 1: a slice `[start, stop, step]`, `i64::MIN`/`i64::MAX` for an open end; 2: `None`;
/// 3: `...`; 4: a tensor, which the exporter refuses).
fn index_attrs(items: &[IndexItem]) -> Vec<(&'static str, crate::ops::trace::Attr)> {
    let flat = items
        .iter()
        .flat_map(|it| match it {
            IndexItem::Int(i) => [0, *i, 0, 0],
            IndexItem::Slice(a, b, c) => [1, a.unwrap_or(i64::MIN), b.unwrap_or(i64::MAX), *c],
            IndexItem::NewAxis => [2, 0, 0, 0],
            IndexItem::Ellipsis => [3, 0, 0, 0],
            IndexItem::Tensor(_) => [4, 0, 0, 0],
        })
        .collect();
    vec![("items", crate::ops::trace::Attr::Ints(flat))]
}

/// A subscript after basic indexing: the view, and advanced indices by dim of that view.
struct Resolved {
    view: Tensor,
    advanced: Vec<(usize, Tensor)>,
}

fn resolve(t: &Tensor, items: &[IndexItem]) -> Result<Resolved> {
    let consumed: usize = items
        .iter()
        .map(|it| match it {
            IndexItem::Int(_) | IndexItem::Slice(..) => 1,
            IndexItem::Tensor(x) if x.dtype() == DType::Bool || x.dtype() == DType::U8 => x.dim(),
            IndexItem::Tensor(_) => 1,
            _ => 0,
        })
        .sum();
    if items
        .iter()
        .filter(|i| matches!(i, IndexItem::Ellipsis))
        .count()
        > 1
    {
        return Err(Error::Index(
            "an index can only have a single ellipsis ('...')".into(),
        ));
    }
    if consumed > t.dim() {
        return Err(Error::Index(format!(
            "too many indices for tensor of dimension {}",
            t.dim()
        )));
    }
    let mut v = t.clone();
    let mut d = 0usize;
    // `orig` is the dim of `t` the next item indexes: errors name it, as PyTorch's do.
    let mut orig = 0usize;
    let mut advanced = vec![];
    for it in items {
        match it {
            IndexItem::Int(i) => {
                let size = v.shape()[d] as i64;
                if *i < -size || *i >= size {
                    return Err(Error::Index(format!(
                        "index {i} is out of bounds for dimension {orig} with size {size}"
                    )));
                }
                v = v.select(d as i64, *i)?;
                orig += 1;
            }
            IndexItem::Slice(s, e, step) => {
                v = v.slice(d as i64, *s, *e, *step)?;
                d += 1;
                orig += 1;
            }
            IndexItem::NewAxis => {
                v = v.unsqueeze(d as i64)?;
                d += 1;
            }
            IndexItem::Ellipsis => {
                d += t.dim() - consumed;
                orig += t.dim() - consumed;
            }
            IndexItem::Tensor(x) if x.dtype() == DType::Bool || x.dtype() == DType::U8 => {
                // A mask over k dims is the k index tensors of its nonzero entries.
                for (k, &s) in x.shape().iter().enumerate() {
                    if v.shape()[d + k] != s {
                        return Err(Error::Index(format!(
                            "The shape of the mask {} at index {k} does not match the shape of the indexed tensor {} at index {}",
                            fmt_shape(x.shape()),
                            fmt_shape(v.shape()),
                            orig + k
                        )));
                    }
                }
                let nz = on_device_of(x, t)?.nonzero_tuple()?;
                if x.dim() == 0 {
                    // A 0-d mask adds a dim of size 1 (true) or 0 (false).
                    v = v.unsqueeze(d as i64)?;
                    advanced.extend(nz.into_iter().map(|i| (d, i)));
                    d += 1;
                } else {
                    advanced.extend(nz.into_iter().enumerate().map(|(k, i)| (d + k, i)));
                }
                d += x.dim();
                orig += x.dim();
            }
            IndexItem::Tensor(x) => {
                if x.dtype().is_float() {
                    return Err(Error::Index(
                        "tensors used as indices must be long, int, byte or bool tensors".into(),
                    ));
                }
                // Bounds are checked by the kernel as it reads the indices.
                advanced.push((d, on_device_of(x, t)?.to_dtype_raw(DType::I64)?));
                d += 1;
                orig += 1;
            }
        }
    }
    Ok(Resolved { view: v, advanced })
}

/// An index tensor on the device of the tensor it indexes: CPU indices go to the GPU, as
/// PyTorch allows; GPU indices of a CPU tensor are refused, as in PyTorch.
fn on_device_of(index: &Tensor, t: &Tensor) -> Result<Tensor> {
    match (index.device(), t.device()) {
        (a, b) if a == b => Ok(index.clone()),
        (Device::Cpu, d) => index.to_device(d),
        (_, d) => Err(Error::Runtime(format!(
            "indices should be either on cpu or on the same device as the indexed tensor ({d})"
        ))),
    }
}

/// The view with its advanced dims moved to the front, the broadcast index shape, and
/// whether the result must move the index dims back to where the first one was.
struct Advanced {
    front: Tensor,
    indices: Vec<Tensor>,
    index_shape: Vec<usize>,
    /// Where the index dims go in the result (0 when the advanced dims were not adjacent).
    place: usize,
}

fn arrange(r: Resolved) -> Result<Advanced> {
    let dims: Vec<usize> = r.advanced.iter().map(|(d, _)| *d).collect();
    let mut index_shape: Vec<usize> = vec![];
    for (_, x) in &r.advanced {
        index_shape =
            broadcast_shapes(&index_shape, x.shape()).map_err(|_| {
                Error::Index(format!(
                "shape mismatch: indexing tensors could not be broadcast together with shapes {}",
                r.advanced.iter().map(|(_, x)| fmt_shape(x.shape())).collect::<Vec<_>>().join(", ")
            ))
            })?;
    }
    let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
    let place = if adjacent { dims[0] } else { 0 };
    let mut order: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    order.extend(
        (0..r.view.dim())
            .filter(|d| !dims.contains(d))
            .map(|d| d as i64),
    );
    let front = r.view.permute(&order)?;
    Ok(Advanced {
        front,
        indices: r.advanced.into_iter().map(|(_, x)| x).collect(),
        index_shape,
        place,
    })
}

/// Gathers `front[idx0[b], idx1[b], …, rest…]` into a contiguous `index_shape + rest` tensor.
fn gather_front(a: &Advanced) -> Result<Tensor> {
    let k = a.indices.len();
    let l = a.front.layout();
    let mut shape = a.index_shape.clone();
    shape.extend_from_slice(&l.shape[k..]);
    let views: Vec<_> = a
        .indices
        .iter()
        .map(|t| (&**t.storage(), t.layout()))
        .collect();
    let out = Tensor::from_storage(
        a.front.storage().index(l, &views, &a.index_shape)?,
        shape.as_slice(),
    );
    if needs_grad(&[&a.front]) {
        let (fshape, fdtype) = (a.front.shape().to_vec(), a.front.dtype());
        let indices: Vec<Tensor> = a.indices.iter().map(|t| t.detach()).collect();
        let index_shape = a.index_shape.clone();
        let fdevice = a.front.device();
        record("IndexBackward0", &[&a.front], &out, move |g, _| {
            let z = crate::ops::creation::zeros(&fshape, fdtype, fdevice)?;
            let adv = Advanced {
                front: z,
                indices: indices.clone(),
                index_shape: index_shape.clone(),
                place: 0,
            };
            Ok(vec![Some(put_front(&adv, g, true)?)])
        });
    }
    Ok(out)
}

/// Functional put: a copy of `a.front` with `values` (broadcast to `index_shape + rest`)
/// written (or added, with `accumulate`) at the indexed places; differentiable.
fn put_front(a: &Advanced, values: &Tensor, accumulate: bool) -> Result<Tensor> {
    let k = a.indices.len();
    let base = a.front.contiguous_copy()?;
    let l = base.layout().clone();
    let mut shape = a.index_shape.clone();
    shape.extend_from_slice(&l.shape[k..]);
    let vals = values.to_dtype(base.dtype())?;
    broadcast_shapes(&shape, vals.shape()).and_then(|s| {
        if s == shape {
            Ok(())
        } else {
            Err(Error::Runtime(format!(
                "shape mismatch: value tensor of shape {} cannot be broadcast to indexing result of shape {}",
                fmt_shape(vals.shape()),
                fmt_shape(&shape)
            )))
        }
    })?;
    let views: Vec<_> = a
        .indices
        .iter()
        .map(|t| (&**t.storage(), t.layout()))
        .collect();
    base.storage().index_put(
        &l,
        &views,
        &a.index_shape,
        (vals.storage(), vals.layout()),
        accumulate,
    )?;
    if needs_grad(&[&a.front, &vals]) {
        let indices: Vec<Tensor> = a.indices.iter().map(|t| t.detach()).collect();
        let index_shape = a.index_shape.clone();
        let vshape = vals.shape().to_vec();
        record(
            "IndexPutBackward0",
            &[&a.front, &vals],
            &base,
            move |g, n| {
                let adv = Advanced {
                    front: g.clone(),
                    indices: indices.clone(),
                    index_shape: index_shape.clone(),
                    place: 0,
                };
                Ok(vec![
                    if n[0] {
                        if accumulate {
                            Some(g.clone())
                        } else {
                            let z = Scalar::Int(0).to_tensor(g.dtype());
                            Some(put_front(&adv, &z, false)?)
                        }
                    } else {
                        None
                    },
                    grad_if(n[1], || gather_front(&adv)?.sum_to(&vshape))?,
                ])
            },
        );
    }
    Ok(base)
}

/// Moves the index dims of an advanced result from the front to `place`.
fn place_index_dims(t: Tensor, k: usize, place: usize) -> Result<Tensor> {
    if place == 0 {
        return Ok(t);
    }
    let n = t.dim();
    let rest: Vec<i64> = (k as i64..n as i64).collect();
    let mut order: Vec<i64> = rest[..place].to_vec();
    order.extend(0..k as i64);
    order.extend_from_slice(&rest[place..]);
    t.permute(&order)
}

impl Tensor {
    /// `self[items]`.
    pub fn index(&self, items: &[IndexItem]) -> Result<Tensor> {
        crate::ops::trace::traced(
            "index",
            &[self],
            || index_attrs(items),
            || {
                let r = resolve(self, items)?;
                if r.advanced.is_empty() {
                    return Ok(r.view);
                }
                let a = arrange(r)?;
                let k = a.index_shape.len();
                place_index_dims(gather_front(&a)?, k, a.place)
            },
        )
    }

    /// `self[items] = value`, in place (bumps the version; rewires history when autograd
    /// is recording, as PyTorch's `CopySlices`).
    pub fn index_put_(&self, items: &[IndexItem], value: &Tensor) -> Result<()> {
        self.check_inplace()?;
        let recording = needs_grad(&[self, value]);
        let r = resolve(self, items)?;
        if !recording && r.advanced.is_empty() {
            let src = if value.shares_storage(self) {
                value.contiguous_copy()?
            } else {
                value.clone()
            };
            let s = broadcast_shapes(r.view.shape(), src.shape())?;
            if s != r.view.shape() {
                return Err(Error::Runtime(format!(
                    "The expanded size of the tensor ({}) must match the existing size ({}) at non-singleton dimension 0.  Target sizes: {}.  Tensor sizes: {}",
                    s[0],
                    r.view.shape().first().copied().unwrap_or(1),
                    fmt_shape(r.view.shape()),
                    fmt_shape(src.shape())
                )));
            }
            r.view
                .storage()
                .copy_from(r.view.layout(), (src.storage(), src.layout()))?;
            self.storage().bump_version();
            return Ok(());
        }
        let new = self.index_put(items, value, false)?;
        self.assign_from(&new)
    }

    /// `index_put(indices, values, accumulate=False)`: a copy of self with `values` written
    /// (or added, duplicates summed) where the index tensors select, as
    /// `self[indices] = values`; the values must be of self's dtype (PyTorch's check).
    pub fn index_put_tensors(
        &self,
        indices: &[Tensor],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        if values.dtype() != self.dtype() {
            return Err(Error::Runtime(format!(
                "Index put requires the source and destination dtypes match, got {} for the destination and {} for the source.",
                self.dtype().scalar_name(),
                values.dtype().scalar_name()
            )));
        }
        if indices.len() > self.dim() {
            return Err(Error::Index(format!(
                "too many indices for tensor of dimension {} (got {})",
                self.dim(),
                indices.len()
            )));
        }
        let items: Vec<IndexItem> = indices.iter().cloned().map(IndexItem::Tensor).collect();
        self.index_put(&items, values, accumulate)
    }

    /// Functional `index_put`: a copy of self with `value` written (or added) at `items`.
    pub fn index_put(
        &self,
        items: &[IndexItem],
        value: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        // Index a same-shaped arange to find the flat positions the subscript selects.
        let pos =
            crate::ops::creation::arange(0.0, self.numel() as f64, 1.0, DType::I64, self.device())?
                .reshape(&self.shape().iter().map(|&s| s as i64).collect::<Vec<_>>())?;
        let r = resolve(&pos, items)?;
        let sel = if r.advanced.is_empty() {
            r.view.contiguous_copy()?
        } else {
            let a = arrange(r)?;
            let k = a.index_shape.len();
            place_index_dims(gather_front(&a)?, k, a.place)?.contiguous_copy()?
        };
        let flat = self.reshape(&[-1])?;
        let adv = Advanced {
            front: flat,
            indices: vec![sel.reshape(&[-1])?],
            index_shape: vec![sel.numel()],
            place: 0,
        };
        let fits = broadcast_shapes(sel.shape(), value.shape()).is_ok_and(|s| s == sel.shape());
        if !fits {
            return Err(Error::Runtime(format!(
                "shape mismatch: value tensor of shape {} cannot be broadcast to indexing result of shape {}",
                fmt_shape(value.shape()),
                fmt_shape(sel.shape())
            )));
        }
        // A 0-d CPU value (a Python number) joins a GPU tensor, as PyTorch's; expanded, it
        // would no longer read as a number, so it moves first.
        let v = if value.dim() == 0 && value.device() == Device::Cpu {
            value.to_device(self.device())?
        } else {
            value.clone()
        };
        let v = v.expand_to(sel.shape())?.reshape(&[-1])?;
        let shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
        put_front(&adv, &v, accumulate)?.reshape(&shape)
    }

    /// `index_put(indices, values, accumulate)`: a copy of self with `values` written (or
    /// added) at the places the int64 index tensors select in self's leading dims.
    pub fn index_put_indices(
        &self,
        indices: &[Tensor],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        let mut index_shape: Vec<usize> = vec![];
        for x in indices {
            index_shape = broadcast_shapes(&index_shape, x.shape())?;
        }
        let adv = Advanced {
            front: self.clone(),
            indices: indices
                .iter()
                .map(|x| on_device_of(x, self)?.to_dtype_raw(DType::I64))
                .collect::<Result<_>>()?,
            index_shape,
            place: 0,
        };
        put_front(&adv, values, accumulate)
    }
}
