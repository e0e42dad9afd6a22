#include "figures.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

namespace shrink::io {

namespace {

/// Dots drawn in all: past this, each group shows its first few observations only.
constexpr std::size_t max_total_dots = 20000;

std::string num(double x)
{
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

std::size_t dots_per_group(const replicate_sample& s)
{
  const std::size_t J = std::max<std::size_t>(s.theta.size(), 1);
  return std::max<std::size_t>(1, max_total_dots / J);
}

/// Horizontal extent of everything drawn, with a margin.
std::pair<double, double> extent(const replicate_sample& s, std::size_t per_group)
{
  double lo = s.complete_pool, hi = s.complete_pool;
  auto take = [&](double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  };
  for (std::size_t j = 0; j < s.theta.size(); ++j) {
    take(s.theta[j]);
    take(s.ybar[j]);
    take(s.partial_pool[j]);
    const auto& o = s.observations[j];
    for (std::size_t i = 0; i < std::min(per_group, o.size()); ++i) take(o[i]);
  }
  if (hi - lo <= 0) {
    lo -= 1;
    hi += 1;
  }
  const double pad = 0.04 * (hi - lo);
  return {lo - pad, hi + pad};
}

/// Round tick positions covering [lo, hi].
std::vector<double> ticks(double lo, double hi)
{
  const double raw = (hi - lo) / 6;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::string subtitle(const replicate_sample& s)
{
  std::ostringstream t;
  if (s.family) {
    const bool binomial = *s.family == count_family::binomial;
    const char* spread = binomial ? "concentration" : "shape";
    t << "J = " << s.theta.size() << (binomial ? ", trials = " : ", exposure = ") << to_string(s.grid_point.obs)
      << ", true mean = " << num(s.grid_point.mu) << ", " << spread << " = " << num(s.grid_point.tau) << "; ml fit: mean = "
      << num(s.fit_mean) << ", " << spread << " = "
      << (std::isfinite(s.fit_concentration) ? num(s.fit_concentration) : std::string("infinity (the boundary)"));
    return t.str();
  }
  t << "J = " << s.theta.size() << ", n = " << to_string(s.grid_point.obs) << ", true mu = " << num(s.grid_point.mu)
    << ", sigma = " << num(s.grid_point.sigma) << ", tau = " << num(s.grid_point.tau) << "; moment estimate tau = "
    << num(std::sqrt(s.tau2_hat)) << ", mu_hat = " << num(s.mu_hat);
  return t.str();
}

/// The page script's layout of the figure: from the data's range [lo, hi] (J rows) to pixels.
constexpr const char* page_layout = R"HTML(if (hi <= lo) { lo -= 1; hi += 1; }
const pad = 0.04 * (hi - lo); lo -= pad; hi += pad;
const W = 900, L = 60, R = 20, T = 10, row = J <= 40 ? 18 : J <= 200 ? 10 : 6, H = T + row * J + 30;
const X = x => L + (x - lo) / (hi - lo) * (W - L - R);
const Y = j => T + row * (j + 0.5);
const m = Math.max(2, row * 0.3);
)HTML";

/// The page's head, style and title; `slider`: the id of its range input.
std::string page_head(const std::string& slider)
{
  return R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shrink: one simulated replicate</title>
<style>
body { font-family: sans-serif; margin: 20px; color: #222; }
#controls { display: flex; gap: 18px; align-items: center; flex-wrap: wrap; margin: 10px 0; }
#)HTML" + slider + R"HTML( { width: 360px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { padding: 3px 12px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; }
.note { color: #666; font-size: 13px; }
</style></head><body>
<h2>Shrinkage in one simulated replicate</h2>
)HTML";
}

/// What the dots are: in sufficient mode the study draws no observations, so the figure's
/// replicate is an illustrative raw draw of the scenario.
std::string dots_note(const replicate_sample& s)
{
  if (s.family) return "Replicate 1 of the study: each group's raw rate y_j / n_j (no observations to draw).";
  return s.study_mode == simulation_mode::sufficient
           ? "Illustrative raw draw: the study ran in sufficient mode (no observations), so this replicate and its "
             "dots are drawn separately, not one of the study's replicates."
           : "Replicate 1 of the study (raw mode).";
}

/// The proportions (or rates) version of the page: a slider on the concentration (log scale) moves
/// every partial-pooling estimate (the posterior mean at the ml fit's mean); "fit from data" sets it
/// back to the ml fit shrink computed for this replicate.
std::string counts_html(const replicate_sample& s)
{
  const bool binomial = *s.family == count_family::binomial;
  nlohmann::json d;
  d["binomial"] = binomial;
  d["n"] = s.n;
  d["counts"] = s.counts;
  d["theta"] = s.theta;
  d["true_mean"] = s.grid_point.mu;
  d["true_concentration"] = s.grid_point.tau;
  d["fit_mean"] = s.fit_mean;
  d["fit_concentration"] = std::isfinite(s.fit_concentration) ? nlohmann::json(s.fit_concentration) : nlohmann::json();
  d["pooled"] = s.complete_pool;
  const std::string data = d.dump();  // numbers and booleans only: nothing can close the script
  const double start = std::isfinite(s.fit_concentration) ? s.fit_concentration : 1e6;
  const char* spread = binomial ? "concentration" : "shape";
  std::ostringstream o;
  o << page_head("nu") << R"HTML(<p class="note">)HTML"
    << subtitle(s) << R"HTML(</p>
<div id="controls">
<label for="nu">)HTML" << spread << R"HTML( = <span id="nu-value"></span></label>
<input type="range" id="nu" min="-2" max="6" step="0.001" value=")HTML"
    << num(std::log10(start)) << R"HTML(">
<button id="fit" type="button">fit from data (ml)</button>
</div>
<table id="readout"><thead><tr><th>estimator</th><th>MSE against the true theta</th></tr></thead><tbody>
<tr><td>no pooling</td><td id="mse-no_pool"></td></tr>
<tr><td>complete pooling</td><td id="mse-complete_pool"></td></tr>
<tr><td>partial pooling (at the slider's )HTML" << spread << R"HTML()</td><td id="mse-partial_pool"></td></tr>
<tr><td>oracle (the true prior)</td><td id="mse-oracle"></td></tr>
</tbody></table>
<div id="figure"></div>
<p class="note">Red cross: raw rate (no pooling); blue circle: posterior mean at the ml fit's mean and the slider's )HTML"
    << spread << R"HTML( (it starts at the ml fit; the right end is no spread, complete pooling); green triangle: true theta;
dashed line: pooled rate.</p>
<script id="shrink-data" type="application/json">)HTML"
    << data << R"HTML(</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("shrink-data").textContent);
const J = D.counts.length;
const rate = D.counts.map((y, j) => y / D.n[j]);
const mean = a => a.reduce((s, x) => s + x, 0) / a.length;
const mse = est => mean(est.map((e, j) => (e - D.theta[j]) ** 2));
// Posterior means under Beta(m nu, (1 - m) nu) or Gamma(nu, nu / m).
const post = (m, nu) => D.counts.map((y, j) => D.binomial ? (m * nu + y) / (nu + D.n[j]) : (nu + y) / (nu / m + D.n[j]));
const fixedMse = {
  no_pool: mse(rate),
  complete_pool: mse(rate.map(() => D.pooled)),
  oracle: mse(post(D.true_mean, D.true_concentration)),
};
function show(id, x) {
  const el = document.getElementById(id);
  el.dataset.value = String(x);
  el.textContent = x.toPrecision(6);
}
let lo = Math.min(...rate, ...D.theta), hi = Math.max(...rate, ...D.theta);
)HTML" << page_layout << R"HTML(function draw(est) {
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11">`;
  s += `<line x1="${X(D.pooled)}" x2="${X(D.pooled)}" y1="${T}" y2="${T + row * J}" stroke="#555" stroke-dasharray="4 3"/>`;
  for (let j = 0; j < J; ++j) {
    const y = Y(j);
    s += `<path d="M${X(rate[j]) - m} ${y - m}l${2 * m} ${2 * m}m0 ${-2 * m}l${-2 * m} ${2 * m}" stroke="#d62728" stroke-width="1.6"/>`;
    s += `<circle class="pp" cx="${X(est[j])}" cy="${y}" r="${m}" fill="none" stroke="#1f77b4" stroke-width="1.6"/>`;
    s += `<path d="M${X(D.theta[j])} ${y - m}l${m} ${2 * m}h${-2 * m}z" fill="#2ca02c"/>`;
  }
  const ax = T + row * J + 14;
  s += `<text x="${L}" y="${ax}">${lo.toPrecision(4)}</text><text x="${W - R}" y="${ax}" text-anchor="end">${hi.toPrecision(4)}</text>`;
  document.getElementById("figure").innerHTML = s + "</svg>";
}
const slider = document.getElementById("nu");
function update(nu) {
  document.getElementById("nu-value").textContent = nu.toPrecision(4);
  document.getElementById("nu-value").dataset.value = String(nu);
  const est = post(D.fit_mean, nu);
  draw(est);
  for (const k of ["no_pool", "complete_pool", "oracle"]) show("mse-" + k, fixedMse[k]);
  show("mse-partial_pool", mse(est));
}
const fitted = D.fit_concentration === null ? 1e6 : Math.max(D.fit_concentration, 0.01);  // 0: no pooling
slider.addEventListener("input", () => update(10 ** Number(slider.value)));
document.getElementById("fit").addEventListener("click", () => { slider.value = String(Math.log10(fitted)); update(fitted); });
update(fitted);
</script>
</body></html>
)HTML";
  return o.str();
}

}  // namespace

std::string shrinkage_svg(const replicate_sample& s)
{
  const std::size_t J = s.theta.size();
  const std::size_t per_group = dots_per_group(s);
  const double row = J <= 40 ? 18 : J <= 200 ? 10 : 6;
  const double left = 70, right = 30, top = 92, bottom = 50, width = 900;
  const double plot_w = width - left - right;
  const double height = top + row * static_cast<double>(J) + bottom;
  const auto [lo, hi] = extent(s, per_group);
  auto X = [&, lo = lo, hi = hi](double v) { return left + (v - lo) / (hi - lo) * plot_w; };
  auto Y = [&](std::size_t j) { return top + row * (static_cast<double>(j) + 0.5); };
  const double m = std::max(2.0, row * 0.3);  // marker half-size

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width) << "\" height=\"" << num(height)
    << "\" viewBox=\"0 0 " << num(width) << ' ' << num(height) << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << num(left) << "\" y=\"20\" font-size=\"15\" font-weight=\"bold\">Shrinkage in one simulated replicate</text>\n"
    << "<text x=\"" << num(left) << "\" y=\"38\" fill=\"#444\">" << subtitle(s) << "</text>\n";

  // Legend.
  const double ly = 62;
  double lx = left;
  o << "<g id=\"legend\">\n";
  if (!s.family) {
    o << "<circle cx=\"" << num(lx + 4) << "\" cy=\"" << num(ly) << "\" r=\"1.6\" fill=\"#888\"/><text x=\"" << num(lx + 12)
      << "\" y=\"" << num(ly + 4) << "\">observations</text>\n";
    lx += 110;
  }
  o << "<path d=\"M" << num(lx) << ' ' << num(ly - 4) << "l8 8m0 -8l-8 8\" stroke=\"#d62728\" stroke-width=\"1.6\"/><text x=\""
    << num(lx + 12) << "\" y=\"" << num(ly + 4) << "\">" << (s.family ? "no pooling (y / n)" : "no pooling (group mean)")
    << "</text>\n";
  lx += 175;
  o << "<circle cx=\"" << num(lx + 4) << "\" cy=\"" << num(ly) << "\" r=\"4\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.6\"/><text x=\""
    << num(lx + 12) << "\" y=\"" << num(ly + 4) << "\">partial pooling</text>\n";
  lx += 120;
  o << "<path d=\"M" << num(lx + 4) << ' ' << num(ly - 4) << "l4 8h-8z\" fill=\"#2ca02c\"/><text x=\"" << num(lx + 12)
    << "\" y=\"" << num(ly + 4) << "\">true theta</text>\n";
  lx += 95;
  o << "<path d=\"M" << num(lx) << ' ' << num(ly) << "h14\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"" << num(lx + 18)
    << "\" y=\"" << num(ly + 4) << "\">" << (s.family ? "pooled rate" : "grand mean") << "</text>\n";
  o << "</g>\n";
  o << "<text x=\"" << num(left) << "\" y=\"80\" fill=\"#777\" font-size=\"11\">" << dots_note(s);
  if (!s.family && per_group < static_cast<std::size_t>(s.grid_point.obs.max))
    o << " At most " << per_group << " observations shown per group.";
  o << "</text>\n";

  // Axis and grid.
  const double axis_y = top + row * static_cast<double>(J) + 8;
  o << "<g id=\"axis\" stroke=\"#ccc\">\n";
  for (double t : ticks(lo, hi))
    o << "<line x1=\"" << num(X(t)) << "\" x2=\"" << num(X(t)) << "\" y1=\"" << num(top) << "\" y2=\"" << num(axis_y)
      << "\"/><text x=\"" << num(X(t)) << "\" y=\"" << num(axis_y + 16) << "\" text-anchor=\"middle\" stroke=\"none\" fill=\"#333\">"
      << num(t) << "</text>\n";
  o << "</g>\n";
  o << "<text x=\"" << num(left + plot_w / 2) << "\" y=\"" << num(axis_y + 36) << "\" text-anchor=\"middle\">" << (s.family ? "rate" : "value") << "</text>\n";
  o << "<line x1=\"" << num(X(s.complete_pool)) << "\" x2=\"" << num(X(s.complete_pool)) << "\" y1=\"" << num(top)
    << "\" y2=\"" << num(axis_y) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n";

  // Rows.
  o << "<g id=\"groups\">\n";
  for (std::size_t j = 0; j < J; ++j) {
    const double y = Y(j);
    if (J <= 60)
      o << "<text x=\"" << num(left - 8) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\" fill=\"#555\">" << (j + 1)
        << "</text>";
    const auto& obs = s.observations[j];
    for (std::size_t i = 0; i < std::min(per_group, obs.size()); ++i)
      o << "<circle cx=\"" << num(X(obs[i])) << "\" cy=\"" << num(y) << "\" r=\"1.4\" fill=\"#888\" fill-opacity=\"0.6\"/>";
    o << "<path d=\"M" << num(X(s.ybar[j]) - m) << ' ' << num(y - m) << "l" << num(2 * m) << ' ' << num(2 * m) << "m0 "
      << num(-2 * m) << "l" << num(-2 * m) << ' ' << num(2 * m) << "\" stroke=\"#d62728\" stroke-width=\"1.6\"/>";
    o << "<circle cx=\"" << num(X(s.partial_pool[j])) << "\" cy=\"" << num(y) << "\" r=\"" << num(m)
      << "\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.6\"/>";
    o << "<path d=\"M" << num(X(s.theta[j])) << ' ' << num(y - m) << "l" << num(m) << ' ' << num(2 * m) << "h" << num(-2 * m)
      << "z\" fill=\"#2ca02c\"/>\n";
  }
  o << "</g>\n</svg>\n";
  return o.str();
}

std::string shrinkage_html(const replicate_sample& s)
{
  if (s.family) return counts_html(s);
  const std::size_t per_group = std::min<std::size_t>(dots_per_group(s), 50);
  nlohmann::json d;
  d["mu"] = s.grid_point.mu;
  d["sigma"] = s.grid_point.sigma;
  d["tau"] = s.grid_point.tau;
  d["sigma2_hat"] = s.sigma2_hat;
  d["tau2_hat"] = s.tau2_hat;
  d["level"] = s.level;
  d["n"] = s.n;
  d["theta"] = s.theta;
  d["ybar"] = s.ybar;
  d["partial_pool_at_tau_hat"] = s.partial_pool;
  nlohmann::json obs = nlohmann::json::array();
  for (const auto& o : s.observations)
    obs.push_back(std::vector<double>(o.begin(), o.begin() + static_cast<std::ptrdiff_t>(std::min(per_group, o.size()))));
  d["observations"] = obs;
  std::string data = d.dump();
  // Safe inside <script>: no "</" can close the element early.
  for (std::size_t p = 0; (p = data.find("</", p)) != std::string::npos; p += 3) data.replace(p, 2, "<\\/");

  const double tau_max = std::max({3 * std::sqrt(s.tau2_hat), 3 * s.grid_point.tau, 2 * s.grid_point.sigma, 1e-3});
  std::ostringstream o;
  o << page_head("tau") << R"HTML(<p class="note">)HTML"
    << subtitle(s) << R"HTML(</p>
<div id="controls">
<label for="tau">tau = <span id="tau-value"></span></label>
<input type="range" id="tau" min="0" max=")HTML"
    << num(tau_max) << R"HTML(" step=")HTML" << num(tau_max / 1000) << R"HTML(" value=")HTML"
    << num(std::sqrt(s.tau2_hat)) << R"HTML(">
<button id="fit" type="button">fit tau from data</button>
<span>mu_hat(tau) = <span id="mu-value"></span></span>
</div>
<table id="readout"><thead><tr><th>estimator</th><th>MSE against the true theta</th></tr></thead><tbody>
<tr><td>no pooling</td><td id="mse-no_pool"></td></tr>
<tr><td>complete pooling</td><td id="mse-complete_pool"></td></tr>
<tr><td>partial pooling (at the slider's tau)</td><td id="mse-partial_pool"></td></tr>
<tr><td>oracle (true mu, tau, sigma)</td><td id="mse-oracle"></td></tr>
<tr><td>James-Stein</td><td id="mse-james_stein"></td></tr>
</tbody></table>
<div id="figure"></div>
<p class="note">Dots: observations (at most )HTML"
    << per_group << R"HTML( per group are embedded in this page); red cross: group mean (no pooling, over all of the
group's observations); blue circle: partial pooling at the slider's tau (it starts at the moment estimate);
green triangle: true theta; dashed line: grand mean. sigma is the pooled within-group estimate.</p>
<p class="note" id="dots-note">)HTML"
    << dots_note(s) << R"HTML(</p>
<script id="shrink-data" type="application/json">)HTML"
    << data << R"HTML(</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("shrink-data").textContent);
const J = D.ybar.length;
const v = D.n.map(n => D.sigma2_hat / n);           // estimated sampling variances
const vTrue = D.n.map(n => D.sigma * D.sigma / n);  // true ones (the oracle's)
const mean = a => a.reduce((s, x) => s + x, 0) / a.length;
const mse = est => mean(est.map((e, j) => (e - D.theta[j]) ** 2));
function muHat(tau2) {  // precision-weighted mean of the group means
  let sw = 0, swy = 0;
  for (let j = 0; j < J; ++j) { const w = 1 / (v[j] + tau2); sw += w; swy += w * D.ybar[j]; }
  return swy / sw;
}
function partialPool(tau2) {
  const mu = muHat(tau2);
  return D.ybar.map((y, j) => y + v[j] / (v[j] + tau2) * (mu - y));
}
function momentTau2() {  // max(0, S^2 of the group means - mean sampling variance)
  const m = mean(D.ybar);
  const s2 = D.ybar.reduce((s, y) => s + (y - m) ** 2, 0) / (J - 1);
  return Math.max(0, s2 - mean(v));
}
function jamesStein() {
  if (J < 4) return null;
  const m = mean(D.ybar);
  const spread = D.ybar.reduce((s, y) => s + (y - m) ** 2, 0);
  const c = spread > 0 ? Math.max(0, 1 - (J - 3) * mean(v) / spread) : 0;
  return D.ybar.map(y => m + c * (y - m));
}
const muPooled = muHat(0);  // complete pooling: weights n_j / sigma2_hat
const fixedMse = {
  no_pool: mse(D.ybar),
  complete_pool: mse(D.ybar.map(() => muPooled)),
  oracle: mse(D.ybar.map((y, j) => y + vTrue[j] / (vTrue[j] + D.tau * D.tau) * (D.mu - y))),
  james_stein: J >= 4 ? mse(jamesStein()) : null,
};
function show(id, x) {
  const el = document.getElementById(id);
  el.dataset.value = x === null ? "" : String(x);
  el.textContent = x === null ? "n/a (J < 4)" : x.toPrecision(6);
}
const all = [];
for (let j = 0; j < J; ++j) { all.push(D.theta[j], D.ybar[j]); for (const y of D.observations[j]) all.push(y); }
let lo = Math.min(...all), hi = Math.max(...all);
)HTML" << page_layout << R"HTML(function draw(tau2) {
  const est = partialPool(tau2), mu0 = muHat(0);
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11">`;
  s += `<line x1="${X(mu0)}" x2="${X(mu0)}" y1="${T}" y2="${T + row * J}" stroke="#555" stroke-dasharray="4 3"/>`;
  for (let j = 0; j < J; ++j) {
    const y = Y(j);
    for (const o of D.observations[j]) s += `<circle cx="${X(o)}" cy="${y}" r="1.4" fill="#888" fill-opacity="0.6"/>`;
    s += `<path d="M${X(D.ybar[j]) - m} ${y - m}l${2 * m} ${2 * m}m0 ${-2 * m}l${-2 * m} ${2 * m}" stroke="#d62728" stroke-width="1.6"/>`;
    s += `<circle class="pp" cx="${X(est[j])}" cy="${y}" r="${m}" fill="none" stroke="#1f77b4" stroke-width="1.6"/>`;
    s += `<path d="M${X(D.theta[j])} ${y - m}l${m} ${2 * m}h${-2 * m}z" fill="#2ca02c"/>`;
  }
  const ax = T + row * J + 14;
  s += `<text x="${L}" y="${ax}">${lo.toPrecision(4)}</text><text x="${W - R}" y="${ax}" text-anchor="end">${hi.toPrecision(4)}</text>`;
  document.getElementById("figure").innerHTML = s + "</svg>";
  return est;
}
const slider = document.getElementById("tau");
function update(tau) {  // the slider snaps to its steps, so the exact tau is passed in
  const tau2 = tau * tau;
  document.getElementById("tau-value").textContent = tau.toPrecision(4);
  document.getElementById("tau-value").dataset.value = String(tau);
  document.getElementById("mu-value").textContent = muHat(tau2).toPrecision(6);
  const est = draw(tau2);
  for (const k of ["no_pool", "complete_pool", "oracle", "james_stein"]) show("mse-" + k, fixedMse[k]);
  show("mse-partial_pool", mse(est));
}
slider.addEventListener("input", () => update(Number(slider.value)));
document.getElementById("fit").addEventListener("click", () => {
  const tau = Math.sqrt(momentTau2());
  slider.value = String(tau);
  update(tau);
});
update(Math.sqrt(D.tau2_hat));  // start at the moment estimate (exactly, not the slider's step)
</script>
</body></html>
)HTML";
  return o.str();
}

}  // namespace shrink::io
