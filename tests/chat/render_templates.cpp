// Renders chat-template jobs with llmc's Jinja engine for check_templates.py, which renders the same
// jobs with python3-jinja2 and compares. Input: a JSON array of {"id", "template", "context"}.
// Output (stdout): a JSON array of {"id", "output", "data_mask"} or {"id", "error"}.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "llmc/jinja.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: render_templates JOBS.json\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << argv[1] << ": cannot read\n";
    return 2;
  }
  const auto jobs = nlohmann::ordered_json::parse(in);
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const auto& job : jobs) {
    nlohmann::ordered_json r;
    r["id"] = job["id"];
    try {
      const llmc::jinja::Template t(job["template"].get<std::string>());
      llmc::jinja::Value context = llmc::jinja::from_json(job["context"]);
      // bos/eos are the template's own text (special tokens), not request data.
      for (const char* key : {"bos_token", "eos_token"})
        if (const auto* v = context.find(key); v && v->is_string())
          context.set(key, llmc::jinja::Value::literal(v->str().text));
      const llmc::jinja::Str out = t.render(context);
      r["output"] = out.text;
      std::string mask;
      for (char c : out.from_data) mask += c ? '1' : '0';
      r["data_mask"] = mask;
    } catch (const llmc::jinja::Error& e) {
      r["error"] = e.what();
    }
    results.push_back(r);
  }
  std::cout << results.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}
