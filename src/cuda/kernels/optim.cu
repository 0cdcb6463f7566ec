// Fused optimizer updates, in place, one pass per parameter. The formulas and their order
// of operations are those of src/cpu/fused.rs (PyTorch's single-tensor order), and the
// hyper-parameters arrive as doubles and are rounded to the arithmetic type as the CPU
// kernels round them (`T::lit`), so the trajectories agree.

// Bits of the `flags` argument.
#define RT_SGD_NESTEROV 1
#define RT_SGD_MAXIMIZE 2
#define RT_SGD_FIRST 4  // the momentum buffer was just created: set it to the gradient

// sgd_<dtype>(p, g, buf, n, lr, momentum, dampening, weight_decay, flags)
// `buf` is the momentum buffer, or null for plain SGD (momentum == 0).
KERNEL(sgd)(scalar_t* p, const scalar_t* g, scalar_t* buf, long long n, double lr,
            double momentum, double dampening, double weight_decay, int flags) {
    const acc_t wd = static_cast<acc_t>(weight_decay);
    const acc_t m = static_cast<acc_t>(momentum);
    const acc_t damp = static_cast<acc_t>(1.0 - dampening);
    const acc_t neg_lr = static_cast<acc_t>(-lr);
    const bool nesterov = (flags & RT_SGD_NESTEROV) != 0;
    const bool maximize = (flags & RT_SGD_MAXIMIZE) != 0;
    const bool first = (flags & RT_SGD_FIRST) != 0;
    RT_GRID_LOOP(i, n) {
        const acc_t pi = rt_load(p, i);
        acc_t gi = rt_load(g, i);
        if (maximize) gi = -gi;
        // PyTorch's add_(…, alpha=) steps, each one fused multiply-add as on the CPU.
        if (weight_decay != 0.0) gi = rt_fma(wd, pi, gi);
        acc_t d = gi;
        if (buf != nullptr) {
            const acc_t b = first ? gi : rt_fma(damp, gi, rt_load(buf, i) * m);
            rt_store(buf, i, b);
            d = nesterov ? rt_fma(m, b, gi) : b;
        }
        rt_store(p, i, rt_fma(neg_lr, d, pi));
    }
}

#define RT_ADAM_AMSGRAD 1
#define RT_ADAM_MAXIMIZE 2
#define RT_ADAM_DECOUPLED 4  // AdamW: decay the parameter instead of adding to the gradient

// adam_<dtype>(p, g, m, v, vmax, n, step_size, bc2_sqrt, beta1, beta2, eps, weight_decay,
//              decay, flags)
// One Adam / AdamW step at step number t, with the constants the host computes as
// src/cpu/fused.rs does: step_size = -(lr / (1 - beta1^t)), bc2_sqrt = sqrt(1 - beta2^t),
// decay = 1 - lr * weight_decay. `vmax` is the amsgrad buffer, or null without amsgrad.
KERNEL(adam)(scalar_t* p, const scalar_t* g, scalar_t* m, scalar_t* v, scalar_t* vmax,
             long long n, double step_size, double bc2_sqrt, double beta1, double beta2,
             double eps, double weight_decay, double decay, int flags) {
    const double w = 1.0 - beta1;
    const bool small_w = (w < 0 ? -w : w) < 0.5;
    const acc_t wt = static_cast<acc_t>(w);
    const acc_t one_minus_w = static_cast<acc_t>(1.0 - w);
    const acc_t b2 = static_cast<acc_t>(beta2);
    const acc_t one_minus_b2 = static_cast<acc_t>(1.0 - beta2);
    const acc_t wd = static_cast<acc_t>(weight_decay);
    const acc_t dec = static_cast<acc_t>(decay);
    const acc_t ep = static_cast<acc_t>(eps);
    const acc_t ss = static_cast<acc_t>(step_size);
    const acc_t bc2 = static_cast<acc_t>(bc2_sqrt);
    const bool amsgrad = (flags & RT_ADAM_AMSGRAD) != 0 && vmax != nullptr;
    const bool maximize = (flags & RT_ADAM_MAXIMIZE) != 0;
    const bool decoupled = (flags & RT_ADAM_DECOUPLED) != 0;
    RT_GRID_LOOP(i, n) {
        acc_t pi = rt_load(p, i);
        acc_t gi = rt_load(g, i);
        if (maximize) gi = -gi;
        if (weight_decay != 0.0) {
            if (decoupled) {
                pi = pi * dec;
            } else {
                gi = gi + wd * pi;
            }
        }
        // exp_avg.lerp_(grad, 1 - beta1), PyTorch's two-sided lerp.
        acc_t mi = rt_load(m, i);
        mi = small_w ? mi + wt * (gi - mi) : gi - (gi - mi) * one_minus_w;
        const acc_t vi = rt_load(v, i) * b2 + gi * one_minus_b2 * gi;
        rt_store(m, i, mi);
        rt_store(v, i, vi);
        acc_t second = vi;
        if (amsgrad) {
            second = rt_max_nan(rt_load(vmax, i), vi);
            rt_store(vmax, i, second);
        }
        const acc_t denom = rt_sqrt(second) / bc2 + ep;
        rt_store(p, i, pi + mi * ss / denom);
    }
}
