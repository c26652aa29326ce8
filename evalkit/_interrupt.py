"""Whether an exception is an interrupt (imports nothing: the entry point uses it before the CLI is loaded)."""


def caused_by_interrupt(exc: BaseException) -> bool:
    """``exc`` is a KeyboardInterrupt, or an error it caused (Python 3.11 wraps one raised in ``__set_name__``,
    while a class is being created, in a RuntimeError)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False
