// Test instrumentation: counts heap allocations made by the threads that asked to be tracked.
//
// malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign are interposed for the whole test
// process and forward to the C library's; only threads that called `allocation_counter_track_thread`
// are counted, so tests running in parallel on other threads do not disturb a measurement.
#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

#include <stdint.h>

/// Starts counting the calling thread's allocations into counter `slot` (1...15; 0 stops). Measurements
/// that may run at once (suites in different test targets run in parallel) use different slots.
void allocation_counter_track_thread(int slot);
/// Allocations counted into `slot` since the process started.
int64_t allocation_counter_total(int slot);
/// 0 when built with a sanitizer, which interposes malloc itself: nothing is counted.
int allocation_counter_is_active(void);

#endif
