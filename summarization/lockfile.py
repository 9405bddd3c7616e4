"""The installed packages against the lock (requirements.lock, made by `make lock`; docs/environment.md): the versions a
stage's outputs were made with, which DVC sees as a dependency of every stage. `python -m summarization.lockfile`
prints where the interpreter running it differs from requirements-dev.lock (the upgrade check's record)."""

import sysconfig
import tomllib
from functools import cache
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

LOCK = Path("requirements.lock")  # the packages the pipeline runs with
DEV_LOCK = Path("requirements-dev.lock")  # and the test tools, at the same versions: what `make setup` installs
PYPROJECT = Path("pyproject.toml")
# A torch built for PyTorch's own indexes (2.13.0+cpu, 2.13.0+cu128) brings the libraries of its build, not the ones
# the lock pins for PyPI's: that build's choice, as the lock leaves it to the machine.
BUILD_CHOICE = "torch"


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """Package name -> pinned version, for the lock's lines whose markers hold on this machine."""
    pins = {}
    for line in lock.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement = Requirement(line)
            if applies(requirement):
                (specifier,) = requirement.specifier
                pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def project_requirements(extras: tuple[str, ...] = ()) -> list[Requirement]:
    """pyproject.toml's dependencies (and the extras'), read from the file: the installed metadata may be older."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = project["dependencies"] + [line for extra in extras for line in project["optional-dependencies"][extra]]
    return [requirement for requirement in map(Requirement, lines) if applies(requirement)]


@cache
def installed() -> dict[str, tuple[str, list[str]]]:
    """Every package installed in this environment's site-packages, with its version and requirement lines, by name
    (each one's metadata read once). Not the whole sys.path: importing setuptools puts the packages it vendors there."""
    found = {}
    for dist in distributions(path=list({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})):
        metadata = dist.metadata
        found.setdefault(
            canonicalize_name(metadata["Name"]), (metadata["Version"], metadata.get_all("Requires-Dist", []))
        )
    return found


def required_packages(roots: list[Requirement]) -> set[str]:
    """The packages the roots need, transitively through the installed ones' metadata, markers and extras evaluated as
    an installer does (a package's extras bring their own requirements)."""
    needed, expanded, pending = set(), set(), list(roots)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        needed.add(name)
        version, lines = installed().get(name, (None, []))
        if version is None or (name == BUILD_CHOICE and Version(version).local):
            continue
        for extra in {""} | requirement.extras:
            if (name, extra) not in expanded:
                expanded.add((name, extra))
                pending += [child for child in map(Requirement, lines) if applies(child, extra)]
    return needed


def applies(requirement: Requirement, extra: str = "") -> bool:
    return requirement.marker is None or requirement.marker.evaluate({"extra": extra})


def differences(lock: Path = LOCK, extras: tuple[str, ...] = ()) -> list[str]:
    """One entry a package the project needs that is not at the lock's version: 'name installed (lock pinned)'."""
    pins = locked_versions(lock)
    found = []
    for name in sorted(required_packages(project_requirements(extras))):
        version, pinned = installed().get(name, ("absent", []))[0], pins.get(name)
        if pinned is None or version == "absent" or Version(version).public != Version(pinned).public:
            found.append(f"{name} {version} (lock {pinned or 'none'})")
    return found


def lock_status() -> str:
    """For reports/environment.json (and the model card's table, one cell): whether this environment is the lock's."""
    found = differences() if LOCK.is_file() else ["no lock here"]
    return f"differs from {LOCK}: {', '.join(found)}" if found else f"matches {LOCK}"


def lock_warning() -> str | None:
    """The one line a stage prints when it runs with versions other than the lock's (it still runs: people upgrade on
    purpose), or None."""
    if not LOCK.is_file():  # a stage run outside the repository root: no lock to compare with
        return None
    found = differences()
    if not found:
        return None
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return (
        f"installed versions differ from {LOCK}: {', '.join(found[:3])}{more}; "
        "`make setup` installs the lock's (docs/environment.md)"
    )


if __name__ == "__main__":
    print("\n".join(differences(DEV_LOCK, ("test",))) or f"every package at {DEV_LOCK}'s version")
