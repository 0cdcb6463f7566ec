//! The nonblocking MPI calls: reductions and datatypes mapped to MPI's handles (with
//! user-defined ops for 16-bit floats), starting a [`Call`] as a [`Request`], and the
//! all-reduce of a large tensor as a sequence of chunks.

use super::requests::{progress_orphans, Request, Staged, State};
use super::{usable, Comm, LOCK};
use crate::distributed::ffi::{api, check, error_text, Api, Handle, UserFn, P};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::Tensor;
use parking_lot::Mutex;
use std::ffi::c_int;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// An elementwise reduction MPI performs (the average is a sum divided afterwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    Product,
    Min,
    Max,
    Band,
    Bor,
    Bxor,
}

fn datatype(a: &Api, d: DType) -> Handle {
    let t = &a.types;
    match d {
        DType::Bool | DType::U8 => t.u8,
        DType::I8 => t.i8,
        DType::I16 => t.i16,
        DType::F16 | DType::BF16 => t.u16,
        DType::I32 => t.i32,
        DType::I64 => t.i64,
        DType::F32 => t.f32,
        DType::F64 => t.f64,
    }
}

/// Elementwise `inout = in ∘ inout` over 16-bit floats, computed in float32 and rounded.
macro_rules! half_op {
    ($name:ident, $T:ty, $f:expr) => {
        unsafe extern "C" fn $name(invec: P, inout: P, len: *mut c_int, _dt: *mut Handle) {
            // SAFETY: MPI passes two buffers of `*len` elements of the datatype this op was
            // made for (16-bit words holding `$T`), the second one writable and distinct.
            let (a, b) = unsafe {
                let n = (*len).max(0) as usize;
                (
                    std::slice::from_raw_parts(invec as *const $T, n),
                    std::slice::from_raw_parts_mut(inout as *mut $T, n),
                )
            };
            let f: fn(f32, f32) -> f32 = $f;
            for (o, &i) in b.iter_mut().zip(a) {
                *o = <$T>::from_f32(f(i.to_f32(), o.to_f32()));
            }
        }
    };
}
half_op!(f16_sum, half::f16, |a, b| a + b);
half_op!(f16_prod, half::f16, |a, b| a * b);
half_op!(f16_min, half::f16, |a, b| if a.is_nan() || a < b {
    a
} else {
    b
});
half_op!(f16_max, half::f16, |a, b| if a.is_nan() || a > b {
    a
} else {
    b
});
half_op!(bf16_sum, half::bf16, |a, b| a + b);
half_op!(bf16_prod, half::bf16, |a, b| a * b);
half_op!(bf16_min, half::bf16, |a, b| if a.is_nan() || a < b {
    a
} else {
    b
});
half_op!(bf16_max, half::bf16, |a, b| if a.is_nan() || a > b {
    a
} else {
    b
});

/// The user-defined ops for 16-bit floats, made once.
fn half_ops(a: &Api) -> Result<&'static [Handle; 8]> {
    static OPS: OnceLock<std::result::Result<[Handle; 8], String>> = OnceLock::new();
    OPS.get_or_init(|| {
        let fns: [UserFn; 8] = [
            f16_sum, f16_prod, f16_min, f16_max, bf16_sum, bf16_prod, bf16_min, bf16_max,
        ];
        let mut out = [Handle::NULL; 8];
        for (o, f) in out.iter_mut().zip(fns) {
            // SAFETY: `f` has MPI_User_function's signature and is commutative; MPI writes
            // one handle.
            let rc = unsafe { (a.op_create)(f, 1, o) };
            if rc != 0 {
                return Err(format!("MPI_Op_create: {}", error_text(a, rc)));
            }
        }
        Ok(out)
    })
    .as_ref()
    .map_err(|e| Error::Runtime(e.clone()))
}

/// The MPI op reducing `dtype` with `r` (the caller has checked that the pair is allowed).
fn op_handle(a: &Api, dtype: DType, r: Reduction) -> Result<Handle> {
    if dtype.is_half() {
        let base = if dtype == DType::F16 { 0 } else { 4 };
        let i = match r {
            Reduction::Sum => 0,
            Reduction::Product => 1,
            Reduction::Min => 2,
            Reduction::Max => 3,
            _ => unreachable!("bitwise reductions of floats are refused before"),
        };
        return Ok(half_ops(a)?[base + i]);
    }
    let o = &a.ops;
    Ok(match r {
        Reduction::Sum => o.sum,
        Reduction::Product => o.prod,
        Reduction::Min => o.min,
        Reduction::Max => o.max,
        Reduction::Band => o.band,
        Reduction::Bor => o.bor,
        Reduction::Bxor => o.bxor,
    })
}

/// One nonblocking MPI operation over staged buffers.
pub enum Call<'a> {
    Barrier,
    AllReduce(&'a Staged, Reduction),
    /// (buffer, root, reduction, this rank is the root)
    Reduce(&'a Staged, usize, Reduction, bool),
    Broadcast(&'a Staged, usize),
    /// (input, output of size × the input)
    AllGather(&'a Staged, &'a Staged),
    /// (input, output on the root, root)
    Gather(&'a Staged, Option<&'a Staged>, usize),
    /// (input on the root, output, root)
    Scatter(Option<&'a Staged>, &'a Staged, usize),
    /// (input of size × the output, output, reduction)
    ReduceScatter(&'a Staged, &'a Staged, Reduction),
    /// (input, its counts per rank, output, its counts per rank)
    AllToAll(&'a Staged, Vec<usize>, &'a Staged, Vec<usize>),
    /// (buffer, peer, tag)
    Send(&'a Staged, usize, i32),
    /// (buffer, peer or any, tag)
    Recv(&'a Staged, Option<usize>, i32),
}

pub(super) fn int(what: &str, n: usize) -> Result<c_int> {
    c_int::try_from(n).map_err(|_| {
        Error::Runtime(format!(
            "{what}: {n} elements are more than one MPI message holds (2^31 - 1)"
        ))
    })
}

/// Starts `call` on `comm`; answers its request, and the count arrays MPI reads until it
/// completes.
fn start(comm: Handle, what: &str, call: Call<'_>) -> Result<(Handle, Vec<Vec<c_int>>)> {
    let a = api()?;
    let _g = LOCK.lock();
    let mut req = a.request_null;
    let rq: *mut Handle = &mut req;
    let mut keep = vec![];
    // SAFETY: every pointer is a staged contiguous CPU buffer of at least the count passed
    // (the caller checked sizes and dtypes), or MPI_IN_PLACE / null where MPI allows them;
    // the staged buffers are moved into the returned request's owner, which keeps them alive
    // until MPI reports completion (or forever, if it never does).
    let rc = unsafe {
        match call {
            Call::Barrier => (a.ibarrier)(comm, rq),
            Call::AllReduce(s, r) => {
                s.count(what)?;
                let len = chunk_len(s).min(s.buf.numel());
                *rq = iallreduce(a, comm, &s.buf, r, 0, len)?;
                0
            }
            Call::Reduce(s, root, r, is_root) => {
                let (send, recv) = if is_root {
                    (1 as P, s.ptr())
                } else {
                    (s.ptr(), std::ptr::null_mut())
                };
                (a.ireduce)(
                    send,
                    recv,
                    s.count(what)?,
                    datatype(a, s.buf.dtype()),
                    op_handle(a, s.buf.dtype(), r)?,
                    root as c_int,
                    comm,
                    rq,
                )
            }
            Call::Broadcast(s, root) => (a.ibcast)(
                s.ptr(),
                s.count(what)?,
                datatype(a, s.buf.dtype()),
                root as c_int,
                comm,
                rq,
            ),
            Call::AllGather(i, o) => {
                let dt = datatype(a, i.buf.dtype());
                let n = i.count(what)?;
                o.count(what)?;
                (a.iallgather)(i.ptr(), n, dt, o.ptr(), n, dt, comm, rq)
            }
            Call::Gather(i, o, root) => {
                let dt = datatype(a, i.buf.dtype());
                let n = i.count(what)?;
                let out = match o {
                    Some(o) => {
                        o.count(what)?;
                        o.ptr()
                    }
                    None => std::ptr::null_mut(),
                };
                (a.igather)(i.ptr(), n, dt, out, n, dt, root as c_int, comm, rq)
            }
            Call::Scatter(i, o, root) => {
                let dt = datatype(a, o.buf.dtype());
                let n = o.count(what)?;
                let inp = match i {
                    Some(i) => {
                        i.count(what)?;
                        i.ptr()
                    }
                    None => std::ptr::null_mut(),
                };
                (a.iscatter)(inp, n, dt, o.ptr(), n, dt, root as c_int, comm, rq)
            }
            Call::ReduceScatter(i, o, r) => {
                i.count(what)?;
                (a.ireduce_scatter_block)(
                    i.ptr(),
                    o.ptr(),
                    o.count(what)?,
                    datatype(a, o.buf.dtype()),
                    op_handle(a, o.buf.dtype(), r)?,
                    comm,
                    rq,
                )
            }
            Call::AllToAll(i, ic, o, oc) => {
                i.count(what)?;
                o.count(what)?;
                let counts = |c: &[usize]| -> Result<(Vec<c_int>, Vec<c_int>)> {
                    let mut displs = Vec::with_capacity(c.len());
                    let mut at = 0usize;
                    for &n in c {
                        displs.push(int(what, at)?);
                        at += n;
                    }
                    Ok((
                        c.iter().map(|&n| int(what, n)).collect::<Result<_>>()?,
                        displs,
                    ))
                };
                let (sc, sd) = counts(&ic)?;
                let (rc_, rd) = counts(&oc)?;
                let dt = datatype(a, o.buf.dtype());
                let rc = (a.ialltoallv)(
                    i.ptr(),
                    sc.as_ptr(),
                    sd.as_ptr(),
                    dt,
                    o.ptr(),
                    rc_.as_ptr(),
                    rd.as_ptr(),
                    dt,
                    comm,
                    rq,
                );
                // The arrays' heap memory stays where it is while the request owns them.
                keep = vec![sc, sd, rc_, rd];
                rc
            }
            Call::Send(s, peer, tag) => (a.isend)(
                s.ptr(),
                s.count(what)?,
                datatype(a, s.buf.dtype()),
                peer as c_int,
                tag,
                comm,
                rq,
            ),
            Call::Recv(s, peer, tag) => (a.irecv)(
                s.ptr(),
                s.count(what)?,
                datatype(a, s.buf.dtype()),
                peer.map_or(-1, |p| p as c_int),
                tag,
                comm,
                rq,
            ),
        }
    };
    check(a, what, rc)?;
    Ok((req, keep))
}

/// Starts the call `make` builds over `staged` (the buffers it uses) on `comm`; the returned
/// request owns the buffers until the call completes.
pub fn launch(
    comm: &Arc<Comm>,
    what: &str,
    staged: Vec<Staged>,
    timeout: Duration,
    make: impl FnOnce(&[Staged]) -> Call<'_>,
) -> Result<Request> {
    usable(what)?;
    progress_orphans();
    flush_chunks()?;
    let call = make(&staged);
    let expect_bytes = match &call {
        Call::Recv(s, ..) => Some(s.buf.numel() * s.buf.dtype().size()),
        _ => None,
    };
    let rest = match &call {
        Call::AllReduce(s, r) if s.buf.numel() > chunk_len(s) => {
            let c = Arc::new(Mutex::new(Chunks {
                comm: comm.clone(),
                buf: s.buf.clone(),
                reduction: *r,
                at: chunk_len(s),
                len: chunk_len(s),
                reqs: vec![],
            }));
            TAILS.lock().push(Arc::downgrade(&c));
            Some(c)
        }
        _ => None,
    };
    let (req, counts) = start(comm.handle, what, call)?;
    Ok(Request {
        what: what.to_string(),
        reqs: vec![req],
        rest,
        staged,
        counts,
        timeout,
        divisor: None,
        source: None,
        expect_bytes,
        state: State::Running,
    })
}

/// The bytes of one all-reduce chunk. An all-reduce of a large tensor runs as a sequence of
/// chunks, each started when the previous one completes: each chunk's reduction stays in the
/// cache, which on a 2-core machine doubled the bandwidth of 64 MB and 256 MB all-reduces
/// (Open MPI's own algorithms stream the whole buffer through memory at every step).
const CHUNK_BYTES: usize = 2 << 20;

fn chunk_len(s: &Staged) -> usize {
    CHUNK_BYTES / s.buf.dtype().size()
}

/// Where a chunked all-reduce stands: the chunks after its first.
///
/// A chunk starts when the one before it completes (seen by a wait or an `is_completed`),
/// which happens at different times on different ranks. So that every rank still issues its
/// collectives in one order, any new operation first starts all the chunks that remain of
/// earlier all-reduces (`flush_chunks`): their chunks always come before it.
pub(super) struct Chunks {
    /// Kept alive while chunks remain to be started on it.
    comm: Arc<Comm>,
    /// The staged buffer (sharing its memory).
    pub(super) buf: Tensor,
    reduction: Reduction,
    /// The first element not started yet.
    pub(super) at: usize,
    len: usize,
    /// The chunks started after the first.
    pub(super) reqs: Vec<Handle>,
}

impl Chunks {
    /// Starts the next chunk; the caller holds LOCK.
    pub(super) fn start_next(&mut self, a: &Api) -> Result<()> {
        let len = self.len.min(self.buf.numel() - self.at);
        let r = iallreduce(a, self.comm.handle, &self.buf, self.reduction, self.at, len)?;
        self.reqs.push(r);
        self.at += len;
        Ok(())
    }
    /// Starts every remaining chunk; the caller holds LOCK.
    pub(super) fn start_all(&mut self, a: &Api) -> Result<()> {
        while self.at < self.buf.numel() {
            self.start_next(a)?;
        }
        Ok(())
    }
}

/// The chunked all-reduces that may still have chunks to start.
static TAILS: Mutex<Vec<Weak<Mutex<Chunks>>>> = Mutex::new(Vec::new());

/// Starts every remaining chunk of earlier all-reduces (see [`Chunks`]).
fn flush_chunks() -> Result<()> {
    let a = api()?;
    let mut tails = TAILS.lock();
    for t in tails.drain(..) {
        if let Some(c) = t.upgrade() {
            let mut c = c.lock();
            let _g = LOCK.lock();
            c.start_all(a)?;
        }
    }
    Ok(())
}

/// Starts the all-reduce of elements `start..start + len` of `s`, in place.
fn iallreduce(
    a: &Api,
    comm: Handle,
    buf: &Tensor,
    r: Reduction,
    start: usize,
    len: usize,
) -> Result<Handle> {
    let mut req = a.request_null;
    let dtype = buf.dtype();
    // SAFETY: `start + len` is within the staged contiguous buffer (callers clamp it), whose
    // owner (the request) keeps it alive until MPI completes; `len` fits an int (the whole
    // buffer's count was checked); MPI_IN_PLACE is Open MPI's `(void *) 1`.
    let rc = unsafe {
        (a.iallreduce)(
            1 as P,
            (buf.data_ptr() as P)
                .cast::<u8>()
                .add(start * dtype.size())
                .cast(),
            len as c_int,
            datatype(a, dtype),
            op_handle(a, dtype, r)?,
            comm,
            &mut req,
        )
    };
    check(a, "all_reduce", rc)?;
    Ok(req)
}
