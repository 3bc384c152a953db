"""Two painters side by side on the public-domain portrait (issue 20): target, then each painter's
painting in the flat and the oil style, as one PNG grid (no CelebA picture: those may not ship).

    python -m bench.paint_brush_grid --checkpoint runs/paint-brush/model.pt --data-root ../shared/data \\
        --out bench/results/paint-brush/astronaut_dab_vs_brush.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont


def main(argv: list[str] | None = None) -> None:
    from glimpse.checkpoint import load_model
    from glimpse.painting import paint_picture
    from glimpse.pictures import load_picture
    from glimpse.render import tile_grid, to_rgb
    from glimpse.shipped import shipped_path

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="the second painter (the first is the shipped one)")
    p.add_argument("--data-root", default=os.environ.get("GLIMPSE_DATA", "../shared/data"))
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--strokes", type=int, default=200)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    target = load_picture(Path(a.data_root) / "public" / "astronaut.png", a.size, crop=(110, 0, 350, 290))
    font = ImageFont.load_default()

    def captioned(image: torch.Tensor, text: str) -> Image.Image:
        tile = to_rgb(image, max(1, 256 // a.size))
        out = Image.new("RGB", (tile.width, tile.height + 16), (0, 0, 0))
        out.paste(tile, (0, 0))
        ImageDraw.Draw(out).text((4, tile.height + 3), text, fill=(255, 255, 255), font=font)
        return out

    tiles = [captioned(target, "target")]
    for name, path in (("painter", shipped_path("painter")), ("brush", a.checkpoint)):
        model = load_model(path, kind="painter")
        for style in ("flat", "oil"):
            painting = paint_picture(model, target, a.strokes, style)
            mse = (painting.canvas - target).pow(2).mean().item()
            tiles.append(captioned(painting.canvas, f"{name} {style} {mse:.4f}"))
    grid = tile_grid(tiles, cols=len(tiles))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
