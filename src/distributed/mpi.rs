//! Open MPI's communicators, the world (from a launcher, or joined by rendezvous), and the
//! staged buffers and requests of nonblocking operations. With `ffi.rs`, the only unsafe
//! code of the distributed layer.

use super::ffi::{api, check, error_text, Api, Handle, Status, UserFn, P};
use crate::backend::BinaryOp;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::{Operand, Scalar, Tensor};
use parking_lot::Mutex;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Every MPI call is made under this lock (the library is initialised as
/// `MPI_THREAD_SERIALIZED`); waits release it between tests so other threads progress.
static LOCK: Mutex<()> = Mutex::new(());

/// Set once MPI_Finalize ran: later MPI calls (a group or request dropped at exit) are
/// skipped, as Open MPI aborts the job on any call after it.
static FINALIZED: AtomicBool = AtomicBool::new(false);

/// Set when a wait timed out: a collective may still be in flight on this rank, so any new
/// one could be matched with it on the other ranks. Further operations are refused.
static BROKEN: AtomicBool = AtomicBool::new(false);

fn usable(what: &str) -> Result<()> {
    if FINALIZED.load(Ordering::Acquire) {
        return Err(Error::Runtime(format!(
            "{what}: MPI was finalized in this process"
        )));
    }
    if BROKEN.load(Ordering::Acquire) {
        return Err(Error::Runtime(format!(
            "{what}: an earlier operation on this rank timed out, so the process group is no longer usable"
        )));
    }
    Ok(())
}

/// A communicator. The world is Open MPI's; one made by [`create_comm`] is freed when its
/// last holder (its group, or an operation in flight on it) lets go.
pub struct Comm {
    handle: Handle,
    owned: bool,
}

impl Drop for Comm {
    fn drop(&mut self) {
        if !self.owned || FINALIZED.load(Ordering::Acquire) {
            return;
        }
        if let Ok(a) = api() {
            let _g = LOCK.lock();
            // SAFETY: the handle came from MPI_Comm_create and is freed once, here.
            unsafe { (a.comm_free)(&mut self.handle) };
        }
    }
}

/// Starts MPI in this process once (serialised threads), or checks the thread level of a
/// library someone else started. The caller holds `LOCK`.
fn start_mpi(a: &Api) -> Result<()> {
    let (mut inited, mut finished): (c_int, c_int) = (0, 0);
    // SAFETY: both write one int.
    unsafe {
        (a.initialized)(&mut inited);
        (a.finalized)(&mut finished);
    }
    if finished != 0 {
        return Err(Error::Runtime(
            "init_process_group: MPI was finalized in this process and cannot start again".into(),
        ));
    }
    let mut provided: c_int = 0;
    if inited == 0 {
        // MPI_THREAD_SERIALIZED = 2 in Open MPI's enum (SINGLE, FUNNELED, SERIALIZED, MULTIPLE).
        // SAFETY: null argc/argv are allowed by MPI-2 and later; `provided` is one int.
        let rc = unsafe {
            (a.init_thread)(std::ptr::null_mut(), std::ptr::null_mut(), 2, &mut provided)
        };
        check(a, "MPI_Init_thread", rc)?;
    } else {
        // SAFETY: writes one int.
        check(a, "MPI_Query_thread", unsafe {
            (a.query_thread)(&mut provided)
        })?;
    }
    if provided < 2 {
        return Err(Error::Runtime(format!(
            "init_process_group: this MPI provides thread level {provided}, rustorch needs MPI_THREAD_SERIALIZED (2)"
        )));
    }
    Ok(())
}

/// The world joined by rendezvous ([`join_world`]), kept for the life of the process so that
/// a later `init_process_group` finds it again.
static JOINED: OnceLock<(Arc<Comm>, usize, usize)> = OnceLock::new();

/// The world's communicator, this process's rank and the world's size: the world joined by
/// rendezvous if there is one, else the launcher's (`MPI_COMM_WORLD`), initialising MPI if
/// needed. Errors return to the caller instead of aborting.
pub fn init_world() -> Result<(Arc<Comm>, usize, usize)> {
    if let Some(w) = JOINED.get() {
        return Ok(w.clone());
    }
    let a = api()?;
    let _g = LOCK.lock();
    start_mpi(a)?;
    // SAFETY: both handles are Open MPI's predefined globals.
    check(a, "MPI_Comm_set_errhandler", unsafe {
        (a.comm_set_errhandler)(a.world, a.errors_return)
    })?;
    let (rank, size) = rank_size(a, a.world)?;
    let world = Comm {
        handle: a.world,
        owned: false,
    };
    Ok((Arc::new(world), rank, size))
}

/// The world joined by rendezvous, if this process joined one.
pub fn joined_world() -> Option<(Arc<Comm>, usize, usize)> {
    JOINED.get().cloned()
}

/// How a process learns the MPI port that the world grows through during [`join_world`].
pub enum PortExchange<'a> {
    /// Rank 0 opens the port and hands its name to rank `k` when `k`'s turn comes.
    Root(&'a mut dyn FnMut(usize, &str) -> Result<()>),
    /// Every other rank receives the name when its turn comes.
    Member(&'a mut dyn FnMut() -> Result<String>),
}

/// Makes one world of `size` processes that were started separately (no MPI launcher), each
/// a singleton MPI job: rank 0 opens a port; rank by rank, the group built so far accepts the
/// next process's connection and merges with it, so that each process ends with rank `rank`.
/// Open MPI needs an `ompi-server` named in `OMPI_MCA_pmix_server_uri` before this runs.
pub fn join_world(
    rank: usize,
    size: usize,
    mut exchange: PortExchange<'_>,
) -> Result<(Arc<Comm>, usize, usize)> {
    if let Some(w) = JOINED.get() {
        return Ok(w.clone());
    }
    let a = api()?;
    let _g = LOCK.lock();
    start_mpi(a)?;
    // Errors on these communicators return (and raise) instead of ending the process.
    for c in [a.comm_self, a.world] {
        // SAFETY: both are Open MPI's predefined communicators, live once MPI started.
        check(a, "MPI_Comm_set_errhandler", unsafe {
            (a.comm_set_errhandler)(c, a.errors_return)
        })?;
    }
    let mut comm = a.comm_self;
    let mut port = [0 as std::ffi::c_char; 1025];
    // MPI_MAX_PORT_NAME is 1024 in Open MPI; the extra byte keeps a terminating zero.
    let grow = |comm: &mut Handle, inter: Handle, high: c_int| -> Result<()> {
        let (mut inter, mut merged) = (inter, Handle::NULL);
        // SAFETY: `inter` was just made by accept/connect and is freed here; `comm` is
        // COMM_SELF or a communicator this loop made, freed once it is replaced.
        unsafe {
            let rc = (a.intercomm_merge)(inter, high, &mut merged);
            (a.comm_free)(&mut inter);
            check(a, "MPI_Intercomm_merge", rc)?;
            if *comm != a.comm_self {
                (a.comm_free)(comm);
            }
        }
        *comm = merged;
        Ok(())
    };
    match &mut exchange {
        PortExchange::Root(_) => {
            // SAFETY: Open MPI writes at most MPI_MAX_PORT_NAME bytes with their zero.
            check(a, "MPI_Open_port", unsafe {
                (a.open_port)(a.info_null, port.as_mut_ptr())
            })?;
        }
        PortExchange::Member(recv) => {
            let name = std::ffi::CString::new(recv()?)
                .map_err(|_| Error::Runtime("rendezvous: a malformed MPI port name".into()))?;
            let mut inter = Handle::NULL;
            // SAFETY: `name` is a zero-terminated port name from rank 0; writes one handle.
            check(a, "MPI_Comm_connect", unsafe {
                (a.comm_connect)(name.as_ptr(), a.info_null, 0, a.comm_self, &mut inter)
            })?;
            grow(&mut comm, inter, 1)?;
        }
    }
    let mut result = Ok(());
    for k in rank.max(1)..size {
        if rank != 0 && k == rank {
            continue;
        }
        if let PortExchange::Root(send) = &mut exchange {
            // SAFETY: `port` holds the zero-terminated name MPI_Open_port wrote.
            let name = unsafe { std::ffi::CStr::from_ptr(port.as_ptr()) };
            if let Err(e) = send(k, &name.to_string_lossy()) {
                result = Err(e);
                break;
            }
        }
        let mut inter = Handle::NULL;
        // SAFETY: the port name is read at the root only (zero-terminated there, an empty
        // string elsewhere); `comm` is live; writes one handle.
        let rc = unsafe { (a.comm_accept)(port.as_ptr(), a.info_null, 0, comm, &mut inter) };
        if let Err(e) = check(a, "MPI_Comm_accept", rc).and_then(|_| grow(&mut comm, inter, 0)) {
            result = Err(e);
            break;
        }
    }
    if matches!(exchange, PortExchange::Root(_)) {
        // SAFETY: the port this process opened, closed once.
        unsafe { (a.close_port)(port.as_ptr()) };
    }
    result?;
    // SAFETY: `comm` is the merged communicator.
    check(a, "MPI_Comm_set_errhandler", unsafe {
        (a.comm_set_errhandler)(comm, a.errors_return)
    })?;
    let (got_rank, got_size) = rank_size(a, comm)?;
    if (got_rank, got_size) != (rank, size) {
        return Err(Error::Runtime(format!(
            "rendezvous: joined as rank {got_rank} of {got_size}, expected rank {rank} of {size}"
        )));
    }
    let world = (
        Arc::new(Comm {
            handle: comm,
            owned: false,
        }),
        rank,
        size,
    );
    Ok(JOINED.get_or_init(|| world).clone())
}

fn rank_size(a: &Api, comm: Handle) -> Result<(usize, usize)> {
    let (mut rank, mut size): (c_int, c_int) = (0, 0);
    // SAFETY: `comm` is a live communicator; each call writes one int.
    unsafe {
        check(a, "MPI_Comm_rank", (a.comm_rank)(comm, &mut rank))?;
        check(a, "MPI_Comm_size", (a.comm_size)(comm, &mut size))?;
    }
    Ok((rank as usize, size as usize))
}

/// A communicator over `parent`'s ranks `ranks` (collective over `parent`'s members, and
/// not bounded by a timeout: MPI has no nonblocking form of it). Ranks outside get `None`.
pub fn create_comm(parent: &Comm, ranks: &[usize]) -> Result<Option<(Arc<Comm>, usize)>> {
    usable("new_group")?;
    let a = api()?;
    let _g = LOCK.lock();
    let ranks: Vec<c_int> = ranks.iter().map(|&r| r as c_int).collect();
    let (mut group, mut sub, mut comm) = (Handle::NULL, Handle::NULL, Handle::NULL);
    // SAFETY: `parent` is live; `ranks` holds `ranks.len()` ints that are ranks of `parent`
    // (checked by the caller); each call writes one handle, and both groups are freed.
    unsafe {
        check(
            a,
            "MPI_Comm_group",
            (a.comm_group)(parent.handle, &mut group),
        )?;
        let rc = (a.group_incl)(group, ranks.len() as c_int, ranks.as_ptr(), &mut sub);
        (a.group_free)(&mut group);
        check(a, "MPI_Group_incl", rc)?;
        let rc = (a.comm_create)(parent.handle, sub, &mut comm);
        (a.group_free)(&mut sub);
        check(a, "MPI_Comm_create", rc)?;
    }
    if comm == a.null_comm {
        return Ok(None);
    }
    let comm = Comm {
        handle: comm,
        owned: true,
    };
    // SAFETY: the communicator was just created.
    check(a, "MPI_Comm_set_errhandler", unsafe {
        (a.comm_set_errhandler)(comm.handle, a.errors_return)
    })?;
    let (rank, _) = rank_size(a, comm.handle)?;
    Ok(Some((Arc::new(comm), rank)))
}

/// Ends MPI in this process (at interpreter exit): first the operations whose handles were
/// dropped unwaited, then MPI itself; a no-op if it never started.
pub fn finalize() {
    let Ok(a) = api() else { return };
    let orphans = std::mem::take(&mut *ORPHANS.lock());
    for mut r in orphans {
        let _ = r.wait(None);
    }
    let _g = LOCK.lock();
    let (mut inited, mut finished): (c_int, c_int) = (0, 0);
    // SAFETY: each call writes one int; MPI_Finalize runs at most once.
    unsafe {
        (a.initialized)(&mut inited);
        (a.finalized)(&mut finished);
        if inited != 0 && finished == 0 {
            FINALIZED.store(true, Ordering::Release);
            (a.finalize)();
        }
    }
}

/// Ends every rank of the job with `code` (an uncaught error on one rank); returns if MPI
/// never started.
pub fn abort(code: i32) {
    let Ok(a) = api() else { return };
    // Serialised with other threads' calls, unless one is stuck inside MPI: the job ends
    // either way.
    let _g = LOCK.try_lock_for(Duration::from_secs(2));
    let mut inited: c_int = 0;
    let world = JOINED.get().map_or(a.world, |w| w.0.handle);
    // SAFETY: writes one int; MPI_Abort on the world is always allowed once initialised.
    unsafe {
        (a.initialized)(&mut inited);
        if inited != 0 {
            (a.abort)(world, code);
        }
    }
}

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

/// A contiguous CPU tensor whose memory an operation reads or writes: the tensor itself,
/// or a contiguous copy that is written back when the operation completes.
pub struct Staged {
    target: Tensor,
    buf: Tensor,
    write: bool,
}

impl Staged {
    /// Stages `t` (on the CPU) for reading, and for writing if `write`; an output whose
    /// elements share memory (an expanded tensor) is refused, as PyTorch refuses it.
    pub fn new(t: &Tensor, write: bool) -> Result<Staged> {
        if write {
            t.check_no_internal_overlap()?;
        }
        let buf = if t.is_contiguous() {
            t.detach()
        } else {
            t.contiguous()?.detach()
        };
        Ok(Staged {
            target: t.clone(),
            buf,
            write,
        })
    }
    /// Stages a copy of `t` for reading: an input that shares memory with an output.
    pub fn copy_of(t: &Tensor) -> Result<Staged> {
        let buf = t.detach().clone_tensor()?;
        Ok(Staged {
            target: buf.clone(),
            buf,
            write: false,
        })
    }
    /// The address of the first element (a device address for a CUDA tensor): the staged
    /// buffer is contiguous, so its `len` elements start there.
    pub(super) fn ptr(&self) -> P {
        self.buf.data_ptr() as P
    }
    /// The number of elements.
    pub(super) fn len(&self) -> usize {
        self.buf.numel()
    }
    pub(super) fn dtype(&self) -> DType {
        self.buf.dtype()
    }
    fn count(&self, what: &str) -> Result<c_int> {
        int(what, self.buf.numel())
    }
    /// Writes the result back into the target, if it was copied.
    pub(super) fn finish(&self) -> Result<()> {
        if !self.write {
            return Ok(());
        }
        let t = &self.target;
        if !self.buf.shares_storage(t) {
            t.storage()
                .copy_from(t.layout(), (self.buf.storage(), self.buf.layout()))?;
        }
        t.storage().bump_version();
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Complete, its results written.
    Done,
    /// A wait timed out: MPI may still use the buffers, which are kept forever.
    Failed,
}

/// An operation in flight: its MPI requests and the buffers they use, kept alive until it
/// completes. Dropping one before it completes hands it to the orphans, which later calls
/// progress and finish (and `finalize` waits for): a dropped send must not block.
pub struct Request {
    what: String,
    reqs: Vec<Handle>,
    /// The rest of an all-reduce that runs as a sequence of chunks.
    rest: Option<Arc<Mutex<Chunks>>>,
    staged: Vec<Staged>,
    /// Count and displacement arrays MPI may read until completion.
    counts: Vec<Vec<c_int>>,
    timeout: Duration,
    /// Divides the written buffers on completion (an average is a sum over this many ranks).
    divisor: Option<f64>,
    source: Option<usize>,
    /// A receive's size: a shorter message is an error (MPI would fill part of the tensor).
    expect_bytes: Option<usize>,
    state: State,
}

/// Operations dropped before they completed.
static ORPHANS: Mutex<Vec<Request>> = Mutex::new(Vec::new());

/// Tests the orphans once, finishing and dropping those that completed.
fn progress_orphans() {
    let mut done = vec![];
    {
        let mut orphans = ORPHANS.lock();
        let mut i = 0;
        while i < orphans.len() {
            match orphans[i].poll() {
                Ok(false) => i += 1,
                Ok(true) => done.push(orphans.swap_remove(i)),
                Err(_) => {
                    orphans[i].state = State::Failed;
                    done.push(orphans.swap_remove(i));
                }
            }
        }
    }
    drop(done); // outside the lock: dropping a failed one leaks its buffers, no MPI call
}

impl Request {
    /// Tests the requests; when all completed and chunks remain, starts the next one. When
    /// everything completed, writes the results (average, copies back) and answers true.
    fn poll(&mut self) -> Result<bool> {
        match self.state {
            State::Done => return Ok(true),
            State::Failed => return Err(Error::Runtime(format!("{} failed earlier", self.what))),
            State::Running => {}
        }
        usable(&self.what).or_else(|e| {
            if FINALIZED.load(Ordering::Acquire) {
                Err(e)
            } else {
                Ok(()) // a broken group may still finish what is in flight
            }
        })?;
        let a = api()?;
        {
            let mut chunks = self.rest.as_ref().map(|c| c.lock());
            let _g = LOCK.lock();
            match test_all(a, &self.what, &mut self.reqs)? {
                None => return Ok(false),
                Some(Some((source, bytes))) => {
                    self.source = Some(source);
                    if let Some(want) = self.expect_bytes.filter(|&w| w != bytes) {
                        self.state = State::Done;
                        return Err(Error::Runtime(format!(
                            "{}: received {bytes} bytes from rank {source}, but the tensor holds {want}: the sent tensor has another size or dtype",
                            self.what
                        )));
                    }
                }
                Some(None) => {}
            }
            if let Some(c) = chunks.as_deref_mut() {
                if test_all(a, &self.what, &mut c.reqs)?.is_none() {
                    return Ok(false);
                }
                if c.at < c.buf.numel() {
                    c.start_next(a)?;
                    return Ok(false);
                }
            }
        }
        for s in self.staged.drain(..) {
            if let (Some(d), true) = (self.divisor, s.write) {
                s.buf
                    .binary_(BinaryOp::Div, &Operand::Scalar(Scalar::Float(d)))?;
            }
            s.finish()?;
        }
        self.state = State::Done;
        Ok(true)
    }

    /// Whether the operation completed and its results are in the tensors
    /// (`Work.is_completed()`); never starts anything, so it cannot reorder collectives.
    pub fn test(&mut self) -> Result<bool> {
        self.poll()
    }

    /// Waits for completion (at most `timeout`, or the group's), with the results written.
    /// A timeout leaves the process group unusable, as in PyTorch.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        let limit = timeout.unwrap_or(self.timeout);
        let start = Instant::now();
        let mut spins = 0u32;
        while !self.poll()? {
            if start.elapsed() > limit {
                self.state = State::Failed;
                BROKEN.store(true, Ordering::Release);
                return Err(Error::Runtime(format!(
                    "{} timed out after {:.0} s: another rank did not take part (it may have failed or be stuck); the process group is no longer usable",
                    self.what,
                    limit.as_secs_f64()
                )));
            }
            spins += 1;
            if spins > 1000 {
                std::thread::sleep(Duration::from_micros(50));
            } else {
                std::thread::yield_now();
            }
        }
        Ok(())
    }

    /// Divides what the operation writes by `d` when it completes.
    pub fn divide_by(mut self, d: f64) -> Request {
        self.divisor = Some(d);
        self
    }

    /// The sender of a completed receive.
    pub fn source(&self) -> Option<usize> {
        self.source
    }

    /// Starts every remaining chunk now.
    fn start_all_chunks(&mut self) -> Result<()> {
        let Some(c) = &self.rest else {
            return Ok(());
        };
        let a = api()?;
        let mut c = c.lock();
        let _g = LOCK.lock();
        c.start_all(a)
    }
}

/// Tests `reqs`: `None` while one is still running, else the source and byte count of the
/// last completed receive among them (if any).
fn test_all(a: &Api, what: &str, reqs: &mut [Handle]) -> Result<Option<Option<(usize, usize)>>> {
    let mut source = None;
    for r in reqs.iter_mut() {
        if *r == a.request_null {
            continue;
        }
        let mut flag: c_int = 0;
        let mut st = Status::default();
        // SAFETY: `r` is a live request (MPI_Test resets a completed one to MPI_REQUEST_NULL);
        // `flag` and `st` are writable; the caller holds LOCK.
        let rc = unsafe { (a.test)(r, &mut flag, &mut st) };
        check(a, what, rc)?;
        if flag == 0 {
            return Ok(None);
        }
        if st.source >= 0 {
            source = Some((st.source as usize, st.ucount));
        }
    }
    Ok(Some(source))
}

impl Drop for Request {
    fn drop(&mut self) {
        let orphan = self.state == State::Running
            && !FINALIZED.load(Ordering::Acquire)
            && self.start_all_chunks().is_ok();
        match self.state {
            State::Done => {}
            State::Running if orphan => {
                let orphan = Request {
                    what: std::mem::take(&mut self.what),
                    reqs: std::mem::take(&mut self.reqs),
                    rest: self.rest.take(),
                    staged: std::mem::take(&mut self.staged),
                    counts: std::mem::take(&mut self.counts),
                    timeout: self.timeout,
                    divisor: self.divisor,
                    source: None,
                    expect_bytes: self.expect_bytes,
                    state: State::Running,
                };
                self.state = State::Done;
                ORPHANS.lock().push(orphan);
            }
            _ => {
                // MPI may still use the buffers and arrays: keep them for the process's life.
                std::mem::forget(std::mem::take(&mut self.staged));
                std::mem::forget(std::mem::take(&mut self.counts));
                std::mem::forget(self.rest.take());
            }
        }
    }
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

fn int(what: &str, n: usize) -> Result<c_int> {
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
struct Chunks {
    /// Kept alive while chunks remain to be started on it.
    comm: Arc<Comm>,
    /// The staged buffer (sharing its memory).
    buf: Tensor,
    reduction: Reduction,
    /// The first element not started yet.
    at: usize,
    len: usize,
    /// The chunks started after the first.
    reqs: Vec<Handle>,
}

impl Chunks {
    /// Starts the next chunk; the caller holds LOCK.
    fn start_next(&mut self, a: &Api) -> Result<()> {
        let len = self.len.min(self.buf.numel() - self.at);
        let r = iallreduce(a, self.comm.handle, &self.buf, self.reduction, self.at, len)?;
        self.reqs.push(r);
        self.at += len;
        Ok(())
    }
    /// Starts every remaining chunk; the caller holds LOCK.
    fn start_all(&mut self, a: &Api) -> Result<()> {
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
