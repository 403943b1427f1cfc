#include "peergate/cli/text_table.h"

#include <sstream>

#include <catch2/catch.hpp>

namespace peergate::cli {
namespace {

TEST_CASE("aligns columns two spaces apart without trailing blanks", "[cli][table]") {
  TextTable table({"NAMESPACE", "PORT", "MODE"});
  table.addRow({"foo", "*", "STRICT"});
  table.addRow({"payments", "9090", "PERMISSIVE"});
  std::ostringstream out;
  table.write(out);
  CHECK(out.str() ==
        "NAMESPACE  PORT  MODE\n"
        "foo        *     STRICT\n"
        "payments   9090  PERMISSIVE\n");
}

TEST_CASE("counts a multi-byte arrow as one column", "[cli][table]") {
  CHECK(displayWidth("\u2192") == 1);
  CHECK(displayWidth("PERMISSIVE") == 10);
  TextTable table({"A", "\u2192", "B"});
  table.addRow({"PERMISSIVE", "\u2192", "STRICT"});
  std::ostringstream out;
  table.write(out);
  CHECK(out.str() == "A           \u2192  B\nPERMISSIVE  \u2192  STRICT\n");
}

TEST_CASE("pads short rows to the header's width", "[cli][table]") {
  TextTable table({"A", "B"});
  table.addRow({"x"});
  std::ostringstream out;
  table.write(out);
  CHECK(out.str() == "A  B\nx  \n");
}

}  // namespace
}  // namespace peergate::cli
