//! Recurrent layers on host buffers: a layer's forward and its backward through time.

use super::{not_implemented, or_empty};
use crate::backend::{HostBuffer, RnnGrads, RnnInput, RnnRun, RnnSaved};
use crate::cpu::rnn;
use crate::error::Result;

/// [`Backend::rnn_forward`](crate::backend::Backend::rnn_forward) on host buffers.
pub(super) fn rnn_forward(
    run: &RnnRun<'_>,
    input: RnnInput<&HostBuffer>,
    w_hh: &HostBuffer,
    b_hh: Option<&HostBuffer>,
    h0: &HostBuffer,
    c0: Option<&HostBuffer>,
) -> Result<RnnSaved<HostBuffer>> {
    crate::with_float_dtype!(
        input.x.dtype(),
        T,
        {
            let input = rnn::Input {
                x: input.x.as_slice::<T>(),
                w_ih: input.w_ih.as_slice(),
                b_ih: or_empty(input.b_ih),
                features: input.features,
            };
            let f = rnn::forward(
                run,
                &input,
                w_hh.as_slice(),
                or_empty(b_hh),
                h0.as_slice(),
                or_empty(c0),
            );
            Ok(RnnSaved {
                gates: HostBuffer::from_vec(f.gates),
                h: HostBuffer::from_vec(f.h),
                extra: f.extra.map(HostBuffer::from_vec),
            })
        },
        Err(not_implemented("rnn", input.x.dtype()))
    )
}

/// [`Backend::rnn_backward`](crate::backend::Backend::rnn_backward) on host buffers.
// The trait method's arguments, passed through.
#[allow(clippy::too_many_arguments)]
pub(super) fn rnn_backward(
    run: &RnnRun<'_>,
    saved: RnnSaved<&HostBuffer>,
    w_hh: &HostBuffer,
    h0: &HostBuffer,
    c0: Option<&HostBuffer>,
    dout: Option<&HostBuffer>,
    dh_n: Option<&HostBuffer>,
    dc_n: Option<&HostBuffer>,
) -> Result<RnnGrads<HostBuffer>> {
    crate::with_float_dtype!(
        w_hh.dtype(),
        T,
        {
            let s = rnn::Saved {
                gates: saved.gates.as_slice::<T>(),
                h: saved.h.as_slice(),
                extra: or_empty(saved.extra),
                h0: h0.as_slice(),
                c0: or_empty(c0),
                dout: or_empty(dout),
                dh_n: or_empty(dh_n),
                dc_n: or_empty(dc_n),
            };
            let b = rnn::backward(run, &s, w_hh.as_slice());
            Ok(RnnGrads {
                gates: HostBuffer::from_vec(b.gates),
                hidden_gates: b.hidden_gates.map(HostBuffer::from_vec),
                h0: HostBuffer::from_vec(b.h0),
                c0: b.c0.map(HostBuffer::from_vec),
            })
        },
        Err(not_implemented("rnn_backward", w_hh.dtype()))
    )
}
