// OpenBLAS's CBLAS interface and its openblas_* extras (config string, core name, threads) import
// as they are; this header only gives the module map one entry point.
#ifndef TOOLTUNE_COPENBLAS_SHIM_H
#define TOOLTUNE_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
