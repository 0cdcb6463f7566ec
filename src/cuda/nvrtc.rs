//! Run-time compilation of the CUDA C kernels with NVRTC (no nvcc at build time).
//!
//! NVRTC is opened dynamically (see [`super::loader`] for where it is looked for); without it
//! [`nvrtc_available`] answers `false` and [`compile`] returns an error, never a panic.

use super::kernels;
use super::loader;
use crate::error::{Error, Result};
use crate::DType;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;

/// The output of one compilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compiled {
    /// PTX text, from a virtual architecture (`compute_80`): the driver JIT-compiles it for
    /// the device at load time, so it also runs on newer GPUs.
    Ptx(String),
    /// A cubin (ELF) for one real architecture (`sm_90`): loads with no JIT step.
    Cubin(Vec<u8>),
}

impl Compiled {
    /// The bytes to hand to the driver's module loader (PTX text or cubin image).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Compiled::Ptx(s) => s.as_bytes(),
            Compiled::Cubin(b) => b,
        }
    }
}

/// Whether the NVRTC library can be opened. Cached after the first call.
pub fn nvrtc_available() -> bool {
    loader::nvrtc_present()
}

/// The options every kernel is compiled with, for `arch` (e.g. `compute_80`, `sm_90`).
/// `--fmad=false` keeps `a * b + c` as two roundings, so the float32 results of the fused
/// updates round as the CPU kernels' do.
pub fn default_options(arch: &str) -> Vec<String> {
    vec![
        format!("--gpu-architecture={arch}"),
        "-default-device".into(),
        "--std=c++17".into(),
        "--fmad=false".into(),
    ]
}

/// Checks `arch` names a GPU architecture: `compute_NN` (virtual, gives PTX) or `sm_NN`
/// (real, gives a cubin), optionally with an `a`/`f` suffix (`sm_90a`). Returns whether it
/// is a real one.
fn is_real_arch(arch: &str) -> Result<bool> {
    let (real, rest) = if let Some(r) = arch.strip_prefix("sm_") {
        (true, r)
    } else if let Some(r) = arch.strip_prefix("compute_") {
        (false, r)
    } else {
        return Err(bad_arch(arch));
    };
    let digits = rest.trim_end_matches(['a', 'f']);
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_arch(arch));
    }
    Ok(real)
}

fn bad_arch(arch: &str) -> Error {
    Error::Value(format!(
        "invalid GPU architecture '{arch}': expected compute_NN (PTX) or sm_NN (cubin)"
    ))
}

/// An `nvrtcProgram` that is destroyed when dropped.
struct Program(cudarc::nvrtc::sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful `create_program` and is destroyed only
        // here, once. A failure to destroy only leaks, so its result is ignored.
        let _ = unsafe { cudarc::nvrtc::result::destroy_program(self.0) };
    }
}

impl Program {
    /// The compilation log (warnings and errors), or a note that it could not be read.
    fn log(&self) -> String {
        // SAFETY: `self.0` is a live program (see `Drop`); the returned buffer is NUL
        // terminated by NVRTC, and `from_bytes_until_nul` checks that rather than trusting it.
        match unsafe { cudarc::nvrtc::result::get_program_log(self.0) } {
            Ok(raw) => c_chars_to_string(&raw),
            Err(e) => format!("(could not read the NVRTC log: {e:?})"),
        }
    }

    /// The PTX of a program compiled for a virtual architecture.
    fn ptx(&self) -> Result<String> {
        // SAFETY: `self.0` is a live, successfully compiled program.
        let raw = unsafe { cudarc::nvrtc::result::get_ptx(self.0) }
            .map_err(|e| Error::Runtime(format!("NVRTC: nvrtcGetPTX failed: {e:?}")))?;
        Ok(c_chars_to_string(&raw))
    }

    /// The cubin of a program compiled for a real architecture.
    fn cubin(&self) -> Result<Vec<u8>> {
        use cudarc::nvrtc::sys;
        let fail = |what: &str, e: sys::nvrtcResult| {
            Error::Runtime(format!("NVRTC: {what} failed: {e:?}"))
        };
        let mut size = 0usize;
        // SAFETY: `self.0` is a live, successfully compiled program and `size` is a valid
        // out-pointer.
        let r = unsafe { sys::nvrtcGetCUBINSize(self.0, &mut size) };
        if r != sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(fail("nvrtcGetCUBINSize", r));
        }
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` has exactly the `size` bytes NVRTC said the cubin needs.
        let r = unsafe { sys::nvrtcGetCUBIN(self.0, buf.as_mut_ptr().cast::<c_char>()) };
        if r != sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(fail("nvrtcGetCUBIN", r));
        }
        Ok(buf)
    }
}

fn c_chars_to_string(raw: &[c_char]) -> String {
    let bytes: Vec<u8> = raw.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Compiles the CUDA C program `src` (named `source_name` in diagnostics) for `arch` with
/// [`default_options`]: PTX for a virtual architecture (`compute_80`), a cubin for a real one
/// (`sm_90`).
///
/// # Errors
/// [`Error::Value`] for a malformed `arch`; [`Error::Runtime`] when NVRTC cannot be opened
/// or the compilation fails, in which case the message carries NVRTC's log.
pub fn compile(source_name: &str, src: &str, arch: &str) -> Result<Compiled> {
    let real = is_real_arch(arch)?;
    if !nvrtc_available() {
        return Err(loader::missing(loader::NVRTC));
    }
    let c_src = CString::new(src)
        .map_err(|_| Error::Value(format!("CUDA source {source_name} contains a NUL byte")))?;
    let c_name = CString::new(source_name)
        .map_err(|_| Error::Value(format!("CUDA source name {source_name:?} contains a NUL")))?;
    let options = default_options(arch);
    // A panic inside cudarc (a symbol missing from an unexpected NVRTC build) becomes an error.
    std::panic::catch_unwind(|| {
        let prog = cudarc::nvrtc::result::create_program(&c_src, Some(&c_name))
            .map(Program)
            .map_err(|e| Error::Runtime(format!("NVRTC: nvrtcCreateProgram failed: {e:?}")))?;
        // SAFETY: `prog` is a live program; the options contain no NUL bytes.
        if let Err(e) = unsafe { cudarc::nvrtc::result::compile_program(prog.0, &options) } {
            return Err(Error::Runtime(format!(
                "NVRTC failed to compile {source_name} for {arch} ({:?}), options {}:\n{}",
                e.0,
                options.join(" "),
                prog.log().trim_end()
            )));
        }
        if real {
            prog.cubin().map(Compiled::Cubin)
        } else {
            prog.ptx().map(Compiled::Ptx)
        }
    })
    .unwrap_or_else(|_| {
        Err(Error::Runtime(format!(
            "NVRTC: internal error while compiling {source_name} for {arch}"
        )))
    })
}

/// NVRTC's version, `(major, minor)`.
fn nvrtc_version() -> Result<(i32, i32)> {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two valid out-pointers; NVRTC was opened (checked by the caller).
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if r != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(Error::Runtime(format!("NVRTC: nvrtcVersion failed: {r:?}")));
    }
    Ok((major, minor))
}

/// FNV-1a over the parts: a stable key for the on-disk cache (it must not change between
/// processes or Rust versions, as `DefaultHasher` may).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Where compiled kernels are kept between processes: `$RUSTORCH_KERNEL_CACHE`, else
/// `$XDG_CACHE_HOME/rustorch/kernels`, else `~/.cache/rustorch/kernels`; `None` when none
/// can be named (then only the in-memory cache is used).
fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("RUSTORCH_KERNEL_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("rustorch").join("kernels")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("rustorch").join("kernels")))
}

/// The compiled image of `src` for `arch` (a cubin for `sm_NN`), NUL-terminated for the
/// driver's loader: from memory, else from the disk cache, else compiled (and then stored
/// in both). The key covers the source, the architecture, the options and NVRTC's version.
pub fn compile_cached(source_name: &str, src: &str, arch: &str) -> Result<Vec<u8>> {
    static MEMORY: Mutex<Option<HashMap<u64, Vec<u8>>>> = Mutex::new(None);
    if !nvrtc_available() {
        return Err(loader::missing(loader::NVRTC));
    }
    let (major, minor) = nvrtc_version()?;
    let version = format!("{major}.{minor}");
    let options = default_options(arch).join(" ");
    let key = fnv1a(&[
        src.as_bytes(),
        arch.as_bytes(),
        options.as_bytes(),
        version.as_bytes(),
    ]);
    if let Some(image) = MEMORY.lock().get_or_insert_with(HashMap::new).get(&key) {
        return Ok(image.clone());
    }
    let file = cache_dir().map(|d| d.join(format!("{key:016x}.{arch}.bin")));
    let cached = file.as_ref().and_then(|f| std::fs::read(f).ok());
    let image = match cached {
        Some(image) => image,
        None => {
            let mut image = compile(source_name, src, arch)?.as_bytes().to_vec();
            image.push(0);
            if let Some(f) = &file {
                // Written to a temporary name, then renamed: a reader never sees half a file.
                // A cache that cannot be written only costs the next process a compile.
                if let Some(dir) = f.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let tmp = f.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::write(&tmp, &image).is_ok() {
                    let _ = std::fs::rename(&tmp, f);
                }
            }
            image
        }
    };
    MEMORY
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(key, image.clone());
    Ok(image)
}

/// Every kernel file instantiated for every dtype it takes: (file, dtype, full source).
pub fn all_kernel_sources() -> Vec<(&'static kernels::KernelFile, DType, String)> {
    let mut out = Vec::new();
    for file in kernels::FILES {
        for dtype in file.dtypes() {
            if let Ok(src) = kernels::instantiate(file, dtype) {
                out.push((file, dtype, src));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether NVRTC tests can run here. Without NVRTC they are skipped with a note, unless
    /// `RUSTORCH_REQUIRE_NVRTC=1` (as CI sets), where the absence is a failure.
    fn nvrtc_or_skip(test: &str) -> bool {
        if nvrtc_available() {
            return true;
        }
        let required = std::env::var("RUSTORCH_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "RUSTORCH_REQUIRE_NVRTC=1 but NVRTC could not be opened: {}",
            loader::missing(loader::NVRTC)
        );
        eprintln!(
            "{test}: skipped, NVRTC ({}) is not loadable here",
            loader::NVRTC
        );
        false
    }

    #[test]
    fn every_kernel_compiles_for_sm80_and_sm90() {
        if !nvrtc_or_skip("every_kernel_compiles_for_sm80_and_sm90") {
            return;
        }
        let sources = all_kernel_sources();
        let expected: usize = kernels::FILES.iter().map(|f| f.dtypes().len()).sum();
        assert_eq!(sources.len(), expected);
        let jobs: Vec<_> = sources
            .iter()
            .flat_map(|s| ["sm_80", "sm_90"].map(|arch| (s, arch)))
            .collect();
        // NVRTC programs are independent, so the compilations run on two threads.
        let failures: Vec<String> = std::thread::scope(|scope| {
            let halves: Vec<_> = jobs
                .chunks(jobs.len().div_ceil(2))
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut bad = Vec::new();
                        for ((file, dtype, src), arch) in chunk {
                            let out = match compile(file.name, src, arch) {
                                Ok(out) => out,
                                Err(e) => {
                                    bad.push(format!("{} {dtype:?} {arch}: {e}", file.name));
                                    continue;
                                }
                            };
                            assert!(matches!(out, Compiled::Cubin(_)));
                            // Every declared kernel is in the cubin under its dtype's name.
                            let bytes = out.as_bytes();
                            for (k, ds) in file.kernels {
                                if !ds.contains(dtype) {
                                    continue;
                                }
                                let sym = kernels::kernel_name(k, *dtype);
                                let needle = format!("\0{sym}\0");
                                if !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                                    bad.push(format!(
                                        "{} {dtype:?} {arch}: no kernel {sym}",
                                        file.name
                                    ));
                                }
                            }
                        }
                        bad
                    })
                })
                .collect();
            halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        eprintln!(
            "compiled {} kernel sources for sm_80 and sm_90",
            sources.len()
        );
    }

    #[test]
    fn compile_cache_keys_are_stable() {
        assert_eq!(fnv1a(&[b"abc"]), fnv1a(&[b"abc"]));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
    }

    #[test]
    fn a_broken_source_gives_the_nvrtc_log() {
        if !nvrtc_or_skip("a_broken_source_gives_the_nvrtc_log") {
            return;
        }
        let src = "extern \"C\" __global__ void broken(float* x) { x[0] = undefined_name; }";
        let e = compile("broken.cu", src, "sm_80").unwrap_err().to_string();
        assert!(e.contains("broken.cu"), "{e}");
        assert!(e.contains("undefined_name"), "the log is missing: {e}");
        assert!(e.contains("NVRTC_ERROR_COMPILATION"), "{e}");
        eprintln!("the expected error reads:\n{e}");
    }

    #[test]
    fn malformed_arch_is_a_value_error() {
        for arch in ["sm80", "compute_", "sm_8x", "gfx90a"] {
            assert!(
                matches!(compile("k.cu", "", arch), Err(Error::Value(_))),
                "{arch}"
            );
        }
        assert!(is_real_arch("sm_90a").unwrap());
        assert!(!is_real_arch("compute_80").unwrap());
    }
}
