// Client-side tests of a compiled model's --serve with the official openai package.
// usage: node openai_client.mjs BASE_URL SERVER_PID
import OpenAI from "openai";
import { readFileSync } from "node:fs";

const [baseURL, pid] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
let failures = 0;
const check = (ok, what) => {
  if (!ok) {
    failures++;
    console.log(`FAIL: ${what}`);
  }
};

async function completion(prompt, extra = {}) {
  const r = await client.completions.create({ model: "m", prompt, max_tokens: 40, temperature: 0, ...extra });
  return r.choices[0].text;
}
async function completionStreamed(prompt, extra = {}) {
  const s = await client.completions.create({ model: "m", prompt, max_tokens: 40, temperature: 0, stream: true, ...extra });
  let text = "", finish = null;
  for await (const c of s) {
    text += c.choices[0].text;
    finish = c.choices[0].finish_reason ?? finish;
  }
  return { text, finish };
}
async function chat(content, extra = {}) {
  const r = await client.chat.completions.create({
    model: "m", messages: [{ role: "system", content: "A story." }, { role: "user", content }], max_tokens: 40,
    temperature: 0, ...extra,
  });
  return r;
}
async function chatStreamed(content, extra = {}) {
  const s = await client.chat.completions.create({
    model: "m", messages: [{ role: "system", content: "A story." }, { role: "user", content }], max_tokens: 40,
    temperature: 0, stream: true, stream_options: { include_usage: true }, ...extra,
  });
  let text = "", finish = null, usage = null, role = null;
  for await (const c of s) {
    if (c.usage) usage = c.usage;
    if (!c.choices.length) continue;
    role = c.choices[0].delta.role ?? role;
    text += c.choices[0].delta.content ?? "";
    finish = c.choices[0].finish_reason ?? finish;
  }
  return { text, finish, usage, role };
}
const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);

// models
const models = await client.models.list();
check(models.data.length === 1 && models.data[0].object === "model", "models.list");

// completions: streamed equals not streamed at temperature 0
const plain = await completion("Once upon a time");
const streamed = await completionStreamed("Once upon a time");
check(plain.length > 20, `completion text: ${JSON.stringify(plain)}`);
check(streamed.text === plain, `streamed completion ${JSON.stringify(streamed.text)} != ${JSON.stringify(plain)}`);
check(streamed.finish === "length", `streamed finish_reason ${streamed.finish}`);

// stop strings
const cut = await completion("Once upon a time", { stop: ["."] });
check(!cut.includes(".") && plain.startsWith(cut) && cut.length < plain.length, `stop "." gave ${JSON.stringify(cut)}`);

// chat: streamed equals not streamed, usage counted
const r = await chat("Tell me about a cat");
const cs = await chatStreamed("Tell me about a cat");
const text = r.choices[0].message.content;
check(r.choices[0].message.role === "assistant" && text.length > 0, "chat message");
check(cs.text === text, `streamed chat ${JSON.stringify(cs.text)} != ${JSON.stringify(text)}`);
check(cs.role === "assistant", "streamed chat starts with the assistant role");
check(r.usage.prompt_tokens > 5 && r.usage.completion_tokens > 0 &&
      r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, `usage ${JSON.stringify(r.usage)}`);
check(cs.usage && cs.usage.completion_tokens === r.usage.completion_tokens, `streamed usage ${JSON.stringify(cs.usage)}`);
check(cs.finish === r.choices[0].finish_reason, "finish_reason streamed and not");

// the same seed samples the same text; temperature > 0 works
const s1 = await completion("Once upon a time", { temperature: 1, seed: 7 });
const s2 = await completion("Once upon a time", { temperature: 1, seed: 7, top_p: 1 });
check(s1 === s2, "same seed, different text");

// errors arrive as the OpenAI error type, with a message
for (const [what, call] of [
  ["unknown role", () => client.chat.completions.create({ model: "m", messages: [{ role: "wizard", content: "x" }] })],
  ["too long", () => client.completions.create({ model: "m", prompt: "Once", max_tokens: 100000 })],
  ["bad temperature", () => client.completions.create({ model: "m", prompt: "Once", temperature: 9 })],
]) {
  try {
    await call();
    check(false, `${what}: no error`);
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400 && e.message.length > 10, `${what}: ${e}`);
  }
}

// 8 concurrent clients (streamed and not) get exactly what one client alone gets
const prompts = ["Once upon a time", "The dog", "Lily and Ben", "One day, a bird", "Tom had a red ball",
                 "The sun was", "In the park", "A little cat"];
const alone = [];
for (const p of prompts) alone.push(await completion(p, { max_tokens: 60 }));
const together = await Promise.all(prompts.map((p, i) => i % 2 ? completionStreamed(p, { max_tokens: 60 }).then(x => x.text)
                                                                 : completion(p, { max_tokens: 60 })));
prompts.forEach((p, i) => check(together[i] === alone[i], `concurrent ${JSON.stringify(p)}: ${JSON.stringify(together[i])} != ${JSON.stringify(alone[i])}`));
const chatsAlone = [];
for (const p of prompts.slice(0, 4)) chatsAlone.push((await chat(p)).choices[0].message.content);
const chatsTogether = await Promise.all(prompts.slice(0, 4).map(p => chatStreamed(p).then(x => x.text)));
chatsAlone.forEach((t, i) => check(chatsTogether[i] === t, `concurrent chat ${i}`));

// 1,000 requests: resident memory stays flat
const burst = async (n) => {
  for (let i = 0; i < n; i += 8)
    await Promise.all(Array.from({ length: 8 }, (_, k) => k % 2 ? completion(prompts[k], { max_tokens: 8 })
                                                                     : completionStreamed(prompts[k], { max_tokens: 8 })));
};
await burst(200);
const before = rssKb();
await burst(1000);
const after = rssKb();
console.log(`RSS after 200 warm-up requests ${before} kB, after 1,000 more ${after} kB`);
check(after - before < 1024, `RSS grew by ${after - before} kB over 1,000 requests`);

if (failures) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("openai client tests passed");
