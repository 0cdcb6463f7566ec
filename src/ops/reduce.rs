//! Reductions (sum, mean, prod, max/min, var/std, norm, logsumexp, all/any), the row-wise
//! ops built on the same arrangement (softmax, log_softmax, cumsum), and their backwards.
//!
//! Every reduction permutes the reduced dims last and reads the input as `rows × len`
//! runs (see [`ReduceOp`]); the backends decide how to read them.

use crate::autograd::{is_grad_enabled, needs_grad, record, SavedTensor};
use crate::backend::{ReduceOp, ScanOp};
use crate::error::{wrap_dim, Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;
use crate::tensor::storage::Storage;
use crate::Tensor;

/// How a reduction sees its input: the permutation, shapes and run sizes.
struct Plan {
    /// Reduced dims, sorted, deduplicated.
    dims: Vec<usize>,
    /// Input layout with kept dims first, reduced dims last.
    permuted: Layout,
    rows: usize,
    len: usize,
    /// Output shape with reduced dims kept as size 1.
    keep_shape: Vec<usize>,
    /// Output shape with reduced dims removed.
    drop_shape: Vec<usize>,
}

impl Plan {
    fn new(t: &Tensor, dims: Option<&[i64]>) -> Result<Plan> {
        let n = t.dim();
        let mut reduced = vec![false; n];
        match dims {
            None | Some([]) => reduced.iter_mut().for_each(|r| *r = true),
            Some(ds) => {
                let mut seen = vec![false; n.max(1)];
                for &d in ds {
                    let d = wrap_dim(d, n)?;
                    if seen[d] {
                        return Err(Error::Runtime(format!(
                            "dim {d} appears multiple times in the list of dims"
                        )));
                    }
                    seen[d] = true;
                    if n > 0 {
                        reduced[d] = true;
                    }
                }
            }
        }
        let l = t.layout();
        let kept: Vec<usize> = (0..n).filter(|&d| !reduced[d]).collect();
        let red: Vec<usize> = (0..n).filter(|&d| reduced[d]).collect();
        let order: Vec<i64> = kept.iter().chain(&red).map(|&d| d as i64).collect();
        let permuted = l.permute(&order)?;
        let rows: usize = kept.iter().map(|&d| l.shape[d]).product();
        let len: usize = red.iter().map(|&d| l.shape[d]).product();
        let keep_shape = (0..n)
            .map(|d| if reduced[d] { 1 } else { l.shape[d] })
            .collect();
        let drop_shape = kept.iter().map(|&d| l.shape[d]).collect();
        Ok(Plan {
            dims: red,
            permuted,
            rows,
            len,
            keep_shape,
            drop_shape,
        })
    }
    /// `op` of each row of `t` (the tensor the plan was made for), shaped as the result.
    fn reduce(&self, t: &Tensor, op: ReduceOp, keepdim: bool) -> Result<Tensor> {
        let s = t
            .storage()
            .reduce(&self.permuted, self.rows, self.len, op)?;
        Ok(Tensor::from_storage(s, self.out_shape(keepdim)))
    }
    fn out_shape(&self, keepdim: bool) -> &[usize] {
        if keepdim {
            &self.keep_shape
        } else {
            &self.drop_shape
        }
    }
}

/// Broadcasts a reduction's gradient (shape with or without the reduced dims) back to `shape`.
fn expand_back(g: &Tensor, keep_shape: &[usize], shape: &[usize]) -> Result<Tensor> {
    let ks: Vec<i64> = keep_shape.iter().map(|&v| v as i64).collect();
    g.reshape(&ks)?.expand_to(shape)
}

fn float_only(op: &str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(Error::Runtime(format!(
            "{op}(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
            dtype.scalar_name()
        )))
    }
}

/// A reduction's trace attributes: the dims (none: every dim) and `keepdim`.
fn reduce_attrs(
    dims: Option<&[i64]>,
    keepdim: bool,
) -> Vec<(&'static str, crate::ops::trace::Attr)> {
    use crate::ops::trace::Attr;
    let mut attrs = vec![("keepdim", Attr::Int(keepdim as i64))];
    if let Some(d) = dims {
        attrs.push(("dims", Attr::Ints(d.to_vec())));
    }
    attrs
}

impl Tensor {
    /// `sum(dim=None, keepdim=False, dtype=None)`; integer and bool sums give int64.
    pub fn sum_dims(
        &self,
        dims: Option<&[i64]>,
        keepdim: bool,
        dtype: Option<DType>,
    ) -> Result<Tensor> {
        crate::ops::trace::traced(
            "sum",
            &[self],
            || reduce_attrs(dims, keepdim),
            || self.sum_untraced(dims, keepdim, dtype),
        )
    }
    fn sum_untraced(
        &self,
        dims: Option<&[i64]>,
        keepdim: bool,
        dtype: Option<DType>,
    ) -> Result<Tensor> {
        let out_dtype = dtype.unwrap_or(if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::I64
        });
        if out_dtype == DType::Bool {
            return Err(Error::Runtime("sum to bool is not supported".into()));
        }
        let x = self.to_dtype(out_dtype)?;
        let plan = Plan::new(&x, dims)?;
        let out = plan.reduce(&x, ReduceOp::Sum, keepdim)?;
        if needs_grad(&[&x]) {
            let (ks, shape) = (plan.keep_shape.clone(), x.shape().to_vec());
            let name = if dims.is_none() {
                "SumBackward0"
            } else {
                "SumBackward1"
            };
            record(name, &[&x], &out, move |g, _| {
                Ok(vec![Some(expand_back(g, &ks, &shape)?)])
            });
        }
        Ok(out)
    }
    pub fn sum(&self) -> Result<Tensor> {
        self.sum_dims(None, false, None)
    }

    /// Sums a broadcast gradient back to `shape` (leading dims and size-1 dims).
    pub fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let lead = self.dim() - shape.len();
        let mut dims: Vec<i64> = (0..lead as i64).collect();
        for (i, &s) in shape.iter().enumerate() {
            if s == 1 && self.shape()[lead + i] != 1 {
                dims.push((lead + i) as i64);
            }
        }
        let r = if dims.is_empty() {
            self.clone()
        } else {
            self.sum_dims(Some(&dims), true, None)?
        };
        let target: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
        r.reshape(&target)
    }

    pub fn mean_dims(
        &self,
        dims: Option<&[i64]>,
        keepdim: bool,
        dtype: Option<DType>,
    ) -> Result<Tensor> {
        crate::ops::trace::traced(
            "mean",
            &[self],
            || reduce_attrs(dims, keepdim),
            || self.mean_untraced(dims, keepdim, dtype),
        )
    }
    fn mean_untraced(
        &self,
        dims: Option<&[i64]>,
        keepdim: bool,
        dtype: Option<DType>,
    ) -> Result<Tensor> {
        let x = match dtype {
            Some(d) => self.to_dtype(d)?,
            None => self.clone(),
        };
        float_only("mean", x.dtype())?;
        let plan = Plan::new(&x, dims)?;
        let n = plan.len as f64;
        let out = {
            let _g = crate::autograd::GradModeGuard::new(false);
            x.sum_dims(dims, keepdim, None)?.div_scalar(n)?
        };
        if needs_grad(&[&x]) {
            let (ks, shape) = (plan.keep_shape.clone(), x.shape().to_vec());
            let name = if dims.is_none() {
                "MeanBackward0"
            } else {
                "MeanBackward1"
            };
            record(name, &[&x], &out, move |g, _| {
                Ok(vec![Some(expand_back(&g.div_scalar(n)?, &ks, &shape)?)])
            });
        }
        Ok(out)
    }

    pub fn prod_dims(&self, dim: Option<i64>, keepdim: bool) -> Result<Tensor> {
        let out_dtype = if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::I64
        };
        let x = self.to_dtype(out_dtype)?;
        let dims_v = dim.map(|d| vec![d]);
        let plan = Plan::new(&x, dims_v.as_deref())?;
        let out = plan.reduce(&x, ReduceOp::Prod, keepdim)?;
        if needs_grad(&[&x]) {
            let (sx, so) = (SavedTensor::new(&x), SavedTensor::new(&out));
            let (ks, shape) = (plan.keep_shape.clone(), x.shape().to_vec());
            let dims: Vec<i64> = plan.dims.iter().map(|&d| d as i64).collect();
            record(
                if dim.is_none() {
                    "ProdBackward0"
                } else {
                    "ProdBackward1"
                },
                &[&x],
                &out,
                move |g, _| {
                    // Exact with zeros: one zero gets the product of the others, two or more give 0.
                    let x = sx.unpack()?;
                    let is_zero = x.eq_scalar(0.0)?;
                    let zeros = is_zero
                        .to_dtype(x.dtype())?
                        .sum_dims(Some(&dims), true, None)?;
                    let prod = expand_back(&so.unpack()?, &ks, &shape)?;
                    let g = expand_back(g, &ks, &shape)?;
                    let no_zero = prod.div(&x)?;
                    let others = x
                        .where_scalar(&is_zero, 1.0)?
                        .prod_keep(&dims)?
                        .expand_to(&shape)?;
                    let one_zero = others.where_scalar(&is_zero.bitwise_not()?, 0.0)?;
                    let d = no_zero.where_(
                        &zeros.eq_scalar(0.0)?.expand_to(&shape)?,
                        &one_zero.where_scalar(
                            &zeros.eq_scalar(1.0)?.bitwise_not()?.expand_to(&shape)?,
                            0.0,
                        )?,
                    )?;
                    Ok(vec![Some(g.mul(&d)?)])
                },
            );
        }
        Ok(out)
    }
    fn prod_keep(&self, dims: &[i64]) -> Result<Tensor> {
        let mut r = self.clone();
        for &d in dims {
            r = r.prod_dims(Some(d), true)?;
        }
        Ok(r)
    }

    /// `max(dim)` / `min(dim)`: values and int64 indices; the gradient goes to the index.
    pub fn max_min_dim(&self, dim: i64, keepdim: bool, want_max: bool) -> Result<(Tensor, Tensor)> {
        let name = if want_max { "max" } else { "min" };
        let plan = Plan::new(self, Some(&[dim]))?;
        if plan.len == 0 {
            return Err(Error::Index(format!(
                "{name}(): Expected reduction dim {dim} to have non-zero size."
            )));
        }
        let shape = plan.out_shape(keepdim).to_vec();
        let (vals, idx) = if self.dtype() == DType::Bool {
            let (v, i) = self
                .to_dtype_raw(DType::U8)?
                .max_min_dim(dim, keepdim, want_max)?;
            (v.to_dtype_raw(DType::Bool)?, i)
        } else {
            let (v, i) =
                self.storage()
                    .arg_reduce(&plan.permuted, plan.rows, plan.len, want_max)?;
            (
                Tensor::from_storage(v, shape.as_slice()),
                Tensor::from_storage(i, shape.as_slice()),
            )
        };
        if needs_grad(&[self]) {
            let (ks, in_shape) = (plan.keep_shape.clone(), self.shape().to_vec());
            let d = wrap_dim(dim, self.dim())? as i64;
            let idx_k = idx.detach();
            let idx_keep: Vec<i64> = ks.iter().map(|&v| v as i64).collect();
            record(
                if want_max {
                    "MaxBackward0"
                } else {
                    "MinBackward0"
                },
                &[self],
                &vals,
                move |g, _| {
                    let gk = g.reshape(&idx_keep)?;
                    let ik = idx_k.reshape(&idx_keep)?;
                    let z = crate::ops::creation::zeros(&in_shape, g.dtype(), g.device())?;
                    Ok(vec![Some(z.scatter(d, &ik, &gk, false)?)])
                },
            );
        }
        Ok((vals, idx))
    }

    /// `count_nonzero(dim=None)`: the int64 count of nonzero elements over `dims` (all when
    /// `None`); a dim given twice is PyTorch's error.
    pub fn count_nonzero(&self, dims: Option<&[i64]>) -> Result<Tensor> {
        if let Some(ds) = dims {
            let w = ds
                .iter()
                .map(|&d| wrap_dim(d, self.dim()))
                .collect::<Result<Vec<usize>>>()?;
            if let Some(i) = (1..w.len()).find(|&i| w[..i].contains(&w[i])) {
                return Err(Error::Runtime(format!(
                    "dim {} appears multiple times in the list of dims",
                    w[i]
                )));
            }
        }
        self.detach()
            .ne_scalar(0.0)?
            .sum_dims(dims, false, Some(DType::I64))
    }

    /// `amax`/`amin` (and full `max()`/`min()`): ties share the gradient evenly.
    pub fn amax_amin(
        &self,
        dims: Option<&[i64]>,
        keepdim: bool,
        want_max: bool,
        name: &'static str,
    ) -> Result<Tensor> {
        let plan = Plan::new(self, dims)?;
        if plan.len == 0 {
            return Err(Error::Index(format!(
                "{}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.",
                if want_max { "max" } else { "min" }
            )));
        }
        let out = if self.dtype() == DType::Bool {
            self.to_dtype_raw(DType::U8)?
                .amax_amin(dims, keepdim, want_max, name)?
                .to_dtype_raw(DType::Bool)?
        } else {
            plan.reduce(
                self,
                if want_max {
                    ReduceOp::Max
                } else {
                    ReduceOp::Min
                },
                keepdim,
            )?
        };
        if needs_grad(&[self]) {
            let (sx, so) = (SavedTensor::new(self), SavedTensor::new(&out));
            let (ks, shape) = (plan.keep_shape.clone(), self.shape().to_vec());
            let dims: Vec<i64> = plan.dims.iter().map(|&d| d as i64).collect();
            record(name, &[self], &out, move |g, _| {
                let x = sx.unpack()?;
                let hit = x
                    .eq(&expand_back(&so.unpack()?.detach(), &ks, &shape)?)?
                    .to_dtype(g.dtype())?;
                let count = hit.sum_dims(Some(&dims), true, None)?;
                let share = expand_back(g, &ks, &shape)?.div(&count.expand_to(&shape)?)?;
                Ok(vec![Some(share.mul(&hit)?)])
            });
        }
        Ok(out)
    }

    /// `argmax`/`argmin`; `dim=None` looks at the flattened tensor.
    pub fn argmax_argmin(&self, dim: Option<i64>, keepdim: bool, want_max: bool) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            return Err(Error::Runtime(format!(
                "{}(): does not support bool input",
                if want_max { "argmax" } else { "argmin" }
            )));
        }
        match dim {
            Some(d) => Ok(self.detach().max_min_dim(d, keepdim, want_max)?.1),
            None => {
                if self.numel() == 0 {
                    return Err(Error::Runtime(format!(
                        "{}(): Expected reduction dim to be specified for input.numel() == 0.",
                        if want_max { "argmax" } else { "argmin" }
                    )));
                }
                let flat = self.detach().reshape(&[-1])?;
                let (_, i) = flat.max_min_dim(0, false, want_max)?;
                if keepdim {
                    let ones: Vec<i64> = vec![1; self.dim()];
                    i.reshape(&ones)
                } else {
                    Ok(i)
                }
            }
        }
    }

    /// `var(dim, correction, keepdim)`.
    pub fn var_dims(&self, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        float_only("var", self.dtype())?;
        let plan = Plan::new(self, dims)?;
        let out = plan.reduce(self, ReduceOp::Var { correction }, keepdim)?;
        if needs_grad(&[self]) {
            let sx = SavedTensor::new(self);
            let (ks, shape) = (plan.keep_shape.clone(), self.shape().to_vec());
            let dims: Vec<i64> = plan.dims.iter().map(|&d| d as i64).collect();
            let denom = (plan.len as f64 - correction).max(0.0);
            record("VarBackward0", &[self], &out, move |g, _| {
                let x = sx.unpack()?;
                let mean = x.mean_dims(Some(&dims), true, None)?;
                let d = x.sub(&mean)?.mul_scalar(2.0 / denom)?;
                Ok(vec![Some(expand_back(g, &ks, &shape)?.mul(&d)?)])
            });
        }
        Ok(out)
    }

    pub fn std_dims(&self, dims: Option<&[i64]>, correction: f64, keepdim: bool) -> Result<Tensor> {
        self.var_dims(dims, correction, keepdim)?.sqrt()
    }

    /// `norm(p, dim, keepdim)`: p = 2 (default), 1, inf, -inf, 0 or any positive p. The
    /// gradient at a zero norm is 0, as PyTorch's `norm_backward`.
    pub fn norm(&self, p: f64, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::Runtime(format!(
                "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {}",
                self.dtype().scalar_name()
            )));
        }
        let x = self.clone();
        let out = {
            let _g = crate::autograd::GradModeGuard::new(false);
            // `x·x` needs no `abs` first (the same values, one pass less).
            let a = if p == 2.0 { x.clone() } else { x.abs()? };
            if p == f64::INFINITY {
                a.amax_amin(dims, keepdim, true, "AmaxBackward0")?
            } else if p == f64::NEG_INFINITY {
                a.amax_amin(dims, keepdim, false, "AminBackward0")?
            } else if p == 0.0 {
                a.ne_scalar(0.0)?
                    .to_dtype(x.dtype())?
                    .sum_dims(dims, keepdim, None)?
            } else if p == 1.0 {
                a.sum_dims(dims, keepdim, None)?
            } else if p == 2.0 {
                a.mul(&a)?.sum_dims(dims, keepdim, None)?.sqrt()?
            } else {
                a.pow_scalar(p)?
                    .sum_dims(dims, keepdim, None)?
                    .pow_scalar(1.0 / p)?
            }
        };
        if needs_grad(&[&x]) {
            let (sx, so) = (SavedTensor::new(&x), SavedTensor::new(&out));
            let plan = Plan::new(&x, dims)?;
            let (ks, shape) = (plan.keep_shape.clone(), x.shape().to_vec());
            let rdims: Vec<i64> = plan.dims.iter().map(|&d| d as i64).collect();
            record("NormBackward1", &[&x], &out, move |g, _| {
                let x = sx.unpack()?;
                let n = expand_back(&so.unpack()?, &ks, &shape)?;
                let g = expand_back(g, &ks, &shape)?;
                let d = if p == 0.0 {
                    x.mul_scalar(0.0)?
                } else if p == 1.0 {
                    x.sign()?
                } else if p.is_infinite() {
                    let hit = x.abs()?.eq(&n)?.to_dtype(x.dtype())?;
                    let count = hit.sum_dims(Some(&rdims), true, None)?.expand_to(&shape)?;
                    x.sign()?.mul(&hit)?.div(&count)?
                } else if p == 2.0 {
                    x.div(&n)?.where_scalar(&n.eq_scalar(0.0)?, 0.0)?
                } else {
                    let num = x.mul(&x.abs()?.pow_scalar(p - 2.0)?)?;
                    num.div(&n.pow_scalar(p - 1.0)?)?
                        .where_scalar(&n.eq_scalar(0.0)?, 0.0)?
                };
                Ok(vec![Some(g.mul(&d)?)])
            });
        }
        Ok(out)
    }

    pub fn logsumexp(&self, dims: &[i64], keepdim: bool) -> Result<Tensor> {
        let x = self.to_dtype(self.dtype().to_float())?;
        let plan = Plan::new(&x, Some(dims))?;
        let out = plan.reduce(&x, ReduceOp::LogSumExp, keepdim)?;
        if needs_grad(&[&x]) {
            let (sx, so) = (SavedTensor::new(&x), SavedTensor::new(&out));
            let (ks, shape) = (plan.keep_shape.clone(), x.shape().to_vec());
            record("LogsumexpBackward0", &[&x], &out, move |g, _| {
                let w = sx
                    .unpack()?
                    .sub(&expand_back(&so.unpack()?, &ks, &shape)?)?
                    .exp()?;
                Ok(vec![Some(expand_back(g, &ks, &shape)?.mul(&w)?)])
            });
        }
        Ok(out)
    }

    /// `op` of each row along `dim`, in `self`'s shape (contiguous).
    fn scan_dim(&self, dim: usize, op: ScanOp) -> Result<Tensor> {
        let n = self.dim();
        if dim + 1 < n && self.is_contiguous() {
            // Read in place along the dim where the backend can, rather than transposing
            // the input and the result.
            let shape = self.shape();
            let dims = [
                shape[..dim].iter().product(),
                shape[dim],
                shape[dim + 1..].iter().product(),
            ];
            if let Some(s) = self.storage().scan_middle(self.offset(), dims, op)? {
                return Ok(Tensor::from_storage(s, shape));
            }
        }
        let mut order: Vec<i64> = (0..n as i64).filter(|&d| d != dim as i64).collect();
        if n > 0 {
            order.push(dim as i64);
        }
        let pl = self.layout().permute(&order)?;
        let len = self.shape().get(dim).copied().unwrap_or(1);
        let rows = self.numel().checked_div(len).unwrap_or(0);
        let s = self.storage().scan(&pl, rows, len, op)?;
        let t = Tensor::from_storage(s, pl.shape.as_slice());
        if dim + 1 == n || n == 0 {
            return Ok(t);
        }
        // Move the last dim back to `dim`, then make it contiguous.
        let mut back: Vec<i64> = (0..n as i64 - 1).collect();
        back.insert(dim, n as i64 - 1);
        t.with_layout(t.layout().permute(&back)?).contiguous_copy()
    }

    pub fn softmax(&self, dim: i64) -> Result<Tensor> {
        crate::ops::trace::traced(
            "softmax",
            &[self],
            || vec![("dim", crate::ops::trace::Attr::Int(dim))],
            || self.softmax_impl(dim, false),
        )
    }
    pub fn log_softmax(&self, dim: i64) -> Result<Tensor> {
        crate::ops::trace::traced(
            "log_softmax",
            &[self],
            || vec![("dim", crate::ops::trace::Attr::Int(dim))],
            || self.softmax_impl(dim, true),
        )
    }
    fn softmax_impl(&self, dim: i64, log: bool) -> Result<Tensor> {
        let d = wrap_dim(dim, self.dim())?;
        if !self.dtype().is_float() {
            // PyTorch has no integer softmax kernel (pass `dtype=` to compute in a float);
            // an empty input comes back as it is, as there.
            if self.numel() == 0 {
                return Ok(self.detach());
            }
            return Err(Error::NotImplemented(format!(
                "\"{}softmax{}_kernel_impl\" not implemented for '{}'",
                if log { "log_" } else { "" },
                if d + 1 >= self.dim() { "_lastdim" } else { "" },
                self.dtype().scalar_name()
            )));
        }
        let x = self.clone();
        let out = x.scan_dim(
            d,
            if log {
                ScanOp::LogSoftmax
            } else {
                ScanOp::Softmax
            },
        )?;
        if needs_grad(&[&x]) {
            let so = std::sync::Arc::new(std::sync::OnceLock::<SavedTensor>::new());
            let so2 = so.clone();
            let di = d as i64;
            record(
                if log {
                    "LogSoftmaxBackward0"
                } else {
                    "SoftmaxBackward0"
                },
                &[&x],
                &out,
                move |g, _| {
                    let y = so2.get().expect("saved after recording").unpack()?;
                    let rows_last = di as usize + 1 == y.dim() && y.is_contiguous();
                    if rows_last && !is_grad_enabled() {
                        // One fused pass per row; a recorded backward (`create_graph`) takes
                        // the differentiable composite below.
                        let g = g.to_dtype(y.dtype())?.contiguous()?;
                        let (yr, gr) = (
                            (&**y.storage(), y.offset(), y.numel()),
                            (&**g.storage(), g.offset(), g.numel()),
                        );
                        let len = y.shape()[di as usize];
                        let s = Storage::softmax_backward(yr, gr, len, log)?;
                        return Ok(vec![Some(Tensor::from_storage(s, y.shape()))]);
                    }
                    let gi = if log {
                        g.sub(&y.exp()?.mul(&g.sum_dims(Some(&[di]), true, None)?)?)?
                    } else {
                        y.mul(&g.sub(&g.mul(&y)?.sum_dims(Some(&[di]), true, None)?)?)?
                    };
                    Ok(vec![Some(gi)])
                },
            );
            let _ = so.set(SavedTensor::new(&out));
        }
        Ok(out)
    }

    pub fn cumsum(&self, dim: i64, dtype: Option<DType>) -> Result<Tensor> {
        let out_dtype = dtype.unwrap_or(if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::I64
        });
        let x = self.to_dtype(out_dtype)?;
        let d = wrap_dim(dim, x.dim())?;
        let out = x.scan_dim(d, ScanOp::Cumsum)?;
        if needs_grad(&[&x]) {
            let di = d as i64;
            record("CumsumBackward0", &[&x], &out, move |g, _| {
                // Reverse cumulative sum: total − cumsum + g.
                let total = g.sum_dims(Some(&[di]), true, None)?;
                Ok(vec![Some(total.sub(&g.cumsum(di, None)?)?.add(g)?)])
            });
        }
        Ok(out)
    }

    /// `all` / `any` over dims (bool result).
    pub fn all_any(&self, dims: Option<&[i64]>, keepdim: bool, all: bool) -> Result<Tensor> {
        let plan = Plan::new(self, dims)?;
        let out = plan.reduce(
            self,
            if all { ReduceOp::All } else { ReduceOp::Any },
            keepdim,
        )?;
        // uint8 inputs give uint8 results, PyTorch's legacy rule.
        if self.dtype() == DType::U8 {
            out.to_dtype_raw(DType::U8)
        } else {
            Ok(out)
        }
    }
}

/// Lowest finite value of a float dtype: stands for `log 0` in logcumsumexp's backward
/// (−∞ would make `−∞ − (−∞)` = NaN where the output is −∞ too).
fn lowest_finite(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => half::f16::MIN.to_f64(),
        DType::BF16 => half::bf16::MIN.to_f64(),
        DType::F32 => f32::MIN as f64,
        _ => f64::MIN,
    }
}

/// `Σ_{k≥j} t_k` along `d`, as PyTorch's `reversed_cumsum` (flip, cumsum, flip): unlike
/// `total − cumsum + t`, no cancellation when the tail is small against the total.
fn reversed_cumsum(t: &Tensor, d: i64) -> Result<Tensor> {
    t.flip(&[d])?.cumsum(d, None)?.flip(&[d])
}

/// A 1-element-or-less slice along the scan dim: every scan is the identity (or gradient).
fn trivial_scan(t: &Tensor, d: usize) -> bool {
    t.numel() <= 1 || t.shape().get(d).copied().unwrap_or(1) == 1
}

/// The cumulative scans beyond cumsum: `cumprod`, `cummax`/`cummin`, `logcumsumexp`.
impl Tensor {
    /// `cumprod(dim, dtype=None)`: integer and bool inputs multiply in int64, as cumsum.
    pub fn cumprod(&self, dim: i64, dtype: Option<DType>) -> Result<Tensor> {
        let out_dtype = dtype.unwrap_or(if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::I64
        });
        let x = self.to_dtype(out_dtype)?;
        let d = wrap_dim(dim, x.dim())?;
        let out = x.scan_dim(d, ScanOp::Cumprod)?;
        if needs_grad(&[&x]) {
            let sx = SavedTensor::new(&x);
            let so = std::sync::Arc::new(std::sync::OnceLock::<SavedTensor>::new());
            let so2 = so.clone();
            let di = d as i64;
            record("CumprodBackward0", &[&x], &out, move |g, _| {
                let x = sx.unpack()?;
                if trivial_scan(&x, d) {
                    return Ok(vec![Some(g.clone())]);
                }
                let out = so2.get().expect("saved after recording").unpack()?;
                // PyTorch's cumprod_backward, exact with zeros. Along each row, with k the
                // first zero: out_j = Π_{m≤j} x_m, so for i < k the gradient is
                // Σ_{j≥i} g_j·out_j / x_i (x_i ≠ 0 there); at k it is Σ_{j≥k} g_j·out'_j
                // with out' the products with x_k taken as 1; after k every product holds
                // x_k = 0 twice over (once for the output, once for the derivative): 0.
                let is_zero = x.eq_scalar(0.0)?;
                let zeros_so_far = is_zero.to_dtype(DType::I64)?.cumsum(di, None)?;
                let before = zeros_so_far.eq_scalar(0.0)?;
                let first = is_zero.logical_and(&zeros_so_far.eq_scalar(1.0)?)?;
                let x_safe = x.where_scalar(&is_zero, 1.0)?;
                let below = reversed_cumsum(&g.mul(&out)?, di)?.div(&x_safe)?;
                let out_at_first = x.where_scalar(&first, 1.0)?.cumprod(di, None)?;
                let at_first = reversed_cumsum(&g.mul(&out_at_first)?, di)?
                    .where_scalar(&first.logical_not()?, 0.0)?;
                Ok(vec![Some(below.where_(&before, &at_first)?)])
            });
            // Saved after recording, so a double backward sees the output's own history.
            let _ = so.set(SavedTensor::new(&out));
        }
        Ok(out)
    }

    /// `cummax(dim)` / `cummin(dim)`: the running extreme and the int64 index it came from
    /// (NaN propagates, ties take the last index, as PyTorch); the gradient goes to the
    /// indices, summed where several outputs share one.
    pub fn cummax_cummin(&self, dim: i64, want_max: bool) -> Result<(Tensor, Tensor)> {
        let d = wrap_dim(dim, self.dim())?;
        if self.dtype() == DType::Bool {
            let (v, i) = self
                .detach()
                .to_dtype_raw(DType::U8)?
                .cummax_cummin(dim, want_max)?;
            return Ok((v.to_dtype_raw(DType::Bool)?, i));
        }
        let n = self.dim();
        let mut order: Vec<i64> = (0..n as i64).filter(|&k| k != d as i64).collect();
        if n > 0 {
            order.push(d as i64);
        }
        let pl = self.layout().permute(&order)?;
        let len = self.shape().get(d).copied().unwrap_or(1);
        let rows = self.numel().checked_div(len).unwrap_or(0);
        let (v, i) = self.storage().arg_scan(&pl, rows, len, want_max)?;
        let (mut vals, mut idx) = (
            Tensor::from_storage(v, pl.shape.as_slice()),
            Tensor::from_storage(i, pl.shape.as_slice()),
        );
        if d + 1 != n && n > 0 {
            // Move the scanned dim back from last to `d`, contiguous.
            let mut back: Vec<i64> = (0..n as i64 - 1).collect();
            back.insert(d, n as i64 - 1);
            vals = vals
                .with_layout(vals.layout().permute(&back)?)
                .contiguous_copy()?;
            idx = idx
                .with_layout(idx.layout().permute(&back)?)
                .contiguous_copy()?;
        }
        if needs_grad(&[self]) {
            let shape = self.shape().to_vec();
            let idx_k = idx.detach();
            let di = d as i64;
            record(
                if want_max {
                    "CummaxBackward0"
                } else {
                    "CumminBackward0"
                },
                &[self],
                &vals,
                move |g, _| {
                    let z = crate::ops::creation::zeros(&shape, g.dtype(), g.device())?;
                    if z.numel() == 0 {
                        return Ok(vec![Some(z)]);
                    }
                    Ok(vec![Some(z.scatter(di, &idx_k, g, true)?)])
                },
            );
        }
        Ok((vals, idx))
    }

    /// `logcumsumexp(dim)`: floats only, as PyTorch.
    pub fn logcumsumexp(&self, dim: i64) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::NotImplemented(format!(
                "\"logcumsumexp_out_{}\" not implemented for '{}'",
                if self.device().is_cuda() {
                    "cuda"
                } else {
                    "cpu"
                },
                self.dtype().scalar_name()
            )));
        }
        let d = wrap_dim(dim, self.dim())?;
        let out = self.scan_dim(d, ScanOp::LogCumSumExp)?;
        if needs_grad(&[self]) {
            let sx = SavedTensor::new(self);
            let so = std::sync::Arc::new(std::sync::OnceLock::<SavedTensor>::new());
            let so2 = so.clone();
            let di = d as i64;
            record("LogcumsumexpBackward0", &[self], &out, move |g, _| {
                if g.dim() == 0 || g.numel() == 0 {
                    return Ok(vec![Some(g.clone())]);
                }
                let x = sx.unpack()?;
                let out = so2.get().expect("saved after recording").unpack()?;
                // PyTorch's logcumsumexp_backward: Σ_{j≥i} g_j·e^{x_i − out_j}, with the
                // positive and negative parts of g each summed in log space (a reversed
                // logcumsumexp), so nothing overflows.
                let lowest = lowest_finite(g.dtype());
                let log_abs = g.abs()?.log()?;
                let rev_lcse =
                    |t: &Tensor| -> Result<Tensor> { t.flip(&[di])?.logcumsumexp(di)?.flip(&[di]) };
                let part = |mask: Tensor| -> Result<Tensor> {
                    let log_g = log_abs.where_scalar(&mask.logical_not()?, lowest)?;
                    rev_lcse(&log_g.sub(&out)?)?.add(&x)?.exp()
                };
                let pos = part(g.gt_scalar(0.0)?)?;
                let neg = part(g.lt_scalar(0.0)?)?;
                Ok(vec![Some(pos.sub(&neg)?)])
            });
            let _ = so.set(SavedTensor::new(&out));
        }
        Ok(out)
    }
}
