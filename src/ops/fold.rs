//! The two data-movement primitives convolutions are written around, each the other's
//! backward: `im2col` (a window's values as a column) and `col2im` (columns summed back
//! onto the input); and `F.unfold` / `F.fold`, the same as ops with PyTorch's argument
//! checks and messages.

use crate::autograd::{needs_grad, record};
use crate::backend::Window;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::{fmt_shape, Layout};
use crate::Tensor;

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
        if self.dtype() == DType::Bool {
            // PyTorch adds bools as `|=` does: true where any window put a true.
            return self.to_dtype(DType::I64)?.col2im(w)?.to_dtype(DType::Bool);
        }
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

/// PyTorch's dtypes for `F.unfold`/`F.fold` (its `im2col`/`col2im` kernels): floats and
/// bool, not the other integers (the convolutions' own patches take them).
fn check_block_dtype(kernel: &str, x: &Tensor) -> Result<()> {
    let dt = x.dtype();
    if dt.is_float() || dt == DType::Bool {
        return Ok(());
    }
    let device = if x.device().is_cuda() { "cuda" } else { "cpu" };
    Err(Error::NotImplemented(format!(
        "\"{kernel}_out_{device}\" not implemented for '{}'",
        dt.scalar_name()
    )))
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
    check_block_dtype("im2col", &x)?;
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
    check_block_dtype("col2im", &x)?;
    let w = block_window(output_size, &out, kernel, dilation, padding, stride);
    let y = x.col2im(&w)?;
    if batched {
        Ok(y)
    } else {
        y.squeeze(Some(&[0]))
    }
}
