//! `Storage`: one buffer of elements on one device, shared by every view of it, and the
//! dispatch of each op family to the backend of that device.
//!
//! The methods here are the seam between the op layer and the backends: they match on the
//! device once and call [`Backend`]'s method of that device. Ops over several storages check
//! that they share a device, except that a 0-d CPU tensor may take part in an elementwise
//! op on another device as a number (PyTorch's rule for CPU scalars).
//!
//! The version counter lives here because PyTorch shares it among views. The sliding-window
//! families dispatch from `storage/window.rs`, the fused training kernels from
//! `storage/training.rs`.

use super::device::Device;
use super::dtype::{DType, Element, Scalar};
use super::layout::Layout;
use crate::backend::{
    AdamOptions, Arg, AttnRows, AvgDivisor, Backend, BinaryOp, Cuda, CudaBuffer, Distribution,
    HostBuffer, LayerNormGrads, MatBatch, ReduceOp, RnnGrads, RnnInput, RnnRun, RnnSaved, RoiAlign,
    RoiPool, ScanOp, SgdOptions, Span, UnaryOp, Window,
};
use crate::cpu::Cpu;
use crate::error::{Error, Result};
use std::any::Any;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// The memory of a storage, on its device.
pub enum Buffer {
    Cpu(HostBuffer),
    Cuda(CudaBuffer),
}

pub struct Storage {
    buffer: Buffer,
    version: AtomicU64,
}

/// A strided view of a storage: the operand of storage ops.
pub type View<'a> = (&'a Storage, &'a Layout);

/// Runs `$body` on the storage's buffer with `$B` naming its backend, and wraps the buffer
/// it returns in a new storage on the same device.
macro_rules! map_buffer {
    ($s:expr, $b:ident, $B:ident => $body:expr) => {
        Ok(Storage::new(match &$s.buffer {
            Buffer::Cpu($b) => {
                type $B = Cpu;
                Buffer::Cpu($body?)
            }
            Buffer::Cuda($b) => {
                type $B = Cuda;
                Buffer::Cuda($body?)
            }
        }))
    };
}

/// PyTorch's error for operands on different devices (the GPU named first, as PyTorch).
fn device_mismatch(a: Device, b: Device) -> Error {
    let (first, second) = if a.is_cuda() { (a, b) } else { (b, a) };
    Error::Runtime(format!(
        "Expected all tensors to be on the same device, but found at least two devices, {first} and {second}!"
    ))
}

/// The device an elementwise op over `views` runs on. A 0-d CPU tensor joins any device
/// (it is read as a number); any other pair of devices must match.
#[inline]
fn elementwise_device(views: &[View<'_>]) -> Result<Device> {
    let mut dev: Option<Device> = None;
    for (s, l) in views {
        let d = s.device();
        if d == Device::Cpu && l.shape.is_empty() {
            continue;
        }
        match dev {
            None => dev = Some(d),
            Some(x) if x != d => return Err(device_mismatch(x, d)),
            Some(_) => {}
        }
    }
    Ok(dev.unwrap_or(Device::Cpu))
}

/// The one device of `storages`, or PyTorch's mismatch error.
fn same_device(storages: &[&Storage]) -> Result<Device> {
    let d = storages[0].device();
    for s in &storages[1..] {
        if s.device() != d {
            return Err(device_mismatch(d, s.device()));
        }
    }
    Ok(d)
}

/// The value of a one-element CPU view as a number of its dtype's kind.
fn scalar_of(s: &Storage, l: &Layout) -> Scalar {
    let host = s.host().expect("a CPU scalar lives on the host");
    crate::with_dtype!(host.dtype(), T, {
        let v: T = host.as_slice::<T>()[l.offset];
        match T::DTYPE {
            DType::Bool => Scalar::Bool(v.is_nonzero()),
            d if d.is_float() => Scalar::Float(v.to_f64()),
            _ => Scalar::Int(v.to_i64()),
        }
    })
}

#[inline]
fn cpu_arg<'a>((s, l): View<'a>) -> Arg<'a, HostBuffer> {
    match &s.buffer {
        Buffer::Cpu(b) => Arg::Buf(b, l),
        Buffer::Cuda(_) => unreachable!("placed on the CPU"),
    }
}

fn cuda_arg<'a>((s, l): View<'a>) -> Arg<'a, CudaBuffer> {
    match &s.buffer {
        Buffer::Cuda(b) => Arg::Buf(b, l),
        Buffer::Cpu(_) => Arg::Scalar(scalar_of(s, l)),
    }
}

#[inline]
fn host_of(s: &Storage) -> &HostBuffer {
    match &s.buffer {
        Buffer::Cpu(b) => b,
        Buffer::Cuda(_) => unreachable!("checked to be on the CPU"),
    }
}

fn cuda_of(s: &Storage) -> &CudaBuffer {
    match &s.buffer {
        Buffer::Cuda(b) => b,
        Buffer::Cpu(_) => unreachable!("checked to be on a GPU"),
    }
}

/// A recurrent layer's saved buffers as storages.
fn saved_storages<B>(s: RnnSaved<B>, wrap: impl Fn(B) -> Buffer) -> RnnSaved<Storage> {
    let st = |b| Storage::new(wrap(b));
    RnnSaved {
        gates: st(s.gates),
        h: st(s.h),
        extra: s.extra.map(st),
    }
}

/// A recurrent layer's gradient buffers as storages.
fn grad_storages<B>(g: RnnGrads<B>, wrap: impl Fn(B) -> Buffer) -> RnnGrads<Storage> {
    let st = |b| Storage::new(wrap(b));
    RnnGrads {
        gates: st(g.gates),
        hidden_gates: g.hidden_gates.map(st),
        h0: st(g.h0),
        c0: g.c0.map(st),
    }
}

/// A contiguous run of a storage: (storage, element offset, length).
pub type Run<'a> = (&'a Storage, usize, usize);

fn host_span((s, offset, len): Run<'_>) -> Span<'_, HostBuffer> {
    Span {
        buf: host_of(s),
        offset,
        len,
    }
}

fn cuda_span((s, offset, len): Run<'_>) -> Span<'_, CudaBuffer> {
    Span {
        buf: cuda_of(s),
        offset,
        len,
    }
}

impl Storage {
    #[inline]
    fn new(buffer: Buffer) -> Storage {
        Storage {
            buffer,
            version: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn from_host(b: HostBuffer) -> Storage {
        Storage::new(Buffer::Cpu(b))
    }

    pub fn from_vec<T: Element>(v: Vec<T>) -> Storage {
        Storage::from_host(HostBuffer::from_vec(v))
    }

    /// Wraps foreign host memory.
    ///
    /// # Safety
    /// As [`HostBuffer::from_foreign`].
    pub unsafe fn from_foreign(
        ptr: NonNull<u8>,
        len: usize,
        dtype: DType,
        owner: Box<dyn Any + Send + Sync>,
    ) -> Storage {
        // SAFETY: forwarded from the caller.
        Storage::from_host(unsafe { HostBuffer::from_foreign(ptr, len, dtype, owner) })
    }

    #[inline]
    pub fn device(&self) -> Device {
        match &self.buffer {
            Buffer::Cpu(_) => Device::Cpu,
            Buffer::Cuda(b) => Device::Cuda(b.device()),
        }
    }
    #[inline]
    pub fn dtype(&self) -> DType {
        match &self.buffer {
            Buffer::Cpu(b) => b.dtype(),
            Buffer::Cuda(b) => b.dtype(),
        }
    }
    #[inline]
    pub fn len(&self) -> usize {
        match &self.buffer {
            Buffer::Cpu(b) => b.len(),
            Buffer::Cuda(b) => b.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The address of the first element: a host pointer, or a device pointer.
    pub fn data_ptr(&self) -> usize {
        match &self.buffer {
            Buffer::Cpu(b) => b.as_ptr() as usize,
            Buffer::Cuda(b) => b.device_ptr() as usize,
        }
    }
    /// The host buffer of a CPU storage.
    pub fn host(&self) -> Option<&HostBuffer> {
        match &self.buffer {
            Buffer::Cpu(b) => Some(b),
            Buffer::Cuda(_) => None,
        }
    }

    /// Moves a CPU storage into shared memory other processes can map (`share_memory_`); a
    /// no-op on a GPU, whose memory other processes reach through the driver.
    pub fn share_memory(&self) -> Result<()> {
        match &self.buffer {
            Buffer::Cpu(b) => b.share_memory(),
            Buffer::Cuda(_) => Ok(()),
        }
    }
    /// Whether the storage is in shared memory (always, on a GPU, as PyTorch says).
    pub fn is_shared(&self) -> bool {
        match &self.buffer {
            Buffer::Cpu(b) => b.is_shared(),
            Buffer::Cuda(_) => true,
        }
    }
    /// A CPU storage of `len` elements of `dtype` in the shared memory file `fd` (received from
    /// another process), which it takes over.
    pub fn from_shared_fd(fd: std::os::fd::OwnedFd, len: usize, dtype: DType) -> Result<Storage> {
        Ok(Storage::from_host(HostBuffer::from_shared_fd(
            fd, len, dtype,
        )?))
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    // ---- memory ------------------------------------------------------------------------------

    /// `n` elements of `dtype`, all `value`, on `device`.
    pub fn full(device: Device, n: usize, dtype: DType, value: Scalar) -> Result<Storage> {
        Ok(Storage::new(match device {
            Device::Cpu => Buffer::Cpu(Cpu::full(0, n, dtype, value)?),
            Device::Cuda(i) => Buffer::Cuda(Cuda::full(i, n, dtype, value)?),
        }))
    }

    /// The view `l` as a contiguous storage on `device` (a copy, even on the same device).
    pub fn to_device(&self, l: &Layout, device: Device) -> Result<Storage> {
        match (&self.buffer, device) {
            (Buffer::Cpu(b), Device::Cpu) => Ok(Storage::from_host(Cpu::download(b, l)?)),
            (Buffer::Cpu(b), Device::Cuda(i)) => {
                let host = Cpu::download(b, l)?;
                Ok(Storage::new(Buffer::Cuda(Cuda::upload(i, &host)?)))
            }
            (Buffer::Cuda(b), Device::Cpu) => Ok(Storage::from_host(Cuda::download(b, l)?)),
            (Buffer::Cuda(b), Device::Cuda(i)) if b.device() == i => {
                Ok(Storage::new(Buffer::Cuda(Cuda::cast(b, l, b.dtype())?)))
            }
            (Buffer::Cuda(b), Device::Cuda(i)) => {
                let host = Cuda::download(b, l)?;
                Ok(Storage::new(Buffer::Cuda(Cuda::upload(i, &host)?)))
            }
        }
    }

    /// Whether this is page-locked host memory.
    pub fn is_pinned(&self) -> bool {
        self.host().is_some_and(HostBuffer::is_pinned)
    }

    /// The CPU view `l` copied into page-locked host memory (`Tensor.pin_memory()`).
    pub fn pin_memory(&self, l: &Layout) -> Result<Storage> {
        let Buffer::Cpu(b) = &self.buffer else {
            return Err(Error::Runtime(format!(
                "cannot pin '{}' only dense CPU tensors can be pinned",
                self.device()
            )));
        };
        let host = crate::backend::pinned_host(l.numel(), b.dtype())?;
        Cpu::copy_into(&host, &Layout::contiguous(&l.shape), Arg::Buf(b, l))?;
        Ok(Storage::from_host(host))
    }

    /// The elements of the view `l` in host memory, contiguous.
    pub fn download(&self, l: &Layout) -> Result<HostBuffer> {
        match &self.buffer {
            Buffer::Cpu(b) => Cpu::download(b, l),
            Buffer::Cuda(b) => Cuda::download(b, l),
        }
    }

    /// The view `l` as a fresh contiguous storage of `dtype`, on the same device.
    pub fn cast(&self, l: &Layout, dtype: DType) -> Result<Storage> {
        map_buffer!(self, b, B => B::cast(b, l, dtype))
    }

    /// `parts` (of one device, each cast to `dtype`) joined along `dim` into a new
    /// contiguous storage of `shape` (`cat`). Host parts already of `dtype` are joined in
    /// one parallel pass over the output; others are copied one by one into zeros.
    pub fn cat(
        parts: &[View<'_>],
        dim: usize,
        shape: &[usize],
        dtype: DType,
        device: Device,
    ) -> Result<Storage> {
        let host: Option<Vec<(&HostBuffer, &Layout)>> = parts
            .iter()
            .map(|&(s, l)| s.host().filter(|b| b.dtype() == dtype).map(|b| (b, l)))
            .collect();
        if let (Some(host), Device::Cpu) = (host, device) {
            crate::ops::creation::new_host_elements(shape, dtype)?;
            return Ok(Storage::from_host(crate::with_dtype!(dtype, T, {
                let views: Vec<(&[T], &Layout)> =
                    host.iter().map(|&(b, l)| (b.as_slice::<T>(), l)).collect();
                HostBuffer::from_vec(crate::cpu::copy::cat(&views, dim, shape))
            })));
        }
        let n = crate::tensor::layout::checked_numel(shape, dtype.size())?;
        let out = Storage::full(device, n, dtype, Scalar::Int(0))?;
        let ol = Layout::contiguous(shape);
        let mut start = 0;
        for &(s, l) in parts {
            let len = l.shape[dim];
            out.copy_from(&ol.narrow(dim as i64, start as i64, len)?, (s, l))?;
            start += len;
        }
        Ok(out)
    }

    /// Writes `src` (broadcast and cast) into the view `dl` of this storage, from any
    /// device. `src` must not alias this storage.
    pub fn copy_from(&self, dl: &Layout, (src, sl): View<'_>) -> Result<()> {
        match (&self.buffer, &src.buffer) {
            (Buffer::Cpu(d), Buffer::Cpu(s)) => Cpu::copy_into(d, dl, Arg::Buf(s, sl)),
            (Buffer::Cuda(d), Buffer::Cuda(s)) if d.device() == s.device() => {
                Cuda::copy_into(d, dl, Arg::Buf(s, sl))
            }
            (Buffer::Cuda(d), Buffer::Cpu(_)) if sl.numel() == 1 => {
                Cuda::copy_into(d, dl, Arg::Scalar(scalar_of(src, sl)))
            }
            (Buffer::Cuda(d), _) => {
                // Through a contiguous copy of the source on this device.
                let moved = src.to_device(sl, self.device())?;
                let ml = Layout::contiguous(&sl.shape);
                Cuda::copy_into(d, dl, Arg::Buf(cuda_of(&moved), &ml))
            }
            (Buffer::Cpu(d), Buffer::Cuda(s)) => {
                let host = Cuda::download(s, sl)?;
                Cpu::copy_into(d, dl, Arg::Buf(&host, &Layout::contiguous(&sl.shape)))
            }
        }
    }

    /// Fills the view `l` with `value`.
    pub fn fill(&self, l: &Layout, value: Scalar) -> Result<()> {
        match &self.buffer {
            Buffer::Cpu(b) => Cpu::copy_into(b, l, Arg::Scalar(value)),
            Buffer::Cuda(b) => Cuda::copy_into(b, l, Arg::Scalar(value)),
        }
    }

    // ---- elementwise -------------------------------------------------------------------------

    #[inline]
    pub fn unary(&self, l: &Layout, op: UnaryOp) -> Result<Storage> {
        map_buffer!(self, b, B => B::unary(b, l, op))
    }

    /// `op` of each element of the contiguous run `x`, written back in place (a float run
    /// and an op that keeps its dtype).
    pub fn unary_(x: Run<'_>, op: UnaryOp) -> Result<()> {
        match &x.0.buffer {
            Buffer::Cpu(_) => Cpu::unary_(host_span(x), op),
            Buffer::Cuda(_) => Cuda::unary_(cuda_span(x), op),
        }
    }

    /// `x op s` for each element of the contiguous run `x`, written back in place (a float
    /// run and an arithmetic op).
    pub fn binary_scalar_(x: Run<'_>, s: Scalar, op: BinaryOp) -> Result<()> {
        match &x.0.buffer {
            Buffer::Cpu(_) => Cpu::binary_scalar_(host_span(x), s, op),
            Buffer::Cuda(_) => Cuda::binary_scalar_(cuda_span(x), s, op),
        }
    }

    /// `op` of `a` and `b` (both of `dtype`, but for a one-element float right operand
    /// of a 16-bit float op, kept on the host) broadcast to `shape`.
    #[inline]
    pub fn binary(
        a: View<'_>,
        b: View<'_>,
        dtype: DType,
        shape: &[usize],
        op: BinaryOp,
    ) -> Result<Storage> {
        Ok(Storage::new(match elementwise_device(&[a, b])? {
            Device::Cpu => Buffer::Cpu(Cpu::binary(cpu_arg(a), cpu_arg(b), dtype, shape, op)?),
            Device::Cuda(_) => {
                Buffer::Cuda(Cuda::binary(cuda_arg(a), cuda_arg(b), dtype, shape, op)?)
            }
        }))
    }

    /// `a` where the bool `cond`, else `b`.
    #[inline]
    pub fn where_(
        cond: View<'_>,
        a: View<'_>,
        b: View<'_>,
        dtype: DType,
        shape: &[usize],
    ) -> Result<Storage> {
        Ok(Storage::new(match elementwise_device(&[cond, a, b])? {
            Device::Cpu => Buffer::Cpu(Cpu::where_(
                cpu_arg(cond),
                cpu_arg(a),
                cpu_arg(b),
                dtype,
                shape,
            )?),
            Device::Cuda(_) => Buffer::Cuda(Cuda::where_(
                cuda_arg(cond),
                cuda_arg(a),
                cuda_arg(b),
                dtype,
                shape,
            )?),
        }))
    }

    /// The [`Fused3`](crate::backend::Fused3) op of three float views of `dtype`
    /// broadcast to `shape`.
    pub fn fused3(
        a: View<'_>,
        b: View<'_>,
        c: View<'_>,
        dtype: DType,
        shape: &[usize],
        op: crate::backend::Fused3,
    ) -> Result<Storage> {
        Ok(Storage::new(match elementwise_device(&[a, b, c])? {
            Device::Cpu => Buffer::Cpu(Cpu::fused3(
                cpu_arg(a),
                cpu_arg(b),
                cpu_arg(c),
                dtype,
                shape,
                op,
            )?),
            Device::Cuda(_) => Buffer::Cuda(Cuda::fused3(
                cuda_arg(a),
                cuda_arg(b),
                cuda_arg(c),
                dtype,
                shape,
                op,
            )?),
        }))
    }

    // ---- rows --------------------------------------------------------------------------------

    pub fn reduce(&self, l: &Layout, rows: usize, len: usize, op: ReduceOp) -> Result<Storage> {
        map_buffer!(self, b, B => B::reduce(b, l, rows, len, op))
    }

    /// Each row's extreme and its int64 index.
    pub fn arg_reduce(
        &self,
        l: &Layout,
        rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(Storage, Storage)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (v, i) = Cpu::arg_reduce(b, l, rows, len, max)?;
                (Storage::from_host(v), Storage::from_host(i))
            }
            Buffer::Cuda(b) => {
                let (v, i) = Cuda::arg_reduce(b, l, rows, len, max)?;
                (Storage::new(Buffer::Cuda(v)), Storage::new(Buffer::Cuda(i)))
            }
        })
    }

    pub fn scan(&self, l: &Layout, rows: usize, len: usize, op: ScanOp) -> Result<Storage> {
        map_buffer!(self, b, B => B::scan(b, l, rows, len, op))
    }

    /// `op` along the middle dim of the contiguous `[outer, len, inner]` (`dims`) view from
    /// `offset`, in the same order; `None` where the backend has no kernel for it (see
    /// [`Backend::scan_middle`]).
    pub fn scan_middle(
        &self,
        offset: usize,
        dims: [usize; 3],
        op: ScanOp,
    ) -> Result<Option<Storage>> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => Cpu::scan_middle(b, offset, dims, op)?.map(Storage::from_host),
            Buffer::Cuda(b) => {
                Cuda::scan_middle(b, offset, dims, op)?.map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// The input gradient of softmax (or log-softmax) over rows of `len`, from its output
    /// `y` and that output's gradient `g` (contiguous runs); see [`Backend::softmax_backward`].
    pub fn softmax_backward(y: Run<'_>, g: Run<'_>, len: usize, log: bool) -> Result<Storage> {
        Ok(match same_device(&[y.0, g.0])? {
            Device::Cpu => {
                Storage::from_host(Cpu::softmax_backward(host_span(y), host_span(g), len, log)?)
            }
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::softmax_backward(
                cuda_span(y),
                cuda_span(g),
                len,
                log,
            )?)),
        })
    }

    /// Running max (or min) of each row and its int64 index (`cummax`, `cummin`).
    pub fn arg_scan(
        &self,
        l: &Layout,
        rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(Storage, Storage)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (v, i) = Cpu::arg_scan(b, l, rows, len, max)?;
                (Storage::from_host(v), Storage::from_host(i))
            }
            Buffer::Cuda(b) => {
                let (v, i) = Cuda::arg_scan(b, l, rows, len, max)?;
                (Storage::new(Buffer::Cuda(v)), Storage::new(Buffer::Cuda(i)))
            }
        })
    }

    /// Insertion points of the contiguous `values` (`per_row` per row) in the contiguous
    /// sorted rows of `self` (`seq_rows × len`); see [`Backend::search_sorted`].
    #[allow(clippy::too_many_arguments)]
    pub fn search_sorted(
        &self,
        seq_rows: usize,
        len: usize,
        values: &Storage,
        per_row: usize,
        right: bool,
        out: DType,
    ) -> Result<Storage> {
        Ok(match same_device(&[self, values])? {
            Device::Cpu => Storage::from_host(Cpu::search_sorted(
                host_of(self),
                seq_rows,
                len,
                host_of(values),
                per_row,
                right,
                out,
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::search_sorted(
                cuda_of(self),
                seq_rows,
                len,
                cuda_of(values),
                per_row,
                right,
                out,
            )?)),
        })
    }

    pub fn sort(
        &self,
        l: &Layout,
        rows: usize,
        len: usize,
        descending: bool,
        k: usize,
    ) -> Result<Storage> {
        map_buffer!(self, b, B => B::sort(b, l, rows, len, descending, k))
    }

    // ---- products ------------------------------------------------------------------------------

    /// Batched `alpha · a @ b`, added into `acc` when given.
    pub fn matmul(
        a: (&Storage, &MatBatch),
        b: (&Storage, &MatBatch),
        mnk: (usize, usize, usize),
        alpha: f64,
        acc: Option<Storage>,
    ) -> Result<Storage> {
        let mut all = vec![a.0, b.0];
        all.extend(acc.as_ref());
        let dev = same_device(&all)?;
        let acc = acc.map(|s| s.buffer);
        Ok(Storage::new(match dev {
            Device::Cpu => {
                let acc = acc.map(|b| match b {
                    Buffer::Cpu(h) => h,
                    Buffer::Cuda(_) => unreachable!("same device"),
                });
                Buffer::Cpu(Cpu::matmul(
                    host_of(a.0),
                    a.1,
                    host_of(b.0),
                    b.1,
                    mnk,
                    alpha,
                    acc,
                )?)
            }
            Device::Cuda(_) => {
                let acc = acc.map(|b| match b {
                    Buffer::Cuda(c) => c,
                    Buffer::Cpu(_) => unreachable!("same device"),
                });
                Buffer::Cuda(Cuda::matmul(
                    cuda_of(a.0),
                    a.1,
                    cuda_of(b.0),
                    b.1,
                    mnk,
                    alpha,
                    acc,
                )?)
            }
        }))
    }

    // ---- indexing ------------------------------------------------------------------------------

    /// Advanced indexing of the view `l` by int64 index views (see [`Backend::index`]).
    pub fn index(
        &self,
        l: &Layout,
        indices: &[View<'_>],
        index_shape: &[usize],
    ) -> Result<Storage> {
        let mut all = vec![self];
        all.extend(indices.iter().map(|v| v.0));
        Ok(Storage::new(match same_device(&all)? {
            Device::Cpu => {
                let ix: Vec<_> = indices.iter().map(|(s, l)| (host_of(s), *l)).collect();
                Buffer::Cpu(Cpu::index(host_of(self), l, &ix, index_shape)?)
            }
            Device::Cuda(_) => {
                let ix: Vec<_> = indices.iter().map(|(s, l)| (cuda_of(s), *l)).collect();
                Buffer::Cuda(Cuda::index(cuda_of(self), l, &ix, index_shape)?)
            }
        }))
    }

    /// Writes or adds `values` at the places `index` reads, into this (contiguous, fresh)
    /// storage.
    pub fn index_put(
        &self,
        l: &Layout,
        indices: &[View<'_>],
        index_shape: &[usize],
        values: View<'_>,
        accumulate: bool,
    ) -> Result<()> {
        let mut all = vec![self];
        all.extend(indices.iter().map(|v| v.0));
        match same_device(&all)? {
            Device::Cpu => {
                let ix: Vec<_> = indices.iter().map(|(s, l)| (host_of(s), *l)).collect();
                elementwise_device(&[(self, l), values])?;
                Cpu::index_put(
                    host_of(self),
                    l,
                    &ix,
                    index_shape,
                    cpu_arg(values),
                    accumulate,
                )
            }
            Device::Cuda(_) => {
                let ix: Vec<_> = indices.iter().map(|(s, l)| (cuda_of(s), *l)).collect();
                elementwise_device(&[(self, l), values])?;
                Cuda::index_put(
                    cuda_of(self),
                    l,
                    &ix,
                    index_shape,
                    cuda_arg(values),
                    accumulate,
                )
            }
        }
    }

    pub fn gather(&self, sl: &Layout, dim: usize, idx: View<'_>) -> Result<Storage> {
        Ok(Storage::new(match same_device(&[self, idx.0])? {
            Device::Cpu => Buffer::Cpu(Cpu::gather(host_of(self), sl, dim, host_of(idx.0), idx.1)?),
            Device::Cuda(_) => {
                Buffer::Cuda(Cuda::gather(cuda_of(self), sl, dim, cuda_of(idx.0), idx.1)?)
            }
        }))
    }

    /// Scatters `src` along `dim` into this (contiguous, fresh) storage.
    pub fn scatter(
        &self,
        dl: &Layout,
        dim: usize,
        idx: View<'_>,
        src: View<'_>,
        accumulate: bool,
    ) -> Result<()> {
        let dev = same_device(&[self, idx.0])?;
        elementwise_device(&[(self, dl), src])?;
        match dev {
            Device::Cpu => Cpu::scatter(
                host_of(self),
                dl,
                dim,
                host_of(idx.0),
                idx.1,
                cpu_arg(src),
                accumulate,
            ),
            Device::Cuda(_) => Cuda::scatter(
                cuda_of(self),
                dl,
                dim,
                cuda_of(idx.0),
                idx.1,
                cuda_arg(src),
                accumulate,
            ),
        }
    }

    /// The int64 `[count, ndim]` positions of the nonzero elements.
    pub fn nonzero(&self, l: &Layout) -> Result<(Storage, usize)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (v, n) = Cpu::nonzero(b, l)?;
                (Storage::from_host(v), n)
            }
            Buffer::Cuda(b) => {
                let (v, n) = Cuda::nonzero(b, l)?;
                (Storage::new(Buffer::Cuda(v)), n)
            }
        })
    }

    // ---- random ----------------------------------------------------------------------------------

    pub fn random(device: Device, n: usize, dtype: DType, dist: Distribution) -> Result<Storage> {
        Ok(Storage::new(match device {
            Device::Cpu => Buffer::Cpu(Cpu::random(0, n, dtype, dist)?),
            Device::Cuda(i) => Buffer::Cuda(Cuda::random(i, n, dtype, dist)?),
        }))
    }

    pub fn randperm(device: Device, n: usize) -> Result<Storage> {
        Ok(Storage::new(match device {
            Device::Cpu => Buffer::Cpu(Cpu::randperm(0, n)?),
            Device::Cuda(i) => Buffer::Cuda(Cuda::randperm(i, n)?),
        }))
    }

    /// Seeds the generators of the CPU and of every GPU (PyTorch's `manual_seed`).
    pub fn manual_seed_all(seed: u64) -> Result<()> {
        Cpu::manual_seed(0, seed)?;
        for i in 0..crate::backend::cuda_device_count() {
            Cuda::manual_seed(i, seed)?;
        }
        Ok(())
    }
}

mod training;
mod window;
