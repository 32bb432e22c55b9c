// Swerve's leaf kernels: the only C in the package.
//
// Every kernel has a portable scalar reference (`swv_scalar_*`) and, where it pays, an AVX2 variant; the
// dispatching entry points (`swv_*`) pick the best variant this CPU supports once, at first use, with
// `__builtin_cpu_supports`, so one binary runs on any x86-64. `swv_set_isa` forces a level (tests run the
// scalar path and compare it with the SIMD one on every run).
//
// Block layouts are ggml's (GGUF files store them): Q4_0, Q4_1, Q5_0, Q8_0 hold 32 values per block, Q4_K,
// Q6_K 256. Matrix products quantize the activations per block to 8 bits (Q8_0, Q8_1 or Q8_K, whichever
// the weight type pairs with) and sum integer products per block, as llama.cpp's CPU backend does.
#ifndef SWERVE_KERNELS_H
#define SWERVE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels, lowest first.
typedef enum {
    SWV_ISA_SCALAR = 0,
    SWV_ISA_AVX2 = 1,
} swv_isa;

/// The best level this CPU supports.
swv_isa swv_detect_isa(void);
/// The level the dispatching kernels use now.
swv_isa swv_current_isa(void);
/// Forces a level (clamped to what the CPU supports); returns the level in effect.
swv_isa swv_set_isa(swv_isa isa);

// ggml type numbers of the weight types with a quantized dot product here.
enum {
    SWV_TYPE_F32 = 0,
    SWV_TYPE_F16 = 1,
    SWV_TYPE_Q4_0 = 2,
    SWV_TYPE_Q4_1 = 3,
    SWV_TYPE_Q5_0 = 6,
    SWV_TYPE_Q8_0 = 8,
    SWV_TYPE_Q8_1 = 9,
    SWV_TYPE_Q4_K = 12,
    SWV_TYPE_Q6_K = 14,
    SWV_TYPE_Q8_K = 15,
};

/// The activation type a weight type's dot product consumes (Q8_0, Q8_1 or Q8_K), or -1 if unsupported.
int swv_activation_type(int weight_type);
/// Bytes a row of `n` values of `type` takes (n a multiple of the block size), 0 if unknown.
size_t swv_row_bytes(int type, int64_t n);

/// Quantizes `n` floats into one row of `type` (Q8_0, Q8_1 or Q8_K).
void swv_quantize_row(int type, const float *x, void *y, int64_t n);
void swv_scalar_quantize_row(int type, const float *x, void *y, int64_t n);

/// Dot product of one weight row of `type` and one activation row of its activation type, `n` values.
float swv_vec_dot(int type, int64_t n, const void *w, const void *a);
float swv_scalar_vec_dot(int type, int64_t n, const void *w, const void *a);

/// out[t * out_stride + r] = dot(weight row r, activation row t) for r in [row_begin, row_end) and
/// t in [0, tokens). Weight rows are `w_row_bytes` apart, activation rows `a_row_bytes`.
void swv_matmul(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride);

/// IEEE half <-> float.
float swv_half_to_float(uint16_t h);
uint16_t swv_float_to_half(float f);
void swv_half_to_float_row(const uint16_t *x, float *y, int64_t n);
void swv_float_to_half_row(const float *x, uint16_t *y, int64_t n);

/// y = x / sqrt(mean(x^2) + eps) * w, `n` values (y may alias x). `w` may be NULL (no weight).
void swv_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps);

/// Rotates one head of `head_dim` values at `position` in place: adjacent pairs (x[2i], x[2i+1]) when
/// `neox` is 0 (GGUF's llama layout), halves (x[i], x[i + head_dim/2]) when 1.
/// theta_i = position * base^(-2i/head_dim), computed as ggml does (iterated products).
void swv_rope(float *x, int64_t head_dim, int64_t position, float base, int neox);

/// cos and sin of each of a head's head_dim/2 rotation angles at `position`, interleaved (cos0, sin0, ...),
/// computed as `swv_rope` does; `swv_rope_with` applies them. A batch computes its positions' table once
/// and reuses it for every head and layer.
void swv_rope_angles(float *cos_sin, int64_t head_dim, int64_t position, float base);
void swv_rope_with(float *x, int64_t head_dim, const float *cos_sin, int neox);

/// One layer of a paged KV cache as one sequence sees it. The layer's keys (and values) are a pool of blocks
/// of `block_size` positions; each position is a row of `row_bytes` bytes holding the KV heads' values in
/// `type` (SWV_TYPE_F16, or SWV_TYPE_Q8_0 with head_dim a multiple of 32). The sequence's position p is
/// slot p % block_size of block block_table[p / block_size].
typedef struct {
    const void *k;
    const void *v;
    int type;
    int64_t row_bytes;
    int64_t block_size;
    const int32_t *block_table;
} swv_kv_pages;

/// Bytes one KV row of `width` values takes in `type` (F16 or Q8_0).
size_t swv_kv_row_bytes(int type, int64_t width);
/// Stores `width` floats as one KV row of `type` (F16 or Q8_0) at `row`.
void swv_kv_store(int type, const float *x, void *row, int64_t width);

/// Causal attention of `n_queries` consecutive query rows (positions first_position...) of one sequence over
/// its paged KV cache, grouped-query, fused with an online softmax: no score matrix is stored.
///
/// q: n_queries rows of n_heads * head_dim floats, `q_stride` floats apart; KV head g at g * head_dim of a
/// KV row. Query position p sees keys max(0, p - window + 1)...p (window <= 0: all). out: rows like q,
/// `out_stride` floats apart. Heads [head_begin, head_end) only.
void swv_attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                   int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                   int64_t head_begin, int64_t head_end, int64_t window, float scale);

/// y[i] = silu(g[i]) * u[i] (gelu_tanh when `gelu` is 1), n values.
void swv_glu(const float *g, const float *u, float *y, int64_t n, int gelu);

// The scalar references of the dispatching kernels above, callable directly (tests compare the two).
void swv_scalar_matmul(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                       const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride);
void swv_scalar_attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                          int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads,
                          int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window, float scale);
void swv_scalar_glu(const float *g, const float *u, float *y, int64_t n, int gelu);
void swv_scalar_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps);
void swv_scalar_half_to_float_row(const uint16_t *x, float *y, int64_t n);
void swv_scalar_float_to_half_row(const float *x, uint16_t *y, int64_t n);

/// y[i] += x[i].
void swv_add(const float *x, float *y, int64_t n);
/// y[i] *= s.
void swv_scale(float *y, int64_t n, float s);

/// Reads `n` bytes as fast as the memory system allows (for measuring read bandwidth); returns a checksum
/// so the reads cannot be optimized away.
uint64_t swv_read_bytes(const void *p, size_t n);

/// A spin-wait hint for busy loops (PAUSE on x86).
static inline void swv_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#ifdef __cplusplus
}
#endif

#endif
