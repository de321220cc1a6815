#include "attend/core/float_mode.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define ATTEND_HAS_MXCSR 1
#endif

namespace attend {

namespace {
#ifdef ATTEND_HAS_MXCSR
constexpr unsigned kFlushToZero = 0x8000;      // MXCSR.FTZ: subnormal results become 0
constexpr unsigned kDenormalsAreZero = 0x0040; // MXCSR.DAZ: subnormal inputs read as 0
constexpr unsigned kBoth = kFlushToZero | kDenormalsAreZero;
#endif
}  // namespace

bool flush_denormals_supported() {
#ifdef ATTEND_HAS_MXCSR
  return true;
#else
  return false;
#endif
}

bool flush_denormals_enabled() {
#ifdef ATTEND_HAS_MXCSR
  return (_mm_getcsr() & kBoth) == kBoth;
#else
  return false;
#endif
}

bool set_flush_denormals(bool on) {
#ifdef ATTEND_HAS_MXCSR
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(on ? (csr | kBoth) : (csr & ~kBoth));
  return true;
#else
  (void)on;
  return false;
#endif
}

#ifdef ATTEND_HAS_MXCSR
FlushDenormalsScope::FlushDenormalsScope(bool on) : previous_(_mm_getcsr() & kBoth) {
  set_flush_denormals(on);
}

FlushDenormalsScope::~FlushDenormalsScope() { _mm_setcsr((_mm_getcsr() & ~kBoth) | previous_); }
#else
FlushDenormalsScope::FlushDenormalsScope(bool) : previous_(0) {}
FlushDenormalsScope::~FlushDenormalsScope() = default;
#endif

}  // namespace attend
