#define _GNU_SOURCE
#include "allocation_counter.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

// Under AddressSanitizer or ThreadSanitizer the sanitizer owns malloc: nothing is interposed, nothing is
// counted, and `allocation_counter_is_active` says so, so the allocation tests skip instead of passing empty.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#if !defined(SANITIZED) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define SANITIZED 1
#endif

static _Atomic int64_t totals[16];
static _Thread_local int tracked = 0;

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

// dlsym may allocate before the real functions are known: serve that from a static arena.
static _Alignas(16) char arena[8192];
static size_t arena_used = 0;
static int resolving = 0;

static void *arena_alloc(size_t n) {
    size_t start = (arena_used + 15) & ~(size_t)15;
    if (start + n > sizeof(arena)) return NULL;
    arena_used = start + n;
    return arena + start;
}

static int in_arena(void *p) { return (char *)p >= arena && (char *)p < arena + sizeof(arena); }

static void resolve(void) {
    if (real_malloc || resolving) return;
    resolving = 1;
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    resolving = 0;
}

static inline void count(void) {
    if (tracked) atomic_fetch_add_explicit(&totals[tracked], 1, memory_order_relaxed);
}

void allocation_counter_track_thread(int slot) { tracked = slot > 0 && slot < 16 ? slot : 0; }
int64_t allocation_counter_total(int slot) { return slot > 0 && slot < 16 ? atomic_load(&totals[slot]) : 0; }

#ifdef SANITIZED
int allocation_counter_is_active(void) { return 0; }
#else
int allocation_counter_is_active(void) { return 1; }

void *malloc(size_t n) {
    resolve();
    if (!real_malloc) return arena_alloc(n);
    count();
    return real_malloc(n);
}

void *calloc(size_t count_, size_t size) {
    resolve();
    if (!real_calloc) {
        void *p = arena_alloc(count_ * size);
        if (p) memset(p, 0, count_ * size);
        return p;
    }
    count();
    return real_calloc(count_, size);
}

void *realloc(void *p, size_t n) {
    resolve();
    if (in_arena(p)) {
        void *q = malloc(n);
        if (q) memcpy(q, p, n);
        return q;
    }
    count();
    return real_realloc(p, n);
}

void free(void *p) {
    if (!p || in_arena(p)) return;
    resolve();
    real_free(p);
}

int posix_memalign(void **out, size_t alignment, size_t n) {
    resolve();
    count();
    return real_posix_memalign(out, alignment, n);
}

void *aligned_alloc(size_t alignment, size_t n) {
    resolve();
    count();
    return real_aligned_alloc(alignment, n);
}

void *memalign(size_t alignment, size_t n) {
    resolve();
    count();
    return real_memalign(alignment, n);
}
#endif
