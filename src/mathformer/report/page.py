"""The report's HTML page: nbconvert's lab template with nothing fetched from the web, and its style.

nbconvert's page loads require.js and MathJax from a CDN (and mermaid, for diagrams), so a report
would read differently offline, and not at all once those addresses go. The report needs none of
them: its outputs are HTML and embedded PNGs, its prose has no TeX. The template below drops
those scripts, and everything the page shows is inside the file.
"""

from __future__ import annotations

from typing import Any

TEMPLATE_NAME = "mathformer_report.html.j2"
# lab's index.html.j2 with its script blocks emptied and the report's style after the notebook's.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<style type="text/css">{{ resources.report_style }}</style>{%- endblock html_head_css -%}
"""

# The template's tables are centred, fixed-layout and right-aligned throughout; the report's
# are left-aligned text beside right-aligned numbers, sized to their content, narrow enough for
# a page (selectors more specific than the template's, so no !important). Verdicts carry a
# symbol and a word besides their colour.
REPORT_STYLE = """
section.mf-table table { table-layout: auto; margin: 0.3em 0 0.6em 0; border-collapse: collapse; font-size: 12px; }
section.mf-table th, section.mf-table td { padding: 2px 6px; border-bottom: 1px solid #ddd; vertical-align: top; }
section.mf-table th.text, section.mf-table td.text { text-align: left; }
section.mf-table th.num, section.mf-table td.num { text-align: right; }
section.mf-table th.group { text-align: center; border-bottom: 1px solid #999; font-weight: 600; }
section.mf-table td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
section.mf-table .interval { font-size: 85%; color: #666; }
section.mf-table p.view { margin: 0.2em 0; }
p.note { font-size: 85%; color: #555; margin: 0 0 0.5em 0; max-width: 60em; }
section.mf-table p.full { margin-bottom: 1.2em; }
span.verdict { white-space: nowrap; padding: 0 4px; border-radius: 3px; font-weight: 600; }
span.v-reproduced { color: #116329; background: #dafbe1; }
span.v-partly { color: #7d4e00; background: #fff1c2; }
span.v-not { color: #a40e26; background: #ffebe9; }
span.v-not-testable { color: #4f2f92; background: #efe7ff; }
span.v-missing { color: #454c54; background: #eaeef2; }
figure.mf-figure { margin: 0.5em 0 1.5em 0; }
figure.mf-figure img { max-width: 100%; }
figure.mf-figure figcaption { font-size: 90%; color: #333; max-width: 60em; }
section.headlines p.headline { margin: 0.5em 0; max-width: 60em; }
section.headlines span.claim { color: #555; }
"""


def notebook_html(notebook: Any, title: str) -> str:
    """The notebook as one self-contained HTML page, outputs only (the code stays in the .ipynb files)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        template_file=TEMPLATE_NAME,
        extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    resources = {"metadata": {"name": title}, "report_style": REPORT_STYLE}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    return body
