#include "control/replanner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/network_view.h"
#include "core/planner/planner.h"
#include "core/sim/simulator.h"

namespace geostorm::control {

LinkMatrix::LinkMatrix(core::Topology topology) : topology_(std::move(topology)), entries_(topology_.links.size()) {
  for (size_t i = 0; i < entries_.size(); ++i) entries_[i].mbps = topology_.links[i].mbps;
}

int LinkMatrix::Update(const std::vector<LinkSample>& samples, Clock::time_point now) {
  int ignored = 0;
  for (const LinkSample& s : samples) {
    const int from = topology_.IndexOf(s.src);
    const int to = topology_.IndexOf(s.dst);
    auto it = std::find_if(topology_.links.begin(), topology_.links.end(),
                           [&](const core::DirectedLink& l) { return l.from == from && l.to == to; });
    if (from < 0 || to < 0 || it == topology_.links.end() || s.bytes_per_second < 0) {
      ++ignored;
      continue;
    }
    Entry& e = entries_[static_cast<size_t>(it - topology_.links.begin())];
    const auto measured_at =
        now - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s.age_seconds)));
    if (e.measured && measured_at <= e.measured_at) continue;  // nothing newer
    const double mbps = s.bytes_per_second / core::kBytesPerMbit;
    if (e.measured && std::abs(mbps - e.mbps) > kChange * e.mbps) last_change_ = std::max(last_change_, measured_at);
    e.mbps = mbps;
    e.measured = true;
    e.measured_at = measured_at;
  }
  return ignored;
}

std::vector<core::DirectedLink> LinkMatrix::Links() const {
  std::vector<core::DirectedLink> links = topology_.links;
  for (size_t i = 0; i < links.size(); ++i) {
    links[i].mbps = entries_[i].measured ? entries_[i].mbps / core::kTcpPayloadShare : entries_[i].mbps;
  }
  return links;
}

std::vector<std::pair<std::string, std::string>> LinkMatrix::Stale(Clock::time_point now,
                                                                   double stale_after_seconds) const {
  std::vector<std::pair<std::string, std::string>> stale;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (!e.measured || std::chrono::duration<double>(now - e.measured_at).count() > stale_after_seconds) {
      stale.emplace_back(topology_.data_centers[topology_.links[i].from],
                         topology_.data_centers[topology_.links[i].to]);
    }
  }
  return stale;
}

std::vector<LinkSample> LinkMatrix::Measured(Clock::time_point now) const {
  std::vector<LinkSample> out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i].measured) continue;
    const core::DirectedLink& l = topology_.links[i];
    out.push_back({topology_.data_centers[l.from], topology_.data_centers[l.to], entries_[i].mbps * core::kBytesPerMbit,
                   std::chrono::duration<double>(now - entries_[i].measured_at).count()});
  }
  return out;
}

double LinkMatrix::MaxAge(Clock::time_point now) const {
  double age = 0;
  for (const Entry& e : entries_) {
    if (e.measured) age = std::max(age, std::chrono::duration<double>(now - e.measured_at).count());
  }
  return age;
}

absl::StatusOr<Decision> Replan(const LinkMatrix& matrix, const std::vector<core::DirectedLink>& planned,
                                const core::Policy& current, const ReplanOptions& options) {
  std::unique_ptr<core::Planner> planner = core::MakePlanner(options.strategy);
  if (!planner) return absl::InvalidArgumentError(absl::StrCat("unknown strategy '", options.strategy, "'"));
  Decision d;
  d.links = matrix.Links();
  if (planned.size() != d.links.size()) return absl::InvalidArgumentError("planned rates do not match the topology");
  for (size_t i = 0; i < d.links.size(); ++i) {
    const double was = planned[i].mbps;
    if (was > 0 && d.links[i].mbps > 0 && std::abs(d.links[i].mbps - was) <= options.rate_tolerance * was) {
      d.links[i].mbps = was;
    }
  }
  absl::StatusOr<core::NetworkView> view =
      core::BuildView(matrix.topology(), d.links, planner->overlay(), options.model_bytes, options.chunk_bytes);
  if (!view.ok()) return view.status();
  absl::StatusOr<core::SimResult> now = core::Simulate(*view, current);
  d.current_seconds = now.ok() ? now->iteration_seconds : std::numeric_limits<double>::infinity();
  absl::StatusOr<core::Policy> candidate = planner->Plan(*view, options.plan);
  if (!candidate.ok()) return candidate.status();
  d.candidate = *std::move(candidate);
  d.candidate_seconds = d.candidate.predicted_seconds;
  if (!now.ok()) {
    d.publish = true;
    d.reason =
        absl::StrCat("policy v", current.version, " cannot run on the measured links (", now.status().message(), ")");
  } else if (d.candidate_seconds <= d.current_seconds * (1 - options.min_improvement)) {
    d.publish = true;
    d.reason = absl::StrFormat("predicted %.3f s instead of %.3f s (%.0f%% faster)", d.candidate_seconds,
                               d.current_seconds, 100 * (1 - d.candidate_seconds / d.current_seconds));
  } else {
    d.reason = absl::StrFormat("keeping policy v%d: a new plan predicts %.3f s against %.3f s now", current.version,
                               d.candidate_seconds, d.current_seconds);
  }
  return d;
}

}  // namespace geostorm::control
