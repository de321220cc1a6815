#include "attend/core/blas_threads.hpp"
#include "attend/experiment/runner.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <unistd.h>

#include "attend/core/atomic_file.hpp"
#include "attend/core/error.hpp"
#include "attend/experiment/grid_axis.hpp"
#include "attend/experiment/rate_search.hpp"
#include "grid_file.hpp"
#include "run_one.hpp"
#include "run_record.hpp"

namespace attend {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

class Runner {
 public:
  Runner(const CompareOptions& o, const DataSource& s, const GridProgressFn& f)
      : opt_(o), source_(s), progress_(f), ranks_(o.ranks ? *o.ranks : alone_) {}

  CompareResult run() {
    validate_grid(opt_);
    if (!source_.load && !source_.shared) throw Error("the data source has no loader");
    if (!source_.corpus && (opt_.beam != 1 || opt_.length_penalty != 0 || opt_.bleu_lowercase ||
                            opt_.bleu_every != 0 || opt_.time_limit != 0))
      throw Error("--beam, --length-penalty, --lc, --bleu-every and --time-limit apply to a grid on "
                  "files (--train-src ...), not to a built-in task");
    const fs::path out(opt_.out_dir);
    // Rank 0 alone creates the directory and checks and writes grid.json; under mpirun the other
    // ranks wait for its verdict and for the directory their claims go to.
    std::string refusal;
    if (ranks_.root()) {
      try {
        std::error_code ec;
        fs::create_directories(out, ec);
        if (ec) throw Error("cannot create the output directory '" + out.string() + "': " + ec.message());
        check_grid_file(out);
        if (spread()) claims_ = make_claims_dir(out);
      } catch (const std::exception& e) {
        if (!spread()) throw;
        refusal = e.what();
      }
    }
    if (spread()) {
      ranks_.broadcast(refusal);
      if (!refusal.empty()) throw GridRefused(refusal);
      std::string claims = claims_.string();
      ranks_.broadcast(claims);
      claims_ = claims;
    }

    status_.total_runs = planned_runs(opt_);
    start_ = Clock::now();
    const std::size_t threads = opt_.threads ? opt_.threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<RunResult> runs = run_all(grid_runs(opt_), out, threads);
    std::map<std::string, double> chosen;
    std::map<std::string, VariantTraining> training;
    std::vector<double> all_rates;  // every variant's candidates, in grid order
    for (const Variant& v : grid_variants(opt_)) {
      VariantTraining t = variant_training(opt_, v);
      for (double lr : t.lr_grid)
        if (std::find(all_rates.begin(), all_rates.end(), lr) == all_rates.end()) all_rates.push_back(lr);
      training[v.name()] = std::move(t);
    }
    // With --for rules the report's rate columns are every candidate in ascending order.
    if (!opt_.rules.empty()) std::sort(all_rates.begin(), all_rates.end());
    if (!all_rates.empty()) {
      chosen = choose_rates(runs);
      const auto second = second_stage_runs(opt_, chosen);
      {
        // A variant without a successful first-stage run has no rate for its other seeds.
        std::lock_guard<std::mutex> lock(status_mutex_);
        status_.total_runs = runs.size() + second.size();
      }
      std::vector<RunResult> more = run_all(second, out, threads);
      // Grid order: each variant's first-stage runs, then its other seeds.
      std::vector<RunResult> ordered;
      for (auto& r : runs) {
        const std::string v = r.spec.variant.name();
        const bool last_of_variant = &r == &runs.back() || (&r + 1)->spec.variant.name() != v;
        ordered.push_back(std::move(r));
        if (last_of_variant)
          for (auto& m : more)
            if (m.spec.variant.name() == v) ordered.push_back(std::move(m));
      }
      runs = std::move(ordered);
    }
    // Every rank has made its last claim and written its last marker (the gather is behind them).
    if (spread() && ranks_.root()) {
      std::error_code ignored;
      fs::remove_all(claims_, ignored);
    }
    CompareResult r;
    r.runs = std::move(runs);
    r.alignment = source_.alignment;
    r.data_name = source_.name;
    r.seconds = seconds();
    r.corpus = source_.corpus;
    r.data_description = source_.description;
    r.bleu_lowercase = opt_.bleu_lowercase;
    r.beam = opt_.beam;
    r.budget = budget_text(opt_);
    r.converge = opt_.budget == Budget::Converge;
    r.lr_grid = all_rates;
    r.chosen_lr = chosen;
    r.training = std::move(training);
    r.time_limit = opt_.time_limit;
    r.hidden = opt_.model.hidden;
    return r;
  }

  // Trains (or reads back) the runs of `specs`, opt_.jobs at a time; under mpirun the ranks share
  // them out and every rank returns all of them.
  std::vector<RunResult> run_all(const std::vector<RunSpec>& specs, const fs::path& out, std::size_t threads) {
    std::vector<RunResult> results(specs.size());
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      results[i].spec = specs[i];
      results[i].run_dir = (out / specs[i].name()).string();
    }
    if (ranks_.root())
      for (std::size_t i = 0; i < specs.size(); ++i)
        if (opt_.force ||
            !read_finished(results[i].run_dir, specs[i], results[i], variant_training(opt_, specs[i].variant).settings))
          todo.push_back(i);
    if (spread()) share_finished(specs, results, todo);
    {
      std::lock_guard<std::mutex> lock(status_mutex_);
      const std::size_t skipped = specs.size() - todo.size();
      status_.skipped += skipped;
      status_.finished += skipped;
      notify("");
    }
    const std::size_t jobs = std::max<std::size_t>(1, std::min(opt_.jobs, std::max<std::size_t>(1, todo.size())));
    set_blas_threads(std::max<std::size_t>(1, threads / jobs));
    std::vector<char> trained_here(todo.size(), 0);
    std::atomic<std::size_t> next{0};
    std::mutex claim_mutex;
    std::string claim_error;
    // Every rank and thread walks the same list in order and trains each run it claims first, so a
    // rank that finishes a run takes the next one nobody has.
    auto worker = [&] {
      for (std::size_t k; (k = next++) < todo.size();) {
        try {
          if (spread() && !claim(specs[todo[k]])) continue;
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(claim_mutex);
          claim_error = e.what();
          return;
        }
        trained_here[k] = 1;
        execute(results[todo[k]]);
      }
    };
    if (jobs == 1) {
      worker();
    } else {
      std::vector<std::thread> pool;
      for (std::size_t j = 0; j < jobs; ++j) pool.emplace_back(worker);
      for (auto& t : pool) t.join();
    }
    if (!claim_error.empty()) throw Error(claim_error);
    if (spread()) {
      gather_trained(specs, todo, trained_here, results);
      std::lock_guard<std::mutex> lock(status_mutex_);
      peers_read_at_ = -1;  // every rank's runs of this stage are done: count them afresh
      notify("");
    }
    return results;
  }

 private:
  using Clock = std::chrono::steady_clock;

  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  bool spread() const { return ranks_.size() > 1; }

  // OUT/.claims-<random id>: this job's claims, apart from those an interrupted job left behind.
  static fs::path make_claims_dir(const fs::path& out) {
    std::random_device device;
    for (int attempt = 0; attempt < 100; ++attempt) {
      const std::uint64_t id = (std::uint64_t(device()) << 32) ^ device() ^
                               std::uint64_t(Clock::now().time_since_epoch().count());
      char name[40];
      std::snprintf(name, sizeof name, ".claims-%016llx", static_cast<unsigned long long>(id));
      std::error_code ec;
      if (fs::create_directory(out / name, ec)) return out / name;
      if (ec) throw Error("cannot create '" + (out / name).string() + "': " + ec.message());
    }
    throw Error("cannot find an unused claims directory name under '" + out.string() + "'");
  }

  static std::string host_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return "?";
    return host;
  }

  std::string rank_text() const {
    return "rank " + std::to_string(ranks_.rank()) + " of " + std::to_string(ranks_.size()) + " on " + host_name();
  }

  // Whether this rank trains the run: the rank that creates its claim file first. O_CREAT | O_EXCL
  // is atomic on a local filesystem and on NFS from version 3 on, so exactly one rank succeeds
  // without any rank waiting for another (rank 0 is training while the others claim).
  bool claim(const RunSpec& spec) const {
    const std::string path = (claims_ / spec.name()).string();
    const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) {
      if (errno == EEXIST) return false;
      throw Error("cannot create the claim file '" + path + "': " + std::strerror(errno));
    }
    const std::string who = rank_text() + "\n";
    const bool written = ::write(fd, who.data(), who.size()) == static_cast<ssize_t>(who.size());
    ::close(fd);
    if (!written) throw Error("cannot write the claim file '" + path + "'");
    return true;
  }

  // Rank 0's view of the finished runs, sent to every rank: their results and the runs to train.
  // Every rank (rank 0 too) takes the results from the message, so all hold the same values.
  void share_finished(const std::vector<RunSpec>& specs, std::vector<RunResult>& results,
                      std::vector<std::size_t>& todo) {
    std::string message;
    if (ranks_.root()) {
      json finished = json::array();
      std::size_t k = 0;
      for (std::size_t i = 0; i < specs.size(); ++i) {
        if (k < todo.size() && todo[k] == i) {
          ++k;
          continue;
        }
        finished.push_back({i, to_json(results[i])});
      }
      message = json{{"finished", finished}, {"todo", todo}}.dump();
    }
    ranks_.broadcast(message);
    const json j = json::parse(message);
    todo = j.at("todo").get<std::vector<std::size_t>>();
    for (const auto& x : j.at("finished")) {
      const std::size_t i = x.at(0).get<std::size_t>();
      const std::string dir = results[i].run_dir;
      results[i] = from_json(x.at(1), specs[i]);
      results[i].run_dir = dir;
    }
  }

  // The runs each rank trained, to every rank, which all read them back the same way.
  void gather_trained(const std::vector<RunSpec>& specs, const std::vector<std::size_t>& todo,
                      const std::vector<char>& trained_here, std::vector<RunResult>& results) {
    json mine = json::array();
    for (std::size_t k = 0; k < todo.size(); ++k)
      if (trained_here[k]) mine.push_back({todo[k], to_json(results[todo[k]])});
    const std::vector<std::string> all = ranks_.all_gather(mine.dump());
    for (std::size_t rank = 0; rank < all.size(); ++rank)
      for (const auto& x : json::parse(all[rank])) {
        const std::size_t i = x.at(0).get<std::size_t>();
        try {
          const std::string dir = results[i].run_dir;
          results[i] = from_json(x.at(1), specs[i]);
          results[i].run_dir = dir;
          results[i].resumed = false;
        } catch (const std::exception& e) {
          throw Error("the results of run " + specs[i].name() + " from rank " + std::to_string(rank) +
                      " cannot be read back: " + e.what());
        }
      }
  }

  void check_grid_file(const fs::path& out) {
    const auto current = grid_signature(opt_, source_);
    const fs::path file = out / "grid.json";
    if (fs::exists(file) && !opt_.force) {
      // Grown or narrowed axes are the same grid; any other setting makes every run different.
      const auto diff = split_differences(read_grid_file(file), current).second;
      if (!diff.empty()) {
        std::string msg = "'" + out.string() + "' holds the results of a different grid (" +
                          std::to_string(diff.size()) + (diff.size() > 1 ? " settings differ):" : " setting differs):");
        for (const auto& d : diff) msg += "\n  " + d;
        msg += "\nuse another --out directory, or --force to retrain every run of this grid there (the axes " +
               changeable_axes_text() + " may change freely, and so may the --for rules: a variant whose training "
               "settings change retrains, the others keep their runs)";
        throw Error(msg);
      }
    }
    write_file_atomic(file.string(), json{{"signature", current}}.dump(2) + "\n");
  }

  std::shared_ptr<const CompareData> data_for(std::uint64_t seed) {
    if (source_.shared) return source_.shared;
    std::lock_guard<std::mutex> lock(data_mutex_);
    auto it = data_.find(seed);
    if (it != data_.end()) return it->second;
    auto d = std::make_shared<const CompareData>(source_.load(seed));
    data_[seed] = d;
    return d;
  }

  void notify(const std::string& event) {
    // Called with status_mutex_ held or before the workers start.
    if (!progress_) return;
    GridStatus s = status_;
    s.running.clear();
    for (const auto& kv : running_) s.running.push_back(kv.second);
    s.elapsed_s = seconds();
    s.event = event;
    if (spread()) {
      // The whole grid's counts; the running lines are this rank's own runs. The ETA is the
      // job's pace in runs so far.
      std::size_t finished = 0, failed = 0;
      peer_counts(finished, failed);
      s.finished = std::min(s.total_runs, status_.skipped + finished);
      s.failed = failed;
      const std::size_t done_here = s.finished - status_.skipped;
      s.eta_s = done_here ? (s.total_runs - s.finished) * s.elapsed_s / double(done_here) : -1;
      if (s.finished == s.total_runs) s.eta_s = 0;
      progress_(s);
      return;
    }
    // ETA from the steps done in this invocation.
    std::size_t done = done_steps_, remaining = 0;
    const std::size_t per_run = expected_steps_ ? expected_steps_ : opt_.train.steps;
    for (const auto& kv : running_) {
      done += kv.second.progress.step;
      remaining += kv.second.progress.total_steps - kv.second.progress.step;
    }
    const std::size_t pending = status_.total_runs - status_.finished - running_.size();
    remaining += pending * per_run;
    if (done > 0 && per_run > 0 && s.elapsed_s > 0) {
      s.eta_s = remaining * (s.elapsed_s / double(done));
    }
    if (status_.finished == status_.total_runs) s.eta_s = 0;
    progress_(s);
  }

  void execute(RunResult& r) {
    const RunSpec spec = r.spec;
    const std::string name = spec.name();
    const fs::path dir(r.run_dir);
    {
      std::lock_guard<std::mutex> lock(status_mutex_);
      GridStatus::Running run;
      run.name = name;
      run.progress.total_steps = opt_.train.steps;
      running_[name] = run;
      notify("");
    }
    std::string event;
    try {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw Error("cannot create '" + dir.string() + "': " + ec.message());
      std::ofstream log(dir / "train.log", std::ios::trunc);
      if (spread()) log << "trained by " << rank_text() << "\n";
      const auto data = data_for(spec.seed);
      train_run(r, opt_, source_, *data, log, [&](const TrainProgress& p) {
        std::lock_guard<std::mutex> lock(status_mutex_);
        if (!expected_steps_) expected_steps_ = p.total_steps;
        running_[name].progress = p;
        notify("");
      });
      std::lock_guard<std::mutex> lock(status_mutex_);
      done_steps_ += r.steps;
      event = name + (r.status == RunStatus::Diverged ? " diverged (NaN or infinite loss)" : " finished");
    } catch (const std::exception& e) {
      r.status = RunStatus::Failed;
      r.error = e.what();
      event = name + " failed: " + r.error;
      std::ofstream(dir / "error.txt", std::ios::trunc) << r.error << "\n";
    }
    if (spread()) {
      // For rank 0's display of the whole grid (peer_counts).
      std::ofstream((claims_ / (name + ".done")).string(), std::ios::trunc) << r.status << "\n";
    }
    std::lock_guard<std::mutex> lock(status_mutex_);
    running_.erase(name);
    ++status_.finished;
    if (r.status == RunStatus::Failed) ++status_.failed;
    notify(event);
  }

  // Under mpirun: the runs every rank has finished in this job and those that failed, from the
  // markers under the claims directory, read at most once a second.
  void peer_counts(std::size_t& finished, std::size_t& failed) {
    if (seconds() - peers_read_at_ >= 1.0 || peers_read_at_ < 0) {
      peers_finished_ = peers_failed_ = 0;
      std::error_code ec;
      for (fs::directory_iterator it(claims_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string n = it->path().filename().string();
        if (n.size() < 5 || n.compare(n.size() - 5, 5, ".done") != 0) continue;
        ++peers_finished_;
        std::ifstream in(it->path());
        std::string status;
        in >> status;
        peers_failed_ += status == to_string(RunStatus::Failed);
      }
      peers_read_at_ = seconds();
    }
    finished = peers_finished_;
    failed = peers_failed_;
  }

  const CompareOptions& opt_;
  const DataSource& source_;
  GridProgressFn progress_;
  SingleProcess alone_;
  Communicator& ranks_;
  fs::path claims_;  // under mpirun: OUT/.claims-<id>, this job's claim files and finished markers
  double peers_read_at_ = -1;
  std::size_t peers_finished_ = 0, peers_failed_ = 0;
  std::mutex data_mutex_, status_mutex_;
  std::map<std::uint64_t, std::shared_ptr<const CompareData>> data_;
  std::map<std::string, GridStatus::Running> running_;
  GridStatus status_;
  std::size_t done_steps_ = 0, expected_steps_ = 0;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

CompareResult run_compare(const CompareOptions& options, const DataSource& source,
                          const GridProgressFn& progress) {
  Runner runner(options, source, progress);
  return runner.run();
}

}  // namespace attend
