"""CEL as the Kubernetes API server runs it for ``x-kubernetes-validations``: the compiler.

Expressions are parsed with celpy's grammar and compiled once into Python closures that work
on plain decoded JSON (dict, list, str, int, float, bool, None): celpy's own evaluators cost
0.1-1.5 ms a rule, far too slow for validating thousands of manifests. Operators are in
operators.py, values in values.py, the functions in library/ (one module per library).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import lark
from celpy.celparser import CELParseError, CELParser
from celpy.evaluation import celbytes, celstr

from .library import FUNCTIONS, METHODS
from .operators import BINARY, comprehension_range, index
from .values import (
    INT64_MAX,
    INT64_MIN,
    UINT64_MAX,
    CelCompileError,
    CelError,
    CelType,
    CelUint,
    Duration,
    cel_type_name,
    check_duration,
    check_int,
    no_overload,
)

Function = Callable[[dict[str, Any]], Any]


_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)


# Property names that are CEL keywords are escaped as __name__ (apiserver/pkg/cel/escaping.go).
_RESERVED = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
        "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
        "void", "while",
    }
)


def unescape_property(name: str) -> str:
    """The property name a CEL field selection refers to (Kubernetes' escaping, reversed)."""
    if name.startswith("__") and name.endswith("__") and name[2:-2] in _RESERVED:
        return name[2:-2]
    if "__" not in name:
        return name
    replacements = {"__underscores__": "__", "__dot__": ".", "__dash__": "-", "__slash__": "/"}
    return re.sub(
        r"__underscores__|__dot__|__dash__|__slash__", lambda m: replacements[m.group(0)], name
    )


@dataclass(frozen=True)
class Program:
    """A compiled expression. `evaluate` raises CelError for CEL runtime errors."""

    source: str
    uses_old_self: bool
    function: Function

    def evaluate(self, variables: dict[str, Any]) -> Any:
        environment = dict(variables)
        try:
            return self.function(environment)
        except CelError:
            raise
        except RecursionError:
            raise CelError("max recursion depth exceeded") from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
            raise CelError(f"no such overload: {exc}") from None


@functools.cache
def _parser() -> CELParser:
    # Building the lark parser takes a while; one per process is enough.
    return CELParser()


RULE_VARIABLES = frozenset({"self", "oldSelf"})


@functools.cache
def compile_program(source: str, variables: frozenset[str] = RULE_VARIABLES) -> Program:
    """Compile one CEL expression once; the same text always yields the same Program."""
    try:
        tree = _parser().parse(source)
    except CELParseError as exc:
        raise CelCompileError(f"syntax error: {exc.args[0] if exc.args else exc}") from None
    except (lark.exceptions.LarkError, RecursionError) as exc:
        raise CelCompileError(f"syntax error: {exc}") from None
    compiler = _Compiler(variables)
    function = compiler.expression(tree)
    return Program(source, compiler.uses_old_self, function)


def _children(tree: lark.Tree) -> list[Any]:
    return tree.children


def _sole(tree: Any, *names: str) -> Any:
    """Follow single-child nodes down to one of `names` (None if the chain branches)."""
    node = tree
    while isinstance(node, lark.Tree):
        if node.data in names:
            return node
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


class _Compiler:
    def __init__(self, variables: frozenset[str]) -> None:
        self.variables = variables
        self.scopes: list[str] = []
        self.uses_old_self = False

    def expression(self, tree: lark.Tree) -> Function:
        method = getattr(self, f"_{tree.data}", None)
        if method is None:
            raise CelCompileError(f"unsupported syntax: {tree.data}")
        return method(tree)

    # Operators -------------------------------------------------------------------------------

    def _expr(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        condition, when_true, when_false = (self.expression(part) for part in parts)

        def conditional(env: dict[str, Any]) -> Any:
            chosen = condition(env)
            if chosen is True:
                return when_true(env)
            if chosen is False:
                return when_false(env)
            raise no_overload("_?_:_", chosen)

        return conditional

    def _conditionalor(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        left, right = self.expression(parts[0]), self.expression(parts[1])

        def logical_or(env: dict[str, Any]) -> bool:
            # CEL's || is commutative over errors: a true on either side wins.
            try:
                first = left(env)
            except Exception as exc:  # any failure is a CEL error value here
                first = exc
            if first is True:
                return True
            second = right(env)
            if second is True:
                return True
            if isinstance(first, Exception):
                raise first
            if first is False and second is False:
                return False
            raise no_overload("_||_", first, second)

        return logical_or

    def _conditionaland(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        left, right = self.expression(parts[0]), self.expression(parts[1])

        def logical_and(env: dict[str, Any]) -> bool:
            try:
                first = left(env)
            except Exception as exc:  # any failure is a CEL error value here
                first = exc
            if first is False:
                return False
            second = right(env)
            if second is False:
                return False
            if isinstance(first, Exception):
                raise first
            if first is True and second is True:
                return True
            raise no_overload("_&&_", first, second)

        return logical_and

    def _binary(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        operator_tree, right_tree = parts
        operation = BINARY[operator_tree.data]
        left = self.expression(operator_tree.children[0])
        right = self.expression(right_tree)
        return lambda env: operation(left(env), right(env))

    _relation = _binary
    _addition = _binary
    _multiplication = _binary

    def _unary(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        operator_tree, operand_tree = parts
        operand = self.expression(operand_tree)
        if operator_tree.data == "unary_not":

            def logical_not(env: dict[str, Any]) -> bool:
                value = operand(env)
                if type(value) is not bool:
                    raise no_overload("!_", value)
                return not value

            return logical_not

        def negate(env: dict[str, Any]) -> Any:
            value = operand(env)
            kind = type(value)
            if kind is int:
                return check_int(-value)
            if kind is float:
                return -value
            if kind is Duration:
                return check_duration(-value)
            raise no_overload("-_", value)

        return negate

    # Members ---------------------------------------------------------------------------------

    def _member(self, tree: lark.Tree) -> Function:
        return self.expression(tree.children[0])

    def _primary(self, tree: lark.Tree) -> Function:
        return self.expression(tree.children[0])

    def _paren_expr(self, tree: lark.Tree) -> Function:
        return self.expression(tree.children[0])

    def _member_dot(self, tree: lark.Tree) -> Function:
        target_tree, name_token = tree.children
        qualified = self._qualified_name(target_tree)
        if qualified is not None:
            raise CelCompileError(f"undeclared reference to '{qualified}.{name_token}'")
        target = self.expression(target_tree)
        name = unescape_property(str(name_token))

        def select(env: dict[str, Any]) -> Any:
            value = target(env)
            if type(value) is dict:
                try:
                    return value[name]
                except KeyError:
                    raise CelError(f"no such key: {name}") from None
            return select(value, name)

        return select

    def _member_index(self, tree: lark.Tree) -> Function:
        target = self.expression(tree.children[0])
        key = self.expression(tree.children[1])
        return lambda env: index(target(env), key(env))

    def _member_object(self, tree: lark.Tree) -> Function:
        raise CelCompileError("message construction is not supported in Kubernetes CEL")

    def _qualified_name(self, tree: Any) -> str | None:
        """`optional`, `strings`, ... when `tree` is a bare identifier that is not a variable."""
        ident = _sole(tree, "ident", "member_dot")
        if ident is None:
            return None
        if ident.data == "ident":
            name = str(ident.children[0])
            if name in self.scopes or name in self.variables:
                return None
            return name
        prefix = self._qualified_name(ident.children[0])
        return None if prefix is None else f"{prefix}.{ident.children[1]}"

    def _member_dot_arg(self, tree: lark.Tree) -> Function:
        target_tree, name_token = tree.children[0], str(tree.children[1])
        argument_trees = tree.children[2].children if len(tree.children) > 2 else []
        qualified = self._qualified_name(target_tree)
        if qualified is not None:
            return self._call(f"{qualified}.{name_token}", argument_trees)
        if name_token in _MACROS and argument_trees and len(argument_trees) in (2, 3):
            variable = _sole(argument_trees[0], "ident")
            if variable is not None:
                return self._macro(name_token, target_tree, str(variable.children[0]),
                                   argument_trees[1:])
        overload = METHODS.get(name_token)
        if overload is None:
            raise CelCompileError(f"undeclared reference to '{name_token}' (method)")
        if not overload.min_args <= len(argument_trees) <= overload.max_args:
            raise CelCompileError(
                f"found no matching overload for '{name_token}' "
                f"with {len(argument_trees)} arguments"
            )
        target = self.expression(target_tree)
        arguments = [self.expression(argument) for argument in argument_trees]
        implementation = overload.implementation
        if not arguments:
            return lambda env: implementation(target(env))
        if len(arguments) == 1:
            (first,) = arguments
            return lambda env: implementation(target(env), first(env))
        return lambda env: implementation(target(env), *(argument(env) for argument in arguments))

    def _ident_arg(self, tree: lark.Tree) -> Function:
        name = str(tree.children[0])
        argument_trees = tree.children[1].children if len(tree.children) > 1 else []
        if name == "has":
            return self._has(argument_trees)
        return self._call(name, argument_trees)

    def _dot_ident_arg(self, tree: lark.Tree) -> Function:
        argument_trees = tree.children[1].children if len(tree.children) > 1 else []
        return self._call(str(tree.children[0]), argument_trees)

    def _call(self, name: str, argument_trees: list[Any]) -> Function:
        overload = FUNCTIONS.get(name)
        if overload is None:
            raise CelCompileError(f"undeclared reference to '{name}'")
        if not overload.min_args <= len(argument_trees) <= overload.max_args:
            raise CelCompileError(
                f"found no matching overload for '{name}' with {len(argument_trees)} arguments"
            )
        arguments = [self.expression(argument) for argument in argument_trees]
        implementation = overload.implementation
        if not arguments:
            return lambda env: implementation()
        if len(arguments) == 1:
            (first,) = arguments
            return lambda env: implementation(first(env))
        return lambda env: implementation(*(argument(env) for argument in arguments))

    def _has(self, argument_trees: list[Any]) -> Function:
        selection = _sole(argument_trees[0], "member_dot") if len(argument_trees) == 1 else None
        if selection is None:
            raise CelCompileError("invalid argument to has() macro")
        target = self.expression(selection.children[0])
        name = unescape_property(str(selection.children[1]))

        def has(env: dict[str, Any]) -> bool:
            value = target(env)
            if type(value) is dict:
                return name in value
            raise no_overload(f"has(.{name})", value)

        return has

    def _macro(
        self, name: str, target_tree: Any, variable: str, body_trees: list[Any]
    ) -> Function:
        target = self.expression(target_tree)
        self.scopes.append(variable)
        try:
            bodies = [self.expression(body) for body in body_trees]
        finally:
            self.scopes.pop()
        if name != "map" and len(bodies) != 1:
            raise CelCompileError(f"{name}() takes a variable and one expression")
        fold = _FOLDS[name] if len(bodies) == 1 else _fold_filter_map

        def comprehension(env: dict[str, Any]) -> Any:
            items = comprehension_range(target(env))
            # The loop variable shadows an outer binding of the same name until the loop ends.
            outer = env.get(variable, _UNBOUND)
            try:
                return fold(env, variable, items, bodies)
            finally:
                if outer is _UNBOUND:
                    env.pop(variable, None)
                else:
                    env[variable] = outer

        return comprehension

    # Leaves ----------------------------------------------------------------------------------

    def _ident(self, tree: lark.Tree) -> Function:
        name = str(tree.children[0])
        if name in self.scopes or name in self.variables:
            if name == "oldSelf" and name not in self.scopes:
                self.uses_old_self = True

            def variable(env: dict[str, Any]) -> Any:
                try:
                    return env[name]
                except KeyError:
                    raise CelError(f"no such attribute: {name}") from None

            return variable
        if name in _TYPE_NAMES:
            constant = CelType(name)
            return lambda env: constant
        raise CelCompileError(f"undeclared reference to '{name}'")

    def _dot_ident(self, tree: lark.Tree) -> Function:
        return self._ident(tree)

    def _literal(self, tree: lark.Tree) -> Function:
        token = tree.children[0]
        kind = token.type
        value: Any
        if kind == "INT_LIT":
            value = int(token.value, 0) if "x" in token.value else int(token.value)
            if not INT64_MIN <= value <= INT64_MAX:
                raise CelCompileError(f"integer literal out of range: {token.value}")
        elif kind == "UINT_LIT":
            text = token.value[:-1]
            value = CelUint(int(text, 0) if "x" in text else int(text))
            if value > UINT64_MAX:
                raise CelCompileError(f"unsigned literal out of range: {token.value}")
        elif kind == "FLOAT_LIT":
            value = float(token.value)
        elif kind in ("STRING_LIT", "MLSTRING_LIT"):
            value = str(celstr(token))
        elif kind == "BYTES_LIT":
            value = bytes(celbytes(token))
        elif kind == "BOOL_LIT":
            value = token.value == "true"
        elif kind == "NULL_LIT":
            value = None
        else:
            raise CelCompileError(f"unsupported literal {token.value!r}")
        return lambda env: value

    def _list_lit(self, tree: lark.Tree) -> Function:
        item_trees = tree.children[0].children if tree.children else []
        items = [self.expression(item) for item in item_trees]
        return lambda env: [item(env) for item in items]

    def _map_lit(self, tree: lark.Tree) -> Function:
        flat = tree.children[0].children if tree.children else []
        entries = [
            (self.expression(flat[position]), self.expression(flat[position + 1]))
            for position in range(0, len(flat), 2)
        ]

        def build_map(env: dict[str, Any]) -> dict[Any, Any]:
            built: dict[Any, Any] = {}
            for key_function, value_function in entries:
                key = key_function(env)
                if type(key) not in (str, int, CelUint, bool):
                    raise CelError(f"unsupported map key type: {cel_type_name(key)}")
                if key in built:
                    raise CelError(f"Failed with repeated key: {key}")
                built[key] = value_function(env)
            return built

        return build_map


_UNBOUND = object()


def _fold_all(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> bool:
    # all() is commutative over errors: one false element decides, errors surface otherwise.
    body = bodies[0]
    error: Exception | None = None
    for item in items:
        env[variable] = item
        try:
            result = body(env)
        except Exception as exc:
            error = error or exc
            continue
        if result is False:
            return False
        if result is not True:
            error = error or no_overload("all", result)
    if error is not None:
        raise error
    return True


def _fold_exists(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> bool:
    body = bodies[0]
    error: Exception | None = None
    for item in items:
        env[variable] = item
        try:
            result = body(env)
        except Exception as exc:
            error = error or exc
            continue
        if result is True:
            return True
        if result is not False:
            error = error or no_overload("exists", result)
    if error is not None:
        raise error
    return False


def _fold_exists_one(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> bool:
    body = bodies[0]
    count = 0
    for item in items:
        env[variable] = item
        result = body(env)
        if result is True:
            count += 1
        elif result is not False:
            raise no_overload("exists_one", result)
    return count == 1


def _fold_filter(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> list[Any]:
    body = bodies[0]
    kept = []
    for item in items:
        env[variable] = item
        result = body(env)
        if result is True:
            kept.append(item)
        elif result is not False:
            raise no_overload("filter", result)
    return kept


def _fold_map(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> list[Any]:
    body = bodies[0]
    mapped = []
    for item in items:
        env[variable] = item
        mapped.append(body(env))
    return mapped


def _fold_filter_map(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> list[Any]:
    predicate, transform = bodies
    mapped = []
    for item in items:
        env[variable] = item
        keep = predicate(env)
        if keep is True:
            mapped.append(transform(env))
        elif keep is not False:
            raise no_overload("map", keep)
    return mapped


_FOLDS = {
    "all": _fold_all,
    "exists": _fold_exists,
    "exists_one": _fold_exists_one,
    "filter": _fold_filter,
    "map": _fold_map,
}
