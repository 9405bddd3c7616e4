"""The page `dvc plots show` writes, readable offline.

DVC's default page loads Vega, Vega-Lite and vega-embed from a CDN, so without a network it renders
blank. The template written here carries them inline (vl-convert's bundle) and leaves out DVC's
`{scripts}` placeholder, where the CDN tags would go; `.dvc/config` names it as `plots.html_template`.
The page is committed, so that every clone has it whether or not `make setup` ran; write it again after an
upgrade of vl-convert:

    python -m summarization.plots_page
"""

from pathlib import Path

import vl_convert

TEMPLATE_FILE = Path(".dvc/plots/page.html")  # plots.html_template in .dvc/config: plots/page.html
# The bundle keeps its libraries to itself; DVC's plot divs call the globals vegaEmbed, vega and vegaLite.
EXPOSE_GLOBALS = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC plots</title>
    <script>{bundle}</script>
    <style>table {{ border-spacing: 15px; }}</style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def write_template(path: Path = TEMPLATE_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PAGE.format(bundle=vl_convert.javascript_bundle(EXPOSE_GLOBALS)), encoding="utf-8")


if __name__ == "__main__":
    write_template()
