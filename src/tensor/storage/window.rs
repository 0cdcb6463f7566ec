//! The sliding-window families' dispatch: im2col and col2im, the convolutions, pooling,
//! the region-of-interest ops and uint8 resampling (see the parent module).

use super::*;
use crate::backend::ResampleAxis;

impl Storage {
    /// im2col of the view `l` (`[n, c, *w.input]`): contiguous `[n, c·∏kernel, ∏output]`.
    pub fn unfold(&self, l: &Layout, w: &Window) -> Result<Storage> {
        map_buffer!(self, b, B => B::unfold(b, l, w))
    }

    /// col2im of the view `l` (`[n, c·∏kernel, ∏output]`): contiguous `[n, c, *w.input]`.
    pub fn fold(&self, l: &Layout, w: &Window) -> Result<Storage> {
        map_buffer!(self, b, B => B::fold(b, l, w))
    }

    /// A direct 2-D convolution of the view `l` (`[n, cin, h, w]`) with the weight view
    /// `wl`, stride 1, `padding` on each side, plus the bias: a contiguous `[n, cout, oh,
    /// ow]`, or `None` where the backend has no direct kernel for these sizes.
    pub fn conv2d_direct(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        bias: Option<(&Storage, &Layout)>,
        padding: [usize; 2],
    ) -> Result<Option<Storage>> {
        let mut all = vec![self, w.0];
        all.extend(bias.map(|b| b.0));
        Ok(match same_device(&all)? {
            Device::Cpu => Cpu::conv2d_direct(
                host_of(self),
                l,
                host_of(w.0),
                w.1,
                bias.map(|(b, bl)| (host_of(b), bl)),
                padding,
            )?
            .map(Storage::from_host),
            Device::Cuda(_) => Cuda::conv2d_direct(
                cuda_of(self),
                l,
                cuda_of(w.0),
                w.1,
                bias.map(|(b, bl)| (cuda_of(b), bl)),
                padding,
            )?
            .map(|b| Storage::new(Buffer::Cuda(b))),
        })
    }

    /// The input gradient of [`Storage::conv2d_direct`]: the output gradient view `l`
    /// against the weight `w`, a contiguous `[n, cin, h, w]`, or `None` as there.
    pub fn conv2d_direct_input_grad(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        padding: [usize; 2],
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, w.0])? {
            Device::Cpu => {
                Cpu::conv2d_direct_input_grad(host_of(self), l, host_of(w.0), w.1, padding)?
                    .map(Storage::from_host)
            }
            Device::Cuda(_) => {
                Cuda::conv2d_direct_input_grad(cuda_of(self), l, cuda_of(w.0), w.1, padding)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// The weight gradient of [`Storage::conv2d_direct`]: the input view `l` against the
    /// output gradient `g`, a contiguous `[cout, cin, *kernel]`, or `None` as there.
    pub fn conv2d_direct_weight_grad(
        &self,
        l: &Layout,
        g: (&Storage, &Layout),
        kernel: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, g.0])? {
            Device::Cpu => Cpu::conv2d_direct_weight_grad(
                host_of(self),
                l,
                host_of(g.0),
                g.1,
                kernel,
                padding,
            )?
            .map(Storage::from_host),
            Device::Cuda(_) => Cuda::conv2d_direct_weight_grad(
                cuda_of(self),
                l,
                cuda_of(g.0),
                g.1,
                kernel,
                padding,
            )?
            .map(|b| Storage::new(Buffer::Cuda(b))),
        })
    }

    /// Max pooling of the view `l`: (maxima, int64 flat indices within each input plane).
    pub fn max_pool(&self, l: &Layout, w: &Window) -> Result<(Storage, Storage)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (v, i) = Cpu::max_pool(b, l, w)?;
                (Storage::from_host(v), Storage::from_host(i))
            }
            Buffer::Cuda(b) => {
                let (v, i) = Cuda::max_pool(b, l, w)?;
                (Storage::new(Buffer::Cuda(v)), Storage::new(Buffer::Cuda(i)))
            }
        })
    }

    /// Fractional max pooling of the view `l` (windows of `w.kernel` positions from the
    /// per-plane first positions `starts`): (maxima, int64 flat indices within each plane).
    pub fn fractional_max_pool(
        &self,
        l: &Layout,
        w: &Window,
        starts: &[usize],
    ) -> Result<(Storage, Storage)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (v, i) = Cpu::fractional_max_pool(b, l, w, starts)?;
                (Storage::from_host(v), Storage::from_host(i))
            }
            Buffer::Cuda(b) => {
                let (v, i) = Cuda::fractional_max_pool(b, l, w, starts)?;
                (Storage::new(Buffer::Cuda(v)), Storage::new(Buffer::Cuda(i)))
            }
        })
    }

    /// The gradient of [`Storage::max_pool`], from the gradient view `l` of its output and
    /// the indices it returned.
    pub fn max_pool_backward(&self, l: &Layout, idx: &Storage, w: &Window) -> Result<Storage> {
        Ok(match same_device(&[self, idx])? {
            Device::Cpu => {
                Storage::from_host(Cpu::max_pool_backward(host_of(self), l, host_of(idx), w)?)
            }
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::max_pool_backward(
                cuda_of(self),
                l,
                cuda_of(idx),
                w,
            )?)),
        })
    }

    /// RoI max pooling of this contiguous `[batch, channels, height, width]` storage over the
    /// contiguous `[rois, 5]` boxes: (maxima, int64 flat indices within each input plane).
    pub fn roi_pool(&self, rois: &Storage, p: &RoiPool) -> Result<(Storage, Storage)> {
        Ok(match same_device(&[self, rois])? {
            Device::Cpu => {
                let (v, i) = Cpu::roi_pool(host_of(self), host_of(rois), p)?;
                (Storage::from_host(v), Storage::from_host(i))
            }
            Device::Cuda(_) => {
                let (v, i) = Cuda::roi_pool(cuda_of(self), cuda_of(rois), p)?;
                (Storage::new(Buffer::Cuda(v)), Storage::new(Buffer::Cuda(i)))
            }
        })
    }

    /// The gradient of [`Storage::roi_pool`] from this contiguous gradient of its output, the
    /// indices it returned and its boxes.
    pub fn roi_pool_backward(&self, idx: &Storage, rois: &Storage, p: &RoiPool) -> Result<Storage> {
        Ok(match same_device(&[self, idx, rois])? {
            Device::Cpu => Storage::from_host(Cpu::roi_pool_backward(
                host_of(self),
                host_of(idx),
                host_of(rois),
                p,
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::roi_pool_backward(
                cuda_of(self),
                cuda_of(idx),
                cuda_of(rois),
                p,
            )?)),
        })
    }

    /// RoI Align of this contiguous `[batch, channels, height, width]` storage over the
    /// contiguous `[rois, 5]` boxes.
    pub fn roi_align(&self, rois: &Storage, p: &RoiAlign) -> Result<Storage> {
        Ok(match same_device(&[self, rois])? {
            Device::Cpu => Storage::from_host(Cpu::roi_align(host_of(self), host_of(rois), p)?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::roi_align(
                cuda_of(self),
                cuda_of(rois),
                p,
            )?)),
        })
    }

    /// The gradient of [`Storage::roi_align`] from this contiguous gradient of its output and
    /// its boxes.
    pub fn roi_align_backward(&self, rois: &Storage, p: &RoiAlign) -> Result<Storage> {
        Ok(match same_device(&[self, rois])? {
            Device::Cpu => {
                Storage::from_host(Cpu::roi_align_backward(host_of(self), host_of(rois), p)?)
            }
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::roi_align_backward(
                cuda_of(self),
                cuda_of(rois),
                p,
            )?)),
        })
    }

    /// One axis of a separable resampling of this contiguous float storage (see
    /// [`ResampleAxis`]).
    pub fn resample_axis(&self, p: &ResampleAxis<f64>) -> Result<Storage> {
        map_buffer!(self, b, B => B::resample_axis(b, p))
    }

    /// One axis of PyTorch's uint8 resampling of this contiguous uint8 storage, `bits` of
    /// the weights fractional (see [`Backend::resample_u8`]).
    pub fn resample_u8(&self, p: &ResampleAxis<i16>, bits: u32) -> Result<Storage> {
        map_buffer!(self, b, B => B::resample_u8(b, p, bits))
    }

    /// Greedy non-maximum suppression of this contiguous `[n, 4]` storage of boxes sorted by
    /// descending score: the positions kept.
    pub fn nms(&self, iou_threshold: f64) -> Result<Vec<usize>> {
        match &self.buffer {
            Buffer::Cpu(b) => Cpu::nms(b, iou_threshold),
            Buffer::Cuda(b) => Cuda::nms(b, iou_threshold),
        }
    }

    /// Average pooling of the view `l`.
    pub fn avg_pool(&self, l: &Layout, w: &Window, d: AvgDivisor) -> Result<Storage> {
        map_buffer!(self, b, B => B::avg_pool(b, l, w, d))
    }

    /// The adjoint of [`Storage::avg_pool`], from the gradient view `l` of its output.
    pub fn avg_pool_backward(&self, l: &Layout, w: &Window, d: AvgDivisor) -> Result<Storage> {
        map_buffer!(self, b, B => B::avg_pool_backward(b, l, w, d))
    }

    /// [`Backend::conv_tiled`] on this storage's device.
    pub fn conv_tiled(
        &self,
        l: &Layout,
        w: &Storage,
        bias: Option<&Storage>,
        win: &Window,
    ) -> Result<Option<Storage>> {
        let mut all = vec![self, w];
        all.extend(bias);
        Ok(match same_device(&all)? {
            Device::Cpu => Cpu::conv_tiled(host_of(self), l, host_of(w), bias.map(host_of), win)?
                .map(Storage::from_host),
            Device::Cuda(_) => {
                Cuda::conv_tiled(cuda_of(self), l, cuda_of(w), bias.map(cuda_of), win)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// [`Backend::conv_tiled_input_grad`] of this (contiguous) gradient of `n` images.
    pub fn conv_tiled_input_grad(
        &self,
        n: usize,
        w: &Storage,
        cin: usize,
        win: &Window,
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, w])? {
            Device::Cpu => Cpu::conv_tiled_input_grad(host_of(self), n, host_of(w), cin, win)?
                .map(Storage::from_host),
            Device::Cuda(_) => Cuda::conv_tiled_input_grad(cuda_of(self), n, cuda_of(w), cin, win)?
                .map(|b| Storage::new(Buffer::Cuda(b))),
        })
    }

    /// [`Backend::conv_tiled_weight_grad`]: this input view against the contiguous gradient
    /// `g` of `cout` channels.
    pub fn conv_tiled_weight_grad(
        &self,
        l: &Layout,
        g: &Storage,
        cout: usize,
        win: &Window,
    ) -> Result<Option<Storage>> {
        Ok(match same_device(&[self, g])? {
            Device::Cpu => Cpu::conv_tiled_weight_grad(host_of(self), l, host_of(g), cout, win)?
                .map(Storage::from_host),
            Device::Cuda(_) => {
                Cuda::conv_tiled_weight_grad(cuda_of(self), l, cuda_of(g), cout, win)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }
}
