//! Indexing: `x[...]` (basic indices as views, advanced indices as gathers), `x[...] = v`,
//! and the gather/scatter family with their backward rules.

use crate::autograd::{grad_if, needs_grad, record};
use crate::cpu::strided::{broadcast_strides, walk};
use crate::cpu::team;
use crate::error::{wrap_dim, Error, Result};
use crate::tensor::dtype::{DType, Element};
use crate::tensor::layout::{broadcast_shapes, fmt_shape, Layout};
use crate::Tensor;
use std::mem::MaybeUninit;

/// One component of a subscript, as Python passes it.
#[derive(Clone, Debug)]
pub enum IndexItem {
    Int(i64),
    Slice(Option<i64>, Option<i64>, i64),
    NewAxis,
    Ellipsis,
    Tensor(Tensor),
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
                let nz = x.nonzero()?;
                for k in 0..x.dim() {
                    advanced.push((d + k, nz.select(1, k as i64)?));
                }
                if x.dim() == 0 {
                    // A 0-d mask adds a dim of size 1 (true) or 0 (false).
                    v = v.unsqueeze(d as i64)?;
                    advanced.push((d, nz.reshape(&[-1])?));
                    d += 1;
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
                let x = x.to_dtype_raw(DType::I64);
                let size = v.shape()[d] as i64;
                if let Some(&bad) = x.to_vec::<i64>().iter().find(|&&i| i < -size || i >= size) {
                    return Err(Error::Index(format!(
                        "index {bad} is out of bounds for dimension {orig} with size {size}"
                    )));
                }
                advanced.push((d, x));
                d += 1;
                orig += 1;
            }
        }
    }
    Ok(Resolved { view: v, advanced })
}

/// Per-entry element offsets of advanced indices over the leading dims of `l`, each index
/// bounds-checked against its dim.
fn advanced_offsets(l: &Layout, idx: &[Tensor], shape: &[usize]) -> Result<Vec<isize>> {
    let n: usize = shape.iter().product();
    let mut offs = vec![l.offset as isize; n];
    for (d, ix) in idx.iter().enumerate() {
        let size = l.shape[d] as i64;
        let stride = l.strides[d];
        let data = ix.storage().as_slice::<i64>();
        let st = broadcast_strides(ix.shape(), ix.strides(), shape);
        let mut i = 0;
        let mut bad = None;
        walk(shape, [&st], [ix.offset()], |[o]| {
            let mut v = data[o];
            if v < 0 {
                v += size;
            }
            if v < 0 || v >= size {
                bad.get_or_insert(data[o]);
            } else {
                offs[i] += v as isize * stride;
            }
            i += 1;
        });
        if let Some(v) = bad {
            return Err(Error::Index(format!(
                "index {v} is out of bounds for dimension {d} with size {size}"
            )));
        }
    }
    Ok(offs)
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

/// The `rest` block at each offset, concatenated. Blocks that are contiguous in memory (a
/// batch of samples) are copied as slices, in parallel when large.
fn gather_rows<T: Element>(
    src: &[T],
    offs: &[isize],
    rest_shape: &[usize],
    rest_strides: &[isize],
) -> Vec<T> {
    let rest = Layout {
        shape: rest_shape.to_vec(),
        strides: rest_strides.to_vec(),
        offset: 0,
    };
    let n = rest.numel();
    if rest.is_contiguous() && n > 0 {
        let copy = |(dst, offs): (&mut [MaybeUninit<T>], &[isize])| {
            for (dst, &o) in dst.chunks_mut(n).zip(offs) {
                let row = &src[o as usize..o as usize + n];
                for (d, &s) in dst.iter_mut().zip(row) {
                    d.write(s);
                }
            }
        };
        // SAFETY: the parts cover every row of the output, and each row is written whole.
        return unsafe {
            crate::cpu::write_new_vec(offs.len() * n, |v| {
                if v.len() >= crate::cpu::PAR_THRESHOLD {
                    let rows = offs.len().div_ceil(team::parts());
                    let items = v.chunks_mut(rows * n).zip(offs.chunks(rows)).collect();
                    team::for_each_part(items, copy);
                } else {
                    copy((v, offs));
                }
            })
        };
    }
    let mut v: Vec<T> = Vec::with_capacity(offs.len() * n);
    for &o in offs {
        walk(rest_shape, [rest_strides], [o as usize], |[s]| {
            v.push(src[s])
        });
    }
    v
}

/// Gathers `front[idx0[b], idx1[b], …, rest…]` into a contiguous `index_shape + rest` tensor.
fn gather_front(a: &Advanced) -> Result<Tensor> {
    let k = a.indices.len();
    let l = a.front.layout();
    let offs = advanced_offsets(l, &a.indices, &a.index_shape)?;
    let rest_shape = &l.shape[k..];
    let rest_strides = &l.strides[k..];
    let mut shape = a.index_shape.clone();
    shape.extend_from_slice(rest_shape);
    let out = crate::with_dtype!(a.front.dtype(), T, {
        let v = gather_rows::<T>(
            a.front.storage().as_slice::<T>(),
            &offs,
            rest_shape,
            rest_strides,
        );
        Tensor::from_vec(v, &shape)
    });
    if needs_grad(&[&a.front]) {
        let (fshape, fdtype) = (a.front.shape().to_vec(), a.front.dtype());
        let indices: Vec<Tensor> = a.indices.iter().map(|t| t.detach()).collect();
        let index_shape = a.index_shape.clone();
        record("IndexBackward0", &[&a.front], &out, move |g, _| {
            let z = crate::ops::creation::zeros(&fshape, fdtype);
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
    let base = a.front.contiguous_copy();
    let l = base.layout().clone();
    let offs = advanced_offsets(&l, &a.indices, &a.index_shape)?;
    let mut shape = a.index_shape.clone();
    shape.extend_from_slice(&l.shape[k..]);
    let vals = values.to_dtype(base.dtype());
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
    let vstr = broadcast_strides(vals.shape(), vals.strides(), &shape);
    let rest_n: usize = l.shape[k..].iter().product();
    crate::with_dtype!(base.dtype(), T, {
        // SAFETY: `base` is a fresh copy that nothing else references yet.
        let dst: &mut [T] = unsafe { base.storage().as_mut_slice::<T>() };
        let src = vals.storage().as_slice::<T>();
        let mut src_offs = Vec::with_capacity(shape.iter().product());
        walk(&shape, [&vstr], [vals.offset()], |[o]| src_offs.push(o));
        for (b, &o) in offs.iter().enumerate() {
            let mut j = b * rest_n;
            walk(&l.shape[k..], [&l.strides[k..]], [o as usize], |[d]| {
                let v = src[src_offs[j]];
                dst[d] = if accumulate { add_elem(dst[d], v) } else { v };
                j += 1;
            });
        }
    });
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
                            let z = crate::ops::creation::zeros(&[], g.dtype());
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

fn add_elem<T: Element>(a: T, b: T) -> T {
    if T::DTYPE.is_float() {
        T::from_f64(a.to_f64() + b.to_f64())
    } else {
        T::from_i64(a.to_i64().wrapping_add(b.to_i64()))
    }
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
        let r = resolve(self, items)?;
        if r.advanced.is_empty() {
            return Ok(r.view);
        }
        let a = arrange(r)?;
        let k = a.index_shape.len();
        place_index_dims(gather_front(&a)?, k, a.place)
    }

    /// `self[items] = value`, in place (bumps the version; rewires history when autograd
    /// is recording, as PyTorch's `CopySlices`).
    pub fn index_put_(&self, items: &[IndexItem], value: &Tensor) -> Result<()> {
        self.check_inplace()?;
        let recording = needs_grad(&[self, value]);
        let r = resolve(self, items)?;
        if !recording && r.advanced.is_empty() {
            let src = if value.shares_storage(self) {
                value.contiguous_copy()
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
            crate::cpu::copy::copy_into(&r.view, &src);
            self.storage().bump_version();
            return Ok(());
        }
        let new = self.index_put(items, value)?;
        self.assign_from(&new)
    }

    /// Functional `index_put`: a copy of self with `value` written at `items`.
    pub fn index_put(&self, items: &[IndexItem], value: &Tensor) -> Result<Tensor> {
        // Index a same-shaped arange to find the flat positions the subscript selects.
        let pos = crate::ops::creation::arange(0.0, self.numel() as f64, 1.0, DType::I64)?
            .reshape(&self.shape().iter().map(|&s| s as i64).collect::<Vec<_>>())?;
        let r = resolve(&pos, items)?;
        let sel = if r.advanced.is_empty() {
            r.view.contiguous_copy()
        } else {
            let a = arrange(r)?;
            let k = a.index_shape.len();
            place_index_dims(gather_front(&a)?, k, a.place)?.contiguous_copy()
        };
        let flat = self.reshape(&[-1])?;
        let adv = Advanced {
            front: flat,
            indices: vec![sel.reshape(&[-1])?],
            index_shape: vec![sel.numel()],
            place: 0,
        };
        let s = broadcast_shapes(sel.shape(), value.shape())?;
        if s != sel.shape() {
            return Err(Error::Runtime(format!(
                "shape mismatch: value tensor of shape {} cannot be broadcast to indexing result of shape {}",
                fmt_shape(value.shape()),
                fmt_shape(sel.shape())
            )));
        }
        let v = value.expand_to(sel.shape())?.reshape(&[-1])?;
        let shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
        put_front(&adv, &v, false)?.reshape(&shape)
    }

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
        let idx = index.to_dtype_raw(DType::I64);
        let l = self.layout();
        let mut sstr = l.strides.clone();
        if !sstr.is_empty() {
            sstr[d] = 0;
        }
        let size = self.shape().get(d).copied().unwrap_or(1) as i64;
        let stride_d = l.strides.get(d).copied().unwrap_or(0);
        let ix = idx.storage().as_slice::<i64>();
        let shape = idx.shape().to_vec();
        let mut bad = None;
        let out = crate::with_dtype!(self.dtype(), T, {
            let src = self.storage().as_slice::<T>();
            let mut v: Vec<T> = Vec::with_capacity(idx.numel());
            let sstr_k: Vec<isize> = if shape.is_empty() {
                vec![]
            } else {
                sstr.clone()
            };
            walk(
                &shape,
                [idx.strides(), &sstr_k],
                [idx.offset(), l.offset],
                |[io, so]| {
                    // gather takes no negative indices (unlike indexing), as PyTorch.
                    let i = ix[io];
                    if i < 0 || i >= size {
                        bad.get_or_insert(ix[io]);
                        v.push(T::default());
                    } else {
                        v.push(src[(so as isize + i as isize * stride_d) as usize]);
                    }
                },
            );
            Tensor::from_vec(v, &shape)
        });
        if let Some(i) = bad {
            return Err(Error::Runtime(format!(
                "index {i} is out of bounds for dimension {d} with size {size}"
            )));
        }
        if needs_grad(&[self]) {
            let (shape, dtype) = (self.shape().to_vec(), self.dtype());
            let idx = idx.detach();
            record("GatherBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(
                    crate::ops::creation::zeros(&shape, dtype).scatter(d as i64, &idx, g, true)?,
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
        let idx = index.to_dtype_raw(DType::I64);
        let srcc = src.to_dtype(self.dtype());
        let out = self.contiguous_copy();
        let l = out.layout().clone();
        let mut ostr = l.strides.clone();
        if !ostr.is_empty() {
            ostr[d] = 0;
        }
        let size = self.shape().get(d).copied().unwrap_or(1) as i64;
        let stride_d = l.strides.get(d).copied().unwrap_or(0);
        let shape = idx.shape().to_vec();
        let sstr = if srcc.dim() == 0 {
            vec![0; shape.len()]
        } else {
            srcc.strides().to_vec()
        };
        let ix = idx.storage().as_slice::<i64>();
        let mut bad = None;
        crate::with_dtype!(out.dtype(), T, {
            // SAFETY: `out` is a fresh copy nothing else references.
            let dst: &mut [T] = unsafe { out.storage().as_mut_slice::<T>() };
            let s = srcc.storage().as_slice::<T>();
            walk(
                &shape,
                [idx.strides(), &ostr, &sstr],
                [idx.offset(), 0, srcc.offset()],
                |[io, oo, so]| {
                    let i = ix[io];
                    if i < 0 || i >= size {
                        bad.get_or_insert(ix[io]);
                        return;
                    }
                    let at = (oo as isize + i as isize * stride_d) as usize;
                    dst[at] = if accumulate {
                        add_elem(dst[at], s[so])
                    } else {
                        s[so]
                    };
                },
            );
        });
        if let Some(i) = bad {
            return Err(Error::Runtime(format!(
                "index {i} is out of bounds for dimension {d} with size {size}"
            )));
        }
        if needs_grad(&[self, &srcc]) {
            let idx = idx.detach();
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
                    let zero = crate::ops::creation::zeros(&[], g.dtype());
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
        let mut items = vec![IndexItem::Slice(None, None, 1); d];
        items.push(IndexItem::Tensor(index.reshape(&[-1])?));
        if self.dim() == 0 {
            return self.reshape(&[1])?.index(&items)?.reshape(&[]);
        }
        self.index(&items)
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
        x.index(&[IndexItem::Tensor(m.contiguous_copy())])
    }

    /// `nonzero()`: an `n × ndim` int64 tensor of the nonzero positions, row-major order.
    pub fn nonzero(&self) -> Result<Tensor> {
        let shape = self.shape().to_vec();
        let nd = shape.len();
        let flags: Vec<bool> = crate::with_dtype!(
            self.dtype(),
            T,
            self.to_vec::<T>()
                .into_iter()
                .map(|v| v.is_nonzero())
                .collect()
        );
        let mut out: Vec<i64> = vec![];
        let mut count = 0;
        let mut idx = vec![0usize; nd];
        for (i, f) in flags.iter().enumerate() {
            if i > 0 {
                for d in (0..nd).rev() {
                    idx[d] += 1;
                    if idx[d] < shape[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            if *f {
                out.extend(idx.iter().map(|&v| v as i64));
                count += 1;
            }
        }
        Ok(Tensor::from_vec(out, &[count, nd]))
    }

    /// `one_hot(num_classes)`: int64 indices to an int64 one-hot tensor.
    pub fn one_hot(&self, num_classes: i64) -> Result<Tensor> {
        if self.dtype() != DType::I64 {
            return Err(Error::Runtime(
                "one_hot is only applicable to index tensor of type LongTensor.".into(),
            ));
        }
        let v = self.to_vec::<i64>();
        if v.iter().any(|&x| x < 0) {
            return Err(Error::Runtime("Class values must be non-negative.".into()));
        }
        let max = v.iter().copied().max().unwrap_or(-1);
        let n = if num_classes < 0 {
            max + 1
        } else {
            num_classes
        };
        if max >= n {
            return Err(Error::Runtime(
                "Class values must be smaller than num_classes.".into(),
            ));
        }
        let n = n as usize;
        let mut out = vec![0i64; v.len() * n];
        for (i, &c) in v.iter().enumerate() {
            out[i * n + c as usize] = 1;
        }
        let mut shape = self.shape().to_vec();
        shape.push(n);
        Ok(Tensor::from_vec(out, &shape))
    }
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
