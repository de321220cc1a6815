#include "attend/text/tasks.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <random>
#include <unordered_set>

#include "attend/core/error.hpp"

namespace attend {

const std::vector<TaskField>& task_fields() {
  static const std::vector<TaskField> fields = {
      {"train_size", "train-size", "training examples", &TaskOptions::train_size},
      {"valid_size", "valid-size", "validation examples", &TaskOptions::valid_size},
      {"test_size", "test-size", "test examples", &TaskOptions::test_size},
      {"min_len", "min-len", "shortest train/valid input", &TaskOptions::min_len},
      {"max_len", "max-len", "longest train/valid input", &TaskOptions::max_len},
      {"test_min_len", "test-min-len", "shortest test input (0 = --min-len)", &TaskOptions::test_min_len},
      {"test_max_len", "test-max-len", "longest test input (0 = --max-len)", &TaskOptions::test_max_len},
  };
  return fields;
}

std::string TaskField::get(const TaskOptions& t) const {
  return std::visit([&](auto m) { return std::to_string(t.*m); }, member);
}

namespace {

using Rng = std::mt19937_64;

// Draws use only the engine's raw output, so data does not depend on the standard library.
int draw_in(Rng& rng, int lo, int hi) {
  return lo + static_cast<int>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> tokens;
  for (const char c : s) tokens.emplace_back(1, c);
  return tokens;
}

constexpr int kSymbols = 20;  // 'a'..'t'

std::string random_symbols(Rng& rng, int lo, int hi) {
  std::string s(static_cast<std::size_t>(draw_in(rng, lo, hi)), ' ');
  for (char& c : s) c = static_cast<char>('a' + draw_in(rng, 0, kSymbols - 1));
  return s;
}

Example copy_example(Rng& rng, int lo, int hi) {
  const std::string s = random_symbols(rng, lo, hi);
  return {chars(s), chars(s)};
}

Example reverse_example(Rng& rng, int lo, int hi) {
  const std::string s = random_symbols(rng, lo, hi);
  return {chars(s), chars(std::string(s.rbegin(), s.rend()))};
}

Example sort_example(Rng& rng, int lo, int hi) {
  const std::string s = random_symbols(rng, lo, hi);
  std::string sorted = s;
  std::sort(sorted.begin(), sorted.end());
  return {chars(s), chars(sorted)};
}

std::string random_number(Rng& rng, int lo, int hi) {
  const int digits = draw_in(rng, lo, hi);
  if (digits == 1) return std::string(1, static_cast<char>('0' + draw_in(rng, 0, 9)));
  std::string s(1, static_cast<char>('0' + draw_in(rng, 1, 9)));
  for (int i = 1; i < digits; ++i) s += static_cast<char>('0' + draw_in(rng, 0, 9));
  return s;
}

// Schoolbook addition on decimal strings, so any digit count works.
std::string add_decimal(const std::string& a, const std::string& b) {
  std::string sum;
  int carry = 0;
  for (std::size_t i = 0; i < std::max(a.size(), b.size()) || carry; ++i) {
    int d = carry;
    if (i < a.size()) d += a[a.size() - 1 - i] - '0';
    if (i < b.size()) d += b[b.size() - 1 - i] - '0';
    sum += static_cast<char>('0' + d % 10);
    carry = d / 10;
  }
  return std::string(sum.rbegin(), sum.rend());
}

Example add_example(Rng& rng, int lo, int hi) {
  const std::string a = random_number(rng, lo, hi);
  const std::string b = random_number(rng, lo, hi);
  return {chars(a + "+" + b), chars(add_decimal(a, b))};
}

const char* const kMonths[12] = {"january", "february", "march",     "april",   "may",      "june",
                                 "july",    "august",   "september", "october", "november", "december"};
const char* const kWeekdays[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                  "friday", "saturday", "sunday"};
constexpr int kFirstYear = 1950, kYears = 100;

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// 0 = monday. Counts days from 1950-01-01, which was a sunday.
int weekday(int y, int m, int d) {
  long days = d - 1;
  for (int year = kFirstYear; year < y; ++year) days += is_leap(year) ? 366 : 365;
  for (int month = 1; month < m; ++month) days += days_in_month(y, month);
  return static_cast<int>((days + 6) % 7);
}

std::string ordinal(int d) {
  const char* suffix = "th";
  if (d % 10 == 1 && d != 11) suffix = "st";
  if (d % 10 == 2 && d != 12) suffix = "nd";
  if (d % 10 == 3 && d != 13) suffix = "rd";
  return std::to_string(d) + suffix;
}

std::string two_digits(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

constexpr int kDateFormats = 11;

// Every format names day, month and year unambiguously; two-digit years are 50..99 -> 19xx.
std::string format_date(int format, int y, int m, int d) {
  const std::string month = kMonths[m - 1], mon = month.substr(0, 3);
  const std::string day = std::to_string(d), year = std::to_string(y);
  const std::string wday = kWeekdays[weekday(y, m, d)];
  switch (format) {
    case 0: return month + " " + day + ", " + year;
    case 1: return day + " " + month + " " + year;
    case 2: return mon + " " + day + " " + year;
    case 3: return wday + ", " + month + " " + day + ", " + year;
    case 4: return two_digits(m) + "/" + two_digits(d) + "/" + year;
    case 5: return day + "." + std::to_string(m) + "." + year;
    case 6: return year + "." + two_digits(m) + "." + two_digits(d);
    case 7: return day + " " + mon + " " + two_digits(y % 100);
    case 8: return month + " " + ordinal(d) + ", " + year;
    case 9: return "the " + ordinal(d) + " of " + month + " " + year;
    default: return wday.substr(0, 3) + " " + day + " " + mon + " " + year;
  }
}

Example dates_example(Rng& rng, int, int) {
  const int y = draw_in(rng, kFirstYear, kFirstYear + kYears - 1);
  const int m = draw_in(rng, 1, 12);
  const int d = draw_in(rng, 1, days_in_month(y, m));
  const int format = draw_in(rng, 0, kDateFormats - 1);
  const std::string iso = std::to_string(y) + "-" + two_digits(m) + "-" + two_digits(d);
  return {chars(format_date(format, y, m, d)), chars(iso)};
}

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  return a != 0 && b > kMax / a ? kMax : a * b;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) { return b > kMax - a ? kMax : a + b; }

std::uint64_t power(std::uint64_t base, int exponent) {
  std::uint64_t p = 1;
  for (int i = 0; i < exponent; ++i) p = saturating_mul(p, base);
  return p;
}

// Number of distinct sources with lengths in [lo, hi].
std::uint64_t strings_capacity(int lo, int hi) {
  std::uint64_t n = 0;
  for (int len = lo; len <= hi; ++len) n = saturating_add(n, power(kSymbols, len));
  return n;
}

std::uint64_t add_capacity(int lo, int hi) {
  std::uint64_t numbers = 0;
  for (int digits = lo; digits <= hi; ++digits)
    numbers = saturating_add(numbers, digits == 1 ? 10 : saturating_mul(9, power(10, digits - 1)));
  return saturating_mul(numbers, numbers);
}

std::uint64_t dates_capacity(int, int) { return 36525u * kDateFormats; }  // 25 leap years in range

// ---- gold alignments: the source position each output position was written from --------------

using Alignment = std::vector<int>;

Alignment copy_alignment(const std::vector<std::string>& src, const std::vector<std::string>& out) {
  const int S = static_cast<int>(src.size());
  Alignment gold(out.size(), -1);
  for (int i = 0; i < static_cast<int>(out.size()) && i < S; ++i) gold[i] = i;
  return gold;
}

Alignment reverse_alignment(const std::vector<std::string>& src, const std::vector<std::string>& out) {
  const int S = static_cast<int>(src.size());
  Alignment gold(out.size(), -1);
  for (int i = 0; i < static_cast<int>(out.size()) && i < S; ++i) gold[i] = S - 1 - i;
  return gold;
}

// Output i is the source position of that character, first unused occurrence.
Alignment sort_alignment(const std::vector<std::string>& src, const std::vector<std::string>& out) {
  const int S = static_cast<int>(src.size());
  Alignment gold(out.size(), -1);
  std::vector<bool> used(src.size(), false);
  for (std::size_t i = 0; i < out.size(); ++i)
    for (int j = 0; j < S; ++j)
      if (!used[j] && src[j] == out[i]) {
        used[j] = true;
        gold[i] = j;
        break;
      }
  return gold;
}

bool is_digit_token(const std::string& token) {
  return token.size() == 1 && std::isdigit(static_cast<unsigned char>(token[0]));
}

// Only the year is aligned: the four output digits YYYY with the source's four-digit year (the
// formats with a two-digit year have no gold position).
Alignment dates_alignment(const std::vector<std::string>& src, const std::vector<std::string>& out) {
  const int S = static_cast<int>(src.size());
  Alignment gold(out.size(), -1);
  if (out.size() < 4) return gold;
  for (int j = 0; j + 4 <= S; ++j) {
    bool match = true;
    for (int k = 0; k < 4; ++k) match = match && src[j + k] == out[k];
    const bool left_ok = j == 0 || !is_digit_token(src[j - 1]);
    const bool right_ok = j + 4 == S || !is_digit_token(src[j + 4]);
    if (match && left_ok && right_ok) {
      for (int k = 0; k < 4; ++k) gold[k] = j + k;
      break;
    }
  }
  return gold;
}

struct Task {
  const char* name;
  const char* description;
  bool uses_lengths;
  int min_len, max_len;
  std::size_t train_size;
  Example (*draw)(Rng&, int, int);
  std::uint64_t (*capacity)(int, int);
  Alignment (*align)(const std::vector<std::string>&, const std::vector<std::string>&);  // nullptr = none known
  const char* alignment_note;  // how `align` aligns, one sentence ("" without one)
};

const std::vector<Task>& all_tasks() {
  static const std::vector<Task> tasks = {
      {"copy", "copy a random string over the letters a..t", true, 5, 15, 10000, copy_example,
       strings_capacity, copy_alignment, "output position i is aligned with source position i."},
      {"reverse", "reverse a random string over the letters a..t", true, 5, 15, 10000,
       reverse_example, strings_capacity, reverse_alignment,
       "output position i is aligned with source position S\u22121\u2212i."},
      {"sort", "sort the letters of a random string over a..t", true, 5, 15, 10000, sort_example,
       strings_capacity, sort_alignment,
       "output character i is aligned with its position in the source (the first not yet used occurrence "
       "of that character)."},
      {"add", "add two non-negative integers written as \"A+B\" (lengths are digit counts)", true, 1,
       6, 10000, add_example, add_capacity, nullptr, ""},
      {"dates", "rewrite a human-written date (1950..2049) as ISO 8601 YYYY-MM-DD", false, 1, 1,
       20000, dates_example, dates_capacity, dates_alignment,
       "only the four year digits of the output have a gold position (the source's four-digit year); month "
       "and day are rewritten, not copied, and sources with a two-digit year have none."},
  };
  return tasks;
}

const Task* task_named(const std::string& name) {
  for (const auto& task : all_tasks())
    if (task.name == name) return &task;
  return nullptr;
}

const Task& find_task(const std::string& name) {
  if (const Task* task = task_named(name)) return *task;
  std::string valid;
  for (const auto& n : task_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("unknown task '" + name + "' (valid: " + valid + ")");
}

void check_range(const std::string& what, int lo, int hi) {
  if (lo < 1 || hi < 1)
    throw Error(what + " lengths must be at least 1 (got " + std::to_string(lo) + ".." +
                std::to_string(hi) + ")");
  if (lo > hi)
    throw Error(what + " min length " + std::to_string(lo) + " is greater than max length " +
                std::to_string(hi));
}

std::string key(const std::vector<std::string>& tokens) {
  std::string k;
  for (const auto& t : tokens) k += t + '\x1f';
  return k;
}

}  // namespace

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const auto& task : all_tasks()) names.push_back(task.name);
  return names;
}

std::string task_description(const std::string& name) { return find_task(name).description; }

Example task_example(const std::string& name, std::uint64_t seed) {
  const Task& task = find_task(name);
  Rng rng(seed);
  return task.draw(rng, task.min_len, task.max_len);
}

bool task_has_alignment(const std::string& name) {
  const Task* task = task_named(name);
  return task && task->align;
}

std::string task_alignment_note(const std::string& name) {
  return task_has_alignment(name) ? task_named(name)->alignment_note : "";
}

std::vector<int> task_gold_alignment(const std::string& name, const std::vector<std::string>& src,
                                     const std::vector<std::string>& out) {
  if (!task_has_alignment(name)) return std::vector<int>(out.size(), -1);
  return task_named(name)->align(src, out);
}

TaskData make_task(const TaskOptions& options) {
  const Task& task = find_task(options.name);
  int lo = task.min_len, hi = task.max_len, test_lo = lo, test_hi = hi;
  if (task.uses_lengths) {
    if (options.min_len != 0) lo = options.min_len;
    if (options.max_len != 0) hi = options.max_len;
    test_lo = options.test_min_len != 0 ? options.test_min_len : lo;
    test_hi = options.test_max_len != 0 ? options.test_max_len : hi;
    check_range("task " + options.name + " train/valid", lo, hi);
    check_range("task " + options.name + " test", test_lo, test_hi);
  }
  const std::size_t n_train = options.train_size != 0 ? options.train_size : task.train_size;
  const std::size_t n_valid = options.valid_size != 0 ? options.valid_size : 500;
  const std::size_t n_test = options.test_size != 0 ? options.test_size : 1000;

  const bool same_range = lo == test_lo && hi == test_hi;
  const std::uint64_t need = n_train + n_valid + (same_range ? n_test : 0);
  if (task.capacity(lo, hi) < need)
    throw Error("task " + options.name + " has only " + std::to_string(task.capacity(lo, hi)) +
                " distinct sources of length " + std::to_string(lo) + ".." + std::to_string(hi) +
                " but the splits need " + std::to_string(need) +
                "; raise max_len or lower the split sizes");
  if (!same_range && task.capacity(test_lo, test_hi) < n_test)
    throw Error("task " + options.name + " has only " +
                std::to_string(task.capacity(test_lo, test_hi)) + " distinct sources of length " +
                std::to_string(test_lo) + ".." + std::to_string(test_hi) + " but test needs " +
                std::to_string(n_test) + "; raise test_max_len or lower test_size");

  Rng rng(options.seed);
  std::unordered_set<std::string> seen;
  const auto fill = [&](const char* split, std::size_t n, int min_len, int max_len) {
    std::vector<Example> examples;
    examples.reserve(n);
    // Coupon collecting needs about n ln n draws when nearly every source is required.
    const std::size_t max_failures = 1000 + 30 * n;
    std::size_t failures = 0;
    while (examples.size() < n) {
      Example e = task.draw(rng, min_len, max_len);
      if (seen.insert(key(e.src)).second) {
        examples.push_back(std::move(e));
      } else if (++failures > max_failures) {
        throw Error("task " + options.name + ": could not draw " + std::to_string(n) + " " + split +
                    " sources unseen in earlier splits; widen the length ranges or lower the sizes");
      }
    }
    return examples;
  };
  TaskData data;
  data.train = fill("train", n_train, lo, hi);
  data.valid = fill("valid", n_valid, lo, hi);
  data.test = fill("test", n_test, test_lo, test_hi);
  return data;
}

}  // namespace attend
