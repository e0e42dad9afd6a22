#pragma once
// Gauss-Kronrod 7/15 rule (QUADPACK's qk15) and the 10-point Gauss rule, host and device.

#include "macros.hpp"

namespace shrink::detail {

/// Kronrod abscissae on [-1, 1] (positive half, descending; the last is 0). The Gauss 7-point
/// rule uses the odd-indexed ones (1, 3, 5) and 0.
SHRINK_HD inline double gk15_node(int i)
{
  constexpr double x[8] = {0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                           0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                           0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                           0.207784955007898467600689403773245, 0.0};
  return x[i];
}
SHRINK_HD inline double gk15_kronrod_weight(int i)
{
  constexpr double w[8] = {0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                           0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                           0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                           0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
  return w[i];
}
/// Gauss 7-point weight of Kronrod node i (0 for the even-indexed nodes that Gauss lacks).
SHRINK_HD inline double gk15_gauss_weight(int i)
{
  constexpr double w[8] = {0.0, 0.129484966168869693270611432679082, 0.0, 0.279705391489276667901467771423780,
                           0.0, 0.381830050505118944950369775488975, 0.0, 0.417959183673469387755102040816327};
  return w[i];
}

/// The 15 Kronrod points of [a, b] in order: point k (0..14) is center + half * t_k.
SHRINK_HD inline double gk15_point(double a, double b, int k, double& kronrod_w, double& gauss_w)
{
  const double center = 0.5 * (a + b), half = 0.5 * (b - a);
  const int i = k < 7 ? k : (k == 7 ? 7 : 14 - k);
  const double sign = k < 7 ? -1.0 : 1.0;
  kronrod_w = half * gk15_kronrod_weight(i);
  gauss_w = half * gk15_gauss_weight(i);
  return center + sign * half * gk15_node(i);
}

/// The 7 Gauss points of [a, b]: point k (0..6) with weight w.
SHRINK_HD inline double gauss7_point(double a, double b, int k, double& w)
{
  const int i = k < 3 ? 2 * k + 1 : (k == 3 ? 7 : 2 * (6 - k) + 1);
  const double sign = k < 3 ? -1.0 : (k == 3 ? 0.0 : 1.0);
  const double center = 0.5 * (a + b), half = 0.5 * (b - a);
  w = half * gk15_gauss_weight(i);
  return center + sign * half * gk15_node(i);
}

/// The 10 Gauss(-Legendre) points of [a, b]: point k (0..9, in order) with weight w.
SHRINK_HD inline double gauss10_point(double a, double b, int k, double& w)
{
  constexpr double x[5] = {0.973906528517171720077964012084452053, 0.865063366688984510732096688423493049,
                           0.679409568299024406234327365114873576, 0.433395394129247190799265943165784162,
                           0.148874338981631210884826001129719985};
  constexpr double weight[5] = {0.066671344308688137593568809893331793, 0.149451349150580593145776339657697332,
                                0.219086362515982043995534934228163192, 0.269266719309996355091226921569469353,
                                0.295524224714752870173892994651338329};
  const int i = k < 5 ? k : 9 - k;
  const double center = 0.5 * (a + b), half = 0.5 * (b - a);
  w = half * weight[i];
  return center + (k < 5 ? -1.0 : 1.0) * half * x[i];
}

}  // namespace shrink::detail
