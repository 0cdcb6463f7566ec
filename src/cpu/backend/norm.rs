//! Normalization on host buffers: per-channel statistics and affine (batch, instance and
//! group norm), layer norm.

use super::{half_widened, narrow, not_implemented};
use crate::backend::{HostBuffer, LayerNormGrads};
use crate::cpu::norm;
use crate::error::Result;

/// [`Backend::channel_stats`](crate::backend::Backend::channel_stats) on host buffers.
pub(super) fn channel_stats(x: &HostBuffer, dims: [usize; 3]) -> Result<(HostBuffer, HostBuffer)> {
    let x = half_widened(x);
    crate::with_float_dtype!(
        x.dtype(),
        T,
        {
            let (m, v) = norm::stats(x.as_slice::<T>(), dims);
            Ok((HostBuffer::from_vec(m), HostBuffer::from_vec(v)))
        },
        Err(not_implemented("batch_norm", x.dtype()))
    )
}

/// [`Backend::channel_grad_sums`](crate::backend::Backend::channel_grad_sums) on host buffers.
pub(super) fn channel_grad_sums(
    g: &HostBuffer,
    x: &HostBuffer,
    mean: &HostBuffer,
    dims: [usize; 3],
) -> Result<(HostBuffer, HostBuffer)> {
    let (g, x) = (half_widened(g), half_widened(x));
    crate::with_float_dtype!(
        x.dtype(),
        T,
        {
            let (sg, sgx) = norm::grad_sums(g.as_slice::<T>(), x.as_slice(), mean.as_slice(), dims);
            Ok((HostBuffer::from_vec(sg), HostBuffer::from_vec(sgx)))
        },
        Err(not_implemented("batch_norm_backward", x.dtype()))
    )
}

/// [`Backend::channel_affine`](crate::backend::Backend::channel_affine) on host buffers.
pub(super) fn channel_affine(
    x: &HostBuffer,
    [center, a, b]: [&HostBuffer; 3],
    y: Option<(&HostBuffer, &HostBuffer)>,
    dims: [usize; 3],
) -> Result<HostBuffer> {
    let dtype = x.dtype();
    let xw = half_widened(x);
    let yw = y.map(|(y, _)| half_widened(y));
    let out = crate::with_float_dtype!(
        xw.dtype(),
        T,
        {
            let k = norm::Coefficients {
                center: center.as_slice::<T>(),
                a: a.as_slice(),
                b: b.as_slice(),
                d: y.map_or(&[][..], |(_, d)| d.as_slice()),
            };
            let ys = yw.as_ref().map_or(&[][..], |y| y.as_slice::<T>());
            HostBuffer::from_vec(norm::affine(xw.as_slice::<T>(), ys, &k, dims))
        },
        return Err(not_implemented("batch_norm", dtype))
    );
    Ok(narrow(out, dtype))
}

/// [`Backend::layer_norm`](crate::backend::Backend::layer_norm) on host buffers.
pub(super) fn layer_norm(
    x: &HostBuffer,
    w: Option<&HostBuffer>,
    b: Option<&HostBuffer>,
    [rows, len]: [usize; 2],
    eps: f64,
) -> Result<[HostBuffer; 3]> {
    let dtype = x.dtype();
    let (xw, ww, bw) = (half_widened(x), w.map(half_widened), b.map(half_widened));
    crate::with_float_dtype!(
        xw.dtype(),
        T,
        {
            let [y, mean, rstd] = norm::layer_norm(
                &xw.as_slice::<T>()[..rows * len],
                ww.as_ref().map_or(&[][..], |w| w.as_slice()),
                bw.as_ref().map_or(&[][..], |b| b.as_slice()),
                len,
                eps,
            );
            Ok([
                narrow(HostBuffer::from_vec(y), dtype),
                HostBuffer::from_vec(mean),
                HostBuffer::from_vec(rstd),
            ])
        },
        Err(not_implemented("LayerNormKernelImpl", dtype))
    )
}

/// [`Backend::layer_norm_backward`](crate::backend::Backend::layer_norm_backward) on host buffers.
pub(super) fn layer_norm_backward(
    g: &HostBuffer,
    x: &HostBuffer,
    [mean, rstd]: [&HostBuffer; 2],
    w: Option<&HostBuffer>,
    [rows, len]: [usize; 2],
    params: bool,
) -> Result<LayerNormGrads<HostBuffer>> {
    let dtype = x.dtype();
    let (gw, xw, ww) = (half_widened(g), half_widened(x), w.map(half_widened));
    crate::with_float_dtype!(
        xw.dtype(),
        T,
        {
            let n = rows * len;
            let (gx, sums) = norm::layer_norm_backward(
                &gw.as_slice::<T>()[..n],
                &xw.as_slice()[..n],
                [mean.as_slice(), rstd.as_slice()],
                ww.as_ref().map_or(&[][..], |w| w.as_slice()),
                len,
                params,
            );
            Ok((
                narrow(HostBuffer::from_vec(gx), dtype),
                sums.map(|(a, b)| (HostBuffer::from_vec(a), HostBuffer::from_vec(b))),
            ))
        },
        Err(not_implemented("LayerNormBackwardKernelImpl", dtype))
    )
}
