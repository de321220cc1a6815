// Built-in generated toy tasks (copy, reverse, sort, add, dates), deterministic given a seed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace attend {

// Source and target tokens; every built-in task is char-level and sources carry no </s>.
struct Example {
  std::vector<std::string> src, tgt;
};

struct TaskOptions {
  std::string name = "dates";
  std::size_t train_size = 0, valid_size = 0, test_size = 0;  // 0 = task default
  int min_len = 0, max_len = 0;            // input length range of train/valid; 0 = task default
  int test_min_len = 0, test_max_len = 0;  // 0 = same as min_len/max_len
  std::uint64_t seed = 1;
};

// One size or length option of a task, declared once for every place that names it: metrics
// files and grid signatures (`key`), the command line and a checkpoint's info (`option`).
using TaskMember = std::variant<std::size_t TaskOptions::*, int TaskOptions::*>;
struct TaskField {
  const char* key;     // "train_size"
  const char* option;  // "train-size"
  const char* help;    // one line
  TaskMember member;

  std::string get(const TaskOptions& t) const;  // decimal
};
// The sizes and lengths of TaskOptions (not its name or seed), in the order help texts show them.
const std::vector<TaskField>& task_fields();

struct TaskData {
  std::vector<Example> train, valid, test;
};

// The three splits share no source string. Throws Error for an unknown name or impossible options.
TaskData make_task(const TaskOptions& options);
std::vector<std::string> task_names();
std::string task_description(const std::string& name);
Example task_example(const std::string& name, std::uint64_t seed = 1);

// Whether the task has a known source↔output alignment (copy, reverse, sort, dates); false for
// any other name.
bool task_has_alignment(const std::string& name);
// How the task's gold alignment is defined, one sentence; "" without one.
std::string task_alignment_note(const std::string& name);
// The gold source position of each position of `out` (the reference output of `src`), −1 where
// the task defines none; all −1 for a task without a known alignment.
std::vector<int> task_gold_alignment(const std::string& name, const std::vector<std::string>& src,
                                     const std::vector<std::string>& out);

}  // namespace attend
