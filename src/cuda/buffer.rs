//! `CudaBuffer`: one storage's elements in a device's memory, returned to the caching
//! allocator when dropped.

use super::allocator::Block;
use super::device::DeviceApi;
use crate::error::Result;
use crate::tensor::dtype::DType;
use std::sync::Arc;

pub struct CudaBuffer {
    dev: Arc<dyn DeviceApi>,
    block: Block,
    len: usize,
    dtype: DType,
}

impl CudaBuffer {
    /// `len` uninitialised elements of `dtype` on `dev`.
    pub fn alloc(dev: &Arc<dyn DeviceApi>, len: usize, dtype: DType) -> Result<CudaBuffer> {
        let block = dev.alloc(len * dtype.size())?;
        Ok(CudaBuffer {
            dev: dev.clone(),
            block,
            len,
            dtype,
        })
    }

    /// The device this buffer lives on.
    pub fn dev(&self) -> &Arc<dyn DeviceApi> {
        &self.dev
    }
    /// The CUDA ordinal of its device.
    pub fn device(&self) -> usize {
        self.dev.ordinal()
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The device address of the first element.
    pub fn device_ptr(&self) -> u64 {
        self.block.ptr
    }
    /// The device address of element `i`.
    pub fn ptr_at(&self, i: usize) -> u64 {
        self.block.ptr + (i * self.dtype.size()) as u64
    }
}

impl Drop for CudaBuffer {
    fn drop(&mut self) {
        self.dev.free(self.block);
    }
}
