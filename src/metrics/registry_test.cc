#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <thread>

namespace deepkb::metrics {
namespace {

// Every line is a comment (# HELP/# TYPE) or `name{labels} value` in the text format.
void ExpectParses(const std::string& text) {
  const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*",?)*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    EXPECT_TRUE(std::regex_match(line, sample) || std::regex_match(line, comment)) << line;
  }
}

TEST(MetricsTest, CounterExposition_HasHelpTypeAndLabels) {
  Registry r;
  auto& c = r.AddCounter("deepkb_http_requests_total", "HTTP requests.", {"route", "code"});
  c.With({"/v1/collections", "200"}).Inc();
  c.With({"/v1/collections", "200"}).Inc(2);
  c.With({"/healthz", "200"}).Inc();
  const std::string text = r.Expose();
  EXPECT_NE(text.find("# HELP deepkb_http_requests_total HTTP requests.\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE deepkb_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("deepkb_http_requests_total{route=\"/v1/collections\",code=\"200\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_http_requests_total{route=\"/healthz\",code=\"200\"} 1\n"),
            std::string::npos);
  ExpectParses(text);
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  Registry r;
  auto& g = r.AddGauge("deepkb_documents", "Live documents\nper \\ collection.", {"collection"});
  g.With({"a\"b\\c\nd"}).Set(5);
  const std::string text = r.Expose();
  EXPECT_NE(text.find("# HELP deepkb_documents Live documents\\nper \\\\ collection.\n"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_documents{collection=\"a\\\"b\\\\c\\nd\"} 5\n"), std::string::npos)
      << text;
  ExpectParses(text);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("deepkb_search_duration_seconds", "Search latency.", {"mode"},
                           {0.01, 0.1, 1});
  auto& kw = h.With({"keyword"});
  kw.Observe(0.005);
  kw.Observe(0.01);  // le is inclusive
  kw.Observe(0.05);
  kw.Observe(5);
  const std::string text = r.Expose();
  EXPECT_NE(text.find("# TYPE deepkb_search_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("deepkb_search_duration_seconds_bucket{mode=\"keyword\",le=\"0.01\"} 2\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("deepkb_search_duration_seconds_bucket{mode=\"keyword\",le=\"0.1\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_search_duration_seconds_bucket{mode=\"keyword\",le=\"1\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_search_duration_seconds_bucket{mode=\"keyword\",le=\"+Inf\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_search_duration_seconds_sum{mode=\"keyword\"} 5.065\n"),
            std::string::npos);
  EXPECT_NE(text.find("deepkb_search_duration_seconds_count{mode=\"keyword\"} 4\n"),
            std::string::npos);
  ExpectParses(text);
}

TEST(MetricsTest, UnlabelledSeriesAndSpecialValues) {
  Registry r;
  r.AddGauge("deepkb_disk_usage_ratio", "Disk usage.").With().Set(0.25);
  r.AddGauge("x_inf", "inf").With().Set(1.0 / 0.0);
  const std::string text = r.Expose();
  EXPECT_NE(text.find("deepkb_disk_usage_ratio 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("x_inf +Inf\n"), std::string::npos);
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(3), "3");
  ExpectParses(text);
}

TEST(MetricsTest, ClearRemovesSeriesAndReRegisteringReturnsTheSameFamily) {
  Registry r;
  auto& g = r.AddGauge("deepkb_chunks", "Chunks.", {"collection"});
  g.With({"gone"}).Set(1);
  g.Clear();
  EXPECT_EQ(r.Expose().find("gone"), std::string::npos);
  EXPECT_EQ(&r.AddGauge("deepkb_chunks", "Chunks.", {"collection"}), &g);
}

TEST(MetricsTest, NameValidation) {
  EXPECT_TRUE(IsValidMetricName("deepkb_http_requests_total"));
  EXPECT_TRUE(IsValidMetricName("a:b"));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_TRUE(IsValidLabelName("route"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("__name"));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.AddCounter("c_total", "c", {"t"});
  auto& h = r.AddHistogram("h_seconds", "h");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.With({"x"}).Inc();
        h.With().Observe(0.002);
      }
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i) (void)r.Expose();
  });
  for (auto& t : ts) t.join();
  scraper.join();
  EXPECT_EQ(c.With({"x"}).Value(), 40000);
  EXPECT_EQ(h.With().Read().count, 40000u);
}

}  // namespace
}  // namespace deepkb::metrics
