//! Where a tensor's storage lives. Only the CPU backend exists in this build; CUDA is parsed
//! so that `device="cuda"` gives PyTorch's clear error instead of a parse failure.

use crate::error::{Error, Result};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
}

impl Device {
    /// Parses `"cpu"`, `"cuda"`, `"cuda:1"` as PyTorch's `torch.device` does.
    pub fn parse(s: &str) -> Result<Device> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (s, None),
        };
        if let Some(i) = index {
            if i.parse::<u32>().is_err() {
                return Err(Error::Runtime(format!("Invalid device string: '{s}'")));
            }
        }
        match kind {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Err(Error::Runtime(
                "Torch not compiled with CUDA enabled".into(),
            )),
            "mps" => Err(Error::Runtime(
                "The MPS backend is not available on this machine".into(),
            )),
            _ => Err(Error::Runtime(format!(
                "Expected one of cpu, cuda, mps device type at start of device string: {s}"
            ))),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
        }
    }
}
