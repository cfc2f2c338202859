"""CEL as the Kubernetes API server runs it for ``x-kubernetes-validations``."""

from .compiler import CelCompileError, CelError, Program, compile_program

__all__ = ["CelCompileError", "CelError", "Program", "compile_program"]
