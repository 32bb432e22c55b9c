// Runtime selection of the kernel table: the best this CPU supports, unless a test forces a lower level.
#include <stdatomic.h>

#include "kernels_internal.h"

static _Atomic(const swv_kernel_table *) current_table = NULL;
static _Atomic int current_level = -1;

swv_isa swv_detect_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        return SWV_ISA_AVX2;
    }
#endif
    return SWV_ISA_SCALAR;
}

swv_isa swv_set_isa(swv_isa isa) {
    swv_isa best = swv_detect_isa();
    if (isa > best) isa = best;
    atomic_store(&current_table, isa == SWV_ISA_AVX2 ? &swv_avx2_table : &swv_scalar_table);
    atomic_store(&current_level, (int)isa);
    return isa;
}

static inline const swv_kernel_table *table(void) {
    const swv_kernel_table *t = atomic_load_explicit(&current_table, memory_order_acquire);
    if (t) return t;
    swv_set_isa(swv_detect_isa());
    return atomic_load(&current_table);
}

swv_isa swv_current_isa(void) {
    (void)table();
    return (swv_isa)atomic_load(&current_level);
}

void swv_quantize_row(int type, const float *x, void *y, int64_t n) { table()->quantize_row(type, x, y, n); }

float swv_vec_dot(int type, int64_t n, const void *w, const void *a) { return table()->vec_dot(type, n, w, a); }

void swv_matmul(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    table()->matmul(type, n, w, w_row_bytes, row_begin, row_end, a, a_row_bytes, tokens, out, out_stride);
}

void swv_attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                   int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                   int64_t head_begin, int64_t head_end, int64_t window, float scale) {
    table()->attention(q, q_stride, kv, out, out_stride, n_queries, first_position, n_heads, n_kv_heads, head_dim,
                       head_begin, head_end, window, scale);
}

void swv_glu(const float *g, const float *u, float *y, int64_t n, int gelu) { table()->glu(g, u, y, n, gelu); }

void swv_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    table()->rms_norm(x, w, y, n, eps);
}

void swv_half_to_float_row(const uint16_t *x, float *y, int64_t n) { table()->half_to_float_row(x, y, n); }

void swv_float_to_half_row(const float *x, uint16_t *y, int64_t n) { table()->float_to_half_row(x, y, n); }
