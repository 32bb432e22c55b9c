// Swerve's leaf kernels: the only C in the package.
//
// Every kernel has a portable scalar reference (`swv_scalar_*`) and, where it pays, variants for higher
// instruction-set levels (AVX2, AVX-512 VNNI); the dispatching entry points (`swv_*`) use the best level
// this CPU and OS support, detected once at first use (CPUID and XCR0), so one binary runs on any x86-64.
// `SWERVE_CPU_ISA` caps the level; `swv_set_isa` forces one (tests run every level the machine has and
// compare each with the scalar reference).
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

/// Instruction-set levels, lowest first. Each level's kernel table may be partial: an entry a level lacks
/// runs at the highest level below it that has one (`swv_kernel_level` names it per kernel family). A CPU
/// need not have every level below its best (Intel's E-core Xeons have AVX-VNNI without AVX-512, AMD's
/// Zen 4 AVX-512 without AVX-VNNI): levels it lacks are skipped, never run (`swv_isa_supported`).
typedef enum {
    SWV_ISA_SCALAR = 0,
    /// AVX2 + FMA + F16C.
    SWV_ISA_AVX2 = 1,
    /// AVX2 with AVX-VNNI (VEX-encoded VPDPBUSD on 256-bit registers).
    SWV_ISA_AVX_VNNI = 2,
    /// AVX-512 F, BW, DQ, VL (and the ZMM state enabled by the OS).
    SWV_ISA_AVX512 = 3,
    /// AVX-512 with VNNI (VPDPBUSD on 512-bit registers).
    SWV_ISA_AVX512_VNNI = 4,
} swv_isa;

/// Number of levels (one past the highest).
#define SWV_ISA_COUNT 5

/// The best level this CPU and its OS support: CPUID feature bits and the register state XCR0 enables.
swv_isa swv_detect_isa(void);
/// 1 if this CPU and its OS support `isa` itself (CPUID and XCR0), else 0.
int swv_isa_supported(swv_isa isa);
/// The highest level this CPU supports at or below `isa` (what a cap to `isa` runs at).
swv_isa swv_isa_clamp(swv_isa isa);
/// The level the dispatching kernels use now: the detected one, capped by `SWERVE_CPU_ISA` (a level name)
/// at first use, or as `swv_set_isa` last set it.
swv_isa swv_current_isa(void);
/// Forces a level (clamped to what the CPU supports); returns the level in effect.
swv_isa swv_set_isa(swv_isa isa);
/// A level's name: "scalar", "avx2", "avx_vnni", "avx512", "avx512_vnni".
const char *swv_isa_name(swv_isa isa);
/// The level with that name, or -1 (names as `swv_isa_name`; "amx" is not a level here).
int swv_isa_from_name(const char *name);
/// The level a kernel family runs at when `level` is chosen (clamped to what the CPU supports):
/// "quantize", "matmul", "gemm", "attention", "norm", "glu", "half", "peak"; NULL for an unknown family.
const char *swv_kernel_level(swv_isa level, const char *family);

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
    SWV_TYPE_BF16 = 30,
};

// Float weights (F32, F16, BF16: a float checkpoint kept in its --dtype, or a GGUF's float matrices)
// multiply f32 activations as they are, no quantization: `swv_activation_type` pairs them with F32, and
// `swv_matmul` / `swv_vec_dot` take the activation rows as floats. The products accumulate in f32 (the
// weights widened exactly: F16 through F16C, BF16 by a 16-bit shift), per lane of 8 at the SIMD levels,
// so they equal the scalar reference's sequential sum to float rounding, not bit for bit.

/// Swerve's own activation type for the tiled GEMM over packed weights (no ggml number): per 32 values,
/// 8-bit quants, their scale and their integer sum (`swv_block_q8s`).
#define SWV_TYPE_Q8_S 1000

/// The activation type a weight type's product consumes: Q8_S for a weight packed for the tiled GEMM
/// (`packed` 1), otherwise Q8_0, Q8_1 or Q8_K; -1 if unsupported. The one place that pairs them.
int swv_activation_type(int weight_type, int packed);
/// Bytes a row of `n` values of `type` takes (n a multiple of the block size), 0 if unknown.
size_t swv_row_bytes(int type, int64_t n);

/// Quantizes `n` floats into one row of `type` (Q8_0, Q8_1, Q8_K or Q8_S).
void swv_quantize_row(int type, const float *x, void *y, int64_t n);
void swv_scalar_quantize_row(int type, const float *x, void *y, int64_t n);

/// Dot product of one weight row of `type` and one activation row of its activation type, `n` values.
float swv_vec_dot(int type, int64_t n, const void *w, const void *a);
float swv_scalar_vec_dot(int type, int64_t n, const void *w, const void *a);

/// out[t * out_stride + r] = dot(weight row r, activation row t) for r in [row_begin, row_end) and
/// t in [0, tokens). Weight rows are `w_row_bytes` apart, activation rows `a_row_bytes`.
void swv_matmul(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride);

// MARK: Packed weights and the tiled GEMM
//
// A weight of a block-32 type (Q4_0, Q4_1, Q5_0, Q8_0), Q4_K or Q6_K is repacked once, at load, into groups of 16 rows.
// Per group and 32-value block the quants of the 16 rows are interleaved 4 bytes at a time (byte
// 4 * row + j of vector g holds value 4g + j of that row), so one 64-byte load holds the same 4 values of
// 16 rows and one VPDPBUSD against 4 broadcast activation bytes yields 16 rows' partial sums, with no
// horizontal reduction. Quants are stored unsigned (u = value + offset: 8 for Q4_0, 0 for Q4_1, 16 for
// Q5_0, 128 for Q8_0); 4-bit types keep two values per byte (vector g's low nibbles, vector g + 4's high
// nibbles), so a group reads as many bytes as the file's 16 rows. Per block the 16 rows' quants are
// followed by their f16 scales d (and Q4_1's mins m), so a group is one sequential stream. Rows past the
// matrix's end are zero.
//
// The product per row r, token t and block b is exactly (scalar and every SIMD level, bit for bit):
//     isum = sum_k u[r][k] * a[k] - offset * sum_k a[k]       (integers)
//     acc  = fma((float)isum, d[r] * a.d, acc)                (then Q4_1: acc = fma(m[r], a.s, acc))
// Q4_K packs as Q4_1 with f32 scales per 32-value sub-block (d * sc and -dmin * m, exact), and its min
// term multiplies a.d * a.sum rather than the f16-rounded a.s.
//
// Q6_K (6-bit quants u = value + 32, a scale per 16 values) packs its low nibbles as the 4-bit types do, then
// two 64-byte planes of the high 2 bits (byte 4 * row + j of plane p: bits 2g, 2g + 1 are the high bits of
// value 16p + 4g + j), then the 16 rows' f16 super-block scales d and their two int8 sub-block scales: 448
// bytes per block and group, 1.07x the file's. Its two halves of 16 values are summed apart:
//     isum_lo = sum_{k<16} u[r][k] * a[k] - 32 * a.sum_lo,  isum_hi likewise over k >= 16 with a.sum - a.sum_lo
//     acc = fma((float)isum_lo, (d[r] * sc_lo[r]) * a.d, acc); acc = fma((float)isum_hi, (d[r] * sc_hi[r]) * a.d, acc)

/// Rows per packed group.
#define SWV_PACK_ROWS 16

/// One block of a Q8_S activation row: quants, d and s = d * sum (both rounded through f16, as ggml's Q8_0
/// and Q8_1 store them), the quants' integer sum, and the sum of the first 16 (Q6_K's halves).
typedef struct {
    int8_t qs[32];
    float d;
    float s;
    int32_t sum;
    int32_t sum_lo;
} swv_block_q8s;

/// 1 if `type` has a packed layout for the tiled GEMM.
int swv_packable(int type);
/// Bytes of one packed group of 16 rows of `n` values (0 if not packable).
size_t swv_packed_group_bytes(int type, int64_t n);
/// Repacks `rows` rows of `n` values (`w_row_bytes` apart, as in the file) into
/// ceil(rows / 16) * swv_packed_group_bytes(type, n) bytes at `packed`.
void swv_pack(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t rows, void *packed);

/// out[t * out_stride + r] = dot(row r, activation row t) for the rows of groups [group_begin, group_end)
/// below `rows`, t in [0, tokens). Activation rows are Q8_S, `a_row_bytes` apart; `packed` as `swv_pack`.
void swv_gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
              const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride);
/// `swv_gemm` and `swv_quantize_row` at a given level (clamped to what the CPU supports), whatever the
/// current one: a backend keeps its own level, and tests run every level side by side.
void swv_gemm_at(swv_isa level, int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end,
                 int64_t rows, const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride);
void swv_quantize_row_at(swv_isa level, int type, const float *x, void *y, int64_t n);
void swv_scalar_gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
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
/// `swv_rope_angles` with scaled frequencies: angle i is freq_scale * (position * base^(-2i/head_dim) /
/// freq_factors[i]) (freq_factors NULL: all 1), and cos and sin are multiplied by `mscale`. Linear scaling
/// by a factor F is freq_scale = 1/F; Llama 3's smoothed scaling is per-pair factors (a GGUF's `rope_freqs`
/// tensor); YaRN is per-pair factors (its blend of interpolated and extrapolated frequencies) and mscale.
void swv_rope_angles_scaled(float *cos_sin, int64_t head_dim, int64_t position, float base, float freq_scale,
                            const float *freq_factors, float mscale);
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
    /// Only keys at positions [key_begin, key_end) are seen, on top of the causal and window limits
    /// (key_end 0: no upper limit): a caller can split a long row's keys into ranges and merge them.
    int64_t key_begin, key_end;
    /// When not NULL, stats[2 * (t * n_heads + h)] receives the (maximum score, sum of exp(score - maximum))
    /// of query t, head h over the keys it saw, for `swv_attention_merge`; a row that saw no key gets
    /// output 0 and stats (-inf, 0).
    float *stats;
    /// Gemma 2's attention logit soft-capping: each scaled score s becomes softcap * tanh(s / softcap)
    /// before the softmax (0: none). Only the scalar and AVX2 kernels cap; a higher level's attention hands
    /// a capped call to the AVX2 one.
    float softcap;
} swv_kv_pages;

/// Bytes one KV row of `width` values takes in `type` (F16 or Q8_0).
size_t swv_kv_row_bytes(int type, int64_t width);
/// Stores `width` floats as one KV row of `type` (F16 or Q8_0) at `row`.
void swv_kv_store(int type, const float *x, void *row, int64_t width);

/// Prefetches (into L2) the keys and values of the first block of 32 keys that `swv_attention` with the same
/// arguments reads first (query row at `first_position`, heads [head_begin, head_end)): called for the next
/// work item while this one computes, so its cold KV rows arrive in time.
void swv_attention_prefetch(const swv_kv_pages *kv, int64_t first_position, int64_t n_heads, int64_t n_kv_heads,
                            int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window);

/// Causal attention of `n_queries` consecutive query rows (positions first_position...) of one sequence over
/// its paged KV cache, grouped-query, fused with an online softmax: no score matrix is stored.
///
/// q: n_queries rows of n_heads * head_dim floats, `q_stride` floats apart; KV head g at g * head_dim of a
/// KV row. Query position p sees keys max(0, p - window + 1)...p (window <= 0: all). out: rows like q,
/// `out_stride` floats apart. Heads [head_begin, head_end) only.
void swv_attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                   int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                   int64_t head_begin, int64_t head_end, int64_t window, float scale);

/// Combines `n_parts` attention results over disjoint key ranges of the same queries (each written with
/// `stats`): part p's outputs at parts + p * part_stride and stats at stats + p * stats_stride, `n_vectors`
/// vectors of head_dim floats each; out[i] is what one pass over all the keys gives (up to rounding).
void swv_attention_merge(const float *parts, int64_t part_stride, const float *stats, int64_t stats_stride,
                         int64_t n_parts, int64_t n_vectors, int64_t head_dim, float *out);

/// y[i] = silu(g[i]) * u[i] (gelu_tanh when `gelu` is 1), n values.
void swv_glu(const float *g, const float *u, float *y, int64_t n, int gelu);

/// `swv_attention` at a given level (clamped to what the CPU supports): tests run every level.
void swv_attention_at(swv_isa level, const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out,
                      int64_t out_stride, int64_t n_queries, int64_t first_position, int64_t n_heads,
                      int64_t n_kv_heads, int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window,
                      float scale);

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

/// The int8 peak of a level, measured: `iterations` rounds of the multiply-accumulate sequence the
/// level's GEMM uses (AVX2: VPMADDUBSW + VPMADDWD + VPADDD; AVX-512 VNNI: VPDPBUSD) on 12 independent
/// register accumulators, nothing loaded. Returns the int8 multiply-adds done (0 at the scalar level);
/// divided by the time it took, a core's peak.
uint64_t swv_int8_peak_at(swv_isa level, int64_t iterations);

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
