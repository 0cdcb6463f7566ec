//! The feed-forward layers: `Linear`, `Conv2d`, pooling, batch and layer norm, `Embedding`,
//! `Flatten`, each as PyTorch's module in evaluation mode.

use super::{Module, StateDict};
use crate::backend::AvgDivisor;
use crate::error::Result;
use crate::ops::conv::{conv, ConvOptions, ConvPadding};
use crate::ops::gather::embedding;
use crate::ops::layer_norm::layer_norm;
use crate::ops::norm::{batch_norm, Affine, RunningStats};
use crate::ops::pool::{avg_pool, max_pool, PoolOptions};
use crate::tensor::Tensor;

/// `nn.Linear`: `y = x·Wᵀ + b` over the last dim of `x`.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer of `weight` (`[out_features, in_features]`) and `bias` (`[out_features]`).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Linear {
        Linear { weight, bias }
    }

    /// `{prefix}.weight` (`[out_features, in_features]`) and, when saved, `{prefix}.bias`.
    pub fn load(sd: &StateDict, prefix: &str) -> Result<Linear> {
        let weight = sd.param(prefix, "weight", 2)?;
        let bias = sd.optional(prefix, "bias", 1)?;
        if let Some(b) = &bias {
            if b.shape()[0] != weight.shape()[0] {
                return Err(sd.mismatch(
                    prefix,
                    format!(
                        "bias of {} for a weight of shape {:?}",
                        b.shape()[0],
                        weight.shape()
                    ),
                ));
            }
        }
        Ok(Linear { weight, bias })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let wt = self.weight.t()?;
        match &self.bias {
            // One product accumulating onto the bias, leading dims folded into the rows,
            // as PyTorch's linear.
            Some(b) if x.dim() >= 2 => {
                let features = x.shape()[x.dim() - 1] as i64;
                let rows = x.reshape(&[-1, features])?;
                let mut shape: Vec<i64> =
                    x.shape()[..x.dim() - 1].iter().map(|&d| d as i64).collect();
                shape.push(self.weight.shape()[0] as i64);
                b.addmm(&rows, &wt, 1.0, 1.0)?.reshape(&shape)
            }
            Some(b) => x.matmul(&wt)?.add(b),
            None => x.matmul(&wt),
        }
    }
}

/// `nn.Conv2d`: channels and kernel from the weight; stride 1, no padding, dilation 1, one
/// group unless set.
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    options: ConvOptions,
}

impl Conv2d {
    /// `{prefix}.weight` (`[out_channels, in_channels / groups, kh, kw]`) and, when saved,
    /// `{prefix}.bias`.
    pub fn load(sd: &StateDict, prefix: &str) -> Result<Conv2d> {
        Ok(Conv2d {
            weight: sd.param(prefix, "weight", 4)?,
            bias: sd.optional(prefix, "bias", 1)?,
            options: ConvOptions {
                stride: vec![1, 1],
                padding: ConvPadding::Explicit(vec![0, 0]),
                dilation: vec![1, 1],
                groups: 1,
                output_padding: vec![0, 0],
            },
        })
    }
    pub fn stride(mut self, s: [i64; 2]) -> Conv2d {
        self.options.stride = s.to_vec();
        self
    }
    pub fn padding(mut self, p: [i64; 2]) -> Conv2d {
        self.options.padding = ConvPadding::Explicit(p.to_vec());
        self
    }
    /// PyTorch's `padding='same'`.
    pub fn padding_same(mut self) -> Conv2d {
        self.options.padding = ConvPadding::Same;
        self
    }
    pub fn dilation(mut self, d: [i64; 2]) -> Conv2d {
        self.options.dilation = d.to_vec();
        self
    }
    pub fn groups(mut self, g: i64) -> Conv2d {
        self.options.groups = g;
        self
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        conv("conv2d", x, &self.weight, self.bias.as_ref(), &self.options)
    }
}

/// The options of a 2-D pool of `kernel`, PyTorch's defaults: stride = kernel, no padding.
fn pool_options(kernel: [i64; 2]) -> PoolOptions {
    PoolOptions {
        kernel: kernel.to_vec(),
        stride: kernel.to_vec(),
        padding: vec![0, 0],
        dilation: vec![1, 1],
        ceil_mode: false,
    }
}

/// `nn.MaxPool2d`.
pub struct MaxPool2d {
    options: PoolOptions,
}

impl MaxPool2d {
    pub fn new(kernel: [i64; 2]) -> MaxPool2d {
        MaxPool2d {
            options: pool_options(kernel),
        }
    }
    pub fn stride(mut self, s: [i64; 2]) -> MaxPool2d {
        self.options.stride = s.to_vec();
        self
    }
    pub fn padding(mut self, p: [i64; 2]) -> MaxPool2d {
        self.options.padding = p.to_vec();
        self
    }
    pub fn ceil_mode(mut self, on: bool) -> MaxPool2d {
        self.options.ceil_mode = on;
        self
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(max_pool("max_pool2d", x, &self.options)?.0)
    }
}

/// `nn.AvgPool2d` (`count_include_pad=True`, as PyTorch's default).
pub struct AvgPool2d {
    options: PoolOptions,
}

impl AvgPool2d {
    pub fn new(kernel: [i64; 2]) -> AvgPool2d {
        AvgPool2d {
            options: pool_options(kernel),
        }
    }
    pub fn stride(mut self, s: [i64; 2]) -> AvgPool2d {
        self.options.stride = s.to_vec();
        self
    }
    pub fn padding(mut self, p: [i64; 2]) -> AvgPool2d {
        self.options.padding = p.to_vec();
        self
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let d = AvgDivisor {
            count_include_pad: true,
            divisor_override: None,
        };
        avg_pool("avg_pool2d", x, &self.options, d)
    }
}

/// `nn.BatchNorm2d` (and 1d/3d: channels are dim 1) in evaluation mode: the running
/// statistics, then the affine parameters when saved; eps 1e-5 unless set.
pub struct BatchNorm2d {
    mean: Tensor,
    var: Tensor,
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    eps: f64,
}

impl BatchNorm2d {
    /// `{prefix}.running_mean`, `{prefix}.running_var` and, when saved (`affine=True`),
    /// `{prefix}.weight` and `{prefix}.bias`.
    pub fn load(sd: &StateDict, prefix: &str) -> Result<BatchNorm2d> {
        Ok(BatchNorm2d {
            mean: sd.param(prefix, "running_mean", 1)?,
            var: sd.param(prefix, "running_var", 1)?,
            weight: sd.optional(prefix, "weight", 1)?,
            bias: sd.optional(prefix, "bias", 1)?,
            eps: 1e-5,
        })
    }
    pub fn eps(mut self, eps: f64) -> BatchNorm2d {
        self.eps = eps;
        self
    }
}

impl Module for BatchNorm2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        batch_norm(
            x,
            RunningStats {
                mean: Some(&self.mean),
                var: Some(&self.var),
                momentum: 0.0,
            },
            Affine {
                weight: self.weight.as_ref(),
                bias: self.bias.as_ref(),
            },
            false,
            self.eps,
        )
    }
}

/// `nn.LayerNorm` with `elementwise_affine=True`: the normalised shape is the weight's;
/// eps 1e-5 unless set.
pub struct LayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
}

impl LayerNorm {
    /// `{prefix}.weight` and, when saved, `{prefix}.bias` (`bias=False` saves none).
    pub fn load(sd: &StateDict, prefix: &str) -> Result<LayerNorm> {
        let weight = sd.get(&StateDict::key(prefix, "weight"))?.detach();
        let rank = weight.dim();
        Ok(LayerNorm {
            bias: sd.optional(prefix, "bias", rank)?,
            weight,
            eps: 1e-5,
        })
    }
    pub fn eps(mut self, eps: f64) -> LayerNorm {
        self.eps = eps;
        self
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(
            x,
            self.weight.shape(),
            Affine {
                weight: Some(&self.weight),
                bias: self.bias.as_ref(),
            },
            self.eps,
        )
    }
}

/// `nn.Embedding`: the rows of `{prefix}.weight` an int64 (or int32) index tensor names.
pub struct Embedding {
    weight: Tensor,
}

impl Embedding {
    pub fn load(sd: &StateDict, prefix: &str) -> Result<Embedding> {
        Ok(Embedding {
            weight: sd.param(prefix, "weight", 2)?,
        })
    }
}

impl Module for Embedding {
    fn forward(&self, indices: &Tensor) -> Result<Tensor> {
        embedding(&self.weight, indices, None, false)
    }
}

/// `nn.Flatten`: dims `start..=end` (1 and -1 by default) as one.
pub struct Flatten {
    start: i64,
    end: i64,
}

impl Flatten {
    pub fn new() -> Flatten {
        Flatten { start: 1, end: -1 }
    }
    pub fn dims(start: i64, end: i64) -> Flatten {
        Flatten { start, end }
    }
}

impl Default for Flatten {
    fn default() -> Flatten {
        Flatten::new()
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(self.start, self.end)
    }
}
