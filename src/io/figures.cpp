#include "figures.hpp"

#include <shrink/error.hpp>

#include "api/bayes.hpp"
#include "common/normal.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>

namespace shrink::io {

namespace {

/// Dots drawn in all: past this, each group shows its first few observations only.
constexpr std::size_t max_total_dots = 20000;

/// Observations drawn per group: none in the shrinkage plot (more groups than rows).
std::size_t dots_per_group(const replicate_sample& s)
{
  const std::size_t J = std::max<std::size_t>(s.theta.size(), 1);
  return J > max_rows ? 0 : std::max<std::size_t>(1, max_total_dots / J);
}

// The founding text's colours: blue x, green circle, gold triangle, dashed black line.
constexpr const char* blue = "#1f5fbf";
constexpr const char* green = "#1a9641";
constexpr const char* gold = "#e6a800";
constexpr const char* grey = "#777";

constexpr double width = 900, left = 130, right = 24;
constexpr double plot_w = width - left - right;

std::string num(double x)
{
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

/// Where partial pooling shrinks to: mu_hat, or the ml fit's prior mean for the count families.
double center_of(const replicate_sample& s) { return s.family ? s.fit_mean : s.mu_hat; }

/// The horizontal scale: [lo, hi] holds everything drawn, and every position the page's slider
/// can move an estimate to (each lies between its group's ybar_j and the centre).
struct frame {
  double lo = 0, hi = 1;
  double x(double v) const { return left + (v - lo) / (hi - lo) * plot_w; }
};

frame frame_of(const replicate_sample& s, std::size_t per_group)
{
  double lo = s.complete_pool, hi = s.complete_pool;
  auto take = [&](double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  };
  take(center_of(s));
  for (std::size_t j = 0; j < s.theta.size(); ++j) {
    take(s.theta[j]);
    take(s.ybar[j]);
    take(s.partial_pool[j]);
    if (j < s.observations.size())
      for (std::size_t i = 0; i < std::min(per_group, s.observations[j].size()); ++i) take(s.observations[j][i]);
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
  // The finest of 1, 2, 5, 10 times a power of ten that gives at most 11 steps: at least 4 ticks.
  const double mag = std::pow(10.0, std::floor(std::log10((hi - lo) / 8)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0})
    if ((hi - lo) / (m * mag) <= 11) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

/// Words of `text` in lines of at most `max_chars` characters (a word longer than that keeps a line).
std::vector<std::string> wrap(const std::string& text, std::size_t max_chars)
{
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string word, line;
  while (in >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > max_chars) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

/// Writes `text` wrapped to the canvas from baseline y; returns the baseline after it.
double text_block(std::ostream& o, const std::string& text, double y, double size, const char* fill)
{
  // About half an em per character of sans-serif text.
  const auto max_chars = static_cast<std::size_t>((width - 32) / (0.5 * size));
  for (const auto& line : wrap(text, max_chars)) {
    o << "<text x=\"16\" y=\"" << num(y) << "\" font-size=\"" << num(size) << "\" fill=\"" << fill << "\">" << line
      << "</text>\n";
    y += size * 1.35;
  }
  return y;
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
      << (std::isfinite(s.fit_concentration) ? num(s.fit_concentration) : std::string("infinity (the boundary)"))
      << "; pooled rate = " << num(s.complete_pool);
    return t.str();
  }
  t << "J = " << s.theta.size() << ", n = " << to_string(s.grid_point.obs) << ", true mu = " << num(s.grid_point.mu)
    << ", sigma = " << num(s.grid_point.sigma) << ", tau = " << num(s.grid_point.tau) << "; moment estimate tau = "
    << num(std::sqrt(s.tau2_hat)) << ", mu_hat = " << num(s.mu_hat) << ", complete pooling = " << num(s.complete_pool);
  return t.str();
}

/// What the figure's replicate is, and where sigma came from.
std::string provenance_note(const replicate_sample& s)
{
  if (s.family) return "Replicate 1 of the study: each group's raw rate y_j / n_j (no observations to draw).";
  std::string note = s.study_mode == simulation_mode::sufficient
                       ? "Illustrative raw draw: the study ran in sufficient mode (no observations), so this replicate and "
                         "its dots are drawn separately, not one of the study's replicates."
                       : "Replicate 1 of the study (raw mode).";
  const bool one_each = std::all_of(s.n.begin(), s.n.end(), [](std::int64_t n) { return n == 1; });
  note += one_each ? " Every group has one observation, so there is no within-group variance to estimate sigma from: "
                     "the true sigma = " + num(s.grid_point.sigma) + " is used, as the study does."
                   : " sigma is the pooled within-group estimate, sigma_hat = " + num(std::sqrt(s.sigma2_hat)) + ".";
  return note;
}

// Markers, centred at (x, y) with half-size m. `attrs` carries the class and group index.
std::string cross(double x, double y, double m, const std::string& attrs)
{
  return "<path " + attrs + " d=\"M" + num(x - m) + ' ' + num(y - m) + "l" + num(2 * m) + ' ' + num(2 * m) + "m0 " +
         num(-2 * m) + "l" + num(-2 * m) + ' ' + num(2 * m) + "\" stroke=\"" + blue + "\" stroke-width=\"1.8\"/>";
}
std::string circle(double x, double y, double m, const std::string& attrs)
{
  return "<circle " + attrs + " cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"" + num(m) + "\" fill=\"none\" stroke=\"" +
         green + "\" stroke-width=\"1.8\"/>";
}
std::string triangle(double x, double y, double m, const std::string& attrs)
{
  return "<path " + attrs + " d=\"M" + num(x) + ' ' + num(y - m) + "l" + num(m) + ' ' + num(2 * m) + "h" + num(-2 * m) +
         "z\" fill=\"" + gold + "\"/>";
}
std::string diamond(double x, double y, double m, const std::string& attrs)
{
  return "<path " + attrs + " d=\"M" + num(x) + ' ' + num(y - m) + "l" + num(m) + ' ' + num(m) + "l" + num(-m) + ' ' +
         num(m) + "l" + num(-m) + ' ' + num(-m) + "z\" fill=\"none\" stroke=\"" + grey + "\" stroke-width=\"1.3\"/>";
}
std::string dashed(double x, double y1, double y2, const std::string& attrs)
{
  return "<line " + attrs + " x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(y1) + "\" y2=\"" + num(y2) +
         "\" stroke=\"black\" stroke-width=\"1.3\" stroke-dasharray=\"6 4\"/>";
}
std::string group_attrs(const char* cls, std::size_t j) { return "class=\"" + std::string(cls) + "\" data-j=\"" + std::to_string(j) + "\""; }

/// A figure's rows, each a group <g class="row"> that the page can move (sort) as one.
std::string row_open(std::size_t j, std::size_t i, double size)
{
  return "<g class=\"row\" data-j=\"" + std::to_string(j) + "\" data-row=\"" + std::to_string(i) + "\" data-n=\"" + num(size) + "\">";
}

/// The page's control that re-sorts the forest's rows (each page keeps `current`, the estimate and
/// shrinkage of every drawn group at the slider's value, and calls resort() after moving them).
std::string sort_control(const char* initial)
{
  std::string s = "<label for=\"sort\">sort rows by</label>\n<select id=\"sort\">";
  for (const char* k : {"group", "n", "estimate", "shrinkage"})
    s += std::string("<option value=\"") + k + "\"" + (std::string(k) == initial ? " selected" : "") + ">" +
         (std::string(k) == "n" ? "n_j" : k) + "</option>";
  return s + "</select>\n";
}

/// Moves every <g class="row"> of the figure (data-row: its drawn place) to its place in the order
/// of the chosen key (ties: the group's order), by a translation of whole rows.
constexpr const char* sort_script = R"JS(const current = {estimate: {}, shrinkage: {}};
function resort() {
  const key = document.getElementById("sort").value;
  const value = r => key === "group" ? Number(r.dataset.j) : key === "n" ? Number(r.dataset.n) : current[key][r.dataset.j];
  for (const g of document.querySelectorAll("#figure [data-row-height]")) {
    const h = Number(g.dataset.rowHeight);
    const rows = [...g.querySelectorAll("g.row")];
    rows.sort((a, b) => (value(a) - value(b)) || (Number(a.dataset.j) - Number(b.dataset.j)));
    rows.forEach((r, i) => r.setAttribute("transform", "translate(0 " + (i - Number(r.dataset.row)) * h + ")"));
  }
}
document.getElementById("sort").addEventListener("change", resort);
)JS";

/// A framed legend of two rows of three entries; returns the baseline below it.
double legend(std::ostream& o, const replicate_sample& s, double y)
{
  const double h = 44;
  o << "<g id=\"legend\"><rect x=\"16\" y=\"" << num(y) << "\" width=\"" << num(width - 32) << "\" height=\"" << num(h)
    << "\" fill=\"white\" stroke=\"#bbb\"/>\n";
  const std::string center = s.family ? "prior mean (ml fit): where estimates shrink to" : "mu_hat: where estimates shrink to";
  const std::string entries[6] = {s.family ? "no pooling: raw rate y_j / n_j" : "no pooling: group mean ybar_j",
                                  "complete pooling", "partial pooling: posterior mean", "true theta_j", center,
                                  s.family || s.theta.size() > max_rows ? "green line: each group's pull"
                                                                        : "observations (grey dots)"};
  for (int e = 0; e < 6; ++e) {
    const double x = 30 + (e % 3) * 285, yy = y + 14 + (e / 3) * 18;
    switch (e) {
      case 0: o << cross(x + 5, yy, 4, "class=\"key\""); break;
      case 1: o << diamond(x + 5, yy, 5, "class=\"key\""); break;
      case 2: o << circle(x + 5, yy, 4.5, "class=\"key\""); break;
      case 3: o << triangle(x + 5, yy, 4.5, "class=\"key\""); break;
      case 4: o << "<path d=\"M" << num(x - 2) << ' ' << num(yy) << "h16\" stroke=\"black\" stroke-dasharray=\"6 4\"/>"; break;
      default:
        o << (s.family || s.theta.size() > max_rows ? "<path d=\"M" + num(x - 2) + ' ' + num(yy) + "h16\" stroke=\"" + green + "\" stroke-opacity=\"0.4\"/>"
                       : "<circle cx=\"" + num(x + 5) + "\" cy=\"" + num(yy) + "\" r=\"1.6\" fill=\"#999\"/>");
    }
    o << "<text x=\"" << num(x + 20) << "\" y=\"" << num(yy + 4) << "\">" << entries[e] << "</text>\n";
  }
  o << "</g>\n";
  return y + h;
}

/// Tick labels above (`above`) or below a horizontal axis at y, and grid lines from y1 to y2.
void axis(std::ostream& o, const frame& f, double y, bool above, double y1, double y2)
{
  o << "<g class=\"axis\">\n<line x1=\"" << num(left) << "\" x2=\"" << num(left + plot_w) << "\" y1=\"" << num(y) << "\" y2=\""
    << num(y) << "\" stroke=\"#333\"/>\n";
  for (double t : ticks(f.lo, f.hi)) {
    const double x = f.x(t);
    o << "<line x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\"" << num(y1) << "\" y2=\"" << num(y2)
      << "\" stroke=\"#e4e4e4\"/><line x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\"" << num(y) << "\" y2=\""
      << num(above ? y - 5 : y + 5) << "\" stroke=\"#333\"/><text class=\"tick\" x=\"" << num(x) << "\" y=\""
      << num(above ? y - 8 : y + 18) << "\" text-anchor=\"middle\" fill=\"#333\">" << num(t) << "</text>\n";
  }
  o << "</g>\n";
}

std::vector<std::size_t> rows_in(const replicate_sample& s, row_order order)
{
  std::vector<std::size_t> idx(s.theta.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  if (order == row_order::size)
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s.n[a] < s.n[b]; });
  if (order == row_order::estimate)
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s.partial_pool[a] < s.partial_pool[b]; });
  return idx;
}

/// One row per group (at most max_rows of them).
double draw_rows(std::ostream& o, const replicate_sample& s, const frame& f, row_order order, double top)
{
  const std::size_t J = s.theta.size();
  const std::size_t per_group = dots_per_group(s);
  const double row = J <= 40 ? 22 : 12;
  const double m = J <= 40 ? 5 : 3.5;
  const double bottom = top + row * static_cast<double>(J);
  axis(o, f, top, true, top, bottom);
  axis(o, f, bottom, false, top, bottom);
  const char* size_name = !s.family ? "n" : *s.family == count_family::binomial ? "n" : "E";
  o << "<g id=\"groups\" data-row-height=\"" << num(row) << "\">\n";
  const auto idx = rows_in(s, order);
  for (std::size_t r = 0; r < J; ++r) {
    const std::size_t j = idx[r];
    const double y = top + row * (static_cast<double>(r) + 0.5);
    o << row_open(j, r, static_cast<double>(s.n[j])) << "<text class=\"label\" x=\"" << num(left - 10) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\" fill=\"#444\">"
      << (j + 1) << "  (" << size_name << " = " << s.n[j] << ")</text>";
    if (j < s.observations.size())
      for (std::size_t i = 0; i < std::min(per_group, s.observations[j].size()); ++i)
        o << "<circle " << group_attrs("obs", j) << " cx=\"" << num(f.x(s.observations[j][i])) << "\" cy=\"" << num(y)
          << "\" r=\"1.6\" fill=\"#999\" fill-opacity=\"0.7\"/>";
    o << "<line " << group_attrs("pull", j) << " x1=\"" << num(f.x(s.ybar[j])) << "\" x2=\"" << num(f.x(s.partial_pool[j]))
      << "\" y1=\"" << num(y) << "\" y2=\"" << num(y) << "\" stroke=\"" << green << "\" stroke-opacity=\"0.4\" stroke-width=\"2\"/>";
    o << diamond(f.x(s.complete_pool), y, m, group_attrs("cp", j)) << cross(f.x(s.ybar[j]), y, m, group_attrs("np", j))
      << triangle(f.x(s.theta[j]), y, m, group_attrs("truth", j)) << circle(f.x(s.partial_pool[j]), y, m, group_attrs("pp", j))
      << "</g>\n";
  }
  o << "</g>\n" << dashed(f.x(center_of(s)), top, bottom, "class=\"center\"") << "\n";
  return bottom + 26;
}

/// Many groups: the shrinkage plot, every group's no-pooling value on the top axis joined to its
/// partial-pooling estimate on the bottom one (true theta as a rug under it).
double draw_lines(std::ostream& o, const replicate_sample& s, const frame& f, double top)
{
  const double bottom = top + 380, m = 3;
  o << "<text x=\"" << num(left - 10) << "\" y=\"" << num(top + 4) << "\" text-anchor=\"end\">no pooling</text>\n"
    << "<text x=\"" << num(left - 10) << "\" y=\"" << num(bottom + 4) << "\" text-anchor=\"end\">partial pooling</text>\n"
    << "<text x=\"" << num(left - 10) << "\" y=\"" << num(bottom + 30) << "\" text-anchor=\"end\">true theta</text>\n";
  axis(o, f, top, true, top, bottom);
  axis(o, f, bottom, false, top, bottom);
  o << "<g id=\"groups\">\n";
  for (std::size_t j = 0; j < s.theta.size(); ++j)
    o << "<line " << group_attrs("pull", j) << " x1=\"" << num(f.x(s.ybar[j])) << "\" x2=\"" << num(f.x(s.partial_pool[j]))
      << "\" y1=\"" << num(top) << "\" y2=\"" << num(bottom) << "\" stroke=\"" << green << "\" stroke-opacity=\"0.25\"/>"
      << cross(f.x(s.ybar[j]), top, m, group_attrs("np", j)) << circle(f.x(s.partial_pool[j]), bottom, m, group_attrs("pp", j))
      << triangle(f.x(s.theta[j]), bottom + 30, m, group_attrs("truth", j)) << "\n";
  o << "</g>\n"
    << diamond(f.x(s.complete_pool), bottom, 6, "class=\"cp\"") << dashed(f.x(center_of(s)), top, bottom, "class=\"center\"")
    << "\n";
  return bottom + 50;
}

/// An SVG document of the canvas's width around `body`, on white.
std::string svg_document(const std::string& body, double height)
{
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width) << "\" height=\"" << num(height) << "\" viewBox=\"0 0 "
    << num(width) << ' ' << num(height) << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << body << "</svg>\n";
  return o.str();
}

/// The whole figure; `f` is its horizontal scale (the page's script moves markers on it).
std::string figure(const replicate_sample& s, row_order order, const frame& f)
{
  const std::size_t J = s.theta.size();
  std::ostringstream body;
  body << "<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">Shrinkage in one simulated replicate</text>\n";
  double y = text_block(body, subtitle(s), 44, 12, "#333");
  std::string note = provenance_note(s);
  const std::size_t per_group = dots_per_group(s);
  if (!s.family && J <= max_rows && per_group < static_cast<std::size_t>(s.grid_point.obs.max))
    note += " At most " + std::to_string(per_group) + " observations shown per group.";
  if (J > max_rows)
    note += " " + std::to_string(J) + " groups are more than rows can show: each group's no-pooling value (top axis) is "
            "joined to its partial-pooling estimate (bottom axis), every group drawn.";
  y = text_block(body, note, y + 2, 11, "#666");
  y = legend(body, s, y + 4) + 34;
  y = J <= max_rows ? draw_rows(body, s, f, order, y) : draw_lines(body, s, f, y);
  body << "<text x=\"" << num(left + plot_w / 2) << "\" y=\"" << num(y + 8) << "\" text-anchor=\"middle\">"
       << (s.family ? "rate" : "value (the scale of y)") << "</text>\n";
  return svg_document(body.str(), y + 22);
}

std::string escape_script(std::string data)
{
  // Safe inside <script>: no "</" can close the element early.
  for (std::size_t p = 0; (p = data.find("</", p)) != std::string::npos; p += 3) data.replace(p, 2, "<\\/");
  return data;
}

/// The page around the figure: `controls` (slider, button) and `readout` (a table) are the
/// page's own; `script` computes its estimates and calls move(estimates, centre).
std::string page(const std::string& title, const std::string& svg, const nlohmann::json& data, const std::string& controls,
                 const std::string& readout, const std::string& script)
{
  std::ostringstream o;
  o << R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>)HTML" << title << R"HTML(</title>
<style>
body { font-family: sans-serif; margin: 12px 20px; color: #222; }
#controls { display: flex; gap: 18px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
#controls input[type=range] { flex: 1 1 360px; }
table { border-collapse: collapse; margin: 6px 0; }
td, th { padding: 3px 12px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; }
#figure svg { width: 100%; height: auto; display: block; }
</style></head><body>
<div id="controls">
)HTML" << controls
    << R"HTML(</div>
)HTML" << readout
    << R"HTML(
<div id="figure">
)HTML" << svg
    << R"HTML(</div>
<script id="shrink-data" type="application/json">)HTML"
    << escape_script(data.dump()) << R"HTML(</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("shrink-data").textContent);
)HTML" << script
    << R"HTML(</script>
</body></html>
)HTML";
  return o.str();
}

/// The script both replicate pages share: the scale, the MSE, the readout, and moving the marks.
constexpr const char* replicate_script = R"JS(const J = D.theta.length;
const X = v => D.frame.left + (v - D.frame.lo) / (D.frame.hi - D.frame.lo) * D.frame.width;
const mean = a => a.reduce((s, x) => s + x, 0) / a.length;
const mse = est => mean(est.map((e, j) => (e - D.theta[j]) ** 2));
function show(id, x) {
  const el = document.getElementById(id);
  el.dataset.value = x === null ? "" : String(x);
  el.textContent = x === null ? "n/a (J < 4)" : x.toPrecision(6);
}
// Moves every partial-pooling circle, its pull line and the centre line (the figure's other marks stay).
function move(est, center) {
  for (const c of document.querySelectorAll("#figure .pp")) c.setAttribute("cx", X(est[c.dataset.j]));
  for (const l of document.querySelectorAll("#figure .pull")) l.setAttribute("x2", X(est[l.dataset.j]));
  for (const l of document.querySelectorAll("#figure .center")) { l.setAttribute("x1", X(center)); l.setAttribute("x2", X(center)); }
}
)JS";

/// The sort control's initial key: the CLI's --plot-order.
const char* order_key(row_order order) { return order == row_order::size ? "n" : order == row_order::estimate ? "estimate" : "group"; }

/// The readout of a simulated replicate: each estimator's MSE, one row each.
std::string mse_table(const std::string& rows)
{
  return "<table id=\"readout\"><thead><tr><th>estimator</th><th>MSE against the true theta</th></tr></thead><tbody>\n" +
         rows + "</tbody></table>";
}

nlohmann::json common_data(const replicate_sample& s, const frame& f)
{
  nlohmann::json d;
  d["frame"] = {{"lo", f.lo}, {"hi", f.hi}, {"left", left}, {"width", plot_w}};
  d["n"] = s.n;
  d["theta"] = s.theta;
  d["ybar"] = s.ybar;
  d["partial_pool_at_fit"] = s.partial_pool;
  return d;
}

/// The proportions (or rates) page: a slider on the concentration (log scale) moves every
/// partial-pooling estimate (the posterior mean at the ml fit's mean); "fit from data" sets it back
/// to the ml fit shrink computed for this replicate.
std::string counts_html(const replicate_sample& s, row_order order)
{
  const bool binomial = *s.family == count_family::binomial;
  const frame f = frame_of(s, 0);
  nlohmann::json d = common_data(s, f);
  d["binomial"] = binomial;
  d["counts"] = s.counts;
  d["true_mean"] = s.grid_point.mu;
  d["true_concentration"] = s.grid_point.tau;
  d["fit_mean"] = s.fit_mean;
  d["fit_concentration"] = std::isfinite(s.fit_concentration) ? nlohmann::json(s.fit_concentration) : nlohmann::json();
  d["pooled"] = s.complete_pool;
  const double start = std::isfinite(s.fit_concentration) ? s.fit_concentration : 1e6;
  const std::string spread = binomial ? "concentration" : "shape";
  const std::string controls = "<label for=\"nu\">" + spread +
                               " = <span id=\"nu-value\"></span></label>\n<input type=\"range\" id=\"nu\" min=\"-2\" max=\"6\" "
                               "step=\"0.001\" value=\"" + num(std::log10(start)) +
                               "\">\n<button id=\"fit\" type=\"button\">fit from data (ml)</button>\n"
                               "<span>log scale; the right end is no spread (complete pooling)</span>\n" + sort_control(order_key(order));
  const std::string readout = "<tr><td>no pooling</td><td id=\"mse-no_pool\"></td></tr>\n"
                              "<tr><td>complete pooling</td><td id=\"mse-complete_pool\"></td></tr>\n"
                              "<tr><td>partial pooling (at the slider's " + spread +
                              ")</td><td id=\"mse-partial_pool\"></td></tr>\n"
                              "<tr><td>oracle (the true prior)</td><td id=\"mse-oracle\"></td></tr>\n";
  const std::string script = R"JS(// Posterior means under Beta(m nu, (1 - m) nu) or Gamma(nu, nu / m).
const post = (m, nu) => D.counts.map((y, j) => D.binomial ? (m * nu + y) / (nu + D.n[j]) : (nu + y) / (nu / m + D.n[j]));
const fixedMse = {
  no_pool: mse(D.ybar),
  complete_pool: mse(D.ybar.map(() => D.pooled)),
  oracle: mse(post(D.true_mean, D.true_concentration)),
};
const slider = document.getElementById("nu");
function update(nu) {
  document.getElementById("nu-value").textContent = nu.toPrecision(4);
  document.getElementById("nu-value").dataset.value = String(nu);
  const est = post(D.fit_mean, nu);
  move(est, D.fit_mean);
  est.forEach((e, j) => {  // the prior mean's weight: nu / (nu + n_j), or the gamma's rate over rate + E_j
    current.estimate[j] = e;
    current.shrinkage[j] = D.binomial ? nu / (nu + D.n[j]) : (nu / D.fit_mean) / (nu / D.fit_mean + D.n[j]);
  });
  resort();
  for (const k of ["no_pool", "complete_pool", "oracle"]) show("mse-" + k, fixedMse[k]);
  show("mse-partial_pool", mse(est));
}
const fitted = D.fit_concentration === null ? 1e6 : Math.max(D.fit_concentration, 0.01);  // 0: no pooling
slider.addEventListener("input", () => update(10 ** Number(slider.value)));
document.getElementById("fit").addEventListener("click", () => { slider.value = String(Math.log10(fitted)); update(fitted); });
update(fitted);
)JS";
  return page("shrink: one simulated replicate", figure(s, order, f), d, controls, mse_table(readout),
              std::string(sort_script) + replicate_script + script);
}

}  // namespace

row_order parse_row_order(const std::string& text, const std::string& option)
{
  if (text == "group") return row_order::group;
  if (text == "n") return row_order::size;
  if (text == "estimate") return row_order::estimate;
  throw error(option + ": '" + text.substr(0, 40) + "' is not group, n or estimate");
}

std::string shrinkage_svg(const replicate_sample& s, row_order order)
{
  return figure(s, order, frame_of(s, s.family ? 0 : dots_per_group(s)));
}

std::string shrinkage_html(const replicate_sample& s, row_order order)
{
  if (s.family) return counts_html(s, order);
  const frame f = frame_of(s, dots_per_group(s));
  nlohmann::json d = common_data(s, f);
  d["mu"] = s.grid_point.mu;
  d["sigma"] = s.grid_point.sigma;
  d["tau"] = s.grid_point.tau;
  d["sigma2_hat"] = s.sigma2_hat;
  d["tau2_hat"] = s.tau2_hat;
  d["level"] = s.level;
  const double tau_max = std::max({3 * std::sqrt(s.tau2_hat), 3 * s.grid_point.tau, 2 * s.grid_point.sigma, 1e-3});
  const std::string controls = "<label for=\"tau\">tau = <span id=\"tau-value\"></span></label>\n<input type=\"range\" "
                               "id=\"tau\" min=\"0\" max=\"" + num(tau_max) + "\" step=\"" + num(tau_max / 1000) +
                               "\" value=\"" + num(std::sqrt(s.tau2_hat)) +
                               "\">\n<button id=\"fit\" type=\"button\">fit tau from data</button>\n"
                               "<span>mu_hat(tau) = <span id=\"mu-value\"></span></span>\n" + sort_control(order_key(order));
  const std::string readout = R"HTML(<tr><td>no pooling</td><td id="mse-no_pool"></td></tr>
<tr><td>complete pooling</td><td id="mse-complete_pool"></td></tr>
<tr><td>partial pooling (at the slider's tau)</td><td id="mse-partial_pool"></td></tr>
<tr><td>oracle (true mu, tau, sigma)</td><td id="mse-oracle"></td></tr>
<tr><td>James-Stein</td><td id="mse-james_stein"></td></tr>
)HTML";
  const std::string script = R"JS(const v = D.n.map(n => D.sigma2_hat / n);           // estimated sampling variances
const vTrue = D.n.map(n => D.sigma * D.sigma / n);  // true ones (the oracle's)
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
  const m = mean(D.ybar);
  const spread = D.ybar.reduce((s, y) => s + (y - m) ** 2, 0);
  const c = spread > 0 ? Math.max(0, 1 - (J - 3) * mean(v) / spread) : 0;
  return D.ybar.map(y => m + c * (y - m));
}
const fixedMse = {
  no_pool: mse(D.ybar),
  complete_pool: mse(D.ybar.map(() => muHat(0))),  // complete pooling: weights n_j / sigma2_hat
  oracle: mse(D.ybar.map((y, j) => y + vTrue[j] / (vTrue[j] + D.tau * D.tau) * (D.mu - y))),
  james_stein: J >= 4 ? mse(jamesStein()) : null,
};
const slider = document.getElementById("tau");
function update(tau) {  // the slider snaps to its steps, so the exact tau is passed in
  const tau2 = tau * tau, mu = muHat(tau2);
  document.getElementById("tau-value").textContent = tau.toPrecision(4);
  document.getElementById("tau-value").dataset.value = String(tau);
  document.getElementById("mu-value").textContent = mu.toPrecision(6);
  document.getElementById("mu-value").dataset.value = String(mu);
  const est = partialPool(tau2);
  move(est, mu);
  est.forEach((e, j) => { current.estimate[j] = e; current.shrinkage[j] = v[j] / (v[j] + tau2); });
  resort();
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
)JS";
  return page("shrink: one simulated replicate", figure(s, order, f), d, controls, mse_table(readout),
              std::string(sort_script) + replicate_script + script);
}

namespace {

std::string xml_escape(const std::string& text)
{
  std::string out;
  for (char c : text.substr(0, 24)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
  }
  return out;
}

/// Indices of `values` in increasing order, or `most` of them evenly spaced in that order.
std::vector<std::size_t> ranked_sample(const std::vector<double>& values, std::size_t most)
{
  std::vector<std::size_t> idx(values.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  if (idx.size() <= most) return idx;
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < most; ++i) out.push_back(idx[i * (idx.size() - 1) / (most - 1)]);
  return out;
}

frame frame_over(std::initializer_list<const std::vector<double>*> columns, const std::vector<std::size_t>& rows,
                 std::initializer_list<double> extra)
{
  double lo = *extra.begin(), hi = lo;
  for (double v : extra) lo = std::min(lo, v), hi = std::max(hi, v);
  for (const auto* c : columns)
    for (std::size_t j : rows) lo = std::min(lo, (*c)[j]), hi = std::max(hi, (*c)[j]);
  if (hi - lo <= 0) lo -= 1, hi += 1;
  const double pad = 0.04 * (hi - lo);
  return {lo - pad, hi + pad};
}

double panel_title(std::ostream& o, const std::string& title, const std::string& note, double y)
{
  o << "<text x=\"16\" y=\"" << num(y) << "\" font-size=\"14\" font-weight=\"bold\">" << title << "</text>\n";
  return text_block(o, note, y + 18, 11, "#666") + 30;
}

/// At one tau: the log-likelihood given the (y_j, v_j) with mu profiled out (restricted: also
/// - log(sum w) / 2), without constants; mu_hat(tau); and the mean shrinkage over the groups.
struct tau_point {
  double tau = 0, log_likelihood = 0, mu = 0, mean_shrinkage = 0;
};

tau_point at_tau(const fit_result& r, double tau, bool restricted)
{
  const double tau2 = tau * tau;
  double sw = 0, swy = 0, ll = 0, sb = 0;
  for (std::size_t j = 0; j < r.mean.size(); ++j) {
    const double v = r.se[j] * r.se[j], w = 1 / (v + tau2);
    sw += w;
    swy += w * r.mean[j];
    sb += v * w;
  }
  const double mu = swy / sw;
  for (std::size_t j = 0; j < r.mean.size(); ++j) {
    const double w = 1 / (r.se[j] * r.se[j] + tau2);
    ll += 0.5 * (std::log(w) - w * (r.mean[j] - mu) * (r.mean[j] - mu));
  }
  return {tau, restricted ? ll - 0.5 * std::log(sw) : ll, mu, sb / static_cast<double>(r.mean.size())};
}

/// What the three panels of a fit's figure draw, whatever the model (normal, counts): per group
/// the no-pooling value, the estimate and its interval; the centre the estimates shrink to and the
/// band where a new group lies; the log-likelihood along the prior's spread.
struct fit_picture {
  std::string title, subtitle, value_name;
  const std::vector<double>* raw = nullptr;       ///< no pooling (blue x)
  const std::vector<double>* estimate = nullptr;  ///< partial pooling (green circle)
  const std::vector<double>* lower = nullptr;
  const std::vector<double>* upper = nullptr;
  std::vector<double> wide_lower, wide_upper;  ///< where the page's slider can move the intervals
  std::vector<double> size;                    ///< n_j (the page's sort)
  std::vector<std::string> keys;
  double centre = 0;
  std::string centre_name, band_name, estimate_name;
  double band_lower = 0, band_upper = 0;
  /// Regression: each group's own pull target x_j' beta (a grey circle on its row); no common
  /// centre line or band then.
  const std::vector<double>* target = nullptr;
  /// Draws a first panel in place of the shrinkage plot from the height given; returns the next.
  std::function<double(std::ostream&, double, const std::vector<std::size_t>&)> first_panel;
  // The likelihood panel: points (x on its axis, log-likelihood without or with constants).
  std::vector<double> curve_x, curve_ll;
  double x_estimate = 0;
  std::optional<std::pair<double, double>> x_interval;
  /// The curve is a posterior density (drawn from 0 up; x_mean its mean, dotted), not a log-likelihood.
  bool density = false;
  std::optional<double> x_mean;
  std::string curve_title, curve_note, curve_axis;
  double level = 0.95;
};

/// The figure, and the groups it draws: the shrinkage plot's lines and the forest's rows.
struct fit_drawing {
  std::string svg;
  std::vector<std::size_t> lines, rows, drawn;
};

fit_drawing draw_fit(const fit_picture& p)
{
  const std::vector<double>& raw = *p.raw;
  const std::vector<double>& est = *p.estimate;
  const std::size_t J = raw.size();
  std::ostringstream b;
  b << "<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">" << p.title << "</text>\n";
  double y = text_block(b, p.subtitle, 44, 12, "#333") + 20;

  // The shrinkage plot.
  fit_drawing out;
  out.lines = ranked_sample(raw, max_lines);
  if (p.first_panel) {
    y = p.first_panel(b, y, out.lines);
  } else {
  const frame fs = frame_over({p.raw, p.estimate}, out.lines, {p.centre});
  y = panel_title(b, "Shrinkage: no pooling joined to partial pooling",
                  J > max_lines ? std::to_string(max_lines) + " of the " + std::to_string(J) +
                                    " groups (a sample), evenly spaced in the rank of the no-pooling estimate."
                                : "Every group drawn; lines that cross show groups whose order changes.",
                  y);
  const double top = y, bottom = y + 300;
  b << "<g id=\"shrinkage-plot\" data-lo=\"" << fs.lo << "\" data-hi=\"" << fs.hi << "\">\n<text x=\"" << num(left - 10) << "\" y=\"" << num(top + 4)
    << "\" text-anchor=\"end\">no pooling</text><text x=\"" << num(left - 10) << "\" y=\"" << num(bottom + 4)
    << "\" text-anchor=\"end\">partial pooling</text>\n";
  axis(b, fs, top, true, top, bottom);
  axis(b, fs, bottom, false, top, bottom);
  const double opacity = out.lines.size() > 200 ? 0.2 : 0.5;
  for (std::size_t j : out.lines)
    b << "<line " << group_attrs("pull", j) << " x1=\"" << num(fs.x(raw[j])) << "\" x2=\"" << num(fs.x(est[j])) << "\" y1=\"" << num(top)
      << "\" y2=\"" << num(bottom) << "\" stroke=\"" << green << "\" stroke-opacity=\"" << opacity << "\"/>"
      << cross(fs.x(raw[j]), top, 3, group_attrs("np", j)) << circle(fs.x(est[j]), bottom, 3, group_attrs("pp", j)) << "\n";
  b << dashed(fs.x(p.centre), top, bottom, "class=\"center\"") << "\n</g>\n";
  b << "<text x=\"" << num(left + plot_w / 2) << "\" y=\"" << num(bottom + 40) << "\" text-anchor=\"middle\">" << p.value_name << "</text>\n";
  y = bottom + 70;
  }

  // The forest (caterpillar) plot.
  out.rows = ranked_sample(est, max_rows);
  const frame ff = p.target ? frame_over({p.lower, p.upper, &p.wide_lower, &p.wide_upper, p.raw, p.target}, out.rows, {est[0]})
                            : frame_over({p.lower, p.upper, &p.wide_lower, &p.wide_upper, p.raw}, out.rows,
                                         {p.band_lower, p.band_upper, p.centre});
  y = panel_title(b, "Estimates with their " + num(100 * p.level) + "% intervals, sorted",
                  (J > max_rows ? std::to_string(max_rows) + " of the " + std::to_string(J) +
                                    " groups (a sample), evenly spaced in the rank of the estimate. "
                                : std::string()) +
                    "Green circle: " + p.estimate_name + " and its interval; blue x: no pooling; " +
                    (p.target ? "grey circle: the group's own fitted value, where it shrinks to."
                              : "dashed line: " + p.centre_name + "; shaded: " + p.band_name + "."),
                  y);
  const double row = out.rows.size() <= 40 ? 20 : 12, ftop = y, fbottom = y + row * static_cast<double>(out.rows.size());
  b << "<g id=\"forest\" data-lo=\"" << ff.lo << "\" data-hi=\"" << ff.hi << "\" data-row-height=\"" << num(row)
    << "\">\n";
  if (!p.target)
    b << "<rect class=\"prediction\" x=\"" << num(ff.x(p.band_lower)) << "\" width=\""
      << num(ff.x(p.band_upper) - ff.x(p.band_lower)) << "\" y=\"" << num(ftop) << "\" height=\"" << num(fbottom - ftop)
      << "\" fill=\"#f2e3b3\" fill-opacity=\"0.6\"/>\n";
  axis(b, ff, ftop, true, ftop, fbottom);
  axis(b, ff, fbottom, false, ftop, fbottom);
  for (std::size_t i = 0; i < out.rows.size(); ++i) {
    const std::size_t j = out.rows[i];
    const double yy = ftop + row * (static_cast<double>(i) + 0.5);
    b << row_open(j, i, p.size[j]) << "<text class=\"label\" x=\"" << num(left - 10) << "\" y=\"" << num(yy + 4)
      << "\" text-anchor=\"end\">" << xml_escape(p.keys[j]) << "</text><line " << group_attrs("interval", j) << " x1=\""
      << num(ff.x((*p.lower)[j])) << "\" x2=\"" << num(ff.x((*p.upper)[j])) << "\" y1=\"" << num(yy) << "\" y2=\"" << num(yy)
      << "\" stroke=\"" << green << "\" stroke-width=\"1.6\"/>" << cross(ff.x(raw[j]), yy, 3.5, group_attrs("np", j))
      << "<circle " << group_attrs("pp", j) << " cx=\"" << num(ff.x(est[j])) << "\" cy=\"" << num(yy) << "\" r=\"3.5\" fill=\""
      << green << "\"/>";
    if (p.target)
      b << "<circle " << group_attrs("fitted", j) << " cx=\"" << num(ff.x((*p.target)[j])) << "\" cy=\"" << num(yy)
        << "\" r=\"3\" fill=\"none\" stroke=\"" << grey << "\" stroke-width=\"1.3\"/>";
    b << "</g>\n";
  }
  if (!p.target) b << dashed(ff.x(p.centre), ftop, fbottom, "class=\"center\"") << "\n";
  b << "</g>\n";
  b << "<text x=\"" << num(left + plot_w / 2) << "\" y=\"" << num(fbottom + 40) << "\" text-anchor=\"middle\">" << p.value_name << "</text>\n";
  y = fbottom + 70;

  // The log-likelihood along the prior's spread, relative to its maximum over the grid; or the
  // posterior density, from 0 to its maximum (both span the panel's height).
  std::vector<double> ll = p.curve_ll;
  const double top_ll = *std::max_element(ll.begin(), ll.end());
  double floor_ll = 0;
  if (!p.density) {
    for (double& v : ll) floor_ll = std::min(floor_ll, v -= top_ll);
    floor_ll = std::min(floor_ll, -1.0);
  }
  const double y_lo = p.density ? 0.0 : floor_ll, y_hi = p.density ? top_ll : 0.0;
  y = panel_title(b, p.curve_title, p.curve_note, y);
  const frame ft{p.curve_x.front(), p.curve_x.back()};
  const double ltop = y, lbottom = y + 220;
  auto Y = [&](double v) { return ltop + (y_hi - v) / (y_hi - y_lo) * (lbottom - ltop); };
  b << "<g id=\"tau-likelihood\" data-lo=\"" << ft.lo << "\" data-hi=\"" << ft.hi << "\">\n";
  if (p.x_interval) {
    const double lo = std::max(p.x_interval->first, ft.lo), hi = std::min(p.x_interval->second, ft.hi);
    b << "<rect class=\"interval\" x=\"" << num(ft.x(lo)) << "\" width=\"" << num(std::max(0.0, ft.x(hi) - ft.x(lo))) << "\" y=\""
      << num(ltop) << "\" height=\"" << num(lbottom - ltop) << "\" fill=\"#dbe6f7\"/>\n";
  }
  axis(b, ft, lbottom, false, ltop, lbottom);
  for (double t : ticks(y_lo, y_hi))
    b << "<text class=\"ytick\" x=\"" << num(left - 8) << "\" y=\"" << num(Y(t) + 4) << "\" text-anchor=\"end\">" << num(t)
      << "</text><line x1=\"" << num(left - 4) << "\" x2=\"" << num(left) << "\" y1=\"" << num(Y(t)) << "\" y2=\""
      << num(Y(t)) << "\" stroke=\"#333\"/>\n";
  b << "<line x1=\"" << num(left) << "\" x2=\"" << num(left) << "\" y1=\"" << num(ltop) << "\" y2=\"" << num(lbottom)
    << "\" stroke=\"#333\"/>\n<path class=\"curve\" fill=\"none\" stroke=\"" << blue << "\" stroke-width=\"2\" d=\"";
  for (std::size_t i = 0; i < ll.size(); ++i) b << (i ? "L" : "M") << num(ft.x(p.curve_x[i])) << ' ' << num(Y(ll[i]));
  const double xe = ft.x(std::min(std::max(p.x_estimate, ft.lo), ft.hi));
  b << "\"/>\n<line class=\"estimate\" x1=\"" << num(xe) << "\" x2=\"" << num(xe) << "\" y1=\"" << num(ltop) << "\" y2=\""
    << num(lbottom) << "\" stroke=\"black\" stroke-width=\"1.5\"/>\n";
  if (p.x_mean && *p.x_mean >= ft.lo && *p.x_mean <= ft.hi)
    b << "<line class=\"posterior-mean\" x1=\"" << num(ft.x(*p.x_mean)) << "\" x2=\"" << num(ft.x(*p.x_mean)) << "\" y1=\""
      << num(ltop) << "\" y2=\"" << num(lbottom) << "\" stroke=\"black\" stroke-width=\"1.2\" stroke-dasharray=\"2 3\"/>\n";
  // The page's slider position (hidden in the SVG).
  b << "<line class=\"at-tau\" visibility=\"hidden\" x1=\"" << num(xe) << "\" x2=\"" << num(xe) << "\" y1=\"" << num(ltop)
    << "\" y2=\"" << num(lbottom) << "\" stroke=\"#c0392b\" stroke-width=\"2\"/>\n</g>\n";
  b << "<text class=\"ylabel\" transform=\"translate(40 " << num((ltop + lbottom) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << (p.density ? "posterior density" : "log-likelihood - maximum") << "</text>\n";
  b << "<text x=\"" << num(left + plot_w / 2) << "\" y=\"" << num(lbottom + 40) << "\" text-anchor=\"middle\">" << p.curve_axis
    << "</text>\n";
  out.svg = svg_document(b.str(), lbottom + 60);
  out.drawn = out.lines;
  out.drawn.insert(out.drawn.end(), out.rows.begin(), out.rows.end());
  std::sort(out.drawn.begin(), out.drawn.end());
  out.drawn.erase(std::unique(out.drawn.begin(), out.drawn.end()), out.drawn.end());
  return out;
}

/// Whether a point of a page's slider lies where the data are plausible: within 4 of the
/// log-likelihood's maximum (2 x 4 is past the chi-square(1) 99.5% quantile).
bool plausible(double log_likelihood, double top) { return log_likelihood >= top - 4; }

/// --tau-method bayes: the likelihood panel shows the marginal posterior of tau instead, p(tau | y) at
/// each of p.curve_x, the prior times exp(log_restricted) normalised by the fit's own quadrature
/// (integrate_tau run again on the same function, c and residual_df as the fit's), with the
/// posterior median (solid), mean (dotted) and central interval (shaded).
void draw_posterior(fit_picture& p, const fit_result::tau_posterior& post, const std::function<double(double)>& log_restricted,
                    double c, double residual_df, double level)
{
  const detail::tau_quadrature q = detail::integrate_tau(log_restricted, post.prior, c, residual_df, level);
  p.curve_ll.clear();
  for (double t : p.curve_x) p.curve_ll.push_back(std::exp(detail::log_tau_prior(t, post.prior) + log_restricted(t) - q.log_normaliser));
  p.density = true;
  p.x_estimate = post.median;
  p.x_interval = std::pair(post.lower, post.upper);
  if (std::isfinite(post.mean)) p.x_mean = post.mean;
  p.curve_title = "Posterior of tau (--tau-method bayes, prior " + to_string(post.prior) + ")";
  p.curve_note = "The marginal posterior density p(tau | y) the fit integrates over (the location integrated out under its "
                 "flat prior). Solid line: the posterior median; dotted: the posterior mean; shaded: the central " +
                 num(100 * level) + "% posterior interval.";
}

/// The normal family's picture, and the grid of tau the likelihood panel and the page's slider use.
struct normal_picture {
  fit_picture picture;
  std::vector<tau_point> grid;
  tau_point fitted;
  double constant = 0;  ///< the log-likelihood's constant (metafor's)
  double q = 0;         ///< the intervals' quantile
};

normal_picture normal_fit_picture(const fit_result& r, key_view keys)
{
  const std::size_t J = r.mean.size();
  normal_picture n;
  fit_picture& p = n.picture;
  p.title = "shrink fit: " + std::to_string(J) + " groups";
  std::ostringstream sub;
  sub << "mu = " << num(r.mu) << ", tau = " << num(std::sqrt(r.tau2)) << " (" << to_string(r.method)
      << "), complete pooling = " << num(r.complete_pooling) << "; prediction interval for a new group ["
      << num(r.pred_lower) << ", " << num(r.pred_upper) << "] at level " << num(r.level);
  p.subtitle = sub.str();
  p.value_name = "value (the scale of the estimates)";
  p.raw = &r.mean;
  p.estimate = &r.estimate;
  p.lower = &r.lower;
  p.upper = &r.upper;
  p.keys = keys.strings();
  p.size.assign(r.n.begin(), r.n.end());
  p.centre = r.mu;
  p.centre_name = "mu";
  p.band_name = "the prediction interval for a new group";
  p.estimate_name = "partial-pooling estimate";
  p.band_lower = r.pred_lower;
  p.band_upper = r.pred_upper;
  p.level = r.level;
  n.q = detail::normal_quantile(0.5 + r.level / 2);
  for (std::size_t j = 0; j < J; ++j)
    if (r.sd[j] > 0) {
      n.q = (r.upper[j] - r.estimate[j]) / r.sd[j];  // the fit's own (t or normal)
      break;
    }
  // Wide enough for the page's slider: as tau grows each interval tends to mean +- q se.
  for (std::size_t j = 0; j < J; ++j) p.wide_lower.push_back(r.mean[j] - n.q * r.se[j]), p.wide_upper.push_back(r.mean[j] + n.q * r.se[j]);

  const bool restricted = r.method == tau_method::reml;
  const double tau = std::sqrt(r.tau2);
  double spread = 0;
  for (std::size_t j = 0; j < J; ++j) spread = std::max(spread, std::abs(r.mean[j] - r.mu));
  const double tau_max = std::max({2.5 * tau, r.tau2_upper ? 1.3 * std::sqrt(*r.tau2_upper) : 0.0,
                                   r.tau_post ? 1.5 * r.tau_post->upper : 0.0, spread, 1e-3});
  constexpr int points = 240;
  for (int i = 0; i <= points; ++i) {
    n.grid.push_back(at_tau(r, tau_max * i / points, restricted));
    p.curve_x.push_back(n.grid.back().tau);
    p.curve_ll.push_back(n.grid.back().log_likelihood);
  }
  n.fitted = at_tau(r, tau, restricted);
  // As metafor's fit.stats: REML's constant also holds log det(X'X) / 2 = log(J) / 2 (X the intercept).
  n.constant = restricted ? -0.5 * static_cast<double>(J - 1) * std::log(2 * M_PI) + 0.5 * std::log(static_cast<double>(J))
                          : -0.5 * static_cast<double>(J) * std::log(2 * M_PI);
  p.x_estimate = tau;
  if (r.tau2_lower && r.tau2_upper) p.x_interval = std::pair(std::sqrt(*r.tau2_lower), std::sqrt(*r.tau2_upper));
  p.curve_title = std::string(restricted ? "Restricted log-likelihood" : "Log-likelihood") + " of tau";
  p.curve_note = "Given the groups' estimates and standard errors, mu profiled out, relative to its maximum on the "
                 "grid. Solid line: the fit's tau; shaded: its " + num(100 * r.level) + "% interval (Q-profile).";
  p.curve_axis = "tau";
  if (r.tau_post) {
    double sum_v = 0;
    for (double se : r.se) sum_v += se * se;
    draw_posterior(p, *r.tau_post, [&r](double t) { return at_tau(r, t, true).log_likelihood; },
                   std::sqrt(sum_v / static_cast<double>(J)), static_cast<double>(J) - 1, r.level);
  }
  return n;
}

}  // namespace

std::string fit_svg(const fit_result& r, key_view keys) { return draw_fit(normal_fit_picture(r, keys).picture).svg; }

std::string fit_html(const fit_result& r, key_view keys)
{
  const normal_picture n = normal_fit_picture(r, keys);
  const fit_drawing f = draw_fit(n.picture);
  nlohmann::json d;
  auto column = [&](auto get) {
    nlohmann::json c = nlohmann::json::array();
    for (const auto& p : n.grid) c.push_back(get(p));
    return c;
  };
  d["grid"] = {{"tau", column([](const tau_point& p) { return p.tau; })},
               {"ll", column([](const tau_point& p) { return p.log_likelihood; })},
               {"mu", column([](const tau_point& p) { return p.mu; })},
               {"mean_shrinkage", column([](const tau_point& p) { return p.mean_shrinkage; })}};
  d["fitted"] = {{"tau", n.fitted.tau}, {"ll", n.fitted.log_likelihood}, {"mu", n.fitted.mu},
                 {"mean_shrinkage", n.fitted.mean_shrinkage}};
  d["top_ll"] = std::max_element(n.grid.begin(), n.grid.end(), [](const tau_point& a, const tau_point& b) {
                  return a.log_likelihood < b.log_likelihood;
                })->log_likelihood;
  d["constant"] = n.constant;
  d["q"] = n.q;
  d["frame"] = {{"left", left}, {"width", plot_w}};
  nlohmann::json groups = nlohmann::json::object();
  for (std::size_t j : f.drawn)
    groups[std::to_string(j)] = {{"key", keys[j].substr(0, 24)}, {"mean", r.mean[j]}, {"v", r.se[j] * r.se[j]}};
  d["groups"] = groups;
  d["rows"] = f.rows;  // the forest's rows, in drawn order, for the shrinkage table
  const std::string controls =
    "<label for=\"tau\">tau = <span id=\"tau-value\"></span></label>\n<input type=\"range\" id=\"tau\" min=\"0\" max=\"" +
    std::to_string(n.grid.size() - 1) + "\" step=\"1\" value=\"0\">\n<button id=\"fit\" type=\"button\">fit tau from data (" +
    to_string(r.method) + ")</button>\n<span>mu_hat(tau) = <span id=\"mu-value\"></span></span>\n" + sort_control("estimate");
  const std::string readout =
    "<table id=\"readout\"><tbody>\n<tr><td>" + std::string(r.method == tau_method::reml ? "restricted " : "") +
    "log-likelihood at the slider's tau (mu profiled out, constants included)</td><td id=\"loglik\"></td></tr>\n"
    "<tr><td>the same, relative to its maximum over the slider's range</td><td id=\"loglik-relative\"></td></tr>\n"
    "<tr><td>mean shrinkage B_j over all " + std::to_string(r.mean.size()) +
    " groups</td><td id=\"mean-shrinkage\"></td></tr>\n</tbody></table>\n<details><summary>each group's shrinkage "
    "(the forest's rows)</summary><table id=\"shrinkage\"><thead><tr><th>group</th><th>B_j</th><th>estimate</th></tr>"
    "</thead><tbody></tbody></table></details>";
  const std::string script = R"JS(const G = D.groups, F = D.frame;
const scaleOf = id => { const g = document.getElementById(id); return [Number(g.dataset.lo), Number(g.dataset.hi)]; };
const X = (id, v) => { const [lo, hi] = scaleOf(id); return F.left + (v - lo) / (hi - lo) * F.width; };
function show(id, x) {
  const el = document.getElementById(id);
  el.dataset.value = String(x);
  el.textContent = x.toPrecision(6);
}
const body = document.querySelector("#shrinkage tbody");
for (const j of D.rows) {
  const tr = document.createElement("tr");
  tr.innerHTML = "<td></td><td></td><td></td>";
  tr.children[0].textContent = G[j].key;
  tr.dataset.j = j;
  body.appendChild(tr);
}
// Every mark of the groups drawn, at tau with the centre mu = mu_hat(tau).
function move(tau, mu) {
  const at = j => { const g = G[j], b = g.v / (g.v + tau * tau); return [b, g.mean + b * (mu - g.mean), Math.sqrt(g.v * (1 - b))]; };
  for (const id of ["shrinkage-plot", "forest"]) {
    const g = document.getElementById(id);
    for (const c of g.querySelectorAll(".pp")) c.setAttribute("cx", X(id, at(c.dataset.j)[1]));
    for (const l of g.querySelectorAll(".pull")) l.setAttribute("x2", X(id, at(l.dataset.j)[1]));
    for (const l of g.querySelectorAll(".interval")) {
      const [, e, sd] = at(l.dataset.j);
      l.setAttribute("x1", X(id, e - D.q * sd));
      l.setAttribute("x2", X(id, e + D.q * sd));
    }
    for (const l of g.querySelectorAll(".center")) { l.setAttribute("x1", X(id, mu)); l.setAttribute("x2", X(id, mu)); }
  }
  const mark = document.querySelector("#tau-likelihood .at-tau");
  mark.setAttribute("x1", X("tau-likelihood", tau));
  mark.setAttribute("x2", X("tau-likelihood", tau));
  mark.setAttribute("visibility", "visible");
  for (const tr of body.children) {
    const [b, e] = at(tr.dataset.j);
    tr.children[1].textContent = b.toPrecision(4);
    tr.children[1].dataset.value = String(b);
    tr.children[2].textContent = e.toPrecision(6);
  }
  for (const j of D.rows) [current.shrinkage[j], current.estimate[j]] = at(j);
  resort();
}
// p: one point of the grid, or the fit itself (exact, between the grid's points).
function update(p) {
  show("tau-value", p.tau);
  show("mu-value", p.mu);
  show("loglik", p.ll + D.constant);
  show("loglik-relative", p.ll - D.top_ll);
  show("mean-shrinkage", p.mean_shrinkage);
  move(p.tau, p.mu);
}
const slider = document.getElementById("tau");
const point = i => ({tau: D.grid.tau[i], ll: D.grid.ll[i], mu: D.grid.mu[i], mean_shrinkage: D.grid.mean_shrinkage[i]});
slider.addEventListener("input", () => update(point(Number(slider.value))));
function fitted() {
  slider.value = String(Math.round(D.fitted.tau / D.grid.tau[D.grid.tau.length - 1] * (D.grid.tau.length - 1)));
  update(D.fitted);
}
document.getElementById("fit").addEventListener("click", fitted);
fitted();
)JS";
  return page("shrink fit", f.svg, d, controls, readout, std::string(sort_script) + script);
}

namespace {

/// A count fit's picture, and what its page's slider steps over: the points along the prior's
/// spread (the last one the fit itself) with the drawn groups' posteriors at each.
struct count_picture {
  fit_picture picture;
  fit_drawing drawing;
  std::vector<double> x;  ///< per point: its place on the likelihood panel's axis
  std::vector<double> spread;
  spread_profile at;      ///< at every point of `x`, then at the fit
  std::vector<double> mean_shrinkage_at_fit;
};

count_picture make_count_picture(const count_fit_result& r, const count_data_view& data, const count_options& o,
                                 const std::vector<std::string>& keys)
{
  const std::size_t J = r.groups;
  const bool binomial = r.family == count_family::binomial, glmm = r.prior == count_prior::normal;
  const std::string spread_name = glmm ? "tau" : binomial ? "concentration" : "shape";
  count_picture c;
  fit_picture& p = c.picture;
  p.title = "shrink fit: " + std::to_string(J) + " groups (" + to_string(r.family) + ", " + to_string(r.family, r.prior) +
            " prior, --method " + to_string(r.method) + ")";
  const double spread_hat = glmm ? std::sqrt(r.tau2) : r.concentration;
  std::ostringstream sub;
  sub << "prior mean = " << num(r.mean) << (glmm ? " (the rate at b_j = 0), mu = " + num(r.mu) : std::string()) << ", "
      << spread_name << " = " << (std::isfinite(spread_hat) ? num(spread_hat) : std::string("infinity (no spread)"))
      << (r.method == count_method::bayes ? " (posterior medians)" : "") << "; complete pooling (the pooled rate) = "
      << num(r.complete_pooling) << "; log-likelihood " << num(r.log_likelihood);
  p.subtitle = sub.str();
  p.value_name = binomial ? "rate: successes / trials" : "rate: count / exposure";
  p.raw = &r.rate;
  p.estimate = &r.estimate;
  p.lower = &r.lower;
  p.upper = &r.upper;
  p.keys = keys;
  p.size = r.sizes;
  p.centre = r.mean;
  p.centre_name = "the prior mean";
  p.estimate_name = "posterior mean";
  p.level = r.level;

  // The points: 61 along the spread (log scale for a concentration), each with the mean maximised.
  constexpr int points = 61;
  if (glmm) {
    double hi = std::max(2.5 * spread_hat, 0.5);
    if (r.tau2_ci && std::isfinite(r.tau2_ci->upper)) hi = std::max(hi, 1.3 * std::sqrt(r.tau2_ci->upper));
    for (int i = 0; i < points; ++i) c.spread.push_back(hi * i / (points - 1)), c.x.push_back(c.spread.back());
  } else {
    double lo = std::isfinite(spread_hat) ? spread_hat / 20 : 0.1, hi = std::isfinite(spread_hat) ? spread_hat * 20 : 1e6;
    std::optional<interval> ci = r.concentration_ci;
    if (r.bayes) ci = interval{r.bayes->concentration.lower, r.bayes->concentration.upper};
    if (ci && ci->lower > 0) lo = std::min(lo, ci->lower / 3);
    if (ci && std::isfinite(ci->upper)) hi = std::max(hi, ci->upper * 3);
    const double a = std::log10(std::max(lo, hi * 1e-10)), b = std::log10(hi);
    for (int i = 0; i < points; ++i) c.x.push_back(a + (b - a) * i / (points - 1)), c.spread.push_back(std::pow(10.0, c.x.back()));
  }
  std::vector<spread_point> at;
  for (double s : c.spread) at.push_back({s});
  at.push_back({glmm ? spread_hat : (std::isfinite(spread_hat) ? spread_hat : std::numeric_limits<double>::infinity()), r.mean});
  // The groups the figure draws: its rows and lines (draw_fit picks them from the same columns).
  const std::vector<std::size_t> lines = ranked_sample(r.rate, max_lines), rows = ranked_sample(r.estimate, max_rows);
  std::vector<std::size_t> drawn = lines;
  drawn.insert(drawn.end(), rows.begin(), rows.end());
  std::sort(drawn.begin(), drawn.end());
  drawn.erase(std::unique(drawn.begin(), drawn.end()), drawn.end());
  c.at = profile_spread(data, o, at, drawn, rows);
  const std::size_t fit_point = c.spread.size();
  p.band_lower = c.at.prior_lower[fit_point];
  p.band_upper = c.at.prior_upper[fit_point];
  p.band_name = "the prior's central " + num(100 * r.level) + "% interval (where a new group's rate lies)";
  // The forest's scale holds every interval and band the slider reaches where the data are
  // plausible (the page draws the rest at the axis' ends).
  p.wide_lower = r.lower;
  p.wide_upper = r.upper;
  const double top_ll = *std::max_element(c.at.log_likelihood.begin(), c.at.log_likelihood.end());
  for (std::size_t k = 0; k <= fit_point; ++k) {
    if (!plausible(c.at.log_likelihood[k], top_ll)) continue;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::size_t j = rows[i];
      p.wide_lower[j] = std::min({p.wide_lower[j], c.at.lower[k * rows.size() + i], c.at.prior_lower[k]});
      p.wide_upper[j] = std::max({p.wide_upper[j], c.at.upper[k * rows.size() + i], c.at.prior_upper[k]});
    }
  }
  p.curve_x = c.x;
  p.curve_ll.assign(c.at.log_likelihood.begin(), c.at.log_likelihood.begin() + static_cast<std::ptrdiff_t>(fit_point));
  p.x_estimate = glmm ? spread_hat : std::log10(spread_hat);
  const auto scale = [&](double v) { return glmm ? std::sqrt(v) : std::log10(v); };
  if (glmm && r.tau2_ci) p.x_interval = std::pair(scale(r.tau2_ci->lower), scale(r.tau2_ci->upper));
  if (!glmm && r.concentration_ci) p.x_interval = std::pair(scale(r.concentration_ci->lower), scale(r.concentration_ci->upper));
  if (r.bayes) p.x_interval = std::pair(scale(r.bayes->concentration.lower), scale(r.bayes->concentration.upper));
  p.curve_title = "Profile log-likelihood of the " + (glmm ? "prior's tau (on the " + std::string(binomial ? "logit" : "log") + " scale)" : spread_name);
  const std::string estimate_words = r.method == count_method::bayes ? "the posterior median; shaded: the central posterior interval"
                                     : r.method == count_method::ml  ? "the ml estimate; shaded: its profile-likelihood interval"
                                                                     : "the " + to_string(r.method) + " value";
  p.curve_note = std::string("The prior mean maximised at each value, relative to the maximum on the grid. Solid line: ") +
                 estimate_words + " at level " + num(r.level) + "." +
                 (!glmm && !std::isfinite(spread_hat) ? " The estimate is infinite: drawn at the right end." : "");
  p.curve_axis = glmm ? "tau" : "log10 " + spread_name;
  if (r.bayes && !glmm) {
    // The fit's own marginal density of log(spread) at its nodes, as a density of log10(spread),
    // linearly interpolated at the panel's points (0 beyond the nodes: no mass there).
    const std::vector<double>& nodes = r.bayes->log_concentration_nodes;
    const std::vector<double>& dens = r.bayes->log_concentration_density;
    const double ln10 = std::log(10.0);
    p.curve_ll.clear();
    for (double x : p.curve_x) {
      const double v = x * ln10;
      const auto k = static_cast<std::size_t>(std::upper_bound(nodes.begin(), nodes.end(), v) - nodes.begin());
      const double d = k == 0 || k == nodes.size()
                         ? 0.0
                         : dens[k - 1] + (dens[k] - dens[k - 1]) * (v - nodes[k - 1]) / (nodes[k] - nodes[k - 1]);
      p.curve_ll.push_back(ln10 * d);
    }
    p.density = true;
    if (std::isfinite(r.bayes->log_concentration.mean)) p.x_mean = r.bayes->log_concentration.mean / ln10;
    p.curve_title = "Posterior of log10 " + spread_name + " (--method bayes; the prior mean integrated out)";
    p.curve_note = "The marginal posterior density of log10 " + spread_name + " from the fit's 2-D posterior over (mean, " +
                   spread_name + "), the mean integrated out. Solid line: the posterior median; dotted: the posterior mean "
                   "of log10 " + spread_name + "; shaded: the central " + num(100 * r.level) + "% posterior interval.";
  }
  c.drawing = draw_fit(p);
  return c;
}

}  // namespace

namespace {

/// A page whose slider (id spread) steps over precomputed points, the last one the fit itself:
/// each point (JSON) holds x (its place on the likelihood panel's axis), spread, ll, ms (the mean
/// shrinkage), est (the drawn groups' estimates, in the order of `drawn`), rlo, rhi, rb (the forest
/// rows' intervals and shrinkage), and optionally centre, lo and hi (the centre line and the band),
/// target (regression: the drawn groups' fitted values) and line (the regression line's ends).
/// The page computes nothing but positions: every number it shows is shrink's.
std::string precomputed_page(const fit_drawing& f, const std::vector<std::string>& keys, const nlohmann::json& points,
                             double top_ll, const std::string& spread, const std::string& method,
                             const std::string& centre_words, std::size_t groups, const std::string& ll_words,
                             const std::string& slider_words)
{
  nlohmann::json d;
  d["at"] = points;
  d["drawn"] = f.drawn;
  d["rows"] = f.rows;
  nlohmann::json names = nlohmann::json::object();
  for (std::size_t j : f.rows) names[std::to_string(j)] = keys[j].substr(0, 24);
  d["keys"] = names;
  d["top_ll"] = top_ll;
  d["frame"] = {{"left", left}, {"width", plot_w}};
  const std::string controls =
    "<label for=\"spread\">" + spread + " = <span id=\"spread-value\"></span></label>\n<input type=\"range\" id=\"spread\" "
    "min=\"0\" max=\"" + std::to_string(points.size() - 2) + "\" step=\"1\" value=\"0\">\n<button id=\"fit\" type=\"button\">fit from data (" +
    method + ")</button>\n" + (centre_words.empty() ? "" : "<span>" + centre_words + " = <span id=\"mean-value\"></span></span>\n") +
    sort_control("estimate") + "<span>" + slider_words + "; the estimates at each of the slider's " +
    std::to_string(points.size() - 1) + " steps were computed by shrink for the groups drawn</span>\n";
  const std::string readout =
    "<table id=\"readout\"><tbody>\n<tr><td>log-likelihood at the slider's " + spread + " (" + ll_words +
    ")</td><td id=\"loglik\"></td></tr>\n"
    "<tr><td>the same, relative to its maximum over the slider's range</td><td id=\"loglik-relative\"></td></tr>\n"
    "<tr><td>mean shrinkage over all " + std::to_string(groups) +
    " groups</td><td id=\"mean-shrinkage\"></td></tr>\n</tbody></table>\n<details><summary>each group's shrinkage "
    "(the forest's rows)</summary><table id=\"shrinkage\"><thead><tr><th>group</th><th>shrinkage</th><th>estimate</th></tr>"
    "</thead><tbody></tbody></table></details>";
  const std::string script = R"JS(const F = D.frame;
const scaleOf = id => { const g = document.getElementById(id); return [Number(g.dataset.lo), Number(g.dataset.hi)]; };
const X = (id, v) => { const [lo, hi] = scaleOf(id); return F.left + (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo) * F.width; };
function Y(v) {  // the regression panel's vertical scale
  const g = document.getElementById("regression"), d = g.dataset;
  return Number(d.top) + (Number(d.yhi) - v) / (Number(d.yhi) - Number(d.ylo)) * (Number(d.bottom) - Number(d.top));
}
function show(id, x) {
  const el = document.getElementById(id);
  if (!el) return;
  el.dataset.value = x === null ? "Infinity" : String(x);
  el.textContent = x === null ? "infinity" : x.toPrecision(6);
}
const place = {}, rowOf = {};
D.drawn.forEach((j, i) => { place[j] = i; });
D.rows.forEach((j, r) => { rowOf[j] = r; });
const body = document.querySelector("#shrinkage tbody");
for (const j of D.rows) {
  const tr = document.createElement("tr");
  tr.innerHTML = "<td></td><td></td><td></td>";
  tr.children[0].textContent = D.keys[j];
  tr.dataset.j = j;
  body.appendChild(tr);
}
// One point: every drawn mark, the centre, the band, the readouts, the table.
function apply(a) {
  show("spread-value", a.spread);
  if ("centre" in a) show("mean-value", a.centre);
  show("loglik", a.ll);
  show("loglik-relative", a.ll - D.top_ll);
  show("mean-shrinkage", a.ms);
  const est = j => a.est[place[j]];
  for (const id of ["shrinkage-plot", "forest"]) {
    const g = document.getElementById(id);
    if (!g) continue;
    for (const c of g.querySelectorAll(".pp")) c.setAttribute("cx", X(id, est(c.dataset.j)));
    for (const l of g.querySelectorAll(".pull")) l.setAttribute("x2", X(id, est(l.dataset.j)));
    for (const c of g.querySelectorAll(".fitted")) c.setAttribute("cx", X(id, a.target[place[c.dataset.j]]));
    for (const l of g.querySelectorAll(".interval")) {
      l.setAttribute("x1", X(id, a.rlo[rowOf[l.dataset.j]]));
      l.setAttribute("x2", X(id, a.rhi[rowOf[l.dataset.j]]));
    }
    for (const l of g.querySelectorAll(".center")) { l.setAttribute("x1", X(id, a.centre)); l.setAttribute("x2", X(id, a.centre)); }
  }
  const reg = document.getElementById("regression");
  if (reg) {
    for (const c of reg.querySelectorAll(".pp")) c.setAttribute("cy", Y(est(c.dataset.j)));
    for (const l of reg.querySelectorAll(".pull")) l.setAttribute("y2", Y(est(l.dataset.j)));
    for (const l of reg.querySelectorAll(".center")) { l.setAttribute("y1", Y(a.line[0])); l.setAttribute("y2", Y(a.line[1])); }
  }
  const band = document.querySelector("#forest .prediction");
  if (band) {
    band.setAttribute("x", X("forest", a.lo));
    band.setAttribute("width", X("forest", a.hi) - X("forest", a.lo));
  }
  const mark = document.querySelector("#tau-likelihood .at-tau");
  mark.setAttribute("x1", X("tau-likelihood", a.x));
  mark.setAttribute("x2", X("tau-likelihood", a.x));
  mark.setAttribute("visibility", "visible");
  for (const tr of body.children) {
    const r = rowOf[tr.dataset.j], e = est(tr.dataset.j);
    tr.children[1].textContent = a.rb[r].toPrecision(4);
    tr.children[1].dataset.value = String(a.rb[r]);
    tr.children[2].textContent = e.toPrecision(6);
    tr.children[2].dataset.value = String(e);
    current.estimate[tr.dataset.j] = e;
    current.shrinkage[tr.dataset.j] = a.rb[r];
  }
  resort();
}
const slider = document.getElementById("spread");
slider.addEventListener("input", () => apply(D.at[Number(slider.value)]));
function fitted() {
  const fit = D.at[D.at.length - 1], grid = D.at.slice(0, -1);
  let k = 0;
  grid.forEach((a, i) => { if (Math.abs(a.x - fit.x) < Math.abs(grid[k].x - fit.x)) k = i; });
  slider.value = String(k);
  apply(fit);
}
document.getElementById("fit").addEventListener("click", fitted);
fitted();
)JS";
  return page("shrink fit", f.svg, d, controls, readout, std::string(sort_script) + script);
}

/// The per-point arrays of a precomputed page for the groups drawn: est over `drawn`, rlo, rhi, rb
/// over the forest's rows (`rows`, each found in `drawn`). Each function takes the group's place in
/// `drawn`; the interval's also its row.
using per_drawn = std::function<double(std::size_t)>;
using per_row = std::function<double(std::size_t, std::size_t)>;
void add_groups(nlohmann::json& a, const fit_drawing& f, const per_drawn& est, const per_row& lower, const per_row& upper,
                const per_drawn& shrinkage)
{
  nlohmann::json e = nlohmann::json::array(), lo = nlohmann::json::array(), hi = nlohmann::json::array(),
                 b = nlohmann::json::array();
  for (std::size_t i = 0; i < f.drawn.size(); ++i) e.push_back(est(i));
  for (std::size_t row = 0; row < f.rows.size(); ++row) {
    const auto i = static_cast<std::size_t>(std::lower_bound(f.drawn.begin(), f.drawn.end(), f.rows[row]) - f.drawn.begin());
    lo.push_back(lower(i, row));
    hi.push_back(upper(i, row));
    b.push_back(shrinkage(i));
  }
  a["est"] = e;
  a["rlo"] = lo;
  a["rhi"] = hi;
  a["rb"] = b;
}

}  // namespace

namespace {

/// The page of a count fit's picture (count_fit_figures).
std::string count_fit_page(const count_fit_result& r, const count_picture& c, const std::vector<std::string>& keys)
{
  const fit_drawing& f = c.drawing;
  const std::size_t P = c.x.size(), n = f.drawn.size();
  const bool glmm = r.prior == count_prior::normal;
  double mean_shrinkage_fit = 0;
  for (double b : r.shrinkage) mean_shrinkage_fit += b / static_cast<double>(r.groups);
  nlohmann::json points = nlohmann::json::array();
  for (std::size_t k = 0; k <= P; ++k) {
    nlohmann::json a;
    if (k == P) {  // the fit itself: its own per-group columns (the CSV's) and log-likelihood
      // (an infinite estimate is drawn at the axis' right end; JSON has no infinity: null)
      a["x"] = std::min(std::max(c.picture.x_estimate, c.x.front()), c.x.back());
      a["spread"] = glmm ? std::sqrt(r.tau2) : r.concentration;
      a["ll"] = r.log_likelihood;
      a["centre"] = r.mean;
      a["ms"] = mean_shrinkage_fit;
      const auto column = [&](const std::vector<double>& v) { return [&](std::size_t i) { return v[f.drawn[i]]; }; };
      const auto interval = [&](const std::vector<double>& v) { return [&](std::size_t i, std::size_t) { return v[f.drawn[i]]; }; };
      add_groups(a, f, column(r.estimate), interval(r.lower), interval(r.upper), column(r.shrinkage));
    } else {
      a["x"] = c.x[k];
      a["spread"] = c.spread[k];
      a["ll"] = c.at.log_likelihood[k];
      a["centre"] = c.at.mean[k];
      a["ms"] = c.at.mean_shrinkage[k];
      const auto column = [&](const std::vector<double>& v) { return [&, k](std::size_t i) { return v[k * n + i]; }; };
      const std::size_t rows = f.rows.size();
      const auto interval = [&](const std::vector<double>& v) {
        return [&, k](std::size_t, std::size_t row) { return v[k * rows + row]; };
      };
      add_groups(a, f, column(c.at.estimate), interval(c.at.lower), interval(c.at.upper), column(c.at.shrinkage));
    }
    a["lo"] = c.at.prior_lower[k];
    a["hi"] = c.at.prior_upper[k];
    points.push_back(a);
  }
  const bool binomial = r.family == count_family::binomial;
  return precomputed_page(f, keys, points, *std::max_element(c.at.log_likelihood.begin(), c.at.log_likelihood.begin() + static_cast<std::ptrdiff_t>(P)),
                          glmm ? "tau" : binomial ? "concentration" : "shape", to_string(r.method), "prior mean", r.groups,
                          "the prior mean maximised; at the fit: the fit's own, constants included",
                          glmm ? "tau on a linear scale from 0" : "log scale");
}

}  // namespace

count_figures count_fit_figures(const count_fit_result& r, const count_data_view& data, const count_options& o,
                                const std::vector<std::string>& keys, bool svg, bool html)
{
  count_figures out;
  if (!svg && !html) return out;
  const count_picture c = make_count_picture(r, data, o, keys);
  if (svg) out.svg = c.drawing.svg;
  if (html) out.html = count_fit_page(r, c, keys);
  return out;
}

namespace {

/// A meta-regression's picture, and the fits at each point of the likelihood panel's tau (the page's
/// slider): at each, every tau-dependent number by the model's fit with that tau fixed. Of those fits
/// only the groups drawn are kept (`drawn`, in order: the per-group columns of at[k] are theirs), and
/// the mean shrinkage over all groups: memory O(points x drawn), not O(points x groups).
struct regression_picture {
  fit_picture picture;
  fit_drawing drawing;
  std::vector<double> tau;
  std::vector<meta_regression_result> at;
  std::vector<double> mean_shrinkage;  ///< per point, over all groups
  std::vector<std::size_t> drawn;      ///< the groups the figure draws, ascending (as drawing.drawn)
  std::size_t place(std::size_t j) const
  {
    return static_cast<std::size_t>(std::lower_bound(drawn.begin(), drawn.end(), j) - drawn.begin());
  }
  std::vector<double> x;            ///< each group's place on the first panel's horizontal axis
  double x_lo = 0, x_hi = 0;        ///< the regression line's ends there
  bool moderator = false;           ///< the axis is the one covariate (else the linear predictor)
  std::vector<std::pair<double, double>> line;  ///< per point: the line's values at x_lo, x_hi (last: the fit)
  std::vector<double> ones;
};

/// The line's ends at one fit: beta_0 + beta_1 x (one covariate), or the identity (the linear predictor).
std::pair<double, double> line_at(const meta_regression_result& f, const regression_picture& c)
{
  if (!c.moderator) return {c.x_lo, c.x_hi};
  const double b0 = f.coefficients[0].estimate, b1 = f.coefficients[1].estimate;
  return {b0 + b1 * c.x_lo, b0 + b1 * c.x_hi};
}

/// What differs between the two models the regression figures draw (the meta-regression of summary
/// mode, the random intercept of raw rows): the fit at a fixed tau (each point of the likelihood panel
/// and of the page's slider), whether the first panel's axis is the one covariate, and the words.
struct regression_model {
  std::function<meta_regression_result(double)> at_tau;
  bool moderator = false;
  std::string title;         ///< what was fitted
  std::string points;        ///< what a blue x is
  std::string axis;          ///< the first panel's horizontal axis
  std::string curve_note;    ///< how the likelihood panel's curve was computed
  std::string slider_words;  ///< how the page's slider refits
};

void make_regression_picture(regression_picture& c, const meta_regression_result& r, const std::vector<double>& y,
                             const std::vector<double>& se, const design_matrix& design, const regression_model& model,
                             const std::vector<std::string>& keys)
{
  const std::size_t J = y.size();
  std::vector<double> v(J);
  for (std::size_t j = 0; j < J; ++j) v[j] = se[j] * se[j];
  const bool restricted = r.method == tau_method::reml;
  const double tau = std::sqrt(r.tau2);
  double spread = 0;
  for (std::size_t j = 0; j < J; ++j) spread = std::max(spread, std::abs(y[j] - r.fitted[j]));
  const double tau_max = std::max({2.5 * tau, r.tau2_upper ? 1.3 * std::sqrt(*r.tau2_upper) : 0.0, spread, 1e-3});
  constexpr int points = 61;
  // The groups draw_fit will draw: the shrinkage plot's lines and the forest's rows, picked from the
  // same columns.
  const std::vector<std::size_t> lines = ranked_sample(y, max_lines), rows = ranked_sample(r.estimate, max_rows);
  c.drawn = lines;
  c.drawn.insert(c.drawn.end(), rows.begin(), rows.end());
  std::sort(c.drawn.begin(), c.drawn.end());
  c.drawn.erase(std::unique(c.drawn.begin(), c.drawn.end()), c.drawn.end());
  for (int i = 0; i < points; ++i) {
    c.tau.push_back(tau_max * i / (points - 1));
    meta_regression_result f = model.at_tau(c.tau.back());
    double ms = 0;
    for (double b : f.shrinkage) ms += b / static_cast<double>(J);
    c.mean_shrinkage.push_back(ms);
    for (std::vector<double>* column : {&f.fitted, &f.shrinkage, &f.estimate, &f.sd, &f.lower, &f.upper}) {
      std::vector<double> kept;
      for (std::size_t j : c.drawn) kept.push_back((*column)[j]);
      *column = std::move(kept);
    }
    f.mse.clear();
    c.at.push_back(std::move(f));
  }
  c.moderator = model.moderator;
  for (std::size_t j = 0; j < J; ++j) c.x.push_back(c.moderator ? design.x[j * 2 + 1] : r.fitted[j]);
  c.x_lo = *std::min_element(c.x.begin(), c.x.end());
  c.x_hi = *std::max_element(c.x.begin(), c.x.end());
  for (const meta_regression_result& f : c.at) c.line.push_back(line_at(f, c));
  c.line.push_back(line_at(r, c));
  c.ones.assign(J, 1.0);

  fit_picture& p = c.picture;
  p.title = "shrink fit: " + std::to_string(J) + " groups, " + model.title + " on " + std::to_string(design.cols) + " coefficients";
  std::ostringstream sub;
  for (const coefficient& k : r.coefficients) sub << k.name << " = " << num(k.estimate) << " (se " << num(k.se) << "), ";
  sub << "tau = " << num(tau) << " (" << to_string(r.method) << "); each group shrinks towards its own fitted value x_j' beta";
  p.subtitle = sub.str();
  p.value_name = "value (the scale of the estimates)";
  p.raw = &y;
  p.estimate = &r.estimate;
  p.lower = &r.lower;
  p.upper = &r.upper;
  p.target = &r.fitted;
  p.keys = keys;
  p.size = c.ones;
  p.estimate_name = "the BLUP (partial pooling)";
  p.level = r.level;
  p.wide_lower = r.lower;
  p.wide_upper = r.upper;
  double top_ll = -std::numeric_limits<double>::infinity();
  for (const meta_regression_result& f : c.at) top_ll = std::max(top_ll, restricted ? f.log_likelihood_reml : f.log_likelihood_ml);
  for (const meta_regression_result& f : c.at)
    for (std::size_t i = 0; i < c.drawn.size() && plausible(restricted ? f.log_likelihood_reml : f.log_likelihood_ml, top_ll); ++i) {
      const std::size_t j = c.drawn[i];
      p.wide_lower[j] = std::min({p.wide_lower[j], f.lower[i], f.fitted[i]});
      p.wide_upper[j] = std::max({p.wide_upper[j], f.upper[i], f.fitted[i]});
    }
  for (std::size_t i = 0; i < c.at.size(); ++i) {
    p.curve_x.push_back(c.tau[i]);
    p.curve_ll.push_back(restricted ? c.at[i].log_likelihood_reml : c.at[i].log_likelihood_ml);
  }
  p.x_estimate = tau;
  if (r.tau2_lower && r.tau2_upper) p.x_interval = std::pair(std::sqrt(*r.tau2_lower), std::sqrt(*r.tau2_upper));
  p.curve_title = std::string(restricted ? "Restricted log-likelihood" : "Log-likelihood") + " of tau";
  p.curve_note = model.curve_note;
  p.curve_axis = "tau";
  if (r.tau_post) {
    double mean_v = 0;
    for (double vj : v) mean_v += vj / static_cast<double>(J);
    draw_posterior(p, *r.tau_post, [&model](double t) { return model.at_tau(t).log_likelihood_reml; }, std::sqrt(mean_v),
                   static_cast<double>(J - design.cols), r.level);
  }
  const std::string x_name = model.axis;
  p.first_panel = [&c, &r, &y, &v, &model, J, x_name](std::ostream& b, double top0, const std::vector<std::size_t>& lines) {
    // The vertical scale holds every estimate, fitted value and line end the slider reaches.
    double lo = y[lines[0]], hi = lo;
    const auto take = [&](double e) { lo = std::min(lo, e), hi = std::max(hi, e); };
    for (std::size_t j : lines) take(y[j]);
    for (const meta_regression_result& f : c.at)
      for (std::size_t j : lines) take(f.estimate[c.place(j)]);
    for (const auto& l : c.line) take(l.first), take(l.second);
    const double pad = 0.05 * std::max(hi - lo, 1e-12);
    lo -= pad;
    hi += pad;
    const frame fx = frame_over({&c.x}, lines, {c.x_lo});
    const double top = panel_title(b, "Shrinkage towards the regression line",
                                   "metafor's regplot: blue x, " + model.points + " (larger: more weight 1 / (v_j + "
                                               "tau^2)); green circle, its BLUP, joined by its pull; dashed line, the fitted "
                                               "regression. " + (lines.size() < J ? std::to_string(lines.size()) + " of the " +
                                                                                      std::to_string(J) + " groups (a sample), "
                                                                                      "evenly spaced in the rank of y_j."
                                                                                    : std::string("Every group drawn.")),
                                   top0);
    const double bottom = top + 320;
    const auto Y = [&](double e) { return top + (hi - e) / (hi - lo) * (bottom - top); };
    b << "<g id=\"regression\" data-lo=\"" << fx.lo << "\" data-hi=\"" << fx.hi << "\" data-ylo=\"" << lo << "\" data-yhi=\"" << hi
      << "\" data-top=\"" << num(top) << "\" data-bottom=\"" << num(bottom) << "\">\n";
    axis(b, fx, bottom, false, top, bottom);
    for (double t : ticks(lo, hi))
      b << "<text class=\"ytick\" x=\"" << num(left - 8) << "\" y=\"" << num(Y(t) + 4) << "\" text-anchor=\"end\">" << num(t)
        << "</text><line x1=\"" << num(left) << "\" x2=\"" << num(left + plot_w) << "\" y1=\"" << num(Y(t)) << "\" y2=\""
        << num(Y(t)) << "\" stroke=\"#e4e4e4\"/>\n";
    b << "<line x1=\"" << num(left) << "\" x2=\"" << num(left) << "\" y1=\"" << num(top) << "\" y2=\"" << num(bottom)
      << "\" stroke=\"#333\"/>\n";
    double w_max = 0;
    for (std::size_t j : lines) w_max = std::max(w_max, 1 / (v[j] + r.tau2));
    for (std::size_t j : lines) {
      const double x = fx.x(c.x[j]), m = 2.5 + 5 * std::sqrt(1 / (v[j] + r.tau2) / w_max);
      b << "<line " << group_attrs("pull", j) << " x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\"" << num(Y(y[j]))
        << "\" y2=\"" << num(Y(r.estimate[j])) << "\" stroke=\"" << green << "\" stroke-opacity=\"0.6\" stroke-width=\"1.5\"/>"
        << cross(x, Y(y[j]), m, group_attrs("np", j)) << circle(x, Y(r.estimate[j]), 3.5, group_attrs("pp", j)) << "\n";
    }
    const auto& l = c.line.back();
    b << "<line class=\"center\" x1=\"" << num(fx.x(c.x_lo)) << "\" x2=\"" << num(fx.x(c.x_hi)) << "\" y1=\"" << num(Y(l.first))
      << "\" y2=\"" << num(Y(l.second)) << "\" stroke=\"black\" stroke-width=\"1.3\" stroke-dasharray=\"6 4\"/>\n</g>\n";
    b << "<text x=\"" << num(left + plot_w / 2) << "\" y=\"" << num(bottom + 40) << "\" text-anchor=\"middle\">" << x_name
      << "</text>\n";
    return bottom + 70;
  };
  c.drawing = draw_fit(p);
  if (c.drawing.drawn != c.drawn) throw error("internal: the regression figure drew other groups than it kept");
}

}  // namespace

namespace {

/// The meta-regression of summary mode at a fixed tau: fit_meta_regression with that tau.
regression_model meta_regression_model(const meta_regression_result& r, const std::vector<double>& y, const std::vector<double>& v,
                                       const design_matrix& design, const std::vector<double>& offset)
{
  regression_model m;
  m.at_tau = [&y, &v, &design, &offset, level = r.level](double tau) {
    fit_options fixed;
    fixed.method = tau_method::fixed;
    fixed.level = level;
    fixed.tau = tau;
    return fit_meta_regression(y, v, design, offset, fixed);
  };
  // metafor's regplot: against the one covariate when there is one (with an intercept, no offset).
  m.moderator = design.intercept && design.cols == 2 && offset.empty();
  m.title = "meta-regression";
  m.axis = m.moderator ? design.names[1] : "the fitted value x_j' beta (the linear predictor at the estimate)";
  m.points = "each group's estimate y_j";
  m.curve_note = "Given the groups' estimates and standard errors, the coefficients profiled out (generalised least squares at "
                 "each tau; metafor's constants), relative to the maximum on the grid. Solid line: the fit's tau; shaded: its " +
                 num(100 * r.level) + "% interval (Q-profile).";
  m.slider_words = "tau on a linear scale from 0";
  return m;
}

/// The page of either regression model: the fit at each of the slider's points, then the fit itself.
std::string regression_page(const regression_picture& c, const meta_regression_result& r, const std::vector<std::string>& keys,
                            const std::string& ll_words, const std::string& slider_words)
{
  const fit_drawing& f = c.drawing;
  const bool restricted = r.method == tau_method::reml;
  const auto ll_of = [restricted](const meta_regression_result& at) { return restricted ? at.log_likelihood_reml : at.log_likelihood_ml; };
  nlohmann::json points = nlohmann::json::array();
  double top_ll = -std::numeric_limits<double>::infinity();
  double fit_shrinkage = 0;
  for (double b : r.shrinkage) fit_shrinkage += b / static_cast<double>(r.shrinkage.size());
  for (std::size_t k = 0; k <= c.at.size(); ++k) {
    const bool fit = k == c.at.size();  // the last point: the fit itself, every group's columns
    const meta_regression_result& at = fit ? r : c.at[k];
    if (!fit) top_ll = std::max(top_ll, ll_of(at));
    nlohmann::json a;
    a["x"] = a["spread"] = fit ? std::sqrt(r.tau2) : c.tau[k];
    a["ll"] = ll_of(at);
    a["ms"] = fit ? fit_shrinkage : c.mean_shrinkage[k];
    const auto group = [&, fit](std::size_t i) { return fit ? f.drawn[i] : i; };  // the column's index of drawn group i
    const auto column = [&](const std::vector<double>& v) { return [&](std::size_t i) { return v[group(i)]; }; };
    const auto interval = [&](const std::vector<double>& v) { return [&](std::size_t i, std::size_t) { return v[group(i)]; }; };
    add_groups(a, f, column(at.estimate), interval(at.lower), interval(at.upper), column(at.shrinkage));
    nlohmann::json target = nlohmann::json::array();
    for (std::size_t i = 0; i < f.drawn.size(); ++i) target.push_back(at.fitted[group(i)]);
    a["target"] = target;
    a["line"] = {c.line[k].first, c.line[k].second};
    points.push_back(a);
  }
  return precomputed_page(f, keys, points, top_ll, "tau", to_string(r.method), "", r.estimate.size(), ll_words, slider_words);
}

/// Raw rows' random-intercept fit in the meta-regression's terms, for the same figures: group j's
/// mean ybar_j with sampling variance v_j = sigma2 / n_j shrinks towards xbar_j' beta with
/// B_j = v_j / (v_j + tau2) = 1 / (1 + n_j tau2 / sigma2), exactly lme4's conditional mode; the
/// design's rows are the groups' average covariates.
struct raw_regression {
  meta_regression_result fit;
  std::vector<double> se;
  design_matrix design;
  regression_model model;
};

meta_regression_result as_regression(const mixed_model_result& m)
{
  meta_regression_result r;
  r.coefficients = m.coefficients;
  r.tau2 = m.tau2;
  r.log_likelihood_ml = r.log_likelihood_reml = m.log_likelihood;
  r.method = m.reml ? tau_method::reml : tau_method::ml;
  r.level = m.level;
  r.fitted = m.fitted;
  r.estimate = m.estimate;
  r.sd = m.effect_sd;
  r.lower = m.lower;
  r.upper = m.upper;
  for (double n : m.n) r.shrinkage.push_back(m.sigma2 / (m.sigma2 + n * m.tau2));
  return r;
}

raw_regression make_raw_regression(const mixed_model_result& m, const group_cross_products& data, bool offset)
{
  raw_regression out;
  out.fit = as_regression(m);
  const auto [lower, upper] = mixed_model_tau_interval(data, m);
  out.fit.tau2_lower = lower * lower;
  out.fit.tau2_upper = upper * upper;
  for (double n : m.n) out.se.push_back(std::sqrt(m.sigma2 / n));
  design_matrix& d = out.design;
  d.rows = m.groups;
  d.cols = data.width;
  for (const coefficient& c : m.coefficients) d.names.push_back(c.name);
  for (std::size_t j = 0; j < m.groups; ++j) {
    d.x.push_back(1);
    for (std::size_t k = 0; k + 1 < data.width; ++k) d.x.push_back(data.mean[j * data.width + k]);
  }
  regression_model& model = out.model;
  model.at_tau = [&data, reml = m.reml, level = m.level](double tau) {
    return as_regression(fit_mixed_model_at_tau(data, reml, tau, level));
  };
  model.moderator = data.width == 2 && !offset;
  model.title = "random intercept (lme4's lmer, " + std::to_string(std::llround(m.observations)) + " rows)";
  model.axis = model.moderator ? m.coefficients[1].name + ", the group's average"
                               : "the fitted value xbar_j' beta (the regression at the group's average covariates)";
  model.points = "each group's mean of y, ybar_j (v_j = sigma^2 / n_j)";
  model.curve_note = std::string(m.reml ? "The restricted (REML)" : "The") +
                     " profile log-likelihood of the rows: at each tau, sigma^2 and the coefficients maximise it (lme4's "
                     "constants), relative to the maximum on the grid. Solid line: the fit's tau; shaded: its " +
                     num(100 * m.level) + "% profile-likelihood interval.";
  model.slider_words = "tau on a linear scale from 0; at each, sigma^2 and the coefficients refitted to the rows (the profile)";
  return out;
}

}  // namespace

std::string regression_fit_svg(const meta_regression_result& r, const std::vector<double>& y, const std::vector<double>& se,
                               const design_matrix& design, const std::vector<double>& offset,
                               const std::vector<std::string>& keys)
{
  std::vector<double> v;
  for (double s : se) v.push_back(s * s);
  regression_picture c;
  make_regression_picture(c, r, y, se, design, meta_regression_model(r, y, v, design, offset), keys);
  return c.drawing.svg;
}

std::string regression_fit_html(const meta_regression_result& r, const std::vector<double>& y, const std::vector<double>& se,
                                const design_matrix& design, const std::vector<double>& offset,
                                const std::vector<std::string>& keys)
{
  std::vector<double> v;
  for (double s : se) v.push_back(s * s);
  const regression_model model = meta_regression_model(r, y, v, design, offset);
  regression_picture c;
  make_regression_picture(c, r, y, se, design, model, keys);
  return regression_page(c, r, keys,
                         std::string(r.method == tau_method::reml ? "restricted, " : "") +
                           "the coefficients profiled out, constants included",
                         model.slider_words);
}

std::string mixed_model_fit_svg(const mixed_model_result& r, const group_cross_products& data, bool offset,
                                const std::vector<std::string>& keys)
{
  const raw_regression raw = make_raw_regression(r, data, offset);
  regression_picture c;
  make_regression_picture(c, raw.fit, r.mean, raw.se, raw.design, raw.model, keys);
  return c.drawing.svg;
}

std::string mixed_model_fit_html(const mixed_model_result& r, const group_cross_products& data, bool offset,
                                 const std::vector<std::string>& keys)
{
  const raw_regression raw = make_raw_regression(r, data, offset);
  regression_picture c;
  make_regression_picture(c, raw.fit, r.mean, raw.se, raw.design, raw.model, keys);
  return regression_page(c, raw.fit, keys,
                         std::string(r.reml ? "restricted, " : "") +
                           "sigma^2 and the coefficients profiled out, constants included: lme4's logLik at the fit",
                         raw.model.slider_words + ". The page's estimates at each tau are the conditional modes given that refit");
}

}  // namespace shrink::io
