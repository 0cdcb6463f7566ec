//! The CUDA backend: each op family of [`Backend`] on device buffers. The work is done by
//! the family modules beside this one; this file only routes.

use super::buffer::CudaBuffer;
use super::device::{gpu, DeviceApi};
use super::{
    attention, elementwise, fused, index, matmul, norm, random, reduce, rnn, roi, search, window,
};
use crate::backend::{
    AdamOptions, Arg, AttnRows, AvgDivisor, Backend, BinaryOp, Distribution, Fused3, HostBuffer,
    LayerNormGrads, MatBatch, ReduceOp, ResampleAxis, RnnGrads, RnnInput, RnnRun, RnnSaved,
    RoiAlign, RoiPool, ScanOp, SgdOptions, Span, UnaryOp, Window,
};
use crate::error::Result;
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::Layout;
use std::sync::Arc;

/// The CUDA backend.
pub struct Cuda;

/// Device `ordinal` as the families take it.
fn dev(ordinal: usize) -> Result<Arc<dyn DeviceApi>> {
    Ok(gpu(ordinal)?)
}

impl Backend for Cuda {
    type Buffer = CudaBuffer;

    fn full(device: usize, n: usize, dtype: DType, value: Scalar) -> Result<CudaBuffer> {
        elementwise::full(&dev(device)?, n, dtype, value)
    }
    fn upload(device: usize, host: &HostBuffer) -> Result<CudaBuffer> {
        elementwise::upload(&dev(device)?, host)
    }
    fn download(buf: &CudaBuffer, l: &Layout) -> Result<HostBuffer> {
        elementwise::download(buf, l)
    }
    fn cast(x: &CudaBuffer, l: &Layout, dtype: DType) -> Result<CudaBuffer> {
        elementwise::cast(x, l, dtype)
    }
    fn copy_into(dst: &CudaBuffer, dl: &Layout, src: Arg<'_, CudaBuffer>) -> Result<()> {
        elementwise::copy_into(dst, dl, src)
    }
    fn unary(x: &CudaBuffer, l: &Layout, op: UnaryOp) -> Result<CudaBuffer> {
        elementwise::unary(x, l, op)
    }
    fn unary_(x: Span<'_, CudaBuffer>, op: UnaryOp) -> Result<()> {
        elementwise::unary_(x, op)
    }
    fn binary_scalar_(x: Span<'_, CudaBuffer>, s: Scalar, op: BinaryOp) -> Result<()> {
        elementwise::binary_scalar_(x, s, op)
    }
    fn binary(
        a: Arg<'_, CudaBuffer>,
        b: Arg<'_, CudaBuffer>,
        dtype: DType,
        shape: &[usize],
        op: BinaryOp,
    ) -> Result<CudaBuffer> {
        elementwise::binary(a, b, dtype, shape, op)
    }
    fn where_(
        cond: Arg<'_, CudaBuffer>,
        a: Arg<'_, CudaBuffer>,
        b: Arg<'_, CudaBuffer>,
        dtype: DType,
        shape: &[usize],
    ) -> Result<CudaBuffer> {
        elementwise::where_(cond, a, b, dtype, shape)
    }
    fn fused3(
        a: Arg<'_, CudaBuffer>,
        b: Arg<'_, CudaBuffer>,
        c: Arg<'_, CudaBuffer>,
        dtype: DType,
        shape: &[usize],
        op: Fused3,
    ) -> Result<CudaBuffer> {
        elementwise::fused3(a, b, c, dtype, shape, op)
    }
    fn reduce(
        x: &CudaBuffer,
        l: &Layout,
        rows: usize,
        len: usize,
        op: ReduceOp,
    ) -> Result<CudaBuffer> {
        reduce::reduce(x, l, rows, len, op)
    }
    fn arg_reduce(
        x: &CudaBuffer,
        l: &Layout,
        rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        reduce::arg_reduce(x, l, rows, len, max)
    }
    fn scan(x: &CudaBuffer, l: &Layout, rows: usize, len: usize, op: ScanOp) -> Result<CudaBuffer> {
        reduce::scan(x, l, rows, len, op)
    }
    fn softmax_backward(
        y: Span<'_, CudaBuffer>,
        g: Span<'_, CudaBuffer>,
        len: usize,
        log: bool,
    ) -> Result<CudaBuffer> {
        reduce::softmax_backward(y, g, len, log)
    }
    fn arg_scan(
        x: &CudaBuffer,
        l: &Layout,
        rows: usize,
        len: usize,
        max: bool,
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        reduce::arg_scan(x, l, rows, len, max)
    }
    fn search_sorted(
        seq: &CudaBuffer,
        seq_rows: usize,
        len: usize,
        values: &CudaBuffer,
        per_row: usize,
        right: bool,
        out: DType,
    ) -> Result<CudaBuffer> {
        search::search_sorted(seq, seq_rows, len, values, per_row, right, out)
    }
    fn sort(
        x: &CudaBuffer,
        l: &Layout,
        rows: usize,
        len: usize,
        descending: bool,
        k: usize,
    ) -> Result<CudaBuffer> {
        index::sort(x, l, rows, len, descending, k)
    }
    fn matmul(
        a: &CudaBuffer,
        ma: &MatBatch,
        b: &CudaBuffer,
        mb: &MatBatch,
        mnk: (usize, usize, usize),
        alpha: f64,
        acc: Option<CudaBuffer>,
    ) -> Result<CudaBuffer> {
        matmul::matmul(a, ma, b, mb, mnk, alpha, acc)
    }
    fn index(
        src: &CudaBuffer,
        l: &Layout,
        indices: &[(&CudaBuffer, &Layout)],
        index_shape: &[usize],
    ) -> Result<CudaBuffer> {
        index::index(src, l, indices, index_shape)
    }
    fn index_put(
        dst: &CudaBuffer,
        l: &Layout,
        indices: &[(&CudaBuffer, &Layout)],
        index_shape: &[usize],
        values: Arg<'_, CudaBuffer>,
        accumulate: bool,
    ) -> Result<()> {
        index::index_put(dst, l, indices, index_shape, values, accumulate)
    }
    fn gather(
        src: &CudaBuffer,
        sl: &Layout,
        dim: usize,
        idx: &CudaBuffer,
        il: &Layout,
    ) -> Result<CudaBuffer> {
        index::gather(src, sl, dim, idx, il)
    }
    fn scatter(
        dst: &CudaBuffer,
        dl: &Layout,
        dim: usize,
        idx: &CudaBuffer,
        il: &Layout,
        src: Arg<'_, CudaBuffer>,
        accumulate: bool,
    ) -> Result<()> {
        index::scatter(dst, dl, dim, idx, il, src, accumulate)
    }
    fn nonzero(x: &CudaBuffer, l: &Layout) -> Result<(CudaBuffer, usize)> {
        index::nonzero(x, l)
    }
    fn random(device: usize, n: usize, dtype: DType, dist: Distribution) -> Result<CudaBuffer> {
        random::random(&dev(device)?, n, dtype, dist)
    }
    fn randperm(device: usize, n: usize) -> Result<CudaBuffer> {
        random::randperm(&dev(device)?, n)
    }
    fn manual_seed(device: usize, seed: u64) -> Result<()> {
        random::manual_seed(device, seed)
    }
    fn cross_entropy(
        x: &CudaBuffer,
        l: &Layout,
        target: &CudaBuffer,
        tl: &Layout,
        weight: Option<(&CudaBuffer, &Layout)>,
        ignore_index: i64,
        label_smoothing: f64,
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        fused::cross_entropy(x, l, target, tl, weight, ignore_index, label_smoothing)
    }
    fn cross_entropy_backward(
        x: &CudaBuffer,
        l: &Layout,
        target: &CudaBuffer,
        tl: &Layout,
        scale: &CudaBuffer,
    ) -> Result<CudaBuffer> {
        fused::cross_entropy_backward(x, l, target, tl, scale)
    }
    fn attention_softmax(
        x: &CudaBuffer,
        a: &AttnRows,
        mask: Option<(&CudaBuffer, &Layout)>,
        keep: Option<(&CudaBuffer, f64)>,
    ) -> Result<(CudaBuffer, Option<CudaBuffer>)> {
        attention::attention_softmax(x, a, mask, keep)
    }
    fn attention_softmax_backward(
        y: &CudaBuffer,
        g: &CudaBuffer,
        rows: usize,
        len: usize,
        keep: Option<(&CudaBuffer, f64)>,
        scale: f64,
    ) -> Result<CudaBuffer> {
        attention::attention_softmax_backward(y, g, rows, len, keep, scale)
    }
    fn sgd_step(
        p: Span<'_, CudaBuffer>,
        g: Span<'_, CudaBuffer>,
        buf: Option<Span<'_, CudaBuffer>>,
        first: bool,
        o: &SgdOptions,
    ) -> Result<()> {
        fused::sgd_step(p, g, buf, first, o)
    }
    fn adam_step(
        p: Span<'_, CudaBuffer>,
        g: Span<'_, CudaBuffer>,
        m: Span<'_, CudaBuffer>,
        v: Span<'_, CudaBuffer>,
        vmax: Option<Span<'_, CudaBuffer>>,
        step: f64,
        o: &AdamOptions,
    ) -> Result<()> {
        fused::adam_step(p, g, m, v, vmax, step, o)
    }
    fn unfold(x: &CudaBuffer, l: &Layout, w: &Window) -> Result<CudaBuffer> {
        window::unfold(x, l, w)
    }
    fn fold(cols: &CudaBuffer, l: &Layout, w: &Window) -> Result<CudaBuffer> {
        window::fold(cols, l, w)
    }
    fn max_pool(x: &CudaBuffer, l: &Layout, w: &Window) -> Result<(CudaBuffer, CudaBuffer)> {
        window::max_pool(x, l, w)
    }
    fn avg_pool(x: &CudaBuffer, l: &Layout, w: &Window, d: AvgDivisor) -> Result<CudaBuffer> {
        window::avg_pool(x, l, w, d)
    }
    fn fractional_max_pool(
        x: &CudaBuffer,
        l: &Layout,
        w: &Window,
        starts: &[usize],
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        window::fractional_max_pool(x, l, w, starts)
    }
    fn max_pool_backward(
        g: &CudaBuffer,
        gl: &Layout,
        idx: &CudaBuffer,
        w: &Window,
    ) -> Result<CudaBuffer> {
        window::max_pool_backward(g, gl, idx, w)
    }
    fn avg_pool_backward(
        g: &CudaBuffer,
        l: &Layout,
        w: &Window,
        d: AvgDivisor,
    ) -> Result<CudaBuffer> {
        window::avg_pool_backward(g, l, w, d)
    }
    fn roi_pool(
        x: &CudaBuffer,
        rois: &CudaBuffer,
        p: &RoiPool,
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        roi::roi_pool(x, rois, p)
    }
    fn roi_pool_backward(
        g: &CudaBuffer,
        idx: &CudaBuffer,
        rois: &CudaBuffer,
        p: &RoiPool,
    ) -> Result<CudaBuffer> {
        roi::roi_pool_backward(g, idx, rois, p)
    }
    fn roi_align(x: &CudaBuffer, rois: &CudaBuffer, p: &RoiAlign) -> Result<CudaBuffer> {
        roi::roi_align(x, rois, p)
    }
    fn roi_align_backward(g: &CudaBuffer, rois: &CudaBuffer, p: &RoiAlign) -> Result<CudaBuffer> {
        roi::roi_align_backward(g, rois, p)
    }
    fn nms(boxes: &CudaBuffer, iou_threshold: f64) -> Result<Vec<usize>> {
        roi::nms(boxes, iou_threshold)
    }
    fn resample_axis(x: &CudaBuffer, p: &ResampleAxis<f64>) -> Result<CudaBuffer> {
        window::resample_axis(x, p)
    }
    fn resample_u8(x: &CudaBuffer, p: &ResampleAxis<i16>, bits: u32) -> Result<CudaBuffer> {
        window::resample_u8(x, p, bits)
    }
    fn channel_stats(x: &CudaBuffer, dims: [usize; 3]) -> Result<(CudaBuffer, CudaBuffer)> {
        norm::stats(x, dims)
    }
    fn channel_grad_sums(
        g: &CudaBuffer,
        x: &CudaBuffer,
        mean: &CudaBuffer,
        dims: [usize; 3],
    ) -> Result<(CudaBuffer, CudaBuffer)> {
        norm::grad_sums(g, x, mean, dims)
    }
    fn channel_affine(
        x: &CudaBuffer,
        k: [&CudaBuffer; 3],
        y: Option<(&CudaBuffer, &CudaBuffer)>,
        dims: [usize; 3],
    ) -> Result<CudaBuffer> {
        norm::affine(x, k, y, dims)
    }
    fn layer_norm(
        x: &CudaBuffer,
        w: Option<&CudaBuffer>,
        b: Option<&CudaBuffer>,
        dims: [usize; 2],
        eps: f64,
    ) -> Result<[CudaBuffer; 3]> {
        norm::layer_norm(x, w, b, dims, eps)
    }
    fn layer_norm_backward(
        g: &CudaBuffer,
        x: &CudaBuffer,
        stats: [&CudaBuffer; 2],
        w: Option<&CudaBuffer>,
        dims: [usize; 2],
        params: bool,
    ) -> Result<LayerNormGrads<CudaBuffer>> {
        norm::layer_norm_backward(g, x, stats, w, dims, params)
    }
    fn rnn_forward(
        run: &RnnRun<'_>,
        input: RnnInput<&CudaBuffer>,
        w_hh: &CudaBuffer,
        b_hh: Option<&CudaBuffer>,
        h0: &CudaBuffer,
        c0: Option<&CudaBuffer>,
    ) -> Result<RnnSaved<CudaBuffer>> {
        rnn::forward(run, input, w_hh, b_hh, h0, c0)
    }
    fn rnn_backward(
        run: &RnnRun<'_>,
        saved: RnnSaved<&CudaBuffer>,
        w_hh: &CudaBuffer,
        h0: &CudaBuffer,
        c0: Option<&CudaBuffer>,
        dout: Option<&CudaBuffer>,
        dh_n: Option<&CudaBuffer>,
        dc_n: Option<&CudaBuffer>,
    ) -> Result<RnnGrads<CudaBuffer>> {
        rnn::backward(run, saved, w_hh, h0, c0, dout, dh_n, dc_n)
    }
}
