//! Indexing and sorting on a GPU: advanced indexing and its put, `gather`/`scatter` along a
//! dim, `nonzero`, and row sorts (`sort`, `argsort`, `topk`; `randperm` sorts random keys).
//!
//! Index values are checked inside the kernels as they are read, as PyTorch's device-side
//! asserts: a bad index is recorded and raised by the next read from the device (with the
//! CPU backend's message and exception type), and the kernel skips that element. When
//! several indices are bad, the one reported is whichever a thread recorded first (the CPU
//! reports the first in order).
//!
//! Design choices:
//! - Advanced indexing runs in two passes: `index_offsets` turns the broadcast index tensors
//!   into one element offset per index entry, then `index_gather` / `index_put` move the
//!   remaining dims' block at each offset with one thread per element, so the output (or
//!   the values) is walked in order and coalesced.
//! - Accumulating puts (`index_put_(accumulate=True)`, `scatter_add`) use atomic adds, so
//!   repeated indices all land; the order of the adds is the hardware's, as in PyTorch, so
//!   float sums may differ from the CPU's in the last bits. Plain puts with repeated
//!   indices keep any one of the values, as on PyTorch's GPUs.
//! - `nonzero`'s result size depends on the data: the nonzero elements are counted per
//!   chunk, the counts read back (the one device-to-host read, as in PyTorch), and each
//!   chunk then writes its positions from its offset.
//! - Sorts are bitonic networks over (key, index) pairs, which makes them stable: a row that
//!   fits a block's shared memory is sorted there (several short rows per block); a longer
//!   row is sorted in shared-memory tiles, merged by global-memory passes for the long
//!   distances and shared-memory passes for the short ones.

use super::buffer::CudaBuffer;
use super::device::{grid_for, Args, DeviceApi, Dims, KScalar, Kernel, KernelArg, View, MAX_DIMS};
use super::elementwise::{cast, iter, launch_elementwise};
use super::kernels::{INDEX, SORT};
use crate::backend::Arg;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::{broadcast_strides, coalesce, numel, Layout};
use std::sync::Arc;

/// The most index tensors one advanced index takes (`RT_MAX_INDICES` in `index.cu`).
const MAX_INDICES: usize = 8;

/// The index tensors of an advanced index (`struct RtIndices` in `index.cu`): each one's
/// device address and strides over the index shape, and the size and stride of the dim it
/// indexes.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IndexArgs {
    ptr: [u64; MAX_INDICES],
    view: [View; MAX_INDICES],
    size: [i64; MAX_INDICES],
    stride: [i64; MAX_INDICES],
}
// SAFETY: `#[repr(C)]` with the fields, order and sizes of `struct RtIndices` (8-byte
// pointers as u64 device addresses, `View` as `RtView`, long long as i64), all 8-byte aligned.
unsafe impl KernelArg for IndexArgs {}

fn index_kernel(name: &'static str) -> Kernel {
    Kernel { file: &INDEX, name }
}

fn sort_kernel(name: &'static str) -> Kernel {
    Kernel { file: &SORT, name }
}

fn dims(v: impl IntoIterator<Item = i64>) -> Dims {
    let mut d = Dims::default();
    for (slot, x) in d.v.iter_mut().zip(v) {
        *slot = x;
    }
    d
}

fn too_many_dims(op: &str, shape: &[usize]) -> Error {
    Error::NotImplemented(format!(
        "{op}: a view with more than {MAX_DIMS} dims that cannot be merged is not supported on CUDA (shape {shape:?})"
    ))
}

/// A strided block walked in row-major order: its element count and merged shape/strides.
struct Block {
    n: usize,
    ndim: i32,
    sizes: Dims,
    strides: Dims,
}

fn block_of(op: &str, shape: &[usize], strides: &[isize]) -> Result<Block> {
    let (merged, [ms]) = coalesce(shape, [strides]);
    if merged.len() > MAX_DIMS {
        return Err(too_many_dims(op, shape));
    }
    Ok(Block {
        n: numel(shape),
        ndim: merged.len() as i32,
        sizes: dims(merged.iter().map(|&s| s as i64)),
        strides: dims(ms.iter().map(|&s| s as i64)),
    })
}

/// `l`'s dims after the `k` indexed ones: the block copied at each index entry.
fn rest_of(op: &str, l: &Layout, k: usize) -> Result<(Vec<usize>, Block)> {
    let shape = l.shape[k..].to_vec();
    let block = block_of(op, &shape, &l.strides[k..])?;
    Ok((shape, block))
}

/// Checks what the kernels assume of an advanced index's operands.
fn check_indices(
    op: &str,
    l: &Layout,
    indices: &[(&CudaBuffer, &Layout)],
    index_shape: &[usize],
) -> Result<()> {
    if indices.len() > MAX_INDICES {
        return Err(Error::NotImplemented(format!(
            "{op}: more than {MAX_INDICES} index tensors are not supported on CUDA"
        )));
    }
    if indices.len() > l.ndim() {
        return Err(Error::Index(format!(
            "too many indices for tensor of dimension {}",
            l.ndim()
        )));
    }
    for (b, il) in indices {
        if b.dtype() != DType::I64 {
            return Err(Error::Index(
                "tensors used as indices must be long, int, byte or bool tensors".into(),
            ));
        }
        if il.ndim() > index_shape.len() {
            return Err(Error::Runtime(format!(
                "{op}: an index of shape {:?} does not broadcast to {index_shape:?}",
                il.shape
            )));
        }
    }
    Ok(())
}

/// The element offset into `l`'s buffer that each entry of `index_shape` selects (-1 where
/// an index is out of range, which the kernel records).
fn advanced_offsets(
    dev: &Arc<dyn DeviceApi>,
    l: &Layout,
    indices: &[(&CudaBuffer, &Layout)],
    index_shape: &[usize],
) -> Result<CudaBuffer> {
    let n = numel(index_shape);
    let offs = CudaBuffer::alloc(dev, n, DType::I64)?;
    let strides: [Vec<isize>; MAX_INDICES] = std::array::from_fn(|j| match indices.get(j) {
        Some((_, il)) => broadcast_strides(&il.shape, &il.strides, index_shape),
        None => vec![0; index_shape.len()],
    });
    let refs: [&[isize]; MAX_INDICES] = std::array::from_fn(|j| strides[j].as_slice());
    let (merged, merged_strides) = coalesce(index_shape, refs);
    if merged.len() > MAX_DIMS {
        return Err(too_many_dims("index", index_shape));
    }
    let mut ix = IndexArgs::default();
    for (j, (b, il)) in indices.iter().enumerate() {
        ix.ptr[j] = b.device_ptr();
        ix.view[j] = View {
            strides: dims(merged_strides[j].iter().map(|&s| s as i64)),
            offset: il.offset as i64,
        };
        ix.size[j] = l.shape[j] as i64;
        ix.stride[j] = l.strides[j] as i64;
    }
    let mut args = Args::new();
    args.arg(offs.device_ptr())
        .arg(n as i64)
        .arg(merged.len() as i32)
        .arg(dims(merged.iter().map(|&s| s as i64)))
        .arg(indices.len() as i32)
        .arg(ix)
        .arg(l.offset as i64)
        .arg(dev.error_record());
    launch_elementwise(dev, index_kernel("index_offsets"), DType::I64, n, &mut args)?;
    Ok(offs)
}

/// Advanced indexing: `l`'s first `indices.len()` dims indexed by int64 tensors broadcast
/// to `index_shape` (negative indices wrap); the result is contiguous `index_shape +
/// l.shape[k..]`.
pub fn index(
    src: &CudaBuffer,
    l: &Layout,
    indices: &[(&CudaBuffer, &Layout)],
    index_shape: &[usize],
) -> Result<CudaBuffer> {
    check_indices("index", l, indices, index_shape)?;
    let dev = src.dev();
    let (_, rest) = rest_of("index", l, indices.len())?;
    let n = numel(index_shape);
    let total = n * rest.n;
    let out = CudaBuffer::alloc(dev, total, src.dtype())?;
    if n == 0 {
        return Ok(out);
    }
    // The indices are checked even when the rest is empty, as on the CPU.
    let offs = advanced_offsets(dev, l, indices, index_shape)?;
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(src.device_ptr())
        .arg(offs.device_ptr())
        .arg(total as i64)
        .arg(rest.n as i64)
        .arg(rest.ndim)
        .arg(rest.sizes)
        .arg(rest.strides);
    launch_elementwise(
        dev,
        index_kernel("index_gather"),
        src.dtype(),
        total,
        &mut args,
    )?;
    Ok(out)
}

/// Writes (or adds, with `accumulate`) `values`, broadcast to `index_shape + l.shape[k..]`,
/// at the places [`index`] reads; `dst` is contiguous and fresh.
pub fn index_put(
    dst: &CudaBuffer,
    l: &Layout,
    indices: &[(&CudaBuffer, &Layout)],
    index_shape: &[usize],
    values: Arg<'_, CudaBuffer>,
    accumulate: bool,
) -> Result<()> {
    check_indices("index_put_", l, indices, index_shape)?;
    let dev = dst.dev();
    let (rest_shape, rest) = rest_of("index_put_", l, indices.len())?;
    let n = numel(index_shape);
    if n == 0 {
        return Ok(());
    }
    let mut full = index_shape.to_vec();
    full.extend_from_slice(&rest_shape);
    let packed;
    let (vptr, vl, number) = match values {
        Arg::Buf(b, vl) => {
            if vl.ndim() > full.len() {
                return Err(Error::Runtime(format!(
                    "shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {full:?}",
                    vl.shape
                )));
            }
            if b.dtype() == dst.dtype() {
                (b.device_ptr(), Some(vl.clone()), None)
            } else {
                packed = cast(b, vl, dst.dtype())?;
                (
                    packed.device_ptr(),
                    Some(Layout::contiguous(&vl.shape)),
                    None,
                )
            }
        }
        Arg::Scalar(s) => (0, None, Some(KScalar::from(s))),
    };
    let it = iter("index_put_", &full, [vl.as_ref()])?;
    let offs = advanced_offsets(dev, l, indices, index_shape)?;
    let total = n * rest.n;
    let mut args = Args::new();
    args.arg(dst.device_ptr())
        .arg(vptr)
        .arg(offs.device_ptr())
        .arg(total as i64)
        .arg(rest.n as i64)
        .arg(rest.ndim)
        .arg(rest.sizes)
        .arg(rest.strides)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[0])
        .arg(number.unwrap_or_default())
        .arg(i32::from(number.is_some()))
        .arg(i32::from(accumulate));
    launch_elementwise(
        dev,
        index_kernel("index_put"),
        dst.dtype(),
        total,
        &mut args,
    )
}

/// The layout that walks `l` alongside an index of layout `il` along `dim`: the index's
/// shape, `l`'s strides with `dim`'s left to the index values (as the CPU's `beside_index`).
fn beside_index(op: &str, l: &Layout, il: &Layout, dim: usize) -> Result<Layout> {
    let strides = if il.shape.is_empty() {
        vec![]
    } else {
        if l.ndim() != il.ndim() || dim >= l.ndim() {
            return Err(Error::Runtime(format!(
                "{op}: Index tensor must have the same number of dimensions as input tensor"
            )));
        }
        let mut s = l.strides.clone();
        s[dim] = 0;
        s
    };
    Ok(Layout {
        shape: il.shape.clone(),
        strides,
        offset: l.offset,
    })
}

fn check_index_dtype(op: &str, idx: &CudaBuffer) -> Result<()> {
    if idx.dtype() != DType::I64 {
        return Err(Error::Runtime(format!(
            "{op}(): Expected dtype int64 for index"
        )));
    }
    Ok(())
}

/// `out[i][j][k] = src[i][idx[i][j][k]][k]` along `dim` (for dim 1), in the index's shape;
/// no negative indices, as PyTorch's `gather`.
pub fn gather(
    src: &CudaBuffer,
    sl: &Layout,
    dim: usize,
    idx: &CudaBuffer,
    il: &Layout,
) -> Result<CudaBuffer> {
    check_index_dtype("gather", idx)?;
    let dev = src.dev();
    let size = sl.shape.get(dim).copied().unwrap_or(1);
    let stride_d = sl.strides.get(dim).copied().unwrap_or(0);
    let sv = beside_index("gather", sl, il, dim)?;
    let it = iter("gather", &il.shape, [Some(il), Some(&sv)])?;
    let out = CudaBuffer::alloc(dev, it.n, src.dtype())?;
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(src.device_ptr())
        .arg(idx.device_ptr())
        .arg(it.n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[0])
        .arg(it.views[1])
        .arg(size as i64)
        .arg(stride_d as i64)
        .arg(dim as i32)
        .arg(dev.error_record());
    launch_elementwise(
        dev,
        index_kernel("gather_dim"),
        src.dtype(),
        it.n,
        &mut args,
    )?;
    Ok(out)
}

/// `dst[i][idx[i][j][k]][k] = src[i][j][k]` (or `+=`) along `dim` (for dim 1), in place;
/// `src` is read in the index's shape (a buffer broadcast to it, or a number).
#[allow(clippy::too_many_arguments)]
pub fn scatter(
    dst: &CudaBuffer,
    dl: &Layout,
    dim: usize,
    idx: &CudaBuffer,
    il: &Layout,
    src: Arg<'_, CudaBuffer>,
    accumulate: bool,
) -> Result<()> {
    check_index_dtype("scatter", idx)?;
    let dev = dst.dev();
    let size = dl.shape.get(dim).copied().unwrap_or(1);
    let stride_d = dl.strides.get(dim).copied().unwrap_or(0);
    let dv = beside_index("scatter", dl, il, dim)?;
    let packed;
    let (sptr, sl, number) = match src {
        Arg::Buf(b, sl) => {
            if sl.ndim() > il.ndim() {
                return Err(Error::Runtime(
                    "scatter(): Index tensor must have the same number of dimensions as src tensor"
                        .into(),
                ));
            }
            if b.dtype() == dst.dtype() {
                (b.device_ptr(), Some(sl.clone()), None)
            } else {
                packed = cast(b, sl, dst.dtype())?;
                (
                    packed.device_ptr(),
                    Some(Layout::contiguous(&sl.shape)),
                    None,
                )
            }
        }
        Arg::Scalar(s) => (0, None, Some(KScalar::from(s))),
    };
    let it = iter("scatter", &il.shape, [Some(il), Some(&dv), sl.as_ref()])?;
    let mut args = Args::new();
    args.arg(dst.device_ptr())
        .arg(idx.device_ptr())
        .arg(sptr)
        .arg(it.n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[0])
        .arg(it.views[1])
        .arg(it.views[2])
        .arg(number.unwrap_or_default())
        .arg(i32::from(number.is_some()))
        .arg(size as i64)
        .arg(stride_d as i64)
        .arg(dim as i32)
        .arg(i32::from(accumulate))
        .arg(dev.error_record());
    launch_elementwise(
        dev,
        index_kernel("scatter_dim"),
        dst.dtype(),
        it.n,
        &mut args,
    )
}

/// Elements per `nonzero` chunk: about four chunks per multiprocessor, between 1024 and
/// 65536 elements (a chunk is scanned by one block, tile by tile).
fn nonzero_chunk(dev: &dyn DeviceApi, n: usize) -> usize {
    n.div_ceil(4 * dev.sm_count() as usize).clamp(1024, 1 << 16)
}

/// The int64 `[count, ndim]` positions of the nonzero elements of the view, in row-major
/// order, and the count.
pub fn nonzero(x: &CudaBuffer, l: &Layout) -> Result<(CudaBuffer, usize)> {
    let dev = x.dev();
    let ndim = l.ndim();
    if ndim > MAX_DIMS {
        return Err(Error::NotImplemented(format!(
            "nonzero: tensors of more than {MAX_DIMS} dims are not supported on CUDA"
        )));
    }
    let n = l.numel();
    if n == 0 {
        return Ok((CudaBuffer::alloc(dev, 0, DType::I64)?, 0));
    }
    let it = iter("nonzero", &l.shape, [Some(l)])?;
    let chunk = nonzero_chunk(dev.as_ref(), n);
    let nchunks = n.div_ceil(chunk);
    let grid = nchunks.min(dev.sm_count() as usize * 8) as u32;
    let counts = CudaBuffer::alloc(dev, nchunks, DType::I64)?;
    let mut args = Args::new();
    args.arg(counts.device_ptr())
        .arg(x.device_ptr())
        .arg(n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[0])
        .arg(chunk as i64)
        .arg(nchunks as i64);
    dev.launch(
        index_kernel("nonzero_count"),
        x.dtype(),
        grid,
        256,
        &mut args,
    )?;
    // The one read back: the result's size depends on the data.
    let mut bytes = vec![0u8; nchunks * 8];
    dev.dtoh(&mut bytes, counts.device_ptr())?;
    let mut starts = Vec::with_capacity(nchunks * 8);
    let mut count = 0usize;
    for c in bytes.chunks_exact(8) {
        starts.extend_from_slice(&(count as i64).to_ne_bytes());
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        count += i64::from_ne_bytes(word) as usize;
    }
    let out = CudaBuffer::alloc(dev, count * ndim, DType::I64)?;
    if count == 0 || ndim == 0 {
        return Ok((out, count));
    }
    dev.htod(counts.device_ptr(), &starts)?;
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(x.device_ptr())
        .arg(counts.device_ptr())
        .arg(n as i64)
        .arg(it.ndim)
        .arg(it.sizes)
        .arg(it.views[0])
        .arg(ndim as i32)
        .arg(dims(l.shape.iter().map(|&s| s as i64)))
        .arg(chunk as i64)
        .arg(nchunks as i64);
    dev.launch(
        index_kernel("nonzero_write"),
        x.dtype(),
        grid,
        256,
        &mut args,
    )?;
    Ok((out, count))
}

/// The most pairs one block sorts in shared memory for `dtype` (`RT_SORT_TILE` in
/// `sort.cu`: 64-bit keys for the 64-bit dtypes, 32-bit keys otherwise; 32 KB or less).
fn sort_tile(dtype: DType) -> usize {
    if dtype.size() == 8 {
        2048
    } else {
        4096
    }
}

/// int64 indices of each row's first `k` elements in sorted order (stable, NaN last
/// ascending and first descending), contiguous `rows × k`.
pub fn sort(
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    descending: bool,
    k: usize,
) -> Result<CudaBuffer> {
    sort_in_tiles(x, l, rows, len, descending, k, sort_tile(x.dtype()))
}

/// [`sort`] with rows longer than `tile` (a power of two, at most the kernel's
/// `RT_SORT_TILE`) sorted through global memory; the tests pass small tiles.
fn sort_in_tiles(
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    descending: bool,
    k: usize,
    tile: usize,
) -> Result<CudaBuffer> {
    let dev = x.dev();
    let k = k.min(len);
    let out = CudaBuffer::alloc(dev, rows * k, DType::I64)?;
    if rows * k == 0 {
        return Ok(out);
    }
    if rows * len != l.numel() {
        return Err(Error::Runtime(format!(
            "sort: {rows} rows of {len} do not match a view of shape {:?}",
            l.shape
        )));
    }
    if len > 1 << 30 {
        return Err(Error::NotImplemented(
            "sort: rows of more than 2^30 elements are not supported on CUDA".into(),
        ));
    }
    let packed;
    let xptr = if l.is_contiguous() {
        x.ptr_at(l.offset)
    } else {
        packed = cast(x, l, x.dtype())?;
        packed.device_ptr()
    };
    let desc = i32::from(descending);
    let p = len.next_power_of_two();
    let max_grid = dev.sm_count() as usize * 16;
    if p <= tile {
        let segs = tile / p;
        let groups = rows.div_ceil(segs);
        let active = rows.min(segs).next_power_of_two() * p;
        let block = (active / 2).clamp(32, 512) as u32;
        let mut args = Args::new();
        args.arg(out.device_ptr())
            .arg(xptr)
            .arg(rows as i64)
            .arg(len as i64)
            .arg(p as i64)
            .arg(k as i64)
            .arg(tile as i64)
            .arg(desc);
        dev.launch(
            sort_kernel("sort_rows"),
            x.dtype(),
            groups.min(max_grid) as u32,
            block,
            &mut args,
        )?;
        return Ok(out);
    }
    // Rows longer than a tile: pairs in global memory, rows padded to p.
    let total = rows * p;
    let key_dtype = if x.dtype().size() == 8 {
        DType::I64
    } else {
        DType::I32
    };
    let keys = CudaBuffer::alloc(dev, total, key_dtype)?;
    let idx = CudaBuffer::alloc(dev, total, DType::I32)?;
    let tiles = total / tile;
    let grid = tiles.min(max_grid) as u32;
    let block = (tile / 2).min(512) as u32;
    let mut args = Args::new();
    args.arg(keys.device_ptr())
        .arg(idx.device_ptr())
        .arg(xptr)
        .arg(rows as i64)
        .arg(len as i64)
        .arg(p as i64)
        .arg(tile as i64)
        .arg(desc);
    dev.launch(sort_kernel("sort_tiles"), x.dtype(), grid, block, &mut args)?;
    let mut size = 2 * tile;
    while size <= p {
        let mut stride = size / 2;
        while stride >= tile {
            let (g, b) = grid_for(dev.as_ref(), total / 2);
            let mut args = Args::new();
            args.arg(keys.device_ptr())
                .arg(idx.device_ptr())
                .arg((total / 2) as i64)
                .arg(p as i64)
                .arg(size as i64)
                .arg(stride as i64);
            dev.launch(sort_kernel("sort_step"), x.dtype(), g, b, &mut args)?;
            stride /= 2;
        }
        let mut args = Args::new();
        args.arg(keys.device_ptr())
            .arg(idx.device_ptr())
            .arg(out.device_ptr())
            .arg(rows as i64)
            .arg(p as i64)
            .arg(size as i64)
            .arg(k as i64)
            .arg(tile as i64)
            .arg(i32::from(size == p));
        dev.launch(sort_kernel("sort_merge"), x.dtype(), grid, block, &mut args)?;
        size *= 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::elementwise::download;
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;
    use crate::tensor::dtype::Scalar;

    /// The host harness loads one copy of each kernel library per process, so its barrier
    /// and `__shared__` statics are shared by every `HostDevice`: these tests take turns.
    static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

    fn ints(v: &[i64]) -> HostBuffer {
        HostBuffer::from_vec(v.to_vec())
    }

    fn of_dtype(v: &[f64], dtype: DType) -> HostBuffer {
        let h = HostBuffer::from_vec(v.to_vec());
        Cpu::cast(&h, &Layout::contiguous(&[v.len()]), dtype).unwrap()
    }

    fn c(shape: &[usize]) -> Layout {
        Layout::contiguous(shape)
    }

    /// Index tensors on the host and on the device, with their layouts.
    struct Indices {
        host: Vec<(HostBuffer, Layout)>,
        dev: Vec<CudaBuffer>,
    }

    impl Indices {
        fn new(dev: &Arc<dyn DeviceApi>, idx: &[(Vec<i64>, Layout)]) -> Indices {
            let host: Vec<(HostBuffer, Layout)> =
                idx.iter().map(|(v, l)| (ints(v), l.clone())).collect();
            let dev = host.iter().map(|(h, _)| put(dev, h)).collect();
            Indices { host, dev }
        }
        fn host_views(&self) -> Vec<(&HostBuffer, &Layout)> {
            self.host.iter().map(|(h, l)| (h, l)).collect()
        }
        fn dev_views(&self) -> Vec<(&CudaBuffer, &Layout)> {
            self.dev
                .iter()
                .zip(&self.host)
                .map(|(d, (_, l))| (d, l))
                .collect()
        }
    }

    /// Index tensors: each one's values and layout.
    type IndexSpec = Vec<(Vec<i64>, Layout)>;

    /// Advanced-index cases over a `[5, 4, 3]` tensor: (index tensors, index shape).
    fn index_cases() -> Vec<(IndexSpec, Vec<usize>)> {
        vec![
            // One 1-D index with negative values.
            (vec![(vec![-1, 0, 3, 2, 4, -5, 1], c(&[7]))], vec![7]),
            // Two indices broadcast together: [2, 1] and [3] to [2, 3].
            (
                vec![(vec![4, -2], c(&[2, 1])), (vec![0, 3, -1], c(&[3]))],
                vec![2, 3],
            ),
            // A transposed index.
            (
                vec![(vec![0, 1, 2, 3, 4, 0], c(&[2, 3]).transpose(0, 1).unwrap())],
                vec![3, 2],
            ),
            // A strided index expanded along its first dim.
            (
                vec![(
                    vec![1, 9, 3, 9, 0],
                    Layout {
                        shape: vec![2, 3],
                        strides: vec![0, 2],
                        offset: 0,
                    },
                )],
                vec![2, 3],
            ),
            // Every dim indexed: the rest is one element.
            (
                vec![
                    (vec![0, 4, 2], c(&[3])),
                    (vec![3, 0, -1], c(&[3])),
                    (vec![2, 1, 0], c(&[3])),
                ],
                vec![3],
            ),
            // No entries.
            (vec![(vec![], c(&[0]))], vec![0]),
        ]
    }

    #[test]
    fn index_matches_the_cpu_over_dtypes_layouts_and_index_shapes() {
        if !available("index") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::F16, DType::I64, DType::Bool, DType::U8] {
            for (l, len) in layouts(&[5, 4, 3]) {
                let host = data(dtype, len, 3, true);
                let buf = put(&dev, &host);
                for (idx, shape) in index_cases() {
                    let ix = Indices::new(&dev, &idx);
                    let got = get(&index(&buf, &l, &ix.dev_views(), &shape).unwrap());
                    let want = as_f64(&Cpu::index(&host, &l, &ix.host_views(), &shape).unwrap());
                    assert_close(&format!("index {dtype:?} {l:?} {idx:?}"), &got, &want, 0.0);
                }
            }
        }
    }

    #[test]
    fn index_put_matches_the_cpu_with_and_without_accumulate() {
        if !available("index_put") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let dl = c(&[5, 4, 3]);
        // Distinct places for plain puts; repeated ones (also through wrapping) to add.
        let plain: Vec<IndexSpec> = vec![
            vec![(vec![1, 3, -1, 0], c(&[4]))],
            vec![(vec![0, 2, 4], c(&[3])), (vec![1, -1, 1], c(&[3]))],
        ];
        let repeated: Vec<IndexSpec> = vec![
            vec![(vec![1, 3, 1, -4, 0, 1], c(&[6]))],
            vec![(vec![0, 2, 0, 0], c(&[4])), (vec![1, 1, 1, -3], c(&[4]))],
            vec![(vec![2, 2, 2, 2, 2, 2], c(&[2, 3]))],
        ];
        for dtype in [
            DType::F32,
            DType::F16,
            DType::BF16,
            DType::F64,
            DType::I64,
            DType::I32,
            DType::I16,
            DType::I8,
            DType::U8,
            DType::Bool,
        ] {
            let tolerance = 4.0 * tol(dtype);
            for (accumulate, cases) in [(false, &plain), (true, &repeated)] {
                for idx in cases {
                    let ix = Indices::new(&dev, idx);
                    let index_shape = idx[0].1.shape.clone();
                    let k = idx.len();
                    let mut full = index_shape.clone();
                    full.extend_from_slice(&dl.shape[k..]);
                    // Values: the whole shape in each test layout, the rest only (broadcast
                    // over the index entries), and a number.
                    let mut values: Vec<(HostBuffer, Option<Layout>)> = layouts(&full)
                        .into_iter()
                        .map(|(vl, len)| (data(dtype, len, 9, false), Some(vl)))
                        .collect();
                    let rest = &dl.shape[k..];
                    values.push((data(dtype, numel(rest), 4, false), Some(c(rest))));
                    values.push((data(dtype, 1, 0, false), None));
                    for (vh, vl) in &values {
                        let host = data(dtype, 60, 2, false);
                        let dst = put(&dev, &host);
                        let vd = put(&dev, vh);
                        let number = Scalar::Float(-1.25);
                        let (harg, darg) = match vl {
                            Some(vl) => (Arg::Buf(vh, vl), Arg::Buf(&vd, vl)),
                            None => (Arg::Scalar(number), Arg::Scalar(number)),
                        };
                        index_put(&dst, &dl, &ix.dev_views(), &index_shape, darg, accumulate)
                            .unwrap();
                        Cpu::index_put(
                            &host,
                            &dl,
                            &ix.host_views(),
                            &index_shape,
                            harg,
                            accumulate,
                        )
                        .unwrap();
                        assert_close(
                            &format!("index_put {dtype:?} acc={accumulate} {idx:?} {vl:?}"),
                            &get(&dst),
                            &as_f64(&host),
                            tolerance,
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn plain_puts_at_repeated_places_keep_one_of_the_values() {
        if !available("index_put repeated") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let dst = put(&dev, &HostBuffer::from_vec(vec![0.0f32; 4]));
        let ix = Indices::new(&dev, &[(vec![2, -2, 2], c(&[3]))]);
        let vals = put(&dev, &HostBuffer::from_vec(vec![1.0f32, 2.0, 3.0]));
        index_put(
            &dst,
            &c(&[4]),
            &ix.dev_views(),
            &[3],
            Arg::Buf(&vals, &c(&[3])),
            false,
        )
        .unwrap();
        let got = get(&dst);
        assert_eq!((got[0], got[1], got[3]), (0.0, 0.0, 0.0));
        assert!([1.0, 2.0, 3.0].contains(&got[2]), "{got:?}");
    }

    /// Gather/scatter cases: (src/dst shape, dim, index shape).
    fn dim_cases() -> Vec<(Vec<usize>, usize, Vec<usize>)> {
        vec![
            (vec![4, 5], 0, vec![3, 5]),
            (vec![4, 5], 1, vec![4, 3]),
            (vec![2, 3, 4], 2, vec![2, 2, 3]),
            (vec![2, 3, 4], 1, vec![1, 3, 4]),
            // Longer than the source along `dim` (gather, or a scatter that adds).
            (vec![4, 5], 1, vec![4, 7]),
        ]
    }

    /// Index values for `shape` along `dim` of size `size`: distinct along `dim` when
    /// `distinct` (a plain scatter then writes each place once), else repeating.
    fn dim_index(shape: &[usize], dim: usize, size: usize, distinct: bool) -> Vec<i64> {
        let n = numel(shape);
        let st = crate::tensor::layout::contiguous_strides(shape);
        (0..n)
            .map(|i| {
                let along = (i as isize / st[dim]) as usize % shape[dim];
                let v = if distinct {
                    (along + (i - along * st[dim] as usize) % size) % size
                } else {
                    (i * 7 + 3) % size
                };
                v as i64
            })
            .collect()
    }

    #[test]
    fn gather_matches_the_cpu_along_first_and_last_dims() {
        if !available("gather") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::F16, DType::I64, DType::Bool, DType::U8] {
            for (shape, dim, ishape) in dim_cases() {
                for (sl, len) in layouts(&shape) {
                    let host = data(dtype, len, 5, true);
                    let buf = put(&dev, &host);
                    for (il, ilen) in layouts(&ishape) {
                        // The index values in the layout's order of storage.
                        let vals = dim_index(&[ilen], 0, shape[dim], false);
                        let (hi, di) = (ints(&vals), put(&dev, &ints(&vals)));
                        let got = get(&gather(&buf, &sl, dim, &di, &il).unwrap());
                        let want = as_f64(&Cpu::gather(&host, &sl, dim, &hi, &il).unwrap());
                        assert_close(
                            &format!("gather {dtype:?} {sl:?} {dim} {il:?}"),
                            &got,
                            &want,
                            0.0,
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scatter_matches_the_cpu_with_buffers_numbers_and_accumulate() {
        if !available("scatter") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        for dtype in [
            DType::F32,
            DType::BF16,
            DType::I64,
            DType::I32,
            DType::I16,
            DType::Bool,
            DType::U8,
        ] {
            for (shape, dim, ishape) in dim_cases() {
                let dl = c(&shape);
                for accumulate in [false, true] {
                    if !accumulate && ishape[dim] > shape[dim] {
                        continue;
                    }
                    let vals = dim_index(&ishape, dim, shape[dim], !accumulate);
                    let (hi, di) = (ints(&vals), put(&dev, &ints(&vals)));
                    let il = c(&ishape);
                    // src: in each test layout of the index's shape, larger than the index
                    // (PyTorch reads its leading block), and a number.
                    let mut srcs: Vec<(HostBuffer, Option<Layout>)> = layouts(&ishape)
                        .into_iter()
                        .map(|(l, len)| (data(dtype, len, 8, false), Some(l)))
                        .collect();
                    let bigger: Vec<usize> = ishape.iter().map(|s| s + 1).collect();
                    srcs.push((data(dtype, numel(&bigger), 6, false), Some(c(&bigger))));
                    srcs.push((data(dtype, 1, 0, false), None));
                    for (sh, sl) in &srcs {
                        let host = data(dtype, numel(&shape), 1, false);
                        let dst = put(&dev, &host);
                        let sd = put(&dev, sh);
                        let number = Scalar::Int(3);
                        let (harg, darg) = match sl {
                            Some(sl) => (Arg::Buf(sh, sl), Arg::Buf(&sd, sl)),
                            None => (Arg::Scalar(number), Arg::Scalar(number)),
                        };
                        scatter(&dst, &dl, dim, &di, &il, darg, accumulate).unwrap();
                        Cpu::scatter(&host, &dl, dim, &hi, &il, harg, accumulate).unwrap();
                        assert_close(
                            &format!(
                                "scatter {dtype:?} {shape:?} dim {dim} acc={accumulate} {sl:?}"
                            ),
                            &get(&dst),
                            &as_f64(&host),
                            4.0 * tol(dtype),
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_indices_are_reported_at_the_next_read_and_the_device_works_on() {
        if !available("index errors") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let host = data(DType::F32, 20, 1, false);
        let src = put(&dev, &host);
        let l = c(&[5, 4]);
        let good = Indices::new(&dev, &[(vec![4, 0], c(&[2]))]);
        let want = as_f64(&Cpu::index(&host, &l, &good.host_views(), &[2]).unwrap());
        let check_good = || {
            assert_eq!(
                get(&index(&src, &l, &good.dev_views(), &[2]).unwrap()),
                want
            );
        };

        let bad = Indices::new(&dev, &[(vec![0, 5], c(&[2]))]);
        let out = index(&src, &l, &bad.dev_views(), &[2]).expect("the launch succeeds");
        let e = download(&out, &c(&[8])).unwrap_err();
        assert_eq!(
            e,
            Error::Index("index 5 is out of bounds for dimension 0 with size 5".into())
        );
        check_good();

        let bad = Indices::new(&dev, &[(vec![0], c(&[1])), (vec![-5], c(&[1]))]);
        let dst = put(&dev, &host);
        index_put(
            &dst,
            &l,
            &bad.dev_views(),
            &[1],
            Arg::Scalar(Scalar::Int(1)),
            true,
        )
        .unwrap();
        let e = download(&dst, &l).unwrap_err();
        assert_eq!(
            e,
            Error::Index("index -5 is out of bounds for dimension 1 with size 4".into())
        );
        check_good();

        let idx = put(&dev, &ints(&[0, 1, 7, 2]));
        let out = gather(&src, &l, 1, &idx, &c(&[1, 4])).unwrap();
        let e = download(&out, &c(&[4])).unwrap_err();
        assert_eq!(
            e,
            Error::Runtime("index 7 is out of bounds for dimension 1 with size 4".into())
        );
        check_good();

        let idx = put(&dev, &ints(&[-1, 0, 1, 2]));
        let dst = put(&dev, &host);
        scatter(
            &dst,
            &l,
            0,
            &idx,
            &c(&[1, 4]),
            Arg::Scalar(Scalar::Int(0)),
            false,
        )
        .unwrap();
        let e = download(&dst, &l).unwrap_err();
        assert_eq!(
            e,
            Error::Runtime("index -1 is out of bounds for dimension 0 with size 5".into())
        );
        check_good();
    }

    /// Values with zeros, -0.0 and NaN in several places.
    fn sparse_values(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| match i % 11 {
                0 | 3 | 7 => 0.0,
                5 => -0.0,
                9 => f64::NAN,
                _ => (i % 5) as f64 - 2.0,
            })
            .collect()
    }

    #[test]
    fn nonzero_matches_the_cpu_over_chunks_layouts_and_edge_shapes() {
        if !available("nonzero") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        for dtype in [
            DType::Bool,
            DType::I32,
            DType::U8,
            DType::F32,
            DType::F16,
            DType::BF16,
        ] {
            let mut cases: Vec<(Layout, usize)> = layouts(&[70, 90]);
            cases.extend(layouts(&[10, 20, 30]));
            cases.push((c(&[]), 1));
            cases.push((
                Layout {
                    shape: vec![],
                    strides: vec![],
                    offset: 1,
                },
                2,
            ));
            cases.push((c(&[0, 3]), 0));
            cases.push((c(&[3, 0]), 0));
            cases.push((c(&[4000]), 4000));
            for (l, len) in cases {
                for seed in [0usize, 1] {
                    let vals: Vec<f64> = sparse_values(len + seed).split_off(seed);
                    let host = of_dtype(&vals, dtype);
                    let (out, count) = nonzero(&put(&dev, &host), &l).unwrap();
                    let (want, want_count) = Cpu::nonzero(&host, &l).unwrap();
                    assert_eq!(count, want_count, "nonzero count {dtype:?} {l:?}");
                    assert_eq!(out.len(), count * l.ndim());
                    assert_close(
                        &format!("nonzero {dtype:?} {l:?}"),
                        &get(&out),
                        &as_f64(&want),
                        0.0,
                    );
                }
            }
        }
    }

    /// Sort keys with ties, both zeros, infinities and NaN.
    fn sort_values(n: usize, seed: u64) -> Vec<f64> {
        let pool = [
            f64::NAN,
            -0.0,
            0.0,
            1.0,
            -1.5,
            2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0,
            7.0,
            -3.0,
        ];
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                pool[(s % pool.len() as u64) as usize]
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn check_sort(
        dev: &Arc<dyn DeviceApi>,
        host: &HostBuffer,
        l: &Layout,
        rows: usize,
        len: usize,
        descending: bool,
        k: usize,
        tile: usize,
    ) {
        let buf = put(dev, host);
        let got = get(&sort_in_tiles(&buf, l, rows, len, descending, k, tile).unwrap());
        let want = as_f64(&Cpu::sort(host, l, rows, len, descending, k).unwrap());
        let what = format!(
            "sort {:?} {l:?} rows {rows} len {len} desc {descending} k {k} tile {tile}",
            host.dtype()
        );
        assert_close(&what, &got, &want, 0.0);
    }

    #[test]
    fn short_row_sorts_match_the_cpu_for_every_dtype() {
        if !available("sort") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        for dtype in DType::ALL {
            let tile = sort_tile(dtype);
            let (rows, len) = (6, 37);
            let host = of_dtype(&sort_values(rows * len, 1), dtype);
            let views = [c(&[rows, len]), c(&[len, rows]).transpose(0, 1).unwrap()];
            for l in &views {
                for descending in [false, true] {
                    for k in [len, 5] {
                        check_sort(&dev, &host, l, rows, len, descending, k, tile);
                    }
                }
            }
            // Many short rows, several groups of rows per block (small tiles).
            let host = of_dtype(&sort_values(300 * 3, 2), dtype);
            for descending in [false, true] {
                check_sort(&dev, &host, &c(&[300, 3]), 300, 3, descending, 3, 16);
                check_sort(&dev, &host, &c(&[300, 3]), 300, 3, descending, 2, tile);
            }
            // Rows of one element, and nothing to sort.
            let host = of_dtype(&sort_values(5, 3), dtype);
            check_sort(&dev, &host, &c(&[5, 1]), 5, 1, false, 1, tile);
            let empty = of_dtype(&[], dtype);
            check_sort(&dev, &empty, &c(&[3, 0]), 3, 0, false, 0, tile);
            check_sort(&dev, &empty, &c(&[0, 4]), 0, 4, true, 4, tile);
        }
    }

    #[test]
    fn long_row_sorts_match_the_cpu() {
        if !available("long sort") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        // Small tiles: several global passes and merges per stage.
        for dtype in [
            DType::F32,
            DType::F16,
            DType::F64,
            DType::I64,
            DType::U8,
            DType::Bool,
        ] {
            let (rows, len) = (3, 100);
            let host = of_dtype(&sort_values(rows * len, 4), dtype);
            let views = [c(&[rows, len]), c(&[len, rows]).transpose(0, 1).unwrap()];
            for l in &views {
                for descending in [false, true] {
                    for k in [len, 10, 20] {
                        check_sort(&dev, &host, l, rows, len, descending, k, 16);
                    }
                }
            }
        }
        // Rows longer than the real tile.
        let host = of_dtype(&sort_values(5000, 5), DType::F32);
        for descending in [false, true] {
            check_sort(
                &dev,
                &host,
                &c(&[1, 5000]),
                1,
                5000,
                descending,
                5000,
                sort_tile(DType::F32),
            );
        }
        let host = of_dtype(&sort_values(2 * 3000, 6), DType::F16);
        check_sort(&dev, &host, &c(&[2, 3000]), 2, 3000, true, 100, 1024);
    }

    #[test]
    fn random_int64_keys_sort_to_the_cpus_permutation() {
        if !available("randperm keys") {
            return;
        }
        let _turn = SERIAL.lock();
        let dev = HostDevice::open();
        let mut s = 0x1234_5678_9abc_def1u64;
        let keys: Vec<i64> = (0..2 * 3000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as i64
            })
            .collect();
        let host = ints(&keys);
        check_sort(
            &dev,
            &host,
            &c(&[2, 3000]),
            2,
            3000,
            false,
            3000,
            sort_tile(DType::I64),
        );
        let got = get(&sort(&put(&dev, &host), &c(&[6000]), 1, 6000, false, 6000).unwrap());
        let mut seen = vec![false; 6000];
        for v in got {
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&b| b), "a permutation");
    }
}
