// Logits of every position of a token list, from libllama: llama_logits MODEL OUT THREADS ID,ID,...
// Writes n_tokens x n_vocab fp32 (row per position). A measuring tool for NMSE against llmc's --logits.
// An encoder–decoder (T5): ENCODER_IDS=ID,ID,... is the encoder's input (llama_encode), the ids the decoder's.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: llama_logits MODEL OUT THREADS ID,ID,...\n");
    return 2;
  }
  auto parse = [](const char* list) {
    std::vector<llama_token> ids;
    std::stringstream ss(list);
    for (std::string t; std::getline(ss, t, ',');) ids.push_back(std::atoi(t.c_str()));
    return ids;
  };
  std::vector<llama_token> ids = parse(argv[4]);
  std::vector<llama_token> encoder_ids = parse(std::getenv("ENCODER_IDS") ? std::getenv("ENCODER_IDS") : "");
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) return std::fprintf(stderr, "cannot load %s\n", argv[1]), 1;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(ids.size() + 16);
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(std::max(ids.size(), encoder_ids.size()));
  cp.n_threads = cp.n_threads_batch = std::atoi(argv[3]);
  if (std::getenv("KV_F32")) cp.type_k = cp.type_v = GGML_TYPE_F32;  // else llama.cpp's default, f16
  if (std::getenv("NO_FA")) cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  if (std::getenv("FA")) cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return std::fprintf(stderr, "cannot create a context\n"), 1;
  const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  if (!encoder_ids.empty() &&
      llama_encode(ctx, llama_batch_get_one(encoder_ids.data(), static_cast<int32_t>(encoder_ids.size()))) != 0)
    return std::fprintf(stderr, "llama_encode failed\n"), 1;
  if (std::getenv("ONE_BY_ONE")) {  // decode: one token per llama_decode call
    FILE* out = std::fopen(argv[2], "wb");
    for (size_t i = 0; i < ids.size(); ++i) {
      if (llama_decode(ctx, llama_batch_get_one(&ids[i], 1)) != 0) return std::fprintf(stderr, "llama_decode failed\n"), 1;
      std::fwrite(llama_get_logits_ith(ctx, -1), 4, vocab, out);
    }
    std::fclose(out);
    return 0;
  }
  llama_batch batch = llama_batch_init(static_cast<int32_t>(ids.size()), 0, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.token[i] = ids[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(ids.size());
  if (llama_decode(ctx, batch) != 0) return std::fprintf(stderr, "llama_decode failed\n"), 1;
  FILE* out = std::fopen(argv[2], "wb");
  for (size_t i = 0; i < ids.size(); ++i) std::fwrite(llama_get_logits_ith(ctx, static_cast<int32_t>(i)), 4, vocab, out);
  std::fclose(out);
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
