//! Where a tensor's storage lives: host memory, or the memory of CUDA device `index`.

use crate::error::{Error, Result};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl Device {
    /// Parses `"cpu"`, `"cuda"`, `"cuda:1"` as PyTorch's `torch.device` does; a bare
    /// `"cuda"` is `current` (the current CUDA device's index).
    pub fn parse(s: &str, current: usize) -> Result<Device> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (s, None),
        };
        let index = match index {
            Some(i) => Some(
                i.parse::<usize>()
                    .map_err(|_| Error::Runtime(format!("Invalid device string: '{s}'")))?,
            ),
            None => None,
        };
        match kind {
            "cpu" => match index {
                None | Some(0) => Ok(Device::Cpu),
                Some(_) => Err(Error::Runtime(format!("Invalid device string: '{s}'"))),
            },
            "cuda" => Ok(Device::Cuda(index.unwrap_or(current))),
            "mps" => Err(Error::Runtime(
                "The MPS backend is not available on this machine".into(),
            )),
            _ => Err(Error::Runtime(format!(
                "Expected one of cpu, cuda, mps device type at start of device string: {s}"
            ))),
        }
    }

    /// `"cpu"` or `"cuda"`.
    pub fn kind(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
        }
    }

    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// The device's index: the CUDA ordinal, or `None` for the CPU.
    pub fn index(self) -> Option<usize> {
        match self {
            Device::Cpu => None,
            Device::Cuda(i) => Some(i),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pytorch_device_strings() {
        assert_eq!(Device::parse("cpu", 0).unwrap(), Device::Cpu);
        assert_eq!(Device::parse("cuda", 1).unwrap(), Device::Cuda(1));
        assert_eq!(Device::parse("cuda:3", 0).unwrap(), Device::Cuda(3));
        assert!(Device::parse("cuda:x", 0).is_err());
        assert!(Device::parse("tpu", 0).is_err());
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
    }
}
