//! Convolutions on host buffers: the direct kernels and the tiled im2col (or Winograd)
//! path, forward and both gradients.

use super::fits_in_memory;
use crate::backend::{HostBuffer, Window};
use crate::cpu::{conv, im2col, winograd};
use crate::error::Result;
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;

/// [`Backend::conv2d_direct`](crate::backend::Backend::conv2d_direct) on host buffers.
pub(super) fn conv2d_direct(
    x: &HostBuffer,
    xl: &Layout,
    w: &HostBuffer,
    wl: &Layout,
    bias: Option<(&HostBuffer, &Layout)>,
    padding: [usize; 2],
) -> Result<Option<HostBuffer>> {
    let (ws, dtype) = (&wl.shape, x.dtype());
    if !conv::fits(ws[1], ws[0], ws[2], ws[3]) {
        return Ok(None);
    }
    let (xs, p) = (&xl.shape, padding);
    let out = |d: usize| (xs[d] + 2 * p[d - 2] + 1).saturating_sub(ws[d]);
    fits_in_memory(&[xs[0], ws[0], out(2), out(3)], dtype)?;
    macro_rules! run {
        ($t:ty) => {
            HostBuffer::from_vec(conv::forward(
                x.as_slice::<$t>(),
                xl,
                w.as_slice::<$t>(),
                wl,
                bias.map(|(b, l)| (b.as_slice::<$t>(), l)),
                padding,
            ))
        };
    }
    Ok(match dtype {
        DType::F32 => Some(run!(f32)),
        DType::F64 => Some(run!(f64)),
        _ => None,
    })
}

/// [`Backend::conv2d_direct_input_grad`](crate::backend::Backend::conv2d_direct_input_grad) on host buffers.
pub(super) fn conv2d_direct_input_grad(
    g: &HostBuffer,
    gl: &Layout,
    w: &HostBuffer,
    wl: &Layout,
    padding: [usize; 2],
) -> Result<Option<HostBuffer>> {
    let ws = &wl.shape;
    // The turned-around weight has the channel counts swapped.
    if !conv::fits_input_grad(ws[0], ws[1], ws[2], ws[3])
        || padding[0] >= ws[2]
        || padding[1] >= ws[3]
    {
        return Ok(None);
    }
    macro_rules! run {
        ($t:ty) => {
            HostBuffer::from_vec(conv::input_grad(
                g.as_slice::<$t>(),
                gl,
                w.as_slice::<$t>(),
                wl,
                padding,
            ))
        };
    }
    Ok(match g.dtype() {
        DType::F32 => Some(run!(f32)),
        DType::F64 => Some(run!(f64)),
        _ => None,
    })
}

/// [`Backend::conv2d_direct_weight_grad`](crate::backend::Backend::conv2d_direct_weight_grad) on host buffers.
pub(super) fn conv2d_direct_weight_grad(
    x: &HostBuffer,
    xl: &Layout,
    g: &HostBuffer,
    gl: &Layout,
    kernel: [usize; 2],
    padding: [usize; 2],
) -> Result<Option<HostBuffer>> {
    if !conv::fits(xl.shape[1], gl.shape[1], kernel[0], kernel[1]) {
        return Ok(None);
    }
    macro_rules! run {
        ($t:ty) => {
            conv::weight_grad(
                x.as_slice::<$t>(),
                xl,
                g.as_slice::<$t>(),
                gl,
                kernel,
                padding,
            )
            .map(HostBuffer::from_vec)
        };
    }
    Ok(match x.dtype() {
        DType::F32 => run!(f32),
        DType::F64 => run!(f64),
        _ => None,
    })
}

/// [`Backend::conv_tiled`](crate::backend::Backend::conv_tiled) on host buffers.
pub(super) fn conv_tiled(
    x: &HostBuffer,
    xl: &Layout,
    w: &HostBuffer,
    bias: Option<&HostBuffer>,
    win: &Window,
) -> Result<Option<HostBuffer>> {
    let cout = w.len() / (xl.shape[1] * win.kernel_numel()).max(1);
    fits_in_memory(&[xl.shape[0], cout, win.output_numel()], x.dtype())?;
    let winograd = crate::with_float_dtype!(
        x.dtype(),
        T,
        winograd::forward(
            x.as_slice::<T>(),
            xl,
            w.as_slice(),
            bias.map(|b| b.as_slice()),
            win
        )
        .map(HostBuffer::from_vec),
        None
    );
    if winograd.is_some() {
        return Ok(winograd);
    }
    let Some(tiles) = im2col::Tiles::new(xl.shape[0], win.output_numel()) else {
        return Ok(None);
    };
    Ok(crate::with_float_dtype!(
        x.dtype(),
        T,
        Some(HostBuffer::from_vec(im2col::forward(
            x.as_slice::<T>(),
            xl,
            w.as_slice(),
            bias.map(|b| b.as_slice()),
            win,
            tiles
        ))),
        None
    ))
}

/// [`Backend::conv_tiled_input_grad`](crate::backend::Backend::conv_tiled_input_grad) on host buffers.
pub(super) fn conv_tiled_input_grad(
    g: &HostBuffer,
    n: usize,
    w: &HostBuffer,
    cin: usize,
    win: &Window,
) -> Result<Option<HostBuffer>> {
    fits_in_memory(&[n, cin, win.input_numel()], g.dtype())?;
    let winograd = crate::with_float_dtype!(
        g.dtype(),
        T,
        winograd::input_grad(g.as_slice::<T>(), n, w.as_slice(), cin, win)
            .map(HostBuffer::from_vec),
        None
    );
    if winograd.is_some() {
        return Ok(winograd);
    }
    let Some(tiles) = im2col::Tiles::new(n, win.output_numel()) else {
        return Ok(None);
    };
    Ok(crate::with_float_dtype!(
        g.dtype(),
        T,
        Some(HostBuffer::from_vec(im2col::input_grad(
            g.as_slice::<T>(),
            w.as_slice(),
            cin,
            win,
            tiles
        ))),
        None
    ))
}

/// [`Backend::conv_tiled_weight_grad`](crate::backend::Backend::conv_tiled_weight_grad) on host buffers.
pub(super) fn conv_tiled_weight_grad(
    x: &HostBuffer,
    xl: &Layout,
    g: &HostBuffer,
    cout: usize,
    win: &Window,
) -> Result<Option<HostBuffer>> {
    let winograd = crate::with_float_dtype!(
        x.dtype(),
        T,
        winograd::weight_grad(x.as_slice::<T>(), xl, g.as_slice(), cout, win)
            .map(HostBuffer::from_vec),
        None
    );
    if winograd.is_some() {
        return Ok(winograd);
    }
    let Some(tiles) = im2col::Tiles::new(xl.shape[0], win.output_numel()) else {
        return Ok(None);
    };
    Ok(crate::with_float_dtype!(
        x.dtype(),
        T,
        Some(HostBuffer::from_vec(im2col::weight_grad(
            x.as_slice::<T>(),
            xl,
            g.as_slice(),
            cout,
            win,
            tiles
        ))),
        None
    ))
}
