//! Communication between processes for data-parallel training: process groups and their
//! collectives (`torch.distributed`'s semantics) over an existing engine, Open MPI, for CPU
//! tensors.
//!
//! Every operation starts as a nonblocking MPI call and returns a [`Work`]; a blocking call is
//! one that is waited for at once. Waiting is bounded by the group's timeout, so a rank whose
//! peers failed gets an error instead of hanging. Tensors are used in place when contiguous;
//! others travel through a contiguous copy that is written back on completion.

mod ffi;
mod mpi;
mod rendezvous;

use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::Tensor;
use mpi::{Call, Comm, Reduction, Request, Staged};
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
    req: Request,
}

impl Work {
    /// Blocks until the operation completes (at most `timeout`, or the group's) and its
    /// results are in the tensors.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.req.wait(timeout)
    }
    /// Whether the operation has completed with its results in the tensors, without
    /// blocking.
    pub fn is_completed(&mut self) -> Result<bool> {
        self.req.test()
    }
    /// The sender of a completed receive.
    pub fn source(&self) -> Option<usize> {
        self.req.source()
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
}

fn on_cpu(what: &str, t: &Tensor) -> Result<()> {
    match t.device() {
        Device::Cpu => Ok(()),
        d => Err(Error::Runtime(format!(
            "{what}: the MPI backend takes CPU tensors, got a tensor on {d} (CUDA tensors need the NCCL backend)"
        ))),
    }
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
        }
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
    ) -> Result<Work> {
        Ok(Work {
            req: mpi::launch(&self.comm, what, staged, self.timeout, make)?,
        })
    }

    /// `barrier()`.
    pub fn barrier(&self) -> Result<Work> {
        self.launch("barrier", vec![], |_| Call::Barrier)
    }

    /// `all_reduce(t, op)`: every rank's `t` becomes the reduction of all of them.
    pub fn all_reduce(&self, t: &Tensor, op: ReduceOp) -> Result<Work> {
        let what = "all_reduce";
        on_cpu(what, t)?;
        let r = op.reduction(what, t.dtype())?;
        let mut w = self.launch(what, vec![Staged::new(t, true)?], |s| {
            Call::AllReduce(&s[0], r)
        })?;
        if op == ReduceOp::Avg {
            w.req = w.req.divide_by(self.size() as f64);
        }
        Ok(w)
    }

    /// `reduce(t, dst, op)`: the reduction lands in `t` on group rank `root`; other ranks'
    /// tensors are left as they are.
    pub fn reduce(&self, t: &Tensor, root: usize, op: ReduceOp) -> Result<Work> {
        let what = "reduce";
        on_cpu(what, t)?;
        self.check_rank(what, root)?;
        let r = op.reduction(what, t.dtype())?;
        let is_root = self.rank == root;
        let mut w = self.launch(what, vec![Staged::new(t, is_root)?], |s| {
            Call::Reduce(&s[0], root, r, is_root)
        })?;
        if op == ReduceOp::Avg && is_root {
            w.req = w.req.divide_by(self.size() as f64);
        }
        Ok(w)
    }

    /// `broadcast(t, src)`: group rank `root`'s `t` is copied into every rank's `t`.
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<Work> {
        let what = "broadcast";
        on_cpu(what, t)?;
        self.check_rank(what, root)?;
        let write = self.rank != root;
        self.launch(what, vec![Staged::new(t, write)?], |s| {
            Call::Broadcast(&s[0], root)
        })
    }

    /// `all_gather_into_tensor(out, t)`: `out` (size × `t`'s elements) receives every rank's
    /// `t` in rank order.
    pub fn all_gather(&self, out: &Tensor, t: &Tensor) -> Result<Work> {
        let what = "all_gather_into_tensor";
        on_cpu(what, t)?;
        on_cpu(what, out)?;
        same_dtype(what, out, t)?;
        if out.numel() != t.numel() * self.size() {
            return Err(Error::Value(format!(
                "{what}: the output tensor must hold world_size ({}) times the input's {} elements, got {}",
                self.size(),
                t.numel(),
                out.numel()
            )));
        }
        let staged = vec![input_of(t, out)?, Staged::new(out, true)?];
        self.launch(what, staged, |s| Call::AllGather(&s[0], &s[1]))
    }

    /// `gather`: group rank `root`'s `out` (size × `t`'s elements) receives every rank's `t`.
    pub fn gather(&self, t: &Tensor, out: Option<&Tensor>, root: usize) -> Result<Work> {
        let what = "gather";
        on_cpu(what, t)?;
        self.check_rank(what, root)?;
        let mut staged = vec![Staged::new(t, false)?];
        if self.rank == root {
            let Some(out) = out else {
                return Err(Error::Value(format!(
                    "{what}: the destination rank needs the output tensors"
                )));
            };
            on_cpu(what, out)?;
            same_dtype(what, out, t)?;
            if out.numel() != t.numel() * self.size() {
                return Err(Error::Value(format!(
                    "{what}: the output must hold world_size ({}) times the input's {} elements, got {}",
                    self.size(),
                    t.numel(),
                    out.numel()
                )));
            }
            staged = vec![input_of(t, out)?, Staged::new(out, true)?];
        }
        self.launch(what, staged, |s| Call::Gather(&s[0], s.get(1), root))
    }

    /// `scatter`: every rank's `out` receives its part of group rank `root`'s `input`
    /// (size × `out`'s elements).
    pub fn scatter(&self, out: &Tensor, input: Option<&Tensor>, root: usize) -> Result<Work> {
        let what = "scatter";
        on_cpu(what, out)?;
        self.check_rank(what, root)?;
        let mut staged = vec![Staged::new(out, true)?];
        if self.rank == root {
            let Some(input) = input else {
                return Err(Error::Value(format!(
                    "{what}: the source rank needs the input tensors"
                )));
            };
            on_cpu(what, input)?;
            same_dtype(what, out, input)?;
            if input.numel() != out.numel() * self.size() {
                return Err(Error::Value(format!(
                    "{what}: the input must hold world_size ({}) times the output's {} elements, got {}",
                    self.size(),
                    out.numel(),
                    input.numel()
                )));
            }
            staged.push(input_of(input, out)?);
        }
        self.launch(what, staged, |s| Call::Scatter(s.get(1), &s[0], root))
    }

    /// `reduce_scatter_tensor(out, input, op)`: rank k's `out` receives the reduction of
    /// every rank's k-th part of `input` (size × `out`'s elements).
    pub fn reduce_scatter(&self, out: &Tensor, input: &Tensor, op: ReduceOp) -> Result<Work> {
        let what = "reduce_scatter_tensor";
        on_cpu(what, out)?;
        on_cpu(what, input)?;
        same_dtype(what, out, input)?;
        let r = op.reduction(what, out.dtype())?;
        if input.numel() != out.numel() * self.size() {
            return Err(Error::Value(format!(
                "{what}: the input tensor must hold world_size ({}) times the output's {} elements, got {}",
                self.size(),
                out.numel(),
                input.numel()
            )));
        }
        let staged = vec![input_of(input, out)?, Staged::new(out, true)?];
        let mut w = self.launch(what, staged, |s| Call::ReduceScatter(&s[0], &s[1], r))?;
        if op == ReduceOp::Avg {
            w.req = w.req.divide_by(self.size() as f64);
        }
        Ok(w)
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
        on_cpu(what, out)?;
        on_cpu(what, input)?;
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
        self.launch(what, staged, |s| Call::AllToAll(&s[0], ic, &s[1], oc))
    }

    /// `isend(t, dst, tag)`.
    pub fn send(&self, t: &Tensor, dst: usize, tag: i32) -> Result<Work> {
        let what = "send";
        on_cpu(what, t)?;
        self.check_rank(what, dst)?;
        if dst == self.rank {
            return Err(Error::Value(format!(
                "{what}: invalid destination rank: it should not be the same as the rank of the current process"
            )));
        }
        self.launch(what, vec![Staged::new(t, false)?], |s| {
            Call::Send(&s[0], dst, tag)
        })
    }

    /// `irecv(t, src, tag)`; `src` `None` receives from any rank (see [`Work::source`]).
    pub fn recv(&self, t: &Tensor, src: Option<usize>, tag: i32) -> Result<Work> {
        let what = "recv";
        on_cpu(what, t)?;
        if let Some(s) = src {
            self.check_rank(what, s)?;
            if s == self.rank {
                return Err(Error::Value(format!(
                    "{what}: invalid source rank: it should not be the same as the rank of the current process"
                )));
            }
        }
        self.launch(what, vec![Staged::new(t, true)?], |s| {
            Call::Recv(&s[0], src, tag)
        })
    }
}

/// Whether Open MPI can be opened on this machine.
pub fn is_mpi_available() -> bool {
    ffi::available()
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
