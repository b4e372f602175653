/* Included first by every private header: they are not part of the API. */
#ifndef HS_INTERNAL_H
#define HS_INTERNAL_H
#ifndef HS_INTERNAL
#error "private libhardsnap header: include hardsnap.h instead"
#endif
#include "err.h"
#endif
