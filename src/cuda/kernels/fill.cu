// fill_<dtype>(out, n, value): out[i] = value for a contiguous buffer of n elements.

KERNEL(fill)(scalar_t* out, long long n, double value) {
    const scalar_t v = static_cast<scalar_t>(static_cast<acc_t>(value));
    RT_GRID_LOOP(i, n) { out[i] = v; }
}
