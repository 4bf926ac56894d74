// The Kubernetes client over cpprestsdk (kept to this file: its headers are heavy,
// and must come after _TURN_OFF_PLATFORM_STRING).
#define _TURN_OFF_PLATFORM_STRING  // NOLINT(bugprone-reserved-identifier): cpprestsdk asks for it
#include "operator/kube/client.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "operator/kube/api_status.h"
#include "operator/kube/watch_stream.h"

namespace geostorm::kube {
namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;

constexpr std::chrono::milliseconds kMaxBackoff{5000};

struct Response {
  int code = 0;  // 0: no HTTP response (connection failed)
  std::string body;
  std::string retry_after;
  std::string error;  // when code == 0
};

std::string Encode(const std::string& value) { return web::uri::encode_data_string(value); }

class HttpClient final : public Client {
 public:
  HttpClient(ClusterConfig config, ClientOptions options)
      : config_(std::move(config)), options_(std::move(options)), requests_(config_.server, Config(options_.timeout)) {}

  const std::string& server() const override { return config_.server; }

  absl::StatusOr<Json> GetPath(const std::string& path) override { return Call(http::methods::GET, path, "", ""); }

  absl::StatusOr<Json> Get(const Resource& r, const std::string& ns, const std::string& name) override {
    return Call(http::methods::GET, r.Path(ns, name), "", "");
  }

  absl::StatusOr<ListResult> List(const Resource& r, const std::string& ns, const std::string& label_selector,
                                  int page_size) override {
    ListResult result;
    std::string continue_token;
    do {
      std::string path = absl::StrCat(r.Path(ns), "?limit=", page_size);
      if (!label_selector.empty()) absl::StrAppend(&path, "&labelSelector=", Encode(label_selector));
      if (!continue_token.empty()) absl::StrAppend(&path, "&continue=", Encode(continue_token));
      absl::StatusOr<Json> page = Call(http::methods::GET, path, "", "");
      if (!page.ok()) return page.status();
      for (Json& item : (*page)["items"]) {
        // Lists leave out each item's kind; the informer's cache wants whole objects.
        item["kind"] = r.kind;
        item["apiVersion"] = r.api_version();
        result.items.push_back(std::move(item));
      }
      const Json& meta = (*page)["metadata"];
      result.resource_version = meta.value("resourceVersion", "");
      continue_token = meta.value("continue", "");
    } while (!continue_token.empty());
    return result;
  }

  absl::StatusOr<Json> Create(const Resource& r, const std::string& ns, const Json& object) override {
    return Call(http::methods::POST, r.Path(ns), object.dump(), "application/json");
  }

  absl::StatusOr<Json> Replace(const Resource& r, const Json& object) override {
    const Json& meta = object["metadata"];
    return Call(http::methods::PUT, r.Path(meta.value("namespace", ""), meta.value("name", "")), object.dump(),
                "application/json");
  }

  absl::StatusOr<Json> Apply(const Resource& r, const Json& object) override { return ApplyPatch(r, object, ""); }

  absl::Status DryRunApply(const Resource& r, const Json& object) override {
    return ApplyPatch(r, object, "&dryRun=All").status();
  }

  absl::StatusOr<Json> MergePatch(const Resource& r, const std::string& ns, const std::string& name, const Json& patch,
                                  bool status) override {
    return Call(http::methods::PATCH, r.Path(ns, name, status ? "status" : ""), patch.dump(),
                "application/merge-patch+json");
  }

  absl::Status Delete(const Resource& r, const std::string& ns, const std::string& name) override {
    return Call(http::methods::DEL, r.Path(ns, name), "", "").status();
  }

  absl::Status Watch(const Resource& r, const std::string& ns, const std::string& label_selector,
                     const std::string& resource_version, std::chrono::seconds timeout,
                     const std::function<bool(const WatchEvent&)>& on_event, StopToken* stop) override;

 private:
  absl::StatusOr<Json> ApplyPatch(const Resource& r, const Json& object, const std::string& query) {
    const Json& meta = object["metadata"];
    const std::string path = absl::StrCat(r.Path(meta.value("namespace", ""), meta.value("name", "")),
                                          "?fieldManager=geostorm&force=true", query);
    // JSON is YAML, so the apply patch goes as JSON text under the YAML media type.
    return Call(http::methods::PATCH, path, object.dump(), "application/apply-patch+yaml");
  }

  http_client_config Config(std::chrono::milliseconds timeout) const {
    http_client_config c;
    c.set_timeout(timeout);
    c.set_validate_certificates(!config_.insecure_skip_tls_verify);
    const ClusterConfig& cfg = config_;
    c.set_ssl_context_callback([cfg](boost::asio::ssl::context& ctx) {
      if (!cfg.ca_pem.empty()) ctx.add_certificate_authority(boost::asio::buffer(cfg.ca_pem));
      if (!cfg.client_cert_pem.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cfg.client_cert_pem));
        ctx.use_private_key(boost::asio::buffer(cfg.client_key_pem), boost::asio::ssl::context::pem);
      }
    });
    return c;
  }

  // The bearer token, re-read from its file when stale (or `force`d after a 401).
  std::string Token(bool force) {
    std::lock_guard<std::mutex> lock(token_mu_);
    if (config_.token_file.empty()) return config_.token;
    const auto now = std::chrono::steady_clock::now();
    if (force || token_read_at_.time_since_epoch().count() == 0 || now - token_read_at_ > options_.token_refresh) {
      std::ifstream in(config_.token_file);
      std::stringstream text;
      text << in.rdbuf();
      if (in) token_ = std::string(absl::StripAsciiWhitespace(text.str()));
      token_read_at_ = now;
    }
    return token_;
  }

  http::http_request MakeRequest(const http::method& method, const std::string& path, bool force_token) {
    http::http_request request(method);
    request.set_request_uri(path);
    request.headers().add("Accept", "application/json");
    request.headers().add("User-Agent", options_.user_agent);
    const std::string token = Token(force_token);
    if (!token.empty()) request.headers().add("Authorization", absl::StrCat("Bearer ", token));
    return request;
  }

  Response Send(const http::method& method, const std::string& path, const std::string& body,
                const std::string& content_type, bool force_token) {
    Response out;
    try {
      http::http_request request = MakeRequest(method, path, force_token);
      if (!content_type.empty()) {
        // As bytes: cpprest reads a string body through a cast from a buffer of
        // char that is undefined behaviour (UBSan's vptr check).
        request.set_body(std::vector<unsigned char>(body.begin(), body.end()));
        request.headers().set_content_type(content_type);
      }
      http::http_response response = requests_.request(request).get();
      out.code = response.status_code();
      out.body = response.extract_utf8string(true).get();
      if (response.headers().has("Retry-After")) out.retry_after = response.headers().find("Retry-After")->second;
    } catch (const std::exception& e) {
      out.error = e.what();
    }
    return out;
  }

  absl::StatusOr<Json> Call(const http::method& method, const std::string& path, const std::string& body,
                            const std::string& content_type) {
    const std::string what = absl::StrCat(method, " ", config_.server, path);
    std::chrono::milliseconds backoff = options_.backoff_base;
    bool reauthenticated = false;
    Response response;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      response = Send(method, path, body, content_type, false);
      if (response.code == 401 && !config_.token_file.empty() && !reauthenticated) {
        reauthenticated = true;  // the token may have been rotated: read it again, once
        response = Send(method, path, body, content_type, true);
      }
      const bool transient = response.code == 0 || response.code == 429 || response.code >= 500;
      if (!transient || attempt == options_.max_attempts) break;
      std::chrono::milliseconds wait = backoff;
      if (!response.retry_after.empty()) {
        wait = std::max(wait, std::chrono::milliseconds(1000 * std::atoi(response.retry_after.c_str())));
      }
      std::this_thread::sleep_for(std::min(wait, kMaxBackoff));
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    if (response.code == 0) return absl::UnavailableError(absl::StrCat(what, ": ", response.error));
    if (response.code < 200 || response.code >= 300) {
      return StatusFor(response.code, ServerMessage(response.body), what);
    }
    Json parsed = Json::parse(response.body, nullptr, false);
    if (parsed.is_discarded()) return absl::InternalError(absl::StrCat(what, ": the response is not JSON"));
    return parsed;
  }

  const ClusterConfig config_;
  const ClientOptions options_;
  http_client requests_;
  std::mutex token_mu_;
  std::string token_;
  std::chrono::steady_clock::time_point token_read_at_{};
};

absl::Status HttpClient::Watch(const Resource& r, const std::string& ns, const std::string& label_selector,
                               const std::string& resource_version, std::chrono::seconds timeout,
                               const std::function<bool(const WatchEvent&)>& on_event, StopToken* stop) {
  std::string path = absl::StrCat(r.Path(ns), "?watch=true&allowWatchBookmarks=true&timeoutSeconds=", timeout.count(),
                                  "&resourceVersion=", Encode(resource_version));
  if (!label_selector.empty()) absl::StrAppend(&path, "&labelSelector=", Encode(label_selector));
  const std::string what = absl::StrCat("watch ", config_.server, r.Path(ns));
  pplx::cancellation_token_source cancel;
  const int stop_id = stop->OnStop([cancel] { cancel.cancel(); });
  absl::Status result = absl::OkStatus();
  try {
    http_client client(config_.server, Config(timeout + std::chrono::seconds(30)));
    http::http_response response =
        client.request(MakeRequest(http::methods::GET, path, false), cancel.get_token()).get();
    if (response.status_code() != http::status_codes::OK) {
      result = StatusFor(response.status_code(), ServerMessage(response.extract_utf8string(true).get()), what);
    } else {
      concurrency::streams::istream body = response.body();
      WatchStream stream(what, on_event);
      while (stream.wants_more() && result.ok()) {
        // Bytes, as the body is (a buffer of char would be read through the same cast).
        concurrency::streams::container_buffer<std::vector<uint8_t>> piece;
        if (body.read(piece, 1).get() == 0) break;  // the server ended the stream
        // One byte blocks until data arrives; then take whatever else is there.
        size_t more = body.streambuf().in_avail();
        if (more > 0) body.read(piece, more).get();
        const std::vector<uint8_t>& bytes = piece.collection();
        result = stream.Feed(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      }
    }
  } catch (const pplx::task_canceled&) {
    result = absl::CancelledError(absl::StrCat(what, ": stopped"));
  } catch (const std::exception& e) {
    result = stop->stopped() ? absl::CancelledError(absl::StrCat(what, ": stopped"))
                             : absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
  }
  stop->Forget(stop_id);
  return result;
}

}  // namespace

std::string Resource::Path(const std::string& ns, const std::string& name, const std::string& subresource) const {
  std::string path = group.empty() ? absl::StrCat("/api/", version) : absl::StrCat("/apis/", group, "/", version);
  if (namespaced && !ns.empty()) absl::StrAppend(&path, "/namespaces/", ns);
  absl::StrAppend(&path, "/", plural);
  if (!name.empty()) absl::StrAppend(&path, "/", name);
  if (!subresource.empty()) absl::StrAppend(&path, "/", subresource);
  return path;
}

void StopToken::Stop() {
  std::vector<std::pair<int, std::function<void()>>> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    callbacks.swap(callbacks_);
  }
  stopped_cv_.notify_all();
  for (auto& [id, callback] : callbacks) callback();
}

bool StopToken::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

bool StopToken::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return stopped_cv_.wait_for(lock, timeout, [this] { return stopped_; });
}

int StopToken::OnStop(std::function<void()> on_stop) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) {
    lock.unlock();
    on_stop();
    return -1;
  }
  callbacks_.emplace_back(++next_id_, std::move(on_stop));
  return next_id_;
}

void StopToken::Forget(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  callbacks_.erase(std::remove_if(callbacks_.begin(), callbacks_.end(), [id](const auto& c) { return c.first == id; }),
                   callbacks_.end());
}

absl::StatusOr<std::unique_ptr<Client>> MakeClient(const ClusterConfig& config, const ClientOptions& options) {
  if (config.server.rfind("http://", 0) != 0 && config.server.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("server '", config.server, "': want http:// or https://"));
  }
  try {
    return std::unique_ptr<Client>(new HttpClient(config, options));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("server '", config.server, "': ", e.what()));
  }
}

absl::StatusOr<Json> Update(Client& client, const Resource& r, const std::string& ns, const std::string& name,
                            const std::function<bool(Json&)>& mutate, int attempts) {
  absl::Status last;
  for (int i = 0; i < attempts; ++i) {
    absl::StatusOr<Json> object = client.Get(r, ns, name);
    if (!object.ok()) return object.status();
    if (!mutate(*object)) return object;
    absl::StatusOr<Json> written = client.Replace(r, *object);
    if (written.ok() || !absl::IsAborted(written.status())) return written;
    last = written.status();
  }
  return last;
}

}  // namespace geostorm::kube
