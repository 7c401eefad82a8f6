"""The shared own-work rule (``sessionlab.grading.own_work``), attacked with each lesson's rule.

Reading the reference is allowed, submitting it is not: importing ``SessionMonitor`` to read
it must cost nothing, while a subclass, an alias or a wrapper of the reference must be caught.
Each lesson's rule (its names, its reference, its allowed parts) is taken from the lesson's
hidden test, so this tests what grades students; and one test per lesson checks that the
lesson's hidden tests really call the shared rule on the answer (a lesson cannot silently
drop the check).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from sessionlab.grading.own_work import OwnWorkRule, class_methods, own_work_problems

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def _cells(assignment: str) -> list[nbformat.NotebookNode]:
    return list(nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", 4).cells)


def _cell(assignment: str, grade_id: str) -> str:
    return next(
        c.source
        for c in _cells(assignment)
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _hidden(assignment: str, grade_id: str) -> ast.Module:
    """The hidden parts of one test cell, as one module."""
    return ast.parse("\n".join(HIDDEN.findall(_cell(assignment, grade_id))))


def _rules(assignment: str) -> dict[str, OwnWorkRule]:
    """The lesson's own-work rules, as its hidden tests declare them (only those statements
    run: the rest of a test cell needs the lesson's kernel)."""
    namespace: dict[str, object] = {}
    for cell in _cells(assignment):
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        for node in ast.parse("\n".join(HIDDEN.findall(cell.source))).body:
            wanted = (
                isinstance(node, ast.ImportFrom) and node.module == "sessionlab.grading.own_work"
            )
            if isinstance(node, ast.Assign):
                wanted = any(
                    isinstance(t, ast.Name) and t.id.lstrip("_").startswith("OWN_WORK")
                    for t in node.targets
                )
            if wanted:
                exec(compile(ast.Module([node], []), "<rule>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if isinstance(v, OwnWorkRule)}


def _rule(assignment: str, name: str = "") -> OwnWorkRule:
    rules = _rules(assignment)
    if name:
        return rules[name]
    (rule,) = rules.values()
    return rule


# --- each lesson's hidden tests call the shared rule on the answer ---


def _outside_functions(tree: ast.AST) -> list[ast.AST]:
    """The nodes of ``tree`` that run when the cell runs (not the bodies of its functions)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            todo += ast.iter_child_nodes(node)
    return nodes


def _rules_checked(assignment: str, grade_id: str) -> set[str]:
    """The rule variables the hidden part of ``grade_id`` checks the notebook with: directly
    (``own_work_problems(cells, RULE)``) or through a helper of the lesson's hidden tests."""
    helpers: dict[str, str | int] = {}  # helper -> its rule variable, or the argument's index
    for cell in _cells(assignment):
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        for node in ast.walk(ast.parse("\n".join(HIDDEN.findall(cell.source)))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params = [a.arg for a in node.args.args]
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id == "own_work_problems"
                    and isinstance(call.args[1], ast.Name)
                ):
                    arg = call.args[1].id
                    helpers[node.name] = params.index(arg) if arg in params else arg
    checked: set[str] = set()
    for call in _outside_functions(_hidden(assignment, grade_id)):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            continue
        if call.func.id == "own_work_problems" and isinstance(call.args[1], ast.Name):
            checked.add(call.args[1].id)
        elif call.func.id in helpers:
            how = helpers[call.func.id]
            if isinstance(how, str):
                checked.add(how)
            elif isinstance(call.args[how], ast.Name):
                checked.add(call.args[how].id)  # type: ignore[attr-defined]
    return checked


@pytest.mark.parametrize(
    ("assignment", "grade_ids", "answers"),
    [
        ("03-monitor", ["test_student_monitor", "test_student_monitor_rules"], ["StudentMonitor"]),
        ("05-session-manager", ["test_session_pool", "test_session_pool_rules"], ["SessionPool"]),
        (
            "07-isolated-sessions",
            ["test_redis_sessions", "test_redis_sessions_ttl", "test_session_clients"],
            ["RedisSessions", "RedisSessions", "SessionClients"],
        ),
        (
            "08-multisession-bot",
            ["test_sessions_page", "test_isolation_test"],
            ["operator_refusal sessions_summary", "test_isolation"],
        ),
        ("09-capstone", ["test_my_chat_system"], ["MyChatSystem"]),
        (
            "10-agent-sdk",
            [
                "test_student_store", "test_student_store_list_sessions",
                "test_student_store_delete", "test_student_store_list_subkeys",
                "test_student_store_summaries",
            ],
            ["StudentStore"],
        ),
    ],
)  # fmt: skip
def test_each_lesson_checks_its_answers_with_the_shared_rule(
    assignment: str, grade_ids: list[str], answers: list[str]
) -> None:
    rules = _rules(assignment)
    for index, grade_id in enumerate(grade_ids):
        checked = _rules_checked(assignment, grade_id)
        assert checked, f"{assignment} {grade_id} no longer checks own work"
        want = answers[min(index, len(answers) - 1)].split()
        assert [list(rules[name].answers) for name in checked] == [want], (grade_id, checked)
    source = "\n".join(HIDDEN.findall("\n".join(c.source for c in _cells(assignment))))
    assert "symtable" not in source and "ast.walk" not in source, "a copy of the rule is back"


# --- lesson 03: StudentMonitor against the reference monitor ---


def _monitor_problems(student_code: str) -> list[str]:
    return own_work_problems([student_code], _rule("03-monitor"))


OWN = """
class StudentMonitor:
    def __init__(self, project_dir, session_id):
        self.project_dir = project_dir

    def start(self):
        return sorted(self.project_dir.glob("*.jsonl"))
"""


def test_importing_the_reference_to_read_it_costs_nothing() -> None:
    reading = (
        "from sessionlab.monitor.engine import SessionMonitor as Reference\nReference.__doc__\n"
        "from sessionlab.monitor import SessionMonitor\nfrom sessionlab.monitor import engine\n"
    )
    assert _monitor_problems(reading + OWN) == []
    start = "from sessionlab.monitor import NaivePollingMonitor\n"  # the lesson's starting point
    own = OWN.replace("class StudentMonitor:", "class StudentMonitor(NaivePollingMonitor):")
    assert _monitor_problems(start + own) == []
    docstring = OWN.replace(
        ":\n    def __init__", ':\n    """Unlike SessionMonitor."""\n    def __init__'
    )
    assert _monitor_problems(docstring) == [], (
        "a docstring that mentions the reference runs nothing"
    )


@pytest.mark.parametrize(
    "student",
    [
        "from sessionlab.monitor.engine import SessionMonitor\n"
        "class StudentMonitor(SessionMonitor):\n    pass\n",
        "from sessionlab.monitor.engine import SessionMonitor as Helper\n"
        "class StudentMonitor:\n    def __init__(self, d, s):\n        self.inner = Helper(d, s)\n",
        "from sessionlab.monitor import engine as e\n"
        "class StudentMonitor:\n    def start(self):\n"
        "        return getattr(e, 'Session' + 'Monitor')\n",
        "from sessionlab.monitor.engine import SessionMonitor as StudentMonitor\n",
        "from sessionlab.monitor.engine import SessionMonitor as R\n"
        "def make(d, s):\n    return R(d, s)\n"
        "class StudentMonitor:\n    def __init__(self, d, s):\n        self.inner = make(d, s)\n",
        "import importlib\nE = importlib.import_module('sessionlab.monitor.engine')\n" + OWN,
        "from sessionlab.monitor import SessionMonitor\n"
        "class StudentMonitor:\n    def __init__(self, d, s):\n"
        "        self.inner = SessionMonitor(d, s)\n",
        "from sessionlab.monitor.engine import SessionMonitor as R\n"
        + OWN
        + "def start(self):\n    return R.start(self)\nStudentMonitor.start = start\n",
        "from sessionlab.monitor.engine import SessionMonitor as R\n"
        "class StudentMonitor:\n    def start(self):\n        f = eval\n        return f('R')\n",
    ],
    ids=[
        "subclass", "alias-in-a-method", "module-alias", "re-export", "helper", "dynamic",
        "package-re-export", "patched-method", "eval-by-another-name",
    ],
)  # fmt: skip
def test_reusing_the_reference_monitor_is_caught(student: str) -> None:
    assert _monitor_problems(student) != []


# --- lesson 09: MyChatSystem against the capstone's reference ---

SETUP = (
    "import dataclasses, logging\nfrom pathlib import Path\n"
    "from claude_code_sdk import AssistantMessage, ClaudeSDKClient, ClaudeSDKError, "
    "CLINotFoundError, ResultMessage, TextBlock\n"
    "from sessionlab.capstone import SingleSessionChatSystem  # the lesson shows it\n"
    "from sessionlab.monitor import SessionMonitor\n"
)
CELL_BREAK = "\n# next cell\n"


def _capstone_reuse(student_code: str, setup: str = SETUP) -> list[str]:
    """The capstone's own-work problems for a notebook made of ``setup`` and ``student_code``."""
    cells = [setup, *student_code.split(CELL_BREAK)]
    return own_work_problems(cells, _rule("09-capstone"))


def test_the_capstone_reference_solution_is_own_work() -> None:
    assert _capstone_reuse(_cell("09-capstone", "my_chat_system")) == []


def test_reading_the_capstone_reference_costs_nothing() -> None:
    reading = (
        "import inspect\nprint(inspect.getsource(SingleSessionChatSystem))\n"
        "from sessionlab.capstone import ChatMetrics as Metrics\nMetrics.__doc__\n"
        "async def demo():\n    async with SingleSessionChatSystem(None) as chat:\n"
        "        return await chat.send('hi')\n"
    )
    assert _capstone_reuse(reading + _cell("09-capstone", "my_chat_system")) == []


def test_an_own_class_named_like_the_capstone_parts_is_fine() -> None:
    student = (
        "class MyChatError(RuntimeError):\n    pass\n"
        "class MyChatSystem:\n    def fail(self):\n        raise MyChatError('down')\n"
    )
    assert _capstone_reuse(student) == []


@pytest.mark.parametrize(
    "student",
    [
        "from sessionlab.capstone import SingleSessionChatSystem as Engine\n"
        "class MyChatSystem:\n    async def send(self, prompt):\n"
        "        return (await Engine(None).send(prompt)).text\n",
        "from sessionlab.capstone import SingleSessionChatSystem\n"
        "class MyChatSystem(SingleSessionChatSystem):\n    pass\n",
        "from sessionlab import capstone as c\n"
        "class MyChatSystem:\n    def status(self):\n"
        "        return getattr(c, 'Single' + 'SessionChatSystem')\n",
        "from sessionlab.capstone import ChatMetrics\nSTATE = {'metrics': ChatMetrics()}\n"
        "class MyChatSystem:\n    def __init__(self):\n        self.metrics = STATE['metrics']\n",
        "Engine = SingleSessionChatSystem\n"
        "def make(options):\n    return Engine(options)\n"
        "class MyChatSystem:\n    def __init__(self, options):\n"
        "        self.inner = make(options)\n",
        "import sessionlab.monitor\n"
        "class MyChatSystem:\n    def __init__(self, options):\n"
        "        self.inner = sessionlab.capstone.SingleSessionChatSystem(options)\n",
        "import sessionlab.monitor\nNAME = 'Single' + 'SessionChatSystem'\n"
        "class MyChatSystem:\n    def __init__(self, options):\n"
        "        self.inner = getattr(sessionlab.capstone, NAME)(options)\n",
        "from sessionlab.sdk_turns import collect_turn as gather\n"
        "class MyChatSystem:\n    async def send(self, prompt):\n"
        "        return (await gather(self.client.receive_response())).text\n",
        "MyChatSystem = SingleSessionChatSystem\n",
        "exec('class MyChatSystem(SingleSessionChatSystem): pass')\n",
        "import importlib\nclass MyChatSystem:\n    def __init__(self, options):\n"
        "        m = importlib.import_module('sessionlab.' + 'capstone')\n",
        "%%capture\ndef helper(options):\n    return SingleSessionChatSystem(options)\n"
        + CELL_BREAK
        + "class MyChatSystem:\n    def __init__(self, options):\n"
        "        self.inner = helper(options)\n",
        "get_ipython().run_cell('def helper(o): return SingleSessionChatSystem(o)')\n"
        "class MyChatSystem:\n    def __init__(self, options):\n"
        "        self.inner = helper(options)\n",
        # Patching the kernel cannot help: the check never looks at the running kernel.
        "import inspect\ninspect.getmro = lambda cls: (cls,)\n"
        "class MyChatSystem(SingleSessionChatSystem):\n    pass\n",
        "class MyChatSystem:\n    async def send(self, prompt):\n        return prompt\n"
        "MyChatSystem.send = SingleSessionChatSystem.send\n",
        "class MyChatSystem:\n    pass\n"
        "setattr(MyChatSystem, 'send', SingleSessionChatSystem.send)\n",
    ],
    ids=[
        "alias-in-a-method", "subclass", "module-attribute", "holds-a-reference-object",
        "alias-through-a-helper", "package-attribute", "computed-name", "building-block",
        "re-export", "exec", "dynamic-import", "magic-cell-helper", "run-cell-helper",
        "patched-inspect", "patched-method", "setattr-method",
    ],
)  # fmt: skip
def test_wrapping_the_capstone_reference_is_caught(student: str) -> None:
    assert _capstone_reuse(student) != []


# --- lesson 07: RedisSessions and SessionClients against sessionlab.isolation ---


def _isolation_problems(student_code: str, name: str) -> list[str]:
    rule = _rule("07-isolated-sessions", "OWN_WORK_REDIS")
    if name == "SessionClients":
        rule = _rule("07-isolated-sessions", "OWN_WORK_CLIENTS")
    assert rule.answers == (name,)
    return own_work_problems([student_code], rule)


def test_the_isolation_reference_answers_are_own_work() -> None:
    setup = (
        "from sessionlab.isolation import SQLiteStateStore, TemporarySessionManager\n"
        "from sessionlab.isolation.redis_state_store import CREATE_LUA  # printed to read\n"
        "from sessionlab.isolation.turn_worker import TranscriptClient, TurnWorkers\n"
    )
    for name in ("redis_sessions", "session_clients"):
        answer = _cell("07-isolated-sessions", name)
        class_name = "RedisSessions" if name == "redis_sessions" else "SessionClients"
        rule = _rule("07-isolated-sessions", "OWN_WORK_REDIS")
        if class_name == "SessionClients":
            rule = _rule("07-isolated-sessions", "OWN_WORK_CLIENTS")
        cells = [*_lesson_code("07-isolated-sessions"), setup + answer]  # as submitted
        assert own_work_problems(cells, rule) == []


@pytest.mark.parametrize(
    ("student", "name"),
    [
        (
            "from sessionlab.isolation.redis_state_store import RedisStateStore\n"
            "class RedisSessions(RedisStateStore):\n    pass\n",
            "RedisSessions",
        ),
        (
            "from sessionlab.isolation.redis_state_store import RedisStateStore as Helper\n"
            "class RedisSessions:\n    def __init__(self, url, root, **kw):\n"
            "        self.inner = Helper(url)\n",
            "RedisSessions",
        ),
        (
            "from sessionlab import isolation as iso\n"
            "class SessionClients:\n    def __init__(self, sessions):\n"
            "        self.cache = iso.SessionCache()\n",
            "SessionClients",
        ),
        (
            "from sessionlab.isolation.cache import SessionCache as SessionClients\n",
            "SessionClients",
        ),
        (
            "import importlib\nM = importlib.import_module('sessionlab.isolation')\n"
            "class RedisSessions:\n    pass\n",
            "RedisSessions",
        ),
        (
            "import sessionlab.isolation.redis_state_store as store\n"
            "class RedisSessions:\n    def create(self, ip, config):\n"
            "        return getattr(store, 'Redis' + 'StateStore')\n",
            "RedisSessions",
        ),
        (
            "from sessionlab.isolation.redis_state_store import RedisStateStore as R\n"
            "def make(url):\n    return R(url)\n"
            "class RedisSessions:\n    def __init__(self, url, root, **kw):\n"
            "        self.inner = make(url)\n",
            "RedisSessions",
        ),
        ("class Other:\n    pass\n", "SessionClients"),
        (
            "from sessionlab.isolation import SQLiteStateStore\n"
            "STORE = SQLiteStateStore(':memory:')\n"
            "class RedisSessions:\n    def create(self, ip, config):\n"
            "        return STORE.create(ip, config)\n",
            "RedisSessions",
        ),
    ],
    ids=[
        "subclass", "alias-in-a-method", "package-alias", "re-export", "dynamic",
        "module-alias", "helper", "missing", "global-holding-a-store",
    ],
)  # fmt: skip
def test_wrapping_the_isolation_reference_is_caught(student: str, name: str) -> None:
    assert _isolation_problems(student, name) != []


# --- lesson 08: the bot's answers against the reference bot ---


def _bot_problems(cells: list[str]) -> list[str]:
    page = own_work_problems(cells, _rule("08-multisession-bot", "OWN_WORK_PAGE"))
    return page + own_work_problems(cells, _rule("08-multisession-bot", "OWN_WORK_TEST"))


def _bot_submitted(notebook: str = "solutions") -> list[str]:
    """The code cells a grader hands the check: every cell but the test cells."""
    path = ROOT / notebook / "08-multisession-bot" / "08-multisession-bot.ipynb"
    return [
        c.source
        for c in nbformat.read(path, 4).cells
        if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("grade")
    ]


def _bot_with(answer: str) -> list[str]:
    """The lesson's reference cells with the exercise 3 cell replaced by ``answer``."""
    return [answer if "def operator_refusal" in c else c for c in _bot_submitted()]


def test_the_lesson_8_reference_and_the_release_are_own_work() -> None:
    assert _bot_problems(_bot_submitted()) == []
    assert _bot_problems(_bot_submitted("notebooks")) == []


def test_importing_the_reference_bot_to_read_it_costs_nothing() -> None:
    reading = (
        "import sessionlab.bot.app\nfrom sessionlab.bot.app import create_app as Reference\n"
        "from sessionlab.request_checks import bearer_token\nhelp(Reference)\n"
    )
    assert _bot_problems([reading, *_bot_submitted()]) == []


OWN_PAGE = """
def sessions_summary(conversations, now):
    return {"total_sessions": len(conversations), "sessions": []}
"""


@pytest.mark.parametrize(
    "answer",
    [
        "from sessionlab.request_checks import bearer_token, tokens_match\n"
        "def operator_refusal(authorization, operator_token):\n"
        "    if not tokens_match(bearer_token(authorization), operator_token):\n"
        "        return 403, 'no'\n" + OWN_PAGE,
        "from sessionlab.bot.app import _iso as when\n"
        "def operator_refusal(a, o):\n    return None\n"
        "def sessions_summary(conversations, now):\n    return {'at': when(now)}\n",
        "import sessionlab.bot.app\n"
        "def operator_refusal(a, o):\n    return None\n"
        "def sessions_summary(c, now):\n    return sessionlab.bot.app._shown(c[0]['id'])\n",
        "from sessionlab import request_checks as rc\n"
        "def operator_refusal(a, o):\n    return None if rc.bearer_token(a) == o else (403, 'x')\n"
        + OWN_PAGE,
        "from sessionlab.bot import SQLiteHistory\n"
        "def operator_refusal(a, o):\n    return None\n"
        "def sessions_summary(c, now):\n    return {'n': SQLiteHistory.__doc__}\n",
        "import importlib\nR = importlib.import_module('sessionlab.request_checks')\n"
        "def operator_refusal(a, o):\n    return None\n" + OWN_PAGE,
        "from sessionlab.bot.app import _view_refusal as operator_refusal\n" + OWN_PAGE,
        "def refusal(a, o):\n    return None\noperator_refusal = refusal\n" + OWN_PAGE,
        "from sessionlab.bot.rule_breakers import RuleBreaker\n"
        "def operator_refusal(a, o):\n    return None\n"
        "def sessions_summary(c, now):\n    return {'k': RuleBreaker}\n",
    ],
    ids=[
        "request-checks", "alias-of-a-private-helper", "module-attribute", "module-alias",
        "package-re-export", "dynamic-import", "re-export", "assigned", "rule-breakers",
    ],
)  # fmt: skip
def test_reusing_the_reference_bot_is_caught(answer: str) -> None:
    assert _bot_problems(_bot_with(answer)) != []


# --- lesson 10: StudentStore against the SDK's and the course's stores ---


def _store_problems(student_code: str) -> list[str]:
    return own_work_problems([student_code], _rule("10-agent-sdk"))


STORE_SETUP = (
    "import time\nfrom claude_agent_sdk import SessionStore, fold_session_summary\n"
    "from sessionlab.stores import JsonlSessionStore, RedisSessionStore, SQLiteSessionStore\n"
    "store = SQLiteSessionStore('x.sqlite3')  # the lesson's own demonstration\n"
)


def test_the_store_reference_solution_is_own_work() -> None:
    assert _store_problems(STORE_SETUP + _cell("10-agent-sdk", "student_store")) == []
    local = "class StudentStore:\n    async def load(self, key):\n        store = {}\n"
    assert _store_problems(STORE_SETUP + local) == [], "a local named like a global is local"
    patched = local + "async def louder(self, key):\n    return None\nStudentStore.load = louder\n"
    assert _store_problems(STORE_SETUP + patched) == [], "setting a method keeps the class"


def test_the_methods_a_store_defines_include_its_own_base_classes() -> None:
    code = (
        "class Base:\n    async def delete(self, key):\n        pass\n"
        "class StudentStore(Base, SessionStore):\n    async def load(self, key):\n        pass\n"
    )
    assert class_methods([STORE_SETUP, code], "StudentStore") == {"delete", "load"}


@pytest.mark.parametrize(
    "student",
    [
        "class StudentStore(JsonlSessionStore):\n    pass\n",
        "class StudentStore:\n    def __init__(self):\n"
        "        self.inner = SQLiteSessionStore(':memory:')\n",
        "def make():\n    return JsonlSessionStore('/tmp/x')\n"
        "class StudentStore:\n    def __init__(self):\n        self.inner = make()\n",
        "from claude_agent_sdk import InMemorySessionStore as Mem\n"
        "class StudentStore:\n    def __init__(self):\n        self.inner = Mem()\n",
        "import sessionlab.stores as s\n"
        "class StudentStore:\n    def __init__(self):\n"
        "        self.inner = getattr(s, 'Jsonl' + 'SessionStore')\n",
        "HELPER = JsonlSessionStore\nclass StudentStore:\n    def __init__(self):\n"
        "        self.inner = HELPER('/tmp/x')\n",
        "StudentStore = JsonlSessionStore\n",
        "import importlib\nclass StudentStore:\n    pass\n",
        "class StudentStore:\n    def __init__(self):\n        self.inner = store\n",
        "class StudentStore:\n    async def load(self, key):\n        return None\n"
        "StudentStore.load = SQLiteSessionStore.load\n",
    ],
    ids=[
        "subclass", "attribute", "helper", "sdk-alias", "module-alias", "global", "alias",
        "dynamic", "lesson-global", "patched-method",
    ],
)  # fmt: skip
def test_borrowing_a_store_is_caught(student: str) -> None:
    assert _store_problems(STORE_SETUP + student) != []


# --- lesson 05: the student's SessionPool against the reference ConnectionPool ---


def _lesson_code(assignment: str) -> list[str]:
    """The lesson's own code cells (imports, demos, helpers), as a submission carries them."""
    return [
        c.source
        for c in _cells(assignment)
        if c.cell_type == "code"
        and not c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata.get("nbgrader", {}).get("solution")
    ]


def _pool_problems(student_code: str) -> list[str]:
    cells = [*_lesson_code("05-session-manager"), student_code]  # SUBMITTED_CELLS
    return own_work_problems(cells, _rule("05-session-manager"))


OWN_POOL = """
class SessionPool:
    def __init__(self, options, max_size=2):
        self.options, self.max_size, self.clients = options, max_size, {}
        self.turns = 0  # an attribute named like a lesson variable: fine

    async def ask(self, session_key, prompt):
        names = list(self.clients)  # a local named like a lesson variable: fine
        pool = self.clients
        if session_key not in pool:
            pool[session_key] = await LiveClient(self.options).open()
        return await pool[session_key].ask(prompt)

    def open_sessions(self):
        return list(self.clients)

    async def close_all(self):
        for client in self.clients.values():
            await client.close()
"""


def test_the_lesson_05_solution_and_reading_the_reference_are_own_work() -> None:
    assert _pool_problems(_cell("05-session-manager", "session_pool")) == []
    reading = "from sessionlab.lifecycle.pool import ConnectionPool as Ref\nRef.__doc__\n"
    assert _pool_problems(reading + OWN_POOL) == []


POOL_METHODS = (
    "    async def ask(self, key, prompt):\n        return await self.inner.ask(key, prompt)\n"
)


@pytest.mark.parametrize(
    "student",
    [
        "class SessionPool(ConnectionPool):\n    pass\n",
        "from sessionlab.lifecycle import ConnectionPool as Engine\n"
        "class SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = Engine(o)\n" + POOL_METHODS,
        "from sessionlab.lifecycle import pool as p\n"
        "class SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = getattr(p, 'Connection' + 'Pool')(o)\n",
        "from sessionlab.lifecycle.pool import ConnectionPool as SessionPool\n",
        "def make(o):\n    return ConnectionPool(o)\n"
        "class SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = make(o)\n",
        "import importlib\nE = importlib.import_module('sessionlab.lifecycle.pool')\n" + OWN_POOL,
        "class SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = type(handler.pool)(o)\n",
        "SessionPool = type(reference_pool)\n",
        "import sessionlab.lifecycle.pool\n"
        "class SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = sessionlab.lifecycle.pool.ConnectionPool(o)\n",
        "class SessionPool:\n    def shadow(self):\n        handler = 1\n        return handler\n"
        "    def __init__(self, o, max_size=2):\n        self.inner = handler.pool\n",
        "class Base(ConnectionPool):\n    pass\nclass SessionPool(Base):\n    pass\n",
        "import gc\nclass SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = [x for x in gc.get_objects() if hasattr(x, 'lease')][0]\n",
        "from sessionlab.lifecycle import PooledConnection\n"
        + OWN_POOL.replace(
            "await LiveClient(self.options).open()", "PooledConnection(1, None, None, None)"
        ),
        "class SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = eval('reference' + '_pool')\n",
        "from sessionlab import lifecycle\n"
        "class SessionPool:\n    def __init__(self, o, max_size=2):\n"
        "        self.inner = lifecycle.pool.ConnectionPool(o)\n",
    ],
    ids=[
        "subclass", "alias-in-a-method", "module-alias", "re-export", "helper", "dynamic",
        "lesson-global", "assigned", "dotted-import", "shadowed-global", "parent-class", "gc",
        "pooled-connection", "eval", "package-attribute",
    ],
)  # fmt: skip
def test_reusing_the_reference_pool_is_caught(student: str) -> None:
    assert _pool_problems(student) != []


def test_a_problem_is_one_line_that_names_what_was_found() -> None:
    found = _pool_problems("def make(o):\n    return ConnectionPool(o)\n" + OWN_POOL.replace(
        "await LiveClient(self.options).open()", "make(self.options)"
    ))  # fmt: skip
    assert found and all("\n" not in p for p in found)
    assert any("make" in p and "ConnectionPool" in p for p in found), found
