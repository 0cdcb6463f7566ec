//! `rustorch._C._ProcessGroup` and `_Work`: the process groups and collectives behind
//! `rustorch.distributed`. Arguments are converted here; ranks are group ranks (the Python
//! layer maps PyTorch's global ranks onto them).

use super::tensor::PyTensor;
use crate::distributed::{self, Group, ReduceOp, Work};
use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Duration;

fn op_arg(name: &str) -> PyResult<ReduceOp> {
    ReduceOp::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown ReduceOp {name}")))
}

fn timeout_arg(seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "timeout must be a positive number of seconds, got {seconds}"
        ))
    })
}

/// A collective in flight.
#[pyclass(name = "_Work", module = "rustorch._C")]
pub struct PyWork {
    work: Arc<Mutex<Work>>,
}

#[pymethods]
impl PyWork {
    /// Blocks (without the GIL) until the operation completes or `timeout` seconds (the
    /// group's timeout when None) pass.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let limit = timeout.map(timeout_arg).transpose()?;
        let work = self.work.clone();
        py.detach(move || work.lock().wait(limit))?;
        Ok(true)
    }
    fn is_completed(&self) -> PyResult<bool> {
        Ok(self.work.lock().is_completed()?)
    }
    /// The sender's group rank of a completed receive; `None` otherwise.
    fn _source(&self) -> Option<usize> {
        self.work.lock().source()
    }
}

fn work(w: crate::Result<Work>) -> PyResult<PyWork> {
    Ok(PyWork {
        work: Arc::new(Mutex::new(w?)),
    })
}

/// A process group over MPI.
#[pyclass(name = "_ProcessGroup", module = "rustorch._C")]
pub struct PyProcessGroup {
    group: Arc<Group>,
}

#[pymethods]
impl PyProcessGroup {
    /// The world group, serving CPU tensors if `cpu` and CUDA tensors if `cuda`;
    /// initialises MPI on first use.
    #[staticmethod]
    fn world(py: Python<'_>, timeout: f64, cpu: bool, cuda: bool) -> PyResult<PyProcessGroup> {
        let t = timeout_arg(timeout)?;
        let group = py.detach(move || Group::world(t))?;
        Ok(PyProcessGroup {
            group: Arc::new(group.serving(cpu, cuda)),
        })
    }
    /// The world of separately started processes whose rank 0 listens at `addr:port`
    /// (rendezvous without an MPI launcher).
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    fn join(
        py: Python<'_>,
        addr: String,
        port: u16,
        rank: usize,
        size: usize,
        timeout: f64,
        cpu: bool,
        cuda: bool,
    ) -> PyResult<PyProcessGroup> {
        let t = timeout_arg(timeout)?;
        let group = py.detach(move || Group::join(&addr, port, rank, size, t))?;
        Ok(PyProcessGroup {
            group: Arc::new(group.serving(cpu, cuda)),
        })
    }
    /// A group of world ranks `ranks` (collective); `None` on ranks outside it.
    fn subgroup(
        &self,
        py: Python<'_>,
        ranks: Vec<usize>,
        timeout: f64,
        cpu: bool,
        cuda: bool,
    ) -> PyResult<Option<PyProcessGroup>> {
        let t = timeout_arg(timeout)?;
        let parent = self.group.clone();
        let sub = py.detach(move || parent.subgroup(&ranks, t))?;
        Ok(sub.map(|g| PyProcessGroup {
            group: Arc::new(g.serving(cpu, cuda)),
        }))
    }
    fn rank(&self) -> usize {
        self.group.rank()
    }
    fn size(&self) -> usize {
        self.group.size()
    }
    /// The world ranks of the members, in group-rank order.
    fn ranks(&self) -> Vec<usize> {
        self.group.ranks().to_vec()
    }
    /// `device`: the CUDA device of an NCCL group's barrier (`device_ids[0]`).
    #[pyo3(signature = (device=None))]
    fn barrier(&self, device: Option<usize>) -> PyResult<PyWork> {
        work(self.group.barrier(device))
    }
    fn all_reduce(&self, t: PyRef<'_, PyTensor>, op: &str) -> PyResult<PyWork> {
        work(self.group.all_reduce(&t.inner, op_arg(op)?))
    }
    fn reduce(&self, t: PyRef<'_, PyTensor>, root: usize, op: &str) -> PyResult<PyWork> {
        work(self.group.reduce(&t.inner, root, op_arg(op)?))
    }
    fn broadcast(&self, t: PyRef<'_, PyTensor>, root: usize) -> PyResult<PyWork> {
        work(self.group.broadcast(&t.inner, root))
    }
    fn all_gather(&self, out: PyRef<'_, PyTensor>, t: PyRef<'_, PyTensor>) -> PyResult<PyWork> {
        work(self.group.all_gather(&out.inner, &t.inner))
    }
    #[pyo3(signature = (t, out, root))]
    fn gather(
        &self,
        t: PyRef<'_, PyTensor>,
        out: Option<PyRef<'_, PyTensor>>,
        root: usize,
    ) -> PyResult<PyWork> {
        work(
            self.group
                .gather(&t.inner, out.as_ref().map(|o| &o.inner), root),
        )
    }
    #[pyo3(signature = (out, input, root))]
    fn scatter(
        &self,
        out: PyRef<'_, PyTensor>,
        input: Option<PyRef<'_, PyTensor>>,
        root: usize,
    ) -> PyResult<PyWork> {
        work(
            self.group
                .scatter(&out.inner, input.as_ref().map(|i| &i.inner), root),
        )
    }
    fn reduce_scatter(
        &self,
        out: PyRef<'_, PyTensor>,
        input: PyRef<'_, PyTensor>,
        op: &str,
    ) -> PyResult<PyWork> {
        work(
            self.group
                .reduce_scatter(&out.inner, &input.inner, op_arg(op)?),
        )
    }
    fn all_to_all(
        &self,
        out: PyRef<'_, PyTensor>,
        input: PyRef<'_, PyTensor>,
        out_counts: Vec<usize>,
        in_counts: Vec<usize>,
    ) -> PyResult<PyWork> {
        work(
            self.group
                .all_to_all(&out.inner, &input.inner, &out_counts, &in_counts),
        )
    }
    fn send(&self, t: PyRef<'_, PyTensor>, dst: usize, tag: i32) -> PyResult<PyWork> {
        work(self.group.send(&t.inner, dst, tag))
    }
    #[pyo3(signature = (t, src, tag))]
    fn recv(&self, t: PyRef<'_, PyTensor>, src: Option<usize>, tag: i32) -> PyResult<PyWork> {
        work(self.group.recv(&t.inner, src, tag))
    }
}

/// Whether Open MPI can be opened (`is_mpi_available`).
#[pyfunction]
pub fn _mpi_available() -> bool {
    distributed::is_mpi_available()
}

/// Whether NCCL can be opened (`is_nccl_available`).
#[pyfunction]
pub fn _nccl_available() -> bool {
    distributed::is_nccl_available()
}

/// NCCL's version, `(major, minor, patch)` (`torch.cuda.nccl.version()`).
#[pyfunction]
pub fn _nccl_version() -> PyResult<(u32, u32, u32)> {
    Ok(distributed::nccl_version()?)
}

/// The MPI library's version text (`MPI_Get_library_version`).
#[pyfunction]
pub fn _mpi_library_version() -> PyResult<String> {
    Ok(distributed::mpi_library_version()?)
}

/// Ends MPI in this process (registered with `atexit`).
#[pyfunction]
pub fn _mpi_finalize(py: Python<'_>) {
    py.detach(distributed::finalize)
}

/// Ends every rank of the job with `code` (an uncaught exception on this rank).
#[pyfunction]
pub fn _mpi_abort(code: i32) {
    distributed::abort(code)
}
