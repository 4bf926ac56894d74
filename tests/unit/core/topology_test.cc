#include "core/topology/topology.h"

#include <gtest/gtest.h>

namespace geostorm::core {
namespace {

TEST(Topology, LoadsKlonet) {
  auto t = LoadTopologyFile(std::string(GEOSTORM_DATA_DIR) + "/klonet-9dc.yaml");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->data_centers.size(), 9u);
  EXPECT_EQ(t->links.size(), 26u);
}

}  // namespace
}  // namespace geostorm::core
