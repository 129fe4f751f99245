#!/usr/bin/env bash
# Rebuild intelli_assets/rendering/plotly-charts.min.js: plotly.js with only what our charts
# draw (core with scatter, bar, treemap, heatmap, sankey, choropleth, scattergeo, table), from
# the same plotly.js version the installed `plotly` package ships. 1.7 MB instead of 4.8 MB:
# Chromium loads it in about half the time and CPU, and every chart's HTML is 3 MB smaller.
# Renders are byte-identical (tested).
#
# It also writes intelli_assets/rendering/topojson/world_110m.json, the world outlines the
# map chart draws, taken from the same plotly.js (dist/plotly-geo-assets.js): plotly.js would
# fetch it from cdn.plot.ly, and nothing may be fetched. Its default `topojsonURL` is patched
# from the CDN to a relative "topojson/", so a page that forgets to point plotly.js at the
# local file fails offline instead of reaching the network (the renderer and the HTML always
# set it, and the HTML carries the outlines inline).
#
# Run it after upgrading `plotly` (the renderer falls back to the package's full plotly.js
# when the versions differ). Needs node and npm; nothing of this runs at install or test time.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
version=$("$PYTHON" -c "import plotly.offline as o; print(o.get_plotlyjs_version())")
out=intelli_assets/rendering/plotly-charts.min.js
topojson=intelli_assets/rendering/topojson
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/entry.js" <<'JS'
var Plotly = require('plotly.js/lib/core'); // includes scatter
Plotly.register([
    require('plotly.js/lib/bar'), require('plotly.js/lib/treemap'), require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/sankey'), require('plotly.js/lib/choropleth'), require('plotly.js/lib/scattergeo'),
    require('plotly.js/lib/table')
]);
module.exports = Plotly;
JS
# the world map's outlines, from the geo assets plotly.js ships (a UMD file setting window.Plotly)
cat > "$work/topojson.js" <<'JS'
global.window = {};
const assets = require('plotly.js/dist/plotly-geo-assets.js');
const out = process.argv[2];
require('fs').writeFileSync(out + '/world_110m.json', JSON.stringify(assets.topojson.world_110m));
JS
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "plotly.js@$version" esbuild@0.25)
# the options of plotly.js's own esbuild config (esbuild-config.js); CSS is only maplibre's
(cd "$work" && npx esbuild entry.js --bundle --minify --format=iife --global-name=Plotly \
    --define:global=window --define:define.amd=false --target=es2016 --log-level=warning \
    --outfile=bundle.js)
cdn='dflt:"https://cdn.plot.ly/un/"'
if [ "$(grep -o "$cdn" "$work/bundle.js" | wc -l)" != 1 ]; then
    echo "plotly.js v$version: topojsonURL's CDN default not found once; check src/plot_api/plot_config.js" >&2
    exit 1
fi
sed -i "s#$cdn#dflt:\"topojson/\"#" "$work/bundle.js"
{
    printf '/**\n* plotly.js v%s, partial bundle for Intelli Assets: core (scatter), bar, treemap, heatmap,\n' "$version"
    printf '* sankey, choropleth, scattergeo, table; topojsonURL defaults to "topojson/", not the CDN.\n'
    printf '* Built by scripts/build_plotly_bundle.sh. Copyright 2012-2026, Plotly, Inc. MIT license.\n*/\n'
    cat "$work/bundle.js"
} > "$out"
mkdir -p "$topojson"
(cd "$work" && node topojson.js "$OLDPWD/$topojson")
echo "wrote $out ($(wc -c < "$out") bytes, plotly.js v$version)"
echo "wrote $topojson/world_110m.json ($(wc -c < "$topojson/world_110m.json") bytes)"
