//! The staged buffers of nonblocking MPI operations and the requests that own them until
//! they complete, including the operations dropped before completing (the orphans).

use super::calls::{int, Chunks};
use super::{usable, BROKEN, FINALIZED, LOCK};
use crate::backend::BinaryOp;
use crate::distributed::ffi::{api, check, Api, Handle, Status, P};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::{Operand, Scalar, Tensor};
use parking_lot::Mutex;
use std::ffi::c_int;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A contiguous CPU tensor whose memory an operation reads or writes: the tensor itself,
/// or a contiguous copy that is written back when the operation completes.
pub struct Staged {
    target: Tensor,
    pub(super) buf: Tensor,
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
    pub(in crate::distributed) fn ptr(&self) -> P {
        self.buf.data_ptr() as P
    }
    /// The number of elements.
    pub(in crate::distributed) fn len(&self) -> usize {
        self.buf.numel()
    }
    pub(in crate::distributed) fn dtype(&self) -> DType {
        self.buf.dtype()
    }
    pub(super) fn count(&self, what: &str) -> Result<c_int> {
        int(what, self.buf.numel())
    }
    /// Writes the result back into the target, if it was copied.
    pub(in crate::distributed) fn finish(&self) -> Result<()> {
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
pub(super) enum State {
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
    pub(super) what: String,
    pub(super) reqs: Vec<Handle>,
    /// The rest of an all-reduce that runs as a sequence of chunks.
    pub(super) rest: Option<Arc<Mutex<Chunks>>>,
    pub(super) staged: Vec<Staged>,
    /// Count and displacement arrays MPI may read until completion.
    pub(super) counts: Vec<Vec<c_int>>,
    pub(super) timeout: Duration,
    /// Divides the written buffers on completion (an average is a sum over this many ranks).
    pub(super) divisor: Option<f64>,
    pub(super) source: Option<usize>,
    /// A receive's size: a shorter message is an error (MPI would fill part of the tensor).
    pub(super) expect_bytes: Option<usize>,
    pub(super) state: State,
}

/// Operations dropped before they completed.
pub(super) static ORPHANS: Mutex<Vec<Request>> = Mutex::new(Vec::new());

/// Tests the orphans once, finishing and dropping those that completed.
pub(super) fn progress_orphans() {
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
