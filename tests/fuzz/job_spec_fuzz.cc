// A GeoTrainingJob as the API server hands it over: any JSON at all, since a
// schema-less server (or an old CRD) lets anything through. The first line is the
// job's name. A refusal names a field of the job; a spec that parses fits the
// limits every later step relies on.
#include <cstdint>
#include <string>

#include "operator/api/job_spec.h"
#include "tests/fuzz/require.h"

using geostorm::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t newline = text.find('\n');
  const std::string name = newline == std::string::npos ? "job" : text.substr(0, newline);
  const geostorm::api::Json spec =
      geostorm::api::Json::parse(newline == std::string::npos ? text : text.substr(newline + 1), nullptr, false);
  if (spec.is_discarded()) return 0;
  absl::StatusOr<geostorm::api::JobSpec> job = geostorm::api::ParseJobSpec(name, spec);
  if (!job.ok()) {
    const std::string message(job.status().message());
    Require(message.rfind("spec", 0) == 0 || message.rfind("metadata.name", 0) == 0,
            "a refusal starts with the field at fault: " + message);
    return 0;
  }
  Require(job->data_centers.size() >= 2, "a job spans at least two DCs");
  Require(job->model_bytes > 0 && job->chunk_bytes > 0 && job->roots >= 1, "sizes and roots are positive");
  for (const geostorm::api::DataCenterSpec& dc : job->data_centers) {
    Require(!dc.name.empty() && dc.replicas >= 1, "every DC is named and runs a worker");
  }
  return 0;
}
