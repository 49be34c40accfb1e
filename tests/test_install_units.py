"""The install's pure core: progress model and ETA, the preflight gate, events, the answers dump and
the wizard's form, on plain values."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from greenzone.answers.dump import answers_yaml
from greenzone.answers.files import load_valid_answers
from greenzone.answers.rules import Context
from greenzone.answers.validate import validate_text
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.plan import ALL_PHASES
from greenzone.errors import InputError
from greenzone.install.events import check_event, phase_event
from greenzone.install.gate import check_forced_names, parse_forced, preflight_gate
from greenzone.install.tracker import Tracker, duration
from greenzone.results import Check, Status
from greenzone.tui.form import Form, apply_form, field_of, form_from_document, parse_departments, validate_document
from tests.support.cli import Run
from tests.support.paths import EXAMPLES

NAMES = [phase.name for phase in ALL_PHASES]


def _progress(phase: str, index: int, total: int, outcome: str = "running") -> PhaseProgress:
    progress = PhaseProgress(phase, total, started=0.0, task_index=index)
    progress.outcome = outcome  # type: ignore[assignment]
    return progress


def test_tracker_weights_phases_by_their_typical_time_and_skips_done_ones() -> None:
    tracker = Tracker.for_plan(ALL_PHASES, NAMES[2:], now=0.0)
    assert [view.state for view in tracker.views[:3]] == ["skipped", "skipped", "pending"]
    assert tracker.fraction() == 0.0
    tracker.update(_progress("images", 9, 10, "successful"))
    weights = {phase.name: phase.typical_seconds for phase in ALL_PHASES[2:]}
    assert tracker.fraction() == pytest.approx(weights["images"] / sum(weights.values()))
    assert tracker.outcome == "running" and not tracker.finished


def test_eta_uses_typical_durations_first_then_the_measured_pace() -> None:
    tracker = Tracker.for_plan(ALL_PHASES, NAMES, now=0.0)
    before = tracker.eta(now=1.0)
    assert before == sum(phase.typical_seconds for phase in ALL_PHASES)
    for name in NAMES[:4]:
        tracker.update(_progress(name, 1, 1, "successful"))
    fraction = tracker.fraction()
    assert fraction > 0.05
    # 100 s for `fraction` of the work -> the rest at the same pace.
    assert tracker.eta(now=100.0) == pytest.approx(100 * (1 - fraction) / fraction)


def test_the_eta_takes_this_runs_pace_from_its_first_finished_phase() -> None:
    """A check run (or a small appliance) finishes preflight in 3 s, not the typical 20: the ETA
    follows at once instead of announcing a typical first install's 26 minutes."""
    typical = sum(phase.typical_seconds for phase in ALL_PHASES)
    tracker = Tracker.for_plan(ALL_PHASES, NAMES, now=0.0)
    tracker.update(_progress("preflight", 1, 1, "successful"))
    assert tracker.fraction() < 0.05
    eta = tracker.eta(now=3.0)
    assert eta is not None and eta < typical / 5
    assert eta == pytest.approx(3.0 * (1 - tracker.fraction()) / tracker.fraction())
    check = Tracker.for_plan(ALL_PHASES, NAMES, now=0.0, check=True)
    assert check.eta(now=1.0) is None  # no pace yet, and typical durations would mislead a check run


def test_tracker_outcome_and_end() -> None:
    tracker = Tracker.for_plan(ALL_PHASES[:2], NAMES[:2], now=0.0)
    tracker.update(_progress("preflight", 3, 3, "successful"))
    tracker.update(_progress("k3s", 2, 9, "canceled"))
    assert tracker.outcome == "canceled" and tracker.finished and tracker.eta(5.0) is None
    assert tracker.current is None


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (59, "59 s"), (61, "1 min 01 s"), (3725, "1 h 02 min")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_gate_blocks_on_failures_and_forced_failures_become_warnings() -> None:
    checks = [
        Check("cpu", Status.FAIL, "2 logical cores", "use a bigger machine"),
        Check("memory", Status.FAIL, "8 GiB", "add memory"),
        Check("swap", Status.WARN, "on", "swapoff"),
    ]
    gate = preflight_gate(checks, parse_forced(["cpu"]))
    assert not gate.open and [check.name for check in gate.blocking] == ["memory"]
    cpu = gate.checks[0]
    assert cpu.status is Status.WARN and "overridden by --force-preflight" in cpu.detail
    assert preflight_gate(checks, parse_forced(["cpu,memory", " "])).open


def test_forced_names_must_exist() -> None:
    checks = [Check("cpu", Status.FAIL, "2 cores")]
    check_forced_names({"cpu", "port 443", "disk k3s data dir"}, checks)  # local, per-port and role names
    with pytest.raises(InputError) as raised:
        check_forced_names({"cpus"}, checks)
    assert "'cpus'" in raised.value.title and "did you mean `cpu`" in raised.value.hint


def test_events_carry_the_remedy_and_phase_figures() -> None:
    event = check_event(Check("cpu", Status.FAIL, "2 cores", "add cores", "host"))
    assert event.line() == "check  cpu [fail]: 2 cores — fix: add cores"
    document = json.loads(event.to_json())
    assert document["event"] == "check" and document["group"] == "host"
    progress = _progress("k3s", 4, 9, "failed")
    progress.changed = 2
    finished = json.loads(phase_event(progress).to_json())
    assert finished["status"] == "failed" and finished["changed"] == 2 and "seconds" in finished


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.name)
def test_dumped_answers_read_back_equal(example: Path) -> None:
    """What the Review screen saves is accepted as is and means the same appliance."""
    answers = load_valid_answers(example)
    text = answers_yaml(answers)
    again = validate_text(text, "dumped.yaml")
    assert again.ok, [problem.one_line() for problem in again.problems]
    assert again.answers == answers
    assert text.startswith("# Written by the greenzone wizard")


def test_form_round_trips_a_document_and_validates_with_the_answer_rules() -> None:
    base = {
        "version": 1,
        "appliance": {"name": "x"},
        "network": {"hostname": "ai.site.local"},
        "bundle": {"path": "/b", "public_key": "/b.pub"},
        "inference": {"engine": "ollama", "models": ["gemma3:4b"]},
        "departments": [{"name": "legal", "gpu_quota": 1, "memory_quota": "16Gi"}],
    }
    form = form_from_document(base)
    assert form.departments == "legal:1:16Gi" and form.models == ("gemma3:4b",)
    document, problems = apply_form(base, form)
    assert not problems
    validation = validate_document(document, Context(gpus_present=1))
    assert validation.ok
    # A quota above the GPUs present is the answer rules' own error, shown under the departments field.
    document, _ = apply_form(base, Form(**{**form.__dict__, "departments": "legal:4:16Gi"}))
    errors = validate_document(document, Context(gpus_present=1)).errors
    assert errors and {field_of(problem.path) for problem in errors} == {"departments"}


@pytest.mark.parametrize(
    ("text", "message"),
    [("legal:one", "must be a whole number"), ("a:1:2Gi:x", "write name:gpus:memory"), (":1", "name:gpus:memory")],
)
def test_departments_field_says_how_to_write_it(text: str, message: str) -> None:
    found, error = parse_departments(text)
    assert not found and message in error


def test_the_departments_field_keeps_what_it_cannot_show() -> None:
    """A hand-written file's namespace and gateway limits survive the wizard's one-line field."""
    base = {
        "departments": [
            {"name": "legal", "namespace": "law", "gpu_quota": 1, "requests_per_minute": 60, "tokens_per_minute": 900},
            {"name": "hr", "gpu_quota": 1},
        ]
    }
    form = form_from_document(base)
    assert form.departments == "legal:1:32Gi, hr:1:32Gi"
    document, problems = apply_form(base, Form(**{**form.__dict__, "departments": "legal:2:64Gi, radiology:1:8Gi"}))
    assert not [p for p in problems if field_of(p.path) == "departments"]
    assert document["departments"] == [
        {
            "name": "legal",
            "namespace": "law",
            "requests_per_minute": 60,
            "tokens_per_minute": 900,
            "gpu_quota": 2,
            "memory_quota": "64Gi",
        },
        {"name": "radiology", "gpu_quota": 1, "memory_quota": "8Gi"},
    ]


def test_unparsable_fields_are_problems_of_their_field() -> None:
    document, problems = apply_form({}, Form(hostname="ai.x.local", gpus_per_replica="two"))
    assert [field_of(problem.path) for problem in problems] == ["gpus_per_replica"]
    assert "gpus_per_replica" not in document.get("inference", {})


def test_a_wizard_saved_file_resumes_what_the_hand_written_one_started(tmp_path: Path) -> None:
    """The install state keys on what the answers mean, not on their text: the wizard's dump of a
    hand-written file (other layout, no comments) resumes its install; a real change re-runs all."""
    from greenzone.deploy.plan import plan
    from greenzone.install.session import InstallSession
    from greenzone.statedir import StateDir
    from tests.support.deploy import answers_text, make_bundle

    bundle = make_bundle(tmp_path / "bundle")
    written = tmp_path / "site.yaml"
    written.write_text("# by hand\n" + answers_text(bundle, [{"address": "local"}]))
    session = InstallSession(StateDir(tmp_path / "state"))
    answers = load_valid_answers(written)
    first = session.prepare(answers, written, bundle)
    assert first.pending == [phase.name for phase in plan(answers)]
    for name in first.pending[:3]:
        first.state.start(name, first.inputs)
        first.state.finish(name, changed=1)

    saved = tmp_path / "from-wizard.yaml"
    saved.write_text(answers_yaml(answers))
    assert saved.read_text() != written.read_text()
    resumed = session.prepare(load_valid_answers(saved), saved, bundle)
    assert resumed.pending == first.pending[3:]
    assert [view.state for view in resumed.tracker.views[:4]] == ["skipped", "skipped", "skipped", "pending"]

    changed = tmp_path / "changed.yaml"
    changed.write_text(saved.read_text().replace("ai.test.internal", "ai2.test.internal"))
    assert session.prepare(load_valid_answers(changed), changed, bundle).pending == first.pending


def test_without_a_terminal_or_answers_install_says_what_to_do(run_cli: Run) -> None:
    result = run_cli("install")
    assert result.returncode == 3
    assert "the wizard needs a terminal, and no --answers file was given" in result.stderr
    assert "--answers FILE --yes" in result.stderr


def test_install_refuses_a_missing_bundle_before_writing_anything(run_cli: Run, tmp_path: Path) -> None:
    answers = tmp_path / "site.yaml"
    answers.write_text(
        "version: 1\nappliance: {name: x}\nnetwork: {hostname: ai.x.local}\n"
        f"bundle: {{path: {tmp_path / 'nowhere'}, public_key: {tmp_path / 'k.pub'}}}\n"
    )
    result = run_cli("install", "--answers", str(answers), "--yes")
    assert result.returncode == 3
    assert "cannot read the bundle manifest" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").glob("*.json"))


def test_a_cancel_before_the_first_phase_records_it_canceled_without_starting_it(tmp_path: Path) -> None:
    """Ctrl-C while the plan is shown: nothing runs, the run says canceled (exit 130), and the state
    names the phase to resume at."""
    from greenzone.deploy.state import InstallState
    from greenzone.install.session import InstallSession
    from greenzone.statedir import StateDir
    from tests.support.deploy import answers_text, make_bundle

    bundle = make_bundle(tmp_path / "bundle")
    written = tmp_path / "site.yaml"
    written.write_text(answers_text(bundle, [{"address": "local"}]))
    state = StateDir(tmp_path / "state")
    session = InstallSession(state)
    prepared = session.prepare(load_valid_answers(written), written, bundle)
    session.cancel()
    run = session.run(prepared)
    (progress,) = run.progress
    assert progress.phase == "preflight" and progress.outcome == "canceled" and progress.task_index == 0
    assert run.report.data["outcome"] == "canceled"
    assert InstallState.load(state.install_state).phases["preflight"].status == "failed"
    assert not state.install_log.exists()  # no playbook was started


@pytest.mark.parametrize(
    ("phases", "unfinished"),
    [
        (None, False),  # nothing ran here
        ({"preflight": "done", "k3s": "running"}, True),  # canceled in k3s
        ({"preflight": "done", "k3s": "failed"}, True),
        ({"preflight": "done", "k3s": "done"}, True),  # stopped between phases
        ({"preflight": "done", "k3s": "done", "guardrails": "done"}, False),  # finished
    ],
)
def test_an_unfinished_install_is_told_from_a_finished_one(
    tmp_path: Path, phases: dict[str, str] | None, unfinished: bool
) -> None:
    from greenzone.commands.install import _unfinished
    from greenzone.statedir import StateDir

    state = StateDir(tmp_path)
    if phases is not None:
        records = {name: {"status": status} for name, status in phases.items()}
        state.install_state.write_text(json.dumps({"format": 1, "phases": records}))
    assert _unfinished(state) is unfinished


def test_an_unreadable_install_state_offers_nothing(tmp_path: Path) -> None:
    from greenzone.commands.install import _unfinished
    from greenzone.statedir import StateDir

    state = StateDir(tmp_path)
    state.install_state.write_text("{not json")
    assert _unfinished(state) is False


@pytest.mark.parametrize(
    ("form", "field", "said"),
    [
        (
            {"tls_mode": "provided"},
            "cert_file",
            "Harbor TLS “provided certificate” needs “certificate” — set “certificate” to the PEM file, "
            "or use Harbor TLS “self-signed CA”",
        ),
        (
            {"egress": "allow-list"},
            "allow_cidrs",
            "Egress “allow-list” with an empty “allowed CIDRs” would deny everything — list the networks "
            "to allow, or use Egress “deny (DNS only)”",
        ),
        ({"models": ()}, "models", "no model is chosen — tick at least one of the bundle's models"),
        ({"hostname": "Not A Host"}, "hostname", "for example ai.st-mary.local"),
        ({"gpus_per_replica": "99"}, "gpus_per_replica", "must be at most 16, got 99 — use a number from 0 to 16"),
        ({"gpus_per_replica": "-1"}, "gpus_per_replica", "“-1” is not a whole number of GPUs"),
        ({"departments": "legal:0:8Gi, legal:0:8Gi"}, "departments", "department “legal” is listed twice"),
    ],
)
def test_settings_problems_are_told_in_the_forms_words(form: dict[str, object], field: str, said: str) -> None:
    """No answer-file key (`tls.mode`, `cert_file`, `allow_cidrs`) or raw validator text reaches the
    Settings screen; every problem lands under the field that fixes it."""
    from greenzone.tui.form import Form, apply_form, field_of, in_form_terms, validate_document
    from greenzone.tui.state import initial_document

    values = {"hostname": "ai.test.local", "models": ("gemma3:4b",), **form}
    document, problems = apply_form(initial_document(None, "/b", "/k"), Form(**values))  # type: ignore[arg-type]
    problems = [*problems, *validate_document(document, Context()).problems]
    told = [
        " — ".join(part for part in in_form_terms(p.message, p.hint, p.path) if part)
        for p in problems
        if p.severity == "error" and field_of(p.path) == field
    ]
    assert any(said in line for line in told), told
    assert not [line for line in told if "`" in line or "correct the value" in line]


def test_the_health_run_after_an_install_reads_every_layer_of_what_was_installed(tmp_path: Path) -> None:
    """What Done shows: the real health run, here against an appliance that is not there (no
    kubeconfig, nothing listening), so every cluster-facing layer fails with its fix, promptly."""
    from greenzone.bundle.manifest import read_bundle_manifest
    from greenzone.install.session import InstallSession
    from greenzone.statedir import StateDir
    from tests.support.deploy import answers_text, make_bundle, ssh_node

    bundle = make_bundle(tmp_path / "bundle")
    answers_file = tmp_path / "site.yaml"
    answers_file.write_text(answers_text(bundle, [ssh_node(1, tmp_path / "key", name="gz-1")]))
    answers = load_valid_answers(answers_file)
    _, manifest = read_bundle_manifest(bundle)
    started = time.monotonic()
    report = InstallSession(StateDir(tmp_path / "state")).health(answers, manifest)
    assert time.monotonic() - started < 15  # the health budget (10 s) and its reserve, not a hang
    assert report.command == "health" and report.status is Status.FAIL
    failing = {check.group for check in report.checks if check.status is Status.FAIL}
    assert {"cluster", "registry"} <= failing, report.checks
    assert all(check.remedy for check in report.checks if check.status is Status.FAIL)


BAD_VALUES: list[dict[str, object]] = [
    {"appliance_name": ""}, {"appliance_name": "Bad Name!"}, {"hostname": "a_b"}, {"advertise_ip": "300.1.1.1"},
    {"gpus_per_replica": "99"}, {"gpus_per_replica": "x"}, {"departments": "legal:x:16Gi"},
    {"departments": "Legal:1:16Gi"}, {"departments": "legal:1:16GB"}, {"departments": "legal:1:1Gi, legal:1:1Gi"},
    {"departments": "legal:9:16Gi"}, {"egress": "allow-list", "allow_cidrs": "10.0.0.0/33"},
    {"egress": "allow-list"}, {"tls_mode": "provided"}, {"models": ()}, {"engine": "vllm", "gpus_per_replica": "0"},
]  # fmt: skip


@pytest.mark.parametrize("form", BAD_VALUES, ids=lambda form: ",".join(f"{k}={v}" for k, v in form.items()))
def test_no_problem_reaches_settings_in_the_files_or_the_validators_words(form: dict[str, object]) -> None:
    """The class, not the examples: whatever is typed wrong, the text under the field names no
    answer-file key path and carries no raw validator phrasing."""
    from greenzone.tui.form import FIELD_PATHS, Form, apply_form, in_form_terms, validate_document
    from greenzone.tui.state import initial_document

    values = {"hostname": "ai.test.local", "models": ("gemma3:4b",), **form}
    document, problems = apply_form(initial_document(None, "/b", "/k"), Form(**values))  # type: ignore[arg-type]
    problems = [*problems, *validate_document(document, Context(gpus_present=1)).problems]
    errors = [problem for problem in problems if problem.severity == "error"]
    assert errors, "nothing was refused, so nothing was tested"
    dotted = {".".join(str(part) for part in path) for path in FIELD_PATHS.values() if len(path) > 1}
    for problem in errors:
        told = " — ".join(part for part in in_form_terms(problem.message, problem.hint, problem.path) if part)
        assert not any(raw in told for raw in ("Input should", "Value error", "[0]", "[1]")), told
        assert not any(key in told for key in dotted), told
        assert not any(f"`{path[-1]}`" in told for path in FIELD_PATHS.values() if "_" in str(path[-1])), told


def _nodes_answers(*roles: str) -> object:
    from greenzone.answers.validate import validate_text

    nodes = [
        {"name": f"gz-{index + 1}", "address": f"10.0.0.{index + 1}", "role": role} for index, role in enumerate(roles)
    ]
    document = {
        "version": 1,
        "appliance": {"name": "x"},
        "network": {"hostname": "ai.site.local"},
        "bundle": {"path": "/b", "public_key": "/b.pub"},
        "nodes": nodes,
    }
    validation = validate_text(yaml.safe_dump(document), "site.yaml")
    assert validation.answers is not None, [problem.one_line() for problem in validation.problems]
    return validation.answers


@pytest.mark.parametrize(
    ("roles", "name", "refusal"),
    [
        (("server", "agent"), "gz-9", "no node 'gz-9'"),
        (("server",), "gz-1", "only node"),
        (("server", "agent"), "gz-1", "first server"),
        (("server", "server", "server"), "gz-3", "odd number"),
    ],
)
def test_node_removal_is_refused_before_anything_changes(roles: tuple[str, ...], name: str, refusal: str) -> None:
    from greenzone.commands.node import plan_removal

    with pytest.raises(InputError) as refused:
        plan_removal(_nodes_answers(*roles), name)  # type: ignore[arg-type]
    assert refusal in refused.value.title + refused.value.hint


def test_removing_an_agent_leaves_valid_answers_without_it() -> None:
    from greenzone.commands.node import plan_removal

    removal = plan_removal(_nodes_answers("server", "agent", "agent"), "gz-2")  # type: ignore[arg-type]
    assert [node.name for node in removal.remaining.nodes] == ["gz-1", "gz-3"] and removal.node.role == "agent"


@pytest.mark.parametrize(
    ("installed", "wanted", "name", "refusal"),
    [
        (("server", "agent"), ("server", "agent", "agent"), "gz-9", "no node 'gz-9'"),
        (("server",), ("server", "agent"), "gz-2", "setup of gz-1 changes"),  # the first agent takes the GPUs
        (("server", "agent"), ("server", "server"), "gz-2", "already a node"),
    ],
)
def test_node_addition_is_refused_before_anything_changes(
    installed: tuple[str, ...], wanted: tuple[str, ...], name: str, refusal: str
) -> None:
    from greenzone.commands.node import plan_addition

    with pytest.raises(InputError) as refused:
        plan_addition(_nodes_answers(*installed), _nodes_answers(*wanted), name)  # type: ignore[arg-type]
    assert refusal in refused.value.title, refused.value.title


def test_adding_an_agent_beside_agents_and_running_it_again_after_a_stop() -> None:
    from greenzone.commands.node import plan_addition

    installed, wanted = _nodes_answers("server", "agent"), _nodes_answers("server", "agent", "agent")
    addition = plan_addition(installed, wanted, "gz-3")  # type: ignore[arg-type]
    assert addition.node.role == "agent" and not addition.again
    again = plan_addition(wanted, wanted, "gz-3")  # type: ignore[arg-type]
    assert again.again  # joined before a later phase stopped: the same command finishes it


def test_the_wizards_reset_offer_comes_from_the_installed_answers(tmp_path: Path) -> None:
    from greenzone.commands.install import _reset_offer
    from greenzone.statedir import StateDir

    state = StateDir(tmp_path / "state")
    state.create()
    assert _reset_offer(state) is None  # nothing installed: nothing to reset
    state.installed_answers.write_text("appliance: [not, valid]\n")
    assert _reset_offer(state) is None  # unreadable answers: no offer, the wizard starts as before
    state.installed_answers.write_text((EXAMPLES / "multi-node-vllm.yaml").read_text())
    offer = _reset_offer(state)
    assert offer is not None and offer.name == load_valid_answers(EXAMPLES / "multi-node-vllm.yaml").appliance.name
    names = [name for name, _ in offer.lines]
    assert "state directory" in names and len(names) >= 3  # every node, then the state directory
