//! A caching device-memory allocator, modelled on PyTorch's `CUDACachingAllocator`.
//!
//! `cudaMalloc`/`cudaFree` are slow and synchronize the device, so tensors do not call them
//! directly: memory obtained from the device ([`DeviceMemory::malloc`]) is kept in *segments*
//! that are carved into *blocks*, and a released block goes back to a cache for the next
//! request instead of back to the device. The rules are PyTorch's:
//!
//! - Request sizes round up to a multiple of 512 bytes, at least 512 ([`round_size`]); a
//!   request of 0 bytes gets a 512-byte block, so every tensor has a real address.
//! - Two pools: *small* (rounded size <= 1 MiB) and *large*. A small request that finds no
//!   cached block allocates a 2 MiB segment; a large request under 10 MiB a 20 MiB segment;
//!   a larger one its size rounded up to a multiple of 2 MiB. A segment, and every block cut
//!   from it, belongs to the pool it was allocated for.
//! - Best fit: the smallest free block of the pool that is large enough, lowest address
//!   first among equal sizes. To limit fragmentation, a large request of 10 MiB or more does
//!   not take a free block more than 20 MiB larger than itself (it allocates a new segment).
//! - Splitting: when the chosen block is larger than needed, the remainder stays a free block
//!   of the same segment if it is at least 512 bytes (small pool) or more than 1 MiB (large
//!   pool); otherwise the caller gets the whole block and [`Block::size`] says so.
//! - Merging: a released block merges with its free neighbours in the same segment, so a
//!   segment whose blocks are all released is again one free block.
//! - Out of memory: when the device refuses a segment, every entirely free segment is given
//!   back ([`CachingAllocator::empty_cache`]) and the allocation is retried once; if that
//!   fails too the caller gets an [`OutOfMemory`] and the allocator stays usable.
//!
//! Simplified relative to PyTorch: there is one stream (no per-stream pools, no events to
//! wait on before reuse), no expandable segments, no `max_split_size_mb` and no
//! garbage-collection threshold, and the out-of-memory path empties the whole cache at once
//! rather than first freeing the oldest cached blocks. The allocator is not thread-safe by
//! itself (it takes `&mut self`): one shared across threads needs a lock around it. Dropping it does not give
//! memory back to the device: the owner of the [`DeviceMemory`] decides that.
//!
//! Everything device-specific goes through the [`DeviceMemory`] trait, so the bookkeeping is
//! unit-tested here with a fake device. No path panics on bad input: releasing a block the
//! allocator did not hand out is a `debug_assert!` and otherwise ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Every block size is a multiple of this (PyTorch's `kMinBlockSize`).
pub const MIN_BLOCK_SIZE: usize = 512;
/// The largest rounded request served from the small pool (`kSmallSize`, 1 MiB).
pub const SMALL_SIZE: usize = 1 << 20;
/// The size of a small-pool segment (`kSmallBuffer`, 2 MiB).
pub const SMALL_BUFFER: usize = 2 << 20;
/// The size of a segment for a large request under [`MIN_LARGE_ALLOC`] (`kLargeBuffer`, 20 MiB).
pub const LARGE_BUFFER: usize = 20 << 20;
/// Large requests from this size on get a segment of their own size (`kMinLargeAlloc`, 10 MiB).
pub const MIN_LARGE_ALLOC: usize = 10 << 20;
/// Segments for requests of [`MIN_LARGE_ALLOC`] or more round up to this (`kRoundLarge`, 2 MiB).
pub const ROUND_LARGE: usize = 2 << 20;

/// Raw device memory: the driver in production, a fake in tests.
pub trait DeviceMemory {
    /// Allocates `bytes` of device memory; Err(()) when the device is out of memory.
    #[allow(clippy::result_unit_err)]
    fn malloc(&mut self, bytes: usize) -> Result<u64, ()>;
    /// Frees memory returned by `malloc`.
    fn free(&mut self, ptr: u64);
}

/// One allocation handed to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The device address of the block.
    pub ptr: u64,
    /// The rounded size actually reserved for it (at least the requested size).
    pub size: usize,
}

/// Byte counts, like `torch.cuda.memory_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in blocks handed out (rounded sizes), like `torch.cuda.memory_allocated`.
    pub allocated: usize,
    /// Peak of `allocated` since creation or the last [`CachingAllocator::reset_peak`].
    pub max_allocated: usize,
    /// Bytes obtained from [`DeviceMemory`] and not yet freed (`memory_reserved`).
    pub reserved: usize,
    /// Peak of `reserved` since creation or the last [`CachingAllocator::reset_peak`].
    pub max_reserved: usize,
    /// Times a malloc failed, the cache was emptied, and it was retried.
    pub num_alloc_retries: usize,
    /// Allocations that failed even after the retry (or were too large to round).
    pub num_ooms: usize,
}

/// Why an allocation failed after freeing the cache and retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfMemory {
    /// The caller's request in bytes, before rounding.
    pub requested: usize,
    /// [`MemoryStats::allocated`] when the allocation failed.
    pub allocated: usize,
    /// [`MemoryStats::reserved`] when the allocation failed.
    pub reserved: usize,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of memory: tried to allocate {} bytes ({} bytes allocated, {} bytes reserved \
             in total by the caching allocator)",
            self.requested, self.allocated, self.reserved
        )
    }
}

impl std::error::Error for OutOfMemory {}

/// PyTorch's rounding: the smallest multiple of 512 that is >= `bytes`, and at least 512.
///
/// Requests within 511 bytes of `usize::MAX`, which no device can satisfy, saturate at the
/// largest multiple of 512 (less than the request); [`CachingAllocator::allocate`] reports
/// them as out of memory.
pub const fn round_size(bytes: usize) -> usize {
    if bytes <= MIN_BLOCK_SIZE {
        return MIN_BLOCK_SIZE;
    }
    match bytes.checked_next_multiple_of(MIN_BLOCK_SIZE) {
        Some(rounded) => rounded,
        None => usize::MAX - usize::MAX % MIN_BLOCK_SIZE,
    }
}

/// The segment size to allocate for a rounded request that found no cached block; `None`
/// when it overflows.
fn segment_size(rounded: usize) -> Option<usize> {
    if rounded <= SMALL_SIZE {
        Some(SMALL_BUFFER)
    } else if rounded < MIN_LARGE_ALLOC {
        Some(LARGE_BUFFER)
    } else {
        rounded.checked_next_multiple_of(ROUND_LARGE)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pool {
    Small,
    Large,
}

/// The bookkeeping for one block, free or handed out. Blocks of a segment form a doubly
/// linked list in address order through `prev`/`next` (addresses of the neighbours).
#[derive(Debug, Clone, Copy)]
struct BlockRecord {
    /// Base address of the segment the block lies in.
    segment: u64,
    size: usize,
    prev: Option<u64>,
    next: Option<u64>,
    allocated: bool,
    pool: Pool,
}

/// A caching allocator over a [`DeviceMemory`]; see the module documentation.
#[derive(Debug)]
pub struct CachingAllocator<M: DeviceMemory> {
    mem: M,
    /// Every block, free or handed out, by address.
    blocks: BTreeMap<u64, BlockRecord>,
    /// Every segment obtained from `mem`: base address -> size.
    segments: BTreeMap<u64, usize>,
    /// Free blocks of the small pool, ordered by (size, address) for best fit.
    small_free: BTreeSet<(usize, u64)>,
    /// Free blocks of the large pool.
    large_free: BTreeSet<(usize, u64)>,
    stats: MemoryStats,
}

impl<M: DeviceMemory> CachingAllocator<M> {
    /// An allocator with an empty cache over `mem`.
    pub fn new(mem: M) -> Self {
        CachingAllocator {
            mem,
            blocks: BTreeMap::new(),
            segments: BTreeMap::new(),
            small_free: BTreeSet::new(),
            large_free: BTreeSet::new(),
            stats: MemoryStats::default(),
        }
    }

    /// A block of at least `bytes` bytes (512 for `bytes == 0`), from the cache when a free
    /// block fits, else from a new segment. On failure the cache has been emptied and the
    /// device asked again (except for sizes whose rounding overflows `usize`, which fail at
    /// once); the error carries the request and the current stats.
    pub fn allocate(&mut self, bytes: usize) -> Result<Block, OutOfMemory> {
        let rounded = round_size(bytes);
        if rounded < bytes {
            return Err(self.out_of_memory(bytes));
        }
        let pool = if rounded <= SMALL_SIZE {
            Pool::Small
        } else {
            Pool::Large
        };
        let cached = self.take_cached(pool, rounded);
        match cached.or_else(|| self.new_segment(pool, rounded)) {
            Some((ptr, record)) => Ok(self.hand_out(ptr, record, rounded)),
            None => Err(self.out_of_memory(bytes)),
        }
    }

    /// Returns a block to the cache, merging it with free neighbours of its segment. The
    /// memory stays reserved until [`empty_cache`](Self::empty_cache). A block this allocator
    /// did not hand out (or already took back) is a `debug_assert!` failure and is otherwise
    /// ignored.
    pub fn release(&mut self, block: Block) {
        let known = self.try_release(block);
        debug_assert!(known, "release of a block not handed out: {block:?}");
    }

    /// Frees every segment that is entirely free back to the [`DeviceMemory`]; segments with
    /// a block still handed out stay.
    pub fn empty_cache(&mut self) {
        // A segment is entirely free when one free block starts at its base and spans it.
        let spans_segment = |&&(size, ptr): &&(usize, u64)| self.segments.get(&ptr) == Some(&size);
        let free = self.small_free.iter().chain(&self.large_free);
        let free_segments: Vec<(usize, u64)> = free.filter(spans_segment).copied().collect();
        for (size, ptr) in free_segments {
            if let Some(record) = self.blocks.remove(&ptr) {
                self.free_set(record.pool).remove(&(size, ptr));
            }
            self.segments.remove(&ptr);
            self.mem.free(ptr);
            self.stats.reserved -= size;
        }
    }

    /// The current statistics.
    pub fn stats(&self) -> MemoryStats {
        self.stats
    }

    /// Resets the peaks: `max_allocated = allocated`, `max_reserved = reserved`.
    pub fn reset_peak(&mut self) {
        self.stats.max_allocated = self.stats.allocated;
        self.stats.max_reserved = self.stats.reserved;
    }

    /// The underlying [`DeviceMemory`].
    pub fn memory(&mut self) -> &mut M {
        &mut self.mem
    }

    fn free_set(&mut self, pool: Pool) -> &mut BTreeSet<(usize, u64)> {
        match pool {
            Pool::Small => &mut self.small_free,
            Pool::Large => &mut self.large_free,
        }
    }

    /// Counts an OOM and describes it.
    fn out_of_memory(&mut self, requested: usize) -> OutOfMemory {
        self.stats.num_ooms += 1;
        OutOfMemory {
            requested,
            allocated: self.stats.allocated,
            reserved: self.stats.reserved,
        }
    }

    /// Removes the best-fitting free block of `pool` for `rounded` bytes from the free set.
    fn take_cached(&mut self, pool: Pool, rounded: usize) -> Option<(u64, BlockRecord)> {
        let free = self.free_set(pool);
        let &(size, ptr) = free.range((rounded, 0)..).next()?;
        // A large request does not take a block more than LARGE_BUFFER larger than itself;
        // the best fit is the smallest candidate, so no other block qualifies either.
        if pool == Pool::Large && rounded >= MIN_LARGE_ALLOC && size - rounded > LARGE_BUFFER {
            return None;
        }
        free.remove(&(size, ptr));
        let record = self.blocks.get(&ptr).copied();
        debug_assert!(record.is_some(), "free block {ptr:#x} has no record");
        record.map(|record| (ptr, record))
    }

    /// Mallocs a segment for `rounded` bytes (emptying the cache and retrying once when the
    /// device refuses) and records it as one free block, not in the free set.
    fn new_segment(&mut self, pool: Pool, rounded: usize) -> Option<(u64, BlockRecord)> {
        let size = segment_size(rounded)?;
        let ptr = match self.device_malloc(size) {
            Some(ptr) => ptr,
            None => {
                self.empty_cache();
                self.stats.num_alloc_retries += 1;
                self.device_malloc(size)?
            }
        };
        debug_assert!(!self.segments.contains_key(&ptr), "a live address again");
        let record = BlockRecord {
            segment: ptr,
            size,
            prev: None,
            next: None,
            allocated: false,
            pool,
        };
        self.segments.insert(ptr, size);
        self.blocks.insert(ptr, record);
        self.stats.reserved += size;
        self.stats.max_reserved = self.stats.max_reserved.max(self.stats.reserved);
        Some((ptr, record))
    }

    /// `mem.malloc`, refusing (and freeing) a segment whose end would overflow `u64`.
    fn device_malloc(&mut self, size: usize) -> Option<u64> {
        let ptr = self.mem.malloc(size).ok()?;
        if ptr.checked_add(size as u64).is_none() {
            self.mem.free(ptr);
            return None;
        }
        Some(ptr)
    }

    /// Marks the free block at `ptr` (already out of the free set) as handed out, splitting
    /// off the remainder when the pool's rule allows.
    fn hand_out(&mut self, ptr: u64, mut record: BlockRecord, rounded: usize) -> Block {
        let remaining = record.size - rounded;
        let split = match record.pool {
            Pool::Small => remaining >= MIN_BLOCK_SIZE,
            Pool::Large => remaining > SMALL_SIZE,
        };
        if split {
            let rest_ptr = ptr + rounded as u64;
            let rest = BlockRecord {
                size: remaining,
                prev: Some(ptr),
                ..record
            };
            if let Some(next) = record.next.and_then(|n| self.blocks.get_mut(&n)) {
                next.prev = Some(rest_ptr);
            }
            self.blocks.insert(rest_ptr, rest);
            self.free_set(record.pool).insert((remaining, rest_ptr));
            record.size = rounded;
            record.next = Some(rest_ptr);
        }
        record.allocated = true;
        self.blocks.insert(ptr, record);
        self.stats.allocated += record.size;
        self.stats.max_allocated = self.stats.max_allocated.max(self.stats.allocated);
        let size = record.size;
        Block { ptr, size }
    }

    /// The block at `ptr` if there is one, it is free, and it lies in `segment`.
    fn free_neighbour(&self, ptr: Option<u64>, segment: u64) -> Option<(u64, BlockRecord)> {
        let ptr = ptr?;
        let record = self.blocks.get(&ptr)?;
        (!record.allocated && record.segment == segment).then_some((ptr, *record))
    }

    /// [`release`](Self::release) without the assertion: `false` (and nothing changed) when
    /// `block` is not a block currently handed out by this allocator.
    fn try_release(&mut self, block: Block) -> bool {
        let mut record = match self.blocks.get(&block.ptr) {
            Some(r) if r.allocated && r.size == block.size => *r,
            _ => return false,
        };
        self.stats.allocated -= record.size;
        record.allocated = false;
        let mut ptr = block.ptr;
        if let Some((prev_ptr, prev)) = self.free_neighbour(record.prev, record.segment) {
            self.free_set(prev.pool).remove(&(prev.size, prev_ptr));
            self.blocks.remove(&ptr);
            record.size += prev.size;
            record.prev = prev.prev;
            ptr = prev_ptr;
        }
        if let Some((next_ptr, next)) = self.free_neighbour(record.next, record.segment) {
            self.free_set(next.pool).remove(&(next.size, next_ptr));
            self.blocks.remove(&next_ptr);
            record.size += next.size;
            record.next = next.next;
        }
        if let Some(next) = record.next.and_then(|n| self.blocks.get_mut(&n)) {
            next.prev = Some(ptr);
        }
        self.blocks.insert(ptr, record);
        self.free_set(record.pool).insert((record.size, ptr));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    /// A fake device: increasing addresses with gaps, a capacity, and strict free checking.
    #[derive(Debug, Default)]
    struct FakeMemory {
        next: u64,
        capacity: usize,
        used: usize,
        live: BTreeMap<u64, usize>,
        mallocs: usize,
    }

    impl DeviceMemory for FakeMemory {
        fn malloc(&mut self, bytes: usize) -> Result<u64, ()> {
            if bytes > self.capacity - self.used {
                return Err(());
            }
            let ptr = 0x7f00_0000_0000 + self.next;
            self.next += bytes as u64 + 4096;
            self.used += bytes;
            self.mallocs += 1;
            self.live.insert(ptr, bytes);
            Ok(ptr)
        }
        fn free(&mut self, ptr: u64) {
            let bytes = self.live.remove(&ptr).expect("free of an unknown address");
            self.used -= bytes;
        }
    }

    type Alloc = CachingAllocator<FakeMemory>;

    /// An allocator over a fake device of `capacity` bytes.
    fn fake(capacity: usize) -> Alloc {
        CachingAllocator::new(FakeMemory {
            capacity,
            ..FakeMemory::default()
        })
    }

    fn blk(ptr: u64, size: usize) -> Block {
        Block { ptr, size }
    }

    /// The fake device's live allocations, as (address, size).
    fn device(a: &Alloc) -> Vec<(u64, usize)> {
        a.mem.live.iter().map(|(&p, &s)| (p, s)).collect()
    }

    /// (allocated, max_allocated, reserved, max_reserved).
    fn usage(a: &Alloc) -> (usize, usize, usize, usize) {
        let s = a.stats();
        (s.allocated, s.max_allocated, s.reserved, s.max_reserved)
    }

    /// Checks the internal bookkeeping against itself and against the fake device.
    fn check_invariants(a: &Alloc) {
        assert_eq!(a.segments, a.mem.live, "segments = device allocations");
        let (mut free, mut allocated, mut visited) = (BTreeSet::new(), 0, 0);
        for (&base, &seg_size) in &a.segments {
            let (mut ptr, mut prev, mut prev_free, mut offset) = (Some(base), None, false, 0);
            while let Some(p) = ptr {
                let r = a.blocks[&p];
                assert_eq!((r.segment, r.prev, p), (base, prev, base + offset as u64));
                assert_eq!(r.pool == Pool::Small, seg_size == SMALL_BUFFER);
                assert!(r.size >= MIN_BLOCK_SIZE && r.size.is_multiple_of(MIN_BLOCK_SIZE));
                if r.allocated {
                    allocated += r.size;
                } else {
                    assert!(!prev_free, "two adjacent free blocks were not merged");
                    free.insert((r.pool, r.size, p));
                }
                (prev, prev_free, ptr) = (Some(p), !r.allocated, r.next);
                offset += r.size;
                visited += 1;
            }
            assert_eq!(offset, seg_size, "blocks cover the segment exactly");
        }
        assert_eq!(visited, a.blocks.len(), "every block lies in a segment");
        let small = a.small_free.iter().map(|&(s, p)| (Pool::Small, s, p));
        let large = a.large_free.iter().map(|&(s, p)| (Pool::Large, s, p));
        let sets: BTreeSet<_> = small.chain(large).collect();
        assert_eq!(free, sets, "the free sets hold exactly the free blocks");
        let (al, max_al, re, max_re) = usage(a);
        assert_eq!((al, re), (allocated, a.segments.values().sum::<usize>()));
        assert!(max_al >= al && max_re >= re);
    }

    #[test]
    fn rounding() {
        assert_eq!([0, 1, 512, 513].map(round_size), [512, 512, 512, 1024]);
        assert_eq!(round_size(3 * MIB + 1), 3 * MIB + 512);
        assert_eq!(round_size(usize::MAX) % 512, 0);
        let mut a = fake(usize::MAX);
        assert_eq!(a.allocate(0).unwrap().size, 512);
        assert_eq!(a.allocate(513).unwrap().size, 1024);
    }

    #[test]
    fn small_blocks_share_a_segment_and_are_reused() {
        let mut a = fake(usize::MAX);
        let blocks: Vec<Block> = (0..100).map(|_| a.allocate(1000).unwrap()).collect();
        assert_eq!(device(&a), [(blocks[0].ptr, SMALL_BUFFER)]);
        for pair in blocks.windows(2) {
            assert_eq!(pair[1].ptr, pair[0].ptr + 1024);
        }
        a.release(blocks[40]);
        assert_eq!(a.allocate(700).unwrap(), blocks[40]);
        assert_eq!(a.memory().mallocs, 1);
        check_invariants(&a);
    }

    #[test]
    fn split_and_merge_small() {
        let mut a = fake(usize::MAX);
        let [x, y, z] = [1000, 2000, 3000].map(|n| a.allocate(n).unwrap());
        assert_eq!((y.ptr, z.ptr), (x.ptr + 1024, y.ptr + 2048));
        for b in [y, x, z] {
            a.release(b);
            check_invariants(&a);
        }
        let free: Vec<_> = a.small_free.iter().copied().collect();
        assert_eq!(free, [(SMALL_BUFFER, x.ptr)]);
        // The whole segment serves two 1 MiB requests (2 MiB would go to the large pool).
        let [h1, h2] = [SMALL_SIZE; 2].map(|n| a.allocate(n).unwrap());
        assert_eq!((h1.ptr, h2.ptr), (x.ptr, x.ptr + SMALL_SIZE as u64));
        assert_eq!(a.memory().mallocs, 1);
    }

    #[test]
    fn split_and_merge_large() {
        let mut a = fake(usize::MAX);
        let [x, y, z] = [4 * MIB, 5 * MIB, 6 * MIB].map(|n| a.allocate(n).unwrap());
        assert_eq!((y.ptr, z.ptr), (x.ptr + (4 << 20), y.ptr + (5 << 20)));
        for b in [y, x, z] {
            a.release(b);
            check_invariants(&a);
        }
        assert_eq!(a.allocate(LARGE_BUFFER).unwrap(), blk(x.ptr, LARGE_BUFFER));
        assert_eq!(a.memory().mallocs, 1);
    }

    #[test]
    fn large_allocations() {
        let mut a = fake(usize::MAX);
        let b5 = a.allocate(5 * MIB).unwrap();
        let b30 = a.allocate(30 * MIB).unwrap();
        // A remainder of <= 1 MiB is handed out with the block, a larger one split off.
        let b31 = a.allocate(31 * MIB + 1).unwrap();
        let b28 = a.allocate(28 * MIB + MIB / 2).unwrap();
        let sizes = [b5, b30, b31, b28].map(|b| (b.size, a.mem.live[&b.ptr]));
        let mib = |x: f64| (x * MIB as f64) as usize;
        let expected = [(5., 20.), (30., 30.), (32., 32.), (28.5, 30.)];
        assert_eq!(sizes, expected.map(|(b, s)| (mib(b), mib(s))));
        a.release(b30);
        assert_eq!(a.allocate(30 * MIB).unwrap(), b30);
        a.release(b5);
        assert_eq!(a.allocate(5 * MIB).unwrap(), b5);
        assert_eq!(a.memory().mallocs, 4);
        check_invariants(&a);
    }

    #[test]
    fn large_requests_skip_much_larger_cached_blocks() {
        let mut a = fake(usize::MAX);
        let big = a.allocate(40 * MIB).unwrap();
        a.release(big);
        // 40 MiB is more than 20 MiB larger than 10 MiB: a new segment.
        assert_ne!(a.allocate(10 * MIB).unwrap().ptr, big.ptr);
        assert_eq!(a.memory().mallocs, 2);
        // 40 MiB is within 20 MiB of 20 MiB; requests under 10 MiB may split any block.
        assert_eq!(a.allocate(20 * MIB).unwrap().ptr, big.ptr);
        assert_eq!(a.allocate(5 * MIB).unwrap().ptr, big.ptr + (20 << 20));
        check_invariants(&a);
    }

    #[test]
    fn stats_follow_operations() {
        let mut a = fake(usize::MAX);
        assert_eq!(a.stats(), MemoryStats::default());
        let x = a.allocate(1000).unwrap();
        let y = a.allocate(3 * MIB).unwrap();
        let (total, reserved, small) = (1024 + 3 * MIB, SMALL_BUFFER + LARGE_BUFFER, SMALL_BUFFER);
        assert_eq!(usage(&a), (total, total, reserved, reserved));
        a.release(y);
        assert_eq!(usage(&a), (1024, total, reserved, reserved));
        a.empty_cache();
        assert_eq!(usage(&a), (1024, total, small, reserved));
        a.reset_peak();
        assert_eq!(usage(&a), (1024, 1024, small, small));
        a.release(x);
        let z = a.allocate(2000).unwrap();
        assert_eq!(usage(&a), (2048, 2048, small, small));
        a.release(z);
        a.empty_cache();
        assert_eq!(usage(&a), (0, 2048, 0, small));
        assert_eq!((a.stats().num_alloc_retries, a.stats().num_ooms), (0, 0));
        check_invariants(&a);
    }

    #[test]
    fn out_of_memory_retries_then_fails_cleanly() {
        let mut a = fake(64 * MIB);
        let blocks: Vec<Block> = (0..3).map(|_| a.allocate(20 * MIB).unwrap()).collect();
        let small = a.allocate(100).unwrap();
        assert_eq!(a.stats().reserved, 62 * MIB);
        for b in blocks.into_iter().chain([small]) {
            a.release(b);
        }
        // Fits only once the four cached segments are given back.
        let b = a.allocate(30 * MIB).unwrap();
        let s = a.stats();
        assert_eq!((s.num_alloc_retries, s.num_ooms), (1, 0));
        assert_eq!(usage(&a), (30 * MIB, 60 * MIB + 512, 30 * MIB, 62 * MIB));
        check_invariants(&a);

        let err = a.allocate(100 * MIB + 7).unwrap_err();
        assert_eq!((err.requested, err.allocated), (100 * MIB + 7, 30 * MIB));
        assert_eq!(err.reserved, 30 * MIB);
        assert!(err.to_string().contains("104857607 bytes"));
        let s = a.stats();
        assert_eq!((s.num_alloc_retries, s.num_ooms), (2, 1));
        check_invariants(&a);

        let huge = a.allocate(usize::MAX).unwrap_err();
        assert_eq!((huge.requested, a.stats().num_ooms), (usize::MAX, 2));
        let c = a.allocate(1000).unwrap();
        assert_eq!(c.size, 1024);
        a.release(b);
        a.release(c);
        a.empty_cache();
        assert!(a.memory().live.is_empty());
        check_invariants(&a);
    }

    #[test]
    fn empty_cache_frees_only_entirely_free_segments() {
        let mut a = fake(usize::MAX);
        let [x, y, s1, s2] = [25 * MIB, 30 * MIB, 1000, 1000].map(|n| a.allocate(n).unwrap());
        a.release(x);
        a.release(s1);
        a.empty_cache();
        assert_eq!(device(&a), [(y.ptr, 30 * MIB), (s1.ptr, SMALL_BUFFER)]);
        assert_eq!(a.stats().reserved, 30 * MIB + SMALL_BUFFER);
        check_invariants(&a);
        a.release(s2);
        a.empty_cache();
        assert_eq!(device(&a), [(y.ptr, 30 * MIB)]);
        check_invariants(&a);
    }

    #[test]
    fn unknown_releases_change_nothing() {
        let mut a = fake(usize::MAX);
        let [x, y] = [1000, 1000].map(|n| a.allocate(n).unwrap());
        let before = a.stats();
        assert!(!a.try_release(blk(x.ptr + 512, 512)), "inside a block");
        assert!(!a.try_release(blk(x.ptr, 512)), "wrong size");
        assert!(!a.try_release(blk(y.ptr + 1024, 512)), "a free block");
        assert_eq!(a.stats(), before);
        check_invariants(&a);
        assert!(a.try_release(x));
        assert!(!a.try_release(x), "double release");
        assert_eq!(a.stats().allocated, before.allocated - 1024);
        check_invariants(&a);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not handed out")]
    fn unknown_release_asserts_in_debug() {
        fake(usize::MAX).release(blk(42, 512));
    }

    #[test]
    fn randomized_operations_keep_invariants() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut a = fake(160 * MIB);
        let (mut live, mut ooms) = (Vec::<Block>::new(), 0);
        for _ in 0..4000 {
            let r = rand() % 100;
            if r < 55 {
                let bytes = match rand() % 10 {
                    0 => 0,
                    1..=6 => rand() % 70_000,
                    7 | 8 => rand() % (8 << 20),
                    _ => rand() % (40 << 20),
                } as usize;
                match a.allocate(bytes) {
                    Ok(b) => {
                        assert!(b.size >= bytes.max(1) && b.size.is_multiple_of(MIN_BLOCK_SIZE));
                        live.push(b);
                    }
                    Err(e) => {
                        ooms += 1;
                        assert_eq!((e.requested, a.stats().num_ooms), (bytes, ooms));
                    }
                }
            } else if r < 97 && !live.is_empty() {
                a.release(live.swap_remove((rand() % live.len() as u64) as usize));
            } else if r >= 97 {
                a.empty_cache();
            }
            check_invariants(&a);
            let mut sorted = live.clone();
            sorted.sort_by_key(|b| b.ptr);
            for pair in sorted.windows(2) {
                assert!(pair[0].ptr + pair[0].size as u64 <= pair[1].ptr);
            }
            for b in &live {
                let (&base, &size) = a.mem.live.range(..=b.ptr).next_back().unwrap();
                assert!(b.ptr + b.size as u64 <= base + size as u64);
            }
            assert_eq!(
                a.stats().allocated,
                live.iter().map(|b| b.size).sum::<usize>()
            );
        }
        assert!(a.stats().num_alloc_retries > 0 && ooms > 0); // the OOM path ran
        for b in live.drain(..) {
            a.release(b);
        }
        a.empty_cache();
        check_invariants(&a);
        assert!(a.memory().live.is_empty());
        assert_eq!((a.stats().allocated, a.stats().reserved), (0, 0));
    }
}
