//! The CPU backend ([`Cpu`]) and its kernels. They see slices, layouts and dtypes — never
//! autograd.

#[cfg(target_arch = "x86_64")]
mod amx;
pub mod attention;
mod backend;
pub mod conv;
pub mod copy;
pub mod elementwise;
pub mod fused;
pub mod im2col;
pub mod index;
pub mod math;
pub mod matmul;
pub mod norm;
pub mod panel;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod resample;
pub mod rnn;
pub mod roi;
pub mod scan;
pub mod search;
pub mod sort;
pub mod strided;
pub mod team;
pub mod threads;
pub mod window;
pub mod winograd;

pub use backend::Cpu;

/// Below this many elements a kernel runs on the calling thread: handing a small tensor to
/// the rayon pool costs more than computing it.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// The length of each thread's part when a contiguous pass over `n` elements is split over
/// the team: one contiguous part per thread (a multiple of 64 elements, whole cache lines),
/// rather than many small rayon jobs that wake sleeping workers.
pub fn team_part(n: usize) -> usize {
    n.div_ceil(team::parts()).next_multiple_of(64).max(64)
}

/// `s` as initialised elements.
///
/// # Safety
/// Every element of `s` must have been written.
pub(crate) unsafe fn assume_init<T>(s: &mut [std::mem::MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the caller vouches for every element.
    unsafe { &mut *(s as *mut [std::mem::MaybeUninit<T>] as *mut [T]) }
}

/// `s` filled with zeros, as initialised elements: for a block of an unwritten vector that
/// is zeroed by the thread about to write it (while it is in that core's cache), rather
/// than by a `vec![0; n]` of the whole vector on the calling thread beforehand.
pub(crate) fn zero_init<T: crate::backend::num::Num>(
    s: &mut [std::mem::MaybeUninit<T>],
) -> &mut [T] {
    s.fill(std::mem::MaybeUninit::new(T::zero()));
    // SAFETY: every element was just written.
    unsafe { assume_init(s) }
}

/// `s` as initialised elements, read-only.
///
/// # Safety
/// Every element of `s` must have been written.
pub(crate) unsafe fn assume_init_ref<T>(s: &[std::mem::MaybeUninit<T>]) -> &[T] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the caller vouches for every element.
    unsafe { &*(s as *const [std::mem::MaybeUninit<T>] as *const [T]) }
}

/// A vector of `n` elements none of which is written yet (see [`vec_assume_init`]).
pub(crate) fn uninit_vec<T>(n: usize) -> Vec<std::mem::MaybeUninit<T>> {
    let mut v = Vec::with_capacity(n);
    v.resize_with(n, std::mem::MaybeUninit::uninit);
    v
}

/// `v` as a vector of `T`, in place.
///
/// # Safety
/// Every element of `v` must have been written.
pub(crate) unsafe fn vec_assume_init<T>(v: Vec<std::mem::MaybeUninit<T>>) -> Vec<T> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: `MaybeUninit<T>` has `T`'s size and alignment, so the allocation holds
    // `capacity` `T`s; the caller vouches for the first `len`; `v` is not dropped.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<T>(), v.len(), v.capacity()) }
}

/// A vector of `n` elements written by `fill`, with no zero-fill first: a fresh output
/// filled with zeros and then overwritten costs a third more memory traffic (the `memset`
/// was 16% of a large `a + b`).
///
/// # Safety
/// `fill` must write every element of the slice it is handed.
pub unsafe fn write_new_vec<T>(
    n: usize,
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<T>]),
) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    fill(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: the capacity is at least `n`, and the caller promises `fill` initialised all
    // `n` elements.
    unsafe { v.set_len(n) };
    v
}
