// Unit tests for the CLI's pure pieces: size/time formatting, table and field layout, console escapes.
#include <gtest/gtest.h>

#include "tools/console_escape.h"
#include "tools/format.h"

using namespace sysc::cli;

TEST(CliFormat, Bytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1258291), "1.2 MiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3.0 GiB");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16.0 EiB");
}

TEST(CliFormat, CpuTime) {
  EXPECT_EQ(format_cpu_ns(0), "0.00 s");
  EXPECT_EQ(format_cpu_ns(420000000), "0.42 s");
  EXPECT_EQ(format_cpu_ns(61'500'000'000), "61.50 s");
}

TEST(CliFormat, TableAlignsColumnsWithoutTrailingBlanks) {
  std::string t = render_table({"NAME", "STATE", "PID"}, {{"web1", "RUNNING", "42"}, {"a-long-name", "STOPPED", "-"}});
  EXPECT_EQ(t,
            "NAME          STATE     PID\n"
            "web1          RUNNING   42\n"
            "a-long-name   STOPPED   -\n");
}

TEST(CliFormat, TableWithoutRowsIsTheHeader) {
  EXPECT_EQ(render_table({"NAME", "STATE"}, {}), "NAME   STATE\n");
}

TEST(CliFormat, TableShortRowsArePadded) {
  EXPECT_EQ(render_table({"A", "B"}, {{"x"}}), "A   B\nx   \n");
}

TEST(CliFormat, FieldsLineUp) {
  EXPECT_EQ(render_fields({{"Name", "web1"}, {"Init PID", "42"}}), "Name:     web1\nInit PID: 42\n");
}

TEST(CliConsoleEscape, PassesPlainBytes) {
  ConsoleEscape e;
  std::string out;
  EXPECT_FALSE(e.feed("ls -l\r", &out));
  EXPECT_EQ(out, "ls -l\r");
}

TEST(CliConsoleEscape, CtrlAQDetachesAndDropsTheRest) {
  ConsoleEscape e;
  std::string out;
  EXPECT_TRUE(e.feed("ab\x01qcd", &out));
  EXPECT_EQ(out, "ab");
}

TEST(CliConsoleEscape, CtrlAASendsOneCtrlA) {
  ConsoleEscape e;
  std::string out;
  EXPECT_FALSE(e.feed("x\x01" "a" "y\x01\x01z", &out));
  EXPECT_EQ(out, "x\x01y\x01z");
}

TEST(CliConsoleEscape, PrefixSplitAcrossReads) {
  ConsoleEscape e;
  std::string out;
  EXPECT_FALSE(e.feed("x\x01", &out));
  EXPECT_EQ(out, "x");
  EXPECT_TRUE(e.feed("q", &out));
}

TEST(CliConsoleEscape, OtherKeyAfterPrefixIsSentAsTyped) {
  ConsoleEscape e;
  std::string out;
  EXPECT_FALSE(e.feed("\x01" "c", &out));
  EXPECT_EQ(out, "\x01" "c");
}
