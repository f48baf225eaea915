#!/usr/bin/env python3
"""Check ToolTune's SoPR and converted answers against StableToolBench's own evaluator.

Runs a scripted OpenAI-compatible judge on 127.0.0.1 (its verdict is a function of which query the prompt
holds, so every judge asking about the same query hears the same verdict), scores one checkpoint with
`tooltune eval` and that judge, then runs StableToolBench's `toolbench/tooleval/eval_pass_rate.py` (from a
checkout of THUNLP-MT/StableToolBench, unchanged) on the converted answers ToolTune wrote, with the same
judge, and compares the solve rates per query group and the number of judge calls.

    python3 scripts/check_stabletoolbench_sopr.py --stabletoolbench ~/StableToolBench \\
        --job jobs/demo.yaml --checkpoint runs/demo/checkpoints/step-000937.h5 [--ranks 2]

Needs the evaluator's packages (pip install openai backoff tenacity requests pydantic pyyaml numpy tqdm). The
evaluation it runs is written where `tooltune eval` writes it (<checkpoint.dir>/eval/), replacing that checkpoint's.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def judge_server(queries, calls):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            name = body["tool_choice"]["function"]["name"]
            content = body["messages"][0]["content"]
            found = [q for q in queries if q in content]
            digest = hashlib.sha256(found[0].encode()).digest() if found else b"\0\0"
            status = (["Solved", "Unsolved", "Unsure"][digest[0] % 3] if name == "check_answer_status"
                      else ["Solved", "Unsolved"][digest[1] % 2])
            calls.append(name)
            arguments = json.dumps({"answer_status": status, "reason": "scripted"})
            reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                         "role": "assistant", "content": "", "tool_calls": [
                             {"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}}]}}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stabletoolbench", required=True, help="a checkout of THUNLP-MT/StableToolBench")
    parser.add_argument("--job", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--evaluate-times", type=int, default=3)
    parser.add_argument("--tooltune", default=os.path.join(REPO_ROOT, ".build/release/tooltune"))
    args = parser.parse_args()

    job_text = open(args.job, encoding="utf-8").read()
    if re.search(r"^\s+judge:", job_text, re.M):
        raise SystemExit(f"{args.job} already names a judge")
    queries = []
    for folder in re.findall(r"^\s+queries:\s*(\S+)", job_text, re.M):
        files = [folder] if folder.endswith(".json") else [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
        for file in files:
            queries += [q["query"] for q in json.load(open(file, encoding="utf-8"))]
    calls = []
    server = judge_server(queries, calls)
    url = f"http://127.0.0.1:{server.server_address[1]}"

    with tempfile.TemporaryDirectory() as scratch:
        job = os.path.join(scratch, "job.yaml")
        with open(job, "w", encoding="utf-8") as f:
            f.write(re.sub(r"^eval:\s*$", f"eval:\n  judge: {{base_url: \"{url}/v1\", model: scripted, "
                                          f"evaluate_times: {args.evaluate_times}}}", job_text, count=1, flags=re.M))
        command = [args.tooltune, "eval", job, "--checkpoint", args.checkpoint]
        if args.ranks > 1:
            command = ["mpirun", "--oversubscribe", "--bind-to", "none", "-n", str(args.ranks)] + command
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        tooltune_calls = len(calls)
        checkpoint_dir = re.search(r"^\s+dir:\s*(\S+)", job_text, re.M).group(1)
        name = os.path.splitext(os.path.basename(args.checkpoint))[0]
        evaluation = json.load(open(os.path.join(checkpoint_dir, "eval", name + ".json"), encoding="utf-8"))
        converted = os.path.join(checkpoint_dir, "eval", "stabletoolbench")
        groups = sorted(evaluation["judged"]["groups"])
        ids = os.path.join(scratch, "ids")
        os.makedirs(ids)
        for group in groups:
            answers = json.load(open(os.path.join(converted, name, group + ".json"), encoding="utf-8"))
            json.dump({qid: 0 for qid in answers}, open(os.path.join(ids, group + ".json"), "w"))
        pool = os.path.join(scratch, "pool.json")
        json.dump([{"api_key": "none", "api_base": url + "/v1"}], open(pool, "w"))
        out = subprocess.run([sys.executable, "eval_pass_rate.py", "--converted_answer_path", os.path.abspath(converted),
                              "--save_path", scratch, "--reference_model", name, "--test_ids", ids, "--max_eval_threads", "1",
                              "--evaluate_times", str(args.evaluate_times), "--test_set", *groups, "--overwrite"],
                             cwd=os.path.join(args.stabletoolbench, "toolbench", "tooleval"),
                             env={**os.environ, "API_POOL_FILE": pool, "EVAL_MODEL": "scripted"},
                             check=True, capture_output=True, text=True).stdout
    theirs = dict(re.findall(r"Test set: (\S+)\. Model: .*\nSolve rate: ([\d.]+)%", out))
    agree = True
    print(f"{'group':<16} {'ToolTune SoPR':>14} {'StableToolBench':>16}")
    for group in groups:
        ours = 100 * evaluation["judged"]["groups"][group]["sopr"]
        same = abs(ours - float(theirs[group])) < 0.05
        agree &= same
        print(f"{group:<16} {ours:>13.1f}% {float(theirs[group]):>15.1f}%  {'same' if same else 'DIFFERENT'}")
    stb_calls = len(calls) - tooltune_calls
    print(f"judge calls: ToolTune {tooltune_calls}, StableToolBench {stb_calls}")
    if not agree or stb_calls != tooltune_calls:
        raise SystemExit("ToolTune and StableToolBench disagree")


if __name__ == "__main__":
    main()
