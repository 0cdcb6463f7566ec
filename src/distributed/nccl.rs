//! NCCL, opened at run time: a process group's communicators for CUDA tensors and their
//! collectives. With `ffi.rs` and `mpi.rs`, the only unsafe code of the distributed layer.
//!
//! cudarc's `nccl` module looks its library up by the names `libnccl.so`, `libnccl.so.13`,
//! … but never `libnccl.so.2`, NCCL's soname and the only file of NVIDIA's
//! `nvidia-nccl-cu13` wheel (the one PyTorch's CUDA wheels install). So the entry points
//! used are opened here, from the folders the CUDA loader searches ([`loader`]: the NVIDIA
//! wheels under Python's `sys.path`, `RUSTORCH_CUDA_LIB_DIR`, the CUDA toolkit), then by
//! name through the system loader. Building needs no NCCL; opening it needs no GPU.
//!
//! A communicator is made per process group and device at the first collective on that
//! device, as PyTorch's are: rank 0 draws NCCL's unique id and the group's MPI communicator
//! broadcasts it (MPI is the rendezvous, as PyTorch's TCP store is). Every collective is
//! queued on the device's legacy default stream, which the CUDA backend's kernels use too:
//! its inputs are ready when it runs and later kernels see its results with no wait.
//! [`Pending::wait`] blocks the host until an event recorded after it completes, bounded by
//! the group's timeout, after which the communicator is aborted (PyTorch's watchdog does
//! the same).

use super::mpi::Staged;
use super::ReduceOp;
use crate::cuda::device::{gpu, Gpu};
use crate::cuda::event::Event;
use crate::cuda::loader;
use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::Tensor;
use parking_lot::Mutex;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// NCCL 2's soname.
const SONAME: &str = "libnccl.so.2";
/// The oldest NCCL served: 2.10 brought `ncclAvg` and bfloat16.
const OLDEST: c_int = 21000;

type P = *mut c_void;
/// `ncclResult_t`.
type Res = c_int;
/// `ncclInProgress`: a nonblocking call still running (an asynchronous error check's answer).
const IN_PROGRESS: Res = 7;

/// `ncclUniqueId`: what every rank needs to join one communicator.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct UniqueId(pub [u8; 128]);

/// The entry points used, by name (signatures from NCCL 2's `nccl.h`).
struct Api {
    version: c_int,
    get_unique_id: unsafe extern "C" fn(*mut UniqueId) -> Res,
    comm_init_rank: unsafe extern "C" fn(*mut P, c_int, UniqueId, c_int) -> Res,
    comm_destroy: unsafe extern "C" fn(P) -> Res,
    comm_abort: unsafe extern "C" fn(P) -> Res,
    comm_get_async_error: unsafe extern "C" fn(P, *mut Res) -> Res,
    get_error_string: unsafe extern "C" fn(Res) -> *const c_char,
    all_reduce: unsafe extern "C" fn(P, P, usize, c_int, c_int, P, P) -> Res,
    broadcast: unsafe extern "C" fn(P, P, usize, c_int, c_int, P, P) -> Res,
    #[allow(clippy::type_complexity)]
    reduce: unsafe extern "C" fn(P, P, usize, c_int, c_int, c_int, P, P) -> Res,
    all_gather: unsafe extern "C" fn(P, P, usize, c_int, P, P) -> Res,
    reduce_scatter: unsafe extern "C" fn(P, P, usize, c_int, c_int, P, P) -> Res,
    send: unsafe extern "C" fn(P, usize, c_int, c_int, P, P) -> Res,
    recv: unsafe extern "C" fn(P, usize, c_int, c_int, P, P) -> Res,
    group_start: unsafe extern "C" fn() -> Res,
    group_end: unsafe extern "C" fn() -> Res,
    _lib: libloading::Library,
}

fn load() -> std::result::Result<Api, String> {
    let path = loader::preload(SONAME);
    let name = path
        .as_ref()
        .map_or(SONAME.to_string(), |p| p.display().to_string());
    // SAFETY: opening NCCL runs its initialisers, which are safe at any time (it opens on a
    // machine with no GPU); the library is kept inside `Api` while any pointer is used.
    let lib = unsafe { libloading::Library::new(&name) }.map_err(|e| {
        format!(
            "NCCL ({SONAME}) could not be opened ({e}); install it (`pip install nvidia-nccl-cu13`) or set RUSTORCH_CUDA_LIB_DIR to its folder"
        )
    })?;
    // SAFETY: each name is an NCCL entry point of the C signature written in `Api`; the
    // library stays open inside `Api` while any pointer is used.
    macro_rules! func {
        ($sym:literal) => {
            *unsafe { lib.get(concat!($sym, "\0").as_bytes()) }
                .map_err(|e| format!("{name} lacks {}: not an NCCL 2 library? ({e})", $sym))?
        };
    }
    let get_version: unsafe extern "C" fn(*mut c_int) -> Res = func!("ncclGetVersion");
    let mut version: c_int = 0;
    // SAFETY: NCCL writes one int.
    if unsafe { get_version(&mut version) } != 0 || version < OLDEST {
        return Err(format!(
            "{name} is NCCL {}; rustorch needs NCCL 2.10 or newer",
            version_text(version)
        ));
    }
    Ok(Api {
        version,
        get_unique_id: func!("ncclGetUniqueId"),
        comm_init_rank: func!("ncclCommInitRank"),
        comm_destroy: func!("ncclCommDestroy"),
        comm_abort: func!("ncclCommAbort"),
        comm_get_async_error: func!("ncclCommGetAsyncError"),
        get_error_string: func!("ncclGetErrorString"),
        all_reduce: func!("ncclAllReduce"),
        broadcast: func!("ncclBroadcast"),
        reduce: func!("ncclReduce"),
        all_gather: func!("ncclAllGather"),
        reduce_scatter: func!("ncclReduceScatter"),
        send: func!("ncclSend"),
        recv: func!("ncclRecv"),
        group_start: func!("ncclGroupStart"),
        group_end: func!("ncclGroupEnd"),
        _lib: lib,
    })
}

fn api() -> Result<&'static Api> {
    static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))
}

/// `"2.21.5"` from NCCL's version code (`major*10000 + minor*100 + patch` since 2.9,
/// `major*1000 + minor*100 + patch` before).
fn version_text(code: c_int) -> String {
    if code < 20900 {
        return format!("{}.{}.{}", code / 1000, code % 1000 / 100, code % 100);
    }
    let (major, rest) = (code / 10000, code % 10000);
    format!("{major}.{}.{}", rest / 100, rest % 100)
}

/// Whether NCCL can be opened (`is_nccl_available`).
pub fn available() -> bool {
    api().is_ok()
}

/// NCCL's version as `(major, minor, patch)` (`torch.cuda.nccl.version()`).
pub fn version() -> Result<(u32, u32, u32)> {
    let v = api()?.version as u32;
    Ok((v / 10000, v % 10000 / 100, v % 100))
}

/// What a rank checks before it joins a communicator on `device`, so that the ranks can
/// agree that all will join (a rank that failed inside `ncclCommInitRank`'s wait would leave
/// the others blocked in it): NCCL opens, the device opens, and communicators block
/// (`NCCL_COMM_BLOCKING=0` makes NCCL's calls return before they are queued, which the
/// events here cannot follow).
pub(super) fn prepare(device: usize) -> Result<()> {
    api()?;
    gpu(device)?.bind()?;
    if std::env::var("NCCL_COMM_BLOCKING").is_ok_and(|v| v.trim() == "0") {
        return Err(Error::Runtime(
            "NCCL_COMM_BLOCKING=0 (nonblocking communicators) is not supported by rustorch's NCCL backend; unset it".into(),
        ));
    }
    Ok(())
}

/// A fresh unique id (rank 0 draws it; it needs no GPU).
pub fn unique_id() -> Result<UniqueId> {
    let a = api()?;
    let mut id = UniqueId([0; 128]);
    // SAFETY: NCCL writes the 128 bytes of `id`.
    check(a, "ncclGetUniqueId", unsafe { (a.get_unique_id)(&mut id) })?;
    Ok(id)
}

fn error_text(a: &Api, rc: Res) -> String {
    // SAFETY: NCCL returns a static, NUL-terminated string for any code.
    let s = unsafe { (a.get_error_string)(rc) };
    if s.is_null() {
        return format!("NCCL error {rc}");
    }
    // SAFETY: non-null, NUL-terminated and static (above).
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

fn check(a: &Api, what: &str, rc: Res) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::Runtime(format!(
            "{what}: NCCL error: {} (ncclResult {rc}); run with NCCL_DEBUG=INFO for NCCL's own account",
            error_text(a, rc)
        )))
    }
}

/// NCCL's type for `dtype` (`ncclDataType_t`); bool travels as bytes, as in PyTorch.
fn data_type(what: &str, dtype: DType) -> Result<c_int> {
    Ok(match dtype {
        DType::I8 => 0,
        DType::U8 | DType::Bool => 1,
        DType::I32 => 2,
        DType::I64 => 4,
        DType::F16 => 6,
        DType::F32 => 7,
        DType::F64 => 8,
        DType::BF16 => 9,
        other => {
            return Err(Error::Type(format!(
                "{what}: Input tensor data type is not supported for NCCL process group: {}",
                other.name()
            )))
        }
    })
}

/// NCCL's reduction for `op` over `dtype` (`ncclRedOp_t`), as PyTorch's `getNcclReduceOp`:
/// a bool SUM is a MAX ("any"; bools travel as bytes, whose sum could wrap), a bool AVG is a
/// `TypeError`, and NCCL has no bitwise reductions.
fn red_op(what: &str, op: ReduceOp, dtype: DType) -> Result<c_int> {
    const SUM: c_int = 0;
    const PROD: c_int = 1;
    const MAX: c_int = 2;
    const MIN: c_int = 3;
    const AVG: c_int = 4;
    match op {
        ReduceOp::Sum if dtype == DType::Bool => Ok(MAX),
        ReduceOp::Avg if dtype == DType::Bool => Err(Error::Type(format!(
            "{what}: Cannot use ReduceOp.AVG with boolean inputs"
        ))),
        ReduceOp::Sum => Ok(SUM),
        ReduceOp::Product => Ok(PROD),
        ReduceOp::Max => Ok(MAX),
        ReduceOp::Min => Ok(MIN),
        ReduceOp::Avg => Ok(AVG),
        ReduceOp::Band | ReduceOp::Bor | ReduceOp::Bxor => Err(Error::Value(format!(
            "{what}: Cannot use ReduceOp.{} with NCCL",
            op.name()
        ))),
    }
}

/// A communicator handle; NCCL calls on one communicator are serialised by its mutex.
struct Raw(P);
// SAFETY: the handle is an opaque address NCCL interprets; it is used under a mutex.
unsafe impl Send for Raw {}

/// One rank's NCCL communicator of a process group on one device.
pub(super) struct Comm {
    raw: Mutex<Raw>,
    gpu: Arc<Gpu>,
    device: usize,
    size: usize,
    /// Why the communicator was aborted (a timeout or an asynchronous NCCL error).
    broken: Mutex<Option<String>>,
}

impl Comm {
    /// Joins the communicator of `size` ranks identified by `id` as rank `rank`, on CUDA
    /// device `device` (every rank calls this with the same id, after [`prepare`]).
    pub(super) fn join(device: usize, size: usize, rank: usize, id: UniqueId) -> Result<Comm> {
        let a = api()?;
        let gpu = gpu(device)?;
        gpu.bind()?;
        let mut raw: P = std::ptr::null_mut();
        // SAFETY: NCCL writes the new handle into `raw`; `id` is passed by value as the C
        // signature takes it, and the device's context is current on this thread.
        check(a, "ncclCommInitRank", unsafe {
            (a.comm_init_rank)(&mut raw, size as c_int, id, rank as c_int)
        })?;
        Ok(Comm {
            raw: Mutex::new(Raw(raw)),
            gpu,
            device,
            size,
            broken: Mutex::new(None),
        })
    }

    pub(super) fn device(&self) -> usize {
        self.device
    }

    /// Queues the NCCL calls `calls` makes (inside one NCCL group when `grouped`) on the
    /// default stream.
    fn enqueue(&self, what: &str, grouped: bool, calls: impl FnOnce(&Api, P) -> Res) -> Result<()> {
        let a = api()?;
        if let Some(why) = self.broken.lock().as_ref() {
            return Err(Error::Runtime(format!(
                "{what}: the NCCL communicator was aborted after an earlier failure ({why}); the process group is no longer usable"
            )));
        }
        self.gpu.bind()?;
        let raw = self.raw.lock();
        if !grouped {
            return check(a, what, calls(a, raw.0));
        }
        // SAFETY: opens an NCCL group on this thread, closed just below.
        check(a, what, unsafe { (a.group_start)() })?;
        let rc = calls(a, raw.0);
        // SAFETY: closes the group opened above, which launches its calls.
        let end = unsafe { (a.group_end)() };
        check(a, what, rc)?;
        check(a, what, end)
    }

    /// Aborts the communicator after `why`: its pending operations end and later ones are
    /// refused.
    fn abort(&self, why: String) {
        let mut broken = self.broken.lock();
        if broken.is_some() {
            return;
        }
        if let Ok(a) = api() {
            let raw = self.raw.lock();
            // SAFETY: a live communicator, aborted once (`broken` is set below, and `Drop`
            // destroys only a communicator that was not aborted).
            unsafe { (a.comm_abort)(raw.0) };
        }
        *broken = Some(why);
    }

    /// An error NCCL met in a queued operation (a peer that failed, a network error), which
    /// aborts the communicator.
    fn check_async(&self, what: &str) -> Result<()> {
        if let Some(why) = self.broken.lock().as_ref() {
            return Err(Error::Runtime(format!("{what}: {why}")));
        }
        let a = api()?;
        let mut state: Res = 0;
        let rc = {
            let raw = self.raw.lock();
            // SAFETY: a live communicator; NCCL writes one result code.
            unsafe { (a.comm_get_async_error)(raw.0, &mut state) }
        };
        check(a, "ncclCommGetAsyncError", rc)?;
        if state != 0 && state != IN_PROGRESS {
            let why = format!(
                "NCCL reported an asynchronous error: {} (ncclResult {state})",
                error_text(a, state)
            );
            self.abort(why.clone());
            return Err(Error::Runtime(format!("{what}: {why}")));
        }
        Ok(())
    }
}

impl Drop for Comm {
    fn drop(&mut self) {
        if self.broken.get_mut().is_some() {
            return;
        }
        if let Ok(a) = api() {
            if self.gpu.bind().is_ok() {
                // SAFETY: a live communicator that was not aborted, destroyed once.
                unsafe { (a.comm_destroy)(self.raw.get_mut().0) };
            }
        }
    }
}

/// A collective queued on the device: an event after it, and the staged tensors.
pub struct Pending {
    what: String,
    comm: Arc<Comm>,
    event: Event,
    timeout: Duration,
    _keep: Vec<Staged>,
}

impl Pending {
    /// Blocks until the collective completed on the device, at most `limit` (the group's
    /// timeout when `None`); past it the communicator is aborted, as PyTorch's watchdog
    /// aborts it, and the group is no longer usable.
    pub fn wait(&mut self, limit: Option<Duration>) -> Result<()> {
        let limit = limit.unwrap_or(self.timeout);
        let start = Instant::now();
        let mut pause = Duration::from_micros(2);
        loop {
            if self.event.query()? {
                return self.comm.check_async(&self.what);
            }
            self.comm.check_async(&self.what)?;
            if start.elapsed() > limit {
                let why = format!(
                    "{} timed out after {:.0} s: another rank did not take part (it may have failed or be stuck); the NCCL communicator was aborted and the process group is no longer usable",
                    self.what,
                    limit.as_secs_f64()
                );
                self.comm.abort(why.clone());
                return Err(Error::Runtime(why));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }
    /// Whether the collective completed, without blocking.
    pub fn test(&mut self) -> Result<bool> {
        let done = self.event.query()?;
        self.comm.check_async(&self.what)?;
        Ok(done)
    }
}

/// The CUDA device of a collective's tensors: all must be on one GPU.
pub(super) fn device_of(what: &str, tensors: &[&Tensor]) -> Result<usize> {
    let mut dev = None;
    for t in tensors {
        match (t.device(), dev) {
            (Device::Cuda(d), None) => dev = Some(d),
            (Device::Cuda(d), Some(e)) if d == e => {}
            (d, _) => {
                return Err(Error::Runtime(format!(
                    "{what}: Tensors must be CUDA and on one device for the NCCL backend, got a tensor on {d}"
                )))
            }
        }
    }
    dev.ok_or_else(|| Error::Runtime(format!("{what}: no tensor given")))
}

/// A collective's operands, described for NCCL.
pub(super) enum Call<'a> {
    AllReduce(&'a Staged, ReduceOp),
    Reduce(&'a Staged, usize, ReduceOp),
    Broadcast(&'a Staged, usize),
    /// Input, output.
    AllGather(&'a Staged, &'a Staged),
    /// Input, output, reduction.
    ReduceScatter(&'a Staged, &'a Staged, ReduceOp),
    /// Input, output (on the root), root, this rank.
    Gather(&'a Staged, Option<&'a Staged>, usize, usize),
    /// Input (on the root), output, root, this rank.
    Scatter(Option<&'a Staged>, &'a Staged, usize, usize),
    /// Input and its counts per rank, output and its counts per rank.
    AllToAll(&'a Staged, Vec<usize>, &'a Staged, Vec<usize>),
    Send(&'a Staged, usize),
    Recv(&'a Staged, usize),
}

/// The address of element `at` of a staged (contiguous) tensor.
fn at(s: &Staged, at: usize) -> P {
    (s.ptr() as usize + at * s.dtype().size()) as P
}

/// Queues `make`'s collective over `staged` on `comm`.
pub(super) fn launch(
    comm: &Arc<Comm>,
    what: &str,
    timeout: Duration,
    staged: Vec<Staged>,
    make: impl FnOnce(&[Staged]) -> Call<'_>,
) -> Result<Pending> {
    let stream: P = std::ptr::null_mut();
    let dtype = staged[0].dtype();
    let dt = data_type(what, dtype)?;
    let n = comm.size;
    // Check the reduction before anything is queued.
    let call = make(&staged);
    let op = match &call {
        Call::AllReduce(_, op) | Call::Reduce(_, _, op) | Call::ReduceScatter(_, _, op) => {
            red_op(what, *op, dtype)?
        }
        _ => 0,
    };
    let grouped = matches!(
        call,
        Call::Gather(..) | Call::Scatter(..) | Call::AllToAll(..)
    );
    // SAFETY (every call below): the pointers are the device addresses of live, contiguous
    // CUDA buffers holding the counts of elements given (checked by the callers), kept
    // alive by `staged` until the event after them completes; the communicator is live and
    // its device's context current (`enqueue`).
    let calls = |a: &Api, c: P| -> Res {
        unsafe {
            match call {
                Call::AllReduce(s, _) => {
                    (a.all_reduce)(s.ptr(), s.ptr(), s.len(), dt, op, c, stream)
                }
                Call::Reduce(s, root, _) => {
                    (a.reduce)(s.ptr(), s.ptr(), s.len(), dt, op, root as c_int, c, stream)
                }
                Call::Broadcast(s, root) => {
                    (a.broadcast)(s.ptr(), s.ptr(), s.len(), dt, root as c_int, c, stream)
                }
                Call::AllGather(i, o) => (a.all_gather)(i.ptr(), o.ptr(), i.len(), dt, c, stream),
                Call::ReduceScatter(i, o, _) => {
                    (a.reduce_scatter)(i.ptr(), o.ptr(), o.len(), dt, op, c, stream)
                }
                Call::Gather(i, o, root, me) => {
                    let k = i.len();
                    let mut rc = (a.send)(i.ptr(), k, dt, root as c_int, c, stream);
                    if let (Some(o), true) = (o, me == root) {
                        for r in 0..n {
                            if rc == 0 {
                                rc = (a.recv)(at(o, r * k), k, dt, r as c_int, c, stream);
                            }
                        }
                    }
                    rc
                }
                Call::Scatter(i, o, root, me) => {
                    let k = o.len();
                    let mut rc = 0;
                    if let (Some(i), true) = (i, me == root) {
                        for r in 0..n {
                            if rc == 0 {
                                rc = (a.send)(at(i, r * k), k, dt, r as c_int, c, stream);
                            }
                        }
                    }
                    if rc == 0 {
                        rc = (a.recv)(o.ptr(), k, dt, root as c_int, c, stream);
                    }
                    rc
                }
                Call::AllToAll(i, ic, o, oc) => {
                    let (mut ia, mut oa, mut rc) = (0, 0, 0);
                    for r in 0..n {
                        if rc == 0 && ic[r] > 0 {
                            rc = (a.send)(at(i, ia), ic[r], dt, r as c_int, c, stream);
                        }
                        if rc == 0 && oc[r] > 0 {
                            rc = (a.recv)(at(o, oa), oc[r], dt, r as c_int, c, stream);
                        }
                        ia += ic[r];
                        oa += oc[r];
                    }
                    rc
                }
                Call::Send(s, peer) => (a.send)(s.ptr(), s.len(), dt, peer as c_int, c, stream),
                Call::Recv(s, peer) => (a.recv)(s.ptr(), s.len(), dt, peer as c_int, c, stream),
            }
        }
    };
    comm.enqueue(what, grouped, calls)?;
    // Copies back into non-contiguous outputs, queued after the collective.
    for s in &staged {
        s.finish()?;
    }
    let mut event = Event::new(comm.device, false)?;
    event.record()?;
    Ok(Pending {
        what: what.to_string(),
        comm: comm.clone(),
        event,
        timeout,
        _keep: staged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_reductions_as_pytorchs_nccl_backend() {
        assert_eq!(data_type("x", DType::Bool), Ok(1));
        assert_eq!(data_type("x", DType::BF16), Ok(9));
        let e = data_type("all_reduce", DType::I16).unwrap_err();
        assert!(
            matches!(e, Error::Type(_)) && e.to_string().contains("int16"),
            "{e}"
        );
        assert_eq!(red_op("x", ReduceOp::Sum, DType::Bool), Ok(2));
        assert_eq!(red_op("x", ReduceOp::Product, DType::Bool), Ok(1));
        assert_eq!(red_op("x", ReduceOp::Avg, DType::I32), Ok(4));
        let e = red_op("x", ReduceOp::Avg, DType::Bool).unwrap_err();
        assert!(matches!(e, Error::Type(_)), "{e}");
        for op in [ReduceOp::Band, ReduceOp::Bor, ReduceOp::Bxor] {
            for d in [DType::Bool, DType::I64, DType::F32] {
                let e = red_op("x", op, d).unwrap_err();
                assert!(matches!(e, Error::Value(_)) && e.to_string().contains("with NCCL"));
            }
        }
        assert_eq!(version_text(23203), "2.32.3");
        assert_eq!(version_text(2804), "2.8.4");
    }
}
