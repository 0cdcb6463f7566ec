//! The rayon pool the kernels run on, and what a `fork()`ed child may use of it.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a child process made by `fork()` (a DataLoader worker, by default on Linux) after
/// this process started the team's helper threads: the child has none of the parent's
/// threads, so a section posted to them would wait forever. Kernels then run on the calling
/// thread alone ([`crate::cpu::team::parts`] is 1), as PyTorch's DataLoader workers run
/// with one thread.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Whether this process is a `fork()`ed child of one whose helper threads had started.
pub fn in_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

extern "C" fn mark_forked_child() {
    FORKED.store(true, Ordering::Relaxed);
}

#[cfg(unix)]
extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> std::ffi::c_int;
}

/// Marks children forked from now on (see [`in_forked_child`]); call before starting threads
/// that a child would miss. Idempotent.
pub fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(unix)]
        // SAFETY: `pthread_atfork` only records the handler; `mark_forked_child` is an
        // `extern "C"` function with no arguments that performs one atomic store, which is
        // async-signal-safe as a handler run in the child after `fork` must be.
        unsafe {
            pthread_atfork(None, None, Some(mark_forked_child));
        }
    });
}

/// Builds the global pool with the calling thread as worker 0, and returns whether it did.
///
/// A parallel kernel called from a pool worker runs one half itself and hands the other to
/// the pool, as OpenMP does for PyTorch; called from outside the pool, rayon queues both
/// halves and parks the caller, which costs two wake-ups and a context switch per op (a
/// third of a 64×784×128 product's time on two cores). Call it once, from the thread that
/// will issue the ops (Python's main thread), before any parallel kernel runs; that thread
/// must outlive the pool. Other threads' ops still run, on the remaining workers. With a
/// single thread to use, the pool is left alone: its only worker must be a pool thread, or
/// ops queued from other threads would never run.
pub fn use_calling_thread_in_pool() -> bool {
    let threads = match std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    threads > 1
        && rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("rustorch-{i}"))
            .use_current_thread()
            .build_global()
            .is_ok()
}
