//! Finding CUDA's shared libraries without panicking.
//!
//! The backend is built against the CUDA 13 API. cudarc opens each library on first use by
//! trying a list of file names (`libnvrtc.so.13`, `libcublas.so.13`, …) through the system
//! loader, and panics when none opens. So everything here looks first, and answers `false`
//! where a library is missing.
//!
//! CUDA 13's NVRTC and cuBLAS usually come as pip wheels, under
//! `site-packages/nvidia/cu13/lib`, outside the loader's search path. As PyTorch does, each
//! library is therefore looked for, in order, in
//! 1. the folders of `RUSTORCH_CUDA_LIB_DIR` (a `:`-separated list),
//! 2. `nvidia/cu13/lib` and `nvidia/*/lib` under each entry of Python's `sys.path` (see
//!    [`set_search_path`]),
//! 3. `$CUDA_PATH`/`$CUDA_HOME` (`lib64/`, `lib/`),
//!
//! and opened by its full path and kept open: once a library with that soname is loaded, the
//! system loader hands the same copy to cudarc when it asks by name. Failing those, the system
//! loader's own search (`LD_LIBRARY_PATH`, the ld cache) is tried by name.

use crate::error::Error;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// NVRTC's soname in CUDA 13.
pub const NVRTC: &str = "libnvrtc.so.13";
/// cuBLAS's soname in CUDA 13 (it finds cuBLASLt beside itself).
pub const CUBLAS: &str = "libcublas.so.13";

/// Python's `sys.path`, as the Python package reports it.
static SEARCH_PATH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Records Python's `sys.path`: NVIDIA's library wheels under its entries are looked in
/// after `RUSTORCH_CUDA_LIB_DIR`. Call before the first CUDA use.
pub fn set_search_path(entries: Vec<PathBuf>) {
    *SEARCH_PATH.lock() = entries;
}

/// The folders searched, in order.
pub fn library_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(list) = std::env::var_os("RUSTORCH_CUDA_LIB_DIR") {
        dirs.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
    }
    for entry in SEARCH_PATH.lock().iter() {
        dirs.extend(wheel_dirs(entry));
    }
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(root) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            let root = PathBuf::from(root);
            dirs.push(root.join("lib64"));
            dirs.push(root.join("lib"));
        }
    }
    dirs
}

/// Opens `soname` (a CUDA library, or NCCL) from the first folder holding it and keeps it
/// open for the process; returns the path opened.
pub fn preload(soname: &str) -> Option<PathBuf> {
    static KEPT: Mutex<Vec<libloading::Library>> = Mutex::new(Vec::new());
    for dir in library_dirs() {
        let path = dir.join(soname);
        if !path.is_file() {
            continue;
        }
        // Open the real file, not a symlink to it: NVRTC finds its companion
        // libnvrtc-builtins through `$ORIGIN`, the directory it was opened from.
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        // SAFETY: opening a CUDA library runs its initialisers, which are safe to run at any
        // time; the handle is kept for the life of the process, so no symbol outlives it.
        if let Ok(lib) = unsafe { libloading::Library::new(&path) } {
            KEPT.lock().push(lib);
            return Some(path);
        }
    }
    None
}

/// Why a library could not be opened, and where it was looked for.
pub fn missing(soname: &str) -> Error {
    let dirs: Vec<String> = library_dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    Error::Runtime(format!(
        "CUDA library {soname} could not be opened. Looked in: {}; then the system loader's path. Install it (`pip install nvidia-cuda-nvrtc nvidia-cublas` for CUDA 13) or set RUSTORCH_CUDA_LIB_DIR to the folder holding it.",
        if dirs.is_empty() {
            "(no folders: RUSTORCH_CUDA_LIB_DIR is unset and no NVIDIA wheels were found)".into()
        } else {
            dirs.join(", ")
        }
    ))
}

/// Whether the CUDA driver library (`libcuda.so.1`) can be opened. Cached after the first call.
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        // SAFETY: `is_culib_present` opens (then closes) each candidate library name, which
        // runs that library's initialisers; the CUDA driver's are safe to run at any time.
        // It reports failure as `false` and never panics.
        unsafe { cudarc::driver::sys::is_culib_present() }
    })
}

/// Opens NVRTC's companion `libnvrtc-builtins.so.13.*` from NVRTC's folder. NVRTC 13 opens
/// it by name when it compiles, and the wheel's copy sets no run path, so the system loader
/// would not find it there; once loaded, the name resolves to this copy.
fn preload_builtins(nvrtc: &Path) {
    let Some(dir) = nvrtc.parent() else { return };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("libnvrtc-builtins.so.13"))
        .collect();
    names.sort();
    if let Some(name) = names.first() {
        // SAFETY: as in `preload`: the library's initialisers are safe, and it stays loaded.
        if let Ok(lib) = unsafe { libloading::Library::new(dir.join(name)) } {
            std::mem::forget(lib);
        }
    }
}

/// Whether NVRTC can be opened, after trying the folders above. Cached after the first call.
pub fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        if let Some(path) = preload(NVRTC) {
            preload_builtins(&path);
        }
        // SAFETY: as in `driver_present`: NVRTC's initialisers are safe to run, and the check
        // answers `false` rather than panicking when no candidate opens.
        unsafe { cudarc::nvrtc::sys::is_culib_present() }
    })
}

/// Whether cuBLAS can be opened. Cached after the first call.
pub fn cublas_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        preload(CUBLAS);
        // SAFETY: as in `driver_present`.
        unsafe { cudarc::cublas::sys::is_culib_present() }
    })
}

/// The NVIDIA library folders under a `site-packages` folder: `nvidia/cu13/lib`, then
/// every `nvidia/*/lib` (the layout of NVIDIA's pip wheels).
pub fn wheel_dirs(site: &Path) -> Vec<PathBuf> {
    let nvidia = site.join("nvidia");
    let mut out = Vec::new();
    let cu13 = nvidia.join("cu13").join("lib");
    if cu13.is_dir() {
        out.push(cu13);
    }
    if let Ok(entries) = std::fs::read_dir(&nvidia) {
        let mut rest: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("lib"))
            .filter(|p| p.is_dir() && !out.contains(p))
            .collect();
        rest.sort();
        out.extend(rest);
    }
    out
}
