//! A fork-join team for the short parallel sections of small models: one part per thread,
//! part 0 on the caller, part `i` always on helper `i - 1`, and helpers that spin between
//! jobs instead of sleeping.
//!
//! Rayon parks an idle worker on a futex after a few rounds of `sched_yield`. Between the
//! ops of a small model's training step (tens of microseconds of Python apart) its worker is
//! always asleep, so every split product paid a futex wake-up, a context switch, and the
//! caller's own sleep and wake-up while it waited for the late half: a third of the main
//! thread's time in the 784-128-10 MLP's epoch. OpenMP, which PyTorch uses, spins instead;
//! so do these helpers, for [`SPIN`] after their last job (yielding the core now and then so
//! that other runnable threads are not starved), before they park.
//!
//! Because part `i` runs on the same thread, the same rows of a weight stay in one core's
//! cache across the forward product, the weight-gradient product and the optimizer step.
//! The exception is a helper that has not started its part by the time the caller finished
//! its own and waited [`GRACE`] more: a parked helper's wake-up, or one the system
//! descheduled for a time slice (4 ms here), would hold the whole op up, so the caller
//! runs that part itself. Each helper claims its job before it reads it, so a part runs
//! exactly once whoever takes it. A call that finds the team busy (a nested call, or another thread's) runs its parts
//! on the rayon pool instead, and so does a call made from inside rayon work: from a pool
//! worker other than the caller's own thread, or from a closure that a rayon section runs
//! through [`as_part`] (Python's main thread is the pool's worker 0, so its index alone
//! cannot tell a top-level call from one inside a parallel section).

use rayon::prelude::*;
use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a helper keeps spinning for the next job before it parks.
const SPIN: Duration = Duration::from_millis(2);

/// A helper that has spun this long yields its core between checks.
const YIELD_AFTER: Duration = Duration::from_micros(50);

/// How long a caller that finished its own part waits for a helper to start its part
/// before running that part itself.
const GRACE: Duration = Duration::from_micros(30);

/// Open [`quiet`] sections: while any is, idle helpers park at once instead of spinning.
static QUIET: AtomicUsize = AtomicUsize::new(0);

/// A part's work, with its lifetime erased while it sits in a helper's slot.
type Job = *const (dyn Fn(usize) + Sync);

/// One helper's mailbox.
struct Slot {
    /// The current job; written by the caller before it bumps `posted`.
    job: UnsafeCell<Option<Job>>,
    /// Jobs posted so far.
    posted: AtomicU64,
    /// Jobs claimed so far, by the helper or by the caller in its place: whoever moves it
    /// from the previous job's number to the posted one runs the job.
    claimed: AtomicU64,
    /// Jobs finished so far.
    finished: AtomicU64,
    /// Set while the helper is parked (or about to park).
    sleeping: AtomicBool,
    /// A panic from the last job, handed back to the caller.
    panic: UnsafeCell<Option<Box<dyn std::any::Any + Send>>>,
    /// The helper, to unpark; set as soon as it is spawned, before the team is published.
    thread: OnceLock<Thread>,
}

// SAFETY: `job` is written only by the caller that holds the team (`busy`) before it
// publishes the job with a release store of `posted`, and read only by the one thread that
// claims that job (the helper, after it saw that store, or the caller itself); `panic` is
// written by that claimant before its release store of `finished`, and read by the caller
// after it sees that store. No two threads touch either cell at the same time.
unsafe impl Sync for Slot {}
// SAFETY: as above; the raw job pointer is only dereferenced while the caller keeps the
// closure alive (it waits for `finished` before returning).
unsafe impl Send for Slot {}

struct Team {
    slots: Vec<Arc<Slot>>,
    busy: AtomicBool,
}

fn team() -> Option<&'static Team> {
    static TEAM: OnceLock<Option<Team>> = OnceLock::new();
    TEAM.get_or_init(|| {
        super::threads::watch_forks();
        let helpers = rayon::current_num_threads().saturating_sub(1);
        let mut slots = Vec::with_capacity(helpers);
        for i in 0..helpers {
            let slot = Arc::new(Slot {
                job: UnsafeCell::new(None),
                posted: AtomicU64::new(0),
                claimed: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                sleeping: AtomicBool::new(false),
                panic: UnsafeCell::new(None),
                thread: OnceLock::new(),
            });
            let mine = Arc::clone(&slot);
            let handle = std::thread::Builder::new()
                .name(format!("rustorch-team-{}", i + 1))
                .spawn(move || helper_loop(&mine, i + 1))
                .ok()?;
            let _ = slot.thread.set(handle.thread().clone());
            slots.push(slot);
        }
        (helpers > 0).then(|| Team {
            slots,
            busy: AtomicBool::new(false),
        })
    })
    .as_ref()
}

fn helper_loop(slot: &Slot, part: usize) {
    let mut seen = 0u64;
    loop {
        let idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            if slot.posted.load(Ordering::Acquire) != seen {
                break;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            let idle = idle_since.elapsed();
            let quiet = QUIET.load(Ordering::Relaxed) > 0;
            if idle < YIELD_AFTER && !quiet {
                std::hint::spin_loop();
            } else if idle < SPIN && !quiet {
                std::thread::yield_now();
            } else {
                slot.sleeping.store(true, Ordering::SeqCst);
                if slot.posted.load(Ordering::SeqCst) == seen {
                    // Spurious wake-ups are fine: the loop checks `posted` again.
                    std::thread::park();
                }
                slot.sleeping.store(false, Ordering::SeqCst);
            }
        }
        seen = slot.posted.load(Ordering::Acquire);
        // A failed claim: the caller ran this job itself (or, if more were posted since,
        // the earlier ones); it never reads the job then.
        if claim(slot, seen) {
            run_claimed(slot, part, seen);
        }
    }
}

/// Claims job `ticket` of `slot` (the one just posted): true for the one thread that moves
/// `claimed` to it.
fn claim(slot: &Slot, ticket: u64) -> bool {
    slot.claimed
        .compare_exchange(ticket - 1, ticket, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Runs part `part` of the job `ticket` of `slot`, claimed by the calling thread, keeps a
/// panic for the caller, and marks the job finished.
fn run_claimed(slot: &Slot, part: usize, ticket: u64) {
    // SAFETY: the caller wrote the job before publishing `posted` (a claim reads it after
    // that store) and keeps the closure alive until it sees `finished` reach `ticket`.
    let job = unsafe { (*slot.job.get()).expect("a posted job") };
    // SAFETY: see above; the closure outlives this call.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job)(part) }));
    if let Err(payload) = result {
        // SAFETY: only the claimant writes `panic`, before the release store below.
        unsafe { *slot.panic.get() = Some(payload) };
    }
    slot.finished.store(ticket, Ordering::Release);
}

/// After the caller's own part: each helper's part that its helper has not claimed within
/// [`GRACE`] is run by the caller.
fn take_over_late_parts(slots: &[Arc<Slot>], tickets: &[u64]) {
    let start = Instant::now();
    for (i, (slot, &t)) in slots.iter().zip(tickets).enumerate() {
        while slot.claimed.load(Ordering::Acquire) != t {
            if start.elapsed() > GRACE {
                if claim(slot, t) {
                    run_claimed(slot, i + 1, t);
                }
                break;
            }
            std::hint::spin_loop();
        }
    }
}

/// Waits (spinning, then yielding) until every helper in `slots` finished the job posted
/// as number `ticket`, and rethrows the first panic among them.
fn wait_for(slots: &[Arc<Slot>], ticket: &[u64]) {
    let start = Instant::now();
    for (slot, &t) in slots.iter().zip(ticket) {
        let mut spins = 0u32;
        while slot.finished.load(Ordering::Acquire) != t {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > YIELD_AFTER {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Releases the team and collects the helpers' panics once they all finished, even when
/// the caller's own part unwinds (the helpers still borrow its closure until then).
struct Joined<'a> {
    team: &'a Team,
    /// The job number posted to each helper used so far, in slot order.
    tickets: Vec<u64>,
}

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        let slots = &self.team.slots[..self.tickets.len()];
        wait_for(slots, &self.tickets);
        // Every slot's payload is taken, so none is left to resurface in a later call.
        let mut panic = None;
        for slot in slots {
            // SAFETY: the helper finished (waited for above) and wrote `panic` before that.
            let payload = unsafe { (*slot.panic.get()).take() };
            panic = panic.or(payload);
        }
        self.team.busy.store(false, Ordering::Release);
        if let Some(payload) = panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

/// Runs `f` with the team's idle helpers parked instead of spinning: for work that
/// another pool runs on every core (a product `gemm` splits on the rayon pool), where a
/// spinning helper would take a core's time from that pool's thread. The helpers wake at
/// the next job posted to them.
pub fn quiet<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            QUIET.fetch_sub(1, Ordering::Relaxed);
        }
    }
    QUIET.fetch_add(1, Ordering::Relaxed);
    let _leave = Leave;
    f()
}

thread_local! {
    /// Set while this thread runs one part of a parallel section (see [`as_part`]).
    static IN_PART: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as one part of a parallel section: a [`for_each_part`] inside it runs on the
/// rayon pool instead of posting to the team, whose helpers would add threads to cores that
/// the section's other parts already keep busy. Wrap the closures of rayon sections whose
/// parts call kernels that split themselves (products, element-wise passes). The team's
/// idle helpers park meanwhile ([`quiet`]): the pool's threads have the cores.
pub fn as_part<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_PART.set(self.0);
        }
    }
    let _restore = Restore(IN_PART.replace(true));
    quiet(f)
}

/// Whether a [`for_each_part`] called here must leave the team alone: the caller is a pool
/// worker other than the one that issues the ops (worker 0, Python's main thread, when the
/// pool was built with it), or runs inside a part of a parallel section.
fn inside_parallel_work() -> bool {
    IN_PART.get() || rayon::current_thread_index().is_some_and(|i| i > 0)
}

/// The most threads a kernel may use (`set_num_threads`); 0 while unset.
static LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Limits the threads every kernel uses to `n` (at least 1; PyTorch's `set_num_threads`).
/// The pool itself keeps its threads: a limit above its size leaves it at its size.
pub fn set_limit(n: usize) {
    LIMIT.store(n.max(1), Ordering::Relaxed);
}

/// The thread count last set by [`set_limit`] (even above the pool's size), or the pool's
/// size: what PyTorch's `get_num_threads` reports.
pub fn limit() -> usize {
    match LIMIT.load(Ordering::Relaxed) {
        0 => rayon::current_num_threads(),
        n => n,
    }
}

/// How many parts [`for_each_part`] runs side by side: the pool's thread count, or the
/// limit set by [`set_limit`] when lower; 1 in a `fork()`ed child. Kernels size their splits by it, and their rayon
/// sections run on the calling thread alone when it is 1.
pub fn parts() -> usize {
    if super::threads::in_forked_child() {
        return 1;
    }
    limit().min(rayon::current_num_threads())
}

/// The parts' results `parts` added element by element in order of part (`add` adds the
/// second into the first), so that a total does not depend on which thread finished first;
/// `None` where there are no parts.
pub fn sum_in_order<E>(parts: Vec<Vec<E>>, add: impl Fn(&mut E, E)) -> Option<Vec<E>> {
    let mut parts = parts.into_iter();
    let mut total = parts.next()?;
    for part in parts {
        total.iter_mut().zip(part).for_each(|(t, v)| add(t, v));
    }
    Some(total)
}

/// Runs `f` on each item, item `i` on thread `i` of the team (item 0 on the caller), and
/// returns when all are done. More items than threads, a team already in use, or a caller
/// inside rayon work (whose pool is already running the other threads' work: waking the
/// team's helpers too would put more threads than cores to work) run on the rayon pool
/// instead.
pub fn for_each_part<I: Send>(items: Vec<I>, f: impl Fn(I) + Sync) {
    let n = items.len();
    if n <= 1 || super::threads::in_forked_child() {
        items.into_iter().for_each(f);
        return;
    }
    let on_pool = |items: Vec<I>| items.into_par_iter().for_each(|i| as_part(|| f(i)));
    if inside_parallel_work() {
        on_pool(items);
        return;
    }
    let team = match team() {
        Some(t)
            if n <= t.slots.len() + 1
                && t.busy
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok() =>
        {
            t
        }
        _ => {
            on_pool(items);
            return;
        }
    };
    let cells: Vec<TakeOnce<I>> = items.into_iter().map(TakeOnce::new).collect();
    let job = |i: usize| f(cells[i].take());
    let job_ref: &(dyn Fn(usize) + Sync) = &job;
    // SAFETY: erases the closure's lifetime so it fits a slot; `joined` (declared after the
    // closure, so dropped before it) waits for every helper to finish with it before this
    // frame goes away, unwinding or not.
    let job_ptr: Job = unsafe { std::mem::transmute(job_ref) };
    // Built before any job is posted, so that whatever happens next the helpers are waited
    // for before the closure goes away.
    let mut joined = Joined {
        team,
        tickets: Vec::with_capacity(n - 1),
    };
    for slot in &team.slots[..n - 1] {
        // SAFETY: this caller holds the team (`busy`), and the helper finished its previous
        // job (every call waits for that), so nobody else reads or writes the cell now.
        unsafe { *slot.job.get() = Some(job_ptr) };
        let ticket = slot.posted.load(Ordering::Relaxed) + 1;
        slot.posted.store(ticket, Ordering::SeqCst);
        joined.tickets.push(ticket);
        if slot.sleeping.load(Ordering::SeqCst) {
            if let Some(t) = slot.thread.get() {
                t.unpark();
            }
        }
    }
    job(0);
    take_over_late_parts(&team.slots[..n - 1], &joined.tickets);
    drop(joined);
}

/// `f(i)` for every `i` in `0..n`, in order, the indices split into one run per thread.
pub fn map_indices<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let per = n.div_ceil(parts()).max(1);
    let mut runs: Vec<Vec<R>> = (0..n.div_ceil(per)).map(|_| Vec::new()).collect();
    for_each_part(runs.iter_mut().enumerate().collect(), |(p, run)| {
        *run = (p * per..((p + 1) * per).min(n)).map(&f).collect();
    });
    runs.into_iter().flatten().collect()
}

/// An item handed to exactly one thread.
struct TakeOnce<I>(UnsafeCell<Option<I>>);

// SAFETY: each cell is taken by exactly one thread (item `i` by the thread running part
// `i`), and the items themselves are `Send`.
unsafe impl<I: Send> Sync for TakeOnce<I> {}

impl<I> TakeOnce<I> {
    fn new(item: I) -> Self {
        TakeOnce(UnsafeCell::new(Some(item)))
    }

    fn take(&self) -> I {
        // SAFETY: see the `Sync` impl: part `i` is run once, by one thread.
        unsafe { (*self.0.get()).take() }.expect("each part runs once")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_item_runs_once() {
        for round in 0..200 {
            let n = parts().max(2);
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            for_each_part((0..n).collect(), |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            if round % 50 == 0 {
                // Let the helpers park, then check that they wake up again.
                std::thread::sleep(SPIN * 2);
            }
        }
    }

    /// With the helpers parked (inside `quiet`, idle helpers park at once), a caller whose
    /// own part is instant may run the helpers' parts itself, and some helpers start late
    /// (a sleep): each part still runs exactly once, and helpers that wake late find
    /// nothing left to run.
    #[test]
    fn parts_taken_over_from_late_helpers_run_once() {
        let n = parts().max(2);
        quiet(|| {
            for round in 0..500 {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                for_each_part((0..n).collect(), |i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                    if round % 7 == 0 && i > 0 {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                });
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                    "{round}"
                );
            }
        });
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_and_the_team_stays_usable() {
        let n = parts().max(2);
        let r = std::panic::catch_unwind(|| {
            for_each_part((0..n).collect(), |i| {
                if i == n - 1 {
                    panic!("part {i} fails");
                }
            })
        });
        assert!(r.is_err());
        let sum = AtomicUsize::new(0);
        for_each_part((0..n).collect(), |i| {
            sum.fetch_add(i + 1, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), n * (n + 1) / 2);
    }

    /// When several parts panic, one panic reaches the caller and none is left behind to
    /// resurface from a later call that succeeds.
    #[test]
    fn every_panic_of_a_call_is_collected() {
        let n = parts().max(2);
        let r = std::panic::catch_unwind(|| {
            for_each_part((0..n).collect(), |i| panic!("part {i} fails"))
        });
        assert!(r.is_err());
        for _ in 0..3 {
            for_each_part((0..n).collect(), |_| {});
        }
    }

    #[test]
    fn nested_calls_fall_back_to_the_pool() {
        let n = parts().max(2);
        let total = AtomicUsize::new(0);
        for_each_part((0..n).collect(), |_| {
            for_each_part((0..n).collect(), |j| {
                total.fetch_add(j, Ordering::Relaxed);
            });
        });
        assert_eq!(total.load(Ordering::Relaxed), n * n * (n - 1) / 2);
    }
}
