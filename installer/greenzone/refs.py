"""Image references as registries and the lockfile spell them (pure)."""

from __future__ import annotations


def qualify(ref: str) -> str:
    """`busybox:1.37` -> `docker.io/library/busybox:1.37`: the host and Docker Hub's `library/`
    that a short reference leaves implicit, made explicit; tag and digest stay as given."""
    host, _, rest = ref.partition("/")
    if not rest or ("." not in host and ":" not in host and host != "localhost"):
        host, rest = "docker.io", ref
    if host == "docker.io" and "/" not in rest.split(":")[0]:
        rest = f"library/{rest}"
    return f"{host}/{rest}"


def split_ref(ref: str) -> tuple[str, str, str]:
    """`docker.io/ollama/ollama:0.6.5` -> (`docker.io`, `ollama/ollama`, `0.6.5`); a digest may stand for the tag."""
    name, _, digest = ref.partition("@")
    host, _, rest = qualify(name).partition("/")
    repository, _, tag = rest.rpartition(":") if ":" in rest.rsplit("/", 1)[-1] else (rest, "", "")
    return host, repository, digest or tag or "latest"


def mirror_repository(ref: str) -> tuple[str, str]:
    """Where an upstream image lives in Harbor: a project per upstream registry, the path kept.

    This is the layout k3s's registries.yaml `rewrite` rules ask for (`^(.*)$` -> `<registry>/$1`).
    """
    host, repository, tag = split_ref(ref)
    return f"{host}/{repository}", tag
