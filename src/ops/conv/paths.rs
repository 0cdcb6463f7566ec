//! The ways a convolution runs on a backend, each recorded as one `ConvolutionBackward0`
//! node: the direct kernels (stride 1, few channels), the tiled im2col path (tiles of
//! images shared between threads, transposed convolutions too), and im2col with one product
//! per group over tiles of the batch, which every backend has. Each path's backward is
//! beside its forward; a recorded backward (`create_graph`) runs as differentiable products
//! over the patch matrix, so it differentiates again.

use super::add_bias;
use crate::autograd::{grad_if, is_grad_enabled, needs_grad, record, GradModeGuard, SavedTensor};
use crate::backend::Window;
use crate::error::Result;
use crate::ops::dense;
use crate::Tensor;

/// `[n, c, *spatial]` as a shape.
fn nc_shape(n: usize, c: usize, spatial: &[usize]) -> Vec<usize> {
    let mut shape = vec![n, c];
    shape.extend_from_slice(spatial);
    shape
}

/// A single-group convolution on the backend's tiled im2col path (tiles of images shared
/// between threads, each tile's patches multiplied in cache), or `None` where it has none
/// for this batch. Its backward runs on the same path.
pub(super) fn conv_tiled(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    w: &Window,
) -> Result<Option<Tensor>> {
    let Some(out) = tiled_forward(x, weight, bias, w)? else {
        return Ok(None);
    };
    record_conv(
        x,
        weight,
        bias,
        &out,
        w,
        tiled_input_grad,
        tiled_weight_grad,
    );
    Ok(Some(out))
}

/// The forward of [`conv_tiled`], unrecorded: `None` where the backend has no tiled path
/// for this batch.
fn tiled_forward(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    w: &Window,
) -> Result<Option<Tensor>> {
    let _off = GradModeGuard::new(false);
    let (wd, bd) = (dense(weight)?, bias.map(dense).transpose()?);
    let s = x.storage().conv_tiled(
        x.layout(),
        wd.storage(),
        bd.as_ref().map(|b| &**b.storage()),
        w,
    )?;
    let shape = nc_shape(x.shape()[0], weight.shape()[0], &w.output);
    Ok(s.map(|s| Tensor::from_storage(s, shape)))
}

/// A single-group convolution's output on the tiled path, or — when the backward is being
/// recorded, or the backend has none — as products over the patch matrix.
fn tiled_conv_grad(x: &Tensor, weight: &Tensor, w: &Window) -> Result<Tensor> {
    if !is_grad_enabled() {
        if let Some(y) = tiled_forward(x, weight, None, w)? {
            return Ok(y);
        }
    }
    conv_products(&patches(x, w)?, weight, w, 1)
}

/// The input gradient of a single-group convolution (`g`: `[n, cout, *output]`, `weight`:
/// `[cout, cin, *kernel]`) on the tiled path, or — recorded, or without one — as products
/// and col2im.
fn tiled_input_grad(g: &Tensor, weight: &Tensor, w: &Window) -> Result<Tensor> {
    let (n, cin) = (g.shape()[0], weight.shape()[1]);
    if !is_grad_enabled() {
        let (gd, wd) = (dense(g)?, dense(weight)?);
        if let Some(s) = gd
            .storage()
            .conv_tiled_input_grad(n, wd.storage(), cin, w)?
        {
            return Ok(Tensor::from_storage(s, nc_shape(n, cin, &w.input)));
        }
    }
    input_grad_products(&grad_rows(g, 1, w)?, n, weight, w, 1)
}

/// The weight gradient of a single-group convolution on the tiled path, or — recorded, or
/// without one — as products over the patch matrix.
fn tiled_weight_grad(x: &Tensor, g: &Tensor, w: &Window) -> Result<Tensor> {
    let cout = g.shape()[1];
    if !is_grad_enabled() {
        let gd = dense(g)?;
        if let Some(s) = x
            .storage()
            .conv_tiled_weight_grad(x.layout(), gd.storage(), cout, w)?
        {
            return Ok(Tensor::from_storage(
                s,
                nc_shape(cout, x.shape()[1], &w.kernel),
            ));
        }
    }
    weight_grad_products(&patches(x, w)?, &grad_rows(g, 1, w)?, w, 1)
}

/// A single-group transposed convolution on the tiled path — the input gradient of the
/// convolution `w` describes, from the output back to the input — or `None` where the
/// backend has none for this batch. Its backward: that convolution's forward (input
/// gradient) and its weight gradient with the roles of input and gradient swapped.
pub(super) fn conv_transpose_tiled(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    w: &Window,
) -> Result<Option<Tensor>> {
    let y = {
        let _off = GradModeGuard::new(false);
        let (n, cout) = (x.shape()[0], weight.shape()[1]);
        let (xd, wd) = (dense(x)?, dense(weight)?);
        let Some(s) = xd
            .storage()
            .conv_tiled_input_grad(n, wd.storage(), cout, w)?
        else {
            return Ok(None);
        };
        let y = Tensor::from_storage(s, nc_shape(n, cout, &w.input));
        add_bias(y, bias, w.input.len())?
    };
    // Its input gradient is that convolution's forward; its weight gradient that
    // convolution's, with the roles of input and gradient swapped.
    record_conv(x, weight, bias, &y, w, tiled_conv_grad, |x, g, w| {
        tiled_weight_grad(g, x, w)
    });
    Ok(Some(y))
}

/// A convolution's gradient with respect to one of its operands, from the output gradient
/// `g`, the other operand and the window.
type ConvGrad = fn(&Tensor, &Tensor, &Window) -> Result<Tensor>;

/// Records `out`'s `ConvolutionBackward0` node over `(x, weight, bias)` when a gradient is
/// wanted: `input_grad(g, weight, w)`, `weight_grad(x, g, w)`, the bias gradient a sum.
fn record_conv(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out: &Tensor,
    w: &Window,
    input_grad: ConvGrad,
    weight_grad: ConvGrad,
) {
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    if !needs_grad(&inputs) {
        return;
    }
    let (xs, ws) = (SavedTensor::new(x), SavedTensor::new(weight));
    let w = w.clone();
    record("ConvolutionBackward0", &inputs, out, move |g, need| {
        let mut grads = vec![
            grad_if(need[0], || input_grad(g, &ws.unpack()?, &w))?,
            grad_if(need[1], || weight_grad(&xs.unpack()?, g, &w))?,
        ];
        if need.len() > 2 {
            grads.push(grad_if(need[2], || bias_grad(g, w.input.len()))?);
        }
        Ok(grads)
    });
}

/// At most this many bytes of patch matrix at a time: a convolution over a batch of large
/// images runs tile by tile of images rather than build one patch matrix for the batch.
/// Smaller tiles cost speed (64→128 3×3 on 28×28, batch 32, forward + backward: 51 ms in
/// one 50 MiB tile, 66 ms in two, 73 ms in 8 MiB tiles), so the bound is generous.
const TILE_BYTES: usize = 64 << 20;

/// `[0, n)` cut into runs of images (first, count) whose patch matrices, `per_image` bytes
/// each, fit [`TILE_BYTES`] together (one image at least).
fn tiles(n: usize, per_image: usize) -> Vec<(usize, usize)> {
    if n == 0 {
        // One empty tile, so an empty batch still gets its (zero) gradients.
        return vec![(0, 0)];
    }
    let nt = (TILE_BYTES / per_image.max(1)).clamp(1, n);
    (0..n).step_by(nt).map(|b| (b, nt.min(n - b))).collect()
}

/// `f` on each tile of `t`'s batch, the results joined along the batch (one tile: no copy).
fn by_tiles(
    t: &Tensor,
    ts: &[(usize, usize)],
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if ts.len() <= 1 {
        return f(t);
    }
    let parts = ts
        .iter()
        .map(|&(b, len)| f(&t.narrow(0, b as i64, len)?))
        .collect::<Result<Vec<_>>>()?;
    crate::ops::join::cat(&parts, 0)
}

/// A convolution as im2col and one product per group, tile by tile of images (see
/// [`TILE_BYTES`]), recorded as one node. A single tile's patch matrix is kept for the
/// weight gradient; tiles are rebuilt one at a time by the backward. A recorded backward
/// computes both gradients from differentiable ops over the whole batch, so they hold to any
/// order.
pub(super) fn conv_im2col(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    w: &Window,
    groups: usize,
) -> Result<Tensor> {
    let (n, cin) = (x.shape()[0], x.shape()[1]);
    let k = w.input.len();
    let per_image = cin * w.kernel_numel() * w.output_numel() * x.dtype().size();
    let ts = tiles(n, per_image);
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    let recorded = needs_grad(&inputs);
    let (y, kept) = {
        let _off = GradModeGuard::new(false);
        let (y, kept) = if ts.len() == 1 {
            let cols = patches(x, w)?;
            (conv_products(&cols, weight, w, groups)?, Some(cols))
        } else {
            let y = by_tiles(x, &ts, |xt| {
                conv_products(&patches(xt, w)?, weight, w, groups)
            })?;
            (y, None)
        };
        let y = match bias {
            Some(_) => add_bias(y, bias, k)?,
            None => y.contiguous()?,
        };
        (y, kept.filter(|_| recorded && weight.requires_grad()))
    };
    if recorded {
        let (xs, ws) = (SavedTensor::new(x), SavedTensor::new(weight));
        let w = w.clone();
        record("ConvolutionBackward0", &inputs, &y, move |g, need| {
            let (x, weight) = (xs.unpack()?, ws.unpack()?);
            // A recorded backward takes the whole batch at once, as differentiable ops on
            // the saved tensors; otherwise the forward's tiles, each gradient view made once.
            let recorded = is_grad_enabled();
            let ts = if recorded { vec![(0, n)] } else { ts.clone() };
            let whole = ts.len() == 1;
            let (mut gx, mut gw): (Vec<Tensor>, Option<Tensor>) = (Vec::new(), None);
            for &(b, len) in &ts {
                let tile = |t: &Tensor| {
                    if whole {
                        Ok(t.clone())
                    } else {
                        t.narrow(0, b as i64, len)
                    }
                };
                let rows = grad_rows(&tile(g)?, groups, &w)?;
                if need[0] {
                    gx.push(input_grad_products(&rows, len, &weight, &w, groups)?);
                }
                if need[1] {
                    let cols = match (&kept, recorded) {
                        (Some(cols), false) => cols.clone(),
                        _ => patches(&tile(&x)?, &w)?,
                    };
                    let part = weight_grad_products(&cols, &rows, &w, groups)?;
                    gw = Some(match gw {
                        None => part,
                        Some(s) => s.add(&part)?,
                    });
                }
            }
            let gx = match gx.len() {
                0 => None,
                1 => gx.pop(),
                _ => Some(crate::ops::join::cat(&gx, 0)?),
            };
            let mut grads = vec![gx, gw];
            if need.len() > 2 {
                grads.push(grad_if(need[2], || bias_grad(g, k))?);
            }
            Ok(grads)
        });
    }
    Ok(y)
}

/// A convolution's bias gradient: `g` summed over the batch and `k` spatial dims.
fn bias_grad(g: &Tensor, k: usize) -> Result<Tensor> {
    let dims: Vec<i64> = std::iter::once(0).chain(2..2 + k as i64).collect();
    g.sum_dims(Some(&dims), false, None)
}

/// Whether `w`'s patch matrix is its input reshaped: a 1×1 window at unit stride, or one
/// window covering the whole input (a DCGAN discriminator's last 4×4 layer on 4×4 maps, the
/// transposed convolution its generator starts with), with no padding.
fn reshaped(w: &Window) -> bool {
    let pointwise = w.kernel_numel() == 1 && w.stride.iter().all(|&v| v == 1);
    whole(w) || (pointwise && w.padding.iter().all(|&v| v == 0))
}

/// Whether `w` is one unpadded window covering its whole input (one output position).
/// The tiled path's rows would then be one element long; the products over the reshaped
/// input run instead.
pub(super) fn whole(w: &Window) -> bool {
    w.kernel == w.input && w.padding.iter().all(|&v| v == 0) && w.dilation.iter().all(|&v| v == 1)
}

/// `x`'s patch matrix `[n, cin·K, L]`.
fn patches(x: &Tensor, w: &Window) -> Result<Tensor> {
    if reshaped(w) {
        x.reshape(&[
            x.shape()[0] as i64,
            x.shape()[1] as i64 * w.kernel_numel() as i64,
            w.output_numel() as i64,
        ])
    } else {
        x.im2col(w)
    }
}

/// The patch matrix `cols` (`[n, cin·K, L]`) folded back onto the input, summing where
/// windows overlap: a `[n, cin, *input]` tensor.
pub(super) fn unpatched(cols: &Tensor, w: &Window) -> Result<Tensor> {
    if reshaped(w) {
        let (n, ck) = (cols.shape()[0], cols.shape()[1]);
        let mut shape = vec![n as i64, (ck / w.kernel_numel()) as i64];
        shape.extend(w.input.iter().map(|&v| v as i64));
        cols.reshape(&shape)
    } else {
        cols.col2im(w)
    }
}

/// The convolution's products over the patch matrix `cols` (`[n, cin·K, L]`):
/// `[cout/g, cin/g·K] @ [cin/g·K, n·L]` per group, as a `[n, cout, *output]` tensor.
fn conv_products(cols: &Tensor, weight: &Tensor, w: &Window, groups: usize) -> Result<Tensor> {
    let n = cols.shape()[0] as i64;
    let cout = weight.shape()[0] as i64;
    let (gi, l) = (groups as i64, w.output_numel() as i64);
    let ck = (cols.shape()[1] / groups) as i64;
    let y = weight
        .reshape(&[gi, cout / gi, ck])?
        .matmul(&cols.permute(&[1, 0, 2])?.reshape(&[gi, ck, n * l])?)?;
    let mut shape = vec![n, cout];
    shape.extend(w.output.iter().map(|&v| v as i64));
    y.reshape(&[cout, n, l])?
        .permute(&[1, 0, 2])?
        .reshape(&shape)
}

/// The output gradient `g` (`[n, cout, *output]`) as one row block per group,
/// `[g, cout/g, n·L]`: the operand both gradient products take.
fn grad_rows(g: &Tensor, groups: usize, w: &Window) -> Result<Tensor> {
    let (n, cout) = (g.shape()[0] as i64, g.shape()[1] as i64);
    let (gi, l) = (groups as i64, w.output_numel() as i64);
    g.reshape(&[n, cout, l])?
        .permute(&[1, 0, 2])?
        .reshape(&[gi, cout / gi, n * l])
}

/// The input gradient of a convolution: `weightᵀ @ rows` per group ([`grad_rows`] of `n`
/// images), folded back onto the input (`col2im`), as a `[n, cin, *input]` tensor.
fn input_grad_products(
    rows: &Tensor,
    n: usize,
    weight: &Tensor,
    w: &Window,
    groups: usize,
) -> Result<Tensor> {
    let (n, cout) = (n as i64, weight.shape()[0] as i64);
    let cin = (weight.shape()[1] * groups) as i64;
    let (gi, kn, l) = (
        groups as i64,
        w.kernel_numel() as i64,
        w.output_numel() as i64,
    );
    let wt = weight
        .reshape(&[gi, cout / gi, cin / gi * kn])?
        .transpose(1, 2)?;
    let cols = wt
        .matmul(rows)?
        .reshape(&[cin * kn, n, l])?
        .permute(&[1, 0, 2])?;
    unpatched(&cols, w)
}

/// The weight gradient of a convolution: `rows @ colsᵀ` per group ([`grad_rows`] against
/// the patch matrix `cols`, `[n, cin·K, L]`), summed over the batch, as a
/// `[cout, cin/g, *kernel]` tensor.
fn weight_grad_products(cols: &Tensor, rows: &Tensor, w: &Window, groups: usize) -> Result<Tensor> {
    let n = cols.shape()[0] as i64;
    let cout = rows.shape()[0] as i64 * rows.shape()[1] as i64;
    let (gi, l) = (groups as i64, w.output_numel() as i64);
    let ck = (cols.shape()[1] / groups) as i64;
    let cm = cols
        .permute(&[1, 0, 2])?
        .reshape(&[gi, ck, n * l])?
        .transpose(1, 2)?;
    let mut shape = vec![cout, ck / w.kernel_numel() as i64];
    shape.extend(w.kernel.iter().map(|&v| v as i64));
    rows.matmul(&cm)?.reshape(&shape)
}

/// A stride-1, undilated, single-group 2-D convolution of `x` (batched) on the backend's
/// direct kernel, or `None` where the backend has none for these sizes. Its backward: the
/// input and weight gradients on the direct kernels (products over the patch matrix when
/// the backward is itself recorded, so they differentiate again), the bias gradient as a
/// sum.
pub(super) fn conv2d_direct(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    w: &Window,
) -> Result<Option<Tensor>> {
    let padding = [w.padding[0], w.padding[1]];
    let Some(s) = x.storage().conv2d_direct(
        x.layout(),
        (weight.storage(), weight.layout()),
        bias.map(|b| (&**b.storage(), b.layout())),
        padding,
    )?
    else {
        return Ok(None);
    };
    let (n, cout) = (x.shape()[0], weight.shape()[0]);
    let out = Tensor::from_storage(s, vec![n, cout, w.output[0], w.output[1]]);
    record_conv(
        x,
        weight,
        bias,
        &out,
        w,
        direct_input_grad,
        direct_weight_grad,
    );
    Ok(Some(out))
}

/// The input gradient of [`conv2d_direct`]: on the backend's kernel, or — when the backward
/// is being recorded, or the backend has no kernel — on the tiled path or as products and
/// col2im.
fn direct_input_grad(g: &Tensor, weight: &Tensor, w: &Window) -> Result<Tensor> {
    let padding = [w.padding[0], w.padding[1]];
    if !is_grad_enabled() {
        if let Some(s) = g.storage().conv2d_direct_input_grad(
            g.layout(),
            (weight.storage(), weight.layout()),
            padding,
        )? {
            let shape = vec![g.shape()[0], weight.shape()[1], w.input[0], w.input[1]];
            return Ok(Tensor::from_storage(s, shape));
        }
    }
    tiled_input_grad(g, weight, w)
}

/// The weight gradient of [`conv2d_direct`]: on the backend's kernel, or — when the backward
/// is being recorded, or the backend has no kernel — on the tiled path or as products over
/// the patch matrix.
fn direct_weight_grad(x: &Tensor, g: &Tensor, w: &Window) -> Result<Tensor> {
    let kernel = [w.kernel[0], w.kernel[1]];
    if !is_grad_enabled() {
        let padding = [w.padding[0], w.padding[1]];
        if let Some(s) = x.storage().conv2d_direct_weight_grad(
            x.layout(),
            (g.storage(), g.layout()),
            kernel,
            padding,
        )? {
            let shape = vec![g.shape()[1], x.shape()[1], kernel[0], kernel[1]];
            return Ok(Tensor::from_storage(s, shape));
        }
    }
    tiled_weight_grad(x, g, w)
}
