// The Python binding of geostorm::Client (pybind11): module geostorm._geostorm,
// wrapped by the package in client/python/geostorm. Arrays are float32 numpy
// arrays, summed in place; errors raise geostorm.Error with the sidecar's reason.
// The GIL is released while an all-reduce waits on the network.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "client/client.h"

namespace py = pybind11;

namespace geostorm {
namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using FloatArray = py::array_t<float, py::array::c_style>;

template <typename T>
T Value(absl::StatusOr<T> s) {
  if (!s.ok()) throw Failure(std::string(s.status().message()));
  return *std::move(s);
}

// A writable float32 view of `array`, or TypeError naming what it is instead.
absl::Span<float> Writable(const py::array& array, const std::string& what) {
  if (!py::isinstance<FloatArray>(array) || !(array.flags() & py::array::c_style) || !array.writeable()) {
    throw py::type_error(what + ": want a writable, contiguous float32 array, got dtype " +
                         std::string(py::str(array.dtype())));
  }
  // The values stay where they are while the caller holds the array.
  const py::buffer_info info = array.request(/*writable=*/true);
  return absl::Span<float>(static_cast<float*>(info.ptr), static_cast<size_t>(array.size()));
}

// An all-reduce in flight; holds the gradient array so that it outlives the session.
class PySession {
 public:
  PySession(std::unique_ptr<Client::Session> session, py::array gradient)
      : session_(std::move(session)), gradient_(std::move(gradient)) {}
  void Ready(int64_t first, int64_t count) { session_->Ready(first, count); }
  int Finish(const py::array& out) {
    absl::Span<float> values = Writable(out, "out");
    absl::StatusOr<int> n;
    {
      py::gil_scoped_release release;
      n = session_->Finish(values);
    }
    return Value(std::move(n));
  }

 private:
  std::unique_ptr<Client::Session> session_;
  py::array gradient_;
};

}  // namespace
}  // namespace geostorm

PYBIND11_MODULE(_geostorm, m) {
  using geostorm::Client;
  m.doc() = "geostorm's worker library: all-reduce a gradient through this worker's sidecar";
  py::register_exception<geostorm::Failure>(m, "Error", PyExc_RuntimeError);

  py::class_<geostorm::PySession>(m, "Session")
      .def("ready", &geostorm::PySession::Ready, py::arg("first"), py::arg("count"),
           "gradient[first:first+count] is final: send the chunks it completes")
      .def("finish", &geostorm::PySession::Finish, py::arg("out"),
           "wait for the sum, write it into `out`, return the contributor count");

  py::class_<Client>(m, "Client")
      .def(py::init([](const std::string& address) {
             absl::StatusOr<Client> c;
             {
               py::gil_scoped_release release;
               c = Client::Connect(address);
             }
             return geostorm::Value(std::move(c));
           }),
           py::arg("address"), "connect to a sidecar's worker API (unix:/path or host:port)")
      .def_property_readonly("model_floats", &Client::model_floats)
      .def_property_readonly("chunk_floats", &Client::chunk_floats)
      .def_property_readonly("total_workers", &Client::total_workers)
      .def_property_readonly("data_center", &Client::data_center)
      .def_property_readonly("sync_mode", &Client::sync_mode)
      .def(
          "local_steps",
          [](Client& c, double step_seconds) {
            absl::StatusOr<int> n;
            {
              py::gil_scoped_release release;
              n = c.LocalSteps(step_seconds);
            }
            return geostorm::Value(std::move(n));
          },
          py::arg("step_seconds") = 0.0,
          "esync: the local steps this DC takes before its next synchronisation; step_seconds > 0 reports this "
          "worker's compute per local step")
      .def(
          "allreduce",
          [](Client& c, uint64_t iteration, const py::array& gradient) {
            absl::Span<float> values = geostorm::Writable(gradient, "gradient");
            absl::StatusOr<int> n;
            {
              py::gil_scoped_release release;
              n = c.AllReduce(iteration, values);
            }
            return geostorm::Value(std::move(n));
          },
          py::arg("iteration"), py::arg("gradient"),
          "replace `gradient` (model_floats float32 values) by the sum over every worker; return the contributors")
      .def(
          "allreduce_named",
          [](Client& c, uint64_t iteration, const std::map<std::string, py::array>& tensors) {
            std::vector<geostorm::Tensor> named;
            named.reserve(tensors.size());
            for (auto& [name, array] : tensors)
              named.push_back({name, geostorm::Writable(array, "tensor '" + name + "'")});
            absl::StatusOr<int> n;
            {
              py::gil_scoped_release release;
              n = c.AllReduce(iteration, named);
            }
            return geostorm::Value(std::move(n));
          },
          py::arg("iteration"), py::arg("tensors"),
          "sum named tensors ({name: float32 array}) in place, laid out by name")
      .def(
          "begin",
          [](Client& c, uint64_t iteration, const py::array& gradient, uint64_t layout) {
            absl::Span<float> values = geostorm::Writable(gradient, "gradient");
            return geostorm::PySession(geostorm::Value(c.Begin(iteration, values, layout)), gradient);
          },
          py::arg("iteration"), py::arg("gradient"), py::arg("layout") = 0,
          "start an all-reduce whose gradient is marked ready piece by piece (Session.ready); `layout`, when "
          "not 0, fingerprints what the values are: workers whose layouts differ are never summed");
}
