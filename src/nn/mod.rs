//! Layers for inference from Rust, with no Python: PyTorch's modules as Rust types over the
//! engine's ops, their weights loaded from a state dict the Python side saved
//! in PyTorch's checkpoint format (`rustorch.save(model.state_dict(), path)` or
//! `torch.save`: [`load_pytorch`]) or as safetensors ([`load_safetensors`]; [`load_state_dict`]
//! reads either), under PyTorch's parameter names.
//!
//! ```no_run
//! use rustorch::nn::{load_state_dict, Conv2d, Linear, MaxPool2d, Module, Sequential, ReLU, Flatten};
//! # fn main() -> rustorch::Result<()> {
//! let sd = load_state_dict("lenet.pt")?;
//! let model = Sequential::new()
//!     .push(Conv2d::load(&sd, "features.0")?)
//!     .push(ReLU)
//!     .push(MaxPool2d::new([2, 2]))
//!     .push(Flatten::new())
//!     .push(Linear::load(&sd, "classifier.1")?);
//! # let x = rustorch::Tensor::from_vec(vec![0f32; 3 * 32 * 32], &[1, 3, 32, 32]);
//! let logits = model.forward(&x)?;
//! # Ok(()) }
//! ```
//!
//! Every layer is in evaluation mode (batch norm uses its running statistics, dropout is
//! the identity) and runs with gradients off; a layer's shapes are read from its weights, the
//! rest (stride, padding, eps, ...) set by builder methods with PyTorch's defaults.

mod attention;
mod layers;
mod pytorch;
mod recurrent;
mod safetensors;

pub use attention::{MultiheadAttention, TransformerEncoderLayer};
pub use layers::{
    AvgPool2d, BatchNorm2d, Conv2d, Embedding, Flatten, LayerNorm, Linear, MaxPool2d,
};
pub use pytorch::{load_pytorch, load_state_dict, parse_pytorch};
pub use recurrent::{Recurrent, RecurrentOutput};
pub use safetensors::{load_safetensors, parse_safetensors};

use crate::autograd::GradModeGuard;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// A layer: one input tensor to one output tensor, gradients off.
pub trait Module {
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
}

/// Named tensors loaded from a file, as PyTorch's `state_dict()` names them.
pub struct StateDict {
    tensors: BTreeMap<String, Tensor>,
    source: String,
}

impl StateDict {
    /// `tensors` read from `source` (a file's name, for messages).
    pub fn new(tensors: BTreeMap<String, Tensor>, source: &str) -> StateDict {
        StateDict {
            tensors,
            source: source.to_string(),
        }
    }

    /// The tensor saved under `key`, or an error naming the key and the file.
    pub fn get(&self, key: &str) -> Result<&Tensor> {
        self.tensors.get(key).ok_or_else(|| {
            Error::Runtime(format!("state dict {} has no tensor '{key}'", self.source))
        })
    }

    /// The keys, in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// `prefix.name` (or `name` with an empty prefix).
    fn key(prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    }

    /// The parameter `name` of the layer at `prefix`, with `rank` dims.
    fn param(&self, prefix: &str, name: &str, rank: usize) -> Result<Tensor> {
        let key = Self::key(prefix, name);
        let t = self.get(&key)?;
        if t.dim() != rank {
            return Err(Error::Runtime(format!(
                "state dict {}: '{key}' has shape {:?}, expected {rank} dims",
                self.source,
                t.shape()
            )));
        }
        Ok(t.detach())
    }

    /// As [`StateDict::param`], `None` when the file has no such key (a layer built
    /// without it, as `bias=False`).
    fn optional(&self, prefix: &str, name: &str, rank: usize) -> Result<Option<Tensor>> {
        if self.tensors.contains_key(&Self::key(prefix, name)) {
            self.param(prefix, name, rank).map(Some)
        } else {
            Ok(None)
        }
    }

    /// An error about the layer at `prefix` (a parameter of the wrong size).
    fn mismatch(&self, prefix: &str, what: String) -> Error {
        Error::Runtime(format!("state dict {}: '{prefix}': {what}", self.source))
    }
}

/// Layers run in order (`nn.Sequential`).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// `self` with `layer` appended.
    pub fn push(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let _off = GradModeGuard::new(false);
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.forward(&y)?;
        }
        Ok(y)
    }
}

/// Element-wise activations (`nn.ReLU`, `nn.Tanh`, `nn.Sigmoid`, `nn.GELU()`).
macro_rules! activations {
    ($($(#[$m:meta])* $name:ident => |$x:ident| $body:expr;)*) => {$(
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;
        impl Module for $name {
            fn forward(&self, $x: &Tensor) -> Result<Tensor> {
                $body
            }
        }
    )*};
}

activations! {
    /// `nn.ReLU`.
    ReLU => |x| x.relu();
    /// `nn.Tanh`.
    Tanh => |x| x.tanh();
    /// `nn.Sigmoid`.
    Sigmoid => |x| x.sigmoid();
    /// `nn.GELU()` (the exact, erf form).
    GELU => |x| x.gelu(false);
}
