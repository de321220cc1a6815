// Subnormal floats (|x| < 1.2e-38) take a slow microcode path on x86: every operation that reads
// or writes one costs tens of cycles. A saturated softmax produces them at every step (exp of
// scores far below the maximum, e.g. unscaled dot products at large d_k), and its backward pass
// spreads them into the gradients and Adam's moments: measured, training such a model ran 3x
// slower than the same model with them flushed (docs/performance.md, "Subnormal floats").
// Flush-to-zero (results) and denormals-are-zero (inputs) are per-thread modes; threads inherit
// their creator's mode.
#pragma once

namespace attend {

// Whether this machine can flush subnormals (x86 with SSE).
bool flush_denormals_supported();

// This thread's mode: true while subnormal results and inputs are read as zero.
bool flush_denormals_enabled();

// Sets this thread's mode for good (threads it creates afterwards inherit it). Returns false
// where unsupported, and changes nothing there.
bool set_flush_denormals(bool on);

// Sets this thread's mode while the object lives and restores the previous one after: train()
// uses it so a host program (the Python module, a C++ embedding) gets its own mode back.
class FlushDenormalsScope {
 public:
  explicit FlushDenormalsScope(bool on);
  ~FlushDenormalsScope();
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

 private:
  unsigned previous_;  // the thread's FTZ and DAZ bits before
};

}  // namespace attend
