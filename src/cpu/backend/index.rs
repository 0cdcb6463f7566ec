//! Indexing on host buffers: `index`, `index_put`, `gather`, `scatter`, `nonzero`.

use super::{fits_in_memory, materialize};
use crate::backend::{Arg, HostBuffer};
use crate::cpu::index;
use crate::error::Result;
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;

/// [`Backend::index`](crate::backend::Backend::index) on host buffers.
pub(super) fn index(
    src: &HostBuffer,
    l: &Layout,
    indices: &[(&HostBuffer, &Layout)],
    index_shape: &[usize],
) -> Result<HostBuffer> {
    let mut out = index_shape.to_vec();
    out.extend_from_slice(&l.shape[indices.len().min(l.shape.len())..]);
    fits_in_memory(&out, src.dtype())?;
    fits_in_memory(index_shape, DType::I64)?;
    let idx: Vec<(&[i64], &Layout)> = indices
        .iter()
        .map(|(b, il)| (b.as_slice::<i64>(), *il))
        .collect();
    let offs = index::advanced_offsets(l, &idx, index_shape)?;
    let k = indices.len();
    let rest = Layout {
        shape: l.shape[k..].to_vec(),
        strides: l.strides[k..].to_vec(),
        offset: 0,
    };
    Ok(crate::with_dtype!(
        src.dtype(),
        T,
        HostBuffer::from_vec(index::gather_rows(src.as_slice::<T>(), &offs, &rest))
    ))
}

/// [`Backend::index_put`](crate::backend::Backend::index_put) on host buffers.
pub(super) fn index_put(
    dst: &HostBuffer,
    l: &Layout,
    indices: &[(&HostBuffer, &Layout)],
    index_shape: &[usize],
    values: Arg<'_, HostBuffer>,
    accumulate: bool,
) -> Result<()> {
    let idx: Vec<(&[i64], &Layout)> = indices
        .iter()
        .map(|(b, il)| (b.as_slice::<i64>(), *il))
        .collect();
    let offs = index::advanced_offsets(l, &idx, index_shape)?;
    let k = indices.len();
    let rest = Layout {
        shape: l.shape[k..].to_vec(),
        strides: l.strides[k..].to_vec(),
        offset: 0,
    };
    let (vb, vl) = materialize(values, dst.dtype());
    crate::with_dtype!(dst.dtype(), T, {
        // SAFETY: `dst` is a fresh copy the op layer made for this call.
        let d = unsafe { dst.as_mut_slice::<T>() };
        index::put_rows(
            d,
            &offs,
            index_shape,
            &rest,
            vb.as_slice::<T>(),
            &vl,
            accumulate,
        );
    });
    Ok(())
}

/// [`Backend::gather`](crate::backend::Backend::gather) on host buffers.
pub(super) fn gather(
    src: &HostBuffer,
    sl: &Layout,
    dim: usize,
    idx: &HostBuffer,
    il: &Layout,
) -> Result<HostBuffer> {
    fits_in_memory(&il.shape, src.dtype())?;
    Ok(crate::with_dtype!(
        src.dtype(),
        T,
        HostBuffer::from_vec(index::gather_dim(
            src.as_slice::<T>(),
            sl,
            dim,
            idx.as_slice::<i64>(),
            il
        )?)
    ))
}

/// [`Backend::scatter`](crate::backend::Backend::scatter) on host buffers.
pub(super) fn scatter(
    dst: &HostBuffer,
    dl: &Layout,
    dim: usize,
    idx: &HostBuffer,
    il: &Layout,
    src: Arg<'_, HostBuffer>,
    accumulate: bool,
) -> Result<()> {
    let (sb, sl) = materialize(src, dst.dtype());
    crate::with_dtype!(dst.dtype(), T, {
        // SAFETY: `dst` is a fresh copy the op layer made for this call.
        let d = unsafe { dst.as_mut_slice::<T>() };
        index::scatter_dim(
            d,
            dl,
            dim,
            idx.as_slice::<i64>(),
            il,
            sb.as_slice::<T>(),
            &sl,
            accumulate,
        )
    })
}

/// [`Backend::nonzero`](crate::backend::Backend::nonzero) on host buffers.
pub(super) fn nonzero(x: &HostBuffer, l: &Layout) -> Result<(HostBuffer, usize)> {
    let (v, count) = crate::with_dtype!(x.dtype(), T, index::nonzero(x.as_slice::<T>(), l));
    Ok((HostBuffer::from_vec(v), count))
}
