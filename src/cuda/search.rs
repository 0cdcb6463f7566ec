//! Sorted search on a GPU (`Backend::search_sorted`), with the CPU backend's results
//! (`crate::cpu::search`): the kernel is `kernels/search.cu`, one thread per value.

use super::buffer::CudaBuffer;
use super::device::{grid_for, Args, Kernel};
use super::kernels::{self, SEARCH};
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;

/// For each of the contiguous `values` (`per_row` per row), its insertion point in its row
/// of the contiguous sorted `seq` (`seq_rows × len`), as int64 or int32 (`out`).
pub fn search_sorted(
    seq: &CudaBuffer,
    seq_rows: usize,
    len: usize,
    values: &CudaBuffer,
    per_row: usize,
    right: bool,
    out: DType,
) -> Result<CudaBuffer> {
    let dtype = seq.dtype();
    if !kernels::has_kernel(&SEARCH, "search_sorted", dtype) || values.dtype() != dtype {
        return Err(Error::NotImplemented(format!(
            "\"searchsorted_cuda\" not implemented for '{}'",
            dtype.scalar_name()
        )));
    }
    let dev = seq.dev();
    let n = values.len();
    let result = CudaBuffer::alloc(dev, n, out)?;
    if n == 0 {
        return Ok(result);
    }
    let (grid, block) = grid_for(dev.as_ref(), n);
    let mut args = Args::new();
    args.arg(result.device_ptr())
        .arg(seq.device_ptr())
        .arg(values.device_ptr())
        .arg(n as i64)
        .arg(seq_rows as i64)
        .arg(len as i64)
        .arg(per_row as i64)
        .arg(i32::from(right))
        .arg(i32::from(out == DType::I32));
    dev.launch(
        Kernel {
            file: &SEARCH,
            name: "search_sorted",
        },
        dtype,
        grid,
        block,
        &mut args,
    )?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;
    use crate::tensor::layout::Layout;

    /// Sorted rows (the CPU's sort of test data, NaN last) searched for values drawn from
    /// the same range, both sides, both output types, shared and per-row boundaries.
    #[test]
    fn search_sorted_matches_the_cpu() {
        if !available("search_sorted") {
            return;
        }
        let dev = HostDevice::open();
        for &dtype in kernels::NUMERIC {
            for (seq_rows, len, rows, per_row) in [
                (1, 7, 1, 50),
                (3, 40, 3, 9),
                (1, 0, 1, 5),
                (2, 5, 2, 0),
                (1, 300, 1, 2000),
            ] {
                let raw = data(dtype, seq_rows * len, 11, true);
                let rl = Layout::contiguous(&[seq_rows, len]);
                let order = Cpu::sort(&raw, &rl, seq_rows, len, false, len).unwrap();
                let seq = sorted_rows(&raw, &order, seq_rows, len);
                let vals = data(dtype, rows * per_row, 5, true);
                for right in [false, true] {
                    for out in [DType::I64, DType::I32] {
                        let what = format!("{dtype:?} {seq_rows}×{len} right={right} {out:?}");
                        let got = search_sorted(
                            &put(&dev, &seq),
                            seq_rows,
                            len,
                            &put(&dev, &vals),
                            per_row,
                            right,
                            out,
                        )
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                        let want =
                            Cpu::search_sorted(&seq, seq_rows, len, &vals, per_row, right, out)
                                .unwrap();
                        assert_eq!(got.dtype(), out, "{what}");
                        assert_eq!(get(&got), as_f64(&want), "{what}");
                    }
                }
            }
        }
        let b = put(&dev, &HostBuffer::from_vec(vec![true]));
        assert!(matches!(
            search_sorted(&b, 1, 1, &b, 1, false, DType::I64),
            Err(Error::NotImplemented(_))
        ));
    }

    /// Row `r` of `x` taken in the order of row `r` of the int64 `order`.
    fn sorted_rows(x: &HostBuffer, order: &HostBuffer, rows: usize, len: usize) -> HostBuffer {
        let o = order.as_slice::<i64>();
        crate::with_dtype!(x.dtype(), T, {
            let v = x.as_slice::<T>();
            let mut out = Vec::with_capacity(rows * len);
            for r in 0..rows {
                for j in 0..len {
                    out.push(v[r * len + o[r * len + j] as usize]);
                }
            }
            HostBuffer::from_vec(out)
        })
    }
}
