//! Fused cross-entropy over class indices: log-softmax and NLL in one pass over the logits,
//! with PyTorch's `weight`, `ignore_index`, `label_smoothing` and `reduction`. The backward
//! is written in tensor ops (softmax times a per-row coefficient, minus a constant target
//! distribution), so it stays differentiable.

use crate::autograd::{needs_grad, record, SavedTensor};
use crate::cpu::fused::cross_entropy_row;
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Element};
use crate::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

impl Reduction {
    pub fn parse(s: &str) -> Result<Reduction> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            _ => Err(Error::Value(format!(
                "{s} is not a valid value for reduction"
            ))),
        }
    }
}

/// `cross_entropy(input [N, C], target [N] int64, …)`.
pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    if input.dim() != 2 || !input.dtype().is_float() {
        return Err(Error::Runtime(format!(
            "cross_entropy: expected a 2-D floating point input, got {}-D {}",
            input.dim(),
            input.dtype().name()
        )));
    }
    let (n, c) = (input.shape()[0], input.shape()[1]);
    if target.dtype() != DType::I64 || target.shape() != [n] {
        return Err(Error::Runtime(format!(
            "cross_entropy: expected target of shape [{n}] and dtype int64, got {:?} {}",
            target.shape(),
            target.dtype().name()
        )));
    }
    if let Some(w) = weight {
        if w.shape() != [c] {
            return Err(Error::Runtime(format!(
                "weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {:?}",
                w.shape()
            )));
        }
    }
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(Error::Runtime(format!(
            "label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )));
    }
    let tv = target.to_vec::<i64>();
    if let Some(&bad) = tv
        .iter()
        .find(|&&t| t != ignore_index && (t < 0 || t >= c as i64))
    {
        return Err(Error::Index(format!("Target {bad} is out of bounds.")));
    }
    let dtype = input.dtype();
    let (losses, wsum, coef, dist) = crate::with_float_dtype!(
        dtype,
        T,
        {
            let x = input.contiguous_data::<T>();
            let w: Option<Vec<T>> = weight.map(|w| w.to_vec::<T>());
            let wsum_all: f64 = w
                .as_ref()
                .map_or(c as f64, |w| w.iter().map(|v| v.to_f64()).sum());
            let mut losses = vec![T::default(); n];
            let mut wsum = 0.0f64;
            // Per-row coefficient of softmax in the gradient, and the subtracted distribution.
            let mut coef = vec![T::default(); n];
            let mut dist = vec![T::default(); n * c];
            let eps = label_smoothing;
            for i in 0..n {
                let t = tv[i];
                if t == ignore_index {
                    continue;
                }
                let t = t as usize;
                let row = &x[i * c..(i + 1) * c];
                let (l, _) = cross_entropy_row(row, t, w.as_deref(), eps);
                losses[i] = l;
                let wt = w.as_ref().map_or(1.0, |w| w[t].to_f64());
                wsum += wt;
                coef[i] = T::from_f64((1.0 - eps) * wt + eps / c as f64 * wsum_all);
                for k in 0..c {
                    let wk = w.as_ref().map_or(1.0, |w| w[k].to_f64());
                    let hit = if k == t { (1.0 - eps) * wt } else { 0.0 };
                    dist[i * c + k] = T::from_f64(hit + eps / c as f64 * wk);
                }
            }
            (
                Tensor::from_vec(losses, &[n]),
                wsum,
                Tensor::from_vec(coef, &[n, 1]),
                Tensor::from_vec(dist, &[n, c]),
            )
        },
        unreachable!()
    );
    let out = {
        let _g = crate::autograd::GradModeGuard::new(false);
        match reduction {
            Reduction::None => losses,
            Reduction::Sum => losses.sum()?,
            Reduction::Mean => losses.sum()?.div_scalar(wsum)?,
        }
    };
    if needs_grad(&[input]) {
        let sx = SavedTensor::new(input);
        let scale = if reduction == Reduction::Mean {
            1.0 / wsum
        } else {
            1.0
        };
        record("NllLossBackward0", &[input], &out, move |g, _| {
            let p = sx.unpack()?.softmax(1)?;
            let d = p.mul(&coef)?.sub(&dist)?;
            let g = if reduction == Reduction::None {
                g.unsqueeze(1)?
            } else {
                g.clone()
            };
            Ok(vec![Some(d.mul(&g)?.mul_scalar(scale)?)])
        });
    }
    Ok(out)
}
