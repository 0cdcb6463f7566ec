//! Convolutions, written as products around two data-movement primitives: `im2col`
//! (PyTorch's `F.unfold`) and `col2im` (`F.fold`), each the other's backward. A
//! convolution is `weight @ im2col(input)` per group; a transposed convolution is
//! `col2im(weightᵀ @ input)`. Their gradients come from the product's and the primitives'
//! rules, so they hold to any order and run on every backend that has the two kernels.
//!
//! Where the backend has faster kernels for a shape, a convolution records one
//! `ConvolutionBackward0` node around them instead, trying in turn: the direct kernels
//! (stride 1, few channels), the tiled im2col path (single group, a batch with enough tiles
//! of images to share between the threads; transposed convolutions too), then im2col and
//! one product per group over tiles of the batch. A recorded backward (`create_graph`)
//! computes the gradients as differentiable products, so they differentiate again.

use super::dense;
use crate::autograd::{grad_if, is_grad_enabled, needs_grad, record, GradModeGuard, SavedTensor};
use crate::backend::Window;
use crate::error::{Error, Result};
use crate::ops::autocast;
use crate::tensor::layout::{fmt_shape, Layout};
use crate::Tensor;

/// The `(a x b x c)` form PyTorch prints sizes in, in convolution messages.
fn fmt_x(v: &[usize]) -> String {
    format!(
        "({})",
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" x ")
    )
}

/// Converts per-dim values to sizes, failing with `what` when one is below `min`.
fn sizes(v: &[i64], min: i64, what: &str) -> Result<Vec<usize>> {
    if v.iter().any(|&x| x < min) {
        return Err(Error::Runtime(what.into()));
    }
    Ok(v.iter().map(|&x| x as usize).collect())
}

impl Tensor {
    /// im2col: `[n, c, *w.input]` to `[n, c·∏kernel, ∏output]`, zeros where a window is in
    /// the padding (`F.unfold` for two spatial dims).
    ///
    /// The result is a view of a `[c·∏kernel, n, ∏output]` buffer (the batch inside each
    /// row block), so a convolution's product covers the whole batch at once.
    pub fn im2col(&self, w: &Window) -> Result<Tensor> {
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let s = self.storage().unfold(self.layout(), w)?;
        let (ck, l) = (c * w.kernel_numel(), w.output_numel());
        let layout = Layout {
            shape: vec![n, ck, l],
            strides: vec![l as isize, (n * l) as isize, 1],
            offset: 0,
        };
        let out = Tensor::from_parts(std::sync::Arc::new(s), layout);
        if needs_grad(&[self]) {
            let w = w.clone();
            record("Im2ColBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(g.col2im(&w)?)])
            });
        }
        Ok(out)
    }

    /// col2im: `[n, c·∏kernel, ∏output]` to `[n, c, *w.input]`, summing where windows
    /// overlap (`F.fold` for two spatial dims).
    pub fn col2im(&self, w: &Window) -> Result<Tensor> {
        let n = self.shape()[0];
        let c = self.shape()[1] / w.kernel_numel();
        let s = self.storage().fold(self.layout(), w)?;
        let mut shape = vec![n, c];
        shape.extend_from_slice(&w.input);
        let out = Tensor::from_storage(s, shape);
        if needs_grad(&[self]) {
            let w = w.clone();
            record("Col2ImBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(g.im2col(&w)?)])
            });
        }
        Ok(out)
    }
}

/// A convolution's padding: per spatial dim, or PyTorch's `'same'` / `'valid'`.
#[derive(Clone, Debug)]
pub enum ConvPadding {
    Explicit(Vec<i64>),
    Same,
    Valid,
}

/// The options of a convolution, per spatial dim (PyTorch's `stride`, `padding`,
/// `dilation`, `groups`; `output_padding` for transposed ones).
#[derive(Clone, Debug)]
pub struct ConvOptions {
    pub stride: Vec<i64>,
    pub padding: ConvPadding,
    pub dilation: Vec<i64>,
    pub groups: i64,
    pub output_padding: Vec<i64>,
}

impl ConvOptions {
    /// The options a trace records with a convolution (`padding` as a list, or the string
    /// `same` / `valid`).
    fn trace_attrs(&self) -> Vec<(&'static str, crate::ops::trace::Attr)> {
        let padding = match &self.padding {
            ConvPadding::Explicit(p) => crate::ops::trace::Attr::Ints(p.clone()),
            ConvPadding::Same => crate::ops::trace::Attr::Str("same".into()),
            ConvPadding::Valid => crate::ops::trace::Attr::Str("valid".into()),
        };
        vec![
            ("stride", crate::ops::trace::Attr::Ints(self.stride.clone())),
            ("padding", padding),
            (
                "dilation",
                crate::ops::trace::Attr::Ints(self.dilation.clone()),
            ),
            ("groups", crate::ops::trace::Attr::Int(self.groups)),
            (
                "output_padding",
                crate::ops::trace::Attr::Ints(self.output_padding.clone()),
            ),
        ]
    }
}

/// A convolution's tensor operands, for a trace.
fn conv_inputs<'a>(
    input: &'a Tensor,
    weight: &'a Tensor,
    bias: Option<&'a Tensor>,
) -> Vec<&'a Tensor> {
    [input, weight].into_iter().chain(bias).collect()
}

/// The checked sizes of a convolution call.
struct ConvShape {
    /// The input, with its batch dim (added for an unbatched input).
    input: Tensor,
    batched: bool,
    groups: usize,
    stride: Vec<usize>,
    padding: Vec<usize>,
    dilation: Vec<usize>,
    output_padding: Vec<usize>,
}

/// PyTorch's checks on a convolution's operands, with its messages; `name` is `conv2d` etc.
fn check_conv(
    name: &str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    o: &ConvOptions,
    transposed: bool,
) -> Result<ConvShape> {
    let k = o.stride.len();
    if input.dim() != k + 1 && input.dim() != k + 2 {
        return Err(Error::Runtime(format!(
            "Expected {}D (unbatched) or {}D (batched) input to {name}, but got input of size: {}",
            k + 1,
            k + 2,
            fmt_shape(input.shape())
        )));
    }
    let batched = input.dim() == k + 2;
    let input = if batched {
        input.clone()
    } else {
        input.unsqueeze(0)?
    };
    if weight.dim() != k + 2 {
        return Err(Error::Runtime(format!(
            "Expected {}-dimensional input for {}-dimensional weight {}, but got {}-dimensional input of size {} instead",
            weight.dim(),
            weight.dim(),
            fmt_shape(weight.shape()),
            input.dim(),
            fmt_shape(input.shape())
        )));
    }
    if weight.shape()[2..].contains(&0) {
        // PyTorch's wording: 3-D kernels as `d x h x w (TxHxW)`, others as 2-D (a 1-D
        // kernel is 1 × w).
        let ks = &weight.shape()[2..];
        let got = if k == 3 {
            format!(": {} x {} x {} (TxHxW)", ks[0], ks[1], ks[2])
        } else {
            let h = if k == 2 { ks[0] } else { 1 };
            format!(" kernel_height: {h} kernel_width: {}", ks[k - 1])
        };
        return Err(Error::Runtime(format!(
            "kernel size should be greater than zero, but got{got}"
        )));
    }
    for (t, what) in [(weight, "weight")]
        .into_iter()
        .chain(bias.map(|b| (b, "bias")))
    {
        if t.dtype() != input.dtype() {
            // PyTorch's CPU wording: the weight's through its dispatch, the bias's its own.
            return Err(Error::Runtime(if what == "weight" {
                format!(
                    "expected scalar type {} but found {}",
                    input.dtype().scalar_name(),
                    t.dtype().scalar_name()
                )
            } else {
                format!(
                    "Input type ({}) and {what} type ({}) should be the same",
                    input.dtype().scalar_name().to_lowercase(),
                    t.dtype().scalar_name().to_lowercase()
                )
            }));
        }
        if t.device() != input.device() {
            return Err(Error::Runtime(format!(
                "Input type ({}) and {what} type ({}) should be the same or input should be a MKLDNN tensor and {what} is a dense tensor",
                input.device(),
                t.device()
            )));
        }
    }
    if !input.dtype().is_float() {
        return Err(Error::NotImplemented(format!(
            "\"{name}\" not implemented for '{}'",
            input.dtype().scalar_name()
        )));
    }
    let stride = sizes(&o.stride, 1, "non-positive stride is not supported")?;
    let padding = match &o.padding {
        ConvPadding::Explicit(p) => sizes(p, 0, "negative padding is not supported")?,
        _ => vec![0; k],
    };
    // PyTorch runs a 1d convolution as a 2d one of height 1, and its messages say so.
    let as_2d = |v: &[i64], one: i64| -> Vec<i64> {
        if k == 1 {
            vec![one, v[0]]
        } else {
            v.to_vec()
        }
    };
    let dilation = sizes(
        &o.dilation,
        1,
        &format!(
            "dilation should be greater than zero, but got {}",
            fmt_shape(&as_2d(&o.dilation, 1))
        ),
    )?;
    let output_padding = sizes(
        &o.output_padding,
        0,
        "negative output_padding is not supported",
    )?;
    if o.groups <= 0 {
        return Err(Error::Runtime(
            "non-positive groups is not supported".into(),
        ));
    }
    let groups = o.groups as usize;
    let (ws, xs) = (weight.shape(), input.shape());
    let out_ch = ws[0];
    if out_ch % groups != 0 && !transposed {
        return Err(Error::Runtime(format!(
            "Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size [{}] instead",
            fmt_shape(ws)
        )));
    }
    let expect_in = if transposed { ws[0] } else { ws[1] * groups };
    if xs[1] != expect_in {
        return Err(Error::Runtime(if transposed {
            format!(
                "Given transposed=1, weight of size {}, expected input{} to have {} channels, but got {} channels instead",
                fmt_shape(ws),
                fmt_shape(xs),
                expect_in,
                xs[1]
            )
        } else {
            format!(
                "Given groups={groups}, weight of size {}, expected input{} to have {} channels, but got {} channels instead",
                fmt_shape(ws),
                fmt_shape(xs),
                expect_in,
                xs[1]
            )
        }));
    }
    if xs[0] != 0 && xs[1] != 0 && xs[2..].contains(&0) {
        return Err(Error::Runtime(format!(
            "Only zero batch or zero channel inputs are supported, but got input shape: {}",
            fmt_shape(xs)
        )));
    }
    if transposed && ws[0] % groups != 0 {
        return Err(Error::Runtime(format!(
            "Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size [{}] instead",
            fmt_shape(ws)
        )));
    }
    let bias_len = if transposed { ws[1] * groups } else { out_ch };
    if let Some(b) = bias {
        if b.shape() != [bias_len] {
            return Err(Error::Runtime(format!(
                "Given weight of size {}, expected bias to be 1-dimensional with {bias_len} elements, but got bias of size {} instead",
                fmt_shape(ws),
                fmt_shape(b.shape())
            )));
        }
    }
    if !transposed {
        let padded: Vec<usize> = (0..k).map(|d| xs[2 + d] + 2 * padding[d]).collect();
        let kernel: Vec<usize> = (0..k).map(|d| dilation[d] * (ws[2 + d] - 1) + 1).collect();
        if padded.iter().zip(&kernel).any(|(p, kk)| kk > p) {
            return Err(Error::Runtime(format!(
                "Calculated padded input size per channel: {}. Kernel size: {}. Kernel size can't be greater than actual input size",
                fmt_x(&padded),
                fmt_x(&kernel)
            )));
        }
    } else {
        if (0..k).any(|d| output_padding[d] >= stride[d] && output_padding[d] >= dilation[d]) {
            let names: &[&str] = match k {
                3 => &["depth", "height", "width"],
                _ => &["height", "width"],
            };
            let named = |what: &str, v: &[usize], one: i64| {
                let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
                names
                    .iter()
                    .zip(as_2d(&v, one))
                    .map(|(n, x)| format!("{what}_{n}: {x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(Error::Runtime(format!(
                "output padding must be smaller than either stride or dilation, but got {} {} {}",
                named("output_padding", &output_padding, 0),
                named("stride", &stride, 1),
                named("dilation", &dilation, 1)
            )));
        }
    }
    Ok(ConvShape {
        input,
        batched,
        groups,
        stride,
        padding,
        dilation,
        output_padding,
    })
}

/// `bias` viewed to broadcast over `[n, c, *spatial]` (k spatial dims) and added.
fn add_bias(y: Tensor, bias: Option<&Tensor>, k: usize) -> Result<Tensor> {
    match bias {
        None => Ok(y),
        Some(b) => {
            let mut shape = vec![1, -1];
            shape.extend(std::iter::repeat_n(1, k));
            y.add(&b.view(&shape)?)
        }
    }
}

/// `conv1d/2d/3d(input, weight, bias, stride, padding, dilation, groups)` over
/// `o.stride.len()` spatial dims, `name` naming the op in messages. Symmetric explicit
/// padding only (`'same'` with an even kernel pads the input first, as PyTorch does).
pub fn conv(
    name: &str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    o: &ConvOptions,
) -> Result<Tensor> {
    crate::ops::trace::traced(
        "conv",
        &conv_inputs(input, weight, bias),
        || o.trace_attrs(),
        || {
            let (input, weight) = (&autocast::cast(input)?, &autocast::cast(weight)?);
            let bias = bias.map(autocast::cast).transpose()?;
            let bias = bias.as_ref();
            if let ConvPadding::Same = o.padding {
                return conv_same(name, input, weight, bias, o);
            }
            let s = check_conv(name, input, weight, bias, o, false)?;
            let k = o.stride.len();
            let x = &s.input;
            let g = s.groups;
            let kernel = weight.shape()[2..].to_vec();
            let input_sp = x.shape()[2..].to_vec();
            let output: Vec<usize> = (0..k)
                .map(|d| {
                    (input_sp[d] + 2 * s.padding[d] - s.dilation[d] * (kernel[d] - 1) - 1)
                        / s.stride[d]
                        + 1
                })
                .collect();
            let w = Window {
                input: input_sp,
                output: output.clone(),
                kernel,
                stride: s.stride,
                padding: s.padding,
                dilation: s.dilation,
                adaptive: false,
            };
            if k == 2 && g == 1 && w.stride == [1, 1] && w.dilation == [1, 1] {
                if let Some(y) = conv2d_direct(x, weight, bias, &w)? {
                    return if s.batched {
                        Ok(y)
                    } else {
                        y.squeeze(Some(&[0]))
                    };
                }
            }
            let y = match (g == 1 && !whole(&w))
                .then(|| conv_tiled(x, weight, bias, &w))
                .transpose()?
            {
                Some(Some(y)) => y,
                _ => conv_im2col(x, weight, bias, &w, g)?,
            };
            if s.batched {
                Ok(y)
            } else {
                y.squeeze(Some(&[0]))
            }
        },
    )
}

/// `[n, c, *spatial]` as a shape.
fn nc_shape(n: usize, c: usize, spatial: &[usize]) -> Vec<usize> {
    let mut shape = vec![n, c];
    shape.extend_from_slice(spatial);
    shape
}

/// A single-group convolution on the backend's tiled im2col path (tiles of images shared
/// between threads, each tile's patches multiplied in cache), or `None` where it has none
/// for this batch. Its backward runs on the same path.
fn conv_tiled(
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
fn conv_transpose_tiled(
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
fn conv_im2col(
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
fn whole(w: &Window) -> bool {
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
fn unpatched(cols: &Tensor, w: &Window) -> Result<Tensor> {
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
fn conv2d_direct(
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

/// `padding='same'`: each side gets half of `dilation·(kernel−1)`; an odd total puts the
/// extra position on the right by padding the input first, as PyTorch does.
fn conv_same(
    name: &str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    o: &ConvOptions,
) -> Result<Tensor> {
    let k = o.stride.len();
    if o.stride.iter().any(|&s| s != 1) {
        return Err(Error::Runtime(
            "padding='same' is not supported for strided convolutions".into(),
        ));
    }
    if weight.dim() != k + 2 || o.dilation.iter().any(|&d| d < 1) {
        // Let the general checks word the error.
        let o = ConvOptions {
            padding: ConvPadding::Valid,
            ..o.clone()
        };
        return conv(name, input, weight, bias, &o);
    }
    let total: Vec<i64> = (0..k)
        .map(|d| o.dilation[d] * (weight.shape()[2 + d] as i64 - 1))
        .collect();
    let left: Vec<i64> = total.iter().map(|t| t / 2).collect();
    let mut x = input.clone();
    if total.iter().any(|t| t % 2 != 0) {
        let mut pads = Vec::with_capacity(2 * k);
        for d in (0..k).rev() {
            pads.extend([0, total[d] % 2]);
        }
        x = x.pad(&pads, crate::ops::pad::PadMode::Constant, 0.0)?;
    }
    let o = ConvOptions {
        padding: ConvPadding::Explicit(left),
        ..o.clone()
    };
    conv(name, &x, weight, bias, &o)
}

/// `conv_transpose1d/2d/3d(input, weight, bias, stride, padding, output_padding, groups,
/// dilation)`: the gradient of `conv` with respect to its input, as an op.
pub fn conv_transpose(
    name: &str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    o: &ConvOptions,
) -> Result<Tensor> {
    crate::ops::trace::traced(
        "conv_transpose",
        &conv_inputs(input, weight, bias),
        || o.trace_attrs(),
        || {
            let (input, weight) = (&autocast::cast(input)?, &autocast::cast(weight)?);
            let bias = bias.map(autocast::cast).transpose()?;
            let bias = bias.as_ref();
            let s = check_conv(name, input, weight, bias, o, true)?;
            let k = o.stride.len();
            let x = &s.input;
            let (n, cin) = (x.shape()[0], x.shape()[1]);
            let ws = weight.shape();
            let g = s.groups;
            let cout = ws[1] * g;
            let kernel = ws[2..].to_vec();
            let input_sp = x.shape()[2..].to_vec();
            let mut output = Vec::with_capacity(k);
            for d in 0..k {
                let full = (input_sp[d] - 1) * s.stride[d]
                    + s.dilation[d] * (kernel[d] - 1)
                    + s.output_padding[d]
                    + 1;
                if full <= 2 * s.padding[d] {
                    let (lead_in, lead_out) = if k == 1 { ("1 x ", "1 x ") } else { ("", "") };
                    return Err(Error::Runtime(format!(
                    "Given input size per channel: ({lead_in}{}. Calculated output size per channel: ({lead_out}{}). Output size is too small",
                    &fmt_x(&input_sp)[1..],
                    (0..k)
                        .map(|d| {
                            ((input_sp[d] as i64 - 1) * s.stride[d] as i64
                                + (s.dilation[d] * (kernel[d] - 1)) as i64
                                + s.output_padding[d] as i64
                                + 1
                                - 2 * s.padding[d] as i64)
                                .to_string()
                        })
                        .collect::<Vec<_>>()
                        .join(" x ")
                )));
                }
                output.push(full - 2 * s.padding[d]);
            }
            // The convolution whose input gradient this is: from the output back to the input.
            let w = Window {
                input: output.clone(),
                output: input_sp,
                kernel,
                stride: s.stride,
                padding: s.padding,
                dilation: s.dilation,
                adaptive: false,
            };
            if g == 1 && !whole(&w) {
                if let Some(y) = conv_transpose_tiled(x, weight, bias, &w)? {
                    return if s.batched {
                        Ok(y)
                    } else {
                        y.squeeze(Some(&[0]))
                    };
                }
            }
            let kn = w.kernel_numel();
            let l = w.output_numel() as i64;
            let wt = weight
                .reshape(&[g as i64, (cin / g) as i64, ((cout / g) * kn) as i64])?
                .transpose(1, 2)?;
            // One product per group over the whole batch: [(cout/g)·K, cin/g] @ [cin/g, n·L].
            let xt = x
                .reshape(&[n as i64, cin as i64, l])?
                .permute(&[1, 0, 2])?
                .reshape(&[g as i64, (cin / g) as i64, n as i64 * l])?;
            let cols = wt
                .matmul(&xt)?
                .reshape(&[(cout * kn) as i64, n as i64, l])?
                .permute(&[1, 0, 2])?;
            let y = add_bias(unpatched(&cols, &w)?, bias, k)?;
            if s.batched {
                Ok(y)
            } else {
                y.squeeze(Some(&[0]))
            }
        },
    )
}

/// `(a, b)`, the form PyTorch prints sizes in, in `im2col`/`col2im` messages.
fn fmt_tuple<T: std::fmt::Display>(v: &[T]) -> String {
    format!(
        "({})",
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// PyTorch's checks on the arguments of `im2col` (`F.unfold`) and `col2im` (`F.fold`),
/// in each one's order, with its messages.
fn check_block_args(
    kernel: &[i64],
    dilation: &[i64],
    padding: &[i64],
    stride: &[i64],
    fold: bool,
) -> Result<()> {
    let hw = |what: &str, v: &[i64]| format!("{what}_height: {} {what}_width: {}", v[0], v[1]);
    let checks: [(bool, String); 4] = [
        (
            kernel.iter().all(|&v| v > 0),
            format!(
                "kernel size should be greater than zero, but got {}",
                hw("kernel", kernel)
            ),
        ),
        (
            dilation.iter().all(|&v| v > 0),
            format!(
                "dilation should be greater than zero, but got {}",
                hw("dilation", dilation)
            ),
        ),
        (
            padding.iter().all(|&v| v >= 0),
            format!(
                "padding should be non-negative, but got {}",
                hw("pad", padding)
            ),
        ),
        (
            stride.iter().all(|&v| v > 0),
            format!(
                "stride should be greater than zero, but got {}",
                hw("stride", stride)
            ),
        ),
    ];
    // col2im checks the stride second; im2col last.
    let order: [usize; 4] = if fold { [0, 3, 1, 2] } else { [0, 1, 2, 3] };
    for i in order {
        if !checks[i].0 {
            return Err(Error::Runtime(checks[i].1.clone()));
        }
    }
    Ok(())
}

/// The number of sliding blocks along each dim (PyTorch's `div_rtn` arithmetic; may be
/// below one).
fn blocks(
    input: &[i64],
    kernel: &[i64],
    dilation: &[i64],
    padding: &[i64],
    stride: &[i64],
) -> Vec<i64> {
    (0..kernel.len())
        .map(|d| {
            (input[d] + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1).div_euclid(stride[d])
                + 1
        })
        .collect()
}

/// The windows of an unfold/fold over `input` (its spatial sizes), after the checks.
fn block_window(
    input: &[i64],
    output: &[i64],
    kernel: &[i64],
    dilation: &[i64],
    padding: &[i64],
    stride: &[i64],
) -> Window {
    let u = |v: &[i64]| v.iter().map(|&x| x as usize).collect::<Vec<_>>();
    Window {
        input: u(input),
        output: u(output),
        kernel: u(kernel),
        stride: u(stride),
        padding: u(padding),
        dilation: u(dilation),
        adaptive: false,
    }
}

/// `F.unfold(input, kernel_size, dilation, padding, stride)`: `[n, c, h, w]` (or unbatched
/// `[c, h, w]`) to `[n, c·kh·kw, L]`.
pub fn unfold(
    input: &Tensor,
    kernel: &[i64],
    dilation: &[i64],
    padding: &[i64],
    stride: &[i64],
) -> Result<Tensor> {
    check_block_args(kernel, dilation, padding, stride, false)?;
    let skip = usize::from(input.dim() == 4);
    let nonzero = input.shape()[skip..].iter().all(|&v| v > 0);
    if (input.dim() != 3 && input.dim() != 4) || !nonzero {
        return Err(Error::Runtime(format!(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for input, but got: {}",
            fmt_shape(input.shape())
        )));
    }
    let batched = input.dim() == 4;
    let x = if batched {
        input.clone()
    } else {
        input.unsqueeze(0)?
    };
    let spatial: Vec<i64> = x.shape()[2..].iter().map(|&v| v as i64).collect();
    let out = blocks(&spatial, kernel, dilation, padding, stride);
    if out.iter().any(|&v| v < 1) {
        return Err(Error::Runtime(format!(
            "Given input with spatial size {}, kernel_size={}, dilation={}, padding={}, calculated shape of the array of sliding blocks as {}, but its components must be at least one.",
            fmt_tuple(&spatial),
            fmt_tuple(kernel),
            fmt_tuple(dilation),
            fmt_tuple(padding),
            fmt_tuple(&out)
        )));
    }
    let w = block_window(&spatial, &out, kernel, dilation, padding, stride);
    let y = x.im2col(&w)?;
    if batched {
        Ok(y)
    } else {
        y.squeeze(Some(&[0]))
    }
}

/// `F.fold(input, output_size, kernel_size, dilation, padding, stride)`: `[n, c·kh·kw, L]`
/// (or unbatched `[c·kh·kw, L]`) to `[n, c, *output_size]`, summing overlaps.
pub fn fold(
    input: &Tensor,
    output_size: &[i64],
    kernel: &[i64],
    dilation: &[i64],
    padding: &[i64],
    stride: &[i64],
) -> Result<Tensor> {
    check_block_args(kernel, dilation, padding, stride, true)?;
    let xs = input.shape();
    let nonzero = xs.len() >= 2 && xs[xs.len() - 2..].iter().all(|&v| v > 0);
    if (input.dim() != 2 && input.dim() != 3) || !nonzero {
        return Err(Error::Runtime(format!(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: {}",
            fmt_shape(xs)
        )));
    }
    let batched = input.dim() == 3;
    let x = if batched {
        input.clone()
    } else {
        input.unsqueeze(0)?
    };
    let kn = (kernel[0] * kernel[1]) as usize;
    if x.shape()[1] % kn != 0 {
        return Err(Error::Runtime(format!(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)={} and kernel_size={}.",
            x.shape()[1],
            fmt_tuple(kernel)
        )));
    }
    let out = blocks(output_size, kernel, dilation, padding, stride);
    let args = format!(
        "Given output_size={}, kernel_size={}, dilation={}, padding={}, stride={}",
        fmt_tuple(output_size),
        fmt_tuple(kernel),
        fmt_tuple(dilation),
        fmt_tuple(padding),
        fmt_tuple(stride)
    );
    if x.shape()[2] as i64 != out[0] * out[1] {
        return Err(Error::Runtime(format!(
            "{args}, expected size of input's dimension 2 to match the calculated number of sliding blocks {} * {} = {}, but got input.size(2)={}.",
            out[0],
            out[1],
            out[0] * out[1],
            x.shape()[2]
        )));
    }
    if out.iter().any(|&v| v < 1) {
        return Err(Error::Runtime(format!(
            "{args}, calculated shape of the array of sliding blocks as {}, which is too small (non-positive)",
            fmt_tuple(&out)
        )));
    }
    let w = block_window(output_size, &out, kernel, dilation, padding, stride);
    let y = x.col2im(&w)?;
    if batched {
        Ok(y)
    } else {
        y.squeeze(Some(&[0]))
    }
}
