//! `Storage`: one buffer of elements on one device, shared by every view of it, and the
//! dispatch of each op family to the backend of that device.
//!
//! The methods here are the seam between the op layer and the backends: they match on the
//! device once and call [`Backend`]'s method of that device. Ops over several storages check
//! that they share a device, except that a 0-d CPU tensor may take part in an elementwise
//! op on another device as a number (PyTorch's rule for CPU scalars).
//!
//! The version counter lives here because PyTorch shares it among views.

use super::device::Device;
use super::dtype::{DType, Element, Scalar};
use super::layout::Layout;
use crate::backend::{
    AdamOptions, Arg, AttnRows, AvgDivisor, Backend, BinaryOp, Cuda, CudaBuffer, Distribution,
    HostBuffer, LayerNormGrads, MatBatch, ReduceOp, RnnGrads, RnnRun, RnnSaved, RoiAlign, RoiPool,
    ScanOp, SgdOptions, Span, UnaryOp, Window,
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

    /// `op` of `a` and `b` (both of `dtype`) broadcast to `shape`.
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

    // ---- sliding windows ---------------------------------------------------------------------

    /// im2col of the view `l` (`[n, c, *w.input]`): contiguous `[n, c·∏kernel, ∏output]`.
    pub fn unfold(&self, l: &Layout, w: &Window) -> Result<Storage> {
        map_buffer!(self, b, B => B::unfold(b, l, w))
    }

    /// col2im of the view `l` (`[n, c·∏kernel, ∏output]`): contiguous `[n, c, *w.input]`.
    pub fn fold(&self, l: &Layout, w: &Window) -> Result<Storage> {
        map_buffer!(self, b, B => B::fold(b, l, w))
    }

    /// A direct 2-D convolution of the view `l` (`[n, cin, h, w]`) with the weight view
    /// `wl`, stride 1, `padding` on each side, plus the bias: a contiguous `[n, cout, oh,
    /// ow]`, or `None` where the backend has no direct kernel for these sizes.
    pub fn conv2d_direct(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        bias: Option<(&Storage, &Layout)>,
        padding: [usize; 2],
    ) -> Result<Option<Storage>> {
        let mut all = vec![self, w.0];
        all.extend(bias.map(|b| b.0));
        Ok(match same_device(&all)? {
            Device::Cpu => Cpu::conv2d_direct(
                host_of(self),
                l,
                host_of(w.0),
                w.1,
                bias.map(|(b, bl)| (host_of(b), bl)),
                padding,
            )?
            .map(Storage::from_host),
            Device::Cuda(_) => Cuda::conv2d_direct(
                cuda_of(self),
                l,
                cuda_of(w.0),
                w.1,
                bias.map(|(b, bl)| (cuda_of(b), bl)),
                padding,
            )?
            .map(|b| Storage::new(Buffer::Cuda(b))),
        })
    }

    /// The input gradient of [`Storage::conv2d_direct`]: the output gradient view `l`
    /// against the weight `w`, a contiguous `[n, cin, h, w]`, or `None` as there.
    pub fn conv2d_direct_input_grad(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        padding: [usize; 2],
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, w.0])? {
            Device::Cpu => {
                Cpu::conv2d_direct_input_grad(host_of(self), l, host_of(w.0), w.1, padding)?
                    .map(Storage::from_host)
            }
            Device::Cuda(_) => {
                Cuda::conv2d_direct_input_grad(cuda_of(self), l, cuda_of(w.0), w.1, padding)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// The weight gradient of [`Storage::conv2d_direct`]: the input view `l` against the
    /// output gradient `g`, a contiguous `[cout, cin, *kernel]`, or `None` as there.
    pub fn conv2d_direct_weight_grad(
        &self,
        l: &Layout,
        g: (&Storage, &Layout),
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, g.0])? {
            Device::Cpu => Cpu::conv2d_direct_weight_grad(
                host_of(self),
                l,
                host_of(g.0),
                g.1,
                kernel,
                padding,
            )?
            .map(Storage::from_host),
            Device::Cuda(_) => Cuda::conv2d_direct_weight_grad(
                cuda_of(self),
                l,
                cuda_of(g.0),
                g.1,
                kernel,
                padding,
            )?
            .map(|b| Storage::new(Buffer::Cuda(b))),
        })
    }

    /// Max pooling of the view `l`: (maxima, int64 flat indices within each input plane).
    pub fn max_pool(&self, l: &Layout, w: &Window) -> Result<(Storage, Storage)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (v, i) = Cpu::max_pool(b, l, w)?;
                (Storage::from_host(v), Storage::from_host(i))
            }
            Buffer::Cuda(b) => {
                let (v, i) = Cuda::max_pool(b, l, w)?;
                (Storage::new(Buffer::Cuda(v)), Storage::new(Buffer::Cuda(i)))
            }
        })
    }

    /// The gradient of [`Storage::max_pool`], from the gradient view `l` of its output and
    /// the indices it returned.
    pub fn max_pool_backward(&self, l: &Layout, idx: &Storage, w: &Window) -> Result<Storage> {
        Ok(match same_device(&[self, idx])? {
            Device::Cpu => {
                Storage::from_host(Cpu::max_pool_backward(host_of(self), l, host_of(idx), w)?)
            }
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::max_pool_backward(
                cuda_of(self),
                l,
                cuda_of(idx),
                w,
            )?)),
        })
    }

    /// RoI max pooling of this contiguous `[batch, channels, height, width]` storage over the
    /// contiguous `[rois, 5]` boxes: (maxima, int64 flat indices within each input plane).
    pub fn roi_pool(&self, rois: &Storage, p: &RoiPool) -> Result<(Storage, Storage)> {
        Ok(match same_device(&[self, rois])? {
            Device::Cpu => {
                let (v, i) = Cpu::roi_pool(host_of(self), host_of(rois), p)?;
                (Storage::from_host(v), Storage::from_host(i))
            }
            Device::Cuda(_) => {
                let (v, i) = Cuda::roi_pool(cuda_of(self), cuda_of(rois), p)?;
                (Storage::new(Buffer::Cuda(v)), Storage::new(Buffer::Cuda(i)))
            }
        })
    }

    /// The gradient of [`Storage::roi_pool`] from this contiguous gradient of its output, the
    /// indices it returned and its boxes.
    pub fn roi_pool_backward(&self, idx: &Storage, rois: &Storage, p: &RoiPool) -> Result<Storage> {
        Ok(match same_device(&[self, idx, rois])? {
            Device::Cpu => Storage::from_host(Cpu::roi_pool_backward(
                host_of(self),
                host_of(idx),
                host_of(rois),
                p,
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::roi_pool_backward(
                cuda_of(self),
                cuda_of(idx),
                cuda_of(rois),
                p,
            )?)),
        })
    }

    /// RoI Align of this contiguous `[batch, channels, height, width]` storage over the
    /// contiguous `[rois, 5]` boxes.
    pub fn roi_align(&self, rois: &Storage, p: &RoiAlign) -> Result<Storage> {
        Ok(match same_device(&[self, rois])? {
            Device::Cpu => Storage::from_host(Cpu::roi_align(host_of(self), host_of(rois), p)?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::roi_align(
                cuda_of(self),
                cuda_of(rois),
                p,
            )?)),
        })
    }

    /// The gradient of [`Storage::roi_align`] from this contiguous gradient of its output and
    /// its boxes.
    pub fn roi_align_backward(&self, rois: &Storage, p: &RoiAlign) -> Result<Storage> {
        Ok(match same_device(&[self, rois])? {
            Device::Cpu => {
                Storage::from_host(Cpu::roi_align_backward(host_of(self), host_of(rois), p)?)
            }
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::roi_align_backward(
                cuda_of(self),
                cuda_of(rois),
                p,
            )?)),
        })
    }

    /// Greedy non-maximum suppression of this contiguous `[n, 4]` storage of boxes sorted by
    /// descending score: the positions kept.
    pub fn nms(&self, iou_threshold: f64) -> Result<Vec<usize>> {
        match &self.buffer {
            Buffer::Cpu(b) => Cpu::nms(b, iou_threshold),
            Buffer::Cuda(b) => Cuda::nms(b, iou_threshold),
        }
    }

    /// Average pooling of the view `l`.
    pub fn avg_pool(&self, l: &Layout, w: &Window, d: AvgDivisor) -> Result<Storage> {
        map_buffer!(self, b, B => B::avg_pool(b, l, w, d))
    }

    /// The adjoint of [`Storage::avg_pool`], from the gradient view `l` of its output.
    pub fn avg_pool_backward(&self, l: &Layout, w: &Window, d: AvgDivisor) -> Result<Storage> {
        map_buffer!(self, b, B => B::avg_pool_backward(b, l, w, d))
    }

    /// [`Backend::conv_tiled`] on this storage's device.
    pub fn conv_tiled(
        &self,
        l: &Layout,
        w: &Storage,
        bias: Option<&Storage>,
        win: &Window,
    ) -> Result<Option<Storage>> {
        let mut all = vec![self, w];
        all.extend(bias);
        Ok(match same_device(&all)? {
            Device::Cpu => Cpu::conv_tiled(host_of(self), l, host_of(w), bias.map(host_of), win)?
                .map(Storage::from_host),
            Device::Cuda(_) => {
                Cuda::conv_tiled(cuda_of(self), l, cuda_of(w), bias.map(cuda_of), win)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// [`Backend::conv_tiled_input_grad`] of this (contiguous) gradient of `n` images.
    pub fn conv_tiled_input_grad(
        &self,
        n: usize,
        w: &Storage,
        cin: usize,
        win: &Window,
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, w])? {
            Device::Cpu => Cpu::conv_tiled_input_grad(host_of(self), n, host_of(w), cin, win)?
                .map(Storage::from_host),
            Device::Cuda(_) => Cuda::conv_tiled_input_grad(cuda_of(self), n, cuda_of(w), cin, win)?
                .map(|b| Storage::new(Buffer::Cuda(b))),
        })
    }

    /// [`Backend::conv_tiled_weight_grad`]: this input view against the contiguous gradient
    /// `g` of `cout` channels.
    pub fn conv_tiled_weight_grad(
        &self,
        l: &Layout,
        g: &Storage,
        cout: usize,
        win: &Window,
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, g])? {
            Device::Cpu => Cpu::conv_tiled_weight_grad(host_of(self), l, host_of(g), cout, win)?
                .map(Storage::from_host),
            Device::Cuda(_) => {
                Cuda::conv_tiled_weight_grad(cuda_of(self), l, cuda_of(g), cout, win)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    // ---- batch norm (contiguous `[n, c, s]` storages from offset 0; see `Backend`) -----------

    /// Per channel: the mean and the biased variance.
    pub fn channel_stats(&self, dims: [usize; 3]) -> Result<(Storage, Storage)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (m, v) = Cpu::channel_stats(b, dims)?;
                (Storage::from_host(m), Storage::from_host(v))
            }
            Buffer::Cuda(b) => {
                let (m, v) = Cuda::channel_stats(b, dims)?;
                (Storage::new(Buffer::Cuda(m)), Storage::new(Buffer::Cuda(v)))
            }
        })
    }

    /// Per channel of this gradient against `x`: `Σ g` and `Σ g·(x − mean)`.
    pub fn channel_grad_sums(
        &self,
        x: &Storage,
        mean: &Storage,
        dims: [usize; 3],
    ) -> Result<(Storage, Storage)> {
        Ok(match same_device(&[self, x, mean])? {
            Device::Cpu => {
                let (p, q) =
                    Cpu::channel_grad_sums(host_of(self), host_of(x), host_of(mean), dims)?;
                (Storage::from_host(p), Storage::from_host(q))
            }
            Device::Cuda(_) => {
                let (p, q) =
                    Cuda::channel_grad_sums(cuda_of(self), cuda_of(x), cuda_of(mean), dims)?;
                (Storage::new(Buffer::Cuda(p)), Storage::new(Buffer::Cuda(q)))
            }
        })
    }

    /// `(self − center)·a + b`, plus `y·d` when `y = Some((y, d))`, per channel.
    pub fn channel_affine(
        &self,
        [center, a, b]: [&Storage; 3],
        y: Option<(&Storage, &Storage)>,
        dims: [usize; 3],
    ) -> Result<Storage> {
        let mut all = vec![self, center, a, b];
        all.extend(y.iter().flat_map(|(y, d)| [*y, *d]));
        Ok(match same_device(&all)? {
            Device::Cpu => Storage::from_host(Cpu::channel_affine(
                host_of(self),
                [host_of(center), host_of(a), host_of(b)],
                y.map(|(y, d)| (host_of(y), host_of(d))),
                dims,
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::channel_affine(
                cuda_of(self),
                [cuda_of(center), cuda_of(a), cuda_of(b)],
                y.map(|(y, d)| (cuda_of(y), cuda_of(d))),
                dims,
            )?)),
        })
    }

    // ---- layer norm (contiguous storages from offset 0; see `Backend`) ----------------------

    /// Each row of `[rows, len]` normalised, scaled by `w` and shifted by `b`:
    /// `[out, mean, rstd]`.
    pub fn layer_norm(
        &self,
        w: Option<&Storage>,
        b: Option<&Storage>,
        dims: [usize; 2],
        eps: f64,
    ) -> Result<[Storage; 3]> {
        let mut all = vec![self];
        all.extend(w);
        all.extend(b);
        Ok(match same_device(&all)? {
            Device::Cpu => {
                Cpu::layer_norm(host_of(self), w.map(host_of), b.map(host_of), dims, eps)?
                    .map(Storage::from_host)
            }
            Device::Cuda(_) => {
                Cuda::layer_norm(cuda_of(self), w.map(cuda_of), b.map(cuda_of), dims, eps)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// The input gradient of [`Storage::layer_norm`] from this output gradient, and with
    /// `params` the weight's and the bias's.
    pub fn layer_norm_backward(
        &self,
        x: &Storage,
        [mean, rstd]: [&Storage; 2],
        w: Option<&Storage>,
        dims: [usize; 2],
        params: bool,
    ) -> Result<LayerNormGrads<Storage>> {
        let mut all = vec![self, x, mean, rstd];
        all.extend(w);
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let (gx, p) = Cpu::layer_norm_backward(
                    host_of(self),
                    host_of(x),
                    [host_of(mean), host_of(rstd)],
                    w.map(host_of),
                    dims,
                    params,
                )?;
                let p = p.map(|(a, b)| (Storage::from_host(a), Storage::from_host(b)));
                (Storage::from_host(gx), p)
            }
            Device::Cuda(_) => {
                let (gx, p) = Cuda::layer_norm_backward(
                    cuda_of(self),
                    cuda_of(x),
                    [cuda_of(mean), cuda_of(rstd)],
                    w.map(cuda_of),
                    dims,
                    params,
                )?;
                let cuda = |b| Storage::new(Buffer::Cuda(b));
                (cuda(gx), p.map(|(a, b)| (cuda(a), cuda(b))))
            }
        })
    }

    // ---- recurrent layers (contiguous storages from offset 0; see `Backend`) ----------------

    /// One recurrent layer over a sequence; `gates` (the input projections) is consumed.
    pub fn rnn_forward(
        run: &RnnRun<'_>,
        gates: Storage,
        w_hh: &Storage,
        b_hh: Option<&Storage>,
        h0: &Storage,
        c0: Option<&Storage>,
    ) -> Result<RnnSaved<Storage>> {
        let mut all = vec![&gates, w_hh, h0];
        all.extend(b_hh);
        all.extend(c0);
        same_device(&all)?;
        Ok(match gates.buffer {
            Buffer::Cpu(g) => {
                let r = Cpu::rnn_forward(
                    run,
                    g,
                    host_of(w_hh),
                    b_hh.map(host_of),
                    host_of(h0),
                    c0.map(host_of),
                )?;
                saved_storages(r, Buffer::Cpu)
            }
            Buffer::Cuda(g) => {
                let r = Cuda::rnn_forward(
                    run,
                    g,
                    cuda_of(w_hh),
                    b_hh.map(cuda_of),
                    cuda_of(h0),
                    c0.map(cuda_of),
                )?;
                saved_storages(r, Buffer::Cuda)
            }
        })
    }

    /// Backward through time of [`Storage::rnn_forward`].
    #[allow(clippy::too_many_arguments)]
    pub fn rnn_backward(
        run: &RnnRun<'_>,
        saved: RnnSaved<&Storage>,
        w_hh: &Storage,
        h0: &Storage,
        c0: Option<&Storage>,
        dout: Option<&Storage>,
        dh_n: Option<&Storage>,
        dc_n: Option<&Storage>,
    ) -> Result<RnnGrads<Storage>> {
        let mut all = vec![saved.gates, saved.h, w_hh, h0];
        all.extend(saved.extra);
        all.extend(c0.into_iter().chain(dout).chain(dh_n).chain(dc_n));
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let of = host_of;
                let s = RnnSaved {
                    gates: of(saved.gates),
                    h: of(saved.h),
                    extra: saved.extra.map(of),
                };
                let r = Cpu::rnn_backward(
                    run,
                    s,
                    of(w_hh),
                    of(h0),
                    c0.map(of),
                    dout.map(of),
                    dh_n.map(of),
                    dc_n.map(of),
                )?;
                grad_storages(r, Buffer::Cpu)
            }
            Device::Cuda(_) => {
                let of = cuda_of;
                let s = RnnSaved {
                    gates: of(saved.gates),
                    h: of(saved.h),
                    extra: saved.extra.map(of),
                };
                let r = Cuda::rnn_backward(
                    run,
                    s,
                    of(w_hh),
                    of(h0),
                    c0.map(of),
                    dout.map(of),
                    dh_n.map(of),
                    dc_n.map(of),
                )?;
                grad_storages(r, Buffer::Cuda)
            }
        })
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

    // ---- fused training kernels -----------------------------------------------------------------

    /// Per-row cross-entropy and target weight (see [`Backend::cross_entropy`]).
    pub fn cross_entropy(
        &self,
        l: &Layout,
        target: View<'_>,
        weight: Option<View<'_>>,
        ignore_index: i64,
        label_smoothing: f64,
    ) -> Result<(Storage, Storage)> {
        let mut all = vec![self, target.0];
        all.extend(weight.map(|w| w.0));
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let (a, b) = Cpu::cross_entropy(
                    host_of(self),
                    l,
                    host_of(target.0),
                    target.1,
                    weight.map(|(s, l)| (host_of(s), l)),
                    ignore_index,
                    label_smoothing,
                )?;
                (Storage::from_host(a), Storage::from_host(b))
            }
            Device::Cuda(_) => {
                let (a, b) = Cuda::cross_entropy(
                    cuda_of(self),
                    l,
                    cuda_of(target.0),
                    target.1,
                    weight.map(|(s, l)| (cuda_of(s), l)),
                    ignore_index,
                    label_smoothing,
                )?;
                (Storage::new(Buffer::Cuda(a)), Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// The input gradient of cross-entropy (see [`Backend::cross_entropy_backward`]);
    /// `scale` is contiguous from its first element.
    pub fn cross_entropy_backward(
        &self,
        l: &Layout,
        target: View<'_>,
        scale: &Storage,
    ) -> Result<Storage> {
        Ok(match same_device(&[self, target.0, scale])? {
            Device::Cpu => Storage::from_host(Cpu::cross_entropy_backward(
                host_of(self),
                l,
                host_of(target.0),
                target.1,
                host_of(scale),
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::cross_entropy_backward(
                cuda_of(self),
                l,
                cuda_of(target.0),
                target.1,
                cuda_of(scale),
            )?)),
        })
    }

    /// The attention weights of these contiguous scores (see
    /// [`Backend::attention_softmax`]): `(y, out)`, `out` only with dropout (`keep`: the
    /// kept positions and `1/(1 − p)`).
    pub fn attention_softmax(
        &self,
        a: &AttnRows,
        mask: Option<View<'_>>,
        keep: Option<(&Storage, f64)>,
    ) -> Result<(Storage, Option<Storage>)> {
        let mut all = vec![self];
        all.extend(mask.map(|m| m.0));
        all.extend(keep.map(|k| k.0));
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let (y, out) = Cpu::attention_softmax(
                    host_of(self),
                    a,
                    mask.map(|(m, l)| (host_of(m), l)),
                    keep.map(|(k, ks)| (host_of(k), ks)),
                )?;
                (Storage::from_host(y), out.map(Storage::from_host))
            }
            Device::Cuda(_) => {
                let (y, out) = Cuda::attention_softmax(
                    cuda_of(self),
                    a,
                    mask.map(|(m, l)| (cuda_of(m), l)),
                    keep.map(|(k, ks)| (cuda_of(k), ks)),
                )?;
                let on = |b| Storage::new(Buffer::Cuda(b));
                (on(y), out.map(on))
            }
        })
    }

    /// The scores' gradient of [`Storage::attention_softmax`] from its weights (this
    /// storage) and the gradient `g` of its output.
    pub fn attention_softmax_backward(
        &self,
        g: &Storage,
        [rows, len]: [usize; 2],
        keep: Option<(&Storage, f64)>,
        scale: f64,
    ) -> Result<Storage> {
        let mut all = vec![self, g];
        all.extend(keep.map(|k| k.0));
        Ok(match same_device(&all)? {
            Device::Cpu => Storage::from_host(Cpu::attention_softmax_backward(
                host_of(self),
                host_of(g),
                rows,
                len,
                keep.map(|(k, ks)| (host_of(k), ks)),
                scale,
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::attention_softmax_backward(
                cuda_of(self),
                cuda_of(g),
                rows,
                len,
                keep.map(|(k, ks)| (cuda_of(k), ks)),
                scale,
            )?)),
        })
    }

    /// One SGD step: `p`, `g`, `buf` are contiguous runs `(storage, offset, len)`.
    pub fn sgd_step(
        p: Run<'_>,
        g: Run<'_>,
        buf: Option<Run<'_>>,
        first: bool,
        o: &SgdOptions,
    ) -> Result<()> {
        let mut all = vec![p.0, g.0];
        all.extend(buf.map(|b| b.0));
        match same_device(&all)? {
            Device::Cpu => {
                let sp = host_span;
                Cpu::sgd_step(sp(p), sp(g), buf.map(sp), first, o)
            }
            Device::Cuda(_) => {
                let sp = cuda_span;
                Cuda::sgd_step(sp(p), sp(g), buf.map(sp), first, o)
            }
        }
    }

    /// One Adam step over contiguous runs `(storage, offset, len)`.
    pub fn adam_step(
        p: Run<'_>,
        g: Run<'_>,
        m: Run<'_>,
        v: Run<'_>,
        vmax: Option<Run<'_>>,
        step: f64,
        o: &AdamOptions,
    ) -> Result<()> {
        let mut all = vec![p.0, g.0, m.0, v.0];
        all.extend(vmax.map(|b| b.0));
        match same_device(&all)? {
            Device::Cpu => {
                let sp = host_span;
                Cpu::adam_step(sp(p), sp(g), sp(m), sp(v), vmax.map(sp), step, o)
            }
            Device::Cuda(_) => {
                let sp = cuda_span;
                Cuda::adam_step(sp(p), sp(g), sp(m), sp(v), vmax.map(sp), step, o)
            }
        }
    }
}
