#!/usr/bin/env python3
"""Checks of bench/serve_bench.py's pure parts, cheap enough for CI (ctest -R bench.serve_tools): the prompts
and request bodies, reading server-sent events, the per-run summary, the medians and ratios over windows, the
table and the README block. Stdlib only."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_bench as sb  # noqa: E402


class Requests(unittest.TestCase):
    def test_prompts_differ_in_their_second_token_only(self):
        a, b = sb.prompt_ids(0, 8, 32000), sb.prompt_ids(1, 8, 32000)
        self.assertEqual(len(a), 8)
        self.assertEqual(a[0], 1)
        self.assertNotEqual(a[1], b[1])
        self.assertEqual(a[2:], b[2:])
        self.assertTrue(all(0 <= t < 32000 for t in a + b))
        self.assertEqual(sb.prompt_ids(5, 2, 300), [1, 8])
        with self.assertRaises(ValueError):
            sb.prompt_ids(0, 1, 300)

    def test_bodies_ask_both_engines_for_the_same_work(self):
        llmc, llama = sb.request_body("llmc", [1, 2], 64), sb.request_body("llama.cpp", [1, 2], 64)
        self.assertEqual(llama.pop("cache_prompt"), False)
        # llama-server only: the byte tokens <0x00>..<0xFF> banned (its stream stops at an invalid UTF-8 byte)
        self.assertEqual(llama.pop("logit_bias"), [[i, False] for i in range(3, 259)])
        self.assertEqual(llmc, llama)
        self.assertEqual((llmc["max_tokens"], llmc["temperature"], llmc["ignore_eos"], llmc["stream"]), (64, 0, True, True))

    def test_sse_events_stop_at_done(self):
        lines = ['data: {"choices": [{"text": "a"}]}', "", ": comment", 'data: {"choices": [{"text": ""}]}',
                 'data: {"choices": [], "usage": {"completion_tokens": 2}}', "data: [DONE]", 'data: {"late": 1}']
        events = list(sb.sse_events(lines))
        self.assertEqual(len(events), 3)
        self.assertEqual([sb.event_text(e) for e in events], ["a", "", ""])
        self.assertEqual(events[2]["usage"]["completion_tokens"], 2)


def window(l_tok, l_ttft, r_tok, r_ttft):
    return {"llmc": {"tok_s": l_tok, "ttft_ms": l_ttft}, "llama.cpp": {"tok_s": r_tok, "ttft_ms": r_ttft}}


class Numbers(unittest.TestCase):
    def test_summary(self):
        s = sb.summarize([{"tokens": 64, "ttft_ms": 30}, {"tokens": 64, "ttft_ms": 10}, {"tokens": 64, "ttft_ms": 20}], 2.0)
        self.assertEqual((s["tok_s"], s["ttft_ms"], s["tokens"], s["requests"]), (96.0, 20, 192, 3))

    def test_medians_and_ratios_over_windows(self):
        case = {"shape": "stories110M", "type": "q8_0", "clients": [1, 4],
                "windows": [{"1": window(100, 10, 50, 20), "4": window(300, 40, 100, 40)},
                            {"1": window(120, 12, 60, 12), "4": window(200, 20, 200, 80)},
                            {"1": window(90, 20, 90, 10), "4": window(250, 30, 125, 60)}]}
        one, four = sb.case_rows(case)
        self.assertEqual((one["clients"], one["llmc"]["tok_s"], one["llama.cpp"]["tok_s"]), (1, 100, 60))
        self.assertEqual(one["ratio_tok_s"], 2.0)  # window ratios 2, 2, 1
        self.assertEqual(one["ratio_ttft"], 1.0)  # llama / llmc: 2, 1, 0.5
        self.assertEqual(four["ratio_tok_s"], 2.0)  # 3, 1, 2
        self.assertEqual(four["ratio_ttft"], 2.0)  # 1, 4, 2
        self.assertEqual(four["llmc"]["ttft_ms"], 30)

    def test_a_missing_engine_gives_no_ratio(self):
        self.assertEqual(sb.window_ratios({"llmc": {"tok_s": 1, "ttft_ms": 1}}), {"tok_s": None, "ttft": None})

    def test_table_and_readme_block(self):
        run = {"stamp": "2026-12-06 09:00 UTC", "cpu": "cpu", "llama_name": "llama.cpp x", "parallel": 8, "threads": 2,
               "prompt_tokens": 32, "max_tokens": 64, "requests": 2, "windows": 1, "note": "",
               "cases": [{"shape": "stories110M", "type": "q8_0", "clients": [1],
                          "windows": [{"1": window(100, 10, 50, 20)}]}]}
        table = sb.render_table(run)
        self.assertIn("| stories110M | q8_0 | 1 | 100.0 | 50.0 | 2.00 | 10 | 20 | 2.00 |", table)
        text = "intro\n" + sb.MARK_BEGIN + "\nold\n" + sb.MARK_END + "\noutro\n"
        new = sb.replace_block(text, table, "README.md")
        self.assertTrue(new.startswith("intro\n" + sb.MARK_BEGIN + "\n") and new.endswith(sb.MARK_END + "\noutro\n"))
        self.assertNotIn("old", new)
        with self.assertRaises(SystemExit):
            sb.replace_block("no markers", table, "README.md")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=1)
