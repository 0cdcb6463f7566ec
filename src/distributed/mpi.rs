//! Open MPI's communicators, the world (from a launcher, or joined by rendezvous), and the
//! staged buffers and requests of nonblocking operations. With `ffi.rs`, the only unsafe
//! code of the distributed layer.

mod calls;
mod requests;

pub use calls::{launch, Call, Reduction};
pub use requests::{Request, Staged};

use super::ffi::{api, check, Api, Handle};
use crate::error::{Error, Result};
use parking_lot::Mutex;
use requests::ORPHANS;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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
