#pragma once
// The constants of fdlibm's log, exp, sin and cos (Sun Microsystems, 1993: "Permission to use, copy,
// modify, and distribute this software is freely granted, provided that this notice is
// preserved."), once for every portable function built on them (portable_log.hpp, special.hpp's
// exp, philox.hpp's log_unit and cos_sin_turn, the simulation's SIMD lanes): each copy must hold the
// same bits for the backends and the SIMD levels to agree.

namespace shrink::detail::fdlibm {

// ln 2 split so that k * ln2_hi is exact for |k| < 2^20 (32 trailing zero bits).
inline constexpr double ln2_hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000
inline constexpr double ln2_lo = 1.90821492927058770002e-10;  // 0x3dea39ef35793c76

// e_log.c: log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f).
inline constexpr double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01, lg3 = 2.857142874366239149e-01,
                        lg4 = 2.222219843214978396e-01, lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01,
                        lg7 = 1.479819860511658591e-01;

// e_exp.c: e^r = 1 + 2r / (R(r^2) - r) on |r| <= ln2/2, R's coefficients; x = k ln2 + r.
inline constexpr double inv_ln2 = 1.44269504088896338700e+00;
inline constexpr double exp_p1 = 1.66666666666666019037e-01, exp_p2 = -2.77777777770155933842e-03,
                        exp_p3 = 6.61375632143793436117e-05, exp_p4 = -1.65339022054652515390e-06,
                        exp_p5 = 4.13813679705723846039e-08;

// k_sin.c and k_cos.c on |x| <= pi/4.
inline constexpr double s1 = -1.66666666666666324348e-01, s2 = 8.33333333332248946124e-03,
                        s3 = -1.98412698298579493134e-04, s4 = 2.75573137070700676789e-06,
                        s5 = -2.50507602534068634195e-08, s6 = 1.58969099521155010221e-10;
inline constexpr double c1 = 4.16666666666666019037e-02, c2 = -1.38888888888741095749e-03,
                        c3 = 2.48015872894767294178e-05, c4 = -2.75573143513906633035e-07,
                        c5 = 2.08757232129817482790e-09, c6 = -1.13596475577881948265e-11;

}  // namespace shrink::detail::fdlibm
