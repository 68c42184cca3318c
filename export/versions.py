"""Installed package versions: an artifact's cache key holds the libraries its bytes depend on, and every
record holds the whole list (bench.records.env)."""

from importlib.metadata import PackageNotFoundError, version


def package_versions(names) -> dict:
    versions = {}
    for pkg in names:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return versions
