"""The Jinja2 environments of templates/ and their filters: every value that reaches a template
goes through the filter of its context.

Shell templates (`*.sh.j2`) print nothing unfiltered (the environment refuses to render it):
  | sq      one shell word, whatever the value (shlex.quote): THE quoting filter
  | words   an argv list as shell words
  | line    a line inside a quoted heredoc (a line break is refused)
Other contexts: | cq (a Compose/YAML scalar, `$` escaped), | json, | b64, | yaml. SQL is
the NAS-side program's (files/nasops), which quotes its own identifiers and literals.
"""

from __future__ import annotations

import base64
import functools
import json
import shlex

import jinja2
import yaml

from deploys.render import dsm
from deploys import layout
from deploys.catalog import REPO, STATE, Catalog

TEMPLATES = REPO / "templates"


class Shell(str):
    """Text that is safe where a shell template puts it: a quoted word (`sq`, `words`) or a
    checked heredoc line (`line`)."""


def shell_word(value) -> Shell:
    """The one quoting filter of shell templates (`| sq`): one word, whatever the value."""
    return Shell(shlex.quote(str(value)))


def shell_words(values) -> Shell:
    """An argv list as shell words (`| words`)."""
    return Shell(" ".join(shlex.quote(str(v)) for v in values))


def heredoc_line(value) -> Shell:
    """A value inside a quoted heredoc (`| line`): taken literally, so only a line break could
    escape it, and it is refused."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError(f"{text[:40]!r}...: a line break cannot be written into a script's heredoc")
    return Shell(text)


def _finalize(value):
    """Shell templates print nothing that has not been through one of their quoting filters."""
    if isinstance(value, Shell):
        return value
    raise jinja2.TemplateError(f"unquoted value {str(value)[:60]!r} in a shell template: "
                               "pass it through | sq (a word), | words (an argv) or | line")


def _compose_scalar(value) -> str:
    """A YAML (JSON) value with Compose's `$` interpolation escaped in every string."""
    def escape(v):
        if isinstance(v, str):
            return v.replace("$", "$$")
        if isinstance(v, dict):
            return {k: escape(x) for k, x in v.items()}
        if isinstance(v, list):
            return [escape(x) for x in v]
        return v
    return json.dumps(escape(value), sort_keys=True)


def _bytecode_cache(kind: str) -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (keyed by each template's source, so never stale):
    compiling them is most of what rendering costs, and every deploy renders them all."""
    folder = STATE / "jinja" / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


@functools.lru_cache(maxsize=None)
def _env(shell: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             bytecode_cache=_bytecode_cache("shell" if shell else "text"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True,
                             finalize=_finalize if shell else None,
                             # bash's ${#array[@]} is not a Jinja comment in a shell template
                             comment_start_string="{##" if shell else "{#",
                             comment_end_string="##}" if shell else "#}")
    env.filters.update(cq=_compose_scalar, sq=shell_word, words=shell_words, line=heredoc_line,
                       json=lambda v: json.dumps(v, sort_keys=True),
                       b64=lambda v: base64.b64encode(str(v).encode()).decode(),
                       yaml=lambda v: yaml.safe_dump(v, sort_keys=False, default_flow_style=False, width=1000))
    env.globals["layout"] = layout
    env.globals["dsm"] = dsm
    return env


def template(name: str) -> jinja2.Template:
    """A template by its path under templates/; `.sh.j2` ones are shell templates."""
    return _env(name.endswith(".sh.j2")).get_template(name)


def edge_url(catalog: Catalog) -> str:
    """Where a health route is asked as the tunnel reaches it: the edge's published port, the
    route's hostname as Host ("": no published edge, every route answers nothing)."""
    edge = catalog.services.get("edge")
    return f"http://{catalog.bind_address}:{edge.host_port}" if edge and edge.host_port else ""


def shell_context(catalog: Catalog) -> dict:
    """What every shell template may use besides the catalog."""
    return {"c": catalog, "state_format": layout.state_format(catalog.engine), "edge_url": edge_url(catalog),
            "project_label": layout.project_label(catalog.engine),
            "service_label": layout.service_label(catalog.engine),
            "sync_jobs": catalog.sync_jobs}
