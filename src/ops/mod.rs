//! Ops: one file per family, each holding the public op (type promotion, dispatch to a
//! kernel) and, beside it, its backward rule written in tensor ops.

pub mod attention;
pub mod autocast;
pub mod binary;
pub mod blas;
pub mod conv;
pub mod convert;
pub mod creation;
pub mod fold;
pub mod gather;
pub mod grid;
pub mod index;
pub mod inplace;
pub mod join;
pub mod layer_norm;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pad;
pub mod pool;
pub mod random;
pub mod rearrange;
pub mod reduce;
pub mod resample;
pub mod rnn;
pub mod roi;
pub mod search;
pub mod sort;
pub mod ternary;
pub mod trace;
pub mod unary;
pub mod unique;
pub mod view;

use crate::tensor::dtype::{Category, DType};
use crate::Tensor;

pub use crate::tensor::dtype::Scalar;

impl Scalar {
    /// A 0-d CPU tensor holding this number in `dtype`.
    pub fn to_tensor(self, dtype: DType) -> Tensor {
        crate::with_dtype!(dtype, T, Tensor::scalar(self.to_elem::<T>()))
    }
}

/// PyTorch's `combine_categories`: the lower-priority participant only matters when it is
/// of a higher category.
fn combine(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (None, l) => l,
        (h, None) => h,
        (Some(h), Some(l)) => {
            if h.is_float() {
                Some(h)
            } else if h.category() == Category::Bool
                || l.is_float()
                || (l.category() > h.category())
            {
                Some(DType::promote(h, l))
            } else {
                Some(h)
            }
        }
    }
}

/// PyTorch's `result_type` over tensors and wrapped numbers: dimensioned tensors dominate
/// 0-d tensors, which dominate Python numbers, unless a lower class is of a higher category.
pub fn result_type(tensors: &[&Tensor], scalars: &[Scalar]) -> DType {
    let (mut dim, mut zero, mut wrapped): (Option<DType>, Option<DType>, Option<DType>) =
        (None, None, None);
    let join =
        |acc: &mut Option<DType>, d: DType| *acc = Some(acc.map_or(d, |a| DType::promote(a, d)));
    for t in tensors {
        if t.dim() > 0 {
            join(&mut dim, t.dtype())
        } else {
            join(&mut zero, t.dtype())
        }
    }
    for s in scalars {
        join(&mut wrapped, s.dtype());
    }
    combine(combine(dim, zero), wrapped).unwrap_or(DType::default_float())
}

/// One side of a binary op.
#[derive(Clone, Debug)]
pub enum Operand {
    Tensor(Tensor),
    Scalar(Scalar),
}

impl From<&Tensor> for Operand {
    fn from(t: &Tensor) -> Operand {
        Operand::Tensor(t.clone())
    }
}
impl From<Scalar> for Operand {
    fn from(s: Scalar) -> Operand {
        Operand::Scalar(s)
    }
}

/// `t`'s elements as a contiguous run of its storage, (storage, offset, length), for the
/// kernels that update a tensor in place (the optimizers, the in-place ops): the caller has
/// checked that `t` is contiguous.
pub(crate) fn run(t: &Tensor) -> crate::tensor::storage::Run<'_> {
    (t.storage(), t.offset(), t.numel())
}

/// `t` laid out contiguously from offset 0, as kernels that read raw buffers need it: a
/// handle outside the graph (a copy when it is not laid out so). Outside the graph, so that
/// a backward keeping it holds no view's base (which could hold that backward's node).
pub(crate) fn dense(t: &Tensor) -> crate::error::Result<Tensor> {
    if t.is_contiguous() && t.layout().offset == 0 {
        return Ok(t.detach());
    }
    let _off = crate::autograd::GradModeGuard::new(false);
    t.detach().clone_tensor()
}
