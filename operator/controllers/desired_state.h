// What a GeoTrainingJob wants in one data center's member cluster, as Kubernetes
// objects: the namespace, a headless Service, the gateway Service, the DC's mTLS
// Secret and the worker pods with the geostorm sidecar injected as a native sidecar
// (an init container with restartPolicy Always, so it never keeps a finished pod
// alive). Pure functions; thread-safe.
//
// Every object carries the labels below (owner references cannot cross clusters)
// and an annotation with a fingerprint of its own content, so a reconcile can tell
// "already as wanted" from the member cluster's cache without writing.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_DESIRED_STATE_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_DESIRED_STATE_H_

#include <map>
#include <optional>
#include <string>

#include "operator/api/job_spec.h"
#include "operator/controllers/certificates.h"

namespace geostorm::controllers {

using Json = nlohmann::json;

inline constexpr char kJobNameLabel[] = "geostorm.io/job-name";
inline constexpr char kJobNamespaceLabel[] = "geostorm.io/job-namespace";
inline constexpr char kDcLabel[] = "geostorm.io/dc";
inline constexpr char kReplicaLabel[] = "geostorm.io/replica-index";
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedBy[] = "geostorm-operator";
inline constexpr char kFingerprintAnnotation[] = "geostorm.io/fingerprint";
inline constexpr char kSocketDir[] = "/var/run/geostorm";
inline constexpr char kTlsDir[] = "/etc/geostorm/tls";
inline constexpr char kPolicyDir[] = "/etc/geostorm/policy";

struct JobRef {
  std::string ns;
  std::string name;
};

// "geostorm.io/job-namespace=ns,geostorm.io/job-name=name": everything of one job.
std::string JobSelector(const JobRef& job);
// "ns.name": the job as its sidecars and its policy controller name it (--job).
std::string SidecarJobName(const JobRef& job);
// The job's key in the work queue ("ns/name"), read back from an object's labels.
std::optional<std::string> JobKeyOf(const Json& object);

std::string GatewayServiceName(const JobRef& job, const std::string& dc);
std::string PodName(const JobRef& job, const std::string& dc, int replica);

Json DesiredNamespace(const std::string& ns);
Json HeadlessService(const JobRef& job, const api::JobSpec& spec, const std::string& dc);
Json GatewayService(const JobRef& job, const api::JobSpec& spec, const std::string& dc);
Json TlsSecret(const JobRef& job, const std::string& dc, const std::string& ca_pem, const KeyPair& pair);
// Replica `replica` of data center `dc_index`. `peers` maps every other DC to the
// host:port its gateway is reached at. Without a controller address, the gateway
// reads its policy from the DC's ConfigMap (PolicyConfigMap).
Json WorkerPod(const JobRef& job, const api::JobSpec& spec, size_t dc_index, int replica,
               const std::map<std::string, std::string>& peers, const std::string& controller_address);

// Where other clusters reach a gateway Service: a load balancer's ingress, or
// (ClusterIP, NodePort) its cluster IP, which needs a flat network between clusters.
// nullopt while a load balancer has no address yet.
std::optional<std::string> GatewayAddress(const Json& service, int port);

// Sets the fingerprint annotation from the object's content; Fingerprint() reads it.
void Stamp(Json& object);
std::string Fingerprint(const Json& object);

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_DESIRED_STATE_H_
