"""Arrays a compiled loop reads without counting references to them.

numba counts a reference, with an atomic add and later an atomic subtract, every time
compiled code binds an array to a name: each call of a compiled helper binds its
array arguments, so a helper called once per candidate (a text query's relevance reads
15 arrays of a tuple) spent about a third of a text page's time on those counts.
:func:`borrowed` returns a tuple whose arrays carry no memory-manager pointer, so
counting them is a test of a null pointer. The caller keeps the arrays alive for the
call (they are its arguments); a borrowed array must never be returned or stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["borrowed"]


def _borrowed(typingctx: Any, tup: Any) -> Any:  # pragma: no cover - compiled
    """``tup`` (a tuple, or ``None``) with each array's memory-manager pointer cleared, in
    nested tuples too: the same data, shapes and strides, not reference counted (module
    doc)."""
    if isinstance(tup, types.NoneType):
        return tup(tup), lambda context, builder, sig, args: args[0]
    if not isinstance(tup, types.BaseTuple):
        return None
    return tup(tup), lambda context, builder, sig, args: _cleared(context, builder, tup, args[0])


def _cleared(context: Any, builder: Any, ty: Any, value: Any) -> Any:  # pragma: no cover
    if isinstance(ty, types.Array):
        ary = context.make_array(ty)(context, builder, value=value)
        ary.meminfo = cgutils.get_null_value(ary.meminfo.type)
        return ary._getvalue()
    if isinstance(ty, types.BaseTuple):
        members: Any = ty  # numba's tuple types iterate over their members' types
        for i, member in enumerate(members):
            item = _cleared(context, builder, member, builder.extract_value(value, i))
            value = builder.insert_value(value, item, i)
    return value


borrowed: Callable[[Any], Any] = intrinsic(_borrowed)  # type: ignore[assignment]
