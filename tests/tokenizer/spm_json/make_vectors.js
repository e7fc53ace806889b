// Writes tests/data/tokenizers/hf/spm-json/NAME.expected.json for every variant in variants.json: what the
// Hugging Face tokenizers library (Rust, through its Node binding) makes of the llama-spm test strings and a few
// more with special tokens and odd spacing. Run once when the variants change; the tests only read its output:
//   npm install --prefix /tmp/hftok tokenizers@0.23.2
//   NODE_PATH=/tmp/hftok/node_modules node tests/tokenizer/spm_json/make_vectors.js
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require("tokenizers");

const data = path.join(__dirname, "../../data/tokenizers");
const dir = path.join(data, "hf/spm-json");
const config = JSON.parse(fs.readFileSync(path.join(dir, "variants.json"), "utf8"));
const sep = "\n__ggml_vocab_test__\n";
const vectors = fs.readFileSync(path.join(data, "gguf/ggml-vocab-llama-spm.gguf.inp"), "utf8").split(sep);
vectors.pop();  // the file ends with a separator
const inputs = vectors.concat(config.extra_inputs);

(async () => {
  for (const v of config.variants) {
    const json = JSON.parse(fs.readFileSync(path.join(data, "hf", v.base), "utf8"));
    Object.assign(json, v.replace);
    const tok = Tokenizer.fromString(JSON.stringify(json));
    const out = { variant: v.name, tokenizers: require("tokenizers/package.json").version, inputs, ids: [], ids_bos: [], decoded: [] };
    for (const text of inputs) {
      const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      out.ids.push(ids);
      out.ids_bos.push((await tok.encode(text, null, { addSpecialTokens: true })).getIds());
      out.decoded.push(await tok.decode(ids, true));
    }
    fs.writeFileSync(path.join(dir, v.name + ".expected.json"), JSON.stringify(out) + "\n");
    const llama = fs.readFileSync(path.join(data, "gguf/ggml-vocab-llama-spm.gguf.out"), "utf8").trim()
      .split("\n").map((l) => JSON.stringify(l.trim().split(/\s+/).filter((x) => x).map(Number)));
    const same = out.ids.slice(0, llama.length).filter((ids, i) => JSON.stringify(ids) === llama[i]).length;
    console.log(`${v.name}: ${same}/${llama.length} equal to llama-spm .out`);
  }
})();
