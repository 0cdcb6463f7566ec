//! Matrix products with PyTorch's `matmul` broadcasting, and `einsum` built on them.

use crate::autograd::{grad_if, needs_grad, record, SavedTensor};
use crate::backend::MatBatch;
use crate::cpu::strided::{broadcast_strides, walk};
use crate::error::{Error, Result};
use crate::ops::autocast;
use crate::tensor::layout::{broadcast_shapes, fmt_shape, Layout};
use crate::tensor::storage::Storage;
use crate::Tensor;
use std::collections::HashMap;
use std::sync::Arc;

/// Whether `t` is a matrix stored column-major (a transposed contiguous matrix, such as
/// `nn.Linear`'s `weight.t()`), with both dims above 1 so the layout is unambiguous.
fn is_column_major(t: &Tensor) -> bool {
    let (sh, st) = (t.shape(), t.strides());
    t.dim() == 2 && sh[0] > 1 && sh[1] > 1 && st[0] == 1 && st[1] == sh[0] as isize
}

/// `a @ b` for a gradient, laid out like the operand it belongs to: for a column-major
/// operand it is computed as `(bᵀ @ aᵀ)ᵀ`, so the gradient that reaches `weight` through
/// `weight.t()`'s backward is contiguous and accumulates without a strided copy (PyTorch's
/// `mm_mat2_backward` does the same).
fn grad_product(a: &Tensor, b: &Tensor, column_major: bool) -> Result<Tensor> {
    if column_major {
        b.transpose(-1, -2)?
            .matmul(&a.transpose(-1, -2)?)?
            .transpose(-1, -2)
    } else {
        a.matmul(b)
    }
}

/// `a @ b` for operands of at least 2 dims: batch dims broadcast, the last two multiply.
fn matmul_nd(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (ra, rb) = (a.dim(), b.dim());
    let (m, ka) = (a.shape()[ra - 2], a.shape()[ra - 1]);
    let (kb, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
    if ka != kb {
        return Err(Error::Runtime(format!(
            "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})",
            a.shape()[..ra - 1].iter().product::<usize>(),
            ka,
            kb,
            n
        )));
    }
    let batch = broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
    let sa = broadcast_strides(&a.shape()[..ra - 2], &a.strides()[..ra - 2], &batch);
    let sb = broadcast_strides(&b.shape()[..rb - 2], &b.strides()[..rb - 2], &batch);
    let (mut oa, mut ob) = (vec![], vec![]);
    walk(&batch, [&sa, &sb], [a.offset(), b.offset()], |[x, y]| {
        oa.push(x);
        ob.push(y);
    });
    let mut shape = batch.clone();
    shape.extend([m, n]);
    let (as_, bs) = (a.strides(), b.strides());
    let ma = MatBatch {
        offsets: oa,
        rs: as_[ra - 2],
        cs: as_[ra - 1],
    };
    let mb = MatBatch {
        offsets: ob,
        rs: bs[rb - 2],
        cs: bs[rb - 1],
    };
    let s = Storage::matmul(
        (a.storage(), &ma),
        (b.storage(), &mb),
        (m, n, ka),
        1.0,
        None,
    )?;
    let out = Tensor::from_storage(s, shape.as_slice());
    if needs_grad(&[a, b]) {
        let (xa, xb) = (SavedTensor::new(a), SavedTensor::new(b));
        let (sha, shb) = (a.shape().to_vec(), b.shape().to_vec());
        let name = if ra == 2 && rb == 2 {
            "MmBackward0"
        } else {
            "BmmBackward0"
        };
        let (cma, cmb) = (is_column_major(a), is_column_major(b));
        record(name, &[a, b], &out, move |g, need| {
            Ok(vec![
                grad_if(need[0], || {
                    let bt = xb.unpack()?.transpose(-1, -2)?;
                    grad_product(g, &bt, cma)?.sum_to(&sha)
                })?,
                grad_if(need[1], || {
                    let at = xa.unpack()?.transpose(-1, -2)?;
                    grad_product(&at, g, cmb)?.sum_to(&shb)
                })?,
            ])
        });
    }
    Ok(out)
}

impl Tensor {
    /// `matmul` / `@` with PyTorch's rules for 1-D and batched operands.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        crate::ops::trace::traced("matmul", &[self, other], Vec::new, || {
            autocast::cast(self)?.matmul_uncast(&autocast::cast(other)?)
        })
    }

    fn matmul_uncast(&self, other: &Tensor) -> Result<Tensor> {
        let (ra, rb) = (self.dim(), other.dim());
        if ra == 0 || rb == 0 {
            return Err(Error::Runtime(format!(
                "both arguments to matmul need to be at least 1D, but they are {ra}D and {rb}D"
            )));
        }
        if self.dtype() != other.dtype() {
            return Err(Error::Runtime(format!(
                "expected m1 and m2 to have the same dtype, but got: {} != {}",
                self.dtype().cpp_name(),
                other.dtype().cpp_name()
            )));
        }
        match (ra, rb) {
            (1, 1) => self.dot(other),
            (1, _) => matmul_nd(&self.unsqueeze(0)?, other)?.squeeze(Some(&[-2])),
            (_, 1) => matmul_nd(self, &other.unsqueeze(-1)?)?.squeeze(Some(&[-1])),
            (3.., 2) => {
                // Fold the batch into the rows, as PyTorch does: one product, and a weight
                // gradient that is one product too, instead of a product per batch entry
                // summed over the batch.
                let k = self.shape()[ra - 1] as i64;
                let mut shape: Vec<i64> =
                    self.shape()[..ra - 1].iter().map(|&d| d as i64).collect();
                shape.push(other.shape()[1] as i64);
                matmul_nd(&self.reshape(&[-1, k])?, other)?.reshape(&shape)
            }
            _ => matmul_nd(self, other),
        }
    }

    pub fn mm(&self, other: &Tensor) -> Result<Tensor> {
        if self.dim() != 2 || other.dim() != 2 {
            return Err(Error::Runtime(format!(
                "{} must be a matrix",
                if self.dim() != 2 { "self" } else { "mat2" }
            )));
        }
        self.matmul(other)
    }

    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        if self.dim() != 3 || other.dim() != 3 {
            return Err(Error::Runtime(format!(
                "batch1 must be a 3D tensor, got {}D and {}D",
                self.dim(),
                other.dim()
            )));
        }
        if self.shape()[0] != other.shape()[0] {
            return Err(Error::Runtime(format!(
                "Expected size for first two dimensions of batch2 tensor to be: [{}, {}] but got: [{}, {}].",
                self.shape()[0],
                self.shape()[2],
                other.shape()[0],
                other.shape()[1]
            )));
        }
        self.matmul(other)
    }

    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        if self.dim() != 1 || other.dim() != 1 {
            return Err(Error::Runtime(format!(
                "1D tensors expected, but got {}D and {}D tensors",
                self.dim(),
                other.dim()
            )));
        }
        if self.numel() != other.numel() {
            return Err(Error::Runtime(format!(
                "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements, but got {} and {} elements respectively",
                self.numel(),
                other.numel(),
                self.numel(),
                other.numel()
            )));
        }
        if self.dtype() != other.dtype() {
            return Err(Error::Runtime(format!(
                "dot : expected both vectors to have same dtype, but found {} and {}",
                self.dtype().scalar_name(),
                other.dtype().scalar_name()
            )));
        }
        matmul_nd(&self.unsqueeze(0)?, &other.unsqueeze(-1)?)?.reshape(&[])
    }

    /// `addmm(input, m1, m2, beta, alpha)` = β·input + α·(m1 @ m2), one fused kernel: the
    /// output starts as β·input broadcast and gemm accumulates into it (`nn.Linear`'s op).
    pub fn addmm(&self, m1: &Tensor, m2: &Tensor, beta: f64, alpha: f64) -> Result<Tensor> {
        crate::ops::trace::traced(
            "addmm",
            &[self, m1, m2],
            || {
                vec![
                    ("beta", crate::ops::trace::Attr::Float(beta)),
                    ("alpha", crate::ops::trace::Attr::Float(alpha)),
                ]
            },
            || {
                let (input, m1, m2) = (
                    autocast::cast(self)?,
                    autocast::cast(m1)?,
                    autocast::cast(m2)?,
                );
                input.addmm_uncast(&m1, &m2, beta, alpha)
            },
        )
    }

    fn addmm_uncast(&self, m1: &Tensor, m2: &Tensor, beta: f64, alpha: f64) -> Result<Tensor> {
        if m1.dim() != 2 || m2.dim() != 2 {
            return Err(Error::Runtime(format!(
                "{} must be a matrix",
                if m1.dim() != 2 { "mat1" } else { "mat2" }
            )));
        }
        let (m, k, n) = (m1.shape()[0], m1.shape()[1], m2.shape()[1]);
        if m2.shape()[0] != k {
            return Err(Error::Runtime(format!(
                "mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {}x{n})",
                m2.shape()[0]
            )));
        }
        if m1.dtype() != m2.dtype() || self.dtype() != m1.dtype() {
            return Err(Error::Runtime(format!(
                "expected m1 and m2 to have the same dtype, but got: {} != {}",
                m1.dtype().cpp_name(),
                if m1.dtype() != m2.dtype() {
                    m2.dtype()
                } else {
                    self.dtype()
                }
                .cpp_name()
            )));
        }
        let shape = [m, n];
        if broadcast_shapes(self.shape(), &shape)? != shape {
            return Err(Error::Runtime(format!(
                "addmm: input {} does not broadcast to {}",
                fmt_shape(self.shape()),
                fmt_shape(&shape)
            )));
        }
        let mat = |t: &Tensor| MatBatch {
            offsets: vec![t.offset()],
            rs: t.strides()[0],
            cs: t.strides()[1],
        };
        // β = 0 ignores the input entirely (NaN in it does not leak), as PyTorch; otherwise
        // the product accumulates into a fresh copy of β·input.
        let acc = if beta == 0.0 {
            None
        } else {
            let _g = crate::autograd::GradModeGuard::new(false);
            let input = if beta != 1.0 {
                self.mul_scalar(beta)?
            } else {
                self.clone()
            };
            let input = input.expand_to(&shape)?;
            Some(input.storage().cast(input.layout(), m1.dtype())?)
        };
        let s = Storage::matmul(
            (m1.storage(), &mat(m1)),
            (m2.storage(), &mat(m2)),
            (m, n, k),
            alpha,
            acc,
        )?;
        let out = Tensor::from_storage(s, shape);
        if needs_grad(&[self, m1, m2]) {
            let (x1, x2) = (SavedTensor::new(m1), SavedTensor::new(m2));
            let bias_shape = self.shape().to_vec();
            let (cm1, cm2) = (is_column_major(m1), is_column_major(m2));
            record("AddmmBackward0", &[self, m1, m2], &out, move |g, need| {
                let ga = |t: Tensor| {
                    if alpha != 1.0 {
                        t.mul_scalar(alpha)
                    } else {
                        Ok(t)
                    }
                };
                Ok(vec![
                    grad_if(need[0], || {
                        let gb = if beta != 1.0 {
                            g.mul_scalar(beta)?
                        } else {
                            g.clone()
                        };
                        gb.sum_to(&bias_shape)
                    })?,
                    grad_if(need[1], || ga(grad_product(g, &x2.unpack()?.t()?, cm1)?))?,
                    grad_if(need[2], || ga(grad_product(&x1.unpack()?.t()?, g, cm2)?))?,
                ])
            });
        }
        Ok(out)
    }

    pub fn outer(&self, other: &Tensor) -> Result<Tensor> {
        if self.dim() != 1 || other.dim() != 1 {
            return Err(Error::Runtime("outer: expected 1-D tensors".into()));
        }
        self.unsqueeze(1)?.mul(&other.unsqueeze(0)?)
    }
}

/// A view onto the diagonal of dims `d0`, `d1` (kept at `d0`'s place).
fn diagonal_merge(t: &Tensor, d0: usize, d1: usize) -> Result<Tensor> {
    let f = Arc::new(move |l: &Layout| -> Result<Layout> {
        let mut l = l.clone();
        if l.shape[d0] != l.shape[d1] {
            return Err(Error::Runtime(
                "einsum(): subscript repeated for dims of different sizes".into(),
            ));
        }
        l.strides[d0] += l.strides[d1];
        l.shape.remove(d1);
        l.strides.remove(d1);
        Ok(l)
    });
    t.apply_view("DiagonalBackward0", f)
}

/// Brings one einsum operand to distinct subscripts: repeated ones become diagonals.
fn distinct(mut t: Tensor, mut subs: Vec<char>) -> Result<(Tensor, Vec<char>)> {
    loop {
        let dup = (0..subs.len()).find_map(|i| {
            (i + 1..subs.len())
                .find(|&j| subs[j] == subs[i])
                .map(|j| (i, j))
        });
        match dup {
            Some((i, j)) => {
                t = diagonal_merge(&t, i, j)?;
                subs.remove(j);
            }
            None => return Ok((t, subs)),
        }
    }
}

/// Sums away the subscripts of `t` not in `keep`.
fn sum_unneeded(t: Tensor, subs: Vec<char>, keep: &[char]) -> Result<(Tensor, Vec<char>)> {
    let dims: Vec<i64> = (0..subs.len())
        .filter(|&i| !keep.contains(&subs[i]))
        .map(|i| i as i64)
        .collect();
    if dims.is_empty() {
        return Ok((t, subs));
    }
    let rest = subs.into_iter().filter(|c| keep.contains(c)).collect();
    Ok((t.sum_dims(Some(&dims), false, None)?, rest))
}

/// Contracts two operands over the subscripts not in `keep`, with one batched matmul.
fn contract(
    a: Tensor,
    sa: Vec<char>,
    b: Tensor,
    sb: Vec<char>,
    keep: &[char],
) -> Result<(Tensor, Vec<char>)> {
    let (a, sa) = sum_unneeded(a, sa.clone(), &[keep, &sb].concat())?;
    let (b, sb) = sum_unneeded(b, sb.clone(), &[keep, &sa].concat())?;
    let batch: Vec<char> = sa
        .iter()
        .filter(|c| sb.contains(c) && keep.contains(c))
        .copied()
        .collect();
    let contr: Vec<char> = sa
        .iter()
        .filter(|c| sb.contains(c) && !keep.contains(c))
        .copied()
        .collect();
    let left: Vec<char> = sa.iter().filter(|c| !sb.contains(c)).copied().collect();
    let right: Vec<char> = sb.iter().filter(|c| !sa.contains(c)).copied().collect();
    let size = |t: &Tensor, s: &[char], c: char| t.shape()[s.iter().position(|&x| x == c).unwrap()];
    let pos = |s: &[char], cs: &[char]| -> Vec<i64> {
        cs.iter()
            .map(|c| s.iter().position(|x| x == c).unwrap() as i64)
            .collect()
    };
    let prod = |t: &Tensor, s: &[char], cs: &[char]| {
        cs.iter().map(|&c| size(t, s, c)).product::<usize>() as i64
    };
    let (mut a, mut b) = (a, b);
    for &c in &batch {
        let (x, y) = (size(&a, &sa, c), size(&b, &sb, c));
        if x != y {
            if x != 1 && y != 1 {
                return Err(Error::Runtime(format!("einsum(): operands do not broadcast with remapped shapes (original->remapped): {:?} and {:?}", a.shape(), b.shape())));
            }
            let grow = |t: &Tensor, s: &[char], to: usize| -> Result<Tensor> {
                let mut shape: Vec<i64> = t.shape().iter().map(|&v| v as i64).collect();
                shape[s.iter().position(|&q| q == c).unwrap()] = to as i64;
                t.expand(&shape)
            };
            if x == 1 {
                a = grow(&a, &sa, y)?;
            } else {
                b = grow(&b, &sb, x)?;
            }
        }
    }
    let pa = a.permute(&[pos(&sa, &batch), pos(&sa, &left), pos(&sa, &contr)].concat())?;
    let pb = b.permute(&[pos(&sb, &batch), pos(&sb, &contr), pos(&sb, &right)].concat())?;
    let bsz = prod(&a, &sa, &batch);
    let ra = pa.reshape(&[bsz, prod(&a, &sa, &left), prod(&a, &sa, &contr)])?;
    let rb = pb.reshape(&[bsz, prod(&b, &sb, &contr), prod(&b, &sb, &right)])?;
    let r = ra.matmul(&rb)?;
    let mut shape: Vec<i64> = batch.iter().map(|&c| size(&a, &sa, c) as i64).collect();
    shape.extend(left.iter().map(|&c| size(&a, &sa, c) as i64));
    shape.extend(right.iter().map(|&c| size(&b, &sb, c) as i64));
    Ok((r.reshape(&shape)?, [batch, left, right].concat()))
}

/// Rewrites `...` as fresh subscripts, right-aligned across operands (they broadcast); an
/// implicit output puts them first, as PyTorch does.
fn expand_ellipsis(
    lhs: &str,
    rhs: Option<String>,
    operands: &[Tensor],
) -> Result<(String, Option<String>)> {
    if !lhs.contains("...") {
        return Ok((lhs.to_string(), rhs));
    }
    let used: Vec<char> = lhs
        .chars()
        .chain(rhs.iter().flat_map(|r| r.chars().collect::<Vec<_>>()))
        .collect();
    let pool: Vec<char> = ('A'..='Z')
        .chain('a'..='z')
        .filter(|c| !used.contains(c))
        .collect();
    let parts: Vec<&str> = lhs.split(',').collect();
    let mut counts = vec![0usize; parts.len()];
    for (i, p) in parts.iter().enumerate() {
        if p.contains("...") {
            let explicit = p.len() - 3;
            let nd = operands.get(i).map(|t| t.dim()).unwrap_or(0);
            counts[i] = nd.checked_sub(explicit).ok_or_else(|| Error::Runtime("einsum(): the number of subscripts in the equation does not match the number of dimensions".into()))?;
        }
    }
    let kmax = counts.iter().copied().max().unwrap_or(0);
    let letters: String = pool[..kmax].iter().collect();
    let new_lhs: Vec<String> = parts
        .iter()
        .zip(&counts)
        .map(|(p, &k)| p.replace("...", &letters[kmax - k..]))
        .collect();
    let new_rhs = match rhs {
        Some(r) => Some(r.replace("...", &letters)),
        None => {
            let mut once: Vec<char> = vec![];
            for c in lhs.chars().filter(|c| c.is_ascii_alphabetic()) {
                if lhs.chars().filter(|&x| x == c).count() == 1 {
                    once.push(c);
                }
            }
            once.sort();
            Some(format!("{letters}{}", once.into_iter().collect::<String>()))
        }
    };
    Ok((new_lhs.join(","), new_rhs))
}

/// `einsum(equation, *operands)` (`->` optional; `...` broadcasts).
pub fn einsum(equation: &str, operands: &[Tensor]) -> Result<Tensor> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let (lhs, rhs) = expand_ellipsis(&lhs, rhs, operands)?;
    let inputs: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
    if inputs.len() != operands.len() {
        let which = if inputs.len() > operands.len() {
            "fewer"
        } else {
            "more"
        };
        return Err(Error::Runtime(format!(
            "einsum(): {which} operands were provided than specified in the equation"
        )));
    }
    let mut counts: HashMap<char, usize> = HashMap::new();
    for (subs, t) in inputs.iter().zip(operands) {
        if subs.len() != t.dim() {
            return Err(Error::Runtime(format!(
                "einsum(): the number of subscripts in the equation ({}) does not match the number of dimensions ({}) for operand 0 and no ellipsis was given",
                subs.len(),
                t.dim()
            )));
        }
        for &c in subs {
            if !c.is_ascii_alphabetic() {
                return Err(Error::Runtime(format!("einsum(): invalid subscript given at index 0 in the equation string, subscripts must be in [a-zA-Z], got {c}")));
            }
            *counts.entry(c).or_insert(0) += 1;
        }
    }
    let output: Vec<char> = match rhs {
        Some(r) => r.chars().collect(),
        None => {
            let mut o: Vec<char> = counts
                .iter()
                .filter(|(_, &n)| n == 1)
                .map(|(&c, _)| c)
                .collect();
            o.sort();
            o
        }
    };
    let mut acc: Option<(Tensor, Vec<char>)> = None;
    for (i, (subs, t)) in inputs.iter().zip(operands).enumerate() {
        let (t, s) = distinct(t.clone(), subs.clone())?;
        // Subscripts still needed: the output's and those of operands not yet folded in.
        let later: Vec<char> = inputs[i + 1..].iter().flatten().copied().collect();
        let keep: Vec<char> = [output.clone(), later].concat();
        acc = Some(match acc {
            None => sum_unneeded(t, s, &keep)?,
            Some((at, asub)) => contract(at, asub, t, s, &keep)?,
        });
    }
    let (t, subs) =
        acc.ok_or_else(|| Error::Runtime("einsum(): must provide at least one operand".into()))?;
    let (t, subs) = sum_unneeded(t, subs, &output)?;
    let perm: Vec<i64> = output
        .iter()
        .map(|c| {
            subs.iter().position(|x| x == c).map(|p| p as i64).ok_or_else(|| {
                Error::Runtime(format!("einsum(): output subscript {c} does not appear in the equation for any input operand"))
            })
        })
        .collect::<Result<_>>()?;
    t.permute(&perm)
}

impl Tensor {
    /// `mv(vec)`: matrix × vector.
    pub fn mv(&self, vec: &Tensor) -> Result<Tensor> {
        if self.dim() != 2 || vec.dim() != 1 {
            return Err(Error::Runtime(format!(
                "vector + matrix @ vector expected, got 1, {}, {}",
                self.dim(),
                vec.dim()
            )));
        }
        if self.shape()[1] != vec.shape()[0] {
            return Err(Error::Runtime(format!(
                "size mismatch, got input ({}), mat ({}x{}), vec ({})",
                self.shape()[0],
                self.shape()[0],
                self.shape()[1],
                vec.shape()[0]
            )));
        }
        self.matmul(vec)
    }

    /// `cdist(x2, p)`: the p-norm distances between the rows of two (batched) matrices,
    /// `[.., P, M]` and `[.., R, M]` to `[.., P, R]`. Euclidean distances use
    /// `|x|² + |y|² − 2x·y` (a product, as PyTorch's default for more than 25 rows),
    /// clamped at 0; other `p` the norm of the differences. The gradient at a zero
    /// distance is 0, as PyTorch's.
    pub fn cdist(&self, x2: &Tensor, p: f64) -> Result<Tensor> {
        if self.dim() < 2 || x2.dim() < 2 {
            return Err(Error::Runtime(format!(
                "cdist only supports at least 2D tensors, X1 got: {}D{}",
                self.dim(),
                if self.dim() >= 2 {
                    format!(", X2 got: {}D", x2.dim())
                } else {
                    String::new()
                }
            )));
        }
        let (m1, m2) = (self.shape()[self.dim() - 1], x2.shape()[x2.dim() - 1]);
        if m1 != m2 {
            return Err(Error::Runtime(format!(
                "X1 and X2 must have the same number of columns. X1: {m1} X2: {m2}"
            )));
        }
        if p < 0.0 {
            return Err(Error::Runtime(
                "cdist only supports non-negative p values".into(),
            ));
        }
        if p == 2.0 {
            let sq = |t: &Tensor| t.mul(t)?.sum_dims(Some(&[-1]), true, None);
            let cross = self.matmul(&x2.transpose(-2, -1)?)?;
            let d2 = sq(self)?
                .add(&sq(x2)?.transpose(-2, -1)?)?
                .sub(&cross.mul_scalar(2.0)?)?
                .clamp(Some(crate::ops::Scalar::Float(0.0)), None)?;
            // sqrt with a zero gradient at 0 (where the distance has no derivative).
            let zero = d2.eq_scalar(0.0)?;
            let safe = d2.where_scalar(&zero, 1.0)?.sqrt()?;
            return safe.where_scalar(&zero, 0.0);
        }
        let diff = self.unsqueeze(-2)?.sub(&x2.unsqueeze(-3)?)?;
        diff.norm(p, Some(&[-1]), false)
    }
}
