"""CEL as the Kubernetes API server runs it for ``x-kubernetes-validations``: values.py (the
value types and errors), operators.py, library/ (the function libraries) and compiler.py."""

from .values import CelCompileError, CelError  # noqa: I001 - values before the compiler
from .compiler import Program, compile_program

__all__ = ["CelCompileError", "CelError", "Program", "compile_program"]
