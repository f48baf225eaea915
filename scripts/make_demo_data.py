#!/usr/bin/env python3
"""Generate ToolTune's synthetic demo dataset in the raw ToolBench answer-file format.

    python3 scripts/make_demo_data.py            # (re)writes demo/data/
    python3 scripts/make_demo_data.py --check    # validates demo/data/ and prints statistics

Output (all deterministic; running twice gives byte-identical files):
  demo/data/train/G{1,2,3}_answer/<qid>_ChatGPT_DFS_woFilter_w2.json   training query files
  demo/data/eval/G{1,2,3}_answer/<qid>_ChatGPT_DFS_woFilter_w2.json    held-out query files
  demo/data/queries/G{1,2,3}_query.json   the eval queries in the instruction format (+ template_response)
  demo/data/test_query_ids.json           {"<qid>": 0, ...}: eval ids + a few TRAIN ids (to be dropped)
  demo/data/toolenv/tools/<Category>/<tool>.json   the tool definitions (ToolBench toolenv format)

Formats follow ../shared/toolbench/README.md sections 1-6; the string-level rules live in
toolbench_format.py. The data itself (tools, queries, responses) is invented here: see demo_world.py
and demo_intents.py. No ToolBench data is copied.
"""

import argparse
import datetime
import glob
import json
import os
import random
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from toolbench_format import (FINISH_GIVE_UP_OBSERVATION, FINISH_OK_OBSERVATION, MAX_OBSERVATION_LENGTH,
                              answer_file_examples, api_to_function, finish_function, render,
                              split_target, system_message, user_message)
from demo_world import TOOLS, TOOL_BY_NAME, BASE_DATE, api_entry, encode_response, observation, toolenv_json
from demo_intents import CROSS_TOOL_INTENTS, INTENTS

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = os.path.join(ROOT, "demo", "data")
METHOD = "ChatGPT_DFS_woFilter_w2"
SEED = 20240501
N_TRAIN, N_EVAL = 400, 40
N_INVALID_TRAIN = 2          # valid_data=false files (no train_messages), like G1/69 and G3/8
N_TRAIN_IDS_IN_TEST = 3      # train query ids also listed in test_query_ids.json
FORWARD_ARGS = {"single_chain_max_step": 12, "tree_beam_size": 2, "max_query_count": 200, "answer": 1,
                "with_filter": False}

# Our own wording for the DFS back-tracking user turn (README section 1 describes the feature but does
# not quote ToolBench's DIVERSITY_PROMPT in full, so we do not reproduce it).
DIVERSITY_TEXT = (
    "This task has been tried before, and every earlier attempt from this state failed.\n"
    "Before you write your thought for this state, look at the actions that were already taken from it: "
    "your next action must be different from all of them. Actions already taken here:\n"
    "{candidates}\n"
    "{last}"
    "You are in the middle of an attempt: analyse the current state and the actions above, then choose "
    "an action that none of them took.")
DIVERSITY_LAST = "The last observation you received was: {obs}\n\n"

TIMEOUT_ERROR = "Request timed out after 15 seconds."
UNAVAILABLE_ERROR = "Service unavailable (HTTP 503). Please try again later."

# Intents that read naturally twice in one query ("the weather in Paris ... and in Rome").
REPEATABLE = {"weather_now", "stock_quote", "fx_convert", "time_in_city", "define", "translate", "coin_price",
              "city_distance", "convert_length", "company_profile", "detect_language", "is_holiday"}

OPENERS = ["", "", "", "", "Hi! ", "Hello. ", "Quick question: ", "I need some help. ",
           "I'm preparing a short report. ", "Could you help me with a few things? "]
CITY_OPENERS = ["I'm travelling to {c} soon. ", "I'm visiting {c} next week. ", "A friend lives in {c}. "]
CONNECTORS = ["Also, ", "Additionally, ", "And ", "After that, ", "", "Then "]
CLOSERS = ["", "", "", " Thanks!", " Thank you.", " Thanks in advance.", " Please keep it short."]

CALL_THOUGHTS = ["I need {p}, so I will call {fn}.", "Let me get {p} first.", "Next, I'll look up {p}.",
                 "To answer this, I should fetch {p}.", "I will use {fn} to get {p}.",
                 "The user wants {p}; {fn} provides it."]
FINAL_THOUGHTS = ["I now have everything the user asked for, so I can give the final answer.",
                  "All calls succeeded. I will summarise the results for the user.",
                  "I have the results; time to write the final answer.",
                  "That answers the whole request. Let me put it together."]
FINISH_THOUGHTS = ["I have all the information needed.", "Now I can answer the user.",
                   "The task is complete; I will give the final answer."]


def decap(s):
    """Lower-case the first letter of a sentence placed after a connector ("Also, what's ...")."""
    if s.startswith(("I ", "I'm", "I'd", "I've")) or (len(s) > 1 and s[1].isupper()):
        return s
    return s[0].lower() + s[1:]


def args_text(args):
    """function_call.arguments: pretty JSON (indent 2), non-ASCII kept raw, as in the real data."""
    return json.dumps(args, indent=2, ensure_ascii=False)


# ------------------------------------------------------------------------------------------ queries

def group_tools(rng, group):
    if group == "G1":
        return [rng.choice(TOOLS)]
    if group == "G2":
        cats = sorted({t["category"] for t in TOOLS if sum(u["category"] == t["category"] for u in TOOLS) > 1})
        cat = rng.choice(cats)
        pool = [t for t in TOOLS if t["category"] == cat]
        return rng.sample(pool, 3 if len(pool) >= 3 and rng.random() < 0.3 else 2)
    n = 3 if rng.random() < 0.35 else 2
    tools = []
    for t in rng.sample(TOOLS, len(TOOLS)):
        if t["category"] not in {u["category"] for u in tools}:
            tools.append(t)
        if len(tools) == n:
            break
    return tools


def make_query(rng, group, ctx):
    """One query record: text, intent instances, offered api list, relevant APIs."""
    target_calls = rng.choices([1, 2, 3], [0.3, 0.5, 0.2])[0] if group == "G1" else rng.choice([2, 2, 2, 3])
    tools = group_tools(rng, group)
    intents = []
    if group == "G3" and rng.random() < 0.15:
        fn = rng.choice(CROSS_TOOL_INTENTS)
        intents.append(dict(fn(rng, ctx), intent=fn.__name__))
        tools = [TOOL_BY_NAME["Flight Status"], TOOL_BY_NAME["SkyCast Weather"]]
    # Add intents, cycling over the tools, until the call budget is met and every tool has a call.
    k = 0
    while k < 200 and (sum(len(i["calls"]) for i in intents) < target_calls or not all(
            any(c["tool"] is t for i in intents for c in i["calls"]) for t in tools)):
        t = tools[k % len(tools)]
        k += 1
        fn = rng.choice(INTENTS[t["tool_name"]])
        if fn.__name__ in [i["intent"] for i in intents] and fn.__name__ not in REPEATABLE:
            continue
        inst = fn(rng, ctx)
        inst["intent"] = fn.__name__
        if sum(len(i["calls"]) for i in intents) + len(inst["calls"]) > 3:
            continue
        sig = [(c["api"]["fn"], json.dumps(c["args"], sort_keys=True)) for c in inst["calls"]]
        if any(s in [(c["api"]["fn"], json.dumps(c["args"], sort_keys=True)) for i in intents for c in i["calls"]]
               for s in sig):
            continue
        intents.append(inst)
    # Offered APIs: the relevant ones plus distractors from the same tools.
    relevant = []
    for i in intents:
        for c in i["calls"]:
            if (c["tool"]["tool_name"], c["api"]["name"]) not in relevant:
                relevant.append((c["tool"]["tool_name"], c["api"]["name"]))
    used_tools = []
    for t in tools:
        if t not in used_tools:
            used_tools.append(t)
    rng.shuffle(used_tools)
    # Few APIs keep the system prompt (and so the examples) short: relevant ones + 0-1 distractor,
    # at least 2 and at most 4 per query.
    others = [(t, a) for t in used_tools for a in t["apis"] if (t["tool_name"], a["name"]) not in relevant]
    n_extra = 1 if len(relevant) < 2 else max(0, min(rng.randint(0, 1), 4 - len(relevant)))
    extra = rng.sample(others, min(n_extra, len(others)))
    keep = set(relevant) | {(t["tool_name"], a["name"]) for t, a in extra}
    offered = [(t, a) for t in used_tools for a in t["apis"] if (t["tool_name"], a["name"]) in keep]
    # Query text
    first = intents[0]
    opener = rng.choice(OPENERS)
    if "context_city" in first and rng.random() < 0.25:
        opener = rng.choice(CITY_OPENERS).format(c=first["context_city"])
    parts = [first["phrase"]]
    conns = rng.sample(CONNECTORS, len(CONNECTORS))  # no connector twice in one query
    for i in intents[1:]:
        conn = conns.pop()
        if i["phrase"].startswith("I") and conn not in ("", "Also, "):
            conn = ""  # "Then I have 20 USD; ..." reads badly
        parts.append(conn + (decap(i["phrase"]) if conn else i["phrase"]))
    text = opener + " ".join(parts) + rng.choice(CLOSERS)
    return {"group": group, "query": text, "intents": intents, "offered": offered,
            "relevant": [list(r) for r in relevant], "ctx": ctx}


# ------------------------------------------------------------------------------------------ traces

def call_step(c, args=None, obs=None, code=0, thought=None):
    a = c["args"] if args is None else args
    if obs is None:
        obs = observation("", encode_response(c["tool"], c["response"]))
    return {"kind": "call", "fn": c["api"]["fn"], "args": args_text(a), "obs": obs, "code": code,
            "thought": thought}


def failed_call(rng, c, always_bad=False):
    """A failing attempt at call c: wrong arguments (if the intent knows a plausible mistake) or a timeout."""
    if c["bad"] is not None and (always_bad or rng.random() < 0.65):
        b = c["bad"]
        st = call_step(c, b["args"], observation("", encode_response(c["tool"], b["response"])), 0)
        return st, "The API expects %s. I will call it again with corrected arguments." % b["hint"]
    st = call_step(c, None, observation(TIMEOUT_ERROR, ""), 12)
    return st, "The request timed out, so I will try the same call again."


def finish_step(answer=None, thought=None):
    if answer is None:
        return {"kind": "finish", "args": args_text({"return_type": "give_up_and_restart"}), "thought": thought,
                "give_up": True}
    return {"kind": "finish", "args": args_text({"return_type": "give_answer", "final_answer": answer}),
            "thought": thought, "give_up": False}


def final_answer_text(rng, q):
    sents = [i["answer"] for i in q["intents"]]
    if len(sents) > 1 and rng.random() < 0.35:
        return "Here is what I found:\n" + "\n".join("- " + s for s in sents)
    return (" " if rng.random() < 0.7 else "\n\n").join(sents)


def make_trace(rng, q, scenario):
    """The DFS outcome for a query: the final chain, failed branches and an optional back-tracking turn."""
    calls = [c for i in q["intents"] for c in i["calls"]]
    tr = {"scenario": scenario, "chain": [], "branches": [], "div": None,
          "matching_time": rng.random() < 0.4}

    def thought_for(c):
        if rng.random() < 0.25:
            return rng.choice(CALL_THOUGHTS).format(p=c["purpose"], fn=c["api"]["fn"])
        return None

    if scenario == "invalid":
        # Two trials, both abandoned: valid_data=false, no train_messages.
        for c in calls[:2] if len(calls) > 1 else calls * 2:
            st = call_step(c, None, observation(UNAVAILABLE_ERROR, ""), 12)
            tr["branches"].append((0, [st, finish_step(None)]))
        return tr

    chain = []
    if scenario == "give_up":
        k = 1 if len(calls) >= 2 and rng.random() < 0.5 else 0
        for c in calls[:k]:
            chain.append(call_step(c, thought=thought_for(c)))
        for j in range(rng.choice([1, 2])):
            chain.append(call_step(calls[k], None, observation(UNAVAILABLE_ERROR, ""), 12,
                                   "The service failed; I will try once more." if j else thought_for(calls[k])))
        th = None
        if rng.random() < 0.6:
            th = ("The %s service keeps failing, so I cannot complete the task now. I will give up and restart."
                  % calls[k]["tool"]["std"])
        chain.append(finish_step(None, th))
        tr["chain"] = chain
        return tr

    backtrack_points = [j for j, c in enumerate(calls) if c["bad"] is not None]
    if scenario == "backtrack" and not backtrack_points:
        scenario = tr["scenario"] = "retry"
    fail_at = rng.randrange(len(calls)) if scenario == "retry" else -1
    for j, c in enumerate(calls):
        if j == fail_at:
            st, retry_thought = failed_call(rng, c)
            st["thought"] = thought_for(c)
            chain.append(st)
            chain.append(call_step(c, thought=retry_thought))
        else:
            chain.append(call_step(c, thought=thought_for(c)))
    answer = final_answer_text(rng, q)
    if rng.random() < 0.12:
        chain.append({"kind": "think", "content": rng.choice(FINAL_THOUGHTS)})
    chain.append(finish_step(answer, rng.choice(FINISH_THOUGHTS) if rng.random() < 0.25 else None))
    tr["chain"] = chain

    if scenario == "backtrack":
        # An earlier trial failed at step p and gave up; DFS came back to that state and the next
        # attempt was told which actions were already tried (a user turn before step p). The failed
        # action must differ from the one finally taken, so only calls with a plausible mistake qualify.
        p = rng.choice(backtrack_points)
        assert chain[p]["fn"] == calls[p]["api"]["fn"]
        bad, _ = failed_call(rng, calls[p], always_bad=True)
        tr["branches"].append((p, [bad, finish_step(None)]))
        cands = json.dumps([{"name": bad["fn"], "arguments": bad["args"], "function_output": bad["obs"],
                             "score": 0.0}], indent=2)
        last = DIVERSITY_LAST.format(obs=chain[p - 1]["obs"]) if p > 0 else ""
        # p == 0: the turn stays in every later step ("keep"); p > 0: only the step it was generated
        # for ("single"), as when DFS rebuilds later histories without it (both occur in ToolBench).
        tr["div"] = {"pos": p, "mode": "keep" if p == 0 else "single",
                     "text": DIVERSITY_TEXT.format(candidates=cands, last=last)}
    return tr


# ------------------------------------------------------------------------------------------ tree

def tree_node(ntype, desc, obs=None, code=None, pruned=False, io=False, matching_time=False):
    n = {"is_terminal": False, "pruned": pruned, "finished": False, "depth": 0, "node_type": ntype,
         "description": desc, "Elo": 1000.0}
    if matching_time:  # present on every node of some ToolBench files, absent from others
        n["matching_time"] = 0
    if obs is not None:
        n["observation"] = obs
        n["observation_code"] = code
    n["child_count"] = 0
    n["expand_num"] = 0
    if io:
        n["io_state"] = {}
    n["children"] = []
    return n


def step_nodes(st, mt):
    out = []
    if st["kind"] == "think":
        return [tree_node("Thought", st["content"], matching_time=mt)]
    if st.get("thought"):
        out.append(tree_node("Thought", st["thought"], matching_time=mt))
    if st["kind"] == "call":
        out.append(tree_node("Action", st["fn"], matching_time=mt))
        out.append(tree_node("Action Input", st["args"], st["obs"], st["code"], io=True, matching_time=mt))
    else:
        out.append(tree_node("Action", "Finish", matching_time=mt))
        out.append(tree_node("Action Input", st["args"],
                             FINISH_GIVE_UP_OBSERVATION if st["give_up"] else FINISH_OK_OBSERVATION,
                             4 if st["give_up"] else 3, pruned=st["give_up"], io=True, matching_time=mt))
    return out


def link(nodes):
    for a, b in zip(nodes, nodes[1:]):
        a["children"].append(b)
    return nodes


def build_tree(tr, win):
    mt = tr["matching_time"]
    root = tree_node("Action Input", "", io=True, matching_time=mt)
    main = []                 # nodes of the final chain, in order
    anchors = [root]          # anchors[p] = node after which step p starts
    for st in tr["chain"]:
        ns = step_nodes(st, mt)
        main.extend(ns)
        anchors.append(ns[-1])
    link([root] + main)
    for p, steps in tr["branches"]:
        bn = link([n for st in steps for n in step_nodes(st, mt)])
        anchors[p]["children"].insert(0, bn[0])  # explored before the final continuation
    # depth, child_count, expand_num (Action Input nodes numbered in exploration = preorder), size
    counter = [0]
    size = [0]
    maxd = [0]

    def walk(n, d):
        n["depth"] = d
        n["child_count"] = len(n["children"])
        size[0] += 1
        maxd[0] = max(maxd[0], d)
        if n["node_type"] == "Action Input" and d > 0:
            counter[0] += 1
            n["expand_num"] = counter[0]
        for c in n["children"]:
            walk(c, d + 1)
    walk(root, 0)
    if win:
        for n in main:
            n["finished"] = n["depth"] >= 2
    cands = [[{k: v for k, v in n.items() if k != "children"} for n in main]] if win else []
    return {"size": size[0], "max_length": maxd[0] + 1, "tree": root}, cands, counter[0]


# ------------------------------------------------------------------------------------------ files

def answer_file(q, tr):
    offered_tools = []
    for t, a in q["offered"]:
        if t not in offered_tools:
            offered_tools.append(t)
    functions = [api_to_function(api_entry(t, a), t["std"]) for t, a in q["offered"]] + [finish_function()]
    system = {"role": "system", "content": system_message([(t["std"], t["description"]) for t in offered_tools])}
    user = {"role": "user", "content": user_message(q["query"])}
    valid = tr["scenario"] != "invalid"
    give_up = valid and tr["chain"][-1]["give_up"]
    win = valid and not give_up

    msgs = [system, user]
    asst = []       # (message index, step index)
    div_index = None
    for si, st in enumerate(tr["chain"]):
        if tr["div"] is not None and tr["div"]["pos"] == si:
            div_index = len(msgs)
            # ToolBench marks these injected turns with "valid": false (preprocessing ignores the key).
            msgs.append({"role": "user", "content": tr["div"]["text"], "valid": False})
        if st["kind"] == "think":
            msgs.append({"role": "assistant", "content": st["content"]})
        else:
            msgs.append({"role": "assistant", "content": st.get("thought"),
                         "function_call": {"name": "Finish" if st["kind"] == "finish" else st["fn"],
                                           "arguments": st["args"]}})
        asst.append((len(msgs) - 1, si))
        if st["kind"] == "call":
            msgs.append({"role": "function", "name": st["fn"], "content": st["obs"]})
    train_messages = []
    for mi, si in asst:
        entry = msgs[:mi + 1]
        if div_index is not None and tr["div"]["mode"] == "single" and si > tr["div"]["pos"]:
            entry = entry[:div_index] + entry[div_index + 1:]
        train_messages.append(entry)

    tree, cands, n_inputs = build_tree(tr, win)
    total_tokens = sum(len(json.dumps(tm, ensure_ascii=False)) // 4 for tm in train_messages) + 173 * n_inputs
    ag = {"valid_data": valid, "query_count": n_inputs, "total_tokens": total_tokens,
          "final_answer": tr["chain"][-1]["args"] if valid else ""}
    finish_type = "give_up" if give_up else "give_answer"
    # Key order as in the data: G2/G3 files put finish_type after final_answer, G1 and invalid ones last.
    finish_last = q["group"] == "G1" or not valid
    if not finish_last:
        ag["finish_type"] = finish_type
    ag["function"] = functions
    ag["chain"] = []
    if valid:
        ag["train_messages"] = train_messages
    ag["query"] = q["query"]
    if finish_last:
        ag["finish_type"] = finish_type
    return {"win": win, "tree": tree, "forward_args": FORWARD_ARGS, "compare_candidates": cands,
            "answer_generation": ag}


def query_record(q, qid):
    return {"api_list": [api_entry(t, a) for t, a in q["offered"]], "query": q["query"],
            "relevant APIs": q["relevant"], "query_id": qid}


def write_json(path, obj, indent):
    """ensure_ascii=True and no final newline, like ToolBench's json.dump. ToolBench writes answer files
    with indent=2; we write them with indent=None (one line, default separators) because the
    indentation alone would push demo/ past 8 MB. JSON readers see no difference."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(obj, indent=indent))


def generate():
    rng = random.Random(SEED)
    queries, seen = [], set()
    while len(queries) < N_TRAIN + N_EVAL:
        group = rng.choices(["G1", "G2", "G3"], [0.45, 0.25, 0.30])[0]
        day = BASE_DATE + datetime.timedelta(days=rng.randrange(60))
        utc = datetime.datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(0, 60, 5))
        q = make_query(rng, group, {"day": day, "date": day.strftime("%Y-%m-%d"), "utc": utc})
        if q["query"] in seen:
            continue
        seen.add(q["query"])
        queries.append(q)
    qids = rng.sample(range(100, 20000), N_TRAIN + N_EVAL)
    eval_idx = set(rng.sample(range(len(queries)), N_EVAL))
    train = [(qids[i], q) for i, q in enumerate(queries) if i not in eval_idx]
    evals = [(qids[i], q) for i, q in enumerate(queries) if i in eval_idx]

    invalid = set(rng.sample([qid for qid, q in train if q["group"] != "G1"], 1) +
                  rng.sample([qid for qid, q in train if q["group"] == "G1"], N_INVALID_TRAIN - 1))

    def scenario(qid):
        if qid in invalid:
            return "invalid"
        u = rng.random()
        return "give_up" if u < 0.05 else "retry" if u < 0.15 else "backtrack" if u < 0.21 else "clean"

    for sub in ("train", "eval", "queries", "toolenv"):
        shutil.rmtree(os.path.join(DATA, sub), ignore_errors=True)
    files = {}
    for split, items in (("train", train), ("eval", evals)):
        for qid, q in items:
            tr = make_trace(rng, q, scenario(qid))
            path = os.path.join(DATA, split, "%s_answer" % q["group"], "%d_%s.json" % (qid, METHOD))
            files[(split, qid)] = answer_file(q, tr)
            write_json(path, files[(split, qid)], None)
    for g in ("G1", "G2", "G3"):
        write_json(os.path.join(DATA, "queries", "%s_query.json" % g),
                   [query_record(q, qid) for qid, q in evals if q["group"] == g], 4)
    # A few TRAIN ids in the test list (one per group, multi-step, valid) so "never train on test ids"
    # has something to drop. Listed in demo/README.md.
    overlap = []
    for g in ("G1", "G2", "G3"):
        cands = [qid for qid, q in train if q["group"] == g and qid not in invalid and
                 len(files[("train", qid)]["answer_generation"]["train_messages"]) >= 3]
        overlap.append(rng.choice(sorted(cands)))
    test_ids = {str(qid): 0 for qid, q in evals}
    test_ids.update({str(qid): 0 for qid in overlap})
    write_json(os.path.join(DATA, "test_query_ids.json"), test_ids, 4)
    for t in TOOLS:
        write_json(os.path.join(DATA, "toolenv", "tools", t["category"], t["std"] + ".json"), toolenv_json(t), 4)
    print("wrote %d train + %d eval query files; train ids also in test_query_ids: %s"
          % (len(train), len(evals), ", ".join(map(str, overlap))))


# ------------------------------------------------------------------------------------------ check

def load_answers(split):
    out = []
    for path in sorted(glob.glob(os.path.join(DATA, split, "G*_answer", "*.json"))):
        with open(path, encoding="utf-8") as f:
            out.append((os.path.relpath(path, DATA), json.load(f)))
    return out


def check_file(rel, d):
    """Structural checks of one answer file; returns a list of problems."""
    bad = []
    if list(d) != ["win", "tree", "forward_args", "compare_candidates", "answer_generation"]:
        bad.append("top-level keys")
    ag = d["answer_generation"]
    fnames = [f["name"] for f in ag["function"]]
    if ag["function"][-1] != finish_function() or len(set(fnames)) != len(fnames):
        bad.append("function list")
    props = {f["name"]: f["parameters"] for f in ag["function"]}
    if not ag["valid_data"]:
        if "train_messages" in ag or ag["final_answer"] != "" or d["win"]:
            bad.append("invalid file fields")
        return bad
    if d["win"] != (ag["finish_type"] == "give_answer"):
        bad.append("win/finish_type")
    last = ag["train_messages"][-1]
    if last[-1].get("function_call", {}).get("arguments") != ag["final_answer"]:
        bad.append("final_answer != last Finish arguments")
    for tm in ag["train_messages"]:
        if tm[0]["role"] != "system" or tm[1]["role"] != "user" or tm[-1]["role"] != "assistant":
            bad.append("entry shape")
        if not (tm[1]["content"].startswith("\n") and tm[1]["content"].endswith("\nBegin!\n")):
            bad.append("user format")
        for m in tm:
            if m["role"] == "assistant" and "function_call" in m:
                fc = m["function_call"]
                if fc["name"] not in props:
                    bad.append("unknown function %s" % fc["name"])
                    continue
                a = json.loads(fc["arguments"])
                if fc["arguments"] != json.dumps(a, indent=2, ensure_ascii=False):
                    bad.append("arguments not pretty JSON")
                p = props[fc["name"]]
                if not set(p["required"]) <= set(a) or not set(a) <= set(p["properties"]):
                    # failed attempts may use a wrong VALUE but never a wrong key
                    bad.append("argument keys of %s" % fc["name"])
            if m["role"] == "function":
                c = m["content"]
                if len(c) == MAX_OBSERVATION_LENGTH + 3 and c.endswith("..."):
                    continue  # truncated by the environment: not JSON any more, as in ToolBench
                o = json.loads(c)
                if list(o) != ["error", "response"] or not isinstance(o["response"], str):
                    bad.append("observation shape")
    t = d["tree"]
    n = [0]
    def walk(x):
        n[0] += 1
        if x["child_count"] != len(x["children"]):
            bad.append("child_count")
        for c in x["children"]:
            if c["depth"] != x["depth"] + 1:
                bad.append("depth")
            walk(c)
    walk(t["tree"])
    if n[0] != t["size"]:
        bad.append("tree size")
    return bad


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def load_tokenizer():
    tok_dir = os.path.join(ROOT, "demo", "tokenizer")
    if not os.path.exists(os.path.join(tok_dir, "vocab.json")):
        return None
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    tk = Tokenizer(BPE.from_file(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt")))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(["</s>", "<pad>"])  # OPT's declared special tokens (train_demo_tokenizer.py)
    return tk


def check():
    problems = 0
    tk = load_tokenizer()
    all_ids = {}
    for split in ("train", "eval"):
        files = load_answers(split)
        ex, dropped, finish, give_up, thought, div, trunc, invalid, retried = [], 0, 0, 0, 0, 0, 0, 0, 0
        groups = {}
        for rel, d in files:
            for b in check_file(rel, d):
                print("PROBLEM %s: %s" % (rel, b))
                problems += 1
            g = rel.split("/")[1][:2]
            groups[g] = groups.get(g, 0) + 1
            qid = int(os.path.basename(rel).split("_")[0])
            if qid in all_ids:
                print("PROBLEM duplicate query id %d" % qid)
                problems += 1
            all_ids[qid] = split
            ag = d["answer_generation"]
            if not ag["valid_data"]:
                invalid += 1
                continue
            exs = answer_file_examples(d)
            dropped += len(ag["train_messages"]) - len(exs)
            if any(m["role"] == "function" and '"error": "' in m["content"] and not m["content"].startswith('{"error": ""')
                   for m in ag["train_messages"][-1]):
                retried += 1
            for k, step, conv in exs:
                text = render(conv)
                ctx, tgt = split_target(text)
                ex.append((text, tgt, conv))
                finish += "\nAction: Finish\n" in tgt
                give_up += "give_up_and_restart" in tgt
                thought += not tgt.startswith("\nThought: \nAction: ")
                div += sum(c["from"] == "user" for c in conv) > 1
                trunc += any(c["from"] == "function" and c["value"].endswith("...") for c in conv)
        L = [len(t) for t, _, _ in ex]
        S = [len(c[0]["value"]) for _, _, c in ex]
        T = [len(t) for _, t, _ in ex]
        print("== %s: %d query files (%s), %d valid_data=false, %d with a failed call in the final history"
              % (split, len(files), ", ".join("%s %d" % kv for kv in sorted(groups.items())), invalid, retried))
        print("   %d step examples (%d train_messages entries dropped: last message content-only)" % (len(ex), dropped))
        print("   rendered chars min/median/mean/max: %d / %d / %d / %d; system prompt median %d; target median %d"
              % (min(L), statistics.median(L), statistics.mean(L), max(L), statistics.median(S), statistics.median(T)))
        print("   targets: Finish %d (give_up_and_restart %d), API call %d, with non-empty thought %d"
              % (finish, give_up, len(ex) - finish, thought))
        print("   examples with a back-tracking user turn %d, with a truncated observation %d" % (div, trunc))
        if tk is not None:
            ids = [tk.encode(t).ids for t, _, _ in ex]
            n = [len(i) + 1 for i in ids]  # + BOS
            tt = [len(tk.encode(t).ids) for _, t, _ in ex]
            print("   tokens (demo tokenizer, incl. BOS): min/median/p90/max %d / %d / %d / %d; >900: %d, >1024: %d,"
                  " >1536: %d; target tokens (incl. </s>) median %d; chars/token %.2f"
                  % (min(n), statistics.median(n), pct(n, 90), max(n), sum(x > 900 for x in n),
                     sum(x > 1024 for x in n), sum(x > 1536 for x in n), statistics.median(tt),
                     sum(L) / float(sum(len(i) for i in ids))))
    # The same preprocessing on ToolBench's data_example, against the figures of README section 10.
    real = os.path.abspath(os.path.join(ROOT, "..", "..", "shared", "toolbench", "ToolBench-data_example", "answer"))
    if not os.path.isdir(real):
        real = "/work/shared/toolbench/ToolBench-data_example/answer"
    if os.path.isdir(real):
        rex = []
        for path in sorted(glob.glob(os.path.join(real, "G*_answer", "*.json"))):
            with open(path, encoding="utf-8") as f:
                rex.extend(render(c) for _, _, c in answer_file_examples(json.load(f)))
        L = [len(t) for t in rex]
        fin = sum("\nAction: Finish\n" in split_target(t)[1] for t in rex)
        print("== ToolBench data_example through the same code: %d examples, chars min/median/mean/max "
              "%d / %.1f / %.1f / %d, Finish targets %d (README section 10: 50; 3,288 / 8,291 / 7,971 / 16,380; 13)"
              % (len(rex), min(L), statistics.median(L), statistics.mean(L), max(L), fin))
        problems += (len(rex), min(L), max(L), fin) != (50, 3288, 16380, 13)
    # test ids and query files
    with open(os.path.join(DATA, "test_query_ids.json")) as f:
        test_ids = [int(k) for k in json.load(f)]
    in_train = [i for i in test_ids if all_ids.get(i) == "train"]
    missing_eval = [i for i, s in all_ids.items() if s == "eval" and i not in test_ids]
    train_files = {int(os.path.basename(r).split("_")[0]): d for r, d in load_answers("train")}
    n_drop = sum(len(answer_file_examples(train_files[i])) for i in in_train)
    print("== test_query_ids.json: %d ids (%d eval, train ids also listed: %s = %d train step examples to "
          "drop); eval ids missing: %d" % (len(test_ids), len(test_ids) - len(in_train), in_train, n_drop,
                                          len(missing_eval)))
    problems += len(missing_eval)
    evals = {int(os.path.basename(r).split("_")[0]): d for r, d in load_answers("eval")}
    nq = 0
    for path in sorted(glob.glob(os.path.join(DATA, "queries", "*.json"))):
        with open(path) as f:
            for rec in json.load(f):
                nq += 1
                d = evals[rec["query_id"]]
                fns = [api_to_function(a, TOOL_BY_NAME[a["tool_name"]]["std"]) for a in rec["api_list"]] + [finish_function()]
                if fns != d["answer_generation"]["function"] or rec["query"] != d["answer_generation"]["query"]:
                    print("PROBLEM query file and answer file differ for %d" % rec["query_id"])
                    problems += 1
    print("== queries/*.json: %d eval queries, consistent with the eval answer files" % nq)
    sizes = {}
    for dp, _, fs in os.walk(os.path.join(ROOT, "demo")):
        for fn in fs:
            top = os.path.relpath(dp, os.path.join(ROOT, "demo")).split(os.sep)
            key = "/".join(top[:2]) if top != ["."] else "(top-level files)"
            sizes[key] = sizes.get(key, 0) + os.path.getsize(os.path.join(dp, fn))
    print("== sizes: " + ", ".join("demo/%s %.2f MB" % (k, v / 1e6) if k[0] != "(" else "demo %s %.2f MB" % (k, v / 1e6)
                                   for k, v in sorted(sizes.items()))
          + "; total %.2f MB" % (sum(sizes.values()) / 1e6))
    print("OK" if problems == 0 else "%d PROBLEMS" % problems)
    return problems == 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="validate demo/data and print statistics")
    a = ap.parse_args()
    if a.check:
        sys.exit(0 if check() else 1)
    generate()
