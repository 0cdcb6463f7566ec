//! The rayon pool the kernels run on.

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
