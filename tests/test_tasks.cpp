#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>

#include "attend/core/error.hpp"
#include "attend/text/tasks.hpp"

using namespace attend;

namespace {

std::string join(const std::vector<std::string>& tokens) {
  std::string s;
  for (const auto& t : tokens) s += t;
  return s;
}

TaskData small_task(const std::string& name, std::uint64_t seed = 1) {
  TaskOptions o;
  o.name = name;
  o.train_size = 300;
  o.valid_size = 50;
  o.test_size = 50;
  o.seed = seed;
  return make_task(o);
}

std::vector<Example> all_examples(const TaskData& d) {
  std::vector<Example> all = d.train;
  all.insert(all.end(), d.valid.begin(), d.valid.end());
  all.insert(all.end(), d.test.begin(), d.test.end());
  return all;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int month_days(int y, int m) {
  const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// Zeller's congruence, shifted so that 0 = monday.
int zeller_weekday(int y, int m, int d) {
  if (m < 3) {
    m += 12;
    y -= 1;
  }
  const int k = y % 100, j = y / 100;
  const int h = (d + 13 * (m + 1) / 5 + k + k / 4 + j / 4 + 5 * j) % 7;
  return (h + 5) % 7;
}

const std::vector<std::string> kMonths = {"january", "february", "march",     "april",
                                          "may",     "june",     "july",      "august",
                                          "september", "october", "november", "december"};
const std::vector<std::string> kDays = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday"};

// Index of word in names, matching the full name or its 3-letter abbreviation; -1 if none.
int lookup(const std::vector<std::string>& names, const std::string& word) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (word == names[i] || word == names[i].substr(0, 3)) return static_cast<int>(i);
  return -1;
}

// Splits a date source into its digit runs and letter runs.
void runs(const std::string& s, std::vector<std::string>& numbers, std::vector<std::string>& words) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      numbers.push_back(s.substr(i, j - i));
    } else if (std::isalpha(static_cast<unsigned char>(s[i]))) {
      while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
      words.push_back(s.substr(i, j - i));
    } else {
      ++j;
    }
    i = j;
  }
}

// Collapses digit runs to '9' and letter runs to 'w', giving the layout of a date source.
std::string layout(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const char k = std::isdigit(static_cast<unsigned char>(c))   ? '9'
                   : std::isalpha(static_cast<unsigned char>(c)) ? 'w'
                                                                 : c;
    if (out.empty() || out.back() != k || (k != '9' && k != 'w')) out += k;
  }
  return out;
}

}  // namespace

TEST_CASE("task names are the five built-in tasks, each described", "[tasks]") {
  CHECK(task_names() == std::vector<std::string>{"copy", "reverse", "sort", "add", "dates"});
  for (const auto& name : task_names()) CHECK_FALSE(task_description(name).empty());
}

TEST_CASE("unknown task name lists valid names", "[tasks]") {
  TaskOptions o;
  o.name = "translate";
  CHECK_THROWS_WITH(make_task(o), Catch::Contains("translate") && Catch::Contains("copy") &&
                                      Catch::Contains("dates"));
  CHECK_THROWS_AS(task_description("nope"), Error);
  CHECK_THROWS_AS(task_example("nope"), Error);
}

TEST_CASE("copy task targets equal sources over the letters a..t with default lengths", "[tasks]") {
  for (const auto& e : all_examples(small_task("copy"))) {
    CHECK(e.tgt == e.src);
    CHECK(e.src.size() >= 5);
    CHECK(e.src.size() <= 15);
    for (const auto& t : e.src) CHECK((t.size() == 1 && t[0] >= 'a' && t[0] <= 't'));
  }
}

TEST_CASE("reverse task targets are reversed sources", "[tasks]") {
  for (const auto& e : all_examples(small_task("reverse")))
    CHECK(e.tgt == std::vector<std::string>(e.src.rbegin(), e.src.rend()));
}

TEST_CASE("sort task targets are sorted sources", "[tasks]") {
  for (const auto& e : all_examples(small_task("sort"))) {
    auto sorted = e.src;
    std::sort(sorted.begin(), sorted.end());
    CHECK(e.tgt == sorted);
  }
}

TEST_CASE("add task targets are the sums of numbers without leading zeros", "[tasks]") {
  for (const auto& e : all_examples(small_task("add"))) {
    const std::string src = join(e.src);
    const auto plus = src.find('+');
    REQUIRE(plus != std::string::npos);
    const std::string a = src.substr(0, plus), b = src.substr(plus + 1);
    for (const auto& n : {a, b}) {
      CHECK(n.size() >= 1);
      CHECK(n.size() <= 6);
      CHECK((n.size() == 1 || n[0] != '0'));
      CHECK(n.find_first_not_of("0123456789") == std::string::npos);
    }
    CHECK(join(e.tgt) == std::to_string(std::stoll(a) + std::stoll(b)));
  }
}

TEST_CASE("add task handles digit counts beyond 64-bit integers", "[tasks]") {
  TaskOptions o;
  o.name = "add";
  o.min_len = o.max_len = 25;
  o.train_size = o.valid_size = o.test_size = 5;
  for (const auto& e : all_examples(make_task(o))) {
    const std::string src = join(e.src), sum = join(e.tgt);
    CHECK(src.size() == 51);
    CHECK((sum.size() == 25 || sum.size() == 26));
    // The last digit of a sum depends only on the last digits of the addends.
    CHECK(sum.back() - '0' == (src[24] - '0' + src[50] - '0') % 10);
  }
}

TEST_CASE("dates targets are valid ISO dates matching the source", "[tasks]") {
  TaskOptions o;
  o.train_size = 3000;
  o.valid_size = o.test_size = 10;
  for (const auto& e : make_task(o).train) {
    const std::string src = join(e.src), iso = join(e.tgt);
    INFO(src << " -> " << iso);
    REQUIRE(iso.size() == 10);
    REQUIRE(layout(iso) == "9-9-9");
    const int y = std::stoi(iso.substr(0, 4)), m = std::stoi(iso.substr(5, 2)),
              d = std::stoi(iso.substr(8, 2));
    CHECK(y >= 1950);
    CHECK(y <= 2049);
    REQUIRE(m >= 1);
    REQUIRE(m <= 12);
    CHECK(d >= 1);
    CHECK(d <= month_days(y, m));

    std::vector<std::string> numbers, words;
    runs(src, numbers, words);
    int src_month = -1, src_weekday = -1;
    for (const auto& w : words) {
      if (lookup(kMonths, w) >= 0) src_month = lookup(kMonths, w) + 1;
      if (lookup(kDays, w) >= 0) src_weekday = lookup(kDays, w);
    }
    REQUIRE(numbers.size() >= 2);
    const bool year_first = numbers.front().size() == 4;
    const std::string year = year_first ? numbers.front() : numbers.back();
    CHECK((year == std::to_string(y) || (year.size() == 2 && std::stoi(year) == y % 100)));
    if (src_month > 0) {
      REQUIRE(numbers.size() == 2);
      CHECK(src_month == m);
      CHECK(std::stoi(numbers.front()) == d);
    } else {
      REQUIRE(numbers.size() == 3);
      const bool us = src.find('/') != std::string::npos;  // MM/DD/YYYY
      CHECK(std::stoi(us ? numbers[0] : numbers[1]) == m);
      CHECK(std::stoi(us ? numbers[1] : year_first ? numbers[2] : numbers[0]) == d);
    }
    if (src_weekday >= 0) CHECK(src_weekday == zeller_weekday(y, m, d));
  }
}

TEST_CASE("dates sources use at least eight layouts", "[tasks]") {
  std::set<std::string> layouts;
  for (const auto& e : small_task("dates").train) layouts.insert(layout(join(e.src)));
  CHECK(layouts.size() >= 8);
}

TEST_CASE("task splits have the requested sizes", "[tasks]") {
  const TaskData d = small_task("reverse");
  CHECK(d.train.size() == 300);
  CHECK(d.valid.size() == 50);
  CHECK(d.test.size() == 50);
}

TEST_CASE("task splits default to 10000/500/1000 examples", "[tasks]") {
  TaskOptions o;
  o.name = "copy";
  const TaskData d = make_task(o);
  CHECK(d.train.size() == 10000);
  CHECK(d.valid.size() == 500);
  CHECK(d.test.size() == 1000);
}

TEST_CASE("task splits share no source", "[tasks]") {
  for (const auto& name : task_names()) {
    const TaskData d = small_task(name);
    std::set<std::vector<std::string>> sources;
    for (const auto& e : all_examples(d)) sources.insert(e.src);
    CHECK(sources.size() == d.train.size() + d.valid.size() + d.test.size());
  }
}

TEST_CASE("same seed gives same task data", "[tasks]") {
  for (const auto& name : task_names()) {
    const TaskData a = small_task(name, 7), b = small_task(name, 7), c = small_task(name, 8);
    const auto sources = [](const TaskData& d) {
      std::vector<std::vector<std::string>> s;
      for (const auto& e : all_examples(d)) s.push_back(e.src);
      return s;
    };
    CHECK(sources(a) == sources(b));
    CHECK(sources(a) != sources(c));
  }
  CHECK(join(task_example("dates", 3).src) == join(task_example("dates", 3).src));
}

TEST_CASE("test split uses its own length range", "[tasks]") {
  TaskOptions o;
  o.name = "copy";
  o.min_len = 3;
  o.max_len = 6;
  o.test_min_len = 10;
  o.test_max_len = 12;
  o.train_size = 200;
  o.valid_size = o.test_size = 50;
  const TaskData d = make_task(o);
  for (const auto& e : d.train) CHECK((e.src.size() >= 3 && e.src.size() <= 6));
  for (const auto& e : d.valid) CHECK((e.src.size() >= 3 && e.src.size() <= 6));
  for (const auto& e : d.test) CHECK((e.src.size() >= 10 && e.src.size() <= 12));
}

TEST_CASE("task draws every distinct source when sizes exactly fill the space", "[tasks]") {
  TaskOptions o;
  o.name = "sort";
  o.min_len = o.max_len = 1;
  o.train_size = 10;
  o.valid_size = o.test_size = 5;
  std::set<std::vector<std::string>> sources;
  for (const auto& e : all_examples(make_task(o))) sources.insert(e.src);
  CHECK(sources.size() == 20);
}

TEST_CASE("task rejects impossible length ranges", "[tasks]") {
  TaskOptions o;
  o.name = "copy";
  o.min_len = 8;
  o.max_len = 4;
  CHECK_THROWS_WITH(make_task(o), Catch::Contains("greater than"));
  o.min_len = -2;
  CHECK_THROWS_WITH(make_task(o), Catch::Contains("at least 1"));
  o.min_len = 2;
  o.test_max_len = 1;
  CHECK_THROWS_AS(make_task(o), Error);
}

TEST_CASE("task with too few distinct sources says what to change", "[tasks]") {
  TaskOptions o;
  o.name = "add";
  o.max_len = 1;  // only 100 distinct "A+B" sources
  CHECK_THROWS_WITH(make_task(o), Catch::Contains("100") && Catch::Contains("max_len"));
  o.name = "copy";
  o.min_len = 1;
  o.max_len = 5;
  o.test_min_len = o.test_max_len = 1;
  CHECK_THROWS_WITH(make_task(o), Catch::Contains("test_size"));
}

TEST_CASE("dates ignore length options", "[tasks]") {
  TaskOptions o;
  o.min_len = 9;
  o.max_len = 2;
  o.train_size = o.valid_size = o.test_size = 5;
  CHECK(make_task(o).train.size() == 5);
}

TEST_CASE("task example is deterministic given a seed", "[tasks]") {
  for (const auto& name : task_names()) {
    CHECK(task_example(name, 5).src == task_example(name, 5).src);
    CHECK(task_example(name, 5).tgt == task_example(name, 5).tgt);
    CHECK_FALSE(task_example(name, 5).tgt.empty());
  }
}

TEST_CASE("task gives up when earlier splits used up the test sources", "[tasks]") {
  TaskOptions o;
  o.name = "copy";
  o.min_len = 1;
  o.max_len = 2;
  o.train_size = 300;  // takes most of the 20 one-letter sources
  o.valid_size = 50;
  o.test_min_len = o.test_max_len = 1;
  o.test_size = 20;
  CHECK_THROWS_WITH(make_task(o), Catch::Contains("could not draw"));
}
