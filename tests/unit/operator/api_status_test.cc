// What an API server's error answer becomes as a message: its Status message, or
// for any other body (a proxy's error page) one line of its text.
#include "operator/kube/api_status.h"

#include <gtest/gtest.h>

#include <string>

namespace geostorm::kube {
namespace {

TEST(ServerMessage, IsTheStatusMessageOfAnApiServer) {
  EXPECT_EQ(ServerMessage(R"({"kind": "Status", "message": "pods \"w-0\" not found", "code": 404})"),
            "pods \"w-0\" not found");
}

TEST(ServerMessage, IsOneLineOfTextForAnErrorPage) {
  const std::string page =
      "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <title>Error response</title>\n    </head>\n"
      "    <body>\n        <h1>Error response</h1>\n        <p>Error code: 502</p>\n"
      "        <p>Message: Bad Gateway.</p>\n    </body>\n</html>\n";
  EXPECT_EQ(ServerMessage(page), "Error response Error response Error code: 502 Message: Bad Gateway.");
}

TEST(ServerMessage, CutsALongBodyOnACharacterBoundary) {
  const std::string body = std::string(199, 'a') + "\xC3\xA9" + std::string(100, 'b');  // an 'é' across byte 200
  EXPECT_EQ(ServerMessage(body), std::string(199, 'a') + "...");
  EXPECT_EQ(ServerMessage(std::string(50, 'c')), std::string(50, 'c'));
}

}  // namespace
}  // namespace geostorm::kube
