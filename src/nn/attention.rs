//! `nn.MultiheadAttention` and `nn.TransformerEncoderLayer` for inference, PyTorch's
//! parameter names (`in_proj_weight`, `out_proj.weight`, `linear1`, `norm1`, …).

use super::layers::{LayerNorm, Linear};
use super::{Module, StateDict};
use crate::error::{Error, Result};
use crate::ops::Scalar;
use crate::tensor::dtype::DType;
use crate::tensor::Tensor;

/// `nn.MultiheadAttention` with one packed input projection (`kdim = vdim = embed_dim`).
pub struct MultiheadAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    embed: usize,
    batch_first: bool,
}

impl MultiheadAttention {
    /// `{prefix}.in_proj_weight` (`[3·embed_dim, embed_dim]`), `{prefix}.in_proj_bias` when
    /// saved, and `{prefix}.out_proj`, split into `num_heads` heads.
    pub fn load(sd: &StateDict, prefix: &str, num_heads: usize) -> Result<MultiheadAttention> {
        let w = sd.param(prefix, "in_proj_weight", 2)?;
        let embed = w.shape()[1];
        if w.shape()[0] != 3 * embed || num_heads == 0 || !embed.is_multiple_of(num_heads) {
            return Err(sd.mismatch(
                prefix,
                format!(
                    "in_proj_weight of shape {:?} is not three [embed_dim, embed_dim] blocks of {num_heads} heads",
                    w.shape()
                ),
            ));
        }
        let b = sd.optional(prefix, "in_proj_bias", 1)?;
        let part = |t: &Tensor, i: i64| t.narrow(0, i * embed as i64, embed);
        let proj = |i| -> Result<Linear> {
            Ok(Linear::new(
                part(&w, i)?,
                b.as_ref().map(|b| part(b, i)).transpose()?,
            ))
        };
        Ok(MultiheadAttention {
            q: proj(0)?,
            k: proj(1)?,
            v: proj(2)?,
            out: Linear::load(sd, &StateDict::key(prefix, "out_proj"))?,
            heads: num_heads,
            embed,
            batch_first: false,
        })
    }

    /// `batch_first=True`: inputs and output `[batch, seq, embed]`.
    pub fn batch_first(mut self, on: bool) -> MultiheadAttention {
        self.batch_first = on;
        self
    }

    /// The attention output of `query` over `key` and `value` (`[seq, batch, embed]`, batch
    /// first when set, or unbatched `[seq, embed]`), as PyTorch's `forward(query, key, value,
    /// key_padding_mask, need_weights=False, attn_mask)`: a boolean mask hides the positions
    /// where it is true, a float mask is added to the scores.
    pub fn attend(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let _off = crate::autograd::GradModeGuard::new(false);
        let unbatched = query.dim() == 2;
        let seq_first = |t: &Tensor| {
            if unbatched {
                t.unsqueeze(1)
            } else if self.batch_first {
                t.transpose(0, 1)
            } else {
                Ok(t.clone())
            }
        };
        let (q, k, v) = (seq_first(query)?, seq_first(key)?, seq_first(value)?);
        if q.dim() != 3 || q.shape()[2] != self.embed {
            return Err(Error::Runtime(format!(
                "MultiheadAttention: query of shape {:?}, expected (L, N, {}) or (L, {})",
                query.shape(),
                self.embed,
                self.embed
            )));
        }
        let (l, n, s) = (q.shape()[0], q.shape()[1], k.shape()[0]);
        let (h, hd) = (self.heads, self.embed / self.heads);
        // [seq, n, embed] -> [n·heads, seq, head_dim]
        let heads = |t: Tensor, len: usize| {
            t.reshape(&[len as i64, (n * h) as i64, hd as i64])?
                .transpose(0, 1)
        };
        let q = heads(self.q.forward(&q)?, l)?.mul_scalar(1.0 / (hd as f64).sqrt())?;
        let k = heads(self.k.forward(&k)?, s)?;
        let v = heads(self.v.forward(&v)?, s)?;
        let mut scores = q.matmul(&k.transpose(1, 2)?)?;
        let mut apply = |mask: &Tensor| -> Result<()> {
            scores = if mask.dtype() == DType::Bool {
                scores.masked_fill(mask, Scalar::Float(f64::NEG_INFINITY))?
            } else {
                scores.add(mask)?
            };
            Ok(())
        };
        if let Some(m) = attn_mask {
            apply(m)?;
        }
        if let Some(m) = key_padding_mask {
            let m = if unbatched {
                m.unsqueeze(0)?
            } else {
                m.clone()
            };
            // [n, s] -> [n·heads, 1, s]
            let m = m
                .reshape(&[n as i64, 1, 1, s as i64])?
                .expand(&[n as i64, h as i64, 1, s as i64])?
                .reshape(&[(n * h) as i64, 1, s as i64])?;
            apply(&m)?;
        }
        let out = scores.softmax(-1)?.matmul(&v)?.transpose(0, 1)?.reshape(&[
            l as i64,
            n as i64,
            self.embed as i64,
        ])?;
        let out = self.out.forward(&out)?;
        if unbatched {
            out.squeeze(Some(&[1]))
        } else if self.batch_first {
            out.transpose(0, 1)
        } else {
            Ok(out)
        }
    }
}

impl Module for MultiheadAttention {
    /// Self-attention of `x`, no masks.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.attend(x, x, x, None, None)
    }
}

/// `nn.TransformerEncoderLayer`: self-attention and a ReLU (or GELU) feed-forward block,
/// each with a residual connection and layer norm (after each block, or before with
/// `norm_first`).
pub struct TransformerEncoderLayer {
    attn: MultiheadAttention,
    linear1: Linear,
    linear2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    gelu: bool,
    norm_first: bool,
}

impl TransformerEncoderLayer {
    /// `{prefix}.self_attn`, `{prefix}.linear1`, `{prefix}.linear2`, `{prefix}.norm1` and
    /// `{prefix}.norm2`, with `nhead` heads; ReLU, post-norm, eps 1e-5 unless set.
    pub fn load(sd: &StateDict, prefix: &str, nhead: usize) -> Result<TransformerEncoderLayer> {
        let at = |name: &str| StateDict::key(prefix, name);
        Ok(TransformerEncoderLayer {
            attn: MultiheadAttention::load(sd, &at("self_attn"), nhead)?,
            linear1: Linear::load(sd, &at("linear1"))?,
            linear2: Linear::load(sd, &at("linear2"))?,
            norm1: LayerNorm::load(sd, &at("norm1"))?,
            norm2: LayerNorm::load(sd, &at("norm2"))?,
            gelu: false,
            norm_first: false,
        })
    }
    pub fn batch_first(mut self, on: bool) -> Self {
        self.attn = self.attn.batch_first(on);
        self
    }
    pub fn norm_first(mut self, on: bool) -> Self {
        self.norm_first = on;
        self
    }
    /// `activation="gelu"`.
    pub fn gelu(mut self, on: bool) -> Self {
        self.gelu = on;
        self
    }
    /// `layer_norm_eps`.
    pub fn eps(mut self, eps: f64) -> Self {
        self.norm1 = self.norm1.eps(eps);
        self.norm2 = self.norm2.eps(eps);
        self
    }

    /// The layer over `src` with PyTorch's `src_mask` and `src_key_padding_mask`.
    pub fn run(
        &self,
        src: &Tensor,
        src_mask: Option<&Tensor>,
        src_key_padding_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let _off = crate::autograd::GradModeGuard::new(false);
        let sa = |x: &Tensor| self.attn.attend(x, x, x, src_key_padding_mask, src_mask);
        let ff = |x: &Tensor| {
            let h = self.linear1.forward(x)?;
            let h = if self.gelu { h.gelu(false)? } else { h.relu()? };
            self.linear2.forward(&h)
        };
        if self.norm_first {
            let x = src.add(&sa(&self.norm1.forward(src)?)?)?;
            x.add(&ff(&self.norm2.forward(&x)?)?)
        } else {
            let x = self.norm1.forward(&src.add(&sa(src)?)?)?;
            self.norm2.forward(&x.add(&ff(&x)?)?)
        }
    }
}

impl Module for TransformerEncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, None, None)
    }
}
