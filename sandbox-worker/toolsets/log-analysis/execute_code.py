"""execute_code: run agent-written Python as ordinary Python.

Full builtins, one globals dict (so functions see top-level names, classes
and closures work). There is no Python-level "restriction": the process is
already confined by the kernel (seccomp, Landlock, rlimits) and is thrown
away after the call.
"""

import ast
import builtins
import linecache
import traceback

FILENAME = "<code>"


def _compile(code):
    """Compile; if the last statement is an expression, also return it
    separately so its value can be shown like in a REPL."""
    tree = ast.parse(code, FILENAME, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
        last = compile(last, FILENAME, "eval")
    return compile(tree, FILENAME, "exec"), last


def _user_traceback(exc):
    """Traceback text without the runner's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != FILENAME:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def run(code, preload):
    """Run code; returns None. Raises CodeError with a user-facing message
    when the code fails. preload: names to pre-bind in the globals."""
    # Make the source visible to tracebacks.
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True),
                                 FILENAME)
    try:
        body, last = _compile(code)
    except SyntaxError as e:
        raise CodeError(f"SyntaxError: {e.msg} (line {e.lineno})") from None
    g = {"__name__": "__main__", "__builtins__": builtins}
    g.update(preload)
    try:
        exec(body, g)
        if last is not None:
            value = eval(last, g)
            if value is not None:
                print(repr(value))
    except SystemExit as e:
        if e.code not in (None, 0):
            raise CodeError(f"SystemExit: {e.code}") from None
    except MemoryError:
        raise
    except BaseException as e:  # report everything the code raised
        raise CodeError(_user_traceback(e).rstrip()) from None


class CodeError(Exception):
    """The agent's code failed; the message is shown to the agent."""
