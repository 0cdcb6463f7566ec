//! `nn.RNN`, `nn.LSTM` (with `proj_size`) and `nn.GRU` for inference: stacked layers, one or
//! two directions, PyTorch's parameter names and gate order, each layer and direction one
//! run of the engine's recurrent kernel.

use super::{Module, StateDict};
use crate::backend::RnnCell;
use crate::error::{Error, Result};
use crate::ops::creation::zeros;
use crate::ops::join::{cat, stack};
use crate::ops::rnn::{rnn_layer, RnnWeights};
use crate::tensor::Tensor;

/// Every step's output (`[steps, batch, directions·hidden]`, batch first when the layer
/// is), the final hidden states (`[layers·directions, batch, hidden]`) and, for an LSTM, the
/// final cell states.
pub type RecurrentOutput = (Tensor, Tensor, Option<Tensor>);

/// One direction of one layer: `weight_ih`, `weight_hh`, the optional biases and LSTM's
/// projection `weight_hr`.
struct Direction {
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Option<Tensor>,
    b_hh: Option<Tensor>,
    w_hr: Option<Tensor>,
}

/// A recurrent stack: `nn.RNN` (tanh or relu), `nn.LSTM` or `nn.GRU`.
pub struct Recurrent {
    cell: RnnCell,
    /// Per layer, its directions (forward, then reverse).
    layers: Vec<Vec<Direction>>,
    batch_first: bool,
}

impl Recurrent {
    /// `nn.LSTM` with `num_layers` layers saved under `prefix` (`{prefix}.weight_ih_l0`, …).
    pub fn lstm(
        sd: &StateDict,
        prefix: &str,
        num_layers: usize,
        bidirectional: bool,
    ) -> Result<Self> {
        Self::load(sd, prefix, RnnCell::Lstm, num_layers, bidirectional)
    }
    /// `nn.GRU` with `num_layers` layers saved under `prefix`.
    pub fn gru(
        sd: &StateDict,
        prefix: &str,
        num_layers: usize,
        bidirectional: bool,
    ) -> Result<Self> {
        Self::load(sd, prefix, RnnCell::Gru, num_layers, bidirectional)
    }
    /// `nn.RNN` (`nonlinearity='tanh'`, or `'relu'` with `relu`) saved under `prefix`.
    pub fn rnn(
        sd: &StateDict,
        prefix: &str,
        num_layers: usize,
        bidirectional: bool,
        relu: bool,
    ) -> Result<Self> {
        let cell = if relu { RnnCell::Relu } else { RnnCell::Tanh };
        Self::load(sd, prefix, cell, num_layers, bidirectional)
    }

    fn load(
        sd: &StateDict,
        prefix: &str,
        cell: RnnCell,
        num_layers: usize,
        bidirectional: bool,
    ) -> Result<Self> {
        let suffixes: &[&str] = if bidirectional {
            &["", "_reverse"]
        } else {
            &[""]
        };
        let layers = (0..num_layers)
            .map(|l| {
                suffixes
                    .iter()
                    .map(|s| {
                        let name = |p: &str| format!("{p}_l{l}{s}");
                        let dir = Direction {
                            w_ih: sd.param(prefix, &name("weight_ih"), 2)?,
                            w_hh: sd.param(prefix, &name("weight_hh"), 2)?,
                            b_ih: sd.optional(prefix, &name("bias_ih"), 1)?,
                            b_hh: sd.optional(prefix, &name("bias_hh"), 1)?,
                            w_hr: sd.optional(prefix, &name("weight_hr"), 2)?,
                        };
                        let rows = dir.w_hh.shape()[0];
                        if dir.w_ih.shape()[0] != rows || !rows.is_multiple_of(cell.gates()) {
                            return Err(sd.mismatch(
                                prefix,
                                format!(
                                    "layer {l}{s}: weight_ih {:?} and weight_hh {:?} are not the same {} gate blocks of a {:?} cell",
                                    dir.w_ih.shape(),
                                    dir.w_hh.shape(),
                                    cell.gates(),
                                    cell
                                ),
                            ));
                        }
                        Ok(dir)
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Recurrent {
            cell,
            layers,
            batch_first: false,
        })
    }

    /// `batch_first=True`: inputs and outputs `[batch, steps, features]`.
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }

    /// The stack over `x` (`[steps, batch, features]`, or batch first, or unbatched
    /// `[steps, features]`) from the initial states `h0` (and an LSTM's `c0`), zeros when
    /// not given, as PyTorch's `forward(input, hx)`.
    pub fn run(
        &self,
        x: &Tensor,
        h0: Option<&Tensor>,
        c0: Option<&Tensor>,
    ) -> Result<RecurrentOutput> {
        let _off = crate::autograd::GradModeGuard::new(false);
        let unbatched = x.dim() == 2;
        if !unbatched && x.dim() != 3 {
            let name = match self.cell {
                RnnCell::Lstm => "LSTM",
                RnnCell::Gru => "GRU",
                RnnCell::Tanh | RnnCell::Relu => "RNN",
            };
            return Err(Error::Runtime(format!(
                "{name}: Expected input to be 2D or 3D, got {}D instead",
                x.dim()
            )));
        }
        let mut input = if unbatched {
            x.unsqueeze(1)?
        } else if self.batch_first {
            x.transpose(0, 1)?
        } else {
            x.clone()
        };
        let batch = input.shape()[1];
        let dirs = self.layers.first().map_or(1, Vec::len);
        let state = |given: Option<&Tensor>, size: usize| -> Result<Tensor> {
            match given {
                Some(t) if unbatched => t.unsqueeze(1),
                Some(t) => Ok(t.clone()),
                None => zeros(
                    &[self.layers.len() * dirs, batch, size],
                    x.dtype(),
                    x.device(),
                ),
            }
        };
        let first = &self.layers[0][0];
        let hidden = first.w_hh.shape()[0] / self.cell.gates();
        let out_size = first.w_hr.as_ref().map_or(hidden, |w| w.shape()[0]);
        let h0 = state(h0, out_size)?;
        let c0 = match self.cell {
            RnnCell::Lstm => Some(state(c0, hidden)?),
            _ => None,
        };
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for (l, layer) in self.layers.iter().enumerate() {
            let mut outs = Vec::new();
            for (d, w) in layer.iter().enumerate() {
                let at = (l * dirs + d) as i64;
                let c = c0.as_ref().map(|c| c.select(0, at)).transpose()?;
                let weights = RnnWeights {
                    w_ih: &w.w_ih,
                    w_hh: &w.w_hh,
                    b_ih: w.b_ih.as_ref(),
                    b_hh: w.b_hh.as_ref(),
                    w_hr: w.w_hr.as_ref(),
                };
                let (out, h, c) = rnn_layer(
                    self.cell,
                    &input,
                    weights,
                    &h0.select(0, at)?,
                    c.as_ref(),
                    None,
                    d == 1,
                )?;
                outs.push(out);
                hs.push(h);
                cs.extend(c);
            }
            input = if outs.len() == 1 {
                outs.remove(0)
            } else {
                cat(&outs, 2)?
            };
        }
        let (mut h_n, mut c_n) = (
            stack(&hs, 0)?,
            (!cs.is_empty()).then(|| stack(&cs, 0)).transpose()?,
        );
        if unbatched {
            input = input.squeeze(Some(&[1]))?;
            h_n = h_n.squeeze(Some(&[1]))?;
            c_n = c_n.map(|c| c.squeeze(Some(&[1]))).transpose()?;
        } else if self.batch_first {
            input = input.transpose(0, 1)?;
        }
        Ok((input, h_n, c_n))
    }
}

impl Module for Recurrent {
    /// Every step's output from zero initial states.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.run(x, None, None)?.0)
    }
}
