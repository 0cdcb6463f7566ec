//! The geometry a windowed, detection, resampling or recurrent op hands its backend: plain
//! sizes and settings, computed by the op layer from the tensors' shapes.

/// The sliding windows of a convolution or a pooling over the trailing 1–3 spatial dims of
/// an `[n, c, *input]` tensor. Output position `o` of spatial dim `d` covers the input
/// positions `o·stride[d] − padding[d] + k·dilation[d]` for `k < kernel[d]` (those outside
/// `0..input[d]` are padding); with `adaptive`, it covers `⌊o·in/out⌋ .. ⌈(o+1)·in/out⌉`
/// and `kernel`, `stride`, `padding`, `dilation` are unused. All vectors have one entry per
/// spatial dim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub adaptive: bool,
}

impl Window {
    /// Elements of one input plane.
    pub fn input_numel(&self) -> usize {
        self.input.iter().product()
    }
    /// Elements of one output plane.
    pub fn output_numel(&self) -> usize {
        self.output.iter().product()
    }
    /// Positions in one window (`∏ kernel`).
    pub fn kernel_numel(&self) -> usize {
        self.kernel.iter().product()
    }
    /// The same windows over exactly three spatial dims, leading dims of size 1 added (what
    /// the kernels loop over).
    pub fn to_3d(&self) -> Window {
        let pad = 3 - self.input.len();
        let ext = |v: &[usize], fill: usize| {
            let mut r = vec![fill; pad];
            r.extend_from_slice(v);
            r
        };
        Window {
            input: ext(&self.input, 1),
            output: ext(&self.output, 1),
            kernel: ext(&self.kernel, 1),
            stride: ext(&self.stride, 1),
            padding: ext(&self.padding, 0),
            dilation: ext(&self.dilation, 1),
            adaptive: self.adaptive,
        }
    }
}

/// RoI max pooling (torchvision's `roi_pool`) over a contiguous `[batch, channels, height,
/// width]` input. Box `r` of the contiguous `[rois, 5]` boxes (batch index, x1, y1, x2, y2,
/// in the input's dtype) covers, after scaling by `spatial_scale` and rounding half away
/// from zero, the columns `x1..=x2` and rows `y1..=y2` (at least one of each); it is split
/// into `pooled_h × pooled_w` bins, bin `(i, j)` rows `⌊i·bh⌋ .. ⌈(i+1)·bh⌉` (`bh` the box's
/// height over `pooled_h`) from the box's top, clipped to the input, and columns likewise.
/// The geometry is computed in the input's precision (float32 for the 16-bit floats), as
/// torchvision's kernels compute it. A box whose batch index is outside the batch pools
/// nothing (its bins are empty).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoiPool {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub rois: usize,
    pub pooled_h: usize,
    pub pooled_w: usize,
    pub spatial_scale: f64,
}

/// RoI Align (torchvision's `roi_align`): the input, box and bin geometry of [`RoiPool`]
/// (`spatial_scale` included), with each bin the mean of a `grid_h × grid_w` grid of
/// bilinear samples instead of a maximum. A box's corners are scaled, less half a pixel when
/// `aligned`, and not rounded; without `aligned` its sides are at least 1. The grid has
/// `sampling_ratio` samples per side, or, when that is not positive, `⌈side / pooled⌉`
/// (capped at [`RoiAlign::MAX_GRID`]; never below 0). A sample more than one pixel outside
/// the input adds 0 but is counted; one within a pixel of an edge reads the edge. Computed in
/// the input's precision (float32 for the 16-bit floats), as torchvision's kernels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoiAlign {
    pub pool: RoiPool,
    pub sampling_ratio: i64,
    pub aligned: bool,
}

impl RoiAlign {
    /// The largest adaptive sampling grid side: a bin over 1024 input pixels (a box far
    /// larger than any feature map, or garbage coordinates) is sampled 1024 times per side
    /// rather than looping for ever, where torchvision's integer conversion is undefined.
    pub const MAX_GRID: i64 = 1024;
}

/// How an average pooling divides each window's sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgDivisor {
    /// Count padding positions (up to the padded border) in the divisor.
    pub count_include_pad: bool,
    /// Divide by this instead (PyTorch's `divisor_override`).
    pub divisor_override: Option<i64>,
}

/// The cell a recurrent layer repeats (`nn.RNN` with tanh or relu, `nn.LSTM`, `nn.GRU`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RnnCell {
    Tanh,
    Relu,
    Lstm,
    Gru,
}

impl RnnCell {
    /// Blocks of `hidden` in a step's projections, in PyTorch's order (LSTM: i f g o; GRU:
    /// r z n).
    pub fn gates(self) -> usize {
        match self {
            RnnCell::Tanh | RnnCell::Relu => 1,
            RnnCell::Lstm => 4,
            RnnCell::Gru => 3,
        }
    }
}

/// One recurrent layer's run over a sequence: `steps` time steps of `batch` rows of
/// `hidden` units, taken last to first when `reverse`. With `active`, only the first
/// `active[t]` rows are live at step `t` (a packed sequence, sorted longest first); the
/// others carry their state through the step unchanged.
#[derive(Clone, Copy, Debug)]
pub struct RnnRun<'a> {
    pub cell: RnnCell,
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
    pub reverse: bool,
    pub active: Option<&'a [usize]>,
}

impl RnnRun<'_> {
    /// The time steps in the order they are taken.
    pub fn order(&self) -> impl Iterator<Item = usize> {
        let (n, rev) = (self.steps, self.reverse);
        (0..n).map(move |s| if rev { n - 1 - s } else { s })
    }
    /// The step whose state step `t` starts from (`None`: the initial state).
    pub fn previous(&self, t: usize) -> Option<usize> {
        if self.reverse {
            (t + 1 < self.steps).then_some(t + 1)
        } else {
            t.checked_sub(1)
        }
    }
    /// The live rows at step `t`.
    pub fn live(&self, t: usize) -> usize {
        self.active.map_or(self.batch, |a| a[t].min(self.batch))
    }
}

/// A recurrent layer's input and the operands of its input projection `x·W_ihᵀ + b_ih`:
/// `x` is `[steps·batch, features]`, `w_ih` `[G·hidden, features]` and `b_ih` `[G·hidden]`,
/// each contiguous from its first element.
#[derive(Clone, Copy)]
pub struct RnnInput<B> {
    pub x: B,
    pub w_ih: B,
    pub b_ih: Option<B>,
    pub features: usize,
}

/// Layer norm's backward: the input's gradient, and (when asked for) the weight's and the
/// bias's.
pub type LayerNormGrads<B> = (B, Option<(B, B)>);

/// What a recurrent layer's forward keeps for its backward (contiguous buffers).
pub struct RnnSaved<B> {
    /// `[steps, batch, G·hidden]`: the activated gates (LSTM: i f g o, GRU: r z n; unused
    /// for the plain RNN).
    pub gates: B,
    /// `[steps, batch, hidden]`: the hidden state after each step (the layer's output).
    pub h: B,
    /// `[steps, batch, hidden]`: LSTM's cell state after each step; GRU's `h·W_hnᵀ + b_hn`.
    pub extra: Option<B>,
}

impl<B> RnnSaved<B> {
    /// The same buffers, borrowed.
    pub fn as_ref(&self) -> RnnSaved<&B> {
        RnnSaved {
            gates: &self.gates,
            h: &self.h,
            extra: self.extra.as_ref(),
        }
    }
}

/// The gradients a recurrent layer's backward gives back.
pub struct RnnGrads<B> {
    /// `[steps, batch, G·hidden]`: w.r.t. the input projections `x·W_ihᵀ + b_ih`.
    pub gates: B,
    /// GRU only: w.r.t. the hidden projections `h·W_hhᵀ + b_hh` (they differ from the
    /// input projections' in the n gate); the others share [`RnnGrads::gates`].
    pub hidden_gates: Option<B>,
    /// `[batch, hidden]`: w.r.t. the initial hidden state.
    pub h0: B,
    /// `[batch, hidden]`: w.r.t. LSTM's initial cell state.
    pub c0: Option<B>,
}

/// One axis of a separable resampling (`F.interpolate`): a contiguous `[outer, input,
/// inner]` buffer to `[outer, output, inner]`, whose output position `o` is the weighted sum
/// `Σ_{j < len[o]} weights[o·taps + j] · x[start[o] + j]` of its span of sources. The
/// weights are `f64` for the float kernel (rounded to the dtype it runs in) and `i16` for
/// PyTorch's uint8 fixed point.
#[derive(Clone, Debug, PartialEq)]
pub struct ResampleAxis<W> {
    pub outer: usize,
    pub input: usize,
    pub inner: usize,
    pub output: usize,
    /// The row pitch of `weights`: at least the longest span.
    pub taps: usize,
    /// Each output position's first source position, and its number of sources.
    pub start: Vec<usize>,
    pub len: Vec<usize>,
    /// `output × taps` weights.
    pub weights: Vec<W>,
}

impl<W> ResampleAxis<W> {
    /// A test geometry: `taps` sources from position `o·input/output` (fewer at the end),
    /// weight `i` (in row-major order) `weight(i)`.
    #[cfg(test)]
    pub fn test_case(
        outer: usize,
        input: usize,
        inner: usize,
        output: usize,
        taps: usize,
        weight: impl Fn(usize) -> W,
    ) -> ResampleAxis<W> {
        let start: Vec<usize> = (0..output).map(|o| o * input / output).collect();
        ResampleAxis {
            outer,
            input,
            inner,
            output,
            taps,
            len: start.iter().map(|&s| (input - s).min(taps)).collect(),
            start,
            weights: (0..output * taps).map(weight).collect(),
        }
    }

    /// The same spans with each weight mapped by `f`.
    pub fn map_weights<V>(&self, f: impl Fn(&W) -> V) -> ResampleAxis<V> {
        ResampleAxis {
            outer: self.outer,
            input: self.input,
            inner: self.inner,
            output: self.output,
            taps: self.taps,
            start: self.start.clone(),
            len: self.len.clone(),
            weights: self.weights.iter().map(f).collect(),
        }
    }
}

/// A pointwise op of up to three float operands rounded as PyTorch's kernels round it:
/// where they compute a product and a sum, one fused multiply-add (its compilers contract
/// them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fused3 {
    /// `addcmul`: `a + (value·b)·c`, the product `value·b` rounded first.
    Addcmul(f64),
    /// `add(a, b, alpha)`: `a + alpha·b` (`sub` passes −alpha); `c` is not read.
    AddScaled(f64),
    /// `lerp(a, b, weight=c)`: `a + c·(b − a)` where `|c| < 0.5`, else `b − (b − a)·(1 − c)`;
    /// with a number, the weight is it (at float32 precision or more, as PyTorch takes a
    /// number weight of 16-bit operands) and `c` is not read.
    Lerp(Option<f64>),
    /// GELU's backward, PyTorch's `gelu_backward`: the gradient `a` times the derivative of
    /// `gelu(b)` (with `tanh`, of its tanh approximation), `Φ(b) + b·φ(b)`; `c` is not read.
    GeluBackward { tanh: bool },
    /// SiLU's backward, PyTorch's `silu_backward`: `a·σ(b)·(1 + b·(1 − σ(b)))`; `c` is not
    /// read.
    SiluBackward,
}
