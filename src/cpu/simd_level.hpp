#pragma once
// The instruction-set levels the CPU code dispatches on at run time (the CSV reader's structural
// scan, the simulation's lanes), decided once from the CPU's features: one x86-64 binary runs
// anywhere and uses AVX-512 where it is present. Every level of every kernel gives the same bits
// (each kernel's tests compare them), so the level changes speed only.

namespace shrink::detail {

enum class simd_level { scalar = 0, sse2 = 1, avx2 = 2, avx512 = 3 };

/// "scalar", "sse2", "avx2" or "avx512".
const char* simd_name(simd_level level);

/// Whether this CPU (and this build: x86-64 only) runs `level`: sse2 on every x86-64; avx2 with
/// POPCNT; avx512 with its F, BW and DQ parts (and the OS saving their registers).
bool simd_supported(simd_level level);

/// The level asked for: SHRINK_SIMD=scalar|sse2|avx2|avx512 when set (read once; an unknown level or
/// one this CPU lacks throws shrink::error naming the ones it has), else the best supported.
simd_level simd_level_requested();

}  // namespace shrink::detail
