//! Ordering ops: `sort`, `argsort`, `topk`. The kernels find indices; values are gathered
//! with them, so the gradient is gather's (scattered back to the chosen positions).

use crate::error::{wrap_dim, Error, Result};
use crate::Tensor;

impl Tensor {
    /// Indices ordering each row along `dim`, first `k` of them (stable).
    fn order_indices(&self, dim: usize, descending: bool, k: usize) -> Result<Tensor> {
        let n = self.dim();
        let mut order: Vec<i64> = (0..n as i64).filter(|&d| d != dim as i64).collect();
        order.push(dim as i64);
        let moved = self.detach().permute(&order)?;
        let len = self.shape().get(dim).copied().unwrap_or(1);
        let rows = self.numel().checked_div(len).unwrap_or(0);
        let idx = self
            .storage()
            .sort(moved.layout(), rows, len, descending, k)?;
        let mut shape = moved.shape().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = k;
        }
        let t = Tensor::from_storage(idx, shape.as_slice());
        if n == 0 {
            return Ok(t);
        }
        let mut back: Vec<i64> = (0..n as i64 - 1).collect();
        back.insert(dim, n as i64 - 1);
        t.permute(&back)?.contiguous_copy()
    }

    /// A 0-d tensor sorted: itself (still in the graph, as PyTorch's view) and index 0.
    fn zero_dim_order(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            self.view(&[])?,
            crate::ops::creation::zeros(&[], crate::DType::I64, self.device())?,
        ))
    }

    /// `sort(dim, descending)` → (values, indices).
    pub fn sort(&self, dim: i64, descending: bool) -> Result<(Tensor, Tensor)> {
        let d = wrap_dim(dim, self.dim())?;
        let len = self.shape().get(d).copied().unwrap_or(1);
        if self.dim() == 0 {
            return self.zero_dim_order();
        }
        let idx = self.order_indices(d, descending, len)?;
        Ok((self.gather(d as i64, &idx)?, idx))
    }

    pub fn argsort(&self, dim: i64, descending: bool) -> Result<Tensor> {
        Ok(self.sort(dim, descending)?.1)
    }

    /// `topk(k, dim, largest, sorted)` → (values, indices); always sorted.
    pub fn topk(&self, k: usize, dim: i64, largest: bool) -> Result<(Tensor, Tensor)> {
        if self.dtype() == crate::DType::Bool {
            return Err(Error::Runtime(format!(
                "topk does not support bool dtypes on {}",
                self.device().kind().to_uppercase()
            )));
        }
        let d = wrap_dim(dim, self.dim())?;
        let len = self.shape().get(d).copied().unwrap_or(1);
        if k > len {
            return Err(Error::Runtime("selected index k out of range".into()));
        }
        if self.dim() == 0 {
            // k is 0 or 1 here: PyTorch gives the element either way.
            return self.zero_dim_order();
        }
        let idx = self.order_indices(d, largest, k)?;
        Ok((self.gather(d as i64, &idx)?, idx))
    }
}
