//! View ops: new layouts over the same storage, no copy. Each backward maps the gradient
//! back to the input's shape; index-like views (narrow, select, slicing) share one rule:
//! the gradient is embedded into zeros through the same view. The pieces of `split`,
//! `chunk` and `unbind` share one node, whose backward joins their gradients.

use crate::autograd::{is_grad_enabled, needs_grad, record, record_outputs, GradModeGuard};
use crate::error::{wrap_dim, Error, Result};
use crate::ops::trace::Attr;
use crate::tensor::dtype::DType;
use crate::tensor::layout::{fmt_shape, infer_shape, Layout};
use crate::tensor::memory_format::MemoryFormat;
use crate::Tensor;
use std::sync::Arc;

/// A layout transformation that defines a view, independent of the input's strides.
pub type ViewFn = Arc<dyn Fn(&Layout) -> Result<Layout> + Send + Sync>;

impl Tensor {
    /// Applies an index-like view `f`, recording its backward under `name`.
    pub fn apply_view(&self, name: &'static str, f: ViewFn) -> Result<Tensor> {
        let out = self.with_layout(f(self.layout())?);
        if needs_grad(&[self]) {
            let shape = self.shape().to_vec();
            // A dense tensor's gradient is laid out as the tensor is, as PyTorch lays out a
            // leaf's: a transposed one's comes back transposed, so the op that made it reads
            // it without a copy (a `batch_first` recurrent layer's output gradient from its
            // last step). Others get row-major zeros.
            let layout = self.layout();
            let grad_layout = if layout.is_contiguous() || !layout.is_dense() {
                None
            } else {
                layout.copy_layout(MemoryFormat::Preserve)?.map(|(_, l)| l)
            };
            record(name, &[self], &out, move |g, _| {
                Ok(vec![Some(embed_view(
                    g,
                    &shape,
                    grad_layout.as_ref(),
                    f.clone(),
                )?)])
            });
        }
        Ok(out)
    }

    /// `view(*shape)`: errors where PyTorch does when no strides can express it.
    pub fn view(&self, shape: &[i64]) -> Result<Tensor> {
        crate::ops::trace::traced(
            "reshape",
            &[self],
            || vec![("shape", Attr::Ints(shape.to_vec()))],
            || {
                let shape = infer_shape(shape, self.numel())?;
                let strides = self.layout().view_strides(&shape).ok_or_else(|| {
                Error::Runtime(
                    "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.".into(),
                )
            })?;
                Ok(self.reshape_to(
                    "ViewBackward0",
                    Layout {
                        shape,
                        strides,
                        offset: self.offset(),
                    },
                ))
            },
        )
    }

    /// `reshape(*shape)`: a view when possible, else a copy.
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        crate::ops::trace::traced(
            "reshape",
            &[self],
            || vec![("shape", Attr::Ints(shape.to_vec()))],
            || {
                let shape = infer_shape(shape, self.numel())?;
                if shape == self.shape() {
                    return Ok(self.clone());
                }
                match self.layout().view_strides(&shape) {
                    Some(strides) => Ok(self.reshape_to(
                        "ViewBackward0",
                        Layout {
                            shape,
                            strides,
                            offset: self.offset(),
                        },
                    )),
                    None => {
                        let c = self.clone_tensor()?;
                        let l = Layout::contiguous(&shape);
                        Ok(c.reshape_to("UnsafeViewBackward0", l))
                    }
                }
            },
        )
    }

    fn reshape_to(&self, name: &'static str, layout: Layout) -> Tensor {
        let out = self.with_layout(layout);
        if needs_grad(&[self]) {
            let shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
            record(name, &[self], &out, move |g, _| {
                Ok(vec![Some(g.reshape(&shape)?)])
            });
        }
        out
    }

    pub fn transpose(&self, d0: i64, d1: i64) -> Result<Tensor> {
        crate::ops::trace::traced(
            "transpose",
            &[self],
            || vec![("dims", Attr::Ints(vec![d0, d1]))],
            || {
                let out = self.with_layout(self.layout().transpose(d0, d1)?);
                if needs_grad(&[self]) {
                    record("TransposeBackward0", &[self], &out, move |g, _| {
                        Ok(vec![Some(g.transpose(d0, d1)?)])
                    });
                }
                Ok(out)
            },
        )
    }

    /// `t()`: transpose of a ≤2-D tensor.
    pub fn t(&self) -> Result<Tensor> {
        crate::ops::trace::traced(
            "transpose",
            &[self],
            || vec![("dims", Attr::Ints(vec![0, 1]))],
            || {
                if self.dim() > 2 {
                    return Err(Error::Runtime(format!(
                        "t() expects a tensor with <= 2 dimensions, but self is {}D",
                        self.dim()
                    )));
                }
                if self.dim() < 2 {
                    return Ok(self.clone());
                }
                let out = self.with_layout(self.layout().transpose(0, 1)?);
                if needs_grad(&[self]) {
                    record("TBackward0", &[self], &out, |g, _| Ok(vec![Some(g.t()?)]));
                }
                Ok(out)
            },
        )
    }

    pub fn permute(&self, dims: &[i64]) -> Result<Tensor> {
        crate::ops::trace::traced(
            "permute",
            &[self],
            || vec![("dims", Attr::Ints(dims.to_vec()))],
            || {
                let out = self.with_layout(self.layout().permute(dims)?);
                if needs_grad(&[self]) {
                    let n = dims.len();
                    let mut inverse = vec![0i64; n];
                    for (i, &d) in dims.iter().enumerate() {
                        inverse[wrap_dim(d, n)?] = i as i64;
                    }
                    record("PermuteBackward0", &[self], &out, move |g, _| {
                        Ok(vec![Some(g.permute(&inverse)?)])
                    });
                }
                Ok(out)
            },
        )
    }

    /// `movedim(source, destination)` (`moveaxis`): dims `source` moved to positions
    /// `destination`, the others keeping their order; a permuted view.
    pub fn movedim(&self, source: &[i64], destination: &[i64]) -> Result<Tensor> {
        let n = self.dim();
        if source.len() != destination.len() {
            return Err(Error::Runtime(format!(
                "movedim: Invalid source or destination dims: source ({:?} dims) should contain the same number of dims as destination ({:?} dims)",
                source, destination
            )));
        }
        let wrap = |ds: &[i64], what: &str| -> Result<Vec<usize>> {
            let w = ds
                .iter()
                .map(|&d| wrap_dim(d, n))
                .collect::<Result<Vec<usize>>>()?;
            if (1..w.len()).any(|i| w[..i].contains(&w[i])) {
                return Err(Error::Runtime(format!(
                    "movedim: repeated dim in `{what}` ({ds:?})"
                )));
            }
            Ok(w)
        };
        let (src, dst) = (wrap(source, "source")?, wrap(destination, "destination")?);
        if n == 0 {
            // A 0-d tensor's dim 0 (or -1) is itself.
            return self.permute(&[]);
        }
        let mut perm: Vec<Option<i64>> = vec![None; n];
        for (&s, &d) in src.iter().zip(&dst) {
            perm[d] = Some(s as i64);
        }
        let mut rest = (0..n).filter(|d| !src.contains(d));
        let perm: Vec<i64> = perm
            .into_iter()
            .map(|p| p.unwrap_or_else(|| rest.next().map_or(0, |d| d as i64)))
            .collect();
        self.permute(&perm)
    }

    pub fn squeeze(&self, dims: Option<&[i64]>) -> Result<Tensor> {
        // The trace records the dims removed (size-1 dims of those asked for).
        let removed = || {
            let n = self.dim();
            let asked: Vec<usize> = match dims {
                None => (0..n).collect(),
                Some(ds) => ds.iter().filter_map(|&d| wrap_dim(d, n).ok()).collect(),
            };
            let mut removed: Vec<i64> = asked
                .into_iter()
                .filter(|&d| self.shape()[d] == 1)
                .map(|d| d as i64)
                .collect();
            removed.sort_unstable();
            removed.dedup();
            vec![("dims", Attr::Ints(removed))]
        };
        crate::ops::trace::traced("squeeze", &[self], removed, || {
            let l = self.layout().squeeze(dims)?;
            Ok(self.reshape_to(
                if dims.is_none() {
                    "SqueezeBackward0"
                } else {
                    "SqueezeBackward1"
                },
                l,
            ))
        })
    }

    pub fn unsqueeze(&self, dim: i64) -> Result<Tensor> {
        let wrapped = || {
            let d = wrap_dim(dim, self.dim() + 1).unwrap_or(0);
            vec![("dim", Attr::Int(d as i64))]
        };
        crate::ops::trace::traced("unsqueeze", &[self], wrapped, || {
            let l = self.layout().unsqueeze(dim)?;
            Ok(self.reshape_to("UnsqueezeBackward0", l))
        })
    }

    /// `expand(*sizes)`: broadcasting view; backward sums over the broadcast dims.
    pub fn expand(&self, shape: &[i64]) -> Result<Tensor> {
        crate::ops::trace::traced("expand", &[self], Vec::new, || {
            let l = self.layout().expand(shape)?;
            if l.shape == self.shape() {
                return Ok(self.clone());
            }
            let out = self.with_layout(l);
            if needs_grad(&[self]) {
                let shape = self.shape().to_vec();
                record("ExpandBackward0", &[self], &out, move |g, _| {
                    Ok(vec![Some(g.sum_to(&shape)?)])
                });
            }
            Ok(out)
        })
    }

    pub fn expand_to(&self, shape: &[usize]) -> Result<Tensor> {
        let s: Vec<i64> = shape.iter().map(|&v| v as i64).collect();
        self.expand(&s)
    }

    pub fn flatten(&self, start: i64, end: i64) -> Result<Tensor> {
        crate::ops::trace::traced(
            "flatten",
            &[self],
            || vec![("start", Attr::Int(start)), ("end", Attr::Int(end))],
            || {
                if self.dim() == 0 {
                    wrap_dim(start, 0)?;
                    wrap_dim(end, 0)?;
                    return self.reshape(&[1]);
                }
                let n = self.dim();
                let (s, e) = (wrap_dim(start, n)?, wrap_dim(end, n)?);
                if s > e {
                    return Err(Error::Runtime(
                        "flatten() has invalid args: start_dim cannot come after end_dim".into(),
                    ));
                }
                if s == e {
                    return Ok(self.clone());
                }
                let mut shape: Vec<i64> = self.shape()[..s].iter().map(|&v| v as i64).collect();
                shape.push(self.shape()[s..=e].iter().product::<usize>() as i64);
                shape.extend(self.shape()[e + 1..].iter().map(|&v| v as i64));
                self.reshape(&shape)
            },
        )
    }

    pub fn unflatten(&self, dim: i64, sizes: &[i64]) -> Result<Tensor> {
        self.require_dims("unflatten")?;
        let d = wrap_dim(dim, self.dim())?;
        let inner = infer_shape(sizes, self.shape()[d]).map_err(|_| {
            Error::Runtime(format!(
                "unflatten: Provided sizes {sizes:?} don't multiply up to the size of dim {dim} ({}) in the input tensor",
                self.shape()[d]
            ))
        })?;
        let mut shape: Vec<i64> = self.shape()[..d].iter().map(|&v| v as i64).collect();
        shape.extend(inner.iter().map(|&v| v as i64));
        shape.extend(self.shape()[d + 1..].iter().map(|&v| v as i64));
        self.view(&shape)
    }

    pub fn narrow(&self, dim: i64, start: i64, length: usize) -> Result<Tensor> {
        // Recorded as the slice `start:start + length` (a negative start counts from the end).
        let bounds = || {
            let end = start.saturating_add(length as i64);
            slice_attrs(dim, Some(start), (start >= 0 || end < 0).then_some(end), 1)
        };
        crate::ops::trace::traced("slice", &[self], bounds, || {
            self.apply_view(
                "SliceBackward0",
                Arc::new(move |l: &Layout| l.narrow(dim, start, length)),
            )
        })
    }

    pub fn select(&self, dim: i64, index: i64) -> Result<Tensor> {
        let attrs = || vec![("dim", Attr::Int(dim)), ("index", Attr::Int(index))];
        crate::ops::trace::traced("select", &[self], attrs, || {
            self.apply_view(
                "SelectBackward0",
                Arc::new(move |l: &Layout| l.select(dim, index)),
            )
        })
    }

    /// Python slice semantics `start:stop:step` along `dim` (bounds clamped, step > 0).
    pub fn slice(
        &self,
        dim: i64,
        start: Option<i64>,
        stop: Option<i64>,
        step: i64,
    ) -> Result<Tensor> {
        if step <= 0 {
            return Err(Error::Value("step must be greater than zero".into()));
        }
        if self.dim() == 0 {
            return Err(Error::Index(
                "slice() cannot be applied to a 0-dim tensor.".into(),
            ));
        }
        let d = wrap_dim(dim, self.dim())?;
        let bounds = || slice_attrs(dim, start, stop, step);
        crate::ops::trace::traced("slice", &[self], bounds, || {
            self.apply_view(
                "SliceBackward0",
                Arc::new(move |l: &Layout| {
                    let size = l.shape[d] as i64;
                    let clamp = |v: i64| {
                        if v < 0 {
                            (v + size).max(0)
                        } else {
                            v.min(size)
                        }
                    };
                    let s = start.map_or(0, clamp);
                    let e = stop.map_or(size, clamp);
                    let len = if e > s {
                        ((e - s) + step - 1) / step
                    } else {
                        0
                    };
                    Ok(l.slice(d, s as usize, len as usize, step as usize))
                }),
            )
        })
    }

    pub fn unbind(&self, dim: i64) -> Result<Vec<Tensor>> {
        self.require_dims("unbind")?;
        let d = wrap_dim(dim, self.dim())? as i64;
        let n = self.shape()[d as usize] as i64;
        self.pieces(
            "UnbindBackward0",
            |t| (0..n).map(|i| t.select(d, i)).collect(),
            move |gs| crate::ops::join::stack(gs, d),
        )
    }

    /// The views `make(self)` as the outputs of one node, whose backward joins their
    /// gradients (zeros for those that got none) with `join`: PyTorch's `SplitBackward0`,
    /// `SplitWithSizesBackward0` and `UnbindBackward0`, one pass over the input's gradient
    /// where a node per view would each make zeros of the input's size. While an ONNX trace
    /// records, the views are recorded one by one as they are made.
    fn pieces(
        &self,
        name: &'static str,
        make: impl FnOnce(&Tensor) -> Result<Vec<Tensor>>,
        join: impl Fn(&[Tensor]) -> Result<Tensor> + Send + Sync + 'static,
    ) -> Result<Vec<Tensor>> {
        let recorded = needs_grad(&[self]) && !crate::ops::trace::tracing();
        let out = {
            let _off = recorded.then(|| GradModeGuard::new(false));
            make(self)?
        };
        // PyTorch refuses in-place ops on these pieces while recording, even unrecorded.
        if is_grad_enabled() && self.dtype().is_float() {
            out.iter().for_each(Tensor::mark_multi_output_view);
        }
        if !recorded {
            return Ok(out);
        }
        let backward = move |grads: &[Option<Tensor>], _: &[bool]| {
            // The engine stands zeros in for pieces that got no gradient.
            let gs: Vec<Tensor> = grads.iter().flatten().cloned().collect();
            Ok(vec![Some(join(&gs)?)])
        };
        record_outputs(
            name,
            vec![self.gradient_edge()],
            &out,
            Box::new(backward),
            true,
        );
        Ok(out)
    }

    /// `split(split_size_or_sections, dim)`.
    pub fn split_sizes(&self, sizes: &[usize], dim: i64) -> Result<Vec<Tensor>> {
        self.split_with_sizes("SplitWithSizesBackward0", sizes, dim)
    }

    /// [`Tensor::split_sizes`], its node named `name`.
    fn split_with_sizes(
        &self,
        name: &'static str,
        sizes: &[usize],
        dim: i64,
    ) -> Result<Vec<Tensor>> {
        self.require_dims("split_with_sizes")?;
        let d = wrap_dim(dim, self.dim())?;
        let total: usize = sizes.iter().sum();
        if total != self.shape()[d] {
            return Err(Error::Runtime(format!(
                "split_with_sizes expects split_sizes to sum exactly to {} (input tensor's size at dimension {d}), but got split_sizes={sizes:?}",
                self.shape()[d]
            )));
        }
        let d = d as i64;
        self.pieces(
            name,
            |t| {
                let mut start = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for &s in sizes {
                    out.push(t.narrow(d, start as i64, s)?);
                    start += s;
                }
                Ok(out)
            },
            move |gs| crate::ops::join::cat(gs, d),
        )
    }

    pub fn split(&self, size: usize, dim: i64) -> Result<Vec<Tensor>> {
        self.require_dims("split")?;
        let d = wrap_dim(dim, self.dim())?;
        let n = self.shape()[d];
        if size == 0 && n != 0 {
            return Err(Error::Runtime(
                "split_size can only be 0 if dimension size is 0, but got dimension size of "
                    .to_string()
                    + &n.to_string(),
            ));
        }
        let mut sizes = vec![];
        let mut left = n;
        while left > 0 {
            sizes.push(size.min(left));
            left -= size.min(left);
        }
        if sizes.is_empty() {
            sizes.push(0);
        }
        self.split_with_sizes("SplitBackward0", &sizes, d as i64)
    }

    pub fn chunk(&self, chunks: usize, dim: i64) -> Result<Vec<Tensor>> {
        self.require_dims("chunk")?;
        if chunks == 0 {
            return Err(Error::Runtime(
                "chunk expects `chunks` to be greater than 0, got: 0".into(),
            ));
        }
        let d = wrap_dim(dim, self.dim())?;
        let n = self.shape()[d];
        if n == 0 {
            // PyTorch gives `chunks` empty pieces for an empty dim.
            return self.split_with_sizes("SplitBackward0", &vec![0; chunks], d as i64);
        }
        self.split(n.div_ceil(chunks), d as i64)
    }

    /// PyTorch's refusal of dim-wise ops on 0-d tensors.
    fn require_dims(&self, op: &str) -> Result<()> {
        if self.dim() == 0 {
            return Err(Error::Runtime(format!(
                "{op}() cannot be applied to a 0-dim tensor."
            )));
        }
        Ok(())
    }

    /// A view with explicit sizes/strides/offset (PyTorch's `as_strided`), bounds-checked.
    pub fn as_strided(&self, shape: &[usize], strides: &[isize], offset: usize) -> Result<Tensor> {
        let l = Layout {
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            offset,
        };
        // PyTorch's storage size computation, overflow-checked: the last element's position.
        let last = shape.iter().zip(strides).try_fold(offset, |a, (&d, &s)| {
            let ext = d.checked_sub(1)?.checked_mul(s.unsigned_abs())?;
            a.checked_add(ext)
        });
        let fits = |end: usize| {
            end.checked_mul(self.dtype().size())
                .is_some_and(|b| b <= isize::MAX as usize)
        };
        let numel_fits = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_some_and(|n| n <= isize::MAX as usize);
        if !numel_fits {
            return Err(Error::Runtime(format!(
                "numel: integer multiplication overflow (as_strided to sizes {})",
                fmt_shape(shape)
            )));
        }
        if !shape.contains(&0) && !last.is_some_and(|e| e.checked_add(1).is_some_and(fits)) {
            return Err(Error::Runtime(format!(
                "Storage size calculation overflowed with sizes={} and strides={strides:?}",
                fmt_shape(shape)
            )));
        }
        let (lo, hi) = l.storage_span();
        if l.numel() > 0 && (hi > self.storage().len() || lo > hi)
            || strides.iter().any(|&s| s < 0)
            || shape.len() != strides.len()
        {
            return Err(Error::Runtime(format!(
                "setStorage: sizes {}, strides {:?}, storage offset {offset} are out of bounds for storage of size {}",
                fmt_shape(shape),
                strides,
                self.storage().len()
            )));
        }
        let out = self.with_layout(l.clone());
        if needs_grad(&[self]) {
            let (input, n) = (self.layout().clone(), self.storage().len());
            record("AsStridedBackward0", &[self], &out, move |g, _| {
                // Sum the gradient into the storage positions the view reads (overlapping
                // views add up), then read it back through the input's own layout.
                let (dtype, device) = (g.dtype(), g.device());
                let pos = crate::ops::creation::arange(0.0, n as f64, 1.0, DType::I64, device)?
                    .as_strided(&l.shape, &l.strides, l.offset)?;
                let flat = crate::ops::creation::zeros(&[n], dtype, device)?.index_put_indices(
                    &[pos.reshape(&[-1])?],
                    &g.reshape(&[-1])?,
                    true,
                )?;
                let gx = flat
                    .as_strided(&input.shape, &input.strides, input.offset)?
                    .contiguous()?;
                Ok(vec![Some(gx)])
            });
        }
        Ok(out)
    }
}

impl Tensor {
    /// `repeat(*sizes)`: tiles the tensor (an expand of an unsqueezed view, made contiguous,
    /// so the gradient sums over the tiles).
    pub fn repeat(&self, reps: &[i64]) -> Result<Tensor> {
        if let Some(&r) = reps.iter().find(|&&r| r < 0) {
            return Err(Error::Runtime(format!(
                "Trying to create tensor with negative dimension {r}: {reps:?}"
            )));
        }
        if reps.len() < self.dim() {
            return Err(Error::Runtime(
                "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor".into(),
            ));
        }
        let lead = reps.len() - self.dim();
        let mut shape: Vec<i64> = vec![1; lead];
        shape.extend(self.shape().iter().map(|&s| s as i64));
        let x = self.reshape(&shape)?;
        let mut inter: Vec<i64> = vec![];
        let mut expand: Vec<i64> = vec![];
        let mut out: Vec<i64> = vec![];
        for (&r, &s) in reps.iter().zip(&shape) {
            inter.extend([1, s]);
            expand.extend([r, s]);
            out.push(r.checked_mul(s).ok_or_else(|| {
                Error::Runtime(format!(
                    "Storage size calculation overflowed with sizes={reps:?}"
                ))
            })?);
        }
        x.reshape(&inter)?
            .expand(&expand)?
            .contiguous()?
            .reshape(&out)
    }
}

/// How many times `repeat_interleave` repeats each element: one count for all, or one per
/// element along the dim.
pub enum Repeats<'a> {
    All(i64),
    Each(&'a Tensor),
}

impl Tensor {
    /// `repeat_interleave(repeats, dim=None, output_size=None)`: each element (of the
    /// flattened tensor when `dim` is None) `repeats` times in a row along `dim`. A single
    /// count is an expand of an unsqueezed view (the gradient sums the copies); per-element
    /// counts (read on the host, as PyTorch syncs for them) select with an index.
    pub fn repeat_interleave(
        &self,
        repeats: Repeats<'_>,
        dim: Option<i64>,
        output_size: Option<usize>,
    ) -> Result<Tensor> {
        let (x, d) = match dim {
            None => (self.reshape(&[-1])?, 0),
            Some(d) => (self.clone(), crate::error::wrap_dim(d, self.dim().max(1))?),
        };
        let x = if x.dim() == 0 { x.reshape(&[1])? } else { x };
        let n = x.shape()[d];
        let counts: Vec<i64> = match repeats {
            Repeats::All(r) => {
                if r < 0 {
                    return Err(Error::Runtime("repeats can not be negative".into()));
                }
                let mut shape: Vec<i64> = x.shape().iter().map(|&s| s as i64).collect();
                let mut out = shape.clone();
                out[d] *= r;
                shape.insert(d + 1, r);
                let total = out[d] as usize;
                if output_size.is_some_and(|o| o != total) {
                    return Err(Error::Runtime(
                        "allocated size does not match required size".into(),
                    ));
                }
                return x.unsqueeze(d as i64 + 1)?.expand(&shape)?.reshape(&out);
            }
            Repeats::Each(t) => {
                if t.dim() > 1 {
                    return Err(Error::Runtime(
                        "repeats must be 0-dim or 1-dim tensor".into(),
                    ));
                }
                if t.dtype().is_float() || t.dtype() == crate::DType::Bool {
                    return Err(Error::Runtime(format!(
                        "repeat_interleave: repeats has to be Long or Int tensor, but got {}",
                        t.dtype().name()
                    )));
                }
                let v = t.to_dtype(crate::DType::I64)?.to_vec::<i64>()?;
                if v.len() == 1 {
                    return x.repeat_interleave(Repeats::All(v[0]), Some(d as i64), output_size);
                }
                v
            }
        };
        if counts.len() != n {
            return Err(Error::Runtime(format!(
                "repeats must have the same size as input along dim, but got repeats.size(0) = {} and input.size({d}) = {n}",
                counts.len()
            )));
        }
        if counts.iter().any(|&c| c < 0) {
            return Err(Error::Runtime("repeats can not be negative".into()));
        }
        let index: Vec<i64> = counts
            .iter()
            .enumerate()
            .flat_map(|(i, &c)| std::iter::repeat_n(i as i64, c as usize))
            .collect();
        if output_size.is_some_and(|o| o != index.len()) {
            return Err(Error::Runtime(
                "allocated size does not match required size".into(),
            ));
        }
        let len = index.len();
        let index = Tensor::from_vec(index, &[len]).to_device(x.device())?;
        x.index_select(d as i64, &index)
    }
}

/// The view of the `offset` diagonal of dims `d1` and `d2` (already wrapped): those dims
/// removed and the diagonal appended last, as PyTorch's `diagonal`.
fn diagonal_view(d1: usize, d2: usize, offset: i64) -> ViewFn {
    Arc::new(move |l: &Layout| {
        let (n1, n2) = (l.shape[d1] as i64, l.shape[d2] as i64);
        let len = if offset >= 0 {
            n1.min(n2 - offset)
        } else {
            (n1 + offset).min(n2)
        }
        .max(0);
        let mut start = l.offset as isize;
        if len > 0 {
            start += if offset >= 0 {
                offset as isize * l.strides[d2]
            } else {
                -offset as isize * l.strides[d1]
            };
        }
        let (mut shape, mut strides) = (vec![], vec![]);
        for i in (0..l.shape.len()).filter(|&i| i != d1 && i != d2) {
            shape.push(l.shape[i]);
            strides.push(l.strides[i]);
        }
        shape.push(len as usize);
        strides.push(l.strides[d1] + l.strides[d2]);
        Ok(Layout {
            shape,
            strides,
            offset: start as usize,
        })
    })
}

/// Wraps the two dims of a diagonal op over `ndim` dims, PyTorch's errors.
fn diagonal_dims(dim1: i64, dim2: i64, ndim: usize) -> Result<(usize, usize)> {
    let (d1, d2) = (wrap_dim(dim1, ndim)?, wrap_dim(dim2, ndim)?);
    if d1 == d2 {
        return Err(Error::Runtime(format!(
            "diagonal dimensions cannot be identical {dim1}, {dim2}"
        )));
    }
    Ok((d1, d2))
}

impl Tensor {
    /// `diagonal(offset, dim1, dim2)`: a view of the `offset` diagonal of two dims, placed
    /// last (above the main diagonal for `offset > 0`).
    pub fn diagonal(&self, offset: i64, dim1: i64, dim2: i64) -> Result<Tensor> {
        let (d1, d2) = diagonal_dims(dim1, dim2, self.dim())?;
        self.apply_view("DiagonalBackward0", diagonal_view(d1, d2, offset))
    }

    /// `diag_embed(offset, dim1, dim2)`: matrices (in dims `dim1`, `dim2` of the result)
    /// holding the last dim of `self` on their `offset` diagonal, zeros elsewhere.
    pub fn diag_embed(&self, offset: i64, dim1: i64, dim2: i64) -> Result<Tensor> {
        let nd = self.dim() + 1;
        let (d1, d2) = diagonal_dims(dim1, dim2, nd)?;
        let n = self.shape().last().copied().unwrap_or(1) + offset.unsigned_abs() as usize;
        let mut batch: Vec<usize> = self.shape().to_vec();
        batch.pop();
        let mut shape = vec![];
        let mut rest = batch.into_iter();
        for i in 0..nd {
            shape.push(if i == d1 || i == d2 {
                n
            } else {
                rest.next().unwrap_or(1)
            });
        }
        let src = if self.dim() == 0 {
            self.reshape(&[1])?
        } else {
            self.clone()
        };
        embed_view(&src, &shape, None, diagonal_view(d1, d2, offset))
    }

    /// `diag(diagonal)`: a 1-D tensor on the `diagonal` diagonal of a square matrix, or the
    /// `diagonal` diagonal of a matrix as a new 1-D tensor.
    pub fn diag(&self, diagonal: i64) -> Result<Tensor> {
        match self.dim() {
            1 => self.diag_embed(diagonal, 0, 1),
            2 => self.diagonal(diagonal, 0, 1)?.clone_tensor(),
            d => Err(Error::Runtime(format!(
                "diag(): Supports 1D or 2D tensors. Got {d}D"
            ))),
        }
    }

    /// `trace()`: the sum of a matrix's main diagonal.
    pub fn trace(&self) -> Result<Tensor> {
        if self.dim() != 2 {
            return Err(Error::Runtime(format!(
                "trace: expected a matrix, but got tensor with dim {}",
                self.dim()
            )));
        }
        self.diagonal(0, 0, 1)?.sum_dims(None, false, None)
    }
}

/// The gradient of an index-like view: zeros of the input's shape (laid out as `layout`, a
/// dense layout of that shape from offset 0, when given) with `g` written through the same
/// view.
/// Differentiable: its own backward applies the view to the gradient.
pub fn embed_view(
    g: &Tensor,
    input_shape: &[usize],
    layout: Option<&Layout>,
    f: ViewFn,
) -> Result<Tensor> {
    let out = crate::ops::creation::zeros(input_shape, g.dtype(), g.device())?;
    // Zeros are zeros in any order: the same storage, read through `layout`.
    let out = match layout {
        Some(l) => Tensor::from_parts(out.storage().clone(), l.clone()),
        None => out,
    };
    let dst = f(out.layout())?;
    out.storage().copy_from(&dst, (g.storage(), g.layout()))?;
    if needs_grad(&[g]) {
        // `f` is applied to a gradient laid out as `out` is, as it was to `out` (a region of
        // a base's storage is a fixed layout, not one relative to what it is given).
        let layout = layout.cloned();
        record("SliceBackwardBackward0", &[g], &out, move |gg, _| {
            let gg = laid_out(gg, layout.as_ref())?;
            Ok(vec![Some(gg.apply_view("SliceBackward0", f.clone())?)])
        });
    }
    Ok(out)
}

/// `t` laid out as `layout` (a dense layout of `t`'s shape from offset 0; row-major for
/// `None`): `t` itself when it already is, else a copy that stays in the graph.
pub(crate) fn laid_out(t: &Tensor, layout: Option<&Layout>) -> Result<Tensor> {
    let want = layout.map_or_else(|| Layout::contiguous(t.shape()), Layout::clone);
    let same = (0..t.dim()).all(|d| t.shape()[d] <= 1 || t.strides()[d] == want.strides[d]);
    if t.offset() == 0 && same {
        return Ok(t.clone());
    }
    // Dims from the largest stride in: copied row-major in that order, read back in the
    // tensor's own.
    let mut order: Vec<usize> = (0..t.dim()).collect();
    order.sort_by_key(|&d| std::cmp::Reverse(want.strides[d]));
    let mut back = vec![0i64; order.len()];
    for (i, &d) in order.iter().enumerate() {
        back[d] = i as i64;
    }
    let order: Vec<i64> = order.into_iter().map(|d| d as i64).collect();
    t.permute(&order)?.clone_tensor()?.permute(&back)
}

impl Tensor {
    /// `pixel_shuffle(upscale_factor)`: `[*, c·r², h, w]` to `[*, c, h·r, w·r]` (a reshape,
    /// a permute and a copy, as PyTorch).
    pub fn pixel_shuffle(&self, r: i64) -> Result<Tensor> {
        self.shuffle_pixels("pixel_shuffle", "upscale_factor", r, true)
    }

    /// `pixel_unshuffle(downscale_factor)`: `[*, c, h·r, w·r]` to `[*, c·r², h, w]`.
    pub fn pixel_unshuffle(&self, r: i64) -> Result<Tensor> {
        self.shuffle_pixels("pixel_unshuffle", "downscale_factor", r, false)
    }

    fn shuffle_pixels(&self, name: &str, what: &str, r: i64, up: bool) -> Result<Tensor> {
        let d = self.dim();
        if d < 3 {
            return Err(Error::Runtime(format!(
                "{name} expects input to have at least 3 dimensions, but got input with {d} dimension(s)"
            )));
        }
        if r <= 0 {
            return Err(Error::Runtime(format!(
                "{name} expects a positive {what}, but got {r}"
            )));
        }
        let lead: Vec<i64> = self.shape()[..d - 3].iter().map(|&v| v as i64).collect();
        let [c, h, w] = [0, 1, 2].map(|i| self.shape()[d - 3 + i] as i64);
        let b = lead.len() as i64;
        let dims = |tail: &[i64]| {
            let mut v: Vec<i64> = (0..b).collect();
            v.extend(tail.iter().map(|t| t + b));
            v
        };
        let shape = |tail: &[i64]| {
            let mut v = lead.clone();
            v.extend_from_slice(tail);
            v
        };
        if up {
            if c % (r * r) != 0 {
                return Err(Error::Runtime(format!(
                    "{name} expects its input's 'channel' dimension to be divisible by the square of {what}, but input.size(-3)={c} is not divisible by {}",
                    r * r
                )));
            }
            let oc = c / (r * r);
            self.reshape(&shape(&[oc, r, r, h, w]))?
                .permute(&dims(&[0, 3, 1, 4, 2]))?
                .reshape(&shape(&[oc, h * r, w * r]))
        } else {
            for (size, dim, side) in [(h, -2, "height"), (w, -1, "width")] {
                if size % r != 0 {
                    return Err(Error::Runtime(format!(
                        "{name} expects {side} to be divisible by {what}, but input.size({dim})={size} is not divisible by {r}"
                    )));
                }
            }
            let (oh, ow) = (h / r, w / r);
            self.reshape(&shape(&[c, oh, r, ow, r]))?
                .permute(&dims(&[0, 2, 4, 1, 3]))?
                .reshape(&shape(&[c * r * r, oh, ow]))
        }
    }
}

/// A slice's trace attributes: Python's `start:stop:step` along `dim` (an open bound as
/// `i64::MIN`/`i64::MAX`, ONNX `Slice`'s convention).
fn slice_attrs(
    dim: i64,
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
) -> Vec<(&'static str, Attr)> {
    vec![
        ("dim", Attr::Int(dim)),
        ("start", Attr::Int(start.unwrap_or(i64::MIN))),
        ("stop", Attr::Int(stop.unwrap_or(i64::MAX))),
        ("step", Attr::Int(step)),
    ]
}
