//! Open MPI's C interface, opened at run time: the function table, the predefined handles and
//! the error text. With `mpi.rs`, the only unsafe code of the distributed layer.
//!
//! Open MPI's handles (`MPI_Comm`, `MPI_Datatype`, `MPI_Op`, …) are pointers, and its
//! predefined ones (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`, …) are the addresses of
//! exported globals (`ompi_mpi_comm_world`, …): `mpi.h` defines them so, and they are stable
//! across Open MPI 4 and 5 (`libmpi.so.40`). The library is opened with `RTLD_GLOBAL`,
//! because Open MPI's own plugins resolve their symbols against it. Building needs no MPI;
//! a machine without one gets a clear error when a process group is made.

use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

/// An Open MPI handle (communicator, datatype, op, request, group, error handler).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(*mut c_void);

// SAFETY: a handle is an opaque address that MPI interprets; every MPI call made with one is
// serialised by `LOCK`, so moving or sharing the address between threads is harmless.
unsafe impl Send for Handle {}
// SAFETY: as `Send`.
unsafe impl Sync for Handle {}

impl Handle {
    pub(super) const NULL: Handle = Handle(std::ptr::null_mut());
}

/// `MPI_Status` as Open MPI lays it out (source, tag, error, cancelled, byte count), with
/// room to spare.
#[repr(C)]
#[derive(Default)]
pub(super) struct Status {
    pub(super) source: c_int,
    pub(super) tag: c_int,
    pub(super) error: c_int,
    pub(super) cancelled: c_int,
    pub(super) ucount: usize,
    pub(super) _spare: [u64; 4],
}

pub(super) type P = *mut c_void;
pub(super) type UserFn = unsafe extern "C" fn(P, P, *mut c_int, *mut Handle);

/// The entry points used, by name.
pub(super) struct Api {
    pub(super) initialized: unsafe extern "C" fn(*mut c_int) -> c_int,
    pub(super) finalized: unsafe extern "C" fn(*mut c_int) -> c_int,
    pub(super) init_thread: unsafe extern "C" fn(*mut c_int, *mut P, c_int, *mut c_int) -> c_int,
    pub(super) finalize: unsafe extern "C" fn() -> c_int,
    pub(super) abort: unsafe extern "C" fn(Handle, c_int) -> c_int,
    pub(super) comm_rank: unsafe extern "C" fn(Handle, *mut c_int) -> c_int,
    pub(super) comm_size: unsafe extern "C" fn(Handle, *mut c_int) -> c_int,
    pub(super) comm_set_errhandler: unsafe extern "C" fn(Handle, Handle) -> c_int,
    pub(super) comm_group: unsafe extern "C" fn(Handle, *mut Handle) -> c_int,
    pub(super) group_incl: unsafe extern "C" fn(Handle, c_int, *const c_int, *mut Handle) -> c_int,
    pub(super) group_free: unsafe extern "C" fn(*mut Handle) -> c_int,
    pub(super) comm_create: unsafe extern "C" fn(Handle, Handle, *mut Handle) -> c_int,
    pub(super) comm_free: unsafe extern "C" fn(*mut Handle) -> c_int,
    pub(super) open_port: unsafe extern "C" fn(Handle, *mut c_char) -> c_int,
    pub(super) close_port: unsafe extern "C" fn(*const c_char) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) comm_accept:
        unsafe extern "C" fn(*const c_char, Handle, c_int, Handle, *mut Handle) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) comm_connect:
        unsafe extern "C" fn(*const c_char, Handle, c_int, Handle, *mut Handle) -> c_int,
    pub(super) intercomm_merge: unsafe extern "C" fn(Handle, c_int, *mut Handle) -> c_int,
    pub(super) error_string: unsafe extern "C" fn(c_int, *mut c_char, *mut c_int) -> c_int,
    pub(super) op_create: unsafe extern "C" fn(UserFn, c_int, *mut Handle) -> c_int,
    pub(super) query_thread: unsafe extern "C" fn(*mut c_int) -> c_int,
    pub(super) library_version: unsafe extern "C" fn(*mut c_char, *mut c_int) -> c_int,
    pub(super) test: unsafe extern "C" fn(*mut Handle, *mut c_int, *mut Status) -> c_int,
    pub(super) ibarrier: unsafe extern "C" fn(Handle, *mut Handle) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) iallreduce:
        unsafe extern "C" fn(P, P, c_int, Handle, Handle, Handle, *mut Handle) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) ireduce:
        unsafe extern "C" fn(P, P, c_int, Handle, Handle, c_int, Handle, *mut Handle) -> c_int,
    pub(super) ibcast: unsafe extern "C" fn(P, c_int, Handle, c_int, Handle, *mut Handle) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) iallgather:
        unsafe extern "C" fn(P, c_int, Handle, P, c_int, Handle, Handle, *mut Handle) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) igather: unsafe extern "C" fn(
        P,
        c_int,
        Handle,
        P,
        c_int,
        Handle,
        c_int,
        Handle,
        *mut Handle,
    ) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) iscatter: unsafe extern "C" fn(
        P,
        c_int,
        Handle,
        P,
        c_int,
        Handle,
        c_int,
        Handle,
        *mut Handle,
    ) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) ireduce_scatter_block:
        unsafe extern "C" fn(P, P, c_int, Handle, Handle, Handle, *mut Handle) -> c_int,
    #[allow(clippy::type_complexity)]
    pub(super) ialltoallv: unsafe extern "C" fn(
        P,
        *const c_int,
        *const c_int,
        Handle,
        P,
        *const c_int,
        *const c_int,
        Handle,
        Handle,
        *mut Handle,
    ) -> c_int,
    pub(super) isend:
        unsafe extern "C" fn(P, c_int, Handle, c_int, c_int, Handle, *mut Handle) -> c_int,
    pub(super) irecv:
        unsafe extern "C" fn(P, c_int, Handle, c_int, c_int, Handle, *mut Handle) -> c_int,
    /// Predefined handles.
    pub(super) world: Handle,
    pub(super) comm_self: Handle,
    pub(super) info_null: Handle,
    pub(super) null_comm: Handle,
    pub(super) request_null: Handle,
    pub(super) errors_return: Handle,
    pub(super) types: Types,
    pub(super) ops: Ops,
    pub(super) _lib: libloading::Library,
}

pub(super) struct Types {
    pub(super) u8: Handle,
    pub(super) i8: Handle,
    pub(super) i16: Handle,
    pub(super) u16: Handle,
    pub(super) i32: Handle,
    pub(super) i64: Handle,
    pub(super) f32: Handle,
    pub(super) f64: Handle,
}

pub(super) struct Ops {
    pub(super) sum: Handle,
    pub(super) prod: Handle,
    pub(super) min: Handle,
    pub(super) max: Handle,
    pub(super) band: Handle,
    pub(super) bor: Handle,
    pub(super) bxor: Handle,
}

/// The shared library's file name, or `RUSTORCH_MPI_LIBRARY`.
fn library_names() -> Vec<String> {
    match std::env::var("RUSTORCH_MPI_LIBRARY") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["libmpi.so.40".into(), "libmpi.so".into()],
    }
}

#[cfg(unix)]
fn open(name: &str) -> std::result::Result<libloading::Library, String> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: opening Open MPI runs its library initialisers, which only set up its own
    // state; the handle is kept in `Api` for the life of the process.
    unsafe { Library::open(Some(name), RTLD_NOW | RTLD_GLOBAL) }
        .map(Into::into)
        .map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn open(_name: &str) -> std::result::Result<libloading::Library, String> {
    Err("the MPI backend is only built for Unix".into())
}

fn load() -> std::result::Result<Api, String> {
    let mut errors = vec![];
    let mut found = None;
    for name in library_names() {
        match open(&name) {
            Ok(lib) => {
                found = Some((name, lib));
                break;
            }
            Err(e) => errors.push(e),
        }
    }
    let Some((name, lib)) = found else {
        return Err(format!(
            "could not open Open MPI's libmpi.so.40 ({}); install Open MPI (Debian: `apt-get install openmpi-bin`) or name the library in RUSTORCH_MPI_LIBRARY",
            errors.join("; ")
        ));
    };
    // SAFETY: each name is an Open MPI entry point of the C signature written in `Api` (from
    // Open MPI's `mpi.h`); the library stays open inside `Api` while any pointer is used.
    macro_rules! func {
        ($sym:literal) => {
            *unsafe { lib.get(concat!($sym, "\0").as_bytes()) }
                .map_err(|e| format!("{name} lacks {}: not an Open MPI library? ({e})", $sym))?
        };
    }
    // SAFETY: a predefined handle is the address of the named exported global, which is what
    // Open MPI's `mpi.h` passes for it; the address is only handed back to the library.
    macro_rules! global {
        ($sym:literal) => {
            Handle(
                *unsafe { lib.get::<*mut c_void>(concat!($sym, "\0").as_bytes()) }.map_err(
                    |e| format!("{name} lacks {}: not an Open MPI library? ({e})", $sym),
                )?,
            )
        };
    }
    Ok(Api {
        initialized: func!("MPI_Initialized"),
        finalized: func!("MPI_Finalized"),
        init_thread: func!("MPI_Init_thread"),
        finalize: func!("MPI_Finalize"),
        abort: func!("MPI_Abort"),
        comm_rank: func!("MPI_Comm_rank"),
        comm_size: func!("MPI_Comm_size"),
        comm_set_errhandler: func!("MPI_Comm_set_errhandler"),
        comm_group: func!("MPI_Comm_group"),
        group_incl: func!("MPI_Group_incl"),
        group_free: func!("MPI_Group_free"),
        comm_create: func!("MPI_Comm_create"),
        comm_free: func!("MPI_Comm_free"),
        open_port: func!("MPI_Open_port"),
        close_port: func!("MPI_Close_port"),
        comm_accept: func!("MPI_Comm_accept"),
        comm_connect: func!("MPI_Comm_connect"),
        intercomm_merge: func!("MPI_Intercomm_merge"),
        error_string: func!("MPI_Error_string"),
        op_create: func!("MPI_Op_create"),
        query_thread: func!("MPI_Query_thread"),
        library_version: func!("MPI_Get_library_version"),
        test: func!("MPI_Test"),
        ibarrier: func!("MPI_Ibarrier"),
        iallreduce: func!("MPI_Iallreduce"),
        ireduce: func!("MPI_Ireduce"),
        ibcast: func!("MPI_Ibcast"),
        iallgather: func!("MPI_Iallgather"),
        igather: func!("MPI_Igather"),
        iscatter: func!("MPI_Iscatter"),
        ireduce_scatter_block: func!("MPI_Ireduce_scatter_block"),
        ialltoallv: func!("MPI_Ialltoallv"),
        isend: func!("MPI_Isend"),
        irecv: func!("MPI_Irecv"),
        world: global!("ompi_mpi_comm_world"),
        comm_self: global!("ompi_mpi_comm_self"),
        info_null: global!("ompi_mpi_info_null"),
        null_comm: global!("ompi_mpi_comm_null"),
        request_null: global!("ompi_request_null"),
        errors_return: global!("ompi_mpi_errors_return"),
        types: Types {
            u8: global!("ompi_mpi_uint8_t"),
            i8: global!("ompi_mpi_int8_t"),
            i16: global!("ompi_mpi_int16_t"),
            u16: global!("ompi_mpi_uint16_t"),
            i32: global!("ompi_mpi_int32_t"),
            i64: global!("ompi_mpi_int64_t"),
            f32: global!("ompi_mpi_float"),
            f64: global!("ompi_mpi_double"),
        },
        ops: Ops {
            sum: global!("ompi_mpi_op_sum"),
            prod: global!("ompi_mpi_op_prod"),
            min: global!("ompi_mpi_op_min"),
            max: global!("ompi_mpi_op_max"),
            band: global!("ompi_mpi_op_band"),
            bor: global!("ompi_mpi_op_bor"),
            bxor: global!("ompi_mpi_op_bxor"),
        },
        _lib: lib,
    })
}

pub(super) fn api() -> Result<&'static Api> {
    static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();
    API.get_or_init(load)
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))
}

/// Whether Open MPI can be opened (`is_mpi_available`); initialises nothing.
pub fn available() -> bool {
    api().is_ok()
}

/// MPI's message for error code `code`.
pub(super) fn error_text(a: &Api, code: c_int) -> String {
    let mut buf = [0 as c_char; 512];
    let mut len: c_int = 0;
    // SAFETY: Open MPI writes at most MPI_MAX_ERROR_STRING (256) bytes into `buf` and their
    // count into `len`.
    let rc = unsafe { (a.error_string)(code, buf.as_mut_ptr(), &mut len) };
    if rc != 0 {
        return format!("MPI error {code}");
    }
    let bytes: Vec<u8> = buf[..len.clamp(0, 511) as usize]
        .iter()
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(super) fn check(a: &Api, what: &str, rc: c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::Runtime(format!("{what}: {}", error_text(a, rc))))
    }
}

/// The library's version text (`MPI_Get_library_version`, callable before MPI starts).
pub fn library_version() -> Result<String> {
    let a = api()?;
    let mut buf = [0 as c_char; 1024];
    let mut len: c_int = 0;
    // SAFETY: Open MPI writes at most MPI_MAX_LIBRARY_VERSION_STRING (256) bytes and their
    // count; the buffer holds 1024.
    check(a, "MPI_Get_library_version", unsafe {
        (a.library_version)(buf.as_mut_ptr(), &mut len)
    })?;
    let bytes: Vec<u8> = buf[..len.clamp(0, 1023) as usize]
        .iter()
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
