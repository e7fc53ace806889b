// Golden tests: a reference case → llmc import/build → run the binary → compare with the reference.
//
//   golden_runner hf LLMC CASE_DIR WORK_DIR [FEATURE_CHECKS_JSON]
//       Hugging Face case (config.json, model.safetensors, logits.bin, greedy.json, greedy_logits.npy)
//   golden_runner stories260k LLMC ARCH_YAML DATA_DIR WORK_DIR
//       llama2.c stories260K (arch from archs/, text/ids/logits goldens)
//   golden_runner gguf LLMC CASE_DIR WORK_DIR [--q8_0] [LLAMACPP_LOGITS]
//       the Hugging Face case written as a GGUF file here (F32, llama.cpp's names and layout) and imported
//       from it: the file against the reference (or llama.cpp's logits on it); with --q8_0 also as a Q8_0
//       file (matrices repacked) against the F32 one quantised at load (--dtype q8_0); an encoder–decoder (T5)
//       case gets the Hugging Face case's checks on its file
//   golden_runner gguf_encoder LLMC CASE_DIR WORK_DIR
//       the BERT case written as BertModel's GGUF (the encoder alone): hidden states and mean pooling
//   golden_runner kquant LLMC WORK_DIR
//       a random-weight llama with rows of 256 and 512 values written here as GGUF files (F32; Q4_K_M's
//       mix of Q4_K and Q6_K; all Q4_K; Q5_K_M's mix of Q5_K and Q6_K; all Q5_K; ggml's reference
//       quantisers): the mixes and all-Q4_K (repacked to q4_k / q5_k / q6_k) against their own values
//       dequantised to F32, all-Q4_K against --dtype q4_k at load and an `llmc quantize --dtype q4_k` file,
//       all-Q5_K against --dtype q5_k at load (bit for bit)
//
// Checks: greedy tokens identical; per-position logits NMSE = Σ(a−b)²/Σa² ≤ 1e-9 and max|a−b| ≤ 1e-3·max|a|;
// llmc's cached decoding (greedy steps) gives the logits of an uncached teacher-forced pass over the same
// tokens. With FEATURE_CHECKS_JSON, each listed feature switched off in the imported spec must move the logits
// far from the reference (NMSE > 1e-3 unless the entry sets min_nmse), so the case cannot pass without it.
// Prints the worst NMSE per comparison; exits non-zero on any failure, missing or short golden data included.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "../common/gguf_writer.hpp"
#include "llmc/weights.hpp"

namespace fs = std::filesystem;

namespace {

// llmc computes in f32 like the references (llama2.c run.c, PyTorch), so only summation order differs: every case
// reaches 2e-13..4e-12 (stories260K 1.9e-12), and none needs a looser bound.
// A wrong formula costs more: gpt_neox imported with tanh-GELU instead of erf-GELU gives prompt logits NMSE
// 3.4e-8 (which the former bound of 1e-6 passed).
constexpr double kMaxNmse = 1e-9;
constexpr double kMaxAbsRelative = 1e-3;
// A feature switched off must move the logits at least this far from the reference (unless feature_checks.json
// gives a bound of its own).
constexpr double kMinNmseWithoutFeature = 1e-3;
// The build flag of the binaries whose purpose is not the compiled numerics, which the Hugging Face cases check
// at llmc's default -O2: a spec imported from a GGUF file (its names, keys, layouts) and a spec with a feature
// switched off. -O1 compiles a model in about a quarter less time (stories260k: 8.9 -> 6.5 s).
const std::string kQuickBuild = " --opt -O1";
// The cases' checkpoints are fp32: their binaries need only the f32 kernels (the same code the default binary,
// with kernels for every format, runs on them), and build in about 30% less time.
const std::string kF32Kernels = " --formats f32";

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", p.c_str());
    std::exit(2);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<float> read_f32(const fs::path& p) {
  const std::string bytes = read_text(p);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// A little-endian float32 .npy file's data (C order).
std::vector<float> read_npy(const fs::path& p) {
  const std::string bytes = read_text(p);
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    std::fprintf(stderr, "%s: not a .npy file\n", p.c_str());
    std::exit(2);
  }
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  const std::string header = bytes.substr(10, header_len);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos) {
    std::fprintf(stderr, "%s: expected C-order <f4 data\n", p.c_str());
    std::exit(2);
  }
  std::vector<float> v((bytes.size() - 10 - header_len) / 4);
  std::memcpy(v.data(), bytes.data() + 10 + header_len, v.size() * 4);
  return v;
}

int run(const std::string& cmd) {
  std::printf("$ %s\n", cmd.c_str());
  std::fflush(stdout);
  const int status = std::system(cmd.c_str());
  return status;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Compares `rows` rows of `vocab` logits: got rows [got_first, ...) against ref rows [0, rows); each row must
// reach NMSE <= max_nmse (kMaxNmse unless a comparison of quantised weights says otherwise) and max |diff| <=
// max_abs_relative·max |ref|. Returns the worst row's NMSE.
double compare_logits(const std::vector<float>& got, size_t got_first, const std::vector<float>& ref, size_t rows,
                      size_t vocab, const std::string& what, double max_nmse = kMaxNmse,
                      double max_abs_relative = kMaxAbsRelative) {
  if (got.size() < (got_first + rows) * vocab || ref.size() < rows * vocab) {
    check(false, what + ": expected " + std::to_string(rows) + " rows of " + std::to_string(vocab) + " logits, got " +
                     std::to_string(got.size() / vocab) + " rows from llmc and " + std::to_string(ref.size() / vocab) +
                     " in the reference");
    return INFINITY;
  }
  double worst_nmse = 0, worst_abs = 0;
  size_t worst_row = 0;
  bool ok = true;
  for (size_t r = 0; r < rows; ++r) {
    const float* a = ref.data() + r * vocab;
    const float* b = got.data() + (got_first + r) * vocab;
    double err = 0, norm = 0, max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < vocab; ++i) {
      const double d = static_cast<double>(b[i]) - a[i];
      err += d * d;
      norm += static_cast<double>(a[i]) * a[i];
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(a[i])));
      max_diff = std::max(max_diff, std::fabs(d));
    }
    const double nmse = err / std::max(norm, 1e-30);
    if (!(nmse <= max_nmse) || !(max_diff <= max_abs_relative * max_ref)) ok = false;
    if (!(nmse <= worst_nmse)) {
      worst_nmse = nmse;
      worst_row = r;
    }
    worst_abs = std::max(worst_abs, max_diff);
  }
  char buf[320];
  std::snprintf(buf, sizeof buf, "%s: %zu rows, worst NMSE %.3g (row %zu, bound %g), max |diff| %.3g", what.c_str(),
                rows, worst_nmse, worst_row, max_nmse, worst_abs);
  check(ok, buf);
  return worst_nmse;
}

// NMSE of all of `got` against all of `ref` (same size), or infinity when the sizes differ.
double nmse(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size() || ref.empty()) return INFINITY;
  double err = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(got[i]) - ref[i];
    err += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  return err / std::max(norm, 1e-30);
}

std::vector<int> parse_ids(const std::string& text) {
  std::vector<int> ids;
  std::string item;
  std::stringstream ss(text);
  while (std::getline(ss, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), ::isspace), item.end());
    if (!item.empty()) ids.push_back(std::stoi(item));
  }
  return ids;
}

std::string join(const std::vector<int>& ids, const char* sep) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? sep : "") + std::to_string(ids[i]);
  return s;
}

// Each feature of feature_checks[case] switched off in the imported spec (text edits [from, to], each matching
// exactly once) must give prompt logits far from the reference: the golden cannot pass without that feature.
void check_features_matter(const fs::path& llmc, const std::string& golden_case, const nlohmann::json& checks,
                           const fs::path& dir, const std::string& tokens, const std::vector<float>& ref,
                           const fs::path& work) {
  if (!checks.contains(golden_case) || checks.at(golden_case).empty()) {
    check(false, "feature checks: no entry for " + golden_case);
    return;
  }
  const std::string spec = read_text(work / "arch.yaml");
  for (const nlohmann::json& f : checks.at(golden_case)) {
    const std::string feature = f.at("feature");
    std::string edited = spec;
    bool applied = true;
    for (const nlohmann::json& e : f.at("edits")) {
      const std::string from = e.at(0), to = e.at(1);
      const size_t at = edited.find(from);
      if (at == std::string::npos || edited.find(from, at + 1) != std::string::npos) {
        check(false, "feature '" + feature + "': expected '" + from + "' exactly once in the imported spec " +
                         (work / "arch.yaml").string());
        applied = false;
        break;
      }
      edited.replace(at, from.size(), to);
    }
    if (!applied) continue;
    const fs::path variant = work / "without_feature";
    fs::create_directories(variant);
    std::ofstream(variant / "arch.yaml") << edited;
    if (run(q(llmc) + " build " + q(variant / "arch.yaml") + kQuickBuild + kF32Kernels + " -o " +
            q(variant / "model")) != 0 ||
        run(q(variant / "model") + " --weights " + q(dir / "model.safetensors") + " --tokens " + tokens +
            " -n 0 --threads 2 --logits " + q(variant / "logits.bin")) != 0) {
      check(false, "feature '" + feature + "' off: build and run");
      continue;
    }
    // A subtle feature (tanh vs erf GELU) may set its own bound, still far above the golden gate.
    const double min_nmse = f.value("min_nmse", kMinNmseWithoutFeature);
    const double off = nmse(read_f32(variant / "logits.bin"), ref);
    char buf[120];
    std::snprintf(buf, sizeof buf, "' off: prompt logits NMSE vs reference %.3g (must be > %g)", off, min_nmse);
    check(off > min_nmse, "feature '" + feature + buf);
  }
}

// An encoder–decoder case (T5): input_ids is the encoder input, logits.bin the decoder logits of
// decoder_input_ids (teacher-forced, --decoder-tokens), greedy.json's new_tokens follow the decoder start token.
// `llmc import` of a reference case's folder and `llmc build` of the spec into work/model.
bool import_and_build(const fs::path& llmc, const fs::path& dir, const fs::path& work,
                      const std::string& flags = kF32Kernels) {
  const bool ok = run(q(llmc) + " import " + q(dir) + " -o " + q(work / "arch.yaml")) == 0 &&
                  run(q(llmc) + " build " + q(work / "arch.yaml") + flags + " -o " + q(work / "model")) == 0;
  check(ok, "import and build");
  return ok;
}

// Work is split across threads so that no result depends on the thread count (threads.hpp): `pass` (a binary's
// command line without --threads and --logits) run with 1 thread must give the bits of its 2-thread logits.
void check_thread_count_independent(const std::string& pass, const fs::path& two_thread_logits, const fs::path& work) {
  const fs::path one_thread = work / "uncached_1t.bin";
  check(run(pass + " --threads 1 --logits " + q(one_thread)) == 0 &&
            read_f32(one_thread) == read_f32(two_thread_logits),
        "uncached pass: 1 thread gives the bits of 2 threads");
}

// An encoder–decoder case: `source` (the case's folder, or a GGUF written from it) imported and built, run on
// `weights`.
int seq2seq_case(const fs::path& llmc, const fs::path& dir, const fs::path& work, const nlohmann::json& input,
                 const fs::path& source, const fs::path& weights) {
  const nlohmann::json greedy = nlohmann::json::parse(read_text(dir / "greedy.json"));
  const std::vector<int> tokens = input.at("input_ids").get<std::vector<int>>();
  const std::vector<int> decoder = input.at("decoder_input_ids").get<std::vector<int>>();
  const std::vector<int> expected = greedy.at("new_tokens").get<std::vector<int>>();
  const std::vector<float> ref = read_f32(dir / "logits.bin");
  if (tokens.empty() || decoder.empty() || expected.empty() || ref.empty() || ref.size() % decoder.size() != 0) {
    check(false, "golden data: expected encoder and decoder inputs, greedy tokens and decoder-length x vocab logits in " +
                     dir.string());
    return 1;
  }
  const size_t vocab = ref.size() / decoder.size();
  if (!import_and_build(llmc, source, work, source == dir ? kF32Kernels : kQuickBuild + kF32Kernels)) return 1;
  const std::string model = q(work / "model") + " --weights " + q(weights) + " --tokens " + join(tokens, ",");
  const std::string base = model + " --threads 2";
  check(run(base + " --decoder-tokens " + join(decoder, ",") + " -n 0 --logits " + q(work / "decoder_logits.bin")) == 0,
        "teacher-forced decoder run");
  compare_logits(read_f32(work / "decoder_logits.bin"), 0, ref, decoder.size(), vocab,
                 "decoder logits vs logits.bin");
  // Greedy from the decoder start token, fed back through the decoder's KV cache.
  const std::string n = std::to_string(expected.size());
  check(run(base + " -n " + n + " --ignore-eos --ids --logits " + q(work / "all_logits.bin") + " > " +
            q(work / "ids.txt")) == 0,
        "greedy run");
  const std::vector<int> got = parse_ids(read_text(work / "ids.txt"));
  check(got == expected, "greedy tokens: expected " + join(expected, " ") + ", got " + join(got, " "));
  const std::vector<float> all = read_f32(work / "all_logits.bin");
  check(all.size() == expected.size() * vocab,
        "--logits rows cover every fed decoder token (" + std::to_string(all.size() / vocab) + " rows)");
  compare_logits(all, 0, read_npy(dir / "greedy_logits.npy"), expected.size(), vocab,
                 "greedy-step logits vs greedy_logits.npy");
  // The same decoder tokens in one uncached pass: cached decoding must give the same logits.
  const int start = decoder.front();  // the golden's decoder inputs begin with decoder_start_token_id
  std::vector<int> fed = {start};
  fed.insert(fed.end(), expected.begin(), expected.end() - 1);
  const std::string uncached = model + " --decoder-tokens " + join(fed, ",") + " -n 0";
  check(run(uncached + " --threads 2 --logits " + q(work / "uncached.bin")) == 0,
        "uncached teacher-forced run over the start and greedy tokens");
  compare_logits(all, 0, read_f32(work / "uncached.bin"), fed.size(), vocab,
                 "cached decoding vs uncached pass (llmc vs llmc)");
  check_thread_count_independent(uncached, work / "uncached.bin", work);
  return failures ? 1 : 0;
}

int hf_case(const fs::path& llmc, const fs::path& dir, const fs::path& work, const fs::path& feature_checks) {
  const std::string golden_case = dir.filename().string();
  const nlohmann::json input = nlohmann::json::parse(read_text(dir / "input.json"));
  if (input.contains("decoder_input_ids")) {
    fs::create_directories(work);
    return seq2seq_case(llmc, dir, work, input, dir, dir / "model.safetensors");
  }
  const nlohmann::json greedy = nlohmann::json::parse(read_text(dir / "greedy.json"));
  const std::vector<int> prompt = input.at("input_ids").get<std::vector<int>>();
  const std::vector<int> expected = greedy.at("new_tokens").get<std::vector<int>>();
  const std::vector<float> ref = read_f32(dir / "logits.bin");
  if (prompt.empty() || expected.empty() || ref.empty() || ref.size() % prompt.size() != 0) {
    check(false, "golden data: expected a prompt, greedy tokens and prompt-length x vocab logits in " + dir.string());
    return 1;
  }
  const size_t vocab = ref.size() / prompt.size();

  fs::create_directories(work);
  if (!import_and_build(llmc, dir, work)) return 1;
  const std::string weights = q(work / "model") + " --weights " + q(dir / "model.safetensors");
  const std::string base = weights + " --tokens " + join(prompt, ",") + " --threads 2";
  // Teacher-forced pass: one row per prompt token.
  check(run(base + " -n 0 --logits " + q(work / "prompt_logits.bin")) == 0, "teacher-forced run");
  compare_logits(read_f32(work / "prompt_logits.bin"), 0, ref, prompt.size(), vocab, "prompt logits vs logits.bin");
  // Greedy continuation, fed back through the KV cache.
  const std::string n = std::to_string(expected.size());
  check(run(base + " -n " + n + " --ignore-eos --ids --logits " + q(work / "all_logits.bin") + " > " +
            q(work / "ids.txt")) == 0,
        "greedy run");
  const std::vector<int> got = parse_ids(read_text(work / "ids.txt"));
  check(got == expected, "greedy tokens: expected " + join(expected, " ") + ", got " + join(got, " "));
  const std::vector<float> all = read_f32(work / "all_logits.bin");
  check(all.size() == (prompt.size() + expected.size() - 1) * vocab,
        "--logits rows cover every fed token (" + std::to_string(all.size() / vocab) + " rows)");
  compare_logits(all, prompt.size() - 1, read_npy(dir / "greedy_logits.npy"), expected.size(), vocab,
                 "greedy-step logits vs greedy_logits.npy");
  // The same tokens in one uncached pass: cached decoding must give the same logits (only summation order may
  // differ between the one-row and many-row kernels).
  std::vector<int> fed = prompt;
  fed.insert(fed.end(), expected.begin(), expected.end() - 1);
  const std::string uncached = weights + " --tokens " + join(fed, ",") + " -n 0";
  check(run(uncached + " --threads 2 --logits " + q(work / "uncached.bin")) == 0,
        "uncached teacher-forced run over prompt and greedy tokens");
  compare_logits(all, 0, read_f32(work / "uncached.bin"), fed.size(), vocab,
                 "cached decoding vs uncached pass (llmc vs llmc)");
  check_thread_count_independent(uncached, work / "uncached.bin", work);
  if (!feature_checks.empty())
    check_features_matter(llmc, golden_case, nlohmann::json::parse(read_text(feature_checks)), dir,
                          join(prompt, ","), ref, work);
  return failures ? 1 : 0;
}

// The safetensors tensors of a case (F32 only: the golden cases are fp32).
struct StTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
std::map<std::string, StTensor> read_safetensors(const fs::path& p) {
  const std::string bytes = read_text(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  std::map<std::string, StTensor> out;
  for (const auto& [name, e] : header.items()) {
    if (name == "__metadata__") continue;
    if (e.at("dtype") != "F32") throw std::runtime_error(name + ": golden cases are F32");
    StTensor t{e.at("shape").get<std::vector<int64_t>>(), {}};
    const auto off = e.at("data_offsets").get<std::vector<size_t>>();
    t.values.resize((off[1] - off[0]) / 4);
    std::memcpy(t.values.data(), bytes.data() + 8 + n + off[0], off[1] - off[0]);
    out.emplace(name, std::move(t));
  }
  return out;
}

// convert_hf_to_gguf.py's q / k row permutation for llama (weights and biases): within each head, the rows of
// the first half (rotated with the second half in Hugging Face's rotate_half) and of the second half
// interleaved, so that rotary pairs are adjacent rows.
std::vector<float> permute_rows(const StTensor& t, int64_t heads) {
  const int64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1, head = rows / heads;  // or a bias
  std::vector<float> out(t.values.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < head / 2; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const float* src = &t.values[static_cast<size_t>((h * head + j * head / 2 + i) * cols)];
        std::copy(src, src + cols, &out[static_cast<size_t>((h * head + 2 * i + j) * cols)]);
      }
  return out;
}

// GGUF Q8_0 blocks of rows of 32-value blocks, as ggml's quantize_row_q8_0_ref.
std::string q8_0_blocks(const std::vector<float>& v) {
  std::string out;
  for (size_t b = 0; b < v.size() / 32; ++b) {
    float d;
    int qs[32];
    llmc::quantize_block_ref(llmc::WFormat::q8_0, &v[b * 32], &d, qs);
    const uint16_t h = llmc::f32_to_f16(d);
    out.append(reinterpret_cast<const char*>(&h), 2);
    for (int q : qs) out.push_back(static_cast<char>(q - 128));
  }
  return out;
}

// Hugging Face model_type -> llama.cpp's general.architecture (Mixtral is "llama" with experts).
std::string gguf_arch(const std::string& model_type) {
  static const std::map<std::string, std::string> archs = {
      {"mixtral", "llama"},         {"qwen2_moe", "qwen2moe"}, {"qwen3_moe", "qwen3moe"},
      {"cohere", "command-r"},      {"gemma3_text", "gemma3"}, {"deepseek_v2", "deepseek2"},
      {"deepseek_v3", "deepseek2"}, {"gpt_neox", "gptneox"},  {"llama4_text", "llama4"}};
  auto it = archs.find(model_type);
  return it == archs.end() ? model_type : it->second;
}

// A layer tensor's GGUF name (after "blk.N."), as convert_hf_to_gguf.py's tensor map (gguf-py
// tensor_mapping.py, llama.cpp 1fd6dfe9f) gives it for the model type; "" for a routed expert's tensor, which
// is stacked (see write_gguf_case).
std::string gguf_layer_name(const std::string& model_type, const std::string& role) {
  // OLMo 2's and Gemma 2 / 3's post_attention_layernorm is the attention output's norm, elsewhere the FFN input's.
  const bool sandwich = model_type == "olmo2" || model_type == "gemma2" || model_type == "gemma3_text";
  if (role == "post_attention_layernorm.weight" && sandwich) return "post_attention_norm.weight";
  static const std::map<std::string, std::string> names = {
      {"input_layernorm.weight", "attn_norm.weight"},     {"input_layernorm.bias", "attn_norm.bias"},
      {"self_attn.q_proj.weight", "attn_q.weight"},       {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.weight", "attn_k.weight"},       {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.weight", "attn_v.weight"},       {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.weight", "attn_output.weight"},  {"self_attn.o_proj.bias", "attn_output.bias"},
      {"self_attn.qkv_proj.weight", "attn_qkv.weight"},   {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},  {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"post_attention_layernorm.bias", "ffn_norm.bias"}, {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
      {"ln_1.weight", "attn_norm.weight"},                {"ln_1.bias", "attn_norm.bias"},  // GPT-2
      {"attn.c_attn.weight", "attn_qkv.weight"},          {"attn.c_attn.bias", "attn_qkv.bias"},
      {"attn.c_proj.weight", "attn_output.weight"},       {"attn.c_proj.bias", "attn_output.bias"},
      {"ln_2.weight", "ffn_norm.weight"},                 {"ln_2.bias", "ffn_norm.bias"},
      {"ln_mlp.weight", "attn_norm.weight"},              {"ln_mlp.bias", "attn_norm.bias"},  // Falcon-40B
      {"ln_attn.weight", "attn_norm_2.weight"},           {"ln_attn.bias", "attn_norm_2.bias"},
      {"self_attention.query_key_value.weight", "attn_qkv.weight"},
      {"self_attention.query_key_value.bias", "attn_qkv.bias"},
      {"self_attention.dense.weight", "attn_output.weight"}, {"self_attention.dense.bias", "attn_output.bias"},
      {"attention.query_key_value.weight", "attn_qkv.weight"}, {"attention.query_key_value.bias", "attn_qkv.bias"},
      {"attention.dense.weight", "attn_output.weight"},   {"attention.dense.bias", "attn_output.bias"},  // GPT-NeoX
      {"attention_norm.weight", "attn_norm.weight"},      {"attention.wo.weight", "attn_output.weight"},  // InternLM2
      {"rms_norm.weight", "attn_norm.weight"},            {"rms_norm_1.weight", "attn_output_norm.weight"},  // Grok
      {"rms_norm_2.weight", "ffn_norm.weight"},           {"rms_norm_3.weight", "layer_output_norm.weight"},
      {"multi_head_attention.query.weight", "attn_q.weight"}, {"multi_head_attention.key.weight", "attn_k.weight"},
      {"multi_head_attention.value.weight", "attn_v.weight"},
      {"multi_head_attention.linear.weight", "attn_output.weight"}, {"router.weight", "ffn_gate_inp.weight"},
      {"attn_norm.weight", "attn_norm.weight"},           {"attn.qkv_proj.weight", "attn_qkv.weight"},  // OpenELM
      {"attn.out_proj.weight", "attn_output.weight"},     {"attn.q_norm.weight", "attn_q_norm.weight"},
      {"attn.k_norm.weight", "attn_k_norm.weight"},       {"ffn.proj_2.weight", "ffn_down.weight"},
      {"ffn_norm.weight", "ffn_norm.weight"},             {"feed_forward.w1.weight", "ffn_gate.weight"},
      {"feed_forward.w3.weight", "ffn_up.weight"},        {"feed_forward.w2.weight", "ffn_down.weight"},
      {"mlp.dense_h_to_4h.weight", "ffn_up.weight"},      {"mlp.dense_h_to_4h.bias", "ffn_up.bias"},
      {"mlp.dense_4h_to_h.weight", "ffn_down.weight"},    {"mlp.dense_4h_to_h.bias", "ffn_down.bias"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},        {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},        {"mlp.gate_up_proj.weight", "ffn_up.weight"},
      {"mlp.gate_proj.bias", "ffn_gate.bias"},            {"mlp.up_proj.bias", "ffn_up.bias"},
      {"mlp.down_proj.bias", "ffn_down.bias"},
      {"mlp.w1.weight", "ffn_up.weight"},                 {"mlp.w2.weight", "ffn_gate.weight"},  // Qwen (1)
      {"mlp.c_fc.weight", "ffn_up.weight"},               {"mlp.c_fc.bias", "ffn_up.bias"},
      {"mlp.c_proj.weight", "ffn_down.weight"},           {"mlp.c_proj.bias", "ffn_down.bias"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"},         {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
      {"block_sparse_moe.router.layer.weight", "ffn_gate_inp.weight"},  // GraniteMoE
      {"block_sparse_moe.output_linear.weight", "ffn_down_exps.weight"},
      {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
      {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},
      {"self_attn.q_a_proj.weight", "attn_q_a.weight"},   {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
      {"self_attn.q_b_proj.weight", "attn_q_b.weight"},   {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
      {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
      {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},  // ModelBase: "e_score_correction.bias"
      {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
      {"feed_forward.gate_proj.weight", "ffn_gate.weight"},  // Llama 4
      {"feed_forward.up_proj.weight", "ffn_up.weight"},   {"feed_forward.down_proj.weight", "ffn_down.weight"},
      {"feed_forward.router.weight", "ffn_gate_inp.weight"},
      {"feed_forward.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"feed_forward.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
      {"feed_forward.shared_expert.down_proj.weight", "ffn_down_shexp.weight"}};
  if (role.find(".experts.") != std::string::npos || role.find("layernorm.norms.") != std::string::npos ||
      role.rfind("moe.", 0) == 0)
    return "";
  auto it = names.find(role);
  if (it == names.end()) throw std::runtime_error(role + ": no GGUF name for it");
  return it->second;
}

// A routed expert's tensor ("mlp.experts.3.gate_proj.weight", "block_sparse_moe.experts.3.w1.weight") as
// (expert, the stacked tensor's GGUF name); StableLM's per-head q / k norms ("self_attn.q_layernorm.norms.3.weight")
// as (head, attn_q_norm.weight), which StableLMModel stacks alike.
std::pair<int, std::string> gguf_expert(const std::string& role) {
  for (const auto& [norm, stacked] : {std::pair{"self_attn.q_layernorm.norms.", "attn_q_norm.weight"},
                                      std::pair{"self_attn.k_layernorm.norms.", "attn_k_norm.weight"}})
    if (role.rfind(norm, 0) == 0) return {std::stoi(role.substr(std::strlen(norm))), stacked};
  // Grok's experts are "moe.3.linear.weight" (GrokModel merges linear, linear_v, linear_1).
  const size_t at = role.rfind("moe.", 0) == 0 ? 4 : role.find(".experts.") + 9, dot = role.find('.', at);
  const std::string kind = role.substr(dot + 1);
  static const std::map<std::string, std::string> names = {
      {"gate_proj.weight", "ffn_gate_exps.weight"}, {"up_proj.weight", "ffn_up_exps.weight"},
      {"down_proj.weight", "ffn_down_exps.weight"}, {"w1.weight", "ffn_gate_exps.weight"},
      {"w3.weight", "ffn_up_exps.weight"},          {"w2.weight", "ffn_down_exps.weight"},
      {"linear.weight", "ffn_gate_exps.weight"},    {"linear_v.weight", "ffn_up_exps.weight"},
      {"linear_1.weight", "ffn_down_exps.weight"}};
  return {std::stoi(role.substr(at, dot - at)), names.at(kind)};
}

// The config's rope_scaling type ("" without one; older configs name it "type").
std::string rope_type(const nlohmann::json& c) {
  if (!c.contains("rope_scaling") || !c["rope_scaling"].is_object()) return "";
  return c["rope_scaling"].value("rope_type", c["rope_scaling"].value("type", ""));
}

// Llama 3's rope scaling as LlamaModel.generate_extra_tensors stores it: each rotary frequency's divisor. It
// reads original_max_position_embeddings at the config's top level (default 8192); this takes rope_scaling's, as
// it does for a config that has the key at both levels, so that the file is the case's model.
std::vector<float> llama3_rope_divisors(const nlohmann::json& c) {
  const nlohmann::json& r = c["rope_scaling"];
  const int64_t dim = c.value("head_dim", c["hidden_size"].get<int64_t>() / c["num_attention_heads"].get<int64_t>());
  const double base = c.value("rope_theta", 10000.0), factor = r.value("factor", 8.0);
  const double low = r.value("low_freq_factor", 1.0), high = r.value("high_freq_factor", 4.0);
  const double original = r.value("original_max_position_embeddings", 8192.0);
  std::vector<float> divisors;
  for (int64_t i = 0; i < dim; i += 2) {
    const float freq = 1.0f / static_cast<float>(std::pow(base, static_cast<double>(i) / static_cast<double>(dim)));
    const double wavelen = 2 * M_PI / freq;
    const double smooth = (original / wavelen - low) / (high - low);
    divisors.push_back(static_cast<float>(wavelen < original / high  ? 1.0
                                          : wavelen > original / low ? factor
                                                                     : 1 / ((1 - smooth) / factor + smooth)));
  }
  return divisors;
}

// DeepSeek-V2 (model_type deepseek_v2) is written as converters before llama.cpp's absorbed MLA wrote it, kv_b
// whole (attn_kv_b) and the head sizes as key / value_length, which llama.cpp still reads; DeepSeek-V3 as
// DeepseekV2Model writes it now, kv_b split into attn_k_b / attn_v_b.
bool deepseek_kv_b_whole(const std::string& model_type) { return model_type == "deepseek_v2"; }

// DeepseekV2Model.set_gguf_parameters (conversion/deepseek.py) beyond the common keys: MLA's ranks and head
// sizes (key / value_length those of the absorbed form), DeepSeekMoE's, TextModel's yarn keys and the one it
// adds (0.1·mscale_all_dim).
void write_deepseek2_keys(llmc_test::GgufWriter& w, const nlohmann::json& c) {
  const std::string a = "deepseek2.";
  const uint32_t latent = c.at("kv_lora_rank"), rope = c.at("qk_rope_head_dim"), nope = c.at("qk_nope_head_dim");
  w.u32(a + "leading_dense_block_count", c.value("first_k_dense_replace", 0));
  w.u32(a + "vocab_size", c.at("vocab_size"));
  if (c.contains("q_lora_rank") && c["q_lora_rank"].is_number()) w.u32(a + "attention.q_lora_rank", c["q_lora_rank"]);
  w.u32(a + "attention.kv_lora_rank", latent);
  if (deepseek_kv_b_whole(c.at("model_type"))) {
    w.u32(a + "attention.key_length", nope + rope);
    w.u32(a + "attention.value_length", c.at("v_head_dim"));
  } else {
    w.u32(a + "attention.key_length", latent + rope);
    w.u32(a + "attention.value_length", latent);
    w.u32(a + "attention.key_length_mla", nope + rope);
    w.u32(a + "attention.value_length_mla", c.at("v_head_dim"));
  }
  w.u32(a + "expert_shared_count", c.value("n_shared_experts", 0));
  if (c.contains("routed_scaling_factor")) w.f32(a + "expert_weights_scale", c["routed_scaling_factor"].get<float>());
  if (c.value("norm_topk_prob", false)) w.boolean(a + "expert_weights_norm", true);
  if (c.contains("n_group")) w.u32(a + "expert_group_count", c["n_group"]);
  if (c.contains("topk_group")) w.u32(a + "expert_group_used_count", c["topk_group"]);
  if (c.contains("scoring_func")) w.u32(a + "expert_gating_func", c["scoring_func"] == "sigmoid" ? 2 : 1);
  w.u32(a + "rope.dimension_count", rope);
  if (rope_type(c) == "yarn") {
    const nlohmann::json& r = c["rope_scaling"];
    w.str(a + "rope.scaling.type", "yarn");
    w.f32(a + "rope.scaling.factor", r.at("factor").get<float>());
    w.u32(a + "rope.scaling.original_context_length", r.at("original_max_position_embeddings"));
    if (r.contains("beta_fast")) w.f32(a + "rope.scaling.yarn_beta_fast", r["beta_fast"].get<float>());
    if (r.contains("beta_slow")) w.f32(a + "rope.scaling.yarn_beta_slow", r["beta_slow"].get<float>());
    if (r.contains("mscale_all_dim"))
      w.f32(a + "rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * r["mscale_all_dim"].get<double>()));
  }
}

// Phi3MiniModel.set_gguf_parameters (conversion/phi.py) beyond the common keys, and the LongRoPE attention
// factor its generate_extra_tensors adds.
void write_phi3_keys(llmc_test::GgufWriter& w, const nlohmann::json& c, const std::string& arch) {
  const bool windowed = c.contains("sliding_window") && c["sliding_window"].is_number();
  w.u32(arch + ".attention.sliding_window", windowed ? c["sliding_window"].get<uint32_t>() : 0);  // 0: none (Phi-4)
  const double hidden = c.at("hidden_size"), rotated = c.value("partial_rotary_factor", 1.0);
  w.u32(arch + ".rope.dimension_count", static_cast<uint32_t>(static_cast<int64_t>(rotated * hidden) /
                                                              c.at("num_attention_heads").get<int64_t>()));
  const int64_t context = c.at("max_position_embeddings");
  const int64_t original = c.value("original_max_position_embeddings", context);  // the phimoe case's config lacks it
  w.u32(arch + ".rope.scaling.original_context_length", static_cast<uint32_t>(original));
  if (rope_type(c) != "longrope") return;
  const double scale = static_cast<double>(context) / static_cast<double>(original);
  const double log_original = std::log(static_cast<double>(original));
  w.f32(arch + ".rope.scaling.attn_factor", static_cast<float>(scale > 1.0 ? std::sqrt(1 + std::log(scale) / log_original)
                                                                        : 1.0));
}

// The special tokens (TextModel's vocabulary keys; the cases' inputs are token ids).
void write_token_keys(llmc_test::GgufWriter& w, const nlohmann::json& c) {
  if (c.contains("bos_token_id") && c["bos_token_id"].is_number()) w.u32("tokenizer.ggml.bos_token_id", c["bos_token_id"]);
  if (c.contains("eos_token_id") && c["eos_token_id"].is_number()) w.u32("tokenizer.ggml.eos_token_id", c["eos_token_id"]);
  w.boolean("tokenizer.ggml.add_bos_token", false);
}

// OpenELMModel.set_gguf_parameters: head counts and FFN widths per layer as arrays (gguf-py writes a list of ints
// as INT32 items), each width _make_divisible(multiplier · model_dim, ffn_dim_divisor); RMSNorm eps 1e-6; the
// head size as key / value length and rotary dimension.
void write_openelm_keys(llmc_test::GgufWriter& w, const nlohmann::json& c) {
  const int64_t d = c.at("model_dim"), divisor = c.at("ffn_dim_divisor"), head_dim = c.at("head_dim");
  std::vector<int32_t> widths;
  for (double m : c.at("ffn_multipliers").get<std::vector<double>>()) {
    const double v = m * static_cast<double>(d);
    const int64_t rounded = static_cast<int64_t>(v + static_cast<double>(divisor) / 2) / divisor * divisor;
    int64_t n = std::max<int64_t>(divisor, rounded);
    if (static_cast<double>(n) < 0.9 * v) n += divisor;
    widths.push_back(static_cast<int32_t>(n));
  }
  w.str("general.architecture", "openelm");
  w.u32("openelm.block_count", c.at("num_transformer_layers"));
  w.u32("openelm.context_length", c.at("max_context_length"));
  w.u32("openelm.embedding_length", static_cast<uint32_t>(d));
  w.i32s("openelm.feed_forward_length", widths);
  w.i32s("openelm.attention.head_count", c.at("num_query_heads").get<std::vector<int32_t>>());
  w.i32s("openelm.attention.head_count_kv", c.at("num_kv_heads").get<std::vector<int32_t>>());
  w.f32("openelm.rope.freq_base", c.at("rope_freq_constant").get<float>());
  w.f32("openelm.attention.layer_norm_rms_epsilon", 1e-6f);
  w.u32("openelm.rope.dimension_count", static_cast<uint32_t>(head_dim));
  w.u32("openelm.attention.key_length", static_cast<uint32_t>(head_dim));
  w.u32("openelm.attention.value_length", static_cast<uint32_t>(head_dim));
  write_token_keys(w, c);
}

// The GGUF metadata convert_hf_to_gguf.py writes for the config (the keys llama.cpp reads for the family).
void write_gguf_keys(llmc_test::GgufWriter& w, const nlohmann::json& c, const std::string& model_type,
                     const std::string& arch) {
  if (model_type == "openelm") return write_openelm_keys(w, c);
  const int64_t heads = c.at("num_attention_heads"), kv = c.value("num_key_value_heads", heads);
  w.str("general.architecture", arch);
  w.u32(arch + ".block_count", c.at("num_hidden_layers"));
  w.u32(arch + ".context_length", c.at("max_position_embeddings"));
  w.u32(arch + ".embedding_length", c.at("hidden_size"));
  // Llama4Model: the dense layers' width (intermediate_size_mlp) here, the experts' as expert_feed_forward_length.
  w.u32(arch + ".feed_forward_length", c.value("intermediate_size_mlp", c.at("intermediate_size").get<int64_t>()));
  if (arch == "llama4") {
    w.u32(arch + ".expert_feed_forward_length", c.at("intermediate_size"));
    w.u32(arch + ".interleave_moe_layer_step", c.at("interleave_moe_layer_step"));
  }
  w.u32(arch + ".attention.head_count", static_cast<uint32_t>(heads));
  const bool absorbed = arch == "deepseek2" && !deepseek_kv_b_whole(model_type);  // MLA as MQA: one latent head
  w.u32(arch + ".attention.head_count_kv", absorbed ? 1 : static_cast<uint32_t>(kv));
  if (c.contains("head_dim") && arch != "deepseek2") {  // DeepseekV2Model overwrites them (its head_dim: rope's)
    w.u32(arch + ".attention.key_length", c.at("head_dim"));
    w.u32(arch + ".attention.value_length", c.at("head_dim"));
  }
  if (c.contains("rms_norm_eps")) w.f32(arch + ".attention.layer_norm_rms_epsilon", c.at("rms_norm_eps").get<float>());
  for (const char* key : {"layer_norm_eps", "norm_epsilon"})
    if (c.contains(key)) w.f32(arch + ".attention.layer_norm_epsilon", c.at(key).get<float>());
  if (model_type == "phi3" || model_type == "phimoe") write_phi3_keys(w, c, arch);  // PhiMoeModel: a Phi3MiniModel
  if (model_type == "chatglm")  // ChatGLMModel: partial_rotary_factor 0.5
    w.u32(arch + ".rope.dimension_count", static_cast<uint32_t>(c.at("kv_channels").get<int64_t>() / 2));
  if (model_type == "minicpm") {  // MiniCPMModel.set_gguf_parameters
    w.f32(arch + ".embedding_scale", c.at("scale_emb").get<float>());
    w.f32(arch + ".residual_scale", static_cast<float>(c.at("scale_depth").get<double>() /
                                                      std::sqrt(c.at("num_hidden_layers").get<double>())));
    w.f32(arch + ".logit_scale", static_cast<float>(c.at("hidden_size").get<double>() /
                                                   c.at("dim_model_base").get<double>()));
  }
  if (model_type == "olmo") {  // OlmoModel.set_gguf_parameters
    w.f32(arch + ".attention.layer_norm_epsilon", 1e-5f);
    if (c.contains("clip_qkv") && c["clip_qkv"].is_number()) w.f32(arch + ".attention.clamp_kqv", c["clip_qkv"].get<float>());
  }
  if (model_type == "gpt_neox") {  // GPTNeoXModel.set_gguf_parameters
    const int64_t head_dim = c.at("hidden_size").get<int64_t>() / heads;
    w.u32(arch + ".rope.dimension_count",
          static_cast<uint32_t>(c.at("rotary_pct").get<double>() * static_cast<double>(head_dim)));
    w.boolean(arch + ".use_parallel_residual", c.value("use_parallel_residual", true));
  }
  if (model_type == "qwen") {
    // QwenModel writes the common keys alone: rope.freq_base from rotary_emb_base, and today the config's
    // layer_norm_epsilon as the LayerNorm key, which llama.cpp's qwen loader does not read. Written here as the
    // converters before it did (the Qwen GGUFs in circulation): the RMSNorm key, and rope.dimension_count, which
    // llama.cpp reads as the rotated width (every released Qwen rotates whole heads; this case half of each).
    w.f32(arch + ".attention.layer_norm_rms_epsilon", c.at("layer_norm_epsilon").get<float>());
    w.u32(arch + ".rope.dimension_count", static_cast<uint32_t>(c.at("rotary_pct").get<double>() *
                                                                c.at("kv_channels").get<double>()));
  }
  if (model_type == "grok") {  // GrokModel.set_gguf_parameters (the config has no attn_logit_softcapping: 30)
    w.f32(arch + ".attn_logit_softcapping", 30.0f);
    w.f32(arch + ".router_logit_softcapping", 30.0f);
    w.f32(arch + ".attention.output_scale", c.at("attn_output_multiplier").get<float>());
    w.f32(arch + ".embedding_scale", c.at("embedding_multiplier_scale").get<float>());
    w.f32(arch + ".logit_scale", c.at("output_multiplier_scale").get<float>());
  }
  if (model_type == "stablelm") {  // StableLMModel.set_gguf_parameters
    const int64_t head_dim = c.at("hidden_size").get<int64_t>() / heads;
    w.u32(arch + ".rope.dimension_count",
          static_cast<uint32_t>(c.at("partial_rotary_factor").get<double>() * static_cast<double>(head_dim)));
    w.boolean(arch + ".use_parallel_residual", c.value("use_parallel_residual", true));
  }
  w.f32(arch + ".rope.freq_base", c.value("rope_theta", c.value("rotary_emb_base", 10000.0f)));
  for (const char* key : {"num_local_experts", "num_experts", "n_routed_experts"})
    if (c.contains(key)) w.u32(arch + ".expert_count", c.at(key));
  if (c.contains("num_experts_per_tok")) w.u32(arch + ".expert_used_count", c.at("num_experts_per_tok"));
  if (c.contains("moe_intermediate_size")) w.u32(arch + ".expert_feed_forward_length", c.at("moe_intermediate_size"));
  if (c.contains("shared_expert_intermediate_size"))
    w.u32(arch + ".expert_shared_feed_forward_length", c.at("shared_expert_intermediate_size"));
  if (c.contains("logit_scale")) w.f32(arch + ".logit_scale", c.at("logit_scale").get<float>());
  if (c.contains("embedding_multiplier")) {  // GraniteModel
    w.f32(arch + ".embedding_scale", c["embedding_multiplier"].get<float>());
    w.f32(arch + ".residual_scale", c["residual_multiplier"].get<float>());
    w.f32(arch + ".attention.scale", c["attention_multiplier"].get<float>());
    w.f32(arch + ".logit_scale", c["logits_scaling"].get<float>());
  }
  if (rope_type(c) == "linear") {
    w.str(arch + ".rope.scaling.type", "linear");  // TextModel.set_gguf_parameters
    w.f32(arch + ".rope.scaling.factor", c["rope_scaling"].at("factor").get<float>());
  }
  for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"})  // Gemma2Model, Gemma3Model
    if (c.contains(key) && c[key].is_number()) w.f32(arch + "." + key, c[key].get<float>());
  if (model_type == "gemma2" || (model_type == "gemma3_text" && c.value("sliding_window_pattern", 6) != 1))
    w.u32(arch + ".attention.sliding_window", c.at("sliding_window"));
  if (c.contains("rope_local_base_freq"))  // TextModel: rope_parameters' sliding_attention theta
    w.f32(arch + ".rope.freq_base_swa", c["rope_local_base_freq"].get<float>());
  if (arch == "deepseek2") write_deepseek2_keys(w, c);
  write_token_keys(w, c);
}

// The case's config.json, GPT-2's own key names also under the common ones write_gguf_keys reads.
nlohmann::json hf_config(const fs::path& dir) {
  std::string text = read_text(dir / "config.json");
  // Python's json writes inf as a bare Infinity (Mamba 2's time_step_limit), which JSON has no word for.
  for (size_t at = text.find("Infinity"); at != std::string::npos; at = text.find("Infinity", at))
    text.replace(at, 8, "1e308");
  nlohmann::json c = nlohmann::json::parse(text);
  if (c.at("model_type") == "gpt2") {
    c["num_hidden_layers"] = c["n_layer"];
    c["hidden_size"] = c["n_embd"];
    c["num_attention_heads"] = c["n_head"];
    c["max_position_embeddings"] = c["n_positions"];
    c["intermediate_size"] = 4 * c["n_embd"].get<int64_t>();  // GPT2Model writes 4·n_embd whatever n_inner says
    c["layer_norm_eps"] = c["layer_norm_epsilon"];
  }
  if (c.at("model_type") == "deepseek_v3" && !c.contains("scoring_func"))
    c["scoring_func"] = "sigmoid";  // as DeepSeek-V3's released config.json states it (transformers' config lacks it)
  if (c.at("model_type") == "falcon") {
    // FalconModel reads num_kv_heads (else 1), which Falcon-7B's config lacks; the case's config states the
    // default. The KV heads the model has, as llmc's importer reads them:
    const bool new_arch = c.value("new_decoder_architecture", false);
    const bool multi_query = c.value("multi_query", true);
    c["num_key_value_heads"] = new_arch ? c["num_kv_heads"]
                               : multi_query ? nlohmann::json(1)
                                             : c["num_attention_heads"];
    c["max_position_embeddings"] = 2048;  // FalconModel: "not in config.json"
    c["intermediate_size"] = 4 * c["hidden_size"].get<int64_t>();
    c["layer_norm_eps"] = c["layer_norm_epsilon"];
  }
  if (c.at("model_type") == "chatglm") {  // ChatGLM2 / 3: ChatGLMModel.set_gguf_parameters' sources
    c["num_hidden_layers"] = c["num_layers"];
    c["max_position_embeddings"] = c["seq_length"];
    c["intermediate_size"] = c["ffn_hidden_size"];
    if (c.value("multi_query_attention", false)) c["num_key_value_heads"] = c["multi_query_group_num"];
    c["rms_norm_eps"] = c["layernorm_epsilon"];
    c["rope_theta"] = 10000.0 * c.value("rope_ratio", 1.0);
  }
  if (c.at("model_type") == "bloom") {  // BloomModel.set_gguf_parameters' sources
    c["num_attention_heads"] = c["n_head"];
    c["num_hidden_layers"] = c["n_layer"];
    c["intermediate_size"] = 4 * c["hidden_size"].get<int64_t>();
    c["max_position_embeddings"] = c.value("seq_length", c["hidden_size"].get<int64_t>());  // its fallback: n_embed
    c["layer_norm_eps"] = c["layer_norm_epsilon"];
    c["tie_word_embeddings"] = true;
  }
  return c;
}

// InternLM2's wqkv ([kv groups][queries of the group, k, v][head_dim] rows) as InternLM2Model splits it: all
// queries, all keys, all values.
std::tuple<StTensor, StTensor, StTensor> internlm2_qkv(const StTensor& t, int64_t heads, int64_t kv) {
  const int64_t cols = t.shape[1], head = t.shape[0] / (heads + 2 * kv), per_group = heads / kv;
  StTensor q{{heads * head, cols}, {}}, k{{kv * head, cols}, {}}, v{{kv * head, cols}, {}};
  for (int64_t g = 0; g < kv; ++g)
    for (int64_t slot = 0; slot < per_group + 2; ++slot) {
      StTensor& to = slot < per_group ? q : slot == per_group ? k : v;
      const auto first = t.values.begin() + ((g * (per_group + 2) + slot) * head) * cols;
      to.values.insert(to.values.end(), first, first + head * cols);
    }
  return {q, k, v};
}

// FalconModel's query_key_value transform: from kv groups of (the group's queries, one key, one value) to all
// queries, then all keys, then all values (rows of `cols` values; a bias has one).
std::vector<float> falcon_qkv(const StTensor& t, int64_t heads, int64_t kv) {
  const int64_t cols = t.shape.size() > 1 ? t.shape[1] : 1, head = t.shape[0] / (heads + 2 * kv);
  const int64_t per_group = heads / kv + 2;
  std::vector<float> out;
  auto take = [&](int64_t group, int64_t slot) {
    const float* src = &t.values[static_cast<size_t>((group * per_group + slot) * head * cols)];
    out.insert(out.end(), src, src + head * cols);
  };
  for (int64_t g = 0; g < kv; ++g)
    for (int64_t q = 0; q < per_group - 2; ++q) take(g, q);
  for (int64_t g = 0; g < kv; ++g) take(g, per_group - 2);
  for (int64_t g = 0; g < kv; ++g) take(g, per_group - 1);
  return out;
}

// DeepseekV2Model's kv_b split: per head, rows [k_nope (nope) | v (v)] of the latent, into k_b [heads, latent,
// nope] (each head's key rows transposed) and v_b [heads, v, latent].
std::pair<StTensor, StTensor> deepseek_kv_b(const StTensor& t, int64_t heads, int64_t nope, int64_t v) {
  const int64_t latent = t.shape[1];
  StTensor k_b{{heads, latent, nope}, {}}, v_b{{heads, v, latent}, {}};
  k_b.values.resize(static_cast<size_t>(heads * latent * nope));
  for (int64_t h = 0; h < heads; ++h) {
    const float* head = &t.values[static_cast<size_t>(h * (nope + v) * latent)];
    for (int64_t i = 0; i < nope; ++i)
      for (int64_t l = 0; l < latent; ++l) k_b.values[static_cast<size_t>((h * latent + l) * nope + i)] = head[i * latent + l];
    v_b.values.insert(v_b.values.end(), head + nope * latent, head + (nope + v) * latent);
  }
  return {k_b, v_b};
}

// An F32 tensor of row-major `shape` (GGUF lists the dimensions the other way round).
void add_f32(llmc_test::GgufWriter& w, const std::string& name, const std::vector<int64_t>& shape,
             const std::vector<float>& v) {
  w.tensor(name, std::vector<uint64_t>(shape.rbegin(), shape.rend()), 0,
           std::string(reinterpret_cast<const char*>(v.data()), 4 * v.size()));
}

// A layer tensor's name as (GGUF prefix "blk.N.", the name after the layer's prefix); false for a model-wide one.
bool split_layer_name(const std::string& name, std::string& prefix, std::string& role) {
  for (const std::string layers : {"model.layers.", "transformer.h.", "gpt_neox.layers.", "transformer.encoder.layers.",
                                    "transformer.layers.", "transformer.decoder_layer."}) {
    if (name.rfind(layers, 0) != 0) continue;
    const size_t dot = name.find('.', layers.size());
    prefix = "blk." + name.substr(layers.size(), dot - layers.size()) + ".";
    role = name.substr(dot + 1);
    return true;
  }
  return false;
}

// A Mamba or Mamba 2 case as MambaModel / Mamba2Model (conversion/mamba.py) write it: the state-space keys
// (attention.head_count and feed_forward_length 0, "unused"; Mamba 2's time_step_rank its head count), A = −exp(A_log),
// conv1d squeezed to [channels, kernel], Mamba 2's A and D as [heads, 1], its dt_bias as ssm_dt.bias and its norm
// as [groups, inner / groups]; the classifier left out when it equals the embeddings. Every tensor F32.
void write_mamba_gguf(const fs::path& dir, const fs::path& out) {
  const nlohmann::json c = hf_config(dir);
  const bool mamba2 = c.at("model_type") == "mamba2";
  const std::string arch = mamba2 ? "mamba2" : "mamba";
  const int64_t hidden = c.at("hidden_size");
  const int64_t inner = mamba2 ? static_cast<int64_t>(c.at("expand").get<double>() * static_cast<double>(hidden))
                               : c.at("intermediate_size").get<int64_t>();
  const int64_t groups = c.value("n_groups", 1);
  llmc_test::GgufWriter w;
  w.str("general.architecture", arch);
  w.u32(arch + ".context_length", 1u << 20);  // "arbitrary value"
  w.u32(arch + ".embedding_length", static_cast<uint32_t>(hidden));
  w.u32(arch + ".feed_forward_length", 0);
  w.u32(arch + ".attention.head_count", 0);
  w.u32(arch + ".block_count", c.at("num_hidden_layers"));
  w.u32(arch + ".ssm.conv_kernel", c.at("conv_kernel"));
  w.u32(arch + ".ssm.inner_size", static_cast<uint32_t>(inner));
  w.u32(arch + ".ssm.state_size", c.at("state_size"));
  w.u32(arch + ".ssm.time_step_rank", mamba2 ? c.at("num_heads") : c.at("time_step_rank"));
  if (mamba2) w.u32(arch + ".ssm.group_count", static_cast<uint32_t>(groups));
  w.f32(arch + ".attention.layer_norm_rms_epsilon", c.value("layer_norm_epsilon", 1e-5f));
  if (!mamba2) w.boolean(arch + ".ssm.dt_b_c_rms", false);
  if (c.contains("bos_token_id") && c["bos_token_id"].is_number()) w.u32("tokenizer.ggml.bos_token_id", c["bos_token_id"]);
  if (c.contains("eos_token_id") && c["eos_token_id"].is_number()) w.u32("tokenizer.ggml.eos_token_id", c["eos_token_id"]);
  const auto tensors = read_safetensors(dir / "model.safetensors");
  const std::map<std::string, std::string> names = {
      {"norm.weight", "attn_norm.weight"},           {"mixer.in_proj.weight", "ssm_in.weight"},
      {"mixer.conv1d.weight", "ssm_conv1d.weight"},  {"mixer.conv1d.bias", "ssm_conv1d.bias"},
      {"mixer.x_proj.weight", "ssm_x.weight"},       {"mixer.dt_proj.weight", "ssm_dt.weight"},
      {"mixer.dt_proj.bias", "ssm_dt.bias"},         {"mixer.dt_bias", "ssm_dt.bias"},
      {"mixer.A_log", "ssm_a"},                      {"mixer.D", "ssm_d"},
      {"mixer.norm.weight", "ssm_norm.weight"},      {"mixer.out_proj.weight", "ssm_out.weight"}};
  const StTensor& embed = tensors.at("backbone.embeddings.weight");
  for (const auto& [name, t] : tensors) {
    std::vector<int64_t> shape = t.shape;
    std::vector<float> v = t.values;
    if (name == "backbone.embeddings.weight") add_f32(w, "token_embd.weight", shape, v);
    else if (name == "backbone.norm_f.weight") add_f32(w, "output_norm.weight", shape, v);
    else if (name == "lm_head.weight") {
      if (v != embed.values) add_f32(w, "output.weight", shape, v);  // MambaModel omits a copy of the embeddings
    } else {
      const std::string layers = "backbone.layers.";
      if (name.rfind(layers, 0) != 0) throw std::runtime_error(name + ": no GGUF name for it");
      const size_t dot = name.find('.', layers.size());
      const std::string prefix = "blk." + name.substr(layers.size(), dot - layers.size()) + ".";
      const std::string role = name.substr(dot + 1);
      if (role == "mixer.A_log")
        for (float& x : v) x = -std::exp(x);
      if (role == "mixer.conv1d.weight") shape = {shape[0], shape[2]};
      if (mamba2 && (role == "mixer.A_log" || role == "mixer.D")) shape = {shape[0], 1};
      if (role == "mixer.norm.weight") shape = {groups, inner / groups};
      add_f32(w, prefix + names.at(role), shape, v);
    }
  }
  std::ofstream(out, std::ios::binary) << w.bytes();
}

// A Hugging Face case as a GGUF file, as convert_hf_to_gguf.py writes its model type: llama.cpp's tensor names
// and metadata keys, llama's (and Mixtral's, Granite's) q / k rows permuted, Gemma's norm weights + 1, routed
// experts stacked into one [experts, out, in] tensor per layer and projection, DeepSeek's kv_b split; matrices
// (stacked experts and k_b / v_b too) F32 or Q8_0 (ggml type 0 or 8) where their rows are whole blocks, the rest
// (norms, biases, token and position embeddings, routers) F32.
void write_gguf_case(const fs::path& dir, const fs::path& out, uint32_t matrix_type) {
  const nlohmann::json c = hf_config(dir);
  const std::string model_type = c.at("model_type"), arch = gguf_arch(model_type);
  if (model_type == "mamba" || model_type == "mamba2") return write_mamba_gguf(dir, out);
  // The head counts regroup or permute rows below (OpenELM's differ per layer; its tensors need neither).
  const int64_t heads = c.value("num_attention_heads", int64_t{0}), kv = c.value("num_key_value_heads", heads);
  const auto tensors = read_safetensors(dir / "model.safetensors");
  llmc_test::GgufWriter w;
  write_gguf_keys(w, c, model_type, arch);
  auto add = [&](const std::string& gname, const std::vector<int64_t>& shape, const std::vector<float>& v) {
    std::vector<uint64_t> ne(shape.rbegin(), shape.rend());
    // llama-quantize (llama-quant.cpp) keeps routers (ffn_gate_inp.weight) and one-row tensors (ggml_n_dims 1:
    // Qwen2-MoE's shared expert gate) F32, as llmc keeps them fp32.
    const bool router = gname.find("ffn_gate_inp.weight") != std::string::npos;
    const bool quantise = matrix_type == 8 && shape.size() >= 2 && shape[shape.size() - 2] > 1 &&
                          shape.back() % 32 == 0 && gname != "token_embd.weight" &&
                          gname != "position_embd.weight" && !router;
    if (quantise) w.tensor(gname, ne, 8, q8_0_blocks(v));
    else add_f32(w, gname, shape, v);
  };
  const std::map<std::string, std::string> globals = {
      {"model.embed_tokens.weight", "token_embd.weight"}, {"model.norm.weight", "output_norm.weight"},
      {"model.norm.bias", "output_norm.bias"},           {"lm_head.weight", "output.weight"},
      {"transformer.wte.weight", "token_embd.weight"},   {"transformer.wpe.weight", "position_embd.weight"},
      {"transformer.ln_f.weight", "output_norm.weight"}, {"transformer.ln_f.bias", "output_norm.bias"},
      {"transformer.word_embeddings.weight", "token_embd.weight"},
      {"transformer.word_embeddings_layernorm.weight", "token_embd_norm.weight"},
      {"transformer.word_embeddings_layernorm.bias", "token_embd_norm.bias"},
      {"gpt_neox.embed_in.weight", "token_embd.weight"}, {"gpt_neox.final_layer_norm.weight", "output_norm.weight"},
      {"gpt_neox.final_layer_norm.bias", "output_norm.bias"}, {"embed_out.weight", "output.weight"},
      {"model.tok_embeddings.weight", "token_embd.weight"}, {"output.weight", "output.weight"},
      {"transformer.embedding.word_embeddings.weight", "token_embd.weight"},  // ChatGLM2 / 3
      {"transformer.encoder.final_layernorm.weight", "output_norm.weight"},
      {"transformer.output_layer.weight", "output.weight"}, {"lm_head.bias", "output.bias"},
      {"transformer.token_embeddings.weight", "token_embd.weight"}, {"transformer.norm.weight", "output_norm.weight"},
      {"transformer.in_out_embed.weight", "token_embd.weight"}, {"transformer.rms_norm.weight", "output_norm.weight"}};
  std::map<std::string, std::map<int, const StTensor*>> experts;  // stacked GGUF name -> expert -> tensor
  for (const auto& [name, t] : tensors) {
    if (name == "transformer.rotary_pos_emb.inv_freq") continue;  // ChatGLMModel.filter_tensors
    std::string gname, role = name, prefix;
    if (split_layer_name(name, prefix, role)) {
      if (role == "block_sparse_moe.input_linear.weight") {  // GraniteMoeModel: [gate; up] split per expert
        const int64_t experts = t.shape[0], width = t.shape[1] / 2, hidden = t.shape[2];
        std::vector<float> gate, up;
        for (int64_t e = 0; e < experts; ++e) {
          const auto first = t.values.begin() + e * 2 * width * hidden;
          gate.insert(gate.end(), first, first + width * hidden);
          up.insert(up.end(), first + width * hidden, first + 2 * width * hidden);
        }
        add(prefix + "ffn_gate_exps.weight", {experts, width, hidden}, gate);
        add(prefix + "ffn_up_exps.weight", {experts, width, hidden}, up);
        continue;
      }
      if (role == "ffn.proj_1.weight") {  // OpenELMModel: [gate; up] split
        const int64_t width = t.shape[0] / 2, hidden = t.shape[1];
        const auto middle = t.values.begin() + width * hidden;
        add(prefix + "ffn_gate.weight", {width, hidden}, std::vector<float>(t.values.begin(), middle));
        add(prefix + "ffn_up.weight", {width, hidden}, std::vector<float>(middle, t.values.end()));
        continue;
      }
      if (role == "feed_forward.experts.gate_up_proj") {  // Llama4Model: [experts, in, gate | up] -> [experts, out, in]
        const int64_t experts = t.shape[0], hidden = t.shape[1], width = t.shape[2] / 2;
        std::vector<float> gate, up;
        for (int64_t e = 0; e < experts; ++e)
          for (int64_t o = 0; o < 2 * width; ++o)
            for (int64_t i = 0; i < hidden; ++i)
              (o < width ? gate : up).push_back(t.values[(e * hidden + i) * 2 * width + o]);
        add(prefix + "ffn_gate_exps.weight", {experts, width, hidden}, gate);
        add(prefix + "ffn_up_exps.weight", {experts, width, hidden}, up);
        continue;
      }
      if (role == "feed_forward.experts.down_proj") {  // [experts, in, out] -> [experts, out, in]
        const int64_t experts = t.shape[0], width = t.shape[1], hidden = t.shape[2];
        std::vector<float> down;
        for (int64_t e = 0; e < experts; ++e)
          for (int64_t o = 0; o < hidden; ++o)
            for (int64_t i = 0; i < width; ++i) down.push_back(t.values[(e * width + i) * hidden + o]);
        add(prefix + "ffn_down_exps.weight", {experts, hidden, width}, down);
        continue;
      }
      if (role == "attention.wqkv.weight") {  // InternLM2Model: per kv group (its queries, k, v) split, q / k permuted
        const auto [q, k, v] = internlm2_qkv(t, heads, kv);
        add(prefix + "attn_q.weight", q.shape, permute_rows(q, heads));
        add(prefix + "attn_k.weight", k.shape, permute_rows(k, kv));
        add(prefix + "attn_v.weight", v.shape, v.values);
        continue;
      }
      if (role == "self_attn.kv_b_proj.weight" && deepseek_kv_b_whole(model_type)) {
        add(prefix + "attn_kv_b.weight", t.shape, t.values);
        continue;
      }
      if (role == "self_attn.kv_b_proj.weight") {  // DeepseekV2Model: split into k_b (transposed per head), v_b
        const auto [k_b, v_b] = deepseek_kv_b(t, heads, c.at("qk_nope_head_dim"), c.at("v_head_dim"));
        add(prefix + "attn_k_b.weight", k_b.shape, k_b.values);
        add(prefix + "attn_v_b.weight", v_b.shape, v_b.values);
        continue;
      }
      gname = gguf_layer_name(model_type, role);
      if (gname.empty()) {
        const auto [e, stacked] = gguf_expert(role);
        experts[prefix + stacked][e] = &t;
        continue;
      }
      gname = prefix + gname;
    } else {
      auto it = globals.find(name);
      if (it == globals.end()) throw std::runtime_error(name + ": no GGUF name for it");
      gname = it->second;
    }
    std::vector<float> v = t.values;
    std::vector<int64_t> shape = t.shape;
    if (model_type == "gpt2" && shape.size() == 2 && name.rfind("transformer.h.", 0) == 0) {  // Conv1D [in, out]
      for (int64_t i = 0; i < shape[0]; ++i)  // GPT2Model.modify_tensors transposes them
        for (int64_t o = 0; o < shape[1]; ++o) v[o * shape[0] + i] = t.values[i * shape[1] + o];
      std::swap(shape[0], shape[1]);
    }
    const bool per_head_qkv = role.rfind("self_attention.query_key_value.", 0) == 0 ||
                              role.rfind("attention.query_key_value.", 0) == 0;
    if (per_head_qkv && model_type != "chatglm")  // ChatGLM2 / 3's is [q; k; v] already
      v = falcon_qkv(t, heads, kv);  // BLOOM's and GPT-NeoX's per head (q, k, v): Falcon's layout with kv = heads
    // LlamaModel.modify_tensors, which GraniteModel and GraniteMoeModel inherit.
    const bool permuted = arch == "llama" || arch == "granite" || arch == "granitemoe" || arch == "olmo" ||
                          arch == "minicpm";
    if (permuted && role.rfind("self_attn.q_proj.", 0) == 0) v = permute_rows(t, heads);  // weight, bias
    if (permuted && role.rfind("self_attn.k_proj.", 0) == 0) v = permute_rows(t, kv);
    const bool gemma = model_type == "gemma" || model_type == "gemma2" || model_type == "gemma3_text";
    if (gemma && name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0)
      for (float& x : v) x += 1.0f;  // GemmaModel / Gemma2Model / Gemma3Model.modify_tensors
    add(gname, shape, v);
  }
  if (rope_type(c) == "llama3") {
    const std::vector<float> divisors = llama3_rope_divisors(c);
    add("rope_freqs.weight", {static_cast<int64_t>(divisors.size())}, divisors);
  }
  if (rope_type(c) == "longrope")  // Phi3MiniModel.generate_extra_tensors
    for (const char* which : {"long", "short"}) {
      const std::vector<float> factors = c["rope_scaling"].at(std::string(which) + "_factor").get<std::vector<float>>();
      add(std::string("rope_factors_") + which + ".weight", {static_cast<int64_t>(factors.size())}, factors);
    }
  for (const auto& [gname, parts] : experts) {
    std::vector<float> v;
    for (const auto& [e, t] : parts) v.insert(v.end(), t->values.begin(), t->values.end());
    std::vector<int64_t> shape = parts.begin()->second->shape;
    shape.insert(shape.begin(), static_cast<int64_t>(parts.size()));
    add(gname, shape, v);
  }
  std::ofstream(out, std::ios::binary) << w.bytes();
}

// The T5 cases as T5Model (conversion/t5.py) writes them: its metadata keys, shared.weight as token_embd and
// gguf-py's enc.* / dec.* names (wi_0 the gate, wi or wi_1 the up projection); every tensor F32.
void write_t5_gguf(const fs::path& dir, const fs::path& out) {
  const nlohmann::json c = nlohmann::json::parse(read_text(dir / "config.json"));
  llmc_test::GgufWriter w;
  w.str("general.architecture", "t5");
  w.u32("t5.context_length", c.value("n_positions", 512));
  w.u32("t5.embedding_length", c.at("d_model"));
  w.u32("t5.feed_forward_length", c.at("d_ff"));
  w.u32("t5.block_count", c.at("num_layers"));
  if (c.contains("num_decoder_layers")) w.u32("t5.decoder_block_count", c.at("num_decoder_layers"));
  w.u32("t5.attention.head_count", c.at("num_heads"));
  w.u32("t5.attention.key_length", c.at("d_kv"));
  w.u32("t5.attention.value_length", c.at("d_kv"));
  w.f32("t5.attention.layer_norm_epsilon", c.at("layer_norm_epsilon").get<float>());
  w.u32("t5.attention.relative_buckets_count", c.at("relative_attention_num_buckets"));
  w.f32("t5.attention.layer_norm_rms_epsilon", c.at("layer_norm_epsilon").get<float>());
  w.u32("t5.decoder_start_token_id", c.at("decoder_start_token_id"));
  write_token_keys(w, c);
  const std::map<std::string, std::string> globals = {
      {"shared.weight", "token_embd.weight"}, {"lm_head.weight", "output.weight"},
      {"encoder.final_layer_norm.weight", "enc.output_norm.weight"},
      {"decoder.final_layer_norm.weight", "dec.output_norm.weight"}};
  // A block's sublayer -> its GGUF name: "ffn." is the feed-forward (layer.1 of an encoder block, layer.2 of a
  // decoder's), "dec.layer.1." the decoder's cross-attention.
  const std::map<std::string, std::string> layer = {
      {"layer.0.layer_norm", "attn_norm"},       {"layer.0.SelfAttention.q", "attn_q"},
      {"layer.0.SelfAttention.k", "attn_k"},     {"layer.0.SelfAttention.v", "attn_v"},
      {"layer.0.SelfAttention.o", "attn_o"},     {"layer.0.SelfAttention.relative_attention_bias", "attn_rel_b"},
      {"dec.layer.1.layer_norm", "cross_attn_norm"}, {"dec.layer.1.EncDecAttention.q", "cross_attn_q"},
      {"dec.layer.1.EncDecAttention.k", "cross_attn_k"}, {"dec.layer.1.EncDecAttention.v", "cross_attn_v"},
      {"dec.layer.1.EncDecAttention.o", "cross_attn_o"}, {"ffn.layer_norm", "ffn_norm"},
      {"ffn.DenseReluDense.wi", "ffn_up"},      {"ffn.DenseReluDense.wi_0", "ffn_gate"},
      {"ffn.DenseReluDense.wi_1", "ffn_up"},    {"ffn.DenseReluDense.wo", "ffn_down"}};
  for (const auto& [name, t] : read_safetensors(dir / "model.safetensors")) {
    std::string gname;
    if (auto it = globals.find(name); it != globals.end()) {
      gname = it->second;
    } else {
      const bool decoder = name.rfind("decoder.block.", 0) == 0;
      const std::string prefix = decoder ? "decoder.block." : "encoder.block.";
      const size_t dot = name.find('.', prefix.size()), last = name.rfind('.');
      if (name.rfind(prefix, 0) != 0 || dot == std::string::npos) throw std::runtime_error(name + ": no GGUF name");
      std::string sub = name.substr(dot + 1, last - dot - 1);
      const std::string ffn = decoder ? "layer.2." : "layer.1.";
      if (sub.rfind(ffn, 0) == 0) sub = "ffn." + sub.substr(ffn.size());
      else if (decoder && sub.rfind("layer.1.", 0) == 0) sub = "dec." + sub;
      gname = std::string(decoder ? "dec" : "enc") + ".blk." + name.substr(prefix.size(), dot - prefix.size()) + "." +
              layer.at(sub) + name.substr(last);
    }
    add_f32(w, gname, t.shape, t.values);
  }
  std::ofstream(out, std::ios::binary) << w.bytes();
}

// NMSE of got against ref over all their values.
double total_nmse(const std::vector<float>& got, const std::vector<float>& ref) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < std::min(got.size(), ref.size()); ++i) {
    err += (static_cast<double>(got[i]) - ref[i]) * (static_cast<double>(got[i]) - ref[i]);
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  return err / std::max(norm, 1e-30);
}

// Bound on the NMSE against llama.cpp's logits (gguf_case's `llamacpp`, made with flash attention off and an f32
// KV cache): its GELU rounds input and output to f16, which puts it 1.5e-7 to 3.3e-7 from the fp32 reference on
// the GELU cases both can run (tests/data/gguf_llamacpp/README.md).
constexpr double kLlamaCppNmse = 1e-6;

int gguf_case(const fs::path& llmc, const fs::path& dir, const fs::path& work, const fs::path& llamacpp, bool q8_0) {
  const nlohmann::json input = nlohmann::json::parse(read_text(dir / "input.json"));
  if (input.contains("decoder_input_ids")) {  // T5: the seq2seq checks on the file
    fs::create_directories(work);
    write_t5_gguf(dir, work / "model-f32.gguf");
    return seq2seq_case(llmc, dir, work, input, work / "model-f32.gguf", work / "model-f32.gguf");
  }
  const nlohmann::json greedy = nlohmann::json::parse(read_text(dir / "greedy.json"));
  const std::vector<int> prompt = input.at("input_ids").get<std::vector<int>>();
  const std::vector<int> expected = greedy.at("new_tokens").get<std::vector<int>>();
  const std::vector<float> ref = read_f32(dir / "logits.bin");
  const size_t vocab = ref.size() / prompt.size();
  fs::create_directories(work);
  write_gguf_case(dir, work / "model-f32.gguf", 0);
  if (q8_0) write_gguf_case(dir, work / "model-q8_0.gguf", 8);
  if (run(q(llmc) + " import " + q(work / "model-f32.gguf") + " -o " + q(work / "arch.yaml")) != 0 ||
      run(q(llmc) + " build " + q(work / "arch.yaml") + kQuickBuild + kF32Kernels + " -o " + q(work / "model")) != 0 ||
      (q8_0 && run(q(llmc) + " build " + q(work / "arch.yaml") + kQuickBuild + " --formats q8_0 --dtype q8_0 -o " +
                   q(work / "model-q8_0")) != 0)) {
    check(false, "import and build");
    return 1;
  }
  auto logits = [&](const char* binary, const char* weights, const fs::path& out) {
    check(run(q(work / binary) + " --weights " + q(work / weights) + " --tokens " + join(prompt, ",") +
              " --threads 2 -n 0 --logits " + q(out)) == 0,
          std::string(binary) + " on " + weights);
    return read_f32(out);
  };
  if (!llamacpp.empty()) {  // the file cannot state the case's model (see tests/data/gguf_llamacpp/README.md)
    const std::vector<float> got = logits("model", "model-f32.gguf", work / "f32.bin");
    compare_logits(got, 0, read_f32(llamacpp), prompt.size(), vocab,
                   "F32 GGUF: prompt logits vs llama.cpp's on the same file", kLlamaCppNmse, 1e-2);
    check(total_nmse(got, ref) > 1e-4,
          "F32 GGUF: far from the Hugging Face logits, as the file's model differs from the case's");
  } else {
    compare_logits(logits("model", "model-f32.gguf", work / "f32.bin"), 0, ref, prompt.size(), vocab,
                   "F32 GGUF: prompt logits vs logits.bin");
    check(run(q(work / "model") + " --weights " + q(work / "model-f32.gguf") + " --tokens " + join(prompt, ",") +
              " --threads 2 -n " + std::to_string(expected.size()) + " --ignore-eos --ids > " + q(work / "ids.txt")) ==
              0,
          "greedy run");
    const std::vector<int> got = parse_ids(read_text(work / "ids.txt"));
    check(got == expected, "greedy tokens: expected " + join(expected, " ") + ", got " + join(got, " "));
  }
  if (q8_0)
    compare_logits(logits("model-q8_0", "model-q8_0.gguf", work / "q8_0-repacked.bin"), 0,
                   logits("model-q8_0", "model-f32.gguf", work / "q8_0-at-load.bin"), prompt.size(), vocab,
                   "Q8_0 GGUF (repacked) vs F32 GGUF quantised to q8_0 at load");
  return failures ? 1 : 0;
}

// A random llama (hidden 256, FFN 512, 2 layers, vocab 256: every matrix whole super-blocks of 256) as GGUF
// files: F32; Q4_K_M's mix (Q6_K for ffn_down and output, Q4_K for the rest); all Q4_K; and each K-quant
// file's values dequantised (ggml's numerics) as F32. Norms and token embeddings stay F32.
struct KQuantModel {
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors;  // name, shape [rows, cols]
  std::map<std::string, std::vector<float>> values;
};

KQuantModel kquant_model() {
  constexpr int64_t kHidden = 256, kFfn = 512, kVocab = 256, kKv = 128;
  KQuantModel m;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset) {
    std::mt19937 rng(static_cast<uint32_t>(m.tensors.size() + 1));
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(shape[0] * (shape.size() > 1 ? shape[1] : 1)));
    for (float& x : v) x = offset + d(rng);
    m.tensors.emplace_back(name, shape);
    m.values[name] = std::move(v);
  };
  add("token_embd.weight", {kVocab, kHidden}, 1.0f, 0.0f);
  add("output_norm.weight", {kHidden}, 0.1f, 1.0f);
  add("output.weight", {kVocab, kHidden}, 0.06f, 0.0f);
  for (int l = 0; l < 2; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    add(b + "attn_norm.weight", {kHidden}, 0.1f, 1.0f);
    add(b + "ffn_norm.weight", {kHidden}, 0.1f, 1.0f);
    add(b + "attn_q.weight", {kHidden, kHidden}, 0.06f, 0.0f);
    add(b + "attn_k.weight", {kKv, kHidden}, 0.06f, 0.0f);
    add(b + "attn_v.weight", {kKv, kHidden}, 0.06f, 0.0f);
    add(b + "attn_output.weight", {kHidden, kHidden}, 0.06f, 0.0f);
    add(b + "ffn_gate.weight", {kFfn, kHidden}, 0.06f, 0.0f);
    add(b + "ffn_up.weight", {kFfn, kHidden}, 0.06f, 0.0f);
    add(b + "ffn_down.weight", {kHidden, kFfn}, 0.04f, 0.0f);
  }
  return m;
}

// ggml type of a tensor in each file: 0 F32, 12 Q4_K, 13 Q5_K, 14 Q6_K. The _m mixes keep the output and
// ffn_down matrices in Q6_K, as llama-quantize's Q4_K_M / Q5_K_M do for the output and some ffn_down.
enum class KMix { f32, q4_k_m, q4_k, q5_k_m, q5_k };
uint32_t kquant_type(KMix mix, const std::string& name, size_t rank) {
  if (mix == KMix::f32 || rank != 2 || name == "token_embd.weight") return 0;
  const bool m = mix == KMix::q4_k_m || mix == KMix::q5_k_m;
  if (m && (name == "output.weight" || name.find("ffn_down") != std::string::npos)) return 14;
  return mix == KMix::q5_k_m || mix == KMix::q5_k ? 13 : 12;
}

// Writes the model as `mix`; dequantised: the quantised values as F32 instead.
void write_kquant_gguf(const KQuantModel& m, KMix mix, bool dequantised, const fs::path& out) {
  llmc_test::GgufWriter w;
  w.str("general.architecture", "llama");
  w.u32("llama.block_count", 2);
  w.u32("llama.context_length", 64);
  w.u32("llama.embedding_length", 256);
  w.u32("llama.feed_forward_length", 512);
  w.u32("llama.attention.head_count", 4);
  w.u32("llama.attention.head_count_kv", 2);
  w.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.f32("llama.rope.freq_base", 10000.0f);
  w.boolean("tokenizer.ggml.add_bos_token", false);
  for (const auto& [name, shape] : m.tensors) {
    const std::vector<float>& v = m.values.at(name);
    const uint32_t type = kquant_type(mix, name, shape.size());
    std::string bytes;
    if (type != 0) {
      const size_t block_bytes = type == 12 ? 144 : type == 13 ? 176 : 210;
      bytes.resize(v.size() / 256 * block_bytes);
      for (size_t b = 0; b < v.size() / 256; ++b) {
        uint8_t* o = reinterpret_cast<uint8_t*>(bytes.data()) + b * block_bytes;
        if (type == 12) llmc::ggml_quantize_q4_k(&v[b * 256], o);
        else if (type == 13) llmc::ggml_quantize_q5_k(&v[b * 256], o);
        else llmc::ggml_quantize_q6_k(&v[b * 256], o);
      }
    }
    std::vector<uint64_t> ne(shape.rbegin(), shape.rend());
    if (type != 0 && !dequantised) {
      w.tensor(name, ne, type, bytes);
      continue;
    }
    std::vector<float> f = v;
    if (type != 0)
      llmc::ggml_dequantize(static_cast<llmc::GgmlType>(type), reinterpret_cast<const uint8_t*>(bytes.data()), f.size(), f.data());
    w.tensor(name, ne, 0, std::string(reinterpret_cast<const char*>(f.data()), 4 * f.size()));
  }
  std::ofstream(out, std::ios::binary) << w.bytes();
}

// The K-quant kernels quantise activations to 8 bits per super-block of 256 (q8_K, as ggml): the only
// difference from the dequantised file run in f32. With x of about Gaussian rows, the step is amax/127 ≈
// 3σ/127, a rounding error of step/√12 ≈ 0.007σ, NMSE ≈ 5e-5 per matmul input; through 7 matmuls a layer,
// 2 layers and the output the worst logits row here is at NMSE 3.1e-4 (Q4_K) and 4.0e-4 (Q4_K_M mix), so
// 2e-3 bounds it with room, while a kernel error as large as Q4_K's own weight error (NMSE 3e-3..4e-3 in
// the unit tests) would not pass.
constexpr double kQ8KActivationNmse = 2e-3;

int kquant_case(const fs::path& llmc, const fs::path& work) {
  fs::create_directories(work);
  const KQuantModel m = kquant_model();
  write_kquant_gguf(m, KMix::f32, false, work / "model-f32.gguf");
  write_kquant_gguf(m, KMix::q4_k_m, false, work / "model-q4_k_m.gguf");
  write_kquant_gguf(m, KMix::q4_k_m, true, work / "model-q4_k_m-dequantised.gguf");
  write_kquant_gguf(m, KMix::q4_k, false, work / "model-q4_k.gguf");
  write_kquant_gguf(m, KMix::q4_k, true, work / "model-q4_k-dequantised.gguf");
  write_kquant_gguf(m, KMix::q5_k_m, false, work / "model-q5_k_m.gguf");
  write_kquant_gguf(m, KMix::q5_k_m, true, work / "model-q5_k_m-dequantised.gguf");
  write_kquant_gguf(m, KMix::q5_k, false, work / "model-q5_k.gguf");
  if (run(q(llmc) + " import " + q(work / "model-f32.gguf") + " -o " + q(work / "arch.yaml")) != 0 ||
      run(q(llmc) + " build " + q(work / "arch.yaml") + " -o " + q(work / "model")) != 0 ||
      run(q(llmc) + " build " + q(work / "arch.yaml") + " --dtype q4_k -o " + q(work / "model-q4_k")) != 0 ||
      run(q(llmc) + " build " + q(work / "arch.yaml") + " --dtype q5_k -o " + q(work / "model-q5_k")) != 0 ||
      run(q(llmc) + " quantize " + q(work / "arch.yaml") + " --weights " + q(work / "model-f32.gguf") +
          " --dtype q4_k -o " + q(work / "quantized-q4_k.safetensors")) != 0) {
    check(false, "import, build and quantize");
    return 1;
  }
  const std::vector<int> prompt = {1, 17, 200, 5, 99, 42, 3, 250, 128, 64, 7, 31};
  const size_t vocab = 256;
  auto logits = [&](const char* binary, const char* weights, const std::string& threads) {
    const fs::path out = work / (std::string(binary) + "-" + weights + "-" + threads + ".bin");
    check(run(q(work / binary) + " --weights " + q(work / weights) + " --tokens " + join(prompt, ",") +
              " --threads " + threads + " -n 0 --logits " + q(out)) == 0,
          std::string(binary) + " on " + weights);
    return read_f32(out);
  };
  const auto mix = logits("model", "model-q4_k_m.gguf", "2");
  compare_logits(mix, 0, logits("model", "model-q4_k_m-dequantised.gguf", "2"), prompt.size(), vocab,
                 "Q4_K_M mix GGUF (q4_k / q6_k kernels) vs its values dequantised, in f32", kQ8KActivationNmse, 0.05);
  compare_logits(logits("model", "model-q4_k.gguf", "2"), 0, logits("model", "model-q4_k-dequantised.gguf", "2"),
                 prompt.size(), vocab, "Q4_K GGUF (q4_k kernels) vs its values dequantised, in f32", kQ8KActivationNmse,
                 0.05);
  check(mix == logits("model", "model-q4_k_m.gguf", "1"), "Q4_K_M mix: 1 and 2 threads give the same bits");
  const auto repacked = logits("model-q4_k", "model-q4_k.gguf", "2");
  check(repacked == logits("model-q4_k", "model-f32.gguf", "2"),
        "Q4_K GGUF repacked == F32 GGUF quantised to q4_k at load (bit for bit)");
  check(repacked == logits("model-q4_k", "quantized-q4_k.safetensors", "2"),
        "Q4_K GGUF repacked == llmc quantize --dtype q4_k file (bit for bit)");
  const auto mix5 = logits("model", "model-q5_k_m.gguf", "2");
  compare_logits(mix5, 0, logits("model", "model-q5_k_m-dequantised.gguf", "2"), prompt.size(), vocab,
                 "Q5_K_M mix GGUF (q5_k / q6_k kernels) vs its values dequantised, in f32", kQ8KActivationNmse, 0.05);
  check(mix5 == logits("model", "model-q5_k_m.gguf", "1"), "Q5_K_M mix: 1 and 2 threads give the same bits");
  check(logits("model-q5_k", "model-q5_k.gguf", "2") == logits("model-q5_k", "model-f32.gguf", "2"),
        "Q5_K GGUF repacked == F32 GGUF quantised to q5_k at load (bit for bit)");
  return failures ? 1 : 0;
}

int stories_case(const fs::path& llmc, const fs::path& arch, const fs::path& data, const fs::path& work) {
  fs::create_directories(work);
  if (run(q(llmc) + " build " + q(arch) + " -o " + q(work / "stories")) != 0) {
    check(false, "build");
    return 1;
  }
  // llama2.c's -n 64 counts positions including the 5 prompt tokens: 60 new tokens.
  const std::string base = q(work / "stories") + " --weights " + q(data / "stories260K.bin") + " --tokenizer " +
                           q(data / "tok512.bin") + " --prompt 'Once upon a time' -n 60 --temp 0 --threads 2";
  check(run(base + " > " + q(work / "text.txt")) == 0, "text run");
  check(read_text(work / "text.txt") == read_text(data / "once_upon_a_time_t0_n64.txt"),
        "printed text equals llama2.c run.c output byte for byte");
  check(run(base + " --ids --logits " + q(work / "logits.bin") + " > " + q(work / "ids.txt")) == 0, "ids run");
  // The .ids golden: "sequence:" lists every fed token (BOS, prompt, generated) and the last generated one.
  const std::string golden_ids = read_text(data / "once_upon_a_time_t0_n64.ids");
  const size_t at = golden_ids.find("sequence:");
  if (at == std::string::npos) {
    check(false, "golden data: expected a 'sequence:' line in once_upon_a_time_t0_n64.ids");
    return 1;
  }
  std::stringstream ss(golden_ids.substr(at + 9, golden_ids.find('\n', at) - at - 9));
  std::vector<int> sequence;
  for (int id; ss >> id;) sequence.push_back(id);
  if (sequence.size() != 65) {  // BOS, 4 prompt tokens, 60 generated
    check(false, "golden data: expected 65 ids after 'sequence:', found " + std::to_string(sequence.size()));
    return 1;
  }
  const std::vector<int> expected(sequence.begin() + 5, sequence.end());
  const std::vector<int> got = parse_ids(read_text(work / "ids.txt"));
  check(got == expected, "greedy ids: expected " + join(expected, " ") + ", got " + join(got, " "));
  compare_logits(read_f32(work / "logits.bin"), 0, read_f32(data / "once_upon_a_time_t0_n64.logits.f32"), 64, 512,
                 "logits vs llama2.c");
  return failures ? 1 : 0;
}

}  // namespace

// The rows of `got` and `ref` (rows × width each) compared row by row as compare_logits does.
std::vector<float> slice_rows(const std::vector<float>& v, size_t first, size_t rows, size_t width) {
  if ((first + rows) * width > v.size()) return {};
  return std::vector<float>(v.begin() + static_cast<long>(first * width), v.begin() + static_cast<long>((first + rows) * width));
}

// An encoder (BERT, BertForMaskedLM): MLM logits of every position with the case's token types; the last
// hidden states (--embed --pooling none) against hidden_states.npy; mean pooling with --normalize against the
// same computed here; token types must matter; several inputs batched (--tokens-file) give each input's rows
// of its own run.
// Mean pooling of n rows of `hidden`, L2-normalised (sentence-transformers' mean pooling over every position, then
// Normalize).
std::vector<float> mean_pooled(const std::vector<float>& rows, size_t n, size_t hidden) {
  std::vector<double> mean(hidden, 0.0);
  for (size_t t = 0; t < n; ++t)
    for (size_t i = 0; i < hidden; ++i) mean[i] += rows[t * hidden + i];
  double norm = 0.0;
  for (double& m : mean) norm += (m / static_cast<double>(n)) * (m / static_cast<double>(n));
  std::vector<float> pooled;
  for (double m : mean) pooled.push_back(static_cast<float>(m / static_cast<double>(n) / std::sqrt(norm)));
  return pooled;
}

// The BERT case as BertModel (conversion/bert.py) writes it: the encoder alone (no MLM head, no pooler, no
// position_ids), gguf-py's names, attention.causal false and the token type count; every tensor F32.
void write_bert_gguf(const fs::path& dir, const fs::path& out) {
  const nlohmann::json c = nlohmann::json::parse(read_text(dir / "config.json"));
  llmc_test::GgufWriter w;
  w.str("general.architecture", "bert");
  w.u32("bert.block_count", c.at("num_hidden_layers"));
  w.u32("bert.context_length", c.at("max_position_embeddings"));
  w.u32("bert.embedding_length", c.at("hidden_size"));
  w.u32("bert.feed_forward_length", c.at("intermediate_size"));
  w.u32("bert.attention.head_count", c.at("num_attention_heads"));
  w.u32("bert.attention.head_count_kv", c.at("num_attention_heads"));
  w.f32("bert.attention.layer_norm_epsilon", c.at("layer_norm_eps").get<float>());
  w.boolean("bert.attention.causal", false);
  w.u32("tokenizer.ggml.token_type_count", c.value("type_vocab_size", 2));
  const std::map<std::string, std::string> globals = {
      {"embeddings.word_embeddings.weight", "token_embd.weight"},
      {"embeddings.token_type_embeddings.weight", "token_types.weight"},
      {"embeddings.position_embeddings.weight", "position_embd.weight"},
      {"embeddings.LayerNorm.weight", "token_embd_norm.weight"}, {"embeddings.LayerNorm.bias", "token_embd_norm.bias"}};
  const std::map<std::string, std::string> layer = {
      {"attention.self.query", "attn_q"}, {"attention.self.key", "attn_k"}, {"attention.self.value", "attn_v"},
      {"attention.output.dense", "attn_output"}, {"attention.output.LayerNorm", "attn_output_norm"},
      {"intermediate.dense", "ffn_up"}, {"output.dense", "ffn_down"}, {"output.LayerNorm", "layer_output_norm"}};
  for (const auto& [full, t] : read_safetensors(dir / "model.safetensors")) {
    const std::string name = full.rfind("bert.", 0) == 0 ? full.substr(5) : full;
    if (name.rfind("cls.", 0) == 0 || name.rfind("pooler.", 0) == 0 || name == "embeddings.position_ids") continue;
    std::string gname;
    if (auto it = globals.find(name); it != globals.end()) {
      gname = it->second;
    } else {
      const std::string prefix = "encoder.layer.";
      const size_t dot = name.find('.', prefix.size()), last = name.rfind('.');
      if (name.rfind(prefix, 0) != 0 || dot == std::string::npos) throw std::runtime_error(full + ": no GGUF name");
      gname = "blk." + name.substr(prefix.size(), dot - prefix.size()) + "." +
              layer.at(name.substr(dot + 1, last - dot - 1)) + name.substr(last);
    }
    add_f32(w, gname, t.shape, t.values);
  }
  std::ofstream(out, std::ios::binary) << w.bytes();
}

// The BERT case from the GGUF BertModel writes: the last hidden states (--embed --pooling none) and the mean-pooled
// embedding against the reference's.
int gguf_encoder_case(const fs::path& llmc, const fs::path& dir, const fs::path& work) {
  const nlohmann::json input = nlohmann::json::parse(read_text(dir / "input.json"));
  const std::vector<int> prompt = input.at("input_ids").get<std::vector<int>>();
  const std::vector<int> types = input.at("token_type_ids").get<std::vector<int>>();
  const std::vector<float> states = read_npy(dir / "hidden_states.npy");
  const size_t n = prompt.size();
  const size_t layers_plus_one = nlohmann::json::parse(read_text(dir / "config.json")).at("num_hidden_layers").get<size_t>() + 1;
  const size_t hidden = states.size() / n / layers_plus_one;
  const std::vector<float> last_hidden = slice_rows(states, (layers_plus_one - 1) * n, n, hidden);
  fs::create_directories(work);
  write_bert_gguf(dir, work / "model-f32.gguf");
  const bool built = run(q(llmc) + " import " + q(work / "model-f32.gguf") + " -o " + q(work / "arch.yaml")) == 0 &&
                     run(q(llmc) + " build " + q(work / "arch.yaml") + kQuickBuild + kF32Kernels + " -o " +
                         q(work / "model")) == 0;
  check(built, "import the GGUF and build");
  if (!built) return 1;
  const std::string base = q(work / "model") + " --weights " + q(work / "model-f32.gguf") + " --tokens " +
                           join(prompt, ",") + " --token-types " + join(types, ",");
  check(run(base + " --embed " + q(work / "hidden.bin") + " --pooling none") == 0, "GGUF encoder run");
  compare_logits(read_f32(work / "hidden.bin"), 0, last_hidden, n, hidden, "GGUF: --embed --pooling none vs hidden_states.npy");
  check(run(base + " --embed " + q(work / "mean.bin") + " --pooling mean --normalize") == 0, "GGUF mean pooling");
  compare_logits(read_f32(work / "mean.bin"), 0, mean_pooled(last_hidden, n, hidden), 1, hidden,
                 "GGUF: --pooling mean --normalize vs reference");
  return failures ? 1 : 0;
}

int encoder_case(const fs::path& llmc, const fs::path& dir, const fs::path& work) {
  const nlohmann::json input = nlohmann::json::parse(read_text(dir / "input.json"));
  const std::vector<int> prompt = input.at("input_ids").get<std::vector<int>>();
  const std::vector<int> types = input.at("token_type_ids").get<std::vector<int>>();
  const std::vector<float> ref = read_f32(dir / "logits.bin");
  const std::vector<float> states = read_npy(dir / "hidden_states.npy");
  if (prompt.empty() || types.size() != prompt.size() || ref.empty() || ref.size() % prompt.size() != 0 ||
      states.size() % prompt.size() != 0) {
    check(false, "golden data: expected a prompt, its token types, logits and hidden states in " + dir.string());
    return 1;
  }
  const size_t n = prompt.size(), vocab = ref.size() / n;
  const size_t layers_plus_one = std::stoul(nlohmann::json::parse(read_text(dir / "config.json")).at("num_hidden_layers").dump()) + 1;
  const size_t hidden = states.size() / n / layers_plus_one;
  const std::vector<float> last_hidden = slice_rows(states, (layers_plus_one - 1) * n, n, hidden);
  fs::create_directories(work);
  if (!import_and_build(llmc, dir, work)) return 1;
  const std::string base = q(work / "model") + " --weights " + q(dir / "model.safetensors") + " --threads 2";
  check(run(base + " --tokens " + join(prompt, ",") + " --token-types " + join(types, ",") + " --logits " +
            q(work / "logits.bin") + " --embed " + q(work / "hidden.bin") + " --pooling none") == 0,
        "encoder run with token types");
  compare_logits(read_f32(work / "logits.bin"), 0, ref, n, vocab, "MLM logits vs logits.bin");
  compare_logits(read_f32(work / "hidden.bin"), 0, last_hidden, n, hidden, "--embed --pooling none vs hidden_states.npy");
  const std::vector<float> pooled = mean_pooled(last_hidden, n, hidden);
  check(run(base + " --tokens " + join(prompt, ",") + " --token-types " + join(types, ",") + " --embed " +
            q(work / "mean.bin") + " --pooling mean --normalize") == 0,
        "encoder run, mean pooling");
  compare_logits(read_f32(work / "mean.bin"), 0, pooled, 1, hidden, "--pooling mean --normalize vs reference");
  // Without the token types (all type 0) the logits must move far: the case cannot pass without them.
  check(run(base + " --tokens " + join(prompt, ",") + " --logits " + q(work / "untyped.bin")) == 0,
        "encoder run without token types");
  const std::vector<float> untyped = read_f32(work / "untyped.bin");
  char buf[160];
  std::snprintf(buf, sizeof buf, "token types matter: logits without them NMSE %.3g vs reference (must be > %g)",
                nmse(untyped, ref), kMinNmseWithoutFeature);
  check(nmse(untyped, ref) > kMinNmseWithoutFeature, buf);
  // A batch of three inputs (the prompt, its first 7 tokens, the prompt again) in one step: each input's rows are
  // those of its own run.
  const std::vector<int> head(prompt.begin(), prompt.begin() + 7);
  {
    std::ofstream batch(work / "batch.txt");
    batch << join(prompt, ",") << "\n" << join(head, ",") << "\n" << join(prompt, ",") << "\n";
  }
  check(run(base + " --tokens " + join(head, ",") + " --logits " + q(work / "head.bin")) == 0, "encoder run, 7 tokens");
  check(run(base + " --tokens-file " + q(work / "batch.txt") + " --logits " + q(work / "batch.bin")) == 0,
        "encoder run, three inputs batched");
  const std::vector<float> batched = read_f32(work / "batch.bin");
  check(batched.size() == (2 * n + head.size()) * vocab, "batched --logits: a row per position of every input");
  compare_logits(batched, 0, untyped, n, vocab, "batched input 1 vs its own run (llmc vs llmc)");
  compare_logits(batched, n, read_f32(work / "head.bin"), head.size(), vocab, "batched input 2 vs its own run");
  compare_logits(batched, n + head.size(), untyped, n, vocab, "batched input 3 vs its own run");
  return failures ? 1 : 0;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "encoder" && argc == 5) return encoder_case(argv[2], argv[3], argv[4]);
  if (mode == "gguf_encoder" && argc == 5) return gguf_encoder_case(argv[2], argv[3], argv[4]);
  if (mode == "hf" && (argc == 5 || argc == 6)) return hf_case(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : "");
  if (mode == "stories260k" && argc == 6) return stories_case(argv[2], argv[3], argv[4], argv[5]);
  if (mode == "gguf" && argc >= 5 && argc <= 7) {
    bool q8_0 = false;
    std::string llamacpp;
    for (int i = 5; i < argc; ++i) (std::string(argv[i]) == "--q8_0" ? q8_0 = true : (llamacpp = argv[i], false));
    return gguf_case(argv[2], argv[3], argv[4], llamacpp, q8_0);
  }
  if (mode == "kquant" && argc == 4) return kquant_case(argv[2], argv[3]);
  std::fprintf(stderr,
               "usage: golden_runner hf LLMC CASE_DIR WORK_DIR [FEATURE_CHECKS_JSON]\n"
               "       golden_runner encoder LLMC CASE_DIR WORK_DIR\n"
               "       golden_runner stories260k LLMC ARCH_YAML DATA_DIR WORK_DIR\n"
               "       golden_runner gguf LLMC CASE_DIR WORK_DIR [--q8_0] [LLAMACPP_LOGITS]\n"
               "       golden_runner gguf_encoder LLMC CASE_DIR WORK_DIR\n"
               "       golden_runner kquant LLMC WORK_DIR\n");
  return 2;
}
