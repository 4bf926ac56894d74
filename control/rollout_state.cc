#include "control/rollout_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/policy/policy_codec.h"

namespace geostorm::control {
namespace {

using Json = nlohmann::json;

Json ActivationJson(const core::Activation& a) {
  return Json{{"activateAt", a.activate_at}, {"policy", Json::parse(core::ToJson(a.policy, -1))}};
}

absl::StatusOr<core::Activation> ActivationFrom(const Json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("activateAt") || !j["activateAt"].is_number_unsigned() || !j.contains("policy")) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected {activateAt, policy}"));
  }
  absl::StatusOr<core::Policy> p = core::FromJson(j["policy"].dump());
  if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".policy: ", p.status().message()));
  return core::Activation{*std::move(p), j["activateAt"].get<uint64_t>()};
}

}  // namespace

void RolloutState::AddCommitted(core::Activation a) {
  committed.push_back(std::move(a));
  if (committed.size() > kKeep) committed.erase(committed.begin());
}

std::string ToJson(const RolloutState& state) {
  Json j{{"nextVersion", state.next_version}, {"committed", Json::array()}};
  for (const core::Activation& a : state.committed) j["committed"].push_back(ActivationJson(a));
  if (state.pending) j["pending"] = ActivationJson(*state.pending);
  return j.dump(2);
}

absl::StatusOr<RolloutState> RolloutStateFromJson(const std::string& text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("rollout state: not a JSON object");
  RolloutState state;
  if (!j.contains("nextVersion") || !j["nextVersion"].is_number_unsigned()) {
    return absl::InvalidArgumentError("rollout state: nextVersion: expected a non-negative integer");
  }
  state.next_version = j["nextVersion"].get<uint64_t>();
  if (!j.contains("committed") || !j["committed"].is_array()) {
    return absl::InvalidArgumentError("rollout state: committed: expected a list");
  }
  for (size_t i = 0; i < j["committed"].size(); ++i) {
    absl::StatusOr<core::Activation> a = ActivationFrom(j["committed"][i], absl::StrCat("committed[", i, "]"));
    if (!a.ok()) return absl::InvalidArgumentError(absl::StrCat("rollout state: ", a.status().message()));
    state.committed.push_back(*std::move(a));
  }
  if (j.contains("pending")) {
    absl::StatusOr<core::Activation> a = ActivationFrom(j["pending"], "pending");
    if (!a.ok()) return absl::InvalidArgumentError(absl::StrCat("rollout state: ", a.status().message()));
    state.pending = *std::move(a);
  }
  return state;
}

absl::StatusOr<RolloutState> FileStateStore::Load() {
  std::ifstream in(path_);
  if (!in) return absl::NotFoundError(absl::StrCat(path_, ": no saved rollout state"));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<RolloutState> s = RolloutStateFromJson(text.str());
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(path_, ": ", s.status().message()));
  return s;
}

absl::Status FileStateStore::Save(const RolloutState& state) {
  const std::string tmp = path_ + ".tmp";
  const std::string text = ToJson(state);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat(tmp, ": cannot write"));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path_.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat(path_, ": cannot save the rollout state"));
  }
  return absl::OkStatus();
}

absl::StatusOr<RolloutState> MemoryStateStore::Load() {
  if (!state_) return absl::NotFoundError("no saved rollout state");
  return *state_;
}

absl::Status MemoryStateStore::Save(const RolloutState& state) {
  state_ = state;
  return absl::OkStatus();
}

}  // namespace geostorm::control
