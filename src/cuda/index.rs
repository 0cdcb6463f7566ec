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
mod tests;
