//! Recurrent layers on a GPU (`kernels/rnn.cu`), with the CPU's contract
//! (`crate::cpu::rnn`): per step, the recurrent product and one fused cell kernel; back
//! through time, one cell-backward kernel and the product carrying the gradient to the
//! previous step, accumulated into the state gradient in place.
//!
//! A step's product is small (batch × gates·hidden × hidden) and the host issues the steps
//! one by one, so what it costs the host sets the layer's pace. Up to [`KERNEL_MACS`]
//! multiply-adds it runs as one launch of the `gemm` kernel, with the step's offsets
//! uploaded once per layer; larger ones go to cuBLAS, whose call costs the host about
//! three launches (an H200's host profile of the 2-layer LSTM step: half its time inside
//! `cublasGemmStridedBatchedEx`) but whose kernels are far faster on large products.

use super::buffer::CudaBuffer;
use super::device::{Args, DeviceApi, Kernel};
use super::elementwise::{cast, full, launch_elementwise, upload};
use super::kernels::{self, RNN};
use super::matmul::{launch_gemm, matmul_into, GemmOperands};
use crate::backend::{HostBuffer, MatBatch, RnnCell, RnnGrads, RnnInput, RnnRun, RnnSaved};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::Layout;
use std::sync::Arc;

/// Kernel `name` of `rnn.cu` for `dtype`, or PyTorch's error for a dtype it lacks.
fn kernel(name: &'static str, dtype: DType) -> Result<Kernel> {
    if !kernels::has_kernel(&RNN, name, dtype) {
        return Err(Error::NotImplemented(format!(
            "\"rnn_cuda\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    Ok(Kernel { file: &RNN, name })
}

/// The cell's code in the kernels' `cell` argument.
fn code(cell: RnnCell) -> i32 {
    match cell {
        RnnCell::Tanh => 0,
        RnnCell::Relu => 1,
        RnnCell::Lstm => 2,
        RnnCell::Gru => 3,
    }
}

/// One matrix of a buffer, row-major from element `offset`, rows `rs` apart.
fn rows(offset: usize, rs: usize) -> MatBatch {
    MatBatch {
        offsets: vec![offset],
        rs: rs as isize,
        cs: 1,
    }
}

/// A device pointer to element `at` of an optional buffer (null when absent).
fn ptr(b: Option<&CudaBuffer>, at: usize) -> u64 {
    b.map_or(0, |b| b.ptr_at(at))
}

/// The most multiply-adds of a step's product that go to the `gemm` kernel (see the
/// module's note); the 2-layer LSTM of the GPU benchmark (batch 64, hidden 128) has
/// 64 · 512 · 128 = 2^22.
const KERNEL_MACS: usize = 1 << 23;

#[cfg(not(test))]
fn kernel_macs() -> usize {
    KERNEL_MACS
}

#[cfg(test)]
thread_local! {
    /// The host tests run both routes: the `gemm` kernel and the general product.
    static TEST_KERNEL_MACS: std::cell::Cell<usize> = const { std::cell::Cell::new(KERNEL_MACS) };
}

#[cfg(test)]
fn kernel_macs() -> usize {
    TEST_KERNEL_MACS.with(|c| c.get())
}

/// The per-step products of one layer, `A_slot @ B`: `A_slot` is the `m × k` matrix of a
/// buffer from element `slot · stride`, rows `a_rs` apart; `B` the `k × n` matrix of a
/// buffer from element 0, with (row, column) strides `b_strides`.
struct StepProducts {
    mnk: (usize, usize, usize),
    stride: usize,
    a_rs: usize,
    b_strides: (isize, isize),
    /// `[0, stride, 2·stride, …]` as `i64` on the device, one per slot, when the products
    /// go to the `gemm` kernel; `None` when they go to cuBLAS.
    offsets: Option<CudaBuffer>,
}

impl StepProducts {
    fn new(
        dev: &Arc<dyn DeviceApi>,
        mnk: (usize, usize, usize),
        slots: usize,
        (stride, a_rs): (usize, usize),
        b_strides: (isize, isize),
    ) -> Result<StepProducts> {
        let (m, n, k) = mnk;
        let offsets = if m * n * k <= kernel_macs() {
            let v: Vec<i64> = (0..slots.max(1)).map(|i| (i * stride) as i64).collect();
            Some(upload(dev, &HostBuffer::from_vec(v))?)
        } else {
            None
        };
        Ok(StepProducts {
            mnk,
            stride,
            a_rs,
            b_strides,
            offsets,
        })
    }

    /// `a`'s matrix at `slot` times `b`, written into `out` or added to it (`accumulate`).
    fn run(
        &self,
        a: &CudaBuffer,
        slot: usize,
        b: &CudaBuffer,
        out: &CudaBuffer,
        accumulate: bool,
    ) -> Result<()> {
        match &self.offsets {
            Some(offsets) => {
                let o = GemmOperands {
                    a,
                    a_offsets: offsets.ptr_at(slot),
                    a_strides: (self.a_rs as isize, 1),
                    b,
                    b_offsets: offsets.ptr_at(0),
                    b_strides: self.b_strides,
                    batch: 1,
                };
                launch_gemm(&o, self.mnk, 1.0, accumulate, out)
            }
            None => {
                let mb = MatBatch {
                    offsets: vec![0],
                    rs: self.b_strides.0,
                    cs: self.b_strides.1,
                };
                let ma = rows(slot * self.stride, self.a_rs);
                matmul_into(a, &ma, b, &mb, self.mnk, 1.0, accumulate, out)
            }
        }
    }
}

/// Every step's input projection `x·W_ihᵀ + b_ih` (`[steps·batch, G·hidden]`), as one
/// product: the bias broadcast over the rows, then the product added to it.
fn projections(input: &RnnInput<&CudaBuffer>, rows: usize, gh: usize) -> Result<CudaBuffer> {
    let (x, f) = (input.x, input.features);
    let gates = match input.b_ih {
        Some(bias) => {
            let rows_of_bias = Layout::contiguous(&[1, gh]).expand(&[rows as i64, gh as i64])?;
            cast(bias, &rows_of_bias, x.dtype())?
        }
        None => CudaBuffer::alloc(x.dev(), rows * gh, x.dtype())?,
    };
    let whole = |rs: usize, cs: usize| MatBatch {
        offsets: vec![0],
        rs: rs as isize,
        cs: cs as isize,
    };
    // W_ih ([G·hidden, features], row-major) read as W_ihᵀ.
    let (mx, mw) = (whole(f, 1), whole(1, f));
    matmul_into(
        x,
        &mx,
        input.w_ih,
        &mw,
        (rows, gh, f),
        1.0,
        input.b_ih.is_some(),
        &gates,
    )?;
    Ok(gates)
}

/// See [`crate::backend::Backend::rnn_forward`].
pub fn forward(
    run: &RnnRun<'_>,
    input: RnnInput<&CudaBuffer>,
    w_hh: &CudaBuffer,
    b_hh: Option<&CudaBuffer>,
    h0: &CudaBuffer,
    c0: Option<&CudaBuffer>,
) -> Result<RnnSaved<CudaBuffer>> {
    let (cell, b, hd) = (run.cell, run.batch, run.hidden);
    let dtype = input.x.dtype();
    let k = kernel("rnn_cell_forward", dtype)?;
    let dev = input.x.dev().clone();
    let (gh, bh) = (cell.gates() * hd, b * hd);
    let gates = projections(&input, run.steps * b, gh)?;
    let h = CudaBuffer::alloc(&dev, run.steps * bh, dtype)?;
    let extra = match cell {
        RnnCell::Lstm | RnnCell::Gru => Some(CudaBuffer::alloc(&dev, run.steps * bh, dtype)?),
        _ => None,
    };
    // h_prev @ W_hhᵀ: W_hh ([G·hidden, hidden], row-major) read as W_hhᵀ; slot p is
    // step p's h (h0 is slot 0 of its own buffer).
    let products = StepProducts::new(&dev, (b, gh, hd), run.steps, (bh, hd), (1, hd as isize))?;
    let hw = CudaBuffer::alloc(&dev, b * gh, dtype)?;
    for t in run.order() {
        let (h_src, slot, c_prev) = match run.previous(t) {
            Some(p) => (&h, p, ptr(extra.as_ref(), p * bh)),
            None => (h0, 0, ptr(c0, 0)),
        };
        products.run(h_src, slot, w_hh, &hw, false)?;
        let g_at = t * b * gh;
        let mut args = Args::new();
        args.arg(gates.ptr_at(g_at))
            .arg(hw.device_ptr())
            .arg(ptr(b_hh, 0))
            .arg(h_src.ptr_at(slot * bh))
            .arg(c_prev)
            .arg(h.ptr_at(t * bh))
            .arg(ptr(extra.as_ref(), t * bh))
            .arg(code(cell))
            .arg(run.live(t) as i64)
            .arg(b as i64)
            .arg(hd as i64);
        launch_elementwise(&dev, k, dtype, bh, &mut args)?;
    }
    Ok(RnnSaved { gates, h, extra })
}

/// See [`crate::backend::Backend::rnn_backward`].
#[allow(clippy::too_many_arguments)]
pub fn backward(
    run: &RnnRun<'_>,
    saved: RnnSaved<&CudaBuffer>,
    w_hh: &CudaBuffer,
    h0: &CudaBuffer,
    c0: Option<&CudaBuffer>,
    dout: Option<&CudaBuffer>,
    dh_n: Option<&CudaBuffer>,
    dc_n: Option<&CudaBuffer>,
) -> Result<RnnGrads<CudaBuffer>> {
    let (cell, b, hd) = (run.cell, run.batch, run.hidden);
    let dtype = w_hh.dtype();
    let k = kernel("rnn_cell_backward", dtype)?;
    let dev = w_hh.dev().clone();
    let (gh, bh) = (cell.gates() * hd, b * hd);
    let gru = cell == RnnCell::Gru;
    let lstm = cell == RnnCell::Lstm;
    let dgx = CudaBuffer::alloc(&dev, run.steps * b * gh, dtype)?;
    let dgh = if gru {
        Some(CudaBuffer::alloc(&dev, run.steps * b * gh, dtype)?)
    } else {
        None
    };
    let state = |g: Option<&CudaBuffer>| match g {
        Some(g) => cast(g, &Layout::contiguous(&[bh]), dtype),
        None => full(&dev, bh, dtype, Scalar::Float(0.0)),
    };
    let dh = state(dh_n)?;
    // dg_t @ W_hh: slot t is step t's gate gradients.
    let products = StepProducts::new(&dev, (b, hd, gh), run.steps, (b * gh, gh), (hd as isize, 1))?;
    let dc = if lstm { Some(state(dc_n)?) } else { None };
    let order: Vec<usize> = run.order().collect();
    for &t in order.iter().rev() {
        let prev = run.previous(t);
        let (h_prev, c_prev) = match prev {
            Some(p) => (saved.h.ptr_at(p * bh), ptr(saved.extra, p * bh)),
            None => (h0.ptr_at(0), ptr(c0, 0)),
        };
        let g_at = t * b * gh;
        let mut args = Args::new();
        args.arg(saved.gates.ptr_at(g_at))
            .arg(saved.h.ptr_at(t * bh))
            .arg(ptr(saved.extra, t * bh))
            .arg(if lstm { c_prev } else { 0 })
            .arg(h_prev)
            .arg(ptr(dout, t * bh))
            .arg(dh.device_ptr())
            .arg(ptr(dc.as_ref(), 0))
            .arg(dgx.ptr_at(g_at))
            .arg(ptr(dgh.as_ref(), g_at))
            .arg(code(cell))
            .arg(run.live(t) as i64)
            .arg(b as i64)
            .arg(hd as i64);
        launch_elementwise(&dev, k, dtype, bh, &mut args)?;
        // dh_prev += dg·W_hh (carried rows have zero gate gradients).
        products.run(dgh.as_ref().unwrap_or(&dgx), t, w_hh, &dh, true)?;
    }
    Ok(RnnGrads {
        gates: dgx,
        hidden_gates: dgh,
        h0: dh,
        c0: dc,
    })
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;

    /// Forward and backward through time, run on the host, against the CPU backend: each
    /// cell, both directions, a packed batch whose sequences end at different steps.
    #[test]
    fn rnn_kernels_match_the_cpu() {
        if !available("rnn") {
            return;
        }
        let dev = HostDevice::open();
        let (steps, batch, hd) = (3, 5, 4);
        let active = [5, 3, 1];
        for (dtype, macs) in [
            (DType::F32, KERNEL_MACS),
            (DType::F64, KERNEL_MACS),
            (DType::F64, 0),
        ] {
            TEST_KERNEL_MACS.with(|c| c.set(macs));
            // Values in [-3, 3): scale them down so the cells do not saturate.
            let small = |n: usize, seed: u64| {
                let h = data(dtype, n, seed, false);
                let v: Vec<f64> = as_f64(&h).iter().map(|x| x * 0.3).collect();
                Cpu::cast(&HostBuffer::from_vec(v), &Layout::contiguous(&[n]), dtype).unwrap()
            };
            for cell in [RnnCell::Tanh, RnnCell::Relu, RnnCell::Lstm, RnnCell::Gru] {
                for reverse in [false, true] {
                    let what = format!("{dtype:?} {cell:?} reverse={reverse} kernel_macs={macs}");
                    let run = RnnRun {
                        cell,
                        steps,
                        batch,
                        hidden: hd,
                        reverse,
                        active: Some(&active),
                    };
                    let gh = cell.gates() * hd;
                    let (bh, lstm) = (batch * hd, cell == RnnCell::Lstm);
                    let features = 3;
                    let (x, w_ih, b_ih) = (
                        small(steps * batch * features, 1),
                        small(gh * features, 9),
                        small(gh, 10),
                    );
                    let (w, b, h0, c0) =
                        (small(gh * hd, 2), small(gh, 3), small(bh, 4), small(bh, 5));
                    let (dout, dh, dc) = (small(steps * bh, 6), small(bh, 7), small(bh, 8));
                    let c0c = lstm.then_some(&c0);
                    fn input<B>(x: B, w_ih: B, b_ih: B, features: usize) -> RnnInput<B> {
                        RnnInput {
                            x,
                            w_ih,
                            b_ih: Some(b_ih),
                            features,
                        }
                    }
                    let want = Cpu::rnn_forward(
                        &run,
                        input(&x, &w_ih, &b_ih, features),
                        &w,
                        Some(&b),
                        &h0,
                        c0c,
                    )
                    .unwrap();
                    let d = |h: &HostBuffer| put(&dev, h);
                    let (wd, bd, h0d, c0d) = (d(&w), d(&b), d(&h0), d(&c0));
                    let (xd, w_ihd, b_ihd) = (d(&x), d(&w_ih), d(&b_ih));
                    let got = forward(
                        &run,
                        input(&xd, &w_ihd, &b_ihd, features),
                        &wd,
                        Some(&bd),
                        &h0d,
                        lstm.then_some(&c0d),
                    )
                    .unwrap();
                    let tolerance = 16.0 * tol(dtype);
                    assert_close(
                        &format!("h {what}"),
                        &get(&got.h),
                        &as_f64(&want.h),
                        tolerance,
                    );
                    if let (Some(g), Some(w)) = (&got.extra, &want.extra) {
                        assert_close(&format!("extra {what}"), &get(g), &as_f64(w), tolerance);
                    }

                    let dcc = lstm.then_some(&dc);
                    let wg = Cpu::rnn_backward(
                        &run,
                        want.as_ref(),
                        &w,
                        &h0,
                        c0c,
                        Some(&dout),
                        Some(&dh),
                        dcc,
                    )
                    .unwrap();
                    let (doutd, dhd, dcd) = (d(&dout), d(&dh), d(&dc));
                    let gg = backward(
                        &run,
                        got.as_ref(),
                        &wd,
                        &h0d,
                        lstm.then_some(&c0d),
                        Some(&doutd),
                        Some(&dhd),
                        lstm.then_some(&dcd),
                    )
                    .unwrap();
                    assert_close(
                        &format!("dgates {what}"),
                        &get(&gg.gates),
                        &as_f64(&wg.gates),
                        tolerance,
                    );
                    assert_close(
                        &format!("dh0 {what}"),
                        &get(&gg.h0),
                        &as_f64(&wg.h0),
                        tolerance,
                    );
                    if let (Some(g), Some(w)) = (&gg.hidden_gates, &wg.hidden_gates) {
                        assert_close(&format!("dhidden {what}"), &get(g), &as_f64(w), tolerance);
                    }
                    if let (Some(g), Some(w)) = (&gg.c0, &wg.c0) {
                        assert_close(&format!("dc0 {what}"), &get(g), &as_f64(w), tolerance);
                    }
                }
            }
        }
    }
}
