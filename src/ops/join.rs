//! Joining tensors: `cat` and `stack`; the backward splits the gradient back.

use crate::autograd::{needs_grad, Edge, Node, OutputMeta};
use crate::error::{wrap_dim, Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::tensor::storage::Storage;
use crate::Tensor;

/// `cat(tensors, dim)`. Legacy 1-D empty tensors are skipped, as PyTorch does.
pub fn cat(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
    crate::ops::trace::traced(
        "cat",
        &tensors.iter().collect::<Vec<_>>(),
        || vec![("dim", crate::ops::trace::Attr::Int(dim))],
        || {
            if tensors.is_empty() {
                return Err(Error::Runtime(
                    "torch.cat(): expected a non-empty list of Tensors".into(),
                ));
            }
            // The result's dtype promotes over every input, the skipped ones too.
            let dtype = tensors
                .iter()
                .map(|t| t.dtype())
                .reduce(DType::promote)
                .unwrap_or(DType::F32);
            let parts: Vec<&Tensor> = tensors
                .iter()
                .filter(|t| !(t.dim() == 1 && t.numel() == 0))
                .collect();
            let Some(first) = parts.first() else {
                return crate::ops::creation::zeros(&[0], dtype, tensors[0].device());
            };
            if first.dim() == 0 {
                return Err(Error::Runtime(
                    "zero-dimensional tensor (at position 0) cannot be concatenated".into(),
                ));
            }
            let d = wrap_dim(dim, first.dim())?;
            let mut shape = first.shape().to_vec();
            shape[d] = 0;
            for (i, t) in parts.iter().enumerate() {
                if t.dim() != first.dim() {
                    return Err(Error::Runtime(format!(
                        "Tensors must have same number of dimensions: got {} and {}",
                        first.dim(),
                        t.dim()
                    )));
                }
                for k in 0..t.dim() {
                    if k != d && t.shape()[k] != first.shape()[k] {
                        return Err(Error::Runtime(format!(
                        "Sizes of tensors must match except in dimension {d}. Expected size {} but got size {} for tensor number {i} in the list.",
                        first.shape()[k],
                        t.shape()[k]
                    )));
                    }
                }
                if t.device() != first.device() {
                    return Err(Error::Runtime(format!(
                    "Expected all tensors to be on the same device, but found at least two devices, {} and {}!",
                    first.device(),
                    t.device()
                )));
                }
                shape[d] += t.shape()[d];
            }
            let views: Vec<_> = parts.iter().map(|t| (&**t.storage(), t.layout())).collect();
            let storage = Storage::cat(&views, d, &shape, dtype, first.device())?;
            let out = Tensor::from_storage(storage, &shape[..]);
            let refs: Vec<&Tensor> = tensors.iter().collect();
            if needs_grad(&refs) {
                // Legacy empty 1-D inputs took no part; their gradient is an empty tensor.
                let skipped: Vec<bool> = tensors
                    .iter()
                    .map(|t| t.dim() == 1 && t.numel() == 0)
                    .collect();
                let sizes: Vec<usize> = tensors
                    .iter()
                    .zip(&skipped)
                    .map(|(t, &s)| if s { 0 } else { t.shape()[d] })
                    .collect();
                let dtypes: Vec<DType> = tensors.iter().map(|t| t.dtype()).collect();
                let edges: Vec<Option<Edge>> = tensors.iter().map(|t| t.gradient_edge()).collect();
                let node = Node::new(
                    "CatBackward0",
                    edges,
                    Box::new(move |g: &[Option<Tensor>], need: &[bool]| {
                        let g = g[0].as_ref().expect("cat has one output");
                        let pieces = g.split_sizes(&sizes, d as i64)?;
                        pieces
                            .into_iter()
                            .zip(need)
                            .zip(&dtypes)
                            .zip(&skipped)
                            .map(|(((p, &n), &dt), &s)| match (n, s) {
                                (false, _) => None,
                                (true, true) => {
                                    Some(crate::ops::creation::zeros(&[0], dt, p.device()))
                                }
                                (true, false) => Some(p.to_dtype(dt)),
                            })
                            .map(Option::transpose)
                            .collect()
                    }),
                    vec![OutputMeta::of(&out)],
                );
                out.set_history(node, 0);
            }
            Ok(out)
        },
    )
}

/// `stack(tensors, dim)`: all the same shape, joined along a new dim.
pub fn stack(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
    crate::ops::trace::traced(
        "stack",
        &tensors.iter().collect::<Vec<_>>(),
        || vec![("dim", crate::ops::trace::Attr::Int(dim))],
        || {
            let Some(first) = tensors.first() else {
                return Err(Error::Runtime(
                    "stack expects a non-empty TensorList".into(),
                ));
            };
            for (i, t) in tensors.iter().enumerate() {
                if t.shape() != first.shape() {
                    return Err(Error::Runtime(format!(
                    "stack expects each tensor to be equal size, but got {} at entry 0 and {} at entry {i}",
                    fmt_shape(first.shape()),
                    fmt_shape(t.shape())
                )));
                }
            }
            let d = wrap_dim(dim, first.dim() + 1)? as i64;
            let parts: Vec<Tensor> = tensors
                .iter()
                .map(|t| t.unsqueeze(d))
                .collect::<Result<_>>()?;
            cat(&parts, d)
        },
    )
}
