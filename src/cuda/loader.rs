//! Finding CUDA's shared libraries without panicking.
//!
//! cudarc opens each library on first use by trying a list of file names through the system
//! loader, and panics when none opens. Everything here asks first, with cudarc's own
//! non-panicking presence checks, and answers `false` where a library is missing.
//!
//! NVRTC often lives outside the loader's search path (the `nvidia-cuda-nvrtc-cu12` wheel puts
//! it in `site-packages/nvidia/cuda_nvrtc/lib`). [`nvrtc_present`] therefore first opens it
//! by path from `RUSTORCH_NVRTC_PATH` (the library file or its directory), or from
//! `$CUDA_PATH`/`$CUDA_HOME` (`lib64/`, `lib/`), and keeps it open: once a library with soname
//! `libnvrtc.so.12` is loaded, the system loader hands that same copy to cudarc when it asks
//! for `libnvrtc.so.12` by name. Setting `LD_LIBRARY_PATH` to the directory works as well.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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

/// Whether NVRTC can be opened, after trying the explicit locations described in the module
/// docs. Cached after the first call.
pub fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        preload_nvrtc();
        // SAFETY: as in `driver_present`: NVRTC's initialisers are safe to run, and the check
        // answers `false` rather than panicking when no candidate opens.
        unsafe { cudarc::nvrtc::sys::is_culib_present() }
    })
}

/// Candidate NVRTC files under the explicit locations, most specific first.
fn nvrtc_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    if let Some(p) = std::env::var_os("RUSTORCH_NVRTC_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_dir() {
            dirs.push(p);
        } else {
            files.push(p);
        }
    }
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(root) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            let root = PathBuf::from(root);
            dirs.push(root.join("lib64"));
            dirs.push(root.join("lib"));
        }
    }
    for dir in dirs {
        files.extend(nvrtc_files_in(&dir));
    }
    files
}

/// The NVRTC libraries in `dir` that cudarc's CUDA 12 bindings will look up by name
/// (`libnvrtc.so.12`, which is NVRTC 12's soname), then `libnvrtc.so` (a symlink to it in
/// toolkit installs).
fn nvrtc_files_in(dir: &Path) -> Vec<PathBuf> {
    ["libnvrtc.so.12", "libnvrtc.so"]
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file())
        .collect()
}

/// Opens the first NVRTC found at an explicit location and keeps it open for the life of
/// the process.
fn preload_nvrtc() {
    static KEPT: OnceLock<libloading::Library> = OnceLock::new();
    for path in nvrtc_candidates() {
        // Open the real file, not a symlink to it: NVRTC finds its companion
        // libnvrtc-builtins through `$ORIGIN`, the directory it was opened from.
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        // SAFETY: opening NVRTC runs its initialisers, which are safe to run at any time;
        // the handle is stored in a static and never closed, so no symbol outlives it.
        if let Ok(lib) = unsafe { libloading::Library::new(&path) } {
            let _ = KEPT.set(lib);
            return;
        }
    }
}
