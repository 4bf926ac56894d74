#include "control/credentials.h"

#include <gtest/gtest.h>

namespace geostorm::control {
namespace {

TEST(DataCentersNamed, TakesTheDcOfEachNameOfThisJobOnly) {
  const std::vector<std::string> names = {"localhost",           "east.job.geostorm", "*.job.geostorm",
                                          "west.other.geostorm", ".job.geostorm",     "job.geostorm"};
  EXPECT_EQ(DataCentersNamed("job", names), (std::vector<std::string>{"east", "*"}));
  EXPECT_EQ(DataCentersNamed("other", names), (std::vector<std::string>{"west"}));
  EXPECT_TRUE(DataCentersNamed("job", {}).empty());
}

TEST(DataCentersNamed, ReadsBackDataCenterIdentity) {
  EXPECT_EQ(DataCentersNamed("default.resnet", {DataCenterIdentity("default.resnet", "dc-1")}),
            (std::vector<std::string>{"dc-1"}));
}

}  // namespace
}  // namespace geostorm::control
