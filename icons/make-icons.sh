#!/usr/bin/env bash
# Regenerate the application icons from shapes (no fonts needed): ImageMagick 6 or 7.
# The PNGs and the ICO are committed; run this only to change the design.
set -euo pipefail
cd "$(dirname "$0")"
IM=convert; command -v magick >/dev/null && IM=magick
$IM -size 512x512 xc:none \
  -fill '#1f6f5c' -draw 'roundrectangle 16,16 496,496 96,96' \
  -fill '#f4efe2' -draw 'circle 256,256 256,120' \
  -fill '#1f6f5c' -draw 'circle 256,256 256,176' \
  -fill '#e0a43a' -draw 'circle 256,256 256,226' \
  -fill '#f4efe2' -draw 'rectangle 236,96 276,256' \
  -depth 8 PNG32:icon.png
for s in 32 64 128 256; do $IM icon.png -resize ${s}x${s} -depth 8 PNG32:${s}x${s}.png; done
$IM icon.png -resize 256x256 -depth 8 PNG32:128x128@2x.png
$IM icon.png -define icon:auto-resize=256,128,64,48,32,16 icon.ico
