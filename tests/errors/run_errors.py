#!/usr/bin/env python3
"""Error-path tests of `llmc` and of a generated binary (stories260k): every bad input must end in a
non-zero exit below 128 (no crash, no sanitizer report), one message naming the problem, and no
output file left behind (neither the target nor a temporary).

  run_errors.py --list                         the case names (CMake makes one test per case)
  run_errors.py CASE --llmc L --bin B --data D --arch A --work W
      L: the llmc binary; B: stories260k binary built from A (cases 'gen_*' need it); D: tests/data;
      W: a scratch folder (this case uses W/CASE)."""
import argparse, json, os, shutil, struct, subprocess, sys

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


class Ctx:
    def __init__(self, a):
        self.llmc, self.bin, self.data, self.arch = a.llmc, a.bin, a.data, a.arch
        self.work = os.path.join(a.work, a.case)
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, data):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return p

    def read(self, rel):
        with open(os.path.join(self.data, rel), "rb") as f:
            return f.read()

    def run(self, argv, stdin=None, timeout=300):
        env = dict(os.environ)  # LLMC_CACHE_DIR as ctest sets it (empty: llmc's default cache)
        p = subprocess.run(argv, capture_output=True, timeout=timeout, env=env, input=stdin)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def leftovers(self):
        return sorted(f for f in os.listdir(self.work) if ".tmp" in f)

    def expect_fail(self, argv, *needles, absent=()):
        """argv must fail cleanly, its stderr must contain every needle (case-insensitive), and the
        files in `absent` (names in the work folder) must not exist afterwards. The needles name both what
        was wrong (the file, option, field or tensor) and the problem (what was expected or found): at least
        two, none empty."""
        if len(needles) < 2 or not all(needles):
            raise AssertionError("test error: %s checks %r; give the input and the problem the message must name"
                                 % (" ".join(argv), needles))
        rc, out, err = self.run(argv)
        shown = " ".join(argv)
        problems = []
        if rc == 0:
            problems.append("exit code 0 (expected a failure)")
        elif rc < 0 or rc >= 128:
            problems.append("crashed: exit code %d" % rc)
        for bad in ("Sanitizer", "runtime error:", "terminate called", "Segmentation", "core dumped"):
            if bad in err:
                problems.append("stderr has '%s'" % bad)
        for n in needles:
            if n.lower() not in err.lower():
                problems.append("stderr lacks '%s'" % n)
        for f in absent:
            if os.path.exists(self.path(f)):
                problems.append("left %s behind" % f)
        if self.leftovers():
            problems.append("left temporaries: %s" % self.leftovers())
        if problems:
            raise AssertionError("%s\n  -> %s\n  exit %d\n  stderr: %s" % (shown, "; ".join(problems), rc, err[-2000:]))
        print("ok: %s\n    %s" % (shown, err.strip().splitlines()[-1] if err.strip() else "(no stderr)"))

    def expect_ok(self, argv, timeout=300):
        rc, out, err = self.run(argv, timeout=timeout)
        if rc != 0:
            raise AssertionError("%s: expected success, exit %d\n%s" % (" ".join(argv), rc, err[-2000:]))
        return out


# ------------------------------------------------------------------------------------------- spec / llmc
def arch_text(ctx):
    with open(ctx.arch) as f:
        return f.read()


def spec_case(ctx, text, *needles):
    spec = ctx.write("bad.yaml", text)
    ctx.expect_fail([ctx.llmc, "compile", spec, "-o", ctx.path("out.cpp")], "bad.yaml", *needles, absent=["out.cpp"])
    ctx.expect_fail([ctx.llmc, "inspect", spec], "bad.yaml", *needles)


@case
def spec_malformed_yaml(ctx):
    spec_case(ctx, "llmc: 1\nname: x\nmodel: {vocab_size: 5\n  hidden: [1, 2\n", "malformed YAML", "end of map flow")


@case
def spec_not_a_mapping(ctx):
    spec_case(ctx, "- just\n- a list\n", "mapping")


@case
def spec_empty_file(ctx):
    spec_case(ctx, "", "expected a YAML mapping")


@case
def spec_binary_garbage(ctx):
    spec_case(ctx, bytes(range(256)) * 4, "expected a YAML mapping")


@case
def spec_unknown_key(ctx):
    spec_case(ctx, arch_text(ctx).replace("family: llama", "family: llama\nfamliy: llama"), "famliy", "unknown key")


@case
def spec_unknown_nested_key(ctx):
    spec_case(ctx, arch_text(ctx).replace("theta: 10000.0", "theta: 10000.0\n  thetta: 1"), "thetta", "unknown key")


@case
def spec_missing_required(ctx):
    spec_case(ctx, arch_text(ctx).replace("  hidden_size: 64\n", ""), "hidden_size", "missing")


@case
def spec_wrong_type(ctx):
    spec_case(ctx, arch_text(ctx).replace("num_layers: 5", "num_layers: five"), "num_layers", "expected an integer",
              "five")


@case
def spec_negative_size(ctx):
    spec_case(ctx, arch_text(ctx).replace("num_layers: 5", "num_layers: -5"), "num_layers",
              "expected a positive integer, found -5")


def hf_config(ctx, **changes):
    with open(os.path.join(ctx.data, "golden", "llama", "config.json")) as f:
        c = json.load(f)
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return json.dumps(c)


@case
def spec_heads_not_dividing_hidden(ctx):
    # a spec gives head_dim explicitly (heads × head_dim may differ from hidden, as in Gemma); without it:
    spec_case(ctx, arch_text(ctx).replace("  head_dim: 8\n", "").replace("heads: 8", "heads: 7", 1), "head_dim",
              "missing")
    spec_case(ctx, arch_text(ctx).replace("heads: 8", "heads: 0", 1), "attention.heads", "expected values >= 1, found 0")
    # where the sizes are derived (llama2.c header, config.json without head_dim), heads must divide hidden
    hdr = bytearray(ctx.read("stories260k/stories260K.bin")[:28])
    struct.pack_into("<i", hdr, 12, 7)
    ctx.expect_fail([ctx.llmc, "import", ctx.write("heads.bin", bytes(hdr)), "-o", ctx.path("o.yaml")], "heads.bin",
                    "7 heads", "dim 64", absent=["o.yaml"])
    ctx.write("hf/config.json", hf_config(ctx, num_attention_heads=7, num_key_value_heads=7, head_dim=None))
    ctx.expect_fail([ctx.llmc, "import", ctx.path("hf"), "-o", ctx.path("o.yaml")], "hf/config.json", "num_attention_heads",
                    "7 heads do not divide hidden_size 64", absent=["o.yaml"])


@case
def spec_kv_heads_not_dividing_heads(ctx):
    spec_case(ctx, arch_text(ctx).replace("kv_heads: 4", "kv_heads: 3"), "kv_heads", "3 kv heads do not divide 8")
    ctx.write("hf/config.json", hf_config(ctx, num_key_value_heads=3))
    ctx.expect_fail([ctx.llmc, "import", ctx.path("hf"), "-o", ctx.path("o.yaml")], "hf/config.json",
                    "3 kv heads do not divide 4 attention heads", absent=["o.yaml"])


@case
def spec_per_layer_list_length(ctx):
    spec_case(ctx, arch_text(ctx).replace("intermediate_size: 172", "intermediate_size: [172, 172]"),
              "intermediate_size", "expected 5 values (one per layer), found 2")


@case
def spec_unknown_family(ctx):
    # `family` is a free label in the spec today (reported to the spec owner); unknown model types are
    # refused by import, and unknown values of every feature field by the spec parser (spec_unknown_feature).
    ctx.write("hf/config.json", hf_config(ctx, model_type="llamaa"))
    ctx.expect_fail([ctx.llmc, "import", ctx.path("hf"), "-o", ctx.path("o.yaml")], "config.json", "llamaa",
                    "not supported", absent=["o.yaml"])
    spec_case(ctx, arch_text(ctx).replace("family: llama", "family: [llama]"), "family", "expected a string")


@case
def spec_unknown_feature(ctx):
    spec_case(ctx, arch_text(ctx).replace("activation: silu", "activation: swish"), "activation", "swish")
    spec_case(ctx, arch_text(ctx).replace("kind: rope", "kind: ropes"), "kind", "ropes")
    spec_case(ctx, arch_text(ctx).replace("qkv: separate", "qkv: interleaved"), "qkv", "interleaved")
    spec_case(ctx, arch_text(ctx).replace("kind: gated", "kind: mixture"), "mlp.kind", "mixture")
    spec_case(ctx, arch_text(ctx).replace("llmc: 1", "llmc: 2"), "'llmc'", "reads schema version 1")


@case
def spec_missing_file(ctx):
    ctx.expect_fail([ctx.llmc, "compile", ctx.path("nope.yaml"), "-o", ctx.path("out.cpp")], "nope.yaml",
                    "cannot open the spec file", absent=["out.cpp"])


def deepseek_spec(ctx, case, *edits):
    """The spec `llmc import` writes for a DeepSeek golden case, with (old, new) text edits applied."""
    out = ctx.path(case + ".yaml")
    ctx.expect_ok([ctx.llmc, "import", os.path.join(ctx.data, "golden", case), "-o", out])
    with open(out) as f:
        text = f.read()
    for old, new in edits:
        assert old in text, (case, old)
        text = text.replace(old, new)
    return text


@case
def spec_deepseek_groups(ctx):
    # V2's 8 routed experts in 4 groups, 2 kept: groups must divide the experts, at most all of them kept
    spec_case(ctx, deepseek_spec(ctx, "deepseek_v2", ("groups: 4,", "groups: 3,")), "mlp.experts.groups",
              "3 groups do not divide the 8 experts")
    spec_case(ctx, deepseek_spec(ctx, "deepseek_v2", ("top_groups: 2", "top_groups: 5")), "mlp.experts.top_groups",
              "expected 1 to groups (4) groups kept, found 5")
    spec_case(ctx, deepseek_spec(ctx, "deepseek_v3", ("groups: 4,", "groups: 8,"), ("top_groups: 2", "top_groups: 8")),
              "mlp.experts.groups", "noaux_tc scores a group by its two best experts")
    spec_case(ctx, deepseek_spec(ctx, "deepseek_v2", ("top_k: 2", "top_k: 5"), ("top_groups: 2", "top_groups: 1")),
              "mlp.experts.top_k", "5 experts per token, but the 1 kept groups hold only 2")
    cfg = os.path.join(ctx.data, "golden", "deepseek_v2", "config.json")
    with open(cfg) as f:
        c = json.load(f)
    c["n_group"] = 3
    ctx.write("ds/config.json", json.dumps(c))
    ctx.expect_fail([ctx.llmc, "import", ctx.path("ds"), "-o", ctx.path("o.yaml")], "ds/config.json", "n_group",
                    "3 groups do not divide the 8 routed experts", absent=["o.yaml"])
    c["n_group"], c["topk_group"] = 4, 6
    ctx.write("ds/config.json", json.dumps(c))
    ctx.expect_fail([ctx.llmc, "import", ctx.path("ds"), "-o", ctx.path("o.yaml")], "ds/config.json", "topk_group",
                    "6 groups kept, expected 1 to n_group (4)", absent=["o.yaml"])


@case
def spec_deepseek_mla_sizes(ctx):
    lite = ("deepseek_v2_lite",)
    spec_case(ctx, deepseek_spec(ctx, *lite, ("rotary_dim: 8", "rotary_dim: 24")), "positions.rotary_dim",
              "must be narrower than the q/k head_dim (24)")
    spec_case(ctx, deepseek_spec(ctx, *lite, ("  kind: mla\n", "")), "attention.mla", "only used with kind: mla")
    spec_case(ctx, deepseek_spec(ctx, *lite, ("kv_lora_rank: 32", "kv_lora_rank: 0")), "kv_lora_rank",
              "expected a positive integer, found 0")


@case
def quantize_deepseek_sizes_disagree_with_checkpoint(ctx):
    """Latent or rope sizes that disagree with the checkpoint: the tensors' shapes are checked as the binary
    checks them (llmc quantize reads every tensor the plan names, without compiling)."""
    weights = os.path.join(ctx.data, "golden", "deepseek_v2_lite", "model.safetensors")
    for name, edit, needles in (
            ("latent", ("kv_lora_rank: 32", "kv_lora_rank: 24"), ("kv_a_proj_with_mqa", "[32, 64]", "[40, 64]")),
            ("rope", ("rotary_dim: 8", "rotary_dim: 6"), ("kv_a_proj_with_mqa", "[38, 64]", "[40, 64]")),
            ("v", ("v_head_dim: 16", "v_head_dim: 8"), ("kv_b_proj", "[96, 32]", "[128, 32]"))):
        spec = ctx.write(name + ".yaml", deepseek_spec(ctx, "deepseek_v2_lite", edit))
        ctx.expect_fail([ctx.llmc, "quantize", spec, "--weights", weights, "--dtype", "q8_0", "-o",
                         ctx.path(name + ".safetensors")], *needles, absent=[name + ".safetensors"])
    spec = ctx.write("ok.yaml", deepseek_spec(ctx, "deepseek_v2_lite"))  # positive control
    ctx.expect_ok([ctx.llmc, "quantize", spec, "--weights", weights, "--dtype", "q8_0", "-o", ctx.path("ok.safetensors")])


@case
def compile_unwritable_output(ctx):
    blocker = ctx.write("file", "x")  # a path below a regular file cannot be created, even by root
    ctx.expect_fail([ctx.llmc, "compile", ctx.arch, "-o", os.path.join(blocker, "out.cpp")], "file/out.cpp",
                    "cannot write (Not a directory)")
    ctx.expect_fail([ctx.llmc, "compile", ctx.arch, "-o", ctx.path("missing_dir/out.cpp")], "missing_dir/out.cpp",
                    "cannot write (No such file or directory)")


@case
def build_unwritable_output(ctx):
    blocker = ctx.write("file", "x")
    ctx.expect_fail([ctx.llmc, "build", ctx.arch, "-o", os.path.join(blocker, "bin")], "file/bin",
                    "cannot write (Not a directory)")


@case
def compile_bad_formats(ctx):
    out = "out.cpp"
    ctx.expect_fail([ctx.llmc, "compile", ctx.arch, "--formats", "f32,q3_k", "-o", ctx.path(out)], "--formats",
                    "'q3_k' is not one of", absent=[out])
    ctx.expect_fail([ctx.llmc, "compile", ctx.arch, "--formats", "f32", "--dtype", "q4_k", "-o", ctx.path(out)],
                    "--formats f32", "leaves out q4_k", absent=[out])
    # A K-quant dtype keeps rows of other widths as q8_0.
    ctx.expect_fail([ctx.llmc, "compile", ctx.arch, "--formats", "q4_k", "--dtype", "q4_k", "-o", ctx.path(out)],
                    "--formats q4_k", "leaves out q8_0", absent=[out])


@case
def build_formats_refuses_other_weights(ctx):
    """A binary with the f32 kernels only, given a checkpoint `llmc quantize` wrote as q8_0: refused by tensor
    and format at load (the checkpoint is not at fault, so no hint that it belongs to another model)."""
    binary, weights = ctx.path("f32only"), ctx.path("q8_0.safetensors")
    ctx.expect_ok([ctx.llmc, "build", ctx.arch, "--formats", "f32", "--opt", "-O1", "-o", binary])
    ctx.expect_ok([ctx.llmc, "quantize", ctx.arch, "--weights", os.path.join(ctx.data, "stories260k/stories260K.bin"),
                   "--dtype", "q8_0", "-o", weights])
    tok = os.path.join(ctx.data, "stories260k/tok512.bin")
    ctx.expect_ok([binary, "--weights", os.path.join(ctx.data, "stories260k/stories260K.bin"), "--tokenizer", tok,
                   "--prompt", "Once", "-n", "2"])
    ctx.expect_fail([binary, "--weights", weights, "--tokenizer", tok, "--prompt", "Once", "-n", "2"], "q8_0.safetensors",
                    "is kept as q8_0, a format this binary has no kernels for")
    rc, out, err = ctx.run([binary, "--weights", weights, "--tokenizer", tok, "--prompt", "Once", "-n", "2"])
    if "another model" in err:
        raise AssertionError("the kernel-format refusal suggests another model's weights:\n" + err)


@case
def build_failure_removes_stale_binary(ctx):
    ctx.write("stale", "#!/bin/sh\necho stale\n")
    bad = ctx.write("bad.yaml", arch_text(ctx).replace("kv_heads: 4", "kv_heads: 3"))
    ctx.expect_fail([ctx.llmc, "build", bad, "-o", ctx.path("stale")], "kv_heads", "3 kv heads do not divide 8",
                    "removed the older", absent=["stale"])
    ctx.write("stale", "#!/bin/sh\necho stale\n")
    ctx.expect_fail([ctx.llmc, "build", ctx.arch, "-o", ctx.path("stale"), "--cxx", "false"],
                    "the C++ compiler failed", "runtime/llmc/main.cpp", absent=["stale"])


@case
def import_bad_sources(ctx):
    out = "out.yaml"
    stories = ctx.read("stories260k/stories260K.bin")
    ctx.expect_fail([ctx.llmc, "import", ctx.write("short.bin", stories[:20]), "-o", ctx.path(out)], "short.bin",
                    "truncated llama2.c checkpoint (no header)", absent=[out])
    hdr = bytearray(stories[:28])
    struct.pack_into("<i", hdr, 12, 7)  # n_heads 7 does not divide dim 64
    ctx.expect_fail([ctx.llmc, "import", ctx.write("heads.bin", bytes(hdr)), "-o", ctx.path(out)], "heads.bin",
                    "7 heads / 4 kv heads do not divide dim 64", absent=[out])
    ctx.expect_fail([ctx.llmc, "import", ctx.write("hf/config.json", "{\"model_type\": \"llama\", "), "-o",
                     ctx.path(out)], "config.json", "not valid JSON", absent=[out])
    ctx.expect_fail([ctx.llmc, "import", ctx.write("hf2/config.json", json.dumps({"model_type": "no_such_model"})),
                     "-o", ctx.path(out)], "model_type", "'no_such_model' is not supported", absent=[out])
    ctx.expect_fail([ctx.llmc, "import", ctx.path("nothing_here.bin"), "-o", ctx.path(out)], "nothing_here.bin",
                    "no such file", absent=[out])
    blocker = ctx.write("file", "x")
    ctx.expect_fail([ctx.llmc, "import", os.path.join(ctx.data, "stories260k/stories260K.bin"), "-o",
                     os.path.join(blocker, "out.yaml")], "file/out.yaml", "cannot write (Not a directory)")


# ------------------------------------------------------------------------------------------- mixtures of experts
def golden_case(ctx, name):
    return os.path.join(ctx.data, "golden", name)


def imported(ctx, case):
    """The spec `llmc import` writes for golden case `case`."""
    out = ctx.path(case + ".imported.yaml")
    ctx.expect_ok([ctx.llmc, "import", golden_case(ctx, case), "-o", out])
    with open(out) as f:
        return f.read()


def read_safetensors(path):
    """[(name, shape, bytes)] of a safetensors file, in file order."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack_from("<Q", raw)[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = [(k, v["shape"], raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()]
    return sorted(out, key=lambda t: header[t[0]]["data_offsets"][0])


@case
def moe_spec_and_import_errors(ctx):
    mixtral = imported(ctx, "mixtral")
    spec_case(ctx, mixtral.replace("top_k: 2", "top_k: 5"), "mlp.experts.top_k", "expected at most 4, found 5")
    spec_case(ctx, mixtral.replace("routing: softmax_topk", "routing: best"), "mlp.experts.routing",
              "'best' is not one of")
    with open(os.path.join(golden_case(ctx, "mixtral"), "config.json")) as f:
        config = json.load(f)
    config["num_experts_per_tok"] = 9
    ctx.expect_fail([ctx.llmc, "import", ctx.write("hf/config.json", json.dumps(config)), "-o", ctx.path("out.yaml")],
                    "num_experts_per_tok", "9 experts per token is not between 1 and the 4 experts",
                    absent=["out.yaml"])


@case
def gen_moe_checkpoint_disagrees(ctx):
    """Binaries of MoE specs refuse checkpoints whose experts are not what the spec says, naming the tensor."""
    def built(case, edit, name):
        text = imported(ctx, case)
        edited_text = edit(text)
        assert edited_text != text, "test error: the edit of %s changed nothing" % case
        spec = ctx.write(name + ".yaml", edited_text)
        ctx.expect_ok([ctx.llmc, "build", spec, "-o", ctx.path(name)])
        return ctx.path(name)

    def run(binary, weights_path, *needles):
        ctx.expect_fail([binary, "--weights", weights_path, "--tokens", "1,2,3", "-n", "1"], *needles)

    mixtral_weights = os.path.join(golden_case(ctx, "mixtral"), "model.safetensors")
    more = built("mixtral", lambda t: t.replace("count: 4", "count: 5"), "five_experts")
    run(more, mixtral_weights, "model.layers.0.block_sparse_moe.gate.weight", "has shape [4, 64], expected [5, 64]")
    narrow = built("mixtral", lambda t: t.replace("intermediate_size: 96", "intermediate_size: 80"), "narrow")
    run(narrow, mixtral_weights, "model.layers.0.block_sparse_moe.experts.0.w1.weight", "has shape [96, 64]",
        "expected [80, 64]")
    stacked = built("granitemoe", lambda t: t.replace("intermediate_size: 64", "intermediate_size: 48"), "stacked")
    run(stacked, os.path.join(golden_case(ctx, "granitemoe"), "model.safetensors"),
        "model.layers.0.block_sparse_moe.input_linear.weight", "has shape [8, 128, 64]", "expected [8, 96, 64]")
    exact = built("mixtral", lambda t: t.replace("# Written", "# Unchanged; written"), "exact")
    lacking = [t for t in read_safetensors(mixtral_weights)
               if t[0] != "model.layers.1.block_sparse_moe.experts.2.w3.weight"]
    run(exact, ctx.write("lacking.safetensors", safetensors(lacking)),
        "model.layers.1.block_sparse_moe.experts.2.w3.weight", "is missing")


@case
def tokenize_corrupt_tokenizer(ctx):
    tok = ctx.read("stories260k/tok512.bin")
    ctx.expect_fail([ctx.llmc, "tokenize", "--tokenizer", ctx.write("cut.bin", tok[:1000]), "hello"], "cut.bin",
                    "truncated at byte 1000")
    ctx.expect_fail([ctx.llmc, "detokenize", "--tokenizer", os.path.join(ctx.data, "stories260k/tok512.bin"),
                     "512"], "tok512.bin", "unknown token id 512 (vocabulary has 512 tokens)")


# ------------------------------------------------------------------------------------ generated binary
STORIES = dict(dim=64, hidden=172, layers=5, heads=8, kv=4, vocab=512, seq=512)


def stories_tensors(ctx):
    """stories260K.bin as (name, shape, bytes) in the order and names the llama2.c loader uses."""
    raw = ctx.read("stories260k/stories260K.bin")
    s = STORIES
    head = s["dim"] // s["heads"]
    kvd = s["kv"] * head
    d, h = s["dim"], s["hidden"]
    order = [("model.embed_tokens.weight", [s["vocab"], d], False), ("input_layernorm.weight", [d], True),
             ("self_attn.q_proj.weight", [d, d], True), ("self_attn.k_proj.weight", [kvd, d], True),
             ("self_attn.v_proj.weight", [kvd, d], True), ("self_attn.o_proj.weight", [d, d], True),
             ("post_attention_layernorm.weight", [d], True), ("mlp.gate_proj.weight", [h, d], True),
             ("mlp.down_proj.weight", [d, h], True), ("mlp.up_proj.weight", [h, d], True),
             ("model.norm.weight", [d], False)]
    off, out = 28, []
    for name, shape, per_layer in order:
        n = 4
        for x in shape:
            n *= x
        for i in (range(s["layers"]) if per_layer else [None]):
            out.append((name if i is None else "model.layers.%d.%s" % (i, name), list(shape), raw[off:off + n]))
            off += n
    return out


def safetensors(tensors, dtype="F32", header_edit=None):
    header, blob = {}, b""
    for name, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if header_edit:
        header_edit(header)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob


def gen(ctx, *args):
    return [ctx.bin, "--tokenizer", os.path.join(ctx.data, "stories260k/tok512.bin"), "-n", "4"] + list(args)


def weights(ctx):
    return os.path.join(ctx.data, "stories260k/stories260K.bin")


@case
def gen_good_runs(ctx):
    """Positive controls: the same binary accepts the real checkpoint and its safetensors conversion."""
    ctx.expect_ok(gen(ctx, "--weights", weights(ctx), "--prompt", "Once upon a time"))
    ctx.expect_ok(gen(ctx, "--weights", ctx.write("ok.safetensors", safetensors(stories_tensors(ctx))),
                      "--prompt", "Once upon a time"))
    ctx.expect_ok(gen(ctx, "--weights", weights(ctx), "--tokens", "1,403,407", "--logits", ctx.path("logits.f32")))
    # 3 prompt rows + 3 fed generated tokens (the 4th is sampled, not fed)
    assert os.path.getsize(ctx.path("logits.f32")) == 4 * 512 * 6, os.path.getsize(ctx.path("logits.f32"))


@case
def gen_llama2c_truncated(ctx):
    raw = ctx.read("stories260k/stories260K.bin")
    for cut, needle in ((0, "no 28-byte header"), (27, "no 28-byte header"), (28, "but the file has 28"),
                        (1000, "but the file has 1000"), (len(raw) - 4, "but the file has %d" % (len(raw) - 4))):
        p = ctx.write("cut%d.bin" % cut, raw[:cut])
        ctx.expect_fail(gen(ctx, "--weights", p, "--prompt", "hi"), "cut%d.bin" % cut, "truncated llama2.c checkpoint",
                        needle)


@case
def gen_llama2c_wrong_sizes(ctx):
    raw = ctx.read("stories260k/stories260K.bin")
    beyond = "bytes beyond the tensors its header describes"  # sizes that fit, but describe less than the file
    for field, value, needle in ((0, 32, beyond), (1, 100, beyond), (2, 4, beyond),
                                 (3, 7, "n_heads is 7, expected a divisor of dim 64"),
                                 (4, 3, "n_kv_heads is 3, expected a divisor of n_heads 8"),
                                 (5, 0, "vocab_size is 0, expected"), (6, -1, "seq_len is -1, expected 1.."),
                                 (0, 1 << 30, "dim is 1073741824, expected 1..65536")):
        b = bytearray(raw)
        struct.pack_into("<i", b, 4 * field, value)
        p = ctx.write("f%d_%d.bin" % (field, value), bytes(b))
        ctx.expect_fail(gen(ctx, "--weights", p, "--prompt", "hi"), "f%d_%d.bin" % (field, value), needle)
    b = bytearray(raw)
    struct.pack_into("<i", b, 4 * 5, 256)  # a smaller vocabulary: the file is now longer than the header says
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("vocab256.bin", bytes(b)), "--prompt", "hi"), "vocab256.bin",
                    "65536 " + beyond)
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("extra.bin", raw + b"\0" * 8), "--prompt", "hi"), "extra.bin",
                    "8 " + beyond)


@case
def gen_refuses_other_models_weights(ctx):
    for name in ("llama", "qwen2", "gpt2"):
        st = os.path.join(ctx.data, "golden", name, "model.safetensors")  # missing: the test fails
        ctx.expect_fail(gen(ctx, "--weights", st, "--prompt", "hi"), "model.safetensors", "tensor",
                        "this binary is stories260k")
    # a llama2.c checkpoint of another shape (dim 8, 1 layer)
    d, hd, L, H, KV, V, S = 8, 12, 1, 2, 1, 512, 16
    head = d // H
    n = V * d + L * (d + d * d + 2 * KV * head * d + d * d + d + 3 * hd * d) + d + 2 * S * (head // 2)
    p = ctx.write("small.bin", struct.pack("<7i", d, hd, L, H, KV, V, S) + b"\0" * (4 * n))
    ctx.expect_fail(gen(ctx, "--weights", p, "--prompt", "hi"), "small.bin", "shape", "another model")


def gguf(tensors, types=None, offsets=None, kvs=()):
    """A GGUF v3 file of (name, shape, bytes) tensors (row-major shapes, written as GGUF's reversed ne),
    F32 unless types[name] says otherwise; offsets[name] overrides where a tensor's data is."""
    def gstr(x):
        return struct.pack("<Q", len(x.encode())) + x.encode()
    def value(v):  # a string, a list of integers as an INT32 array (gguf-py's), a float32, or an integer as a uint32
        if isinstance(v, list):
            return struct.pack("<IIQ", 9, 5, len(v)) + struct.pack("<%di" % len(v), *v)
        if isinstance(v, float):
            return struct.pack("<If", 6, v)
        return struct.pack("<I", 8) + gstr(v) if isinstance(v, str) else struct.pack("<II", 4, v)
    meta = b"".join(gstr(k) + value(v) for k, v in kvs)
    infos, blob = b"", b""
    for name, shape, data in tensors:
        blob += b"\0" * (-len(blob) % 32)
        at = (offsets or {}).get(name, len(blob))
        infos += gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape))
        infos += struct.pack("<IQ", (types or {}).get(name, 0), at)
        blob += data
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + meta + infos
    return head + b"\0" * (-len(head) % 32) + blob


@case
def gen_gguf_errors(ctx):
    """A GGUF of stories260K's tensors runs; cut, overlapping or of an unsupported type, it fails naming why."""
    tensors = stories_tensors(ctx)
    ctx.expect_ok(gen(ctx, "--weights", ctx.write("ok.gguf", gguf(tensors)), "--prompt", "Once upon a time"))
    full = gguf(tensors)
    # 3 bytes are too few for GGUF's magic, so the file reads as a (truncated) llama2.c checkpoint.
    for cut, needle in ((3, "truncated"), (24, "tensor count 47 is larger than the file allows"),
                        (1000, "tensor count 47 is larger than the file allows"),
                        (len(full) // 2, "truncated: tensor 'model.layers.3.mlp.gate_proj.weight' needs bytes"),
                        (len(full) - 1, "truncated: tensor 'model.norm.weight' needs bytes")):
        ctx.expect_fail(gen(ctx, "--weights", ctx.write("cut%d.gguf" % cut, full[:cut]), "--prompt", "hi"),
                        "cut%d.gguf" % cut, needle)
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("iq4xs.gguf", gguf(tensors, types={"model.norm.weight": 23})),
                        "--prompt", "hi"), "iq4xs.gguf", "tensor 'model.norm.weight' has tensor type IQ4_XS")
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("overlap.gguf", gguf(tensors, offsets={"model.norm.weight": 0})),
                        "--prompt", "hi"), "overlap.gguf", "overlap")


@case
def import_bad_gguf(ctx):
    out = "out.yaml"

    def refused(name, data, *needles):  # `llmc import` of the file fails naming the file and needles, writes nothing
        ctx.expect_fail([ctx.llmc, "import", ctx.write(name, data), "-o", ctx.path(out)], name, *needles, absent=[out])

    def with_value(kvs, key, value):
        return [(k, value if k == key else v) for k, v in kvs]

    embed = ("token_embd.weight", [8, 4], b"\0" * 128)
    good = gguf([("token_embd.weight", [4, 8], b"\0" * 128)], kvs=[("general.architecture", "llama")])
    refused("cut.gguf", good[:40], "larger than the file allows")
    refused("cut2.gguf", good[:-1], "truncated")
    refused("nosizes.gguf", good, "llama.embedding_length")
    sizes = [("general.architecture", "qwen2moe"), ("qwen2moe.embedding_length", 4), ("qwen2moe.block_count", 1),
             ("qwen2moe.context_length", 16), ("qwen2moe.attention.head_count", 1), ("qwen2moe.feed_forward_length", 8),
             ("qwen2moe.expert_count", 2), ("qwen2moe.expert_used_count", 1),
             ("qwen2moe.expert_shared_feed_forward_length", 8)]
    refused("nolayers.gguf", gguf([embed], kvs=sizes), "tensor 'blk.0.attn_norm.weight'", "missing")
    refused("topk.gguf", gguf([embed], kvs=with_value(sizes, "qwen2moe.expert_used_count", 3)),
            "qwen2moe.expert_used_count", "not between 1 and the 2 experts")
    llama = [("general.architecture", "llama"), ("llama.embedding_length", 4), ("llama.block_count", 1),
             ("llama.context_length", 16), ("llama.attention.head_count", 1)]
    # Divisors falling with the wavelength: no Llama 3 rope scaling gives them.
    refused("freqs.gguf", gguf([embed, ("rope_freqs.weight", [2], struct.pack("<2f", 2, 1))], kvs=llama),
            "rope_freqs.weight", "matches no Llama 3 rope scaling")
    refused("zero.gguf", gguf([embed], kvs=with_value(llama, "llama.block_count", 0)), "llama.block_count",
            "not between 1 and 4096")
    refused("emptyheads.gguf", gguf([embed], kvs=[("general.architecture", "gptneox"), ("gptneox.embedding_length", 2),
                                                  ("gptneox.block_count", 1), ("gptneox.context_length", 16),
                                                  ("gptneox.attention.head_count", 4)]),
            "gptneox.attention.head_count", "would be empty")
    refused("rwkv6.gguf", gguf([], kvs=[("general.architecture", "rwkv6")]), "rwkv6", "not supported")
    # Per-layer head counts and FFN widths: OpenELM's, one per layer; in other architectures refused.
    refused("perlayer.gguf", gguf([embed], kvs=with_value(llama, "llama.attention.head_count", [1])),
            "llama.attention.head_count", "differs per layer")
    def like_llama(arch, *extra):  # llama's sizes under another architecture's keys
        return [("general.architecture", arch)] + [(k.replace("llama.", arch + "."), v) for k, v in llama[1:]] + [
            (arch + "." + k, v) for k, v in extra]
    openelm = like_llama("openelm")
    refused("openelm2.gguf", gguf([embed], kvs=with_value(openelm, "openelm.attention.head_count", [1, 1])),
            "openelm.attention.head_count", "has 2 values for 1 layers")
    refused("openelm0.gguf", gguf([embed], kvs=with_value(openelm, "openelm.attention.head_count", [0])),
            "openelm.attention.head_count", "holds 0: not a positive integer")
    grok = like_llama("grok", ("expert_count", 2), ("expert_used_count", 1))
    refused("grok2.gguf", gguf([embed], kvs=grok + [("grok.final_logit_softcapping", 30)]), "grok.final_logit_softcapping",
            "Grok 2")
    refused("grok2ffn.gguf", gguf([embed, ("blk.0.ffn_up.weight", [8, 4], b"\0" * 128)], kvs=grok),
            "blk.0.ffn_up.weight", "Grok 2's dense feed-forward")
    llama4 = like_llama("llama4", ("expert_count", 2), ("expert_used_count", 1), ("feed_forward_length", 8),
                        ("expert_feed_forward_length", 8), ("interleave_moe_layer_step", 1))
    refused("llama4swa.gguf", gguf([embed], kvs=llama4 + [("llama4.attention.sliding_window_pattern", 3)]),
            "llama4.attention.sliding_window_pattern", "is not 4")
    refused("mobilellm.gguf", gguf([embed], kvs=llama4 + [("llama4.attention.sliding_window", 0)]),
            "llama4.attention.sliding_window", "MobileLLM-R1")
    refused("openelmffn.gguf", gguf([embed], kvs=openelm + [("openelm.feed_forward_length", [8, 8])]),
            "openelm.feed_forward_length", "has 2 values for 1 layers")
    # State-space files llmc would run unlike llama.cpp: FalconMamba's dt / B / C norms, Mamba 2 groups.
    mamba = [("general.architecture", "mamba"), ("mamba.embedding_length", 4), ("mamba.block_count", 1),
             ("mamba.context_length", 16), ("mamba.ssm.inner_size", 8), ("mamba.ssm.state_size", 2),
             ("mamba.ssm.conv_kernel", 4), ("mamba.ssm.time_step_rank", 1)]
    refused("falconmamba.gguf", gguf([embed], kvs=mamba + [("mamba.ssm.dt_b_c_rms", 1)]), "mamba.ssm.dt_b_c_rms",
            "FalconMamba")
    mamba2 = [(k.replace("mamba.", "mamba2."), v) for k, v in mamba] + [("general.architecture", "mamba2")]
    refused("ssmgroups.gguf", gguf([embed], kvs=mamba2[1:] + [("mamba2.ssm.group_count", 2)]), "mamba2.ssm.group_count",
            "per group")
    refused("heads.gguf", gguf([embed], kvs=with_value(mamba2[1:], "mamba2.ssm.time_step_rank", 3)),
            "mamba2.ssm.time_step_rank", "divides ssm.inner_size 8")
    # Phi-3 LongRoPE: a head of 4 rotates 2 pairs, so each factor list has 2 values.
    phi3 = [("general.architecture", "phi3"), ("phi3.embedding_length", 4), ("phi3.block_count", 1),
            ("phi3.context_length", 16), ("phi3.attention.head_count", 1),
            ("phi3.rope.scaling.original_context_length", 8)]
    def factors(name, n):
        return ("rope_factors_%s.weight" % name, [n], struct.pack("<%df" % n, *([1.5] * n)))
    refused("factors3.gguf", gguf([embed, factors("long", 3), factors("short", 2)], kvs=phi3),
            "tensor 'rope_factors_long.weight'", "F32 with 2 values")
    refused("factors1.gguf", gguf([embed, factors("long", 2)], kvs=phi3), "tensor 'rope_factors_short.weight'",
            "missing")
    refused("factors0.gguf", gguf([embed, factors("long", 2), ("rope_factors_short.weight", [2], struct.pack("<2f", 1, 0))],
                                  kvs=phi3), "tensor 'rope_factors_short.weight'", "not a positive factor")
    refused("factorsorig.gguf", gguf([embed, factors("long", 2), factors("short", 2)], kvs=phi3[:5]),
            "phi3.rope.scaling.original_context_length", "missing")
    refused("factorsllama.gguf", gguf([embed, factors("long", 2), factors("short", 2)], kvs=llama),
            "rope_factors_long.weight", "phi3 and phimoe GGUFs only")
    # DeepSeek-V2 (236B) style routing: llama.cpp ranks softmax expert groups unlike the reference.
    deepseek = [("general.architecture", "deepseek2"), ("deepseek2.embedding_length", 4),
                ("deepseek2.block_count", 1), ("deepseek2.context_length", 16), ("deepseek2.attention.head_count", 1),
                ("deepseek2.attention.kv_lora_rank", 4), ("deepseek2.attention.key_length", 6),
                ("deepseek2.attention.value_length", 2), ("deepseek2.rope.dimension_count", 2),
                ("deepseek2.expert_count", 4), ("deepseek2.expert_used_count", 2),
                ("deepseek2.expert_group_count", 2), ("deepseek2.expert_group_used_count", 1)]
    refused("groups.gguf", gguf([embed], kvs=deepseek), "deepseek2.expert_group_count", "softmax gating")
    refused("yarn.gguf", gguf([embed], kvs=deepseek[:9] + [("deepseek2.rope.scaling.type", "yarn")]),
            "deepseek2.rope.scaling.yarn_log_multiplier", "missing")
    # T5: UMT5's table per layer; the decoder's sizes and start token, which its stack needs.
    t5 = like_llama("t5", ("feed_forward_length", 8), ("attention.layer_norm_rms_epsilon", 1e-6),
                    ("attention.relative_buckets_count", 32), ("decoder_start_token_id", 0))
    rel_b = ("enc.blk.1.attn_rel_b.weight", [1, 32], b"\0" * 128)
    refused("umt5.gguf", gguf([embed, rel_b], kvs=t5), "enc.blk.1.attn_rel_b.weight", "(UMT5) is not supported")
    refused("t5start.gguf", gguf([embed], kvs=t5[:-1]), "t5.decoder_start_token_id", "missing")
    refused("t5decoder.gguf", gguf([embed], kvs=t5 + [("t5.decoder_block_count", 0)]), "t5.decoder_block_count",
            "not between 1 and 4096")


def read_safetensors(path):
    """(name, shape, bytes) of every tensor of a safetensors file, in file order."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    return [(k, v["shape"], raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in items]


@case
def recurrent_wrong_state_sizes(ctx):
    """An RWKV-4 checkpoint whose recurrent state would not fit the binary's (time mixing one channel narrower, the
    token-shift mix of another width): the binary refuses it naming the tensor and both shapes, and a config that
    claims a state width its checkpoint does not have builds a binary that refuses the checkpoint."""
    golden = os.path.join(ctx.data, "golden", "rwkv")
    ctx.expect_ok([ctx.llmc, "import", golden, "-o", ctx.path("rwkv.yaml")])
    ctx.expect_ok([ctx.llmc, "build", ctx.path("rwkv.yaml"), "-o", ctx.path("rwkv")])
    run = lambda st: [ctx.path("rwkv"), "--weights", st, "--tokens", "1,2,3", "-n", "2"]
    tensors = read_safetensors(os.path.join(golden, "model.safetensors"))
    ctx.expect_ok(run(ctx.write("ok.safetensors", safetensors(tensors))))  # positive control
    decay = "rwkv.blocks.1.attention.time_decay"
    narrow = [(n, [63] if n == decay else s, d[:-4] if n == decay else d) for n, s, d in tensors]
    ctx.expect_fail(run(ctx.write("decay.safetensors", safetensors(narrow))), decay, "[63]", "[64]")
    mix = "rwkv.blocks.0.feed_forward.time_mix_key"
    wide = [(n, [1, 1, 65] if n == mix else s, d + d[:4] if n == mix else d) for n, s, d in tensors]
    ctx.expect_fail(run(ctx.write("mix.safetensors", safetensors(wide))), mix, "[1, 1, 65]", "[1, 1, 64]")
    config = json.load(open(os.path.join(golden, "config.json")))
    config["attention_hidden_size"] = 48
    ctx.write("narrow/config.json", json.dumps(config))
    ctx.expect_ok([ctx.llmc, "import", ctx.path("narrow"), "-o", ctx.path("narrow.yaml")])
    ctx.expect_ok([ctx.llmc, "build", ctx.path("narrow.yaml"), "-o", ctx.path("narrow_bin")])
    ctx.expect_fail([ctx.path("narrow_bin"), "--weights", os.path.join(golden, "model.safetensors"), "--tokens", "1",
                     "-n", "1"], "rwkv.blocks.0.attention.key.weight", "[48, 64]", "[64, 64]")
    # Mamba: a scan state one narrower (A_log [128, 7]) and a convolution one shorter than the binary's.
    golden = os.path.join(ctx.data, "golden", "mamba")
    ctx.expect_ok([ctx.llmc, "import", golden, "-o", ctx.path("mamba.yaml")])
    ctx.expect_ok([ctx.llmc, "build", ctx.path("mamba.yaml"), "-o", ctx.path("mamba")])
    tensors = read_safetensors(os.path.join(golden, "model.safetensors"))
    a_log, conv = "backbone.layers.1.mixer.A_log", "backbone.layers.0.mixer.conv1d.weight"
    small = [(n, [128, 7] if n == a_log else s, d[:128 * 7 * 4] if n == a_log else d) for n, s, d in tensors]
    run = lambda st: [ctx.path("mamba"), "--weights", st, "--tokens", "1,2,3", "-n", "2"]
    ctx.expect_fail(run(ctx.write("alog.safetensors", safetensors(small))), a_log, "[128, 7]", "[128, 8]")
    short = [(n, [128, 1, 3] if n == conv else s, d[:128 * 3 * 4] if n == conv else d) for n, s, d in tensors]
    ctx.expect_fail(run(ctx.write("conv.safetensors", safetensors(short))), conv, "[128, 1, 3]", "[128, 1, 4]")


@case
def mamba2_and_yuan_wrong_sizes(ctx):
    """A Mamba 2 checkpoint of other state sizes (a head fewer in A_log, a convolution over another xBC width) and
    a Yuan 2 checkpoint whose filter convolution is 3 rows wide: each binary refuses the checkpoint naming the
    tensor and both shapes. A Mamba 2 config whose heads do not make up its inner width is refused at import."""
    golden = os.path.join(ctx.data, "golden", "mamba2")
    ctx.expect_ok([ctx.llmc, "import", golden, "-o", ctx.path("mamba2.yaml")])
    ctx.expect_ok([ctx.llmc, "build", ctx.path("mamba2.yaml"), "-o", ctx.path("mamba2")])
    tensors = read_safetensors(os.path.join(golden, "model.safetensors"))
    run = lambda binary, st: [ctx.path(binary), "--weights", st, "--tokens", "1,2,3", "-n", "2"]
    ctx.expect_ok(run("mamba2", ctx.write("ok2.safetensors", safetensors(tensors))))  # positive control
    a_log, conv = "backbone.layers.1.mixer.A_log", "backbone.layers.0.mixer.conv1d.weight"
    fewer = [(n, [7] if n == a_log else s, d[:7 * 4] if n == a_log else d) for n, s, d in tensors]
    ctx.expect_fail(run("mamba2", ctx.write("alog2.safetensors", safetensors(fewer))), a_log, "[7]", "[8]")
    other = [(n, [144, 1, 4] if n == conv else s, d[:144 * 4 * 4] if n == conv else d) for n, s, d in tensors]
    ctx.expect_fail(run("mamba2", ctx.write("conv2.safetensors", safetensors(other))), conv, "[144, 1, 4]",
                    "[160, 1, 4]")
    config = json.load(open(os.path.join(golden, "config.json")))
    config["head_dim"] = 12
    ctx.write("bad_heads/config.json", json.dumps(config))
    ctx.expect_fail([ctx.llmc, "import", ctx.path("bad_heads"), "-o", ctx.path("bad_heads.yaml")], "head_dim",
                    "8 heads of 12", "128")
    golden = os.path.join(ctx.data, "golden", "yuan2")
    ctx.expect_ok([ctx.llmc, "import", golden, "-o", ctx.path("yuan2.yaml")])
    ctx.expect_ok([ctx.llmc, "build", ctx.path("yuan2.yaml"), "-o", ctx.path("yuan2")])
    tensors = read_safetensors(os.path.join(golden, "model.safetensors"))
    conv1 = "model.layers.1.self_attn.lf_gate.conv1.weight"
    wide = [(n, [32, 64, 3, 1] if n == conv1 else s, d + d[:32 * 64 * 4] if n == conv1 else d) for n, s, d in tensors]
    ctx.expect_fail(run("yuan2", ctx.write("lf.safetensors", safetensors(wide))), conv1, "[32, 64, 3, 1]",
                    "[32, 64, 2, 1]")


@case
def chatglm_prompt_without_gmask(ctx):
    """ChatGLM-6B v1 is a prefix-LM: a prompt is its text, [gMASK], then BOS. A prompt whose BOS has no mask token
    before it, or that has no BOS, is refused naming the tokens it lacks; with both it runs."""
    golden = os.path.join(ctx.data, "golden", "chatglm")
    ctx.expect_ok([ctx.llmc, "import", golden, "-o", ctx.path("chatglm.yaml")])
    ctx.expect_ok([ctx.llmc, "build", ctx.path("chatglm.yaml"), "-o", ctx.path("chatglm")])
    run = lambda tokens: [ctx.path("chatglm"), "--weights", os.path.join(golden, "model.safetensors"), "--tokens",
                          tokens, "-n", "2"]
    ctx.expect_ok(run("17,203,45,211,39"))  # positive control
    ctx.expect_fail(run("17,203,45,99,39"), "BOS (39) at position 4", "no [gMASK] (211)", "[MASK] (3)")
    ctx.expect_fail(run("17,203,45,211"), "no BOS (39)", "[gMASK] (211)")


@case
def gen_safetensors_truncated(ctx):
    full = safetensors(stories_tensors(ctx))
    for cut, needle in ((0, "truncated safetensors file (0 bytes, no header)"),
                        (7, "truncated safetensors file (7 bytes, no header)"),
                        (8, "but the file has 0 after the length field"), (100, "but the file has 92 after"),
                        (len(full) // 2, "lie outside"), (len(full) - 1, "lie outside")):
        p = ctx.write("cut%d.safetensors" % cut, full[:cut])
        ctx.expect_fail(gen(ctx, "--weights", p, "--prompt", "hi"), "cut%d.safetensors" % cut, needle)


@case
def gen_safetensors_header_longer_than_file(ctx):
    full = bytearray(safetensors(stories_tensors(ctx)))
    struct.pack_into("<Q", full, 0, len(full) + 1)
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("long.safetensors", bytes(full)), "--prompt", "hi"),
                    "long.safetensors", "header claims %d bytes but the file has" % (len(full) + 1))
    struct.pack_into("<Q", full, 0, 1 << 62)
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("huge.safetensors", bytes(full)), "--prompt", "hi"),
                    "huge.safetensors", "more than the format's limit")
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("notjson.safetensors", struct.pack("<Q", 4) + b"{{{{"),
                        "--prompt", "hi"), "notjson.safetensors", "header is not valid JSON")


def edited(ctx, name, edit, *needles):
    p = ctx.write(name, safetensors(stories_tensors(ctx), header_edit=edit))
    ctx.expect_fail(gen(ctx, "--weights", p, "--prompt", "hi"), name, *needles)


@case
def gen_safetensors_bad_offsets(ctx):
    q = "model.layers.0.self_attn.q_proj.weight"
    k = "model.layers.0.self_attn.k_proj.weight"

    def overlap(h):
        h[k]["data_offsets"] = [h[q]["data_offsets"][0] + 4, h[q]["data_offsets"][0] + 4 + 32 * 64 * 4]
    edited(ctx, "overlap.safetensors", overlap, "tensors overlap in the data section")

    def out_of_range(h):
        h[q]["data_offsets"] = [10 ** 9, 10 ** 9 + 64 * 64 * 4]
    edited(ctx, "range.safetensors", out_of_range, q, "[1000000000, 1000016384] lie outside")

    def reversed_(h):
        a, b = h[q]["data_offsets"]
        h[q]["data_offsets"] = [b, a]
    edited(ctx, "reversed.safetensors", reversed_, q, "end before they begin")

    def negative(h):
        h[q]["data_offsets"] = [-4, 64 * 64 * 4 - 4]
    edited(ctx, "negative.safetensors", negative, q, "data_offsets must be two non-negative integers")

    def size_mismatch(h):
        h[q]["data_offsets"][1] -= 4
    edited(ctx, "size.safetensors", size_mismatch, q, "holds 16380 bytes but F32 [64, 64] needs 16384")


@case
def gen_safetensors_wrong_dtype(ctx):
    q = "model.layers.0.self_attn.q_proj.weight"

    def i8(h):
        h[q]["dtype"] = "I8"
    edited(ctx, "i8.safetensors", i8, q, "dtype I8 is not supported")

    def f64(h):
        h[q]["dtype"] = "F64"
    edited(ctx, "f64.safetensors", f64, q, "dtype F64 is not supported")

    def not_string(h):
        h[q]["dtype"] = 5
    edited(ctx, "dtype5.safetensors", not_string, q, "dtype is not a string")


@case
def gen_safetensors_wrong_shape(ctx):
    q = "model.layers.0.self_attn.q_proj.weight"

    def flat(h):
        h[q]["shape"] = [32, 128]
    edited(ctx, "shape.safetensors", flat, q, "[32, 128]", "[64, 64]")

    def bad(h):
        h[q]["shape"] = [64, -64]
    edited(ctx, "neg.safetensors", bad, q, "shape has a value that is not a non-negative integer")

    def huge(h):
        h[q]["shape"] = [2 ** 40, 2 ** 40]
    edited(ctx, "huge.safetensors", huge, q, "shape [1099511627776,1099511627776] is too large")


@case
def gen_safetensors_missing_and_extra_tensors(ctx):
    t = stories_tensors(ctx)
    missing = [x for x in t if x[0] != "model.layers.3.mlp.up_proj.weight"]
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("missing.safetensors", safetensors(missing)), "--prompt", "hi"),
                    "model.layers.3.mlp.up_proj.weight", "missing")
    q0 = [x for x in t if x[0] == "model.layers.0.self_attn.q_proj.weight"][0]
    extra = t + [("model.layers.5.self_attn.q_proj.weight", [64, 64], q0[2])]
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("extra.safetensors", safetensors(extra)), "--prompt", "hi"),
                    "model.layers.5.self_attn.q_proj.weight", "neither used")

    def entry(h):
        h["model.norm.weight"] = {"dtype": "F32"}
    edited(ctx, "entry.safetensors", entry, "model.norm.weight", "entry needs dtype, shape and data_offsets")


@case
def gen_safetensors_index(ctx):
    t = stories_tensors(ctx)
    ctx.write("sharded/a.safetensors", safetensors(t[:20]))
    ctx.write("sharded/b.safetensors", safetensors(t[20:]))
    wm = {n: ("a.safetensors" if i < 20 else "b.safetensors") for i, (n, _, _) in enumerate(t)}
    ctx.write("sharded/model.safetensors.index.json", json.dumps({"weight_map": wm}))
    ctx.expect_ok(gen(ctx, "--weights", ctx.path("sharded"), "--prompt", "hi"))
    os.remove(ctx.path("sharded/b.safetensors"))
    ctx.expect_fail(gen(ctx, "--weights", ctx.path("sharded"), "--prompt", "hi"), "b.safetensors",
                    "cannot open: No such file")
    wm2 = dict(wm, **{"model.norm.weight": "../../etc/passwd"})
    ctx.write("sharded2/model.safetensors.index.json", json.dumps({"weight_map": wm2}))
    ctx.expect_fail(gen(ctx, "--weights", ctx.path("sharded2"), "--prompt", "hi"), "'../../etc/passwd'",
                    "must be a plain file name")
    ctx.write("sharded3/model.safetensors.index.json", "{\"weight_map\": [")
    ctx.expect_fail(gen(ctx, "--weights", ctx.path("sharded3"), "--prompt", "hi"), "index.json", "not valid JSON")
    os.makedirs(ctx.path("empty_dir"))
    ctx.expect_fail(gen(ctx, "--weights", ctx.path("empty_dir"), "--prompt", "hi"), "empty_dir",
                    "neither model.safetensors nor model.safetensors.index.json")
    ctx.expect_fail(gen(ctx, "--weights", ctx.path("no_such_file.bin"), "--prompt", "hi"), "no_such_file.bin",
                    "cannot open: No such file")


def quantize(ctx, weights_path, out, dtype="q4_0"):
    return [ctx.llmc, "quantize", ctx.arch, "--weights", weights_path, "--dtype", dtype, "-o", ctx.path(out)]


@case
def quantize_bad_inputs(ctx):
    """llmc quantize: another model's checkpoint, a broken one, a bad output path; no output left behind."""
    ctx.expect_ok(quantize(ctx, weights(ctx), "ok.safetensors"))
    st = os.path.join(ctx.data, "golden", "llama", "model.safetensors")  # missing: the test fails
    ctx.expect_fail(quantize(ctx, st, "other.safetensors"), "model.safetensors", "has shape [256, 64], expected [512, 64]",
                    absent=["other.safetensors"])
    raw = ctx.read("stories260k/stories260K.bin")
    ctx.expect_fail(quantize(ctx, ctx.write("cut.bin", raw[:1000]), "cut.safetensors"), "cut.bin", "truncated",
                    absent=["cut.safetensors"])
    ctx.expect_fail(quantize(ctx, weights(ctx), "out.bin"), "out.bin", ".safetensors", absent=["out.bin"])
    ctx.expect_fail(quantize(ctx, weights(ctx), "no_dir/out.safetensors"), "no_dir/out.safetensors", "cannot write")
    ctx.expect_fail(quantize(ctx, ctx.path("ok.safetensors"), "again.safetensors"), "ok.safetensors",
                    "already grouped", absent=["again.safetensors"])
    ctx.expect_fail(quantize(ctx, weights(ctx), "x.safetensors", dtype="q5_0"), "--dtype", "q5_0 not in",
                    absent=["x.safetensors"])


def rewrite_header(data, edit):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    edit(header)
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % 64)  # keep the data 64-byte aligned, as llmc quantize writes it
    return struct.pack("<Q", len(h)) + h + data[8 + n:]


@case
def gen_quantized_file_bad(ctx):
    """A file written by llmc quantize: runs; with its grouping metadata broken, fails naming what is wrong."""
    ctx.expect_ok(quantize(ctx, weights(ctx), "q.safetensors"))
    good = open(ctx.path("q.safetensors"), "rb").read()
    ctx.expect_ok(gen(ctx, "--weights", ctx.path("q.safetensors"), "--prompt", "hi"))
    q = "model.layers.0.self_attn.q_proj.weight"
    key = "llmc.grouped." + q

    def meta(k, v):
        def edit(h):
            if v is None:
                del h["__metadata__"][k]
            else:
                h["__metadata__"][k] = v
        return edit

    def dtype(h):
        h[q]["dtype"] = "F32"

    def shape(h):
        h[q]["shape"] = [64, 64]
    for name, edit, needles in (
            ("layout.safetensors", meta("llmc.grouped_layout", "0"), ("grouped layout", "llmc quantize again")),
            ("nolayout.safetensors", meta("llmc.grouped_layout", None), ("grouped layout",)),
            ("format.safetensors", meta(key, "q5_0 64 64"), (key, "q5_0")),
            ("words.safetensors", meta(key, "q4_0 64"), (key, "<format> <rows> <cols>")),
            ("size.safetensors", meta(key, "q4_0 64 96"), (q, "bytes")),
            ("blocks.safetensors", meta(key, "q4_0 64 48"), (key, "blocks of 32")),
            ("superblocks.safetensors", meta(key, "q4_k 64 64"), (key, "super-blocks of 256")),
            ("zero.safetensors", meta(key, "q4_0 0 64"), (key, "out of range")),
            ("nosuch.safetensors", meta("llmc.grouped.no.such.tensor", "q4_0 64 64"), ("no.such.tensor", "names no tensor")),
            ("u8.safetensors", meta(key, None), (q, "U8")),
            ("dtype.safetensors", dtype, (q, "dtype must be U8")),
            ("shape.safetensors", shape, (q, "U8 [64, 64]"))):
        p = ctx.write(name, rewrite_header(good, edit))
        ctx.expect_fail(gen(ctx, "--weights", p, "--prompt", "hi"), name, *needles)


@case
def gen_corrupt_tokenizer(ctx):
    tok = ctx.read("stories260k/tok512.bin")
    w = weights(ctx)
    for name, data, needle in (
            ("cut.bin", tok[:3001], "truncated at byte 2998"), ("empty.bin", b"", "file too short for the header"),
            ("garbage.bin", bytes(range(256)) * 8, "bad max_token_length"),
            ("len.bin", tok[:4] + struct.pack("<fi", 0.0, 1 << 30) + tok[12:], "claims length 1073741824"),
            ("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, ", "invalid JSON"),
            ("bad.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 40), "metadata count 1099511627776 is larger")):
        p = ctx.write(name, data)
        ctx.expect_fail([ctx.bin, "--weights", w, "--tokenizer", p, "--prompt", "hi"], name, needle)


@case
def gen_token_ids_out_of_range(ctx):
    w = weights(ctx)
    ctx.expect_fail(gen(ctx, "--weights", w, "--tokens", "1,512"), "512", "out of range")
    ctx.expect_fail(gen(ctx, "--weights", w, "--tokens", "1,-3"), "token id -3", "out of range")
    ctx.expect_fail(gen(ctx, "--weights", w, "--tokens", "1,99999999999999999999"), "'99999999999999999999'",
                    "is not a token id")
    ctx.expect_fail(gen(ctx, "--weights", w, "--tokens", "1,x"), "'x'", "is not a token id")
    ctx.expect_fail(gen(ctx, "--weights", w, "--tokens", ","), "--tokens", "'' is not a token id")


@case
def gen_encoder_decoder_inputs(ctx):
    """An encoder–decoder (T5) decodes after an encoder input: --decoder-tokens alone is refused, and a
    decoder-only binary refuses --decoder-tokens."""
    spec = ctx.write("t5.yaml", imported(ctx, "t5"))
    ctx.expect_ok([ctx.llmc, "build", spec, "-o", ctx.path("t5")])
    t5_weights = os.path.join(golden_case(ctx, "t5"), "model.safetensors")
    ctx.expect_fail([ctx.path("t5"), "--weights", t5_weights, "--decoder-tokens", "0,5,7", "-n", "0"],
                    "--decoder-tokens", "the decoder reads an encoder input", "--prompt TEXT or --tokens IDS")
    ctx.expect_fail([ctx.path("t5"), "--weights", t5_weights, "--tokens", "3,4,1", "--decoder-tokens", "0,256"],
                    "--decoder-tokens: token id 256", "out of range")
    ctx.expect_fail(gen(ctx, "--weights", weights(ctx), "--tokens", "1,2", "--decoder-tokens", "0"),
                    "--decoder-tokens", "not an encoder–decoder")


@case
def gen_encoder_decoder_tokenizer_kind(ctx):
    """A T5 binary reads SentencePiece Unigram vocabularies (spiece.model, tokenizer.json Unigram) and refuses a
    tokenizer of another kind, naming both kinds. The golden t5 case with a 300-row embedding (the test
    tokenizers' vocabulary) is the positive control."""
    spec = imported(ctx, "t5").replace("vocab_size: 256", "vocab_size: 300")
    ctx.expect_ok([ctx.llmc, "build", ctx.write("t5_300.yaml", spec), "-o", ctx.path("t5")])
    tensors = []
    for name, shape, data in read_safetensors(os.path.join(golden_case(ctx, "t5"), "model.safetensors")):
        if name == "shared.weight":  # 44 more rows, copies of the first ones
            shape, data = [300, shape[1]], data + data[:44 * shape[1] * 4]
        tensors.append((name, shape, data))
    w = ctx.write("t5_300.safetensors", safetensors(tensors))
    unigram = os.path.join(ctx.data, "tokenizers", "unigram")
    for tok in ("plain.model", "plain.tokenizer.json"):
        ctx.expect_ok([ctx.path("t5"), "--weights", w, "--tokenizer", os.path.join(unigram, tok), "--prompt",
                       "the quick brown fox", "-n", "3"])
    bpe = os.path.join(ctx.data, "tokenizers", "hf", "qwen3", "tokenizer.json")
    ctx.expect_fail([ctx.path("t5"), "--weights", w, "--tokenizer", bpe, "--prompt", "hi", "-n", "1"], "qwen3",
                    "a bpe tokenizer, but this model's vocabulary is a unigram tokenizer's")


@case
def gen_prompt_longer_than_context(ctx):
    w = weights(ctx)
    ctx.expect_fail(gen(ctx, "--weights", w, "--tokens", ",".join(["1"] * 513)), "the prompt has 513 tokens",
                    "more than the model's context of 512")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "Once upon a time there was a dog. " * 80), "the prompt has",
                    "more than the model's context of 512")
    # exactly the context: runs, and stops at once because the context is full
    rc, out, err = ctx.run(gen(ctx, "--weights", w, "--tokens", ",".join(["1"] * 512)))
    assert rc == 0 and "context" in err, (rc, err)


@case
def gen_bad_options(ctx):
    w = weights(ctx)
    # -n given once (gen() adds -n 4: a second -n would be refused for being repeated, not for its value)
    tok = ["--tokenizer", os.path.join(ctx.data, "stories260k/tok512.bin")]
    ctx.expect_fail([ctx.bin, "--weights", w, "--prompt", "hi", "-n", "-1"] + tok, "-n",
                    "expected a number of new tokens >= 0, found -1")
    ctx.expect_fail([ctx.bin, "--weights", w, "--prompt", "hi", "-n", "abc"] + tok, "-n", "abc")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--threads", "0"), "--threads", "expected 1..4096, found 0")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--temp", "-1"), "--temp", "expected a number >= 0, found -1")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--temp", "nan"), "--temp", "found nan")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--top-p", "1.5"), "--top-p",
                    "expected a number in (0, 1], found 1.5")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--top-k", "-2"), "--top-k", "found -2")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--min-p", "2"), "--min-p",
                    "expected a number in [0, 1], found 2")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--repeat-penalty", "0"), "--repeat-penalty",
                    "expected a number > 0, found 0")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--no-such-flag"), "--no-such-flag", "not expected")
    ctx.expect_fail([ctx.bin, "--weights", w, "--prompt", "hi"], "--prompt needs --tokenizer", "--tokens")
    ctx.expect_fail(gen(ctx, "--weights", w), "--prompt", "give exactly one of")


@case
def gen_unwritable_logits(ctx):
    w = weights(ctx)
    blocker = ctx.write("file", "x")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--logits", os.path.join(blocker, "l.f32")), "file/l.f32",
                    "cannot write (Not a directory)")
    ctx.expect_fail(gen(ctx, "--weights", w, "--prompt", "hi", "--logits", ctx.path("nodir/l.f32")), "nodir/l.f32",
                    "cannot write (No such file or directory)")
    # a failing run leaves no logits file (nor a temporary) behind
    ctx.expect_fail(gen(ctx, "--weights", ctx.write("cut.bin", ctx.read("stories260k/stories260K.bin")[:5000]),
                        "--prompt", "hi", "--logits", ctx.path("l.f32")), "cut.bin", "truncated llama2.c checkpoint",
                    absent=["l.f32"])


# ------------------------------------------------------------------------------------------- encoders
def tiny_bert(ctx, vocab=600, pooler=False):
    """A BERT checkpoint (config.json + model.safetensors, as BertForMaskedLM saves them; with pooler, as
    BertForPreTraining does, less its next-sentence head), imported and built: returns (binary, checkpoint folder,
    tensors by name as lists of floats). Values are a fixed pattern in ±0.5 (zeros would make every hidden state 0).
    vocab 600: larger than tok512.bin, a tokenizer of another kind."""
    d = os.path.join(ctx.work, "bert")
    os.makedirs(d, exist_ok=True)
    H, F, P, T = 16, 32, 16, 2
    config = {"architectures": ["BertForPreTraining" if pooler else "BertForMaskedLM"], "model_type": "bert", "vocab_size": vocab, "hidden_size": H,
              "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": F, "max_position_embeddings": P,
              "type_vocab_size": T, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    shapes = {"bert.embeddings.word_embeddings.weight": [vocab, H], "bert.embeddings.position_embeddings.weight": [P, H],
              "bert.embeddings.token_type_embeddings.weight": [T, H], "bert.embeddings.LayerNorm.weight": [H],
              "bert.embeddings.LayerNorm.bias": [H], "cls.predictions.bias": [vocab],
              "cls.predictions.transform.dense.weight": [H, H], "cls.predictions.transform.dense.bias": [H],
              "cls.predictions.transform.LayerNorm.weight": [H], "cls.predictions.transform.LayerNorm.bias": [H]}
    layer = {"attention.self.query": [H, H], "attention.self.key": [H, H], "attention.self.value": [H, H],
             "attention.output.dense": [H, H], "intermediate.dense": [F, H], "output.dense": [H, F]}
    for name, shape in layer.items():
        shapes["bert.encoder.layer.0.%s.weight" % name] = shape
        shapes["bert.encoder.layer.0.%s.bias" % name] = shape[:1]
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
        shapes["bert.encoder.layer.0.%s.weight" % name] = [H]
        shapes["bert.encoder.layer.0.%s.bias" % name] = [H]
    if pooler:
        shapes["bert.pooler.dense.weight"] = [H, H]
        shapes["bert.pooler.dense.bias"] = [H]
    header, offset, values, data = {}, 0, {}, b""
    for k, (name, shape) in enumerate(shapes.items()):
        n = 1
        for dim in shape:
            n *= dim
        values[name] = [((i * 7 + k * 13) % 17 - 8) / 16.0 for i in range(n)]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * n]}
        data += struct.pack("<%df" % n, *values[name])
        offset += 4 * n
    head = json.dumps(header).encode()
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + data)
    binary = ctx.path("bert_model")
    ctx.expect_ok([ctx.llmc, "import", d, "-o", ctx.path("bert.yaml")])
    ctx.expect_ok([ctx.llmc, "build", ctx.path("bert.yaml"), "-o", binary], timeout=1200)  # a loaded machine is slow
    return binary, d, values


@case
def encoder_bad_inputs(ctx):
    binary, d, _ = tiny_bert(ctx)
    w = ["--weights", os.path.join(d, "model.safetensors")]
    # a token type beyond the model's 2
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "--token-types", "0,1,2"], "--token-types",
                    "type 2 at position 2 is out of range", "2 token types")
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "--token-types", "0,-1,0"], "--token-types", "type -1")
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "--token-types", "0,1"], "--token-types",
                    "2 types for 3 tokens")
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "--token-types", "0,x,1"], "--token-types", "'x' is not an integer")
    # generation asked of an encoder
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "-n", "5"], "-n 5", "is an encoder and generates no tokens")
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "--chat"], "--chat", "is an encoder")
    # a tokenizer of the wrong kind: llama2.c's (no [CLS] ... [SEP]) for a BERT encoder
    ctx.expect_fail([binary] + w + ["--tokenizer", os.path.join(ctx.data, "stories260k/tok512.bin"), "--prompt", "hi"],
                    "kind llama2c", "does not wrap --prompt as this encoder expects", "[CLS]")
    # other bad options and inputs
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "--embed", ctx.path("e.f32"), "--pooling", "max"],
                    "--pooling", "'max' is not one of", absent=["e.f32"])
    ctx.expect_fail([binary] + w + ["--tokens", "5,6,7", "--embed", ctx.path("e.f32"), "--pooling", "pooler"],
                    "--pooling pooler", "has no pooler", absent=["e.f32"])
    ctx.expect_fail([binary] + w + ["--tokens", ",".join(["5"] * 17)], "17 tokens", "context of 16")
    ctx.expect_fail([binary] + w + ["--tokens-file", ctx.write("ids.txt", "5,6\n7,600\n")], "ids.txt:2",
                    "token id 600 is out of range")
    ctx.expect_fail([binary] + w + ["--tokens-file", ctx.path("missing.txt")], "--tokens-file", "cannot read")
    ctx.expect_fail([binary] + w, "--tokens-file", "give exactly one of")
    # a WordPiece vocabulary with [CLS] and [SEP] works, and writes one row per input
    # (BERT's ids: [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, which the importer assumes without a vocabulary)
    vocab = (["[PAD]"] + ["w%d" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"] +
             ["v%d" % i for i in range(494)])
    tok = ctx.write("vocab.txt", "\n".join(vocab) + "\n")
    ctx.expect_ok([binary] + w + ["--tokenizer", tok, "--prompt-file", ctx.write("in.txt", "hello world\nworld\n"),
                                  "--embed", ctx.path("e.f32")])
    size = os.path.getsize(ctx.path("e.f32"))
    assert size == 2 * 16 * 4, "--embed wrote %d bytes, expected 2 rows of 16 floats" % size


@case
def encoder_pooler(ctx):
    """The positive counterpart of --pooling pooler: BERT's pooler row is tanh(W·h0 + b) of position 0's last hidden
    state h0 (--pooling cls), computed here from the checkpoint's pooler weights."""
    binary, d, values = tiny_bert(ctx, pooler=True)
    w = ["--weights", os.path.join(d, "model.safetensors"), "--tokens", "101,7,8,9,102", "--token-types", "0,0,1,1,1"]
    ctx.expect_ok([binary] + w + ["--embed", ctx.path("cls.f32"), "--pooling", "cls"])
    ctx.expect_ok([binary] + w + ["--embed", ctx.path("pooled.f32"), "--pooling", "pooler"])
    with open(ctx.path("cls.f32"), "rb") as f:
        h0 = struct.unpack("<16f", f.read())
    with open(ctx.path("pooled.f32"), "rb") as f:
        got = struct.unpack("<16f", f.read())
    W, b = values["bert.pooler.dense.weight"], values["bert.pooler.dense.bias"]
    import math
    want = [math.tanh(sum(W[o * 16 + i] * h0[i] for i in range(16)) + b[o]) for o in range(16)]
    worst = max(abs(x - y) for x, y in zip(got, want))
    assert worst < 1e-5 and max(abs(v) for v in want) > 0.1, "pooler row differs by %g: %r vs %r" % (worst, got, want)
    print("ok: pooler row = tanh(W h0 + b), max |diff| %.3g" % worst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", nargs="?")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--llmc")
    ap.add_argument("--bin")
    ap.add_argument("--data")
    ap.add_argument("--arch")
    ap.add_argument("--work")
    a = ap.parse_args()
    if a.list:
        print(";".join(CASES))
        return 0
    try:
        CASES[a.case](Ctx(a))
    except AssertionError as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
