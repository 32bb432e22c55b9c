// Runtime selection of the kernels: the levels as an ordered list, each with its own detection and a
// possibly partial table. The table in effect is built by walking the levels the CPU supports upward to
// the chosen one, each entry taken from the highest level that has it; `SWERVE_CPU_ISA` caps the level at
// first use. Levels are not nested: a CPU may lack one below its best, which is then skipped.
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

static const char *const level_names[SWV_ISA_COUNT] = {"scalar", "avx2", "avx_vnni", "avx512", "avx512_vnni"};

static const swv_kernel_table *level_table(int level) {
    switch (level) {
    case SWV_ISA_AVX2: return &swv_avx2_table;
    case SWV_ISA_AVX_VNNI: return &swv_avx_vnni_table;
    case SWV_ISA_AVX512: return &swv_avx512_table;
    case SWV_ISA_AVX512_VNNI: return &swv_avx512_vnni_table;
    default: return &swv_scalar_table;
    }
}

#if defined(__x86_64__)
/// The register state the OS saves (XCR0), 0 when XGETBV is not enabled (CPUID.1:ECX.OSXSAVE).
static uint64_t enabled_state(void) {
    unsigned eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
    if (!(ecx & (1u << 27))) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/// CPUID leaf 7 subleaf 1, EAX (AVX-VNNI is bit 4); 0 where the leaf does not exist.
static unsigned leaf7_1_eax(void) {
    unsigned eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0), "c"(0));
    if (eax < 7) return 0;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
    return eax;
}
#endif

int swv_isa_supported(swv_isa isa) {
    if (isa == SWV_ISA_SCALAR) return 1;
#if defined(__x86_64__)
    __builtin_cpu_init();
    uint64_t xcr0 = enabled_state();
    int ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
    int zmm = ymm && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM0-15 upper halves, ZMM16-31
    int avx2 = ymm && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    int avx512 = avx2 && zmm && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    switch (isa) {
    case SWV_ISA_AVX2: return avx2;
    case SWV_ISA_AVX_VNNI: return avx2 && (leaf7_1_eax() & (1u << 4)) != 0;
    case SWV_ISA_AVX512: return avx512;
    case SWV_ISA_AVX512_VNNI: return avx512 && __builtin_cpu_supports("avx512vnni");
    default: return 0;
    }
#else
    return 0;
#endif
}

swv_isa swv_detect_isa(void) {
    for (int l = SWV_ISA_COUNT - 1; l > 0; --l) {
        if (swv_isa_supported((swv_isa)l)) return (swv_isa)l;
    }
    return SWV_ISA_SCALAR;
}

const char *swv_isa_name(swv_isa isa) {
    return (int)isa >= 0 && (int)isa < SWV_ISA_COUNT ? level_names[isa] : "unknown";
}

int swv_isa_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < SWV_ISA_COUNT; ++i) {
        if (strcmp(name, level_names[i]) == 0) return i;
    }
    return -1;
}

/// A level's table as it runs: each entry from the highest level up to it that has one, and that level.
typedef struct {
    swv_kernel_table table;
    int entry_level[sizeof(swv_kernel_table) / sizeof(void *)];
} resolved_table;

static resolved_table resolved[SWV_ISA_COUNT];
static swv_isa detected = SWV_ISA_SCALAR;
static int supported[SWV_ISA_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic int current_level = -1;

static void resolve(int level, resolved_table *out) {
    void **entries = (void **)&out->table;
    for (int l = 0; l <= level; ++l) {
        if (!supported[l]) continue;
        void *const *source = (void *const *)level_table(l);
        for (size_t e = 0; e < sizeof(swv_kernel_table) / sizeof(void *); ++e) {
            if (source[e]) {
                entries[e] = source[e];
                out->entry_level[e] = l;
            }
        }
    }
}

/// Once: detect, resolve every level's table (read-only from then on), apply `SWERVE_CPU_ISA`.
static void initialize(void) {
    detected = swv_detect_isa();
    for (int l = 0; l < SWV_ISA_COUNT; ++l) supported[l] = swv_isa_supported((swv_isa)l);
    for (int l = 0; l < SWV_ISA_COUNT; ++l) resolve(l, &resolved[l]);
    swv_isa isa = detected;
    const char *cap = getenv("SWERVE_CPU_ISA");
    if (cap && *cap) {
        int level = swv_isa_from_name(cap);
        if (level < 0) {
            fprintf(stderr, "swerve: SWERVE_CPU_ISA=%s is not a level (scalar, avx2, avx_vnni, avx512, avx512_vnni); using %s\n",
                    cap, swv_isa_name(isa));
        } else if (level < (int)isa) {
            while (level > 0 && !supported[level]) --level;  // the highest supported level at or below
            isa = (swv_isa)level;
        }
    }
    atomic_store(&current_level, (int)isa);
}

/// `level` clamped to what this CPU supports: the highest supported level at or below it.
static inline swv_isa clamp(swv_isa level) {
    pthread_once(&once, initialize);
    if ((int)level < 0) return SWV_ISA_SCALAR;
    int l = level > detected ? (int)detected : (int)level;
    while (l > 0 && !supported[l]) --l;
    return (swv_isa)l;
}

swv_isa swv_isa_clamp(swv_isa isa) { return clamp(isa); }

swv_isa swv_set_isa(swv_isa isa) {
    isa = clamp(isa);
    atomic_store(&current_level, (int)isa);
    return isa;
}

swv_isa swv_current_isa(void) {
    pthread_once(&once, initialize);
    return (swv_isa)atomic_load_explicit(&current_level, memory_order_relaxed);
}

static inline const swv_kernel_table *table(void) { return &resolved[swv_current_isa()].table; }
static inline const swv_kernel_table *table_at(swv_isa level) { return &resolved[clamp(level)].table; }

const char *swv_kernel_level(swv_isa level, const char *family) {
    static const struct {
        const char *family;
        size_t offset;
    } families[] = {
        {"quantize", offsetof(swv_kernel_table, quantize_row)},
        {"matmul", offsetof(swv_kernel_table, matmul)},
        {"gemm", offsetof(swv_kernel_table, gemm)},
        {"attention", offsetof(swv_kernel_table, attention)},
        {"norm", offsetof(swv_kernel_table, rms_norm)},
        {"glu", offsetof(swv_kernel_table, glu)},
        {"half", offsetof(swv_kernel_table, half_to_float_row)},
        {"peak", offsetof(swv_kernel_table, int8_peak)},
    };
    const resolved_table *r = &resolved[clamp(level)];
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); ++i) {
        if (family && strcmp(family, families[i].family) == 0) {
            return level_names[r->entry_level[families[i].offset / sizeof(void *)]];
        }
    }
    return NULL;
}

void swv_quantize_row_at(swv_isa level, int type, const float *x, void *y, int64_t n) {
    table_at(level)->quantize_row(type, x, y, n);
}

void swv_gemm_at(swv_isa level, int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end,
                 int64_t rows, const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    table_at(level)->gemm(type, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride);
}

void swv_quantize_row(int type, const float *x, void *y, int64_t n) { table()->quantize_row(type, x, y, n); }

float swv_vec_dot(int type, int64_t n, const void *w, const void *a) { return table()->vec_dot(type, n, w, a); }

void swv_matmul(int type, int64_t n, const void *w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    table()->matmul(type, n, w, w_row_bytes, row_begin, row_end, a, a_row_bytes, tokens, out, out_stride);
}

void swv_gemm(int type, int64_t n, const void *packed, int64_t group_begin, int64_t group_end, int64_t rows,
              const void *a, size_t a_row_bytes, int64_t tokens, float *out, int64_t out_stride) {
    table()->gemm(type, n, packed, group_begin, group_end, rows, a, a_row_bytes, tokens, out, out_stride);
}

/// The attention kernel for `level`: soft-capped scores (`kv->softcap`) are implemented up to the AVX2
/// level only, so a capped call at a higher level runs the highest level at or below AVX-VNNI.
static inline const swv_kernel_table *attention_table(swv_isa level, const swv_kv_pages *kv) {
    if (kv->softcap != 0 && clamp(level) > SWV_ISA_AVX_VNNI) return table_at(SWV_ISA_AVX_VNNI);
    return table_at(level);
}

void swv_attention_at(swv_isa level, const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out,
                      int64_t out_stride, int64_t n_queries, int64_t first_position, int64_t n_heads,
                      int64_t n_kv_heads, int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window,
                      float scale) {
    attention_table(level, kv)->attention(q, q_stride, kv, out, out_stride, n_queries, first_position, n_heads,
                                          n_kv_heads, head_dim, head_begin, head_end, window, scale);
}

uint64_t swv_int8_peak_at(swv_isa level, int64_t iterations) {
    const swv_kernel_table *t = table_at(level);
    return t->int8_peak ? t->int8_peak(iterations) : 0;
}

void swv_attention(const float *q, int64_t q_stride, const swv_kv_pages *kv, float *out, int64_t out_stride,
                   int64_t n_queries, int64_t first_position, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                   int64_t head_begin, int64_t head_end, int64_t window, float scale) {
    attention_table(swv_current_isa(), kv)->attention(q, q_stride, kv, out, out_stride, n_queries, first_position,
                                                      n_heads, n_kv_heads, head_dim, head_begin, head_end, window,
                                                      scale);
}

void swv_glu(const float *g, const float *u, float *y, int64_t n, int gelu) { table()->glu(g, u, y, n, gelu); }

void swv_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    table()->rms_norm(x, w, y, n, eps);
}

void swv_half_to_float_row(const uint16_t *x, float *y, int64_t n) { table()->half_to_float_row(x, y, n); }

void swv_float_to_half_row(const float *x, uint16_t *y, int64_t n) { table()->float_to_half_row(x, y, n); }

void swv_attention_prefetch(const swv_kv_pages *kv, int64_t first_position, int64_t n_heads, int64_t n_kv_heads,
                            int64_t head_dim, int64_t head_begin, int64_t head_end, int64_t window) {
    int64_t group = n_heads / n_kv_heads;
    int64_t first, last;
    swv_kv_visible(kv, first_position, window, &first, &last);
    int64_t offsets[ATTN_KEYS];
    for (int64_t g = head_begin / group; g * group < head_end; ++g) {
        int count = swv_kv_block(kv, first, last, ATTN_KEYS, g, head_dim, offsets);
        for (int j = 0; j < count; ++j) swv_kv_prefetch(kv, offsets[j], head_dim);
    }
}
