// Distance kernels for the HNSW index, with run-time dispatch between AVX-512, AVX2+FMA and
// portable scalar code.
//
// Contract:
//  - Every kernel takes raw pointers and a length; any length (including odd ones) is accepted and
//    pointers need no particular alignment.
//  - Float kernels: L2Sqr = Σ (a_i - b_i)², Dot = Σ a_i·b_i. The SIMD versions sum in a different
//    order than the scalar ones, so results agree to float rounding, not bit for bit.
//  - Code kernel (int8 mode): DotU8 = Σ w_i · c_i, where c are unsigned 8-bit codes widened to
//    float and w is a per-query float weight vector (see quantizer.h for how distances are built
//    from it).
//  - The SIMD functions are compiled with per-function target attributes, never with global
//    -mavx512f, so the library runs on any x86-64 CPU; the level is chosen once from
//    __builtin_cpu_supports and can be lowered for tests with ForceSimdLevelForTesting().
//  - An index captures the kernel table when it is created; changing the forced level later does
//    not affect existing indexes.
// Thread safety: all functions are thread-safe; ForceSimdLevelForTesting is meant for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace deepkb::hnsw {

enum class SimdLevel : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
std::string_view SimdLevelName(SimdLevel level);  // "scalar", "avx2", "avx512"

using FloatKernel = float (*)(const float* a, const float* b, size_t n);
using CodeKernel = float (*)(const float* w, const uint8_t* codes, size_t n);

struct Kernels {
  SimdLevel level = SimdLevel::kScalar;
  FloatKernel l2_sqr = nullptr;
  FloatKernel dot = nullptr;
  CodeKernel dot_u8 = nullptr;
};

// Highest level the CPU supports (AVX-512 needs avx512f; AVX2 needs avx2 and fma).
SimdLevel DetectedSimdLevel();
// Level new indexes use: the detected one unless lowered by ForceSimdLevelForTesting.
SimdLevel ActiveSimdLevel();
const Kernels& ActiveKernels();
// The table for one level, or nullptr when this CPU cannot run it.
const Kernels* KernelsFor(SimdLevel level);

// Makes ActiveKernels() return `level` (clamped to what the CPU supports); returns the level in
// effect. Tests only.
SimdLevel ForceSimdLevelForTesting(SimdLevel level);
// Back to the detected level.
void ResetSimdLevelForTesting();

// Scales v in place to unit L2 norm; returns the norm it had (0 leaves v unchanged).
float NormalizeInPlace(float* v, size_t n);

}  // namespace deepkb::hnsw
