// Static inline accessors for the HDF5 identifiers and flags that are C macros (most expand to
// H5open() followed by a library global, which is why the *_g globals read -1 until H5open runs).
// Nothing else belongs here.
#ifndef TOOLTUNE_CHDF5_SHIM_H
#define TOOLTUNE_CHDF5_SHIM_H
#include <hdf5.h>

static inline hid_t tt_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t tt_h5s_all(void) { return H5S_ALL; }
static inline hid_t tt_h5e_default(void) { return H5E_DEFAULT; }

static inline unsigned tt_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned tt_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned tt_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned tt_h5f_acc_excl(void) { return H5F_ACC_EXCL; }

static inline hid_t tt_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t tt_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t tt_h5p_link_create(void) { return H5P_LINK_CREATE; }

static inline hid_t tt_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t tt_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t tt_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t tt_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t tt_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t tt_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t tt_h5t_c_s1(void) { return H5T_C_S1; }
static inline size_t tt_h5t_variable(void) { return H5T_VARIABLE; }

#endif
