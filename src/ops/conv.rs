//! Convolutions: their options, PyTorch's checks and messages, and the choice of path.
//! They are written as products around two data-movement primitives, `im2col` (PyTorch's
//! `F.unfold`) and `col2im` (`F.fold`), each the other's backward (both in
//! [`crate::ops::fold`]). A convolution is `weight @ im2col(input)` per group; a transposed
//! convolution is `col2im(weightᵀ @ input)`. Their gradients come from the product's and
//! the primitives' rules, so they hold to any order and run on every backend that has the
//! two kernels.
//!
//! Where the backend has faster kernels for a shape, a convolution records one
//! `ConvolutionBackward0` node around them instead (in `paths`), trying in turn: the direct
//! kernels (stride 1, few channels), the tiled im2col path (single group, a batch with
//! enough tiles of images to share between the threads; transposed convolutions too), then
//! im2col and one product per group over tiles of the batch. A recorded backward
//! (`create_graph`) computes the gradients as differentiable products, so they
//! differentiate again.

use crate::backend::Window;
use crate::error::{Error, Result};
use crate::ops::autocast;
use crate::tensor::dtype::DType;
use crate::tensor::layout::fmt_shape;
use crate::Tensor;
use paths::{conv2d_direct, conv_im2col, conv_tiled, conv_transpose_tiled, unpatched, whole};

mod paths;

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
                    input.dtype().cpp_name(),
                    t.dtype().cpp_name()
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
    check_conv_dtype(name, &input, transposed, &dilation)?;
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

/// PyTorch's dtypes for a convolution, checked after its sizes as its kernels' dispatch
/// is: any float; on the CPU, integers too, as its slow kernels take them (wrapping on
/// overflow) — all but bool at dilation 1, only int64 when dilated or transposed — its
/// refusals naming those kernels. A GPU takes floats only.
fn check_conv_dtype(
    name: &str,
    input: &Tensor,
    transposed: bool,
    dilation: &[usize],
) -> Result<()> {
    let (dt, cuda) = (input.dtype(), input.device().is_cuda());
    if dt.is_float() || (dt == DType::I64 && !cuda) {
        return Ok(());
    }
    let three_d = dilation.len() == 3;
    let kernel = if cuda {
        name
    } else if transposed {
        if three_d {
            "slow_conv_transpose3d_out_cpu"
        } else {
            "slow_conv_transpose2d_out_cpu"
        }
    } else if dilation.iter().any(|&d| d > 1) {
        "slow_conv_dilated<>"
    } else if dt != DType::Bool {
        return Ok(());
    } else if three_d {
        "compute_columns3d"
    } else {
        "slow_conv2d_cpu"
    };
    Err(Error::NotImplemented(format!(
        "\"{kernel}\" not implemented for '{}'",
        dt.scalar_name()
    )))
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
