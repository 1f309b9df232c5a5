"""Two kinds of links the documentation's sources do not write themselves.

- The Markdown pages (the user guide and its companions, read on GitHub too)
  name skrnn's classes, functions and methods as inline code,
  ``RNNClassifier``, ``skrnn.from_padded`` or ``RNNClassifier.partial_fit``.
  On the site, each such literal that is exactly a public name links to its
  API entry, so the Markdown stays plain.
- The estimators' pages list the methods inherited from scikit-learn, whose
  docstrings refer to labels and glossary terms of scikit-learn's own site.
  The build downloads no inventory (it needs no network), so a glossary term
  links to scikit-learn's glossary, whose anchors follow the term, and any
  other label of theirs becomes plain text.
"""

import functools

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform

SKLEARN_GLOSSARY = "https://scikit-learn.org/stable/glossary.html#term-"


@functools.cache
def public_targets():
    """Every spelling of a public name a page may use -> its full name."""
    import skrnn
    import skrnn.exceptions
    import skrnn.preprocessing

    targets = {}
    for module, names in [
        (skrnn, [n for n in skrnn.__all__ if not n.startswith("_")]),
        (skrnn.preprocessing, skrnn.preprocessing.__all__),
        (skrnn.exceptions, ["TrainingDivergedError"]),
    ]:
        for name in names:
            obj = getattr(module, name)
            # Documented where it is defined when that module is public
            # (skrnn.preprocessing, skrnn.exceptions), else under skrnn.
            home = "skrnn" if obj.__module__.startswith("skrnn._") else obj.__module__
            spellings = [name, f"{module.__name__}.{name}"]
            members = [""]
            if isinstance(obj, type) and not issubclass(obj, BaseException):
                # A class's public methods and attributes: RNNClassifier.fit.
                members += [f".{m}" for m in dir(obj) if not m.startswith("_")]
            for spelling in spellings:
                for member in members:
                    targets.setdefault(spelling + member, f"{home}.{name}{member}")
    return targets


class LinkPublicNames(SphinxTransform):
    """Inline code that is exactly a public name becomes a link to its page."""

    default_priority = 500

    def apply(self):
        targets = public_targets()
        for literal in list(self.document.findall(nodes.literal)):
            target = targets.get(literal.astext())
            if target is None or self._in_title_or_link(literal):
                continue
            xref = addnodes.pending_xref(
                "", refdomain="py", reftype="obj", reftarget=target,
                refexplicit=True, refwarn=True, refdoc=self.env.docname,
            )
            literal.replace_self(xref)
            xref += literal

    @staticmethod
    def _in_title_or_link(node):
        parent = node.parent
        while parent is not None:
            if isinstance(parent, (nodes.title, nodes.reference, addnodes.pending_xref,
                                   addnodes.desc_signature)):
                return True
            parent = parent.parent
        return False


def _from_sklearn_docstring(node):
    """Whether a reference was written in a docstring of scikit-learn's: in
    the method's own entry, or in the one-line summary of it that the
    class's table of methods shows."""
    source = node.source or ""
    return "docstring of sklearn." in source or (
        source.endswith("<autosummary>") and node.get("refdoc", "").startswith("generated/")
    )


def resolve_sklearn_reference(app, env, node, contnode):
    if node.get("refdomain") != "std" or not _from_sklearn_docstring(node):
        return None
    if node.get("reftype") == "term":
        anchor = node["reftarget"].lower().replace(" ", "-")
        return nodes.reference("", "", contnode, refuri=SKLEARN_GLOSSARY + anchor,
                               internal=False)
    if node.get("reftype") == "ref":
        return contnode
    return None


def setup(app):
    app.add_transform(LinkPublicNames)
    app.connect("missing-reference", resolve_sklearn_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
