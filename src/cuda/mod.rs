//! The CUDA backend (feature `cuda`), through cudarc with dynamic loading: the crate builds,
//! links and runs on machines with no CUDA installed, where [`runtime::is_available`]
//! answers `false`.
//!
//! This first slice is the device-free part: finding the driver and counting devices
//! ([`runtime`]), the CUDA C sources of the kernels ([`kernels`]) and their compilation
//! with NVRTC ([`nvrtc`]). Tensors do not live on the GPU yet.

pub mod kernels;
pub mod loader;
pub mod nvrtc;
pub mod runtime;
