#include "train/train_run.h"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <vector>

#include "core/error.h"
#include "data/atomic_file.h"
#include "data/data_loader.h"
#include "train/evaluate.h"
#include "train/gpu/gpu_device.h"
#include "train/gpu/gpu_trainer.h"
#include "train/loss_plot.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/run_setup.h"
#include "train/staging_dir.h"
#include "train/trainer.h"

namespace nova::train {

namespace fs = std::filesystem;
using ordered = nlohmann::ordered_json;

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// SIGINT/SIGTERM set a flag the loop checks after every step; the old handlers come back after.
class SignalGuard {
 public:
  explicit SignalGuard(bool active) : active_(active) {
    g_stop_signal = 0;
    if (!active_) return;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalGuard() {
    if (!active_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  bool active_;
  struct sigaction old_int_ {}, old_term_ {};
};

// The keys a resumed run must share with its checkpoint: anything else would not continue the
// same run (train.steps, the eval/save cadence and the optimiser may change).
void check_resume_compatible(const ordered& saved, const RunConfig& now, const std::string& where) {
  for (const auto& [key, value] : now.values.items()) {
    const bool pinned = key.rfind("model.", 0) == 0 || key.rfind("data.", 0) == 0 || key == "train.seed";
    if (!pinned) continue;
    if (!saved.contains(key)) {
      // A key added after the checkpoint was written: compatible while it keeps its default.
      if (now.sources.count(key) && now.sources.at(key) == "default") continue;
      fail(where, "the checkpoint's config has no '" + key + "'");
    }
    if (saved[key] != value)
      fail(where, "the checkpoint was trained with " + key + " = " + saved[key].dump() + ", this run sets " +
                      value.dump() + " (a resumed run must keep model.*, data.* and train.seed)");
  }
}

CheckpointFileHook fault_injection_hook() {
  // NOVA_TEST_KILL_DURING_SAVE=<file>: SIGKILL ourselves right after <file> is staged, to test
  // that a killed save leaves no partial checkpoint.
  const char* env = std::getenv("NOVA_TEST_KILL_DURING_SAVE");
  if (!env || !*env) return {};
  const std::string file = env;
  return [file](const std::string& name) {
    if (name == file) std::raise(SIGKILL);
  };
}

// train.device cuda: the checks that need no data (a CUDA build, the device, a dense model), before
// any work. A from-scratch MoE model.config was already refused when the config was read; a
// checkpoint's architecture (the one being resumed, or model.init) is known only here.
void check_gpu_run(const RunConfig& config, const std::string& resume_dir) {
  std::string why;
  if (!cuda_device_available(config.train.device_index, &why)) fail("train.device", why);
  const std::string dir = !resume_dir.empty() ? resume_dir : config.model.init;
  if (!dir.empty())
    check_gpu_trainable_model(formats::load_hf_config((fs::path(dir) / "config.json").string()), "train.device");
}

std::string fixed(double v, int decimals = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

RunResult run_training(const RunConfig& config, const RunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  const std::string out_dir = config.output_dir;

  std::string why;
  if (config.train.cuda() && !cuda_device_available(config.train.device_index, &why)) fail("train.device", why);

  // Which checkpoint (if any) to continue from.
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) fail(out_dir, "cannot create the output directory: " + ec.message());
  const int stale = remove_stale_staging_dirs(out_dir);
  std::string resume_dir;
  if (options.resume == "latest") {
    if (auto latest = latest_checkpoint(out_dir)) resume_dir = *latest;
  } else if (!options.resume.empty()) {
    resume_dir = options.resume;
    if (!fs::is_directory(resume_dir, ec)) fail(resume_dir, "no such checkpoint directory");
  } else if (auto existing = latest_checkpoint(out_dir)) {
    fail(out_dir, "already holds checkpoints (" + fs::path(*existing).filename().string() +
                      "); pass --resume to continue that run, or choose another output.dir");
  }

  TrainerState state;
  state.seed = config.train.seed;
  state.config = config.values;
  if (!resume_dir.empty()) {
    state = read_trainer_state(resume_dir);
    check_resume_compatible(state.config, config, resume_dir + "/trainer_state.json");
    state.config = config.values;
    if (state.step > config.train.steps)
      fail("train.steps", "the checkpoint is at step " + std::to_string(state.step) + ", past train.steps = " +
                              std::to_string(config.train.steps));
  }

  if (config.train.cuda()) check_gpu_run(config, resume_dir);

  // Data, model, optimiser.
  const RunData run_data = open_run_data(config);
  std::unique_ptr<TrainModel> model = build_train_model(config, run_data, resume_dir);
  TrainerConfig tc;
  tc.adamw = {config.optim.beta1, config.optim.beta2, config.optim.eps, config.optim.weight_decay};
  tc.schedule.kind = parse_lr_schedule_kind(config.optim.schedule, "optim.schedule");
  tc.schedule.lr = config.optim.lr;
  tc.schedule.min_lr = config.optim.min_lr;
  tc.schedule.warmup_steps = config.optim.warmup_steps;
  tc.schedule.total_steps = config.train.steps;
  tc.grad_clip = config.optim.grad_clip;
  Trainer trainer(*model, tc);
  data::DataLoader loader(run_data.train, {config.data.batch_size, config.data.seq_len, config.train.seed, true});
  if (!resume_dir.empty()) {
    load_optimizer_state(resume_dir, trainer.optimizer());
    loader.restore(state.cursor);
  }
  // train.device cuda: the GPU trainer takes over the steps and evaluations; the host model and
  // optimiser keep serving the checkpoint writer and reader (downloaded before every save).
  std::unique_ptr<GpuTrainer> gpu;
  if (config.train.cuda()) {
    gpu = std::make_unique<GpuTrainer>(model->config(), model->params(), tc,
                                       GpuTrainOptions{config.train.device_index, config.train.bf16(),
                                                       config.train.recompute, model->options().router_aux_loss_coef});
    if (!resume_dir.empty()) gpu->upload(model->params(), trainer.optimizer());
  }
  const std::map<std::string, std::string> carried = carried_files(config, run_data, resume_dir);
  const CheckpointFileHook hook = options.after_checkpoint_file ? options.after_checkpoint_file : fault_injection_hook();

  MetricsLog metrics((fs::path(out_dir) / kMetricsFile).string(), state.step);
  Progress progress(log, options.terminal.value_or(stderr_is_terminal()), config.train.log_every);
  const formats::ModelConfig& mc = model->config();
  if (stale > 0) progress.message("removed " + std::to_string(stale) + " unfinished checkpoint(s) of an interrupted save");
  progress.message(std::string(resume_dir.empty() ? "training " : "resuming at step " + std::to_string(state.step) + " from " + resume_dir + ": ") +
                   mc.model_type + " model, " + std::to_string(model->params().numel()) + " parameters (" +
                   std::to_string(mc.num_layers) + " layers, hidden " + std::to_string(mc.hidden_size) + ", vocab " +
                   std::to_string(mc.vocab_size) + "); " + std::to_string(run_data.train->size()) + " train tokens" +
                   (run_data.val ? ", " + std::to_string(run_data.val->size()) + " val tokens" : ", no validation split") +
                   "; " + std::to_string(config.train.steps) + " steps of " +
                   std::to_string(config.data.batch_size * config.data.grad_accum) + " x " +
                   std::to_string(config.data.seq_len) + " tokens on " + config.train.device + " (" +
                   config.train.precision + ") -> " + out_dir);

  RunResult result;
  result.best_eval_loss = state.best_eval_loss;
  const std::string plot_path = (fs::path(out_dir) / kLossPlotFile).string();
  auto refresh_plot = [&]() {
    LossPlotOptions po;
    po.title = "loss: " + fs::path(out_dir).filename().string();
    data::write_file_atomically(plot_path, {loss_plot_svg(metrics.curves(), po)});
  };
  auto contents = [&]() {
    state.cursor = loader.cursor();
    if (gpu) gpu->download(model->params(), trainer.optimizer());
    state.optimizer_steps = gpu ? gpu->step_count() : trainer.step_count();
    CheckpointContents c;
    c.config = &mc;
    c.params = &model->params();
    c.optimizer = &trainer.optimizer();
    c.state = &state;
    c.files = carried;
    return c;
  };
  // A checkpoint resumed from the run directory is already saved at its step.
  int64_t saved_at = options.resume == "latest" && !resume_dir.empty() ? state.step : -1;
  if (saved_at >= 0) result.last_checkpoint = resume_dir;
  int64_t evaluated_at = -1;
  auto save = [&]() {
    const std::string dir = (fs::path(out_dir) / checkpoint_name(state.step)).string();
    write_checkpoint(dir, contents(), hook);
    prune_checkpoints(out_dir, config.train.keep_last);
    saved_at = state.step;
    result.last_checkpoint = dir;
    refresh_plot();
    progress.message("saved " + dir);
  };
  auto evaluate = [&]() {
    if (!run_data.val) return;
    const EvalResult e = evaluate_loss_with(
        [&](const Batch& b) { return gpu ? gpu->evaluate(b) : model->forward(b); }, run_data.val,
        config.data.batch_size, config.data.seq_len, config.train.eval_batches);
    evaluated_at = state.step;
    result.last_eval_loss = e.loss;
    ordered line;
    line["split"] = "val";
    line["step"] = state.step;
    line["loss"] = e.loss;
    line["perplexity"] = e.perplexity;
    line["tokens"] = e.tokens;
    metrics.write(line);
    std::string note;
    if (!state.best_eval_loss || e.loss < *state.best_eval_loss) {
      state.best_eval_loss = e.loss;
      state.best_step = state.step;
      result.best_eval_loss = e.loss;
      write_checkpoint((fs::path(out_dir) / kBestDir).string(), contents(), hook);
      note = " (best so far, saved to best/)";
    }
    refresh_plot();
    progress.message("step " + std::to_string(state.step) + ": val loss " + fixed(e.loss) + ", perplexity " +
                     fixed(e.perplexity, 2) + note);
  };

  SignalGuard signals(options.handle_signals);
  std::vector<Batch> micro(static_cast<size_t>(config.data.grad_accum));
  const auto session_start = std::chrono::steady_clock::now();
  const int64_t first_step = state.step;
  bool stop = false;
  while (state.step < config.train.steps && !stop) {
    const auto t0 = std::chrono::steady_clock::now();
    for (Batch& b : micro) b = to_train_batch(loader.next());
    const StepResult r = gpu ? gpu->step(micro) : trainer.step(micro);
    const auto t1 = std::chrono::steady_clock::now();
    ++state.step;
    state.tokens_seen += r.tokens;
    if (r.skipped) ++state.skipped_steps;
    const double dt = std::chrono::duration<double>(t1 - t0).count();
    const double elapsed = std::chrono::duration<double>(t1 - session_start).count();
    const double tokens_per_s = dt > 0 ? static_cast<double>(r.tokens) / dt : 0.0;

    ordered line;
    line["split"] = "train";
    line["step"] = state.step;
    line["loss"] = r.loss;
    if (mc.num_experts > 0) {  // MoE: the objective's parts
      line["ce_loss"] = r.ce_loss;
      line["aux_loss"] = r.aux_loss;
    }
    line["lr"] = r.lr;
    line["grad_norm"] = r.grad_norm;
    line["tokens"] = r.tokens;
    line["tokens_per_s"] = tokens_per_s;
    line["skipped"] = r.skipped;
    if (r.skipped) line["skip_reason"] = r.skip_reason;
    line["elapsed_s"] = elapsed;
    metrics.write(line);
    if (r.skipped) progress.message("step " + std::to_string(state.step) + " skipped: " + r.skip_reason);

    ProgressLine pl;
    pl.step = state.step;
    pl.total = config.train.steps;
    pl.loss = r.loss;
    pl.aux_loss = mc.num_experts > 0 ? std::optional<double>(r.aux_loss) : std::nullopt;
    pl.lr = r.lr;
    pl.grad_norm = r.grad_norm;
    pl.tokens_per_s = tokens_per_s;
    pl.skipped = r.skipped;
    pl.eta_s = elapsed / static_cast<double>(state.step - first_step) * static_cast<double>(config.train.steps - state.step);
    progress.update(pl);

    if (g_stop_signal != 0) result.signal = g_stop_signal;
    stop = result.signal != 0 || (options.stop_after_step && options.stop_after_step(state.step));
    const bool last = state.step == config.train.steps;
    if (!stop && !last) {
      if (config.train.eval_every > 0 && state.step % config.train.eval_every == 0) evaluate();
      if (config.train.save_every > 0 && state.step % config.train.save_every == 0) save();
    }
  }

  if (stop && state.step < config.train.steps) {
    progress.message(std::string("stopping") + (result.signal ? " on signal " + std::to_string(result.signal) : "") +
                     " at step " + std::to_string(state.step) + "; saving a checkpoint");
    if (saved_at != state.step) save();
    progress.message("resume with --resume (continues exactly where this run stopped)");
  } else {
    // A run resumed at its last step already evaluated it before that checkpoint was written.
    const bool nothing_done = state.step == first_step && !resume_dir.empty();
    if (evaluated_at != state.step && !nothing_done) evaluate();
    if (saved_at != state.step) save();
    result.completed = true;
  }
  progress.finish();
  result.step = state.step;
  return result;
}

}  // namespace nova::train
