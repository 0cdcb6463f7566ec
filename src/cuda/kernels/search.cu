// Sorted search (src/cuda/search.rs), one thread per value.
//
//   search_sorted(out, seq, values, n, seq_rows, len, per_row, right, out_i32)
//       numeric; value k of the contiguous `values` (n of them, `per_row` per row) is
//       searched in row r = k / per_row of the contiguous sorted `seq` (`seq_rows` × `len`;
//       row 0 for every value when seq_rows is 1). The result is the first position whose
//       element is >= v (right: > v), written as int64, or int32 when out_i32. The
//       comparisons are PyTorch's (!(mid >= v) moves right), so NaN goes to the end.

KERNEL(search_sorted)(void* out, const scalar_t* seq, const scalar_t* values, long long n,
                      long long seq_rows, long long len, long long per_row, int right,
                      int out_i32) {
    RT_GRID_LOOP(k, n) {
        const long long r = seq_rows == 1 || per_row == 0 ? 0 : k / per_row;
        const scalar_t* s = seq + r * len;
        const acc_t v = rt_load(values, k);
        long long lo = 0, hi = len;
        while (lo < hi) {
            const long long mid = lo + ((hi - lo) >> 1);
            const acc_t m = rt_load(s, mid);
            const bool go_right = right ? !(m > v) : !(m >= v);
            if (go_right) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (out_i32) {
            ((int*)out)[k] = (int)lo;
        } else {
            ((long long*)out)[k] = lo;
        }
    }
}
