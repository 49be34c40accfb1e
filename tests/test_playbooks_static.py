"""The playbooks without a host: syntax, ansible-lint's production profile, role structure, and the
values the roles repeat from the Python side (thresholds, release names, namespaces) kept equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from greenzone.answers.files import load_valid_answers as load_example
from greenzone.deploy import roles_doc
from greenzone.deploy.inventory import build_inventory, inventory_text
from greenzone.deploy.plan import ALL_PHASES, plan
from greenzone.preflight import rules
from greenzone.preflight.facts_model import K3S_DATA_DIR
from greenzone.resources import playbooks_dir
from greenzone.statedir import StateDir
from greenzone.values.ours import MODEL_BUNDLE_DIR
from greenzone.values.releases import appliance_releases

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOKS = playbooks_dir()
ROLES = sorted(path.name for path in (PLAYBOOKS / "roles").iterdir())
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}


def _yaml(path: Path) -> object:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("example", ["single-node-ollama", "multi-node-vllm"])
def test_site_yml_passes_syntax_check_against_each_examples_inventory(tmp_path: Path, example: str) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(build_inventory(load_example(ROOT / "examples" / f"{example}.yaml"))))
    run = subprocess.run(
        [BIN / "ansible-playbook", "-i", inventory, "site.yml", "--syntax-check"],
        cwd=PLAYBOOKS,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stderr, run.stderr  # every host pattern matched the generated groups


@pytest.mark.slow
def test_ansible_lint_production_profile_passes() -> None:
    run = subprocess.run(
        [BIN / "ansible-lint", "--offline", "--nocolor", "--profile", "production", "."],
        cwd=PLAYBOOKS,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in run.stderr + run.stdout


def test_site_yml_plays_are_the_planned_phases_in_order() -> None:
    plays = _yaml(PLAYBOOKS / "site.yml")
    assert isinstance(plays, list)
    # k3s is two plays (servers, then agents: an upgrade's order), each tagged with the phase.
    tags = [play["tags"] for play in plays]
    assert [tag for index, tag in enumerate(tags) if tags.index(tag) == index] == [[phase.name] for phase in ALL_PHASES]
    assert tags.count(["k3s"]) == 2 and len(tags) == len(ALL_PHASES) + 1
    assert all(play["name"][0].isupper() for play in plays)
    example = load_example(ROOT / "examples" / "single-node-ollama.yaml")
    assert "monitoring" in [phase.name for phase in plan(example)]
    quiet = example.model_copy(update={"monitoring": example.monitoring.model_copy(update={"enabled": False})})
    assert "monitoring" not in [phase.name for phase in plan(quiet)]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_tasks_and_documents_every_default(role: str) -> None:
    base = PLAYBOOKS / "roles" / role
    assert (base / "tasks" / "main.yml").is_file()
    specs = _yaml(base / "meta" / "argument_specs.yml")
    assert isinstance(specs, dict)
    options = {name: option for spec in specs["argument_specs"].values() for name, option in spec["options"].items()}
    defaults = _yaml(base / "defaults" / "main.yml") or {}
    assert isinstance(defaults, dict)
    for name, value in defaults.items():
        assert name in options, f"{role}: default {name} is not in meta/argument_specs.yml"
        assert options[name].get("default") == value, f"{role}: {name} documented as {options[name].get('default')}"
        assert name.startswith(f"{role}_") or (role == "release" and name.startswith("release_")), name
    for task_file in (base / "tasks").glob("*.yml"):
        tasks = _yaml(task_file)
        assert isinstance(tasks, list)
        assert all(task.get("name") for task in tasks), f"{task_file}: every task needs a name for the progress list"


def test_secret_tasks_are_no_log() -> None:
    """Every task that touches the credentials file or the join token hides its output."""
    for task_file in (PLAYBOOKS / "roles").glob("*/tasks/*.yml"):
        tasks = _yaml(task_file) or []
        assert isinstance(tasks, list)
        for task in tasks:
            text = yaml.safe_dump(task)
            secret = ("include_vars" in text and "credentials" in text) or "config.yaml.j2" in text
            secret = secret or "greenzone_secrets" in text or "k3s.yaml" in text or "kubeconfig\n" in text
            if secret and "greenzone_helm_release" not in text:
                assert task.get("no_log") is True, f"{task_file}: {task['name']}"


def test_role_defaults_repeat_the_python_side_exactly() -> None:
    preflight = _yaml(PLAYBOOKS / "roles" / "preflight" / "defaults" / "main.yml")
    assert isinstance(preflight, dict)
    # Thresholds live in the Python rules only; the role keeps where to look and which ports.
    assert not [name for name in preflight if "min" in name or "supported" in name]
    assert preflight["preflight_k3s_data_dir"] == str(K3S_DATA_DIR)
    assert sorted(preflight["preflight_default_ports"]) == sorted(rules.required_ports(None))
    example = load_example(ROOT / "examples" / "multi-node-vllm.yaml")
    for release in appliance_releases(example):
        role = {"greenzone-inference": "inference", "greenzone-guardrails": "guardrails"}.get(
            release.name, release.name.replace("-", "_")
        )
        defaults = _yaml(PLAYBOOKS / "roles" / role / "defaults" / "main.yml")
        assert isinstance(defaults, dict)
        assert defaults[f"{role}_release"] == release.name
        assert defaults[f"{role}_chart"] == release.chart
        assert defaults[f"{role}_namespace"] == release.namespace
    inference = _yaml(PLAYBOOKS / "roles" / "inference" / "defaults" / "main.yml")
    assert isinstance(inference, dict) and inference["inference_models_dest"] == MODEL_BUNDLE_DIR


def test_playbooks_readme_documents_the_argument_specs() -> None:
    readme = (PLAYBOOKS / "README.md").read_text()
    assert readme == roles_doc.refreshed(readme), "run: python -m greenzone.deploy.roles_doc"
    for role in ROLES:
        assert f"### {role}" in readme


def _inventory_vars(inventory: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for group in inventory.get("children", {}).values():
        found |= set(group.get("vars", {}))
        for host in group.get("hosts", {}).values():
            found |= set(host or {})
        found |= _inventory_vars(group)
    return found


def test_the_state_directory_paths_the_installer_passes_are_the_ones_the_roles_declare() -> None:
    """`StateDir.playbook_vars()` is the only place the roles learn a state-directory path from: each
    variable it writes is declared by a role, and every `greenzone_*` variable a role declares comes
    from the installer (those paths, the generated inventory, or the session's forced names)."""
    passed = set(StateDir(Path("/state")).playbook_vars(["harbor"]))
    declared: set[str] = set()
    for role in ROLES:
        specs: dict[str, Any] = yaml.safe_load((PLAYBOOKS / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for spec in specs["argument_specs"].values():
            declared |= set(spec["options"])
    assert passed <= declared, sorted(passed - declared)
    inventory: set[str] = set()
    for example in ("single-node-ollama.yaml", "multi-node-vllm.yaml"):
        inventory |= _inventory_vars(build_inventory(load_example(ROOT / "examples" / example))["all"])
    ours = {name for name in declared if name.startswith("greenzone_")}
    # Set by the session: the forced names, the bundle's driver images (deploy/workspace.py) and
    # whether it upgrades (the k3s play one node at a time).
    from_session = {
        "greenzone_force_preflight",
        "greenzone_driver_images",
        "greenzone_bundle_machines",
        "greenzone_upgrade",
    }
    assert ours <= passed | inventory | from_session, sorted(ours - passed - inventory)
    used = "\n".join(path.read_text() for path in (PLAYBOOKS / "roles").glob("*/tasks/*.yml"))
    assert "greenzone_state_dir" not in used and "greenzone_state_dir" not in declared


def test_check_mode_never_waits_for_what_only_a_real_run_starts() -> None:
    """A check run starts no service and installs no release, so a retrying wait would only time out."""
    for task_file in (PLAYBOOKS / "roles").glob("*/tasks/*.yml"):
        for task in yaml.safe_load(task_file.read_text()) or []:
            if "until" in task:
                assert "not ansible_check_mode" in str(task.get("when", "")), f"{task_file}: {task['name']}"


def _render_k3s_template(name: str, **variables: Any) -> Any:
    """A k3s role template rendered by Jinja2 with Ansible's own filters (`to_nice_yaml`, `bool`),
    the role's defaults and the variables a play would set; no host needed."""
    import jinja2
    from ansible.plugins.filter.core import FilterModule

    role = PLAYBOOKS / "roles" / "k3s"
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(role / "templates"), undefined=jinja2.StrictUndefined
    )
    ansible_filters = FilterModule().filters()
    ansible_filters.pop("default")  # Ansible's needs its own templar; Jinja2's is the same for defined values
    environment.filters.update(ansible_filters)
    context = {**_yaml(role / "defaults" / "main.yml"), "ansible_managed": "managed", **variables}  # type: ignore[dict-item]
    return yaml.safe_load(environment.get_template(name).render(**context))


@pytest.mark.parametrize("role", ["init server", "joining server", "agent"])
def test_every_k3s_node_never_falls_back_to_an_upstream_registry(role: str) -> None:
    """k3s docs, "Private Registry Configuration" > "Default Endpoint Fallback": containerd tries each
    registry's own endpoint last unless `disable-default-registry-endpoint` is set, and the option
    covers only registries configured in registries.yaml."""
    config = _render_k3s_template(
        "config.yaml.j2",
        k3s_credentials={"k3s_token": "t"},
        k3s_role="agent" if role == "agent" else "server",
        k3s_init_server=role == "init server",
        k3s_api_endpoint="https://10.0.0.1:6443",
        greenzone_hostname="ai.test.local",
        k3s_node="node1",
        greenzone_gpu_node=True,
    )
    assert config["disable-default-registry-endpoint"] is True
    assert config["node-label"] == ["greenzone.io/gpu-node=true"]  # the rest of the template still renders


def test_registries_yaml_sends_every_locked_images_registry_and_any_other_to_harbor() -> None:
    registries = _render_k3s_template("registries.yaml.j2", k3s_registry_endpoint="registry.ai.test.local")
    harbor = ["https://registry.ai.test.local"]
    lock = _yaml(ROOT / "airgap" / "bundle.lock.yaml")
    assert isinstance(lock, dict)
    upstreams = {str(image["ref"]).split("/", 1)[0] for image in lock["images"]}
    upstreams |= {str(model["source"]).split("/", 1)[0] for model in lock["models"] if model.get("source")} - {
        "registry.ollama.ai"  # models are pulled by the build, never by containerd
    }
    for upstream in upstreams:
        assert registries["mirrors"][upstream]["endpoint"] == harbor, upstream
    assert registries["mirrors"]["*"]["endpoint"] == harbor


def _role_commands() -> list[tuple[Path, str]]:
    """Every `cmd` of a command/shell task or handler in every role."""
    found = []
    for path in sorted((PLAYBOOKS / "roles").glob("*/*/*.yml")):
        if path.parent.name not in ("tasks", "handlers"):
            continue
        for task in yaml.safe_load((path).read_text()) or []:
            module = task.get("ansible.builtin.command") or task.get("ansible.builtin.shell") or {}
            if isinstance(module, dict) and "cmd" in module:
                found.append((path, " ".join(str(module["cmd"]).split())))
    return found


def test_k3s_is_always_run_by_its_full_path() -> None:
    """RHEL-family sudo's secure_path lacks /usr/local/bin (k3s-io/k3s#10175, k3s-ansible#184)."""
    commands = _role_commands()
    assert commands
    bare = [(path.name, cmd) for path, cmd in commands if cmd.split()[0] in ("k3s", "kubectl")]
    assert bare == []
    binary = yaml.safe_load((PLAYBOOKS / "roles" / "k3s" / "defaults" / "main.yml").read_text())["k3s_binary_dest"]
    for role, key in (("images", "images_k3s_binary"), ("gpu_operator", "gpu_operator_k3s_binary")):
        assert yaml.safe_load((PLAYBOOKS / "roles" / role / "defaults" / "main.yml").read_text())[key] == binary


def test_joining_nodes_use_the_full_token_and_the_first_server_the_shared_secret() -> None:
    """k3s docs, "Token Management": the full token (K10<CA hash>::server:<secret>) makes a joiner
    check the CA it is shown; the short secret alone trusts whatever answers."""
    common = {"k3s_credentials": {"k3s_token": "short"}, "greenzone_hostname": "ai.test.local", "k3s_node": "n"}
    full = "K10" + "ab" * 32 + "::server:short"
    first = _render_k3s_template("config.yaml.j2", k3s_role="server", k3s_init_server=True, **common)
    assert first["token"] == "short"
    for role in ("server", "agent"):
        joiner = _render_k3s_template(
            "config.yaml.j2", k3s_role=role, k3s_api_endpoint="https://10.0.0.1:6443", k3s_join_token=full, **common
        )
        assert joiner["token"] == full
    service = yaml.safe_load((PLAYBOOKS / "roles" / "k3s" / "tasks" / "service.yml").read_text())
    names = [task["name"] for task in service]
    reads = [task for task in service if "ansible.builtin.slurp" in task]
    assert any(task["ansible.builtin.slurp"]["src"] == "{{ k3s_server_token_file }}" for task in reads)
    # The full token is in the joiners' configuration before any of them joins.
    write = names.index("Write the joining nodes' configuration with the full token")
    assert write < names.index("Join the other servers, one at a time") and write < names.index("Join the agents")
    defaults = yaml.safe_load((PLAYBOOKS / "roles" / "k3s" / "defaults" / "main.yml").read_text())
    assert defaults["k3s_server_token_file"] == f"{K3S_DATA_DIR}/server/token"


def test_node_name_and_node_ip_come_from_the_answers_or_the_host_never_the_inventory_placeholder() -> None:
    role_vars = yaml.safe_load((PLAYBOOKS / "roles" / "k3s" / "vars" / "main.yml").read_text())
    assert "ansible_facts['nodename'] | lower" in role_vars["k3s_node"]
    everywhere = "\n".join(path.read_text() for path in (PLAYBOOKS / "roles").rglob("*.y*ml"))
    everywhere += "\n".join(path.read_text() for path in (PLAYBOOKS / "roles").rglob("*.j2"))
    assert "default(inventory_hostname)" not in everywhere
    common = {"k3s_credentials": {"k3s_token": "t"}, "greenzone_hostname": "ai.test.local", "k3s_node": "gpu-7"}
    config = _render_k3s_template(
        "config.yaml.j2", k3s_role="server", k3s_init_server=True, k3s_node_ip="10.1.2.3", **common
    )
    assert config["node-name"] == "gpu-7" and config["node-ip"] == "10.1.2.3"
    assert "node-ip" not in _render_k3s_template("config.yaml.j2", k3s_role="server", k3s_init_server=True, **common)


def test_an_upgrade_restarts_k3s_one_node_at_a_time_servers_first(tmp_path: Path) -> None:
    """docs.k3s.io/upgrades/manual: servers one at a time, then agents. site.yml's k3s plays (servers,
    then agents) run one node per batch under `greenzone_upgrade`, the first server first; a restart
    happens after the drain and before the waits."""
    import jinja2
    from ansible.plugins.filter.core import FilterModule

    site = _yaml(PLAYBOOKS / "site.yml")
    assert isinstance(site, list)
    plays = [play for play in site if "k3s" in play["tags"]]
    assert [play["hosts"] for play in plays] == ["server", "agent"]
    environment = jinja2.Environment()
    environment.filters.update({name: f for name, f in FilterModule().filters().items() if name != "default"})
    for play in plays:
        serial = environment.from_string(play["serial"])
        assert (serial.render(greenzone_upgrade=True), serial.render()) == ("1", "0")
    # The hosts each play gets, as the executor asks the inventory for them (`order: inventory`), from
    # the inventory file the install writes; the first server in the answers is named last
    # alphabetically, so a sorted file would put another server first.
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    example = load_example(ROOT / "examples" / "multi-node-vllm.yaml")
    renamed = [
        node.model_copy(update={"name": name})
        for node, name in zip(example.nodes, ["zz-main", "aa-2", "bb-3", "gpu-b", "gpu-a"], strict=True)
    ]
    answers = example.model_copy(update={"nodes": renamed})
    inventory = tmp_path / "inventory.json"
    inventory.write_text(inventory_text(answers))
    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    batches = [[host.name for host in manager.get_hosts(play["hosts"], order="inventory")] for play in plays]
    servers = [node.name for node in renamed if node.role == "server"]
    assert batches == [servers, [node.name for node in renamed if node.role == "agent"]]
    assert servers[0] == "zz-main" and manager.get_host("zz-main").vars["k3s_init_server"] is True
    single = tmp_path / "single.json"
    single.write_text(inventory_text(load_example(ROOT / "examples" / "single-node-ollama.yaml")))
    listed = subprocess.run(
        [BIN / "ansible-playbook", "-i", single, "site.yml", "--list-hosts", "--tags", "k3s"],
        cwd=PLAYBOOKS, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "WARNING" not in listed.stderr, listed.stderr  # the agents play names an empty group, not a missing one
    service = yaml.safe_load((PLAYBOOKS / "roles" / "k3s" / "tasks" / "service.yml").read_text())
    names = [task["name"] for task in service]
    drain = names.index("Drain this node before k3s restarts with the new bundle's files")
    flush = names.index("Restart k3s now if its files or configuration changed")
    version = names.index("Wait until this node runs the bundle's k3s version")
    restart = names.index("Restart k3s with the new bundle's files")
    assert drain < restart < flush < version < names.index("Let the node the upgrade drained take pods again")
    assert flush < names.index("Wait until this node is Ready")


def test_the_gpu_operator_crds_are_applied_before_its_chart() -> None:
    """NVIDIA's upgrade procedure (upgrade.rst, Option 1): every CRD of the new chart before `helm upgrade`."""
    tasks = yaml.safe_load((PLAYBOOKS / "roles" / "gpu_operator" / "tasks" / "main.yml").read_text())
    names = [task["name"] for task in tasks]
    apply = tasks[names.index("Apply the chart's CRDs before the chart")]
    assert names.index("Apply the chart's CRDs before the chart") < names.index("Install the GPU operator release")
    assert "--recursive" in apply["ansible.builtin.command"]["argv"] and "cluster" in apply["tags"]
    unpack = tasks[names.index("Unpack the CRDs of the bundle's operator chart there")]["ansible.builtin.unarchive"]
    assert unpack["extra_opts"] == ["--wildcards", "*/crds/*"]


@pytest.mark.parametrize("playbook", ["finalize.yml", "reset.yml", "node-remove.yml"])
def test_day_two_playbooks_pass_syntax_check(tmp_path: Path, playbook: str) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(build_inventory(load_example(ROOT / "examples" / "multi-node-vllm.yaml"))))
    run = subprocess.run(
        [BIN / "ansible-playbook", "-i", inventory, playbook, "--syntax-check"],
        cwd=PLAYBOOKS, env=ENV, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
