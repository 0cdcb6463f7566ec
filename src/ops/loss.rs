//! Fused cross-entropy over class indices: log-softmax and NLL in one pass over the logits,
//! with PyTorch's `weight`, `ignore_index`, `label_smoothing` and `reduction`. Without label
//! smoothing the backward is one kernel too (`scale·(softmax − onehot)` per row); with it,
//! or when the backward is itself recorded (`create_graph=True`), it is written in tensor
//! ops (softmax times a per-row coefficient, minus the target distribution), so it
//! differentiates again.

use crate::autograd::{needs_grad, record, SavedTensor};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
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
    let x = input.contiguous()?;
    let weight = weight.map(|w| w.to_dtype(x.dtype())).transpose()?;
    let (losses, row_w) = x.storage().cross_entropy(
        x.layout(),
        (target.storage(), target.layout()),
        weight.as_ref().map(|w| (&**w.storage(), w.layout())),
        ignore_index,
        label_smoothing,
    )?;
    let losses = Tensor::from_storage(losses, [n]);
    let row_w = Tensor::from_storage(row_w, [n]);
    let _g = crate::autograd::GradModeGuard::new(false);
    // The weight of the rows counted (0 for ignored ones): the mean divides by its sum.
    let wsum = row_w.sum()?;
    let out = match reduction {
        Reduction::None => losses,
        Reduction::Sum => losses.sum()?,
        Reduction::Mean => losses.sum()?.div(&wsum)?,
    };
    drop(_g);
    if needs_grad(&[input]) {
        let sx = SavedTensor::new(input);
        let target = target.detach();
        let weight = weight.map(|w| w.detach());
        let ignore = crate::ops::Scalar::Int(ignore_index).to_tensor(DType::I64);
        record("NllLossBackward0", &[input], &out, move |g, _| {
            let x = sx.unpack()?;
            let (dtype, device) = (x.dtype(), x.device());
            // The upstream gradient per row (`[n]` or 0-d), with the mean's divisor folded in.
            let g = match reduction {
                Reduction::Mean => g.div(&wsum)?,
                _ => g.clone(),
            };
            // Ignored rows pass nothing, also when every row is ignored (the mean's divisor
            // is then 0 and `g` infinite): PyTorch skips them.
            let g = g.expand_to(&[n])?.where_scalar(&target.eq(&ignore)?, 0.0)?;
            let eps = label_smoothing;
            if eps == 0.0 && !crate::autograd::is_grad_enabled() {
                // d loss_i / d x_i = w_i · (softmax(x_i) − onehot(t_i)), with w_i = 0 for
                // ignored rows, as one kernel over the logits.
                let scale = crate::ops::dense(&row_w.mul(&g)?.expand_to(&[n])?)?;
                let xd = x.contiguous()?;
                let d = xd.storage().cross_entropy_backward(
                    xd.layout(),
                    (target.storage(), target.layout()),
                    scale.storage(),
                )?;
                return Ok(vec![Some(Tensor::from_storage(d, [n, c]))]);
            }
            if eps == 0.0 {
                // Recorded (`create_graph=True`): the same formula in tensor ops, so that it
                // differentiates again. The scaled softmax, then −w_i added at each row's
                // target (not a one-hot matrix; ignored rows add −0 at 0).
                let rw = row_w.mul(&g)?.expand_to(&[n])?;
                let d = x.softmax(1)?.mul(&rw.unsqueeze(1)?)?;
                let zero = crate::ops::creation::zeros(&[], DType::I64, device)?;
                let t = target.where_(&target.ne(&ignore)?, &zero)?;
                let rows = crate::ops::creation::arange(0.0, n as f64, 1.0, DType::I64, device)?;
                return Ok(vec![Some(d.index_put_indices(
                    &[rows, t],
                    &rw.neg()?,
                    true,
                )?)]);
            }
            let classes = crate::ops::creation::arange(0.0, c as f64, 1.0, DType::I64, device)?;
            let hit = target.unsqueeze(1)?.eq(&classes)?.to_dtype(dtype)?;
            // With label smoothing: d loss_i / d x_i = coef_i · softmax(x_i) − dist_i, where
            // the target distribution puts (1−ε)·w_t on the target and ε/C·w_k on every class.
            let valid = target.ne(&ignore)?.to_dtype(dtype)?;
            let w_all = match &weight {
                Some(w) => w.unsqueeze(0)?,
                None => crate::ops::creation::ones(&[1, c], dtype, device)?,
            };
            let spread = w_all.mul_scalar(eps / c as f64)?;
            let dist = hit
                .mul(&row_w.unsqueeze(1)?)?
                .mul_scalar(1.0 - eps)?
                .add(&spread.mul(&valid.unsqueeze(1)?)?)?;
            let coef = dist.sum_dims(Some(&[1]), true, None)?;
            let d = x.softmax(1)?.mul(&coef)?.sub(&dist)?;
            Ok(vec![Some(d.mul(&g.unsqueeze(1)?)?)])
        });
    }
    Ok(out)
}
