"""Helpers shared by the formula's state modules."""

__all__ = ["unavailable"]


def unavailable(name, salt, opts, function, library):
    """A state return for when execution module FUNCTION is not loaded yet, else None.

    On a bare host the formula's modules load only after ``pgsalt.python`` installs
    LIBRARY, so a ``test=True`` run there predicts instead of failing.
    """
    if function in salt:
        return None
    if opts.get("test"):
        return {"name": name, "result": None, "changes": {},
                "comment": f"would be checked once {library} is installed (pgsalt.python)"}
    return {"name": name, "result": False, "changes": {},
            "comment": f"{function} is not available: {library} is not installed; "
                       "apply pgsalt.python first"}
