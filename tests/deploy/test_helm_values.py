"""What can be checked of deploy/helm/*.yaml without a cluster or the chart (they are NOT rendered
or installed anywhere here):

- every file parses as YAML;
- every key path it sets exists in the chart's values (tests/deploy/chart_1_22_keys.txt, written by
  tests/deploy/chart_keys.py; its first line says which chart values.yaml it came from);
- every ``config:`` option exists in Airflow's own configuration (2.11.2 from .venv for values.yaml
  and the KubernetesExecutor overlay, 3.3.2 from .venv-airflow3 for the Airflow 3 overlay, plus the
  installed providers' sections) or is the project's ``[rest_trigger_api]``;
- airflow.cfg's settings are all in values.yaml's ``config:`` with the same values, except the ones
  named in NOT_CARRIED_OVER (each with its reason);
- no secret value is in any file: only Secret names;
- every /opt/airflow path maps through the Dockerfile's COPY lines to a file in the repository (or
  lies under a volume the same values mount), and every module the config names exists;
- the image tags, airflowVersion and the base images agree with the locks, the Dockerfile and
  docker-compose.airflow3.yaml;
- the caller role the Job imports and the role it gives the caller are the project's.

Each test prints what it checked (shown with ``pytest -s`` or ``-rA``).
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import runpy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "deploy" / "helm"
KEYS_FILE = Path(__file__).with_name("chart_1_22_keys.txt")
BASE = HELM / "values.yaml"
KE = HELM / "values-kubernetes-executor.yaml"
AF3 = HELM / "values-airflow3.yaml"
VALUES_FILES = (BASE, KE, AF3)
AIRFLOW_HOME = "/opt/airflow"

# airflow.cfg options values.yaml does not carry over, and why (docs/deploy.md says the same).
NOT_CARRIED_OVER: dict[tuple[str, str], str] = {
    ("core", "dags_folder"): "the chart sets it (/opt/airflow/dags with git-sync off)",
    ("core", "executor"): "the chart sets it from `executor`",
    ("webserver", "web_server_host"): "127.0.0.1 is for `make run`; the chart's probes and Service "
    "need the pod address (Airflow's default 0.0.0.0)",
    ("webserver", "web_server_port"): "Airflow's default 8080, which the chart expects",
    (
        "webserver",
        "cookie_secure",
    ): "True behind TLS (airflow.cfg: False for plain-HTTP `make run`)",
    ("scheduler", "standalone_dag_processor"): "the chart sets it from airflowVersion/dagProcessor",
}

# Keys the values set that are newer than the checked chart values (chart_1_22_keys.txt's source),
# each with the evidence it exists in chart 1.22. Remove an entry once the keys file has the key.
NEWER_THAN_KEYS_FILE: dict[str, str] = {
    "createUserJob.defaultUser.enabled": "apache/airflow PR #59767 (merged; in chart 1.19.0 per "
    "open-metadata/openmetadata-helm-charts#445) moved webserver.defaultUser to "
    "createUserJob.defaultUser",
}


def report(*lines: str) -> None:
    for line in lines:
        print(f"[helm values] {line}")  # noqa: T201


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def leaves(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every value that is not a non-empty mapping."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{path}.")
        else:
            yield path, value


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def chart_keys() -> tuple[str, set[str]]:
    lines = KEYS_FILE.read_text().splitlines()
    assert lines and lines[0].startswith("# source: "), "first line must name the source"
    return lines[0], {line for line in lines[1:] if line and not line.startswith("#")}


def known_to_chart(path: str, keys: set[str]) -> bool:
    if path in keys:
        return True
    parts = path.split(".")
    return any(".".join(parts[:i]) + ".*" in keys for i in range(1, len(parts)))


def site_packages(venv: str) -> Path | None:
    found = sorted((ROOT / venv / "lib").glob("python3*/site-packages/airflow"))
    return found[0] if found else None


def airflow_options(airflow_pkg: Path) -> dict[str, set[str]]:
    """Airflow's own sections and options (config.yml) plus the installed providers' (their
    get_provider_info(), which is a literal dict: run from the file, nothing imported)."""
    core = yaml.safe_load((airflow_pkg / "config_templates" / "config.yml").read_text())
    options = {section: set(body["options"]) for section, body in core.items()}
    for info_file in sorted(airflow_pkg.glob("providers/**/get_provider_info.py")):
        info = runpy.run_path(str(info_file))["get_provider_info"]()
        for section, body in (info.get("config") or {}).items():
            options.setdefault(section, set()).update(body.get("options", {}))
    return options


def project_options() -> set[str]:
    """[rest_trigger_api]: the switches and the other options (switches.SWITCHES, .SETTINGS),
    read from the source without importing Airflow."""
    found: set[str] = set()
    for name, variable in (("switches.py", "SWITCHES"), ("switches.py", "SETTINGS")):
        tree = ast.parse((ROOT / "plugins" / "rest_trigger_api" / name).read_text())
        for node in ast.walk(tree):
            target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
            if isinstance(target, ast.Name) and target.id == variable:
                found.update(ast.literal_eval(node.value))
    assert found, "no [rest_trigger_api] options found"
    return found


def copy_map() -> dict[str, str]:
    """The Dockerfile's COPY lines: image path -> repository path."""
    mapping: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        parts = line.split()
        if not parts or parts[0] != "COPY":
            continue
        args = [part for part in parts[1:] if not part.startswith("--")]
        source, dest = args[0], args[-1]
        if "$" not in source:
            mapping[dest] = source
    return mapping


def repo_path_for(image_path: str, copies: Mapping[str, str]) -> str | None:
    for dest, source in copies.items():
        if image_path == dest.rstrip("/"):
            return source.rstrip("/")
        if dest.endswith("/") and image_path.startswith(dest):
            return source + image_path[len(dest) :]
    return None


def mount_paths(values: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            if isinstance(value.get("mountPath"), str):
                found.add(value["mountPath"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(values)
    return found


def lock_pin(lock: str, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)", (ROOT / lock).read_text(), re.M)
    assert match, f"{package} not pinned in {lock}"
    return match.group(1)


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_parses_as_yaml(path: Path) -> None:
    values = load(path)
    report(f"{path.name}: YAML, {len(list(leaves(values)))} values")


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_every_key_path_exists_in_the_chart(path: Path) -> None:
    source, keys = chart_keys()
    paths = [p for p, _ in leaves(load(path)) if not p.startswith("config.")]
    newer = [p for p in paths if p in NEWER_THAN_KEYS_FILE]
    unknown = [p for p in paths if not known_to_chart(p, keys) and p not in newer]
    assert not unknown, f"{path.name}: not in {KEYS_FILE.name}: {unknown}"
    report(
        f"{path.name}: {len(paths) - len(newer)} key paths found in {KEYS_FILE.name}"
        f" ({source[10:90]}...)"
    )
    for p in newer:
        report(f"{path.name}: {p} is NOT in {KEYS_FILE.name}; taken from {NEWER_THAN_KEYS_FILE[p]}")


def test_newer_keys_are_still_missing_from_the_keys_file() -> None:
    _, keys = chart_keys()
    arrived = [p for p in NEWER_THAN_KEYS_FILE if known_to_chart(p, keys)]
    assert not arrived, f"now in {KEYS_FILE.name}, remove from NEWER_THAN_KEYS_FILE: {arrived}"


@pytest.mark.parametrize(
    ("path", "venv", "version"),
    [(BASE, ".venv", "2.11"), (KE, ".venv", "2.11"), (AF3, ".venv-airflow3", "3.")],
    ids=["values.yaml", "values-kubernetes-executor.yaml", "values-airflow3.yaml"],
)
def test_every_config_option_exists_in_airflow(path: Path, venv: str, version: str) -> None:
    airflow_pkg = site_packages(venv)
    if airflow_pkg is None:
        pytest.skip(f"{venv} is missing (make {'venv' if venv == '.venv' else 'venv-airflow3'})")
    installed = re.search(
        r"^__version__ = \"(.+?)\"", (airflow_pkg / "__init__.py").read_text(), re.M
    )
    assert installed and installed.group(1).startswith(version), f"{venv}: {installed}"
    options = airflow_options(airflow_pkg)
    options["rest_trigger_api"] = project_options()
    config = load(path).get("config", {})
    checked, unknown = 0, []
    for section, body in config.items():
        for option in body or {}:
            checked += 1
            if option not in options.get(section, set()):
                unknown.append(f"[{section}] {option}")
    assert not unknown, f"{path.name}: not an option of Airflow {installed.group(1)}: {unknown}"
    report(f"{path.name}: {checked} config options exist in Airflow {installed.group(1)} ({venv})")


def test_airflow_cfg_is_carried_over() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "airflow.cfg")
    config = load(BASE)["config"]
    missing, differ = [], []
    for section in parser.sections():
        for option, raw in parser.items(section):
            if (section, option) in NOT_CARRIED_OVER:
                continue
            expected = raw.replace("${REST_TRIGGER_HOME}", AIRFLOW_HOME)
            got = (config.get(section) or {}).get(option)
            if got is None:
                missing.append(f"[{section}] {option}")
            elif str(got).lower() != expected.lower():
                differ.append(f"[{section}] {option}: {got!r} != airflow.cfg {expected!r}")
    assert not missing, f"airflow.cfg options missing from values.yaml config: {missing}"
    assert not differ, f"values.yaml config differs from airflow.cfg: {differ}"
    report(
        "airflow.cfg: every option is in values.yaml's config with its value, except "
        + "; ".join(f"[{s}] {o} ({why})" for (s, o), why in NOT_CARRIED_OVER.items())
    )


SECRET_KEYS = re.compile(
    r"(password|passwd|^pass$|token|fernetkey$|secretkey$|jwtsecret$|brokerurl$)"
)
SECRET_VALUES = [
    (re.compile(r"://[^/\s:@]*:[^@\s/]+@"), "credentials in a URL"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"^[A-Za-z0-9_-]{43}=$"), "a Fernet key"),
    (re.compile(r"(^|\s)(--password|-p)(\s|=|$)"), "a password option on a command line"),
]


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_no_secret_values(path: Path) -> None:
    values = load(path)
    found = []
    for key_path, value in leaves(values):
        last = key_path.rsplit(".", 1)[-1].lower()
        # The names of Secrets and of keys inside them are not secret.
        if last.endswith("secretname") or (last == "secretkey" and key_path.startswith("secret")):
            continue
        if SECRET_KEYS.search(last) and value not in (None, "", {}):
            found.append(f"{key_path} has a value")
    for text in strings(values):
        for line in text.splitlines():
            found += [
                f"{what}: {line.strip()!r}"
                for pattern, what in SECRET_VALUES
                if pattern.search(line)
            ]
    raw = path.read_text()
    found += [what for pattern, what in SECRET_VALUES[1:4] if re.search(pattern.pattern, raw, re.M)]
    assert not found, f"{path.name}: {found}"
    names = sorted({v for p, v in leaves(values) if p.lower().endswith("secretname") and v})
    names += sorted(
        {item["secretName"] for item in values.get("secret", [])}
        | {
            vol["secret"]["secretName"]
            for vol in (values.get("createUserJob") or {}).get("extraVolumes", [])
            if "secret" in vol
        }
    )
    report(f"{path.name}: no secret values; Secret names only: {', '.join(sorted(set(names)))}")


def test_every_secret_name_is_in_the_deploy_doc() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    names = set()
    for path in VALUES_FILES:
        values = load(path)
        names |= {v for p, v in leaves(values) if p.lower().endswith("secretname") and v}
        names |= {item["secretName"] for item in values.get("secret", [])}
        for vol in (values.get("createUserJob") or {}).get("extraVolumes", []):
            names.add(vol["secret"]["secretName"])
    missing = sorted(name for name in names if f"create secret generic {name}" not in doc)
    assert not missing, f"docs/deploy.md has no `kubectl create secret generic` for {missing}"
    report(f"docs/deploy.md creates every Secret the values name: {', '.join(sorted(names))}")


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_every_path_exists_in_the_image(path: Path) -> None:
    values = load(path)
    copies = copy_map()
    mounts = mount_paths(values) | mount_paths(load(BASE))
    found, missing, mounted = [], [], []
    for text in strings(values):
        for image_path in re.findall(r"/opt/airflow(?:/[\w.-]+)+", text):
            if any(image_path == m or image_path.startswith(m + "/") for m in mounts):
                mounted.append(image_path)
                continue
            repo_path = repo_path_for(image_path, copies)
            if repo_path is None:
                missing.append(f"{image_path} (no COPY line puts it in the image)")
            elif (ROOT / repo_path).exists():
                found.append(f"{image_path} <- {repo_path}")
            else:
                missing.append(f"{image_path} <- {repo_path} (not in the repository)")
    assert not missing, f"{path.name}: {missing}"
    report(f"{path.name}: paths in the image: {found or 'none'}")
    if mounted:
        report(f"{path.name}: paths under a mounted volume: {sorted(set(mounted))}")


def test_the_chart_config_replaces_the_image_config() -> None:
    """The chart mounts its airflow.cfg at {airflowHome}/airflow.cfg (its airflow_config_path
    helper); the image's AIRFLOW_CONFIG is the same path, hence `config:` in values.yaml."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"AIRFLOW_CONFIG={AIRFLOW_HOME}/airflow.cfg" in dockerfile
    assert load(BASE).get("airflowHome", AIRFLOW_HOME) == AIRFLOW_HOME
    report(
        f"the image's AIRFLOW_CONFIG is {AIRFLOW_HOME}/airflow.cfg, where the chart mounts its own"
    )


def test_modules_the_config_names_exist() -> None:
    airflow_pkg = site_packages(".venv")
    assert airflow_pkg is not None
    config = load(BASE)["config"]
    modules = [config["core"]["auth_manager"].rsplit(".", 1)[0]]
    modules += [m.strip() for m in config["api"]["auth_backends"].split(",")]
    found = []
    for module in modules:
        rel = module.replace(".", "/") + ".py"
        candidates = [ROOT / "plugins" / rel, airflow_pkg.parent / rel]
        where = next((c for c in candidates if c.exists()), None)
        assert where is not None, f"{module}: neither plugins/{rel} nor in Airflow 2.11.2"
        found.append(f"{module} ({where.relative_to(where.parents[len(module.split('.'))])})")
    report(f"modules named by [core] auth_manager and [api] auth_backends: {found}")


def test_images_and_versions_agree() -> None:
    base, ke, af3 = load(BASE), load(KE), load(AF3)
    dockerfile = (ROOT / "Dockerfile").read_text()
    base_image = re.search(r"^ARG AIRFLOW_BASE_IMAGE=(\S+)", dockerfile, re.M)
    compose3 = re.search(
        r"AIRFLOW3_BASE_IMAGE:-(\S+?)\}", (ROOT / "docker-compose.airflow3.yaml").read_text()
    )
    assert base_image and compose3
    for name, values, lock, image in (
        ("values.yaml", base, "requirements.lock", base_image.group(1)),
        ("values-airflow3.yaml", af3, "requirements-airflow3.lock", compose3.group(1)),
    ):
        version = lock_pin(lock, "apache-airflow")
        assert values["airflowVersion"] == version, f"{name}: airflowVersion != {lock}'s {version}"
        assert values["images"]["airflow"]["tag"].startswith(f"{version}-"), name
        assert f"apache/airflow:{values['defaultAirflowTag']}" == image, f"{name}: {image}"
        report(
            f"{name}: airflowVersion {version} = {lock}; tag {values['images']['airflow']['tag']};"
            f" defaultAirflowTag = base image {image}"
        )
    for values in (ke, af3):
        template = values["images"]["pod_template"]
        airflow = {**base["images"]["airflow"], **values["images"].get("airflow", {})}
        assert (template["repository"], template["tag"]) == (airflow["repository"], airflow["tag"])
    report("task pods (images.pod_template) use the same project image in both overlays")


def test_the_job_imports_the_caller_role_and_uses_it() -> None:
    from deploy.accounts import CALLER_ROLE

    script = "\n".join(load(BASE)["createUserJob"]["args"])
    role_file = f"{AIRFLOW_HOME}/deploy/roles/rest_trigger_caller.json"
    assert f"airflow roles import {role_file}" in script
    assert f"--role {CALLER_ROLE}" in script
    assert script.index("sync-perm") < script.index("roles import") < script.index("users create")
    repo_file = ROOT / "deploy" / "roles" / "rest_trigger_caller.json"
    if repo_file.exists():
        roles = {entry["name"] for entry in json.loads(repo_file.read_text())}
        assert roles == {CALLER_ROLE}, roles
        report(f"{repo_file.relative_to(ROOT)} defines role {CALLER_ROLE}")
    else:
        report(f"{repo_file.relative_to(ROOT)}: not in this checkout yet (another branch)")
    report(f"createUserJob: sync-perm, roles import {role_file}, users with role {CALLER_ROLE}")
