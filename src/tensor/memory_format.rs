//! Memory formats: the order in which a new tensor stores its dims (PyTorch's
//! `torch.memory_format`), and the order an elementwise result takes from its operands.
//!
//! A dense layout stores its dims in some order, outermost first; row-major is the identity.
//! Copies (`clone`, casts, device moves, `*_like`) keep a dense source's strides
//! (`preserve_format`) or take a named format's order; elementwise results take their
//! operands' order as PyTorch's TensorIterator computes it, so a channels-last or transposed
//! input gives a result laid out like it (and read in memory order, the fast path).

use super::layout::{contiguous_strides, Layout};
use crate::error::{Error, Result};

/// How a new tensor lays out its elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryFormat {
    /// Row-major (`torch.contiguous_format`).
    Contiguous,
    /// A dense source's own strides, else its dims' order (`torch.preserve_format`).
    Preserve,
    /// `[n, c, h, w]` stored as `[n, h, w, c]` (`torch.channels_last`).
    ChannelsLast,
    /// `[n, c, d, h, w]` stored as `[n, d, h, w, c]` (`torch.channels_last_3d`).
    ChannelsLast3d,
}

impl MemoryFormat {
    pub const ALL: [MemoryFormat; 4] = [
        MemoryFormat::Contiguous,
        MemoryFormat::Preserve,
        MemoryFormat::ChannelsLast,
        MemoryFormat::ChannelsLast3d,
    ];

    /// PyTorch's name of the format (`torch.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            MemoryFormat::Contiguous => "contiguous_format",
            MemoryFormat::Preserve => "preserve_format",
            MemoryFormat::ChannelsLast => "channels_last",
            MemoryFormat::ChannelsLast3d => "channels_last_3d",
        }
    }

    /// The channels-last order (outermost first) of a tensor of `rank` dims, or PyTorch's
    /// error when the format needs another rank; `None` for the other formats.
    fn channels_last_order(self, rank: usize) -> Result<Option<Vec<usize>>> {
        let want = match self {
            MemoryFormat::ChannelsLast => 4,
            MemoryFormat::ChannelsLast3d => 5,
            _ => return Ok(None),
        };
        if rank != want {
            return Err(Error::Runtime(format!(
                "required rank {want} tensor to use {} format",
                self.name()
            )));
        }
        let mut order = vec![0];
        order.extend(2..rank);
        order.push(1);
        Ok(Some(order))
    }

    /// The layout of a new tensor of `shape` in this format (`None`: row-major), with
    /// PyTorch's error for `preserve_format`, which needs a source.
    pub fn new_layout(self, shape: &[usize]) -> Result<Option<Layout>> {
        if self == MemoryFormat::Preserve {
            return Err(Error::Runtime("unsupported memory format Preserve".into()));
        }
        Ok(self
            .channels_last_order(shape.len())?
            .map(|order| channels_last(shape, &order)))
    }
}

/// The channels-last layout of `shape` in `order`: PyTorch computes its strides from the
/// sizes as they are (a size-0 dim gives the dims outside it stride 0).
fn channels_last(shape: &[usize], order: &[usize]) -> Layout {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for &d in order.iter().rev() {
        strides[d] = acc;
        acc *= shape[d] as isize;
    }
    Layout {
        shape: shape.to_vec(),
        strides,
        offset: 0,
    }
}

/// A dense layout of `shape` that stores its dims in `order` (outermost first).
pub fn dense_in_order(shape: &[usize], order: &[usize]) -> Layout {
    let inner: Vec<usize> = order.iter().map(|&d| shape[d]).collect();
    let c = contiguous_strides(&inner);
    let mut strides = vec![0isize; shape.len()];
    for (&d, &s) in order.iter().zip(&c) {
        strides[d] = s;
    }
    Layout {
        shape: shape.to_vec(),
        strides,
        offset: 0,
    }
}

/// The order (outermost first) in which a new elementwise result of `shape` stores its dims,
/// after its operands' layouts (each broadcastable to `shape`), as PyTorch's TensorIterator
/// sorts them: for two dims, the first operand whose strides tell them apart decides (a
/// broadcast or negative stride tells nothing; of equal strides the larger dim goes outside).
/// `None` when that gives row-major strides, which is always the case when every operand has
/// row-major strides or is contiguous with the result's shape (the hot path: no
/// allocation). Size-1 dims take the strides of their place in the order, as PyTorch's do.
pub fn result_order(shape: &[usize], operands: &[&Layout]) -> Option<Vec<usize>> {
    let n = shape.len();
    // PyTorch's fast set-up: operands of the result's shape that are all contiguous (size-1
    // dims aside) make a row-major result.
    let fast = |l: &&Layout| l.shape == shape && l.is_contiguous();
    if n < 2 || operands.iter().all(|l| l.is_row_major()) || operands.iter().all(fast) {
        return None;
    }
    // Broadcast strides, except that a size-1 dim of a size-1 result dim keeps its own (it
    // can still order the dims, as in PyTorch).
    let strides: Vec<Vec<isize>> = operands
        .iter()
        .map(|l| {
            let lead = n - l.ndim();
            (0..n)
                .map(|d| match d.checked_sub(lead) {
                    Some(i) if l.shape[i] == shape[d] => l.strides[i],
                    _ => 0,
                })
                .collect()
        })
        .collect();
    // 1 when `d0` should be stored outside `d1`, -1 when inside, 0 when nothing tells.
    let outside = |d0: usize, d1: usize| -> i32 {
        for s in &strides {
            let (s0, s1) = (s[d0], s[d1]);
            if s0 <= 0 || s1 <= 0 {
                continue;
            }
            if s0 != s1 {
                return if s0 < s1 { -1 } else { 1 };
            }
            if shape[d0] > shape[d1] {
                return 1;
            }
        }
        0
    };
    // Innermost first; a stable insertion sort that leaves undecided pairs as they were.
    let mut perm: Vec<usize> = (0..n).rev().collect();
    for i in 1..n {
        let mut at = i;
        for j in (0..i).rev() {
            match outside(perm[j], perm[at]) {
                1 => {
                    perm.swap(j, at);
                    at = j;
                }
                -1 => break,
                _ => {}
            }
        }
    }
    perm.reverse();
    (dense_in_order(shape, &perm).strides != contiguous_strides(shape)).then_some(perm)
}

/// Whether `strides` are in the order `inner_first` (innermost first) as PyTorch guesses a
/// channels-last layout from strides (`is_channels_last_strides_2d`): never with a stride-0
/// channel dim or an empty dim, and ambiguous cases (a batch stride equal to the channel
/// one) count as row-major.
fn strides_like(shape: &[usize], strides: &[isize], inner_first: &[usize]) -> bool {
    if strides[1] == 0 {
        return false;
    }
    let mut min = 0isize;
    for &d in inner_first {
        if shape[d] == 0 || strides[d] < min || (d == 0 && min == strides[1]) {
            return false;
        }
        min = strides[d];
        if shape[d] > 1 {
            min *= shape[d] as isize;
        }
    }
    true
}

impl Layout {
    /// Whether the strides are exactly the row-major ones, size-1 dims included.
    pub fn is_row_major(&self) -> bool {
        let mut expected = 1isize;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if s != expected {
                return false;
            }
            expected *= d.max(1) as isize;
        }
        true
    }

    /// The format PyTorch guesses from the strides (`suggest_memory_format`).
    pub fn suggested_format(&self) -> MemoryFormat {
        match self.ndim() {
            4 if strides_like(&self.shape, &self.strides, &[1, 3, 2, 0]) => {
                MemoryFormat::ChannelsLast
            }
            5 if strides_like(&self.shape, &self.strides, &[1, 4, 3, 2, 0]) => {
                MemoryFormat::ChannelsLast3d
            }
            _ => MemoryFormat::Contiguous,
        }
    }

    /// Whether the elements exactly fill `[offset, offset + numel)` with no overlap and no
    /// negative stride (PyTorch's `is_non_overlapping_and_dense`).
    pub fn is_dense(&self) -> bool {
        let mut dims: Vec<(isize, usize)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(&d, _)| d != 1)
            .map(|(&d, &s)| (s, d))
            .collect();
        if dims.iter().any(|&(_, d)| d == 0) {
            return false;
        }
        dims.sort_unstable();
        let mut expected = 1isize;
        for (s, d) in dims {
            if s != expected {
                return false;
            }
            expected *= d as isize;
        }
        true
    }

    /// Whether this layout is dense in `fmt`'s order (PyTorch's `is_contiguous(memory_format)`;
    /// `preserve_format` asks for row-major, and a channels-last format asked of another rank
    /// or of an empty tensor answers no).
    pub fn is_contiguous_as(&self, fmt: MemoryFormat) -> bool {
        match fmt.channels_last_order(self.ndim()) {
            Ok(Some(order)) => {
                let mut expected = 1isize;
                self.numel() > 0
                    && order.iter().rev().all(|&d| {
                        let size = self.shape[d];
                        if size == 1 {
                            return true;
                        }
                        let ok = self.strides[d] == expected;
                        expected *= size as isize;
                        ok
                    })
            }
            Ok(None) => self.is_contiguous(),
            Err(_) => false,
        }
    }

    /// The dense layout a copy of this layout takes in `fmt` (`None`: row-major), and the
    /// order (outermost first) its memory stores the dims in. `preserve_format` keeps a dense
    /// source's strides and otherwise takes its dims' order.
    pub fn copy_layout(&self, fmt: MemoryFormat) -> Result<Option<(Vec<usize>, Layout)>> {
        let shape = &self.shape;
        let (order, layout) = match fmt {
            MemoryFormat::Contiguous => return Ok(None),
            MemoryFormat::Preserve => {
                let order =
                    result_order(shape, &[self]).unwrap_or_else(|| (0..shape.len()).collect());
                let packed = dense_in_order(shape, &order);
                // A dense source's strides are its order's packed ones on every dim larger
                // than 1; it keeps its own on the others, as PyTorch's copies do.
                let same = |l: &Layout| {
                    (0..shape.len()).all(|d| shape[d] == 1 || l.strides[d] == self.strides[d])
                };
                let layout = if self.is_dense() && same(&packed) {
                    Layout {
                        shape: shape.clone(),
                        strides: self.strides.clone(),
                        offset: 0,
                    }
                } else {
                    packed
                };
                (order, layout)
            }
            _ => {
                let order = fmt
                    .channels_last_order(self.ndim())?
                    .expect("a channels-last format");
                let layout = channels_last(shape, &order);
                (order, layout)
            }
        };
        Ok((layout.strides != contiguous_strides(shape)).then_some((order, layout)))
    }

    /// This layout with its dims taken in `order`.
    pub fn reordered(&self, order: &[usize]) -> Layout {
        Layout {
            shape: order.iter().map(|&d| self.shape[d]).collect(),
            strides: order.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        }
    }

    /// The inverse of [`Layout::reordered`]: dim `i` of this layout becomes dim `order[i]`.
    pub fn unordered(&self, order: &[usize]) -> Layout {
        let mut l = self.clone();
        for (i, &d) in order.iter().enumerate() {
            l.shape[d] = self.shape[i];
            l.strides[d] = self.strides[i];
        }
        l
    }

    /// This layout broadcast to `shape` (leading and size-1 dims get stride 0).
    pub fn broadcast_to(&self, shape: &[usize]) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: super::layout::broadcast_strides(&self.shape, &self.strides, shape),
            offset: self.offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(shape: &[usize], strides: &[isize]) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            offset: 0,
        }
    }

    #[test]
    fn channels_last_strides_and_checks() {
        let cl = MemoryFormat::ChannelsLast
            .new_layout(&[2, 3, 4, 5])
            .unwrap()
            .unwrap();
        assert_eq!(cl.strides, vec![60, 1, 15, 3]);
        assert!(cl.is_contiguous_as(MemoryFormat::ChannelsLast));
        assert!(!cl.is_contiguous());
        assert!(cl.is_dense());
        assert!(MemoryFormat::ChannelsLast.new_layout(&[3, 4]).is_err());
        let cl3 = MemoryFormat::ChannelsLast3d
            .new_layout(&[2, 3, 4, 5, 6])
            .unwrap()
            .unwrap();
        assert_eq!(cl3.strides, vec![360, 1, 90, 18, 3]);
    }

    #[test]
    fn result_order_follows_the_first_deciding_operand() {
        let cl = l(&[2, 3, 4, 5], &[60, 1, 15, 3]);
        let c = Layout::contiguous(&[2, 3, 4, 5]);
        assert_eq!(result_order(&c.shape, &[&cl, &c]), Some(vec![0, 2, 3, 1]));
        assert_eq!(result_order(&c.shape, &[&c, &cl]), None);
        let bias = Layout::contiguous(&[3, 1, 1]);
        assert_eq!(
            result_order(&c.shape, &[&cl, &bias]),
            Some(vec![0, 2, 3, 1])
        );
        // An expanded dim tells nothing: the contiguous order stays.
        assert_eq!(
            result_order(&[3, 4, 5], &[&l(&[3, 4, 5], &[5, 0, 1])]),
            None
        );
    }

    #[test]
    fn preserved_copies_keep_dense_strides_and_order_others() {
        let t = l(&[5, 3, 4], &[1, 20, 5]);
        let (order, c) = t.copy_layout(MemoryFormat::Preserve).unwrap().unwrap();
        assert_eq!(order, vec![1, 2, 0]);
        assert_eq!(c.strides, vec![1, 20, 5]);
        // Not dense (every other element of the last dim): the same order, packed.
        let s = l(&[5, 3, 2], &[1, 20, 10]);
        assert_eq!(
            s.copy_layout(MemoryFormat::Preserve)
                .unwrap()
                .unwrap()
                .1
                .strides,
            vec![1, 10, 5]
        );
        assert!(Layout::contiguous(&[2, 3])
            .copy_layout(MemoryFormat::Preserve)
            .unwrap()
            .is_none());
        let r = t.reordered(&order);
        assert_eq!(r.unordered(&order), t);
    }
}
