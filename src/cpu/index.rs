//! Indexing kernels: advanced-index gathers and puts, `gather`/`scatter` along a dim, and
//! `nonzero`. Indices are int64 and bounds-checked here, as the values are read.

use super::strided::{broadcast_strides, walk, walk_runs};
use super::team;
use crate::error::{Error, Result};
use crate::tensor::dtype::Element;
use crate::tensor::layout::Layout;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

fn out_of_bounds(v: i64, dim: usize, size: usize) -> Error {
    Error::Index(format!(
        "index {v} is out of bounds for dimension {dim} with size {size}"
    ))
}

/// For each entry of `shape`, the element offset that the advanced indices select in the
/// leading dims of `l` (index `j` indexes dim `j`; negative values wrap).
pub fn advanced_offsets(
    l: &Layout,
    indices: &[(&[i64], &Layout)],
    shape: &[usize],
) -> Result<Vec<isize>> {
    let n: usize = shape.iter().product();
    let mut offs = vec![l.offset as isize; n];
    let rest_empty = l.shape.get(indices.len()..).is_some_and(|r| r.contains(&0));
    if rest_empty && l.shape[..indices.len()].iter().all(|&s| s > 0) {
        // Nothing is read or written past the indices: PyTorch checks no index then (but
        // it does refuse any index into an empty dim).
        return Ok(offs);
    }
    for (d, (data, il)) in indices.iter().enumerate() {
        let size = l.shape[d];
        let stride = l.strides[d];
        let st = broadcast_strides(&il.shape, &il.strides, shape);
        let mut i = 0;
        let mut bad = None;
        walk(shape, [&st], [il.offset], |[o]| {
            let raw = data[o];
            let v = if raw < 0 { raw + size as i64 } else { raw };
            if v < 0 || v >= size as i64 {
                bad.get_or_insert(raw);
            } else {
                offs[i] += v as isize * stride;
            }
            i += 1;
        });
        if let Some(v) = bad {
            return Err(out_of_bounds(v, d, size));
        }
    }
    Ok(offs)
}

/// The `rest` block at each offset, concatenated. Blocks that are contiguous in memory (a
/// batch of samples) are copied as slices, split over the team when large.
pub fn gather_rows<T: Element>(src: &[T], offs: &[isize], rest: &Layout) -> Vec<T> {
    let n = rest.numel();
    if rest.is_contiguous() && n > 0 {
        let copy = |(dst, offs): (&mut [MaybeUninit<T>], &[isize])| {
            for (dst, &o) in dst.chunks_mut(n).zip(offs) {
                let row = &src[o as usize..o as usize + n];
                for (d, &s) in dst.iter_mut().zip(row) {
                    d.write(s);
                }
            }
        };
        // SAFETY: the parts cover every row of the output, and each row is written whole.
        return unsafe {
            super::write_new_vec(offs.len() * n, |v| {
                if v.len() >= super::PAR_THRESHOLD {
                    let rows = offs.len().div_ceil(team::parts());
                    let items = v.chunks_mut(rows * n).zip(offs.chunks(rows)).collect();
                    team::for_each_part(items, copy);
                } else {
                    copy((v, offs));
                }
            })
        };
    }
    let mut v: Vec<T> = Vec::with_capacity(offs.len() * n);
    for &o in offs {
        walk(&rest.shape, [&rest.strides], [o as usize], |[s]| {
            v.push(src[s])
        });
    }
    v
}

/// Writes (or adds) the values at `vals` (read through `vl`, broadcast to `index_shape +
/// rest.shape`) into the `rest` block at each offset of `dst` (one per index entry).
pub fn put_rows<T: Element>(
    dst: &mut [T],
    offs: &[isize],
    index_shape: &[usize],
    rest: &Layout,
    vals: &[T],
    vl: &Layout,
    accumulate: bool,
) {
    let mut shape = index_shape.to_vec();
    shape.extend_from_slice(&rest.shape);
    let vstr = broadcast_strides(&vl.shape, &vl.strides, &shape);
    let rest_n = rest.numel();
    let nd = index_shape.len();
    let value_row = Layout {
        shape: rest.shape.clone(),
        strides: vstr[nd..].to_vec(),
        offset: 0,
    };
    if rest_n > 0 && rest.is_contiguous() && value_row.is_contiguous() {
        // Rows in and out (`index_add_`, `index_copy_`, `x[idx] = v` of whole rows): each
        // index's row of values put in with one slice operation.
        let mut b = 0;
        walk(index_shape, [&vstr[..nd]], [vl.offset], |[so]| {
            let d = offs[b] as usize;
            b += 1;
            let (row, v) = (&mut dst[d..d + rest_n], &vals[so..so + rest_n]);
            if accumulate {
                row.iter_mut()
                    .zip(v)
                    .for_each(|(x, &v)| *x = add_elem(*x, v));
            } else {
                row.copy_from_slice(v);
            }
        });
        return;
    }
    let mut src_offs = Vec::with_capacity(offs.len() * rest_n);
    walk(&shape, [&vstr], [vl.offset], |[o]| src_offs.push(o));
    for (b, &o) in offs.iter().enumerate() {
        let mut j = b * rest_n;
        walk(&rest.shape, [&rest.strides], [o as usize], |[d]| {
            let v = vals[src_offs[j]];
            dst[d] = if accumulate { add_elem(dst[d], v) } else { v };
            j += 1;
        });
    }
}

/// `a + b` for any element type (wrapping for integers, logical or for bool).
fn add_elem<T: Element>(a: T, b: T) -> T {
    if T::DTYPE.is_float() {
        T::from_f64(a.to_f64() + b.to_f64())
    } else {
        T::from_i64(a.to_i64().wrapping_add(b.to_i64()))
    }
}

/// The strides that walk `src` (or `dst`) alongside an index of shape `il.shape`: `l`'s
/// strides, with dim `dim` left to the index values.
fn beside_index(l: &Layout, il: &Layout, dim: usize) -> Vec<isize> {
    if il.shape.is_empty() {
        return vec![];
    }
    let mut s = l.strides.clone();
    s[dim] = 0;
    s
}

/// `out[..., j, ...] = src[..., idx[..., j, ...], ...]` along `dim`, in the index's shape.
pub fn gather_dim<T: Element>(
    src: &[T],
    sl: &Layout,
    dim: usize,
    idx: &[i64],
    il: &Layout,
) -> Result<Vec<T>> {
    let size = sl.shape.get(dim).copied().unwrap_or(1);
    let stride_d = sl.strides.get(dim).copied().unwrap_or(0);
    let sstr = beside_index(sl, il, dim);
    let (strides, offsets) = ([&il.strides[..], &sstr[..]], [il.offset, sl.offset]);
    // gather takes no negative indices (unlike indexing), as PyTorch.
    let fits = |i: i64| (0..size as i64).contains(&i);
    let bad = AtomicBool::new(false);
    // SAFETY: each part walks its own range of the index's elements in order, and writes
    // the output element of each.
    let v = unsafe {
        super::elementwise::new_in_parts(il.numel(), |start, o: &mut [MaybeUninit<T>]| {
            let mut j = 0;
            let range = start..start + o.len();
            walk_runs(
                &il.shape,
                strides,
                offsets,
                range,
                |[io, so], len, [si, ss]| {
                    for t in 0..len as isize {
                        let i = idx[(io as isize + t * si) as usize];
                        o[j].write(if fits(i) {
                            src[(so as isize + t * ss + i as isize * stride_d) as usize]
                        } else {
                            bad.store(true, Ordering::Relaxed);
                            T::default()
                        });
                        j += 1;
                    }
                },
            );
        })
    };
    if !bad.load(Ordering::Relaxed) {
        return Ok(v);
    }
    // The first index out of range, in the index's order, for the message.
    let mut first = None;
    walk(&il.shape, [&il.strides], [il.offset], |[io]| {
        if !fits(idx[io]) {
            first.get_or_insert(idx[io]);
        }
    });
    Err(Error::Runtime(format!(
        "index {} is out of bounds for dimension {dim} with size {size}",
        first.unwrap_or_default()
    )))
}

/// `dst[..., idx[..., j, ...], ...] = src[..., j, ...]` (or `+=`) along `dim`; `src` is read
/// through `srcl` in the index's shape.
#[allow(clippy::too_many_arguments)]
pub fn scatter_dim<T: Element>(
    dst: &mut [T],
    dl: &Layout,
    dim: usize,
    idx: &[i64],
    il: &Layout,
    src: &[T],
    srcl: &Layout,
    accumulate: bool,
) -> Result<()> {
    let size = dl.shape.get(dim).copied().unwrap_or(1);
    let stride_d = dl.strides.get(dim).copied().unwrap_or(0);
    let ostr = beside_index(dl, il, dim);
    let sstr = broadcast_strides(&srcl.shape, &srcl.strides, &il.shape);
    let mut bad = None;
    walk(
        &il.shape,
        [&il.strides, &ostr, &sstr],
        [il.offset, dl.offset, srcl.offset],
        |[io, oo, so]| {
            let i = idx[io];
            if i < 0 || i >= size as i64 {
                bad.get_or_insert(i);
                return;
            }
            let at = (oo as isize + i as isize * stride_d) as usize;
            dst[at] = if accumulate {
                add_elem(dst[at], src[so])
            } else {
                src[so]
            };
        },
    );
    match bad {
        Some(i) => Err(Error::Runtime(format!(
            "index {i} is out of bounds for dimension {dim} with size {size}"
        ))),
        None => Ok(()),
    }
}

/// The row-major positions of the nonzero elements of the view: `count × ndim` int64.
pub fn nonzero<T: Element>(data: &[T], l: &Layout) -> (Vec<i64>, usize) {
    let shape = &l.shape;
    let nd = shape.len();
    let mut out: Vec<i64> = vec![];
    let mut count = 0;
    let mut idx = vec![0usize; nd];
    let mut first = true;
    walk(shape, [&l.strides], [l.offset], |[o]| {
        if !first {
            for d in (0..nd).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        first = false;
        if data[o].is_nonzero() {
            out.extend(idx.iter().map(|&v| v as i64));
            count += 1;
        }
    });
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_walks_strided_views_in_row_major_order() {
        // [[0, 1], [2, 0]] stored transposed.
        let data = [0i64, 2, 1, 0];
        let l = Layout {
            shape: vec![2, 2],
            strides: vec![1, 2],
            offset: 0,
        };
        assert_eq!(nonzero(&data, &l), (vec![0, 1, 1, 0], 2));
    }

    #[test]
    fn advanced_offsets_wrap_and_check() {
        let l = Layout::contiguous(&[3, 4]);
        let idx = [-1i64, 0];
        let il = Layout::contiguous(&[2]);
        assert_eq!(
            advanced_offsets(&l, &[(&idx, &il)], &[2]).unwrap(),
            vec![8, 0]
        );
        let bad = [3i64];
        let e = advanced_offsets(&l, &[(&bad, &Layout::contiguous(&[1]))], &[1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "index 3 is out of bounds for dimension 0 with size 3"
        );
    }
}
