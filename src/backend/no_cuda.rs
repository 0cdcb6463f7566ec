//! The CUDA backend of a build without the `cuda` feature: no buffer can exist, and every
//! way to make one answers with PyTorch's error for a CPU-only build.

use super::{
    AdamOptions, Arg, AttnRows, AvgDivisor, Backend, BinaryOp, Distribution, Fused3, HostBuffer,
    LayerNormGrads, MatBatch, ReduceOp, ResampleAxis, RnnGrads, RnnInput, RnnRun, RnnSaved,
    RoiAlign, RoiPool, ScanOp, SgdOptions, Span, UnaryOp, Window,
};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::Layout;

/// The backend's name in the storage dispatch.
pub struct Cuda;

/// A GPU buffer, of which a CPU-only build has none (the type has no values).
pub enum CudaBuffer {}

fn not_compiled() -> Error {
    Error::Runtime("Torch not compiled with CUDA enabled".into())
}

/// Whether a GPU can hold tensors: never, in this build.
pub fn is_available() -> bool {
    false
}

/// The number of usable GPUs: none, in this build.
pub fn device_count() -> usize {
    0
}

/// The current CUDA device: 0, as PyTorch answers before any GPU is used.
pub fn current_device() -> usize {
    0
}

impl CudaBuffer {
    pub fn device(&self) -> usize {
        match *self {}
    }
    pub fn dtype(&self) -> DType {
        match *self {}
    }
    pub fn len(&self) -> usize {
        match *self {}
    }
    pub fn is_empty(&self) -> bool {
        match *self {}
    }
    pub fn device_ptr(&self) -> u64 {
        match *self {}
    }
}

/// The buffer of an argument, which cannot exist; scalars alone never reach a backend.
fn never(a: Arg<'_, CudaBuffer>) -> Error {
    match a {
        Arg::Buf(b, _) => match *b {},
        Arg::Scalar(_) => not_compiled(),
    }
}

impl Backend for Cuda {
    type Buffer = CudaBuffer;

    fn full(_: usize, _: usize, _: DType, _: Scalar) -> Result<CudaBuffer> {
        Err(not_compiled())
    }
    fn upload(_: usize, _: &HostBuffer) -> Result<CudaBuffer> {
        Err(not_compiled())
    }
    fn download(buf: &CudaBuffer, _: &Layout) -> Result<HostBuffer> {
        match *buf {}
    }
    fn cast(x: &CudaBuffer, _: &Layout, _: DType) -> Result<CudaBuffer> {
        match *x {}
    }
    fn copy_into(dst: &CudaBuffer, _: &Layout, _: Arg<'_, CudaBuffer>) -> Result<()> {
        match *dst {}
    }
    fn unary(x: &CudaBuffer, _: &Layout, _: UnaryOp) -> Result<CudaBuffer> {
        match *x {}
    }
    fn unary_(x: Span<'_, CudaBuffer>, _: UnaryOp) -> Result<()> {
        match *x.buf {}
    }
    fn binary_scalar_(x: Span<'_, CudaBuffer>, _: Scalar, _: BinaryOp) -> Result<()> {
        match *x.buf {}
    }
    fn binary(
        a: Arg<'_, CudaBuffer>,
        b: Arg<'_, CudaBuffer>,
        _: DType,
        _: &[usize],
        _: BinaryOp,
    ) -> Result<CudaBuffer> {
        let _ = never(a);
        Err(never(b))
    }
    fn where_(
        c: Arg<'_, CudaBuffer>,
        a: Arg<'_, CudaBuffer>,
        b: Arg<'_, CudaBuffer>,
        _: DType,
        _: &[usize],
    ) -> Result<CudaBuffer> {
        let _ = (never(c), never(a));
        Err(never(b))
    }
    fn fused3(
        a: Arg<'_, CudaBuffer>,
        b: Arg<'_, CudaBuffer>,
        c: Arg<'_, CudaBuffer>,
        _: DType,
        _: &[usize],
        _: Fused3,
    ) -> Result<CudaBuffer> {
        let _ = (never(a), never(b));
        Err(never(c))
    }
    fn reduce(x: &CudaBuffer, _: &Layout, _: usize, _: usize, _: ReduceOp) -> Result<CudaBuffer> {
        match *x {}
    }
    fn arg_reduce(
        x: &CudaBuffer,
        _: &Layout,
        _: usize,
        _: usize,
        _: bool,
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        match *x {}
    }
    fn scan(x: &CudaBuffer, _: &Layout, _: usize, _: usize, _: ScanOp) -> Result<CudaBuffer> {
        match *x {}
    }
    fn softmax_backward(
        y: Span<'_, CudaBuffer>,
        _: Span<'_, CudaBuffer>,
        _: usize,
        _: bool,
    ) -> Result<CudaBuffer> {
        match *y.buf {}
    }
    fn arg_scan(
        x: &CudaBuffer,
        _: &Layout,
        _: usize,
        _: usize,
        _: bool,
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        match *x {}
    }
    fn search_sorted(
        seq: &CudaBuffer,
        _: usize,
        _: usize,
        _: &CudaBuffer,
        _: usize,
        _: bool,
        _: DType,
    ) -> Result<CudaBuffer> {
        match *seq {}
    }
    fn sort(
        x: &CudaBuffer,
        _: &Layout,
        _: usize,
        _: usize,
        _: bool,
        _: usize,
    ) -> Result<CudaBuffer> {
        match *x {}
    }
    fn matmul(
        a: &CudaBuffer,
        _: &MatBatch,
        _: &CudaBuffer,
        _: &MatBatch,
        _: (usize, usize, usize),
        _: f64,
        _: Option<CudaBuffer>,
    ) -> Result<CudaBuffer> {
        match *a {}
    }
    fn index(
        src: &CudaBuffer,
        _: &Layout,
        _: &[(&CudaBuffer, &Layout)],
        _: &[usize],
    ) -> Result<CudaBuffer> {
        match *src {}
    }
    fn index_put(
        dst: &CudaBuffer,
        _: &Layout,
        _: &[(&CudaBuffer, &Layout)],
        _: &[usize],
        _: Arg<'_, CudaBuffer>,
        _: bool,
    ) -> Result<()> {
        match *dst {}
    }
    fn gather(
        src: &CudaBuffer,
        _: &Layout,
        _: usize,
        _: &CudaBuffer,
        _: &Layout,
    ) -> Result<CudaBuffer> {
        match *src {}
    }
    fn scatter(
        dst: &CudaBuffer,
        _: &Layout,
        _: usize,
        _: &CudaBuffer,
        _: &Layout,
        _: Arg<'_, CudaBuffer>,
        _: bool,
    ) -> Result<()> {
        match *dst {}
    }
    fn nonzero(x: &CudaBuffer, _: &Layout) -> Result<(CudaBuffer, usize)> {
        match *x {}
    }
    fn random(_: usize, _: usize, _: DType, _: Distribution) -> Result<CudaBuffer> {
        Err(not_compiled())
    }
    fn randperm(_: usize, _: usize) -> Result<CudaBuffer> {
        Err(not_compiled())
    }
    fn manual_seed(_: usize, _: u64) -> Result<()> {
        // `manual_seed` seeds every device; with none, there is nothing to do.
        Ok(())
    }
    fn cross_entropy(
        x: &CudaBuffer,
        _: &Layout,
        _: &CudaBuffer,
        _: &Layout,
        _: Option<(&CudaBuffer, &Layout)>,
        _: i64,
        _: f64,
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        match *x {}
    }
    fn cross_entropy_backward(
        x: &CudaBuffer,
        _: &Layout,
        _: &CudaBuffer,
        _: &Layout,
        _: &CudaBuffer,
    ) -> Result<CudaBuffer> {
        match *x {}
    }
    fn attention_softmax(
        x: &CudaBuffer,
        _: &AttnRows,
        _: Option<(&CudaBuffer, &Layout)>,
        _: Option<(&CudaBuffer, f64)>,
    ) -> Result<(CudaBuffer, Option<CudaBuffer>)> {
        match *x {}
    }
    fn attention_softmax_backward(
        y: &CudaBuffer,
        _: &CudaBuffer,
        _: usize,
        _: usize,
        _: Option<(&CudaBuffer, f64)>,
        _: f64,
    ) -> Result<CudaBuffer> {
        match *y {}
    }
    fn sgd_step(
        p: Span<'_, CudaBuffer>,
        _: Span<'_, CudaBuffer>,
        _: Option<Span<'_, CudaBuffer>>,
        _: bool,
        _: &SgdOptions,
    ) -> Result<()> {
        match *p.buf {}
    }
    fn adam_step(
        p: Span<'_, CudaBuffer>,
        _: Span<'_, CudaBuffer>,
        _: Span<'_, CudaBuffer>,
        _: Span<'_, CudaBuffer>,
        _: Option<Span<'_, CudaBuffer>>,
        _: f64,
        _: &AdamOptions,
    ) -> Result<()> {
        match *p.buf {}
    }
    fn unfold(x: &CudaBuffer, _: &Layout, _: &Window) -> Result<CudaBuffer> {
        match *x {}
    }
    fn fold(cols: &CudaBuffer, _: &Layout, _: &Window) -> Result<CudaBuffer> {
        match *cols {}
    }
    fn max_pool(x: &CudaBuffer, _: &Layout, _: &Window) -> Result<(CudaBuffer, CudaBuffer)> {
        match *x {}
    }
    fn max_pool_backward(
        g: &CudaBuffer,
        _: &Layout,
        _: &CudaBuffer,
        _: &Window,
    ) -> Result<CudaBuffer> {
        match *g {}
    }
    fn fractional_max_pool(
        x: &CudaBuffer,
        _: &Layout,
        _: &Window,
        _: &[usize],
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        match *x {}
    }
    fn avg_pool(x: &CudaBuffer, _: &Layout, _: &Window, _: AvgDivisor) -> Result<CudaBuffer> {
        match *x {}
    }
    fn roi_pool(x: &CudaBuffer, _: &CudaBuffer, _: &RoiPool) -> Result<(CudaBuffer, CudaBuffer)> {
        match *x {}
    }
    fn roi_pool_backward(
        g: &CudaBuffer,
        _: &CudaBuffer,
        _: &CudaBuffer,
        _: &RoiPool,
    ) -> Result<CudaBuffer> {
        match *g {}
    }
    fn roi_align(x: &CudaBuffer, _: &CudaBuffer, _: &RoiAlign) -> Result<CudaBuffer> {
        match *x {}
    }
    fn roi_align_backward(g: &CudaBuffer, _: &CudaBuffer, _: &RoiAlign) -> Result<CudaBuffer> {
        match *g {}
    }
    fn resample_axis(x: &CudaBuffer, _: &ResampleAxis<f64>) -> Result<CudaBuffer> {
        match *x {}
    }
    fn resample_u8(x: &CudaBuffer, _: &ResampleAxis<i16>, _: u32) -> Result<CudaBuffer> {
        match *x {}
    }
    fn nms(boxes: &CudaBuffer, _: f64) -> Result<Vec<usize>> {
        match *boxes {}
    }
    fn avg_pool_backward(
        g: &CudaBuffer,
        _: &Layout,
        _: &Window,
        _: AvgDivisor,
    ) -> Result<CudaBuffer> {
        match *g {}
    }
    fn channel_stats(x: &CudaBuffer, _: [usize; 3]) -> Result<(CudaBuffer, CudaBuffer)> {
        match *x {}
    }
    fn channel_grad_sums(
        g: &CudaBuffer,
        _: &CudaBuffer,
        _: &CudaBuffer,
        _: [usize; 3],
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        match *g {}
    }
    fn channel_affine(
        x: &CudaBuffer,
        _: [&CudaBuffer; 3],
        _: Option<(&CudaBuffer, &CudaBuffer)>,
        _: [usize; 3],
    ) -> Result<CudaBuffer> {
        match *x {}
    }
    fn layer_norm(
        x: &CudaBuffer,
        _: Option<&CudaBuffer>,
        _: Option<&CudaBuffer>,
        _: [usize; 2],
        _: f64,
    ) -> Result<[CudaBuffer; 3]> {
        match *x {}
    }
    fn layer_norm_backward(
        g: &CudaBuffer,
        _: &CudaBuffer,
        _: [&CudaBuffer; 2],
        _: Option<&CudaBuffer>,
        _: [usize; 2],
        _: bool,
    ) -> Result<LayerNormGrads<CudaBuffer>> {
        match *g {}
    }
    fn rnn_forward(
        _: &RnnRun<'_>,
        input: RnnInput<&CudaBuffer>,
        _: &CudaBuffer,
        _: Option<&CudaBuffer>,
        _: &CudaBuffer,
        _: Option<&CudaBuffer>,
    ) -> Result<RnnSaved<CudaBuffer>> {
        match *input.x {}
    }
    fn rnn_backward(
        _: &RnnRun<'_>,
        _: RnnSaved<&CudaBuffer>,
        w_hh: &CudaBuffer,
        _: &CudaBuffer,
        _: Option<&CudaBuffer>,
        _: Option<&CudaBuffer>,
        _: Option<&CudaBuffer>,
        _: Option<&CudaBuffer>,
    ) -> Result<RnnGrads<CudaBuffer>> {
        match *w_hh {}
    }
}
