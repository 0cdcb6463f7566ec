//! In-place ops. Each computes its result out of place, then writes it into `self`'s
//! storage and bumps the shared version counter (`add_`/`sub_` of a tensor and the four
//! arithmetic ops with a number, where nothing records, write straight into it:
//! [`Tensor::add_scaled_in_place`], [`Tensor::binary_scalar_in_place`]); when autograd is
//! recording, `self`'s history is rewired to the new node, and the op sees a copy of the
//! old data so that what it saved is not the data being overwritten.

use super::binary::{binary_alpha, BinaryOp};
use super::run;
use super::view::{embed_view, laid_out, ViewFn};
use super::{Operand, Scalar};
use crate::autograd::meta::ViewCreation;
use crate::autograd::{grad_if, is_grad_enabled, needs_grad, record};
use crate::backend::SgdOptions;
use crate::error::{Error, Result};
use crate::tensor::dtype::{Category, DType};
use crate::tensor::layout::{fmt_shape, Layout};
use crate::tensor::memory_format::MemoryFormat;
use crate::tensor::storage::Storage;
use crate::Tensor;
use std::sync::Arc;

impl Tensor {
    /// PyTorch's refusal to modify a leaf that requires grad while recording.
    pub(crate) fn check_inplace(&self) -> Result<()> {
        if self.is_inference() && !crate::autograd::grad_mode::is_inference_mode() {
            return Err(Error::Runtime(
                "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a clone to get a normal tensor before doing inplace update.See https://github.com/pytorch/rfcs/pull/17 for more details.".into(),
            ));
        }
        self.check_view_inplace(false)?;
        if is_grad_enabled() && self.requires_grad() && self.is_leaf() {
            return Err(Error::Runtime(
                "a leaf Variable that requires grad is being used in an in-place operation.".into(),
            ));
        }
        Ok(())
    }

    /// PyTorch's refusal to write into a view whose history cannot be rewritten (one of
    /// several views that one function returned, or one made with grad mode off: see
    /// [`ViewCreation`]) while grad mode is on, when the write takes part in autograd: the
    /// view, its base or what is written (`written_requires_grad`) requires grad.
    fn check_view_inplace(&self, written_requires_grad: bool) -> Result<()> {
        let creation = self.view_creation();
        if creation == ViewCreation::Default || !is_grad_enabled() || !self.dtype().is_float() {
            return Ok(());
        }
        // A view is tagged as made with grad mode off only where its base required grad
        // (which the base, since detached, may not say).
        let base_requires_grad = matches!(creation, ViewCreation::NoGrad | ViewCreation::Inference)
            || self.view_base().is_some_and(|b| b.requires_grad());
        if !(written_requires_grad || self.requires_grad() || base_requires_grad) {
            return Ok(());
        }
        let grad_fn = self.grad_fn();
        match creation.refusal(grad_fn.as_ref().map(|f| f.name()), self.output_nr(), false) {
            Some(msg) => Err(Error::Runtime(msg)),
            None => Ok(()),
        }
    }

    /// Writes `new` (same shape) into self and takes over its history.
    pub(crate) fn assign_from(&self, new: &Tensor) -> Result<()> {
        if new.shape() != self.shape() {
            return Err(Error::Runtime(format!(
                "output with shape {} doesn't match the broadcast shape {}",
                fmt_shape(self.shape()),
                fmt_shape(new.shape())
            )));
        }
        if new.dtype().category() > self.dtype().category() {
            return Err(Error::Runtime(format!(
                "result type {} can't be cast to the desired output type {}",
                cat_name(new.dtype()),
                cat_name(self.dtype())
            )));
        }
        let src = if new.shares_storage(self) {
            new.contiguous_copy()?
        } else {
            new.clone()
        };
        let rebased = self.rebase_view_history(new)?;
        self.write(&src)?;
        self.storage().bump_version();
        if is_grad_enabled() && !rebased {
            match new.grad_fn() {
                Some(f) if self.dtype().is_float() => self.set_history(f, new.output_nr()),
                _ if !self.is_leaf() => self.detach_(),
                _ => {}
            }
        }
        Ok(())
    }

    /// When `self` is a view of a base that takes part in autograd, makes writing `new`
    /// into it visible to the base's gradient, as PyTorch's `CopySlices`: the base's history
    /// becomes "the old base with this region replaced by `new`", and `self` becomes that
    /// region of the new base. Returns whether it did (false when recording is off, `self`
    /// is no view, or neither the base nor `new` requires grad).
    fn rebase_view_history(&self, new: &Tensor) -> Result<bool> {
        if !is_grad_enabled() || !self.dtype().is_float() {
            return Ok(false);
        }
        self.check_view_inplace(new.requires_grad())?;
        let Some(base) = self.view_base() else {
            return Ok(false);
        };
        if !(base.requires_grad() || new.requires_grad()) {
            return Ok(false);
        }
        if base.is_leaf() && base.requires_grad() {
            return Err(Error::Runtime(
                "a view of a leaf Variable that requires grad is being used in an in-place operation.".into(),
            ));
        }
        let region = self.region_in(&base)?;
        let (in_region, layout) = (region.view.clone(), region.grad_layout.clone());
        let shape = base.shape().to_vec();
        record("CopySlices", &[&base, new], &base, move |g, need| {
            let g = laid_out(g, layout.as_ref())?;
            let outside = grad_if(need[0], || {
                // Ones are ones in any order: read through the gradient's layout.
                let ones = crate::ops::creation::ones(&shape, g.dtype(), g.device())?;
                let mask = Tensor::from_parts(ones.storage().clone(), g.layout().clone());
                mask.storage()
                    .fill(&in_region(mask.layout())?, Scalar::Int(0))?;
                g.mul(&mask)
            })?;
            let inside = grad_if(need[1], || {
                g.apply_view("AsStridedBackward0", in_region.clone())
            })?;
            Ok(vec![outside, inside])
        });
        self.record_region_of(&base, region);
        Ok(true)
    }

    /// Where this view lies in `base`, for gradients of `base`'s shape laid out as `base`
    /// is (PyTorch's `CopySlices` and `AsStridedBackward0` lay out the base's gradient with
    /// the base's strides). An error where `base` is not dense (or starts past the view):
    /// PyTorch records that too, but here the gradient would miss the write.
    fn region_in(&self, base: &Tensor) -> Result<Region> {
        let bl = base.layout();
        let dense = if bl.is_contiguous() {
            Some(None)
        } else {
            match bl.copy_layout(MemoryFormat::Preserve)? {
                Some((_, l)) if bl.is_dense() && l.strides == bl.strides => Some(Some(l)),
                _ => None,
            }
        };
        let (Some(offset), Some(grad_layout)) = (self.offset().checked_sub(bl.offset), dense)
        else {
            return Err(Error::Runtime(format!(
                "an in-place write through a view of a tensor of shape {} and strides {} (not dense) cannot be recorded by rustorch's autograd; make that tensor contiguous (.contiguous()) before viewing it",
                fmt_shape(base.shape()),
                fmt_shape(base.strides())
            )));
        };
        let region = Layout {
            shape: self.shape().to_vec(),
            strides: self.strides().to_vec(),
            offset,
        };
        Ok(Region {
            view: Arc::new(move |_| Ok(region.clone())),
            grad_layout,
        })
    }

    /// Makes this view the region `region` of `base`'s present history
    /// (`AsStridedBackward0`).
    fn record_region_of(&self, base: &Tensor, region: Region) {
        let base_shape = base.shape().to_vec();
        record("AsStridedBackward0", &[base], self, move |g, _| {
            Ok(vec![Some(embed_view(
                g,
                &base_shape,
                region.grad_layout.as_ref(),
                region.view.clone(),
            )?)])
        });
    }

    /// PyTorch's regeneration of a view's history where it is read: once its storage was
    /// written in place since the view's history was set (through its base or another view
    /// of it), the view's gradient goes through the base's present history
    /// (`AsStridedBackward0`), so that it sees the write. A view with no history of a base
    /// that needs no grad stays as it is. PyTorch refuses to use a view whose history may not be
    /// rewritten (see [`ViewCreation`]) once its base was written: here such a view's new
    /// history raises that refusal when a backward pass reaches it, as it raises
    /// [`Tensor::region_in`]'s error for a base that is not dense.
    pub(crate) fn refresh_view_history(&self) {
        let (old, creation) = {
            let mut m = self.0.meta.lock();
            m.view_version = self.storage().version();
            let old = m
                .grad_fn
                .as_ref()
                .map(|f| (f.name().to_string(), m.output_nr));
            (old, m.view_creation)
        };
        let Some(base) = self.view_base() else {
            return;
        };
        if !self.dtype().is_float() || !(old.is_some() || base.requires_grad()) {
            return;
        }
        let named = old.as_ref().map(|(name, _)| name.as_str());
        let nr = old.as_ref().map_or(0, |&(_, nr)| nr);
        let region = match creation.refusal(named, nr, true) {
            Some(msg) => Err(Error::Runtime(msg)),
            None => self.region_in(&base),
        };
        match region {
            Ok(region) => self.record_region_of(&base, region),
            // Raised where a backward pass reaches it.
            Err(e) => {
                let msg = e.to_string();
                record("AsStridedBackward0", &[&base], self, move |_, _| {
                    Err(Error::Runtime(msg.clone()))
                });
            }
        }
    }

    /// PyTorch's `assert_no_internal_overlap`: an in-place op whose result differs between
    /// elements may not write into a tensor in which several elements share one memory
    /// location (an expanded dim), since the last write would win.
    pub(crate) fn check_no_internal_overlap(&self) -> Result<()> {
        if self
            .shape()
            .iter()
            .zip(self.strides())
            .any(|(&d, &s)| d > 1 && s == 0)
        {
            return Err(Error::Runtime(
                "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.".into(),
            ));
        }
        Ok(())
    }

    /// Applies `f` to self (or, when recording, to a snapshot carrying self's history) and
    /// writes the result back into self; refused on a tensor with internal overlap, as
    /// PyTorch's in-place ops are (see [`Tensor::apply_fill_inplace`] for the fills it
    /// allows there).
    pub fn apply_inplace(
        &self,
        others: &[&Tensor],
        f: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<()> {
        self.check_no_internal_overlap()?;
        self.apply_unchecked_inplace(others, f)
    }

    /// [`Tensor::apply_inplace`] for the fills PyTorch allows on a tensor with internal
    /// overlap (`masked_fill_`, `index_fill_`): there only the elements the fill changed are
    /// written, so that a memory location shared by a filled and an unfilled element takes
    /// the fill's value whatever the order of the writes.
    pub fn apply_fill_inplace(
        &self,
        others: &[&Tensor],
        f: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<()> {
        let shared: Vec<usize> = (0..self.dim())
            .filter(|&d| self.shape()[d] > 1 && self.strides()[d] == 0)
            .collect();
        if !shared.is_empty() {
            return self.fill_shared_locations(&shared, f);
        }
        self.apply_unchecked_inplace(others, f)
    }

    /// A fill into a tensor whose expanded `shared` dims alias memory: each memory location
    /// (an element of `self` with those dims narrowed to 1) takes the value of an element
    /// the fill changed, if any, else keeps its own; written through the narrowed view,
    /// which has no overlap.
    fn fill_shared_locations(
        &self,
        shared: &[usize],
        f: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<()> {
        self.check_inplace()?;
        let new = f(&self.detach())?;
        let changed = super::binary::binary(
            BinaryOp::Ne,
            &Operand::Tensor(new.clone()),
            &Operand::Tensor(self.detach()),
        )?;
        // The aliased dims last, flattened into one: `[rest…, k]`.
        let mut order: Vec<i64> = (0..self.dim())
            .filter(|d| !shared.contains(d))
            .map(|d| d as i64)
            .collect();
        order.extend(shared.iter().map(|&d| d as i64));
        let mut flat: Vec<i64> = order[..order.len() - shared.len()]
            .iter()
            .map(|&d| self.shape()[d as usize] as i64)
            .collect();
        flat.push(-1);
        let last = |t: &Tensor| t.permute(&order)?.reshape(&flat);
        // The first changed element of each location (element 0, unchanged, when none).
        let pick = last(&changed.to_dtype(DType::I64)?)?.argmax_argmin(Some(-1), true, true)?;
        let value = last(&new)?.gather(-1, &pick)?;
        let mut unique = self.clone();
        for &d in shared {
            unique = unique.narrow(d as i64, 0, 1)?;
        }
        let mut back = vec![0i64; order.len()];
        for (i, &d) in order.iter().enumerate() {
            back[d as usize] = i as i64;
        }
        // `value` is `[rest…, 1]`: back to `unique`'s shape.
        let mut kept: Vec<i64> = flat[..flat.len() - 1].to_vec();
        kept.extend(std::iter::repeat_n(1, shared.len()));
        unique.copy_(&value.reshape(&kept)?.permute(&back)?)
    }

    /// The shared body of the two above.
    fn apply_unchecked_inplace(
        &self,
        others: &[&Tensor],
        f: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<()> {
        self.check_inplace()?;
        let mut inputs = vec![self];
        inputs.extend_from_slice(others);
        let new = if needs_grad(&inputs) {
            let snapshot = self.snapshot_with_history()?;
            crate::ops::trace::alias(&snapshot, self);
            f(&snapshot)?
        } else {
            f(self)?
        };
        self.assign_from(&new)?;
        crate::ops::trace::alias(self, &new);
        Ok(())
    }

    /// `add_`, `sub_`, `mul_`, `div_` and friends: `self = self op other`.
    pub fn binary_(&self, op: BinaryOp, other: &Operand) -> Result<()> {
        self.binary_alpha_(op, other, None)
    }

    /// `add_(other, alpha=)` / `sub_`: `self = self op alpha·other`.
    pub fn binary_alpha_(
        &self,
        op: BinaryOp,
        other: &Operand,
        alpha: Option<Scalar>,
    ) -> Result<()> {
        if let (BinaryOp::Add | BinaryOp::Sub, Operand::Tensor(g)) = (op, other) {
            let a = alpha.map_or(1.0, |a| a.to_f64());
            let a = if op == BinaryOp::Sub { -a } else { a };
            if self.add_scaled_in_place(g, a)? {
                return Ok(());
            }
        }
        if let (Operand::Scalar(s), None) = (other, alpha) {
            if self.binary_scalar_in_place(op, *s)? {
                return Ok(());
            }
        }
        let others: Vec<&Tensor> = match other {
            Operand::Tensor(t) => vec![t],
            Operand::Scalar(_) => vec![],
        };
        self.apply_inplace(&others, |x| {
            binary_alpha(op, &Operand::Tensor(x.clone()), other, alpha)
        })
    }

    /// `copy_(src)`: broadcast and cast into self.
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        self.check_inplace()?;
        self.check_no_internal_overlap()?;
        let new = src.to_dtype(self.dtype())?.expand_to(self.shape()).map_err(|_| {
            Error::Runtime(format!(
                "The size of tensor a ({}) must match the size of tensor b ({}) at non-singleton dimension 0",
                self.shape().first().copied().unwrap_or(1),
                src.shape().first().copied().unwrap_or(1)
            ))
        })?;
        let src = if new.shares_storage(self) {
            new.contiguous_copy()?
        } else {
            new.clone()
        };
        let rebased = self.rebase_view_history(&new)?;
        self.write(&src)?;
        self.storage().bump_version();
        if is_grad_enabled() && !rebased {
            match new.grad_fn() {
                Some(f) => self.set_history(f, new.output_nr()),
                None if !self.is_leaf() => self.detach_(),
                None => {}
            }
        }
        Ok(())
    }

    /// `fill_(value)`.
    pub fn fill_(&self, value: Scalar) -> Result<()> {
        self.check_inplace()?;
        value.check_fits(self.dtype())?;
        self.storage().fill(self.layout(), value)?;
        // A constant written into a view of a base with history: that region of the base
        // stops depending on its inputs.
        let rebased = self.rebase_view_history(&self.detach())?;
        self.storage().bump_version();
        if is_grad_enabled() && !self.is_leaf() && !rebased {
            self.detach_();
        }
        Ok(())
    }

    pub fn zero_(&self) -> Result<()> {
        self.fill_(Scalar::Int(0))
    }

    /// `self += alpha·g` in one pass over self's storage, where nothing is recorded and
    /// the operands allow it: a float `self`, contiguous, and `g` of its dtype, shape and
    /// device, contiguous, sharing no memory with it (the SGD kernel without momentum,
    /// `p -= lr·g` with `lr = -alpha`). Returns false, having done nothing, otherwise; the
    /// general path computes `self op alpha·g` out of place and copies it back, three
    /// passes and two temporaries (a parameter update `p.add_(p.grad, alpha=-lr)` on an
    /// 8 MB weight).
    fn add_scaled_in_place(&self, g: &Tensor, alpha: f64) -> Result<bool> {
        let fits = self.dtype().is_float()
            && g.dtype() == self.dtype()
            && g.shape() == self.shape()
            && self.is_contiguous()
            && g.is_contiguous()
            && self.device() == g.device()
            && !g.shares_storage(self)
            && !needs_grad(&[self, g])
            && !crate::ops::trace::tracing();
        if !fits {
            return Ok(false);
        }
        self.check_inplace()?;
        let o = SgdOptions {
            lr: -alpha,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        };
        Storage::sgd_step(run(self), run(g), None, false, &o)?;
        self.storage().bump_version();
        if is_grad_enabled() && !self.is_leaf() {
            self.detach_();
        }
        Ok(true)
    }

    /// `self op s` in one pass over self's storage, where nothing is recorded and the
    /// operands allow it: a float, contiguous `self` whose dtype the number keeps, and one
    /// of the four arithmetic ops (`mul_(0.9)`, `div_(255)`, `add_(1)`), computed by the
    /// out-of-place op's element function. Returns false, having done nothing, otherwise;
    /// the general path computes the result out of place and copies it back.
    fn binary_scalar_in_place(&self, op: BinaryOp, s: Scalar) -> Result<bool> {
        let fits = matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
        ) && self.dtype().is_float()
            && !matches!(s, Scalar::Bool(_)) // (`sub_(True)` raises on the general path)
            && super::result_type(&[self], &[s]) == self.dtype()
            && self.is_contiguous()
            && !needs_grad(&[self])
            && !crate::ops::trace::tracing();
        if !fits {
            return Ok(false);
        }
        self.check_inplace()?;
        Storage::binary_scalar_(run(self), s, op)?;
        self.storage().bump_version();
        if is_grad_enabled() && !self.is_leaf() {
            self.detach_();
        }
        Ok(true)
    }

    /// `self += g` with no recording: gradient accumulation.
    pub(crate) fn add_assign_no_grad(&self, g: &Tensor) -> Result<()> {
        let _guard = crate::autograd::GradModeGuard::new(false);
        if self.add_scaled_in_place(g, 1.0)? {
            return Ok(());
        }
        let new = self.add(g)?;
        self.write(&new)?;
        self.storage().bump_version();
        Ok(())
    }

    /// Copies `src` (broadcast, cast, from any device; not aliasing self) into self's view.
    fn write(&self, src: &Tensor) -> Result<()> {
        self.storage()
            .copy_from(self.layout(), (src.storage(), src.layout()))
    }
}

/// PyTorch's name of a dtype's category in cast errors ("Float" for any float).
fn cat_name(d: DType) -> &'static str {
    match d.category() {
        Category::Floating if d != DType::F64 => "Float",
        _ => d.scalar_name(),
    }
}

/// Where a view lies in its base ([`Tensor::region_in`]): `view` maps a gradient of the
/// base's shape laid out as `grad_layout` (from offset 0; row-major for `None`) to the
/// view's elements.
struct Region {
    view: ViewFn,
    grad_layout: Option<Layout>,
}
