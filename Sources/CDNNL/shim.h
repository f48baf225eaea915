// oneDNN's C API (Debian's libdnnl-dev ships no pkg-config file, so the module map links "dnnl" itself),
// and a helper for what Swift cannot reach: oneDNN runs on the OpenMP runtime it was built with, whose
// thread count is a per-thread setting that only omp_set_num_threads changes. ToolTune calls oneDNN from
// its own worker threads, one single-threaded call per tile, so each calling thread sets its team to 1.
#ifndef TOOLTUNE_CDNNL_SHIM_H
#define TOOLTUNE_CDNNL_SHIM_H
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

/// omp_set_num_threads(count) on the calling thread, through the OpenMP runtime libdnnl loaded (libgomp on
/// Debian, which has no unversioned .so to link against). Returns 0 when no OpenMP runtime is loaded.
static inline int tooltune_omp_set_num_threads(int count) {
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set) return 0;
    set(count);
    return 1;
}

/// omp_get_max_threads() of the calling thread, or -1 when no OpenMP runtime is loaded.
static inline int tooltune_omp_get_max_threads(void) {
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    return get ? get() : -1;
}
#endif
