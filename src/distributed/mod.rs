//! Communication between processes for data-parallel training: process groups and their
//! collectives (`torch.distributed`'s semantics) over existing engines: Open MPI for CPU
//! tensors, NCCL for CUDA tensors (`nccl.rs`). A group serves CPU tensors, CUDA tensors or
//! both (PyTorch's `"gloo"`/`"mpi"`, `"nccl"` and `"cpu:gloo,cuda:nccl"`); its MPI
//! communicator also carries NCCL's unique id to every rank.
//!
//! Every operation starts as a nonblocking call and returns a [`Work`]; a blocking call is
//! one that is waited for at once. Waiting is bounded by the group's timeout, so a rank whose
//! peers failed gets an error instead of hanging. Tensors are used in place when contiguous;
//! others travel through a contiguous copy that is written back on completion.

mod ffi;
mod mpi;
mod nccl;
mod rendezvous;

use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::Tensor;
use mpi::{Call, Comm, Reduction, Request, Staged};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// `torch.distributed.ReduceOp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Avg,
    Product,
    Min,
    Max,
    Band,
    Bor,
    Bxor,
}

impl ReduceOp {
    /// `ReduceOp.SUM` … by PyTorch's upper-case name.
    pub fn from_name(name: &str) -> Option<ReduceOp> {
        Some(match name {
            "SUM" => ReduceOp::Sum,
            "AVG" => ReduceOp::Avg,
            "PRODUCT" => ReduceOp::Product,
            "MIN" => ReduceOp::Min,
            "MAX" => ReduceOp::Max,
            "BAND" => ReduceOp::Band,
            "BOR" => ReduceOp::Bor,
            "BXOR" => ReduceOp::Bxor,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "SUM",
            ReduceOp::Avg => "AVG",
            ReduceOp::Product => "PRODUCT",
            ReduceOp::Min => "MIN",
            ReduceOp::Max => "MAX",
            ReduceOp::Band => "BAND",
            ReduceOp::Bor => "BOR",
            ReduceOp::Bxor => "BXOR",
        }
    }

    /// What MPI computes for `dtype` (booleans reduce as "any"/"all"), or the error for a
    /// pair that has no meaning.
    fn reduction(self, what: &str, dtype: DType) -> Result<Reduction> {
        let bitwise = matches!(self, ReduceOp::Band | ReduceOp::Bor | ReduceOp::Bxor);
        if bitwise && dtype.is_float() {
            return Err(Error::Runtime(format!(
                "{what}: ReduceOp.{} needs an integral or bool tensor, got {}",
                self.name(),
                dtype.name()
            )));
        }
        if self == ReduceOp::Avg && !dtype.is_float() {
            return Err(Error::Runtime(format!(
                "{what}: ReduceOp.AVG needs a floating-point tensor, got {}",
                dtype.name()
            )));
        }
        Ok(match (self, dtype) {
            (ReduceOp::Sum | ReduceOp::Max | ReduceOp::Bor, DType::Bool) => Reduction::Max,
            (ReduceOp::Product | ReduceOp::Min | ReduceOp::Band, DType::Bool) => Reduction::Min,
            (ReduceOp::Sum | ReduceOp::Avg, _) => Reduction::Sum,
            (ReduceOp::Product, _) => Reduction::Product,
            (ReduceOp::Min, _) => Reduction::Min,
            (ReduceOp::Max, _) => Reduction::Max,
            (ReduceOp::Band, _) => Reduction::Band,
            (ReduceOp::Bor, _) => Reduction::Bor,
            (ReduceOp::Bxor, _) => Reduction::Bxor,
        })
    }
}

/// A collective in flight (`torch.distributed.Work`): wait for it before using its tensors.
pub struct Work {
    op: Pending,
    /// The sender of an NCCL receive (MPI reports its own).
    peer: Option<usize>,
}

enum Pending {
    Mpi(Request),
    Nccl(nccl::Pending),
}

impl Work {
    fn mpi(req: Request) -> Work {
        Work {
            op: Pending::Mpi(req),
            peer: None,
        }
    }
    /// Blocks until the operation completes (at most `timeout`, or the group's) and its
    /// results are in the tensors.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        match &mut self.op {
            Pending::Mpi(r) => r.wait(timeout),
            Pending::Nccl(p) => p.wait(timeout),
        }
    }
    /// Whether the operation has completed with its results in the tensors, without
    /// blocking.
    pub fn is_completed(&mut self) -> Result<bool> {
        match &mut self.op {
            Pending::Mpi(r) => r.test(),
            Pending::Nccl(p) => p.test(),
        }
    }
    /// The sender of a completed receive.
    pub fn source(&self) -> Option<usize> {
        match &self.op {
            Pending::Mpi(r) => r.source(),
            Pending::Nccl(_) => self.peer,
        }
    }
}

/// A process group: the world, or a subset of its ranks (`new_group`).
pub struct Group {
    comm: Arc<Comm>,
    /// This process's rank within the group.
    rank: usize,
    /// The world ranks of the members, in group-rank order.
    ranks: Vec<usize>,
    timeout: Duration,
    /// Whether CPU tensors (MPI) and CUDA tensors (NCCL) are served.
    cpu: bool,
    cuda: bool,
    /// The NCCL communicators made so far, one per device.
    nccl: Mutex<Vec<Arc<nccl::Comm>>>,
}

/// Stages `input` for reading; a copy of it when it shares memory with `out` (MPI forbids
/// overlapping send and receive buffers outside its in-place forms).
fn input_of(input: &Tensor, out: &Tensor) -> Result<Staged> {
    if input.shares_storage(out) {
        Staged::copy_of(input)
    } else {
        Staged::new(input, false)
    }
}

fn same_dtype(what: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(Error::Type(format!(
            "{what}: tensors must have the same dtype, got {} and {}",
            a.dtype().name(),
            b.dtype().name()
        )));
    }
    Ok(())
}

impl Group {
    /// The world group, initialising MPI if needed; `timeout` bounds every wait.
    pub fn world(timeout: Duration) -> Result<Group> {
        Ok(Group::whole(mpi::init_world()?, timeout))
    }

    /// The group of every rank of a world's communicator.
    fn whole((comm, rank, size): (Arc<Comm>, usize, usize), timeout: Duration) -> Group {
        Group {
            comm,
            rank,
            ranks: (0..size).collect(),
            timeout,
            cpu: true,
            cuda: false,
            nccl: Mutex::new(Vec::new()),
        }
    }

    /// The group serving CPU tensors if `cpu` and CUDA tensors if `cuda`.
    pub fn serving(mut self, cpu: bool, cuda: bool) -> Group {
        self.cpu = cpu;
        self.cuda = cuda;
        self
    }

    /// The world of `size` separately started processes (no MPI launcher) whose rank 0
    /// listens at `addr:port`, this process being rank `rank`; see [`rendezvous`].
    pub fn join(
        addr: &str,
        port: u16,
        rank: usize,
        size: usize,
        timeout: Duration,
    ) -> Result<Group> {
        Ok(Group::whole(
            rendezvous::join(addr, port, rank, size, timeout)?,
            timeout,
        ))
    }

    /// A group of the world ranks `ranks` (every rank of `self` must call this, as with
    /// `new_group`); `None` on ranks outside it.
    pub fn subgroup(&self, ranks: &[usize], timeout: Duration) -> Result<Option<Group>> {
        let mut seen = vec![false; self.size()];
        for &r in ranks {
            let Some(i) = self.ranks.iter().position(|&x| x == r) else {
                return Err(Error::Value(format!(
                    "new_group: rank {r} is not a rank of the parent group (its world size is {})",
                    self.size()
                )));
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(Error::Value(format!("new_group: rank {r} is listed twice")));
            }
        }
        let local: Vec<usize> = ranks
            .iter()
            .map(|r| self.ranks.iter().position(|x| x == r).unwrap_or(0))
            .collect();
        Ok(
            mpi::create_comm(&self.comm, &local)?.map(|(comm, rank)| Group {
                comm,
                rank,
                ranks: ranks.to_vec(),
                timeout,
                cpu: self.cpu,
                cuda: self.cuda,
                nccl: Mutex::new(Vec::new()),
            }),
        )
    }

    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn size(&self) -> usize {
        self.ranks.len()
    }
    /// The world ranks of the members, in group-rank order.
    pub fn ranks(&self) -> &[usize] {
        &self.ranks
    }

    fn check_rank(&self, what: &str, r: usize) -> Result<()> {
        if r >= self.size() {
            return Err(Error::Value(format!(
                "{what}: rank {r} is out of range for a group of {} ranks",
                self.size()
            )));
        }
        Ok(())
    }

    fn launch(
        &self,
        what: &str,
        staged: Vec<Staged>,
        make: impl FnOnce(&[Staged]) -> Call<'_>,
    ) -> Result<Request> {
        mpi::launch(&self.comm, what, staged, self.timeout, make)
    }

    /// The CPU path's check: the group must serve CPU tensors (PyTorch's message for an
    /// NCCL-only group).
    fn cpu_served(&self, what: &str) -> Result<()> {
        if self.cpu {
            Ok(())
        } else {
            Err(Error::Runtime(format!(
                "{what}: No backend type associated with device type cpu (this process group is NCCL's, for CUDA tensors)"
            )))
        }
    }

    /// The NCCL communicator for a collective over `tensors` when any of them is a CUDA
    /// tensor (all must then be on one GPU), made at the first collective on that device:
    /// rank 0 draws NCCL's unique id and this group's MPI communicator carries it to the
    /// others. `None` for CPU tensors.
    fn cuda_comm(&self, what: &str, tensors: &[&Tensor]) -> Result<Option<Arc<nccl::Comm>>> {
        let Some(d) = tensors.iter().map(|t| t.device()).find(|d| d.is_cuda()) else {
            return Ok(None);
        };
        if !self.cuda {
            return Err(Error::Runtime(format!(
                "{what}: this process group serves CPU tensors (gloo/MPI), got a tensor on {d}; CUDA tensors need backend='nccl' or 'cpu:gloo,cuda:nccl'"
            )));
        }
        let dev = nccl::device_of(what, tensors)?;
        let mut comms = self.nccl.lock();
        if let Some(c) = comms.iter().find(|c| c.device() == dev) {
            return Ok(Some(c.clone()));
        }
        // Every rank checks that it can join and rank 0 draws the id; then all agree (a
        // minimum over MPI, bounded by the timeout) before any waits inside NCCL's set-up.
        let mine = nccl::prepare(dev).and_then(|()| match self.rank {
            0 => Ok(nccl::unique_id()?.0.to_vec()),
            _ => Ok(vec![0u8; 128]),
        });
        let ok = Tensor::from_vec(vec![mine.is_ok() as u8], &[1]);
        Work::mpi(self.launch(what, vec![Staged::new(&ok, true)?], |s| {
            Call::AllReduce(&s[0], Reduction::Min)
        })?)
        .wait(None)?;
        let id = Tensor::from_vec(mine?, &[128]);
        if ok.to_vec::<u8>()?[0] == 0 {
            return Err(Error::Runtime(format!(
                "{what}: another rank could not set up NCCL on its GPU (its own error says why)"
            )));
        }
        let write = self.rank != 0;
        Work::mpi(self.launch(what, vec![Staged::new(&id, write)?], |s| {
            Call::Broadcast(&s[0], 0)
        })?)
        .wait(None)?;
        let mut bytes = [0u8; 128];
        bytes.copy_from_slice(&id.to_vec::<u8>()?);
        let comm = Arc::new(nccl::Comm::join(
            dev,
            self.size(),
            self.rank,
            nccl::UniqueId(bytes),
        )?);
        comms.push(comm.clone());
        Ok(Some(comm))
    }

    fn nccl(
        &self,
        comm: &Arc<nccl::Comm>,
        what: &str,
        staged: Vec<Staged>,
        make: impl FnOnce(&[Staged]) -> nccl::Call<'_>,
    ) -> Result<Work> {
        Ok(Work {
            op: Pending::Nccl(nccl::launch(comm, what, self.timeout, staged, make)?),
            peer: None,
        })
    }

    /// `barrier(device_ids=)`: over MPI when the group serves CPU tensors, else an NCCL
    /// all-reduce of one element on `device` (the current CUDA device when `None`), as
    /// PyTorch's NCCL barrier.
    pub fn barrier(&self, device: Option<usize>) -> Result<Work> {
        if self.cpu {
            return Ok(Work::mpi(
                self.launch("barrier", vec![], |_| Call::Barrier)?,
            ));
        }
        let d = device.unwrap_or_else(crate::cuda::current_device);
        let t = crate::ops::creation::zeros(&[1], DType::F32, Device::Cuda(d))?;
        self.all_reduce(&t, ReduceOp::Sum)
    }

    /// `all_reduce(t, op)`: every rank's `t` becomes the reduction of all of them.
    pub fn all_reduce(&self, t: &Tensor, op: ReduceOp) -> Result<Work> {
        let what = "all_reduce";
        if let Some(c) = self.cuda_comm(what, &[t])? {
            return self.nccl(&c, what, vec![Staged::new(t, true)?], |s| {
                nccl::Call::AllReduce(&s[0], op)
            });
        }
        self.cpu_served(what)?;
        let r = op.reduction(what, t.dtype())?;
        let mut req = self.launch(what, vec![Staged::new(t, true)?], |s| {
            Call::AllReduce(&s[0], r)
        })?;
        if op == ReduceOp::Avg {
            req = req.divide_by(self.size() as f64);
        }
        Ok(Work::mpi(req))
    }

    /// `reduce(t, dst, op)`: the reduction lands in `t` on group rank `root`; other ranks'
    /// tensors are left as they are.
    pub fn reduce(&self, t: &Tensor, root: usize, op: ReduceOp) -> Result<Work> {
        let what = "reduce";
        self.check_rank(what, root)?;
        let is_root = self.rank == root;
        if let Some(c) = self.cuda_comm(what, &[t])? {
            // NCCL writes the reduction on the root only: other ranks' tensors are read.
            return self.nccl(&c, what, vec![Staged::new(t, is_root)?], |s| {
                nccl::Call::Reduce(&s[0], root, op)
            });
        }
        self.cpu_served(what)?;
        let r = op.reduction(what, t.dtype())?;
        let mut req = self.launch(what, vec![Staged::new(t, is_root)?], |s| {
            Call::Reduce(&s[0], root, r, is_root)
        })?;
        if op == ReduceOp::Avg && is_root {
            req = req.divide_by(self.size() as f64);
        }
        Ok(Work::mpi(req))
    }

    /// `broadcast(t, src)`: group rank `root`'s `t` is copied into every rank's `t`.
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<Work> {
        let what = "broadcast";
        self.check_rank(what, root)?;
        let write = self.rank != root;
        if let Some(c) = self.cuda_comm(what, &[t])? {
            return self.nccl(&c, what, vec![Staged::new(t, write)?], |s| {
                nccl::Call::Broadcast(&s[0], root)
            });
        }
        self.cpu_served(what)?;
        Ok(Work::mpi(self.launch(
            what,
            vec![Staged::new(t, write)?],
            |s| Call::Broadcast(&s[0], root),
        )?))
    }

    /// Checks that `big` holds the group's size times `small`'s elements.
    fn check_parts(&self, what: &str, big: (&Tensor, &str), small: (&Tensor, &str)) -> Result<()> {
        same_dtype(what, big.0, small.0)?;
        if big.0.numel() != small.0.numel() * self.size() {
            return Err(Error::Value(format!(
                "{what}: the {} tensor must hold world_size ({}) times the {}'s {} elements, got {}",
                big.1,
                self.size(),
                small.1,
                small.0.numel(),
                big.0.numel()
            )));
        }
        Ok(())
    }

    /// `all_gather_into_tensor(out, t)`: `out` (size × `t`'s elements) receives every rank's
    /// `t` in rank order.
    pub fn all_gather(&self, out: &Tensor, t: &Tensor) -> Result<Work> {
        let what = "all_gather_into_tensor";
        self.check_parts(what, (out, "output"), (t, "input"))?;
        let staged = vec![input_of(t, out)?, Staged::new(out, true)?];
        if let Some(c) = self.cuda_comm(what, &[out, t])? {
            return self.nccl(&c, what, staged, |s| nccl::Call::AllGather(&s[0], &s[1]));
        }
        self.cpu_served(what)?;
        Ok(Work::mpi(
            self.launch(what, staged, |s| Call::AllGather(&s[0], &s[1]))?,
        ))
    }

    /// `gather`: group rank `root`'s `out` (size × `t`'s elements) receives every rank's `t`.
    pub fn gather(&self, t: &Tensor, out: Option<&Tensor>, root: usize) -> Result<Work> {
        let what = "gather";
        self.check_rank(what, root)?;
        let mut staged = vec![Staged::new(t, false)?];
        let mut tensors = vec![t];
        if self.rank == root {
            let Some(out) = out else {
                return Err(Error::Value(format!(
                    "{what}: the destination rank needs the output tensors"
                )));
            };
            self.check_parts(what, (out, "output"), (t, "input"))?;
            staged = vec![input_of(t, out)?, Staged::new(out, true)?];
            tensors.push(out);
        }
        if let Some(c) = self.cuda_comm(what, &tensors)? {
            let me = self.rank;
            return self.nccl(&c, what, staged, |s| {
                nccl::Call::Gather(&s[0], s.get(1), root, me)
            });
        }
        self.cpu_served(what)?;
        Ok(Work::mpi(self.launch(what, staged, |s| {
            Call::Gather(&s[0], s.get(1), root)
        })?))
    }

    /// `scatter`: every rank's `out` receives its part of group rank `root`'s `input`
    /// (size × `out`'s elements).
    pub fn scatter(&self, out: &Tensor, input: Option<&Tensor>, root: usize) -> Result<Work> {
        let what = "scatter";
        self.check_rank(what, root)?;
        let mut staged = vec![Staged::new(out, true)?];
        let mut tensors = vec![out];
        if self.rank == root {
            let Some(input) = input else {
                return Err(Error::Value(format!(
                    "{what}: the source rank needs the input tensors"
                )));
            };
            self.check_parts(what, (input, "input"), (out, "output"))?;
            staged.push(input_of(input, out)?);
            tensors.push(input);
        }
        if let Some(c) = self.cuda_comm(what, &tensors)? {
            let me = self.rank;
            return self.nccl(&c, what, staged, |s| {
                nccl::Call::Scatter(s.get(1), &s[0], root, me)
            });
        }
        self.cpu_served(what)?;
        Ok(Work::mpi(self.launch(what, staged, |s| {
            Call::Scatter(s.get(1), &s[0], root)
        })?))
    }

    /// `reduce_scatter_tensor(out, input, op)`: rank k's `out` receives the reduction of
    /// every rank's k-th part of `input` (size × `out`'s elements).
    pub fn reduce_scatter(&self, out: &Tensor, input: &Tensor, op: ReduceOp) -> Result<Work> {
        let what = "reduce_scatter_tensor";
        self.check_parts(what, (input, "input"), (out, "output"))?;
        let staged = vec![input_of(input, out)?, Staged::new(out, true)?];
        if let Some(c) = self.cuda_comm(what, &[out, input])? {
            return self.nccl(&c, what, staged, |s| {
                nccl::Call::ReduceScatter(&s[0], &s[1], op)
            });
        }
        self.cpu_served(what)?;
        let r = op.reduction(what, out.dtype())?;
        let mut req = self.launch(what, staged, |s| Call::ReduceScatter(&s[0], &s[1], r))?;
        if op == ReduceOp::Avg {
            req = req.divide_by(self.size() as f64);
        }
        Ok(Work::mpi(req))
    }

    /// `all_to_all_single(out, input, output_split_sizes, input_split_sizes)` with the
    /// splits counted in elements: the i-th part of `input` goes to rank i, rank i's part for
    /// this rank lands in the i-th part of `out`.
    pub fn all_to_all(
        &self,
        out: &Tensor,
        input: &Tensor,
        out_counts: &[usize],
        in_counts: &[usize],
    ) -> Result<Work> {
        let what = "all_to_all_single";
        same_dtype(what, out, input)?;
        for (counts, t, name) in [(out_counts, out, "output"), (in_counts, input, "input")] {
            if counts.len() != self.size() {
                return Err(Error::Value(format!(
                    "{what}: {} {name} split sizes for a group of {} ranks",
                    counts.len(),
                    self.size()
                )));
            }
            if counts.iter().sum::<usize>() != t.numel() {
                return Err(Error::Value(format!(
                    "{what}: the {name} split sizes add up to {} elements, but the {name} tensor has {}",
                    counts.iter().sum::<usize>(),
                    t.numel()
                )));
            }
        }
        let staged = vec![input_of(input, out)?, Staged::new(out, true)?];
        let (ic, oc) = (in_counts.to_vec(), out_counts.to_vec());
        if let Some(c) = self.cuda_comm(what, &[out, input])? {
            return self.nccl(&c, what, staged, |s| {
                nccl::Call::AllToAll(&s[0], ic, &s[1], oc)
            });
        }
        self.cpu_served(what)?;
        Ok(Work::mpi(self.launch(what, staged, |s| {
            Call::AllToAll(&s[0], ic, &s[1], oc)
        })?))
    }

    /// `isend(t, dst, tag)`; NCCL has no tags, and ignores them as PyTorch's NCCL backend does.
    pub fn send(&self, t: &Tensor, dst: usize, tag: i32) -> Result<Work> {
        let what = "send";
        self.check_rank(what, dst)?;
        if dst == self.rank {
            return Err(Error::Value(format!(
                "{what}: invalid destination rank: it should not be the same as the rank of the current process"
            )));
        }
        if let Some(c) = self.cuda_comm(what, &[t])? {
            return self.nccl(&c, what, vec![Staged::new(t, false)?], |s| {
                nccl::Call::Send(&s[0], dst)
            });
        }
        self.cpu_served(what)?;
        Ok(Work::mpi(self.launch(
            what,
            vec![Staged::new(t, false)?],
            |s| Call::Send(&s[0], dst, tag),
        )?))
    }

    /// `irecv(t, src, tag)`; `src` `None` receives from any rank (see [`Work::source`]),
    /// which NCCL cannot.
    pub fn recv(&self, t: &Tensor, src: Option<usize>, tag: i32) -> Result<Work> {
        let what = "recv";
        if let Some(s) = src {
            self.check_rank(what, s)?;
            if s == self.rank {
                return Err(Error::Value(format!(
                    "{what}: invalid source rank: it should not be the same as the rank of the current process"
                )));
            }
        }
        if let Some(c) = self.cuda_comm(what, &[t])? {
            let Some(src) = src else {
                return Err(Error::Runtime(format!(
                    "{what}: the NCCL backend cannot receive from any source; name the sending rank"
                )));
            };
            let mut w = self.nccl(&c, what, vec![Staged::new(t, true)?], |s| {
                nccl::Call::Recv(&s[0], src)
            })?;
            w.peer = Some(src);
            return Ok(w);
        }
        self.cpu_served(what)?;
        Ok(Work::mpi(self.launch(
            what,
            vec![Staged::new(t, true)?],
            |s| Call::Recv(&s[0], src, tag),
        )?))
    }
}

/// Whether Open MPI can be opened on this machine.
pub fn is_mpi_available() -> bool {
    ffi::available()
}

/// Whether NCCL can be opened on this machine (it needs no GPU to open).
pub fn is_nccl_available() -> bool {
    nccl::available()
}

/// NCCL's version, `(major, minor, patch)`.
pub fn nccl_version() -> Result<(u32, u32, u32)> {
    nccl::version()
}

/// The MPI library's version text.
pub fn mpi_library_version() -> Result<String> {
    ffi::library_version()
}

/// Ends MPI in this process (at interpreter exit), and the name server a rendezvous started.
pub fn finalize() {
    mpi::finalize();
    rendezvous::stop_server();
}

/// Ends every rank of the job (an uncaught error on this one).
pub fn abort(code: i32) {
    mpi::abort(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_per_dtype() {
        for name in ["SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"] {
            assert_eq!(ReduceOp::from_name(name).unwrap().name(), name);
        }
        assert!(ReduceOp::from_name("sum").is_none());
        let r = |op: ReduceOp, d: DType| op.reduction("all_reduce", d);
        // booleans reduce as any / all
        assert_eq!(r(ReduceOp::Sum, DType::Bool), Ok(Reduction::Max));
        assert_eq!(r(ReduceOp::Product, DType::Bool), Ok(Reduction::Min));
        assert_eq!(r(ReduceOp::Bxor, DType::Bool), Ok(Reduction::Bxor));
        // the average is a sum, divided afterwards, and only for floating point
        assert_eq!(r(ReduceOp::Avg, DType::BF16), Ok(Reduction::Sum));
        let e = r(ReduceOp::Avg, DType::I64).unwrap_err().to_string();
        assert!(e.contains("ReduceOp.AVG") && e.contains("int64"), "{e}");
        let e = r(ReduceOp::Band, DType::F32).unwrap_err().to_string();
        assert!(e.contains("ReduceOp.BAND") && e.contains("float32"), "{e}");
        assert_eq!(r(ReduceOp::Bor, DType::U8), Ok(Reduction::Bor));
    }
}
