"""Builds the compiled backfill reader (optional: spendtap runs without it).

Everything else about the package is in pyproject.toml. Without a C compiler the
extension is skipped and the pure-Python reader does the same work, slower.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A failed build of the extension is a warning, not a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: run pure Python
            print(f"spendtap: compiled reader not built ({exc})", file=sys.stderr)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"spendtap: {ext.name} not built ({exc})", file=sys.stderr)


def extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("spendtap: Cython missing; compiled reader not built", file=sys.stderr)
        return []
    native = Extension(
        "spendtap.agentlogs.claude_code_native",
        ["src/spendtap/agentlogs/claude_code_native.pyx"],
        define_macros=[("_GNU_SOURCE", None)],
        extra_compile_args=["-O3"],
    )
    return cythonize([native], language_level=3, quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
