//! The `Tensor` handle: a cheap `Arc` over shared storage, a layout, and autograd metadata.

pub mod device;
pub mod dtype;
pub mod layout;
pub mod memory_format;
pub mod storage;

use crate::autograd::grad_mode;
use crate::autograd::meta::{AutogradMeta, ViewCreation};
use crate::error::Result;
use device::Device;
use dtype::{cast, DType, Element};
use layout::Layout;
use parking_lot::Mutex;
use std::sync::Arc;
use storage::Storage;

/// A strided view over a shared [`Storage`], with autograd metadata.
///
/// Cloning a `Tensor` clones the handle (like assigning a Python variable), not the data.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

pub struct TensorImpl {
    pub(crate) storage: Arc<Storage>,
    pub(crate) layout: Layout,
    pub(crate) meta: Mutex<AutogradMeta>,
    /// Made in inference mode (PyTorch's inference tensor), or a view of one.
    pub(crate) inference: bool,
}

impl Tensor {
    /// A tensor viewing `storage` through `layout`, with no autograd history (an inference
    /// tensor when made in inference mode).
    #[inline]
    pub fn from_parts(storage: Arc<Storage>, layout: Layout) -> Tensor {
        let inference = crate::autograd::grad_mode::is_inference_mode();
        Tensor::from_parts_as(storage, layout, inference)
    }
    #[inline]
    fn from_parts_as(storage: Arc<Storage>, layout: Layout, inference: bool) -> Tensor {
        Tensor(Arc::new(TensorImpl {
            storage,
            layout,
            meta: Mutex::new(AutogradMeta::default()),
            inference,
        }))
    }
    /// Whether this is an inference tensor (made in inference mode, or a view of one).
    pub fn is_inference(&self) -> bool {
        self.0.inference
    }
    /// A contiguous tensor owning `data`, which must hold `shape`'s element count.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Tensor {
        debug_assert_eq!(data.len(), layout::numel(shape));
        Tensor::from_parts(Arc::new(Storage::from_vec(data)), Layout::contiguous(shape))
    }
    /// A contiguous tensor of `shape` over all of `storage`.
    #[inline]
    pub fn from_storage(storage: Storage, shape: impl Into<Vec<usize>>) -> Tensor {
        let shape = shape.into();
        debug_assert_eq!(storage.len(), layout::numel(&shape));
        let strides = layout::contiguous_strides(&shape);
        Tensor::from_parts(
            Arc::new(storage),
            Layout {
                shape,
                strides,
                offset: 0,
            },
        )
    }
    /// A 0-d tensor.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor::from_vec(vec![v], &[])
    }

    #[inline]
    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }
    pub fn strides(&self) -> &[isize] {
        &self.0.layout.strides
    }
    #[inline]
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub fn offset(&self) -> usize {
        self.0.layout.offset
    }
    #[inline]
    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }
    #[inline]
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }
    pub fn dim(&self) -> usize {
        self.0.layout.ndim()
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    pub fn storage(&self) -> &Arc<Storage> {
        &self.0.storage
    }
    /// Whether two handles view the same storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }
    /// Whether two handles are the same tensor object.
    pub fn same(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
    /// The address of the first element (a device address for a GPU tensor).
    pub fn data_ptr(&self) -> usize {
        self.0.storage.data_ptr() + self.offset() * self.dtype().size()
    }
    /// A new handle on the same data and layout with no autograd history (PyTorch's `detach`).
    pub fn detach(&self) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), self.0.layout.clone())
    }
    /// This tensor broadcast to `shape` with its dims taken in `order`: a handle with no
    /// history and no base, for kernels that make a result in that order. A 0-d tensor stays
    /// 0-d: the kernels broadcast it, and a 0-d CPU tensor must stay 0-d to join an op on a
    /// GPU as a number.
    pub(crate) fn ordered(&self, shape: &[usize], order: &[usize]) -> Tensor {
        let l = if self.dim() == 0 {
            self.layout().clone()
        } else {
            self.layout().broadcast_to(shape).reordered(order)
        };
        Tensor::from_parts(self.0.storage.clone(), l)
    }
    /// A result made over dims taken in `order` (see [`Tensor::ordered`]), read back in the
    /// original order; it must have no history yet.
    pub(crate) fn unordered(self, order: &[usize]) -> Tensor {
        let l = self.layout().unordered(order);
        Tensor::from_parts(self.0.storage.clone(), l)
    }
    /// A new handle sharing storage with `self`, viewed through `layout`, no history; it
    /// remembers `self`'s base (or `self`) as its own.
    /// Its tag says how it was made ([`ViewCreation`]).
    pub(crate) fn with_layout(&self, layout: Layout) -> Tensor {
        let view = Tensor::from_parts_as(self.0.storage.clone(), layout, self.0.inference);
        let (base, parent, requires_grad) = {
            let m = self.0.meta.lock();
            let base = m.view_base.clone().map(Tensor);
            (base, m.view_creation, m.requires_grad)
        };
        let made = if grad_mode::is_grad_enabled() || !self.dtype().is_float() {
            ViewCreation::Default
        } else if !(requires_grad || base.as_ref().is_some_and(|b| b.requires_grad())) {
            // PyTorch tags these too; here they stay plain, so that an op computing with
            // grad mode off may return a view of its own result and record history on it.
            ViewCreation::Default
        } else if grad_mode::is_inference_mode() && !self.0.inference {
            ViewCreation::Inference
        } else {
            ViewCreation::NoGrad
        };
        let base = base.unwrap_or_else(|| self.clone());
        {
            let mut m = view.0.meta.lock();
            m.view_base = Some(base.0.clone());
            m.view_creation = parent.then(made);
            m.view_version = self.0.storage.version();
        }
        view
    }

    /// How this view was made ([`ViewCreation::Default`] for a tensor that is no view).
    pub(crate) fn view_creation(&self) -> ViewCreation {
        self.0.meta.lock().view_creation
    }

    /// Tags this view as one of several that one function returned.
    pub(crate) fn mark_multi_output_view(&self) {
        let mut m = self.0.meta.lock();
        m.view_creation = m.view_creation.then(ViewCreation::MultiOutput);
    }

    /// The tensor this one is a view of.
    pub(crate) fn view_base(&self) -> Option<Tensor> {
        self.0.meta.lock().view_base.clone().map(Tensor)
    }

    /// The elements converted to `T`, in row-major order, copied to the host. A GPU reports
    /// here the failed checks of the kernels that produced them.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let host = self.0.storage.download(self.layout())?;
        Ok(crate::with_dtype!(
            host.dtype(),
            S,
            host.as_slice::<S>()
                .iter()
                .map(|&v| cast::<S, T>(v))
                .collect()
        ))
    }
    /// The single element of a one-element tensor, as `f64`.
    pub fn item_f64(&self) -> Result<f64> {
        if self.numel() != 1 {
            crate::bail!(
                "a Tensor with {} elements cannot be converted to Scalar",
                self.numel()
            );
        }
        Ok(self.to_vec::<f64>()?[0])
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor(shape={:?}, dtype={})",
            self.shape(),
            self.dtype()
        )
    }
}
