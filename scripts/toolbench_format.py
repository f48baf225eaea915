"""ToolBench string formats, re-implemented for ToolTune's scripts (no ToolBench code is imported).

Used by make_demo_data.py (to write raw answer files and to --check them), train_demo_tokenizer.py and
make_tokenizer_fixtures.py (to render examples). The behaviour follows ../shared/toolbench/README.md
(sections 3-6) and was cross-checked against the ToolBench sources it describes:
  - toolbench/utils.py                       standardize, change_name, process_system_message
  - toolbench/inference/Downstream_tasks/rapidapi.py   api_json_to_openai_json, Finish, task description
  - toolbench/inference/Prompts/ReAct_prompts.py        FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION
  - preprocess/preprocess_toolllama_data.py            train_messages -> conversations
  - toolbench/tool_conversation.py ("tool-llama-single-round") and toolbench/train/train.py (masking)

The fixed prompt strings below are ToolBench's (Apache-2.0), reproduced byte for byte because a model
trained on ToolBench sees exactly them; typos ("excute", "finial", "querys", "trys") are verbatim.
"""

import re

# --------------------------------------------------------------------------------------------------
# Fixed prompt strings
# --------------------------------------------------------------------------------------------------

# ReAct_prompts.py::FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION. Note the trailing space after "Remember: ".
FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION = (
    "You are AutoGPT, you can use many tools(functions) to do the following task.\n"
    "First I will give you the task description, and your task start.\n"
    "At each step, you need to give your thought to analyze the status now and what to do next, "
    "with a function call to actually excute your step.\n"
    "After the call, you will get the call result, and you are now in a new state.\n"
    "Then you will analyze your status now, then decide what to do next...\n"
    "After many (Thought-call) pairs, you finally perform the task, then you can give your finial answer.\n"
    "Remember: \n"
    "1.the state change is irreversible, you can't go back to one of the former state, if you want to "
    "restart the task, say \"I give up and restart\".\n"
    "2.All the thought is short, at most in 5 sentence.\n"
    "3.You can do more then one trys, so if your plan is to continusly try some conditions, you can do "
    "one of the conditions per try.\n"
    "Let's Begin!\n"
    "Task description: {task_description}"
)

# rapidapi.py task description; the numbered tool list ("1.<tool>: <description>\n" ...) is appended.
TASK_DESCRIPTION_HEAD = (
    "You should use functions to help handle the real time user querys. Remember:\n"
    "1.ALWAYS call \"Finish\" function at the end of the task. And the final answer should contain enough "
    "information to show to the user,If you can't handle the task, or you find that function calls always "
    "fail(the function is not valid now), use function Finish->give_up_and_restart.\n"
    "2.Do not use origin tool names, use only subfunctions' names.\n"
    "You have access of the following tools:\n"
)

# The Finish function as it appears in the ToolBench training data (the older description text;
# today's rapidapi.py carries a reworded one). The final_answer description is rapidapi.py's.
FINISH_DESCRIPTION = (
    "If you think you get the result which can answer the task, call this function to give the final "
    "answer. Or, if you think you can't handle the task from this status, call this function to restart. "
    "Remember: you should ALWAYS call this function at the end of your try, and the final answer is the "
    "ONLY part that will be showed to user, so final answer should contain enough information."
)
FINISH_FINAL_ANSWER_DESCRIPTION = (
    "The final answer you want to give the user. You should have this field if "
    "\"return_type\"==\"give_answer\""
)


def finish_function():
    """A fresh copy of the Finish function dict (key order as in the data)."""
    return {
        "name": "Finish",
        "description": FINISH_DESCRIPTION,
        "parameters": {
            "type": "object",
            "properties": {
                "return_type": {"type": "string", "enum": ["give_answer", "give_up_and_restart"]},
                "final_answer": {"type": "string", "description": FINISH_FINAL_ANSWER_DESCRIPTION},
            },
            "required": ["return_type"],
        },
    }


# Observations the environment returns for Finish (rapidapi.py::_step); they only appear in `tree`.
FINISH_OK_OBSERVATION = '{"response":"successfully giving the final answer."}'
FINISH_GIVE_UP_OBSERVATION = '{"response":"chose to give up and restart"}'

# toolbench/utils.py::process_system_message
_PSM_ANCHOR = "with a function call to actually excute your step."
_PSM_FORMAT = " Your output should follow this format:\nThought:\nAction\nAction Input:\n"
_PSM_APIS = "\nSpecifically, you have access to the following APIs: "

MAX_OBSERVATION_LENGTH = 1024  # rapidapi.py: observations longer than this are cut and "..." appended

# --------------------------------------------------------------------------------------------------
# Names and OpenAI functions (rapidapi.py::api_json_to_openai_json)
# --------------------------------------------------------------------------------------------------

# Same character class as toolbench/utils.py. The '^' characters inside the class are literal there,
# so '^' is (accidentally) KEPT by standardize; we keep that behaviour.
_NON_NAME = re.compile("[^\\u4e00-\\u9fa5^a-z^A-Z^0-9^_]")


def standardize(string):
    string = _NON_NAME.sub("_", string)
    string = re.sub(r"(_)\1+", "_", string).lower()
    string = string.strip("_")
    if string and string[0].isdigit():
        string = "get_" + string
    return string


def change_name(name):
    if name in ("from", "class", "return", "false", "true", "id", "and"):
        name = "is_" + name
    return name


_TYPE_MAP = {"NUMBER": "integer", "STRING": "string", "BOOLEAN": "boolean"}


def _param_schema(p):
    prop = {"type": _TYPE_MAP.get(p["type"], "string"), "description": p["description"][:256]}
    if len(str(p["default"])) != 0:
        prop["example_value"] = p["default"]
    return prop


def api_to_function(api, standard_tool_name):
    """One api_list entry (instruction format) -> OpenAI function dict, as rapidapi.py builds it.

    Quirk kept on purpose: optional parameters are only added when the API has at least one required
    parameter (the optional loop sits inside the `if required_parameters` block in rapidapi.py), so an
    API with only optional parameters gets empty properties. The real data shows the same.
    """
    pure = change_name(standardize(api["api_name"]))
    name = (pure + "_for_" + standard_tool_name)[-64:]
    description = 'This is the subfunction for tool "%s", you can use this tool.' % standard_tool_name
    if api["api_description"].strip() != "":
        d = api["api_description"].strip().replace(api["api_name"], name)[:256]
        description += 'The description of this function is: "%s"' % d
    fn = {"name": name, "description": description,
          "parameters": {"type": "object", "properties": {}, "required": [], "optional": []}}
    if api.get("required_parameters"):
        for p in api["required_parameters"]:
            pname = change_name(standardize(p["name"]))
            fn["parameters"]["properties"][pname] = _param_schema(p)
            fn["parameters"]["required"].append(pname)
        for p in api["optional_parameters"]:
            pname = change_name(standardize(p["name"]))
            fn["parameters"]["properties"][pname] = _param_schema(p)
            fn["parameters"]["optional"].append(pname)
    return fn


def task_description(tools):
    """tools: list of (standard_tool_name, tool_description), first occurrence order."""
    seen = {}
    for name, desc in tools:
        seen[name] = desc  # like rapidapi.py: later duplicates overwrite the description, keep position
    out = TASK_DESCRIPTION_HEAD
    for k, (name, desc) in enumerate(seen.items()):
        striped = desc[:512].replace("\n", "").strip()
        if striped == "":
            striped = "None"
        out += "%d.%s: %s\n" % (k + 1, name, striped)
    return out


def system_message(tools):
    """The raw system message as stored in train_messages (before process_system_message)."""
    return FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION.replace("{task_description}", task_description(tools))


def user_message(query):
    return "\n" + query + "\nBegin!\n"


def process_system_message(system, functions):
    """toolbench/utils.py::process_system_message; str(functions) is Python's repr of the list."""
    if _PSM_ANCHOR not in system:
        return None
    system = system.replace(_PSM_ANCHOR, _PSM_ANCHOR + _PSM_FORMAT)
    return system + _PSM_APIS + str(functions)


def truncate_observation(obs):
    if len(obs) > MAX_OBSERVATION_LENGTH:
        return obs[:MAX_OBSERVATION_LENGTH] + "..."
    return obs


# --------------------------------------------------------------------------------------------------
# train_messages -> ToolLLaMA conversations (preprocess_toolllama_data.py)
# --------------------------------------------------------------------------------------------------

def train_message_to_conversation(train_message, functions):
    """One train_messages entry -> (step, conversations) or None if the entry yields no example.

    Mirrors preprocess_toolllama_data.py exactly:
      - system -> process_system_message(content, functions); user/function -> content verbatim;
      - assistant WITH function_call -> "\\nThought: " + "\\nAction: name" + "\\nAction Input: args";
        its own `content` is discarded;
      - assistant WITHOUT function_call -> buffered as "\\nThought: <content>" and prefixed to the next
        assistant function_call turn (the buffer is reset by any system/user/function message);
      - the entry is an example only if its LAST message is an assistant message with function_call;
        step = index of that message (the "Step N" of the id).
    """
    conversations = []
    cur_react = ""
    for i, m in enumerate(train_message):
        role = m["role"]
        content = m.get("content")  # the repo script uses m["content"] (KeyError if absent)
        if role == "assistant":
            last = i + 1 == len(train_message)
            if "function_call" not in m:
                if last:
                    return None
                cur_react += "\nThought: %s" % ("" if content is None else content)
                continue
            if cur_react == "":
                cur_react = "\nThought: "
            cur_react += "\nAction: %s" % m["function_call"]["name"]
            cur_react += "\nAction Input: %s" % m["function_call"]["arguments"]
            conversations.append({"from": "assistant", "value": cur_react})
            cur_react = ""
            if last:
                return i, conversations
        else:
            value = process_system_message(content, functions) if role == "system" else content
            conversations.append({"from": role, "value": value})
            cur_react = ""
    return None


def answer_file_examples(answer):
    """All step examples of one raw answer file: list of (entry_index, step, conversations)."""
    ag = answer["answer_generation"]
    if not ag["valid_data"]:
        return []
    out = []
    for k, tm in enumerate(ag["train_messages"]):
        r = train_message_to_conversation(tm, ag["function"])
        if r is not None:
            out.append((k, r[0], r[1]))
    return out


# --------------------------------------------------------------------------------------------------
# Template "tool-llama-single-round" (tool_conversation.py, ONLY_LAST_ASSISTANT)
# --------------------------------------------------------------------------------------------------

ROLES = {"system": "System", "user": "User", "function": "Function", "assistant": "Assistant"}
EOS_TEXT = "</s>"
TARGET_SEP = "\nAssistant: "  # train.py: sep = conv.sep + conv.roles[-1] + ": "


def render(conversations):
    """get_prompt(): "Role: value" + "\\n", the last message followed by "</s>".

    An empty value renders as "Role:" with no separator at all (get_prompt's else-branch); it never
    happens in ToolBench data but is kept for exactness.
    """
    out = []
    n = len(conversations)
    for i, c in enumerate(conversations):
        role, value = ROLES[c["from"]], c["value"]
        if i + 1 == n and value:
            out.append(role + ": " + str(value) + EOS_TEXT)
        elif value:
            out.append(role + ": " + str(value) + "\n")
        else:
            out.append(role + ":")
    return "".join(out)


def split_target(text):
    """(context, target): target = everything after the LAST "\\nAssistant: " (incl. the final "</s>")."""
    k = text.rfind(TARGET_SEP)
    if k < 0:
        raise ValueError("no assistant turn")
    k += len(TARGET_SEP)
    return text[:k], text[k:]
