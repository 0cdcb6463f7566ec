//! The device seam: what every backend provides, one method per op family.
//!
//! An op file (`src/ops`) does type promotion, shape checks and the `record(...)` of its
//! backward, then asks its tensors' [`Storage`](crate::tensor::storage::Storage) to run the
//! family's method; the storage matches on its device once and calls [`Backend`]'s method
//! of that device (`crate::cpu::Cpu`, `crate::cuda::Cuda`, or the stub in [`no_cuda`] in a
//! build without the `cuda` feature). Kernels see buffers, layouts and dtypes — never a
//! `Tensor`, never autograd.
//!
//! Conventions every method follows:
//! - operands arrive in the dtype the op computes in (the op layer casts first);
//! - results are fresh contiguous buffers in row-major order, unless the method writes into
//!   a destination it is given;
//! - a check that needs an operand's values (an index in range, a nonzero integer divisor)
//!   is the kernel's: the CPU reports it at once, a GPU raises a flag that the next read
//!   from the device reports, as PyTorch's device-side asserts do.

pub mod host;
#[cfg(not(feature = "cuda"))]
pub mod no_cuda;
pub mod num;
pub mod op;
pub mod params;
pub mod shm;

#[cfg(feature = "cuda")]
pub use crate::cuda::{Cuda, CudaBuffer};
use crate::error::Result;
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::Layout;
pub use host::{check_host_alloc, HostBuffer};
#[cfg(not(feature = "cuda"))]
pub use no_cuda::{Cuda, CudaBuffer};
pub use op::{BinaryOp, ReduceOp, ScanOp, UnaryOp};
pub use params::*;

#[cfg(feature = "cuda")]
use crate::cuda as gpu;
#[cfg(not(feature = "cuda"))]
use no_cuda as gpu;

/// The number of GPUs tensors can be placed on.
pub fn cuda_device_count() -> usize {
    gpu::device_count()
}

/// The CUDA device a bare `"cuda"` means (`torch.cuda.current_device()`).
pub fn current_cuda_device() -> usize {
    gpu::current_device()
}

/// `len` zeroed elements of `dtype` in page-locked host memory (`Tensor.pin_memory()`).
pub fn pinned_host(len: usize, dtype: DType) -> Result<HostBuffer> {
    #[cfg(feature = "cuda")]
    {
        crate::cuda::event::pinned_host(len, dtype)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (len, dtype);
        Err(crate::error::Error::Runtime(
            "Cannot access accelerator device when none is available.".into(),
        ))
    }
}

/// An elementwise operand: a strided view of a buffer, or one value standing for a
/// broadcast 0-d tensor (a Python number, or a 0-d CPU tensor next to GPU tensors, which
/// PyTorch allows).
pub enum Arg<'a, B> {
    Buf(&'a B, &'a Layout),
    Scalar(Scalar),
}

impl<B> Clone for Arg<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B> Copy for Arg<'_, B> {}

/// The matrices of a batched product: each one's element offset, and the row and column
/// strides they share. Strides are never negative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatBatch {
    pub offsets: Vec<usize>,
    pub rs: isize,
    pub cs: isize,
}

/// A contiguous run of a buffer: what the fused optimizer steps update in place.
pub struct Span<'a, B> {
    pub buf: &'a B,
    pub offset: usize,
    pub len: usize,
}

/// The rows and options of [`Backend::attention_softmax`]: `rows × len` scores, each row
/// `softmax(scale·x + mask)`. With `causal` (the query count `L`), row `r` is query
/// `r mod L` and its keys past it are left out (−∞). A row with every key left out gives
/// NaN, or zeros when `safe` (PyTorch's `_safe_softmax`, which its `scaled_dot_product_attention`
/// uses).
#[derive(Clone, Copy, Debug)]
pub struct AttnRows {
    pub rows: usize,
    pub len: usize,
    pub scale: f64,
    pub causal: Option<usize>,
    pub safe: bool,
}

/// Hyper-parameters of one SGD step.
#[derive(Clone, Copy, Debug)]
pub struct SgdOptions {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

/// Hyper-parameters of one Adam / AdamW (`decoupled`) step.
#[derive(Clone, Copy, Debug)]
pub struct AdamOptions {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    pub decoupled: bool,
}

/// The random distributions a backend samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform in `[lo, hi)`; float dtypes.
    Uniform { lo: f64, hi: f64 },
    /// Normal with `mean`, `std`; float dtypes.
    Normal { mean: f64, std: f64 },
    /// Uniform integers in `[low, high)`; int64.
    RandInt { low: i64, high: i64 },
    /// `value` with probability `p`, else 0: in bool, `true` (for a nonzero `value`) or
    /// `false`; in a float dtype, `value` rounded to it (dropout's scaled mask in one draw).
    Bernoulli { p: f64, value: f64 },
}

/// One backend: its buffer type and a method for each op family.
pub trait Backend {
    /// Device memory holding one storage's elements (all of one dtype).
    type Buffer: Send + Sync + 'static;

    // ---- memory ----------------------------------------------------------------------------
    /// `n` elements of `dtype`, all `value`, on device `device`.
    fn full(device: usize, n: usize, dtype: DType, value: Scalar) -> Result<Self::Buffer>;
    /// A copy of a host buffer on device `device`.
    fn upload(device: usize, host: &HostBuffer) -> Result<Self::Buffer>;
    /// The elements of the view `l` of `buf`, contiguous, in host memory. This is where a
    /// device reports the failed checks of earlier kernels.
    fn download(buf: &Self::Buffer, l: &Layout) -> Result<HostBuffer>;
    /// The view `l` of `x` as a fresh contiguous buffer of `dtype` (C cast semantics).
    fn cast(x: &Self::Buffer, l: &Layout, dtype: DType) -> Result<Self::Buffer>;
    /// Writes `src` (broadcast to `dl`'s shape, cast to `dst`'s dtype) into the view `dl` of
    /// `dst`. A buffer `src` never aliases `dst`.
    fn copy_into(dst: &Self::Buffer, dl: &Layout, src: Arg<'_, Self::Buffer>) -> Result<()>;

    // ---- elementwise -------------------------------------------------------------------------
    /// `op` of each element of the view (float ops get a float dtype).
    fn unary(x: &Self::Buffer, l: &Layout, op: UnaryOp) -> Result<Self::Buffer>;
    /// `op` of each element of the contiguous run `x`, written back in place (the in-place
    /// forms, `relu_()` and friends): a float `x` and an op that keeps its dtype.
    fn unary_(x: Span<'_, Self::Buffer>, op: UnaryOp) -> Result<()>;
    /// `x op s` for each element of the contiguous run `x`, written back in place (the
    /// in-place forms with a number: `mul_(0.9)`, `div_(255)`): a float `x`, an arithmetic
    /// `op`, and the result what [`Backend::binary`] gives with `s` as an operand.
    fn binary_scalar_(x: Span<'_, Self::Buffer>, s: Scalar, op: BinaryOp) -> Result<()>;
    /// `op` of `a` and `b` (of dtype `dtype`; for a 16-bit float `dtype`, a one-element right
    /// operand may be a float32 or float64 buffer on the host, taken at its own value)
    /// broadcast to `shape`; comparisons give bool.
    fn binary(
        a: Arg<'_, Self::Buffer>,
        b: Arg<'_, Self::Buffer>,
        dtype: DType,
        shape: &[usize],
        op: BinaryOp,
    ) -> Result<Self::Buffer>;
    /// `a` where the bool `cond` holds, else `b` (both of `dtype`), broadcast to `shape`.
    fn where_(
        cond: Arg<'_, Self::Buffer>,
        a: Arg<'_, Self::Buffer>,
        b: Arg<'_, Self::Buffer>,
        dtype: DType,
        shape: &[usize],
    ) -> Result<Self::Buffer>;

    /// The [`Fused3`] op of `a`, `b`, `c` (floats of `dtype`) broadcast to `shape`; the
    /// 16-bit types computed in float32 and rounded once.
    fn fused3(
        a: Arg<'_, Self::Buffer>,
        b: Arg<'_, Self::Buffer>,
        c: Arg<'_, Self::Buffer>,
        dtype: DType,
        shape: &[usize],
        op: Fused3,
    ) -> Result<Self::Buffer>;

    // ---- rows: `l` is a layout whose last dims hold each row's `len` elements --------------
    /// One value per row (bool for `All`/`Any`, else the input's dtype).
    fn reduce(
        x: &Self::Buffer,
        l: &Layout,
        rows: usize,
        len: usize,
        op: ReduceOp,
    ) -> Result<Self::Buffer>;
    /// Each row's max (or min) and its int64 index: NaN wins, the first of ties.
    fn arg_reduce(
        x: &Self::Buffer,
        l: &Layout,
        rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(Self::Buffer, Self::Buffer)>;
    /// Each row mapped to a row (softmax, log-softmax, cumsum), contiguous `rows × len`.
    fn scan(
        x: &Self::Buffer,
        l: &Layout,
        rows: usize,
        len: usize,
        op: ScanOp,
    ) -> Result<Self::Buffer>;
    /// `op` along the middle dim of the contiguous `[outer, len, inner]` (`dims`) view of `x`
    /// from `offset` — a scan over a dim other than the last — as a contiguous buffer in the
    /// same order. `None` where this backend has no such kernel for `op` and these sizes:
    /// the caller then moves the dim last, runs [`Backend::scan`] and moves it back.
    fn scan_middle(
        _x: &Self::Buffer,
        _offset: usize,
        _dims: [usize; 3],
        _op: ScanOp,
    ) -> Result<Option<Self::Buffer>> {
        Ok(None)
    }
    /// The input gradient of softmax (`log` false) or log-softmax over rows of `len`
    /// elements, from the op's output `y` and its gradient `g` (contiguous runs of the same
    /// length and dtype): `y·(g − Σ_row g·y)`, or `g − e^y·Σ_row g`, contiguous.
    fn softmax_backward(
        y: Span<'_, Self::Buffer>,
        g: Span<'_, Self::Buffer>,
        len: usize,
        log: bool,
    ) -> Result<Self::Buffer>;
    /// Each row's running max (or min) and the int64 index it was taken from (`cummax`,
    /// `cummin`): NaN propagates and each NaN takes the index, ties take the last index;
    /// both contiguous `rows × len`.
    fn arg_scan(
        x: &Self::Buffer,
        l: &Layout,
        rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(Self::Buffer, Self::Buffer)>;
    /// For each element of the contiguous `rows × per_row` `values`, its insertion point in
    /// row `r` of the contiguous sorted `seq` (`seq_rows × len`, `seq_rows` 1 or `rows`;
    /// one row serves every value): the first position `>= v` (`right`: `> v`), as `out`
    /// (int64 or int32). `seq` and `values` share a dtype.
    #[allow(clippy::too_many_arguments)]
    fn search_sorted(
        seq: &Self::Buffer,
        seq_rows: usize,
        len: usize,
        values: &Self::Buffer,
        per_row: usize,
        right: bool,
        out: DType,
    ) -> Result<Self::Buffer>;
    /// int64 indices of each row's first `k` elements in sorted order (stable, NaN last
    /// ascending and first descending), contiguous `rows × k`.
    fn sort(
        x: &Self::Buffer,
        l: &Layout,
        rows: usize,
        len: usize,
        descending: bool,
        k: usize,
    ) -> Result<Self::Buffer>;

    // ---- products ------------------------------------------------------------------------------
    /// For each matrix pair, `alpha · a @ b` (`m × k` by `k × n`), added into `acc`'s
    /// matching `m × n` block when given (a contiguous buffer the call consumes), else into
    /// a fresh one.
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        a: &Self::Buffer,
        ma: &MatBatch,
        b: &Self::Buffer,
        mb: &MatBatch,
        mnk: (usize, usize, usize),
        alpha: f64,
        acc: Option<Self::Buffer>,
    ) -> Result<Self::Buffer>;

    // ---- indexing ------------------------------------------------------------------------------
    /// Advanced indexing: `l`'s first `indices.len()` dims are indexed by int64 index
    /// tensors broadcast to `index_shape` (negative indices wrap); the result is
    /// `index_shape + l.shape[k..]`. Out-of-range indices fail with PyTorch's `IndexError`.
    fn index(
        src: &Self::Buffer,
        l: &Layout,
        indices: &[(&Self::Buffer, &Layout)],
        index_shape: &[usize],
    ) -> Result<Self::Buffer>;
    /// Writes (or adds, with `accumulate`) `values`, broadcast to `index_shape +
    /// l.shape[k..]`, at the places `index` reads; `dst` is contiguous and fresh.
    fn index_put(
        dst: &Self::Buffer,
        l: &Layout,
        indices: &[(&Self::Buffer, &Layout)],
        index_shape: &[usize],
        values: Arg<'_, Self::Buffer>,
        accumulate: bool,
    ) -> Result<()>;
    /// `out[i][j][k] = src[i][idx[i][j][k]][k]` along `dim` (for dim 1); the result has
    /// the index's shape. No negative indices, as PyTorch's `gather`.
    fn gather(
        src: &Self::Buffer,
        sl: &Layout,
        dim: usize,
        idx: &Self::Buffer,
        il: &Layout,
    ) -> Result<Self::Buffer>;
    /// `dst[i][idx[i][j][k]][k] = src[i][j][k]` (or `+=`), in place; `dst` is contiguous.
    #[allow(clippy::too_many_arguments)]
    fn scatter(
        dst: &Self::Buffer,
        dl: &Layout,
        dim: usize,
        idx: &Self::Buffer,
        il: &Layout,
        src: Arg<'_, Self::Buffer>,
        accumulate: bool,
    ) -> Result<()>;
    /// The int64 `[count, ndim]` positions of the nonzero elements, row-major order.
    fn nonzero(x: &Self::Buffer, l: &Layout) -> Result<(Self::Buffer, usize)>;

    // ---- random ----------------------------------------------------------------------------------
    /// `n` samples of `dist` in `dtype` from the device's generator.
    fn random(device: usize, n: usize, dtype: DType, dist: Distribution) -> Result<Self::Buffer>;
    /// A random permutation of `0..n` (int64).
    fn randperm(device: usize, n: usize) -> Result<Self::Buffer>;
    /// Reseeds the generator of device `device`.
    fn manual_seed(device: usize, seed: u64) -> Result<()>;

    // ---- fused training kernels -----------------------------------------------------------------
    /// Cross-entropy of each row of the contiguous `n × c` logits against int64 class
    /// indices, with optional class weights and label smoothing: (loss per row, the
    /// target's weight per row, 0 where the target is `ignore_index`).
    #[allow(clippy::too_many_arguments)]
    fn cross_entropy(
        x: &Self::Buffer,
        l: &Layout,
        target: &Self::Buffer,
        tl: &Layout,
        weight: Option<(&Self::Buffer, &Layout)>,
        ignore_index: i64,
        label_smoothing: f64,
    ) -> Result<(Self::Buffer, Self::Buffer)>;
    /// The input gradient of [`cross_entropy`](Backend::cross_entropy) without label
    /// smoothing, over the contiguous `n × c` logits: `scale_i·(softmax(x_i) − onehot(t_i))`
    /// for row `i`, with `scale` (`n` elements, contiguous, `x`'s dtype) the row's weight
    /// times the upstream gradient; a target outside `[0, c)` adds no one-hot term.
    fn cross_entropy_backward(
        x: &Self::Buffer,
        l: &Layout,
        target: &Self::Buffer,
        tl: &Layout,
        scale: &Self::Buffer,
    ) -> Result<Self::Buffer>;
    /// The attention weights of the contiguous scores `x` (from element 0; see
    /// [`AttnRows`]): `y`, and with dropout (`keep`: `rows × len` bools, contiguous, and
    /// `1/(1 − p)`) also `out = keep·y/(1 − p)`. `mask` is additive, of `x`'s dtype, its
    /// layout over the scores' shape with no negative stride. Returns `(y, out)`, `out`
    /// only with dropout.
    fn attention_softmax(
        x: &Self::Buffer,
        a: &AttnRows,
        mask: Option<(&Self::Buffer, &Layout)>,
        keep: Option<(&Self::Buffer, f64)>,
    ) -> Result<(Self::Buffer, Option<Self::Buffer>)>;
    /// The scores' gradient of [`attention_softmax`](Backend::attention_softmax) from its
    /// weights `y` and the gradient `g` of its output (contiguous `rows × len`, from
    /// element 0): `scale·y·(gd − Σ_row gd·y)` with `gd = g·keep/(1 − p)` under dropout.
    fn attention_softmax_backward(
        y: &Self::Buffer,
        g: &Self::Buffer,
        rows: usize,
        len: usize,
        keep: Option<(&Self::Buffer, f64)>,
        scale: f64,
    ) -> Result<Self::Buffer>;
    /// One SGD step on a parameter; `buf` is the momentum buffer (`first`: just created,
    /// to be set to the gradient).
    fn sgd_step(
        p: Span<'_, Self::Buffer>,
        g: Span<'_, Self::Buffer>,
        buf: Option<Span<'_, Self::Buffer>>,
        first: bool,
        o: &SgdOptions,
    ) -> Result<()>;
    /// One Adam/AdamW step at 1-based step number `step`.
    #[allow(clippy::too_many_arguments)]
    fn adam_step(
        p: Span<'_, Self::Buffer>,
        g: Span<'_, Self::Buffer>,
        m: Span<'_, Self::Buffer>,
        v: Span<'_, Self::Buffer>,
        vmax: Option<Span<'_, Self::Buffer>>,
        step: f64,
        o: &AdamOptions,
    ) -> Result<()>;

    // ---- sliding windows (convolution, pooling) ------------------------------------------------
    /// im2col: the view `l` (`[n, c, *w.input]`) to a contiguous `[c·∏kernel, n, ∏output]`
    /// buffer, row block `ci·∏kernel + k` holding input channel `ci` at window position `k`
    /// for every image and output position (zero where the window is in the padding).
    fn unfold(x: &Self::Buffer, l: &Layout, w: &Window) -> Result<Self::Buffer>;
    /// col2im, the adjoint of [`Backend::unfold`]: the view `l` (`[n, c·∏kernel,
    /// ∏output]`) to a contiguous `[n, c, *w.input]` buffer, summing where windows overlap
    /// (padding positions are dropped).
    fn fold(cols: &Self::Buffer, l: &Layout, w: &Window) -> Result<Self::Buffer>;
    /// Max pooling of the view `l` (`[n, c, *w.input]`): the contiguous `[n, c, *w.output]`
    /// maxima (NaN wins) and their int64 flat indices within the input plane (the first of
    /// ties, the last of several NaNs, as PyTorch).
    fn max_pool(x: &Self::Buffer, l: &Layout, w: &Window) -> Result<(Self::Buffer, Self::Buffer)>;
    /// The gradient of [`Backend::max_pool`]: each output's gradient (the view `gl`,
    /// `[n, c, *w.output]`) added at its window's argmax (`idx`, the contiguous indices the
    /// forward returned) of a zeroed contiguous `[n, c, *w.input]` buffer, in ascending
    /// output order where windows share an argmax. Float dtypes.
    fn max_pool_backward(
        g: &Self::Buffer,
        gl: &Layout,
        idx: &Self::Buffer,
        w: &Window,
    ) -> Result<Self::Buffer>;
    /// Fractional max pooling of the view `l` (`[n, c, *w.input]`): windows of `w.kernel`
    /// positions along the three axes of [`Window::to_3d`], their first positions per plane
    /// in `starts` (plane `p`'s `Σ output` entries from `p · Σ output`, the axes in order;
    /// every window inside the input). Maxima and indices as [`Backend::max_pool`]; the
    /// gradient is the indices' scatter-add.
    fn fractional_max_pool(
        x: &Self::Buffer,
        l: &Layout,
        w: &Window,
        starts: &[usize],
    ) -> Result<(Self::Buffer, Self::Buffer)>;
    /// Average pooling of the view `l` (`[n, c, *w.input]`) to a contiguous
    /// `[n, c, *w.output]` buffer, accumulating 16-bit floats in float32.
    fn avg_pool(x: &Self::Buffer, l: &Layout, w: &Window, d: AvgDivisor) -> Result<Self::Buffer>;
    /// The adjoint of [`Backend::avg_pool`]: the gradient view `l` (`[n, c, *w.output]`) to a
    /// contiguous `[n, c, *w.input]` buffer.
    fn avg_pool_backward(
        g: &Self::Buffer,
        l: &Layout,
        w: &Window,
        d: AvgDivisor,
    ) -> Result<Self::Buffer>;

    /// RoI max pooling ([`RoiPool`]) of the contiguous input `x` over the contiguous boxes
    /// `rois`: the contiguous `[rois, channels, pooled_h, pooled_w]` maxima (0 for an empty
    /// bin) and their int64 flat indices within the input plane (the first of ties; -1 for an
    /// empty bin). Float dtypes.
    fn roi_pool(
        x: &Self::Buffer,
        rois: &Self::Buffer,
        p: &RoiPool,
    ) -> Result<(Self::Buffer, Self::Buffer)>;
    /// The gradient of [`Backend::roi_pool`]: each output's gradient (contiguous `g`, the
    /// forward's output shape) added at its bin's argmax (`idx`) of a zeroed contiguous
    /// `[batch, channels, height, width]` buffer, in the plane of its box's batch index.
    fn roi_pool_backward(
        g: &Self::Buffer,
        idx: &Self::Buffer,
        rois: &Self::Buffer,
        p: &RoiPool,
    ) -> Result<Self::Buffer>;

    /// RoI Align ([`RoiAlign`]) of the contiguous input `x` over the contiguous `[rois, 5]`
    /// boxes: the contiguous `[rois, channels, pooled_h, pooled_w]` bin means. Float dtypes.
    fn roi_align(x: &Self::Buffer, rois: &Self::Buffer, p: &RoiAlign) -> Result<Self::Buffer>;
    /// The gradient of [`Backend::roi_align`]: each output's gradient (contiguous `g`), over
    /// its bin's sample count, spread on the four pixels of each of its bilinear samples in
    /// a zeroed contiguous `[batch, channels, height, width]` buffer.
    fn roi_align_backward(
        g: &Self::Buffer,
        rois: &Self::Buffer,
        p: &RoiAlign,
    ) -> Result<Self::Buffer>;
    /// Greedy non-maximum suppression (torchvision's `nms`) of the contiguous `[n, 4]` boxes
    /// (x1, y1, x2, y2), already sorted by descending score: the positions kept, ascending.
    /// A box is dropped when its IoU with a kept, higher box exceeds `iou_threshold`; IoU is
    /// `inter / (area_a + area_b - inter)` in the boxes' precision (float32 for the 16-bit
    /// floats), areas `(x2 - x1)·(y2 - y1)` unclamped, as torchvision computes it.
    fn nms(boxes: &Self::Buffer, iou_threshold: f64) -> Result<Vec<usize>>;

    // ---- resampling -------------------------------------------------------------------

    /// One axis of a separable resampling of the contiguous float `x` (see
    /// [`ResampleAxis`]), summed in the dtype (float32 for the 16-bit floats).
    fn resample_axis(x: &Self::Buffer, p: &ResampleAxis<f64>) -> Result<Self::Buffer>;

    /// One axis of PyTorch's uint8 resampling of the contiguous uint8 `x`: each output the
    /// [`ResampleAxis`] sum in int32 with `bits` fractional bits, plus `2^(bits−1)`, shifted
    /// right by `bits` (arithmetically) and clamped to `[0, 255]`.
    fn resample_u8(x: &Self::Buffer, p: &ResampleAxis<i16>, bits: u32) -> Result<Self::Buffer>;

    // ---- direct convolution (few channels) -----------------------------------------------------
    /// A direct 2-D convolution of the view `xl` (`[n, cin, h, w]`) with `wl` (`[cout, cin,
    /// kh, kw]`), stride 1, no dilation, one group, `padding` zeros on each side, plus the
    /// bias: a contiguous `[n, cout, oh, ow]` buffer. `None` where this backend has no direct
    /// kernel that beats im2col and a product for these sizes (the caller then uses those).
    fn conv2d_direct(
        _x: &Self::Buffer,
        _xl: &Layout,
        _w: &Self::Buffer,
        _wl: &Layout,
        _bias: Option<(&Self::Buffer, &Layout)>,
        _padding: [usize; 2],
    ) -> Result<Option<Self::Buffer>> {
        Ok(None)
    }
    /// The input gradient of [`Backend::conv2d_direct`]: the output gradient view `gl`
    /// (`[n, cout, oh, ow]`) against the weight view `wl`, a contiguous `[n, cin, h, w]`
    /// buffer; `None` where this backend has no direct kernel for it.
    fn conv2d_direct_input_grad(
        _g: &Self::Buffer,
        _gl: &Layout,
        _w: &Self::Buffer,
        _wl: &Layout,
        _padding: [usize; 2],
    ) -> Result<Option<Self::Buffer>> {
        Ok(None)
    }
    /// The weight gradient of [`Backend::conv2d_direct`]: the input view `xl` against the
    /// output gradient view `gl` (`[n, cout, oh, ow]`), a contiguous `[cout, cin, *kernel]`
    /// buffer; `None` where the forward would have answered `None`.
    fn conv2d_direct_weight_grad(
        _x: &Self::Buffer,
        _xl: &Layout,
        _g: &Self::Buffer,
        _gl: &Layout,
        _kernel: [usize; 2],
        _padding: [usize; 2],
    ) -> Result<Option<Self::Buffer>> {
        Ok(None)
    }

    /// A single-group convolution as im2col and products (on the CPU, 3×3 unit-stride
    /// windows by Winograd's F(2×2, 3×3)) a tile of images at a time, the tiles shared
    /// between threads: `x` (view `xl`, `[n, cin, *input]`) with the
    /// contiguous weight `w` (`[cout, cin·K]`) and bias, a contiguous `[n, cout, *output]`.
    /// `None` where this backend has no such path, or the batch has too few tiles to gain.
    fn conv_tiled(
        _x: &Self::Buffer,
        _xl: &Layout,
        _w: &Self::Buffer,
        _bias: Option<&Self::Buffer>,
        _win: &Window,
    ) -> Result<Option<Self::Buffer>> {
        Ok(None)
    }
    /// The input gradient of [`Backend::conv_tiled`]: the contiguous output gradient `g`
    /// (`[n, cout, *output]`, `n` images) through `w`, a contiguous `[n, cin, *input]`;
    /// `None` as there.
    fn conv_tiled_input_grad(
        _g: &Self::Buffer,
        _n: usize,
        _w: &Self::Buffer,
        _cin: usize,
        _win: &Window,
    ) -> Result<Option<Self::Buffer>> {
        Ok(None)
    }
    /// The weight gradient of [`Backend::conv_tiled`]: the contiguous output gradient `g`
    /// (`cout` channels) against `x`'s patches, a contiguous `[cout, cin·K]`; `None` as
    /// there.
    fn conv_tiled_weight_grad(
        _x: &Self::Buffer,
        _xl: &Layout,
        _g: &Self::Buffer,
        _cout: usize,
        _win: &Window,
    ) -> Result<Option<Self::Buffer>> {
        Ok(None)
    }

    // ---- batch norm (over a contiguous `[n, c, s]`: channel `ch` is the runs
    // `(i·c + ch)·s ..` of `s` elements; per-channel values are in the accumulation dtype,
    // float32 for the 16-bit types) --------------------------------------------------------

    /// Per channel, the mean and the biased variance of `x` (two passes).
    fn channel_stats(x: &Self::Buffer, dims: [usize; 3]) -> Result<(Self::Buffer, Self::Buffer)>;
    /// Per channel, `Σ g` and `Σ g·(x − mean)`.
    fn channel_grad_sums(
        g: &Self::Buffer,
        x: &Self::Buffer,
        mean: &Self::Buffer,
        dims: [usize; 3],
    ) -> Result<(Self::Buffer, Self::Buffer)>;
    /// `(x − center)·a + b`, plus `y·d` when `y = Some((y, d))`, per channel: a contiguous
    /// buffer of `x`'s dtype.
    fn channel_affine(
        x: &Self::Buffer,
        k: [&Self::Buffer; 3],
        y: Option<(&Self::Buffer, &Self::Buffer)>,
        dims: [usize; 3],
    ) -> Result<Self::Buffer>;

    // ---- layer norm (over the contiguous `[rows, len]` at the start of a buffer; per-row
    // statistics and the parameters' gradients in the accumulation dtype, as batch norm's) -

    /// Each row normalised by its mean and biased variance, then scaled by `w` and shifted
    /// by `b` (each `len` long, of `x`'s dtype, optional): the output (`x`'s dtype) and
    /// each row's mean and `rstd = 1/√(var + ε)`.
    fn layer_norm(
        x: &Self::Buffer,
        w: Option<&Self::Buffer>,
        b: Option<&Self::Buffer>,
        dims: [usize; 2],
        eps: f64,
    ) -> Result<[Self::Buffer; 3]>;
    /// The input gradient of [`Backend::layer_norm`] from its output's gradient `g`, its
    /// input `x` and its `[mean, rstd]`: `rstd·(g·w − mean(g·w) − x̂·mean(g·w·x̂))`,
    /// `x̂ = (x − mean)·rstd`; with `params`, also the weight's and the bias's gradients
    /// `(Σ g·x̂, Σ g)` over the rows.
    fn layer_norm_backward(
        g: &Self::Buffer,
        x: &Self::Buffer,
        stats: [&Self::Buffer; 2],
        w: Option<&Self::Buffer>,
        dims: [usize; 2],
        params: bool,
    ) -> Result<LayerNormGrads<Self::Buffer>>;

    // ---- recurrent layers ------------------------------------------------------------------

    /// One recurrent layer over a whole sequence. Each step's gates are its input projection
    /// `x_t·W_ihᵀ + b_ih` plus `h·W_hhᵀ + b_hh` (`w_hh` contiguous `[G·hidden, hidden]`),
    /// to which the cell is applied, starting from `h0` (and LSTM's `c0`), each
    /// `[batch, hidden]`. Where and when the projections are made is the backend's choice
    /// (the CPU makes each step's in its time loop, while the step's gates are in cache).
    fn rnn_forward(
        run: &RnnRun<'_>,
        input: RnnInput<&Self::Buffer>,
        w_hh: &Self::Buffer,
        b_hh: Option<&Self::Buffer>,
        h0: &Self::Buffer,
        c0: Option<&Self::Buffer>,
    ) -> Result<RnnSaved<Self::Buffer>>;
    /// Backward through time of [`Backend::rnn_forward`]: from the gradients of the outputs
    /// (`dout`, `[steps, batch, hidden]`) and of the final states (`dh_n`, `dc_n`), where
    /// given, the gradients w.r.t. the projections and the initial states.
    #[allow(clippy::too_many_arguments)]
    fn rnn_backward(
        run: &RnnRun<'_>,
        saved: RnnSaved<&Self::Buffer>,
        w_hh: &Self::Buffer,
        h0: &Self::Buffer,
        c0: Option<&Self::Buffer>,
        dout: Option<&Self::Buffer>,
        dh_n: Option<&Self::Buffer>,
        dc_n: Option<&Self::Buffer>,
    ) -> Result<RnnGrads<Self::Buffer>>;
}
