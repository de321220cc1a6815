// Small loops the time-step code uses instead of Armadillo expressions that would allocate.
#pragma once
#include <cstddef>

namespace attend {

template <typename T>
inline T dot(const T* a, const T* b, std::size_t n) {
  T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// y += alpha x
template <typename T>
inline void axpy(T alpha, const T* x, T* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace attend

#include <cmath>
#include <cstdint>
#include <cstring>

namespace attend {

// exp for float without a library call, so loops over gate activations vectorise:
// e^x = 2^k · e^r with k = round(x / ln 2), |r| ≤ ln2/2, e^r by its Taylor series to r⁷
// (truncation below 1e-8 relative, under float's rounding).
inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // Round to nearest by adding and removing 1.5·2²³ (plain SSE2, unlike nearbyint).
  const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = x - k * 0.693145751953125f - k * 1.42860682030941723e-6f;  // ln 2 in two parts
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^k from its exponent bits. A NaN x gives a NaN p, hence a NaN result, whatever scale is;
  // k is taken as 0 then, since converting NaN to an integer is undefined.
  const float k_bits = k == k ? k : 0.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(k_bits) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

template <typename T>
inline T exp_fast(T x) {
  return std::exp(x);
}
template <>
inline float exp_fast(float x) {
  return exp_approx(x);
}

template <typename T>
inline T sigmoid_fast(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
template <>
inline float sigmoid_fast(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}

template <typename T>
inline T tanh_fast(T x) {
  return std::tanh(x);
}
// tanh x = 1 − 2 / (e^{2x} + 1): absolute error a few 1e-8.
template <>
inline float tanh_fast(float x) {
  return 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f);
}

}  // namespace attend
