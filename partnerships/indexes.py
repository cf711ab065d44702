"""Index classes the models need beyond Django's."""

from __future__ import annotations

from django.db import models
from django.db.models.expressions import OrderBy


class NullsLastIndex(models.Index):
    """An index for an order with `nulls_last`: PostgreSQL builds it as declared (it puts NULLs
    first in a descending order unless told otherwise, and uses an index only for the order it
    was built in); SQLite refuses NULLS LAST in an index and puts NULLs last in a descending
    one anyway, so it gets the same index without the modifier."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using, **kwargs)
        plain = models.Index(
            *(
                OrderBy(e.expression, descending=e.descending) if isinstance(e, OrderBy) else e
                for e in self.expressions
            ),
            name=self.name,
        )
        return plain.create_sql(model, schema_editor, using, **kwargs)
