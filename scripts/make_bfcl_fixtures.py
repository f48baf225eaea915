#!/usr/bin/env python3
"""Cross-check ToolTune's BFCL AST checker against bfcl's own: generate call sets, record bfcl's verdicts.

For BFCL entries of the AST categories (simple_python, multiple, parallel, parallel_multiple) this script
makes call sets the way a model could answer: right ones (optional parameters given or left out, strings
in another case or spacing, an int for a float, parallel calls in another order) and wrong ones (wrong
type, wrong value, missing required or non-optional parameter, extra parameter, wrong function name,
wrong call count, broken dict and list values...). It runs bfcl's `ast_checker` on each and writes the
entries, the call sets and bfcl's verdicts (valid, error_type) to Tests/Fixtures/bfcl/crosscheck.json.
`BFCLCheckerTests` (swift test) runs ToolTune's checker on every call set and requires the same verdict
and error type; it needs no Python.

    pip install bfcl-eval    # the data and the checker (see below for a --no-deps install)
    python3 scripts/make_bfcl_fixtures.py            # rewrite the fixture
    python3 scripts/make_bfcl_fixtures.py --check    # regenerate and compare with the committed file

bfcl's checker is used as installed, unchanged. Its module imports `MODEL_CONFIG_MAPPING` (which pulls
in every vendor SDK bfcl supports) only to read one flag of the model being checked, `underscore_to_dot`
("." in function names written as "_"); the script registers a stand-in model with that flag set
before importing the checker, so `pip install --no-deps bfcl-eval` is enough. Function names in the call
sets use "_" for ".", as ToolTune's prompt lists them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import sys
import types
from dataclasses import dataclass

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO_ROOT, "Tests", "Fixtures", "bfcl", "crosscheck.json")
CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple"]
MODEL = "tooltune"


@dataclass
class StandIn:
    underscore_to_dot: bool = True


def load_checker():
    stub = types.ModuleType("bfcl_eval.constants.model_config")
    stub.MODEL_CONFIG_MAPPING = {MODEL: StandIn()}
    sys.modules["bfcl_eval.constants.model_config"] = stub
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    import bfcl_eval
    from importlib.metadata import version
    return ast_checker, Language.PYTHON, os.path.join(os.path.dirname(bfcl_eval.__file__), "data"), version("bfcl-eval")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def data_file(folder, category, answers=False):
    """The newest BFCL_v<N>_<category>.json of the folder (or of its possible_answer/)."""
    where = os.path.join(folder, "possible_answer") if answers else folder
    found = [(int(m.group(1)), n) for n in os.listdir(where) if (m := re.fullmatch(rf"BFCL_v(\d+)_{category}\.json", n))]
    if not found:
        raise SystemExit(f"{where}: no BFCL_v<N>_{category}.json")
    return os.path.join(where, max(found)[1])


class Calls:
    """Call sets for one entry, built from its ground truth and function descriptions."""

    def __init__(self, entry, truth, rng):
        self.functions = {f["name"]: f for f in entry["function"]}
        self.truth = truth
        self.rng = rng

    def properties(self, name):
        return self.functions[name]["parameters"]["properties"]

    def value(self, name, param, options):
        """A value the possible answers allow (a dict or list of dicts built from their options)."""
        choices = [o for o in options if o != ""]
        chosen = copy.deepcopy(self.rng.choice(choices))
        kind = self.properties(name).get(param, {}).get("type")
        if kind == "dict" and isinstance(chosen, dict):
            return {k: copy.deepcopy(self.rng.choice([o for o in v if o != ""] or [""]))
                    for k, v in chosen.items() if any(o != "" for o in v)}
        if kind == "array" and isinstance(chosen, list) and chosen and all(isinstance(d, dict) for d in chosen):
            return [{k: copy.deepcopy(self.rng.choice([o for o in v if o != ""] or [""])) for k, v in d.items()
                     if any(o != "" for o in v)} for d in chosen]
        return chosen

    def right(self, optional="random"):
        calls = []
        for call in self.truth:
            name, params = next(iter(call.items()))
            args = {}
            for param, options in params.items():
                if not any(o != "" for o in options):
                    continue
                if "" in options and (optional == "omit" or (optional == "random" and self.rng.random() < 0.5)):
                    continue
                args[param] = self.value(name, param, options)
            calls.append({name.replace(".", "_"): args})
        return calls

    def named(self, calls, index=0):
        """(original name, converted name, args) of call `index`."""
        original = next(iter(self.truth[index]))
        converted = next(iter(calls[index]))
        return original, converted, calls[index][converted]


def wrong_type(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(value)
    if isinstance(value, str):
        return 1
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, dict):
        return [value]
    return "None"


def wrong_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7
    if isinstance(value, str):
        return value + " zz"
    if isinstance(value, list):
        return value + value[:1] if value else ["zz"]
    if isinstance(value, dict):
        return {**value, "zz": 1}
    return 0


def variant(text):
    """The same string to bfcl's standardisation: other case, spaces and punctuation it ignores."""
    out = text.upper() if text.lower() != text.upper() else text
    return "-" + out.replace(" ", "_ ").replace(",", " ,").replace('"', "'") + "*."


def cases_for(calls: Calls, category):
    rng = calls.rng
    out = []

    def add(mutation, output):
        out.append((mutation, output))

    base = calls.right()
    add("right", base)
    add("right, all optional given", calls.right(optional="give"))
    add("right, no optional given", calls.right(optional="omit"))
    add("no call", [])
    if "parallel" in category:
        add("right, calls reversed", list(reversed(calls.right())))
        add("one call missing", calls.right()[:-1])
        add("one call twice", calls.right() + calls.right()[:1])
        if len(base) > 1:
            swapped = copy.deepcopy(base)
            a, b = next(iter(swapped[0])), next(iter(swapped[1]))
            if a == b:
                swapped[0][a], swapped[1][b] = swapped[1][b], swapped[0][a]
                add("arguments of two calls swapped (same function)", swapped)
    else:
        add("two calls", calls.right() + calls.right())
    if "multiple" in category and "parallel" not in category:
        others = [n for n in calls.functions if n != next(iter(calls.truth[0]))]
        if others:
            o = others[0]
            required = calls.functions[o]["parameters"].get("required", [])
            add("another listed function", [{o.replace(".", "_"): {p: "x" for p in required}}])

    original, converted, args = calls.named(base)
    if "." in original:
        add("dotted function name", [{original: args}] + base[1:])
    add("wrong function name", [{converted + "_v2": args}] + base[1:])

    props = calls.properties(original)
    required = calls.functions[original]["parameters"].get("required", [])
    given = list(args)
    if given:
        p = rng.choice(given)
        for label, change in [("wrong type", wrong_type), ("wrong value", wrong_value)]:
            mutated = copy.deepcopy(base)
            mutated[0][converted][p] = change(args[p])
            add(f"{label} ({props.get(p, {}).get('type')})", mutated)
        mutated = copy.deepcopy(base)
        mutated[0][converted][p] = None
        add("null value", mutated)
    for p in given:
        v = args[p]
        kind = props.get(p, {}).get("type")
        if isinstance(v, str):
            mutated = copy.deepcopy(base)
            mutated[0][converted][p] = variant(v)
            add("string in another case and spacing", mutated)
            break
    for p in given:
        kind = props.get(p, {}).get("type")
        v = args[p]
        if kind == "float" and isinstance(v, float) and v == int(v):
            mutated = copy.deepcopy(base)
            mutated[0][converted][p] = int(v)
            add("int for a float", mutated)
        if kind == "integer" and isinstance(v, int) and not isinstance(v, bool):
            mutated = copy.deepcopy(base)
            mutated[0][converted][p] = float(v)
            add("float for an int", mutated)
        if kind in ("array", "tuple") and isinstance(v, list):
            mutated = copy.deepcopy(base)
            mutated[0][converted][p] = [wrong_type(x) for x in v] or ["zz"]
            add("list with elements of another type", mutated)
            mutated = copy.deepcopy(base)
            mutated[0][converted][p] = []
            add("empty list", mutated)
        if kind in ("array", "tuple") and isinstance(v, list) and v:
            mutated = copy.deepcopy(base)
            first = v[0]
            if isinstance(first, str):
                mutated[0][converted][p] = [variant(x) if isinstance(x, str) else x for x in v]
                add("list of strings in another case", mutated)
            elif isinstance(first, (int, float)) and not isinstance(first, bool):
                mutated[0][converted][p] = [float(x) if isinstance(x, int) else int(x) for x in v]
                add("list of numbers, int and float swapped", mutated)
            elif isinstance(first, dict):
                mutated[0][converted][p] = v[:-1]
                add("list of dicts, one missing", mutated)
        if kind == "dict" and isinstance(v, dict) and v:
            mutated = copy.deepcopy(base)
            key = next(iter(v))
            del mutated[0][converted][p][key]
            add("dict value with a key missing", mutated)
            mutated = copy.deepcopy(base)
            mutated[0][converted][p]["unexpected_key"] = "x"
            add("dict value with an extra key", mutated)
    present_required = [p for p in required if p in args]
    if present_required:
        mutated = copy.deepcopy(base)
        del mutated[0][converted][present_required[0]]
        add("missing required parameter", mutated)
    truth_params = next(iter(calls.truth[0].values()))
    needed = [p for p, options in truth_params.items() if "" not in options and p not in required and p in args]
    if needed:
        mutated = copy.deepcopy(base)
        del mutated[0][converted][needed[0]]
        add("missing parameter the answer needs", mutated)
    mutated = copy.deepcopy(base)
    mutated[0][converted]["extra_parameter"] = 1
    add("extra parameter", mutated)
    unanswered = [p for p in props if p not in truth_params]
    if unanswered:
        mutated = copy.deepcopy(base)
        mutated[0][converted][unanswered[0]] = "x"
        add("documented parameter the answer does not list", mutated)
    return out


def without_descriptions(value):
    if isinstance(value, dict):
        return {k: without_descriptions(v) for k, v in value.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(value, list):
        return [without_descriptions(v) for v in value]
    return value


def build(per_category: int, seed: int):
    ast_checker, python, folder, bfcl_version = load_checker()
    rng = random.Random(seed)
    entries, cases = {}, []
    for category in CATEGORIES:
        prompts = read_jsonl(data_file(folder, category))
        truths = {t["id"]: t["ground_truth"] for t in read_jsonl(data_file(folder, category, answers=True))}
        step = max(1, len(prompts) // per_category)
        chosen = prompts[::step][:per_category]
        # Plus the entries whose parameters bfcl checks in its special ways (dicts, lists of dicts, tuples,
        # nested lists), which an even sample would mostly miss.
        special = [e for e in prompts if e not in chosen and any(
            p.get("type") in ("dict", "tuple") or p.get("items", {}).get("type") in ("dict", "array")
            for f in e["function"] for p in f["parameters"]["properties"].values())]
        for entry in chosen + special[:per_category // 2]:
            truth = truths[entry["id"]]
            # Descriptions play no part in checking; the fixture leaves them out to stay small.
            entries[entry["id"]] = {"function": without_descriptions(entry["function"]), "ground_truth": truth}
            for mutation, output in cases_for(Calls(entry, truth, rng), category):
                try:
                    verdict = ast_checker(copy.deepcopy(entry["function"]), copy.deepcopy(output), copy.deepcopy(truth),
                                          python, category, MODEL)
                    valid, error_type = verdict["valid"], verdict.get("error_type")
                except Exception as error:  # bfcl's checker itself fails on this call set
                    valid, error_type = False, "exception"
                    print(f"note: bfcl raised {type(error).__name__} on {entry['id']} ({mutation})", file=sys.stderr)
                cases.append({"category": category, "id": entry["id"], "mutation": mutation, "output": output,
                              "valid": valid, "error_type": None if valid else error_type})
    return {"generator": "scripts/make_bfcl_fixtures.py", "bfcl_eval": bfcl_version, "seed": seed,
            "entries": entries, "cases": cases}


def render(fixture) -> str:
    lines = ["{", f'"generator": {json.dumps(fixture["generator"])},', f'"bfcl_eval": {json.dumps(fixture["bfcl_eval"])},',
             f'"seed": {fixture["seed"]},', '"entries": {']
    items = list(fixture["entries"].items())
    for i, (key, value) in enumerate(items):
        lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" + ("," if i + 1 < len(items) else ""))
    lines.append("},")
    lines.append('"cases": [')
    for i, case in enumerate(fixture["cases"]):
        lines.append(json.dumps(case, ensure_ascii=False) + ("," if i + 1 < len(fixture["cases"]) else ""))
    lines.append("]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="regenerate and compare with the committed fixture")
    parser.add_argument("--per-category", type=int, default=20, help="entries per category")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    fixture = build(args.per_category, args.seed)
    text = render(fixture)
    cases = fixture["cases"]
    valid = sum(c["valid"] for c in cases)
    kinds = {}
    for c in cases:
        kinds[c["error_type"] or "valid"] = kinds.get(c["error_type"] or "valid", 0) + 1
    print(f"{len(cases)} call sets from {len(fixture['entries'])} entries (bfcl-eval {fixture['bfcl_eval']}): "
          f"{valid} valid, {len(cases) - valid} invalid")
    for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d}  {kind}")
    if args.check:
        with open(FIXTURE, encoding="utf-8") as f:
            if f.read() != text:
                raise SystemExit(f"{FIXTURE} differs from what bfcl-eval {fixture['bfcl_eval']} gives now")
        print(f"{FIXTURE}: unchanged")
        return
    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    with open(FIXTURE, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
