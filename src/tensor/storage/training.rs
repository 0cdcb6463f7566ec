//! The fused training kernels' dispatch: batch and layer norm, the recurrent layers,
//! cross-entropy, attention weights and the optimizer steps (see the parent module).

use super::*;

impl Storage {
    // ---- batch norm (contiguous `[n, c, s]` storages from offset 0; see `Backend`) -----------

    /// Per channel: the mean and the biased variance.
    pub fn channel_stats(&self, dims: [usize; 3]) -> Result<(Storage, Storage)> {
        Ok(match &self.buffer {
            Buffer::Cpu(b) => {
                let (m, v) = Cpu::channel_stats(b, dims)?;
                (Storage::from_host(m), Storage::from_host(v))
            }
            Buffer::Cuda(b) => {
                let (m, v) = Cuda::channel_stats(b, dims)?;
                (Storage::new(Buffer::Cuda(m)), Storage::new(Buffer::Cuda(v)))
            }
        })
    }

    /// Per channel of this gradient against `x`: `Σ g` and `Σ g·(x − mean)`.
    pub fn channel_grad_sums(
        &self,
        x: &Storage,
        mean: &Storage,
        dims: [usize; 3],
    ) -> Result<(Storage, Storage)> {
        Ok(match same_device(&[self, x, mean])? {
            Device::Cpu => {
                let (p, q) =
                    Cpu::channel_grad_sums(host_of(self), host_of(x), host_of(mean), dims)?;
                (Storage::from_host(p), Storage::from_host(q))
            }
            Device::Cuda(_) => {
                let (p, q) =
                    Cuda::channel_grad_sums(cuda_of(self), cuda_of(x), cuda_of(mean), dims)?;
                (Storage::new(Buffer::Cuda(p)), Storage::new(Buffer::Cuda(q)))
            }
        })
    }

    /// `(self − center)·a + b`, plus `y·d` when `y = Some((y, d))`, per channel.
    pub fn channel_affine(
        &self,
        [center, a, b]: [&Storage; 3],
        y: Option<(&Storage, &Storage)>,
        dims: [usize; 3],
    ) -> Result<Storage> {
        let mut all = vec![self, center, a, b];
        all.extend(y.iter().flat_map(|(y, d)| [*y, *d]));
        Ok(match same_device(&all)? {
            Device::Cpu => Storage::from_host(Cpu::channel_affine(
                host_of(self),
                [host_of(center), host_of(a), host_of(b)],
                y.map(|(y, d)| (host_of(y), host_of(d))),
                dims,
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::channel_affine(
                cuda_of(self),
                [cuda_of(center), cuda_of(a), cuda_of(b)],
                y.map(|(y, d)| (cuda_of(y), cuda_of(d))),
                dims,
            )?)),
        })
    }

    // ---- layer norm (contiguous storages from offset 0; see `Backend`) ----------------------

    /// Each row of `[rows, len]` normalised, scaled by `w` and shifted by `b`:
    /// `[out, mean, rstd]`.
    pub fn layer_norm(
        &self,
        w: Option<&Storage>,
        b: Option<&Storage>,
        dims: [usize; 2],
        eps: f64,
    ) -> Result<[Storage; 3]> {
        let mut all = vec![self];
        all.extend(w);
        all.extend(b);
        Ok(match same_device(&all)? {
            Device::Cpu => {
                Cpu::layer_norm(host_of(self), w.map(host_of), b.map(host_of), dims, eps)?
                    .map(Storage::from_host)
            }
            Device::Cuda(_) => {
                Cuda::layer_norm(cuda_of(self), w.map(cuda_of), b.map(cuda_of), dims, eps)?
                    .map(|b| Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// The input gradient of [`Storage::layer_norm`] from this output gradient, and with
    /// `params` the weight's and the bias's.
    pub fn layer_norm_backward(
        &self,
        x: &Storage,
        [mean, rstd]: [&Storage; 2],
        w: Option<&Storage>,
        dims: [usize; 2],
        params: bool,
    ) -> Result<LayerNormGrads<Storage>> {
        let mut all = vec![self, x, mean, rstd];
        all.extend(w);
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let (gx, p) = Cpu::layer_norm_backward(
                    host_of(self),
                    host_of(x),
                    [host_of(mean), host_of(rstd)],
                    w.map(host_of),
                    dims,
                    params,
                )?;
                let p = p.map(|(a, b)| (Storage::from_host(a), Storage::from_host(b)));
                (Storage::from_host(gx), p)
            }
            Device::Cuda(_) => {
                let (gx, p) = Cuda::layer_norm_backward(
                    cuda_of(self),
                    cuda_of(x),
                    [cuda_of(mean), cuda_of(rstd)],
                    w.map(cuda_of),
                    dims,
                    params,
                )?;
                let cuda = |b| Storage::new(Buffer::Cuda(b));
                (cuda(gx), p.map(|(a, b)| (cuda(a), cuda(b))))
            }
        })
    }

    // ---- recurrent layers (contiguous storages from offset 0; see `Backend`) ----------------

    /// One recurrent layer over a sequence, from its input and the input projection's
    /// operands.
    pub fn rnn_forward(
        run: &RnnRun<'_>,
        input: RnnInput<&Storage>,
        w_hh: &Storage,
        b_hh: Option<&Storage>,
        h0: &Storage,
        c0: Option<&Storage>,
    ) -> Result<RnnSaved<Storage>> {
        let mut all = vec![input.x, input.w_ih, w_hh, h0];
        all.extend(input.b_ih);
        all.extend(b_hh);
        all.extend(c0);
        same_device(&all)?;
        let features = input.features;
        Ok(match &input.x.buffer {
            Buffer::Cpu(x) => {
                let input = RnnInput {
                    x,
                    w_ih: host_of(input.w_ih),
                    b_ih: input.b_ih.map(host_of),
                    features,
                };
                let r = Cpu::rnn_forward(
                    run,
                    input,
                    host_of(w_hh),
                    b_hh.map(host_of),
                    host_of(h0),
                    c0.map(host_of),
                )?;
                saved_storages(r, Buffer::Cpu)
            }
            Buffer::Cuda(x) => {
                let input = RnnInput {
                    x,
                    w_ih: cuda_of(input.w_ih),
                    b_ih: input.b_ih.map(cuda_of),
                    features,
                };
                let r = Cuda::rnn_forward(
                    run,
                    input,
                    cuda_of(w_hh),
                    b_hh.map(cuda_of),
                    cuda_of(h0),
                    c0.map(cuda_of),
                )?;
                saved_storages(r, Buffer::Cuda)
            }
        })
    }

    /// Backward through time of [`Storage::rnn_forward`].
    #[allow(clippy::too_many_arguments)]
    pub fn rnn_backward(
        run: &RnnRun<'_>,
        saved: RnnSaved<&Storage>,
        w_hh: &Storage,
        h0: &Storage,
        c0: Option<&Storage>,
        dout: Option<&Storage>,
        dh_n: Option<&Storage>,
        dc_n: Option<&Storage>,
    ) -> Result<RnnGrads<Storage>> {
        let mut all = vec![saved.gates, saved.h, w_hh, h0];
        all.extend(saved.extra);
        all.extend(c0.into_iter().chain(dout).chain(dh_n).chain(dc_n));
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let of = host_of;
                let s = RnnSaved {
                    gates: of(saved.gates),
                    h: of(saved.h),
                    extra: saved.extra.map(of),
                };
                let r = Cpu::rnn_backward(
                    run,
                    s,
                    of(w_hh),
                    of(h0),
                    c0.map(of),
                    dout.map(of),
                    dh_n.map(of),
                    dc_n.map(of),
                )?;
                grad_storages(r, Buffer::Cpu)
            }
            Device::Cuda(_) => {
                let of = cuda_of;
                let s = RnnSaved {
                    gates: of(saved.gates),
                    h: of(saved.h),
                    extra: saved.extra.map(of),
                };
                let r = Cuda::rnn_backward(
                    run,
                    s,
                    of(w_hh),
                    of(h0),
                    c0.map(of),
                    dout.map(of),
                    dh_n.map(of),
                    dc_n.map(of),
                )?;
                grad_storages(r, Buffer::Cuda)
            }
        })
    }

    // ---- fused training kernels -----------------------------------------------------------------

    /// Per-row cross-entropy and target weight (see [`Backend::cross_entropy`]).
    pub fn cross_entropy(
        &self,
        l: &Layout,
        target: View<'_>,
        weight: Option<View<'_>>,
        ignore_index: i64,
        label_smoothing: f64,
    ) -> Result<(Storage, Storage)> {
        let mut all = vec![self, target.0];
        all.extend(weight.map(|w| w.0));
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let (a, b) = Cpu::cross_entropy(
                    host_of(self),
                    l,
                    host_of(target.0),
                    target.1,
                    weight.map(|(s, l)| (host_of(s), l)),
                    ignore_index,
                    label_smoothing,
                )?;
                (Storage::from_host(a), Storage::from_host(b))
            }
            Device::Cuda(_) => {
                let (a, b) = Cuda::cross_entropy(
                    cuda_of(self),
                    l,
                    cuda_of(target.0),
                    target.1,
                    weight.map(|(s, l)| (cuda_of(s), l)),
                    ignore_index,
                    label_smoothing,
                )?;
                (Storage::new(Buffer::Cuda(a)), Storage::new(Buffer::Cuda(b)))
            }
        })
    }

    /// The input gradient of cross-entropy (see [`Backend::cross_entropy_backward`]);
    /// `scale` is contiguous from its first element.
    pub fn cross_entropy_backward(
        &self,
        l: &Layout,
        target: View<'_>,
        scale: &Storage,
    ) -> Result<Storage> {
        Ok(match same_device(&[self, target.0, scale])? {
            Device::Cpu => Storage::from_host(Cpu::cross_entropy_backward(
                host_of(self),
                l,
                host_of(target.0),
                target.1,
                host_of(scale),
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::cross_entropy_backward(
                cuda_of(self),
                l,
                cuda_of(target.0),
                target.1,
                cuda_of(scale),
            )?)),
        })
    }

    /// The attention weights of these contiguous scores (see
    /// [`Backend::attention_softmax`]): `(y, out)`, `out` only with dropout (`keep`: the
    /// kept positions and `1/(1 − p)`).
    pub fn attention_softmax(
        &self,
        a: &AttnRows,
        mask: Option<View<'_>>,
        keep: Option<(&Storage, f64)>,
    ) -> Result<(Storage, Option<Storage>)> {
        let mut all = vec![self];
        all.extend(mask.map(|m| m.0));
        all.extend(keep.map(|k| k.0));
        Ok(match same_device(&all)? {
            Device::Cpu => {
                let (y, out) = Cpu::attention_softmax(
                    host_of(self),
                    a,
                    mask.map(|(m, l)| (host_of(m), l)),
                    keep.map(|(k, ks)| (host_of(k), ks)),
                )?;
                (Storage::from_host(y), out.map(Storage::from_host))
            }
            Device::Cuda(_) => {
                let (y, out) = Cuda::attention_softmax(
                    cuda_of(self),
                    a,
                    mask.map(|(m, l)| (cuda_of(m), l)),
                    keep.map(|(k, ks)| (cuda_of(k), ks)),
                )?;
                let on = |b| Storage::new(Buffer::Cuda(b));
                (on(y), out.map(on))
            }
        })
    }

    /// The scores' gradient of [`Storage::attention_softmax`] from its weights (this
    /// storage) and the gradient `g` of its output.
    pub fn attention_softmax_backward(
        &self,
        g: &Storage,
        [rows, len]: [usize; 2],
        keep: Option<(&Storage, f64)>,
        scale: f64,
    ) -> Result<Storage> {
        let mut all = vec![self, g];
        all.extend(keep.map(|k| k.0));
        Ok(match same_device(&all)? {
            Device::Cpu => Storage::from_host(Cpu::attention_softmax_backward(
                host_of(self),
                host_of(g),
                rows,
                len,
                keep.map(|(k, ks)| (host_of(k), ks)),
                scale,
            )?),
            Device::Cuda(_) => Storage::new(Buffer::Cuda(Cuda::attention_softmax_backward(
                cuda_of(self),
                cuda_of(g),
                rows,
                len,
                keep.map(|(k, ks)| (cuda_of(k), ks)),
                scale,
            )?)),
        })
    }

    /// One SGD step: `p`, `g`, `buf` are contiguous runs `(storage, offset, len)`.
    pub fn sgd_step(
        p: Run<'_>,
        g: Run<'_>,
        buf: Option<Run<'_>>,
        first: bool,
        o: &SgdOptions,
    ) -> Result<()> {
        let mut all = vec![p.0, g.0];
        all.extend(buf.map(|b| b.0));
        match same_device(&all)? {
            Device::Cpu => {
                let sp = host_span;
                Cpu::sgd_step(sp(p), sp(g), buf.map(sp), first, o)
            }
            Device::Cuda(_) => {
                let sp = cuda_span;
                Cuda::sgd_step(sp(p), sp(g), buf.map(sp), first, o)
            }
        }
    }

    /// One Adam step over contiguous runs `(storage, offset, len)`.
    pub fn adam_step(
        p: Run<'_>,
        g: Run<'_>,
        m: Run<'_>,
        v: Run<'_>,
        vmax: Option<Run<'_>>,
        step: f64,
        o: &AdamOptions,
    ) -> Result<()> {
        let mut all = vec![p.0, g.0, m.0, v.0];
        all.extend(vmax.map(|b| b.0));
        match same_device(&all)? {
            Device::Cpu => {
                let sp = host_span;
                Cpu::adam_step(sp(p), sp(g), sp(m), sp(v), vmax.map(sp), step, o)
            }
            Device::Cuda(_) => {
                let sp = cuda_span;
                Cuda::adam_step(sp(p), sp(g), sp(m), sp(v), vmax.map(sp), step, o)
            }
        }
    }
}
