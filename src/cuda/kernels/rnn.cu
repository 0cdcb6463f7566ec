// Recurrent layers (src/cuda/rnn.rs, the CPU's src/cpu/rnn.rs): the per-step cell update
// after the step's recurrent product, and its backward. One thread per (row, unit) of a
// [batch, hidden] step; `cell` is RnnCell::code (0 tanh, 1 relu, 2 LSTM, 3 GRU). Gates are
// in PyTorch's order (LSTM: i f g o; GRU: r z n), G blocks of `hidden` per row.
//
//   rnn_cell_forward(gates, hw, b_hh, h_prev, c_prev, h, extra, cell, live, batch, hidden)
//       gates: the step's input projections, hw: its recurrent product h_prev W_hh^T;
//       writes the activated gates back into gates, the new state into h, and LSTM's cell
//       state (GRU: hw_n + b_hn) into extra. Rows from `live` on carry h_prev
//       (and c_prev) through.
//   rnn_cell_backward(gates, h, extra, extra_prev, h_prev, dout, dh, dc, dgx, dgh, cell,
//                     live, batch, hidden)
//       dh (and LSTM's dc) in: the gradient w.r.t. the step's new state; out: the part of
//       the previous state's gradient that does not go through W_hh. Writes the gradients
//       w.r.t. the input projections into dgx, and GRU's w.r.t. the hidden projections
//       into dgh. Carried rows pass dh (plus dout) and dc through with zero gate gradients.

__device__ __forceinline__ acc_t rt_sigmoid(acc_t x) {
    return static_cast<acc_t>(1) / (static_cast<acc_t>(1) + rt_exp(-x));
}

KERNEL(rnn_cell_forward)(scalar_t* gates, const scalar_t* hw, const scalar_t* b_hh,
                         const scalar_t* h_prev, const scalar_t* c_prev, scalar_t* h,
                         scalar_t* extra, int cell, long long live, long long batch,
                         long long hidden) {
    const acc_t one = static_cast<acc_t>(1), zero = static_cast<acc_t>(0);
    const int ng = cell == 2 ? 4 : (cell == 3 ? 3 : 1);
    const long long gh = ng * hidden;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < batch * hidden;
         i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / hidden, j = i - r * hidden;
        if (r >= live) {
            h[i] = h_prev[i];
            if (cell == 2) extra[i] = c_prev[i];
            if (cell == 3) rt_store(extra, i, zero);  // unused; zero as the CPU leaves it
            continue;
        }
        scalar_t* g = gates + r * gh;
        const scalar_t* w = hw + r * gh;
        const auto bias = [&](int k) { return b_hh != nullptr ? rt_load(b_hh, k * hidden + j) : zero; };
        // Gate k's pre-activation (GRU's n gate is assembled apart).
        const auto pre = [&](int k) { return rt_load(g, k * hidden + j) + rt_load(w, k * hidden + j) + bias(k); };
        if (cell == 0 || cell == 1) {
            const acc_t v = pre(0);
            acc_t y;
            if (cell == 0) y = rt_tanh(v);
            else y = (v > zero || v != v) ? v : zero;
            rt_store(h, i, y);
        } else if (cell == 2) {
            const acc_t ig = rt_sigmoid(pre(0));
            const acc_t fg = rt_sigmoid(pre(1));
            const acc_t u = rt_tanh(pre(2));
            const acc_t o = rt_sigmoid(pre(3));
            const acc_t c = fg * rt_load(c_prev, i) + ig * u;
            rt_store(g, j, ig);
            rt_store(g, hidden + j, fg);
            rt_store(g, 2 * hidden + j, u);
            rt_store(g, 3 * hidden + j, o);
            rt_store(extra, i, c);
            rt_store(h, i, o * rt_tanh(c));
        } else {
            const acc_t rr = rt_sigmoid(pre(0));
            const acc_t z = rt_sigmoid(pre(1));
            const acc_t hn = rt_load(w, 2 * hidden + j) + bias(2);
            const acc_t n = rt_tanh(rt_load(g, 2 * hidden + j) + rr * hn);
            rt_store(g, j, rr);
            rt_store(g, hidden + j, z);
            rt_store(g, 2 * hidden + j, n);
            rt_store(extra, i, hn);
            rt_store(h, i, (one - z) * n + z * rt_load(h_prev, i));
        }
    }
}

KERNEL(rnn_cell_backward)(const scalar_t* gates, const scalar_t* h, const scalar_t* extra,
                          const scalar_t* extra_prev, const scalar_t* h_prev,
                          const scalar_t* dout, scalar_t* dh, scalar_t* dc, scalar_t* dgx,
                          scalar_t* dgh, int cell, long long live, long long batch,
                          long long hidden) {
    const acc_t one = static_cast<acc_t>(1), zero = static_cast<acc_t>(0);
    const int ng = cell == 2 ? 4 : (cell == 3 ? 3 : 1);
    const long long gh = ng * hidden;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < batch * hidden;
         i += (long long)gridDim.x * blockDim.x) {
        const long long r = i / hidden, j = i - r * hidden;
        acc_t d = rt_load(dh, i);
        if (dout != nullptr) d += rt_load(dout, i);
        scalar_t* gx = dgx + r * gh;
        if (r >= live) {
            rt_store(dh, i, d);
            for (int k = 0; k < ng; ++k) {
                rt_store(gx, k * hidden + j, zero);
                if (dgh != nullptr) rt_store(dgh + r * gh, k * hidden + j, zero);
            }
            continue;
        }
        const scalar_t* g = gates + r * gh;
        if (cell == 0 || cell == 1) {
            const acc_t y = rt_load(h, i);
            rt_store(gx, j, cell == 0 ? d * (one - y * y) : (y > zero ? d : zero));
            rt_store(dh, i, zero);
        } else if (cell == 2) {
            const acc_t ig = rt_load(g, j), fg = rt_load(g, hidden + j);
            const acc_t u = rt_load(g, 2 * hidden + j), o = rt_load(g, 3 * hidden + j);
            const acc_t tc = rt_tanh(rt_load(extra, i));
            const acc_t dct = rt_load(dc, i) + d * o * (one - tc * tc);
            rt_store(gx, j, dct * u * ig * (one - ig));
            rt_store(gx, hidden + j, dct * rt_load(extra_prev, i) * fg * (one - fg));
            rt_store(gx, 2 * hidden + j, dct * ig * (one - u * u));
            rt_store(gx, 3 * hidden + j, d * tc * o * (one - o));
            rt_store(dc, i, dct * fg);
            rt_store(dh, i, zero);
        } else {
            const acc_t rr = rt_load(g, j), z = rt_load(g, hidden + j), n = rt_load(g, 2 * hidden + j);
            const acc_t dan = d * (one - z) * (one - n * n);
            const acc_t dar = dan * rt_load(extra, i) * rr * (one - rr);
            const acc_t daz = d * (rt_load(h_prev, i) - n) * z * (one - z);
            scalar_t* gg = dgh + r * gh;
            rt_store(gx, j, dar);
            rt_store(gx, hidden + j, daz);
            rt_store(gx, 2 * hidden + j, dan);
            rt_store(gg, j, dar);
            rt_store(gg, hidden + j, daz);
            rt_store(gg, 2 * hidden + j, dan * rr);
            rt_store(dh, i, d * z);
        }
    }
}
